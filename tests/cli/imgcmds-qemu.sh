#!/bin/bash
# info, check, map, resize, snapshot, rebase, commit, compare and amend
# against qemu-img 7.2: each case runs both tools on fresh copies of the
# same chain and compares stdout, stderr (program name aside), the exit code
# and the resulting chain as qemu-img info --backing-chain shows it.
. "$(dirname "$0")/../functions.sh"
requires qemu-img qemu-io

mkdir tmpl
qemu-img create -q -f qcow2 tmpl/b.qcow2 16M
qemu-io -c 'write -P 1 0 4M' tmpl/b.qcow2 >/dev/null
qemu-img create -q -f qcow2 -b b.qcow2 -F qcow2 tmpl/t.qcow2
qemu-io -c 'write -P 2 1M 1M' -c 'write -z 3M 64k' tmpl/t.qcow2 >/dev/null
qemu-img snapshot -c s0 tmpl/t.qcow2
qemu-img create -q -f qcow2 tmpl/n.qcow2 16M
setup () { rm -f ./*.qcow2; cp tmpl/*.qcow2 .; }
state () {   # the chain and its contents, without what differs run to run
  qemu-img info --backing-chain t.qcow2 2>&1 | grep -v "disk size\|date\|^ *[0-9]\+ \+s"
  qemu-img convert -O raw t.qcow2 state.raw 2>/dev/null && md5sum < state.raw && rm -f state.raw
}
same () {
  local qrc=0 vrc=0
  setup
  qemu-img "$@" >q.out 2>q.err || qrc=$?
  state > q.state
  setup
  "$VDK" "$@" >v.out 2>v.err || vrc=$?
  state > v.state
  expect_eq "$vrc" "$qrc" "exit code of $*"
  diff q.out v.out >&2 || fail "$*: other output than qemu-img"
  # usage hints name the program: compare the messages only
  expect_eq "$(sed 's/^vdk: //' v.err | grep -v "^Try '")" \
            "$(sed 's/^qemu-img: //' q.err | grep -v "^Try '")" "messages of $*"
  diff q.state v.state >&2 || fail "$*: the images differ from qemu-img's result"
}
same info t.qcow2
same info --backing-chain t.qcow2
same info --output=json --backing-chain t.qcow2
same info -U --output=json n.qcow2
same check t.qcow2
same check --output=json t.qcow2
same check -r all t.qcow2
same map t.qcow2
same map --output=json t.qcow2
same map --output=json --start-offset=1M --max-length=2M t.qcow2
same resize t.qcow2 32M
same resize t.qcow2 +1M
same resize t.qcow2 8M
same resize --shrink n.qcow2 8M
same resize --preallocation=metadata t.qcow2 +1M
same resize --preallocation=bogus t.qcow2 +1M
same resize t.qcow2
same snapshot -l t.qcow2
same snapshot t.qcow2
same snapshot -a s0 t.qcow2
same snapshot -a nosuch t.qcow2
same snapshot -d nosuch t.qcow2
same snapshot -c s0 -d s0 t.qcow2
same rebase -b n.qcow2 -F qcow2 t.qcow2
same rebase -u -b n.qcow2 -F qcow2 t.qcow2
same rebase -b "" t.qcow2
same rebase -b n.qcow2 t.qcow2
same rebase -u -b n.qcow2 t.qcow2
same rebase t.qcow2
same rebase -b nonexist -F qcow2 t.qcow2
same commit t.qcow2
same commit -d t.qcow2
same commit -b b.qcow2 t.qcow2
same commit n.qcow2
same compare t.qcow2 b.qcow2
same compare -s t.qcow2 t.qcow2
same compare -s n.qcow2 b.qcow2
same compare -f qcow2 -F raw t.qcow2 b.qcow2
same compare t.qcow2
same amend -o lazy_refcounts=on t.qcow2
same amend -o compat=0.10 n.qcow2
same amend -o cluster_size=4k t.qcow2
same amend -o bogus=1 t.qcow2
echo OK
