#!/bin/bash
# net-convert.sh - convert a local image to each network backend and back,
# vdk vs qemu-img in the same run, and print the time ratios.
#
#   bench/net-convert.sh [VDK]      (default VDK: build/tools/vdk/vdk)
#
# Environment: BENCH_MIB (image size, default 256; half of it random data,
# the rest holes), BENCH_RUNS (best of N, default 3), BENCH_BACKENDS
# (default "nfs iscsi rbd").  Starts the test servers from tests/services/
# on 127.0.0.1 and stops them (by PID) at the end; the iSCSI LUNs are
# thin-provisioned (GET LBA STATUS answers, as on a real array).  The local source is raw,
# and also qcow2 when this vdk has the qcow2 format.  Both tools run with
# the same output cache mode, BENCH_CACHE (default writeback: the output is
# flushed once at the end -- NFS COMMIT, SYNCHRONIZE CACHE, rbd_flush, fsync;
# both tools' default, unsafe, skips that flush).  Timings on a shared
# machine are noisy: use BENCH_RUNS >= 3.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SVC=$HERE/../tests/services
VDK=$(realpath "${1:-$HERE/../build/tools/vdk/vdk}")
MIB=${BENCH_MIB:-256}
RUNS=${BENCH_RUNS:-3}
BACKENDS=${BENCH_BACKENDS:-nfs iscsi rbd}
CACHE=${BENCH_CACHE:-writeback}
command -v qemu-img >/dev/null || { echo "qemu-img is needed (qemu-utils, qemu-block-extra)" >&2; exit 1; }
W=$(mktemp -d /tmp/vdk-bench-net.XXXXXX)
stops=()
cleanup () {
  for ((i = ${#stops[@]} - 1; i >= 0; i--)); do eval "${stops[$i]}" >/dev/null 2>&1 || true; done
  rm -rf "$W"
}
trap cleanup EXIT

# one timed run of CMD in microseconds
timed () {
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null 2>"$W/last.err" || { cat "$W/last.err" >&2; echo "FAILED: $*" >&2; exit 1; }
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000 ))
}

# pair PRE_V PRE_Q -- VDK_CMD... -- QEMU_CMD...: RUNS interleaved runs of
# both (so background noise hits both alike), best of each, in seconds:
# sets A and B.  PRE_* (untimed) run before each run.
pair () {
  local prev=$1 preq=$2 ba= bb= d
  local -a cv=() cq=()
  shift 3
  while [ "$1" != -- ]; do cv+=("$1"); shift; done
  shift
  cq=("$@")
  for ((r = 0; r < RUNS; r++)); do
    eval "$prev" >/dev/null 2>&1 || true
    d=$(timed "${cv[@]}")
    [ -z "$ba" ] || [ "$d" -lt "$ba" ] && ba=$d
    eval "$preq" >/dev/null 2>&1 || true
    d=$(timed "${cq[@]}")
    [ -z "$bb" ] || [ "$d" -lt "$bb" ] && bb=$d
  done
  A=$(awk -v u="$ba" 'BEGIN { printf "%.3f", u / 1e6 }')
  B=$(awk -v u="$bb" 'BEGIN { printf "%.3f", u / 1e6 }')
}

# source images
truncate -s "${MIB}M" "$W/src.raw"
for ((o = 0; o < MIB; o += 8)); do
  head -c 4M /dev/urandom | dd of="$W/src.raw" bs=1M seek=$o conv=notrunc status=none
done
fmts=raw
if "$VDK" --help | grep -q '^Formats:.* qcow2\b'; then
  qemu-img convert -O qcow2 "$W/src.raw" "$W/src.qcow2"
  fmts="raw qcow2"
fi
sync   # no writeback of the fresh sources during the first runs

printf '%-7s %-6s %-5s %9s %9s %7s\n' backend src dir vdk_s qemu_s ratio
row () { # BACKEND FMT DIR VDK_S QEMU_S
  printf '%-7s %-6s %-5s %9s %9s %6.2fx\n' "$1" "$2" "$3" "$4" "$5" \
    "$(awk -v a="$4" -v b="$5" 'BEGIN { print (a > 0 ? b / a : 0) }')"
}

for be in $BACKENDS; do
  if ! "$VDK" --help | grep -q "^Protocols:.* $be\b"; then echo "$be: not built in this vdk, skipped"; continue; fi
  case $be in
  nfs)
    stops+=("'$SVC/nfs.sh' stop '$W/nfs'")
    "$SVC/nfs.sh" start "$W/nfs" "$W/export" 2>/dev/null || { echo "nfs: server cannot start, skipped"; continue; }
    . "$W/nfs/env"
    # qemu-img finds the server through the portmapper, which another
    # ganesha started later (tests, other users) may have taken over
    pm=$(rpcinfo -p 127.0.0.1 2>/dev/null | awk '$1 == 100003 && $2 == 3 && $3 == "tcp" { print $4; exit }')
    [ "$pm" = "$NFS_PORT" ] || { echo "nfs: the portmapper points to another NFS server (port ${pm:-none}), skipped"; continue; }
    tv=$NFS_URL/v.img; tq=$NFS_URL/q.img; create=() ;;
  iscsi)
    stops+=("'$SVC/iscsi.sh' stop '$W/iscsi'")
    "$SVC/iscsi.sh" start "$W/iscsi" --thin --luns "$((MIB * 2))M,$((MIB * 2))M" 2>/dev/null || { echo "iscsi: target cannot start, skipped"; continue; }
    . "$W/iscsi/env"
    tv=iscsi://$ISCSI_PORTAL/$ISCSI_IQN/1; tq=iscsi://$ISCSI_PORTAL/$ISCSI_IQN/2; create=(-n) ;;
  rbd)
    stops+=("'$SVC/ceph.sh' stop '$W/ceph'")
    CEPH_STORE_SIZE=$((MIB * 6))M "$SVC/ceph.sh" start "$W/ceph" 2>/dev/null || { echo "rbd: cluster cannot start, skipped"; continue; }
    . "$W/ceph/env"
    tv="rbd:rbd/v:conf=$CEPH_CONF"; tq="rbd:rbd/q:conf=$CEPH_CONF"; create=() ;;
  esac
  # both tools create the output: start each run without it (qemu-img
  # refuses an existing RBD image; over an existing NFS file qemu-img 7.2
  # writes into the old file's blocks and leaves its old data where the
  # source has holes, while vdk truncates it: both start from no file)
  case $be in
  rbd) rmv="rbd --conf $CEPH_CONF rm --no-progress rbd/v"; rmq="rbd --conf $CEPH_CONF rm --no-progress rbd/q" ;;
  nfs) # through the server (ganesha caches the handles of files removed under it)
    "$VDK" --state-dir "$W/pools" pool-create-as benchnfs netfs --source-host 127.0.0.1 \
      --source-path /export --target "$W/mnt" >/dev/null
    rmv="'$VDK' --state-dir '$W/pools' vol-delete v.img --pool benchnfs"
    rmq="'$VDK' --state-dir '$W/pools' vol-delete q.img --pool benchnfs" ;;
  *) rmv=:; rmq=: ;;
  esac
  for f in $fmts; do
    # to the backend (the output format is raw on every backend)
    pair "$rmv" "$rmq" -- "$VDK" convert -t "$CACHE" -f "$f" "${create[@]}" -O raw "$W/src.$f" "$tv" \
      -- qemu-img convert -t "$CACHE" -f "$f" "${create[@]}" -O raw "$W/src.$f" "$tq"
    row "$be" "$f" "to" "$A" "$B"
    # and back to a local image of the same format
    pair : : -- "$VDK" convert -t "$CACHE" -f raw -O "$f" "$tv" "$W/back-v.$f" \
      -- qemu-img convert -t "$CACHE" -f raw -O "$f" "$tq" "$W/back-q.$f"
    row "$be" "$f" "back" "$A" "$B"
    "$VDK" compare "$W/back-v.$f" "$W/src.raw" >/dev/null || { echo "MISMATCH: $be $f round trip" >&2; exit 1; }
    rm -f "$W/back-v.$f" "$W/back-q.$f"
  done
done
echo "ratio = qemu-img time / vdk time (> 1: vdk is faster)"
