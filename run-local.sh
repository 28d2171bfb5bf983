#!/usr/bin/env bash
# Runs the function locally over every sample event, against a local DynamoDB
# (moto) on 127.0.0.1, and prints each outcome; then relays the recorded
# deliveries to a local EventBridge bus and prints what arrived. Installs what
# it needs into .venv on first use. No Docker needed.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements-local.txt
export PATH="$PWD/.venv/bin:$PATH"

cargo build --bin genesys-sign --bin genesys-webhook --bin genesys-relay
exec .venv/bin/python scripts/run_local.py
