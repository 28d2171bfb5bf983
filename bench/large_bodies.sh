#!/usr/bin/env bash
# Time, memory and cost of a 2 KiB, a 1 MiB and a 4 MiB delivery, the large
# ones through the body bucket. See BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

bin="$(scripts/venv.sh "$PWD/.venv" requirements-local.txt)"
cargo build --release --bin genesys-webhook
exec "$bin/python" bench/large_bodies.py
