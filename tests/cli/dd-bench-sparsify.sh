#!/bin/bash
# dd, bench and sparsify on raw images.
. "$(dirname "$0")/../functions.sh"
requires qemu-img

truncate -s 32M src.raw
head -c 8M /dev/urandom | dd of=src.raw bs=1M seek=4 conv=notrunc status=none

# dd: count blocks after skip, like dd(1)
"$VDK" dd if=src.raw of=part.raw bs=1M skip=3 count=6
expect_eq "$(stat -c %s part.raw)" $((6 << 20))
dd if=src.raw bs=1M skip=3 count=6 status=none | cmp - part.raw || fail "dd content"
"$VDK" dd if=src.raw of=all.raw bs=64k
cmp src.raw all.raw || fail "dd without count"
"$VDK" dd -O raw if=src.raw of=tail.raw skip=65535
expect_eq "$(stat -c %s tail.raw)" $(( (32 << 20) - 65535 * 512 ))
# skip past the end: a message and an empty output, as qemu-img (and dd)
"$VDK" dd if=src.raw of=x.raw skip=99999999 2> skip.err
expect_grep "^vdk: src.raw: cannot skip to specified offset$" skip.err
expect_eq "$(stat -c %s x.raw)" 0 "size after a skip past the end"
expect_rc 1 "$VDK" dd if=src.raw
expect_grep "Must specify both" "$TMP/err"
expect_rc 1 "$VDK" dd if=src.raw of=y.raw bogus=1
expect_rc 1 "$VDK" dd if=src.raw of=y.raw bs=0

# bench: output lines like qemu-img bench; writes really write the pattern
"$VDK" bench -c 1000 -d 8 src.raw > b.txt
expect_grep "^Sending 1000 read requests, 4096 bytes each, 8 in parallel (starting at offset 0, step size 4096)$" b.txt
expect_grep "^Run completed in [0-9]*\.[0-9][0-9][0-9] seconds.$" b.txt
cp src.raw w.raw
"$VDK" bench -w -c 16 -d 4 -s 64k --pattern=0x5a w.raw >/dev/null
head -c 1M w.raw | tr -d '\132' | wc -c | grep -qx 0 || fail "bench -w pattern"
"$VDK" bench -w -i threads -c 200 -d 4 --random w.raw > t.txt
expect_grep "Offsets are random" t.txt
"$VDK" bench -c 100 -d 2 -o 1M -S 8k src.raw >/dev/null
expect_rc 1 "$VDK" bench -d 0 src.raw
expect_rc 1 "$VDK" bench -s 64M -o 31M src.raw
expect_grep "too small" "$TMP/err"
expect_rc 1 "$VDK" bench -i native src.raw

# sparsify in place: zero blocks become holes, content unchanged
cp src.raw sp.raw
dd if=/dev/zero of=sp.raw bs=1M seek=6 count=2 conv=notrunc status=none
cp sp.raw sp.orig
before=$(stat -c %b sp.raw)
"$VDK" sparsify --in-place sp.raw > s.txt
expect_grep "^Released 2097152 bytes of zero blocks.$" s.txt
after=$(stat -c %b sp.raw)
expect_eq $(( (before - after) * 512 )) 2097152 "released blocks"
cmp sp.raw sp.orig || fail "sparsify changed the content"
# into a copy
"$VDK" sparsify sp.orig copy.raw
cmp copy.raw sp.orig || fail "sparsify copy content"
[ $(( $(stat -c %b copy.raw) * 512 )) -le $((7 << 20)) ] || fail "sparsify copy not sparse"
expect_rc 1 "$VDK" sparsify --in-place sp.raw extra.raw
echo OK
