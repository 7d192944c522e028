# Helpers for the service scripts (sourced).  Daemons are only ever
# signalled by the PID (and start time) recorded when we started them.

svc_log () { echo "${SVC_NAME:-service}: $*" >&2; }
svc_die () { svc_log "ERROR: $*"; exit 1; }

# Start time of PID (field 22 of /proc/PID/stat), guards against PID reuse.
svc_pid_start () {
  local rest
  rest=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  # shellcheck disable=SC2086
  set -- $rest
  echo "${20}"
}

# svc_alive PID [START]: running, not a zombie, and started at START.
svc_alive () {
  local st
  [ -n "${1:-}" ] || return 1
  st=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ] || return 1
  [ -z "${2:-}" ] || [ "$(svc_pid_start "$1")" = "$2" ]
}

# svc_stop_pid PID START [TIMEOUT_S]: SIGTERM, wait, then SIGKILL.
svc_stop_pid () {
  local pid=$1 start=$2 t=${3:-10} i
  svc_alive "$pid" "$start" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < t * 20; i++)); do
    svc_alive "$pid" "$start" || return 0
    sleep 0.05
  done
  svc_log "pid $pid ignored SIGTERM for ${t}s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 40; i++)); do svc_alive "$pid" "$start" || return 0; sleep 0.05; done
}

svc_port_busy () { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A free TCP port (N consecutive free ports starting there with N>1).
svc_free_port () {
  local n=${1:-1} p i ok
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + RANDOM % 30000))
    ok=1
    for ((j = 0; j < n; j++)); do svc_port_busy $((p + j)) && { ok=0; break; }; done
    [ $ok = 1 ] && { echo "$p"; return 0; }
  done
  return 1
}

# Run a daemon in the background in its own session with fds >2 closed
# (a test runner's pipes must not be held open), record "NAME PID START"
# in STATE/pids.  Usage: svc_spawn STATE NAME LOG CMD...
svc_spawn () {
  local state=$1 name=$2 log=$3 pid
  shift 3
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      if ((fd > 2)) && [ -e "/proc/$BASHPID/fd/$fd" ]; then eval "exec $fd>&-"; fi
    done
    exec setsid "$@"
  ) </dev/null >>"$log" 2>&1 &
  pid=$!
  # wait for the exec so the start time is the daemon's
  for ((i = 0; i < 100; i++)); do
    [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$(command -v "$1")")" ] && break
    svc_alive "$pid" || break
    sleep 0.01
  done
  echo "$name $pid $(svc_pid_start "$pid" || echo 0)" >> "$state/pids"
  SVC_PID=$pid
}

# Stop every daemon recorded in STATE/pids, last started first.
svc_stop_all () {
  local state=$1 name pid start
  [ -s "$state/pids" ] || return 0
  tac "$state/pids" | while read -r name pid start; do
    svc_stop_pid "$pid" "$start" "${SVC_STOP_TIMEOUT:-10}"
  done
  rm -f "$state/pids"
}
