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

#endif
