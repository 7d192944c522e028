#!/bin/bash
# convert -c from sparse sources whose data runs are not cluster-aligned:
# qcow2 (zlib, zstd, small and large clusters) and vmdk streamOptimized; the
# output passes qemu-img check and compares equal.
. "$(dirname "$0")/../functions.sh"
requires qemu-img python3
formats=" $("$VDK" --help | sed -n 's/^Formats: //p') "
[[ "$formats" == *" qcow2 "* ]] || skip "qcow2 is not in this build"

truncate -s 10M src.raw
python3 - <<'PY'
import os
with open("src.raw", "r+b") as f:
    for off, n in ((5000, 3), (70000, 9000), (1 << 20, 4096), ((9 << 20) + 70001, 5)):
        f.seek(off); f.write(os.urandom(n))
    f.seek(3 << 20); f.write(b"compressible text " * 20000)
PY
for o in compression_type=zlib compression_type=zstd cluster_size=4k cluster_size=2M; do
  rm -f c.qcow2
  "$VDK" convert -c -O qcow2 -o "$o" src.raw c.qcow2 || fail "convert -c -o $o"
  qemu-img check -q c.qcow2 || fail "qemu-img check ($o)"
  qemu-img compare -q src.raw c.qcow2 || fail "content ($o)"
  qemu-img map --output=json c.qcow2 | grep -q '"data": true' || fail "no data ($o)"
  # compressed clusters are really compressed: the file is no bigger than
  # qemu-img's for the same input (360 KB of text would not fit otherwise)
  if [ "$o" = compression_type=zlib ]; then
    qemu-img convert -c -O qcow2 src.raw q.qcow2
    [ "$(stat -c %s c.qcow2)" -le $(( $(stat -c %s q.qcow2) * 11 / 10 )) ] \
      || fail "compressed output: $(stat -c %s c.qcow2) bytes vs qemu-img's $(stat -c %s q.qcow2)"
  fi
done
# compressed clusters are packed back to back across host clusters like
# qemu's: on data that compresses about 3:1 (each 64 KiB: 16 KiB random, 48
# KiB of text) the output is within 2% of qemu-img's, for zlib and zstd
python3 - <<'PY'
import os
text = (b"vdk compressed packing test: the quick brown fox jumps over the lazy dog\n" * 700)[:48 << 10]
with open("pack.raw", "wb") as f:
    for _ in range(128):
        f.write(os.urandom(16 << 10) + text)
PY
for t in zlib zstd; do
  rm -f c.qcow2 q.qcow2
  "$VDK" convert -c -O qcow2 -o compression_type=$t pack.raw c.qcow2 || fail "convert -c ($t)"
  qemu-img convert -c -O qcow2 -o compression_type=$t pack.raw q.qcow2
  qemu-img check -q c.qcow2 || fail "qemu-img check of packed $t output"
  qemu-img compare -q pack.raw c.qcow2 || fail "packed $t content"
  v=$(stat -c %s c.qcow2) q=$(stat -c %s q.qcow2)
  [ $(( v * 100 )) -le $(( q * 102 )) ] && [ $(( v * 100 )) -ge $(( q * 98 )) ] \
    || fail "$t output is $v bytes, qemu-img's $q (more than 2% apart)"
done
# reading compressed images made by qemu-img: runs of compressed clusters
# are decoded in parallel, partial clusters through the one-cluster cache
for t in zlib zstd; do
  rm -f q.qcow2 out.raw
  qemu-img convert -c -O qcow2 -o compression_type=$t src.raw q.qcow2
  "$VDK" convert -O raw q.qcow2 out.raw || fail "convert from $t-compressed qcow2"
  cmp src.raw out.raw || fail "content read from $t-compressed qcow2"
  rm -f part.raw
  "$VDK" dd bs=3000 skip=1000 count=200 if=q.qcow2 of=part.raw || fail "dd from $t qcow2"
  cmp -n 600000 part.raw <(tail -c +3000001 src.raw) || fail "partial reads from $t qcow2"
done
if [[ "$formats" == *" vmdk "* ]]; then
  "$VDK" convert -c -O vmdk -o subformat=streamOptimized src.raw s.vmdk
  qemu-img check -q s.vmdk || fail "qemu-img check streamOptimized"
  qemu-img compare -q src.raw s.vmdk || fail "streamOptimized content"
fi
echo OK
