#!/bin/bash
# The bzImage loader (same guest, wrapped in a boot protocol 2.15 header),
# APs started with INIT/SIPI through the in-kernel LAPIC,
# an initrd, several vCPUs in the MP table, and a read-only disk that must
# stay unchanged.
. "$(dirname "$0")/common.sh"
requires_kvm
requires python3
[ -f "$GUEST_BZ" ] || skip "the bzImage test guest was not built (objcopy missing?)"

pattern_disk disk.img 1
sum=$(md5sum < disk.img)
printf 'VDKINITRD-%s' "$(head -c 3000 /dev/zero | tr '\0' x)" > initrd.img
run_guest out --kernel "$GUEST_BZ" --initrd initrd.img --cpus 3 \
  --disk disk.img,readonly=on --no-rng --cmdline "vdktest=blk-ro,smp,initrd vdkcpus=3"
[ "$rc" = 0 ] || { cat out out.err >&2; fail "vdk run exited with $rc"; }
expect_pass out blk-ro smp initrd smp-ap
expect_grep "PASS smp-ap 2 APs started" out
expect_grep 'PASS smp 3 cpus' out
expect_grep 'PASS initrd size=3010' out
expect_grep 'INFO devices=1' out
expect_eq "$(md5sum < disk.img)" "$sum" "read-only image checksum"

# The ELF loader boots the same checks too.
run_guest out2 --kernel "$GUEST_ELF" --cpus 2 --disk disk.img,readonly=on \
  --cmdline "vdktest=smp,blk-ro vdkcpus=2"
[ "$rc" = 0 ] || { cat out2 out2.err >&2; fail "vdk run (ELF) exited with $rc"; }
expect_pass out2 smp blk-ro smp-ap

# RAM above the MMIO hole: 4 GiB = 3 GiB below 0xc0000000 + 1 GiB from 4 GiB,
# minus the 385 KiB e820 leaves out (0x9fc00-0x100000).
run_guest out3 --kernel "$GUEST_ELF" --memory 4G --no-rng --cmdline "vdktest=mem"
[ "$rc" = 0 ] || { cat out3 out3.err >&2; fail "vdk run (4G) exited with $rc"; }
expect_pass out3 mem
expect_grep "PASS mem ram=$((4 * 1048576 - 385))K e820=5" out3
run_guest out4 --kernel "$GUEST_ELF" --memory 64M --no-rng --cmdline "vdktest=mem"
expect_grep "PASS mem ram=$((65536 - 385))K e820=4" out4
