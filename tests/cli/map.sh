#!/bin/bash
# map: human and json output equal qemu-img map's for raw images.
. "$(dirname "$0")/../functions.sh"
requires qemu-img

qemu-img create -q -f raw a.raw 64M
head -c 1M /dev/urandom | dd of=a.raw bs=1M seek=5 conv=notrunc status=none
head -c 3M /dev/urandom | dd of=a.raw bs=1M seek=30 conv=notrunc status=none
"$VDK" map a.raw > m.txt
qemu-img map a.raw > q.txt
diff q.txt m.txt || fail "human map differs"
"$VDK" map --output=json a.raw > m.json
qemu-img map --output=json a.raw > q.json
diff q.json m.json || fail "json map differs"
"$VDK" map --output=json --start-offset=4M --max-length=8M a.raw > part.json
python3 - <<'PY' || fail "start/max-length"
import json
e = json.load(open("part.json"))
assert e[0]["start"] == 4 << 20, e
assert e[-1]["start"] + e[-1]["length"] == 12 << 20, e
assert any(x["data"] and x["start"] == 5 << 20 and x["length"] == 1 << 20 for x in e), e
PY
# an empty file
: > empty.raw
"$VDK" map --output=json empty.raw > e.json
qemu-img map --output=json -f raw empty.raw | diff - e.json >&2 || fail "map of an empty image"
expect_rc 1 "$VDK" map --output=xml a.raw
expect_grep "human or json" "$TMP/err"
echo OK
