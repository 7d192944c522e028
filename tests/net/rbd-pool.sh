#!/bin/bash
# rbd pools (libvirt's) on a real one-node Ceph: the connection from <host>
# and a ceph secret alone (no ceph.conf), or from a config file; images as
# raw volumes; layered clones; snapshots on delete; resize, wipe, upload,
# download; copies across pools; clear, quick errors.  The rbd CLI says what
# exists, qemu-img reads the data.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../functions.sh"
. "$HERE/lib.sh"
requires_protocol rbd
requires python3 rados
"$VDK" pool-define-as x rbd --source-name r --print-xml >/dev/null 2>&1 ||
  skip "vdk was built without the rbd pool type"
start_service ceph "$TMP/ceph"
. "$TMP/ceph/env"
CONF=$CEPH_CONF
unset CEPH_CONF    # the pools must not find the cluster through the environment
R="rbd --conf $CONF"
export VDK_STATE_DIR=$TMP/state
# the monitor's msgr1 address (libvirt's port 6789 is msgr1 too), the admin key
MON_IP=127.0.0.1
MON_PORT=$(sed -n 's/^mon host = .*v1:127\.0\.0\.1:\([0-9]*\)\].*/\1/p' "$CONF")
[ -n "$MON_PORT" ] || fail "no monitor port in $CONF"
KEY=$(sed -n 's/^[[:space:]]*key = //p' "$(dirname "$CONF")/keyring")
[ -n "$KEY" ] || fail "no admin key"

# the key in a private ceph secret, as libvirt keeps it
cat > sec.xml <<EOF
<secret ephemeral='no' private='yes'>
  <usage type='ceph'><name>client.admin secret</name></usage>
</secret>
EOF
SEC=$("$VDK" secret-define sec.xml | sed -n 's/^Secret \(.*\) created$/\1/p')
printf '%s' "$KEY" > key.b64
"$VDK" secret-set-value "$SEC" --file key.b64 >/dev/null
rm key.b64
cat > rp.xml <<EOF
<pool type='rbd' xmlns:rbd='http://libvirt.org/schemas/storagepool/rbd/1.0'>
  <name>rp</name>
  <source>
    <name>rbd</name>
    <host name='$MON_IP' port='$MON_PORT'/>
    <auth type='ceph' username='admin'>
      <secret uuid='$SEC'/>
    </auth>
  </source>
  <rbd:config_opts>
    <rbd:option name='rados_osd_op_timeout' value='20'/>
  </rbd:config_opts>
</pool>
EOF
"$VDK" pool-define rp.xml >/dev/null
"$VDK" pool-start rp >/dev/null
"$VDK" pool-dumpxml rp > dump.xml
expect_grep "<host name='$MON_IP' port='$MON_PORT'/>" dump.xml
expect_grep "<rbd:option name='rados_osd_op_timeout' value='20'/>" dump.xml
expect_grep "<secret uuid='$SEC'/>" dump.xml
# pool-info: libvirt's numbers (cluster size and free space, pool bytes used)
"$VDK" pool-info --bytes rp > info.txt
expect_grep '^State: *running' info.txt
rados --conf "$CONF" df --format json > df.json
expect_eq "$(sed -n 's/^Capacity: *\([0-9]*\)$/\1/p' info.txt)" \
  "$(json_get df.json "j['total_space'] * 1024")" "pool capacity"
expect_eq "$(sed -n 's/^Available: *\([0-9]*\)$/\1/p' info.txt)" \
  "$(json_get df.json "j['total_avail'] * 1024")" "pool available"
"$VDK" pool-info rp --output=json > pi.json
expect_eq "$(json_get pi.json "(j['type'], j['state'], 'target' in j)")" "('rbd', 'running', False)" \
  "pool-info json"
"$VDK" pool-list --details > pl.txt
expect_grep '^ rp *running *no *yes ' pl.txt
"$VDK" pool-capabilities > caps.xml
python3 - caps.xml <<'PY' || fail "pool-capabilities: rbd should be supported with raw volumes only"
import sys, xml.etree.ElementTree as ET
p = [p for p in ET.parse(sys.argv[1]).getroot() if p.get('type') == 'rbd'][0]
assert p.get('supported') == 'yes'
assert [v.text for v in p.iter('value')] == ['raw']
PY

# volumes: created, listed, read by qemu-img through librbd
"$VDK" vol-create-as rp a 24M > out.txt
expect_grep "^Vol a created" out.txt
expect_eq "$($R ls rbd)" a "rbd ls"
expect_eq "$($R info --format json rbd/a | json_get /dev/stdin "j['size']")" $((24 << 20)) "rbd size"
make_image src.raw 24
"$VDK" vol-upload vol:rp/a src.raw --sparse
qemu-img compare -f raw -F raw src.raw "rbd:rbd/a:conf=$CONF" >/dev/null ||
  fail "qemu-img reads the uploaded volume differently"
"$VDK" compare src.raw vol:rp/a >/dev/null || fail "vdk reads vol:rp/a differently"
"$VDK" vol-list rp --details > list.txt
used=$($R du --format json rbd/a | json_get /dev/stdin "j['images'][0]['used_size']")
expect_eq "$used" $((12 << 20)) "rbd du of the sparse upload"
expect_grep '^ a *rbd/a *network *24.00 MiB *12.00 MiB$' list.txt
"$VDK" vol-info --bytes a --pool rp > vi.txt
expect_grep "^Allocation: *$used bytes" vi.txt
expect_eq "$("$VDK" vol-path a --pool rp)" rbd/a "vol-path"
expect_eq "$("$VDK" vol-key vol:rp/a)" rbd/a "vol-key"
expect_eq "$("$VDK" vol-name rbd/a)" a "vol-name by key"
expect_eq "$("$VDK" vol-pool rbd/a)" rp "vol-pool by key"
"$VDK" vol-dumpxml vol:rp/a > vol.xml
expect_grep "<volume type='network'>" vol.xml
expect_grep "<format type='raw'/>" vol.xml
# libvirt refuses other formats; a name is taken once
expect_fail "$VDK" vol-create-as rp q 1M --format qcow2
expect_grep "only RAW volumes are supported by this storage pool" "$TMP/err"
expect_fail "$VDK" vol-create-as rp a 1M
expect_grep "storage vol 'a' already exists" "$TMP/err"

# layered clones: a protected snapshot of the source, reused while it is current
"$VDK" vol-clone vol:rp/a b > out.txt
expect_grep "^Vol b cloned from a" out.txt
parent=$($R info --format json rbd/b | json_get /dev/stdin "j['parent']['pool'] + '/' + j['parent']['image'] + '@' + j['parent']['snapshot']")
[[ $parent == rbd/a@vdk-clone-* ]] || fail "rbd/b's parent is '$parent'"
"$VDK" vol-create-from rp /dev/stdin vol:rp/a <<< "<volume><name>c</name><capacity>24M</capacity></volume>" >/dev/null
expect_eq "$($R snap ls --format json rbd/a | json_get /dev/stdin "[(s['name'], s['protected']) for s in j]")" \
  "[('${parent#rbd/a@}', 'true')]" "one protected snapshot for both clones"
qemu-img compare -f raw -F raw src.raw "rbd:rbd/c:conf=$CONF" >/dev/null || fail "clone c differs"
expect_eq "$("$VDK" vol-info --bytes vol:rp/b | sed -n 's/^Allocation: *//p')" "0 bytes" "a fresh clone's own allocation"
# writing a clone leaves its parent alone
rand_file new.raw 4
"$VDK" vol-upload vol:rp/b new.raw
$R export --no-progress rbd/b b.raw 2>/dev/null
cmp -n $((4 << 20)) new.raw b.raw || fail "clone b does not read back what was written"
cmp -i $((4 << 20)) src.raw b.raw || fail "clone b lost its parent's data after 4 MiB"
qemu-img compare -f raw -F raw src.raw "rbd:rbd/a:conf=$CONF" >/dev/null || fail "the parent changed"

# vdk snapshot on RBD images (vol: and rbd: specs): RBD snapshots, as qemu-img
"$VDK" vol-create-as rp s 4M >/dev/null
"$VDK" vol-upload vol:rp/s new.raw
"$VDK" snapshot -c s1 vol:rp/s
"$VDK" snapshot -c s2 "rbd:rbd/s:conf=$CONF"
expect_eq "$($R snap ls --format json rbd/s | json_get /dev/stdin "[s['name'] for s in j]")" \
  "['s1', 's2']" "rbd snap ls after vdk snapshot -c"
"$VDK" snapshot -l vol:rp/s > sl.txt
qemu-img snapshot -l "rbd:rbd/s:conf=$CONF" > ql.txt
expect_eq "$(awk 'NR > 2 {print $1, $2, $3, $4}' sl.txt)" "$(awk 'NR > 2 {print $1, $2, $3, $4}' ql.txt)" \
  "vdk and qemu-img snapshot -l"
"$VDK" vol-wipe vol:rp/s >/dev/null
"$VDK" snapshot -a s1 vol:rp/s
"$VDK" compare new.raw vol:rp/s >/dev/null || fail "snapshot -a did not roll back"
"$VDK" snapshot -d s1 vol:rp/s
expect_eq "$($R snap ls --format json rbd/s | json_get /dev/stdin "[s['name'] for s in j]")" \
  "['s2']" "rbd snap ls after vdk snapshot -d"
expect_fail "$VDK" snapshot -d s1 vol:rp/s
expect_grep "Could not delete snapshot 's1': snapshot not found" "$TMP/err"
expect_fail "$VDK" snapshot -d "${parent#rbd/a@}" vol:rp/a
expect_grep "is protected" "$TMP/err"
"$VDK" vol-delete vol:rp/s --delete-snapshots >/dev/null

# resize (grow, shrink only with --shrink), wipe, download
"$VDK" vol-resize vol:rp/c 32M >/dev/null
expect_eq "$($R info --format json rbd/c | json_get /dev/stdin "j['size']")" $((32 << 20)) "grown"
expect_fail "$VDK" vol-resize vol:rp/c 8M
expect_grep "shrink" "$TMP/err"
"$VDK" vol-resize vol:rp/c 8M --shrink >/dev/null
expect_eq "$($R info --format json rbd/c | json_get /dev/stdin "j['size']")" $((8 << 20)) "shrunk"
expect_fail "$VDK" vol-resize vol:rp/c 16M --allocate
expect_grep "do not preallocate" "$TMP/err"
# an image open elsewhere (a watch on its header) is in use: no wipe, no delete
mkfifo hold
timeout 60 $R watch rbd/c < hold >/dev/null 2>&1 &
WATCH=$!
cleanup_fn "kill $WATCH 2>/dev/null"
exec 7>hold
for ((i = 0; i < 100; i++)); do [[ $($R status rbd/c) == *watcher=* ]] && break; sleep 0.1; done
expect_fail "$VDK" vol-wipe vol:rp/c
expect_grep "storage vol 'c' is in use: 1 client has the RBD image open" "$TMP/err"
expect_fail "$VDK" vol-delete vol:rp/c
expect_grep "storage vol 'c' is in use" "$TMP/err"
exec 7>&-
wait $WATCH || true
"$VDK" vol-wipe vol:rp/c >/dev/null
truncate -s 8M zero.raw
qemu-img compare -f raw -F raw zero.raw "rbd:rbd/c:conf=$CONF" >/dev/null || fail "vol-wipe left data"
"$VDK" vol-download vol:rp/a down.raw
cmp src.raw down.raw || fail "vol-download differs"

# across pools: a data copy (no parent), both ways, any format on the dir side
mkdir dirpool
"$VDK" pool-create-as dp dir --target "$TMP/dirpool" >/dev/null
"$VDK" vol-create-from dp /dev/stdin a --inputpool rp >/dev/null \
  <<< "<volume><name>a.qcow2</name><capacity>24M</capacity><target><format type='qcow2'/></target></volume>"
qemu-img compare -f qcow2 -F raw dirpool/a.qcow2 src.raw >/dev/null || fail "rbd -> dir copy differs"
"$VDK" vol-create-from rp /dev/stdin vol:dp/a.qcow2 <<< "<volume><name>back</name><capacity>1M</capacity></volume>" >/dev/null
qemu-img compare -f raw -F raw src.raw "rbd:rbd/back:conf=$CONF" >/dev/null || fail "dir -> rbd copy differs"
expect_eq "$($R info --format json rbd/back | json_get /dev/stdin "'parent' in j")" False "a copy has no parent"
# vol: as a target creates the image
"$VDK" convert -O raw new.raw vol:rp/conv
expect_eq "$($R ls rbd | tr '\n' ' ')" "a b back c conv " "rbd ls"

# an overlay on an rbd volume records vol:POOL/VOL (not the spec with the
# pool's keyfile) and opens through the pools; a backing name read from an
# image may not carry librados options such as keyfile
"$VDK" vol-create-as dp over.qcow2 24M --format qcow2 --backing-vol vol:rp/a \
  --backing-vol-format raw >/dev/null
"$VDK" info --output=json dirpool/over.qcow2 > over.json
expect_eq "$(json_get over.json "j['backing-filename']")" vol:rp/a "overlay's backing name"
"$VDK" compare dirpool/over.qcow2 src.raw >/dev/null || fail "overlay on an rbd volume differs"
qemu-img create -q -u -f qcow2 -F raw \
  -b "rbd:rbd/a:mon_host=127.0.0.1:keyfile=$VDK_STATE_DIR/x.base64" hostile.qcow2 24M
expect_fail "$VDK" info --backing-chain hostile.qcow2
expect_grep "option 'keyfile' may not come from a name read from an image" "$TMP/err"

# the key never shows: not in specs, paths, XML or messages
"$VDK" info vol:rp/a > i.txt 2>&1
expect_fail "$VDK" info vol:rp/missing
cat i.txt "$TMP/err" dump.xml vol.xml list.txt > all.txt
grep -qF "$KEY" all.txt && fail "the Ceph key appears in vdk's output"
expect_grep "no storage vol with matching name 'missing'" "$TMP/err"

# delete: refused while snapshots exist (as virsh), then with --delete-snapshots
expect_fail "$VDK" vol-delete vol:rp/a
expect_grep "it has 1 snapshot (vol-delete --delete-snapshots" "$TMP/err"
expect_fail "$VDK" vol-delete vol:rp/a --delete-snapshots
expect_grep "has clones" "$TMP/err"
"$VDK" vol-delete vol:rp/b >/dev/null
"$VDK" vol-delete c --pool rp >/dev/null
"$VDK" vol-delete vol:rp/a --delete-snapshots > out.txt
expect_grep "^Vol a deleted" out.txt
expect_eq "$($R ls rbd | tr '\n' ' ')" "back conv " "rbd ls after the deletes"
"$VDK" vol-list rp > list.txt
expect_grep '^ back *rbd/back$' list.txt
grep -q '^ a ' list.txt && fail "vol-list still shows a"

# the cluster's config file instead of <host> and <auth>
cat > rc.xml <<EOF
<pool type='rbd' xmlns:rbd='http://libvirt.org/schemas/storagepool/rbd/1.0'>
  <name>rc</name>
  <source><name>rbd</name></source>
  <rbd:config_opts><rbd:option name='conf' value='$CONF'/></rbd:config_opts>
</pool>
EOF
"$VDK" pool-create rc.xml >/dev/null
expect_eq "$("$VDK" vol-list rc | awk 'NR > 2 && NF {print $1}' | tr '\n' ' ')" "back conv " "vol-list via conf"
"$VDK" compare new.raw vol:rc/conv >/dev/null || fail "vol:rc/conv differs"

# several monitors, as libvirt lists them: one that is down, then the real one
DOWN=$(closed_port)
sed -e "s/<name>rp</<name>rm</" \
  -e "s|<host name='$MON_IP' port='$MON_PORT'/>|<host name='$MON_IP' port='$DOWN'/><host name='$MON_IP' port='$MON_PORT'/>|" \
  rp.xml > rm.xml
expect_eq "$(grep -o "<host " rm.xml | wc -l)" 2 "hosts in rm.xml"
"$VDK" pool-create rm.xml >/dev/null
"$VDK" pool-dumpxml rm > rm-dump.xml
expect_eq "$(grep -c "<host name='$MON_IP' port='\($DOWN\|$MON_PORT\)'/>" rm-dump.xml)" 2 "hosts in pool-dumpxml"
expect_eq "$("$VDK" vol-list rm | awk 'NR > 2 && NF {print $1}' | tr '\n' ' ')" "back conv " \
  "vol-list through the second monitor"
"$VDK" compare new.raw vol:rm/conv >/dev/null || fail "vol:rm/conv differs"
"$VDK" pool-destroy rm >/dev/null
# other pool types take one host, as libvirt
cat > nf2.xml <<EOF
<pool type='netfs'><name>nf2</name><source><host name='a'/><host name='b'/><dir path='/x'/>
<format type='nfs'/></source><target><path>$TMP/nf2</path></target></pool>
EOF
expect_fail "$VDK" pool-define nf2.xml
expect_grep "Expected exactly 1 host for the storage pool" "$TMP/err"

# errors: one message, quickly
expect_fail "$VDK" pool-define-as bad rbd --source-host $MON_IP
expect_grep "missing source name" "$TMP/err"
expect_fail "$VDK" pool-define-as bad rbd --source-name rbd --source-host $MON_IP --auth-type chap \
  --auth-username admin --secret-uuid "$SEC"
expect_grep "auth type 'chap' is not supported for rbd pools" "$TMP/err"
expect_fail "$VDK" pool-create-as np rbd --source-name nopool --source-host "$MON_IP:$MON_PORT" \
  --auth-type ceph --auth-username admin --secret-uuid "$SEC"
expect_grep "RADOS pool 'nopool' does not exist" "$TMP/err"
sed "s/<name>rp</<name>rp2</" rp.xml > rp2.xml
expect_fail "$VDK" pool-define rp2.xml
expect_grep "Storage source conflict with pool: 'rp' (source rbd on host $MON_IP)" "$TMP/err"
# a wrong key: Ceph never completes the authentication
cat > bad.xml <<EOF
<secret ephemeral='yes' private='yes'><usage type='ceph'><name>wrong</name></usage></secret>
EOF
BAD=$("$VDK" secret-define bad.xml | sed -n 's/^Secret \(.*\) created$/\1/p')
python3 -c 'import base64,sys; k=bytearray(base64.b64decode(sys.argv[1])); k[-1]^=1; print(base64.b64encode(k).decode(), end="")' "$KEY" > bad.b64
"$VDK" secret-set-value "$BAD" --file bad.b64 >/dev/null
for spec in "wrongkey $MON_PORT $BAD" "nomon $(closed_port) $SEC"; do
  set -- $spec
  sed -e "s/<name>rp</<name>$1</" -e "s/<name>rbd</<name>$1-rados</" -e "s/port='$MON_PORT'/port='$2'/" -e "s/uuid='$SEC'/uuid='$3'/" \
    -e "s/name='rados_osd_op_timeout' value='20'/name='client_mount_timeout' value='3'/" rp.xml > $1.xml
  "$VDK" pool-define $1.xml >/dev/null
  expect_fast_fail 10 "$VDK" pool-start $1
  expect_grep "pool '$1': cannot connect to the Ceph cluster at $MON_IP:$2 as client.admin: .*(the monitors are unreachable, or the key is wrong)" "$TMP/err"
done
expect_fail "$VDK" pool-build wrongkey
expect_grep "rbd pools are not built" "$TMP/err"

"$VDK" pool-destroy rp >/dev/null
expect_fail "$VDK" vol-list rp
"$VDK" pool-undefine rp >/dev/null
echo OK
