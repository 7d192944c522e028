#!/bin/bash
# create + info for raw, checked against qemu-img.
. "$(dirname "$0")/../functions.sh"
requires qemu-img

"$VDK" create -f raw a.raw 10G > out.txt
expect_eq "$(cat out.txt)" "Formatting 'a.raw', fmt=raw size=10737418240"
expect_eq "$(stat -c %s a.raw)" 10737418240 "file size"
"$VDK" info a.raw > info.txt
expect_grep '^image: a.raw$' info.txt
expect_grep '^file format: raw$' info.txt
expect_grep '^virtual size: 10 GiB (10737418240 bytes)$' info.txt
# Same lines as qemu-img (disk size included: both allocate the first block).
qemu-img info a.raw > qinfo.txt
diff qinfo.txt info.txt || fail "info differs from qemu-img info"

"$VDK" info --output=json a.raw > info.json
expect_eq "$(json_get info.json 'j["virtual-size"]')" 10737418240
expect_eq "$(json_get info.json 'j["format"]')" raw
expect_eq "$(json_get info.json 'j["filename"]')" a.raw
qemu-img info --output=json a.raw > qinfo.json
python3 - <<'PY' || fail "json info differs from qemu-img"
import json
a = json.load(open("info.json")); b = json.load(open("qinfo.json"))
assert a == b, (a, b)
PY

# Sizes with suffixes and fractions, -q, a created file qemu reads.
"$VDK" create -q b.raw 1.5M > out.txt
[ ! -s out.txt ] || fail "-q printed something"
expect_eq "$(stat -c %s b.raw)" 1572864
"$VDK" create c.raw 0 >/dev/null
expect_eq "$(stat -c %s c.raw)" 0
expect_eq "$(qemu-img info --output=json b.raw | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')" 1572864

# Preallocation
"$VDK" create -o preallocation=full f.raw 4M >/dev/null
expect_eq "$(( $(stat -c %b f.raw) * 512 >= 4194304 ))" 1 "full preallocation allocates"
"$VDK" create -o preallocation=falloc g.raw 4M >/dev/null
expect_eq "$(( $(stat -c %b g.raw) * 512 >= 4194304 ))" 1 "falloc preallocation allocates"
expect_fail "$VDK" create -o preallocation=bogus h.raw 4M
expect_grep "invalid parameter value: bogus" "$TMP/err"
[ ! -e h.raw ] || fail "failed create left h.raw behind"
"$VDK" create -o help > help.txt
expect_grep 'preallocation=' help.txt

# Open by spec: file URL, key=value, json:
"$VDK" info file://"$TMP"/b.raw | grep -q '1.5 MiB' || fail "file:// URL"
"$VDK" info "driver=raw,file.filename=b.raw" | grep -q '^file format: raw' || fail "key=value spec"
"$VDK" info 'json:{"driver": "raw", "file": {"driver": "file", "filename": "b.raw"}}' \
  | grep -q '1572864 bytes' || fail "json: spec"
"$VDK" info "driver=raw,offset=512k,file.filename=b.raw" | grep -q '(1048576 bytes)' \
  || fail "raw offset= window"
expect_fail "$VDK" info "driver=raw,bogus=1,file.filename=b.raw"
expect_grep "bogus" "$TMP/err"
echo OK
