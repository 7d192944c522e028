# Helpers shared by the vhdx/vpc tests (sourced after functions.sh).
requires qemu-img python3
LOGPY="$(dirname "${BASH_SOURCE[0]}")/vhdxlog.py"

# scattered NAME SIZE_MIB: a sparse raw image with random data at a few
# scattered, unaligned offsets (and one run across a 1 MiB boundary).
scattered () {
  truncate -s "$2M" "$1"
  local seeks="0 7 300 1023 2047 4000 6100"
  for s in $seeks; do
    if [ $(( (s + 64) * 512 )) -lt $(( $2 * 1048576 )) ]; then
      dd if=/dev/urandom of="$1" bs=512 seek="$s" count=64 conv=notrunc status=none
    fi
  done
  dd if=/dev/urandom of="$1" bs=4096 seek=$(( $2 * 256 - 300 )) count=200 conv=notrunc status=none
  dd if=/dev/urandom of="$1" bs=1 seek=$(( $2 * 1048576 / 2 + 77 )) count=5000 conv=notrunc status=none
}

# same_raw A B: byte-identical files
same_raw () { cmp "$1" "$2" >/dev/null || fail "$1 and $2 differ"; }

# virtual size in bytes as qemu-img / vdk see it (no python: the machine may
# be loaded and python's start-up is slow)
vsize () { qemu-img info "$@" | sed -n 's/^virtual size: .*(\([0-9]*\) bytes)$/\1/p'; }
vdk_vsize () { "$VDK" info "$@" | sed -n 's/^virtual size: .*(\([0-9]*\) bytes)$/\1/p'; }

# poke FILE OFFSET PACKFMT VALUE: overwrite one field (perl pack format:
# V/v/Q< little-endian, N/n/Q> big-endian, a8 string); negative OFFSET counts
# from the end.
poke () {
  perl -e 'my ($f, $o, $fmt, $v) = @ARGV; open (my $h, "+<", $f) or die "$f: $!";
    binmode $h; $o += -s $f if $o < 0; seek ($h, $o, 0); $v = oct $v if $v =~ /^0/;
    print $h pack ($fmt, $v); close $h or die' "$@"
}
# crc FILE h1|h2|rt1|rt2|vpc0|vpcend: recompute a VHDX header / region table
# CRC-32C or a VHD footer checksum.
crc () {
  perl -e 'my ($f, $w) = @ARGV; open (my $h, "+<", $f) or die; binmode $h;
    my %t = (h1 => [65536, 4096], h2 => [131072, 4096], rt1 => [196608, 65536],
             rt2 => [262144, 65536], vpc0 => [0, 512], vpcend => [(-s $f) - 512, 512]);
    my ($o, $l) = @{$t{$w}}; seek ($h, $o, 0); read ($h, my $b, $l);
    if ($w =~ /^vpc/) {
      substr ($b, 64, 4) = "\0" x 4; my $s = 0; $s += $_ for unpack ("C*", $b);
      substr ($b, 64, 4) = pack ("N", ~$s & 0xffffffff);
    } else {
      my @tab; for my $i (0..255) { my $c = $i;
        for (1..8) { $c = $c & 1 ? ($c >> 1) ^ 0x82F63B78 : $c >> 1 } $tab[$i] = $c }
      substr ($b, 4, 4) = "\0" x 4; my $c = 0xffffffff;
      $c = $tab[($c ^ $_) & 0xff] ^ ($c >> 8) for unpack ("C*", $b);
      substr ($b, 4, 4) = pack ("V", ~$c & 0xffffffff);
    }
    seek ($h, $o, 0); print $h $b; close $h or die' "$@"
}
