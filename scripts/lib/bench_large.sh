# shellcheck shell=bash
# `scripts/bench.sh --scale`, second half: the large corpus (few images, large layers). Sourced
# by scripts/lib/bench_scale.sh after bench.sh's set-up (FERRY, CORPUS_BIN, WORK, RESULTS, timed,
# start_registry, …).
#
# For each size of LARGE_SIZES (default "2G 8G"; "50G" is the issue's size, see
# docs/performance.md for the disk it needs), ferry-corpus --large SIZE (fixtures/src/large/:
# 52 images, 4 shared bases, 12 applications in 4 versions sharing long runs, 3 multi-arch,
# layers from ~0.03 % to ~5 % of SIZE, gzip and plain tar) writes an OCI layout into the run
# directory, then every step is run ROUNDS times under /usr/bin/time:
#   pack       ferry pack of the 52 images from the layout (the layout is removed after the
#              last pack round, so that the layout, the bundle and a registry never coexist)
#   verify     ferry verify; inspect: ferry inspect --json
#   push       ferry push into an empty registry, then push-again (everything present)
#   serve      ferry serve: start to listening, then 8 concurrent skopeo copies of every image
#              (each copy removed as soon as it is complete); peak RSS over all of it
# The table (time, throughput, peak RSS, root size, bundle overhead) goes between the
# bench-large markers of docs/performance.md (or --out FILE). Before a size starts, free disk
# is checked against what it needs (twice SIZE plus 2 GiB) and the run stops if it is short.

LARGE_SIZES=${LARGE_SIZES-2G 8G}
LARGE_CLIENTS=8

large_bytes() { # SIZE → bytes, as ferry-corpus --large reads it
  python3 - "$1" <<'PY'
import re, sys
m = re.fullmatch(r"(\d+)(K|M|G|T|KiB|MiB|GiB|TiB|KB|MB|GB|TB)?", sys.argv[1])
if not m:
    sys.exit(f"LARGE_SIZES: cannot read {sys.argv[1]!r} (e.g. 2G, 50G)")
u = m.group(2) or ""
mult = {"": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}.get(u)
if mult is None:
    mult = 1024 ** ("KMGT".index(u[0]) + 1)
print(int(m.group(1)) * mult)
PY
}

large_check_disk() { # size → exits 1 when the file system of $WORK has less than it needs
  local size=$1 bytes need free
  bytes=$(large_bytes "$size")
  need=$((2 * bytes + 2 * 1024 * 1024 * 1024))
  free=$(df -B1 --output=avail "$WORK" | tail -n1 | tr -d ' ')
  if ((free < need)); then
    echo "error: the large corpus of $size needs $((need / 1024 / 1024 / 1024)) GiB free in $WORK" \
      "(the layout or a registry copy beside the bundle, plus 2 GiB); $((free / 1024 / 1024 / 1024)) GiB are free." \
      "Free some disk or choose smaller LARGE_SIZES." >&2
    exit 1
  fi
}

large_serve_round() { # size round bundle refs → records serve-start-large-SIZE and serve-large-SIZE
  local size=$1 r=$2 bundle=$3 refs=$4 tpid fpid addr t0 t1 secs kib user sys cpu
  serve_start "large-$size" "$r" "$bundle" "$WORK/out/serve-large-$size-$r.err"
  mkdir -p "$WORK/pulled"
  t0=$EPOCHREALTIME
  local i=0
  while read -r ref; do
    i=$((i + 1))
    printf '%s\t%s\n' "$ref" "$WORK/pulled/$i"
  done <"$refs" | xargs -P "$LARGE_CLIENTS" -L 1 bash -c \
    'skopeo copy -q --all --src-tls-verify=false "docker://'"$addr"'/$0" "oci:$1:x" && rm -rf "$1"' \
    2>>"$WORK/out/serve-large-copies-$size-$r.err" \
    || { echo "error: skopeo copies from ferry serve failed:" >&2; tail -n 20 "$WORK/out/serve-large-copies-$size-$r.err" >&2; exit 1; }
  t1=$EPOCHREALTIME
  rm -rf "$WORK/pulled"
  secs=$(python3 -c "print(f'{$t1 - $t0:.3f}')")
  fpid=$(pgrep -P "$tpid" || true)
  [ -n "$fpid" ] && kill -TERM "$fpid"
  wait "$tpid" || true
  read -r kib user sys < <(tail -n1 "$WORK/serve.rss")
  cpu=$(python3 -c "print(f'{$user + $sys:.2f}')")
  printf 'serve\tserve-large-%s\t%s\t%s\t%s\t%s\n' "$size" "$r" "$secs" "$kib" "$cpu" >>"$RESULTS"
  printf '   %-8s %-18s round %s  %8ss  CPU %7ss  peak RSS %6s MiB  (every image, %s clients)\n' \
    serve "serve-large-$size" "$r" "$secs" "$cpu" "$((kib / 1024))" "$LARGE_CLIENTS"
}

bench_large() {
  local size corpus_dir json layout bundle port tgt pid r
  for size in $LARGE_SIZES; do large_bytes "$size" >/dev/null || exit 2; done
  # Refuse before anything runs if the largest size cannot fit; checked again per size.
  for size in $LARGE_SIZES; do large_check_disk "$size"; done
  for size in $LARGE_SIZES; do
    echo "== large corpus: $size"
    large_check_disk "$size"
    corpus_dir=$WORK/large-$size
    json=$WORK/out/large-$size.json
    local t0=$EPOCHREALTIME
    "$CORPUS_BIN" --out "$corpus_dir" --large "$size" >"$json" 2>"$WORK/out/large-$size.err" \
      || { echo "error: ferry-corpus --large $size failed:" >&2; tail -n 20 "$WORK/out/large-$size.err" >&2; exit 1; }
    echo "   built in $(python3 -c "print(f'{$EPOCHREALTIME - $t0:.0f}')") s: $(tail -n1 "$WORK/out/large-$size.err")"
    layout=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['layout'])" "$json")
    # The list to pack, the references to pull from serve, and the bytes those pulls carry
    # (every blob of every image, all platforms of an index: what skopeo copy --all fetches).
    python3 - "$json" "$layout" "$WORK/large-images-$size.txt" "$WORK/large-refs-$size.txt" \
      >"$WORK/out/large-pulled-bytes-$size" <<'PY'
import json, os, sys
c = json.load(open(sys.argv[1])); layout = sys.argv[2]
blob = lambda d: json.load(open(os.path.join(layout, "blobs", "sha256", d.split(":")[1])))
def image_bytes(desc):
    m = blob(desc)
    if "manifests" in m:
        return sum(d["size"] + image_bytes(d["digest"]) for d in m["manifests"])
    return m["config"]["size"] + sum(l["size"] for l in m["layers"])
total = 0
with open(sys.argv[3], "w") as imgs, open(sys.argv[4], "w") as refs:
    for i in c["images"]:
        imgs.write(f'oci:{layout}:{i["slug"]} {i["name"]}\n')
        refs.write("mirror/" + i["name"] + "\n")
        total += image_bytes(i["digest"])
print(total)
PY
    bundle=$WORK/large-bundle-$size
    for r in $(seq 1 "$ROUNDS"); do
      rm -rf "$bundle"
      timed pack "pack-large-$size" "$r" "$FERRY" pack --images "$WORK/large-images-$size.txt" \
        --key "$WORK/keys/ferry.key" --out "$bundle" --json
    done
    rm -rf "$corpus_dir"
    for r in $(seq 1 "$ROUNDS"); do
      timed verify "verify-large-$size" "$r" "$FERRY" verify "$bundle" \
        --trusted-key "$WORK/keys/ferry.key.pub" --json
      timed inspect "inspect-large-$size" "$r" "$FERRY" inspect "$bundle" --json
    done
    for r in $(seq 1 "$ROUNDS"); do
      port=$(free_port); tgt=127.0.0.1:$port
      start_registry "target-large-$size" "$port"
      pid=$REG_PID
      timed push "push-large-$size" "$r" "$FERRY" push "$bundle" --trusted-key "$WORK/keys/ferry.key.pub" \
        --to "$tgt" --insecure-registry "$tgt" --mirrorsets-out "$WORK/mirrorsets" --json
      timed push "push-again-large-$size" "$r" "$FERRY" push "$bundle" --trusted-key "$WORK/keys/ferry.key.pub" \
        --to "$tgt" --insecure-registry "$tgt" --mirrorsets-out "$WORK/mirrorsets" --json
      stop_registry "target-large-$size" "$pid"
    done
    for r in $(seq 1 "$ROUNDS"); do
      large_serve_round "$size" "$r" "$bundle" "$WORK/large-refs-$size.txt"
    done
    du -sb "$bundle" | cut -f1 >"$WORK/out/large-bundle-bytes-$size"
    if [ "${FERRY_BENCH_KEEP:-0}" != 1 ]; then rm -rf "$bundle"; fi
  done

  echo "== report (large)"
  python3 scripts/lib/bench_large_report.py --results "$RESULTS" --out-dir "$WORK/out" \
    --sizes "$LARGE_SIZES" --rounds "$ROUNDS" --write "$OUT"
  echo "(large table written to $OUT)"
}
