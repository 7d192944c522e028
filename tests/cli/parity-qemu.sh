#!/bin/bash
# The differences from qemu-img 7.2 closed by issue #5's last round, each
# run with both tools on fresh copies of the same images, comparing the exit
# code, stdout, stderr (program name aside) and the resulting images:
# convert -n -B, convert -m limits, resize to 0, and shrinking a qcow2 image
# that has internal snapshots.
. "$(dirname "$0")/../functions.sh"
requires qemu-img qemu-io

mkdir tmpl
qemu-img create -q -f qcow2 tmpl/b.qcow2 16M
qemu-io -c 'write -P 1 0 4M' tmpl/b.qcow2 >/dev/null
# the source: data and a zero range above the backing
qemu-img create -q -f qcow2 -b b.qcow2 -F qcow2 tmpl/s.qcow2
qemu-io -c 'write -P 2 1M 1M' -c 'write -z 3M 64k' -c 'write -P 5 8M 64k' tmpl/s.qcow2 >/dev/null
# the existing target: its own data where the source has none
qemu-img create -q -f qcow2 -b b.qcow2 -F qcow2 tmpl/t.qcow2
qemu-io -c 'write -P 9 2M 2M' tmpl/t.qcow2 >/dev/null
qemu-img create -q -f raw tmpl/r.raw 16M
qemu-io -f raw -c 'write -P 7 0 1M' -c 'write -P 7 15M 1M' tmpl/r.raw >/dev/null
# snapshots: 4k clusters, so that one L2 table covers 2 MiB
qemu-img create -q -f qcow2 -o cluster_size=4k tmpl/sn.qcow2 16M
qemu-io -c 'write -P 1 0 16M' tmpl/sn.qcow2 >/dev/null
qemu-img snapshot -c a tmpl/sn.qcow2
qemu-io -c 'write -P 2 3M 6M' -c 'write -z 12M 1M' tmpl/sn.qcow2 >/dev/null
qemu-img snapshot -c b tmpl/sn.qcow2
qemu-io -c 'write -P 3 4M 1M' -c 'discard 14M 1M' tmpl/sn.qcow2 >/dev/null
for s in a b; do qemu-img convert -l "$s" -O raw tmpl/sn.qcow2 "tmpl/snap-$s.raw"; done

setup () {   # the 24 MB snapshot image only for the commands that use it
  rm -f ./*.qcow2 ./*.raw
  cp tmpl/[bst].qcow2 tmpl/r.raw .
  case " $* " in *sn.qcow2*) cp tmpl/sn.qcow2 . ;; esac
}
state () {   # the map and contents of every image the command changed
  for f in t.qcow2 r.raw sn.qcow2; do
    if [ ! -e "$f" ] || cmp -s "$f" "tmpl/$f"; then echo "$f unchanged"; continue; fi
    qemu-img map --output=json "$f" 2>&1
    qemu-img check "$f" 2>&1 || echo "check: $?"
    qemu-img convert -O raw "$f" state.raw 2>/dev/null && md5sum < state.raw && rm -f state.raw
  done
  if [ -e x.raw ]; then
    qemu-img info --output=json x.raw | grep virtual-size
    qemu-img convert -O raw x.raw state.raw && md5sum < state.raw && rm -f state.raw
  fi
}
same () {
  local qrc=0 vrc=0
  setup "$@"
  qemu-img "$@" >q.out 2>q.err || qrc=$?
  state > q.state
  setup "$@"
  "$VDK" "$@" >v.out 2>v.err || vrc=$?
  state > v.state
  expect_eq "$vrc" "$qrc" "exit code of $*"
  diff q.out v.out >&2 || fail "$*: other output than qemu-img"
  if [ -z "${RC_ONLY:-}" ]; then
    # usage hints name the program: compare the messages only
    expect_eq "$(sed 's/^vdk: //' v.err | grep -v "^Try '")" \
              "$(sed "s/^qemu-img: //; s/'qemu-img rebase'/'vdk rebase'/" q.err | grep -v "^Try '")" \
              "messages of $*"
  fi
  diff q.state v.state >&2 || fail "$*: the images differ from qemu-img's result"
}

# convert -n -B: the target keeps its backing and its own data where the
# source has nothing above its backing; -B and -F are not checked
same convert -n -B b.qcow2 -O qcow2 s.qcow2 t.qcow2
same convert -n -B b.qcow2 -F raw -O qcow2 s.qcow2 t.qcow2
same convert -n -B nonexist -O qcow2 s.qcow2 t.qcow2
same convert -n -B b.qcow2 -c -O qcow2 s.qcow2 t.qcow2
same convert -n -W -m 16 -B b.qcow2 -O qcow2 s.qcow2 t.qcow2
same convert -n -B b.qcow2 -O raw s.qcow2 r.raw
same convert -n -c -O raw s.qcow2 r.raw
same convert -n -F qcow2 -O qcow2 s.qcow2 t.qcow2
same convert -n -B b.qcow2 -o cluster_size=4k -O qcow2 s.qcow2 t.qcow2
# -n opens the target as -O says (the open errors keep vdk's wording)
RC_ONLY=1 same convert -n -O vmdk s.qcow2 t.qcow2
RC_ONLY=1 same convert -n -B b.qcow2 -O vpc s.qcow2 t.qcow2
"$VDK" convert -n -O vmdk s.qcow2 t.qcow2 2>err && fail "convert -n -O vmdk into a qcow2 image"
grep -q "left in place" err && fail "convert -n: 'left in place' though nothing was opened"
# the existing target without -B: everything is written
same convert -n -O qcow2 s.qcow2 t.qcow2

# -m: 1 to 16 requests
for m in 0 17 abc 8x 16; do
  same convert -m "$m" -O qcow2 s.qcow2 t.qcow2
done

# resize to nothing
same resize --shrink t.qcow2 0
same resize --shrink t.qcow2 -- -16M
same resize --shrink t.qcow2 -- -20M

# size arguments: qemu-img's messages
same resize t.qcow2 10Q
same resize t.qcow2 -- +abc
same map --start-offset=-1 t.qcow2
same map --max-length=abc t.qcow2
same convert -S abc -O raw s.qcow2 x.raw
same bench -o abc t.qcow2
same bench -s abc t.qcow2
same bench -S abc t.qcow2
# resize: preallocation only to grow
same resize --preallocation=metadata --shrink t.qcow2 1M
same resize --preallocation=full t.qcow2 1M
same resize --preallocation=metadata t.qcow2 16M
same resize --preallocation=off --shrink t.qcow2 1M
# dd: operands, and a skip past the end gives an empty output
same dd bs=0 if=s.qcow2 of=x.raw
same dd bs=abc if=s.qcow2 of=x.raw
same dd count=abc if=s.qcow2 of=x.raw
same dd skip=99999999999999999999 if=s.qcow2 of=x.raw
same dd bs=99999999999999999999 if=s.qcow2 of=x.raw
same dd conv=notrunc if=s.qcow2 of=x.raw
same dd foo if=s.qcow2 of=x.raw
same dd skip=100 bs=1M if=s.qcow2 of=x.raw
same dd bs=128M count=1 if=s.qcow2 of=x.raw
same dd -O qcow2 bs=64k skip=3 if=s.qcow2 of=x.raw
# amend: size (grow, shrink, 0 = unchanged), the backing file only unchanged,
# -o help (the options vdk amends), formats without amend
same amend -o size=32M t.qcow2
same amend -o size=1M t.qcow2
same amend -o size=0 t.qcow2
same amend -o size=abc t.qcow2
same amend -o lazy_refcounts=on,size=20M t.qcow2
same amend -o size=4M sn.qcow2
same amend -o backing_file=b.qcow2,backing_fmt=qcow2 t.qcow2
same amend -o backing_file=b.qcow2,backing_fmt=raw t.qcow2
same amend -o backing_fmt=qcow2 t.qcow2
same amend -o backing_file=b.qcow2 b.qcow2
same amend -f raw -o size=1M r.raw
same amend -f bogus -o help
same amend -f raw -o help
same amend -o help
same amend -o compat=1.1
same amend -o compat=1.1 t.qcow2 r.raw
for h in "help" "?" "help,compat=1.1"; do
  "$VDK" amend -o "$h" t.qcow2 > help.out
  qemu-img amend -o "$h" t.qcow2 | grep -v "data_file\|encrypt" | diff - help.out >&2 ||
    fail "amend -o $h: not qemu-img's list (less what vdk does not amend)"
done

# convert: create errors with qemu-img's prefix, -o help, a small -n target
same convert -O qcow2 -o cluster_size=3k s.qcow2 x.qcow2
same convert -O qcow2 -o preallocation=bogus s.qcow2 x.qcow2
same convert -O vmdk -o subformat=bogus s.qcow2 x.vmdk
qemu-img create -q -f raw small.raw 1M
"$VDK" convert -n -O raw s.qcow2 small.raw 2> small.err && fail "convert -n into a smaller image"
expect_eq "$(cat small.err)" "vdk: output file is smaller than input file"
for h in "help" "help,cluster_size=4k" "cluster_size=4k,?"; do
  "$VDK" convert -O qcow2 -o "$h" s.qcow2 x.qcow2 > help.out
  qemu-img convert -O qcow2 -o "$h" s.qcow2 x.qcow2 | grep -v "encrypt\\|extent_size_hint\\|nocow" | diff - help.out >&2 ||
    fail "convert -o $h: not qemu-img's list (less encryption and the file options vdk does not have)"
  [ ! -e x.qcow2 ] || fail "convert -o $h created its output"
done
# create: option values, usage
same create -f qcow2 -o preallocation=bogus x.qcow2 1M
same create -f raw -o preallocation=bogus x.raw 1M
same create -f vmdk -o subformat=bogus x.vmdk 1M
same create -f vpc -o subformat=bogus x.vpc 1M
same create -f vhdx -o subformat=bogus x.vhdx 1M
same create -f raw x.raw 1M extra
same create
same create -f qcow2 -F qcow2 x.qcow2 1M
same create -f raw -F qcow2 x.raw 1M
same create -f vmdk -F vmdk x.vmdk 1M
same create -f qcow2 -b "" -F qcow2 x.qcow2 1M
same create -f raw -b "" x.raw 1M
# map past the end: one empty range
same map --output=json --start-offset=16M t.qcow2
same map --output=json --start-offset=17M t.qcow2
same map --max-length=0 --output=json t.qcow2
same map --max-length=0 t.qcow2
# usage errors
for c in info map snapshot rebase commit check bench; do
  same $c
done
same info t.qcow2 b.qcow2
same snapshot -l t.qcow2 b.qcow2
# cache modes
same rebase -t bogus -b b.qcow2 -F qcow2 t.qcow2
same rebase -T bogus -b b.qcow2 -F qcow2 t.qcow2
same commit -t bogus t.qcow2
same bench -t bogus t.qcow2
same check -T bogus t.qcow2
same compare -T bogus t.qcow2 t.qcow2
# rebase -u without -b removes the backing file
same rebase -u t.qcow2

# shrink with internal snapshots: the same image as qemu-img's (check output
# and clusters included); every snapshot keeps its size and data
for size in 4M 1M 64k; do
  same resize --shrink sn.qcow2 "$size"
  setup sn.qcow2
  "$VDK" resize -q --shrink sn.qcow2 "$size"
  for s in a b; do
    cp sn.qcow2 applied.qcow2
    "$VDK" snapshot -a "$s" applied.qcow2
    qemu-img check -q applied.qcow2 || fail "check after shrink to $size and snapshot -a $s"
    qemu-img convert -O raw applied.qcow2 applied.raw
    cmp "tmpl/snap-$s.raw" applied.raw || fail "snapshot $s after a shrink to $size"
    "$VDK" convert -l "$s" -O raw sn.qcow2 v.raw
    qemu-img convert -l "$s" -O raw sn.qcow2 q.raw
    cmp q.raw v.raw || fail "convert -l $s after a shrink to $size"
  done
  # grown again: the same contents as qemu-img's
  setup sn.qcow2
  qemu-img resize -q --shrink sn.qcow2 "$size"
  qemu-img resize -q sn.qcow2 16M
  mv sn.qcow2 q.qcow2
  cp tmpl/sn.qcow2 .
  "$VDK" resize -q --shrink sn.qcow2 "$size"
  "$VDK" resize -q sn.qcow2 16M
  qemu-img check -q sn.qcow2 || fail "check after a shrink to $size and a grow"
  qemu-img compare -q q.qcow2 sn.qcow2 || fail "shrink to $size and grow: contents differ"
done
# not cluster aligned: vdk zeroes the tail of the last cluster (qemu-img
# leaves the old data there, to reappear on a grow); snapshots intact
setup sn.qcow2
"$VDK" resize -q --shrink sn.qcow2 5243392
qemu-img check -q sn.qcow2 || fail "check after an unaligned shrink"
"$VDK" resize -q sn.qcow2 16M
qemu-io -c 'read -P 0 5243392 3584' sn.qcow2 > io.out 2>&1
grep -q "^read 3584/3584" io.out && ! grep -q -i "fail" io.out ||
  { cat io.out >&2; fail "the tail of a shrunk cluster is not zero"; }
for s in a b; do
  "$VDK" snapshot -a "$s" sn.qcow2
  qemu-img convert -O raw sn.qcow2 applied.raw
  cmp "tmpl/snap-$s.raw" applied.raw || fail "snapshot $s after an unaligned shrink"
done
echo OK
