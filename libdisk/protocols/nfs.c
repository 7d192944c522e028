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
#include <sys/socket.h>
#include <sys/stat.h>

#include "../internal.h"
#include "../lazy/nfs.h"
#include "netio.h"

#define NFS_DEFAULT_TIMEOUT_MS 15000
#define NFS_MAX_CHUNK (1u << 20)

#define NFS_MAX_CONNS 8
#define NFS_DEFAULT_CONNS 2

/* One TCP connection: a libnfs context with the file open on it. */
struct nfs_conn {
  struct nfs_context *nfs;
  struct nfsfh *fh;
  struct vdk_netloop *loop;    /* async engine, NULL until first submit */
  uint64_t unsynced;           /* bytes written since the last early COMMIT */
  int early_err;               /* an early COMMIT's failure (atomic): the next flush's */
};

/* With cache=writeback, a COMMIT is sent (without waiting for it) after
 * every EARLY_COMMIT bytes written on a connection, so that the server
 * writes the data out while more arrives, keeps little of it dirty (a
 * server over its dirty limit throttles its own writes), and the final
 * COMMIT (convert's flush) finds little left to do.  Measured against
 * nfs-ganesha on this machine, convert -t writeback of 512 MiB of data to
 * a new file: no early COMMIT 0.63-0.75 s, every 32 MiB 0.54-0.62 s, every
 * 8 MiB 0.41-0.45 s (2 and 4 MiB no better); qemu-img 0.91-0.94 s.  An
 * early COMMIT's error is reported by the next flush (the server's fsync
 * reports a write-back error once: it must not be lost). */
#define EARLY_COMMIT (8u << 20)

struct nfs_priv {
  /* c[0] serves the synchronous calls and async I/O; c[1..nconn-1] are
   * opened at the first submit and share the async I/O (nconnect=N). */
  struct nfs_conn c[NFS_MAX_CONNS];
  unsigned nconn, nconnect;
  unsigned next;               /* round robin over the connections */
  bool rdwr;
  bool early_commit;           /* cache=writeback: see EARLY_COMMIT */
  struct sockaddr_storage peer;  /* c[0]'s server: the others must reach it too */
  socklen_t peer_len;
  uint64_t readmax, writemax;
  bool no_loop;                /* it could not start: synchronous I/O only */
};

/* A libnfs context mounted on the directory of URL.  *FILE gets the file
 * name inside the mount (with its leading '/'), owned by *URLP. */
static int
nfs_connect (const char *url, struct nfs_context **nfsp, struct nfs_url **urlp,
             unsigned *nconnp)
{
  const char *lazy;
  struct nfs_context *nfs;
  struct nfs_url *u;
  const char *q = strchr (url, '?');
  char *lib_url, *tmo, *tmp, *nc;
  long timeout_ms = NFS_DEFAULT_TIMEOUT_MS;
  int r;

  if (q && (strstr (q, "version=4") || strstr (q, "version=41")))
    return vdk_err (ENOTSUP, "%s: NFSv4 is not supported (libnfs's NFSv4 write path is"
                    " broken); use NFSv3, the default", url);
  /* timeout=SECONDS and nconnect=N are ours, the rest of the query is
   * libnfs's */
  if (vdk_url_take_param (url, "nconnect", &tmp, &nc) < 0)
    return vdk_err (ENOMEM, "out of memory");
  if (nconnp)
    *nconnp = NFS_DEFAULT_CONNS;
  if (nc) {
    char *end;
    long v = strtol (nc, &end, 10);
    if (*end || end == nc || v < 1 || v > NFS_MAX_CONNS) {
      r = vdk_err (EINVAL, "%s: invalid nconnect '%s' (1-%d connections)", url, nc,
                   NFS_MAX_CONNS);
      free (nc);
      free (tmp);
      return r;
    }
    if (nconnp)
      *nconnp = (unsigned) v;
    free (nc);
  }
  r = vdk_url_take_param (tmp, "timeout", &lib_url, &tmo);
  free (tmp);
  if (r < 0)
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
  if ((lazy = vdk_lazy_nfs_load ())) {
    free (lib_url);
    return vdk_err (ELIBACC, "%s: %s", url, lazy);
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
  r = nfs_connect (n->filename, &p->c[0].nfs, &u, &p->nconnect);
  if (r < 0) {
    free (p);
    return r;
  }
  r = nfs_open (p->c[0].nfs, u->file, (flags & VDK_O_RDWR) ? O_RDWR : O_RDONLY, &p->c[0].fh);
  if (r != 0) {
    r = vdk_err (nfs_errno (r), "%s: cannot open %s: %s", n->filename, u->file,
                 nfs_get_error (p->c[0].nfs));
    goto err;
  }
  r = nfs_fstat64 (p->c[0].nfs, p->c[0].fh, &st);
  if (r != 0) {
    r = vdk_err (nfs_errno (r), "%s: stat: %s", n->filename, nfs_get_error (p->c[0].nfs));
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
  p->readmax = VDK_MIN (nfs_get_readmax (p->c[0].nfs), (uint64_t) NFS_MAX_CHUNK);
  p->writemax = VDK_MIN (nfs_get_writemax (p->c[0].nfs), (uint64_t) NFS_MAX_CHUNK);
  if (p->readmax < 4096)
    p->readmax = 4096;
  if (p->writemax < 4096)
    p->writemax = 4096;
  p->nconn = 1;
  p->rdwr = (flags & VDK_O_RDWR) != 0;
  p->early_commit = p->rdwr && !(flags & (VDK_O_UNSAFE | VDK_O_WRITETHROUGH));
  p->peer_len = sizeof p->peer;
  if (getpeername (nfs_get_fd (p->c[0].nfs), (struct sockaddr *) &p->peer, &p->peer_len) != 0)
    p->nconnect = 1;      /* cannot tell whether others reach the same server */
  nfs_destroy_url (u);
  n->priv = p;
  return 0;
 err:
  if (p->c[0].fh)
    nfs_close (p->c[0].nfs, p->c[0].fh);
  nfs_disconnect (p->c[0].nfs, u);
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
  for (unsigned i = 0; i < p->nconn; i++) {
    struct nfs_conn *c = &p->c[i];
    if (c->loop && vdk_netloop_dead (c->loop))
      nfs_set_timeout (c->nfs, 1000);
    vdk_netloop_free (c->loop);
    if (c->fh)
      nfs_close (c->nfs, c->fh);
    nfs_destroy_context (c->nfs);
  }
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
    int r = nfs_pread (p->c[0].nfs, p->c[0].fh, off, l, buf);
    if (r < 0)
      return vdk_err (nfs_errno (r), "%s: read error at offset %" PRIu64 ": %s",
                      n->filename, off, nfs_get_error (p->c[0].nfs));
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
    int r = nfs_pwrite (p->c[0].nfs, p->c[0].fh, off, l, (void *) buf);
    if (r < 0)
      return vdk_err (nfs_errno (r), "%s: write error at offset %" PRIu64 ": %s",
                      n->filename, off, nfs_get_error (p->c[0].nfs));
    if (r == 0 || (size_t) r > l)
      return vdk_err (EIO, "%s: short write at offset %" PRIu64, n->filename, off);
    buf = (const char *) buf + r;
    len -= r;
    off += r;
  }
  if ((flags & DISK_FUA) && nfs_fsync (p->c[0].nfs, p->c[0].fh) != 0)
    return vdk_err (EIO, "%s: fsync: %s", n->filename, nfs_get_error (p->c[0].nfs));
  if (end > n->size)
    n->size = end;
  return 0;
}

/* The first early COMMIT error of any connection, taken (0 if none). */
static int
nfs_early_err (struct nfs_priv *p)
{
  for (unsigned i = 0; i < p->nconn; i++) {
    int e = __atomic_exchange_n (&p->c[i].early_err, 0, __ATOMIC_ACQ_REL);
    if (e < 0)
      return e;
  }
  return 0;
}

static int
nfs_do_flush (struct vdk_node *n)
{
  struct nfs_priv *p = n->priv;
  int r = nfs_fsync (p->c[0].nfs, p->c[0].fh);
  if (r != 0)
    return vdk_err (nfs_errno (r), "%s: fsync: %s", n->filename, nfs_get_error (p->c[0].nfs));
  if ((r = nfs_early_err (p)) < 0)
    return vdk_err (-r, "%s: fsync: %s", n->filename, strerror (-r));
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
  r = nfs_ftruncate (p->c[0].nfs, p->c[0].fh, size);
  if (r != 0)
    return vdk_err (nfs_errno (r), "%s: truncate: %s", n->filename, nfs_get_error (p->c[0].nfs));
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
  int r = nfs_fstat64 (p->c[0].nfs, p->c[0].fh, &st);
  if (r != 0)
    return vdk_err (nfs_errno (r), "%s: stat: %s", n->filename, nfs_get_error (p->c[0].nfs));
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
  if (p->c[0].loop)
    return vdk_netloop_call (p->c[0].loop, nfs_call_cb, c);
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
  r = nfs_connect (filename, &nfs, &u, NULL);
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

  r = nfs_connect (filename, &nfs, &u, NULL);
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
 * The first submit starts a loop thread (netio.c) per connection that owns
 * its context from then on: it polls the libnfs socket and issues
 * nfs_pread_async / nfs_pwrite_async / nfs_fsync_async, many in flight;
 * each completion is posted to the queue's io_uring, where the core reaps
 * it like a file I/O.  Requests go round robin over nconnect connections
 * (default 2; the server decodes and serves each connection on its own
 * thread).  Reads are cut into READs of at most the server's rtmax, all in
 * flight at once, each copied straight into the caller's buffer (libnfs
 * would assemble a larger read in a buffer of its own first). */

struct nfs_aio;

struct nfs_piece {             /* one READ */
  struct nfs_aio *a;
  size_t pos, len;             /* in io->buf */
};

struct nfs_aio {
  struct vdk_netreq req;       /* first: the loop hands us this */
  struct vdk_node *n;
  struct nfs_conn *c;
  struct vdk_io *io;
  size_t done;                 /* writes: bytes transferred so far */
  bool fsync_after;            /* FUA write: fsync once the data is written */
  unsigned pending;            /* reads: READs in flight, +1 while issuing */
  int err;                     /* reads: the first error */
  struct nfs_piece pieces[];   /* reads */
};

static int
nfs_aio_errno (int status)
{
  /* the core reports "URL: read error at offset N: strerror"; libnfs says
   * -EINTR when an RPC timed out and -EFAULT when the RPC layer failed (the
   * connection broke) */
  return status == -EINTR ? -ETIMEDOUT : status == -EFAULT ? -ECONNRESET : status;
}

static void nfs_aio_step (struct nfs_aio *a);

static void
nfs_aio_finish (struct nfs_aio *a, int ret)
{
  vdk_netloop_complete (a->c->loop, &a->req, ret);
}

/* ---- reads ---- */

static void nfs_read_piece (struct nfs_piece *pc);

static void
nfs_read_put (struct nfs_aio *a, int err)
{
  if (err < 0 && !a->err)
    a->err = err;
  if (--a->pending == 0)
    nfs_aio_finish (a, a->err ? a->err : (int) a->io->len);
}

static void
nfs_read_cb (int status, struct nfs_context *nfs, void *data, void *private_data)
{
  struct nfs_piece *pc = private_data;
  struct nfs_aio *a = pc->a;
  char *dst = (char *) a->io->buf + pc->pos;

  (void) nfs;
  if (status < 0) {
    nfs_read_put (a, nfs_aio_errno (status));
    return;
  }
  if (status == 0) {       /* EOF: the rest reads as zeroes */
    memset (dst, 0, pc->len);
    nfs_read_put (a, 0);
    return;
  }
  if ((size_t) status > pc->len) {
    nfs_read_put (a, -EIO);   /* more than asked for */
    return;
  }
  memcpy (dst, data, status);
  if ((size_t) status < pc->len && !a->err) {
    /* a short READ: ask for the rest */
    pc->pos += status;
    pc->len -= status;
    nfs_read_piece (pc);
    return;
  }
  nfs_read_put (a, 0);
}

/* Issue PC (its reference on A is held: dropped when it completes). */
static void
nfs_read_piece (struct nfs_piece *pc)
{
  struct nfs_aio *a = pc->a;

  if (nfs_pread_async (a->c->nfs, a->c->fh, a->io->off + pc->pos, pc->len, nfs_read_cb, pc) != 0)
    nfs_read_put (a, -EIO);
}

static void
nfs_read_start (struct nfs_aio *a)
{
  struct nfs_priv *p = a->n->priv;
  size_t pos = 0;

  a->pending = 1;          /* the issuing */
  for (unsigned i = 0; pos < a->io->len && !a->err; i++) {
    struct nfs_piece *pc = &a->pieces[i];
    *pc = (struct nfs_piece) { .a = a, .pos = pos, .len = VDK_MIN (a->io->len - pos, p->readmax) };
    pos += pc->len;
    a->pending++;
    nfs_read_piece (pc);
  }
  nfs_read_put (a, 0);
}

/* ---- writes and flushes ---- */

static void
nfs_aio_cb (int status, struct nfs_context *nfs, void *data, void *private_data)
{
  struct nfs_aio *a = private_data;
  struct vdk_io *io = a->io;

  (void) nfs;
  (void) data;
  if (status < 0) {
    nfs_aio_finish (a, nfs_aio_errno (status));
    return;
  }
  if (io->op == VDK_IO_FLUSH) {
    int e = nfs_early_err (a->n->priv);
    nfs_aio_finish (a, e < 0 ? e : 0);
    return;
  }
  if (a->done == io->len) {
    /* the fsync of a FUA write */
    nfs_aio_finish (a, (int) io->len);
    return;
  }
  if (status == 0) {
    nfs_aio_finish (a, -EIO);
    return;
  }
  a->done += VDK_MIN ((size_t) status, io->len - a->done);
  nfs_aio_step (a);
}

static void
nfs_early_commit_cb (int status, struct nfs_context *nfs, void *data, void *private_data)
{
  struct nfs_conn *c = private_data;   /* lives until after the context */
  int none = 0;

  (void) nfs;
  (void) data;
  if (status < 0)
    __atomic_compare_exchange_n (&c->early_err, &none, nfs_aio_errno (status), false,
                                 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

/* Before a write of LEN on C: an early COMMIT when due (see EARLY_COMMIT). */
static void
nfs_early_commit (struct nfs_aio *a)
{
  struct nfs_priv *p = a->n->priv;
  struct nfs_conn *c = a->c;

  if (!p->early_commit)
    return;
  c->unsynced += a->io->len;
  if (c->unsynced < EARLY_COMMIT)
    return;
  c->unsynced = 0;
  if (nfs_fsync_async (c->nfs, c->fh, nfs_early_commit_cb, c) != 0)
    nfs_early_commit_cb (-EIO, c->nfs, NULL, c);
}

static void
nfs_aio_step (struct nfs_aio *a)
{
  struct vdk_io *io = a->io;
  int r;

  if (io->op == VDK_IO_FLUSH)
    r = nfs_fsync_async (a->c->nfs, a->c->fh, nfs_aio_cb, a);
  else if (a->done == io->len) {
    if ((io->flags & DISK_FUA) && !a->fsync_after) {
      a->fsync_after = true;
      r = nfs_fsync_async (a->c->nfs, a->c->fh, nfs_aio_cb, a);
    }
    else {
      nfs_aio_finish (a, (int) io->len);
      return;
    }
  }
  else {
    if (a->done == 0)
      nfs_early_commit (a);
    /* libnfs cuts requests larger than WRITEMAX into RPCs that are all
     * sent at once (copying the data into each RPC either way) */
    r = nfs_pwrite_async (a->c->nfs, a->c->fh, io->off + a->done, io->len - a->done,
                          (char *) io->buf + a->done, nfs_aio_cb, a);
  }
  if (r != 0)
    nfs_aio_finish (a, -EIO);
}

static void
nfs_loop_start (void *opaque, struct vdk_netreq *req)
{
  struct nfs_aio *a = (struct nfs_aio *) req;

  (void) opaque;
  if (a->io->op == VDK_IO_READ)
    nfs_read_start (a);
  else
    nfs_aio_step (a);
}

static int
nfs_loop_fd (void *opaque, short *events)
{
  struct nfs_conn *c = opaque;
  int ev = nfs_which_events (c->nfs);
  *events = (ev & POLLIN ? POLLIN : 0) | (ev & POLLOUT ? POLLOUT : 0);
  return nfs_get_fd (c->nfs);
}

static int
nfs_loop_service (void *opaque, short revents)
{
  struct nfs_conn *c = opaque;

  if (nfs_service (c->nfs, revents) < 0) {
    /* The connection is gone and there is no reconnect: fail what is in
     * flight now rather than when each RPC times out. */
    rpc_disconnect (nfs_get_rpc_context (c->nfs), "connection lost");
    return -EIO;
  }
  return 0;
}

static const struct vdk_netloop_ops nfs_loop_ops = {
  .fd = nfs_loop_fd,
  .service = nfs_loop_service,
  .start = nfs_loop_start,
};

/* The extra connections of nconnect=N, opened at the first submit.  Any
 * failure only means fewer connections. */
static void
nfs_open_extra (struct vdk_node *n)
{
  struct nfs_priv *p = n->priv;

  while (p->nconn < p->nconnect) {
    struct nfs_conn *c = &p->c[p->nconn];
    struct nfs_url *u;
    if (nfs_connect (n->filename, &c->nfs, &u, NULL) < 0)
      break;
    if (nfs_open (c->nfs, u->file, p->rdwr ? O_RDWR : O_RDONLY, &c->fh) != 0) {
      nfs_disconnect (c->nfs, u);
      c->nfs = NULL;
      break;
    }
    nfs_destroy_url (u);
    /* The portmapper may name another server by now (one started since
     * has registered over ours): use only a connection to the same one. */
    {
      struct sockaddr_storage peer;
      socklen_t len = sizeof peer;
      if (getpeername (nfs_get_fd (c->nfs), (struct sockaddr *) &peer, &len) != 0 ||
          len != p->peer_len || memcmp (&peer, &p->peer, len) != 0) {
        nfs_close (c->nfs, c->fh);
        nfs_destroy_context (c->nfs);
        *c = (struct nfs_conn) { 0 };
        break;
      }
    }
    if (vdk_netloop_new (&nfs_loop_ops, c, n->filename, &c->loop) < 0) {
      nfs_close (c->nfs, c->fh);
      nfs_destroy_context (c->nfs);
      *c = (struct nfs_conn) { 0 };
      break;
    }
    p->nconn++;
  }
  vdk_err_clear ();
}

static int
nfs_proto_submit (struct vdk_node *n, struct disk_queue *q, struct vdk_io *io)
{
  struct nfs_priv *p = n->priv;
  struct nfs_conn *c;
  struct nfs_aio *a;
  size_t npieces = 0;
  int r;

  if (p->no_loop || io->len > INT32_MAX)   /* completions carry the length as an int */
    return -ENOTSUP;
  if (!p->c[0].loop) {
    r = vdk_netloop_new (&nfs_loop_ops, &p->c[0], n->filename, &p->c[0].loop);
    if (r < 0) {
      /* e.g. no io_uring MSG_RING (Linux < 5.18): synchronous from now on */
      vdk_err_clear ();
      p->no_loop = true;
      return -ENOTSUP;
    }
    nfs_open_extra (n);
  }
  /* a flush goes where the synchronous calls go; COMMIT covers the
   * writes of every connection (they are all to the same file) */
  c = &p->c[0];
  if (io->op != VDK_IO_FLUSH && p->nconn > 1)
    c = &p->c[__atomic_fetch_add (&p->next, 1, __ATOMIC_RELAXED) % p->nconn];
  if (io->op == VDK_IO_READ)
    npieces = (io->len + p->readmax - 1) / p->readmax;
  a = calloc (1, sizeof *a + npieces * sizeof a->pieces[0]);
  if (!a)
    return -ENOMEM;
  a->n = n;
  a->c = c;
  a->io = io;
  /* a write past the end extends the file (formats append); the size is
   * only touched on this, the submitting, thread */
  if (io->op == VDK_IO_WRITE && io->off + io->len > n->size)
    n->size = io->off + io->len;
  return vdk_netloop_submit (c->loop, q, io, &a->req);
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
