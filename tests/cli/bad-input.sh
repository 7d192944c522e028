#!/bin/bash
# Bad command-line input: one clear line, non-zero exit, nothing created or damaged.
. "$(dirname "$0")/../functions.sh"

check_one_line () { [ "$(wc -l < "$TMP/err")" -le 2 ] || { cat "$TMP/err"; fail "more than one message"; }; }

expect_rc 1 "$VDK" create x.raw 10Q; check_one_line
expect_grep "Invalid image size specified" "$TMP/err"
expect_rc 1 "$VDK" create x.raw -- -5G; check_one_line
expect_rc 1 "$VDK" create x.raw 99999999999999999999999; check_one_line
expect_grep "too large" "$TMP/err"
expect_rc 1 "$VDK" create x.raw 32E
expect_rc 1 "$VDK" create -f nosuchfmt x.raw 1G; check_one_line
expect_grep "Unknown file format 'nosuchfmt'" "$TMP/err"
expect_rc 1 "$VDK" create -o cluster_size=64k x.raw 1G
expect_grep "Invalid parameter 'cluster_size'" "$TMP/err"
expect_rc 1 "$VDK" create -b base.raw x.raw 1G
expect_grep "Backing file not supported" "$TMP/err"
expect_rc 1 "$VDK" create x.qcow2
expect_grep "needs a size" "$TMP/err"
[ ! -e x.raw ] || fail "failed create left x.raw"
mkdir d
expect_rc 1 "$VDK" info d
expect_grep "is a directory" "$TMP/err"
expect_rc 1 "$VDK" create d 1M
expect_grep "is a directory" "$TMP/err"
expect_rc 1 "$VDK" info missing.img
expect_grep "missing.img: No such file or directory" "$TMP/err"
expect_rc 1 "$VDK" info -f nosuchfmt d
expect_rc 1 "$VDK" convert missing.img out.raw
[ ! -e out.raw ] || fail "failed convert created out.raw"
expect_rc 1 "$VDK" convert -m 0 a b
expect_rc 1 "$VDK" convert -O nosuchfmt /dev/null out.raw
[ ! -e out.raw ] || fail "convert to an unknown format created out.raw"
expect_rc 1 "$VDK" info nosuchproto:foo
expect_grep "unknown protocol 'nosuchproto'" "$TMP/err"
expect_rc 1 "$VDK" info 'json:{"driver": '
expect_grep "json" "$TMP/err"
expect_rc 1 "$VDK" info -o
# An existing image is untouched by a failing command.
head -c 1M /dev/urandom > keep.raw; cp keep.raw keep.orig
expect_rc 1 "$VDK" resize keep.raw 1Q
expect_rc 1 "$VDK" convert -n keep.orig keep.raw --bogus
cmp keep.raw keep.orig || fail "image damaged by failed commands"
echo OK
