/* The VHDX metadata log: finding and replaying the active sequence of a dirty
 * log on open, and writing metadata updates through the log.
 *
 * The log is a circular buffer of 4 KiB sectors.  An entry is a header sector
 * (64-byte header, then 32-byte descriptors, continued in more sectors if
 * needed) followed by one data sector per data descriptor.  A data sector
 * holds bytes 8..4091 of the 4 KiB it restores; the first 8 and last 4 bytes
 * are in its descriptor, so every log sector starts with a signature.  The
 * entry's CRC-32C covers all its sectors.  Entries are valid only when their
 * log GUID matches the header's; the active sequence is the run of valid
 * entries with consecutive sequence numbers that ends with the highest one.
 *
 * Our writer: every update gets a fresh log GUID (set in both headers), one
 * entry at the start of the log, a flush, the in-place writes, a flush, and
 * the log GUID cleared again, so a crash at any point leaves either the old
 * metadata, or a log whose replay gives the new one. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vhdx.h"

enum {
  L_SIG = 0, L_CSUM = 4, L_ENTRY_LEN = 8, L_TAIL = 12, L_SEQ = 16, L_DESC_COUNT = 24,
  L_GUID = 32, L_FLUSHED = 48, L_LAST = 56, L_HDR_SIZE = 64,
};
enum { D_SIG = 0, D_TRAILING = 4, D_LEADING = 8, D_ZERO_LEN = 8, D_FILE_OFF = 16, D_SEQ = 24,
       D_SIZE = 32 };

struct entry_info {
  bool checked, ok;
  uint64_t seq;
  uint32_t nsec;       /* entry length in sectors */
  uint32_t tail;       /* sector index */
  int64_t next;        /* next entry in the same sequence, or -1 */
  int64_t end;         /* memo: last entry of the chain from here, or -1 */
};

struct log_ctx {
  struct vdk_node *n;
  struct vhdx_priv *p;
  const uint8_t *log;  /* the whole log */
  uint32_t nsec;
  struct entry_info *ei;
};

static const uint8_t *
log_sector (const struct log_ctx *c, uint64_t i)
{
  return c->log + (i % c->nsec) * VHDX_LOG_SECTOR;
}

static uint32_t
desc_sectors (uint32_t count)
{
  return (L_HDR_SIZE + (uint64_t) count * D_SIZE + VHDX_LOG_SECTOR - 1) / VHDX_LOG_SECTOR;
}

static const uint8_t *
descriptor (const struct log_ctx *c, uint32_t start, uint32_t k)
{
  uint64_t byte = L_HDR_SIZE + (uint64_t) k * D_SIZE;
  return log_sector (c, start + byte / VHDX_LOG_SECTOR) + byte % VHDX_LOG_SECTOR;
}

/* Is there a valid entry starting at log sector I? */
static bool
entry_valid (struct log_ctx *c, uint32_t i)
{
  struct entry_info *e = &c->ei[i];
  const uint8_t *h = log_sector (c, i);
  uint32_t len, count, ds, ndata = 0, crc;
  uint64_t seq;

  if (e->checked)
    return e->ok;
  e->checked = true;
  e->ok = false;
  if (memcmp (h + L_SIG, "loge", 4) != 0 ||
      memcmp (h + L_GUID, c->p->hdr + H_LOG_GUID, 16) != 0)
    return false;
  len = vdk_le32 (h + L_ENTRY_LEN);
  seq = vdk_le64 (h + L_SEQ);
  count = vdk_le32 (h + L_DESC_COUNT);
  if (len == 0 || len % VHDX_LOG_SECTOR || len / VHDX_LOG_SECTOR > c->nsec || seq == 0 ||
      vdk_le32 (h + L_TAIL) % VHDX_LOG_SECTOR || vdk_le32 (h + L_TAIL) >= c->p->log_length)
    return false;
  ds = desc_sectors (count);
  if (ds > len / VHDX_LOG_SECTOR)
    return false;
  for (uint32_t k = 0; k < count; k++) {
    const uint8_t *d = descriptor (c, i, k);
    if (vdk_le64 (d + D_SEQ) != seq || vdk_le64 (d + D_FILE_OFF) % VHDX_LOG_SECTOR)
      return false;
    if (memcmp (d, "desc", 4) == 0) {
      const uint8_t *s = log_sector (c, (uint64_t) i + ds + ndata);
      if (ds + ndata >= len / VHDX_LOG_SECTOR || memcmp (s, "data", 4) != 0 ||
          (((uint64_t) vdk_le32 (s + 4) << 32) | vdk_le32 (s + 4092)) != seq)
        return false;
      ndata++;
    }
    else if (memcmp (d, "zero", 4) == 0) {
      if (vdk_le64 (d + D_ZERO_LEN) % VHDX_LOG_SECTOR)
        return false;
    }
    else
      return false;
  }
  if (ds + ndata != len / VHDX_LOG_SECTOR)
    return false;
  crc = 0xffffffffu;
  for (uint32_t s = 0; s < len / VHDX_LOG_SECTOR; s++) {
    const uint8_t *sec = log_sector (c, (uint64_t) i + s);
    if (s == 0) {
      static const uint8_t zero4[4];
      crc = vhdx_crc32c_update (crc, sec, L_CSUM);
      crc = vhdx_crc32c_update (crc, zero4, 4);
      crc = vhdx_crc32c_update (crc, sec + L_CSUM + 4, VHDX_LOG_SECTOR - L_CSUM - 4);
    }
    else
      crc = vhdx_crc32c_update (crc, sec, VHDX_LOG_SECTOR);
  }
  if (~crc != vdk_le32 (h + L_CSUM))
    return false;
  e->ok = true;
  e->seq = seq;
  e->nsec = len / VHDX_LOG_SECTOR;
  e->tail = vdk_le32 (h + L_TAIL) / VHDX_LOG_SECTOR;
  return true;
}

/* The last entry of the chain starting at I (links have strictly increasing
 * sequence numbers, so chains cannot loop). */
static int64_t
chain_end (struct log_ctx *c, uint32_t i)
{
  int64_t j = i, end;

  while (c->ei[j].end < 0 && c->ei[j].next >= 0)
    j = c->ei[j].next;
  end = c->ei[j].end >= 0 ? c->ei[j].end : j;
  for (j = i; c->ei[j].end < 0; j = c->ei[j].next) {
    c->ei[j].end = end;
    if (c->ei[j].next < 0)
      break;
  }
  return end;
}

static void
free_patch_list (struct vhdx_patch *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (v[i].data);
  free (v);
}

void
vhdx_free_patches (struct vhdx_priv *p)
{
  free_patch_list (p->patches, p->n_patches);
  p->patches = NULL;
  p->n_patches = 0;
}

/* Turn the entries from FIRST (following links) into patches. */
static int
collect (struct log_ctx *c, int64_t first, struct vhdx_patch **out, size_t *n_out,
         uint64_t *last_file_offset)
{
  struct vdk_node *n = c->n;
  struct vhdx_patch *v = NULL;
  size_t nv = 0, cap = 0;
  uint64_t fsize = n->file->size;
  int r = 0;

  *last_file_offset = 0;
  for (int64_t i = first; i >= 0; i = c->ei[i].next) {
    const uint8_t *h = log_sector (c, i);
    uint32_t count = vdk_le32 (h + L_DESC_COUNT), ds = desc_sectors (count), nd = 0;
    uint64_t flushed = vdk_le64 (h + L_FLUSHED), last = vdk_le64 (h + L_LAST);
    uint64_t limit;

    if (flushed > fsize) {
      r = vdk_err (EINVAL, "%s: the VHDX log says the file had %" PRIu64 " bytes, it has %"
                   PRIu64 " (truncated image?)", n->filename, flushed, fsize);
      goto fail;
    }
    if (last > VDK_MAX_IMAGE_SIZE) {
      r = vdk_err (EINVAL, "%s: VHDX log entry with an absurd file size", n->filename);
      goto fail;
    }
    *last_file_offset = VDK_MAX (*last_file_offset, last);
    limit = VDK_MAX (fsize, VDK_ROUND_UP (last, MiB));
    for (uint32_t k = 0; k < count; k++) {
      const uint8_t *d = descriptor (c, i, k);
      struct vhdx_patch pt = { .off = vdk_le64 (d + D_FILE_OFF) };
      bool data = memcmp (d, "desc", 4) == 0;

      pt.len = data ? VHDX_LOG_SECTOR : vdk_le64 (d + D_ZERO_LEN);
      /* Never let a log rewrite the headers or the log itself. */
      if (pt.off < VHDX_RT1_OFF || !vdk_range_ok (pt.off, pt.len, limit) ||
          (pt.off < c->p->log_offset + c->p->log_length &&
           pt.off + pt.len > c->p->log_offset)) {
        r = vdk_err (EINVAL, "%s: VHDX log entry writes to an invalid file range"
                     " (offset %#" PRIx64 ", %" PRIu64 " bytes)", n->filename, pt.off, pt.len);
        goto fail;
      }
      if (pt.len == 0)
        continue;
      if (data) {
        const uint8_t *s = log_sector (c, (uint64_t) i + ds + nd++);
        pt.data = malloc (VHDX_LOG_SECTOR);
        if (!pt.data) {
          r = vdk_err (ENOMEM, "out of memory");
          goto fail;
        }
        memcpy (pt.data, d + D_LEADING, 8);
        memcpy (pt.data + 8, s + 8, 4084);
        memcpy (pt.data + 4092, d + D_TRAILING, 4);
      }
      if (nv == cap) {
        size_t ncap = cap ? cap * 2 : 16;
        struct vhdx_patch *nvp = realloc (v, ncap * sizeof *v);
        if (!nvp) {
          free (pt.data);
          r = vdk_err (ENOMEM, "out of memory");
          goto fail;
        }
        v = nvp;
        cap = ncap;
      }
      v[nv++] = pt;
    }
  }
  *out = v;
  *n_out = nv;
  return 0;
 fail:
  free_patch_list (v, nv);
  return r;
}

int
vhdx_log_open (struct vdk_node *n, struct vhdx_priv *p, bool rw)
{
  struct log_ctx c = { .n = n, .p = p };
  struct vhdx_patch *v = NULL;
  size_t nv = 0;
  uint8_t *log = NULL;
  int64_t best_end = -1, best_start = -1, first;
  uint64_t last_file_offset;
  int r;

  if (vhdx_guid_is_zero (p->hdr + H_LOG_GUID) || p->log_length == 0)
    return 0;
  if (p->log_length > VHDX_MAX_LOG)
    return vdk_err (EINVAL, "%s: VHDX log of %" PRIu32 " bytes is too large to replay",
                    n->filename, p->log_length);
  if (!vdk_range_ok (p->log_offset, p->log_length, n->file->size))
    return vdk_err (EINVAL, "%s: the VHDX log is beyond the end of the file", n->filename);
  c.nsec = p->log_length / VHDX_LOG_SECTOR;
  log = malloc (p->log_length);
  c.ei = calloc (c.nsec, sizeof *c.ei);
  if (!log || !c.ei) {
    r = vdk_err (ENOMEM, "out of memory");
    goto out;
  }
  c.log = log;
  r = vdk_node_pread (n->file, log, p->log_length, p->log_offset);
  if (r < 0)
    goto out;
  for (uint32_t i = 0; i < c.nsec; i++)
    c.ei[i].next = c.ei[i].end = -1;
  for (uint32_t i = 0; i < c.nsec; i++)
    if (entry_valid (&c, i)) {
      uint32_t j = (i + c.ei[i].nsec) % c.nsec;
      if (entry_valid (&c, j) && c.ei[j].seq == c.ei[i].seq + 1)
        c.ei[i].next = j;
    }
  /* The active sequence: the chain ending with the highest sequence number,
   * taken from its earliest entry. */
  for (uint32_t i = 0; i < c.nsec; i++) {
    int64_t e;
    if (!c.ei[i].ok)
      continue;
    e = chain_end (&c, i);
    if (best_end < 0 || c.ei[e].seq > c.ei[best_end].seq ||
        (e == best_end && c.ei[i].seq < c.ei[best_start].seq)) {
      best_end = e;
      best_start = i;
    }
  }
  if (best_end < 0) {
    /* A log GUID but no entry: nothing was logged before the crash. */
    if (rw)
      r = vhdx_write_header (n, p, NULL);
    goto out;
  }
  /* Replay from the tail the newest entry names, if it is in the sequence. */
  first = best_start;
  for (int64_t i = best_start; i >= 0; i = c.ei[i].next)
    if ((uint32_t) i == c.ei[best_end].tail) {
      first = i;
      break;
    }
  r = collect (&c, first, &v, &nv, &last_file_offset);
  if (r < 0)
    goto out;
  if (!rw) {
    p->patches = v;
    p->n_patches = nv;
    v = NULL;
    nv = 0;
    goto out;
  }
  for (size_t i = 0; i < nv && r == 0; i++)
    r = v[i].data ? vdk_node_pwrite (n->file, v[i].data, v[i].len, v[i].off, 0)
                  : vdk_node_write_zeroes (n->file, v[i].off, v[i].len, 0);
  if (r == 0 && n->file->size < last_file_offset)
    r = vdk_node_truncate (n->file, VDK_ROUND_UP (last_file_offset, MiB), VDK_PREALLOC_OFF, false);
  if (r == 0)
    r = vdk_node_flush (n->file);
  if (r == 0)
    r = vhdx_write_header (n, p, NULL);
  if (r < 0)
    vdk_err_prefix ("%s: replaying the VHDX log", n->filename);
 out:
  free_patch_list (v, nv);
  free (log);
  free (c.ei);
  return r;
}

int
vhdx_meta_pread (struct vdk_node *n, struct vhdx_priv *p, void *buf, size_t len, uint64_t off)
{
  int r = vdk_node_pread (n->file, buf, len, off);

  if (r < 0)
    return r;
  for (size_t i = 0; i < p->n_patches; i++) {
    const struct vhdx_patch *pt = &p->patches[i];
    uint64_t s = VDK_MAX (off, pt->off), e = VDK_MIN (off + len, pt->off + pt->len);
    if (s >= e)
      continue;
    if (pt->data)
      memcpy ((uint8_t *) buf + (s - off), pt->data + (s - pt->off), e - s);
    else
      memset ((uint8_t *) buf + (s - off), 0, e - s);
  }
  return 0;
}

/* One log entry for M sectors, written at the start of the log. */
static int
write_entry (struct vdk_node *n, struct vhdx_priv *p, const uint64_t *offs,
             uint8_t *const *secs, uint32_t m)
{
  uint32_t ds = desc_sectors (m), total = ds + m;
  uint8_t *e = calloc (total, VHDX_LOG_SECTOR);
  const uint64_t seq = 1;
  int r;

  if (!e)
    return vdk_err (ENOMEM, "out of memory");
  memcpy (e + L_SIG, "loge", 4);
  vdk_put_le32 (e + L_ENTRY_LEN, total * VHDX_LOG_SECTOR);
  vdk_put_le32 (e + L_TAIL, 0);
  vdk_put_le64 (e + L_SEQ, seq);
  vdk_put_le32 (e + L_DESC_COUNT, m);
  memcpy (e + L_GUID, p->hdr + H_LOG_GUID, 16);
  vdk_put_le64 (e + L_FLUSHED, n->file->size);
  vdk_put_le64 (e + L_LAST, n->file->size);
  for (uint32_t k = 0; k < m; k++) {
    uint8_t *d = e + L_HDR_SIZE + (size_t) k * D_SIZE;
    uint8_t *s = e + (size_t) (ds + k) * VHDX_LOG_SECTOR;
    memcpy (d + D_SIG, "desc", 4);
    memcpy (d + D_TRAILING, secs[k] + 4092, 4);
    memcpy (d + D_LEADING, secs[k], 8);
    vdk_put_le64 (d + D_FILE_OFF, offs[k]);
    vdk_put_le64 (d + D_SEQ, seq);
    memcpy (s, "data", 4);
    vdk_put_le32 (s + 4, (uint32_t) (seq >> 32));
    memcpy (s + 8, secs[k] + 8, 4084);
    vdk_put_le32 (s + 4092, (uint32_t) seq);
  }
  vdk_put_le32 (e + L_CSUM, vhdx_crc32c (e, (size_t) total * VHDX_LOG_SECTOR, L_CSUM));
  r = vdk_node_pwrite (n->file, e, (size_t) total * VHDX_LOG_SECTOR, p->log_offset, 0);
  free (e);
  return r;
}

int
vhdx_log_write (struct vdk_node *n, struct vhdx_priv *p, const uint64_t *offs,
                uint8_t *const *secs, size_t nsec)
{
  uint32_t log_secs = p->log_length / VHDX_LOG_SECTOR;
  int r;

  if (log_secs < 2)
    return vdk_err (ENOSPC, "%s: the VHDX log is too small for a metadata update", n->filename);
  while (nsec > 0) {
    uint32_t m = VDK_MIN (nsec, (size_t) log_secs - 1);
    uint8_t guid[16];

    while (m > 1 && desc_sectors (m) + m > log_secs)
      m--;
    vhdx_random_guid (guid);
    if ((r = vhdx_write_header (n, p, guid)) < 0 ||
        (r = write_entry (n, p, offs, secs, m)) < 0 ||
        (r = vdk_node_flush (n->file)) < 0)
      return r;
    for (uint32_t k = 0; k < m; k++)
      if ((r = vdk_node_pwrite (n->file, secs[k], VHDX_LOG_SECTOR, offs[k], 0)) < 0)
        return r;
    if ((r = vdk_node_flush (n->file)) < 0 ||
        (r = vhdx_write_header (n, p, NULL)) < 0)
      return r;
    offs += m;
    secs += m;
    nsec -= m;
  }
  return 0;
}
