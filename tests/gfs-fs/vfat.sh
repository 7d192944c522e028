#!/bin/bash
# The vfat driver against mkfs.vfat + mcopy: FAT12, FAT16 and FAT32 with long
# names, 8.3 case bits, a root directory with deleted entries, multi-cluster
# directories and a fragmented file; then hostile images.
. "$(dirname "$0")/../functions.sh"
requires mkfs.vfat mcopy mdel mdeltree mdir python3 blkid
: "${WALK:?}" "${TESTDIR:?}"
export LC_ALL=C.UTF-8 MTOOLS_SKIP_CHECK=1 TZ=UTC  # FAT times are local time

python3 "$TESTDIR/mktree.py" tree vfat list.want
cut -d' ' -f1,3- list.want | LC_ALL=C sort > want
mkdir fill
for i in $(seq 1 40); do head -c 5000 /dev/zero > "fill/f$i"; done

walk () { "$WALK" vfat "$@"; }
check_tree () {
  walk "$1" tree > got.raw || fail "$1: walk failed"
  cut -d' ' -f1,3- got.raw | LC_ALL=C sort > got
  diff -u want got >&2 || fail "$1: listing differs from the source tree"
  # Modes as Linux shows them with the default umask.
  if grep -v '^[df] 0755 ' got.raw | grep -q .; then fail "$1: unexpected modes"; fi
}

for fat in 12 16 32; do
  img=fat$fat.img
  case $fat in
    12) mkfs.vfat -F 12 -n FAT12VOL -i 0badf00d -C "$img" 16384 >/dev/null ;;
    16) mkfs.vfat -F 16 -n "Fat 16" -i 12345678 -C "$img" 65536 >/dev/null ;;
    32) mkfs.vfat -F 32 -s 1 -n FAT32VOL -i cafe0001 -C "$img" 65536 >/dev/null ;;
  esac
  # Fragment free space so big.bin is scattered, leave deleted entries.
  mmd -i "$img" ::/fill
  mcopy -i "$img" fill/* ::/fill/
  mdel -i "$img" $(for i in $(seq 1 2 40); do echo "::/fill/f$i"; done)
  # FAT32: point the FSInfo next-free hint back at the start (mtools follows it).
  [ $fat != 32 ] || printf '\x02\x00\x00\x00' | dd of="$img" bs=1 seek=$((512 + 492)) conv=notrunc status=none
  mcopy -s -i "$img" tree/* ::/
  mdeltree -i "$img" ::/fill
  [ "$(python3 "$TESTDIR/fatimg.py" "$img" fragments 'BIG     BIN')" -gt 3 ] \
    || fail "$img: big.bin is not fragmented"

  expect_eq "$(walk "$img" probe)" 1 "$img probe"
  expect_eq "$("$WALK" xfs "$img" probe)" 0 "xfs probe of $img"
  check_tree "$img"

  walk "$img" info > info
  blkid -p -o export "$img" > blkid
  expect_grep '^type=vfat$' info
  expect_grep "^version=FAT$fat\$" info
  expect_grep "^VERSION=FAT$fat\$" blkid
  expect_eq "$(sed -n 's/^uuid=//p' info)" "$(sed -n 's/^UUID=//p' blkid)" "$img uuid"
  expect_eq "$(sed -n 's/^label=//p' info)" "$(blkid -p -s LABEL -o value "$img")" "$img label"

  walk "$img" statfs > sf
  bs=$(sed -n 's/^block_size=//p' sf)
  free=$(( $(sed -n 's/^bfree=//p' sf) * bs ))
  mfree=$(mdir -i "$img" :: | sed -n 's/ bytes free//p' | tr -d ' ')
  expect_eq "$free" "$mfree" "$img free bytes"

  # Lookups are case-insensitive and find the 8.3 alias of a long name.
  expect_eq "$(walk "$img" cat SUB/Dir/NESTED/deep/FILE.TXT | md5sum)" \
            "$(md5sum < tree/sub/dir/nested/deep/file.txt)" "$img case-insensitive cat"
  alias=$(mdir -i "$img" -a ::/many | awk '/entry-with-a-longish-name-007.dat/ {print $1 "." $2}')
  [ -n "$alias" ] || fail "no 8.3 alias from mdir"
  expect_eq "$(walk "$img" stat "many/$alias" | sed -n 's/^size=//p')" \
            "$(stat -c %s tree/many/entry-with-a-longish-name-007.dat)" "$img 8.3 alias"
  walk "$img" stat lower.txt > st
  expect_grep '^type=f$' st
  # mcopy stamps the current time (2-second resolution).
  t=$(sed -n 's/^mtime=//p' st); now=$(date +%s)
  [ $(( t > now ? t - now : now - t )) -lt 3600 ] || fail "$img: mtime $t is not now ($now)"
done

# 4096-byte sectors; no label (blkid and the driver both report none).
mkfs.vfat -F 16 -S 4096 -C s4k.img 65536 >/dev/null
mcopy -s -i s4k.img tree/* ::/
check_tree s4k.img
walk s4k.img info > info
expect_grep '^block_size=4096$' info
expect_grep '^label=$' info
expect_eq "$(sed -n 's/^uuid=//p' info)" "$(blkid -p -s UUID -o value s4k.img)" "s4k.img uuid"

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

cp fat16.img h1.img; patch h1.img 11 '\x00\x03'          # 768-byte sectors
expect_eq "$(walk h1.img probe)" 0 "probe of a bad BPB"
hostile h1.img 'not a FAT' tree
cp fat32.img h2.img; patch h2.img 32 '\x00\x00\x00\x7f'  # total sectors
hostile h2.img 'larger than the device' tree
cp fat16.img h3.img; patch h3.img 22 '\x01\x00'          # FAT of 1 sector
hostile h3.img 'too small' tree
for fat in 12 16 32; do
  cp fat$fat.img h4.img; python3 "$TESTDIR/fatimg.py" h4.img loop-file 'BIG     BIN'
  hostile h4.img 'loops' cat big.bin
  cp fat$fat.img h5.img; python3 "$TESTDIR/fatimg.py" h5.img loop-dir 'MANY       '
  hostile h5.img 'loop' tree
  cp fat$fat.img h6.img; python3 "$TESTDIR/fatimg.py" h6.img free-in-chain 'BIG     BIN'
  hostile h6.img 'free cluster' cat big.bin
  cp fat$fat.img h7.img; python3 "$TESTDIR/fatimg.py" h7.img first-cluster 'BIG     BIN' \
    $([ $fat = 32 ] && echo 200000000 || echo 65534)
  hostile h7.img 'out of range' cat big.bin
done
cp fat32.img h8.img; python3 "$TESTDIR/fatimg.py" h8.img root-cluster 99999999
hostile h8.img 'root cluster' tree
# A long name whose checksum does not match its 8.3 entry is ignored (the
# 8.3 name is used), as Linux does.
cp fat16.img h9.img; python3 "$TESTDIR/fatimg.py" h9.img lfn-checksum 'BLOCK-~1   '
walk h9.img tree > got.raw || fail "h9.img: walk failed"
grep -q '^f 0755 BLOCK-~1 4097 ' got.raw || { grep -i block got.raw; fail "h9.img: 8.3 fallback"; }
echo OK
