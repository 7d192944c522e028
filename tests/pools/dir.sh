#!/bin/bash
# dir pools end to end: define, build, start, volumes (create, list, info,
# resize, clone, upload, download, wipe, delete), destroy, delete, undefine;
# virsh's messages and tables; vol:POOL/VOL specs in image commands.
. "$(dirname "$0")/../functions.sh"
export VDK_STATE_DIR=$TMP/state
P=$TMP/images

# Define / build / start, with virsh's messages.
$VDK pool-define-as images dir --target "$P" > out
expect_eq "$(cat out)" "Pool images defined"
[ ! -e "$P" ] || fail "pool-define-as must not create the target"
expect_eq "$($VDK pool-build images)" "Pool images built"
[ -d "$P" ] || fail "pool-build did not create $P"
expect_eq "$(stat -c %a "$P")" "711" "default target mode"
expect_eq "$($VDK pool-start images)" "Pool images started"

# pool-list: virsh's table layout (" Name" cells, 3-space gaps, dashes =
# sum of column widths + 3 each).
$VDK pool-list > out
printf '%s\n' \
  " Name     State    Autostart" \
  "------------------------------" \
  " images   active   no" > want
diff -u want out || fail "pool-list table"

# Volumes.
expect_eq "$($VDK vol-create-as images a.raw 10M)" "Vol a.raw created"
expect_eq "$($VDK vol-create-as images b.img 1G --allocation 1M --format raw)" "Vol b.img created"
expect_eq "$(stat -c %s "$P/a.raw")" 10485760 "a.raw size"
expect_eq "$(stat -c %a "$P/a.raw")" 600 "volume mode (libvirt's default)"
[ "$(stat -c %b "$P/b.img")" -ge 2048 ] || fail "--allocation 1M did not allocate"
$VDK vol-list images > out
printf '%s\n' \
  " Name    Path" \
  "----------------------------------" \
  " a.raw   $P/a.raw" \
  " b.img   $P/b.img" > want
# The path column is as wide as the path: rebuild the expected dashes.
w=$(( 5 + 3 + ${#P} + 6 + 3 ))
sed -i "2s/.*/$(printf '%*s' $w '' | tr ' ' -)/" want
diff -u want out || fail "vol-list table"
$VDK vol-list images --details > out
expect_grep "^ Name    Path  *Type   Capacity    Allocation$" out
expect_grep "^ a.raw   $P/a.raw   file   10.00 MiB   " out
expect_grep "^ b.img   $P/b.img   file   1.00 GiB    1.00 MiB$" out

$VDK vol-info a.raw --pool images > out
printf '%s\n' "Name:           a.raw" "Type:           file" \
  "Capacity:       10.00 MiB" > want
head -3 out | diff -u want - || fail "vol-info"
expect_eq "$($VDK vol-info --bytes vol:images/a.raw | sed -n 3p)" "Capacity:       10485760 bytes"
expect_eq "$($VDK vol-path a.raw --pool images)" "$P/a.raw"
expect_eq "$($VDK vol-key a.raw --pool images)" "$P/a.raw"
expect_eq "$($VDK vol-name "$P/a.raw")" "a.raw"
expect_eq "$($VDK vol-pool "$P/a.raw")" "images"
expect_eq "$($VDK vol-path "$P/a.raw")" "$P/a.raw"   # by path, without --pool

# Upload at an offset, download sparse, compare.
rand_file data 2
expect_rc 0 $VDK vol-upload a.raw data --pool images --offset 1M
cmp -n 2097152 -i 0:1048576 data "$P/a.raw" || fail "vol-upload data"
cmp -n 1048576 /dev/zero "$P/a.raw" || fail "vol-upload wrote before its offset"
expect_rc 0 $VDK vol-download vol:images/a.raw dl --sparse
cmp dl "$P/a.raw" || fail "vol-download contents"
[ "$(du -k dl | cut -f1)" -le 2100 ] || fail "vol-download --sparse did not leave holes"
expect_rc 0 $VDK vol-download a.raw part --pool images --offset 1M --length 1M
cmp -n 1048576 data part || fail "vol-download --offset --length"
expect_eq "$(stat -c %s part)" 1048576 "download length"
expect_fail $VDK vol-upload a.raw data --pool images --offset 9M
expect_grep "larger than the space" "$TMP/err"
expect_fail $VDK vol-download a.raw x --pool images --offset 11M
expect_grep "beyond its end" "$TMP/err"
# --sparse upload: zero blocks become holes.
head -c 4M /dev/zero > zeros
expect_rc 0 $VDK vol-upload b.img zeros --pool images --sparse
[ "$(stat -c %b "$P/b.img")" -lt 2048 ] || fail "vol-upload --sparse did not punch holes"

# Clone and create-from (the copy is the same data).
expect_eq "$($VDK vol-clone a.raw c.raw --pool images)" "Vol c.raw cloned from a.raw"
cmp "$P/a.raw" "$P/c.raw" || fail "vol-clone contents"
cat > vol.xml <<XML
<volume>
  <name>d.raw</name>
  <capacity unit='MiB'>16</capacity>
  <target><format type='raw'/></target>
</volume>
XML
expect_eq "$($VDK vol-create-from images vol.xml a.raw --inputpool images)" \
  "Vol d.raw created from input vol a.raw"
expect_eq "$(stat -c %s "$P/d.raw")" 16777216 "create-from capacity"
cmp -n 10485760 "$P/a.raw" "$P/d.raw" || fail "vol-create-from contents"
expect_eq "$($VDK vol-create images vol.xml 2>&1 || true)" "vdk: storage vol 'd.raw' already exists"

# Resize: grow, refuse shrink without --shrink, delta shrink.
expect_eq "$($VDK vol-resize c.raw 20M --pool images)" \
  "Size of volume 'c.raw' successfully changed to 20M"
expect_eq "$(stat -c %s "$P/c.raw")" 20971520
expect_fail $VDK vol-resize c.raw 5M --pool images
expect_grep "Can't shrink capacity below current capacity unless shrink flag explicitly specified" "$TMP/err"
expect_fail $VDK vol-resize c.raw -5M --pool images --delta
expect_grep "negative size requires --shrink" "$TMP/err"
expect_eq "$($VDK vol-resize c.raw -4M --pool images --delta --shrink)" \
  "Size of volume 'c.raw' successfully changed by -4M"
expect_eq "$(stat -c %s "$P/c.raw")" 16777216
cmp -n 3145728 "$P/a.raw" "$P/c.raw" || fail "resize lost data"

# --allocate allocates the new space; --allocation = capacity preallocates.
expect_rc 0 $VDK vol-create-as images full.raw 4M --allocation 4M
[ "$(stat -c %b "$P/full.raw")" -ge 8192 ] || fail "--allocation equal to capacity"
expect_rc 0 $VDK vol-resize full.raw 8M --pool images --allocate
[ "$(stat -c %b "$P/full.raw")" -ge 16384 ] || fail "vol-resize --allocate"
expect_rc 0 $VDK vol-delete full.raw --pool images

# Wipe: reads as zeroes, keeps its size.
expect_eq "$($VDK vol-wipe c.raw --pool images)" "Vol c.raw wiped"
cmp "$P/c.raw" <(head -c 16777216 /dev/zero) || fail "vol-wipe left data"
expect_fail $VDK vol-wipe c.raw --pool images --algorithm shred
expect_grep "Unsupported wiping algorithm" "$TMP/err"

# vol:POOL/VOL in the image commands; convert creates a new volume.
$VDK info vol:images/a.raw > out
expect_grep "^image: $P/a.raw$" out
expect_grep "^virtual size: 10 MiB" out
expect_rc 0 $VDK convert -O raw data vol:images/conv.raw
cmp data "$P/conv.raw" || fail "convert into vol:"
expect_rc 0 $VDK compare vol:images/conv.raw data
expect_rc 0 $VDK create -f raw vol:images/made.raw 1M
expect_eq "$(stat -c %s "$P/made.raw")" 1048576 "vdk create vol:"
expect_rc 0 $VDK resize vol:images/made.raw 2M
expect_eq "$(stat -c %s "$P/made.raw")" 2097152 "vdk resize vol:"
$VDK map --output=json vol:images/made.raw > out
expect_eq "$(json_get out 'sum(e["length"] for e in j)')" 2097152 "vdk map vol:"
expect_eq "$($VDK vol-list images | grep -c made.raw)" 1 "created volume is listed"
expect_rc 0 $VDK vol-delete made.raw --pool images
expect_fail $VDK info vol:images/nope.raw
expect_grep "vol:images/nope.raw: Storage volume not found" "$TMP/err"
expect_fail $VDK info vol:nopool/x
expect_grep "no storage pool with matching name 'nopool'" "$TMP/err"
expect_fail $VDK convert -O raw data "vol:images/../escape"
expect_grep "invalid volume name" "$TMP/err"
[ ! -e "$TMP/escape" ] || fail "a volume name escaped the pool"

# qcow2 volumes, when the format exists in this build.
if $VDK --help | grep -q '^Formats:.* qcow2'; then
  expect_eq "$($VDK vol-create-as images q.qcow2 64M --format qcow2)" "Vol q.qcow2 created"
  expect_rc 0 $VDK vol-upload q.qcow2 data --pool images
  expect_rc 0 $VDK vol-download q.qcow2 qdl --pool images --length 2M
  cmp data qdl || fail "qcow2 upload/download"
  $VDK vol-info q.qcow2 --pool images | grep -q "Capacity:       64.00 MiB" || fail "qcow2 capacity"
  expect_rc 0 $VDK vol-create-as images q2.qcow2 64M --format qcow2 --backing-vol q.qcow2 \
    --backing-vol-format qcow2
  $VDK vol-dumpxml q2.qcow2 --pool images > out
  expect_grep "<path>$P/q.qcow2</path>" out
  if command -v qemu-img >/dev/null; then
    qemu-img check "$P/q.qcow2" >/dev/null || fail "qemu-img check"
  fi
fi

# Refusals: in-use volume, bad names, format.
expect_fail $VDK vol-create-as images "a/b" 1M
expect_grep "invalid volume name 'a/b'" "$TMP/err"
expect_fail $VDK vol-create-as images ".." 1M
expect_fail $VDK vol-create-as images "$(printf 'x\ty')" 1M
expect_fail $VDK vol-create-as images z 1M --format nosuch
expect_grep "unknown volume format type 'nosuch'" "$TMP/err"
expect_fail $VDK vol-create-as images z 1M --prealloc-metadata
expect_grep "metadata preallocation is not supported for raw" "$TMP/err"
if command -v python3 >/dev/null; then
  # A process holding the volume open for writing (qemu's OFD locks).
  python3 - "$P/a.raw" <<'PY' &
import fcntl, os, struct, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
for b in (100, 101, 103, 201, 203):   # perms read/write/resize + unshared write/resize
    fcntl.fcntl(fd, 37, struct.pack('hhqqi', fcntl.F_RDLCK, 0, b, 1, 0))  # F_OFD_SETLK
open(sys.argv[1] + '.locked', 'w').close()
time.sleep(30)
PY
  holder=$!
  cleanup_fn "kill $holder 2>/dev/null"
  for i in $(seq 50); do [ -e "$P/a.raw.locked" ] && break; sleep 0.1; done
  rm -f "$P/a.raw.locked"
  expect_fail $VDK vol-delete a.raw --pool images
  expect_grep "volume 'a.raw' is in use" "$TMP/err"
  expect_fail $VDK vol-wipe a.raw --pool images
  expect_grep "volume 'a.raw' is in use" "$TMP/err"
  [ -e "$P/a.raw" ] || fail "in-use volume was deleted"
  kill $holder; wait $holder 2>/dev/null || true
fi

# pool-delete refuses an active pool, then a non-empty one.
expect_fail $VDK pool-delete images
expect_grep "storage pool 'images' is still active" "$TMP/err"
expect_eq "$($VDK pool-destroy images)" "Pool images destroyed"
[ -e "$P/a.raw" ] || fail "pool-destroy deleted data"
expect_fail $VDK vol-list images
expect_grep "storage pool 'images' is not active" "$TMP/err"
expect_fail $VDK pool-delete images
expect_grep "directory '$P' is not empty" "$TMP/err"
expect_rc 0 $VDK pool-start images
for v in $($VDK vol-list images | tail -n +3 | awk '{print $1}'); do
  expect_eq "$($VDK vol-delete "$v" --pool images)" "Vol $v deleted"
done
expect_eq "$($VDK vol-list images | wc -l)" 2 "empty vol-list"
expect_rc 0 $VDK pool-destroy images
expect_eq "$($VDK pool-delete images)" "Pool images deleted"
[ ! -e "$P" ] || fail "pool-delete left the directory"
expect_eq "$($VDK pool-undefine images)" "Pool images has been undefined"
expect_eq "$($VDK pool-list --all | wc -l)" 2 "no pools left"
echo OK
