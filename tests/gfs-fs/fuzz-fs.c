/* libFuzzer harness for the xfs and vfat drivers (built with clang only):
 *   fuzz-xfs / fuzz-vfat CORPUS_DIR
 * The input is the start of a device; the device reads as zeroes past it up
 * to 1 TiB, so a seed can be the first megabytes of a real image (mkfs.xfs
 * needs 300 MiB, but its metadata is near the start of each group). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guestfs/fs.h"

extern const struct gfs_fs_ops FUZZ_DRIVER;

struct memdev { const uint8_t *data; size_t size; };

static int
mem_pread (struct gfs_dev *d, void *buf, size_t len, uint64_t off)
{
  const struct memdev *m = d->priv;
  size_t n = 0;
  if (off < m->size) {
    n = m->size - off < len ? m->size - (size_t) off : len;
    memcpy (buf, m->data + off, n);
  }
  memset ((uint8_t *) buf + n, 0, len - n);
  return 0;
}

static int budget;

struct dirctx { struct gfs_fs *fs; uint64_t dir; int depth; };

static int
visit (void *opaque, const struct gfs_dirent *e)
{
  const struct dirctx *c = opaque;
  struct gfs_fs *fs = c->fs;
  const struct gfs_fs_ops *ops = fs->ops;
  struct gfs_stat st;
  static char buf[65536];
  uint64_t ino;

  if (--budget < 0)
    return 1;
  ops->lookup (fs, c->dir, e->name, &ino);
  if (ops->getattr (fs, e->ino, &st) < 0)
    return 0;
  if ((st.mode & 0170000) == 0100000)
    for (uint64_t off = 0; off < st.size && off < (1u << 20); off += sizeof buf)
      if (ops->read (fs, e->ino, buf, sizeof buf, off) <= 0)
        break;
  if ((st.mode & 0170000) == 0120000)
    ops->readlink (fs, e->ino, buf, sizeof buf);
  if ((st.mode & 0170000) == 0040000 && budget > 0 && c->depth < 16) {
    struct dirctx sub = { fs, e->ino, c->depth + 1 };
    ops->readdir (fs, e->ino, visit, &sub);
  }
  return 0;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct memdev m = { data, size };
  struct gfs_dev dev = { .name = (char *) "fuzz", .size = (uint64_t) 1 << 40,
                         .pread = mem_pread, .priv = &m };
  const struct gfs_fs_ops *ops = &FUZZ_DRIVER;
  struct gfs_fs *fs;
  struct gfs_statfs sf;
  struct gfs_fsinfo in;

  if (ops->probe (&dev) <= 0 || ops->open (&dev, &fs) < 0)
    return 0;
  budget = 2000;
  {
    struct dirctx root = { fs, ops->root_ino (fs), 0 };
    ops->readdir (fs, root.dir, visit, &root);
  }
  ops->statfs (fs, &sf);
  ops->info (fs, &in);
  ops->close (fs);
  return 0;
}
