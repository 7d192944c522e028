/* seSparse extents (ESXi 6.5+ snapshots on VMFS-6), read-only.
 *
 * A 512-byte constant header (magic 0xcafebabe, version 2.1, 4 KiB grains,
 * 64-sector grain tables of 4096 64-bit entries), a volatile header
 * (0xcafecafe; a journal to replay makes the image dirty), a grain directory
 * of 64-bit entries (0, or 0x1 in the top nibble with a grain table index),
 * and grain table entries whose top nibble says unallocated (0), unmapped
 * (1) or zero (2), or allocated (3) with the grain number stored with its
 * low 12 bits in bits 48..59 and the rest in bits 0..47. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vmdk.h"

#define SE_CONST_MAGIC 0xcafebabeULL
#define SE_VOLATILE_MAGIC 0xcafecafeULL
#define SE_VERSION 0x0000000200000001ULL
#define SE_GTES 4096u

int
vmdk_sesparse_open (struct vdk_node *n, struct vmdk_ext *e, uint64_t *capacity)
{
  uint8_t h[VMDK_SECTOR], v[VMDK_SECTOR];
  const char *fn = e->file->filename;
  uint64_t fsize = e->file->size, vol_off, gd_off, gd_size, n_gd;
  int r;

  (void) n;
  if (fsize < VMDK_SECTOR)
    return vdk_err (EINVAL, "%s: file too small for a seSparse header", fn);
  r = vdk_node_pread (e->file, h, sizeof h, 0);
  if (r < 0)
    return r;
  if (vdk_le64 (h) != SE_CONST_MAGIC)
    return vdk_err (EINVAL, "%s: bad seSparse header magic %#" PRIx64, fn, vdk_le64 (h));
  if (vdk_le64 (h + 8) != SE_VERSION)
    return vdk_err (ENOTSUP, "%s: unsupported seSparse version %#" PRIx64, fn, vdk_le64 (h + 8));
  if (vdk_le64 (h + 24) != 8)
    return vdk_err (ENOTSUP, "%s: unsupported seSparse grain size of %" PRIu64 " sectors", fn,
                    vdk_le64 (h + 24));
  if (vdk_le64 (h + 32) != 64)
    return vdk_err (ENOTSUP, "%s: unsupported seSparse grain table size of %" PRIu64
                    " sectors", fn, vdk_le64 (h + 32));
  if (vdk_le64 (h + 40) != 0)
    return vdk_err (ENOTSUP, "%s: unsupported seSparse flags %#" PRIx64, fn, vdk_le64 (h + 40));
  *capacity = vdk_le64 (h + 16);
  if (*capacity > VDK_MAX_IMAGE_SIZE / VMDK_SECTOR)
    return vdk_err (EFBIG, "%s: capacity of %" PRIu64 " sectors is too large", fn, *capacity);
  *capacity *= VMDK_SECTOR;
  vol_off = vdk_le64 (h + 80);
  gd_off = vdk_le64 (h + 128);
  gd_size = vdk_le64 (h + 136);
  e->se_gt_off = vdk_le64 (h + 144);
  e->se_grains_off = vdk_le64 (h + 192);
  if (vol_off >= fsize / VMDK_SECTOR)
    return vdk_err (EINVAL, "%s: seSparse volatile header beyond the end of the file", fn);
  r = vdk_node_pread (e->file, v, sizeof v, vol_off * VMDK_SECTOR);
  if (r < 0)
    return r;
  if (vdk_le64 (v) != SE_VOLATILE_MAGIC)
    return vdk_err (EINVAL, "%s: bad seSparse volatile header magic", fn);
  if (vdk_le64 (v + 24) != 0)
    return vdk_err (ENOTSUP, "%s: the seSparse journal needs replaying (the image is dirty)", fn);
  if (e->se_gt_off > 0xffffffffULL || e->se_grains_off > VDK_MAX_IMAGE_SIZE / VMDK_SECTOR)
    return vdk_err (EINVAL, "%s: seSparse table offsets out of range", fn);
  n_gd = gd_size * VMDK_SECTOR / 8;
  if (gd_size > VDK_MAX_META_ALLOC / VMDK_SECTOR || n_gd > (32u << 20))
    return vdk_err (EFBIG, "%s: seSparse grain directory of %" PRIu64 " sectors is too large",
                    fn, gd_size);
  if (gd_off > fsize / VMDK_SECTOR || !vdk_range_ok (gd_off * VMDK_SECTOR, n_gd * 8, fsize))
    return vdk_err (EINVAL, "%s: seSparse grain directory beyond the end of the file", fn);
  e->type = VMDK_EXT_SESPARSE;
  e->grain = 8 * VMDK_SECTOR;
  e->gtes = SE_GTES;
  e->gt_cover = e->grain * SE_GTES;
  e->n_gd = (uint32_t) n_gd;
  e->writable = false;
  e->gd64 = malloc (n_gd ? n_gd * 8 : 1);
  e->gt64 = malloc (SE_GTES * 8);
  if (!e->gd64 || !e->gt64)
    return vdk_err (ENOMEM, "out of memory");
  r = vdk_node_pread (e->file, e->gd64, n_gd * 8, gd_off * VMDK_SECTOR);
  if (r < 0)
    return r;
  for (uint64_t i = 0; i < n_gd; i++)
    e->gd64[i] = le64toh (e->gd64[i]);
  return 0;
}

static int
load_gt (struct vmdk_ext *e, uint64_t gi, uint64_t **out)
{
  uint64_t gde = e->gd64[gi], off;
  int r;

  *out = NULL;
  if (gde == 0)
    return 0;
  if ((gde & 0xffffffff00000000ULL) != 0x1000000000000000ULL)
    return vdk_err (EINVAL, "%s: invalid seSparse grain directory entry %" PRIu64 " (%#" PRIx64
                    ")", e->file->filename, gi, gde);
  if (e->gt64_idx != gi + 1) {
    off = (e->se_gt_off + (gde & 0xffffffffULL) * 64) * VMDK_SECTOR;
    if (!vdk_range_ok (off, SE_GTES * 8, e->file->size))
      return vdk_err (EINVAL, "%s: seSparse grain table %" PRIu64 " is beyond the end of the"
                      " file", e->file->filename, gi);
    e->gt64_idx = 0;
    r = vdk_node_pread (e->file, e->gt64, SE_GTES * 8, off);
    if (r < 0)
      return r;
    for (unsigned i = 0; i < SE_GTES; i++)
      e->gt64[i] = le64toh (e->gt64[i]);
    e->gt64_idx = gi + 1;
  }
  *out = e->gt64;
  return 0;
}

/* Host byte offset of an allocated entry. */
static uint64_t
grain_host (const struct vmdk_ext *e, uint64_t ent)
{
  uint64_t g = ((ent & 0x0fff000000000000ULL) >> 48) | ((ent & 0x0000ffffffffffffULL) << 12);
  return (e->se_grains_off + g * 8) * VMDK_SECTOR;
}

int
vmdk_sesparse_map (struct vmdk_ext *e, uint64_t off, uint64_t len, struct vdk_extent *x)
{
  uint64_t gidx = off / e->grain, gi = gidx / SE_GTES, in = off % e->grain, *gt, ent;
  unsigned j = gidx % SE_GTES;
  int r;

  if (gi >= e->n_gd)
    return vdk_err (EINVAL, "%s: offset %" PRIu64 " is beyond the seSparse grain directory",
                    e->file->filename, off);
  r = load_gt (e, gi, &gt);
  if (r < 0)
    return r;
  if (!gt) {
    x->kind = VDK_EXT_UNALLOC;
    x->len = VDK_MIN (len, (gi + 1) * e->gt_cover - off);
    return 0;
  }
  ent = gt[j];
  x->len = VDK_MIN (len, e->grain - in);
  switch (ent >> 60) {
  case 0:
    if (ent != 0)
      goto bad;
    x->kind = VDK_EXT_UNALLOC;
    break;
  case 1:   /* unmapped */
  case 2:   /* zero */
    x->kind = VDK_EXT_ZERO;
    break;
  case 3:
    x->kind = VDK_EXT_DATA;
    x->child = e->file;
    x->host = grain_host (e, ent) + in;
    while (x->len < len && j + 1 < SE_GTES && gt[j + 1] >> 60 == 3 &&
           grain_host (e, gt[j + 1]) == grain_host (e, gt[j]) + e->grain) {
      j++;
      x->len = VDK_MIN (len, x->len + e->grain);
    }
    if (!vdk_range_ok (x->host, x->len, e->file->size))
      return vdk_err (EINVAL, "%s: seSparse grain for offset %" PRIu64 " is beyond the end of"
                      " the file", e->file->filename, off);
    return 0;
  default:
    goto bad;
  }
  /* Runs of the same unallocated / zero state. */
  while (x->len < len && j + 1 < SE_GTES &&
         ((gt[j + 1] == 0 && x->kind == VDK_EXT_UNALLOC) ||
          ((gt[j + 1] >> 60 == 1 || gt[j + 1] >> 60 == 2) && x->kind == VDK_EXT_ZERO))) {
    j++;
    x->len = VDK_MIN (len, x->len + e->grain);
  }
  return 0;
 bad:
  return vdk_err (EINVAL, "%s: invalid seSparse grain table entry %#" PRIx64 " for offset %"
                  PRIu64, e->file->filename, ent, off);
}
