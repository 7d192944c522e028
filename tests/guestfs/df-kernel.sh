#!/bin/bash
# vdk df against the kernel's own statfs on the same ext2/3/4 images
# (mounted read-only through a loop device; root only), including images
# whose superblock does not record the metadata overhead.
. "$(dirname "$0")/../functions.sh"
requires_root
requires mkfs.ext4 mount umount python3
mkdir mnt
n=0
for opts in "" "-b 1024" "-t ext2" "-t ext3 -b 2048" "-O ^resize_inode" \
            "-O meta_bg,^resize_inode" "-O 64bit,metadata_csum" "-O ^extents,^64bit" \
            "-O bigalloc -C 16384 -b 1024"; do
  for zero_overhead in 0 1; do
    # bigalloc without a recorded overhead: vdk's estimate counts blocks, the
    # kernel clusters (documented approximation)
    case "$opts" in *bigalloc*) [ $zero_overhead = 1 ] && continue ;; esac
    rm -f m.img
    mkfs.ext4 -q -F $opts -O ^metadata_csum m.img 40M >/dev/null 2>&1 || mkfs.ext4 -q -F $opts m.img 40M >/dev/null 2>&1
    [ $zero_overhead = 0 ] || printf '\0\0\0\0' | dd of=m.img bs=1 seek=$((1024 + 0x248)) conv=notrunc status=none
    timeout 20 mount -o loop,ro m.img mnt 2>/dev/null || { [ $n -gt 0 ] && continue; skip "cannot loop-mount an image here"; }
    k=$(df -B1 --output=size,used,avail mnt | tail -1 | awk '{print $1, $2, $3}')
    umount mnt
    v=$($VDK df --output=json -a m.img | python3 -c "import json,sys; d=json.load(sys.stdin)[0]; b=d['block-size']; print(d['blocks']*b, (d['blocks']-d['blocks-free'])*b, d['blocks-available']*b)")
    expect_eq "$v" "$k" "df [$opts] overhead zeroed=$zero_overhead"
    n=$((n + 1))
  done
done
echo "$n images compared"
exit 0
