#!/bin/bash
# The JSON control socket: query-status, pause/resume, query-block with
# statistics, errors, system-powerdown (Ctrl-Alt-Del seen by the guest) and quit;
# the image lock keeps a second VM off a disk in use.
. "$(dirname "$0")/common.sh"
requires_kvm
requires python3

pattern_disk disk.img 2
# start_vm [CHECKS [READY-LINE]]
start_vm () {
  rm -f vm.out
  "$VDK" run --memory 64M --kernel "$GUEST_ELF" --disk disk.img --api unix:api.sock \
    --cmdline "vdktest=${1:-blk-read,powerdown}" >vm.out 2>vm.out.err </dev/null &
  pid=$!
  cleanup_fn "kill $pid 2>/dev/null || true"
  for _ in $(seq 300); do
    grep -q "${2:-READY powerdown}" vm.out 2>/dev/null && [ -S api.sock ] && return 0
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
  done
  cat vm.out vm.out.err >&2
  fail "the guest did not get ready"
}
wait_vm () {
  rc=0
  for _ in $(seq 300); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  kill -0 $pid 2>/dev/null && fail "vdk run did not exit"
  wait $pid || rc=$?
}

cat > client.py <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect('api.sock')
f = s.makefile('rw')
greet = json.loads(f.readline())
assert 'vdk' in greet, greet
def cmd(line):
    f.write(line + '\n'); f.flush()
    return json.loads(f.readline())
r = cmd('{"execute": "query-status", "id": 7}')
assert r == {'return': {'status': 'running', 'running': True}, 'id': 7}, r
assert cmd('{"execute": "pause"}') == {'return': {}}
r = cmd('{"execute": "query-status"}')
assert r['return']['status'] == 'paused', r
assert cmd('{"execute": "resume"}') == {'return': {}}
assert cmd('{"execute": "query-status"}')['return']['running'] is True
r = cmd('{"execute": "query-block"}')['return']
assert len(r) == 1 and r[0]['device'] == 'vda' and r[0]['format'] == 'raw', r
st = r[0]['stats']
assert st['rd_operations'] == 2 and st['rd_bytes'] == 6144 and st['wr_operations'] == 0, st
assert r[0]['read-only'] is False and r[0]['virtual-size'] == 2097152, r
assert 'error' in cmd('{"execute": "no-such-command"}')
assert 'error' in cmd('this is not json')
assert 'error' in cmd('{"execute": 5}')
last = sys.argv[1]
r = cmd('{"execute": "%s"}' % last)
assert r == {'return': {}}, r
PY

start_vm
# A second VM cannot write the image the first one has open.
expect_rc 1 timeout 30 "$VDK" run --memory 64M --kernel "$GUEST_ELF" --disk disk.img
expect_grep 'disk.img: Failed to get "write" lock' "$TMP/err"
python3 client.py system-powerdown || fail "control socket client failed"
wait_vm
[ "$rc" = 0 ] || { cat vm.out vm.out.err >&2; fail "vdk run exited with $rc after powerdown"; }
expect_pass vm.out blk-read powerdown
[ -e api.sock ] && fail "the control socket was not removed"

start_vm
python3 client.py quit || fail "control socket client failed"
wait_vm
[ "$rc" = 0 ] || { cat vm.out vm.out.err >&2; fail "vdk run exited with $rc after quit"; }
grep -q 'VDKTEST DONE' vm.out && fail "the guest finished although it was told to quit"
true

# SIGTERM stops the VM cleanly: exit 0, sockets removed.
start_vm
kill -TERM $pid
wait_vm
[ "$rc" = 0 ] || { cat vm.out vm.out.err >&2; fail "vdk run exited with $rc after SIGTERM"; }
[ -e api.sock ] && fail "the control socket was not removed after SIGTERM"
true

# The memory writer runs until Ctrl-Alt-Del, then checks its last pass,
# also across a pause.
start_vm memwrite 'MEMWRITE pass 3'
python3 - <<'PY' || fail "control socket client failed"
import json, socket, time
s = socket.socket(socket.AF_UNIX); s.connect('api.sock'); f = s.makefile('rw'); f.readline()
def cmd(c):
    f.write(json.dumps({'execute': c}) + '\n'); f.flush(); return json.loads(f.readline())
assert cmd('pause') == {'return': {}}
n1 = open('vm.out').read().count('MEMWRITE')
time.sleep(0.5)
n2 = open('vm.out').read().count('MEMWRITE')
assert n2 <= n1 + 1, (n1, n2)       # at most the line being printed
assert cmd('resume') == {'return': {}}
assert cmd('system-powerdown') == {'return': {}}
PY
wait_vm
[ "$rc" = 0 ] || { cat vm.out vm.out.err >&2; fail "vdk run exited with $rc (memwrite)"; }
expect_pass vm.out memwrite

# A socket file left behind by a VM that died is reused; a live one is not.
python3 -c "import socket; s = socket.socket(socket.AF_UNIX); s.bind('api.sock')"
[ -S api.sock ] || fail "could not make a stale socket"
start_vm
expect_rc 1 timeout 30 "$VDK" run --memory 64M --kernel "$GUEST_ELF" --no-rng --api unix:api.sock
expect_grep 'api.sock: cannot create the control socket' "$TMP/err"
python3 client.py quit || fail "control socket client failed"
wait_vm
[ "$rc" = 0 ] || fail "vdk run exited with $rc"
