#!/bin/bash
# vol-wipe --algorithm on dir, logical and disk pools (image files, no root):
# random changes every block, trim leaves zeroes and holes, the fixed
# patterns end as scrub(1) leaves a file (scrub as the oracle), and the
# refusals.
. "$(dirname "$0")/../functions.sh"
export VDK_STATE_DIR=$TMP/state
MiB=1048576
requires python3

# blocks_all_differ OLD NEW: every 4 KiB block changed, none is all zeroes
blocks_all_differ () {
  python3 - "$1" "$2" <<'PY'
import sys
a, b = open(sys.argv[1], 'rb').read(), open(sys.argv[2], 'rb').read()
assert len(a) == len(b), (len(a), len(b))
for i in range(0, len(a), 4096):
    x, y = a[i:i + 4096], b[i:i + 4096]
    if x == y or y == bytes(len(y)):
        sys.exit('block %d unchanged or zero' % (i // 4096))
PY
}
filled () { head -c $(($1 * MiB)) /dev/zero | tr '\0' "$2"; }   # filled MIB OCTAL-BYTE
allocated () { echo $(( $(stat -c %b "$1") * 512 )); }

mkdir dp
$VDK pool-create-as dp dir --target "$TMP/dp" >/dev/null
$VDK vol-create-as dp r.raw 4M >/dev/null
$VDK vol-create-as dp q.qcow2 4M --format qcow2 >/dev/null
rand_file data 4
$VDK vol-upload r.raw data --pool dp
$VDK vol-upload q.qcow2 data --pool dp

# random: every block changes, and two runs differ
expect_eq "$($VDK vol-wipe r.raw --pool dp --algorithm random)" "Vol r.raw wiped"
blocks_all_differ data dp/r.raw || fail "random left blocks unchanged"
cp dp/r.raw r1
$VDK vol-wipe r.raw --pool dp --algorithm random >/dev/null
blocks_all_differ r1 dp/r.raw || fail "a second random wipe repeated blocks"
# through the format: the qcow2 stays valid, its guest view is new data
$VDK vol-wipe q.qcow2 --pool dp --algorithm random >/dev/null
$VDK vol-download q.qcow2 q.out --pool dp
blocks_all_differ data q.out || fail "random on qcow2"
expect_rc 0 $VDK check dp/q.qcow2

# trim: zeroes, and the blocks are gone
expect_eq "$($VDK vol-wipe r.raw --pool dp --algorithm trim)" "Vol r.raw wiped"
cmp dp/r.raw <(head -c $((4 * MiB)) /dev/zero) || fail "trim: not zeroes"
[ "$(allocated dp/r.raw)" -le 65536 ] || fail "trim left $(allocated dp/r.raw) bytes allocated"
$VDK vol-wipe q.qcow2 --pool dp --algorithm trim >/dev/null
$VDK vol-download q.qcow2 q.out --pool dp
cmp q.out <(head -c $((4 * MiB)) /dev/zero) || fail "trim on qcow2: not zeroes"
expect_rc 0 $VDK check dp/q.qcow2

# fixed patterns: the volume ends as scrub leaves a file
for alg in bsi nnsa dod; do
  $VDK vol-upload r.raw data --pool dp
  $VDK vol-wipe r.raw --pool dp --algorithm $alg >/dev/null
  if command -v scrub >/dev/null; then
    cp data s.img
    scrub -S -f -p $alg s.img >/dev/null 2>&1 || fail "scrub -p $alg"
    cmp dp/r.raw s.img || fail "$alg: not what scrub leaves"
  fi
done
cmp dp/r.raw <(filled 4 '\377') || fail "dod ends with 0xff"
# gutmann and pfitzner7 end with random passes: every block changed
$VDK vol-upload r.raw data --pool dp
$VDK vol-wipe r.raw --pool dp --algorithm gutmann >/dev/null
blocks_all_differ data dp/r.raw || fail "gutmann"
$VDK vol-upload r.raw data --pool dp
$VDK vol-wipe r.raw --pool dp --algorithm pfitzner7 >/dev/null
blocks_all_differ data dp/r.raw || fail "pfitzner7"

# refusals
expect_fail $VDK vol-wipe r.raw --pool dp --algorithm shred
expect_eq "$(cat "$TMP/err")" "vdk: Unsupported wiping algorithm 'shred' (zero, nnsa, dod, bsi, gutmann, schneier, pfitzner7, pfitzner33, random, trim)"
expect_fail $VDK vol-wipe nosuch --pool dp --algorithm random
expect_grep "no storage vol with matching" "$TMP/err"
$VDK vol-wipe --help > help.txt 2>&1 || true
for alg in zero nnsa dod bsi gutmann schneier pfitzner7 pfitzner33 random trim; do
  expect_grep "^  $alg " help.txt
done

# ---- logical: an LV of two segments in an image-file PV ----
truncate -s 25M pv.img
$VDK pool-create-as lp logical --source-dev "$TMP/pv.img" --source-name vgw --target /dev/vgw \
  --build >/dev/null
$VDK vol-create-as lp a 4M >/dev/null
$VDK vol-create-as lp b 4M >/dev/null
$VDK vol-resize a 8M --pool lp >/dev/null     # a: extents 0 and 2
rand_file d8 8
$VDK vol-upload a d8 --pool lp
$VDK vol-upload b data --pool lp
$VDK vol-wipe a --pool lp --algorithm random >/dev/null
cat <(dd if=pv.img bs=$MiB skip=1 count=4 status=none) \
    <(dd if=pv.img bs=$MiB skip=9 count=4 status=none) > a.now
blocks_all_differ d8 a.now || fail "random on the two-segment LV"
dd if=pv.img bs=$MiB skip=5 count=4 status=none | cmp - data || fail "b changed by a's wipe"
$VDK vol-wipe a --pool lp --algorithm trim >/dev/null
cat <(dd if=pv.img bs=$MiB skip=1 count=4 status=none) \
    <(dd if=pv.img bs=$MiB skip=9 count=4 status=none) | cmp - <(head -c $((8 * MiB)) /dev/zero) \
  || fail "trim on the LV"
dd if=pv.img bs=$MiB skip=5 count=4 status=none | cmp - data || fail "b changed by a's trim"
# a's extents are holes in the PV file now: the file holds b and the metadata
[ "$(allocated pv.img)" -le $((5 * MiB + 65536)) ] || fail "trim left a's extents allocated"

# ---- disk: a partition of a GPT image ----
truncate -s 16M g.img
$VDK pool-create-as gp disk --source-dev "$TMP/g.img" --source-format gpt --target /dev \
  --build >/dev/null
$VDK vol-create-as gp p1 4M >/dev/null
$VDK vol-upload p1 data --pool gp
$VDK vol-wipe p1 --pool gp --algorithm random >/dev/null
dd if=g.img bs=$MiB skip=1 count=4 status=none > p1.now
blocks_all_differ data p1.now || fail "random on a disk pool partition"
$VDK vol-wipe p1 --pool gp --algorithm bsi >/dev/null
dd if=g.img bs=$MiB skip=1 count=4 status=none | cmp - <(filled 4 '\177') || fail "bsi on p1"
expect_eq "$(sfdisk --json g.img | json_get /dev/stdin 'len(j["partitiontable"]["partitions"])')" 1
