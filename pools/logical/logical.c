/* The "logical" pool type: an LVM2 volume group on one or more devices or
 * image files (the PVs), read and written by vdk itself (guestfs/lvm2/) --
 * no lvm2 tools and no device-mapper.  Volumes are linear LVs.
 *
 * A volume's path is a libdisk spec mapping its extents in the PVs
 * (driver=raw,offset=N,size=M,file.filename=PV,..., one raw window per
 * segment, see lv_path). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vdk/disk.h"
#include "guestfs/lvm2/lvm2.h"
#include "../pool-int.h"

struct lg {
  const char *vgname;
  size_t n;                          /* devices */
  int fd[POOL_MAX_DEVICES];
  uint64_t size[POOL_MAX_DEVICES];
  struct lvm2_label lab[POOL_MAX_DEVICES];
  const char *hint[LVM2_MAX_PVS];    /* per VG PV: its device */
  int devof[LVM2_MAX_PVS];           /* per VG PV: device index */
  struct lvm2_value *root;
  struct lvm2_vg *vg;
};

static const char *
vg_name (const struct pool_def *d)
{
  return d->source_name ? d->source_name : d->name;
}

static bool
lvm_name_ok (const char *s)
{
  size_t n = strlen (s);
  if (n == 0 || n > 127 || s[0] == '-' || !strcmp (s, ".") || !strcmp (s, ".."))
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
          *s == '+' || *s == '_' || *s == '.' || *s == '-'))
      return false;
  return true;
}

static int
lg_check (const struct pool_def *d)
{
  if (d->n_devices == 0)
    return pool_err (EINVAL, "pool '%s': a logical pool needs at least one source device", d->name);
  for (size_t i = 0; i < d->n_devices; i++) {
    if (d->devices[i][0] != '/')
      return pool_err (EINVAL, "pool '%s': the source device must be an absolute path ('%s')",
                       d->name, d->devices[i]);
    if (strchr (d->devices[i], ','))
      return pool_err (EINVAL, "pool '%s': source device '%s': commas are not supported",
                       d->name, d->devices[i]);
  }
  if (!lvm_name_ok (vg_name (d)))
    return pool_err (EINVAL, "pool '%s': '%s' is not a valid volume group name", d->name,
                     vg_name (d));
  return 0;
}

static void
lg_close (struct lg *g)
{
  for (size_t i = 0; i < g->n; i++)
    if (g->fd[i] >= 0)
      close (g->fd[i]);
  lvm2_value_free (g->root);
  lvm2_vg_free (g->vg);
  free (g);
}

static int
open_devices (struct pool *p, bool rdwr, struct lg **out)
{
  struct lg *g = calloc (1, sizeof *g);

  if (!g)
    return pool_err (ENOMEM, "out of memory");
  g->vgname = vg_name (p->def);
  for (size_t i = 0; i < p->def->n_devices; i++) {
    const char *dev = p->def->devices[i];
    struct stat st;
    int fd = open (dev, (rdwr ? O_RDWR : O_RDONLY) | O_CLOEXEC);

    if (fd < 0) {
      int e = errno;
      lg_close (g);
      return pool_err (e, "pool '%s': source device '%s': %s", p->def->name, dev, strerror (e));
    }
    g->fd[g->n++] = fd;
    if (fstat (fd, &st) < 0) {
      int e = errno;
      lg_close (g);
      return pool_err (e, "%s: %s", dev, strerror (e));
    }
    if (S_ISBLK (st.st_mode)) {
      if (ioctl (fd, BLKGETSIZE64, &g->size[i]) < 0) {
        int e = errno;
        lg_close (g);
        return pool_err (e, "%s: cannot get the device size: %s", dev, strerror (e));
      }
    }
    else if (S_ISREG (st.st_mode))
      g->size[i] = (uint64_t) st.st_size;
    else {
      lg_close (g);
      return pool_err (EINVAL, "pool '%s': source device '%s' is not a block device or an"
                       " image file", p->def->name, dev);
    }
  }
  *out = g;
  return 0;
}

/* Read the labels and the newest metadata; check it is our VG on exactly
 * our devices. */
static int
lg_load (struct pool *p, bool rdwr, struct lg **out)
{
  struct lg *g;
  char *best = NULL;
  size_t bestlen = 0;
  uint64_t bestseq = 0;
  char bestid[40] = "";
  int r;

  if ((r = open_devices (p, rdwr, &g)) < 0)
    return r;
  for (size_t i = 0; i < g->n; i++) {
    const char *dev = p->def->devices[i];
    struct gfs_dev gd;
    struct lvm2_value *root;
    struct lvm2_vg *vg;
    char *text;
    size_t len;

    lvm2_fd_dev (&gd, g->fd[i], dev, g->size[i]);
    r = lvm2_read_label (&gd, &g->lab[i]);
    if (r == 0)
      r = pool_err (ENOENT, "pool '%s': device '%s' is not an LVM2 physical volume"
                    " (pool-build makes one)", p->def->name, dev);
    else if (r > 0 && g->lab[i].n_mdas == 0)
      continue;                 /* a PV without metadata (pvcreate --metadatacopies 0) */
    else if (r < 0 || (r = lvm2_read_text (&gd, &g->lab[i], &text, &len)) < 0)
      r = pool_err_from_disk (r);
    if (r < 0)
      goto fail;
    r = lvm2_parse (text, len, &root);
    if (r == 0) {
      r = lvm2_vg_from_text (root, dev, &vg);
      lvm2_value_free (root);
    }
    if (r < 0) {
      free (text);
      r = pool_err_from_disk (r);
      goto fail;
    }
    if (strcmp (vg->name, g->vgname)) {
      r = pool_err (EINVAL, "pool '%s': device '%s' belongs to volume group '%s', not '%s'",
                    p->def->name, dev, vg->name, g->vgname);
      lvm2_vg_free (vg);
      free (text);
      goto fail;
    }
    if (best && strcmp (vg->id, bestid)) {
      r = pool_err (EINVAL, "pool '%s': device '%s' belongs to another volume group named"
                    " '%s' (UUID %s, not %s)", p->def->name, dev, vg->name, vg->id, bestid);
      lvm2_vg_free (vg);
      free (text);
      goto fail;
    }
    snprintf (bestid, sizeof bestid, "%s", vg->id);
    if (!best || vg->seqno > bestseq) {
      free (best);
      best = text;
      bestlen = len;
      bestseq = vg->seqno;
    }
    else
      free (text);
    lvm2_vg_free (vg);
  }
  if (!best) {
    r = pool_err (ENOENT, "pool '%s': no source device has LVM2 metadata", p->def->name);
    goto fail;
  }
  if ((r = lvm2_parse (best, bestlen, &g->root)) < 0 ||
      (r = lvm2_vg_from_text (g->root, p->def->devices[0], &g->vg)) < 0) {
    r = pool_err_from_disk (r);
    goto fail;
  }
  free (best);
  best = NULL;
  for (size_t k = 0; k < g->vg->n_pvs; k++) {
    g->devof[k] = -1;
    for (size_t i = 0; i < g->n; i++) {
      char id[40];
      lvm2_dash_id (g->lab[i].pv_uuid, id);
      if (!strcmp (id, g->vg->pvs[k].id)) {
        g->devof[k] = (int) i;
        g->hint[k] = p->def->devices[i];
      }
    }
    if (g->devof[k] < 0) {
      r = pool_err (ENODEV, "pool '%s': PV %s (%s) of volume group '%s' is not one of the"
                    " pool's source devices", p->def->name, g->vg->pvs[k].name,
                    g->vg->pvs[k].id, g->vgname);
      goto fail;
    }
    /* pe_start < 2^50 and pe_count < 2^40 (reader), extent_size <= 2^32 */
    if (g->vg->pvs[k].pe_count > g->size[g->devof[k]] / 512 / g->vg->extent_size ||
        (g->vg->pvs[k].pe_start + g->vg->pvs[k].pe_count * g->vg->extent_size) >
        g->size[g->devof[k]] / 512) {
      r = pool_err (EIO, "pool '%s': PV %s extends beyond the end of '%s'", p->def->name,
                    g->vg->pvs[k].name, g->hint[k]);
      goto fail;
    }
  }
  for (size_t i = 0; i < g->n; i++) {
    bool found = false;
    for (size_t k = 0; k < g->vg->n_pvs; k++)
      found |= g->devof[k] == (int) i;
    if (!found) {
      r = pool_err (EINVAL, "pool '%s': device '%s' is not in volume group '%s'",
                    p->def->name, p->def->devices[i], g->vgname);
      goto fail;
    }
  }
  *out = g;
  return 0;
 fail:
  free (best);
  lg_close (g);
  return r;
}

/* Write the VG as the next metadata version into every metadata area. */
static int
lg_commit (struct pool *p, struct lg *g, const char *desc)
{
  char *text;
  size_t len;
  int r;

  g->vg->seqno++;
  if ((r = lvm2_format_text (g->vg, g->hint, desc, &text, &len)) < 0)
    return pool_err_from_disk (r);
  for (size_t i = 0; i < g->n && r == 0; i++)
    for (unsigned m = 0; m < g->lab[i].n_mdas && r == 0; m++)
      r = lvm2_mda_commit (g->fd[i], p->def->devices[i], g->lab[i].mda_offset[m],
                           g->lab[i].mda_size[m], text, len);
  free (text);
  return r < 0 ? pool_err_from_disk (r) : 0;
}

static int
lg_load_writable (struct pool *p, struct lg **out)
{
  int r = lg_load (p, true, out);
  if (r < 0)
    return r;
  if ((r = lvm2_vg_writable ((*out)->root, (*out)->vg, p->def->devices[0])) < 0) {
    lg_close (*out);
    return pool_err_from_disk (r);
  }
  return 0;
}

/* ---- build / start / delete ---- */

static int
zero_range (int fd, const char *name, uint64_t off, uint64_t len)
{
  enum { CH = 1 << 20 };
  char *z = calloc (1, CH);

  if (!z)
    return pool_err (ENOMEM, "out of memory");
  while (len) {
    size_t n = len < CH ? (size_t) len : CH;
    ssize_t w = pwrite (fd, z, n, (off_t) off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      int e = w < 0 ? errno : EIO;
      free (z);
      return pool_err (e, "%s: write error at offset %" PRIu64 ": %s", name, off, strerror (e));
    }
    off += (uint64_t) w;
    len -= (uint64_t) w;
  }
  free (z);
  return 0;
}

static int
has_data (struct pool *p, struct lg *g, size_t i, bool *ours)
{
  const char *dev = p->def->devices[i];
  struct gfs_dev gd;
  struct lvm2_label lab;
  char what[64];
  uint8_t buf[65536];
  ssize_t got;
  int r;

  *ours = false;
  lvm2_fd_dev (&gd, g->fd[i], dev, g->size[i]);
  r = lvm2_read_label (&gd, &lab);
  if (r != 0) {
    char *text;
    size_t len;
    struct lvm2_value *root;
    struct lvm2_vg *vg;
    if (r > 0 && lvm2_read_text (&gd, &lab, &text, &len) == 0) {
      if (lvm2_parse (text, len, &root) == 0) {
        if (lvm2_vg_from_text (root, dev, &vg) == 0) {
          *ours = !strcmp (vg->name, g->vgname);
          lvm2_vg_free (vg);
        }
        lvm2_value_free (root);
      }
      free (text);
    }
    snprintf (what, sizeof what, "an LVM2 physical volume");
    return pool_err (EEXIST, "cannot build pool '%s': device '%s' already contains data (%s)"
                     " (use --overwrite to destroy it)", p->def->name, dev, what);
  }
  r = pool_sniff_signature (dev, what, sizeof what);
  if (r < 0)
    return r;
  if (r == 1)
    return pool_err (EEXIST, "cannot build pool '%s': device '%s' already contains data (%s)"
                     " (use --overwrite to destroy it)", p->def->name, dev, what);
  got = pread (g->fd[i], buf, sizeof buf, 0);
  if (got < 0)
    return pool_err (errno, "%s: read error: %s", dev, strerror (errno));
  if (!disk_is_zero_buf (buf, (size_t) got))
    return pool_err (EEXIST, "cannot build pool '%s': device '%s' already contains data"
                     " (its first 64 KiB are not zeroes; use --overwrite to destroy it)",
                     p->def->name, dev);
  return 0;
}

static int
lg_build (struct pool *p, unsigned flags)
{
  const uint64_t ext = LVM2_EXTENT_SIZE;
  struct lg *g;
  int r;

  if ((r = open_devices (p, true, &g)) < 0)
    return r;
  if (!(flags & POOL_BUILD_OVERWRITE)) {
    size_t n_ours = 0;
    int first_err = 0;
    char msg[1024] = "";
    for (size_t i = 0; i < g->n; i++) {
      bool ours;
      r = has_data (p, g, i, &ours);
      n_ours += ours;
      if (r < 0 && !first_err) {
        first_err = r;
        snprintf (msg, sizeof msg, "%s", pool_last_error ());
      }
    }
    /* Our VG is already there (made by lvm2 or an earlier build): adopt it. */
    if (n_ours == g->n && !(flags & POOL_BUILD_NO_OVERWRITE)) {
      lg_close (g);
      return 0;
    }
    if (first_err) {
      lg_close (g);
      return pool_err (-first_err, "%s", msg);
    }
  }
  for (size_t i = 0; i < g->n; i++)
    if (g->size[i] < LVM2_PE_START + ext * 512) {
      r = pool_err (ENOSPC, "cannot build pool '%s': device '%s' is too small (%" PRIu64
                    " bytes) for an LVM2 physical volume", p->def->name, p->def->devices[i],
                    g->size[i]);
      goto out;
    }
  g->vg = calloc (1, sizeof *g->vg);
  if (!g->vg || !(g->vg->pvs = calloc (g->n, sizeof *g->vg->pvs))) {
    r = pool_err (ENOMEM, "out of memory");
    goto out;
  }
  snprintf (g->vg->name, sizeof g->vg->name, "%s", g->vgname);
  g->vg->extent_size = ext;
  g->vg->n_pvs = g->n;
  {
    char raw[33];
    if ((r = lvm2_gen_id (raw)) < 0) {
      r = pool_err_from_disk (r);
      goto out;
    }
    lvm2_dash_id (raw, g->vg->id);
  }
  for (size_t i = 0; i < g->n; i++) {
    struct lvm2_pv *pv = &g->vg->pvs[i];
    const char *dev = p->def->devices[i];
    char raw[33];

    if ((r = lvm2_gen_id (raw)) < 0) {
      r = pool_err_from_disk (r);
      goto out;
    }
    snprintf (pv->name, sizeof pv->name, "pv%zu", i);
    lvm2_dash_id (raw, pv->id);
    pv->dev_size = g->size[i] / 512;
    pv->pe_start = LVM2_PE_START / 512;
    pv->pe_count = (g->size[i] - LVM2_PE_START) / (ext * 512);
    g->hint[i] = dev;
    g->devof[i] = (int) i;
    memcpy (g->lab[i].pv_uuid, raw, 33);
    g->lab[i].n_mdas = 1;
    g->lab[i].mda_offset[0] = LVM2_MDA_START;
    g->lab[i].mda_size[0] = LVM2_PE_START - LVM2_MDA_START;
    if ((r = zero_range (g->fd[i], dev, 0, LVM2_PE_START)) < 0)
      goto out;
    if ((r = lvm2_write_label (g->fd[i], dev, raw, g->size[i], LVM2_PE_START, LVM2_MDA_START,
                               LVM2_PE_START - LVM2_MDA_START, true)) < 0 ||
        (r = lvm2_mda_init (g->fd[i], dev, LVM2_MDA_START, LVM2_PE_START - LVM2_MDA_START)) < 0) {
      r = pool_err_from_disk (r);
      goto out;
    }
  }
  r = lg_commit (p, g, "Written by vdk pool-build");
 out:
  lg_close (g);
  return r;
}

static int
lg_start (struct pool *p)
{
  struct lg *g;
  int r = lg_load (p, false, &g);
  if (r == 0)
    lg_close (g);
  return r;
}

static int
lg_stop (struct pool *p)
{
  (void) p;
  return 0;
}

static int
lg_delete (struct pool *p)
{
  struct lg *g;
  int r = lg_load (p, true, &g);

  if (r < 0)
    return r;
  if (g->vg->n_lvs) {
    r = pool_err (EBUSY, "cannot delete pool '%s': volume group '%s' still has %zu logical"
                  " volume(s)", p->def->name, g->vgname, g->vg->n_lvs);
    goto out;
  }
  /* What pvremove does: the label goes; the metadata headers too. */
  for (size_t i = 0; i < g->n && r == 0; i++) {
    r = zero_range (g->fd[i], p->def->devices[i], g->lab[i].sector * 512, 512);
    for (unsigned m = 0; m < g->lab[i].n_mdas && r == 0; m++)
      r = zero_range (g->fd[i], p->def->devices[i], g->lab[i].mda_offset[m], 512);
    if (r == 0 && fsync (g->fd[i]) < 0 && errno != EINVAL)
      r = pool_err (errno, "%s: fsync: %s", p->def->devices[i], strerror (errno));
  }
 out:
  lg_close (g);
  return r;
}

/* ---- extents ---- */

static uint64_t
used_extents (const struct lvm2_vg *vg)
{
  uint64_t n = 0;
  for (size_t i = 0; i < vg->n_lvs; i++)
    n += vg->lvs[i].extents;
  return n;
}

static uint64_t
total_extents (const struct lvm2_vg *vg)
{
  uint64_t n = 0;
  for (size_t i = 0; i < vg->n_pvs; i++)
    n += vg->pvs[i].pe_count;
  return n;
}

static int
lg_info (struct pool *p, struct pool_info *info)
{
  struct lg *g;
  int r = lg_load (p, false, &g);
  uint64_t ext;

  if (r < 0)
    return r;
  ext = g->vg->extent_size * 512;
  info->capacity = total_extents (g->vg) * ext;
  info->allocation = used_extents (g->vg) * ext;
  info->available = info->capacity - info->allocation;
  lg_close (g);
  return 0;
}

struct range { uint64_t pe, n; };

static int
cmp_range (const void *a, const void *b)
{
  const struct range *x = a, *y = b;
  return x->pe < y->pe ? -1 : x->pe > y->pe;
}

/* The free ranges of PV K, sorted (malloc'd). */
static int
free_ranges (const struct lvm2_vg *vg, uint32_t k, struct range **out, size_t *nout)
{
  size_t nu = 0, cap = 1, nf = 0;
  struct range *u, *f;
  uint64_t pos = 0;

  for (size_t i = 0; i < vg->n_lvs; i++)
    cap += vg->lvs[i].n_segs;
  u = calloc (cap, sizeof *u);
  f = calloc (cap, sizeof *f);
  if (!u || !f) {
    free (u);
    free (f);
    return pool_err (ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < vg->n_lvs; i++)
    for (size_t s = 0; s < vg->lvs[i].n_segs; s++) {
      const struct lvm2_segment *sg = &vg->lvs[i].segs[s];
      if (sg->stripes && sg->stripe_count == 1 && sg->stripes[0].pv == k)
        u[nu++] = (struct range) { sg->stripes[0].pe, sg->extent_count };
    }
  qsort (u, nu, sizeof *u, cmp_range);
  for (size_t i = 0; i < nu; i++) {
    if (u[i].pe > pos)
      f[nf++] = (struct range) { pos, u[i].pe - pos };
    if (u[i].pe + u[i].n > pos)
      pos = u[i].pe + u[i].n;
  }
  if (pos < vg->pvs[k].pe_count)
    f[nf++] = (struct range) { pos, vg->pvs[k].pe_count - pos };
  free (u);
  *out = f;
  *nout = nf;
  return 0;
}

static int
add_seg (struct lvm2_lv *lv, uint32_t pv, uint64_t pe, uint64_t n)
{
  struct lvm2_segment *last = lv->n_segs ? &lv->segs[lv->n_segs - 1] : NULL, *ns;

  if (last && last->stripes[0].pv == pv && last->stripes[0].pe + last->extent_count == pe) {
    last->extent_count += n;        /* contiguous: grow the segment */
    lv->extents += n;
    return 0;
  }
  if (lv->n_segs >= LVM2_MAX_SEGS)
    return pool_err (ENOSPC, "logical volume '%s' would have too many segments", lv->name);
  ns = realloc (lv->segs, (lv->n_segs + 1) * sizeof *ns);
  if (!ns)
    return pool_err (ENOMEM, "out of memory");
  lv->segs = ns;
  ns = &lv->segs[lv->n_segs];
  memset (ns, 0, sizeof *ns);
  if (!(ns->stripes = calloc (1, sizeof *ns->stripes)))
    return pool_err (ENOMEM, "out of memory");
  lv->n_segs++;
  ns->start_extent = lv->extents;
  ns->extent_count = n;
  strcpy (ns->type, "striped");
  ns->stripe_count = 1;
  ns->stripes[0].pv = pv;
  ns->stripes[0].pe = pe;
  lv->extents += n;
  return 0;
}

/* Give LV NEED more extents: right after its last segment if free, else
 * the first free range big enough on any PV, else free ranges in order
 * (several segments).  The caller checked there is enough free space. */
static int
allocate (struct lvm2_vg *vg, struct lvm2_lv *lv, uint64_t need)
{
  struct range *f;
  size_t nf;
  int r;

  if (lv->n_segs) {
    const struct lvm2_segment *last = &lv->segs[lv->n_segs - 1];
    uint32_t k = last->stripes[0].pv;
    uint64_t end = last->stripes[0].pe + last->extent_count;
    if ((r = free_ranges (vg, k, &f, &nf)) < 0)
      return r;
    for (size_t i = 0; i < nf; i++)
      if (f[i].pe == end) {
        uint64_t n = f[i].n < need ? f[i].n : need;
        if ((r = add_seg (lv, k, end, n)) < 0) {
          free (f);
          return r;
        }
        need -= n;
      }
    free (f);
  }
  for (int pass = 0; pass < 2 && need; pass++)
    for (uint32_t k = 0; k < vg->n_pvs && need; k++) {
      if ((r = free_ranges (vg, k, &f, &nf)) < 0)
        return r;
      for (size_t i = 0; i < nf && need; i++) {
        if (pass == 0 && f[i].n < need)
          continue;
        uint64_t n = f[i].n < need ? f[i].n : need;
        if ((r = add_seg (lv, k, f[i].pe, n)) < 0) {
          free (f);
          return r;
        }
        need -= n;
      }
      free (f);
    }
  return need ? pool_err (ENOSPC, "internal error: free extents miscounted") : 0;
}

static int
check_free (struct pool *p, const struct lvm2_vg *vg, uint64_t need)
{
  uint64_t avail = total_extents (vg) - used_extents (vg);
  if (need > avail)
    return pool_err (ENOSPC, "pool '%s': not enough free space in volume group '%s': %" PRIu64
                     " extents needed, %" PRIu64 " free", p->def->name, vg->name, need, avail);
  return 0;
}

/* ---- volumes ---- */

/* The libdisk spec of a linear LV: one raw window per segment (seg.N.*
 * after the first), each locked at its own start (file.lock-offset) rather
 * than over the whole PV, so writers of different LVs of one PV do not
 * exclude each other while two writers of one LV do (docs/design.md).
 * Other LVs (striped, thin...) get /dev/VG/LV, where device-mapper would put
 * them; vdk cannot open those for data. */
#define LG_MAX_WINDOWS 256              /* libdisk raw's limit */

static char *
lv_path (const struct lg *g, const struct lvm2_lv *lv)
{
  uint64_t ext = g->vg->extent_size * 512;
  bool linear = lv->n_segs > 0 && lv->n_segs <= LG_MAX_WINDOWS;
  char *s = NULL;
  size_t len = 0;
  FILE *f;

  for (size_t i = 0; i < lv->n_segs && linear; i++)
    linear = lv->segs[i].stripes && lv->segs[i].stripe_count == 1 &&
             !strcmp (lv->segs[i].type, "striped");
  if (!linear) {
    if (asprintf (&s, "/dev/%s/%s", g->vg->name, lv->name) < 0)
      s = NULL;
    return s;
  }
  if (!(f = open_memstream (&s, &len)))
    return NULL;
  fputs ("driver=raw", f);
  for (size_t i = 0; i < lv->n_segs; i++) {
    const struct lvm2_segment *sg = &lv->segs[i];
    const struct lvm2_pv *pv = &g->vg->pvs[sg->stripes[0].pv];
    uint64_t off = pv->pe_start * 512 + sg->stripes[0].pe * ext;
    char pre[32] = "";
    if (i)
      snprintf (pre, sizeof pre, "seg.%zu.", i);
    fprintf (f, ",%soffset=%" PRIu64 ",%ssize=%" PRIu64 ",%sfile.filename=%s"
             ",%sfile.lock-offset=%" PRIu64, pre, off, pre, sg->extent_count * ext, pre,
             g->hint[sg->stripes[0].pv], pre, off);
  }
  if (fclose (f) != 0) {
    free (s);
    return NULL;
  }
  return s;
}

static int
make_vol (const struct lg *g, const struct lvm2_lv *lv, struct pool_vol **out)
{
  struct pool_vol *v = calloc (1, sizeof *v);
  uint64_t bytes = lv->extents * g->vg->extent_size * 512;

  if (!v || !(v->name = strdup (lv->name)) || !(v->key = strdup (lv->id)) ||
      !(v->path = lv_path (g, lv)) || !(v->format = strdup ("raw"))) {
    pool_vol_free (v);
    return pool_err (ENOMEM, "out of memory");
  }
  v->type = "block";
  v->capacity = v->allocation = v->physical = bytes;
  v->mode = 0600;
  *out = v;
  return 0;
}

static struct lvm2_lv *
find_lv (struct lvm2_vg *vg, const char *name)
{
  for (size_t i = 0; i < vg->n_lvs; i++)
    if (vg->lvs[i].visible && !strcmp (vg->lvs[i].name, name))
      return &vg->lvs[i];
  return NULL;
}

static int
lg_refresh (struct pool *p, struct pool_vol ***out, size_t *n)
{
  struct lg *g;
  struct pool_vol **v;
  size_t k = 0;
  int r = lg_load (p, false, &g);

  if (r < 0)
    return r;
  v = calloc (g->vg->n_lvs + 1, sizeof *v);
  if (!v) {
    lg_close (g);
    return pool_err (ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < g->vg->n_lvs; i++) {
    if (!g->vg->lvs[i].visible)
      continue;
    if ((r = make_vol (g, &g->vg->lvs[i], &v[k])) < 0) {
      pool_vol_list_free (v, k);
      lg_close (g);
      return r;
    }
    k++;
  }
  lg_close (g);
  *out = v;
  *n = k;
  return 0;
}

static int
lg_vol_lookup (struct pool *p, const char *name, struct pool_vol **out)
{
  struct lg *g;
  struct lvm2_lv *lv;
  int r = lg_load (p, false, &g);

  if (r < 0)
    return r;
  if (!(lv = find_lv (g->vg, name)))
    r = pool_err (ENOENT, "Storage volume not found: no storage vol with matching name '%s'",
                  name);
  else
    r = make_vol (g, lv, out);
  lg_close (g);
  return r;
}

static char *
lg_vol_path (struct pool *p, const char *name)
{
  struct lg *g;
  struct lvm2_lv *lv;
  char *s = NULL;

  if (lg_load (p, false, &g) < 0) {
    if (asprintf (&s, "/dev/%s/%s", vg_name (p->def), name) < 0)
      s = NULL;
    return s;
  }
  if ((lv = find_lv (g->vg, name)))
    s = lv_path (g, lv);
  else if (asprintf (&s, "/dev/%s/%s", g->vg->name, name) < 0)
    s = NULL;
  lg_close (g);
  return s;
}

/* Names lvm2 keeps for its own sub-volumes. */
static bool
lv_name_reserved (const char *s)
{
  static const char *const parts[] = { "_cdata", "_cmeta", "_corig", "_cpool", "_cvol",
    "_mimage", "_mlog", "_pmspare", "_rimage", "_rmeta", "_tdata", "_tmeta", "_vdata",
    "_vorigin", "_wcorig", NULL };
  if (!strncmp (s, "snapshot", 8) || !strncmp (s, "pvmove", 6))
    return true;
  for (size_t i = 0; parts[i]; i++)
    if (strstr (s, parts[i]))
      return true;
  return false;
}

static int
lg_vol_create (struct pool *p, const struct vol_def *d)
{
  struct lg *g;
  struct lvm2_lv *lv, *nl;
  uint64_t ext, need;
  char raw[33], desc[300];
  int r;

  if (d->format && strcmp (d->format, "raw"))
    return pool_err (ENOTSUP, "pool '%s': logical volumes are raw (format '%s' is not"
                     " supported)", p->def->name, d->format);
  if (d->backing_path)
    return pool_err (ENOTSUP, "pool '%s': logical volumes cannot have a backing volume",
                     p->def->name);
  if (!lvm_name_ok (d->name) || lv_name_reserved (d->name))
    return pool_err (EINVAL, "'%s' is not a valid logical volume name (letters, digits and"
                     " + _ . - only; no lvm2-reserved words)", d->name);
  if (d->capacity == 0)
    return pool_err (EINVAL, "storage vol '%s': capacity must be greater than 0", d->name);
  if ((r = lg_load_writable (p, &g)) < 0)
    return r;
  ext = g->vg->extent_size * 512;
  need = d->capacity / ext + (d->capacity % ext != 0);
  if (find_lv (g->vg, d->name) || g->vg->n_lvs >= LVM2_MAX_LVS) {
    r = pool_err (EEXIST, "storage vol '%s' already exists", d->name);
    goto out;
  }
  for (size_t i = 0; i < g->vg->n_lvs; i++)
    if (!strcmp (g->vg->lvs[i].name, d->name)) {
      r = pool_err (EEXIST, "storage vol '%s' already exists (hidden)", d->name);
      goto out;
    }
  if ((r = check_free (p, g->vg, need)) < 0)
    goto out;
  nl = realloc (g->vg->lvs, (g->vg->n_lvs + 1) * sizeof *nl);
  if (!nl) {
    r = pool_err (ENOMEM, "out of memory");
    goto out;
  }
  g->vg->lvs = nl;
  lv = &nl[g->vg->n_lvs++];
  memset (lv, 0, sizeof *lv);
  snprintf (lv->name, sizeof lv->name, "%s", d->name);
  if ((r = lvm2_gen_id (raw)) < 0) {
    r = pool_err_from_disk (r);
    goto out;
  }
  lvm2_dash_id (raw, lv->id);
  lv->visible = true;
  lv->creation_time = (int64_t) time (NULL);
  if (gethostname (lv->creation_host, sizeof lv->creation_host - 1) < 0)
    strcpy (lv->creation_host, "localhost");
  if ((r = allocate (g->vg, lv, need)) < 0)
    goto out;
  snprintf (desc, sizeof desc, "Written by vdk vol-create %s", d->name);
  r = lg_commit (p, g, desc);
 out:
  lg_close (g);
  return r;
}

static int
lg_vol_delete (struct pool *p, struct pool_vol *v)
{
  struct lg *g;
  struct lvm2_lv *lv;
  char desc[300];
  int r;

  if ((r = lg_load_writable (p, &g)) < 0)
    return r;
  if (!(lv = find_lv (g->vg, v->name)))
    r = pool_err (ENOENT, "storage vol '%s' not found", v->name);
  else {
    size_t i = (size_t) (lv - g->vg->lvs);
    for (size_t s = 0; s < lv->n_segs; s++)
      free (lv->segs[s].stripes);
    free (lv->segs);
    memmove (lv, lv + 1, (g->vg->n_lvs - i - 1) * sizeof *lv);
    g->vg->n_lvs--;
    snprintf (desc, sizeof desc, "Written by vdk vol-delete %s", v->name);
    r = lg_commit (p, g, desc);
  }
  lg_close (g);
  return r;
}

static int
lg_vol_resize (struct pool *p, struct pool_vol *v, uint64_t capacity, unsigned flags)
{
  struct lg *g;
  struct lvm2_lv *lv;
  uint64_t ext, want;
  char desc[300];
  int r;

  if ((r = lg_load_writable (p, &g)) < 0)
    return r;
  ext = g->vg->extent_size * 512;
  want = capacity / ext + (capacity % ext != 0);
  if (!(lv = find_lv (g->vg, v->name))) {
    r = pool_err (ENOENT, "storage vol '%s' not found", v->name);
    goto out;
  }
  if (want == 0) {
    r = pool_err (EINVAL, "storage vol '%s': capacity must be greater than 0", v->name);
    goto out;
  }
  if (want == lv->extents)
    goto out;
  if (want < lv->extents) {
    if (!(flags & POOL_RESIZE_SHRINK)) {
      r = pool_err (EINVAL, "Can't shrink capacity below current capacity unless shrink flag"
                    " explicitly specified");
      goto out;
    }
    while (lv->n_segs && lv->segs[lv->n_segs - 1].start_extent >= want) {
      free (lv->segs[lv->n_segs - 1].stripes);
      lv->n_segs--;
    }
    lv->segs[lv->n_segs - 1].extent_count = want - lv->segs[lv->n_segs - 1].start_extent;
    lv->extents = want;
  }
  else {
    if ((r = check_free (p, g->vg, want - lv->extents)) < 0 ||
        (r = allocate (g->vg, lv, want - lv->extents)) < 0)
      goto out;
  }
  snprintf (desc, sizeof desc, "Written by vdk vol-resize %s", v->name);
  r = lg_commit (p, g, desc);
 out:
  lg_close (g);
  return r;
}

static int
lg_vol_wipe (struct pool *p, struct pool_vol *v)
{
  struct lg *g;
  struct lvm2_lv *lv;
  int r;

  if ((r = lg_load (p, true, &g)) < 0)
    return r;
  if (!(lv = find_lv (g->vg, v->name)))
    r = pool_err (ENOENT, "storage vol '%s' not found", v->name);
  for (size_t s = 0; lv && r == 0 && s < lv->n_segs; s++) {
    const struct lvm2_segment *sg = &lv->segs[s];
    const struct lvm2_pv *pv;
    uint64_t ext = g->vg->extent_size * 512;
    if (!sg->stripes || sg->stripe_count != 1) {
      r = pool_err (ENOTSUP, "storage vol '%s' is not linear", v->name);
      break;
    }
    pv = &g->vg->pvs[sg->stripes[0].pv];
    r = zero_range (g->fd[g->devof[sg->stripes[0].pv]], g->hint[sg->stripes[0].pv],
                    pv->pe_start * 512 + sg->stripes[0].pe * ext, sg->extent_count * ext);
  }
  lg_close (g);
  return r;
}

static int
lg_vol_check_not_in_use (struct pool *p, struct pool_vol *v)
{
  (void) p;
  /* Only linear LVs have a path libdisk opens. */
  if (strncmp (v->path, "driver=", 7))
    return 0;
  return pool_vol_check_not_in_use (v->name, v->path);
}

static int
lg_vol_check_io (struct pool *p, const struct pool_vol *v)
{
  if (!strncmp (v->path, "driver=", 7))
    return 0;
  return pool_err (ENOTSUP, "storage vol '%s' of pool '%s' is not a linear logical volume"
                   " (or has more than %d segments): vdk maps only those for data access",
                   v->name, p->def->name, LG_MAX_WINDOWS);
}

/* ---- find-storage-pool-sources ---- */

struct found_vg {
  struct lvm2_vg *vg;
  bool printed;
};

/* Keep VG (taken) unless a newer copy of its metadata is known. */
static int
keep_vg (struct found_vg **v, size_t *n, struct lvm2_vg *vg)
{
  struct found_vg *nv;
  for (size_t i = 0; i < *n; i++)
    if (!strcmp ((*v)[i].vg->id, vg->id)) {
      if (vg->seqno > (*v)[i].vg->seqno) {
        lvm2_vg_free ((*v)[i].vg);
        (*v)[i].vg = vg;
      }
      else
        lvm2_vg_free (vg);
      return 0;
    }
  if (!(nv = realloc (*v, (*n + 1) * sizeof *nv))) {
    lvm2_vg_free (vg);
    return pool_err (ENOMEM, "out of memory");
  }
  *v = nv;
  nv[(*n)++] = (struct found_vg) { vg, false };
  return 0;
}

static bool
vg_has_pv (const struct lvm2_vg *vg, const char *id)
{
  for (size_t k = 0; k < vg->n_pvs; k++)
    if (!strcmp (vg->pvs[k].id, id))
      return true;
  return false;
}

/* One <source> per volume group found on the devices (PV labels read by
 * vdk's LVM2 reader; the newest metadata of each VG says which PVs are
 * its), in the order of their first device, as libvirt lists what pvs
 * reports.  PVs in no VG are left out, as libvirt does. */
static int
lg_find_sources (const char *host, const char *port, const char *srcspec, char **xml_out)
{
  struct pool_src_dev *dv;
  struct found_vg *vgs = NULL;
  size_t nd, nv = 0, len = 0;
  char (*ids)[40] = NULL;
  char *items = NULL;
  FILE *f = NULL;
  int r;

  (void) host;
  (void) port;
  if ((r = pool_src_devices (srcspec, false, &dv, &nd)) < 0)
    return r;
  if (nd && !(ids = calloc (nd, sizeof *ids))) {
    r = pool_err (ENOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < nd && r == 0; i++) {
    struct gfs_dev gd;
    struct lvm2_label lab;
    struct lvm2_value *root;
    struct lvm2_vg *vg;
    char *text;
    size_t tlen;

    lvm2_fd_dev (&gd, dv[i].fd, dv[i].path, dv[i].size);
    if (lvm2_read_label (&gd, &lab) <= 0)
      continue;                 /* no PV, or a damaged label: not a source */
    lvm2_dash_id (lab.pv_uuid, ids[i]);
    if (lab.n_mdas == 0 || lvm2_read_text (&gd, &lab, &text, &tlen) < 0)
      continue;
    if (lvm2_parse (text, tlen, &root) == 0) {
      if (lvm2_vg_from_text (root, dv[i].path, &vg) == 0)
        r = keep_vg (&vgs, &nv, vg);
      lvm2_value_free (root);
    }
    free (text);
  }
  if (r < 0)
    goto out;
  if (!(f = open_memstream (&items, &len))) {
    r = pool_err (ENOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < nd; i++)
    for (size_t k = 0; ids[i][0] && k < nv; k++) {
      char *name;
      if (vgs[k].printed || !vg_has_pv (vgs[k].vg, ids[i]))
        continue;
      vgs[k].printed = true;
      fputs ("  <source>\n", f);
      for (size_t j = i; j < nd; j++) {
        char *path;
        if (!ids[j][0] || !vg_has_pv (vgs[k].vg, ids[j]))
          continue;
        if (!(path = pool_xml_escape (dv[j].path))) {
          r = pool_err (ENOMEM, "out of memory");
          goto out;
        }
        fprintf (f, "    <device path='%s'/>\n", path);
        free (path);
      }
      if (!(name = pool_xml_escape (vgs[k].vg->name))) {
        r = pool_err (ENOMEM, "out of memory");
        goto out;
      }
      fprintf (f, "    <name>%s</name>\n    <format type='lvm2'/>\n  </source>\n", name);
      free (name);
    }
 out:
  if (f && fclose (f) != 0 && r == 0)
    r = pool_err (ENOMEM, "out of memory");
  if (r == 0 && !(*xml_out = pool_sources_xml (items)))
    r = -ENOMEM;
  free (items);
  free (ids);
  for (size_t k = 0; k < nv; k++)
    lvm2_vg_free (vgs[k].vg);
  free (vgs);
  pool_src_devices_free (dv, nd);
  return r;
}

const struct pool_type_ops pool_type_logical = {
  .name = "logical",
  .needs_device = true,
  .check = lg_check,
  .build = lg_build,
  .start = lg_start,
  .stop = lg_stop,
  .delete = lg_delete,
  .info = lg_info,
  .refresh = lg_refresh,
  .vol_lookup = lg_vol_lookup,
  .vol_path = lg_vol_path,
  .vol_create = lg_vol_create,
  .vol_delete = lg_vol_delete,
  .vol_resize = lg_vol_resize,
  .vol_wipe = lg_vol_wipe,
  .vol_check_not_in_use = lg_vol_check_not_in_use,
  .vol_check_io = lg_vol_check_io,
  .find_sources = lg_find_sources,
};
