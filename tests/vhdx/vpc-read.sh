#!/bin/bash
# qemu-img-created VHD (vpc) images read back byte-exact; virtual sizes and
# CHS geometry agree with qemu-img for a range of sizes; probing as qemu.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/lib.sh"

scattered src.raw 12
for o in subformat=dynamic subformat=fixed subformat=dynamic,force_size=on subformat=fixed,force_size=on; do
  qemu-img convert -f raw -O vpc -o "$o" src.raw q.vpc
  expect_eq "$(vdk_vsize -f vpc q.vpc)" "$(vsize -f vpc q.vpc)" "virtual size ($o)"
  "$VDK" convert -f vpc -O raw q.vpc a.raw
  qemu-img convert -f vpc -O raw q.vpc b.raw
  same_raw a.raw b.raw
  # the source's data is all there
  cmp -n "$(stat -c %s src.raw)" a.raw src.raw || fail "data differs from the source ($o)"
done

# Holes: the ranges qemu-img map shows without data are the same for vdk.
qemu-img convert -f raw -O vpc src.raw q.vpc
holes () { grep '"data": false' | sed 's/.*"start": \([0-9]*\), "length": \([0-9]*\),.*/\1 \2/'; }
qemu-img map --output=json q.vpc | holes > qh.txt
"$VDK" map --output=json q.vpc | holes > vh.txt
[ -s qh.txt ] || fail "no holes in the test image"
cmp qh.txt vh.txt || { cat qh.txt vh.txt; fail "holes differ from qemu-img map"; }

# Probing: a dynamic VHD has its footer copy at offset 0; a fixed one only at
# the end, so qemu (and we) see it as raw unless told.
qemu-img create -q -f vpc -o subformat=dynamic d.vpc 5M
qemu-img create -q -f vpc -o subformat=fixed f.vpc 5M
"$VDK" info d.vpc > i.txt; expect_grep "file format: vpc" i.txt
expect_grep "cluster_size: 2097152" i.txt
"$VDK" info f.vpc > i.txt; expect_grep "file format: raw" i.txt
"$VDK" info -f vpc f.vpc > i.txt; expect_grep "file format: vpc" i.txt
expect_eq "$(qemu-img info f.vpc | sed -n 's/^file format: //p')" raw "qemu probe of fixed vpc"

# Geometry: the same virtual size (and CHS bytes) as qemu-img for sizes that
# hit each branch of the CHS algorithm, with and without force_size.
footer_chs () { tail -c 512 "$1" | od -An -tx1 -j28 -N36 | tr -d ' \n' | cut -c1-8,57-64; }
for s in 1M 10M 33M 1000M 3000000000 127G 2040G; do
  for fs in off on; do
    qemu-img create -q -f vpc -o force_size=$fs q.vpc "$s"
    "$VDK" create -q -f vpc -o force_size=$fs v.vpc "$s"
    expect_eq "$(vsize v.vpc)" "$(vsize q.vpc)" "virtual size of $s force_size=$fs"
    expect_eq "$(footer_chs v.vpc)" "$(footer_chs q.vpc)" "CHS of $s force_size=$fs"
    expect_eq "$(vdk_vsize q.vpc)" "$(vsize q.vpc)" "vdk's size of qemu's $s"
  done
done
# The CHS geometry and the footer's current size disagree: the creator app
# decides ("qemu": CHS, "win ": current size), force_size_calc overrides.
qemu-img create -q -f vpc cs.vpc 10M
for o in 48 -464; do poke cs.vpc $o 'Q>' $((10 * 1048576 + 4096)); done
crc cs.vpc vpc0; crc cs.vpc vpcend
cp cs.vpc win.vpc
for o in 28 -484; do poke win.vpc $o a4 "win "; done
crc win.vpc vpc0; crc win.vpc vpcend
for img in cs.vpc win.vpc; do
  expect_eq "$(vdk_vsize "$img")" "$(vsize "$img")" "size of $img"
  for c in chs current_size; do
    expect_eq "$(vdk_vsize "driver=vpc,file.filename=$img,force_size_calc=$c")" \
              "$(vsize --image-opts "driver=vpc,file.filename=$img,force_size_calc=$c")" "$img $c"
  done
done
[ "$(vdk_vsize cs.vpc)" != "$(vdk_vsize win.vpc)" ] || fail "the creator app made no difference"

expect_fail "$VDK" create -q -f vpc big.vpc 2041G
expect_grep "2040 GiB" "$TMP/err"
echo OK
