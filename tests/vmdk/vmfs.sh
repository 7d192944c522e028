#!/bin/bash
# vmfs / vmfsSparse descriptors (VMFS flat extents, COWD sparse extents)
# and descriptors mixing extent kinds and offsets, read like qemu-img does.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/common.sh"
requires qemu-io

# A COWD (vmfsSparse) extent: 4 MiB, 8 KiB grains, data in a few grains.
python3 - <<'PY'
import os, struct, random
random.seed(7)
sectors, gran = 8192, 16
hdr = struct.pack('<4sIIIIIII', b'COWD', 1, 3, sectors, gran, 1, 1, 0)
gt = [0] * 4096
grains = {}
nxt = 2 + 32
for idx in (0, 5, 300, 511):
    gt[idx] = nxt
    grains[nxt] = os.urandom(gran * 512)
    nxt += gran
with open('cowd-delta.vmdk', 'wb') as f:
    f.write(hdr.ljust(512, b'\0'))
    f.write(struct.pack('<I', 2).ljust(512, b'\0'))
    f.write(struct.pack('<4096I', *gt))
    for off in sorted(grains):
        f.seek(off * 512); f.write(grains[off])
PY
cat > vs.vmdk <<'D'
# Disk DescriptorFile
version=1
CID=aabbccdd
parentCID=ffffffff
createType="vmfsSparse"

# Extent description
RW 8192 VMFSSPARSE "cowd-delta.vmdk"
D
head -c 3145728 /dev/urandom > v-flat.vmdk
cat > vf.vmdk <<'D'
# Disk DescriptorFile
version=1
CID=11223344
parentCID=ffffffff
createType="vmfs"

# Extent description
RW 6144 VMFS "v-flat.vmdk"

ddb.adapterType = "lsilogic"
D
# FLAT extents at offsets of one file plus a sparse extent, in one disk
qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse sp.vmdk 2M
qemu-io -f vmdk -c "write -P 0x77 4096 70000" sp.vmdk > /dev/null
cat > mix.vmdk <<'D'
# Disk DescriptorFile
version=1
CID=01020304
parentCID=ffffffff
createType="twoGbMaxExtentFlat"

RW 2048 FLAT "v-flat.vmdk" 100
RW 4096 SPARSE "sp-s001.vmdk"
RW 1024 FLAT "v-flat.vmdk" 0
D
# qemu skips RDONLY extents; vdk maps them (read-only)
sed 's/^RW 1024/RDONLY 1024/' mix.vmdk > mixro.vmdk
# (qemu-img 7.2 gets extents at non-zero offsets wrong: check by hand)
raw_of sp.vmdk sp.raw
{ dd if=v-flat.vmdk bs=512 skip=100 count=2048 status=none; cat sp.raw
  dd if=v-flat.vmdk bs=512 count=1024 status=none; } > exp.raw
"$VDK" convert -O raw mix.vmdk out.raw
cmp out.raw exp.raw || fail "mixed extents at offsets"
# a descriptor with Windows line ends
sed 's/$/\r/' vf.vmdk > crlf.vmdk
for img in vs.vmdk vf.vmdk crlf.vmdk; do
  raw_of "$img" ref.raw
  "$VDK" convert -O raw "$img" out.raw
  cmp out.raw ref.raw || fail "$img reads differently from qemu-img"
  "$VDK" info "$img" > vi.txt; qemu-img info "$img" > qi.txt
  diff -u qi.txt vi.txt || fail "$img: info differs"
done
# the bare COWD extent (qemu needs the descriptor) reads the same bytes
raw_of vs.vmdk ref.raw
"$VDK" convert -O raw cowd-delta.vmdk out.raw
cmp out.raw ref.raw || fail "bare COWD extent"
# ZERO extents read as zeroes (qemu skips them, so check by hand)
cat > z.vmdk <<'D'
# Disk DescriptorFile
version=1
CID=01020304
parentCID=ffffffff
createType="monolithicFlat"
RW 100 FLAT "v-flat.vmdk" 0
RW 200 ZERO
RW 100 FLAT "v-flat.vmdk" 0
D
"$VDK" convert -O raw z.vmdk out.raw
{ dd if=v-flat.vmdk bs=512 count=100 status=none; head -c 102400 /dev/zero
  dd if=v-flat.vmdk bs=512 count=100 status=none; } > exp.raw
cmp out.raw exp.raw || fail "ZERO extent"
# seSparse (ESXi 6.5+ snapshots): 8 MiB, grains allocated (one with a grain
# number > 4095 to check the split encoding), zero, unmapped, unallocated.
python3 - <<'PY'
import os, struct
cap = 16384
const = struct.pack('<26Q', 0xcafebabe, 0x0000000200000001, cap, 8, 64, 0, 0, 0, 0, 0,
                    1, 1, 0, 0, 0, 0, 2, 1, 3, 64, 0, 0, 0, 0, 67, 0)
vol = struct.pack('<4Q', 0xcafecafe, 0, 0, 0)
gd = [0] * 64
gd[0] = 0x1000000000000000 | 0
gt = [0] * 4096
def alloc(g):
    return 0x3000000000000000 | ((g & 0xfff) << 48) | (g >> 12)
grains = {0: 0, 5: 1, 6: 2, 1000: 4097}
for idx, g in grains.items():
    gt[idx] = alloc(g)
gt[100] = 0x2000000000000000
gt[200] = 0x1000000000000000
with open('se.vmdk', 'wb') as f:
    f.write(const.ljust(512, b'\0')); f.write(vol.ljust(512, b'\0'))
    f.write(struct.pack('<64Q', *gd)); f.write(struct.pack('<4096Q', *gt))
    for idx, g in grains.items():
        f.seek((67 + g * 8) * 512); f.write(os.urandom(4096))
    # data under the zero/unmapped grains' would-be places must not show
PY
cat > sed.vmdk <<'D'
# Disk DescriptorFile
version=1
CID=0a0b0c0d
parentCID=ffffffff
createType="seSparse"

RW 16384 SESPARSE "se.vmdk"
D
# (qemu-img 7.2 shows such a descriptor twice as large, repeating the
# extent: compare the extent itself)
raw_of sed.vmdk ref.raw
"$VDK" convert -O raw sed.vmdk out.raw
expect_eq "$(stat -c %s out.raw)" 8388608 "seSparse size"
cmp -n 8388608 out.raw ref.raw || fail "seSparse reads differently from qemu-img"
"$VDK" map --output=json sed.vmdk > vm.json
qemu-img map --output=json sed.vmdk > qm.json
python3 - vm.json qm.json <<'PY' || fail "seSparse map differs"
import json, sys
v = json.load(open(sys.argv[1])); q = json.load(open(sys.argv[2]))
q = [e for e in q if e['start'] < 8388608]
q[-1]['length'] = 8388608 - q[-1]['start']
strip = lambda l: [(e['start'], e['length'], e['data'], e['zero'], e.get('offset')) for e in l]
assert strip(v) == strip(q), (strip(v), strip(q))
PY
"$VDK" info --output=json sed.vmdk > vi.json
expect_eq "$(json_get vi.json "j['format-specific']['data']['extents'][0]['format']")" SESPARSE "seSparse info"
expect_eq "$(json_get vi.json "j['cluster-size']")" 4096 "seSparse grain"
expect_fail "$VMDK_IO" sed.vmdk vmdk ref.raw 0:10
expect_grep "seSparse" "$TMP/err"
cp se.vmdk se-bad.vmdk
python3 -c "
import struct; f=open('se-bad.vmdk','r+b'); f.seek(1024); f.write(struct.pack('<Q', 0x2000000000000000))"
sed 's/se.vmdk/se-bad.vmdk/' sed.vmdk > sedbad.vmdk
expect_rc 1 "$VDK" convert -O raw sedbad.vmdk out.raw
expect_grep "invalid seSparse grain directory entry" "$TMP/err"

# ESX-style: a sparse header with capacity 0 whose embedded descriptor
# lists the extents (qemu-img 7.2 counts that extent twice)
python3 - <<'PY'
import struct
desc = (b'# Disk DescriptorFile\nversion=1\nCID=11111111\nparentCID=ffffffff\n'
        b'createType="vmfs"\n\nRW 6144 VMFS "v-flat.vmdk"\n')
h = struct.pack('<IIIQQQQIQQQ', 0x564d444b, 1, 3, 0, 128, 1, 20, 512, 0, 0, 0).ljust(512, b'\0')
open('esx.vmdk', 'wb').write(h + desc.ljust(20 * 512, b'\0'))
PY
"$VDK" convert -O raw esx.vmdk out.raw
cmp out.raw v-flat.vmdk || fail "ESX embedded descriptor"

# read-only extents and COWD refuse writes with a clear message
truncate -s 1M ref.raw
"$VDK" convert -O raw mixro.vmdk out.raw
"$VDK" convert -O raw mix.vmdk out2.raw
cmp out.raw out2.raw || fail "RDONLY extent reads"
expect_fail "$VMDK_IO" mixro.vmdk vmdk ref.raw 3500000:10
expect_grep "read-only" "$TMP/err"
expect_fail "$VMDK_IO" cowd-delta.vmdk vmdk ref.raw 0:10
expect_grep "vmfsSparse\|read-only\|not supported" "$TMP/err"
"$VMDK_IO" mixro.vmdk vmdk ref.raw 1000:10
echo OK
