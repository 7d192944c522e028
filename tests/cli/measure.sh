#!/bin/bash
# measure: same numbers as qemu-img measure, for every format both support.
. "$(dirname "$0")/../functions.sh"
requires qemu-img

truncate -s 64M src.raw
head -c 3M /dev/urandom | dd of=src.raw bs=1M seek=10 conv=notrunc status=none
for fmt in $("$VDK" --help | sed -n 's/^Formats: //p'); do
  "$VDK" measure -O "$fmt" --size 1G > v.txt 2>v.err || {
    grep -q "does not support size measurement" v.err && continue
    cat v.err; fail "measure -O $fmt"
  }
  qemu-img measure -O "$fmt" --size 1G > q.txt 2>/dev/null || continue
  diff q.txt v.txt || fail "measure --size -O $fmt differs from qemu-img"
  "$VDK" measure --output=json -O "$fmt" src.raw > v.json
  qemu-img measure --output=json -O "$fmt" src.raw > q.json
  python3 -c 'import json; a=json.load(open("v.json")); b=json.load(open("q.json")); assert a==b, (a,b)' \
    || fail "measure of a source -O $fmt differs from qemu-img"
done
expect_rc 1 "$VDK" measure
expect_grep "Either --size N or one filename" "$TMP/err"
expect_rc 1 "$VDK" measure --size 1G src.raw
expect_rc 1 "$VDK" measure -O nosuch --size 1G
expect_rc 1 "$VDK" measure -o bogus=1 --size 1G
expect_grep "Invalid parameter 'bogus'" "$TMP/err"
echo OK
