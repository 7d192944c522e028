#!/bin/bash
# Image locking interoperates with qemu's: an image qemu-nbd writes is refused
# to vdk (unless -U), and the other way round (tests/unit/test-io.c checks
# vdk against itself).
. "$(dirname "$0")/../functions.sh"
requires qemu-nbd qemu-img

qemu-img create -q -f raw a.raw 16M
qemu-nbd -f raw --persistent --socket="$TMP/nbd.sock" --pid-file="$TMP/nbd.pid" a.raw &
cleanup_fn 'kill $(cat "$TMP/nbd.pid") 2>/dev/null; wait'
for i in $(seq 50); do [ -s "$TMP/nbd.pid" ] && break; sleep 0.1; done
[ -s "$TMP/nbd.pid" ] || skip "qemu-nbd did not start"

expect_rc 1 "$VDK" info a.raw
expect_grep 'a.raw: Failed to get shared "write" lock' "$TMP/err"
expect_rc 0 "$VDK" info -U a.raw
expect_grep "virtual size: 16 MiB" "$TMP/out"
expect_rc 1 "$VDK" resize a.raw +1M
expect_grep 'Failed to get' "$TMP/err"
expect_rc 1 "$VDK" convert -n a.raw a.raw
expect_eq "$(stat -c %s a.raw)" 16777216 "refused resize changed nothing"
kill "$(cat "$TMP/nbd.pid")"; wait || true
expect_rc 0 "$VDK" resize a.raw +1M
echo OK
