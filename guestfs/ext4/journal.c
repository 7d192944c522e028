/* jbd2 journal replay in memory (see journal.h).
 *
 * Format from the kernel's Documentation/filesystems/ext4/journal.rst: a
 * big-endian journal superblock in journal block 0, then a circular log of
 * [descriptor, data blocks..., commit] transactions and revoke blocks, each
 * metadata block starting with (magic, type, sequence).
 *
 * Hostile journals: every block number is checked against the journal and
 * the filesystem, the walk is bounded by the journal length (a log that
 * would wrap onto itself ends), sequence numbers must follow one another,
 * and memory is bounded by the number of journal blocks. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestfs/guestfs.h"
#include "guestfs/ext4/journal.h"

#define JBD2_DESCRIPTOR  1
#define JBD2_COMMIT      2
#define JBD2_SB_V1       3
#define JBD2_SB_V2       4
#define JBD2_REVOKE      5

#define FEAT_COMPAT_CHECKSUM   0x1
#define FEAT_INCOMPAT_REVOKE   0x1
#define FEAT_INCOMPAT_64BIT    0x2
#define FEAT_INCOMPAT_ASYNC    0x4
#define FEAT_INCOMPAT_CSUM_V2  0x8
#define FEAT_INCOMPAT_CSUM_V3  0x10
#define FEAT_INCOMPAT_FAST     0x20
#define FEAT_INCOMPAT_KNOWN    0x3f

#define TAG_ESCAPE    1
#define TAG_SAME_UUID 2
#define TAG_LAST      8

#define MAX_JOURNAL_BLOCKS (1ull << 24)   /* 64 GiB of 4 KiB blocks */
#define MAX_RECORDS        (1u << 22)     /* tags or revoke records kept */

static inline uint32_t be32 (const uint8_t *p) { return gfs_be32 (p); }
static inline uint16_t be16 (const uint8_t *p) { return gfs_be16 (p); }

/* CRC32c (Castagnoli) without pre/post inversion, as jbd2 and ext4 use it. */
uint32_t
gfs_crc32c (uint32_t crc, const void *buf, size_t len)
{
  static uint32_t table[256];
  static bool init;
  const uint8_t *p = buf;

  if (!init) {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++)
        c = (c >> 1) ^ (0x82F63B78u & -(c & 1));
      table[i] = c;
    }
    init = true;
  }
  while (len--)
    crc = (crc >> 8) ^ table[(crc ^ *p++) & 0xff];
  return crc;
}

/* ---- a small open-addressing map: filesystem block -> value ---- */
struct slot {
  uint64_t key;              /* filesystem block + 1 (0 = empty) */
  uint64_t val;
  uint32_t aux;
};

struct jbd2_map {
  struct slot *slots;
  size_t cap, n;             /* cap: power of two */
};

static uint64_t
hash64 (uint64_t x)
{
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

static struct slot *
map_find (const struct jbd2_map *m, uint64_t key, bool *found)
{
  size_t i = hash64 (key) & (m->cap - 1);
  for (;;) {
    struct slot *s = &m->slots[i];
    if (s->key == key + 1) {
      *found = true;
      return s;
    }
    if (s->key == 0) {
      *found = false;
      return s;
    }
    i = (i + 1) & (m->cap - 1);
  }
}

static int
map_init (struct jbd2_map *m, size_t entries)
{
  size_t cap = 16;
  while (cap < 2 * entries + 2)
    cap *= 2;
  m->slots = calloc (cap, sizeof *m->slots);
  if (!m->slots)
    return gfs_err (ENOMEM, "out of memory (journal replay map of %zu entries)", entries);
  m->cap = cap;
  m->n = 0;
  return 0;
}

/* Callers size the map for the most entries they insert, so it never fills. */
static struct slot *
map_put (struct jbd2_map *m, uint64_t key)
{
  bool found;
  struct slot *s = map_find (m, key, &found);
  if (!found) {
    s->key = key + 1;
    m->n++;
  }
  return s;
}

bool
jbd2_map_lookup (const struct jbd2_map *m, uint64_t fsblk, uint64_t *jblk, bool *escaped)
{
  bool found;
  const struct slot *s;

  if (!m || m->n == 0)
    return false;
  s = map_find (m, fsblk, &found);
  if (!found)
    return false;
  *jblk = s->val;
  *escaped = s->aux & 1;
  return true;
}

void
jbd2_map_free (struct jbd2_map *m)
{
  if (!m)
    return;
  free (m->slots);
  free (m);
}

/* ---- the log ---- */

struct tag {
  uint64_t fsblk;
  uint64_t jlog;             /* log block holding the data */
  uint32_t seq;
  uint32_t csum;             /* expected data checksum (csum v2: low 16 bits) */
  uint8_t flags;
};

struct revoke {
  uint64_t fsblk;
  uint32_t seq;
};

struct journal {
  struct gfs_dev *dev;
  uint32_t bs;
  uint64_t fs_blocks, jblocks;
  jbd2_bmap_fn bmap;
  void *opaque;
  /* cached run of the journal's block map */
  uint64_t run_l, run_p, run_n;
  uint32_t first, last;      /* log area: [first, last) */
  uint32_t incompat, compat;
  uint32_t seed;             /* crc32c of the journal UUID */
  bool csum, csum3, is64;
  size_t tag_bytes;
  uint8_t *buf;
};

static int
jmap (struct journal *j, uint64_t lblk, uint64_t *pblk)
{
  int r;

  if (lblk >= j->jblocks)
    return gfs_err (EIO, "%s: ext4 journal: log block %" PRIu64 " is beyond the journal (%" PRIu64 " blocks)",
                    j->dev->name, lblk, j->jblocks);
  if (!(j->run_n && lblk >= j->run_l && lblk - j->run_l < j->run_n)) {
    uint64_t p, n;
    r = j->bmap (j->opaque, lblk, &p, &n);
    if (r < 0)
      return r;
    if (p == 0)
      return gfs_err (EIO, "%s: ext4 journal: log block %" PRIu64 " is a hole in the journal inode",
                      j->dev->name, lblk);
    j->run_l = lblk;
    j->run_p = p;
    j->run_n = n ? n : 1;
  }
  *pblk = j->run_p + (lblk - j->run_l);
  if (*pblk >= j->fs_blocks)
    return gfs_err (EIO, "%s: ext4 journal: log block %" PRIu64 " maps outside the filesystem",
                    j->dev->name, lblk);
  return 0;
}

static int
jread (struct journal *j, uint64_t lblk, uint8_t *buf)
{
  uint64_t p;
  int r = jmap (j, lblk, &p);
  if (r < 0)
    return r;
  return gfs_dev_pread (j->dev, buf, j->bs, p * j->bs);
}

static uint64_t
jnext (const struct journal *j, uint64_t blk)
{
  blk++;
  return blk >= j->last ? j->first : blk;
}

/* Checksum of a descriptor or revoke block: its last 4 bytes. */
static bool
tail_ok (const struct journal *j, const uint8_t *b)
{
  static const uint8_t zero[4];
  uint32_t c = gfs_crc32c (j->seed, b, j->bs - 4);
  c = gfs_crc32c (c, zero, 4);
  return c == be32 (b + j->bs - 4);
}

static bool
commit_ok (const struct journal *j, const uint8_t *b)
{
  static const uint8_t zero[4];
  uint32_t c = gfs_crc32c (j->seed, b, 16);
  c = gfs_crc32c (c, zero, 4);
  c = gfs_crc32c (c, b + 20, j->bs - 20);
  return c == be32 (b + 16);
}

static int
load_super (struct journal *j)
{
  uint8_t *b = j->buf;
  uint32_t type, bs, maxlen, first;
  int r = jread (j, 0, b);

  if (r < 0)
    return r;
  type = be32 (b + 4);
  if (be32 (b) != JBD2_MAGIC || (type != JBD2_SB_V1 && type != JBD2_SB_V2))
    return gfs_err (EINVAL, "%s: ext4 journal: bad journal superblock (magic %#x, type %u)",
                    j->dev->name, be32 (b), type);
  bs = be32 (b + 0xc);
  maxlen = be32 (b + 0x10);
  first = be32 (b + 0x14);
  if (bs != j->bs)
    return gfs_err (EINVAL, "%s: ext4 journal: block size %u differs from the filesystem's (%u)",
                    j->dev->name, bs, j->bs);
  if (maxlen > j->jblocks || maxlen < 2 || first == 0 || first >= maxlen)
    return gfs_err (EINVAL, "%s: ext4 journal: bad geometry (%u blocks from %u; the journal inode has %" PRIu64 ")",
                    j->dev->name, maxlen, first, j->jblocks);
  j->first = first;
  j->last = maxlen;
  if (type == JBD2_SB_V2) {
    j->compat = be32 (b + 0x24);
    j->incompat = be32 (b + 0x28);
  }
  if (j->incompat & ~FEAT_INCOMPAT_KNOWN)
    return gfs_err (ENOTSUP, "%s: ext4 journal: unsupported journal features %#x",
                    j->dev->name, j->incompat & ~FEAT_INCOMPAT_KNOWN);
  j->csum3 = j->incompat & FEAT_INCOMPAT_CSUM_V3;
  j->csum = j->csum3 || (j->incompat & FEAT_INCOMPAT_CSUM_V2);
  j->is64 = j->incompat & FEAT_INCOMPAT_64BIT;
  if (j->csum) {
    static const uint8_t zero[4];
    uint32_t c = gfs_crc32c (~0u, b, 0xfc);
    c = gfs_crc32c (c, zero, 4);
    c = gfs_crc32c (c, b + 0x100, 1024 - 0x100);
    if (b[0x50] != 4)      /* JBD2_CRC32C_CHKSUM */
      return gfs_err (ENOTSUP, "%s: ext4 journal: checksum type %u is not crc32c",
                      j->dev->name, b[0x50]);
    if (c != be32 (b + 0xfc))
      return gfs_err (EINVAL, "%s: ext4 journal: journal superblock checksum mismatch",
                      j->dev->name);
    j->seed = gfs_crc32c (~0u, b + 0x30, 16);
  }
  if (j->incompat & FEAT_INCOMPAT_FAST) {
    uint32_t fc = be32 (b + 0x54);
    if (fc == 0)
      fc = 256;
    if (fc >= maxlen - first)
      return gfs_err (EINVAL, "%s: ext4 journal: %u fast-commit blocks do not fit", j->dev->name, fc);
    j->last = maxlen - fc;
  }
  if (j->csum3)
    j->tag_bytes = 16;
  else {
    j->tag_bytes = 12 + (j->csum ? 2 : 0);
    if (!j->is64)
      j->tag_bytes -= 4;
  }
  return 0;
}

static int
push_tag (struct tag **v, size_t *n, size_t *cap, const struct tag *t)
{
  if (*n >= MAX_RECORDS)
    return gfs_err (EFBIG, "ext4 journal: more than %u block tags", MAX_RECORDS);
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 256;
    struct tag *nv = realloc (*v, nc * sizeof *nv);
    if (!nv)
      return gfs_err (ENOMEM, "out of memory");
    *v = nv;
    *cap = nc;
  }
  (*v)[(*n)++] = *t;
  return 0;
}

static int
push_revoke (struct revoke **v, size_t *n, size_t *cap, uint64_t blk, uint32_t seq)
{
  if (*n >= MAX_RECORDS)
    return gfs_err (EFBIG, "ext4 journal: more than %u revoke records", MAX_RECORDS);
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 256;
    struct revoke *nv = realloc (*v, nc * sizeof *nv);
    if (!nv)
      return gfs_err (ENOMEM, "out of memory");
    *v = nv;
    *cap = nc;
  }
  (*v)[*n].fsblk = blk;
  (*v)[*n].seq = seq;
  (*n)++;
  return 0;
}

/* (int32_t) difference: sequence numbers wrap around. */
static bool
tid_geq (uint32_t a, uint32_t b)
{
  return (int32_t) (a - b) >= 0;
}

int
jbd2_replay_load (struct gfs_dev *dev, uint32_t block_size, uint64_t fs_blocks,
                  uint64_t journal_blocks, jbd2_bmap_fn bmap, void *opaque,
                  struct jbd2_map **out, struct jbd2_info *info)
{
  struct journal j = { 0 };
  struct tag *tags = NULL, *pend = NULL;
  struct revoke *revs = NULL, *prev = NULL;
  size_t ntags = 0, ctags = 0, npend = 0, cpend = 0, nrevs = 0, crevs = 0, nprev = 0, cprev = 0;
  struct jbd2_map *m = NULL, rmap = { 0 };
  uint32_t seq, start;
  uint64_t blk, walked = 0;
  const char *stop = NULL;
  char why[200];
  int r;

  *out = NULL;
  memset (info, 0, sizeof *info);
  if (journal_blocks > MAX_JOURNAL_BLOCKS)
    return gfs_err (EFBIG, "%s: ext4 journal: %" PRIu64 " blocks is too large",
                    dev->name, journal_blocks);
  j.dev = dev;
  j.bs = block_size;
  j.fs_blocks = fs_blocks;
  j.jblocks = journal_blocks;
  j.bmap = bmap;
  j.opaque = opaque;
  j.buf = malloc (block_size);
  if (!j.buf)
    return gfs_err (ENOMEM, "out of memory");
  r = load_super (&j);
  if (r < 0)
    goto out;
  seq = be32 (j.buf + 0x18);
  start = be32 (j.buf + 0x1c);
  if (start == 0)               /* clean: nothing to replay */
    goto out;
  if (start < j.first || start >= j.last) {
    r = gfs_err (EINVAL, "%s: ext4 journal: log start %u is outside the log area [%u, %u)",
                 dev->name, start, j.first, j.last);
    goto out;
  }

  /* Scan: follow the log from its start while blocks carry the expected
   * sequence number.  Tags and revokes of a transaction become final at
   * its commit block; a transaction without a valid commit ends the log. */
  blk = start;
  for (;;) {
    uint8_t *b = j.buf;
    uint32_t type;

    if (walked >= (uint64_t) (j.last - j.first)) {
      stop = "the log is longer than the journal";
      break;
    }
    r = jread (&j, blk, b);
    if (r < 0)
      goto out;
    walked++;
    if (be32 (b) != JBD2_MAGIC || be32 (b + 8) != seq)
      break;                    /* the end of the log */
    type = be32 (b + 4);
    if (type == JBD2_DESCRIPTOR) {
      size_t end = j.bs - (j.csum ? 4 : 0), p = 12;
      if (j.csum && !tail_ok (&j, b)) {
        stop = "descriptor block checksum mismatch";
        break;
      }
      while (p + j.tag_bytes <= end) {
        struct tag t = { 0 };
        const uint8_t *tp = b + p;
        uint32_t flags = j.csum3 ? be32 (tp + 4) : be16 (tp + 6);
        t.fsblk = be32 (tp);
        if (j.is64)
          t.fsblk |= (uint64_t) be32 (tp + 8) << 32;
        t.csum = j.csum3 ? be32 (tp + 12) : be16 (tp + 4);
        t.flags = (uint8_t) flags;
        t.seq = seq;
        if (walked >= (uint64_t) (j.last - j.first)) {
          stop = "the log is longer than the journal";
          break;
        }
        blk = jnext (&j, blk);
        walked++;
        t.jlog = blk;
        if (t.fsblk >= fs_blocks) {
          snprintf (why, sizeof why, "block %" PRIu64 " is beyond the filesystem", t.fsblk);
          stop = why;
          break;
        }
        r = push_tag (&pend, &npend, &cpend, &t);
        if (r < 0)
          goto out;
        p += j.tag_bytes + ((flags & TAG_SAME_UUID) ? 0 : 16);
        if (flags & TAG_LAST)
          break;
      }
      if (stop)
        break;
    }
    else if (type == JBD2_COMMIT) {
      if (j.csum && !commit_ok (&j, b)) {
        stop = "commit block checksum mismatch";
        break;
      }
      /* committed: its tags and revokes count */
      for (size_t i = 0; i < npend; i++)
        if ((r = push_tag (&tags, &ntags, &ctags, &pend[i])) < 0)
          goto out;
      for (size_t i = 0; i < nprev; i++)
        if ((r = push_revoke (&revs, &nrevs, &crevs, prev[i].fsblk, prev[i].seq)) < 0)
          goto out;
      npend = nprev = 0;
      info->transactions++;
      seq++;
    }
    else if (type == JBD2_REVOKE) {
      uint32_t count = be32 (b + 12);
      size_t rec = j.is64 ? 8 : 4, lim = j.bs - (j.csum ? 4 : 0);
      if (j.csum && !tail_ok (&j, b)) {
        stop = "revoke block checksum mismatch";
        break;
      }
      if (count < 16 || count > lim) {
        stop = "revoke block with a bad record count";
        break;
      }
      for (size_t p = 16; p + rec <= count; p += rec) {
        uint64_t rb = j.is64 ? ((uint64_t) be32 (b + p) << 32 | be32 (b + p + 4)) : be32 (b + p);
        if ((r = push_revoke (&prev, &nprev, &cprev, rb, seq)) < 0)
          goto out;
      }
    }
    else {
      snprintf (why, sizeof why, "unknown block type %u", type);
      stop = why;
      break;
    }
    blk = jnext (&j, blk);
  }
  if (stop)
    gfs_warn ("%s: ext4 journal: transaction %" PRIu32 " is not replayed (%s); "
              "%" PRIu64 " committed transactions before it are", dev->name, seq, stop,
              info->transactions);
  else if (info->transactions == 0)
    gfs_warn ("%s: ext4 journal: needs recovery, but the log from block %" PRIu32
              " holds no committed transaction %" PRIu32 "; nothing to replay",
              dev->name, start, seq);
  if (ntags == 0)
    goto out;

  /* Revoked: a block revoked by a transaction at or after the one that
   * logged it is not replayed from that transaction. */
  if ((r = map_init (&rmap, nrevs)) < 0)
    goto out;
  for (size_t i = 0; i < nrevs; i++) {
    struct slot *s = map_put (&rmap, revs[i].fsblk);
    if (s->aux == 0 || tid_geq (revs[i].seq, (uint32_t) s->val))
      s->val = revs[i].seq;
    s->aux = 1;
  }

  m = calloc (1, sizeof *m);
  if (!m || (r = map_init (m, ntags)) < 0) {
    if (!m)
      r = gfs_err (ENOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < ntags; i++) {
    struct tag *t = &tags[i];
    bool found;
    struct slot *rs = map_find (&rmap, t->fsblk, &found);
    uint64_t p;

    if (found && tid_geq ((uint32_t) rs->val, t->seq)) {
      info->revoked++;
      continue;
    }
    if ((r = jmap (&j, t->jlog, &p)) < 0)
      goto out;
    if (j.csum) {
      uint8_t sb[4] = { t->seq >> 24, t->seq >> 16, t->seq >> 8, t->seq };
      uint32_t c;
      if ((r = gfs_dev_pread (dev, j.buf, j.bs, p * j.bs)) < 0)
        goto out;
      c = gfs_crc32c (j.seed, sb, 4);
      c = gfs_crc32c (c, j.buf, j.bs);
      if (!j.csum3)
        c &= 0xffff;
      if (c != t->csum) {
        /* the kernel skips such a block and reports the error */
        gfs_warn ("%s: ext4 journal: bad checksum of the copy of block %" PRIu64
                  " in transaction %" PRIu32 "; not replayed", dev->name, t->fsblk, t->seq);
        info->bad_csum++;
        continue;
      }
    }
    {
      struct slot *s = map_put (m, t->fsblk);
      s->val = p;
      s->aux = (t->flags & TAG_ESCAPE) ? 1 : 0;
    }
  }
  info->blocks = m->n;
  *out = m;
  m = NULL;
  r = 0;
 out:
  jbd2_map_free (m);
  free (rmap.slots);
  free (tags);
  free (pend);
  free (revs);
  free (prev);
  free (j.buf);
  return r;
}
