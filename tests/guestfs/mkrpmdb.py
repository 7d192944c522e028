#!/usr/bin/env python3
"""Write an rpmdb.sqlite like rpm >= 4.16 does (table Packages(hnum, blob))
with rpm header blobs: mkrpmdb.py OUT N_FILLER
Three named packages plus N_FILLER filler packages (so the table b-tree has
interior pages), one with a large header (overflow pages)."""
import sqlite3
import struct
import sys


def header(tags):
    # tags: list of (tag, type, value); type 4 int32, 6 string, 9 i18nstring
    index, data = b"", b""
    for tag, typ, val in tags:
        if typ == 4:
            while len(data) % 4:
                data += b"\0"
            off = len(data)
            data += struct.pack(">I", val)
        else:
            off = len(data)
            data += val.encode() + b"\0"
        index += struct.pack(">IIII", tag, typ, off, 1)
    return struct.pack(">II", len(tags), len(data)) + index + data


def pkg(name, ver, rel, arch, summary, epoch=None, pad=0):
    t = [(1000, 6, name), (1001, 6, ver), (1002, 6, rel), (1004, 9, summary), (1022, 6, arch)]
    if epoch is not None:
        t.append((1003, 4, epoch))
    if pad:
        t.append((1016, 6, "x" * pad))    # a long string: overflow pages
    return header(t)


out, n = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(out)
db.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
db.execute("CREATE TABLE Name (key TEXT NOT NULL, hnum INTEGER NOT NULL, idx INTEGER NOT NULL)")
rows = [pkg("bash", "5.2.26", "1.fc40", "x86_64", "The GNU Bourne Again shell"),
        pkg("kernel-core", "6.8.5", "301.fc40", "x86_64", "The Linux kernel", pad=20000),
        pkg("shadow-utils", "4.15.1", "2.fc40", "x86_64", "Utilities for managing accounts", epoch=2)]
rows += [pkg("filler-%04d" % i, "1.0", "1", "noarch", "filler package %d" % i) for i in range(n)]
for r in rows:
    db.execute("INSERT INTO Packages (blob) VALUES (?)", (r,))
db.commit()
db.close()
