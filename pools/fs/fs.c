/* The "fs" pool type: a filesystem on a block device, a partition or an
 * image file, mounted at the target when the pool starts.  Volumes are the
 * files in it, as in a dir pool. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vdk/disk.h"
#include "../pool-int.h"

static const char *const fs_formats[] = {
  "auto", "ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", NULL,
};

static int
fs_check (const struct pool_def *d)
{
  if (d->n_devices != 1)
    return pool_err (EINVAL, "pool '%s': an fs pool needs exactly one source device", d->name);
  if (d->devices[0][0] != '/')
    return pool_err (EINVAL, "pool '%s': the source device must be an absolute path ('%s')",
                     d->name, d->devices[0]);
  return 0;
}

static int
check_device (const struct pool *p, struct stat *st)
{
  const char *dev = p->def->devices[0];

  if (stat (dev, st) < 0)
    return pool_err (errno, "pool '%s': source device '%s': %s", p->def->name, dev,
                     strerror (errno));
  if (!S_ISBLK (st->st_mode) && !S_ISREG (st->st_mode))
    return pool_err (EINVAL, "pool '%s': source device '%s' is not a block device or an"
                     " image file", p->def->name, dev);
  return 0;
}

/* Are the first 64 KiB of DEV zeroes? */
static int
is_blank (const char *dev)
{
  enum { LEN = 64 * 1024 };
  uint8_t *buf = calloc (1, LEN);
  ssize_t got;
  int fd, r;

  if (!buf)
    return pool_err (ENOMEM, "out of memory");
  fd = open (dev, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    free (buf);
    return pool_err (errno, "%s: %s", dev, strerror (errno));
  }
  got = pread (fd, buf, LEN, 0);
  r = got < 0 ? pool_err (errno, "%s: read error: %s", dev, strerror (errno))
    : disk_is_zero_buf (buf, got);
  close (fd);
  free (buf);
  return r;
}

/* Close to what virsh documents: --overwrite always runs mkfs;
 * --no-overwrite runs it on a blank device (its first 64 KiB are zeroes)
 * and refuses anything else (libvirt only refuses what blkid recognises:
 * vdk also refuses data it does not recognise).  With neither flag libvirt
 * only makes the target directory; vdk also formats a blank device, which
 * destroys nothing, and leaves anything else alone. */
static int
fs_build (struct pool *p, unsigned flags)
{
  const char *dev = p->def->devices[0];
  const char *fmt = p->def->source_format && strcmp (p->def->source_format, "auto")
    ? p->def->source_format : "ext4";
  const char *argv[8];
  char prog[64], what[64];
  struct stat st;
  size_t n = 0;
  int r;

  if ((r = check_device (p, &st)) < 0 || (r = pool_build_target (p)) < 0)
    return r;
  if (!(flags & POOL_BUILD_OVERWRITE)) {
    r = pool_sniff_signature (dev, what, sizeof what);
    if (r < 0)
      return r;
    if (r == 1) {
      if (!(flags & POOL_BUILD_NO_OVERWRITE))
        return 0;   /* an existing filesystem is used as it is */
      return pool_err (EEXIST, "cannot build pool '%s': device '%s' already contains data (%s)"
                       " (use --overwrite to destroy it)", p->def->name, dev, what);
    }
    if ((r = is_blank (dev)) < 0)
      return r;
    if (!r) {
      /* No signature we know, but not blank either: data of some kind. */
      if (!(flags & POOL_BUILD_NO_OVERWRITE))
        return 0;
      return pool_err (EEXIST, "cannot build pool '%s': device '%s' already contains data"
                       " (its first 64 KiB are not zeroes; use --overwrite to destroy it)",
                       p->def->name, dev);
    }
  }
  snprintf (prog, sizeof prog, "mkfs.%s", fmt);
  argv[n++] = prog;
  if (!strncmp (fmt, "ext", 3)) {
    argv[n++] = "-F";
    argv[n++] = "-q";
  }
  else if (!strcmp (fmt, "xfs") || !strcmp (fmt, "btrfs")) {
    argv[n++] = "-q";
    if (flags & POOL_BUILD_OVERWRITE)
      argv[n++] = "-f";
  }
  argv[n++] = dev;
  argv[n] = NULL;
  char whatmsg[256];
  snprintf (whatmsg, sizeof whatmsg, "cannot build pool '%s'", p->def->name);
  return pool_run_checked (whatmsg, argv);
}

/* Is the mount source SRC (from mountinfo) the pool's DEV?  A block
 * device is compared by device number; an image file through the loop
 * device's backing file. */
static bool
mounted_from (const char *src, const char *dev, const struct stat *devst)
{
  struct stat sst;
  char canon[PATH_MAX], path[128], back[PATH_MAX];
  const char *base;
  FILE *f;
  bool same = false;

  if (stat (src, &sst) < 0 || !S_ISBLK (sst.st_mode))
    return false;
  if (S_ISBLK (devst->st_mode))
    return sst.st_rdev == devst->st_rdev;
  base = strrchr (src, '/');
  base = base ? base + 1 : src;
  if (strncmp (base, "loop", 4) != 0 || !realpath (dev, canon))
    return false;
  snprintf (path, sizeof path, "/sys/block/%s/loop/backing_file", base);
  if (!(f = fopen (path, "re")))
    return false;
  if (fgets (back, sizeof back, f)) {
    back[strcspn (back, "\n")] = 0;
    same = !strcmp (back, canon);
  }
  fclose (f);
  return same;
}

static int
fs_start (struct pool *p)
{
  const char *dev = p->def->devices[0], *fmt = p->def->source_format;
  const char *argv[10];
  char msg[256];
  struct stat st;
  size_t n = 0;
  int r;

  if ((r = pool_check_target_dir (p)) < 0 || (r = check_device (p, &st)) < 0)
    return r;
  {
    char *src = NULL;
    if (pool_is_mounted (p->def->target, &src)) {
      /* Mounted already (by hand, or before a reboot of the state):
       * adopted only if it is this pool's device. */
      bool same = src && mounted_from (src, dev, &st);
      if (!same)
        r = pool_err (EBUSY, "cannot start pool '%s': '%s' is already mounted from %s",
                      p->def->name, p->def->target, src ? src : "another device");
      free (src);
      return same ? 0 : r;
    }
  }
  argv[n++] = "mount";
  if (fmt && strcmp (fmt, "auto")) {
    argv[n++] = "-t";
    argv[n++] = fmt;
  }
  if (S_ISREG (st.st_mode)) {
    argv[n++] = "-o";
    argv[n++] = "loop";
  }
  argv[n++] = dev;
  argv[n++] = p->def->target;
  argv[n] = NULL;
  snprintf (msg, sizeof msg, "cannot start pool '%s': mounting %s on %s", p->def->name, dev,
            p->def->target);
  return pool_run_checked (msg, argv);
}

static int
fs_stop (struct pool *p)
{
  const char *argv[] = { "umount", p->def->target, NULL };
  char msg[256];

  if (!pool_is_mounted (p->def->target, NULL))
    return 0;
  snprintf (msg, sizeof msg, "cannot stop pool '%s': unmounting %s", p->def->name,
            p->def->target);
  return pool_run_checked (msg, argv);
}

static int
fs_delete (struct pool *p)
{
  if (pool_is_mounted (p->def->target, NULL))
    return pool_err (EBUSY, "cannot delete pool '%s': '%s' is mounted", p->def->name,
                     p->def->target);
  return pool_delete_target (p);
}

/* A running fs pool whose filesystem was unmounted behind vdk's back must
 * not put volumes into the bare mount point (the parent filesystem). */
static int
check_mounted (struct pool *p)
{
  if (!pool_is_mounted (p->def->target, NULL))
    return pool_err (EIO, "pool '%s': '%s' is not mounted any more (unmounted outside vdk?);"
                     " run pool-destroy and pool-start", p->def->name, p->def->target);
  return 0;
}

static int
fs_info (struct pool *p, struct pool_info *info)
{
  int r = check_mounted (p);
  return r < 0 ? r : pool_file_info (p, info);
}

static int
fs_refresh (struct pool *p, struct pool_vol ***out, size_t *n)
{
  int r = check_mounted (p);
  return r < 0 ? r : pool_file_refresh (p, out, n);
}

static int
fs_vol_lookup (struct pool *p, const char *name, struct pool_vol **out)
{
  int r = check_mounted (p);
  return r < 0 ? r : pool_file_vol_lookup (p, name, out);
}

static int
fs_vol_create (struct pool *p, const struct vol_def *d)
{
  int r = check_mounted (p);
  return r < 0 ? r : pool_file_vol_create (p, d);
}

const struct pool_type_ops pool_type_fs = {
  .name = "fs",
  .needs_device = true,
  .default_source_format = "auto",
  .source_formats = fs_formats,
  .check = fs_check,
  .build = fs_build,
  .start = fs_start,
  .stop = fs_stop,
  .delete = fs_delete,
  .info = fs_info,
  .refresh = fs_refresh,
  .vol_lookup = fs_vol_lookup,
  .vol_path = pool_file_vol_path,
  .vol_create = fs_vol_create,
  .vol_delete = pool_file_vol_delete,
  .vol_resize = pool_file_vol_resize,
  .vol_wipe = pool_file_vol_wipe,
};
