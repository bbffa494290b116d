#!/usr/bin/env bash
# ferry end to end on this machine: installs what is missing, starts a source registry (plain
# HTTP) and a TLS + htpasswd target registry on loopback, loads the fixture images, then runs
# keygen → pack → verify → push → check and prints the mirror sets and where everything went.
# Everything lives in a temporary directory (kept with FERRY_DEMO_KEEP=1) and is cleaned up.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
ensure_deps

WORK=$(mktemp -d /tmp/ferry-demo.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if [ "${FERRY_DEMO_KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== building ferry (release)"
cargo build --release --locked --workspace -q
FERRY=$PWD/target/release/ferry
FIXTURES=$PWD/target/release/ferry-fixtures

start_registry() { # name port extra-yaml
  local name=$1 port=$2 extra=$3
  mkdir -p "$WORK/$name/storage"
  cat >"$WORK/$name/config.yml" <<YAML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $WORK/$name/storage}
  delete: {enabled: true}
validation:
  manifests:
    urls:
      allow: ['^https?://']
http:
  addr: 127.0.0.1:$port
$extra
YAML
  docker-registry serve "$WORK/$name/config.yml" >"$WORK/$name/log" 2>&1 &
  PIDS+=($!)
}

wait_up() { # url [curl args]
  local url=$1; shift
  for _ in $(seq 1 100); do
    if python3 - "$url" <<'PY' 2>/dev/null; then return 0; fi
import ssl, sys, urllib.request, urllib.error
ctx = ssl._create_unverified_context()
try:
    urllib.request.urlopen(sys.argv[1], context=ctx, timeout=1)
except urllib.error.HTTPError:
    pass
PY
    sleep 0.1
  done
  echo "registry at $url did not start" >&2; exit 1
}

echo "== starting registries"
SRC_PORT=$(free_port); DST_PORT=$(free_port)
SRC=127.0.0.1:$SRC_PORT; DST=127.0.0.1:$DST_PORT
start_registry source "$SRC_PORT" ""
mkdir -p "$WORK/target/certs"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=ferry demo CA" \
  -keyout "$WORK/target/certs/ca.key" -out "$WORK/target/certs/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$WORK/target/certs/server.key" -out "$WORK/target/certs/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$WORK/target/certs/san.ext"
openssl x509 -req -in "$WORK/target/certs/server.csr" -CA "$WORK/target/certs/ca.crt" \
  -CAkey "$WORK/target/certs/ca.key" -CAcreateserial -days 2 -extfile "$WORK/target/certs/san.ext" \
  -out "$WORK/target/certs/server.crt" 2>/dev/null
DEMO_PASS=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
htpasswd -Bbn admin "$DEMO_PASS" >"$WORK/target/htpasswd" 2>/dev/null
start_registry target "$DST_PORT" "  tls: {certificate: $WORK/target/certs/server.crt, key: $WORK/target/certs/server.key}
auth:
  htpasswd: {realm: ferry-demo, path: $WORK/target/htpasswd}"
wait_up "http://$SRC/v2/"
wait_up "https://$DST/v2/"
echo "   source registry  http://$SRC   (plain HTTP)"
echo "   target registry  https://$DST  (TLS, htpasswd user admin)"

echo "== loading fixture images into the source registry"
"$FIXTURES" --out "$WORK/fixtures" --no-large --load "$SRC" >"$WORK/fixtures.json"
python3 - "$WORK/fixtures.json" "$SRC" >"$WORK/images.txt" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); host = sys.argv[2]
for img in s["images"]:
    if img["slug"] == "tag-only":
        print(f'{host}/{img["repository"]}:{img["tag"]}')
    else:
        print(f'{host}/{img["repository"]}@{img["digest"]}')
print(f'docker-archive:{s["docker_archive"]}')
PY
sed 's/^/   /' "$WORK/images.txt"

# The target's credentials go into an auth file (mode 0600), never onto the command line.
AUTH="$WORK/auth.json"
python3 - "$AUTH" "$DST" "$DEMO_PASS" <<'PY'
import base64, json, os, sys
path, host, pw = sys.argv[1:]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    json.dump({"auths": {host: {"auth": base64.b64encode(f"admin:{pw}".encode()).decode()}}}, f)
PY

echo "== ferry keygen"
mkdir -p "$WORK/keys"
"$FERRY" keygen --out "$WORK/keys/ferry.key"
echo "== ferry pack"
"$FERRY" pack --images "$WORK/images.txt" --key "$WORK/keys/ferry.key" --out "$WORK/bundle" \
  --volume-size 64MiB --insecure-registry "$SRC"
echo "== ferry verify"
"$FERRY" verify "$WORK/bundle" --trusted-key "$WORK/keys/ferry.key.pub"
echo "== ferry inspect"
"$FERRY" inspect "$WORK/bundle"
echo "== ferry push"
"$FERRY" push "$WORK/bundle" --trusted-key "$WORK/keys/ferry.key.pub" --to "$DST" \
  --ca-file "$WORK/target/certs/ca.crt" --authfile "$AUTH" --mirrorsets-out "$WORK/mirrorsets"
echo "== ferry check"
"$FERRY" check "$WORK/bundle" --trusted-key "$WORK/keys/ferry.key.pub" --to "$DST" \
  --ca-file "$WORK/target/certs/ca.crt" --authfile "$AUTH"
echo "== ferry export (the same images as an OCI layout, for a site without a registry)"
"$FERRY" export "$WORK/bundle" --trusted-key "$WORK/keys/ferry.key.pub" --to "oci:$WORK/layout"
echo "== skopeo confirms one mirrored image independently"
FIRST=$(cat "$WORK"/mirrorsets/mapping*.txt | grep -v '^#' | head -n1 | cut -d= -f2)
mkdir -p "$WORK/skopeo-certs" && cp "$WORK/target/certs/ca.crt" "$WORK/skopeo-certs/ca.crt"
skopeo inspect --raw --cert-dir "$WORK/skopeo-certs" --authfile "$AUTH" "docker://$FIRST" | sha256sum | sed "s|^|   sha256 of $FIRST: |"
echo "== mirror sets"
for f in "$WORK"/mirrorsets/*; do echo "--- $f"; cat "$f"; done
cat <<EOT

Where things went:
  bundle volumes   $WORK/bundle/
  signing key      $WORK/keys/ferry.key (public: ferry.key.pub)
  mirror sets      $WORK/mirrorsets/
  OCI layout       $WORK/layout/  (skopeo reads it as oci:$WORK/layout:<upstream name>)
  target registry  https://$DST/v2/  (storage $WORK/target/storage)
(set FERRY_DEMO_KEEP=1 to keep $WORK after the demo)
EOT
