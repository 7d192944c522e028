/* Installed rpm packages from rpmdb.sqlite, read without libsqlite:
 * the SQLite file format (https://www.sqlite.org/fileformat.html) table
 * b-trees and records, then rpm header blobs (tags NAME, VERSION, ...).
 * The whole database is in memory; every offset is checked against it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestfs/guestfs.h"
#include "guestfs/rpmdb.h"

#define MAX_DEPTH 20

struct db {
  const uint8_t *d;
  size_t len;
  uint32_t page_size, usable, n_pages;
  size_t visited;            /* pages visited: bounded by n_pages * 2 */
};

static uint32_t
be32 (const uint8_t *p)
{
  return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/* SQLite varint at P (at most END); returns bytes used, 0 if truncated. */
static size_t
varint (const uint8_t *p, const uint8_t *end, uint64_t *v)
{
  uint64_t x = 0;
  for (size_t i = 0; i < 9; i++) {
    if (p + i >= end)
      return 0;
    if (i == 8) {
      x = (x << 8) | p[i];
      *v = x;
      return 9;
    }
    x = (x << 7) | (p[i] & 0x7f);
    if (!(p[i] & 0x80)) {
      *v = x;
      return i + 1;
    }
  }
  return 0;
}

static const uint8_t *
page (struct db *db, uint32_t n)
{
  if (n < 1 || n > db->n_pages)
    return NULL;
  return db->d + (size_t) (n - 1) * db->page_size;
}

/* Assemble the payload of a table leaf cell into a malloc'd buffer. */
static int
payload (struct db *db, const uint8_t *cell, const uint8_t *pend, uint8_t **out, size_t *outlen,
         uint64_t *rowid)
{
  uint64_t plen;
  size_t n, m, x = db->usable - 35, local;
  const uint8_t *p = cell;
  uint8_t *buf;

  if (!(n = varint (p, pend, &plen)))
    return -EINVAL;
  p += n;
  if (!(n = varint (p, pend, rowid)))
    return -EINVAL;
  p += n;
  if (plen > GFS_MAX_FILE_READ)
    return -EINVAL;
  m = ((db->usable - 12) * 32 / 255) - 23;
  if (plen <= x)
    local = plen;
  else {
    size_t k = m + ((plen - m) % (db->usable - 4));
    local = k <= x ? k : m;
  }
  if (p + local > pend || (local < plen && p + local + 4 > pend))
    return -EINVAL;
  buf = malloc (plen ? plen : 1);
  if (!buf)
    return -ENOMEM;
  memcpy (buf, p, local);
  {
    size_t have = local;
    uint32_t ov = local < plen ? be32 (p + local) : 0;
    size_t hops = 0;
    while (have < plen) {
      const uint8_t *op = page (db, ov);
      size_t take = plen - have;
      if (!op || ++hops > db->n_pages) {
        free (buf);
        return -EINVAL;
      }
      if (take > db->usable - 4)
        take = db->usable - 4;
      memcpy (buf + have, op + 4, take);
      have += take;
      ov = be32 (op);
    }
  }
  *out = buf;
  *outlen = plen;
  return 0;
}

/* Column COL of a record: its serial type and its bytes. */
static int
column (const uint8_t *rec, size_t len, unsigned col, uint64_t *type, const uint8_t **val, size_t *vlen)
{
  uint64_t hsize, st = 0;
  size_t n = varint (rec, rec + len, &hsize), hp, off;

  if (!n || hsize > len || hsize < n)
    return -EINVAL;
  hp = n;
  off = hsize;
  for (unsigned i = 0; i <= col; i++) {
    size_t sz;
    if (hp >= hsize)
      return -ENOENT;
    if (!(n = varint (rec + hp, rec + hsize, &st)))
      return -EINVAL;
    hp += n;
    if (st >= 12)
      sz = (st - 12) / 2;
    else {
      static const uint8_t sizes[] = { 0, 1, 2, 3, 4, 6, 8, 8, 0, 0, 0, 0 };
      sz = sizes[st];
    }
    if (sz > len - off)
      return -EINVAL;
    if (i == col) {
      *type = st;
      *val = rec + off;
      *vlen = sz;
      return 0;
    }
    off += sz;
  }
  return -ENOENT;
}

typedef int (*row_cb) (void *opaque, uint64_t rowid, const uint8_t *rec, size_t len);

static int
walk_table (struct db *db, uint32_t pgno, int depth, row_cb cb, void *opaque)
{
  const uint8_t *pg = page (db, pgno), *h, *pend;
  unsigned type, ncells;
  int r;

  if (!pg || depth > MAX_DEPTH || ++db->visited > 2 * (size_t) db->n_pages)
    return -EINVAL;
  h = pgno == 1 ? pg + 100 : pg;
  pend = pg + db->usable;
  type = h[0];
  ncells = (unsigned) h[3] << 8 | h[4];
  if (type != 0x0d && type != 0x05)
    return -EINVAL;
  if ((size_t) (h - pg) + (type == 0x05 ? 12 : 8) + 2 * (size_t) ncells > db->usable)
    return -EINVAL;
  for (unsigned i = 0; i < ncells; i++) {
    const uint8_t *cp = h + (type == 0x05 ? 12 : 8) + 2 * i;
    unsigned off = (unsigned) cp[0] << 8 | cp[1];
    if (off >= db->usable)
      return -EINVAL;
    if (type == 0x05) {
      if (off + 4 > db->usable)
        return -EINVAL;
      r = walk_table (db, be32 (pg + off), depth + 1, cb, opaque);
    }
    else {
      uint8_t *buf;
      size_t len;
      uint64_t rowid;
      r = payload (db, pg + off, pend, &buf, &len, &rowid);
      if (r == 0) {
        r = cb (opaque, rowid, buf, len);
        free (buf);
      }
    }
    if (r)
      return r;
  }
  if (type == 0x05)
    return walk_table (db, be32 (h + 8), depth + 1, cb, opaque);
  return 0;
}

struct find_table {
  const char *name;
  uint32_t root;
};

static int
schema_row (void *opaque, uint64_t rowid, const uint8_t *rec, size_t len)
{
  struct find_table *f = opaque;
  uint64_t t;
  const uint8_t *v;
  size_t vl;

  (void) rowid;
  if (column (rec, len, 0, &t, &v, &vl) < 0 || t < 13 || !(t & 1) || vl != 5 || memcmp (v, "table", 5))
    return 0;
  if (column (rec, len, 1, &t, &v, &vl) < 0 || t < 13 || !(t & 1) ||
      vl != strlen (f->name) || memcmp (v, f->name, vl))
    return 0;
  if (column (rec, len, 3, &t, &v, &vl) < 0 || t < 1 || t > 6)
    return 0;
  {
    uint64_t x = 0;
    for (size_t i = 0; i < vl; i++)
      x = x << 8 | v[i];
    f->root = (uint32_t) x;
  }
  return 1;
}

/* ---- rpm headers ---- */

#define TAG_NAME 1000
#define TAG_VERSION 1001
#define TAG_RELEASE 1002
#define TAG_EPOCH 1003
#define TAG_SUMMARY 1004
#define TAG_ARCH 1022

struct pkg_ctx {
  int (*cb) (void *, const struct gfs_rpm_pkg *);
  void *opaque;
  size_t n;
};

static const char *
hdr_string (const uint8_t *data, size_t dl, uint32_t off)
{
  if (off >= dl || !memchr (data + off, 0, dl - off))
    return NULL;
  return (const char *) data + off;
}

static int
pkg_row (void *opaque, uint64_t rowid, const uint8_t *rec, size_t len)
{
  struct pkg_ctx *c = opaque;
  uint64_t t;
  const uint8_t *b, *data;
  size_t bl;
  uint32_t il, dl;
  struct gfs_rpm_pkg p = { 0 };
  char epoch[16] = "";

  (void) rowid;
  if (++c->n > 1000000)
    return -E2BIG;
  if (column (rec, len, 1, &t, &b, &bl) < 0 || t < 12 || (t & 1) || bl < 8)
    return 0;                 /* not a header blob: skip the row */
  il = be32 (b);
  dl = be32 (b + 4);
  if (il > 100000 || dl > bl || 8 + (size_t) il * 16 + dl > bl)
    return 0;
  data = b + 8 + (size_t) il * 16;
  for (uint32_t i = 0; i < il; i++) {
    const uint8_t *e = b + 8 + (size_t) i * 16;
    uint32_t tag = be32 (e), type = be32 (e + 4), off = be32 (e + 8);
    const char *sv = NULL;
    if (type == 6 || type == 8 || type == 9)
      sv = hdr_string (data, dl, off);
    switch (tag) {
    case TAG_NAME: p.name = sv; break;
    case TAG_VERSION: p.version = sv; break;
    case TAG_RELEASE: p.release = sv; break;
    case TAG_SUMMARY: p.summary = sv; break;
    case TAG_ARCH: p.arch = sv; break;
    case TAG_EPOCH:
      if (type == 4 && off <= dl && dl - off >= 4)
        snprintf (epoch, sizeof epoch, "%u", be32 (data + off));
      break;
    default: break;
    }
  }
  if (!p.name || !p.version)
    return 0;
  p.epoch = epoch[0] ? epoch : "0";
  return c->cb (c->opaque, &p);
}

int
gfs_rpmdb_sqlite (const char *what, const uint8_t *d, size_t len,
                  int (*cb) (void *opaque, const struct gfs_rpm_pkg *p), void *opaque)
{
  struct db db = { d, len, 0, 0, 0, 0 };
  struct find_table ft = { "Packages", 0 };
  struct pkg_ctx pc = { cb, opaque, 0 };
  int r;

  if (len < 100 || memcmp (d, "SQLite format 3", 16))
    return gfs_err (EINVAL, "%s: not an SQLite database", what);
  db.page_size = (uint32_t) d[16] << 8 | d[17];
  if (db.page_size == 1)
    db.page_size = 65536;
  if (db.page_size < 512 || (db.page_size & (db.page_size - 1)) || d[20] > db.page_size - 480)
    return gfs_err (EINVAL, "%s: SQLite: bad page size %u", what, db.page_size);
  db.usable = db.page_size - d[20];
  db.n_pages = (uint32_t) (len / db.page_size);
  r = walk_table (&db, 1, 0, schema_row, &ft);
  if (r < 0 || ft.root == 0)
    return gfs_err (EINVAL, "%s: SQLite: no Packages table (or a corrupt schema)", what);
  db.visited = 0;
  r = walk_table (&db, ft.root, 0, pkg_row, &pc);
  if (r == -E2BIG)
    return gfs_err (E2BIG, "%s: too many packages", what);
  if (r < 0)
    return gfs_err (EINVAL, "%s: SQLite: corrupt Packages table", what);
  return 0;
}
