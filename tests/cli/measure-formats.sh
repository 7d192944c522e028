#!/bin/bash
# measure for vmdk, vhdx and vpc (qemu-img 7.2 does not measure them): what
# vdk convert writes fits in "required", and a fully written (or fixed)
# image is exactly "fully allocated" (a bound for the descriptor files of
# flat/split vmdk).
. "$(dirname "$0")/../functions.sh"

rand_file full.raw 8
truncate -s 24M sparse.raw
head -c 3M /dev/urandom | dd of=sparse.raw bs=1M seek=5 conv=notrunc status=none
head -c 100k /dev/urandom | dd of=sparse.raw bs=1k seek=20000 conv=notrunc status=none

field () { json_get m.json "j['$1']"; }
files_size () {   # apparent bytes of an image and its extent files
  local t=0 f
  for f in "$1"*; do t=$((t + $(stat -c %s "$f"))); done
  echo $t
}
check () {   # check FMT OPTS EXACT_WHEN_FULL
  local fmt=$1 o=$2 exact=$3 req full got
  rm -f out*
  "$VDK" measure --output=json -O $fmt ${o:+-o $o} sparse.raw > m.json
  req=$(field required)
  "$VDK" convert -O $fmt ${o:+-o $o} sparse.raw out.$fmt
  got=$(files_size out)
  [ "$got" -le "$req" ] || fail "$fmt $o: convert wrote $got bytes, measure said $req"
  "$VDK" compare -F $fmt sparse.raw out.$fmt >/dev/null || fail "$fmt $o: convert output differs"
  rm -f out*
  "$VDK" measure --output=json -O $fmt ${o:+-o $o} full.raw > m.json
  full=$(field fully-allocated)
  expect_eq "$(field required)" "$full" "$fmt $o: required for incompressible full data"
  "$VDK" convert -O $fmt ${o:+-o $o} full.raw out.$fmt
  got=$(files_size out)
  if [ "$exact" = exact ]; then
    expect_eq "$got" "$full" "$fmt $o: bytes of a fully written image"
  else
    [ "$got" -le "$full" ] || fail "$fmt $o: fully written image ($got) above $full"
  fi
  # --size gives the same fully allocated size and needs no more
  "$VDK" measure --output=json -O $fmt ${o:+-o $o} --size 8M > m.json
  expect_eq "$(field fully-allocated)" "$full" "$fmt $o: fully allocated for --size"
}
check vmdk "" exact
check vmdk subformat=twoGbMaxExtentSparse bound
check vmdk subformat=monolithicFlat bound
check vmdk subformat=twoGbMaxExtentFlat bound
check vmdk subformat=streamOptimized exact
check vhdx "" exact
check vhdx block_size=1M,log_size=2M exact
check vhdx subformat=fixed exact
check vpc force_size=on exact
check vpc subformat=fixed,force_size=on exact
# vpc rounds to its CHS geometry: fixed images are that size plus a footer
"$VDK" measure -O vpc -o subformat=fixed --size 10M --output=json > m.json
"$VDK" create -q -f vpc -o subformat=fixed t.vhd 10M
expect_eq "$(stat -c %s t.vhd)" "$(field fully-allocated)" "vpc fixed 10M"
# bad options are refused by measure as by create
expect_rc 1 "$VDK" measure -O vhdx -o block_size=3M --size 1G
expect_grep "block_size" "$TMP/err"
expect_rc 1 "$VDK" measure -O vmdk -o subformat=bogus --size 1G
expect_grep "invalid parameter value: " "$TMP/err"
expect_rc 1 "$VDK" measure -O vpc -o subformat=bogus --size 1G
echo OK
