/* The "netfs" pool type: a directory on an NFS server, reached in user
 * space with libnfs (NFSv3).  Nothing is mounted: the pool's operations talk
 * to the server directly, and a volume's path (and key) is its nfs:// URL,
 * which libdisk's nfs protocol opens.  The target path of the definition is
 * kept for libvirt compatibility but never used.
 *
 *   <pool type='netfs'>
 *     <source>
 *       <host name='H' [port='NFS port']/>
 *       <dir path='/export/sub'/>
 *       <format type='nfs'/>            auto (the default) or nfs
 *       <protocol ver='3'/>             3; 4 is refused (see below)
 *     </source>
 *     <target><path>/mnt/x</path></target>
 *     <fs:mount_opts>                   optional, libvirt's fs namespace
 *       <fs:option name='mountport=N'/> port=N mountport=N timeo=DECISECONDS
 *     </fs:mount_opts>                  nfsvers=3 vers=3 tcp soft nolock
 *   </pool>
 *
 * Without port/mountport the ports come from the server's portmapper.  Every
 * RPC has a finite timeout (timeo, default 15 s), TCP connects give up after
 * two SYN retries and nothing reconnects, so a dead server gives an error.
 *
 * NFSv4 is refused: libnfs 4.0 cannot encode NFSv4 writes larger than 2 KiB.
 *
 * In-use checks: NFSv3 keeps no open state on the server, vdk's NFS client
 * takes no NLM locks and OFD locks only exist on local files, so whether
 * another client (or another vdk) has a volume open cannot be known:
 * vol-delete and vol-wipe do not refuse volumes in use. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../../libdisk/lazy/nfs.h"

#include <libxml/tree.h>

#include "vdk/disk.h"
#include "../pool-int.h"

#define NETFS_DEFAULT_TIMEOUT_S 15
#define NETFS_MAX_EXPORTS 4096

static const char *const netfs_formats[] = { "auto", "nfs", NULL };

/* Where the pool lives: from the definition, checked by netfs_check. */
struct netfs_src {
  const char *host;
  char dir[1025];              /* absolute, no trailing '/' unless "/" */
  long nfsport, mountport;     /* 0: ask the portmapper */
  int timeout_s;               /* 0: the default */
};

/* ---- the definition --------------------------------------------------------- */
static bool
host_valid (const char *h)
{
  if (!h || !h[0] || strlen (h) > 255)
    return false;
  for (const unsigned char *p = (const unsigned char *) h; *p; p++)
    if (*p <= 0x20 || *p == 0x7f || strchr ("/?#@:%[]\\'\"", *p))
      return false;
  return true;
}

/* Can S be written in an nfs:// URL as it is?  libnfs does not decode
 * %XX and cuts the query at '?', qemu decodes %XX: these characters have
 * no spelling that both read the same way. */
static bool
url_safe (const char *s)
{
  for (const unsigned char *p = (const unsigned char *) s; *p; p++)
    if (*p <= 0x20 || *p == 0x7f || strchr ("?#%\\", *p))
      return false;
  return true;
}

static int
parse_port (const struct pool_def *d, const char *what, const char *v, long *out)
{
  char *end;
  long n;

  errno = 0;
  n = strtol (v, &end, 10);
  if (errno || end == v || *end || n < 1 || n > 65535)
    return pool_err (EINVAL, "pool '%s': invalid %s '%s' (1-65535)", d->name, what, v);
  *out = n;
  return 0;
}

static int
refuse_v4 (const struct pool_def *d, const char *ver)
{
  if (!strcmp (ver, "3"))
    return 0;
  if (ver[0] == '4')
    return pool_err (ENOTSUP, "pool '%s': NFSv4 (protocol version %s) is not supported: the"
                     " NFSv4 write path of libnfs 4.0 is broken; use NFSv3 (protocol ver"
                     " '3', the default)", d->name, ver);
  return pool_err (ENOTSUP, "pool '%s': unsupported NFS protocol version '%s' (only 3)",
                   d->name, ver);
}

static int
get_src (const struct pool_def *d, struct netfs_src *s)
{
  int r;

  memset (s, 0, sizeof *s);
  if (!d->source_host)
    return pool_err (EINVAL, "pool '%s': missing storage pool source host name"
                     " (<host name=...>, --source-host)", d->name);
  if (!host_valid (d->source_host))
    return pool_err (EINVAL, "pool '%s': invalid NFS server host name '%s' (IPv6 addresses"
                     " and ports in the name are not supported; give the port with"
                     " <host port=...>)", d->name, d->source_host);
  if (!d->source_dir)
    return pool_err (EINVAL, "pool '%s': missing storage pool source path (<dir path=...>,"
                     " --source-path)", d->name);
  if (d->source_dir[0] != '/' || strstr (d->source_dir, "/../") ||
      !strcmp (d->source_dir + strlen (d->source_dir) - (strlen (d->source_dir) >= 3 ? 3 : 0),
               "/..") || strstr (d->source_dir, "//") || !url_safe (d->source_dir) ||
      strlen (d->source_dir) > 1024)
    return pool_err (EINVAL, "pool '%s': invalid source path '%s': it must be an absolute"
                     " path on the server without '..', '//', '?', '#', '%%' or spaces",
                     d->name, d->source_dir);
  if (d->n_devices || d->source_name || d->initiator_iqn || d->auth_type)
    return pool_err (EINVAL, "pool '%s': a netfs pool takes a source host and dir only (no"
                     " device, name, initiator or auth)", d->name);
  if (d->source_protocol_ver && (r = refuse_v4 (d, d->source_protocol_ver)) < 0)
    return r;
  s->host = d->source_host;
  snprintf (s->dir, sizeof s->dir, "%s", d->source_dir);
  for (size_t l = strlen (s->dir); l > 1 && s->dir[l - 1] == '/'; l--)
    s->dir[l - 1] = 0;
  s->nfsport = d->source_port;
  for (size_t i = 0; i < d->n_mount_opts; i++) {
    const char *o = d->mount_opts[i], *eq = strchr (o, '=');
    size_t kl = eq ? (size_t) (eq - o) : strlen (o);
#define KEY(k) (kl == strlen (k) && !strncmp (o, k, kl))
    if (eq && KEY ("port")) {
      long p;
      if ((r = parse_port (d, "NFS port", eq + 1, &p)) < 0)
        return r;
      if (s->nfsport && s->nfsport != p)
        return pool_err (EINVAL, "pool '%s': two different NFS ports (%ld and %ld)", d->name,
                         s->nfsport, p);
      s->nfsport = p;
    }
    else if (eq && KEY ("mountport")) {
      if ((r = parse_port (d, "MOUNT port", eq + 1, &s->mountport)) < 0)
        return r;
    }
    else if (eq && KEY ("timeo")) {
      char *end;
      long t;
      errno = 0;
      t = strtol (eq + 1, &end, 10);
      if (errno || end == eq + 1 || *end || t < 1 || t > 36000)
        return pool_err (EINVAL, "pool '%s': invalid timeo '%s' (deciseconds, 1-36000)",
                         d->name, eq + 1);
      s->timeout_s = (int) ((t + 9) / 10);   /* libnfs counts whole seconds */
    }
    else if (eq && (KEY ("nfsvers") || KEY ("vers"))) {
      if ((r = refuse_v4 (d, eq + 1)) < 0)
        return r;
    }
    else if (!eq && (KEY ("tcp") || KEY ("soft") || KEY ("nolock")))
      ;   /* what vdk's client does anyway */
    else
      return pool_err (ENOTSUP, "pool '%s': mount option '%s' is not supported by vdk's"
                       " user-space NFS client (supported: port=N, mountport=N,"
                       " timeo=DECISECONDS, nfsvers=3, tcp, soft, nolock)", d->name, o);
#undef KEY
  }
  return 0;
}

static int
netfs_check (const struct pool_def *d)
{
  struct netfs_src s;
  return get_src (d, &s);
}

/* The query that points libnfs (and libdisk) at the server's ports. */
static void
make_query (const struct netfs_src *s, bool with_timeout, char *q, size_t len)
{
  size_t n = 0;

  q[0] = 0;
#define ADD(...) do {                                                   \
    int k_ = snprintf (q + n, len - n, "%s", n ? "&" : "?");            \
    n += (size_t) k_ < len - n ? (size_t) k_ : 0;                       \
    k_ = snprintf (q + n, len - n, __VA_ARGS__);                        \
    n += (size_t) k_ < len - n ? (size_t) k_ : 0;                       \
  } while (0)
  if (s->nfsport)
    ADD ("nfsport=%ld", s->nfsport);
  if (s->mountport)
    ADD ("mountport=%ld", s->mountport);
  if (with_timeout && s->timeout_s)
    ADD ("timeout=%d", s->timeout_s);
#undef ADD
}

/* ---- talking to the server -------------------------------------------------- */
/* A libnfs context with DIR (an absolute path on the server) mounted.
 * *DENIED (may be NULL) tells a refused MOUNT (no such directory, not
 * exported) from a server that could not be reached. */
static int
nfs_connect_dir (const struct pool_def *d, const struct netfs_src *s, const char *dir,
                 struct nfs_context **out, bool *denied)
{
  const char *lazy;
  struct nfs_context *nfs;
  struct nfs_url *u;
  char q[128], *url;
  int r;

  if (denied)
    *denied = false;
  make_query (s, false, q, sizeof q);
  if (asprintf (&url, "nfs://%s%s%s", s->host, dir, q) < 0)
    return pool_err (ENOMEM, "out of memory");
  if ((lazy = vdk_lazy_nfs_load ())) {
    free (url);
    return pool_err (ELIBACC, "pool '%s': %s", d->name, lazy);
  }
  nfs = nfs_init_context ();
  if (!nfs) {
    free (url);
    return pool_err (ENOMEM, "pool '%s': cannot create an NFS context", d->name);
  }
  nfs_set_timeout (nfs, (s->timeout_s ? s->timeout_s : NETFS_DEFAULT_TIMEOUT_S) * 1000);
  nfs_set_autoreconnect (nfs, 0);
  nfs_set_tcp_syncnt (nfs, 2);   /* an unreachable host fails in seconds */
  nfs_set_version (nfs, 3);
  u = nfs_parse_url_dir (nfs, url);
  free (url);
  if (!u) {
    r = pool_err (EINVAL, "pool '%s': invalid NFS location %s:%s: %s", d->name, s->host, dir,
                  nfs_get_error (nfs));
    nfs_destroy_context (nfs);
    return r;
  }
  r = nfs_mount (nfs, u->server, u->path);
  nfs_destroy_url (u);
  if (r != 0) {
    const char *m = nfs_get_error (nfs);
    bool mnt_err = m && strstr (m, "Mount failed with error");
    if (denied)
      *denied = mnt_err;
    bool refused = m && (strstr (m, "nfs_service failed") ||
                         strstr (m, "Failed to start connection"));
    if (mnt_err)
      r = pool_err (ENOENT, "pool '%s': cannot mount %s:%s: %s", d->name, s->host, dir, m);
    else
      r = pool_err (refused ? ECONNREFUSED : r < 0 && r != -EINVAL ? -r : EIO,
                    "pool '%s': cannot reach the NFS server %s (mounting %s): %s%s", d->name,
                    s->host, dir, refused ? "connection refused or host unreachable: " : "",
                    m && m[0] ? m : strerror (r < 0 ? -r : EIO));
    nfs_destroy_context (nfs);
    return r;
  }
  *out = nfs;
  return 0;
}

static int
pool_connect (struct pool *p, struct nfs_context **out)
{
  struct netfs_src s;
  int r = get_src (p->def, &s);
  return r < 0 ? r : nfs_connect_dir (p->def, &s, s.dir, out, NULL);
}

static int
nfs_fail (const struct pool *p, struct nfs_context *nfs, int r, const char *what,
          const char *name)
{
  return pool_err (r < 0 ? -r : EIO, "pool '%s': %s '%s': %s", p->def->name, what, name,
                   nfs_get_error (nfs));
}

/* ---- the export list (MOUNT EXPORT) ------------------------------------------ */
struct export_call {
  bool done;
  int err;                     /* errno, 0 on success */
  char msg[256];
  char **dirs;
  size_t n;
};

static void *
load_ptr (const void *base, size_t off)
{
  void *p;
  memcpy (&p, (const char *) base + off, sizeof p);
  return p;
}

static void
export_cb (struct rpc_context *rpc, int status, void *data, void *opaque)
{
  struct export_call *c = opaque;

  (void) rpc;
  if (c->done)
    return;   /* cancelled after our deadline */
  c->done = true;
  if (status != RPC_STATUS_SUCCESS) {
    c->err = status == RPC_STATUS_TIMEOUT ? ETIMEDOUT : EIO;
    snprintf (c->msg, sizeof c->msg, "%s", status == RPC_STATUS_ERROR && data
              ? (const char *) data : "the EXPORT call failed");
    return;
  }
  /* The list is freed after the callback returns: keep the names.  libnfs
   * 4.0's decoder puts these structures at 4-byte aligned addresses, so
   * their pointers are read with memcpy. */
  const void *e = NULL;
  if (data)
    memcpy (&e, data, sizeof e);
  for (; e; e = load_ptr (e, offsetof (struct exportnode, ex_next))) {
    const char *dir = load_ptr (e, offsetof (struct exportnode, ex_dir));
    char **nd;
    if (c->n == NETFS_MAX_EXPORTS) {
      c->err = E2BIG;
      snprintf (c->msg, sizeof c->msg, "more than %d exports", NETFS_MAX_EXPORTS);
      return;
    }
    if (!dir || !(nd = realloc (c->dirs, (c->n + 1) * sizeof *nd)) ||
        !((c->dirs = nd)[c->n] = strndup (dir, 4096))) {
      c->err = dir ? ENOMEM : EIO;
      snprintf (c->msg, sizeof c->msg, dir ? "out of memory" : "an export without a path");
      return;
    }
    c->n++;
  }
}

static void
connect_cb (struct rpc_context *rpc, int status, void *data, void *opaque)
{
  struct export_call *c = opaque;

  if (c->done)
    return;
  if (status != RPC_STATUS_SUCCESS) {
    c->done = true;
    c->err = status == RPC_STATUS_TIMEOUT ? ETIMEDOUT : ECONNREFUSED;
    snprintf (c->msg, sizeof c->msg, "connection refused or host unreachable: %s",
              status == RPC_STATUS_ERROR && data ? (const char *) data : "cannot connect");
    return;
  }
  if (rpc_mount3_export_async (rpc, export_cb, c) != 0) {
    c->done = true;
    c->err = EIO;
    snprintf (c->msg, sizeof c->msg, "cannot send the EXPORT call: %s", rpc_get_error (rpc));
  }
}

static void
free_dirs (char **dirs, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (dirs[i]);
  free (dirs);
}

static int64_t
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The directories HOST exports, asked of its MOUNT service (at MOUNTPORT,
 * else through the portmapper), within TIMEOUT_S seconds.  On failure the
 * message is left in ERR. */
static int
list_exports (const char *host, long mountport, int timeout_s, char ***dirs, size_t *n,
              char *err, size_t errlen)
{
  struct export_call c = { 0 };
  const char *lazy = vdk_lazy_nfs_load ();
  struct rpc_context *rpc;
  int64_t deadline = now_ms () + (int64_t) (timeout_s ? timeout_s : NETFS_DEFAULT_TIMEOUT_S) * 1000;
  int r;

  if (lazy) {
    snprintf (err, errlen, "%s", lazy);
    return -ELIBACC;
  }
  rpc = rpc_init_context ();
  if (!rpc) {
    snprintf (err, errlen, "cannot create an RPC context");
    return -ENOMEM;
  }
  r = mountport ? rpc_connect_async (rpc, host, (int) mountport, connect_cb, &c)
    : rpc_connect_program_async (rpc, host, MOUNT_PROGRAM, MOUNT_V3, connect_cb, &c);
  if (r != 0) {
    snprintf (err, errlen, "cannot connect: %s", rpc_get_error (rpc));
    rpc_destroy_context (rpc);
    return -ECONNREFUSED;
  }
  /* The RPC layer of libnfs 4.0 has no timeout of its own for raw calls:
   * the deadline is ours. */
  while (!c.done) {
    struct pollfd pfd = { .fd = rpc_get_fd (rpc), .events = (short) rpc_which_events (rpc) };
    int64_t left = deadline - now_ms ();
    if (left <= 0) {
      c.err = ETIMEDOUT;
      snprintf (c.msg, sizeof c.msg, "no answer from the MOUNT service in %d s: timed out",
                timeout_s ? timeout_s : NETFS_DEFAULT_TIMEOUT_S);
      break;
    }
    r = poll (&pfd, 1, (int) (left < 100 ? left : 100));
    if (r < 0 && errno != EINTR) {
      c.err = errno;
      snprintf (c.msg, sizeof c.msg, "poll: %s", strerror (errno));
      break;
    }
    if (rpc_service (rpc, r > 0 ? pfd.revents : 0) < 0 && !c.done) {
      c.err = ECONNRESET;
      snprintf (c.msg, sizeof c.msg, "connection lost: %s", rpc_get_error (rpc));
      break;
    }
  }
  c.done = true;
  rpc_destroy_context (rpc);   /* a callback still pending is cancelled here */
  if (c.err) {
    free_dirs (c.dirs, c.n);
    snprintf (err, errlen, "%s", c.msg);
    return -c.err;
  }
  *dirs = c.dirs;
  *n = c.n;
  return 0;
}

/* Is directory A the same as or above directory B? */
static bool
dir_contains (const char *a, const char *b)
{
  size_t l = strlen (a);
  while (l > 1 && a[l - 1] == '/')
    l--;
  if (l == 1 && a[0] == '/')
    return true;
  return !strncmp (a, b, l) && (b[l] == '/' || !b[l]);
}

/* The export that holds S->dir (the longest exported directory above or at
 * it), mounted in *OUT; *REST is the rest of the path, "" when S->dir is
 * the export itself, else "/sub/dir". */
static int
find_export (const struct pool_def *d, const struct netfs_src *s, struct nfs_context **out,
             const char **rest)
{
  char **dirs = NULL, err[300], *best = NULL;
  size_t n = 0, bl = 0;
  int r = list_exports (s->host, s->mountport, s->timeout_s, &dirs, &n, err, sizeof err);

  if (r < 0)
    return pool_err (-r, "pool '%s': cannot list the exports of %s: %s", d->name, s->host, err);
  for (size_t i = 0; i < n; i++) {
    size_t l = strlen (dirs[i]);
    while (l > 1 && dirs[i][l - 1] == '/')
      dirs[i][--l] = 0;
    if (dirs[i][0] == '/' && dir_contains (dirs[i], s->dir) && (!best || l > bl)) {
      best = dirs[i];
      bl = l;
    }
  }
  if (!best) {
    free_dirs (dirs, n);
    return pool_err (ENOENT, "pool '%s': no export of %s holds '%s'", d->name, s->host,
                     s->dir);
  }
  r = nfs_connect_dir (d, s, best, out, NULL);
  *rest = s->dir + (bl == 1 ? 0 : bl);
  free_dirs (dirs, n);
  return r;
}

/* find-storage-pool-sources: the server's exports, as libvirt lists them
 * (libvirt runs showmount -e).  PORT, when given, is the MOUNT service's
 * port (the export list is a MOUNT call); else the portmapper is asked. */
static int
netfs_find_sources (const char *host, const char *port, const char *srcspec_xml,
                    char **xml_out)
{
  struct _xmlDoc *doc = NULL;
  char *spec_host = NULL, *spec_port = NULL, **dirs = NULL, err[300], *out = NULL;
  size_t n = 0, len = 0;
  long mport = 0;
  FILE *f;
  int r;

  *xml_out = NULL;
  if (srcspec_xml && srcspec_xml[0]) {
    struct _xmlNode *root;
    doc = pool_xml_parse (srcspec_xml, strlen (srcspec_xml), "source spec", "source");
    if (!doc)
      return -pool_last_errno ();
    root = xmlDocGetRootElement (doc);
    spec_host = pool_xml_attr (pool_xml_child (root, "host"), "name");
    spec_port = pool_xml_attr (pool_xml_child (root, "host"), "port");
    xmlFreeDoc (doc);
  }
  if (!host || !host[0])
    host = spec_host;
  if (!port || !port[0])
    port = spec_port;
  r = 0;
  if (!host)
    r = pool_err (EINVAL, "a netfs source search needs the server's host name");
  else if (!host_valid (host))
    r = pool_err (EINVAL, "invalid NFS server host name '%s'", host);
  else if (port) {
    char *end;
    errno = 0;
    mport = strtol (port, &end, 10);
    if (errno || end == port || *end || mport < 1 || mport > 65535)
      r = pool_err (EINVAL, "Invalid port number: %s", port);
  }
  if (r == 0 && (r = list_exports (host, mport, 0, &dirs, &n, err, sizeof err)) < 0)
    r = pool_err (-r, "cannot list the exports of %s: %s", host, err);
  if (r == 0 && !(f = open_memstream (&out, &len)))
    r = pool_err (ENOMEM, "out of memory");
  if (r == 0) {
    char *h = pool_xml_escape (host);
    fputs ("<sources>\n", f);
    for (size_t i = 0; h && i < n; i++) {
      char *dir = pool_xml_escape (dirs[i]);
      if (!dir) {
        h = (free (h), NULL);
        break;
      }
      fprintf (f, "  <source>\n    <host name='%s'/>\n    <dir path='%s'/>\n"
               "    <format type='nfs'/>\n  </source>\n", h, dir);
      free (dir);
    }
    fputs ("</sources>\n", f);
    if (fclose (f) != 0 || !h) {
      free (out);
      r = pool_err (ENOMEM, "out of memory");
    }
    else
      *xml_out = out;
    free (h);
  }
  free_dirs (dirs, n);
  free (spec_host);
  free (spec_port);
  return r;
}

/* ---- volumes ---------------------------------------------------------------- */
static char *
vol_url (const struct netfs_src *s, const char *name)
{
  char q[160], *url;
  make_query (s, true, q, sizeof q);
  return asprintf (&url, "nfs://%s%s%s%s%s", s->host, strcmp (s->dir, "/") ? s->dir : "",
                   "/", name, q) < 0 ? NULL : url;
}

static char *
netfs_vol_path (struct pool *p, const char *name)
{
  struct netfs_src s;

  if (get_src (p->def, &s) < 0)
    return NULL;
  if (!url_safe (name)) {
    pool_err (EINVAL, "invalid volume name '%s' for netfs pool '%s': '?', '#', '%%', '\\' and"
              " spaces cannot be written in an nfs:// URL", name, p->def->name);
    return NULL;
  }
  char *u = vol_url (&s, name);
  if (!u)
    pool_err (ENOMEM, "out of memory");
  return u;
}

struct nfs_attrs {
  uint64_t size, used, mode, uid, gid;
  struct timespec atime, mtime, ctime;
};

/* A volume from its attributes; the format and virtual size are probed
 * through libdisk's nfs protocol (no locks, no backing files). */
static int
make_vol (const struct netfs_src *s, const char *name, const struct nfs_attrs *a,
          struct pool_vol **out)
{
  struct pool_vol *v = calloc (1, sizeof *v);

  if (!v)
    return pool_err (ENOMEM, "out of memory");
  v->name = strdup (name);
  v->path = vol_url (s, name);
  v->key = v->path ? strdup (v->path) : NULL;
  v->type = "network";
  v->mode = (mode_t) a->mode;
  v->uid = (uid_t) a->uid;
  v->gid = (gid_t) a->gid;
  v->atime = a->atime;
  v->mtime = a->mtime;
  v->ctime = a->ctime;
  v->physical = a->size;
  v->allocation = a->used;
  v->capacity = a->size;
  /* a name that cannot be written in a URL is listed, not opened */
  pool_vol_probe (v, url_safe (name) ? v->path : NULL);
  if (!v->name || !v->key || !v->path || !v->format) {
    pool_vol_free (v);
    return pool_err (ENOMEM, "out of memory");
  }
  *out = v;
  return 0;
}

static int
lookup_in (struct pool *p, const struct netfs_src *s, struct nfs_context *nfs,
           const char *name, struct pool_vol **out)
{
  struct nfs_stat_64 st;
  struct nfs_attrs a;
  char *path;
  int r;

  if (asprintf (&path, "/%s", name) < 0)
    return pool_err (ENOMEM, "out of memory");
  r = nfs_stat64 (nfs, path, &st);
  free (path);
  if (r == -ENOENT)
    return pool_err (ENOENT, "Storage volume not found: no storage vol with matching name"
                     " '%s'", name);
  if (r != 0)
    return nfs_fail (p, nfs, r, "cannot stat volume", name);
  if (!S_ISREG (st.nfs_mode))
    return pool_err (ENOENT, "Storage volume not found: '%s' is not a file", name);
  a = (struct nfs_attrs) {
    .size = st.nfs_size, .used = st.nfs_used, .mode = st.nfs_mode,
    .uid = st.nfs_uid, .gid = st.nfs_gid,
    .atime = { (time_t) st.nfs_atime, (long) st.nfs_atime_nsec },
    .mtime = { (time_t) st.nfs_mtime, (long) st.nfs_mtime_nsec },
    .ctime = { (time_t) st.nfs_ctime, (long) st.nfs_ctime_nsec },
  };
  return make_vol (s, name, &a, out);
}

static int
netfs_vol_lookup (struct pool *p, const char *name, struct pool_vol **out)
{
  struct netfs_src s;
  struct nfs_context *nfs;
  int r;

  if ((r = get_src (p->def, &s)) < 0 || (r = nfs_connect_dir (p->def, &s, s.dir, &nfs, NULL)) < 0)
    return r;
  r = lookup_in (p, &s, nfs, name, out);
  nfs_destroy_context (nfs);
  return r;
}

static int
netfs_refresh (struct pool *p, struct pool_vol ***out, size_t *n)
{
  struct netfs_src s;
  struct nfs_context *nfs;
  struct nfsdir *dir;
  struct nfsdirent *e;
  struct pool_vol **v = NULL;
  size_t count = 0;
  int r;

  if ((r = get_src (p->def, &s)) < 0 || (r = nfs_connect_dir (p->def, &s, s.dir, &nfs, NULL)) < 0)
    return r;
  r = nfs_opendir (nfs, "/", &dir);
  if (r != 0) {
    r = nfs_fail (p, nfs, r, "cannot list directory", s.dir);
    nfs_destroy_context (nfs);
    return r;
  }
  while ((e = nfs_readdir (nfs, dir))) {
    struct pool_vol *vol, **nv;
    struct nfs_attrs a;
    if (e->type != NF3REG || !pool_name_valid (e->name))
      continue;
    a = (struct nfs_attrs) {
      .size = e->size, .used = e->used, .mode = e->mode | S_IFREG, .uid = e->uid,
      .gid = e->gid,
      .atime = { e->atime.tv_sec, (long) e->atime_nsec },
      .mtime = { e->mtime.tv_sec, (long) e->mtime_nsec },
      .ctime = { e->ctime.tv_sec, (long) e->ctime_nsec },
    };
    if (count >= POOL_MAX_VOLUMES) {
      r = pool_err (E2BIG, "pool '%s': too many volumes", p->def->name);
      break;
    }
    if ((r = make_vol (&s, e->name, &a, &vol)) < 0)
      break;
    if (!(nv = realloc (v, (count + 1) * sizeof *nv))) {
      pool_vol_free (vol);
      r = pool_err (ENOMEM, "out of memory");
      break;
    }
    v = nv;
    v[count++] = vol;
  }
  nfs_closedir (nfs, dir);
  nfs_destroy_context (nfs);
  if (r < 0) {
    pool_vol_list_free (v, count);
    return r;
  }
  *out = v;
  *n = count;
  return 0;
}

static int
write_zeroes_prefix (const char *url, uint64_t len)
{
  struct disk *d;
  size_t bs = 1u << 20;
  uint8_t *z;
  int r = disk_open (&d, url, "raw", DISK_OPEN_RDWR, NULL);

  if (r < 0)
    return pool_err_from_disk (r);
  if (!(z = calloc (1, bs))) {
    disk_close (d);
    return pool_err (ENOMEM, "out of memory");
  }
  for (uint64_t off = 0; off < len && r >= 0; off += bs)
    r = disk_pwrite (d, z, len - off < bs ? len - off : bs, off, 0);
  free (z);
  if (r < 0) {
    pool_err_from_disk (r);
    disk_close (d);
    return r;
  }
  r = disk_close (d);
  return r < 0 ? pool_err_from_disk (r) : 0;
}

static int
netfs_vol_create (struct pool *p, const struct vol_def *d)
{
  const char *fmt = d->format ? d->format : "raw", *opts = NULL;
  struct netfs_src s;
  struct nfs_context *nfs;
  char *url, *path = NULL;
  int r;

  if ((r = get_src (p->def, &s)) < 0)
    return r;
  if (!(url = netfs_vol_path (p, d->name)))
    return -pool_last_errno ();
  if (d->prealloc_metadata) {
    if (!strcmp (fmt, "raw")) {
      free (url);
      return pool_err (ENOTSUP, "metadata preallocation is not supported for raw volumes");
    }
    opts = "preallocation=metadata";
  }
  else if (d->has_allocation && d->capacity > 0 && d->allocation >= d->capacity)
    opts = "preallocation=full";   /* NFSv3 has no fallocate: zeroes are written */
  /* A backing volume is recorded by its path, as libvirt does: for a
   * volume of a netfs pool, its nfs:// URL (qemu 7.2 cannot follow a
   * relative backing name over nfs://: it looks in "top.qcow2/base"). */
  r = disk_create (url, fmt, d->capacity, opts, d->backing_path, d->backing_format,
                   DISK_CREATE_QUIET);
  if (r < 0) {
    free (url);
    return pool_err_from_disk (r);
  }
  /* libvirt's default volume permissions: a disk image is private. */
  if ((r = nfs_connect_dir (p->def, &s, s.dir, &nfs, NULL)) == 0) {
    if (asprintf (&path, "/%s", d->name) < 0)
      r = pool_err (ENOMEM, "out of memory");
    else if ((r = nfs_chmod (nfs, path, 0600)) != 0)
      r = nfs_fail (p, nfs, r, "cannot set the mode of volume", d->name);
    free (path);
    nfs_destroy_context (nfs);
  }
  /* A partial allocation of a raw volume: write the first bytes. */
  if (r == 0 && !strcmp (fmt, "raw") && d->has_allocation && d->allocation > 0 &&
      d->allocation < d->capacity)
    r = write_zeroes_prefix (url, d->allocation);
  if (r < 0) {
    int e = pool_last_errno ();
    char msg[1024];
    snprintf (msg, sizeof msg, "%s", pool_last_error ());
    disk_remove (url, fmt);
    r = pool_err (e, "%s", msg);
  }
  free (url);
  return r;
}

static int
netfs_vol_delete (struct pool *p, struct pool_vol *v)
{
  struct nfs_context *nfs;
  char *path;
  int r;

  if (url_safe (v->name)) {
    /* disk_remove also removes the extent files of a vmdk */
    r = disk_remove (v->path, v->format);
    return r < 0 ? pool_err_from_disk (r) : 0;
  }
  if ((r = pool_connect (p, &nfs)) < 0)
    return r;
  if (asprintf (&path, "/%s", v->name) < 0)
    r = pool_err (ENOMEM, "out of memory");
  else if ((r = nfs_unlink (nfs, path)) != 0)
    r = nfs_fail (p, nfs, r, "cannot delete volume", v->name);
  free (path);
  nfs_destroy_context (nfs);
  return r;
}

static int
netfs_vol_resize (struct pool *p, struct pool_vol *v, uint64_t capacity, unsigned flags)
{
  struct disk *d;
  int r;

  (void) p;
  r = disk_open (&d, v->path, v->format, DISK_OPEN_RDWR, NULL);
  if (r < 0)
    return pool_err_from_disk (r);
  /* NFSv3 has no fallocate: --allocate writes the new space */
  r = disk_truncate (d, capacity, (flags & POOL_RESIZE_ALLOCATE) ? "full" : NULL,
                     (flags & POOL_RESIZE_SHRINK) ? DISK_TRUNCATE_SHRINK : 0);
  if (r < 0) {
    pool_err_from_disk (r);
    disk_close (d);
    return r;
  }
  r = disk_close (d);
  return r < 0 ? pool_err_from_disk (r) : 0;
}

/* See the top of the file: nothing tells whether a volume is in use. */
static int
netfs_vol_check_not_in_use (struct pool *p, struct pool_vol *v)
{
  (void) p;
  (void) v;
  return 0;
}

static int
netfs_vol_check_io (struct pool *p, const struct pool_vol *v)
{
  if (!url_safe (v->name))
    return pool_err (EINVAL, "volume '%s' of pool '%s' cannot be opened: its name cannot be"
                     " written in an nfs:// URL ('?', '#', '%%', '\\' or spaces)", v->name,
                     p->def->name);
  return 0;
}

/* ---- the pool ------------------------------------------------------------------- */
static int
netfs_info (struct pool *p, struct pool_info *info)
{
  struct nfs_context *nfs;
  struct nfs_statvfs_64 sv;
  int r;

  if ((r = pool_connect (p, &nfs)) < 0)
    return r;
  /* NFSv3 FSSTAT: libnfs gives its byte counts in blocks of f_frsize */
  r = nfs_statvfs64 (nfs, "/", &sv);
  if (r != 0)
    r = nfs_fail (p, nfs, r, "FSSTAT failed on", p->def->source_dir);
  else if (sv.f_bfree > sv.f_blocks || sv.f_bavail > sv.f_blocks ||
           (sv.f_frsize && sv.f_blocks > UINT64_MAX / sv.f_frsize))
    r = pool_err (EIO, "pool '%s': the server reports impossible sizes (FSSTAT)",
                  p->def->name);
  else {
    info->capacity = sv.f_blocks * sv.f_frsize;
    info->available = sv.f_bavail * sv.f_frsize;
    info->allocation = (sv.f_blocks - sv.f_bfree) * sv.f_frsize;
  }
  nfs_destroy_context (nfs);
  return r;
}

/* The directory must exist on the server and be mountable. */
static int
netfs_start (struct pool *p)
{
  struct netfs_src s;
  struct nfs_context *nfs;
  const char *rest;
  bool denied;
  int r;

  if ((r = get_src (p->def, &s)) < 0)
    return r;
  r = nfs_connect_dir (p->def, &s, s.dir, &nfs, &denied);
  if (r == 0) {
    nfs_destroy_context (nfs);
    return 0;
  }
  if (!denied)
    return r;
  /* Refused: is it a missing directory under an export? */
  if (find_export (p->def, &s, &nfs, &rest) == 0) {
    struct nfs_stat_64 st;
    r = *rest ? nfs_stat64 (nfs, rest, &st) : 0;
    nfs_destroy_context (nfs);
    if (*rest && r == -ENOENT)
      return pool_err (ENOENT, "cannot start pool '%s': directory '%s' does not exist on %s"
                       " (run pool-build)", p->def->name, s.dir, s.host);
    if (*rest && r == 0 && !S_ISDIR (st.nfs_mode))
      return pool_err (ENOTDIR, "cannot start pool '%s': '%s' on %s is not a directory",
                       p->def->name, s.dir, s.host);
  }
  return pool_err (EACCES, "cannot start pool '%s': the server %s refuses to mount '%s'",
                   p->def->name, s.host, s.dir);
}

static int
netfs_stop (struct pool *p)
{
  (void) p;   /* nothing is mounted */
  return 0;
}

/* Create the directory (and its missing parents) under the export. */
static int
netfs_build (struct pool *p, unsigned flags)
{
  struct netfs_src s;
  struct nfs_context *nfs;
  const char *rest;
  char *path;
  int mode = (int) pool_target_mode (p->def), r;

  (void) flags;
  if ((r = get_src (p->def, &s)) < 0 || (r = find_export (p->def, &s, &nfs, &rest)) < 0)
    return r;
  if (!(path = strdup (rest))) {
    nfs_destroy_context (nfs);
    return pool_err (ENOMEM, "out of memory");
  }
  /* PATH is "" (the export itself) or "/sub/dir": each of its leading
   * parts in turn, creating the missing ones */
  for (size_t i = 1, l = strlen (path); r == 0 && i <= l; i++) {
    struct nfs_stat_64 st;
    char saved = path[i];
    if (saved != '/' && saved)
      continue;
    path[i] = 0;
    r = nfs_stat64 (nfs, path, &st);
    if (r == -ENOENT) {
      if ((r = nfs_mkdir2 (nfs, path, mode)) != 0)
        r = pool_err (-r, "cannot build pool '%s': cannot create directory '%.*s%s' on %s:"
                      " %s", p->def->name, (int) (strlen (s.dir) - l), s.dir, path, s.host,
                      nfs_get_error (nfs));
    }
    else if (r != 0)
      r = nfs_fail (p, nfs, r, "cannot stat", path);
    else if (!S_ISDIR (st.nfs_mode))
      r = pool_err (ENOTDIR, "cannot build pool '%s': '%.*s%s' on %s is not a directory",
                    p->def->name, (int) (strlen (s.dir) - l), s.dir, path, s.host);
    path[i] = saved;
  }
  if (r == 0 && p->def->mode) {
    if ((r = nfs_chmod (nfs, *path ? path : "/", mode)) != 0)
      r = nfs_fail (p, nfs, r, "cannot set the mode of", s.dir);
  }
  if (r == 0 && (p->def->owner >= 0 || p->def->group >= 0)) {
    struct nfs_stat_64 st;
    if ((r = nfs_stat64 (nfs, *path ? path : "/", &st)) != 0 ||
        (r = nfs_chown (nfs, *path ? path : "/",
                        p->def->owner >= 0 ? (int) p->def->owner : (int) st.nfs_uid,
                        p->def->group >= 0 ? (int) p->def->group : (int) st.nfs_gid)) != 0)
      r = nfs_fail (p, nfs, r, "cannot set the owner of", s.dir);
  }
  free (path);
  nfs_destroy_context (nfs);
  return r < 0 ? r : 0;
}

/* Remove the (empty) directory from the server; an export itself stays. */
static int
netfs_delete (struct pool *p)
{
  struct netfs_src s;
  struct nfs_context *nfs;
  struct nfsdir *dir;
  struct nfsdirent *e;
  const char *rest;
  bool denied, empty = true;
  int r;

  if ((r = get_src (p->def, &s)) < 0)
    return r;
  r = nfs_connect_dir (p->def, &s, s.dir, &nfs, &denied);
  if (r < 0 && !denied)
    return r;
  if (r == 0) {
    if ((r = nfs_opendir (nfs, "/", &dir)) != 0) {
      r = nfs_fail (p, nfs, r, "cannot list directory", s.dir);
      nfs_destroy_context (nfs);
      return r;
    }
    while (empty && (e = nfs_readdir (nfs, dir)))
      empty = !strcmp (e->name, ".") || !strcmp (e->name, "..");
    nfs_closedir (nfs, dir);
    nfs_destroy_context (nfs);
    if (!empty)
      return pool_err (ENOTEMPTY, "cannot delete pool '%s': directory '%s' on %s is not empty",
                       p->def->name, s.dir, s.host);
  }
  if ((r = find_export (p->def, &s, &nfs, &rest)) < 0)
    return r;
  if (!*rest)
    r = pool_err (EBUSY, "cannot delete pool '%s': '%s' is an export of %s, not a directory"
                  " under one; it is not removed", p->def->name, s.dir, s.host);
  else if ((r = nfs_rmdir (nfs, rest)) == -ENOENT)
    r = 0;   /* gone already */
  else if (r != 0)
    r = nfs_fail (p, nfs, r, "cannot remove directory", s.dir);
  nfs_destroy_context (nfs);
  return r;
}

const struct pool_type_ops pool_type_netfs = {
  .name = "netfs",
  .default_source_format = "auto",
  .source_formats = netfs_formats,
  .check = netfs_check,
  .build = netfs_build,
  .start = netfs_start,
  .stop = netfs_stop,
  .delete = netfs_delete,
  .info = netfs_info,
  .refresh = netfs_refresh,
  .vol_lookup = netfs_vol_lookup,
  .vol_path = netfs_vol_path,
  .vol_create = netfs_vol_create,
  .vol_delete = netfs_vol_delete,
  .vol_resize = netfs_vol_resize,
  .vol_wipe = pool_file_vol_wipe,
  .vol_check_not_in_use = netfs_vol_check_not_in_use,
  .vol_check_io = netfs_vol_check_io,
  .find_sources = netfs_find_sources,
};
