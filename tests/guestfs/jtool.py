#!/usr/bin/env python3
"""Edit the internal jbd2 journal of an ext3/ext4 image for the journal tests.

usage: jtool.py IMAGE JBLOCKS BS OP [ARG]
  JBLOCKS file with the filesystem blocks of the journal inode, in order
          (debugfs -R "blocks <8>")
  BS      block size
  OP      rotate SHIFT   move the log SHIFT blocks on, so that it wraps around
                         the end of the journal (s_start follows)
          magic          break the journal superblock's magic
          start N        set s_start
          seq N          set s_sequence
          tag N          set the block number of the first tag of the first
                         descriptor
          commits        fill the log area with commit blocks of consecutive
                         sequence numbers (a log as long as the journal)
The journal superblock checksum (csum v2/v3) is recomputed.
"""
import struct
import sys


def crc32c(crc, data):
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc & 0xffffffff


img, bs, op = sys.argv[1], int(sys.argv[3]), sys.argv[4]
jmap = [int(x) for x in open(sys.argv[2]).read().split()]
arg = int(sys.argv[5], 0) if len(sys.argv) > 5 else 0
f = open(img, "r+b")


def rd(jblk):
    f.seek(jmap[jblk] * bs)
    return bytearray(f.read(bs))


def wr(jblk, data):
    f.seek(jmap[jblk] * bs)
    f.write(data)


sb = rd(0)
maxlen, first, seq, start = struct.unpack(">IIII", sb[0x10:0x20])
incompat = struct.unpack(">I", sb[0x28:0x2c])[0]
if op == "rotate":
    n = maxlen - first
    log = [rd(first + k) for k in range(n)]
    for k in range(n):
        wr(first + (k + arg) % n, log[k])
    struct.pack_into(">I", sb, 0x1c, first + (start - first + arg) % n)
elif op == "magic":
    sb[0:4] = b"\0\0\0\0"
elif op == "start":
    struct.pack_into(">I", sb, 0x1c, arg)
elif op == "seq":
    struct.pack_into(">I", sb, 0x18, arg)
elif op == "tag":
    d = rd(start)
    assert struct.unpack(">II", d[0:8]) == (0xC03B3998, 1), "not a descriptor"
    struct.pack_into(">I", d, 12, arg)
    wr(start, d)
elif op == "commits":
    for k in range(maxlen - first):
        b = bytearray(bs)
        struct.pack_into(">III", b, 0, 0xC03B3998, 2, (seq + k) & 0xffffffff)
        wr(first + k, b)
    struct.pack_into(">I", sb, 0x1c, first)
else:
    sys.exit("unknown op " + op)
if incompat & 0x18 and op != "magic":
    sb[0xfc:0x100] = b"\0\0\0\0"
    struct.pack_into(">I", sb, 0xfc, crc32c(0xffffffff, bytes(sb)))
wr(0, sb)
