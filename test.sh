#!/usr/bin/env bash
# The whole test suite on a fresh machine. Installs what it needs into .venv
# (moto's DynamoDB server, cfn-lint, the SAM CLI, cargo-lambda) and cargo-fuzz,
# then checks formatting and lints, lints the template, runs the local
# walk-through over every sample event, fuzzes each target for 60 s, and runs
# every Rust test.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check \
  -r requirements-dev.txt
export PATH="$PWD/.venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0

rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

cfn-lint template.yaml
AWS_DEFAULT_REGION=us-east-1 sam validate --lint --template template.yaml

./run-local.sh

scripts/fuzz.sh 60

cargo test --workspace --all-targets --locked
