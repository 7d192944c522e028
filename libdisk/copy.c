/* disk_copy_range: image-to-image copies done by the kernel.
 *
 * A guest range of the source that maps to one range of a local file (raw,
 * a run of qcow2 data clusters, the same in a backing file) is copied to the
 * target's range (raw: the same range of its file; qcow2: newly allocated or
 * existing clusters) with copy_file_range(2): the data is copied once, page
 * cache to page cache, instead of twice through a user buffer, and
 * filesystems that can share blocks (xfs, btrfs) do so.  The target side runs
 * the same alloc/alloc_commit steps as a synchronous write (io.c), so its
 * metadata never points at uncopied data.
 *
 * The decision is made before anything is allocated: when either side is not
 * a buffered regular file on one filesystem with the other (another
 * filesystem, O_DIRECT cache modes, network protocols, block devices), or the
 * source range is zeroes, compressed or past the end of a backing file,
 * nothing is copied and the caller reads and writes as usual.  A kernel that
 * refuses the copy after an allocation (EXDEV, EINVAL, ...) is handled here,
 * through a buffer. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "io.h"

#define BOUNCE_MAX (1u << 20)

/* Follow [OFF, OFF+LEN) of N down to one range of a protocol node: DATA
 * extents into their child, unallocated ranges into the backing node.
 * *LEAF stays NULL when the start maps to anything else. */
static int
resolve_source (struct vdk_node *n, uint64_t off, uint64_t len, struct vdk_node **leaf,
                uint64_t *host, uint64_t *got)
{
  *leaf = NULL;
  while (n->fmt) {
    struct vdk_extent e;
    int r = vdk_fmt_map (n, off, len, &e);
    if (r < 0)
      return r;
    if (e.kind == VDK_EXT_DATA) {
      n = e.child ? e.child : n->file;
      off = e.host;
    }
    else if (e.kind == VDK_EXT_UNALLOC && n->backing
             && vdk_range_ok (off, e.len, n->backing->size))
      n = n->backing;
    else
      return 0;
    len = e.len;
  }
  if (!vdk_range_ok (off, len, n->size))
    return 0;      /* the read path reports it */
  *leaf = n;
  *host = off;
  *got = len;
  return 0;
}

/* The protocol node a write at OFF of N would reach, if the write goes
 * through the alloc engine all the way down (not a driver's own pwrite). */
static struct vdk_node *
target_leaf (struct vdk_node *n, uint64_t off)
{
  while (n->fmt) {
    if (n->fmt->pwrite || !n->fmt->alloc || ((n->flags & VDK_O_PROBED) && off < 512))
      return NULL;
    n = n->file;
  }
  return n;
}

static int
bounce_copy (struct vdk_node *d, uint64_t doff, struct vdk_node *s, uint64_t soff,
             uint64_t len, unsigned flags)
{
  size_t bs = VDK_MIN (len, (uint64_t) BOUNCE_MAX);
  void *buf;
  int r = 0;

  if (len == 0)
    return 0;
  if (posix_memalign (&buf, 4096, bs))
    return vdk_err (ENOMEM, "out of memory");
  while (len > 0 && r == 0) {
    size_t l = VDK_MIN (len, (uint64_t) bs);
    r = vdk_node_pread (s, buf, l, soff);
    if (r == 0)
      r = vdk_node_pwrite (d, buf, l, doff, flags);
    soff += l;
    doff += l;
    len -= l;
  }
  free (buf);
  return r;
}

/* Write [DOFF, DOFF+LEN) of D from protocol node S at SOFF: vdk_node_pwrite
 * with the data coming from S instead of a buffer. */
static int
copy_to (struct vdk_node *d, uint64_t doff, struct vdk_node *s, uint64_t soff, uint64_t len,
         unsigned flags)
{
  int r;

  if (d->flags & VDK_O_WRITETHROUGH)
    flags |= DISK_FUA;
  if (d->proto) {
    int64_t c = 0;
    if (d->proto->copy_from) {
      c = d->proto->copy_from (d, doff, s, soff, len, flags);
      if (c < 0)
        return (int) c;
      if ((uint64_t) c > len)
        c = len;
    }
    return bounce_copy (d, doff + c, s, soff + c, len - c, flags);
  }
  if (!vdk_range_ok (doff, len, d->size))
    return vdk_err (EINVAL, "%s: request at offset %" PRIu64 " length %" PRIu64
                    " is beyond the end of the image", d->filename, doff, len);
  while (len > 0) {
    struct vdk_extent e;
    memset (&e, 0, sizeof e);
    pthread_mutex_lock (&d->lock);
    r = vdk_wait_inflight (d, doff, len);
    if (r == 0)
      r = d->fmt->alloc (d, doff, len, &e);
    if (r == 0 && (e.len == 0 || e.len > len || e.kind != VDK_EXT_DATA))
      r = vdk_err (EIO, "%s: internal error: bad extent from %s alloc", d->filename,
                   d->fmt->name);
    if (r < 0) {
      pthread_mutex_unlock (&d->lock);
      return r;
    }
    e.off = doff;
    e.fua = (flags & DISK_FUA) != 0;
    if (!e.needs_commit) {
      pthread_mutex_unlock (&d->lock);
      r = copy_to (e.child ? e.child : d->file, e.host, s, soff, e.len, flags);
    }
    else {
      /* A new allocation: linked only once its data is there, under the
       * lock (as io.c's writes). */
      r = copy_to (e.child ? e.child : d->file, e.host, s, soff, e.len, flags);
      if (r == 0 && d->fmt->alloc_commit)
        r = d->fmt->alloc_commit (d, &e);
      pthread_mutex_unlock (&d->lock);
    }
    if (r < 0)
      return r;
    soff += e.len;
    doff += e.len;
    len -= e.len;
  }
  return 0;
}

int64_t
disk_copy_range (struct disk *src, uint64_t src_off, struct disk *dst, uint64_t dst_off,
                 uint64_t count, unsigned flags)
{
  struct vdk_node *s = src->root, *d = dst->root;
  uint64_t done = 0;

  if (flags)
    return vdk_err (EINVAL, "disk_copy_range: unknown flags %#x", flags);
  if (!vdk_range_ok (src_off, count, s->size))
    return vdk_err (EINVAL, "%s: request at offset %" PRIu64 " length %" PRIu64
                    " is beyond the end of the image", s->filename, src_off, count);
  if (!vdk_range_ok (dst_off, count, d->size))
    return vdk_err (EINVAL, "%s: request at offset %" PRIu64 " length %" PRIu64
                    " is beyond the end of the image", d->filename, dst_off, count);
  if (!(d->flags & VDK_O_RDWR))
    return vdk_err (EROFS, "%s: image is opened read-only", d->filename);
  while (done < count) {
    struct vdk_node *leaf, *dleaf;
    uint64_t host = 0, got = 0;
    int r = resolve_source (s, src_off + done, count - done, &leaf, &host, &got);
    if (r < 0)
      return r;
    if (!leaf)
      break;
    dleaf = target_leaf (d, dst_off + done);
    if (!dleaf || !dleaf->proto->can_copy_from || !dleaf->proto->can_copy_from (dleaf, leaf))
      break;
    r = copy_to (d, dst_off + done, leaf, host, got, 0);
    if (r < 0)
      return r;
    done += got;
  }
  return (int64_t) done;
}
