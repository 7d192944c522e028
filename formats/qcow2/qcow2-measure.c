/* qcow2: measure (qemu-img measure -O qcow2).
 *
 * The fully allocated size is the header cluster, every L2 table, the L1
 * table and the refcount structures covering all of that plus every data
 * cluster; the required size is the same minus the data clusters the source
 * does not use.  The numbers are qemu's: images made by either tool fit. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "qcow2.h"

#define DIV_UP(a, b) (((a) + (b) - 1) / (b))

/* Bytes of refcount blocks and table needed to count CLUSTERS clusters plus
 * the refcount structures themselves (the fixed point of the recursion). */
static uint64_t
refcount_meta_size (uint64_t clusters, uint64_t cs, unsigned order)
{
  uint64_t per_block = cs * 8 >> order, per_table_cluster = cs / 8;
  uint64_t blocks = 0, table = 0, total = 0, last;

  do {
    last = total;
    blocks = DIV_UP (clusters + table + blocks, per_block);
    table = DIV_UP (blocks, per_table_cluster);
    total = clusters + blocks + table;
  } while (total != last);
  return (blocks + table) * cs;
}

static uint64_t
prealloc_size (uint64_t size, uint64_t cs, unsigned order, bool extl2)
{
  uint64_t l2e = extl2 ? 16 : 8, meta = cs, nl2e, nl1e;

  size = VDK_ROUND_UP (size, cs);
  nl2e = VDK_ROUND_UP (size / cs, cs / l2e);
  meta += nl2e * l2e;
  nl1e = VDK_ROUND_UP (nl2e * l2e / cs, cs / 8);
  meta += nl1e * 8;
  meta += refcount_meta_size ((meta + size) / cs, cs, order);
  return meta + size;
}

/* What the persistent bitmaps of qcow2 image SRC take in an image of CS
 * clusters: each bitmap whole, its table, and the directory. */
static int
bitmaps_size (struct vdk_node *src, uint64_t cs, uint64_t *out)
{
  struct qcow2 *s = src->priv;
  uint64_t total = 0, dir = 0, pos = 0;
  uint8_t *buf;
  int r = 0;

  *out = 0;
  if (!s->has_bitmaps_ext || !(s->autoclear & QCOW2_AUTOCLEAR_BITMAPS) || !s->nb_bitmaps)
    return 0;
  if (s->bitmap_dir_size > (64u << 20) || s->nb_bitmaps > 65535 ||
      !vdk_range_ok (s->bitmap_dir_offset, s->bitmap_dir_size, src->file->size))
    return vdk_err (EINVAL, "%s: invalid bitmap directory (%u bitmaps, %" PRIu64
                    " bytes at %#" PRIx64 ")", src->filename, s->nb_bitmaps,
                    s->bitmap_dir_size, s->bitmap_dir_offset);
  if (!(buf = malloc (s->bitmap_dir_size ? s->bitmap_dir_size : 1)))
    return vdk_err (ENOMEM, "out of memory");
  if ((r = vdk_node_pread (src->file, buf, s->bitmap_dir_size, s->bitmap_dir_offset)) < 0)
    goto out;
  for (uint32_t i = 0; i < s->nb_bitmaps; i++) {
    uint64_t esize, bytes, clusters;
    unsigned gbits;
    uint32_t name_size, extra;
    if (s->bitmap_dir_size - pos < 24) {
      r = vdk_err (EINVAL, "%s: bitmap directory is truncated", src->filename);
      goto out;
    }
    gbits = buf[pos + 17];
    name_size = vdk_be16 (buf + pos + 18);
    extra = vdk_be32 (buf + pos + 20);
    esize = VDK_ROUND_UP (24 + (uint64_t) name_size + extra, 8);
    if (esize > s->bitmap_dir_size - pos || gbits < 9 || gbits > 31) {
      r = vdk_err (EINVAL, "%s: invalid bitmap directory entry %u", src->filename, i);
      goto out;
    }
    bytes = DIV_UP (DIV_UP (src->size, 1ULL << gbits), 8);
    clusters = DIV_UP (bytes, cs);
    total += clusters * cs + VDK_ROUND_UP (clusters * 8, cs);
    dir += VDK_ROUND_UP (24 + (uint64_t) name_size, 8);
    pos += esize;
  }
  *out = total + VDK_ROUND_UP (dir, cs);
 out:
  free (buf);
  return r;
}

static int
get_bool (struct vdk_opts *o, const char *key, bool *out)
{
  const char *v = vdk_opts_take (o, key);
  if (!v)
    return 0;
  if (!strcmp (v, "on") || !strcmp (v, "true") || !strcmp (v, "yes"))
    *out = true;
  else if (!strcmp (v, "off") || !strcmp (v, "false") || !strcmp (v, "no"))
    *out = false;
  else
    return vdk_err (EINVAL, "Parameter '%s' expects 'on' or 'off'", key);
  return 0;
}

int
qcow2_measure (struct vdk_opts *opts, struct vdk_measure *m)
{
  uint64_t cs = 65536, rbits = 16, size, required = 0, l2_tables;
  bool extl2 = false, v3 = true;
  enum vdk_prealloc pa = VDK_PREALLOC_OFF;
  const char *v;
  unsigned order = 0;
  int r;

  /* options in qemu's order, so the first error is the same */
  if ((r = get_bool (opts, "extended_l2", &extl2)) < 0)
    return r;
  if ((r = vdk_opts_take_size (opts, "cluster_size", &cs)) < 0)
    return r;
  if (!VDK_IS_POW2 (cs) || cs < 512 || cs > (2u << 20))
    return vdk_err (EINVAL, "Cluster size must be a power of two between 512 and 2048k");
  if (extl2 && cs < 16384)
    return vdk_err (EINVAL, "Extended L2 entries are only supported with cluster sizes of at"
                    " least 16384 bytes");
  if ((v = vdk_opts_take (opts, "compat"))) {
    if (!strcmp (v, "0.10") || !strcmp (v, "v2"))
      v3 = false;
    else if (!strcmp (v, "1.1") || !strcmp (v, "v3"))
      v3 = true;
    else
      return vdk_err (EINVAL, "Invalid compatibility level: '%s'", v);
  }
  if ((r = vdk_opts_take_uint (opts, "refcount_bits", &rbits)) < 0)
    return r;
  if (!VDK_IS_POW2 (rbits) || rbits > 64)
    return vdk_err (EINVAL, "Refcount width must be a power of two and may not exceed 64 bits");
  if (!v3 && rbits != 16)
    return vdk_err (EINVAL, "Different refcount widths than 16 bits require compatibility"
                    " level 1.1 or above (use compat=1.1 or greater)");
  while ((1ULL << order) < rbits)
    order++;
  if ((v = vdk_opts_take (opts, "preallocation")) && vdk_parse_prealloc (v, &pa) < 0)
    return vdk_err (EINVAL, "invalid parameter value: %s", v);

  size = VDK_ROUND_UP (m->size, cs);
  l2_tables = DIV_UP (size / cs, cs / (extl2 ? 16 : 8));
  if (l2_tables * 8 > QCOW2_MAX_L1_BYTES)
    return vdk_err (EFBIG, "The image size is too large (try using a larger cluster size)");
  if (m->data_bytes) {
    /* A new backing file may share nothing with the source: count it all. */
    if (vdk_opts_get (opts, "backing_file"))
      required = size;
    else
      required = m->data_bytes (m->opaque, cs);
  }
  if (pa == VDK_PREALLOC_FULL || pa == VDK_PREALLOC_FALLOC)
    required = size;
  m->full = prealloc_size (size, cs, order, extl2);
  m->required = m->full - size + required;
  m->has_bitmaps = v3 && m->src && m->src->fmt == &vdk_format_qcow2 &&
    ((struct qcow2 *) m->src->priv)->version >= 3;
  if (m->has_bitmaps && (r = bitmaps_size (m->src, cs, &m->bitmaps)) < 0)
    return r;
  return 0;
}
