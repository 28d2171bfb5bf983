#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each) over the
# corpus kept in fuzz/corpus, with libFuzzer through cargo-fuzz. Installs
# cargo-fuzz when missing. A crash fails the run and leaves its input in
# fuzz/artifacts.
#
# cargo-fuzz passes unstable compiler flags; RUSTC_BOOTSTRAP lets the stable
# toolchain accept them. The code under test is safe Rust, so the run looks
# for panics and does without AddressSanitizer (-s none).
#
# After a long run, keep only the inputs that add coverage before committing:
#   RUSTC_BOOTSTRAP=1 cargo fuzz cmin -s none -O TARGET fuzz/corpus/TARGET -- -max_len=4096
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --version 0.13.2 --locked
fi
export RUSTC_BOOTSTRAP=1
cargo fuzz build -s none -O
for target in $(cargo fuzz list); do
  mkdir -p "fuzz/corpus/$target"
  echo "fuzzing $target for ${seconds}s"
  log="$(mktemp)"
  if ! cargo fuzz run -s none -O "$target" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz target $target failed; the input is in fuzz/artifacts/$target" >&2
    exit 1
  fi
  grep -E "^(Done|stat::new_units_added|stat::peak_rss_mb)" "$log" || true
  rm -f "$log"
done
