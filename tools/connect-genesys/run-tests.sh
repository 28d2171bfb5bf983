#!/usr/bin/env bash
# Tests of connect-genesys: installs its test requirements into the repo's
# .venv (created if missing), then runs pytest on tests/. The tests start and
# stop what they need themselves: moto's server and a local stand-in for
# Genesys Cloud, both on 127.0.0.1.
set -euo pipefail
tool="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$tool/../.." && pwd)"

if [ ! -x "$root/.venv/bin/python" ]; then
  python3 -m venv "$root/.venv"
fi
"$root/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$tool/requirements-test.txt"
cd "$tool"
exec "$root/.venv/bin/python" -m pytest tests -q -p no:cacheprovider "$@"
