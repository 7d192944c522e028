#!/bin/bash
# Differencing vmdk: a child over a parent (parentFileNameHint/parentCID),
# made by vdk and by qemu-img, read and written (partial grains copy the
# parent's bytes around the write) and checked against qemu-img.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/common.sh"

size=$(( 4 * 1048576 ))
mkraw src.raw $size
"$VDK" convert -O vmdk src.raw parent.vmdk
pcid=$("$VDK" info --output=json parent.vmdk | json_get /dev/stdin "j['format-specific']['data']['cid']")

for sub in monolithicSparse twoGbMaxExtentSparse; do
  rm -f child*.vmdk
  "$VDK" create -q -f vmdk -o subformat=$sub -b parent.vmdk child.vmdk
  qemu-img info --output=json child.vmdk > qi.json
  expect_eq "$(json_get qi.json "j['backing-filename']")" parent.vmdk "$sub backing file"
  expect_eq "$(json_get qi.json "j['format-specific']['data']['parent-cid']")" "$pcid" "$sub parent cid"
  expect_eq "$(json_get qi.json "j['virtual-size']")" $size "$sub size from the parent"
  "$VDK" info child.vmdk > vi.txt; qemu-img info child.vmdk > qi.txt
  diff -u qi.txt vi.txt || fail "$sub: child info differs from qemu-img"
  "$VDK" info --backing-chain --output=json child.vmdk > vi.json
  qemu-img info --backing-chain --output=json child.vmdk > qc.json
  diff -u qc.json vi.json || fail "$sub: backing chain JSON differs from qemu-img"
  qemu-img compare -f raw -F vmdk src.raw child.vmdk || fail "$sub: empty child reads the parent"
  cp src.raw ref.raw
  ccid=$(json_get qi.json "j['format-specific']['data']['cid']")
  "$VMDK_IO" child.vmdk vmdk ref.raw 1000:3000:1 65536:65536:2 200000:70000:3 4190000:4000:4
  # the first write gives the child a new CID (as VMware and qemu); parentCID stays
  qemu-img info --output=json child.vmdk > qi2.json
  [ "$(json_get qi2.json "j['format-specific']['data']['cid']")" != "$ccid" ] || fail "$sub: CID not updated"
  expect_eq "$(json_get qi2.json "j['format-specific']['data']['parent-cid']")" "$pcid" "$sub parent cid after writes"
  qemu-img check child.vmdk >/dev/null || fail "$sub child check"
  qemu-img compare -f raw -F vmdk ref.raw child.vmdk || fail "$sub: child after writes (qemu)"
  "$VDK" convert -O raw child.vmdk out.raw
  cmp out.raw ref.raw || fail "$sub: child after writes (vdk)"
  "$VDK" convert -O raw parent.vmdk out.raw
  cmp out.raw src.raw || fail "$sub: the parent changed"
  # -B: convert only what differs from the parent into a new child
  rm -f c2.vmdk
  "$VDK" convert -O vmdk -B parent.vmdk child.vmdk c2.vmdk
  qemu-img compare -f raw -F vmdk ref.raw c2.vmdk || fail "$sub: convert -B"
done

# zeroing a child hides the parent: zeroed-grain entries or zero grains
truncate -s $size zeros.raw
for zg in on off; do
  rm -f zc.vmdk
  "$VDK" create -q -f vmdk -o zeroed_grain=$zg -b parent.vmdk zc.vmdk
  cp src.raw ref.raw
  "$VMDK_IO" zc.vmdk vmdk ref.raw 100:5000:1 1048576:70000:2
  "$VDK" convert -n -f raw zeros.raw zc.vmdk
  qemu-img compare -f raw -F vmdk zeros.raw zc.vmdk || fail "zeroed child (zeroed_grain=$zg)"
  qemu-img check zc.vmdk > /dev/null || fail "zeroed child check"
done

# a qemu-made child over the vdk parent, written by qemu-io
if command -v qemu-io >/dev/null; then
  qemu-img create -q -f vmdk -b parent.vmdk -F vmdk qchild.vmdk
  qemu-io -f vmdk -c "write -P 0x5a 70000 5000" -c "write -P 0xa5 1048576 65536" qchild.vmdk >/dev/null
  raw_of qchild.vmdk qref.raw
  "$VDK" convert -O raw qchild.vmdk out.raw
  cmp out.raw qref.raw || fail "qemu-made child"
  "$VDK" info qchild.vmdk > vi.txt; qemu-img info qchild.vmdk > qi.txt
  diff -u qi.txt vi.txt || fail "qemu child info"
fi

# parent CID is read from the parent; non-vmdk parents are refused (as qemu)
expect_fail "$VDK" create -q -f vmdk -b src.raw -F raw bad.vmdk
expect_grep "must be a vmdk" "$TMP/err"
expect_fail "$VDK" create -q -f vmdk -o subformat=monolithicFlat -b parent.vmdk bad.vmdk
# a parent written after the child was made gets a new CID: the child then
# refuses to show it (as qemu-img does)
"$VDK" convert -O vmdk src.raw p2.vmdk
"$VDK" create -q -f vmdk -b p2.vmdk c3.vmdk
truncate -s $size junk.raw
"$VMDK_IO" p2.vmdk vmdk junk.raw 0:512:5
expect_rc 1 "$VDK" convert -O raw c3.vmdk out.raw
expect_grep "parentCID .* does not match CID" "$TMP/err"
if qemu-img convert -O raw c3.vmdk out.raw 2>/dev/null; then fail "qemu-img reads it?"; fi

# a missing parent is a clear error at open
"$VDK" create -q -f vmdk -b parent.vmdk orphan.vmdk
mv parent.vmdk gone.vmdk
expect_fail "$VDK" convert -O raw orphan.vmdk out.raw
expect_grep "parent.vmdk" "$TMP/err"
echo OK
