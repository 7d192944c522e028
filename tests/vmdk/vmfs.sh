#!/bin/bash
# vmfs / vmfsSparse descriptors (VMFS flat extents, COWD sparse extents)
# and descriptors mixing extent kinds and offsets, read like qemu-img does.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/common.sh"

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
for img in vs.vmdk vf.vmdk; do
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
