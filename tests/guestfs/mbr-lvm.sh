#!/bin/bash
# Two disks: MBR with a logical partition holding an LVM PV, and a second
# disk with another PV of the same VG.  The root LV spans both disks.
# Also: an ext2 data filesystem (indirect blocks) on a logical partition,
# and LUKS / btrfs / iso9660 / ntfs signatures on a third disk.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/mkguest.sh"
requires mkfs.ext4 mkfs.ext2 mkswap sfdisk python3
MKVG=$(dirname "$0")/mkvg.py

make_trees
# root on LVM: fstab names it by /dev/mapper, boot by LABEL
sed -i "s|^UUID=$ROOT_UUID|/dev/mapper/vg0-root|" tree/root/etc/fstab
echo '/dev/vg0/swap none swap sw 0 0' >> tree/root/etc/fstab
echo 'PARTUUID=12345678-06 /srv/data ext2 defaults 0 2' >> tree/root/etc/fstab
mkdir -p tree/root/srv/data
mkfs_ext4 boot.img 16 BOOT $BOOT_UUID tree/boot
mkfs_ext4 root.img 44 root $ROOT_UUID tree/root
make_swap swap.img 4
mkdir data
head -c $((3 * MiB + 12345)) /dev/urandom > data/big.bin     # needs double indirect blocks at 1 KiB
printf 'hello from ext2\n' > data/hello.txt
rm -f data.img
mkfs.ext2 -q -F -b 1024 -L data -d data data.img 16M >/dev/null

# disk A (96 MiB): p1 boot, p2 extended { p5 PV (32 MiB), p6 ext2 data (16 MiB) }
truncate -s 96M a.img
sfdisk -q a.img <<'SF'
label: dos
label-id: 0x12345678
start=2048, size=32768, type=83, bootable
start=34816, size=161792, type=5
start=36864, size=65536, type=8e
start=104448, size=32768, type=83
SF
# disk B (48 MiB): p1 PV
truncate -s 48M b.img
printf 'label: dos\nstart=2048, type=8e\n' | sfdisk -q b.img
put a.img boot.img 1
put a.img data.img 51

# VG vg0, 4 MiB extents: pv0 = a5 (7 PEs), pv1 = b1 (11 PEs)
# root: a5 PE 0-5 (24 MiB) + b1 PE 2-6 (20 MiB); swap: b1 PE 0
python3 "$MKVG" vg0 4 --pv a.img:$((18 * MiB)):$((32 * MiB)) --pv b.img:$((1 * MiB)):$((47 * MiB)) \
  --lv root:0:0:6,1:2:5 --lv swap:1:0:1
dd if=root.img of=a.img bs=1M skip=0 count=24 seek=$((18 + 1)) conv=notrunc status=none
dd if=root.img of=b.img bs=1M skip=24 count=20 seek=$((1 + 1 + 8)) conv=notrunc status=none
dd if=swap.img of=b.img bs=1M seek=$((1 + 1)) conv=notrunc status=none

$VDK filesystems -a a.img -a b.img --all --long > long 2> err
[ ! -s err ] || { cat err; fail "warnings on a clean guest"; }
$VDK filesystems -a a.img -a b.img --all --output=json > fs.json
python3 - fs.json <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
get = lambda n, t: [r for r in rows if r["name"] == n and r["type"] == t][0]
assert get("/dev/vg0/root", "filesystem")["vfs-type"] == "ext4"
assert get("/dev/vg0/root", "filesystem")["vfs-label"] == "root"
assert get("/dev/vg0/root", "lv")["size"] == 44 << 20
assert get("/dev/vg0/root", "lv")["parent"] == "/dev/vg0"
assert get("/dev/vg0/swap", "filesystem")["vfs-type"] == "swap"
assert get("/dev/vg0", "vg")["parent"] == "/dev/sda5,/dev/sdb1", get("/dev/vg0", "vg")
assert get("/dev/vg0", "vg")["size"] == (7 + 11) * 4 << 20
assert get("/dev/sda5", "pv")["size"] == 7 * 4 << 20     # LVM's pv_size: its extents
assert get("/dev/sdb1", "pv")
assert get("/dev/sda6", "filesystem")["vfs-type"] == "ext2"
assert get("/dev/sda6", "partition")["mbr-id"] == "83"
assert get("/dev/sda2", "partition")["mbr-id"] == "05"
assert get("/dev/sda5", "partition")["mbr-id"] == "8e"
assert get("/dev/sda5", "partition")["size"] == 32 << 20
assert get("/dev/sda5", "partition")["partuuid"] == "12345678-05"
assert get("/dev/sda1", "partition")["partuuid"] == "12345678-01"
assert get("/dev/sdb", "device")["size"] == 48 << 20
assert not [r for r in rows if r["name"] in ("/dev/sda3", "/dev/sda4")]
PY
# partition table agrees with sfdisk
sfdisk --json a.img > sf.json
python3 - fs.json sf.json <<'PY'
import json, sys
rows = json.load(open(sys.argv[1])); sf = json.load(open(sys.argv[2]))["partitiontable"]["partitions"]
for p in sf:
    n = "/dev/sda" + p["node"].rsplit("img", 1)[1]
    r = [r for r in rows if r["name"] == n and r["type"] == "partition"][0]
    if p["type"] != "5":
        assert r["size"] == p["size"] * 512, (r, p)
PY

# inspection finds the root on the LV, /boot via LABEL=
$VDK inspect -a a.img -a b.img > insp.xml
expect_grep '<root>/dev/vg0/root</root>' insp.xml
expect_grep '<mountpoint dev="/dev/sda1">/boot</mountpoint>' insp.xml
expect_grep '<mountpoint dev="/dev/vg0/root">/</mountpoint>' insp.xml
expect_grep '<hostname>testguest.example.org</hostname>' insp.xml
expect_grep '<mountpoint dev="/dev/sda6">/srv/data</mountpoint>' insp.xml
$VDK cat -a a.img -a b.img /srv/data/hello.txt > out; expect_eq "$(cat out)" "hello from ext2" "PARTUUID mount"
# a file that lies across the two PVs reads back intact
$VDK cat -a a.img -a b.img /usr/share/random.bin | cmp - tree/root/usr/share/random.bin || fail "cat across PVs"
$VDK ls -R -a a.img -a b.img / | LC_ALL=C sort > ls-R
( cd tree/root && find . -mindepth 1 | sed 's|^\.||'; cd ../boot && find . -mindepth 1 | sed 's|^\.|/boot|'; echo /lost+found; echo /boot/lost+found ) \
  | LC_ALL=C sort > find-R
( cd data && find . -mindepth 1 | sed 's|^\.|/srv/data|'; echo /srv/data/lost+found ) >> find-R
LC_ALL=C sort -o find-R find-R
diff -u find-R ls-R || fail "ls -R over LVM differs from find"
# ext2 with indirect blocks
$VDK cat -a a.img -a b.img /dev/sda6:/big.bin | cmp - data/big.bin || fail "ext2 double indirect"
$VDK cat -a a.img -a b.img /dev/sda6:/hello.txt > out; expect_eq "$(cat out)" "hello from ext2" "ext2 cat"
# with only disk A the VG is incomplete: a warning, the rest still works
$VDK filesystems -a a.img > out 2> err
expect_grep 'physical volume pv1 .* is missing' err
expect_grep 'vg0/root is not readable' err
expect_grep '^/dev/sda6$' out
$VDK inspect -a a.img > out 2>err && fail "inspect without the root LV should find no OS"
expect_grep 'no operating system' err

# ---- signatures: LUKS2, btrfs, iso9660, ntfs on a GPT disk
truncate -s 16M c.img
sgdisk -o -n 1:2048:+2M -n 2:0:+2M -n 3:0:+2M -n 4:0:+2M -n 5:0:+2M c.img >/dev/null
python3 - c.img <<'PY'
import struct, sys
f = open(sys.argv[1], "r+b")
def w(off, b): f.seek(off); f.write(b)
M = 1 << 20
# p1 LUKS2: magic, version 2, label at 24, uuid at 168
w(1 * M, b"LUKS\xba\xbe" + struct.pack(">H", 2)); w(1 * M + 24, b"cryptlabel"); w(1 * M + 168, b"0b1e5b9a-1111-4222-8333-944445555666")
# p2 btrfs: superblock at 64 KiB, fsid at +32, magic at +64, label at +0x12b
sb = 3 * M + 65536
w(sb + 32, bytes(range(16))); w(sb + 64, b"_BHRfS_M"); w(sb + 0x12b, b"btrlabel")
# p3 iso9660: primary volume descriptor at 32 KiB
w(5 * M + 32768, b"\x01CD001\x01\x00" + b" " * 32 + b"ISOLABEL".ljust(32))
# p4 ntfs boot sector
w(7 * M + 3, b"NTFS    "); w(7 * M + 0x48, struct.pack("<Q", 0x1122334455667788)); w(7 * M + 510, b"\x55\xaa")
# p5: LUKS1
w(9 * M, b"LUKS\xba\xbe" + struct.pack(">H", 1)); w(9 * M + 168, b"5e1f4a3c-aaaa-4bbb-8ccc-dddddddddddd")
PY
$VDK filesystems -a c.img --long --uuid > sig
expect_grep '^/dev/sda1 *filesystem crypto_LUKS cryptlabel .*0b1e5b9a-1111-4222-8333-944445555666$' sig
$VDK filesystems -a c.img --output=json > sig.json
python3 - sig.json <<'PY'
import json, sys
rows = {r["name"]: r for r in json.load(open(sys.argv[1]))}
assert rows["/dev/sda1"]["vfs-type"] == "crypto_LUKS" and rows["/dev/sda1"]["vfs-label"] == "cryptlabel", rows["/dev/sda1"]
assert rows["/dev/sda1"]["uuid"] == "0b1e5b9a-1111-4222-8333-944445555666"
assert rows["/dev/sda2"]["vfs-type"] == "btrfs" and rows["/dev/sda2"]["vfs-label"] == "btrlabel"
assert rows["/dev/sda2"]["uuid"] == "00010203-0405-0607-0809-0a0b0c0d0e0f"
assert rows["/dev/sda3"]["vfs-type"] == "iso9660" and rows["/dev/sda3"]["vfs-label"] == "ISOLABEL"
assert rows["/dev/sda4"]["vfs-type"] == "ntfs" and rows["/dev/sda4"]["uuid"] == "1122334455667788"
assert rows["/dev/sda5"]["vfs-type"] == "crypto_LUKS" and rows["/dev/sda5"]["uuid"] == "5e1f4a3c-aaaa-4bbb-8ccc-dddddddddddd"
PY
if command -v blkid >/dev/null; then
  dd if=c.img of=luks.part bs=1M skip=1 count=2 status=none
  expect_eq "$(blkid -o value -s TYPE luks.part)" crypto_LUKS "blkid LUKS type"
fi
expect_fail $VDK ls -a c.img /dev/sda1:/
expect_grep 'crypto_LUKS' err
exit 0
