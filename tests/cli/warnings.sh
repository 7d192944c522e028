#!/bin/bash
# libdisk's warnings reach stderr as "vdk: warning: ..." lines, the command
# still succeeds and stdout stays clean.
. "$(dirname "$0")/../functions.sh"

"$VDK" create -q -f vpc w.vpc 10M
# spoil the dynamic header's checksum (vpc reads on, with a warning)
python3 -c "
f = open('w.vpc', 'r+b'); f.seek(512 + 36); b = f.read(1)
f.seek(512 + 36); f.write(bytes([b[0] ^ 0xff])); f.close()"
"$VDK" info w.vpc > out.txt 2> err.txt || fail "info failed on a warning"
expect_grep "^vdk: warning: w.vpc: dynamic disk header checksum is incorrect$" err.txt
[ "$(wc -l < err.txt)" = 1 ] || fail "one warning expected"
grep -q warning out.txt && fail "warning on stdout"
expect_grep "virtual size" out.txt
# a clean image: no warning
"$VDK" create -q -f vpc c.vpc 10M
"$VDK" info c.vpc > out.txt 2> err.txt
[ ! -s err.txt ] || fail "warning for a clean image: $(cat err.txt)"
echo OK
