#!/bin/bash
# How the file protocol writes (libdisk/protocols/file.c), seen with strace:
# - a buffered write of 256 KiB or more allocates its range first
#   (fallocate), small writes do not, and the output's allocation is the
#   same as qemu-img's (zero blocks inside data stay holes);
# - with cache=writeback, writeback is started every 4 MiB written
#   (sync_file_range), and never with cache=unsafe or none.
. "$(dirname "$0")/../functions.sh"
requires qemu-img strace python3

# 80 MiB: 72 MiB of random data in runs of 4 MiB, holes, and zero blocks
# written as data (which must become holes in both tools' outputs).
truncate -s 80M src.raw
for o in 0 4 8 12 16 20 28 32 36 40 44 48 56 60 64 68 72 76; do
  head -c 4M /dev/urandom | dd of=src.raw bs=1M seek=$o conv=notrunc status=none
done
dd if=/dev/zero of=src.raw bs=64K seek=100 count=8 conv=notrunc status=none

extents () { # data extents of $1 (SEEK_DATA/SEEK_HOLE), after writeback
  sync "$1"
  python3 - "$1" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
end = os.fstat(fd).st_size
off = 0
while off < end:
    try:
        d = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    h = os.lseek(fd, d, os.SEEK_HOLE)
    print(d, h)
    off = h
PY
}

strace -f -e trace=fallocate,sync_file_range -o st.txt "$VDK" convert -O raw src.raw out.raw
qemu-img convert -O raw src.raw q.raw
qemu-img compare src.raw out.raw > /dev/null || fail "output differs"
n=$(grep -c 'fallocate(.*, 0, [0-9]*, [0-9]*)' st.txt || true)
[ "$n" -ge 18 ] || fail "expected a fallocate per data write, saw $n: $(head -5 st.txt)"
awk -F', ' '/fallocate\(/ { sub(/\).*/, "", $4); if ($4 + 0 < 262144) bad = 1 } END { exit bad }' st.txt ||
  fail "a fallocate of less than 256 KiB: $(grep fallocate st.txt | head -3)"
grep -q sync_file_range st.txt && fail "writeback started with cache=unsafe"
expect_eq "$(extents out.raw)" "$(extents q.raw)" "allocated extents (vdk vs qemu-img)"

# small writes are not preallocated
strace -f -e trace=fallocate -o st.txt "$VDK" bench -w -s 4096 -c 2000 -t writeback -f raw out.raw > /dev/null
grep -q 'fallocate(.*, 0, ' st.txt && fail "4 KiB writes were preallocated"

# cache=writeback: writeback started along the way (72 MiB of data: every
# 4 MiB, ~17 times), and the output still compares equal
strace -f -e trace=sync_file_range,fdatasync -o st.txt "$VDK" convert -t writeback -O raw src.raw wb.raw
n=$(grep -c 'sync_file_range(' st.txt || true)
[ "$n" -ge 12 ] || fail "cache=writeback: expected sync_file_range every 4 MiB, saw $n"
grep -q 'fdatasync(' st.txt || fail "cache=writeback: no final flush"
qemu-img compare src.raw wb.raw > /dev/null || fail "writeback output differs"
for c in none unsafe writethrough; do
  rm -f c.raw
  strace -f -e trace=sync_file_range -o st.txt "$VDK" convert -t $c -O raw src.raw c.raw
  grep -q 'sync_file_range(' st.txt && fail "cache=$c started writeback early"
  qemu-img compare src.raw c.raw > /dev/null || fail "cache=$c output differs"
done
echo OK
