#!/bin/bash
# A GPT guest (boot, root, swap partitions): filesystems, inspect, ls, cat,
# df, get-kernel; GPT primary header damage falls back to the backup.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/mkguest.sh"
requires mkfs.ext4 mkswap sgdisk sfdisk python3

make_trees
mkfs_ext4 boot.img 16 BOOT $BOOT_UUID tree/boot
mkfs_ext4 root.img 40 root $ROOT_UUID tree/root
make_swap swap.img 4
truncate -s 64M disk.img
sgdisk -o -n 1:2048:+16M -t 1:8300 -c 1:boot -n 2:0:+40M -t 2:8300 -c 2:root \
       -n 3:0:+4M -t 3:8200 disk.img >/dev/null
put disk.img boot.img 1; put disk.img root.img 17; put disk.img swap.img 57

# ---- filesystems: partitions match sfdisk's view of the table
$VDK filesystems -a disk.img --all --output=json > fs.json
sfdisk --json disk.img > sfdisk.json
python3 - fs.json sfdisk.json <<'PY'
import json, sys
fs = json.load(open(sys.argv[1])); sf = json.load(open(sys.argv[2]))["partitiontable"]
parts = {r["name"]: r for r in fs if r["type"] == "partition"}
assert len(parts) == len(sf["partitions"]), parts
for i, p in enumerate(sf["partitions"]):
    r = parts["/dev/sda%d" % (i + 1)]
    assert r["size"] == p["size"] * 512, (r, p)
    assert r["parent"] == "/dev/sda"
    assert r["gpt-type"] == p["type"], (r, p)
    assert r.get("gpt-name", "") == p.get("name", ""), (r, p)
    assert r["partuuid"] == p["uuid"].lower(), (r, p)
fsr = {r["name"]: r for r in fs if r["type"] == "filesystem"}
assert fsr["/dev/sda1"]["vfs-type"] == "ext4" and fsr["/dev/sda1"]["vfs-label"] == "BOOT", fsr
assert fsr["/dev/sda2"]["uuid"] == "11111111-2222-3333-4444-555555555502", fsr
assert fsr["/dev/sda3"]["vfs-type"] == "swap" and fsr["/dev/sda3"]["uuid"] == "11111111-2222-3333-4444-555555555503"
dev = [r for r in fs if r["type"] == "device"]
assert dev == [{"name": "/dev/sda", "type": "device", "size": 64 << 20}], dev
PY
$VDK filesystems -a disk.img > names
expect_eq "$(cat names | tr '\n' ' ')" "/dev/sda1 /dev/sda2 " "filesystems (swap only with --extra)"
$VDK filesystems -a disk.img --extra > names
expect_eq "$(cat names | tr '\n' ' ')" "/dev/sda1 /dev/sda2 /dev/sda3 " "filesystems --extra"
$VDK filesystems -a disk.img --long -h > long
expect_grep '^/dev/sda2  *filesystem  *ext4  *root  *3[0-9]M  *-$' long   # statvfs size, as virt-filesystems
# blkid agrees on the filesystem types and UUIDs where available
if command -v blkid >/dev/null; then
  expect_eq "$(blkid -o value -s UUID boot.img)" "$(json_get fs.json '[r["uuid"] for r in j if r["name"]=="/dev/sda1" and r["type"]=="filesystem"][0]')" "blkid uuid"
fi

# ---- inspect (xml and json)
$VDK inspect -a disk.img > insp.xml
for want in '<root>/dev/sda2</root>' '<name>linux</name>' '<distro>debian</distro>' \
    '<arch>x86_64</arch>' '<hostname>testguest.example.org</hostname>' \
    '<major_version>12</major_version>' '<package_format>deb</package_format>' \
    '<package_management>apt</package_management>' \
    '<product_name>Debian GNU/Linux 12 (bookworm)</product_name>' \
    '<mountpoint dev="/dev/sda1">/boot</mountpoint>' '<mountpoint dev="/dev/sda2">/</mountpoint>' \
    '<version>6.1.0-13-amd64</version>' '<title>Debian GNU/Linux 12 (6.1.0-13-amd64)</title>'; do
  expect_grep "$want" insp.xml
done
python3 -c "import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])" insp.xml
$VDK inspect -a disk.img --output=json > insp.json
expect_eq "$(json_get insp.json '[a["name"] + "=" + a["epoch"] + ":" + a["version"] + "-" + a["release"] for a in j[0]["applications"]]')" \
  "['bash=0:5.2.15-2+b2', 'libc6=0:2.36-9+deb12u3', 'tzdata=1:2024a-0+deb12u1']" "applications"
expect_eq "$(json_get insp.json '[(f["spec"], f.get("device")) for f in j[0]["fstab"]][:3]')" \
  "[('UUID=$ROOT_UUID', '/dev/sda2'), ('LABEL=BOOT', '/dev/sda1'), ('UUID=$SWAP_UUID', '/dev/sda3')]" "fstab"
expect_eq "$(json_get insp.json '[k["vmlinuz"] + "," + k["initrd"] for k in j[0]["kernels"]]')" \
  "['/boot/vmlinuz-6.1.0-9-amd64,/boot/initrd.img-6.1.0-9-amd64', '/boot/vmlinuz-6.1.0-13-amd64,/boot/initrd.img-6.1.0-13-amd64']" "kernels"
expect_eq "$(json_get insp.json 'j[0]["bootentries"][0]["options"]')" "root=UUID=$ROOT_UUID ro quiet" "bls"
expect_eq "$(json_get insp.json 'j[0]["problems"]')" "[]" "problems"

# ---- ls / cat through the mount table and symlinks
$VDK ls -a disk.img / > ls-root
expect_eq "$(tr '\n' ' ' < ls-root)" "bin boot etc home lost+found root tmp usr var " "ls /"
$VDK ls -a disk.img /boot/loader/entries > ls-bls
expect_eq "$(cat ls-bls)" "debian-6.1.0-13.conf" "ls /boot (mounted from sda1)"
$VDK ls -a disk.img /dev/sda1:/ > ls-sda1
expect_grep '^vmlinuz-6.1.0-13-amd64$' ls-sda1
$VDK ls -l -a disk.img /etc > ls-l
expect_grep '^lrwxrwxrwx .* shell-link -> ../usr/bin/bash$' ls-l
# mkfs.ext4 -d copies the owner of the source files
expect_grep "^-rw-r--r-- *1 *$(id -u) *$(id -g) *22 .* hostname\$" ls-l
expect_grep "long-link -> /usr/lib/xxxxxxxxxx" ls-l
$VDK ls -R -a disk.img / | LC_ALL=C sort > ls-R
( cd tree/root && find . -mindepth 1 | sed 's|^\.||'; cd ../boot && find . -mindepth 1 | sed 's|^\.|/boot|'; echo /lost+found; echo /boot/lost+found ) \
  | LC_ALL=C sort > find-R
diff -u find-R ls-R || fail "ls -R differs from find"
$VDK ls -R -a disk.img /boot/loader/ > out
expect_eq "$(tr '\n' ' ' < out)" "/boot/loader/entries /boot/loader/entries/debian-6.1.0-13.conf " "ls -R full paths"
$VDK cat -a disk.img /etc/hostname > out; expect_eq "$(cat out)" testguest.example.org "cat"
$VDK cat -a disk.img /usr/share/random.bin | cmp - tree/root/usr/share/random.bin || fail "cat random.bin"
$VDK cat -a disk.img /bin/sh | cmp - /bin/true || fail "cat through 2 symlinks"
$VDK cat -a disk.img /etc/abs-link | cmp - tree/root/etc/os-release || fail "absolute symlink"
$VDK cat -a disk.img /usr/../etc/./hostname > out; expect_eq "$(cat out)" testguest.example.org "cat .."
$VDK cat -a disk.img /boot/../etc/hostname > out; expect_eq "$(cat out)" testguest.example.org ".. out of a mount"
$VDK cat -a disk.img /dev/sda1:/vmlinuz-6.1.0-9-amd64 > out; expect_eq "$(cat out)" "FAKE KERNEL 6.1.0-9" "cat DEV:PATH"
expect_fail $VDK cat -a disk.img /etc/loop-a
expect_grep 'too many levels of symbolic links' err
expect_fail $VDK cat -a disk.img /etc/nonexistent
expect_grep 'no such file' err
expect_fail $VDK cat -a disk.img /etc
expect_grep 'is a directory' err
expect_fail $VDK ls -a disk.img /dev/sda3:/
expect_grep 'swap' err

# ---- df against dumpe2fs
$VDK df -a disk.img > df
expect_grep '^disk.img:/dev/sda1 ' df
$VDK df --output=json -a disk.img > df.json
for img in boot root; do
  dev=/dev/sda1; [ $img = root ] && dev=/dev/sda2
  # statfs semantics: metadata overhead (recorded by mke2fs) is not counted
  blocks=$(dumpe2fs -h $img.img 2>/dev/null | awk -F: '/^Block count/ {b=$2+0} /^Overhead clusters/ {o=$2+0} END {print b-o}')
  free=$(dumpe2fs -h $img.img 2>/dev/null | awk -F: '/^Free blocks/ {print $2+0}')
  expect_eq "$(json_get df.json "[d['blocks'] for d in j if d['filesystem']=='$dev'][0]")" "$blocks" "df blocks $img"
  expect_eq "$(json_get df.json "[d['blocks-free'] for d in j if d['filesystem']=='$dev'][0]")" "$free" "df free $img"
done
$VDK df -h -a disk.img > dfh
expect_grep '^disk.img:/dev/sda2 *[0-9.]*M *[0-9.]*K *[0-9.]*M *[0-9]*%$' dfh

# ---- get-kernel: the newest kernel and its initrd
mkdir kout
$VDK get-kernel -a disk.img -o kout > gk
cmp kout/vmlinuz-6.1.0-13-amd64 tree/boot/vmlinuz-6.1.0-13-amd64 || fail "get-kernel vmlinuz"
cmp kout/initrd.img-6.1.0-13-amd64 tree/boot/initrd.img-6.1.0-13-amd64 || fail "get-kernel initrd"
expect_eq "$(ls kout | wc -l)" 2 "get-kernel copies two files"

# ---- an unreadable /boot: everything else is still reported
cp disk.img badboot.img
printf '\036' | dd of=badboot.img bs=1 seek=$((MiB + 1024 + 24)) conv=notrunc status=none
$VDK inspect -a badboot.img --output=json > bb.json 2> bb.err || fail "inspect must survive a broken /boot"
expect_grep 'corrupt superblock' bb.err
expect_eq "$(json_get bb.json '[j[0]["hostname"], len(j[0]["applications"]), j[0]["kernels"]]')" \
  "['testguest.example.org', 3, []]" "report without /boot"
json_get bb.json 'j[0]["problems"]' > bb.problems
expect_grep 'LABEL=BOOT (/boot) was not found on the disks given; unreadable filesystems: /dev/sda1' bb.problems

# ---- an old guest without os-release: redhat-release, distro defaults
mkdir -p old/etc old/bin
echo 'CentOS Linux release 7.9.2009 (Core)' > old/etc/redhat-release
echo '/dev/vda1 / xfs defaults 0 0' > old/etc/fstab
mkfs_ext4 old.img 4 old 11111111-2222-3333-4444-555555555599 old
$VDK inspect -a old.img --output=json > old.json
expect_eq "$(json_get old.json '[j[0][k] for k in ("root", "distro", "major_version", "minor_version", "package_format", "package_management", "product_name")]')" \
  "['/dev/sda', 'centos', 7, 9, 'rpm', 'yum', 'CentOS Linux release 7.9.2009 (Core)']" "legacy inspection"

# ---- GPT with 4 KiB logical sectors (written here: sfdisk/sgdisk cannot for files)
mkfs_ext4 four.img 16 fourk 11111111-2222-3333-4444-555555555544 tree/boot
truncate -s 64M g4k.img
python3 - g4k.img <<'PY'
import struct, sys, uuid, zlib
f = open(sys.argv[1], "r+b"); ss = 4096; n = (64 << 20) // ss
linux = uuid.UUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4").bytes_le
ent = bytearray(128 * 128)
struct.pack_into("<16s16sQQQ", ent, 0, linux, uuid.UUID(int=1).bytes_le, 256, 256 + 4095, 0)
ent[56:56 + 8] = "four".encode("utf-16-le")
def hdr(my, alt, elba):
    h = struct.pack("<8sIIIIQQQQ16sQIII", b"EFI PART", 0x10000, 92, 0, 0, my, alt, 6, n - 6,
                    uuid.UUID(int=2).bytes_le, elba, 128, 128, zlib.crc32(bytes(ent)))
    return h[:16] + struct.pack("<I", zlib.crc32(h)) + h[20:]
mbr = bytearray(512)
mbr[446:462] = struct.pack("<B3sB3sII", 0, b"\0\2\0", 0xEE, b"\xff\xff\xff", 1, n - 1)
mbr[510:512] = b"\x55\xaa"
for off, data in ((0, mbr), (ss, hdr(1, n - 1, 2)), (2 * ss, ent),
                  ((n - 5) * ss, ent), ((n - 1) * ss, hdr(n - 1, 1, n - 5))):
    f.seek(off); f.write(bytes(data))
PY
dd if=four.img of=g4k.img bs=4096 seek=256 conv=notrunc status=none
$VDK filesystems -a g4k.img --all --output=json > g4k.json 2> err
[ ! -s err ] || { cat err; fail "warnings on a 4k-sector GPT"; }
expect_eq "$(json_get g4k.json '[(r["name"], r["type"], r["size"], r.get("vfs-label")) for r in j if r["type"] in ("filesystem", "partition")]')" \
  "[('/dev/sda1', 'filesystem', 14410752, 'fourk'), ('/dev/sda1', 'partition', 16777216, None)]" "4k GPT"

# ---- damaged GPT primary header: the backup is used, with a warning
cp disk.img gpt1.img
printf 'XXXX' | dd of=gpt1.img bs=1 seek=$((512 + 20)) conv=notrunc status=none
$VDK filesystems -a gpt1.img --extra > out 2> err
expect_grep 'primary header is damaged' err
expect_eq "$(tr '\n' ' ' < out)" "/dev/sda1 /dev/sda2 /dev/sda3 " "filesystems from backup GPT"
# damaged entry array (CRC) in the primary: same
cp disk.img gpt2.img
printf 'Z' | dd of=gpt2.img bs=1 seek=$((1024 + 60)) conv=notrunc status=none
$VDK filesystems -a gpt2.img --extra > out 2> err
expect_grep 'entry array CRC mismatch' err
expect_eq "$(tr '\n' ' ' < out)" "/dev/sda1 /dev/sda2 /dev/sda3 " "filesystems from backup GPT (entries)"
# damaged backup only: a warning, primary used
cp disk.img gpt3.img
printf 'XXXX' | dd of=gpt3.img bs=1 seek=$(( (64 << 20) - 512 + 20)) conv=notrunc status=none
$VDK filesystems -a gpt3.img > out 2> err
expect_grep 'backup header is damaged' err
# both damaged: a clear warning, the disk is still listed
cp gpt1.img gpt4.img
printf 'XXXX' | dd of=gpt4.img bs=1 seek=$(( (64 << 20) - 512 + 20)) conv=notrunc status=none
$VDK filesystems -a gpt4.img --all > out 2> err
expect_grep 'both GPT headers are damaged' err
expect_grep '^/dev/sda$' out
exit 0
