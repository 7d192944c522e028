/* Partition tables (GPT and DOS/MBR) read into a model, changed and written
 * back whole: the on-disk side of the "disk" pool type.
 *
 * Everything read is bounds-checked; loops over on-disk chains are capped.
 * No printing: functions return >= 0 or -errno and describe problems in
 * pl_label.err. */
#ifndef VDK_POOL_DISK_LABEL_H
#define VDK_POOL_DISK_LABEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PL_MAX_PARTS     256      /* GPT entries used / MBR logical partitions */
#define PL_MAX_LOGICAL   128
#define PL_MAX_GPT_ENTRY_BYTES (1u << 20)
#define PL_NAME_CHARS    36       /* GPT partition name, UTF-16 code units */

enum pl_kind { PL_NONE, PL_GPT, PL_DOS };

struct pl_part {
  unsigned num;                /* GPT: entry index + 1; DOS: 1-4 primary, 5.. logical */
  uint64_t start, size;        /* in sectors */
  /* GPT */
  uint8_t type[16], guid[16];  /* as stored (mixed endian) */
  uint64_t attrs;
  uint16_t name16[PL_NAME_CHARS];
  char name[PL_NAME_CHARS + 1];   /* ASCII view of the name ('?' for the rest) */
  /* DOS */
  uint8_t mbr_type, boot;
  bool extended, logical;
  uint64_t ebr;                /* logical: sector of its extended boot record */
};

struct pl_label {
  enum pl_kind kind;
  uint32_t ss;                 /* logical sector size */
  uint64_t nsectors;
  uint8_t boot_code[440];      /* kept from sector 0 */
  /* GPT */
  uint8_t disk_guid[16];
  uint32_t n_entries, entry_size;
  uint64_t first_usable, last_usable;
  bool gpt_damaged;            /* one header was bad: writing repairs it */
  /* DOS */
  uint32_t disk_sig;
  size_t n;
  struct pl_part parts[PL_MAX_PARTS + 4];
  char err[512];
};

/* Read the table of FD (SIZE bytes, logical sectors of SS bytes).  Returns
 * 1 and fills L when a table was found, 0 when there is none (L->kind =
 * PL_NONE), -errno with L->err on damage or I/O errors. */
int pl_read (int fd, uint64_t size, uint32_t ss, struct pl_label *l);
/* The same through a reader (returns 0 or -errno, reads all of LEN).  With
 * PL_READ_LENIENT damaged parts are skipped with a message to WARN (may be
 * NULL) instead of failing, as a reader of guest disks wants; the label
 * is then for reading only (no overlap or usable-area checks). */
typedef int (*pl_pread_fn) (void *opaque, void *buf, size_t len, uint64_t off);
typedef void (*pl_warn_fn) (void *opaque, const char *msg);
#define PL_READ_LENIENT 0x1u
int pl_read_with (pl_pread_fn fn, pl_warn_fn warn, void *opaque, uint64_t size, uint32_t ss,
                  unsigned flags, struct pl_label *l);
/* A new empty label of KIND on a disk of SIZE bytes. */
int pl_new (struct pl_label *l, enum pl_kind kind, uint64_t size, uint32_t ss);
/* Write the whole table (both GPT copies, the protective MBR / the MBR and
 * every EBR). */
int pl_write (int fd, struct pl_label *l);
/* Zero what an old label or filesystem left at the start and the end. */
int pl_wipe_ends (int fd, uint64_t size, bool regular_file);

/* Place a new partition of SIZE sectors (aligned like parted/sfdisk) and
 * add it; *OUT = its index in L->parts (parts stay sorted by number).
 * DOS: a fourth partition becomes an extended one holding logicals. */
int pl_add (struct pl_label *l, uint64_t size, const char *name, size_t *out);
int pl_remove (struct pl_label *l, size_t idx);
/* Grow (or shrink) partition IDX to SIZE sectors, into free space after it. */
int pl_resize (struct pl_label *l, size_t idx, uint64_t size);
/* The partition number pl_add would give a new partition of SIZE sectors. */
int pl_next_num (const struct pl_label *l, uint64_t size, unsigned *num);
/* Free space usable by new partitions (sectors), and the largest piece. */
uint64_t pl_free_sectors (const struct pl_label *l, uint64_t *largest);
uint64_t pl_align (const struct pl_label *l);

const char *pl_kind_name (enum pl_kind k);
uint32_t pl_crc32 (const void *buf, size_t len);

#endif
