/* qcow2: internal snapshots (table, create, apply, delete).
 *
 * Refcount rule (as qemu): a snapshot's L1 tree adds one reference to every
 * L2 table and data cluster it reaches.  OFLAG_COPIED in the active tree is
 * set exactly where the refcount is 1.  Order: new tables written and
 * flushed, header switched, then old structures released (leaks at worst). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qcow2.h"

void
qcow2_free_snapshots (struct qcow2 *s)
{
  if (!s->snaps)
    return;
  for (uint32_t i = 0; i < s->nb_snapshots; i++) {
    free (s->snaps[i].id);
    free (s->snaps[i].name);
    free (s->snaps[i].extra);
  }
  free (s->snaps);
  s->snaps = NULL;
}

int
qcow2_read_snapshots (struct vdk_node *n)
{
  struct qcow2 *s = n->priv;
  uint64_t off = s->snapshots_offset, fend = qcow2_file_end (n), total = 0;
  uint32_t cnt = s->nb_snapshots;
  int r;

  if (cnt == 0)
    return 0;
  if (off & (s->cluster_size - 1) || off < s->cluster_size)
    return vdk_err (EINVAL, "%s: snapshot table offset %#" PRIx64 " is invalid", n->filename, off);
  s->snaps = calloc (cnt, sizeof *s->snaps);
  if (!s->snaps)
    return vdk_err (ENOMEM, "out of memory");
  s->nb_snapshots = 0;   /* counts the parsed ones, for freeing */
  for (uint32_t i = 0; i < cnt; i++) {
    struct qcow2_snapshot *sn = &s->snaps[i];
    uint8_t h[40];
    uint32_t idl, nml;
    if (total + 40 > QCOW2_MAX_SNAPSHOT_TABLE || !vdk_range_ok (off, 40, fend))
      return vdk_err (EINVAL, "%s: snapshot table is beyond the end of the file", n->filename);
    if ((r = vdk_node_pread (n->file, h, 40, off)) < 0)
      return r;
    s->nb_snapshots = i + 1;
    sn->l1_table_offset = vdk_be64 (h);
    sn->l1_size = vdk_be32 (h + 8);
    idl = vdk_be16 (h + 12);
    nml = vdk_be16 (h + 14);
    sn->date_sec = vdk_be32 (h + 16);
    sn->date_nsec = vdk_be32 (h + 20);
    sn->vm_clock_nsec = vdk_be64 (h + 24);
    sn->vm_state_size = vdk_be32 (h + 32);
    sn->extra_size = vdk_be32 (h + 36);
    if (sn->extra_size > 1024)
      return vdk_err (EINVAL, "%s: snapshot %u has too much extra data", n->filename, i);
    off += 40;
    total += 40 + sn->extra_size + idl + nml;
    if (total > QCOW2_MAX_SNAPSHOT_TABLE ||
        !vdk_range_ok (off, (uint64_t) sn->extra_size + idl + nml, fend))
      return vdk_err (EINVAL, "%s: snapshot table is beyond the end of the file", n->filename);
    sn->extra = malloc (sn->extra_size + 1);
    sn->id = malloc (idl + 1);
    sn->name = malloc (nml + 1);
    if (!sn->extra || !sn->id || !sn->name)
      return vdk_err (ENOMEM, "out of memory");
    if ((r = vdk_node_pread (n->file, sn->extra, sn->extra_size, off)) < 0 ||
        (r = vdk_node_pread (n->file, sn->id, idl, off + sn->extra_size)) < 0 ||
        (r = vdk_node_pread (n->file, sn->name, nml, off + sn->extra_size + idl)) < 0)
      return r;
    sn->id[idl] = 0;
    sn->name[nml] = 0;
    off += sn->extra_size + idl + nml;
    total = VDK_ROUND_UP (total, 8);
    off = s->snapshots_offset + total;
    if (sn->extra_size >= 8)
      sn->vm_state_size = vdk_be64 (sn->extra);
    if (sn->extra_size >= 16) {
      sn->disk_size = vdk_be64 (sn->extra + 8);
      sn->has_disk_size = true;
    }
    if (sn->extra_size >= 24) {
      sn->icount = vdk_be64 (sn->extra + 16);
      sn->has_icount = sn->icount != UINT64_MAX;
    }
    s->snap_table_size = total;
    if ((uint64_t) sn->l1_size * 8 > QCOW2_MAX_L1_BYTES)
      return vdk_err (EFBIG, "%s: snapshot %s L1 table too large", n->filename, sn->id);
    if (sn->l1_size && ((sn->l1_table_offset & (s->cluster_size - 1)) ||
                        sn->l1_table_offset < s->cluster_size ||
                        !vdk_range_ok (sn->l1_table_offset, (uint64_t) sn->l1_size * 8, fend)))
      return vdk_err (EINVAL, "%s: snapshot %s has an invalid L1 table", n->filename, sn->id);
  }
  return 0;
}

int
qcow2_snapshot_list (struct vdk_node *n, struct disk_snapshot **out, size_t *n_out)
{
  struct qcow2 *s = n->priv;
  struct disk_snapshot *v;

  *out = NULL;
  *n_out = 0;
  if (!s->nb_snapshots)
    return 0;
  v = calloc (s->nb_snapshots, sizeof *v);
  if (!v)
    return vdk_err (ENOMEM, "out of memory");
  for (uint32_t i = 0; i < s->nb_snapshots; i++) {
    struct qcow2_snapshot *sn = &s->snaps[i];
    snprintf (v[i].id, sizeof v[i].id, "%s", sn->id);
    snprintf (v[i].name, sizeof v[i].name, "%s", sn->name);
    v[i].vm_state_size = sn->vm_state_size;
    v[i].date_sec = sn->date_sec;
    v[i].date_nsec = sn->date_nsec;
    v[i].vm_clock_nsec = sn->vm_clock_nsec;
    v[i].icount_valid = sn->has_icount;
    v[i].icount = sn->has_icount ? sn->icount : 0;
  }
  *out = v;
  *n_out = s->nb_snapshots;
  return 0;
}

/* Serialise the table, write it to new clusters, switch the header, free
 * the old table. */
static int
write_snapshot_table (struct vdk_node *n)
{
  struct qcow2 *s = n->priv;
  uint64_t total = 0, p = 0, old_off = s->snapshots_offset, old_size = 0;
  uint8_t *buf;
  int64_t off = 0;
  int r;

  for (uint32_t i = 0; i < s->nb_snapshots; i++) {
    struct qcow2_snapshot *sn = &s->snaps[i];
    total = VDK_ROUND_UP (total + 40 + sn->extra_size + strlen (sn->id) + strlen (sn->name), 8);
  }
  buf = calloc (1, total ? total : 1);
  if (!buf)
    return vdk_err (ENOMEM, "out of memory");
  for (uint32_t i = 0; i < s->nb_snapshots; i++) {
    struct qcow2_snapshot *sn = &s->snaps[i];
    size_t idl = strlen (sn->id), nml = strlen (sn->name);
    vdk_put_be64 (buf + p, sn->l1_table_offset);
    vdk_put_be32 (buf + p + 8, sn->l1_size);
    vdk_put_be16 (buf + p + 12, idl);
    vdk_put_be16 (buf + p + 14, nml);
    vdk_put_be32 (buf + p + 16, sn->date_sec);
    vdk_put_be32 (buf + p + 20, sn->date_nsec);
    vdk_put_be64 (buf + p + 24, sn->vm_clock_nsec);
    vdk_put_be32 (buf + p + 32, sn->vm_state_size > UINT32_MAX ? 0 : sn->vm_state_size);
    vdk_put_be32 (buf + p + 36, sn->extra_size);
    memcpy (buf + p + 40, sn->extra, sn->extra_size);
    memcpy (buf + p + 40 + sn->extra_size, sn->id, idl);
    memcpy (buf + p + 40 + sn->extra_size + idl, sn->name, nml);
    p = VDK_ROUND_UP (p + 40 + sn->extra_size + idl + nml, 8);
  }
  if (total) {
    off = qcow2_alloc_clusters (n, total);
    if (off < 0) {
      free (buf);
      return off;
    }
    if ((r = vdk_node_pwrite (n->file, buf, total, off, 0)) < 0 ||
        (r = vdk_node_flush (n->file)) < 0) {
      free (buf);
      return r;
    }
  }
  free (buf);
  old_size = s->snap_table_size;
  s->snapshots_offset = off;
  s->snap_table_size = total;
  if ((r = qcow2_write_header_fields (n)) < 0 || (r = vdk_node_flush (n->file)) < 0)
    return r;
  if (old_off && old_size)
    qcow2_free_clusters (n, old_off, old_size);
  return 0;
}

static int
read_l1 (struct vdk_node *n, uint64_t off, uint32_t size, uint64_t **out)
{
  uint64_t *l1 = calloc (size ? size : 1, 8);
  int r;

  if (!l1)
    return vdk_err (ENOMEM, "out of memory");
  if (size && (r = vdk_node_pread (n->file, l1, (size_t) size * 8, off)) < 0) {
    free (l1);
    return r;
  }
  for (uint32_t i = 0; i < size; i++)
    l1[i] = be64toh (l1[i]);
  *out = l1;
  return 0;
}

/* Add DELTA to every L2 table and data cluster reached from L1. */
static int
tree_refcount (struct vdk_node *n, const uint64_t *l1, uint32_t l1_size, int delta)
{
  struct qcow2 *s = n->priv;
  int r;

  for (uint32_t i = 0; i < l1_size; i++) {
    uint64_t l2off = l1[i] & QCOW2_L1E_OFFSET_MASK;
    uint8_t *l2;
    if (!l2off)
      continue;
    if ((r = qcow2_l2_load (n, l2off, &l2)) < 0)
      return r;
    for (uint64_t j = 0; j < s->l2_entries; j++) {
      uint64_t e;
      enum qcow2_ctype t;
      /* reload: refcount updates may evict the table from the cache */
      if ((r = qcow2_l2_load (n, l2off, &l2)) < 0)
        return r;
      e = qcow2_l2_entry (s, l2, j);
      t = qcow2_cluster_type (n, e);
      if (t == QCOW2_C_COMPRESSED) {
        uint64_t h, l;
        qcow2_compressed_range (s, e, &h, &l);
        r = qcow2_update_refcount (n, h, l, delta);
      }
      else if ((t == QCOW2_C_NORMAL || t == QCOW2_C_ZERO_ALLOC) && !s->data_node)
        r = qcow2_update_refcount (n, e & QCOW2_L2E_OFFSET_MASK, s->cluster_size, delta);
      else
        r = 0;
      if (r < 0)
        return r;
    }
    if ((r = qcow2_update_refcount (n, l2off, s->cluster_size, delta)) < 0)
      return r;
  }
  return 0;
}

/* Set OFLAG_COPIED in the active tree exactly where the refcount is 1. */
static int
fix_copied (struct vdk_node *n)
{
  struct qcow2 *s = n->priv;
  uint8_t *buf = malloc (s->cluster_size);
  int r = 0;

  if (!buf)
    return vdk_err (ENOMEM, "out of memory");
  for (uint32_t i = 0; i < s->l1_size && r == 0; i++) {
    uint64_t l2off = s->l1[i] & QCOW2_L1E_OFFSET_MASK, rc, ne;
    uint8_t *l2;
    bool changed = false;
    if (!l2off)
      continue;
    if ((r = qcow2_get_refcount (n, l2off >> s->cluster_bits, &rc)) < 0)
      break;
    ne = rc == 1 ? (l2off | QCOW2_OFLAG_COPIED) : l2off;
    if (ne != s->l1[i]) {
      s->l1[i] = ne;
      if ((r = qcow2_write_l1_entry (n, i)) < 0)
        break;
    }
    if ((r = qcow2_l2_load (n, l2off, &l2)) < 0)
      break;
    memcpy (buf, l2, s->cluster_size);
    for (uint64_t j = 0; j < s->l2_entries; j++) {
      uint64_t e = qcow2_l2_entry (s, buf, j), e2;
      enum qcow2_ctype t = qcow2_cluster_type (n, e);
      if (t != QCOW2_C_NORMAL && t != QCOW2_C_ZERO_ALLOC)
        continue;
      if (s->data_node)
        continue;
      if ((r = qcow2_get_refcount (n, (e & QCOW2_L2E_OFFSET_MASK) >> s->cluster_bits, &rc)) < 0)
        break;
      e2 = rc == 1 ? (e | QCOW2_OFLAG_COPIED) : (e & ~QCOW2_OFLAG_COPIED);
      if (e2 != e) {
        vdk_put_be64 (buf + j * s->l2_entry_size, e2);
        changed = true;
      }
    }
    if (r == 0 && changed) {
      qcow2_l2_drop (n, l2off);
      r = vdk_node_pwrite (n->file, buf, s->cluster_size, l2off, 0);
    }
  }
  free (buf);
  if (r == 0)
    r = vdk_node_flush (n->file);
  return r;
}

static int
find_snapshot (struct qcow2 *s, const char *name)
{
  for (uint32_t i = 0; i < s->nb_snapshots; i++)
    if (!strcmp (s->snaps[i].id, name))
      return i;
  for (uint32_t i = 0; i < s->nb_snapshots; i++)
    if (!strcmp (s->snaps[i].name, name))
      return i;
  return -1;
}

int
qcow2_snapshot_create (struct vdk_node *n, const char *name)
{
  struct qcow2 *s = n->priv;
  struct qcow2_snapshot sn, *nv;
  unsigned long maxid = 0;
  struct timespec ts;
  uint8_t *raw = NULL;
  int64_t l1off = 0;
  char idbuf[32];
  int r;

  if ((r = qcow2_l2_writeback (n)) < 0)   /* deferred L2 entries first */
    return r;
  if (s->nb_snapshots >= QCOW2_MAX_SNAPSHOTS)
    return vdk_err (EFBIG, "%s: too many snapshots", n->filename);
  if (strlen (name) > 65535)
    return vdk_err (EINVAL, "%s: snapshot name too long", n->filename);
  for (uint32_t i = 0; i < s->nb_snapshots; i++) {
    unsigned long v = strtoul (s->snaps[i].id, NULL, 10);
    if (v > maxid)
      maxid = v;
  }
  snprintf (idbuf, sizeof idbuf, "%lu", maxid + 1);
  memset (&sn, 0, sizeof sn);
  clock_gettime (CLOCK_REALTIME, &ts);
  sn.date_sec = ts.tv_sec;
  sn.date_nsec = ts.tv_nsec;
  sn.l1_size = s->l1_size;
  sn.disk_size = s->size;
  sn.has_disk_size = true;
  sn.extra_size = 24;
  sn.extra = calloc (1, 24);
  sn.id = strdup (idbuf);
  sn.name = strdup (name);
  if (!sn.extra || !sn.id || !sn.name) {
    r = vdk_err (ENOMEM, "out of memory");
    goto fail;
  }
  vdk_put_be64 (sn.extra + 8, s->size);
  /* icount 0, as qemu-img snapshot -c records it */
  vdk_put_be64 (sn.extra + 16, 0);
  sn.icount = 0;
  sn.has_icount = true;

  /* 1. the L1 copy */
  if (s->l1_size) {
    raw = calloc (s->l1_size, 8);
    if (!raw) {
      r = vdk_err (ENOMEM, "out of memory");
      goto fail;
    }
    for (uint32_t i = 0; i < s->l1_size; i++)
      vdk_put_be64 (raw + i * 8, s->l1[i]);
    l1off = qcow2_alloc_clusters (n, (uint64_t) s->l1_size * 8);
    if (l1off < 0) {
      r = l1off;
      goto fail;
    }
    if ((r = vdk_node_pwrite (n->file, raw, (size_t) s->l1_size * 8, l1off, 0)) < 0)
      goto fail;
  }
  sn.l1_table_offset = l1off;
  /* 2. references of the snapshot's tree */
  if ((r = tree_refcount (n, s->l1, s->l1_size, 1)) < 0 || (r = fix_copied (n)) < 0)
    goto fail;
  /* 3. the table and header */
  nv = realloc (s->snaps, (s->nb_snapshots + 1) * sizeof *nv);
  if (!nv) {
    r = vdk_err (ENOMEM, "out of memory");
    goto fail;
  }
  s->snaps = nv;
  s->snaps[s->nb_snapshots++] = sn;
  if ((r = write_snapshot_table (n)) < 0) {
    s->nb_snapshots--;
    return r;
  }
  free (raw);
  return 0;
 fail:
  free (raw);
  free (sn.extra);
  free (sn.id);
  free (sn.name);
  return r;
}

int
qcow2_snapshot_apply (struct vdk_node *n, const char *name)
{
  struct qcow2 *s = n->priv;
  int i = find_snapshot (s, name);
  struct qcow2_snapshot *sn;
  uint64_t *nl1 = NULL, newsize, l1_need, sz, old_off, *old_l1;
  uint32_t old_size;
  uint8_t *raw = NULL;
  int64_t off = 0;
  int r;

  if ((r = qcow2_l2_writeback (n)) < 0)   /* deferred L2 entries first */
    return r;
  if (i < 0)
    return vdk_err (ENOENT, "%s: Can't find snapshot '%s'", n->filename, name);
  sn = &s->snaps[i];
  newsize = sn->has_disk_size ? sn->disk_size : s->size;
  l1_need = (newsize + (s->cluster_size << s->l2_bits) - 1) >> (s->cluster_bits + s->l2_bits);
  sz = VDK_MAX (l1_need, (uint64_t) sn->l1_size);
  if (sz * 8 > QCOW2_MAX_L1_BYTES)
    return vdk_err (EFBIG, "%s: snapshot L1 table too large", n->filename);
  nl1 = calloc (sz ? sz : 1, 8);
  raw = calloc (sz ? sz : 1, 8);
  if (!nl1 || !raw) {
    r = vdk_err (ENOMEM, "out of memory");
    goto out;
  }
  if (sn->l1_size) {
    uint64_t *t;
    if ((r = read_l1 (n, sn->l1_table_offset, sn->l1_size, &t)) < 0)
      goto out;
    memcpy (nl1, t, (size_t) sn->l1_size * 8);
    free (t);
  }
  /* 1. the snapshot's tree gains the active reference */
  if ((r = tree_refcount (n, nl1, sz, 1)) < 0)
    goto out;
  /* 2. a new active L1 */
  if (sz) {
    for (uint64_t j = 0; j < sz; j++)
      vdk_put_be64 (raw + j * 8, nl1[j] & ~QCOW2_OFLAG_COPIED);
    off = qcow2_alloc_clusters (n, sz * 8);
    if (off < 0) {
      r = off;
      goto out;
    }
    if ((r = vdk_node_pwrite (n->file, raw, sz * 8, off, 0)) < 0 ||
        (r = vdk_node_flush (n->file)) < 0)
      goto out;
  }
  for (uint64_t j = 0; j < sz; j++)
    nl1[j] &= ~QCOW2_OFLAG_COPIED;
  old_off = s->l1_table_offset;
  old_size = s->l1_size;
  old_l1 = s->l1;
  s->l1_table_offset = off;
  s->l1_size = sz;
  s->size = newsize;
  if ((r = qcow2_write_header_fields (n)) < 0 || (r = vdk_node_flush (n->file)) < 0) {
    s->l1_table_offset = old_off;
    s->l1_size = old_size;
    goto out;
  }
  s->l1 = nl1;
  nl1 = NULL;
  n->size = newsize;
  /* 3. the old active tree loses its reference */
  r = tree_refcount (n, old_l1, old_size, -1);
  if (r == 0 && old_size)
    r = qcow2_free_clusters (n, old_off, (uint64_t) old_size * 8);
  free (old_l1);
  if (r == 0)
    r = fix_copied (n);
  s->zc_entry = 0;
 out:
  free (nl1);
  free (raw);
  return r;
}

int
qcow2_snapshot_delete (struct vdk_node *n, const char *name)
{
  struct qcow2 *s = n->priv;
  int i = find_snapshot (s, name);
  struct qcow2_snapshot sn;
  uint64_t *l1 = NULL;
  int r;

  if ((r = qcow2_l2_writeback (n)) < 0)   /* deferred L2 entries first */
    return r;
  if (i < 0)
    return vdk_err (ENOENT, "%s: Can't find the snapshot '%s'", n->filename, name);
  sn = s->snaps[i];
  if ((r = read_l1 (n, sn.l1_table_offset, sn.l1_size, &l1)) < 0)
    return r;
  memmove (&s->snaps[i], &s->snaps[i + 1], (s->nb_snapshots - i - 1) * sizeof *s->snaps);
  s->nb_snapshots--;
  if ((r = write_snapshot_table (n)) < 0) {
    memmove (&s->snaps[i + 1], &s->snaps[i], (s->nb_snapshots - i) * sizeof *s->snaps);
    s->snaps[i] = sn;
    s->nb_snapshots++;
    free (l1);
    return r;
  }
  r = tree_refcount (n, l1, sn.l1_size, -1);
  if (r == 0 && sn.l1_size)
    r = qcow2_free_clusters (n, sn.l1_table_offset, (uint64_t) sn.l1_size * 8);
  if (r == 0)
    r = fix_copied (n);
  free (l1);
  free (sn.id);
  free (sn.name);
  free (sn.extra);
  return r;
}

/* Read-only view of a snapshot: its L1 table replaces the active one (the
 * node is read-only, so the active state is never written through it). */
int
qcow2_snapshot_load (struct vdk_node *n, const char *id, const char *name)
{
  struct qcow2 *s = n->priv;
  struct qcow2_snapshot *sn = NULL;
  uint64_t *l1;
  int r;

  for (uint32_t i = 0; i < s->nb_snapshots && !sn; i++)
    if ((!id || !strcmp (s->snaps[i].id, id)) && (!name || !strcmp (s->snaps[i].name, name)))
      sn = &s->snaps[i];
  if (!sn)
    return vdk_err (ENOENT, "Can't find snapshot");
  /* the table's place and size were checked when the snapshot table was read */
  if ((r = read_l1 (n, sn->l1_table_offset, sn->l1_size, &l1)) < 0)
    return r;
  free (s->l1);
  s->l1 = l1;
  s->l1_size = sn->l1_size;
  s->l1_table_offset = sn->l1_table_offset;
  s->zc_entry = 0;
  return 0;
}
