#!/bin/bash
# fs pools on a loop device (and on an image file): build runs mkfs only
# when that destroys nothing unless --overwrite, start mounts, destroy
# unmounts and keeps the data; blkid and the mount table are the oracles.
. "$(dirname "$0")/../functions.sh"
requires_root
requires losetup mount umount mkfs.ext4 blkid
export VDK_STATE_DIR=$TMP/state
M=$TMP/mnt

truncate -s 64M disk.img
dev=$(losetup -f --show disk.img 2>/dev/null) || skip "no loop devices"
cleanup_fn "umount '$M' 2>/dev/null; umount '$TMP/mnt2' 2>/dev/null; losetup -d $dev"
mounted () { grep -q " $1 " /proc/self/mountinfo; }
mkdir probe && { mount -t tmpfs none probe 2>/dev/null || skip "mount is not permitted"; }
umount probe

expect_eq "$($VDK pool-define-as fsp fs --source-dev "$dev" --source-format ext4 --target "$M")" \
  "Pool fsp defined"

# --no-overwrite on a blank device: mkfs runs.
expect_eq "$($VDK pool-build fsp --no-overwrite)" "Pool fsp built"
expect_eq "$(blkid -p -o value -s TYPE "$dev")" "ext4" "mkfs.ext4 ran"
[ -d "$M" ] || fail "pool-build did not make the mount point"
uuid=$(blkid -p -o value -s UUID "$dev")
# Refusals: --no-overwrite on a filesystem; both flags.
expect_fail $VDK pool-build fsp --no-overwrite
expect_grep "device '$dev' already contains data (ext2/3/4 filesystem) (use --overwrite" "$TMP/err"
expect_eq "$(wc -l < "$TMP/err")" 1
# Without flags an existing filesystem is kept.
expect_rc 0 $VDK pool-build fsp
expect_eq "$(blkid -p -o value -s UUID "$dev")" "$uuid" "pool-build without flags kept the fs"
# --overwrite makes a new one.
expect_rc 0 $VDK pool-build fsp --overwrite
[ "$(blkid -p -o value -s UUID "$dev")" != "$uuid" ] || fail "--overwrite did not run mkfs"

# Start mounts; volumes are files in the filesystem.
expect_eq "$($VDK pool-start fsp)" "Pool fsp started"
mounted "$M" || fail "pool-start did not mount $M"
expect_fail $VDK pool-build fsp --overwrite
expect_grep "storage pool 'fsp' is already active" "$TMP/err"
expect_eq "$($VDK vol-create-as fsp v1.raw 8M)" "Vol v1.raw created"
rand_file data 3
expect_rc 0 $VDK vol-upload v1.raw data --pool fsp
expect_rc 0 $VDK vol-clone v1.raw v2.raw --pool fsp
expect_rc 0 $VDK vol-resize v2.raw 16M --pool fsp
expect_rc 0 $VDK vol-download vol:fsp/v2.raw out --length 3M
cmp data out || fail "fs pool upload/clone/download"
$VDK vol-list fsp > out
expect_grep "^ v1.raw   $M/v1.raw$" out
expect_grep "^ v2.raw   $M/v2.raw$" out
$VDK pool-info fsp --bytes > info
cap=$(awk '/^Capacity:/{print $2}' info)
[ "$cap" -gt 50000000 ] && [ "$cap" -le 67108864 ] || fail "fs pool capacity $cap"
expect_eq "$($VDK pool-list --details | awk '$1=="fsp"{print $2}')" "running"
expect_rc 0 $VDK convert -O raw data vol:fsp/conv.raw
cmp data "$M/conv.raw" || fail "convert into an fs pool volume"
expect_rc 0 $VDK vol-wipe conv.raw --pool fsp
cmp -n 3145728 /dev/zero "$M/conv.raw" || fail "wipe"
expect_rc 0 $VDK vol-delete conv.raw --pool fsp
[ ! -e "$M/conv.raw" ] || fail "vol-delete"

# Unmounted behind vdk's back: no volume goes into the bare mount point.
umount "$M"
expect_fail $VDK vol-create-as fsp stray 1M
expect_grep "'$M' is not mounted any more" "$TMP/err"
expect_fail $VDK convert -O raw data vol:fsp/stray
expect_grep "is not mounted any more" "$TMP/err"
[ -z "$(ls -A "$M")" ] || fail "a volume was created in the bare mount point"
expect_rc 0 $VDK pool-destroy fsp
# Something else mounted on the target is not adopted; the pool's own
# filesystem mounted by hand is.
mount -t tmpfs none "$M"
expect_fail $VDK pool-start fsp
expect_grep "'$M' is already mounted from none" "$TMP/err"
umount "$M"
mount "$dev" "$M"
expect_rc 0 $VDK pool-start fsp

# A busy filesystem is not unmounted: destroy fails, the pool stays up.
( exec 3<"$M/v1.raw"; sleep 20 ) &
busy=$!
cleanup_fn "kill $busy 2>/dev/null"
sleep 0.3
expect_fail $VDK pool-destroy fsp
expect_grep "cannot stop pool 'fsp': unmounting $M: umount failed" "$TMP/err"
expect_eq "$($VDK pool-list --name)" "fsp" "still active after a failed destroy"
kill $busy; wait $busy 2>/dev/null || true

# Destroy unmounts and keeps the data; start again finds the volumes.
expect_eq "$($VDK pool-destroy fsp)" "Pool fsp destroyed"
mounted "$M" && fail "pool-destroy did not unmount"
[ -z "$(ls -A "$M")" ] || fail "the mount point is not empty after destroy"
expect_rc 0 $VDK pool-start fsp
# (lost+found is a directory, not a volume)
expect_eq "$($VDK vol-list fsp | awk 'NR>2{print $1}' | tr '\n' ' ')" "v1.raw v2.raw "
expect_rc 0 $VDK pool-destroy fsp

# An image file as the source device (mounted through a loop device),
# adopted when mounted by hand.
truncate -s 32M fs2.img
expect_rc 0 $VDK pool-create-as fs2 fs --source-dev "$TMP/fs2.img" --target "$TMP/mnt2" \
  --build --no-overwrite
mounted "$TMP/mnt2" || fail "image-file fs pool not mounted"
expect_eq "$(blkid -p -o value -s TYPE fs2.img)" "ext4"
expect_rc 0 $VDK pool-destroy fs2
mount -o loop fs2.img "$TMP/mnt2"
expect_rc 0 $VDK pool-create-as fs2 fs --source-dev "$TMP/fs2.img" --target "$TMP/mnt2"
expect_rc 0 $VDK vol-create-as fs2 x 1M
expect_rc 0 $VDK pool-destroy fs2
mounted "$TMP/mnt2" && fail "image-file pool still mounted"
expect_eq "$($VDK pool-list --all --name)" "fsp" "transient fs pool gone"

# A GPT (or other signature) is never overwritten without --overwrite.
truncate -s 32M gpt.img
printf 'EFI PART' | dd of=gpt.img bs=1 seek=512 conv=notrunc status=none
expect_rc 0 $VDK pool-define-as g fs --source-dev "$TMP/gpt.img" --target "$TMP/mnt3"
expect_fail $VDK pool-build g --no-overwrite
expect_grep "already contains data (GPT partition table)" "$TMP/err"
# Not blank, no known signature: no flag leaves it alone; start fails clearly.
head -c 4096 /dev/urandom | dd of=gpt.img conv=notrunc status=none
expect_fail $VDK pool-build g --no-overwrite
expect_grep "its first 64 KiB are not zeroes; use --overwrite" "$TMP/err"
expect_rc 0 $VDK pool-build g
expect_eq "$(blkid -p -o value -s TYPE gpt.img || true)" "" "unknown data was left alone"
expect_fail $VDK pool-start g
expect_grep "cannot start pool 'g': mounting $TMP/gpt.img on $TMP/mnt3: mount failed" "$TMP/err"
expect_eq "$($VDK pool-list --name)" "" "a failed start leaves the pool inactive"

# Delete removes the (unmounted, empty) mount point only.
expect_eq "$($VDK pool-delete fsp)" "Pool fsp deleted"
[ ! -e "$M" ] || fail "pool-delete left the mount point"
expect_eq "$(blkid -p -o value -s TYPE "$dev")" "ext4" "pool-delete destroyed the filesystem"
expect_rc 0 $VDK pool-undefine fsp
echo OK
