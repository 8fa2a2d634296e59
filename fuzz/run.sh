#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 600), one after another,
# growing fuzz/corpus/TARGET and printing each run's final statistics.
# cargo fuzz needs nightly features; RUSTC_BOOTSTRAP lets the stable
# toolchain provide them. Install once with: cargo install cargo-fuzz
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(request response stored_value key_file state_file backup_file audit_log)
for t in "${targets[@]}"; do
  echo "== $t: $seconds s"
  RUSTC_BOOTSTRAP=1 cargo fuzz run -O "$t" "corpus/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
    | grep -E "^(stat::|==|INFO: Running|Done|SUMMARY|ERROR|Test unit written)" || true
done
