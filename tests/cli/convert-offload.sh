#!/bin/bash
# convert -C (copy offloading) and -S 0: data copied by the kernel
# (copy_file_range) where source and target are files of one filesystem,
# with the read/write path as the fallback.  The path taken shows in the
# result, with qemu-img -C as the oracle: copy_file_range copies data as it
# is (a zero-filled, allocated region stays allocated), while the fallback
# detects zeroes (-S 4k) and leaves that region a hole.
. "$(dirname "$0")/../functions.sh"
requires qemu-img qemu-io

kib () { echo $(( $(stat -c %b "$1") / 2 )); }
# near A B: A within 2% (+ 64 KiB) of B
near () { [ $(( $1 > $2 ? $1 - $2 : $2 - $1 )) -le $(( $2 / 50 + 64 )) ]; }

truncate -s 64M src.raw
for off in 0 3 17 40 63; do
  head -c 300000 /dev/urandom | dd of=src.raw bs=64k seek=$((off * 16)) conv=notrunc status=none
done
# 4 MiB of zeroes written as data (allocated)
dd if=/dev/zero of=src.raw bs=1M seek=50 count=4 conv=notrunc status=none
data_kib=$(( $(kib src.raw) - 4096 ))   # allocated minus the zero region

# Options refused like qemu-img 7.2
expect_fail "$VDK" convert -C -S 4k src.raw x.raw
expect_grep "Cannot enable copy offloading when -S is used" "$TMP/err"
expect_fail "$VDK" convert -C -c -O qcow2 src.raw x.qcow2
expect_grep "Cannot enable copy offloading when -c is used" "$TMP/err"

# raw -> raw on one filesystem: the kernel copies; holes stay holes, the
# zero-filled region is copied as data, as qemu-img -C does.
"$VDK" convert -C -O raw src.raw c.raw
cmp src.raw c.raw || fail "-C raw->raw content"
qemu-img convert -C -O raw src.raw qc.raw
near "$(kib c.raw)" "$(kib qc.raw)" || fail "-C raw->raw: $(kib c.raw) KiB, qemu-img -C $(kib qc.raw) KiB"
[ "$(kib c.raw)" -ge $(( data_kib + 4096 )) ] || fail "-C did not copy the zero region as data (not offloaded?)"
[ "$(kib c.raw)" -lt $(( data_kib + 4096 + 1024 )) ] || fail "-C filled holes: $(kib c.raw) KiB"
# Without -C, zero detection leaves the zero region a hole
"$VDK" convert -O raw src.raw d.raw
[ "$(kib d.raw)" -lt $(( data_kib + 1024 )) ] || fail "default: zero region allocated"

# -W, -m 1 and writethrough (each copy flushed) take the same path
"$VDK" convert -C -W -m 1 -t writethrough src.raw w.raw
cmp src.raw w.raw || fail "-C -W -t writethrough content"
[ "$(kib w.raw)" -ge $(( data_kib + 4096 )) ] || fail "-C -W: not offloaded"

# O_DIRECT on either side: the read/write path (with zero detection)
for t in "-T none" "-t none"; do
  if "$VDK" convert -C $t src.raw o.raw 2>o.err; then
    cmp src.raw o.raw || fail "-C $t content"
    [ "$(kib o.raw)" -lt $(( data_kib + 1024 )) ] || fail "-C $t: copied in the kernel"
    rm -f o.raw
  else
    grep -q "O_DIRECT" o.err || { cat o.err; fail "-C $t failed"; }
  fi
done

# Another filesystem (tmpfs) as the source: copy_file_range would fail with
# EXDEV; the read/write path copies instead.
shm=
for d in /dev/shm /run/shm; do
  if [ -d "$d" ] && [ -w "$d" ] && [ "$(stat -f -c %T "$d")" = tmpfs ] \
     && [ "$(stat -c %d "$d")" != "$(stat -c %d .)" ]; then
    shm=$(mktemp -d "$d/vdk-test.XXXXXX")
    cleanup_fn rm -rf "$shm"
    break
  fi
done
if [ -n "$shm" ]; then
  cp --sparse=always src.raw "$shm/src.raw"
  "$VDK" convert -C -O raw "$shm/src.raw" x.raw
  cmp src.raw x.raw || fail "-C from tmpfs: content"
  qemu-img convert -C -O raw "$shm/src.raw" qx.raw
  near "$(kib x.raw)" "$(kib qx.raw)" || fail "-C from tmpfs: $(kib x.raw) KiB, qemu-img -C $(kib qx.raw) KiB"
  [ "$(kib x.raw)" -lt $(( data_kib + 1024 )) ] || fail "-C from tmpfs: not the read/write path"
  "$VDK" convert -C -O qcow2 "$shm/src.raw" x.qcow2
  qemu-img check -q x.qcow2 || fail "-C from tmpfs to qcow2: check"
  qemu-img compare -q src.raw x.qcow2 || fail "-C from tmpfs to qcow2: content"
else
  echo "note: no tmpfs on another device; cross-filesystem fallback not tested"
fi

# raw -> qcow2: data goes into newly allocated clusters, linked afterwards
"$VDK" convert -C -O qcow2 src.raw c.qcow2
qemu-img check -q c.qcow2 || fail "-C raw->qcow2: qemu-img check"
qemu-img compare -q src.raw c.qcow2 || fail "-C raw->qcow2: content"
qemu-img convert -C -O qcow2 src.raw qc.qcow2
near "$(kib c.qcow2)" "$(kib qc.qcow2)" || fail "-C raw->qcow2: $(kib c.qcow2) KiB, qemu-img -C $(kib qc.qcow2) KiB"
# the zero region is allocated data in the qcow2, as with qemu-img -C
qemu-img map --output=json c.qcow2 > map.json
python3 - map.json <<'PY' || fail "-C raw->qcow2: zero region not copied as data"
import json, sys
m = json.load(open(sys.argv[1]))
lo, hi = 50 << 20, 54 << 20
cov = sum(min(e["start"] + e["length"], hi) - max(e["start"], lo)
          for e in m if e["data"] and e["start"] < hi and e["start"] + e["length"] > lo)
sys.exit(0 if cov == hi - lo else 1)
PY

# qcow2 -> raw: runs of data clusters copied from the qcow2 file, holes kept
"$VDK" convert -C -O raw c.qcow2 back.raw
cmp src.raw back.raw || fail "-C qcow2->raw content"
[ "$(kib back.raw)" -ge $(( data_kib + 4096 )) ] && [ "$(kib back.raw)" -lt $(( data_kib + 4096 + 2048 )) ] \
  || fail "-C qcow2->raw: $(kib back.raw) KiB allocated"
# qcow2 -> qcow2, with compressed clusters in the source: those take the
# read/write path, the rest is copied in the kernel
qemu-img convert -c -O qcow2 src.raw z.qcow2
"$VDK" convert -C -O qcow2 z.qcow2 fromz.qcow2
qemu-img check -q fromz.qcow2 || fail "-C from compressed: check"
qemu-img compare -q src.raw fromz.qcow2 || fail "-C from compressed: content"

# Backing chains: unallocated ranges of the top read from the backing file
qemu-img create -q -f qcow2 -b src.raw -F raw top.qcow2
qemu-io -c "write -P 0x5a 10M 1M" top.qcow2 >/dev/null
"$VDK" convert -C -O raw top.qcow2 flat.raw
qemu-img compare -q top.qcow2 flat.raw || fail "-C backing chain: content"
"$VDK" convert -C -O qcow2 -B src.raw -F raw top.qcow2 rebased.qcow2
qemu-img compare -q top.qcow2 rebased.qcow2 || fail "-C -B: content"
qemu-img check -q rebased.qcow2 || fail "-C -B: check"

# -n into an existing, dirty target
head -c 64M /dev/urandom > dirty.raw
"$VDK" convert -C -n src.raw dirty.raw
cmp src.raw dirty.raw || fail "-C -n into a dirty target"

# -S 0 copies everything in the kernel: fully allocated, same content
"$VDK" convert -S 0 src.raw full.raw
cmp src.raw full.raw || fail "-S 0 content"
[ "$(kib full.raw)" -ge 65536 ] || fail "-S 0 not fully allocated"
"$VDK" convert -S 0 -O qcow2 c.qcow2 full.qcow2
qemu-img compare -q src.raw full.qcow2 || fail "-S 0 qcow2: content"
qemu-img check -q full.qcow2 || fail "-S 0 qcow2: check"
echo OK
