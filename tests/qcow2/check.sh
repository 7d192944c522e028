#!/bin/bash
# vdk check against qemu-img check: same lines (stdout and stderr), same
# JSON, same exit codes (0 clean, 2 corruptions, 3 leaks, 63 unsupported),
# and repairs (-r leaks, -r all) that qemu-img then finds clean.
. "$(dirname "$0")/../functions.sh"
requires qemu-img qemu-io python3

# setref IMAGE CLUSTER VALUE: poke a 16-bit refcount in the first block
setref () {
  python3 - "$@" <<'PY'
import struct, sys
f = open(sys.argv[1], 'r+b')
h = f.read(104)
cbits = struct.unpack('>I', h[20:24])[0]
rt = struct.unpack('>Q', h[48:56])[0]
f.seek(rt); rb = struct.unpack('>Q', f.read(8))[0]
f.seek(rb + 2 * int(sys.argv[2])); f.write(struct.pack('>H', int(sys.argv[3])))
PY
}

both () {   # both ARGS... IMAGE: run both checkers on copies, compare everything
  local img=${@: -1}
  cp "$img" vimg.qcow2; cp "$img" qimg.qcow2
  local vrc=0 qrc=0
  "$VDK" check "${@:1:$#-1}" vimg.qcow2 > v.out 2> v.err || vrc=$?
  qemu-img check "${@:1:$#-1}" qimg.qcow2 > q.out 2> q.err || qrc=$?
  sed -i 's/qimg.qcow2/vimg.qcow2/' q.out
  [ "$vrc" = "$qrc" ] || { cat v.out v.err; fail "exit code $vrc, qemu-img $qrc ($*)"; }
  diff -u q.out v.out || fail "stdout differs ($*)"
  diff -u q.err v.err || fail "stderr differs ($*)"
  echo $vrc
}

# clean images of several kinds
"$VDK" create -q -f qcow2 a.qcow2 4M
[ "$(both a.qcow2)" = 0 ] || fail "fresh image not clean"
qemu-io -c 'write 0 300k' -c 'write -c 1M 64k' -c 'write -c 2M 64k' -c 'write 3M 4k' a.qcow2 > /dev/null
[ "$(both a.qcow2)" = 0 ] || fail "written image"
[ "$(both --output=json a.qcow2)" = 0 ] || fail "written image (json)"
qemu-img snapshot -c s1 a.qcow2
qemu-io -c 'write 0 64k' a.qcow2 > /dev/null
[ "$(both a.qcow2)" = 0 ] || fail "image with a snapshot"
qemu-img create -q -f qcow2 -o extended_l2=on,refcount_bits=4 e.qcow2 4M
qemu-io -c 'write 5k 3k' e.qcow2 > /dev/null
[ "$(both e.qcow2)" = 0 ] || fail "extended_l2 image"

# persistent bitmaps (kept by vdk, not maintained): their clusters count
qemu-img create -q -f qcow2 bm.qcow2 4M
qemu-img bitmap --add bm.qcow2 b0
qemu-io -c 'write 0 1M' bm.qcow2 > /dev/null
qemu-img bitmap --add bm.qcow2 b1
[ "$(both bm.qcow2)" = 0 ] || fail "image with bitmaps"
expect_rc 0 "$VDK" check -r all bm.qcow2
qemu-img info bm.qcow2 | grep -q "name: b1" || fail "bitmaps lost by a check"

# a leaked cluster past the data
qemu-img create -q -f qcow2 l.qcow2 1M
qemu-io -c 'write 0 64k' -c 'write -c 128k 64k' l.qcow2 > /dev/null
truncate -s $((8 * 65536)) l.qcow2
setref l.qcow2 7 1
[ "$(both l.qcow2)" = 3 ] || fail "leak: exit code"
[ "$(both --output=json l.qcow2)" = 3 ] || fail "leak: json"
[ "$(both -r leaks l.qcow2)" = 0 ] || fail "leak repair"
cp l.qcow2 fix.qcow2
"$VDK" check -r leaks fix.qcow2 > /dev/null 2>&1
qemu-img check fix.qcow2 > /dev/null || fail "qemu-img finds problems after vdk repaired leaks"

# a data cluster whose refcount is 0: a corruption
setref l.qcow2 5 0
[ "$(both l.qcow2)" = 2 ] || fail "corruption: exit code"
[ "$(both --output=json l.qcow2)" = 2 ] || fail "corruption: json"
cp l.qcow2 fix.qcow2
expect_rc 0 "$VDK" check -r all fix.qcow2
qemu-img check fix.qcow2 > /dev/null || fail "qemu-img finds problems after vdk check -r all"
expect_rc 0 "$VDK" check fix.qcow2

# a refcount that is too high for a data cluster (leak + COPIED error)
qemu-img create -q -f qcow2 h.qcow2 1M
qemu-io -c 'write 0 64k' h.qcow2 > /dev/null
setref h.qcow2 4 2
[ "$(both h.qcow2)" = 2 ] || fail "refcount too high"
cp h.qcow2 fix.qcow2
expect_rc 0 "$VDK" check -r all fix.qcow2
qemu-img check fix.qcow2 > /dev/null || fail "qemu-img finds problems after repairing COPIED"

# formats without checks
truncate -s 1M r.raw
expect_rc 63 "$VDK" check -f raw r.raw
expect_grep "does not support checks" "$TMP/err"
echo OK
