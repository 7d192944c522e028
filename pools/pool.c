/* The pool framework: the state dir and its lock, pool definitions and
 * their life cycle (define, start, destroy, undefine, autostart), and the
 * type-independent parts of the volume commands. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vdk/disk.h"
#include "pool-int.h"

struct pool_ctx {
  char *dir;
  int lock_fd;
  bool exclusive;
  bool run_valid;           /* run/ belongs to this boot */
  struct pool_ctx *prev;    /* the context that was current before */
};

/* The context open in this process: the vol: resolver uses it rather than
 * locking the state dir a second time (flock would deadlock on our own
 * exclusive lock). */
static struct pool_ctx *current_ctx;

static const struct pool_type_ops *const pool_types[] = {
  &pool_type_dir,
  &pool_type_fs,
  &pool_type_logical,
  &pool_type_disk,
#ifdef VDK_HAVE_RBD
  &pool_type_rbd,
#endif
#ifdef VDK_HAVE_NFS
  &pool_type_netfs,
#endif
#ifdef VDK_HAVE_ISCSI
  &pool_type_iscsi,
#endif
  NULL,
};

const struct pool_type_ops *
pool_find_type (const char *name)
{
  for (size_t i = 0; name && pool_types[i]; i++)
    if (!strcmp (pool_types[i]->name, name))
      return pool_types[i];
  return NULL;
}

const char *const *
pool_type_names (void)
{
  static const char *names[sizeof pool_types / sizeof pool_types[0]];
  for (size_t i = 0; pool_types[i]; i++)
    names[i] = pool_types[i]->name;
  return names;
}

/* ---- the state dir ------------------------------------------------------------ */
static char *
default_state_dir (void)
{
  const char *x = getenv ("XDG_DATA_HOME"), *home = getenv ("HOME");
  char *s;

  if (geteuid () == 0)
    return strdup ("/var/lib/vdk");
  if (x && x[0] == '/')
    return asprintf (&s, "%s/vdk", x) < 0 ? NULL : s;
  if (!home || home[0] != '/') {
    struct passwd *pw = getpwuid (geteuid ());
    home = pw ? pw->pw_dir : NULL;
  }
  if (!home)
    return NULL;
  return asprintf (&s, "%s/.local/share/vdk", home) < 0 ? NULL : s;
}

static char *
ctx_path (const struct pool_ctx *c, const char *fmt, const char *name)
{
  char *rel, *s;
  if (asprintf (&rel, fmt, name ? name : "") < 0)
    return NULL;
  if (asprintf (&s, "%s/%s", c->dir, rel) < 0)
    s = NULL;
  free (rel);
  return s;
}

static void
read_boot_id (char *out, size_t len)
{
  FILE *f = fopen ("/proc/sys/kernel/random/boot_id", "re");
  out[0] = 0;
  if (f) {
    if (!fgets (out, (int) len, f))
      out[0] = 0;
    fclose (f);
  }
  out[strcspn (out, "\n")] = 0;
}

/* Runtime state from another boot is stale: the pools are not mounted any
 * more.  Drop it (we hold the exclusive lock). */
static int
reset_run_state (struct pool_ctx *c, const char *boot)
{
  char *dir = ctx_path (c, "run/pools", NULL), *idf = ctx_path (c, "run/boot_id", NULL), *data;
  char *sdir = ctx_path (c, "run/secrets", NULL);
  DIR *d;
  struct dirent *e;
  int r = -ENOMEM;

  if (!dir || !idf || !sdir)
    goto out;
  if ((d = opendir (dir))) {
    while ((e = readdir (d)))
      if (e->d_name[0] != '.')
        unlinkat (dirfd (d), e->d_name, 0);
    closedir (d);
  }
  /* Ephemeral secrets (secret.c) live no longer than the boot either. */
  if ((d = opendir (sdir))) {
    while ((e = readdir (d)))
      if (e->d_name[0] != '.')
        unlinkat (dirfd (d), e->d_name, 0);
    closedir (d);
  }
  if (asprintf (&data, "%s\n", boot) < 0)
    goto out;
  r = pool_write_file (idf, data, 0644);
  free (data);
 out:
  if (r == -ENOMEM)
    pool_err (ENOMEM, "out of memory");
  free (dir);
  free (sdir);
  free (idf);
  return r;
}

int
pool_ctx_open (struct pool_ctx **out, const char *override, bool exclusive)
{
  static const char *const subdirs[] = { "pools", "pools/autostart", "run", "run/pools" };
  const char *env = getenv ("VDK_STATE_DIR");
  struct pool_ctx *c = calloc (1, sizeof *c);
  char *lockf = NULL, *idf = NULL, *saved = NULL;
  char boot[64];
  int r;

  if (!c)
    return pool_err (ENOMEM, "out of memory");
  c->lock_fd = -1;
  c->exclusive = exclusive;
  if (override && override[0])
    c->dir = strdup (override);
  else if (env && env[0])
    c->dir = strdup (env);
  else
    c->dir = default_state_dir ();
  if (!c->dir) {
    r = pool_err (ENOENT, "cannot find the state directory: set VDK_STATE_DIR or --state-dir");
    goto fail;
  }
  if ((r = pool_mkdir_p (c->dir, 0755)) < 0)
    goto fail;
  for (size_t i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++) {
    char *p = ctx_path (c, "%s", subdirs[i]);
    if (!p) {
      r = pool_err (ENOMEM, "out of memory");
      goto fail;
    }
    if (mkdir (p, 0755) < 0 && errno != EEXIST) {
      r = pool_err (errno, "cannot create directory '%s': %s", p, strerror (errno));
      free (p);
      goto fail;
    }
    free (p);
  }
  lockf = ctx_path (c, "lock", NULL);
  idf = ctx_path (c, "run/boot_id", NULL);
  if (!lockf || !idf) {
    r = pool_err (ENOMEM, "out of memory");
    goto fail;
  }
  c->lock_fd = open (lockf, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (c->lock_fd < 0) {
    r = pool_err (errno, "%s: %s", lockf, strerror (errno));
    goto fail;
  }
  while (flock (c->lock_fd, exclusive ? LOCK_EX : LOCK_SH) < 0)
    if (errno != EINTR) {
      r = pool_err (errno, "%s: cannot lock the state directory: %s", lockf, strerror (errno));
      goto fail;
    }
  read_boot_id (boot, sizeof boot);
  if (pool_read_file (idf, 4096, &saved, NULL) == 0) {
    saved[strcspn (saved, "\n")] = 0;
    c->run_valid = !strcmp (saved, boot);
  }
  if (!c->run_valid && exclusive) {
    if ((r = reset_run_state (c, boot)) < 0)
      goto fail;
    c->run_valid = true;
  }
  free (saved);
  free (lockf);
  free (idf);
  c->prev = current_ctx;
  current_ctx = c;
  *out = c;
  return 0;
 fail:
  free (saved);
  free (lockf);
  free (idf);
  if (c->lock_fd >= 0)
    close (c->lock_fd);
  free (c->dir);
  free (c);
  return r;
}

void
pool_ctx_close (struct pool_ctx *c)
{
  if (!c)
    return;
  if (current_ctx == c)
    current_ctx = c->prev;
  if (c->lock_fd >= 0)
    close (c->lock_fd);   /* releases the flock */
  free (c->dir);
  free (c);
}

const char *
pool_ctx_dir (const struct pool_ctx *c)
{
  return c->dir;
}

static int
need_exclusive (const struct pool_ctx *c)
{
  if (!c->exclusive)
    return pool_err (EPERM, "internal error: state change without the exclusive lock");
  return 0;
}

/* For the other users of the state dir (secret.c). */
int
pool_ctx_need_exclusive (const struct pool_ctx *c)
{
  return need_exclusive (c);
}

bool
pool_ctx_run_valid (const struct pool_ctx *c)
{
  return c->run_valid;
}

struct pool_ctx *
pool_ctx_current (void)
{
  return current_ctx;
}

/* ---- definitions ---------------------------------------------------------------- */
int
pool_def_validate (const struct pool_def *d)
{
  const struct pool_type_ops *t;

  if (!d->type || !(t = pool_find_type (d->type)))
    return pool_err (ENOTSUP, "unsupported storage pool type '%s'", d->type ? d->type : "");
  if (!pool_name_valid (d->name))
    return pool_err (EINVAL, "invalid pool name '%s': it must not be empty, contain '/', '..'"
                     " or control characters", d->name ? d->name : "");
  if (t->no_target && !d->target)
    ;   /* rbd: no local target */
  else if (!d->target || d->target[0] != '/')
    return pool_err (EINVAL, "pool '%s': the target path must be an absolute path%s%s%s",
                     d->name, d->target ? " ('" : "", d->target ? d->target : "",
                     d->target ? "')" : "");
  for (const char *p = d->target; p && *p; p++)
    if ((unsigned char) *p < 0x20)
      return pool_err (EINVAL, "pool '%s': control characters in the target path", d->name);
  if (d->n_extra_hosts && strcmp (t->name, "rbd"))
    return pool_err (EINVAL, "pool '%s': Expected exactly 1 host for the storage pool", d->name);
  if (d->n_mount_opts && strcmp (t->name, "netfs"))
    return pool_err (EINVAL, "pool '%s': mount options (<fs:mount_opts>) are only supported"
                     " for netfs pools", d->name);
  if (t->needs_device && d->n_devices == 0)
    return pool_err (EINVAL, "pool '%s': missing source device (--source-dev)", d->name);
  if (d->mode) {
    char *end;
    unsigned long m = strtoul (d->mode, &end, 8);
    if (*end || m > 07777)
      return pool_err (EINVAL, "pool '%s': malformed octal mode '%s'", d->name, d->mode);
  }
  if (d->source_format) {
    bool ok = false;
    for (size_t i = 0; t->source_formats && t->source_formats[i]; i++)
      ok |= !strcmp (t->source_formats[i], d->source_format);
    if (!ok)
      return pool_err (EINVAL, "pool '%s': unknown source format '%s' for a %s pool",
                       d->name, d->source_format, t->name);
  }
  return t->check ? t->check (d) : 0;
}

/* ---- loading pools ---------------------------------------------------------------- */
static int
load_def (const char *path, const char *name, struct pool_def **out)
{
  struct pool_def *d;
  char *xml;
  size_t len;
  int r = pool_read_file (path, POOL_MAX_XML, &xml, &len);

  *out = NULL;
  if (r < 0)
    return r;
  r = pool_def_parse (xml, len, path, &d);
  free (xml);
  if (r < 0)
    return r;
  if (strcmp (d->name, name) != 0 || !d->uuid[0]) {
    pool_def_free (d);
    return pool_err (EINVAL, "%s: the pool definition is damaged (name or uuid)", path);
  }
  /* The state dir is trusted no more than any other input. */
  if ((r = pool_def_validate (d)) < 0) {
    char msg[1024];
    snprintf (msg, sizeof msg, "%s", pool_last_error ());
    pool_def_free (d);
    return pool_err (-r, "%s: the pool definition is damaged: %s", path, msg);
  }
  *out = d;
  return 0;
}

static bool
exists (const char *path)
{
  struct stat st;
  return path && lstat (path, &st) == 0;
}

/* 0 and *OUT = NULL when there is no pool NAME. */
static int
load_pool (struct pool_ctx *c, const char *name, struct pool **out)
{
  char *cfg = ctx_path (c, "pools/%s.xml", name), *run = ctx_path (c, "run/pools/%s.xml", name),
    *as = ctx_path (c, "pools/autostart/%s.xml", name);
  struct pool *p = NULL;
  int r = 0;

  *out = NULL;
  if (!cfg || !run || !as) {
    r = pool_err (ENOMEM, "out of memory");
    goto out;
  }
  p = calloc (1, sizeof *p);
  if (!p) {
    r = pool_err (ENOMEM, "out of memory");
    goto out;
  }
  p->ctx = c;
  p->persistent = exists (cfg);
  p->active = c->run_valid && exists (run);
  p->autostart = p->persistent && exists (as);
  if (!p->persistent && !p->active)
    goto out;
  r = load_def (p->active ? run : cfg, name, &p->def);
  if (r < 0)
    goto out;
  p->ops = pool_find_type (p->def->type);
  if (!p->ops) {
    r = pool_err (ENOTSUP, "pool '%s': unsupported storage pool type '%s'", name, p->def->type);
    goto out;
  }
  *out = p;
  p = NULL;
 out:
  pool_free (p);
  free (cfg);
  free (run);
  free (as);
  return r;
}

void
pool_free (struct pool *p)
{
  if (!p)
    return;
  pool_def_free (p->def);
  free (p);
}

void
pool_list_free (struct pool **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    pool_free (v[i]);
  free (v);
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Names of every pool (config files and, for this boot, run files). */
static int
list_names (struct pool_ctx *c, char ***out, size_t *n)
{
  static const char *const dirs[] = { "pools", "run/pools" };
  char **names = NULL;
  size_t count = 0;

  for (size_t k = 0; k < 2; k++) {
    char *dir;
    DIR *d;
    struct dirent *e;
    if (k == 1 && !c->run_valid)
      break;
    if (!(dir = ctx_path (c, "%s", dirs[k])))
      goto oom;
    d = opendir (dir);
    free (dir);
    if (!d)
      continue;
    while ((e = readdir (d))) {
      size_t l = strlen (e->d_name);
      bool dup = false;
      char **nn;
      if (l <= 4 || strcmp (e->d_name + l - 4, ".xml") != 0)
        continue;
      e->d_name[l - 4] = 0;
      if (!pool_name_valid (e->d_name))
        continue;
      for (size_t i = 0; i < count; i++)
        dup |= !strcmp (names[i], e->d_name);
      if (dup)
        continue;
      if (count >= 100000 || !(nn = realloc (names, (count + 1) * sizeof *nn)) ||
          !((names = nn)[count] = strdup (e->d_name))) {
        closedir (d);
        goto oom;
      }
      count++;
    }
    closedir (d);
  }
  if (count)
    qsort (names, count, sizeof *names, cmp_str);
  *out = names;
  *n = count;
  return 0;
 oom:
  for (size_t i = 0; i < count; i++)
    free (names[i]);
  free (names);
  return pool_err (ENOMEM, "out of memory");
}

int
pool_list (struct pool_ctx *c, struct pool ***out, size_t *n)
{
  char **names = NULL;
  size_t count = 0, got = 0;
  struct pool **v;
  int r = list_names (c, &names, &count);

  if (r < 0)
    return r;
  v = calloc (count ? count : 1, sizeof *v);
  if (!v)
    r = pool_err (ENOMEM, "out of memory");
  /* A damaged definition does not hide the other pools: it is left out
   * here, and looking it up by name reports what is wrong with it. */
  for (size_t i = 0; r >= 0 && i < count; i++) {
    struct pool *p;
    if (load_pool (c, names[i], &p) == 0 && p)
      v[got++] = p;
  }
  for (size_t i = 0; i < count; i++)
    free (names[i]);
  free (names);
  if (r < 0) {
    pool_list_free (v, got);
    return r;
  }
  *out = v;
  *n = got;
  return 0;
}

int
pool_lookup (struct pool_ctx *c, const char *name, struct pool **out)
{
  struct pool **all;
  size_t n;
  int r;

  *out = NULL;
  if (pool_name_valid (name)) {
    r = load_pool (c, name, out);
    if (r < 0 || *out)
      return r;
  }
  if (name && pool_uuid_valid (name)) {
    r = pool_list (c, &all, &n);
    if (r < 0)
      return r;
    for (size_t i = 0; i < n; i++)
      if (!strcasecmp (all[i]->def->uuid, name)) {
        *out = all[i];
        all[i] = NULL;
        break;
      }
    pool_list_free (all, n);
    if (*out)
      return 0;
  }
  return pool_err (ENOENT, "Storage pool not found: no storage pool with matching name '%s'",
                   name ? name : "");
}

static bool
same_path (const char *a, const char *b)
{
  char ca[PATH_MAX], cb[PATH_MAX];
  if (!strcmp (a, b))
    return true;
  return realpath (a, ca) && realpath (b, cb) && !strcmp (ca, cb);
}

/* libvirt refuses two pools on the same storage: same uuid under another
 * name, the same target directory, or a shared source device. */
static int
check_conflicts (struct pool_ctx *c, const struct pool_def *d)
{
  struct pool **all;
  size_t n;
  int r = pool_list (c, &all, &n);

  if (r < 0)
    return r;
  for (size_t i = 0; r == 0 && i < n; i++) {
    const struct pool_def *o = all[i]->def;
    if (!strcmp (o->name, d->name)) {
      if (d->uuid[0] && strcmp (o->uuid, d->uuid))
        r = pool_err (EEXIST, "operation failed: pool '%s' is already defined with uuid %s",
                      d->name, o->uuid);
      continue;
    }
    if (d->uuid[0] && !strcmp (o->uuid, d->uuid))
      r = pool_err (EEXIST, "operation failed: pool '%s' already exists with uuid %s",
                    o->name, o->uuid);
    else if (!(all[i]->ops->shared_target && d->type && !strcmp (o->type, d->type)) &&
             o->target && d->target && same_path (o->target, d->target))
      r = pool_err (EEXIST, "Storage source conflict with pool: '%s' (same target path %s)",
                    o->name, d->target);
    /* rbd, as libvirt: the same RADOS pool on the same monitor */
    else if (all[i]->ops->no_target && d->type && !strcmp (o->type, d->type) &&
             o->source_name && d->source_name && !strcmp (o->source_name, d->source_name) &&
             o->source_host && d->source_host && !strcmp (o->source_host, d->source_host) &&
             o->source_port == d->source_port)
      r = pool_err (EEXIST, "Storage source conflict with pool: '%s' (source %s on host %s)",
                    o->name, d->source_name, d->source_host);
    /* Network devices (an iSCSI target): the same name on another host or
     * port, or through another initiator, is other storage (libvirt's
     * rule). */
    if ((o->source_host || d->source_host) &&
        (!o->source_host || !d->source_host || strcmp (o->source_host, d->source_host) ||
         o->source_port != d->source_port ||
         (o->initiator_iqn && d->initiator_iqn && strcmp (o->initiator_iqn, d->initiator_iqn))))
      continue;
    for (size_t j = 0; r == 0 && j < o->n_devices; j++)
      for (size_t k = 0; r == 0 && k < d->n_devices; k++)
        if (same_path (o->devices[j], d->devices[k]))
          r = pool_err (EEXIST, "Storage source conflict with pool: '%s' (device %s)",
                        o->name, d->devices[k]);
  }
  pool_list_free (all, n);
  return r;
}

static int
write_def (struct pool_ctx *c, const char *fmt, const struct pool_def *d)
{
  char *path = ctx_path (c, fmt, d->name), *xml = pool_def_format (d, NULL);
  int r;

  if (!path || !xml)
    r = pool_err (ENOMEM, "out of memory");
  else
    r = pool_write_file (path, xml, 0600);
  free (path);
  free (xml);
  return r;
}

static int
remove_state (struct pool_ctx *c, const char *fmt, const char *name)
{
  char *path = ctx_path (c, fmt, name);
  int r = 0;

  if (!path)
    return pool_err (ENOMEM, "out of memory");
  if (unlink (path) < 0 && errno != ENOENT)
    r = pool_err (errno, "%s: %s", path, strerror (errno));
  free (path);
  return r;
}

int
pool_define (struct pool_ctx *c, struct pool_def *def, struct pool **out)
{
  struct pool *old = NULL;
  int r;

  if ((r = need_exclusive (c)) < 0 || (r = pool_def_validate (def)) < 0)
    goto fail;
  if ((r = check_conflicts (c, def)) < 0)
    goto fail;
  /* A damaged definition is replaced: that is how it gets repaired. */
  if (load_pool (c, def->name, &old) < 0)
    old = NULL;
  if (!def->uuid[0]) {
    if (old)
      memcpy (def->uuid, old->def->uuid, sizeof def->uuid);
    else if ((r = pool_uuid_generate (def->uuid)) < 0)
      goto fail;
  }
  if (old && old->active && strcmp (old->def->type, def->type) != 0) {
    r = pool_err (EBUSY, "pool '%s' is active: its type cannot change", def->name);
    goto fail;
  }
  if ((r = write_def (c, "pools/%s.xml", def)) < 0)
    goto fail;
  pool_free (old);
  r = load_pool (c, def->name, out);
  pool_def_free (def);
  return r;
 fail:
  pool_free (old);
  pool_def_free (def);
  return r;
}

int
pool_create (struct pool_ctx *c, struct pool_def *def, bool build, unsigned build_flags,
             struct pool **out)
{
  struct pool *old = NULL, *p;
  int r;

  if ((r = need_exclusive (c)) < 0 || (r = pool_def_validate (def)) < 0)
    goto fail;
  if ((r = load_pool (c, def->name, &old)) < 0)
    goto fail;
  if (old) {
    r = pool_err (EEXIST, "operation failed: pool '%s' already exists", def->name);
    goto fail;
  }
  if ((r = check_conflicts (c, def)) < 0)
    goto fail;
  if (!def->uuid[0] && (r = pool_uuid_generate (def->uuid)) < 0)
    goto fail;
  p = calloc (1, sizeof *p);
  if (!p) {
    r = pool_err (ENOMEM, "out of memory");
    goto fail;
  }
  p->ctx = c;
  p->def = def;
  p->ops = pool_find_type (def->type);
  r = pool_start (p, build || build_flags, build_flags);
  if (r < 0) {
    pool_free (p);
    return r;
  }
  *out = p;
  return 0;
 fail:
  pool_free (old);
  pool_def_free (def);
  return r;
}

int
pool_undefine (struct pool *p)
{
  int r;

  if ((r = need_exclusive (p->ctx)) < 0)
    return r;
  if (!p->persistent)
    return pool_err (EINVAL, "cannot undefine transient storage pool '%s'", p->def->name);
  if ((r = remove_state (p->ctx, "pools/autostart/%s.xml", p->def->name)) < 0 ||
      (r = remove_state (p->ctx, "pools/%s.xml", p->def->name)) < 0)
    return r;
  p->persistent = p->autostart = false;
  return 0;
}

static int
check_build_flags (const struct pool *p, unsigned flags)
{
  if ((flags & POOL_BUILD_OVERWRITE) && (flags & POOL_BUILD_NO_OVERWRITE))
    return pool_err (EINVAL, "pool '%s': --overwrite and --no-overwrite are mutually exclusive",
                     p->def->name);
  return 0;
}

int
pool_start (struct pool *p, bool build, unsigned build_flags)
{
  int r;

  if ((r = need_exclusive (p->ctx)) < 0)
    return r;
  if (p->active)
    return pool_err (EBUSY, "storage pool '%s' is already active", p->def->name);
  if (build) {
    if ((r = check_build_flags (p, build_flags)) < 0 ||
        (r = p->ops->build (p, build_flags)) < 0)
      return r;
  }
  if ((r = p->ops->start (p)) < 0)
    return r;
  r = write_def (p->ctx, "run/pools/%s.xml", p->def);
  if (r < 0) {
    p->ops->stop (p);
    return r;
  }
  p->active = true;
  return 0;
}

int
pool_destroy (struct pool *p)
{
  int r;

  if ((r = need_exclusive (p->ctx)) < 0)
    return r;
  if (!p->active)
    return pool_err (EINVAL, "storage pool '%s' is not active", p->def->name);
  if ((r = p->ops->stop (p)) < 0)
    return r;
  if ((r = remove_state (p->ctx, "run/pools/%s.xml", p->def->name)) < 0)
    return r;
  p->active = false;
  return 0;
}

int
pool_build (struct pool *p, unsigned flags)
{
  int r;

  if ((r = need_exclusive (p->ctx)) < 0 || (r = check_build_flags (p, flags)) < 0)
    return r;
  if (p->active)
    return pool_err (EBUSY, "storage pool '%s' is already active", p->def->name);
  return p->ops->build (p, flags);
}

int
pool_delete (struct pool *p)
{
  int r;

  if ((r = need_exclusive (p->ctx)) < 0)
    return r;
  if (p->active)
    return pool_err (EBUSY, "storage pool '%s' is still active", p->def->name);
  return p->ops->delete (p);
}

int
pool_set_autostart (struct pool *p, bool on)
{
  char *link;
  int r = 0;

  if ((r = need_exclusive (p->ctx)) < 0)
    return r;
  if (!p->persistent)
    return pool_err (EINVAL, "cannot set autostart for transient pool '%s'", p->def->name);
  if (!on) {
    r = remove_state (p->ctx, "pools/autostart/%s.xml", p->def->name);
    if (r == 0)
      p->autostart = false;
    return r;
  }
  link = ctx_path (p->ctx, "pools/autostart/%s.xml", p->def->name);
  if (!link)
    return pool_err (ENOMEM, "out of memory");
  {
    char target[PATH_MAX];
    snprintf (target, sizeof target, "../%s.xml", p->def->name);
    if (symlink (target, link) < 0 && errno != EEXIST)
      r = pool_err (errno, "%s: %s", link, strerror (errno));
  }
  free (link);
  if (r == 0)
    p->autostart = true;
  return r;
}

int
pool_get_info (struct pool *p, struct pool_info *info)
{
  memset (info, 0, sizeof *info);
  if (!p->active)
    return 0;
  return p->ops->info (p, info);
}

char *
pool_format_xml (struct pool *p, bool inactive)
{
  struct pool_info info = { 0 };
  struct pool_def *d = p->def;
  char *s;

  if (inactive && p->persistent && p->active) {
    /* The persistent definition, which may differ from the live one. */
    char *cfg = ctx_path (p->ctx, "pools/%s.xml", p->def->name);
    struct pool_def *pd;
    if (cfg && load_def (cfg, p->def->name, &pd) == 0) {
      free (cfg);
      s = pool_def_format (pd, NULL);
      pool_def_free (pd);
      return s;
    }
    free (cfg);
  }
  if (!inactive && pool_get_info (p, &info) < 0)
    return NULL;
  return pool_def_format (d, &info);
}

/* ---- volumes -------------------------------------------------------------------- */
void
pool_vol_free (struct pool_vol *v)
{
  if (!v)
    return;
  free (v->name);
  free (v->key);
  free (v->path);
  free (v->format);
  free (v->backing);
  free (v->backing_format);
  free (v->spec);
  free (v);
}

void
pool_vol_list_free (struct pool_vol **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    pool_vol_free (v[i]);
  free (v);
}

static int
need_active (const struct pool *p)
{
  if (!p->active)
    return pool_err (EINVAL, "storage pool '%s' is not active", p->def->name);
  return 0;
}

static int
cmp_vol (const void *a, const void *b)
{
  return strcmp ((*(struct pool_vol *const *) a)->name, (*(struct pool_vol *const *) b)->name);
}

int
pool_vol_list (struct pool *p, struct pool_vol ***out, size_t *n)
{
  int r;

  if ((r = need_active (p)) < 0 || (r = p->ops->refresh (p, out, n)) < 0)
    return r;
  if (*n)
    qsort (*out, *n, sizeof **out, cmp_vol);
  return 0;
}

static int
check_vol_name (const char *name)
{
  if (!pool_name_valid (name))
    return pool_err (EINVAL, "invalid volume name '%s': it must not be empty, contain '/',"
                     " '..' or control characters", name ? name : "");
  return 0;
}

int
pool_vol_lookup (struct pool *p, const char *name, struct pool_vol **out)
{
  int r;

  if ((r = need_active (p)) < 0)
    return r;
  if (!pool_name_valid (name))
    return pool_err (ENOENT, "Storage volume not found: no storage vol with matching name '%s'",
                     name ? name : "");
  return p->ops->vol_lookup (p, name, out);
}

int
pool_vol_find (struct pool_ctx *c, const char *key, struct pool **pool_out, struct pool_vol **out)
{
  struct pool **all;
  size_t n;
  char canon[PATH_MAX];
  int r = pool_list (c, &all, &n);

  if (r < 0)
    return r;
  /* Canonicalise the directory only: a volume may be a symlink. */
  {
    const char *slash = strrchr (key, '/');
    char dir[PATH_MAX], rdir[PATH_MAX];
    snprintf (canon, sizeof canon, "%s", key);
    if (slash && (size_t) (slash - key) < sizeof dir) {
      snprintf (dir, sizeof dir, "%.*s", (int) (slash - key), key);
      if (realpath (dir[0] ? dir : "/", rdir) &&
          snprintf (canon, sizeof canon, "%s/%s", strcmp (rdir, "/") ? rdir : "",
                    slash + 1) >= (int) sizeof canon)
        snprintf (canon, sizeof canon, "%s", key);
    }
  }
  r = 1;
  for (size_t i = 0; r == 1 && i < n; i++) {
    char tcanon[PATH_MAX];
    size_t tl;
    const char *name;
    if (!all[i]->active)
      continue;
    if (all[i]->ops->no_target) {
      /* rbd: the key is SOURCE-NAME/VOLUME */
      const char *sn = all[i]->def->source_name;
      size_t sl = sn ? strlen (sn) : 0;
      if (sl && !strncmp (key, sn, sl) && key[sl] == '/' && pool_name_valid (key + sl + 1) &&
          all[i]->ops->vol_lookup (all[i], key + sl + 1, out) == 0) {
        r = 0;
        if (pool_out) {
          *pool_out = all[i];
          all[i] = NULL;
        }
      }
      continue;
    }
    if (!all[i]->def->target || !realpath (all[i]->def->target, tcanon))
      continue;
    tl = strlen (tcanon);
    if (tl == 1)
      tl = 0;   /* a pool on "/" */
    if (strncmp (canon, tcanon, tl) != 0 || canon[tl] != '/')
      continue;
    name = canon + tl + 1;
    if (!pool_name_valid (name))
      continue;
    if (all[i]->ops->vol_lookup (all[i], name, out) < 0)
      continue;
    r = 0;
    if (pool_out) {
      *pool_out = all[i];
      all[i] = NULL;
    }
  }
  /* A key that is not a local path (netfs: an nfs:// URL): the path the
   * pool gives its last component. */
  if (r == 1 && key[0] != '/' && strrchr (key, '/')) {
    const char *last = strrchr (key, '/') + 1;
    char *name = strndup (last, strcspn (last, "?"));
    for (size_t i = 0; name && r == 1 && i < n; i++) {
      char *path;
      if (!all[i] || !all[i]->active || !pool_name_valid (name) ||
          !(path = all[i]->ops->vol_path (all[i], name)))
        continue;
      if (!strcmp (path, key) && all[i]->ops->vol_lookup (all[i], name, out) == 0) {
        r = 0;
        if (pool_out) {
          *pool_out = all[i];
          all[i] = NULL;
        }
      }
      free (path);
    }
    free (name);
  }
  /* Volumes whose key/path is a URL (iscsi://) live in no directory: look
   * through the volumes of every active pool. */
  for (size_t i = 0; r == 1 && strstr (key, "://") && i < n; i++) {
    struct pool_vol **vols;
    size_t nv;
    if (!all[i] || !all[i]->active || all[i]->ops->refresh (all[i], &vols, &nv) < 0)
      continue;
    for (size_t j = 0; r == 1 && j < nv; j++)
      if ((vols[j]->key && !strcmp (vols[j]->key, key)) || !strcmp (vols[j]->path, key)) {
        *out = vols[j];
        vols[j] = NULL;
        r = 0;
        if (pool_out) {
          *pool_out = all[i];
          all[i] = NULL;
        }
      }
    pool_vol_list_free (vols, nv);
  }
  pool_list_free (all, n);
  if (r == 1)
    return pool_err (ENOENT, "Storage volume not found: no storage vol with matching key or"
                     " path '%s'", key);
  return 0;
}

static int
check_vol_format (const char *fmt)
{
  const char *const *names = disk_format_names ();
  for (size_t i = 0; names[i]; i++)
    if (!strcmp (names[i], fmt))
      return 0;
  return pool_err (EINVAL, "unknown volume format type '%s'", fmt);
}

int
pool_vol_create (struct pool *p, const struct vol_def *d, struct pool_vol **out)
{
  struct pool_vol *v;
  int r;

  if ((r = need_exclusive (p->ctx)) < 0 || (r = need_active (p)) < 0 ||
      (r = check_vol_name (d->name)) < 0)
    return r;
  if (d->format && (r = check_vol_format (d->format)) < 0)
    return r;
  if (d->backing_format && (r = check_vol_format (d->backing_format)) < 0)
    return r;
  if (p->ops->vol_lookup (p, d->name, &v) == 0) {
    pool_vol_free (v);
    return pool_err (EEXIST, "storage vol '%s' already exists", d->name);
  }
  if ((r = p->ops->vol_create (p, d)) < 0)
    return r;
  return out ? p->ops->vol_lookup (p, d->name, out) : 0;
}

int
pool_vol_create_from (struct pool *p, const struct vol_def *d, const struct pool_vol *src,
                      struct pool_vol **out)
{
  struct vol_def nd = *d;
  struct disk *in = NULL, *dst = NULL;
  struct pool_vol *v = NULL;
  int r;

  if ((r = need_active (p)) < 0)
    return r;
  if (p->ops->vol_clone) {
    struct pool_vol *old;
    if ((r = need_exclusive (p->ctx)) < 0 || (r = check_vol_name (d->name)) < 0)
      return r;
    if (p->ops->vol_lookup (p, d->name, &old) == 0) {
      pool_vol_free (old);
      return pool_err (EEXIST, "storage vol '%s' already exists", d->name);
    }
    if ((r = p->ops->vol_clone (p, d, src)) <= 0)
      return r < 0 ? r : p->ops->vol_lookup (p, d->name, out);
  }
  /* Open the source first: a volume somebody writes is refused here. */
  r = pool_vol_open (src, 0, &in);
  if (r < 0)
    return r;
  if (nd.capacity < (uint64_t) disk_get_size (in))
    nd.capacity = disk_get_size (in);
  nd.backing_path = nd.backing_format = NULL;   /* the copy stands alone */
  r = pool_vol_create (p, &nd, &v);
  if (r < 0)
    goto out;
  if (p->ops->vol_check_io && (r = p->ops->vol_check_io (p, v)) < 0)
    goto fail;
  r = pool_vol_open (v, DISK_OPEN_RDWR, &dst);
  if (r < 0)
    goto fail;
  r = pool_copy_disk (in, dst, 0, 0, disk_get_size (in));
  if (r < 0)
    goto fail;
  r = disk_close (dst);
  dst = NULL;
  if (r < 0) {
    r = pool_err_from_disk (r);
    goto fail;
  }
  pool_vol_free (v);
  v = NULL;
  r = p->ops->vol_lookup (p, nd.name, out);
  goto out;
 fail:
  if (dst)
    disk_close (dst);
  if (v) {
    int saved = pool_last_errno ();
    char msg[2048];
    snprintf (msg, sizeof msg, "%s", pool_last_error ());
    p->ops->vol_delete (p, v);
    pool_err (saved, "%s", msg);
  }
 out:
  pool_vol_free (v);
  disk_close (in);
  return r;
}

/* A type whose volumes are not plain libdisk specs checks them itself. */
static int
vol_not_in_use (struct pool *p, struct pool_vol *v)
{
  if (p->ops->vol_check_not_in_use)
    return p->ops->vol_check_not_in_use (p, v);
  return pool_vol_check_not_in_use (v->name, v->path);
}

int
pool_vol_delete (struct pool *p, struct pool_vol *v)
{
  return pool_vol_delete_flags (p, v, 0);
}

int
pool_vol_delete_flags (struct pool *p, struct pool_vol *v, unsigned flags)
{
  int r;

  if ((r = need_exclusive (p->ctx)) < 0 || (r = need_active (p)) < 0 ||
      (r = vol_not_in_use (p, v)) < 0)
    return r;
  if (flags & ~POOL_VOL_DELETE_WITH_SNAPSHOTS)
    return pool_err (EINVAL, "unsupported flags (0x%x) in vol-delete", flags);
  if (p->ops->vol_delete_flags)
    return p->ops->vol_delete_flags (p, v, flags);
  return p->ops->vol_delete (p, v);
}

int
pool_vol_wipe (struct pool *p, struct pool_vol *v)
{
  int r;

  if ((r = need_active (p)) < 0 || (r = vol_not_in_use (p, v)) < 0)
    return r;
  return p->ops->vol_wipe (p, v);
}

int
pool_vol_wipe_check (struct pool *p, struct pool_vol *v)
{
  int r;

  if ((r = need_active (p)) < 0 || (r = vol_not_in_use (p, v)) < 0)
    return r;
  return p->ops->vol_check_io ? p->ops->vol_check_io (p, v) : 0;
}

int
pool_vol_resize (struct pool *p, struct pool_vol *v, uint64_t capacity, unsigned flags)
{
  int r;

  if ((r = need_active (p)) < 0)
    return r;
  if (capacity < v->capacity && !(flags & POOL_RESIZE_SHRINK))
    return pool_err (EINVAL, "Can't shrink capacity below current capacity unless shrink flag"
                     " explicitly specified");
  if (capacity > (1ULL << 60))
    return pool_err (EFBIG, "volume '%s': capacity is too large (the limit is 1 EiB)", v->name);
  return p->ops->vol_resize (p, v, capacity, flags);
}

/* ---- the vol:POOL/VOL resolver ---------------------------------------------------- */
int
pool_spec_resolver (const char *spec, unsigned flags, char **path_out, char *err, size_t errlen)
{
  struct pool_ctx *c = current_ctx, *mine = NULL;
  struct pool *p = NULL;
  struct pool_vol *v = NULL;
  const char *rest = spec + 4, *slash = strchr (rest, '/');
  char *pname = NULL;
  int r;

  *path_out = NULL;
  if (!slash || slash == rest || !slash[1]) {
    snprintf (err, errlen, "%s: a volume spec is vol:POOL/VOLUME", spec);
    return -EINVAL;
  }
  pname = strndup (rest, slash - rest);
  if (!pname) {
    snprintf (err, errlen, "out of memory");
    return -ENOMEM;
  }
  if (!c) {
    if ((r = pool_ctx_open (&mine, NULL, false)) < 0)
      goto out;
    c = mine;
  }
  if ((r = pool_lookup (c, pname, &p)) < 0 || (r = need_active (p)) < 0)
    goto out;
  if (flags & DISK_RESOLVE_CREATE) {
    struct pool_info info;
    /* info also checks the pool's storage is there (an fs pool mounted). */
    if ((r = check_vol_name (slash + 1)) < 0 || (r = p->ops->info (p, &info)) < 0)
      goto out;
    /* vol_path sets its own error when it refuses. */
    pool_err (ENOMEM, "out of memory");
    if (!(*path_out = p->ops->vol_path (p, slash + 1)))
      r = -pool_last_errno ();
  }
  else if ((r = pool_vol_lookup (p, slash + 1, &v)) == 0 &&
           (!p->ops->vol_check_io || (r = p->ops->vol_check_io (p, v)) == 0) &&
           !(*path_out = strdup (pool_vol_spec (v))))
    r = pool_err (ENOMEM, "out of memory");
 out:
  if (r < 0)
    snprintf (err, errlen, "%s: %s", spec, pool_last_error ());
  pool_vol_free (v);
  pool_free (p);
  pool_ctx_close (mine);
  free (pname);
  return r;
}
