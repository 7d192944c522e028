# Shared helpers for vdk's shell tests.  Source it first:
#   . "$(dirname "$0")/../functions.sh"
# Exit 77 = skipped (meson shows SKIP).  Every test runs in its own $TMP,
# removed at exit together with whatever cleanup_fn registered.
set -euo pipefail

: "${VDK:?VDK must point at the vdk binary (run through meson test)}"
export LC_ALL=C
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vdk-test.XXXXXX")
_cleanup_fns=()
cleanup_fn () { _cleanup_fns+=("$*"); }
_run_cleanup () {
  local rc=$?
  for ((i=${#_cleanup_fns[@]}-1; i>=0; i--)); do eval "${_cleanup_fns[$i]}" || true; done
  rm -rf "$TMP"
  exit $rc
}
trap _run_cleanup EXIT
cd "$TMP"

# requires CMD...: skip the test unless every command exists.
requires () {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || { echo "SKIP: $c is not installed"; exit 77; }
  done
}
requires_root () { [ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }; }
skip () { echo "SKIP: $*"; exit 77; }

fail () { echo "FAIL: $*" >&2; exit 1; }
# expect_eq ACTUAL EXPECTED [WHAT]
expect_eq () { [ "$1" = "$2" ] || fail "${3:-value}: expected '$2', got '$1'"; }
# expect_fail CMD...: must exit non-zero; stderr saved in $TMP/err
expect_fail () {
  if "$@" >"$TMP/out" 2>"$TMP/err"; then fail "expected failure: $*"; fi
  [ -s "$TMP/err" ] || fail "no error message from: $*"
}
# expect_rc N CMD...: exact exit status
expect_rc () {
  local want=$1; shift
  local rc=0
  "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
  [ "$rc" = "$want" ] || { cat "$TMP/err" >&2; fail "expected exit $want, got $rc: $*"; }
}
# expect_grep PATTERN FILE
expect_grep () { grep -q -- "$1" "$2" || { cat "$2" >&2; fail "'$1' not found in $2"; }; }
# One JSON value from a file: json_get FILE EXPR (python expression on 'j')
json_get () { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }
# Random data file: rand_file NAME SIZE_MIB
rand_file () { head -c "$(( $2 * 1048576 ))" /dev/urandom > "$1"; }
# qemu_check_after_kill IMG: qemu-img check into chk.txt, its exit status in rc.
# A killed process's io_uring is torn down by the kernel after wait returns,
# and the image file (with its OFD lock) lives until then: retry while
# qemu-img only reports the lock.
qemu_check_after_kill () {
  for _ in $(seq 1 50); do
    rc=0
    qemu-img check "$1" > chk.txt 2>&1 || rc=$?
    grep -q 'Failed to get shared "write" lock' chk.txt || return 0
    sleep 0.1
  done
}

# expect_no_corruption_after_kill IMG WHAT: qemu-img check of an image whose
# writer was killed finds no corruption (leaks, exit 3, are allowed).
expect_no_corruption_after_kill () {
  qemu_check_after_kill "$1"
  case $rc in
    0|3) ;;
    *) cat chk.txt; fail "corruption after $2: qemu-img check exit $rc" ;;
  esac
}
