#!/bin/bash
# How the file protocol reads (libdisk/protocols/file.c, read_cached):
# before each buffered read it asks the kernel (cachestat) whether the range
# is in the page cache; a read that must wait for the disk goes to an
# io_uring worker, a cached one is copied at once by the submitter (preadv2
# RWF_NOWAIT; what is not up to date yet goes to a worker).  Both paths, and
# a source partly in the cache (reads of either kind in one convert, and
# reads half in the cache), must give the same output, from raw and qcow2
# sources and with -W.  The page cache of a file is dropped with
# dd iflag=nocache (posix_fadvise DONTNEED: no root needed).  Leak checks are
# off under strace (docs/status.md, traps).
. "$(dirname "$0")/../functions.sh"
requires qemu-img strace dd

truncate -s 48M src.raw
for o in 0 4 8 16 20 28 32 40; do
  head -c 4M /dev/urandom | dd of=src.raw bs=1M seek=$o conv=notrunc status=none
done
dd if=/dev/zero of=src.raw bs=64K seek=3 count=4 conv=notrunc status=none
qemu-img convert -O qcow2 src.raw src.qcow2
sync src.raw src.qcow2

evict () { dd if="$1" iflag=nocache count=0 status=none; }
half () {   # the first half of $1 and 1 MiB in the cache, the rest not
  evict "$1"
  dd if="$1" of=/dev/null bs=1M count=$(( $(stat -c %s "$1") / 2097152 + 1 )) status=none
}

# Is cachestat there (Linux 6.5+)?  strace 6.1 knows it only by number.
evict src.raw
ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 strace -f -o st.txt "$VDK" convert -O raw src.raw probe.raw
have_cachestat=0
if grep -Eq '(cachestat|syscall_0x1c3)\(.*= 0$' st.txt; then
  have_cachestat=1
fi
qemu-img compare src.raw probe.raw > /dev/null || fail "raw from a cold cache: output differs"

for src in src.raw src.qcow2; do
  for state in cold half warm; do
    for w in "" -W; do
      case $state in
        cold) evict $src ;;
        half) half $src ;;
        warm) cat $src > /dev/null ;;
      esac
      rm -f out.raw out.qcow2
      "$VDK" convert $w -O raw $src out.raw
      qemu-img compare src.raw out.raw > /dev/null ||
        fail "$src ($state cache, ${w:-in order}) -> raw: output differs"
      [ $state = warm ] || case $state in cold) evict $src ;; half) half $src ;; esac
      "$VDK" convert $w -O qcow2 $src out.qcow2
      qemu-img compare src.raw out.qcow2 > /dev/null ||
        fail "$src ($state cache, ${w:-in order}) -> qcow2: output differs"
    done
  done
done

# a warm source: every 2 MiB read copied at once with RWF_NOWAIT
cat src.raw > /dev/null
rm -f out.raw
ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 strace -f -e trace=preadv2 -o st.txt \
  "$VDK" convert -O raw src.raw out.raw
n=$(grep -c 'preadv2(.*RWF_NOWAIT) = 2097152' st.txt || true)
[ "$n" -ge 16 ] || fail "expected the cached reads copied with RWF_NOWAIT, saw $n: $(head -3 st.txt)"
qemu-img compare src.raw out.raw > /dev/null || fail "warm: output differs"

if [ $have_cachestat = 1 ]; then
  # one question per data read of the source (8 runs of 4 MiB: 2 MiB reads),
  # none for the target
  evict src.raw
  rm -f out.raw
  ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 strace -f -o st.txt "$VDK" convert -O raw src.raw out.raw
  n=$(grep -Ec '(cachestat|syscall_0x1c3)\(' st.txt || true)
  [ "$n" -ge 16 ] || fail "expected a cachestat per 2 MiB read, saw $n"
  # O_DIRECT reads bypass the page cache: neither asked nor tried
  rm -f out.raw
  ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 strace -f -o st.txt "$VDK" convert -T none -O raw src.raw out.raw
  grep -Eq '(cachestat|syscall_0x1c3)\(' st.txt && fail "cachestat asked for an O_DIRECT source"
  grep -q 'RWF_NOWAIT' st.txt && fail "an O_DIRECT read tried with RWF_NOWAIT"
  qemu-img compare src.raw out.raw > /dev/null || fail "-T none: output differs"
else
  echo "cachestat(2) not available here: RWF_NOWAIT alone sorted the reads"
fi
echo OK
