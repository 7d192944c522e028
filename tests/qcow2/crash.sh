#!/bin/bash
# Crash safety: a writer killed with SIGKILL at random moments leaves an
# image that qemu-img check finds free of corruptions (leaks are allowed),
# that vdk reads, and that vdk can keep writing to.
. "$(dirname "$0")/../functions.sh"
requires qemu-img
W="$BUILDDIR/tests/qcow2/qcow2-writer"
[ -x "$W" ] || skip "qcow2-writer not built"

rounds=${QCOW2_CRASH_ROUNDS:-6}
for o in "" lazy_refcounts=on cluster_size=4k,refcount_bits=1 extended_l2=on; do
  rm -f c.qcow2
  "$VDK" create -q -f qcow2 ${o:+-o $o} c.qcow2 8M
  truncate -s 0 sh.raw; truncate -s 8M sh.raw
  for i in $(seq 1 "$rounds"); do
    "$W" c.qcow2 sh.raw $((RANDOM + i)) 0 131072 > progress.txt 2> werr.txt &
    pid=$!
    cleanup_fn "kill -9 $pid 2>/dev/null"
    # let it get going, then kill it at a random moment
    for _ in $(seq 1 100); do [ -s progress.txt ] && break; sleep 0.02; done
    sleep "0.$((RANDOM % 20))"
    kill -9 $pid 2>/dev/null || true
    wait $pid 2>/dev/null || true
    [ -s progress.txt ] || { cat werr.txt; fail "writer did not start ($o)"; }
    expect_no_corruption_after_kill c.qcow2 "kill -9 in round $i ($o)"
    "$VDK" convert -O raw c.qcow2 out.raw || fail "vdk cannot read the image after a crash ($o)"
    # the shadow may lag by the op in flight: resync it from the image
    cp out.raw sh.raw
  done
  # a final clean run on top: repairs (dirty bit) and writes still work
  "$W" c.qcow2 sh.raw 4242 30 || fail "writing after crashes ($o)"
  rc=0
  qemu-img check c.qcow2 > chk.txt 2>&1 || rc=$?
  [ $rc = 0 ] || [ $rc = 3 ] || { cat chk.txt; fail "final check ($o)"; }
  qemu-img compare -q sh.raw c.qcow2 || fail "contents after crashes ($o)"
done
# vdk convert killed while writing a qcow2 (plain and compressed)
head -c 48M /dev/urandom > src.raw
for c in "" -c; do
  for i in 1 2 3; do
    rm -f cv.qcow2
    "$VDK" convert $c -O qcow2 -o cluster_size=4k src.raw cv.qcow2 &
    pid=$!
    cleanup_fn "kill -9 $pid 2>/dev/null"
    for _ in $(seq 1 100); do [ -s cv.qcow2 ] && break; sleep 0.01; done
    sleep "0.0$((RANDOM % 10))"
    kill -9 $pid 2>/dev/null || true
    wait $pid 2>/dev/null || true
    [ -e cv.qcow2 ] || continue
    expect_no_corruption_after_kill cv.qcow2 "killing vdk convert $c"
  done
done
echo OK
