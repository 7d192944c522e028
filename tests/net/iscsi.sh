#!/bin/bash
# iscsi:// through a real tgtd: convert both ways, zeroes and block status on a
# thin LUN, qemu-img as the peer, CHAP, mutual CHAP, initiator ACL, and
# clear, quick errors.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../functions.sh"
. "$HERE/lib.sh"
requires_protocol iscsi
requires python3
GOOD=iqn.2025-01.org.vdk.test:good
start_service iscsi "$TMP/a" --luns 32M,16M,128M --thin
start_service iscsi "$TMP/b" --luns 16M --initiator $GOOD --initiator iqn.2008-11.org.linux-kvm \
  --chap alice:alicesecret1 --mutual-chap tgt:targetsecret1
. "$TMP/a/env"
A=iscsi://$ISCSI_PORTAL/$ISCSI_IQN
. "$TMP/b/env"
B=iscsi://alice%alicesecret1@$ISCSI_PORTAL/$ISCSI_IQN/1
BQ="target_user=tgt&target_password=targetsecret1"

make_image src.raw 32
"$VDK" info --output=json "$A/1" > info.json
expect_eq "$(json_get info.json "j['virtual-size']")" $((32 << 20)) "LUN size"
# A LUN full of old data: the holes of the source must become zeroes on it.
head -c 32M /dev/urandom > "$TMP/a/lun1.img"
"$VDK" convert -n -O raw src.raw "$A/1"
cmp src.raw "$TMP/a/lun1.img" || fail "convert -n to the LUN: content differs"
# the zeroes went out as WRITE SAME(16) with UNMAP on the thin LUN: the
# backing file has holes again (4 MiB of data in the source)
[ "$(du -k "$TMP/a/lun1.img" | cut -f1)" -lt 16384 ] || fail "zeroes were written as data"
"$VDK" compare src.raw "$A/1" || fail "vdk compare: not identical"
if command -v qemu-img >/dev/null; then
  qemu-img compare src.raw "$A/1" || fail "qemu-img compare: not identical"
fi
# cache=writeback: a SYNCHRONIZE CACHE along the way (one per 8 MiB
# written), seen as fsyncs by tgtd; none with cache=unsafe
if command -v strace > /dev/null; then
  head -c 80M /dev/urandom > big.raw
  tpid=$(awk '$1 == "tgtd" { print $2; exit }' "$TMP/a/pids")
  for c in writeback unsafe; do
    strace -f -p "$tpid" -e trace=fsync,fdatasync,sync_file_range -o "st-$c.txt" 2>/dev/null & spid=$!
    sleep 0.5
    "$VDK" convert -t $c -n -O raw big.raw "$A/3"
    sleep 0.2
    kill -INT $spid; wait $spid || true
    cmp -n $((80 << 20)) big.raw "$TMP/a/lun3.img" || fail "convert -t $c to the LUN: content differs"
    eval "n_$c=\$(grep -c 'sync' st-$c.txt || true)"
  done
  echo "target syncs: writeback $n_writeback, unsafe $n_unsafe"
  [ "$n_writeback" -ge $((n_unsafe + 9)) ] ||
    fail "cache=writeback: tgtd saw $n_writeback syncs, unsafe $n_unsafe: no early SYNCHRONIZE CACHE"
fi
# without -n: "create" accepts an existing LUN; synchronous path (-m 1)
"$VDK" convert -m 1 -O raw src.raw "$A/1"
cmp src.raw "$TMP/a/lun1.img" || fail "convert -m 1 to the LUN: content differs"
"$VDK" convert -O raw "$A/1" back.raw
cmp src.raw back.raw || fail "convert from the LUN: content differs"
# a smaller image into the second LUN, then compare reports the difference
head -c 8M src.raw > small.raw
"$VDK" convert -n -O raw small.raw "$A/2"
"$VDK" compare small.raw "$A/2" || fail "LUN 2: not identical (the rest reads as zeroes)"
expect_rc 1 "$VDK" compare -s small.raw "$A/2"     # strict: sizes differ
printf 'Z' | dd of="$TMP/a/lun1.img" bs=1 seek=$((20 << 20)) conv=notrunc status=none
expect_rc 1 "$VDK" compare src.raw "$A/1"
expect_grep "20971520" "$TMP/out"
# block status: GET LBA STATUS on the thin LUN reports the unmapped range
truncate -s 0 "$TMP/a/lun2.img"; truncate -s 16M "$TMP/a/lun2.img"
printf 'data' | dd of="$TMP/a/lun2.img" bs=1 conv=notrunc status=none
"$VDK" map --output=json "$A/2" > map.json
expect_eq "$(json_get map.json "j[0]['data'] and j[-1]['zero'] and not j[-1]['data'] and j[-1]['start'] <= 65536 and j[-1]['start'] + j[-1]['length'] == 16 << 20")" \
  True "block status of a thin LUN (data, then unmapped to the end)"
# no create, no growing
expect_fail "$VDK" convert -O raw src.raw "$A/7"
expect_grep "$A/7: error while converting raw: cannot use this LUN (vdk writes to existing iSCSI LUNs, it does not create them): no such LUN" "$TMP/err"
expect_fail "$VDK" resize "$A/2" 64M
expect_grep "cannot be resized" "$TMP/err"
expect_fail "$VDK" create -f raw "$A/2" 64M
expect_grep "$A/2: the LUN has only 16777216 bytes, 67108864 are needed" "$TMP/err"
# a smaller image on a LUN: a view of its first bytes
"$VDK" create -f raw "$A/2" 8M > /dev/null
expect_eq "$("$VDK" info --output=json "$A/2" | json_get /dev/stdin "j['virtual-size']")" $((16 << 20)) "LUN size after create"
expect_fail "$VDK" info "$A/0"
expect_grep "$A/0: LUN 0 is not a disk" "$TMP/err"
# CHAP, mutual CHAP and the initiator ACL
"$VDK" convert -n -O raw small.raw "$B?$BQ&initiator-name=$GOOD"
cmp small.raw <(head -c 8M "$TMP/b/lun1.img") || fail "CHAP target: content differs"
if command -v qemu-img >/dev/null; then
  qemu-img compare small.raw "json:{\"driver\":\"raw\",\"size\":$((8 << 20)),\"file\":{\"driver\":\"iscsi\",\"transport\":\"tcp\",\"portal\":\"$ISCSI_PORTAL\",\"target\":\"$ISCSI_IQN\",\"lun\":1,\"user\":\"alice\",\"password\":\"alicesecret1\"}}" ||
    fail "qemu-img compare over CHAP: not identical"
fi
# CHAP credentials from the environment instead of the URL
LIBISCSI_CHAP_USERNAME=alice LIBISCSI_CHAP_PASSWORD=alicesecret1 \
  "$VDK" compare small.raw "iscsi://$ISCSI_PORTAL/$ISCSI_IQN/1?initiator-name=$GOOD" ||
  fail "CHAP from the environment"
expect_fail "$VDK" info "iscsi://$ISCSI_PORTAL/$ISCSI_IQN/1?initiator-name=$GOOD"
expect_grep "authentication failed\|Authentication" "$TMP/err"
expect_fail "$VDK" info "$B?$BQ&initiator-name=iqn.2025-01.org.vdk.test:evil"
expect_grep "access denied" "$TMP/err"
expect_fail "$VDK" info "${B/alicesecret1/wrongsecret}?$BQ&initiator-name=$GOOD"
expect_grep "authentication failed" "$TMP/err"
expect_fail "$VDK" info "$B?target_user=tgt&target_password=wrongsecret&initiator-name=$GOOD"
expect_grep "Authentication failed" "$TMP/err"
# unreachable and hung targets fail quickly
p=$(closed_port)
expect_fast_fail 5 "$VDK" info "iscsi://127.0.0.1:$p/$ISCSI_IQN/1"
expect_grep "iscsi://127.0.0.1:$p/$ISCSI_IQN/1: cannot connect" "$TMP/err"
start_black_hole
expect_fast_fail 8 "$VDK" info "iscsi://127.0.0.1:$BLACK_HOLE_PORT/$ISCSI_IQN/1?timeout=2"
expect_grep "timed out" "$TMP/err"
expect_fail "$VDK" info "iscsi://127.0.0.1:$p/$ISCSI_IQN/1?timeout=0"
expect_grep "invalid timeout" "$TMP/err"
# the target hangs in the middle of a transfer: an error after the timeout
head -c 128M /dev/urandom > big.raw
expect_fail_when_frozen "$(awk '{print $2}' "$TMP/a/pids")" 10 \
  "$VDK" convert -n -O raw big.raw "$A/3?timeout=2"
expect_grep "$A/3?timeout=2: .*timed out" "$TMP/err"
# the target dies in the middle of a transfer: an error at once
expect_fail_when_signalled KILL "$(awk '{print $2}' "$TMP/a/pids")" 5 \
  "$VDK" convert -n -O raw big.raw "$A/3?timeout=30"
expect_grep "$A/3?timeout=30: " "$TMP/err"
echo OK
