/* CRC-32C against published check values (RFC 3720 appendix B.4 and the
 * "123456789" check value), and the skip-field variant used for headers. */
#include <stdio.h>
#include <string.h>

#include "formats/vhdx/vhdx.h"

static int fails;

static void
check (const char *what, uint32_t got, uint32_t want)
{
  if (got != want) {
    fprintf (stderr, "FAIL: %s: got %08x, want %08x\n", what, got, want);
    fails++;
  }
}

int
main (void)
{
  uint8_t buf[48];

  check ("123456789", vhdx_crc32c ("123456789", 9, SIZE_MAX), 0xE3069283);
  memset (buf, 0, 32);
  check ("32 zero bytes", vhdx_crc32c (buf, 32, SIZE_MAX), 0x8A9136AA);
  memset (buf, 0xff, 32);
  check ("32 0xff bytes", vhdx_crc32c (buf, 32, SIZE_MAX), 0x62A8AB43);
  for (int i = 0; i < 32; i++)
    buf[i] = i;
  check ("0..31", vhdx_crc32c (buf, 32, SIZE_MAX), 0x46DD794E);
  for (int i = 0; i < 32; i++)
    buf[i] = 31 - i;
  check ("31..0", vhdx_crc32c (buf, 32, SIZE_MAX), 0x113FDB5C);
  /* the field at SKIP_AT counts as zero whatever it holds */
  memset (buf, 0, sizeof buf);
  memcpy (buf + 4, "\x12\x34\x56\x78", 4);
  check ("skip", vhdx_crc32c (buf, sizeof buf, 4), vhdx_crc32c ((uint8_t[48]) { 0 }, 48, SIZE_MAX));
  return fails ? 1 : 0;
}
