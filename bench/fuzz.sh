#!/usr/bin/env bash
# Fuzzes every cargo-fuzz target in fuzz/ (libFuzzer, AddressSanitizer, debug
# assertions and overflow checks on) for a fixed time each, one after the other,
# and prints a table: target | seconds | executions | exec/s | corpus size | result.
#
# Usage:   bench/fuzz.sh                      (from anywhere; ~10 minutes per target)
#          FUZZ_SECONDS=60 bench/fuzz.sh      (a quick pass)
#          bench/fuzz.sh jwt openapi          (only these targets)
#
# Knobs (environment variables, defaults in brackets):
#   FUZZ_SECONDS=600       libFuzzer -max_total_time per target
#   FUZZ_TARGET_DIR        where cargo builds the fuzz targets [$HOME/.cache/target-fuzz]
#   RESULTS_DIR            where the table is saved [bench/results]
#   SHARED_CORPUS          the CRS and benign corpora for the seeds [../shared/corpus]
#
# Every run uses -rss_limit_mb=2048 (a leak or blow-up past 2 GiB fails),
# -timeout=10 (one input taking over 10 s is a hang) and -detect_leaks=1
# (LeakSanitizer at exit). What it does, idempotently: installs cargo-fuzz
# (crates.io) and a nightly toolchain if missing, builds the seed corpora
# (fuzz/seed-corpus.sh: the corpus directories keep growing across runs, which
# is what libFuzzer wants), builds the targets, runs each, and saves the table to
# $RESULTS_DIR/fuzz-<date>-<time>.txt. A crash, hang, leak or OOM leaves its input
# in fuzz/artifacts/<target>/ and makes the script exit 1 after the last target;
# reproduce with `cd fuzz && cargo +nightly fuzz run <target> <artifact>`.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

seconds="${FUZZ_SECONDS:-600}"
target_dir="${FUZZ_TARGET_DIR:-$HOME/.cache/target-fuzz}"
results="${RESULTS_DIR:-$root/bench/results}"
mkdir -p "$results"

if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

bash fuzz/seed-corpus.sh
cd fuzz
cargo +nightly fuzz build --target-dir "$target_dir"

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
stamp="$(date -u +%Y-%m-%d-%H%M%S)"
out="$results/fuzz-$stamp.txt"
failed=0
{
  echo "# bench/fuzz.sh, $(date -u +'%Y-%m-%d %H:%M UTC'), FUZZ_SECONDS=$seconds"
  echo "# $(nproc) cores, load average at start:$(uptime | sed 's/.*load average://')"
  echo "# flags: -rss_limit_mb=2048 -timeout=10 -detect_leaks=1; ASan, debug assertions"
  echo
  printf '| %-14s | %7s | %12s | %8s | %11s | %s |\n' \
    target seconds executions exec/s "corpus size" result
  printf '|%s|%s|%s|%s|%s|%s|\n' ---------------- --------- -------------- \
    ---------- ------------- --------
} | tee "$out"

for t in "${targets[@]}"; do
  log="$logs/$t.log"
  start=$(date +%s)
  set +e
  cargo +nightly fuzz run --target-dir "$target_dir" "$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -detect_leaks=1 \
    -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  took=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if [ -z "$execs" ]; then
    # A run that stopped on a finding prints no final stats: its last status line.
    execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    rate=$(grep -oE 'exec/s: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  fi
  corpus=$(find "corpus/$t" -type f 2>/dev/null | wc -l)
  if [ "$rc" -eq 0 ]; then
    result="ok"
  else
    failed=1
    artifact=$(grep -oE 'artifacts/[^ ]+' "$log" | tail -1)
    if grep -q 'LeakSanitizer' "$log"; then kind="LEAK"
    elif grep -q 'libFuzzer: timeout' "$log"; then kind="HANG"
    elif grep -q 'out-of-memory' "$log"; then kind="OOM"
    else kind="CRASH"
    fi
    result="$kind ${artifact:-(see log)}"
    cp "$log" "$results/fuzz-$stamp-$t.log"
  fi
  printf '| %-14s | %7s | %12s | %8s | %11s | %s |\n' \
    "$t" "$took" "${execs:-?}" "${rate:-?}" "$corpus" "$result" | tee -a "$out"
done

echo
echo "saved to ${out#"$root"/}"
exit "$failed"
