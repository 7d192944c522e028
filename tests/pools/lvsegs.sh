#!/bin/bash
# Logical volumes of several segments on several PVs (made by vdk, and by
# lvm2's lvcreate + lvextend with a PV argument): data written through
# vol:POOL/LV is found by dd at the PV offsets lvm2 reports
# (lvs seg_pe_ranges, pvs pe_start).  And per-LV locks: two LVs of one PV
# written at once, the same LV twice refused.
. "$(dirname "$0")/../functions.sh"
export VDK_STATE_DIR=$TMP/state LVM_SUPPRESS_FD_WARNINGS=1
MiB=1048576

requires_root
requires losetup pvs vgs lvs vgck lvcreate lvextend python3 mkfifo

loops=()
newloop () {   # newloop FILE SIZE -> sets $dev
  truncate -s "$2" "$1"
  dev=$(losetup -f --show "$1" 2>/dev/null) || skip "no loop devices"
  loops+=("$dev")
  cleanup_fn "losetup -d $dev"
}
rep () { "$@" --noheadings --nosuffix --units b --separator ' ' 2>/dev/null | sed 's/^ *//'; }
# The bytes of VG/LV read from its PVs with dd, where lvm2 says they are.
lv_bytes () {
  local r pv ext start end pestart
  ext=$(rep vgs "${O[@]}" -o vg_extent_size "${1%/*}")
  for r in $(rep lvs "${O[@]}" -o seg_pe_ranges "$1"); do
    pv=${r%%:*}; start=${r#*:}; start=${start%-*}; end=${r##*-}
    pestart=$(rep pvs "${O[@]}" -o pe_start "$pv")
    dd if="$pv" bs="$ext" skip=$((pestart + start * ext)) count=$((end - start + 1)) \
      status=none iflag=skip_bytes
  done
}

newloop pv1.img 25M; d1=$dev      # 6 extents of 4 MiB each
newloop pv2.img 25M; d2=$dev
O=(--config 'global{activation=0} backup{backup=0 archive=0}' --devices "$d1,$d2")

cat > lp.xml <<EOF
<pool type='logical'><name>lp</name>
  <source><device path='$d1'/><device path='$d2'/><name>vgs</name></source>
  <target><path>/dev/vgs</path></target></pool>
EOF
$VDK pool-create lp.xml --build >/dev/null
$VDK vol-create-as lp a 12M >/dev/null
$VDK vol-create-as lp b 4M >/dev/null
$VDK vol-resize a 28M --pool lp >/dev/null
expect_eq "$(rep lvs "${O[@]}" -o lv_name,seg_pe_ranges vgs)" "a $d1:0-2
a $d2:0-3
b $d1:3-3" "a grown onto the second PV"
vgck "${O[@]}" vgs 2>/dev/null || fail "vgck after vdk's resize"

# data through vol:lp/a lands where lvm2 says a is
rand_file a.raw 28
$VDK convert -n -O raw a.raw vol:lp/a
lv_bytes vgs/a | cmp - a.raw || fail "PV extents of the two-PV LV a"
$VDK vol-download a --pool lp back.raw
cmp back.raw a.raw || fail "vol-download of a"
expect_rc 0 $VDK compare vol:lp/a a.raw
expect_eq "$($VDK info --output=json vol:lp/a | json_get /dev/stdin 'j["virtual-size"]')" $((28 * MiB))

# an LV lvm2 itself made of two segments on two PVs
lvcreate "${O[@]}" -Zn -Wn -l 1 -n m vgs "$d2" >/dev/null 2>&1 || fail "lvcreate"
lvextend "${O[@]}" -l +1 vgs/m "$d1" >/dev/null 2>&1 || fail "lvextend"
expect_eq "$(rep lvs "${O[@]}" -o seg_pe_ranges vgs/m)" "$d2:4-4
$d1:4-4" "lvm2's m"
$VDK pool-refresh lp >/dev/null
rand_file m.raw 8
$VDK vol-upload m m.raw --pool lp
lv_bytes vgs/m | cmp - m.raw || fail "PV extents of lvm2's m"
# vol-clone of a multi-segment LV into a dir pool and back (convert to/from it)
mkdir dp
$VDK pool-create-as dp dir --target "$TMP/dp" >/dev/null
printf '<volume><name>m.qcow2</name><capacity>8388608</capacity><target><format type="qcow2"/></target></volume>' > m.xml
$VDK vol-create-from dp m.xml m --inputpool lp >/dev/null
expect_rc 0 $VDK compare dp/m.qcow2 m.raw
$VDK vol-wipe m --pool lp >/dev/null
lv_bytes vgs/m | cmp - <(head -c $((8 * MiB)) /dev/zero) || fail "vol-wipe of m"
$VDK convert -n -f qcow2 -O raw dp/m.qcow2 vol:lp/m
lv_bytes vgs/m | cmp - m.raw || fail "convert into m"
# vol-clone inside the VG: source and copy share the PVs (per-LV locks)
expect_eq "$($VDK vol-clone m m2 --pool lp)" "Vol m2 cloned from m"
lv_bytes vgs/m2 | cmp - m.raw || fail "vol-clone of m"
$VDK vol-delete m2 --pool lp >/dev/null
vgck "${O[@]}" vgs 2>/dev/null || fail "vgck at the end"

# ---- per-LV locks ----
# A vdk writer of a that waits on a FIFO holds a open the whole time.
mkfifo in.fifo
$VDK vol-upload a in.fifo --pool lp 2>upload.err &
holder=$!
cleanup_fn "kill $holder 2>/dev/null"
exec 3>in.fifo
for i in $(seq 100); do
  ls -l /proc/$holder/fd 2>/dev/null | grep -q "$d1" && break
  sleep 0.05
done
ls -l /proc/$holder/fd | grep -q "$d1" || fail "the holder did not open a"
# another LV of the same PVs: written at once
rand_file b.raw 4
expect_rc 0 $VDK convert -n -O raw b.raw vol:lp/b
expect_rc 0 $VDK vol-upload b b.raw --pool lp
lv_bytes vgs/b | cmp - b.raw || fail "b written while a is open"
# the same LV twice: refused, naming the window
expect_fail $VDK convert -n -O raw a.raw vol:lp/a
expect_grep "$d1 (the window at offset 1048576): Failed to get \"write\" lock" "$TMP/err"
expect_fail $VDK vol-upload a a.raw --pool lp
expect_grep "volume 'a' is in use" "$TMP/err"
expect_fail $VDK vol-wipe a --pool lp
expect_grep "volume 'a' is in use" "$TMP/err"
# a writer of the whole PV is refused (vdk's and qemu's)
expect_fail $VDK convert -n -O raw a.raw "$d2"
expect_grep "$d2: Failed to get \"write\" lock" "$TMP/err"
if command -v qemu-io >/dev/null; then
  expect_fail qemu-io -f raw -c 'read 0 512' "$d2"
  expect_grep "Failed to get \"write\" lock" "$TMP/err"
fi
head -c $((28 * MiB)) a.raw >&3
exec 3>&-
wait $holder || { cat upload.err >&2; fail "the holder's upload failed"; }
lv_bytes vgs/a | cmp - a.raw || fail "a after the held upload"

# vol-delete of an LV somebody writes (a process holding a's window locks
# as vdk does: perms read/write/resize, unshared write/resize)
python3 - "$d1" $MiB <<'PY' &
import fcntl, os, struct, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
w = int(sys.argv[2])
for b in (w + 100, w + 101, w + 103, w + 201, w + 203, 201, 203):
    fcntl.fcntl(fd, 37, struct.pack('hhqqi', fcntl.F_RDLCK, 0, b, 1, 0))  # F_OFD_SETLK
open('locked', 'w').close()
time.sleep(30)
PY
py=$!
cleanup_fn "kill $py 2>/dev/null"
for i in $(seq 100); do [ -e locked ] && break; sleep 0.05; done
expect_fail $VDK vol-delete a --pool lp
expect_grep "volume 'a' is in use" "$TMP/err"
expect_rc 0 $VDK vol-delete b --pool lp
kill $py; wait $py 2>/dev/null || true
expect_eq "$(rep lvs "${O[@]}" -o lv_name vgs | tr '\n' ' ')" "a m "
