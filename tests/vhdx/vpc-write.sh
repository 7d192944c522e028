#!/bin/bash
# vdk-created VHD (vpc) images: qemu-img sees the same size and contents;
# vdk writes into qemu-created images.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/lib.sh"

scattered src.raw 12
scattered src2.raw 12
dd if=/dev/urandom of=src2.raw bs=1M seek=3 count=1 conv=notrunc status=none

for o in subformat=dynamic subformat=fixed force_size=on subformat=fixed,force_size=on; do
  "$VDK" convert -O vpc -o "$o" src.raw v.vpc
  expect_eq "$(vsize -f vpc v.vpc)" "$(vdk_vsize -f vpc v.vpc)" "virtual size ($o)"
  qemu-img compare -q -f raw -F vpc src.raw v.vpc || fail "qemu-img compare ($o)"
  case $o in *force_size=on*) expect_eq "$(vsize -f vpc v.vpc)" $((12 << 20)) "force_size";; esac
  case $o in *fixed*) ;; *)
    # holes stay holes: far less than 12 MiB allocated
    [ "$(stat -c %s v.vpc)" -lt $((12 << 20)) ] || fail "dynamic image is not sparse ($o)";;
  esac
  # overwrite everything with other data (existing and new blocks)
  "$VDK" convert -n -O vpc src2.raw v.vpc
  qemu-img compare -q -f raw -F vpc src2.raw v.vpc || fail "rewrite ($o)"
done

# Writing into qemu-created images.
for sub in dynamic fixed; do
  qemu-img create -q -f vpc -o subformat=$sub q.vpc 12M
  "$VDK" convert -n -O vpc src.raw q.vpc
  qemu-img compare -q -f raw -F vpc src.raw q.vpc || fail "write into qemu $sub image"
  "$VDK" convert -n -O vpc src2.raw q.vpc
  qemu-img compare -q -f raw -F vpc src2.raw q.vpc || fail "rewrite of qemu $sub image"
done

# qemu writes into vdk-created images, vdk reads
for sub in dynamic fixed; do
  "$VDK" create -q -f vpc -o subformat=$sub qw.vpc 12M
  qemu-img convert -n -f raw -O vpc src.raw qw.vpc
  "$VDK" compare -q -f vpc qw.vpc src.raw || fail "vdk reads what qemu wrote ($sub)"
done

"$VDK" create -f vpc -o help > h.txt
expect_grep "subformat=<string>" h.txt
expect_grep "force_size=<bool>" h.txt
expect_fail "$VDK" create -q -f vpc -o subformat=bogus x.vpc 1M
expect_grep "invalid subformat" "$TMP/err"
echo OK
