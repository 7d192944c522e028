#!/bin/bash
# Hostile VHDX and VHD headers: one clear error naming the file, no crash.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/lib.sh"

# bad FILE PATTERN [FMT]: opening must fail with one line naming FILE
bad () {
  expect_fail "$VDK" info ${3:+-f $3} "$1"
  expect_grep "$1: .*$2" "$TMP/err"
  [ "$(wc -l < "$TMP/err")" = 1 ] || { cat "$TMP/err"; fail "more than one error line for $1"; }
  "$VDK" convert ${3:+-f $3} -O raw "$1" x.raw 2>/dev/null && fail "convert of $1 succeeded"
  return 0
}

head -c 3M /dev/urandom > s.raw
"$VDK" convert -O vhdx -o block_size=1M s.raw good.vhdx
# vdk's layout for a small image: log at 1 MiB (1 MiB), BAT at 2 MiB, metadata at 3 MiB
bat=2097152 meta=3145728
H1=65536 H2=131072 RT1=196608 RT2=262144

cp good.vhdx t.vhdx; poke t.vhdx 0 a8 vhdxfilX; bad t.vhdx "not a VHDX image" vhdx
cp good.vhdx t.vhdx; poke t.vhdx $((H1 + 4)) V 1; poke t.vhdx $((H2 + 4)) V 1
bad t.vhdx "no valid VHDX header"
cp good.vhdx t.vhdx; poke t.vhdx $((H1 + 66)) v 2; crc t.vhdx h1; poke t.vhdx $((H2 + 66)) v 2; crc t.vhdx h2
bad t.vhdx "no valid VHDX header"
# one broken header, region table: the other copy is used
cp good.vhdx t.vhdx; poke t.vhdx $((H2 + 4)) V 1; poke t.vhdx $((RT1 + 4)) V 1
"$VDK" convert -O raw t.vhdx x.raw; same_raw x.raw s.raw
poke t.vhdx $((RT2 + 4)) V 1; bad t.vhdx "no valid VHDX region table"
# region table: overlapping regions, misaligned region, too many entries
cp good.vhdx t.vhdx; poke t.vhdx $((RT1 + 32)) 'Q<' "$meta"; crc t.vhdx rt1
poke t.vhdx $((RT2 + 32)) 'Q<' "$meta"; crc t.vhdx rt2; bad t.vhdx "overlap"
cp good.vhdx t.vhdx; poke t.vhdx $((RT1 + 32)) 'Q<' $((bat + 4096)); crc t.vhdx rt1
poke t.vhdx $((RT2 + 32)) 'Q<' $((bat + 4096)); crc t.vhdx rt2; bad t.vhdx "not 1 MiB aligned"
cp good.vhdx t.vhdx; poke t.vhdx $((RT1 + 8)) V 100000; crc t.vhdx rt1
poke t.vhdx $((RT2 + 8)) V 100000; crc t.vhdx rt2; bad t.vhdx "entries"
# metadata: absurd block size, virtual size, sector size, entry count
cp good.vhdx t.vhdx; poke t.vhdx $((meta + 65536)) V $((3 << 20)); bad t.vhdx "invalid VHDX block size"
cp good.vhdx t.vhdx; poke t.vhdx $((meta + 65536)) V $((1 << 30)); bad t.vhdx "invalid VHDX block size"
cp good.vhdx t.vhdx; poke t.vhdx $((meta + 65536 + 8)) 'Q<' $((1 << 62)); bad t.vhdx "virtual disk size"
cp good.vhdx t.vhdx; poke t.vhdx $((meta + 65536 + 32)) V 1000; bad t.vhdx "sector sizes"
cp good.vhdx t.vhdx; poke t.vhdx $((meta + 10)) v 60000; bad t.vhdx "entries"
cp good.vhdx t.vhdx; poke t.vhdx $((meta + 32 + 16)) V $((1 << 30)); bad t.vhdx "outside the metadata region"
cp good.vhdx t.vhdx; poke t.vhdx "$meta" a8 metadatX; bad t.vhdx "metadata table signature"
# BAT: a block beyond the end of the file, in the header area, bad state
cp good.vhdx t.vhdx; poke t.vhdx "$bat" 'Q<' $(( (1 << 40) | 6 )); bad t.vhdx "beyond the end of the file"
cp good.vhdx t.vhdx; poke t.vhdx "$bat" 'Q<' 6; bad t.vhdx "beyond the end of the file or in the header area"
cp good.vhdx t.vhdx; poke t.vhdx "$bat" 'Q<' $(( bat | 6 )); bad t.vhdx "overlaps the image metadata"
cp good.vhdx t.vhdx; poke t.vhdx "$bat" 'Q<' 5; bad t.vhdx "invalid state"
cp good.vhdx t.vhdx; poke t.vhdx "$bat" 'Q<' 7; bad t.vhdx "partially present"
# log: dirty, but the log lies beyond the end of the file
cp good.vhdx t.vhdx
for h in $H1 $H2; do poke t.vhdx $((h + 48)) 'Q<' 12345; poke t.vhdx $((h + 72)) 'Q<' $((1 << 40)); done
crc t.vhdx h1; crc t.vhdx h2; bad t.vhdx "log is beyond the end of the file"
head -c 100000 good.vhdx > t.vhdx; bad t.vhdx "too small" vhdx

# VHD (vpc)
"$VDK" convert -O vpc s.raw good.vpc
cp good.vpc t.vpc; poke t.vpc 64 N 1; bad t.vpc "incorrect VHD footer checksum"
cp good.vpc t.vpc; poke t.vpc 512 a8 cxsparsX; bad t.vpc "dynamic disk header magic"
cp good.vpc t.vpc; poke t.vpc 16 'Q>' $((1 << 40)); crc t.vpc vpc0; bad t.vpc "dynamic disk header offset"
cp good.vpc t.vpc; poke t.vpc $((512 + 32)) N 3000; bad t.vpc "invalid VHD block size"
cp good.vpc t.vpc; poke t.vpc $((512 + 28)) N $((0xffffffff)); bad t.vpc "too large"
cp good.vpc t.vpc; poke t.vpc $((512 + 28)) N 1; bad t.vpc "too small"
cp good.vpc t.vpc; poke t.vpc $((512 + 16)) 'Q>' $((1 << 40)); bad t.vpc "allocation table at"
cp good.vpc t.vpc; poke t.vpc 1536 N $((0x7fffffff)); bad t.vpc "beyond the end of the file"
cp good.vpc t.vpc; poke t.vpc 1536 N 1; bad t.vpc "overlaps the image headers or the BAT"
cp good.vpc t.vpc; poke t.vpc 60 N 9; crc t.vpc vpc0; bad t.vpc "unknown VHD disk type"
"$VDK" create -q -f vpc -b good.vpc diff.vpc
cp diff.vpc t.vpc; poke t.vpc $((512 + 576 + 16)) 'Q>' $((1 << 40)); bad t.vpc "parent locator 0 is out of bounds"
cp diff.vpc t.vpc; poke t.vpc $((512 + 576 + 8)) N $((1 << 30)); bad t.vpc "parent locator 0 is out of bounds"
"$VDK" convert -O vpc -o subformat=fixed s.raw f.vpc
truncate -s 2M f.vpc; bad f.vpc "no \"conectix\" footer" vpc
echo OK
