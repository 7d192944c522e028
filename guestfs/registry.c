/* The filesystem drivers guestfs can open, tried in this order. */
#include <stddef.h>

#include "guestfs/fs.h"

extern const struct gfs_fs_ops gfs_fs_ext4;
#ifdef HAVE_GFS_XFS
extern const struct gfs_fs_ops gfs_fs_xfs;
#endif
#ifdef HAVE_GFS_VFAT
extern const struct gfs_fs_ops gfs_fs_vfat;
#endif

const struct gfs_fs_ops *const gfs_filesystems[] = {
  &gfs_fs_ext4,
#ifdef HAVE_GFS_XFS
  &gfs_fs_xfs,
#endif
#ifdef HAVE_GFS_VFAT
  &gfs_fs_vfat,
#endif
  NULL,
};
