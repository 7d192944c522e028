/* Fuzz harness for the guestfs parsers: the input is a whole disk
 * (partition table, LVM, ext2/3/4 ...), or an rpmdb.sqlite file.  Everything is scanned, inspected,
 * and every readable file of every filesystem is walked and read.
 *
 * Built with -DVDK_LIBFUZZER it is a libFuzzer target
 * (clang -fsanitize=fuzzer); otherwise main() runs each file given on the
 * command line once, which is how the test suite replays a corpus. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "guestfs/guestfs.h"
#include "guestfs/inspect.h"
#include "guestfs/boot.h"
#include "guestfs/rpmdb.h"

struct mem {
  const uint8_t *data;
};

static int
mem_pread (struct gfs_dev *d, void *buf, size_t len, uint64_t off)
{
  struct mem *m = d->priv;
  memcpy (buf, m->data + off, len);   /* gfs_dev_pread range-checked it */
  return 0;
}

struct walk {
  struct gfs_fs *fs;
  int budget;
  int depth;
};

static void walk_dir (struct walk *w, uint64_t ino);

static int
xattr_cb (void *opaque, const char *name, const void *value, size_t len)
{
  (void) opaque;
  (void) name;
  if (len)
    (void) *(volatile const uint8_t *) ((const uint8_t *) value + len - 1);
  return 0;
}

static int
visit (void *opaque, const struct gfs_dirent *e)
{
  struct walk *w = opaque;
  struct gfs_stat st;
  char buf[4096];

  if (--w->budget <= 0)
    return 1;
  if (w->fs->ops->getattr (w->fs, e->ino, &st) < 0)
    return 0;
  if (w->fs->ops->listxattr)
    w->fs->ops->listxattr (w->fs, e->ino, xattr_cb, NULL);
  if (S_ISDIR (st.mode) && w->depth < 8) {
    w->depth++;
    walk_dir (w, e->ino);
    w->depth--;
  }
  else if (S_ISLNK (st.mode))
    w->fs->ops->readlink (w->fs, e->ino, buf, sizeof buf);
  else if (S_ISREG (st.mode)) {
    for (uint64_t off = 0; off < st.size && off < (1u << 20); off += sizeof buf)
      if (w->fs->ops->read (w->fs, e->ino, buf, sizeof buf, off) <= 0)
        break;
  }
  return 0;
}

static void
walk_dir (struct walk *w, uint64_t ino)
{
  w->fs->ops->readdir (w->fs, ino, visit, w);
}

static int
count_pkg (void *opaque, const struct gfs_rpm_pkg *p)
{
  (*(size_t *) opaque) += strlen (p->name);
  return 0;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct gfs_session *s;
  struct mem *m;
  struct gfs_dev *dev;
  struct gfs_os *oses;
  size_t n;

  /* an rpm database on its own */
  if (size >= 16 && !memcmp (data, "SQLite format 3", 16)) {
    size_t sum = 0;
    gfs_rpmdb_sqlite ("fuzz", data, size, count_pkg, &sum);
    return 0;
  }
  if (gfs_session_new (&s) < 0)
    return 0;
  m = malloc (sizeof *m);
  if (!m) {
    gfs_session_free (s);
    return 0;
  }
  m->data = data;
  dev = gfs_dev_new ("/dev/sda", size, mem_pread, NULL, m);
  if (!dev || gfs_session_add_device (s, dev, GFS_KIND_DEVICE, NULL) < 0) {
    free (m);
    gfs_session_free (s);
    return 0;
  }
  gfs_scan_devices (s, 0);
  if (gfs_inspect (s, &oses, &n) == 0) {
    for (size_t i = 0; i < n; i++) {      /* boot entry discovery too */
      struct gfs_boot b;
      if (gfs_boot_find (s, &oses[i], NULL, &b) == 0)
        gfs_boot_free (&b);
    }
    gfs_mounts_clear (s);
    gfs_os_free (oses, n);
  }
  for (size_t i = 0; i < s->n_devs; i++) {
    struct gfs_fs *fs;
    struct gfs_statfs sf;
    struct gfs_fsinfo fi;
    struct walk w;
    if (gfs_device_fs (s->devs[i], &fs) < 0)
      continue;
    fs->ops->statfs (fs, &sf);
    fs->ops->info (fs, &fi);
    w.fs = fs;
    w.budget = 2000;
    w.depth = 0;
    walk_dir (&w, fs->ops->root_ino (fs));
  }
  free (gfs_take_warnings ());
  gfs_session_free (s);
  free (m);
  return 0;
}

#ifndef VDK_LIBFUZZER
int
main (int argc, char **argv)
{
  for (int i = 1; i < argc; i++) {
    FILE *f = fopen (argv[i], "rb");
    uint8_t *buf;
    long len;
    if (!f) {
      perror (argv[i]);
      return 1;
    }
    fseek (f, 0, SEEK_END);
    len = ftell (f);
    rewind (f);
    buf = malloc (len > 0 ? (size_t) len : 1);
    if (!buf || fread (buf, 1, (size_t) len, f) != (size_t) len) {
      fprintf (stderr, "%s: read error\n", argv[i]);
      return 1;
    }
    fclose (f);
    LLVMFuzzerTestOneInput (buf, (size_t) len);
    free (buf);
  }
  printf ("%d inputs\n", argc - 1);
  return 0;
}
#endif
