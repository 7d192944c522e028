/* qcow2: probe, open (header, extensions, validation), info, create,
 * header updates. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qcow2.h"

static int
qcow2_probe (const uint8_t *buf, size_t len, const char *filename)
{
  (void) filename;
  if (len >= 8 && vdk_be32 (buf) == QCOW2_MAGIC &&
      vdk_be32 (buf + 4) >= 2)
    return 100;
  return 0;
}

uint64_t
qcow2_file_end (struct vdk_node *n)
{
  return n->file->size;
}

/* The feature names we know, for the feature name table and messages. */
struct feature { uint8_t type, bit; const char *name; };
static const struct feature known_features[] = {
  { 0, 0, "dirty bit" },
  { 0, 1, "corrupt bit" },
  { 0, 2, "external data file" },
  { 0, 3, "compression type" },
  { 0, 4, "extended L2 entries" },
  { 1, 0, "lazy refcounts" },
  { 2, 0, "bitmaps" },
  { 2, 1, "raw external data" },
};

static void
free_priv (struct qcow2 *s)
{
  if (!s)
    return;
  free (s->l1);
  free (s->rt);
  free (s->backing_file);
  free (s->backing_fmt);
  free (s->data_file);
  free (s->unknown_ext);
  free (s->feature_table);
  qcow2_free_snapshots (s);
  for (size_t i = 0; i < s->l2c_n; i++)
    free (s->l2c[i].data);
  free (s->l2c);
  for (size_t i = 0; i < s->rbc_n; i++)
    free (s->rbc[i].data);
  free (s->rbc);
  free (s->zc_buf);
  free (s);
}

/* Build the header cluster: fields, extensions, backing file name. */
static int
build_header (struct vdk_node *n, uint8_t *buf, size_t cs, size_t *used)
{
  struct qcow2 *s = n->priv;
  size_t p, hl = s->version >= 3 ? s->header_length : QCOW2_V2_HEADER_LEN;
  size_t blen = s->backing_file ? strlen (s->backing_file) : 0;

  memset (buf, 0, cs);
  vdk_put_be32 (buf, QCOW2_MAGIC);
  vdk_put_be32 (buf + 4, s->version);
  vdk_put_be32 (buf + 20, s->cluster_bits);
  vdk_put_be64 (buf + 24, s->size);
  vdk_put_be32 (buf + 32, s->crypt_method);
  vdk_put_be32 (buf + 36, s->l1_size);
  vdk_put_be64 (buf + 40, s->l1_table_offset);
  vdk_put_be64 (buf + 48, s->refcount_table_offset);
  vdk_put_be32 (buf + 56, s->refcount_table_clusters);
  vdk_put_be32 (buf + 60, s->nb_snapshots);
  vdk_put_be64 (buf + 64, s->snapshots_offset);
  if (s->version >= 3) {
    vdk_put_be64 (buf + 72, s->incompat);
    vdk_put_be64 (buf + 80, s->compat);
    vdk_put_be64 (buf + 88, s->autoclear);
    vdk_put_be32 (buf + 96, s->refcount_order);
    vdk_put_be32 (buf + 100, s->header_length);
    if (s->header_length > 104)
      buf[104] = s->compression_type;
  }
  p = hl;
#define NEED(x) do { if (p + (x) > cs) goto nospace; } while (0)
  if (s->backing_fmt) {
    size_t l = strlen (s->backing_fmt);
    NEED (8 + VDK_ROUND_UP (l, 8));
    vdk_put_be32 (buf + p, QCOW2_EXT_BACKING_FMT);
    vdk_put_be32 (buf + p + 4, l);
    memcpy (buf + p + 8, s->backing_fmt, l);
    p += 8 + VDK_ROUND_UP (l, 8);
  }
  if (s->data_file) {
    size_t l = strlen (s->data_file);
    NEED (8 + VDK_ROUND_UP (l, 8));
    vdk_put_be32 (buf + p, QCOW2_EXT_DATA_FILE);
    vdk_put_be32 (buf + p + 4, l);
    memcpy (buf + p + 8, s->data_file, l);
    p += 8 + VDK_ROUND_UP (l, 8);
  }
  if (s->unknown_ext_len) {
    NEED (s->unknown_ext_len);
    memcpy (buf + p, s->unknown_ext, s->unknown_ext_len);
    p += s->unknown_ext_len;
  }
  if (s->version >= 3) {
    /* The feature name table, when it fits (qemu leaves it out too). */
    size_t l = VDK_ARRAY_SIZE (known_features) * 48;
    if (p + 8 + l + 8 + blen <= cs) {
      vdk_put_be32 (buf + p, QCOW2_EXT_FEATURES);
      vdk_put_be32 (buf + p + 4, l);
      for (size_t i = 0; i < VDK_ARRAY_SIZE (known_features); i++) {
        uint8_t *f = buf + p + 8 + i * 48;
        f[0] = known_features[i].type;
        f[1] = known_features[i].bit;
        memcpy (f + 2, known_features[i].name, strlen (known_features[i].name));
      }
      p += 8 + l;
    }
  }
  NEED (8);
  p += 8;   /* end of extensions */
  if (blen) {
    NEED (blen);
    memcpy (buf + p, s->backing_file, blen);
    vdk_put_be64 (buf + 8, p);
    vdk_put_be32 (buf + 16, blen);
    p += blen;
  }
#undef NEED
  *used = p;
  return 0;
 nospace:
  return vdk_err (ENOSPC, "%s: the header extensions and the backing file name do not fit"
                  " in one cluster (%zu bytes)", n->filename, cs);
}

/* Rewrite the whole header cluster (extensions, backing name). */
int
qcow2_update_header (struct vdk_node *n)
{
  struct qcow2 *s = n->priv;
  uint8_t *buf = calloc (1, s->cluster_size);
  size_t used;
  int r;

  if (!buf)
    return vdk_err (ENOMEM, "out of memory");
  r = build_header (n, buf, s->cluster_size, &used);
  if (r == 0)
    r = vdk_node_pwrite (n->file, buf, s->cluster_size, 0, 0);
  free (buf);
  return r;
}

/* Rewrite only the fixed header fields (offsets 0..103/112), which never
 * changes the extension area: atomic enough for crash safety (one sector). */
int
qcow2_write_header_fields (struct vdk_node *n)
{
  struct qcow2 *s = n->priv;
  uint8_t buf[112];
  size_t len = s->version >= 3 ? VDK_MIN (s->header_length, 112u) : QCOW2_V2_HEADER_LEN;
  uint64_t boff;
  uint32_t blen;
  int r;

  /* keep the backing file offset/size as on disk */
  r = vdk_node_pread (n->file, buf, len, 0);
  if (r < 0)
    return r;
  boff = vdk_be64 (buf + 8);
  blen = vdk_be32 (buf + 16);
  memset (buf, 0, sizeof buf);
  vdk_put_be32 (buf, QCOW2_MAGIC);
  vdk_put_be32 (buf + 4, s->version);
  vdk_put_be64 (buf + 8, boff);
  vdk_put_be32 (buf + 16, blen);
  vdk_put_be32 (buf + 20, s->cluster_bits);
  vdk_put_be64 (buf + 24, s->size);
  vdk_put_be32 (buf + 32, s->crypt_method);
  vdk_put_be32 (buf + 36, s->l1_size);
  vdk_put_be64 (buf + 40, s->l1_table_offset);
  vdk_put_be64 (buf + 48, s->refcount_table_offset);
  vdk_put_be32 (buf + 56, s->refcount_table_clusters);
  vdk_put_be32 (buf + 60, s->nb_snapshots);
  vdk_put_be64 (buf + 64, s->snapshots_offset);
  if (s->version >= 3) {
    vdk_put_be64 (buf + 72, s->incompat);
    vdk_put_be64 (buf + 80, s->compat);
    vdk_put_be64 (buf + 88, s->autoclear);
    vdk_put_be32 (buf + 96, s->refcount_order);
    vdk_put_be32 (buf + 100, s->header_length);
    if (len > 104)
      buf[104] = s->compression_type;
  }
  return vdk_node_pwrite (n->file, buf, len, 0, 0);
}

int
qcow2_mark_corrupt (struct vdk_node *n, const char *fmt, ...)
{
  struct qcow2 *s = n->priv;
  char msg[512];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  if (s->rdwr && s->version >= 3 && !(s->incompat & QCOW2_INCOMPAT_CORRUPT)) {
    s->incompat |= QCOW2_INCOMPAT_CORRUPT;
    qcow2_write_header_fields (n);
    vdk_node_flush (n->file);
  }
  return vdk_err (EIO, "%s: image is corrupt: %s; further writes are refused",
                  n->filename, msg);
}

static char *
dup_ext_string (const uint8_t *p, size_t len)
{
  char *s = malloc (len + 1);
  if (!s)
    return NULL;
  memcpy (s, p, len);
  s[len] = 0;
  return s;
}

static int
append_unknown_ext (struct qcow2 *s, const uint8_t *ext, size_t total)
{
  uint8_t *nb = realloc (s->unknown_ext, s->unknown_ext_len + total);
  if (!nb)
    return vdk_err (ENOMEM, "out of memory");
  s->unknown_ext = nb;
  memcpy (nb + s->unknown_ext_len, ext, total);
  s->unknown_ext_len += total;
  return 0;
}

static int
read_extensions (struct vdk_node *n, const uint8_t *hdr, size_t start, size_t end)
{
  struct qcow2 *s = n->priv;
  size_t p = start;

  while (p + 8 <= end) {
    uint32_t type = vdk_be32 (hdr + p), len = vdk_be32 (hdr + p + 4);
    size_t total;
    if (type == QCOW2_EXT_END)
      return 0;
    if (len > end - p - 8)
      return vdk_err (EINVAL, "%s: header extension %#x (length %u) goes past the end of the"
                      " header area", n->filename, type, len);
    total = 8 + VDK_ROUND_UP ((size_t) len, 8);
    if (total > end - p)
      total = end - p;
    const uint8_t *d = hdr + p + 8;
    switch (type) {
    case QCOW2_EXT_BACKING_FMT:
      if (len > 255)
        return vdk_err (EINVAL, "%s: backing format name too long", n->filename);
      free (s->backing_fmt);
      if (!(s->backing_fmt = dup_ext_string (d, len)))
        return vdk_err (ENOMEM, "out of memory");
      break;
    case QCOW2_EXT_DATA_FILE:
      if (len > 4095)
        return vdk_err (EINVAL, "%s: external data file name too long", n->filename);
      free (s->data_file);
      if (!(s->data_file = dup_ext_string (d, len)))
        return vdk_err (ENOMEM, "out of memory");
      break;
    case QCOW2_EXT_FEATURES:
      free (s->feature_table);
      s->feature_table = malloc (len ? len : 1);
      if (!s->feature_table)
        return vdk_err (ENOMEM, "out of memory");
      memcpy (s->feature_table, d, len);
      s->feature_table_len = len;
      break;
    case QCOW2_EXT_CRYPTO:
      return vdk_err (ENOTSUP, "%s: encrypted qcow2 images are not supported", n->filename);
    case QCOW2_EXT_BITMAPS:
      if (len < 24)
        return vdk_err (EINVAL, "%s: bitmaps header extension is too short", n->filename);
      s->has_bitmaps_ext = true;
      s->nb_bitmaps = vdk_be32 (d);
      s->bitmap_dir_size = vdk_be64 (d + 8);
      s->bitmap_dir_offset = vdk_be64 (d + 16);
      /* fall through: kept verbatim */
      /* FALLTHRU */
    default: {
      int r = append_unknown_ext (s, hdr + p, total);
      if (r < 0)
        return r;
      /* keep the padded length on disk consistent */
      if (total < 8 + VDK_ROUND_UP ((size_t) len, 8))
        return vdk_err (EINVAL, "%s: header extension %#x is truncated", n->filename, type);
      break;
    }
    }
    p += total;
  }
  return 0;
}

static void
feature_names (struct qcow2 *s, uint64_t bits, char *out, size_t outlen)
{
  size_t o = 0;
  out[0] = 0;
  for (int b = 0; b < 64; b++) {
    const char *name = NULL;
    char tmp[64];
    if (!(bits & (1ULL << b)))
      continue;
    for (size_t i = 0; i + 48 <= s->feature_table_len; i += 48)
      if (s->feature_table[i] == 0 && s->feature_table[i + 1] == b) {
        snprintf (tmp, sizeof tmp, "%.46s", (const char *) s->feature_table + i + 2);
        name = tmp;
        break;
      }
    if (!name) {
      snprintf (tmp, sizeof tmp, "Unknown incompatible feature: %" PRIx64, (uint64_t) 1 << b);
      name = tmp;
    }
    o += snprintf (out + o, outlen - o, "%s%s", o ? ", " : "", name);
    if (o >= outlen)
      break;
  }
}

static int
setup_caches (struct vdk_node *n, uint64_t l2_cache_bytes)
{
  struct qcow2 *s = n->priv;
  uint64_t slots = l2_cache_bytes / s->cluster_size;

  if (slots < 4)
    slots = 4;
  if (slots > 8192)
    slots = 8192;
  s->l2c_n = slots;
  s->l2c = calloc (slots, sizeof *s->l2c);
  s->rbc_n = s->rbc_bytes ? VDK_MAX ((uint64_t) 4, VDK_MIN ((uint64_t) 256,
                                                            s->rbc_bytes / s->cluster_size)) : 32;
  s->rbc = calloc (s->rbc_n, sizeof *s->rbc);
  if (!s->l2c || !s->rbc)
    return vdk_err (ENOMEM, "out of memory");
  return 0;
}

static int
qcow2_open (struct vdk_node *n, struct vdk_opts *opts, unsigned flags)
{
  struct qcow2 *s = calloc (1, sizeof *s);
  uint8_t *hdr = NULL;
  uint64_t file_size = n->file->size, boff, l2_cache = 0, l1_need;
  uint32_t blen;
  size_t hlen, ext_end;
  const char *dfopt;
  int r;

  if (!s)
    return vdk_err (ENOMEM, "out of memory");
  n->priv = s;
  s->rdwr = flags & VDK_O_RDWR;
  if ((r = vdk_opts_take_size (opts, "l2-cache-size", &l2_cache)) < 0)
    goto fail;
  if (r == 0)
    l2_cache = 0;
  dfopt = vdk_opts_take (opts, "data-file");
  {
    /* cache-size (qemu's total) sizes the L2 cache unless l2-cache-size
     * is given; refcount-cache-size the refcount block cache */
    uint64_t total = 0;
    if ((r = vdk_opts_take_size (opts, "cache-size", &total)) < 0 ||
        (r = vdk_opts_take_size (opts, "refcount-cache-size", &s->rbc_bytes)) < 0)
      goto fail;
    if (!l2_cache && total)
      l2_cache = total;
  }

  if (file_size < QCOW2_V2_HEADER_LEN) {
    r = vdk_err (EINVAL, "%s: file is too small for a qcow2 header (%" PRIu64 " bytes)",
                 n->filename, file_size);
    goto fail;
  }
  hlen = VDK_MIN (file_size, (uint64_t) 1 << QCOW2_MAX_CLUSTER_BITS);
  {
    uint8_t first[QCOW2_V2_HEADER_LEN];
    if ((r = vdk_node_pread (n->file, first, sizeof first, 0)) < 0)
      goto fail;
    if (vdk_be32 (first) != QCOW2_MAGIC) {
      r = vdk_err (EINVAL, "%s: Image is not in qcow2 format", n->filename);
      goto fail;
    }
    s->version = vdk_be32 (first + 4);
    if (s->version < 2 || s->version > 3) {
      r = vdk_err (ENOTSUP, "%s: Unsupported qcow2 version %u", n->filename, s->version);
      goto fail;
    }
    s->cluster_bits = vdk_be32 (first + 20);
    if (s->cluster_bits < QCOW2_MIN_CLUSTER_BITS || s->cluster_bits > QCOW2_MAX_CLUSTER_BITS) {
      r = vdk_err (EINVAL, "%s: Unsupported cluster size: 2^%u (cluster_bits must be 9..21)",
                   n->filename, s->cluster_bits);
      goto fail;
    }
  }
  s->cluster_size = 1ULL << s->cluster_bits;
  hlen = VDK_MIN (hlen, s->cluster_size);
  hdr = calloc (1, s->cluster_size);
  if (!hdr) {
    r = vdk_err (ENOMEM, "out of memory");
    goto fail;
  }
  if ((r = vdk_node_pread (n->file, hdr, hlen, 0)) < 0)
    goto fail;

  boff = vdk_be64 (hdr + 8);
  blen = vdk_be32 (hdr + 16);
  s->size = vdk_be64 (hdr + 24);
  s->crypt_method = vdk_be32 (hdr + 32);
  s->l1_size = vdk_be32 (hdr + 36);
  s->l1_table_offset = vdk_be64 (hdr + 40);
  s->refcount_table_offset = vdk_be64 (hdr + 48);
  s->refcount_table_clusters = vdk_be32 (hdr + 56);
  s->nb_snapshots = vdk_be32 (hdr + 60);
  s->snapshots_offset = vdk_be64 (hdr + 64);
  if (s->version == 2) {
    s->refcount_order = 4;
    s->header_length = QCOW2_V2_HEADER_LEN;
  }
  else {
    if (hlen < QCOW2_V3_HEADER_LEN) {
      r = vdk_err (EINVAL, "%s: file is too small for a qcow2 version 3 header", n->filename);
      goto fail;
    }
    s->incompat = vdk_be64 (hdr + 72);
    s->compat = vdk_be64 (hdr + 80);
    s->autoclear = vdk_be64 (hdr + 88);
    s->refcount_order = vdk_be32 (hdr + 96);
    s->header_length = vdk_be32 (hdr + 100);
    if (s->header_length < QCOW2_V3_HEADER_LEN || s->header_length > hlen) {
      r = vdk_err (EINVAL, "%s: invalid header length %u", n->filename, s->header_length);
      goto fail;
    }
    if (s->header_length > 104)
      s->compression_type = hdr[104];
  }
  if (s->refcount_order > 6) {
    r = vdk_err (EINVAL, "%s: Reference count entry width too large (refcount_order %u)",
                 n->filename, s->refcount_order);
    goto fail;
  }
  if (s->crypt_method) {
    r = vdk_err (ENOTSUP, "%s: encrypted qcow2 images are not supported", n->filename);
    goto fail;
  }
  ext_end = s->cluster_size;
  if (boff) {
    if (boff > s->cluster_size || blen > QCOW2_MAX_BACKING_NAME ||
        boff + blen > hlen) {
      r = vdk_err (EINVAL, "%s: invalid backing file name location (offset %" PRIu64
                   ", length %u)", n->filename, boff, blen);
      goto fail;
    }
    if (blen && !(s->backing_file = dup_ext_string (hdr + boff, blen))) {
      r = vdk_err (ENOMEM, "out of memory");
      goto fail;
    }
    if (boff < ext_end)
      ext_end = boff;
  }
  ext_end = VDK_MIN (ext_end, hlen);
  if ((r = read_extensions (n, hdr, s->header_length, ext_end)) < 0)
    goto fail;

  if (s->incompat & ~QCOW2_INCOMPAT_KNOWN) {
    char names[512];
    feature_names (s, s->incompat & ~QCOW2_INCOMPAT_KNOWN, names, sizeof names);
    r = vdk_err (ENOTSUP, "%s: Unsupported qcow2 feature(s): %s", n->filename, names);
    goto fail;
  }
  if ((s->incompat & QCOW2_INCOMPAT_CORRUPT) && s->rdwr) {
    r = vdk_err (EACCES, "%s: qcow2: Image is corrupt; cannot be opened read/write",
                 n->filename);
    goto fail;
  }
  if (s->compression_type > QCOW2_COMPRESSION_ZSTD) {
    r = vdk_err (ENOTSUP, "%s: unknown compression type %u", n->filename, s->compression_type);
    goto fail;
  }
  if ((s->compression_type != 0) != !!(s->incompat & QCOW2_INCOMPAT_COMPRESSION)) {
    r = vdk_err (EINVAL, "%s: compression type %u does not match the compression type"
                 " feature bit", n->filename, s->compression_type);
    goto fail;
  }
  s->extl2 = s->incompat & QCOW2_INCOMPAT_EXTL2;
  if (s->extl2 && s->cluster_bits < 14) {
    r = vdk_err (EINVAL, "%s: extended L2 entries need a cluster size of at least 16 KiB",
                 n->filename);
    goto fail;
  }
  s->l2_entry_size = s->extl2 ? 16 : 8;
  s->l2_bits = s->cluster_bits - (s->extl2 ? 4 : 3);
  s->l2_entries = 1ULL << s->l2_bits;
  s->subcluster_size = s->extl2 ? s->cluster_size / 32 : s->cluster_size;
  s->refcount_bits = 1u << s->refcount_order;
  s->rb_bits = s->cluster_bits + 3 - s->refcount_order;
  s->rb_entries = 1ULL << s->rb_bits;
  s->refcount_max = s->refcount_bits == 64 ? UINT64_MAX : (1ULL << s->refcount_bits) - 1;
  s->csize_shift = 62 - (s->cluster_bits - 8);
  s->csize_mask = (1ULL << (s->cluster_bits - 8)) - 1;
  s->coffset_mask = (1ULL << s->csize_shift) - 1;
  s->data_file_raw = s->autoclear & QCOW2_AUTOCLEAR_DATA_RAW;

  if (s->size > VDK_MAX_IMAGE_SIZE) {
    r = vdk_err (EFBIG, "%s: virtual size %" PRIu64 " is too large", n->filename, s->size);
    goto fail;
  }
  /* L1 table */
  l1_need = (s->size + (s->cluster_size << s->l2_bits) - 1) >> (s->cluster_bits + s->l2_bits);
  if ((uint64_t) s->l1_size * 8 > QCOW2_MAX_L1_BYTES) {
    r = vdk_err (EFBIG, "%s: Active L1 table too large (%u entries)", n->filename, s->l1_size);
    goto fail;
  }
  if (s->l1_size < l1_need) {
    r = vdk_err (EINVAL, "%s: L1 table is too small (%u entries for a virtual size of %" PRIu64
                 ")", n->filename, s->l1_size, s->size);
    goto fail;
  }
  if (s->l1_size) {
    if (s->l1_table_offset & (s->cluster_size - 1)) {
      r = vdk_err (EINVAL, "%s: L1 table offset %#" PRIx64 " is not cluster aligned",
                   n->filename, s->l1_table_offset);
      goto fail;
    }
    if (s->l1_table_offset < s->cluster_size) {
      r = vdk_err (EINVAL, "%s: L1 table overlaps the header", n->filename);
      goto fail;
    }
    if (!vdk_range_ok (s->l1_table_offset, (uint64_t) s->l1_size * 8, file_size)) {
      r = vdk_err (EINVAL, "%s: L1 table (offset %#" PRIx64 ", %u entries) is beyond the end"
                   " of the file", n->filename, s->l1_table_offset, s->l1_size);
      goto fail;
    }
    s->l1 = malloc ((size_t) s->l1_size * 8);
    if (!s->l1) {
      r = vdk_err (ENOMEM, "out of memory");
      goto fail;
    }
    if ((r = vdk_node_pread (n->file, s->l1, (size_t) s->l1_size * 8, s->l1_table_offset)) < 0)
      goto fail;
    for (uint32_t i = 0; i < s->l1_size; i++)
      s->l1[i] = be64toh (s->l1[i]);
  }
  /* refcount table */
  if (s->refcount_table_offset & (s->cluster_size - 1)) {
    r = vdk_err (EINVAL, "%s: refcount table offset %#" PRIx64 " is not cluster aligned",
                 n->filename, s->refcount_table_offset);
    goto fail;
  }
  if (s->refcount_table_offset < s->cluster_size) {
    r = vdk_err (EINVAL, "%s: refcount table overlaps the header", n->filename);
    goto fail;
  }
  if ((uint64_t) s->refcount_table_clusters << s->cluster_bits > QCOW2_MAX_RT_BYTES) {
    r = vdk_err (EFBIG, "%s: refcount table too large (%u clusters)", n->filename,
                 s->refcount_table_clusters);
    goto fail;
  }
  if (!vdk_range_ok (s->refcount_table_offset,
                     (uint64_t) s->refcount_table_clusters << s->cluster_bits, file_size)) {
    r = vdk_err (EINVAL, "%s: refcount table is beyond the end of the file", n->filename);
    goto fail;
  }
  if ((r = qcow2_load_refcount_table (n)) < 0)
    goto fail;
  /* snapshots */
  if (s->nb_snapshots > QCOW2_MAX_SNAPSHOTS) {
    r = vdk_err (EFBIG, "%s: too many snapshots (%u)", n->filename, s->nb_snapshots);
    goto fail;
  }
  if ((r = qcow2_read_snapshots (n)) < 0)
    goto fail;

  if ((r = setup_caches (n, l2_cache ? l2_cache
                          : VDK_MIN ((uint64_t) 32 << 20,
                                     VDK_MAX ((uint64_t) s->l1_size, 4) * s->cluster_size))) < 0)
    goto fail;
  s->zc_buf = malloc (s->cluster_size);
  if (!s->zc_buf) {
    r = vdk_err (ENOMEM, "out of memory");
    goto fail;
  }

  /* external data file */
  if (s->incompat & QCOW2_INCOMPAT_DATA_FILE) {
    const char *df = dfopt ? dfopt : s->data_file;
    if (!df) {
      r = vdk_err (EINVAL, "%s: the image needs an external data file but names none"
                   " (give data-file=)", n->filename);
      goto fail;
    }
    if ((r = vdk_open_file (n->file, df, flags & (VDK_O_RDWR | VDK_O_NOLOCK | VDK_O_DIRECT |
                                                   VDK_O_UNSAFE | VDK_O_WRITETHROUGH),
                            &s->data_node)) < 0) {
      vdk_err_prefix ("%s: could not open the external data file", n->filename);
      goto fail;
    }
    if (!(n->data_filename = strdup (df))) {
      r = vdk_err (ENOMEM, "out of memory");
      goto fail;
    }
  }
  else if (s->data_file) {
    r = vdk_err (EINVAL, "%s: data file extension present without the external data file"
                 " feature bit", n->filename);
    goto fail;
  }
  else if (dfopt) {
    r = vdk_err (EINVAL, "%s: data-file given but the image has no external data file",
                 n->filename);
    goto fail;
  }

  n->size = s->size;
  n->cluster_size = s->cluster_size;
  if (s->backing_file && s->backing_file[0]) {
    if (s->data_file_raw) {
      r = vdk_err (EINVAL, "%s: an image with a raw external data file cannot have a"
                   " backing file", n->filename);
      goto fail;
    }
    if (!(n->backing_filename = strdup (s->backing_file)) ||
        (s->backing_fmt && !(n->backing_format = strdup (s->backing_fmt)))) {
      r = vdk_err (ENOMEM, "out of memory");
      goto fail;
    }
  }
  free (hdr);
  hdr = NULL;

  if (s->rdwr) {
    /* Clear the autoclear bits we do not know, as the spec says; the
     * bitmaps bit (kept, not maintained) goes at the first write. */
    uint64_t keep = s->autoclear & (QCOW2_AUTOCLEAR_DATA_RAW | QCOW2_AUTOCLEAR_BITMAPS);
    bool changed = keep != s->autoclear;
    s->autoclear = keep;
    if (s->incompat & QCOW2_INCOMPAT_DIRTY) {
      if ((r = qcow2_rebuild_refcounts_if_dirty (n)) < 0)
        goto fail;
      s->incompat &= ~QCOW2_INCOMPAT_DIRTY;
      changed = true;
    }
    if (changed && s->version >= 3) {
      if ((r = qcow2_write_header_fields (n)) < 0 || (r = vdk_node_flush (n->file)) < 0)
        goto fail;
    }
  }
  return 0;
 fail:
  free (hdr);
  if (s->data_node)
    vdk_node_close (s->data_node);
  free_priv (s);
  n->priv = NULL;
  return r;
}

static int
qcow2_flush (struct vdk_node *n)
{
  struct qcow2 *s = n->priv;
  int r = 0;

  if (s->data_node)
    r = vdk_node_flush (s->data_node);
  if (r == 0)
    r = qcow2_l2_writeback (n);
  return r;
}

static void
qcow2_close (struct vdk_node *n)
{
  struct qcow2 *s = n->priv;

  /* normally done by the last flush; a failure here loses the deferred
   * entries' writes (their clusters leak), and says so */
  if (s->l2c_dirty && qcow2_l2_writeback (n) < 0)
    vdk_err (EIO, "%s: could not write the L2 tables at close: the writes since the last"
             " flush are lost", n->filename);
  if (s->rdwr && s->dirty_set) {
    /* Lazy refcounts: our refcounts are always exact, so the dirty bit can
     * go once the data is on disk. */
    if (vdk_node_flush (n->file) == 0) {
      s->incompat &= ~QCOW2_INCOMPAT_DIRTY;
      qcow2_write_header_fields (n);
    }
  }
  if (s->data_node)
    vdk_node_close (s->data_node);
  free_priv (s);
  n->priv = NULL;
}

static int
qcow2_info (struct vdk_node *n, struct disk_info *info)
{
  struct qcow2 *s = n->priv;
  int r;

  if ((r = vdk_info_add_str (info, "compat", "compat", s->version >= 3 ? "1.1" : "0.10")) < 0 ||
      (r = vdk_info_add_str (info, "compression-type", "compression type",
                             s->compression_type == QCOW2_COMPRESSION_ZSTD ? "zstd" : "zlib")) < 0)
    return r;
  if (s->version >= 3 &&
      (r = vdk_info_add_bool (info, "lazy-refcounts", "lazy refcounts",
                              s->compat & QCOW2_COMPAT_LAZY_REFCOUNTS)) < 0)
    return r;
  if ((r = vdk_info_add_int (info, "refcount-bits", "refcount bits", s->refcount_bits)) < 0)
    return r;
  if (s->version >= 3) {
    if (n->data_filename &&
        ((r = vdk_info_add_str (info, "data-file", "data file", n->data_filename)) < 0 ||
         (r = vdk_info_add_bool (info, "data-file-raw", "data file raw", s->data_file_raw)) < 0))
      return r;
    if ((r = vdk_info_add_bool (info, "corrupt", "corrupt",
                                s->incompat & QCOW2_INCOMPAT_CORRUPT)) < 0 ||
        (r = vdk_info_add_bool (info, "extended-l2", "extended l2", s->extl2)) < 0)
      return r;
  }
  info->dirty = s->incompat & QCOW2_INCOMPAT_DIRTY;
  info->cluster_size = s->cluster_size;
  return 0;
}

/* ---- create ------------------------------------------------------------ */

static int
parse_bool_opt (struct vdk_opts *o, const char *key, bool *out)
{
  int r = vdk_opts_take_bool (o, key, out);
  return r < 0 ? r : 0;
}

static int
qcow2_create (struct vdk_node *file, uint64_t size, struct vdk_opts *opts)
{
  uint64_t cs = 65536, rbits = 16;
  bool lazy = false, extl2 = false, dfraw = false, v3 = true;
  const char *v, *backing, *bfmt, *df;
  enum vdk_prealloc pa = VDK_PREALLOC_OFF;
  struct qcow2 *s = NULL;
  struct vdk_node *n = NULL, *dnode = NULL;
  uint8_t *buf = NULL;
  uint8_t ctype = 0;
  int r, cbits;

  if ((r = vdk_opts_take_size (opts, "cluster_size", &cs)) < 0)
    return r;
  if (!VDK_IS_POW2 (cs) || cs < 512 || cs > (2u << 20))
    return vdk_err (EINVAL, "Cluster size must be a power of two between 512 and 2048k");
  if ((v = vdk_opts_take (opts, "compat"))) {
    if (!strcmp (v, "0.10") || !strcmp (v, "v2"))
      v3 = false;
    else if (!strcmp (v, "1.1") || !strcmp (v, "v3"))
      v3 = true;
    else
      return vdk_err (EINVAL, "Invalid compat version '%s' (0.10 or 1.1)", v);
  }
  if ((r = vdk_opts_take_uint (opts, "refcount_bits", &rbits)) < 0)
    return r;
  if (!VDK_IS_POW2 (rbits) || rbits > 64)
    return vdk_err (EINVAL, "Refcount width must be a power of two and may not exceed 64 bits");
  if (!v3 && rbits != 16)
    return vdk_err (EINVAL, "Different refcount widths than 16 bits require compatibility"
                    " level 1.1 or above (use version=v3 or greater)");
  if ((r = parse_bool_opt (opts, "lazy_refcounts", &lazy)) < 0 ||
      (r = parse_bool_opt (opts, "extended_l2", &extl2)) < 0 ||
      (r = parse_bool_opt (opts, "data_file_raw", &dfraw)) < 0)
    return r;
  if ((v = vdk_opts_take (opts, "compression_type"))) {
    if (!strcmp (v, "zlib"))
      ctype = 0;
    else if (!strcmp (v, "zstd"))
      ctype = 1;
    else
      return vdk_err (EINVAL, "Parameter 'compression-type' does not accept value '%s'", v);
  }
  v = vdk_opts_take (opts, "preallocation");
  if (vdk_parse_prealloc (v, &pa) < 0)   /* qemu-img's words for qcow2 */
    return vdk_err (EINVAL, "Parameter 'preallocation' does not accept value '%s'", v);
  backing = vdk_opts_take (opts, "backing_file");
  bfmt = vdk_opts_take (opts, "backing_fmt");
  df = vdk_opts_take (opts, "data_file");
  /* qemu-img's messages */
  if (!v3 && df)
    return vdk_err (EINVAL, "External data files are only supported with compatibility level"
                    " 1.1 and above (use version=v3 or greater)");
  if (!v3 && lazy)
    return vdk_err (EINVAL, "Lazy refcounts only supported with compatibility level 1.1 and"
                    " above (use version=v3 or greater)");
  if (!v3 && (extl2 || ctype))
    return vdk_err (EINVAL, "%s only supported with compatibility level 1.1 and above"
                    " (use version=v3 or greater)",
                    extl2 ? "Extended L2 entries are" : "Non-zlib compression type is");
  if (extl2 && cs < 16384)
    return vdk_err (EINVAL, "Extended L2 entries are only supported with cluster sizes of at"
                    " least 16384 bytes");
  if (dfraw && !df)
    return vdk_err (EINVAL, "data-file-raw requires data-file");
  if (backing && dfraw)
    return vdk_err (EINVAL, "Backing file and data-file-raw cannot be used at the same time");
  if (backing && pa != VDK_PREALLOC_OFF && pa != VDK_PREALLOC_METADATA)
    return vdk_err (EINVAL, "Backing file and preallocation can only be used at the same time"
                    " if preallocation=off or metadata");
  if (backing && strlen (backing) > QCOW2_MAX_BACKING_NAME)
    return vdk_err (EINVAL, "Backing file name too long");
  for (cbits = 9; (1ULL << cbits) < cs; cbits++)
    ;
  /* qemu keeps qcow2 sizes in 512-byte sectors */
  size = VDK_ROUND_UP (size, 512);

  /* Build the private state of an empty image and write it with the
   * driver's own functions. */
  s = calloc (1, sizeof *s);
  n = calloc (1, sizeof *n);
  buf = calloc (1, cs * 3);
  if (!s || !n || !buf) {
    r = vdk_err (ENOMEM, "out of memory");
    goto out;
  }
  n->priv = s;
  n->file = file;
  n->filename = file->filename;
  n->flags = VDK_O_RDWR;
  s->rdwr = true;
  s->version = v3 ? 3 : 2;
  s->cluster_bits = cbits;
  s->cluster_size = cs;
  s->size = 0;
  s->header_length = v3 ? 112 : QCOW2_V2_HEADER_LEN;
  s->refcount_order = 0;
  while ((1u << s->refcount_order) < rbits)
    s->refcount_order++;
  s->compression_type = ctype;
  if (ctype)
    s->incompat |= QCOW2_INCOMPAT_COMPRESSION;
  if (extl2)
    s->incompat |= QCOW2_INCOMPAT_EXTL2;
  if (lazy)
    s->compat |= QCOW2_COMPAT_LAZY_REFCOUNTS;
  if (df) {
    s->incompat |= QCOW2_INCOMPAT_DATA_FILE;
    if (dfraw)
      s->autoclear |= QCOW2_AUTOCLEAR_DATA_RAW;
    s->data_file_raw = dfraw;
    if (!(s->data_file = strdup (df))) {
      r = vdk_err (ENOMEM, "out of memory");
      goto out;
    }
  }
  if ((backing && !(s->backing_file = strdup (backing))) ||
      (backing && bfmt && !(s->backing_fmt = strdup (bfmt)))) {
    r = vdk_err (ENOMEM, "out of memory");
    goto out;
  }
  s->extl2 = extl2;
  s->l2_entry_size = extl2 ? 16 : 8;
  s->l2_bits = cbits - (extl2 ? 4 : 3);
  s->l2_entries = 1ULL << s->l2_bits;
  s->subcluster_size = extl2 ? cs / 32 : cs;
  s->refcount_bits = 1u << s->refcount_order;
  s->rb_bits = cbits + 3 - s->refcount_order;
  s->rb_entries = 1ULL << s->rb_bits;
  s->refcount_max = s->refcount_bits == 64 ? UINT64_MAX : (1ULL << s->refcount_bits) - 1;
  s->csize_shift = 62 - (cbits - 8);
  s->csize_mask = (1ULL << (cbits - 8)) - 1;
  s->coffset_mask = (1ULL << s->csize_shift) - 1;

  /* cluster 0: header; 1: refcount table; 2: first refcount block */
  s->refcount_table_offset = cs;
  s->refcount_table_clusters = 1;
  s->rt_size = cs / 8;
  s->rt = calloc (s->rt_size, 8);
  if (!s->rt) {
    r = vdk_err (ENOMEM, "out of memory");
    goto out;
  }
  s->rt[0] = 2 * cs;
  {
    size_t used;
    if ((r = build_header (n, buf, cs, &used)) < 0)
      goto out;
  }
  vdk_put_be64 (buf + cs, 2 * cs);
  /* three clusters with refcount 1 in the first block */
  for (int i = 0; i < 3; i++)
    qcow2_rb_put (s, buf + 2 * cs, i, 1);
  if ((r = vdk_node_pwrite (file, buf, cs * 3, 0, 0)) < 0)
    goto out;
  if ((r = setup_caches (n, 1 << 20)) < 0)
    goto out;
  s->zc_buf = malloc (cs);
  if (!s->zc_buf) {
    r = vdk_err (ENOMEM, "out of memory");
    goto out;
  }
  s->free_hint = 3;

  if (df) {
    if ((r = vdk_create_file (file, df, &dnode)) < 0)
      goto out;
    s->data_node = dnode;
  }

  /* the L1 table */
  {
    uint64_t l1 = (size + (cs << s->l2_bits) - 1) >> (cbits + s->l2_bits);
    int64_t off;
    if (l1 * 8 > QCOW2_MAX_L1_BYTES) {
      r = vdk_err (EFBIG, "Image size %" PRIu64 " is too large for cluster size %" PRIu64,
                   size, cs);
      goto out;
    }
    if (l1) {
      off = qcow2_alloc_clusters (n, l1 * 8);
      if (off < 0) {
        r = off;
        goto out;
      }
      s->l1 = calloc (l1, 8);
      if (!s->l1) {
        r = vdk_err (ENOMEM, "out of memory");
        goto out;
      }
      /* write zeroes explicitly: the clusters may be past the end of file */
      {
        uint8_t *z = calloc (1, VDK_ROUND_UP (l1 * 8, cs));
        if (!z) {
          r = vdk_err (ENOMEM, "out of memory");
          goto out;
        }
        r = vdk_node_pwrite (file, z, VDK_ROUND_UP (l1 * 8, cs), off, 0);
        free (z);
        if (r < 0)
          goto out;
      }
      s->l1_table_offset = off;
      s->l1_size = l1;
    }
  }
  s->size = size;
  n->size = size;
  if ((r = qcow2_update_header (n)) < 0)
    goto out;
  if (df && (r = vdk_node_truncate (dnode, size, pa == VDK_PREALLOC_METADATA || !dfraw
                                    ? VDK_PREALLOC_OFF : pa, true)) < 0)
    goto out;
  if (df && dfraw) {
    /* A raw data file is the guest disk: map it 1:1. */
    if ((r = qcow2_preallocate (n, 0, size, VDK_PREALLOC_METADATA)) < 0)
      goto out;
  }
  else if (pa != VDK_PREALLOC_OFF) {
    if ((r = qcow2_preallocate (n, 0, size, pa)) < 0)
      goto out;
  }
  r = vdk_node_flush (file);
 out:
  if (dnode)
    vdk_node_close (dnode);
  if (s) {
    s->data_node = NULL;
    free_priv (s);
  }
  free (n);
  free (buf);
  return r;
}

static int
qcow2_set_backing (struct vdk_node *n, const char *backing, const char *fmt)
{
  struct qcow2 *s = n->priv;
  char *b = NULL, *f = NULL;
  int r;

  /* what the image holds must be linked, on disk, before it names another
   * backing file (rebase) */
  if (s->l2c_dirty && ((r = qcow2_l2_writeback (n)) < 0 || (r = vdk_node_flush (n->file)) < 0))
    return r;
  if (backing && backing[0] && !(b = strdup (backing)))
    return vdk_err (ENOMEM, "out of memory");
  if (b && fmt && !(f = strdup (fmt))) {
    free (b);
    return vdk_err (ENOMEM, "out of memory");
  }
  free (s->backing_file);
  free (s->backing_fmt);
  s->backing_file = b;
  s->backing_fmt = f;
  r = qcow2_update_header (n);
  if (r == 0)
    r = vdk_node_flush (n->file);
  return r;
}

/* For a downgrade to compat 0.10: zero clusters become unallocated (no
 * backing file) or allocated clusters full of zeroes. */
static int
expand_zero_clusters (struct vdk_node *n)
{
  struct qcow2 *s = n->priv;
  uint64_t cs = s->cluster_size;
  bool backing = s->backing_file && s->backing_file[0];
  uint8_t *z = calloc (1, cs);
  int r = 0;

  if (!z)
    return vdk_err (ENOMEM, "out of memory");
  for (uint32_t i = 0; i < s->l1_size && r == 0; i++) {
    uint64_t l2off = s->l1[i] & QCOW2_L1E_OFFSET_MASK;
    if (!l2off)
      continue;
    for (uint64_t j = 0; j < s->l2_entries && r == 0; j++) {
      uint8_t *l2;
      uint64_t e, host, ne;
      enum qcow2_ctype t;
      if ((r = qcow2_l2_load (n, l2off, &l2)) < 0)
        break;
      e = qcow2_l2_entry (s, l2, j);
      t = qcow2_cluster_type (n, e);
      if (t != QCOW2_C_ZERO_PLAIN && t != QCOW2_C_ZERO_ALLOC)
        continue;
      if (t == QCOW2_C_ZERO_PLAIN && !backing) {
        r = qcow2_l2_set (n, l2off, j, 0, 0);
        continue;
      }
      if (!(s->l1[i] & QCOW2_OFLAG_COPIED))
        return vdk_err (ENOTSUP, "%s: shared L2 table; cannot downgrade", n->filename);
      if (t == QCOW2_C_ZERO_ALLOC && (e & QCOW2_OFLAG_COPIED))
        host = e & QCOW2_L2E_OFFSET_MASK;
      else {
        int64_t h = qcow2_alloc_clusters (n, cs);
        if (h < 0) {
          r = h;
          break;
        }
        host = h;
      }
      ne = host | QCOW2_OFLAG_COPIED;
      if ((r = vdk_node_pwrite (n->file, z, cs, host, 0)) < 0 ||
          (r = vdk_node_flush (n->file)) < 0 ||
          (r = qcow2_l2_set (n, l2off, j, ne, 0)) < 0)
        break;
      if (t == QCOW2_C_ZERO_ALLOC && !(e & QCOW2_OFLAG_COPIED))
        qcow2_free_clusters (n, e & QCOW2_L2E_OFFSET_MASK, cs);
    }
  }
  free (z);
  return r;
}

static int
qcow2_amend (struct vdk_node *n, struct vdk_opts *opts)
{
  struct qcow2 *s = n->priv;
  const char *v;
  bool lazy;
  int r;

  if ((r = qcow2_l2_writeback (n)) < 0)   /* deferred L2 entries first */
    return r;
  if ((v = vdk_opts_take (opts, "compat"))) {
    unsigned want;
    if (!strcmp (v, "0.10") || !strcmp (v, "v2"))
      want = 2;
    else if (!strcmp (v, "1.1") || !strcmp (v, "v3"))
      want = 3;
    else
      return vdk_err (EINVAL, "Invalid compat version '%s' (0.10 or 1.1)", v);
    if (want != s->version) {
      if (want == 2) {
        if (s->incompat & ~QCOW2_INCOMPAT_DIRTY)
          return vdk_err (ENOTSUP, "%s: cannot downgrade: the image uses compat 1.1 features",
                          n->filename);
        if (s->refcount_order != 4)
          return vdk_err (ENOTSUP, "%s: compat=0.10 requires refcount_bits=16", n->filename);
        if (s->compat & QCOW2_COMPAT_LAZY_REFCOUNTS)
          return vdk_err (ENOTSUP, "%s: cannot downgrade with lazy refcounts on; turn them off"
                          " (lazy_refcounts=off) first", n->filename);
        if (s->has_bitmaps_ext)
          return vdk_err (ENOTSUP, "%s: cannot downgrade an image with persistent bitmaps",
                          n->filename);
        if (s->nb_snapshots)
          return vdk_err (ENOTSUP, "%s: cannot downgrade an image with snapshots", n->filename);
        /* zero clusters do not exist in v2: expand them */
        if ((r = expand_zero_clusters (n)) < 0)
          return r;
        if (s->nb_snapshots)
          return vdk_err (ENOTSUP, "%s: cannot downgrade an image with snapshots", n->filename);
        s->version = 2;
        s->header_length = QCOW2_V2_HEADER_LEN;
        s->compat = s->autoclear = 0;
        s->incompat = 0;
        free (s->feature_table);
        s->feature_table = NULL;
        s->feature_table_len = 0;
      }
      else {
        s->version = 3;
        s->header_length = 112;
      }
      if ((r = qcow2_update_header (n)) < 0 || (r = vdk_node_flush (n->file)) < 0)
        return r;
    }
  }
  if ((r = vdk_opts_take_bool (opts, "lazy_refcounts", &lazy)) < 0)
    return r;
  if (r == 1) {
    if (lazy && s->version < 3)
      return vdk_err (EINVAL, "%s: Lazy refcounts only supported with compatibility level 1.1"
                      " and above (use compat=1.1 or greater)", n->filename);
    if (lazy)
      s->compat |= QCOW2_COMPAT_LAZY_REFCOUNTS;
    else
      s->compat &= ~QCOW2_COMPAT_LAZY_REFCOUNTS;
    if (s->version >= 3 &&
        ((r = qcow2_write_header_fields (n)) < 0 || (r = vdk_node_flush (n->file)) < 0))
      return r;
  }
  {
    uint64_t rb;
    if ((r = vdk_opts_take_uint (opts, "refcount_bits", &rb)) < 0)
      return r;
    if (r == 1 && rb != s->refcount_bits) {
      uint32_t order = 0;
      if (!VDK_IS_POW2 (rb) || rb > 64)
        return vdk_err (EINVAL, "Refcount width must be a power of two and may not exceed 64"
                        " bits");
      if (s->version < 3)
        return vdk_err (EINVAL, "%s: Different refcount widths than 16 bits require"
                        " compatibility level 1.1 or above (use compat=1.1 or greater)",
                        n->filename);
      while ((1u << order) < rb)
        order++;
      if ((r = qcow2_change_refcount_order (n, order)) < 0)
        return r;
    }
  }
  return 0;
}

static const struct vdk_opt_desc qcow2_create_opts[] = {
  { "size", "size", "Virtual disk size", NULL },
  { "compat", "string", "Compatibility level (v2 [0.10] or v3 [1.1])", "v3" },
  { "backing_file", "string", "File name of a base image", NULL },
  { "backing_fmt", "string", "Image format of the base image", NULL },
  { "data_file", "string", "File name of an external data file", NULL },
  { "data_file_raw", "bool", "The external data file must stay valid as a raw image", "off" },
  { "cluster_size", "size", "qcow2 cluster size", "65536" },
  { "preallocation", "string", "Preallocation mode (allowed values: off, metadata, falloc, full)",
    "off" },
  { "lazy_refcounts", "bool", "Postpone refcount updates", "off" },
  { "refcount_bits", "number", "Width of a reference count entry in bits", "16" },
  { "compression_type", "string", "Compression method used for image cluster compression",
    "zlib" },
  { "extended_l2", "bool", "Extended L2 tables", "off" },
  { NULL, NULL, NULL, NULL },
};

const struct vdk_format vdk_format_qcow2 = {
  .struct_size = sizeof (struct vdk_format),
  .name = "qcow2",
  .probe = qcow2_probe,
  .open = qcow2_open,
  .close = qcow2_close,
  .map = qcow2_map,
  .read_encoded = qcow2_read_encoded,
  .alloc = qcow2_alloc,
  .alloc_commit = qcow2_alloc_commit,
  .flags = VDK_FMT_ASYNC_ALLOC,
  .flush = qcow2_flush,
  .discard = qcow2_discard,
  .make_empty = qcow2_make_empty,
  .write_zeroes = qcow2_write_zeroes,
  .truncate = qcow2_truncate,
  .create = qcow2_create,
  .create_opts = qcow2_create_opts,
  .info = qcow2_info,
  .check = qcow2_check,
  .amend = qcow2_amend,
  .set_backing = qcow2_set_backing,
  .snapshot_list = qcow2_snapshot_list,
  .snapshot_create = qcow2_snapshot_create,
  .snapshot_apply = qcow2_snapshot_apply,
  .snapshot_delete = qcow2_snapshot_delete,
  .snapshot_load = qcow2_snapshot_load,
  .measure_full = qcow2_measure,
  .pwrite_compressed = qcow2_pwrite_compressed,
};
