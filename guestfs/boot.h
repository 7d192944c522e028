/* What a Linux guest would boot: its kernel, initrd(s) and command line,
 * from BLS entries, grub.cfg or the newest /boot/vmlinuz-* (in that order),
 * for booting it without firmware (vdk run IMAGE) and for inspection. */
#ifndef VDK_GUESTFS_BOOT_H
#define VDK_GUESTFS_BOOT_H

#include "guestfs/inspect.h"

#define GFS_BOOT_MAX_INITRDS 16

enum gfs_boot_source { GFS_BOOT_BLS, GFS_BOOT_GRUB, GFS_BOOT_DIR };

struct gfs_boot {
  enum gfs_boot_source source;
  char *where;          /* the BLS entry file, the grub.cfg, or "/boot" */
  char *entry;          /* BLS id, grub menu index ("2", "1>0"), kernel version */
  char *title;          /* may be NULL */
  char *kernel;         /* path in the guest (through the session's mounts); the
                         * paths are raw bytes: fix a copy before printing */
  char *initrds[GFS_BOOT_MAX_INITRDS];
  size_t n_initrds;
  char *cmdline;        /* as the boot loader would pass it (never NULL) */
};

/* Find what OS boots.  ENTRY NULL is the default entry; else a number
 * (0 is the first entry in boot menu order) or an entry's title or id.
 * Leaves the session's mount table set to OS (for gfs_boot_read). */
int gfs_boot_find (struct gfs_session *s, const struct gfs_os *os, const char *entry,
                   struct gfs_boot *out);
void gfs_boot_free (struct gfs_boot *b);
const char *gfs_boot_source_name (enum gfs_boot_source src);
/* Read a file of the guest through the mount table (at most MAX bytes). */
int gfs_boot_read (struct gfs_session *s, const char *path, size_t max, char **buf,
                   size_t *len);

#endif
