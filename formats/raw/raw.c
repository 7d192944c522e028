/* raw: the image is the bytes of its file, optionally a window of it
 * (offset=, size= like qemu's raw driver).
 *
 * Several windows can be concatenated: seg.1.*, seg.2.*, ... each take the
 * same keys as the top level (file.filename and other file.* options,
 * offset, size) and follow the first window (file, offset, size) in order.
 * This maps LVM2 logical volumes made of several segments, possibly on
 * several PVs:
 *   driver=raw,file.filename=/dev/loop0,offset=1048576,size=8388608,
 *   seg.1.file.filename=/dev/loop1,seg.1.offset=5242880,seg.1.size=4194304
 * Every window but the last needs its size. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../libdisk/internal.h"

#define RAW_MAX_SEGS 256            /* one open file each */

struct raw_seg {
  struct vdk_node *node;            /* NULL: the format node's file */
  uint64_t start;                   /* guest offset of the window */
  uint64_t offset, size;            /* the window in its file */
};

struct raw_priv {
  uint64_t offset;
  bool has_size;
  size_t n_segs;                    /* 0: one window, the classic case */
  struct raw_seg *segs;
};

/* Open window seg.I (I >= 1) described by the options SO. */
static int
raw_open_seg (struct vdk_node *n, struct vdk_opts *so, size_t i, bool last, struct raw_seg *sg)
{
  struct vdk_opts fo;
  const char *fn;
  bool has_size;
  int r;

  vdk_opts_init (&fo);
  if ((r = vdk_opts_extract_prefix (so, "file", &fo)) < 0)
    goto out;
  fn = vdk_opts_take (&fo, "filename");
  if (!fn) {
    r = vdk_err (EINVAL, "%s: seg.%zu: no file.filename", n->filename, i);
    goto out;
  }
  if ((r = vdk_opts_take_size (so, "offset", &sg->offset)) < 0 ||
      (r = vdk_opts_take_size (so, "size", &sg->size)) < 0)
    goto out;
  has_size = r == 1;
  if (!has_size && !last) {
    r = vdk_err (EINVAL, "%s: seg.%zu: size is required (another window follows)",
                 n->filename, i);
    goto out;
  }
  if ((r = vdk_opts_check_unused (so, "raw seg")) < 0)
    goto out;
  r = vdk_open_protocol (fn, &fo, n->file->flags, &sg->node);
  if (r < 0)
    goto out;
  if (!has_size)
    sg->size = sg->offset <= sg->node->size ? sg->node->size - sg->offset : 0;
  if (!vdk_range_ok (sg->offset, sg->size, sg->node->size))
    r = vdk_err (EINVAL, "%s: seg.%zu: offset + size is beyond the end of %s", n->filename, i,
                 sg->node->filename);
  else if (sg->size == 0)
    r = vdk_err (EINVAL, "%s: seg.%zu: empty window", n->filename, i);
 out:
  vdk_opts_free (&fo);
  return r;
}

/* Count seg.1 ... seg.N and open them (after the first window). */
static int
raw_open_segs (struct vdk_node *n, struct vdk_opts *opts, struct raw_priv *p)
{
  size_t count = 0;
  char key[32];
  int r;

  for (;;) {
    bool found = false;
    snprintf (key, sizeof key, "seg.%zu.", count + 1);
    for (size_t i = 0; i < opts->n && !found; i++)
      found = !strncmp (opts->v[i].key, key, strlen (key));
    if (!found)
      break;
    if (++count >= RAW_MAX_SEGS)
      return vdk_err (EINVAL, "%s: more than %d raw windows", n->filename, RAW_MAX_SEGS);
  }
  if (count == 0)
    return 0;
  if (!p->has_size)
    return vdk_err (EINVAL, "%s: size is required (seg.1 follows)", n->filename);
  p->segs = calloc (count + 1, sizeof *p->segs);
  if (!p->segs)
    return vdk_err (ENOMEM, "out of memory");
  p->n_segs = count + 1;
  p->segs[0].offset = p->offset;
  p->segs[0].size = n->size;
  for (size_t i = 1; i <= count; i++) {
    struct vdk_opts so;
    struct raw_seg *sg = &p->segs[i];
    const struct raw_seg *prev = &p->segs[i - 1];

    vdk_opts_init (&so);
    snprintf (key, sizeof key, "seg.%zu", i);
    r = vdk_opts_extract_prefix (opts, key, &so);
    if (r == 0)
      r = raw_open_seg (n, &so, i, i == count, sg);
    vdk_opts_free (&so);
    if (r < 0)
      return r;
    sg->start = prev->start + prev->size;
    if (sg->size > VDK_MAX_IMAGE_SIZE - sg->start)
      return vdk_err (EFBIG, "%s: the raw windows add up to more than %" PRIu64 " bytes",
                      n->filename, (uint64_t) VDK_MAX_IMAGE_SIZE);
  }
  n->size = p->segs[count].start + p->segs[count].size;
  return 0;
}

/* The window holding guest offset OFF (OFF < n->size). */
static const struct raw_seg *
raw_find_seg (const struct raw_priv *p, uint64_t off)
{
  size_t lo = 0, hi = p->n_segs;
  while (hi - lo > 1) {
    size_t mid = (lo + hi) / 2;
    if (p->segs[mid].start <= off)
      lo = mid;
    else
      hi = mid;
  }
  return &p->segs[lo];
}

static int
raw_probe (const uint8_t *buf, size_t len, const char *filename)
{
  (void) buf; (void) len; (void) filename;
  return 1;   /* the lowest score: anything else wins */
}

static void raw_close (struct vdk_node *n);

static int
raw_open (struct vdk_node *n, struct vdk_opts *opts, unsigned flags)
{
  struct raw_priv *p = calloc (1, sizeof *p);
  uint64_t size = 0;
  int r;

  (void) flags;
  if (!p)
    return vdk_err (ENOMEM, "out of memory");
  n->priv = p;
  if ((r = vdk_opts_take_size (opts, "offset", &p->offset)) < 0 ||
      (r = vdk_opts_take_size (opts, "size", &size)) < 0)
    goto fail;
  p->has_size = r == 1;
  if (p->offset > n->file->size) {
    r = vdk_err (EINVAL, "%s: offset %" PRIu64 " is beyond the end of the file",
                 n->filename, p->offset);
    goto fail;
  }
  if (p->has_size) {
    if (!vdk_range_ok (p->offset, size, n->file->size)) {
      r = vdk_err (EINVAL, "%s: offset + size is beyond the end of the file", n->filename);
      goto fail;
    }
    n->size = size;
  }
  else
    n->size = n->file->size - p->offset;
  if ((r = raw_open_segs (n, opts, p)) < 0)
    goto fail;
  return 0;
 fail:
  raw_close (n);    /* the core forgets priv after a failed open */
  n->priv = NULL;
  return r;
}

static void
raw_close (struct vdk_node *n)
{
  struct raw_priv *p = n->priv;
  for (size_t i = 1; i < p->n_segs; i++)
    vdk_node_close (p->segs[i].node);
  free (p->segs);
  free (p);
}

static int
raw_map (struct vdk_node *n, uint64_t off, uint64_t len, struct vdk_extent *e)
{
  struct raw_priv *p = n->priv;
  e->kind = VDK_EXT_DATA;
  if (p->n_segs) {
    const struct raw_seg *sg = raw_find_seg (p, off);
    e->child = sg->node;
    e->host = sg->offset + (off - sg->start);
    e->len = VDK_MIN (len, sg->start + sg->size - off);
    return 0;
  }
  e->host = p->offset + off;
  e->len = len;
  return 0;
}

/* Apply zeroing (DISCARD false) or discard to [off, off+len) window by
 * window. */
static int
raw_segs_apply (struct vdk_node *n, uint64_t off, uint64_t len, bool discard, unsigned flags)
{
  while (len > 0) {
    struct vdk_extent e;
    struct vdk_node *c;
    int r;

    memset (&e, 0, sizeof e);
    raw_map (n, off, len, &e);
    c = e.child ? e.child : n->file;
    r = discard ? vdk_node_discard (c, e.host, e.len)
                : vdk_node_write_zeroes (c, e.host, e.len, flags | DISK_NO_FALLBACK);
    if (r < 0)
      return r;
    off += e.len;
    len -= e.len;
  }
  return 0;
}

static int
raw_write_zeroes (struct vdk_node *n, uint64_t off, uint64_t len, unsigned flags)
{
  struct raw_priv *p = n->priv;
  if (p->n_segs)
    return raw_segs_apply (n, off, len, false, flags);
  return vdk_node_write_zeroes (n->file, p->offset + off, len, flags | DISK_NO_FALLBACK);
}

static int
raw_discard (struct vdk_node *n, uint64_t off, uint64_t len)
{
  struct raw_priv *p = n->priv;
  if (p->n_segs)
    return raw_segs_apply (n, off, len, true, 0);
  return vdk_node_discard (n->file, p->offset + off, len);
}

/* The core flushes n->file; the other windows' files are ours. */
static int
raw_flush (struct vdk_node *n)
{
  struct raw_priv *p = n->priv;
  for (size_t i = 1; i < p->n_segs; i++) {
    int r = vdk_node_flush (p->segs[i].node);
    if (r < 0)
      return r;
  }
  return 0;
}

static int
raw_truncate (struct vdk_node *n, uint64_t size, enum vdk_prealloc pa, bool shrink)
{
  struct raw_priv *p = n->priv;
  int r;

  (void) shrink;
  if (p->offset || p->has_size)
    return vdk_err (ENOTSUP, "%s: cannot resize a raw image with offset= or size=", n->filename);
  if (pa == VDK_PREALLOC_METADATA)
    return vdk_err (EINVAL, "%s: preallocation mode 'metadata' is not supported for raw",
                    n->filename);
  r = vdk_node_truncate (n->file, size, pa, true);
  if (r == 0)
    n->size = size;
  return r;
}

static int
raw_create (struct vdk_node *file, uint64_t size, struct vdk_opts *opts)
{
  enum vdk_prealloc pa = VDK_PREALLOC_OFF;
  int r = vdk_parse_prealloc (vdk_opts_take (opts, "preallocation"), &pa);

  if (r < 0)
    return r;
  if (pa == VDK_PREALLOC_METADATA)
    return vdk_err (EINVAL, "preallocation mode 'metadata' is not supported for raw");
  r = vdk_node_truncate (file, size, pa, true);
  if (r == 0 && pa == VDK_PREALLOC_OFF && size > 0 && !file->no_zero_init && file->proto &&
      !strcmp (file->proto->name, "file")) {
    /* Like qemu's file driver (its nfs and rbd drivers do not): allocate
     * the first block, so that O_DIRECT alignment can be probed later and
     * "disk size" matches what qemu-img shows. */
    static const uint8_t zero[4096];
    r = vdk_node_pwrite (file, zero, VDK_MIN (size, (uint64_t) sizeof zero), 0, 0);
  }
  return r;
}

/* Like qemu: a raw image always needs its whole virtual size. */
static int
raw_measure (struct vdk_opts *opts, uint64_t size,
             uint64_t (*data_bytes) (void *, uint64_t), void *opaque,
             uint64_t *required, uint64_t *full)
{
  enum vdk_prealloc pa = VDK_PREALLOC_OFF;
  (void) data_bytes;
  (void) opaque;
  vdk_opts_take (opts, "size");
  if (vdk_parse_prealloc (vdk_opts_take (opts, "preallocation"), &pa) < 0)
    return -EINVAL;
  *required = *full = size;
  return 0;
}

static const struct vdk_opt_desc raw_create_opts[] = {
  { "size", "size", "Virtual disk size", NULL },
  { "preallocation", "string", "Preallocation mode (allowed values: off, falloc, full)", "off" },
  { NULL, NULL, NULL, NULL },
};

const struct vdk_format vdk_format_raw = {
  .struct_size = sizeof (struct vdk_format),
  .name = "raw",
  .probe = raw_probe,
  .open = raw_open,
  .close = raw_close,
  .map = raw_map,
  .alloc = raw_map,
  .write_zeroes = raw_write_zeroes,
  .discard = raw_discard,
  .flush = raw_flush,
  .truncate = raw_truncate,
  .create = raw_create,
  .create_opts = raw_create_opts,
  .measure = raw_measure,
};
