# Fixture builders for the guestfs tests (sourced after functions.sh).
# Filesystems are made as files with mkfs.ext4 -d and dd-ed into raw disk
# images at their partition offsets: no loop devices, no root.
export E2FSPROGS_FAKE_TIME=1700000000
MiB=1048576
BOOT_UUID=11111111-2222-3333-4444-555555555501
ROOT_UUID=11111111-2222-3333-4444-555555555502
SWAP_UUID=11111111-2222-3333-4444-555555555503

# make_trees: $TMP/tree/root and $TMP/tree/boot
make_trees () {
  local R=$TMP/tree/root B=$TMP/tree/boot
  mkdir -p "$R"/{etc,boot,usr/bin,usr/lib,var/lib/dpkg,home/user,tmp,root} "$B/loader/entries"
  cat > "$R/etc/os-release" <<'OS'
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
OS
  echo testguest.example.org > "$R/etc/hostname"
  chmod 644 "$R/etc/hostname"
  cat > "$R/etc/fstab" <<FSTAB
# /etc/fstab: static file system information.
UUID=$ROOT_UUID /               ext4    errors=remount-ro 0       1
LABEL=BOOT      /boot           ext4    defaults        0       2
UUID=$SWAP_UUID none            swap    sw              0       0
tmpfs           /tmp            tmpfs   defaults        0       0
FSTAB
  cp /bin/true "$R/usr/bin/bash"
  ln -s usr/bin "$R/bin"
  ln -s bash "$R/usr/bin/sh"
  ln -s ../usr/bin/bash "$R/etc/shell-link"
  ln -s /etc/os-release "$R/etc/abs-link"
  ln -s loop-b "$R/etc/loop-a"
  ln -s loop-a "$R/etc/loop-b"
  # a slow symlink: target longer than 60 bytes
  ln -s "/usr/lib/$(printf 'x%.0s' $(seq 1 80))" "$R/etc/long-link"
  mkdir -p "$R/usr/lib/$(printf 'x%.0s' $(seq 1 80))"
  cat > "$R/var/lib/dpkg/status" <<'DPKG'
Package: bash
Status: install ok installed
Priority: required
Architecture: amd64
Version: 5.2.15-2+b2
Description: GNU Bourne Again SHell
 Bash is an sh-compatible command language interpreter.

Package: libc6
Status: install ok installed
Architecture: amd64
Version: 2.36-9+deb12u3
Description: GNU C Library: Shared libraries

Package: removed-pkg
Status: deinstall ok config-files
Architecture: all
Version: 1.0-1
Description: not installed any more

Package: tzdata
Status: install ok installed
Architecture: all
Version: 1:2024a-0+deb12u1
Description: time zone and daylight-saving time data
 This package contains data required for the implementation of
 standard local time for many representative locations around the
 globe.
Homepage: https://www.iana.org/time-zones

DPKG
  # a directory with many entries (htree when large enough)
  mkdir -p "$R/usr/share/many"
  for i in $(seq 1 300); do : > "$R/usr/share/many/file-with-a-longish-name-$i"; done
  head -c 300000 /dev/urandom > "$R/usr/share/random.bin"
  printf 'FAKE KERNEL 6.1.0-13\n' > "$B/vmlinuz-6.1.0-13-amd64"
  printf 'FAKE INITRD 6.1.0-13\n' > "$B/initrd.img-6.1.0-13-amd64"
  printf 'FAKE KERNEL 6.1.0-9\n' > "$B/vmlinuz-6.1.0-9-amd64"
  printf 'FAKE INITRD 6.1.0-9\n' > "$B/initrd.img-6.1.0-9-amd64"
  cat > "$B/loader/entries/debian-6.1.0-13.conf" <<'BLS'
title Debian GNU/Linux 12 (6.1.0-13-amd64)
version 6.1.0-13-amd64
linux /vmlinuz-6.1.0-13-amd64
initrd /initrd.img-6.1.0-13-amd64
options root=UUID=11111111-2222-3333-4444-555555555502 ro quiet
BLS
}

# mkfs_ext4 OUT SIZE_MIB LABEL UUID DIR [extra mke2fs args]
mkfs_ext4 () {
  local out=$1 size=$2 label=$3 uuid=$4 dir=$5; shift 5
  rm -f "$out"
  mkfs.ext4 -q -F -L "$label" -U "$uuid" -E root_owner=0:0 -d "$dir" "$@" "$out" "${size}M" >/dev/null
}

# make_swap OUT SIZE_MIB
make_swap () {
  rm -f "$1"; truncate -s "${2}M" "$1"
  mkswap -L swap -U $SWAP_UUID "$1" >/dev/null 2>&1
}

# put IMAGE FILE OFFSET_MIB: copy a partition image into a disk image
put () { dd if="$2" of="$1" bs=1M seek="$3" conv=notrunc,sparse status=none; }
