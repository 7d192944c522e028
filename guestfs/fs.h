/* guestfs: read-only guest filesystem drivers.
 *
 * A struct gfs_dev is a byte-addressed view of part of a disk (a whole disk,
 * a partition, an LVM logical volume).  A filesystem driver (ext4, xfs, vfat,
 * ...) is one const struct gfs_fs_ops; it opens a gfs_dev and answers inode
 * questions.  Path walking, symlink resolution, "..", loop limits and the
 * commands (ls, cat, df, inspect) live in the guestfs core, not in drivers.
 *
 * Everything read from a device is untrusted: drivers bounds-check every
 * field, cap every allocation, and refuse cycles (a directory that contains
 * itself, an extent tree deeper than its header says) with a clear error
 * through vdk's error buffer (gfs_err), never a crash or a hang.
 */
#ifndef VDK_GUESTFS_FS_H
#define VDK_GUESTFS_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vdk/disk.h"

/* ---- devices ------------------------------------------------------------ */
struct gfs_dev {
  char *name;              /* "/dev/sda1", "/dev/VolGroup00/root" (libguestfs naming) */
  uint64_t size;           /* bytes */
  /* Read LEN bytes at OFF (OFF + LEN <= size is checked by gfs_dev_pread). */
  int (*pread) (struct gfs_dev *d, void *buf, size_t len, uint64_t off);
  void (*close) (struct gfs_dev *d);
  void *priv;
};

/* Range-checked read: fails with a message naming the device when the range
 * is beyond its end. */
int gfs_dev_pread (struct gfs_dev *d, void *buf, size_t len, uint64_t off);
/* A device for [off, off+size) of an opened disk (whole disk: off 0). */
int gfs_dev_from_disk (struct disk *disk, const char *name, uint64_t off, uint64_t size,
                       struct gfs_dev **out);
void gfs_dev_free (struct gfs_dev *d);

/* Record an error message (vdk's per-thread buffer, read with
 * disk_last_error()) and return -ERRNUM. */
int gfs_err (int errnum, const char *fmt, ...) __attribute__((format (printf, 2, 3)));

/* ---- filesystems -------------------------------------------------------- */
struct gfs_stat {
  uint64_t ino;
  uint32_t mode;           /* S_IFMT bits + permissions, as stat(2) */
  uint32_t nlink;
  uint32_t uid, gid;
  uint64_t size;
  uint64_t blocks;         /* 512-byte units */
  int64_t atime, mtime, ctime;
};

struct gfs_dirent {
  uint64_t ino;
  uint8_t type;            /* DT_REG, DT_DIR, DT_LNK, ... (DT_UNKNOWN allowed) */
  char name[256];          /* NUL-terminated; drivers reject names with '/' or NUL */
};

struct gfs_statfs {
  uint64_t block_size;
  uint64_t blocks, bfree, bavail;
  uint64_t files, ffree;
};

struct gfs_fsinfo {
  char type[16];           /* "ext4", "xfs", "vfat" */
  char label[256];
  char uuid[64];           /* canonical text form, as blkid prints it */
  char version[32];        /* optional ("1.0", "FAT32") */
  uint64_t block_size;
};

struct gfs_fs_ops;

/* Every opened filesystem starts with this header; drivers embed it first
 * in their own state struct. */
struct gfs_fs {
  const struct gfs_fs_ops *ops;
  struct gfs_dev *dev;
};

struct gfs_fs_ops {
  const char *name;        /* "ext4" (ext2/ext3 are reported by info()) */
  /* Is this device mine?  1 yes, 0 no, <0 error.  Cheap: superblock magic. */
  int (*probe) (struct gfs_dev *dev);
  int (*open) (struct gfs_dev *dev, struct gfs_fs **out);
  void (*close) (struct gfs_fs *fs);
  uint64_t (*root_ino) (struct gfs_fs *fs);
  /* -ENOENT when absent. */
  int (*lookup) (struct gfs_fs *fs, uint64_t dir, const char *name, uint64_t *ino);
  int (*getattr) (struct gfs_fs *fs, uint64_t ino, struct gfs_stat *st);
  /* Calls CB for each entry except "." and ".."; CB returning non-zero stops
   * (that value is returned). */
  int (*readdir) (struct gfs_fs *fs, uint64_t dir,
                  int (*cb) (void *opaque, const struct gfs_dirent *e), void *opaque);
  /* Bytes read (short at end of file), or -errno. */
  ssize_t (*read) (struct gfs_fs *fs, uint64_t ino, void *buf, size_t len, uint64_t off);
  /* Target of a symlink, NUL-terminated, or -errno (-ENAMETOOLONG if > len-1). */
  int (*readlink) (struct gfs_fs *fs, uint64_t ino, char *buf, size_t len);
  int (*statfs) (struct gfs_fs *fs, struct gfs_statfs *st);
  int (*info) (struct gfs_fs *fs, struct gfs_fsinfo *info);
  /* Optional: extended attributes ("user.x", "security.selinux"); may be NULL. */
  int (*listxattr) (struct gfs_fs *fs, uint64_t ino,
                    int (*cb) (void *opaque, const char *name, const void *value,
                               size_t len), void *opaque);
};

/* The registry of filesystem drivers (guestfs/registry.c), NULL-terminated. */
extern const struct gfs_fs_ops *const gfs_filesystems[];

#endif
