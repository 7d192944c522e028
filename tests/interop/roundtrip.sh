#!/bin/bash
# Conversions between every format are exact: raw -> qcow2 -> vmdk (each
# subformat) -> vhdx -> vpc -> raw is byte-identical and holes stay holes;
# every intermediate image passes qemu-img's check where it has one and
# compares equal with qemu-img.
. "$(dirname "$0")/../functions.sh"
requires qemu-img python3
formats=" $("$VDK" --help | sed -n 's/^Formats: //p') "
for f in qcow2 vmdk vhdx vpc; do
  [[ "$formats" == *" $f "* ]] || skip "$f is not in this build"
done

# 48 MiB: data at scattered, unaligned places; the rest holes.
truncate -s 48M src.raw
python3 - <<'PY'
import os, random
random.seed(7)
with open("src.raw", "r+b") as f:
    for off in (0, 70000, 3 << 20, (17 << 20) + 512, 30 << 20, (48 << 20) - 8192):
        f.seek(off)
        f.write(os.urandom(random.choice((4096, 65536, 300000, 8192))))
PY
data_kib=$(du -k src.raw | cut -f1)

check () {   # check FILE FMT
  qemu-img compare -q -f raw -F "$2" src.raw "$1" || fail "$1: qemu-img compare differs"
  case $2 in
    qcow2|vmdk|vhdx|vpc)
      # qemu-img check on vpc is not supported; the others must be clean
      if [ "$2" != vpc ]; then qemu-img check -q -f "$2" "$1" || fail "$1: qemu-img check"; fi ;;
  esac
  "$VDK" compare -F "$2" src.raw "$1" >/dev/null || fail "$1: vdk compare differs"
}

prev=src.raw; pfmt=raw; i=0
step () {    # step FMT [create options]
  local fmt=$1 opts=${2:-} out
  i=$((i + 1))
  out=s$i.$fmt
  "$VDK" convert -f $pfmt -O "$fmt" ${opts:+-o "$opts"} "$prev" "$out"
  check "$out" "$fmt"
  prev=$out; pfmt=$fmt
}
step qcow2
for sub in monolithicSparse monolithicFlat twoGbMaxExtentSparse twoGbMaxExtentFlat streamOptimized; do
  step vmdk "subformat=$sub"
  info=$(qemu-img info --output=json "$prev")
  python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert j["format-specific"]["data"]["create-type"]==sys.argv[2], j' \
    "$info" "$sub" || fail "qemu-img sees another vmdk subformat than $sub"
done
step vhdx
step vpc force_size=on          # exact size (Azure style); CHS sizes round up
step vpc subformat=fixed,force_size=on
step raw
cmp src.raw "$prev" || fail "round trip is not byte-identical"
back_kib=$(du -k "$prev" | cut -f1)
[ "$back_kib" -le $((data_kib + 64)) ] || fail "holes were filled: $back_kib KiB allocated vs $data_kib KiB of data"
# the sparse formats kept the holes too
for f in s1.qcow2 s2.vmdk s7.vhdx s8.vpc; do
  [ "$(du -k "$f" | cut -f1)" -lt $((16 * 1024)) ] || fail "$f is not sparse"
done
# every image qemu-img writes from the same source reads back exactly
for spec in qcow2: vmdk:subformat=streamOptimized vhdx: vpc:subformat=dynamic; do
  fmt=${spec%%:*}; o=${spec#*:}
  qemu-img convert -f raw -O "$fmt" ${o:+-o "$o"} src.raw "q.$fmt"
  "$VDK" convert -O raw "q.$fmt" q.raw
  qemu-img convert -f "$fmt" -O raw "q.$fmt" qref.raw
  cmp q.raw qref.raw || fail "vdk reads qemu-img's $fmt differently from qemu-img"
done
echo OK
