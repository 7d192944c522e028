#!/bin/bash
# An rpm guest: applications from rpmdb.sqlite (read without libsqlite;
# the database is written by python's sqlite3 as rpm does).  A damaged
# database is a listed problem, and the rest of the report is complete.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/mkguest.sh"
requires mkfs.ext4 debugfs python3
python3 -c 'import sqlite3' 2>/dev/null || skip "python3 sqlite3 module missing"

mkdir -p r/etc r/usr/bin r/usr/lib/sysimage/rpm r/var/lib
printf 'NAME="Fedora Linux"\nID=fedora\nVERSION_ID=40\nPRETTY_NAME="Fedora Linux 40 (Forty)"\n' > r/etc/os-release
echo rpmguest > r/etc/hostname
: > r/usr/bin/dnf
ln -s ../../usr/lib/sysimage/rpm r/var/lib/rpm
python3 "$(dirname "$0")/mkrpmdb.py" r/usr/lib/sysimage/rpm/rpmdb.sqlite 400
python3 - r/usr/lib/sysimage/rpm/rpmdb.sqlite > want <<'PY'
import sqlite3, struct, sys
# the oracle: sqlite3 itself, decoding the same header blobs
for (blob,) in sqlite3.connect(sys.argv[1]).execute("SELECT blob FROM Packages"):
    il, dl = struct.unpack(">II", blob[:8]); data = blob[8 + 16 * il:]
    t = {}
    for i in range(il):
        tag, typ, off, cnt = struct.unpack(">IIII", blob[8 + 16 * i:24 + 16 * i])
        t[tag] = struct.unpack(">I", data[off:off + 4])[0] if typ == 4 else data[off:data.index(b"\0", off)].decode()
    print("%s %s:%s-%s.%s" % (t[1000], t.get(1003, 0), t[1001], t[1002], t[1022]))
PY
sort -o want want
mkfs_ext4 rpm.img 8 root 11111111-2222-3333-4444-555555555577 r
$VDK inspect -a rpm.img --output=json > insp.json
json_get insp.json '"\n".join("%s %s:%s-%s.%s" % (a["name"], a["epoch"], a["version"], a["release"], a["arch"]) for a in j[0]["applications"])' | sort > got
diff -u want got || fail "rpm applications differ from sqlite3's view"
expect_eq "$(wc -l < got)" 403 "number of packages"
expect_eq "$(json_get insp.json '[j[0][k] for k in ("distro", "package_format", "package_management", "hostname")]')" \
  "['fedora', 'rpm', 'dnf', 'rpmguest']" "rpm guest"
$VDK inspect -a rpm.img > insp.xml
expect_grep '<summary>Utilities for managing accounts</summary>' insp.xml
expect_grep '<epoch>2</epoch>' insp.xml

# damaged database: a problem is reported, everything else still is
python3 - r/usr/lib/sysimage/rpm/rpmdb.sqlite <<'PY'
import sys
f = open(sys.argv[1], "r+b"); f.seek(16); f.write(b"\x00\x07")   # impossible page size
PY
mkfs_ext4 bad.img 8 root 11111111-2222-3333-4444-555555555577 r
$VDK inspect -a bad.img --output=json > bad.json || fail "inspect must not fail on a bad rpmdb"
expect_eq "$(json_get bad.json 'j[0]["hostname"]')" rpmguest "hostname still reported"
expect_grep 'rpmdb.sqlite: SQLite: bad page size' bad.json
# no rpm database at all (libguestfs 1.48 aborts the inspection there): the
# rest of the report is complete, with no applications and no problem
rm r/usr/lib/sysimage/rpm/rpmdb.sqlite
mkfs_ext4 nodb.img 8 root 11111111-2222-3333-4444-555555555577 r
$VDK inspect -a nodb.img --output=json > nodb.json || fail "inspect must not fail without an rpmdb"
expect_eq "$(json_get nodb.json '[j[0][k] for k in ("distro", "product_name", "major_version", "package_format", "hostname")]')" \
  "['fedora', 'Fedora Linux 40 (Forty)', 40, 'rpm', 'rpmguest']" "guest without rpmdb"
expect_eq "$(json_get nodb.json 'len(j[0]["applications"])')" 0 "no applications"
# an rpm guest whose /etc/hostname cannot be read (inode pointing past the
# end of the filesystem): a problem, and everything else, applications
# included, still reported
python3 "$(dirname "$0")/mkrpmdb.py" r/usr/lib/sysimage/rpm/rpmdb.sqlite 400
mkfs_ext4 unr.img 8 root 11111111-2222-3333-4444-555555555577 r
ino=$(debugfs -R "stat /etc/hostname" unr.img 2>/dev/null | sed -n 's/^Inode: \([0-9]*\).*/\1/p')
debugfs -w -R "sif <$ino> block[5] 99999999" unr.img >/dev/null 2>&1
$VDK inspect -a unr.img --output=json > unr.json || fail "inspect must not fail on an unreadable file"
expect_eq "$(json_get unr.json '[j[0]["distro"], len(j[0]["applications"])]')" "['fedora', 403]" "unreadable hostname"
expect_grep 'etc/hostname' unr.json
# random damage in the b-tree pages: no crash, hostname still there
for i in 1 2 3 4 5 6; do
  python3 "$(dirname "$0")/mkrpmdb.py" r/usr/lib/sysimage/rpm/rpmdb.sqlite.new 400
  mv r/usr/lib/sysimage/rpm/rpmdb.sqlite.new r/usr/lib/sysimage/rpm/rpmdb.sqlite
  python3 - r/usr/lib/sysimage/rpm/rpmdb.sqlite $i <<'PY'
import random, sys
r = random.Random(int(sys.argv[2])); f = open(sys.argv[1], "r+b"); size = f.seek(0, 2)
for _ in range(30):
    f.seek(r.randrange(100, size)); f.write(bytes([r.randrange(256)]))
PY
  mkfs_ext4 fz.img 8 root 11111111-2222-3333-4444-555555555577 r
  $VDK inspect -a fz.img --output=json > fz.json || fail "inspect failed on damaged rpmdb $i"
  expect_eq "$(json_get fz.json 'j[0]["hostname"]')" rpmguest "hostname with damaged rpmdb $i"
done
exit 0
