#!/bin/bash
# qemu-img-made vmdk images of every subformat read back byte-exact, and
# vdk info agrees with qemu-img info (human and JSON).
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/common.sh"

mkraw src.raw $(( 5 * 1048576 ))
for sub in $SUBFORMATS; do
  qemu-img convert -O vmdk -o subformat=$sub src.raw q-$sub.vmdk
  raw_of q-$sub.vmdk ref.raw
  "$VDK" convert -O raw q-$sub.vmdk out.raw
  cmp out.raw ref.raw || fail "$sub: vdk reads different bytes than qemu-img"
  cmp out.raw src.raw || fail "$sub: not the source bytes"
  "$VDK" info q-$sub.vmdk > vi.txt
  qemu-img info q-$sub.vmdk > qi.txt
  diff -u qi.txt vi.txt || fail "$sub: info differs from qemu-img info"
  "$VDK" info --output=json q-$sub.vmdk > vi.json
  qemu-img info --output=json q-$sub.vmdk > qi.json
  diff -u qi.json vi.json || fail "$sub: JSON info differs from qemu-img"
  # compare reads through vdk's own reader
  "$VDK" compare -q src.raw q-$sub.vmdk || fail "$sub: vdk compare says different"
done

# Options: zeroed grains, other adapters / hw versions, an odd size (qemu
# rounds up to a sector), a compressed stream (convert -c).
qemu-img convert -O vmdk -o zeroed_grain=on,adapter_type=lsilogic,hwversion=6 src.raw z.vmdk
# make a zeroed grain: write zeroes over a whole allocated grain with qemu-io
if command -v qemu-io >/dev/null; then
  qemu-io -f vmdk -c "write -z 1048576 65536" z.vmdk >/dev/null
  python3 - z.vmdk <<'PY'
import struct, sys
f = open(sys.argv[1], 'rb'); h = f.read(512)
gd = struct.unpack_from('<Q', h, 56)[0]
f.seek(gd * 512); gt = struct.unpack('<I', f.read(4))[0]
f.seek(gt * 512 + 16 * 4); e = struct.unpack('<I', f.read(4))[0]
sys.exit(0 if e == 1 else 1)
PY
  [ $? = 0 ] || fail "qemu-io did not make a zeroed grain (fixture)"
fi
raw_of z.vmdk ref.raw
"$VDK" convert -O raw z.vmdk out.raw
cmp out.raw ref.raw || fail "zeroed_grain image reads differently"
"$VDK" info z.vmdk > vi.txt; qemu-img info z.vmdk > qi.txt
diff -u qi.txt vi.txt || fail "zeroed_grain info"

qemu-img create -q -f vmdk odd.vmdk 1000
expect_eq "$("$VDK" info --output=json odd.vmdk | json_get /dev/stdin "j['virtual-size']")" 1024 "odd size"

qemu-img convert -c -O vmdk -o subformat=streamOptimized src.raw c.vmdk
"$VDK" convert -O raw c.vmdk out.raw
cmp out.raw src.raw || fail "compressed stream"

# vdk map agrees on what is allocated: holes stay holes
"$VDK" map --output=json q-monolithicSparse.vmdk > m.json
python3 - m.json <<'PY' || fail "map of a sparse image"
import json, sys
m = json.load(open(sys.argv[1]))
data = sum(e['length'] for e in m if e['data'])
assert 0 < data < 5 * 1048576, data
PY
echo OK
