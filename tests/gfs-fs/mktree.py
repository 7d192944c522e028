#!/usr/bin/env python3
"""Build the test tree for the filesystem driver tests.

  mktree.py DIR xfs|vfat LISTING [PROTOFILE]

Writes a deterministic tree under DIR, the listing gfs-fs-walk must print for
it (same format: "d MODE PATH", "f MODE PATH SIZE CRC32", "l MODE PATH -> T")
and, for xfs, an mkfs.xfs protofile that reproduces it.
"""
import os
import random
import sys
import zlib

root, kind, listing = sys.argv[1], sys.argv[2], sys.argv[3]
proto = sys.argv[4] if len(sys.argv) > 4 else None
rnd = random.Random(8)
fat = kind == 'vfat'
entries = []  # (path, kind, mode, payload)


def mkfile(path, data, mode=0o644):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, 'wb') as f:
        f.write(data)
    os.chmod(full, mode)


def mkdir(path, mode=0o755):
    os.makedirs(os.path.join(root, path), exist_ok=True)
    os.chmod(os.path.join(root, path), mode)


def mklink(path, target):
    os.symlink(target, os.path.join(root, path))


def data(n):
    return rnd.randbytes(n)


os.makedirs(root, exist_ok=True)
mkfile('empty', b'')
mkfile('small.txt', b'hello, world\n')
mkfile('one-block', data(4096))
mkfile('block-plus-one', data(4097), 0o600)
mkfile('run.sh', b'#!/bin/sh\necho hi\n', 0o755)
mkfile('big.bin', data(3 * 1048576 + 12345))
mkfile('holes.bin', data(70000) + bytes(300000) + data(70000) + bytes(50000))
mkdir('sub/dir/nested/deep')
mkfile('sub/dir/nested/deep/file.txt', b'deep\n' * 1000)
mkdir('private', 0o700)
mkfile('private/secret', data(10))
# Directory forms: short form, block, leaf (300 entries), node (1000).
mkdir('few')
for i in range(3):
    mkfile('few/f%d' % i, data(i * 100))
mkdir('block')
for i in range(60):
    mkfile('block/entry-%02d' % i, data(i))
mkdir('many')
for i in range(300):
    mkfile('many/entry-with-a-longish-name-%03d.dat' % i, data(rnd.randrange(0, 3000)))
mkdir('huge')
for i in range(1000 if not fat else 600):
    mkfile('huge/f%04d' % i, b'')
long = ('a-very-long-file-name-' * 12)[: (255 if not fat else 200)]
mkfile(long, b'long name\n')
mkfile('caf\u00e9-\u00fc.txt', b'unicode\n')
mkfile('MixedCase.TXT', b'x')
mkfile('lower.txt', b'y')
mkfile('UPPER.TXT', b'z')
mkfile('lowerbase.TXT', b'w')
mkfile('with space and.many.dots', b'dots\n')
if not fat:
    mklink('link-short', 'small.txt')
    mklink('link-long', '/'.join(['component-%02d' % i for i in range(60)]))
    mklink('sub/dir/up', '../..')
    mklink('dangling', '/no/such/target')
    os.rename(os.path.join(root, 'with space and.many.dots'),
              os.path.join(root, 'with_underscores.many.dots'))


def lmode(mode):
    return '%04o' % (mode & 0o7777)


out = []
for dirpath, dirnames, filenames in os.walk(root):
    for name in dirnames + filenames:
        full = os.path.join(dirpath, name)
        rel = os.path.relpath(full, root)
        st = os.lstat(full)
        if os.path.islink(full):
            out.append((rel.encode(), 'l %s %s -> %s' % (lmode(st.st_mode), rel, os.readlink(full))))
        elif os.path.isdir(full):
            out.append((rel.encode(), 'd %s %s' % (lmode(st.st_mode), rel)))
        else:
            with open(full, 'rb') as f:
                content = f.read()
            out.append((rel.encode(), 'f %s %s %d %08x' % (lmode(st.st_mode), rel, len(content),
                                                           zlib.crc32(content))))
out.sort()
with open(listing, 'w', encoding='utf-8') as f:
    for _, line in out:
        f.write(line + '\n')

if proto:
    lines = ['/dev/null', '0 0', 'd--755 0 0']

    def emit(d, depth):
        for name in sorted(os.listdir(d)):
            full = os.path.join(d, name)
            st = os.lstat(full)
            ind = ' ' * depth
            if os.path.islink(full):
                lines.append('%s%s l--777 0 0 %s' % (ind, name, os.readlink(full)))
            elif os.path.isdir(full):
                lines.append('%s%s d--%03o 0 0' % (ind, name, st.st_mode & 0o777))
                emit(full, depth + 1)
                lines.append(ind + '$')
            else:
                lines.append('%s%s ---%03o 0 0 %s' % (ind, name, st.st_mode & 0o777, full))
    emit(root, 1)
    lines.append('$')
    with open(proto, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')
