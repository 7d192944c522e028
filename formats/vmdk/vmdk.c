/* vmdk: the driver glue -- probing, opening descriptors and extents, the
 * map / write paths, info, and creating every subformat qemu-img creates. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "vmdk.h"


static uint32_t new_cid (void);
extern const struct vdk_format vdk_format_vmdk;

static int
vmdk_probe (const uint8_t *buf, size_t len, const char *filename)
{
  (void) filename;
  if (len >= 4 && (vdk_le32 (buf) == VMDK4_MAGIC || vdk_le32 (buf) == VMDK3_MAGIC))
    return 100;
  return vmdk_desc_probe (buf, len) ? 100 : 0;
}

static void
vmdk_close (struct vdk_node *n)
{
  struct vmdk_priv *p = n->priv;

  if (!p)
    return;
  vmdk_stream_free (p->stream);
  for (size_t i = 0; i < p->n_ext; i++)
    vmdk_ext_free (&p->ext[i]);
  free (p->ext);
  free (p->create_type);
  free (p);
  n->priv = NULL;
}

static int
set_backing (struct vdk_node *n, const struct vmdk_desc *d)
{
  if (!d->parent_hint || !d->parent_hint[0])
    return 0;
  n->backing_filename = strdup (d->parent_hint);
  n->backing_format = strdup ("vmdk");
  if (!n->backing_filename || !n->backing_format)
    return vdk_err (ENOMEM, "out of memory");
  return 0;
}

/* An image whose file is one sparse extent (monolithicSparse, streamOptimized,
 * or a sparse extent file opened directly). */
static int
open_monolithic (struct vdk_node *n, struct vmdk_priv *p, unsigned flags)
{
  struct vmdk_ext *e;
  struct vmdk_desc d;
  char *text = NULL;
  uint64_t cap;
  int r;

  p->ext = calloc (1, sizeof *p->ext);
  if (!p->ext)
    return vdk_err (ENOMEM, "out of memory");
  p->n_ext = 1;
  p->monolithic = true;
  e = &p->ext[0];
  e->file = n->file;
  e->writable = (flags & VDK_O_RDWR) != 0;
  e->filename = strdup (n->filename);
  e->type_name = strdup ("");
  if (!e->filename || !e->type_name)
    return vdk_err (ENOMEM, "out of memory");
  r = vmdk_sparse_open (n, e, flags & VDK_O_RDWR, &cap, &text);
  if (r < 0)
    return r;
  e->size = cap;
  n->size = cap;
  p->parent_cid = VMDK_NO_PARENT;
  if (text) {
    r = vmdk_desc_parse (n->filename, text, strlen (text), &d);
    free (text);
    if (r < 0)
      return r;
    p->cid = d.cid;
    p->parent_cid = d.parent_cid;
    p->create_type = d.create_type;
    d.create_type = NULL;
    r = set_backing (n, &d);
    vmdk_desc_free (&d);
    if (r < 0)
      return r;
  }
  if (!p->create_type &&
      !(p->create_type = strdup (e->type == VMDK_EXT_COWD ? "vmfsSparse" : "monolithicSparse")))
    return vdk_err (ENOMEM, "out of memory");
  n->cluster_size = e->grain;
  if ((flags & VDK_O_RDWR) && e->type == VMDK_EXT_COWD)
    return vdk_err (EROFS, "%s: writing vmfsSparse (COWD) extents is not supported; open it"
                    " read-only", n->filename);
  if ((flags & VDK_O_RDWR) && e->compressed)
    return vmdk_stream_init (n, e, &p->stream);
  return 0;
}

/* A descriptor listing extent files: the whole of n->file, or DOFF/DLEN
 * of it (a sparse header with capacity 0 pointing at an embedded descriptor,
 * as ESX writes them). */
static int
open_descriptor (struct vdk_node *n, struct vmdk_priv *p, unsigned flags, uint64_t doff,
                 uint64_t dlen)
{
  struct vmdk_desc d;
  uint64_t start = 0;
  char *text;
  int r;

  if (dlen > VMDK_DESC_MAX)
    return vdk_err (EINVAL, "%s: descriptor file larger than %u bytes", n->filename,
                    VMDK_DESC_MAX);
  text = calloc (1, dlen + 1);
  if (!text)
    return vdk_err (ENOMEM, "out of memory");
  r = vdk_node_pread (n->file, text, dlen, doff);
  if (r == 0)
    r = vmdk_desc_parse (n->filename, text, dlen, &d);
  free (text);
  if (r < 0)
    return r;
  if (!d.create_type) {
    vmdk_desc_free (&d);
    return vdk_err (EINVAL, "%s: the descriptor has no createType", n->filename);
  }
  p->cid = d.cid;
  p->parent_cid = d.parent_cid;
  p->create_type = d.create_type;
  d.create_type = NULL;
  r = set_backing (n, &d);
  if (r == 0 && (!strcmp (p->create_type, "vmfsRaw") || !strcmp (p->create_type, "vmfsRDM") ||
                 !strcmp (p->create_type, "fullDevice") ||
                 !strcmp (p->create_type, "partitionedDevice")))
    r = vdk_err (ENOTSUP, "%s: createType '%s' (a physical device) is not supported",
                 n->filename, p->create_type);
  /* No extents at all is a disk of size 0 (qemu-img creates those). */
  if (r == 0 && !(p->ext = calloc (d.n_ext ? d.n_ext : 1, sizeof *p->ext)))
    r = vdk_err (ENOMEM, "out of memory");
  for (size_t i = 0; r == 0 && i < d.n_ext; i++) {
    struct vmdk_desc_extent *x = &d.ext[i];
    struct vmdk_ext *e = &p->ext[i];
    unsigned fflags = flags & (VDK_O_RDWR | VDK_O_NOLOCK | VDK_O_DIRECT | VDK_O_UNSAFE |
                               VDK_O_WRITETHROUGH);
    p->n_ext++;
    e->start = start;
    e->size = x->sectors * VMDK_SECTOR;
    if (!vdk_range_ok (start, e->size, VDK_MAX_IMAGE_SIZE)) {
      r = vdk_err (EFBIG, "%s: the extents add up to more than %llu bytes", n->filename,
                   (unsigned long long) VDK_MAX_IMAGE_SIZE);
      break;
    }
    start += e->size;
    if (strcmp (x->access, "RW") != 0)
      fflags &= ~VDK_O_RDWR;
    e->writable = (fflags & VDK_O_RDWR) != 0;
    if (!(e->type_name = strdup (x->type)) || (x->file && !(e->filename = strdup (x->file)))) {
      r = vdk_err (ENOMEM, "out of memory");
      break;
    }
    if (!strcmp (x->access, "NOACCESS")) {
      r = vdk_err (ENOTSUP, "%s: extent %zu is NOACCESS", n->filename, i + 1);
      break;
    }
    if (!strcmp (x->type, "ZERO")) {
      e->type = VMDK_EXT_ZERO;
      continue;
    }
    if (!strcmp (x->type, "SESPARSE") && (flags & VDK_O_RDWR)) {
      r = vdk_err (EROFS, "%s: writing seSparse extents is not supported; open it read-only",
                   n->filename);
      break;
    }
    if (strcmp (x->type, "FLAT") && strcmp (x->type, "VMFS") && strcmp (x->type, "SPARSE") &&
        strcmp (x->type, "VMFSSPARSE") && strcmp (x->type, "SESPARSE")) {
      r = vdk_err (ENOTSUP, "%s: extent type '%s' is not supported", n->filename, x->type);
      break;
    }
    /* Several extents may live in one file (at different offsets): open
     * it once, writable if any of them is. */
    for (size_t k = 0; k < i && !e->file; k++)
      if (p->ext[k].file && p->ext[k].filename && !strcmp (p->ext[k].filename, x->file))
        e->file = p->ext[k].file;
    if (!e->file) {
      for (size_t k = i + 1; k < d.n_ext; k++)
        if (d.ext[k].file && !strcmp (d.ext[k].file, x->file) && !strcmp (d.ext[k].access, "RW"))
          fflags |= flags & VDK_O_RDWR;
      r = vdk_open_file (n->file, x->file, fflags, &e->file);
      if (r < 0) {
        vdk_err_prefix ("%s: could not open extent file '%s'", n->filename, x->file);
        break;
      }
      e->own_file = true;
    }
    fflags = e->writable ? VDK_O_RDWR : 0;
    if (!strcmp (x->type, "FLAT") || !strcmp (x->type, "VMFS")) {
      e->type = VMDK_EXT_FLAT;
      e->flat_off = x->offset * VMDK_SECTOR;
    }
    else if (!strcmp (x->type, "SESPARSE")) {
      uint64_t cap;
      r = vmdk_sesparse_open (n, e, &cap);
      if (r == 0 && !n->cluster_size)
        n->cluster_size = i == 0 ? e->grain : 0;
    }
    else {
      uint64_t cap;
      r = vmdk_sparse_open (n, e, fflags & VDK_O_RDWR, &cap, NULL);
      if (r == 0 && e->compressed && (flags & VDK_O_RDWR))
        r = vdk_err (ENOTSUP, "%s: writing a compressed extent listed in a descriptor is not"
                     " supported", n->filename);
      if (r == 0 && e->type == VMDK_EXT_COWD)
        e->writable = false;
      if (r == 0 && !n->cluster_size)
        n->cluster_size = i == 0 ? e->grain : 0;
    }
  }
  vmdk_desc_free (&d);
  if (r < 0)
    return r;
  n->size = start;
  return 0;
}

static int
vmdk_open (struct vdk_node *n, struct vdk_opts *opts, unsigned flags)
{
  struct vmdk_priv *p = calloc (1, sizeof *p);
  uint8_t magic[4];
  int r;

  (void) opts;
  if (!p)
    return vdk_err (ENOMEM, "out of memory");
  n->priv = p;
  if (n->file->size < 4)
    r = vdk_err (EINVAL, "%s: file too small to be a vmdk image", n->filename);
  else
    r = vdk_node_pread (n->file, magic, 4, 0);
  if (r == 0 && vdk_le32 (magic) == VMDK4_MAGIC && n->file->size >= VMDK_SECTOR) {
    uint8_t h[VMDK_SECTOR];
    r = vdk_node_pread (n->file, h, sizeof h, 0);
    if (r == 0 && vdk_le64 (h + 12) == 0 && vdk_le64 (h + 28) != 0) {
      /* Capacity 0 with a descriptor: the descriptor lists the extents. */
      uint64_t doff = vdk_le64 (h + 28), dsz = vdk_le64 (h + 36);
      if (doff >= n->file->size / VMDK_SECTOR || dsz > VMDK_DESC_MAX / VMDK_SECTOR)
        r = vdk_err (EINVAL, "%s: embedded descriptor at sector %" PRIu64 " is beyond the end"
                     " of the file or too large", n->filename, doff);
      else {
        p->cid_updated = true;   /* its descriptor is not ours to rewrite */
        r = open_descriptor (n, p, flags, doff * VMDK_SECTOR,
                             VDK_MIN (dsz * VMDK_SECTOR, n->file->size - doff * VMDK_SECTOR));
      }
    }
    else if (r == 0)
      r = open_monolithic (n, p, flags);
  }
  else if (r == 0 && (vdk_le32 (magic) == VMDK4_MAGIC || vdk_le32 (magic) == VMDK3_MAGIC))
    r = open_monolithic (n, p, flags);
  else if (r == 0) {
    uint8_t buf[1024];
    size_t l = VDK_MIN ((uint64_t) sizeof buf, n->file->size);
    r = vdk_node_pread (n->file, buf, l, 0);
    if (r == 0 && !vmdk_desc_probe (buf, l))
      r = vdk_err (EINVAL, "%s: not a vmdk image (no sparse header magic and no descriptor)",
                   n->filename);
    if (r == 0)
      r = open_descriptor (n, p, flags, 0, n->file->size);
  }
  if (r < 0) {
    vmdk_close (n);
    return r;
  }
  return 0;
}

/* The extent holding guest offset OFF (binary search; extents are sorted). */
static struct vmdk_ext *
find_ext (struct vmdk_priv *p, uint64_t off)
{
  size_t lo = 0, hi = p->n_ext;
  while (hi - lo > 1) {
    size_t mid = (lo + hi) / 2;
    if (p->ext[mid].start <= off)
      lo = mid;
    else
      hi = mid;
  }
  return &p->ext[lo];
}

/* Before the parent shows through: is it the parent this image was made
 * over?  A parent written since has a new CID (as VMware and qemu check). */
static int
check_parent_cid (struct vdk_node *n, struct vmdk_priv *p)
{
  struct vdk_node *b = n->backing;
  uint32_t bcid;

  if (p->cid_checked || !b)
    return 0;
  if (b->fmt != &vdk_format_vmdk)
    return vdk_err (EINVAL, "%s: the backing file %s is not a vmdk image, so its CID cannot"
                    " match parentCID %08" PRIx32, n->filename, b->filename, p->parent_cid);
  bcid = ((struct vmdk_priv *) b->priv)->cid;
  if (bcid != p->parent_cid)
    return vdk_err (EINVAL, "%s: parentCID %08" PRIx32 " does not match CID %08" PRIx32
                    " of the backing file %s (it was modified after this image was made)",
                    n->filename, p->parent_cid, bcid, b->filename);
  p->cid_checked = true;
  return 0;
}

static int
vmdk_map (struct vdk_node *n, uint64_t off, uint64_t len, struct vdk_extent *x)
{
  struct vmdk_priv *p = n->priv;
  struct vmdk_ext *e = find_ext (p, off);
  uint64_t rel = off - e->start;
  uint64_t l = VDK_MIN (len, e->size - rel);

  if (p->stream)
    return vmdk_stream_map (p->stream, off, l, x);
  switch (e->type) {
  case VMDK_EXT_ZERO:
    x->kind = VDK_EXT_ZERO;
    x->len = l;
    return 0;
  case VMDK_EXT_FLAT: {
    uint64_t host = e->flat_off + rel;
    if (host >= e->file->size) {   /* past the end of a short file: zeroes, as qemu */
      x->kind = VDK_EXT_ZERO;
      x->len = l;
      return 0;
    }
    x->kind = VDK_EXT_DATA;
    x->host = host;
    x->child = e->file;
    x->len = VDK_MIN (l, e->file->size - host);
    return 0;
  }
  default: {
    int r = e->type == VMDK_EXT_SESPARSE ? vmdk_sesparse_map (e, rel, l, x)
                                         : vmdk_sparse_map (n, e, rel, l, x);
    if (r == 0 && x->kind == VDK_EXT_UNALLOC && n->backing && !p->cid_checked)
      r = check_parent_cid (n, p);
    return r;
  }
  }
}

static int
vmdk_read_encoded (struct vdk_node *n, uint64_t off, size_t len, void *buf)
{
  struct vmdk_priv *p = n->priv;
  struct vmdk_ext *e = find_ext (p, off);

  if (p->stream)
    return vmdk_stream_read (n, p->stream, off, len, buf);
  return vmdk_sparse_read_compressed (n, e, off - e->start, len, buf);
}

/* Like VMware and qemu, give a modified image a new CID on its first write,
 * so children recorded with the old one (parentCID) can tell. */
static int
update_cid (struct vdk_node *n, struct vmdk_priv *p)
{
  struct vmdk_ext *e = &p->ext[0];
  uint64_t off = p->monolithic ? e->desc_off : 0;
  uint64_t len = p->monolithic ? e->desc_len : n->file->size;
  char *text, *line, *eol, *out = NULL;
  uint32_t cid;
  int r = 0;

  if (p->cid_updated || p->stream)
    return 0;
  p->cid_updated = true;
  if (len == 0 || len > VMDK_DESC_MAX)
    return 0;
  text = calloc (1, len + 1);
  if (!text)
    return vdk_err (ENOMEM, "out of memory");
  r = vdk_node_pread (n->file, text, len, off);
  if (r < 0)
    goto out;
  for (line = text; line; line = strchr (line, '\n') ? strchr (line, '\n') + 1 : NULL)
    if (!strncmp (line, "CID=", 4))
      break;
  if (!line)
    goto out;                       /* no CID line: nothing to update */
  eol = line + strcspn (line, "\r\n");
  do
    cid = new_cid ();
  while (cid == p->cid);
  if (asprintf (&out, "%.*sCID=%08" PRIx32 "%s", (int) (line - text), text, cid, eol) < 0) {
    out = NULL;
    r = vdk_err (ENOMEM, "out of memory");
    goto out;
  }
  {
    size_t olen = strlen (text), nlen = strlen (out);
    if (p->monolithic) {
      char *pad;
      if (nlen > len)
        goto out;                   /* does not fit the descriptor area */
      pad = calloc (1, VDK_MAX (olen, nlen));
      if (!pad) {
        r = vdk_err (ENOMEM, "out of memory");
        goto out;
      }
      memcpy (pad, out, nlen);
      r = vdk_node_pwrite (n->file, pad, VDK_MAX (olen, nlen), off, 0);
      free (pad);
    }
    else {
      r = vdk_node_pwrite (n->file, out, nlen, 0, 0);
      if (r == 0 && nlen < len)
        r = vdk_node_truncate (n->file, nlen, VDK_PREALLOC_OFF, true);
    }
  }
  if (r == 0)
    p->cid = cid;
 out:
  free (out);
  free (text);
  return r;
}

static int
vmdk_pwrite (struct vdk_node *n, const void *buf, size_t len, uint64_t off, unsigned flags)
{
  struct vmdk_priv *p = n->priv;
  const uint8_t *b = buf;
  int r;

  if (p->stream)
    return vmdk_stream_write (n, p->stream, buf, len, off);
  if ((r = update_cid (n, p)) < 0)
    return r;
  while (len > 0) {
    struct vmdk_ext *e = find_ext (p, off);
    uint64_t rel = off - e->start;
    size_t l = VDK_MIN ((uint64_t) len, e->size - rel);

    if (!e->writable)
      return vdk_err (EROFS, "%s: extent '%s' is read-only", n->filename,
                      e->filename ? e->filename : "ZERO");
    if (e->type == VMDK_EXT_ZERO)
      return vdk_err (EROFS, "%s: cannot write to a ZERO extent", n->filename);
    if (e->type == VMDK_EXT_FLAT)
      r = vdk_node_pwrite (e->file, b, l, e->flat_off + rel, flags);
    else {
      r = vmdk_sparse_write (n, e, b, l, rel);
      /* FUA: the grain and its table entries are on stable storage. */
      if (r == 0 && (flags & DISK_FUA))
        r = vdk_node_flush (e->file);
    }
    if (r < 0)
      return r;
    b += l;
    off += l;
    len -= l;
  }
  return 0;
}

static int
vmdk_pwrite_compressed (struct vdk_node *n, const void *buf, size_t len, uint64_t off)
{
  struct vmdk_priv *p = n->priv;
  if (!p->stream)
    return vdk_err (ENOTSUP, "%s: compressed writes need subformat=streamOptimized",
                    n->filename);
  return vmdk_stream_write (n, p->stream, buf, len, off);
}

static int
vmdk_write_zeroes (struct vdk_node *n, uint64_t off, uint64_t len, unsigned flags)
{
  struct vmdk_priv *p = n->priv;
  int r;

  if (p->stream)
    return -ENOTSUP;   /* the core writes zero buffers, in order */
  if ((r = update_cid (n, p)) < 0)
    return r;
  while (len > 0) {
    struct vmdk_ext *e = find_ext (p, off);
    uint64_t rel = off - e->start, l = VDK_MIN (len, e->size - rel);

    if (!e->writable || e->type == VMDK_EXT_ZERO)
      return vdk_err (EROFS, "%s: extent '%s' is read-only", n->filename,
                      e->filename ? e->filename : "ZERO");
    if (e->type == VMDK_EXT_FLAT)
      r = vdk_node_write_zeroes (e->file, e->flat_off + rel, l, flags);
    else
      r = vmdk_sparse_write_zeroes (n, e, rel, l, flags);
    if (r < 0)
      return r;
    off += l;
    len -= l;
  }
  return 0;
}

static int
vmdk_flush (struct vdk_node *n)
{
  struct vmdk_priv *p = n->priv;
  int r;

  if (p->stream)
    return vmdk_stream_finish (n, p->stream);
  for (size_t i = 0; i < p->n_ext; i++)
    if (p->ext[i].own_file && p->ext[i].writable && (r = vdk_node_flush (p->ext[i].file)) < 0)
      return r;
  return 0;
}

static int
vmdk_info (struct vdk_node *n, struct disk_info *info)
{
  struct vmdk_priv *p = n->priv;
  int r;

  info->cluster_size = n->cluster_size;
  if ((r = vdk_info_add_int (info, "cid", "cid", p->cid)) < 0 ||
      (r = vdk_info_add_int (info, "parent-cid", "parent cid", p->parent_cid)) < 0 ||
      (r = vdk_info_add_str (info, "create-type", "create type", p->create_type)) < 0 ||
      (r = vdk_info_add_str (info, "extents", "extents", "")) < 0)
    return r;
  info->fields[info->n_fields - 1].indent = 0;
  /* The core keeps at most 256 info fields: huge extent lists are cut
   * short rather than failing info altogether. */
  for (size_t i = 0; i < p->n_ext && info->n_fields + 6 <= 256; i++) {
    struct vmdk_ext *e = &p->ext[i];
    char idx[32];
    size_t first;
    snprintf (idx, sizeof idx, "[%zu]", i);
    first = info->n_fields;
    if ((r = vdk_info_add_str (info, idx, idx, "")) < 0)
      return r;
    if (e->compressed && (r = vdk_info_add_bool (info, "compressed", "compressed", true)) < 0)
      return r;
    if ((r = vdk_info_add_int (info, "virtual-size", "virtual size", e->size)) < 0 ||
        (r = vdk_info_add_str (info, "filename", "filename",
                               e->file ? e->file->filename : "")) < 0)
      return r;
    if ((e->type == VMDK_EXT_SPARSE || e->type == VMDK_EXT_COWD ||
         e->type == VMDK_EXT_SESPARSE) &&
        (r = vdk_info_add_int (info, "cluster-size", "cluster size", e->grain)) < 0)
      return r;
    if ((r = vdk_info_add_str (info, "format", "format", e->type_name)) < 0)
      return r;
    info->fields[first].indent = 1;
    for (size_t k = first + 1; k < info->n_fields; k++)
      info->fields[k].indent = 2;
  }
  return 0;
}

static int
vmdk_check (struct vdk_node *n, int fix, struct vdk_check *res)
{
  struct vmdk_priv *p = n->priv;
  int r;

  (void) fix;
  for (size_t i = 0; i < p->n_ext; i++)
    if ((p->ext[i].type == VMDK_EXT_SPARSE || p->ext[i].type == VMDK_EXT_COWD) &&
        (r = vmdk_sparse_check (n, &p->ext[i], res)) < 0)
      return r;
  return 0;
}

static int64_t
vmdk_get_allocated (struct vdk_node *n)
{
  struct vmdk_priv *p = n->priv;
  int64_t total = vdk_node_get_allocated (n->file);

  for (size_t i = 0; total >= 0 && i < p->n_ext; i++) {
    int64_t a;
    if (!p->ext[i].own_file)
      continue;
    a = vdk_node_get_allocated (p->ext[i].file);
    if (a < 0)
      return a;
    total += a;
  }
  return total;
}

/* ---- create ---- */

static uint32_t
new_cid (void)
{
  uint32_t c;
  if (getrandom (&c, sizeof c, 0) != (ssize_t) sizeof c)
    c = (uint32_t) time (NULL) ^ ((uint32_t) getpid () << 16);
  if (c >= 0xfffffffeu)
    c = 0x12345678;
  return c;
}

/* Write an empty hosted sparse extent of CAPACITY bytes into F.  DESC (may
 * be NULL) is embedded. */
static int
create_sparse (struct vdk_node *f, uint64_t capacity, bool zeroed, bool stream, const char *desc)
{
  const uint64_t grain = 128, gtes = 512, desc_off = 1, desc_size = 20;
  uint64_t cap = capacity / VMDK_SECTOR;
  uint64_t n_gd = (cap + grain * gtes - 1) / (grain * gtes);
  uint64_t gd_sectors = (n_gd * 4 + VMDK_SECTOR - 1) / VMDK_SECTOR, gt_sectors = gtes * 4 / VMDK_SECTOR;
  uint8_t hdr[VMDK_SECTOR];
  int r;

  if (desc && strlen (desc) > desc_size * VMDK_SECTOR)
    return vdk_err (EINVAL, "%s: descriptor too long", f->filename);
  if (n_gd > (32u << 20))
    return vdk_err (EFBIG, "%s: image too large for vmdk", f->filename);
  if (stream) {
    uint64_t overhead = 128;
    vmdk4_header_build (hdr, 3, VMDK4_FLAG_NL_DETECT | VMDK4_FLAG_COMPRESS | VMDK4_FLAG_MARKER,
                        cap, grain, desc_off, desc_size, gtes, 0, VMDK4_GD_AT_END, overhead, true);
    if ((r = vdk_node_pwrite (f, hdr, sizeof hdr, 0, 0)) < 0 ||
        (desc && (r = vdk_node_pwrite (f, desc, strlen (desc), desc_off * VMDK_SECTOR, 0)) < 0))
      return r;
    return vmdk_stream_write_empty_tail (f, overhead * VMDK_SECTOR, hdr, capacity,
                                         grain * VMDK_SECTOR, gtes);
  }
  {
    uint64_t rgd = desc_off + desc_size;
    uint64_t gd = rgd + gd_sectors + n_gd * gt_sectors;
    uint64_t end = gd + gd_sectors + n_gd * gt_sectors;
    uint64_t overhead = VDK_ROUND_UP (end, grain);
    uint64_t meta = (overhead - rgd) * VMDK_SECTOR;
    uint8_t *m;

    if (meta > 4 * (uint64_t) VDK_MAX_META_ALLOC || overhead > 0xffffffffULL)
      return vdk_err (EFBIG, "%s: image too large for vmdk", f->filename);
    m = calloc (1, meta);
    if (!m)
      return vdk_err (ENOMEM, "out of memory");
    for (uint64_t i = 0; i < n_gd; i++) {
      vdk_put_le32 (m + i * 4, (uint32_t) (rgd + gd_sectors + i * gt_sectors));
      vdk_put_le32 (m + (gd - rgd) * VMDK_SECTOR + i * 4,
                    (uint32_t) (gd + gd_sectors + i * gt_sectors));
    }
    vmdk4_header_build (hdr, zeroed ? 2 : 1,
                        VMDK4_FLAG_NL_DETECT | VMDK4_FLAG_RGD | (zeroed ? VMDK4_FLAG_ZERO_GRAIN : 0),
                        cap, grain, desc_off, desc_size, gtes, rgd, gd, overhead, false);
    r = vdk_node_pwrite (f, hdr, sizeof hdr, 0, 0);
    if (r == 0 && desc)
      r = vdk_node_pwrite (f, desc, strlen (desc), desc_off * VMDK_SECTOR, 0);
    if (r == 0)
      r = vdk_node_pwrite (f, m, meta, rgd * VMDK_SECTOR, 0);
    free (m);
    return r;
  }
}

/* Extent file names, as qemu-img makes them: "dir/name.ext" gives
 * "name-s001.ext", "name-f001.ext", "name-flat.ext" (relative to the
 * descriptor). */
static void
extent_name (char *out, size_t outsz, const char *path, bool flat, bool split, uint64_t i)
{
  const char *s = strrchr (path, '/'), *dot;
  int plen;

  s = s ? s + 1 : path;
  dot = strrchr (s, '.');
  plen = dot ? (int) (dot - s) : (int) strlen (s);
  if (split)
    snprintf (out, outsz, "%.*s-%c%03" PRIu64 "%s", plen, s, flat ? 'f' : 's', i + 1,
              dot ? dot : "");
  else
    snprintf (out, outsz, "%.*s-flat%s", plen, s, dot ? dot : "");
}

/* Bytes of an empty hosted sparse extent of CAPACITY bytes (create_sparse):
 * header, descriptor, both grain directories and all their grain tables,
 * rounded up to a grain. */
static uint64_t
sparse_overhead (uint64_t capacity)
{
  const uint64_t grain = 128, gtes = 512;
  uint64_t cap = capacity / VMDK_SECTOR, n_gd = (cap + grain * gtes - 1) / (grain * gtes);
  uint64_t gd_sectors = (n_gd * 4 + VMDK_SECTOR - 1) / VMDK_SECTOR, gt_sectors = gtes * 4 / VMDK_SECTOR;
  uint64_t end = 21 + 2 * (gd_sectors + n_gd * gt_sectors);

  return VDK_ROUND_UP (end, grain) * VMDK_SECTOR;
}

/* measure (qemu-img does not measure vmdk): from the layouts vmdk_create
 * writes.  Sparse extents grow by whole 64 KiB grains; flat extents are
 * their full size; a separate descriptor file is counted at a bound (its
 * length depends on the file names).  streamOptimized grains are counted
 * at their worst (incompressible) size, one grain table per grain at most.
 * With backing_file every grain counts (qemu's rule for qcow2). */
static int
vmdk_measure (struct vdk_opts *opts, uint64_t size,
              uint64_t (*data_bytes) (void *, uint64_t), void *opaque,
              uint64_t *required, uint64_t *full)
{
  const uint64_t grain = 65536, gt_span = grain * 512;
  const char *sub = vdk_opts_take (opts, "subformat");
  bool backing = vdk_opts_take (opts, "backing_file") != NULL, flat, split;
  uint64_t n_ext, grains, used, meta = 0;
  const char *const ignored[] = { "backing_fmt", "adapter_type", "compat6", "hwversion",
                                  "toolsversion", "zeroed_grain" };

  for (size_t i = 0; i < VDK_ARRAY_SIZE (ignored); i++)
    vdk_opts_take (opts, ignored[i]);
  if (!sub)
    sub = "monolithicSparse";
  if (strcmp (sub, "monolithicSparse") && strcmp (sub, "monolithicFlat") &&
      strcmp (sub, "twoGbMaxExtentSparse") && strcmp (sub, "twoGbMaxExtentFlat") &&
      strcmp (sub, "streamOptimized"))
    return vdk_err (EINVAL, "invalid parameter value: %s", sub);   /* qemu-img's words */
  flat = strstr (sub, "Flat") != NULL;
  split = !strncmp (sub, "twoGb", 5);
  size = VDK_ROUND_UP (size, VMDK_SECTOR);
  if (size / VMDK_SECTOR > 0xffffffffULL * (split ? 1024 : 1))
    return vdk_err (EFBIG, "image size too large for vmdk");
  n_ext = split ? VDK_MAX ((size + VMDK_SPLIT_SIZE - 1) / VMDK_SPLIT_SIZE, 1) : 1;
  if (flat || split)   /* the descriptor file: fixed lines, one line per extent */
    meta = VDK_ROUND_UP (2048 + n_ext * 320, VMDK_SECTOR);
  if (flat) {
    *required = *full = meta + size;
    return 0;
  }
  grains = (size + grain - 1) / grain;
  used = !data_bytes ? 0 : backing ? grains
    : VDK_MIN ((data_bytes (opaque, grain) + grain - 1) / grain, grains);
  if (!strcmp (sub, "streamOptimized")) {
    /* header and descriptor (128 sectors), marker + deflate worst case per
     * grain, then grain tables, directory, footer and end marker */
    uint64_t g = VDK_ROUND_UP (12 + grain + (grain >> 12) + (grain >> 14) + 13, VMDK_SECTOR);
    uint64_t n_gd = (size + gt_span - 1) / gt_span;
    uint64_t tail = VMDK_SECTOR + VDK_ROUND_UP (n_gd * 4, VMDK_SECTOR) + 3 * VMDK_SECTOR;
    uint64_t gt = VMDK_SECTOR + 512 * 4;
    *full = 128 * VMDK_SECTOR + grains * g + n_gd * gt + tail;
    *required = 128 * VMDK_SECTOR + used * g + VDK_MIN (used, n_gd) * gt + tail;
    return 0;
  }
  for (uint64_t i = 0; i < n_ext; i++)
    meta += sparse_overhead (split ? VDK_MIN (VMDK_SPLIT_SIZE, size - i * VMDK_SPLIT_SIZE) : size);
  *full = meta + grains * grain;
  *required = meta + used * grain;
  return 0;
}

static int
vmdk_create (struct vdk_node *file, uint64_t size, struct vdk_opts *opts)
{
  const char *sub = vdk_opts_take (opts, "subformat");
  const char *adapter = vdk_opts_take (opts, "adapter_type");
  const char *hw = vdk_opts_take (opts, "hwversion");
  const char *backing = vdk_opts_take (opts, "backing_file");
  const char *bfmt = vdk_opts_take (opts, "backing_fmt");
  const char *tools = vdk_opts_take (opts, "toolsversion");
  bool zeroed = false, compat6 = false, flat, split, stream;
  struct vmdk_desc_out o;
  char *ext_lines = NULL, *desc = NULL, *hint = NULL;
  size_t ext_len = 0;
  FILE *ef;
  uint64_t n_ext = 0;
  int r;

  if ((r = vdk_opts_take_bool (opts, "zeroed_grain", &zeroed)) < 0 ||
      (r = vdk_opts_take_bool (opts, "compat6", &compat6)) < 0)
    return r;
  if (!sub)
    sub = "monolithicSparse";
  if (strcmp (sub, "monolithicSparse") && strcmp (sub, "monolithicFlat") &&
      strcmp (sub, "twoGbMaxExtentSparse") && strcmp (sub, "twoGbMaxExtentFlat") &&
      strcmp (sub, "streamOptimized"))
    return vdk_err (EINVAL, "invalid parameter value: %s", sub);   /* qemu-img's words */
  if (!adapter)
    adapter = "ide";
  if (strcmp (adapter, "ide") && strcmp (adapter, "buslogic") && strcmp (adapter, "lsilogic") &&
      strcmp (adapter, "legacyESX"))
    return vdk_err (EINVAL, "Unknown adapter type: '%s' (ide, buslogic, lsilogic, legacyESX)",
                    adapter);
  if (hw && compat6)
    return vdk_err (EINVAL, "compat6 cannot be enabled with hwversion set");
  if (hw && (!*hw || strspn (hw, "0123456789") != strlen (hw) || strlen (hw) > 4))
    return vdk_err (EINVAL, "invalid hwversion '%s' (a number)", hw);
  if (!hw)
    hw = compat6 ? "6" : "4";
  if (tools && (!*tools || strspn (tools, "0123456789") != strlen (tools) || strlen (tools) > 10))
    return vdk_err (EINVAL, "invalid toolsversion '%s' (a number)", tools);
  flat = strstr (sub, "Flat") != NULL;
  split = !strncmp (sub, "twoGb", 5);
  stream = !strcmp (sub, "streamOptimized");
  if (zeroed && flat)
    return vdk_err (EINVAL, "zeroed_grain is only possible with sparse subformats");
  size = VDK_ROUND_UP (size, VMDK_SECTOR);
  if (size / VMDK_SECTOR > 0xffffffffULL * (split ? 1024 : 1))
    return vdk_err (EFBIG, "%s: image size too large for vmdk", file->filename);

  memset (&o, 0, sizeof o);
  o.cid = new_cid ();
  o.parent_cid = VMDK_NO_PARENT;
  if (backing) {
    struct vdk_node *b;
    char *bname;
    if (bfmt && strcmp (bfmt, "vmdk"))
      return vdk_err (EINVAL, "%s: backing_file must be a vmdk image", file->filename);
    if (flat || stream)
      return vdk_err (EINVAL, "%s: a %s image cannot have a backing file", file->filename, sub);
    bname = vdk_resolve_relative (file->filename, backing);
    if (!bname)
      return vdk_err (ENOMEM, "out of memory");
    r = vdk_open_spec (bname, "vmdk", NULL, VDK_O_NOLOCK | VDK_O_NO_BACKING, 1, &b);
    free (bname);
    if (r < 0) {
      vdk_err_prefix ("%s: could not open the backing file", file->filename);
      return r;
    }
    o.parent_cid = ((struct vmdk_priv *) b->priv)->cid;
    vdk_node_close (b);
    hint = strdup (backing);
    if (!hint)
      return vdk_err (ENOMEM, "out of memory");
    o.parent_hint = hint;
  }
  o.create_type = sub;
  o.hw_version = hw;
  o.adapter_type = adapter;
  o.tools_version = tools ? tools : "2147483647";
  o.size = size;

  ef = open_memstream (&ext_lines, &ext_len);
  if (!ef) {
    r = vdk_err (ENOMEM, "out of memory");
    goto out;
  }
  n_ext = split ? (size + VMDK_SPLIT_SIZE - 1) / VMDK_SPLIT_SIZE : 1;
  if (n_ext == 0)
    n_ext = 1;
  r = 0;
  for (uint64_t i = 0; i < n_ext && r == 0; i++) {
    uint64_t esz = split ? VDK_MIN (VMDK_SPLIT_SIZE, size - i * VMDK_SPLIT_SIZE) : size;
    char name[4200];
    struct vdk_node *xf;

    if (!flat && !split) {
      fprintf (ef, "RW %" PRIu64 " SPARSE \"%s\"\n", esz / VMDK_SECTOR,
               strrchr (file->filename, '/') ? strrchr (file->filename, '/') + 1 : file->filename);
      break;
    }
    extent_name (name, sizeof name, file->filename, flat, split, i);
    if (flat)
      fprintf (ef, "RW %" PRIu64 " FLAT \"%s\" 0\n", esz / VMDK_SECTOR, name);
    else
      fprintf (ef, "RW %" PRIu64 " SPARSE \"%s\"\n", esz / VMDK_SECTOR, name);
    r = vdk_create_file (file, name, &xf);
    if (r < 0)
      break;
    if (flat)
      r = vdk_node_truncate (xf, esz, VDK_PREALLOC_OFF, true);
    else
      r = create_sparse (xf, esz, zeroed, false, NULL);
    if (r == 0)
      r = vdk_node_flush (xf);
    vdk_node_close (xf);
  }
  if (fclose (ef) != 0 && r == 0)
    r = vdk_err (ENOMEM, "out of memory");
  ef = NULL;
  if (r < 0)
    goto out;
  o.extents = ext_lines;
  desc = vmdk_desc_format (&o);
  if (!desc) {
    r = vdk_err (ENOMEM, "out of memory");
    goto out;
  }
  if (flat || split)
    r = vdk_node_pwrite (file, desc, strlen (desc), 0, 0);
  else
    r = create_sparse (file, size, zeroed, stream, desc);
 out:
  if (r < 0 && (flat || split)) {
    /* Remove the extent files made so far. */
    for (uint64_t i = 0; i < n_ext; i++) {
      char name[4200], *path;
      extent_name (name, sizeof name, file->filename, flat, split, i);
      path = vdk_resolve_relative (file->filename, name);
      if (path)
        unlink (path);
      free (path);
    }
  }
  free (ext_lines);
  free (desc);
  free (hint);
  return r;
}

/* Remove the extent files a descriptor names (failed convert). */
static int
vmdk_remove_extra (const char *filename)
{
  struct vmdk_desc d;
  char *text;
  FILE *f = fopen (filename, "rb");
  size_t len;
  int r;

  if (!f)
    return 0;
  text = calloc (1, VMDK_DESC_MAX + 1);
  if (!text) {
    fclose (f);
    return vdk_err (ENOMEM, "out of memory");
  }
  len = fread (text, 1, VMDK_DESC_MAX, f);
  fclose (f);
  if (!vmdk_desc_probe ((uint8_t *) text, len)) {
    free (text);
    return 0;
  }
  r = vmdk_desc_parse (filename, text, len, &d);
  free (text);
  if (r < 0)
    return r;
  for (size_t i = 0; i < d.n_ext; i++) {
    char *path;
    if (!d.ext[i].file)
      continue;
    path = vdk_resolve_relative (filename, d.ext[i].file);
    if (path && strcmp (path, filename) != 0)
      unlink (path);
    free (path);
  }
  vmdk_desc_free (&d);
  return 0;
}

static const struct vdk_opt_desc vmdk_create_opts[] = {
  { "size", "size", "Virtual disk size", NULL },
  { "adapter_type", "string", "Virtual adapter type, can be one of ide (default), lsilogic,"
    " buslogic or legacyESX", NULL },
  { "backing_file", "string", "File name of a base image", NULL },
  { "backing_fmt", "string", "Format of the base image (must be vmdk)", NULL },
  { "compat6", "bool", "VMDK version 6 image", "off" },
  { "hwversion", "string", "VMDK hardware version", "4" },
  { "subformat", "string", "VMDK flat extent format, can be one of {monolithicSparse (default)"
    " | monolithicFlat | twoGbMaxExtentSparse | twoGbMaxExtentFlat | streamOptimized}", NULL },
  { "toolsversion", "string", "VMware guest tools version", "2147483647" },
  { "zeroed_grain", "bool", "Enable efficient zero writes using the zeroed-grain GTE feature",
    "off" },
  { NULL, NULL, NULL, NULL },
};

const struct vdk_format vdk_format_vmdk = {
  .struct_size = sizeof (struct vdk_format),
  .name = "vmdk",
  .probe = vmdk_probe,
  .open = vmdk_open,
  .close = vmdk_close,
  .map = vmdk_map,
  .read_encoded = vmdk_read_encoded,
  .pwrite = vmdk_pwrite,
  .pwrite_compressed = vmdk_pwrite_compressed,
  .flush = vmdk_flush,
  .write_zeroes = vmdk_write_zeroes,
  .info = vmdk_info,
  .check = vmdk_check,
  .create = vmdk_create,
  .measure = vmdk_measure,
  .create_opts = vmdk_create_opts,
  .remove_extra = vmdk_remove_extra,
  .get_allocated = vmdk_get_allocated,
};
