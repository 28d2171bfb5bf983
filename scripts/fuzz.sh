#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each) with libFuzzer
# through cargo-fuzz. Installs cargo-fuzz when missing. A crash fails the run
# and leaves its input in fuzz/artifacts.
#
# Each target starts from its seeds in fuzz/seeds/TARGET (the envelope target
# also from every sample event in events/) and grows its corpus in
# fuzz/corpus/TARGET, which git ignores: a longer run keeps what earlier runs
# found. To regrow it from the seeds, delete fuzz/corpus and run longer:
#   rm -rf fuzz/corpus && scripts/fuzz.sh 600
# A seed worth keeping (a crash's input once fixed, say) goes in fuzz/seeds.
#
# cargo-fuzz passes unstable compiler flags; RUSTC_BOOTSTRAP lets the stable
# toolchain accept them. The code under test is safe Rust, so the run looks
# for panics and does without AddressSanitizer (-s none).
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
  cp -n fuzz/seeds/"$target"/* "fuzz/corpus/$target/" 2>/dev/null || true
  if [ "$target" = envelope ]; then
    cp -n events/*.json "fuzz/corpus/$target/"
  fi
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
