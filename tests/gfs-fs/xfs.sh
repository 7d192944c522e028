#!/bin/bash
# The xfs driver against mkfs.xfs -p: v5 (4K and 1K blocks with 8K directory
# blocks, nrext64, ASCII-ci, 64-bit inode numbers) and v4; short-form, block,
# leaf and node directories (also in btree format), local and remote symlinks,
# extent btrees (built by xfsimg.py), holes and unwritten extents, extended
# attributes (set by xfs_db); then hostile images, each one clear error and no
# crash.
. "$(dirname "$0")/../functions.sh"
requires mkfs.xfs python3 blkid
: "${WALK:?}" "${TESTDIR:?}"

python3 "$TESTDIR/mktree.py" tree xfs list.want proto
LC_ALL=C sort list.want > want

walk () { "$WALK" xfs "$@"; }
ino_of () { walk "$1" stat "$2" | sed -n 's/^ino=//p'; }
check_tree () {
  walk "$1" tree > got.raw || fail "$1: walk failed"
  LC_ALL=C sort got.raw > got
  diff -u want got >&2 || fail "$1: listing differs from the source tree"
}

mkimg () {  # mkimg NAME MKFS-OPTIONS...
  local img=$1; shift
  truncate -s 320M "$img"
  mkfs.xfs -q -f "$@" -p proto "$img" 2>mkfs.err || { cat mkfs.err; return 1; }
}

# --- v5, 4K blocks ---------------------------------------------------------
mkimg v5.img -L guestlabel -m uuid=0f3c2a11-5b6d-4e7f-8a9b-0c1d2e3f4a5b
expect_eq "$(walk v5.img probe)" 1 "probe"
expect_eq "$("$WALK" vfat v5.img probe)" 0 "vfat probe of xfs"
check_tree v5.img
walk v5.img info > info
expect_grep '^type=xfs$' info
expect_grep '^label=guestlabel$' info
expect_grep '^version=5$' info
expect_grep "^uuid=$(blkid -p -o value -s UUID v5.img)\$" info
expect_eq "$(sed -n 's/^uuid=//p' info)" 0f3c2a11-5b6d-4e7f-8a9b-0c1d2e3f4a5b "uuid"
expect_eq "$(walk v5.img readlink link-short)" small.txt "local symlink"
expect_eq "$(walk v5.img cat sub/dir/nested/deep/file.txt | md5sum)" \
          "$(md5sum < tree/sub/dir/nested/deep/file.txt)" "cat"
walk v5.img stat private > st
expect_grep '^mode=0700$' st
expect_grep '^type=d$' st
# mkfs.xfs -p stamps inodes with the current time (bigtime encoding on v5).
near_now () {
  local t; t=$(walk "$1" stat "$2" | sed -n 's/^mtime=//p')
  [ $(( t > $(date +%s) ? t - $(date +%s) : $(date +%s) - t )) -lt 3600 ] \
    || fail "$1 $2: mtime $t is not now"
}
near_now v5.img small.txt
# statfs from the superblock, compared with xfs_db's view of it
if command -v xfs_db >/dev/null; then
  walk v5.img statfs > sf
  fd=$(xfs_db -r -c 'sb 0' -c 'p fdblocks' v5.img | sed 's/.*= //')
  expect_grep "^bfree=$fd\$" sf
  expect_grep '^block_size=4096$' sf
  # the directory forms the tree is meant to exercise
  for d in few:local block:extents many:extents huge:extents; do
    fmt=$(xfs_db -r -c "path /${d%%:*}" -c 'p core.format' v5.img)
    case $fmt in *"(${d#*:})"*) ;; *) fail "${d%%:*}: format $fmt";; esac
  done
  [ "$(xfs_db -r -c 'path /huge' -c 'p core.nextents' v5.img | sed 's/.*= //')" -gt 6 ] \
    || fail "huge is not a node directory"
fi

# Remote symlinks with the v5 block header the kernel writes (xfs_db checks
# the header's CRC: the oracle that it is the real format).
cp v5.img sl.img
python3 "$TESTDIR/xfsimg.py" sl.img symlink-hdr "$(ino_of sl.img link-long)"
if command -v xfs_db >/dev/null; then
  xfs_db -r -c "inode $(ino_of sl.img link-long)" -c 'dblock 0' -c 'type symlink' -c p sl.img \
    2>&1 | grep -q '^crc = .*(correct)' || fail "sl.img: symlink header not accepted by xfs_db"
fi
check_tree sl.img

# Extended attributes, set by xfs_db (values are N 'v' bytes): short form,
# leaf, remote values and a node tree.
xattr_test () {
  local img=$1 a=() f
  command -v xfs_db >/dev/null || return 0
  a+=(-c "inode $(ino_of "$img" small.txt)" -c 'attr_set -v 5 foo' -c 'attr_set -s -v 3 selinux'
      -c 'attr_set -r -v 7 trustme')
  a+=(-c "inode $(ino_of "$img" one-block)")
  for i in $(seq 0 19); do a+=(-c "attr_set -v 150 attr$i"); done
  a+=(-c "inode $(ino_of "$img" block-plus-one)" -c 'attr_set -v 10000 bigvalue'
      -c 'attr_set -v 10 small')
  a+=(-c "inode $(ino_of "$img" run.sh)")
  for i in $(seq 0 199); do a+=(-c "attr_set -v 60 nodeattr-$i"); done
  if ! xfs_db -x "${a[@]}" "$img" >/dev/null 2>&1; then
    # xfsprogs 6.1's xfs_db crashes setting attributes on some v4 images.
    [ "${2:-}" = optional ] || fail "$img: xfs_db attr_set failed"
    echo "note: xfs_db cannot set attributes on $img; not tested there"
    return 0
  fi
  python3 - > xattr.want <<'PY'
import zlib
def v(name, n): print('%s %s %d %08x' % (FILE, name, n, zlib.crc32(b'v' * n)))
out = []
for f, name, n in ([('small.txt', 'user.foo', 5), ('small.txt', 'security.selinux', 3),
                    ('small.txt', 'trusted.trustme', 7)]
                   + [('one-block', 'user.attr%d' % i, 150) for i in range(20)]
                   + [('block-plus-one', 'user.bigvalue', 10000), ('block-plus-one', 'user.small', 10)]
                   + [('run.sh', 'user.nodeattr-%d' % i, 60) for i in range(200)]):
    out.append('%s %s %d %08x' % (f, name, n, zlib.crc32(b'v' * n)))
print('\n'.join(sorted(out)))
PY
  for f in block-plus-one one-block run.sh small.txt; do
    walk "$img" xattr "$f" | sed "s|^|$f |" || fail "$img: xattr $f"
  done | LC_ALL=C sort > xattr.got
  LC_ALL=C sort -o xattr.want xattr.want
  diff -u xattr.want xattr.got >&2 || fail "$img: extended attributes differ"
  [ -z "$(walk "$img" xattr few)" ] || fail "$img: attributes on a directory without any"
}
cp v5.img xattr5.img
xattr_test xattr5.img

# Extent btrees: scatter big.bin (two leaves) and holes.bin (holes, unwritten).
cp v5.img frag.img
python3 "$TESTDIR/xfsimg.py" frag.img frag "$(ino_of frag.img big.bin)" 1 > frag.out
python3 "$TESTDIR/xfsimg.py" frag.img frag "$(ino_of frag.img holes.bin)" 2 >> frag.out
# Directories in btree format (leaf and node directories, blocks scattered).
python3 "$TESTDIR/xfsimg.py" frag.img frag "$(ino_of frag.img many)" 5 >> frag.out
python3 "$TESTDIR/xfsimg.py" frag.img frag "$(ino_of frag.img huge)" 6 >> frag.out
check_tree frag.img

# --- v5, 1K blocks, 8K directory blocks, 64-bit extent counters, a 2-level
# extent btree (nrext64 needs xfsprogs >= 5.19; older ones get the rest) ----
mkimg v5k.img -b size=1024 -n size=8192 -i nrext64=1 || mkimg v5k.img -b size=1024 -n size=8192
check_tree v5k.img
python3 "$TESTDIR/xfsimg.py" v5k.img frag "$(ino_of v5k.img big.bin)" 3 > frag.out
grep -q '2 levels' frag.out || fail "no 2-level btree: $(cat frag.out)"
check_tree v5k.img

# --- 64-bit inode numbers: 4 TiB sparse, 8 groups (i8count short-form dirs) -
if truncate -s 4T big.img 2>/dev/null; then
  mkfs.xfs -q -f -d agcount=8 -l size=64m -p proto big.img
  check_tree big.img
  if command -v xfs_db >/dev/null; then
    i8=$(xfs_db -r -c 'path /sub' -c 'p u3.sfdir3.hdr.i8count' big.img | sed 's/.*= //')
    [ "$i8" -gt 0 ] || fail "big.img: /sub has no 8-byte inode numbers"
  fi
  rm -f big.img
else
  echo "note: no 4 TiB sparse files in $TMP; 64-bit inode numbers not tested"
fi

# --- ASCII case-insensitive names (-n version=ci) --------------------------
mkimg ci.img -n version=ci
check_tree ci.img
expect_eq "$(walk ci.img cat SUB/Dir/NESTED/deep/FILE.TXT | md5sum)" \
          "$(md5sum < tree/sub/dir/nested/deep/file.txt)" "case-insensitive lookup"
expect_fail walk v5.img cat SMALL.TXT
rm -f ci.img

# --- v4 (no CRCs, no file types in directories) ----------------------------
if mkimg v4.img -m crc=0 -n ftype=0 -i size=256; then
  check_tree v4.img
  near_now v4.img small.txt
  cp v4.img xattr.img
  xattr_test xattr.img optional
  rm -f xattr.img
  expect_grep '^version=4$' <(walk v4.img info)
  cp v4.img v4frag.img
  python3 "$TESTDIR/xfsimg.py" v4frag.img frag "$(ino_of v4frag.img big.bin)" 4 > frag.out
  check_tree v4frag.img
else
  echo "note: this mkfs.xfs cannot make v4 filesystems; v4 not tested"
fi

# --- hostile images --------------------------------------------------------
hostile () {  # hostile IMG PATTERN ARGS...: one error line matching PATTERN
  local img=$1 pat=$2; shift 2
  local rc=0
  walk "$img" "$@" >/dev/null 2>err || rc=$?
  [ "$rc" = 1 ] || { cat err >&2; fail "$img $*: expected exit 1, got $rc"; }
  [ "$(wc -l < err)" = 1 ] || { cat err >&2; fail "$img: not one error line"; }
  grep -q -- "$img" err || { cat err >&2; fail "$img: error does not name the image"; }
  grep -q -- "$pat" err || { cat err >&2; fail "$img: error does not say '$pat'"; }
}
patch () { printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

cp v5.img h1.img; patch h1.img 88 '\x00\x00\x00\x09'     # agcount, CRC now wrong
hostile h1.img 'checksum' tree
cp v4.img h2.img 2>/dev/null && { patch h2.img 4 '\x00\x00\x03\x00'; hostile h2.img 'block size' tree; }
cp v5.img h3.img; patch h3.img 0 'XFSC'
expect_eq "$(walk h3.img probe)" 0 "probe of a damaged magic"
hostile h3.img 'not an xfs' info
cp v5.img h4.img; truncate -s 200M h4.img
hostile h4.img 'larger than the device' tree
cp v5.img h5.img; python3 "$TESTDIR/xfsimg.py" h5.img extent-past-end "$(ino_of h5.img big.bin)"
hostile h5.img 'outside the filesystem' cat big.bin
cp v5.img h6.img; python3 "$TESTDIR/xfsimg.py" h6.img dirblock "$(ino_of h6.img many)"
hostile h6.img 'corrupt entry' tree
cp v5.img h7.img; python3 "$TESTDIR/xfsimg.py" h7.img dirent-ino "$(ino_of h7.img huge)"
hostile h7.img 'outside the filesystem' tree
cp frag.img h8.img; python3 "$TESTDIR/xfsimg.py" h8.img bmbt-level "$(ino_of h8.img big.bin)"
hostile h8.img 'bad extent btree block' cat big.bin
# The root inode of a garbage superblock that still has a good CRC.
cp v5.img h9.img
python3 - h9.img <<'PY'
import struct, sys
f = open(sys.argv[1], 'r+b'); sb = bytearray(f.read(512))
struct.pack_into('>Q', sb, 56, 1 << 40)            # root inode far away
def crc32c(b):
    c = 0xffffffff
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ (0x82f63b78 & -(c & 1))
    return ~c & 0xffffffff
sb[224:228] = b'\0\0\0\0'; sb[224:228] = struct.pack('<I', crc32c(sb))
f.seek(0); f.write(sb)
PY
hostile h9.img 'inode number' tree
cp sl.img h11.img; python3 "$TESTDIR/xfsimg.py" h11.img symlink-bytes "$(ino_of h11.img link-long)"
hostile h11.img 'bad remote block header' readlink link-long
cp xattr5.img h10.img; python3 "$TESTDIR/xfsimg.py" h10.img attrleaf "$(ino_of h10.img one-block)"
hostile h10.img 'corrupt attribute leaf' xattr one-block
echo OK
