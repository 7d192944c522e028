/* guestfs/vfat: a read-only FAT12/16/32 reader with VFAT long names.
 *
 * Inode numbers: the root directory is VFAT_ROOT_INO; every other file or
 * directory is the byte offset, on the device, of its 8.3 directory entry
 * (always a multiple of 32 and past the boot sector, so never the root's).
 *
 * The FAT type is decided as Linux does: FAT32 when the 16-bit FAT size is
 * zero, otherwise FAT12 below 4085 clusters and FAT16 above.  Cluster
 * chains are walked with a length cap (a file's size, or the 65536-entry
 * limit of a directory) and checked for repeated clusters, so a chain that
 * loops is an error, never a hang.
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

extern const struct gfs_fs_ops gfs_fs_vfat;

#define VFAT_ROOT_INO      1
#define ATTR_RO            0x01
#define ATTR_VOLUME        0x08
#define ATTR_DIR           0x10
#define ATTR_LFN           0x0f
#define NTRES_LOWER_BASE   0x08
#define NTRES_LOWER_EXT    0x10
#define MAX_DIR_BYTES      (65536u * 32)  /* a directory holds at most 65536 entries */
#define FAT_WINDOW         65536u
#define MAX_LFN_SLOTS      20              /* 20 * 13 >= 255 characters */

struct vfat {
  struct gfs_fs hdr;
  const char *name;
  int bits;                    /* 12, 16, 32 */
  uint32_t bps, spc, cluster_size;
  uint32_t nclusters;          /* data clusters are 2 .. nclusters + 1 */
  uint64_t fat_off, fat_bytes; /* the active FAT */
  uint64_t root_off;           /* FAT12/16: the fixed root directory */
  uint32_t root_entries;
  uint32_t root_cluster;       /* FAT32 */
  uint64_t data_off;
  uint32_t vol_id;
  bool has_serial;
  char bpb_label[12];
  /* A window of the FAT. */
  uint8_t *win;
  uint64_t win_off;
  size_t win_len;
  /* The last file's cluster chain ("cat" reads a file in many calls). */
  uint32_t *chain;
  size_t chain_n;
  uint32_t chain_first;
  bool chain_valid;
};

/* An 8.3 entry, decoded. */
struct vent {
  uint8_t raw[32];
  uint8_t attr;
  uint32_t cluster;
  uint32_t size;
};

static const uint16_t cp437_high[128] = {
  0x00c7, 0x00fc, 0x00e9, 0x00e2, 0x00e4, 0x00e0, 0x00e5, 0x00e7, 0x00ea, 0x00eb, 0x00e8,
  0x00ef, 0x00ee, 0x00ec, 0x00c4, 0x00c5, 0x00c9, 0x00e6, 0x00c6, 0x00f4, 0x00f6, 0x00f2,
  0x00fb, 0x00f9, 0x00ff, 0x00d6, 0x00dc, 0x00a2, 0x00a3, 0x00a5, 0x20a7, 0x0192, 0x00e1,
  0x00ed, 0x00f3, 0x00fa, 0x00f1, 0x00d1, 0x00aa, 0x00ba, 0x00bf, 0x2310, 0x00ac, 0x00bd,
  0x00bc, 0x00a1, 0x00ab, 0x00bb, 0x2591, 0x2592, 0x2593, 0x2502, 0x2524, 0x2561, 0x2562,
  0x2556, 0x2555, 0x2563, 0x2551, 0x2557, 0x255d, 0x255c, 0x255b, 0x2510, 0x2514, 0x2534,
  0x252c, 0x251c, 0x2500, 0x253c, 0x255e, 0x255f, 0x255a, 0x2554, 0x2569, 0x2566, 0x2560,
  0x2550, 0x256c, 0x2567, 0x2568, 0x2564, 0x2565, 0x2559, 0x2558, 0x2552, 0x2553, 0x256b,
  0x256a, 0x2518, 0x250c, 0x2588, 0x2584, 0x258c, 0x2590, 0x2580, 0x03b1, 0x00df, 0x0393,
  0x03c0, 0x03a3, 0x03c3, 0x00b5, 0x03c4, 0x03a6, 0x0398, 0x03a9, 0x03b4, 0x221e, 0x03c6,
  0x03b5, 0x2229, 0x2261, 0x00b1, 0x2265, 0x2264, 0x2320, 0x2321, 0x00f7, 0x2248, 0x00b0,
  0x2219, 0x00b7, 0x221a, 0x207f, 0x00b2, 0x25a0, 0x00a0,
};

static inline uint16_t le16 (const uint8_t *p) { return (uint16_t) (p[0] | p[1] << 8); }
static inline uint32_t
le32 (const uint8_t *p)
{
  return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

/* Append code point CP as UTF-8; false if it does not fit. */
static bool
put_utf8 (char *out, size_t cap, size_t *len, uint32_t cp)
{
  uint8_t b[4];
  size_t n;

  if (cp < 0x80) { b[0] = (uint8_t) cp; n = 1; }
  else if (cp < 0x800) { b[0] = 0xc0 | cp >> 6; b[1] = 0x80 | (cp & 0x3f); n = 2; }
  else if (cp < 0x10000) {
    b[0] = 0xe0 | cp >> 12; b[1] = 0x80 | ((cp >> 6) & 0x3f); b[2] = 0x80 | (cp & 0x3f); n = 3;
  }
  else {
    b[0] = 0xf0 | cp >> 18; b[1] = 0x80 | ((cp >> 12) & 0x3f);
    b[2] = 0x80 | ((cp >> 6) & 0x3f); b[3] = 0x80 | (cp & 0x3f); n = 4;
  }
  if (*len + n >= cap)
    return false;
  memcpy (out + *len, b, n);
  *len += n;
  return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t
days_from_civil (int y, unsigned m, unsigned d)
{
  int64_t era;
  unsigned yoe, doy, doe;

  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = (unsigned) (y - era * 400);
  doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t) doe - 719468;
}

/* FAT timestamps are local time; like Linux without tz=, read them as UTC. */
static int64_t
fat_time (uint16_t date, uint16_t time)
{
  unsigned m = (date >> 5) & 15, d = date & 31;
  unsigned hh = time >> 11, mm = (time >> 5) & 63, ss = (time & 31) * 2;

  if (date == 0)
    return 0;
  if (m < 1) m = 1;
  if (m > 12) m = 12;
  if (d < 1) d = 1;
  if (hh > 23) hh = 23;
  if (mm > 59) mm = 59;
  if (ss > 59) ss = 59;
  return days_from_civil (1980 + (date >> 9), m, d) * 86400 + hh * 3600 + mm * 60 + ss;
}

/* ---- boot sector -------------------------------------------------------- */

static bool
pow2 (uint32_t v)
{
  return v && !(v & (v - 1));
}

/* Cheap structural check of a BPB, shared by probe and open. */
static bool
bpb_plausible (const uint8_t *b)
{
  uint16_t bps = le16 (b + 11);
  uint8_t spc = b[13], media = b[21];

  if (b[0] != 0xeb && b[0] != 0xe9)
    return false;
  if (memcmp (b + 3, "NTFS    ", 8) == 0 || memcmp (b + 3, "EXFAT   ", 8) == 0)
    return false;
  if (!pow2 (bps) || bps < 512 || bps > 4096 || !pow2 (spc))
    return false;
  if (le16 (b + 14) == 0 || b[16] == 0 || b[16] > 4)
    return false;
  if (media != 0xf0 && media < 0xf8)
    return false;
  if (le16 (b + 19) == 0 && le32 (b + 32) == 0)
    return false;
  if (le16 (b + 22) == 0 && le32 (b + 36) == 0)
    return false;
  return true;
}

static int
vfat_probe (struct gfs_dev *dev)
{
  uint8_t b[512];
  int r;

  if (dev->size < 512)
    return 0;
  r = gfs_dev_pread (dev, b, sizeof b, 0);
  if (r < 0)
    return r;
  return bpb_plausible (b);
}

static int
parse_bpb (struct vfat *v, struct gfs_dev *dev)
{
  uint8_t b[512];
  uint32_t reserved, nfats, fatsz, totsec, rootsecs, meta, entries;
  const uint8_t *ext;
  int r;

  r = gfs_dev_pread (dev, b, sizeof b, 0);
  if (r < 0)
    return r;
  if (!bpb_plausible (b))
    return gfs_err (EINVAL, "%s: not a FAT filesystem (bad boot sector)", v->name);
  v->bps = le16 (b + 11);
  v->spc = b[13];
  v->cluster_size = v->bps * v->spc;
  reserved = le16 (b + 14);
  nfats = b[16];
  v->root_entries = le16 (b + 17);
  totsec = le16 (b + 19) ? le16 (b + 19) : le32 (b + 32);
  fatsz = le16 (b + 22);
  if (fatsz == 0) {
    uint16_t ext_flags = le16 (b + 40);
    unsigned active = ext_flags & 0x80 ? ext_flags & 0xf : 0;

    v->bits = 32;
    fatsz = le32 (b + 36);
    if (v->root_entries != 0)
      return gfs_err (EINVAL, "%s: FAT32 boot sector has a fixed root directory", v->name);
    if (le16 (b + 42) != 0)
      return gfs_err (ENOTSUP, "%s: FAT32 version %#x is not supported", v->name, le16 (b + 42));
    if (active >= nfats)
      return gfs_err (EINVAL, "%s: FAT32 active FAT %u does not exist", v->name, active);
    v->root_cluster = le32 (b + 44);
    v->fat_off = ((uint64_t) reserved + (uint64_t) active * fatsz) * v->bps;
    ext = b + 64;
  }
  else {
    v->fat_off = (uint64_t) reserved * v->bps;
    ext = b + 36;
  }
  v->fat_bytes = (uint64_t) fatsz * v->bps;
  rootsecs = (uint32_t) (((uint64_t) v->root_entries * 32 + v->bps - 1) / v->bps);
  meta = reserved + nfats * fatsz + rootsecs;  /* < 2^16 + 4 * 2^32: checked below */
  if ((uint64_t) reserved + (uint64_t) nfats * fatsz + rootsecs >= totsec)
    return gfs_err (EINVAL, "%s: FAT metadata (%" PRIu64 " sectors) does not fit in the "
                    "%" PRIu32 " sectors of the filesystem", v->name,
                    (uint64_t) reserved + (uint64_t) nfats * fatsz + rootsecs, totsec);
  if ((uint64_t) totsec * v->bps > dev->size)
    return gfs_err (EINVAL, "%s: FAT filesystem (%" PRIu64 " bytes) is larger than the "
                    "device (%" PRIu64 " bytes)", v->name, (uint64_t) totsec * v->bps, dev->size);
  v->nclusters = (totsec - meta) / v->spc;
  if (v->nclusters == 0)
    return gfs_err (EINVAL, "%s: FAT filesystem has no data clusters", v->name);
  if (v->bits != 32)
    v->bits = v->nclusters < 4085 ? 12 : 16;
  if ((v->bits == 16 && v->nclusters > 65524) || (v->bits == 32 && v->nclusters > 0x0ffffff5))
    return gfs_err (EINVAL, "%s: FAT%d with %" PRIu32 " clusters is invalid",
                    v->name, v->bits, v->nclusters);
  entries = (uint32_t) (v->fat_bytes * 8 / (unsigned) v->bits > UINT32_MAX
                        ? UINT32_MAX : v->fat_bytes * 8 / (unsigned) v->bits);
  if (entries < 2 || v->nclusters > entries - 2)
    return gfs_err (EINVAL, "%s: the FAT (%" PRIu32 " entries) is too small for %" PRIu32
                    " clusters", v->name, entries, v->nclusters);
  v->root_off = ((uint64_t) reserved + (uint64_t) nfats * fatsz) * v->bps;
  v->data_off = (uint64_t) meta * v->bps;
  if (v->bits == 32 && (v->root_cluster < 2 || v->root_cluster > v->nclusters + 1))
    return gfs_err (EINVAL, "%s: FAT32 root cluster %" PRIu32 " is out of range",
                    v->name, v->root_cluster);
  if (ext[2] == 0x29 || (ext[2] == 0x28 && v->bits != 32)) {
    v->has_serial = true;
    v->vol_id = le32 (ext + 3);
    if (ext[2] == 0x29) {
      memcpy (v->bpb_label, ext + 7, 11);
      v->bpb_label[11] = 0;
    }
  }
  return 0;
}

/* ---- the FAT ------------------------------------------------------------ */

static int
fat_get (struct vfat *v, uint32_t c, uint32_t *val)
{
  unsigned w = v->bits == 12 ? 2 : v->bits / 8;
  uint64_t off = v->bits == 12 ? (uint64_t) c + c / 2 : (uint64_t) c * w;
  const uint8_t *p;

  if (off + w > v->fat_bytes)
    return gfs_err (EINVAL, "%s: FAT entry %" PRIu32 " is beyond the FAT", v->name, c);
  if (!v->win_len || off < v->win_off || off + w > v->win_off + v->win_len) {
    uint64_t start = off & ~(uint64_t) (FAT_WINDOW - 1);
    size_t len;
    int r;

    if (off + w > start + FAT_WINDOW)
      start = off;
    len = v->fat_bytes - start < FAT_WINDOW ? (size_t) (v->fat_bytes - start) : FAT_WINDOW;
    v->win_len = 0;
    r = gfs_dev_pread (v->hdr.dev, v->win, len, v->fat_off + start);
    if (r < 0)
      return r;
    v->win_off = start;
    v->win_len = len;
  }
  p = v->win + (off - v->win_off);
  switch (v->bits) {
  case 12: *val = c & 1 ? le16 (p) >> 4 : le16 (p) & 0xfff; break;
  case 16: *val = le16 (p); break;
  default: *val = le32 (p) & 0x0fffffff; break;
  }
  return 0;
}

static uint32_t
fat_eoc_min (const struct vfat *v)
{
  return v->bits == 12 ? 0xff8 : v->bits == 16 ? 0xfff8 : 0x0ffffff8;
}

static int
cmp_u32 (const void *a, const void *b)
{
  uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
  return x < y ? -1 : x > y;
}

/* The chain starting at FIRST.  With WANT > 0 (a file), exactly WANT
 * clusters are returned, and a shorter chain is an error.  With WANT == 0
 * (a directory) the chain runs to its end, which must come within MAX. */
static int
get_chain (struct vfat *v, uint32_t first, size_t want, size_t max,
           uint32_t **out, size_t *nout)
{
  size_t n = 0, cap = want ? want : 16;
  uint32_t c = first, *arr, *sorted;
  int r;

  if (want > v->nclusters)
    return gfs_err (EINVAL, "%s: FAT: a file needs %zu clusters, more than the filesystem has",
                    v->name, want);
  arr = malloc (cap * sizeof *arr);
  if (!arr)
    return gfs_err (ENOMEM, "%s: out of memory", v->name);
  for (;;) {
    uint32_t next;

    if (c < 2 || c > v->nclusters + 1) {
      r = gfs_err (EINVAL, "%s: FAT: cluster %" PRIu32 " in the chain starting at %" PRIu32
                   " is out of range", v->name, c, first);
      goto fail;
    }
    if (n == cap) {
      uint32_t *na;
      if (n >= max) {
        r = gfs_err (ELOOP, "%s: FAT: the cluster chain starting at %" PRIu32
                     " is too long (a loop?)", v->name, first);
        goto fail;
      }
      cap = cap * 2 < max ? cap * 2 : max;
      na = realloc (arr, cap * sizeof *arr);
      if (!na) {
        r = gfs_err (ENOMEM, "%s: out of memory", v->name);
        goto fail;
      }
      arr = na;
    }
    arr[n++] = c;
    if (want && n == want)
      break;
    r = fat_get (v, c, &next);
    if (r < 0)
      goto fail;
    if (next >= fat_eoc_min (v)) {
      if (want) {
        r = gfs_err (EINVAL, "%s: FAT: the chain starting at %" PRIu32 " has %zu clusters, "
                     "shorter than its file", v->name, first, n);
        goto fail;
      }
      break;
    }
    if (next == 0 || next == fat_eoc_min (v) - 1) {
      r = gfs_err (EINVAL, "%s: FAT: the chain starting at %" PRIu32 " runs into a %s cluster",
                   v->name, first, next ? "bad" : "free");
      goto fail;
    }
    c = next;
  }

  /* A cluster that appears twice means the chain loops back on itself. */
  sorted = malloc (n * sizeof *sorted);
  if (!sorted) {
    r = gfs_err (ENOMEM, "%s: out of memory", v->name);
    goto fail;
  }
  memcpy (sorted, arr, n * sizeof *sorted);
  qsort (sorted, n, sizeof *sorted, cmp_u32);
  for (size_t i = 1; i < n; i++)
    if (sorted[i] == sorted[i - 1]) {
      r = gfs_err (ELOOP, "%s: FAT: the cluster chain starting at %" PRIu32 " loops "
                   "(cluster %" PRIu32 " appears twice)", v->name, first, sorted[i]);
      free (sorted);
      goto fail;
    }
  free (sorted);
  *out = arr;
  *nout = n;
  return 0;
 fail:
  free (arr);
  return r;
}

static uint64_t
cluster_off (const struct vfat *v, uint32_t c)
{
  return v->data_off + (uint64_t) (c - 2) * v->cluster_size;
}

/* ---- directory entries -------------------------------------------------- */

static int
read_entry (struct vfat *v, uint64_t ino, struct vent *e)
{
  int r;

  if (ino == VFAT_ROOT_INO || ino % 32 || ino < v->root_off
      || ino > v->hdr.dev->size - 32)
    return gfs_err (EINVAL, "%s: FAT: bad inode number %" PRIu64, v->name, ino);
  r = gfs_dev_pread (v->hdr.dev, e->raw, 32, ino);
  if (r < 0)
    return r;
  e->attr = e->raw[11];
  if (e->raw[0] == 0 || e->raw[0] == 0xe5 || (e->attr & 0x3f) == ATTR_LFN
      || (e->attr & ATTR_VOLUME))
    return gfs_err (EINVAL, "%s: FAT: inode %" PRIu64 " is not a file entry", v->name, ino);
  e->cluster = le16 (e->raw + 26);
  if (v->bits == 32)
    e->cluster |= (uint32_t) le16 (e->raw + 20) << 16;
  e->size = le32 (e->raw + 28);
  return 0;
}

/* Its 8.3 name, in UTF-8 (case bits applied). */
static int
short_name (struct vfat *v, const uint8_t *raw, char *out, size_t cap)
{
  size_t len = 0;
  int blen = 8, elen = 3;

  while (blen > 0 && raw[blen - 1] == ' ')
    blen--;
  while (elen > 0 && raw[8 + elen - 1] == ' ')
    elen--;
  if (blen == 0)
    goto bad;
  for (int i = 0; i < blen + elen; i++) {
    uint8_t ch = i < blen ? raw[i] : raw[8 + i - blen];
    bool lower = i < blen ? raw[12] & NTRES_LOWER_BASE : raw[12] & NTRES_LOWER_EXT;
    uint32_t cp;

    if (i == 0 && ch == 0x05)
      ch = 0xe5;
    if (i == blen && !put_utf8 (out, cap, &len, '.'))
      goto bad;
    if (ch < 0x20 || ch == '/' || ch == 0x7f)
      goto bad;
    cp = ch >= 0x80 ? cp437_high[ch - 0x80] : ch;
    /* The case bits lower-case the whole base or extension, as Linux's
     * code page 437 tables do (ASCII and the Latin-1 capitals in it). */
    if (lower && ((cp >= 'A' && cp <= 'Z') || (cp >= 0xc0 && cp <= 0xde && cp != 0xd7)))
      cp += 0x20;
    if (!put_utf8 (out, cap, &len, cp))
      goto bad;
  }
  out[len] = 0;
  return 0;
 bad:
  return gfs_err (EINVAL, "%s: FAT: a directory entry has an invalid short name", v->name);
}

static uint8_t
lfn_checksum (const uint8_t *name11)
{
  uint8_t sum = 0;
  for (int i = 0; i < 11; i++)
    sum = (uint8_t) (((sum & 1) << 7) + (sum >> 1) + name11[i]);
  return sum;
}

struct lfn_state {
  uint16_t chars[MAX_LFN_SLOTS * 13];
  int expect;                  /* next ordinal expected; 0 = complete; -1 = none */
  int slots;
  uint8_t csum;
};

static void
lfn_add (struct lfn_state *s, const uint8_t *e)
{
  static const uint8_t pos[13] = { 1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30 };
  int ord = e[0] & 0x1f;

  if (e[0] & 0x40) {
    if (ord == 0 || ord > MAX_LFN_SLOTS) {
      s->expect = -1;
      return;
    }
    s->slots = ord;
    s->expect = ord;
    s->csum = e[13];
  }
  else if (s->expect <= 0 || ord != s->expect || e[13] != s->csum) {
    s->expect = -1;
    return;
  }
  for (int i = 0; i < 13; i++)
    s->chars[(ord - 1) * 13 + i] = le16 (e + pos[i]);
  s->expect = ord - 1;
}

/* The long name in UTF-8; false when it is unusable (then the short name is
 * used, as Linux does for a broken long name). */
static bool
lfn_name (const struct lfn_state *s, char *out, size_t cap)
{
  size_t len = 0, n = (size_t) s->slots * 13, i;

  for (i = 0; i < n && s->chars[i] != 0; i++) {
    uint32_t cp = s->chars[i];
    if (cp >= 0xd800 && cp < 0xdc00 && i + 1 < n
        && s->chars[i + 1] >= 0xdc00 && s->chars[i + 1] < 0xe000) {
      cp = 0x10000 + ((cp - 0xd800) << 10) + (s->chars[i + 1] - 0xdc00);
      i++;
    }
    else if (cp >= 0xd800 && cp < 0xe000)
      return false;
    if (cp == '/' || cp < 0x20)
      return false;
    if (!put_utf8 (out, cap, &len, cp))
      return false;
  }
  if (len == 0 || i > 255)
    return false;
  out[len] = 0;
  return true;
}

typedef int (*vdir_cb) (void *opaque, const char *name, const char *sname,
                        uint64_t ino, const uint8_t *raw);

struct iter {
  struct lfn_state lfn;
  bool end;
};

/* One buffer of directory entries at device offset BASE. */
static int
iter_entries (struct vfat *v, struct iter *it, const uint8_t *buf, size_t len, uint64_t base,
              vdir_cb cb, void *opaque)
{
  for (size_t i = 0; i + 32 <= len; i += 32) {
    const uint8_t *e = buf + i;
    char name[256], sname[64];
    bool have_long;
    int r;

    if (e[0] == 0) {
      it->end = true;
      return 0;
    }
    if (e[0] == 0xe5) {
      it->lfn.expect = -1;
      continue;
    }
    if ((e[11] & 0x3f) == ATTR_LFN) {
      lfn_add (&it->lfn, e);
      continue;
    }
    if (e[11] & ATTR_VOLUME) {
      it->lfn.expect = -1;
      continue;
    }
    have_long = it->lfn.expect == 0 && lfn_checksum (e) == it->lfn.csum
      && lfn_name (&it->lfn, name, sizeof name);
    it->lfn.expect = -1;
    if (memcmp (e, ".          ", 11) == 0 || memcmp (e, "..         ", 11) == 0)
      continue;
    r = short_name (v, e, sname, sizeof sname);
    if (r < 0)
      return r;
    if (!have_long)
      strcpy (name, sname);
    r = cb (opaque, name, sname, base + i, e);
    if (r)
      return r;
  }
  return 0;
}

/* First cluster of directory DIR (0: the FAT12/16 fixed root). */
static int
dir_cluster (struct vfat *v, uint64_t dir, uint32_t *c)
{
  struct vent e;
  int r;

  if (dir == VFAT_ROOT_INO) {
    *c = v->bits == 32 ? v->root_cluster : 0;
    return 0;
  }
  r = read_entry (v, dir, &e);
  if (r < 0)
    return r;
  if (!(e.attr & ATTR_DIR))
    return gfs_err (ENOTDIR, "%s: FAT: inode %" PRIu64 " is not a directory", v->name, dir);
  if (e.cluster == 0)
    return gfs_err (EINVAL, "%s: FAT: directory %" PRIu64 " has no clusters", v->name, dir);
  *c = e.cluster;
  return 0;
}

static int
dir_iter (struct vfat *v, uint64_t dir, vdir_cb cb, void *opaque)
{
  struct iter *it;
  uint32_t first = 0, *chain = NULL;
  size_t n = 0;
  uint8_t *buf = NULL;
  int r;

  r = dir_cluster (v, dir, &first);
  if (r < 0)
    return r;
  it = calloc (1, sizeof *it);
  if (!it)
    return gfs_err (ENOMEM, "%s: out of memory", v->name);
  it->lfn.expect = -1;
  if (first == 0) {
    size_t len = (size_t) v->root_entries * 32;
    buf = malloc (len ? len : 1);
    if (!buf) {
      r = gfs_err (ENOMEM, "%s: out of memory", v->name);
      goto out;
    }
    r = gfs_dev_pread (v->hdr.dev, buf, len, v->root_off);
    if (r >= 0)
      r = iter_entries (v, it, buf, len, v->root_off, cb, opaque);
    goto out;
  }
  r = get_chain (v, first, 0, MAX_DIR_BYTES / v->cluster_size ? MAX_DIR_BYTES / v->cluster_size
                 : 1, &chain, &n);
  if (r < 0)
    goto out;
  buf = malloc (v->cluster_size);
  if (!buf) {
    r = gfs_err (ENOMEM, "%s: out of memory", v->name);
    goto out;
  }
  for (size_t i = 0; i < n && !it->end; i++) {
    uint64_t off = cluster_off (v, chain[i]);
    r = gfs_dev_pread (v->hdr.dev, buf, v->cluster_size, off);
    if (r < 0)
      goto out;
    r = iter_entries (v, it, buf, v->cluster_size, off, cb, opaque);
    if (r)
      goto out;
  }
  r = 0;
 out:
  free (buf);
  free (chain);
  free (it);
  return r;
}

/* ---- gfs_fs_ops --------------------------------------------------------- */

static int
vfat_open (struct gfs_dev *dev, struct gfs_fs **out)
{
  struct vfat *v = calloc (1, sizeof *v);
  int r;

  if (!v)
    return gfs_err (ENOMEM, "%s: out of memory", dev->name);
  v->name = dev->name;
  v->hdr.dev = dev;
  r = parse_bpb (v, dev);
  if (r < 0)
    goto fail;
  v->win = malloc (FAT_WINDOW);
  if (!v->win) {
    r = gfs_err (ENOMEM, "%s: out of memory", dev->name);
    goto fail;
  }
  v->hdr.ops = &gfs_fs_vfat;
  *out = &v->hdr;
  return 0;
 fail:
  free (v);
  return r;
}

static void
vfat_close (struct gfs_fs *fs)
{
  struct vfat *v = (struct vfat *) fs;
  if (!v)
    return;
  free (v->win);
  free (v->chain);
  free (v);
}

static uint64_t
vfat_root_ino (struct gfs_fs *fs)
{
  (void) fs;
  return VFAT_ROOT_INO;
}

static bool
name_eq (const char *a, const char *b)
{
  for (; *a && *b; a++, b++) {
    unsigned char x = (unsigned char) *a, y = (unsigned char) *b;
    if (x >= 'A' && x <= 'Z') x += 32;
    if (y >= 'A' && y <= 'Z') y += 32;
    if (x != y)
      return false;
  }
  return *a == *b;
}

struct lookup_ctx {
  const char *name;
  uint64_t ino;
};

/* FAT names are case-insensitive; the 8.3 alias of a long name matches too. */
static int
lookup_cb (void *opaque, const char *name, const char *sname, uint64_t ino, const uint8_t *raw)
{
  struct lookup_ctx *c = opaque;
  (void) raw;
  if (name_eq (name, c->name) || name_eq (sname, c->name)) {
    c->ino = ino;
    return 1;
  }
  return 0;
}

static int
vfat_lookup (struct gfs_fs *fs, uint64_t dir, const char *name, uint64_t *ino)
{
  struct lookup_ctx c = { .name = name };
  int r;

  if (!name[0] || strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
    return -ENOENT;
  r = dir_iter ((struct vfat *) fs, dir, lookup_cb, &c);
  if (r < 0)
    return r;
  if (r == 0)
    return -ENOENT;
  *ino = c.ino;
  return 0;
}

static int
vfat_getattr (struct gfs_fs *fs, uint64_t ino, struct gfs_stat *st)
{
  struct vfat *v = (struct vfat *) fs;
  struct vent e;
  int r;

  memset (st, 0, sizeof *st);
  st->ino = ino;
  if (ino == VFAT_ROOT_INO) {
    st->mode = S_IFDIR | 0755;
    st->nlink = 2;
    if (v->bits == 32) {
      uint32_t *chain;
      size_t n;
      r = get_chain (v, v->root_cluster, 0, MAX_DIR_BYTES / v->cluster_size
                     ? MAX_DIR_BYTES / v->cluster_size : 1, &chain, &n);
      if (r < 0)
        return r;
      free (chain);
      st->size = (uint64_t) n * v->cluster_size;
    }
    else
      st->size = (uint64_t) v->root_entries * 32;
    st->blocks = st->size / 512;
    return 0;
  }
  r = read_entry (v, ino, &e);
  if (r < 0)
    return r;
  if (e.attr & ATTR_DIR) {
    uint32_t *chain;
    size_t n;
    if (e.cluster == 0)
      return gfs_err (EINVAL, "%s: FAT: directory %" PRIu64 " has no clusters", v->name, ino);
    r = get_chain (v, e.cluster, 0, MAX_DIR_BYTES / v->cluster_size
                   ? MAX_DIR_BYTES / v->cluster_size : 1, &chain, &n);
    if (r < 0)
      return r;
    free (chain);
    st->mode = S_IFDIR | 0755;
    st->nlink = 2;
    st->size = (uint64_t) n * v->cluster_size;
  }
  else {
    /* As Linux with the default umask: rwxr-xr-x, minus write if read-only. */
    st->mode = S_IFREG | (e.attr & ATTR_RO ? 0555 : 0755);
    st->nlink = 1;
    st->size = e.size;
  }
  st->blocks = (st->size + v->cluster_size - 1) / v->cluster_size * v->cluster_size / 512;
  st->mtime = fat_time (le16 (e.raw + 24), le16 (e.raw + 22));
  st->ctime = st->mtime;
  st->atime = fat_time (le16 (e.raw + 18), 0);
  return 0;
}

struct readdir_ctx {
  int (*cb) (void *opaque, const struct gfs_dirent *e);
  void *opaque;
  struct gfs_dirent ent;
};

static int
readdir_cb (void *opaque, const char *name, const char *sname, uint64_t ino, const uint8_t *raw)
{
  struct readdir_ctx *c = opaque;
  (void) sname;
  c->ent.ino = ino;
  c->ent.type = raw[11] & ATTR_DIR ? DT_DIR : DT_REG;
  snprintf (c->ent.name, sizeof c->ent.name, "%s", name);
  return c->cb (c->opaque, &c->ent);
}

static int
vfat_readdir (struct gfs_fs *fs, uint64_t dir,
              int (*cb) (void *opaque, const struct gfs_dirent *e), void *opaque)
{
  struct readdir_ctx c = { .cb = cb, .opaque = opaque };
  return dir_iter ((struct vfat *) fs, dir, readdir_cb, &c);
}

static ssize_t
vfat_read (struct gfs_fs *fs, uint64_t ino, void *buf, size_t len, uint64_t off)
{
  struct vfat *v = (struct vfat *) fs;
  struct vent e;
  size_t want, done = 0;
  int r;

  if (ino == VFAT_ROOT_INO)
    return gfs_err (EISDIR, "%s: FAT: the root is a directory", v->name);
  r = read_entry (v, ino, &e);
  if (r < 0)
    return r;
  if (e.attr & ATTR_DIR)
    return gfs_err (EISDIR, "%s: FAT: inode %" PRIu64 " is a directory", v->name, ino);
  if (off >= e.size)
    return 0;
  if (len > e.size - off)
    len = (size_t) (e.size - off);
  if (e.cluster == 0)
    return gfs_err (EINVAL, "%s: FAT: file %" PRIu64 " has a size but no clusters",
                    v->name, ino);
  want = (size_t) ((e.size + v->cluster_size - 1) / v->cluster_size);
  if (!v->chain_valid || v->chain_first != e.cluster || v->chain_n != want) {
    uint32_t *chain;
    size_t n;
    r = get_chain (v, e.cluster, want, want, &chain, &n);
    if (r < 0)
      return r;
    free (v->chain);
    v->chain = chain;
    v->chain_n = n;
    v->chain_first = e.cluster;
    v->chain_valid = true;
  }
  while (done < len) {
    uint64_t pos = off + done;
    size_t ci = (size_t) (pos / v->cluster_size), in = (size_t) (pos % v->cluster_size);
    size_t chunk = v->cluster_size - in;
    /* Merge physically contiguous clusters into one read. */
    while (chunk < len - done && ci + 1 < v->chain_n
           && v->chain[ci + 1] == v->chain[ci] + 1) {
      ci++;
      chunk += v->cluster_size;
    }
    if (chunk > len - done)
      chunk = len - done;
    r = gfs_dev_pread (v->hdr.dev, (uint8_t *) buf + done, chunk,
                       cluster_off (v, v->chain[(size_t) (pos / v->cluster_size)]) + in);
    if (r < 0)
      return r;
    done += chunk;
  }
  return (ssize_t) len;
}

static int
vfat_readlink (struct gfs_fs *fs, uint64_t ino, char *buf, size_t len)
{
  struct vfat *v = (struct vfat *) fs;
  (void) buf;
  (void) len;
  return gfs_err (EINVAL, "%s: FAT: inode %" PRIu64 " is not a symlink", v->name, ino);
}

static int
vfat_statfs (struct gfs_fs *fs, struct gfs_statfs *st)
{
  struct vfat *v = (struct vfat *) fs;
  uint64_t nfree = 0;

  memset (st, 0, sizeof *st);
  for (uint32_t c = 2; c < v->nclusters + 2; c++) {
    uint32_t val;
    int r = fat_get (v, c, &val);
    if (r < 0)
      return r;
    nfree += val == 0;
  }
  st->block_size = v->cluster_size;
  st->blocks = v->nclusters;
  st->bfree = nfree;
  st->bavail = nfree;
  return 0;
}

struct label_ctx {
  struct vfat *v;
  char *out;
  size_t cap;
  bool found;
};

/* Format an 11-byte label (code page 437), trailing spaces removed. */
static void
label_text (const uint8_t *raw, char *out, size_t cap)
{
  size_t len = 0;
  int n = 11;

  while (n > 0 && (raw[n - 1] == ' ' || raw[n - 1] == 0))
    n--;
  for (int i = 0; i < n; i++) {
    uint8_t ch = raw[i];
    uint32_t cp = ch >= 0x80 ? cp437_high[ch - 0x80] : ch < 0x20 ? '?' : ch;
    if (!put_utf8 (out, cap, &len, cp))
      break;
  }
  out[len] = 0;
}

static int
find_label (struct vfat *v, char *out, size_t cap)
{
  /* The volume label entry sits in the root directory. */
  uint32_t first = 0, *chain = NULL;
  size_t n = 0, len;
  uint8_t *buf;
  int r, found = 0;

  r = dir_cluster (v, VFAT_ROOT_INO, &first);
  if (r < 0)
    return r;
  if (first) {
    r = get_chain (v, first, 0, MAX_DIR_BYTES / v->cluster_size
                   ? MAX_DIR_BYTES / v->cluster_size : 1, &chain, &n);
    if (r < 0)
      return r;
  }
  len = first ? v->cluster_size : (size_t) v->root_entries * 32;
  buf = malloc (len ? len : 1);
  if (!buf) {
    free (chain);
    return gfs_err (ENOMEM, "%s: out of memory", v->name);
  }
  for (size_t k = 0; k < (first ? n : 1) && !found; k++) {
    r = gfs_dev_pread (v->hdr.dev, buf, len, first ? cluster_off (v, chain[k]) : v->root_off);
    if (r < 0)
      break;
    for (size_t i = 0; i + 32 <= len; i += 32) {
      const uint8_t *e = buf + i;
      if (e[0] == 0) {
        k = n;
        break;
      }
      if (e[0] != 0xe5 && (e[11] & 0x3f) != ATTR_LFN && (e[11] & ATTR_VOLUME)
          && memcmp (e, "NO NAME    ", 11) != 0) {
        label_text (e, out, cap);
        found = 1;
        break;
      }
    }
  }
  free (buf);
  free (chain);
  return r < 0 ? r : found;
}

static int
vfat_info (struct gfs_fs *fs, struct gfs_fsinfo *info)
{
  struct vfat *v = (struct vfat *) fs;
  int r;

  memset (info, 0, sizeof *info);
  strcpy (info->type, "vfat");
  /* Like blkid: the root directory's label entry, else the boot sector's. */
  r = find_label (v, info->label, sizeof info->label);
  if (r < 0)
    return r;
  if (r == 0 && v->bpb_label[0] && memcmp (v->bpb_label, "NO NAME    ", 11) != 0)
    label_text ((const uint8_t *) v->bpb_label, info->label, sizeof info->label);
  if (v->has_serial)
    snprintf (info->uuid, sizeof info->uuid, "%04X-%04X",
              v->vol_id >> 16, v->vol_id & 0xffff);
  snprintf (info->version, sizeof info->version, "FAT%d", v->bits);
  info->block_size = v->bps;
  return 0;
}

const struct gfs_fs_ops gfs_fs_vfat = {
  .name = "vfat",
  .probe = vfat_probe,
  .open = vfat_open,
  .close = vfat_close,
  .root_ino = vfat_root_ino,
  .lookup = vfat_lookup,
  .getattr = vfat_getattr,
  .readdir = vfat_readdir,
  .read = vfat_read,
  .readlink = vfat_readlink,
  .statfs = vfat_statfs,
  .info = vfat_info,
};
