/* qcow2: private header shared by the files of the driver.
 *
 * On-disk layout (QEMU's docs/interop/qcow2.txt): a big-endian header at
 * offset 0, a two-level table (L1 -> L2 -> data clusters) per image state,
 * refcounts in a two-level table (refcount table -> refcount blocks), and a
 * snapshot table.  Every field read from the file is checked before use.
 */
#ifndef VDK_QCOW2_H
#define VDK_QCOW2_H

#include "../../libdisk/internal.h"

#define QCOW2_MAGIC 0x514649fbu          /* "QFI\xfb" */
#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_V2_HEADER_LEN 72
#define QCOW2_V3_HEADER_LEN 104          /* up to refcount_order/header_length */
#define QCOW2_MAX_L1_BYTES (32u << 20)   /* like qemu's QCOW_MAX_L1_SIZE */
#define QCOW2_MAX_RT_BYTES (8u << 20)    /* refcount table cap */
#define QCOW2_MAX_SNAPSHOTS 65536
#define QCOW2_MAX_SNAPSHOT_TABLE (64u << 20)
#define QCOW2_MAX_BACKING_NAME 1023

/* Incompatible features */
#define QCOW2_INCOMPAT_DIRTY      (1ULL << 0)
#define QCOW2_INCOMPAT_CORRUPT    (1ULL << 1)
#define QCOW2_INCOMPAT_DATA_FILE  (1ULL << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ULL << 3)
#define QCOW2_INCOMPAT_EXTL2      (1ULL << 4)
#define QCOW2_INCOMPAT_KNOWN      0x1fULL
/* Compatible features */
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ULL << 0)
/* Autoclear features */
#define QCOW2_AUTOCLEAR_BITMAPS     (1ULL << 0)
#define QCOW2_AUTOCLEAR_DATA_RAW    (1ULL << 1)

/* Header extension types */
#define QCOW2_EXT_END          0x00000000u
#define QCOW2_EXT_BACKING_FMT  0xe2792acau
#define QCOW2_EXT_FEATURES     0x6803f857u
#define QCOW2_EXT_BITMAPS      0x23852875u
#define QCOW2_EXT_CRYPTO       0x0537be77u
#define QCOW2_EXT_DATA_FILE    0x44415441u

/* L1/L2 entry bits */
#define QCOW2_OFLAG_COPIED     (1ULL << 63)
#define QCOW2_OFLAG_COMPRESSED (1ULL << 62)
#define QCOW2_OFLAG_ZERO       (1ULL << 0)
#define QCOW2_L1E_OFFSET_MASK  0x00fffffffffffe00ULL
#define QCOW2_L2E_OFFSET_MASK  0x00fffffffffffe00ULL

#define QCOW2_COMPRESSION_ZLIB 0
#define QCOW2_COMPRESSION_ZSTD 1

enum qcow2_ctype {
  QCOW2_C_UNALLOC,       /* offset 0, no zero flag */
  QCOW2_C_ZERO_PLAIN,    /* zero flag, no offset */
  QCOW2_C_ZERO_ALLOC,    /* zero flag with a preallocated offset */
  QCOW2_C_NORMAL,
  QCOW2_C_COMPRESSED,
};

/* Subcluster states (extended L2), also used per cluster otherwise. */
enum qcow2_sctype { QCOW2_SC_UNALLOC, QCOW2_SC_ZERO, QCOW2_SC_DATA, QCOW2_SC_COMPRESSED };

struct qcow2_snapshot {
  uint64_t l1_table_offset;
  uint32_t l1_size;
  char *id;
  char *name;
  uint32_t date_sec, date_nsec;
  uint64_t vm_clock_nsec;
  uint64_t vm_state_size;   /* 32-bit field or the large one from extra data */
  uint64_t disk_size;       /* virtual size at snapshot time (extra data) */
  bool has_disk_size;
  uint64_t icount;          /* -1 if none */
  bool has_icount;
  uint32_t extra_size;
  uint8_t *extra;           /* extra data kept as is */
};

struct qcow2_l2_slot {
  uint64_t offset;          /* host offset of the L2 table, 0 = empty slot */
  uint64_t lru;
  uint8_t *data;            /* l2_bytes, big-endian as on disk */
  uint32_t dirty_lo, dirty_hi;  /* entries [lo, hi) not yet written, hi 0 = clean */
};

struct qcow2_rb_slot {
  uint64_t offset;
  uint64_t lru;
  uint8_t *data;            /* one cluster */
};

struct qcow2 {
  /* header */
  uint32_t version;
  uint32_t cluster_bits;
  uint64_t cluster_size;
  uint64_t size;
  uint32_t crypt_method;
  uint32_t l1_size;
  uint64_t l1_table_offset;
  uint64_t refcount_table_offset;
  uint32_t refcount_table_clusters;
  uint32_t nb_snapshots;
  uint64_t snapshots_offset;
  uint64_t incompat, compat, autoclear;
  uint32_t refcount_order;
  uint32_t header_length;
  uint8_t compression_type;

  /* derived */
  bool extl2;
  uint32_t l2_entry_size;   /* 8 or 16 */
  uint32_t l2_bits;         /* log2 entries per L2 table */
  uint64_t l2_entries;
  uint64_t subcluster_size;
  uint32_t refcount_bits;
  uint64_t rb_entries;      /* refcounts per refcount block */
  uint32_t rb_bits;         /* log2 rb_entries */
  uint64_t refcount_max;
  uint32_t csize_shift;     /* compressed descriptor: 62 - (cluster_bits - 8) */
  uint64_t csize_mask;
  uint64_t coffset_mask;

  uint64_t *l1;             /* host-endian copy of the active L1 */
  uint64_t *rt;             /* host-endian refcount table */
  uint64_t rt_size;         /* entries */

  /* header extensions */
  char *backing_file;
  char *backing_fmt;
  char *data_file;
  bool data_file_raw;
  uint8_t *unknown_ext;     /* unknown extensions, kept (type,len,data padded) */
  size_t unknown_ext_len;
  uint8_t *feature_table;   /* raw feature name table */
  size_t feature_table_len;
  bool has_bitmaps_ext;
  uint32_t nb_bitmaps;
  uint64_t bitmap_dir_size, bitmap_dir_offset;

  struct vdk_node *data_node;   /* external data file, or NULL */

  struct qcow2_snapshot *snaps;
  uint64_t snap_table_size; /* bytes */

  /* caches */
  struct qcow2_l2_slot *l2c;
  size_t l2c_n;
  size_t l2c_dirty;         /* slots holding entries not yet written */
  struct qcow2_rb_slot *rbc;
  size_t rbc_n;
  uint64_t rbc_bytes;       /* refcount-cache-size option */
  uint64_t lru_clock;

  /* compressed read cache: one decoded cluster */
  uint64_t zc_entry;        /* the L2 entry decoded into zc_buf, 0 = none */
  uint8_t *zc_buf;

  uint64_t zfree;           /* next free byte for packed compressed data, 0 = none */
  uint64_t free_hint;
  uint64_t run_hint;        /* next-fit start for multi-cluster runs */       /* cluster index to start free-space searches */
  bool rdwr;
  bool dirty_set;           /* we set the dirty bit (lazy refcounts) */
  bool read_only_corrupt;
};

/* qcow2.c */
int qcow2_write_header_fields (struct vdk_node *n);
int qcow2_update_header (struct vdk_node *n);
int qcow2_mark_corrupt (struct vdk_node *n, const char *fmt, ...) VDK_ATTR_FORMAT (2, 3);
uint64_t qcow2_file_end (struct vdk_node *n);

/* qcow2-cluster.c */
int qcow2_l2_load (struct vdk_node *n, uint64_t l2_offset, uint8_t **out);
void qcow2_l2_drop (struct vdk_node *n, uint64_t l2_offset);
int qcow2_l2_writeback (struct vdk_node *n);
int qcow2_l2_set (struct vdk_node *n, uint64_t l2_offset, uint64_t idx,
                  uint64_t entry, uint64_t bitmap);
uint64_t qcow2_l2_entry (struct qcow2 *s, const uint8_t *l2, uint64_t idx);
uint64_t qcow2_l2_bitmap (struct qcow2 *s, const uint8_t *l2, uint64_t idx);
enum qcow2_ctype qcow2_cluster_type (struct vdk_node *n, uint64_t entry);
int qcow2_map (struct vdk_node *n, uint64_t off, uint64_t len, struct vdk_extent *e);
int qcow2_read_encoded (struct vdk_node *n, uint64_t off, size_t len, void *buf);
int qcow2_alloc (struct vdk_node *n, uint64_t off, uint64_t len, struct vdk_extent *e);
int qcow2_alloc_commit (struct vdk_node *n, const struct vdk_extent *e);
int qcow2_pwrite_compressed (struct vdk_node *n, const void *buf, size_t len, uint64_t off);
int qcow2_write_zeroes (struct vdk_node *n, uint64_t off, uint64_t len, unsigned flags);
int qcow2_discard (struct vdk_node *n, uint64_t off, uint64_t len);
int qcow2_make_empty (struct vdk_node *n);
int qcow2_decompress (struct vdk_node *n, uint64_t entry, uint8_t *out);
void qcow2_compressed_range (struct qcow2 *s, uint64_t entry, uint64_t *host, uint64_t *len);
int qcow2_write_l1_entry (struct vdk_node *n, uint64_t idx);
int qcow2_grow_l1 (struct vdk_node *n, uint64_t min_size);
int qcow2_preallocate (struct vdk_node *n, uint64_t from, uint64_t to, enum vdk_prealloc p);
int qcow2_truncate (struct vdk_node *n, uint64_t size, enum vdk_prealloc p, bool shrink);

/* qcow2-refcount.c */
int qcow2_get_refcount (struct vdk_node *n, uint64_t cluster, uint64_t *out);
int qcow2_update_refcount (struct vdk_node *n, uint64_t off, uint64_t len, int64_t delta);
int64_t qcow2_alloc_clusters (struct vdk_node *n, uint64_t bytes);
int qcow2_free_clusters (struct vdk_node *n, uint64_t off, uint64_t len);
int qcow2_load_refcount_table (struct vdk_node *n);
uint64_t qcow2_rb_get (struct qcow2 *s, const uint8_t *rb, uint64_t idx);
void qcow2_rb_put (struct qcow2 *s, uint8_t *rb, uint64_t idx, uint64_t v);
int qcow2_rb_load (struct vdk_node *n, uint64_t off, uint8_t **out);
void qcow2_rb_drop_cache (struct vdk_node *n);
int qcow2_check (struct vdk_node *n, int fix, struct vdk_check *res);
int qcow2_rebuild_refcounts_if_dirty (struct vdk_node *n);
int qcow2_change_refcount_order (struct vdk_node *n, uint32_t order);

/* qcow2-snapshot.c */
int qcow2_read_snapshots (struct vdk_node *n);
void qcow2_free_snapshots (struct qcow2 *s);
int qcow2_snapshot_list (struct vdk_node *n, struct disk_snapshot **out, size_t *n_out);
int qcow2_snapshot_create (struct vdk_node *n, const char *name);
int qcow2_snapshot_apply (struct vdk_node *n, const char *name);
int qcow2_snapshot_delete (struct vdk_node *n, const char *name);
int qcow2_snapshot_load (struct vdk_node *n, const char *id, const char *name);

/* qcow2-measure.c */
int qcow2_measure (struct vdk_opts *opts, struct vdk_measure *m);
extern const struct vdk_format vdk_format_qcow2;

static inline uint64_t
qcow2_offset_into_cluster (const struct qcow2 *s, uint64_t off)
{
  return off & (s->cluster_size - 1);
}

static inline uint64_t
qcow2_l1_index (const struct qcow2 *s, uint64_t off)
{
  return off >> (s->l2_bits + s->cluster_bits);
}

static inline uint64_t
qcow2_l2_index (const struct qcow2 *s, uint64_t off)
{
  return (off >> s->cluster_bits) & (s->l2_entries - 1);
}

static inline uint64_t
qcow2_l2_bytes (const struct qcow2 *s)
{
  return s->cluster_size;
}

#endif
