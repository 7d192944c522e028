#!/bin/bash
# disk pools: vdk writes GPT and DOS partition tables itself; sfdisk --json,
# sfdisk -V and sgdisk -v are the oracles after every change.  Image files
# (no root needed), then a loop device (root).
. "$(dirname "$0")/../functions.sh"
requires sfdisk sgdisk python3
export VDK_STATE_DIR=$TMP/state
LINUX=0FC63DAF-8483-4772-8E79-3D69D8477DE4

# The table as sfdisk reads it: "N start size type [name]" per partition.
parts () {
  sfdisk --json "$1" | python3 -c '
import json, re, sys
t = json.load(sys.stdin)["partitiontable"]
for p in t.get("partitions", []):
    n = re.search(r"(\d+)$", p["node"]).group(1)
    print(n, p["start"], p["size"], p["type"], p.get("name", "")) ' | sed 's/ *$//'
}
label () { sfdisk --json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["partitiontable"]["label"])'; }
gpt_ok () {
  sgdisk -v "$1" > "$TMP/sg" 2>&1 || { cat "$TMP/sg" >&2; fail "sgdisk -v $1 failed"; }
  expect_grep "^No problems found" "$TMP/sg"
  if grep -qi "warning\|problem:" "$TMP/sg"; then cat "$TMP/sg" >&2; fail "sgdisk -v warns"; fi
  sfdisk -V "$1" > "$TMP/sv" 2>&1 || { cat "$TMP/sv" >&2; fail "sfdisk -V $1"; }
}
dos_ok () {
  sfdisk -V "$1" > "$TMP/sv" 2>&1 || { cat "$TMP/sv" >&2; fail "sfdisk -V $1"; }
  expect_grep "No errors detected" "$TMP/sv"
}
expect_parts () { expect_eq "$(parts "$1" | tr '\n' ';')" "$2" "partitions of $1"; }

# ---- GPT on an image file -------------------------------------------------------
truncate -s 64M g.img
expect_eq "$($VDK pool-define-as gp disk --source-dev "$TMP/g.img" --source-format gpt \
  --target "$TMP/dev")" "Pool gp defined"
expect_fail $VDK pool-start gp
expect_grep "no partition table on '$TMP/g.img' (run pool-build)" "$TMP/err"
expect_eq "$($VDK pool-build gp --no-overwrite)" "Pool gp built"
expect_eq "$(label g.img)" "gpt"
expect_parts g.img ""
gpt_ok g.img
guid=$(sfdisk --disk-id g.img)
truncate -s 64M p.img
echo 'label: gpt' | sfdisk -q p.img
cmp <(od -An -tx1 -j 446 -N 66 g.img) <(od -An -tx1 -j 446 -N 66 p.img) ||
  fail "the protective MBR differs from sfdisk's"
expect_fail $VDK pool-build gp --no-overwrite
expect_grep "device '$TMP/g.img' already contains data (gpt partition table) (use --overwrite" "$TMP/err"
expect_rc 0 $VDK pool-build gp
expect_eq "$(sfdisk --disk-id g.img)" "$guid" "pool-build without flags kept the label"
expect_eq "$($VDK pool-start gp)" "Pool gp started"

expect_eq "$($VDK vol-create-as gp root 16M)" "Vol root created"
expect_eq "$($VDK vol-create-as gp data 8M --format raw)" "Vol data created"
expect_eq "$($VDK vol-create-as gp swap 4M)" "Vol swap created"
expect_parts g.img "1 2048 32768 $LINUX root;2 34816 16384 $LINUX data;3 51200 8192 $LINUX swap;"
gpt_ok g.img
$VDK vol-list gp --details > out
expect_grep "^ data   driver=raw,offset=17825792,size=8388608,file.filename=$TMP/g.img   file   8.00 MiB    8.00 MiB$" out
expect_grep "^ root   driver=raw,offset=1048576,size=16777216,file.filename=$TMP/g.img   file   16.00 MiB   16.00 MiB$" out
expect_eq "$($VDK vol-info root --pool gp --bytes | sed -n 3p)" "Capacity:       16777216 bytes"
expect_eq "$($VDK vol-path swap --pool gp)" "driver=raw,offset=26214400,size=4194304,file.filename=$TMP/g.img"
$VDK pool-info gp --bytes > out
expect_grep "^Capacity:       67108864$" out
expect_grep "^Allocation:     29360128$" out

# Data goes to the partition and nowhere else.
rand_file data 3
expect_rc 0 $VDK vol-upload data data --pool gp
expect_rc 0 $VDK vol-download data out --pool gp --length 3M
cmp data out || fail "upload/download through a partition"
dd if=g.img of=raw bs=1M skip=17 count=3 status=none
cmp data raw || fail "the upload did not land at the partition's offset"
$VDK info vol:gp/data > out
expect_grep "^file format: raw$" out
expect_grep "^virtual size: 8 MiB (8388608 bytes)$" out

# Refusals.
expect_fail $VDK vol-create-as gp big 100M
expect_grep "not enough free space for a partition of 104857600 bytes (largest free extent: 3[0-9]* bytes)" "$TMP/err"
expect_fail $VDK vol-create-as gp img 4M --format vmdk
expect_grep "unsupported volume format 'vmdk' for a disk pool: partitions are raw" "$TMP/err"
expect_fail $VDK vol-create-as gp data 4M
expect_grep "storage vol 'data' already exists" "$TMP/err"
expect_fail $VDK vol-create-as gp abcdefghijklmnopqrstuvwxyz0123456789x 4M
expect_grep "a GPT partition name is at most 36 printable ASCII characters" "$TMP/err"
expect_fail $VDK vol-resize data 12M --pool gp
expect_grep "not enough free space after partition 2: it can grow to 8388608 bytes at most" "$TMP/err"
expect_fail $VDK vol-resize data 4M --pool gp
expect_grep "Can't shrink capacity below current capacity" "$TMP/err"
expect_fail $VDK convert -O raw data vol:gp/new
expect_grep "the volumes of a disk pool are partitions: create it with vol-create-as first" "$TMP/err"
expect_parts g.img "1 2048 32768 $LINUX root;2 34816 16384 $LINUX data;3 51200 8192 $LINUX swap;"

# Resize into the free space after the last partition; delete; reuse.
expect_rc 0 $VDK vol-resize swap 12M --pool gp
expect_eq "$($VDK vol-info swap --pool gp --bytes | sed -n 3p)" "Capacity:       12582912 bytes"
expect_rc 0 $VDK vol-delete data --pool gp
expect_parts g.img "1 2048 32768 $LINUX root;3 51200 24576 $LINUX swap;"
gpt_ok g.img
expect_eq "$($VDK vol-create-as gp new 4M)" "Vol new created"
expect_parts g.img "1 2048 32768 $LINUX root;2 34816 8192 $LINUX new;3 51200 24576 $LINUX swap;"
gpt_ok g.img
expect_eq "$(sfdisk --disk-id g.img)" "$guid" "the disk GUID stays"
# vol-resize runs under the state dir's shared lock: two at once must not
# lose one another's change (the device's flock serialises them).
for i in 1 2 3; do
  $VDK vol-resize new $((4 + i))M --pool gp & a=$!
  $VDK vol-resize swap $((12 + i))M --pool gp & b=$!
  wait $a && wait $b || fail "parallel vol-resize"
  expect_parts g.img "1 2048 32768 $LINUX root;2 34816 $(( (4 + i) * 2048 )) $LINUX new;3 51200 $(( (12 + i) * 2048 )) $LINUX swap;"
done
gpt_ok g.img
dd if=data of=g.img bs=1M seek=1 conv=notrunc status=none
expect_rc 0 $VDK vol-wipe root --pool gp
cmp -n 16777216 /dev/zero <(dd if=g.img bs=1M skip=1 count=16 status=none) || fail "vol-wipe"
expect_fail $VDK pool-delete gp
expect_grep "storage pool 'gp' is still active" "$TMP/err"
expect_eq "$($VDK pool-destroy gp)" "Pool gp destroyed"
expect_fail $VDK pool-delete gp
expect_grep "cannot delete pool 'gp': it still has 3 partition(s)" "$TMP/err"
expect_fail $VDK pool-build gp --no-overwrite
expect_rc 0 $VDK pool-build gp --overwrite
expect_parts g.img ""
[ "$(sfdisk --disk-id g.img)" != "$guid" ] || fail "--overwrite made no new label"
gpt_ok g.img
expect_rc 0 $VDK pool-delete gp
expect_eq "$(head -c 1048576 g.img | tr -d '\0' | wc -c)" 0 "pool-delete erased the label"
expect_eq "$($VDK pool-undefine gp)" "Pool gp has been undefined"

# A table made by sgdisk is adopted; vdk's changes keep it valid.
truncate -s 32M s.img
sgdisk -n 1:2048:+4M -c 1:boot -t 1:EF00 -n 2:0:+2M s.img >/dev/null
expect_rc 0 $VDK pool-create-as sp disk --source-dev "$TMP/s.img" --target "$TMP/dev2"
$VDK vol-list sp > out
expect_grep "^ boot     driver=raw,offset=1048576,size=4194304," out
expect_grep "^ s.img2   driver=raw,offset=5242880,size=2097152," out
expect_eq "$($VDK vol-create-as sp extra 3M)" "Vol extra created"
gpt_ok s.img
expect_eq "$(sgdisk -i 3 s.img | sed -n 's/^Partition name: //p')" "'extra'"
expect_eq "$(sgdisk -i 1 s.img | sed -n 's/^Partition name: //p')" "'boot'"
expect_eq "$(sgdisk -i 1 s.img | sed -n 's/^Partition GUID code: \([^ ]*\).*/\1/p')" \
  "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
expect_rc 0 $VDK vol-delete s.img2 --pool sp
gpt_ok s.img
# A damaged primary header: the backup is used, and writing repairs both.
printf 'X' | dd of=s.img bs=1 seek=600 conv=notrunc status=none
expect_rc 0 $VDK vol-create-as sp again 1M
gpt_ok s.img
# Both headers damaged: one clear error.
printf 'X' | dd of=s.img bs=1 seek=600 conv=notrunc status=none
printf 'X' | dd of=s.img bs=512 seek=$((65536 - 1)) conv=notrunc status=none
expect_fail $VDK vol-list sp
expect_grep "damaged partition table: protective MBR but both GPT headers are damaged" "$TMP/err"
expect_rc 0 $VDK pool-destroy sp

# ---- DOS on an image file: primaries, then an extended partition with logicals --
truncate -s 64M m.img
expect_rc 0 $VDK pool-define-as mp disk --source-dev "$TMP/m.img" --source-format dos --target /dev
expect_rc 0 $VDK pool-start mp --build
expect_eq "$(label m.img)" "dos"
for i in 1 2 3 5 6 7; do
  expect_eq "$($VDK vol-create-as mp m.img$i 4M)" "Vol m.img$i created"
  dos_ok m.img
done
expect_parts m.img "1 2048 8192 83;2 10240 8192 83;3 18432 8192 83;4 26624 104448 5;5 28672 8192 83;6 38912 8192 83;7 49152 8192 83;"
# vdk's own partition reader (guestfs) sees the same table.
if command -v mkfs.ext4 >/dev/null; then
  mkfs.ext4 -q -L six -E offset=$((38912 * 512)) m.img 4M
  $VDK filesystems -a m.img --all --long > out
  expect_eq "$(awk '$2=="partition"{print $1, $5, $6}' out | tr '\n' ';')" \
    "/dev/sda1 83 4194304;/dev/sda2 83 4194304;/dev/sda3 83 4194304;/dev/sda4 05 1024;/dev/sda5 83 4194304;/dev/sda6 83 4194304;/dev/sda7 83 4194304;"
  expect_grep "^/dev/sda6  *filesystem  *ext4  *six " out
fi
expect_fail $VDK vol-create-as mp data 4M
expect_grep "partitions of a dos label have no names; the new partition will be 'm.img8' (use that name)" "$TMP/err"
# Byte for byte what sfdisk writes for the same layout (CHS fields, EBRs).
sfdisk -d m.img | sed 's/m\.img/n.img/g; /label-id/d' > layout
truncate -s 64M n.img
sfdisk -q n.img < layout
for off in 446 $((26624 * 512 + 446)) $((36864 * 512 + 446)) $((47104 * 512 + 446)); do
  cmp <(od -An -tx1 -j $off -N 66 m.img) <(od -An -tx1 -j $off -N 66 n.img) ||
    fail "the partition entries at byte $off differ from sfdisk's"
done
rand_file data 3
expect_rc 0 $VDK vol-upload m.img6 data --pool mp
expect_rc 0 $VDK vol-download vol:mp/m.img6 out
cmp -n 3145728 data out || fail "upload/download through a logical partition"
expect_eq "$($VDK info vol:mp/m.img6 | grep '^virtual size')" "virtual size: 4 MiB (4194304 bytes)"
# Deleting a logical partition renumbers the ones after it, as Linux does.
expect_rc 0 $VDK vol-delete m.img5 --pool mp
expect_parts m.img "1 2048 8192 83;2 10240 8192 83;3 18432 8192 83;4 26624 104448 5;5 38912 8192 83;6 49152 8192 83;"
dos_ok m.img
expect_rc 0 $VDK vol-download m.img5 out --pool mp --length 3M
cmp data out || fail "the renumbered logical partition lost its data"
expect_rc 0 $VDK vol-resize m.img6 10M --pool mp
expect_fail $VDK vol-resize m.img5 8M --pool mp
expect_grep "not enough free space after partition 5" "$TMP/err"
expect_parts m.img "1 2048 8192 83;2 10240 8192 83;3 18432 8192 83;4 26624 104448 5;5 38912 8192 83;6 49152 20480 83;"
dos_ok m.img
# A new logical partition goes after the others (none is renumbered, so
# no volume changes its name).
expect_rc 0 $VDK vol-create-as mp m.img7 2M
expect_parts m.img "1 2048 8192 83;2 10240 8192 83;3 18432 8192 83;4 26624 104448 5;5 38912 8192 83;6 49152 20480 83;7 71680 4096 83;"
dos_ok m.img
expect_rc 0 $VDK vol-resize m.img7 29M --pool mp
expect_fail $VDK vol-create-as mp m.img8 4M
expect_grep "no room in an extended partition" "$TMP/err"
expect_rc 0 $VDK vol-resize m.img7 2M --pool mp --shrink
expect_rc 0 $VDK vol-create-as mp m.img8 8M
expect_parts m.img "1 2048 8192 83;2 10240 8192 83;3 18432 8192 83;4 26624 104448 5;5 38912 8192 83;6 49152 20480 83;7 71680 4096 83;8 77824 16384 83;"
dos_ok m.img
# Deleting the first logical partition moves the next one's EBR to the
# start of the extended partition.
expect_rc 0 $VDK vol-delete m.img5 --pool mp
expect_parts m.img "1 2048 8192 83;2 10240 8192 83;3 18432 8192 83;4 26624 104448 5;5 49152 20480 83;6 71680 4096 83;7 77824 16384 83;"
dos_ok m.img
expect_rc 0 $VDK vol-delete m.img7 --pool mp
# Removing every logical partition removes the extended one too.
for i in 6 5; do expect_rc 0 $VDK vol-delete m.img$i --pool mp; done
expect_parts m.img "1 2048 8192 83;2 10240 8192 83;3 18432 8192 83;"
dos_ok m.img
expect_rc 0 $VDK pool-destroy mp
# The pool's format must match the label.
expect_rc 0 $VDK pool-define-as wrong disk --source-dev "$TMP/s.img" --source-format dos --target /dev
expect_fail $VDK pool-start wrong
expect_grep "damaged partition table\|is gpt, not dos" "$TMP/err"
expect_rc 0 $VDK pool-undefine wrong

# sfdisk's own DOS layout (with logical partitions) is adopted.
truncate -s 32M f.img
printf 'label: dos\n,4M\n,,E\n,4M\n,4M\n' | sfdisk -q f.img
expect_rc 0 $VDK pool-create-as fp disk --source-dev "$TMP/f.img" --target /dev
expect_eq "$($VDK vol-list fp | awk 'NR>2 && NF{print $1}' | tr '\n' ' ')" "f.img1 f.img5 f.img6 "
expect_rc 0 $VDK vol-create-as fp f.img7 2M
dos_ok f.img
expect_eq "$(parts f.img | sed -n 5p)" "7 32768 4096 83"
# A chain of extended boot records that loops: one clear error.
python3 - f.img <<'EOF'
import struct, sys
f = open(sys.argv[1], "r+b")
f.seek(446 + 16 + 8); ext = struct.unpack("<I", f.read(4))[0]
f.seek(ext * 512 + 462); f.write(bytes([0, 0, 0, 0, 5, 0, 0, 0]) + struct.pack("<II", 0, 1))
EOF
expect_fail $VDK vol-list fp
expect_grep "damaged partition table: the chain of extended boot records goes backwards" "$TMP/err"
expect_rc 0 $VDK pool-destroy fp

# Damaged tables: vdk reads them without crashing (one error or a listing).
truncate -s 8M h.img
printf 'label: dos\n,1M\n,,E\n,1M\n,1M\n,1M\n' | sfdisk -q h.img
truncate -s 8M h2.img
sgdisk -n 1:2048:+1M -n 2:0:+1M -c 2:x h2.img >/dev/null
cp h.img hp.img
expect_rc 0 $VDK pool-create-as hp disk --source-dev "$TMP/hp.img" --target /dev
python3 - <<'EOF2'
import random
for n, img in enumerate(["h.img", "h2.img"]):
    src = open(img, "rb").read()
    for seed in range(15):
        data = bytearray(src)
        r = random.Random(seed)
        # h.img's EBRs lie in the first 3 MiB; GPT structures in the first
        # and the last 17 KiB.
        hot = [0, 446, 462, 478, 494, 510, 512, 1024, 1056, 1088, 1048576 + 446,
               2097152 + 462]
        for _ in range(r.randint(1, 6)):
            data[r.choice(hot) + r.randint(0, 40)] = r.randint(0, 255)
        if r.random() < 0.5 and img == "h2.img":
            data[-512 + r.randint(0, 100)] ^= 0xff
        open("v%d-%d.img" % (n, seed), "wb").write(data)
EOF2
errs=0
for v in v*-*.img; do
  cp --sparse=always "$v" hp.img
  rc=0; $VDK vol-list hp > /dev/null 2> err || rc=$?
  [ $rc -le 1 ] || fail "vol-list on a damaged table ($v) exited with $rc"
  [ $rc = 0 ] || [ "$(wc -l < err)" = 1 ] || { cat err >&2; fail "not one error line"; }
  [ $rc = 0 ] || errs=$((errs + 1))
done
[ $errs -gt 3 ] || fail "only $errs of the damaged tables were refused"
expect_rc 0 $VDK pool-destroy hp

# ---- a loop device: the kernel's partitions follow the table ----------------------
[ "$(id -u)" = 0 ] || skip "loop device part needs root"
requires losetup mkfs.ext4 mount umount
truncate -s 64M l.img
dev=$(losetup -P -f --show l.img 2>/dev/null) || skip "no loop devices"
cleanup_fn "umount '$TMP/mnt' 2>/dev/null; partx -d $dev 2>/dev/null; losetup -d $dev"
expect_rc 0 $VDK pool-define-as lp disk --source-dev "$dev" --target /dev
expect_rc 0 $VDK pool-build lp
expect_rc 0 $VDK pool-start lp
expect_rc 0 $VDK vol-create-as lp root 16M
expect_rc 0 $VDK vol-create-as lp data 8M
gpt_ok "$dev"
expect_eq "$($VDK vol-path root --pool lp)" "${dev}p1"
expect_eq "$($VDK vol-path data --pool lp)" "${dev}p2"
expect_eq "$(blockdev --getsize64 "${dev}p2")" 8388608
rand_file data 3
expect_rc 0 $VDK vol-upload data data --pool lp
cmp -n 3145728 data "${dev}p2" || fail "upload to a partition node"
mkfs.ext4 -q "${dev}p1"
mkdir mnt
mount "${dev}p1" mnt || skip "mount is not permitted"
expect_fail $VDK vol-delete root --pool lp
expect_grep "volume 'root' is in use: ${dev}p1 is busy" "$TMP/err"
expect_fail $VDK vol-wipe root --pool lp
expect_grep "volume 'root' is in use" "$TMP/err"
expect_rc 0 $VDK pool-destroy lp
expect_fail $VDK pool-build lp --overwrite
expect_grep "cannot build pool 'lp': device '$dev' is in use" "$TMP/err"
expect_rc 0 $VDK pool-start lp
# Another partition changes while one is mounted.
expect_rc 0 $VDK vol-delete data --pool lp
[ -b "${dev}p2" ] && fail "the kernel still has ${dev}p2"
expect_rc 0 $VDK vol-resize root 24M --pool lp
expect_eq "$(blockdev --getsize64 "${dev}p1")" 25165824
umount mnt
gpt_ok "$dev"
expect_parts "$dev" "1 2048 49152 $LINUX root;"
expect_rc 0 $VDK pool-destroy lp
expect_rc 0 $VDK pool-undefine lp

# DOS with logical partitions on the loop device: deleting one renumbers
# the kernel's partitions after it too.
b=${dev#/dev/}
expect_rc 0 $VDK pool-create-as ld disk --source-dev "$dev" --source-format dos --target /dev \
  --build --overwrite
for n in 1 2 3 5 6; do expect_rc 0 $VDK vol-create-as ld ${b}p$n 4M; done
dos_ok "$dev"
expect_eq "$(cat /sys/class/block/${b}p6/start)" 38912
expect_rc 0 $VDK vol-delete ${b}p5 --pool ld
expect_eq "$(cat /sys/class/block/${b}p5/start)" 38912
[ -b "${dev}p6" ] && fail "the kernel still has ${dev}p6"
expect_parts "$dev" "1 2048 8192 83;2 10240 8192 83;3 18432 8192 83;4 26624 104448 5;5 38912 8192 83;"
expect_rc 0 $VDK pool-destroy ld

# 4 KiB logical sectors: entries, alignment and the kernel's view follow.
truncate -s 64M k.img
dev4=$(losetup -b 4096 -P -f --show k.img 2>/dev/null) || skip "no loop devices with 4 KiB sectors"
cleanup_fn "partx -d $dev4 2>/dev/null; losetup -d $dev4"
expect_rc 0 $VDK pool-create-as kp disk --source-dev "$dev4" --target /dev --build
expect_rc 0 $VDK vol-create-as kp a 8M
expect_rc 0 $VDK vol-create-as kp b 4M
gpt_ok "$dev4"
expect_parts "$dev4" "1 256 2048 $LINUX a;2 2304 1024 $LINUX b;"
expect_eq "$($VDK vol-path b --pool kp)" "${dev4}p2"
expect_eq "$(blockdev --getsize64 "${dev4}p2")" 4194304
expect_rc 0 $VDK vol-delete a --pool kp
gpt_ok "$dev4"
[ -b "${dev4}p1" ] && fail "the kernel still has ${dev4}p1"
expect_rc 0 $VDK pool-destroy kp
