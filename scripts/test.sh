#!/usr/bin/env bash
# The one test command (README): runs the whole test suite.
#
# Tests that need Redis or PostgreSQL read TIDEGATE_TEST_REDIS_URL / TIDEGATE_TEST_DATABASE_URL.
# When they are unset and the local services answer on their standard ports, this script points
# the tests at them (each test isolates itself in a random schema / key prefix and cleans up).
# Tests that need a real third-party peer (oidc-provider, standardwebhooks, SeaweedFS) install it
# into tests/fixtures/ themselves on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [ -z "${TIDEGATE_TEST_REDIS_URL:-}" ] && port_open 6379; then
  export TIDEGATE_TEST_REDIS_URL=redis://127.0.0.1:6379
fi
if [ -z "${TIDEGATE_TEST_DATABASE_URL:-}" ] && port_open 5432; then
  export TIDEGATE_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test
fi
echo "test services: redis=${TIDEGATE_TEST_REDIS_URL:-<unset: redis tests SKIP>} postgres=${TIDEGATE_TEST_DATABASE_URL:-<unset: postgres tests SKIP>}" >&2

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  echo "cargo-nextest not found; falling back to cargo test" >&2
  cargo test --workspace --no-fail-fast "$@"
fi
# Doc tests (nextest does not run them): the module docs' examples must compile and run.
cargo test --workspace --doc
