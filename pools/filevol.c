/* File volumes, shared by the dir and fs pool types: every regular file in
 * the target directory is a volume; its format is probed through libdisk. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "vdk/disk.h"
#include "pool-int.h"

char *
pool_file_vol_path (struct pool *p, const char *name)
{
  char *s;
  size_t l = strlen (p->def->target);
  bool slash = l > 0 && p->def->target[l - 1] == '/';
  return asprintf (&s, "%s%s%s", p->def->target, slash ? "" : "/", name) < 0 ? NULL : s;
}

/* Fill V's format, virtual size (capacity) and backing file from the image
 * at PATH (any libdisk spec), without locks (someone may be using it) and
 * without opening backing files; an image libdisk cannot open is raw with
 * the capacity already in V.  Out of memory leaves a field NULL. */
void
pool_vol_probe (struct pool_vol *v, const char *path)
{
  struct disk *d;

  if (path && disk_open (&d, path, NULL, DISK_OPEN_FORCE_SHARE | DISK_OPEN_NO_BACKING, NULL) == 0) {
    struct disk_info *info;
    v->format = strdup (disk_get_format (d));
    v->capacity = disk_get_size (d);
    if (disk_get_info (d, 0, &info) == 0) {
      if (info->backing_filename) {
        v->backing = strdup (info->full_backing_filename ? info->full_backing_filename
                             : info->backing_filename);
        if (info->backing_format)
          v->backing_format = strdup (info->backing_format);
      }
      disk_info_free (info);
    }
    disk_close (d);
  }
  else
    v->format = strdup ("raw");
}

int
pool_file_vol_stat (const char *name, const char *path, struct pool_vol **out)
{
  struct pool_vol *v;
  struct stat st;

  if (stat (path, &st) < 0)
    return pool_err (errno == ENOENT ? ENOENT : errno,
                     errno == ENOENT ? "Storage volume not found: no storage vol with matching"
                     " name '%s'" : "%s: cannot stat the volume", name);
  if (!S_ISREG (st.st_mode) && !S_ISBLK (st.st_mode))
    return pool_err (ENOENT, "Storage volume not found: '%s' is not a file", name);
  v = calloc (1, sizeof *v);
  if (!v)
    return pool_err (ENOMEM, "out of memory");
  v->name = strdup (name);
  v->key = strdup (path);
  v->path = strdup (path);
  v->type = S_ISBLK (st.st_mode) ? "block" : "file";
  v->mode = st.st_mode;
  v->uid = st.st_uid;
  v->gid = st.st_gid;
  v->atime = st.st_atim;
  v->mtime = st.st_mtim;
  v->ctime = st.st_ctim;
  v->physical = st.st_size;
  v->allocation = (uint64_t) st.st_blocks * 512;
  if (S_ISBLK (st.st_mode)) {
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    uint64_t sz = 0;
    if (fd >= 0) {
      if (ioctl (fd, BLKGETSIZE64, &sz) == 0)
        v->physical = v->allocation = sz;
      close (fd);
    }
  }
  v->capacity = v->physical;
  pool_vol_probe (v, path);
  if (!v->name || !v->key || !v->path || !v->format) {
    pool_vol_free (v);
    return pool_err (ENOMEM, "out of memory");
  }
  *out = v;
  return 0;
}

int
pool_file_vol_lookup (struct pool *p, const char *name, struct pool_vol **out)
{
  char *path = pool_file_vol_path (p, name);
  int r;

  if (!path)
    return pool_err (ENOMEM, "out of memory");
  r = pool_file_vol_stat (name, path, out);
  free (path);
  return r;
}

int
pool_file_refresh (struct pool *p, struct pool_vol ***out, size_t *n)
{
  struct pool_vol **v = NULL;
  size_t count = 0;
  struct dirent *e;
  DIR *d = opendir (p->def->target);

  if (!d)
    return pool_err (errno, "cannot open directory '%s': %s", p->def->target, strerror (errno));
  while ((e = readdir (d))) {
    struct pool_vol *vol, **nv;
    if (!strcmp (e->d_name, ".") || !strcmp (e->d_name, "..") || !pool_name_valid (e->d_name))
      continue;
    if (pool_file_vol_lookup (p, e->d_name, &vol) < 0)
      continue;   /* not a file (lost+found...) or vanished */
    if (count >= POOL_MAX_VOLUMES || !(nv = realloc (v, (count + 1) * sizeof *nv))) {
      pool_vol_free (vol);
      closedir (d);
      pool_vol_list_free (v, count);
      return pool_err (count >= POOL_MAX_VOLUMES ? E2BIG : ENOMEM,
                       "pool '%s': too many volumes", p->def->name);
    }
    v = nv;
    v[count++] = vol;
  }
  closedir (d);
  *out = v;
  *n = count;
  return 0;
}

int
pool_file_vol_create (struct pool *p, const struct vol_def *d)
{
  const char *fmt = d->format ? d->format : "raw";
  char *path = pool_file_vol_path (p, d->name);
  const char *opts = NULL;
  int r;

  if (!path)
    return pool_err (ENOMEM, "out of memory");
  if (d->prealloc_metadata) {
    if (!strcmp (fmt, "raw")) {
      free (path);
      return pool_err (ENOTSUP, "metadata preallocation is not supported for raw volumes");
    }
    opts = "preallocation=metadata";
  }
  else if (d->has_allocation && d->capacity > 0 && d->allocation >= d->capacity)
    opts = "preallocation=falloc";
  r = disk_create (path, fmt, d->capacity, opts, d->backing_path, d->backing_format,
                   DISK_CREATE_QUIET);
  if (r < 0) {
    free (path);
    return pool_err_from_disk (r);
  }
  /* libvirt's default volume permissions: a disk image is private. */
  if (chmod (path, 0600) < 0) {
    r = pool_err (errno, "%s: cannot set the volume's mode: %s", path, strerror (errno));
    disk_remove (path, fmt);
    free (path);
    return r;
  }
  /* A partial allocation of a raw volume: reserve the first bytes. */
  if (!strcmp (fmt, "raw") && d->has_allocation && d->allocation > 0 &&
      d->allocation < d->capacity) {
    int fd = open (path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || (errno = posix_fallocate (fd, 0, d->allocation)) != 0) {
      r = pool_err (errno, "%s: cannot allocate %" PRIu64 " bytes: %s", path, d->allocation,
                    strerror (errno));
      if (fd >= 0)
        close (fd);
      unlink (path);
      free (path);
      return r;
    }
    close (fd);
  }
  free (path);
  return 0;
}

int
pool_vol_check_not_in_use (const char *name, const char *path)
{
  struct disk *d;
  int r = disk_open (&d, path, "raw", DISK_OPEN_RDWR, NULL);

  if (r == -EAGAIN)
    return pool_err (EBUSY, "volume '%s' is in use: another process has it open", name);
  if (r < 0)
    return pool_err_from_disk (r);
  disk_close (d);
  return 0;
}

int
pool_file_vol_delete (struct pool *p, struct pool_vol *v)
{
  int r = disk_remove (v->path, v->format);
  (void) p;
  return r < 0 ? pool_err_from_disk (r) : 0;
}

int
pool_file_vol_resize (struct pool *p, struct pool_vol *v, uint64_t capacity, unsigned flags)
{
  struct disk *d;
  int r;

  (void) p;
  r = disk_open (&d, v->path, v->format, DISK_OPEN_RDWR, NULL);
  if (r < 0)
    return pool_err_from_disk (r);
  r = disk_truncate (d, capacity, (flags & POOL_RESIZE_ALLOCATE) ? "falloc" : NULL,
                     (flags & POOL_RESIZE_SHRINK) ? DISK_TRUNCATE_SHRINK : 0);
  if (r < 0) {
    pool_err_from_disk (r);
    disk_close (d);
    return r;
  }
  r = disk_close (d);
  return r < 0 ? pool_err_from_disk (r) : 0;
}

/* The "zero" algorithm: the whole guest range reads as zeroes afterwards
 * and, where the format can, the old data is deallocated. */
int
pool_file_vol_wipe (struct pool *p, struct pool_vol *v)
{
  struct disk *d;
  uint64_t size, off = 0;
  int r;

  (void) p;
  r = disk_open (&d, v->path, v->format, DISK_OPEN_RDWR, NULL);
  if (r < 0)
    return pool_err_from_disk (r);
  size = disk_get_size (d);
  while (off < size) {
    uint64_t n = size - off < (1ULL << 30) ? size - off : (1ULL << 30);
    r = disk_write_zeroes (d, off, n, DISK_MAY_UNMAP);
    if (r < 0) {
      pool_err_from_disk (r);
      disk_close (d);
      return r;
    }
    off += n;
  }
  r = disk_close (d);
  return r < 0 ? pool_err_from_disk (r) : 0;
}

int
pool_file_info (struct pool *p, struct pool_info *info)
{
  struct statvfs sv;

  if (statvfs (p->def->target, &sv) < 0)
    return pool_err (errno, "cannot statvfs path '%s': %s", p->def->target, strerror (errno));
  info->capacity = (uint64_t) sv.f_blocks * sv.f_frsize;
  info->available = (uint64_t) sv.f_bavail * sv.f_frsize;
  info->allocation = (uint64_t) (sv.f_blocks - sv.f_bfree) * sv.f_frsize;
  return 0;
}
