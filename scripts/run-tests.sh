#!/bin/bash
# Build vdk twice (normal, and ASan+UBSan) and run the whole test suite in
# both; ends with "N passed, N failed, N skipped".  This is what CI runs.
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-2}
rc=0

run_suite () {
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >/dev/null || return 1
  fi
  ninja -C "$dir" >/dev/null || { ninja -C "$dir"; return 1; }
  meson test -C "$dir" --print-errorlogs --num-processes "$jobs" \
    ${TIMEOUT_MULT:+--timeout-multiplier "$TIMEOUT_MULT"}
}

echo "== normal build =="
run_suite build || rc=1
echo "== ASan+UBSan build =="
TIMEOUT_MULT=3 run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false || rc=1

# A clang build for the libFuzzer harnesses (qcow2, vmdk, vhdx, vpc, xfs,
# vfat), each fuzzed for a short time from small valid seeds.
fuzz_results=$PWD/build-fuzz/fuzz-results.txt
if command -v clang >/dev/null; then
  echo "== libFuzzer (clang) =="
  if [ ! -f build-fuzz/build.ninja ]; then
    CC=clang meson setup build-fuzz >/dev/null || rc=1
  fi
  if ninja -C build-fuzz >/dev/null; then
    rm -f "$fuzz_results"
    tests/fuzz/run-fuzzers.sh build-fuzz "${FUZZ_SECONDS:-10}" "$fuzz_results" || rc=1
  else
    ninja -C build-fuzz; rc=1
  fi
fi

python3 - "$fuzz_results" build/meson-logs/testlog.json build-asan/meson-logs/testlog.json <<'PY' || rc=1
import json, os, sys
passed = failed = skipped = 0
fuzz = sys.argv[1]
if os.path.exists(fuzz):
    for line in open(fuzz):
        if line.startswith("PASS"):
            passed += 1
        elif line.strip():
            failed += 1
for path in sys.argv[2:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        failed += 1
        continue
    for line in lines:
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
PY
exit $rc
