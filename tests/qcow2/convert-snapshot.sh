#!/bin/bash
# convert -l / -s: copy an internal qcow2 snapshot, read-only, as qemu-img
# convert -l does.  Snapshots are made by qemu-img and by vdk; each is
# converted by both tools and the outputs compared with qemu-img compare.
. "$(dirname "$0")/../functions.sh"
requires qemu-img qemu-io

qemu-img create -q -f qcow2 a.qcow2 8M
qemu-io -c 'write -P 1 0 1M' -c 'write -P 2 3M 64k' a.qcow2 >/dev/null
qemu-img snapshot -c q1 a.qcow2                         # by qemu-img
qemu-io -c 'write -P 3 0 512k' -c 'write -z 3M 64k' a.qcow2 >/dev/null
"$VDK" snapshot -c v2 a.qcow2                           # by vdk
qemu-io -c 'write -P 4 1280k 256k' a.qcow2 >/dev/null
qemu-img convert -O raw a.qcow2 cur.raw

for snap in q1 v2; do
  id=$(qemu-img snapshot -l a.qcow2 | awk -v s=$snap '$2 == s { print $1 }')
  [ -n "$id" ] || fail "snapshot $snap not listed by qemu-img"
  qemu-img convert -O raw -l "$snap" a.qcow2 q-$snap.raw
  cmp -s q-$snap.raw cur.raw && fail "snapshot $snap reads like the current state"
  for spec in "-l $snap" "-s $snap" "-l snapshot.name=$snap" "-l snapshot.id=$id" \
              "-l snapshot.id=$id,snapshot.name=$snap" "-s $id"; do
    for ofmt in raw qcow2; do
      # shellcheck disable=SC2086
      "$VDK" convert -O $ofmt $spec a.qcow2 v.$ofmt || fail "vdk convert $spec -O $ofmt"
      qemu-img compare -q q-$snap.raw v.$ofmt || fail "vdk convert $spec -O $ofmt differs from qemu-img"
      rm -f v.$ofmt
    done
  done
  # qemu-img reads vdk's snapshot output the same way
  qemu-img convert -O qcow2 -l snapshot.name=$snap a.qcow2 q.qcow2
  "$VDK" compare q.qcow2 q-$snap.raw >/dev/null || fail "vdk compare of qemu-img's snapshot copy"
done
# the image itself was not changed by reading snapshots
"$VDK" compare a.qcow2 cur.raw >/dev/null || fail "image changed"
qemu-img check -q a.qcow2 || fail "qemu-img check after the snapshot reads"

# snapshot.id applies to the first source of several (as qemu-img)
qemu-img convert -O raw -l snapshot.id=1 a.qcow2 a.qcow2 q2.raw
"$VDK" convert -O raw -l snapshot.id=1 a.qcow2 a.qcow2 v2.raw
cmp q2.raw v2.raw || fail "-l snapshot.id with two sources differs from qemu-img"

# errors: exit code and message as qemu-img's
errcase () {
  local qrc=0 vrc=0
  qemu-img convert -O raw "$@" q.out 2>q.err || qrc=$?
  "$VDK" convert -O raw "$@" v.out 2>v.err || vrc=$?
  expect_eq "$vrc" "$qrc" "exit code of convert $*"
  expect_eq "$(sed 's/^vdk: //' v.err | grep -v '^removed')" "$(sed 's/^qemu-img: //' q.err)" \
    "message of convert $*"
  [ ! -e v.out ] || fail "convert $* left an output"
}
errcase -l nosuch a.qcow2
errcase -l snapshot.name=nosuch a.qcow2
errcase -l snapshot.id=1,snapshot.name=v2 a.qcow2
errcase -l snapshot.bogus=1 a.qcow2
errcase -l q1 a.qcow2 a.qcow2
qemu-img create -q -f raw r.img 1M
errcase -l q1 r.img
errcase -l snapshot.id=1 r.img a.qcow2
echo OK
