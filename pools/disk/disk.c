/* The "disk" pool type: a GPT or DOS partition table on a block device or
 * an image file; volumes are its partitions (vdk reads and writes the table
 * itself, label.c).
 *
 * Volume names: a GPT partition is named by its partition name (unnamed
 * ones, and every DOS partition, by the device node the kernel gives it:
 * sda1, loop0p5, or for an image file disk.img1).  Volume paths: the
 * partition's device node in the target directory when the kernel has it,
 * else a libdisk spec for the window of the device or image:
 * driver=raw,offset=N,size=M,file.filename=DEV. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/blkpg.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "vdk/disk.h"
#include "../pool-int.h"
#include "label.h"

/* "unknown" is what libvirt calls auto-detection. */
static const char *const disk_formats[] = { "auto", "unknown", "dos", "gpt", NULL };

static bool
format_auto (const char *f)
{
  return !f || !strcmp (f, "auto") || !strcmp (f, "unknown");
}

static int
dpool_check (const struct pool_def *d)
{
  if (d->n_devices != 1)
    return pool_err (EINVAL, "pool '%s': a disk pool needs exactly one source device", d->name);
  if (d->devices[0][0] != '/')
    return pool_err (EINVAL, "pool '%s': the source device must be an absolute path ('%s')",
                     d->name, d->devices[0]);
  return 0;
}

/* ---- the device -------------------------------------------------------------------- */
struct dev {
  int fd;
  bool blk;
  uint64_t size;
  uint32_t ss;
  struct stat st;
};

static void
dev_close (struct dev *v)
{
  if (v->fd >= 0)
    close (v->fd);
  v->fd = -1;
}

static int
dev_open (struct pool *p, bool rw, struct dev *v)
{
  const char *path = p->def->devices[0];

  memset (v, 0, sizeof *v);
  v->fd = open (path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (v->fd < 0)
    return pool_err (errno, "pool '%s': source device '%s': %s", p->def->name, path,
                     strerror (errno));
  if (fstat (v->fd, &v->st) < 0) {
    int e = errno;
    dev_close (v);
    return pool_err (e, "pool '%s': %s: %s", p->def->name, path, strerror (e));
  }
  v->ss = 512;
  if (S_ISBLK (v->st.st_mode)) {
    int ss = 512;
    v->blk = true;
    if (ioctl (v->fd, BLKGETSIZE64, &v->size) < 0 || ioctl (v->fd, BLKSSZGET, &ss) < 0) {
      int e = errno;
      dev_close (v);
      return pool_err (e, "pool '%s': %s: cannot get the device size: %s", p->def->name, path,
                       strerror (e));
    }
    if (ss != 512 && ss != 4096) {
      dev_close (v);
      return pool_err (ENOTSUP, "pool '%s': %s: unsupported sector size %d", p->def->name,
                       path, ss);
    }
    v->ss = (uint32_t) ss;
  }
  else if (S_ISREG (v->st.st_mode))
    v->size = v->st.st_size;
  else {
    dev_close (v);
    return pool_err (EINVAL, "pool '%s': source device '%s' is not a block device or an image"
                     " file", p->def->name, path);
  }
  return 0;
}

/* The pool's table; the device stays open in V (read-write with RW). */
static int
load (struct pool *p, bool rw, struct dev *v, struct pl_label *l)
{
  const char *path = p->def->devices[0], *want = p->def->source_format;
  int r;

  if ((r = dev_open (p, rw, v)) < 0)
    return r;
  /* Changes read, modify and write the table under an exclusive flock of
   * the device (vol-resize runs under the state dir's shared lock), which
   * also keeps udev from probing half-written tables (systemd's block
   * device locking convention). */
  while (rw && flock (v->fd, LOCK_EX) < 0)
    if (errno != EINTR) {
      r = pool_err (errno, "pool '%s': cannot lock '%s': %s", p->def->name, path,
                    strerror (errno));
      dev_close (v);
      return r;
    }
  r = pl_read (v->fd, v->size, v->ss, l);
  if (r < 0)
    r = pool_err (-r, "pool '%s': %s: damaged partition table: %s", p->def->name, path, l->err);
  else if (r == 0)
    r = pool_err (ENOENT, "pool '%s': no partition table on '%s' (run pool-build)",
                  p->def->name, path);
  else if (!format_auto (want) && strcmp (want, pl_kind_name (l->kind)))
    r = pool_err (EINVAL, "pool '%s': the partition table of '%s' is %s, not %s as the pool's"
                  " source format says", p->def->name, path, pl_kind_name (l->kind), want);
  else
    return 0;
  dev_close (v);
  return r;
}

static int
blkpg (int fd, int op, unsigned num, uint64_t start, uint64_t len)
{
  struct blkpg_partition bp;
  struct blkpg_ioctl_arg a;

  memset (&bp, 0, sizeof bp);
  bp.pno = (int) num;
  bp.start = (long long) start;
  bp.length = (long long) len;
  memset (&a, 0, sizeof a);
  a.op = op;
  a.datalen = sizeof bp;
  a.data = &bp;
  return ioctl (fd, BLKPG, &a);
}

/* Tell the kernel about the new table of a block device: re-read it, then
 * make its partitions match the table one by one (BLKRRPART does nothing
 * on some loop devices, and fails while a partition is in use). */
static void
kernel_sync (struct dev *v, const struct pl_label *l)
{
  char dir[128];
  struct { unsigned num; uint64_t start, size; } k[PL_MAX_PARTS];
  size_t nk = 0;
  DIR *d;
  struct dirent *e;

  if (!v->blk)
    return;
  ioctl (v->fd, BLKRRPART);
  snprintf (dir, sizeof dir, "/sys/dev/block/%u:%u", major (v->st.st_rdev),
            minor (v->st.st_rdev));
  if (!(d = opendir (dir)))
    return;
  while ((e = readdir (d)) && nk < PL_MAX_PARTS) {
    char path[600];
    unsigned long long num, start, size;
    FILE *f;
    bool ok;
    if (e->d_name[0] == '.')
      continue;
    snprintf (path, sizeof path, "%s/%s/partition", dir, e->d_name);
    if (!(f = fopen (path, "re")))
      continue;
    ok = fscanf (f, "%llu", &num) == 1;
    fclose (f);
    snprintf (path, sizeof path, "%s/%s/start", dir, e->d_name);
    if (ok && (f = fopen (path, "re"))) {
      ok = fscanf (f, "%llu", &start) == 1;
      fclose (f);
    }
    snprintf (path, sizeof path, "%s/%s/size", dir, e->d_name);
    if (ok && (f = fopen (path, "re"))) {
      ok = fscanf (f, "%llu", &size) == 1;
      fclose (f);
    }
    if (ok) {
      k[nk].num = (unsigned) num;
      k[nk].start = start * 512;
      k[nk].size = size * 512;
      nk++;
    }
  }
  closedir (d);
  /* Stale partitions go (a busy one is resized in place if it can be). */
  for (size_t i = 0; i < nk; i++) {
    const struct pl_part *t = NULL;
    for (size_t j = 0; j < l->n; j++)
      if (l->parts[j].num == k[i].num)
        t = &l->parts[j];
    if (t && t->extended && t->start * l->ss == k[i].start)
      continue;   /* the kernel shows an extended partition as 1 KiB */
    if (t && t->start * l->ss == k[i].start && t->size * l->ss == k[i].size)
      continue;
    if (t && t->start * l->ss == k[i].start &&
        blkpg (v->fd, BLKPG_RESIZE_PARTITION, t->num, k[i].start, t->size * l->ss) == 0) {
      k[i].size = t->size * l->ss;
      continue;
    }
    if (blkpg (v->fd, BLKPG_DEL_PARTITION, k[i].num, 0, 0) == 0)
      k[i].num = 0;
  }
  for (size_t j = 0; j < l->n; j++) {
    const struct pl_part *t = &l->parts[j];
    bool have = false;
    if (t->extended)
      continue;
    for (size_t i = 0; i < nk; i++)
      have |= k[i].num == t->num;
    if (!have)
      blkpg (v->fd, BLKPG_ADD_PARTITION, t->num, t->start * l->ss, t->size * l->ss);
  }
}

/* ---- volumes ------------------------------------------------------------------------- */
static void
part_devname (const struct pool *p, unsigned num, char *out, size_t len)
{
  const char *dev = p->def->devices[0], *base = strrchr (dev, '/');
  size_t bl;

  base = base ? base + 1 : dev;
  bl = strlen (base);
  snprintf (out, len, "%s%s%u", base, bl && base[bl - 1] >= '0' && base[bl - 1] <= '9' ? "p" : "",
            num);
}

static void
part_volname (const struct pool *p, const struct pl_part *pt, enum pl_kind kind, char *out,
              size_t len)
{
  if (kind == PL_GPT && pt->name[0] && pool_name_valid (pt->name))
    snprintf (out, len, "%s", pt->name);
  else
    part_devname (p, pt->num, out, len);
}

/* The kernel's node for partition PT, if it is there and is that partition. */
static bool
kernel_node (const struct pool *p, const struct dev *v, const struct pl_part *pt, char *out,
             size_t len)
{
  char name[300], sys[128];
  struct stat st;
  unsigned long long start = 0, size = 0;
  FILE *f;
  bool ok = false;

  if (!v->blk)
    return false;
  part_devname (p, pt->num, name, sizeof name);
  if (snprintf (out, len, "%s/%s", p->def->target, name) >= (int) len ||
      stat (out, &st) < 0 || !S_ISBLK (st.st_mode))
    return false;
  snprintf (sys, sizeof sys, "/sys/dev/block/%u:%u/start", major (st.st_rdev),
            minor (st.st_rdev));
  if ((f = fopen (sys, "re"))) {
    ok = fscanf (f, "%llu", &start) == 1;
    fclose (f);
  }
  snprintf (sys, sizeof sys, "/sys/dev/block/%u:%u/size", major (st.st_rdev),
            minor (st.st_rdev));
  if (ok && (f = fopen (sys, "re"))) {
    ok = fscanf (f, "%llu", &size) == 1;
    fclose (f);
  }
  else
    ok = false;
  /* sysfs counts 512-byte sectors. */
  return ok && start * 512 == pt->start * v->ss && size * 512 == pt->size * v->ss;
}

static int
make_vol (const struct pool *p, const struct dev *v, const struct pl_label *l,
          const struct pl_part *pt, struct pool_vol **out)
{
  struct pool_vol *vol = calloc (1, sizeof *vol);
  char name[300], node[4096];
  const struct stat *st = &v->st;
  struct stat nst;

  if (!vol)
    return pool_err (ENOMEM, "out of memory");
  part_volname (p, pt, l->kind, name, sizeof name);
  vol->name = strdup (name);
  if (kernel_node (p, v, pt, node, sizeof node) && stat (node, &nst) == 0) {
    vol->path = strdup (node);
    vol->type = "block";
    st = &nst;
  }
  else {
    /* The window of the device: ',' doubles in a key=value spec. */
    const char *dev = p->def->devices[0];
    char *esc = malloc (2 * strlen (dev) + 1), *q = esc;
    if (esc) {
      for (const char *s = dev; *s; s++) {
        if (*s == ',')
          *q++ = ',';
        *q++ = *s;
      }
      *q = 0;
      if (asprintf (&vol->path, "driver=raw,offset=%" PRIu64 ",size=%" PRIu64
                    ",file.filename=%s", pt->start * l->ss, pt->size * l->ss, esc) < 0)
        vol->path = NULL;
      free (esc);
    }
    vol->type = v->blk ? "block" : "file";
  }
  vol->key = vol->path ? strdup (vol->path) : NULL;
  vol->format = strdup ("raw");
  if (!vol->name || !vol->path || !vol->key || !vol->format) {
    pool_vol_free (vol);
    return pool_err (ENOMEM, "out of memory");
  }
  vol->capacity = vol->allocation = vol->physical = pt->size * l->ss;
  vol->mode = st->st_mode;
  vol->uid = st->st_uid;
  vol->gid = st->st_gid;
  vol->atime = st->st_atim;
  vol->mtime = st->st_mtim;
  vol->ctime = st->st_ctim;
  *out = vol;
  return 0;
}

/* The index of volume NAME in L (its name, or for a named GPT partition
 * also its device name), or -ENOENT. */
static int
find_part (const struct pool *p, const struct pl_label *l, const char *name)
{
  char buf[300];

  for (size_t i = 0; i < l->n; i++) {
    if (l->parts[i].extended)
      continue;
    part_volname (p, &l->parts[i], l->kind, buf, sizeof buf);
    if (!strcmp (buf, name))
      return (int) i;
  }
  for (size_t i = 0; i < l->n; i++) {
    if (l->parts[i].extended)
      continue;
    part_devname (p, l->parts[i].num, buf, sizeof buf);
    if (!strcmp (buf, name))
      return (int) i;
  }
  return pool_err (ENOENT, "Storage volume not found: no storage vol with matching name '%s'",
                   name);
}

static int
dpool_refresh (struct pool *p, struct pool_vol ***out, size_t *n)
{
  struct pl_label *l = malloc (sizeof *l);
  struct pool_vol **v;
  struct dev dv;
  size_t count = 0;
  int r;

  if (!l)
    return pool_err (ENOMEM, "out of memory");
  if ((r = load (p, false, &dv, l)) < 0) {
    free (l);
    return r;
  }
  v = calloc (l->n + 1, sizeof *v);
  if (!v)
    r = pool_err (ENOMEM, "out of memory");
  for (size_t i = 0; r == 0 && i < l->n; i++)
    if (!l->parts[i].extended && (r = make_vol (p, &dv, l, &l->parts[i], &v[count])) == 0)
      count++;
  dev_close (&dv);
  free (l);
  if (r < 0) {
    pool_vol_list_free (v, count);
    return r;
  }
  *out = v;
  *n = count;
  return 0;
}

static int
dpool_vol_lookup (struct pool *p, const char *name, struct pool_vol **out)
{
  struct pl_label *l = malloc (sizeof *l);
  struct dev dv;
  int r;

  if (!l)
    return pool_err (ENOMEM, "out of memory");
  if ((r = load (p, false, &dv, l)) == 0) {
    if ((r = find_part (p, l, name)) >= 0)
      r = make_vol (p, &dv, l, &l->parts[r], out);
    dev_close (&dv);
  }
  free (l);
  return r;
}

static char *
dpool_vol_path (struct pool *p, const char *name)
{
  /* Creating an image "in" a disk pool would need a partition size: only
   * existing partitions are opened through vol:POOL/VOL. */
  pool_err (ENOTSUP, "pool '%s': volume '%s': the volumes of a disk pool are partitions:"
            " create it with vol-create-as first", p->def->name, name);
  return NULL;
}

/* Write L and tell the kernel. */
static int
commit (struct pool *p, struct dev *v, struct pl_label *l)
{
  int r = pl_write (v->fd, l);
  if (r < 0)
    return pool_err (-r, "pool '%s': %s: cannot write the partition table: %s", p->def->name,
                     p->def->devices[0], l->err);
  kernel_sync (v, l);
  return 0;
}

static int
dpool_vol_create (struct pool *p, const struct vol_def *d)
{
  struct pl_label *l;
  struct dev dv;
  uint64_t sectors;
  size_t idx;
  int r;

  if (d->format && strcmp (d->format, "raw"))
    return pool_err (ENOTSUP, "unsupported volume format '%s' for a disk pool: partitions are"
                     " raw (use --format raw)", d->format);
  if (d->backing_path)
    return pool_err (ENOTSUP, "a partition of disk pool '%s' cannot have a backing volume",
                     p->def->name);
  if (d->prealloc_metadata)
    return pool_err (ENOTSUP, "metadata preallocation is not supported for raw volumes");
  if (d->capacity == 0)
    return pool_err (EINVAL, "volume '%s': a partition needs a size", d->name);
  if (!(l = malloc (sizeof *l)))
    return pool_err (ENOMEM, "out of memory");
  if ((r = load (p, true, &dv, l)) < 0) {
    free (l);
    return r;
  }
  sectors = (d->capacity + dv.ss - 1) / dv.ss;
  if (l->kind == PL_GPT) {
    size_t len = strlen (d->name);
    bool ascii = len <= PL_NAME_CHARS;
    for (size_t i = 0; ascii && i < len; i++)
      ascii = d->name[i] >= 0x20 && d->name[i] < 0x7f;
    if (!ascii)
      r = pool_err (EINVAL, "volume name '%s': a GPT partition name is at most %d printable"
                    " ASCII characters", d->name, PL_NAME_CHARS);
  }
  else {
    unsigned num;
    char want[300];
    if ((r = pl_next_num (l, sectors, &num)) < 0)
      r = pool_err (-r, "cannot create volume '%s' in pool '%s': %s", d->name, p->def->name,
                    l->err);
    else {
      part_devname (p, num, want, sizeof want);
      if (strcmp (want, d->name))
        r = pool_err (EINVAL, "cannot create volume '%s': partitions of a dos label have no"
                      " names; the new partition will be '%s' (use that name)", d->name, want);
    }
  }
  if (r == 0 && (r = pl_add (l, sectors, d->name, &idx)) < 0)
    r = pool_err (-r, "cannot create volume '%s' in pool '%s': %s", d->name, p->def->name,
                  l->err);
  if (r == 0)
    r = commit (p, &dv, l);
  dev_close (&dv);
  free (l);
  return r;
}

/* A partition node somebody uses (mounted, in a VG, open with O_EXCL). */
static int
check_node_free (const char *name, const char *path)
{
  struct stat st;
  int fd;

  if (stat (path, &st) < 0 || !S_ISBLK (st.st_mode))
    return 0;
  fd = open (path, O_RDONLY | O_EXCL | O_CLOEXEC);
  if (fd < 0 && errno == EBUSY)
    return pool_err (EBUSY, "volume '%s' is in use: %s is busy (mounted or held by another"
                     " device)", name, path);
  if (fd >= 0)
    close (fd);
  return 0;
}

static int
dpool_vol_delete (struct pool *p, struct pool_vol *v)
{
  struct pl_label *l;
  struct dev dv;
  int r;

  if ((r = check_node_free (v->name, v->path)) < 0)
    return r;
  if (!(l = malloc (sizeof *l)))
    return pool_err (ENOMEM, "out of memory");
  if ((r = load (p, true, &dv, l)) < 0) {
    free (l);
    return r;
  }
  if ((r = find_part (p, l, v->name)) >= 0) {
    size_t idx = (size_t) r;
    if ((r = pl_remove (l, idx)) < 0)
      r = pool_err (-r, "pool '%s': %s", p->def->name, l->err);
    else
      r = commit (p, &dv, l);
  }
  dev_close (&dv);
  free (l);
  return r;
}

static int
dpool_vol_resize (struct pool *p, struct pool_vol *v, uint64_t capacity, unsigned flags)
{
  struct pl_label *l;
  struct dev dv;
  int r;

  (void) flags;
  if (!(l = malloc (sizeof *l)))
    return pool_err (ENOMEM, "out of memory");
  if ((r = load (p, true, &dv, l)) < 0) {
    free (l);
    return r;
  }
  if ((r = find_part (p, l, v->name)) >= 0) {
    size_t idx = (size_t) r;
    if (capacity == 0)
      r = pool_err (EINVAL, "volume '%s': a partition cannot be empty", v->name);
    else if ((r = pl_resize (l, idx, (capacity + dv.ss - 1) / dv.ss)) < 0)
      r = pool_err (-r, "cannot resize volume '%s': %s", v->name, l->err);
    else
      r = commit (p, &dv, l);
  }
  dev_close (&dv);
  free (l);
  return r;
}

/* ---- the pool ------------------------------------------------------------------------ */
/* Are the first 64 KiB of the device zeroes? */
static int
is_blank (struct pool *p, struct dev *v)
{
  enum { LEN = 64 * 1024 };
  uint8_t *buf = calloc (1, LEN);
  ssize_t got;
  int r;

  if (!buf)
    return pool_err (ENOMEM, "out of memory");
  got = pread (v->fd, buf, v->size < LEN ? v->size : LEN, 0);
  r = got < 0 ? pool_err (errno, "%s: read error: %s", p->def->devices[0], strerror (errno))
    : disk_is_zero_buf (buf, got);
  free (buf);
  return r;
}

/* --overwrite: a new empty label, whatever was there.  --no-overwrite: a
 * new label on a blank device only.  Neither: a label of the pool's
 * format is kept as it is; a blank device gets a new label; anything else
 * is refused. */
static int
dpool_build (struct pool *p, unsigned flags)
{
  const char *dev = p->def->devices[0], *fmt = p->def->source_format;
  enum pl_kind kind = fmt && !strcmp (fmt, "dos") ? PL_DOS : PL_GPT;
  struct pl_label *l = malloc (sizeof *l);
  struct dev dv;
  char what[64] = "";
  int r;

  if (!l)
    return pool_err (ENOMEM, "out of memory");
  if ((r = dev_open (p, true, &dv)) < 0) {
    free (l);
    return r;
  }
  while (flock (dv.fd, LOCK_EX) < 0)
    if (errno != EINTR) {
      r = pool_err (errno, "pool '%s': cannot lock '%s': %s", p->def->name, dev,
                    strerror (errno));
      goto out;
    }
  if (dv.blk) {
    /* Never a new label under a mounted partition: the kernel refuses an
     * exclusive open of a disk while one of its partitions is claimed. */
    int fd = open (dev, O_RDONLY | O_EXCL | O_CLOEXEC);
    if (fd < 0 && errno == EBUSY) {
      r = pool_err (EBUSY, "cannot build pool '%s': device '%s' is in use (a partition is"
                    " mounted or held by another device)", p->def->name, dev);
      goto out;
    }
    if (fd >= 0)
      close (fd);
  }
  if (!(flags & POOL_BUILD_OVERWRITE)) {
    int found = pl_read (dv.fd, dv.size, dv.ss, l);
    if (found > 0 && !(flags & POOL_BUILD_NO_OVERWRITE) &&
        (format_auto (fmt) || l->kind == kind))
      goto out;   /* already built */
    if (found > 0)
      snprintf (what, sizeof what, "%s partition table", pl_kind_name (l->kind));
    else if ((r = pool_sniff_signature (dev, what, sizeof what)) < 0)
      goto out;
    else if (r == 0 && (r = is_blank (p, &dv)) < 0)
      goto out;
    else if (r == 0)
      snprintf (what, sizeof what, "its first 64 KiB are not zeroes");
    if (what[0]) {
      r = pool_err (EEXIST, "cannot build pool '%s': device '%s' already contains data (%s)"
                    " (use --overwrite to destroy it)", p->def->name, dev, what);
      goto out;
    }
  }
  if ((r = pl_new (l, kind, dv.size, dv.ss)) < 0) {
    r = pool_err (-r, "cannot build pool '%s': %s: %s", p->def->name, dev, l->err);
    goto out;
  }
  if ((r = pl_wipe_ends (dv.fd, dv.size, !dv.blk)) < 0) {
    r = pool_err (-r, "cannot build pool '%s': %s: cannot clear the old label: %s",
                  p->def->name, dev, strerror (-r));
    goto out;
  }
  r = commit (p, &dv, l);
 out:
  r = r > 0 ? 0 : r;
  dev_close (&dv);
  free (l);
  return r;
}

static int
dpool_start (struct pool *p)
{
  struct pl_label *l = malloc (sizeof *l);
  struct dev dv;
  int r;

  if (!l)
    return pool_err (ENOMEM, "out of memory");
  if ((r = load (p, false, &dv, l)) == 0)
    dev_close (&dv);
  free (l);
  return r;
}

static int
dpool_stop (struct pool *p)
{
  (void) p;
  return 0;
}

/* pool-delete: the label of a pool without partitions goes. */
static int
dpool_delete (struct pool *p)
{
  struct pl_label *l = malloc (sizeof *l);
  struct dev dv;
  int r;

  if (!l)
    return pool_err (ENOMEM, "out of memory");
  if ((r = load (p, true, &dv, l)) < 0) {
    free (l);
    return r;
  }
  if (l->n)
    r = pool_err (ENOTEMPTY, "cannot delete pool '%s': it still has %zu partition(s)",
                  p->def->name, l->n);
  else if ((r = pl_wipe_ends (dv.fd, dv.size, !dv.blk)) < 0)
    r = pool_err (-r, "cannot delete pool '%s': %s: %s", p->def->name, p->def->devices[0],
                  strerror (-r));
  else {
    l->n = 0;
    kernel_sync (&dv, l);
  }
  dev_close (&dv);
  free (l);
  return r;
}

static int
dpool_info (struct pool *p, struct pool_info *info)
{
  struct pl_label *l = malloc (sizeof *l);
  struct dev dv;
  int r;

  if (!l)
    return pool_err (ENOMEM, "out of memory");
  if ((r = load (p, false, &dv, l)) == 0) {
    info->capacity = dv.size;
    info->allocation = 0;
    for (size_t i = 0; i < l->n; i++)
      if (!l->parts[i].extended)
        info->allocation += l->parts[i].size * l->ss;
    info->available = pl_free_sectors (l, NULL) * l->ss;
    dev_close (&dv);
  }
  free (l);
  return r;
}

static int
dpool_vol_wipe (struct pool *p, struct pool_vol *v)
{
  int r = check_node_free (v->name, v->path);
  return r < 0 ? r : pool_file_vol_wipe (p, v);
}

/* Devices carrying a GPT or DOS partition table (whole devices only when
 * scanning the host: partitions rarely hold one). */
static int
dpool_find_sources (const char *host, const char *port, const char *srcspec, char **xml_out)
{
  struct pool_src_dev *dv;
  struct pl_label *l = malloc (sizeof *l);
  char *items = NULL;
  size_t nd, len = 0;
  FILE *f = NULL;
  int r;

  (void) host;
  (void) port;
  if (!l)
    return pool_err (ENOMEM, "out of memory");
  if ((r = pool_src_devices (srcspec, true, &dv, &nd)) < 0) {
    free (l);
    return r;
  }
  if (!(f = open_memstream (&items, &len))) {
    r = pool_err (ENOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < nd; i++) {
    char *path;
    /* a damaged table is not a source: pool-start would refuse it */
    if (pl_read (dv[i].fd, dv[i].size, dv[i].ss, l) != 1 || l->kind == PL_NONE)
      continue;
    if (!(path = pool_xml_escape (dv[i].path))) {
      r = pool_err (ENOMEM, "out of memory");
      goto out;
    }
    fprintf (f, "  <source>\n    <device path='%s'/>\n    <format type='%s'/>\n  </source>\n",
             path, pl_kind_name (l->kind));
    free (path);
  }
 out:
  if (f && fclose (f) != 0 && r == 0)
    r = pool_err (ENOMEM, "out of memory");
  if (r == 0 && !(*xml_out = pool_sources_xml (items)))
    r = -ENOMEM;
  free (items);
  free (l);
  pool_src_devices_free (dv, nd);
  return r;
}

const struct pool_type_ops pool_type_disk = {
  .name = "disk",
  .needs_device = true,
  .default_source_format = "auto",
  .source_formats = disk_formats,
  .check = dpool_check,
  .build = dpool_build,
  .start = dpool_start,
  .stop = dpool_stop,
  .delete = dpool_delete,
  .info = dpool_info,
  .refresh = dpool_refresh,
  .vol_lookup = dpool_vol_lookup,
  .vol_path = dpool_vol_path,
  .vol_create = dpool_vol_create,
  .vol_delete = dpool_vol_delete,
  .vol_resize = dpool_vol_resize,
  .vol_wipe = dpool_vol_wipe,
  .shared_target = true,
  .find_sources = dpool_find_sources,
};
