#!/usr/bin/env bash
# Side-by-side measurement of this project's release binary against the usual
# Python and Node.js handlers, and against the floor (the same HTTP exchanges
# and nothing else). See BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

bin="$(scripts/venv.sh "$PWD/.venv" requirements-local.txt)"
(cd bench/node && npm install --no-audit --no-fund --no-package-lock --silent)
cargo build --release --bin genesys-webhook
cargo build --release --manifest-path bench/floor/Cargo.toml
exec "$bin/python" bench/compare.py
