#!/usr/bin/env bash
# Runs every test: the C unit tests (cmocka, built with ASan + UBSan) and the
# Python tests (pytest, against the sanitized `biofeed` command and h5py).
# Prints one closing line "N passed, N failed, N skipped" and exits non-zero
# if anything failed.
set -uo pipefail

BUILD=${BUILD:-build}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
export BIOFEED=${BIOFEED:-$PWD/$BUILD/tests/biofeed}
export BIOFEED_DATA=${BIOFEED_DATA:-$PWD/$BUILD/data}

passed=0 failed=0 skipped=0
failed_bins=()
for t in "$BUILD"/tests/test_*; do
  [[ -x "$t" ]] || continue
  log=$(mktemp)
  "$t" >"$log" 2>&1
  rc=$?
  cat "$log"
  p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
  if [[ $rc -ne 0 ]]; then
    failed_bins+=("$(basename "$t") (exit $rc)")
    [[ -z "$f" ]] && failed=$((failed + 1))
  fi
  rm -f "$log"
done

# Multi-rank tests (mpirun -np 4); they print cmocka-style summary lines.
log=$(mktemp)
BUILD="$BUILD" tests/dist/run.sh >"$log" 2>&1
rc=$?
cat "$log"
p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
if [[ $rc -ne 0 ]]; then
  failed_bins+=("tests/dist/run.sh (exit $rc)")
  [[ $f -eq 0 ]] && failed=$((failed + 1))
fi
rm -f "$log"

# Through the venv's python, not its pytest script: the script's #! line
# names the path the venv was created at, which is another checkout's when
# build/ was copied, and that venv's biofeed module is another build's.
if [[ -x "$BUILD/venv/bin/pytest" ]]; then
  log=$(mktemp)
  "$BUILD/venv/bin/python3" -m pytest -q -rs tests/python 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  line=$(grep -E '^(=+ )?[0-9]+ (passed|failed|skipped|error)' "$log" | tail -1)
  for kind in passed failed skipped error errors; do
    n=$(grep -oE "[0-9]+ $kind\b" <<<"$line" | grep -oE '^[0-9]+' || true)
    case $kind in
      passed) passed=$((passed + ${n:-0})) ;;
      skipped) skipped=$((skipped + ${n:-0})) ;;
      *) failed=$((failed + ${n:-0})) ;;
    esac
  done
  if [[ $rc -ne 0 && $rc -ne 5 ]]; then failed_bins+=("pytest (exit $rc)"); fi
  rm -f "$log"
else
  echo "pytest not found in $BUILD/venv: run 'make venv'" >&2
  failed=$((failed + 1))
fi

if ((${#failed_bins[@]})); then
  echo "failing: ${failed_bins[*]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 && ${#failed_bins[@]} -eq 0 ]]
