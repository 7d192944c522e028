/* gfs-fs-walk: drive one filesystem driver through its gfs_fs_ops only.
 *
 *   gfs-fs-walk DRIVER IMAGE probe|info|statfs|tree
 *   gfs-fs-walk DRIVER IMAGE stat|cat|readlink PATH
 *
 * "tree" lists every entry below the root, sorted by path:
 *   d MODE PATH / f MODE PATH SIZE CRC32 / l MODE PATH -> TARGET / c|b|p|s MODE PATH
 * and checks as it goes that lookup agrees with readdir and that getattr
 * agrees with the directory entry type.  Errors: one line on stderr, exit 1.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "guestfs/fs.h"
#include "testdev.h"

extern const struct gfs_fs_ops gfs_fs_xfs;
extern const struct gfs_fs_ops gfs_fs_vfat;

#define MAX_DEPTH 64

static struct gfs_fs *fs;
static const struct gfs_fs_ops *ops;

static void
die (const char *what, int r)
{
  const char *m = test_last_error ();
  fprintf (stderr, "gfs-fs-walk: %s: %s\n", what, r < 0 && m[0] ? m : strerror (-r));
  exit (1);
}

struct ent { char name[256]; uint64_t ino; uint8_t type; };
struct list { struct ent *v; size_t n, cap; };

static int
collect (void *opaque, const struct gfs_dirent *e)
{
  struct list *l = opaque;
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 64;
    l->v = realloc (l->v, l->cap * sizeof *l->v);
    if (!l->v)
      abort ();
  }
  memcpy (l->v[l->n].name, e->name, sizeof e->name);
  l->v[l->n].ino = e->ino;
  l->v[l->n].type = e->type;
  l->n++;
  return 0;
}

static int
cmp_ent (const void *a, const void *b)
{
  return strcmp (((const struct ent *) a)->name, ((const struct ent *) b)->name);
}

static char
type_char (uint32_t mode)
{
  switch (mode & S_IFMT) {
  case S_IFDIR: return 'd';
  case S_IFREG: return 'f';
  case S_IFLNK: return 'l';
  case S_IFCHR: return 'c';
  case S_IFBLK: return 'b';
  case S_IFIFO: return 'p';
  case S_IFSOCK: return 's';
  default: return '?';
  }
}

static uint8_t
mode_dt (uint32_t mode)
{
  switch (mode & S_IFMT) {
  case S_IFDIR: return DT_DIR;
  case S_IFREG: return DT_REG;
  case S_IFLNK: return DT_LNK;
  case S_IFCHR: return DT_CHR;
  case S_IFBLK: return DT_BLK;
  case S_IFIFO: return DT_FIFO;
  case S_IFSOCK: return DT_SOCK;
  default: return DT_UNKNOWN;
  }
}

/* Reads the whole file in odd-sized chunks; returns its CRC32. */
static uint32_t
file_crc (uint64_t ino, uint64_t size, const char *path)
{
  static char buf[65536 + 4097];
  uLong crc = crc32 (0, Z_NULL, 0);
  uint64_t off = 0;
  ssize_t r;

  /* Sparse giants (a damaged size) would take forever to checksum. */
  if (size > ((uint64_t) 1 << 30)) {
    fprintf (stderr, "gfs-fs-walk: %s: %" PRIu64 " bytes is too big to checksum\n", path, size);
    exit (1);
  }
  for (;;) {
    r = ops->read (fs, ino, buf, sizeof buf, off);
    if (r < 0)
      die (path, (int) r);
    if (r == 0)
      break;
    crc = crc32 (crc, (const Bytef *) buf, (uInt) r);
    off += (uint64_t) r;
    if (off > size)
      break;
  }
  if (off != size) {
    fprintf (stderr, "gfs-fs-walk: %s: read %" PRIu64 " bytes, size is %" PRIu64 "\n",
             path, off, size);
    exit (1);
  }
  return (uint32_t) crc;
}

static void
walk (uint64_t dir, const char *prefix, uint64_t *stack, int depth)
{
  struct list l = { 0 };
  int r;

  if (depth >= MAX_DEPTH) {
    fprintf (stderr, "gfs-fs-walk: %s: too deep\n", prefix);
    exit (1);
  }
  stack[depth] = dir;
  r = ops->readdir (fs, dir, collect, &l);
  if (r < 0)
    die (prefix[0] ? prefix : "/", r);
  qsort (l.v, l.n, sizeof *l.v, cmp_ent);
  for (size_t i = 0; i < l.n; i++) {
    struct ent *e = &l.v[i];
    struct gfs_stat st;
    char path[4096];
    uint64_t ino;

    snprintf (path, sizeof path, "%s/%s", prefix, e->name);
    if (i > 0 && strcmp (e->name, l.v[i - 1].name) == 0) {
      fprintf (stderr, "gfs-fs-walk: %s: duplicate name\n", path);
      exit (1);
    }
    r = ops->lookup (fs, dir, e->name, &ino);
    if (r < 0)
      die (path, r);
    if (ino != e->ino) {
      fprintf (stderr, "gfs-fs-walk: %s: lookup gives inode %" PRIu64 ", readdir %" PRIu64 "\n",
               path, ino, e->ino);
      exit (1);
    }
    r = ops->getattr (fs, ino, &st);
    if (r < 0)
      die (path, r);
    if (e->type != DT_UNKNOWN && e->type != mode_dt (st.mode)) {
      fprintf (stderr, "gfs-fs-walk: %s: entry type %u, inode mode %#o\n",
               path, e->type, st.mode);
      exit (1);
    }
    printf ("%c %04o %s", type_char (st.mode), st.mode & 07777, path + 1);
    if (S_ISREG (st.mode))
      printf (" %" PRIu64 " %08x\n", st.size, file_crc (ino, st.size, path));
    else if (S_ISLNK (st.mode)) {
      char target[4096];
      r = ops->readlink (fs, ino, target, sizeof target);
      if (r < 0)
        die (path, r);
      printf (" -> %s\n", target);
    }
    else
      printf ("\n");
    if (S_ISDIR (st.mode)) {
      for (int k = 0; k <= depth; k++)
        if (stack[k] == ino) {
          fprintf (stderr, "gfs-fs-walk: %s: directory cycle\n", path);
          exit (1);
        }
      walk (ino, path, stack, depth + 1);
    }
  }
  free (l.v);
}

static int
print_xattr (void *opaque, const char *name, const void *value, size_t len)
{
  (void) opaque;
  printf ("%s %zu %08lx\n", name, len,
          (unsigned long) crc32 (crc32 (0, Z_NULL, 0), value, (uInt) len));
  return 0;
}

static uint64_t
resolve (const char *path)
{
  uint64_t ino = ops->root_ino (fs);
  char *copy = strdup (path), *save = NULL;
  int r;

  for (char *c = strtok_r (copy, "/", &save); c; c = strtok_r (NULL, "/", &save)) {
    r = ops->lookup (fs, ino, c, &ino);
    if (r < 0)
      die (path, r);
  }
  free (copy);
  return ino;
}

int
main (int argc, char **argv)
{
  struct gfs_dev *dev;
  const char *cmd;
  int r;

  if (argc < 4) {
    fprintf (stderr, "usage: gfs-fs-walk xfs|vfat IMAGE probe|info|statfs|tree|stat|cat|readlink [PATH]\n");
    return 2;
  }
  if (strcmp (argv[1], "xfs") == 0)
    ops = &gfs_fs_xfs;
  else if (strcmp (argv[1], "vfat") == 0)
    ops = &gfs_fs_vfat;
  else {
    fprintf (stderr, "gfs-fs-walk: unknown driver %s\n", argv[1]);
    return 2;
  }
  cmd = argv[3];
  r = test_dev_open (argv[2], &dev);
  if (r < 0)
    die ("open", r);
  if (strcmp (cmd, "probe") == 0) {
    r = ops->probe (dev);
    if (r < 0)
      die ("probe", r);
    printf ("%d\n", r);
    gfs_dev_free (dev);
    return 0;
  }
  r = ops->open (dev, &fs);
  if (r < 0)
    die ("open", r);

  if (strcmp (cmd, "info") == 0) {
    struct gfs_fsinfo in;
    r = ops->info (fs, &in);
    if (r < 0)
      die ("info", r);
    printf ("type=%s\nlabel=%s\nuuid=%s\nversion=%s\nblock_size=%" PRIu64 "\n",
            in.type, in.label, in.uuid, in.version, in.block_size);
  }
  else if (strcmp (cmd, "statfs") == 0) {
    struct gfs_statfs s;
    r = ops->statfs (fs, &s);
    if (r < 0)
      die ("statfs", r);
    printf ("block_size=%" PRIu64 "\nblocks=%" PRIu64 "\nbfree=%" PRIu64 "\nbavail=%" PRIu64
            "\nfiles=%" PRIu64 "\nffree=%" PRIu64 "\n",
            s.block_size, s.blocks, s.bfree, s.bavail, s.files, s.ffree);
  }
  else if (strcmp (cmd, "tree") == 0) {
    uint64_t stack[MAX_DEPTH];
    walk (ops->root_ino (fs), "", stack, 0);
  }
  else if (argc >= 5 && strcmp (cmd, "stat") == 0) {
    struct gfs_stat st;
    r = ops->getattr (fs, resolve (argv[4]), &st);
    if (r < 0)
      die (argv[4], r);
    printf ("ino=%" PRIu64 "\n", st.ino);
    printf ("mode=%04o\ntype=%c\nnlink=%" PRIu32 "\nuid=%" PRIu32 "\ngid=%" PRIu32
            "\nsize=%" PRIu64 "\nblocks=%" PRIu64 "\natime=%" PRId64 "\nmtime=%" PRId64
            "\nctime=%" PRId64 "\n", st.mode & 07777, type_char (st.mode), st.nlink,
            st.uid, st.gid, st.size, st.blocks, st.atime, st.mtime, st.ctime);
  }
  else if (argc >= 5 && strcmp (cmd, "cat") == 0) {
    static char buf[1 << 16];
    uint64_t ino = resolve (argv[4]), off = 0;
    ssize_t n;
    while ((n = ops->read (fs, ino, buf, sizeof buf, off)) > 0) {
      fwrite (buf, 1, (size_t) n, stdout);
      off += (uint64_t) n;
    }
    if (n < 0)
      die (argv[4], (int) n);
  }
  else if (argc >= 5 && strcmp (cmd, "xattr") == 0) {
    if (!ops->listxattr) {
      fprintf (stderr, "gfs-fs-walk: %s has no extended attributes\n", ops->name);
      return 1;
    }
    r = ops->listxattr (fs, resolve (argv[4]), print_xattr, NULL);
    if (r < 0)
      die (argv[4], r);
  }
  else if (argc >= 5 && strcmp (cmd, "readlink") == 0) {
    char target[4096];
    r = ops->readlink (fs, resolve (argv[4]), target, sizeof target);
    if (r < 0)
      die (argv[4], r);
    printf ("%s\n", target);
  }
  else {
    fprintf (stderr, "gfs-fs-walk: bad command %s\n", cmd);
    return 2;
  }
  ops->close (fs);
  gfs_dev_free (dev);
  return 0;
}
