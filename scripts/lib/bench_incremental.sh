# shellcheck shell=bash
# The incremental rows of scripts/bench.sh (sourced there; uses its WORK, SRC, FERRY,
# CORPUS_BIN, CORPUS_DIR, CORPUS_FLAG, QUICK, ROUNDS, OUT, INC_WRITERS, timed, start_registry,
# stop_registry, free_port): per gzip writer of the corpus's layers (flate2; Go compress/gzip
# level 6; klauspost/pgzip), version N at a site, its inventory, N+1 packed against it and
# pushed onto it. One column per writer in the table between the bench-incremental markers.

# One writer: corpus N and N+1 written by it in their own directory and source registry (the
# flate2 corpus is the one the rest of the bench loaded into SRC).
bench_incremental_writer() { # writer
  local w=$1 src=$SRC dir=$CORPUS_DIR src_pid= port site pid r
  if [ "$w" != flate2 ]; then
    dir=$CORPUS_DIR-$w
    port=$(free_port); src=127.0.0.1:$port
    start_registry "source-$w" "$port"; src_pid=$REG_PID
    echo "== incremental ($w): corpus N written by $w, loaded into $src"
    # shellcheck disable=SC2086
    "$CORPUS_BIN" --out "$dir" $CORPUS_FLAG --writer "$w" --load "$src" >"$WORK/corpus-$w.json"
  else
    cp "$WORK/corpus.json" "$WORK/corpus-$w.json"
  fi
  echo "== incremental ($w): N+1 of the corpus, loaded into $src"
  # shellcheck disable=SC2086
  "$CORPUS_BIN" --out "$dir" $CORPUS_FLAG --writer "$w" --version n+1 --load "$src" \
    >"$WORK/corpus-n1-$w.json"
  python3 - "$WORK/corpus-$w.json" "$WORK/corpus-n1-$w.json" "$src" "$WORK/images-$w" <<'PY'
import json, sys
for path, suffix in ((sys.argv[1], "n"), (sys.argv[2], "n1")):
    c = json.load(open(path))
    with open(f"{sys.argv[4]}-{suffix}.txt", "w") as f:
        for i in c["images"]:
            f.write(f'{sys.argv[3]}/{i["repository"]}:{i["tag"]}\n')
PY
  local nb=$WORK/bundle
  if [ "$w" != flate2 ] || [ ! -d "$nb" ]; then
    nb=$WORK/bundle-n-$w
    echo "   packing N (not timed)"
    "$FERRY" pack --images "$WORK/images-$w-n.txt" --key "$WORK/keys/ferry.key" --out "$nb" \
      --insecure-registry "$src" --json >/dev/null
  fi
  # The site: N pushed, its inventory taken (not timed).
  port=$(free_port); site=127.0.0.1:$port
  start_registry site "$port"; pid=$REG_PID
  "$FERRY" push "$nb" --trusted-key "$WORK/keys/ferry.key.pub" --to "$site" \
    --insecure-registry "$site" --mirrorsets-out "$WORK/mirrorsets" --json >/dev/null
  "$FERRY" inventory --from "$site" --insecure-registry "$site" --out "$WORK/site-$w.inventory" \
    --json >"$WORK/inventory-$w.json"
  stop_registry site "$pid"
  for r in $(seq 1 "$ROUNDS"); do
    rm -rf "$WORK/bundle-inc"
    timed "incremental-$w" inc-pack "$r" "$FERRY" pack --images "$WORK/images-$w-n1.txt" \
      --key "$WORK/keys/ferry.key" --out "$WORK/bundle-inc" --insecure-registry "$src" \
      --base "$WORK/site-$w.inventory" --json
    cp "$WORK/out/inc-pack-$r.out" "$WORK/inc-pack-$w.json"
    # A fresh site holding N each round (not timed), then the incremental push (timed).
    port=$(free_port); site=127.0.0.1:$port
    start_registry "site-$r" "$port"; pid=$REG_PID
    "$FERRY" push "$nb" --trusted-key "$WORK/keys/ferry.key.pub" --to "$site" \
      --insecure-registry "$site" --mirrorsets-out "$WORK/mirrorsets" --json >/dev/null
    timed "incremental-$w" inc-push "$r" "$FERRY" push "$WORK/bundle-inc" \
      --trusted-key "$WORK/keys/ferry.key.pub" --to "$site" --insecure-registry "$site" \
      --mirrorsets-out "$WORK/mirrorsets" --json
    if [ "$r" = 1 ]; then
      # Not timed: every N+1 image at the site with its digest (ferry check), and skopeo's
      # view of each manifest hashes to the corpus's digest.
      "$FERRY" check "$WORK/bundle-inc" --to "$site" --insecure-registry "$site" \
        --trusted-key "$WORK/keys/ferry.key.pub" >"$WORK/out/inc-check-$w.out" 2>&1 \
        || { echo "error: ferry check after the incremental push ($w) failed" >&2; cat "$WORK/out/inc-check-$w.out" >&2; exit 1; }
      if ! python3 - "$WORK/corpus-n1-$w.json" "$site" "$src" <<'PY'
import hashlib, json, subprocess, sys
c = json.load(open(sys.argv[1])); site = sys.argv[2]; seg = sys.argv[3].replace(":", "_")
for i in c["images"]:
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                          f"docker://{site}/mirror/{seg}/{i['repository']}:{i['tag']}"],
                         check=True, capture_output=True).stdout
    got = "sha256:" + hashlib.sha256(raw).hexdigest()
    if got != i["digest"]:
        sys.exit(f"{i['repository']}: {got} != {i['digest']}")
PY
      then
        echo "error: an N+1 image ($w) is not at the site with its digest" >&2; exit 1
      fi
    fi
    stop_registry "site-$r" "$pid"
  done
  if [ -n "$src_pid" ]; then stop_registry "source-$w" "$src_pid"; fi
}

bench_incremental() {
  local w
  for w in $INC_WRITERS; do bench_incremental_writer "$w"; done
  python3 - "$RESULTS" "$WORK" "$([ "$QUICK" = 1 ] && echo quick || echo full)" "$OUT" \
    "$INC_WRITERS" <<'PY'
import datetime, json, os, statistics, sys
results, work, mode, out, writers = sys.argv[1:]
writers = writers.split()
rows = [l.rstrip("\n").split("\t") for l in open(results) if l.startswith("incremental-")]
def med(w, who, col):
    v = [float(r[col]) for r in rows if r[0] == f"incremental-{w}" and r[1] == who]
    return statistics.median(v) if v else float("nan")
def blobs(c):
    return {d: s for i in c["images"] for d, s, _ in i["blobs"]}
MB = 1_000_000
def mb(b): return f"{b / MB:,.1f} MB"
NAMES = {"flate2": "flate2 6 (zlib family)", "go": "Go compress/gzip 6", "pgzip": "klauspost/pgzip"}
cols = {}
for w in writers:
    n = blobs(json.load(open(f"{work}/corpus-{w}.json")))
    n1 = blobs(json.load(open(f"{work}/corpus-n1-{w}.json")))
    p = json.load(open(f"{work}/inc-pack-{w}.json"))
    inv = json.load(open(f"{work}/inventory-{w}.json"))
    ch = p["base"]["changes"]
    delta = sum(s for d, s in n1.items() if d not in n)
    inc = p["bundle_bytes"]
    push_cpu = med(w, "inc-push", 5)
    whole = ", ".join(f"{k} {v}" for k, v in sorted(ch.get("whole_reasons", {}).items())) or "none"
    cols[w] = [
        mb(sum(n1.values())),
        f"{mb(delta)} ({sum(1 for d in n1 if d not in n)} blobs)",
        f"{inv['file_bytes']:,} B",
        f"**{mb(inc)} ({inc / delta * 100 if delta else 0:.1f} %)**",
        f"{ch['layers_as_changes']} of {ch['layers_as_changes'] + ch['layers_whole']} ({whole} whole)",
        f"{mb(ch['recipe_bytes'])} ({ch['recipe_bytes'] / ch['layer_bytes'] * 100 if ch['layer_bytes'] else 0:.1f} % of the layers)",
        f"{med(w, 'inc-pack', 3):.1f} s, {med(w, 'inc-pack', 4) / 1024:.0f} MiB",
        f"{med(w, 'inc-push', 3):.1f} s, {med(w, 'inc-push', 4) / 1024:.0f} MiB",
        f"{ch['layer_bytes'] / MB / push_cpu if push_cpu else 0:.1f} MB/s "
        f"({mb(ch['layer_bytes'])} in {push_cpu:.1f} s CPU)",
    ]
labels = [
    "N+1 unique blob bytes",
    "whole-blob delta (N+1 blobs the site lacks)",
    "inventory file",
    "incremental bundle (pack --base; % of the delta)",
    "layers the site lacks carried as changes",
    "reconstruction data, before zstd (share of the changed layers)",
    "pack --base: time, peak RSS",
    "push onto the site holding N: time, peak RSS",
    "push rebuild: MB of rebuilt layer per CPU second (whole push)",
]
rounds = len([r for r in rows if r[0] == f"incremental-{writers[0]}" and r[1] == "inc-pack"])
lines = [
    "<!-- bench-incremental:begin -->",
    f"Incremental rows, corpus `{mode}`, {os.cpu_count()} cores, "
    f"{datetime.date.today().isoformat()}, medians of {rounds} round(s); every N+1 image at the "
    "site with its digest (ferry check, skopeo inspect --raw):",
    "",
    "| N → N+1, layers written by | " + " | ".join(NAMES.get(w, w) for w in writers) + " |",
    "|---|" + "---|" * len(writers),
]
for i, label in enumerate(labels):
    lines.append(f"| {label} | " + " | ".join(cols[w][i] for w in writers) + " |")
lines.append("<!-- bench-incremental:end -->")
table = "\n".join(lines)
print(table)
text = open(out).read() if os.path.exists(out) else ""
b, e = "<!-- bench-incremental:begin -->", "<!-- bench-incremental:end -->"
if b in text and e in text:
    text = text[: text.index(b)] + table + text[text.index(e) + len(e):]
else:
    text = text.rstrip("\n") + "\n\n## Incremental bundles\n\n" + table + "\n"
os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
open(out, "w").write(text)
PY
}
