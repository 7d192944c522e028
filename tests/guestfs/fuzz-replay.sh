#!/bin/bash
# Replay mutated disks through the in-process fuzz harness (partitions,
# LVM, ext4, inspection): no input may crash it (ASan/UBSan in CI).
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/mkguest.sh"
requires mkfs.ext4 sgdisk debugfs python3
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
# dirty ext4 journals (no journal checksums, so damage reaches the log
# parser): two transactions and a revoke, then damage in the journal's first
# blocks (superblock, descriptors, tags, revoke records, commits)
mkfs.ext4 -q -F -b 1024 -J size=1 jseed.img 4M
printf 'journal seed\n' | dd of=jd.bin bs=1024 conv=sync status=none
cat jd.bin jd.bin > jd2.bin
debugfs -w -f - jseed.img > /dev/null 2>&1 <<EOF
jo
jw -b 300,301 jd2.bin
jw -b 302 -r 300 jd.bin
jc
EOF
debugfs -R "blocks <8>" jseed.img 2>/dev/null > jblocks
python3 - jseed.img jblocks corpus <<'PY'
import random, sys
seed = open(sys.argv[1], "rb").read()
jb = [int(x) for x in open(sys.argv[2]).read().split()][:8]
for i in range(60):
    r = random.Random(2000 + i); b = bytearray(seed)
    for _ in range(r.choice([1, 2, 4, 8])):
        blk = r.choice(jb); off = blk * 1024 + r.choice([r.randrange(64), r.randrange(1024)])
        b[off] = r.choice([0, 0xff, r.randrange(256), b[off] ^ (1 << r.randrange(8))])
    open("%s/jnl%03d" % (sys.argv[3], i), "wb").write(b)
PY
"$FUZZ" jseed.img > out
expect_eq "$(cat out)" "1 inputs" "journal seed"
"$FUZZ" seed.img > out
expect_eq "$(cat out)" "1 inputs" "seed"
"$FUZZ" corpus/* > out || fail "the harness failed on the corpus"
expect_eq "$(cat out)" "$((180 + n_rpm)) inputs" "corpus"
exit 0
