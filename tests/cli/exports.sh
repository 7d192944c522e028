#!/bin/bash
# The shared library exports only the public API (disk_*), and a program
# using only include/vdk/disk.h links against it.
. "$(dirname "$0")/../functions.sh"
requires nm cc
lib=$(ls "$BUILDDIR"/libdisk.so.* 2>/dev/null | head -1)
[ -n "$lib" ] || fail "libdisk.so not built"
bad=$(nm -D --defined-only "$lib" | awk '$2 ~ /[TDBR]/ {print $3}' | grep -v '^disk_' || true)
[ -z "$bad" ] || fail "symbols exported beyond the public API: $bad"
nm -D --defined-only "$lib" | grep -Eq ' T disk_open(@@.*)?$' || fail "disk_open not exported"
grep -q '^Name: vdk-disk' "$BUILDDIR/meson-private/vdk-disk.pc" || fail "pkg-config file"
cat > t.c <<'C'
#include <stdio.h>
#include <vdk/disk.h>
int main (int argc, char **argv) {
  struct disk *d;
  if (argc < 2 || disk_open (&d, argv[1], NULL, 0, NULL) < 0) {
    fprintf (stderr, "%s\n", disk_last_error ());
    return 1;
  }
  printf ("%s %lld\n", disk_get_format (d), (long long) disk_get_size (d));
  return disk_close (d) < 0;
}
C
san=
case "$(ldd "$lib")" in *libasan*) san="-fsanitize=address,undefined" ;; esac
cc $san -Wall -Werror -I"$SRCDIR/include" t.c -L"$BUILDDIR" -ldisk -o t 2>cc.err || { cat cc.err; fail "cc"; }
truncate -s 3M img.raw
expect_eq "$(LD_LIBRARY_PATH="$BUILDDIR" ./t img.raw)" "raw 3145728"
expect_rc 1 env LD_LIBRARY_PATH="$BUILDDIR" ./t nope.raw
expect_grep "nope.raw: No such file or directory" "$TMP/err"
echo OK
