#!/usr/bin/env python3
"""Craft VHDX log entries for the tests.

  vhdxlog.py swap IMAGE A B [--at SECTOR] [--stale] [--badcrc] [--split]
      Write a log (not applied in place) whose replay swaps BAT entries A and B
      and mark the log dirty in both headers.  --at puts the first entry at log
      sector SECTOR (entries wrap around the end of the log), --split puts the
      change in two consecutive entries, --stale adds an older entry with
      another GUID, --badcrc corrupts the checksum (nothing to replay).
  vhdxlog.py payload IMAGE OFFSET
      A dirty log writing one 4 KiB sector of 0xAB at file OFFSET.
  vhdxlog.py info IMAGE
      Print "bat_offset log_offset log_length meta_offset" of the image.
"""
import os
import struct
import sys
import uuid

SECTOR = 4096


def crc32c(data, crc=0xFFFFFFFF):
    table = crc32c.table
    if table is None:
        table = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            table.append(c)
        crc32c.table = table
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


crc32c.table = None


def finish(buf, at=4):
    buf[at:at + 4] = b"\0\0\0\0"
    buf[at:at + 4] = struct.pack("<I", crc32c(bytes(buf)) ^ 0xFFFFFFFF)


def headers(f):
    hs = []
    for off in (64 * 1024, 128 * 1024):
        f.seek(off)
        hs.append((off, bytearray(f.read(4096))))
    return hs


def current(f):
    hs = headers(f)
    return max(hs, key=lambda h: struct.unpack_from("<Q", h[1], 8)[0])[1]


def regions(f):
    f.seek(192 * 1024)
    rt = f.read(64 * 1024)
    n = struct.unpack_from("<I", rt, 8)[0]
    out = {}
    for i in range(n):
        e = rt[16 + 32 * i:48 + 32 * i]
        g = uuid.UUID(bytes_le=bytes(e[:16]))
        off, ln = struct.unpack_from("<QI", e, 16)
        out[str(g).upper()] = (off, ln)
    return out


BAT = "2DC27766-F623-4200-9D64-115E9BFD4A08"


def entry(guid, seq, tail, sectors, flushed):
    """One log entry restoring SECTORS [(file offset, 4096 bytes)]."""
    n = len(sectors)
    ds = (64 + 32 * n + SECTOR - 1) // SECTOR
    e = bytearray((ds + n) * SECTOR)
    struct.pack_into("<4sIIIQII16sQQ", e, 0, b"loge", 0, len(e), tail, seq, n, 0,
                     guid, flushed, flushed)
    for k, (off, data) in enumerate(sectors):
        struct.pack_into("<4s4s8sQQ", e, 64 + 32 * k, b"desc", data[4092:4096],
                         data[0:8], off, seq)
        s = (ds + k) * SECTOR
        e[s:s + 4] = b"data"
        struct.pack_into("<I", e, s + 4, seq >> 32)
        e[s + 8:s + 4092] = data[8:4092]
        struct.pack_into("<I", e, s + 4092, seq & 0xFFFFFFFF)
    finish(e)
    return e


def write_log(f, entries, at):
    h = current(f)
    log_len, log_off = struct.unpack_from("<IQ", h, 68)
    pos = at * SECTOR
    for e in entries:
        for i in range(0, len(e), SECTOR):
            f.seek(log_off + (pos % log_len))
            f.write(e[i:i + SECTOR])
            pos += SECTOR


def set_log_guid(f, guid):
    for off, h in headers(f):
        h[48:64] = guid
        finish(h)
        f.seek(off)
        f.write(h)


def main():
    cmd, img = sys.argv[1], sys.argv[2]
    with open(img, "r+b") as f:
        size = os.fstat(f.fileno()).st_size
        h = current(f)
        log_len, log_off = struct.unpack_from("<IQ", h, 68)
        bat_off = regions(f)[BAT][0]
        if cmd == "info":
            print(bat_off, log_off, log_len,
                  regions(f)["8B7CA206-4790-4B9A-B8FE-575F050F886E"][0])
            return
        guid = uuid.uuid4().bytes_le
        at = 0
        if "--at" in sys.argv:
            at = int(sys.argv[sys.argv.index("--at") + 1])
        if cmd == "swap":
            a, b = int(sys.argv[3]), int(sys.argv[4])
            f.seek(bat_off)
            sec = bytearray(f.read(SECTOR))
            ea, eb = sec[8 * a:8 * a + 8], sec[8 * b:8 * b + 8]
            entries = []
            if "--stale" in sys.argv:
                junk = bytearray(sec)
                junk[0:8] = b"\0" * 8
                entries.append(entry(uuid.uuid4().bytes_le, 7, at * SECTOR,
                                     [(bat_off, bytes(junk))], size))
            tail = (at + sum(len(x) for x in entries) // SECTOR) * SECTOR % log_len
            if "--split" in sys.argv:
                half = bytearray(sec)
                half[8 * a:8 * a + 8] = eb
                entries.append(entry(guid, 41, tail, [(bat_off, bytes(half))], size))
            sec[8 * a:8 * a + 8], sec[8 * b:8 * b + 8] = eb, ea
            entries.append(entry(guid, 42, tail, [(bat_off, bytes(sec))], size))
            if "--badcrc" in sys.argv:
                entries[-1][100] ^= 1
            write_log(f, entries, at)
        elif cmd == "payload":
            off = int(sys.argv[3])
            write_log(f, [entry(guid, 1, 0, [(off, b"\xab" * SECTOR)], size)], 0)
        set_log_guid(f, guid)


if __name__ == "__main__":
    main()
