/* The asynchronous engine.  A public request is resolved (through map/alloc
 * and the backing chain, like io.c) into leaf I/Os on protocol nodes; leaves
 * on files go to io_uring, the rest run synchronously.  The request
 * completes when its last leaf does.  Metadata work (map/alloc/commit) is
 * synchronous under the node lock; only data moves asynchronously. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <liburing.h>

#include "internal.h"
#include "io.h"

struct vdk_aio_req {
  disk_aio_cb cb;
  void *opaque;
  unsigned pending;        /* leaves in flight + 1 while resolving */
  int ret;
  char *msg;
  struct vdk_aio_req *next;
  /* Sub-request for one allocating write: when its data is written,
   * commit_done() links the allocation and completes PARENT. */
  struct vdk_aio_req *parent;
  struct vdk_node *node;
  struct vdk_extent ext;
  struct vdk_inflight *infl;
};

struct vdk_inflight {
  uint64_t start, end;     /* guest range, rounded to the allocation unit */
  struct disk_queue *q;    /* owner */
  pthread_t thread;
  struct vdk_inflight *next;
};

struct vdk_deferred {
  struct vdk_aio_req *req;
  const void *buf;
  size_t len;
  uint64_t off;
  unsigned flags;
  struct vdk_deferred *next;
};

struct disk_queue {
  struct io_uring ring;
  bool have_ring;
  unsigned cq_entries;
  unsigned inflight_reqs;
  unsigned inflight_ios;
  unsigned unsubmitted;
  struct vdk_aio_req *done_head, *done_tail;
};

struct io_uring *
vdk_queue_ring (struct disk_queue *q)
{
  return q->have_ring ? &q->ring : NULL;
}

int
disk_queue_new (struct disk_queue **out, unsigned depth)
{
  struct disk_queue *q = calloc (1, sizeof *q);
  unsigned entries = 8;

  if (!q)
    return vdk_err (ENOMEM, "out of memory");
  if (depth == 0 || depth > 4096)
    depth = depth ? 4096 : 32;
  while (entries < depth * 2)
    entries *= 2;
  if (io_uring_queue_init (entries, &q->ring, 0) == 0) {
    q->have_ring = true;
    q->cq_entries = q->ring.cq.ring_entries;
  }
  *out = q;
  return 0;
}

static void reap (struct disk_queue *q, bool wait);

void
disk_queue_free (struct disk_queue *q)
{
  if (!q)
    return;
  while (q->inflight_ios)
    reap (q, true);
  while (q->done_head) {
    struct vdk_aio_req *r = q->done_head;
    q->done_head = r->next;
    free (r->msg);
    free (r);
  }
  if (q->have_ring)
    io_uring_queue_exit (&q->ring);
  free (q);
}

unsigned
disk_queue_inflight (struct disk_queue *q)
{
  return q->inflight_reqs;
}

static void
req_fail (struct vdk_aio_req *req, int ret)
{
  if (req->ret == 0) {
    req->ret = ret;
    req->msg = strdup (disk_last_error ());
  }
}

static void commit_done (struct disk_queue *q, struct vdk_aio_req *sub);

static void
req_put (struct disk_queue *q, struct vdk_aio_req *req)
{
  if (--req->pending > 0)
    return;
  if (req->parent) {
    commit_done (q, req);
    return;
  }
  req->next = NULL;
  if (q->done_tail)
    q->done_tail->next = req;
  else
    q->done_head = req;
  q->done_tail = req;
}

void
vdk_io_done (struct disk_queue *q, struct vdk_io *io, int ret)
{
  if (ret < 0)
    req_fail (io->parent, ret);
  req_put (q, io->parent);
  free (io);
}

static void
complete_cqe (struct disk_queue *q, struct vdk_io *io, int res)
{
  q->inflight_ios--;
  if (res < 0) {
    vdk_err (-res, "%s: %s error at offset %" PRIu64 ": %s", io->node->filename,
             io->op == VDK_IO_READ ? "read" : io->op == VDK_IO_WRITE ? "write" : "flush",
             io->off, strerror (-res));
    vdk_io_done (q, io, res);
    return;
  }
  if (io->op != VDK_IO_FLUSH && (size_t) res < io->len) {
    if (res == 0 && io->op == VDK_IO_READ) {
      memset (io->buf, 0, io->len);   /* past EOF */
      vdk_io_done (q, io, 0);
      return;
    }
    if (res == 0) {
      vdk_io_done (q, io, vdk_err (EIO, "%s: short write at offset %" PRIu64,
                                   io->node->filename, io->off));
      return;
    }
    /* Short transfer: resubmit the rest synchronously (rare). */
    int r = io->op == VDK_IO_READ
      ? io->node->proto->pread (io->node, (char *) io->buf + res, io->len - res, io->off + res)
      : io->node->proto->pwrite (io->node, (char *) io->buf + res, io->len - res, io->off + res,
                                 io->flags);
    vdk_io_done (q, io, r);
    return;
  }
  vdk_io_done (q, io, 0);
}

static void
reap (struct disk_queue *q, bool wait)
{
  struct io_uring_cqe *cqe;
  unsigned head, n = 0;

  if (!q->have_ring)
    return;
  if (wait && q->inflight_ios)
    io_uring_submit_and_wait (&q->ring, 1);
  else
    io_uring_submit (&q->ring);
  q->unsubmitted = 0;
  io_uring_for_each_cqe (&q->ring, head, cqe) {
    complete_cqe (q, io_uring_cqe_get_data (cqe), cqe->res);
    n++;
  }
  io_uring_cq_advance (&q->ring, n);
}

/* One leaf on a protocol node. */
static void
leaf (struct disk_queue *q, struct vdk_aio_req *req, struct vdk_node *n, enum vdk_io_op op,
      void *buf, size_t len, uint64_t off, unsigned flags)
{
  struct vdk_io *io;
  int r;

  if (op != VDK_IO_FLUSH && !vdk_range_ok (off, len, n->size) && op == VDK_IO_READ) {
    req_fail (req, vdk_err (EIO, "%s: read at offset %" PRIu64 " beyond end of file",
                            n->filename, off));
    return;
  }
  if (q->have_ring && n->proto->submit) {
    while (q->inflight_ios + 1 >= q->cq_entries)
      reap (q, true);
    io = calloc (1, sizeof *io);
    if (!io) {
      req_fail (req, vdk_err (ENOMEM, "out of memory"));
      return;
    }
    *io = (struct vdk_io) { .op = op, .node = n, .buf = buf, .len = len, .off = off,
                            .flags = flags, .parent = req };
    r = n->proto->submit (n, q, io);
    if (r == -EAGAIN) {
      reap (q, true);
      r = n->proto->submit (n, q, io);
    }
    if (r == 0) {
      req->pending++;
      q->inflight_ios++;
      if (++q->unsubmitted >= 32)
        reap (q, false);
      return;
    }
    free (io);
    if (r != -ENOTSUP) {
      req_fail (req, vdk_err (-r, "%s: cannot submit I/O", n->filename));
      return;
    }
  }
  /* Synchronous fallback. */
  if (op == VDK_IO_READ)
    r = n->proto->pread (n, buf, len, off);
  else if (op == VDK_IO_WRITE)
    r = n->proto->pwrite (n, buf, len, off, flags);
  else
    r = n->proto->flush ? n->proto->flush (n) : 0;
  if (r < 0)
    req_fail (req, r);
}

static void
resolve_read (struct disk_queue *q, struct vdk_aio_req *req, struct vdk_node *n,
              void *buf, size_t len, uint64_t off)
{
  int r;

  if (n->proto) {
    leaf (q, req, n, VDK_IO_READ, buf, len, off, 0);
    return;
  }
  while (len > 0 && req->ret == 0) {
    struct vdk_extent e;
    r = vdk_fmt_map (n, off, len, &e);
    if (r < 0) {
      req_fail (req, r);
      return;
    }
    switch (e.kind) {
    case VDK_EXT_DATA:
      resolve_read (q, req, e.child ? e.child : n->file, buf, e.len, e.host);
      break;
    case VDK_EXT_ZERO:
      memset (buf, 0, e.len);
      break;
    case VDK_EXT_UNALLOC: {
      size_t have = 0;
      if (n->backing && off < n->backing->size) {
        have = VDK_MIN (e.len, n->backing->size - off);
        resolve_read (q, req, n->backing, buf, have, off);
      }
      if (have < e.len)
        memset ((char *) buf + have, 0, e.len - have);
      break;
    }
    case VDK_EXT_ENCODED:
      pthread_mutex_lock (&n->lock);
      r = n->fmt->read_encoded (n, off, e.len, buf);
      pthread_mutex_unlock (&n->lock);
      if (r < 0)
        req_fail (req, r);
      break;
    }
    buf = (char *) buf + e.len;
    off += e.len;
    len -= e.len;
  }
}

static void
unit_range (struct vdk_node *n, uint64_t off, uint64_t len, uint64_t *start, uint64_t *end)
{
  uint64_t cs = n->cluster_size ? n->cluster_size : 1;
  *start = off - off % cs;
  *end = off + len;
  if (*end % cs)
    *end += cs - *end % cs;
}

static struct vdk_inflight *
find_overlap (struct vdk_node *n, uint64_t off, uint64_t len)
{
  uint64_t s, e;
  unit_range (n, off, len, &s, &e);
  for (struct vdk_inflight *i = n->inflight; i; i = i->next)
    if (i->start < e && s < i->end)
      return i;
  return NULL;
}

int
vdk_wait_inflight (struct vdk_node *n, uint64_t off, uint64_t len)
{
  struct vdk_inflight *i;

  while ((i = find_overlap (n, off, len)) != NULL) {
    if (pthread_equal (i->thread, pthread_self ()))
      return vdk_err (EDEADLK, "%s: a synchronous request overlaps this thread's own"
                      " asynchronous allocation in flight; wait for the queue first",
                      n->filename);
    pthread_cond_wait (&n->inflight_cond, &n->lock);
  }
  return 0;
}

static void resolve_write (struct disk_queue *q, struct vdk_aio_req *req, struct vdk_node *n,
                           const void *buf, size_t len, uint64_t off, unsigned flags);

/* The data of an allocating write is on disk: link it (crash-safe order),
 * wake whoever waits for this unit, re-run deferred writes, complete the
 * parent. */
static void
commit_done (struct disk_queue *q, struct vdk_aio_req *sub)
{
  struct vdk_node *n = sub->node;
  struct vdk_aio_req *parent = sub->parent;
  struct vdk_deferred *d;
  int r = 0;

  pthread_mutex_lock (&n->lock);
  if (sub->ret == 0 && n->fmt->alloc_commit)
    r = n->fmt->alloc_commit (n, &sub->ext);
  for (struct vdk_inflight **pp = &n->inflight; *pp; pp = &(*pp)->next)
    if (*pp == sub->infl) {
      *pp = sub->infl->next;
      break;
    }
  free (sub->infl);
  pthread_cond_broadcast (&n->inflight_cond);
  d = n->deferred;
  n->deferred = NULL;
  pthread_mutex_unlock (&n->lock);

  if (sub->ret < 0) {
    if (parent->ret == 0) {
      parent->ret = sub->ret;
      parent->msg = sub->msg;
      sub->msg = NULL;
    }
  }
  else if (r < 0)
    req_fail (parent, r);
  free (sub->msg);
  free (sub);
  while (d) {
    struct vdk_deferred *next = d->next;
    resolve_write (q, d->req, n, d->buf, d->len, d->off, d->flags);
    req_put (q, d->req);
    free (d);
    d = next;
  }
  req_put (q, parent);
}

static void
resolve_write (struct disk_queue *q, struct vdk_aio_req *req, struct vdk_node *n,
               const void *buf, size_t len, uint64_t off, unsigned flags)
{
  int r;

  if (n->flags & VDK_O_WRITETHROUGH)
    flags |= DISK_FUA;
  if (n->proto) {
    leaf (q, req, n, VDK_IO_WRITE, (void *) buf, len, off, flags);
    return;
  }
  if (n->fmt->pwrite || !n->fmt->alloc || (flags & DISK_COMPRESSED) ||
      ((n->flags & VDK_O_PROBED) && off < 512)) {
    r = vdk_node_pwrite (n, buf, len, off, flags);
    if (r < 0)
      req_fail (req, r);
    return;
  }
  while (len > 0 && req->ret == 0) {
    struct vdk_extent e;
    struct vdk_inflight *ov;
    memset (&e, 0, sizeof e);
    pthread_mutex_lock (&n->lock);
    /* An allocation of this queue in flight on the same unit: run this
     * write again when it commits.  Another thread's: wait for it. */
    while ((ov = find_overlap (n, off, len)) != NULL && ov->q != q)
      pthread_cond_wait (&n->inflight_cond, &n->lock);
    if (ov) {
      struct vdk_deferred *d = calloc (1, sizeof *d), **pp;
      if (!d) {
        pthread_mutex_unlock (&n->lock);
        req_fail (req, vdk_err (ENOMEM, "out of memory"));
        return;
      }
      *d = (struct vdk_deferred) { .req = req, .buf = buf, .len = len, .off = off,
                                   .flags = flags };
      for (pp = &n->deferred; *pp; pp = &(*pp)->next)
        ;
      *pp = d;
      req->pending++;
      pthread_mutex_unlock (&n->lock);
      return;
    }
    r = n->fmt->alloc (n, off, len, &e);
    if (r == 0 && (e.len == 0 || e.len > len || e.kind != VDK_EXT_DATA))
      r = vdk_err (EIO, "%s: internal error: bad extent from %s alloc", n->filename, n->fmt->name);
    if (r < 0) {
      pthread_mutex_unlock (&n->lock);
      req_fail (req, r);
      return;
    }
    e.off = off;
    e.fua = (flags & DISK_FUA) != 0;
    if (!e.needs_commit) {
      pthread_mutex_unlock (&n->lock);
      resolve_write (q, req, e.child ? e.child : n->file, buf, e.len, e.host, flags);
    }
    else if (!(n->fmt->flags & VDK_FMT_ASYNC_ALLOC)) {
      /* The driver needs alloc..commit under one lock: write synchronously. */
      r = vdk_node_pwrite (e.child ? e.child : n->file, buf, e.len, e.host, flags);
      if (r == 0 && n->fmt->alloc_commit)
        r = n->fmt->alloc_commit (n, &e);
      pthread_mutex_unlock (&n->lock);
      if (r < 0)
        req_fail (req, r);
    }
    else {
      /* A new allocation: its data goes out asynchronously; commit_done
       * links it once written, so metadata never points at unwritten data. */
      struct vdk_aio_req *sub = calloc (1, sizeof *sub);
      struct vdk_inflight *infl = calloc (1, sizeof *infl);
      if (!sub || !infl) {
        free (sub);
        free (infl);
        pthread_mutex_unlock (&n->lock);
        req_fail (req, vdk_err (ENOMEM, "out of memory"));
        return;
      }
      unit_range (n, off, e.len, &infl->start, &infl->end);
      infl->q = q;
      infl->thread = pthread_self ();
      infl->next = n->inflight;
      n->inflight = infl;
      pthread_mutex_unlock (&n->lock);
      sub->pending = 1;
      sub->parent = req;
      sub->node = n;
      sub->ext = e;
      sub->infl = infl;
      req->pending++;
      resolve_write (q, sub, e.child ? e.child : n->file, buf, e.len, e.host, flags);
      req_put (q, sub);
    }
    buf = (const char *) buf + e.len;
    off += e.len;
    len -= e.len;
  }
}

static int
start (struct disk_queue *q, struct disk *d, bool write, void *buf, size_t count,
       uint64_t offset, unsigned flags, disk_aio_cb cb, void *opaque)
{
  struct vdk_node *n = d->root;
  struct vdk_aio_req *req;

  if (!vdk_range_ok (offset, count, n->size))
    return vdk_err (EINVAL, "%s: request at offset %" PRIu64 " length %zu is beyond the end"
                    " of the image", n->filename, offset, count);
  if (write && !(n->flags & VDK_O_RDWR))
    return vdk_err (EROFS, "%s: image is opened read-only", n->filename);
  req = calloc (1, sizeof *req);
  if (!req)
    return vdk_err (ENOMEM, "out of memory");
  req->cb = cb;
  req->opaque = opaque;
  req->pending = 1;
  q->inflight_reqs++;
  if (count) {
    if (write)
      resolve_write (q, req, n, buf, count, offset, flags);
    else
      resolve_read (q, req, n, buf, count, offset);
  }
  req_put (q, req);
  return 0;
}

int
disk_aio_pread (struct disk_queue *q, struct disk *d, void *buf, size_t count,
                uint64_t offset, disk_aio_cb cb, void *opaque)
{
  return start (q, d, false, buf, count, offset, 0, cb, opaque);
}

int
disk_aio_pwrite (struct disk_queue *q, struct disk *d, const void *buf, size_t count,
                 uint64_t offset, unsigned flags, disk_aio_cb cb, void *opaque)
{
  return start (q, d, true, (void *) buf, count, offset, flags, cb, opaque);
}

int
disk_queue_wait (struct disk_queue *q, unsigned min)
{
  int completed = 0;

  for (;;) {
    while (q->done_head) {
      struct vdk_aio_req *r = q->done_head;
      q->done_head = r->next;
      if (!q->done_head)
        q->done_tail = NULL;
      q->inflight_reqs--;
      if (r->ret < 0)
        vdk_err (-r->ret, "%s", r->msg ? r->msg : strerror (-r->ret));
      if (r->cb)
        r->cb (r->opaque, r->ret);
      free (r->msg);
      free (r);
      completed++;
    }
    if ((unsigned) completed >= min || q->inflight_reqs == 0)
      return completed;
    if (q->inflight_ios == 0) {
      /* cannot happen: requests without leaves complete at once */
      return vdk_err (EIO, "internal error: request stuck in queue");
    }
    reap (q, true);
  }
}
