#!/bin/bash
# Allocating writes in flight at once (qcow2 is VDK_FMT_ASYNC_ALLOC): convert
# with many requests in flight, out of order (-W), whose non-zero runs share
# clusters; an overlay whose partial clusters are copied from the backing;
# random 4 KiB writes at queue depth 32; and writers killed with SIGKILL.
# qemu-img check must be clean (leaks only after a kill) and the contents
# equal the source.
. "$(dirname "$0")/../functions.sh"
requires qemu-img python3

# 48 MiB: random runs of 512 B - 200 KiB separated by zero gaps of 4 KiB -
# 300 KiB, so runs start and end inside clusters of every size below
python3 - <<'PY'
import random
r = random.Random(5)
with open("src.raw", "wb") as f:
    f.truncate(48 << 20)
    off = 0
    while True:
        off += r.randrange(4096, 300 << 10, 512)
        n = r.randrange(512, 200 << 10, 512)
        if off + n > (48 << 20):
            break
        f.seek(off)
        f.write(r.randbytes(n))
        off += n
PY

for o in "" cluster_size=4k cluster_size=2M extended_l2=on lazy_refcounts=on,refcount_bits=1; do
  for w in -W ""; do
    rm -f out.qcow2
    "$VDK" convert $w -m 16 -S 4k -O qcow2 ${o:+-o $o} src.raw out.qcow2 \
      || fail "convert $w ${o:-default}"
    qemu-img check -q out.qcow2 || fail "qemu-img check after convert $w (${o:-default})"
    qemu-img compare -q src.raw out.qcow2 || fail "contents after convert $w (${o:-default})"
  done
done

# into an overlay: partial clusters are filled from the backing file while
# other allocations are in flight
head -c $((48 << 20)) /dev/urandom > base.raw
for cs in 4k 64k; do
  rm -f base.qcow2 top.qcow2
  qemu-img convert -O qcow2 -o cluster_size=$cs base.raw base.qcow2
  qemu-img create -q -f qcow2 -o cluster_size=$cs -b base.qcow2 -F qcow2 top.qcow2
  "$VDK" convert -n -W -m 16 -S 4k src.raw top.qcow2 || fail "convert -n into an overlay ($cs)"
  qemu-img check -q top.qcow2 || fail "qemu-img check of the overlay ($cs)"
  qemu-img compare -q src.raw top.qcow2 || fail "overlay contents ($cs)"
done

# random 4 KiB writes at queue depth 32 on a fresh image; vdk and qemu-img
# read the same contents
for cs in 4k 64k; do
  rm -f b.qcow2
  "$VDK" create -q -f qcow2 -o cluster_size=$cs b.qcow2 64M
  "$VDK" bench -q -w --random -t unsafe -c 20000 -d 32 -s 4k b.qcow2 >/dev/null \
    || fail "bench -w ($cs)"
  qemu-img check -q b.qcow2 || fail "qemu-img check after random writes ($cs)"
  qemu-img convert -O raw b.qcow2 q.raw
  "$VDK" convert -O raw b.qcow2 v.raw
  cmp q.raw v.raw || fail "vdk and qemu-img read different data after random writes ($cs)"
  [ "$(qemu-img map --output=json b.qcow2 | grep -c '"data": true')" -gt 0 ] || fail "nothing written ($cs)"
done

# killed in the middle of many allocations in flight: leaks at most
for i in 1 2 3; do
  rm -f k.qcow2
  "$VDK" create -q -f qcow2 -o cluster_size=4k k.qcow2 256M
  "$VDK" bench -q -w --random -c 100000000 -d 32 -s 4k k.qcow2 >/dev/null 2>&1 &
  pid=$!
  cleanup_fn "kill -9 $pid 2>/dev/null"
  # let it get going (the file grows with its first allocations), then kill
  # it at a random moment
  s0=$(stat -c %s k.qcow2)
  for _ in $(seq 1 500); do [ "$(stat -c %s k.qcow2)" -gt "$s0" ] && break; sleep 0.02; done
  sleep "0.$((RANDOM % 4))"
  kill -9 $pid 2>/dev/null || fail "the writer ended before it was killed (round $i)"
  wait $pid 2>/dev/null || true
  expect_no_corruption_after_kill k.qcow2 "kill -9 (round $i)"
  "$VDK" convert -O raw k.qcow2 k.raw || fail "vdk cannot read the image after a kill (round $i)"
done
echo OK
