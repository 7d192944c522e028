#!/bin/bash
# compare: exit codes 0/1/2 and messages as qemu-img compare.
. "$(dirname "$0")/../functions.sh"
requires qemu-img

truncate -s 8M a.raw
head -c 100000 /dev/urandom | dd of=a.raw bs=4k seek=100 conv=notrunc status=none
cp --sparse=always a.raw b.raw
expect_rc 0 "$VDK" compare a.raw b.raw
expect_grep "^Images are identical.$" "$TMP/out"
printf 'X' | dd of=b.raw bs=1 seek=$((100 * 4096 + 5000)) conv=notrunc status=none
expect_rc 1 "$VDK" compare a.raw b.raw
q=$(qemu-img compare a.raw b.raw || true)
expect_eq "$(cat "$TMP/out")" "$q" "mismatch line equals qemu-img's"
# a difference inside a hole of one image
cp --sparse=always a.raw c.raw
printf 'Y' | dd of=c.raw bs=1 seek=$((6 << 20)) conv=notrunc status=none
expect_rc 1 "$VDK" compare a.raw c.raw
expect_eq "$(cat "$TMP/out")" "$(qemu-img compare a.raw c.raw || true)"
# size mismatch: extra zeroes are fine unless strict
cp --sparse=always a.raw d.raw
truncate -s 9M d.raw
expect_rc 0 "$VDK" compare a.raw d.raw
expect_grep "Warning: Image size mismatch!" "$TMP/out"
expect_rc 1 "$VDK" compare -s a.raw d.raw
expect_grep "Strict mode: Image size mismatch!" "$TMP/out"
printf 'Z' | dd of=d.raw bs=1 seek=$((8 << 20)) conv=notrunc status=none
expect_rc 1 "$VDK" compare a.raw d.raw
expect_eq "$(tail -1 "$TMP/out")" "Content mismatch at offset 8388608!"
# -q prints nothing
expect_rc 1 "$VDK" compare -q a.raw b.raw
[ ! -s "$TMP/out" ] || fail "-q printed"
# errors: exit 2
expect_rc 2 "$VDK" compare a.raw missing.raw
expect_grep "missing.raw" "$TMP/err"
# usage errors: exit 1, as qemu-img
expect_rc 1 "$VDK" compare a.raw
expect_rc 1 "$VDK" compare -Z a.raw b.raw
echo OK
