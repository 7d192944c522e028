#!/bin/bash
# virtio-blk on images in other formats (through libdisk): each format that
# this build of vdk recognises is converted from the patterned raw disk by
# qemu-img, booted, read and written, and checked with qemu-img compare.
. "$(dirname "$0")/common.sh"
requires_kvm
requires python3 qemu-img

pattern_disk disk.img 4
tested=0
for fmt in qcow2 vmdk vhdx; do
  qemu-img convert -f raw -O $fmt disk.img img.$fmt
  if ! "$VDK" info img.$fmt 2>/dev/null | grep -q "^file format: $fmt"; then
    echo "format $fmt: not supported by this vdk, skipped"
    continue
  fi
  run_guest out.$fmt --kernel "$GUEST_ELF" --disk img.$fmt --no-rng \
    --cmdline "vdktest=blk-read,blk-write,blk-inflight"
  [ "$rc" = 0 ] || { cat out.$fmt out.$fmt.err >&2; fail "$fmt: vdk run exited with $rc"; }
  expect_pass out.$fmt blk-read blk-write blk-inflight
  # the same write on the raw copy makes them equal again
  cp disk.img ref.img
  python3 -c "
f = open('ref.img', 'r+b'); f.seek(100 * 512)
f.write(bytes(((i * 3 + 0x11) & 0xff) for i in range(1024)))"
  qemu-img check -f $fmt img.$fmt >/dev/null || fail "$fmt: qemu-img check failed after the guest wrote"
  qemu-img compare -f raw -F $fmt ref.img img.$fmt >/dev/null || fail "$fmt: contents differ"
  tested=$((tested + 1))
done
[ $tested -gt 0 ] || skip "no format besides raw is supported by this vdk yet"
