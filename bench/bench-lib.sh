# Shared helpers for benchmarks: time commands, compare with a peer, print ratios.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VDK=${VDK:-$top/build/tools/vdk/vdk}
RUNS=${RUNS:-3}
BENCH_DIR=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/var/tmp}/vdk-bench.XXXXXX")}
trap 'rm -rf "$BENCH_DIR"' EXIT
[ -x "$VDK" ] || { echo "build vdk first (meson setup build && ninja -C build)" >&2; exit 1; }

# best_time CMD...: best wall time of $RUNS runs, in seconds (the command's
# output files are removed by the caller's CLEAN hook before each run).
best_time () {
  local best= t
  for _ in $(seq "$RUNS"); do
    eval "${CLEAN:-true}"
    sync
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
    t1=$(date +%s%N)
    t=$(python3 -c "import sys; print((int(sys.argv[2]) - int(sys.argv[1])) / 1e9)" "$t0" "$t1")
    if [ -z "$best" ] || python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)" "$t" "$best"; then
      best=$t
    fi
  done
  echo "$best"
}

# time_once CMD...: wall time of one run in seconds (the caller's CLEAN hook
# runs first; with COLD=1, as root, the page cache is dropped before it).
time_once () {
  eval "${CLEAN:-true}"
  sync
  if [ "${COLD:-0}" = 1 ]; then echo 3 > /proc/sys/vm/drop_caches; fi
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
  t1=$(date +%s%N)
  python3 -c "import sys; print((int(sys.argv[2]) - int(sys.argv[1])) / 1e9)" "$t0" "$t1"
}

# min_of A B: the smaller of two times ("" counts as infinite)
min_of () {
  if [ -z "$1" ]; then echo "$2"; return; fi
  python3 -c "import sys; print(min(float(sys.argv[1]), float(sys.argv[2])))" "$1" "$2"
}

# report NAME VDK_SECONDS PEER_SECONDS PEER_NAME
report () {
  python3 - "$@" <<'PY'
import sys
name, v, p, peer = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
ratio = p / v if v > 0 else float("inf")
print(f"{name:<40} vdk {v:7.2f}s  {peer} {p:7.2f}s  speedup x{ratio:.2f}")
PY
}
