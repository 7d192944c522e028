#!/bin/bash
# measure: same numbers as qemu-img measure, for every format both support.
. "$(dirname "$0")/../functions.sh"
requires qemu-img

truncate -s 64M src.raw
head -c 3M /dev/urandom | dd of=src.raw bs=1M seek=10 conv=notrunc status=none
for fmt in $("$VDK" --help | sed -n 's/^Formats: //p'); do
  "$VDK" measure -O "$fmt" --size 1G > v.txt 2>v.err || {
    grep -q "does not support size measurement" v.err && continue
    cat v.err; fail "measure -O $fmt"
  }
  qemu-img measure -O "$fmt" --size 1G > q.txt 2>/dev/null || continue
  diff q.txt v.txt || fail "measure --size -O $fmt differs from qemu-img"
  "$VDK" measure --output=json -O "$fmt" src.raw > v.json
  qemu-img measure --output=json -O "$fmt" src.raw > q.json
  python3 -c 'import json; a=json.load(open("v.json")); b=json.load(open("q.json")); assert a==b, (a,b)' \
    || fail "measure of a source -O $fmt differs from qemu-img"
done

# qcow2: a table of cases, human and json output, against qemu-img
same () {   # same ARGS...: identical stdout, stderr (program name aside) and exit code
  local qrc=0 vrc=0
  qemu-img measure "$@" >q.out 2>q.err || qrc=$?
  "$VDK" measure "$@" >v.out 2>v.err || vrc=$?
  expect_eq "$vrc" "$qrc" "exit code of measure $*"
  diff q.out v.out >&2 || fail "measure $* prints other numbers than qemu-img"
  diff <(sed 's/^qemu-img: //' q.err) <(sed 's/^vdk: //' v.err) >&2 \
    || fail "measure $*: other messages than qemu-img"
}
qemu-img create -q -f qcow2 -o cluster_size=4k src.qcow2 64M
qemu-io -c 'write -P 1 0 1M' -c 'write -z 2M 1M' -c 'write -P 2 10M 100k' \
        -c 'write -c -P 3 20M 64k' -c 'write -P 4 30M 1' src.qcow2 >/dev/null
qemu-img snapshot -c snap1 src.qcow2
qemu-io -c 'write -P 5 40M 8M' src.qcow2 >/dev/null
qemu-img create -q -f qcow2 -b src.qcow2 -F qcow2 top.qcow2
qemu-io -c 'write -P 6 50M 64k' top.qcow2 >/dev/null
qemu-img create -q -f qcow2 -o compat=0.10 v2.qcow2 16M
qemu-io -c 'write -P 7 1M 1M' v2.qcow2 >/dev/null
qemu-img convert -O vmdk src.raw src.vmdk
cp src.qcow2 bm.qcow2
qemu-img bitmap --add bm.qcow2 b0
qemu-img bitmap --add -g 1M bm.qcow2 a_longer_bitmap_name
for size in 100M 1T; do
  for o in "" cluster_size=512 cluster_size=2M cluster_size=4k,refcount_bits=1 refcount_bits=64 \
           extended_l2=on preallocation=full preallocation=metadata compat=0.10; do
    same --size $size -O qcow2 ${o:+-o $o}
    [ $size != 100M ] || same --size $size -O qcow2 ${o:+-o $o} --output=json
  done
done
same --size 0 -O qcow2
for src in src.qcow2 top.qcow2 v2.qcow2 src.raw src.vmdk bm.qcow2; do
  for o in "" cluster_size=4k,refcount_bits=8 preallocation=full compat=0.10 \
           backing_file=x,backing_fmt=raw; do
    same -O qcow2 ${o:+-o $o} $src
  done
  same --output=json -O qcow2 -o extended_l2=on $src
  same -O raw --output=json $src
done
same -O qcow2 -f qcow2 -l snap1 src.qcow2
same -O qcow2 --output=json -l snapshot.name=snap1 bm.qcow2
same -O qcow2 -l snapshot.id=1 src.qcow2
# the errors qemu-img gives, with its messages
same -O qcow2 -l nosuch src.qcow2
same -O qcow2 -l snapshot.bogus=1 src.qcow2
same -O qcow2 -l snap1 src.raw
same --size 1G -l snap1
same --size 1G -f raw
same --size 1G src.raw
same src.raw src.qcow2
same --size 100T -O qcow2 -o cluster_size=512
for o in cluster_size=1000 cluster_size=4M cluster_size=4k,extended_l2=on refcount_bits=3 \
         refcount_bits=128 compat=0.10,refcount_bits=8 compat=9 preallocation=bogus; do
  same --size 1G -O qcow2 -o $o
done
# and what it measures is enough: a real convert fits in "required"
"$VDK" convert -O qcow2 -o cluster_size=4k src.qcow2 out.qcow2
req=$("$VDK" measure -O qcow2 -o cluster_size=4k --output=json src.qcow2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["required"])')
[ "$(stat -c %s out.qcow2)" -le "$req" ] || fail "vdk convert output larger than measured ($req)"

expect_rc 1 "$VDK" measure
expect_grep "Either --size N or one filename" "$TMP/err"
expect_rc 1 "$VDK" measure --size 1G src.raw
expect_rc 1 "$VDK" measure -O nosuch --size 1G
expect_rc 1 "$VDK" measure -o bogus=1 --size 1G
expect_grep "Invalid parameter 'bogus'" "$TMP/err"
echo OK
