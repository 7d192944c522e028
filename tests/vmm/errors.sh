#!/bin/bash
# Clear errors for what vdk run cannot boot; nothing is left running.
. "$(dirname "$0")/common.sh"
requires_kvm

# expect_err PATTERN ARGS...: vdk run fails (exit 1) with PATTERN on stderr.
expect_err () {
  local pat=$1; shift
  expect_rc 1 timeout 30 "$VDK" run "$@"
  grep -q -- "$pat" "$TMP/err" || { cat "$TMP/err" >&2; fail "'$pat' not in the error"; }
}

expect_err '--kernel is required' --memory 64M
expect_err 'nokernel: cannot open kernel' --kernel nokernel
head -c 8192 /dev/urandom > junk
expect_err 'junk: not a kernel vdk can boot' --kernel junk --memory 64M
expect_err 'ELF file is not an executable' --kernel "$(command -v bash)" --memory 64M
# a truncated ELF: program headers past the end
head -c 100 "$GUEST_ELF" > short.elf
expect_err 'short.elf: bad ELF program header table' --kernel short.elf --memory 64M
# a bzImage that is too old / not 64-bit
python3 - "$GUEST_BZ" <<'PY'
import sys, struct
b = bytearray(open(sys.argv[1], 'rb').read())
old = bytearray(b); struct.pack_into('<H', old, 0x206, 0x0204); open('old.bz', 'wb').write(old)
no64 = bytearray(b); struct.pack_into('<H', no64, 0x236, 0); open('no64.bz', 'wb').write(no64)
big = bytearray(b); struct.pack_into('<I', big, 0x260, 1 << 30); open('big.bz', 'wb').write(big)
PY
expect_err 'old.bz: boot protocol 2.04 is too old' --kernel old.bz --memory 64M
expect_err 'no64.bz: kernel has no 64-bit entry point' --kernel no64.bz --memory 64M
expect_err 'big.bz: the kernel needs 1024 MiB from 1 MiB' --kernel big.bz --memory 64M
expect_err 'memory size 1 MiB' --kernel "$GUEST_ELF" --memory 1M
expect_err 'memory size 524288 MiB' --kernel "$GUEST_ELF" --memory 512G
expect_err '--cpus: expecting a number' --kernel "$GUEST_ELF" --cpus 0
expect_err 'missing.img' --kernel "$GUEST_ELF" --memory 64M --disk missing.img
truncate -s 20M big.initrd
expect_err 'big.initrd: the initrd .* does not fit' --kernel "$GUEST_ELF" --memory 16M --initrd big.initrd
expect_err 'nothere: cannot open initrd' --kernel "$GUEST_ELF" --memory 64M --initrd nothere
long=$(head -c 5000 /dev/zero | tr '\0' a)
expect_err 'command line is' --kernel "$GUEST_BZ" --memory 64M --cmdline "$long"
# A bad cache mode in a disk spec.
truncate -s 1M d.img
expect_err 'cache mode' --kernel "$GUEST_ELF" --memory 64M --disk d.img,cache=bogus

# A guest that triple-faults: exit status 2 and a message.
rc=0
timeout 30 "$VDK" run --memory 64M --kernel "$GUEST_ELF" --no-rng --cmdline vdktest=crash \
  >crash.out 2>crash.err </dev/null || rc=$?
expect_eq "$rc" 2 "exit status after a triple fault"
expect_grep 'CRASHING' crash.out
expect_grep 'triple fault' crash.err

# No usable /dev/kvm (in a private mount namespace, where we can hide it).
if unshare -m sh -c 'mount -t tmpfs none /dev' 2>/dev/null; then
  expect_rc 1 unshare -m sh -c 'mount -t tmpfs none /dev && exec "$0" run --kernel "$1"' \
    "$VDK" "$GUEST_ELF"
  expect_grep '/dev/kvm does not exist' "$TMP/err"
  expect_rc 1 unshare -m sh -c 'mount --bind /dev/null /dev/kvm && exec "$0" run --kernel "$1"' \
    "$VDK" "$GUEST_ELF"
  expect_grep '/dev/kvm is not a KVM device' "$TMP/err"
else
  echo "unshare -m is not available: missing /dev/kvm not tested"
fi
