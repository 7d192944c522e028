#!/bin/bash
# Benchmark: vdk inspect / filesystems against virt-inspector /
# virt-filesystems (libguestfs, LIBGUESTFS_BACKEND=direct) on the same
# guest: a GPT disk with /boot, an LVM root with a dpkg database, swap.
# usage: bench/guestfs-inspect.sh [VDK] [RUNS]
# Without libguestfs only vdk's times are printed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
VDK=${1:-$HERE/../build/tools/vdk/vdk}
RUNS=${2:-20}
TMP=$(mktemp -d /tmp/vdk-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
. "$HERE/../tests/guestfs/mkguest.sh"

make_trees
mkfs_ext4 boot.img 16 BOOT $BOOT_UUID tree/boot
mkfs_ext4 root.img 40 root $ROOT_UUID tree/root
make_swap swap.img 4
truncate -s 128M guest.img
sgdisk -o -n 1:2048:+16M -t 1:8300 -n 2:0:+100M -t 2:8e00 guest.img >/dev/null
put guest.img boot.img 1
python3 "$HERE/../tests/guestfs/mkvg.py" vgbench 4 --pv guest.img:$((17 * MiB)):$((100 * MiB)) \
  --lv root:0:0:10 --lv swap:0:10:1
put guest.img root.img 18
put guest.img swap.img 58
if command -v qemu-img >/dev/null; then
  qemu-img convert -O qcow2 guest.img guest.qcow2 && IMG=guest.qcow2
else
  IMG=guest.img
fi

# mean wall time of RUNS runs of a command, in seconds
timeit () {
  local runs=$1; shift
  python3 - "$runs" "$@" <<'PY'
import subprocess, sys, time
runs, cmd = int(sys.argv[1]), sys.argv[2:]
t = time.perf_counter()
for _ in range(runs):
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
print("%.6f" % ((time.perf_counter() - t) / runs))
PY
}

# vdk reads qcow2 only when its driver exists: fall back to raw
"$VDK" inspect -a "$IMG" >/dev/null 2>&1 || IMG=guest.img
vi=$(timeit "$RUNS" "$VDK" inspect -a "$IMG")
vf=$(timeit "$RUNS" "$VDK" filesystems --all --long -a "$IMG")
printf 'vdk inspect      %10.4f s  (%s)\n' "$vi" "$IMG"
printf 'vdk filesystems  %10.4f s\n' "$vf"
if command -v virt-inspector >/dev/null && command -v virt-filesystems >/dev/null; then
  export LIBGUESTFS_BACKEND=direct
  # The appliance hangs in SeaBIOS under nested kvm_pvm: use TCG there, and
  # wherever a KVM launch does not finish in 2 minutes.
  if [ -z "${LIBGUESTFS_BACKEND_SETTINGS:-}" ]; then
    if [ -d /sys/module/kvm_pvm ] || ! timeout 120 virt-filesystems -a "$IMG" >/dev/null 2>&1; then
      export LIBGUESTFS_BACKEND_SETTINGS=force_tcg
    fi
  fi
  echo "libguestfs: LIBGUESTFS_BACKEND=direct ${LIBGUESTFS_BACKEND_SETTINGS:+LIBGUESTFS_BACKEND_SETTINGS=$LIBGUESTFS_BACKEND_SETTINGS}"
  li=$(timeit 1 virt-inspector -a "$IMG")
  lf=$(timeit 1 virt-filesystems --all --long -a "$IMG")
  printf 'virt-inspector   %10.4f s  -> vdk is %.0fx faster\n' "$li" "$(python3 -c "print($li / $vi)")"
  printf 'virt-filesystems %10.4f s  -> vdk is %.0fx faster\n' "$lf" "$(python3 -c "print($lf / $vf)")"
else
  echo "libguestfs (virt-inspector, virt-filesystems) not installed: no comparison"
fi
