#!/bin/bash
# logical pools (LVM2 written by vdk itself) on loop devices, with lvm2's
# pvs/vgs/lvs/vgck as the oracle after every change (activation disabled:
# no device-mapper), data through vol:POOL/LV checked against the PV
# extents read with dd, an lvm2-made VG adopted (and its small metadata
# ring wrapped by vdk), and the refusals.
. "$(dirname "$0")/../functions.sh"
export VDK_STATE_DIR=$TMP/state LVM_SUPPRESS_FD_WARNINGS=1
MiB=1048576

# ---- image files as PVs (no root needed) ----
truncate -s 32M f.img
$VDK pool-create-as lf logical --source-dev "$TMP/f.img" --source-name vgf --target /dev/vgf \
  --build >/dev/null
$VDK vol-create-as lf one 5M >/dev/null
expect_eq "$($VDK vol-info one --pool lf --bytes | awk '/Capacity/{print $2}')" 8388608
head -c $((5 * MiB)) /dev/urandom > o.raw
$VDK convert -n -O raw o.raw vol:lf/one
dd if=f.img bs=$MiB skip=1 count=5 status=none | cmp - o.raw || fail "image-file PV extents"
expect_rc 0 $VDK compare o.raw vol:lf/one
expect_eq "$($VDK info --output=json vol:lf/one | json_get /dev/stdin 'j["virtual-size"]')" 8388608
# a corrupt metadata area header is one clear error
$VDK pool-destroy lf >/dev/null
printf 'X' | dd of=f.img bs=1 seek=$((4096 + 100)) conv=notrunc status=none
expect_fail $VDK pool-create-as lf logical --source-dev "$TMP/f.img" --source-name vgf \
  --target /dev/vgf
expect_grep "f.img: LVM2 metadata area header checksum mismatch" "$TMP/err"
expect_eq "$(wc -l < "$TMP/err")" 1

requires_root
requires losetup pvs vgs lvs vgck vgcreate lvcreate pvcreate

loops=()
newloop () {   # newloop FILE SIZE -> sets $dev
  truncate -s "$2" "$1"
  dev=$(losetup -f --show "$1" 2>/dev/null) || skip "no loop devices"
  loops+=("$dev")
  cleanup_fn "losetup -d $dev"
}
# lvm2 confined to our devices, activation and backups off
lvm_o () {
  local IFS=,
  O=(--config 'global{activation=0} backup{backup=0 archive=0}' --devices "${*}")
}
rep () { "$@" --noheadings --nosuffix --units b --separator ' ' 2>/dev/null | sed 's/^ *//'; }
seqno () { rep vgs "${O[@]}" -o vg_seqno "$1"; }
segs () { rep lvs "${O[@]}" -o lv_name,lv_size,seg_pe_ranges "$1"; }
check_vg () { vgck "${O[@]}" "$1" 2>"$TMP/vgck" || { cat "$TMP/vgck" >&2; fail "vgck $1"; }
  grep -v 'WARNING: Activation disabled' "$TMP/vgck" | grep . && fail "vgck $1 complained"
  return 0; }

newloop pv1.img 64M; d1=$dev
lvm_o "$d1"

# ---- build: one PV ----
expect_eq "$($VDK pool-define-as lp logical --source-dev "$d1" --source-name vg1 --target /dev/vg1)" \
  "Pool lp defined"
expect_eq "$($VDK pool-build lp)" "Pool lp built"
expect_eq "$(rep pvs "${O[@]}" -o pv_name,vg_name,pv_size,pv_free,pe_start)" \
  "$d1 vg1 62914560 62914560 1048576" "pvs after build"
expect_eq "$(rep vgs "${O[@]}" -o vg_name,vg_extent_size,vg_extent_count,vg_free_count,vg_seqno)" \
  "vg1 4194304 15 15 1" "vgs after build"
check_vg vg1
# A second build without --overwrite adopts the VG; --no-overwrite refuses.
expect_rc 0 $VDK pool-build lp
expect_eq "$(seqno vg1)" 1 "pool-build kept the VG"
expect_fail $VDK pool-build lp --no-overwrite
expect_grep "already contains data (an LVM2 physical volume) (use --overwrite" "$TMP/err"
expect_eq "$($VDK pool-start lp)" "Pool lp started"

# ---- volumes ----
expect_eq "$($VDK vol-create-as lp a 10M)" "Vol a created"
expect_eq "$(seqno vg1)" 2
$VDK vol-create-as lp b 8M >/dev/null
$VDK vol-create-as lp c 4M >/dev/null
expect_eq "$(segs vg1)" "a 12582912 $d1:0-2
b 8388608 $d1:3-4
c 4194304 $d1:5-5" "lvs after create"
check_vg vg1
expect_eq "$($VDK vol-info b --pool lp | awk '/Capacity/{print $2 $3}')" "8.00MiB"
expect_eq "$($VDK vol-key b --pool lp)" "$(rep lvs "${O[@]}" -o lv_uuid vg1/b)" "vol-key = LV UUID"
expect_eq "$($VDK pool-info lp --bytes | awk '/Capacity/{print $2}')" 62914560
expect_eq "$($VDK vol-path --pool=lp a)" \
  "driver=raw,offset=1048576,size=12582912,file.filename=$d1,file.lock-offset=1048576"

# data through vol:, checked against the PV extents
rand_file x.raw 8
$VDK convert -n -O raw x.raw vol:lp/b
dd if="$d1" bs=$MiB skip=$((1 + 3 * 4)) count=8 status=none | cmp - x.raw || fail "PV extents of b"
$VDK convert -O raw vol:lp/b y.raw
cmp x.raw y.raw || fail "read back through vol:lp/b"
expect_rc 0 $VDK compare vol:lp/b x.raw

# delete b, grow a: the hole after a is used first, then c's neighbour
expect_eq "$($VDK vol-delete --pool=lp b)" "Vol b deleted"
expect_eq "$(seqno vg1)" 5
$VDK vol-resize --pool=lp a 20M >/dev/null
expect_eq "$(segs vg1)" "a 20971520 $d1:0-4
c 4194304 $d1:5-5" "a grown in place"
# fragmented: delete c (5), e needs 5 extents: 5 + 11-14, a multi-segment LV
$VDK vol-create-as lp d 16M >/dev/null
$VDK vol-create-as lp f 4M >/dev/null
expect_eq "$($VDK vol-delete --pool=lp c)" "Vol c deleted"
$VDK vol-create-as lp e 20M >/dev/null
expect_eq "$(segs vg1)" "a 20971520 $d1:0-4
d 16777216 $d1:6-9
e 20971520 $d1:5-5
e 20971520 $d1:11-14
f 4194304 $d1:10-10" "multi-segment e"
check_vg vg1
# its data: extent 5, then 11-14 of the PV (lvs' seg_pe_ranges)
rand_file e.raw 20
$VDK convert -n -O raw e.raw vol:lp/e
cat <(dd if="$d1" bs=$MiB skip=$((1 + 5 * 4)) count=4 status=none) \
    <(dd if="$d1" bs=$MiB skip=$((1 + 11 * 4)) count=16 status=none) | cmp - e.raw \
  || fail "PV extents of the multi-segment e"
expect_rc 0 $VDK compare vol:lp/e e.raw
# no free space left
expect_fail $VDK vol-create-as lp g 12M
expect_grep "not enough free space in volume group 'vg1': 3 extents needed, 0 free" "$TMP/err"
expect_fail $VDK vol-resize --pool=lp a 100M
s=$(seqno vg1)
# vol-wipe zeroes the extents
$VDK convert -n -O raw x.raw vol:lp/d 2>/dev/null || true
$VDK vol-wipe --pool=lp d >/dev/null
dd if="$d1" bs=$MiB skip=$((1 + 6 * 4)) count=16 status=none | cmp - <(head -c $((16 * MiB)) /dev/zero) \
  || fail "vol-wipe"
# shrink needs --shrink
expect_fail $VDK vol-resize --pool=lp a 8M
$VDK vol-resize --pool=lp a 8M --shrink >/dev/null
expect_eq "$(segs vg1 | head -1)" "a 8388608 $d1:0-1"
expect_eq "$(seqno vg1)" $((s + 1))
check_vg vg1
expect_eq "$($VDK vol-list lp | awk 'NR>2 && NF {print $1}' | tr '\n' ' ')" "a d e f "

# pool-delete refuses a VG with LVs
$VDK pool-destroy lp >/dev/null
expect_fail $VDK pool-delete lp
expect_grep "still has 4 logical volume(s)" "$TMP/err"
$VDK pool-start lp >/dev/null
for v in a d e f; do $VDK vol-delete --pool=lp $v >/dev/null; done
check_vg vg1
$VDK pool-destroy lp >/dev/null
expect_eq "$($VDK pool-delete lp)" "Pool lp deleted"
rep pvs "${O[@]}" -o pv_name | grep -q . && fail "PV label left after pool-delete"
$VDK pool-undefine lp >/dev/null

# ---- two PVs; refusal to overwrite data ----
newloop pv2.img 40M; d2=$dev
lvm_o "$d1" "$d2"
head -c 4096 /dev/urandom | dd of="$d2" conv=notrunc status=none
# (pool-define-as takes one --source-dev, as virsh's does: XML for two)
cat > lp2.xml <<EOF
<pool type='logical'>
  <name>lp2</name>
  <source>
    <device path='$d1'/>
    <device path='$d2'/>
    <name>vg2</name>
  </source>
  <target><path>/dev/vg2</path></target>
</pool>
EOF
$VDK pool-define lp2.xml >/dev/null
expect_fail $VDK pool-build lp2
expect_grep "already contains data (its first 64 KiB are not zeroes; use --overwrite to destroy it)" "$TMP/err"
expect_rc 0 $VDK pool-build lp2 --overwrite
$VDK pool-start lp2 >/dev/null
expect_eq "$(rep vgs "${O[@]}" -o vg_name,pv_count,vg_extent_count vg2)" "vg2 2 24"
$VDK vol-create-as lp2 big 80M >/dev/null
expect_eq "$(segs vg2)" "big 83886080 $d1:0-14
big 83886080 $d2:0-4" "LV over two PVs"
$VDK vol-create-as lp2 small 4M >/dev/null
expect_eq "$(segs vg2 | tail -1)" "small 4194304 $d2:5-5"
check_vg vg2
rand_file s.raw 4
$VDK convert -n -O raw s.raw vol:lp2/small
dd if="$d2" bs=$MiB skip=$((1 + 5 * 4)) count=4 status=none | cmp - s.raw || fail "PV2 extents"
expect_eq "$($VDK pool-info lp2 | awk '/Available/{print $2 $3}')" "12.00MiB"
$VDK pool-destroy lp2 >/dev/null
$VDK pool-undefine lp2 >/dev/null

# ---- adopt an lvm2-made VG with a 32 KiB metadata ring; wrap it ----
newloop pv3.img 48M; d3=$dev
lvm_o "$d3"
pvcreate "${O[@]}" -q --metadatasize 32k --dataalignment 4k "$d3" >/dev/null 2>&1
vgcreate "${O[@]}" -q vg3 "$d3" >/dev/null 2>&1
lvcreate "${O[@]}" -q -Zn -Wn -L 8M -n made vg3 >/dev/null 2>&1
peb=$(rep pvs "${O[@]}" -o pe_start)
$VDK pool-create-as lp3 logical --source-dev "$d3" --source-name vg3 --target /dev/vg3 >/dev/null
expect_eq "$($VDK vol-list lp3 | awk 'NR>2 && NF {print $1}')" "made"
rand_file m.raw 8
$VDK convert -n -O raw m.raw vol:lp3/made
dd if="$d3" bs=4096 skip=$((peb / 4096)) count=2048 status=none | cmp - m.raw || fail "adopted LV"
s=$(seqno vg3)
ringoff () { pvck --dump headers "$d3" 2>/dev/null | awk '/raw_locn\[0\]\.offset/ {print $2}'; }
last=$(ringoff) wraps=0
for i in $(seq 1 12); do
  $VDK vol-create-as lp3 t$i 4M >/dev/null
  $VDK vol-delete --pool=lp3 t$((i - 1)) >/dev/null 2>&1 || true
  off=$(ringoff)
  [ "$off" -lt "$last" ] && wraps=$((wraps + 1))
  last=$off
done
[ $wraps -ge 1 ] || fail "the metadata ring did not wrap"
expect_eq "$(seqno vg3)" $((s + 23))
check_vg vg3
expect_eq "$(segs vg3)" "made 8388608 $d3:0-1
t12 4194304 $d3:3-3"
# and lvm2 still changes what vdk wrote; vdk reads it back
lvextend "${O[@]}" -q -L +4M vg3/t12 >/dev/null 2>&1 || fail "lvextend after vdk"
expect_eq "$($VDK vol-info t12 --pool lp3 | awk '/Capacity/{print $2 $3}')" "8.00MiB"
$VDK pool-destroy lp3 >/dev/null
exit 0
