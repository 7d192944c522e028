#!/bin/bash
# vdk run IMAGE: boot a partitioned disk image without firmware.  The test
# guest (ELF and bzImage) stands in for the kernels in /boot; the boot
# entries' options choose its checks.  BLS entries (default, --entry by
# number, id and title), grub.cfg (set default, search --set=root, a
# submenu), a /boot-only guest, --print-boot output, qcow2, and errors.
. "$(dirname "$0")/common.sh"
requires_kvm
requires python3 sfdisk mkfs.ext4
[ -f "$GUEST_BZ" ] || skip "the bzImage test guest was not built (objcopy missing?)"
export E2FSPROGS_FAKE_TIME=1700000000
BOOT_UUID=0b007b00-2222-3333-4444-555555555501
ROOT_UUID=0b007b00-2222-3333-4444-555555555502

# mkfs DIR OUT UUID LABEL: an 8 MiB ext4 image of DIR
mkfs () {
  mkfs.ext4 -q -F -L "$4" -U "$3" -E root_owner=0:0 -d "$1" "$2" 8M >/dev/null
}
# mkdisk OUT LABEL(gpt|dos) PART...: 1 MiB-aligned 8 MiB partitions
mkdisk () {
  local out=$1 label=$2 off=1; shift 2
  rm -f "$out"; truncate -s $(( (${#@} * 8 + 2) ))M "$out"
  { echo "label: $label"
    for p in "$@"; do echo "start=$((off * 2048)), size=16384"; off=$((off + 8)); done
  } | sfdisk -q "$out" >/dev/null
  off=1
  for p in "$@"; do
    dd if="$p" of="$out" bs=1M seek=$off conv=notrunc,sparse status=none
    off=$((off + 8))
  done
}
# rootdir DIR: a Linux root the inspection recognises
rootdir () {
  mkdir -p "$1/etc" "$1/usr/bin" "$1/boot"
  printf 'ID=vdktest\nVERSION_ID=1\nPRETTY_NAME="vdk test guest"\n' > "$1/etc/os-release"
  printf 'UUID=%s / ext4 defaults 0 1\n' "$ROOT_UUID" > "$1/etc/fstab"
}
initrd_file () { printf 'VDKINITRD-%s' "$(head -c 990 /dev/zero | tr '\0' x)" > "$1"; }

# ---- (a) BLS on a separate /boot (GPT) ----
mkdir -p bls/root bls/boot/loader/entries
rootdir bls/root
echo "UUID=$BOOT_UUID /boot ext4 defaults 0 2" >> bls/root/etc/fstab
cp "$GUEST_BZ" bls/boot/vmlinuz-1.0
cp "$GUEST_ELF" bls/boot/vmlinuz-2.0
initrd_file bls/boot/initramfs-2.0.img
cat > bls/boot/loader/entries/a-1.0.conf <<'EOF'
title Test One
version 1.0
linux /vmlinuz-1.0
options vdktest=blk-sig,blk-ids
EOF
cat > bls/boot/loader/entries/b-2.0.conf <<'EOF'
title Test Two
version 2.0
linux /vmlinuz-2.0
initrd /initramfs-2.0.img
options vdktest=blk-sig,initrd
options console=ttyS0
EOF
cat > bls/boot/loader/entries/c-0.5.conf <<'EOF'
title Broken
version 0.5
linux /vmlinuz-missing
options vdktest=blk-sig
EOF
mkfs bls/boot boot.fs $BOOT_UUID BOOT
mkfs bls/root root.fs $ROOT_UUID ROOT
mkdisk bls.img gpt boot.fs root.fs

# The default: the newest entry (2.0, ELF, with an initrd).
"$VDK" run --print-boot bls.img > pb || fail "--print-boot failed"
expect_eq "$(cat pb)" "source: bls /boot/loader/entries/b-2.0.conf
entry: b-2.0 (Test Two)
kernel: /boot/vmlinuz-2.0
initrd: /boot/initramfs-2.0.img
cmdline: vdktest=blk-sig,initrd console=ttyS0" "--print-boot (BLS default)"
run_guest out --no-rng bls.img
[ "$rc" = 0 ] || { cat out out.err >&2; fail "vdk run bls.img exited with $rc"; }
expect_pass out blk-sig initrd
expect_grep '^PASS blk-sig mbr gpt rw capacity=36864$' out
expect_grep '^PASS initrd size=1000$' out
expect_grep '^INFO cmdline=vdktest=blk-sig,initrd console=ttyS0 virtio_mmio.device=4K@0xd0000000:5$' out

# vdk inspect reports the same default.
"$VDK" inspect --output json -a bls.img > insp.json
expect_eq "$(json_get insp.json 'j[0]["boot"]')" "{'source': 'bls', 'file': '/boot/loader/entries/b-2.0.conf', 'entry': 'b-2.0', 'title': 'Test Two', 'kernel': '/boot/vmlinuz-2.0', 'initrds': ['/boot/initramfs-2.0.img'], 'cmdline': 'vdktest=blk-sig,initrd console=ttyS0'}" "inspect boot"

# --entry by number (menu order: newest first), by id and by title; the
# bzImage kernel; readonly=on; a second disk after the image.
"$VDK" run --print-boot --entry 1 bls.img > pb
expect_eq "$(cat pb)" "source: bls /boot/loader/entries/a-1.0.conf
entry: a-1.0 (Test One)
kernel: /boot/vmlinuz-1.0
initrd: none
cmdline: vdktest=blk-sig,blk-ids console=ttyS0" "--print-boot --entry 1"
"$VDK" run --print-boot --entry a-1.0 bls.img > pb2
"$VDK" run --print-boot --entry 'Test One' --cmdline extra=1 bls.img > pb3
cmp -s pb pb2 || fail "--entry a-1.0 is not entry 1"
expect_eq "$(tail -1 pb3)" "cmdline: vdktest=blk-sig,blk-ids console=ttyS0 extra=1" "--cmdline appended"
truncate -s 1M second.img
sum=$(md5sum < bls.img)
run_guest out2 --no-rng --entry 'Test One' --disk second.img,serial=two bls.img,readonly=on
[ "$rc" = 0 ] || { cat out2 out2.err >&2; fail "vdk run --entry exited with $rc"; }
expect_pass out2 blk-sig blk-ids
expect_grep '^PASS blk-sig mbr gpt ro capacity=36864$' out2
expect_grep '^INFO disk 0 id=vdk-disk0 ro$' out2
expect_grep '^INFO disk 1 id=two rw$' out2
expect_eq "$(md5sum < bls.img)" "$sum" "read-only image checksum"

# loader.conf's default wins over the newest entry.
printf 'timeout 3\ndefault a-1.0.conf\n' > bls/boot/loader/loader.conf
mkfs bls/boot boot.fs $BOOT_UUID BOOT
mkdisk bls2.img gpt boot.fs root.fs
"$VDK" run --print-boot bls2.img > pb
expect_grep '^entry: a-1.0 (Test One)$' pb

# ---- (e) the same disk as qcow2 (and vmdk, vhdx) ----
if command -v qemu-img >/dev/null; then
  for fmt in qcow2 vmdk vhdx; do
    qemu-img convert -O $fmt bls.img bls.$fmt
    if ! "$VDK" info bls.$fmt 2>/dev/null | grep -q "^file format: $fmt"; then
      echo "vdk does not open $fmt images here: not tested"
      continue
    fi
    run_guest out3 --no-rng bls.$fmt
    [ "$rc" = 0 ] || { cat out3 out3.err >&2; fail "vdk run bls.$fmt exited with $rc"; }
    expect_pass out3 blk-sig initrd
    expect_grep '^PASS blk-sig mbr gpt rw capacity=36864$' out3
  done
else
  echo "qemu-img is not installed: image formats not tested"
fi

# ---- (b) grub.cfg only, separate /boot found by search --set=root ----
mkdir -p grub/root grub/boot/grub
rootdir grub/root
echo "LABEL=GBOOT /boot ext4 defaults 0 2" >> grub/root/etc/fstab
cp "$GUEST_BZ" grub/boot/vmlinuz-g
initrd_file grub/boot/initrd.img-g
cat > grub/boot/grub/grub.cfg <<EOF
# a grub.cfg in the style of grub-mkconfig
set default="0"
if [ -s \$prefix/grubenv ]; then
  load_env
fi
function load_video {
  insmod all_video
}
set timeout=5
set default="1"
menuentry 'First' --class gnu-linux \$menuentry_id_option 'first-id' {
	search --no-floppy --fs-uuid --set=root $BOOT_UUID
	linux	/vmlinuz-g vdktest=blk-sig
}
menuentry "Second" --id second-id {
	load_video
	search --no-floppy --fs-uuid --set=root $BOOT_UUID
	echo	'Loading Linux ...'
	linux	/vmlinuz-g vdktest=blk-sig,initrd 'x=a b' quiet
	initrd	/initrd.img-g
}
submenu 'Advanced options' {
	menuentry 'Deep' {
		search --no-floppy --fs-uuid --set=root $ROOT_UUID
		linux	/boot/vmlinuz-g vdktest=blk-ids console=ttyS0,115200
	}
}
menuentry 'ByFile' {
	search --file --set=root /root-marker
	linux	/vmlinuz-g
}
EOF
: > grub/root/root-marker
cp "$GUEST_ELF" grub/root/vmlinuz-g
mkfs grub/boot boot.fs $BOOT_UUID GBOOT
mkfs grub/root root.fs $ROOT_UUID ROOT
mkdisk grub.img dos boot.fs root.fs
"$VDK" run --print-boot grub.img > pb || fail "--print-boot grub.img failed"
expect_eq "$(cat pb)" "source: grub /boot/grub/grub.cfg
entry: 1 (Second)
kernel: /boot/vmlinuz-g
initrd: /boot/initrd.img-g
cmdline: vdktest=blk-sig,initrd \"x=a b\" quiet console=ttyS0" "--print-boot (grub.cfg)"
run_guest out4 --no-rng grub.img
[ "$rc" = 0 ] || { cat out4 out4.err >&2; fail "vdk run grub.img exited with $rc"; }
expect_pass out4 blk-sig initrd
expect_grep '^PASS blk-sig mbr rw capacity=36864$' out4
"$VDK" run --print-boot --entry 'Advanced options>Deep' grub.img > pb
expect_eq "$(cat pb)" "source: grub /boot/grub/grub.cfg
entry: 2>0 (Deep)
kernel: /boot/vmlinuz-g
initrd: none
cmdline: vdktest=blk-ids console=ttyS0,115200" "--print-boot --entry submenu"
"$VDK" run --print-boot --entry first-id grub.img > pb
expect_grep '^entry: 0 (First)$' pb
# search --file: the paths are on the root filesystem (it has the marker)
"$VDK" run --print-boot --entry ByFile grub.img > pb
expect_grep '^entry: 3 (ByFile)$' pb
expect_grep '^kernel: /vmlinuz-g$' pb
run_guest out5 --no-rng --entry '2>0' grub.img
[ "$rc" = 0 ] || { cat out5 out5.err >&2; fail "vdk run --entry '2>0' exited with $rc"; }
expect_pass out5 blk-ids

# ---- (c) /boot only: the newest vmlinuz-*, root=UUID= ----
mkdir -p dir/root
rootdir dir/root
cp "$GUEST_ELF" dir/root/boot/vmlinuz-3.9
cp "$GUEST_BZ" dir/root/boot/vmlinuz-3.10
initrd_file dir/root/boot/initrd.img-3.10
mkfs dir/root root.fs $ROOT_UUID ROOT
mkdisk dir.img dos root.fs
"$VDK" run --print-boot dir.img > pb
expect_eq "$(cat pb)" "source: boot-dir /boot
entry: 3.10
kernel: /boot/vmlinuz-3.10
initrd: /boot/initrd.img-3.10
cmdline: root=UUID=$ROOT_UUID ro console=ttyS0" "--print-boot (/boot)"
run_guest out6 --no-rng --cmdline vdktest=initrd,blk-sig dir.img
[ "$rc" = 0 ] || { cat out6 out6.err >&2; fail "vdk run dir.img exited with $rc"; }
expect_pass out6 initrd blk-sig
expect_grep "^INFO cmdline=root=UUID=$ROOT_UUID ro console=ttyS0 vdktest=initrd,blk-sig virtio_mmio" out6
"$VDK" run --print-boot --entry 1 dir.img > pb
expect_grep '^kernel: /boot/vmlinuz-3.9$' pb

# ---- BLS on the root filesystem: grubenv's saved_entry and $kernelopts,
# paths with and without /boot, several initrds (concatenated) ----
mkdir -p fed/root/boot/loader/entries fed/root/boot/grub2
rootdir fed/root
cp "$GUEST_ELF" fed/root/boot/vmlinuz-5
initrd_file fed/root/boot/initrd-a
printf 'PADDING' > fed/root/boot/initrd-b
printf '# GRUB Environment Block\nsaved_entry=old-4\nkernelopts=root=UUID=%s ro vdktest=initrd\n%s' \
  "$ROOT_UUID" "$(head -c 900 /dev/zero | tr '\0' '#')" > fed/root/boot/grub2/grubenv
printf 'title New\nversion 5\nlinux /vmlinuz-5\noptions $kernelopts\n' > fed/root/boot/loader/entries/new-5.conf
printf 'title Old\nversion 4\nlinux /boot/vmlinuz-5\ninitrd /boot/initrd-a\ninitrd /initrd-b\noptions $kernelopts ${tuned} x=$undefined.\n' \
  > fed/root/boot/loader/entries/old-4.conf
mkfs fed/root root.fs $ROOT_UUID ROOT
mkdisk fed.img gpt root.fs
"$VDK" run --print-boot fed.img > pb
expect_eq "$(cat pb)" "source: bls /boot/loader/entries/old-4.conf
entry: old-4 (Old)
kernel: /boot/vmlinuz-5
initrd: /boot/initrd-a /boot/initrd-b
cmdline: root=UUID=$ROOT_UUID ro vdktest=initrd  x=. console=ttyS0" "--print-boot (saved_entry)"
run_guest out7 --no-rng fed.img
[ "$rc" = 0 ] || { cat out7 out7.err >&2; fail "vdk run fed.img exited with $rc"; }
expect_grep '^PASS initrd size=1007$' out7

# ---- systemd-boot style: entries on an ESP mounted at /efi, paths
# relative to it; an "efi" entry (no linux line) is not the default ----
mkdir -p esp/root/efi esp/esp/loader/entries
rootdir esp/root
echo "LABEL=ESP /efi ext4 defaults 0 2" >> esp/root/etc/fstab
cp "$GUEST_BZ" esp/esp/vmlinuz-e
printf 'title Other OS\nversion 99\nefi /EFI/other.efi\n' > esp/esp/loader/entries/other.conf
printf 'title ESP\nversion 1\nlinux /vmlinuz-e\noptions vdktest=blk-sig\n' > esp/esp/loader/entries/e-1.conf
mkfs esp/esp boot.fs $BOOT_UUID ESP
mkfs esp/root root.fs $ROOT_UUID ROOT
mkdisk esp.img gpt boot.fs root.fs
"$VDK" run --print-boot esp.img > pb
expect_eq "$(cat pb)" "source: bls /efi/loader/entries/e-1.conf
entry: e-1 (ESP)
kernel: /efi/vmlinuz-e
initrd: none
cmdline: vdktest=blk-sig console=ttyS0" "--print-boot (ESP)"
run_guest out8 --no-rng esp.img
[ "$rc" = 0 ] || { cat out8 out8.err >&2; fail "vdk run esp.img exited with $rc"; }
expect_pass out8 blk-sig
if "$VDK" run --print-boot --entry other esp.img > pb 2> pb.err; then fail "--entry other booted an efi entry"; fi
expect_grep "esp.img: /efi/loader/entries/other.conf: the boot entry has no 'linux' line" pb.err

# ---- a hostile grub.cfg: deep nesting, unbalanced braces, a huge line,
# thousands of entries; the answer is still exact ----
mkdir -p hg/root/boot/grub
rootdir hg/root
cp "$GUEST_ELF" hg/root/boot/vmlinuz-h
python3 - hg/root/boot/grub/grub.cfg <<'PY'
import sys
with open(sys.argv[1], 'w') as f:
    f.write('}\n}\nset default="Target"\n')
    f.write('set junk="' + 'x' * 100000 + '"\n')
    f.write("submenu 'deep' {\n" * 40 + "menuentry 'Target' {\n linux /boot/nothere\n}\n" + "}\n" * 40)
    for i in range(1000):
        f.write("menuentry 'e%d' {\n linux /boot/vmlinuz-h n=%d\n}\n" % (i, i))
    f.write("menuentry 'Target' {\n linux /boot/vmlinuz-h target '$x' \"a\\\"b\" \\$y ${x}z\n}\n")
    f.write("menuentry 'open' {\n linux /boot/vmlinuz-h\n" + "{\n" * 100)
PY
mkfs hg/root root.fs $ROOT_UUID ROOT
mkdisk hg.img dos root.fs
"$VDK" run --print-boot hg.img > pb || fail "--print-boot hg.img failed"
expect_grep "^entry: 1001 (Target)$" pb
expect_grep '^cmdline: target \$x a"b \$y z console=ttyS0$' pb
"$VDK" run --print-boot --entry 999 hg.img > pb
expect_grep "^cmdline: n=998 console=ttyS0$" pb

# ---- (f) errors ----
expect_err () {
  local pat=$1; shift
  expect_rc 1 timeout 30 "$VDK" run --memory 64M --no-rng "$@"
  grep -q -- "$pat" "$TMP/err" || { cat "$TMP/err" >&2; fail "'$pat' not in the error"; }
}
expect_err 'bls.img: /boot/loader/entries/c-0.5.conf: kernel /vmlinuz-missing not found on /dev/sda1' \
  --entry c-0.5 bls.img
expect_err "bls.img: no boot entry '7' in /boot/loader/entries (3 entries)" --entry 7 bls.img
expect_err "grub.img: no boot entry 'Nope' in /boot/grub/grub.cfg" --entry Nope grub.img
expect_err 'give either --kernel or IMAGE' --kernel "$GUEST_ELF" bls.img
mkdir -p nk/root; rootdir nk/root
mkfs nk/root root.fs $ROOT_UUID ROOT
mkdisk nokernel.img dos root.fs
expect_err 'nokernel.img: no kernel found in /boot of /dev/sda1' nokernel.img
rmdir nk/root/boot
mkfs nk/root root.fs $ROOT_UUID ROOT
mkdisk noboot.img dos root.fs
expect_err 'noboot.img: no /boot in the guest (root filesystem /dev/sda1)' noboot.img
# an unreadable root filesystem: superblock checksum broken
cp dir.img bad.img
printf '\xff\xff' | dd of=bad.img bs=1 seek=$((1048576 + 1024 + 0x3fc)) conv=notrunc status=none
expect_err 'bad.img: no operating system found on the image (no filesystem with a Linux root; /dev/sda1: ext4: superblock checksum mismatch' bad.img
truncate -s 4M blank.img
expect_err 'blank.img: no operating system found on the image (no filesystem with a Linux root; /dev/sda: no filesystem vdk can read)' blank.img
expect_err '^vdk: nothere.img: No such file or directory$' nothere.img
expect_err '^vdk: bls.img: not a vmdk image' bls.img,format=vmdk
