#!/bin/bash
# vdk's main job on an embedded default: make a sample disk image (sparse,
# with data at a few places), convert it through the formats this build has,
# show what vdk sees, and prove the round trip is exact.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
VDK=${VDK:-$top/build/tools/vdk/vdk}
work=$(mktemp -d /tmp/vdk-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"

echo "== a 1 GiB sample disk with 3 MiB of data =="
"$VDK" create -f raw sample.raw 1G
python3 - <<'PY'
import random
random.seed(42)
with open("sample.raw", "r+b") as f:
    for off in (0, 300 << 20, 777 << 20):
        f.seek(off)
        f.write(random.randbytes(1 << 20))
PY
"$VDK" info sample.raw
echo
echo "== where the data is =="
"$VDK" map sample.raw
prev=sample.raw
for fmt in $("$VDK" --help | sed -n 's/^Formats: //p'); do
  [ "$fmt" = raw ] && continue
  echo
  echo "== convert to $fmt =="
  opts=
  [ "$fmt" = vpc ] && opts="-o force_size=on"   # exact size, not CHS-rounded
  "$VDK" convert -p -O "$fmt" $opts "$prev" "sample.$fmt"
  "$VDK" info "sample.$fmt" | head -4
  prev=sample.$fmt
done
echo
echo "== back to raw, and compare =="
"$VDK" convert -O raw "$prev" back.raw
"$VDK" compare sample.raw back.raw
cmp sample.raw back.raw && echo "byte-identical round trip"
