#!/bin/bash
# VMM benchmarks with the test guest:
#  - time from `vdk run` to the guest's first serial line (median of 5);
#  - VMM memory overhead: RSS minus the guest RAM mapping's RSS;
#  - virtio-blk sequential read throughput seen by the guest (64 KiB requests,
#    5 in flight) vs the host reading the same file (warm page cache), as a ratio.
# usage: bench/vmm.sh [BUILDDIR]   (default: build)   env: BENCH_MIB=256
set -euo pipefail
B=${1:-build}
VDK=$(realpath "$B/tools/vdk/vdk")
GUEST=$(realpath "$B/tests/guest/vdk-test-guest.elf")
MIB=${BENCH_MIB:-256}
[ -c /dev/kvm ] || { echo "no /dev/kvm"; exit 77; }
T=$(mktemp -d /tmp/vdk-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
head -c $((MIB << 20)) /dev/urandom > "$T/disk.img"
cd "$T"
python3 - "$VDK" "$GUEST" "$MIB" <<'PY'
import json, os, socket, statistics, subprocess, sys, time
vdk, guest, mib = sys.argv[1], sys.argv[2], int(sys.argv[3])

def run(args, until=None):
    t0 = time.monotonic()
    p = subprocess.Popen([vdk, 'run', '--kernel', guest] + args, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    marks = {}
    for line in p.stdout:
        line = line.decode(errors='replace').strip()
        marks.setdefault(line, time.monotonic() - t0)
        if until and line.startswith(until):
            break
    return p, marks

# 1. first serial line
times = []
for _ in range(5):
    p, m = run(['--memory', '64M', '--no-rng'])
    p.wait()
    times.append(m['vdk-guest: hello'])
print('first serial line: %.1f ms (median of 5; min %.1f, max %.1f)' %
      (statistics.median(times) * 1e3, min(times) * 1e3, max(times) * 1e3))

# 2. memory overhead, guest waiting (512 MiB of guest RAM, one disk, rng)
p, m = run(['--memory', '512M', '--disk', 'disk.img', '--api', 'unix:api.sock',
            '--cmdline', 'vdktest=blk-read,powerdown'], until='READY powerdown')
total = ram = 0
with open('/proc/%d/smaps' % p.pid) as f:
    size = 0
    for line in f:
        parts = line.split()
        if '-' in parts[0] and len(parts) >= 5:
            a, b = (int(x, 16) for x in parts[0].split('-'))
            size = b - a
        elif parts[0] == 'Rss:':
            kb = int(parts[1])
            total += kb
            if size == 512 << 20:
                ram += kb
print('VMM RSS: %.2f MiB total, %.2f MiB guest RAM touched, overhead %.2f MiB' %
      (total / 1024, ram / 1024, (total - ram) / 1024))
s = socket.socket(socket.AF_UNIX); s.connect('api.sock'); f = s.makefile('rw'); f.readline()
f.write('{"execute":"quit"}\n'); f.flush(); f.readline()
p.wait()

# 3. throughput
def host_read():
    t0 = time.monotonic()
    with open('disk.img', 'rb', buffering=0) as f:
        while f.read(65536):
            pass
    return time.monotonic() - t0
host_read()
host = min(host_read() for _ in range(3))
gtimes = []
for _ in range(3):
    p, m = run(['--memory', '64M', '--no-rng', '--disk', 'disk.img,readonly=on',
                '--cmdline', 'vdktest=blk-bench vdkbench=%d' % mib])
    p.wait()
    if 'PASS blk-bench' not in m:
        sys.exit('guest benchmark failed')
    gtimes.append(m['BENCH end'] - m['BENCH start'])
guest_t = min(gtimes)
print('read %d MiB: host %.0f MiB/s, guest virtio-blk %.0f MiB/s, guest/host %.2f' %
      (mib, mib / host, mib / guest_t, host / guest_t))
PY
