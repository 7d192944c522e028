/* Internal interface of the pools library: one const pool_type_ops per
 * pool type (pools/<type>/), and helpers shared by the types. */
#ifndef VDK_POOL_INT_H
#define VDK_POOL_INT_H

#include <stdio.h>

#include "pool.h"

/* Callbacks get a pool whose definition was validated.  The framework holds
 * the state dir's exclusive lock around everything that changes state, and
 * checks the pool's state first (build/delete: inactive; vol_*: active). */
struct pool_type_ops {
  const char *name;                    /* "dir" */
  bool needs_device;                   /* <source><device> is required */
  const char *default_source_format;   /* NULL: no source format */
  const char *const *source_formats;   /* NULL-terminated, or NULL */
  /* Extra checks of a definition (source format...). */
  int (*check) (const struct pool_def *d);
  /* Make the pool's storage (mkdir, mkfs); refuses to destroy data unless
   * POOL_BUILD_OVERWRITE. */
  int (*build) (struct pool *p, unsigned flags);
  int (*start) (struct pool *p);
  int (*stop) (struct pool *p);        /* never deletes data */
  int (*delete) (struct pool *p);      /* refuses a non-empty pool */
  int (*info) (struct pool *p, struct pool_info *info);
  /* Every volume (sorted by the framework). */
  int (*refresh) (struct pool *p, struct pool_vol ***out, size_t *n);
  int (*vol_lookup) (struct pool *p, const char *name, struct pool_vol **out);
  /* Where volume NAME lives (it may not exist yet): a malloc'd path/spec. */
  char *(*vol_path) (struct pool *p, const char *name);
  int (*vol_create) (struct pool *p, const struct vol_def *d);
  int (*vol_delete) (struct pool *p, struct pool_vol *v);
  int (*vol_resize) (struct pool *p, struct pool_vol *v, uint64_t capacity, unsigned flags);
  int (*vol_wipe) (struct pool *p, struct pool_vol *v);
  /* New callbacks go here, at the end. */
  /* Refuse (EBUSY) when V is open for writing; NULL: open V's path with
   * libdisk (pool_vol_check_not_in_use). */
  int (*vol_check_not_in_use) (struct pool *p, struct pool_vol *v);
  /* Can V's path be opened for data (vol: specs, copies)?  NULL: yes. */
  int (*vol_check_io) (struct pool *p, const struct pool_vol *v);
  /* Pools of this type share their target directory (disk: /dev). */
  bool shared_target;
  /* No <target> (rbd): volumes are found by the key SOURCE-NAME/VOLUME. */
  bool no_target;
  /* vol-delete with flags (POOL_VOL_DELETE_*); NULL: vol_delete. */
  int (*vol_delete_flags) (struct pool *p, struct pool_vol *v, unsigned flags);
  /* Make D from SRC within the pool without copying data (rbd: a layered
   * clone); 1 when SRC is not in P (the framework copies), 0, -errno. */
  int (*vol_clone) (struct pool *p, const struct vol_def *d, const struct pool_vol *src);
  /* find-storage-pool-sources(-as): libvirt's <sources> XML (malloc'd) of
   * what this type finds.  HOST and PORT (may be NULL) come from the -as
   * arguments or the spec's <host name= port=>; SRCSPEC_XML (may be NULL)
   * is the whole <source> document (-as arguments are turned into one as
   * virsh does: <host name= port=/>, <initiator><iqn name=/></initiator>).
   * NULL: "does not support source discovery". */
  int (*find_sources) (const char *host, const char *port, const char *srcspec_xml,
                       char **xml_out);
};

extern const struct pool_type_ops pool_type_dir;
extern const struct pool_type_ops pool_type_fs;
extern const struct pool_type_ops pool_type_logical;
extern const struct pool_type_ops pool_type_disk;
#ifdef VDK_HAVE_RBD
extern const struct pool_type_ops pool_type_rbd;
#endif
extern const struct pool_type_ops pool_type_netfs;
extern const struct pool_type_ops pool_type_iscsi;   /* with libiscsi */
const struct pool_type_ops *pool_find_type (const char *name);

/* ---- helpers (util.c) ----------------------------------------------------- */
/* Run ARGV (no shell), capturing its output (up to 64 KiB).  Returns its exit
 * status (>= 0), or -errno if it could not run.  *OUTPUT (may be NULL) is
 * malloc'd. */
int pool_run (const char *const *argv, char **output);
/* Run ARGV and fail with "WHAT: <program's last output line>" on a non-zero
 * status. */
int pool_run_checked (const char *what, const char *const *argv);
/* Atomically replace PATH with DATA (temp file + fsync + rename). */
int pool_write_file (const char *path, const char *data, mode_t mode);
/* Read a whole (small) file, at most MAX bytes. */
int pool_read_file (const char *path, size_t max, char **out, size_t *len);
int pool_mkdir_p (const char *path, mode_t mode);
bool pool_dir_is_empty (const char *path);
/* Is PATH a mount point (from /proc/self/mountinfo)?  *SOURCE (may be NULL)
 * gets the mounted source. */
bool pool_is_mounted (const char *path, char **source);
/* A random RFC 4122 version 4 UUID. */
int pool_uuid_generate (char out[37]);
bool pool_uuid_valid (const char *s);
/* Sniff the first bytes of PATH for a filesystem, a partition table or
 * another signature that building over it would destroy: returns 1 and
 * the name in WHAT, 0 if none found, -errno. */
int pool_sniff_signature (const char *path, char *what, size_t whatlen);

/* ---- file volumes (filevol.c): dir and fs pools ----------------------------- */
int pool_file_refresh (struct pool *p, struct pool_vol ***out, size_t *n);
int pool_file_vol_lookup (struct pool *p, const char *name, struct pool_vol **out);
char *pool_file_vol_path (struct pool *p, const char *name);
int pool_file_vol_create (struct pool *p, const struct vol_def *d);
int pool_file_vol_delete (struct pool *p, struct pool_vol *v);
int pool_file_vol_resize (struct pool *p, struct pool_vol *v, uint64_t capacity, unsigned flags);
int pool_file_vol_wipe (struct pool *p, struct pool_vol *v);
int pool_file_info (struct pool *p, struct pool_info *info);
/* Fill a pool_vol from the file at PATH (format probed). */
int pool_file_vol_stat (const char *name, const char *path, struct pool_vol **out);
/* V's format, capacity and backing file probed from PATH (NULL: raw). */
void pool_vol_probe (struct pool_vol *v, const char *path);
/* Is the image at PATH open for writing by someone (OFD write lock)? */
int pool_vol_check_not_in_use (const char *name, const char *path);

/* Target directories (dir/dir.c), shared with fs. */
mode_t pool_target_mode (const struct pool_def *d);
int pool_build_target (struct pool *p);
int pool_check_target_dir (struct pool *p);
int pool_delete_target (struct pool *p);

/* Before writing all of V (vol-wipe): P active, V not in use, V's path
 * opens for data. */
int pool_vol_wipe_check (struct pool *p, struct pool_vol *v);
struct disk;
/* disk_open V's path; "volume 'V' is in use: ..." when it is locked. */
int pool_vol_open (const struct pool_vol *v, unsigned flags, struct disk **out);
/* Copy the guest contents of SRC into DST (both open), extent by extent. */
int pool_copy_disk (struct disk *src, struct disk *dst, uint64_t src_off, uint64_t dst_off,
                    uint64_t len);

/* ---- the state dir for the library's other objects (secret.c) ---------------- */
int pool_ctx_need_exclusive (const struct pool_ctx *c);
/* run/ belongs to this boot (else its contents are stale: ignore them). */
bool pool_ctx_run_valid (const struct pool_ctx *c);
/* The context open in this process (the innermost), or NULL. */
struct pool_ctx *pool_ctx_current (void);

/* ---- source discovery helpers (sources.c) ---------------------------------------- */
struct pool_src_dev {
  char *path;
  int fd;                      /* open read-only */
  uint64_t size;
  uint32_t ss;                 /* logical sector size */
};
/* The devices named by SRCSPEC_XML's <device path=.../> (block devices or
 * image files; one that cannot be opened is an error), or, when it names
 * none, every block device of the host with a size (/sys/class/block, sorted
 * by name; partitions left out with SKIP_PARTITIONS). */
int pool_src_devices (const char *srcspec_xml, bool skip_partitions, struct pool_src_dev **out,
                      size_t *n);
void pool_src_devices_free (struct pool_src_dev *v, size_t n);
/* "<sources>\nITEMS</sources>\n" (malloc'd); ITEMS are <source> elements
 * indented by two spaces, as libvirt prints them. */
char *pool_sources_xml (const char *items);

/* ---- XML helpers (xml.c) for the library's other documents --------------------- */
struct _xmlDoc;
struct _xmlNode;
/* Parse untrusted XML (capped, no network, no entities) whose root must be
 * ROOT_NAME; NULL with the error set.  Free with xmlFreeDoc. */
struct _xmlDoc *pool_xml_parse (const char *xml, size_t len, const char *src,
                                const char *root_name);
/* The first child element NAME of N (N may be NULL). */
struct _xmlNode *pool_xml_child (struct _xmlNode *n, const char *name);
/* N's trimmed text / attribute NAME (malloc'd), or NULL. */
char *pool_xml_text (struct _xmlNode *n);
char *pool_xml_attr (struct _xmlNode *n, const char *name);
/* S escaped for XML text and attribute values (malloc'd), or NULL. */
char *pool_xml_escape (const char *s);

#endif
