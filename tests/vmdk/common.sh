# Shared by the vmdk tests (sourced after functions.sh).
requires qemu-img python3
SUBFORMATS="monolithicSparse monolithicFlat twoGbMaxExtentSparse twoGbMaxExtentFlat streamOptimized"
VMDK_IO="$BUILDDIR/tests/vmdk/vmdk-io"

# mkraw NAME SIZE_BYTES: a sparse raw file with random data at scattered,
# partly unaligned offsets (whole grains, partial grains, across GT edges).
mkraw () {
  truncate -s "$2" "$1"
  local off
  for off in 0 70000 1048576 2097152 3145000 $(( $2 - 65536 - 1000 )); do
    [ "$off" -lt "$2" ] || continue
    head -c 40000 /dev/urandom | dd of="$1" bs=4096 seek="$off" oflag=seek_bytes conv=notrunc status=none
  done
  truncate -s "$2" "$1"
}

# raw_of IMAGE OUT: the guest bytes according to qemu-img
raw_of () { qemu-img convert -O raw "$1" "$2"; }
