#!/bin/bash
# netfs pools on a real nfs-ganesha: build/start/info/delete on the server,
# volumes in every format (qemu-img checks and compares them through nfs://
# URLs), vol: specs, upload/download, resize, wipe, clones to and from a dir
# pool, backing chains, and the refusals (non-empty delete, NFSv4, dead or
# unreachable servers fail quickly with a clear message).
# As root, the test runs in its own network namespace (private-netns.sh).
. "$(dirname "$0")/private-netns.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../functions.sh"
. "$HERE/lib.sh"
requires_protocol nfs
requires python3 qemu-img
"$VDK" pool-capabilities | grep -q "<pool type='netfs' supported='yes'>" ||
  skip "vdk was built without netfs pools"
export VDK_STATE_DIR=$TMP/state
start_service nfs "$TMP/nfs-state" "$TMP/export"
. "$TMP/nfs-state/env"
EXP=$NFS_DIR
H=127.0.0.1
# qemu-img's nfs driver knows no ports: it goes through the portmapper
QURL=nfs://$H/export

# ---- find-storage-pool-sources netfs: the export list ----------------------------
SOURCES=${BUILDDIR:-}/tests/net/netfs-sources
if [ -x "$SOURCES" ]; then
  printf '%s\n' "<sources>" "  <source>" "    <host name='$H'/>" "    <dir path='/export'/>" \
    "    <format type='nfs'/>" "  </source>" "</sources>" > want
  "$SOURCES" $H "$MNT_PORT" > out || fail "find_sources with the MOUNT port"
  diff -u want out || fail "find_sources output"
  "$SOURCES" "" "" "<source><host name='$H'/></source>" > out || fail "find_sources (portmapper, spec)"
  diff -u want out || fail "find_sources output through the portmapper"
  p=$(closed_port)
  expect_fast_fail 5 "$SOURCES" $H "$p"
  expect_grep "cannot list the exports of $H: connection refused" "$TMP/err"
  expect_fail "$SOURCES" "" ""
  expect_grep "needs the server's host name" "$TMP/err"
fi

# ---- a pool given by XML, with the server's ports (no portmapper needed) ----
cat > np.xml <<XML
<pool type='netfs' xmlns:fs='http://libvirt.org/schemas/storagepool/fs/1.0'>
  <name>np</name>
  <source>
    <host name='$H' port='$NFS_PORT'/>
    <dir path='/export/pools/np'/>
    <format type='nfs'/>
    <protocol ver='3'/>
  </source>
  <target><path>$TMP/mnt-np</path></target>
  <fs:mount_opts>
    <fs:option name='mountport=$MNT_PORT'/>
  </fs:mount_opts>
</pool>
XML
expect_eq "$("$VDK" pool-define np.xml)" "Pool np defined from np.xml"
"$VDK" pool-dumpxml np > out
expect_grep "^<pool type='netfs' xmlns:fs='http://libvirt.org/schemas/storagepool/fs/1.0'>$" out
expect_grep "<host name='$H' port='$NFS_PORT'/>" out
expect_grep "<dir path='/export/pools/np'/>" out
expect_grep "<fs:option name='mountport=$MNT_PORT'/>" out
# the directory is not there yet
expect_fail "$VDK" pool-start np
expect_grep "cannot start pool 'np': directory '/export/pools/np' does not exist on $H (run pool-build)" "$TMP/err"
expect_eq "$("$VDK" pool-build np)" "Pool np built"
[ -d "$EXP/pools/np" ] || fail "pool-build did not create the directory on the server"
expect_eq "$(stat -c %a "$EXP/pools/np")" 711 "directory mode"
expect_eq "$("$VDK" pool-build np)" "Pool np built"   # again: nothing to do
expect_eq "$("$VDK" pool-start np)" "Pool np started"
[ ! -e "$TMP/mnt-np" ] || fail "a netfs pool must not make or use a mount point"
"$VDK" pool-list --details > out
expect_grep "^ np     running   no          yes " out

# pool-info: FSSTAT, the export's filesystem as statvfs sees it on the server
"$VDK" pool-info np --output=json > info.json
read -r cap avail <<<"$(python3 -c 'import os,sys; s=os.statvfs(sys.argv[1]); print(s.f_blocks*s.f_frsize//4096*4096, s.f_bavail*s.f_frsize)' "$EXP")"
expect_eq "$(json_get info.json "j['capacity']")" "$cap" "pool capacity (FSSTAT)"
python3 - info.json "$avail" <<'PY' || fail "pool available differs from statvfs on the server"
import json, sys
j = json.load(open(sys.argv[1])); want = int(sys.argv[2])
assert abs(j["available"] - want) < 4 << 30, (j["available"], want)   # a busy shared disk
assert 0 < j['allocation'] <= j['capacity']
PY
expect_grep "^Capacity:       " <("$VDK" pool-info np)
expect_eq "$("$VDK" pool-dumpxml np | grep -c "<capacity unit='bytes'>$cap</capacity>")" 1 "pool-dumpxml capacity"

# ---- volumes in every format --------------------------------------------------
U=nfs://$H/export/pools/np
Q="?nfsport=$NFS_PORT&mountport=$MNT_PORT"
D=$EXP/pools/np
expect_eq "$("$VDK" vol-create-as np a.raw 8M --allocation 1M)" "Vol a.raw created"
expect_eq "$("$VDK" vol-create-as np full.raw 2M --allocation 2M)" "Vol full.raw created"
expect_eq "$("$VDK" vol-create-as np q.qcow2 64M --format qcow2 --prealloc-metadata)" "Vol q.qcow2 created"
expect_eq "$("$VDK" vol-create-as np v.vmdk 32M --format vmdk)" "Vol v.vmdk created"
expect_eq "$("$VDK" vol-create-as np x.vhdx 32M --format vhdx)" "Vol x.vhdx created"
cat > vol.xml <<XML
<volume>
  <name>c.qcow2</name>
  <capacity unit='MiB'>16</capacity>
  <target><format type='qcow2'/></target>
</volume>
XML
expect_eq "$("$VDK" vol-create np vol.xml)" "Vol c.qcow2 created from vol.xml"
expect_eq "$(stat -c %s "$D/a.raw")" 8388608 "a.raw size"
expect_eq "$(stat -c %a "$D/a.raw")" 600 "volume mode (libvirt's default)"
[ "$(stat -c %b "$D/a.raw")" -ge 2048 ] || fail "--allocation 1M did not allocate"
[ "$(stat -c %b "$D/a.raw")" -lt 16384 ] || fail "--allocation 1M allocated everything"
[ "$(stat -c %b "$D/full.raw")" -ge 4096 ] || fail "--allocation = capacity did not preallocate"
qemu-img info --output=json "$D/q.qcow2" > qi.json
expect_eq "$(json_get qi.json "j['format']")" qcow2
[ "$(stat -c %s "$D/q.qcow2")" -gt $((64 << 20)) ] || fail "--prealloc-metadata did not preallocate"

# vol-list: virsh's table, paths are nfs:// URLs, capacity = virtual size
"$VDK" vol-list np > out
expect_eq "$(sed -n 1p out)" " Name       Path"
expect_grep "^ a.raw      $U/a.raw$Q$" out
expect_grep "^ q.qcow2    $U/q.qcow2$Q$" out
expect_eq "$(tail -n +3 out | wc -l)" 6 "volumes listed"
"$VDK" vol-list np --details > out
expect_grep "^ Name       Path  *Type      Capacity    Allocation$" out
expect_grep "^ q.qcow2    $U/q.qcow2$Q  *network   64.00 MiB   " out
expect_grep "^ v.vmdk     $U/v.vmdk$Q  *network   32.00 MiB   " out
expect_grep "^ x.vhdx     $U/x.vhdx$Q  *network   32.00 MiB   " out
expect_grep "^ full.raw   $U/full.raw$Q  *network   2.00 MiB    2.00 MiB$" out
"$VDK" vol-list np --output=json > vl.json
# formats probed over NFS; allocation is the space the server reports used
python3 - vl.json "$(($(stat -c %b "$D/a.raw") * 512))" <<'PY' || fail "vol-list --output=json"
import json, sys
j = {v['name']: v for v in json.load(open(sys.argv[1]))}
fmts = {n: v['format'] for n, v in j.items()}
assert fmts == {'a.raw': 'raw', 'c.qcow2': 'qcow2', 'full.raw': 'raw', 'q.qcow2': 'qcow2',
                'v.vmdk': 'vmdk', 'x.vhdx': 'vhdx'}, fmts
assert j['x.vhdx']['capacity'] == 32 << 20, j['x.vhdx']
assert j['a.raw']['allocation'] == int(sys.argv[2]), (j['a.raw'], sys.argv[2])
PY

# vol-path / vol-key are the URL; vol-name / vol-pool / vol-info find it by URL
expect_eq "$("$VDK" vol-path a.raw --pool np)" "$U/a.raw$Q"
expect_eq "$("$VDK" vol-key a.raw --pool np)" "$U/a.raw$Q"
expect_eq "$("$VDK" vol-name "$U/a.raw$Q")" a.raw
expect_eq "$("$VDK" vol-pool "$U/a.raw$Q")" np
"$VDK" vol-info "$U/q.qcow2$Q" > out
printf '%s\n' "Name:           q.qcow2" "Type:           network" "Capacity:       64.00 MiB" > want
head -3 out | diff -u want - || fail "vol-info by URL"
"$VDK" vol-dumpxml q.qcow2 --pool np > out
expect_grep "^<volume type='network'>$" out
expect_grep "<path>$U/q.qcow2?nfsport=$NFS_PORT&amp;mountport=$MNT_PORT</path>" out
expect_grep "<format type='qcow2'/>" out
expect_grep "<mode>0600</mode>" out

# qemu-img reads vdk's volumes through nfs:// URLs
for v in q.qcow2 v.vmdk x.vhdx c.qcow2; do
  qemu-img info --output=json "$QURL/pools/np/$v" > "qi-$v.json" || fail "qemu-img info $v over NFS"
  qemu-img check "$QURL/pools/np/$v" >/dev/null || fail "qemu-img check $v over NFS"
done
python3 - vl.json q.qcow2 v.vmdk x.vhdx c.qcow2 <<'PY' || fail "qemu-img's sizes differ from vdk's"
import json, sys
caps = {v['name']: v['capacity'] for v in json.load(open(sys.argv[1]))}
for n in sys.argv[2:]:
    q = json.load(open('qi-' + n + '.json'))
    assert q['virtual-size'] == caps[n], (n, q['virtual-size'], caps[n])
PY

# ---- data: upload/download, vol: specs, qemu-img compare ------------------------
make_image img.raw 8
rand_file data 3
expect_rc 0 "$VDK" vol-upload a.raw img.raw --pool np
cmp img.raw "$D/a.raw" || fail "vol-upload raw"
expect_rc 0 "$VDK" vol-upload q.qcow2 data --pool np --offset 1M
expect_rc 0 "$VDK" vol-download q.qcow2 dl --pool np --offset 1M --length 3M
cmp data dl || fail "vol-upload/download through qcow2"
expect_rc 0 "$VDK" vol-download "$U/a.raw$Q" dl2 --sparse
cmp img.raw dl2 || fail "vol-download --sparse"
[ "$(du -k dl2 | cut -f1)" -lt 6000 ] || fail "vol-download --sparse left no holes"
expect_fail "$VDK" vol-upload a.raw data --pool np --offset 6M
expect_grep "larger than the space" "$TMP/err"
for v in v.vmdk x.vhdx; do
  expect_rc 0 "$VDK" vol-upload "$v" img.raw --pool np
  qemu-img compare img.raw "$QURL/pools/np/$v" >/dev/null || fail "qemu-img reads vdk's $v differently"
  qemu-img check "$QURL/pools/np/$v" >/dev/null || fail "qemu-img check $v after writes"
done
qemu-img check "$QURL/pools/np/q.qcow2" >/dev/null || fail "qemu-img check q.qcow2 after writes"
dd if=data of=want.raw bs=1M seek=1 status=none && truncate -s 64M want.raw
qemu-img compare want.raw "$QURL/pools/np/q.qcow2" >/dev/null || fail "qemu-img compare q.qcow2"
"$VDK" compare want.raw vol:np/q.qcow2 >/dev/null || fail "vdk compare vol:np/q.qcow2"
"$VDK" info vol:np/q.qcow2 > out
expect_grep "^image: $U/q.qcow2$Q$" out
expect_grep "^file format: qcow2$" out
expect_rc 0 "$VDK" check vol:np/q.qcow2
# an image command creates a volume through vol:
expect_rc 0 "$VDK" convert -O qcow2 img.raw vol:np/conv.qcow2
qemu-img compare img.raw "$QURL/pools/np/conv.qcow2" >/dev/null || fail "convert into vol:np/conv.qcow2"
expect_eq "$("$VDK" vol-list np | grep -c "conv.qcow2")" 1 "vol: created volume listed"

# ---- backing chains -------------------------------------------------------------
expect_rc 0 "$VDK" vol-create-as np top.qcow2 64M --format qcow2 --backing-vol q.qcow2 \
  --backing-vol-format qcow2
"$VDK" vol-dumpxml top.qcow2 --pool np > out
expect_grep "<backingStore>" out
expect_grep "<path>$U/q.qcow2?nfsport=$NFS_PORT&amp;mountport=$MNT_PORT</path>" out
"$VDK" compare want.raw vol:np/top.qcow2 >/dev/null || fail "read through the backing volume"
# a relative backing name is resolved on the same server, with the pool's
# ports (files are made through NFS: ganesha caches directory listings)
expect_rc 0 "$VDK" create -f qcow2 -b q.qcow2 -F qcow2 vol:np/rel.qcow2
qemu-img info "$D/rel.qcow2" > out
expect_grep "^backing file: q.qcow2 " out
"$VDK" info vol:np/rel.qcow2 > out
expect_grep "^backing file: q.qcow2 (actual path: $U/q.qcow2$Q)$" out
"$VDK" compare want.raw vol:np/rel.qcow2 >/dev/null || fail "relative backing over NFS"

# ---- clones: within the pool, from and to a dir pool ------------------------------
expect_eq "$("$VDK" vol-clone q.qcow2 q2.qcow2 --pool np)" "Vol q2.qcow2 cloned from q.qcow2"
qemu-img compare "$QURL/pools/np/q.qcow2" "$QURL/pools/np/q2.qcow2" >/dev/null || fail "vol-clone"
"$VDK" pool-define-as loc dir --target "$TMP/loc" >/dev/null
"$VDK" pool-build loc >/dev/null && "$VDK" pool-start loc >/dev/null
expect_rc 0 "$VDK" vol-create-as loc l.qcow2 16M --format qcow2
expect_rc 0 "$VDK" vol-upload l.qcow2 data --pool loc
cat > from.xml <<XML
<volume>
  <name>fromdir.raw</name>
  <capacity unit='MiB'>16</capacity>
  <target><format type='raw'/></target>
</volume>
XML
expect_eq "$("$VDK" vol-create-from np from.xml l.qcow2 --inputpool loc)" \
  "Vol fromdir.raw created from input vol l.qcow2"
qemu-img compare -f qcow2 -F raw "$TMP/loc/l.qcow2" "$QURL/pools/np/fromdir.raw" >/dev/null ||
  fail "vol-create-from dir -> netfs"
cat > to.xml <<XML
<volume>
  <name>back.qcow2</name>
  <capacity unit='MiB'>64</capacity>
  <target><format type='qcow2'/></target>
</volume>
XML
expect_eq "$("$VDK" vol-create-from loc to.xml top.qcow2 --inputpool np)" \
  "Vol back.qcow2 created from input vol top.qcow2"
qemu-img compare want.raw "$TMP/loc/back.qcow2" >/dev/null || fail "vol-create-from netfs -> dir"
[ -z "$(qemu-img info "$TMP/loc/back.qcow2" | grep 'backing file')" ] || fail "the copy is not flat"

# ---- resize, wipe ---------------------------------------------------------------
expect_eq "$("$VDK" vol-resize a.raw 12M --pool np)" "Size of volume 'a.raw' successfully changed to 12M"
expect_eq "$(stat -c %s "$D/a.raw")" $((12 << 20)) "resized raw"
expect_fail "$VDK" vol-resize a.raw 4M --pool np
expect_grep "Can't shrink capacity below current capacity" "$TMP/err"
expect_rc 0 "$VDK" vol-resize a.raw 10M --pool np --shrink
expect_eq "$(stat -c %s "$D/a.raw")" $((10 << 20)) "shrunk raw"
expect_rc 0 "$VDK" vol-resize c.qcow2 32M --pool np
expect_eq "$(qemu-img info --output=json "$QURL/pools/np/c.qcow2" | json_get /dev/stdin "j['virtual-size']")" \
  $((32 << 20)) "resized qcow2 (qemu-img)"
expect_rc 0 "$VDK" vol-resize full.raw 4M --pool np --allocate
[ "$(stat -c %b "$D/full.raw")" -ge 8192 ] || fail "vol-resize --allocate"
expect_eq "$("$VDK" vol-wipe a.raw --pool np)" "Vol a.raw wiped"
cmp "$D/a.raw" <(head -c $((10 << 20)) /dev/zero) || fail "vol-wipe raw left data"
expect_eq "$("$VDK" vol-wipe q2.qcow2 --pool np)" "Vol q2.qcow2 wiped"
truncate -s 64M zero.raw
qemu-img compare zero.raw "$QURL/pools/np/q2.qcow2" >/dev/null || fail "vol-wipe qcow2 left data"
qemu-img check "$QURL/pools/np/q2.qcow2" >/dev/null || fail "qemu-img check after wipe"

# ---- names that cannot be in a URL ------------------------------------------------
expect_fail "$VDK" vol-create-as np 'a?b' 1M
expect_grep "cannot be written in an nfs:// URL" "$TMP/err"
expect_rc 0 "$VDK" create -f raw "$U/odd name.raw$Q" 1M
expect_eq "$("$VDK" vol-list np | grep -c 'odd name.raw')" 1 "odd names are listed"
expect_fail "$VDK" info "vol:np/odd name.raw"
expect_grep "its name cannot be written in an nfs:// URL" "$TMP/err"
expect_eq "$("$VDK" vol-delete 'odd name.raw' --pool np)" "Vol odd name.raw deleted"
[ ! -e "$D/odd name.raw" ] || fail "vol-delete of an odd name"

# ---- a pool through the portmapper, from pool-define-as ----------------------------
"$VDK" pool-define-as pm netfs --source-host $H --source-path /export/pm --target "$TMP/mnt-pm" \
  --print-xml > out
printf '%s\n' "<pool type='netfs'>" "  <name>pm</name>" "  <source>" "    <host name='$H'/>" \
  "    <dir path='/export/pm'/>" "  </source>" "  <target>" "    <path>$TMP/mnt-pm</path>" \
  "  </target>" "</pool>" > want
diff -u want out || fail "pool-define-as --print-xml"
expect_eq "$("$VDK" pool-define-as pm netfs $H /export/pm "" "" "$TMP/mnt-pm")" "Pool pm defined"
expect_rc 0 "$VDK" pool-start pm --build
[ -d "$EXP/pm" ] || fail "pool-start --build"
expect_rc 0 "$VDK" vol-create-as pm base.qcow2 16M --format qcow2
expect_rc 0 "$VDK" vol-upload base.qcow2 data --pool pm
expect_rc 0 "$VDK" vol-create-as pm over.qcow2 16M --format qcow2 --backing-vol base.qcow2
expect_eq "$("$VDK" vol-path over.qcow2 --pool pm)" "$QURL/pm/over.qcow2"
# an absolute nfs:// backing file, which qemu-img follows too
qemu-img info --backing-chain "$QURL/pm/over.qcow2" > out
expect_grep "^backing file: $QURL/pm/base.qcow2$" out
dd if=data of=want16.raw status=none && truncate -s 16M want16.raw
qemu-img compare want16.raw "$QURL/pm/over.qcow2" >/dev/null || fail "qemu-img through the backing chain"
"$VDK" compare want16.raw vol:pm/over.qcow2 >/dev/null || fail "vdk through the backing chain"

# ---- refusals -------------------------------------------------------------------
# pool-delete: active, then not empty
expect_fail "$VDK" pool-delete pm
expect_grep "storage pool 'pm' is still active" "$TMP/err"
expect_rc 0 "$VDK" pool-destroy pm
[ -e "$EXP/pm/base.qcow2" ] || fail "pool-destroy deleted data"
expect_fail "$VDK" pool-delete pm
expect_grep "cannot delete pool 'pm': directory '/export/pm' on $H is not empty" "$TMP/err"
# NFSv4
expect_fail "$VDK" pool-define-as v4 netfs $H /export/v4 --target /mnt/v4 --source-protocol-ver 4
expect_grep "NFSv4 (protocol version 4) is not supported" "$TMP/err"
sed 's/np</v4</; s/mnt-np/mnt-v4/; s/mountport=[0-9]*/nfsvers=4.1/' np.xml > v4.xml
expect_fail "$VDK" pool-define v4.xml
expect_grep "NFSv4 (protocol version 4.1) is not supported" "$TMP/err"
sed 's/np</o</; s/mnt-np/mnt-o/; s/mountport=[0-9]*/hard/' np.xml > o.xml
expect_fail "$VDK" pool-define o.xml
expect_grep "mount option 'hard' is not supported" "$TMP/err"
sed 's/type=.netfs./type='"'dir'"'/' np.xml > d.xml
expect_fail "$VDK" pool-define d.xml
expect_grep "mount options (<fs:mount_opts>) are only supported for netfs pools" "$TMP/err"
expect_fail "$VDK" pool-define-as nohost netfs --source-path /export --target /mnt/x
expect_grep "missing storage pool source host name" "$TMP/err"
# nothing listens: a clear error at once
p=$(closed_port)
sed "s/np</dead</; s/mnt-np/mnt-dead/; s/port='$NFS_PORT'/port='$p'/; s/mountport=[0-9]*/mountport=$p/" np.xml > dead.xml
expect_rc 0 "$VDK" pool-define dead.xml
expect_fast_fail 5 "$VDK" pool-start dead
expect_grep "pool 'dead': cannot reach the NFS server $H (mounting /export/pools/np): connection refused" "$TMP/err"
# a server that accepts and never answers: the timeout (timeo=20: 2 s)
start_black_hole
sed "s/np</hung</; s/mnt-np/mnt-hung/; s/port='$NFS_PORT'/port='$BLACK_HOLE_PORT'/;
     s/mountport=[0-9]*'/mountport=$BLACK_HOLE_PORT'\/><fs:option name='timeo=20'/" np.xml > hung.xml
expect_rc 0 "$VDK" pool-define hung.xml
expect_fast_fail 8 "$VDK" pool-start hung
expect_grep "pool 'hung': cannot reach the NFS server $H .*timed out" "$TMP/err"

# a running pool whose server hangs: every command fails within the timeout
sed "s/np</fz</; s/mnt-np/mnt-fz/;
     s/mountport=[0-9]*'/&\/><fs:option name='timeo=20'/" np.xml > fz.xml
expect_rc 0 "$VDK" pool-create fz.xml
GPID=$(awk '$1 == "ganesha" {print $2}' "$TMP/nfs-state/pids")
cleanup_fn "kill -CONT $GPID 2>/dev/null"
kill -STOP "$GPID"
expect_fast_fail 8 "$VDK" pool-info fz
expect_grep "pool 'fz': cannot reach the NFS server $H .*timed out" "$TMP/err"
expect_fast_fail 8 "$VDK" vol-list fz
expect_fast_fail 8 "$VDK" info vol:fz/q.qcow2
kill -CONT "$GPID"
expect_rc 0 "$VDK" vol-info q.qcow2 --pool fz
expect_rc 0 "$VDK" pool-destroy fz

# ---- cleaning up: volumes, pool-delete removes the directory ----------------------
for v in $("$VDK" vol-list np | tail -n +3 | awk '{print $1}'); do
  expect_eq "$("$VDK" vol-delete "$v" --pool np)" "Vol $v deleted"
done
[ -z "$(ls -A "$D")" ] || fail "volumes left on the server: $(ls -A "$D")"
expect_rc 0 "$VDK" pool-destroy np
expect_eq "$("$VDK" pool-delete np)" "Pool np deleted"
[ ! -e "$D" ] || fail "pool-delete left the directory on the server"
[ -d "$EXP/pools" ] || fail "pool-delete removed more than the pool's directory"
expect_eq "$("$VDK" pool-undefine np)" "Pool np has been undefined"
expect_rc 0 "$VDK" pool-start pm
for v in over.qcow2 base.qcow2; do expect_rc 0 "$VDK" vol-delete $v --pool pm; done
expect_rc 0 "$VDK" pool-destroy pm
expect_eq "$("$VDK" pool-delete pm)" "Pool pm deleted"
expect_rc 0 "$VDK" pool-define-as pools netfs $H /export/pools --target "$TMP/mnt-pools"
expect_eq "$("$VDK" pool-delete pools)" "Pool pools deleted"
[ -z "$(ls -A "$EXP")" ] || fail "left on the server: $(ls -A "$EXP")"
# an export itself is never removed
expect_rc 0 "$VDK" pool-define-as whole netfs $H /export --target "$TMP/mnt-whole"
expect_fail "$VDK" pool-delete whole
expect_grep "'/export' is an export of $H, not a directory under one" "$TMP/err"
echo OK
