#!/bin/bash
# convert benchmarks (issue: image commands at qemu-img parity, faster):
# vdk vs qemu-img on the same inputs in the same run, best of $RUNS.
# Prints one line per case: times, speedup (qemu-img time / vdk time) and,
# where it matters, output sizes.  Cases whose formats this build lacks are
# skipped.  SIZE_GIB (default 4) scales the images.  The two tools' runs are
# interleaved (vdk, qemu-img, vdk, ...), best of $RUNS each.  COLD=1 (root)
# drops the page cache before every run.  CASES (a regular expression,
# default: all) selects cases by name, e.g. CASES='raw->raw|^1\.|^2\.|^5'.
. "$(dirname "$0")/bench-lib.sh"
command -v qemu-img >/dev/null || { echo "qemu-img is needed" >&2; exit 1; }
cd "$BENCH_DIR"
G=${SIZE_GIB:-4}
formats=" $("$VDK" --help | sed -n 's/^Formats: //p') "
have () { [[ "$formats" == *" $1 "* ]]; }
echo "qemu-img: $(qemu-img --version | head -1)"
echo "vdk:      $("$VDK" --version)"
echo "images:   ${G} GiB; best of $RUNS runs"

# data.raw: G GiB, 75% data in 16 MiB runs, 25% holes.  The data compresses
# about 3:1 (each 64 KiB: 16 KiB random, 48 KiB of repeated text), like an
# OS image, so the compression cases measure real work.
truncate -s ${G}G data.raw
python3 - "$G" <<'PY'
import os, sys
g = int(sys.argv[1])
run = 16 << 20
text = (b"vdk benchmark line: the quick brown fox jumps over the lazy dog 0123456789\n" * 700)[:48 << 10]
with open("data.raw", "r+b") as f:
    for i in range(g * 1024 // 16):
        if i % 4 != 3:
            block = b"".join(os.urandom(16 << 10) + text for _ in range(run // (64 << 10)))
            f.seek(i * run)
            f.write(block)
PY

want () { [[ "$1" =~ ${CASES:-.} ]]; }
both () {   # both NAME OUT VDK-ARGS -- QEMU-ARGS
  local name=$1 out=$2; shift 2
  local v=() q=()
  while [ "$1" != -- ]; do v+=("$1"); shift; done; shift
  q=("$@")
  want "$name" || return 0
  CLEAN="rm -f $out"
  local tv= tq=
  for _ in $(seq "$RUNS"); do
    rm -f "vdk-$out"
    tv=$(min_of "$tv" "$(time_once "$VDK" "${v[@]}")")
    mv "$out" "vdk-$out"
    tq=$(min_of "$tq" "$(time_once qemu-img "${q[@]}")")
  done
  report "$name" "$tv" "$tq" qemu-img
  if [ -e "vdk-$out" ]; then
    qemu-img compare -q "vdk-$out" "$out" || echo "  !! outputs differ"
    echo "  sizes: vdk $(du -k "vdk-$out" | cut -f1) KiB, qemu-img $(du -k "$out" | cut -f1) KiB"
    rm -f "vdk-$out"
  fi
}

both "raw->raw ${G}G 75% data" out.raw convert -O raw data.raw out.raw -- convert -O raw data.raw out.raw
# -C: copy offloading (copy_file_range, no zero detection in data), both tools
both "raw->raw -C" out.raw convert -C -O raw data.raw out.raw -- convert -C -O raw data.raw out.raw
both "raw->raw vdk -C vs qemu-img default" out.raw convert -C -O raw data.raw out.raw -- convert -O raw data.raw out.raw
if have qcow2; then
  if want "1. qcow2->raw" || want "1C. qcow2->raw -C"; then qemu-img convert -O qcow2 data.raw data.qcow2; fi
  both "1. qcow2->raw ${G}G 75% data" out.raw convert -O raw data.qcow2 out.raw -- convert -O raw data.qcow2 out.raw
  both "1C. qcow2->raw -C" out.raw convert -C -O raw data.qcow2 out.raw -- convert -C -O raw data.qcow2 out.raw
  both "2. raw->qcow2" out.qcow2 convert -O qcow2 data.raw out.qcow2 -- convert -O qcow2 data.raw out.qcow2
  both "2C. raw->qcow2 -C" out.qcow2 convert -C -O qcow2 data.raw out.qcow2 -- convert -C -O qcow2 data.raw out.qcow2
  if want "3. zlib qcow2->raw"; then qemu-img convert -c -O qcow2 data.raw z.qcow2; fi
  both "3. zlib qcow2->raw" out.raw convert -O raw z.qcow2 out.raw -- convert -O raw z.qcow2 out.raw
  both "4a. raw->qcow2 -c zlib" out.qcow2 convert -c -O qcow2 data.raw out.qcow2 -- convert -c -O qcow2 data.raw out.qcow2
  both "4b. raw->qcow2 -c zstd" out.qcow2 convert -c -O qcow2 -o compression_type=zstd data.raw out.qcow2 \
    -- convert -c -O qcow2 -o compression_type=zstd data.raw out.qcow2
  # 5. 64 GiB, 1% data
  if want "5a. 64G" || want "5b. 64G" || want "5aC. 64G" || want "5bC. 64G"; then
  truncate -s 64G sparse.raw
  python3 - <<'PY'
import os
with open("sparse.raw", "r+b") as f:
    d = os.urandom(1 << 20)
    for i in range(0, 64 * 1024, 100):
        f.seek(i << 20); f.write(d)
PY
  qemu-img convert -O qcow2 sparse.raw sparse.qcow2
  both "5a. 64G 1% data qcow2->qcow2" out.qcow2 convert -O qcow2 sparse.qcow2 out.qcow2 -- convert -O qcow2 sparse.qcow2 out.qcow2
  both "5b. 64G 1% data qcow2->raw" out.raw convert -O raw sparse.qcow2 out.raw -- convert -O raw sparse.qcow2 out.raw
  both "5aC. 64G 1% data qcow2->qcow2 -C" out.qcow2 convert -C -O qcow2 sparse.qcow2 out.qcow2 -- convert -C -O qcow2 sparse.qcow2 out.qcow2
  both "5bC. 64G 1% data qcow2->raw -C" out.raw convert -C -O raw sparse.qcow2 out.raw -- convert -C -O raw sparse.qcow2 out.raw
  rm -f sparse.raw sparse.qcow2
  fi
fi
if have vmdk && have qcow2 && want "6. vmdk"; then
  qemu-img convert -O vmdk -o subformat=streamOptimized data.raw data.vmdk
  both "6. vmdk streamOptimized->qcow2" out.qcow2 convert -O qcow2 data.vmdk out.qcow2 -- convert -O qcow2 data.vmdk out.qcow2
fi
if have qcow2 && want "7. 4k"; then
  # 7. 4 KiB random I/O, queue depth 32, IOPS
  qemu-img convert -O qcow2 data.raw io.qcow2
  for mode in read write; do
    w=; [ $mode = write ] && w=-w
    tv=$(CLEAN=true best_time "$VDK" bench $w --random -c 100000 -d 32 -s 4k io.qcow2)
    # qemu-img bench has no random mode: compare sequential 4 KiB at depth 32 too
    tvs=$(CLEAN=true best_time "$VDK" bench $w -c 100000 -d 32 -s 4k io.qcow2)
    tqs=$(CLEAN=true best_time qemu-img bench $w -c 100000 -d 32 -s 4k io.qcow2)
    python3 - "$mode" "$tv" "$tvs" "$tqs" <<'PY'
import sys
m, r, vs, qs = sys.argv[1], *map(float, sys.argv[2:])
print(f"7. 4k {m} qd32 qcow2: vdk random {100000/r:9.0f} IOPS; sequential vdk {100000/vs:9.0f} vs qemu-img {100000/qs:9.0f} IOPS (x{qs/vs:.2f})")
PY
  done
fi
