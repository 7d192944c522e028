#!/bin/bash
# resize raw: grow, shrink (refused without --shrink), relative sizes, preallocation.
. "$(dirname "$0")/../functions.sh"
requires qemu-img

"$VDK" create -q a.raw 1G
head -c 1M /dev/urandom > data
dd if=data of=a.raw conv=notrunc status=none
expect_eq "$("$VDK" resize a.raw +1G)" "Image resized."
expect_eq "$(stat -c %s a.raw)" $((2 << 30))
expect_eq "$(qemu-img info --output=json a.raw | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')" $((2 << 30))
expect_rc 1 "$VDK" resize a.raw -1G
expect_grep "Use the --shrink option" "$TMP/err"
expect_eq "$(stat -c %s a.raw)" $((2 << 30)) "refused shrink changed nothing"
"$VDK" resize --shrink a.raw -- -1G >/dev/null
expect_eq "$(stat -c %s a.raw)" $((1 << 30))
"$VDK" resize --shrink -q a.raw 512M
expect_eq "$(stat -c %s a.raw)" $((512 << 20))
head -c 1M a.raw | cmp - data || fail "data lost by resize"
"$VDK" resize --preallocation=full a.raw +8M >/dev/null
[ $(( $(stat -c %b a.raw) * 512 )) -ge $((9 << 20)) ] || fail "preallocation=full"
expect_rc 1 "$VDK" resize a.raw -- -10G
expect_grep "must be positive" "$TMP/err"
expect_rc 1 "$VDK" resize a.raw 10Q
expect_grep "^vdk: Parameter 'size' expects a non-negative number below 2^64$" "$TMP/err"
expect_rc 1 "$VDK" resize a.raw +16E
expect_eq "$(stat -c %s a.raw)" $(((512 + 8) << 20)) "failed resizes changed nothing"
expect_rc 1 "$VDK" resize --preallocation=bogus a.raw +1M
expect_grep "Invalid preallocation mode 'bogus'" "$TMP/err"
echo OK
