#!/bin/bash
# Volumes across pools, JSON output, virsh's positional arguments, damaged
# state and hostile files in a pool.
. "$(dirname "$0")/../functions.sh"
requires python3
export VDK_STATE_DIR=$TMP/state

# virsh's positional form: NAME TYPE SRC-HOST SRC-PATH SRC-DEV SRC-NAME TARGET
expect_rc 0 $VDK pool-define-as p1 dir "" "" "" "" "$TMP/p1"
expect_eq "$(sed -n 's|.*<path>\(.*\)</path>|\1|p' "$VDK_STATE_DIR/pools/p1.xml")" "$TMP/p1"
expect_rc 0 $VDK pool-start p1 --build
expect_rc 0 $VDK pool-create-as p2 dir --target "$TMP/p2" --build

# Copies across pools.
rand_file data 1
expect_rc 0 $VDK vol-create-as p1 src.raw 4M
expect_rc 0 $VDK vol-upload src.raw data --pool p1 --offset 2M
cat > new.xml <<'XML'
<volume><name>copy.raw</name><capacity unit='bytes'>1024</capacity></volume>
XML
expect_eq "$($VDK vol-create-from p2 new.xml vol:p1/src.raw)" \
  "Vol copy.raw created from input vol src.raw"
expect_eq "$(stat -c %s "$TMP/p2/copy.raw")" 4194304 "a copy is at least as large as its source"
cmp "$TMP/p1/src.raw" "$TMP/p2/copy.raw" || fail "cross-pool copy"
[ "$(stat -c %b "$TMP/p2/copy.raw")" -lt 4096 ] || fail "the copy is not sparse"
expect_eq "$($VDK vol-pool "$TMP/p2/copy.raw")" "p2"
expect_eq "$($VDK vol-pool --uuid "$TMP/p2/copy.raw")" "$($VDK pool-uuid p2)"
# The source is refused while another process writes it.
python3 - "$TMP/p1/src.raw" <<'PY' &
import fcntl, os, struct, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
for b in (100, 101, 103, 201, 203):
    fcntl.fcntl(fd, 37, struct.pack('hhqqi', fcntl.F_RDLCK, 0, b, 1, 0))
open(sys.argv[1] + '.locked', 'w').close()
time.sleep(30)
PY
holder=$!
cleanup_fn "kill $holder 2>/dev/null"
for i in $(seq 50); do [ -e "$TMP/p1/src.raw.locked" ] && break; sleep 0.1; done
rm -f "$TMP/p1/src.raw.locked"
sed 's/copy.raw/copy2.raw/' new.xml > new2.xml
expect_fail $VDK vol-create-from p2 new2.xml src.raw --inputpool p1
expect_grep "lock" "$TMP/err"
[ ! -e "$TMP/p2/copy2.raw" ] || fail "a refused copy left a volume"
kill $holder; wait $holder 2>/dev/null || true

# raw volumes have no backing file.
expect_fail $VDK vol-create-as p1 child 4M --backing-vol vol:p1/src.raw
expect_grep "Backing file not supported for file format 'raw'" "$TMP/err"

# vol-create-as --print-xml creates nothing; its XML feeds vol-create.
$VDK vol-create-as p2 printed 3M --allocation 0 --print-xml > printed.xml
[ ! -e "$TMP/p2/printed" ] || fail "--print-xml created a volume"
expect_grep "<capacity>3145728</capacity>" printed.xml
expect_eq "$($VDK vol-create p2 printed.xml)" "Vol printed created from printed.xml"
expect_eq "$(stat -c %s "$TMP/p2/printed")" 3145728
expect_rc 0 $VDK vol-delete printed --pool p2

# JSON.
$VDK vol-list p2 --output=json > j
expect_eq "$(json_get j 'j[0]["name"], j[0]["capacity"], j[0]["format"]')" "copy.raw 4194304 raw"
$VDK vol-info vol:p1/src.raw --output json > j
expect_eq "$(json_get j 'j["path"]')" "$TMP/p1/src.raw"
$VDK pool-list --all --output=json > j
expect_eq "$(json_get j '" ".join(p["name"] + ":" + p["state"] for p in j)')" "p1:running p2:running"
expect_eq "$(json_get j 'j[1]["persistent"]')" "False"
$VDK pool-info p1 --output=json > j
expect_eq "$(json_get j 'j["capacity"] > 0')" "True"
expect_fail $VDK pool-list --output=xml

# Hostile files in a pool: listed (as what they are), never a crash.
printf 'QFI\xfb\0\0\0\3garbage' > "$TMP/p1/bad.qcow2"
head -c 100 /dev/urandom > "$TMP/p1/noise"
mkdir "$TMP/p1/subdir"
ln -s /nonexistent "$TMP/p1/dangling"
$VDK vol-list p1 > out
expect_grep "^ bad.qcow2 " out
expect_grep "^ noise " out
grep -q "subdir\|dangling" out && fail "a directory or dangling link is listed as a volume"
expect_rc 0 $VDK vol-delete bad.qcow2 --pool p1
# A symlinked volume is found by its path in the pool.
ln -s "$TMP/p2/copy.raw" "$TMP/p1/link.raw"
expect_eq "$($VDK vol-name "$TMP/p1/link.raw")" "link.raw"
expect_eq "$($VDK vol-pool "$TMP/p1/../p1/link.raw")" "p1"
rm "$TMP/p1/link.raw"

# A damaged definition: the other pools still list; naming it says why.
echo '<pool type="dir"><name>wrong</name>' > "$VDK_STATE_DIR/pools/broken.xml"
expect_eq "$($VDK pool-list --all --name | tr '\n' ' ')" "p1 p2 "
expect_fail $VDK pool-info broken
expect_grep "broken.xml" "$TMP/err"
sed 's|<name>p1</name>|<name>other</name>|' "$VDK_STATE_DIR/pools/p1.xml" > "$VDK_STATE_DIR/pools/mis.xml"
expect_fail $VDK pool-info mis
expect_grep "mis.xml: the pool definition is damaged (name or uuid)" "$TMP/err"
# Redefining repairs it.
expect_rc 0 $VDK pool-define-as mis dir --target "$TMP/mis"
expect_eq "$($VDK pool-info mis | sed -n 1p)" "Name:           mis"
# (p1 is running: its live definition is in run/pools)
sed "s|<path>$TMP/p1</path>|<path>relative/dir</path>|" "$VDK_STATE_DIR/run/pools/p1.xml" > p1.xml
cp p1.xml "$VDK_STATE_DIR/run/pools/p1.xml"
expect_fail $VDK pool-info p1
expect_grep "run/pools/p1.xml: the pool definition is damaged: pool 'p1': the target path must be" "$TMP/err"
echo OK
