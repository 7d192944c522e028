#!/bin/bash
# Where libguestfs is installed: vdk filesystems --all must agree with
# virt-filesystems --all --long on names, types, VFS types, labels and
# partition sizes of the same guest (MBR + logical partitions + LVM).
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/mkguest.sh"
requires virt-filesystems mkfs.ext4 mkswap sfdisk python3
export LIBGUESTFS_BACKEND=direct

make_trees
mkfs_ext4 boot.img 16 BOOT $BOOT_UUID tree/boot
mkfs_ext4 root.img 12 root $ROOT_UUID tree/root
make_swap swap.img 4
truncate -s 64M g.img
sfdisk -q g.img <<'SF'
label: dos
start=2048, size=32768, type=83
start=34816, size=90112, type=5
start=36864, size=40960, type=8e
SF
put g.img boot.img 1
# VG vgcmp on sda5 (4 extents of 4 MiB): root PE 0-2, swap PE 3
python3 "$(dirname "$0")/mkvg.py" vgcmp 4 --pv g.img:$((18 * MiB)):$((20 * MiB)) --lv root:0:0:3 --lv swap:0:3:1
put g.img root.img 19
put g.img swap.img 31

timeout 300 virt-filesystems --all --long --csv -a g.img > lg.csv 2> lg.err || skip "virt-filesystems failed: $(tail -1 lg.err)"
$VDK filesystems --all --output=json -a g.img > vdk.json
python3 - lg.csv vdk.json <<'PY'
import csv, json, sys
lg = list(csv.DictReader(open(sys.argv[1])))
vdk = json.load(open(sys.argv[2]))
def key(name, typ): return (name, typ)
L = {key(r["Name"], r["Type"]): r for r in lg}
V = {key(r["name"], r["type"]): r for r in vdk}
for k in L:
    if k[1] in ("filesystem", "partition", "lv", "vg", "pv", "device"):
        assert k in V, "vdk misses %s" % (k,)
for k, r in V.items():
    if k[1] == "filesystem":
        l = L.get(k)
        assert l, "libguestfs does not list %s" % (k,)
        assert l["VFS"] == r.get("vfs-type", ""), (l, r)
        assert l["Label"] == r.get("vfs-label", "") or (l["Label"] in ("", "-") and not r.get("vfs-label")), (l, r)
    if k[1] == "partition" and r.get("mbr-id") not in ("05", "0f", "85"):
        assert int(L[k]["Size"]) == r["size"], (L[k], r)
print("compared %d rows" % len(V))
PY
exit 0
