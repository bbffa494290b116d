# shellcheck shell=bash
# The incremental row of scripts/bench.sh (sourced there; uses its WORK, SRC, FERRY,
# CORPUS_BIN, CORPUS_DIR, CORPUS_FLAG, ROUNDS, OUT, timed, start_registry, stop_registry,
# free_port): version N at a site, its inventory, N+1 packed against it and pushed onto it.

bench_incremental() {
  echo "== incremental: N+1 of the corpus, loaded into $SRC"
  # shellcheck disable=SC2086
  "$CORPUS_BIN" --out "$CORPUS_DIR" $CORPUS_FLAG --version n+1 --load "$SRC" >"$WORK/corpus-n1.json"
  python3 - "$WORK/corpus-n1.json" "$SRC" "$WORK/images-n1.txt" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
with open(sys.argv[3], "w") as f:
    for i in c["images"]:
        f.write(f'{sys.argv[2]}/{i["repository"]}:{i["tag"]}\n')
PY
  if [ ! -d "$WORK/bundle" ]; then
    echo "   packing N (not timed)"
    "$FERRY" pack --images "$WORK/images.txt" --key "$WORK/keys/ferry.key" --out "$WORK/bundle" \
      --insecure-registry "$SRC" --json >/dev/null
  fi
  local port site pid r
  # The site: N pushed, its inventory taken (not timed).
  port=$(free_port); site=127.0.0.1:$port
  start_registry site "$port"; pid=$REG_PID
  "$FERRY" push "$WORK/bundle" --trusted-key "$WORK/keys/ferry.key.pub" --to "$site" \
    --insecure-registry "$site" --mirrorsets-out "$WORK/mirrorsets" --json >/dev/null
  "$FERRY" inventory --from "$site" --insecure-registry "$site" --out "$WORK/site.inventory" \
    --json >"$WORK/inventory.json"
  stop_registry site "$pid"
  for r in $(seq 1 "$ROUNDS"); do
    rm -rf "$WORK/bundle-inc"
    timed incremental inc-pack "$r" "$FERRY" pack --images "$WORK/images-n1.txt" \
      --key "$WORK/keys/ferry.key" --out "$WORK/bundle-inc" --insecure-registry "$SRC" \
      --base "$WORK/site.inventory" --json
    cp "$WORK/out/inc-pack-$r.out" "$WORK/inc-pack.json"
    # A fresh site holding N each round (not timed), then the incremental push (timed).
    port=$(free_port); site=127.0.0.1:$port
    start_registry "site-$r" "$port"; pid=$REG_PID
    "$FERRY" push "$WORK/bundle" --trusted-key "$WORK/keys/ferry.key.pub" --to "$site" \
      --insecure-registry "$site" --mirrorsets-out "$WORK/mirrorsets" --json >/dev/null
    timed incremental inc-push "$r" "$FERRY" push "$WORK/bundle-inc" \
      --trusted-key "$WORK/keys/ferry.key.pub" --to "$site" --insecure-registry "$site" \
      --mirrorsets-out "$WORK/mirrorsets" --json
    if [ "$r" = 1 ]; then
      "$FERRY" check "$WORK/bundle-inc" --to "$site" --insecure-registry "$site" \
        --trusted-key "$WORK/keys/ferry.key.pub" >"$WORK/out/inc-check.out" 2>&1 \
        || { echo "error: ferry check after the incremental push failed" >&2; cat "$WORK/out/inc-check.out" >&2; exit 1; }
    fi
    stop_registry "site-$r" "$pid"
  done
  python3 - "$RESULTS" "$WORK/corpus.json" "$WORK/corpus-n1.json" "$WORK/inc-pack.json" \
    "$WORK/inventory.json" "$([ "$QUICK" = 1 ] && echo quick || echo full)" "$OUT" <<'PY'
import datetime, json, os, statistics, sys
results, cn, cn1, packed, inv, mode, out = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(results) if l.startswith("incremental\t")]
def med(who, col):
    v = [float(r[col]) for r in rows if r[1] == who]
    return statistics.median(v) if v else float("nan")
def blobs(c):
    return {d: s for i in c["images"] for d, s, _ in i["blobs"]}
n, n1 = blobs(json.load(open(cn))), blobs(json.load(open(cn1)))
delta = sum(s for d, s in n1.items() if d not in n)
p, i = json.load(open(packed)), json.load(open(inv))
inc = p["bundle_bytes"]
MB = 1_000_000
def mb(b): return f"{b / MB:,.1f} MB"
lines = [
    "<!-- bench-incremental:begin -->",
    f"Incremental row, corpus `{mode}`, {os.cpu_count()} cores, "
    f"{datetime.date.today().isoformat()}, medians of {len(rows) // 2} rounds:",
    "",
    "| N → N+1 | figure |",
    "|---|---|",
    f"| N+1 unique blob bytes | {mb(sum(n1.values()))} |",
    f"| whole-blob delta (N+1 blobs the site lacks) | {mb(delta)} ({sum(1 for d in n1 if d not in n)} blobs) |",
    f"| inventory file | {i['file_bytes']:,} bytes ({i['blobs']} blobs, {i['repositories']} repositories) |",
    f"| incremental bundle (pack --base) | {mb(inc)} ({inc / delta * 100 if delta else 0:.1f} % of the delta; "
    f"{p['base']['blobs_in_base']} blobs, {mb(p['base']['bytes_in_base'])} left out) |",
    f"| pack --base time | {med('inc-pack', 3):.2f} s (peak RSS {med('inc-pack', 4) / 1024:.0f} MiB) |",
    f"| push onto the site holding N | {med('inc-push', 3):.2f} s (peak RSS {med('inc-push', 4) / 1024:.0f} MiB) |",
    "<!-- bench-incremental:end -->",
]
table = "\n".join(lines)
print(table)
text = open(out).read() if os.path.exists(out) else ""
b, e = "<!-- bench-incremental:begin -->", "<!-- bench-incremental:end -->"
if b in text and e in text:
    text = text[: text.index(b)] + table + text[text.index(e) + len(e):]
else:
    text = text.rstrip("\n") + "\n\n## Incremental bundles (whole blobs)\n\n" + table + "\n"
os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
open(out, "w").write(text)
PY
}
