#!/bin/bash
# Resize (grow, L1 growth, preallocated growth, shrink like qemu) and amend
# (compat, lazy_refcounts, refcount_bits), checked with qemu-img.
. "$(dirname "$0")/../functions.sh"
requires qemu-img qemu-io
W="$BUILDDIR/tests/qcow2/qcow2-writer"
[ -x "$W" ] || skip "qcow2-writer not built"

clean () {
  qemu-img check "$1" > chk.txt 2>&1 || { cat chk.txt; fail "$2: qemu-img check failed"; }
  expect_grep "No errors were found on the image." chk.txt
}

for o in "" cluster_size=512 extended_l2=on compat=0.10; do
  rm -f r.qcow2
  "$VDK" create -q -f qcow2 ${o:+-o $o} r.qcow2 2M
  truncate -s 0 sh.raw; truncate -s 2M sh.raw
  "$W" r.qcow2 sh.raw 1 30 65536 cache=unsafe || fail "writer ($o)"
  # grow a lot: the L1 table must grow (512-byte clusters: 32 KiB per entry)
  "$VDK" resize -q r.qcow2 64M
  truncate -s 64M sh.raw
  [ "$(qemu-img info --output=json r.qcow2 | grep '"virtual-size"' | tr -dc 0-9)" = 67108864 ] ||
    fail "size after grow ($o)"
  clean r.qcow2 "grow ($o)"
  qemu-img compare -q sh.raw r.qcow2 || fail "contents after grow ($o)"
  "$W" r.qcow2 sh.raw 2 30 65536 cache=unsafe || fail "writer after grow ($o)"
  clean r.qcow2 "writes after grow ($o)"
  # shrink needs --shrink, then drops the tail (as qemu does)
  expect_rc 1 "$VDK" resize r.qcow2 1M
  expect_grep "shrink" "$TMP/err"
  "$VDK" resize -q --shrink r.qcow2 1M
  truncate -s 1M sh.raw
  clean r.qcow2 "shrink ($o)"
  qemu-img compare -q sh.raw r.qcow2 || fail "contents after shrink ($o)"
  # grow again: the old tail reads as zeroes
  "$VDK" resize -q r.qcow2 +1M
  truncate -s 2M sh.raw
  qemu-img compare -q sh.raw r.qcow2 || fail "regrown tail not zero ($o)"
  clean r.qcow2 "regrow ($o)"
done

# preallocated growth
for p in metadata falloc full; do
  "$VDK" create -q -f qcow2 p.qcow2 1M
  "$VDK" resize -q --preallocation=$p p.qcow2 3M
  clean p.qcow2 "grow with preallocation=$p"
  qemu-img map --output=json p.qcow2 > map.txt
  grep -q '"start": 1048576.*"data": true' map.txt || grep -q '"zero": true, "data": true' map.txt ||
    fail "preallocation=$p allocated nothing"
  truncate -s 3M z.raw
  qemu-img compare -q z.raw p.qcow2 || fail "preallocation=$p does not read zeroes"
  rm -f p.qcow2
done

# sizes are whole 512-byte sectors, as qemu keeps them
"$VDK" create -q -f qcow2 u.qcow2 1000
[ "$(qemu-img info --output=json u.qcow2 | grep '"virtual-size"' | tr -dc 0-9)" = 1024 ] ||
  fail "create did not round the size up to 512"
expect_rc 1 "$VDK" resize u.qcow2 3000
expect_grep "multiple of 512" "$TMP/err"

# shrinking with internal snapshots (as qemu-img 7.2; more in cli/parity-qemu.sh):
# the snapshot keeps its size and data
"$VDK" create -q -f qcow2 s.qcow2 2M
qemu-io -c 'write -P 6 0 2M' s.qcow2 > /dev/null
"$VDK" snapshot -c s s.qcow2
"$VDK" resize -q --shrink s.qcow2 1M
qemu-img check -q s.qcow2 || fail "check after a shrink with a snapshot"
"$VDK" snapshot -a s s.qcow2
[ "$(qemu-img info --output=json s.qcow2 | grep '"virtual-size"' | tr -dc 0-9)" = 2097152 ] ||
  fail "snapshot -a after a shrink: not the snapshot's size"
qemu-io -c 'read -P 6 0 2M' s.qcow2 | grep -q "^read 2097152/2097152" || fail "snapshot data lost"

# amend
"$VDK" create -q -f qcow2 a.qcow2 4M
qemu-io -c 'write -P 3 0 1M' -c 'write -c 2M 64k' a.qcow2 > /dev/null
qemu-img convert -O raw a.qcow2 a.raw
"$VDK" amend -o lazy_refcounts=on a.qcow2
qemu-img info a.qcow2 | grep -q "lazy refcounts: true" || fail "amend lazy_refcounts=on"
"$VDK" amend -o lazy_refcounts=off a.qcow2
for rb in 1 8 64 16; do
  "$VDK" amend -o refcount_bits=$rb a.qcow2
  qemu-img info a.qcow2 | grep -q "refcount bits: $rb" || fail "amend refcount_bits=$rb"
  clean a.qcow2 "refcount_bits=$rb"
  qemu-img compare -q a.raw a.qcow2 || fail "data after refcount_bits=$rb"
done
"$VDK" amend -o compat=0.10 a.qcow2
qemu-img info a.qcow2 | grep -q "compat: 0.10" || fail "amend compat=0.10"
clean a.qcow2 "compat=0.10"
qemu-img compare -q a.raw a.qcow2 || fail "data after compat=0.10"
"$VDK" amend -o compat=1.1 a.qcow2
qemu-img info a.qcow2 | grep -q "compat: 1.1" || fail "amend compat=1.1"
clean a.qcow2 "compat=1.1"
expect_rc 1 "$VDK" amend -o cluster_size=4k a.qcow2
# zero clusters are expanded on a downgrade, with and without a backing file
qemu-io -c 'write -z 0 64k' -c 'write -z -u 1M 64k' a.qcow2 > /dev/null
qemu-img convert -O raw a.qcow2 a.raw
"$VDK" amend -o compat=0.10 a.qcow2
clean a.qcow2 "downgrade with zero clusters"
qemu-img compare -q a.raw a.qcow2 || fail "data after downgrading zero clusters"
head -c 2M /dev/urandom > bk.raw
qemu-img create -q -f qcow2 -b bk.raw -F raw o.qcow2 2M
qemu-io -c 'write -z 0 64k' -c 'write -z 1M 4k' o.qcow2 > /dev/null
qemu-img convert -O raw o.qcow2 o.raw
"$VDK" amend -o compat=0.10 o.qcow2
clean o.qcow2 "downgrade of an overlay with zero clusters"
qemu-img compare -q o.raw o.qcow2 || fail "overlay data after downgrade"
echo OK
