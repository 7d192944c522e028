/* libdisk: the public API of vdk's disk library.
 *
 * Conventions (see docs/libdisk.md):
 *  - Every function returns >= 0 on success or a negative errno on failure.
 *  - On failure a human message naming the image and the problem is left in a
 *    per-thread buffer: disk_last_error() / disk_last_errno().
 *  - The library never calls exit() and never prints.
 *  - A struct disk may be used from several threads for the synchronous calls;
 *    a struct disk_queue belongs to one thread.
 */
#ifndef VDK_DISK_H
#define VDK_DISK_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DISK_API __attribute__((visibility ("default")))

/* ---- errors ---------------------------------------------------------- */
DISK_API const char *disk_last_error (void);
DISK_API int disk_last_errno (void);
DISK_API const char *disk_version (void);
/* Non-fatal warnings collected in this thread since the last call (one per
 * line, each ending in a newline), or NULL if none; clears them.  The string
 * stays valid until the next call from the same thread. */
DISK_API const char *disk_take_warnings (void);
/* Record an error message in the per-thread buffer (for code built on
 * libdisk, such as guest filesystem readers, that reports through the same
 * disk_last_error() channel).  Returns -ERRNUM. */
DISK_API int disk_set_error (int errnum, const char *fmt, ...)
  __attribute__((format (printf, 2, 3)));

/* ---- opening --------------------------------------------------------- */
struct disk;

/* disk_open flags */
#define DISK_OPEN_RDWR          0x01u /* open for writing (takes the write lock) */
#define DISK_OPEN_FORCE_SHARE   0x02u /* -U: read-only, no lock */
#define DISK_OPEN_NO_BACKING    0x04u /* do not open backing files */
#define DISK_OPEN_NO_LOCK       0x08u /* do not take OFD locks */
#define DISK_OPEN_PROBE_BACKING 0x10u /* internal use: opening a backing file */
#define DISK_OPEN_BACKING_NO_LOCK 0x20u /* open backing files without locks (commit) */

/* Open an image by spec: a path, a URL ("file:///x", later "nfs://..."),
 * "json:{...}" or a key=value list ("driver=qcow2,file.filename=x.qcow2").
 * FORMAT may be NULL to probe (safely: see docs/libdisk.md).  OPTIONS is an
 * optional key=value list applied to the top node ("cache=none", ...). */
DISK_API int disk_open (struct disk **out, const char *spec, const char *format,
                        unsigned flags, const char *options);
DISK_API int disk_close (struct disk *d);

DISK_API int64_t disk_get_size (struct disk *d);
DISK_API const char *disk_get_format (struct disk *d);
DISK_API const char *disk_get_filename (struct disk *d);
/* Allocation unit of the top image (qcow2 cluster, vmdk grain...), 0 if none. */
DISK_API uint64_t disk_get_cluster_size (struct disk *d);
/* Does the image read as all zeroes right after disk_create (no backing,
 * sparse file)?  convert uses this to skip writing zeroes. */
DISK_API bool disk_is_zero_initialized (struct disk *d);
/* Remove an image that disk_create made (a failed convert's output),
 * with the extra files of FORMAT (extents...). */
DISK_API int disk_remove (const char *spec, const char *format);
/* Size on the host of the top image's file(s), or -errno. */
DISK_API int64_t disk_get_allocated (struct disk *d);

/* ---- synchronous I/O ------------------------------------------------- */
#define DISK_FUA          0x01u /* write: force unit access */
#define DISK_MAY_UNMAP    0x02u /* write_zeroes: may deallocate */
#define DISK_NO_FALLBACK  0x04u /* write_zeroes: fail with -ENOTSUP rather than write zeroes */
#define DISK_COMPRESSED   0x08u /* pwrite: store compressed (whole clusters; formats that can) */

DISK_API int disk_pread (struct disk *d, void *buf, size_t count, uint64_t offset);
DISK_API int disk_pwrite (struct disk *d, const void *buf, size_t count,
                          uint64_t offset, unsigned flags);
DISK_API int disk_flush (struct disk *d);
DISK_API int disk_discard (struct disk *d, uint64_t offset, uint64_t count);
DISK_API int disk_write_zeroes (struct disk *d, uint64_t offset, uint64_t count,
                                unsigned flags);

/* Copy COUNT bytes at SRC_OFF of SRC to DST_OFF of DST inside the kernel
 * (copy_file_range: one copy through the page cache, or shared blocks on
 * filesystems with reflinks), as far as the source range maps to a local
 * file and the target's to a file on the same filesystem, both without
 * O_DIRECT.  Returns the number of bytes copied from the start (0 when the
 * start cannot be copied that way: the source range is zeroes, compressed,
 * on another filesystem or protocol...; read and write it instead), or
 * -errno.  The data is copied as it is: no zero detection.  FLAGS: 0. */
DISK_API int64_t disk_copy_range (struct disk *src, uint64_t src_off, struct disk *dst,
                                  uint64_t dst_off, uint64_t count, unsigned flags);

/* Change the virtual size.  PREALLOC: NULL/"off", "metadata", "falloc", "full".
 * Shrinking needs DISK_TRUNCATE_SHRINK. */
#define DISK_TRUNCATE_SHRINK 0x01u
DISK_API int disk_truncate (struct disk *d, uint64_t size, const char *prealloc,
                            unsigned flags);

/* ---- backing chains ------------------------------------------------------ */
/* Record BACKING (NULL or "" for none) with format BACKING_FMT (may be NULL)
 * as the image's backing file.  Only the name changes (rebase -u); the
 * already-open chain is not reopened. */
DISK_API int disk_set_backing (struct disk *d, const char *backing, const char *backing_fmt);
/* Deallocate everything in the top image so reads fall through to its
 * backing file (commit empties the image it committed). */
DISK_API int disk_make_empty (struct disk *d);
/* Length of the open backing chain (1 = no backing file) and the filename of
 * layer DEPTH (0 = top), or NULL. */
DISK_API int disk_chain_length (struct disk *d);
DISK_API const char *disk_chain_filename (struct disk *d, int depth);
DISK_API const char *disk_chain_format (struct disk *d, int depth);
DISK_API uint64_t disk_chain_size (struct disk *d, int depth);

/* ---- block status / map ---------------------------------------------- */
#define DISK_STATUS_DATA       0x01u /* reads return data (may still be zeroes) */
#define DISK_STATUS_ZERO       0x02u /* reads return zeroes */
#define DISK_STATUS_ALLOCATED  0x04u /* allocated in the top image (not from backing) */
#define DISK_STATUS_COMPRESSED 0x08u
#define DISK_STATUS_OFFSET     0x10u /* host_offset and filename are valid */

struct disk_status {
  uint64_t offset;       /* == the offset asked for */
  uint64_t length;       /* > 0, may be shorter than asked */
  unsigned flags;        /* DISK_STATUS_* */
  int depth;             /* 0 = top image, 1 = its backing file, ...; for
                          * unallocated ranges: the chain length */
  uint64_t host_offset;  /* where the data is, in filename */
  const char *filename;  /* valid until the disk is closed */
};

/* Describe the range starting at OFFSET (at most COUNT bytes).  With
 * WANT_DEPTH the chain is walked to find which layer holds the data. */
#define DISK_STATUS_WANT_DEPTH 0x01u
DISK_API int disk_block_status (struct disk *d, uint64_t offset, uint64_t count,
                                unsigned want, struct disk_status *st);

/* ---- creating -------------------------------------------------------- */
/* Create an image.  SIZE may be 0 with a backing file (size is taken from it).
 * OPTIONS: format options ("cluster_size=64k,preallocation=metadata"), as
 * qemu-img create -o.  BACKING / BACKING_FMT may be NULL.
 * With DISK_CREATE_NO_BACKING_CHECK the backing file is not opened (-u). */
#define DISK_CREATE_NO_BACKING_CHECK 0x01u
#define DISK_CREATE_QUIET            0x02u
DISK_API int disk_create (const char *spec, const char *format, uint64_t size,
                          const char *options, const char *backing,
                          const char *backing_fmt, unsigned flags);

/* How many host bytes an image of FORMAT (with create OPTIONS) needs: for a
 * new image of SIZE bytes, or (SRC non-NULL) to hold the data of SRC.
 * -ENOTSUP if the format cannot tell. */
DISK_API int disk_measure (const char *format, const char *options, uint64_t size,
                           struct disk *src, uint64_t *required, uint64_t *fully_allocated);
/* The same with everything qemu-img measure prints: HAS_BITMAPS when the
 * output format would keep the source's persistent dirty bitmaps (qcow2 v3
 * from a qcow2 v3 source), BITMAPS the bytes they need. */
struct disk_measure_result {
  uint64_t required, fully_allocated;
  bool has_bitmaps;
  uint64_t bitmaps;
};
DISK_API int disk_measure_ex (const char *format, const char *options, uint64_t size,
                              struct disk *src, struct disk_measure_result *res);

/* List the create options of FORMAT for "-o help": calls CB per option. */
DISK_API int disk_create_options (const char *format,
                                  void (*cb) (void *opaque, const char *name,
                                              const char *type, const char *help,
                                              const char *defval),
                                  void *opaque);

/* Names of formats / protocols, NULL-terminated, static. */
DISK_API const char *const *disk_format_names (void);
DISK_API const char *const *disk_protocol_names (void);

/* ---- information ----------------------------------------------------- */
enum disk_value_type { DISK_V_STRING, DISK_V_INT, DISK_V_BOOL };

/* One line of "Format specific information" */
struct disk_info_field {
  const char *json_key;   /* "lazy-refcounts" */
  const char *human;      /* "lazy refcounts" */
  enum disk_value_type type;
  const char *s;
  int64_t i;
  bool b;
  int indent;             /* nesting level for human output (0 = top) */
};

struct disk_snapshot {
  char id[128];
  char name[256];
  uint64_t vm_state_size;
  uint32_t date_sec, date_nsec;
  uint64_t vm_clock_nsec;
  uint32_t icount_valid;
  uint64_t icount;
};

struct disk_info {
  char *filename;
  char *format;
  uint64_t virtual_size;
  int64_t actual_size;        /* -1 if unknown */
  uint64_t cluster_size;      /* 0 if none */
  bool encrypted;
  bool dirty;
  char *backing_filename;     /* as recorded in the image */
  char *full_backing_filename;/* resolved */
  char *backing_format;
  char *data_file;            /* external data file (qcow2), or NULL */
  size_t n_fields;
  struct disk_info_field *fields; /* format specific */
  size_t n_snapshots;
  struct disk_snapshot *snapshots;
  struct disk_info *backing;  /* filled when asked for the chain */
};

#define DISK_INFO_CHAIN 0x01u
DISK_API int disk_get_info (struct disk *d, unsigned flags, struct disk_info **out);
DISK_API void disk_info_free (struct disk_info *info);

/* ---- maintenance: check, snapshots, amend ----------------------------- */
/* Result of disk_check (the counters of qemu-img check). */
struct disk_check_result {
  int64_t corruptions, leaks, check_errors;
  int64_t corruptions_fixed, leaks_fixed;
  int64_t image_end_offset;      /* 0 if unknown */
  int64_t total_clusters, allocated_clusters, fragmented_clusters, compressed_clusters;
};
#define DISK_CHECK_FIX_LEAKS  0x01u
#define DISK_CHECK_FIX_ERRORS 0x02u
/* Check the top image's metadata (open it with DISK_OPEN_RDWR to repair).
 * REPORT (may be NULL) gets one line per problem found.  Returns 0 when the
 * check ran (look at RES), -ENOTSUP if the format cannot be checked. */
DISK_API int disk_check (struct disk *d, unsigned fix, struct disk_check_result *res,
                         void (*report) (void *opaque, const char *msg), void *opaque);
/* Internal snapshots of the top image (open it with DISK_OPEN_RDWR). */
DISK_API int disk_snapshot_create (struct disk *d, const char *name);
DISK_API int disk_snapshot_apply (struct disk *d, const char *name_or_id);
DISK_API int disk_snapshot_delete (struct disk *d, const char *name_or_id);
/* Make a read-only disk show internal snapshot ID and/or NAME (either may be
 * NULL, not both; when both are given both must match) instead of the
 * current state, as qemu-img convert -l does.  -ENOENT if not found,
 * -ENOTSUP if the format has no internal snapshots, -EROFS if writable. */
DISK_API int disk_snapshot_load (struct disk *d, const char *id, const char *name);
/* Change format options of an existing image ("compat=1.1,lazy_refcounts=on"). */
DISK_API int disk_amend (struct disk *d, const char *options);

/* ---- asynchronous I/O ------------------------------------------------ */
/* A queue runs many requests in flight (io_uring for files).  One thread
 * owns a queue.  Callbacks run inside disk_queue_wait(). RET is the request's
 * result (0 or -errno); on error disk_last_error() is valid inside CB. */
struct disk_queue;
typedef void (*disk_aio_cb) (void *opaque, int ret);

DISK_API int disk_queue_new (struct disk_queue **out, unsigned depth);
DISK_API void disk_queue_free (struct disk_queue *q);
DISK_API int disk_aio_pread (struct disk_queue *q, struct disk *d, void *buf,
                             size_t count, uint64_t offset,
                             disk_aio_cb cb, void *opaque);
DISK_API int disk_aio_pwrite (struct disk_queue *q, struct disk *d,
                              const void *buf, size_t count, uint64_t offset,
                              unsigned flags, disk_aio_cb cb, void *opaque);
/* Wait until at least MIN requests have completed (callbacks run), or
 * nothing is in flight.  Returns the number completed, or -errno. */
DISK_API int disk_queue_wait (struct disk_queue *q, unsigned min);
DISK_API unsigned disk_queue_inflight (struct disk_queue *q);

/* ---- "vol:POOL/VOL" specs ----------------------------------------------- */
/* libdisk knows nothing about storage pools: a program that does (the vdk
 * tool) registers a resolver, and disk_open, disk_create and disk_remove
 * (and backing file names) hand every spec starting with "vol:" to it.
 * The resolver stores a malloc'd path (or spec) in *PATH_OUT and returns 0,
 * or returns -errno with a message in ERR (ERRLEN bytes).  FLAGS has
 * DISK_RESOLVE_CREATE when the volume is about to be created (it may not
 * exist yet).  NULL unregisters.  Not thread-safe: call it at startup. */
#define DISK_RESOLVE_CREATE 0x01u
typedef int (*disk_spec_resolver) (const char *spec, unsigned flags, char **path_out,
                                   char *err, size_t errlen);
DISK_API void disk_set_spec_resolver (disk_spec_resolver fn);

/* ---- secrets named in image specs ---------------------------------------- */
/* An option such as iscsi's password-secret=ID names a secret instead of
 * carrying its value, so that the value is never on a command line, in a
 * spec, a message or a file other than the secret store.  A program with a
 * secret store (the vdk tool: the pools' secrets, by UUID) registers a
 * lookup: it stores a malloc'd value, NUL-terminated after *LEN bytes, in
 * *VALUE and returns 0, or returns -errno with a message in ERR (ERRLEN
 * bytes).  libdisk wipes and frees the value after use.  NULL unregisters.
 * Not thread-safe: call it at startup. */
typedef int (*disk_secret_lookup) (const char *id, unsigned char **value, size_t *len,
                                   char *err, size_t errlen);
DISK_API void disk_set_secret_lookup (disk_secret_lookup fn);

/* ---- utilities shared with the tools ---------------------------------- */
/* Parse "10G", "512", "1.5M" (qemu-img units, 1024-based, k/K M G T P E, b/B
 * for bytes).  Returns 0 or -EINVAL / -ERANGE. */
DISK_API int disk_parse_size (const char *s, uint64_t *out);
/* Is the buffer all zero bytes? (vectorised) */
DISK_API bool disk_is_zero_buf (const void *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* VDK_DISK_H */
