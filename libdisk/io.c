/* The synchronous I/O engine: map-driven reads, alloc-driven writes, and the
 * backing chain.  The asynchronous engine (aio.c) follows the same rules. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "io.h"

bool
vdk_is_zero (const void *buf, size_t len)
{
  const unsigned char *p = buf;
  size_t i = 0;

  /* Check the first 16 bytes byte-wise, then compare the buffer with itself
   * shifted: memcmp is vectorised and this needs no zero page. */
  for (; i < len && i < 16; i++)
    if (p[i])
      return false;
  if (len <= 16)
    return true;
  return memcmp (p, p + 16, len - 16) == 0;
}

bool
disk_is_zero_buf (const void *buf, size_t len)
{
  return vdk_is_zero (buf, len);
}

static int
check_range (struct vdk_node *n, uint64_t off, uint64_t len)
{
  if (!vdk_range_ok (off, len, n->size))
    return vdk_err (EINVAL, "%s: request at offset %" PRIu64 " length %" PRIu64
                    " is beyond the end of the image (%" PRIu64 " bytes)",
                    n->filename, off, len, n->size);
  return 0;
}

int
vdk_fmt_map (struct vdk_node *n, uint64_t off, uint64_t len, struct vdk_extent *e)
{
  int r;

  memset (e, 0, sizeof *e);
  pthread_mutex_lock (&n->lock);
  r = n->fmt->map (n, off, len, e);
  pthread_mutex_unlock (&n->lock);
  if (r < 0)
    return r;
  e->off = off;
  if (e->len == 0 || e->len > len)
    return vdk_err (EIO, "%s: internal error: %s map returned a bad length",
                    n->filename, n->fmt->name);
  return 0;
}

int
vdk_node_read_backing (struct vdk_node *n, void *buf, size_t len, uint64_t off)
{
  struct vdk_node *b = n->backing;
  size_t have = 0;

  if (b && off < b->size) {
    have = VDK_MIN (len, b->size - off);
    int r = vdk_node_pread (b, buf, have, off);
    if (r < 0)
      return r;
  }
  if (have < len)
    memset ((char *) buf + have, 0, len - have);
  return 0;
}

int
vdk_node_pread (struct vdk_node *n, void *buf, size_t len, uint64_t off)
{
  int r;

  if (len == 0)
    return 0;
  if (n->proto) {
    if (!vdk_range_ok (off, len, n->size))
      return vdk_err (EIO, "%s: read at offset %" PRIu64 " length %zu beyond end of file"
                      " (%" PRIu64 " bytes)", n->filename, off, len, n->size);
    return n->proto->pread (n, buf, len, off);
  }
  r = check_range (n, off, len);
  if (r < 0)
    return r;
  while (len > 0) {
    struct vdk_extent e;
    r = vdk_fmt_map (n, off, len, &e);
    if (r < 0)
      return r;
    switch (e.kind) {
    case VDK_EXT_DATA:
      r = vdk_node_pread (e.child ? e.child : n->file, buf, e.len, e.host);
      break;
    case VDK_EXT_ZERO:
      memset (buf, 0, e.len);
      break;
    case VDK_EXT_UNALLOC:
      r = vdk_node_read_backing (n, buf, e.len, off);
      break;
    case VDK_EXT_ENCODED:
      if (!n->fmt->read_encoded)
        return vdk_err (EIO, "%s: internal error: encoded extent without decoder", n->filename);
      pthread_mutex_lock (&n->lock);
      r = n->fmt->read_encoded (n, off, e.len, buf);
      pthread_mutex_unlock (&n->lock);
      break;
    }
    if (r < 0)
      return r;
    buf = (char *) buf + e.len;
    off += e.len;
    len -= e.len;
  }
  return 0;
}

/* Refuse writes to sector 0 of a *probed* raw image that would make probing
 * see another format next time (qemu does the same). */
static int
check_probed_raw_write (struct vdk_node *n, const void *buf, size_t len, uint64_t off)
{
  uint8_t sector[512];
  size_t head = VDK_MIN ((uint64_t) sizeof sector, n->size);
  int r;

  if (!(n->flags & VDK_O_PROBED) || strcmp (n->fmt->name, "raw") != 0 || off >= 512)
    return 0;
  r = vdk_node_pread (n->file, sector, head, 0);
  if (r < 0)
    return r;
  memcpy (sector + off, buf, VDK_MIN (len, head - off));
  for (size_t i = 0; vdk_formats[i]; i++) {
    const struct vdk_format *f = vdk_formats[i];
    if (f->probe && strcmp (f->name, "raw") != 0 && f->probe (sector, head, n->filename) > 1)
      return vdk_err (EPERM, "%s: refusing to write a %s header into sector 0 of an image whose"
                      " format was probed as raw; name the format (-f raw) to allow it",
                      n->filename, f->name);
  }
  return 0;
}

int
vdk_node_pwrite (struct vdk_node *n, const void *buf, size_t len, uint64_t off, unsigned flags)
{
  int r;

  if (len == 0)
    return 0;
  if (!(n->flags & VDK_O_RDWR))
    return vdk_err (EROFS, "%s: image is opened read-only", n->filename);
  if (n->flags & VDK_O_WRITETHROUGH)
    flags |= DISK_FUA;
  if (n->proto)
    return n->proto->pwrite (n, buf, len, off, flags);
  r = check_range (n, off, len);
  if (r < 0)
    return r;
  r = check_probed_raw_write (n, buf, len, off);
  if (r < 0)
    return r;
  if (flags & DISK_COMPRESSED) {
    if (!n->fmt->pwrite_compressed)
      return vdk_err (ENOTSUP, "%s: the %s format does not support compressed writes",
                      n->filename, n->fmt->name);
    pthread_mutex_lock (&n->lock);
    r = vdk_wait_inflight (n, off, len);
    if (r == 0)
      r = n->fmt->pwrite_compressed (n, buf, len, off);
    pthread_mutex_unlock (&n->lock);
    return r;
  }
  if (n->fmt->pwrite) {
    pthread_mutex_lock (&n->lock);
    r = vdk_wait_inflight (n, off, len);
    if (r == 0)
      r = n->fmt->pwrite (n, buf, len, off, flags);
    pthread_mutex_unlock (&n->lock);
    return r;
  }
  if (!n->fmt->alloc)
    return vdk_err (ENOTSUP, "%s: writing %s images is not supported", n->filename, n->fmt->name);
  while (len > 0) {
    struct vdk_extent e;
    memset (&e, 0, sizeof e);
    pthread_mutex_lock (&n->lock);
    r = vdk_wait_inflight (n, off, len);
    if (r == 0)
      r = n->fmt->alloc (n, off, len, &e);
    if (r == 0 && (e.len == 0 || e.len > len || e.kind != VDK_EXT_DATA))
      r = vdk_err (EIO, "%s: internal error: bad extent from %s alloc", n->filename, n->fmt->name);
    if (r < 0) {
      pthread_mutex_unlock (&n->lock);
      return r;
    }
    e.off = off;
    e.fua = (flags & DISK_FUA) != 0;
    if (!e.needs_commit) {
      /* Already allocated: data I/O runs without the metadata lock. */
      pthread_mutex_unlock (&n->lock);
      r = vdk_node_pwrite (e.child ? e.child : n->file, buf, e.len, e.host, flags);
    }
    else {
      /* A new allocation: keep the lock until the metadata points at it, so
       * no other writer allocates the same unit twice. */
      r = vdk_node_pwrite (e.child ? e.child : n->file, buf, e.len, e.host, flags);
      if (r == 0 && n->fmt->alloc_commit)
        r = n->fmt->alloc_commit (n, &e);
      pthread_mutex_unlock (&n->lock);
    }
    if (r < 0)
      return r;
    buf = (const char *) buf + e.len;
    off += e.len;
    len -= e.len;
  }
  return 0;
}

int
vdk_node_flush (struct vdk_node *n)
{
  int r = 0;

  if (!(n->flags & VDK_O_RDWR))
    return 0;
  if (n->proto) {
    if (n->flags & VDK_O_UNSAFE)
      return 0;
    return n->proto->flush ? n->proto->flush (n) : 0;
  }
  if (n->fmt->flush) {
    pthread_mutex_lock (&n->lock);
    r = n->fmt->flush (n);
    pthread_mutex_unlock (&n->lock);
    if (r < 0)
      return r;
  }
  return vdk_node_flush (n->file);
}

/* Zero-fill fallback. */
static int
write_zero_buffers (struct vdk_node *n, uint64_t off, uint64_t len)
{
  size_t bs = VDK_MIN (len, (uint64_t) 1 << 20);
  char *z = calloc (1, bs);
  int r = 0;

  if (!z)
    return vdk_err (ENOMEM, "out of memory");
  while (len > 0 && r == 0) {
    size_t l = VDK_MIN (len, (uint64_t) bs);
    r = vdk_node_pwrite (n, z, l, off, 0);
    off += l;
    len -= l;
  }
  free (z);
  return r;
}

int
vdk_node_write_zeroes (struct vdk_node *n, uint64_t off, uint64_t len, unsigned flags)
{
  int r = -ENOTSUP;

  if (len == 0)
    return 0;
  if (!(n->flags & VDK_O_RDWR))
    return vdk_err (EROFS, "%s: image is opened read-only", n->filename);
  if (n->proto) {
    if (n->proto->write_zeroes)
      r = n->proto->write_zeroes (n, off, len, flags);
  }
  else {
    r = check_range (n, off, len);
    if (r < 0)
      return r;
    r = -ENOTSUP;
    if (n->fmt->write_zeroes) {
      pthread_mutex_lock (&n->lock);
      r = vdk_wait_inflight (n, off, len);
      if (r == 0)
        r = n->fmt->write_zeroes (n, off, len, flags);
      pthread_mutex_unlock (&n->lock);
    }
  }
  if (r != -ENOTSUP)
    return r;
  if (flags & DISK_NO_FALLBACK)
    return vdk_err (ENOTSUP, "%s: efficient zeroing is not supported", n->filename);
  vdk_err_clear ();
  return write_zero_buffers (n, off, len);
}

int
vdk_node_discard (struct vdk_node *n, uint64_t off, uint64_t len)
{
  int r;

  if (len == 0)
    return 0;
  if (!(n->flags & VDK_O_RDWR))
    return vdk_err (EROFS, "%s: image is opened read-only", n->filename);
  if (n->proto) {
    if (!n->proto->discard)
      return 0;
    r = n->proto->discard (n, off, len);
    return r == -ENOTSUP ? 0 : r;   /* discard is advisory */
  }
  r = check_range (n, off, len);
  if (r < 0)
    return r;
  if (!n->fmt->discard)
    return 0;
  pthread_mutex_lock (&n->lock);
  r = vdk_wait_inflight (n, off, len);
  if (r == 0)
    r = n->fmt->discard (n, off, len);
  pthread_mutex_unlock (&n->lock);
  if (r == -ENOTSUP) {
    vdk_err_clear ();
    return 0;
  }
  return r;
}

int
vdk_node_truncate (struct vdk_node *n, uint64_t size, enum vdk_prealloc p, bool shrink)
{
  int r;

  if (!(n->flags & VDK_O_RDWR))
    return vdk_err (EROFS, "%s: image is opened read-only", n->filename);
  if (size > VDK_MAX_IMAGE_SIZE)
    return vdk_err (EFBIG, "%s: size %" PRIu64 " is too large", n->filename, size);
  if (n->proto) {
    if (!n->proto->truncate)
      return vdk_err (ENOTSUP, "%s: this protocol cannot be resized", n->filename);
    return n->proto->truncate (n, size, p);
  }
  if (size < n->size && !shrink)
    return vdk_err (EINVAL, "%s: Use the --shrink option to perform a shrink operation",
                    n->filename);
  if (!n->fmt->truncate)
    return vdk_err (ENOTSUP, "%s: resizing %s images is not supported",
                    n->filename, n->fmt->name);
  pthread_mutex_lock (&n->lock);
  r = n->fmt->truncate (n, size, p, shrink);
  pthread_mutex_unlock (&n->lock);
  return r;
}

int64_t
vdk_node_get_allocated (struct vdk_node *n)
{
  if (n->proto)
    return n->proto->get_allocated ? n->proto->get_allocated (n) : -ENOTSUP;
  if (n->fmt->get_allocated)
    return n->fmt->get_allocated (n);
  return vdk_node_get_allocated (n->file);
}

int
vdk_node_block_status (struct vdk_node *n, uint64_t off, uint64_t len, struct vdk_extent *e)
{
  int r;

  memset (e, 0, sizeof *e);
  if (n->proto) {
    if (!vdk_range_ok (off, len, n->size) || len == 0)
      return vdk_err (EINVAL, "%s: block status beyond end", n->filename);
    if (!n->proto->block_status) {
      e->off = off;
      e->len = len;
      e->kind = VDK_EXT_DATA;
      e->host = off;
      return 0;
    }
    r = n->proto->block_status (n, off, len, e);
    if (r == 0 && (e->len == 0 || e->len > len))
      return vdk_err (EIO, "%s: internal error: bad block status length", n->filename);
    e->off = off;
    return r;
  }
  return vdk_fmt_map (n, off, len, e);
}
