#!/bin/bash
# convert's options against qemu-img 7.2: the same outputs (qemu-img compare,
# backing files, allocation) and, for refused combinations, the same exit
# codes and messages.
. "$(dirname "$0")/../functions.sh"
requires qemu-img qemu-io

qemu-img create -q -f qcow2 base.qcow2 16M
qemu-io -c 'write -P 1 0 4M' base.qcow2 >/dev/null
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2
qemu-io -c 'write -P 2 1M 1M' -c 'write -z 8M 1M' -c 'write -P 3 12M 64k' top.qcow2 >/dev/null

# outputs: vdk's equals qemu-img's for each option set
for args in "-O raw" "-O qcow2" "-O qcow2 -c" "-O qcow2 -o cluster_size=4k,compat=0.10" \
            "-O qcow2 -S 0" "-O raw -S 64k" "-O qcow2 -B base.qcow2 -F qcow2" \
            "-O qcow2 -W -m 4" "-O qcow2 -t none -T writeback" "-O qcow2 -U" \
            "-O vmdk -o subformat=streamOptimized" "-O vpc" "-O vhdx"; do
  rm -f q.img v.img
  # shellcheck disable=SC2086
  qemu-img convert $args top.qcow2 q.img
  # shellcheck disable=SC2086
  "$VDK" convert $args top.qcow2 v.img || fail "vdk convert $args"
  qemu-img compare -q q.img v.img || fail "convert $args: the outputs differ"
  qemu-img info --output=json q.img > q.json
  qemu-img info --output=json v.img > v.json
  python3 - <<'PY' || fail "convert $args: qemu-img info differs"
import json
q, v = json.load(open("q.json")), json.load(open("v.json"))
for k in ("format", "virtual-size", "backing-filename", "cluster-size"):
    assert q.get(k) == v.get(k), (k, q.get(k), v.get(k))
PY
done
qemu-img compare -q top.qcow2 v.img || fail "the output is not the source"
# -B: only what differs from the new backing file is in the output
"$VDK" convert -O qcow2 -B base.qcow2 -F qcow2 top.qcow2 v.img
qemu-img map --output=json v.img > m.json
expect_eq "$(json_get m.json "sum(e['length'] for e in j if e['depth'] == 0 and e['data'])")" \
  $((1048576 + 65536)) "convert -B: bytes allocated in the output"
# -n and --target-is-zero into an existing image
qemu-img create -q -f qcow2 n.qcow2 16M
"$VDK" convert -n --target-is-zero -O qcow2 top.qcow2 n.qcow2
qemu-img compare -q top.qcow2 n.qcow2 || fail "convert -n --target-is-zero"
# -S 0 allocates everything, the default leaves zeroes out
"$VDK" convert -O raw -S 0 top.qcow2 full.raw
[ $(( $(stat -c %b full.raw) * 512 )) -ge $((16 << 20)) ] || fail "-S 0 left holes"

same () {   # same ARGS...: exit code and message of a refused convert
  local qrc=0 vrc=0
  rm -f o
  qemu-img convert "$@" >q.out 2>q.err || qrc=$?
  rm -f o
  "$VDK" convert "$@" >v.out 2>v.err || vrc=$?
  expect_eq "$vrc" "$qrc" "exit code of convert $*"
  expect_eq "$(sed 's/^vdk: //' v.err)" "$(sed 's/^qemu-img: //' q.err)" "messages of convert $*"
  [ "$qrc" = 0 ] || [ ! -e o ] || fail "a refused convert $* left its output"
}
same -O qcow2 -n -o cluster_size=4k top.qcow2 o
same -O qcow2 -B base.qcow2 top.qcow2 o
same -O raw -B base.qcow2 -F qcow2 top.qcow2 o
same -O raw -c top.qcow2 o
same top.qcow2
same -O qcow2 -S 100 top.qcow2 o
same -O qcow2 -S 32M top.qcow2 o
same -O qcow2 -t bogus top.qcow2 o
same -O qcow2 -T bogus top.qcow2 o
same -O nosuch top.qcow2 o
same -O qcow2 -o bogus=1 top.qcow2 o
same -O qcow2 -F qcow2 top.qcow2 o
same -O qcow2 -o backing_file=base.qcow2 top.qcow2 o
same -O qcow2 --target-is-zero top.qcow2 o
echo OK
