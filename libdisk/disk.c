/* The public synchronous API: argument checks, then the node engine. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "io.h"

const char *
disk_version (void)
{
  return VDK_VERSION;
}

int
disk_open (struct disk **out, const char *spec, const char *format, unsigned flags,
           const char *options)
{
  struct vdk_opts extra;
  struct disk *d;
  unsigned nflags = 0;
  int r;

  vdk_err_clear ();
  if (!out || !spec)
    return vdk_err (EINVAL, "disk_open: NULL argument");
  if ((flags & DISK_OPEN_FORCE_SHARE) && (flags & DISK_OPEN_RDWR))
    return vdk_err (EINVAL, "%s: force-share (-U) is only possible read-only", spec);
  if (flags & DISK_OPEN_RDWR)
    nflags |= VDK_O_RDWR;
  if (flags & (DISK_OPEN_FORCE_SHARE | DISK_OPEN_NO_LOCK))
    nflags |= VDK_O_NOLOCK;
  if (flags & DISK_OPEN_NO_BACKING)
    nflags |= VDK_O_NO_BACKING;
  if (flags & DISK_OPEN_BACKING_NO_LOCK)
    nflags |= VDK_O_BACKING_NOLOCK;
  vdk_opts_init (&extra);
  r = vdk_opts_parse (&extra, options, NULL);
  if (r < 0) {
    vdk_opts_free (&extra);
    return r;
  }
  d = calloc (1, sizeof *d);
  if (!d) {
    vdk_opts_free (&extra);
    return vdk_err (ENOMEM, "out of memory");
  }
  r = vdk_open_spec (spec, format, &extra, nflags, 0, &d->root);
  vdk_opts_free (&extra);
  if (r < 0) {
    free (d);
    return r;
  }
  *out = d;
  return 0;
}

int
disk_close (struct disk *d)
{
  int r = 0;

  if (!d)
    return 0;
  if (d->root->flags & VDK_O_RDWR)
    r = vdk_node_flush (d->root);
  vdk_node_close (d->root);
  free (d->filename);
  free (d);
  return r;
}

int64_t
disk_get_size (struct disk *d)
{
  return (int64_t) d->root->size;
}

const char *
disk_get_format (struct disk *d)
{
  return d->root->fmt ? d->root->fmt->name : d->root->proto->name;
}

const char *
disk_get_filename (struct disk *d)
{
  return d->root->filename;
}

int
disk_set_backing (struct disk *d, const char *backing, const char *backing_fmt)
{
  struct vdk_node *n = d->root;
  int r;

  if (!(n->flags & VDK_O_RDWR))
    return vdk_err (EROFS, "%s: image is opened read-only", n->filename);
  if (backing && !backing[0])
    backing = NULL;
  if (backing_fmt && !vdk_find_format (backing_fmt))
    return vdk_err (EINVAL, "Unknown backing file format '%s'", backing_fmt);
  if (!n->fmt || !n->fmt->set_backing)
    return vdk_err (ENOTSUP, "%s: the %s format has no backing file", n->filename,
                    n->fmt ? n->fmt->name : n->proto->name);
  pthread_mutex_lock (&n->lock);
  r = n->fmt->set_backing (n, backing, backing_fmt);
  pthread_mutex_unlock (&n->lock);
  if (r < 0)
    return r;
  free (n->backing_filename);
  free (n->backing_format);
  n->backing_filename = backing ? strdup (backing) : NULL;
  n->backing_format = backing_fmt ? strdup (backing_fmt) : NULL;
  return vdk_node_flush (n);
}

int
disk_make_empty (struct disk *d)
{
  struct vdk_node *n = d->root;
  int r;

  if (!(n->flags & VDK_O_RDWR))
    return vdk_err (EROFS, "%s: image is opened read-only", n->filename);
  if (!n->fmt || !n->fmt->make_empty)
    return vdk_err (ENOTSUP, "%s: the %s format cannot be emptied", n->filename,
                    n->fmt ? n->fmt->name : n->proto->name);
  pthread_mutex_lock (&n->lock);
  r = vdk_wait_inflight (n, 0, n->size);
  if (r == 0)
    r = n->fmt->make_empty (n);
  pthread_mutex_unlock (&n->lock);
  return r < 0 ? r : vdk_node_flush (n);
}

static struct vdk_node *
chain_node (struct disk *d, int depth)
{
  struct vdk_node *n = d->root;
  while (n && depth-- > 0)
    n = n->backing;
  return n;
}

int
disk_chain_length (struct disk *d)
{
  int len = 0;
  for (struct vdk_node *n = d->root; n; n = n->backing)
    len++;
  return len;
}

const char *
disk_chain_filename (struct disk *d, int depth)
{
  struct vdk_node *n = chain_node (d, depth);
  return n ? n->filename : NULL;
}

const char *
disk_chain_format (struct disk *d, int depth)
{
  struct vdk_node *n = chain_node (d, depth);
  return n ? (n->fmt ? n->fmt->name : n->proto->name) : NULL;
}

uint64_t
disk_chain_size (struct disk *d, int depth)
{
  struct vdk_node *n = chain_node (d, depth);
  return n ? n->size : 0;
}

uint64_t
disk_get_cluster_size (struct disk *d)
{
  return d->root->cluster_size;
}

bool
disk_is_zero_initialized (struct disk *d)
{
  struct vdk_node *n = d->root;

  if (n->backing || n->no_zero_init)
    return false;
  if (n->fmt && strcmp (n->fmt->name, "raw") == 0)
    return n->file && !n->file->no_zero_init;
  return true;
}

static int disk_remove_resolved (const char *spec, const char *format);

int
disk_remove (const char *spec, const char *format)
{
  char *resolved;
  int r;

  if (!spec)
    return vdk_err (EINVAL, "disk_remove: NULL argument");
  r = vdk_resolve_vol_spec (spec, 0, &resolved);
  if (r < 0)
    return r;
  r = disk_remove_resolved (resolved ? resolved : spec, format);
  free (resolved);
  return r;
}

static int
disk_remove_resolved (const char *spec, const char *format)
{
  const struct vdk_format *f = format ? vdk_find_format (format) : NULL;
  const struct vdk_protocol *p = vdk_find_protocol_for_url (spec);
  const char *path = spec;

  if (!p)
    p = vdk_find_protocol ("file");
  if (strncmp (spec, "file://", 7) == 0)
    path = spec + 7;
  if (f && f->remove_extra)
    f->remove_extra (path);
  if (!p->remove)
    return vdk_err (ENOTSUP, "%s: the %s protocol cannot remove images", spec, p->name);
  return p->remove (path);
}

int64_t
disk_get_allocated (struct disk *d)
{
  return vdk_node_get_allocated (d->root);
}

int
disk_pread (struct disk *d, void *buf, size_t count, uint64_t offset)
{
  if (!buf && count)
    return vdk_err (EINVAL, "disk_pread: NULL buffer");
  return vdk_node_pread (d->root, buf, count, offset);
}

int
disk_pwrite (struct disk *d, const void *buf, size_t count, uint64_t offset, unsigned flags)
{
  if (!buf && count)
    return vdk_err (EINVAL, "disk_pwrite: NULL buffer");
  if (flags & ~(DISK_FUA | DISK_COMPRESSED))
    return vdk_err (EINVAL, "disk_pwrite: unknown flags %#x", flags);
  return vdk_node_pwrite (d->root, buf, count, offset, flags);
}

int
disk_flush (struct disk *d)
{
  return vdk_node_flush (d->root);
}

int
disk_discard (struct disk *d, uint64_t offset, uint64_t count)
{
  return vdk_node_discard (d->root, offset, count);
}

int
disk_write_zeroes (struct disk *d, uint64_t offset, uint64_t count, unsigned flags)
{
  if (flags & ~(DISK_FUA | DISK_MAY_UNMAP | DISK_NO_FALLBACK))
    return vdk_err (EINVAL, "disk_write_zeroes: unknown flags %#x", flags);
  return vdk_node_write_zeroes (d->root, offset, count, flags);
}

int
disk_truncate (struct disk *d, uint64_t size, const char *prealloc, unsigned flags)
{
  enum vdk_prealloc p;
  int r = vdk_parse_prealloc (prealloc, &p);
  if (r < 0)
    return r;
  return vdk_node_truncate (d->root, size, p, flags & DISK_TRUNCATE_SHRINK);
}

/* Status of one format node's range, recursing into the child file to find
 * holes under DATA (so "zero" is reported like qemu does). */
int
disk_block_status (struct disk *d, uint64_t offset, uint64_t count, unsigned want,
                   struct disk_status *st)
{
  struct vdk_node *n = d->root;
  uint64_t len = count;
  int depth = 0, r;

  memset (st, 0, sizeof *st);
  st->offset = offset;
  if (count == 0 || !vdk_range_ok (offset, count, n->size))
    return vdk_err (EINVAL, "%s: block status range beyond the end of the image", n->filename);
  for (;;) {
    struct vdk_extent e;
    if (n->proto) {   /* opened a bare protocol: everything is "data" of its own */
      r = vdk_node_block_status (n, offset, len, &e);
      if (r < 0)
        return r;
      st->length = e.len;
      st->flags = DISK_STATUS_ALLOCATED | DISK_STATUS_OFFSET |
        (e.kind == VDK_EXT_ZERO ? DISK_STATUS_ZERO : DISK_STATUS_DATA);
      st->host_offset = offset;
      st->filename = n->filename;
      break;
    }
    r = vdk_fmt_map (n, offset, len, &e);
    if (r < 0)
      return r;
    len = e.len;
    st->depth = depth;
    switch (e.kind) {
    case VDK_EXT_DATA: {
      struct vdk_node *c = e.child ? e.child : n->file;
      struct vdk_extent fe;
      st->flags = DISK_STATUS_DATA | DISK_STATUS_ALLOCATED | DISK_STATUS_OFFSET;
      st->host_offset = e.host;
      st->filename = c->filename;
      if (c->proto && vdk_range_ok (e.host, len, c->size)) {
        r = vdk_node_block_status (c, e.host, len, &fe);
        if (r < 0)
          return r;
        len = fe.len;
        if (fe.kind == VDK_EXT_ZERO) {
          st->flags |= DISK_STATUS_ZERO;
          /* A raw image's holes are "zero, not data" like qemu says. */
          if (strcmp (n->fmt->name, "raw") == 0)
            st->flags &= ~DISK_STATUS_DATA;
        }
      }
      st->length = len;
      return 0;
    }
    case VDK_EXT_ZERO:
      st->flags = DISK_STATUS_ZERO | DISK_STATUS_ALLOCATED;
      st->length = len;
      return 0;
    case VDK_EXT_ENCODED:
      st->flags = DISK_STATUS_DATA | DISK_STATUS_ALLOCATED | DISK_STATUS_COMPRESSED;
      st->length = len;
      return 0;
    case VDK_EXT_UNALLOC:
      /* Like qemu: no backing (or past its end) reads as zeroes at this
       * layer, "present" false; otherwise look further down the chain. */
      if (!n->backing || offset >= n->backing->size) {
        st->flags = DISK_STATUS_ZERO;
        st->length = len;
        return 0;
      }
      if (!(want & DISK_STATUS_WANT_DEPTH)) {
        st->flags = 0;
        st->depth = depth + 1;
        st->length = VDK_MIN (len, n->backing->size - offset);
        return 0;
      }
      len = VDK_MIN (len, n->backing->size - offset);
      n = n->backing;
      depth++;
      continue;
    }
  }
  return 0;
}

static bool
format_accepts (const struct vdk_format *f, const char *name)
{
  for (const struct vdk_opt_desc *o = f->create_opts; o && o->name; o++)
    if (strcmp (o->name, name) == 0)
      return true;
  return false;
}

/* Bytes of SRC's data, counted in GRAN-aligned units that hold any data or
 * are allocated (a source's zero clusters do not count). */
static uint64_t
src_data_bytes (void *opaque, uint64_t gran)
{
  struct disk *src = opaque;
  uint64_t size = src->root->size, off = 0, total = 0, last_unit = UINT64_MAX;

  if (gran == 0)
    gran = 1;
  while (off < size) {
    struct disk_status st;
    if (disk_block_status (src, off, size - off, DISK_STATUS_WANT_DEPTH, &st) < 0)
      return size;   /* unknown: assume everything */
    if ((st.flags & DISK_STATUS_DATA) && !(st.flags & DISK_STATUS_ZERO)) {
      uint64_t s = off - off % gran, e = off + st.length;
      if (e % gran)
        e += gran - e % gran;
      if (s / gran == last_unit)
        s += gran;
      if (e > s)
        total += e - s;
      last_unit = e / gran - 1;
    }
    off += st.length;
  }
  return total > VDK_ROUND_UP (size, gran) ? VDK_ROUND_UP (size, gran) : total;
}

int
disk_measure_ex (const char *format, const char *options, uint64_t size, struct disk *src,
                 struct disk_measure_result *res)
{
  const struct vdk_format *f = vdk_find_format (format ? format : "raw");
  struct vdk_opts o;
  int r;

  if (!f)
    return vdk_err (EINVAL, "Unknown file format '%s'", format);
  if (!f->measure && !f->measure_full)
    return vdk_err (ENOTSUP, "Block driver '%s' does not support size measurement", f->name);
  memset (res, 0, sizeof *res);
  vdk_opts_init (&o);
  r = vdk_opts_parse (&o, options, NULL);
  for (size_t i = 0; r == 0 && i < o.n; i++)
    if (!format_accepts (f, o.v[i].key))
      r = vdk_err (EINVAL, "Invalid parameter '%s' for format '%s'", o.v[i].key, f->name);
  if (r == 0) {
    if (src)
      size = src->root->size;
    if (f->measure_full) {
      struct vdk_measure m = {
        .size = size, .data_bytes = src ? src_data_bytes : NULL, .opaque = src,
        .src = src ? src->root : NULL,
      };
      r = f->measure_full (&o, &m);
      if (r == 0) {
        res->required = m.required;
        res->fully_allocated = m.full;
        res->has_bitmaps = m.has_bitmaps;
        res->bitmaps = m.bitmaps;
      }
    }
    else
      r = f->measure (&o, size, src ? src_data_bytes : NULL, src, &res->required,
                      &res->fully_allocated);
  }
  vdk_opts_free (&o);
  return r;
}

int
disk_measure (const char *format, const char *options, uint64_t size, struct disk *src,
              uint64_t *required, uint64_t *fully_allocated)
{
  struct disk_measure_result res;
  int r = disk_measure_ex (format, options, size, src, &res);

  if (r == 0) {
    *required = res.required;
    *fully_allocated = res.fully_allocated;
  }
  return r;
}

int
disk_create_options (const char *format,
                     void (*cb) (void *, const char *, const char *, const char *, const char *),
                     void *opaque)
{
  const struct vdk_format *f = vdk_find_format (format ? format : "raw");

  if (!f)
    return vdk_err (EINVAL, "Unknown file format '%s'", format);
  if (!f->create)
    return vdk_err (ENOTSUP, "Format driver '%s' does not support image creation", f->name);
  for (const struct vdk_opt_desc *o = f->create_opts; o && o->name; o++)
    cb (opaque, o->name, o->type, o->help, o->defval);
  return 0;
}

static int disk_create_resolved (const char *spec, const char *format, uint64_t size,
                                 const char *options, const char *backing,
                                 const char *backing_fmt, unsigned flags);

/* "vol:" specs are resolved here: the image's own name (it may not exist
 * yet) and the backing name, so the image records a real path that other
 * programs can open too -- unless the path names one of the program's
 * secrets (an iscsi pool's LUN: password-secret=; an rbd pool's volume:
 * keyfile=), which a name read from
 * an image may not use (VDK_O_FROM_IMAGE): then the vol: spec is recorded,
 * and the pools resolve it when the image is opened. */
int
disk_create (const char *spec, const char *format, uint64_t size, const char *options,
             const char *backing, const char *backing_fmt, unsigned flags)
{
  char *rspec = NULL, *rbacking = NULL;
  int r;

  vdk_err_clear ();
  r = vdk_resolve_vol_spec (spec, DISK_RESOLVE_CREATE, &rspec);
  if (r == 0)
    r = vdk_resolve_vol_spec (backing, 0, &rbacking);
  if (r == 0 && rbacking && (strstr (rbacking, "password-secret=") ||
                             (!strncmp (rbacking, "rbd:", 4) && strstr (rbacking, ":keyfile=")))) {
    free (rbacking);
    rbacking = NULL;
  }
  if (r == 0)
    r = disk_create_resolved (rspec ? rspec : spec, format, size, options,
                              rbacking ? rbacking : backing, backing_fmt, flags);
  free (rspec);
  free (rbacking);
  return r;
}

static int
disk_create_resolved (const char *spec, const char *format, uint64_t size,
                      const char *options, const char *backing,
                      const char *backing_fmt, unsigned flags)
{
  const struct vdk_format *f;
  const struct vdk_protocol *p;
  struct vdk_opts o;
  struct vdk_node *file = NULL;
  struct stat st;
  bool existed, sized = false;
  const char *path;
  uint64_t osize;
  int r;

  vdk_err_clear ();
  if (!spec || !spec[0])
    return vdk_err (EINVAL, "no image name given");
  f = vdk_find_format (format ? format : "raw");
  if (!f)
    return vdk_err (EINVAL, "Unknown file format '%s'", format);
  if (!f->create)
    return vdk_err (ENOTSUP, "Format driver '%s' does not support image creation", f->name);
  vdk_opts_init (&o);
  r = vdk_opts_parse (&o, options, NULL);
  if (r < 0)
    goto out;
  for (size_t i = 0; i < o.n; i++)
    if (!format_accepts (f, o.v[i].key)) {
      r = vdk_err (EINVAL, "%s: Invalid parameter '%s' for format '%s'", spec, o.v[i].key, f->name);
      goto out;
    }
  if ((r = vdk_opts_take_size (&o, "size", &osize)) < 0)
    goto out;
  if (r == 1)
    size = osize;
  /* -o backing_file= is the same as -b */
  if (!backing && vdk_opts_get (&o, "backing_file"))
    backing = vdk_opts_get (&o, "backing_file");
  if (!backing_fmt && vdk_opts_get (&o, "backing_fmt"))
    backing_fmt = vdk_opts_get (&o, "backing_fmt");
  if (backing && !backing[0])
    backing = NULL;
  if (backing) {
    if (!format_accepts (f, "backing_file")) {
      r = vdk_err (ENOTSUP, "%s: Backing file not supported for file format '%s'", spec, f->name);
      goto out;
    }
    if (backing_fmt && !vdk_find_format (backing_fmt)) {
      r = vdk_err (EINVAL, "%s: Unknown backing file format '%s'", spec, backing_fmt);
      goto out;
    }
    if ((r = vdk_opts_set (&o, "backing_file", backing)) < 0 ||
        (backing_fmt && (r = vdk_opts_set (&o, "backing_fmt", backing_fmt)) < 0))
      goto out;
    /* they may have pointed at the values just replaced (-o backing_file=) */
    backing = vdk_opts_get (&o, "backing_file");
    if (backing_fmt)
      backing_fmt = vdk_opts_get (&o, "backing_fmt");
    if (!(flags & DISK_CREATE_NO_BACKING_CHECK)) {
      struct vdk_node *b;
      char *bname = vdk_resolve_relative (spec, backing);
      if (!bname) {
        r = vdk_err (ENOMEM, "out of memory");
        goto out;
      }
      r = vdk_open_spec (bname, backing_fmt, NULL, VDK_O_NOLOCK, 1, &b);
      free (bname);
      if (r < 0) {
        vdk_err_prefix ("%s: Could not open backing image", spec);
        goto out;
      }
      if (size == 0)
        size = b->size;
      if (!backing_fmt) {
        r = vdk_opts_set (&o, "backing_fmt", b->fmt ? b->fmt->name : "raw");
        if (r < 0) {
          vdk_node_close (b);
          goto out;
        }
      }
      vdk_node_close (b);
    }
    else if (size == 0) {
      r = vdk_err (EINVAL, "%s: Image creation needs a size parameter", spec);
      goto out;
    }
  }
  if (size > VDK_MAX_IMAGE_SIZE) {
    r = vdk_err (EFBIG, "%s: Image size must be less than %llu bytes", spec,
                 (unsigned long long) VDK_MAX_IMAGE_SIZE);
    goto out;
  }

  p = vdk_find_protocol_for_url (spec);
  if (!p)
    p = vdk_find_protocol ("file");
  path = spec;
  if (p == vdk_find_protocol ("file") && strncmp (spec, "file:", 5) == 0)
    path = spec + (strncmp (spec, "file://", 7) == 0 ? 7 : 5);
  if (!p->create) {
    r = vdk_err (ENOTSUP, "%s: the %s protocol cannot create images", spec, p->name);
    goto out;
  }
  existed = p == vdk_find_protocol ("file") ? stat (path, &st) == 0 : true;
  {
    /* A raw image without preallocation is its whole virtual size: say so,
     * so that a protocol that sizes objects at creation (rbd) does it in
     * the same call, not in a resize after it. */
    struct vdk_opts po;
    const char *pa = vdk_opts_get (&o, "preallocation");
    char sz[32];
    vdk_opts_init (&po);
    r = 0;
    if (!strcmp (f->name, "raw") && (!pa || !strcmp (pa, "off"))) {
      snprintf (sz, sizeof sz, "%" PRIu64, size);
      r = vdk_opts_set (&po, "size", sz);
    }
    if (r == 0) {
      r = p->create (path, &po);
      sized = r == 0 && vdk_opts_taken (&po, "size");
    }
    vdk_opts_free (&po);
  }
  if (r < 0)
    goto out;
  if (sized) {
    /* The protocol made the raw image at its size (rbd): raw's create
     * would only open it, find the size right and close it again. */
    vdk_opts_take (&o, "preallocation");
    r = vdk_opts_check_unused (&o, f->name);
    if (r < 0)
      goto fail;
    vdk_opts_free (&o);
    return 0;
  }
  r = vdk_open_protocol (path, NULL, VDK_O_RDWR, &file);
  if (r < 0)
    goto fail;
  r = f->create (file, size, &o);
  if (r < 0)
    goto fail;
  r = vdk_opts_check_unused (&o, f->name);
  if (r < 0)
    goto fail;
  r = vdk_node_flush (file);
  if (r < 0)
    goto fail;
  vdk_node_close (file);
  vdk_opts_free (&o);
  return 0;
 fail:
  vdk_node_close (file);
  if (!existed && p->remove) {
    int saved = disk_last_errno ();
    char msg[2048];
    snprintf (msg, sizeof msg, "%s", disk_last_error ());
    p->remove (path);
    vdk_err (saved, "%s", msg);
  }
 out:
  vdk_opts_free (&o);
  return r;
}

/* ---- maintenance ---------------------------------------------------------- */

int
disk_check (struct disk *d, unsigned fix, struct disk_check_result *res,
            void (*report) (void *, const char *), void *opaque)
{
  struct vdk_node *n = d->root;
  struct vdk_check c;
  int r;

  vdk_err_clear ();
  memset (res, 0, sizeof *res);
  if (!n->fmt || !n->fmt->check)
    return vdk_err (ENOTSUP, "%s: This image format does not support checks", n->filename);
  if (fix && !(n->flags & VDK_O_RDWR))
    return vdk_err (EROFS, "%s: the image must be opened read-write to repair it", n->filename);
  memset (&c, 0, sizeof c);
  c.fix = (fix & DISK_CHECK_FIX_LEAKS ? VDK_FIX_LEAKS : 0) |
          (fix & DISK_CHECK_FIX_ERRORS ? VDK_FIX_ERRORS : 0);
  c.report = report;
  c.opaque = opaque;
  c.image_end_offset = 0;
  pthread_mutex_lock (&n->lock);
  r = n->fmt->check (n, c.fix, &c);
  pthread_mutex_unlock (&n->lock);
  res->corruptions = c.corruptions;
  res->leaks = c.leaks;
  res->check_errors = c.check_errors;
  res->corruptions_fixed = c.corruptions_fixed;
  res->leaks_fixed = c.leaks_fixed;
  res->image_end_offset = c.image_end_offset;
  res->total_clusters = c.total_clusters;
  res->allocated_clusters = c.allocated_clusters;
  res->fragmented_clusters = c.fragmented_clusters;
  res->compressed_clusters = c.compressed_clusters;
  return r;
}

struct vdk_node *
vdk_snapshot_node (struct vdk_node *n)
{
  if (n->fmt && !n->fmt->snapshot_list && !strcmp (n->fmt->name, "raw") && n->file &&
      n->file->proto && n->file->proto->snapshot_list)
    return n->file;
  return n;
}

enum snapshot_op { SNAP_CREATE, SNAP_APPLY, SNAP_DELETE };

static int
snapshot_op (struct disk *d, const char *name, enum snapshot_op which)
{
  struct vdk_node *n = d->root, *s = vdk_snapshot_node (n);
  int (*op) (struct vdk_node *, const char *) = NULL;
  int r;

  vdk_err_clear ();
  if (!name || !name[0])
    return vdk_err (EINVAL, "%s: empty snapshot name", n->filename);
  if (s->fmt)
    op = which == SNAP_CREATE ? s->fmt->snapshot_create
      : which == SNAP_APPLY ? s->fmt->snapshot_apply : s->fmt->snapshot_delete;
  else if (s != n)
    op = which == SNAP_CREATE ? s->proto->snapshot_create
      : which == SNAP_APPLY ? s->proto->snapshot_apply : s->proto->snapshot_delete;
  if (!op)
    return vdk_err (ENOTSUP, "%s: the %s format does not support internal snapshots",
                    n->filename, n->fmt ? n->fmt->name : n->proto->name);
  if (!(n->flags & VDK_O_RDWR))
    return vdk_err (EROFS, "%s: image is opened read-only", n->filename);
  if (s != n && (r = vdk_node_flush (n)) < 0)
    return r;
  pthread_mutex_lock (&s->lock);
  r = op (s, name);
  pthread_mutex_unlock (&s->lock);
  if (r == 0)
    r = vdk_node_flush (n);
  return r;
}

int
disk_snapshot_create (struct disk *d, const char *name)
{
  return snapshot_op (d, name, SNAP_CREATE);
}

int
disk_snapshot_apply (struct disk *d, const char *name)
{
  return snapshot_op (d, name, SNAP_APPLY);
}

int
disk_snapshot_delete (struct disk *d, const char *name)
{
  return snapshot_op (d, name, SNAP_DELETE);
}

int
disk_snapshot_load (struct disk *d, const char *id, const char *name)
{
  struct vdk_node *n = d->root;
  int r;

  vdk_err_clear ();
  if (!id && !name)
    return vdk_err (EINVAL, "%s: no snapshot id or name given", n->filename);
  if (!n->fmt || !n->fmt->snapshot_load)
    return vdk_err (ENOTSUP, "Block format '%s' used by device '' does not support"
                    " temporarily loading internal snapshots",
                    n->fmt ? n->fmt->name : n->proto->name);
  if (n->flags & VDK_O_RDWR)
    return vdk_err (EINVAL, "Device '' is writable, reading from a snapshot requires"
                    " a read-only device");
  pthread_mutex_lock (&n->lock);
  r = n->fmt->snapshot_load (n, id, name);
  pthread_mutex_unlock (&n->lock);
  return r;
}

int
disk_amend (struct disk *d, const char *options)
{
  struct vdk_node *n = d->root;
  struct vdk_opts o;
  int r;

  vdk_err_clear ();
  if (!n->fmt || !n->fmt->amend)
    return vdk_err (ENOTSUP, "%s: the %s format does not support amend", n->filename,
                    n->fmt ? n->fmt->name : n->proto->name);
  if (!(n->flags & VDK_O_RDWR))
    return vdk_err (EROFS, "%s: image is opened read-only", n->filename);
  vdk_opts_init (&o);
  r = vdk_opts_parse (&o, options, NULL);
  if (r == 0) {
    pthread_mutex_lock (&n->lock);
    r = n->fmt->amend (n, &o);
    pthread_mutex_unlock (&n->lock);
  }
  if (r == 0)
    r = vdk_opts_check_unused (&o, n->fmt->name);
  if (r == 0)
    r = vdk_node_flush (n);
  vdk_opts_free (&o);
  return r;
}
