#!/bin/bash
# libvirt pool XML: a pool virsh would print can be defined by vdk; vdk's
# pool-dumpxml reads back into the same definition; bad XML and bad names
# are refused with one clear message.
. "$(dirname "$0")/../functions.sh"
export VDK_STATE_DIR=$TMP/state
mkdir images

# What 'virsh pool-dumpxml' prints for a dir pool (with sizes and
# permissions, an element vdk does not use, and comments).
cat > default.xml <<XML
<?xml version="1.0"?>
<!-- libvirt pool -->
<pool type='dir'>
  <name>default</name>
  <uuid>3E3FCE45-4F53-4FA7-BB32-11F34168B82B</uuid>
  <capacity unit='bytes'>53660876800</capacity>
  <allocation unit='bytes'>32671645696</allocation>
  <available unit='bytes'>20989231104</available>
  <source>
  </source>
  <target>
    <path>$TMP/images</path>
    <permissions>
      <mode>0755</mode>
      <owner>0</owner>
      <group>0</group>
      <label>system_u:object_r:virt_image_t:s0</label>
    </permissions>
  </target>
</pool>
XML
expect_eq "$($VDK pool-define default.xml)" "Pool default defined from default.xml"
expect_eq "$($VDK pool-uuid default)" "3e3fce45-4f53-4fa7-bb32-11f34168b82b"
expect_eq "$($VDK pool-name 3e3fce45-4f53-4fa7-bb32-11f34168b82b)" "default"
$VDK pool-dumpxml default > dump.xml
cat > want.xml <<XML
<pool type='dir'>
  <name>default</name>
  <uuid>3e3fce45-4f53-4fa7-bb32-11f34168b82b</uuid>
  <capacity unit='bytes'>0</capacity>
  <allocation unit='bytes'>0</allocation>
  <available unit='bytes'>0</available>
  <source>
  </source>
  <target>
    <path>$TMP/images</path>
    <permissions>
      <mode>0755</mode>
      <owner>0</owner>
      <group>0</group>
    </permissions>
  </target>
</pool>
XML
diff -u want.xml dump.xml || fail "pool-dumpxml of an inactive pool"
# An active pool reports its filesystem's sizes (statvfs), as libvirt.
expect_rc 0 $VDK pool-start default
$VDK pool-dumpxml default > dump2.xml
cap=$(sed -n "s|.*<capacity unit='bytes'>\(.*\)</capacity>|\1|p" dump2.xml)
want=$(( $(stat -f -c '%b * %S' images) ))
expect_eq "$cap" "$want" "capacity"
$VDK pool-info default --bytes > info
expect_grep "^Capacity:       $want$" info
expect_grep "^State:          running$" info
expect_grep "^UUID:           3e3fce45-4f53-4fa7-bb32-11f34168b82b$" info
expect_rc 0 $VDK pool-destroy default

# Round trip: undefine, define from the dump, same uuid and dump.
expect_rc 0 $VDK pool-undefine default
expect_rc 0 $VDK pool-define dump.xml
$VDK pool-dumpxml default | diff -u dump.xml - || fail "round trip"

# Redefining a running pool changes its persistent definition only; the
# live one (pool-dumpxml) is the one it was started with.
mkdir images2
expect_rc 0 $VDK pool-start default
sed "s|$TMP/images<|$TMP/images2<|" dump.xml > moved.xml
expect_rc 0 $VDK pool-define moved.xml
$VDK pool-dumpxml default | grep -q "<path>$TMP/images</path>" || fail "live definition changed"
$VDK pool-dumpxml --inactive default | grep -q "<path>$TMP/images2</path>" || fail "--inactive"
expect_rc 0 $VDK pool-destroy default
$VDK pool-dumpxml default | grep -q "<path>$TMP/images2</path>" || fail "new definition after destroy"
expect_rc 0 $VDK pool-define dump.xml

# pool-define-as --print-xml, and an fs pool's source elements.
$VDK pool-define-as fsp fs --source-dev /dev/vdk-none --source-format xfs \
  --target "$TMP/mnt" --print-xml > fs.xml
expect_grep "<device path='/dev/vdk-none'/>" fs.xml
expect_grep "<format type='xfs'/>" fs.xml
expect_eq "$($VDK pool-list --all --name)" "default" "--print-xml defines nothing"
expect_rc 0 $VDK pool-define fs.xml
$VDK pool-dumpxml fsp > fs2.xml
expect_grep "^<pool type='fs'>$" fs2.xml
expect_grep "<device path='/dev/vdk-none'/>" fs2.xml
expect_eq "$($VDK pool-list --all --type fs --name)" "fsp"
expect_eq "$($VDK pool-list --all --type dir,fs --name | tr '\n' ' ')" "default fsp "
expect_fail $VDK pool-list --type bogus
expect_grep "Invalid pool type 'bogus'" "$TMP/err"

# Redefining with a different uuid, or another pool on the same target.
sed 's/3e3fce45/aaaaaaaa/' dump.xml > other-uuid.xml
expect_fail $VDK pool-define other-uuid.xml
expect_grep "pool 'default' is already defined with uuid 3e3fce45" "$TMP/err"
sed 's/<name>default</<name>second</; /<uuid>/d' dump.xml > same-target.xml
expect_fail $VDK pool-define same-target.xml
expect_grep "Storage source conflict with pool: 'default'" "$TMP/err"

# Hostile and malformed XML: one line, naming the file.
printf '<pool type="dir"><name>x</name>' > trunc.xml
expect_fail $VDK pool-define trunc.xml
expect_eq "$(wc -l < "$TMP/err")" 1 "one error line"
expect_grep "^vdk: trunc.xml: " "$TMP/err"
printf '<volume/>' > wrongroot.xml
expect_fail $VDK pool-define wrongroot.xml
expect_grep "unexpected root element <volume>, expecting <pool>" "$TMP/err"
printf "<pool type='dir'><name>a/b</name><target><path>/tmp/x</path></target></pool>" > slash.xml
expect_fail $VDK pool-define slash.xml
expect_grep "invalid pool name 'a/b'" "$TMP/err"
printf "<pool type='dir'><name>..</name><target><path>/tmp/x</path></target></pool>" > dots.xml
expect_fail $VDK pool-define dots.xml
printf "<pool type='dir'><name>ok</name><uuid>nope</uuid><target><path>/tmp/x</path></target></pool>" > uuid.xml
expect_fail $VDK pool-define uuid.xml
expect_grep "malformed uuid element 'nope'" "$TMP/err"
printf "<pool type='dir'><name>rel</name><target><path>relative</path></target></pool>" > rel.xml
expect_fail $VDK pool-define rel.xml
expect_grep "target path must be an absolute path" "$TMP/err"
printf "<pool type='zfs'><name>i</name><target><path>/dev</path></target></pool>" > zfs.xml
expect_fail $VDK pool-define zfs.xml
expect_grep "unsupported storage pool type 'zfs'" "$TMP/err"
printf "<pool type='fs'><name>nodev</name><target><path>/tmp/x</path></target></pool>" > nodev.xml
expect_fail $VDK pool-define nodev.xml
expect_grep "missing source device" "$TMP/err"
# Entities are not expanded (no billion laughs, no external files).
cat > ent.xml <<'XML'
<!DOCTYPE pool [ <!ENTITY x SYSTEM "file:///etc/passwd"> ]>
<pool type='dir'><name>&x;</name><target><path>/tmp/x</path></target></pool>
XML
expect_fail $VDK pool-define ent.xml
head -c 2000000 /dev/zero | tr '\0' ' ' > big.xml
expect_fail $VDK pool-define big.xml
expect_grep "too large" "$TMP/err"
expect_fail $VDK pool-define-as "$(printf 'bad\001name')" dir --target /tmp/x
expect_grep "invalid pool name" "$TMP/err"
expect_fail $VDK pool-define-as "" dir --target /tmp/x
expect_fail $VDK pool-define-as x zfs --source-dev /dev/null --target /tmp/x
expect_grep "unsupported storage pool type 'zfs'" "$TMP/err"

# Volume XML: units, format, bad capacity.
expect_rc 0 $VDK pool-start default
cat > v.xml <<'XML'
<volume>
  <name>v1</name>
  <capacity unit='KB'>1000</capacity>
  <allocation>0</allocation>
</volume>
XML
expect_eq "$($VDK vol-create default v.xml)" "Vol v1 created from v.xml"
expect_eq "$(stat -c %s images/v1)" 1000000 "KB are 1000 bytes"
sed 's/v1/v2/; s/KB/G/; s/1000/1/' v.xml > v2.xml
expect_rc 0 $VDK vol-create default v2.xml
expect_eq "$(stat -c %s images/v2)" 1073741824 "G is GiB"
sed 's/v1/v3/; s/KB/furlongs/' v.xml > v3.xml
expect_fail $VDK vol-create default v3.xml
expect_grep "unknown size unit 'furlongs'" "$TMP/err"
sed 's/v1/v4/; s/KB/EiB/; s/1000/99999/' v.xml > v4.xml
expect_fail $VDK vol-create default v4.xml
expect_grep "too large" "$TMP/err"
$VDK vol-dumpxml v1 --pool default > vd.xml
expect_grep "^<volume type='file'>$" vd.xml
expect_grep "<capacity unit='bytes'>1000000</capacity>" vd.xml
expect_grep "<format type='raw'/>" vd.xml

# Network pool source elements (host port, auth with a secret, initiator,
# protocol version) survive define/dumpxml, and bad ones are refused.
cat > net.xml <<XML
<pool type='dir'>
  <name>netsrc</name>
  <source>
    <host name='nfs.example.com' port='2049'/>
    <dir path='/export'/>
    <initiator><iqn name='iqn.2026-11.org.example:init'/></initiator>
    <auth type='chap' username='bob'><secret usage='libvirtiscsi'/></auth>
    <protocol ver='3'/>
  </source>
  <target><path>$TMP/netimages</path></target>
</pool>
XML
mkdir netimages
$VDK pool-define net.xml >/dev/null
$VDK pool-dumpxml netsrc > netdump.xml
expect_grep "<host name='nfs.example.com' port='2049'/>" netdump.xml
expect_grep "<iqn name='iqn.2026-11.org.example:init'/>" netdump.xml
expect_grep "<auth type='chap' username='bob'>" netdump.xml
expect_grep "<secret usage='libvirtiscsi'/>" netdump.xml
expect_grep "<protocol ver='3'/>" netdump.xml
$VDK pool-undefine netsrc >/dev/null
sed "s/port='2049'/port='70000'/" net.xml > badport.xml
expect_fail $VDK pool-define badport.xml
expect_grep "Invalid port number: 70000" "$TMP/err"
sed "s/<host name='nfs.example.com'/<host/" net.xml > noname.xml
expect_fail $VDK pool-define noname.xml
expect_grep "missing storage pool host name" "$TMP/err"
sed "s/<secret usage='libvirtiscsi'\/>//" net.xml > nosecret.xml
expect_fail $VDK pool-define nosecret.xml
expect_grep "secret uuid or usage is required" "$TMP/err"
$VDK pool-define-as n2 dir --target "$TMP/netimages" --auth-type ceph --auth-username admin \
  --secret-uuid 2ec115d7-3a88-3ceb-bc12-0ac909a6fd87 --source-protocol-ver 3 --print-xml > n2.xml
expect_grep "<secret uuid='2ec115d7-3a88-3ceb-bc12-0ac909a6fd87'/>" n2.xml
expect_grep "<protocol ver='3'/>" n2.xml
expect_fail $VDK pool-define-as n3 dir --target "$TMP/images" --auth-type chap
expect_grep "auth-username" "$TMP/err"

# pool-capabilities lists dir and fs as supported, the rest not.
$VDK pool-capabilities > caps
expect_grep "<pool type='dir' supported='yes'>" caps
expect_grep "<pool type='fs' supported='yes'>" caps
expect_grep "<pool type='zfs' supported='no'>" caps
expect_grep "<value>raw</value>" caps
if command -v xmllint >/dev/null; then xmllint --noout caps dump.xml vd.xml || fail "xmllint"; fi
echo OK
