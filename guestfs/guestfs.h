/* guestfs core: a session over one or more disks, the devices found on them
 * (partitions, LVM logical volumes), what each device holds, and generic
 * path walking over the filesystem drivers of fs.h.
 *
 * Library code: no printing, no exit.  Errors go through gfs_err (vdk's
 * per-thread error buffer); non-fatal problems through gfs_warn. */
#ifndef VDK_GUESTFS_H
#define VDK_GUESTFS_H

#include "guestfs/fs.h"

/* Caps against hostile images. */
#define GFS_MAX_DISKS      26
#define GFS_MAX_DEVICES    1024
#define GFS_MAX_SYMLINKS   40       /* symlinks followed in one path walk */
#define GFS_MAX_PATH       4096
#define GFS_MAX_FILE_READ  (256u << 20) /* whole-file reads (gfs_read_file) */

/* Non-fatal messages ("GPT primary header damaged, using the backup"):
 * collected per thread; gfs_take_warnings returns them newline-separated
 * (or NULL) and clears the list. */
void gfs_warn (const char *fmt, ...) __attribute__((format (printf, 1, 2)));
char *gfs_take_warnings (void);

/* A device with a custom reader (partition of a device, LV...). */
struct gfs_dev *gfs_dev_new (const char *name, uint64_t size,
                             int (*pread) (struct gfs_dev *, void *, size_t, uint64_t),
                             void (*close) (struct gfs_dev *), void *priv);
/* [off, off+size) of another device (which must outlive it). */
int gfs_dev_slice (struct gfs_dev *parent, const char *name, uint64_t off,
                   uint64_t size, struct gfs_dev **out);

enum gfs_kind { GFS_KIND_DEVICE, GFS_KIND_PARTITION, GFS_KIND_LV };

/* One block device of the guest, as libguestfs would name it. */
struct gfs_device {
  struct gfs_dev *dev;
  enum gfs_kind kind;
  char parent[256];        /* "/dev/sda" for a partition, "/dev/VG" for an LV */
  int partnum;             /* 1.. for partitions */
  char mbr_id[8];          /* "83" for MBR partitions, "" otherwise */
  char gpt_type[40];       /* GPT partition type GUID, "" otherwise */
  char part_name[80];      /* GPT partition name (ASCII part) */
  char part_uuid[40];      /* PARTUUID as blkid prints it: GPT unique GUID
                            * (lower case) or MBR "disksig-NN" */
  char lv_uuid[40];        /* LVM id of an LV (dashed), "" otherwise */
  bool is_extended;        /* MBR extended partition container */
  /* Content (blkid-like): "ext4", "swap", "crypto_LUKS", "LVM2_member", ""
   * for unknown. */
  char vfs_type[32];
  char label[256];
  char uuid[64];
  char version[32];
  const struct gfs_fs_ops *ops;   /* a driver that can open it, or NULL */
  struct gfs_fs *fs;              /* opened on demand (gfs_device_fs) */
  char *open_error;               /* why opening failed (kept, not retried) */
};

struct gfs_vg {
  char name[128];
  char uuid[64];
  uint64_t size;           /* extent_size * extent count of its PVs */
  char **pvs;              /* device names */
  uint64_t *pv_sizes;      /* bytes in extents of each (LVM's pv_size) */
  size_t n_pvs;
};

struct gfs_mount {
  char *mountpoint;        /* "/", "/boot" */
  struct gfs_device *dev;
};

struct gfs_session {
  struct disk **disks;
  size_t n_disks;
  struct gfs_device **devs;
  size_t n_devs;
  struct gfs_vg *vgs;
  size_t n_vgs;
  void *lvm;               /* lvm2 scan state (guestfs/lvm2) */
  /* Mount table used by path walking (set by inspection or by the caller);
   * sorted longest mountpoint first. */
  struct gfs_mount *mounts;
  size_t n_mounts;
};

int gfs_session_new (struct gfs_session **out);
void gfs_session_free (struct gfs_session *s);
/* Open SPEC read-only through libdisk (FORMAT may be NULL to probe). */
int gfs_add_disk (struct gfs_session *s, const char *spec, const char *format);
/* Find partitions, LVM volumes and identify what every device holds.
 * Damaged parts give warnings, not failures. */
int gfs_scan (struct gfs_session *s);
/* The same for whole-disk devices added with gfs_session_add_device (kind
 * GFS_KIND_DEVICE) from index FIRST on: a disk that is not a libdisk image
 * (fuzzers, tests). */
int gfs_scan_devices (struct gfs_session *s, size_t first);
struct gfs_device *gfs_find_device (struct gfs_session *s, const char *name);
struct gfs_device *gfs_find_by_uuid (struct gfs_session *s, const char *uuid);
struct gfs_device *gfs_find_by_label (struct gfs_session *s, const char *label);
/* Add a device to the session (takes DEV). */
int gfs_session_add_device (struct gfs_session *s, struct gfs_dev *dev, enum gfs_kind kind,
                            struct gfs_device **out);

/* The opened filesystem of a device (opened once). */
int gfs_device_fs (struct gfs_device *d, struct gfs_fs **out);

int gfs_mount_add (struct gfs_session *s, const char *mountpoint, struct gfs_device *d);

/* ---- path walking ---- */
/* Resolve PATH (absolute) in FS alone (no mount table).  With FOLLOW the
 * last component is followed if it is a symlink. */
int gfs_resolve_fs (struct gfs_fs *fs, const char *path, bool follow,
                    uint64_t *ino);
/* Resolve PATH through the session's mount table. */
int gfs_resolve (struct gfs_session *s, const char *path, bool follow,
                 struct gfs_fs **fs, uint64_t *ino);
/* Read a whole regular file (at most MAX bytes, else -EFBIG); *buf is
 * NUL-terminated, free it. */
int gfs_read_file (struct gfs_fs *fs, uint64_t ino, size_t max, char **buf, size_t *len);

/* Signatures of things vdk recognises but does not open (guestfs/probe.c):
 * fills d->vfs_type/label/uuid when known.  Returns 1 if recognised. */
int gfs_probe_signatures (struct gfs_device *d);

/* Partition tables (guestfs/part.c): adds partitions of disk device D. */
int gfs_scan_partitions (struct gfs_session *s, struct gfs_device *d, int disk_index);

/* LVM (guestfs/lvm2): scan PVs among the session's devices, add LVs. */
int gfs_scan_lvm (struct gfs_session *s);

/* Helpers */
static inline uint16_t gfs_le16 (const void *p) { const uint8_t *b = p; return b[0] | b[1] << 8; }
static inline uint32_t gfs_le32 (const void *p) { const uint8_t *b = p; return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t) b[3] << 24; }
static inline uint64_t gfs_le64 (const void *p) { return gfs_le32 (p) | (uint64_t) gfs_le32 ((const uint8_t *) p + 4) << 32; }
static inline uint16_t gfs_be16 (const void *p) { const uint8_t *b = p; return b[1] | b[0] << 8; }
static inline uint32_t gfs_be32 (const void *p) { const uint8_t *b = p; return b[3] | b[2] << 8 | b[1] << 16 | (uint32_t) b[0] << 24; }
void gfs_uuid_str (const uint8_t u[16], char out[37]);      /* big-endian (ext4, xfs) */
void gfs_guid_str (const uint8_t u[16], char out[37]);      /* mixed-endian (GPT) */
uint32_t gfs_crc32 (uint32_t crc, const void *buf, size_t len); /* zlib-style crc32 */
/* Replace invalid UTF-8 and control characters in a guest-supplied string
 * with '?', in place (NULL is fine), so json/xml output stays valid. */
void gfs_utf8_fix (char *s);

#endif
