#!/usr/bin/env bash
# ferry under faults, kills and damage (issue 14 item 10), measured in one run:
#   faults  one `ferry push` with default settings through the chaos proxy (ferry-faults) in
#           front of the target, and one `ferry pack` through it in front of the source, with
#           the issue's mix: 15 % 503, 10 % 429, 5 % dropped connections, 2 % truncated bodies,
#           2 % lost answers. Each run must complete (exit 0, every image) with no rerun; then
#           `ferry check` (push) or `ferry verify` (pack) against the real registry / bundle.
#   kills   SIGKILL at KILLS random points of pack and of push, then a rerun: it must complete,
#           commit no blob the registry had already finished (registry access log), and no tag
#           may point at anything but the bundle's complete image at any kill.
#   flips   FLIPS random single-bit flips anywhere in a bundle's volumes: `ferry verify` and
#           `ferry verify --volume` on the damaged volume must fail (and never panic, exit 101).
# The table goes into docs/reliability.md between its markers (or --out FILE).
#
#   scripts/reliability.sh            full counts: 20 kills each, 1000 flips
#   scripts/reliability.sh --quick    5 kills each, 100 flips; writes target/reliability-quick.md
#   FERRY_PROFILE=debug ...           use the debug build (default: release)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/deps.sh
source scripts/lib/deps.sh
ensure_deps

KILLS=20
FLIPS=1000
OUT=docs/reliability.md
while (($#)); do
  case $1 in
    --quick) KILLS=5; FLIPS=100; OUT=target/reliability-quick.md ;;
    --kills) KILLS=$2; shift ;;
    --flips) FLIPS=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

PROFILE=${FERRY_PROFILE:-release}
echo "== building ferry, ferry-fixtures and ferry-faults ($PROFILE)"
if [ "$PROFILE" = release ]; then
  cargo build --release --locked --workspace --bins -q
else
  cargo build --locked --workspace --bins -q
fi
BIN=$PWD/target/$PROFILE
FERRY=$BIN/ferry

WORK=$(mktemp -d "$PWD/target/reliability-run.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if [ "${FERRY_RELIABILITY_KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
export FERRY_UPLOAD_JOURNAL=$WORK/upload-journal

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

REG_PID= REG_HOST=
start_registry() { # name → REG_PID REG_HOST (access log in $WORK/name/log)
  local name=$1 port
  port=$(free_port)
  rm -rf "${WORK:?}/$name"; mkdir -p "$WORK/$name/storage"
  cat >"$WORK/$name/config.yml" <<YAML
version: 0.1
log: {level: info, accesslog: {disabled: false}}
storage:
  filesystem: {rootdirectory: $WORK/$name/storage}
  delete: {enabled: true}
http:
  addr: 127.0.0.1:$port
YAML
  /usr/bin/docker-registry serve "$WORK/$name/config.yml" >"$WORK/$name/log" 2>&1 &
  REG_PID=$!; PIDS+=("$REG_PID"); REG_HOST=127.0.0.1:$port
  for _ in $(seq 100); do curl -fs "http://$REG_HOST/v2/" >/dev/null && return 0; sleep 0.1; done
  echo "registry $name did not start" >&2; exit 1
}
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

FAULTS_HOST= FAULTS_PID=
start_faults() { # upstream seed → FAULTS_HOST FAULTS_PID
  "$BIN/ferry-faults" --upstream "$1" --seed "$2" >"$WORK/faults-$2.out" 2>&1 &
  FAULTS_PID=$!; PIDS+=("$FAULTS_PID")
  for _ in $(seq 100); do
    FAULTS_HOST=$(awk '/^listening/{print $2}' "$WORK/faults-$2.out" 2>/dev/null || true)
    [ -n "$FAULTS_HOST" ] && return 0; sleep 0.1
  done
  echo "ferry-faults did not start" >&2; exit 1
}

echo "== fixtures, keys, source registry"
"$BIN/ferry-fixtures" --out "$WORK/fx" --no-large >"$WORK/fx.json"
"$FERRY" keygen --out "$WORK/k.key" >/dev/null
start_registry source; SOURCE=$REG_HOST
python3 - "$WORK/fx.json" "$WORK" "$SOURCE" <<'PY'
import json, subprocess, sys
fx, work, source = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
local, remote = [], []
for i in fx["images"]:
    if i["foreign"]:
        continue
    local.append(f"oci:{i['layout']}:{i['tag']} quay.io/{i['repository']}:{i['tag']}")
    subprocess.run(["skopeo", "copy", "-q", "--all", "--preserve-digests", "--dest-tls-verify=false",
                    i["skopeo_source"], f"docker://{source}/{i['repository']}:{i['tag']}"], check=True)
    remote.append(f"{source}/{i['repository']}@{i['digest']}")
open(f"{work}/local.txt", "w").write("\n".join(local) + "\n")
open(f"{work}/remote.txt", "w").write("\n".join(remote) + "\n")
PY
"$FERRY" pack --images "$WORK/local.txt" --key "$WORK/k.key" --out "$WORK/bundle" >/dev/null 2>&1
IMAGES=$(wc -l <"$WORK/local.txt")
VOLUMES=$(find "$WORK/bundle" -name '*.tar' | wc -l)
push_args() { # bundle host → args
  echo push "$1" --trusted-key "$WORK/k.key.pub" --to "$2" --insecure-registry "$2" \
    --mirrorsets-out "$WORK/mirrorsets" --json
}
check_target() { # host
  "$FERRY" check "$WORK/bundle" --trusted-key "$WORK/k.key.pub" --to "$1" --insecure-registry "$1" >/dev/null 2>&1
}

echo "== push through the fault mix (default settings, one run)"
start_registry target; TARGET=$REG_HOST; TARGET_PID=$REG_PID
start_faults "$TARGET" push
t0=$(date +%s)
# shellcheck disable=SC2046
if "$FERRY" $(push_args "$WORK/bundle" "$FAULTS_HOST") >"$WORK/push-faults.json" 2>"$WORK/push-faults.err"; then PUSH_EXIT=0; else PUSH_EXIT=$?; fi
PUSH_SECS=$(( $(date +%s) - t0 ))
PUSH_STATS=$(curl -fs "http://$FAULTS_HOST/__chaos/stats")
PUSH_OK=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(sum(i["ok"] for i in r["images"]))' "$WORK/push-faults.json" 2>/dev/null || echo 0)
if check_target "$TARGET"; then PUSH_CHECK=yes; else PUSH_CHECK=NO; fi
stop_pid "$FAULTS_PID"; stop_pid "$TARGET_PID"

echo "== pack through the fault mix in front of the source (default settings, one run)"
start_faults "$SOURCE" pack
sed "s/$SOURCE/$FAULTS_HOST/" "$WORK/remote.txt" >"$WORK/remote-faults.txt"
t0=$(date +%s)
if "$FERRY" pack --images "$WORK/remote-faults.txt" --key "$WORK/k.key" --out "$WORK/bundle-faults" \
  --insecure-registry "$FAULTS_HOST" >"$WORK/pack-faults.out" 2>&1; then PACK_EXIT=0; else PACK_EXIT=$?; fi
PACK_SECS=$(( $(date +%s) - t0 ))
PACK_STATS=$(curl -fs "http://$FAULTS_HOST/__chaos/stats")
if "$FERRY" verify "$WORK/bundle-faults" --trusted-key "$WORK/k.key.pub" >/dev/null 2>&1; then PACK_VERIFY=yes; else PACK_VERIFY=NO; fi
stop_pid "$FAULTS_PID"

rand_ms() { python3 -c "import random; print(random.randint($1, $2))"; }

echo "== SIGKILL at $KILLS random points of push"
PUSH_KILL_OK=0 PUSH_REUPLOADS=0 PUSH_BAD_TAGS=0
# How long one push takes, to spread the kill points over it.
start_registry probe
t0=$(date +%s%N)
# shellcheck disable=SC2046
"$FERRY" $(push_args "$WORK/bundle" "$REG_HOST") >/dev/null 2>&1
PUSH_MS=$(( ( $(date +%s%N) - t0 ) / 1000000 )); stop_pid "$REG_PID"
for i in $(seq "$KILLS"); do
  start_registry "kill-push-$i"; T=$REG_HOST; TP=$REG_PID
  # shellcheck disable=SC2046
  "$FERRY" $(push_args "$WORK/bundle" "$T") >/dev/null 2>&1 &
  FP=$!
  sleep "$(python3 -c "print($(rand_ms 0 "$PUSH_MS")/1000)")"
  kill -9 "$FP" 2>/dev/null || true; wait "$FP" 2>/dev/null || true
  LOG=$WORK/kill-push-$i/log
  bad=$(python3 - "$WORK/fx.json" "$T" <<'PY'
import json, sys, urllib.error, urllib.request
fx, host = json.load(open(sys.argv[1])), sys.argv[2]
# Every tag present must resolve to a fixture image's top digest: a tag goes last, after every
# blob and manifest of its image (which the registry checks are there).
want = {i["digest"] for i in fx["images"]}
accept = ", ".join("application/vnd." + t for t in ["oci.image.index.v1+json", "oci.image.manifest.v1+json",
    "docker.distribution.manifest.list.v2+json", "docker.distribution.manifest.v2+json"])
bad = 0
for repo in json.load(urllib.request.urlopen(f"http://{host}/v2/_catalog")).get("repositories") or []:
    if "ferry-state" in repo:
        continue
    try:
        tags = json.load(urllib.request.urlopen(f"http://{host}/v2/{repo}/tags/list")).get("tags") or []
    except urllib.error.HTTPError:
        tags = []  # blobs only, no tag yet
    for t in tags:
        r = urllib.request.urlopen(urllib.request.Request(
            f"http://{host}/v2/{repo}/manifests/{t}", method="HEAD", headers={"Accept": accept}))
        bad += r.headers.get("Docker-Content-Digest") not in want
print(bad)
PY
)
  PUSH_BAD_TAGS=$((PUSH_BAD_TAGS + bad))
  grep -o 'PUT /v2/[^ ]*/blobs/uploads/[^ ]*digest=sha256%3A[0-9a-f]* HTTP/1.1" 201' "$LOG" \
    | grep -o 'sha256%3A[0-9a-f]*' | sort -u >"$WORK/finished-$i"
  before=$(wc -l <"$LOG")
  # shellcheck disable=SC2046
  if "$FERRY" $(push_args "$WORK/bundle" "$T") >/dev/null 2>&1 && check_target "$T"; then
    PUSH_KILL_OK=$((PUSH_KILL_OK + 1))
  fi
  again=$(tail -n +"$((before + 1))" "$LOG" | grep -o 'PUT /v2/[^ ]*/blobs/uploads/[^ ]*digest=sha256%3A[0-9a-f]* HTTP/1.1" 201' \
    | grep -o 'sha256%3A[0-9a-f]*' | grep -cxFf "$WORK/finished-$i" || true)
  PUSH_REUPLOADS=$((PUSH_REUPLOADS + again))
  stop_pid "$TP"
done

echo "== SIGKILL at $KILLS random points of pack"
PACK_KILL_OK=0
t0=$(date +%s%N)
"$FERRY" pack --images "$WORK/remote.txt" --key "$WORK/k.key" --out "$WORK/pack-probe" \
  --insecure-registry "$SOURCE" >/dev/null 2>&1
PACK_MS=$(( ( $(date +%s%N) - t0 ) / 1000000 ))
for i in $(seq "$KILLS"); do
  out=$WORK/pack-kill-$i
  "$FERRY" pack --images "$WORK/remote.txt" --key "$WORK/k.key" --out "$out" \
    --insecure-registry "$SOURCE" >/dev/null 2>&1 &
  FP=$!
  sleep "$(python3 -c "print($(rand_ms 0 "$PACK_MS")/1000)")"
  kill -9 "$FP" 2>/dev/null || true
  if wait "$FP" 2>/dev/null; then
    finished=1 # the pack was done before the kill point: nothing to rerun
  else
    finished=0
  fi
  if { [ "$finished" = 1 ] || "$FERRY" pack --images "$WORK/remote.txt" --key "$WORK/k.key" \
        --out "$out" --insecure-registry "$SOURCE" >/dev/null 2>"$WORK/pack-rerun.err"; } \
     && "$FERRY" verify "$out" --trusted-key "$WORK/k.key.pub" >/dev/null 2>>"$WORK/pack-rerun.err"; then
    PACK_KILL_OK=$((PACK_KILL_OK + 1))
  else
    { echo "kill $i (finished before the kill: $finished):"; tail -5 "$WORK/pack-rerun.err"; } >>"$WORK/pack-failures.txt"
  fi
  rm -rf "$out"
done

echo "== $FLIPS single-bit flips in a bundle of $VOLUMES volumes"
read -r FLIP_FULL FLIP_VOL FLIP_PANIC FLIP_MISSED FLIP_PADDING < <(python3 - "$FERRY" "$WORK/bundle" "$WORK/k.key.pub" "$FLIPS" "$WORK/missed.txt" <<'PY'
import os, random, subprocess, sys
ferry, bundle, key, n, missed_path = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
import tarfile
vols = sorted(os.path.join(bundle, f) for f in os.listdir(bundle) if f.endswith(".tar"))
# Covered bytes: every member's header and content. Tar padding after a member's content and
# the end-of-archive blocks carry nothing (flips there are counted apart).
covered = []
for v in vols:
    with tarfile.open(v) as t:
        covered.append([(m.offset, m.offset_data + m.size) for m in t.getmembers()])
def is_covered(i, pos):
    return any(a <= pos < b for a, b in covered[i])
sizes = [os.path.getsize(v) for v in vols]
total = sum(sizes)
full = vol = panic = padding = 0
missed = []
rng = random.Random(14)
for _ in range(n):
    pos = rng.randrange(total)
    i = 0
    while pos >= sizes[i]:
        pos -= sizes[i]; i += 1
    bit = 1 << rng.randrange(8)
    with open(vols[i], "r+b") as f:
        f.seek(pos); b = f.read(1)[0]; f.seek(pos); f.write(bytes([b ^ bit]))
    try:
        a = subprocess.run([ferry, "verify", bundle, "--trusted-key", key], capture_output=True)
        v = subprocess.run([ferry, "verify", bundle, "--trusted-key", key, "--volume", vols[i]], capture_output=True)
    finally:
        with open(vols[i], "r+b") as f:
            f.seek(pos); f.write(bytes([b]))
    panic += (a.returncode == 101) + (v.returncode == 101)
    if not is_covered(i, pos):
        padding += 1
        continue
    full += a.returncode not in (0, 101)
    vol += v.returncode not in (0, 101)
    if a.returncode == 0 or v.returncode == 0:
        missed.append(f"{os.path.basename(vols[i])} byte {pos} bit {bit}: verify {a.returncode}, --volume {v.returncode}")
open(missed_path, "w").write("\n".join(missed) + "\n")
print(full, vol, panic, len(missed), padding)
PY
)

echo "== writing $OUT"
mix="15 % 503, 10 % 429, 5 % dropped connections, 2 % truncated bodies, 2 % lost answers"
faults() {
  python3 -c 'import json,sys; s=json.loads(sys.argv[1]); print("%s requests: %s× 503, %s× 429, %s dropped, %s truncated, %s lost" % tuple(s[k] for k in ("requests","503","429","dropped","truncated","lost")))' "$1"
}
TABLE=$(cat <<MD
Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($PROFILE build), with \`scripts/reliability.sh\`: $IMAGES fixture images, a bundle of $VOLUMES volumes; registries are Debian's docker-registry $(/usr/bin/docker-registry --version | awk '{print $3}'), the proxy is \`ferry-faults\` (fixtures/src/chaos.rs).

| check | result |
|---|---|
| one \`ferry push\`, default settings, through the mix ($mix) | exit $PUSH_EXIT, $PUSH_OK of $IMAGES images in ${PUSH_SECS}s; \`ferry check\` at the registry: $PUSH_CHECK; proxy: $(faults "$PUSH_STATS") |
| one \`ferry pack\`, default settings, through the mix in front of the source | exit $PACK_EXIT in ${PACK_SECS}s; \`ferry verify\`: $PACK_VERIFY; proxy: $(faults "$PACK_STATS") |
| SIGKILL at $KILLS random points of \`ferry push\`, then a rerun | $PUSH_KILL_OK of $KILLS reruns complete (\`ferry check\` clean); finished blobs committed again: $PUSH_REUPLOADS; tags pointing at an incomplete image: $PUSH_BAD_TAGS |
| SIGKILL at $KILLS random points of \`ferry pack\`, then a rerun | $PACK_KILL_OK of $KILLS reruns complete and verify |
| $FLIPS random single-bit flips anywhere in the volumes | $((FLIPS - FLIP_PADDING)) touched a covered byte (a tar header or member content): \`ferry verify\` detected $FLIP_FULL, \`ferry verify --volume\` (the damaged volume) $FLIP_VOL, missed by either: $FLIP_MISSED; $FLIP_PADDING fell in tar padding or the end-of-archive blocks, which carry nothing; panics (exit 101): $FLIP_PANIC |
MD
)
if [ -s "$WORK/missed.txt" ] && [ "$FLIP_MISSED" != 0 ]; then
  TABLE+=$'\n\nFlips that passed a check (file, byte, bit):\n\n```\n'"$(head -50 "$WORK/missed.txt")"$'\n```'
fi
if [ -s "$WORK/pack-failures.txt" ]; then
  TABLE+=$'\n\nPack reruns that failed:\n\n```\n'"$(head -40 "$WORK/pack-failures.txt")"$'\n```'
fi
mkdir -p "$(dirname "$OUT")"
if [ -f "$OUT" ] && grep -q '<!-- reliability:start -->' "$OUT"; then
  python3 - "$OUT" "$TABLE" <<'PY'
import sys
path, table = sys.argv[1], sys.argv[2]
s = open(path).read()
a, b = s.index("<!-- reliability:start -->"), s.index("<!-- reliability:end -->")
open(path, "w").write(s[:a] + "<!-- reliability:start -->\n" + table + "\n" + s[b:])
PY
else
  printf '# Reliability\n\n<!-- reliability:start -->\n%s\n<!-- reliability:end -->\n' "$TABLE" >"$OUT"
fi
echo "$TABLE"
ok=1
[ "$PUSH_EXIT" = 0 ] && [ "$PUSH_OK" = "$IMAGES" ] && [ "$PUSH_CHECK" = yes ] || ok=0
[ "$PACK_EXIT" = 0 ] && [ "$PACK_VERIFY" = yes ] || ok=0
[ "$PUSH_KILL_OK" = "$KILLS" ] && [ "$PUSH_REUPLOADS" = 0 ] && [ "$PUSH_BAD_TAGS" = 0 ] || ok=0
[ "$PACK_KILL_OK" = "$KILLS" ] && [ "$FLIP_PANIC" = 0 ] && [ "$FLIP_MISSED" = 0 ] || ok=0
if [ "$ok" = 1 ]; then echo "== all checks passed"; else echo "== SOME CHECKS FAILED (see the table)"; exit 1; fi
