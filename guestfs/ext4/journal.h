/* jbd2 journal replay for the ext3/ext4 reader, in memory.
 *
 * When a filesystem needs recovery, the committed transactions of its
 * journal hold newer copies of some filesystem blocks.  jbd2_replay_load
 * walks the log the way the kernel's recovery does (scan for the end of the
 * log, collect revoke records, then replay) but writes nothing: it builds a
 * map from filesystem block to the journal block holding its newest
 * committed copy, and the reader serves those blocks from the journal. */
#ifndef VDK_GUESTFS_EXT4_JOURNAL_H
#define VDK_GUESTFS_EXT4_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guestfs/fs.h"

/* The journal's blocks as the filesystem sees them: logical journal block
 * LBLK lives at filesystem block *PBLK, and *COUNT blocks continue the same
 * run (>= 1).  0 or -errno. */
typedef int (*jbd2_bmap_fn) (void *opaque, uint64_t lblk, uint64_t *pblk, uint64_t *count);

struct jbd2_map;

struct jbd2_info {
  uint64_t transactions;      /* committed transactions replayed */
  uint64_t blocks;            /* distinct filesystem blocks replaced */
  uint64_t revoked;           /* block copies skipped because revoked */
  uint64_t bad_csum;          /* block copies skipped: data checksum mismatch */
};

/* Read the journal of DEV (JOURNAL_BLOCKS blocks of BLOCK_SIZE, mapped by
 * BMAP) whose filesystem has FS_BLOCKS blocks.  On success *OUT is the
 * replay map, or NULL when there is nothing to replay (clean journal).
 * Problems that stop the replay early (a transaction that is not committed,
 * a bad checksum, a block number past the filesystem) end the log there and
 * are reported with gfs_warn; a journal that cannot be used at all (bad
 * superblock, unsupported features) is an error (-errno, message set). */
int jbd2_replay_load (struct gfs_dev *dev, uint32_t block_size, uint64_t fs_blocks,
                      uint64_t journal_blocks, jbd2_bmap_fn bmap, void *opaque,
                      struct jbd2_map **out, struct jbd2_info *info);
/* Filesystem block FSBLK: true with *JBLK (filesystem block of the journal
 * copy) and *ESCAPED (its first 4 bytes must be restored to the jbd2
 * magic) when the journal replaces it. */
bool jbd2_map_lookup (const struct jbd2_map *m, uint64_t fsblk, uint64_t *jblk, bool *escaped);
void jbd2_map_free (struct jbd2_map *m);

#define JBD2_MAGIC 0xC03B3998u

/* CRC32c (Castagnoli) without pre/post inversion (e2fsprogs'
 * ext2fs_crc32c_le, the kernel's crc32c). */
uint32_t gfs_crc32c (uint32_t crc, const void *buf, size_t len);

#endif
