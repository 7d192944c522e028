# Helpers for the 'net' suite (sourced after ../functions.sh).
SVC=$HERE/../services   # HERE: the test's folder, set before functions.sh cds away

# Skip unless vdk was built with protocol $1.
requires_protocol () {
  "$VDK" --help | grep -q "^Protocols:.* $1\b" ||
    skip "vdk was built without the $1 protocol (lib$1 development files missing)"
}

# start_service NAME ARGS...: run $SVC/NAME.sh start ARGS; exit 3 = cannot run
# here -> skip with its reason; the stop is registered before the start.
start_service () {
  local name=$1 state=$2 rc=0
  shift
  cleanup_fn "'$SVC/$name.sh' stop '$state' >/dev/null 2>&1"
  "$SVC/$name.sh" start "$@" 2>"$TMP/$name-start.err" || rc=$?
  if [ $rc = 3 ]; then skip "$name server cannot run here: $(tail -1 "$TMP/$name-start.err")"; fi
  [ $rc = 0 ] || { cat "$TMP/$name-start.err" >&2; fail "could not start the $name server"; }
}

# A sparse test image: random data at a few places, holes elsewhere.
make_image () { # FILE SIZE_MIB
  truncate -s "$2M" "$1"
  head -c 1M /dev/urandom | dd of="$1" bs=1M seek=0 conv=notrunc status=none
  head -c 3M /dev/urandom | dd of="$1" bs=1M seek=$(($2 / 2)) conv=notrunc status=none
  printf 'tail' | dd of="$1" bs=1 seek=$(($2 * 1048576 - 4)) conv=notrunc status=none
}

# A TCP port that accepts connections and never answers (a hung server).
start_black_hole () {
  python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)
' > "$TMP/blackhole.port" &
  BLACK_HOLE_PID=$!
  cleanup_fn "kill $BLACK_HOLE_PID 2>/dev/null"
  for ((i = 0; i < 100; i++)); do [ -s "$TMP/blackhole.port" ] && break; sleep 0.02; done
  BLACK_HOLE_PORT=$(cat "$TMP/blackhole.port")
}

# A port where nothing listens.
closed_port () { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# expect_fast_fail MAX_S CMD...: fails, with a message, within MAX_S seconds
expect_fast_fail () {
  local max=$1 t0 t1
  shift
  t0=$(date +%s%N)
  expect_fail "$@"
  t1=$(date +%s%N)
  (( (t1 - t0) / 1000000 <= max * 1000 )) || fail "took $(( (t1 - t0) / 1000000 )) ms (> ${max}s): $*"
}

# expect_fail_when_signalled SIG PID MAX_S CMD...: start CMD, send SIG to the
# server PID 0.05 s later (STOP: it hangs, KILL: it dies); CMD must fail with
# a message within MAX_S seconds.  CMD should move enough data (a write of
# 128 MiB) to be still running then.
expect_fail_when_signalled () {
  local sig=$1 pid=$2 max=$3 cpid rc=0 t0 i
  shift 3
  cleanup_fn "kill -CONT $pid 2>/dev/null"
  t0=$(date +%s)
  "$@" >"$TMP/out" 2>"$TMP/err" &
  cpid=$!
  sleep "${SIGNAL_DELAY:-0.05}"
  # With WAIT_FILE set, signal only once the transfer has begun (slow
  # builds such as ASan may still be opening the image after 0.05 s).
  if [ -n "${WAIT_FILE:-}" ]; then
    for ((i = 0; i < 100; i++)); do
      [ -s "$WAIT_FILE" ] && break
      sleep 0.05
    done
  fi
  t0=$(date +%s)
  kill -"$sig" "$pid"
  for ((i = 0; i < (max + 5) * 10; i++)); do
    kill -0 "$cpid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$cpid" 2>/dev/null; then
    kill -KILL "$cpid" 2>/dev/null || true
    wait "$cpid" 2>/dev/null || true
    kill -CONT "$pid" 2>/dev/null || true
    fail "still running $((max + 5)) s after the server got SIG$sig: $*"
  fi
  wait "$cpid" || rc=$?
  kill -CONT "$pid" 2>/dev/null || true
  [ $rc != 0 ] || fail "succeeded although the server got SIG$sig (too fast?): $*"
  (( $(date +%s) - t0 <= max )) || fail "took $(( $(date +%s) - t0 )) s (> ${max}s) to fail: $*"
  [ -s "$TMP/err" ] || fail "no error message from: $*"
}
expect_fail_when_frozen () { expect_fail_when_signalled STOP "$@"; }
