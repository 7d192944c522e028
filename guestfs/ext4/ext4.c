/* ext2/3/4 read-only driver.
 *
 * On-disk structures from the kernel's Documentation/filesystems/ext4/.
 * Every field is checked before use; extent trees must lose one level of
 * depth per step, indirect chains are bounded by the block size, and every
 * block number must lie inside the filesystem. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "guestfs/guestfs.h"
#include "guestfs/ext4/journal.h"

#define SB_OFFSET 1024
#define EXT4_MAGIC 0xEF53

#define COMPAT_HAS_JOURNAL    0x4
#define INCOMPAT_FILETYPE     0x2
#define INCOMPAT_RECOVER      0x4
#define INCOMPAT_JOURNAL_DEV  0x8
#define INCOMPAT_META_BG      0x10
#define INCOMPAT_EXTENTS      0x40
#define INCOMPAT_64BIT        0x80
#define INCOMPAT_MMP          0x100
#define INCOMPAT_FLEX_BG      0x200
#define INCOMPAT_EA_INODE     0x400
#define INCOMPAT_DIRDATA      0x1000
#define INCOMPAT_CSUM_SEED    0x2000
#define INCOMPAT_LARGEDIR     0x4000
#define INCOMPAT_INLINE_DATA  0x8000
#define INCOMPAT_ENCRYPT      0x10000
#define INCOMPAT_CASEFOLD     0x20000
#define RO_COMPAT_SPARSE_SUPER 0x1
#define RO_COMPAT_EXT4_MASK   (0x8 | 0x10 | 0x20 | 0x40 | 0x400)  /* huge_file, gdt_csum, dir_nlink, extra_isize, metadata_csum */

#define INCOMPAT_SUPPORTED (INCOMPAT_FILETYPE | INCOMPAT_RECOVER | INCOMPAT_META_BG | \
                            INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_MMP | \
                            INCOMPAT_FLEX_BG | INCOMPAT_EA_INODE | INCOMPAT_CSUM_SEED | \
                            INCOMPAT_LARGEDIR | INCOMPAT_INLINE_DATA | INCOMPAT_CASEFOLD)

#define INODE_FLAG_HUGE_FILE   0x40000
#define INODE_FLAG_EXTENTS     0x80000
#define INODE_FLAG_INLINE_DATA 0x10000000

#define EXTENT_MAGIC 0xF30A
#define MAX_EXTENT_DEPTH 5
#define MAX_DIR_SIZE (256ull << 20)

struct ext4 {
  struct gfs_fs fs;              /* first: the generic header */
  uint8_t sb[1024];
  uint32_t block_size;
  uint64_t blocks_count;
  uint32_t inodes_count, inodes_per_group, blocks_per_group;
  uint32_t first_data_block, first_meta_bg;
  uint32_t inode_size, desc_size;
  uint32_t incompat, ro_compat, compat;
  uint64_t groups;
  uint32_t cluster_ratio;        /* blocks per cluster (bigalloc), else 1 */
  uint8_t *blockbuf;             /* scratch, one block */
  struct gfs_dev *rdev;          /* what blocks are read from: the device, or
                                  * the device with the journal replayed */
  struct gfs_dev *overlay;       /* that replay view (owned), or NULL */
};

/* A decoded inode: the raw bytes plus the fields we use. */
struct inode {
  uint8_t raw[1024];
  uint32_t size_raw;             /* bytes of raw that are valid */
  uint32_t mode, flags;
  uint64_t size;
  uint64_t blocks;               /* 512-byte units */
};

#define EXT(fs) ((struct ext4 *) (fs))

static int
read_block (struct ext4 *e, uint64_t blk, void *buf)
{
  if (blk >= e->blocks_count)
    return gfs_err (EIO, "%s: ext4: block %" PRIu64 " is beyond the end of the filesystem (%" PRIu64 " blocks)",
                    e->fs.dev->name, blk, e->blocks_count);
  return gfs_dev_pread (e->rdev, buf, e->block_size, blk * e->block_size);
}

static int
ext4_probe (struct gfs_dev *dev)
{
  uint8_t sb[1024];
  int r;

  if (dev->size < SB_OFFSET + 1024)
    return 0;
  r = gfs_dev_pread (dev, sb, sizeof sb, SB_OFFSET);
  if (r < 0)
    return r;
  if (gfs_le16 (sb + 56) != EXT4_MAGIC)
    return 0;
  /* An external journal device is not a filesystem with files. */
  if (gfs_le32 (sb + 96) & INCOMPAT_JOURNAL_DEV)
    return 0;
  return 1;
}

static bool
is_power_of (uint64_t n, uint64_t base)
{
  if (n == 0)
    return false;
  while (n % base == 0)
    n /= base;
  return n == 1;
}

static bool
group_has_super (struct ext4 *e, uint64_t g)
{
  if (!(e->ro_compat & RO_COMPAT_SPARSE_SUPER))
    return true;
  return g <= 1 || is_power_of (g, 3) || is_power_of (g, 5) || is_power_of (g, 7);
}

static int
inode_table_of (struct ext4 *e, uint64_t group, uint64_t *out)
{
  uint64_t per_block = e->block_size / e->desc_size;
  uint64_t dblock_idx = group / per_block, dblk, tab;
  uint32_t off = (uint32_t) (group % per_block) * e->desc_size;
  uint8_t d[64];
  int r;

  if ((e->incompat & INCOMPAT_META_BG) && dblock_idx >= e->first_meta_bg) {
    uint64_t g0 = dblock_idx * per_block;
    dblk = (uint64_t) e->first_data_block + g0 * e->blocks_per_group +
           (group_has_super (e, g0) ? 1 : 0);
    /* bigalloc with 1 KiB blocks: group 0 starts at block 0, the
     * superblock is block 1 */
    if (g0 == 0 && e->first_data_block == 0 && e->block_size == 1024)
      dblk++;
  }
  else   /* right after the superblock (block 1 of 1 KiB, else block 0) */
    dblk = SB_OFFSET / e->block_size + 1 + dblock_idx;
  if (dblk >= e->blocks_count)
    return gfs_err (EIO, "%s: ext4: group descriptor block %" PRIu64 " is beyond the end",
                    e->fs.dev->name, dblk);
  r = gfs_dev_pread (e->rdev, d, e->desc_size, dblk * e->block_size + off);
  if (r < 0)
    return r;
  tab = gfs_le32 (d + 8);
  if (e->desc_size >= 64)
    tab |= (uint64_t) gfs_le32 (d + 0x28) << 32;
  if (tab == 0 || tab >= e->blocks_count)
    return gfs_err (EIO, "%s: ext4: group %" PRIu64 ": inode table at block %" PRIu64 " is outside the filesystem",
                    e->fs.dev->name, group, tab);
  *out = tab;
  return 0;
}

static int
read_inode (struct ext4 *e, uint64_t ino, struct inode *in)
{
  uint64_t group, index, tab = 0, off;
  int r;

  if (ino < 1 || ino > e->inodes_count)
    return gfs_err (EIO, "%s: ext4: inode number %" PRIu64 " is out of range (1..%" PRIu32 ")",
                    e->fs.dev->name, ino, e->inodes_count);
  group = (ino - 1) / e->inodes_per_group;
  index = (ino - 1) % e->inodes_per_group;
  r = inode_table_of (e, group, &tab);
  if (r < 0)
    return r;
  off = tab * e->block_size + index * e->inode_size;
  if ((off + e->inode_size + e->block_size - 1) / e->block_size > e->blocks_count)
    return gfs_err (EIO, "%s: ext4: inode %" PRIu64 " is beyond the end of the filesystem",
                    e->fs.dev->name, ino);
  memset (in, 0, sizeof *in);
  in->size_raw = e->inode_size < sizeof in->raw ? e->inode_size : sizeof in->raw;
  r = gfs_dev_pread (e->rdev, in->raw, in->size_raw, off);
  if (r < 0)
    return r;
  in->mode = gfs_le16 (in->raw);
  in->flags = gfs_le32 (in->raw + 32);
  in->size = gfs_le32 (in->raw + 4) | (uint64_t) gfs_le32 (in->raw + 108) << 32;
  in->blocks = gfs_le32 (in->raw + 28) | (uint64_t) gfs_le16 (in->raw + 116) << 32;
  if (in->flags & INODE_FLAG_HUGE_FILE)
    in->blocks *= e->block_size / 512;
  if (in->size > (1ull << 50))
    return gfs_err (EIO, "%s: ext4: inode %" PRIu64 " has an impossible size %" PRIu64,
                    e->fs.dev->name, ino, in->size);
  return 0;
}

/* ---- block mapping ---- */

/* Map logical block LBLK of inode IN: *pblk = physical block (0 = hole,
 * reads as zeroes), *count = how many following blocks continue the same
 * way (>= 1). */
static int
map_extents (struct ext4 *e, uint64_t ino, struct inode *in, uint64_t lblk,
             uint64_t *pblk, uint64_t *count)
{
  const uint8_t *node = in->raw + 40;
  size_t node_len = 60;
  int expect_depth = -1;
  uint8_t *buf = e->blockbuf;

  for (int level = 0;; level++) {
    uint16_t magic = gfs_le16 (node), entries = gfs_le16 (node + 2);
    uint16_t max = gfs_le16 (node + 4), depth = gfs_le16 (node + 6);
    const uint8_t *best = NULL, *next = NULL;

    if (magic != EXTENT_MAGIC)
      return gfs_err (EIO, "%s: ext4: inode %" PRIu64 ": bad extent header magic %#x",
                      e->fs.dev->name, ino, magic);
    if (depth > MAX_EXTENT_DEPTH || (expect_depth >= 0 && depth != expect_depth) ||
        level > MAX_EXTENT_DEPTH)
      return gfs_err (EIO, "%s: ext4: inode %" PRIu64 ": extent tree depth %u is invalid (loop or corruption)",
                      e->fs.dev->name, ino, depth);
    if (entries > max || 12 + (size_t) max * 12 > node_len)
      return gfs_err (EIO, "%s: ext4: inode %" PRIu64 ": extent node has %u entries, room for %zu",
                      e->fs.dev->name, ino, entries, (node_len - 12) / 12);
    for (unsigned i = 0; i < entries; i++) {
      const uint8_t *ent = node + 12 + 12 * i;
      if (gfs_le32 (ent) <= lblk)
        best = ent;
      else {
        next = ent;
        break;
      }
    }
    if (depth == 0) {
      uint64_t first, len, start;
      bool uninit;
      if (best) {
        first = gfs_le32 (best);
        len = gfs_le16 (best + 4);
        uninit = len > 32768;
        if (uninit)
          len -= 32768;
        start = gfs_le32 (best + 8) | (uint64_t) gfs_le16 (best + 6) << 32;
        if (lblk < first + len) {
          if (start + len > e->blocks_count || start + len < start)
            return gfs_err (EIO, "%s: ext4: inode %" PRIu64 ": extent points past the end of the filesystem (block %" PRIu64 "+%" PRIu64 ")",
                            e->fs.dev->name, ino, start, len);
          *pblk = uninit ? 0 : start + (lblk - first);
          *count = first + len - lblk;
          return 0;
        }
      }
      /* hole up to the next extent */
      *pblk = 0;
      *count = next ? gfs_le32 (next) - lblk : UINT32_MAX;
      if (*count == 0)
        *count = 1;
      return 0;
    }
    if (!best) {
      *pblk = 0;
      *count = next ? gfs_le32 (next) - lblk : 1;
      if (*count == 0)
        *count = 1;
      return 0;
    }
    {
      uint64_t child = gfs_le32 (best + 4) | (uint64_t) gfs_le16 (best + 8) << 32;
      int r = read_block (e, child, buf);
      if (r < 0)
        return r;
      node = buf;
      node_len = e->block_size;
      expect_depth = depth - 1;
    }
  }
}

static int
map_indirect (struct ext4 *e, uint64_t ino, struct inode *in, uint64_t lblk,
              uint64_t *pblk, uint64_t *count)
{
  uint64_t per = e->block_size / 4;
  uint64_t blk;
  int levels;

  *count = 1;
  if (lblk < 12) {
    blk = gfs_le32 (in->raw + 40 + 4 * lblk);
    levels = 0;
  }
  else if ((lblk -= 12) < per) {
    blk = gfs_le32 (in->raw + 40 + 48);
    levels = 1;
  }
  else if ((lblk -= per) < per * per) {
    blk = gfs_le32 (in->raw + 40 + 52);
    levels = 2;
  }
  else if ((lblk -= per * per) < per * per * per) {
    blk = gfs_le32 (in->raw + 40 + 56);
    levels = 3;
  }
  else
    return gfs_err (EIO, "%s: ext4: inode %" PRIu64 ": block beyond the indirect map",
                    e->fs.dev->name, ino);
  for (int l = levels; l > 0; l--) {
    uint64_t div = 1;
    int r;
    for (int k = 1; k < l; k++)
      div *= per;
    if (blk == 0)
      break;
    r = read_block (e, blk, e->blockbuf);
    if (r < 0)
      return r;
    blk = gfs_le32 (e->blockbuf + 4 * ((lblk / div) % per));
  }
  if (blk >= e->blocks_count)
    return gfs_err (EIO, "%s: ext4: inode %" PRIu64 ": block %" PRIu64 " is beyond the end of the filesystem",
                    e->fs.dev->name, ino, blk);
  *pblk = blk;
  return 0;
}

static int
map_block (struct ext4 *e, uint64_t ino, struct inode *in, uint64_t lblk,
           uint64_t *pblk, uint64_t *count)
{
  if (in->flags & INODE_FLAG_EXTENTS)
    return map_extents (e, ino, in, lblk, pblk, count);
  return map_indirect (e, ino, in, lblk, pblk, count);
}

/* ---- in-inode xattrs (inline data lives in "system.data") ---- */

/* Walk the in-inode extended attributes; CB gets (index, name, value). */
static int
ibody_xattrs (struct ext4 *e, uint64_t ino, struct inode *in,
              int (*cb) (void *, int, const char *, size_t, const uint8_t *, size_t),
              void *opaque)
{
  uint32_t extra, start, end = in->size_raw;
  const uint8_t *base;
  uint32_t p;

  if (e->inode_size <= 128)
    return 0;
  extra = gfs_le16 (in->raw + 128);
  if (128 + extra + 4 > end)
    return 0;
  start = 128 + extra;
  if (gfs_le32 (in->raw + start) != 0xEA020000)
    return 0;
  base = in->raw + start + 4;        /* value offsets are relative to here */
  p = start + 4;
  for (int n = 0; n < 256; n++) {
    uint8_t nlen, idx;
    uint16_t voff;
    uint32_t vsize;
    int r;

    if (p + 16 > end || gfs_le32 (in->raw + p) == 0)
      return 0;
    nlen = in->raw[p];
    idx = in->raw[p + 1];
    voff = gfs_le16 (in->raw + p + 2);
    vsize = gfs_le32 (in->raw + p + 8);
    if (p + 16 + nlen > end)
      return gfs_err (EIO, "%s: ext4: inode %" PRIu64 ": xattr entry runs past the inode", e->fs.dev->name, ino);
    if (gfs_le32 (in->raw + p + 4) != 0)        /* value in another inode */
      vsize = 0;
    else if ((size_t) (base - in->raw) + voff + vsize > end)
      return gfs_err (EIO, "%s: ext4: inode %" PRIu64 ": xattr value runs past the inode", e->fs.dev->name, ino);
    r = cb (opaque, idx, (const char *) in->raw + p + 16, nlen, base + voff, vsize);
    if (r)
      return r;
    p += (16 + nlen + 3) & ~3u;
  }
  return 0;
}

struct inline_find {
  const uint8_t *val;
  size_t len;
};

static int
find_system_data (void *opaque, int idx, const char *name, size_t nlen,
                  const uint8_t *val, size_t vlen)
{
  struct inline_find *f = opaque;
  if (idx == 7 && nlen == 4 && !memcmp (name, "data", 4)) {
    f->val = val;
    f->len = vlen;
    return 1;
  }
  return 0;
}

/* The inline data of an inode: 60 bytes of i_block + system.data. */
static int
inline_data (struct ext4 *e, uint64_t ino, struct inode *in, uint8_t *out, size_t cap, size_t *len)
{
  struct inline_find f = { NULL, 0 };
  int r = ibody_xattrs (e, ino, in, find_system_data, &f);
  size_t n = 60;

  if (r < 0)
    return r;
  if (cap < 60)
    return gfs_err (EINVAL, "inline buffer too small");
  memcpy (out, in->raw + 40, 60);
  if (f.val) {
    if (f.len > cap - 60)
      f.len = cap - 60;
    memcpy (out + 60, f.val, f.len);
    n += f.len;
  }
  *len = n;
  return 0;
}

/* ---- operations ---- */

/* Read and check the superblock from e->rdev; sets the geometry fields
 * and allocates e->blockbuf. */
static int
load_super (struct ext4 *e)
{
  struct gfs_dev *dev = e->fs.dev;
  uint32_t log;
  int r;

  free (e->blockbuf);
  e->blockbuf = NULL;
  r = gfs_dev_pread (e->rdev, e->sb, sizeof e->sb, SB_OFFSET);
  if (r < 0)
    goto fail;
  r = -EINVAL;
  if (gfs_le16 (e->sb + 56) != EXT4_MAGIC) {
    r = gfs_err (EINVAL, "%s: ext4: bad superblock magic", dev->name);
    goto fail;
  }
  log = gfs_le32 (e->sb + 24);
  if (log > 6) {
    r = gfs_err (EINVAL, "%s: ext4: corrupt superblock: block size 2^%" PRIu32 " KiB is invalid",
                 dev->name, log);
    goto fail;
  }
  e->block_size = 1024u << log;
  e->compat = gfs_le32 (e->sb + 92);
  e->incompat = gfs_le32 (e->sb + 96);
  e->ro_compat = gfs_le32 (e->sb + 100);
  e->inodes_count = gfs_le32 (e->sb + 0);
  e->blocks_count = gfs_le32 (e->sb + 4);
  if (e->incompat & INCOMPAT_64BIT)
    e->blocks_count |= (uint64_t) gfs_le32 (e->sb + 336) << 32;
  e->first_data_block = gfs_le32 (e->sb + 20);
  e->blocks_per_group = gfs_le32 (e->sb + 32);
  e->inodes_per_group = gfs_le32 (e->sb + 40);
  e->first_meta_bg = gfs_le32 (e->sb + 260);
  e->inode_size = gfs_le32 (e->sb + 76) == 0 ? 128 : gfs_le16 (e->sb + 88);
  e->desc_size = (e->incompat & INCOMPAT_64BIT) ? gfs_le16 (e->sb + 254) : 32;
  /* metadata_csum: the superblock checksum is cheap and catches a damaged
   * superblock before its fields are used (other checksums are not
   * verified). */
  if ((e->ro_compat & 0x400) && e->sb[0x175] == 1 &&
      gfs_crc32c (~0u, e->sb, 0x3fc) != gfs_le32 (e->sb + 0x3fc)) {
    r = gfs_err (EINVAL, "%s: ext4: superblock checksum mismatch (corrupt superblock)", dev->name);
    goto fail;
  }
  if (e->incompat & ~INCOMPAT_SUPPORTED) {
    r = gfs_err (ENOTSUP, "%s: ext4: unsupported incompatible features %#" PRIx32,
                 dev->name, e->incompat & ~INCOMPAT_SUPPORTED);
    goto fail;
  }
  e->cluster_ratio = 1;
  if (e->ro_compat & 0x200) {           /* bigalloc: bitmaps count clusters */
    uint32_t logc = gfs_le32 (e->sb + 28);
    uint32_t cpg = gfs_le32 (e->sb + 36);
    if (logc < log || logc - log > 16 || cpg == 0 || cpg > 8 * e->block_size ||
        (uint64_t) cpg << (logc - log) != e->blocks_per_group) {
      r = gfs_err (EINVAL, "%s: ext4: corrupt superblock: bad bigalloc cluster geometry", dev->name);
      goto fail;
    }
    e->cluster_ratio = 1u << (logc - log);
  }
  if (e->blocks_per_group == 0 || e->blocks_per_group > 8ull * e->block_size * e->cluster_ratio ||
      e->inodes_per_group == 0 || e->inodes_per_group > 8 * e->block_size ||
      e->inodes_count == 0 || e->blocks_count == 0 ||
      e->first_data_block >= e->blocks_count ||
      e->inode_size < 128 || e->inode_size > e->block_size ||
      (e->inode_size & (e->inode_size - 1)) ||
      e->desc_size < 32 || e->desc_size > 64 || (e->desc_size & (e->desc_size - 1))) {
    r = gfs_err (EINVAL, "%s: ext4: corrupt superblock (block size %" PRIu32 ", %" PRIu64 " blocks, "
                 "%" PRIu32 " blocks/group, %" PRIu32 " inodes/group, inode size %" PRIu32 ")",
                 dev->name, e->block_size, e->blocks_count, e->blocks_per_group,
                 e->inodes_per_group, e->inode_size);
    goto fail;
  }
  if (e->blocks_count > dev->size / e->block_size) {
    r = gfs_err (EINVAL, "%s: ext4: filesystem (%" PRIu64 " blocks of %" PRIu32 ") is larger than the device (%" PRIu64 " bytes)",
                 dev->name, e->blocks_count, e->block_size, dev->size);
    goto fail;
  }
  e->groups = (e->blocks_count - e->first_data_block + e->blocks_per_group - 1) / e->blocks_per_group;
  if ((uint64_t) e->inodes_per_group * e->groups < e->inodes_count) {
    r = gfs_err (EINVAL, "%s: ext4: corrupt superblock: %" PRIu32 " inodes do not fit in %" PRIu64 " groups",
                 dev->name, e->inodes_count, e->groups);
    goto fail;
  }
  e->blockbuf = malloc (e->block_size);
  if (!e->blockbuf) {
    r = gfs_err (ENOMEM, "out of memory");
    goto fail;
  }
  return 0;
 fail:
  return r;
}

/* ---- journal replay ---- */

struct jnl_ctx {
  struct ext4 *e;
  uint64_t ino;
  struct inode in;
};

static int
jnl_bmap (void *opaque, uint64_t lblk, uint64_t *pblk, uint64_t *count)
{
  struct jnl_ctx *c = opaque;
  return map_block (c->e, c->ino, &c->in, lblk, pblk, count);
}

struct overlay {
  struct gfs_dev *lower;
  struct jbd2_map *map;
  uint32_t bs;
  uint8_t *scratch;
};

/* Reads of the filesystem with the journal replayed: blocks with a
 * committed copy in the journal come from there, the rest from the
 * device. */
static int
overlay_pread (struct gfs_dev *d, void *buf, size_t len, uint64_t off)
{
  struct overlay *o = d->priv;
  uint8_t *out = buf;

  while (len > 0) {
    uint64_t blk = off / o->bs, jblk;
    uint32_t in = off % o->bs;
    size_t n = o->bs - in;
    bool esc;
    int r;

    if (n > len)
      n = len;
    if (jbd2_map_lookup (o->map, blk, &jblk, &esc)) {
      r = gfs_dev_pread (o->lower, o->scratch, o->bs, jblk * o->bs);
      if (r < 0)
        return r;
      if (esc) {               /* the copy had the jbd2 magic escaped */
        o->scratch[0] = JBD2_MAGIC >> 24;
        o->scratch[1] = (JBD2_MAGIC >> 16) & 0xff;
        o->scratch[2] = (JBD2_MAGIC >> 8) & 0xff;
        o->scratch[3] = JBD2_MAGIC & 0xff;
      }
      memcpy (out, o->scratch + in, n);
    }
    else {
      /* a run of blocks the journal does not replace, in one read */
      while (n < len) {
        size_t step = len - n < o->bs ? len - n : o->bs;
        if (jbd2_map_lookup (o->map, (off + n) / o->bs, &jblk, &esc))
          break;
        n += step;
      }
      r = gfs_dev_pread (o->lower, out, n, off);
      if (r < 0)
        return r;
    }
    out += n;
    off += n;
    len -= n;
  }
  return 0;
}

static void
overlay_close (struct gfs_dev *d)
{
  struct overlay *o = d->priv;
  jbd2_map_free (o->map);
  free (o->scratch);
  free (o);
}

/* The filesystem needs recovery: replay its internal journal in memory.
 * Anything that prevents it is a warning, and the filesystem is read as
 * it is on disk. */
static void
replay_journal (struct ext4 *e)
{
  struct gfs_dev *dev = e->fs.dev;
  struct jnl_ctx c = { e, gfs_le32 (e->sb + 0xe0), { { 0 } } };
  struct jbd2_info info;
  struct jbd2_map *map = NULL;
  struct overlay *o;
  int r;

  if (!(e->compat & COMPAT_HAS_JOURNAL))
    return;
  if (c.ino == 0) {
    char uuid[37];
    gfs_uuid_str (e->sb + 0xd0, uuid);
    gfs_warn ("%s: ext4: the journal needs recovery but is on an external device "
              "(UUID %s, device %#" PRIx32 "); reading without replaying it",
              dev->name, uuid, gfs_le32 (e->sb + 0xe4));
    return;
  }
  r = read_inode (e, c.ino, &c.in);
  if (r == 0 && !S_ISREG (c.in.mode))
    r = gfs_err (EINVAL, "%s: ext4: journal inode %" PRIu64 " is not a regular file",
                 dev->name, c.ino);
  if (r == 0)
    r = jbd2_replay_load (dev, e->block_size, e->blocks_count, c.in.size / e->block_size,
                          jnl_bmap, &c, &map, &info);
  if (r < 0) {
    gfs_warn ("%s; reading without replaying the journal (recent changes may be missing)",
              disk_last_error ());
    return;
  }
  if (!map)
    return;
  o = calloc (1, sizeof *o);
  if (o)
    o->scratch = malloc (e->block_size);
  if (o && o->scratch) {
    o->lower = dev;
    o->map = map;
    o->bs = e->block_size;
    e->overlay = gfs_dev_new (dev->name, dev->size, overlay_pread, overlay_close, o);
  }
  if (!e->overlay) {
    if (o)
      free (o->scratch);
    free (o);
    jbd2_map_free (map);
    gfs_warn ("%s: ext4: out of memory for the journal replay; reading without it", dev->name);
    return;
  }
  /* the superblock itself may have a newer copy in the journal */
  e->rdev = e->overlay;
  r = load_super (e);
  if (r < 0) {
    gfs_warn ("%s; reading without replaying the journal", disk_last_error ());
    gfs_dev_free (e->overlay);
    e->overlay = NULL;
    e->rdev = dev;
    if (load_super (e) < 0)
      return;
  }
}

static int
ext4_open (struct gfs_dev *dev, struct gfs_fs **out)
{
  struct ext4 *e = calloc (1, sizeof *e);
  int r;

  if (!e)
    return gfs_err (ENOMEM, "out of memory");
  e->fs.dev = dev;
  e->rdev = dev;
  r = load_super (e);
  if (r < 0) {
    free (e->blockbuf);
    free (e);
    return r;
  }
  if (e->incompat & INCOMPAT_RECOVER) {
    replay_journal (e);
    if (!e->blockbuf) {         /* the superblock could not be read again */
      r = -EIO;
      gfs_dev_free (e->overlay);
      free (e);
      return r;
    }
  }
  {
    extern const struct gfs_fs_ops gfs_fs_ext4;
    e->fs.ops = &gfs_fs_ext4;
  }
  *out = &e->fs;
  return 0;
}

static void
ext4_close (struct gfs_fs *fs)
{
  struct ext4 *e = EXT (fs);
  free (e->blockbuf);
  gfs_dev_free (e->overlay);
  free (e);
}

static uint64_t
ext4_root_ino (struct gfs_fs *fs)
{
  (void) fs;
  return 2;
}

static int
ext4_getattr (struct gfs_fs *fs, uint64_t ino, struct gfs_stat *st)
{
  struct ext4 *e = EXT (fs);
  struct inode in;
  int r = read_inode (e, ino, &in);

  if (r < 0)
    return r;
  memset (st, 0, sizeof *st);
  st->ino = ino;
  st->mode = in.mode;
  st->nlink = gfs_le16 (in.raw + 26);
  st->uid = gfs_le16 (in.raw + 2) | (uint32_t) gfs_le16 (in.raw + 120) << 16;
  st->gid = gfs_le16 (in.raw + 24) | (uint32_t) gfs_le16 (in.raw + 122) << 16;
  st->size = in.size;
  st->blocks = in.blocks;
  st->atime = (int32_t) gfs_le32 (in.raw + 8);
  st->ctime = (int32_t) gfs_le32 (in.raw + 12);
  st->mtime = (int32_t) gfs_le32 (in.raw + 16);
  return 0;
}

static ssize_t
read_inode_data (struct ext4 *e, uint64_t ino, struct inode *in, void *buf, size_t len, uint64_t off)
{
  size_t done = 0;

  if (off >= in->size)
    return 0;
  if (len > in->size - off)
    len = in->size - off;
  if (in->flags & INODE_FLAG_INLINE_DATA) {
    uint8_t tmp[1024 + 60];
    size_t n;
    int r = inline_data (e, ino, in, tmp, sizeof tmp, &n);
    if (r < 0)
      return r;
    if (off >= n)
      return gfs_err (EIO, "%s: ext4: inode %" PRIu64 ": inline data shorter than the file size",
                      e->fs.dev->name, ino);
    if (len > n - off)
      len = n - off;
    memcpy (buf, tmp + off, len);
    return (ssize_t) len;
  }
  while (done < len) {
    uint64_t pos = off + done, lblk = pos / e->block_size, pblk, count;
    uint32_t inblk = pos % e->block_size;
    uint64_t run;
    int r = map_block (e, ino, in, lblk, &pblk, &count);

    if (r < 0)
      return r;
    if (count > (1u << 20) / e->block_size + 1)
      count = (1u << 20) / e->block_size + 1;
    run = count * e->block_size - inblk;
    if (run > len - done)
      run = len - done;
    if (pblk == 0)
      memset ((uint8_t *) buf + done, 0, run);
    else {
      r = gfs_dev_pread (e->rdev, (uint8_t *) buf + done, run, pblk * e->block_size + inblk);
      if (r < 0)
        return r;
    }
    done += run;
  }
  return (ssize_t) done;
}

static ssize_t
ext4_read (struct gfs_fs *fs, uint64_t ino, void *buf, size_t len, uint64_t off)
{
  struct ext4 *e = EXT (fs);
  struct inode in;
  int r = read_inode (e, ino, &in);

  if (r < 0)
    return r;
  if (S_ISDIR (in.mode))
    return gfs_err (EISDIR, "%s: ext4: inode %" PRIu64 " is a directory", fs->dev->name, ino);
  return read_inode_data (e, ino, &in, buf, len, off);
}

static int
ext4_readlink (struct gfs_fs *fs, uint64_t ino, char *buf, size_t len)
{
  struct ext4 *e = EXT (fs);
  struct inode in;
  int r = read_inode (e, ino, &in);
  uint64_t acl_blocks;
  ssize_t n;

  if (r < 0)
    return r;
  if (!S_ISLNK (in.mode))
    return gfs_err (EINVAL, "%s: ext4: inode %" PRIu64 " is not a symbolic link", fs->dev->name, ino);
  if (in.size >= len)
    return gfs_err (ENAMETOOLONG, "%s: ext4: symbolic link %" PRIu64 " is too long (%" PRIu64 " bytes)",
                    fs->dev->name, ino, in.size);
  if (in.size == 0)
    return gfs_err (EIO, "%s: ext4: symbolic link %" PRIu64 " is empty", fs->dev->name, ino);
  acl_blocks = gfs_le32 (in.raw + 104) ? e->block_size / 512 : 0;
  if (!(in.flags & (INODE_FLAG_EXTENTS | INODE_FLAG_INLINE_DATA)) && in.size < 60 &&
      in.blocks <= acl_blocks) {
    memcpy (buf, in.raw + 40, in.size);   /* fast symlink */
    n = (ssize_t) in.size;
  }
  else {
    n = read_inode_data (e, ino, &in, buf, in.size, 0);
    if (n < 0)
      return (int) n;
  }
  buf[n] = 0;
  if (strlen (buf) != (size_t) n)
    return gfs_err (EIO, "%s: ext4: symbolic link %" PRIu64 " contains a NUL byte", fs->dev->name, ino);
  return 0;
}

/* Parse directory entries in BUF[0..LEN); CB per live entry. */
static int
parse_dirents (struct ext4 *e, uint64_t dir, const uint8_t *buf, size_t len,
               int (*cb) (void *, const struct gfs_dirent *), void *opaque)
{
  size_t p = 0;

  while (p + 8 <= len) {
    uint32_t ino = gfs_le32 (buf + p);
    uint32_t rec_len = gfs_le16 (buf + p + 4);
    uint8_t name_len = buf[p + 6], ftype = buf[p + 7];
    struct gfs_dirent de;

    if (e->block_size == 65536 && (rec_len == 0 || rec_len == 65535))
      rec_len = 65536;   /* how 64 KiB blocks spell a whole-block entry */
    if (rec_len < 8 || rec_len % 4 || p + rec_len > len || 8u + name_len > rec_len)
      return gfs_err (EIO, "%s: ext4: directory inode %" PRIu64 ": corrupt entry at offset %zu (rec_len %u)",
                      e->fs.dev->name, dir, p, rec_len);
    if (ino != 0 && name_len > 0) {
      static const uint8_t types[] = { DT_UNKNOWN, DT_REG, DT_DIR, DT_CHR, DT_BLK,
                                       DT_FIFO, DT_SOCK, DT_LNK };
      memcpy (de.name, buf + p + 8, name_len);
      de.name[name_len] = 0;
      if (memchr (de.name, '/', name_len) || strlen (de.name) != name_len)
        return gfs_err (EIO, "%s: ext4: directory inode %" PRIu64 ": entry name contains '/' or NUL",
                        e->fs.dev->name, dir);
      if (!(name_len == 1 && de.name[0] == '.') &&
          !(name_len == 2 && de.name[0] == '.' && de.name[1] == '.')) {
        int r;
        de.ino = ino;
        de.type = (e->incompat & INCOMPAT_FILETYPE) && ftype < 8 ? types[ftype] : DT_UNKNOWN;
        r = cb (opaque, &de);
        if (r)
          return r;
      }
    }
    p += rec_len;
  }
  return 0;
}

static int
ext4_readdir (struct gfs_fs *fs, uint64_t dir,
              int (*cb) (void *, const struct gfs_dirent *), void *opaque)
{
  struct ext4 *e = EXT (fs);
  struct inode in;
  uint8_t *blk;
  int r = read_inode (e, dir, &in);

  if (r < 0)
    return r;
  if (!S_ISDIR (in.mode))
    return gfs_err (ENOTDIR, "%s: ext4: inode %" PRIu64 " is not a directory", fs->dev->name, dir);
  if (in.size > MAX_DIR_SIZE)
    return gfs_err (EFBIG, "%s: ext4: directory inode %" PRIu64 " is too large", fs->dev->name, dir);
  if (in.flags & INODE_FLAG_INLINE_DATA) {
    uint8_t tmp[1024 + 60];
    size_t n;
    r = inline_data (e, dir, &in, tmp, sizeof tmp, &n);
    if (r < 0)
      return r;
    /* first 4 bytes: parent inode; then entries to 60; then the xattr part */
    r = parse_dirents (e, dir, tmp + 4, 56, cb, opaque);
    if (r == 0 && n > 60)
      r = parse_dirents (e, dir, tmp + 60, n - 60, cb, opaque);
    return r;
  }
  blk = malloc (e->block_size);
  if (!blk)
    return gfs_err (ENOMEM, "out of memory");
  for (uint64_t off = 0; off < in.size; off += e->block_size) {
    ssize_t n = read_inode_data (e, dir, &in, blk, e->block_size, off);
    if (n < 0) {
      r = (int) n;
      break;
    }
    r = parse_dirents (e, dir, blk, (size_t) n, cb, opaque);
    if (r)
      break;
  }
  free (blk);
  return r;
}

struct lookup_ctx {
  const char *name;
  uint64_t ino;
};

static int
lookup_cb (void *opaque, const struct gfs_dirent *d)
{
  struct lookup_ctx *c = opaque;
  if (!strcmp (d->name, c->name)) {
    c->ino = d->ino;
    return 1;
  }
  return 0;
}

static int
ext4_lookup (struct gfs_fs *fs, uint64_t dir, const char *name, uint64_t *ino)
{
  struct lookup_ctx c = { name, 0 };
  int r = ext4_readdir (fs, dir, lookup_cb, &c);

  if (r < 0)
    return r;
  if (r == 0)
    return -ENOENT;
  *ino = c.ino;
  return 0;
}

/* Metadata blocks, as the kernel subtracts them in statfs: the recorded
 * s_overhead_clusters, else superblock/descriptor copies, bitmaps, inode
 * tables and the internal journal (ext4_calculate_overhead). */
static uint64_t
overhead_blocks (struct ext4 *e)
{
  uint64_t ov = gfs_le32 (e->sb + 0x248), per_block, gdt, itb;

  if (ov)
    return ov;
  per_block = e->block_size / e->desc_size;
  gdt = (e->groups + per_block - 1) / per_block;
  itb = ((uint64_t) e->inodes_per_group * e->inode_size + e->block_size - 1) / e->block_size;
  ov = e->first_data_block;
  for (uint64_t g = 0; g < e->groups && g < (1u << 24); g++) {
    if (group_has_super (e, g)) {
      ov += 1;
      if (e->incompat & INCOMPAT_META_BG)
        ;                   /* descriptors counted below */
      else
        ov += gdt + gfs_le16 (e->sb + 0xce);   /* + s_reserved_gdt_blocks */
    }
    if (e->incompat & INCOMPAT_META_BG) {
      uint64_t in_mbg = g % per_block;
      if (g / per_block >= e->first_meta_bg && (in_mbg == 0 || in_mbg == 1 || in_mbg == per_block - 1))
        ov += 1;
      else if (g / per_block < e->first_meta_bg && group_has_super (e, g))
        ov += gdt;
    }
    ov += 2 + itb;
  }
  if ((e->compat & COMPAT_HAS_JOURNAL) && gfs_le32 (e->sb + 0xe0)) {   /* s_journal_inum */
    struct inode in;
    if (read_inode (e, gfs_le32 (e->sb + 0xe0), &in) == 0)
      ov += in.size / e->block_size;
  }
  return ov < e->blocks_count ? ov : e->blocks_count;
}

static int
ext4_statfs (struct gfs_fs *fs, struct gfs_statfs *st)
{
  struct ext4 *e = EXT (fs);
  uint64_t free_b = gfs_le32 (e->sb + 12), resv = gfs_le32 (e->sb + 8);

  if (e->incompat & INCOMPAT_64BIT) {
    free_b |= (uint64_t) gfs_le32 (e->sb + 344) << 32;
    resv |= (uint64_t) gfs_le32 (e->sb + 340) << 32;
  }
  /* the overhead is counted in clusters (bigalloc), free blocks in blocks;
   * the kernel also keeps 2% (at most 4096 clusters) back on extent
   * filesystems */
  if (e->incompat & INCOMPAT_EXTENTS) {
    uint64_t k = e->blocks_count / e->cluster_ratio / 50;
    resv += (k < 4096 ? k : 4096) * e->cluster_ratio;
  }
  memset (st, 0, sizeof *st);
  st->block_size = e->block_size;
  {
    uint64_t ov = overhead_blocks (e);
    if (gfs_le32 (e->sb + 0x248))
      ov *= e->cluster_ratio;
    st->blocks = ov < e->blocks_count ? e->blocks_count - ov : 0;
  }
  st->bfree = free_b > st->blocks ? st->blocks : free_b;
  st->bavail = st->bfree > resv ? st->bfree - resv : 0;
  st->files = e->inodes_count;
  st->ffree = gfs_le32 (e->sb + 16);
  if (st->ffree > st->files)
    st->ffree = st->files;
  return 0;
}

static int
ext4_info (struct gfs_fs *fs, struct gfs_fsinfo *info)
{
  struct ext4 *e = EXT (fs);
  const char *type = "ext2";

  if ((e->incompat & (INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_FLEX_BG | INCOMPAT_META_BG |
                      INCOMPAT_INLINE_DATA | INCOMPAT_MMP | INCOMPAT_LARGEDIR | INCOMPAT_CSUM_SEED |
                      INCOMPAT_EA_INODE | INCOMPAT_CASEFOLD)) ||
      (e->ro_compat & RO_COMPAT_EXT4_MASK))
    type = "ext4";
  else if (e->compat & COMPAT_HAS_JOURNAL)
    type = "ext3";
  memset (info, 0, sizeof *info);
  snprintf (info->type, sizeof info->type, "%s", type);
  memcpy (info->label, e->sb + 120, 16);
  info->label[16] = 0;
  gfs_uuid_str (e->sb + 104, info->uuid);
  snprintf (info->version, sizeof info->version, "1.0");
  info->block_size = e->block_size;
  return 0;
}

struct xattr_list_ctx {
  int (*cb) (void *, const char *, const void *, size_t);
  void *opaque;
};

static const char *
xattr_prefix (int idx)
{
  switch (idx) {
  case 1: return "user.";
  case 2: return "system.posix_acl_access";
  case 3: return "system.posix_acl_default";
  case 4: return "trusted.";
  case 6: return "security.";
  case 7: return "system.";
  case 8: return "system.richacl";
  default: return NULL;
  }
}

static int
xattr_emit (void *opaque, int idx, const char *name, size_t nlen,
            const uint8_t *val, size_t vlen)
{
  struct xattr_list_ctx *c = opaque;
  const char *pre = xattr_prefix (idx);
  char full[300];

  if (!pre)
    return 0;
  snprintf (full, sizeof full, "%s%.*s", pre, (int) nlen, name);
  return c->cb (c->opaque, full, val, vlen);
}

static int
ext4_listxattr (struct gfs_fs *fs, uint64_t ino,
                int (*cb) (void *, const char *, const void *, size_t), void *opaque)
{
  struct ext4 *e = EXT (fs);
  struct xattr_list_ctx c = { cb, opaque };
  struct inode in;
  uint64_t acl;
  int r = read_inode (e, ino, &in);

  if (r < 0)
    return r;
  r = ibody_xattrs (e, ino, &in, xattr_emit, &c);
  if (r)
    return r;
  acl = gfs_le32 (in.raw + 104);
  if (e->desc_size >= 64 || (e->incompat & INCOMPAT_64BIT))
    acl |= (uint64_t) gfs_le16 (in.raw + 118) << 32;
  if (acl) {
    uint8_t *b = malloc (e->block_size);
    uint32_t p = 32;
    if (!b)
      return gfs_err (ENOMEM, "out of memory");
    r = read_block (e, acl, b);
    if (r == 0 && gfs_le32 (b) != 0xEA020000)
      r = gfs_err (EIO, "%s: ext4: inode %" PRIu64 ": bad xattr block magic", fs->dev->name, ino);
    for (int n = 0; r == 0 && n < 4096; n++) {
      uint8_t nlen, idx;
      uint16_t voff;
      uint32_t vsize;
      if (p + 16 > e->block_size || gfs_le32 (b + p) == 0)
        break;
      nlen = b[p];
      idx = b[p + 1];
      voff = gfs_le16 (b + p + 2);
      vsize = gfs_le32 (b + p + 8);
      if (p + 16 + nlen > e->block_size) {
        r = gfs_err (EIO, "%s: ext4: inode %" PRIu64 ": xattr block entry out of bounds", fs->dev->name, ino);
        break;
      }
      if (gfs_le32 (b + p + 4) != 0)
        vsize = 0;
      else if ((uint64_t) voff + vsize > e->block_size) {
        r = gfs_err (EIO, "%s: ext4: inode %" PRIu64 ": xattr value out of bounds", fs->dev->name, ino);
        break;
      }
      r = xattr_emit (&c, idx, (const char *) b + p + 16, nlen, b + voff, vsize);
      p += (16 + nlen + 3) & ~3u;
    }
    free (b);
  }
  return r;
}

const struct gfs_fs_ops gfs_fs_ext4 = {
  .name = "ext4",
  .probe = ext4_probe,
  .open = ext4_open,
  .close = ext4_close,
  .root_ino = ext4_root_ino,
  .lookup = ext4_lookup,
  .getattr = ext4_getattr,
  .readdir = ext4_readdir,
  .read = ext4_read,
  .readlink = ext4_readlink,
  .statfs = ext4_statfs,
  .info = ext4_info,
  .listxattr = ext4_listxattr,
};
