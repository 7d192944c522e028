#!/bin/bash
# Deferred L2 entries (formats/qcow2/qcow2-cluster.c, qcow2_l2_writeback):
# a new cluster that releases nothing is linked in the cached L2 table only,
# and the dirty tables are written after one flush of the file -- at each
# flush, at close, when a dirty table leaves the cache, before check,
# snapshots, resize and amend.  Checked here: the flush count of a
# converting write, images right after many dirty evictions, every cache
# mode, and a kill between the data and the links (leaks only).  Leak
# checks are off under strace (docs/status.md, traps).
. "$(dirname "$0")/../functions.sh"
requires qemu-img strace
W="$BUILDDIR/tests/qcow2/qcow2-writer"
[ -x "$W" ] || skip "qcow2-writer not built"

truncate -s 64M src.raw
for o in 0 8 16 24 32 40 48 56; do
  head -c 4M /dev/urandom | dd of=src.raw bs=1M seek=$o conv=notrunc status=none
done

good () {  # IMAGE WHAT: qemu-img check clean (no leaks either) and equal to src.raw
  qemu-img check "$1" > chk.txt 2>&1 || { cat chk.txt; fail "$2: qemu-img check"; }
  qemu-img compare -q src.raw "$1" || fail "$2: contents differ"
}

# 1. -t writeback: the data's flushes are no longer one per allocation.
#    32 MiB of data in 2 MiB requests was ~20 fdatasyncs written through;
#    deferred: the final flushes.  (With 4 KiB clusters each new L2 table
#    and refcount block is still flushed before it is linked.)
rm -f o.qcow2
ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 strace -f -e trace=fdatasync,fsync -o st.txt \
  "$VDK" convert -t writeback -O qcow2 src.raw o.qcow2
n=$(grep -Ec '^[0-9]+ +f(data)?sync\(' st.txt || true)
[ "$n" -le 8 ] || fail "$n flushes for one convert -t writeback (deferred L2 expected)"
good o.qcow2 "convert -t writeback"

# 2. every cache mode gives the same image (writethrough and directsync
#    write the links through; unsafe, writeback and none defer them)
for t in unsafe writeback writethrough none directsync; do
  rm -f o.qcow2
  "$VDK" convert -t $t -W -O qcow2 -o cluster_size=4k src.raw o.qcow2 || fail "convert -t $t"
  good o.qcow2 "convert -t $t"
done

# 3. dirty tables evicted: 4 KiB clusters (an L2 table maps 2 MiB), a cache
#    of 4 tables, random writes and discards over 64 MiB; read back on the
#    way (the writer compares), then checked and compared with the shadow
for cm in writeback unsafe; do
  rm -f e.qcow2
  "$VDK" create -q -f qcow2 -o cluster_size=4k e.qcow2 64M
  truncate -s 0 sh.raw; truncate -s 64M sh.raw
  "$W" "driver=qcow2,file.filename=e.qcow2,l2-cache-size=16k,cache=$cm" sh.raw 11 600 65536 ||
    fail "random writes with a 4-table L2 cache ($cm)"
  qemu-img check e.qcow2 > chk.txt 2>&1 || { cat chk.txt; fail "evictions ($cm): qemu-img check"; }
  qemu-img compare -q sh.raw e.qcow2 || fail "evictions ($cm): contents differ from the shadow"
done

# 4. killed after its data writes, before the links: the data since the
#    last flush is gone, the image is consistent (leaks at most) and
#    writable.  A writer that never flushes (cache=writeback, no flush
#    until close) is killed mid-run.
for i in 1 2 3; do
  rm -f k.qcow2
  "$VDK" create -q -f qcow2 -o cluster_size=4k k.qcow2 64M
  truncate -s 0 sh.raw; truncate -s 64M sh.raw
  "$W" "driver=qcow2,file.filename=k.qcow2,cache=writeback" sh.raw $((RANDOM + i)) 1000000 65536 \
    2> werr.txt &
  pid=$!
  cleanup_fn "kill -9 $pid 2>/dev/null"
  sleep "0.$((RANDOM % 5 + 2))"
  kill -9 $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  expect_no_corruption_after_kill k.qcow2 "a kill with deferred links (round $i)"
  "$VDK" convert -O raw k.qcow2 k.raw || fail "cannot read the image after the kill (round $i)"
  cp k.raw sh.raw
  "$W" k.qcow2 sh.raw 77 50 65536 || fail "writing after the kill (round $i)"
  rc=0; qemu-img check k.qcow2 > chk.txt 2>&1 || rc=$?
  [ $rc = 0 ] || [ $rc = 3 ] || { cat chk.txt; fail "check after writing on (round $i)"; }
  qemu-img compare -q sh.raw k.qcow2 || fail "contents after writing on (round $i)"
done
echo OK
