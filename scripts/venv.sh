#!/usr/bin/env bash
# Creates a Python virtual environment and installs requirement files into
# it, only when they changed since that set was last installed there:
#   scripts/venv.sh DIR REQUIREMENTS...
# Prints DIR/bin when done. Safe to run from several processes at once: they
# take turns on DIR/.lock. Toolsets whose requirements conflict get their own
# DIR, so they never have to resolve together.
set -euo pipefail
dir="$1"
shift
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9

# The files named and every file they include with -r, in order.
requirement_files() {
  local f
  for f in "$@"; do
    echo "$f"
    local base
    base="$(dirname "$f")"
    sed -n 's/^-r[[:space:]]*//p' "$f" | while read -r inc; do
      requirement_files "$base/$inc"
    done
  done
}
stamp="$(requirement_files "$@" | xargs cat | sha256sum | cut -d' ' -f1)"
# One record per set of requirement files, so a smaller set installed into
# the same DIR does not undo the record of a larger one.
record="$dir/.installed-$(echo "$*" | sha256sum | cut -c1-12)"

if [ ! -x "$dir/bin/python" ]; then
  echo "setting up $(basename "$dir") (first run only): $*" >&2
  python3 -m venv "$dir"
fi
if [ "$(cat "$record" 2>/dev/null)" != "$stamp" ]; then
  echo "installing into $(basename "$dir"): $*" >&2
  args=()
  for f in "$@"; do args+=(-r "$f"); done
  "$dir/bin/pip" install --quiet --disable-pip-version-check "${args[@]}" >&2
  echo "$stamp" >"$record"
fi
echo "$dir/bin"
