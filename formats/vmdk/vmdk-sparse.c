/* vmdk sparse extents: the hosted "KDMV" layout (monolithicSparse,
 * twoGbMaxExtentSparse, streamOptimized) and the older "COWD" layout
 * (vmfsSparse).  Grain directory (GD) -> grain tables (GT) -> grains;
 * a redundant GD/GT copy (RGD) is kept in step when present. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "vmdk.h"

void
vmdk4_header_build (uint8_t *h, uint32_t version, uint32_t flags, uint64_t capacity,
                    uint64_t grain_sectors, uint64_t desc_off, uint64_t desc_size,
                    uint32_t gtes, uint64_t rgd_off, uint64_t gd_off, uint64_t overhead,
                    bool compressed)
{
  memset (h, 0, VMDK_SECTOR);
  vdk_put_le32 (h + 0, VMDK4_MAGIC);
  vdk_put_le32 (h + 4, version);
  vdk_put_le32 (h + 8, flags);
  vdk_put_le64 (h + 12, capacity);
  vdk_put_le64 (h + 20, grain_sectors);
  vdk_put_le64 (h + 28, desc_off);
  vdk_put_le64 (h + 36, desc_size);
  vdk_put_le32 (h + 44, gtes);
  vdk_put_le64 (h + 48, rgd_off);
  vdk_put_le64 (h + 56, gd_off);
  vdk_put_le64 (h + 64, overhead);
  h[72] = 0;                       /* clean shutdown */
  memcpy (h + 73, "\n \r\n", 4);   /* newline-mangling detection */
  vdk_put_le16 (h + 77, compressed ? VMDK_COMPRESS_DEFLATE : 0);
}

void
vmdk_ext_free (struct vmdk_ext *e)
{
  if (e->own_file)
    vdk_node_close (e->file);
  free (e->type_name);
  free (e->filename);
  free (e->gd);
  free (e->rgd);
  for (unsigned i = 0; i < VMDK_GT_CACHE; i++)
    free (e->cache[i].gt);
  free (e->zbuf);
  free (e->cbuf);
  free (e->gd64);
  free (e->gt64);
  memset (e, 0, sizeof *e);
}

static int
read_dir (struct vdk_node *n, struct vmdk_ext *e, uint64_t off, const char *what, uint32_t **out)
{
  size_t bytes = (size_t) e->n_gd * 4;
  uint32_t *t;
  int r;

  if (!vdk_range_ok (off, bytes, e->file->size))
    return vdk_err (EINVAL, "%s: %s at offset %" PRIu64 " (%zu bytes) is beyond the end of the"
                    " file", e->file->filename, what, off, bytes);
  t = malloc (bytes ? bytes : 1);
  if (!t)
    return vdk_err (ENOMEM, "out of memory");
  r = vdk_node_pread (e->file, t, bytes, off);
  if (r < 0) {
    free (t);
    return r;
  }
  for (uint32_t i = 0; i < e->n_gd; i++)
    t[i] = le32toh (t[i]);
  *out = t;
  (void) n;
  return 0;
}

static int
open_cowd (struct vdk_node *n, struct vmdk_ext *e, const uint8_t *h, uint64_t *capacity)
{
  uint32_t version = vdk_le32 (h + 4), sectors = vdk_le32 (h + 12);
  uint32_t gran = vdk_le32 (h + 16), gd_off = vdk_le32 (h + 20), gd_size = vdk_le32 (h + 24);
  uint64_t need;
  const char *fn = e->file->filename;

  if (version != 1)
    return vdk_err (ENOTSUP, "%s: unsupported COWD version %" PRIu32, fn, version);
  if (gran == 0 || !VDK_IS_POW2 (gran) || (uint64_t) gran * VMDK_SECTOR > VMDK_MAX_GRAIN)
    return vdk_err (EINVAL, "%s: invalid grain size of %" PRIu32 " sectors", fn, gran);
  e->type = VMDK_EXT_COWD;
  e->grain = (uint64_t) gran * VMDK_SECTOR;
  e->gtes = 4096;
  e->gt_cover = e->grain * e->gtes;
  e->gd_off = (uint64_t) gd_off * VMDK_SECTOR;
  need = ((uint64_t) sectors * VMDK_SECTOR + e->gt_cover - 1) / e->gt_cover;
  if (gd_size < need || gd_size > VDK_MAX_META_ALLOC / 4)
    return vdk_err (EINVAL, "%s: grain directory size %" PRIu32 " does not match the capacity",
                    fn, gd_size);
  e->n_gd = gd_size;
  *capacity = (uint64_t) sectors * VMDK_SECTOR;
  e->writable = false;   /* COWD extents are read-only here */
  return read_dir (n, e, e->gd_off, "grain directory", &e->gd);
}

int
vmdk_sparse_open (struct vdk_node *n, struct vmdk_ext *e, bool want_write,
                  uint64_t *capacity_out, char **desc_out)
{
  uint8_t h[VMDK_SECTOR];
  const char *fn = e->file->filename;
  uint64_t fsize = e->file->size, capacity, gran, desc_off, desc_size, gd_off, rgd_off, overhead;
  uint64_t n_gd;
  uint32_t magic;
  int r;

  if (fsize < VMDK_SECTOR)
    return vdk_err (EINVAL, "%s: file too small for a vmdk sparse header", fn);
  r = vdk_node_pread (e->file, h, sizeof h, 0);
  if (r < 0)
    return r;
  magic = vdk_le32 (h);
  if (magic == VMDK3_MAGIC)
    return open_cowd (n, e, h, capacity_out);
  if (magic != VMDK4_MAGIC)
    return vdk_err (EINVAL, "%s: not a vmdk sparse extent (bad magic %#" PRIx32 ")", fn, magic);

  if (vdk_le64 (h + 56) == VMDK4_GD_AT_END) {
    /* streamOptimized: the footer (a header copy) is authoritative.  It sits
     * between a footer marker and the end-of-stream marker. */
    uint8_t f[3 * VMDK_SECTOR];
    if (fsize < 4 * VMDK_SECTOR)
      return vdk_err (EINVAL, "%s: file too small for a stream footer", fn);
    r = vdk_node_pread (e->file, f, sizeof f, VDK_ROUND_DOWN (fsize, VMDK_SECTOR) - sizeof f);
    if (r < 0)
      return r;
    if (vdk_le32 (f + 512) != VMDK4_MAGIC || vdk_le32 (f + 8) != 0 ||
        vdk_le32 (f + 12) != VMDK_MARKER_FOOTER || vdk_le64 (f + 1024) != 0 ||
        vdk_le32 (f + 1032) != 0 || vdk_le32 (f + 1036) != VMDK_MARKER_EOS)
      return vdk_err (EINVAL, "%s: invalid streamOptimized footer", fn);
    memcpy (h, f + 512, VMDK_SECTOR);
    e->header_off = VDK_ROUND_DOWN (fsize, VMDK_SECTOR) - 2 * VMDK_SECTOR;
    if (vdk_le64 (h + 56) == VMDK4_GD_AT_END)
      return vdk_err (EINVAL, "%s: the stream footer has no grain directory offset", fn);
  }
  e->type = VMDK_EXT_SPARSE;
  e->version = vdk_le32 (h + 4);
  e->flags = vdk_le32 (h + 8);
  capacity = vdk_le64 (h + 12);
  gran = vdk_le64 (h + 20);
  desc_off = vdk_le64 (h + 28);
  desc_size = vdk_le64 (h + 36);
  e->gtes = vdk_le32 (h + 44);
  rgd_off = vdk_le64 (h + 48);
  gd_off = vdk_le64 (h + 56);
  overhead = vdk_le64 (h + 64);
  e->compressed = vdk_le16 (h + 77) == VMDK_COMPRESS_DEFLATE;
  e->markers = (e->flags & VMDK4_FLAG_MARKER) != 0;
  e->zero_grain = (e->flags & VMDK4_FLAG_ZERO_GRAIN) != 0;

  if (e->version < 1 || e->version > 3)
    return vdk_err (ENOTSUP, "%s: unsupported vmdk version %" PRIu32, fn, e->version);
  if (e->version == 3 && want_write && !e->compressed)
    return vdk_err (EROFS, "%s: vmdk version 3 images can only be opened read-only", fn);
  if (vdk_le16 (h + 77) > VMDK_COMPRESS_DEFLATE)
    return vdk_err (ENOTSUP, "%s: unsupported compression algorithm %u", fn, vdk_le16 (h + 77));
  if (gran == 0 || !VDK_IS_POW2 (gran) || gran > VMDK_MAX_GRAIN / VMDK_SECTOR)
    return vdk_err (EINVAL, "%s: invalid grain size of %" PRIu64 " sectors (must be a power of"
                    " two up to 1 GiB)", fn, gran);
  if (e->gtes == 0 || e->gtes > 512)
    return vdk_err (EINVAL, "%s: invalid number of grain table entries per table %" PRIu32
                    " (1..512)", fn, e->gtes);
  if (capacity > VDK_MAX_IMAGE_SIZE / VMDK_SECTOR)
    return vdk_err (EFBIG, "%s: capacity of %" PRIu64 " sectors is too large", fn, capacity);
  if (overhead > fsize / VMDK_SECTOR)
    return vdk_err (EINVAL, "%s: file truncated: grain data should start at %" PRIu64
                    " bytes, the file has %" PRIu64, fn, overhead * VMDK_SECTOR, fsize);
  e->grain = gran * VMDK_SECTOR;
  e->gt_cover = e->grain * e->gtes;
  n_gd = (capacity * VMDK_SECTOR + e->gt_cover - 1) / e->gt_cover;
  if (n_gd > (32u << 20) || n_gd * 4 > VDK_MAX_META_ALLOC)
    return vdk_err (EFBIG, "%s: grain directory of %" PRIu64 " entries is too large", fn, n_gd);
  e->n_gd = (uint32_t) n_gd;
  if (gd_off > fsize / VMDK_SECTOR || gd_off == 0)
    return vdk_err (EINVAL, "%s: grain directory offset %" PRIu64 " (sectors) is beyond the end"
                    " of the file", fn, gd_off);
  e->gd_off = gd_off * VMDK_SECTOR;
  r = read_dir (n, e, e->gd_off, "grain directory", &e->gd);
  if (r < 0)
    return r;
  if ((e->flags & VMDK4_FLAG_RGD) && rgd_off && want_write && !e->compressed) {
    if (rgd_off > fsize / VMDK_SECTOR)
      return vdk_err (EINVAL, "%s: redundant grain directory offset %" PRIu64 " (sectors) is"
                      " beyond the end of the file", fn, rgd_off);
    e->rgd_off = rgd_off * VMDK_SECTOR;
    r = read_dir (n, e, e->rgd_off, "redundant grain directory", &e->rgd);
    if (r < 0)
      return r;
  }
  if (e->compressed) {
    e->zbuf = malloc (e->grain);
    e->cbuf = malloc (2 * e->grain + VMDK_SECTOR);
    if (!e->zbuf || !e->cbuf)
      return vdk_err (ENOMEM, "out of memory");
  }
  e->next_alloc = VDK_ROUND_UP (fsize, e->grain);
  *capacity_out = capacity * VMDK_SECTOR;
  if (desc_out && desc_off && desc_size) {
    uint64_t doff = desc_off * VMDK_SECTOR, dlen;
    char *d;
    if (desc_off >= fsize / VMDK_SECTOR || desc_size > VMDK_DESC_MAX / VMDK_SECTOR)
      return vdk_err (EINVAL, "%s: embedded descriptor at sector %" PRIu64 " (%" PRIu64
                      " sectors) is beyond the end of the file or too large", fn, desc_off,
                      desc_size);
    dlen = VDK_MIN (desc_size * VMDK_SECTOR, fsize - doff);
    e->desc_off = doff;
    e->desc_len = dlen;
    d = calloc (1, dlen + 1);
    if (!d)
      return vdk_err (ENOMEM, "out of memory");
    r = vdk_node_pread (e->file, d, dlen, doff);
    if (r < 0) {
      free (d);
      return r;
    }
    *desc_out = d;
  }
  return 0;
}

/* The grain table GI (host-endian), through a small cache; *out NULL when
 * the GD entry is empty. */
static int
get_gt (struct vmdk_ext *e, uint32_t gi, uint32_t **out)
{
  struct vmdk_gt_slot *s;
  uint64_t off;
  size_t bytes = (size_t) e->gtes * 4;
  int r;

  *out = NULL;
  if (e->gd[gi] == 0)
    return 0;
  for (unsigned i = 0; i < VMDK_GT_CACHE; i++)
    if (e->cache[i].idx == (uint64_t) gi + 1) {
      *out = e->cache[i].gt;
      return 0;
    }
  off = (uint64_t) e->gd[gi] * VMDK_SECTOR;
  if (!vdk_range_ok (off, bytes, e->file->size))
    return vdk_err (EINVAL, "%s: grain table %" PRIu32 " at offset %" PRIu64 " is beyond the"
                    " end of the file", e->file->filename, gi, off);
  s = &e->cache[e->cache_next];
  e->cache_next = (e->cache_next + 1) % VMDK_GT_CACHE;
  s->idx = 0;
  if (!s->gt && !(s->gt = malloc (bytes)))
    return vdk_err (ENOMEM, "out of memory");
  r = vdk_node_pread (e->file, s->gt, bytes, off);
  if (r < 0)
    return r;
  for (uint32_t i = 0; i < e->gtes; i++)
    s->gt[i] = le32toh (s->gt[i]);
  s->idx = (uint64_t) gi + 1;
  *out = s->gt;
  return 0;
}

int
vmdk_sparse_is_empty (struct vmdk_ext *e, bool *empty)
{
  uint32_t last = 0;

  *empty = true;
  for (uint32_t gi = 0; gi < e->n_gd && *empty; gi++) {
    uint32_t *gt;
    int r;
    if (e->gd[gi] == 0)
      continue;
    /* Tables of a sane image do not overlap; a GD pointing many times at
     * one table is not empty as far as we care (and would be slow). */
    if (e->gd[gi] <= last) {
      *empty = false;
      break;
    }
    last = e->gd[gi];
    r = get_gt (e, gi, &gt);
    if (r < 0)
      return r;
    for (uint32_t j = 0; gt && j < e->gtes && *empty; j++)
      *empty = gt[j] == 0;
  }
  return 0;
}

int
vmdk_sparse_map (struct vdk_node *n, struct vmdk_ext *e, uint64_t off, uint64_t len,
                 struct vdk_extent *x)
{
  uint64_t gidx = off / e->grain, gi64 = gidx / e->gtes, in = off % e->grain;
  uint64_t gt_end = (gi64 + 1) * e->gt_cover;
  uint32_t *gt, j, gte;
  int r;

  (void) n;
  if (gi64 >= e->n_gd) {
    x->kind = VDK_EXT_UNALLOC;
    x->len = len;
    return 0;
  }
  r = get_gt (e, (uint32_t) gi64, &gt);
  if (r < 0)
    return r;
  if (!gt) {
    x->kind = VDK_EXT_UNALLOC;
    x->len = VDK_MIN (len, gt_end - off);
    return 0;
  }
  j = gidx % e->gtes;
  gte = gt[j];
  x->len = VDK_MIN (len, e->grain - in);
  if (gte == 0 || (gte == VMDK_GTE_ZEROED && e->zero_grain)) {
    x->kind = gte == 0 ? VDK_EXT_UNALLOC : VDK_EXT_ZERO;
    while (x->len < len && ++j < e->gtes && gt[j] == gte)
      x->len = VDK_MIN (len, x->len + e->grain);
    return 0;
  }
  if (e->compressed) {
    x->kind = VDK_EXT_ENCODED;
    x->host = (uint64_t) gte * VMDK_SECTOR;
    return 0;
  }
  x->kind = VDK_EXT_DATA;
  x->host = (uint64_t) gte * VMDK_SECTOR + in;
  x->child = e->file;
  while (x->len < len && j + 1 < e->gtes &&
         (uint64_t) gt[j + 1] * VMDK_SECTOR == (uint64_t) gt[j] * VMDK_SECTOR + e->grain) {
    j++;
    x->len = VDK_MIN (len, x->len + e->grain);
  }
  if (!vdk_range_ok (x->host, x->len, e->file->size))
    return vdk_err (EINVAL, "%s: grain table entry for offset %" PRIu64 " points beyond the end"
                    " of the file (sector %" PRIu32 ")", e->file->filename, off, gte);
  return 0;
}

int
vmdk_sparse_read_compressed (struct vdk_node *n, struct vmdk_ext *e, uint64_t off,
                             size_t len, void *buf)
{
  uint64_t gidx = off / e->grain, host, clen;
  uint32_t *gt;
  uLongf dlen;
  int r, zr;

  (void) n;
  if (e->zbuf_idx != gidx + 1) {
    r = get_gt (e, (uint32_t) (gidx / e->gtes), &gt);
    if (r < 0)
      return r;
    if (!gt || gt[gidx % e->gtes] <= VMDK_GTE_ZEROED)
      return vdk_err (EIO, "%s: internal error: compressed grain vanished", e->file->filename);
    host = (uint64_t) gt[gidx % e->gtes] * VMDK_SECTOR;
    if (e->markers) {
      uint8_t m[12];
      if (!vdk_range_ok (host, 12, e->file->size))
        return vdk_err (EINVAL, "%s: grain marker at offset %" PRIu64 " is beyond the end of"
                        " the file", e->file->filename, host);
      r = vdk_node_pread (e->file, m, sizeof m, host);
      if (r < 0)
        return r;
      clen = vdk_le32 (m + 8);
      host += 12;
      if (clen == 0 || clen > 2 * e->grain + VMDK_SECTOR ||
          !vdk_range_ok (host, clen, e->file->size))
        return vdk_err (EINVAL, "%s: invalid compressed grain size %" PRIu64 " at offset %"
                        PRIu64, e->file->filename, clen, host - 12);
    }
    else {
      if (host >= e->file->size)
        return vdk_err (EINVAL, "%s: compressed grain at offset %" PRIu64 " is beyond the end"
                        " of the file", e->file->filename, host);
      clen = VDK_MIN (2 * e->grain + VMDK_SECTOR, e->file->size - host);
    }
    r = vdk_node_pread (e->file, e->cbuf, clen, host);
    if (r < 0)
      return r;
    e->zbuf_idx = 0;
    dlen = e->grain;
    zr = uncompress (e->zbuf, &dlen, e->cbuf, clen);
    if (zr != Z_OK)
      return vdk_err (EINVAL, "%s: corrupt compressed grain at offset %" PRIu64 " (zlib error %d)",
                      e->file->filename, host, zr);
    if (dlen < e->grain)
      memset (e->zbuf + dlen, 0, e->grain - dlen);
    e->zbuf_idx = gidx + 1;
  }
  memcpy (buf, e->zbuf + off % e->grain, len);
  return 0;
}

/* Point GT entries [j, j+cnt) of table GI at FIRST, FIRST+grain...
 * (or all at VAL when step is 0), in the cache and on disk (both copies). */
static int
set_gtes (struct vmdk_ext *e, uint32_t gi, uint32_t *gt, uint32_t j, uint32_t cnt,
          uint32_t first, uint32_t step)
{
  uint32_t tmp[512];
  int r;

  for (uint32_t k = 0; k < cnt; k++) {
    gt[j + k] = first + k * step;
    tmp[k] = htole32 (gt[j + k]);
  }
  r = vdk_node_pwrite (e->file, tmp, cnt * 4, (uint64_t) e->gd[gi] * VMDK_SECTOR + j * 4, 0);
  if (r == 0 && e->rgd && e->rgd[gi])
    r = vdk_node_pwrite (e->file, tmp, cnt * 4, (uint64_t) e->rgd[gi] * VMDK_SECTOR + j * 4, 0);
  return r;
}

/* A new, empty grain table (and its redundant copy) at the end of the file. */
static int
alloc_gt (struct vmdk_ext *e, uint32_t gi)
{
  uint64_t bytes = VDK_ROUND_UP ((uint64_t) e->gtes * 4, VMDK_SECTOR);
  uint64_t copies = e->rgd ? 2 : 1, pos = e->next_alloc;
  uint8_t *z;
  uint32_t le;
  int r;

  if ((pos + copies * bytes) / VMDK_SECTOR > 0xffffffffULL)
    return vdk_err (EFBIG, "%s: extent file is full (grain offsets are 32 bits)",
                    e->file->filename);
  z = calloc (1, copies * bytes);
  if (!z)
    return vdk_err (ENOMEM, "out of memory");
  r = vdk_node_pwrite (e->file, z, copies * bytes, pos, 0);
  free (z);
  if (r < 0)
    return r;
  if (e->rgd) {
    le = htole32 ((uint32_t) ((pos + bytes) / VMDK_SECTOR));
    r = vdk_node_pwrite (e->file, &le, 4, e->rgd_off + (uint64_t) gi * 4, 0);
    if (r < 0)
      return r;
    e->rgd[gi] = le32toh (le);
  }
  le = htole32 ((uint32_t) (pos / VMDK_SECTOR));
  r = vdk_node_pwrite (e->file, &le, 4, e->gd_off + (uint64_t) gi * 4, 0);
  if (r < 0)
    return r;
  e->gd[gi] = le32toh (le);
  e->next_alloc = VDK_ROUND_UP (pos + copies * bytes, e->grain);
  return 0;
}

int
vmdk_sparse_write (struct vdk_node *n, struct vmdk_ext *e, const void *buf, size_t len,
                   uint64_t off)
{
  const uint8_t *p = buf;
  int r;

  if (e->type != VMDK_EXT_SPARSE || e->compressed)
    return vdk_err (ENOTSUP, "%s: writing this kind of sparse extent is not supported",
                    e->file->filename);
  while (len > 0) {
    uint64_t gidx = off / e->grain, in = off % e->grain;
    uint32_t gi = (uint32_t) (gidx / e->gtes), j = gidx % e->gtes, gte, cnt;
    uint32_t *gt;
    size_t l;

    if (gidx / e->gtes >= e->n_gd)
      return vdk_err (EINVAL, "%s: write beyond the extent's grain directory",
                      e->file->filename);
    r = get_gt (e, gi, &gt);
    if (r == 0 && !gt && (r = alloc_gt (e, gi)) == 0)
      r = get_gt (e, gi, &gt);
    if (r < 0)
      return r;
    gte = gt[j];
    if (gte > VMDK_GTE_ZEROED || (gte == VMDK_GTE_ZEROED && !e->zero_grain)) {
      l = VDK_MIN (len, e->grain - in);
      r = vdk_node_pwrite (e->file, p, l, (uint64_t) gte * VMDK_SECTOR + in, 0);
    }
    else if (in == 0 && len >= e->grain) {
      /* Whole new grains: as many as are unallocated in this table, in one go. */
      uint64_t pos = e->next_alloc;
      cnt = 1;
      while (j + cnt < e->gtes && (uint64_t) (cnt + 1) * e->grain <= len &&
             gt[j + cnt] <= VMDK_GTE_ZEROED && (gt[j + cnt] == 0 || e->zero_grain))
        cnt++;
      l = (size_t) cnt * e->grain;
      if ((pos + l) / VMDK_SECTOR > 0xffffffffULL)
        return vdk_err (EFBIG, "%s: extent file is full", e->file->filename);
      r = vdk_node_pwrite (e->file, p, l, pos, 0);
      if (r == 0) {
        e->next_alloc = pos + l;
        r = set_gtes (e, gi, gt, j, cnt, (uint32_t) (pos / VMDK_SECTOR),
                      (uint32_t) (e->grain / VMDK_SECTOR));
      }
    }
    else {
      /* Part of a new grain: the rest comes from the backing file (or is
       * zero for a zeroed grain). */
      uint64_t pos = e->next_alloc;
      uint8_t *g = malloc (e->grain);
      l = VDK_MIN (len, e->grain - in);
      if (!g)
        return vdk_err (ENOMEM, "out of memory");
      if (gte == 0 && n->backing)
        r = vdk_node_read_backing (n, g, e->grain, e->start + gidx * e->grain);
      else {
        memset (g, 0, e->grain);
        r = 0;
      }
      if (r == 0) {
        memcpy (g + in, p, l);
        if ((pos + e->grain) / VMDK_SECTOR > 0xffffffffULL)
          r = vdk_err (EFBIG, "%s: extent file is full", e->file->filename);
        else
          r = vdk_node_pwrite (e->file, g, e->grain, pos, 0);
      }
      free (g);
      if (r == 0) {
        e->next_alloc = pos + e->grain;
        r = set_gtes (e, gi, gt, j, 1, (uint32_t) (pos / VMDK_SECTOR), 0);
      }
    }
    if (r < 0)
      return r;
    p += l;
    off += l;
    len -= l;
  }
  return 0;
}

/* Make [off, off+len) of the extent read as zeroes, grain by grain:
 * whole grains of a zeroed-grain extent become GTE 1; grains that already
 * read as zeroes (unallocated, no backing) are left alone; allocated grains
 * are zeroed in place; anything else is written (unless NO_FALLBACK). */
int
vmdk_sparse_write_zeroes (struct vdk_node *n, struct vmdk_ext *e, uint64_t off, uint64_t len,
                          unsigned flags)
{
  static const uint8_t zero[4096];
  int r = 0;

  if (e->type != VMDK_EXT_SPARSE || e->compressed)
    return -ENOTSUP;
  while (len > 0 && r == 0) {
    uint64_t gidx = off / e->grain, in = off % e->grain;
    uint64_t l = VDK_MIN (len, e->grain - in);
    uint32_t gi = (uint32_t) (gidx / e->gtes), j = gidx % e->gtes, *gt = NULL, gte = 0;

    if (gidx / e->gtes >= e->n_gd)
      return vdk_err (EINVAL, "%s: write beyond the extent's grain directory",
                      e->file->filename);
    r = get_gt (e, gi, &gt);
    if (r < 0)
      return r;
    if (gt)
      gte = gt[j];
    if (gte > VMDK_GTE_ZEROED || (gte == VMDK_GTE_ZEROED && !e->zero_grain)) {
      if (e->zero_grain && l == e->grain)
        r = set_gtes (e, gi, gt, j, 1, VMDK_GTE_ZEROED, 0);
      else
        r = vdk_node_write_zeroes (e->file, (uint64_t) gte * VMDK_SECTOR + in, l,
                                   flags & ~DISK_MAY_UNMAP);
    }
    else if (gte == VMDK_GTE_ZEROED || !n->backing)
      r = 0;                                /* reads as zeroes already */
    else if (e->zero_grain && l == e->grain) {
      if (!gt && (r = alloc_gt (e, gi)) == 0)
        r = get_gt (e, gi, &gt);
      if (r == 0)
        r = set_gtes (e, gi, gt, j, 1, VMDK_GTE_ZEROED, 0);
    }
    else if (flags & DISK_NO_FALLBACK)
      return -ENOTSUP;
    else {
      /* The backing file shows through here: allocate a grain of zeroes. */
      for (uint64_t done = 0; done < l && r == 0; done += VDK_MIN (l - done, sizeof zero))
        r = vmdk_sparse_write (n, e, zero, VDK_MIN (l - done, sizeof zero), off + done);
    }
    off += l;
    len -= l;
  }
  return r;
}

int
vmdk_sparse_check (struct vdk_node *n, struct vmdk_ext *e, struct vdk_check *res)
{
  char msg[512];
  (void) n;
  for (uint32_t gi = 0; gi < e->n_gd; gi++) {
    uint32_t *gt;
    int r;
    if (e->gd[gi] == 0)
      continue;
    r = get_gt (e, gi, &gt);
    if (r < 0) {
      res->corruptions++;
      if (res->report) {
        snprintf (msg, sizeof msg, "ERROR: %s", disk_last_error ());
        res->report (res->opaque, msg);
      }
      vdk_err_clear ();
      continue;
    }
    for (uint32_t j = 0; j < e->gtes; j++) {
      uint64_t host = (uint64_t) gt[j] * VMDK_SECTOR;
      uint64_t need = e->compressed ? 12 : e->grain;
      if (gt[j] == 0 || (gt[j] == VMDK_GTE_ZEROED && e->zero_grain))
        continue;
      res->allocated_clusters++;
      if (e->compressed)
        res->compressed_clusters++;
      if (!vdk_range_ok (host, need, e->file->size)) {
        res->corruptions++;
        if (res->report) {
          snprintf (msg, sizeof msg, "ERROR: %s: grain table %" PRIu32 " entry %" PRIu32
                    " points beyond the end of the file (offset %" PRIu64 ")",
                    e->file->filename, gi, j, host);
          res->report (res->opaque, msg);
        }
      }
    }
  }
  res->total_clusters += (e->size + e->grain - 1) / e->grain;
  return 0;
}
