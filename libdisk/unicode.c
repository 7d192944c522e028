/* Text encodings found in image metadata (VHDX parent locators, VHD parent
 * names): UTF-8 to UTF-16. */
#include "internal.h"

size_t
vdk_utf8_to_utf16 (uint8_t *dst, const char *s, size_t max_units, bool be, bool slash)
{
  const unsigned char *u = (const unsigned char *) s;
  size_t n = 0;

  while (*u && n < max_units) {
    uint32_t c = *u++;
    int more = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    if (c >= 0x80 && c < 0xC0)
      c = 0xFFFD;
    else if (more) {
      c &= 0x3F >> more;
      for (; more && (*u & 0xC0) == 0x80; more--)
        c = (c << 6) | (*u++ & 0x3F);
      if (more || c > 0x10FFFF || (c >= 0xD800 && c < 0xE000))
        c = 0xFFFD;
    }
    if (slash && c == '/')
      c = '\\';
    if (c >= 0x10000) {
      uint16_t hi, lo;
      if (n + 2 > max_units)
        break;
      hi = 0xD800 + ((c - 0x10000) >> 10);
      lo = 0xDC00 + ((c - 0x10000) & 0x3FF);
      if (be) {
        vdk_put_be16 (dst + 2 * n, hi);
        vdk_put_be16 (dst + 2 * n + 2, lo);
      }
      else {
        vdk_put_le16 (dst + 2 * n, hi);
        vdk_put_le16 (dst + 2 * n + 2, lo);
      }
      n += 2;
    }
    else {
      if (be)
        vdk_put_be16 (dst + 2 * n, c);
      else
        vdk_put_le16 (dst + 2 * n, c);
      n++;
    }
  }
  return 2 * n;
}
