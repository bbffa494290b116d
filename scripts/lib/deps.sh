# Shared by scripts/*.sh: install the Debian packages ferry's tests and demo use, when missing.
# `apt-get update` runs only when something is missing. A package that cannot be installed
# stops the script with a message naming it.

# The Go packages build fixtures/go/gzwriter, which writes gzip layers with Go's compress/gzip
# and klauspost/pgzip for the byte-exact regeneration tests (tests/regen_encoders.rs). A "tool"
# that is an absolute path is a file the package installs, checked for existence.
FERRY_DEBIAN_PACKAGES=(docker-registry skopeo minisign apache2-utils openssl golang-go
  golang-github-klauspost-compress-dev golang-github-klauspost-pgzip-dev)
declare -A FERRY_PACKAGE_TOOL=(
  [docker-registry]=/usr/bin/docker-registry
  [skopeo]=skopeo
  [minisign]=minisign
  [apache2-utils]=htpasswd
  [openssl]=openssl
  [golang-go]=go
  [golang-github-klauspost-compress-dev]=/usr/share/gocode/src/github.com/klauspost/compress/flate/deflate.go
  [golang-github-klauspost-pgzip-dev]=/usr/share/gocode/src/github.com/klauspost/pgzip/gzip.go
)

# Whether the tool (a command, or an absolute path to a file) a package provides is present.
have_tool() {
  case $1 in
    /*) [ -e "$1" ] ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

ensure_deps() {
  local missing=() pkg tool
  for pkg in "${FERRY_DEBIAN_PACKAGES[@]}"; do
    tool=${FERRY_PACKAGE_TOOL[$pkg]}
    have_tool "$tool" || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    echo "== installing missing packages: ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
      echo "error: missing ${missing[*]}; run as root or install them: apt-get install ${missing[*]}" >&2
      exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || { echo "error: apt-get update failed; cannot install ${missing[*]}" >&2; exit 1; }
    for pkg in "${missing[@]}"; do
      apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null \
        || { echo "error: could not install Debian package '$pkg' (needed by the tests)" >&2; exit 1; }
    done
  fi
  for pkg in "${FERRY_DEBIAN_PACKAGES[@]}"; do
    tool=${FERRY_PACKAGE_TOOL[$pkg]}
    have_tool "$tool" || { echo "error: '$tool' (package $pkg) is still missing after install" >&2; exit 1; }
  done
  command -v cargo >/dev/null 2>&1 || { echo "error: cargo not found: install a Rust toolchain" >&2; exit 1; }
}
