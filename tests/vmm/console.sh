#!/bin/bash
# The serial console on a unix socket (output kept until the client comes,
# input from the client) and on a pty.
. "$(dirname "$0")/common.sh"
requires_kvm
requires python3

# unix socket: connect only after the guest has started printing
"$VDK" run --memory 64M --kernel "$GUEST_ELF" --no-rng --console unix:con.sock \
  --cmdline "vdktest=smp,input" >out 2>out.err </dev/null &
pid=$!
cleanup_fn "kill $pid 2>/dev/null || true"
for _ in $(seq 100); do [ -S con.sock ] && break; sleep 0.1; done
sleep 0.5
python3 - <<'PY' > con.out || fail "console socket client failed"
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect('con.sock'); s.settimeout(60)
data = b''
while b'READY input' not in data:
    c = s.recv(4096)
    assert c, data
    data += c
s.sendall(b'hello-vdk\n')
while True:
    c = s.recv(4096)
    if not c: break
    data += c
sys.stdout.write(data.decode())
PY
rc=0; wait $pid || rc=$?
[ "$rc" = 0 ] || { cat out.err >&2; fail "vdk run exited with $rc"; }
[ -s out ] && fail "console output went to stdout too"
head -1 con.out | grep -q '^vdk-guest: hello' || { cat con.out >&2; fail "early output was lost"; }
expect_pass con.out smp input
expect_grep 'PASS input hello-vdk' con.out
[ -e con.sock ] && fail "the console socket was not removed"

# pty: the name is printed on stderr
# (the guest then waits, so its output is read before the pty goes away)
"$VDK" run --memory 64M --kernel "$GUEST_ELF" --no-rng --console pty --api unix:api.sock \
  --cmdline "vdktest=input,powerdown" >out 2>out.err </dev/null &
pid=$!
cleanup_fn "kill $pid 2>/dev/null || true"
for _ in $(seq 100); do grep -q 'console on /dev/pts/' out.err && break; sleep 0.1; done
pts=$(sed -n 's/^vdk: console on \(.*\)$/\1/p' out.err)
[ -n "$pts" ] || { cat out.err >&2; fail "no pty name on stderr"; }
python3 - "$pts" <<'PY' > pty.out || fail "pty client failed"
import os, sys, termios, tty, select
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
# vdk made the pty raw already (setting it here would flush early output)
data = b''
while b'READY input' not in data:
    r, _, _ = select.select([fd], [], [], 60)
    assert r, data
    data += os.read(fd, 4096)
os.write(fd, b'via-pty\n')
while b'READY powerdown' not in data:
    r, _, _ = select.select([fd], [], [], 60)
    assert r, data
    data += os.read(fd, 4096)
import socket
s = socket.socket(socket.AF_UNIX); s.connect('api.sock')
s.sendall(b'{"execute": "quit"}\n')
s.recv(4096)
sys.stdout.write(data.decode().replace('\r', ''))
PY
rc=0; wait $pid || rc=$?
[ "$rc" = 0 ] || { cat out.err >&2; fail "vdk run exited with $rc"; }
expect_grep 'PASS input via-pty' pty.out
