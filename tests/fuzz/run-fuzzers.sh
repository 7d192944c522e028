#!/bin/bash
# Run every libFuzzer target of a clang build for a short time each, from
# small valid seeds made here.  Usage: run-fuzzers.sh BUILDDIR SECONDS RESULTS
# Appends "PASS name" / "FAIL name" lines to RESULTS; exits 1 on any crash.
set -uo pipefail
b=$(cd "$1" && pwd) secs=$2 results=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/vdk-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
rc=0

seed () {   # seed NAME: a directory with one small valid input
  local d=$work/c-$1
  mkdir -p "$d"
  case $1 in
    qcow2|vmdk|vhdx|vpc) qemu-img create -q -f "$1" "$d/seed" 1M ;;
    xfs) truncate -s 16M "$work/x.img"; mkfs.xfs -q -f "$work/x.img" >/dev/null 2>&1
         head -c 1M "$work/x.img" > "$d/seed" ;;
    vfat) truncate -s 1M "$d/seed"; mkfs.vfat "$d/seed" >/dev/null ;;
  esac
  echo "$d"
}

for t in qcow2/fuzz-qcow2:qcow2 vmdk/fuzz-vmdk:vmdk vhdx/fuzz-vhdx:vhdx vhdx/fuzz-vpc:vpc \
         gfs-fs/fuzz-xfs:xfs gfs-fs/fuzz-vfat:vfat; do
  bin=$b/tests/${t%%:*} name=${t##*:}
  [ -x "$bin" ] || { echo "fuzz-$name: not built"; continue; }
  corpus=$(seed "$name")
  if (cd "$work" && timeout $((secs * 3 + 30)) "$bin" -max_total_time="$secs" \
        -rss_limit_mb=2048 -max_len=1048576 "$corpus" > "$work/$name.log" 2>&1); then
    echo "fuzz-$name: $(grep -Eo 'Done [0-9]+ runs' "$work/$name.log" | tail -1) in ${secs}s, no crash"
    echo "PASS fuzz-$name" >> "$results"
  else
    echo "fuzz-$name: FAILED"; tail -30 "$work/$name.log"
    echo "FAIL fuzz-$name" >> "$results"
    rc=1
  fi
done
exit $rc
