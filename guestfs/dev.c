/* guestfs devices: byte views of disks, partitions and volumes. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "guestfs/guestfs.h"

int
gfs_err (int errnum, const char *fmt, ...)
{
  char msg[1536];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  return disk_set_error (errnum, "%s", msg);
}

static _Thread_local char *warnings;
static _Thread_local size_t warnings_len;

void
gfs_warn (const char *fmt, ...)
{
  char line[1024];
  va_list ap;
  size_t add;
  char *p;

  va_start (ap, fmt);
  vsnprintf (line, sizeof line, fmt, ap);
  va_end (ap);
  add = strlen (line);
  if (warnings_len + add > 64 * 1024)   /* hostile images can warn a lot */
    return;
  p = realloc (warnings, warnings_len + add + 2);
  if (!p)
    return;
  memcpy (p + warnings_len, line, add);
  p[warnings_len + add] = '\n';
  p[warnings_len + add + 1] = 0;
  warnings = p;
  warnings_len += add + 1;
}

char *
gfs_take_warnings (void)
{
  char *w = warnings;
  warnings = NULL;
  warnings_len = 0;
  return w;
}

int
gfs_dev_pread (struct gfs_dev *d, void *buf, size_t len, uint64_t off)
{
  if (off > d->size || len > d->size - off)
    return gfs_err (EIO, "%s: read of %zu bytes at %" PRIu64 " is beyond the end of the device (%" PRIu64 " bytes)",
                    d->name, len, off, d->size);
  if (len == 0)
    return 0;
  return d->pread (d, buf, len, off);
}

struct gfs_dev *
gfs_dev_new (const char *name, uint64_t size,
             int (*pread) (struct gfs_dev *, void *, size_t, uint64_t),
             void (*close) (struct gfs_dev *), void *priv)
{
  struct gfs_dev *d = calloc (1, sizeof *d);
  if (!d)
    return NULL;
  d->name = strdup (name);
  if (!d->name) {
    free (d);
    return NULL;
  }
  d->size = size;
  d->pread = pread;
  d->close = close;
  d->priv = priv;
  return d;
}

void
gfs_dev_free (struct gfs_dev *d)
{
  if (!d)
    return;
  if (d->close)
    d->close (d);
  free (d->name);
  free (d);
}

struct disk_view {
  struct disk *disk;
  uint64_t off;
};

static int
disk_view_pread (struct gfs_dev *d, void *buf, size_t len, uint64_t off)
{
  struct disk_view *v = d->priv;
  int r = disk_pread (v->disk, buf, len, v->off + off);
  return r < 0 ? r : 0;
}

static void
free_priv (struct gfs_dev *d)
{
  free (d->priv);
}

int
gfs_dev_from_disk (struct disk *disk, const char *name, uint64_t off, uint64_t size,
                   struct gfs_dev **out)
{
  int64_t dsize = disk_get_size (disk);
  struct disk_view *v;

  if (dsize < 0)
    return (int) dsize;
  if (off > (uint64_t) dsize || size > (uint64_t) dsize - off)
    return gfs_err (EINVAL, "%s: range %" PRIu64 "+%" PRIu64 " is beyond the end of %s",
                    name, off, size, disk_get_filename (disk));
  v = malloc (sizeof *v);
  if (!v)
    return gfs_err (ENOMEM, "%s: out of memory", name);
  v->disk = disk;
  v->off = off;
  *out = gfs_dev_new (name, size, disk_view_pread, free_priv, v);
  if (!*out) {
    free (v);
    return gfs_err (ENOMEM, "%s: out of memory", name);
  }
  return 0;
}

struct slice {
  struct gfs_dev *parent;
  uint64_t off;
};

static int
slice_pread (struct gfs_dev *d, void *buf, size_t len, uint64_t off)
{
  struct slice *s = d->priv;
  return gfs_dev_pread (s->parent, buf, len, s->off + off);
}

int
gfs_dev_slice (struct gfs_dev *parent, const char *name, uint64_t off,
               uint64_t size, struct gfs_dev **out)
{
  struct slice *s;

  if (off > parent->size || size > parent->size - off)
    return gfs_err (EINVAL, "%s: range %" PRIu64 "+%" PRIu64 " is beyond the end of %s",
                    name, off, size, parent->name);
  s = malloc (sizeof *s);
  if (!s)
    return gfs_err (ENOMEM, "%s: out of memory", name);
  s->parent = parent;
  s->off = off;
  *out = gfs_dev_new (name, size, slice_pread, free_priv, s);
  if (!*out) {
    free (s);
    return gfs_err (ENOMEM, "%s: out of memory", name);
  }
  return 0;
}

void
gfs_uuid_str (const uint8_t u[16], char out[37])
{
  snprintf (out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
            u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
            u[10], u[11], u[12], u[13], u[14], u[15]);
}

void
gfs_guid_str (const uint8_t u[16], char out[37])
{
  snprintf (out, 37, "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X",
            u[3], u[2], u[1], u[0], u[5], u[4], u[7], u[6], u[8], u[9],
            u[10], u[11], u[12], u[13], u[14], u[15]);
}

uint32_t
gfs_crc32 (uint32_t crc, const void *buf, size_t len)
{
  return (uint32_t) crc32 (crc, buf, (uInt) len);
}

void
gfs_utf8_fix (char *s)
{
  unsigned char *p = (unsigned char *) s;

  if (!p)
    return;
  while (*p) {
    size_t n = 0;
    uint32_t cp = 0;
    if (*p < 0x80) {
      if (*p < 0x20 && *p != '\t')
        *p = '?';
      p++;
      continue;
    }
    if ((*p & 0xe0) == 0xc0) { n = 1; cp = *p & 0x1f; }
    else if ((*p & 0xf0) == 0xe0) { n = 2; cp = *p & 0x0f; }
    else if ((*p & 0xf8) == 0xf0) { n = 3; cp = *p & 0x07; }
    else {
      *p++ = '?';
      continue;
    }
    {
      size_t k;
      for (k = 1; k <= n; k++) {
        if ((p[k] & 0xc0) != 0x80)
          break;
        cp = cp << 6 | (p[k] & 0x3f);
      }
      /* truncated, overlong, surrogate or beyond U+10FFFF: replace the lead byte */
      if (k <= n || (n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
          (n == 3 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
        *p++ = '?';
        continue;
      }
      p += n + 1;
    }
  }
}
