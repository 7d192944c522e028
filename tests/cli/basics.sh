#!/bin/bash
# --help, --version, per-command help, unknown commands and options.
. "$(dirname "$0")/../functions.sh"

"$VDK" --help > help.txt
for c in create info convert resize compare map dd bench sparsify rebase commit measure; do
  expect_grep "^  $c " help.txt
  "$VDK" $c --help > c.txt
  expect_grep "Usage: vdk $c" c.txt
  "$VDK" help $c > c2.txt
  cmp c.txt c2.txt || fail "help $c differs from $c --help"
done
"$VDK" --version | grep -Eq '^vdk version [0-9]+\.[0-9]+\.[0-9]+$' || fail "--version"
expect_rc 1 "$VDK" frobnicate
expect_grep "unknown command 'frobnicate'" "$TMP/err"
expect_rc 1 "$VDK" info --frob x
expect_grep "Try 'vdk info --help'" "$TMP/err"
expect_rc 1 "$VDK"
echo OK
