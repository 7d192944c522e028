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

#include <rados/librados.h>
#include <rbd/librbd.h>

#include "../internal.h"
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
};

/* Before a write is started and when it completes (any thread, lock-free:
 * librbd's callback thread must never wait for a diff-iterate). */
static void
bs_invalidate (struct rbd_priv *p)
{
  __atomic_add_fetch (&p->bs_gen, 1, __ATOMIC_SEQ_CST);
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

static int
rbd_connect (const char *filename, const struct rbd_spec *sp, rados_t *clusterp,
             rados_ioctx_t *iop)
{
  rados_t cluster;
  rados_ioctx_t io;
  int r;

  r = rados_create (&cluster, sp->id);
  if (r < 0)
    return vdk_err (-r, "%s: cannot create a RADOS handle: %s", filename, strerror (-r));
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
  r = rados_connect (cluster);
  if (r < 0) {
    r = vdk_err (-r, "%s: cannot connect to the Ceph cluster: %s%s", filename, strerror (-r),
                 r == -ENOENT ? " (no configuration or keyring found: give :conf=PATH)" :
                 r == -ETIMEDOUT ? " (are the monitors running?)" : "");
    goto err;
  }
  r = rados_ioctx_create (cluster, sp->pool, &io);
  if (r < 0) {
    r = vdk_err (-r, "%s: %s", filename, r == -ENOENT ? "no such pool" : strerror (-r));
    goto err;
  }
  if (sp->ns)
    rados_ioctx_set_namespace (io, sp->ns);
  *clusterp = cluster;
  *iop = io;
  return 0;
 err:
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
  r = rbd_connect (n->filename, &sp, &p->cluster, &p->io);
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
  n->size = size;
  n->request_align = 1;
  n->priv = p;
  return 0;
 err_conn:
  rados_ioctx_destroy (p->io);
  rados_shutdown (p->cluster);
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
  rbd_close (p->img);
  rados_ioctx_destroy (p->io);
  rados_shutdown (p->cluster);
  vdk_poster_free (p->poster);
  pthread_mutex_destroy (&p->poster_lock);
  pthread_mutex_destroy (&p->bs_lock);
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
  r = rbd_resize (p->img, end);
  if (r < 0)
    return vdk_err (-r, "%s: cannot grow the image to %" PRIu64 " bytes: %s", n->filename,
                    end, strerror (-r));
  n->size = end;
  return 0;
}

static int
rbd_proto_pread (struct vdk_node *n, void *buf, size_t len, uint64_t off)
{
  struct rbd_priv *p = n->priv;

  while (len > 0) {
    size_t l = VDK_MIN (len, (size_t) 1 << 30);
    ssize_t r = rbd_read (p->img, off, l, buf);
    if (r < 0)
      return vdk_err ((int) -r, "%s: read error at offset %" PRIu64 ": %s", n->filename, off,
                      strerror ((int) -r));
    if (r == 0) {
      memset (buf, 0, len);
      return 0;
    }
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
    ssize_t w = rbd_write (p->img, off, l, buf);
    bs_invalidate (p);   /* also after: a block status meanwhile may not see it */
    if (w < 0)
      return vdk_err ((int) -w, "%s: write error at offset %" PRIu64 ": %s", n->filename, off,
                      strerror ((int) -w));
    if (w == 0)
      return vdk_err (EIO, "%s: short write at offset %" PRIu64, n->filename, off);
    buf = (const char *) buf + w;
    len -= w;
    off += w;
  }
  if ((flags & DISK_FUA) && (r = rbd_flush (p->img)) < 0)
    return vdk_err (-r, "%s: flush: %s", n->filename, strerror (-r));
  return 0;
}

static int
rbd_proto_flush (struct vdk_node *n)
{
  struct rbd_priv *p = n->priv;
  int r = rbd_flush (p->img);
  if (r < 0)
    return vdk_err (-r, "%s: flush: %s", n->filename, strerror (-r));
  return 0;
}

static int
rbd_proto_discard (struct vdk_node *n, uint64_t off, uint64_t len)
{
  struct rbd_priv *p = n->priv;
  int r;

  bs_invalidate (p);
  r = rbd_discard (p->img, off, len);
  bs_invalidate (p);
  if (r < 0)
    return vdk_err (-r, "%s: discard at offset %" PRIu64 ": %s", n->filename, off, strerror (-r));
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
    ssize_t z = rbd_write_zeroes (p->img, off, l, 0, 0);
    bs_invalidate (p);
    if (z < 0)
      return vdk_err ((int) -z, "%s: write zeroes at offset %" PRIu64 ": %s", n->filename, off,
                      strerror ((int) -z));
    off += l;
    len -= l;
  }
  return 0;
}

static int64_t
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
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
  bs_invalidate (p);
  r = rbd_resize (p->img, size);
  bs_invalidate (p);
  if (r < 0)
    return vdk_err (-r, "%s: resize: %s", n->filename, strerror (-r));
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

/* Create an empty image, or empty an existing one (like the file protocol's
 * O_TRUNC); the format driver then sets the size. */
static int
rbd_proto_create (const char *filename, struct vdk_opts *opts)
{
  struct rbd_spec sp;
  rados_t cluster;
  rados_ioctx_t io;
  rbd_image_options_t o;
  int r;

  (void) opts;
  r = parse_spec (filename, &sp);
  if (r < 0)
    return r;
  if (sp.snap) {
    free (sp.buf);
    return vdk_err (EINVAL, "%s: cannot create a snapshot as an image", filename);
  }
  r = rbd_connect (filename, &sp, &cluster, &io);
  if (r < 0) {
    free (sp.buf);
    return r;
  }
  rbd_image_options_create (&o);
  r = rbd_create4 (io, sp.image, 0, o);
  rbd_image_options_destroy (o);
  if (r == -EEXIST) {
    rbd_image_t img;
    r = rbd_open (io, sp.image, &img, NULL);
    if (r == 0) {
      r = rbd_resize (img, 0);
      rbd_close (img);
    }
  }
  if (r < 0)
    r = vdk_err (-r, "%s: cannot create the image: %s", filename, strerror (-r));
  rados_ioctx_destroy (io);
  rados_shutdown (cluster);
  free (sp.buf);
  return r;
}

static int
rbd_proto_remove (const char *filename)
{
  struct rbd_spec sp;
  rados_t cluster;
  rados_ioctx_t io;
  int r;

  r = parse_spec (filename, &sp);
  if (r < 0)
    return r;
  r = rbd_connect (filename, &sp, &cluster, &io);
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
  rados_shutdown (cluster);
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

struct rbd_aio {
  struct rbd_priv *p;
  struct vdk_poster *poster;
  struct disk_queue *q;
  struct vdk_io *io;
};

static void
rbd_aio_cb (rbd_completion_t c, void *arg)
{
  struct rbd_aio *a = arg;
  struct vdk_io *io = a->io;
  ssize_t r = rbd_aio_get_return_value (c);
  int ret;

  rbd_aio_release (c);
  if (io->op == VDK_IO_WRITE)
    bs_invalidate (a->p);
  if (r < 0)
    ret = (int) r;
  else {
    if (io->op == VDK_IO_READ && (size_t) r < io->len)
      memset ((char *) io->buf + r, 0, io->len - r);
    ret = (int) io->len;
  }
  vdk_poster_post (a->poster, a->q, io, ret);
  free (a);
}

static int
rbd_proto_submit (struct vdk_node *n, struct disk_queue *q, struct vdk_io *io)
{
  struct rbd_priv *p = n->priv;
  rbd_completion_t c;
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
  if (io->op == VDK_IO_WRITE)
    bs_invalidate (p);
  if (io->op == VDK_IO_WRITE && io->off + io->len > n->size) {
    r = grow_for (n, io->off + io->len);
    if (r < 0)
      return r;
  }
  a = malloc (sizeof *a);
  if (!a)
    return -ENOMEM;
  *a = (struct rbd_aio) { .p = p, .poster = p->poster, .q = q, .io = io };
  r = rbd_aio_create_completion (a, rbd_aio_cb, &c);
  if (r < 0) {
    free (a);
    return r;
  }
  switch (io->op) {
  case VDK_IO_READ:
    r = rbd_aio_read (p->img, io->off, io->len, io->buf, c);
    break;
  case VDK_IO_WRITE:
    r = rbd_aio_write (p->img, io->off, io->len, io->buf, c);
    break;
  case VDK_IO_FLUSH:
    r = rbd_aio_flush (p->img, c);
    break;
  }
  if (r < 0) {
    rbd_aio_release (c);
    free (a);
  }
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
