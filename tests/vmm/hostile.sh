#!/bin/bash
# A hostile driver: buffers outside RAM, descriptor loops, bad indexes,
# requests past the end, a jumping available index, rings outside RAM.
# Each bad request fails on its own, the VMM reports it and keeps serving.
. "$(dirname "$0")/common.sh"
requires_kvm
requires python3

pattern_disk disk.img 2
run_guest out --kernel "$GUEST_ELF" --disk disk.img --cmdline "vdktest=hostile,blk-read"
[ "$rc" = 0 ] || { cat out out.err >&2; fail "vdk run exited with $rc"; }
expect_pass out hostile blk-read
for m in 'descriptor buffer outside guest RAM' 'next descriptor index out of range' \
         'beyond the disk' 'available index jumped' 'queue rings are misaligned or outside guest RAM' \
         'queue size 3 is not a power of 2'; do
  expect_grep "$m" out.err
done
