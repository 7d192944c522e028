#!/bin/bash
# Replay mutated disks through the in-process fuzz harness (partitions,
# LVM, ext4, inspection): no input may crash it (ASan/UBSan in CI).
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/mkguest.sh"
requires mkfs.ext4 sgdisk python3
FUZZ=${BUILDDIR:?}/tests/guestfs/fuzz-guestfs
[ -x "$FUZZ" ] || skip "fuzz-guestfs not built"

make_trees
rm -rf tree/root/usr/share/many tree/root/usr/share/random.bin
mkfs_ext4 boot.img 2 BOOT $BOOT_UUID tree/boot -b 1024 -O inline_data
mkfs_ext4 root.img 6 root $ROOT_UUID tree/root -b 1024
truncate -s 16M seed.img
sgdisk -o -n 1:2048:+2M -n 2:0:+10M -t 2:8e00 seed.img >/dev/null
put seed.img boot.img 1
python3 "$(dirname "$0")/mkvg.py" vgf 1 --pv seed.img:$((3 * MiB)):$((10 * MiB)) --lv root:0:0:6
put seed.img root.img 4

mkdir corpus
python3 - seed.img corpus <<'PY'
import random, sys
seed = open(sys.argv[1], "rb").read()
M = 1 << 20
# where the metadata is: GPT, ext4 superblock/descriptors/inode tables, LVM label and text
hot = [(0, 34 * 512), (M, M + 64 * 1024), (3 * M, 3 * M + 8192), (4 * M, 4 * M + 96 * 1024),
       (len(seed) - 33 * 512, len(seed))]
for i in range(120):
    r = random.Random(i)
    b = bytearray(seed)
    for _ in range(r.choice([1, 2, 4, 16, 64])):
        lo, hi = r.choice(hot)
        off = r.randrange(lo, hi)
        b[off] = r.choice([0, 0xff, r.randrange(256), b[off] ^ (1 << r.randrange(8))])
    if i % 10 == 0:
        b = b[: r.randrange(512, len(b))]     # truncated disks
    with open("%s/in%03d" % (sys.argv[2], i), "wb") as f:   # sparse: skip zero blocks
        for o in range(0, len(b), 4096):
            c = bytes(b[o:o + 4096])
            if c.count(0) != len(c):
                f.seek(o)
                f.write(c)
        f.truncate(len(b))
PY
# rpm databases: random damage in the b-tree pages
if python3 -c 'import sqlite3' 2>/dev/null; then
  python3 "$(dirname "$0")/mkrpmdb.py" rpmdb.sqlite 300
  python3 - rpmdb.sqlite corpus <<'PY'
import random, sys
seed = open(sys.argv[1], "rb").read()
for i in range(40):
    r = random.Random(1000 + i); b = bytearray(seed)
    for _ in range(r.choice([1, 4, 32])):
        b[r.randrange(16, len(b))] = r.randrange(256)
    open("%s/rpm%03d" % (sys.argv[2], i), "wb").write(b)
PY
  n_rpm=40
else
  n_rpm=0
fi
"$FUZZ" seed.img > out
expect_eq "$(cat out)" "1 inputs" "seed"
"$FUZZ" corpus/* > out || fail "the harness failed on the corpus"
expect_eq "$(cat out)" "$((120 + n_rpm)) inputs" "corpus"
exit 0
