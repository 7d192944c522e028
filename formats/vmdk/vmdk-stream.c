/* streamOptimized writing: grains are compressed and appended in guest
 * order, each behind a grain marker; the grain tables, the grain directory
 * and a footer (a copy of the header with the real GD offset) follow the
 * last grain, then an end-of-stream marker.  Writes must come in ascending
 * order (as convert issues them); one grain is buffered until the next
 * starts.  flush writes the metadata tail; a later write cuts the tail off
 * again and goes on appending, so flush can happen at any time. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "vmdk.h"

struct vmdk_stream {
  struct vmdk_ext *e;
  uint32_t *gt;          /* every GT entry, host-endian (n_gd * gtes) */
  uint8_t *gbuf, *cbuf;
  size_t cbuf_len;
  uint64_t cur;          /* grain index + 1 in gbuf, 0 = none */
  uint64_t data_end;     /* where the next grain goes */
  uint64_t cur_at;       /* cur was written by finish at this offset (0 = no) */
  bool finished;         /* the metadata tail is on disk */
  uint8_t hdr[VMDK_SECTOR];
};

static void
put_marker (uint8_t *p, uint64_t val, uint32_t size, uint32_t type)
{
  memset (p, 0, VMDK_SECTOR);
  vdk_put_le64 (p, val);
  vdk_put_le32 (p + 8, size);
  vdk_put_le32 (p + 12, type);
}

/* GT markers + GTs (those with entries), GD marker + GD, footer marker +
 * footer, EOS marker: built at POS into a new buffer. */
static int
build_tail (const uint8_t *hdr, const uint32_t *gt, uint32_t n_gd, uint32_t gtes, uint64_t pos,
            uint8_t **out, size_t *out_len)
{
  uint64_t gt_bytes = VDK_ROUND_UP ((uint64_t) gtes * 4, VMDK_SECTOR);
  uint64_t gd_bytes = VDK_ROUND_UP ((uint64_t) n_gd * 4, VMDK_SECTOR);
  uint64_t n_gt = 0, total, at = 0;
  uint8_t *b;

  for (uint32_t gi = 0; gt && gi < n_gd; gi++)
    for (uint32_t j = 0; j < gtes; j++)
      if (gt[(uint64_t) gi * gtes + j]) {
        n_gt++;
        break;
      }
  total = n_gt * (VMDK_SECTOR + gt_bytes) + VMDK_SECTOR + gd_bytes + 3 * VMDK_SECTOR;
  if (total > VDK_MAX_META_ALLOC + 4 * (uint64_t) VDK_MAX_META_ALLOC)
    return vdk_err (EFBIG, "stream metadata too large");
  if ((pos + total) / VMDK_SECTOR > 0xffffffffULL)
    return vdk_err (EFBIG, "streamOptimized image is too large (offsets are 32-bit sectors)");
  b = calloc (1, total);
  if (!b)
    return vdk_err (ENOMEM, "out of memory");
  uint8_t *gd = b + n_gt * (VMDK_SECTOR + gt_bytes) + VMDK_SECTOR;
  for (uint32_t gi = 0; gt && gi < n_gd; gi++) {
    const uint32_t *t = gt + (uint64_t) gi * gtes;
    bool any = false;
    for (uint32_t j = 0; j < gtes && !any; j++)
      any = t[j] != 0;
    if (!any)
      continue;
    put_marker (b + at, gt_bytes / VMDK_SECTOR, 0, VMDK_MARKER_GT);
    at += VMDK_SECTOR;
    vdk_put_le32 (gd + (uint64_t) gi * 4, (uint32_t) ((pos + at) / VMDK_SECTOR));
    for (uint32_t j = 0; j < gtes; j++)
      vdk_put_le32 (b + at + (uint64_t) j * 4, t[j]);
    at += gt_bytes;
  }
  put_marker (b + at, gd_bytes / VMDK_SECTOR, 0, VMDK_MARKER_GD);
  at += VMDK_SECTOR;
  uint64_t gd_sector = (pos + at) / VMDK_SECTOR;
  at += gd_bytes;
  put_marker (b + at, 1, 0, VMDK_MARKER_FOOTER);
  at += VMDK_SECTOR;
  memcpy (b + at, hdr, VMDK_SECTOR);
  vdk_put_le64 (b + at + 56, gd_sector);
  at += VMDK_SECTOR;
  put_marker (b + at, 0, 0, VMDK_MARKER_EOS);
  *out = b;
  *out_len = total;
  return 0;
}

int
vmdk_stream_write_empty_tail (struct vdk_node *file, uint64_t off, const uint8_t *hdr,
                              uint64_t capacity, uint64_t grain, uint32_t gtes)
{
  uint64_t n_gd = (capacity + grain * gtes - 1) / (grain * gtes);
  uint8_t *b;
  size_t len;
  int r;

  if (n_gd > (32u << 20))
    return vdk_err (EFBIG, "%s: image too large for a grain directory", file->filename);
  r = build_tail (hdr, NULL, (uint32_t) n_gd, gtes, off, &b, &len);
  if (r < 0)
    return r;
  r = vdk_node_pwrite (file, b, len, off, 0);
  free (b);
  return r;
}

void
vmdk_stream_free (struct vmdk_stream *s)
{
  if (!s)
    return;
  free (s->gt);
  free (s->gbuf);
  free (s->cbuf);
  free (s);
}

int
vmdk_stream_init (struct vdk_node *n, struct vmdk_ext *e, struct vmdk_stream **out)
{
  struct vmdk_stream *s;
  uint64_t entries = (uint64_t) e->n_gd * e->gtes;
  bool empty;
  int r;

  r = vmdk_sparse_is_empty (e, &empty);
  if (r < 0)
    return r;
  if (!empty)
    return vdk_err (ENOTSUP, "%s: writing to a streamOptimized image that already has data"
                    " is not supported (it can only be written once, in order)", n->filename);
  if (entries * 4 > VDK_MAX_META_ALLOC)
    return vdk_err (EFBIG, "%s: image too large to write as streamOptimized", n->filename);
  s = calloc (1, sizeof *s);
  if (!s)
    return vdk_err (ENOMEM, "out of memory");
  s->e = e;
  s->cbuf_len = compressBound (e->grain) + 12;
  s->gt = calloc (entries ? entries : 1, 4);
  s->gbuf = malloc (e->grain);
  s->cbuf = malloc (VDK_ROUND_UP (s->cbuf_len, VMDK_SECTOR));
  if (!s->gt || !s->gbuf || !s->cbuf) {
    vmdk_stream_free (s);
    return vdk_err (ENOMEM, "out of memory");
  }
  r = vdk_node_pread (e->file, s->hdr, VMDK_SECTOR, 0);
  if (r < 0) {
    vmdk_stream_free (s);
    return r;
  }
  s->data_end = vdk_le64 (s->hdr + 64) * VMDK_SECTOR;
  if (s->data_end < VMDK_SECTOR || s->data_end > e->file->size) {
    vmdk_stream_free (s);
    return vdk_err (EINVAL, "%s: invalid grain data offset in the header", n->filename);
  }
  s->finished = true;
  if (vdk_le64 (s->hdr + 56) != VMDK4_GD_AT_END) {
    /* An empty stream made with its tables up front (qemu-img does that):
     * from now on the footer is authoritative, as in a real stream. */
    vdk_put_le32 (s->hdr + 8, vdk_le32 (s->hdr + 8) & ~VMDK4_FLAG_RGD);
    vdk_put_le64 (s->hdr + 48, 0);
    vdk_put_le64 (s->hdr + 56, VMDK4_GD_AT_END);
    r = vdk_node_pwrite (e->file, s->hdr, VMDK_SECTOR, 0, 0);
    if (r < 0) {
      vmdk_stream_free (s);
      return r;
    }
    s->finished = false;
  }
  *out = s;
  return 0;
}

/* Compress and append the buffered grain (nothing for an all-zero one). */
static int
put_grain (struct vmdk_stream *s)
{
  struct vmdk_ext *e = s->e;
  uint64_t g = s->cur - 1;
  uLongf clen = s->cbuf_len - 12;
  size_t total;
  int r;

  if (vdk_is_zero (s->gbuf, e->grain))
    return 0;
  r = compress2 (s->cbuf + 12, &clen, s->gbuf, e->grain, Z_DEFAULT_COMPRESSION);
  if (r != Z_OK)
    return vdk_err (EIO, "%s: zlib compression failed (%d)", e->file->filename, r);
  total = VDK_ROUND_UP (12 + clen, VMDK_SECTOR);
  if ((s->data_end + total) / VMDK_SECTOR > 0xffffffffULL)
    return vdk_err (EFBIG, "%s: streamOptimized image is full", e->file->filename);
  vdk_put_le64 (s->cbuf, g * (e->grain / VMDK_SECTOR));
  vdk_put_le32 (s->cbuf + 8, (uint32_t) clen);
  memset (s->cbuf + 12 + clen, 0, total - 12 - clen);
  r = vdk_node_pwrite (e->file, s->cbuf, total, s->data_end, 0);
  if (r < 0)
    return r;
  s->gt[g] = (uint32_t) (s->data_end / VMDK_SECTOR);
  s->data_end += total;
  return 0;
}

int
vmdk_stream_write (struct vdk_node *n, struct vmdk_stream *s, const void *buf, size_t len,
                   uint64_t off)
{
  struct vmdk_ext *e = s->e;
  const uint8_t *p = buf;
  int r;

  while (len > 0) {
    uint64_t g = off / e->grain, in = off % e->grain;
    size_t l = VDK_MIN (len, e->grain - in);

    if (s->cur && g + 1 < s->cur)
      return vdk_err (EINVAL, "%s: streamOptimized images must be written in order (write at"
                      " offset %" PRIu64 " after offset %" PRIu64 ")", n->filename, off,
                      (s->cur - 1) * e->grain);
    if (s->finished) {
      /* Cut off the metadata tail (and the current grain if finish wrote it). */
      if (s->cur_at && g + 1 == s->cur) {
        s->data_end = s->cur_at;
        s->gt[g] = 0;
      }
      r = vdk_node_truncate (e->file, s->data_end, VDK_PREALLOC_OFF, true);
      if (r < 0)
        return r;
      s->finished = false;
      s->cur_at = 0;
    }
    if (g + 1 != s->cur) {
      if (s->cur && (r = put_grain (s)) < 0)
        return r;
      s->cur = g + 1;
      memset (s->gbuf, 0, e->grain);
    }
    memcpy (s->gbuf + in, p, l);
    p += l;
    off += l;
    len -= l;
  }
  return 0;
}

int
vmdk_stream_finish (struct vdk_node *n, struct vmdk_stream *s)
{
  struct vmdk_ext *e = s->e;
  uint8_t *b;
  size_t len;
  int r;

  (void) n;
  if (s->finished)
    return 0;
  if (s->cur) {
    uint64_t at = s->data_end;
    r = put_grain (s);
    if (r < 0)
      return r;
    s->cur_at = s->data_end != at ? at : 0;
  }
  r = build_tail (s->hdr, s->gt, e->n_gd, e->gtes, s->data_end, &b, &len);
  if (r < 0)
    return r;
  r = vdk_node_pwrite (e->file, b, len, s->data_end, 0);
  free (b);
  if (r < 0)
    return r;
  s->finished = true;
  return 0;
}

/* Reads while writing: from the buffered grain or the appended ones. */

int
vmdk_stream_map (struct vmdk_stream *s, uint64_t off, uint64_t len, struct vdk_extent *x)
{
  uint64_t g = off / s->e->grain;
  x->len = VDK_MIN (len, s->e->grain - off % s->e->grain);
  x->kind = (g + 1 == s->cur || s->gt[g]) ? VDK_EXT_ENCODED : VDK_EXT_UNALLOC;
  return 0;
}

int
vmdk_stream_read (struct vdk_node *n, struct vmdk_stream *s, uint64_t off, size_t len, void *buf)
{
  struct vmdk_ext *e = s->e;
  uint64_t g = off / e->grain;
  uint8_t m[12];
  uLongf dlen = e->grain;
  uint64_t clen;
  int r;

  if (g + 1 == s->cur) {
    memcpy (buf, s->gbuf + off % e->grain, len);
    return 0;
  }
  r = vdk_node_pread (e->file, m, sizeof m, (uint64_t) s->gt[g] * VMDK_SECTOR);
  if (r < 0)
    return r;
  clen = vdk_le32 (m + 8);
  if (clen > s->cbuf_len - 12)
    return vdk_err (EIO, "%s: bad grain marker", n->filename);
  r = vdk_node_pread (e->file, s->cbuf, clen, (uint64_t) s->gt[g] * VMDK_SECTOR + 12);
  if (r < 0)
    return r;
  if (uncompress (e->zbuf, &dlen, s->cbuf, clen) != Z_OK)
    return vdk_err (EIO, "%s: corrupt compressed grain", n->filename);
  e->zbuf_idx = 0;
  memcpy (buf, e->zbuf + off % e->grain, len);
  return 0;
}
