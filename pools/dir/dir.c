/* The "dir" pool type: a directory; every file in it is a volume. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../pool-int.h"

/* libvirt's default permissions for a pool directory. */
mode_t
pool_target_mode (const struct pool_def *d)
{
  return d->mode ? (mode_t) strtoul (d->mode, NULL, 8) : 0711;
}

/* Create the target directory (and its parents), with the pool's
 * permissions.  An existing directory is kept as it is. */
int
pool_build_target (struct pool *p)
{
  struct pool_def *d = p->def;
  struct stat st;
  int r;

  if (stat (d->target, &st) == 0) {
    if (!S_ISDIR (st.st_mode))
      return pool_err (ENOTDIR, "cannot build pool '%s': '%s' exists and is not a directory",
                       d->name, d->target);
  }
  else if ((r = pool_mkdir_p (d->target, pool_target_mode (d))) < 0)
    return r;
  if (d->mode && chmod (d->target, pool_target_mode (d)) < 0)
    return pool_err (errno, "cannot set mode of '%s': %s", d->target, strerror (errno));
  if ((d->owner >= 0 || d->group >= 0) &&
      chown (d->target, d->owner >= 0 ? (uid_t) d->owner : (uid_t) -1,
             d->group >= 0 ? (gid_t) d->group : (gid_t) -1) < 0)
    return pool_err (errno, "cannot set owner of '%s': %s", d->target, strerror (errno));
  return 0;
}

int
pool_check_target_dir (struct pool *p)
{
  struct stat st;

  if (stat (p->def->target, &st) < 0)
    return pool_err (errno, "cannot open directory '%s': %s (try pool-build)",
                     p->def->target, strerror (errno));
  if (!S_ISDIR (st.st_mode))
    return pool_err (ENOTDIR, "cannot open directory '%s': not a directory", p->def->target);
  return 0;
}

/* pool-delete: the (empty) target directory goes; data never does. */
int
pool_delete_target (struct pool *p)
{
  if (!pool_dir_is_empty (p->def->target))
    return pool_err (ENOTEMPTY, "cannot delete pool '%s': directory '%s' is not empty",
                     p->def->name, p->def->target);
  if (rmdir (p->def->target) < 0 && errno != ENOENT)
    return pool_err (errno, "cannot remove directory '%s': %s", p->def->target,
                     strerror (errno));
  return 0;
}

static int
dir_build (struct pool *p, unsigned flags)
{
  (void) flags;
  return pool_build_target (p);
}

static int
dir_start (struct pool *p)
{
  return pool_check_target_dir (p);
}

static int
dir_stop (struct pool *p)
{
  (void) p;
  return 0;
}

const struct pool_type_ops pool_type_dir = {
  .name = "dir",
  .build = dir_build,
  .start = dir_start,
  .stop = dir_stop,
  .delete = pool_delete_target,
  .info = pool_file_info,
  .refresh = pool_file_refresh,
  .vol_lookup = pool_file_vol_lookup,
  .vol_path = pool_file_vol_path,
  .vol_create = pool_file_vol_create,
  .vol_delete = pool_file_vol_delete,
  .vol_resize = pool_file_vol_resize,
  .vol_wipe = pool_file_vol_wipe,
};
