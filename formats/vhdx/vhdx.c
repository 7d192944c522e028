/* vhdx: Hyper-V virtual hard disk v2 images ([MS-VHDX]): fixed, dynamic and
 * differencing.
 *
 * Layout: file type identifier (64 KiB), two headers (at 64 and 128 KiB, the
 * valid one with the higher sequence number is current), two copies of the
 * region table (192 and 256 KiB) locating the BAT and the metadata region,
 * the log, and payload blocks anywhere at 1 MiB alignment.  The BAT holds one
 * 64-bit entry per payload block (state + offset in MiB), with one sector
 * bitmap entry after every CHUNK_RATIO payload entries; the sector bitmaps
 * say which sectors of a partially present block of a differencing image are
 * in this file.
 *
 * Metadata (BAT entries, headers) changes go through the log (vhdx-log.c):
 * new blocks are written first, their BAT entries are updated in memory and
 * written through the log at the next flush (or when many are pending). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "vhdx.h"

static const uint8_t GUID_BAT[16] = {
  0x66, 0x77, 0xC2, 0x2D, 0x23, 0xF6, 0x00, 0x42, 0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A, 0x08 };
static const uint8_t GUID_METADATA[16] = {
  0x06, 0xA2, 0x7C, 0x8B, 0x90, 0x47, 0x9A, 0x4B, 0xB8, 0xFE, 0x57, 0x5F, 0x05, 0x0F, 0x88, 0x6E };
static const uint8_t GUID_FILE_PARAMS[16] = {
  0x37, 0x67, 0xA1, 0xCA, 0x36, 0xFA, 0x43, 0x4D, 0xB3, 0xB6, 0x33, 0xF0, 0xAA, 0x44, 0xE7, 0x6B };
static const uint8_t GUID_VDISK_SIZE[16] = {
  0x24, 0x42, 0xA5, 0x2F, 0x1B, 0xCD, 0x76, 0x48, 0xB2, 0x11, 0x5D, 0xBE, 0xD8, 0x3B, 0xF4, 0xB8 };
static const uint8_t GUID_PAGE83[16] = {
  0xAB, 0x12, 0xCA, 0xBE, 0xE6, 0xB2, 0x23, 0x45, 0x93, 0xEF, 0xC3, 0x09, 0xE0, 0x00, 0xC7, 0x46 };
static const uint8_t GUID_LOGICAL_SS[16] = {
  0x1D, 0xBF, 0x41, 0x81, 0x6F, 0xA9, 0x09, 0x47, 0xBA, 0x47, 0xF2, 0x33, 0xA8, 0xFA, 0xAB, 0x5F };
static const uint8_t GUID_PHYSICAL_SS[16] = {
  0xC7, 0x48, 0xA3, 0xCD, 0x5D, 0x44, 0x71, 0x44, 0x9C, 0xC9, 0xE9, 0x88, 0x52, 0x51, 0xC5, 0x56 };
static const uint8_t GUID_PARENT_LOCATOR[16] = {
  0x2D, 0x5F, 0xD3, 0xA8, 0x0B, 0xB3, 0x4D, 0x45, 0xAB, 0xF7, 0xD3, 0xD8, 0x48, 0x34, 0xAB, 0x0C };
static const uint8_t GUID_VHDX_LOCATOR[16] = {
  0xB7, 0xEF, 0x4A, 0xB0, 0x9E, 0xD1, 0x81, 0x4A, 0xB7, 0x89, 0x25, 0xB8, 0xE9, 0x44, 0x59, 0x13 };

#define META_IS_VIRTUAL_DISK 2u
#define META_IS_REQUIRED 4u
#define PARAM_LEAVE_ALLOCATED 1u
#define PARAM_HAS_PARENT 2u
#define MAX_DIRTY_BAT_SECTORS 128   /* write pending BAT updates at this many */
#define MAX_LOCATOR_SIZE (64 * KiB)

bool
vhdx_guid_is_zero (const uint8_t *g)
{
  for (int i = 0; i < 16; i++)
    if (g[i])
      return false;
  return true;
}

void
vhdx_random_guid (uint8_t *g)
{
  size_t got = 0;
  while (got < 16) {
    ssize_t k = getrandom (g + got, 16 - got, 0);
    if (k <= 0) {
      /* getrandom on Linux >= 3.17 does not fail for 16 bytes; keep going
       * with whatever we have rather than loop. */
      for (; got < 16; got++)
        g[got] = (uint8_t) (rand () >> 7);
      break;
    }
    got += k;
  }
  g[7] = (g[7] & 0x0f) | 0x40;   /* version 4 (the field is little-endian) */
  g[8] = (g[8] & 0x3f) | 0x80;
}

/* "{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}" of an on-disk GUID. */
static void
guid_string (const uint8_t *g, char out[39])
{
  snprintf (out, 39, "{%08" PRIX32 "-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X}",
            vdk_le32 (g), vdk_le16 (g + 4), vdk_le16 (g + 6), g[8], g[9], g[10], g[11],
            g[12], g[13], g[14], g[15]);
}

static int
vhdx_probe (const uint8_t *buf, size_t len, const char *filename)
{
  (void) filename;
  return len >= 8 && memcmp (buf, "vhdxfile", 8) == 0 ? 100 : 0;
}

/* ---- headers ---------------------------------------------------------- */

static bool
header_valid (const uint8_t *h)
{
  return memcmp (h + H_SIG, "head", 4) == 0 &&
    vhdx_crc32c (h, VHDX_HEADER_SIZE, H_CSUM) == vdk_le32 (h + H_CSUM) &&
    vdk_le16 (h + H_VERSION) == 1;
}

/* Write the header with LOG_GUID (NULL: none) to both slots, the older
 * first, each with a higher sequence number, flushing after each: a torn
 * write leaves the other header current. */
int
vhdx_write_header (struct vdk_node *n, struct vhdx_priv *p, const uint8_t *log_guid)
{
  static const uint8_t zero[16];
  int r;

  if (!p->session_guids_done) {
    /* The first change in this session: new file and data write GUIDs. */
    vhdx_random_guid (p->hdr + H_FILE_GUID);
    vhdx_random_guid (p->hdr + H_DATA_GUID);
    p->session_guids_done = true;
  }
  memcpy (p->hdr + H_LOG_GUID, log_guid ? log_guid : zero, 16);
  for (int k = 0; k < 2; k++) {
    int slot = p->cur_slot ^ 1;
    p->seq++;
    vdk_put_le64 (p->hdr + H_SEQ, p->seq);
    vdk_put_le32 (p->hdr + H_CSUM, 0);
    vdk_put_le32 (p->hdr + H_CSUM, vhdx_crc32c (p->hdr, VHDX_HEADER_SIZE, H_CSUM));
    r = vdk_node_pwrite (n->file, p->hdr, VHDX_HEADER_SIZE,
                         slot ? VHDX_HEADER2_OFF : VHDX_HEADER1_OFF, 0);
    if (r == 0)
      r = vdk_node_flush (n->file);
    if (r < 0)
      return r;
    p->cur_slot = slot;
  }
  return 0;
}

static int
read_headers (struct vdk_node *n, struct vhdx_priv *p)
{
  uint8_t h[2][VHDX_HEADER_SIZE];
  bool ok[2];
  int r, cur;

  for (int i = 0; i < 2; i++) {
    r = vdk_node_pread (n->file, h[i], VHDX_HEADER_SIZE, i ? VHDX_HEADER2_OFF : VHDX_HEADER1_OFF);
    if (r < 0)
      return r;
    ok[i] = header_valid (h[i]);
  }
  if (!ok[0] && !ok[1])
    return vdk_err (EINVAL, "%s: no valid VHDX header (bad signature, version or checksum)",
                    n->filename);
  if (ok[0] && ok[1])
    cur = vdk_le64 (h[1] + H_SEQ) > vdk_le64 (h[0] + H_SEQ) ? 1 : 0;
  else
    cur = ok[1] ? 1 : 0;
  memcpy (p->hdr, h[cur], VHDX_HEADER_SIZE);
  p->cur_slot = cur;
  p->seq = vdk_le64 (p->hdr + H_SEQ);
  p->log_offset = vdk_le64 (p->hdr + H_LOG_OFFSET);
  p->log_length = vdk_le32 (p->hdr + H_LOG_LENGTH);
  if (vdk_le16 (p->hdr + H_LOG_VERSION) != 0)
    return vdk_err (EINVAL, "%s: unsupported VHDX log version %u", n->filename,
                    vdk_le16 (p->hdr + H_LOG_VERSION));
  if (p->log_length % MiB || p->log_offset % MiB || (p->log_length && p->log_offset < MiB))
    return vdk_err (EINVAL, "%s: VHDX log offset %#" PRIx64 " or length %#" PRIx32
                    " is not 1 MiB aligned", n->filename, p->log_offset, p->log_length);
  return 0;
}

/* ---- region table and metadata -------------------------------------- */

static int
read_region_table (struct vdk_node *n, struct vhdx_priv *p)
{
  uint8_t *rt = malloc (VHDX_RT_SIZE);
  bool have_bat = false, have_meta = false;
  uint32_t count;
  int r, which = -1;

  if (!rt)
    return vdk_err (ENOMEM, "out of memory");
  for (int i = 0; i < 2 && which < 0; i++) {
    r = vhdx_meta_pread (n, p, rt, VHDX_RT_SIZE, i ? VHDX_RT2_OFF : VHDX_RT1_OFF);
    if (r < 0)
      goto out;
    if (memcmp (rt, "regi", 4) == 0 && vhdx_crc32c (rt, VHDX_RT_SIZE, 4) == vdk_le32 (rt + 4))
      which = i;
  }
  if (which < 0) {
    r = vdk_err (EINVAL, "%s: no valid VHDX region table (bad signature or checksum)",
                 n->filename);
    goto out;
  }
  if (which == 1)
    vdk_warn ("%s: the first VHDX region table is corrupt, using the second", n->filename);
  count = vdk_le32 (rt + 8);
  if (count > VHDX_MAX_ENTRIES) {
    r = vdk_err (EINVAL, "%s: VHDX region table has %" PRIu32 " entries (at most %d)",
                 n->filename, count, VHDX_MAX_ENTRIES);
    goto out;
  }
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t *e = rt + 16 + i * 32;
    uint64_t off = vdk_le64 (e + 16), len = vdk_le32 (e + 24);
    bool required = vdk_le32 (e + 28) & 1;
    bool bat = memcmp (e, GUID_BAT, 16) == 0, meta = memcmp (e, GUID_METADATA, 16) == 0;

    if (!bat && !meta) {
      if (required) {
        r = vdk_err (ENOTSUP, "%s: VHDX region table has an unknown required region",
                     n->filename);
        goto out;
      }
      continue;
    }
    if ((bat && have_bat) || (meta && have_meta)) {
      r = vdk_err (EINVAL, "%s: VHDX region table lists the %s region twice", n->filename,
                   bat ? "BAT" : "metadata");
      goto out;
    }
    if (off % MiB || len % MiB || off < MiB || len == 0 || !vdk_range_ok (off, len, INT64_MAX)) {
      r = vdk_err (EINVAL, "%s: VHDX %s region (offset %#" PRIx64 ", length %#" PRIx64
                   ") is not 1 MiB aligned", n->filename, bat ? "BAT" : "metadata", off, len);
      goto out;
    }
    if (bat) {
      p->bat_offset = off;
      p->bat_length = len;
      have_bat = true;
    }
    else {
      p->meta_offset = off;
      p->meta_length = len;
      have_meta = true;
    }
  }
  if (!have_bat || !have_meta) {
    r = vdk_err (EINVAL, "%s: VHDX region table has no %s region", n->filename,
                 have_bat ? "metadata" : "BAT");
    goto out;
  }
  /* The regions and the log must not overlap each other. */
  {
    uint64_t s[3] = { p->bat_offset, p->meta_offset, p->log_offset };
    uint64_t l[3] = { p->bat_length, p->meta_length, p->log_length };
    static const char *const names[3] = { "BAT", "metadata region", "log" };
    for (int i = 0; i < 3; i++)
      for (int j = i + 1; j < 3; j++)
        if (l[i] && l[j] && s[i] < s[j] + l[j] && s[j] < s[i] + l[i]) {
          r = vdk_err (EINVAL, "%s: VHDX %s and %s overlap", n->filename, names[i], names[j]);
          goto out;
        }
  }
  r = 0;
 out:
  free (rt);
  return r;
}

/* UTF-16LE -> UTF-8 (unpaired surrogates become U+FFFD). */
static char *
utf16_to_utf8 (const uint8_t *s, size_t bytes)
{
  size_t n = bytes / 2, o = 0;
  char *out = malloc (n * 3 + 1);

  if (!out)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    uint32_t c = vdk_le16 (s + 2 * i);
    if (c >= 0xD800 && c < 0xDC00 && i + 1 < n) {
      uint32_t c2 = vdk_le16 (s + 2 * i + 2);
      if (c2 >= 0xDC00 && c2 < 0xE000) {
        c = 0x10000 + ((c - 0xD800) << 10) + (c2 - 0xDC00);
        i++;
      }
      else
        c = 0xFFFD;
    }
    else if (c >= 0xD800 && c < 0xE000)
      c = 0xFFFD;
    if (c == 0)
      break;
    if (c < 0x80)
      out[o++] = c;
    else if (c < 0x800) {
      out[o++] = 0xC0 | (c >> 6);
      out[o++] = 0x80 | (c & 0x3F);
    }
    else if (c < 0x10000) {
      out[o++] = 0xE0 | (c >> 12);
      out[o++] = 0x80 | ((c >> 6) & 0x3F);
      out[o++] = 0x80 | (c & 0x3F);
    }
    else {
      /* 4 bytes would not fit n * 3 for a lone pair; a pair used 2 units. */
      out[o++] = 0xF0 | (c >> 18);
      out[o++] = 0x80 | ((c >> 12) & 0x3F);
      out[o++] = 0x80 | ((c >> 6) & 0x3F);
      out[o++] = 0x80 | (c & 0x3F);
    }
  }
  out[o] = 0;
  return out;
}

static int
parse_parent_locator (struct vdk_node *n, struct vhdx_priv *p, const uint8_t *loc, uint32_t len)
{
  uint16_t count;

  if (len < 20 || memcmp (loc, GUID_VHDX_LOCATOR, 16) != 0)
    return vdk_err (EINVAL, "%s: VHDX parent locator of an unknown type", n->filename);
  count = vdk_le16 (loc + 18);
  if (20 + (uint64_t) count * 12 > len)
    return vdk_err (EINVAL, "%s: VHDX parent locator entries beyond the item", n->filename);
  for (uint16_t i = 0; i < count; i++) {
    const uint8_t *e = loc + 20 + i * 12;
    uint32_t ko = vdk_le32 (e), vo = vdk_le32 (e + 4);
    uint16_t kl = vdk_le16 (e + 8), vl = vdk_le16 (e + 10);
    char *key, *val, **slot = NULL;

    if (!vdk_range_ok (ko, kl, len) || !vdk_range_ok (vo, vl, len) || kl == 0 || vl == 0)
      return vdk_err (EINVAL, "%s: VHDX parent locator entry %u is out of bounds",
                      n->filename, i);
    key = utf16_to_utf8 (loc + ko, kl);
    val = utf16_to_utf8 (loc + vo, vl);
    if (!key || !val) {
      free (key);
      free (val);
      return vdk_err (ENOMEM, "out of memory");
    }
    if (!strcmp (key, "parent_linkage"))
      slot = &p->parent_linkage;
    else if (!strcmp (key, "parent_linkage2"))
      slot = &p->parent_linkage2;
    else if (!strcmp (key, "relative_path"))
      slot = &p->relative_path;
    else if (!strcmp (key, "volume_path"))
      slot = &p->volume_path;
    else if (!strcmp (key, "absolute_win32_path"))
      slot = &p->abs_path;
    free (key);
    if (slot && !*slot)
      *slot = val;
    else
      free (val);
  }
  if (!p->parent_linkage)
    return vdk_err (EINVAL, "%s: VHDX parent locator has no parent_linkage", n->filename);
  return 0;
}

/* "..\dir\parent.vhdx" -> "../dir/parent.vhdx"; drop a ".\" prefix. */
static char *
windows_to_posix (const char *s)
{
  char *o;
  if (s[0] == '.' && (s[1] == '\\' || s[1] == '/'))
    s += 2;
  o = strdup (s);
  for (char *c = o; c && *c; c++)
    if (*c == '\\')
      *c = '/';
  return o;
}

static int
read_metadata (struct vdk_node *n, struct vhdx_priv *p)
{
  uint8_t *t = malloc (VHDX_META_TABLE_SIZE);
  bool have_params = false, have_size = false, have_lss = false, have_pss = false;
  bool have_loc = false;
  uint16_t count;
  int r = 0;

  if (!t)
    return vdk_err (ENOMEM, "out of memory");
  if (!vdk_range_ok (p->meta_offset, VHDX_META_TABLE_SIZE, n->file->size)) {
    r = vdk_err (EINVAL, "%s: VHDX metadata region is beyond the end of the file", n->filename);
    goto out;
  }
  r = vhdx_meta_pread (n, p, t, VHDX_META_TABLE_SIZE, p->meta_offset);
  if (r < 0)
    goto out;
  if (memcmp (t, "metadata", 8) != 0) {
    r = vdk_err (EINVAL, "%s: bad VHDX metadata table signature", n->filename);
    goto out;
  }
  count = vdk_le16 (t + 10);
  if (count > VHDX_MAX_ENTRIES) {
    r = vdk_err (EINVAL, "%s: VHDX metadata table has %u entries (at most %d)", n->filename,
                 count, VHDX_MAX_ENTRIES);
    goto out;
  }
  for (uint16_t i = 0; i < count; i++) {
    const uint8_t *e = t + 32 + i * 32;
    uint32_t off = vdk_le32 (e + 16), len = vdk_le32 (e + 20), flags = vdk_le32 (e + 24);
    uint8_t v[16];

    if (len == 0 && off == 0)
      continue;
    if (off < VHDX_META_TABLE_SIZE || !vdk_range_ok (off, len, p->meta_length) ||
        !vdk_range_ok (p->meta_offset + off, len, n->file->size)) {
      r = vdk_err (EINVAL, "%s: VHDX metadata item %u (offset %#" PRIx32 ", length %" PRIu32
                   ") is outside the metadata region", n->filename, i, off, len);
      goto out;
    }
#define READ_ITEM(want, flag)                                                        \
    do {                                                                             \
      if (len != (want)) {                                                           \
        r = vdk_err (EINVAL, "%s: VHDX metadata item %u has length %" PRIu32         \
                     " (want %u)", n->filename, i, len, (unsigned) (want));          \
        goto out;                                                                    \
      }                                                                              \
      if (flag) {                                                                    \
        r = vdk_err (EINVAL, "%s: VHDX metadata item %u appears twice", n->filename, i); \
        goto out;                                                                    \
      }                                                                              \
      flag = true;                                                                   \
      r = vhdx_meta_pread (n, p, v, len, p->meta_offset + off);                      \
      if (r < 0)                                                                     \
        goto out;                                                                    \
    } while (0)
    if (memcmp (e, GUID_FILE_PARAMS, 16) == 0) {
      READ_ITEM (8, have_params);
      p->block_size = vdk_le32 (v);
      p->leave_allocated = vdk_le32 (v + 4) & PARAM_LEAVE_ALLOCATED;
      p->has_parent = vdk_le32 (v + 4) & PARAM_HAS_PARENT;
    }
    else if (memcmp (e, GUID_VDISK_SIZE, 16) == 0) {
      READ_ITEM (8, have_size);
      p->vsize = vdk_le64 (v);
      p->vsize_item_off = p->meta_offset + off;
    }
    else if (memcmp (e, GUID_PAGE83, 16) == 0) {
      READ_ITEM (16, p->have_page83);
      memcpy (p->page83, v, 16);
    }
    else if (memcmp (e, GUID_LOGICAL_SS, 16) == 0) {
      READ_ITEM (4, have_lss);
      p->lss = vdk_le32 (v);
    }
    else if (memcmp (e, GUID_PHYSICAL_SS, 16) == 0) {
      READ_ITEM (4, have_pss);
      p->pss = vdk_le32 (v);
    }
    else if (memcmp (e, GUID_PARENT_LOCATOR, 16) == 0) {
      uint8_t *loc;
      if (have_loc || len > MAX_LOCATOR_SIZE) {
        r = vdk_err (EINVAL, "%s: VHDX parent locator is repeated or too large", n->filename);
        goto out;
      }
      have_loc = true;
      if (!(loc = malloc (VDK_MAX (len, 1)))) {
        r = vdk_err (ENOMEM, "out of memory");
        goto out;
      }
      r = vhdx_meta_pread (n, p, loc, len, p->meta_offset + off);
      if (r == 0)
        r = parse_parent_locator (n, p, loc, len);
      free (loc);
      if (r < 0)
        goto out;
    }
    else if (flags & META_IS_REQUIRED) {
      r = vdk_err (ENOTSUP, "%s: VHDX image has an unknown required metadata item",
                   n->filename);
      goto out;
    }
#undef READ_ITEM
  }
  if (!have_params || !have_size || !have_lss || !have_pss) {
    r = vdk_err (EINVAL, "%s: VHDX metadata lacks the %s", n->filename,
                 !have_params ? "file parameters" : !have_size ? "virtual disk size" :
                 !have_lss ? "logical sector size" : "physical sector size");
    goto out;
  }
  if (p->block_size < MiB || p->block_size > 256 * MiB || !VDK_IS_POW2 (p->block_size)) {
    r = vdk_err (EINVAL, "%s: invalid VHDX block size %" PRIu32 " (a power of two,"
                 " 1 MiB to 256 MiB)", n->filename, p->block_size);
    goto out;
  }
  if ((p->lss != 512 && p->lss != 4096) || (p->pss != 512 && p->pss != 4096)) {
    r = vdk_err (EINVAL, "%s: invalid VHDX sector sizes (logical %" PRIu32 ", physical %"
                 PRIu32 ")", n->filename, p->lss, p->pss);
    goto out;
  }
  if (p->vsize > VHDX_MAX_VSIZE || p->vsize % p->lss) {
    r = vdk_err (EINVAL, "%s: invalid VHDX virtual disk size %" PRIu64, n->filename, p->vsize);
    goto out;
  }
  if (p->has_parent && !have_loc) {
    r = vdk_err (EINVAL, "%s: differencing VHDX image without a parent locator", n->filename);
    goto out;
  }
 out:
  free (t);
  return r;
}

/* ---- BAT ------------------------------------------------------------ */

static uint64_t
payload_index (const struct vhdx_priv *p, uint64_t block)
{
  return block + block / p->chunk_ratio;
}

static uint64_t
bitmap_index (const struct vhdx_priv *p, uint64_t block)
{
  return (block / p->chunk_ratio) * (p->chunk_ratio + 1) + p->chunk_ratio;
}

/* Bytes of payload block B that hold guest data. */
static uint64_t
block_used (const struct vhdx_priv *p, uint64_t b)
{
  return VDK_MIN ((uint64_t) p->block_size, p->vsize - b * p->block_size);
}

static int
read_bat (struct vdk_node *n, struct vhdx_priv *p)
{
  uint64_t bytes;
  int r;

  p->chunk_ratio = ((1ull << 23) * p->lss) / p->block_size;
  p->data_blocks = (p->vsize + p->block_size - 1) / p->block_size;
  if (p->has_parent)
    p->bat_entries = (p->data_blocks + p->chunk_ratio - 1) / p->chunk_ratio * (p->chunk_ratio + 1);
  else
    p->bat_entries = p->data_blocks ? p->data_blocks + (p->data_blocks - 1) / p->chunk_ratio : 0;
  bytes = p->bat_entries * 8;
  if (bytes > p->bat_length)
    return vdk_err (EINVAL, "%s: VHDX BAT region (%" PRIu64 " bytes) is too small for %"
                    PRIu64 " entries", n->filename, p->bat_length, p->bat_entries);
  if (bytes > VDK_MAX_META_ALLOC)
    return vdk_err (EINVAL, "%s: VHDX BAT is too large", n->filename);
  if (!vdk_range_ok (p->bat_offset, bytes, n->file->size))
    return vdk_err (EINVAL, "%s: VHDX BAT is beyond the end of the file", n->filename);
  p->bat = malloc (VDK_MAX (VDK_ROUND_UP (bytes, VHDX_LOG_SECTOR), 8));
  p->bat_dirty = calloc (VDK_MAX (VDK_ROUND_UP (bytes, VHDX_LOG_SECTOR) / VHDX_LOG_SECTOR, 1), 1);
  if (!p->bat || !p->bat_dirty)
    return vdk_err (ENOMEM, "out of memory");
  memset (p->bat, 0, VDK_ROUND_UP (bytes, VHDX_LOG_SECTOR));
  r = vhdx_meta_pread (n, p, p->bat, bytes, p->bat_offset);
  if (r < 0)
    return r;
  for (uint64_t i = 0; i < p->bat_entries; i++)
    p->bat[i] = le64toh (p->bat[i]);

  /* Every present block must be inside the file and clear of the headers,
   * the log, the BAT and the metadata region. */
  for (uint64_t b = 0; b < p->data_blocks; b++) {
    uint64_t e = p->bat[payload_index (p, b)], off = BAT_OFFSET (e), used = block_used (p, b);
    unsigned st = BAT_STATE (e);
    if (st == 4 || st == 5)
      return vdk_err (EINVAL, "%s: VHDX BAT entry for block %" PRIu64 " has invalid state %u",
                      n->filename, b, st);
    if (st == PB_PARTIALLY_PRESENT && !p->has_parent)
      return vdk_err (EINVAL, "%s: VHDX block %" PRIu64 " is partially present in an image"
                      " without a parent", n->filename, b);
    if (st != PB_FULLY_PRESENT && st != PB_PARTIALLY_PRESENT)
      continue;
    if (off < MiB || !vdk_range_ok (off, used, n->file->size))
      return vdk_err (EINVAL, "%s: VHDX block %" PRIu64 " at %#" PRIx64 " is beyond the end"
                      " of the file or in the header area", n->filename, b, off);
    if ((off < p->bat_offset + p->bat_length && off + used > p->bat_offset) ||
        (off < p->meta_offset + p->meta_length && off + used > p->meta_offset) ||
        (off < p->log_offset + p->log_length && off + used > p->log_offset))
      return vdk_err (EINVAL, "%s: VHDX block %" PRIu64 " at %#" PRIx64 " overlaps the"
                      " image metadata", n->filename, b, off);
    if (st == PB_PARTIALLY_PRESENT) {
      uint64_t sb = p->bat[bitmap_index (p, b)];
      if (BAT_STATE (sb) != SB_PRESENT || BAT_OFFSET (sb) < MiB ||
          !vdk_range_ok (BAT_OFFSET (sb), MiB, n->file->size))
        return vdk_err (EINVAL, "%s: VHDX sector bitmap for block %" PRIu64 " is missing or"
                        " beyond the end of the file", n->filename, b);
    }
  }
  return 0;
}

/* ---- check -------------------------------------------------------------- */

struct vhdx_span { uint64_t off, end, block; };

static int
span_cmp (const void *a, const void *b)
{
  const struct vhdx_span *x = a, *y = b;
  return x->off < y->off ? -1 : x->off > y->off;
}

/* Like qemu-img check for vhdx: open has already refused blocks beyond the
 * end of the file or over the metadata; here present blocks (and sector
 * bitmaps) must not overlap each other.  Nothing is repaired: overlapping
 * blocks cannot be told apart. */
static int
vhdx_check (struct vdk_node *n, int fix, struct vdk_check *res)
{
  struct vhdx_priv *p = n->priv;
  struct vhdx_span *sp;
  size_t ns = 0;

  (void) fix;
  sp = calloc (p->bat_entries ? p->bat_entries : 1, sizeof *sp);
  if (!sp)
    return vdk_err (ENOMEM, "out of memory");
  for (uint64_t b = 0; b < p->data_blocks; b++) {
    uint64_t e = p->bat[payload_index (p, b)];
    unsigned st = BAT_STATE (e);
    if (st == PB_FULLY_PRESENT || st == PB_PARTIALLY_PRESENT)
      sp[ns++] = (struct vhdx_span) { BAT_OFFSET (e), BAT_OFFSET (e) + block_used (p, b), b };
    if (st == PB_PARTIALLY_PRESENT) {
      uint64_t sb = p->bat[bitmap_index (p, b)];
      sp[ns++] = (struct vhdx_span) { BAT_OFFSET (sb), BAT_OFFSET (sb) + MiB, b };
    }
  }
  qsort (sp, ns, sizeof *sp, span_cmp);
  for (size_t i = 1; i < ns; i++)
    if (sp[i].off < sp[i - 1].end) {
      char msg[256];
      snprintf (msg, sizeof msg, "ERROR: VHDX blocks %" PRIu64 " and %" PRIu64
                " overlap at offset %#" PRIx64, sp[i - 1].block, sp[i].block, sp[i].off);
      if (res->report)
        res->report (res->opaque, msg);
      res->corruptions++;
    }
  free (sp);
  return 0;
}

/* ---- open/close ------------------------------------------------------- */

static void
vhdx_close (struct vdk_node *n)
{
  struct vhdx_priv *p = n->priv;

  free (p->bat);
  free (p->bat_dirty);
  free (p->bm);
  free (p->parent_linkage);
  free (p->parent_linkage2);
  free (p->relative_path);
  free (p->volume_path);
  free (p->abs_path);
  vhdx_free_patches (p);
  free (p);
}

static int
vhdx_open_inner (struct vdk_node *n, struct vdk_opts *opts, unsigned flags)
{
  struct vhdx_priv *p = calloc (1, sizeof *p);
  uint8_t sig[8];
  int r;

  (void) opts;
  if (!p)
    return vdk_err (ENOMEM, "out of memory");
  n->priv = p;
  p->bm_block = UINT64_MAX;
  if (n->file->size < VHDX_RT2_OFF + VHDX_RT_SIZE)
    return vdk_err (EINVAL, "%s: file is too small to be a VHDX image", n->filename);
  if ((r = vdk_node_pread (n->file, sig, 8, 0)) < 0)
    return r;
  if (memcmp (sig, "vhdxfile", 8) != 0)
    return vdk_err (EINVAL, "%s: not a VHDX image (no \"vhdxfile\" signature)", n->filename);
  if ((r = read_headers (n, p)) < 0 ||
      (r = vhdx_log_open (n, p, flags & VDK_O_RDWR)) < 0 ||
      (r = read_region_table (n, p)) < 0 ||
      (r = read_metadata (n, p)) < 0 ||
      (r = read_bat (n, p)) < 0)
    return r;
  /* A read-only replay in memory covers metadata; refuse if the log also
   * rewrites payload data we would read from the file directly. */
  for (size_t i = 0; i < p->n_patches; i++) {
    const struct vhdx_patch *pt = &p->patches[i];
    bool meta = (pt->off >= p->bat_offset && pt->off + pt->len <= p->bat_offset + p->bat_length) ||
      (pt->off >= p->meta_offset && pt->off + pt->len <= p->meta_offset + p->meta_length) ||
      pt->off + pt->len <= 320 * KiB;
    if (!meta)
      return vdk_err (EPERM, "%s: the VHDX log must be replayed and the image is opened"
                      " read-only; open it read-write once to replay the log", n->filename);
  }
  n->size = p->vsize;
  n->cluster_size = p->block_size;
  if (p->has_parent) {
    const char *name = p->relative_path ? p->relative_path :
      p->abs_path ? p->abs_path : p->volume_path;
    if (!name)
      return vdk_err (EINVAL, "%s: VHDX parent locator has no parent path", n->filename);
    n->backing_filename = windows_to_posix (name);
    n->backing_format = strdup ("vhdx");
    if (!n->backing_filename || !n->backing_format)
      return vdk_err (ENOMEM, "out of memory");
  }
  return 0;
}

/* The core drops n->priv when open fails: free it here. */
static int
vhdx_open (struct vdk_node *n, struct vdk_opts *opts, unsigned flags)
{
  int r = vhdx_open_inner (n, opts, flags);
  if (r < 0 && n->priv) {
    vhdx_close (n);
    n->priv = NULL;
  }
  return r;
}

/* ---- reads ------------------------------------------------------------ */

/* The sector bitmap bytes of block B (partially present) into p->bm. */
static int
load_bitmap (struct vdk_node *n, struct vhdx_priv *p, uint64_t b)
{
  uint64_t spb = p->block_size / p->lss, bytes = spb / 8;
  uint64_t sb = p->bat[bitmap_index (p, b)];
  int r;

  if (p->bm_block == b)
    return 0;
  if (!p->bm && !(p->bm = malloc (bytes)))
    return vdk_err (ENOMEM, "out of memory");
  r = vhdx_meta_pread (n, p, p->bm, bytes, BAT_OFFSET (sb) + (b % p->chunk_ratio) * bytes);
  if (r < 0) {
    p->bm_block = UINT64_MAX;
    return r;
  }
  p->bm_block = b;
  return 0;
}

static bool
bm_bit (const uint8_t *bm, uint64_t s)
{
  return (bm[s / 8] >> (s % 8)) & 1;
}

static int
vhdx_map (struct vdk_node *n, uint64_t off, uint64_t len, struct vdk_extent *e)
{
  struct vhdx_priv *p = n->priv;
  uint64_t b = off / p->block_size, within = off % p->block_size;
  uint64_t entry = p->bat[payload_index (p, b)];
  int r;

  e->len = VDK_MIN (len, p->block_size - within);
  switch (BAT_STATE (entry)) {
  case PB_FULLY_PRESENT:
    e->kind = VDK_EXT_DATA;
    e->host = BAT_OFFSET (entry) + within;
    return 0;
  case PB_PARTIALLY_PRESENT: {
    uint64_t s = within / p->lss, end = (within + e->len + p->lss - 1) / p->lss, t;
    bool set;
    if ((r = load_bitmap (n, p, b)) < 0)
      return r;
    set = bm_bit (p->bm, s);
    for (t = s + 1; t < end && bm_bit (p->bm, t) == set; t++)
      ;
    e->len = VDK_MIN (e->len, t * p->lss - within);
    e->kind = set ? VDK_EXT_DATA : VDK_EXT_UNALLOC;
    e->host = BAT_OFFSET (entry) + within;
    return 0;
  }
  case PB_ZERO:
  case PB_UNMAPPED:
    e->kind = VDK_EXT_ZERO;
    return 0;
  case PB_UNDEFINED:
    e->kind = p->has_parent ? VDK_EXT_UNALLOC : VDK_EXT_ZERO;
    return 0;
  default:   /* NOT_PRESENT */
    e->kind = VDK_EXT_UNALLOC;
    return 0;
  }
}

/* ---- writes ----------------------------------------------------------- */

static void
set_entry (struct vhdx_priv *p, uint64_t idx, uint64_t value)
{
  size_t s = idx * 8 / VHDX_LOG_SECTOR;
  p->bat[idx] = value;
  if (!p->bat_dirty[s]) {
    p->bat_dirty[s] = 1;
    p->n_dirty++;
  }
}

/* Write the pending BAT sectors through the log, then EXTRA (a 4 KiB sector
 * for file offset EXTRA_OFF) if given: the log applies them in this order. */
static int
commit_sectors (struct vdk_node *n, struct vhdx_priv *p, uint64_t extra_off, uint8_t *extra)
{
  size_t nsec = VDK_ROUND_UP (p->bat_entries * 8, VHDX_LOG_SECTOR) / VHDX_LOG_SECTOR, k = 0;
  uint64_t *offs;
  uint8_t **secs, *buf;
  int r;

  if (p->n_dirty == 0 && !extra)
    return 0;
  offs = calloc (p->n_dirty + 1, sizeof *offs);
  secs = calloc (p->n_dirty + 1, sizeof *secs);
  buf = malloc ((p->n_dirty + 1) * VHDX_LOG_SECTOR);
  if (!offs || !secs || !buf) {
    r = vdk_err (ENOMEM, "out of memory");
    goto out;
  }
  for (size_t s = 0; s < nsec && k < p->n_dirty; s++) {
    if (!p->bat_dirty[s])
      continue;
    secs[k] = buf + k * VHDX_LOG_SECTOR;
    offs[k] = p->bat_offset + s * VHDX_LOG_SECTOR;
    for (size_t i = 0; i < VHDX_LOG_SECTOR / 8; i++) {
      uint64_t idx = s * (VHDX_LOG_SECTOR / 8) + i;
      vdk_put_le64 (secs[k] + i * 8, idx < p->bat_entries ? p->bat[idx] : 0);
    }
    k++;
  }
  if (extra) {
    offs[k] = extra_off;
    secs[k++] = extra;
  }
  r = vhdx_log_write (n, p, offs, secs, k);
  if (r == 0) {
    memset (p->bat_dirty, 0, nsec);
    p->n_dirty = 0;
  }
 out:
  free (offs);
  free (secs);
  free (buf);
  return r;
}

/* Fill [from, to) of the block at host BLOCK_OFF (guest block start GSTART)
 * with what the guest reads there now: the backing image (differencing) or
 * zeroes. */
static int
fill_block (struct vdk_node *n, struct vhdx_priv *p, uint64_t block_off, uint64_t gstart,
            uint64_t from, uint64_t to, bool from_backing, bool need_zero)
{
  uint8_t *buf;
  int r = 0;

  (void) p;
  if (from >= to)
    return 0;
  if (!from_backing)
    return need_zero ? vdk_node_write_zeroes (n->file, block_off + from, to - from, 0) : 0;
  if (!(buf = malloc (MiB)))
    return vdk_err (ENOMEM, "out of memory");
  while (from < to && r == 0) {
    size_t l = VDK_MIN (to - from, MiB);
    r = vdk_node_read_backing (n, buf, l, gstart + from);
    if (r == 0)
      r = vdk_node_pwrite (n->file, buf, l, block_off + from, 0);
    from += l;
  }
  free (buf);
  return r;
}

static int
vhdx_alloc (struct vdk_node *n, uint64_t off, uint64_t len, struct vdk_extent *e)
{
  struct vhdx_priv *p = n->priv;
  uint64_t b = off / p->block_size, within = off % p->block_size, gstart = b * p->block_size;
  uint64_t idx = payload_index (p, b), entry = p->bat[idx], used = block_used (p, b);
  uint64_t block_off;
  unsigned st = BAT_STATE (entry);
  int r;

  e->kind = VDK_EXT_DATA;
  e->len = VDK_MIN (len, p->block_size - within);
  if (p->log_length < 2 * VHDX_LOG_SECTOR)
    return vdk_err (EROFS, "%s: the VHDX image has no log, so it cannot be written safely",
                    n->filename);
  if (!p->session_guids_done) {
    /* First write in this session: new FileWrite/DataWrite GUIDs. */
    r = vhdx_write_header (n, p, NULL);
    if (r < 0)
      return r;
  }
  if (st == PB_FULLY_PRESENT) {
    e->host = BAT_OFFSET (entry) + within;
    return 0;
  }
  if (st == PB_PARTIALLY_PRESENT) {
    /* Make the block whole: copy the parent's data into the sectors not
     * present, then mark it fully present. */
    uint64_t spb = p->block_size / p->lss;
    block_off = BAT_OFFSET (entry);
    if ((r = load_bitmap (n, p, b)) < 0)
      return r;
    for (uint64_t s = 0; s < spb && s * p->lss < used;) {
      uint64_t t = s + 1;
      bool set = bm_bit (p->bm, s);
      while (t < spb && bm_bit (p->bm, t) == set)
        t++;
      if (!set && (r = fill_block (n, p, block_off, gstart, s * p->lss,
                                   VDK_MIN (t * p->lss, used), true, false)) < 0)
        return r;
      s = t;
    }
  }
  else {
    bool reuse = BAT_OFFSET (entry) >= MiB && (st == PB_ZERO || st == PB_UNMAPPED ||
                                               st == PB_UNDEFINED) &&
      vdk_range_ok (BAT_OFFSET (entry), used, n->file->size) &&
      !(BAT_OFFSET (entry) < p->bat_offset + p->bat_length &&
        BAT_OFFSET (entry) + used > p->bat_offset) &&
      !(BAT_OFFSET (entry) < p->meta_offset + p->meta_length &&
        BAT_OFFSET (entry) + used > p->meta_offset) &&
      !(BAT_OFFSET (entry) < p->log_offset + p->log_length &&
        BAT_OFFSET (entry) + used > p->log_offset);
    bool from_backing = p->has_parent && (st == PB_NOT_PRESENT || st == PB_UNDEFINED);

    if (reuse)
      block_off = BAT_OFFSET (entry);   /* e.g. qemu's fixed images: ZERO with an offset */
    else {
      /* At the end of the file, and never inside a region that a sparse
       * file does not cover yet. */
      block_off = VDK_ROUND_UP (n->file->size, MiB);
      block_off = VDK_MAX (block_off, p->log_offset + p->log_length);
      block_off = VDK_MAX (block_off, p->bat_offset + p->bat_length);
      block_off = VDK_MAX (block_off, p->meta_offset + p->meta_length);
      if (block_off > VDK_MAX_IMAGE_SIZE)
        return vdk_err (EFBIG, "%s: VHDX file is too large", n->filename);
      r = vdk_node_truncate (n->file, block_off + p->block_size, VDK_PREALLOC_OFF, false);
      if (r < 0)
        return r;
    }
    if ((r = fill_block (n, p, block_off, gstart, 0, within, from_backing, reuse)) < 0 ||
        (r = fill_block (n, p, block_off, gstart, within + e->len, used, from_backing, reuse)) < 0)
      return r;
  }
  e->host = block_off + within;
  e->needs_commit = true;
  e->cookie = block_off;
  return 0;
}

static int
vhdx_alloc_commit (struct vdk_node *n, const struct vdk_extent *e)
{
  struct vhdx_priv *p = n->priv;
  uint64_t b = e->off / p->block_size;

  set_entry (p, payload_index (p, b), e->cookie | PB_FULLY_PRESENT);
  if (p->bm_block == b)
    p->bm_block = UINT64_MAX;
  /* Writethrough: the write is not done until its BAT entry is on disk. */
  if (p->n_dirty >= MAX_DIRTY_BAT_SECTORS || (n->flags & VDK_O_WRITETHROUGH))
    return commit_sectors (n, p, 0, NULL);
  return 0;
}

/* Zeroing: whole blocks become ZERO blocks (keeping their space for reuse),
 * the rest of allocated blocks is zeroed in place; ranges that already read
 * as zeroes are left alone.  Anything else (a partial block that reads from
 * a parent) returns -ENOTSUP before changing anything, and the core writes
 * zeroes instead. */
static int
vhdx_write_zeroes (struct vdk_node *n, uint64_t off, uint64_t len, unsigned flags)
{
  struct vhdx_priv *p = n->priv;
  int r;

  (void) flags;
  if (p->log_length < 2 * VHDX_LOG_SECTOR)
    return -ENOTSUP;
  for (int pass = 0; pass < 2; pass++) {
    for (uint64_t o = off, end = off + len; o < end;) {
      uint64_t b = o / p->block_size, within = o % p->block_size;
      uint64_t l = VDK_MIN (end - o, p->block_size - within);
      uint64_t idx = payload_index (p, b), e = p->bat[idx];
      unsigned st = BAT_STATE (e);
      bool whole = within == 0 && (l == p->block_size || o + l == p->vsize);
      bool reads_zero = st == PB_ZERO || st == PB_UNMAPPED ||
        (!p->has_parent && (st == PB_NOT_PRESENT || st == PB_UNDEFINED));

      if (pass == 0) {
        if (!whole && !reads_zero && st != PB_FULLY_PRESENT)
          return -ENOTSUP;
      }
      else if (whole) {
        if (st != PB_ZERO) {
          if (!p->session_guids_done && (r = vhdx_write_header (n, p, NULL)) < 0)
            return r;
          set_entry (p, idx, (st == PB_FULLY_PRESENT || st == PB_PARTIALLY_PRESENT ||
                              reads_zero ? BAT_OFFSET (e) : 0) | PB_ZERO);
          if (p->bm_block == b)
            p->bm_block = UINT64_MAX;
        }
      }
      else if (st == PB_FULLY_PRESENT) {
        if ((r = vdk_node_write_zeroes (n->file, BAT_OFFSET (e) + within, l, 0)) < 0)
          return r;
      }
      o += l;
    }
  }
  if (p->n_dirty >= MAX_DIRTY_BAT_SECTORS || (n->flags & VDK_O_WRITETHROUGH))
    return commit_sectors (n, p, 0, NULL);
  return 0;
}

static int
vhdx_flush (struct vdk_node *n)
{
  return commit_sectors (n, n->priv, 0, NULL);
}

/* Grow the virtual size.  New BAT entries (not present, or allocated blocks
 * for a fixed image) and then the new size go through the log in that order,
 * so a crash leaves either the old size or the new one with a valid BAT. */
static int
vhdx_truncate (struct vdk_node *n, uint64_t size, enum vdk_prealloc pa, bool shrink)
{
  struct vhdx_priv *p = n->priv;
  uint64_t data_blocks, entries, old_entries = p->bat_entries, bytes, old_bytes;
  uint8_t *sec;
  int r;

  (void) shrink;
  if (size < p->vsize)
    return vdk_err (ENOTSUP, "%s: shrinking VHDX images is not supported", n->filename);
  if (pa != VDK_PREALLOC_OFF)
    return vdk_err (ENOTSUP, "%s: preallocation mode '%s' is not supported for vhdx resize",
                    n->filename, vdk_prealloc_name (pa));
  if (size % p->lss || size > VHDX_MAX_VSIZE)
    return vdk_err (EINVAL, "%s: the new size must be a multiple of %" PRIu32 " bytes and at"
                    " most 64 TiB", n->filename, p->lss);
  if (size == p->vsize)
    return 0;
  if (p->vsize_item_off % VHDX_LOG_SECTOR > VHDX_LOG_SECTOR - 8)
    return vdk_err (ENOTSUP, "%s: the virtual size item crosses a 4 KiB boundary",
                    n->filename);
  data_blocks = (size + p->block_size - 1) / p->block_size;
  if (p->has_parent)
    entries = (data_blocks + p->chunk_ratio - 1) / p->chunk_ratio * (p->chunk_ratio + 1);
  else
    entries = data_blocks + (data_blocks - 1) / p->chunk_ratio;
  if (entries * 8 > p->bat_length)
    return vdk_err (ENOTSUP, "%s: growing to %" PRIu64 " bytes needs a larger BAT region,"
                    " which is not supported", n->filename, size);
  if ((r = commit_sectors (n, p, 0, NULL)) < 0)
    return r;
  bytes = VDK_ROUND_UP (entries * 8, VHDX_LOG_SECTOR);
  old_bytes = VDK_ROUND_UP (old_entries * 8, VHDX_LOG_SECTOR);
  if (bytes > old_bytes) {
    uint64_t *nb = realloc (p->bat, bytes);
    uint8_t *nd;
    if (!nb)
      return vdk_err (ENOMEM, "out of memory");
    p->bat = nb;
    nd = realloc (p->bat_dirty, bytes / VHDX_LOG_SECTOR);
    if (!nd)
      return vdk_err (ENOMEM, "out of memory");
    p->bat_dirty = nd;
    memset ((uint8_t *) p->bat + old_bytes, 0, bytes - old_bytes);
    memset (p->bat_dirty + old_bytes / VHDX_LOG_SECTOR, 0, (bytes - old_bytes) / VHDX_LOG_SECTOR);
  }
  /* The new entries start out "not present": rewrite their sectors, which
   * other writers need not have zeroed. */
  for (uint64_t i = old_entries; i < entries; i++)
    set_entry (p, i, 0);
  /* The old last block's bytes past the old end must read as zeroes now. */
  if (p->data_blocks && p->vsize % p->block_size) {
    uint64_t b = p->data_blocks - 1, e = p->bat[payload_index (p, b)];
    uint64_t from = p->vsize - b * p->block_size;
    uint64_t to = VDK_MIN ((uint64_t) p->block_size, size - b * p->block_size);
    if (BAT_STATE (e) == PB_FULLY_PRESENT &&
        (r = vdk_node_write_zeroes (n->file, BAT_OFFSET (e) + from, to - from, 0)) < 0)
      return r;
  }
  if (!(sec = malloc (VHDX_LOG_SECTOR)))
    return vdk_err (ENOMEM, "out of memory");
  p->bat_entries = entries;
  /* A fixed image stays fully allocated. */
  for (uint64_t b = p->data_blocks; p->leave_allocated && !p->has_parent && b < data_blocks; b++) {
    uint64_t off = VDK_ROUND_UP (n->file->size, MiB);
    off = VDK_MAX (off, p->log_offset + p->log_length);
    off = VDK_MAX (off, p->bat_offset + p->bat_length);
    off = VDK_MAX (off, p->meta_offset + p->meta_length);
    if ((r = vdk_node_truncate (n->file, off + p->block_size, VDK_PREALLOC_OFF, false)) < 0)
      goto fail;
    set_entry (p, payload_index (p, b), off | PB_FULLY_PRESENT);
  }
  r = vhdx_meta_pread (n, p, sec, VHDX_LOG_SECTOR, VDK_ROUND_DOWN (p->vsize_item_off, VHDX_LOG_SECTOR));
  if (r < 0)
    goto fail;
  vdk_put_le64 (sec + p->vsize_item_off % VHDX_LOG_SECTOR, size);
  r = commit_sectors (n, p, VDK_ROUND_DOWN (p->vsize_item_off, VHDX_LOG_SECTOR), sec);
  if (r < 0)
    goto fail;
  free (sec);
  p->vsize = size;
  p->data_blocks = data_blocks;
  n->size = size;
  return 0;
 fail:
  free (sec);
  p->bat_entries = old_entries;
  for (uint64_t i = old_entries; i < entries; i++)
    p->bat[i] = 0;
  return r;
}

/* ---- create ----------------------------------------------------------- */

/* Write a parent locator for BACKING with linkage GUID into ITEM (zeroed,
 * MAX_LOCATOR_SIZE bytes); returns its length. */
static uint32_t
make_locator (uint8_t *item, const char *linkage, const char *relative, const char *absolute)
{
  const char *keys[3] = { "parent_linkage", "relative_path", "absolute_win32_path" };
  const char *vals[3] = { linkage, relative, absolute };
  uint32_t pos = 20 + 3 * 12;

  memcpy (item, GUID_VHDX_LOCATOR, 16);
  vdk_put_le16 (item + 18, 3);
  for (int i = 0; i < 3; i++) {
    uint8_t *e = item + 20 + i * 12;
    size_t kl, vl;
    vdk_put_le32 (e, pos);
    kl = vdk_utf8_to_utf16 (item + pos, keys[i], 256, false, false);
    pos += kl;
    vdk_put_le32 (e + 4, pos);
    vl = vdk_utf8_to_utf16 (item + pos, vals[i], 4096, false, false);
    pos += vl;
    vdk_put_le16 (e + 8, kl);
    vdk_put_le16 (e + 10, vl);
  }
  return pos;
}

static int
parent_info (struct vdk_node *file, const char *backing, const char *bfmt, char linkage[39],
             uint64_t *psize, char **abs_out)
{
  struct vdk_node *b;
  char *name = vdk_resolve_relative (file->filename, backing);
  int r;

  if (!name)
    return vdk_err (ENOMEM, "out of memory");
  if (bfmt && strcmp (bfmt, "vhdx") != 0) {
    free (name);
    return vdk_err (EINVAL, "%s: the parent of a VHDX differencing image must be a VHDX image,"
                    " not %s", file->filename, bfmt);
  }
  r = vdk_open_spec (name, "vhdx", NULL, VDK_O_NOLOCK | VDK_O_NO_BACKING, 1, &b);
  if (r < 0) {
    free (name);
    vdk_err_prefix ("%s: could not open the VHDX parent", file->filename);
    return r;
  }
  guid_string (((struct vhdx_priv *) b->priv)->hdr + H_DATA_GUID, linkage);
  *psize = b->size;
  vdk_node_close (b);
  *abs_out = realpath (name, NULL);
  if (!*abs_out)
    *abs_out = name;
  else
    free (name);
  return 0;
}

static int
vhdx_create (struct vdk_node *file, uint64_t size, struct vdk_opts *opts)
{
  const char *sub = vdk_opts_take (opts, "subformat");
  const char *backing = vdk_opts_take (opts, "backing_file");
  const char *bfmt = vdk_opts_take (opts, "backing_fmt");
  uint64_t block_size = 0, log_size = MiB, lss = 512, psize = 0;
  bool zero_state = true, fixed = false;
  char linkage[39] = "", *abs_parent = NULL, *rel_parent = NULL;
  struct vhdx_priv p;
  uint8_t *buf = NULL;
  int r;

  memset (&p, 0, sizeof p);
  if ((r = vdk_opts_take_size (opts, "block_size", &block_size)) < 0 ||
      (r = vdk_opts_take_size (opts, "log_size", &log_size)) < 0 ||
      (r = vdk_opts_take_bool (opts, "block_state_zero", &zero_state)) < 0 ||
      (r = vdk_opts_take_uint (opts, "logical_sector_size", &lss)) < 0)
    return r;
  if (!sub || !strcmp (sub, "dynamic"))
    fixed = false;
  else if (!strcmp (sub, "fixed"))
    fixed = true;
  else
    return vdk_err (EINVAL, "%s: Parameter 'subformat' does not accept value '%s'", file->filename, sub);
  if (backing && fixed)
    return vdk_err (EINVAL, "%s: a differencing VHDX image cannot be fixed", file->filename);
  if (lss != 512 && lss != 4096)
    return vdk_err (EINVAL, "%s: logical_sector_size must be 512 or 4096", file->filename);
  if (size > VHDX_MAX_VSIZE)
    return vdk_err (EINVAL, "%s: VHDX images are at most 64 TiB", file->filename);
  size = VDK_ROUND_UP (size, lss);   /* as qemu: whole sectors */
  if (block_size == 0) {
    /* qemu's defaults, from Microsoft's recommendations */
    if (size > 32ull << 40)
      block_size = 64 * MiB;
    else if (size > 100ull << 30)
      block_size = 32 * MiB;
    else if (size > 1ull << 30)
      block_size = 16 * MiB;
    else
      block_size = 8 * MiB;
  }
  if (block_size < MiB || block_size > 256 * MiB || !VDK_IS_POW2 (block_size))
    return vdk_err (EINVAL, "%s: block_size must be a power of two from 1 MiB to 256 MiB",
                    file->filename);
  if (log_size < MiB || log_size % MiB || log_size > 0xFFF00000ull)
    return vdk_err (EINVAL, "%s: log_size must be a multiple of 1 MiB, at least 1 MiB",
                    file->filename);
  if (backing) {
    if ((r = parent_info (file, backing, bfmt, linkage, &psize, &abs_parent)) < 0)
      return r;
    (void) psize;
    rel_parent = strdup (backing);
    if (!rel_parent) {
      free (abs_parent);
      return vdk_err (ENOMEM, "out of memory");
    }
    for (char *c = rel_parent; *c; c++)
      if (*c == '/')
        *c = '\\';
  }

  p.block_size = block_size;
  p.lss = lss;
  p.vsize = size;
  p.has_parent = backing != NULL;
  p.chunk_ratio = ((1ull << 23) * lss) / block_size;
  p.data_blocks = (size + block_size - 1) / block_size;
  if (p.has_parent)
    p.bat_entries = (p.data_blocks + p.chunk_ratio - 1) / p.chunk_ratio * (p.chunk_ratio + 1);
  else
    p.bat_entries = p.data_blocks ? p.data_blocks + (p.data_blocks - 1) / p.chunk_ratio : 0;
  if (p.bat_entries * 8 > VDK_MAX_META_ALLOC) {
    r = vdk_err (EINVAL, "%s: a BAT of %" PRIu64 " entries is too large; use a larger"
                 " block_size", file->filename, p.bat_entries);
    goto out;
  }
  p.log_offset = MiB;
  p.log_length = log_size;
  p.bat_offset = p.log_offset + log_size;
  p.bat_length = VDK_MAX (VDK_ROUND_UP (p.bat_entries * 8, MiB), MiB);
  p.meta_offset = p.bat_offset + p.bat_length;
  p.meta_length = MiB;
  uint64_t data_start = p.meta_offset + p.meta_length;

  buf = calloc (1, MiB);   /* >= VHDX_RT_SIZE; the BAT is written 1 MiB at a time */
  if (!buf) {
    r = vdk_err (ENOMEM, "out of memory");
    goto out;
  }

  /* File type identifier */
  memcpy (buf, "vhdxfile", 8);
  vdk_utf8_to_utf16 (buf + 8, "vdk " VDK_VERSION, 256, false, false);
  if ((r = vdk_node_pwrite (file, buf, 8 + 512, 0, 0)) < 0)
    goto out;

  /* Region tables */
  memset (buf, 0, VHDX_RT_SIZE);
  memcpy (buf, "regi", 4);
  vdk_put_le32 (buf + 8, 2);
  memcpy (buf + 16, GUID_BAT, 16);
  vdk_put_le64 (buf + 32, p.bat_offset);
  vdk_put_le32 (buf + 40, p.bat_length);
  vdk_put_le32 (buf + 44, 1);
  memcpy (buf + 48, GUID_METADATA, 16);
  vdk_put_le64 (buf + 64, p.meta_offset);
  vdk_put_le32 (buf + 72, p.meta_length);
  vdk_put_le32 (buf + 76, 1);
  vdk_put_le32 (buf + 4, vhdx_crc32c (buf, VHDX_RT_SIZE, 4));
  if ((r = vdk_node_pwrite (file, buf, VHDX_RT_SIZE, VHDX_RT1_OFF, 0)) < 0 ||
      (r = vdk_node_pwrite (file, buf, VHDX_RT_SIZE, VHDX_RT2_OFF, 0)) < 0)
    goto out;

  /* Metadata: table, then the items from 64 KiB on */
  {
    uint8_t *t = buf;
    uint32_t item = VHDX_META_TABLE_SIZE;
    uint16_t count = 0;
    struct { const uint8_t *guid; uint32_t len, flags; } items[6] = {
      { GUID_FILE_PARAMS, 8, META_IS_REQUIRED },
      { GUID_VDISK_SIZE, 8, META_IS_VIRTUAL_DISK | META_IS_REQUIRED },
      { GUID_PAGE83, 16, META_IS_VIRTUAL_DISK | META_IS_REQUIRED },
      { GUID_LOGICAL_SS, 4, META_IS_VIRTUAL_DISK | META_IS_REQUIRED },
      { GUID_PHYSICAL_SS, 4, META_IS_VIRTUAL_DISK | META_IS_REQUIRED },
      { GUID_PARENT_LOCATOR, 0, META_IS_REQUIRED },
    };
    uint8_t *locator = NULL;
    uint32_t loc_len = 0;

    if (backing) {
      locator = calloc (1, MAX_LOCATOR_SIZE);
      if (!locator) {
        r = vdk_err (ENOMEM, "out of memory");
        goto out;
      }
      if (strlen (rel_parent) >= 4096 || strlen (abs_parent) >= 4096) {
        free (locator);
        r = vdk_err (ENAMETOOLONG, "%s: backing file name is too long", file->filename);
        goto out;
      }
      loc_len = make_locator (locator, linkage, rel_parent, abs_parent);
      items[5].len = loc_len;
    }
    memset (t, 0, VHDX_META_TABLE_SIZE);
    memcpy (t, "metadata", 8);
    for (int i = 0; i < (backing ? 6 : 5); i++) {
      uint8_t *e = t + 32 + count * 32;
      uint8_t v[16];
      memcpy (e, items[i].guid, 16);
      vdk_put_le32 (e + 16, item);
      vdk_put_le32 (e + 20, items[i].len);
      vdk_put_le32 (e + 24, items[i].flags);
      memset (v, 0, sizeof v);
      switch (i) {
      case 0:
        vdk_put_le32 (v, block_size);
        vdk_put_le32 (v + 4, (backing ? PARAM_HAS_PARENT : 0) |
                      (fixed ? PARAM_LEAVE_ALLOCATED : 0));
        break;
      case 1: vdk_put_le64 (v, size); break;
      case 2: vhdx_random_guid (v); break;
      case 3: vdk_put_le32 (v, lss); break;
      case 4: vdk_put_le32 (v, 4096 == lss ? 4096 : 512); break;
      }
      r = vdk_node_pwrite (file, i == 5 ? locator : v, items[i].len, p.meta_offset + item, 0);
      if (r < 0) {
        free (locator);
        goto out;
      }
      item += VDK_ROUND_UP (items[i].len, 8);
      count++;
    }
    free (locator);
    vdk_put_le16 (t + 10, count);
    if ((r = vdk_node_pwrite (file, t, VHDX_META_TABLE_SIZE, p.meta_offset, 0)) < 0)
      goto out;
  }

  /* BAT, in 1 MiB pieces (all-zero pieces stay holes) */
  for (uint64_t piece = 0; piece * MiB < p.bat_entries * 8; piece++) {
    uint64_t first = piece * (MiB / 8), last = VDK_MIN (p.bat_entries, first + MiB / 8);
    memset (buf, 0, MiB);
    for (uint64_t i = first; i < last; i++) {
      uint64_t b = i - i / (p.chunk_ratio + 1), v;   /* i's payload block */
      if ((i + 1) % (p.chunk_ratio + 1) == 0)
        continue;                                     /* a sector bitmap entry */
      if (fixed)
        v = (data_start + b * block_size) | (zero_state ? PB_ZERO : PB_FULLY_PRESENT);
      else
        v = zero_state && !backing ? PB_ZERO : PB_NOT_PRESENT;
      vdk_put_le64 (buf + (i - first) * 8, v);
    }
    if (!vdk_is_zero (buf, MiB) &&
        (r = vdk_node_pwrite (file, buf, VDK_ROUND_UP ((last - first) * 8, VHDX_LOG_SECTOR),
                              p.bat_offset + piece * MiB, 0)) < 0)
      goto out;
  }
  r = vdk_node_truncate (file, data_start + (fixed ? size : 0), VDK_PREALLOC_OFF, false);
  if (r < 0)
    goto out;

  /* Headers last: the image is valid only once they are written. */
  memcpy (p.hdr + H_SIG, "head", 4);
  vhdx_random_guid (p.hdr + H_FILE_GUID);
  vhdx_random_guid (p.hdr + H_DATA_GUID);
  vdk_put_le16 (p.hdr + H_LOG_VERSION, 0);
  vdk_put_le16 (p.hdr + H_VERSION, 1);
  vdk_put_le32 (p.hdr + H_LOG_LENGTH, log_size);
  vdk_put_le64 (p.hdr + H_LOG_OFFSET, p.log_offset);
  p.session_guids_done = true;
  p.cur_slot = 1;
  struct vdk_node tmp = { .file = file, .filename = file->filename };
  r = vhdx_write_header (&tmp, &p, NULL);
 out:
  free (buf);
  free (abs_parent);
  free (rel_parent);
  return r;
}

/* measure (qemu-img does not measure vhdx): the layout of vhdx_create
 * (header area, log, BAT, metadata, each a whole number of MiB), then one
 * block per payload block written, plus one 1 MiB sector bitmap block per
 * chunk in a differencing image (which counts every block, as qemu does for
 * qcow2 with a backing file).  A fixed image is fully allocated. */
static int
vhdx_measure (struct vdk_opts *opts, uint64_t size,
              uint64_t (*data_bytes) (void *, uint64_t), void *opaque,
              uint64_t *required, uint64_t *full)
{
  const char *sub = vdk_opts_take (opts, "subformat");
  bool backing = vdk_opts_take (opts, "backing_file") != NULL, zero_state = true;
  uint64_t block_size = 0, log_size = MiB, lss = 512, blocks, chunk_ratio, bat_entries;
  uint64_t head, used;
  int r;

  vdk_opts_take (opts, "backing_fmt");
  if ((r = vdk_opts_take_size (opts, "block_size", &block_size)) < 0 ||
      (r = vdk_opts_take_size (opts, "log_size", &log_size)) < 0 ||
      (r = vdk_opts_take_bool (opts, "block_state_zero", &zero_state)) < 0 ||
      (r = vdk_opts_take_uint (opts, "logical_sector_size", &lss)) < 0)
    return r;
  if (sub && strcmp (sub, "dynamic") && strcmp (sub, "fixed"))
    return vdk_err (EINVAL, "Parameter 'subformat' does not accept value '%s'", sub);
  if (lss != 512 && lss != 4096)
    return vdk_err (EINVAL, "logical_sector_size must be 512 or 4096");
  if (size > VHDX_MAX_VSIZE)
    return vdk_err (EINVAL, "VHDX images are at most 64 TiB");
  size = VDK_ROUND_UP (size, lss);
  if (block_size == 0)
    block_size = size > 32ull << 40 ? 64 * MiB : size > 100ull << 30 ? 32 * MiB
      : size > 1ull << 30 ? 16 * MiB : 8 * MiB;
  if (block_size < MiB || block_size > 256 * MiB || !VDK_IS_POW2 (block_size))
    return vdk_err (EINVAL, "block_size must be a power of two from 1 MiB to 256 MiB");
  if (log_size < MiB || log_size % MiB || log_size > 0xFFF00000ull)
    return vdk_err (EINVAL, "log_size must be a multiple of 1 MiB, at least 1 MiB");
  chunk_ratio = ((1ull << 23) * lss) / block_size;
  blocks = (size + block_size - 1) / block_size;
  bat_entries = backing ? (blocks + chunk_ratio - 1) / chunk_ratio * (chunk_ratio + 1)
    : blocks ? blocks + (blocks - 1) / chunk_ratio : 0;
  head = MiB + log_size + VDK_MAX (VDK_ROUND_UP (bat_entries * 8, MiB), MiB) + MiB;
  if (sub && !strcmp (sub, "fixed")) {   /* the virtual size behind the metadata */
    *required = *full = head + size;
    return 0;
  }
  *full = head + blocks * block_size +
    (backing ? (blocks + chunk_ratio - 1) / chunk_ratio * MiB : 0);
  if (backing && data_bytes) {
    *required = *full;
    return 0;
  }
  used = data_bytes ? (data_bytes (opaque, block_size) + block_size - 1) / block_size : 0;
  *required = head + VDK_MIN (used, blocks) * block_size;
  return 0;
}

/* Like qemu-img: the block size as cluster_size, no format-specific lines. */
static int
vhdx_info (struct vdk_node *n, struct disk_info *info)
{
  info->cluster_size = n->cluster_size;
  return 0;
}

static const struct vdk_opt_desc vhdx_create_opts[] = {
  { "size", "size", "Virtual disk size; max of 64TB.", NULL },
  { "subformat", "string", "VHDX format type, can be either 'dynamic' or 'fixed'."
    " Default is 'dynamic'.", "dynamic" },
  { "block_size", "size", "Block Size; min 1MB, max 256MB. 0 means auto-calculate based on"
    " image size.", "0" },
  { "log_size", "size", "Log size; min 1MB.", "1M" },
  { "block_state_zero", "bool", "Force use of payload blocks of type 'ZERO'.", "on" },
  { "logical_sector_size", "number", "Logical sector size: 512 or 4096", "512" },
  { "backing_file", "string", "File name of the parent image (a differencing image)", NULL },
  { "backing_fmt", "string", "Format of the parent image (vhdx)", NULL },
  { NULL, NULL, NULL, NULL },
};

const struct vdk_format vdk_format_vhdx = {
  .struct_size = sizeof (struct vdk_format),
  .name = "vhdx",
  .probe = vhdx_probe,
  .open = vhdx_open,
  .close = vhdx_close,
  .map = vhdx_map,
  .alloc = vhdx_alloc,
  .alloc_commit = vhdx_alloc_commit,
  .flush = vhdx_flush,
  .write_zeroes = vhdx_write_zeroes,
  .truncate = vhdx_truncate,
  .create = vhdx_create,
  .create_opts = vhdx_create_opts,
  .measure = vhdx_measure,
  .info = vhdx_info,
  .check = vhdx_check,
};
