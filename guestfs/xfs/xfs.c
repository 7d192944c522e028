/* guestfs/xfs: a read-only XFS reader (v5 with CRCs, and v4).
 *
 * What is read: the primary superblock, inode cores (v1/v2/v3), data forks
 * in local, extents and btree format, short-form and data-block directories
 * (block, leaf and node directories are all read by scanning their data
 * blocks; the hash index is not needed to list or look up names), symlinks
 * (local and remote).  Allocation-group headers and the free-space btrees are
 * never needed to read files, so they are not read.
 *
 * The on-disk format is described in "XFS Algorithms & Data Structures"
 * (xfs-documentation).  Everything is big-endian except the CRC field.
 * Every field read from the device is checked before use; extent maps are
 * capped and must be strictly increasing; btree walks go strictly down one
 * level per step, so a hostile image cannot make a walk loop.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "guestfs/fs.h"

extern const struct gfs_fs_ops gfs_fs_xfs;

#define XFS_SB_MAGIC        0x58465342u /* XFSB */
#define XFS_DINODE_MAGIC    0x494eu     /* IN */
#define XFS_BMAP_MAGIC      0x424d4150u /* BMAP (v4) */
#define XFS_BMAP_CRC_MAGIC  0x424d4133u /* BMA3 (v5) */
#define XFS_DIR2_BLOCK_MAGIC 0x58443242u /* XD2B */
#define XFS_DIR2_DATA_MAGIC 0x58443244u /* XD2D */
#define XFS_DIR3_BLOCK_MAGIC 0x58444233u /* XDB3 */
#define XFS_DIR3_DATA_MAGIC 0x58444433u /* XDD3 */
#define XFS_SYMLINK_MAGIC   0x58534c4du /* XSLM */

#define XFS_SB_VERSION_DIRV2BIT 0x2000u
#define XFS_SB_VERSION_BORGBIT  0x4000u  /* ASCII case-insensitive names */
#define XFS_SB_VERSION_MOREBITSBIT 0x8000u
#define XFS_SB_VERSION2_FTYPE 0x200u

#define XFS_SB_FEAT_INCOMPAT_FTYPE     (1u << 0)
#define XFS_SB_FEAT_INCOMPAT_SPINODES  (1u << 1)
#define XFS_SB_FEAT_INCOMPAT_META_UUID (1u << 2)
#define XFS_SB_FEAT_INCOMPAT_BIGTIME   (1u << 3)
#define XFS_SB_FEAT_INCOMPAT_NEEDSREPAIR (1u << 4)
#define XFS_SB_FEAT_INCOMPAT_NREXT64   (1u << 5)
#define XFS_SB_FEAT_INCOMPAT_EXCHRANGE (1u << 6)
#define XFS_SB_FEAT_INCOMPAT_PARENT    (1u << 7)
/* Incompatible features that do not change anything this reader looks at. */
#define XFS_INCOMPAT_KNOWN \
  (XFS_SB_FEAT_INCOMPAT_FTYPE | XFS_SB_FEAT_INCOMPAT_SPINODES \
   | XFS_SB_FEAT_INCOMPAT_META_UUID | XFS_SB_FEAT_INCOMPAT_BIGTIME \
   | XFS_SB_FEAT_INCOMPAT_NEEDSREPAIR | XFS_SB_FEAT_INCOMPAT_NREXT64 \
   | XFS_SB_FEAT_INCOMPAT_EXCHRANGE | XFS_SB_FEAT_INCOMPAT_PARENT)

#define XFS_DINODE_FMT_DEV     0
#define XFS_DINODE_FMT_LOCAL   1
#define XFS_DINODE_FMT_EXTENTS 2
#define XFS_DINODE_FMT_BTREE   3

#define XFS_DIFLAG_REALTIME    0x1u
#define XFS_DIFLAG2_BIGTIME    (1ull << 3)
#define XFS_DIFLAG2_NREXT64    (1ull << 4)

#define XFS_DIR2_LEAF_OFFSET   (1ull << 35)  /* data blocks live below 32 GiB */
#define XFS_SYMLINK_MAXLEN     1024
#define XFS_BTREE_MAXLEVELS    9
/* Cap on the extents of one file kept in memory (24 bytes each). */
#define XFS_MAX_EXTENTS        (1u << 22)

struct xext {
  uint64_t off;              /* file offset, in fs blocks */
  uint64_t blk;              /* linear block: agno * agblocks + agbno */
  uint32_t len;              /* fs blocks */
  uint8_t unwritten;
};

struct xfs {
  struct gfs_fs hdr;
  const char *name;
  bool v5, ftype, ascii_ci;
  uint32_t blocksize, agblocks, agcount, logblocks, dirblksize;
  unsigned blocklog, agblklog, inodelog, inopblog, dirblklog;
  uint16_t inodesize, version;
  uint64_t dblocks, rootino, icount, ifree, fdblocks, logstart;
  uint8_t imax_pct;
  uint8_t uuid[16];
  char label[13];
  /* A one-entry cache of the last file's extent map: "cat" reads a file in
   * many calls, and a btree-format map is expensive to rebuild. */
  uint64_t map_ino;
  struct xext *map;
  size_t map_n;
  bool map_valid;
};

struct xinode {
  uint64_t ino;
  uint16_t mode;
  uint8_t version, format;
  uint32_t uid, gid, nlink;
  uint64_t size, nblocks, nextents, flags2;
  uint16_t flags;
  int64_t atime, mtime, ctime;
  size_t fork_off, fork_size;  /* data fork inside raw[] */
  size_t afork_off, afork_size; /* attribute fork (afork_size 0: none) */
  uint8_t aformat;
  uint64_t anextents;
  uint8_t raw[2048];
};

static inline uint16_t be16 (const uint8_t *p) { return (uint16_t) (p[0] << 8 | p[1]); }
static inline uint32_t
be32 (const uint8_t *p)
{
  return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}
static inline uint64_t be64 (const uint8_t *p) { return (uint64_t) be32 (p) << 32 | be32 (p + 4); }
static inline uint32_t
le32 (const uint8_t *p)
{
  return (uint32_t) p[3] << 24 | (uint32_t) p[2] << 16 | (uint32_t) p[1] << 8 | p[0];
}

static int
ilog2_exact (uint64_t v)
{
  int l = 0;
  if (v == 0 || (v & (v - 1)))
    return -1;
  while ((1ull << l) < v)
    l++;
  return l;
}

/* CRC32C (Castagnoli), bitwise: it only ever runs over one superblock. */
static uint32_t
crc32c (const uint8_t *p, size_t len)
{
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < len; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++)
      crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
  }
  return ~crc;
}

/* ---- superblock --------------------------------------------------------- */

static int
xfs_probe (struct gfs_dev *dev)
{
  uint8_t b[4];
  int r;

  if (dev->size < 4096)
    return 0;
  r = gfs_dev_pread (dev, b, 4, 0);
  if (r < 0)
    return r;
  return be32 (b) == XFS_SB_MAGIC;
}

static int
parse_sb (struct xfs *x, struct gfs_dev *dev)
{
  uint8_t sb[512];
  uint16_t vn, sectsize;
  unsigned sectlog;
  uint32_t features2 = 0;
  int r, l;

  r = gfs_dev_pread (dev, sb, sizeof sb, 0);
  if (r < 0)
    return r;
  if (be32 (sb) != XFS_SB_MAGIC)
    return gfs_err (EINVAL, "%s: not an xfs filesystem (bad superblock magic)", x->name);
  vn = be16 (sb + 100);
  x->version = vn & 0xf;
  if (x->version != 4 && x->version != 5)
    return gfs_err (ENOTSUP, "%s: xfs superblock version %u is not supported",
                    x->name, x->version);
  x->v5 = x->version == 5;
  x->ascii_ci = vn & XFS_SB_VERSION_BORGBIT;

  x->blocksize = be32 (sb + 4);
  x->dblocks = be64 (sb + 8);
  memcpy (x->uuid, sb + 32, 16);
  x->logstart = be64 (sb + 48);
  x->rootino = be64 (sb + 56);
  x->agblocks = be32 (sb + 84);
  x->agcount = be32 (sb + 88);
  x->logblocks = be32 (sb + 96);
  sectsize = be16 (sb + 102);
  x->inodesize = be16 (sb + 104);
  memcpy (x->label, sb + 108, 12);
  x->label[12] = 0;
  x->blocklog = sb[120];
  sectlog = sb[121];
  x->inodelog = sb[122];
  x->inopblog = sb[123];
  x->agblklog = sb[124];
  x->imax_pct = sb[127];
  x->icount = be64 (sb + 128);
  x->ifree = be64 (sb + 136);
  x->fdblocks = be64 (sb + 144);
  x->dirblklog = sb[192];

  l = ilog2_exact (x->blocksize);
  if (l < 9 || l > 16 || (unsigned) l != x->blocklog)
    return gfs_err (EINVAL, "%s: xfs superblock: bad block size %" PRIu32, x->name, x->blocksize);
  l = ilog2_exact (sectsize);
  if (l < 9 || l > 15 || (unsigned) l != sectlog || sectsize > x->blocksize)
    return gfs_err (EINVAL, "%s: xfs superblock: bad sector size %u", x->name, sectsize);
  if (x->v5) {
    uint8_t *sec;
    uint32_t want;

    /* The CRC covers the whole superblock sector. */
    sec = malloc (sectsize);
    if (!sec)
      return gfs_err (ENOMEM, "%s: out of memory", x->name);
    r = gfs_dev_pread (dev, sec, sectsize, 0);
    if (r < 0) {
      free (sec);
      return r;
    }
    want = le32 (sec + 224);
    memset (sec + 224, 0, 4);
    r = crc32c (sec, sectsize) != want;
    free (sec);
    if (r)
      return gfs_err (EINVAL, "%s: xfs superblock checksum mismatch", x->name);
  }
  l = ilog2_exact (x->inodesize);
  if (l < 8 || l > 11 || (unsigned) l != x->inodelog || x->inodesize > x->blocksize
      || (x->v5 && x->inodesize < 512))
    return gfs_err (EINVAL, "%s: xfs superblock: bad inode size %u", x->name, x->inodesize);
  if (x->inopblog != x->blocklog - x->inodelog
      || be16 (sb + 106) != x->blocksize / x->inodesize)
    return gfs_err (EINVAL, "%s: xfs superblock: bad inodes per block", x->name);
  if (x->agblocks < 16 || x->agcount == 0 || x->agblklog > 31
      || (x->agblocks - 1) >> x->agblklog != 0
      || (x->agblklog > 0 && (x->agblocks - 1) >> (x->agblklog - 1) == 0))
    return gfs_err (EINVAL, "%s: xfs superblock: bad allocation group geometry "
                    "(%" PRIu32 " groups of %" PRIu32 " blocks, log %u)",
                    x->name, x->agcount, x->agblocks, x->agblklog);
  if (x->dblocks == 0 || x->dblocks > (uint64_t) x->agcount * x->agblocks
      || x->dblocks <= (uint64_t) (x->agcount - 1) * x->agblocks)
    return gfs_err (EINVAL, "%s: xfs superblock: %" PRIu64 " blocks do not match "
                    "%" PRIu32 " allocation groups", x->name, x->dblocks, x->agcount);
  if (x->dblocks > dev->size >> x->blocklog)
    return gfs_err (EINVAL, "%s: xfs filesystem (%" PRIu64 " bytes) is larger than "
                    "the device (%" PRIu64 " bytes)", x->name,
                    x->dblocks << x->blocklog, dev->size);
  if (x->blocklog + x->dirblklog > 16)
    return gfs_err (EINVAL, "%s: xfs superblock: bad directory block size", x->name);
  x->dirblksize = x->blocksize << x->dirblklog;

  if (x->v5) {
    uint32_t incompat = be32 (sb + 216);

    if (incompat & ~XFS_INCOMPAT_KNOWN)
      return gfs_err (ENOTSUP, "%s: xfs has unsupported incompatible features %#" PRIx32,
                      x->name, incompat & ~XFS_INCOMPAT_KNOWN);
    x->ftype = incompat & XFS_SB_FEAT_INCOMPAT_FTYPE;
  }
  else {
    if (!(vn & XFS_SB_VERSION_DIRV2BIT))
      return gfs_err (ENOTSUP, "%s: xfs v4 with version 1 directories is not supported",
                      x->name);
    if (vn & XFS_SB_VERSION_MOREBITSBIT)
      features2 = be32 (sb + 200);
    x->ftype = features2 & XFS_SB_VERSION2_FTYPE;
  }
  return 0;
}

/* fs block number (agno << agblklog | agbno) with LEN blocks after it ->
 * linear block number. */
static int
fsb_to_linear (struct xfs *x, uint64_t fsb, uint64_t len, uint64_t *out)
{
  uint64_t agno = fsb >> x->agblklog;
  uint64_t agbno = fsb & ((1ull << x->agblklog) - 1);
  uint64_t lin;

  if (agno >= x->agcount || agbno >= x->agblocks || len > x->agblocks - agbno)
    return gfs_err (EINVAL, "%s: xfs: block %#" PRIx64 " (+%" PRIu64 ") is outside "
                    "the filesystem", x->name, fsb, len);
  lin = agno * x->agblocks + agbno;
  if (lin + len > x->dblocks)
    return gfs_err (EINVAL, "%s: xfs: block %#" PRIx64 " (+%" PRIu64 ") is past the end "
                    "of the filesystem", x->name, fsb, len);
  *out = lin;
  return 0;
}

/* ---- inodes ------------------------------------------------------------- */

static int64_t
decode_time (const struct xinode *ip, const uint8_t *p)
{
  if (ip->flags2 & XFS_DIFLAG2_BIGTIME)
    return (int64_t) (be64 (p) / 1000000000u) - ((int64_t) 1 << 31);
  return (int32_t) be32 (p);
}

static int
read_inode (struct xfs *x, uint64_t ino, struct xinode *ip)
{
  unsigned shift = x->agblklog + x->inopblog;
  uint64_t agno, agbno, idx, lin, off;
  const uint8_t *r = ip->raw;
  size_t lit;
  uint8_t forkoff;
  int e;

  agno = ino >> shift;
  agbno = (ino >> x->inopblog) & ((1ull << x->agblklog) - 1);
  idx = ino & ((1ull << x->inopblog) - 1);
  if (agno >= x->agcount || agbno >= x->agblocks
      || (lin = agno * x->agblocks + agbno) >= x->dblocks)
    return gfs_err (EINVAL, "%s: xfs: inode number %" PRIu64 " is outside the filesystem",
                    x->name, ino);
  off = (lin << x->blocklog) + (idx << x->inodelog);
  e = gfs_dev_pread (x->hdr.dev, ip->raw, x->inodesize, off);
  if (e < 0)
    return e;

  ip->ino = ino;
  if (be16 (r) != XFS_DINODE_MAGIC)
    return gfs_err (EINVAL, "%s: xfs: inode %" PRIu64 " has a bad magic number", x->name, ino);
  ip->mode = be16 (r + 2);
  ip->version = r[4];
  ip->format = r[5];
  if (x->v5 ? ip->version != 3 : (ip->version != 1 && ip->version != 2))
    return gfs_err (EINVAL, "%s: xfs: inode %" PRIu64 " has bad version %u",
                    x->name, ino, ip->version);
  ip->uid = be32 (r + 8);
  ip->gid = be32 (r + 12);
  ip->nlink = ip->version == 1 ? be16 (r + 6) : be32 (r + 16);
  ip->size = be64 (r + 56);
  ip->nblocks = be64 (r + 64);
  forkoff = r[82];
  ip->flags = be16 (r + 90);
  ip->flags2 = ip->version == 3 ? be64 (r + 120) : 0;
  if (ip->flags2 & XFS_DIFLAG2_NREXT64)
    ip->nextents = be64 (r + 24);
  else
    ip->nextents = be32 (r + 76);
  ip->atime = decode_time (ip, r + 32);
  ip->mtime = decode_time (ip, r + 40);
  ip->ctime = decode_time (ip, r + 48);

  if (ip->version == 3 && be64 (r + 152) != ino)
    return gfs_err (EINVAL, "%s: xfs: inode %" PRIu64 " claims to be inode %" PRIu64,
                    x->name, ino, be64 (r + 152));
  if (ip->size > INT64_MAX)
    return gfs_err (EINVAL, "%s: xfs: inode %" PRIu64 " has a bad size", x->name, ino);

  lit = ip->version == 3 ? 176 : 100;
  ip->fork_off = lit;
  if (forkoff) {
    if ((size_t) forkoff * 8 > x->inodesize - lit)
      return gfs_err (EINVAL, "%s: xfs: inode %" PRIu64 " has a bad fork offset",
                      x->name, ino);
    ip->fork_size = (size_t) forkoff * 8;
    ip->afork_off = lit + ip->fork_size;
    ip->afork_size = x->inodesize - ip->afork_off;
  }
  else {
    ip->fork_size = x->inodesize - lit;
    ip->afork_off = ip->afork_size = 0;
  }
  ip->aformat = r[83];
  ip->anextents = ip->flags2 & XFS_DIFLAG2_NREXT64 ? be32 (r + 76) : be16 (r + 80);

  switch (ip->mode & S_IFMT) {
  case S_IFDIR:
    if (ip->format != XFS_DINODE_FMT_LOCAL && ip->format != XFS_DINODE_FMT_EXTENTS
        && ip->format != XFS_DINODE_FMT_BTREE)
      goto bad_format;
    break;
  case S_IFREG:
    if (ip->format != XFS_DINODE_FMT_EXTENTS && ip->format != XFS_DINODE_FMT_BTREE)
      goto bad_format;
    break;
  case S_IFLNK:
    if (ip->format != XFS_DINODE_FMT_LOCAL && ip->format != XFS_DINODE_FMT_EXTENTS)
      goto bad_format;
    break;
  case S_IFCHR: case S_IFBLK: case S_IFIFO: case S_IFSOCK:
    if (ip->format != XFS_DINODE_FMT_DEV)
      goto bad_format;
    break;
  default:
    return gfs_err (EINVAL, "%s: xfs: inode %" PRIu64 " has a bad mode %#o (is it in use?)",
                    x->name, ino, ip->mode);
  }
  return 0;

 bad_format:
  return gfs_err (EINVAL, "%s: xfs: inode %" PRIu64 " has data fork format %u, "
                  "impossible for mode %#o", x->name, ino, ip->format, ip->mode);
}

/* ---- extent maps -------------------------------------------------------- */

struct mapbuild {
  struct xfs *x;
  const struct xinode *ip;
  uint64_t nextents;          /* what the inode claims for this fork */
  struct xext *v;
  size_t n, cap;
  uint64_t next_off;          /* extents must be sorted and must not overlap */
};

static int
add_rec (struct mapbuild *mb, const uint8_t *rec)
{
  struct xfs *x = mb->x;
  uint64_t l0 = be64 (rec), l1 = be64 (rec + 8);
  uint64_t off = (l0 & 0x7fffffffffffffffull) >> 9;
  uint64_t fsb = ((l0 & 0x1ff) << 43) | (l1 >> 21);
  uint32_t len = l1 & 0x1fffff;
  struct xext *e;
  uint64_t lin;
  int r;

  if (len == 0)
    return gfs_err (EINVAL, "%s: xfs: inode %" PRIu64 " has an empty extent",
                    x->name, mb->ip->ino);
  /* Byte offsets must fit in 63 bits. */
  if (off + len > (UINT64_MAX >> 1) >> x->blocklog)
    return gfs_err (EINVAL, "%s: xfs: inode %" PRIu64 " has an extent at an impossible offset",
                    x->name, mb->ip->ino);
  if (off < mb->next_off)
    return gfs_err (EINVAL, "%s: xfs: inode %" PRIu64 " has overlapping or unsorted extents",
                    x->name, mb->ip->ino);
  r = fsb_to_linear (x, fsb, len, &lin);
  if (r < 0)
    return r;
  if (mb->n >= XFS_MAX_EXTENTS || mb->n >= mb->nextents)
    return gfs_err (EINVAL, "%s: xfs: inode %" PRIu64 " has more extents than the %" PRIu64
                    " it claims", x->name, mb->ip->ino, mb->nextents);
  if (mb->n == mb->cap) {
    size_t nc = mb->cap ? mb->cap * 2 : 16;
    struct xext *nv = realloc (mb->v, nc * sizeof *nv);
    if (!nv)
      return gfs_err (ENOMEM, "%s: out of memory", x->name);
    mb->v = nv;
    mb->cap = nc;
  }
  e = &mb->v[mb->n++];
  e->off = off;
  e->blk = lin;
  e->len = len;
  e->unwritten = l0 >> 63;
  mb->next_off = off + len;
  return 0;
}

static int
walk_bmbt (struct mapbuild *mb, uint64_t fsb, unsigned level, uint8_t *bufs)
{
  struct xfs *x = mb->x;
  uint8_t *b = bufs + (size_t) level * x->blocksize;
  size_t hdr = x->v5 ? 72 : 24;
  size_t maxrecs = (x->blocksize - hdr) / 16;
  uint64_t lin;
  unsigned numrecs;
  int r;

  r = fsb_to_linear (x, fsb, 1, &lin);
  if (r < 0)
    return r;
  r = gfs_dev_pread (x->hdr.dev, b, x->blocksize, lin << x->blocklog);
  if (r < 0)
    return r;
  if (be32 (b) != (x->v5 ? XFS_BMAP_CRC_MAGIC : XFS_BMAP_MAGIC))
    return gfs_err (EINVAL, "%s: xfs: inode %" PRIu64 ": bad extent btree block magic",
                    x->name, mb->ip->ino);
  numrecs = be16 (b + 6);
  if (be16 (b + 4) != level || numrecs == 0 || numrecs > maxrecs)
    return gfs_err (EINVAL, "%s: xfs: inode %" PRIu64 ": bad extent btree block "
                    "(level %u, %u records)", x->name, mb->ip->ino, be16 (b + 4), numrecs);
  if (x->v5 && be64 (b + 56) != mb->ip->ino)
    return gfs_err (EINVAL, "%s: xfs: inode %" PRIu64 ": extent btree block belongs to "
                    "another inode", x->name, mb->ip->ino);
  for (unsigned i = 0; i < numrecs; i++) {
    if (level == 0)
      r = add_rec (mb, b + hdr + (size_t) i * 16);
    else
      r = walk_bmbt (mb, be64 (b + hdr + maxrecs * 8 + (size_t) i * 8), level - 1, bufs);
    if (r < 0)
      return r;
  }
  return 0;
}

/* The extent map of the data fork (ATTR false) or attribute fork of a file
 * or directory (extents or btree format). */
static int
load_fork (struct xfs *x, const struct xinode *ip, bool attr, struct xext **out, size_t *nout)
{
  struct mapbuild mb = { .x = x, .ip = ip };
  const uint8_t *fork = ip->raw + (attr ? ip->afork_off : ip->fork_off);
  size_t fork_size = attr ? ip->afork_size : ip->fork_size;
  uint8_t format = attr ? ip->aformat : ip->format;
  int r = 0;

  mb.nextents = attr ? ip->anextents : ip->nextents;
  if (format == XFS_DINODE_FMT_EXTENTS) {
    if (mb.nextents > fork_size / 16)
      return gfs_err (EINVAL, "%s: xfs: inode %" PRIu64 " claims %" PRIu64 " extents, "
                      "more than fit in it", x->name, ip->ino, mb.nextents);
    for (size_t i = 0; i < mb.nextents && r == 0; i++)
      r = add_rec (&mb, fork + i * 16);
  }
  else if (format == XFS_DINODE_FMT_BTREE && fork_size >= 20) {
    unsigned level = be16 (fork), numrecs = be16 (fork + 2);
    size_t maxrecs = (fork_size - 4) / 16;
    uint8_t *bufs;

    if (level == 0 || level > XFS_BTREE_MAXLEVELS || numrecs == 0 || numrecs > maxrecs)
      return gfs_err (EINVAL, "%s: xfs: inode %" PRIu64 ": bad extent btree root "
                      "(level %u, %u records)", x->name, ip->ino, level, numrecs);
    /* One buffer per level below the root. */
    bufs = malloc ((size_t) level * x->blocksize);
    if (!bufs)
      return gfs_err (ENOMEM, "%s: out of memory", x->name);
    for (unsigned i = 0; i < numrecs && r == 0; i++)
      r = walk_bmbt (&mb, be64 (fork + 4 + maxrecs * 8 + (size_t) i * 8), level - 1, bufs);
    free (bufs);
  }
  else
    return gfs_err (EINVAL, "%s: xfs: inode %" PRIu64 " has no extent map", x->name, ip->ino);
  if (r < 0) {
    free (mb.v);
    return r;
  }
  *out = mb.v;
  *nout = mb.n;
  return 0;
}

static int
load_map (struct xfs *x, const struct xinode *ip, struct xext **out, size_t *nout)
{
  return load_fork (x, ip, false, out, nout);
}

/* The cached map of IP (owned by X). */
static int
get_map (struct xfs *x, const struct xinode *ip, const struct xext **m, size_t *n)
{
  if (!x->map_valid || x->map_ino != ip->ino) {
    struct xext *v = NULL;
    size_t nv = 0;
    int r = load_map (x, ip, &v, &nv);
    if (r < 0)
      return r;
    free (x->map);
    x->map = v;
    x->map_n = nv;
    x->map_ino = ip->ino;
    x->map_valid = true;
  }
  *m = x->map;
  *n = x->map_n;
  return 0;
}

/* Read LEN bytes at byte POS of a mapped file; holes and unwritten extents
 * read as zeroes. */
static int
map_read (struct xfs *x, const struct xext *m, size_t n, uint8_t *buf, size_t len, uint64_t pos)
{
  while (len > 0) {
    uint64_t lb = pos >> x->blocklog;
    size_t lo = 0, hi = n, chunk;
    const struct xext *e = NULL;

    /* First extent ending after lb. */
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (m[mid].off + m[mid].len <= lb)
        lo = mid + 1;
      else
        hi = mid;
    }
    if (lo < n)
      e = &m[lo];
    if (!e || e->off > lb) {
      uint64_t end = e ? e->off << x->blocklog : UINT64_MAX;
      chunk = end - pos < len ? end - pos : len;
      memset (buf, 0, chunk);
    }
    else {
      uint64_t end = (e->off + e->len) << x->blocklog;
      chunk = end - pos < len ? end - pos : len;
      if (e->unwritten)
        memset (buf, 0, chunk);
      else {
        uint64_t dev_off = ((e->blk + (lb - e->off)) << x->blocklog)
          + (pos & (x->blocksize - 1));
        int r = gfs_dev_pread (x->hdr.dev, buf, chunk, dev_off);
        if (r < 0)
          return r;
      }
    }
    buf += chunk;
    pos += chunk;
    len -= chunk;
  }
  return 0;
}

/* ---- directories -------------------------------------------------------- */

typedef int (*dir_cb) (void *opaque, const uint8_t *name, size_t namelen,
                       uint64_t ino, uint8_t ftype);

static int
check_name (struct xfs *x, const struct xinode *dp, const uint8_t *name, size_t namelen)
{
  if (namelen == 0 || memchr (name, '/', namelen) || memchr (name, 0, namelen))
    return gfs_err (EINVAL, "%s: xfs: directory %" PRIu64 " has an entry with an invalid name",
                    x->name, dp->ino);
  return 0;
}

static int
iter_shortform (struct xfs *x, const struct xinode *dp, dir_cb cb, void *opaque)
{
  const uint8_t *p = dp->raw + dp->fork_off;
  size_t lim = dp->fork_size, pos, isz;
  unsigned count;
  int r;

  if (dp->size < 6 || dp->size > lim)
    return gfs_err (EINVAL, "%s: xfs: short-form directory %" PRIu64 " has a bad size",
                    x->name, dp->ino);
  lim = dp->size;
  count = p[0];
  isz = p[1] ? 8 : 4;
  pos = 2 + isz;
  for (unsigned i = 0; i < count; i++) {
    size_t namelen, need;
    uint64_t ino;
    uint8_t ft = 0;

    if (pos + 3 > lim)
      goto bad;
    namelen = p[pos];
    need = 3 + namelen + (x->ftype ? 1 : 0) + isz;
    if (pos + need > lim)
      goto bad;
    r = check_name (x, dp, p + pos + 3, namelen);
    if (r < 0)
      return r;
    if (x->ftype)
      ft = p[pos + 3 + namelen];
    ino = isz == 8 ? be64 (p + pos + need - 8) : be32 (p + pos + need - 4);
    r = cb (opaque, p + pos + 3, namelen, ino, ft);
    if (r)
      return r;
    pos += need;
  }
  return 0;
 bad:
  return gfs_err (EINVAL, "%s: xfs: short-form directory %" PRIu64 " is truncated",
                  x->name, dp->ino);
}

static int
iter_datablock (struct xfs *x, const struct xinode *dp, const uint8_t *b, uint64_t db,
                dir_cb cb, void *opaque)
{
  uint32_t magic = be32 (b);
  size_t hdr = x->v5 ? 64 : 16, end = x->dirblksize, pos;
  int r;

  if (magic == (x->v5 ? XFS_DIR3_BLOCK_MAGIC : XFS_DIR2_BLOCK_MAGIC)) {
    /* Single-block directory: leaf entries and a tail at the end. */
    uint32_t count = be32 (b + end - 8);
    if (count > (end - hdr - 8) / 8)
      return gfs_err (EINVAL, "%s: xfs: directory %" PRIu64 ": bad block tail",
                      x->name, dp->ino);
    end -= 8 + (size_t) count * 8;
  }
  else if (magic != (x->v5 ? XFS_DIR3_DATA_MAGIC : XFS_DIR2_DATA_MAGIC))
    return gfs_err (EINVAL, "%s: xfs: directory %" PRIu64 ": bad magic in data block %" PRIu64,
                    x->name, dp->ino, db);
  if (x->v5 && be64 (b + 40) != dp->ino)
    return gfs_err (EINVAL, "%s: xfs: directory %" PRIu64 ": data block %" PRIu64
                    " belongs to another inode", x->name, dp->ino, db);

  pos = hdr;
  while (pos < end) {
    size_t namelen, entsz;
    uint8_t ft = 0;

    if (end - pos < 8)
      goto bad;
    if (be16 (b + pos) == 0xffff) {
      size_t flen = be16 (b + pos + 2);
      if (flen < 8 || flen % 8 || flen > end - pos)
        goto bad;
      pos += flen;
      continue;
    }
    if (end - pos < 16)
      goto bad;
    namelen = b[pos + 8];
    entsz = (8 + 1 + namelen + (x->ftype ? 1 : 0) + 2 + 7) & ~(size_t) 7;
    if (entsz > end - pos)
      goto bad;
    r = check_name (x, dp, b + pos + 9, namelen);
    if (r < 0)
      return r;
    if (x->ftype)
      ft = b[pos + 9 + namelen];
    if (!(namelen == 1 && b[pos + 9] == '.')
        && !(namelen == 2 && b[pos + 9] == '.' && b[pos + 10] == '.')) {
      r = cb (opaque, b + pos + 9, namelen, be64 (b + pos), ft);
      if (r)
        return r;
    }
    pos += entsz;
  }
  return 0;
 bad:
  return gfs_err (EINVAL, "%s: xfs: directory %" PRIu64 ": corrupt entry in data block %"
                  PRIu64 " at offset %zu", x->name, dp->ino, db, pos);
}

static int
dir_iter (struct xfs *x, uint64_t ino, dir_cb cb, void *opaque)
{
  struct xinode *dp;
  struct xext *m = NULL;
  size_t n = 0;
  uint8_t *b = NULL;
  uint64_t next_db = 0;
  int r;

  dp = malloc (sizeof *dp);
  if (!dp)
    return gfs_err (ENOMEM, "%s: out of memory", x->name);
  r = read_inode (x, ino, dp);
  if (r < 0)
    goto out;
  if (!S_ISDIR (dp->mode)) {
    r = gfs_err (ENOTDIR, "%s: xfs: inode %" PRIu64 " is not a directory", x->name, ino);
    goto out;
  }
  if (dp->format == XFS_DINODE_FMT_LOCAL) {
    r = iter_shortform (x, dp, cb, opaque);
    goto out;
  }
  /* A private map: the callback may use the shared cache (lookup + read). */
  r = load_map (x, dp, &m, &n);
  if (r < 0)
    goto out;
  b = malloc (x->dirblksize);
  if (!b) {
    r = gfs_err (ENOMEM, "%s: out of memory", x->name);
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    uint64_t first = m[i].off >> x->dirblklog;
    uint64_t last = (m[i].off + m[i].len - 1) >> x->dirblklog;
    if (first < next_db)
      first = next_db;
    for (uint64_t db = first; db <= last; db++) {
      uint64_t pos = db * x->dirblksize;
      /* Data blocks live below the leaf offset and below the directory's
       * size: nothing past either is read. */
      if (pos >= XFS_DIR2_LEAF_OFFSET || pos >= dp->size)
        goto done;
      r = map_read (x, m, n, b, x->dirblksize, pos);
      if (r < 0)
        goto out;
      r = iter_datablock (x, dp, b, db, cb, opaque);
      if (r)
        goto out;
      next_db = db + 1;
    }
  }
 done:
  r = 0;
 out:
  free (b);
  free (m);
  free (dp);
  return r;
}

/* ---- gfs_fs_ops --------------------------------------------------------- */

static int
xfs_open (struct gfs_dev *dev, struct gfs_fs **out)
{
  struct xfs *x = calloc (1, sizeof *x);
  struct xinode *root;
  int r;

  if (!x)
    return gfs_err (ENOMEM, "%s: out of memory", dev->name);
  x->name = dev->name;
  x->hdr.dev = dev;
  r = parse_sb (x, dev);
  if (r < 0)
    goto fail;
  root = malloc (sizeof *root);
  if (!root) {
    r = gfs_err (ENOMEM, "%s: out of memory", x->name);
    goto fail;
  }
  r = read_inode (x, x->rootino, root);
  if (r == 0 && !S_ISDIR (root->mode))
    r = gfs_err (EINVAL, "%s: xfs: the root inode is not a directory", x->name);
  free (root);
  if (r < 0)
    goto fail;
  x->hdr.ops = &gfs_fs_xfs;
  *out = &x->hdr;
  return 0;
 fail:
  free (x);
  return r;
}

static void
xfs_close (struct gfs_fs *fs)
{
  struct xfs *x = (struct xfs *) fs;
  if (!x)
    return;
  free (x->map);
  free (x);
}

static uint64_t
xfs_root_ino (struct gfs_fs *fs)
{
  return ((struct xfs *) fs)->rootino;
}

struct lookup_ctx {
  const char *name;
  size_t len;
  uint64_t ino;
  bool ci;
};

static bool
ascii_ci_eq (const uint8_t *a, const char *b, size_t len)
{
  for (size_t i = 0; i < len; i++) {
    uint8_t x = a[i], y = (uint8_t) b[i];
    if (x >= 'A' && x <= 'Z') x += 32;
    if (y >= 'A' && y <= 'Z') y += 32;
    if (x != y)
      return false;
  }
  return true;
}

static int
lookup_cb (void *opaque, const uint8_t *name, size_t namelen, uint64_t ino, uint8_t ft)
{
  struct lookup_ctx *c = opaque;
  (void) ft;
  if (namelen == c->len
      && (c->ci ? ascii_ci_eq (name, c->name, namelen) : memcmp (name, c->name, namelen) == 0)) {
    c->ino = ino;
    return 1;
  }
  return 0;
}

static int
xfs_lookup (struct gfs_fs *fs, uint64_t dir, const char *name, uint64_t *ino)
{
  struct xfs *x = (struct xfs *) fs;
  struct lookup_ctx c = { .name = name, .len = strlen (name), .ci = x->ascii_ci };
  int r;

  if (c.len == 0 || c.len > 255)
    return -ENOENT;
  r = dir_iter (x, dir, lookup_cb, &c);
  if (r < 0)
    return r;
  if (r == 0)
    return -ENOENT;
  *ino = c.ino;
  return 0;
}

static int
xfs_getattr (struct gfs_fs *fs, uint64_t ino, struct gfs_stat *st)
{
  struct xfs *x = (struct xfs *) fs;
  struct xinode *ip = malloc (sizeof *ip);
  int r;

  if (!ip)
    return gfs_err (ENOMEM, "%s: out of memory", x->name);
  r = read_inode (x, ino, ip);
  if (r == 0) {
    memset (st, 0, sizeof *st);
    st->ino = ino;
    st->mode = ip->mode;
    st->nlink = ip->nlink;
    st->uid = ip->uid;
    st->gid = ip->gid;
    st->size = ip->size;
    st->blocks = ip->nblocks << (x->blocklog - 9);
    st->atime = ip->atime;
    st->mtime = ip->mtime;
    st->ctime = ip->ctime;
  }
  free (ip);
  return r;
}

struct readdir_ctx {
  int (*cb) (void *opaque, const struct gfs_dirent *e);
  void *opaque;
  struct gfs_dirent ent;
};

static uint8_t
ftype_to_dt (uint8_t ft)
{
  switch (ft) {
  case 1: return DT_REG;
  case 2: return DT_DIR;
  case 3: return DT_CHR;
  case 4: return DT_BLK;
  case 5: return DT_FIFO;
  case 6: return DT_SOCK;
  case 7: return DT_LNK;
  default: return DT_UNKNOWN;
  }
}

static int
readdir_cb (void *opaque, const uint8_t *name, size_t namelen, uint64_t ino, uint8_t ft)
{
  struct readdir_ctx *c = opaque;
  c->ent.ino = ino;
  c->ent.type = ftype_to_dt (ft);
  memcpy (c->ent.name, name, namelen);
  c->ent.name[namelen] = 0;
  return c->cb (c->opaque, &c->ent);
}

static int
xfs_readdir (struct gfs_fs *fs, uint64_t dir,
             int (*cb) (void *opaque, const struct gfs_dirent *e), void *opaque)
{
  struct readdir_ctx c = { .cb = cb, .opaque = opaque };
  return dir_iter ((struct xfs *) fs, dir, readdir_cb, &c);
}

static ssize_t
xfs_read (struct gfs_fs *fs, uint64_t ino, void *buf, size_t len, uint64_t off)
{
  struct xfs *x = (struct xfs *) fs;
  struct xinode *ip = malloc (sizeof *ip);
  const struct xext *m;
  size_t n;
  int r;

  if (!ip)
    return gfs_err (ENOMEM, "%s: out of memory", x->name);
  r = read_inode (x, ino, ip);
  if (r < 0)
    goto out;
  if (!S_ISREG (ip->mode)) {
    r = gfs_err (S_ISDIR (ip->mode) ? EISDIR : EINVAL,
                 "%s: xfs: inode %" PRIu64 " is not a regular file", x->name, ino);
    goto out;
  }
  if (ip->flags & XFS_DIFLAG_REALTIME) {
    r = gfs_err (ENOTSUP, "%s: xfs: inode %" PRIu64 " is on the realtime device, "
                 "which is not supported", x->name, ino);
    goto out;
  }
  if (off >= ip->size) {
    len = 0;
    goto out;
  }
  if (len > ip->size - off)
    len = ip->size - off;
  if (len > SSIZE_MAX)
    len = SSIZE_MAX;
  r = get_map (x, ip, &m, &n);
  if (r < 0)
    goto out;
  r = map_read (x, m, n, buf, len, off);
 out:
  free (ip);
  return r < 0 ? r : (ssize_t) len;
}

static int
xfs_readlink (struct gfs_fs *fs, uint64_t ino, char *buf, size_t len)
{
  struct xfs *x = (struct xfs *) fs;
  struct xinode *ip = malloc (sizeof *ip);
  struct xext *m = NULL;
  size_t n = 0, size;
  uint8_t *blk = NULL;
  int r;

  if (!ip)
    return gfs_err (ENOMEM, "%s: out of memory", x->name);
  r = read_inode (x, ino, ip);
  if (r < 0)
    goto out;
  if (!S_ISLNK (ip->mode)) {
    r = gfs_err (EINVAL, "%s: xfs: inode %" PRIu64 " is not a symlink", x->name, ino);
    goto out;
  }
  if (ip->size == 0 || ip->size > XFS_SYMLINK_MAXLEN) {
    r = gfs_err (EINVAL, "%s: xfs: symlink %" PRIu64 " has a bad length %" PRIu64,
                 x->name, ino, ip->size);
    goto out;
  }
  size = ip->size;
  if (len == 0 || size > len - 1) {
    r = -ENAMETOOLONG;
    goto out;
  }
  if (ip->format == XFS_DINODE_FMT_LOCAL) {
    if (size > ip->fork_size) {
      r = gfs_err (EINVAL, "%s: xfs: symlink %" PRIu64 " is longer than its inode",
                   x->name, ino);
      goto out;
    }
    memcpy (buf, ip->raw + ip->fork_off, size);
  }
  else {
    /* Remote symlink: each block holds a header (v5) then target bytes.
     * mkfs.xfs -p before xfsprogs 6.5 wrote v5 remote symlinks without
     * the header; such a block (no magic at all) is read as plain bytes. */
    size_t hdr = x->v5 ? 56 : 0, done = 0;
    r = load_map (x, ip, &m, &n);
    if (r < 0)
      goto out;
    blk = malloc (x->blocksize);
    if (!blk) {
      r = gfs_err (ENOMEM, "%s: out of memory", x->name);
      goto out;
    }
    for (uint64_t lb = 0; done < size; lb++) {
      size_t want = size - done;
      r = map_read (x, m, n, blk, x->blocksize, lb << x->blocklog);
      if (r < 0)
        goto out;
      if (lb == 0 && x->v5 && be32 (blk) != XFS_SYMLINK_MAGIC)
        hdr = 0;
      if (want > x->blocksize - hdr)
        want = x->blocksize - hdr;
      if (hdr && (be32 (blk) != XFS_SYMLINK_MAGIC || be32 (blk + 4) != done
                    || be32 (blk + 8) != want || be64 (blk + 32) != ino)) {
        r = gfs_err (EINVAL, "%s: xfs: symlink %" PRIu64 ": bad remote block header",
                     x->name, ino);
        goto out;
      }
      memcpy (buf + done, blk + hdr, want);
      done += want;
    }
  }
  buf[size] = 0;
  if (memchr (buf, 0, size)) {
    r = gfs_err (EINVAL, "%s: xfs: symlink %" PRIu64 " contains a NUL byte", x->name, ino);
    goto out;
  }
  r = 0;
 out:
  free (blk);
  free (m);
  free (ip);
  return r;
}

static int
xfs_statfs (struct gfs_fs *fs, struct gfs_statfs *st)
{
  struct xfs *x = (struct xfs *) fs;
  uint64_t files, maxfiles;

  memset (st, 0, sizeof *st);
  st->block_size = x->blocksize;
  st->blocks = x->dblocks - (x->logstart ? x->logblocks : 0);
  st->bfree = x->fdblocks <= st->blocks ? x->fdblocks : st->blocks;
  st->bavail = st->bfree;
  /* Like the kernel: every free block could become inodes, up to imax_pct. */
  files = x->icount + (st->bfree << x->inopblog);
  if (x->imax_pct) {
    maxfiles = (x->dblocks * x->imax_pct / 100) << x->inopblog;
    if (files > maxfiles)
      files = maxfiles;
    if (files < x->icount)
      files = x->icount;
  }
  st->files = files;
  st->ffree = files - (x->icount - (x->ifree <= x->icount ? x->ifree : x->icount));
  return 0;
}

static int
xfs_info (struct gfs_fs *fs, struct gfs_fsinfo *info)
{
  struct xfs *x = (struct xfs *) fs;
  const uint8_t *u = x->uuid;
  char *p;

  memset (info, 0, sizeof *info);
  strcpy (info->type, "xfs");
  memcpy (info->label, x->label, sizeof x->label);
  for (p = info->label; *p; p++)
    if ((unsigned char) *p < 0x20)
      *p = '?';
  snprintf (info->uuid, sizeof info->uuid,
            "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
            u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
            u[10], u[11], u[12], u[13], u[14], u[15]);
  snprintf (info->version, sizeof info->version, "%u", x->version);
  info->block_size = x->blocksize;
  return 0;
}

/* ---- extended attributes ------------------------------------------------ */

#define XFS_ATTR_LOCAL        0x01
#define XFS_ATTR_ROOT         0x02
#define XFS_ATTR_SECURE       0x04
#define XFS_ATTR_PARENT       0x08
#define XFS_ATTR_INCOMPLETE   0x80
#define XFS_ATTR_LEAF_MAGIC   0xfbee
#define XFS_ATTR3_LEAF_MAGIC  0x3bee
#define XFS_DA_NODE_MAGIC     0xfebe
#define XFS_DA3_NODE_MAGIC    0x3ebe
#define XFS_ATTR3_RMT_MAGIC   0x5841524du /* XARM */
#define XFS_DA_NODE_MAXDEPTH  5
#define XFS_XATTR_SIZE_MAX    65536

typedef int (*xattr_cb) (void *opaque, const char *name, const void *value, size_t len);

static int
emit_attr (struct xfs *x, const struct xinode *ip, uint8_t flags, const uint8_t *name,
           size_t namelen, const void *value, size_t len, xattr_cb cb, void *opaque)
{
  char full[16 + 256];
  const char *prefix;

  /* Parent pointers are not user-visible attributes; incomplete ones were
   * being written when the system stopped. */
  if (flags & (XFS_ATTR_PARENT | XFS_ATTR_INCOMPLETE))
    return 0;
  if (namelen == 0 || memchr (name, 0, namelen))
    return gfs_err (EINVAL, "%s: xfs: inode %" PRIu64 " has an attribute with a bad name",
                    x->name, ip->ino);
  prefix = flags & XFS_ATTR_ROOT ? "trusted." : flags & XFS_ATTR_SECURE ? "security." : "user.";
  snprintf (full, sizeof full, "%s%.*s", prefix, (int) namelen, (const char *) name);
  return cb (opaque, full, value, len);
}

static int
attr_shortform (struct xfs *x, const struct xinode *ip, xattr_cb cb, void *opaque)
{
  const uint8_t *p = ip->raw + ip->afork_off;
  size_t total, pos = 4;
  unsigned count;
  int r;

  if (ip->afork_size < 4)
    goto bad;
  total = be16 (p);
  count = p[2];
  if (total < 4 || total > ip->afork_size)
    goto bad;
  for (unsigned i = 0; i < count; i++) {
    size_t namelen, vlen;
    if (pos + 3 > total)
      goto bad;
    namelen = p[pos];
    vlen = p[pos + 1];
    if (pos + 3 + namelen + vlen > total)
      goto bad;
    r = emit_attr (x, ip, p[pos + 2], p + pos + 3, namelen, p + pos + 3 + namelen, vlen,
                   cb, opaque);
    if (r)
      return r;
    pos += 3 + namelen + vlen;
  }
  return 0;
 bad:
  return gfs_err (EINVAL, "%s: xfs: inode %" PRIu64 " has a corrupt short-form attribute list",
                  x->name, ip->ino);
}

/* A value stored in its own blocks of the attribute fork. */
static int
attr_remote (struct xfs *x, const struct xinode *ip, const struct xext *m, size_t n,
             uint32_t valueblk, uint8_t *val, size_t len, uint8_t *blk)
{
  size_t hdr = x->v5 ? 56 : 0, done = 0;
  int r;

  if (!x->v5)
    return map_read (x, m, n, val, len, (uint64_t) valueblk << x->blocklog);
  for (uint64_t lb = valueblk; done < len; lb++) {
    size_t want = len - done < x->blocksize - hdr ? len - done : x->blocksize - hdr;
    r = map_read (x, m, n, blk, x->blocksize, lb << x->blocklog);
    if (r < 0)
      return r;
    if (be32 (blk) != XFS_ATTR3_RMT_MAGIC || be32 (blk + 4) != done
        || be32 (blk + 8) != want || be64 (blk + 32) != ip->ino)
      return gfs_err (EINVAL, "%s: xfs: inode %" PRIu64 ": bad remote attribute block",
                      x->name, ip->ino);
    memcpy (val + done, blk + hdr, want);
    done += want;
  }
  return 0;
}

static int
attr_leaf (struct xfs *x, const struct xinode *ip, const struct xext *m, size_t n,
           const uint8_t *b, uint8_t *tmp, xattr_cb cb, void *opaque)
{
  size_t hdr = x->v5 ? 80 : 32, bs = x->blocksize;
  unsigned count = be16 (b + (x->v5 ? 56 : 12));
  uint8_t *val;
  int r;

  if (count > (bs - hdr) / 8)
    goto bad;
  for (unsigned i = 0; i < count; i++) {
    const uint8_t *e = b + hdr + (size_t) i * 8;
    size_t idx = be16 (e + 4);
    uint8_t flags = e[6];

    if (flags & XFS_ATTR_LOCAL) {
      size_t vlen, namelen;
      if (idx + 3 > bs)
        goto bad;
      vlen = be16 (b + idx);
      namelen = b[idx + 2];
      if (idx + 3 + namelen + vlen > bs)
        goto bad;
      r = emit_attr (x, ip, flags, b + idx + 3, namelen, b + idx + 3 + namelen, vlen,
                     cb, opaque);
    }
    else {
      uint32_t valueblk, vlen;
      size_t namelen;
      if (idx + 9 > bs)
        goto bad;
      valueblk = be32 (b + idx);
      vlen = be32 (b + idx + 4);
      namelen = b[idx + 8];
      if (idx + 9 + namelen > bs || vlen > XFS_XATTR_SIZE_MAX)
        goto bad;
      if (flags & (XFS_ATTR_PARENT | XFS_ATTR_INCOMPLETE))
        continue;
      val = malloc (vlen ? vlen : 1);
      if (!val)
        return gfs_err (ENOMEM, "%s: out of memory", x->name);
      r = attr_remote (x, ip, m, n, valueblk, val, vlen, tmp);
      if (r == 0)
        r = emit_attr (x, ip, flags, b + idx + 9, namelen, val, vlen, cb, opaque);
      free (val);
    }
    if (r)
      return r;
  }
  return 0;
 bad:
  return gfs_err (EINVAL, "%s: xfs: inode %" PRIu64 " has a corrupt attribute leaf block",
                  x->name, ip->ino);
}

/* Leaf and node forms: go down the first branch of the node tree to the
 * leftmost leaf, then along the leaves' forward links. */
static int
attr_blocks (struct xfs *x, const struct xinode *ip, xattr_cb cb, void *opaque)
{
  uint16_t leaf_magic = x->v5 ? XFS_ATTR3_LEAF_MAGIC : XFS_ATTR_LEAF_MAGIC;
  uint16_t node_magic = x->v5 ? XFS_DA3_NODE_MAGIC : XFS_DA_NODE_MAGIC;
  struct xext *m = NULL;
  size_t n = 0;
  uint8_t *b = NULL, *tmp = NULL;
  uint64_t lb = 0, total = 0, visited = 0;
  int r, depth = 0;

  r = load_fork (x, ip, true, &m, &n);
  if (r < 0)
    return r;
  for (size_t i = 0; i < n; i++)
    total += m[i].len;
  b = malloc (x->blocksize);
  tmp = malloc (x->blocksize);
  if (!b || !tmp) {
    r = gfs_err (ENOMEM, "%s: out of memory", x->name);
    goto out;
  }
  for (;;) {
    uint16_t magic;
    r = map_read (x, m, n, b, x->blocksize, lb << x->blocklog);
    if (r < 0)
      goto out;
    magic = be16 (b + 8);
    if (magic == leaf_magic)
      break;
    if (magic != node_magic || ++depth > XFS_DA_NODE_MAXDEPTH
        || be16 (b + (x->v5 ? 56 : 12)) == 0) {
      r = gfs_err (EINVAL, "%s: xfs: inode %" PRIu64 ": bad attribute block %" PRIu64,
                   x->name, ip->ino, lb);
      goto out;
    }
    lb = be32 (b + (x->v5 ? 64 : 16) + 4);
  }
  for (;;) {
    uint32_t forw = be32 (b);
    r = attr_leaf (x, ip, m, n, b, tmp, cb, opaque);
    if (r)
      goto out;
    if (forw == 0)
      break;
    if (++visited >= total) {
      r = gfs_err (ELOOP, "%s: xfs: inode %" PRIu64 ": the attribute leaves loop",
                   x->name, ip->ino);
      goto out;
    }
    lb = forw;
    r = map_read (x, m, n, b, x->blocksize, lb << x->blocklog);
    if (r < 0)
      goto out;
    if (be16 (b + 8) != leaf_magic) {
      r = gfs_err (EINVAL, "%s: xfs: inode %" PRIu64 ": bad attribute leaf %" PRIu64,
                   x->name, ip->ino, lb);
      goto out;
    }
  }
  r = 0;
 out:
  free (tmp);
  free (b);
  free (m);
  return r;
}

static int
xfs_listxattr (struct gfs_fs *fs, uint64_t ino, xattr_cb cb, void *opaque)
{
  struct xfs *x = (struct xfs *) fs;
  struct xinode *ip = malloc (sizeof *ip);
  int r;

  if (!ip)
    return gfs_err (ENOMEM, "%s: out of memory", x->name);
  r = read_inode (x, ino, ip);
  if (r == 0 && ip->afork_size) {
    if (ip->aformat == XFS_DINODE_FMT_LOCAL)
      r = attr_shortform (x, ip, cb, opaque);
    else if (ip->aformat == XFS_DINODE_FMT_EXTENTS || ip->aformat == XFS_DINODE_FMT_BTREE) {
      if (ip->anextents)
        r = attr_blocks (x, ip, cb, opaque);
    }
    else
      r = gfs_err (EINVAL, "%s: xfs: inode %" PRIu64 " has attribute fork format %u",
                   x->name, ino, ip->aformat);
  }
  free (ip);
  return r;
}

const struct gfs_fs_ops gfs_fs_xfs = {
  .name = "xfs",
  .probe = xfs_probe,
  .open = xfs_open,
  .close = xfs_close,
  .root_ino = xfs_root_ino,
  .lookup = xfs_lookup,
  .getattr = xfs_getattr,
  .readdir = xfs_readdir,
  .read = xfs_read,
  .readlink = xfs_readlink,
  .statfs = xfs_statfs,
  .info = xfs_info,
  .listxattr = xfs_listxattr,
};
