#!/bin/bash
# iscsi pools against a real tgtd with three LUNs, CHAP and an initiator
# ACL: pool-define-as and pool XML, the CHAP password from a secret
# (secret-define + secret-set-value, never in a file or a message), vol-list
# and pool-info tables, LUN 0 (tgtd's controller) left out, vol-upload /
# vol-download / vol-wipe / vol-create-from into a dir pool, vol:POOL/VOL in
# image commands, qemu-img as the peer, libvirt's refusals, and one clear,
# quick error for each way a login fails.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../functions.sh"
. "$HERE/lib.sh"
requires_protocol iscsi
requires python3
export VDK_STATE_DIR=$TMP/state
"$VDK" pool-capabilities > caps.xml
grep -q "<pool type='iscsi' supported='yes'>" caps.xml || skip "vdk was built without iscsi pools"
INIT=iqn.2026-11.org.example:host1
INIT2=iqn.2026-11.org.example:host2
PW=alicesecret1
start_service iscsi "$TMP/t" --luns 8M,16M,4M --initiator $INIT --initiator $INIT2 --chap alice:$PW
. "$TMP/t/env"

# ---- the CHAP secret ----------------------------------------------------------
cat > secret.xml <<'EOF'
<secret ephemeral='no' private='yes'>
  <usage type='iscsi'>
    <target>tgtchap</target>
  </usage>
</secret>
EOF
out=$("$VDK" secret-define secret.xml)
[[ $out =~ ^Secret\ (.*)\ created$ ]] || fail "secret-define printed '$out'"
SEC=${BASH_REMATCH[1]}
# the password comes from a pipe: never on a command line or in a file
printf '%s\n' "$PW" | "$VDK" secret-set-value "$SEC" --interactive --allow-pipe > /dev/null

# ---- define and start -------------------------------------------------------------
"$VDK" pool-define-as ip iscsi --source-host "$ISCSI_PORTAL" --source-dev "$ISCSI_IQN" \
  --target /dev/disk/by-path --auth-type chap --auth-username alice --secret-usage tgtchap \
  --source-initiator $INIT > out
expect_eq "$(cat out)" "Pool ip defined"
"$VDK" pool-dumpxml ip > ip.xml
python3 - "$ISCSI_PORT" "$ISCSI_IQN" $INIT <<'EOF' || fail "pool XML"
import sys, xml.etree.ElementTree as ET
port, iqn, init = sys.argv[1:]
r = ET.parse('ip.xml').getroot()
assert r.get('type') == 'iscsi'
s = r.find('source')
h = s.find('host')
assert (h.get('name'), h.get('port')) == ('127.0.0.1', port), h.attrib
assert s.find('device').get('path') == iqn
assert s.find('initiator/iqn').get('name') == init
a = s.find('auth')
assert (a.get('type'), a.get('username')) == ('chap', 'alice')
assert a.find('secret').get('usage') == 'tgtchap'
assert r.find('target/path').text == '/dev/disk/by-path'
EOF
# libvirt: pool-build is a no-op for iscsi
expect_eq "$("$VDK" pool-build ip)" "Pool ip built"
expect_eq "$("$VDK" pool-start ip)" "Pool ip started"

# ---- volumes: the LUNs but LUN 0 ---------------------------------------------------
URL1="iscsi://alice@$ISCSI_PORTAL/$ISCSI_IQN/1?initiator-name=$INIT&password-secret=$SEC"
"$VDK" vol-list ip --details > out
python3 - "$URL1" <<'EOF' || { cat out >&2; fail "vol-list --details"; }
import sys
url1 = sys.argv[1]
lines = open('out').read().rstrip('\n').split('\n')
head = lines[0].split()
assert head == ['Name', 'Path', 'Type', 'Capacity', 'Allocation'], head
rows = [l.split(None, 2) for l in lines[2:]]
assert [r[0] for r in rows] == ['unit:0:0:1', 'unit:0:0:2', 'unit:0:0:3'], rows
assert rows[0][1] == url1, rows[0][1]
want = {'unit:0:0:1': '8.00 MiB    8.00 MiB', 'unit:0:0:2': '16.00 MiB   16.00 MiB',
        'unit:0:0:3': '4.00 MiB    4.00 MiB'}
for r in rows:
    assert r[2].split(None, 1) == ['block', want[r[0]]], r
EOF
"$VDK" pool-info ip > out
expect_grep "^State:          running$" out
expect_grep "^Capacity:       28.00 MiB$" out
expect_grep "^Allocation:     28.00 MiB$" out
expect_grep "^Available:      0.00 B$" out
"$VDK" vol-info --pool ip unit:0:0:2 > out
printf '%s\n' "Name:           unit:0:0:2" "Type:           block" \
  "Capacity:       16.00 MiB" "Allocation:     16.00 MiB" > want
diff -u want out || fail "vol-info"
expect_eq "$("$VDK" vol-path --pool ip unit:0:0:1)" "$URL1" "vol-path"
expect_eq "$("$VDK" vol-key --pool ip unit:0:0:1)" "$URL1" "vol-key"
# and a volume is found by its key or path (the URL), as in virsh
expect_eq "$("$VDK" vol-name "$URL1")" "unit:0:0:1" "vol-name by key"
expect_eq "$("$VDK" vol-pool "$URL1")" "ip" "vol-pool by key"
"$VDK" vol-dumpxml --pool ip unit:0:0:3 > vol.xml
python3 -c "
import xml.etree.ElementTree as ET
r = ET.parse('vol.xml').getroot()
assert r.get('type') == 'block' and r.find('name').text == 'unit:0:0:3'
assert int(r.find('capacity').text) == 4 << 20
assert r.find('target/format').get('type') == 'raw'
" || fail "vol-dumpxml"
expect_fail "$VDK" vol-info --pool ip unit:0:0:0
expect_grep "Storage volume not found: .*'unit:0:0:0'" "$TMP/err"
expect_fail "$VDK" vol-info --pool ip unit:0:0:9
expect_grep "Storage volume not found: .*'unit:0:0:9'" "$TMP/err"

# ---- data: upload, download, image commands, qemu-img ---------------------------------
make_image src.raw 8
"$VDK" vol-upload --pool ip unit:0:0:1 src.raw
cmp src.raw "$TMP/t/lun1.img" || fail "vol-upload: the LUN differs"
"$VDK" vol-download --pool ip unit:0:0:1 down.raw
cmp src.raw down.raw || fail "vol-download differs"
"$VDK" compare src.raw vol:ip/unit:0:0:1 || fail "vdk compare with vol:ip/unit:0:0:1"
# the volume's path is a URL that works on its own (the secret by UUID)
"$VDK" info --output=json "$URL1" > info.json
expect_eq "$(json_get info.json "j['virtual-size']")" $((8 << 20)) "size through the vol path"
# qemu's spelling of a LUN (FORMAT LUN): its initiator name is an option
qlun () {
  printf 'json:{"driver":"%s","file":{"driver":"iscsi","transport":"tcp","portal":"%s","target":"%s","lun":%s,"user":"alice","password":"%s","initiator-name":"%s"}}' \
    "$1" "$ISCSI_PORTAL" "$ISCSI_IQN" "$2" "$PW" "$INIT"
}
QEMU_ISCSI=
command -v qemu-img >/dev/null && qemu-img --help > qemu-help.txt 2>&1 || true
if grep -q '^Supported formats:.* iscsi' qemu-help.txt 2>/dev/null; then
  QEMU_ISCSI=1
  qemu-img compare src.raw "$(qlun raw 1)" ||
    fail "qemu-img compare: the LUN is not what was uploaded"
else
  echo "note: qemu-img without iscsi (qemu-block-extra): no peer check"
fi
# a qcow2 made on LUN 2 through vol: (a format on a LUN), read back by both
"$VDK" convert -O qcow2 src.raw vol:ip/unit:0:0:2
expect_eq "$(head -c 4 "$TMP/t/lun2.img")" "QFI$(printf '\xfb')" "qcow2 magic on LUN 2"
"$VDK" compare src.raw vol:ip/unit:0:0:2 || fail "vdk: the qcow2 on LUN 2 differs"
if [ -n "$QEMU_ISCSI" ]; then
  qemu-img compare src.raw "$(qlun qcow2 2)" ||
    fail "qemu-img: the qcow2 on LUN 2 differs"
fi
# vol-create-from: the LUN into a dir pool
mkdir images
"$VDK" pool-create-as dp dir --target "$TMP/images" > /dev/null
cat > c.xml <<'EOF'
<volume>
  <name>copy.qcow2</name>
  <capacity>0</capacity>
  <target><format type='qcow2'/></target>
</volume>
EOF
"$VDK" vol-create-from dp c.xml --inputpool ip unit:0:0:1 > out
expect_eq "$(cat out)" "Vol copy.qcow2 created from input vol unit:0:0:1"
if command -v qemu-img >/dev/null; then
  qemu-img compare src.raw images/copy.qcow2 || fail "qemu-img: vol-create-from copy differs"
fi
"$VDK" compare src.raw images/copy.qcow2 || fail "vol-create-from copy differs"
# an overlay in the dir pool on a LUN: the image records vol:ip/unit:0:0:1,
# not the URL (a name read from an image may not use a secret)
"$VDK" vol-create-as dp over.qcow2 8M --format qcow2 --backing-vol vol:ip/unit:0:0:1 > /dev/null
"$VDK" info images/over.qcow2 > out
expect_grep "^backing file: vol:ip/unit:0:0:1 (actual path: $URL1)" out
"$VDK" compare src.raw images/over.qcow2 || fail "overlay on a LUN"
"$VDK" create -f qcow2 -b vol:ip/unit:0:0:1 -F raw over2.qcow2 > /dev/null
"$VDK" compare src.raw over2.qcow2 || fail "overlay on vol:ip/unit:0:0:1"
# a hostile image cannot make vdk send a secret (CHAP) to a host of its choice
"$VDK" create -f qcow2 -b "$URL1" -F raw evil.qcow2 > /dev/null
expect_fail "$VDK" info evil.qcow2
expect_grep "password-secret is not allowed in a name read from an image" "$TMP/err"
# vol-wipe: zeroes
expect_eq "$("$VDK" vol-wipe --pool ip unit:0:0:3)" "Vol unit:0:0:3 wiped"
head -c 1M /dev/urandom | dd of="$TMP/t/lun3.img" conv=notrunc status=none
"$VDK" vol-wipe --pool ip unit:0:0:3 > /dev/null
cmp "$TMP/t/lun3.img" <(head -c 4M /dev/zero) || fail "vol-wipe left data"

# ---- libvirt's refusals ---------------------------------------------------------------
expect_fail "$VDK" vol-create-as ip new 1M
expect_grep "storage pool does not support volume creation" "$TMP/err"
expect_fail "$VDK" vol-create ip c.xml
expect_grep "storage pool does not support volume creation" "$TMP/err"
expect_fail "$VDK" vol-clone --pool ip unit:0:0:1 clone
expect_grep "storage pool does not support volume creation" "$TMP/err"
expect_fail "$VDK" vol-delete --pool ip unit:0:0:1
expect_grep "storage pool does not support vol deletion" "$TMP/err"
expect_fail "$VDK" vol-resize --pool ip unit:0:0:2 32M
expect_grep "storage pool does not support changing of volume capacity" "$TMP/err"
expect_fail "$VDK" create -f raw vol:ip/unit:0:0:7 1M
expect_grep "storage pool does not support volume creation" "$TMP/err"
"$VDK" pool-destroy ip > /dev/null
expect_fail "$VDK" pool-delete ip
expect_grep "pool does not support pool deletion" "$TMP/err"
"$VDK" pool-start ip > /dev/null

# ---- the password is only in the secret store (base64) --------------------------------
! grep -rq "$PW" "$VDK_STATE_DIR" || fail "the CHAP password is in a state file in clear"

# ---- a URL naming a secret that is not there, or without its user ---------------------
expect_fail "$VDK" info "iscsi://alice@$ISCSI_PORTAL/$ISCSI_IQN/1?initiator-name=$INIT&password-secret=0b0e5a1c-0000-4000-8000-000000000000"
expect_grep "password-secret=0b0e5a1c-0000-4000-8000-000000000000: .*0b0e5a1c-0000-4000-8000-000000000000" "$TMP/err"
expect_fail "$VDK" info "iscsi://$ISCSI_PORTAL/$ISCSI_IQN/1?initiator-name=$INIT&password-secret=$SEC"
expect_grep "password-secret needs the CHAP user name in the URL" "$TMP/err"

# ---- a second target without CHAP or ACL: no <auth>, no <initiator> ---------------------
OPEN=iqn.2026-11.org.example:open
truncate -s 6M "$TMP/t/open1.img"
adm () { TGT_IPC_SOCKET=$ISCSI_SOCK /usr/sbin/tgtadm --lld iscsi "$@"; }
adm --mode target --op new --tid 2 --targetname $OPEN
adm --mode logicalunit --op new --tid 2 --lun 1 --backing-store "$TMP/t/open1.img" --bstype rdwr
adm --mode target --op bind --tid 2 --initiator-address ALL
"$VDK" pool-create-as open iscsi --source-host "$ISCSI_PORTAL" --source-dev $OPEN \
  --target /dev/disk/by-path > /dev/null
# the host's initiator name (open-iscsi's file), else libdisk's default
DEFINIT=iqn.2025-01.org.vdk:initiator
if [ -r /etc/iscsi/initiatorname.iscsi ]; then
  n=$(sed -n 's/^[[:space:]]*InitiatorName=\([^[:space:]]*\).*/\1/p' /etc/iscsi/initiatorname.iscsi | head -1)
  [ -z "$n" ] || DEFINIT=$n
fi
expect_eq "$("$VDK" vol-path --pool open unit:0:0:1)" \
  "iscsi://$ISCSI_PORTAL/$OPEN/1?initiator-name=$DEFINIT" "vol-path without CHAP"
head -c 6M /dev/urandom > open.raw
"$VDK" vol-upload --pool open unit:0:0:1 open.raw
cmp open.raw "$TMP/t/open1.img" || fail "upload to the open target"
"$VDK" pool-destroy open > /dev/null

# ---- logins that fail: one clear error, quickly ----------------------------------------
# (a second pool on the same target needs another initiator: libvirt's
# duplicate-source rule)
bad () { # HOST:PORT IQN INITIATOR SECRET-USAGE
  "$VDK" pool-define-as bad iscsi --source-host "$1" --source-dev "$2" --target /dev/disk/by-path \
    --auth-type chap --auth-username alice --secret-usage "$4" --source-initiator "$3" > /dev/null
  expect_fast_fail 5 "$VDK" pool-start bad
  [ "$(wc -l < "$TMP/err")" = 1 ] || { cat "$TMP/err" >&2; fail "more than one error line"; }
  "$VDK" pool-undefine bad > /dev/null
}
printf '<secret ephemeral="no" private="no"><usage type="iscsi"><target>wrong</target></usage></secret>' > w.xml
out=$("$VDK" secret-define w.xml)
[[ $out =~ ^Secret\ (.*)\ created$ ]] || fail "secret-define printed '$out'"
printf 'wrongsecret1\n' | "$VDK" secret-set-value "${BASH_REMATCH[1]}" --interactive --allow-pipe > /dev/null
bad "$ISCSI_PORTAL" "$ISCSI_IQN" $INIT2 wrong
expect_grep "pool 'bad': iSCSI login to $ISCSI_IQN at $ISCSI_PORTAL as $INIT2: authentication failed" "$TMP/err"
! grep -q wrongsecret1 "$TMP/err" || fail "the password is in the message"
bad "$ISCSI_PORTAL" "$ISCSI_IQN:nosuch" $INIT2 tgtchap
expect_grep "pool 'bad': iSCSI login to $ISCSI_IQN:nosuch at $ISCSI_PORTAL as $INIT2: target not found or access denied" "$TMP/err"
bad "$ISCSI_PORTAL" "$ISCSI_IQN" iqn.2026-11.org.example:intruder tgtchap
expect_grep "as iqn.2026-11.org.example:intruder: target not found or access denied (target IQN, or the initiator is not in the target's ACL)" "$TMP/err"
p=$(closed_port)
bad "127.0.0.1:$p" "$ISCSI_IQN" $INIT tgtchap
expect_grep "pool 'bad': cannot connect to the iSCSI portal 127.0.0.1:$p (connection refused or unreachable)" "$TMP/err"
bad "$ISCSI_PORTAL" "$ISCSI_IQN" $INIT2 nosuchusage
expect_grep "pool 'bad': CHAP secret: .*nosuchusage" "$TMP/err"
# the pool XML is checked before anything is tried
printf '%s\n' "<pool type='iscsi'><name>x</name><source><host name='127.0.0.1'/>" \
  "<device path='$ISCSI_IQN'/><auth type='ceph' username='a'><secret usage='u'/></auth>" \
  "</source><target><path>/dev/disk/by-path</path></target></pool>" > x.xml
expect_fail "$VDK" pool-define x.xml
expect_grep "iscsi pool only supports 'chap' auth type" "$TMP/err"
expect_fail "$VDK" pool-define-as y iscsi --source-dev "$ISCSI_IQN" --target /dev/disk/by-path
expect_grep "missing source host" "$TMP/err"

# ---- find-storage-pool-sources-as iscsi HOST PORT [INITIATOR]: SendTargets ------------
if "$VDK" find-storage-pool-sources-as --help > /dev/null 2>&1; then
  "$VDK" find-storage-pool-sources-as iscsi 127.0.0.1 "$ISCSI_PORT" $INIT > out
  # both targets: the CHAP one (INIT is in its ACL) and the open one
  src () {
    printf '%s\n' "  <source>" "    <host name='127.0.0.1' port='$ISCSI_PORT'/>" \
      "    <device path='$1'/>" "    <initiator>" "      <iqn name='$2'/>" \
      "    </initiator>" "  </source>"
  }
  { echo "<sources>"; src "$ISCSI_IQN" $INIT; src $OPEN $INIT; echo "</sources>"; } > want
  diff -u want out || fail "find-storage-pool-sources-as iscsi"
  # the spec's host, port and initiator from a source XML
  printf "<source><host name='127.0.0.1' port='%s'/><initiator><iqn name='%s'/></initiator></source>\n" \
    "$ISCSI_PORT" $INIT > spec.xml
  "$VDK" find-storage-pool-sources iscsi spec.xml > out
  expect_grep "<device path='$ISCSI_IQN'/>" out
  # tgtd shows a target only to the initiators of its ACL
  "$VDK" find-storage-pool-sources-as iscsi 127.0.0.1 "$ISCSI_PORT" iqn.2026-11.org.example:intruder > out
  { echo "<sources>"; src $OPEN iqn.2026-11.org.example:intruder; echo "</sources>"; } > want
  diff -u want out || fail "discovery by an initiator outside the ACL"
  expect_fail "$VDK" find-storage-pool-sources-as iscsi
  expect_grep "hostname must be specified for iscsi sources" "$TMP/err"
  expect_fast_fail 5 "$VDK" find-storage-pool-sources-as iscsi 127.0.0.1 "$(closed_port)"
  expect_grep "cannot connect to the iSCSI portal" "$TMP/err"
else
  echo "note: no find-storage-pool-sources-as in this build"
fi

# ---- a LUN added on the target shows at the next listing --------------------------------
truncate -s 2M "$TMP/t/lun4.img"
TGT_IPC_SOCKET=$ISCSI_SOCK /usr/sbin/tgtadm --lld iscsi --mode logicalunit --op new --tid 1 \
  --lun 4 --backing-store "$TMP/t/lun4.img" --bstype rdwr
"$VDK" pool-refresh ip > out
expect_eq "$(cat out)" "Pool ip refreshed"
"$VDK" vol-list ip > out
expect_grep "^ unit:0:0:4 " out
"$VDK" pool-info ip > out
expect_grep "^Capacity:       30.00 MiB$" out
"$VDK" pool-destroy ip > /dev/null
"$VDK" pool-destroy dp > /dev/null
echo OK
