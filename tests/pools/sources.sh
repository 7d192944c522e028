#!/bin/bash
# find-storage-pool-sources(-as) for logical and disk pools: libvirt's
# <sources> XML for image files named by a source spec, and for the host's
# block devices (loop devices made here) with lvm2's pvs and sfdisk as the
# oracles of what is there.
. "$(dirname "$0")/../functions.sh"
export VDK_STATE_DIR=$TMP/state LVM_SUPPRESS_FD_WARNINGS=1
requires sfdisk

# ---- image files, restricted by a source spec ----
truncate -s 25M a1.img a2.img b.img none.img gpt.img dos.img
cat > a.xml <<EOF
<pool type='logical'><name>a</name>
  <source><device path='$TMP/a1.img'/><device path='$TMP/a2.img'/><name>vga</name></source>
  <target><path>/dev/vga</path></target></pool>
EOF
$VDK pool-create a.xml --build >/dev/null
$VDK pool-create-as b logical --source-dev "$TMP/b.img" --source-name vgb --target /dev/vgb \
  --build >/dev/null
printf 'label: gpt\n,4M\n' | sfdisk -q gpt.img
printf 'label: dos\n,4M\n' | sfdisk -q dos.img
cat > spec.xml <<EOF
<source>
  <device path='$TMP/none.img'/>
  <device path='$TMP/a2.img'/>
  <device path='$TMP/gpt.img'/>
  <device path='$TMP/b.img'/>
  <device path='$TMP/dos.img'/>
  <device path='$TMP/a1.img'/>
</source>
EOF
$VDK find-storage-pool-sources logical spec.xml > out
expect_eq "$(cat out)" "<sources>
  <source>
    <device path='$TMP/a2.img'/>
    <device path='$TMP/a1.img'/>
    <name>vga</name>
    <format type='lvm2'/>
  </source>
  <source>
    <device path='$TMP/b.img'/>
    <name>vgb</name>
    <format type='lvm2'/>
  </source>
</sources>" "logical sources"
$VDK find-storage-pool-sources disk --srcSpec spec.xml > out
expect_eq "$(cat out)" "<sources>
  <source>
    <device path='$TMP/gpt.img'/>
    <format type='gpt'/>
  </source>
  <source>
    <device path='$TMP/dos.img'/>
    <format type='dos'/>
  </source>
</sources>" "disk sources"
# one <source> of the output is a source spec in turn
sed -n '2,5p' out > one.xml
expect_eq "$($VDK find-storage-pool-sources disk one.xml)" "<sources>
  <source>
    <device path='$TMP/gpt.img'/>
    <format type='gpt'/>
  </source>
</sources>"
echo "<source><device path='$TMP/none.img'/></source>" > empty.xml
expect_eq "$($VDK find-storage-pool-sources logical empty.xml)" "<sources>
</sources>"

# refusals
expect_fail $VDK find-storage-pool-sources dir spec.xml
expect_eq "$(cat "$TMP/err")" "vdk: this function is not supported by the connection driver: pool type 'dir' does not support source discovery"
expect_fail $VDK find-storage-pool-sources-as fs localhost
expect_grep "pool type 'fs' does not support source discovery" "$TMP/err"
expect_fail $VDK find-storage-pool-sources nosuch
expect_eq "$(cat "$TMP/err")" "vdk: internal error: unknown storage pool type nosuch"
echo "<source><device path='$TMP/missing.img'/></source>" > missing.xml
expect_fail $VDK find-storage-pool-sources logical missing.xml
expect_grep "cannot open device '$TMP/missing.img': No such file or directory" "$TMP/err"
echo "<pool><name>x</name></pool>" > wrong.xml
expect_fail $VDK find-storage-pool-sources disk wrong.xml
expect_eq "$(wc -l < "$TMP/err")" 1
expect_fail $VDK find-storage-pool-sources logical nofile.xml
expect_grep "nofile.xml" "$TMP/err"
# a damaged PV label is skipped, the others are still found (a '!' in the
# PV UUID: vdk writes alphanumeric ones, so an 'X' there was no change one
# time in 62)
cp b.img bad.img
printf '!' | dd of=bad.img bs=1 seek=$((512 + 40)) conv=notrunc status=none
cmp -s b.img bad.img && fail "bad.img: the label was not changed"
echo "<source><device path='$TMP/bad.img'/><device path='$TMP/b.img'/></source>" > bad.xml
expect_eq "$($VDK find-storage-pool-sources logical bad.xml | grep -c '<device')" 1

# ---- the host's block devices: loop devices, lvm2 and sfdisk as oracles ----
[ "$(id -u)" = 0 ] || skip "the host scan needs root (loop devices)"
requires losetup pvcreate vgcreate pvs
loopof () {
  dev=$(losetup -f --show "$1" 2>/dev/null) || skip "no loop devices"
  cleanup_fn "losetup -d $dev"
}
vg=vgsrc$$
truncate -s 16M l1.img l2.img
loopof l1.img; l1=$dev
loopof l2.img; l2=$dev
loopof dos.img; ld=$dev
O=(--config 'global{activation=0} backup{backup=0 archive=0}' --devices "$l1,$l2")
pvcreate "${O[@]}" -q "$l1" "$l2" >/dev/null 2>&1 || fail "pvcreate"
vgcreate "${O[@]}" -q "$vg" "$l1" "$l2" >/dev/null 2>&1 || fail "vgcreate"
# pvs says which devices VG $vg has; vdk must list exactly those, sorted
want=$(pvs "${O[@]}" --noheadings -o pv_name,vg_name 2>/dev/null | awk -v v="$vg" '$2 == v {print $1}' | sort)
expect_eq "$(echo "$want" | wc -l)" 2 "pvs oracle"
$VDK find-storage-pool-sources-as logical > host.xml
got=$(python3 - host.xml "$vg" <<'PY'
import sys, xml.etree.ElementTree as ET
for s in ET.parse(sys.argv[1]).getroot():
    if s.findtext('name') == sys.argv[2]:
        assert s.find('format').get('type') == 'lvm2'
        print('\n'.join(d.get('path') for d in s.findall('device')))
PY
)
expect_eq "$got" "$want" "host scan: $vg's PVs"
# the dos image on a loop device: sfdisk sees a dos label there, and so does vdk
expect_eq "$(sfdisk --json "$ld" | json_get /dev/stdin 'j["partitiontable"]["label"]')" dos
$VDK find-storage-pool-sources-as disk > host.xml
expect_grep "<device path='$ld'/>" host.xml
python3 - host.xml "$ld" <<'PY' || fail "host scan: $ld is not a dos source"
import sys, xml.etree.ElementTree as ET
ok = [s for s in ET.parse(sys.argv[1]).getroot()
      if s.find('device').get('path') == sys.argv[2] and s.find('format').get('type') == 'dos']
sys.exit(0 if len(ok) == 1 else 1)
PY
# PVs are not disk sources
if grep -q "<device path='$l1'/>" host.xml; then fail "$l1 (a PV) listed as a disk source"; fi
