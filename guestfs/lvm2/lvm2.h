/* LVM2 on-disk reader: PV label, metadata areas, the text metadata format
 * and the VG model (PVs, LVs, segments).  Reusable by the pool writer.
 * Layout notes: docs in the lvm2 source (lib/format_text/layout.h). */
#ifndef VDK_GUESTFS_LVM2_H
#define VDK_GUESTFS_LVM2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guestfs/fs.h"

#define LVM2_MAX_TEXT     (16u << 20)  /* metadata text cap */
#define LVM2_MAX_DEPTH    32
#define LVM2_MAX_NODES    200000
#define LVM2_MAX_PVS      1024
#define LVM2_MAX_LVS      4096
#define LVM2_MAX_SEGS     65536
#define LVM2_CRC_INIT     0xf597a6cfu
#define LVM2_MDA_MAGIC    " LVM2 x[5A%r0N*>"

uint32_t lvm2_crc (uint32_t crc, const void *buf, size_t len);

struct lvm2_label {
  uint64_t sector;            /* where the label was found (0..3) */
  char pv_uuid[33];           /* 32 chars, no dashes */
  uint64_t dev_size;
  uint64_t data_offset;       /* first data area (bytes) */
  unsigned n_mdas;
  uint64_t mda_offset[2], mda_size[2];
};

/* 1 found (and CRC correct), 0 no label, <0 error (bad CRC...). */
int lvm2_read_label (struct gfs_dev *dev, struct lvm2_label *out);
/* The committed metadata text of the first readable metadata area (highest
 * seqno is chosen by the caller across PVs).  *text is NUL-terminated. */
int lvm2_read_text (struct gfs_dev *dev, const struct lvm2_label *l, char **text, size_t *len);

/* The text format: a tree of sections and key = value assignments. */
enum lvm2_vtype { LVM2_INT, LVM2_STR, LVM2_LIST, LVM2_SECTION };
struct lvm2_value {
  enum lvm2_vtype type;
  char *key;                  /* NULL for list items */
  int64_t i;
  char *s;
  struct lvm2_value *items;   /* list items or section children */
  size_t n;
};
int lvm2_parse (const char *text, size_t len, struct lvm2_value **root);
void lvm2_value_free (struct lvm2_value *v);
const struct lvm2_value *lvm2_get (const struct lvm2_value *sec, const char *key);

struct lvm2_stripe { uint32_t pv; uint64_t pe; };
struct lvm2_segment {
  uint64_t start_extent, extent_count;
  char type[32];              /* "striped", "thin", ... */
  uint32_t stripe_count;
  uint64_t stripe_size;       /* sectors (striped with stripe_count > 1) */
  struct lvm2_stripe *stripes;
};
struct lvm2_lv {
  char name[128];
  char id[40];
  bool visible;
  uint64_t extents;           /* sum of segment extent counts */
  int64_t creation_time;      /* 0: not recorded */
  char creation_host[128];
  struct lvm2_segment *segs;
  size_t n_segs;
};
struct lvm2_pv {
  char name[64];              /* "pv0" */
  char id[40];                /* dashed */
  uint64_t pe_start;          /* sectors */
  uint64_t pe_count;
  uint64_t dev_size;          /* sectors */
};
struct lvm2_vg {
  char name[128];
  char id[40];
  uint64_t seqno;
  uint64_t extent_size;       /* sectors */
  struct lvm2_pv *pvs;
  size_t n_pvs;
  struct lvm2_lv *lvs;
  size_t n_lvs;
};
/* Build the VG model from parsed text; NAME names the source for errors. */
int lvm2_vg_from_text (const struct lvm2_value *root, const char *name, struct lvm2_vg **out);
void lvm2_vg_free (struct lvm2_vg *vg);
/* "abcdef..." (32) -> "abcdef-ghij-...": out has room for 39 bytes. */
void lvm2_dash_id (const char *raw, char out[40]);


/* ---- writer (write.c): what pvcreate/vgcreate/lvcreate write ---- */
#define LVM2_SECTOR       512u
#define LVM2_MDA_START    4096u            /* first metadata area */
#define LVM2_PE_START     (1u << 20)       /* default data offset (bytes) */
#define LVM2_EXTENT_SIZE  8192u            /* default extent size (sectors: 4 MiB) */

/* A device for the reader over an open file descriptor (stack object, no
 * close callback; NAME must outlive it). */
void lvm2_fd_dev (struct gfs_dev *dev, int fd, const char *name, uint64_t size);
/* A random LVM2 UUID: 32 characters of [0-9a-zA-Z], NUL-terminated. */
int lvm2_gen_id (char out[33]);
/* Write the label sector (sector 1) with its PV header: one data area
 * starting at PE_START (bytes), one metadata area; IN_VG sets PV_EXT_USED. */
int lvm2_write_label (int fd, const char *name, const char *pv_uuid, uint64_t dev_size,
                      uint64_t pe_start, uint64_t mda_start, uint64_t mda_size, bool in_vg);
/* Write an empty metadata area header (no committed text). */
int lvm2_mda_init (int fd, const char *name, uint64_t mda_start, uint64_t mda_size);
/* Where the next text goes in the ring after the text at OLD_OFF+OLD_SIZE
 * (0, 0: none), relative to the area start. */
uint64_t lvm2_mda_next_offset (uint64_t old_off, uint64_t old_size, uint64_t mda_size);
/* The largest text (NUL included) an area of MDA_SIZE bytes holds. */
uint64_t lvm2_mda_max_text (uint64_t mda_size);
/* Commit TEXT (SIZE bytes, its NUL included) as the area's new metadata:
 * written after the current text (wrapping around the ring), then the
 * header's raw_locn[0] and checksums. */
int lvm2_mda_commit (int fd, const char *name, uint64_t mda_start, uint64_t mda_size,
                     const char *text, size_t size);
/* VG -> text as lvm2 writes it into metadata areas (NUL-terminated; *LEN
 * counts the NUL).  DEVICES[i] is the device hint of PV i. */
int lvm2_format_text (const struct lvm2_vg *vg, const char *const *devices, const char *desc,
                      char **out, size_t *len);
/* Can vdk rewrite this VG without losing anything?  Only plain linear
 * (striped, one stripe) visible LVs and the keys lvcreate writes. */
int lvm2_vg_writable (const struct lvm2_value *root, const struct lvm2_vg *vg, const char *name);

#endif
