#!/bin/bash
# Dirty VHDX logs: crafted logs (wrapping around the end of the log, split
# over two entries, with a stale entry, with a bad checksum) replay to the
# same image qemu-img check -r all makes, both in memory (read-only open) and
# on disk (read-write open); a vdk writer killed with SIGKILL leaves a
# consistent image.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/lib.sh"

head -c 6M /dev/urandom > s.raw
"$VDK" convert -O vhdx -o block_size=1M s.raw L.vhdx
truncate -s 6M z.raw

for args in "" "--at 255" "--split --stale --at 254" "--badcrc"; do
  cp L.vhdx a.vhdx
  python3 "$LOGPY" swap a.vhdx 0 1 $args
  cp a.vhdx q.vhdx
  cp a.vhdx w.vhdx
  qemu-img check -q -r all q.vhdx >/dev/null
  qemu-img convert -O raw q.vhdx ref.raw
  case $args in
    *badcrc*) same_raw ref.raw s.raw;;
    *) cmp -n 1M ref.raw s.raw >/dev/null && fail "qemu did not replay ($args)";;
  esac
  # read-only: replayed in memory, the file is not changed
  "$VDK" convert -O raw a.vhdx ro.raw
  same_raw ro.raw ref.raw
  cmp a.vhdx w.vhdx || fail "read-only open modified the image ($args)"
  # read-write: replayed on disk, then qemu opens it without a replay
  "$VDK" convert -n --target-is-zero -O vhdx z.raw w.vhdx
  qemu-img info w.vhdx >/dev/null || fail "log still dirty after a read-write open ($args)"
  qemu-img check -q w.vhdx || fail "check after replay ($args)"
  qemu-img convert -O raw w.vhdx rw.raw
  same_raw rw.raw ref.raw
done

# A log that rewrites payload data cannot be replayed in memory.
read -r bat log loglen meta < <(python3 "$LOGPY" info L.vhdx)
cp L.vhdx p.vhdx
python3 "$LOGPY" payload p.vhdx $((meta + 1048576 + 8192))
expect_fail "$VDK" info p.vhdx
expect_grep "p.vhdx: the VHDX log must be replayed" "$TMP/err"
cp p.vhdx pq.vhdx
qemu-img check -q -r all pq.vhdx >/dev/null
qemu-img convert -O raw pq.vhdx ref.raw
"$VDK" convert -n --target-is-zero -O vhdx z.raw p.vhdx
"$VDK" convert -O raw p.vhdx out.raw
same_raw out.raw ref.raw

# SIGKILL a writer (writethrough: each new block's BAT entry goes through the
# log) at a few points: the image must open, pass qemu-img check, and each
# 1 MiB block must read as either the new data or zeroes.
head -c 40M /dev/urandom > big.raw
for d in 0.01 0.05 0.1; do
  rm -f k.vhdx
  "$VDK" convert -t writethrough -O vhdx -o block_size=1M big.raw k.vhdx & pid=$!
  sleep $d
  kill -9 $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  [ -f k.vhdx ] || continue
  # killed before create wrote anything VHDX (the file probes as raw)
  if "$VDK" info --output=json k.vhdx 2>/dev/null | grep -q '"format": "raw"'; then
    qemu-img info -f vhdx k.vhdx >/dev/null 2>&1 && fail "qemu opens as vhdx what vdk probes as raw ($d)"
    continue
  fi
  if ! "$VDK" info k.vhdx >/dev/null 2>vi.err; then
    # killed inside create, before the headers (written last) existed
    grep -q "no valid VHDX header" vi.err || { cat vi.err; fail "killed image ($d)"; }
    qemu-img check -r all k.vhdx >/dev/null 2>&1 && fail "qemu opens what vdk cannot ($d)"
    continue
  fi
  "$VDK" convert -O raw k.vhdx kro.raw || fail "killed image does not open read-only ($d)"
  cp k.vhdx kq.vhdx
  qemu-img check -q -r all kq.vhdx >/dev/null || fail "qemu-img check of killed image ($d)"
  qemu-img convert -O raw kq.vhdx kref.raw
  same_raw kro.raw kref.raw
  python3 - kro.raw big.raw <<'PY' || fail "killed image has torn blocks ($d)"
import sys
a = open(sys.argv[1], 'rb').read(); b = open(sys.argv[2], 'rb').read()
M = 1 << 20
for i in range(0, len(a), M):
    blk = a[i:i + M]
    if blk != b[i:i + M] and blk.count(0) != len(blk):
        sys.exit("block %d is torn" % (i // M))
PY
done
echo OK
