/* guestfs core: sessions, devices, mounts and path walking. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "guestfs/guestfs.h"

int
gfs_session_new (struct gfs_session **out)
{
  *out = calloc (1, sizeof **out);
  return *out ? 0 : gfs_err (ENOMEM, "out of memory");
}

void gfs_lvm_free (void *lvm);

void
gfs_session_free (struct gfs_session *s)
{
  if (!s)
    return;
  for (size_t i = 0; i < s->n_mounts; i++)
    free (s->mounts[i].mountpoint);
  free (s->mounts);
  /* LVs read through PV devices: free devices last-added first. */
  for (size_t i = s->n_devs; i-- > 0;) {
    struct gfs_device *d = s->devs[i];
    if (d->fs)
      d->fs->ops->close (d->fs);
    gfs_dev_free (d->dev);
    free (d->open_error);
    free (d);
  }
  free (s->devs);
  for (size_t i = 0; i < s->n_vgs; i++) {
    for (size_t j = 0; j < s->vgs[i].n_pvs; j++)
      free (s->vgs[i].pvs[j]);
    free (s->vgs[i].pvs);
    free (s->vgs[i].pv_sizes);
  }
  free (s->vgs);
  gfs_lvm_free (s->lvm);
  for (size_t i = 0; i < s->n_disks; i++)
    disk_close (s->disks[i]);
  free (s->disks);
  free (s);
}

int
gfs_session_add_device (struct gfs_session *s, struct gfs_dev *dev, enum gfs_kind kind,
                        struct gfs_device **out)
{
  struct gfs_device *d, **n;

  if (s->n_devs >= GFS_MAX_DEVICES) {
    gfs_dev_free (dev);
    return gfs_err (E2BIG, "too many devices (more than %d)", GFS_MAX_DEVICES);
  }
  d = calloc (1, sizeof *d);
  n = realloc (s->devs, (s->n_devs + 1) * sizeof *n);
  if (!d || !n) {
    free (d);
    if (n)
      s->devs = n;
    gfs_dev_free (dev);
    return gfs_err (ENOMEM, "out of memory");
  }
  s->devs = n;
  d->dev = dev;
  d->kind = kind;
  s->devs[s->n_devs++] = d;
  if (out)
    *out = d;
  return 0;
}

int
gfs_add_disk (struct gfs_session *s, const char *spec, const char *format)
{
  struct disk *disk, **n;
  int r;

  if (s->n_disks >= GFS_MAX_DISKS)
    return gfs_err (E2BIG, "%s: too many disks (at most %d)", spec, GFS_MAX_DISKS);
  r = disk_open (&disk, spec, format, DISK_OPEN_FORCE_SHARE, NULL);
  if (r < 0)
    return r;
  n = realloc (s->disks, (s->n_disks + 1) * sizeof *n);
  if (!n) {
    disk_close (disk);
    return gfs_err (ENOMEM, "out of memory");
  }
  s->disks = n;
  s->disks[s->n_disks++] = disk;
  return 0;
}

/* What a device holds: a filesystem driver first, then other signatures. */
static void
identify (struct gfs_device *d)
{
  for (size_t i = 0; gfs_filesystems[i]; i++) {
    int r = gfs_filesystems[i]->probe (d->dev);
    if (r > 0) {
      struct gfs_fs *fs;
      struct gfs_fsinfo info;

      d->ops = gfs_filesystems[i];
      snprintf (d->vfs_type, sizeof d->vfs_type, "%s", d->ops->name);
      if (gfs_device_fs (d, &fs) < 0) {
        gfs_warn ("%s", d->open_error);
        return;
      }
      memset (&info, 0, sizeof info);
      if (fs->ops->info (fs, &info) == 0) {
        info.type[sizeof info.type - 1] = 0;
        info.label[sizeof info.label - 1] = 0;
        info.uuid[sizeof info.uuid - 1] = 0;
        info.version[sizeof info.version - 1] = 0;
        snprintf (d->vfs_type, sizeof d->vfs_type, "%s", info.type);
        snprintf (d->label, sizeof d->label, "%s", info.label);
        snprintf (d->uuid, sizeof d->uuid, "%s", info.uuid);
        snprintf (d->version, sizeof d->version, "%s", info.version);
        gfs_utf8_fix (d->label);
        gfs_utf8_fix (d->uuid);
        gfs_utf8_fix (d->version);
      }
      return;
    }
  }
  gfs_probe_signatures (d);
  gfs_utf8_fix (d->label);
  gfs_utf8_fix (d->uuid);
}

int
gfs_scan_devices (struct gfs_session *s, size_t first)
{
  size_t end = s->n_devs;
  int r;

  for (size_t i = first; i < end; i++) {
    struct gfs_device *d = s->devs[i];
    if (d->kind != GFS_KIND_DEVICE)
      continue;
    r = gfs_scan_partitions (s, d, (int) i);
    if (r < 0) {
      gfs_warn ("%s: %s", d->dev->name, disk_last_error ());
      continue;
    }
    if (r == 0)          /* no partition table: the whole disk may hold a fs */
      identify (d);
  }
  for (size_t i = first; i < s->n_devs; i++)
    if (s->devs[i]->kind == GFS_KIND_PARTITION && !s->devs[i]->is_extended)
      identify (s->devs[i]);
  {
    size_t before = s->n_devs;
    r = gfs_scan_lvm (s);
    if (r < 0)
      gfs_warn ("LVM: %s", disk_last_error ());
    for (size_t i = before; i < s->n_devs; i++)
      identify (s->devs[i]);
  }
  return 0;
}

int
gfs_scan (struct gfs_session *s)
{
  size_t first = s->n_devs;
  int r;

  for (size_t i = 0; i < s->n_disks; i++) {
    char name[32];
    struct gfs_dev *dev;
    struct gfs_device *d;

    snprintf (name, sizeof name, "/dev/sd%c", (char) ('a' + i));
    r = gfs_dev_from_disk (s->disks[i], name, 0, (uint64_t) disk_get_size (s->disks[i]), &dev);
    if (r < 0)
      return r;
    r = gfs_session_add_device (s, dev, GFS_KIND_DEVICE, &d);
    if (r < 0)
      return r;
    snprintf (d->parent, sizeof d->parent, "-");
  }
  return gfs_scan_devices (s, first);
}

struct gfs_device *
gfs_find_device (struct gfs_session *s, const char *name)
{
  char alt[300];

  for (size_t i = 0; i < s->n_devs; i++)
    if (!strcmp (s->devs[i]->dev->name, name))
      return s->devs[i];
  /* /dev/mapper/VG-LV and /dev/vda1 style names as written in guest fstabs */
  if (!strncmp (name, "/dev/mapper/", 12)) {
    const char *p = name + 12;
    const char *dash = NULL;
    /* VG-LV with "--" escaping a dash in a name */
    for (const char *q = p; *q; q++) {
      if (q[0] == '-' && q[1] == '-') {
        q++;
        continue;
      }
      if (*q == '-') {
        dash = q;
        break;
      }
    }
    if (dash) {
      char vg[128], lv[128];
      size_t k = 0;
      for (const char *q = p; q < dash && k < sizeof vg - 1; q++) {
        vg[k++] = *q;
        if (q[0] == '-' && q[1] == '-')
          q++;
      }
      vg[k] = 0;
      k = 0;
      for (const char *q = dash + 1; *q && k < sizeof lv - 1; q++) {
        lv[k++] = *q;
        if (q[0] == '-' && q[1] == '-')
          q++;
      }
      lv[k] = 0;
      snprintf (alt, sizeof alt, "/dev/%s/%s", vg, lv);
      for (size_t i = 0; i < s->n_devs; i++)
        if (!strcmp (s->devs[i]->dev->name, alt))
          return s->devs[i];
    }
  }
  else if (!strncmp (name, "/dev/vd", 7) || !strncmp (name, "/dev/hd", 7) ||
           !strncmp (name, "/dev/xvd", 8)) {
    const char *rest = name + (name[5] == 'x' ? 8 : 7);
    snprintf (alt, sizeof alt, "/dev/sd%s", rest);
    for (size_t i = 0; i < s->n_devs; i++)
      if (!strcmp (s->devs[i]->dev->name, alt))
        return s->devs[i];
  }
  return NULL;
}

struct gfs_device *
gfs_find_by_uuid (struct gfs_session *s, const char *uuid)
{
  for (size_t i = 0; i < s->n_devs; i++)
    if (s->devs[i]->uuid[0] && !strcasecmp (s->devs[i]->uuid, uuid))
      return s->devs[i];
  return NULL;
}

struct gfs_device *
gfs_find_by_label (struct gfs_session *s, const char *label)
{
  for (size_t i = 0; i < s->n_devs; i++)
    if (s->devs[i]->label[0] && !strcmp (s->devs[i]->label, label))
      return s->devs[i];
  return NULL;
}

int
gfs_device_fs (struct gfs_device *d, struct gfs_fs **out)
{
  int r;

  if (d->fs) {
    *out = d->fs;
    return 0;
  }
  if (d->open_error)
    return gfs_err (EIO, "%s", d->open_error);
  if (!d->ops)
    return gfs_err (ENOTSUP, "%s: no filesystem that vdk can read (%s)", d->dev->name,
                    d->vfs_type[0] ? d->vfs_type : "unknown content");
  r = d->ops->open (d->dev, &d->fs);
  if (r < 0) {
    d->fs = NULL;
    d->open_error = strdup (disk_last_error ());
    return r;
  }
  *out = d->fs;
  return 0;
}

static int
cmp_mount (const void *a, const void *b)
{
  const struct gfs_mount *x = a, *y = b;
  size_t lx = strlen (x->mountpoint), ly = strlen (y->mountpoint);
  return lx < ly ? 1 : lx > ly ? -1 : strcmp (x->mountpoint, y->mountpoint);
}

int
gfs_mount_add (struct gfs_session *s, const char *mountpoint, struct gfs_device *d)
{
  struct gfs_mount *n;
  char *mp;
  size_t l;

  if (mountpoint[0] != '/')
    return gfs_err (EINVAL, "%s: mountpoint is not an absolute path", mountpoint);
  for (size_t i = 0; i < s->n_mounts; i++)
    if (!strcmp (s->mounts[i].mountpoint, mountpoint))
      return gfs_err (EEXIST, "%s: already mounted", mountpoint);
  if (s->n_mounts >= GFS_MAX_DEVICES)
    return gfs_err (E2BIG, "too many mounts");
  mp = strdup (mountpoint);
  if (!mp)
    return gfs_err (ENOMEM, "out of memory");
  l = strlen (mp);
  while (l > 1 && mp[l - 1] == '/')
    mp[--l] = 0;
  n = realloc (s->mounts, (s->n_mounts + 1) * sizeof *n);
  if (!n) {
    free (mp);
    return gfs_err (ENOMEM, "out of memory");
  }
  s->mounts = n;
  s->mounts[s->n_mounts].mountpoint = mp;
  s->mounts[s->n_mounts].dev = d;
  s->n_mounts++;
  qsort (s->mounts, s->n_mounts, sizeof *s->mounts, cmp_mount);
  return 0;
}

/* ---- path walking ---------------------------------------------------- */

/* One level of the walk: where we are, and its canonical path length. */
struct level {
  struct gfs_fs *fs;
  uint64_t ino;
  size_t pathlen;
};

/* The filesystem mounted exactly at PATH, or NULL. */
static struct gfs_fs *
mounted_at (struct gfs_session *s, const char *path, int *err)
{
  *err = 0;
  if (!s)
    return NULL;
  for (size_t i = 0; i < s->n_mounts; i++)
    if (!strcmp (s->mounts[i].mountpoint, path)) {
      struct gfs_fs *fs;
      int r = gfs_device_fs (s->mounts[i].dev, &fs);
      if (r < 0) {
        *err = r;
        return NULL;
      }
      return fs;
    }
  return NULL;
}

static int
walk (struct gfs_session *s, struct gfs_fs *rootfs, const char *path, bool follow,
      struct gfs_fs **fs_out, uint64_t *ino_out)
{
  /* REST holds the components still to walk; symlink targets are spliced
   * in front of it. */
  char *rest = NULL, *canon = NULL;
  struct level *stack = NULL;
  size_t depth = 0, restoff = 0;
  int links = 0, r = 0, err;
  struct gfs_fs *fs;

  if (path[0] != '/')
    return gfs_err (EINVAL, "%s: path must be absolute", path);
  if (strlen (path) >= GFS_MAX_PATH)
    return gfs_err (ENAMETOOLONG, "%s: path too long", path);
  rest = malloc (2 * GFS_MAX_PATH + 2);
  canon = malloc (GFS_MAX_PATH + 258);
  stack = malloc (sizeof *stack * (GFS_MAX_PATH / 2 + 2));
  if (!rest || !canon || !stack) {
    r = gfs_err (ENOMEM, "out of memory");
    goto out;
  }
  strcpy (rest, path);
  canon[0] = 0;
  fs = rootfs ? rootfs : mounted_at (s, "/", &err);
  if (!fs) {
    r = err ? err : gfs_err (ENOENT, "%s: no root filesystem", path);
    goto out;
  }
  stack[0].fs = fs;
  stack[0].ino = fs->ops->root_ino (fs);
  stack[0].pathlen = 0;

  for (;;) {
    char name[256];
    size_t n = 0;
    const char *p = rest + restoff;
    struct level *top = &stack[depth];
    uint64_t ino;
    struct gfs_stat st;
    bool last;

    while (*p == '/')
      p++;
    if (!*p)
      break;
    while (p[n] && p[n] != '/')
      n++;
    if (n > 255) {
      r = gfs_err (ENAMETOOLONG, "%s: a path component is too long", path);
      goto out;
    }
    memcpy (name, p, n);
    name[n] = 0;
    p += n;
    restoff = p - rest;
    {
      const char *q = p;
      while (*q == '/')
        q++;
      last = !*q;
    }
    if (!strcmp (name, "."))
      continue;
    if (!strcmp (name, "..")) {
      if (depth > 0)
        depth--;
      canon[stack[depth].pathlen] = 0;
      continue;
    }
    r = top->fs->ops->lookup (top->fs, top->ino, name, &ino);
    if (r < 0) {
      if (r == -ENOENT)
        r = gfs_err (ENOENT, "%s: no such file or directory", path);
      goto out;
    }
    r = top->fs->ops->getattr (top->fs, ino, &st);
    if (r < 0)
      goto out;
    if (S_ISLNK (st.mode) && (!last || follow)) {
      char target[GFS_MAX_PATH];
      size_t tl, rl;

      if (++links > GFS_MAX_SYMLINKS) {
        r = gfs_err (ELOOP, "%s: too many levels of symbolic links", path);
        goto out;
      }
      r = top->fs->ops->readlink (top->fs, ino, target, sizeof target);
      if (r < 0)
        goto out;
      tl = strlen (target);
      rl = strlen (rest + restoff);
      if (tl + rl + 2 > 2 * GFS_MAX_PATH) {
        r = gfs_err (ENAMETOOLONG, "%s: path too long after following symbolic links", path);
        goto out;
      }
      /* new rest = target + "/" + remaining */
      memmove (rest + tl + 1, rest + restoff, rl + 1);
      memcpy (rest, target, tl);
      rest[tl] = '/';
      restoff = 0;
      if (target[0] == '/') {
        depth = 0;
        canon[0] = 0;
      }
      continue;
    }
    if (!last && !S_ISDIR (st.mode)) {
      r = gfs_err (ENOTDIR, "%s: not a directory", path);
      goto out;
    }
    if (depth + 1 >= GFS_MAX_PATH / 2 || top->pathlen + n + 1 >= GFS_MAX_PATH) {
      r = gfs_err (ENAMETOOLONG, "%s: path too long", path);
      goto out;
    }
    canon[top->pathlen] = '/';
    memcpy (canon + top->pathlen + 1, name, n + 1);
    depth++;
    stack[depth].fs = top->fs;
    stack[depth].ino = ino;
    stack[depth].pathlen = stack[depth - 1].pathlen + n + 1;
    if (!rootfs && S_ISDIR (st.mode)) {
      struct gfs_fs *m = mounted_at (s, canon, &err);
      if (err) {
        r = err;
        goto out;
      }
      if (m) {
        stack[depth].fs = m;
        stack[depth].ino = m->ops->root_ino (m);
      }
    }
  }
  *fs_out = stack[depth].fs;
  *ino_out = stack[depth].ino;
  r = 0;
 out:
  free (rest);
  free (canon);
  free (stack);
  return r;
}

int
gfs_resolve_fs (struct gfs_fs *fs, const char *path, bool follow, uint64_t *ino)
{
  struct gfs_fs *f;
  return walk (NULL, fs, path, follow, &f, ino);
}

int
gfs_resolve (struct gfs_session *s, const char *path, bool follow,
             struct gfs_fs **fs, uint64_t *ino)
{
  return walk (s, NULL, path, follow, fs, ino);
}

int
gfs_read_file (struct gfs_fs *fs, uint64_t ino, size_t max, char **buf, size_t *len)
{
  struct gfs_stat st;
  char *b;
  size_t done = 0;
  int r;

  r = fs->ops->getattr (fs, ino, &st);
  if (r < 0)
    return r;
  if (S_ISDIR (st.mode))
    return gfs_err (EISDIR, "%s: inode %" PRIu64 " is a directory", fs->dev->name, ino);
  if (st.size > max)
    return gfs_err (EFBIG, "%s: inode %" PRIu64 " is too large (%" PRIu64 " bytes)",
                    fs->dev->name, ino, st.size);
  b = malloc (st.size + 1);
  if (!b)
    return gfs_err (ENOMEM, "out of memory");
  while (done < st.size) {
    ssize_t n = fs->ops->read (fs, ino, b + done, st.size - done, done);
    if (n < 0) {
      free (b);
      return (int) n;
    }
    if (n == 0)
      break;
    done += (size_t) n;
  }
  b[done] = 0;
  *buf = b;
  if (len)
    *len = done;
  return 0;
}
