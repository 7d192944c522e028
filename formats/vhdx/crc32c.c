/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table driven: the
 * checksum of VHDX headers, region tables and log entries. */
#include <pthread.h>

#include "vhdx.h"

static uint32_t table[256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void
make_table (void)
{
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++)
      c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
}

uint32_t
vhdx_crc32c_update (uint32_t crc, const void *buf, size_t len)
{
  const uint8_t *p = buf;

  pthread_once (&table_once, make_table);
  while (len--)
    crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return crc;
}

uint32_t
vhdx_crc32c (const void *buf, size_t len, size_t skip_at)
{
  static const uint8_t zero4[4];
  const uint8_t *p = buf;
  uint32_t crc = 0xffffffffu;

  if (skip_at < len && len - skip_at >= 4) {
    crc = vhdx_crc32c_update (crc, p, skip_at);
    crc = vhdx_crc32c_update (crc, zero4, 4);
    crc = vhdx_crc32c_update (crc, p + skip_at + 4, len - skip_at - 4);
  }
  else
    crc = vhdx_crc32c_update (crc, p, len);
  return ~crc;
}
