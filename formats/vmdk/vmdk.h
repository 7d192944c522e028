/* vmdk: VMware virtual disks (Virtual Disk Format 1.1).
 *
 * An image is a descriptor (text: embedded in a sparse file at desc_offset,
 * or a file of its own) listing extents: FLAT/VMFS (raw bytes at an offset
 * of a file), SPARSE (a hosted sparse extent: header "KDMV", grain directory
 * -> grain tables -> grains, optionally compressed with markers for
 * streamOptimized), VMFSSPARSE (the older "COWD" sparse layout) and ZERO. */
#ifndef VDK_VMDK_H
#define VDK_VMDK_H

#include "../../libdisk/internal.h"

#define VMDK_SECTOR 512u
#define VMDK4_MAGIC 0x564d444bu          /* "KDMV" read little-endian */
#define VMDK3_MAGIC 0x44574f43u          /* "COWD" */
#define VMDK4_FLAG_NL_DETECT 0x1u
#define VMDK4_FLAG_RGD 0x2u
#define VMDK4_FLAG_ZERO_GRAIN 0x4u
#define VMDK4_FLAG_COMPRESS 0x10000u
#define VMDK4_FLAG_MARKER 0x20000u
#define VMDK4_GD_AT_END 0xffffffffffffffffULL
#define VMDK_COMPRESS_DEFLATE 1
#define VMDK_GTE_ZEROED 1u

#define VMDK_MARKER_EOS 0
#define VMDK_MARKER_GT 1
#define VMDK_MARKER_GD 2
#define VMDK_MARKER_FOOTER 3

#define VMDK_DESC_MAX (1u << 20)         /* descriptor text we read at most */
#define VMDK_MAX_EXTENTS 4096
#define VMDK_MAX_GRAIN (1ULL << 30)      /* bytes; like qemu (0x200000 sectors) */
#define VMDK_SPLIT_SIZE (2ULL << 30)     /* twoGbMaxExtent* extent size */
#define VMDK_GT_CACHE 16
#define VMDK_NO_PARENT 0xffffffffu

/* ---- descriptor (vmdk-desc.c) ---- */
struct vmdk_desc_extent {
  char access[16];           /* RW, RDONLY, NOACCESS */
  uint64_t sectors;
  char type[16];             /* FLAT, SPARSE, ZERO, VMFS, VMFSSPARSE, ... */
  char *file;                /* NULL for ZERO */
  uint64_t offset;           /* sectors, FLAT/VMFS */
};

struct vmdk_desc {
  int version;
  uint32_t cid, parent_cid;
  char *create_type;
  char *parent_hint;         /* parentFileNameHint */
  char *adapter_type;        /* ddb.adapterType */
  char *hw_version;          /* ddb.virtualHWVersion */
  size_t n_ext;
  struct vmdk_desc_extent *ext;
};

int vmdk_desc_parse (const char *fname, const char *text, size_t len, struct vmdk_desc *d);
void vmdk_desc_free (struct vmdk_desc *d);
/* Does BUF start like a descriptor file ("version=N" after comments)? */
bool vmdk_desc_probe (const uint8_t *buf, size_t len);

struct vmdk_desc_out {
  uint32_t cid, parent_cid;
  const char *create_type;
  const char *parent_hint;   /* NULL: none */
  const char *extents;       /* the extent lines, '\n' terminated */
  const char *hw_version;
  const char *adapter_type;
  const char *tools_version;
  uint64_t size;             /* bytes, for the geometry */
};
/* A malloc'ed descriptor text. */
char *vmdk_desc_format (const struct vmdk_desc_out *o);

/* ---- extents and the driver state ---- */
enum vmdk_ext_type { VMDK_EXT_FLAT, VMDK_EXT_SPARSE, VMDK_EXT_COWD, VMDK_EXT_SESPARSE,
                     VMDK_EXT_ZERO };

struct vmdk_gt_slot {
  uint64_t idx;              /* GT index + 1; 0 = empty slot */
  uint32_t *gt;
};

struct vmdk_ext {
  enum vmdk_ext_type type;
  char *type_name;           /* descriptor type word; "" for a monolithic sparse */
  char *filename;            /* as named in the descriptor (or the image name) */
  struct vdk_node *file;     /* node holding the extent */
  bool own_file;             /* opened by us (else it is n->file) */
  bool writable;
  uint64_t start, size;      /* guest bytes */
  uint64_t flat_off;         /* FLAT: byte offset in file */
  /* sparse */
  uint32_t version, flags;
  uint64_t grain;            /* bytes, power of two */
  uint32_t gtes;             /* entries per grain table */
  uint64_t gt_cover;         /* guest bytes one GT covers */
  uint64_t gd_off, rgd_off;  /* bytes; rgd_off 0 = none */
  uint32_t n_gd;
  uint32_t *gd, *rgd;        /* host-endian copies */
  bool compressed, markers, zero_grain;
  uint64_t next_alloc;       /* where the next grain / GT goes (bytes) */
  struct vmdk_gt_slot cache[VMDK_GT_CACHE];
  unsigned cache_next;
  uint8_t *zbuf, *cbuf;      /* decompressed grain, compressed input */
  uint64_t zbuf_idx;         /* grain index + 1 held in zbuf; 0 = none */
  uint64_t header_off;       /* stream footer: where the header copy is */
  uint64_t desc_off, desc_len; /* embedded descriptor (bytes), 0 = none */
  /* seSparse */
  uint64_t *gd64, *gt64;     /* directory; one cached grain table */
  uint64_t gt64_idx;         /* GT index + 1 in gt64 */
  uint64_t se_gt_off, se_grains_off;  /* sectors */
};

struct vmdk_stream;

struct vmdk_priv {
  uint32_t cid, parent_cid;
  char *create_type;
  bool monolithic;           /* the image file is the (only) sparse extent */
  size_t n_ext;
  struct vmdk_ext *ext;
  struct vmdk_stream *stream;  /* streamOptimized opened for writing */
  bool cid_updated;          /* a new CID was written on the first write */
  bool cid_checked;          /* the parent's CID matched our parentCID */
};

/* vmdk-sparse.c */
int vmdk_sparse_open (struct vdk_node *n, struct vmdk_ext *e, bool want_write,
                      uint64_t *capacity_out, char **desc_out);
void vmdk_ext_free (struct vmdk_ext *e);
int vmdk_sparse_is_empty (struct vmdk_ext *e, bool *empty);
int vmdk_sparse_map (struct vdk_node *n, struct vmdk_ext *e, uint64_t off, uint64_t len,
                     struct vdk_extent *x);
int vmdk_sparse_read_compressed (struct vdk_node *n, struct vmdk_ext *e, uint64_t off,
                                 size_t len, void *buf);
int vmdk_sparse_write (struct vdk_node *n, struct vmdk_ext *e, const void *buf,
                       size_t len, uint64_t off);
int vmdk_sparse_write_zeroes (struct vdk_node *n, struct vmdk_ext *e, uint64_t off,
                              uint64_t len, unsigned flags);
int vmdk_sparse_check (struct vdk_node *n, struct vmdk_ext *e, struct vdk_check *res);
/* Header sector for a new sparse extent (vmdk.c create). */
void vmdk4_header_build (uint8_t *hdr, uint32_t version, uint32_t flags, uint64_t capacity,
                         uint64_t grain_sectors, uint64_t desc_off, uint64_t desc_size,
                         uint32_t gtes, uint64_t rgd_off, uint64_t gd_off, uint64_t overhead,
                         bool compressed);

/* vmdk-sesparse.c */
int vmdk_sesparse_open (struct vdk_node *n, struct vmdk_ext *e, uint64_t *capacity);
int vmdk_sesparse_map (struct vmdk_ext *e, uint64_t off, uint64_t len, struct vdk_extent *x);

/* vmdk-stream.c */
int vmdk_stream_init (struct vdk_node *n, struct vmdk_ext *e, struct vmdk_stream **out);
void vmdk_stream_free (struct vmdk_stream *s);
int vmdk_stream_write (struct vdk_node *n, struct vmdk_stream *s, const void *buf,
                       size_t len, uint64_t off);
int vmdk_stream_finish (struct vdk_node *n, struct vmdk_stream *s);
/* Reads while writing: from the buffered grain or the appended ones. */
int vmdk_stream_map (struct vmdk_stream *s, uint64_t off, uint64_t len, struct vdk_extent *x);
int vmdk_stream_read (struct vdk_node *n, struct vmdk_stream *s, uint64_t off, size_t len,
                      void *buf);
/* Write the metadata tail of an empty stream image at OFF (create). */
int vmdk_stream_write_empty_tail (struct vdk_node *file, uint64_t off, const uint8_t *hdr,
                                  uint64_t capacity, uint64_t grain, uint32_t gtes);

#endif
