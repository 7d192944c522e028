#!/usr/bin/env python3
"""Edit an XFS image for the driver tests (fragment a file, corrupt things).

  xfsimg.py IMG frag INO SEED      rewrite INO's data as a scattered btree map
                                   (all-zero pieces become holes or unwritten
                                   extents over junk)
  xfsimg.py IMG extent-past-end INO   first extent -> beyond the filesystem
  xfsimg.py IMG bmbt-level INO     break the level of INO's first btree child
  xfsimg.py IMG dirblock INO       corrupt the first entry of INO's first data block
  xfsimg.py IMG dirent-ino INO     first entry of INO's first data block -> bad inode
  xfsimg.py IMG symlink-hdr INO    give INO's remote symlink block its v5 header
  xfsimg.py IMG symlink-bytes INO  bad byte count in that header
  xfsimg.py IMG attrleaf INO       bad entry count in INO's first attribute block
CRCs other than the superblock's are not updated (the reader does not check them).
"""
import random
import struct
import sys

img, cmd = sys.argv[1], sys.argv[2]
f = open(img, 'r+b')


def rd(off, n):
    f.seek(off)
    return f.read(n)


def wr(off, b):
    f.seek(off)
    f.write(b)


sb = rd(0, 512)
bs, = struct.unpack('>I', sb[4:8])
dblocks, = struct.unpack('>Q', sb[8:16])
uuid = sb[32:48]
agblocks, agcount = struct.unpack('>II', sb[84:92])
isize, = struct.unpack('>H', sb[104:106])
blocklog, inodelog, inopblog, agblklog = sb[120], sb[122], sb[123], sb[124]
v5 = (struct.unpack('>H', sb[100:102])[0] & 0xf) == 5
lit = 176 if v5 else 100


def fsb2lin(fsb):
    return (fsb >> agblklog) * agblocks + (fsb & ((1 << agblklog) - 1))


def lin2fsb(lin):
    return ((lin // agblocks) << agblklog) | (lin % agblocks)


def inode_off(ino):
    agno = ino >> (agblklog + inopblog)
    agbno = (ino >> inopblog) & ((1 << agblklog) - 1)
    return ((agno * agblocks + agbno) << blocklog) + ((ino & ((1 << inopblog) - 1)) << inodelog)


def dec(rec):
    l0, l1 = struct.unpack('>QQ', rec)
    return ((l0 & ((1 << 63) - 1)) >> 9, ((l0 & 0x1ff) << 43) | (l1 >> 21), l1 & 0x1fffff, l0 >> 63)


def enc(off, fsb, n, flag=0):
    return struct.pack('>QQ', (flag << 63) | (off << 9) | (fsb >> 43),
                       ((fsb & ((1 << 43) - 1)) << 21) | n)


def nrext64(raw):
    return v5 and struct.unpack('>Q', raw[120:128])[0] & (1 << 4)


def set_nextents(raw, n):
    if nrext64(raw):
        struct.pack_into('>Q', raw, 24, n)
    else:
        struct.pack_into('>I', raw, 76, n)


def extents(ino):
    raw = rd(inode_off(ino), isize)
    assert raw[5] == 2, 'inode %d is not in extents format' % ino
    n, = struct.unpack('>Q', raw[24:32]) if nrext64(raw) else struct.unpack('>I', raw[76:80])
    return [dec(raw[lit + 16 * i: lit + 16 * i + 16]) for i in range(n)]


def free_blocks(count):
    """COUNT all-zero blocks, from the end of the filesystem down."""
    out, lin = [], dblocks - 1
    while len(out) < count:
        if lin % agblocks >= 64 and rd(lin << blocklog, bs) == bytes(bs):
            out.append(lin)
        lin -= 1
    return out


def frag(ino, seed):
    rnd = random.Random(seed)
    raw = bytearray(rd(inode_off(ino), isize))
    ext = extents(ino)
    pieces = []  # (file offset, blocks, data), keeping the file's own holes
    for eoff, fsb, n, _ in ext:
        b = 0
        while b < n:
            k = min(rnd.randint(1, 3), n - b)
            pieces.append((eoff + b, k, rd((fsb2lin(fsb) + b) << blocklog, k << blocklog)))
            b += k
    nblk = sum(k for _, k, _ in pieces)
    hdr = 72 if v5 else 24
    leafmax = (bs - hdr) // 16
    per_leaf = leafmax - 1  # not quite full
    nleaves = (len(pieces) + per_leaf - 1) // per_leaf
    spare = free_blocks(3 * nblk + nleaves * 4 + 64)
    rnd.shuffle(spare)
    recs = []
    for off, n, chunk in pieces:
        zero = chunk == bytes(len(chunk))
        if zero and rnd.random() < 0.5:
            continue  # a hole
        # n physically contiguous free blocks
        start = None
        for i, s in enumerate(spare):
            if all((s + k) in spare_set for k in range(n)):
                start = s
                break
        for k in range(n):
            spare_set.discard(start + k)
        spare[:] = [s for s in spare if s in spare_set]
        if zero:
            wr(start << blocklog, b'\xa5' * len(chunk))  # junk under an unwritten extent
            recs.append(enc(off, lin2fsb(start), n, 1))
        else:
            wr(start << blocklog, chunk)
            recs.append(enc(off, lin2fsb(start), n))
    forkmax = (isize - lit - 4) // 16
    level, items = 0, [(struct.unpack('>Q', r[:8])[0] >> 9 & ((1 << 54) - 1), r) for r in recs]
    # Build levels until the root fits in the inode.
    while True:
        level += 1
        per = per_leaf if level == 1 else (bs - hdr) // 16 - 1
        groups = [items[i:i + per] for i in range(0, len(items), per)]
        nxt = []
        for gi, g in enumerate(groups):
            blk = spare_set.pop()
            body = bytearray(bs)
            maxrecs = (bs - hdr) // 16
            if v5:
                struct.pack_into('>IHHQQQQ16sQ', body, 0, 0x424d4133, level - 1, len(g),
                                 (1 << 64) - 1, (1 << 64) - 1, (blk << blocklog) >> 9, 0, uuid, ino)
            else:
                struct.pack_into('>IHHQQ', body, 0, 0x424d4150, level - 1, len(g),
                                 (1 << 64) - 1, (1 << 64) - 1)
            for i, (key, payload) in enumerate(g):
                if level == 1:
                    body[hdr + 16 * i: hdr + 16 * i + 16] = payload
                else:
                    struct.pack_into('>Q', body, hdr + 8 * i, key)
                    struct.pack_into('>Q', body, hdr + 8 * maxrecs + 8 * i, payload)
            wr(blk << blocklog, bytes(body))
            nxt.append((g[0][0], lin2fsb(blk)))
        items = nxt
        if len(items) <= forkmax:
            break
    fork = bytearray(isize - lit)
    struct.pack_into('>HH', fork, 0, level, len(items))
    for i, (key, ptr) in enumerate(items):
        struct.pack_into('>Q', fork, 4 + 8 * i, key)
        struct.pack_into('>Q', fork, 4 + 8 * forkmax + 8 * i, ptr)
    raw[lit:] = fork
    raw[5] = 3
    set_nextents(raw, len(recs))
    wr(inode_off(ino), bytes(raw))
    print('%d extents, %d levels' % (len(recs), level))


def first_data_block(ino):
    raw = rd(inode_off(ino), isize)
    assert raw[5] == 2
    off, fsb, n, _ = dec(raw[lit:lit + 16])
    return fsb2lin(fsb) << blocklog


ino = int(sys.argv[3])
if cmd == 'frag':
    spare_set = set()
    _free = free_blocks
    def free_blocks(count):  # noqa: F811  keep a set for contiguity checks
        r = _free(count)
        spare_set.update(r)
        return r
    frag(ino, int(sys.argv[4]))
elif cmd == 'extent-past-end':
    o = inode_off(ino)
    off, fsb, n, fl = dec(rd(o + lit, 16))
    wr(o + lit, enc(off, lin2fsb(dblocks - 1), n + 5))
elif cmd == 'bmbt-level':
    raw = rd(inode_off(ino), isize)
    assert raw[5] == 3
    forkmax = (isize - lit - 4) // 16
    ptr, = struct.unpack('>Q', raw[lit + 4 + 8 * forkmax: lit + 12 + 8 * forkmax])
    wr((fsb2lin(ptr) << blocklog) + 4, struct.pack('>H', 7))
elif cmd == 'dirblock':
    b = first_data_block(ino)
    hdr = 64 if v5 else 16
    # the first entry becomes free space running past the end of the block
    wr(b + hdr, b'\xff\xff\x7f\xf8')
elif cmd == 'symlink-hdr':
    # What the kernel writes (and mkfs.xfs -p before 6.5 did not): a v5
    # remote symlink block starts with a 56-byte header and its CRC.
    raw = rd(inode_off(ino), isize)
    size, = struct.unpack('>Q', raw[56:64])
    off, fsb, n, _ = dec(raw[lit:lit + 16])
    daddr = fsb2lin(fsb) << blocklog
    target = rd(daddr, size)
    blk = bytearray(bs)
    struct.pack_into('>IIII16sQQQ', blk, 0, 0x58534c4d, 0, size, 0, uuid, ino, daddr >> 9, 0)
    blk[56:56 + size] = target
    c = 0xffffffff
    for x in bytes(blk):
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ (0x82f63b78 & -(c & 1))
    struct.pack_into('<I', blk, 12, ~c & 0xffffffff)
    wr(daddr, bytes(blk))
elif cmd == 'symlink-bytes':
    raw = rd(inode_off(ino), isize)
    off, fsb, n, _ = dec(raw[lit:lit + 16])
    wr((fsb2lin(fsb) << blocklog) + 8, struct.pack('>I', 5000))
elif cmd == 'attrleaf':
    raw = rd(inode_off(ino), isize)
    assert raw[83] == 2, 'attribute fork not in extents format'
    a = lit + raw[82] * 8
    off, fsb, n, _ = dec(raw[a:a + 16])
    wr((fsb2lin(fsb) << blocklog) + (56 if v5 else 12), b'\xff\xff')
elif cmd == 'dirent-ino':
    b = first_data_block(ino)
    hdr = 64 if v5 else 16
    pos = hdr
    for _ in range(3):  # skip "." and "..": the third entry is a real one
        namelen = rd(b + pos + 8, 1)[0]
        entry_pos = pos
        pos += (8 + 1 + namelen + 1 + 2 + 7) & ~7
    wr(b + entry_pos, struct.pack('>Q', (1 << 56) + 5))
else:
    sys.exit('unknown command ' + cmd)
