#!/usr/bin/env bash
# After `make test`: fails unless every integration test that the suite declares actually ran
# and passed (none skipped, none missing). Reads ctest's JUnit report.
#   tools/check-test-counts.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build/cmake}
report=$build/ctest-junit.xml
[[ -f "$report" ]] || { echo "check-test-counts: error: no report at $report (run make test)" >&2; exit 1; }

mapfile -t declared < <(cd "$build" && ctest -N -L integration | sed -n 's/^ *Test *#[0-9]*: //p')
declare -A ran=()
while IFS= read -r name; do ran[$name]=1; done < <(
  grep -o '<testcase name="[^"]*"[^>]*status="run"' "$report" | sed 's/<testcase name="\([^"]*\)".*/\1/')

missing=()
for t in "${declared[@]}"; do
  [[ -n "${ran[$t]:-}" ]] || missing+=("$t")
done
echo "integration tests: ${#declared[@]} declared, $((${#declared[@]} - ${#missing[@]})) ran and passed"
if ((${#declared[@]} == 0)); then
  echo "check-test-counts: error: the suite declares no integration test" >&2
  exit 1
fi
if ((${#missing[@]} > 0)); then
  printf 'check-test-counts: error: declared but not run and passed: %s\n' "${missing[@]}" >&2
  exit 1
fi
passed=$(grep -c '<testcase [^>]*status="run"' "$report" || true)
failed=$(grep -c '<testcase [^>]*status="fail"' "$report" || true)
skipped=$(grep -c '<testcase [^>]*status="\(notrun\|disabled\)"' "$report" || true)
echo "tests: $passed passed, $failed failed, $skipped skipped"
