#!/usr/bin/env bash
# Runs the function locally over every sample event, against a local DynamoDB
# (moto) on 127.0.0.1, and prints each outcome. Installs what it needs into
# .venv when its requirements changed. No Docker needed.
set -euo pipefail
cd "$(dirname "$0")"

bin="$(scripts/venv.sh "$PWD/.venv" requirements-local.txt)"
export PATH="$bin:$PATH"

cargo build -p genesys-webhook -p genesys-sign --bins
exec "$bin/python" scripts/run_local.py
