#!/bin/bash
# Backing chains with qcow2: info --backing-chain, map depth, loops,
# rebase (safe, unsafe, flatten) and commit (default, -d, -b); every result
# is checked against a raw reference and with qemu-img.
. "$(dirname "$0")/../functions.sh"
requires qemu-img qemu-io
"$VDK" --help | grep -q '^Formats:.* qcow2' || skip "qcow2 is not in this build"

# base.raw (A at 0, B at 4M) <- mid.qcow2 (C at 1M) <- top.qcow2 (D at 4.5M)
truncate -s 8M base.raw
qemu-io -f raw -c 'write -P 0xaa 0 1M' -c 'write -P 0xbb 4M 1M' base.raw >/dev/null
"$VDK" create -q -f qcow2 -b base.raw -F raw mid.qcow2
qemu-io -f qcow2 -c 'write -P 0xcc 1M 1M' mid.qcow2 >/dev/null
"$VDK" create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2
qemu-io -f qcow2 -c 'write -P 0xdd 4608k 512k' top.qcow2 >/dev/null
qemu-img convert -O raw top.qcow2 ref.raw

"$VDK" info --backing-chain top.qcow2 > chain.txt
expect_eq "$(grep -c '^image:' chain.txt)" 3 "chain length"
"$VDK" info --backing-chain --output=json top.qcow2 > chain.json
expect_eq "$(json_get chain.json 'len(j)')" 3
expect_eq "$(json_get chain.json 'j[1]["backing-filename"]')" base.raw
"$VDK" map --output=json top.qcow2 > m.json
qemu-img map --output=json top.qcow2 > q.json
python3 - <<'PY' || fail "map depth differs from qemu-img"
import json
def norm(p):
    # compare start/length/depth/present/zero/data per byte range
    out = []
    for e in json.load(open(p)):
        out.append((e["start"], e["length"], e["depth"], e["present"], e["zero"], e["data"]))
    return out
a, b = norm("m.json"), norm("q.json")
assert a == b, (a, b)
PY
"$VDK" compare top.qcow2 ref.raw >/dev/null || fail "chain reads"

# a loop: top -> mid -> top
cp mid.qcow2 loop.qcow2
"$VDK" rebase -u -b loop.qcow2 -F qcow2 loop.qcow2
expect_rc 1 "$VDK" info loop.qcow2
expect_grep "loop" "$TMP/err"

# chains deeper than 64 images are refused, not followed
truncate -s 1M l0.raw
prev=l0.raw; pfmt=raw
for i in $(seq 1 70); do
  "$VDK" create -q -u -f qcow2 -b "$prev" -F $pfmt "l$i.qcow2" 1M
  prev=l$i.qcow2; pfmt=qcow2
done
expect_rc 1 "$VDK" info l70.qcow2
expect_grep "deeper than 64" "$TMP/err"
expect_rc 0 "$VDK" info l60.qcow2
# a relative backing name resolves against the overlay's directory
mkdir -p sub
"$VDK" create -q -f qcow2 -b ../base.raw -F raw sub/rel.qcow2
(cd / && "$VDK" compare "$TMP/sub/rel.qcow2" "$TMP/base.raw" >/dev/null) || fail "relative backing name"

# rebase safe: top onto base.raw directly; content unchanged, C copied up
cp top.qcow2 t1.qcow2
"$VDK" rebase -b base.raw -F raw t1.qcow2
expect_eq "$(qemu-img info --output=json t1.qcow2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["backing-filename"])')" base.raw
qemu-img compare t1.qcow2 ref.raw >/dev/null || fail "safe rebase changed content"
qemu-img check t1.qcow2 >/dev/null || fail "qemu-img check after rebase"
# flatten
cp top.qcow2 t2.qcow2
"$VDK" rebase -b "" t2.qcow2
qemu-img info t2.qcow2 | grep -q 'backing file' && fail "flatten kept a backing file"
qemu-img compare t2.qcow2 ref.raw >/dev/null || fail "flatten changed content"
# unsafe: only the name changes
cp top.qcow2 t3.qcow2
"$VDK" rebase -u -b base.raw -F raw t3.qcow2
expect_rc 1 "$VDK" compare t3.qcow2 ref.raw     # C at 1M is no longer visible
expect_rc 1 "$VDK" rebase -b missing.raw t3.qcow2
expect_grep "Could not open new backing file" "$TMP/err"

# commit top into mid (default), top is emptied
cp top.qcow2 c1.qcow2; cp mid.qcow2 c1mid.qcow2
"$VDK" rebase -u -b c1mid.qcow2 -F qcow2 c1.qcow2
expect_eq "$("$VDK" commit c1.qcow2)" "Image committed."
qemu-img compare c1mid.qcow2 ref.raw >/dev/null || fail "commit: mid does not hold the data"
qemu-img compare c1.qcow2 ref.raw >/dev/null || fail "commit: top reads differently"
qemu-img check c1mid.qcow2 >/dev/null || fail "check mid after commit"
qemu-img map --output=json c1.qcow2 | grep -q '"depth": 0, "present": true' \
  && fail "top not emptied"
# -b base: commit everything down into the raw base
cp base.raw c2base.raw; cp mid.qcow2 c2mid.qcow2; cp top.qcow2 c2.qcow2
"$VDK" rebase -u -b c2base.raw -F raw c2mid.qcow2
"$VDK" rebase -u -b c2mid.qcow2 -F qcow2 c2.qcow2
"$VDK" commit -q -b c2base.raw c2.qcow2
cmp c2base.raw ref.raw || fail "commit -b: base does not hold everything"
expect_rc 1 "$VDK" commit -b nothere.raw c2.qcow2
expect_grep "Did not find" "$TMP/err"
expect_rc 1 "$VDK" commit base.raw
expect_grep "does not have a backing file" "$TMP/err"
echo OK
