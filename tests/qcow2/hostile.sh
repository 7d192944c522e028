#!/bin/bash
# Hostile qcow2 images: one field corrupted at a time gives one clear error
# naming the file (no crash, no hang, no huge allocation).
. "$(dirname "$0")/../functions.sh"
requires qemu-img qemu-io perl

qemu-img create -q -f qcow2 good.qcow2 4M
qemu-io -c 'write -P 1 0 1M' -c 'write -c -P 2 2M 64k' -c 'write -c -P 3 3M 256k' good.qcow2 > /dev/null

# poke IMAGE OFFSET FORMAT VALUE (struct format, big-endian)
poke () {
  perl -e 'open (F, "+<", $ARGV[0]) or die; seek (F, $ARGV[1], 0);
    my $v = $ARGV[3]; $v = oct ($v) if $v =~ /^0/;
    print F pack ($ARGV[2] eq "Q" ? "Q>" : "N", $v); close F' "$@"
}
rd64 () {
  perl -e 'open (F, "<", $ARGV[0]) or die; seek (F, $ARGV[1], 0); read (F, my $b, 8);
    print unpack ("Q>", $b), "\n"' "$@"
}

# bad NAME PATTERN [CMD...]: the image fails with one error line matching
bad () {
  local name=$1 pat=$2; shift 2
  local rc=0
  if [ $# -eq 0 ]; then set -- "$VDK" convert -O raw h.qcow2 out.raw; fi
  "$@" > out.txt 2> err0.txt || rc=$?
  [ "$rc" = 1 ] || { cat err0.txt; fail "$name: exit status $rc (want 1)"; }
  grep -v "removed the incomplete output" err0.txt > err.txt || true
  [ "$(wc -l < err.txt)" = 1 ] || { cat err.txt; fail "$name: not exactly one error line"; }
  grep -q "h.qcow2" err.txt || { cat err.txt; fail "$name: error does not name the file"; }
  grep -qi -- "$pat" err.txt || { cat err.txt; fail "$name: error does not say '$pat'"; }
  rm -f out.raw
}

fresh () { cp good.qcow2 h.qcow2; }

fresh; truncate -s 50 h.qcow2;              bad "truncated header" "too small"
fresh; truncate -s 90 h.qcow2;              bad "truncated v3 header" "too small"
fresh; poke h.qcow2 4 I 4;                  bad "version 4" "version"
fresh; poke h.qcow2 20 I 30;                bad "cluster_bits 30" "cluster size"
fresh; poke h.qcow2 20 I 8;                 bad "cluster_bits 8" "cluster size"
fresh; poke h.qcow2 40 Q 0x100000000000;    bad "L1 beyond EOF" "L1 table"
fresh; poke h.qcow2 36 I 0x7fffffff;        bad "huge L1 size" "L1 table too large"
fresh; poke h.qcow2 36 I 0;                 bad "L1 too small" "L1 table is too small"
fresh; poke h.qcow2 40 Q 0;                 bad "L1 over the header" "overlaps the header"
fresh; poke h.qcow2 40 Q 0x30001;           bad "L1 unaligned" "aligned"
fresh; poke h.qcow2 48 Q 0;                 bad "refcount table over the header" "overlaps the header"
fresh; poke h.qcow2 56 I 0x10000000;        bad "huge refcount table" "refcount table"
fresh; poke h.qcow2 60 I 0x7fffffff;        bad "too many snapshots" "snapshots"
fresh; poke h.qcow2 60 I 1; poke h.qcow2 64 Q 0x7fff0000; bad "snapshot table beyond EOF" "snapshot table"
fresh; poke h.qcow2 72 Q 0x100;             bad "unknown incompatible bit" "Unsupported qcow2 feature"
fresh; poke h.qcow2 96 I 7;                 bad "refcount_order 7" "refcount"
fresh; poke h.qcow2 100 I 0x10000000;       bad "header length" "header length"
fresh; poke h.qcow2 24 Q 0x7fffffffffffffff; bad "huge virtual size" "too large"
fresh; poke h.qcow2 32 I 1;                 bad "encrypted" "encrypted"
fresh; poke h.qcow2 16 I 5000; poke h.qcow2 8 Q 200; bad "backing name too long" "backing file"
# a header extension whose length runs past the cluster
fresh; poke h.qcow2 112 I 0x12345678; poke h.qcow2 116 I 0xfffffff0; bad "extension length" "extension"
# L1 entry pointing at an unaligned / out-of-file L2 table
l1=$(rd64 good.qcow2 40)
fresh; poke h.qcow2 $l1 Q 0x8000000000030200; bad "unaligned L2" "not cluster aligned"
fresh; poke h.qcow2 $l1 Q 0x8000001000000000; bad "L2 beyond EOF" "beyond the end"
# a compressed cluster descriptor pointing past the end of the file
l2=$(( $(rd64 good.qcow2 $l1) & 0xfffffffffe00 ))
fresh; poke h.qcow2 $((l2 + 32 * 8)) Q $(( (1 << 62) | 0x3ffffffff0 )); bad "compressed beyond EOF" "outside the image file"
# in a run of compressed clusters (decoded in parallel): one descriptor past
# the end of the file, one cluster whose data is garbage
fresh; poke h.qcow2 $((l2 + 50 * 8)) Q $(( (1 << 62) | 0x3ffffffff0 )); bad "compressed run beyond EOF" "outside the image file"
c50=$(( $(rd64 good.qcow2 $((l2 + 50 * 8))) & 0xffffffffffff ))
fresh; poke h.qcow2 $c50 Q 0xffffffffffffffff; bad "garbage in a compressed run" "could not be decompressed"

# a backing chain that loops
qemu-img create -q -f qcow2 loop1.qcow2 1M
qemu-img create -q -f qcow2 -u -b loop1.qcow2 -F qcow2 h.qcow2 1M
qemu-img rebase -q -u -f qcow2 -b h.qcow2 -F qcow2 loop1.qcow2
bad "backing loop" "loop" "$VDK" info --backing-chain h.qcow2

# the corrupt bit: readable, not writable
fresh; poke h.qcow2 72 Q 2
"$VDK" convert -O raw h.qcow2 out.raw || fail "corrupt image should be readable"
"$VDK" info h.qcow2 | grep -q "corrupt: true" || fail "info should show corrupt: true"
bad "corrupt bit, write" "corrupt" "$VDK" resize h.qcow2 +1M
echo OK
