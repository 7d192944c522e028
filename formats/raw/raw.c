/* raw: the image is the bytes of its file, optionally a window of it
 * (offset=, size= like qemu's raw driver). */
#include <inttypes.h>
#include <stdlib.h>

#include "../../libdisk/internal.h"

struct raw_priv {
  uint64_t offset;
  bool has_size;
};

static int
raw_probe (const uint8_t *buf, size_t len, const char *filename)
{
  (void) buf; (void) len; (void) filename;
  return 1;   /* the lowest score: anything else wins */
}

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
    return r;
  p->has_size = r == 1;
  if (p->offset > n->file->size)
    return vdk_err (EINVAL, "%s: offset %" PRIu64 " is beyond the end of the file",
                    n->filename, p->offset);
  if (p->has_size) {
    if (!vdk_range_ok (p->offset, size, n->file->size))
      return vdk_err (EINVAL, "%s: offset + size is beyond the end of the file", n->filename);
    n->size = size;
  }
  else
    n->size = n->file->size - p->offset;
  return 0;
}

static void
raw_close (struct vdk_node *n)
{
  free (n->priv);
}

static int
raw_map (struct vdk_node *n, uint64_t off, uint64_t len, struct vdk_extent *e)
{
  struct raw_priv *p = n->priv;
  e->kind = VDK_EXT_DATA;
  e->host = p->offset + off;
  e->len = len;
  return 0;
}

static int
raw_write_zeroes (struct vdk_node *n, uint64_t off, uint64_t len, unsigned flags)
{
  struct raw_priv *p = n->priv;
  return vdk_node_write_zeroes (n->file, p->offset + off, len, flags | DISK_NO_FALLBACK);
}

static int
raw_discard (struct vdk_node *n, uint64_t off, uint64_t len)
{
  struct raw_priv *p = n->priv;
  return vdk_node_discard (n->file, p->offset + off, len);
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
  if (r == 0 && pa == VDK_PREALLOC_OFF && size > 0 && !file->no_zero_init) {
    /* Like qemu: allocate the first block, so that O_DIRECT alignment can be
     * probed later and "disk size" matches what qemu-img shows. */
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
  .truncate = raw_truncate,
  .create = raw_create,
  .create_opts = raw_create_opts,
  .measure = raw_measure,
};
