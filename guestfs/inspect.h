/* Guest inspection (like virt-inspector): find operating system roots and
 * read what describes them.  Unreadable parts are recorded in the OS's
 * problem list; everything else is still reported. */
#ifndef VDK_GUESTFS_INSPECT_H
#define VDK_GUESTFS_INSPECT_H

#include "guestfs/guestfs.h"

#define GFS_MAX_APPS 200000

struct gfs_app {
  char *name, *epoch, *version, *release, *arch, *summary;
  char *url, *description;              /* NULL when absent */
};
struct gfs_kernel {
  char *version, *vmlinuz, *initrd;     /* paths in the guest, initrd may be NULL */
};
struct gfs_bootentry {
  char *file, *title, *version, *kernel, *initrd, *options;
};
struct gfs_fstab_entry {
  char *spec, *mountpoint, *vfstype;
  char *device;                         /* resolved device name, or NULL */
};
struct gfs_os {
  struct gfs_device *root;
  char type[16];                        /* "linux" */
  char distro[64];
  char product_name[256];
  char product_variant[128];
  int major, minor;
  char osinfo[64];
  char hostname[256];
  char arch[32];
  char package_format[16];
  char package_manager[16];
  struct gfs_fstab_entry *fstab;
  size_t n_fstab;
  struct gfs_app *apps;
  size_t n_apps;
  struct gfs_kernel *kernels;
  size_t n_kernels;
  struct gfs_bootentry *boot;
  size_t n_boot;
  char **problems;                      /* unreadable parts */
  size_t n_problems;
};

int gfs_inspect (struct gfs_session *s, struct gfs_os **oses, size_t *n);
void gfs_os_free (struct gfs_os *oses, size_t n);
/* Is device D part of OS (its root, or named by its fstab, swap included)? */
bool gfs_os_has_device (const struct gfs_os *os, const struct gfs_device *d);
/* Set the session's mount table to OS's root and fstab mountpoints. */
int gfs_os_mount (struct gfs_session *s, const struct gfs_os *os);
void gfs_mounts_clear (struct gfs_session *s);

#endif
