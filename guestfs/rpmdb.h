/* rpm package database (rpmdb.sqlite) reader. */
#ifndef VDK_GUESTFS_RPMDB_H
#define VDK_GUESTFS_RPMDB_H

#include <stddef.h>
#include <stdint.h>

struct gfs_rpm_pkg {
  const char *name, *epoch, *version, *release, *arch, *summary;  /* may be NULL except name/version/epoch */
};

/* Call CB for each package of the SQLite rpm database D[0..LEN).  CB
 * returning non-zero stops the walk.  WHAT names the file for errors. */
int gfs_rpmdb_sqlite (const char *what, const uint8_t *d, size_t len,
                      int (*cb) (void *opaque, const struct gfs_rpm_pkg *p), void *opaque);

#endif
