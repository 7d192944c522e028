#!/bin/bash
# libdisk's concatenated raw windows (seg.N.*) and window locks
# (file.lock-offset), which the logical pool's volumes are made of: data
# lands at the right offsets, hostile specs give one clear error, and qemu
# (whole-file locks) and a vdk window writer exclude each other.
. "$(dirname "$0")/../functions.sh"
export VDK_STATE_DIR=$TMP/state
MiB=1048576

truncate -s 4M a.img b.img
S="driver=raw,file.filename=a.img,file.lock-offset=1M,offset=1M,size=1M"
S="$S,seg.1.file.filename=b.img,seg.1.file.lock-offset=2M,seg.1.offset=2M,seg.1.size=512K"
S="$S,seg.2.file.filename=a.img,seg.2.file.lock-offset=3M,seg.2.offset=3M,seg.2.size=512K"
rand_file pat 2
$VDK convert -n -O raw pat "$S"
cat <(dd if=a.img bs=1M skip=1 count=1 status=none) <(dd if=b.img bs=512K skip=4 count=1 status=none) \
    <(dd if=a.img bs=512K skip=6 count=1 status=none) | cmp - pat || fail "windows at the wrong place"
expect_eq "$($VDK info --output=json "$S" | json_get /dev/stdin 'j["virtual-size"]')" $((2 * MiB))
expect_rc 0 $VDK compare "$S" pat
expect_eq "$($VDK map --output=json "$S" | json_get /dev/stdin 'len(j)')" 3 "one map extent per window"
# nothing outside the windows was touched
cmp <(dd if=a.img bs=1M count=1 status=none) <(head -c $MiB /dev/zero) || fail "a.img head touched"
cmp <(dd if=b.img bs=1M count=2 status=none) <(head -c $((2 * MiB)) /dev/zero) || fail "b.img head"

# hostile specs: one line, naming the problem
bad () {   # bad SPEC MESSAGE
  expect_fail $VDK info "$1"
  expect_grep "$2" "$TMP/err"
  expect_eq "$(wc -l < "$TMP/err")" 1 "one error line for $1"
}
W="driver=raw,file.filename=a.img,offset=0,size=1M"
bad "$W,seg.1.file.filename=b.img,seg.1.offset=3M,seg.1.size=2M" "a.img: seg.1: offset + size is beyond the end of b.img"
bad "$W,seg.1.file.filename=b.img,seg.1.offset=0,seg.2.file.filename=b.img" "seg.1: size is required"
bad "$W,seg.1.offset=0,seg.1.size=1M" "seg.1: no file.filename"
bad "$W,seg.2.file.filename=b.img" "does not support the option 'seg.2.file.filename'"
bad "$W,seg.1.file.filename=b.img,seg.1.offset=1M,seg.1.size=0" "seg.1: empty window"
bad "$W,seg.1.file.filename=b.img,seg.1.offset=0,seg.1.size=1M,seg.1.bogus=1" "does not support the option 'bogus'"
bad "driver=raw,file.filename=a.img,seg.1.file.filename=b.img,seg.1.size=1M" "size is required (seg.1 follows)"
bad "driver=raw,file.filename=a.img,file.lock-offset=100" "lock-offset must be at least 512"
many="driver=raw,file.filename=a.img,size=4096,file.locking=off"
for i in $(seq 256); do many="$many,seg.$i.file.filename=a.img,seg.$i.file.locking=off,seg.$i.size=4096"; done
bad "$many" "more than 256 raw windows"
# without lock-offset the same file twice is refused (whole-file locks)...
expect_fail $VDK convert -n -O raw pat "driver=raw,file.filename=a.img,offset=0,size=1M,seg.1.file.filename=a.img,seg.1.offset=1M,seg.1.size=1M"
expect_grep "a.img: Failed to get \"write\" lock" "$TMP/err"

# ---- qemu and a vdk window writer exclude each other ----
requires qemu-io mkfifo
truncate -s 16M pv.img
$VDK pool-create-as lp logical --source-dev "$TMP/pv.img" --source-name vgr --target /dev/vgr \
  --build >/dev/null
$VDK vol-create-as lp v 4M >/dev/null
mkfifo in.fifo
$VDK vol-upload v in.fifo --pool lp &
holder=$!
cleanup_fn "kill $holder 2>/dev/null"
exec 3>in.fifo
for i in $(seq 100); do
  ls -l /proc/$holder/fd 2>/dev/null | grep -q "pv.img" && break
  sleep 0.05
done
# qemu opening the whole PV for writing is refused (qemu-io shares
# everything, yet it has the write permission)
expect_fail qemu-io -f raw -c 'read 0 512' pv.img
expect_grep 'Failed to get "write" lock' "$TMP/err"
exec 3>&-
wait $holder || fail "the held upload failed"
expect_rc 0 qemu-io -f raw -c 'read 0 512' pv.img
# and a qemu writer of the whole PV keeps vdk off its LVs
qemu-io -f raw -c 'sleep 3000' pv.img &
q=$!
cleanup_fn "kill $q 2>/dev/null"
sleep 0.5
expect_fail $VDK convert -n -O raw pat vol:lp/v
expect_grep 'pv.img: Failed to get shared "write" lock' "$TMP/err"
wait $q || true
expect_rc 0 $VDK convert -n -O raw pat vol:lp/v
