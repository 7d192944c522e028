# Shared by the vmm tests: the test guest, a patterned disk, KVM checks.
. "$(dirname "$0")/../functions.sh"

GUEST_ELF=$BUILDDIR/tests/guest/vdk-test-guest.elf
GUEST_BZ=$BUILDDIR/tests/guest/vdk-test-guest.bzImage
[ -f "$GUEST_ELF" ] || skip "the test guest was not built ($GUEST_ELF)"

# KVM must be present and usable (kvm_pvm counts).
requires_kvm () {
  [ -c /dev/kvm ] || skip "/dev/kvm does not exist"
  [ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "/dev/kvm is not accessible"
}

# pattern_disk FILE SIZE_MIB: byte at offset o = ((o>>9)*31 + (o&511)) ^ 0xa5,
# what the guest's blk checks expect.
pattern_disk () {
  python3 - "$1" "$2" <<'PY'
import sys
size = int(sys.argv[2]) << 20
secs = [bytes((((b + i) & 0xff) ^ 0xa5) for i in range(512)) for b in range(256)]
with open(sys.argv[1], 'wb') as f:
    for s in range(size // 512):
        f.write(secs[(s * 31) & 0xff])
PY
}

# run_guest OUT KERNEL ARGS...: vdk run with a time limit; stdout (serial) in
# OUT, stderr in OUT.err, exit status in $rc.
run_guest () {
  local out=$1; shift
  rc=0
  timeout 60 "$VDK" run --memory 64M "$@" >"$out" 2>"$out.err" </dev/null || rc=$?
}

# expect_pass OUT NAME...: each check passed, and nothing failed.
expect_pass () {
  local out=$1; shift
  for n in "$@"; do
    grep -q "^PASS $n\b" "$out" || { cat "$out" "$out.err" >&2; fail "check $n did not pass"; }
  done
  grep -q '^VDKTEST DONE pass=[0-9]* fail=0$' "$out" || { cat "$out" "$out.err" >&2; fail "guest reported failures"; }
}
