#!/bin/bash
# vdk check on vhdx: the same output as qemu-img check on clean images, and
# overlapping payload blocks (two BAT entries pointing at one place) are
# reported as corruption with exit status 2.
. "$(dirname "$0")/../functions.sh"
requires qemu-img qemu-io python3

qemu-img create -q -f vhdx -o block_size=1M t.vhdx 64M
qemu-io -f vhdx -c 'write -P 0x11 0 1M' -c 'write -P 0x22 1M 1M' -c 'write -P 0x33 5M 512k' t.vhdx >/dev/null
for out in human json; do
  qemu-img check --output=$out t.vhdx > q.txt; qrc=$?
  "$VDK" check --output=$out t.vhdx > v.txt; vrc=$?
  diff q.txt v.txt || fail "check --output=$out differs from qemu-img"
  expect_eq "$vrc" "$qrc" "exit status ($out)"
done
"$VDK" create -q -f vhdx v.vhdx 16M
expect_rc 0 "$VDK" check v.vhdx
expect_grep "No errors were found on the image." "$TMP/out"

# point block 1's BAT entry at block 0's payload
python3 - <<'PY'
import json, struct, subprocess
import os
m = json.loads(subprocess.check_output([os.environ["VDK"], "map", "--output=json", "t.vhdx"]))
def host(g):   # host offset of guest offset g (entries may be merged)
    e = next(e for e in m if e["start"] <= g < e["start"] + e["length"] and e["data"])
    return e["offset"] + g - e["start"]
off0, off1 = host(0), host(1 << 20)
data = bytearray(open("t.vhdx", "rb").read())
e0 = struct.pack("<Q", off0 | 6)            # FULLY_PRESENT
e1 = struct.pack("<Q", off1 | 6)
# the BAT (copies in the log are patched too: harmless, the log is clean)
found = 0
i = data.find(e0)
while i >= 0:
    if data[i + 8:i + 16] == e1:
        data[i + 8:i + 16] = e0
        found += 1
    i = data.find(e0, i + 8)
assert found, "BAT not found"
open("t.vhdx", "wb").write(data)
PY
expect_rc 2 "$VDK" check t.vhdx
expect_grep "ERROR: VHDX blocks 0 and 1 overlap" "$TMP/err"
expect_grep "1 errors were found on the image." "$TMP/out"
echo OK
