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

# 4096-byte logical sectors (qemu 7.2 cannot open those): round trip.
for o in logical_sector_size=4096 logical_sector_size=4096,subformat=fixed,block_size=1M; do
  "$VDK" convert -O vhdx -o "$o" src.raw v4.vhdx
  "$VDK" convert -n -O vhdx src2.raw v4.vhdx
  "$VDK" convert -O raw v4.vhdx back.raw
  same_raw back.raw src2.raw
done
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
expect_fail "$VDK" create -q -f vhdx -b src.raw -F raw x.vhdx
expect_grep "must be a VHDX image" "$TMP/err"
echo OK
