#!/bin/bash
# vdk-made vmdk images of every subformat: qemu-img recognises them (size,
# create type), qemu-img check passes, qemu-img compare is equal; create
# options land in the descriptor; writes through the library (partial
# grains) read back right; a failed convert removes its extent files.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/common.sh"

size=$(( 5 * 1048576 + 4096 ))
mkraw src.raw $size
for sub in $SUBFORMATS; do
  "$VDK" convert -O vmdk -o subformat=$sub src.raw v-$sub.vmdk
  qemu-img info --output=json v-$sub.vmdk > qi.json
  expect_eq "$(json_get qi.json "j['virtual-size']")" $size "$sub virtual size"
  expect_eq "$(json_get qi.json "j['format-specific']['data']['create-type']")" $sub "$sub create type"
  qemu-img check v-$sub.vmdk > chk.txt || { cat chk.txt; fail "$sub: qemu-img check"; }
  qemu-img compare -f raw -F vmdk src.raw v-$sub.vmdk || fail "$sub: qemu-img compare"
  # and vdk reads its own output
  "$VDK" convert -O raw v-$sub.vmdk back.raw
  cmp back.raw src.raw || fail "$sub: vdk round trip"
done
# streamOptimized is a real stream: footer + end-of-stream marker at the end
python3 - v-streamOptimized.vmdk <<'PY' || fail "stream layout"
import struct, sys
d = open(sys.argv[1], 'rb').read()
assert d[:4] == b'KDMV' and struct.unpack_from('<Q', d, 56)[0] == 0xffffffffffffffff
assert struct.unpack_from('<QII', d, len(d) - 512) == (0, 0, 0)          # EOS
assert struct.unpack_from('<II', d, len(d) - 1536 + 8) == (0, 3)          # footer marker
assert d[len(d) - 1024:len(d) - 1020] == b'KDMV'
PY
# flat extents hold the bytes as they are
cmp <(head -c $size v-monolithicFlat-flat.vmdk) src.raw || fail "flat extent content"

# vdk create with every option
adapters=(ide buslogic lsilogic legacyESX ide)
i=0
for sub in $SUBFORMATS; do
  ad=${adapters[$i]}; i=$((i + 1))
  for hw in 7; do
    rm -f c*.vmdk
    "$VDK" create -q -f vmdk -o subformat=$sub,adapter_type=$ad,hwversion=$hw c.vmdk 3G
    qemu-img info --output=json c.vmdk > qi.json
    expect_eq "$(json_get qi.json "j['virtual-size']")" 3221225472 "$sub $ad size"
    expect_eq "$(json_get qi.json "j['format-specific']['data']['create-type']")" $sub "$sub create type"
    case $sub in
      monolithicSparse|streamOptimized) grep -a "^ddb" c.vmdk > d.txt ;;
      *) cp c.vmdk d.txt ;;
    esac
    expect_grep "ddb.adapterType = \"$ad\"" d.txt
    expect_grep "ddb.virtualHWVersion = \"$hw\"" d.txt
    qemu-img check c.vmdk >/dev/null || fail "$sub $ad: qemu-img check of an empty image"
  done
  case $sub in twoGb*)
    expect_eq "$(ls c-*.vmdk | wc -l)" 2 "$sub: 3G is two extent files" ;;
  esac
done
"$VDK" create -q -f vmdk -o zeroed_grain=on,toolsversion=10304 z.vmdk 4M
grep -aq 'ddb.toolsVersion = "10304"' z.vmdk || fail "toolsversion"
qemu-img check z.vmdk >/dev/null || fail "zeroed_grain check"
python3 -c "import struct,sys; h=open('z.vmdk','rb').read(12); sys.exit(0 if struct.unpack('<II',h[4:12])==(2,7) else 1)" \
  || fail "zeroed_grain header version/flags"
expect_fail "$VDK" create -q -f vmdk -o subformat=bogus b.vmdk 1M
expect_grep "invalid parameter value: " "$TMP/err"
expect_fail "$VDK" create -q -f vmdk -o adapter_type=scsi b.vmdk 1M
expect_grep "adapter type" "$TMP/err"
expect_fail "$VDK" create -q -f vmdk -o hwversion=x b.vmdk 1M
expect_fail "$VDK" create -q -f vmdk -o subformat=monolithicFlat,zeroed_grain=on b.vmdk 1M

# Writes through the library at unaligned offsets: sparse grains are filled
# around partial writes; flat/split extents take bytes in place.
for sub in monolithicSparse monolithicFlat twoGbMaxExtentSparse twoGbMaxExtentFlat; do
  rm -f w*.vmdk; truncate -s 0 ref.raw; truncate -s 6M ref.raw
  "$VDK" create -q -f vmdk -o subformat=$sub w.vmdk 6M
  "$VMDK_IO" w.vmdk vmdk ref.raw 1000:3000:7 65530:140000:8 4194300:10:9 6290000:1456:10 0:512:11 1000:20:12
  qemu-img check w.vmdk >/dev/null || fail "$sub after writes: check"
  qemu-img compare -f raw -F vmdk ref.raw w.vmdk || fail "$sub: library writes"
done
# zeroed grains: write_zeroes of whole grains marks them zero (GTE 1)
rm -f ref.raw; truncate -s 4M ref.raw
"$VMDK_IO" z.vmdk vmdk ref.raw 0:200000:3
truncate -s 4M zeros.raw
"$VDK" convert -n -f raw zeros.raw z.vmdk
qemu-img compare -f raw -F vmdk zeros.raw z.vmdk || fail "zeroed grains read as zero"
python3 - z.vmdk <<'PY' || fail "write_zeroes did not use zeroed-grain entries"
import struct, sys
f = open(sys.argv[1], 'rb'); h = f.read(512)
gd = struct.unpack_from('<Q', h, 56)[0]
f.seek(gd * 512); gt = struct.unpack('<I', f.read(4))[0]
f.seek(gt * 512); e = struct.unpack('<64I', f.read(256))
# the 4 written grains are now zeroed-grain entries; the rest stay unallocated
assert e[:4] == (1, 1, 1, 1) and not any(e[4:]), e[:8]
PY
qemu-img check z.vmdk >/dev/null || fail "zeroed grain image check"
# without zeroed grains: allocated grains are zeroed in place, holes stay holes
"$VDK" create -q -f vmdk nz.vmdk 4M
rm -f ref.raw; truncate -s 4M ref.raw
"$VMDK_IO" nz.vmdk vmdk ref.raw 0:200000:3
before=$(stat -c %s nz.vmdk)
"$VDK" convert -n -f raw zeros.raw nz.vmdk
qemu-img compare -f raw -F vmdk zeros.raw nz.vmdk || fail "write_zeroes on allocated grains"
expect_eq "$(stat -c %s nz.vmdk)" "$before" "write_zeroes must not allocate"

# streamOptimized only takes in-order writes
"$VDK" create -q -f vmdk -o subformat=streamOptimized s.vmdk 4M
rm -f ref.raw; truncate -s 4M ref.raw
"$VMDK_IO" s.vmdk vmdk ref.raw 100:1000:1 70000:5000:2 2000000:100000:3
qemu-img compare -f raw -F vmdk ref.raw s.vmdk || fail "stream writes"
expect_fail "$VMDK_IO" s.vmdk vmdk ref.raw 0:10:1
expect_grep "non-empty streamOptimized\|already has data" "$TMP/err"
"$VDK" create -q -f vmdk -o subformat=streamOptimized s2.vmdk 4M
expect_fail "$VMDK_IO" s2.vmdk vmdk ref.raw 3000000:10:1 10:10:2
expect_grep "written in order" "$TMP/err"

# an empty qemu-made stream (tables up front) can be filled too
qemu-img create -q -f vmdk -o subformat=streamOptimized qs.vmdk 4M
rm -f ref.raw; truncate -s 4M ref.raw
"$VMDK_IO" qs.vmdk vmdk ref.raw 100:1000:1 70000:5000:2 2000000:100000:3
qemu-img compare -f raw -F vmdk ref.raw qs.vmdk || fail "writes into a qemu-made stream"
qemu-img check qs.vmdk > /dev/null || fail "qemu-made stream check"

# compressed convert (-c) makes a stream too
"$VDK" convert -c -O vmdk -o subformat=streamOptimized src.raw cc.vmdk
qemu-img compare -f raw -F vmdk src.raw cc.vmdk || fail "convert -c"

# A failed convert removes the descriptor and its extent files.
qemu-img convert -O vmdk src.raw bad.vmdk
python3 - bad.vmdk <<'PY'
import struct, sys
f = open(sys.argv[1], 'r+b'); h = f.read(512)
gd = struct.unpack_from('<Q', h, 56)[0]
f.seek(gd * 512); gt = struct.unpack('<I', f.read(4))[0]
f.seek(gt * 512 + 48 * 4); f.write(struct.pack('<I', 0x7fffff00))   # grain 48 beyond EOF
PY
mkdir odir
expect_fail "$VDK" convert -O vmdk -o subformat=twoGbMaxExtentFlat bad.vmdk odir/o.vmdk
expect_grep "beyond the end" "$TMP/err"
expect_eq "$(ls odir | wc -l)" 0 "files left by a failed convert"
echo OK
