#!/bin/bash
# A hostile driver: buffers outside RAM, descriptor loops, bad indexes,
# requests past the end, a jumping available index, rings outside RAM.
# Each bad request fails on its own, the VMM reports it and keeps serving.
. "$(dirname "$0")/common.sh"
requires_kvm
requires python3

pattern_disk disk.img 2
run_guest out --kernel "$GUEST_ELF" --disk disk.img --cmdline "vdktest=hostile,indirect,blk-read"
[ "$rc" = 0 ] || { cat out out.err >&2; fail "vdk run exited with $rc"; }
expect_pass out hostile indirect blk-read
for m in 'descriptor buffer outside guest RAM' 'next descriptor index out of range' \
         'beyond the disk' 'available index jumped' 'queue rings are misaligned or outside guest RAM' \
         'queue size 3 is not a power of 2' 'indirect descriptor (not negotiated)' \
         'indirect table length' 'indirect descriptor chained' 'inside an indirect table' \
         'longer than its table'; do
  expect_grep "$m" out.err
done

# A guest that keeps sending bad requests cannot flood the VMM's stderr.
run_guest out2 --kernel "$GUEST_ELF" --disk disk.img --no-rng --cmdline "vdktest=spam,blk-read"
[ "$rc" = 0 ] || { cat out2 out2.err >&2; fail "vdk run exited with $rc"; }
expect_pass out2 spam blk-read
expect_eq "$(grep -c 'guest error' out2.err)" 32 "number of guest error messages"
expect_grep 'further errors not shown' out2.err
