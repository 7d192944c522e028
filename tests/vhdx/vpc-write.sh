#!/bin/bash
# vdk-created VHD (vpc) images: qemu-img sees the same size and contents;
# vdk writes into qemu-created images.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/lib.sh"

scattered src.raw 12
scattered src2.raw 12
dd if=/dev/urandom of=src2.raw bs=1M seek=3 count=1 conv=notrunc status=none

for o in subformat=dynamic subformat=fixed force_size=on subformat=fixed,force_size=on; do
  "$VDK" convert -O vpc -o "$o" src.raw v.vpc
  expect_eq "$(vsize -f vpc v.vpc)" "$(vdk_vsize -f vpc v.vpc)" "virtual size ($o)"
  qemu-img compare -q -f raw -F vpc src.raw v.vpc || fail "qemu-img compare ($o)"
  case $o in *force_size=on*) expect_eq "$(vsize -f vpc v.vpc)" $((12 << 20)) "force_size";; esac
  case $o in *fixed*) ;; *)
    # holes stay holes: far less than 12 MiB allocated
    [ "$(stat -c %s v.vpc)" -lt $((12 << 20)) ] || fail "dynamic image is not sparse ($o)";;
  esac
  # overwrite everything with other data (existing and new blocks)
  "$VDK" convert -n -O vpc src2.raw v.vpc
  qemu-img compare -q -f raw -F vpc src2.raw v.vpc || fail "rewrite ($o)"
done

# Growing (qemu cannot resize VHD; it checks the size and contents): any
# size for force_size images, whole CHS geometries for the others.
cp src.raw g.raw
truncate -s 30M g.raw
for o in force_size=on subformat=fixed,force_size=on; do
  "$VDK" convert -O vpc -o "$o" src.raw g.vpc
  "$VDK" resize -q -f vpc g.vpc 30M
  expect_eq "$(vsize -f vpc g.vpc)" $((30 << 20)) "size after resize ($o)"
  qemu-img compare -q -f raw -F vpc g.raw g.vpc || fail "contents after resize ($o)"
  "$VDK" convert -n -f raw -O vpc g.raw g.vpc
  qemu-img compare -q -f raw -F vpc g.raw g.vpc || fail "write after resize ($o)"
done
for sub in dynamic fixed; do
  "$VDK" convert -O vpc -o subformat=$sub src.raw c.vpc
  expect_fail "$VDK" resize -f vpc c.vpc 30M
  expect_grep "nearest size is 31473664 bytes" "$TMP/err"
  "$VDK" resize -q -f vpc c.vpc 31473664
  expect_eq "$(vsize -f vpc c.vpc)" 31473664 "CHS size after resize ($sub)"
  qemu-img compare -q -f raw -F vpc g.raw c.vpc || fail "contents after CHS resize ($sub)"
done
"$VDK" convert -O vpc -o force_size=on src.raw g2.vpc
expect_fail "$VDK" resize g2.vpc 3G
expect_grep "needs a larger BAT" "$TMP/err"
expect_fail "$VDK" resize --shrink -f vpc g.vpc 1M
expect_grep "shrinking VHD images is not supported" "$TMP/err"

# Writing into qemu-created images.
for sub in dynamic fixed; do
  qemu-img create -q -f vpc -o subformat=$sub q.vpc 12M
  "$VDK" convert -n -O vpc src.raw q.vpc
  qemu-img compare -q -f raw -F vpc src.raw q.vpc || fail "write into qemu $sub image"
  "$VDK" convert -n -O vpc src2.raw q.vpc
  qemu-img compare -q -f raw -F vpc src2.raw q.vpc || fail "rewrite of qemu $sub image"
done

# qemu writes into vdk-created images, vdk reads
for sub in dynamic fixed; do
  "$VDK" create -q -f vpc -o subformat=$sub qw.vpc 12M
  qemu-img convert -n -f raw -O vpc src.raw qw.vpc
  "$VDK" compare -q -f vpc qw.vpc src.raw || fail "vdk reads what qemu wrote ($sub)"
done

# Differencing VHDs (qemu cannot open them; checked against the raw sources).
"$VDK" convert -O vpc src.raw pb.vpc
"$VDK" create -q -f vpc -b pb.vpc dc.vpc
"$VDK" info dc.vpc > i.txt
expect_grep "backing file: pb.vpc" i.txt
expect_grep "backing file format: vpc" i.txt
expect_eq "$(vdk_vsize dc.vpc)" "$(vdk_vsize pb.vpc)" "size of a differencing VHD"
"$VDK" compare -q dc.vpc pb.vpc || fail "empty differencing VHD differs from its parent"
truncate -s 12M zz.raw
printf 'hello' | dd of=zz.raw bs=1 seek=5000000 conv=notrunc status=none
"$VDK" convert -n --target-is-zero -O vpc zz.raw dc.vpc
"$VDK" convert -O raw pb.vpc exp.raw
dd if=zz.raw of=exp.raw bs=4096 skip=$((5000000 / 4096)) seek=$((5000000 / 4096)) count=1 conv=notrunc status=none
"$VDK" convert -O raw dc.vpc got.raw
same_raw got.raw exp.raw
"$VDK" compare -q pb.vpc src.raw || fail "the parent was modified"
# a block with some sectors present (bitmap most significant bit first)
"$VDK" create -q -f vpc -b pb.vpc dp.vpc
python3 - dp.vpc <<'PY'
import os, struct, sys
img = sys.argv[1]
B = 2 << 20
size = os.path.getsize(img)
foot = open(img, "rb").read()[-512:]
blk = size - 512                      # the new block replaces the footer
bitmap = bytearray(512)
bitmap[0] = 0x80; bitmap[1] = 0x0F; bitmap[100:140] = b"\xff" * 40; bitmap[511] = 0x01
payload = os.urandom(B)
with open(img, "r+b") as f:
    f.seek(blk); f.write(bitmap); f.write(payload); f.write(foot)
    f.seek(1536 + 4); f.write(struct.pack(">I", blk // 512))   # block 1
PY
"$VDK" convert -O raw pb.vpc exp2.raw
python3 - dp.vpc exp2.raw <<'PY'
import sys
img = open(sys.argv[1], "rb").read()
exp = bytearray(open(sys.argv[2], "rb").read())
B = 2 << 20
blk = len(img) - 512 - B - 512
bitmap, payload = img[blk:blk + 512], img[blk + 512:blk + 512 + B]
for s in range(4096):
    if bitmap[s // 8] >> (7 - s % 8) & 1:
        exp[B + 512 * s:B + 512 * s + 512] = payload[512 * s:512 * s + 512]
open(sys.argv[2], "wb").write(exp)
PY
"$VDK" convert -O raw dp.vpc got.raw
same_raw got.raw exp2.raw
# writing into that block keeps the present sectors and the parent's others
truncate -s 12M zz2.raw
printf 'world' | dd of=zz2.raw bs=1 seek=$((2 * 1048576 + 70000)) conv=notrunc status=none
"$VDK" convert -n --target-is-zero -O vpc zz2.raw dp.vpc
dd if=zz2.raw of=exp2.raw bs=4096 skip=$(((2 * 1048576 + 70000) / 4096)) seek=$(((2 * 1048576 + 70000) / 4096)) count=1 conv=notrunc status=none
"$VDK" convert -O raw dp.vpc got.raw
same_raw got.raw exp2.raw
cp pb.vpc "pärent.vpc"
"$VDK" create -q -f vpc -b "pärent.vpc" u.vpc
"$VDK" info u.vpc > i.txt
expect_grep "backing file: pärent.vpc" i.txt
expect_fail "$VDK" create -q -f vpc -b src.raw -F raw x.vpc
expect_grep "must be a VHD" "$TMP/err"

"$VDK" create -f vpc -o help > h.txt
expect_grep "subformat=<str>" h.txt   # qemu-img's -o help layout
expect_grep "force_size=<bool (on/off)>" h.txt
expect_fail "$VDK" create -q -f vpc -o subformat=bogus x.vpc 1M
expect_grep "Parameter 'subformat' does not accept value" "$TMP/err"
echo OK
