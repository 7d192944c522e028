#!/bin/bash
# vdk-created VHDX images: qemu-img sees the same size, check passes, the
# contents compare equal; vdk writes into qemu-created images; differencing
# images (create -b, convert -B) read and write through their parent.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/lib.sh"

scattered src.raw 12
scattered src2.raw 12
dd if=/dev/urandom of=src2.raw bs=1M seek=3 count=1 conv=notrunc status=none

for o in subformat=dynamic subformat=fixed block_size=1M block_size=32M \
         subformat=fixed,block_size=2M block_state_zero=off \
         subformat=fixed,block_state_zero=off log_size=2M,block_size=4M; do
  "$VDK" convert -O vhdx -o "$o" src.raw v.vhdx
  expect_eq "$(vsize v.vhdx)" $((12 << 20)) "virtual size ($o)"
  qemu-img check -q v.vhdx || fail "qemu-img check ($o)"
  qemu-img compare -q src.raw v.vhdx || fail "qemu-img compare ($o)"
  "$VDK" convert -n -O vhdx src2.raw v.vhdx
  qemu-img check -q v.vhdx || fail "qemu-img check after rewrite ($o)"
  qemu-img compare -q src2.raw v.vhdx || fail "rewrite ($o)"
done
"$VDK" convert -O vhdx -o block_size=1M src.raw v.vhdx
[ "$(du -k v.vhdx | cut -f1)" -lt 9000 ] || fail "holes were not kept"

# Growing (qemu cannot resize VHDX; it checks and compares the result): the
# old last block's tail and the new blocks read as zeroes, fixed images stay
# fully allocated.
head -c 5000000 /dev/urandom > g.raw
truncate -s 5001216 g.raw
cp g.raw gx.raw
truncate -s $((5001216 + 7 * 1048576)) gx.raw
for o in block_size=1M subformat=fixed,block_size=2M subformat=fixed,block_state_zero=off; do
  "$VDK" convert -O vhdx -o "$o" g.raw gr.vhdx
  "$VDK" resize -q gr.vhdx +7M
  expect_eq "$(vsize gr.vhdx)" $((5001216 + 7 * 1048576)) "size after resize ($o)"
  qemu-img check -q gr.vhdx || fail "check after resize ($o)"
  qemu-img compare -q gx.raw gr.vhdx || fail "contents after resize ($o)"
  "$VDK" convert -n -O vhdx gx.raw gr.vhdx
  qemu-img compare -q gx.raw gr.vhdx || fail "write after resize ($o)"
done
expect_fail "$VDK" resize --shrink gr.vhdx 1M
expect_grep "shrinking VHDX images is not supported" "$TMP/err"

# Zeroing whole blocks turns them into ZERO blocks whose space is reused by
# the next write: the file does not grow.
truncate -s 12M zero.raw
"$VDK" convert -O vhdx -o block_size=1M src.raw zt.vhdx
before=$(stat -c %s zt.vhdx)
"$VDK" convert -n -O vhdx zero.raw zt.vhdx
qemu-img check -q zt.vhdx || fail "check after zeroing"
qemu-img compare -q zero.raw zt.vhdx || fail "zeroed image is not zero"
"$VDK" map --output=json zt.vhdx | grep -q '"data": *true' && fail "zeroed image still maps data"
"$VDK" convert -n -O vhdx src.raw zt.vhdx
qemu-img compare -q src.raw zt.vhdx || fail "rewrite after zeroing"
expect_eq "$(stat -c %s zt.vhdx)" "$before" "file size after zero + rewrite"

# Round trip raw -> vhdx -> vpc -> vhdx -> raw: same bytes, holes stay holes
"$VDK" convert -O vhdx -o block_size=1M src.raw rt1.vhdx
"$VDK" convert -O vpc rt1.vhdx rt2.vpc
"$VDK" convert -f vpc -O vhdx -o block_size=1M rt2.vpc rt3.vhdx
"$VDK" convert -O raw rt3.vhdx rt4.raw
qemu-img compare -q -f raw -F raw src.raw rt4.raw || fail "round trip changed the data"
for f in rt1.vhdx rt2.vpc rt3.vhdx rt4.raw; do
  [ "$(du -k "$f" | cut -f1)" -lt 9000 ] || fail "$f is not sparse"
done

# 4096-byte logical sectors (qemu 7.2 cannot open those): round trip.
for o in logical_sector_size=4096 logical_sector_size=4096,subformat=fixed,block_size=1M; do
  "$VDK" convert -O vhdx -o "$o" src.raw v4.vhdx
  "$VDK" convert -n -O vhdx src2.raw v4.vhdx
  "$VDK" convert -O raw v4.vhdx back.raw
  same_raw back.raw src2.raw
done
# sizes round up to whole sectors, as qemu does
"$VDK" create -q -f vhdx odd.vhdx 1000
expect_eq "$(vsize odd.vhdx)" 1024 "size of a 1000-byte image"
expect_fail "$VDK" create -q -f vhdx -o logical_sector_size=1024 x.vhdx 1M
expect_grep "512 or 4096" "$TMP/err"
expect_fail "$VDK" create -q -f vhdx -o block_size=3M x.vhdx 1M
expect_grep "block_size" "$TMP/err"

# Writing into qemu-created images.
for sub in dynamic fixed; do
  qemu-img create -q -f vhdx -o subformat=$sub q.vhdx 12M
  "$VDK" convert -n -O vhdx src.raw q.vhdx
  qemu-img check -q q.vhdx || fail "check of qemu $sub image after write"
  qemu-img compare -q src.raw q.vhdx || fail "write into qemu $sub image"
done

# qemu writes into vdk-created images (its log-based BAT updates), vdk reads
for o in block_size=1M subformat=fixed; do
  "$VDK" create -q -f vhdx -o "$o" qw.vhdx 12M
  qemu-img convert -n -O vhdx src.raw qw.vhdx
  "$VDK" compare -q qw.vhdx src.raw || fail "vdk reads what qemu wrote ($o)"
done

# Differencing images (qemu cannot open these; vdk is its own oracle here,
# against the raw sources).
"$VDK" convert -O vhdx -o block_size=1M src.raw base.vhdx
"$VDK" create -q -f vhdx -b base.vhdx d.vhdx
"$VDK" info d.vhdx > i.txt
expect_grep "backing file: base.vhdx" i.txt
expect_grep "backing file format: vhdx" i.txt
"$VDK" compare -q d.vhdx src.raw || fail "empty differencing image differs from its parent"
"$VDK" convert -n -O vhdx src2.raw d.vhdx
"$VDK" compare -q d.vhdx src2.raw || fail "differencing image after writes"
"$VDK" compare -q base.vhdx src.raw || fail "parent was modified"
# a small unaligned write copies the rest of its block from the parent
cp src.raw src3.raw
printf 'hello' | dd of=src3.raw bs=1 seek=$((5 * 1048576 + 1000)) conv=notrunc status=none
"$VDK" convert -O vhdx -B base.vhdx src3.raw d3.vhdx
"$VDK" compare -q d3.vhdx src3.raw || fail "convert -B"
# a write of a few bytes into a block not present in the child copies the
# rest of the block from the parent
truncate -s 12M zz.raw
printf 'hello' | dd of=zz.raw bs=1 seek=$((5 * 1048576 + 1000)) conv=notrunc status=none
"$VDK" create -q -f vhdx -b base.vhdx d4.vhdx
"$VDK" convert -n --target-is-zero -O vhdx zz.raw d4.vhdx
cp src.raw exp.raw
dd if=zz.raw of=exp.raw bs=4096 skip=1280 seek=1280 count=1 conv=notrunc status=none
"$VDK" convert -O raw d4.vhdx got.raw
same_raw got.raw exp.raw

# Partially present blocks (as Hyper-V writes them): block 2 of a child with
# 1 MiB blocks gets a payload block at 4 MiB and a sector bitmap at 5 MiB
# with some sectors marked present; the others come from the parent.
"$VDK" create -q -f vhdx -o block_size=1M -b base.vhdx pp.vhdx
python3 - pp.vhdx src.raw <<'PY'
import os, struct, sys
img, parent = sys.argv[1], sys.argv[2]
M = 1 << 20
payload = os.urandom(M)
bitmap = bytearray(M)
# chunk ratio 4096 (512-byte sectors, 1 MiB blocks): block 2's 2048 bits
# start at byte 2 * 256 of the chunk's bitmap
bits = bytearray(256)
bits[0] = 0x0F; bits[5] = 0xA5
for i in range(40, 70): bits[i] = 0xFF
bits[255] = 0x80
bitmap[512:768] = bits
with open(img, "r+b") as f:
    assert os.fstat(f.fileno()).st_size == 4 * M
    f.seek(4 * M); f.write(payload); f.write(bitmap)
    f.seek(2 * M + 2 * 8); f.write(struct.pack("<Q", (4 * M) | 7))
    f.seek(2 * M + 4096 * 8); f.write(struct.pack("<Q", (5 * M) | 6))
exp = bytearray(open(parent, "rb").read())
for s in range(2048):
    if bits[s // 8] >> (s % 8) & 1:
        exp[2 * M + 512 * s:2 * M + 512 * s + 512] = payload[512 * s:512 * s + 512]
open("pp-exp.raw", "wb").write(exp)
PY
"$VDK" convert -O raw pp.vhdx got.raw
same_raw got.raw pp-exp.raw
# a write into the partially present block makes it whole first
truncate -s 12M zz2.raw
printf 'world' | dd of=zz2.raw bs=1 seek=$((2 * 1048576 + 7000)) conv=notrunc status=none
"$VDK" convert -n --target-is-zero -O vhdx zz2.raw pp.vhdx
dd if=zz2.raw of=pp-exp.raw bs=4096 skip=513 seek=513 count=1 conv=notrunc status=none
"$VDK" convert -O raw pp.vhdx got.raw
same_raw got.raw pp-exp.raw

# non-ASCII parent names survive the UTF-16 parent locator
cp base.vhdx "bäse €.vhdx"
"$VDK" create -q -f vhdx -b "bäse €.vhdx" u.vhdx
"$VDK" info u.vhdx > i.txt
expect_grep "backing file: bäse €.vhdx" i.txt
"$VDK" compare -q u.vhdx src.raw || fail "child of a non-ASCII parent"
expect_fail "$VDK" create -q -f vhdx -b src.raw -F raw x.vhdx
expect_grep "must be a VHDX image" "$TMP/err"
echo OK
