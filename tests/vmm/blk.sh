#!/bin/bash
# virtio-blk on a raw image through the ELF loader: read a known pattern,
# write/flush/read back, write-zeroes/discard, requests in flight, rng; then
# check on the host that the guest's writes reached the image.
. "$(dirname "$0")/common.sh"
requires_kvm
requires python3

pattern_disk disk.img 4
run_guest out --kernel "$GUEST_ELF" --disk disk.img,serial=vdk-serial-42 \
  --cmdline "vdktest=blk-read,blk-write,blk-discard,blk-inflight,rng"
[ "$rc" = 0 ] || { cat out out.err >&2; fail "vdk run exited with $rc"; }
head -1 out | grep -q '^vdk-guest: hello' || fail "no greeting on the serial console"
expect_pass out blk-read blk-write blk-discard blk-inflight rng
expect_grep 'INFO blk-read id=vdk-serial-42 capacity=8192' out
expect_grep 'INFO devices=2' out
# the user's command line first, then the devices vdk added
expect_grep '^INFO cmdline=vdktest=blk-read,blk-write,blk-discard,blk-inflight,rng virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6$' out

# The write at sector 100 (1024 bytes: i*3+0x11) is in the image.
python3 - <<'PY' || fail "guest write did not reach the image"
d = open('disk.img', 'rb').read()
want = bytes(((i * 3 + 0x11) & 0xff) for i in range(1024))
assert d[100*512:100*512+1024] == want, "sector 100"
# write-zeroes (200..207) and discard (300..307) left zeroes
assert d[200*512:208*512] == bytes(4096), "sector 200"
assert d[300*512:308*512] == bytes(4096), "sector 300"
# the pattern elsewhere is intact
o = 99 * 512
assert d[o] == (((99 * 31) & 0xff) ^ 0xa5), "sector 99"
PY

# cache=none (O_DIRECT, where the file system has it) and a second,
# read-only disk next to the first.
pattern_disk disk2.img 2
sum2=$(md5sum < disk2.img)
if dd if=disk.img of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null; then
  run_guest out3 --kernel "$GUEST_ELF" --disk disk.img,cache=none \
    --disk disk2.img,readonly=on,serial=second --no-rng \
    --cmdline "vdktest=blk-read,blk-write,blk-inflight,blk-ids"
  [ "$rc" = 0 ] || { cat out3 out3.err >&2; fail "vdk run (cache=none) exited with $rc"; }
  expect_pass out3 blk-read blk-write blk-inflight blk-ids
  expect_grep 'INFO disk 0 id=vdk-disk0 rw' out3
  expect_grep 'INFO disk 1 id=second ro' out3
  expect_grep 'PASS blk-ids 2 disks' out3
  expect_eq "$(md5sum < disk2.img)" "$sum2" "read-only disk checksum"
else
  echo "O_DIRECT is not supported here: cache=none not tested"
fi

# A key=value spec, and a file name with a comma (written ",,").
pattern_disk 'a,b.img' 2
run_guest out5 --kernel "$GUEST_ELF" --no-rng --disk 'a,,b.img,readonly=on,serial=comma' \
  --disk 'driver=raw,file.filename=a,,b.img,readonly=on,serial=kv' --cmdline "vdktest=blk-ids"
[ "$rc" = 0 ] || { cat out5 out5.err >&2; fail "vdk run (comma names) exited with $rc"; }
expect_grep 'INFO disk 0 id=comma ro' out5
expect_grep 'INFO disk 1 id=kv ro' out5
