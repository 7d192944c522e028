#!/bin/bash
# convert benchmarks: vdk vs qemu-img on the same inputs in the same run.
# Prints one line per case with the speedup (qemu-img time / vdk time).
. "$(dirname "$0")/bench-lib.sh"
command -v qemu-img >/dev/null || { echo "qemu-img is needed" >&2; exit 1; }
cd "$BENCH_DIR"
echo "qemu-img: $(qemu-img --version | head -1)"
echo "vdk:      $("$VDK" --version)"

# 1. raw -> raw, 4 GiB, half data (64 MiB runs of random data), half holes.
truncate -s 4G half.raw
python3 - <<'PY'
import os
with open("half.raw", "r+b") as f:
    chunk = os.urandom(64 << 20)
    for i in range(0, 64, 2):          # every other 64 MiB run
        f.seek(i * (64 << 20))
        f.write(chunk)
PY
CLEAN='rm -f out.raw'
v=$(best_time "$VDK" convert -f raw -O raw half.raw out.raw)
"$VDK" compare half.raw out.raw >/dev/null || { echo "vdk output differs" >&2; exit 1; }
q=$(best_time qemu-img convert -f raw -O raw half.raw out.raw)
report "raw->raw 4 GiB, 50% data" "$v" "$q" qemu-img
