#!/bin/bash
# qemu-img-created VHDX images (dynamic/fixed, several block and log sizes)
# read back byte-exact with the same virtual size and cluster size.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/lib.sh"

scattered src.raw 12
for o in subformat=dynamic subformat=fixed block_size=1M block_size=32M \
         subformat=fixed,block_size=2M block_state_zero=off \
         subformat=fixed,block_state_zero=off log_size=2M,block_size=4M; do
  qemu-img convert -f raw -O vhdx -o "$o" src.raw q.vhdx
  expect_eq "$(vdk_vsize q.vhdx)" "$(vsize q.vhdx)" "virtual size ($o)"
  qc=$(qemu-img info q.vhdx | sed -n 's/^cluster_size: //p')
  "$VDK" info q.vhdx > i.txt
  expect_grep "file format: vhdx" i.txt
  expect_grep "cluster_size: $qc" i.txt
  "$VDK" convert -O raw q.vhdx a.raw
  same_raw a.raw src.raw
done
# an empty image reads as zeroes, and "vdk map" sees no data
qemu-img create -q -f vhdx e.vhdx 9M
"$VDK" convert -O raw e.vhdx e.raw
cmp e.raw <(head -c 9M /dev/zero) || fail "empty image is not zero"
"$VDK" map --output=json e.vhdx > m.json
grep -q '"data": *true' m.json && fail "map of an empty image shows data"
grep -q '"data": *false' m.json || fail "no map output"
echo OK
