#!/bin/sh
# soname.sh NAME CC [ARGS...]: print the SONAME of libNAME.so as the C
# compiler CC would link it (meson uses it to know which file to dlopen:
# libdisk/lazy/lazy.h).  Fails when the library or its SONAME is not found.
set -eu
name=$1
shift
path=$("$@" -print-file-name="lib$name.so")
[ -f "$path" ] || { echo "soname.sh: lib$name.so not found" >&2; exit 1; }
so=$(readelf -d "$path" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
[ -n "$so" ] || { echo "soname.sh: $path has no SONAME" >&2; exit 1; }
echo "$so"
