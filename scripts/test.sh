#!/usr/bin/env bash
# Installs what the test suite needs (when missing) and runs all of it:
# cargo fmt --check, cargo clippy -D warnings, cargo deny, and every test against real
# registries. The fuzz targets (src/fuzz/, proptest) run bounded with the tests; run them longer
# with FERRY_FUZZ_CASES=100000 cargo test --release --lib fuzz (docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
# A run that rewrites golden files or test vectors checks nothing: refuse it here (the tests
# themselves refuse it under CI, and fail after rewriting anything).
for var in FERRY_UPDATE_GOLDEN FERRY_UPDATE_VECTORS; do
  if [ -n "${!var:-}" ]; then
    echo "error: $var is set; unset it to run the tests (it rewrites expected output)" >&2
    exit 2
  fi
done
# shellcheck source=scripts/lib/deps.sh
source scripts/lib/deps.sh
ensure_deps

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo deny (licenses, bans, sources; offline: advisories need a download, see deny.toml)"
if ! cargo deny --version >/dev/null 2>&1; then
  echo "== installing cargo-deny"
  cargo install --locked cargo-deny
fi
# A fresh machine has not downloaded the crates of every platform cargo metadata lists.
cargo fetch --locked >/dev/null
cargo deny --offline check licenses bans sources
echo "== tests"
if command -v cargo-nextest >/dev/null 2>&1; then
  # (no doc tests in the crate: nextest runs everything there is, and its summary closes the log)
  cargo nextest run --workspace --locked --no-fail-fast --test-threads "${FERRY_TEST_THREADS:-4}"
else
  cargo test --workspace --locked --no-fail-fast
fi
