#!/bin/bash
# Boot a real Linux kernel when VDK_TEST_LINUX_KERNEL names one (bzImage or
# vmlinux with 8250 console, virtio-mmio command-line devices, virtio-blk,
# ext4, devtmpfs, initramfs).  Too slow for nested kvm_pvm hosts, so it only
# runs when asked; VDK_TEST_LINUX_CMDLINE adds kernel parameters (the pvm
# recipe's clearcpuid=... list, for instance).
#
# With a static busybox on the host, the test builds an initramfs whose
# /init mounts the virtio disk (an ext4 image made by mke2fs -d), reads a
# marker, writes a file and reboots; the host then reads that file back with
# debugfs.  VDK_TEST_LINUX_INITRD replaces that initramfs (then only the boot
# messages are checked, and the initrd must reboot or panic at the end).
. "$(dirname "$0")/common.sh"
requires_kvm
[ -n "${VDK_TEST_LINUX_KERNEL:-}" ] || skip "VDK_TEST_LINUX_KERNEL is not set"
requires python3

initrd=${VDK_TEST_LINUX_INITRD:-}
full=false
if [ -z "$initrd" ]; then
  bb=$(command -v busybox || true)
  if [ -n "$bb" ] && ! ldd "$bb" >/dev/null 2>&1 && command -v mke2fs >/dev/null &&
     command -v debugfs >/dev/null; then
    full=true
  fi
fi

if $full; then
  mkdir -p fsroot
  echo "marker-$$" > fsroot/marker
  mke2fs -q -t ext4 -d fsroot disk.img 64M
  mkdir -p root/bin
  cp "$bb" root/bin/busybox
  cat > root/init <<'INIT'
#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /mnt
/bin/busybox mount -t devtmpfs dev /dev
/bin/busybox mount -t proc proc /proc
echo "VDK-LINUX: init started"
if /bin/busybox mount -t ext4 /dev/vda /mnt; then
  echo "VDK-LINUX: marker $(/bin/busybox cat /mnt/marker)"
  echo written-by-guest > /mnt/fromguest
  /bin/busybox sync
  /bin/busybox umount /mnt
  echo "VDK-LINUX: disk done"
fi
/bin/busybox reboot -f
INIT
  chmod +x root/init
  # An uncompressed newc cpio (gunzip is slow in an emulated kernel).
  python3 - root initrd.cpio <<'PY'
import os, sys
root, out = sys.argv[1], sys.argv[2]
ino = 1
def entry(f, name, mode, data=b''):
    global ino
    hdr = '070701' + ''.join('%08x' % v for v in
        (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0))
    ino += 1
    b = hdr.encode() + name.encode() + b'\0'
    b += b'\0' * (-len(b) % 4) + data + b'\0' * (-len(data) % 4)
    f.write(b)
with open(out, 'wb') as f:
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        if rel != '.':
            entry(f, rel, 0o40755)
        for n in files:
            p = os.path.join(d, n)
            r = os.path.normpath(os.path.join(rel, n))
            entry(f, r, 0o100755, open(p, 'rb').read())
    entry(f, 'TRAILER!!!', 0)
PY
  initrd=initrd.cpio
else
  truncate -s 64M disk.img
fi

args=(--kernel "$VDK_TEST_LINUX_KERNEL" --memory 256M --cpus 2 --disk disk.img
      --cmdline "console=ttyS0 panic=-1 reboot=k rdinit=/init ${VDK_TEST_LINUX_CMDLINE:-}")
[ -n "$initrd" ] && args+=(--initrd "$initrd")
rc=0
timeout 850 "$VDK" run "${args[@]}" >out 2>out.err </dev/null || rc=$?
[ "$rc" = 0 ] || { tail -50 out out.err >&2; fail "vdk run exited with $rc"; }
expect_grep 'Linux version' out
expect_grep 'virtio_blk virtio0: \[vda\]' out
if $full; then
  expect_grep "VDK-LINUX: marker marker-$$" out
  expect_grep 'VDK-LINUX: disk done' out
  expect_eq "$(debugfs -R 'cat /fromguest' disk.img 2>/dev/null)" written-by-guest \
    "file the guest wrote"
fi
