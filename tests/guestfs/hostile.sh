#!/bin/bash
# Hostile images: corrupt superblocks, extents past the end or looping,
# directory cycles, bad directory entries, bad partition chains, bad LVM
# metadata.  Each gives a clear error naming the device, never a crash.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/mkguest.sh"
requires mkfs.ext4 debugfs sfdisk python3
MKVG=$(dirname "$0")/mkvg.py

# no crash: exit status 0 or 1 only (ASan/UBSan abort -> 134, segv -> 139)
no_crash () {
  local rc=0
  "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
  [ $rc -le 1 ] || { cat "$TMP/err" >&2; fail "crashed (exit $rc): $*"; }
  return 0
}
# patch FILE OFFSET FORMAT VALUE (python struct format, little-endian)
patch () { python3 -c "import struct,sys; f=open(sys.argv[1],'r+b'); f.seek(int(sys.argv[2])); f.write(struct.pack('<'+sys.argv[3], int(sys.argv[4], 0)))" "$@"; }

mkdir -p src/a/b src/d
head -c 20000 /dev/urandom > src/file
echo hello > src/d/hello
mkfs.ext4 -q -F -b 4096 -O ^metadata_csum -d src good.img 8M >/dev/null

# ---- superblock
cp good.img sb1.img; patch sb1.img $((1024 + 24)) I 30
expect_fail $VDK ls -a sb1.img /
expect_grep '/dev/sda: ext4: corrupt superblock: block size' err
expect_grep '(/dev/sda is sb1.img)' err
$VDK filesystems -a sb1.img > out 2> err || fail "filesystems must still list a broken fs"
expect_eq "$(cat out)" "/dev/sda" "broken fs listed"
expect_grep 'corrupt superblock' err
cp good.img sb2.img; patch sb2.img $((1024 + 40)) I 0
expect_fail $VDK ls -a sb2.img /
expect_grep 'corrupt superblock' err
cp good.img sb3.img; patch sb3.img $((1024 + 4)) I 0x7fffffff
expect_fail $VDK ls -a sb3.img /
expect_grep 'larger than the device' err
head -c $((4 * MiB)) good.img > short.img
expect_fail $VDK ls -a short.img /
expect_grep 'larger than the device' err
cp good.img sb4.img; patch sb4.img $((1024 + 88)) H 100
expect_fail $VDK ls -a sb4.img /
expect_grep 'corrupt superblock' err

# metadata_csum: a damaged superblock fails its checksum
mkfs.ext4 -q -F -O metadata_csum -d src csum.img 8M >/dev/null
$VDK ls -a csum.img / > /dev/null || fail "metadata_csum image"
printf 'Q' | dd of=csum.img bs=1 seek=$((1024 + 120)) conv=notrunc status=none
expect_fail $VDK ls -a csum.img /
expect_grep '/dev/sda: ext4: superblock checksum mismatch' err

# ---- extent pointing past the end of the filesystem
cp good.img ext1.img
debugfs -w -R 'sif /file block[5] 0x7ffffff0' ext1.img >/dev/null 2>&1
expect_fail $VDK cat -a ext1.img /file
expect_grep '/dev/sda: ext4: inode .*: extent points past the end' err
# extent tree deeper than allowed
cp good.img ext2.img
debugfs -w -R 'sif /file block[1] 0x00090004' ext2.img >/dev/null 2>&1
expect_fail $VDK cat -a ext2.img /file
expect_grep 'extent tree depth 9 is invalid' err
# an index block that points at itself
cp good.img ext3.img
blk=$(debugfs -R 'bmap /file 0' ext3.img 2>/dev/null)
python3 - ext3.img "$blk" <<'PY'
import struct, sys
f = open(sys.argv[1], "r+b"); blk = int(sys.argv[2])
f.seek(blk * 4096)
f.write(struct.pack("<HHHHI", 0xF30A, 1, 340, 1, 0) + struct.pack("<IIHH", 0, blk, 0, 0))
PY
debugfs -w -f - ext3.img >/dev/null 2>&1 <<EOF2
sif /file block[1] 0x00010004
sif /file block[3] 0
sif /file block[4] $blk
sif /file block[5] 0
EOF2
expect_fail $VDK cat -a ext3.img /file
expect_grep 'is invalid (loop or corruption)' err
# bad extent magic
cp good.img ext4.img
debugfs -w -R 'sif /file block[0] 0x00011234' ext4.img >/dev/null 2>&1
expect_fail $VDK cat -a ext4.img /file
expect_grep 'bad extent header magic' err

# ---- directory cycle: /a/b/loop is a hard link to /a
cp good.img cyc.img
debugfs -w -R 'link /a /a/b/loop' cyc.img >/dev/null 2>&1
expect_rc 1 $VDK ls -R -a cyc.img /
expect_grep 'directory cycle' err
expect_grep '^/d/hello$' out
expect_grep '^/a/b/loop$' out
# walking through the cycle by name is finite
$VDK ls -a cyc.img /a/b/loop/b/loop/b > out; expect_eq "$(cat out)" loop "walk through cycle"

# a directory hard-linked twice (a DAG, not a cycle) is listed once
cp good.img dag.img
debugfs -w -R 'link /d /a/d2' dag.img >/dev/null 2>&1
expect_rc 1 $VDK ls -R -a dag.img /
expect_grep 'was already listed (hard-linked directory)' err
expect_grep '^/a/d2/hello$' out

# ---- corrupt directory entries
cp good.img dir1.img
dblk=$(debugfs -R 'bmap /d 0' dir1.img 2>/dev/null)
patch dir1.img $((dblk * 4096 + 4)) H 3
expect_fail $VDK ls -a dir1.img /d
expect_grep 'corrupt entry at offset 0' err
cp good.img dir2.img
# the third entry of /d is "hello": give it an inode number out of range
patch dir2.img $((dblk * 4096 + 24)) I 0x7fffffff
expect_fail $VDK cat -a dir2.img /d/hello
expect_grep 'inode number 2147483647 is out of range' err

# ---- random corruption: many flips, never a crash
for i in $(seq 1 25); do
  cp good.img fz.img
  python3 - fz.img $i <<'PY'
import random, sys
r = random.Random(int(sys.argv[2]))
f = open(sys.argv[1], "r+b")
for _ in range(40):
    off = r.choice([1024 + r.randrange(256), 4096 + r.randrange(4096), r.randrange(64 * 4096)])
    f.seek(off); f.write(bytes([r.randrange(256)]))
PY
  no_crash $VDK ls -lR -a fz.img /
  no_crash $VDK cat -a fz.img /file
  no_crash $VDK inspect -a fz.img
done

# ---- partition tables
truncate -s 32M mbr.img
sfdisk -q mbr.img <<'SF'
label: dos
start=2048, size=8192, type=83
start=10240, size=40960, type=5
start=12288, size=8192, type=83
start=22528, size=8192, type=83
SF
# make the second EBR point back at itself
python3 - mbr.img <<'PY'
import struct, sys
f = open(sys.argv[1], "r+b")
# walk the chain: EBR1 at sector 10240; its entry 2 points at EBR2 (relative to 10240)
f.seek(10240 * 512 + 462); e = f.read(16)
rel = struct.unpack("<I", e[8:12])[0]
ebr2 = (10240 + rel) * 512
f.seek(ebr2 + 462); f.write(struct.pack("<B3sB3sII", 0, b"\0\0\0", 5, b"\0\0\0", rel, 2048))
PY
$VDK filesystems -a mbr.img --all > out 2> err
expect_grep 'chain goes backwards' err
expect_grep '^/dev/sda5$' out
expect_grep '^/dev/sda6$' out
# a partition past the end of the disk
truncate -s 8M small.img
printf 'label: dos\nstart=2048, size=4096, type=83\n' | sfdisk -q small.img
patch small.img $((446 + 12)) I 0x7fffffff
$VDK filesystems -a small.img --all > out 2> err
expect_grep 'beyond the end of the disk' err
# garbage and tiny images
head -c 1M /dev/urandom > rnd.img
$VDK filesystems -a rnd.img > out
expect_eq "$(cat out)" "" "random disk: no filesystem"
$VDK filesystems -a rnd.img --all --long > out
expect_grep '^/dev/sda  *filesystem  *unknown' out
expect_grep '^/dev/sda  *device ' out
head -c 100 /dev/urandom > tiny.img
$VDK filesystems -a tiny.img --all --output=json > out
expect_eq "$(json_get out '[(r["type"], r.get("vfs-type")) for r in j]')" "[('filesystem', 'unknown'), ('device', None)]" "tiny disk"
expect_fail $VDK inspect -a rnd.img
expect_grep 'no operating system' err

# ---- LVM: bad text checksum, LV beyond its PV, unparsable text
truncate -s 16M pv.img
python3 "$MKVG" vgx 1 --pv pv.img:0:$((16 * MiB)) --lv lv:0:0:4
$VDK filesystems -a pv.img --all > out; expect_grep '^/dev/vgx/lv$' out
# metadata text wrapped around the end of the circular area
truncate -s 16M pvw.img
python3 "$MKVG" vgw 1 --wrap --pv pvw.img:0:$((16 * MiB)) --lv wrapped:0:2:3
$VDK filesystems -a pvw.img --all --output=json > out.json
expect_eq "$(json_get out.json '[r["size"] for r in j if r["name"] == "/dev/vgw/wrapped" and r["type"] == "lv"]')" "[3145728]" "wrapped mda"
cp pv.img pv1.img; printf 'X' | dd of=pv1.img bs=1 seek=$((4096 + 520)) conv=notrunc status=none
$VDK filesystems -a pv1.img --all > out 2> err
expect_grep 'metadata text checksum mismatch' err
python3 "$MKVG" vgx 1 --pv pv.img:0:$((16 * MiB)) --lv lv:0:10:50
$VDK filesystems -a pv.img --all > out 2> err
expect_grep 'beyond the end of pv0' err
exit 0
