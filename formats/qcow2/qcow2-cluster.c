/* qcow2: L1/L2 mapping, the L2 cache, compressed clusters, allocation
 * (copy-on-write), zeroing, discard, resize and preallocation.
 *
 * Crash-safe order for a new cluster (alloc -> core writes data ->
 * alloc_commit): refcount incremented and written, copy-on-write head/tail
 * written, data written by the core, flush, then the L2 entry is switched,
 * then the old cluster (if any) is released.  A crash at any point leaves at
 * most a leaked cluster. */
#include <inttypes.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "qcow2.h"

/* ---- L2 cache (set-associative, write-through) ------------------------ */
#define L2_WAYS 4

uint64_t
qcow2_l2_entry (struct qcow2 *s, const uint8_t *l2, uint64_t idx)
{
  return vdk_be64 (l2 + idx * s->l2_entry_size);
}

uint64_t
qcow2_l2_bitmap (struct qcow2 *s, const uint8_t *l2, uint64_t idx)
{
  return s->extl2 ? vdk_be64 (l2 + idx * 16 + 8) : 0;
}

static struct qcow2_l2_slot *
l2_set (struct qcow2 *s, uint64_t off, size_t *nways)
{
  size_t ways = VDK_MIN ((size_t) L2_WAYS, s->l2c_n);
  size_t sets = s->l2c_n / ways;
  size_t set = (off >> s->cluster_bits) % sets;
  *nways = ways;
  return &s->l2c[set * ways];
}

int
qcow2_l2_load (struct vdk_node *n, uint64_t l2_offset, uint8_t **out)
{
  struct qcow2 *s = n->priv;
  struct qcow2_l2_slot *set, *victim = NULL;
  size_t ways;
  int r;

  if (l2_offset & (s->cluster_size - 1))
    return qcow2_mark_corrupt (n, "L2 table offset %#" PRIx64 " is not cluster aligned",
                               l2_offset);
  if (l2_offset < s->cluster_size)
    return qcow2_mark_corrupt (n, "L2 table offset %#" PRIx64 " overlaps the header",
                               l2_offset);
  if (!vdk_range_ok (l2_offset, s->cluster_size, qcow2_file_end (n)))
    return vdk_err (EIO, "%s: L2 table at offset %#" PRIx64 " is beyond the end of the file",
                    n->filename, l2_offset);
  set = l2_set (s, l2_offset, &ways);
  for (size_t i = 0; i < ways; i++)
    if (set[i].offset == l2_offset && set[i].data) {
      set[i].lru = ++s->lru_clock;
      *out = set[i].data;
      return 0;
    }
  for (size_t i = 0; i < ways; i++)
    if (!victim || !set[i].data || set[i].lru < victim->lru) {
      victim = &set[i];
      if (!set[i].data)
        break;
    }
  if (victim->dirty_hi && (r = qcow2_l2_writeback (n)) < 0)
    return r;
  if (!victim->data && !(victim->data = malloc (s->cluster_size)))
    return vdk_err (ENOMEM, "out of memory");
  victim->offset = 0;
  r = vdk_node_pread (n->file, victim->data, s->cluster_size, l2_offset);
  if (r < 0)
    return r;
  victim->offset = l2_offset;
  victim->lru = ++s->lru_clock;
  *out = victim->data;
  return 0;
}

static struct qcow2_l2_slot *
find_slot (struct qcow2 *s, uint64_t l2_offset)
{
  size_t ways;
  struct qcow2_l2_slot *set = l2_set (s, l2_offset, &ways);
  for (size_t i = 0; i < ways; i++)
    if (set[i].offset == l2_offset && set[i].data)
      return &set[i];
  return NULL;
}

/* Forget a cached table (it was freed, or is about to be rewritten from
 * elsewhere): entries not yet written go with it. */
void
qcow2_l2_drop (struct vdk_node *n, uint64_t l2_offset)
{
  struct qcow2 *s = n->priv;
  struct qcow2_l2_slot *sl = find_slot (s, l2_offset);

  if (!sl)
    return;
  if (sl->dirty_hi) {
    sl->dirty_hi = 0;
    s->l2c_dirty--;
  }
  sl->offset = 0;
}

/* Deferred L2 entries.  A new cluster's data and refcount are written
 * before alloc_commit; its L2 entry must not reach the disk before they do.
 * Written through, that costs a flush per allocation (convert -t writeback
 * into a new qcow2: ~70 fdatasyncs per 256 MiB, qemu-img 9).  So an
 * allocation that releases nothing (the old entry unallocated or a plain
 * zero cluster, or the cluster's own preallocated one) only changes the
 * cached table and marks the entries dirty; qcow2_l2_writeback flushes the
 * file once (refcounts and data of every deferred entry are then on disk)
 * and writes the dirty ranges.  It runs on every flush of the image, at
 * close, when a dirty table is evicted from the cache, and before any
 * operation that reads tables from the file or relinks them (check, amend,
 * snapshots, resize).  A crash before it loses the unflushed writes (as
 * with any writeback cache) and leaks their clusters, nothing else: the
 * refcounts were written first.  Allocations that release an old cluster
 * (compressed, shared with a snapshot) are still written through: the
 * release must follow the durable link. */
static void
slot_mark_dirty (struct qcow2 *s, struct qcow2_l2_slot *sl, uint64_t idx, uint64_t count)
{
  if (!sl->dirty_hi) {
    sl->dirty_lo = (uint32_t) idx;
    sl->dirty_hi = (uint32_t) (idx + count);
    s->l2c_dirty++;
    return;
  }
  if (idx < sl->dirty_lo)
    sl->dirty_lo = (uint32_t) idx;
  if (idx + count > sl->dirty_hi)
    sl->dirty_hi = (uint32_t) (idx + count);
}

int
qcow2_l2_writeback (struct vdk_node *n)
{
  struct qcow2 *s = n->priv;
  uint64_t es = s->l2_entry_size;
  int r;

  if (!s->l2c_dirty)
    return 0;
  if ((r = vdk_node_flush (n->file)) < 0)
    return r;
  for (size_t i = 0; i < s->l2c_n && s->l2c_dirty; i++) {
    struct qcow2_l2_slot *sl = &s->l2c[i];
    if (!sl->dirty_hi)
      continue;
    if ((r = vdk_node_pwrite (n->file, sl->data + sl->dirty_lo * es,
                              (sl->dirty_hi - sl->dirty_lo) * es,
                              sl->offset + sl->dirty_lo * es, 0)) < 0)
      return r;   /* still dirty: the next writeback tries again */
    sl->dirty_hi = 0;
    s->l2c_dirty--;
  }
  return 0;
}

/* A write of entries [IDX, IDX+COUNT) of a cached table failed: the file
 * may hold anything there.  A clean table is dropped (read again next
 * time); a table with deferred entries is kept, and the range marked dirty
 * so the cached (old) entries are written again. */
static void
l2_write_failed (struct vdk_node *n, uint64_t l2_offset, uint64_t idx, uint64_t count)
{
  struct qcow2 *s = n->priv;
  struct qcow2_l2_slot *sl = find_slot (s, l2_offset);

  if (sl && sl->dirty_hi)
    slot_mark_dirty (s, sl, idx, count);
  else
    qcow2_l2_drop (n, l2_offset);
}

/* Write one L2 entry (and its bitmap) through the cache to the file. */
int
qcow2_l2_set (struct vdk_node *n, uint64_t l2_offset, uint64_t idx, uint64_t entry,
              uint64_t bitmap)
{
  struct qcow2 *s = n->priv;
  uint8_t *l2, raw[16];
  int r = qcow2_l2_load (n, l2_offset, &l2);

  if (r < 0)
    return r;
  vdk_put_be64 (raw, entry);
  vdk_put_be64 (raw + 8, bitmap);
  r = vdk_node_pwrite (n->file, raw, s->l2_entry_size, l2_offset + idx * s->l2_entry_size, 0);
  if (r < 0) {
    l2_write_failed (n, l2_offset, idx, 1);
    return r;
  }
  memcpy (l2 + idx * s->l2_entry_size, raw, s->l2_entry_size);
  return 0;
}

enum qcow2_ctype
qcow2_cluster_type (struct vdk_node *n, uint64_t entry)
{
  struct qcow2 *s = n->priv;

  if (entry & QCOW2_OFLAG_COMPRESSED)
    return QCOW2_C_COMPRESSED;
  if ((entry & QCOW2_OFLAG_ZERO) && !s->extl2)
    return (entry & QCOW2_L2E_OFFSET_MASK) ? QCOW2_C_ZERO_ALLOC : QCOW2_C_ZERO_PLAIN;
  if (!(entry & QCOW2_L2E_OFFSET_MASK)) {
    /* offset 0 is valid in an external data file; COPIED tells */
    if (s->data_node && (entry & QCOW2_OFLAG_COPIED))
      return QCOW2_C_NORMAL;
    return QCOW2_C_UNALLOC;
  }
  return QCOW2_C_NORMAL;
}

/* State of subcluster SC (0 when no extended L2) of a cluster. */
static int
sc_state (struct vdk_node *n, uint64_t entry, uint64_t bitmap, unsigned sc,
          enum qcow2_sctype *st)
{
  struct qcow2 *s = n->priv;
  enum qcow2_ctype t = qcow2_cluster_type (n, entry);

  if (t == QCOW2_C_COMPRESSED) {
    if (s->data_node)
      return qcow2_mark_corrupt (n, "compressed cluster in an image with an external data file");
    *st = QCOW2_SC_COMPRESSED;
    return 0;
  }
  if (!s->extl2) {
    *st = t == QCOW2_C_NORMAL ? QCOW2_SC_DATA
      : t == QCOW2_C_UNALLOC ? QCOW2_SC_UNALLOC : QCOW2_SC_ZERO;
    return 0;
  }
  {
    bool a = (bitmap >> sc) & 1, z = (bitmap >> (32 + sc)) & 1;
    if (a && z)
      return qcow2_mark_corrupt (n, "subcluster %u is both allocated and zero (L2 bitmap %#"
                                 PRIx64 ")", sc, bitmap);
    if (a && t == QCOW2_C_UNALLOC)
      return qcow2_mark_corrupt (n, "allocated subcluster in an unallocated cluster (L2 entry %#"
                                 PRIx64 ")", entry);
    *st = a ? QCOW2_SC_DATA : z ? QCOW2_SC_ZERO : QCOW2_SC_UNALLOC;
  }
  return 0;
}

static int
check_host (struct vdk_node *n, uint64_t entry, uint64_t *host)
{
  struct qcow2 *s = n->priv;
  uint64_t h = entry & QCOW2_L2E_OFFSET_MASK;

  if (h & (s->cluster_size - 1))
    return qcow2_mark_corrupt (n, "cluster allocation offset %#" PRIx64 " is not cluster"
                               " aligned", h);
  if (!s->data_node && h < s->cluster_size)
    return qcow2_mark_corrupt (n, "data cluster offset %#" PRIx64 " overlaps the header", h);
  *host = h;
  return 0;
}

/* Find the L2 table for guest offset OFF: *l2 NULL if none. */
static int
get_l2 (struct vdk_node *n, uint64_t off, uint8_t **l2, uint64_t *l2off)
{
  struct qcow2 *s = n->priv;
  uint64_t l1i = qcow2_l1_index (s, off);

  *l2 = NULL;
  *l2off = 0;
  if (l1i >= s->l1_size)
    return 0;
  *l2off = s->l1[l1i] & QCOW2_L1E_OFFSET_MASK;
  if (!*l2off)
    return 0;
  return qcow2_l2_load (n, *l2off, l2);
}

int
qcow2_map (struct vdk_node *n, uint64_t off, uint64_t len, struct vdk_extent *e)
{
  struct qcow2 *s = n->priv;
  uint64_t l2off, idx, scs = s->subcluster_size, pos = off, end;
  uint8_t *l2;
  enum qcow2_sctype first = QCOW2_SC_UNALLOC;
  uint64_t first_host = 0;
  int r;

  /* at most to the end of this L2 table's range */
  end = ((off >> (s->cluster_bits + s->l2_bits)) + 1) << (s->cluster_bits + s->l2_bits);
  if (end - off > len)
    end = off + len;
  if ((r = get_l2 (n, off, &l2, &l2off)) < 0)
    return r;
  e->child = s->data_node;
  if (!l2) {
    e->kind = VDK_EXT_UNALLOC;
    e->len = end - off;
    return 0;
  }
  idx = qcow2_l2_index (s, off);
  while (pos < end) {
    uint64_t ci = qcow2_l2_index (s, pos);
    uint64_t entry = qcow2_l2_entry (s, l2, ci), bitmap = qcow2_l2_bitmap (s, l2, ci);
    uint64_t in = qcow2_offset_into_cluster (s, pos);
    unsigned sc = in / scs;
    uint64_t unit_end = VDK_MIN (end, (pos - in) + (uint64_t) (sc + 1) * scs);
    enum qcow2_sctype st = QCOW2_SC_UNALLOC;
    uint64_t host = 0;

    if ((r = sc_state (n, entry, bitmap, sc, &st)) < 0)
      return r;
    if (st == QCOW2_SC_DATA) {
      if ((r = check_host (n, entry, &host)) < 0)
        return r;
      host += in;
    }
    if (pos == off) {
      first = st;
      first_host = host;
      if (st == QCOW2_SC_COMPRESSED) {
        /* a run of compressed clusters: read_encoded decodes it at once */
        e->kind = VDK_EXT_ENCODED;
        e->host = entry & s->coffset_mask;
        pos = VDK_MIN (end, pos - in + s->cluster_size);
        while (pos < end) {
          uint64_t next = qcow2_l2_entry (s, l2, qcow2_l2_index (s, pos));
          if ((r = sc_state (n, next, qcow2_l2_bitmap (s, l2, qcow2_l2_index (s, pos)), 0,
                             &st)) < 0)
            return r;
          if (st != QCOW2_SC_COMPRESSED)
            break;
          pos = VDK_MIN (end, pos + s->cluster_size);
        }
        e->len = pos - off;
        return 0;
      }
    }
    else if (st != first || (st == QCOW2_SC_DATA && host != first_host + (pos - off)))
      break;
    pos = unit_end;
    (void) idx;
  }
  e->len = pos - off;
  switch (first) {
  case QCOW2_SC_DATA: e->kind = VDK_EXT_DATA; e->host = first_host; break;
  case QCOW2_SC_ZERO: e->kind = VDK_EXT_ZERO; break;
  default: e->kind = VDK_EXT_UNALLOC; break;
  }
  return 0;
}

void
qcow2_compressed_range (struct qcow2 *s, uint64_t entry, uint64_t *host, uint64_t *len)
{
  uint64_t coff = entry & s->coffset_mask;
  uint64_t nsec = ((entry >> s->csize_shift) & s->csize_mask) + 1;
  *host = coff;
  *len = nsec * 512 - (coff & 511);
}

/* ---- work on all CPUs -------------------------------------------------------
 * par_run calls FN (CTX, i, &tls) for every i < N on the calling thread and
 * on detached helper threads, and returns once every item is done.  It never
 * waits for a helper that has not started yet (on a busy machine that can
 * take a whole scheduling period): a late helper finds no item left and
 * exits, and the last one out frees the shared state.  FN and TLS_FREE run
 * only for claimed items, so CTX may go away as soon as par_run returns. */
struct par {
  size_t n, next, done;
  int refs;
  pthread_mutex_t m;
  pthread_cond_t c;
  void (*fn) (void *ctx, size_t i, void **tls);
  void (*tls_free) (void *tls);
  void *ctx;
};

static void
par_loop (struct par *p)
{
  void *tls = NULL;

  for (;;) {
    size_t i = __atomic_fetch_add (&p->next, 1, __ATOMIC_RELAXED);
    if (i >= p->n)
      break;
    p->fn (p->ctx, i, &tls);
    pthread_mutex_lock (&p->m);
    if (++p->done == p->n)
      pthread_cond_broadcast (&p->c);
    pthread_mutex_unlock (&p->m);
  }
  if (tls)
    p->tls_free (tls);
}

static void
par_put (struct par *p)
{
  int left;

  pthread_mutex_lock (&p->m);
  left = --p->refs;
  pthread_mutex_unlock (&p->m);
  if (left == 0) {
    pthread_mutex_destroy (&p->m);
    pthread_cond_destroy (&p->c);
    free (p);
  }
}

static void *
par_thread (void *arg)
{
  par_loop (arg);
  par_put (arg);
  return NULL;
}

static int
par_run (size_t n, void (*fn) (void *, size_t, void **), void (*tls_free) (void *), void *ctx)
{
  struct par *p = calloc (1, sizeof *p);
  long cpus = sysconf (_SC_NPROCESSORS_ONLN);
  size_t nth = VDK_MIN ((size_t) (cpus > 1 ? cpus : 1), n);
  pthread_attr_t attr;

  if (!p)
    return vdk_err (ENOMEM, "out of memory");
  if (nth > 16)
    nth = 16;
  *p = (struct par) { .n = n, .refs = 1, .fn = fn, .tls_free = tls_free, .ctx = ctx };
  pthread_mutex_init (&p->m, NULL);
  pthread_cond_init (&p->c, NULL);
  if (nth > 1 && pthread_attr_init (&attr) == 0) {
    pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
    for (size_t t = 1; t < nth; t++) {
      pthread_t th;
      pthread_mutex_lock (&p->m);
      p->refs++;
      pthread_mutex_unlock (&p->m);
      if (pthread_create (&th, &attr, par_thread, p) != 0) {
        par_put (p);
        break;
      }
    }
    pthread_attr_destroy (&attr);
  }
  par_loop (p);                /* the caller works too */
  pthread_mutex_lock (&p->m);
  while (p->done < p->n)
    pthread_cond_wait (&p->c, &p->m);
  pthread_mutex_unlock (&p->m);
  par_put (p);
  return 0;
}

/* Decoder state, kept across clusters by a decoding thread. */
struct zdec {
  z_stream z;
  bool z_init;
  ZSTD_DCtx *zd;
};

static void
zdec_free (struct zdec *d)
{
  if (d->z_init)
    inflateEnd (&d->z);
  ZSTD_freeDCtx (d->zd);
  memset (d, 0, sizeof *d);
}

/* Decode one cluster from the CLEN compressed bytes at IN (read from host
 * offset COFF) into OUT.  Thread-safe: touches only D and the buffers. */
static int
decode_cluster (struct vdk_node *n, struct zdec *d, const uint8_t *in, size_t clen,
                uint64_t coff, uint8_t *out)
{
  struct qcow2 *s = n->priv;

  if (s->compression_type == QCOW2_COMPRESSION_ZLIB) {
    int zr;
    if (!d->z_init) {
      memset (&d->z, 0, sizeof d->z);
      if (inflateInit2 (&d->z, -15) != Z_OK)
        return vdk_err (ENOMEM, "%s: zlib initialisation failed", n->filename);
      d->z_init = true;
    }
    else if (inflateReset (&d->z) != Z_OK)
      return vdk_err (EIO, "%s: zlib reset failed", n->filename);
    d->z.next_in = (uint8_t *) in;
    d->z.avail_in = clen;
    d->z.next_out = out;
    d->z.avail_out = s->cluster_size;
    zr = inflate (&d->z, Z_FINISH);
    if (!((zr == Z_STREAM_END || zr == Z_BUF_ERROR || zr == Z_OK) && d->z.avail_out == 0))
      return vdk_err (EIO, "%s: compressed cluster at offset %#" PRIx64 " could not be"
                      " decompressed (zlib)", n->filename, coff);
    return 0;
  }
  else {
    ZSTD_inBuffer ib = { in, clen, 0 };
    ZSTD_outBuffer ob = { out, s->cluster_size, 0 };
    if (!d->zd && !(d->zd = ZSTD_createDCtx ()))
      return vdk_err (ENOMEM, "out of memory");
    ZSTD_DCtx_reset (d->zd, ZSTD_reset_session_only);
    while (ob.pos < ob.size) {
      size_t zr = ZSTD_decompressStream (d->zd, &ob, &ib);
      if (ZSTD_isError (zr))
        return vdk_err (EIO, "%s: compressed cluster at offset %#" PRIx64 " could not be"
                        " decompressed (zstd: %s)", n->filename, coff, ZSTD_getErrorName (zr));
      if (ob.pos < ob.size && (ib.pos == ib.size || zr == 0))
        return vdk_err (EIO, "%s: compressed cluster at offset %#" PRIx64 " is truncated",
                        n->filename, coff);
    }
    return 0;
  }
}

/* Where the compressed bytes of ENTRY are, checked against the file. */
static int
compressed_input (struct vdk_node *n, uint64_t entry, uint64_t *coff, uint64_t *clen)
{
  struct qcow2 *s = n->priv;
  uint64_t fend = qcow2_file_end (n);

  qcow2_compressed_range (s, entry, coff, clen);
  if (*coff < s->cluster_size || *coff >= fend)
    return qcow2_mark_corrupt (n, "compressed cluster at offset %#" PRIx64 " is outside the"
                               " image file", *coff);
  if (*clen > fend - *coff)
    *clen = fend - *coff;   /* the last sector may be short */
  return 0;
}

int
qcow2_decompress (struct vdk_node *n, uint64_t entry, uint8_t *out)
{
  struct zdec d;
  uint64_t coff, clen;
  uint8_t *in;
  int r;

  if ((r = compressed_input (n, entry, &coff, &clen)) < 0)
    return r;
  in = malloc (clen);
  if (!in)
    return vdk_err (ENOMEM, "out of memory");
  memset (&d, 0, sizeof d);
  if ((r = vdk_node_pread (n->file, in, clen, coff)) == 0)
    r = decode_cluster (n, &d, in, clen, coff, out);
  zdec_free (&d);
  free (in);
  return r;
}

/* Decode whole compressed clusters on all CPUs.  The caller reads every
 * input first (under the node lock, through the file node), the workers
 * only decode from memory into the caller's buffer. */
struct dpar {
  struct vdk_node *n;
  const uint8_t **in;
  uint64_t *coff, *clen;
  uint8_t *out;
  pthread_mutex_t err_lock;
  int err;
  char *msg;
};

static void
dpar_tls_free (void *tls)
{
  zdec_free (tls);
  free (tls);
}

static void
dpar_item (void *ctx, size_t i, void **tls)
{
  struct dpar *p = ctx;
  struct qcow2 *s = p->n->priv;
  int r;

  if (__atomic_load_n (&p->err, __ATOMIC_RELAXED))
    return;
  if (!*tls && !(*tls = calloc (1, sizeof (struct zdec))))
    r = vdk_err (ENOMEM, "out of memory");
  else
    r = decode_cluster (p->n, *tls, p->in[i], p->clen[i], p->coff[i], p->out + i * s->cluster_size);
  if (r < 0) {
    pthread_mutex_lock (&p->err_lock);
    if (!p->err) {
      __atomic_store_n (&p->err, r, __ATOMIC_RELAXED);
      p->msg = strdup (disk_last_error ());
    }
    pthread_mutex_unlock (&p->err_lock);
  }
}

/* Decode NCL whole compressed clusters from guest offset OFF (cluster
 * aligned, one L2 table) into OUT. */
static int
decode_clusters (struct vdk_node *n, const uint8_t *l2, uint64_t off, size_t ncl, uint8_t *out)
{
  struct qcow2 *s = n->priv;
  struct dpar p = { .n = n };
  uint64_t lo = UINT64_MAX, hi = 0, sum = 0, idx = qcow2_l2_index (s, off);
  uint8_t *span = NULL, **bufs = NULL;
  int r = 0;

  p.in = calloc (ncl, sizeof *p.in);
  p.coff = calloc (ncl, sizeof *p.coff);
  p.clen = calloc (ncl, sizeof *p.clen);
  if (!p.in || !p.coff || !p.clen) {
    r = vdk_err (ENOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < ncl; i++) {
    uint64_t entry = qcow2_l2_entry (s, l2, idx + i);
    if (!(entry & QCOW2_OFLAG_COMPRESSED)) {
      r = vdk_err (EIO, "%s: internal error: bad compressed read", n->filename);
      goto out;
    }
    if ((r = compressed_input (n, entry, &p.coff[i], &p.clen[i])) < 0)
      goto out;
    lo = VDK_MIN (lo, p.coff[i]);
    hi = VDK_MAX (hi, p.coff[i] + p.clen[i]);
    sum += p.clen[i];
  }
  /* Packed clusters are usually back to back: one read for all when the
   * span wastes little, else one read each. */
  if (hi - lo <= sum + sum / 4 + s->cluster_size) {
    if (!(span = malloc (hi - lo))) {
      r = vdk_err (ENOMEM, "out of memory");
      goto out;
    }
    if ((r = vdk_node_pread (n->file, span, hi - lo, lo)) < 0)
      goto out;
    for (size_t i = 0; i < ncl; i++)
      p.in[i] = span + (p.coff[i] - lo);
  }
  else {
    if (!(bufs = calloc (ncl, sizeof *bufs))) {
      r = vdk_err (ENOMEM, "out of memory");
      goto out;
    }
    for (size_t i = 0; i < ncl; i++) {
      if (!(bufs[i] = malloc (p.clen[i]))) {
        r = vdk_err (ENOMEM, "out of memory");
        goto out;
      }
      if ((r = vdk_node_pread (n->file, bufs[i], p.clen[i], p.coff[i])) < 0)
        goto out;
      p.in[i] = bufs[i];
    }
  }
  p.out = out;
  pthread_mutex_init (&p.err_lock, NULL);
  r = par_run (ncl, dpar_item, dpar_tls_free, &p);
  pthread_mutex_destroy (&p.err_lock);
  if (r == 0 && p.err)
    r = vdk_err (-p.err, "%s", p.msg ? p.msg : "decompression failed");
 out:
  if (bufs)
    for (size_t i = 0; i < ncl; i++)
      free (bufs[i]);
  free (bufs);
  free (span);
  free (p.msg);
  free (p.in);
  free (p.coff);
  free (p.clen);
  return r;
}

/* Produce the guest bytes of a run of compressed clusters (qcow2_map
 * returns runs): whole clusters are decoded in parallel straight into BUF,
 * partial ones through the one-cluster cache. */
int
qcow2_read_encoded (struct vdk_node *n, uint64_t off, size_t len, void *vbuf)
{
  struct qcow2 *s = n->priv;
  uint8_t *buf = vbuf;
  int r;

  while (len > 0) {
    uint64_t l2off, entry, in = qcow2_offset_into_cluster (s, off);
    uint64_t l2end = ((off >> (s->cluster_bits + s->l2_bits)) + 1) << (s->cluster_bits + s->l2_bits);
    uint8_t *l2;
    size_t l;

    if ((r = get_l2 (n, off, &l2, &l2off)) < 0)
      return r;
    if (!l2)
      return vdk_err (EIO, "%s: internal error: compressed cluster vanished", n->filename);
    if (in == 0 && len >= 2 * s->cluster_size) {
      /* at most 8 MiB of clusters at once: bounds the input buffer a
       * hostile image can ask for (each input is at most 2 clusters) */
      size_t ncl = VDK_MIN (VDK_MIN (len, l2end - off), VDK_MAX (8u << 20, s->cluster_size))
                   >> s->cluster_bits;
      if ((r = decode_clusters (n, l2, off, ncl, buf)) < 0)
        return r;
      l = ncl << s->cluster_bits;
    }
    else {
      entry = qcow2_l2_entry (s, l2, qcow2_l2_index (s, off));
      l = VDK_MIN (len, s->cluster_size - in);
      if (!(entry & QCOW2_OFLAG_COMPRESSED))
        return vdk_err (EIO, "%s: internal error: bad compressed read", n->filename);
      if (s->zc_entry != entry) {
        s->zc_entry = 0;
        if ((r = qcow2_decompress (n, entry, s->zc_buf)) < 0)
          return r;
        s->zc_entry = entry;
      }
      memcpy (buf, s->zc_buf + in, l);
    }
    buf += l;
    off += l;
    len -= l;
  }
  return 0;
}

/* Read the guest range with the lock held (copy-on-write sources). */
static int
read_guest_locked (struct vdk_node *n, uint8_t *buf, uint64_t len, uint64_t off)
{
  while (len > 0) {
    struct vdk_extent e;
    int r;
    if (off >= n->size) {
      memset (buf, 0, len);
      return 0;
    }
    memset (&e, 0, sizeof e);
    if ((r = qcow2_map (n, off, VDK_MIN (len, n->size - off), &e)) < 0)
      return r;
    switch (e.kind) {
    case VDK_EXT_DATA:
      r = vdk_node_pread (e.child ? e.child : n->file, buf, e.len, e.host);
      break;
    case VDK_EXT_ZERO:
      memset (buf, 0, e.len);
      break;
    case VDK_EXT_UNALLOC:
      r = vdk_node_read_backing (n, buf, e.len, off);
      break;
    case VDK_EXT_ENCODED:
      r = qcow2_read_encoded (n, off, e.len, buf);
      break;
    }
    if (r < 0)
      return r;
    buf += e.len;
    off += e.len;
    len -= e.len;
  }
  return 0;
}

/* ---- L1 ------------------------------------------------------------------ */

int
qcow2_write_l1_entry (struct vdk_node *n, uint64_t idx)
{
  struct qcow2 *s = n->priv;
  uint8_t raw[8];
  vdk_put_be64 (raw, s->l1[idx]);
  return vdk_node_pwrite (n->file, raw, 8, s->l1_table_offset + idx * 8, 0);
}

/* Grow the active L1 table to at least MIN_SIZE entries: new table written
 * and flushed, header switched, old table freed. */
int
qcow2_grow_l1 (struct vdk_node *n, uint64_t min_size)
{
  struct qcow2 *s = n->priv;
  uint64_t new_size = min_size, bytes;
  uint64_t *nl1;
  uint8_t *raw;
  int64_t off;
  int r;

  if (min_size <= s->l1_size)
    return 0;
  if (min_size * 8 > QCOW2_MAX_L1_BYTES)
    return vdk_err (EFBIG, "%s: L1 table would be too large", n->filename);
  bytes = VDK_ROUND_UP (new_size * 8, s->cluster_size);
  new_size = bytes / 8;
  if (new_size * 8 > QCOW2_MAX_L1_BYTES)
    new_size = min_size;
  nl1 = calloc (bytes / 8, 8);
  raw = calloc (1, bytes);
  if (!nl1 || !raw) {
    free (nl1);
    free (raw);
    return vdk_err (ENOMEM, "out of memory");
  }
  if (s->l1_size)
    memcpy (nl1, s->l1, (size_t) s->l1_size * 8);
  for (uint64_t i = 0; i < new_size; i++)
    vdk_put_be64 (raw + i * 8, nl1[i]);
  off = qcow2_alloc_clusters (n, bytes);
  if (off < 0) {
    r = off;
    goto out;
  }
  if ((r = vdk_node_pwrite (n->file, raw, bytes, off, 0)) < 0 ||
      (r = vdk_node_flush (n->file)) < 0)
    goto out;
  {
    uint64_t old_off = s->l1_table_offset, old_size = s->l1_size;
    s->l1_table_offset = off;
    s->l1_size = new_size;
    if ((r = qcow2_write_header_fields (n)) < 0 || (r = vdk_node_flush (n->file)) < 0) {
      s->l1_table_offset = old_off;
      s->l1_size = old_size;
      goto out;
    }
    free (s->l1);
    s->l1 = nl1;
    nl1 = NULL;
    if (old_size)
      qcow2_free_clusters (n, old_off, old_size * 8);
  }
 out:
  free (nl1);
  free (raw);
  return r;
}

/* Make the L2 table covering OFF exist and be ours alone (COPIED). */
static int
l2_for_write (struct vdk_node *n, uint64_t off, uint64_t *l2off_out)
{
  struct qcow2 *s = n->priv;
  uint64_t l1i = qcow2_l1_index (s, off), old, oldoff, rc;
  uint8_t *l2, *buf;
  int64_t noff;
  int r;

  if (l1i >= s->l1_size && (r = qcow2_grow_l1 (n, l1i + 1)) < 0)
    return r;
  old = s->l1[l1i];
  oldoff = old & QCOW2_L1E_OFFSET_MASK;
  if (oldoff && (old & QCOW2_OFLAG_COPIED)) {
    *l2off_out = oldoff;
    return 0;
  }
  if (oldoff) {
    if ((r = qcow2_get_refcount (n, oldoff >> s->cluster_bits, &rc)) < 0)
      return r;
    if (rc == 1) {
      s->l1[l1i] = oldoff | QCOW2_OFLAG_COPIED;
      if ((r = qcow2_write_l1_entry (n, l1i)) < 0)
        return r;
      *l2off_out = oldoff;
      return 0;
    }
  }
  buf = calloc (1, s->cluster_size);
  if (!buf)
    return vdk_err (ENOMEM, "out of memory");
  if (oldoff) {
    if ((r = qcow2_l2_load (n, oldoff, &l2)) < 0)
      goto out;
    memcpy (buf, l2, s->cluster_size);
  }
  noff = qcow2_alloc_clusters (n, s->cluster_size);
  if (noff < 0) {
    r = noff;
    goto out;
  }
  qcow2_l2_drop (n, noff);
  if ((r = vdk_node_pwrite (n->file, buf, s->cluster_size, noff, 0)) < 0 ||
      (r = vdk_node_flush (n->file)) < 0)
    goto out;
  s->l1[l1i] = (uint64_t) noff | QCOW2_OFLAG_COPIED;
  if ((r = qcow2_write_l1_entry (n, l1i)) < 0) {
    s->l1[l1i] = old;
    goto out;
  }
  if (oldoff)
    qcow2_free_clusters (n, oldoff, s->cluster_size);
  *l2off_out = noff;
 out:
  free (buf);
  return r;
}

/* ---- allocation ------------------------------------------------------------ */

/* What alloc_commit has to do travels in the extent's cookie, so several
 * allocations may be in flight at once (VDK_FMT_ASYNC_ALLOC): the first new
 * host cluster (cluster aligned), the number of clusters - 1 in bits 1-6
 * and REUSE in bit 0 (the host cluster is the entry's own, preallocated
 * one: nothing to release).  The clusters are reserved (refcounts written)
 * in alloc; alloc_commit links them.  The core never lets two allocations
 * of one cluster overlap, so the entries alloc_commit replaces are those
 * alloc saw. */
#define PEND_REUSE 1u
#define PEND_MAX 64u

static uint64_t
pend_cookie (uint64_t host, uint64_t count, bool reuse)
{
  return host | ((count - 1) << 1) | (reuse ? PEND_REUSE : 0);
}

static int
set_dirty (struct vdk_node *n)
{
  struct qcow2 *s = n->priv;
  int r;

  if (s->autoclear & QCOW2_AUTOCLEAR_BITMAPS) {
    /* we do not update persistent bitmaps: mark them inconsistent */
    s->autoclear &= ~QCOW2_AUTOCLEAR_BITMAPS;
    if ((r = qcow2_write_header_fields (n)) < 0 || (r = vdk_node_flush (n->file)) < 0)
      return r;
  }
  if (s->dirty_set || !(s->compat & QCOW2_COMPAT_LAZY_REFCOUNTS) || s->version < 3)
    return 0;
  s->incompat |= QCOW2_INCOMPAT_DIRTY;
  if ((r = qcow2_write_header_fields (n)) < 0 || (r = vdk_node_flush (n->file)) < 0)
    return r;
  s->dirty_set = true;
  return 0;
}

/* Release what an old L2 entry pointed at. */
static void
free_old_entry (struct vdk_node *n, uint64_t entry)
{
  struct qcow2 *s = n->priv;
  enum qcow2_ctype t = qcow2_cluster_type (n, entry);

  if (t == QCOW2_C_COMPRESSED) {
    uint64_t h, l;
    qcow2_compressed_range (s, entry, &h, &l);
    qcow2_free_clusters (n, h & ~511ULL, l + (h & 511));
  }
  else if ((t == QCOW2_C_NORMAL || t == QCOW2_C_ZERO_ALLOC) && !s->data_node)
    qcow2_free_clusters (n, entry & QCOW2_L2E_OFFSET_MASK, s->cluster_size);
}

static bool
needs_new_cluster (struct vdk_node *n, uint64_t entry, uint64_t bitmap)
{
  struct qcow2 *s = n->priv;
  enum qcow2_ctype t = qcow2_cluster_type (n, entry);

  (void) bitmap;
  if (t == QCOW2_C_NORMAL && (entry & QCOW2_OFLAG_COPIED))
    return false;
  if (t == QCOW2_C_ZERO_ALLOC && (entry & QCOW2_OFLAG_COPIED))
    return false;
  if (s->data_node && t != QCOW2_C_COMPRESSED)
    return false;   /* host = guest offset in the data file */
  return true;
}

int
qcow2_alloc (struct vdk_node *n, uint64_t off, uint64_t len, struct vdk_extent *e)
{
  struct qcow2 *s = n->priv;
  uint64_t cs = s->cluster_size, l2off, idx, in, entry, bitmap, cstart;
  uint8_t *l2;
  int r;

  if (s->incompat & QCOW2_INCOMPAT_CORRUPT)
    return vdk_err (EIO, "%s: image is marked corrupt; writes are refused", n->filename);
  if ((r = set_dirty (n)) < 0)
    return r;
  if ((r = l2_for_write (n, off, &l2off)) < 0)
    return r;
  if ((r = qcow2_l2_load (n, l2off, &l2)) < 0)
    return r;
  idx = qcow2_l2_index (s, off);
  in = qcow2_offset_into_cluster (s, off);
  cstart = off - in;
  entry = qcow2_l2_entry (s, l2, idx);
  bitmap = qcow2_l2_bitmap (s, l2, idx);
  e->child = s->data_node;
  e->kind = VDK_EXT_DATA;

  if (!needs_new_cluster (n, entry, bitmap)) {
    enum qcow2_ctype t = qcow2_cluster_type (n, entry);
    uint64_t host;
    bool full = !s->extl2 || (bitmap & 0xffffffffULL) == 0xffffffffULL;

    if (s->data_node && t != QCOW2_C_NORMAL)
      host = cstart;    /* external data file: identity mapping */
    else if ((r = check_host (n, entry, &host)) < 0)
      return r;
    if (t == QCOW2_C_NORMAL && full) {
      /* in place; extend over following clusters that are the same */
      uint64_t end = VDK_MIN (off + len, cstart + cs), i = idx + 1;
      while (end < off + len && i < s->l2_entries) {
        uint64_t e2 = qcow2_l2_entry (s, l2, i), h2;
        if (qcow2_cluster_type (n, e2) != QCOW2_C_NORMAL || !(e2 & QCOW2_OFLAG_COPIED) ||
            (s->extl2 && (qcow2_l2_bitmap (s, l2, i) & 0xffffffffULL) != 0xffffffffULL))
          break;
        if ((r = check_host (n, e2, &h2)) < 0)
          return r;
        if (h2 != host + (end - off + in) - (end - off + in) % cs)
          break;
        end = VDK_MIN (off + len, end + cs);
        i++;
      }
      e->host = host + in;
      e->len = end - off;
      return 0;
    }
    /* A preallocated zero cluster, an identity-mapped data file cluster
     * not yet marked, or subclusters to fill: fill the rest of the cluster
     * from its current content, then switch the entry. */
    {
      uint64_t wend = VDK_MIN (off + len, cstart + cs);
      uint8_t *buf = malloc (cs);
      if (!buf)
        return vdk_err (ENOMEM, "out of memory");
      r = read_guest_locked (n, buf, cs, cstart);
      if (r == 0 && in > 0)
        r = vdk_node_pwrite (e->child ? e->child : n->file, buf, in, host, 0);
      if (r == 0 && wend < cstart + cs)
        r = vdk_node_pwrite (e->child ? e->child : n->file, buf + (wend - cstart),
                             cstart + cs - wend, host + (wend - cstart), 0);
      free (buf);
      if (r < 0)
        return r;
      e->host = host + in;
      e->len = wend - off;
      e->needs_commit = true;
      e->cookie = pend_cookie (host, 1, true);
      return 0;
    }
  }

  /* New clusters: as many as the request covers in this L2 table (max
   * PEND_MAX). */
  {
    uint64_t count = 1, end = off + len, wend;
    int64_t host;
    uint8_t *buf = NULL;

    while (count < PEND_MAX && idx + count < s->l2_entries && cstart + count * cs < end) {
      uint64_t e2 = qcow2_l2_entry (s, l2, idx + count);
      if (!needs_new_cluster (n, e2, qcow2_l2_bitmap (s, l2, idx + count)))
        break;
      count++;
    }
    wend = VDK_MIN (end, cstart + count * cs);
    host = qcow2_alloc_clusters (n, count * cs);
    if (host < 0)
      return host;
    if (in > 0 || (wend & (cs - 1))) {
      buf = malloc (cs);
      if (!buf)
        return vdk_err (ENOMEM, "out of memory");
    }
    if (in > 0) {
      r = read_guest_locked (n, buf, in, cstart);
      if (r == 0)
        r = vdk_node_pwrite (n->file, buf, in, host, 0);
    }
    if (r == 0 && (wend & (cs - 1))) {
      uint64_t lc = wend & ~(cs - 1), tail = lc + cs - wend;
      r = read_guest_locked (n, buf, tail, wend);
      if (r == 0)
        r = vdk_node_pwrite (n->file, buf, tail, host + (wend - cstart), 0);
    }
    free (buf);
    if (r < 0) {
      qcow2_free_clusters (n, host, count * cs);
      return r;
    }
    e->host = host + in;
    e->len = wend - off;
    e->needs_commit = true;
    e->cookie = pend_cookie ((uint64_t) host, count, false);
    return 0;
  }
}

/* Point COUNT consecutive entries from IDX at HOST, HOST + cluster size, ...
 * (COPIED): with one write, or DEFER them (in the cache, dirty). */
static int
l2_set_run (struct vdk_node *n, uint64_t l2_offset, uint64_t idx, uint64_t count,
            uint64_t host, uint64_t bitmap, bool defer)
{
  struct qcow2 *s = n->priv;
  uint64_t es = s->l2_entry_size;
  uint8_t *l2, raw[PEND_MAX * 16];
  int r;

  if (count > PEND_MAX || es > 16)
    return vdk_err (EIO, "%s: internal error: L2 run too long", n->filename);
  if ((r = qcow2_l2_load (n, l2_offset, &l2)) < 0)
    return r;
  for (uint64_t i = 0; i < count; i++) {
    vdk_put_be64 (raw + i * es, (host + i * s->cluster_size) | QCOW2_OFLAG_COPIED);
    if (es == 16)
      vdk_put_be64 (raw + i * es + 8, bitmap);
  }
  if (defer) {
    struct qcow2_l2_slot *sl = find_slot (s, l2_offset);
    if (!sl || sl->data != l2)
      return vdk_err (EIO, "%s: internal error: L2 table not cached", n->filename);
    memcpy (l2 + idx * es, raw, count * es);
    slot_mark_dirty (s, sl, idx, count);
    return 0;
  }
  r = vdk_node_pwrite (n->file, raw, count * es, l2_offset + idx * es, 0);
  if (r < 0) {
    l2_write_failed (n, l2_offset, idx, count);
    return r;
  }
  memcpy (l2 + idx * es, raw, count * es);
  return 0;
}

int
qcow2_alloc_commit (struct vdk_node *n, const struct vdk_extent *e)
{
  struct qcow2 *s = n->priv;
  uint64_t host = e->cookie & ~(uint64_t) 511, count = ((e->cookie >> 1) & (PEND_MAX - 1)) + 1;
  uint64_t idx = qcow2_l2_index (s, e->off), l2off, old[PEND_MAX];
  bool reuse = e->cookie & PEND_REUSE, defer;
  uint8_t *l2;
  int r;

  if ((host & (s->cluster_size - 1)) || idx + count > s->l2_entries)
    return vdk_err (EIO, "%s: internal error: stray allocation commit", n->filename);
  /* the L2 table alloc made writable (normally still the same one) */
  if ((r = l2_for_write (n, e->off, &l2off)) < 0 || (r = qcow2_l2_load (n, l2off, &l2)) < 0)
    return r;
  /* deferred (see qcow2_l2_writeback) unless something is released or the
   * write must be durable at once */
  defer = !s->data_node && !e->fua && !(n->flags & VDK_O_WRITETHROUGH);
  for (uint64_t i = 0; i < count; i++) {
    enum qcow2_ctype t;
    old[i] = qcow2_l2_entry (s, l2, idx + i);
    t = qcow2_cluster_type (n, old[i]);
    if (!reuse && t != QCOW2_C_UNALLOC && t != QCOW2_C_ZERO_PLAIN)
      defer = false;
  }
  if (!defer) {
    /* refcounts and data on disk before the L2 entry points at them */
    if (!s->data_node || !reuse)
      if ((r = vdk_node_flush (n->file)) < 0)
        return r;
    if (s->data_node && (r = vdk_node_flush (s->data_node)) < 0)
      return r;
  }
  if ((r = l2_set_run (n, l2off, idx, count, host, s->extl2 ? 0xffffffffULL : 0, defer)) < 0)
    return r;
  /* a FUA write: the link durable too (a writethrough file already is) */
  if (e->fua && !(n->file->flags & VDK_O_WRITETHROUGH) && (r = vdk_node_flush (n->file)) < 0)
    return r;
  if (!reuse)
    for (uint64_t i = 0; i < count; i++)
      free_old_entry (n, old[i]);
  s->zc_entry = 0;
  return 0;
}

/* Write guest data with the lock held (used for zeroing partial clusters). */
static int
write_guest_locked (struct vdk_node *n, const uint8_t *buf, uint64_t len, uint64_t off)
{
  while (len > 0) {
    struct vdk_extent e;
    int r;
    memset (&e, 0, sizeof e);
    if ((r = qcow2_alloc (n, off, len, &e)) < 0)
      return r;
    e.off = off;
    r = vdk_node_pwrite (e.child ? e.child : n->file, buf, e.len, e.host, 0);
    if (r == 0 && e.needs_commit)
      r = qcow2_alloc_commit (n, &e);
    if (r < 0)
      return r;
    buf += e.len;
    off += e.len;
    len -= e.len;
  }
  return 0;
}

/* Set whole clusters [off, off+len) to NEW_ENTRY/NEW_BITMAP, freeing what
 * they pointed at. */
static int
set_clusters (struct vdk_node *n, uint64_t off, uint64_t len, bool zero)
{
  struct qcow2 *s = n->priv;
  uint64_t cs = s->cluster_size;
  int r;

  for (uint64_t c = off; c < off + len; c += cs) {
    uint64_t l2off, idx, old, oldb, ne, nb;
    uint8_t *l2;
    if (!zero && !n->backing) {
      /* discard without backing: skip tables that do not exist */
      uint64_t l1i = qcow2_l1_index (s, c);
      if (l1i >= s->l1_size || !(s->l1[l1i] & QCOW2_L1E_OFFSET_MASK))
        continue;
    }
    if ((r = l2_for_write (n, c, &l2off)) < 0 || (r = qcow2_l2_load (n, l2off, &l2)) < 0)
      return r;
    idx = qcow2_l2_index (s, c);
    old = qcow2_l2_entry (s, l2, idx);
    oldb = qcow2_l2_bitmap (s, l2, idx);
    if (s->extl2) {
      ne = 0;
      nb = zero ? 0xffffffff00000000ULL : 0;
    }
    else {
      ne = zero ? QCOW2_OFLAG_ZERO : 0;
      nb = 0;
    }
    if (old == ne && oldb == nb)
      continue;
    if ((r = qcow2_l2_set (n, l2off, idx, ne, nb)) < 0)
      return r;
    free_old_entry (n, old);
  }
  s->zc_entry = 0;
  return 0;
}

int
qcow2_write_zeroes (struct vdk_node *n, uint64_t off, uint64_t len, unsigned flags)
{
  struct qcow2 *s = n->priv;
  uint64_t cs = s->cluster_size, a, b;
  uint8_t *z;
  int r;

  (void) flags;
  if (s->data_file_raw || s->version < 3 || s->data_node)
    return -ENOTSUP;
  if (s->incompat & QCOW2_INCOMPAT_CORRUPT)
    return vdk_err (EIO, "%s: image is marked corrupt; writes are refused", n->filename);
  if ((r = set_dirty (n)) < 0)
    return r;
  a = VDK_ROUND_UP (off, cs);
  b = VDK_ROUND_DOWN (off + len, cs);
  if (off + len == n->size)
    b = VDK_ROUND_UP (off + len, cs);   /* the last partial cluster */
  z = calloc (1, cs);
  if (!z)
    return vdk_err (ENOMEM, "out of memory");
  r = 0;
  {
    uint64_t end = off + len, head_end = VDK_MIN (a, end), tail;
    for (uint64_t p = off; r == 0 && p < head_end; p += cs)
      r = write_guest_locked (n, z, VDK_MIN (cs, head_end - p), p);
    if (r == 0 && a < b)
      r = set_clusters (n, a, b - a, true);
    tail = VDK_MAX (VDK_MAX (b, head_end), off);
    for (uint64_t p = tail; r == 0 && p < end; p += cs)
      r = write_guest_locked (n, z, VDK_MIN (cs, end - p), p);
  }
  free (z);
  return r;
}

int
qcow2_discard (struct vdk_node *n, uint64_t off, uint64_t len)
{
  struct qcow2 *s = n->priv;
  uint64_t cs = s->cluster_size, a = VDK_ROUND_UP (off, cs), b = VDK_ROUND_DOWN (off + len, cs);

  if (s->data_file_raw || s->data_node)
    return -ENOTSUP;
  if (off + len == n->size)
    b = VDK_ROUND_UP (off + len, cs);
  if (a >= b)
    return 0;
  /* with a backing file, discarded clusters must read as zero (v3) */
  if (n->backing && s->version < 3)
    return -ENOTSUP;
  return set_clusters (n, a, b - a, n->backing != NULL);
}

/* Make every cluster unallocated, so reads fall through to the backing file
 * (commit empties the image it committed).  Only existing L2 tables are
 * visited; their entries are cleared and what they pointed at is freed. */
int
qcow2_make_empty (struct vdk_node *n)
{
  struct qcow2 *s = n->priv;
  uint64_t span = s->cluster_size * s->l2_entries;
  int r;

  if ((r = qcow2_l2_writeback (n)) < 0)   /* deferred L2 entries first */
    return r;
  if (s->data_file_raw || s->data_node)
    return vdk_err (ENOTSUP, "%s: an image with an external data file cannot be emptied",
                    n->filename);
  if (s->incompat & QCOW2_INCOMPAT_CORRUPT)
    return vdk_err (EIO, "%s: image is marked corrupt; writes are refused", n->filename);
  if ((r = set_dirty (n)) < 0)
    return r;
  for (uint64_t i = 0; i < s->l1_size; i++) {
    uint64_t start = i * span, len;
    if (!(s->l1[i] & QCOW2_L1E_OFFSET_MASK) || start >= n->size)
      continue;
    len = VDK_MIN (span, VDK_ROUND_UP (n->size, s->cluster_size) - start);
    if ((r = set_clusters (n, start, len, false)) < 0)
      return r;
  }
  return 0;
}

/* ---- compressed writes ----------------------------------------------------- */

static int
compress_cluster (struct vdk_node *n, const uint8_t *in, uint8_t *out, size_t *outlen)
{
  struct qcow2 *s = n->priv;
  size_t cs = s->cluster_size;

  if (s->compression_type == QCOW2_COMPRESSION_ZLIB) {
    z_stream z;
    int zr;
    memset (&z, 0, sizeof z);
    if (deflateInit2 (&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) != Z_OK)
      return vdk_err (ENOMEM, "%s: zlib initialisation failed", n->filename);
    z.next_in = (uint8_t *) in;
    z.avail_in = cs;
    z.next_out = out;
    z.avail_out = cs;
    zr = deflate (&z, Z_FINISH);
    *outlen = zr == Z_STREAM_END ? cs - z.avail_out : cs;
    deflateEnd (&z);
  }
  else {
    size_t zr = ZSTD_compress (out, cs, in, cs, ZSTD_CLEVEL_DEFAULT);
    *outlen = ZSTD_isError (zr) ? cs : zr;
  }
  return 0;
}

/* Compress every cluster of a request at once on all CPUs (compression is
 * a pure function of the data; allocation and writing stay sequential in
 * the caller, under the node lock).  The last cluster may be partial: it is
 * padded with zeroes. */
struct zpar {
  struct vdk_node *n;
  const uint8_t *buf;
  size_t len, ncl;
  uint8_t *outs;        /* ncl * cluster_size */
  size_t *clens;
  int err;
};

static void
zpar_item (void *ctx, size_t i, void **tls)
{
  struct zpar *z = ctx;
  struct qcow2 *s = z->n->priv;
  size_t cs = s->cluster_size, l = VDK_MIN (z->len - i * cs, cs);
  const uint8_t *in = z->buf + i * cs;

  if (l < cs) {
    /* the last cluster may be partial: pad it with zeroes */
    if (!*tls && !(*tls = malloc (cs))) {
      __atomic_store_n (&z->err, -ENOMEM, __ATOMIC_RELAXED);
      return;
    }
    memcpy (*tls, in, l);
    memset ((uint8_t *) *tls + l, 0, cs - l);
    in = *tls;
  }
  if (compress_cluster (z->n, in, z->outs + i * cs, &z->clens[i]) < 0)
    __atomic_store_n (&z->err, -EIO, __ATOMIC_RELAXED);
}

static int
compress_all (struct vdk_node *n, const uint8_t *buf, size_t len, uint8_t **outs,
              size_t **clens)
{
  struct qcow2 *s = n->priv;
  size_t cs = s->cluster_size;
  struct zpar z = { .n = n, .buf = buf, .len = len, .ncl = (len + cs - 1) / cs };
  int r;

  z.outs = malloc (z.ncl * cs);
  z.clens = calloc (z.ncl, sizeof *z.clens);
  if (!z.outs || !z.clens) {
    free (z.outs);
    free (z.clens);
    return vdk_err (ENOMEM, "out of memory");
  }
  r = par_run (z.ncl, zpar_item, free, &z);
  if (r == 0 && z.err)
    r = vdk_err (-z.err, "%s: compression failed", n->filename);
  if (r < 0) {
    free (z.outs);
    free (z.clens);
    return r;
  }
  *outs = z.outs;
  *clens = z.clens;
  return 0;
}

/* Link a batch of compressed clusters whose data is written: one flush
 * (refcounts and data on disk), then the L2 entries, then the old clusters
 * are released. */
struct zbatch {
  size_t n;
  uint64_t off[256], entry[256];
};

static int
zbatch_commit (struct vdk_node *n, struct zbatch *b)
{
  struct qcow2 *s = n->priv;
  int r = 0;

  if (b->n == 0)
    return 0;
  if ((r = vdk_node_flush (n->file)) < 0)
    goto out;
  for (size_t i = 0; i < b->n; i++) {
    uint64_t l2off = s->l1[qcow2_l1_index (s, b->off[i])] & QCOW2_L1E_OFFSET_MASK;
    uint64_t idx = qcow2_l2_index (s, b->off[i]), old;
    uint8_t *l2;
    if ((r = qcow2_l2_load (n, l2off, &l2)) < 0)
      goto out;
    old = qcow2_l2_entry (s, l2, idx);
    if ((r = qcow2_l2_set (n, l2off, idx, b->entry[i], 0)) < 0)
      goto out;
    free_old_entry (n, old);
  }
 out:
  b->n = 0;
  s->zc_entry = 0;
  return r;
}

int
qcow2_pwrite_compressed (struct vdk_node *n, const void *vbuf, size_t len, uint64_t off)
{
  struct qcow2 *s = n->priv;
  const uint8_t *buf = vbuf;
  uint64_t cs = s->cluster_size;
  struct zbatch *b;
  uint8_t *out;
  const uint8_t *pbuf = NULL;   /* a pending run of incompressible clusters */
  uint64_t poff = 0, plen = 0;
  uint8_t *zouts = NULL;        /* every cluster compressed up front */
  size_t *zlens = NULL, zi = 0;
  int r = 0;

  if (s->data_node)
    return vdk_err (ENOTSUP, "%s: compressed writes are not possible with an external data file",
                    n->filename);
  if (off & (cs - 1))
    return vdk_err (EINVAL, "%s: compressed writes must be cluster aligned", n->filename);
  if (s->incompat & QCOW2_INCOMPAT_CORRUPT)
    return vdk_err (EIO, "%s: image is marked corrupt; writes are refused", n->filename);
  if ((r = set_dirty (n)) < 0)
    return r;
  b = calloc (1, sizeof *b);
  if (!b) {
    r = vdk_err (ENOMEM, "out of memory");
    goto out;
  }
  if ((r = compress_all (n, buf, len, &zouts, &zlens)) < 0)
    goto out;
  while (len > 0 && r == 0) {
    size_t l = VDK_MIN (len, (size_t) cs), clen = zlens[zi];
    uint64_t l2off, coff, nsec;
    int64_t host;

    out = zouts + zi * cs;
    zi++;
    if (clen >= cs || (l < cs && off + l != n->size)) {
      /* incompressible: store it plainly, contiguous ones together */
      if (plen && poff + plen != off) {
        r = write_guest_locked (n, pbuf, plen, poff);
        plen = 0;
      }
      if (!plen) {
        pbuf = buf;
        poff = off;
      }
      plen += l;
      goto next;
    }
    if ((r = l2_for_write (n, off, &l2off)) < 0)
      break;
    /* Pack back to back like qemu: into the rest of the current host
     * cluster, spanning into newly allocated clusters when they follow it
     * directly.  Every host cluster a compressed cluster touches holds one
     * reference for it. */
    if (s->zfree && cs - (s->zfree & (cs - 1)) >= clen) {
      coff = s->zfree;
      if ((r = qcow2_update_refcount (n, coff & ~(cs - 1), 1, 1)) < 0)
        break;
    }
    else {
      uint64_t room = s->zfree ? cs - (s->zfree & (cs - 1)) : 0;
      host = qcow2_alloc_clusters (n, clen - room);
      if (host < 0) {
        r = host;
        break;
      }
      if (room && (uint64_t) host == (s->zfree | (cs - 1)) + 1) {
        coff = s->zfree;
        if ((r = qcow2_update_refcount (n, coff & ~(cs - 1), 1, 1)) < 0)
          break;
      }
      else if ((clen + cs - 1) / cs > (clen - room + cs - 1) / cs) {
        /* not contiguous, and the run is one cluster short for a fresh
         * start: take a new run for the whole compressed cluster */
        if ((r = qcow2_free_clusters (n, host, clen - room)) < 0)
          break;
        host = qcow2_alloc_clusters (n, clen);
        if (host < 0) {
          r = host;
          break;
        }
        coff = host;
      }
      else
        coff = host;
    }
    s->zfree = (coff + clen) & (cs - 1) ? coff + clen : 0;
    if ((r = vdk_node_pwrite (n->file, out, clen, coff, 0)) < 0)
      break;
    nsec = ((coff + clen - 1) >> 9) - (coff >> 9);
    b->off[b->n] = off;
    b->entry[b->n] = QCOW2_OFLAG_COMPRESSED | (nsec << s->csize_shift) | coff;
    if (++b->n == VDK_ARRAY_SIZE (b->off))
      r = zbatch_commit (n, b);
  next:
    buf += l;
    off += l;
    len -= l;
  }
  if (r == 0 && plen)
    r = write_guest_locked (n, pbuf, plen, poff);
  if (r == 0)
    r = zbatch_commit (n, b);
 out:
  free (b);
  free (zouts);
  free (zlens);
  return r;
}

/* ---- preallocation and resize ------------------------------------------------ */

int
qcow2_preallocate (struct vdk_node *n, uint64_t from, uint64_t to, enum vdk_prealloc p)
{
  struct qcow2 *s = n->priv;
  uint64_t cs = s->cluster_size;
  int r;

  if (p == VDK_PREALLOC_OFF)
    return 0;
  for (uint64_t off = VDK_ROUND_DOWN (from, cs); off < to; ) {
    uint64_t l2off, idx, entry;
    uint8_t *l2;
    uint64_t count = 0;
    int64_t host = 0;

    if ((r = l2_for_write (n, off, &l2off)) < 0 || (r = qcow2_l2_load (n, l2off, &l2)) < 0)
      return r;
    idx = qcow2_l2_index (s, off);
    entry = qcow2_l2_entry (s, l2, idx);
    if (qcow2_cluster_type (n, entry) != QCOW2_C_UNALLOC &&
        !(s->data_node && !(entry & QCOW2_OFLAG_COPIED) && !(entry & QCOW2_L2E_OFFSET_MASK))) {
      off += cs;
      continue;
    }
    /* a run of clusters up to the end of this L2 table */
    while (idx + count < s->l2_entries && off + count * cs < to &&
           qcow2_cluster_type (n, qcow2_l2_entry (s, l2, idx + count)) == QCOW2_C_UNALLOC)
      count++;
    if (!s->data_node) {
      host = qcow2_alloc_clusters (n, count * cs);
      if (host < 0)
        return host;
      if (p == VDK_PREALLOC_FULL || p == VDK_PREALLOC_FALLOC) {
        /* make the file cover the clusters (zeroes) */
        if ((r = vdk_node_write_zeroes (n->file, host, count * cs, 0)) < 0)
          return r;
      }
      else if ((uint64_t) host + count * cs > n->file->size) {
        if ((r = vdk_node_truncate (n->file, host + count * cs, VDK_PREALLOC_OFF, false)) < 0)
          return r;
      }
      if ((r = vdk_node_flush (n->file)) < 0)
        return r;
    }
    else
      host = off;
    for (uint64_t i = 0; i < count; i++) {
      uint64_t ne = (host + i * cs) | QCOW2_OFLAG_COPIED;
      /* metadata preallocation: reads stay zero (v3 zero flag / ext L2) */
      if (s->extl2)
        r = qcow2_l2_set (n, l2off, idx + i, ne,
                          s->data_file_raw ? 0 : 0xffffffff00000000ULL);
      else if (s->version >= 3 && !s->data_file_raw && p == VDK_PREALLOC_METADATA &&
               !s->data_node)
        r = qcow2_l2_set (n, l2off, idx + i, ne, 0);
      else
        r = qcow2_l2_set (n, l2off, idx + i, ne, 0);
      if (r < 0)
        return r;
    }
    off += count * cs;
  }
  return 0;
}

/* Take the L2 table of L1 entry IDX out of the active tree (a shrink): the
 * entry is cleared first, so that a crash leaks clusters instead of
 * leaving references to freed ones, then the table's clusters and the table
 * lose the active tree's reference (those internal snapshots share keep
 * theirs). */
static int
drop_l2_table (struct vdk_node *n, uint64_t idx)
{
  struct qcow2 *s = n->priv;
  uint64_t l2off = s->l1[idx] & QCOW2_L1E_OFFSET_MASK, old = s->l1[idx];
  uint8_t *l2, *copy;
  int r;

  if (!l2off)
    return 0;
  if ((r = qcow2_l2_load (n, l2off, &l2)) < 0)
    return r;
  /* freeing updates refcounts, which may evict the table from the cache */
  copy = malloc (s->cluster_size);
  if (!copy)
    return vdk_err (ENOMEM, "out of memory");
  memcpy (copy, l2, s->cluster_size);
  s->l1[idx] = 0;
  if ((r = qcow2_write_l1_entry (n, idx)) < 0 || (r = vdk_node_flush (n->file)) < 0) {
    s->l1[idx] = old;
    free (copy);
    return r;
  }
  for (uint64_t i = 0; i < s->l2_entries; i++)
    free_old_entry (n, qcow2_l2_entry (s, copy, i));
  free (copy);
  qcow2_l2_drop (n, l2off);
  s->zc_entry = 0;
  return qcow2_free_clusters (n, l2off, s->cluster_size);
}

int
qcow2_truncate (struct vdk_node *n, uint64_t size, enum vdk_prealloc p, bool shrink)
{
  struct qcow2 *s = n->priv;
  uint64_t old = s->size, cs = s->cluster_size;
  uint64_t l1_need = (size + (cs << s->l2_bits) - 1) >> (s->cluster_bits + s->l2_bits);
  int r;

  if ((r = qcow2_l2_writeback (n)) < 0)   /* deferred L2 entries first */
    return r;
  if (s->data_file_raw)
    return vdk_err (ENOTSUP, "%s: cannot resize an image with a raw external data file",
                    n->filename);
  if (size & 511)
    return vdk_err (EINVAL, "%s: The new size must be a multiple of 512", n->filename);
  if (size < old) {
    if (!shrink)
      return vdk_err (EINVAL, "%s: Use the --shrink option to perform a shrink operation",
                      n->filename);
    if (s->version < 3 && n->backing)
      return vdk_err (ENOTSUP, "%s: cannot shrink a compat=0.10 image with a backing file",
                      n->filename);
    /* drop the clusters past the new end: those in the last L2 table one
     * by one, then the L2 tables past it whole */
    {
      uint64_t a = VDK_ROUND_UP (size, cs);
      uint64_t tables_end = l1_need << (s->cluster_bits + s->l2_bits);
      uint64_t e = VDK_MIN (VDK_ROUND_UP (old, cs), tables_end);
      if (a < e && (r = set_clusters (n, a, e - a, false)) < 0)
        return r;
      for (uint64_t i = l1_need; i < s->l1_size; i++)
        if ((r = drop_l2_table (n, i)) < 0)
          return r;
      if (size & (cs - 1)) {
        /* the tail of the last cluster must read as zero if grown again */
        uint64_t t = VDK_MIN (a, old) - size;
        uint8_t *z = calloc (1, t ? t : 1);
        if (!z)
          return vdk_err (ENOMEM, "out of memory");
        r = t ? write_guest_locked (n, z, t, size) : 0;
        free (z);
        if (r < 0)
          return r;
      }
    }
  }
  else if (l1_need > s->l1_size && (r = qcow2_grow_l1 (n, l1_need)) < 0)
    return r;
  if (s->data_node && (r = vdk_node_truncate (s->data_node, size, VDK_PREALLOC_OFF, true)) < 0)
    return r;
  s->size = size;
  n->size = size;
  if ((r = qcow2_write_header_fields (n)) < 0 || (r = vdk_node_flush (n->file)) < 0)
    return r;
  if (size > old && p != VDK_PREALLOC_OFF)
    return qcow2_preallocate (n, old, size, p);
  return 0;
}
