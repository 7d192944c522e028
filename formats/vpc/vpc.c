/* vpc: Microsoft Virtual PC / Virtual Hard Disk (VHD) images, fixed and
 * dynamic ("Virtual Hard Disk Image Format Specification").
 *
 * All fields are big-endian.  A fixed image is the guest bytes followed by a
 * 512-byte footer; a dynamic image starts with a copy of the footer, then the
 * dynamic disk header (1024 bytes), the block allocation table (BAT, 32-bit
 * sector numbers, 0xFFFFFFFF = unallocated) and blocks, each a sector bitmap
 * rounded up to 512 bytes followed by the block's data; the footer is
 * repeated at the end of the file.  A differencing image is a dynamic one
 * whose sector bitmaps (most significant bit first) say which sectors are in
 * this file; the others, and unallocated blocks, come from the parent, named
 * by the parent locators of the dynamic header.  qemu does not open
 * differencing VHDs; our writes copy the parent's data into a block and mark
 * it whole, as qemu marks every block it writes.
 *
 * Sizes follow qemu so that virtual sizes agree with qemu-img: an image whose
 * creator is "qemu" or "vpc " (or unknown) has the size of its CHS geometry,
 * one written by Hyper-V, disk2vhd, XenServer or "qemu -o force_size" ("qem2")
 * the size stored in the footer.  qemu only probes images with the footer copy
 * at offset 0 (dynamic), so fixed images probe as raw there and here. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "../../libdisk/internal.h"

#define DIV_ROUND_UP_U64(a, b) (((a) + (b) - 1) / (b))

#define VPC_SECTOR 512u
#define VPC_FOOTER_SIZE 512u
#define VPC_DYN_HEADER_SIZE 1024u
#define VPC_TIMESTAMP_BASE 946684800   /* 2000-01-01 00:00:00 UTC */
#define VPC_UNALLOCATED 0xFFFFFFFFu

enum { VHD_FIXED = 2, VHD_DYNAMIC = 3, VHD_DIFFERENCING = 4 };

/* CHS limits and qemu's size limit. */
#define VHD_CHS_MAX_C 65535LL
#define VHD_CHS_MAX_H 16
#define VHD_CHS_MAX_S 255
#define VHD_MAX_GEOMETRY (VHD_CHS_MAX_C * VHD_CHS_MAX_H * VHD_CHS_MAX_S)
#define VHD_MAX_SECTORS 0xff000000LL   /* 2040 GiB */
#define VPC_MAX_BLOCK_SIZE (256u << 20)

/* Footer field offsets. */
enum {
  F_COOKIE = 0, F_FEATURES = 8, F_VERSION = 12, F_DATA_OFFSET = 16, F_TIMESTAMP = 24,
  F_CREATOR_APP = 28, F_CREATOR_VER = 32, F_CREATOR_OS = 36, F_ORIG_SIZE = 40,
  F_CUR_SIZE = 48, F_CYLS = 56, F_HEADS = 58, F_SECS = 59, F_TYPE = 60,
  F_CHECKSUM = 64, F_UUID = 68, F_SAVED = 84,
};
/* Dynamic header field offsets. */
enum {
  D_COOKIE = 0, D_DATA_OFFSET = 8, D_TABLE_OFFSET = 16, D_VERSION = 24,
  D_MAX_ENTRIES = 28, D_BLOCK_SIZE = 32, D_CHECKSUM = 36, D_PARENT_UUID = 40,
  D_PARENT_TIME = 56, D_PARENT_NAME = 64, D_LOCATORS = 576,
};
#define VPC_LOCATOR_MAX (32 * 1024)   /* a parent path, UTF-16 */

struct vpc_priv {
  uint8_t footer[VPC_FOOTER_SIZE];
  uint32_t type;
  uint32_t block_size, bitmap_size;
  uint32_t max_entries;
  uint32_t *bat;             /* host-endian copy of the BAT */
  uint64_t bat_offset;
  uint64_t free_offset;      /* end of the last block: the footer lives here */
  uint64_t last_bitmap;      /* block whose bitmap was set to all ones, or UINT64_MAX */
  uint8_t *ones;             /* bitmap_size bytes of 0xFF */
  uint8_t *bm;               /* differencing: cached bitmap of block bm_block */
  uint64_t bm_block;
};

static uint32_t
vpc_checksum (const uint8_t *buf, size_t len, size_t skip_at)
{
  uint32_t sum = 0;
  for (size_t i = 0; i < len; i++)
    if (i < skip_at || i >= skip_at + 4)
      sum += buf[i];
  return ~sum;
}

static int
vpc_probe (const uint8_t *buf, size_t len, const char *filename)
{
  (void) filename;
  return len >= 8 && memcmp (buf, "conectix", 8) == 0 ? 100 : 0;
}

/* qemu's CHS geometry for TOTAL_SECTORS (the VHD spec's algorithm). */
static void
vpc_geometry (int64_t total_sectors, uint16_t *cyls, uint8_t *heads, uint8_t *secs)
{
  uint32_t cth;

  if (total_sectors > VHD_MAX_GEOMETRY)
    total_sectors = VHD_MAX_GEOMETRY;
  if (total_sectors >= 65535LL * 16 * 63) {
    *secs = 255;
    *heads = 16;
    cth = total_sectors / *secs;
  }
  else {
    *secs = 17;
    cth = total_sectors / *secs;
    *heads = (cth + 1023) / 1024;
    if (*heads < 4)
      *heads = 4;
    if (cth >= (uint32_t) *heads * 1024 || *heads > 16) {
      *secs = 31;
      *heads = 16;
      cth = total_sectors / *secs;
    }
    if (cth >= (uint32_t) *heads * 1024) {
      *secs = 63;
      *heads = 16;
      cth = total_sectors / *secs;
    }
  }
  *cyls = cth / *heads;
}

/* The size qemu gives an image of SIZE bytes: rounded up to a whole CHS
 * geometry unless FORCE_SIZE (or the geometry is the maximum). */
static int
vpc_rounded_size (uint64_t size, bool force_size, uint16_t *cyls, uint8_t *heads,
                  uint8_t *secs, int64_t *total_sectors)
{
  int64_t ts;

  *cyls = 0; *heads = 0; *secs = 0;
  if (force_size) {
    *cyls = VHD_CHS_MAX_C;
    *heads = VHD_CHS_MAX_H;
    *secs = VHD_CHS_MAX_S;
  }
  else {
    ts = VDK_MIN ((int64_t) VHD_MAX_GEOMETRY, (int64_t) (size / VPC_SECTOR));
    for (int64_t i = 0; ts > (int64_t) *cyls * *heads * *secs; i++)
      vpc_geometry (ts + i, cyls, heads, secs);
  }
  if ((int64_t) *cyls * *heads * *secs == VHD_MAX_GEOMETRY) {
    ts = size / VPC_SECTOR;
    if (ts > VHD_MAX_SECTORS)
      return vdk_err (EFBIG, "Disk size is too large, max size is 2040 GiB");
  }
  else
    ts = (int64_t) *cyls * *heads * *secs;
  *total_sectors = ts;
  return 0;
}

static bool
creator_uses_size (const uint8_t *app)
{
  static const char *const apps[] = { "win ", "qem2", "d2v ", "CTXS" };
  for (size_t i = 0; i < VDK_ARRAY_SIZE (apps); i++)
    if (memcmp (app, apps[i], 4) == 0)
      return true;
  return memcmp (app, "tap\0", 4) == 0;
}

/* UTF-16 (LE or BE) -> UTF-8, '\\' -> '/', without a leading "./". */
static char *
utf16_path (const uint8_t *s, size_t bytes, bool be)
{
  char *out = malloc (bytes / 2 * 3 + 1), *start;
  size_t o = 0;

  if (!out)
    return NULL;
  for (size_t i = 0; i + 1 < bytes; i += 2) {
    uint32_t c = be ? vdk_be16 (s + i) : vdk_le16 (s + i);
    if (c == 0)
      break;
    if (c >= 0xD800 && c < 0xE000)
      c = 0xFFFD;   /* paths with characters outside the BMP: not expected */
    if (c == '\\')
      c = '/';
    if (c < 0x80)
      out[o++] = c;
    else if (c < 0x800) {
      out[o++] = 0xC0 | (c >> 6);
      out[o++] = 0x80 | (c & 0x3F);
    }
    else {
      out[o++] = 0xE0 | (c >> 12);
      out[o++] = 0x80 | ((c >> 6) & 0x3F);
      out[o++] = 0x80 | (c & 0x3F);
    }
  }
  out[o] = 0;
  start = out;
  while (start[0] == '.' && start[1] == '/')
    start += 2;
  if (start != out)
    memmove (out, start, strlen (start) + 1);
  return out;
}

/* The parent's name from the locators ("W2ru" relative, then "W2ku"
 * absolute Windows paths), else the parent's Unicode name.  Locator data is
 * also kept clear of new blocks (FREE_OFFSET). */
static int
vpc_parent (struct vdk_node *n, struct vpc_priv *p, const uint8_t *dyn, uint64_t *free_offset)
{
  static const char *const codes[] = { "W2ru", "W2ku" };
  char *found[2] = { NULL, NULL };
  int r = 0;

  for (int i = 0; i < 8; i++) {
    const uint8_t *l = dyn + D_LOCATORS + 24 * i;
    uint32_t space = vdk_be32 (l + 4), len = vdk_be32 (l + 8);
    uint64_t off = vdk_be64 (l + 16);
    if (!memcmp (l, "\0\0\0\0", 4) || off == 0)
      continue;
    if (len > VPC_LOCATOR_MAX || !vdk_range_ok (off, len, n->file->size)) {
      r = vdk_err (EINVAL, "%s: VHD parent locator %d is out of bounds", n->filename, i);
      goto out;
    }
    /* data_space is in sectors in old images and in bytes in newer ones:
     * keep the larger reading clear when it stays within the file. */
    if (vdk_range_ok (off, (uint64_t) space * VPC_SECTOR, n->file->size))
      *free_offset = VDK_MAX (*free_offset, VDK_ROUND_UP (off + (uint64_t) space * VPC_SECTOR, VPC_SECTOR));
    *free_offset = VDK_MAX (*free_offset, VDK_ROUND_UP (off + VDK_MAX (space, len), VPC_SECTOR));
    for (int k = 0; k < 2; k++)
      if (!memcmp (l, codes[k], 4) && !found[k] && len > 0) {
        uint8_t *buf = malloc (len);
        if (!buf) {
          r = vdk_err (ENOMEM, "out of memory");
          goto out;
        }
        r = vdk_node_pread (n->file, buf, len, off);
        if (r == 0 && !(found[k] = utf16_path (buf, len, false)))
          r = vdk_err (ENOMEM, "out of memory");
        free (buf);
        if (r < 0)
          goto out;
      }
  }
  if (p->type != VHD_DIFFERENCING)
    goto out;
  if (found[0] && found[0][0])
    n->backing_filename = found[0], found[0] = NULL;
  else if (found[1] && found[1][0])
    n->backing_filename = found[1], found[1] = NULL;
  else if (!(n->backing_filename = utf16_path (dyn + D_PARENT_NAME, 512, true))) {
    r = vdk_err (ENOMEM, "out of memory");
    goto out;
  }
  if (!n->backing_filename[0]) {
    r = vdk_err (EINVAL, "%s: differencing VHD image without a parent name", n->filename);
    goto out;
  }
  if (!(n->backing_format = strdup ("vpc")))
    r = vdk_err (ENOMEM, "out of memory");
 out:
  free (found[0]);
  free (found[1]);
  return r;
}

static int
vpc_open_inner (struct vdk_node *n, struct vdk_opts *opts, unsigned flags)
{
  struct vpc_priv *p = calloc (1, sizeof *p);
  const char *calc;
  uint64_t fsize = n->file->size, total_sectors, bat_bytes;
  uint8_t dyn[VPC_DYN_HEADER_SIZE];
  bool use_chs;
  int r;

  (void) flags;
  if (!p)
    return vdk_err (ENOMEM, "out of memory");
  n->priv = p;
  p->last_bitmap = UINT64_MAX;
  calc = vdk_opts_take (opts, "force_size_calc");
  if (calc && strcmp (calc, "chs") && strcmp (calc, "current_size"))
    return vdk_err (EINVAL, "%s: force_size_calc must be 'chs' or 'current_size'", n->filename);
  if (fsize < VPC_FOOTER_SIZE)
    return vdk_err (EINVAL, "%s: file is too small to be a VHD image", n->filename);
  r = vdk_node_pread (n->file, p->footer, VPC_FOOTER_SIZE, 0);
  if (r < 0)
    return r;
  if (memcmp (p->footer, "conectix", 8) != 0) {
    /* A fixed disk has its footer only at the end. */
    r = vdk_node_pread (n->file, p->footer, VPC_FOOTER_SIZE, fsize - VPC_FOOTER_SIZE);
    if (r < 0)
      return r;
    if (memcmp (p->footer, "conectix", 8) != 0)
      return vdk_err (EINVAL, "%s: invalid VHD image: no \"conectix\" footer", n->filename);
  }
  if (vpc_checksum (p->footer, VPC_FOOTER_SIZE, F_CHECKSUM) != vdk_be32 (p->footer + F_CHECKSUM))
    return vdk_err (EINVAL, "%s: incorrect VHD footer checksum", n->filename);
  p->type = vdk_be32 (p->footer + F_TYPE);
  p->bm_block = UINT64_MAX;
  if (p->type != VHD_DIFFERENCING && p->type != VHD_FIXED && p->type != VHD_DYNAMIC)
    return vdk_err (EINVAL, "%s: unknown VHD disk type %" PRIu32, n->filename, p->type);

  total_sectors = (uint64_t) vdk_be16 (p->footer + F_CYLS) * p->footer[F_HEADS] * p->footer[F_SECS];
  use_chs = !creator_uses_size (p->footer + F_CREATOR_APP);
  if (calc)
    use_chs = strcmp (calc, "chs") == 0;
  if (!use_chs || total_sectors == (uint64_t) VHD_MAX_GEOMETRY)
    total_sectors = vdk_be64 (p->footer + F_CUR_SIZE) / VPC_SECTOR;
  if (total_sectors > (uint64_t) VHD_MAX_SECTORS)
    return vdk_err (EFBIG, "%s: VHD virtual size %" PRIu64 " sectors is larger than 2040 GiB",
                    n->filename, total_sectors);
  n->size = total_sectors * VPC_SECTOR;

  if (p->type == VHD_FIXED) {
    if (n->size > fsize - VPC_FOOTER_SIZE)
      return vdk_err (EINVAL, "%s: fixed VHD of %" PRIu64 " bytes is larger than its file"
                      " (truncated image?)", n->filename, n->size);
    return 0;
  }

  uint64_t dyn_off = vdk_be64 (p->footer + F_DATA_OFFSET);
  if (!vdk_range_ok (dyn_off, VPC_DYN_HEADER_SIZE, fsize))
    return vdk_err (EINVAL, "%s: dynamic disk header offset %#" PRIx64 " is beyond the end"
                    " of the file", n->filename, dyn_off);
  r = vdk_node_pread (n->file, dyn, sizeof dyn, dyn_off);
  if (r < 0)
    return r;
  if (memcmp (dyn, "cxsparse", 8) != 0)
    return vdk_err (EINVAL, "%s: invalid dynamic disk header magic", n->filename);
  if (vpc_checksum (dyn, sizeof dyn, D_CHECKSUM) != vdk_be32 (dyn + D_CHECKSUM))
    vdk_warn ("%s: dynamic disk header checksum is incorrect", n->filename);
  p->block_size = vdk_be32 (dyn + D_BLOCK_SIZE);
  if (!VDK_IS_POW2 (p->block_size) || p->block_size < VPC_SECTOR ||
      p->block_size > VPC_MAX_BLOCK_SIZE)
    return vdk_err (EINVAL, "%s: invalid VHD block size %" PRIu32, n->filename, p->block_size);
  p->bitmap_size = VDK_ROUND_UP (p->block_size / (8 * VPC_SECTOR), VPC_SECTOR);
  p->max_entries = vdk_be32 (dyn + D_MAX_ENTRIES);
  if ((uint64_t) p->max_entries * p->block_size < n->size)
    return vdk_err (EINVAL, "%s: VHD block allocation table (%" PRIu32 " entries) is too small"
                    " for the virtual size", n->filename, p->max_entries);
  bat_bytes = (uint64_t) p->max_entries * 4;
  if (bat_bytes > VDK_MAX_META_ALLOC)
    return vdk_err (EINVAL, "%s: VHD block allocation table is too large (%" PRIu32 " entries)",
                    n->filename, p->max_entries);
  p->bat_offset = vdk_be64 (dyn + D_TABLE_OFFSET);
  if (!vdk_range_ok (p->bat_offset, bat_bytes, fsize))
    return vdk_err (EINVAL, "%s: VHD block allocation table at %#" PRIx64 " is beyond the end"
                    " of the file", n->filename, p->bat_offset);
  p->bat = malloc (VDK_MAX (bat_bytes, 1));
  p->ones = malloc (p->bitmap_size);
  if (!p->bat || !p->ones)
    return vdk_err (ENOMEM, "out of memory");
  memset (p->ones, 0xff, p->bitmap_size);
  r = vdk_node_pread (n->file, p->bat, bat_bytes, p->bat_offset);
  if (r < 0)
    return r;
  p->free_offset = VDK_ROUND_UP (p->bat_offset + bat_bytes, VPC_SECTOR);
  r = vpc_parent (n, p, dyn, &p->free_offset);
  if (r < 0)
    return r;
  for (uint32_t i = 0; i < p->max_entries; i++) {
    p->bat[i] = be32toh (p->bat[i]);
    if (p->bat[i] != VPC_UNALLOCATED) {
      uint64_t end = (uint64_t) p->bat[i] * VPC_SECTOR + p->bitmap_size + p->block_size;
      if (end > fsize)
        return vdk_err (EINVAL, "%s: VHD block %" PRIu32 " at %#" PRIx64 " is beyond the end"
                        " of the file (truncated image?)", n->filename, i,
                        (uint64_t) p->bat[i] * VPC_SECTOR);
      /* Writes to a block must not land on the headers or the BAT. */
      if ((uint64_t) p->bat[i] * VPC_SECTOR < dyn_off + VPC_DYN_HEADER_SIZE ||
          ((uint64_t) p->bat[i] * VPC_SECTOR < p->bat_offset + bat_bytes &&
           end > p->bat_offset))
        return vdk_err (EINVAL, "%s: VHD block %" PRIu32 " at %#" PRIx64 " overlaps the"
                        " image headers or the BAT", n->filename, i,
                        (uint64_t) p->bat[i] * VPC_SECTOR);
      p->free_offset = VDK_MAX (p->free_offset, end);
    }
  }
  if (p->free_offset > fsize)
    return vdk_err (EINVAL, "%s: VHD block allocation table ends beyond the end of the file",
                    n->filename);
  n->cluster_size = p->block_size;
  return 0;
}

static void
vpc_close (struct vdk_node *n)
{
  struct vpc_priv *p = n->priv;
  free (p->bat);
  free (p->ones);
  free (p->bm);
  free (p);
}

/* The core drops n->priv when open fails: free it here. */
static int
vpc_open (struct vdk_node *n, struct vdk_opts *opts, unsigned flags)
{
  int r = vpc_open_inner (n, opts, flags);
  if (r < 0 && n->priv) {
    vpc_close (n);
    n->priv = NULL;
  }
  return r;
}

/* Bit S of a VHD sector bitmap (most significant bit first). */
static bool
bm_bit (const uint8_t *bm, uint64_t s)
{
  return (bm[s / 8] >> (7 - s % 8)) & 1;
}

static int
load_bitmap (struct vdk_node *n, struct vpc_priv *p, uint64_t idx)
{
  int r;

  if (p->bm_block == idx)
    return 0;
  if (!p->bm && !(p->bm = malloc (p->bitmap_size)))
    return vdk_err (ENOMEM, "out of memory");
  p->bm_block = UINT64_MAX;
  r = vdk_node_pread (n->file, p->bm, p->bitmap_size, (uint64_t) p->bat[idx] * VPC_SECTOR);
  if (r == 0)
    p->bm_block = idx;
  return r;
}

/* Differencing: copy the parent's data into the sectors of block IDX (at
 * host DATA) in [from, to) whose bitmap bit is clear (all of them if
 * ALL_ABSENT), so the block can be marked whole. */
static int
fill_from_parent (struct vdk_node *n, struct vpc_priv *p, uint64_t idx, uint64_t data,
                  bool all_absent)
{
  uint64_t gstart = idx * p->block_size, spb = p->block_size / VPC_SECTOR;
  uint8_t *buf = NULL;
  int r = 0;

  if (!all_absent && (r = load_bitmap (n, p, idx)) < 0)
    return r;
  for (uint64_t s = 0; s < spb && gstart + s * VPC_SECTOR < n->size && r == 0;) {
    bool set = !all_absent && bm_bit (p->bm, s);
    uint64_t t = s + 1;
    while (t < spb && t - s < 2048 && (all_absent || bm_bit (p->bm, t) == set))
      t++;
    if (!set) {
      uint64_t len = VDK_MIN ((t - s) * VPC_SECTOR, n->size - (gstart + s * VPC_SECTOR));
      if (!buf && !(buf = malloc (2048 * VPC_SECTOR))) {
        r = vdk_err (ENOMEM, "out of memory");
        break;
      }
      r = vdk_node_read_backing (n, buf, len, gstart + s * VPC_SECTOR);
      if (r == 0)
        r = vdk_node_pwrite (n->file, buf, len, data + s * VPC_SECTOR, 0);
    }
    s = t;
  }
  free (buf);
  return r;
}

static int
vpc_map (struct vdk_node *n, uint64_t off, uint64_t len, struct vdk_extent *e)
{
  struct vpc_priv *p = n->priv;
  uint64_t idx, within;

  if (p->type == VHD_FIXED) {
    e->kind = VDK_EXT_DATA;
    e->host = off;
    e->len = len;
    return 0;
  }
  idx = off / p->block_size;
  within = off % p->block_size;
  e->len = VDK_MIN (len, p->block_size - within);
  if (idx >= p->max_entries || p->bat[idx] == VPC_UNALLOCATED) {
    /* Like qemu: a hole of a dynamic image is "present, zero" (qemu-img
     * map); a differencing image reads it from the parent. */
    e->kind = p->type == VHD_DIFFERENCING ? VDK_EXT_UNALLOC : VDK_EXT_ZERO;
    return 0;
  }
  e->kind = VDK_EXT_DATA;
  e->host = (uint64_t) p->bat[idx] * VPC_SECTOR + p->bitmap_size + within;
  if (p->type == VHD_DIFFERENCING) {
    uint64_t s = within / VPC_SECTOR, end = (within + e->len + VPC_SECTOR - 1) / VPC_SECTOR, t;
    bool set;
    int r = load_bitmap (n, p, idx);
    if (r < 0)
      return r;
    set = bm_bit (p->bm, s);
    for (t = s + 1; t < end && bm_bit (p->bm, t) == set; t++)
      ;
    e->len = VDK_MIN (e->len, t * VPC_SECTOR - within);
    if (!set)
      e->kind = VDK_EXT_UNALLOC;
  }
  return 0;
}

static int
vpc_alloc (struct vdk_node *n, uint64_t off, uint64_t len, struct vdk_extent *e)
{
  struct vpc_priv *p = n->priv;
  uint64_t idx, within, block;
  int r;

  if (p->type == VHD_FIXED)
    return vpc_map (n, off, len, e);
  idx = off / p->block_size;
  within = off % p->block_size;
  e->kind = VDK_EXT_DATA;
  e->len = VDK_MIN (len, p->block_size - within);
  if (idx >= p->max_entries)
    return vdk_err (EIO, "%s: write beyond the VHD block allocation table", n->filename);
  if (p->bat[idx] != VPC_UNALLOCATED) {
    block = (uint64_t) p->bat[idx] * VPC_SECTOR;
    /* Mark every sector present, as qemu does, so readers that honour the
     * bitmap see what we write. */
    if (p->last_bitmap != idx) {
      if (p->type == VHD_DIFFERENCING &&
          (r = fill_from_parent (n, p, idx, block + p->bitmap_size, false)) < 0)
        return r;
      p->bm_block = UINT64_MAX;
      r = vdk_node_pwrite (n->file, p->ones, p->bitmap_size, block, 0);
      if (r < 0)
        return r;
      p->last_bitmap = idx;
    }
    e->host = block + p->bitmap_size + within;
    return 0;
  }
  block = p->free_offset;
  if (block / VPC_SECTOR >= VPC_UNALLOCATED)
    return vdk_err (EFBIG, "%s: VHD file is full (4 TiB of blocks)", n->filename);
  /* The new block overwrites the footer at the end; it is rewritten after
   * the block in alloc_commit. */
  r = vdk_node_pwrite (n->file, p->ones, p->bitmap_size, block, 0);
  if (r == 0 && p->type == VHD_DIFFERENCING)
    r = fill_from_parent (n, p, idx, block + p->bitmap_size, true);
  if (r < 0)
    return r;
  p->last_bitmap = idx;
  e->host = block + p->bitmap_size + within;
  e->needs_commit = true;
  e->cookie = idx;
  return 0;
}

static int
vpc_alloc_commit (struct vdk_node *n, const struct vdk_extent *e)
{
  struct vpc_priv *p = n->priv;
  uint64_t idx = e->cookie, block = p->free_offset;
  uint8_t be[4];
  int r;

  /* Order: block data (done), footer after it, flush, then the BAT entry:
   * the BAT never points at a block that is not on disk. */
  r = vdk_node_pwrite (n->file, p->footer, VPC_FOOTER_SIZE,
                       block + p->bitmap_size + p->block_size, 0);
  if (r == 0)
    r = vdk_node_flush (n->file);
  if (r < 0)
    return r;
  vdk_put_be32 (be, block / VPC_SECTOR);
  r = vdk_node_pwrite (n->file, be, 4, p->bat_offset + idx * 4, 0);
  if (r < 0)
    return r;
  p->bat[idx] = block / VPC_SECTOR;
  p->free_offset = block + p->bitmap_size + p->block_size;
  return 0;
}

/* Grow.  The footer keeps the size rule of its creator: CHS-sized images
 * only take sizes that are a whole CHS geometry (we name the nearest one).
 * Dynamic images grow their BAT within its last sector only (moving it is
 * not supported).  Order: BAT entries and dynamic header first, the footers
 * (the size) last. */
static int
vpc_truncate (struct vdk_node *n, uint64_t size, enum vdk_prealloc pa, bool shrink)
{
  struct vpc_priv *p = n->priv;
  bool by_size = creator_uses_size (p->footer + F_CREATOR_APP);
  uint8_t f[VPC_FOOTER_SIZE];
  uint16_t cyls;
  uint8_t heads, secs;
  int64_t ts = 0;
  int r;

  (void) shrink;
  if (size < n->size)
    return vdk_err (ENOTSUP, "%s: shrinking VHD images is not supported", n->filename);
  if (pa != VDK_PREALLOC_OFF)
    return vdk_err (ENOTSUP, "%s: preallocation mode '%s' is not supported for vpc resize",
                    n->filename, vdk_prealloc_name (pa));
  if (p->type == VHD_DIFFERENCING)
    return vdk_err (ENOTSUP, "%s: resizing a differencing VHD image is not supported",
                    n->filename);
  if (size == n->size)
    return 0;
  if (size % VPC_SECTOR)
    return vdk_err (EINVAL, "%s: the new size must be a multiple of 512 bytes", n->filename);
  if ((r = vpc_rounded_size (size, by_size, &cyls, &heads, &secs, &ts)) < 0)
    return r;
  if ((uint64_t) ts * VPC_SECTOR != size)
    return vdk_err (EINVAL, "%s: the size of this VHD image follows its CHS geometry; the"
                    " nearest size is %" PRIu64 " bytes", n->filename, (uint64_t) ts * VPC_SECTOR);
  memcpy (f, p->footer, VPC_FOOTER_SIZE);
  vdk_put_be64 (f + F_CUR_SIZE, size);
  vdk_put_be16 (f + F_CYLS, cyls);
  f[F_HEADS] = heads;
  f[F_SECS] = secs;
  vdk_put_be32 (f + F_CHECKSUM, vpc_checksum (f, VPC_FOOTER_SIZE, F_CHECKSUM));

  if (p->type == VHD_FIXED) {
    uint64_t old_footer = n->file->size - VPC_FOOTER_SIZE;
    if ((r = vdk_node_pwrite (n->file, f, VPC_FOOTER_SIZE, size, 0)) < 0 ||
        (r = vdk_node_flush (n->file)) < 0 ||
        (r = vdk_node_write_zeroes (n->file, old_footer, VPC_FOOTER_SIZE, 0)) < 0)
      return r;
  }
  else {
    uint64_t need = (size + p->block_size - 1) / p->block_size, dyn_off;
    uint64_t room = VDK_ROUND_UP ((uint64_t) p->max_entries * 4, VPC_SECTOR) / 4;
    uint8_t dyn[VPC_DYN_HEADER_SIZE];
    if (need > room)
      return vdk_err (ENOTSUP, "%s: growing to %" PRIu64 " bytes needs a larger BAT, which is"
                      " not supported", n->filename, size);
    if (need > p->max_entries) {
      uint32_t *nb = realloc (p->bat, need * 4);
      uint8_t *ones;
      if (!nb)
        return vdk_err (ENOMEM, "out of memory");
      p->bat = nb;
      if (!(ones = malloc ((need - p->max_entries) * 4)))
        return vdk_err (ENOMEM, "out of memory");
      memset (ones, 0xff, (need - p->max_entries) * 4);
      r = vdk_node_pwrite (n->file, ones, (need - p->max_entries) * 4,
                           p->bat_offset + (uint64_t) p->max_entries * 4, 0);
      free (ones);
      if (r < 0)
        return r;
      dyn_off = vdk_be64 (p->footer + F_DATA_OFFSET);
      if ((r = vdk_node_pread (n->file, dyn, sizeof dyn, dyn_off)) < 0)
        return r;
      vdk_put_be32 (dyn + D_MAX_ENTRIES, need);
      vdk_put_be32 (dyn + D_CHECKSUM, vpc_checksum (dyn, sizeof dyn, D_CHECKSUM));
      if ((r = vdk_node_pwrite (n->file, dyn, sizeof dyn, dyn_off, 0)) < 0 ||
          (r = vdk_node_flush (n->file)) < 0)
        return r;
      for (uint64_t i = p->max_entries; i < need; i++)
        p->bat[i] = VPC_UNALLOCATED;
      p->max_entries = need;
    }
    /* The old last block's bytes past the old end must read as zeroes. */
    if (n->size % p->block_size) {
      uint64_t idx = n->size / p->block_size;
      if (p->bat[idx] != VPC_UNALLOCATED) {
        uint64_t from = n->size % p->block_size;
        uint64_t to = VDK_MIN ((uint64_t) p->block_size, size - idx * p->block_size);
        r = vdk_node_write_zeroes (n->file, (uint64_t) p->bat[idx] * VPC_SECTOR +
                                   p->bitmap_size + from, to - from, 0);
        if (r < 0)
          return r;
      }
    }
    if ((r = vdk_node_pwrite (n->file, f, VPC_FOOTER_SIZE, p->free_offset, 0)) < 0 ||
        (r = vdk_node_pwrite (n->file, f, VPC_FOOTER_SIZE, 0, 0)) < 0)
      return r;
  }
  memcpy (p->footer, f, VPC_FOOTER_SIZE);
  n->size = size;
  return 0;
}

static void
put_footer (uint8_t *f, uint32_t type, uint64_t size, uint16_t cyls, uint8_t heads,
            uint8_t secs, bool force_size)
{
  uint8_t uuid[16];
  size_t got = 0;

  memset (f, 0, VPC_FOOTER_SIZE);
  memcpy (f + F_COOKIE, "conectix", 8);
  vdk_put_be32 (f + F_FEATURES, 2);
  vdk_put_be32 (f + F_VERSION, 0x00010000);
  vdk_put_be64 (f + F_DATA_OFFSET, type == VHD_DYNAMIC ? VPC_FOOTER_SIZE : UINT64_MAX);
  vdk_put_be32 (f + F_TIMESTAMP, (uint32_t) (time (NULL) - VPC_TIMESTAMP_BASE));
  memcpy (f + F_CREATOR_APP, force_size ? "qem2" : "qemu", 4);
  vdk_put_be32 (f + F_CREATOR_VER, 0x00050003);   /* Virtual PC 2007, as qemu */
  memcpy (f + F_CREATOR_OS, "Wi2k", 4);
  vdk_put_be64 (f + F_ORIG_SIZE, size);
  vdk_put_be64 (f + F_CUR_SIZE, size);
  vdk_put_be16 (f + F_CYLS, cyls);
  f[F_HEADS] = heads;
  f[F_SECS] = secs;
  vdk_put_be32 (f + F_TYPE, type);
  while (got < sizeof uuid) {
    ssize_t k = getrandom (uuid + got, sizeof uuid - got, 0);
    if (k <= 0)
      break;
    got += k;
  }
  uuid[6] = (uuid[6] & 0x0f) | 0x40;   /* random (version 4) UUID */
  uuid[8] = (uuid[8] & 0x3f) | 0x80;
  memcpy (f + F_UUID, uuid, 16);
  vdk_put_be32 (f + F_CHECKSUM, vpc_checksum (f, VPC_FOOTER_SIZE, F_CHECKSUM));
}

/* The parent of a differencing image: its footer (whose size fields and
 * creator the child copies, so both have the same virtual size), its
 * modification time and absolute path. */
static int
vpc_parent_info (struct vdk_node *file, const char *backing, const char *bfmt,
                 uint8_t *pfooter, uint32_t *ptime, uint64_t *psize, char **abs_out)
{
  struct vdk_node *b;
  struct stat st;
  char *name;
  int r;

  if (bfmt && strcmp (bfmt, "vpc") != 0)
    return vdk_err (EINVAL, "%s: the parent of a differencing VHD image must be a VHD (vpc)"
                    " image, not %s", file->filename, bfmt);
  if (!(name = vdk_resolve_relative (file->filename, backing)))
    return vdk_err (ENOMEM, "out of memory");
  r = vdk_open_spec (name, "vpc", NULL, VDK_O_NOLOCK | VDK_O_NO_BACKING, 1, &b);
  if (r < 0) {
    free (name);
    vdk_err_prefix ("%s: could not open the VHD parent", file->filename);
    return r;
  }
  memcpy (pfooter, ((struct vpc_priv *) b->priv)->footer, VPC_FOOTER_SIZE);
  *psize = b->size;
  vdk_node_close (b);
  *ptime = stat (name, &st) == 0 && st.st_mtime > VPC_TIMESTAMP_BASE
    ? (uint32_t) (st.st_mtime - VPC_TIMESTAMP_BASE) : 0;
  *abs_out = realpath (name, NULL);
  if (!*abs_out)
    *abs_out = name;
  else
    free (name);
  return 0;
}

static int
vpc_create (struct vdk_node *file, uint64_t size, struct vdk_opts *opts)
{
  const char *sub = vdk_opts_take (opts, "subformat");
  const char *backing = vdk_opts_take (opts, "backing_file");
  const char *bfmt = vdk_opts_take (opts, "backing_fmt");
  bool force_size = false, fixed;
  uint8_t footer[VPC_FOOTER_SIZE], pfooter[VPC_FOOTER_SIZE];
  uint16_t cyls;
  uint8_t heads, secs;
  int64_t total_sectors = 0;
  uint64_t total;
  uint32_t ptime = 0;
  uint64_t psize = 0;
  char *abs_parent = NULL;
  int r;

  if ((r = vdk_opts_take_bool (opts, "force_size", &force_size)) < 0)
    return r;
  if (!sub || !strcmp (sub, "dynamic"))
    fixed = false;
  else if (!strcmp (sub, "fixed"))
    fixed = true;
  else
    return vdk_err (EINVAL, "%s: Parameter 'subformat' does not accept value '%s'", file->filename, sub);
  if (backing) {
    if (fixed)
      return vdk_err (EINVAL, "%s: a differencing VHD image cannot be fixed", file->filename);
    if ((r = vpc_parent_info (file, backing, bfmt, pfooter, &ptime, &psize, &abs_parent)) < 0)
      return r;
    if (size != psize) {
      free (abs_parent);
      return vdk_err (EINVAL, "%s: a differencing VHD image has the size of its parent"
                      " (%" PRIu64 " bytes)", file->filename, psize);
    }
  }
  r = vpc_rounded_size (size, force_size, &cyls, &heads, &secs, &total_sectors);
  if (r < 0)
    goto out;
  total = (uint64_t) total_sectors * VPC_SECTOR;
  put_footer (footer, fixed ? VHD_FIXED : VHD_DYNAMIC, total, cyls, heads, secs, force_size);
  if (backing) {
    /* The parent's size fields and creator: the same virtual size. */
    memcpy (footer + F_CREATOR_APP, pfooter + F_CREATOR_APP, 4);
    memcpy (footer + F_ORIG_SIZE, pfooter + F_ORIG_SIZE, 20);   /* sizes, CHS */
    vdk_put_be32 (footer + F_TYPE, VHD_DIFFERENCING);
    vdk_put_be32 (footer + F_CHECKSUM, vpc_checksum (footer, VPC_FOOTER_SIZE, F_CHECKSUM));
    total_sectors = vdk_be64 (pfooter + F_CUR_SIZE) / VPC_SECTOR;
    total_sectors = VDK_MAX ((uint64_t) total_sectors,
                             (uint64_t) vdk_be16 (pfooter + F_CYLS) * pfooter[F_HEADS] *
                             pfooter[F_SECS]);
  }

  if (fixed) {
    r = vdk_node_truncate (file, total + VPC_FOOTER_SIZE, VDK_PREALLOC_OFF, true);
    if (r == 0)
      r = vdk_node_pwrite (file, footer, VPC_FOOTER_SIZE, total, 0);
    goto out;
  }

  uint32_t block_size = 2u << 20;
  uint64_t entries = (total_sectors + block_size / VPC_SECTOR - 1) / (block_size / VPC_SECTOR);
  uint64_t bat_off = 3 * VPC_SECTOR;
  uint64_t bat_bytes = VDK_ROUND_UP (entries * 4, VPC_SECTOR);
  uint64_t end = bat_off + bat_bytes;
  uint8_t dyn[VPC_DYN_HEADER_SIZE];
  uint8_t *bat = malloc (VDK_MAX (bat_bytes, 1));

  if (!bat) {
    r = vdk_err (ENOMEM, "out of memory");
    goto out;
  }
  memset (bat, 0xff, bat_bytes);
  memset (dyn, 0, sizeof dyn);
  memcpy (dyn + D_COOKIE, "cxsparse", 8);
  vdk_put_be64 (dyn + D_DATA_OFFSET, UINT64_MAX);
  vdk_put_be64 (dyn + D_TABLE_OFFSET, bat_off);
  vdk_put_be32 (dyn + D_VERSION, 0x00010000);
  vdk_put_be32 (dyn + D_MAX_ENTRIES, entries);
  vdk_put_be32 (dyn + D_BLOCK_SIZE, block_size);
  r = vdk_node_pwrite (file, bat, bat_bytes, bat_off, 0);
  free (bat);
  if (backing && r == 0) {
    /* Parent UUID, time and name; locators: relative, then absolute path. */
    const char *base = strrchr (backing, '/') ? strrchr (backing, '/') + 1 : backing;
    const char *paths[2] = { backing, abs_parent };
    static const char codes[2][5] = { "W2ru", "W2ku" };
    uint8_t *loc = calloc (1, VPC_LOCATOR_MAX);

    memcpy (dyn + D_PARENT_UUID, pfooter + F_UUID, 16);
    vdk_put_be32 (dyn + D_PARENT_TIME, ptime);
    vdk_utf8_to_utf16 (dyn + D_PARENT_NAME, base, 256, true, false);
    for (int i = 0; i < 2 && r == 0; i++) {
      uint8_t *l = dyn + D_LOCATORS + 24 * i;
      size_t len;
      char *rel = NULL;
      if (!loc) {
        r = vdk_err (ENOMEM, "out of memory");
        break;
      }
      if (i == 0 && paths[0][0] != '/' && paths[0][0] != '.' &&
          asprintf (&rel, "./%s", paths[0]) < 0) {
        r = vdk_err (ENOMEM, "out of memory");
        break;
      }
      memset (loc, 0, VPC_LOCATOR_MAX);
      len = vdk_utf8_to_utf16 (loc, rel ? rel : paths[i], VPC_LOCATOR_MAX / 2, false, true);
      free (rel);
      memcpy (l, codes[i], 4);
      vdk_put_be32 (l + 4, VDK_ROUND_UP (len, VPC_SECTOR));   /* space, bytes */
      vdk_put_be32 (l + 8, len);
      vdk_put_be64 (l + 16, end);
      r = vdk_node_pwrite (file, loc, VDK_ROUND_UP (len, VPC_SECTOR), end, 0);
      end += VDK_ROUND_UP (len, VPC_SECTOR);
    }
    free (loc);
  }
  vdk_put_be32 (dyn + D_CHECKSUM, vpc_checksum (dyn, sizeof dyn, D_CHECKSUM));
  if (r == 0)
    r = vdk_node_pwrite (file, footer, VPC_FOOTER_SIZE, 0, 0);
  if (r == 0)
    r = vdk_node_pwrite (file, dyn, sizeof dyn, VPC_FOOTER_SIZE, 0);
  if (r == 0)
    r = vdk_node_pwrite (file, footer, VPC_FOOTER_SIZE, end, 0);
 out:
  free (abs_parent);
  return r;
}

/* measure (qemu-img does not measure vpc): the sizes follow vpc_create and
 * vpc_alloc.  Fixed: the data and the footer.  Dynamic: footer copy,
 * dynamic header, BAT, a bitmap sector and 2 MiB per block, the footer.
 * A differencing image (backing_file) counts every block, as qemu does
 * for qcow2, plus room for the two parent locators. */
static int
vpc_measure (struct vdk_opts *opts, uint64_t size,
             uint64_t (*data_bytes) (void *, uint64_t), void *opaque,
             uint64_t *required, uint64_t *full)
{
  const char *sub = vdk_opts_take (opts, "subformat");
  bool force_size = false, backing = vdk_opts_take (opts, "backing_file") != NULL;
  const uint64_t block = 2u << 20, bitmap = VDK_ROUND_UP (block / (8 * VPC_SECTOR), VPC_SECTOR);
  uint64_t entries, blocks, head, total;
  int64_t total_sectors;
  uint16_t cyls;
  uint8_t heads, secs;
  int r;

  vdk_opts_take (opts, "backing_fmt");
  if ((r = vdk_opts_take_bool (opts, "force_size", &force_size)) < 0)
    return r;
  if (sub && strcmp (sub, "dynamic") && strcmp (sub, "fixed"))
    return vdk_err (EINVAL, "Parameter 'subformat' does not accept value '%s'", sub);
  if ((r = vpc_rounded_size (size, force_size, &cyls, &heads, &secs, &total_sectors)) < 0)
    return r;
  total = (uint64_t) total_sectors * VPC_SECTOR;
  if (sub && !strcmp (sub, "fixed")) {
    *required = *full = total + VPC_FOOTER_SIZE;
    return 0;
  }
  entries = DIV_ROUND_UP_U64 (total, block);
  head = 3 * VPC_SECTOR + VDK_ROUND_UP (entries * 4, VPC_SECTOR) +
    (backing ? 2 * (uint64_t) VPC_LOCATOR_MAX : 0);
  *full = head + entries * (bitmap + block) + VPC_FOOTER_SIZE;
  blocks = data_bytes && !backing ? DIV_ROUND_UP_U64 (data_bytes (opaque, block), block)
    : data_bytes ? entries : 0;
  *required = head + VDK_MIN (blocks, entries) * (bitmap + block) + VPC_FOOTER_SIZE;
  return 0;
}

/* qemu-img shows no format-specific lines for vpc, only the block size as
 * cluster_size (dynamic images). */
static int
vpc_info (struct vdk_node *n, struct disk_info *info)
{
  info->cluster_size = n->cluster_size;
  return 0;
}

static const struct vdk_opt_desc vpc_create_opts[] = {
  { "size", "size", "Virtual disk size", NULL },
  { "subformat", "string", "Type of virtual hard disk format. Supported formats are"
    " {dynamic (default) | fixed}", "dynamic" },
  { "force_size", "bool", "Force disk size calculation to use the actual size specified,"
    " rather than using the nearest CHS-based calculation", "off" },
  { "backing_file", "string", "File name of the parent image (a differencing image)", NULL },
  { "backing_fmt", "string", "Format of the parent image (vpc)", NULL },
  { NULL, NULL, NULL, NULL },
};

const struct vdk_format vdk_format_vpc = {
  .struct_size = sizeof (struct vdk_format),
  .name = "vpc",
  .probe = vpc_probe,
  .open = vpc_open,
  .close = vpc_close,
  .map = vpc_map,
  .alloc = vpc_alloc,
  .alloc_commit = vpc_alloc_commit,
  .truncate = vpc_truncate,
  .create = vpc_create,
  .create_opts = vpc_create_opts,
  .measure = vpc_measure,
  .info = vpc_info,
};
