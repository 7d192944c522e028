#!/bin/bash
# ext2/3/4 feature variants, each a whole-disk filesystem (no partition
# table): the listing must match find(1) on the source tree and files must
# read back byte for byte.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/mkguest.sh"
requires mkfs.ext4 e2fsck debugfs python3

mkdir -p src/dir/sub src/many src/inl
printf 'small\n' > src/inl/tiny.txt                    # fits inline
head -c 100 /dev/urandom > src/inl/hundred.bin           # inline with system.data
head -c $((2 * MiB + 777)) /dev/urandom > src/dir/big.bin
head -c 5000 /dev/urandom > src/dir/sub/odd.bin
: > src/empty
for i in $(seq 1 400); do : > "src/many/entry-number-$i-with-a-long-name"; done
ln -s dir/sub/odd.bin src/rel-link
ln -s "/dir/$(printf 'y%.0s' $(seq 1 100))" src/slow-link
mkdir "src/dir/$(printf 'y%.0s' $(seq 1 100))"
ln -s ../big.bin src/dir/sub/up-link
echo 'sparse' | dd of=src/sparse.bin bs=1 seek=$((3 * MiB)) conv=notrunc status=none 2>/dev/null || \
  { truncate -s $((3 * MiB)) src/sparse.bin; echo sparse >> src/sparse.bin; }

( cd src && find . -mindepth 1 | sed 's|^\.||'; echo /lost+found ) | LC_ALL=C sort > want-ls

check () {   # $1 = name, $2 = expected type, rest = mkfs args
  local name=$1 type=$2; shift 2
  rm -f "$name.img"
  mkfs.ext4 -q -F -U 22222222-3333-4444-5555-666666666666 -L "$name" -d src "$@" "$name.img" 24M >/dev/null 2>&1 \
    || { echo "mkfs $name failed, skipped"; return 0; }
  e2fsck -fn "$name.img" >/dev/null 2>&1 || fail "$name: e2fsck does not like the fixture"
  $VDK filesystems -a "$name.img" --output=json > "$name.json"
  expect_eq "$(json_get "$name.json" 'j[0]["vfs-type"]')" "$type" "$name type"
  expect_eq "$(json_get "$name.json" 'j[0]["vfs-label"]')" "$name" "$name label"
  expect_eq "$(json_get "$name.json" 'j[0]["name"]')" "/dev/sda" "$name device"
  $VDK ls -R -a "$name.img" / | LC_ALL=C sort > "$name.ls"
  diff -u want-ls "$name.ls" || fail "$name: ls -R differs from find"
  for f in inl/tiny.txt inl/hundred.bin dir/big.bin dir/sub/odd.bin empty sparse.bin rel-link dir/sub/up-link; do
    $VDK cat -a "$name.img" "/$f" | cmp - "src/$f" || fail "$name: /$f differs"
  done
  $VDK ls -l -a "$name.img" / > "$name.ll"
  expect_grep " slow-link -> /dir/yyyyyyyyyy" "$name.ll"
  $VDK ls -a "$name.img" /slow-link > /dev/null || fail "$name: slow symlink to a directory"
  $VDK ls -l -a "$name.img" /many > "$name.many"
  expect_eq "$(wc -l < "$name.many")" 400 "$name: entries of /many"
  $VDK df --output=json -a "$name.img" > "$name.df"
  expect_eq "$(json_get "$name.df" 'j[0]["blocks-free"]')" \
    "$(dumpe2fs -h "$name.img" 2>/dev/null | awk -F: '/^Free blocks/ {print $2+0}')" "$name: free blocks"
}

check ext4 ext4
check ext4-64csum ext4 -O 64bit,metadata_csum
check ext4-1k ext4 -b 1024 -O ^64bit
check ext4-inline ext4 -O inline_data,metadata_csum
check ext4-metabg ext4 -O meta_bg,^resize_inode
check ext3 ext3 -t ext3
check ext2 ext2 -t ext2 -b 2048
check ext4-noext ext4 -O ^extents,^64bit -b 4096 -t ext4
check ext4-bigalloc ext4 -O bigalloc -C 16384 -b 1024
check bigalloc-mbg ext4 -O bigalloc,meta_bg,^resize_inode -C 8192
# htree: e2fsck -D indexes the large directory; still reads linearly
cp ext4-1k.img htree.img
e2fsck -fyD htree.img >/dev/null 2>&1 || true
debugfs -R 'htree /many' htree.img 2>/dev/null | grep -q 'Root node dump' || fail "fixture: /many is not an htree"
$VDK ls -a htree.img /many | wc -l > n; expect_eq "$(cat n)" 400 "htree entries"
$VDK cat -a htree.img /many/entry-number-399-with-a-long-name > /dev/null || fail "htree lookup"
# extended attributes: in the inode and in an xattr block
head -c 600 /dev/urandom | base64 -w0 > big.txt
cp ext4.img xattr.img
debugfs -w -f - xattr.img >/dev/null 2>&1 <<EOF2
ea_set /empty user.color blue
ea_set /empty security.selinux system_u:object_r:etc_t:s0
ea_set -f big.txt /empty user.big
EOF2
debugfs -R 'stat /empty' xattr.img 2>/dev/null | grep -q 'File ACL: [1-9]' || fail "fixture: no xattr block"
$VDK ls -x -a xattr.img /empty > x.out
expect_grep '^    user.color="blue"$' x.out
expect_grep '^    security.selinux="system_u:object_r:etc_t:s0"$' x.out
expect_eq "$(sed -n 's/^    user.big="\(.*\)"$/\1/p' x.out)" "$(cat big.txt)" "xattr in a block"

# inline data really used for the small files
debugfs -R 'stat /inl/tiny.txt' ext4-inline.img 2>/dev/null | grep -q 'Size of inline data' || fail "fixture: no inline data"
exit 0
