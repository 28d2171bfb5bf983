#!/usr/bin/env bash
# The whole test suite on a fresh machine. Installs what it needs (moto's
# server, cfn-lint, the SAM CLI and cargo-lambda into .venv; connect-genesys's
# own environment; cargo-fuzz), then checks formatting and lints, lints the
# template, runs the local walk-through over every sample event, fuzzes each
# target for 60 s, and runs every test, checking that it prints no JSON line.
set -euo pipefail
cd "$(dirname "$0")"

PATH="$(scripts/venv.sh "$PWD/.venv" requirements-dev.txt):$PATH"
export PATH
export SAM_CLI_TELEMETRY=0

rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

cfn-lint template.yaml
AWS_DEFAULT_REGION=us-east-1 sam validate --lint --template template.yaml

./run-local.sh

scripts/fuzz.sh 60

tools/connect-genesys/run-tests.sh

# A passing run prints none of the JSON lines the library or a binary it
# starts writes: tests keep them, and show them only when they fail.
cargo test --workspace --all-targets --locked 2>&1 | tee target/test-output.txt
if leaked="$(grep -c '^{' target/test-output.txt)"; then
  echo "the test run printed $leaked JSON lines; a test is not keeping its output" >&2
  exit 1
fi
