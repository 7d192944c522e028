/* LVM2 volumes of a guestfs session: find PVs, pick each VG's newest
 * metadata, and add one device per linear LV (/dev/VG/LV). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestfs/guestfs.h"
#include "guestfs/lvm2/lvm2.h"

struct lvm_state {
  struct lvm2_vg **vgs;
  struct gfs_dev ***pvdevs;     /* per VG, per PV index (NULL = missing) */
  size_t n;
};

void gfs_lvm_free (void *p);

void
gfs_lvm_free (void *p)
{
  struct lvm_state *st = p;
  if (!st)
    return;
  for (size_t i = 0; i < st->n; i++) {
    lvm2_vg_free (st->vgs[i]);
    free (st->pvdevs[i]);
  }
  free (st->vgs);
  free (st->pvdevs);
  free (st);
}

struct lv_priv {
  struct lvm2_vg *vg;
  struct lvm2_lv *lv;
  struct gfs_dev **pvdevs;
};

static int
lv_pread (struct gfs_dev *d, void *buf, size_t len, uint64_t off)
{
  struct lv_priv *p = d->priv;
  uint64_t ext = p->vg->extent_size * 512;

  while (len > 0) {
    uint64_t le = off / ext, inext = off % ext, n;
    const struct lvm2_segment *seg = NULL;
    const struct lvm2_pv *pv;
    uint64_t pos;
    size_t k;
    int r;

    for (size_t i = 0; i < p->lv->n_segs; i++)
      if (le >= p->lv->segs[i].start_extent &&
          le - p->lv->segs[i].start_extent < p->lv->segs[i].extent_count) {
        seg = &p->lv->segs[i];
        break;
      }
    if (!seg)
      return gfs_err (EIO, "%s: logical extent %" PRIu64 " is not mapped", d->name, le);
    if (seg->stripe_count <= 1) {
      k = 0;
      n = (seg->start_extent + seg->extent_count - le) * ext - inext;
      pos = (seg->stripes[0].pe + (le - seg->start_extent)) * ext + inext;
    }
    else {
      /* chunks of stripe_size go round-robin over the stripes */
      uint64_t sb = seg->stripe_size * 512, o = (le - seg->start_extent) * ext + inext;
      uint64_t chunk = o / sb, row = chunk / seg->stripe_count;
      k = chunk % seg->stripe_count;
      n = sb - o % sb;
      pos = seg->stripes[k].pe * ext + row * sb + o % sb;
    }
    pv = &p->vg->pvs[seg->stripes[k].pv];
    if (n > len)
      n = len;
    pos += pv->pe_start * 512;
    r = gfs_dev_pread (p->pvdevs[seg->stripes[k].pv], buf, n, pos);
    if (r < 0)
      return r;
    buf = (uint8_t *) buf + n;
    off += n;
    len -= n;
  }
  return 0;
}

static void
lv_close (struct gfs_dev *d)
{
  free (d->priv);
}

struct cand {
  struct gfs_device *dev;
  struct lvm2_label label;
  struct lvm2_vg *vg;
};

static int
add_vg (struct gfs_session *s, struct lvm_state *st, struct lvm2_vg *vg,
        struct cand *c, size_t nc)
{
  struct gfs_dev **pvdevs = calloc (vg->n_pvs, sizeof *pvdevs);
  struct lvm2_vg **nv;
  struct gfs_dev ***np;
  struct gfs_vg *sv;
  int r;

  if (!pvdevs)
    return gfs_err (ENOMEM, "out of memory");
  nv = realloc (st->vgs, (st->n + 1) * sizeof *nv);
  if (nv)
    st->vgs = nv;
  np = realloc (st->pvdevs, (st->n + 1) * sizeof *np);
  if (np)
    st->pvdevs = np;
  sv = realloc (s->vgs, (s->n_vgs + 1) * sizeof *sv);
  if (sv)
    s->vgs = sv;
  if (!nv || !np || !sv) {
    free (pvdevs);
    return gfs_err (ENOMEM, "out of memory");
  }
  st->vgs[st->n] = vg;
  st->pvdevs[st->n] = pvdevs;
  st->n++;
  sv = &s->vgs[s->n_vgs++];
  memset (sv, 0, sizeof *sv);
  snprintf (sv->name, sizeof sv->name, "%s", vg->name);
  snprintf (sv->uuid, sizeof sv->uuid, "%s", vg->id);
  gfs_utf8_fix (sv->uuid);
  sv->pvs = calloc (vg->n_pvs, sizeof *sv->pvs);
  sv->pv_sizes = calloc (vg->n_pvs, sizeof *sv->pv_sizes);
  if (!sv->pvs || !sv->pv_sizes)
    return gfs_err (ENOMEM, "out of memory");

  for (size_t i = 0; i < vg->n_pvs; i++) {
    sv->size += vg->pvs[i].pe_count * vg->extent_size * 512;
    for (size_t k = 0; k < nc; k++) {
      char dashed[40];
      lvm2_dash_id (c[k].label.pv_uuid, dashed);
      if (!strcmp (dashed, vg->pvs[i].id)) {
        pvdevs[i] = c[k].dev->dev;
        sv->pvs[sv->n_pvs] = strdup (c[k].dev->dev->name);
        sv->pv_sizes[sv->n_pvs] = vg->pvs[i].pe_count * vg->extent_size * 512;
        if (sv->pvs[sv->n_pvs])
          sv->n_pvs++;
        break;
      }
    }
    if (!pvdevs[i])
      gfs_warn ("LVM: volume group %s: physical volume %s (%s) is missing", vg->name,
                vg->pvs[i].name, vg->pvs[i].id);
  }

  for (size_t i = 0; i < vg->n_lvs; i++) {
    struct lvm2_lv *lv = &vg->lvs[i];
    struct lv_priv *p;
    struct gfs_dev *dev;
    struct gfs_device *d;
    char name[300];
    const char *why = NULL;

    if (!lv->visible)
      continue;
    for (size_t k = 0; k < lv->n_segs && !why; k++) {
      if (strcmp (lv->segs[k].type, "striped"))
        why = lv->segs[k].type;
      else
        for (size_t m = 0; m < lv->segs[k].stripe_count && !why; m++)
          if (!pvdevs[lv->segs[k].stripes[m].pv])
            why = "a physical volume is missing";
    }
    if (why) {
      gfs_warn ("LVM: %s/%s is not readable by vdk (%s), skipped", vg->name, lv->name, why);
      continue;
    }
    if (lv->extents > UINT64_MAX / (vg->extent_size * 512))
      continue;
    p = malloc (sizeof *p);
    if (!p)
      return gfs_err (ENOMEM, "out of memory");
    p->vg = vg;
    p->lv = lv;
    p->pvdevs = pvdevs;
    snprintf (name, sizeof name, "/dev/%s/%s", vg->name, lv->name);
    dev = gfs_dev_new (name, lv->extents * vg->extent_size * 512, lv_pread, lv_close, p);
    if (!dev) {
      free (p);
      return gfs_err (ENOMEM, "out of memory");
    }
    r = gfs_session_add_device (s, dev, GFS_KIND_LV, &d);
    if (r < 0)
      return r;
    snprintf (d->parent, sizeof d->parent, "/dev/%s", vg->name);
    snprintf (d->lv_uuid, sizeof d->lv_uuid, "%s", lv->id);
    gfs_utf8_fix (d->lv_uuid);
  }
  return 0;
}

int
gfs_scan_lvm (struct gfs_session *s)
{
  struct cand *c = NULL;
  size_t nc = 0;
  struct lvm_state *st;
  int r = 0;

  for (size_t i = 0; i < s->n_devs; i++) {
    struct gfs_device *d = s->devs[i];
    struct cand x;
    char *text;
    size_t len;
    struct lvm2_value *root;
    struct cand *n;

    if (strcmp (d->vfs_type, "LVM2_member"))
      continue;
    memset (&x, 0, sizeof x);
    x.dev = d;
    r = lvm2_read_label (d->dev, &x.label);
    if (r <= 0) {
      if (r < 0)
        gfs_warn ("%s", disk_last_error ());
      continue;
    }
    r = lvm2_read_text (d->dev, &x.label, &text, &len);
    if (r < 0) {
      gfs_warn ("%s", disk_last_error ());
      continue;
    }
    r = lvm2_parse (text, len, &root);
    free (text);
    if (r < 0) {
      gfs_warn ("%s: %s", d->dev->name, disk_last_error ());
      continue;
    }
    r = lvm2_vg_from_text (root, d->dev->name, &x.vg);
    lvm2_value_free (root);
    if (r < 0) {
      gfs_warn ("%s", disk_last_error ());
      continue;
    }
    n = realloc (c, (nc + 1) * sizeof *c);
    if (!n) {
      lvm2_vg_free (x.vg);
      r = gfs_err (ENOMEM, "out of memory");
      goto out;
    }
    c = n;
    c[nc++] = x;
  }
  r = 0;
  if (nc == 0)
    goto out;
  st = s->lvm;
  if (!st) {
    st = calloc (1, sizeof *st);
    if (!st) {
      r = gfs_err (ENOMEM, "out of memory");
      goto out;
    }
    s->lvm = st;
  }
  /* one VG per id: the candidate with the highest seqno wins */
  for (size_t i = 0; i < nc; i++) {
    size_t best = i;
    if (!c[i].vg)
      continue;
    for (size_t k = i + 1; k < nc; k++)
      if (c[k].vg && !strcmp (c[k].vg->id, c[i].vg->id) &&
          c[k].vg->seqno > c[best].vg->seqno)
        best = k;
    {
      struct lvm2_vg *vg = c[best].vg;
      const char *id = vg->id;
      char idcopy[40];
      snprintf (idcopy, sizeof idcopy, "%s", id);
      /* take ownership of the winner, free the others of this VG */
      for (size_t k = 0; k < nc; k++)
        if (c[k].vg && !strcmp (c[k].vg->id, idcopy)) {
          if (c[k].vg != vg)
            lvm2_vg_free (c[k].vg);
          c[k].vg = NULL;
        }
      r = add_vg (s, st, vg, c, nc);
      if (r < 0)
        goto out;
    }
  }
 out:
  for (size_t i = 0; i < nc; i++)
    lvm2_vg_free (c[i].vg);
  free (c);
  return r;
}
