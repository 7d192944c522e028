/* The "rbd" protocol: Ceph RBD images through librbd.
 *
 *   rbd:pool/image[@snap][:conf=PATH][:id=NAME][:key=value...]
 *   rbd:pool/namespace/image[@snap]...
 *
 * conf is the ceph.conf to read (default: librados's search, $CEPH_CONF),
 * id the client name without "client." (default admin); other keys are
 * passed to rados_conf_set (mon_host=..., keyring=...).  "\:" escapes a
 * colon.  Connecting gives up after client_mount_timeout (10 s unless set),
 * OSD/monitor operations after rados_osd_op_timeout/rados_mon_op_timeout
 * (30 s unless set), so a dead cluster gives an error, not a hang.
 *
 * Those timeouts do not bound everything: a write to an image with the
 * exclusive-lock feature waits for the lock, and librbd retries a lock
 * acquisition that timed out for as long as the OSD stays frozen (seen
 * here: a SIGSTOPped OSD hung a write forever, a paused one took 12 s
 * with a 2 s op timeout).  So every data request also carries vdk's own
 * deadline (see "deadlines" below): past it the request fails with
 * ETIMEDOUT, the image is marked wedged (later requests fail at once),
 * and closing a wedged image leaks librbd's handles instead of waiting
 * forever in rbd_close.
 *
 * librbd is thread-safe; async I/O uses rbd_aio_* and posts completions from
 * librbd's callback thread into the core's queue (netio.c).  Snapshots open
 * read-only.  vdk snapshot -l/-c/-a/-d on a raw image works on RBD
 * snapshots (the core passes them through raw, as qemu-img does); a
 * protected snapshot is not deleted. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../internal.h"
#include "../lazy/rbd.h"
#include "netio.h"

#define RBD_MAX_OPTS 32

struct rbd_spec {
  char *buf;                   /* the parsed copy; the fields point into it */
  char *pool, *ns, *image, *snap, *conf, *id;
  char *keys[RBD_MAX_OPTS], *values[RBD_MAX_OPTS];
  size_t nopts;
};

/* Block status answers from one diff-iterate over a large range: each
 * rbd_diff_iterate2 costs OSD round trips (the object map at least), and a
 * convert asks once per extent.  Writes through this node drop the cache;
 * it also expires, as others may write to the image. */
#define BS_MAX_EXTENTS 65536
#define BS_SPAN (1ULL << 30)
#define BS_TTL_NS 2000000000LL

struct bs_extent {
  uint64_t off, len;
};

struct rbd_priv {
  rados_t cluster;
  char *conn_key;              /* what the cluster connection was made with */
  rados_ioctx_t io;
  rbd_image_t img;
  bool read_only;
  pthread_mutex_t poster_lock;
  struct vdk_poster *poster;
  bool no_poster;
  /* the block status cache (under bs_lock) */
  pthread_mutex_t bs_lock;
  bool bs_valid;
  uint64_t bs_start, bs_end;   /* the range it describes */
  struct bs_extent *bs_ext;    /* allocated extents in it, sorted, merged */
  size_t bs_n, bs_cap;
  int64_t bs_time;             /* CLOCK_MONOTONIC ns when filled */
  uint64_t bs_filled_gen;      /* bs_gen when the fill started */
  uint64_t bs_gen;             /* bumped by every write (atomic) */
  /* deadlines (under aio_lock) */
  pthread_mutex_t aio_lock;
  pthread_cond_t aio_cond;     /* a request finished, or the watchdog stops */
  struct rbd_aio *inflight;    /* requests started, not yet finished */
  int64_t deadline_ns;         /* per request; 0: none (op timeout 0) */
  bool wedged;                 /* a request passed its deadline */
  bool watchdog_started, watchdog_stop;
  pthread_t watchdog;
  struct rbd_priv *grave_next; /* on the graveyard, once wedged and closed */
};

/* Images closed while wedged: kept reachable (late librbd completions
 * still use them, and leak checkers should not report them). */
static pthread_mutex_t graveyard_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rbd_priv *graveyard;

/* Before a write is started and when it completes (any thread, lock-free:
 * librbd's callback thread must never wait for a diff-iterate). */
static void
bs_invalidate (struct rbd_priv *p)
{
  __atomic_add_fetch (&p->bs_gen, 1, __ATOMIC_SEQ_CST);
}

static int64_t
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- deadlines ---------------------------------------------------------------
 *
 * Every data request (read, write, flush, discard, write zeroes; from the
 * synchronous calls and from the async engine alike) is an rbd_aio_*
 * request on the list p->inflight.  It finishes one of two ways, decided
 * under aio_lock: librbd completes it (DONE), or its deadline passes first
 * (ABANDONED: the waiter, or the watchdog thread for async requests,
 * fails it with ETIMEDOUT and marks the image wedged).  An abandoned
 * request stays on the list until librbd completes it, if ever, and is
 * freed then.  Reads go through a bounce buffer owned by the request, so a
 * late completion never writes into memory the caller has reused; writes
 * are copied by librbd (rbd_disable_zero_copy_writes, forced on). */
enum { AIO_PENDING, AIO_DONE, AIO_ABANDONED };

struct rbd_aio {
  struct rbd_priv *p;
  struct rbd_aio *prev, *next;   /* on p->inflight */
  int state;
  int op;                        /* VDK_IO_* or AIO_DISCARD/AIO_ZEROES */
  int64_t deadline;              /* CLOCK_MONOTONIC ns; 0: none */
  ssize_t ret;
  void *bounce;                  /* reads */
  void *buf;                     /* the caller's buffer (reads) */
  size_t len;
  /* async requests: completed into the core's queue */
  struct vdk_poster *poster;
  struct disk_queue *q;
  struct vdk_io *io;
};
#define AIO_DISCARD 100
#define AIO_ZEROES 101

static void
inflight_unlink (struct rbd_priv *p, struct rbd_aio *a)
{
  if (a->prev)
    a->prev->next = a->next;
  else
    p->inflight = a->next;
  if (a->next)
    a->next->prev = a->prev;
  a->prev = a->next = NULL;
}

static void
aio_free (struct rbd_aio *a)
{
  free (a->bounce);
  free (a);
}

/* Post an async request's result into the core's queue. */
static void
aio_post (struct rbd_aio *a, ssize_t r)
{
  vdk_poster_post (a->poster, a->q, a->io, r < 0 ? (int) r : (int) a->io->len);
}

static void
rbd_aio_cb (rbd_completion_t c, void *arg)
{
  struct rbd_aio *a = arg;
  struct rbd_priv *p = a->p;
  ssize_t r = rbd_aio_get_return_value (c);

  rbd_aio_release (c);
  if (a->op == VDK_IO_WRITE || a->op == AIO_DISCARD || a->op == AIO_ZEROES)
    bs_invalidate (p);
  pthread_mutex_lock (&p->aio_lock);
  inflight_unlink (p, a);
  /* librbd's own op timeout: the cluster is away, and later requests
   * (the flush of a failed convert, say) would each wait their deadline */
  if (r == -ETIMEDOUT)
    p->wedged = true;
  if (a->state == AIO_ABANDONED) {      /* its caller gave up on it */
    pthread_mutex_unlock (&p->aio_lock);
    aio_free (a);
    return;
  }
  if (a->op == VDK_IO_READ && r >= 0) {
    if ((size_t) r > a->len)
      r = (ssize_t) a->len;
    memcpy (a->buf, a->bounce, r);
    memset ((char *) a->buf + r, 0, a->len - r);
    r = (ssize_t) a->len;
  }
  a->state = AIO_DONE;
  a->ret = r;
  if (!a->io) {                         /* a synchronous caller waits */
    pthread_cond_broadcast (&p->aio_cond);
    pthread_mutex_unlock (&p->aio_lock);
    return;
  }
  pthread_mutex_unlock (&p->aio_lock);
  aio_post (a, r);
  aio_free (a);
}

/* Fails async requests past their deadline; runs while the image is open
 * and has had async requests. */
static void *
watchdog_main (void *arg)
{
  struct rbd_priv *p = arg;

  pthread_mutex_lock (&p->aio_lock);
  while (!p->watchdog_stop) {
    struct timespec ts;
    int64_t now = now_ns ();
    for (struct rbd_aio *a = p->inflight; a; a = a->next)
      if (a->io && a->state == AIO_PENDING && a->deadline && now >= a->deadline) {
        a->state = AIO_ABANDONED;
        p->wedged = true;
        aio_post (a, -ETIMEDOUT);
      }
    clock_gettime (CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += 250000000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait (&p->aio_cond, &p->aio_lock, &ts);
  }
  pthread_mutex_unlock (&p->aio_lock);
  return NULL;
}

/* Start request A (filled in but for the list fields): 0 or -errno, in
 * which case A is still the caller's. */
static int
aio_start (struct rbd_priv *p, struct rbd_aio *a, uint64_t off, const void *wbuf)
{
  rbd_completion_t c;
  int r;

  pthread_mutex_lock (&p->aio_lock);
  if (p->wedged) {
    pthread_mutex_unlock (&p->aio_lock);
    return -ETIMEDOUT;
  }
  if (a->io && p->deadline_ns && !p->watchdog_started) {
    if (pthread_create (&p->watchdog, NULL, watchdog_main, p) != 0) {
      pthread_mutex_unlock (&p->aio_lock);
      return -EAGAIN;
    }
    p->watchdog_started = true;
  }
  a->p = p;
  a->state = AIO_PENDING;
  a->deadline = p->deadline_ns ? now_ns () + p->deadline_ns : 0;
  a->prev = NULL;
  a->next = p->inflight;
  if (p->inflight)
    p->inflight->prev = a;
  p->inflight = a;
  pthread_mutex_unlock (&p->aio_lock);

  r = rbd_aio_create_completion (a, rbd_aio_cb, &c);
  if (r == 0) {
    switch (a->op) {
    case VDK_IO_READ:
      r = rbd_aio_read (p->img, off, a->len, a->bounce, c);
      break;
    case VDK_IO_WRITE:
      bs_invalidate (p);
      r = rbd_aio_write (p->img, off, a->len, wbuf, c);
      break;
    case VDK_IO_FLUSH:
      r = rbd_aio_flush (p->img, c);
      break;
    case AIO_DISCARD:
      bs_invalidate (p);
      r = rbd_aio_discard (p->img, off, a->len, c);
      break;
    case AIO_ZEROES:
      bs_invalidate (p);
      r = rbd_aio_write_zeroes (p->img, off, a->len, c, 0, 0);
      break;
    default:
      r = -EINVAL;
    }
    if (r < 0)
      rbd_aio_release (c);
  }
  if (r < 0) {
    pthread_mutex_lock (&p->aio_lock);
    inflight_unlink (p, a);
    pthread_mutex_unlock (&p->aio_lock);
  }
  return r;
}

/* One synchronous request of LEN bytes at OFF (BUF: read into or write
 * from), bounded by the deadline: bytes done or -errno (-ETIME: the
 * deadline passed). */
static ssize_t
aio_sync (struct rbd_priv *p, int op, void *buf, size_t len, uint64_t off)
{
  struct rbd_aio *a = calloc (1, sizeof *a);
  ssize_t r;

  if (!a)
    return -ENOMEM;
  a->op = op;
  a->len = len;
  a->buf = buf;
  if (op == VDK_IO_READ && !(a->bounce = malloc (VDK_MAX (len, (size_t) 1)))) {
    free (a);
    return -ENOMEM;
  }
  r = aio_start (p, a, off, buf);
  if (r < 0) {
    aio_free (a);
    return r;
  }
  pthread_mutex_lock (&p->aio_lock);
  while (a->state == AIO_PENDING) {
    struct timespec ts;
    if (!a->deadline) {
      pthread_cond_wait (&p->aio_cond, &p->aio_lock);
      continue;
    }
    if (now_ns () >= a->deadline) {
      a->state = AIO_ABANDONED;    /* freed by its completion, if any */
      p->wedged = true;
      pthread_mutex_unlock (&p->aio_lock);
      return -ETIME;               /* req_err says which deadline */
    }
    ts.tv_sec = a->deadline / 1000000000LL;
    ts.tv_nsec = a->deadline % 1000000000LL;
    pthread_cond_timedwait (&p->aio_cond, &p->aio_lock, &ts);
  }
  pthread_mutex_unlock (&p->aio_lock);
  r = a->ret;
  aio_free (a);
  return r;
}

/* rbd_resize has no asynchronous form, and waits for the exclusive lock
 * as writes do: it runs on a thread of its own, and the caller waits up
 * to the deadline.  The call's state is shared and freed by the last of
 * the two to leave. */
struct resize_call {
  rbd_image_t img;
  uint64_t size;
  int ret;
  bool done, abandoned;
  struct rbd_priv *p;
};

static void *
resize_main (void *arg)
{
  struct resize_call *c = arg;
  struct rbd_priv *p = c->p;
  int r = rbd_resize (c->img, c->size);

  pthread_mutex_lock (&p->aio_lock);
  if (c->abandoned) {
    pthread_mutex_unlock (&p->aio_lock);
    free (c);
    return NULL;
  }
  c->ret = r;
  c->done = true;
  pthread_cond_broadcast (&p->aio_cond);
  pthread_mutex_unlock (&p->aio_lock);
  return NULL;
}

/* rbd_resize bounded by the deadline: 0, -errno or -ETIME. */
static int
resize_bounded (struct rbd_priv *p, uint64_t size)
{
  struct resize_call *c;
  pthread_attr_t attr;
  pthread_t t;
  int64_t deadline;
  int r;

  if (!p->deadline_ns)
    return rbd_resize (p->img, size);
  pthread_mutex_lock (&p->aio_lock);
  r = p->wedged ? -ETIMEDOUT : 0;
  pthread_mutex_unlock (&p->aio_lock);
  if (r < 0)
    return r;
  c = calloc (1, sizeof *c);
  if (!c)
    return -ENOMEM;
  *c = (struct resize_call) { .img = p->img, .size = size, .p = p };
  pthread_attr_init (&attr);
  pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
  r = pthread_create (&t, &attr, resize_main, c);
  pthread_attr_destroy (&attr);
  if (r != 0) {
    free (c);
    return -r;
  }
  deadline = now_ns () + p->deadline_ns;
  pthread_mutex_lock (&p->aio_lock);
  while (!c->done) {
    struct timespec ts = { .tv_sec = deadline / 1000000000LL,
                           .tv_nsec = deadline % 1000000000LL };
    if (now_ns () >= deadline) {
      c->abandoned = true;
      p->wedged = true;
      pthread_mutex_unlock (&p->aio_lock);
      return -ETIME;
    }
    pthread_cond_timedwait (&p->aio_cond, &p->aio_lock, &ts);
  }
  pthread_mutex_unlock (&p->aio_lock);
  r = c->ret;
  free (c);
  if (r == -ETIMEDOUT) {
    pthread_mutex_lock (&p->aio_lock);
    p->wedged = true;
    pthread_mutex_unlock (&p->aio_lock);
  }
  return r;
}

/* The error for a failed request: ETIME (vdk's deadline) says so. */
static int
req_err (struct vdk_node *n, int err, const char *what, uint64_t off)
{
  struct rbd_priv *p = n->priv;

  if (err == ETIME)
    return vdk_err (ETIMEDOUT, "%s: %s at offset %" PRIu64 ": timed out (no answer from the Ceph "
                    "cluster within %" PRId64 " s)", n->filename, what, off,
                    (int64_t) (p->deadline_ns / 1000000000LL));
  return vdk_err (err, "%s: %s at offset %" PRIu64 ": %s", n->filename, what, off,
                  strerror (err));
}

/* The deadline from the cluster's OSD op timeout T: max (2T, T + 5 s).  A
 * request may wait for the exclusive lock (a few OSD operations) and
 * then for its own. */
static int64_t
deadline_from (rados_t cluster)
{
  char buf[64];
  double t;

  if (rados_conf_get (cluster, "rados_osd_op_timeout", buf, sizeof buf) < 0)
    return 65 * 1000000000LL;
  t = strtod (buf, NULL);
  if (!(t > 0))
    return 0;
  if (t > 86400)
    t = 86400;
  return (int64_t) (VDK_MAX (2 * t, t + 5) * 1e9);
}

/* Split at unescaped C; unescape "\C" in place.  Returns the rest or NULL. */
static char *
split_unescaped (char *s, char c)
{
  char *w = s;
  for (char *r = s; *r; r++) {
    if (*r == '\\' && r[1]) {
      *w++ = *++r;
      continue;
    }
    if (*r == c) {
      *w = 0;
      return r + 1;
    }
    *w++ = *r;
  }
  *w = 0;
  return NULL;
}

static int
parse_spec (const char *filename, struct rbd_spec *sp)
{
  char *rest, *path, *next, *slash;

  memset (sp, 0, sizeof *sp);
  if (strncmp (filename, "rbd:", 4) != 0)
    return vdk_err (EINVAL, "%s: not an rbd: spec", filename);
  sp->buf = strdup (filename + 4);
  if (!sp->buf)
    return vdk_err (ENOMEM, "out of memory");
  path = sp->buf;
  rest = split_unescaped (path, ':');
  while (rest) {
    char *kv = rest, *eq;
    rest = split_unescaped (kv, ':');
    eq = strchr (kv, '=');
    if (!eq || eq == kv)
      goto bad_opt;
    *eq = 0;
    if (!strcmp (kv, "conf"))
      sp->conf = eq + 1;
    else if (!strcmp (kv, "id"))
      sp->id = eq + 1;
    else {
      if (sp->nopts == RBD_MAX_OPTS) {
        free (sp->buf);
        return vdk_err (EINVAL, "%s: too many options", filename);
      }
      sp->keys[sp->nopts] = kv;
      sp->values[sp->nopts++] = eq + 1;
    }
    continue;
   bad_opt:
    {
      int r = vdk_err (EINVAL, "%s: invalid option '%s' (expected key=value)", filename, kv);
      free (sp->buf);
      return r;
    }
  }
  next = strchr (path, '@');
  if (next) {
    *next = 0;
    sp->snap = next + 1;
  }
  slash = strchr (path, '/');
  if (!slash)
    goto bad;
  *slash = 0;
  sp->pool = path;
  sp->image = slash + 1;
  slash = strchr (sp->image, '/');
  if (slash) {
    *slash = 0;
    sp->ns = sp->image;
    sp->image = slash + 1;
  }
  if (!sp->pool[0] || !sp->image[0] || strchr (sp->image, '/') || (sp->ns && !sp->ns[0]) ||
      (sp->snap && !sp->snap[0]))
    goto bad;
  return 0;
 bad:
  free (sp->buf);
  sp->buf = NULL;
  return vdk_err (EINVAL, "%s: invalid RBD spec (expected rbd:pool/image[@snap][:conf=PATH]"
                  "[:id=NAME])", filename);
}

/* One idle cluster connection is kept for the next open in this process
 * that asks for the same one (conf, id and options): connecting costs
 * ~20 ms of monitor round trips, and `convert -O raw SRC rbd:...` connects
 * three times (create, the format's create, the open).  It is shut down at
 * exit (before librados' own destructors: this handler is registered after
 * librados was loaded), or when another takes its place. */
static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static rados_t idle_cluster;
static char *idle_key;
static bool idle_atexit;

static void
idle_shutdown (void)
{
  pthread_mutex_lock (&idle_lock);
  if (idle_key) {
    rados_shutdown (idle_cluster);
    free (idle_key);
    idle_key = NULL;
  }
  pthread_mutex_unlock (&idle_lock);
}

/* The connection's identity: everything rbd_connect configures it with. */
static char *
conn_key (const struct rbd_spec *sp)
{
  size_t len = 64;
  char *k, *q;

  len += (sp->conf ? strlen (sp->conf) : 0) + (sp->id ? strlen (sp->id) : 0);
  for (size_t i = 0; i < sp->nopts; i++)
    len += strlen (sp->keys[i]) + strlen (sp->values[i]) + 2;
  k = malloc (len);
  if (!k)
    return NULL;
  q = k + sprintf (k, "%s\n%s\n", sp->conf ? sp->conf : "", sp->id ? sp->id : "");
  for (size_t i = 0; i < sp->nopts; i++)
    q += sprintf (q, "%s=%s\n", sp->keys[i], sp->values[i]);
  return k;
}

/* Done with CLUSTER (made with KEY, which this takes): keep it idle for
 * reuse, or shut it down. */
static void
cluster_release (rados_t cluster, char *key)
{
  if (key) {
    pthread_mutex_lock (&idle_lock);
    if (!idle_key) {
      idle_cluster = cluster;
      idle_key = key;
      if (!idle_atexit)
        idle_atexit = atexit (idle_shutdown) == 0;
      pthread_mutex_unlock (&idle_lock);
      if (idle_atexit)
        return;
      idle_shutdown ();
      return;
    }
    pthread_mutex_unlock (&idle_lock);
    free (key);
  }
  rados_shutdown (cluster);
}

static int
rbd_connect (const char *filename, const struct rbd_spec *sp, rados_t *clusterp,
             rados_ioctx_t *iop, char **keyp)
{
  rados_t cluster;
  rados_ioctx_t io;
  const char *lazy = vdk_lazy_rbd_load ();
  char *key;
  int r;

  if (lazy)
    return vdk_err (ELIBACC, "%s: %s", filename, lazy);
  key = conn_key (sp);
  pthread_mutex_lock (&idle_lock);
  if (key && idle_key && !strcmp (key, idle_key)) {
    cluster = idle_cluster;
    free (idle_key);
    idle_key = NULL;
    pthread_mutex_unlock (&idle_lock);
    goto connected;
  }
  pthread_mutex_unlock (&idle_lock);
  r = rados_create (&cluster, sp->id);
  if (r < 0) {
    free (key);
    return vdk_err (-r, "%s: cannot create a RADOS handle: %s", filename, strerror (-r));
  }
  r = rados_conf_read_file (cluster, sp->conf);
  if (r < 0 && sp->conf) {
    r = vdk_err (-r, "%s: cannot read Ceph configuration %s: %s", filename, sp->conf,
                 strerror (-r));
    goto err;
  }
  rados_conf_parse_env (cluster, NULL);
  /* defaults that the spec's options may override */
  rados_conf_set (cluster, "client_mount_timeout", "10");
  rados_conf_set (cluster, "rados_osd_op_timeout", "30");
  rados_conf_set (cluster, "rados_mon_op_timeout", "30");
  for (size_t i = 0; i < sp->nopts; i++) {
    r = rados_conf_set (cluster, sp->keys[i], sp->values[i]);
    if (r < 0) {
      r = vdk_err (-r, "%s: invalid Ceph option '%s=%s': %s", filename, sp->keys[i],
                   sp->values[i], strerror (-r));
      goto err;
    }
  }
  /* a request abandoned at its deadline may be completed later: librbd
   * must own a copy of the data it writes (the default; never zero-copy) */
  rados_conf_set (cluster, "rbd_disable_zero_copy_writes", "true");
  r = rados_connect (cluster);
  if (r < 0) {
    r = vdk_err (-r, "%s: cannot connect to the Ceph cluster: %s%s", filename, strerror (-r),
                 r == -ENOENT ? " (no configuration or keyring found: give :conf=PATH)" :
                 r == -ETIMEDOUT ? " (are the monitors running?)" : "");
    goto err;
  }
 connected:
  r = rados_ioctx_create (cluster, sp->pool, &io);
  if (r < 0) {
    r = vdk_err (-r, "%s: %s", filename, r == -ENOENT ? "no such pool" : strerror (-r));
    cluster_release (cluster, key);   /* the connection itself is good */
    return r;
  }
  if (sp->ns)
    rados_ioctx_set_namespace (io, sp->ns);
  *clusterp = cluster;
  *iop = io;
  *keyp = key;
  return 0;
 err:
  free (key);
  rados_shutdown (cluster);
  return r;
}

static int
rbd_proto_open (struct vdk_node *n, struct vdk_opts *opts, unsigned flags)
{
  const char *fn = vdk_opts_take (opts, "filename");
  struct rbd_spec sp;
  struct rbd_priv *p;
  uint64_t size;
  int r;

  if (fn && !n->filename && !(n->filename = strdup (fn)))
    return vdk_err (ENOMEM, "out of memory");
  if (!n->filename)
    return vdk_err (EINVAL, "rbd: no image given");
  r = parse_spec (n->filename, &sp);
  if (r < 0)
    return r;
  if (sp.snap && (flags & VDK_O_RDWR)) {
    free (sp.buf);
    return vdk_err (EROFS, "%s: snapshots are read-only", n->filename);
  }
  /* A name read from an image (a backing file) chooses where to connect,
   * not what librados does: options such as keyfile (send the user's key
   * to the image's monitor), log_file or admin_socket (write files) may
   * not come from untrusted data.  conf and id are what qemu-made images
   * record; pools' volumes are recorded as vol: specs instead. */
  if (flags & VDK_O_FROM_IMAGE) {
    static const char *const allowed[] = { "mon_host", "auth_client_required",
                                           "auth_supported", NULL };
    for (size_t i = 0; i < sp.nopts; i++) {
      size_t j = 0;
      while (allowed[j] && strcmp (allowed[j], sp.keys[i]))
        j++;
      if (!allowed[j]) {
        r = vdk_err (EPERM, "%s: option '%s' may not come from a name read from an image",
                     n->filename, sp.keys[i]);
        free (sp.buf);
        return r;
      }
    }
  }
  p = calloc (1, sizeof *p);
  if (!p) {
    free (sp.buf);
    return vdk_err (ENOMEM, "out of memory");
  }
  r = rbd_connect (n->filename, &sp, &p->cluster, &p->io, &p->conn_key);
  if (r < 0)
    goto err_free;
  p->read_only = !(flags & VDK_O_RDWR);
  r = p->read_only ? rbd_open_read_only (p->io, sp.image, &p->img, sp.snap)
                   : rbd_open (p->io, sp.image, &p->img, NULL);
  if (r < 0) {
    r = vdk_err (-r, "%s: %s", n->filename,
                 r == -ENOENT ? (sp.snap ? "no such image or snapshot" : "no such image")
                              : strerror (-r));
    goto err_conn;
  }
  r = rbd_get_size (p->img, &size);
  if (r < 0) {
    r = vdk_err (-r, "%s: cannot get the size: %s", n->filename, strerror (-r));
    rbd_close (p->img);
    goto err_conn;
  }
  if (size > VDK_MAX_IMAGE_SIZE) {
    r = vdk_err (EFBIG, "%s: image size %" PRIu64 " is too large", n->filename, size);
    rbd_close (p->img);
    goto err_conn;
  }
  free (sp.buf);
  pthread_mutex_init (&p->poster_lock, NULL);
  pthread_mutex_init (&p->bs_lock, NULL);
  pthread_mutex_init (&p->aio_lock, NULL);
  {
    pthread_condattr_t ca;
    pthread_condattr_init (&ca);
    pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
    pthread_cond_init (&p->aio_cond, &ca);
    pthread_condattr_destroy (&ca);
  }
  p->deadline_ns = deadline_from (p->cluster);
  n->size = size;
  n->request_align = 1;
  n->priv = p;
  return 0;
 err_conn:
  rados_ioctx_destroy (p->io);
  cluster_release (p->cluster, p->conn_key);
 err_free:
  free (sp.buf);
  free (p);
  return r;
}

static void
rbd_proto_close (struct vdk_node *n)
{
  struct rbd_priv *p = n->priv;

  if (!p)
    return;
  pthread_mutex_lock (&p->aio_lock);
  p->watchdog_stop = true;
  pthread_cond_broadcast (&p->aio_cond);
  pthread_mutex_unlock (&p->aio_lock);
  if (p->watchdog_started)
    pthread_join (p->watchdog, NULL);
  /* Requests that passed their deadline may still be inside librbd, and
   * rbd_close would wait for them (forever, if the cluster stays away):
   * leave the handles and this structure to the process's exit. */
  if (p->wedged || p->inflight) {
    pthread_mutex_lock (&graveyard_lock);
    p->grave_next = graveyard;
    graveyard = p;
    pthread_mutex_unlock (&graveyard_lock);
    return;
  }
  rbd_close (p->img);
  rados_ioctx_destroy (p->io);
  cluster_release (p->cluster, p->conn_key);
  vdk_poster_free (p->poster);
  pthread_mutex_destroy (&p->poster_lock);
  pthread_mutex_destroy (&p->bs_lock);
  pthread_mutex_destroy (&p->aio_lock);
  pthread_cond_destroy (&p->aio_cond);
  free (p->bs_ext);
  free (p);
}

/* Writes past the end grow the image (formats such as qcow2 append). */
static int
grow_for (struct vdk_node *n, uint64_t end)
{
  struct rbd_priv *p = n->priv;
  int r;

  bs_invalidate (p);    /* every write path comes here first */
  if (end <= n->size)
    return 0;
  r = resize_bounded (p, end);
  if (r < 0)
    return vdk_err (r == -ETIME ? ETIMEDOUT : -r, "%s: cannot grow the image to %" PRIu64
                    " bytes: %s", n->filename, end, r == -ETIME ? "timed out" : strerror (-r));
  n->size = end;
  return 0;
}

static int
rbd_proto_pread (struct vdk_node *n, void *buf, size_t len, uint64_t off)
{
  struct rbd_priv *p = n->priv;

  while (len > 0) {
    /* pieces of 64 MiB at most: each is read into a bounce buffer */
    size_t l = VDK_MIN (len, (size_t) 64 << 20);
    ssize_t r = aio_sync (p, VDK_IO_READ, buf, l, off);
    if (r < 0)
      return req_err (n, (int) -r, "read error", off);
    buf = (char *) buf + r;
    len -= r;
    off += r;
  }
  return 0;
}

static int
rbd_proto_pwrite (struct vdk_node *n, const void *buf, size_t len, uint64_t off, unsigned flags)
{
  struct rbd_priv *p = n->priv;
  int r = grow_for (n, off + len);

  if (r < 0)
    return r;
  while (len > 0) {
    size_t l = VDK_MIN (len, (size_t) 1 << 30);
    ssize_t w = aio_sync (p, VDK_IO_WRITE, (void *) buf, l, off);
    if (w < 0)
      return req_err (n, (int) -w, "write error", off);
    buf = (const char *) buf + l;
    len -= l;
    off += l;
  }
  if ((flags & DISK_FUA) && (r = (int) aio_sync (p, VDK_IO_FLUSH, NULL, 0, 0)) < 0)
    return req_err (n, -r, "flush", 0);
  return 0;
}

static int
rbd_proto_flush (struct vdk_node *n)
{
  struct rbd_priv *p = n->priv;
  int r = (int) aio_sync (p, VDK_IO_FLUSH, NULL, 0, 0);
  if (r < 0)
    return req_err (n, -r, "flush", 0);
  return 0;
}

static int
rbd_proto_discard (struct vdk_node *n, uint64_t off, uint64_t len)
{
  struct rbd_priv *p = n->priv;
  int r;

  while (len > 0) {
    size_t l = VDK_MIN (len, (uint64_t) 1 << 30);
    r = (int) aio_sync (p, AIO_DISCARD, NULL, l, off);
    if (r < 0)
      return req_err (n, -r, "discard", off);
    off += l;
    len -= l;
  }
  return 0;
}

static int
rbd_proto_write_zeroes (struct vdk_node *n, uint64_t off, uint64_t len, unsigned flags)
{
  struct rbd_priv *p = n->priv;
  int r;

  (void) flags;   /* unmapping or not: librbd decides, reads give zeroes either way */
  r = grow_for (n, off + len);
  if (r < 0)
    return r;
  while (len > 0) {
    size_t l = VDK_MIN (len, (uint64_t) 1 << 30);
    ssize_t z = aio_sync (p, AIO_ZEROES, NULL, l, off);
    if (z < 0)
      return req_err (n, (int) -z, "write zeroes", off);
    off += l;
    len -= l;
  }
  return 0;
}


#define DIFF_STOP (-ECANCELED)

static int
collect_cb (uint64_t off, size_t len, int exists, void *arg)
{
  struct rbd_priv *p = arg;

  if (!exists)
    return 0;
  if (p->bs_n > 0 && p->bs_ext[p->bs_n - 1].off + p->bs_ext[p->bs_n - 1].len == off) {
    p->bs_ext[p->bs_n - 1].len += len;
    return 0;
  }
  if (p->bs_n == p->bs_cap) {
    size_t cap = p->bs_cap ? p->bs_cap * 2 : 64;
    struct bs_extent *e;
    if (p->bs_n >= BS_MAX_EXTENTS)
      return DIFF_STOP;     /* the cache then ends here */
    e = realloc (p->bs_ext, cap * sizeof *e);
    if (!e)
      return -ENOMEM;
    p->bs_ext = e;
    p->bs_cap = cap;
  }
  p->bs_ext[p->bs_n++] = (struct bs_extent) { off, len };
  return 0;
}

/* Describe [off, off+len) from the cache: false if it does not cover off. */
static bool
bs_lookup (struct rbd_priv *p, uint64_t off, uint64_t len, struct vdk_extent *e)
{
  size_t lo = 0, hi = p->bs_n;

  if (!p->bs_valid || off < p->bs_start || off >= p->bs_end ||
      p->bs_filled_gen != __atomic_load_n (&p->bs_gen, __ATOMIC_SEQ_CST) ||
      now_ns () - p->bs_time > BS_TTL_NS)
    return false;
  len = VDK_MIN (len, p->bs_end - off);
  /* the first extent that ends after off */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (p->bs_ext[mid].off + p->bs_ext[mid].len <= off)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < p->bs_n && p->bs_ext[lo].off <= off) {
    e->kind = VDK_EXT_DATA;
    e->len = VDK_MIN (len, p->bs_ext[lo].off + p->bs_ext[lo].len - off);
  }
  else {
    e->kind = VDK_EXT_ZERO;
    e->len = lo < p->bs_n ? VDK_MIN (len, p->bs_ext[lo].off - off) : len;
  }
  return true;
}

static int
rbd_proto_block_status (struct vdk_node *n, uint64_t off, uint64_t len, struct vdk_extent *e)
{
  struct rbd_priv *p = n->priv;
  uint64_t span;
  int r;

  e->off = off;
  e->host = off;
  e->child = NULL;
  e->kind = VDK_EXT_DATA;
  e->len = len;
  if (off >= n->size)
    return 0;
  pthread_mutex_lock (&p->bs_lock);
  if (bs_lookup (p, off, len, e)) {
    pthread_mutex_unlock (&p->bs_lock);
    return 0;
  }
  /* one diff-iterate over a large range (whole objects: from the object
   * map when the image has fast-diff) */
  span = VDK_MIN (VDK_MAX (len, BS_SPAN), n->size - off);
  p->bs_n = 0;
  p->bs_valid = false;
  p->bs_filled_gen = __atomic_load_n (&p->bs_gen, __ATOMIC_SEQ_CST);
  r = rbd_diff_iterate2 (p->img, NULL, off, span, 1, 1, collect_cb, p);
  if (r < 0 && r != DIFF_STOP) {
    pthread_mutex_unlock (&p->bs_lock);
    return 0;   /* unknown: report data, which is always correct */
  }
  p->bs_start = off;
  p->bs_end = off + span;
  if (r == DIFF_STOP && p->bs_n > 0)    /* too many extents: up to the last one */
    p->bs_end = p->bs_ext[p->bs_n - 1].off + p->bs_ext[p->bs_n - 1].len;
  p->bs_time = now_ns ();
  p->bs_valid = true;
  /* a write during the iterate makes the answer unreliable: data */
  if (!bs_lookup (p, off, len, e)) {
    p->bs_valid = false;
    e->kind = VDK_EXT_DATA;
    e->len = len;
  }
  pthread_mutex_unlock (&p->bs_lock);
  return 0;
}

static int
rbd_proto_truncate (struct vdk_node *n, uint64_t size, enum vdk_prealloc pa)
{
  struct rbd_priv *p = n->priv;
  uint64_t old = n->size;
  int r;

  if (pa != VDK_PREALLOC_OFF && pa != VDK_PREALLOC_FULL)
    return vdk_err (ENOTSUP, "%s: preallocation mode '%s' is not supported on RBD",
                    n->filename, vdk_prealloc_name (pa));
  if (size == old && pa == VDK_PREALLOC_OFF)
    return 0;   /* created at this size: a resize would only take the lock */
  bs_invalidate (p);
  r = resize_bounded (p, size);
  bs_invalidate (p);
  if (r < 0)
    return vdk_err (r == -ETIME ? ETIMEDOUT : -r, "%s: resize: %s", n->filename,
                    r == -ETIME ? "timed out" : strerror (-r));
  n->size = size;
  if (pa == VDK_PREALLOC_FULL && size > old) {
    ssize_t z = rbd_write_zeroes (p->img, old, size - old,
                                  RBD_WRITE_ZEROES_FLAG_THICK_PROVISION, 0);
    bs_invalidate (p);
    if (z < 0)
      return vdk_err ((int) -z, "%s: preallocation: %s", n->filename, strerror ((int) -z));
  }
  return 0;
}

static int
sum_cb (uint64_t off, size_t len, int exists, void *arg)
{
  (void) off;
  if (exists)
    *(uint64_t *) arg += len;
  return 0;
}

static int64_t
rbd_proto_get_allocated (struct vdk_node *n)
{
  struct rbd_priv *p = n->priv;
  uint64_t sum = 0;
  int r = rbd_diff_iterate2 (p->img, NULL, 0, n->size, 0, 1, sum_cb, &sum);
  if (r < 0)
    return vdk_err (-r, "%s: cannot get the allocation: %s", n->filename, strerror (-r));
  return (int64_t) sum;
}

/* Create an image of the size hinted in OPTS (else empty), or empty an
 * existing one (like the file protocol's O_TRUNC) and give it that size.
 * Taking the hint says the image is done: disk_create skips raw's create
 * (an open, a same-size truncate and a close), as qemu-img does. */
static int
rbd_proto_create (const char *filename, struct vdk_opts *opts)
{
  struct rbd_spec sp;
  rados_t cluster;
  char *key;
  rados_ioctx_t io;
  rbd_image_options_t o;
  uint64_t size = 0;
  int r;

  if (opts && (r = vdk_opts_take_size (opts, "size", &size)) < 0)
    return r;
  r = parse_spec (filename, &sp);
  if (r < 0)
    return r;
  if (sp.snap) {
    free (sp.buf);
    return vdk_err (EINVAL, "%s: cannot create a snapshot as an image", filename);
  }
  r = rbd_connect (filename, &sp, &cluster, &io, &key);
  if (r < 0) {
    free (sp.buf);
    return r;
  }
  rbd_image_options_create (&o);
  r = rbd_create4 (io, sp.image, size, o);
  rbd_image_options_destroy (o);
  if (r == -EEXIST) {
    /* an existing image is emptied (and made SIZE, the size hint's promise) */
    rbd_image_t img;
    r = rbd_open (io, sp.image, &img, NULL);
    if (r == 0) {
      r = rbd_resize (img, 0);
      if (r == 0 && size > 0)
        r = rbd_resize (img, size);
      rbd_close (img);
    }
  }
  if (r < 0)
    r = vdk_err (-r, "%s: cannot create the image: %s", filename, strerror (-r));
  rados_ioctx_destroy (io);
  cluster_release (cluster, key);
  free (sp.buf);
  return r;
}

static int
rbd_proto_remove (const char *filename)
{
  struct rbd_spec sp;
  rados_t cluster;
  char *key;
  rados_ioctx_t io;
  int r;

  r = parse_spec (filename, &sp);
  if (r < 0)
    return r;
  r = rbd_connect (filename, &sp, &cluster, &io, &key);
  if (r < 0) {
    free (sp.buf);
    return r;
  }
  r = rbd_remove (io, sp.image);
  if (r == -ENOTEMPTY)
    r = vdk_err (ENOTEMPTY, "%s: the image has snapshots; remove them first", filename);
  else if (r < 0 && r != -ENOENT)
    r = vdk_err (-r, "%s: cannot remove the image: %s", filename, strerror (-r));
  else
    r = 0;
  rados_ioctx_destroy (io);
  cluster_release (cluster, key);
  free (sp.buf);
  return r;
}

/* ---- snapshots (vdk snapshot -l/-c/-a/-d on raw over rbd, as qemu-img) ---- */
#define RBD_MAX_SNAPS 65536

/* The image's snapshots, *N of them; free with snaps_free. */
static int
snaps_get (struct vdk_node *n, rbd_snap_info_t **out, int *count)
{
  struct rbd_priv *p = n->priv;
  rbd_snap_info_t *s = NULL;
  int max = 16;

  for (;;) {
    rbd_snap_info_t *ns = realloc (s, (size_t) max * sizeof *s);
    int r;
    if (!ns) {
      free (s);
      return vdk_err (ENOMEM, "out of memory");
    }
    s = ns;
    r = rbd_snap_list (p->img, s, &max);
    if (r >= 0) {
      *out = s;
      *count = r;
      return 0;
    }
    if (r != -ERANGE || max > RBD_MAX_SNAPS) {
      free (s);
      return vdk_err (r == -ERANGE ? EFBIG : -r, "%s: cannot list the snapshots: %s",
                      n->filename, r == -ERANGE ? "too many" : strerror (-r));
    }
  }
}

static void
snaps_free (rbd_snap_info_t *s, int count)
{
  if (count > 0)
    rbd_snap_list_end (s);
  free (s);
}

static int
rbd_proto_snapshot_list (struct vdk_node *n, struct disk_snapshot **out, size_t *n_out)
{
  struct rbd_priv *p = n->priv;
  struct disk_snapshot *v;
  rbd_snap_info_t *s;
  int count, r = snaps_get (n, &s, &count);

  if (r < 0)
    return r;
  v = calloc (count ? (size_t) count : 1, sizeof *v);
  if (!v) {
    snaps_free (s, count);
    return vdk_err (ENOMEM, "out of memory");
  }
  /* As qemu-img shows them: the name is the id too, the size the VM size. */
  for (int i = 0; i < count; i++) {
    struct timespec ts = { 0 };
    snprintf (v[i].id, sizeof v[i].id, "%s", s[i].name);
    snprintf (v[i].name, sizeof v[i].name, "%s", s[i].name);
    v[i].vm_state_size = s[i].size;
    if (rbd_snap_get_timestamp (p->img, s[i].id, &ts) == 0) {
      v[i].date_sec = (uint32_t) ts.tv_sec;
      v[i].date_nsec = (uint32_t) ts.tv_nsec;
    }
  }
  snaps_free (s, count);
  *out = v;
  *n_out = (size_t) count;
  return 0;
}

/* The name of the snapshot called NAME_OR_ID, or whose RBD id it is. */
static int
snap_find (struct vdk_node *n, const char *name_or_id, char *name, size_t len)
{
  rbd_snap_info_t *s;
  int count, r = snaps_get (n, &s, &count);

  if (r < 0)
    return r;
  r = vdk_err (ENOENT, "%s: no snapshot '%s'", n->filename, name_or_id);
  for (int i = 0; i < count && r < 0; i++)
    if (!strcmp (s[i].name, name_or_id))
      r = 0, snprintf (name, len, "%s", s[i].name);
  for (int i = 0; i < count && r < 0; i++) {
    char id[32];
    snprintf (id, sizeof id, "%" PRIu64, s[i].id);
    if (!strcmp (id, name_or_id))
      r = 0, snprintf (name, len, "%s", s[i].name);
  }
  if (r == 0)
    vdk_err_clear ();
  snaps_free (s, count);
  return r;
}

static int
rbd_proto_snapshot_create (struct vdk_node *n, const char *name)
{
  struct rbd_priv *p = n->priv;
  int r;

  if (strlen (name) >= 256 || strpbrk (name, "@/"))
    return vdk_err (EINVAL, "%s: invalid snapshot name '%s'", n->filename, name);
  r = rbd_snap_create (p->img, name);
  if (r < 0)
    return vdk_err (-r, "%s: cannot create snapshot '%s': %s", n->filename, name,
                    r == -EEXIST ? "it exists" : strerror (-r));
  return 0;
}

static int
rbd_proto_snapshot_delete (struct vdk_node *n, const char *name_or_id)
{
  struct rbd_priv *p = n->priv;
  char name[256];
  int prot = 0, r = snap_find (n, name_or_id, name, sizeof name);

  if (r < 0)
    return r;
  if (rbd_snap_is_protected (p->img, name, &prot) == 0 && prot)
    return vdk_err (EBUSY, "%s: snapshot '%s' is protected (clones may depend on it: 'rbd snap"
                    " unprotect' first)", n->filename, name);
  r = rbd_snap_remove (p->img, name);
  if (r < 0)
    return vdk_err (-r, "%s: cannot delete snapshot '%s': %s", n->filename, name, strerror (-r));
  return 0;
}

static int
rbd_proto_snapshot_apply (struct vdk_node *n, const char *name_or_id)
{
  struct rbd_priv *p = n->priv;
  char name[256];
  uint64_t size;
  int r = snap_find (n, name_or_id, name, sizeof name);

  if (r < 0)
    return r;
  r = rbd_snap_rollback (p->img, name);
  if (r < 0)
    return vdk_err (-r, "%s: cannot roll back to snapshot '%s': %s", n->filename, name,
                    strerror (-r));
  if (rbd_get_size (p->img, &size) == 0)
    n->size = size;
  return 0;
}

/* ---- asynchronous I/O ------------------------------------------------------ */

static int
rbd_proto_submit (struct vdk_node *n, struct disk_queue *q, struct vdk_io *io)
{
  struct rbd_priv *p = n->priv;
  struct rbd_aio *a;
  int r;

  if (io->len > INT32_MAX)
    return -ENOTSUP;
  pthread_mutex_lock (&p->poster_lock);
  if (!p->poster && !p->no_poster && vdk_poster_new (&p->poster) < 0)
    p->no_poster = true;
  pthread_mutex_unlock (&p->poster_lock);
  if (!p->poster)
    return -ENOTSUP;
  if (io->op == VDK_IO_WRITE && (io->flags & DISK_FUA))
    return -ENOTSUP;    /* rare: the synchronous path writes and flushes */
  if (io->op != VDK_IO_READ && io->op != VDK_IO_WRITE && io->op != VDK_IO_FLUSH)
    return -ENOTSUP;
  if (io->op == VDK_IO_WRITE && io->off + io->len > n->size) {
    r = grow_for (n, io->off + io->len);
    if (r < 0)
      return r;
  }
  a = calloc (1, sizeof *a);
  if (!a)
    return -ENOMEM;
  *a = (struct rbd_aio) { .op = io->op, .len = io->len, .buf = io->buf,
                          .poster = p->poster, .q = q, .io = io };
  if (io->op == VDK_IO_READ && !(a->bounce = malloc (VDK_MAX (io->len, (size_t) 1)))) {
    free (a);
    return -ENOMEM;
  }
  r = aio_start (p, a, io->off, io->buf);
  if (r < 0)
    aio_free (a);
  return r;
}

const struct vdk_protocol vdk_protocol_rbd = {
  .struct_size = sizeof (struct vdk_protocol),
  .name = "rbd",
  .schemes = (const char *const[]) { "rbd", NULL },
  .open = rbd_proto_open,
  .close = rbd_proto_close,
  .pread = rbd_proto_pread,
  .pwrite = rbd_proto_pwrite,
  .flush = rbd_proto_flush,
  .discard = rbd_proto_discard,
  .write_zeroes = rbd_proto_write_zeroes,
  .block_status = rbd_proto_block_status,
  .truncate = rbd_proto_truncate,
  .get_allocated = rbd_proto_get_allocated,
  .create = rbd_proto_create,
  .remove = rbd_proto_remove,
  .submit = rbd_proto_submit,
  .snapshot_list = rbd_proto_snapshot_list,
  .snapshot_create = rbd_proto_snapshot_create,
  .snapshot_apply = rbd_proto_snapshot_apply,
  .snapshot_delete = rbd_proto_snapshot_delete,
};
