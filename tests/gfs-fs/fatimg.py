#!/usr/bin/env python3
"""Inspect or damage a FAT image for the driver tests.

  fatimg.py IMG fragments NAME83      number of fragments of a root file's chain
  fatimg.py IMG loop-file NAME83      third cluster of the chain -> first
  fatimg.py IMG loop-dir NAME83       last cluster of a directory's chain -> first
  fatimg.py IMG free-in-chain NAME83  second cluster of the chain marked free
  fatimg.py IMG first-cluster NAME83 N   set the entry's first cluster
  fatimg.py IMG lfn-checksum NAME83   break the checksum of the entry's long name
  fatimg.py IMG root-cluster N        FAT32 root cluster

NAME83 is the 11-byte 8.3 name ("BIG     BIN") of an entry in the root directory.
"""
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


b = rd(0, 512)
bps, spc, res, nfats, rootent, tot16, fat16 = struct.unpack('<HBHBHHxH', b[11:24])
tot = tot16 or struct.unpack('<I', b[32:36])[0]
fatsz = fat16 or struct.unpack('<I', b[36:40])[0]
rootsecs = (rootent * 32 + bps - 1) // bps
data = (res + nfats * fatsz + rootsecs) * bps
ncl = (tot - res - nfats * fatsz - rootsecs) // spc
bits = 32 if fat16 == 0 else (12 if ncl < 4085 else 16)
cs = bps * spc
eoc = {12: 0xff8, 16: 0xfff8, 32: 0x0ffffff8}[bits]


def fat_get(c):
    o = res * bps
    if bits == 12:
        v, = struct.unpack('<H', rd(o + c + c // 2, 2))
        return v >> 4 if c & 1 else v & 0xfff
    if bits == 16:
        return struct.unpack('<H', rd(o + 2 * c, 2))[0]
    return struct.unpack('<I', rd(o + 4 * c, 4))[0] & 0x0fffffff


def fat_set(c, val):
    for k in range(nfats):
        o = (res + k * fatsz) * bps
        if bits == 12:
            p = o + c + c // 2
            v, = struct.unpack('<H', rd(p, 2))
            v = (v & 0x000f) | (val << 4) if c & 1 else (v & 0xf000) | val
            wr(p, struct.pack('<H', v))
        elif bits == 16:
            wr(o + 2 * c, struct.pack('<H', val))
        else:
            wr(o + 4 * c, struct.pack('<I', val))


def chain(c):
    out = []
    while 2 <= c < eoc and len(out) <= ncl:
        out.append(c)
        c = fat_get(c)
    return out


def coff(c):
    return data + (c - 2) * cs


def root_entries():
    if bits != 32:
        base = (res + nfats * fatsz) * bps
        for i in range(rootent):
            yield base + 32 * i
    else:
        for c in chain(struct.unpack('<I', b[44:48])[0]):
            for i in range(cs // 32):
                yield coff(c) + 32 * i


def find(name):
    name = name.encode().ljust(11)
    for off in root_entries():
        e = rd(off, 32)
        if e[:11] == name and e[11] != 0x0f:
            cl = struct.unpack('<H', e[26:28])[0] | (struct.unpack('<H', e[20:22])[0] << 16 if bits == 32 else 0)
            return off, cl
    sys.exit('no entry ' + name.decode())


if cmd == 'root-cluster':
    wr(44, struct.pack('<I', int(sys.argv[3])))
    sys.exit(0)
off, first = find(sys.argv[3])
ch = chain(first)
if cmd == 'fragments':
    print(1 + sum(1 for a, b2 in zip(ch, ch[1:]) if b2 != a + 1))
elif cmd == 'loop-file':
    fat_set(ch[2], ch[0])
elif cmd == 'loop-dir':
    fat_set(ch[-1], ch[0])
elif cmd == 'free-in-chain':
    fat_set(ch[1], 0)
elif cmd == 'first-cluster':
    n = int(sys.argv[4])
    wr(off + 26, struct.pack('<H', n & 0xffff))
    if bits == 32:
        wr(off + 20, struct.pack('<H', n >> 16))
elif cmd == 'lfn-checksum':
    e = rd(off - 32, 32)
    assert e[11] == 0x0f, 'no long name before the entry'
    wr(off - 32 + 13, bytes([e[13] ^ 0x55]))
else:
    sys.exit('unknown command ' + cmd)
