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
