#!/bin/bash
# Boot a real Linux kernel when VDK_TEST_LINUX_KERNEL names one (bzImage or
# vmlinux; VDK_TEST_LINUX_INITRD optional).  Too slow for nested kvm_pvm
# hosts, so it only runs when asked.  The kernel should panic-reboot
# (panic=-1 reboot=k) or reboot by itself when its init is done.
. "$(dirname "$0")/common.sh"
requires_kvm
[ -n "${VDK_TEST_LINUX_KERNEL:-}" ] || skip "VDK_TEST_LINUX_KERNEL is not set"
truncate -s 64M disk.img
args=(--kernel "$VDK_TEST_LINUX_KERNEL" --memory 256M --cpus 2 --disk disk.img
      --cmdline "console=ttyS0 panic=-1 reboot=k ${VDK_TEST_LINUX_CMDLINE:-}")
[ -n "${VDK_TEST_LINUX_INITRD:-}" ] && args+=(--initrd "$VDK_TEST_LINUX_INITRD")
rc=0
timeout 850 "$VDK" run "${args[@]}" >out 2>out.err </dev/null || rc=$?
[ "$rc" = 0 ] || { tail -50 out out.err >&2; fail "vdk run exited with $rc"; }
expect_grep 'Linux version' out
expect_grep 'virtio_blk virtio0: \[vda\]' out
