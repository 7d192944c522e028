/* The "rbd" pool type, as libvirt's: the images of a RADOS pool are the
 * volumes (format raw).
 *
 *   <pool type='rbd'>
 *     <name>P</name>
 *     <source>
 *       <name>RADOS-POOL</name>
 *       <host name='MON' port='6789'/>
 *       <auth type='ceph' username='admin'><secret uuid='...'/></auth>
 *     </source>
 *   </pool>
 *
 * The cluster connection is libvirt's: mon_host from <host>, the cephx key
 * from the secret (its value is the key: `secret-set-value --base64 AQ..`),
 * the client name from the username.  libvirt's rbd namespace adds options
 * (<rbd:config_opts><rbd:option name='K' value='V'/>): they are set with
 * rados_conf_set, and the option "conf" names a ceph.conf to read first (a
 * vdk addition: a pool can use the cluster's config file and keyring instead
 * of, or besides, <host> and <auth>).  With neither <host> nor "conf",
 * librados's own search applies ($CEPH_CONF, /etc/ceph/ceph.conf).
 *
 * Connecting gives up after client_mount_timeout (10 s unless an option
 * says otherwise), operations after rados_osd_op_timeout and
 * rados_mon_op_timeout (30 s): unreachable monitors or a wrong key (which
 * Ceph answers by never completing authentication) give one error.
 *
 * Volumes are opened by libdisk through the rbd: protocol: a volume's SPEC
 * (struct pool_vol) is "rbd:RADOSPOOL/IMAGE:mon_host=...:id=...:keyfile=
 * FILE:auth_client_required=cephx", where FILE is the secret's own value
 * file in the state dir (0600 in a 0700 directory, base64 without a
 * newline: exactly what Ceph's keyfile option reads).  So the key itself is
 * never copied: not into a spec, a message, a command line, the
 * environment or another file.  vol-path and vol-key print libvirt's
 * RADOSPOOL/IMAGE. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../libdisk/lazy/rbd.h"
#include "../pool-int.h"
#include "../secret.h"

#define RBD_DEFAULT_PORT 6789
#define RBD_MAX_SNAPS 65536

struct rbd_conn {
  rados_t cluster;
  rados_ioctx_t io;
};

/* ---- definitions ------------------------------------------------------------------ */
static const char *
conf_opt (const struct pool_def *d, const char *name)
{
  for (size_t i = 0; i < d->n_config_opts; i++)
    if (!strcmp (d->config_opt_names[i], name))
      return d->config_opt_values[i];
  return NULL;
}

static bool
has_ctl (const char *s)
{
  for (; s && *s; s++)
    if ((unsigned char) *s < 0x20 || *s == 0x7f)
      return true;
  return false;
}

static int
rbd_check (const struct pool_def *d)
{
  const char *sn = d->source_name, *h;
  long port;

  if (!sn || !sn[0])
    return pool_err (EINVAL, "pool '%s': missing source name (--source-name: the RADOS pool)",
                     d->name);
  if (strpbrk (sn, "/@") || has_ctl (sn) || strlen (sn) > 255)
    return pool_err (EINVAL, "pool '%s': invalid RADOS pool name '%s'", d->name, sn);
  for (size_t i = 0; (h = pool_def_host (d, i, &port)); i++) {
    if (!h[0] || has_ctl (h) || strpbrk (h, ",; "))
      return pool_err (EINVAL, "pool '%s': invalid host name '%s'", d->name, h);
  }
  if (d->auth_type && strcmp (d->auth_type, "ceph"))
    return pool_err (EINVAL, "pool '%s': auth type '%s' is not supported for rbd pools"
                     " (only 'ceph')", d->name, d->auth_type);
  if (d->auth_username && (!d->auth_username[0] || has_ctl (d->auth_username)))
    return pool_err (EINVAL, "pool '%s': invalid auth username", d->name);
  for (size_t i = 0; i < d->n_config_opts; i++) {
    const char *n = d->config_opt_names[i], *v = d->config_opt_values[i];
    if (!n[0] || strpbrk (n, ":=\\") || has_ctl (n) || has_ctl (v))
      return pool_err (EINVAL, "pool '%s': invalid rbd:option '%s'", d->name, n);
    if (!strcmp (n, "key") || !strcmp (n, "keyfile"))
      return pool_err (EINVAL, "pool '%s': rbd:option '%s' is refused: give the key with"
                       " <auth> and a secret", d->name, n);
    if (!strcmp (n, "id") && d->auth_username)
      return pool_err (EINVAL, "pool '%s': rbd:option 'id' and <auth username> both name the"
                       " client", d->name);
    if (!strcmp (n, "mon_host") && d->source_host)
      return pool_err (EINVAL, "pool '%s': rbd:option 'mon_host' and <host> both name the"
                       " monitors", d->name);
  }
  return 0;
}

/* "host:port[,host:port...]" for mon_host, one per <host> (port 6789
 * unless given).  "host:port" in a host name (virsh pool-define-as
 * --source-host H:P) is taken as it is. */
static char *
mon_host (const struct pool_def *d)
{
  char *all = NULL;
  const char *h;
  long port;

  for (size_t i = 0; (h = pool_def_host (d, i, &port)); i++) {
    const char *colon = strchr (h, ':');
    bool v6 = colon && strchr (colon + 1, ':') && h[0] != '[';
    char *s;
    int n;

    if (colon && !v6 && port <= 0)
      n = asprintf (&s, "%s%s%s", all ? all : "", all ? "," : "", h);
    else
      n = asprintf (&s, "%s%s%s%s%s:%ld", all ? all : "", all ? "," : "", v6 ? "[" : "", h,
                    v6 ? "]" : "", port > 0 ? port : RBD_DEFAULT_PORT);
    free (all);
    if (n < 0)
      return NULL;
    all = s;
  }
  return all;
}

static const char *
client_id (const struct pool_def *d)
{
  return d->auth_username ? d->auth_username : conf_opt (d, "id");
}

/* ---- connecting ---------------------------------------------------------------------- */
static const char *
connect_hint (int r)
{
  switch (r) {
  case -ETIMEDOUT:
    return " (the monitors are unreachable, or the key is wrong)";
  case -ENOENT:
    return " (no monitors or key: give <host> and <auth>, or rbd:option conf)";
  case -EACCES:
  case -EPERM:
    return " (the key or the client's capabilities are wrong)";
  default:
    return "";
  }
}

static int
rbd_set (struct pool *p, rados_t cl, const char *k, const char *v)
{
  int r = rados_conf_set (cl, k, v);
  if (r < 0)
    return pool_err (-r, "pool '%s': invalid Ceph option '%s': %s", p->def->name, k,
                     strerror (-r));
  return 0;
}

/* Connect as the pool's rbd: specs do (libdisk/protocols/rbd.c), with the
 * key given in memory, and open the RADOS pool. */
static int
rbd_connect (struct pool *p, struct rbd_conn *c)
{
  const char *lazy;
  const struct pool_def *d = p->def;
  const char *conf = conf_opt (d, "conf");
  unsigned char *key = NULL;
  size_t keylen = 0;
  char *b64 = NULL, *mon = NULL;
  int r;

  memset (c, 0, sizeof *c);
  if ((lazy = vdk_lazy_rbd_load ()))
    return pool_err (ELIBACC, "pool '%s': %s", d->name, lazy);
  r = rados_create (&c->cluster, client_id (d));
  if (r < 0)
    return pool_err (-r, "pool '%s': cannot create a RADOS handle: %s", d->name, strerror (-r));
  r = rados_conf_read_file (c->cluster, conf);
  if (r < 0 && conf) {
    r = pool_err (-r, "pool '%s': cannot read Ceph configuration %s: %s", d->name, conf,
                  strerror (-r));
    goto fail;
  }
  rados_conf_parse_env (c->cluster, NULL);
  if ((r = rbd_set (p, c->cluster, "client_mount_timeout", "10")) < 0 ||
      (r = rbd_set (p, c->cluster, "rados_osd_op_timeout", "30")) < 0 ||
      (r = rbd_set (p, c->cluster, "rados_mon_op_timeout", "30")) < 0)
    goto fail;
  if (d->source_host) {
    if (!(mon = mon_host (d))) {
      r = pool_err (ENOMEM, "out of memory");
      goto fail;
    }
    if ((r = rbd_set (p, c->cluster, "mon_host", mon)) < 0)
      goto fail;
  }
  if (d->auth_type) {
    r = d->auth_secret_uuid ? pool_secret_lookup_uuid (d->auth_secret_uuid, &key, &keylen)
      : pool_secret_lookup_usage ("ceph", d->auth_secret_usage, &key, &keylen);
    if (r < 0) {
      char msg[1024];
      snprintf (msg, sizeof msg, "%s", pool_last_error ());
      r = pool_err (-r, "pool '%s': cannot get the Ceph key: %s", d->name, msg);
      goto fail;
    }
    if (!(b64 = pool_base64_encode (key, keylen))) {
      r = pool_err (ENOMEM, "out of memory");
      goto fail;
    }
    if ((r = rbd_set (p, c->cluster, "key", b64)) < 0 ||
        (r = rbd_set (p, c->cluster, "auth_client_required", "cephx")) < 0)
      goto fail;
  }
  for (size_t i = 0; i < d->n_config_opts; i++) {
    const char *n = d->config_opt_names[i];
    if (strcmp (n, "conf") && strcmp (n, "id") &&
        (r = rbd_set (p, c->cluster, n, d->config_opt_values[i])) < 0)
      goto fail;
  }
  r = rados_connect (c->cluster);
  if (r < 0) {
    r = pool_err (-r, "pool '%s': cannot connect to the Ceph cluster%s%s as client.%s: %s%s",
                  d->name, mon ? " at " : "", mon ? mon : "",
                  client_id (d) ? client_id (d) : "admin", strerror (-r), connect_hint (r));
    goto fail;
  }
  r = rados_ioctx_create (c->cluster, d->source_name, &c->io);
  if (r < 0) {
    r = r == -ENOENT
      ? pool_err (ENOENT, "pool '%s': RADOS pool '%s' does not exist", d->name, d->source_name)
      : pool_err (-r, "pool '%s': cannot open RADOS pool '%s': %s", d->name, d->source_name,
                  strerror (-r));
    c->io = NULL;
    goto fail;
  }
  goto out;
 fail:
  rados_shutdown (c->cluster);
  c->cluster = NULL;
 out:
  if (b64) {
    memset (b64, 0, strlen (b64));
    free (b64);
  }
  pool_secret_value_free (key, keylen);
  free (mon);
  return r;
}

static void
rbd_disconnect (struct rbd_conn *c)
{
  if (c->io)
    rados_ioctx_destroy (c->io);
  if (c->cluster)
    rados_shutdown (c->cluster);
  c->io = NULL;
  c->cluster = NULL;
}

/* ---- the rbd: spec of a volume --------------------------------------------------------- */
struct sbuf {
  char *s;
  size_t len, cap;
  bool oom;
};

static void
sb_addn (struct sbuf *b, const char *s, size_t n)
{
  if (b->oom)
    return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = (b->len + n + 1) * 2;
    char *ns = realloc (b->s, cap);
    if (!ns) {
      b->oom = true;
      return;
    }
    b->s = ns;
    b->cap = cap;
  }
  memcpy (b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = 0;
}

/* S with ':' and '\' escaped as the rbd: protocol reads them. */
static void
sb_esc (struct sbuf *b, const char *s)
{
  for (; *s; s++) {
    if (*s == ':' || *s == '\\')
      sb_addn (b, "\\", 1);
    sb_addn (b, s, 1);
  }
}

static void
sb_opt (struct sbuf *b, const char *k, const char *v)
{
  sb_addn (b, ":", 1);
  sb_addn (b, k, strlen (k));
  sb_addn (b, "=", 1);
  sb_esc (b, v);
}

/* The connection options of the pool's specs: ":k=v:k=v..." (maybe ""). */
static char *
spec_options (struct pool *p)
{
  const struct pool_def *d = p->def;
  struct sbuf b = { 0 };
  char *mon = NULL, *keyfile = NULL;
  int r;

  if (d->auth_type) {
    r = d->auth_secret_uuid ? pool_secret_value_file (NULL, NULL, d->auth_secret_uuid, &keyfile)
      : pool_secret_value_file ("ceph", d->auth_secret_usage, NULL, &keyfile);
    if (r < 0) {
      char msg[1024];
      snprintf (msg, sizeof msg, "%s", pool_last_error ());
      pool_err (-r, "pool '%s': cannot get the Ceph key: %s", d->name, msg);
      return NULL;
    }
  }
  if (d->source_host && !(mon = mon_host (d))) {
    free (keyfile);
    pool_err (ENOMEM, "out of memory");
    return NULL;
  }
  sb_addn (&b, "", 0);
  for (size_t i = 0; i < d->n_config_opts; i++)
    sb_opt (&b, d->config_opt_names[i], d->config_opt_values[i]);
  if (d->auth_username)
    sb_opt (&b, "id", d->auth_username);
  if (mon)
    sb_opt (&b, "mon_host", mon);
  if (keyfile) {
    sb_opt (&b, "keyfile", keyfile);
    sb_opt (&b, "auth_client_required", "cephx");
  }
  free (mon);
  free (keyfile);
  if (b.oom || !b.s) {
    free (b.s);
    pool_err (ENOMEM, "out of memory");
    return NULL;
  }
  return b.s;
}

/* "rbd:RADOSPOOL/NAME" + OPTS */
static char *
spec_join (struct pool *p, const char *name, const char *opts)
{
  struct sbuf b = { 0 };

  sb_addn (&b, "rbd:", 4);
  sb_esc (&b, p->def->source_name);
  sb_addn (&b, "/", 1);
  sb_esc (&b, name);
  sb_addn (&b, opts, strlen (opts));
  if (b.oom) {
    free (b.s);
    pool_err (ENOMEM, "out of memory");
    return NULL;
  }
  return b.s;
}

static char *
vol_spec (struct pool *p, const char *name)
{
  char *opts = spec_options (p), *s;

  if (!opts)
    return NULL;
  s = spec_join (p, name, opts);
  free (opts);
  return s;
}

static char *
rbd_vol_path (struct pool *p, const char *name)
{
  if (strchr (name, '@')) {
    pool_err (EINVAL, "invalid RBD image name '%s': '@' separates snapshots", name);
    return NULL;
  }
  return vol_spec (p, name);
}

/* ---- the pool ----------------------------------------------------------------------------- */
static int
rbd_build (struct pool *p, unsigned flags)
{
  (void) flags;
  return pool_err (ENOTSUP, "pool '%s': rbd pools are not built: create the RADOS pool '%s'"
                   " with 'ceph osd pool create' and 'rbd pool init'", p->def->name,
                   p->def->source_name);
}

static int
rbd_delete (struct pool *p)
{
  return pool_err (ENOTSUP, "pool '%s': rbd pools are not deleted by vdk: remove the RADOS"
                   " pool '%s' with 'ceph osd pool delete'", p->def->name, p->def->source_name);
}

static int
rbd_start (struct pool *p)
{
  struct rbd_conn c;
  int r = rbd_connect (p, &c);
  if (r == 0)
    rbd_disconnect (&c);
  return r;
}

static int
rbd_stop (struct pool *p)
{
  (void) p;
  return 0;
}

/* As libvirt: the cluster's size and free space, the pool's bytes used. */
static int
rbd_info (struct pool *p, struct pool_info *info)
{
  struct rados_cluster_stat_t cs;
  struct rados_pool_stat_t ps;
  struct rbd_conn c;
  int r = rbd_connect (p, &c);

  if (r < 0)
    return r;
  if ((r = rados_cluster_stat (c.cluster, &cs)) < 0)
    r = pool_err (-r, "pool '%s': cannot get the cluster's usage: %s", p->def->name,
                  strerror (-r));
  else if ((r = rados_ioctx_pool_stat (c.io, &ps)) < 0)
    r = pool_err (-r, "pool '%s': cannot get the usage of RADOS pool '%s': %s", p->def->name,
                  p->def->source_name, strerror (-r));
  else {
    info->capacity = cs.kb * 1024;
    info->available = cs.kb_avail * 1024;
    info->allocation = ps.num_bytes;
  }
  rbd_disconnect (&c);
  return r;
}

/* ---- volumes ------------------------------------------------------------------------------ */
static int
sum_cb (uint64_t off, size_t len, int exists, void *arg)
{
  (void) off;
  if (exists)
    *(uint64_t *) arg += len;
  return 0;
}

static int
image_err (struct pool *p, const char *name, int r, const char *what)
{
  if (r == -ENOENT)
    return pool_err (ENOENT, "Storage volume not found: no storage vol with matching name '%s'",
                     name);
  return pool_err (-r, "volume '%s/%s': %s: %s", p->def->source_name, name, what,
                   strerror (-r));
}

static int
vol_from_image (struct pool *p, struct rbd_conn *c, const char *name, const char *opts,
                struct pool_vol **out)
{
  struct pool_vol *v;
  rbd_image_t img;
  uint64_t size, alloc = 0;
  int r;

  *out = NULL;
  r = rbd_open_read_only (c->io, name, &img, NULL);
  if (r < 0)
    return image_err (p, name, r, "cannot open the image");
  r = rbd_get_size (img, &size);
  if (r == 0)
    r = rbd_diff_iterate2 (img, NULL, 0, size, 0, 1, sum_cb, &alloc);
  rbd_close (img);
  if (r < 0)
    return image_err (p, name, r, "cannot get the size and allocation");
  v = calloc (1, sizeof *v);
  if (!v)
    return pool_err (ENOMEM, "out of memory");
  v->name = strdup (name);
  if (asprintf (&v->key, "%s/%s", p->def->source_name, name) < 0)
    v->key = NULL;
  v->path = v->key ? strdup (v->key) : NULL;
  v->format = strdup ("raw");
  v->type = "network";
  v->capacity = size;
  v->allocation = v->physical = alloc;
  v->mode = 0600;
  if (!v->name || !v->key || !v->path || !v->format) {
    pool_vol_free (v);
    return pool_err (ENOMEM, "out of memory");
  }
  if (!(v->spec = spec_join (p, name, opts))) {
    pool_vol_free (v);
    return -pool_last_errno ();
  }
  *out = v;
  return 0;
}

static int
rbd_vol_lookup (struct pool *p, const char *name, struct pool_vol **out)
{
  struct rbd_conn c;
  char *opts;
  int r;

  *out = NULL;
  if (strchr (name, '@'))
    return pool_err (ENOENT, "Storage volume not found: no storage vol with matching name '%s'",
                     name);
  if (!(opts = spec_options (p)))
    return -pool_last_errno ();
  if ((r = rbd_connect (p, &c)) == 0) {
    r = vol_from_image (p, &c, name, opts, out);
    rbd_disconnect (&c);
  }
  free (opts);
  return r;
}

static int
rbd_refresh (struct pool *p, struct pool_vol ***out, size_t *n)
{
  rbd_image_spec_t *imgs = NULL;
  size_t max = 64, got = 0;
  struct pool_vol **v = NULL;
  struct rbd_conn c;
  char *opts;
  int r;

  *out = NULL;
  *n = 0;
  if (!(opts = spec_options (p)))
    return -pool_last_errno ();
  if ((r = rbd_connect (p, &c)) < 0) {
    free (opts);
    return r;
  }
  for (;;) {
    rbd_image_spec_t *ni = realloc (imgs, max * sizeof *imgs);
    if (!ni) {
      r = pool_err (ENOMEM, "out of memory");
      goto out;
    }
    imgs = ni;
    r = rbd_list2 (c.io, imgs, &max);
    if (r != -ERANGE)
      break;
    if (max > POOL_MAX_VOLUMES) {
      r = pool_err (EFBIG, "pool '%s': more than %d images", p->def->name, POOL_MAX_VOLUMES);
      max = 0;
      goto out;
    }
  }
  if (r < 0) {
    r = pool_err (-r, "pool '%s': cannot list the images: %s", p->def->name, strerror (-r));
    max = 0;
    goto out;
  }
  v = calloc (max ? max : 1, sizeof *v);
  if (!v) {
    r = pool_err (ENOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < max; i++) {
    r = vol_from_image (p, &c, imgs[i].name, opts, &v[got]);
    if (r == -ENOENT)
      continue;   /* removed meanwhile */
    if (r < 0)
      goto out;
    got++;
  }
  r = 0;
 out:
  if (imgs)
    rbd_image_spec_list_cleanup (imgs, max);
  free (imgs);
  free (opts);
  rbd_disconnect (&c);
  if (r < 0) {
    pool_vol_list_free (v, got);
    return r;
  }
  *out = v;
  *n = got;
  return 0;
}

static int
check_raw (const struct vol_def *d)
{
  if (d->format && strcmp (d->format, "raw"))
    return pool_err (ENOTSUP, "only RAW volumes are supported by this storage pool (not '%s')",
                     d->format);
  if (d->backing_path)
    return pool_err (ENOTSUP, "volume '%s': rbd pools have no backing volumes (vol-clone makes"
                     " a layered RBD clone)", d->name);
  if (d->prealloc_metadata)
    return pool_err (ENOTSUP, "volume '%s': metadata preallocation is for qcow2, not RBD",
                     d->name);
  if (strchr (d->name, '@'))
    return pool_err (EINVAL, "invalid RBD image name '%s': '@' separates snapshots", d->name);
  return 0;
}

static int
rbd_vol_create (struct pool *p, const struct vol_def *d)
{
  rbd_image_options_t o;
  struct rbd_conn c;
  int r;

  if ((r = check_raw (d)) < 0 || (r = rbd_connect (p, &c)) < 0)
    return r;
  rbd_image_options_create (&o);
  r = rbd_create4 (c.io, d->name, d->capacity, o);
  rbd_image_options_destroy (o);
  if (r < 0)
    r = pool_err (-r, "failed to create volume '%s/%s': %s", p->def->source_name, d->name,
                  strerror (-r));
  rbd_disconnect (&c);
  return r;
}

/* The snapshots of an open image (rbd_snap_list_end frees them). */
static int
list_snaps (struct pool *p, const char *name, rbd_image_t img, rbd_snap_info_t **out, int *n)
{
  int max = 16;
  rbd_snap_info_t *s = NULL;

  for (;;) {
    rbd_snap_info_t *ns = realloc (s, (size_t) max * sizeof *s);
    int r;
    if (!ns) {
      free (s);
      return pool_err (ENOMEM, "out of memory");
    }
    s = ns;
    r = rbd_snap_list (img, s, &max);
    if (r >= 0) {
      *out = s;
      *n = r;
      return 0;
    }
    if (r != -ERANGE || max > RBD_MAX_SNAPS) {
      free (s);
      return image_err (p, name, r == -ERANGE ? -EFBIG : r, "cannot list the snapshots");
    }
  }
}

static void
free_snaps (rbd_snap_info_t *s, int n)
{
  if (n > 0)
    rbd_snap_list_end (s);
  free (s);
}

static int
rbd_vol_delete_flags (struct pool *p, struct pool_vol *v, unsigned flags)
{
  rbd_snap_info_t *snaps = NULL;
  int nsnaps = 0;
  rbd_image_t img;
  struct rbd_conn c;
  int r;

  if ((r = rbd_connect (p, &c)) < 0)
    return r;
  if ((r = rbd_open (c.io, v->name, &img, NULL)) < 0) {
    r = image_err (p, v->name, r, "cannot open the image");
    goto out;
  }
  r = list_snaps (p, v->name, img, &snaps, &nsnaps);
  if (r == 0 && nsnaps > 0 && !(flags & POOL_VOL_DELETE_WITH_SNAPSHOTS))
    r = pool_err (ENOTEMPTY, "cannot delete volume '%s/%s': it has %d snapshot%s (vol-delete"
                  " --delete-snapshots removes them)", p->def->source_name, v->name, nsnaps,
                  nsnaps == 1 ? "" : "s");
  for (int i = 0; r == 0 && i < nsnaps; i++) {
    int prot = 0;
    if ((r = rbd_snap_is_protected (img, snaps[i].name, &prot)) == 0 && prot &&
        (r = rbd_snap_unprotect (img, snaps[i].name)) == -EBUSY) {
      r = pool_err (EBUSY, "cannot delete volume '%s/%s': snapshot '%s' has clones (delete or"
                    " flatten them first)", p->def->source_name, v->name, snaps[i].name);
      break;
    }
    if (r == 0)
      r = rbd_snap_remove (img, snaps[i].name);
    if (r < 0)
      r = pool_err (-r, "volume '%s/%s': cannot remove snapshot '%s': %s", p->def->source_name,
                    v->name, snaps[i].name, strerror (-r));
  }
  free_snaps (snaps, nsnaps);
  rbd_close (img);
  if (r == 0 && (r = rbd_remove (c.io, v->name)) < 0)
    r = pool_err (-r, "cannot delete volume '%s/%s': %s%s", p->def->source_name, v->name,
                  strerror (-r), r == -EBUSY ? " (the image is open)" : "");
 out:
  rbd_disconnect (&c);
  return r;
}

static int
rbd_vol_delete (struct pool *p, struct pool_vol *v)
{
  return rbd_vol_delete_flags (p, v, 0);
}

static int
rbd_vol_resize (struct pool *p, struct pool_vol *v, uint64_t capacity, unsigned flags)
{
  rbd_image_t img;
  struct rbd_conn c;
  int r;

  if (flags & POOL_RESIZE_ALLOCATE)
    return pool_err (ENOTSUP, "volume '%s': rbd pools do not preallocate (--allocate)",
                     v->name);
  if ((r = rbd_connect (p, &c)) < 0)
    return r;
  if ((r = rbd_open (c.io, v->name, &img, NULL)) < 0)
    r = image_err (p, v->name, r, "cannot open the image");
  else {
    if ((r = rbd_resize (img, capacity)) < 0)
      r = pool_err (-r, "failed to resize volume '%s/%s': %s", p->def->source_name, v->name,
                    strerror (-r));
    rbd_close (img);
  }
  rbd_disconnect (&c);
  return r;
}

/* Zeroes over the whole image: librbd discards what it can and writes
 * zeroes over the rest (a clone's parent data included). */
static int
rbd_vol_wipe (struct pool *p, struct pool_vol *v)
{
  rbd_image_t img;
  struct rbd_conn c;
  uint64_t size, off = 0;
  int r;

  if ((r = rbd_connect (p, &c)) < 0)
    return r;
  if ((r = rbd_open (c.io, v->name, &img, NULL)) < 0) {
    r = image_err (p, v->name, r, "cannot open the image");
    goto out;
  }
  r = rbd_get_size (img, &size);
  while (r == 0 && off < size) {
    size_t l = size - off > (1u << 30) ? (size_t) 1 << 30 : (size_t) (size - off);
    ssize_t w = rbd_write_zeroes (img, off, l, 0, 0);
    if (w < 0)
      r = (int) w;
    off += l;
  }
  if (r == 0)
    r = rbd_flush (img);
  if (r < 0)
    r = pool_err (-r, "failed to wipe volume '%s/%s': %s", p->def->source_name, v->name,
                  strerror (-r));
  rbd_close (img);
 out:
  rbd_disconnect (&c);
  return r;
}

/* Somebody has the image open for writing: librbd registers a watch. */
static int
rbd_vol_check_not_in_use (struct pool *p, struct pool_vol *v)
{
  rbd_image_watcher_t w[16];
  size_t n = 16;
  rbd_image_t img;
  struct rbd_conn c;
  int r;

  if ((r = rbd_connect (p, &c)) < 0)
    return r;
  if ((r = rbd_open_read_only (c.io, v->name, &img, NULL)) < 0)
    r = image_err (p, v->name, r, "cannot open the image");
  else {
    r = rbd_watchers_list (img, w, &n);
    if (r == -ERANGE)
      r = pool_err (EBUSY, "storage vol '%s' is in use: more than 16 clients have it open",
                    v->name);
    else if (r < 0)
      r = image_err (p, v->name, r, "cannot list the image's watchers");
    else {
      if (n > 0)
        r = pool_err (EBUSY, "storage vol '%s' is in use: %zu client%s ha%s the RBD image open"
                      " (%s)", v->name, n, n == 1 ? "" : "s", n == 1 ? "s" : "ve", w[0].addr);
      rbd_watchers_list_cleanup (w, n);
    }
    rbd_close (img);
  }
  rbd_disconnect (&c);
  return r;
}

/* ---- clones --------------------------------------------------------------------------------- */
static int
any_cb (uint64_t off, size_t len, int exists, void *arg)
{
  (void) off;
  (void) len;
  (void) exists;
  *(bool *) arg = true;
  return -ECANCELED;
}

/* A protected snapshot of IMG with the image's current contents: one this
 * pool made for an earlier clone when nothing changed since (as libvirt
 * reuses its snapshots), else a new one. */
static int
clone_snapshot (struct pool *p, const char *name, rbd_image_t img, char *snap, size_t len)
{
  rbd_snap_info_t *snaps = NULL;
  int nsnaps = 0, r;
  uint64_t size;
  struct timespec ts;

  if ((r = rbd_get_size (img, &size)) < 0)
    return image_err (p, name, r, "cannot get the size");
  if ((r = list_snaps (p, name, img, &snaps, &nsnaps)) < 0)
    return r;
  for (int i = nsnaps - 1; i >= 0; i--) {
    bool changed = false;
    int prot = 0;
    if (strncmp (snaps[i].name, "vdk-clone-", 10) || snaps[i].size != size ||
        rbd_snap_is_protected (img, snaps[i].name, &prot) < 0 || !prot)
      continue;
    r = rbd_diff_iterate2 (img, snaps[i].name, 0, size, 1, 1, any_cb, &changed);
    if ((r == 0 || r == -ECANCELED) && !changed) {
      snprintf (snap, len, "%s", snaps[i].name);
      free_snaps (snaps, nsnaps);
      return 0;
    }
  }
  free_snaps (snaps, nsnaps);
  clock_gettime (CLOCK_REALTIME, &ts);
  snprintf (snap, len, "vdk-clone-%lld.%09ld", (long long) ts.tv_sec, ts.tv_nsec);
  if ((r = rbd_snap_create (img, snap)) < 0)
    return image_err (p, name, r, "cannot create a snapshot to clone");
  if ((r = rbd_snap_protect (img, snap)) < 0) {
    int saved = r;
    rbd_snap_remove (img, snap);
    return image_err (p, name, saved, "cannot protect the snapshot to clone");
  }
  return 0;
}

/* vol-clone and vol-create-from within the pool: libvirt's layered clone
 * (a protected snapshot of the source, rbd_clone2 with the source's
 * features, object size and striping). */
static int
rbd_vol_clone (struct pool *p, const struct vol_def *d, const struct pool_vol *src)
{
  char *mine = NULL, snap[64];
  rbd_image_t img = NULL;
  rbd_image_info_t st;
  uint64_t features, su, sc, size;
  int order, r;
  struct rbd_conn c;

  /* Another pool (or another cluster connection): the framework copies. */
  if (!src->spec || !(mine = vol_spec (p, src->name)) || strcmp (mine, src->spec)) {
    free (mine);
    return 1;
  }
  free (mine);
  if ((r = check_raw (d)) < 0 || (r = rbd_connect (p, &c)) < 0)
    return r;
  if ((r = rbd_open (c.io, src->name, &img, NULL)) < 0) {
    r = image_err (p, src->name, r, "cannot open the image");
    goto out;
  }
  if ((r = rbd_get_features (img, &features)) < 0 || (r = rbd_stat (img, &st, sizeof st)) < 0 ||
      (r = rbd_get_stripe_unit (img, &su)) < 0 || (r = rbd_get_stripe_count (img, &sc)) < 0) {
    r = image_err (p, src->name, r, "cannot read the image's layout");
    goto out;
  }
  if (!(features & RBD_FEATURE_LAYERING)) {
    r = pool_err (ENOTSUP, "cannot clone volume '%s/%s': the image lacks the layering feature",
                  p->def->source_name, src->name);
    goto out;
  }
  if ((r = clone_snapshot (p, src->name, img, snap, sizeof snap)) < 0)
    goto out;
  size = st.size;
  rbd_close (img);
  img = NULL;
  order = st.order;
  r = rbd_clone2 (c.io, src->name, snap, c.io, d->name, features, &order, su, (int) sc);
  if (r < 0) {
    r = pool_err (-r, "failed to clone volume '%s/%s' to '%s': %s", p->def->source_name,
                  src->name, d->name, strerror (-r));
    goto out;
  }
  if (d->capacity > size) {
    rbd_image_t ni;
    if ((r = rbd_open (c.io, d->name, &ni, NULL)) < 0)
      r = image_err (p, d->name, r, "cannot open the clone");
    else {
      if ((r = rbd_resize (ni, d->capacity)) < 0)
        r = pool_err (-r, "cannot grow the clone '%s' to %" PRIu64 " bytes: %s", d->name,
                      d->capacity, strerror (-r));
      rbd_close (ni);
    }
    if (r < 0)
      rbd_remove (c.io, d->name);   /* no half-made volume */
  }
 out:
  if (img)
    rbd_close (img);
  rbd_disconnect (&c);
  return r;
}

const struct pool_type_ops pool_type_rbd = {
  .name = "rbd",
  .check = rbd_check,
  .build = rbd_build,
  .start = rbd_start,
  .stop = rbd_stop,
  .delete = rbd_delete,
  .info = rbd_info,
  .refresh = rbd_refresh,
  .vol_lookup = rbd_vol_lookup,
  .vol_path = rbd_vol_path,
  .vol_create = rbd_vol_create,
  .vol_delete = rbd_vol_delete,
  .vol_resize = rbd_vol_resize,
  .vol_wipe = rbd_vol_wipe,
  .vol_check_not_in_use = rbd_vol_check_not_in_use,
  .no_target = true,
  .vol_delete_flags = rbd_vol_delete_flags,
  .vol_clone = rbd_vol_clone,
};
