/* LVM2 writer: PV label, metadata area ring, text format.  Used by the
 * logical pool type; the reader (lvm2.c) reads everything back. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "guestfs/guestfs.h"
#include "guestfs/lvm2/lvm2.h"

static void
put32 (uint8_t *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t) (v >> (8 * i));
}

static void
put64 (uint8_t *p, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t) (v >> (8 * i));
}

static int
fd_pread (struct gfs_dev *d, void *buf, size_t len, uint64_t off)
{
  int fd = (int) (intptr_t) d->priv;
  size_t done = 0;

  while (done < len) {
    ssize_t n = pread (fd, (char *) buf + done, len - done, (off_t) (off + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return gfs_err (errno, "%s: read error: %s", d->name, strerror (errno));
    if (n == 0)
      return gfs_err (EIO, "%s: unexpected end of device", d->name);
    done += (size_t) n;
  }
  return 0;
}

void
lvm2_fd_dev (struct gfs_dev *dev, int fd, const char *name, uint64_t size)
{
  memset (dev, 0, sizeof *dev);
  dev->name = (char *) name;
  dev->size = size;
  dev->pread = fd_pread;
  dev->priv = (void *) (intptr_t) fd;
}

static int
write_all (int fd, const char *name, const void *buf, size_t len, uint64_t off)
{
  size_t done = 0;

  while (done < len) {
    ssize_t n = pwrite (fd, (const char *) buf + done, len - done, (off_t) (off + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return gfs_err (errno, "%s: write error at offset %" PRIu64 ": %s", name, off + done,
                      strerror (errno));
    if (n == 0)
      return gfs_err (EIO, "%s: short write at offset %" PRIu64, name, off + done);
    done += (size_t) n;
  }
  return 0;
}

int
lvm2_gen_id (char out[33])
{
  static const char alphabet[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  uint8_t r[32];
  size_t got = 0;

  while (got < sizeof r) {
    ssize_t n = getrandom (r + got, sizeof r - got, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return gfs_err (errno, "getrandom: %s", strerror (errno));
    got += (size_t) n;
  }
  for (int i = 0; i < 32; i++)
    out[i] = alphabet[r[i] % 62];
  out[32] = 0;
  return 0;
}

int
lvm2_write_label (int fd, const char *name, const char *pv_uuid, uint64_t dev_size,
                  uint64_t pe_start, uint64_t mda_start, uint64_t mda_size, bool in_vg)
{
  uint8_t s[512];
  size_t p = 32;

  if (strlen (pv_uuid) != 32)
    return gfs_err (EINVAL, "%s: bad PV UUID", name);
  memset (s, 0, sizeof s);
  memcpy (s, "LABELONE", 8);
  put64 (s + 8, 1);
  put32 (s + 20, 32);
  memcpy (s + 24, "LVM2 001", 8);
  memcpy (s + p, pv_uuid, 32);
  p += 32;
  put64 (s + p, dev_size);
  p += 8;
  put64 (s + p, pe_start);          /* data area: to the end of the device */
  p += 32;                          /* + size 0, + terminator */
  put64 (s + p, mda_start);
  put64 (s + p + 8, mda_size);
  p += 32;
  put32 (s + p, 2);                 /* pv_header_extension version */
  put32 (s + p + 4, in_vg ? 1 : 0); /* PV_EXT_USED */
  /* followed by an empty bootloader area list (zeroes) */
  put32 (s + 16, lvm2_crc (LVM2_CRC_INIT, s + 20, 512 - 20));
  return write_all (fd, name, s, sizeof s, 512);
}

static int
write_mda_header (int fd, const char *name, uint64_t mda_start, uint64_t mda_size,
                  uint64_t off, uint64_t size, uint32_t crc)
{
  uint8_t h[512];

  memset (h, 0, sizeof h);
  memcpy (h + 4, LVM2_MDA_MAGIC, 16);
  put32 (h + 20, 1);
  put64 (h + 24, mda_start);
  put64 (h + 32, mda_size);
  put64 (h + 40, off);
  put64 (h + 48, size);
  put32 (h + 56, crc);
  put32 (h, lvm2_crc (LVM2_CRC_INIT, h + 4, 508));
  return write_all (fd, name, h, sizeof h, mda_start);
}

int
lvm2_mda_init (int fd, const char *name, uint64_t mda_start, uint64_t mda_size)
{
  return write_mda_header (fd, name, mda_start, mda_size, 0, 0, 0);
}

uint64_t
lvm2_mda_max_text (uint64_t mda_size)
{
  if (mda_size < 3 * 512)
    return 0;
  return (mda_size - 512) / 2 - 512;
}

uint64_t
lvm2_mda_next_offset (uint64_t old_off, uint64_t old_size, uint64_t mda_size)
{
  uint64_t end;

  if (old_off == 0 && old_size == 0)
    return 512;
  end = old_off + old_size;
  if (end > mda_size)                  /* the old text wrapped */
    end = end - mda_size + 512;
  end = (end + 511) / 512 * 512;
  if (end + 512 > mda_size)
    end = 512;
  return end;
}

static uint64_t
le64 (const uint8_t *p)
{
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

int
lvm2_mda_commit (int fd, const char *name, uint64_t mda_start, uint64_t mda_size,
                 const char *text, size_t size)
{
  uint8_t h[512];
  uint64_t off, old_off, old_size;
  uint32_t crc;
  struct gfs_dev dev;
  int r;

  lvm2_fd_dev (&dev, fd, name, mda_start + mda_size);
  if ((r = gfs_dev_pread (&dev, h, sizeof h, mda_start)) < 0)
    return r;
  if (memcmp (h + 4, LVM2_MDA_MAGIC, 16) ||
      lvm2_crc (LVM2_CRC_INIT, h + 4, 508) != (uint32_t) (h[0] | h[1] << 8 | h[2] << 16 | (uint32_t) h[3] << 24))
    return gfs_err (EIO, "%s: LVM2 metadata area at %" PRIu64 " has a bad header", name, mda_start);
  if (le64 (h + 32) != mda_size)
    return gfs_err (EIO, "%s: LVM2 metadata area at %" PRIu64 ": size %" PRIu64 " is not %" PRIu64,
                    name, mda_start, le64 (h + 32), mda_size);
  if (size > lvm2_mda_max_text (mda_size))
    return gfs_err (ENOSPC, "%s: LVM2 metadata (%zu bytes) does not fit in the %" PRIu64
                    "-byte metadata area", name, size, mda_size);
  old_off = le64 (h + 40);
  old_size = le64 (h + 48);
  if ((old_off || old_size) && (old_off < 512 || old_off >= mda_size || old_size > mda_size - 512))
    return gfs_err (EIO, "%s: LVM2 metadata area at %" PRIu64 ": bad text location", name, mda_start);
  off = lvm2_mda_next_offset (old_off, old_size, mda_size);
  crc = lvm2_crc (LVM2_CRC_INIT, text, size);
  if (off + size <= mda_size)
    r = write_all (fd, name, text, size, mda_start + off);
  else {
    uint64_t first = mda_size - off;
    r = write_all (fd, name, text, first, mda_start + off);
    if (r == 0)
      r = write_all (fd, name, text + first, size - first, mda_start + 512);
  }
  if (r < 0)
    return r;
  if (fdatasync (fd) < 0 && errno != EINVAL)
    return gfs_err (errno, "%s: fdatasync: %s", name, strerror (errno));
  if ((r = write_mda_header (fd, name, mda_start, mda_size, off, size, crc)) < 0)
    return r;
  if (fdatasync (fd) < 0 && errno != EINVAL)
    return gfs_err (errno, "%s: fdatasync: %s", name, strerror (errno));
  return 0;
}

/* ---- text ---- */

struct sbuf {
  char *s;
  size_t len, cap;
  bool oom;
};

static void __attribute__((format (printf, 2, 3)))
sb_printf (struct sbuf *b, const char *fmt, ...)
{
  va_list ap;
  int n;

  if (b->oom)
    return;
  for (;;) {
    va_start (ap, fmt);
    n = vsnprintf (b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
    va_end (ap);
    if (n < 0) {
      b->oom = true;
      return;
    }
    if (b->s && b->len + (size_t) n < b->cap) {
      b->len += (size_t) n;
      return;
    }
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < b->len + (size_t) n + 1)
      cap *= 2;
    if (cap > LVM2_MAX_TEXT + 4096) {
      b->oom = true;
      return;
    }
    char *t = realloc (b->s, cap);
    if (!t) {
      b->oom = true;
      return;
    }
    b->s = t;
    b->cap = cap;
  }
}

/* A string value: lvm2 escapes '"' and '\\' with a backslash. */
static void
sb_str (struct sbuf *b, const char *s)
{
  sb_printf (b, "\"");
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      sb_printf (b, "\\%c", *s);
    else
      sb_printf (b, "%c", *s);
  }
  sb_printf (b, "\"");
}

static void
sb_id (struct sbuf *b, const char *key, const char *id)
{
  char d[40];
  if (strlen (id) == 32) {
    lvm2_dash_id (id, d);
    id = d;
  }
  sb_printf (b, "%s = \"%s\"\n", key, id);
}

int
lvm2_format_text (const struct lvm2_vg *vg, const char *const *devices, const char *desc,
                  char **out, size_t *len)
{
  struct sbuf b = { 0 };
  char host[65] = "";
  time_t now = time (NULL);

  gethostname (host, sizeof host - 1);
  sb_printf (&b, "%s {\n", vg->name);
  sb_id (&b, "id", vg->id);
  sb_printf (&b, "seqno = %" PRIu64 "\nformat = \"lvm2\"\n"
             "status = [\"RESIZEABLE\", \"READ\", \"WRITE\"]\nflags = []\n"
             "extent_size = %" PRIu64 "\nmax_lv = 0\nmax_pv = 0\nmetadata_copies = 0\n\n"
             "physical_volumes {\n", vg->seqno, vg->extent_size);
  for (size_t i = 0; i < vg->n_pvs; i++) {
    const struct lvm2_pv *pv = &vg->pvs[i];
    sb_printf (&b, "\n%s {\n", pv->name);
    sb_id (&b, "id", pv->id);
    sb_printf (&b, "device = ");
    sb_str (&b, devices && devices[i] ? devices[i] : "unknown device");
    sb_printf (&b, "\n\nstatus = [\"ALLOCATABLE\"]\nflags = []\ndev_size = %" PRIu64
               "\npe_start = %" PRIu64 "\npe_count = %" PRIu64 "\n}\n",
               pv->dev_size, pv->pe_start, pv->pe_count);
  }
  sb_printf (&b, "}\n");
  if (vg->n_lvs) {
    sb_printf (&b, "\nlogical_volumes {\n");
    for (size_t i = 0; i < vg->n_lvs; i++) {
      const struct lvm2_lv *lv = &vg->lvs[i];
      sb_printf (&b, "\n%s {\n", lv->name);
      sb_id (&b, "id", lv->id);
      sb_printf (&b, "status = [\"READ\", \"WRITE\"%s]\nflags = []\n",
                 lv->visible ? ", \"VISIBLE\"" : "");
      if (lv->creation_time) {
        sb_printf (&b, "creation_time = %" PRId64 "\ncreation_host = ", lv->creation_time);
        sb_str (&b, lv->creation_host);
        sb_printf (&b, "\n");
      }
      sb_printf (&b, "segment_count = %zu\n", lv->n_segs);
      for (size_t k = 0; k < lv->n_segs; k++) {
        const struct lvm2_segment *s = &lv->segs[k];
        if (strcmp (s->type, "striped") || s->stripe_count != 1 || !s->stripes ||
            s->stripes[0].pv >= vg->n_pvs) {
          free (b.s);
          return gfs_err (ENOTSUP, "LVM2 LV %s: only linear segments can be written", lv->name);
        }
        sb_printf (&b, "\nsegment%zu {\nstart_extent = %" PRIu64 "\nextent_count = %" PRIu64
                   "\n\ntype = \"striped\"\nstripe_count = 1\n\nstripes = [\n\"%s\", %" PRIu64
                   "\n]\n}\n", k + 1, s->start_extent, s->extent_count,
                   vg->pvs[s->stripes[0].pv].name, s->stripes[0].pe);
      }
      sb_printf (&b, "}\n");
    }
    sb_printf (&b, "}\n");
  }
  sb_printf (&b, "\n}\n# Generated by vdk\n\ncontents = \"Text Format Volume Group\"\n"
             "version = 1\n\ndescription = ");
  sb_str (&b, desc ? desc : "");
  sb_printf (&b, "\n\ncreation_host = ");
  sb_str (&b, host);
  sb_printf (&b, "\ncreation_time = %lld\n\n", (long long) now);
  if (b.oom) {
    free (b.s);
    return gfs_err (ENOMEM, "LVM2 metadata text: out of memory or too large");
  }
  *out = b.s;
  *len = b.len + 1;              /* the NUL is part of the stored text */
  return 0;
}

static bool
key_in (const char *k, const char *const *set)
{
  for (; *set; set++)
    if (!strcmp (k, *set))
      return true;
  return false;
}

static bool
str_list_is (const struct lvm2_value *v, const char *const *want)
{
  size_t n = 0;
  if (!v || v->type != LVM2_LIST)
    return false;
  for (; want[n]; n++)
    ;
  if (v->n != n)
    return false;
  for (size_t i = 0; i < n; i++)
    if (v->items[i].type != LVM2_STR || strcmp (v->items[i].s, want[i]))
      return false;
  return true;
}

int
lvm2_vg_writable (const struct lvm2_value *root, const struct lvm2_vg *vg, const char *name)
{
  static const char *const vg_keys[] = { "id", "seqno", "format", "status", "flags",
    "extent_size", "max_lv", "max_pv", "metadata_copies", "physical_volumes",
    "logical_volumes", NULL };
  static const char *const pv_keys[] = { "id", "device", "status", "flags", "dev_size",
    "pe_start", "pe_count", NULL };
  static const char *const lv_keys[] = { "id", "status", "flags", "creation_time",
    "creation_host", "segment_count", NULL };
  static const char *const seg_keys[] = { "start_extent", "extent_count", "type",
    "stripe_count", "stripes", NULL };
  static const char *const vg_status[] = { "RESIZEABLE", "READ", "WRITE", NULL };
  static const char *const lv_status[] = { "READ", "WRITE", "VISIBLE", NULL };
  static const char *const pv_status[] = { "ALLOCATABLE", NULL };
  const struct lvm2_value *vgs = NULL, *sec;

  for (size_t i = 0; i < root->n; i++)
    if (root->items[i].type == LVM2_SECTION) {
      vgs = &root->items[i];
      break;
    }
  if (!vgs)
    return gfs_err (EINVAL, "%s: LVM2 metadata: no volume group section", name);
#define NOTSUP(...) gfs_err (ENOTSUP, __VA_ARGS__)
  for (size_t i = 0; i < vgs->n; i++)
    if (!key_in (vgs->items[i].key, vg_keys))
      return NOTSUP ("%s: VG %s uses '%s', which vdk does not write: refusing to change it",
                     name, vg->name, vgs->items[i].key);
  if (!str_list_is (lvm2_get (vgs, "status"), vg_status))
    return NOTSUP ("%s: VG %s has a status vdk does not write: refusing to change it",
                   name, vg->name);
  sec = lvm2_get (vgs, "physical_volumes");
  for (size_t i = 0; sec && i < sec->n; i++) {
    const struct lvm2_value *pv = &sec->items[i];
    for (size_t j = 0; pv->type == LVM2_SECTION && j < pv->n; j++)
      if (!key_in (pv->items[j].key, pv_keys))
        return NOTSUP ("%s: VG %s: PV %s uses '%s', which vdk does not write", name,
                       vg->name, pv->key, pv->items[j].key);
    if (!str_list_is (lvm2_get (pv, "status"), pv_status))
      return NOTSUP ("%s: VG %s: PV %s is not allocatable", name, vg->name, pv->key);
  }
  sec = lvm2_get (vgs, "logical_volumes");
  for (size_t i = 0; sec && i < sec->n; i++) {
    const struct lvm2_value *lv = &sec->items[i];
    if (lv->type != LVM2_SECTION)
      continue;
    for (size_t j = 0; j < lv->n; j++) {
      const char *k = lv->items[j].key;
      if (!strncmp (k, "segment", 7) && lv->items[j].type == LVM2_SECTION) {
        for (size_t m = 0; m < lv->items[j].n; m++)
          if (!key_in (lv->items[j].items[m].key, seg_keys))
            return NOTSUP ("%s: VG %s: LV %s uses '%s', which vdk does not write", name,
                           vg->name, lv->key, lv->items[j].items[m].key);
        continue;
      }
      if (!key_in (k, lv_keys))
        return NOTSUP ("%s: VG %s: LV %s uses '%s', which vdk does not write", name,
                       vg->name, lv->key, k);
    }
    if (!str_list_is (lvm2_get (lv, "status"), lv_status))
      return NOTSUP ("%s: VG %s: LV %s has a status vdk does not write", name, vg->name,
                     lv->key);
  }
  for (size_t i = 0; i < vg->n_lvs; i++)
    for (size_t k = 0; k < vg->lvs[i].n_segs; k++) {
      const struct lvm2_segment *s = &vg->lvs[i].segs[k];
      if (strcmp (s->type, "striped") || s->stripe_count != 1)
        return NOTSUP ("%s: VG %s: LV %s is not linear", name, vg->name, vg->lvs[i].name);
    }
#undef NOTSUP
  return 0;
}
