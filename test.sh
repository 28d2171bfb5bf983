#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need into
# .venv (moto's DynamoDB server, cfn-lint), then format, lint, tests.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
export PATH="$PWD/.venv/bin:$PATH"

rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
