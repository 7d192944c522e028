/* virtio-blk backed by libdisk: any format on any protocol.  Reads and
 * writes of a batch go to a disk_queue (io_uring for files) and run in
 * parallel; flush, discard and write-zeroes wait for the batch first, so
 * they are ordered after the writes the guest completed before them. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "virtio.h"

#define VIRTIO_BLK_F_SEG_MAX      (1ULL << 2)
#define VIRTIO_BLK_F_RO           (1ULL << 5)
#define VIRTIO_BLK_F_BLK_SIZE     (1ULL << 6)
#define VIRTIO_BLK_F_FLUSH        (1ULL << 9)
#define VIRTIO_BLK_F_DISCARD      (1ULL << 13)
#define VIRTIO_BLK_F_WRITE_ZEROES (1ULL << 14)

#define T_IN           0
#define T_OUT          1
#define T_FLUSH        4
#define T_GET_ID       8
#define T_DISCARD      11
#define T_WRITE_ZEROES 13

#define S_OK     0
#define S_IOERR  1
#define S_UNSUPP 2

#define SECTOR 512ULL
#define MAX_DISCARD_SECTORS (1u << 22)   /* 2 GiB per segment */
#define MAX_DISCARD_SEG 32
#define SEG_MAX (VIRTQ_MAX_SIZE - 2)

struct blk;

struct blk_req {
  struct blk *b;
  uint16_t head;
  bool busy;
  uint8_t *status;
  unsigned pending;
  int err;
  uint32_t used_len;
};

struct blk {
  struct virtio_dev *dev;
  struct disk *disk;
  struct disk_queue *q;
  const struct vm_disk_config *cfg;
  uint64_t size;
  bool readonly;
  char serial[20];
  char name[16];
  struct blk_stats stats;
  struct blk_req reqs[VIRTQ_MAX_SIZE];
  unsigned inflight;
  bool pushed;
  struct vchain chain;
};

#define STAT_ADD(b, field, v) __atomic_add_fetch (&(b)->stats.field, (v), __ATOMIC_RELAXED)

static void
finish (struct blk_req *r)
{
  struct blk *b = r->b;

  if (r->err)
    STAT_ADD (b, failed_ops, 1);
  *(volatile uint8_t *) r->status = r->err == -ENOTSUP ? S_UNSUPP : r->err ? S_IOERR : S_OK;
  virtq_push (b->dev, &b->dev->vq[0], r->head, r->used_len);
  r->busy = false;
  b->pushed = true;
}

static void
aio_done (void *opaque, int ret)
{
  struct blk_req *r = opaque;

  if (ret < 0 && !r->err) {
    r->err = ret;
    virtio_complain (r->b->dev, "I/O error: %s", disk_last_error ());
  }
  r->b->inflight--;
  if (--r->pending == 0)
    finish (r);
}

static void
drain (struct blk *b)
{
  if (b->inflight)
    disk_queue_wait (b->q, UINT_MAX);
}

/* Copy LEN bytes at offset SKIP of the readable part of the chain. */
static bool
gather (const struct vchain *c, size_t skip, void *dst, size_t len)
{
  uint8_t *o = dst;

  for (unsigned i = 0; i < c->nseg && len; i++) {
    const struct vseg *s = &c->seg[i];
    if (s->writable)
      break;
    if (skip >= s->len) {
      skip -= s->len;
      continue;
    }
    size_t n = s->len - skip < len ? s->len - skip : len;
    memcpy (o, s->ptr + skip, n);
    o += n;
    len -= n;
    skip = 0;
  }
  return len == 0;
}

static bool
range_ok (struct blk *b, uint64_t sector, uint64_t bytes)
{
  uint64_t nsect = b->size / SECTOR;

  return sector <= nsect && bytes <= (nsect - sector) * SECTOR;
}

/* Submit the data segments of a read or write. */
static void
submit_rw (struct blk *b, struct blk_req *r, const struct vchain *c, bool write,
           uint64_t off, uint64_t total)
{
  size_t skip = write ? 16 : 0;

  r->pending = 1;               /* held while submitting */
  for (unsigned i = 0; i < c->nseg && total; i++) {
    const struct vseg *s = &c->seg[i];
    if (s->writable != !write)
      continue;
    if (skip >= s->len) {
      skip -= s->len;
      continue;
    }
    size_t n = s->len - skip < total ? s->len - skip : total;
    int ret = write ? disk_aio_pwrite (b->q, b->disk, s->ptr + skip, n, off, 0, aio_done, r)
                    : disk_aio_pread (b->q, b->disk, s->ptr + skip, n, off, aio_done, r);
    if (ret < 0) {
      if (!r->err) {
        r->err = ret;
        virtio_complain (b->dev, "I/O error: %s", disk_last_error ());
      }
      break;
    }
    r->pending++;
    b->inflight++;
    off += n;
    total -= n;
    skip = 0;
  }
  if (--r->pending == 0)
    finish (r);
}

static int
discard_or_zero (struct blk *b, const struct vchain *c, size_t rd_total, bool zero)
{
  size_t n = (rd_total - 16) / 16;

  if ((rd_total - 16) % 16 || n == 0 || n > MAX_DISCARD_SEG) {
    virtio_complain (b->dev, "bad %s request: %zu bytes of segments",
                     zero ? "write-zeroes" : "discard", rd_total - 16);
    return -EINVAL;
  }
  drain (b);
  for (size_t i = 0; i < n; i++) {
    uint8_t seg[16];
    uint64_t sector;
    uint32_t num, flags;
    int r;

    gather (c, 16 + 16 * i, seg, 16);
    memcpy (&sector, seg, 8);
    memcpy (&num, seg + 8, 4);
    memcpy (&flags, seg + 12, 4);
    sector = le64toh (sector);
    num = le32toh (num);
    flags = le32toh (flags);
    if (num > MAX_DISCARD_SECTORS || !range_ok (b, sector, (uint64_t) num * SECTOR) ||
        (flags & ~1u) || (!zero && flags)) {
      virtio_complain (b->dev, "bad %s segment: sector %" PRIu64 " count %u flags %#x",
                       zero ? "write-zeroes" : "discard", sector, num, flags);
      return -EINVAL;
    }
    if (num == 0)
      continue;
    if (zero)
      r = disk_write_zeroes (b->disk, sector * SECTOR, num * SECTOR,
                             (flags & 1) ? DISK_MAY_UNMAP : 0);
    else
      r = disk_discard (b->disk, sector * SECTOR, num * SECTOR);
    if (r < 0) {
      virtio_complain (b->dev, "%s failed: %s", zero ? "write-zeroes" : "discard",
                       disk_last_error ());
      return r;
    }
  }
  return 0;
}

static void
handle (struct blk *b, struct vchain *c)
{
  struct blk_req *r = &b->reqs[c->head];
  size_t rd_total = 0, wr_total = 0;
  uint8_t hdr[16];
  uint32_t type;
  uint64_t sector, data;
  int ret = 0;

  if (c->bad || r->busy) {
    if (r->busy && !c->bad)
      virtio_complain (b->dev, "request %u submitted again while in flight", c->head);
    STAT_ADD (b, invalid_ops, 1);
    virtq_push (b->dev, &b->dev->vq[0], c->head, 0);
    b->pushed = true;
    return;
  }
  for (unsigned i = 0; i < c->nseg; i++)
    *(c->seg[i].writable ? &wr_total : &rd_total) += c->seg[i].len;
  /* The status byte is the last byte of the last non-empty writable buffer. */
  r->status = NULL;
  for (unsigned i = c->nseg; i-- > 0; )
    if (c->seg[i].writable && c->seg[i].len) {
      r->status = c->seg[i].ptr + c->seg[i].len - 1;
      break;
    }
  if (rd_total < 16 || !r->status) {
    virtio_complain (b->dev, "request %u has no header or no status byte", c->head);
    STAT_ADD (b, invalid_ops, 1);
    virtq_push (b->dev, &b->dev->vq[0], c->head, 0);
    b->pushed = true;
    return;
  }
  gather (c, 0, hdr, 16);
  memcpy (&type, hdr, 4);
  memcpy (&sector, hdr + 8, 8);
  type = le32toh (type);
  sector = le64toh (sector);
  r->b = b;
  r->head = c->head;
  r->busy = true;
  r->err = 0;
  r->used_len = 1;

  switch (type) {
  case T_IN:
  case T_OUT:
    data = type == T_IN ? wr_total - 1 : rd_total - 16;
    if (data % SECTOR || !range_ok (b, sector, data)) {
      virtio_complain (b->dev, "%s of %" PRIu64 " bytes at sector %" PRIu64 " is beyond the "
                       "disk's %" PRIu64 " sectors or not a multiple of 512",
                       type == T_IN ? "read" : "write", data, sector, (uint64_t) (b->size / SECTOR));
      ret = -EINVAL;
      break;
    }
    if (type == T_OUT && b->readonly) {
      ret = -EROFS;
      break;
    }
    if (type == T_IN) {
      STAT_ADD (b, rd_ops, 1);
      STAT_ADD (b, rd_bytes, data);
      r->used_len = data + 1;
    }
    else {
      STAT_ADD (b, wr_ops, 1);
      STAT_ADD (b, wr_bytes, data);
    }
    submit_rw (b, r, c, type == T_OUT, sector * SECTOR, data);
    return;
  case T_FLUSH:
    STAT_ADD (b, flush_ops, 1);
    drain (b);
    if (!b->readonly && (ret = disk_flush (b->disk)) < 0)
      virtio_complain (b->dev, "flush failed: %s", disk_last_error ());
    break;
  case T_GET_ID: {
    size_t left = 20 < wr_total - 1 ? 20 : wr_total - 1, o = 0;
    for (unsigned i = 0; i < c->nseg && left; i++) {
      struct vseg *s = &c->seg[i];
      if (!s->writable)
        continue;
      size_t n = s->len < left ? s->len : left;
      memcpy (s->ptr, b->serial + o, n);
      o += n;
      left -= n;
    }
    r->used_len = o + 1;
    break;
  }
  case T_DISCARD:
  case T_WRITE_ZEROES:
    if (b->readonly) {
      ret = -EROFS;
      break;
    }
    STAT_ADD (b, discard_ops, type == T_DISCARD);
    STAT_ADD (b, write_zeroes_ops, type == T_WRITE_ZEROES);
    ret = discard_or_zero (b, c, rd_total, type == T_WRITE_ZEROES);
    break;
  default:
    ret = -ENOTSUP;
    break;
  }
  r->err = ret;
  finish (r);
}

static void
blk_process (struct virtio_dev *d)
{
  struct blk *b = d->priv;
  unsigned rounds = 0;
  int got;

  do {
    int r;
    /* A guest that keeps the queue full must not hold io_lock forever
     * (a reset on another vCPU waits for it): come back later. */
    if (++rounds > 64) {
      uint64_t one = 1;
      if (write (d->kick_fd, &one, sizeof one) < 0) {
        /* the counter is saturated: a wake-up is pending anyway */
      }
      break;
    }
    got = 0;
    b->pushed = false;
    while ((r = virtq_pop (d, &d->vq[0], &b->chain)) == 1) {
      handle (b, &b->chain);
      got++;
    }
    drain (b);
    if (b->pushed)
      virtio_notify (d);
    if (r < 0)
      break;
  } while (got);
}

static void
blk_reset (struct virtio_dev *d)
{
  drain (d->priv);
}

static void
blk_destroy (struct virtio_dev *d)
{
  struct blk *b = d->priv;

  drain (b);
  disk_queue_free (b->q);
  disk_close (b->disk);
  free (b);
}

static const struct virtio_dev_ops blk_ops_rw = {
  .name = "virtio-blk", .device_id = VIRTIO_ID_BLOCK, .nqueues = 1,
  .features = VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH |
              VIRTIO_BLK_F_DISCARD | VIRTIO_BLK_F_WRITE_ZEROES,
  .process = blk_process, .reset = blk_reset, .destroy = blk_destroy,
};

static const struct virtio_dev_ops blk_ops_ro = {
  .name = "virtio-blk", .device_id = VIRTIO_ID_BLOCK, .nqueues = 1,
  .features = VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH |
              VIRTIO_BLK_F_RO,
  .process = blk_process, .reset = blk_reset, .destroy = blk_destroy,
};

static void
put32 (uint8_t *p, uint32_t v)
{
  v = htole32 (v);
  memcpy (p, &v, 4);
}

int
virtio_blk_create (struct vm *vm, unsigned index, const struct vm_disk_config *cfg)
{
  struct blk *b = calloc (1, sizeof *b);
  struct virtio_dev *d;
  uint64_t cap;
  char opts[64] = "";
  int r;

  if (!b)
    return vm_err (ENOMEM, "out of memory");
  b->cfg = cfg;
  b->readonly = cfg->readonly;
  snprintf (b->name, sizeof b->name, "vd%c", 'a' + index);
  if (cfg->cache)
    snprintf (opts, sizeof opts, "cache=%s", cfg->cache);
  r = disk_open (&b->disk, cfg->spec, cfg->format, b->readonly ? 0 : DISK_OPEN_RDWR,
                 opts[0] ? opts : NULL);
  if (r < 0) {
    r = vm_err (-r, "%s", disk_last_error ());
    free (b);
    return r;
  }
  b->size = disk_get_size (b->disk);
  if ((r = disk_queue_new (&b->q, VIRTQ_MAX_SIZE)) < 0) {
    r = vm_err (-r, "%s", disk_last_error ());
    disk_close (b->disk);
    free (b);
    return r;
  }
  if (cfg->serial)
    memcpy (b->serial, cfg->serial, strnlen (cfg->serial, sizeof b->serial));
  else
    snprintf (b->serial, sizeof b->serial, "vdk-disk%u", index);
  r = virtio_dev_create (vm, b->readonly ? &blk_ops_ro : &blk_ops_rw, b, b->name, &d);
  if (r < 0) {
    /* The device owns B once it exists; otherwise free it here. */
    if (vm->nvirtio == 0 || vm->virtio[vm->nvirtio - 1]->priv != b) {
      disk_queue_free (b->q);
      disk_close (b->disk);
      free (b);
    }
    return r;
  }
  b->dev = d;
  /* struct virtio_blk_config */
  cap = htole64 (b->size / SECTOR);
  memcpy (d->config, &cap, 8);
  put32 (d->config + 12, SEG_MAX);
  put32 (d->config + 20, SECTOR);
  put32 (d->config + 36, MAX_DISCARD_SECTORS);
  put32 (d->config + 40, MAX_DISCARD_SEG);
  put32 (d->config + 44, 1);
  put32 (d->config + 48, MAX_DISCARD_SECTORS);
  put32 (d->config + 52, MAX_DISCARD_SEG);
  d->config[56] = 1;
  d->config_len = 60;
  return 0;
}

bool
virtio_blk_query (struct vm *vm, unsigned n, struct blk_info *info)
{
  unsigned k = 0;

  for (unsigned i = 0; i < vm->nvirtio; i++) {
    struct virtio_dev *d = vm->virtio[i];
    if (d->ops->device_id != VIRTIO_ID_BLOCK)
      continue;
    if (k++ != n)
      continue;
    struct blk *b = d->priv;
    snprintf (info->name, sizeof info->name, "%s", b->name);
    info->spec = b->cfg->spec;
    info->format = disk_get_format (b->disk);
    info->size = b->size;
    info->readonly = b->readonly;
#define G(f) info->stats.f = __atomic_load_n (&b->stats.f, __ATOMIC_RELAXED)
    G (rd_bytes); G (wr_bytes); G (rd_ops); G (wr_ops); G (flush_ops); G (discard_ops);
    G (write_zeroes_ops); G (failed_ops); G (invalid_ops);
#undef G
    return true;
  }
  return false;
}
