#!/bin/bash
# qcow2 images written by qemu-img/qemu-io read back byte-exact by vdk
# (vdk convert -O raw against qemu-img convert -O raw), and info fields.
. "$(dirname "$0")/../functions.sh"
requires qemu-img qemu-io python3

# a 4 MiB source: random data, a zero run, holes
head -c 3M /dev/urandom > src.raw
dd if=/dev/zero of=src.raw bs=64k seek=10 count=3 conv=notrunc status=none
truncate -s 4M src.raw

same () {   # same IMAGE WHAT: vdk and qemu-img read the same bytes
  "$VDK" convert -O raw "$1" v.raw || fail "$2: vdk convert failed"
  qemu-img convert -O raw "$1" q.raw
  cmp v.raw q.raw || fail "$2: vdk reads different data than qemu-img"
  rm -f v.raw q.raw
}

n=0
for o in cluster_size=512 cluster_size=4k cluster_size=64k cluster_size=2M \
         compat=0.10 compat=0.10,cluster_size=1k \
         refcount_bits=1 refcount_bits=2 refcount_bits=4 refcount_bits=8 \
         refcount_bits=32 refcount_bits=64,cluster_size=512 \
         extended_l2=on extended_l2=on,cluster_size=16k extended_l2=on,cluster_size=2M \
         lazy_refcounts=on preallocation=metadata preallocation=falloc; do
  qemu-img convert -O qcow2 -o "$o" src.raw m.qcow2
  same m.qcow2 "$o"
  n=$((n+1))
done

# compressed, both compression types, several cluster sizes
for c in zlib zstd; do
  for cs in 4k 64k 1M; do
    qemu-img convert -c -O qcow2 -o compression_type=$c,cluster_size=$cs src.raw z.qcow2
    same z.qcow2 "compressed $c $cs"
    "$VDK" info z.qcow2 > info.txt
    expect_grep "compression type: $c" info.txt
  done
done

# zero clusters, partial writes, subclusters, discards (qemu-io)
for o in "" extended_l2=on compat=0.10; do
  qemu-img create -q -f qcow2 ${o:+-o $o} io.qcow2 4M
  qemu-io -c 'write -P 0x5a 0 200k' -c 'write -z 64k 64k' -c 'write -P 7 3000 5000' \
          -c 'write -P 9 1M 3k' -c 'write -z 2M 4k' -c 'discard 128k 64k' \
          -c 'write -c -P 3 3M 64k' io.qcow2 > /dev/null
  same io.qcow2 "qemu-io ${o:-default}"
done

# backing chain of depth 3 with relative names and mixed formats
mkdir -p chain/sub
qemu-img create -q -f raw chain/base.raw 4M
qemu-io -f raw -c 'write -P 1 0 4M' chain/base.raw > /dev/null
qemu-img create -q -f qcow2 -b base.raw -F raw chain/mid.qcow2
qemu-io -c 'write -P 2 1M 1M' -c 'write -z 3M 64k' chain/mid.qcow2 > /dev/null
qemu-img create -q -f qcow2 -o cluster_size=4k -b ../mid.qcow2 -F qcow2 chain/sub/top.qcow2
qemu-io -c 'write -P 3 1536k 8k' -c 'write -P 4 100 10' chain/sub/top.qcow2 > /dev/null
same chain/sub/top.qcow2 "backing chain"
"$VDK" info chain/sub/top.qcow2 > info.txt
expect_grep "backing file: ../mid.qcow2" info.txt
expect_grep "backing file format: qcow2" info.txt
# an overlay smaller than its backing file, and one larger
qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 chain/big.qcow2 6M
same chain/big.qcow2 "overlay larger than backing"

# external data files
qemu-img create -q -f qcow2 -o data_file=df.raw ext.qcow2 4M
qemu-io -c 'write -P 8 64k 300k' -c 'write -z 100k 4k' ext.qcow2 > /dev/null
same ext.qcow2 "data_file"
"$VDK" info ext.qcow2 > info.txt
expect_grep "data file: df.raw" info.txt
expect_grep "data file raw: false" info.txt
qemu-img create -q -f qcow2 -o data_file=dfr.raw,data_file_raw=on,extended_l2=on extr.qcow2 4M
qemu-io -c 'write -P 8 64k 300k' extr.qcow2 > /dev/null
same extr.qcow2 "data_file_raw"

# internal snapshots: the active state is read
qemu-img create -q -f qcow2 sn.qcow2 4M
qemu-io -c 'write -P 1 0 1M' sn.qcow2 > /dev/null
qemu-img snapshot -c s1 sn.qcow2
qemu-io -c 'write -P 2 512k 1M' sn.qcow2 > /dev/null
qemu-img snapshot -c s2 sn.qcow2
qemu-io -c 'write -P 3 0 64k' sn.qcow2 > /dev/null
same sn.qcow2 "snapshots, active state"
"$VDK" info sn.qcow2 > info.txt
expect_grep "^1 *s1 " info.txt
expect_grep "^2 *s2 " info.txt
qemu-img snapshot -a s1 sn.qcow2
same sn.qcow2 "snapshot s1 applied by qemu-img"

# info: format specific lines as qemu-img prints them
for o in compat=0.10 compat=1.1,lazy_refcounts=on,refcount_bits=8 extended_l2=on \
         compression_type=zstd data_file=x.raw,data_file_raw=on; do
  qemu-img create -q -f qcow2 -o $o i.qcow2 1M
  "$VDK" info i.qcow2 | sed -n '/^cluster_size/,$p' > v.txt
  qemu-img info i.qcow2 | sed -n '/^cluster_size/,$p' > q.txt
  diff -u q.txt v.txt || fail "info differs for $o"
  "$VDK" info --output=json i.qcow2 > vj.txt
  qemu-img info --output=json i.qcow2 > qj.txt
  python3 - vj.txt qj.txt <<'PY' || fail "json info differs for $o"
import json, sys
v = json.load(open(sys.argv[1]))["format-specific"]
q = json.load(open(sys.argv[2]))["format-specific"]
sys.exit(0 if v == q else 1)
PY
done
echo "OK: $n option sets and the special cases read byte-exact"
