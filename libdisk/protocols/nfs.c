/* The "nfs" protocol: files on an NFS export through libnfs, NFSv3.
 *
 *   nfs://host[:port]/export/dir/file.img[?nfsport=N&mountport=N&uid=N&gid=N...]
 *
 * timeout=SECONDS (default 15) bounds every RPC; it is vdk's, not libnfs's.
 * The directory part of the path is mounted (MOUNT protocol) and the last
 * component is the file, as qemu does.  The query is libnfs's own (see
 * nfs_parse_url_full); vdk only refuses version=4 because libnfs 4.0's
 * NFSv4 write path cannot encode writes larger than 2 KiB.
 *
 * One libnfs context per node.  A context is not thread-safe, so every call
 * on it holds p->lock.  The connection never reconnects and every RPC has a
 * finite timeout, so a server going away gives an error, not a hang.
 * Asynchronous I/O: see nfs_submit. */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>

#include "../internal.h"
#include "netio.h"

#define NFS_DEFAULT_TIMEOUT_MS 15000
#define NFS_MAX_CHUNK (1u << 20)

struct nfs_priv {
  struct nfs_context *nfs;
  struct nfsfh *fh;
  uint64_t readmax, writemax;
  struct vdk_netloop *loop;    /* async engine, NULL until first submit */
  bool no_loop;                /* it could not start: synchronous I/O only */
};

/* A libnfs context mounted on the directory of URL.  *FILE gets the file
 * name inside the mount (with its leading '/'), owned by *URLP. */
static int
nfs_connect (const char *url, struct nfs_context **nfsp, struct nfs_url **urlp)
{
  struct nfs_context *nfs;
  struct nfs_url *u;
  const char *q = strchr (url, '?');
  char *lib_url, *tmo;
  long timeout_ms = NFS_DEFAULT_TIMEOUT_MS;
  int r;

  if (q && (strstr (q, "version=4") || strstr (q, "version=41")))
    return vdk_err (ENOTSUP, "%s: NFSv4 is not supported (libnfs's NFSv4 write path is"
                    " broken); use NFSv3, the default", url);
  /* timeout=SECONDS is ours, the rest of the query is libnfs's */
  if (vdk_url_take_param (url, "timeout", &lib_url, &tmo) < 0)
    return vdk_err (ENOMEM, "out of memory");
  if (tmo) {
    char *end;
    long t = strtol (tmo, &end, 10);
    if (*end || end == tmo || t <= 0 || t > 3600) {
      r = vdk_err (EINVAL, "%s: invalid timeout '%s' (1-3600 seconds)", url, tmo);
      free (tmo);
      free (lib_url);
      return r;
    }
    timeout_ms = t * 1000;
    free (tmo);
  }
  nfs = nfs_init_context ();
  if (!nfs) {
    free (lib_url);
    return vdk_err (ENOMEM, "%s: cannot create an NFS context", url);
  }
  nfs_set_timeout (nfs, (int) timeout_ms);
  nfs_set_autoreconnect (nfs, 0);
  nfs_set_tcp_syncnt (nfs, 2);   /* unreachable hosts fail in seconds */
  u = nfs_parse_url_full (nfs, lib_url);
  free (lib_url);
  if (!u) {
    r = vdk_err (EINVAL, "%s: invalid NFS URL: %s (expected nfs://host/export/file)",
                 url, nfs_get_error (nfs));
    nfs_destroy_context (nfs);
    return r;
  }
  if (!u->server || !u->path || !u->file || !u->file[0] || !strcmp (u->file, "/")) {
    r = vdk_err (EINVAL, "%s: invalid NFS URL: expected nfs://host/export/file", url);
    goto err;
  }
  nfs_set_version (nfs, 3);
  r = nfs_mount (nfs, u->server, u->path);
  if (r != 0) {
    const char *m = nfs_get_error (nfs);
    const char *hint = "";
    if (m && strstr (m, "nfs_service failed"))
      hint = "cannot connect (connection refused or server unreachable): ";
    r = vdk_err (r < 0 && r != -EINVAL ? -r : EIO, "%s: cannot mount %s:%s: %s%s", url,
                 u->server, u->path, hint, m && m[0] ? m : strerror (-r));
    goto err;
  }
  *nfsp = nfs;
  *urlp = u;
  return 0;
 err:
  nfs_destroy_url (u);
  nfs_destroy_context (nfs);
  return r;
}

static void
nfs_disconnect (struct nfs_context *nfs, struct nfs_url *u)
{
  if (u)
    nfs_destroy_url (u);
  if (nfs)
    nfs_destroy_context (nfs);  /* closes the socket; no UMNT round trip */
}

static int
nfs_errno (int r)
{
  return r < 0 ? -r : EIO;
}

static int
nfs_proto_open (struct vdk_node *n, struct vdk_opts *opts, unsigned flags)
{
  const char *fn = vdk_opts_take (opts, "filename");
  struct nfs_priv *p;
  struct nfs_url *u = NULL;
  struct nfs_stat_64 st;
  int r;

  if (fn && !n->filename && !(n->filename = strdup (fn)))
    return vdk_err (ENOMEM, "out of memory");
  if (!n->filename)
    return vdk_err (EINVAL, "nfs: no URL given");
  p = calloc (1, sizeof *p);
  if (!p)
    return vdk_err (ENOMEM, "out of memory");
  r = nfs_connect (n->filename, &p->nfs, &u);
  if (r < 0) {
    free (p);
    return r;
  }
  r = nfs_open (p->nfs, u->file, (flags & VDK_O_RDWR) ? O_RDWR : O_RDONLY, &p->fh);
  if (r != 0) {
    r = vdk_err (nfs_errno (r), "%s: cannot open %s: %s", n->filename, u->file,
                 nfs_get_error (p->nfs));
    goto err;
  }
  r = nfs_fstat64 (p->nfs, p->fh, &st);
  if (r != 0) {
    r = vdk_err (nfs_errno (r), "%s: stat: %s", n->filename, nfs_get_error (p->nfs));
    goto err;
  }
  if (S_ISDIR (st.nfs_mode)) {
    r = vdk_err (EISDIR, "%s: is a directory, not an image", n->filename);
    goto err;
  }
  if (st.nfs_size > VDK_MAX_IMAGE_SIZE) {
    r = vdk_err (EFBIG, "%s: the server reports an impossible size %" PRIu64, n->filename,
                 (uint64_t) st.nfs_size);
    goto err;
  }
  n->size = st.nfs_size;
  n->request_align = 1;
  p->readmax = VDK_MIN (nfs_get_readmax (p->nfs), (uint64_t) NFS_MAX_CHUNK);
  p->writemax = VDK_MIN (nfs_get_writemax (p->nfs), (uint64_t) NFS_MAX_CHUNK);
  if (p->readmax < 4096)
    p->readmax = 4096;
  if (p->writemax < 4096)
    p->writemax = 4096;
  nfs_destroy_url (u);
  n->priv = p;
  return 0;
 err:
  if (p->fh)
    nfs_close (p->nfs, p->fh);
  nfs_disconnect (p->nfs, u);
  free (p);
  return r;
}

static void
nfs_proto_close (struct vdk_node *n)
{
  struct nfs_priv *p = n->priv;

  if (!p)
    return;
  /* Closing a handle with unstable writes sends a COMMIT first; on a dead
   * connection that can only time out, so make that quick.  (Skipping
   * nfs_close would leak the handle: the context does not free it.) */
  if (p->loop && vdk_netloop_dead (p->loop))
    nfs_set_timeout (p->nfs, 1000);
  vdk_netloop_free (p->loop);
  if (p->fh)
    nfs_close (p->nfs, p->fh);
  nfs_destroy_context (p->nfs);
  free (p);
}

/* Synchronous calls: run on the loop's thread when there is one (the
 * context belongs to it), else directly. */
static int
nfs_do_pread (struct vdk_node *n, void *buf, size_t len, uint64_t off)
{
  struct nfs_priv *p = n->priv;

  while (len > 0) {
    size_t l = VDK_MIN (len, p->readmax);
    int r = nfs_pread (p->nfs, p->fh, off, l, buf);
    if (r < 0)
      return vdk_err (nfs_errno (r), "%s: read error at offset %" PRIu64 ": %s",
                      n->filename, off, nfs_get_error (p->nfs));
    if (r == 0) {
      memset (buf, 0, len);   /* past the end of the file */
      return 0;
    }
    if ((size_t) r > l)
      return vdk_err (EIO, "%s: the server returned more data than asked for", n->filename);
    buf = (char *) buf + r;
    len -= r;
    off += r;
  }
  return 0;
}

static int
nfs_do_pwrite (struct vdk_node *n, const void *buf, size_t len, uint64_t off, unsigned flags)
{
  struct nfs_priv *p = n->priv;
  uint64_t end = off + len;

  while (len > 0) {
    size_t l = VDK_MIN (len, p->writemax);
    int r = nfs_pwrite (p->nfs, p->fh, off, l, (void *) buf);
    if (r < 0)
      return vdk_err (nfs_errno (r), "%s: write error at offset %" PRIu64 ": %s",
                      n->filename, off, nfs_get_error (p->nfs));
    if (r == 0 || (size_t) r > l)
      return vdk_err (EIO, "%s: short write at offset %" PRIu64, n->filename, off);
    buf = (const char *) buf + r;
    len -= r;
    off += r;
  }
  if ((flags & DISK_FUA) && nfs_fsync (p->nfs, p->fh) != 0)
    return vdk_err (EIO, "%s: fsync: %s", n->filename, nfs_get_error (p->nfs));
  if (end > n->size)
    n->size = end;
  return 0;
}

static int
nfs_do_flush (struct vdk_node *n)
{
  struct nfs_priv *p = n->priv;
  int r = nfs_fsync (p->nfs, p->fh);
  if (r != 0)
    return vdk_err (nfs_errno (r), "%s: fsync: %s", n->filename, nfs_get_error (p->nfs));
  return 0;
}

static int
nfs_do_truncate (struct vdk_node *n, uint64_t size, enum vdk_prealloc pa)
{
  struct nfs_priv *p = n->priv;
  uint64_t old = n->size;
  int r;

  if (pa != VDK_PREALLOC_OFF && pa != VDK_PREALLOC_FULL)
    return vdk_err (ENOTSUP, "%s: preallocation mode '%s' is not supported over NFS",
                    n->filename, vdk_prealloc_name (pa));
  r = nfs_ftruncate (p->nfs, p->fh, size);
  if (r != 0)
    return vdk_err (nfs_errno (r), "%s: truncate: %s", n->filename, nfs_get_error (p->nfs));
  n->size = size;
  if (pa == VDK_PREALLOC_FULL && size > old) {
    size_t bs = 1 << 20;
    char *z = calloc (1, bs);
    if (!z)
      return vdk_err (ENOMEM, "out of memory");
    for (uint64_t o = old; o < size && r == 0; o += bs)
      r = nfs_do_pwrite (n, z, VDK_MIN ((uint64_t) bs, size - o), o, 0);
    free (z);
  }
  return r;
}

static int64_t
nfs_do_get_allocated (struct vdk_node *n)
{
  struct nfs_priv *p = n->priv;
  struct nfs_stat_64 st;
  int r = nfs_fstat64 (p->nfs, p->fh, &st);
  if (r != 0)
    return vdk_err (nfs_errno (r), "%s: stat: %s", n->filename, nfs_get_error (p->nfs));
  /* libnfs reports NFSv3's "used" bytes as blocks of 512 */
  return (int64_t) st.nfs_blocks * 512;
}

/* ---- the callbacks: through the loop thread if one runs ------------------ */

struct nfs_call {
  enum { CALL_PREAD, CALL_PWRITE, CALL_FLUSH, CALL_TRUNCATE, CALL_ALLOCATED } op;
  struct vdk_node *n;
  void *buf;
  size_t len;
  uint64_t off;
  unsigned flags;
  enum vdk_prealloc pa;
  int64_t ret;
};

static int64_t
nfs_call_run (struct nfs_call *c)
{
  switch (c->op) {
  case CALL_PREAD: return nfs_do_pread (c->n, c->buf, c->len, c->off);
  case CALL_PWRITE: return nfs_do_pwrite (c->n, c->buf, c->len, c->off, c->flags);
  case CALL_FLUSH: return nfs_do_flush (c->n);
  case CALL_TRUNCATE: return nfs_do_truncate (c->n, c->off, c->pa);
  case CALL_ALLOCATED: return nfs_do_get_allocated (c->n);
  }
  return -EINVAL;
}

static int64_t
nfs_call_cb (void *opaque)
{
  return nfs_call_run (opaque);
}

static int64_t
nfs_call (struct nfs_call *c)
{
  struct nfs_priv *p = c->n->priv;
  if (p->loop)
    return vdk_netloop_call (p->loop, nfs_call_cb, c);
  return nfs_call_run (c);
}

static int
nfs_proto_pread (struct vdk_node *n, void *buf, size_t len, uint64_t off)
{
  struct nfs_call c = { .op = CALL_PREAD, .n = n, .buf = buf, .len = len, .off = off };
  return nfs_call (&c);
}

static int
nfs_proto_pwrite (struct vdk_node *n, const void *buf, size_t len, uint64_t off, unsigned flags)
{
  struct nfs_call c = { .op = CALL_PWRITE, .n = n, .buf = (void *) buf, .len = len,
                        .off = off, .flags = flags };
  return nfs_call (&c);
}

static int
nfs_proto_flush (struct vdk_node *n)
{
  struct nfs_call c = { .op = CALL_FLUSH, .n = n };
  return nfs_call (&c);
}

static int
nfs_proto_truncate (struct vdk_node *n, uint64_t size, enum vdk_prealloc pa)
{
  struct nfs_call c = { .op = CALL_TRUNCATE, .n = n, .off = size, .pa = pa };
  return nfs_call (&c);
}

static int64_t
nfs_proto_get_allocated (struct vdk_node *n)
{
  struct nfs_call c = { .op = CALL_ALLOCATED, .n = n };
  return nfs_call (&c);
}

static int
nfs_proto_create (const char *filename, struct vdk_opts *opts)
{
  struct nfs_context *nfs;
  struct nfs_url *u;
  struct nfsfh *fh;
  int r;

  (void) opts;
  r = nfs_connect (filename, &nfs, &u);
  if (r < 0)
    return r;
  r = nfs_create (nfs, u->file, O_RDWR | O_CREAT | O_TRUNC, 0644, &fh);
  if (r != 0)
    r = vdk_err (nfs_errno (r), "%s: cannot create %s: %s", filename, u->file,
                 nfs_get_error (nfs));
  else
    nfs_close (nfs, fh);
  nfs_disconnect (nfs, u);
  return r;
}

static int
nfs_proto_remove (const char *filename)
{
  struct nfs_context *nfs;
  struct nfs_url *u;
  int r;

  r = nfs_connect (filename, &nfs, &u);
  if (r < 0)
    return r;
  r = nfs_unlink (nfs, u->file);
  if (r != 0 && r != -ENOENT)
    r = vdk_err (nfs_errno (r), "%s: cannot remove %s: %s", filename, u->file,
                 nfs_get_error (nfs));
  else
    r = 0;
  nfs_disconnect (nfs, u);
  return r;
}

/* ---- asynchronous I/O ------------------------------------------------------
 * The first submit starts a loop thread (netio.c) that owns the context from
 * then on: it polls the libnfs socket and issues nfs_pread_async /
 * nfs_pwrite_async / nfs_fsync_async, many in flight; each completion is
 * posted to the queue's io_uring, where the core reaps it like a file I/O. */

struct nfs_aio {
  struct vdk_netreq req;       /* first: the loop hands us this */
  struct vdk_node *n;
  struct vdk_io *io;
  size_t done;                 /* bytes transferred so far */
  bool fsync_after;            /* FUA write: fsync once the data is written */
};

static void nfs_aio_step (struct nfs_aio *a);

static void
nfs_aio_finish (struct nfs_aio *a, int ret)
{
  struct nfs_priv *p = a->n->priv;
  vdk_netloop_complete (p->loop, &a->req, ret);
}

static void
nfs_aio_cb (int status, struct nfs_context *nfs, void *data, void *private_data)
{
  struct nfs_aio *a = private_data;
  struct vdk_io *io = a->io;

  (void) nfs;
  if (status < 0) {
    /* the core reports "URL: read error at offset N: strerror"; libnfs
     * says -EINTR when an RPC timed out and -EFAULT when the RPC layer
     * failed (the connection broke) */
    nfs_aio_finish (a, status == -EINTR ? -ETIMEDOUT : status == -EFAULT ? -ECONNRESET : status);
    return;
  }
  if (io->op == VDK_IO_FLUSH || (io->op == VDK_IO_WRITE && a->done == io->len)) {
    /* the fsync of a FUA write, or a flush */
    nfs_aio_finish (a, (int) io->len);
    return;
  }
  if (io->op == VDK_IO_READ) {
    if (status == 0) {     /* EOF: the rest reads as zeroes */
      memset ((char *) io->buf + a->done, 0, io->len - a->done);
      a->done = io->len;
    }
    else {
      size_t got = VDK_MIN ((size_t) status, io->len - a->done);
      memcpy ((char *) io->buf + a->done, data, got);
      a->done += got;
    }
  }
  else {
    if (status == 0) {
      nfs_aio_finish (a, -EIO);
      return;
    }
    a->done += VDK_MIN ((size_t) status, io->len - a->done);
  }
  nfs_aio_step (a);
}

static void
nfs_aio_step (struct nfs_aio *a)
{
  struct nfs_priv *p = a->n->priv;
  struct vdk_io *io = a->io;
  int r;

  if (io->op == VDK_IO_FLUSH)
    r = nfs_fsync_async (p->nfs, p->fh, nfs_aio_cb, a);
  else if (a->done == io->len) {
    if (io->op == VDK_IO_WRITE && (io->flags & DISK_FUA) && !a->fsync_after) {
      a->fsync_after = true;
      r = nfs_fsync_async (p->nfs, p->fh, nfs_aio_cb, a);
    }
    else {
      nfs_aio_finish (a, (int) io->len);
      return;
    }
  }
  else if (io->op == VDK_IO_READ)
    /* libnfs cuts requests larger than READMAX/WRITEMAX into RPCs that
     * are all sent at once */
    r = nfs_pread_async (p->nfs, p->fh, io->off + a->done, io->len - a->done, nfs_aio_cb, a);
  else
    r = nfs_pwrite_async (p->nfs, p->fh, io->off + a->done, io->len - a->done,
                          (char *) io->buf + a->done, nfs_aio_cb, a);
  if (r != 0)
    nfs_aio_finish (a, -EIO);
}

static void
nfs_loop_start (void *opaque, struct vdk_netreq *req)
{
  (void) opaque;
  nfs_aio_step ((struct nfs_aio *) req);
}

static int
nfs_loop_fd (void *opaque, short *events)
{
  struct nfs_priv *p = opaque;
  int ev = nfs_which_events (p->nfs);
  *events = (ev & POLLIN ? POLLIN : 0) | (ev & POLLOUT ? POLLOUT : 0);
  return nfs_get_fd (p->nfs);
}

static int
nfs_loop_service (void *opaque, short revents)
{
  struct nfs_priv *p = opaque;

  if (nfs_service (p->nfs, revents) < 0) {
    /* The connection is gone and there is no reconnect: fail what is in
     * flight now rather than when each RPC times out. */
    rpc_disconnect (nfs_get_rpc_context (p->nfs), "connection lost");
    return -EIO;
  }
  return 0;
}

static const struct vdk_netloop_ops nfs_loop_ops = {
  .fd = nfs_loop_fd,
  .service = nfs_loop_service,
  .start = nfs_loop_start,
};

static int
nfs_proto_submit (struct vdk_node *n, struct disk_queue *q, struct vdk_io *io)
{
  struct nfs_priv *p = n->priv;
  struct nfs_aio *a;
  int r;

  if (p->no_loop || io->len > INT32_MAX)   /* completions carry the length as an int */
    return -ENOTSUP;
  if (!p->loop) {
    r = vdk_netloop_new (&nfs_loop_ops, p, n->filename, &p->loop);
    if (r < 0) {
      /* e.g. no io_uring MSG_RING (Linux < 5.18): synchronous from now on */
      vdk_err_clear ();
      p->no_loop = true;
      return -ENOTSUP;
    }
  }
  a = calloc (1, sizeof *a);
  if (!a)
    return -ENOMEM;
  a->n = n;
  a->io = io;
  /* a write past the end extends the file (formats append); the size is
   * only touched on this, the submitting, thread */
  if (io->op == VDK_IO_WRITE && io->off + io->len > n->size)
    n->size = io->off + io->len;
  return vdk_netloop_submit (p->loop, q, io, &a->req);
}

static const char *const nfs_schemes[] = { "nfs", NULL };

const struct vdk_protocol vdk_protocol_nfs = {
  .struct_size = sizeof (struct vdk_protocol),
  .name = "nfs",
  .schemes = nfs_schemes,
  .open = nfs_proto_open,
  .close = nfs_proto_close,
  .pread = nfs_proto_pread,
  .pwrite = nfs_proto_pwrite,
  .flush = nfs_proto_flush,
  .truncate = nfs_proto_truncate,
  .get_allocated = nfs_proto_get_allocated,
  .create = nfs_proto_create,
  .remove = nfs_proto_remove,
  .submit = nfs_proto_submit,
};
