#!/bin/bash
# LVM volumes made by the real lvm2 tools (activation disabled, on a loop
# device: no device-mapper needed): vdk must find the same LVs and read an
# ext4 filesystem written through lvm2's own extent map; a 2-stripe LV over
# two disks is filled the way dm-stripe lays chunks out.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/mkguest.sh"
requires_root
requires pvcreate vgcreate lvcreate lvs losetup mkfs.ext4 sfdisk python3
export LVM_SUPPRESS_FD_WARNINGS=1

truncate -s 64M disk.img
printf 'label: dos\nstart=2048, type=8e\n' | sfdisk -q disk.img
LOOP=$(losetup -f --show -o $MiB --sizelimit $((63 * MiB)) disk.img 2>/dev/null) || skip "no loop device"
cleanup_fn '[ -z "$LOOP" ] || losetup -d "$LOOP"'
O=(--config 'global{activation=0} backup{backup=0 archive=0}' --devices "$LOOP")
q () { "$@" 2> >(grep -v -e 'Activation disabled' -e 'not zeroed' -e 'NOT backed up' >&2); }
q pvcreate "${O[@]}" -q -ff -y "$LOOP" >/dev/null || skip "pvcreate cannot use $LOOP"
q vgcreate "${O[@]}" -q -s 1M testvg "$LOOP" >/dev/null
q lvcreate "${O[@]}" -q -Zn -Wn -L 8M -n first testvg >/dev/null
q lvcreate "${O[@]}" -q -Zn -Wn -L 12M -n data testvg >/dev/null
q lvextend "${O[@]}" -q -L +6M testvg/first >/dev/null      # 2 segments
q lvs "${O[@]}" --noheadings --units b --nosuffix --separator ' ' \
  -o lv_name,lv_size testvg | sort > lvs.txt
PE_START=$(q pvs "${O[@]}" --noheadings --units b --nosuffix -o pe_start "$LOOP" | tr -d ' ')
q lvs "${O[@]}" --noheadings --separator ' ' -o lv_name,seg_start_pe,seg_size_pe,seg_pe_ranges testvg \
  | awk '{split($4, a, ":"); split(a[2], r, "-"); print $1, $2, $3, r[1]}' > segs
losetup -d "$LOOP"; LOOP=

# lvm2 may store a first segment of "first" and then "data" and then the rest
mkdir -p tree/etc; echo lvm-tools > tree/etc/hostname
head -c 5000000 /dev/urandom > tree/blob
mkfs_ext4 first.img 14 first 33333333-4444-5555-6666-777777777777 tree
while read -r name le n pe; do
  [ "$name" = first ] || continue
  dd if=first.img of=disk.img bs=1M conv=notrunc status=none skip=$le count=$n \
     seek=$(( (MiB + PE_START) / MiB + pe ))
done < segs
expect_eq "$(awk '$1 == "first"' segs | wc -l)" 2 "lvm2 made two segments"

$VDK filesystems -a disk.img --all --output=json > fs.json
python3 - fs.json lvs.txt <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
lvs = dict(l.split() for l in open(sys.argv[2]))
mine = {r["name"].split("/")[-1]: r["size"] for r in rows if r["type"] == "lv"}
assert mine == {k: int(v) for k, v in lvs.items()}, (mine, lvs)
fs = [r for r in rows if r["type"] == "filesystem" and r["name"] == "/dev/testvg/first"][0]
assert fs["vfs-label"] == "first", fs
PY
$VDK cat -a disk.img /dev/testvg/first:/blob | cmp - tree/blob || fail "file through lvm2's extent map"

# ---- a VG over two disks with a 2-stripe LV (64 KiB chunks, dm-stripe layout)
truncate -s 32M s1.img s2.img
L1=$(losetup -f --show s1.img); cleanup_fn '[ -z "$L1" ] || losetup -d "$L1"'
L2=$(losetup -f --show s2.img); cleanup_fn '[ -z "$L2" ] || losetup -d "$L2"'
O=(--config 'global{activation=0} backup{backup=0 archive=0}' --devices "$L1" --devices "$L2")
q pvcreate "${O[@]}" -q -ff -y "$L1" "$L2" >/dev/null || skip "pvcreate on two loop devices"
q vgcreate "${O[@]}" -q -s 1M svg "$L1" "$L2" >/dev/null
q lvcreate "${O[@]}" -q -Zn -Wn -i 2 -I 64k -L 12M -n striped svg >/dev/null || skip "lvcreate -i 2 failed"
PE1=$(q pvs "${O[@]}" --noheadings --units b --nosuffix -o pe_start "$L1" | tr -d ' ')
q lvs "${O[@]}" --noheadings --separator ' ' --units b --nosuffix -o stripes,stripe_size,seg_pe_ranges svg/striped > sseg
losetup -d "$L1"; losetup -d "$L2"
LOOPS=("$L1" "$L2"); L1=; L2=
read -r nstripes ssize ranges < sseg
expect_eq "$nstripes" 2 "stripes"
mkfs_ext4 striped.img 12 striped 44444444-5555-6666-7777-888888888888 tree
# place the filesystem as dm-stripe would: chunk c goes to stripe c % 2, row c / 2
python3 - striped.img "$ssize" "$PE1" "$ranges" s1.img s2.img "${LOOPS[@]}" <<'PY'
import sys
src, ssize, pe_start, ranges = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
files = {sys.argv[7]: sys.argv[5], sys.argv[8]: sys.argv[6]}
areas = []
for r in ranges.split(" "):                      # "/dev/loop1:0-5 /dev/loop2:0-5"
    dev, pes = r.rsplit(":", 1)
    areas.append((files[dev], int(pes.split("-")[0])))
data = open(src, "rb").read()
ext = 1 << 20
for c in range(len(data) // ssize):
    f, pe = areas[c % len(areas)]
    with open(f, "r+b") as o:
        o.seek(pe_start + pe * ext + (c // len(areas)) * ssize)
        o.write(data[c * ssize:(c + 1) * ssize])
PY
$VDK filesystems -a s1.img -a s2.img --output=json > s.json
expect_eq "$(json_get s.json '[(r["name"], r.get("vfs-label")) for r in j if r["type"] == "filesystem"]')" \
  "[('/dev/svg/striped', 'striped')]" "striped LV"
$VDK cat -a s1.img -a s2.img /dev/svg/striped:/blob | cmp - tree/blob || fail "file on a striped LV"
exit 0
