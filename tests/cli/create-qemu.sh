#!/bin/bash
# create against qemu-img 7.2: the "Formatting" line (options in qemu's order
# with its defaults), exit codes and error messages, "-o help"'s layout, and
# the images themselves (qemu-img info/check read what vdk made).
. "$(dirname "$0")/../functions.sh"
requires qemu-img

qemu-img create -q -f qcow2 base.qcow2 64M
same () {   # same ARGS...: create with both tools; stdout, stderr, exit code
  local qrc=0 vrc=0
  rm -f x* y*
  qemu-img create "$@" >q.out 2>q.err || qrc=$?
  rm -f x* y*
  "$VDK" create "$@" >v.out 2>v.err || vrc=$?
  expect_eq "$vrc" "$qrc" "exit code of create $*"
  diff q.out v.out >&2 || fail "create $*: other output than qemu-img"
  # (qemu-img ends its "Detected format" hint without a newline)
  expect_eq "$(sed 's/^vdk: //' v.err)" "$(sed 's/^qemu-img: //' q.err)" "messages of create $*"
}
same -f qcow2 x.qcow2 1G
same -f qcow2 -o size=2G x.qcow2
same -f qcow2 -o compat=1.1,cluster_size=4k,preallocation=metadata,lazy_refcounts=on,refcount_bits=8,compression_type=zstd,extended_l2=off x.qcow2 64M
same -f qcow2 -o cluster_size=1M -o extended_l2=on x.qcow2 64M
same -f qcow2 -o compat=0.10 x.qcow2 64M
same -f qcow2 -b base.qcow2 -F qcow2 x.qcow2
same -f qcow2 -b base.qcow2 -F qcow2 x.qcow2 128M
same -f qcow2 -o backing_file=base.qcow2,backing_fmt=qcow2 x.qcow2
same -f qcow2 -u -b nonexist.qcow2 -F qcow2 x.qcow2 1G
same -f raw x.raw 1M
same -f raw -o preallocation=falloc x.raw 1M
same -f vmdk x.vmdk 1M
same -f vmdk -o adapter_type=lsilogic,subformat=monolithicFlat,toolsversion=1 x.vmdk 1M
same -f vmdk -o hwversion=4,zeroed_grain=on x.vmdk 1M
same -f vpc -o subformat=fixed,force_size=on x.vpc 1M
same -f vhdx x.vhdx 1M
same -f vhdx -o subformat=dynamic,block_size=1M,log_size=2M,block_state_zero=off x.vhdx 1M
same -q -f qcow2 x.qcow2 1G
# errors
same -f qcow2 -b nonexist.qcow2 -F qcow2 x.qcow2
same -f qcow2 -b base.qcow2 x.qcow2
same -f qcow2 -u -b base.qcow2 x.qcow2 1G
same -f raw -b base.qcow2 -F qcow2 x.raw 1G
same -f qcow2 x.qcow2
same -f qcow2 x.qcow2 1Z
same -f nosuch x 1G
same -f qcow2 -o bogus=1 x.qcow2 1G
for o in cluster_size=3k cluster_size=4M compat=0.10,lazy_refcounts=on compat=0.10,extended_l2=on \
         compat=0.10,compression_type=zstd compat=0.10,data_file=d.raw data_file_raw=on \
         compression_type=lz4 compat=0.10,refcount_bits=8 extended_l2=on,cluster_size=4k; do
  same -f qcow2 -o $o x.qcow2 1M
done
# -o help: qemu's layout; every option vdk lists is one qemu lists too,
# with the same type (vdk lacks encryption; its vpc/vhdx also take a parent)
for f in qcow2 raw vmdk vpc vhdx; do
  qemu-img create -f $f -o help > q.help
  "$VDK" create -f $f -o help > v.help
  expect_eq "$(head -1 v.help)" "$(head -1 q.help)" "-o help header for $f"
  expect_eq "$(tail -2 v.help)" "$(tail -2 q.help)" "-o help footer for $f"
  sed -n 's/^  \([a-z_.0-9-]*=<[^>]*>\).*/\1/p' v.help > v.names
  sort -c v.names || fail "-o help for $f is not sorted"
  while read -r n; do
    case "$f:$n" in vpc:backing_*|vhdx:backing_*|vhdx:logical_sector_size*|raw:preallocation*) continue;; esac
    grep -qF "  $n" q.help || fail "-o help for $f: '$n' is not what qemu-img lists"
  done < v.names
done
# "help" among other items, and with an image name: the options under
# "Supported options:", and nothing is created (as qemu-img)
for o in "cluster_size=64k,help" "?"; do
  qemu-img create -f qcow2 -o "$o" h.qcow2 1M > q.help || fail "qemu-img create -o $o"
  "$VDK" create -f qcow2 -o "$o" h.qcow2 1M > v.help || fail "vdk create -o $o"
  expect_eq "$(head -1 v.help)" "$(head -1 q.help)" "-o $o header with an image name"
  grep -q "^  cluster_size=<size> " v.help || fail "-o $o: no option list"
  [ ! -e h.qcow2 ] || fail "-o $o created the image"
done
# what vdk created is what qemu-img sees
"$VDK" create -q -f qcow2 -o cluster_size=4k,lazy_refcounts=on,refcount_bits=8 x.qcow2 64M
qemu-img info --output=json x.qcow2 > i.json
expect_eq "$(json_get i.json "j['cluster-size'], j['virtual-size'], j['format-specific']['data']['refcount-bits'], j['format-specific']['data']['lazy-refcounts']")" \
  "4096 67108864 8 True" "qemu-img info of vdk's image"
qemu-img check -q x.qcow2 || fail "qemu-img check"
echo OK
