/* qcow2: refcounts (table, blocks, allocation, freeing) and the
 * consistency check / repair.
 *
 * Allocation order: a missing refcount block is written (and flushed) and
 * then linked in the refcount table; a grown refcount table is written with
 * its new blocks, flushed, then switched in the header, then the old one is
 * freed.  Refcount blocks are written through (no dirty cache). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qcow2.h"

uint64_t
qcow2_rb_get (struct qcow2 *s, const uint8_t *rb, uint64_t idx)
{
  switch (s->refcount_order) {
  case 0: return (rb[idx / 8] >> (idx % 8)) & 1;
  case 1: return (rb[idx / 4] >> (2 * (idx % 4))) & 3;
  case 2: return (rb[idx / 2] >> (4 * (idx % 2))) & 15;
  case 3: return rb[idx];
  case 4: return vdk_be16 (rb + idx * 2);
  case 5: return vdk_be32 (rb + idx * 4);
  default: return vdk_be64 (rb + idx * 8);
  }
}

void
qcow2_rb_put (struct qcow2 *s, uint8_t *rb, uint64_t idx, uint64_t v)
{
  switch (s->refcount_order) {
  case 0: rb[idx / 8] = (rb[idx / 8] & ~(1 << (idx % 8))) | (v << (idx % 8)); break;
  case 1: rb[idx / 4] = (rb[idx / 4] & ~(3 << (2 * (idx % 4)))) | (v << (2 * (idx % 4))); break;
  case 2: rb[idx / 2] = (rb[idx / 2] & ~(15 << (4 * (idx % 2)))) | (v << (4 * (idx % 2))); break;
  case 3: rb[idx] = v; break;
  case 4: vdk_put_be16 (rb + idx * 2, v); break;
  case 5: vdk_put_be32 (rb + idx * 4, v); break;
  default: vdk_put_be64 (rb + idx * 8, v); break;
  }
}

/* byte range of entry IDX in a block: [*start, *start + *len) */
static void
rb_bytes (struct qcow2 *s, uint64_t idx, uint64_t *start, uint64_t *len)
{
  if (s->refcount_order <= 3) {
    *start = (idx << s->refcount_order) / 8;
    *len = 1;
  }
  else {
    *len = 1u << (s->refcount_order - 3);
    *start = idx * *len;
  }
}

int
qcow2_load_refcount_table (struct vdk_node *n)
{
  struct qcow2 *s = n->priv;
  uint64_t bytes = (uint64_t) s->refcount_table_clusters << s->cluster_bits;
  int r;

  free (s->rt);
  s->rt_size = bytes / 8;
  s->rt = malloc (bytes ? bytes : 8);
  if (!s->rt)
    return vdk_err (ENOMEM, "out of memory");
  if (bytes && (r = vdk_node_pread (n->file, s->rt, bytes, s->refcount_table_offset)) < 0)
    return r;
  for (uint64_t i = 0; i < s->rt_size; i++)
    s->rt[i] = be64toh (s->rt[i]);
  return 0;
}

void
qcow2_rb_drop_cache (struct vdk_node *n)
{
  struct qcow2 *s = n->priv;
  for (size_t i = 0; i < s->rbc_n; i++)
    s->rbc[i].offset = 0;
}

int
qcow2_rb_load (struct vdk_node *n, uint64_t off, uint8_t **out)
{
  struct qcow2 *s = n->priv;
  struct qcow2_rb_slot *victim = NULL;
  int r;

  if ((off & (s->cluster_size - 1)) || off < s->cluster_size)
    return qcow2_mark_corrupt (n, "refcount block offset %#" PRIx64 " is invalid", off);
  if (!vdk_range_ok (off, s->cluster_size, qcow2_file_end (n)))
    return vdk_err (EIO, "%s: refcount block at offset %#" PRIx64 " is beyond the end of the"
                    " file", n->filename, off);
  for (size_t i = 0; i < s->rbc_n; i++)
    if (s->rbc[i].offset == off && s->rbc[i].data) {
      s->rbc[i].lru = ++s->lru_clock;
      *out = s->rbc[i].data;
      return 0;
    }
  for (size_t i = 0; i < s->rbc_n; i++)
    if (!victim || !s->rbc[i].data || s->rbc[i].lru < victim->lru) {
      victim = &s->rbc[i];
      if (!s->rbc[i].data)
        break;
    }
  if (!victim->data && !(victim->data = malloc (s->cluster_size)))
    return vdk_err (ENOMEM, "out of memory");
  victim->offset = 0;
  if ((r = vdk_node_pread (n->file, victim->data, s->cluster_size, off)) < 0)
    return r;
  victim->offset = off;
  victim->lru = ++s->lru_clock;
  *out = victim->data;
  return 0;
}

int
qcow2_get_refcount (struct vdk_node *n, uint64_t cluster, uint64_t *out)
{
  struct qcow2 *s = n->priv;
  uint64_t i = cluster >> s->rb_bits;
  uint8_t *rb;
  int r;

  *out = 0;
  if (i >= s->rt_size || !(s->rt[i] & ~511ULL))
    return 0;
  if ((r = qcow2_rb_load (n, s->rt[i] & ~511ULL, &rb)) < 0)
    return r;
  *out = qcow2_rb_get (s, rb, cluster & (s->rb_entries - 1));
  return 0;
}

static int
write_rt_entry (struct vdk_node *n, uint64_t i)
{
  struct qcow2 *s = n->priv;
  uint8_t raw[8];
  vdk_put_be64 (raw, s->rt[i]);
  return vdk_node_pwrite (n->file, raw, 8, s->refcount_table_offset + i * 8, 0);
}

/* Grow the refcount table so that entry MIN_INDEX exists.  The new table
 * and the refcount blocks covering it go to the first clusters the old
 * table could not describe (all free by definition). */
static int
grow_refcount_table (struct vdk_node *n, uint64_t min_index)
{
  struct qcow2 *s = n->priv;
  uint64_t cs = s->cluster_size, per = cs / 8, E = s->rb_entries;
  uint64_t C = s->rt_size, p = C * E, T, nb = 1, entries;
  uint64_t *nrt = NULL;
  uint8_t *blk = NULL;
  int r;

  T = (VDK_MAX (min_index + 1, C + C / 2 + 1) + per - 1) / per;
  for (int iter = 0; iter < 64; iter++) {
    uint64_t need_nb = (T + nb + E - 1) / E;
    uint64_t need_T = (VDK_MAX (min_index + 1, C + need_nb) + per - 1) / per;
    if (need_nb <= nb && need_T <= T)
      break;
    nb = VDK_MAX (nb, need_nb);
    T = VDK_MAX (T, need_T);
  }
  if (T * cs > QCOW2_MAX_RT_BYTES)
    return vdk_err (EFBIG, "%s: the refcount table would grow too large", n->filename);
  entries = T * per;
  nrt = calloc (entries, 8);
  blk = calloc (1, VDK_MAX (T, nb) * cs);
  if (!nrt || !blk) {
    r = vdk_err (ENOMEM, "out of memory");
    goto out;
  }
  memcpy (nrt, s->rt, C * 8);
  /* the refcount blocks, at [p+T, p+T+nb), each covering range C+k */
  for (uint64_t k = 0; k < nb; k++) {
    memset (blk, 0, cs);
    for (uint64_t c = p + k * E; c < p + (k + 1) * E && c < p + T + nb; c++)
      qcow2_rb_put (s, blk, c - (p + k * E), 1);
    if ((r = vdk_node_pwrite (n->file, blk, cs, (p + T + k) * cs, 0)) < 0)
      goto out;
    nrt[C + k] = (p + T + k) * cs;
  }
  for (uint64_t i = 0; i < entries; i++)
    vdk_put_be64 (blk + i * 8, nrt[i]);
  if ((r = vdk_node_pwrite (n->file, blk, T * cs, p * cs, 0)) < 0 ||
      (r = vdk_node_flush (n->file)) < 0)
    goto out;
  {
    uint64_t old_off = s->refcount_table_offset;
    uint32_t old_cl = s->refcount_table_clusters;
    uint64_t *old_rt = s->rt;
    s->refcount_table_offset = p * cs;
    s->refcount_table_clusters = T;
    if ((r = qcow2_write_header_fields (n)) < 0 || (r = vdk_node_flush (n->file)) < 0) {
      s->refcount_table_offset = old_off;
      s->refcount_table_clusters = old_cl;
      goto out;
    }
    s->rt = nrt;
    s->rt_size = entries;
    nrt = NULL;
    free (old_rt);
    qcow2_rb_drop_cache (n);
    r = qcow2_update_refcount (n, old_off, (uint64_t) old_cl * cs, -1);
  }
 out:
  free (nrt);
  free (blk);
  return r;
}

/* Make sure refcount block I exists.  A missing block means every cluster
 * of its range is free, so the block goes into its own range (counting
 * itself), avoiding the clusters [AVOID, AVOID+AVOID_N) that an allocation
 * wants; when the range has no room left, it is allocated elsewhere. */
static int
ensure_refblock (struct vdk_node *n, uint64_t i, uint64_t avoid, uint64_t avoid_n)
{
  struct qcow2 *s = n->priv;
  uint64_t cs = s->cluster_size, E = s->rb_entries, c = i * E;
  int64_t off;
  bool self = true;
  uint8_t *blk;
  int r;

  if (i >= s->rt_size) {
    if ((r = grow_refcount_table (n, i)) < 0)
      return r;
    return 0;   /* the caller rescans: the new table took space */
  }
  if (s->rt[i] & ~511ULL)
    return 0;
  if (i == 0)
    return qcow2_mark_corrupt (n, "the refcount block for the first clusters (the header)"
                               " is missing");
  if (c >= avoid && c < avoid + avoid_n) {
    c = avoid + avoid_n;
    if (c >= (i + 1) * E)
      self = false;
  }
  if (self)
    off = c * cs;
  else {
    off = qcow2_alloc_clusters (n, cs);
    if (off < 0)
      return off;
    if (s->rt[i] & ~511ULL) {   /* the recursion created it */
      qcow2_free_clusters (n, off, cs);
      return 0;
    }
  }
  blk = calloc (1, cs);
  if (!blk)
    return vdk_err (ENOMEM, "out of memory");
  if (self)
    qcow2_rb_put (s, blk, c - i * E, 1);
  r = vdk_node_pwrite (n->file, blk, cs, off, 0);
  free (blk);
  if (r < 0 || (r = vdk_node_flush (n->file)) < 0)
    return r;
  s->rt[i] = off;
  if ((r = write_rt_entry (n, i)) < 0) {
    s->rt[i] = 0;
    return r;
  }
  return vdk_node_flush (n->file);
}

/* Write bytes [START, END) of cached refcount block I (RB), if any. */
static int
flush_rb_range (struct vdk_node *n, uint64_t i, const uint8_t *rb, uint64_t start, uint64_t end)
{
  struct qcow2 *s = n->priv;
  int r;

  if (i == UINT64_MAX || end <= start)
    return 0;
  if ((r = vdk_node_pwrite (n->file, rb + start, end - start, (s->rt[i] & ~511ULL) + start,
                            0)) < 0)
    qcow2_rb_drop_cache (n);
  return r;
}

/* Add DELTA to the refcount of every cluster touched by [off, off+len). */
int
qcow2_update_refcount (struct vdk_node *n, uint64_t off, uint64_t len, int64_t delta)
{
  struct qcow2 *s = n->priv;
  uint64_t first, last;
  /* Entries changed in one block are written together: one write per
   * block instead of one per cluster (PEND_* is the pending byte range of
   * block PEND_I, written before any other block is touched). */
  uint64_t pend_i = UINT64_MAX, pend_s = 0, pend_e = 0;
  uint8_t *pend_rb = NULL;
  int r;

  if (len == 0)
    return 0;
  first = off >> s->cluster_bits;
  last = (off + len - 1) >> s->cluster_bits;
  for (uint64_t c = first; c <= last; c++) {
    uint64_t i = c >> s->rb_bits, idx = c & (s->rb_entries - 1), v, bs, bl;
    uint8_t *rb;
    if (i != pend_i) {
      if ((r = flush_rb_range (n, pend_i, pend_rb, pend_s, pend_e)) < 0)
        return r;
      pend_i = UINT64_MAX;
    }
    if (i >= s->rt_size || !(s->rt[i] & ~511ULL)) {
      if (delta < 0)
        return qcow2_mark_corrupt (n, "freeing cluster %" PRIu64 " which has no refcount", c);
      if ((r = ensure_refblock (n, i, c, 1)) < 0)
        return r;
      if (i >= s->rt_size || !(s->rt[i] & ~511ULL))
        return vdk_err (EIO, "%s: internal error: refcount block %" PRIu64 " missing",
                        n->filename, i);
    }
    if ((r = qcow2_rb_load (n, s->rt[i] & ~511ULL, &rb)) < 0)
      return r;
    v = qcow2_rb_get (s, rb, idx);
    if ((delta < 0 && v < (uint64_t) -delta) || (delta > 0 && s->refcount_max - v < (uint64_t) delta)) {
      /* what was changed before stays changed, on disk too */
      if ((r = flush_rb_range (n, pend_i, pend_rb, pend_s, pend_e)) < 0)
        return r;
      if (delta < 0)
        return qcow2_mark_corrupt (n, "refcount of cluster %" PRIu64 " would drop below zero", c);
      return vdk_err (ERANGE, "%s: refcount of cluster %" PRIu64 " would overflow (%u bits)",
                      n->filename, c, s->refcount_bits);
    }
    v += delta;
    qcow2_rb_put (s, rb, idx, v);
    rb_bytes (s, idx, &bs, &bl);
    if (pend_i != i) {
      pend_i = i;
      pend_rb = rb;
      pend_s = bs;
    }
    pend_e = bs + bl;
    if (v == 0) {
      /* a freed cluster may come back as another table: forget it */
      qcow2_l2_drop (n, c << s->cluster_bits);
      if (c < s->free_hint)
        s->free_hint = c;
      if (s->zfree && (s->zfree >> s->cluster_bits) == c)
        s->zfree = 0;
    }
  }
  return flush_rb_range (n, pend_i, pend_rb, pend_s, pend_e);
}

int
qcow2_free_clusters (struct vdk_node *n, uint64_t off, uint64_t len)
{
  return qcow2_update_refcount (n, off, len, -1);
}

/* Allocate a run of free clusters for BYTES; returns the host offset. */
int64_t
qcow2_alloc_clusters (struct vdk_node *n, uint64_t bytes)
{
  struct qcow2 *s = n->priv;
  uint64_t count = (bytes + s->cluster_size - 1) >> s->cluster_bits;
  uint64_t c, run = 0, start = 0, limit = (VDK_MAX_IMAGE_SIZE >> s->cluster_bits);
  int r;

  unsigned retries = 0;

  if (count == 0)
    count = 1;
  if (s->free_hint < 1)
    s->free_hint = 1;
 retry:
  if (++retries > 10000)
    return qcow2_mark_corrupt (n, "the refcount structure is inconsistent (no free cluster"
                               " can be allocated)");
  run = 0;
  /* single clusters fill holes from the lowest free one; runs go next-fit
   * from where the last run ended, so fragmented areas are not rescanned */
  c = count == 1 ? s->free_hint : VDK_MAX (s->free_hint, s->run_hint);
  while (c < limit && run < count) {
    uint64_t i = c >> s->rb_bits, bend = (i + 1) << s->rb_bits;
    uint8_t *rb;
    if (i >= s->rt_size || !(s->rt[i] & ~511ULL)) {
      /* no block: the whole range is free */
      if (run == 0)
        start = c;
      run += bend - c;
      c = bend;
      continue;
    }
    if ((r = qcow2_rb_load (n, s->rt[i] & ~511ULL, &rb)) < 0)
      return r;
    for (; c < bend && run < count; c++) {
      if (qcow2_rb_get (s, rb, c & (s->rb_entries - 1))) {
        run = 0;
        continue;
      }
      if (run == 0)
        start = c;
      run++;
    }
  }
  if (c >= limit)
    return vdk_err (ENOSPC, "%s: no free cluster found", n->filename);
  /* every refcount block the run needs must exist first */
  for (uint64_t i = start >> s->rb_bits; i <= (start + count - 1) >> s->rb_bits; i++)
    if (i >= s->rt_size || !(s->rt[i] & ~511ULL)) {
      if ((r = ensure_refblock (n, i, start, count)) < 0)
        return r;
      goto retry;
    }
  /* never hand out the header or the active tables: that means the
   * refcounts are wrong (a cheap overlap check) */
  {
    uint64_t a = start << s->cluster_bits, b = (start + count) << s->cluster_bits;
    uint64_t rt0 = s->refcount_table_offset;
    uint64_t rt1 = rt0 + ((uint64_t) s->refcount_table_clusters << s->cluster_bits);
    uint64_t l10 = s->l1_table_offset, l11 = l10 + (uint64_t) s->l1_size * 8;
    if (start == 0 || (a < rt1 && rt0 < b) || (s->l1_size && a < l11 && l10 < b))
      return qcow2_mark_corrupt (n, "allocation at %#" PRIx64 " would overlap the image's"
                                 " metadata (refcounts are wrong)", a);
  }
  if ((r = qcow2_update_refcount (n, start << s->cluster_bits, count << s->cluster_bits, 1)) < 0)
    return r;
  if (count == 1 || start == s->free_hint)
    s->free_hint = start + count;
  if (count > 1)
    s->run_hint = start + count;
  return (int64_t) (start << s->cluster_bits);
}

/* ---- check ------------------------------------------------------------------ */

struct ck {
  struct vdk_node *n;
  struct vdk_check *res;
  uint32_t *ref;          /* computed references per cluster */
  uint64_t nclusters;
  uint64_t file_size;
  uint64_t next_contig;
  bool need_rebuild;      /* a referenced cluster has no refcount block */
};

static void
report (struct ck *k, const char *fmt, ...) VDK_ATTR_FORMAT (2, 3);
static void
report (struct ck *k, const char *fmt, ...)
{
  char msg[512];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  if (k->res->report)
    k->res->report (k->res->opaque, msg);
}

static void
inc_ref (struct ck *k, uint64_t off, uint64_t len)
{
  struct qcow2 *s = k->n->priv;
  if (len == 0)
    return;
  if (off + len > k->file_size &&
      (off >= k->file_size || off + len - k->file_size >= s->cluster_size)) {
    report (k, "ERROR: counting reference for region exceeding the end of the file by one"
            " cluster or more: offset 0x%" PRIx64 " size 0x%" PRIx64, off, len);
    k->res->corruptions++;
    return;
  }
  for (uint64_t c = off >> s->cluster_bits; c <= (off + len - 1) >> s->cluster_bits; c++)
    if (c < k->nclusters && k->ref[c] < UINT32_MAX)
      k->ref[c]++;
}

static int rebuild_refcounts (struct ck *k, uint32_t order);
static int compute_refs_without_rt (struct ck *k);

static int
check_l2 (struct ck *k, uint64_t l2off, bool active)
{
  struct vdk_node *n = k->n;
  struct qcow2 *s = n->priv;
  uint8_t *l2 = malloc (s->cluster_size);
  int r;

  if (!l2)
    return vdk_err (ENOMEM, "out of memory");
  if ((r = vdk_node_pread (n->file, l2, s->cluster_size, l2off)) < 0) {
    report (k, "ERROR: I/O error in check_refcounts_l2");
    k->res->check_errors++;
    free (l2);
    return 0;
  }
  for (uint64_t i = 0; i < s->l2_entries; i++) {
    uint64_t e = qcow2_l2_entry (s, l2, i);
    enum qcow2_ctype t = qcow2_cluster_type (n, e);
    switch (t) {
    case QCOW2_C_COMPRESSED: {
      uint64_t h, l;
      if (e & QCOW2_OFLAG_COPIED) {
        report (k, "ERROR: coffset=0x%" PRIx64 ": copied flag must never be set for compressed"
                " clusters", e & s->coffset_mask);
        k->res->corruptions++;
      }
      qcow2_compressed_range (s, e, &h, &l);
      if (active) {
        k->res->allocated_clusters++;
        k->res->compressed_clusters++;
        k->res->fragmented_clusters++;   /* by nature, as qemu counts them */
      }
      inc_ref (k, h, l);
      break;
    }
    case QCOW2_C_ZERO_ALLOC:
    case QCOW2_C_NORMAL: {
      uint64_t h = e & QCOW2_L2E_OFFSET_MASK;
      if (active) {
        k->res->allocated_clusters++;
        if (k->next_contig && h != k->next_contig)
          k->res->fragmented_clusters++;
        k->next_contig = h + s->cluster_size;
      }
      if (h & (s->cluster_size - 1)) {
        report (k, "ERROR offset=%" PRIx64 ": Cluster is not properly aligned; L2 entry"
                " corrupted.", h);
        k->res->corruptions++;
        break;
      }
      if (!s->data_node)
        inc_ref (k, h, s->cluster_size);
      break;
    }
    default:
      break;
    }
  }
  free (l2);
  return 0;
}

static int
check_l1 (struct ck *k, uint64_t l1off, uint64_t l1size, bool active)
{
  struct vdk_node *n = k->n;
  struct qcow2 *s = n->priv;
  uint64_t *l1;
  int r;

  if (l1size == 0)
    return 0;
  inc_ref (k, l1off, l1size * 8);
  if (!vdk_range_ok (l1off, l1size * 8, k->file_size) || l1size * 8 > QCOW2_MAX_L1_BYTES) {
    report (k, "ERROR: L1 table at 0x%" PRIx64 " is outside the image", l1off);
    k->res->corruptions++;
    return 0;
  }
  l1 = malloc (l1size * 8);
  if (!l1)
    return vdk_err (ENOMEM, "out of memory");
  if ((r = vdk_node_pread (n->file, l1, l1size * 8, l1off)) < 0) {
    free (l1);
    report (k, "ERROR: I/O error in check_refcounts_l1");
    k->res->check_errors++;
    return 0;
  }
  for (uint64_t i = 0; i < l1size; i++) {
    uint64_t off = be64toh (l1[i]) & QCOW2_L1E_OFFSET_MASK;
    if (!off)
      continue;
    inc_ref (k, off, s->cluster_size);
    if (off & (s->cluster_size - 1)) {
      report (k, "ERROR l2_offset=%" PRIx64 ": Table is not cluster aligned; L1 entry"
              " corrupted", off);
      k->res->corruptions++;
      continue;
    }
    if (!vdk_range_ok (off, s->cluster_size, k->file_size))
      continue;
    if ((r = check_l2 (k, off, active)) < 0)
      break;
  }
  free (l1);
  return r;
}

/* OFLAG_COPIED must be set exactly when the refcount is 1. */
static int
check_copied (struct ck *k, int fix)
{
  struct vdk_node *n = k->n;
  struct qcow2 *s = n->priv;
  int r;

  for (uint32_t i = 0; i < s->l1_size; i++) {
    uint64_t e = s->l1[i], off = e & QCOW2_L1E_OFFSET_MASK, rc;
    uint8_t *l2;
    if (!off || (off & (s->cluster_size - 1)) || !vdk_range_ok (off, s->cluster_size, k->file_size))
      continue;
    if ((r = qcow2_get_refcount (n, off >> s->cluster_bits, &rc)) < 0)
      return r;
    if ((rc == 1) != !!(e & QCOW2_OFLAG_COPIED)) {
      report (k, "%s OFLAG_COPIED L2 cluster: l1_index=%u l1_entry=%" PRIx64 " refcount=%" PRIu64,
              fix & VDK_FIX_ERRORS ? "Repairing" : "ERROR", i, e, rc);
      if (fix & VDK_FIX_ERRORS) {
        s->l1[i] = rc == 1 ? (e | QCOW2_OFLAG_COPIED) : (e & ~QCOW2_OFLAG_COPIED);
        if ((r = qcow2_write_l1_entry (n, i)) < 0)
          return r;
        k->res->corruptions_fixed++;
      }
      else
        k->res->corruptions++;
    }
    if ((r = qcow2_l2_load (n, off, &l2)) < 0)
      return r;
    for (uint64_t j = 0; j < s->l2_entries; j++) {
      uint64_t le = qcow2_l2_entry (s, l2, j), h;
      enum qcow2_ctype t = qcow2_cluster_type (n, le);
      if (t != QCOW2_C_NORMAL && t != QCOW2_C_ZERO_ALLOC)
        continue;
      if (s->data_node) {
        continue;
      }
      h = le & QCOW2_L2E_OFFSET_MASK;
      if ((r = qcow2_get_refcount (n, h >> s->cluster_bits, &rc)) < 0)
        return r;
      if ((rc == 1) != !!(le & QCOW2_OFLAG_COPIED)) {
        report (k, "%s OFLAG_COPIED data cluster: l2_entry=%" PRIx64 " refcount=%" PRIu64,
                fix & VDK_FIX_ERRORS ? "Repairing" : "ERROR", le, rc);
        if (fix & VDK_FIX_ERRORS) {
          uint64_t ne = rc == 1 ? (le | QCOW2_OFLAG_COPIED) : (le & ~QCOW2_OFLAG_COPIED);
          if ((r = qcow2_l2_set (n, off, j, ne, qcow2_l2_bitmap (s, l2, j))) < 0)
            return r;
          if ((r = qcow2_l2_load (n, off, &l2)) < 0)
            return r;
          k->res->corruptions_fixed++;
        }
        else
          k->res->corruptions++;
      }
    }
  }
  return 0;
}

/* Persistent dirty bitmaps (kept, not maintained): their directory, tables
 * and data clusters are referenced. */
static int
count_bitmaps (struct ck *k)
{
  struct vdk_node *n = k->n;
  struct qcow2 *s = n->priv;
  uint64_t dsz = s->bitmap_dir_size, p = 0;
  uint8_t *dir;
  int r;

  if (dsz == 0)
    return 0;
  if (dsz > (64u << 20) || !vdk_range_ok (s->bitmap_dir_offset, dsz, k->file_size)) {
    report (k, "ERROR bitmap directory at 0x%" PRIx64 " is invalid", s->bitmap_dir_offset);
    k->res->corruptions++;
    return 0;
  }
  inc_ref (k, s->bitmap_dir_offset, dsz);
  dir = malloc (dsz);
  if (!dir)
    return vdk_err (ENOMEM, "out of memory");
  if ((r = vdk_node_pread (n->file, dir, dsz, s->bitmap_dir_offset)) < 0) {
    free (dir);
    k->res->check_errors++;
    return 0;
  }
  for (uint32_t i = 0; i < s->nb_bitmaps && p + 24 <= dsz; i++) {
    uint64_t toff = vdk_be64 (dir + p), tsz = vdk_be32 (dir + p + 8);
    uint64_t nsz = vdk_be16 (dir + p + 18), esz = vdk_be32 (dir + p + 20);
    uint64_t *t;
    if (tsz && tsz * 8 <= VDK_MAX_META_ALLOC && vdk_range_ok (toff, tsz * 8, k->file_size)) {
      inc_ref (k, toff, tsz * 8);
      t = malloc (tsz * 8);
      if (!t) {
        free (dir);
        return vdk_err (ENOMEM, "out of memory");
      }
      if (vdk_node_pread (n->file, t, tsz * 8, toff) == 0)
        for (uint64_t j = 0; j < tsz; j++) {
          uint64_t d = be64toh (t[j]) & QCOW2_L2E_OFFSET_MASK;
          if (d)
            inc_ref (k, d, s->cluster_size);
        }
      free (t);
    }
    p = VDK_ROUND_UP (p + 24 + esz + nsz, 8);
  }
  free (dir);
  return 0;
}

/* Count every reference the metadata makes. */
static int
compute_refs (struct ck *k)
{
  struct vdk_node *n = k->n;
  struct qcow2 *s = n->priv;
  int r;

  inc_ref (k, 0, s->cluster_size);
  if ((r = check_l1 (k, s->l1_table_offset, s->l1_size, true)) < 0)
    return r;
  for (uint32_t i = 0; i < s->nb_snapshots; i++) {
    struct qcow2_snapshot *sn = &s->snaps[i];
    if ((r = check_l1 (k, sn->l1_table_offset, sn->l1_size, false)) < 0)
      return r;
  }
  if (s->nb_snapshots)
    inc_ref (k, s->snapshots_offset, s->snap_table_size);
  inc_ref (k, s->refcount_table_offset, (uint64_t) s->refcount_table_clusters << s->cluster_bits);
  if (s->has_bitmaps_ext && (s->autoclear & QCOW2_AUTOCLEAR_BITMAPS) &&
      (r = count_bitmaps (k)) < 0)
    return r;
  for (uint64_t i = 0; i < s->rt_size; i++) {
    uint64_t off = s->rt[i] & ~511ULL;
    if (!off)
      continue;
    if (off & (s->cluster_size - 1)) {
      report (k, "ERROR refcount block %" PRIu64 " is not cluster aligned; refcount table entry"
              " corrupted", i);
      k->res->corruptions++;
      continue;
    }
    if (off >= k->file_size) {
      report (k, "ERROR refcount block %" PRIu64 " is outside image", i);
      k->res->corruptions++;
      continue;
    }
    inc_ref (k, off, s->cluster_size);
  }
  return 0;
}

/* Compare the refcounts on disk with the computed ones, for the clusters
 * inside the file (as qemu does), fixing what FIX allows. */
static int
compare_refs (struct ck *k, int fix, uint64_t *highest_out, bool *any_out)
{
  struct vdk_node *n = k->n;
  struct qcow2 *s = n->priv;
  uint64_t highest = 0;
  bool any = false;
  int r = 0;

  for (uint64_t c = 0; c < k->nclusters; c++) {
    uint64_t i = c >> s->rb_bits, disk = 0, comp = k->ref[c], blk;
    bool have_block;

    blk = i < s->rt_size ? s->rt[i] & ~511ULL : 0;
    have_block = blk && !(blk & (s->cluster_size - 1)) && blk < k->file_size;
    if (have_block && (r = qcow2_get_refcount (n, c, &disk)) < 0) {
      k->res->check_errors++;
      r = 0;
      continue;
    }
    if (disk || comp) {
      highest = c;
      any = true;
    }
    if (disk == comp)
      continue;
    if (!have_block && comp)
      k->need_rebuild = true;
    {
      bool fixit = false;
      if (disk > comp && (fix & VDK_FIX_LEAKS))
        fixit = true;
      else if (disk < comp && (fix & VDK_FIX_ERRORS) && have_block)
        fixit = true;
      report (k, "%s cluster %" PRIu64 " refcount=%" PRIu64 " reference=%" PRIu64,
              fixit ? "Repairing" : disk < comp ? "ERROR" : "Leaked", c, disk, comp);
      if (fixit) {
        r = qcow2_update_refcount (n, c << s->cluster_bits, s->cluster_size,
                                   (int64_t) comp - (int64_t) disk);
        if (r < 0) {
          k->res->check_errors++;
          r = 0;
        }
        else if (disk > comp)
          k->res->leaks_fixed++;
        else
          k->res->corruptions_fixed++;
      }
      else if (disk < comp)
        k->res->corruptions++;
      else
        k->res->leaks++;
    }
  }
  *highest_out = highest;
  *any_out = any;
  return r;
}

int
qcow2_check (struct vdk_node *n, int fix, struct vdk_check *res)
{
  struct qcow2 *s = n->priv;
  struct ck k;
  uint64_t highest = 0;
  bool any = false;
  int r;

  if ((r = qcow2_l2_writeback (n)) < 0)   /* deferred L2 entries first */
    return r;
  memset (&k, 0, sizeof k);
  k.n = n;
  k.res = res;
  k.file_size = qcow2_file_end (n);
  k.nclusters = (k.file_size + s->cluster_size - 1) >> s->cluster_bits;
  /* clusters referenced past the end are reported, so no more are needed */
  if (k.nclusters * 4 > VDK_MAX_META_ALLOC)
    return vdk_err (EFBIG, "%s: image file too large to check (%" PRIu64 " clusters)",
                    n->filename, k.nclusters);
  k.ref = calloc (k.nclusters ? k.nclusters : 1, 4);
  if (!k.ref)
    return vdk_err (ENOMEM, "out of memory");
  res->total_clusters = (s->size + s->cluster_size - 1) >> s->cluster_bits;
  if ((r = compute_refs (&k)) < 0)
    goto out;
  /* first report only, then (like qemu) compare again fixing */
  {
    struct vdk_check pre = *res;
    if ((r = compare_refs (&k, 0, &highest, &any)) < 0)
      goto out;
    if ((fix & VDK_FIX_ERRORS) && k.need_rebuild) {
      /* referenced clusters without a refcount block: build anew */
      report (&k, "Rebuilding refcount structure");
      memset (k.ref, 0, k.nclusters * 4);
      *res = pre;
      if ((r = compute_refs_without_rt (&k)) < 0 ||
          (r = rebuild_refcounts (&k, s->refcount_order)) < 0)
        goto out;
      res->corruptions_fixed += 1;
      /* compare against the new structure (which counts itself) */
      free (k.ref);
      k.file_size = qcow2_file_end (n);
      k.nclusters = (k.file_size + s->cluster_size - 1) >> s->cluster_bits;
      k.ref = calloc (k.nclusters ? k.nclusters : 1, 4);
      if (!k.ref) {
        r = vdk_err (ENOMEM, "out of memory");
        goto out;
      }
      {
        struct vdk_check keep = *res;
        if ((r = compute_refs (&k)) < 0)
          goto out;
        *res = keep;
      }
      pre = *res;
      if ((r = compare_refs (&k, 0, &highest, &any)) < 0)
        goto out;
    }
    if ((fix & (VDK_FIX_LEAKS | VDK_FIX_ERRORS)) && (res->leaks || res->corruptions)) {
      *res = pre;
      if ((r = compare_refs (&k, fix, &highest, &any)) < 0)
        goto out;
    }
  }
  if ((r = check_copied (&k, fix)) < 0)
    goto out;
  res->image_end_offset = any ? (int64_t) ((highest + 1) << s->cluster_bits) : 0;
  if (fix && (res->leaks_fixed || res->corruptions_fixed))
    r = vdk_node_flush (n->file);
 out:
  free (k.ref);
  return r;
}

/* Write a whole new refcount structure of width 2^ORDER from the computed
 * references in K (which must not count the old structure), behind
 * everything else in the file; flush; switch the header; the old table and
 * blocks are then simply unreferenced. */
static int
rebuild_refcounts (struct ck *k, uint32_t order)
{
  struct vdk_node *n = k->n;
  struct qcow2 *s = n->priv;
  struct qcow2 ns = *s;     /* only for the new width's helpers */
  uint64_t cs = s->cluster_size, per = cs / 8, E, p = 0, T = 1, nb = 1, maxv;
  uint64_t *rt = NULL;
  uint8_t *blk = NULL;
  int r = 0;

  ns.refcount_order = order;
  E = (cs * 8) >> order;
  maxv = order == 6 ? UINT64_MAX : (1ULL << (1u << order)) - 1;
  for (uint64_t c = 0; c < k->nclusters; c++) {
    if (k->ref[c])
      p = c + 1;
    if (k->ref[c] > maxv)
      return vdk_err (ERANGE, "%s: cluster %" PRIu64 " has %u references, more than %u-bit"
                      " refcounts can hold", n->filename, c, k->ref[c], 1u << order);
  }
  p = VDK_MAX (p, (uint64_t) 1);
  for (int iter = 0; iter < 64; iter++) {
    uint64_t need_nb = (p + T + nb + E - 1) / E, need_T = (need_nb + per - 1) / per;
    if (need_nb <= nb && need_T <= T)
      break;
    nb = VDK_MAX (nb, need_nb);
    T = VDK_MAX (T, need_T);
  }
  if (T * cs > QCOW2_MAX_RT_BYTES)
    return vdk_err (EFBIG, "%s: refcount table would be too large", n->filename);
  rt = calloc (T * per, 8);
  blk = malloc (VDK_MAX (cs, T * cs));
  if (!rt || !blk) {
    r = vdk_err (ENOMEM, "out of memory");
    goto out;
  }
  for (uint64_t b = 0; b < nb; b++) {
    bool any = false;
    memset (blk, 0, cs);
    for (uint64_t j = 0; j < E; j++) {
      uint64_t c = b * E + j, v = 0;
      if (c < k->nclusters)
        v = k->ref[c];
      if (c >= p && c < p + T + nb)
        v = 1;
      if (v) {
        qcow2_rb_put (&ns, blk, j, v);
        any = true;
      }
    }
    if (!any && b != (p + T + b) / E)
      continue;
    if ((r = vdk_node_pwrite (n->file, blk, cs, (p + T + b) * cs, 0)) < 0)
      goto out;
    rt[b] = (p + T + b) * cs;
  }
  memset (blk, 0, T * cs);
  for (uint64_t i = 0; i < T * per; i++)
    vdk_put_be64 (blk + i * 8, rt[i]);
  if ((r = vdk_node_pwrite (n->file, blk, T * cs, p * cs, 0)) < 0 ||
      (r = vdk_node_flush (n->file)) < 0)
    goto out;
  {
    struct qcow2 old = *s;
    s->refcount_order = order;
    s->refcount_table_offset = p * cs;
    s->refcount_table_clusters = T;
    if ((r = qcow2_write_header_fields (n)) < 0 || (r = vdk_node_flush (n->file)) < 0) {
      s->refcount_order = old.refcount_order;
      s->refcount_table_offset = old.refcount_table_offset;
      s->refcount_table_clusters = old.refcount_table_clusters;
      goto out;
    }
  }
  free (s->rt);
  s->rt = rt;
  rt = NULL;
  s->rt_size = T * per;
  s->refcount_bits = 1u << order;
  s->rb_bits = s->cluster_bits + 3 - order;
  s->rb_entries = 1ULL << s->rb_bits;
  s->refcount_max = maxv;
  s->free_hint = 1;
  s->run_hint = 0;
  s->zfree = 0;
  qcow2_rb_drop_cache (n);
 out:
  free (rt);
  free (blk);
  return r;
}

/* References without the current refcount structure itself. */
static int
compute_refs_without_rt (struct ck *k)
{
  struct qcow2 *s = k->n->priv;
  int r = compute_refs (k);
  if (r < 0)
    return r;
  for (uint64_t c = s->refcount_table_offset >> s->cluster_bits;
       c < (s->refcount_table_offset >> s->cluster_bits) + s->refcount_table_clusters; c++)
    if (c < k->nclusters && k->ref[c])
      k->ref[c]--;
  for (uint64_t i = 0; i < s->rt_size; i++) {
    uint64_t c = (s->rt[i] & ~511ULL) >> s->cluster_bits;
    if (c && c < k->nclusters && k->ref[c])
      k->ref[c]--;
  }
  return 0;
}

int
qcow2_change_refcount_order (struct vdk_node *n, uint32_t order)
{
  struct qcow2 *s = n->priv;
  struct vdk_check res;
  struct ck k;
  int r;

  memset (&res, 0, sizeof res);
  memset (&k, 0, sizeof k);
  k.n = n;
  k.res = &res;
  k.file_size = qcow2_file_end (n);
  k.nclusters = (k.file_size + s->cluster_size - 1) >> s->cluster_bits;
  if (k.nclusters * 4 > VDK_MAX_META_ALLOC)
    return vdk_err (EFBIG, "%s: image file too large", n->filename);
  k.ref = calloc (k.nclusters ? k.nclusters : 1, 4);
  if (!k.ref)
    return vdk_err (ENOMEM, "out of memory");
  r = compute_refs_without_rt (&k);
  if (r == 0 && (res.corruptions || res.check_errors))
    r = vdk_err (EIO, "%s: the image has errors; run 'vdk check -r all' first", n->filename);
  if (r == 0)
    r = rebuild_refcounts (&k, order);
  free (k.ref);
  return r;
}

/* A dirty image (lazy refcounts, not closed cleanly) is opened for writing:
 * fix the refcounts like qemu does (check -r all). */
int
qcow2_rebuild_refcounts_if_dirty (struct vdk_node *n)
{
  struct vdk_check res;
  int r;

  memset (&res, 0, sizeof res);
  r = qcow2_check (n, VDK_FIX_LEAKS | VDK_FIX_ERRORS, &res);
  if (r < 0)
    return r;
  if (res.corruptions)
    return vdk_err (EIO, "%s: the image was not closed cleanly and its refcounts could not be"
                    " repaired (%" PRId64 " errors); run 'vdk check -r all'", n->filename,
                    res.corruptions);
  return 0;
}
