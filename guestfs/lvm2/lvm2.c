/* LVM2 reader: label, metadata area, text format, VG model. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestfs/guestfs.h"
#include "guestfs/lvm2/lvm2.h"

uint32_t
lvm2_crc (uint32_t crc, const void *buf, size_t len)
{
  static uint32_t table[256];
  static bool init;
  const uint8_t *p = buf;

  if (!init) {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++)
        c = (c >> 1) ^ (0xEDB88320u & -(c & 1));
      table[i] = c;
    }
    init = true;
  }
  while (len--)
    crc = (crc >> 8) ^ table[(crc ^ *p++) & 0xff];
  return crc;
}

void
lvm2_dash_id (const char *raw, char out[40])
{
  static const int cuts[] = { 6, 4, 4, 4, 4, 4, 6 };
  size_t k = 0, p = 0;
  for (int c = 0; c < 7; c++) {
    if (c)
      out[k++] = '-';
    for (int j = 0; j < cuts[c] && raw[p]; j++)
      out[k++] = raw[p++];
  }
  out[k] = 0;
}

int
lvm2_read_label (struct gfs_dev *dev, struct lvm2_label *out)
{
  uint8_t b[2048];
  int r;

  if (dev->size < 2048)
    return 0;
  r = gfs_dev_pread (dev, b, sizeof b, 0);
  if (r < 0)
    return r;
  for (int s = 0; s < 4; s++) {
    const uint8_t *l = b + 512 * s;
    uint32_t off, crc;
    size_t p;

    if (memcmp (l, "LABELONE", 8) || memcmp (l + 24, "LVM2 001", 8))
      continue;
    crc = gfs_le32 (l + 16);
    if (lvm2_crc (LVM2_CRC_INIT, l + 20, 512 - 20) != crc)
      return gfs_err (EIO, "%s: LVM2 label checksum mismatch", dev->name);
    if (gfs_le64 (l + 8) != (uint64_t) s)
      return gfs_err (EIO, "%s: LVM2 label in sector %d says sector %" PRIu64,
                      dev->name, s, gfs_le64 (l + 8));
    off = gfs_le32 (l + 20);
    if (off < 32 || off > 512 - 40 - 32)
      return gfs_err (EIO, "%s: LVM2 label: bad PV header offset %" PRIu32, dev->name, off);
    memset (out, 0, sizeof *out);
    out->sector = s;
    memcpy (out->pv_uuid, l + off, 32);
    out->pv_uuid[32] = 0;
    for (int k = 0; k < 32; k++)
      if (out->pv_uuid[k] <= 0x20 || out->pv_uuid[k] >= 0x7f)
        return gfs_err (EIO, "%s: LVM2 PV UUID has invalid characters", dev->name);
    out->dev_size = gfs_le64 (l + off + 32);
    p = off + 40;
    /* data areas, then metadata areas, each a {0,0}-terminated list */
    for (int list = 0; list < 2; list++) {
      for (int n = 0;; n++) {
        uint64_t o, z;
        if (p + 16 > 512)
          return gfs_err (EIO, "%s: LVM2 PV header area list runs past the label sector", dev->name);
        o = gfs_le64 (l + p);
        z = gfs_le64 (l + p + 8);
        p += 16;
        if (o == 0 && z == 0)
          break;
        if (list == 0 && n == 0)
          out->data_offset = o;
        if (list == 1 && out->n_mdas < 2) {
          out->mda_offset[out->n_mdas] = o;
          out->mda_size[out->n_mdas] = z;
          out->n_mdas++;
        }
      }
    }
    return 1;
  }
  return 0;
}

static int
read_mda (struct gfs_dev *dev, uint64_t mstart, uint64_t msize, char **text, size_t *len)
{
  uint8_t h[512];
  uint64_t off, size;
  uint32_t crc;
  char *t;
  int r;

  if (msize < 1024 || mstart > dev->size || msize > dev->size - mstart)
    return gfs_err (EIO, "%s: LVM2 metadata area %" PRIu64 "+%" PRIu64 " is outside the device",
                    dev->name, mstart, msize);
  r = gfs_dev_pread (dev, h, sizeof h, mstart);
  if (r < 0)
    return r;
  if (memcmp (h + 4, LVM2_MDA_MAGIC, 16))
    return gfs_err (EIO, "%s: LVM2 metadata area at %" PRIu64 ": bad magic", dev->name, mstart);
  if (lvm2_crc (LVM2_CRC_INIT, h + 4, 508) != gfs_le32 (h))
    return gfs_err (EIO, "%s: LVM2 metadata area header checksum mismatch", dev->name);
  if (gfs_le64 (h + 24) != mstart)
    return gfs_err (EIO, "%s: LVM2 metadata area header is at %" PRIu64 " but says %" PRIu64,
                    dev->name, mstart, gfs_le64 (h + 24));
  off = gfs_le64 (h + 40);
  size = gfs_le64 (h + 48);
  crc = gfs_le32 (h + 56);
  if (off == 0 && size == 0)
    return gfs_err (ENOENT, "%s: LVM2 metadata area is empty", dev->name);
  if (size == 0 || size > LVM2_MAX_TEXT || size > msize - 512 || off < 512 || off >= msize)
    return gfs_err (EIO, "%s: LVM2 metadata text location %" PRIu64 "+%" PRIu64 " is invalid",
                    dev->name, off, size);
  t = malloc (size + 1);
  if (!t)
    return gfs_err (ENOMEM, "out of memory");
  if (off + size <= msize)
    r = gfs_dev_pread (dev, t, size, mstart + off);
  else {
    /* wraps around to just after the header */
    uint64_t first = msize - off;
    r = gfs_dev_pread (dev, t, first, mstart + off);
    if (r == 0)
      r = gfs_dev_pread (dev, t + first, size - first, mstart + 512);
  }
  if (r < 0) {
    free (t);
    return r;
  }
  if (lvm2_crc (LVM2_CRC_INIT, t, size) != crc) {
    free (t);
    return gfs_err (EIO, "%s: LVM2 metadata text checksum mismatch", dev->name);
  }
  t[size] = 0;
  *text = t;
  *len = strlen (t);
  return 0;
}

int
lvm2_read_text (struct gfs_dev *dev, const struct lvm2_label *l, char **text, size_t *len)
{
  int r = gfs_err (ENOENT, "%s: LVM2 PV has no metadata area", dev->name);
  for (unsigned i = 0; i < l->n_mdas; i++) {
    r = read_mda (dev, l->mda_offset[i], l->mda_size[i], text, len);
    if (r == 0)
      return 0;
  }
  return r;
}

/* ---- text parser ---- */

struct parser {
  const char *p, *end;
  int line;
  size_t nodes;
};

static void
skip_ws (struct parser *ps)
{
  while (ps->p < ps->end) {
    if (*ps->p == '#') {
      while (ps->p < ps->end && *ps->p != '\n')
        ps->p++;
    }
    else if (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r' || *ps->p == '\n') {
      if (*ps->p == '\n')
        ps->line++;
      ps->p++;
    }
    else
      break;
  }
}

static bool
is_word (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '.' || c == '-' || c == '+' || c == '/';
}

static int
perr (struct parser *ps, const char *what)
{
  return gfs_err (EINVAL, "LVM2 metadata text: line %d: %s", ps->line, what);
}

static int
add_item (struct parser *ps, struct lvm2_value *parent, struct lvm2_value **out)
{
  struct lvm2_value *n;
  if (++ps->nodes > LVM2_MAX_NODES)
    return perr (ps, "too many values");
  n = realloc (parent->items, (parent->n + 1) * sizeof *n);
  if (!n)
    return gfs_err (ENOMEM, "out of memory");
  parent->items = n;
  memset (&n[parent->n], 0, sizeof *n);
  *out = &n[parent->n++];
  return 0;
}

static int
parse_scalar (struct parser *ps, struct lvm2_value *v)
{
  skip_ws (ps);
  if (ps->p >= ps->end)
    return perr (ps, "unexpected end");
  if (*ps->p == '"') {
    size_t cap = 0, n = 0;
    char *s = NULL;
    ps->p++;
    for (;;) {
      char c;
      if (ps->p >= ps->end) {
        free (s);
        return perr (ps, "unterminated string");
      }
      c = *ps->p++;
      if (c == '"')
        break;
      if (c == '\\' && ps->p < ps->end)
        c = *ps->p++;
      if (n + 2 > cap) {
        char *t;
        cap = cap ? cap * 2 : 32;
        t = realloc (s, cap);
        if (!t) {
          free (s);
          return gfs_err (ENOMEM, "out of memory");
        }
        s = t;
      }
      s[n++] = c;
    }
    if (!s && !(s = malloc (1)))
      return gfs_err (ENOMEM, "out of memory");
    s[n] = 0;
    v->type = LVM2_STR;
    v->s = s;
    return 0;
  }
  if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) {
    bool neg = *ps->p == '-';
    uint64_t x = 0;
    if (neg)
      ps->p++;
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
      return perr (ps, "bad number");
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
      if (x > (UINT64_MAX >> 1) / 10)
        return perr (ps, "number too large");
      x = x * 10 + (uint64_t) (*ps->p++ - '0');
    }
    if (ps->p < ps->end && *ps->p == '.') {   /* floats: keep the integer part */
      ps->p++;
      while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
        ps->p++;
    }
    v->type = LVM2_INT;
    v->i = neg ? -(int64_t) x : (int64_t) x;
    return 0;
  }
  return perr (ps, "expected a value");
}

static int
parse_section (struct parser *ps, struct lvm2_value *sec, int depth, bool top)
{
  if (depth > LVM2_MAX_DEPTH)
    return perr (ps, "sections nested too deeply");
  for (;;) {
    const char *w;
    size_t wl;
    struct lvm2_value *v;
    int r;

    skip_ws (ps);
    if (ps->p >= ps->end) {
      if (top)
        return 0;
      return perr (ps, "missing '}'");
    }
    if (*ps->p == '}') {
      if (top)
        return perr (ps, "unexpected '}'");
      ps->p++;
      return 0;
    }
    if (*ps->p == 0 && top)
      return 0;
    w = ps->p;
    while (ps->p < ps->end && is_word (*ps->p))
      ps->p++;
    wl = ps->p - w;
    if (wl == 0 || wl > 255)
      return perr (ps, "expected a name");
    r = add_item (ps, sec, &v);
    if (r < 0)
      return r;
    v->key = strndup (w, wl);
    if (!v->key)
      return gfs_err (ENOMEM, "out of memory");
    skip_ws (ps);
    if (ps->p < ps->end && *ps->p == '{') {
      ps->p++;
      v->type = LVM2_SECTION;
      r = parse_section (ps, v, depth + 1, false);
      if (r < 0)
        return r;
      continue;
    }
    if (ps->p >= ps->end || *ps->p != '=')
      return perr (ps, "expected '=' or '{'");
    ps->p++;
    skip_ws (ps);
    if (ps->p < ps->end && *ps->p == '[') {
      ps->p++;
      v->type = LVM2_LIST;
      for (;;) {
        struct lvm2_value *it;
        skip_ws (ps);
        if (ps->p < ps->end && *ps->p == ']') {
          ps->p++;
          break;
        }
        r = add_item (ps, v, &it);
        if (r < 0)
          return r;
        r = parse_scalar (ps, it);
        if (r < 0)
          return r;
        skip_ws (ps);
        if (ps->p < ps->end && *ps->p == ',')
          ps->p++;
        else if (ps->p < ps->end && *ps->p == ']')
          continue;
        else
          return perr (ps, "expected ',' or ']'");
      }
    }
    else {
      r = parse_scalar (ps, v);
      if (r < 0)
        return r;
    }
  }
}

int
lvm2_parse (const char *text, size_t len, struct lvm2_value **root)
{
  struct parser ps = { text, text + len, 1, 0 };
  struct lvm2_value *v = calloc (1, sizeof *v);
  int r;

  if (!v)
    return gfs_err (ENOMEM, "out of memory");
  v->type = LVM2_SECTION;
  r = parse_section (&ps, v, 0, true);
  if (r < 0) {
    lvm2_value_free (v);
    return r;
  }
  *root = v;
  return 0;
}

static void
value_clear (struct lvm2_value *v)
{
  for (size_t i = 0; i < v->n; i++)
    value_clear (&v->items[i]);
  free (v->items);
  free (v->key);
  free (v->s);
}

void
lvm2_value_free (struct lvm2_value *v)
{
  if (!v)
    return;
  value_clear (v);
  free (v);
}

const struct lvm2_value *
lvm2_get (const struct lvm2_value *sec, const char *key)
{
  if (!sec || sec->type != LVM2_SECTION)
    return NULL;
  for (size_t i = 0; i < sec->n; i++)
    if (sec->items[i].key && !strcmp (sec->items[i].key, key))
      return &sec->items[i];
  return NULL;
}

/* ---- VG model ---- */

static int
get_int (const struct lvm2_value *sec, const char *key, const char *where, uint64_t *out)
{
  const struct lvm2_value *v = lvm2_get (sec, key);
  if (!v || v->type != LVM2_INT || v->i < 0)
    return gfs_err (EINVAL, "%s: LVM2 metadata: %s: missing or invalid '%s'", where, sec->key ? sec->key : "", key);
  *out = (uint64_t) v->i;
  return 0;
}

static int
get_str (const struct lvm2_value *sec, const char *key, const char *where, char *out, size_t cap)
{
  const struct lvm2_value *v = lvm2_get (sec, key);
  if (!v || v->type != LVM2_STR || strlen (v->s) >= cap)
    return gfs_err (EINVAL, "%s: LVM2 metadata: %s: missing or invalid '%s'", where, sec->key ? sec->key : "", key);
  strcpy (out, v->s);
  return 0;
}

static bool
list_has (const struct lvm2_value *l, const char *s)
{
  if (!l || l->type != LVM2_LIST)
    return false;
  for (size_t i = 0; i < l->n; i++)
    if (l->items[i].type == LVM2_STR && !strcmp (l->items[i].s, s))
      return true;
  return false;
}

void
lvm2_vg_free (struct lvm2_vg *vg)
{
  if (!vg)
    return;
  for (size_t i = 0; i < vg->n_lvs; i++) {
    for (size_t j = 0; j < vg->lvs[i].n_segs; j++)
      free (vg->lvs[i].segs[j].stripes);
    free (vg->lvs[i].segs);
  }
  free (vg->lvs);
  free (vg->pvs);
  free (vg);
}

static int
parse_lv (struct lvm2_vg *vg, const struct lvm2_value *sec, const char *where, struct lvm2_lv *lv)
{
  uint64_t count, total = 0;
  int r;

  if (strlen (sec->key) >= sizeof lv->name)
    return gfs_err (EINVAL, "%s: LVM2 metadata: LV name too long", where);
  strcpy (lv->name, sec->key);
  if ((r = get_str (sec, "id", where, lv->id, sizeof lv->id)) < 0)
    return r;
  lv->visible = list_has (lvm2_get (sec, "status"), "VISIBLE");
  {
    const struct lvm2_value *ct = lvm2_get (sec, "creation_time"),
      *ch = lvm2_get (sec, "creation_host");
    if (ct && ct->type == LVM2_INT)
      lv->creation_time = ct->i;
    if (ch && ch->type == LVM2_STR)
      snprintf (lv->creation_host, sizeof lv->creation_host, "%s", ch->s);
  }
  if ((r = get_int (sec, "segment_count", where, &count)) < 0)
    return r;
  if (count == 0 || count > LVM2_MAX_SEGS)
    return gfs_err (EINVAL, "%s: LVM2 metadata: LV %s: bad segment_count %" PRIu64, where, lv->name, count);
  lv->segs = calloc (count, sizeof *lv->segs);
  if (!lv->segs)
    return gfs_err (ENOMEM, "out of memory");
  lv->n_segs = count;
  for (uint64_t i = 0; i < count; i++) {
    char key[32];
    const struct lvm2_value *s, *st;
    struct lvm2_segment *seg = &lv->segs[i];
    uint64_t sc = 1;

    snprintf (key, sizeof key, "segment%" PRIu64, i + 1);
    s = lvm2_get (sec, key);
    if (!s || s->type != LVM2_SECTION)
      return gfs_err (EINVAL, "%s: LVM2 metadata: LV %s: missing %s", where, lv->name, key);
    if ((r = get_int (s, "start_extent", where, &seg->start_extent)) < 0 ||
        (r = get_int (s, "extent_count", where, &seg->extent_count)) < 0 ||
        (r = get_str (s, "type", where, seg->type, sizeof seg->type)) < 0)
      return r;
    if (seg->start_extent != total || seg->extent_count == 0 ||
        seg->extent_count > (1ull << 40))
      return gfs_err (EINVAL, "%s: LVM2 metadata: LV %s: %s does not follow the previous segment",
                      where, lv->name, key);
    total += seg->extent_count;
    if (strcmp (seg->type, "striped"))
      continue;                  /* other types are kept by name only */
    if ((r = get_int (s, "stripe_count", where, &sc)) < 0)
      return r;
    st = lvm2_get (s, "stripes");
    if (sc == 0 || sc > 128 || !st || st->type != LVM2_LIST || st->n != 2 * sc)
      return gfs_err (EINVAL, "%s: LVM2 metadata: LV %s: %s: bad stripes", where, lv->name, key);
    seg->stripe_count = (uint32_t) sc;
    if (sc > 1) {
      if ((r = get_int (s, "stripe_size", where, &seg->stripe_size)) < 0)
        return r;
      if (seg->stripe_size == 0 || seg->stripe_size > vg->extent_size ||
          (vg->extent_size % seg->stripe_size) || seg->extent_count % sc)
        return gfs_err (EINVAL, "%s: LVM2 metadata: LV %s: %s: bad stripe_size %" PRIu64,
                        where, lv->name, key, seg->stripe_size);
    }
    seg->stripes = calloc (sc, sizeof *seg->stripes);
    if (!seg->stripes)
      return gfs_err (ENOMEM, "out of memory");
    for (uint64_t k = 0; k < sc; k++) {
      const struct lvm2_value *pn = &st->items[2 * k], *pe = &st->items[2 * k + 1];
      size_t pv;
      if (pn->type != LVM2_STR || pe->type != LVM2_INT || pe->i < 0)
        return gfs_err (EINVAL, "%s: LVM2 metadata: LV %s: %s: bad stripe", where, lv->name, key);
      for (pv = 0; pv < vg->n_pvs; pv++)
        if (!strcmp (vg->pvs[pv].name, pn->s))
          break;
      if (pv == vg->n_pvs)
        return gfs_err (EINVAL, "%s: LVM2 metadata: LV %s: unknown PV %s", where, lv->name, pn->s);
      if ((uint64_t) pe->i + seg->extent_count / sc > vg->pvs[pv].pe_count)
        return gfs_err (EINVAL, "%s: LVM2 metadata: LV %s: extents %" PRId64 "+%" PRIu64 " beyond the end of %s",
                        where, lv->name, pe->i, seg->extent_count, pn->s);
      seg->stripes[k].pv = (uint32_t) pv;
      seg->stripes[k].pe = (uint64_t) pe->i;
    }
  }
  lv->extents = total;
  return 0;
}

int
lvm2_vg_from_text (const struct lvm2_value *root, const char *where, struct lvm2_vg **out)
{
  const struct lvm2_value *vgs = NULL, *pvs, *lvs, *c;
  struct lvm2_vg *vg;
  int r;

  c = lvm2_get (root, "contents");
  if (!c || c->type != LVM2_STR || strcmp (c->s, "Text Format Volume Group"))
    return gfs_err (EINVAL, "%s: LVM2 metadata: not a volume group text", where);
  for (size_t i = 0; i < root->n; i++)
    if (root->items[i].type == LVM2_SECTION) {
      vgs = &root->items[i];
      break;
    }
  if (!vgs)
    return gfs_err (EINVAL, "%s: LVM2 metadata: no volume group section", where);
  vg = calloc (1, sizeof *vg);
  if (!vg)
    return gfs_err (ENOMEM, "out of memory");
  if (strlen (vgs->key) >= sizeof vg->name) {
    r = gfs_err (EINVAL, "%s: LVM2 metadata: VG name too long", where);
    goto fail;
  }
  strcpy (vg->name, vgs->key);
  if ((r = get_str (vgs, "id", where, vg->id, sizeof vg->id)) < 0 ||
      (r = get_int (vgs, "seqno", where, &vg->seqno)) < 0 ||
      (r = get_int (vgs, "extent_size", where, &vg->extent_size)) < 0)
    goto fail;
  if (vg->extent_size == 0 || vg->extent_size > (1ull << 32)) {
    r = gfs_err (EINVAL, "%s: LVM2 metadata: bad extent_size %" PRIu64, where, vg->extent_size);
    goto fail;
  }
  pvs = lvm2_get (vgs, "physical_volumes");
  if (!pvs || pvs->type != LVM2_SECTION || pvs->n == 0 || pvs->n > LVM2_MAX_PVS) {
    r = gfs_err (EINVAL, "%s: LVM2 metadata: bad physical_volumes", where);
    goto fail;
  }
  vg->pvs = calloc (pvs->n, sizeof *vg->pvs);
  if (!vg->pvs) {
    r = gfs_err (ENOMEM, "out of memory");
    goto fail;
  }
  for (size_t i = 0; i < pvs->n; i++) {
    const struct lvm2_value *p = &pvs->items[i];
    struct lvm2_pv *pv = &vg->pvs[vg->n_pvs];
    if (p->type != LVM2_SECTION)
      continue;
    snprintf (pv->name, sizeof pv->name, "%s", p->key);
    if ((r = get_str (p, "id", where, pv->id, sizeof pv->id)) < 0 ||
        (r = get_int (p, "pe_start", where, &pv->pe_start)) < 0 ||
        (r = get_int (p, "pe_count", where, &pv->pe_count)) < 0)
      goto fail;
    if (get_int (p, "dev_size", where, &pv->dev_size) < 0)
      pv->dev_size = 0;
    if (pv->pe_count > (1ull << 40) || pv->pe_start > (1ull << 50)) {
      r = gfs_err (EINVAL, "%s: LVM2 metadata: PV %s: bad pe_start/pe_count", where, pv->name);
      goto fail;
    }
    vg->n_pvs++;
  }
  lvs = lvm2_get (vgs, "logical_volumes");
  if (lvs && lvs->type == LVM2_SECTION && lvs->n) {
    if (lvs->n > LVM2_MAX_LVS) {
      r = gfs_err (EINVAL, "%s: LVM2 metadata: too many LVs", where);
      goto fail;
    }
    vg->lvs = calloc (lvs->n, sizeof *vg->lvs);
    if (!vg->lvs) {
      r = gfs_err (ENOMEM, "out of memory");
      goto fail;
    }
    for (size_t i = 0; i < lvs->n; i++) {
      if (lvs->items[i].type != LVM2_SECTION)
        continue;
      r = parse_lv (vg, &lvs->items[i], where, &vg->lvs[vg->n_lvs]);
      vg->n_lvs++;
      if (r < 0)
        goto fail;
    }
  }
  *out = vg;
  return 0;
 fail:
  lvm2_vg_free (vg);
  return r;
}
