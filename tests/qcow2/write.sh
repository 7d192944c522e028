#!/bin/bash
# Images vdk creates and writes (random offsets and sizes, checked against a
# raw shadow copy) pass qemu-img check with no errors and no leaks, and
# compare equal with qemu-img compare.
. "$(dirname "$0")/../functions.sh"
requires qemu-img python3
W="$BUILDDIR/tests/qcow2/qcow2-writer"
# cache=unsafe: flushes are no-ops (the crash test covers ordering), the
# test stays fast
w () { "$W" "$@"; }
wu () { "$W" "$1" "$2" "$3" "$4" "${5:-262144}" cache=unsafe; }
[ -x "$W" ] || skip "qcow2-writer not built"

clean () {   # clean IMAGE WHAT: qemu-img check finds nothing at all
  qemu-img check "$1" > chk.txt 2>&1 || { cat chk.txt; fail "$2: qemu-img check failed"; }
  expect_grep "No errors were found on the image." chk.txt
}

seed=1
for o in "" cluster_size=512 cluster_size=4k,refcount_bits=1 cluster_size=2M \
         compat=0.10 refcount_bits=64,cluster_size=1k refcount_bits=4 \
         extended_l2=on extended_l2=on,cluster_size=32k lazy_refcounts=on \
         preallocation=metadata preallocation=falloc preallocation=full \
         data_file=d.raw data_file=d.raw,data_file_raw=on compression_type=zstd; do
  rm -f w.qcow2 d.raw
  "$VDK" create -q -f qcow2 ${o:+-o $o} w.qcow2 3M
  clean w.qcow2 "fresh ($o)"
  truncate -s 0 shadow.raw
  truncate -s 3M shadow.raw
  wu w.qcow2 shadow.raw $seed 150 || fail "writer failed ($o)"
  clean w.qcow2 "$o"
  qemu-img compare -q shadow.raw w.qcow2 || fail "$o: contents differ from the shadow"
  "$VDK" compare w.qcow2 shadow.raw > /dev/null || fail "$o: vdk compare differs"
  seed=$((seed+1))
done

# copy-on-write from a backing file (partial clusters keep backing data)
head -c 3M /dev/urandom > base.raw
cp base.raw shadow.raw
for o in "" extended_l2=on cluster_size=4k compat=0.10; do
  rm -f ov.qcow2
  cp base.raw shadow.raw
  "$VDK" create -q -f qcow2 ${o:+-o $o} -b base.raw -F raw ov.qcow2
  wu ov.qcow2 shadow.raw $seed 100 || fail "writer failed on overlay ($o)"
  clean ov.qcow2 "overlay $o"
  qemu-img compare -q shadow.raw ov.qcow2 || fail "overlay $o differs from the shadow"
  seed=$((seed+1))
done

# compressed output (vdk convert -c), zlib and zstd, read back by qemu-img
head -c 1M /dev/urandom > mix.raw
python3 -c "import sys; sys.stdout.buffer.write(b'compressible text 0123456789\n' * 80000)" >> mix.raw
truncate -s 5M mix.raw
for c in zlib zstd; do
  for cs in 4k 64k; do
    rm -f c.qcow2
    "$VDK" convert -t unsafe -c -O qcow2 -o compression_type=$c,cluster_size=$cs mix.raw c.qcow2
    clean c.qcow2 "compressed $c $cs"
    qemu-img compare -q mix.raw c.qcow2 || fail "compressed $c $cs differs"
    qemu-img check --output=json c.qcow2 > cj.txt
    [ "$(json_get cj.txt 'j.get("compressed-clusters", 0)')" -gt 0 ] || fail "nothing compressed"
    # compressed data is packed: smaller than the data
    [ "$(stat -c %s c.qcow2)" -lt 3500000 ] || fail "compressed image too large"
    # overwrite compressed clusters in place
    cp mix.raw shadow.raw
    wu c.qcow2 shadow.raw $seed 60 || fail "writer on compressed image"
    clean c.qcow2 "rewritten compressed $c $cs"
    qemu-img compare -q shadow.raw c.qcow2 || fail "rewritten compressed image differs"
    seed=$((seed+1))
  done
done

# a large sparse image: the refcount table has to grow
"$VDK" create -q -f qcow2 -o cluster_size=512,refcount_bits=64 big.qcow2 64M
truncate -s 0 shadow.raw; truncate -s 64M shadow.raw
wu big.qcow2 shadow.raw 99 300 65536 || fail "writer on big image"
clean big.qcow2 "refcount table growth"
qemu-img compare -q shadow.raw big.qcow2 || fail "big image differs"

# a qemu-img created image written by vdk, and the L2 cache option
qemu-img create -q -f qcow2 q.qcow2 3M
truncate -s 0 shadow.raw; truncate -s 3M shadow.raw
"$W" "driver=qcow2,file.filename=q.qcow2,l2-cache-size=128k" shadow.raw 7 100 || fail "l2-cache-size"
clean q.qcow2 "qemu-created image"
qemu-img compare -q shadow.raw q.qcow2 || fail "qemu-created image differs"
echo OK
