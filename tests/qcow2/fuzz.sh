#!/bin/bash
# The qcow2 fuzz harness: replay a corpus of valid and corrupted images (any
# compiler); with a libFuzzer build, also fuzz for a few seconds.
. "$(dirname "$0")/../functions.sh"
requires qemu-img qemu-io perl
F="$BUILDDIR/tests/qcow2/fuzz-qcow2"
[ -x "$F" ] || skip "fuzz-qcow2 not built"

mkdir corpus
i=0
for o in "" compat=0.10 extended_l2=on cluster_size=512 refcount_bits=8 compression_type=zstd; do
  qemu-img create -q -f qcow2 ${o:+-o $o} corpus/c$i.qcow2 256k
  qemu-io -c 'write -P 1 0 64k' -c 'write -c -P 2 128k 64k' -c 'write -z 192k 4k' \
    corpus/c$i.qcow2 > /dev/null
  qemu-img snapshot -c s corpus/c$i.qcow2
  i=$((i+1))
done
# corrupted variants: every 8-byte field of the header and the first bytes
# of each metadata cluster, set to a few nasty values
for f in corpus/c0.qcow2 corpus/c2.qcow2; do
  for off in $(seq 0 8 104) 65536 131072 196608 262144 327680; do
    for v in 0 0xffffffffffffffff 0x8000000000000200 0x7fffffff00000000; do
      g=corpus/m$i.qcow2; i=$((i+1))
      cp "$f" "$g"
      perl -e 'open (F, "+<", $ARGV[0]) or die; seek (F, $ARGV[1], 0);
        print F pack ("Q>", oct ($ARGV[2]) || $ARGV[2]); close F' "$g" "$off" "$v"
    done
  done
done
"$F" corpus/* > replay.log 2>&1 || { tail -30 replay.log; fail "fuzz harness failed on the corpus"; }
"$F" -help=1 > help.txt 2>&1 || true
if grep -q libFuzzer help.txt; then
  "$F" -max_total_time=${QCOW2_FUZZ_SECONDS:-8} -rss_limit_mb=1024 -timeout=10 \
    -artifact_prefix="$TMP/" corpus > fuzz.log 2>&1 || { tail -30 fuzz.log; fail "fuzzer found a crash"; }
fi
echo "OK: $i inputs"
