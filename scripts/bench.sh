#!/usr/bin/env bash
# ferry against skopeo, openssl and sha256sum on a realistic corpus, in one run:
#   pack    skopeo copy of every image into dir: folders and into one shared oci: layout
#           vs ferry pack of the same list;
#   verify  openssl dgst -sha256 and sha256sum over the bundle's files vs ferry verify;
#   push    skopeo copy of every image (from the dir: copies) into an empty registry under the
#           passthrough names vs ferry push; then ferry push of the same bundle again.
#   pull    16 concurrent skopeo copy of every image from a registry the bundle was pushed into
#           vs from ferry serve of the bundle (throughput; ferry serve's peak RSS).
# Contenders alternate, ROUNDS rounds each (default 3); the script prints medians, ratios and
# peak RSS (/usr/bin/time) as one table and writes it, with the core count and the date, into
# docs/performance.md (between its bench markers) — or --out FILE.
#
#   incremental  version N pushed to a site, its inventory taken (ferry inventory), N+1 packed
#           against it (pack --base) and pushed onto the site, once per gzip writer of the
#           corpus's layers (flate2; Go compress/gzip 6; klauspost/pgzip): whole-blob delta
#           bytes against the incremental bundle's bytes, reconstruction data, pack and push
#           times, push rebuild MB/s per core (its own table, between the bench-incremental
#           markers).
#
#   scripts/bench.sh            full corpus (~2 GB of unique gzip blobs, 26 images)
#   scripts/bench.sh --quick    ~200 MB corpus, a few minutes; writes target/bench/performance-quick.md
#   scripts/bench.sh --incremental-only [--quick] [--out FILE] [--writers "flate2 go pgzip"]
#                               only the incremental rows (for the writers listed)
#   scripts/bench.sh --no-incremental   the main table only (on the full corpus each writer's
#                               incremental row takes ~20 minutes on 2 cores)
#   scripts/bench.sh --scale    500, 1,000 and 5,000 small synthetic images (scripts/lib/bench_scale.sh):
#                               pack, verify, inspect, push, re-push and serve, time, per-image time,
#                               peak RSS, root size; one round unless --rounds; sizes from SCALE_SIZES
#                               (empty: skipped). Then the large corpus (scripts/lib/bench_large.sh):
#                               52 images with layers up to a few GB, at each size of LARGE_SIZES
#                               (default "2G 8G"; LARGE_SIZES=50G for the issue's set, which needs
#                               ~102 GiB free; empty: skipped), the same steps with throughput (MB/s)
#                               and peak RSS; refuses to start when free disk is short of 2 × SIZE + 2 GiB.
#                               e.g. SCALE_SIZES= LARGE_SIZES="1G 4G" scripts/bench.sh --scale
#
# The corpus is built once from real files on this machine (ferry-corpus) and cached under
# target/bench-corpus/; registries, bundles and copies live in target/bench-run.* and are
# removed at the end (FERRY_BENCH_KEEP=1 keeps them).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/deps.sh
source scripts/lib/deps.sh
ensure_deps

QUICK=0
INC_ONLY=0
NO_INC=0
SCALE=0
ROUNDS=
OUT=
INC_WRITERS="flate2 go pgzip"
while (($#)); do
  case $1 in
    --quick) QUICK=1 ;;
    --scale) SCALE=1 ;;
    --rounds) ROUNDS=$2; shift ;;
    --out) OUT=$2; shift ;;
    --incremental-only) INC_ONLY=1 ;;
    --no-incremental) NO_INC=1 ;;
    --writers) INC_WRITERS=$2; shift ;;
    -h|--help) sed -n '2,39p' "$0"; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$ROUNDS" ]; then if ((SCALE)); then ROUNDS=1; else ROUNDS=3; fi; fi
if [ -z "$OUT" ]; then
  if ((QUICK)); then OUT=target/bench/performance-quick.md; else OUT=docs/performance.md; fi
fi
if [ ! -x /usr/bin/time ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "== installing missing package: time"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends time >/dev/null
  else
    echo "error: /usr/bin/time is missing: apt-get install time" >&2; exit 1
  fi
fi

echo "== building ferry and ferry-corpus (release)"
cargo build --release --locked --workspace -q
FERRY=$PWD/target/release/ferry
CORPUS_BIN=$PWD/target/release/ferry-corpus

mkdir -p target/bench
WORK=$(mktemp -d "$PWD/target/bench-run.XXXXXX")
PIDS=()
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
cleanup() {
  for p in "${PIDS[@]}"; do stop_pid "$p"; done
  if [ "${FERRY_BENCH_KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

REG_PID=
start_registry() { # name port → REG_PID
  local name=$1 port=$2
  rm -rf "${WORK:?}/$name"
  mkdir -p "$WORK/$name/storage"
  cat >"$WORK/$name/config.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $WORK/$name/storage}
  delete: {enabled: true}
http:
  addr: 127.0.0.1:$port
YAML
  docker-registry serve "$WORK/$name/config.yml" >"$WORK/$name.log" 2>&1 &
  REG_PID=$!
  PIDS+=("$REG_PID")
  for _ in $(seq 1 100); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/v2/', timeout=1)" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "registry $name did not start; see $WORK/$name.log" >&2; exit 1
}
stop_registry() { # name pid
  stop_pid "$2"
  rm -rf "${WORK:?}/$1"
}

timed() { # step contender round cmd... ; records seconds, peak RSS (KiB) and CPU seconds (user+sys), keeps stdout
  local step=$1 who=$2 round=$3; shift 3
  local t0 t1
  # Untimed: flush what earlier contenders left dirty (skopeo does not fsync; ferry pack fsyncs
  # every blob inside its own time), so no contender pays for another's writeback.
  sync
  t0=$EPOCHREALTIME
  if ! /usr/bin/time -f '%M %U %S' -o "$WORK/rss" "$@" >"$WORK/out/$who-$round.out" 2>"$WORK/out/$who-$round.err"; then
    echo "error: $who (round $round) failed:" >&2
    tail -n 20 "$WORK/out/$who-$round.err" >&2
    exit 1
  fi
  t1=$EPOCHREALTIME
  local secs kib user sys cpu
  secs=$(python3 -c "print(f'{$t1 - $t0:.3f}')")
  read -r kib user sys < <(tail -n1 "$WORK/rss")
  cpu=$(python3 -c "print(f'{$user + $sys:.2f}')")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$step" "$who" "$round" "$secs" "$kib" "$cpu" >>"$RESULTS"
  printf '   %-8s %-18s round %s  %8ss  CPU %7ss  peak RSS %6s MiB\n' "$step" "$who" "$round" "$secs" "$cpu" "$((kib / 1024))"
}

serve_start() { # label round bundle errfile → addr, tpid; records the time to the listening line
  local label=$1 round=$2 bundle=$3 err=$4 line= t0 t1
  rm -f "$WORK/serve.out" "$WORK/serve.rss"
  sync
  t0=$EPOCHREALTIME
  /usr/bin/time -f '%M %U %S' -o "$WORK/serve.rss" "$FERRY" serve "$bundle" \
    --trusted-key "$WORK/keys/ferry.key.pub" --listen 127.0.0.1:0 --json \
    >"$WORK/serve.out" 2>"$err" &
  tpid=$!
  PIDS+=("$tpid")
  for _ in $(seq 1 1200); do
    line=$(head -n1 "$WORK/serve.out" 2>/dev/null || true)
    [ -n "$line" ] && break
    sleep 0.05
  done
  t1=$EPOCHREALTIME
  [ -n "$line" ] || { echo "error: ferry serve did not start; see $err" >&2; exit 1; }
  addr=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['address'])" "$line")
  printf 'serve-start\tserve-start-%s\t%s\t%s\t0\t0\n' "$label" "$round" \
    "$(python3 -c "print(f'{$t1 - $t0:.3f}')")" >>"$RESULTS"
}

if ((SCALE)); then
  # shellcheck source=scripts/lib/bench_scale.sh
  source scripts/lib/bench_scale.sh
  exit 0
fi

if ((QUICK)); then CORPUS_DIR=target/bench-corpus/quick; CORPUS_FLAG=--quick
else CORPUS_DIR=target/bench-corpus/full; CORPUS_FLAG=; fi

echo "== starting the source registry"
SRC_PORT=$(free_port); SRC=127.0.0.1:$SRC_PORT
start_registry source "$SRC_PORT"
SRC_PID=$REG_PID
echo "== building (or finding) the corpus in $CORPUS_DIR and loading it into $SRC"
# shellcheck disable=SC2086
"$CORPUS_BIN" --out "$CORPUS_DIR" $CORPUS_FLAG --load "$SRC" >"$WORK/corpus.json"

python3 - "$WORK/corpus.json" "$SRC" "$WORK" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); src = sys.argv[2]; work = sys.argv[3]
with open(f"{work}/images.txt", "w") as f:
    for i in c["images"]:
        f.write(f'{src}/{i["repository"]}:{i["tag"]}\n')
with open(f"{work}/images.tsv", "w") as f:
    for i in c["images"]:
        f.write(f'{i["slug"]}\t{i["repository"]}\t{i["tag"]}\n')
PY
N_IMAGES=$(wc -l <"$WORK/images.txt")
echo "   $N_IMAGES images"

# The skopeo contenders: every image, one after another, as a script would do it.
cat >"$WORK/skopeo-dir.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
rm -rf "$WORK/dir"; mkdir -p "$WORK/dir"
while IFS=\$'\t' read -r slug repo tag; do
  skopeo copy -q --all --preserve-digests --src-tls-verify=false "docker://$SRC/\$repo:\$tag" "dir:$WORK/dir/\$slug"
done <"$WORK/images.tsv"
EOF
cat >"$WORK/skopeo-oci.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
rm -rf "$WORK/oci"
while IFS=\$'\t' read -r slug repo tag; do
  skopeo copy -q --all --src-tls-verify=false "docker://$SRC/\$repo:\$tag" "oci:$WORK/oci:\$slug"
done <"$WORK/images.tsv"
EOF
cat >"$WORK/skopeo-push.sh" <<EOF
#!/usr/bin/env bash
# usage: skopeo-push.sh TARGET — from the dir: copies, under the passthrough names
set -euo pipefail
while IFS=\$'\t' read -r slug repo tag; do
  skopeo copy -q --all --preserve-digests --dest-tls-verify=false "dir:$WORK/dir/\$slug" "docker://\$1/mirror/127.0.0.1_$SRC_PORT/\$repo:\$tag"
done <"$WORK/images.tsv"
EOF
cat >"$WORK/skopeo-pull.sh" <<EOF
#!/usr/bin/env bash
# usage: skopeo-pull.sh HOST:PORT — every image by its passthrough name, 16 clients at a time,
# each into its own oci: layout (one shared layout would race on its index.json)
set -euo pipefail
rm -rf "$WORK/pulled"; mkdir -p "$WORK/pulled"
while IFS=\$'\t' read -r slug repo tag; do
  printf '%s\t%s\n' "mirror/127.0.0.1_$SRC_PORT/\$repo:\$tag" "\$slug"
done <"$WORK/images.tsv" | xargs -P 16 -L 1 bash -c \
  'skopeo copy -q --all --src-tls-verify=false "docker://'"\$1"'/\$0" "oci:$WORK/pulled/\$1:x"'
rm -rf "$WORK/pulled"
EOF
chmod +x "$WORK"/skopeo-*.sh

mkdir -p "$WORK/keys" "$WORK/out"
"$FERRY" keygen --out "$WORK/keys/ferry.key" >/dev/null
RESULTS=$WORK/results.tsv
: >"$RESULTS"

if ((INC_ONLY)); then
  # shellcheck source=scripts/lib/bench_incremental.sh
  source scripts/lib/bench_incremental.sh
  bench_incremental
  exit 0
fi

echo "== pack: $ROUNDS rounds, contenders alternating"
for r in $(seq 1 "$ROUNDS"); do
  if ((r % 2)); then order="skopeo-dir skopeo-oci ferry-pack"; else order="ferry-pack skopeo-oci skopeo-dir"; fi
  for who in $order; do
    case $who in
      skopeo-dir) timed pack skopeo-dir "$r" "$WORK/skopeo-dir.sh" ;;
      skopeo-oci) timed pack skopeo-oci "$r" "$WORK/skopeo-oci.sh" ;;
      ferry-pack)
        rm -rf "$WORK/bundle"
        timed pack ferry-pack "$r" "$FERRY" pack --images "$WORK/images.txt" \
          --key "$WORK/keys/ferry.key" --out "$WORK/bundle" --insecure-registry "$SRC" --json ;;
    esac
  done
done
rm -rf "$WORK/oci"

echo "== verify: $ROUNDS rounds"
for r in $(seq 1 "$ROUNDS"); do
  if ((r % 2)); then order="openssl sha256sum ferry-verify"; else order="ferry-verify sha256sum openssl"; fi
  for who in $order; do
    case $who in
      openssl) timed verify openssl "$r" bash -c "openssl dgst -sha256 '$WORK'/bundle/*.tar" ;;
      sha256sum) timed verify sha256sum "$r" bash -c "sha256sum '$WORK'/bundle/*.tar" ;;
      ferry-verify) timed verify ferry-verify "$r" "$FERRY" verify "$WORK/bundle" \
        --trusted-key "$WORK/keys/ferry.key.pub" --json ;;
    esac
  done
done

echo "== push into an empty registry: $ROUNDS rounds"
for r in $(seq 1 "$ROUNDS"); do
  if ((r % 2)); then order="skopeo ferry"; else order="ferry skopeo"; fi
  for who in $order; do
    port=$(free_port); tgt=127.0.0.1:$port
    start_registry "target-$who" "$port"
    pid=$REG_PID
    if [ "$who" = skopeo ]; then
      timed push skopeo-push "$r" "$WORK/skopeo-push.sh" "$tgt"
    else
      for who2 in ferry-push ferry-push-again; do
        timed push "$who2" "$r" "$FERRY" push "$WORK/bundle" --trusted-key "$WORK/keys/ferry.key.pub" \
          --to "$tgt" --insecure-registry "$tgt" --mirrorsets-out "$WORK/mirrorsets" --json
      done
      if [ "$r" = 1 ]; then
        # Not timed: the pushed images are all there, digests unchanged.
        "$FERRY" check "$WORK/bundle" --trusted-key "$WORK/keys/ferry.key.pub" --to "$tgt" --insecure-registry "$tgt" >"$WORK/out/check.out" 2>&1 \
          || { echo "error: ferry check after push failed" >&2; cat "$WORK/out/check.out" >&2; exit 1; }
      fi
    fi
    stop_registry "target-$who" "$pid"
  done
done

echo "== pull with 16 concurrent skopeo clients: from the registry after a push, from ferry serve; $ROUNDS rounds"
port=$(free_port); tgt=127.0.0.1:$port
start_registry target-pull "$port"
pull_reg_pid=$REG_PID
"$FERRY" push "$WORK/bundle" --trusted-key "$WORK/keys/ferry.key.pub" --to "$tgt" \
  --insecure-registry "$tgt" --mirrorsets-out "$WORK/mirrorsets" --json >/dev/null
for r in $(seq 1 "$ROUNDS"); do
  timed pull registry-pull "$r" "$WORK/skopeo-pull.sh" "$tgt"
  # ferry serve under /usr/bin/time (its peak RSS over the whole round), stopped with SIGTERM.
  : >"$WORK/serve.out"
  /usr/bin/time -f '%M %U %S' -o "$WORK/serve.rss" "$FERRY" serve "$WORK/bundle" \
    --trusted-key "$WORK/keys/ferry.key.pub" --listen 127.0.0.1:0 --json \
    >"$WORK/serve.out" 2>"$WORK/out/serve-$r.err" &
  serve_tpid=$!
  PIDS+=("$serve_tpid")
  for _ in $(seq 1 600); do [ -s "$WORK/serve.out" ] && break; sleep 0.05; done
  saddr=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())['address'])" "$WORK/serve.out")
  timed pull serve-pull "$r" "$WORK/skopeo-pull.sh" "$saddr"
  serve_fpid=$(pgrep -P "$serve_tpid" || true)
  [ -n "$serve_fpid" ] && kill -TERM "$serve_fpid"
  wait "$serve_tpid" || true
  read -r kib user sys < <(tail -n1 "$WORK/serve.rss")
  printf 'pull\tserve-process\t%s\t0\t%s\t%s\n' "$r" "$kib" \
    "$(python3 -c "print(f'{$user + $sys:.2f}')")" >>"$RESULTS"
  echo "   ferry serve process: peak RSS $((kib / 1024)) MiB"
done
stop_registry target-pull "$pull_reg_pid"

if ((NO_INC)); then
  echo "== incremental rows skipped (--no-incremental)"
else
  # shellcheck source=scripts/lib/bench_incremental.sh
  source scripts/lib/bench_incremental.sh
  bench_incremental
fi

echo "== report"
python3 scripts/lib/bench_report.py --results "$RESULTS" --corpus "$WORK/corpus.json" \
  --out-dir "$WORK/out" --mode "$([ "$QUICK" = 1 ] && echo quick || echo full)" --rounds "$ROUNDS" \
  --write "$OUT"
echo "(table written to $OUT)"
