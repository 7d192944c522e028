#!/bin/bash
# Hostile vmdk images: one corrupted field at a time gives one clear error
# naming the file and the problem (exit 1), never a crash or a hang; then
# random corruption of the metadata must never crash.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/common.sh"

mkraw src.raw $(( 3 * 1048576 ))
qemu-img convert -O vmdk src.raw good.vmdk
qemu-img convert -O vmdk -o subformat=streamOptimized src.raw stream.vmdk

# poke FILE OFFSET STRUCTFMT VALUE... (python struct, little-endian)
poke () {
  python3 - "$@" <<'PY'
import struct, sys
f, off, fmt = sys.argv[1], int(sys.argv[2], 0), sys.argv[3]
vals = [int(v, 0) for v in sys.argv[4:]]
with open(f, 'r+b') as fh:
    fh.seek(off); fh.write(struct.pack('<' + fmt, *vals))
PY
}
# bad NAME PATTERN: vdk must fail cleanly with a message naming NAME
bad () {
  local img=$1 pat=$2
  expect_rc 1 "$VDK" convert -O raw "$img" out.raw
  expect_grep "$pat" "$TMP/err"
  expect_grep "$img" "$TMP/err"
  [ "$(wc -l < "$TMP/err")" -le 2 ] || { cat "$TMP/err"; fail "$img: more than one error"; }
}
mk () { cp good.vmdk "$1"; }

mk magic.vmdk;   poke magic.vmdk 0 I 0x12345678
expect_rc 1 "$VDK" info -f vmdk magic.vmdk; expect_grep "not a vmdk" "$TMP/err"
mk ver.vmdk;     poke ver.vmdk 4 I 9;              bad ver.vmdk "unsupported vmdk version"
mk grain.vmdk;   poke grain.vmdk 20 Q 100;         bad grain.vmdk "invalid grain size"
mk grain2.vmdk;  poke grain2.vmdk 20 Q 0x100000000; bad grain2.vmdk "invalid grain size"
mk grain0.vmdk;  poke grain0.vmdk 20 Q 0;          bad grain0.vmdk "invalid grain size"
mk gtes.vmdk;    poke gtes.vmdk 44 I 0;            bad gtes.vmdk "grain table entries"
mk gtes2.vmdk;   poke gtes2.vmdk 44 I 100000;      bad gtes2.vmdk "grain table entries"
mk cap.vmdk;     poke cap.vmdk 12 Q 0x4000000000000000; bad cap.vmdk "too large"
mk cap2.vmdk;    poke cap2.vmdk 12 Q 0x00ffffffffffffff; bad cap2.vmdk "too large"
mk gd.vmdk;      poke gd.vmdk 56 Q 0x7fffffff;     bad gd.vmdk "grain directory"
mk gd0.vmdk;     poke gd0.vmdk 56 Q 0;             bad gd0.vmdk "grain directory"
mk over.vmdk;    poke over.vmdk 64 Q 0xffffffffff; bad over.vmdk "truncated"
mk comp.vmdk;    poke comp.vmdk 77 H 7;            bad comp.vmdk "compression"
mk desc.vmdk;    poke desc.vmdk 28 Q 0xffffffffffff; bad desc.vmdk "descriptor"
# a GD entry and a GT entry pointing beyond the end of the file
gd=$(python3 -c "import struct; print(struct.unpack_from('<Q', open('good.vmdk','rb').read(512), 56)[0])")
gt=$(python3 -c "import struct; f=open('good.vmdk','rb'); f.seek($gd*512); print(struct.unpack('<I', f.read(4))[0])")
mk gte.vmdk;     poke gte.vmdk $(( gd * 512 )) I 0x7ffffff0; bad gte.vmdk "grain table 0"
mk gte2.vmdk;    poke gte2.vmdk $(( gt * 512 )) I 0x7ffffff0; bad gte2.vmdk "beyond the end"
truncate -s 1000 trunc.vmdk; head -c 512 good.vmdk | dd of=trunc.vmdk conv=notrunc status=none
bad trunc.vmdk "truncated\|beyond"
head -c 100 good.vmdk > tiny.vmdk
expect_rc 1 "$VDK" info -f vmdk tiny.vmdk; expect_grep "too small" "$TMP/err"

# streamOptimized: footer, grain markers, compressed data
size=$(stat -c %s stream.vmdk)
cp stream.vmdk sf.vmdk; poke sf.vmdk 56 Q 0xffffffffffffffff   # GD at end, but no footer
bad sf.vmdk "footer"
sgd=$(python3 -c "import struct; print(struct.unpack_from('<Q', open('stream.vmdk','rb').read(512), 56)[0])")
sgt=$(python3 -c "import struct; f=open('stream.vmdk','rb'); f.seek($sgd*512); print(struct.unpack('<I', f.read(4))[0])")
g0=$(python3 -c "import struct; f=open('stream.vmdk','rb'); f.seek($sgt*512); print(struct.unpack('<I', f.read(4))[0])")
cp stream.vmdk sm.vmdk; poke sm.vmdk $(( g0 * 512 + 8 )) I 0x7fffffff; bad sm.vmdk "compressed grain size"
cp stream.vmdk sz.vmdk; poke sz.vmdk $(( g0 * 512 + 12 )) Q 0x1122334455667788; bad sz.vmdk "corrupt compressed grain"

# descriptor files
cat > d-size.vmdk <<'D'
# Disk DescriptorFile
version=1
CID=12345678
parentCID=ffffffff
createType="monolithicFlat"
RW 99999999999999999999 FLAT "x-flat.vmdk" 0
D
bad d-size.vmdk "invalid extent size"
sed 's/99999999999999999999/4611686018427387904/' d-size.vmdk > d-size2.vmdk
bad d-size2.vmdk "invalid extent size"
truncate -s 1M x-flat.vmdk
sed 's/99999999999999999999/2048/' d-size.vmdk > d-ok.vmdk
"$VDK" convert -O raw d-ok.vmdk out.raw
sed 's/99999999999999999999/2048/; s/x-flat/missing-flat/' d-size.vmdk > d-missing.vmdk
bad d-missing.vmdk "missing-flat.vmdk"
sed 's/99999999999999999999/2048/; s/FLAT/FOO/' d-size.vmdk > d-type.vmdk
bad d-type.vmdk "not supported"
sed 's/99999999999999999999/2048/; s/"x-flat.vmdk"/"x-flat.vmdk/' d-size.vmdk > d-quote.vmdk
bad d-quote.vmdk "unterminated"
# no extents: a disk of size 0 (qemu-img create makes those)
sed '/^RW/d' d-size.vmdk > d-none.vmdk
expect_eq "$("$VDK" info --output=json d-none.vmdk | json_get /dev/stdin "j['virtual-size']")" 0 "no extents"
sed '/createType/d; s/99999999999999999999/2048/' d-size.vmdk > d-ct.vmdk
bad d-ct.vmdk "createType"
sed 's/CID=12345678/CID=zz/; s/99999999999999999999/2048/' d-size.vmdk > d-cid.vmdk
bad d-cid.vmdk "CID"
{ sed '/^RW/d' d-size.vmdk; for i in $(seq 5000); do echo 'RW 1 ZERO'; done; } > d-many.vmdk
bad d-many.vmdk "extents"
{ sed '/^RW/d' d-size.vmdk; for i in $(seq 3000); do echo 'RW 1 FLAT "x-flat.vmdk" 0'; done; } > d-lots.vmdk
"$VDK" info d-lots.vmdk > /dev/null || fail "3000 extents sharing a file"
# path traversal in extent names is allowed (as qemu) and just works
mkdir sub; sed 's/99999999999999999999/2048/; s|"x-flat.vmdk"|"../x-flat.vmdk"|' d-size.vmdk > sub/d-up.vmdk
"$VDK" convert -O raw sub/d-up.vmdk out.raw
# a flat extent larger than its file reads zeroes past the end (as qemu)
sed 's/99999999999999999999/4096/' d-size.vmdk > d-short.vmdk
"$VDK" convert -O raw d-short.vmdk out.raw
expect_eq "$(stat -c %s out.raw)" 2097152 "short flat extent size"
# descriptors over 1 MiB are refused
{ cat d-ok.vmdk; head -c 1100000 /dev/zero | tr '\0' '#'; } > d-big.vmdk
bad d-big.vmdk "larger than"

# Random corruption of the first 64 KiB (header, descriptor, GD, GTs) of
# a sparse and a stream image: errors are fine, crashes are not.
python3 - <<'PY'
import random
random.seed(1234)
for src in ('good.vmdk', 'stream.vmdk'):
    data = open(src, 'rb').read()
    for i in range(25):
        b = bytearray(data)
        for _ in range(random.randint(1, 8)):
            if random.random() < 0.5:
                off = random.randrange(0, 80)
            else:
                off = random.randrange(0, min(len(b), 65536))
            b[off] = random.randrange(256)
        open('fz-%s-%d.vmdk' % (src[:4], i), 'wb').write(b)
PY
# descriptor files: mutate words and numbers of a valid one
sed 's/99999999999999999999/2048/' d-size.vmdk > d-base.vmdk
python3 - <<'PY'
import random
random.seed(99)
base = open('d-base.vmdk').read()
toks = ['RW', 'RDONLY', 'ZERO', 'FLAT', 'SPARSE', 'VMFS', 'VMFSSPARSE', '"', '=', '\n', '0',
        '-1', '18446744073709551615', '4294967296', 'x-flat.vmdk', '../x-flat.vmdk', '',
        'parentFileNameHint="x-flat.vmdk"', 'version=3', '#']
for i in range(20):
    s = base
    for _ in range(random.randint(1, 4)):
        pos = random.randrange(len(s))
        cut = random.randrange(0, 6)
        s = s[:pos] + random.choice(toks) + s[pos + cut:]
    open('fz-desc-%d.vmdk' % i, 'w').write(s)
PY
# the same inputs in-process through the fuzz harness (info paths too)
"$BUILDDIR/tests/vmdk/fuzz-vmdk-replay" fz-*.vmdk || fail "fuzz replay crashed"
for f in fz-*.vmdk; do
  rc=0
  timeout 20 "$VDK" convert -O raw "$f" out.raw 2>err.txt || rc=$?
  [ $rc -le 1 ] || { cat err.txt; fail "$f: exit status $rc"; }
  [ $rc = 0 ] || [ -s err.txt ] || fail "$f: failed without a message"
done
echo OK
