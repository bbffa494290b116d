# shellcheck shell=bash
# `scripts/bench.sh --scale`: how ferry's costs grow with the number of images. Sourced by
# scripts/bench.sh after its set-up (FERRY, CORPUS_BIN, WORK, timed, start_registry, …).
#
# The scale corpus (ferry-corpus --scale, fixtures/src/scale.rs: 5,000 small images on 16
# shared base stacks, OCI and Docker manifests, multi-arch indexes, two tags per repository,
# some listed by digest) is built once into target/bench-corpus/scale/. For each size N of
# SCALE_SIZES (default 500 1000 5000; the set of N is the first N images of it), every step is
# run ROUNDS times (default 1 with --scale) and timed with /usr/bin/time:
#   pack       ferry pack of the N images from the OCI layout
#   verify     ferry verify (signature, every manifest, every blob)
#   inspect    ferry inspect --json: reading, parsing and checking the root
#   push       ferry push into an empty registry, then push-again (everything present)
#   serve      ferry serve: time to the listening line (signature, volume set, catalogue), then
#              16 concurrent skopeo copies of 64 of the images; peak RSS over all of it
# and the table (time, per-image time, peak RSS, root size, bundle overhead) goes between the
# bench-scale markers of docs/performance.md (or --out FILE). SCALE_SIZES= (empty) skips them.
# Then the large corpus (scripts/lib/bench_large.sh; LARGE_SIZES, default "2G 8G"; empty skips).

SCALE_SIZES=${SCALE_SIZES-500 1000 5000}

mkdir -p "$WORK/keys" "$WORK/out"
"$FERRY" keygen --out "$WORK/keys/ferry.key" >/dev/null
RESULTS=$WORK/results.tsv
: >"$RESULTS"

if [ -n "${SCALE_SIZES// /}" ]; then
  SCALE_MAX=0
  for n in $SCALE_SIZES; do ((n > SCALE_MAX)) && SCALE_MAX=$n; done
  SCALE_DIR=target/bench-corpus/scale
  SCALE_JSON=$SCALE_DIR/scale.json
  if [ -f "$SCALE_JSON" ] && python3 -c "import json,sys; sys.exit(0 if len(json.load(open('$SCALE_JSON'))['images']) >= $SCALE_MAX else 1)"; then
    echo "== scale corpus: found $SCALE_JSON"
  else
    echo "== building the scale corpus ($SCALE_MAX images) in $SCALE_DIR"
    mkdir -p "$SCALE_DIR"
    "$CORPUS_BIN" --out "$SCALE_DIR" --scale "$SCALE_MAX" >"$SCALE_JSON.tmp"
    mv "$SCALE_JSON.tmp" "$SCALE_JSON"
  fi
  LAYOUT=$(python3 -c "import json; print(json.load(open('$SCALE_JSON'))['layout'])")


  serve_round() { # n round bundle → records serve-start-N and serve-N
    local n=$1 r=$2 bundle=$3 tpid fpid addr t0 t1 secs kib user sys cpu
    serve_start "$n" "$r" "$bundle" "$WORK/out/serve-$n-$r.err"
    # 64 images spread over the set, 16 clients at a time, each by its mirror name.
    python3 - "$SCALE_JSON" "$n" >"$WORK/serve-refs.txt" <<'PY'
import json, sys
imgs = json.load(open(sys.argv[1]))["images"][: int(sys.argv[2])]
step = max(1, len(imgs) // 64)
for i in imgs[::step][:64]:
    print("mirror/" + i["name"])
PY
    local i=0
    mkdir -p "$WORK/pulled"
    t0=$EPOCHREALTIME
    while read -r ref; do
      i=$((i + 1))
      printf '%s\t%s\n' "$ref" "$WORK/pulled/$i"
    done <"$WORK/serve-refs.txt" | xargs -P 16 -L 1 bash -c \
      'skopeo copy -q --all --src-tls-verify=false "docker://'"$addr"'/$0" "oci:$1:x"' \
      2>>"$WORK/out/serve-copies-$n-$r.err" \
      || { echo "error: skopeo copies from ferry serve failed:" >&2; tail -n 20 "$WORK/out/serve-copies-$n-$r.err" >&2; exit 1; }
    t1=$EPOCHREALTIME
    rm -rf "$WORK/pulled"
    secs=$(python3 -c "print(f'{$t1 - $t0:.3f}')")
    fpid=$(pgrep -P "$tpid" || true)
    [ -n "$fpid" ] && kill -TERM "$fpid"
    wait "$tpid" || true
    read -r kib user sys < <(tail -n1 "$WORK/serve.rss")
    cpu=$(python3 -c "print(f'{$user + $sys:.2f}')")
    printf 'serve\tserve-%s\t%s\t%s\t%s\t%s\n' "$n" "$r" "$secs" "$kib" "$cpu" >>"$RESULTS"
    printf '   %-8s %-18s round %s  %8ss  (64 images, 16 clients)  peak RSS %6s MiB\n' serve "serve-$n" "$r" "$secs" "$((kib / 1024))"
  }

  for n in $SCALE_SIZES; do
    echo "== $n images"
    python3 - "$SCALE_JSON" "$n" "$LAYOUT" >"$WORK/images-$n.txt" <<'PY'
import json, sys
for i in json.load(open(sys.argv[1]))["images"][: int(sys.argv[2])]:
    print(f'oci:{sys.argv[3]}:{i["slug"]} {i["name"]}')
PY
    bundle=$WORK/bundle-$n
    for r in $(seq 1 "$ROUNDS"); do
      rm -rf "$bundle"
      timed pack "pack-$n" "$r" "$FERRY" pack --images "$WORK/images-$n.txt" \
        --key "$WORK/keys/ferry.key" --out "$bundle" --json
      timed verify "verify-$n" "$r" "$FERRY" verify "$bundle" \
        --trusted-key "$WORK/keys/ferry.key.pub" --json
      timed inspect "inspect-$n" "$r" "$FERRY" inspect "$bundle" --json
      port=$(free_port); tgt=127.0.0.1:$port
      start_registry "target-$n" "$port"
      pid=$REG_PID
      timed push "push-$n" "$r" "$FERRY" push "$bundle" --trusted-key "$WORK/keys/ferry.key.pub" \
        --to "$tgt" --insecure-registry "$tgt" --mirrorsets-out "$WORK/mirrorsets" --json
      timed push "push-again-$n" "$r" "$FERRY" push "$bundle" --trusted-key "$WORK/keys/ferry.key.pub" \
        --to "$tgt" --insecure-registry "$tgt" --mirrorsets-out "$WORK/mirrorsets" --json
      stop_registry "target-$n" "$pid"
      serve_round "$n" "$r" "$bundle"
    done
    du -sb "$bundle" | cut -f1 >"$WORK/out/bundle-bytes-$n"
    if [ "${FERRY_BENCH_KEEP:-0}" != 1 ]; then rm -rf "$bundle"; fi
  done

  echo "== report"
  python3 scripts/lib/bench_scale_report.py --results "$RESULTS" --corpus "$SCALE_JSON" \
    --out-dir "$WORK/out" --sizes "$SCALE_SIZES" --rounds "$ROUNDS" --write "$OUT"
  echo "(table written to $OUT)"
fi

# shellcheck source=scripts/lib/bench_large.sh
source scripts/lib/bench_large.sh
if [ -n "${LARGE_SIZES// /}" ]; then bench_large; fi
