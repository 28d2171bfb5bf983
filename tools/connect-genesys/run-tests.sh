#!/usr/bin/env bash
# Tests of connect-genesys: installs its test requirements into its own
# environment, tools/connect-genesys/.venv, when they changed, then runs
# pytest on tests/. The tests start and stop what they need themselves:
# moto's server and a local stand-in for Genesys Cloud, both on 127.0.0.1.
set -euo pipefail
tool="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$tool/../.." && pwd)"

bin="$("$root/scripts/venv.sh" "$tool/.venv" "$tool/requirements-test.txt")"
cd "$tool"
exec "$bin/python" -m pytest tests -q -p no:cacheprovider "$@"
