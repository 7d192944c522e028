#!/bin/bash
# rbd: images on a real one-node Ceph cluster: convert both ways, block
# status, zeroes over old data, snapshots (read-only), create/resize, the rbd
# CLI and qemu-img as peers, and clear, quick errors.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../functions.sh"
. "$HERE/lib.sh"
requires_protocol rbd
requires python3
start_service ceph "$TMP/ceph"
. "$TMP/ceph/env"
R="rbd --conf $CEPH_CONF"
O=":conf=$CEPH_CONF"

make_image src.raw 24
"$VDK" convert -O raw src.raw "rbd:rbd/a$O"
expect_eq "$($R info --format json rbd/a | json_get /dev/stdin "j['size']")" $((24 << 20)) "rbd size"
$R export --no-progress rbd/a exported.raw 2>/dev/null
cmp src.raw exported.raw || fail "convert to RBD: rbd export differs"
"$VDK" info --output=json "rbd:rbd/a$O" > info.json
expect_eq "$(json_get info.json "j['virtual-size']")" $((24 << 20)) "virtual size"
"$VDK" compare src.raw "rbd:rbd/a$O" || fail "vdk compare: not identical"
if command -v qemu-img >/dev/null; then
  qemu-img compare src.raw "rbd:rbd/a$O" || fail "qemu-img compare: not identical"
fi
# One cluster connection serves a whole convert that creates the image
# (create, the format's create and the open reuse it): as many TCP
# connections as one `info`; a connection in use is not shared (compare
# opens both images at once)
if command -v strace > /dev/null; then
  ninet () { grep -c 'connect(.*AF_INET' "$1" || true; }
  # (LeakSanitizer cannot stop threads under ptrace: no leak check here)
  export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
  strace -f -e trace=connect -o c-info.txt "$VDK" info "rbd:rbd/a$O" > /dev/null
  strace -f -e trace=connect -o c-conv.txt "$VDK" convert -O raw src.raw "rbd:rbd/c1$O"
  expect_eq "$(ninet c-conv.txt)" "$(ninet c-info.txt)" "TCP connections of a creating convert"
  strace -f -e trace=connect -o c-two.txt "$VDK" compare "rbd:rbd/a$O" "rbd:rbd/a$O:rbd_cache=false"
  [ "$(ninet c-two.txt)" -gt "$(ninet c-info.txt)" ] ||
    fail "two different connections were shared: $(ninet c-two.txt) TCP connections"
  "$VDK" compare src.raw "rbd:rbd/c1$O" || fail "convert to RBD (shared connection): differs"
  export ASAN_OPTIONS=${ASAN_OPTIONS%detect_leaks=0}
fi
# CEPH_CONF from the environment works too; RBD -> local
CEPH_CONF=$CEPH_CONF "$VDK" convert -O raw rbd:rbd/a back.raw
cmp src.raw back.raw || fail "convert from RBD: content differs"
# block status from diff-iterate: objects 1-2 (4-12 MiB) were never written
"$VDK" map --output=json "rbd:rbd/a$O" > map.json
expect_eq "$(json_get map.json "any(e['zero'] and not e['data'] and e['start'] <= 4 << 20 and e['start'] + e['length'] >= 12 << 20 for e in j)")" \
  True "block status: the unwritten objects are zero"
# a snapshot keeps the old data; zeroes of the new source overwrite old data
$R snap create rbd/a@s1 >/dev/null 2>&1
head -c 24M /dev/urandom > full.raw
"$VDK" convert -n -O raw full.raw "rbd:rbd/a$O"
"$VDK" compare full.raw "rbd:rbd/a$O" || fail "after overwrite: not identical"
"$VDK" compare src.raw "rbd:rbd/a@s1$O" || fail "snapshot lost its data"
"$VDK" convert -m 1 -n -O raw src.raw "rbd:rbd/a$O"
"$VDK" compare src.raw "rbd:rbd/a$O" || fail "zeroes over old data (sync path)"
expect_fail "$VDK" convert -n -O raw src.raw "rbd:rbd/a@s1$O"
expect_grep "rbd:rbd/a@s1$O: snapshots are read-only" "$TMP/err"
# create, resize
"$VDK" create -f raw "rbd:rbd/n$O" 8M > /dev/null
expect_eq "$($R info --format json rbd/n | json_get /dev/stdin "j['size']")" $((8 << 20)) "created size"
# nothing written by the create (qemu-img writes nothing either)
expect_eq "$($R du --format json rbd/n 2>/dev/null | json_get /dev/stdin "j['images'][0]['used_size']")" \
  0 "used size of a created image"
"$VDK" resize "rbd:rbd/n$O" +8M > /dev/null
expect_eq "$($R info --format json rbd/n | json_get /dev/stdin "j['size']")" $((16 << 20)) "resized size"
# created again over the old one (data in it): the new size (given to the
# create itself, no resize after it) and nothing of the old data
head -c 16M /dev/urandom > r16.raw
"$VDK" convert -n -O raw r16.raw "rbd:rbd/n$O"
"$VDK" create -f raw "rbd:rbd/n$O" 4M > /dev/null
expect_eq "$($R info --format json rbd/n | json_get /dev/stdin "j['size']")" $((4 << 20)) "size after a create over an image"
truncate -s 4M z4.raw
"$VDK" compare z4.raw "rbd:rbd/n$O" || fail "a create over an image left old data"
# preallocation=full still writes the whole image (the create sized it)
"$VDK" create -f raw -o preallocation=full "rbd:rbd/pf$O" 4M > /dev/null
expect_eq "$($R du --format json rbd/pf 2>/dev/null | json_get /dev/stdin "j['images'][0]['used_size']")" \
  $((4 << 20)) "preallocation=full used size"
# errors
expect_fail "$VDK" info "rbd:rbd/missing$O"
expect_grep "rbd:rbd/missing$O: no such image" "$TMP/err"
expect_fail "$VDK" info "rbd:nopool/a$O"
expect_grep "rbd:nopool/a$O: no such pool" "$TMP/err"
expect_fail "$VDK" info "rbd:a$O"
expect_grep "invalid RBD spec" "$TMP/err"
# qcow2 on an RBD image: written by vdk, read by vdk and qemu-img
if "$VDK" --help | grep -q '^Formats:.* qcow2'; then
  "$VDK" convert -O qcow2 src.raw "rbd:rbd/q$O"
  expect_eq "$("$VDK" info --output=json "rbd:rbd/q$O" | json_get /dev/stdin "j['format']")" qcow2
  "$VDK" check "rbd:rbd/q$O" >/dev/null || fail "vdk check of a qcow2 on RBD"
  "$VDK" compare src.raw "rbd:rbd/q$O" || fail "qcow2 on RBD reads differently"
  if command -v qemu-img >/dev/null; then
    qemu-img compare src.raw "rbd:rbd/q$O" >/dev/null || fail "qemu-img reads vdk's qcow2 on RBD differently"
  fi
fi
expect_fail "$VDK" info "rbd:rbd/a:conf=$TMP/nowhere.conf"
expect_grep "cannot read Ceph configuration $TMP/nowhere.conf" "$TMP/err"
p=$(closed_port)
expect_fast_fail 8 "$VDK" info "rbd:rbd/a$O:mon_host=127.0.0.1\\:$p:client_mount_timeout=2"
expect_grep "cannot connect to the Ceph cluster" "$TMP/err"
# the OSD hangs in the middle of a transfer: an error after the op timeout
# (the image exists first, and -n writes into it: the freeze must hit the
# data writes, not the create, whose failure reads differently)
head -c 128M /dev/urandom > big.raw
"$VDK" create -q -f raw "rbd:rbd/big$O" 128M
expect_fail_when_frozen "$(awk '$1 == "osd.0" {print $2}' "$TMP/ceph/pids")" 12 \
  "$VDK" convert -n -O raw big.raw "rbd:rbd/big$O:rados_osd_op_timeout=2"
expect_grep "rbd:rbd/big$O:rados_osd_op_timeout=2: .*timed out" "$TMP/err"
# Frozen a little later, just after the open: the first write then waits
# for the exclusive lock, which librbd retries past its op timeout for as
# long as the OSD stays frozen (it hung forever); vdk's own deadline (2 x
# the op timeout, at least + 5 s) must end it.  The OSD needs a moment to
# serve again after SIGCONT.
sleep 2
SIGNAL_DELAY=0.15 expect_fail_when_frozen "$(awk '$1 == "osd.0" {print $2}' "$TMP/ceph/pids")" 12 \
  "$VDK" convert -n -O raw big.raw "rbd:rbd/big$O:rados_osd_op_timeout=2"
expect_grep "rbd:rbd/big$O:rados_osd_op_timeout=2: .*timed out" "$TMP/err"
# (big stays locked by the clients that gave up: a new writer would wait
# for their watches to expire, 30 s; a fresh image shows the cluster is back)
"$VDK" convert -O raw src.raw "rbd:rbd/after$O" || fail "the cluster did not recover after SIGCONT"
"$VDK" compare src.raw "rbd:rbd/after$O" || fail "after the freezes, a convert reads back differently"
echo OK
