#!/usr/bin/env bash
# Sorts what a fuzz run (tests/fuzz/fuzz.mk) left in an artifacts directory:
# each file is replayed alone through its harness, and
#   - a replay that fails and matches a line of tests/fuzz/known_defects (a
#     reviewed defect of a third-party library, e.g. HDF5's global heap
#     reader looping on a corrupt heap) is listed and ignored;
#   - a replay that fails otherwise is a finding: its report is printed and
#     the script exits 1;
#   - a file that does not fail alone (the run's failure needed state left
#     by earlier inputs, typically inside a library) is listed and ignored.
# Findings stay in the directory for minimizing (-minimize_crash=1) and for
# tests/fuzz/regress/<target>/ once fixed.
#
# usage: triage.sh HARNESS ARTIFACT_DIR [libFuzzer options for the replay]
set -uo pipefail

bin=$1
dir=$2
shift 2
known=$(dirname "$0")/known_defects
mapfile -t defects < <(grep -v -e '^#' -e '^[[:space:]]*$' "$known")

# The known defect the report matches (every " && " part of its line), or "".
known_defect() {
  local report=$1 line part
  for line in "${defects[@]}"; do
    local all=1
    while IFS= read -r part; do
      grep -E -q -e "$part" <<<"$report" || { all=0; break; }
    done < <(sed 's/ && /\n/g' <<<"$line")
    if ((all)); then
      echo "$line"
      return
    fi
  done
}

findings=0 ignored=0
for f in "$dir"/*; do
  [[ -f $f ]] || continue
  name=$(basename "$f")
  report=$("$bin" "$@" "$f" 2>&1)
  if [[ $? -eq 0 ]]; then
    echo "triage: $name: passes when replayed alone (ignored)"
    ignored=$((ignored + 1))
    continue
  fi
  match=$(known_defect "$report")
  if [[ -n $match ]]; then
    echo "triage: $name: known third-party defect ($match), ignored"
    ignored=$((ignored + 1))
    continue
  fi
  findings=$((findings + 1))
  # The first few reports in full; a run usually finds one bug many times.
  if ((findings <= 3)); then
    echo "triage: $name: FINDING"
    grep -E 'ERROR|runtime error|SUMMARY|fuzz: |^ +#[0-9]+ ' <<<"$report" | grep -v -E 'fuzzer::|libc\.so|_start' | head -30
  else
    echo "triage: $name: FINDING: $(grep -E -m1 'ERROR|runtime error|fuzz: ' <<<"$report")"
  fi
done
echo "triage: $dir: $findings finding(s), $ignored ignored"
[[ $findings -eq 0 ]]
