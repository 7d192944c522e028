#!/bin/bash
# The network client libraries (librbd/librados, libiscsi, libnfs) are not
# linked: vdk dlopen()s each the first time a protocol or pool of its kind
# is used (libdisk/lazy/lazy.h).  Checked here: nothing of them is loaded by
# commands that do not need them, and a library that cannot be loaded (not
# an ELF file; or one without the functions vdk calls) gives a clear error
# naming it, from the protocols and from the pools, instead of a crash.
. "$(dirname "$0")/../functions.sh"
requires readelf cc

protos=$("$VDK" --help | sed -n 's/^Protocols: //p')
[ -n "$protos" ] || fail "no Protocols: line in --help"
case " $protos " in *" rbd "*|*" iscsi "*|*" nfs "*) ;; *) skip "built without network protocols";; esac

# No DT_NEEDED on any of them, in the tool or in libdisk.
lib=$(dirname "$VDK")/../../libdisk.so.0
readelf -d "$VDK" "$lib" > needed.txt
grep -q 'NEEDED.*libdisk' needed.txt || fail "readelf did not list vdk's libraries"
if grep -E 'NEEDED.*(librbd|librados|libiscsi|libnfs)' needed.txt; then
  fail "a network client library is linked"
fi

# Broken stand-ins found first through LD_LIBRARY_PATH: for iSCSI and NFS a
# file that is not an ELF object (dlopen fails), for RBD a real shared
# object that lacks librbd's functions (dlsym fails).
mkdir fake
so () { readelf -d "$(cc -print-file-name="lib$1.so")" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p'; }
echo 'not a library' > "fake/$(so iscsi)"
echo 'not a library' > "fake/$(so nfs)"
echo 'int vdk_fake_librbd;' > fake.c
cc -shared -fPIC -o "fake/$(so rbd)" fake.c
export LD_LIBRARY_PATH=$PWD/fake

# A command that does not need them runs: nothing is loaded up front.
"$VDK" --version > /dev/null
"$VDK" create -f qcow2 local.qcow2 1M > /dev/null
"$VDK" info local.qcow2 > /dev/null

export VDK_STATE_DIR=$TMP/state
case " $protos " in *" iscsi "*)
  expect_fail "$VDK" info iscsi://127.0.0.1:1/iqn.2026-01.org.example:none/1
  grep -q "iscsi://127.0.0.1:1/iqn.2026-01.org.example:none/1: cannot load the client library $(so iscsi) (.*)" err ||
    fail "iscsi: $(cat err)"
  "$VDK" pool-define-as ip iscsi --source-host 127.0.0.1 --source-dev iqn.2026-01.org.example:none \
    --target /dev/disk/by-path > /dev/null
  expect_fail "$VDK" pool-start ip
  grep -q "pool 'ip': cannot load the client library $(so iscsi)" err || fail "iscsi pool: $(cat err)"
esac
case " $protos " in *" nfs "*)
  expect_fail "$VDK" info nfs://127.0.0.1/export/x.img
  grep -q "nfs://127.0.0.1/export/x.img: cannot load the client library $(so nfs) (.*)" err ||
    fail "nfs: $(cat err)"
  "$VDK" pool-define-as np netfs --source-host 127.0.0.1 --source-path /export --target "$TMP/np" > /dev/null
  expect_fail "$VDK" pool-start np
  grep -q "pool 'np': cannot load the client library $(so nfs)" err || fail "netfs pool: $(cat err)"
esac
case " $protos " in *" rbd "*)
  expect_fail "$VDK" info rbd:pool/image:mon_host=127.0.0.1
  grep -q "cannot load the client library $(so rbd): it has no function rbd_" err || fail "rbd: $(cat err)"
  "$VDK" pool-define-as rp rbd --source-name pool --source-host 127.0.0.1 > /dev/null
  expect_fail "$VDK" pool-start rp
  grep -q "pool 'rp': cannot load the client library $(so rbd): it has no function rbd_" err ||
    fail "rbd pool: $(cat err)"
esac
echo OK
