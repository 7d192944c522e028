#!/bin/bash
# convert raw -> raw: exact data, holes kept, options, failure cleanup.
. "$(dirname "$0")/../functions.sh"
requires qemu-img

truncate -s 64M src.raw
# scattered data, one zero-filled (allocated) region, holes elsewhere
for off in 0 3 17 40 63; do
  head -c 300000 /dev/urandom | dd of=src.raw bs=64k seek=$((off * 16)) conv=notrunc status=none
done
dd if=/dev/zero of=src.raw bs=1M seek=50 count=4 conv=notrunc status=none

"$VDK" convert -f raw -O raw src.raw dst.raw
cmp src.raw dst.raw || fail "content differs"
qemu-img compare src.raw dst.raw >/dev/null || fail "qemu-img compare"
# Holes stay holes: dst allocates no more than the data (plus the zeroes skipped)
alloc=$(( $(stat -c %b dst.raw) * 512 ))
[ "$alloc" -lt $((3 * 1048576)) ] || fail "holes not kept: $alloc bytes allocated"

# -S 0: fully allocated output
"$VDK" convert -S 0 src.raw full.raw
cmp src.raw full.raw || fail "-S 0 content"
[ $(( $(stat -c %b full.raw) * 512 )) -ge $((64 * 1048576)) ] || fail "-S 0 not fully allocated"

# -W, -m, several sources concatenated, -p progress, --progress=json
"$VDK" convert -W -m 16 src.raw w.raw && cmp src.raw w.raw || fail "-W -m 16"
head -c 1M /dev/urandom > part2.raw
"$VDK" convert src.raw part2.raw cat.raw
cat src.raw part2.raw | cmp - cat.raw || fail "concatenation"
"$VDK" convert -p src.raw p.raw > prog.txt
grep -q '(100.00/100%)' prog.txt || fail "-p progress"
"$VDK" convert --progress=json src.raw pj.raw > prog.json
tail -1 prog.json | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); assert d["progress"]==100.0 and d["total"]==67108864' \
  || fail "--progress=json"

# -n into an existing (dirty) target: zeroes must be written
head -c 64M /dev/urandom > dirty.raw
"$VDK" convert -n src.raw dirty.raw
cmp src.raw dirty.raw || fail "-n into a dirty target"
# -n with --target-is-zero on a fresh sparse target
truncate -s 64M tz.raw
"$VDK" convert -n --target-is-zero src.raw tz.raw && cmp src.raw tz.raw || fail "--target-is-zero"
expect_fail "$VDK" convert --target-is-zero src.raw tz2.raw
expect_grep "requires use of -n" "$TMP/err"

# Target too small with -n
truncate -s 1M small.raw
expect_fail "$VDK" convert -n src.raw small.raw
expect_grep "^vdk: output file is smaller than input file$" "$TMP/err"

# cache=none on both sides (O_DIRECT) — skip if tmpfs refuses O_DIRECT
if "$VDK" convert -t none -T none src.raw direct.raw 2>direct.err; then
  cmp src.raw direct.raw || fail "cache=none content"
else
  grep -q "O_DIRECT" direct.err || { cat direct.err; fail "cache=none failed"; }
fi

# A failed convert removes the target it created: unreadable source region
# is hard to fake, so interrupt a slow convert instead.
truncate -s 2G big.raw
head -c 1M /dev/urandom | dd of=big.raw bs=1M seek=1000 conv=notrunc status=none
"$VDK" convert -S 0 big.raw out.raw 2>int.err &
pid=$!
# Background jobs of a script start with SIGINT ignored until vdk installs
# its handler: repeat the signal until vdk has it (or has exited).
sleep 0.3
for _ in $(seq 100); do kill -INT $pid 2>/dev/null || break; sleep 0.1; done
wait $pid && fail "interrupted convert succeeded" || true
grep -q "removed the incomplete output" int.err || { cat int.err; fail "no removal message"; }
[ ! -e out.raw ] || fail "interrupted convert left out.raw"

# vdk reads what qemu-img writes and vice versa
qemu-img convert -O raw src.raw q.raw
"$VDK" compare q.raw dst.raw >/dev/null || fail "vdk compare vs qemu-img output"
echo OK
