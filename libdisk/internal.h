/* libdisk internals: the node graph, driver vtables and helpers for drivers.
 *
 * A struct vdk_node is one layer of an opened image: either a *protocol*
 * node (byte storage: a file, later an NFS file, an iSCSI LUN...) or a
 * *format* node (raw, qcow2, ...) that interprets its child node `file`.
 *
 * Format drivers do not move data themselves.  They answer map(): "guest
 * range [off, off+len) is DATA at host offset H of node C / ZERO / UNALLOC
 * (read the backing node) / ENCODED (ask me to decode)", and alloc() for
 * writes.  The core (io.c, aio.c) then does the data I/O, so one engine serves
 * every format.  Drivers with write paths that do not fit (compressed output,
 * streamOptimized) implement pwrite() themselves.
 *
 * Contract the core guarantees to format callbacks (drivers need not re-check):
 *  - off + len <= node->size, len > 0;
 *  - map/alloc/pwrite/discard/... are called with node->lock held;
 *  - write callbacks are only called on nodes opened with VDK_O_RDWR.
 */
#ifndef VDK_INTERNAL_H
#define VDK_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <endian.h>

#include "vdk/disk.h"

#define VDK_ATTR_FORMAT(a, b) __attribute__((format (printf, a, b)))
#define VDK_UNUSED __attribute__((unused))
#define VDK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VDK_MAX(a, b) ((a) > (b) ? (a) : (b))
#define VDK_ARRAY_SIZE(a) (sizeof (a) / sizeof ((a)[0]))
#define VDK_ROUND_UP(x, a) ((((x) + (a) - 1) / (a)) * (a))
#define VDK_ROUND_DOWN(x, a) (((x) / (a)) * (a))
#define VDK_IS_POW2(x) ((x) != 0 && ((x) & ((x) - 1)) == 0)

/* Caps applied to untrusted fields before allocating. */
#define VDK_MAX_CHAIN_DEPTH 64          /* backing chain length */
#define VDK_MAX_META_ALLOC (256u << 20) /* one metadata table in memory */
#define VDK_MAX_IMAGE_SIZE (1ULL << 60) /* virtual size */

/* ---- errors (error.c) ------------------------------------------------- */
/* Record a message and return -ERRNUM.  Messages should name the image:
 *   return vdk_err (EINVAL, "%s: L1 table offset %#" PRIx64 " beyond end of file",
 *                   n->filename, off);
 * "%m" is not supported; use strerror(errno). */
int vdk_err (int errnum, const char *fmt, ...) VDK_ATTR_FORMAT (2, 3);
/* Prefix the current message: "CONTEXT: old message". */
void vdk_err_prefix (const char *fmt, ...) VDK_ATTR_FORMAT (1, 2);
/* Set only the errno (keep the message), return -errnum. */
int vdk_err_keep (int errnum);
void vdk_err_clear (void);

/* Non-fatal warnings (fallback to a backup GPT, ...): collected per thread,
 * the CLI prints them (public: disk_take_warnings). */
void vdk_warn (const char *fmt, ...) VDK_ATTR_FORMAT (1, 2);
const char *vdk_take_warnings (void); /* returns and clears; NULL if none */

/* ---- endian helpers ---------------------------------------------------- */
static inline uint16_t vdk_le16 (const void *p) { uint16_t v; memcpy (&v, p, 2); return le16toh (v); }
static inline uint32_t vdk_le32 (const void *p) { uint32_t v; memcpy (&v, p, 4); return le32toh (v); }
static inline uint64_t vdk_le64 (const void *p) { uint64_t v; memcpy (&v, p, 8); return le64toh (v); }
static inline uint16_t vdk_be16 (const void *p) { uint16_t v; memcpy (&v, p, 2); return be16toh (v); }
static inline uint32_t vdk_be32 (const void *p) { uint32_t v; memcpy (&v, p, 4); return be32toh (v); }
static inline uint64_t vdk_be64 (const void *p) { uint64_t v; memcpy (&v, p, 8); return be64toh (v); }
static inline void vdk_put_le16 (void *p, uint16_t v) { v = htole16 (v); memcpy (p, &v, 2); }
static inline void vdk_put_le32 (void *p, uint32_t v) { v = htole32 (v); memcpy (p, &v, 4); }
static inline void vdk_put_le64 (void *p, uint64_t v) { v = htole64 (v); memcpy (p, &v, 8); }
static inline void vdk_put_be16 (void *p, uint16_t v) { v = htobe16 (v); memcpy (p, &v, 2); }
static inline void vdk_put_be32 (void *p, uint32_t v) { v = htobe32 (v); memcpy (p, &v, 4); }
static inline void vdk_put_be64 (void *p, uint64_t v) { v = htobe64 (v); memcpy (p, &v, 8); }

/* Overflow-checked a + b <= limit. */
static inline bool vdk_range_ok (uint64_t off, uint64_t len, uint64_t limit)
{
  return off <= limit && len <= limit - off;
}

/* ---- text (unicode.c) ----------------------------------------------------- */
/* UTF-8 S -> UTF-16 (big-endian if BE) at DST, at most MAX_UNITS code units;
 * invalid bytes become U+FFFD; with SLASH '/' becomes '\\'.  Returns the
 * bytes written. */
size_t vdk_utf8_to_utf16 (uint8_t *dst, const char *s, size_t max_units, bool be, bool slash);

/* ---- options (opts.c) --------------------------------------------------- */
/* An ordered list of key=value pairs, as given by "-o" or a spec.  Keys may be
 * dotted ("file.filename").  Drivers take what they use with vdk_opts_take*;
 * whatever is left untaken after open/create is reported as an unknown option. */
struct vdk_opt { char *key; char *value; bool used; };
struct vdk_opts { size_t n, cap; struct vdk_opt *v; };

void vdk_opts_init (struct vdk_opts *o);
void vdk_opts_free (struct vdk_opts *o);
int vdk_opts_set (struct vdk_opts *o, const char *key, const char *value); /* replaces */
/* Parse "a=b,c=d" (",," escapes a comma, qemu style).  A bare word with no
 * '=' is stored with key IMPLIED_KEY if that is non-NULL (e.g. "filename"). */
int vdk_opts_parse (struct vdk_opts *o, const char *s, const char *implied_key);
/* Parse a json:{...} object into dotted keys ("file.filename"). */
int vdk_opts_parse_json (struct vdk_opts *o, const char *json);
const char *vdk_opts_get (const struct vdk_opts *o, const char *key); /* peek */
const char *vdk_opts_take (struct vdk_opts *o, const char *key);      /* marks used */
bool vdk_opts_taken (const struct vdk_opts *o, const char *key);     /* was it taken? */
/* Typed takes: return 0 when absent (out unchanged), 1 when set, -errno on a
 * bad value (with the message set, naming the option). */
int vdk_opts_take_size (struct vdk_opts *o, const char *key, uint64_t *out);
int vdk_opts_take_bool (struct vdk_opts *o, const char *key, bool *out);
int vdk_opts_take_uint (struct vdk_opts *o, const char *key, uint64_t *out);
/* Move every "PREFIX.x" to DST as "x" (used for file.*, backing.*). */
int vdk_opts_extract_prefix (struct vdk_opts *o, const char *prefix, struct vdk_opts *dst);
/* If an option is left unused, set an error naming it and return -EINVAL. */
int vdk_opts_check_unused (const struct vdk_opts *o, const char *what);

/* A create option a format accepts ("-o help"). */
struct vdk_opt_desc {
  const char *name;
  const char *type;    /* "size", "bool", "string", "number" */
  const char *help;
  const char *defval;  /* may be NULL */
};

/* ---- the node graph ----------------------------------------------------- */
enum vdk_ext_kind {
  VDK_EXT_DATA,     /* data at `host` in `child` (NULL = node->file) */
  VDK_EXT_ZERO,     /* reads as zeroes in this layer */
  VDK_EXT_UNALLOC,  /* not in this layer: read the backing node (or zeroes) */
  VDK_EXT_ENCODED,  /* the driver's read_encoded() must produce the data */
};

struct vdk_node;

struct vdk_extent {
  uint64_t off, len;        /* guest range described: off is what was asked */
  enum vdk_ext_kind kind;
  uint64_t host;            /* DATA: offset in child; ENCODED: informational */
  struct vdk_node *child;   /* DATA: node holding it; NULL means node->file */
  bool needs_commit;        /* alloc: call alloc_commit after the data write */
  bool fua;                 /* alloc_commit: the write was FUA (the link must be durable) */
  uint64_t cookie;          /* for the driver (alloc -> alloc_commit) */
  void *cookie_ptr;
};

/* Node open flags */
#define VDK_O_RDWR        0x01u
#define VDK_O_NOLOCK      0x02u
#define VDK_O_DIRECT      0x04u  /* cache=none */
#define VDK_O_UNSAFE      0x08u  /* cache=unsafe: flush is a no-op */
#define VDK_O_CREATE      0x10u  /* protocol: create/truncate (used by create) */
#define VDK_O_NO_BACKING  0x20u
#define VDK_O_PROBED      0x40u  /* format was probed, not named */
#define VDK_O_WRITETHROUGH 0x80u /* cache=writethrough/directsync: flush every write */
#define VDK_O_BACKING_NOLOCK 0x100u /* open backing nodes without locks */
/* The name was read from an image (backing file, extent, data file), not
 * given by the program: it may not use the program's secrets (an image
 * could otherwise send them, e.g. as CHAP, to a host of its choice). */
#define VDK_O_FROM_IMAGE  0x200u

enum vdk_prealloc { VDK_PREALLOC_OFF, VDK_PREALLOC_METADATA, VDK_PREALLOC_FALLOC, VDK_PREALLOC_FULL };
int vdk_parse_prealloc (const char *s, enum vdk_prealloc *out);
const char *vdk_prealloc_name (enum vdk_prealloc p);

struct vdk_protocol;
struct vdk_format;

struct vdk_node {
  const struct vdk_protocol *proto; /* exactly one of proto/fmt is set */
  const struct vdk_format *fmt;
  void *priv;                       /* driver state */
  char *filename;                   /* for messages and relative paths */
  unsigned flags;                   /* VDK_O_* */
  uint64_t size;                    /* virtual size (format) / byte size (protocol) */
  uint32_t request_align;           /* protocol: required alignment (O_DIRECT) */

  struct vdk_node *file;            /* format: the node it interprets */
  struct vdk_node *backing;         /* format: opened backing node or NULL */
  char *backing_filename;           /* format: as recorded in the image */
  char *backing_format;             /* format: as recorded, or NULL */
  char *data_filename;              /* format: external data file name, if any */

  uint64_t cluster_size;            /* format: allocation unit, 0 if none */
  bool no_zero_init;                /* a freshly created image need not read as
                                     * zeroes (protocol: block devices; format:
                                     * e.g. a raw external data file) */
  pthread_mutex_t lock;             /* metadata lock (format nodes) */
  int depth;                        /* position in the backing chain */

  /* Allocating writes whose data is in flight (async engine): alloc done,
   * alloc_commit not yet.  Another write, zeroing or discard touching the same
   * allocation unit waits for the commit (io.c, aio.c).  Under `lock`. */
  struct vdk_inflight *inflight;
  pthread_cond_t inflight_cond;
  struct vdk_deferred *deferred;    /* async writes waiting for an inflight one */
};

/* Wait (node lock held) until no in-flight allocation overlaps [off, off+len);
 * -EDEADLK if the overlapping one belongs to this very thread. */
int vdk_wait_inflight (struct vdk_node *n, uint64_t off, uint64_t len);

/* ---- protocol drivers (libdisk/protocols/) ------------------------------ */
struct vdk_io;   /* an async leaf request, see aio.c */
struct disk_queue;

struct vdk_protocol {
  size_t struct_size;
  const char *name;                 /* "file" */
  const char *const *schemes;       /* URL schemes it owns ("file"), NULL-terminated */
  /* Open node->filename (or opts "filename").  Sets node->size. */
  int (*open) (struct vdk_node *n, struct vdk_opts *opts, unsigned flags);
  void (*close) (struct vdk_node *n);
  int (*pread) (struct vdk_node *n, void *buf, size_t len, uint64_t off);
  int (*pwrite) (struct vdk_node *n, const void *buf, size_t len, uint64_t off, unsigned flags);
  int (*flush) (struct vdk_node *n);
  int (*discard) (struct vdk_node *n, uint64_t off, uint64_t len);
  int (*write_zeroes) (struct vdk_node *n, uint64_t off, uint64_t len, unsigned flags);
  /* DATA (host = off) or ZERO (a hole) starting at off. */
  int (*block_status) (struct vdk_node *n, uint64_t off, uint64_t len, struct vdk_extent *e);
  int (*truncate) (struct vdk_node *n, uint64_t size, enum vdk_prealloc p);
  int64_t (*get_allocated) (struct vdk_node *n);
  /* Create (or truncate to zero) the object named by FILENAME.  OPTS may
   * hold "size" (a raw image without preallocation): a protocol that takes
   * it makes the object that size and reading as zeroes, and disk_create
   * then skips raw's create; one that leaves it gets the size from raw's
   * truncate. */
  int (*create) (const char *filename, struct vdk_opts *opts);
  int (*remove) (const char *filename);
  /* Async: submit a leaf I/O on queue Q; complete it later with vdk_io_done().
   * May be NULL: the core then runs pread/pwrite synchronously. */
  int (*submit) (struct vdk_node *n, struct disk_queue *q, struct vdk_io *io);
  /* Snapshots of the object itself (rbd), used through a raw format on top
   * as qemu-img does (vdk_snapshot_node).  Each may be NULL. */
  int (*snapshot_list) (struct vdk_node *n, struct disk_snapshot **out, size_t *n_out);
  int (*snapshot_create) (struct vdk_node *n, const char *name);
  int (*snapshot_apply) (struct vdk_node *n, const char *name_or_id);
  int (*snapshot_delete) (struct vdk_node *n, const char *name_or_id);
  /* In-kernel copy (disk_copy_range): can this node receive a copy from
   * protocol node SRC without the data passing through user space?  Then
   * copy_from copies LEN bytes at SRC_OFF of SRC to OFF of this node and
   * returns the bytes copied (>= 0; the core copies the rest through a
   * buffer), or -errno.  Both may be NULL. */
  bool (*can_copy_from) (struct vdk_node *n, struct vdk_node *src);
  int64_t (*copy_from) (struct vdk_node *n, uint64_t off, struct vdk_node *src,
                        uint64_t src_off, uint64_t len, unsigned flags);
};

/* ---- format drivers (formats/<name>/) ----------------------------------- */
struct vdk_check;   /* defined below */

/* A measure_full() request: inputs, then what the driver fills in. */
struct vdk_measure {
  uint64_t size;                /* virtual size (the source's with a source) */
  /* Bytes of the source's data in GRAN-aligned units holding data (not
   * zeroes); NULL without a source (--size). */
  uint64_t (*data_bytes) (void *opaque, uint64_t gran);
  void *opaque;
  struct vdk_node *src;         /* the source's top format node, or NULL */
  uint64_t required, full;      /* out: required and fully allocated sizes */
  bool has_bitmaps;             /* out: a "bitmaps size" is part of the answer */
  uint64_t bitmaps;             /* out: bytes for the source's persistent bitmaps */
};

struct vdk_format {
  size_t struct_size;
  const char *name;                 /* "qcow2" */
  /* Score 0..100 the first LEN bytes of the file.  raw returns 1. */
  int (*probe) (const uint8_t *buf, size_t len, const char *filename);
  /* Open: node->file is open.  Set node->size, node->backing_filename/format. */
  int (*open) (struct vdk_node *n, struct vdk_opts *opts, unsigned flags);
  void (*close) (struct vdk_node *n);

  /* Reads: describe [off, off+len) starting at off (e->len <= len, > 0). */
  int (*map) (struct vdk_node *n, uint64_t off, uint64_t len, struct vdk_extent *e);
  /* For ENCODED extents: produce the guest bytes. */
  int (*read_encoded) (struct vdk_node *n, uint64_t off, size_t len, void *buf);

  /* Writes.  Either alloc (+ optional alloc_commit) or pwrite must exist for
   * a writable format.  alloc returns a DATA extent starting at off where the
   * core will write the data (the driver has already copied any backing data
   * around the range that the allocation unit needs); after the data is
   * written the core calls alloc_commit (e.g. to link an L2 entry), so
   * metadata never points at unwritten data. */
  int (*alloc) (struct vdk_node *n, uint64_t off, uint64_t len, struct vdk_extent *e);
  int (*alloc_commit) (struct vdk_node *n, const struct vdk_extent *e);
  int (*pwrite) (struct vdk_node *n, const void *buf, size_t len, uint64_t off, unsigned flags);

  int (*flush) (struct vdk_node *n);               /* write back caches; core then flushes children */
  int (*discard) (struct vdk_node *n, uint64_t off, uint64_t len);
  /* Mark [off,len) zero; -ENOTSUP makes the core write zeroes. */
  int (*write_zeroes) (struct vdk_node *n, uint64_t off, uint64_t len, unsigned flags);
  int (*truncate) (struct vdk_node *n, uint64_t size, enum vdk_prealloc p, bool shrink);

  /* Create: N is the freshly created, empty, writable file node.  The driver
   * writes an empty image of SIZE; the core has set up opts "backing_file",
   * "backing_fmt" when given.  Extra files: vdk_create_file(). */
  int (*create) (struct vdk_node *file, uint64_t size, struct vdk_opts *opts);
  const struct vdk_opt_desc *create_opts;   /* NULL-name terminated */

  /* Format-specific info lines, snapshots, etc. into INFO (see info.c helpers). */
  int (*info) (struct vdk_node *n, struct disk_info *info);
  int (*check) (struct vdk_node *n, int fix, struct vdk_check *res);
  int (*amend) (struct vdk_node *n, struct vdk_opts *opts);
  /* Rewrite the backing file name recorded in the image (rebase -u, commit). */
  int (*set_backing) (struct vdk_node *n, const char *backing, const char *fmt);

  int (*snapshot_list) (struct vdk_node *n, struct disk_snapshot **out, size_t *n_out);
  int (*snapshot_create) (struct vdk_node *n, const char *name);
  int (*snapshot_apply) (struct vdk_node *n, const char *name_or_id);
  int (*snapshot_delete) (struct vdk_node *n, const char *name_or_id);
  /* Write whole clusters compressed (DISK_COMPRESSED); off and len are
   * cluster-aligned except at the end of the image. */
  int (*pwrite_compressed) (struct vdk_node *n, const void *buf, size_t len, uint64_t off);
  /* Remove extra files the format created (extents, data file) besides node->filename. */
  int (*remove_extra) (const char *filename);
  /* Deallocate every cluster so reads fall through to the backing file. */
  int (*make_empty) (struct vdk_node *n);
  /* qemu-img measure: host bytes needed for an image of SIZE with the create
   * options OPTS.  DATA_BYTES(opaque, gran) tells how many bytes of the
   * source's data lie in GRAN-aligned units holding data (NULL: no source,
   * size only).  Sets *required and *full (fully allocated). */
  int (*measure) (struct vdk_opts *opts, uint64_t size,
                  uint64_t (*data_bytes) (void *opaque, uint64_t gran), void *opaque,
                  uint64_t *required, uint64_t *full);
  /* VDK_FMT_* flags. */
  unsigned flags;
  /* Bytes allocated on the host for the image's own files (descriptor and
   * extents...); NULL means those of node->file. */
  int64_t (*get_allocated) (struct vdk_node *n);
  /* Read-only view of an internal snapshot (qemu's bdrv_snapshot_load_tmp):
   * from now on reads see the snapshot's data; the virtual size stays.  ID
   * and NAME may each be NULL (not both); when both are given both must
   * match.  -ENOENT when there is no such snapshot. */
  int (*snapshot_load) (struct vdk_node *n, const char *id, const char *name);
  /* qemu-img measure with everything it prints (see struct vdk_measure);
   * used instead of measure() when set. */
  int (*measure_full) (struct vdk_opts *opts, struct vdk_measure *m);
  /* New callbacks go here, at the end. */
};

/* The driver's alloc() reserves the space it returns at once, so several
 * allocations (of different units) may be in flight before their
 * alloc_commit()s, in any order.  Without it the async engine writes new
 * allocations synchronously under the node lock, alloc to commit. */
#define VDK_FMT_ASYNC_ALLOC 0x1u

/* Result of a consistency check (qemu-img check). */
struct vdk_check {
  int fix;                 /* 0, VDK_FIX_LEAKS | VDK_FIX_ERRORS */
  int64_t corruptions, leaks, check_errors;
  int64_t corruptions_fixed, leaks_fixed;
  int64_t image_end_offset;     /* -1 if unknown */
  int64_t total_clusters, allocated_clusters, fragmented_clusters, compressed_clusters;
  /* Called once per problem found ("Leaked cluster 5 refcount=1 reference=0"). */
  void (*report) (void *opaque, const char *msg);
  void *opaque;
};
#define VDK_FIX_LEAKS  1
#define VDK_FIX_ERRORS 2

/* ---- registry (registry.c) ---------------------------------------------- */
const struct vdk_format *vdk_find_format (const char *name);
const struct vdk_protocol *vdk_find_protocol (const char *name);
const struct vdk_protocol *vdk_find_protocol_for_url (const char *spec);
extern const struct vdk_format *const vdk_formats[];
extern const struct vdk_protocol *const vdk_protocols[];

/* ---- node I/O for drivers (io.c) ------------------------------------------ */
/* These go through the node's own logic: on a protocol node they are the
 * protocol call; on a format node they run the map/alloc engine (and the
 * backing chain).  Range-checked; reads beyond a protocol node's end fail. */
int vdk_node_pread (struct vdk_node *n, void *buf, size_t len, uint64_t off);
int vdk_node_pwrite (struct vdk_node *n, const void *buf, size_t len, uint64_t off, unsigned flags);
int vdk_node_flush (struct vdk_node *n);
int vdk_node_discard (struct vdk_node *n, uint64_t off, uint64_t len);
int vdk_node_write_zeroes (struct vdk_node *n, uint64_t off, uint64_t len, unsigned flags);
int vdk_node_truncate (struct vdk_node *n, uint64_t size, enum vdk_prealloc p, bool shrink);
int64_t vdk_node_get_allocated (struct vdk_node *n);
/* Block status of one node (not following backing): fills E for off. */
int vdk_node_block_status (struct vdk_node *n, uint64_t off, uint64_t len, struct vdk_extent *e);
/* Read the guest range [off,len) of format node N's *backing* (zeroes where
 * there is none or past its end).  For drivers doing copy-on-write. */
int vdk_node_read_backing (struct vdk_node *n, void *buf, size_t len, uint64_t off);
/* Is BUF all zeroes? (fast) */
bool vdk_is_zero (const void *buf, size_t len);

/* ---- opening and creating nodes (node.c) --------------------------------- */
/* Open a protocol node for FILENAME (path or URL). */
int vdk_open_protocol (const char *filename, struct vdk_opts *opts, unsigned flags,
                       struct vdk_node **out);
/* Open a spec fully (format over protocol, backing chain), as disk_open. */
int vdk_open_spec (const char *spec, const char *format, struct vdk_opts *extra,
                   unsigned flags, int depth, struct vdk_node **out);
void vdk_node_close (struct vdk_node *n);   /* closes children too */
/* Resolve NAME relative to the directory of BASE (a path) -- backing files,
 * vmdk extents.  Absolute names and URLs are returned as they are. */
char *vdk_resolve_relative (const char *base, const char *name);
/* For drivers: create and open (rw) another file NAME relative to RELATIVE_TO
 * (an extent, an external data file). */
int vdk_create_file (struct vdk_node *relative_to, const char *name, struct vdk_node **out);
/* For drivers: open another file relative to a node (vmdk extents, data_file). */
int vdk_open_file (struct vdk_node *relative_to, const char *name, unsigned flags,
                   struct vdk_node **out);

/* "vol:POOL/VOL" through the registered resolver (disk_set_spec_resolver).
 * Returns 0 with *OUT = NULL when SPEC is not a vol: spec, 0 with a malloc'd
 * *OUT when resolved, or -errno with the message set. */
int vdk_resolve_vol_spec (const char *spec, unsigned flags, char **out);
/* The value of secret ID through the registered lookup
 * (disk_set_secret_lookup), for WHO (a URL, for messages): a malloc'd
 * string to be released with vdk_secret_free, or -errno with the message
 * set. */
int vdk_secret_lookup (const char *id, const char *who, char **value);
void vdk_secret_free (char *value);

/* Format-specific info helpers (info.c). */
int vdk_info_add_str (struct disk_info *info, const char *json_key, const char *human, const char *v);
int vdk_info_add_int (struct disk_info *info, const char *json_key, const char *human, int64_t v);
int vdk_info_add_bool (struct disk_info *info, const char *json_key, const char *human, bool v);

/* ---- async leaf I/O (aio.c) ------------------------------------------------ */
enum vdk_io_op { VDK_IO_READ, VDK_IO_WRITE, VDK_IO_FLUSH };
struct vdk_io {
  enum vdk_io_op op;
  struct vdk_node *node;    /* protocol node */
  void *buf;
  size_t len;
  uint64_t off;
  unsigned flags;
  int ret;
  struct vdk_aio_req *parent;  /* the public request it belongs to */
  struct vdk_io *next;         /* queue bookkeeping */
};
void vdk_io_done (struct disk_queue *q, struct vdk_io *io, int ret);
/* For protocols using io_uring: the queue's ring (NULL if none). */
struct io_uring *vdk_queue_ring (struct disk_queue *q);

/* The node whose internal snapshots N means: N, or for raw over a protocol
 * that has snapshots of its own (rbd), that protocol node (disk.c). */
struct vdk_node *vdk_snapshot_node (struct vdk_node *n);

#endif /* VDK_INTERNAL_H */
