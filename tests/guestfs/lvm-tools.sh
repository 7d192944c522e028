#!/bin/bash
# LVM volumes made by the real lvm2 tools (activation disabled, on a loop
# device: no device-mapper needed): vdk must find the same LVs and read an
# ext4 filesystem written through lvm2's own extent map.
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
exit 0
