/* VHDX driver internals ([MS-VHDX]).  All on-disk fields are little-endian;
 * GUIDs are kept as their 16 on-disk bytes. */
#ifndef VDK_VHDX_H
#define VDK_VHDX_H

#include "../../libdisk/internal.h"

#define KiB 1024ull
#define MiB (1024ull * 1024)

#define VHDX_HEADER1_OFF (64 * KiB)
#define VHDX_HEADER2_OFF (128 * KiB)
#define VHDX_HEADER_SIZE 4096u
#define VHDX_RT1_OFF (192 * KiB)
#define VHDX_RT2_OFF (256 * KiB)
#define VHDX_RT_SIZE (64 * KiB)
#define VHDX_META_TABLE_SIZE (64 * KiB)
#define VHDX_LOG_SECTOR 4096u
#define VHDX_MAX_ENTRIES 2047
#define VHDX_MAX_VSIZE (64ull << 40)        /* 64 TiB */
#define VHDX_MAX_LOG (VDK_MAX_META_ALLOC)   /* we read the whole log */

/* Payload block states (low 3 bits of a BAT entry). */
enum {
  PB_NOT_PRESENT = 0, PB_UNDEFINED = 1, PB_ZERO = 2, PB_UNMAPPED = 3,
  PB_FULLY_PRESENT = 6, PB_PARTIALLY_PRESENT = 7,
};
#define SB_PRESENT 6
#define BAT_STATE(e) ((unsigned) ((e) & 7))
#define BAT_OFFSET(e) ((e) & ~(uint64_t) 0xFFFFF)   /* FileOffsetMB << 20 */

/* One sector (or zero range) the log says to write: used to replay a dirty
 * log in memory on read-only opens. */
struct vhdx_patch {
  uint64_t off, len;
  uint8_t *data;            /* VHDX_LOG_SECTOR bytes, or NULL = zeroes */
};

struct vhdx_priv {
  /* header */
  uint8_t hdr[VHDX_HEADER_SIZE];    /* the current header, as on disk */
  int cur_slot;                     /* 0: header 1, 1: header 2 */
  uint64_t seq;
  uint64_t log_offset;
  uint32_t log_length;
  bool session_guids_done;          /* FileWrite/DataWrite GUIDs renewed */

  /* regions */
  uint64_t bat_offset, bat_length, meta_offset, meta_length;

  /* metadata */
  uint32_t block_size, lss, pss;
  bool leave_allocated, has_parent;
  uint64_t vsize;
  uint64_t vsize_item_off;          /* file offset of the virtual size item */
  uint8_t page83[16];
  bool have_page83;
  uint64_t chunk_ratio, data_blocks, bat_entries;
  char *parent_linkage, *parent_linkage2, *relative_path, *volume_path, *abs_path;

  uint64_t *bat;                    /* host-endian */
  uint8_t *bat_dirty;               /* one byte per 4 KiB BAT sector */
  size_t n_dirty;

  /* read-only open of an image with a dirty log: the log, applied in memory */
  struct vhdx_patch *patches;
  size_t n_patches;

  /* cached sector bitmap bytes of one payload block (differencing images) */
  uint64_t bm_block;                /* UINT64_MAX: none */
  uint8_t *bm;
};

/* crc32c.c */
uint32_t vhdx_crc32c_update (uint32_t crc, const void *buf, size_t len);
/* CRC-32C of BUF with the 4 bytes at SKIP_AT taken as zero (SKIP_AT >= LEN:
 * none). */
uint32_t vhdx_crc32c (const void *buf, size_t len, size_t skip_at);

/* vhdx-log.c */
/* If the header's log GUID is set, find the active log sequence; replay it
 * to the file (read-write) or into p->patches (read-only). */
int vhdx_log_open (struct vdk_node *n, struct vhdx_priv *p, bool rw);
/* Write the 4 KiB-aligned sectors SECS (N of them, each 4096 bytes at
 * OFFS[i]) crash-safely: log entry, flush, in place, flush, log cleared. */
int vhdx_log_write (struct vdk_node *n, struct vhdx_priv *p, const uint64_t *offs,
                    uint8_t *const *secs, size_t nsec);
/* Read [off, off+len) of the file with the in-memory log applied. */
int vhdx_meta_pread (struct vdk_node *n, struct vhdx_priv *p, void *buf, size_t len,
                     uint64_t off);
void vhdx_free_patches (struct vhdx_priv *p);

/* vhdx.c */
int vhdx_write_header (struct vdk_node *n, struct vhdx_priv *p, const uint8_t *log_guid);
void vhdx_random_guid (uint8_t *g);
bool vhdx_guid_is_zero (const uint8_t *g);

/* Header field offsets. */
enum {
  H_SIG = 0, H_CSUM = 4, H_SEQ = 8, H_FILE_GUID = 16, H_DATA_GUID = 32,
  H_LOG_GUID = 48, H_LOG_VERSION = 64, H_VERSION = 66, H_LOG_LENGTH = 68,
  H_LOG_OFFSET = 72,
};

#endif
