/* Unit tests of the LVM2 writer (guestfs/lvm2/write.c): text round trip
 * through the reader, the metadata area ring (wrap-around, checksums),
 * the label, and the refusal to rewrite VGs with features vdk drops. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vdk/disk.h"
#include "guestfs/lvm2/lvm2.h"

#define CHECK(x) do { if (!(x)) { fprintf (stderr, "%s:%d: CHECK failed: %s (%s)\n", \
                                  __FILE__, __LINE__, #x, disk_last_error ()); return 1; } } while (0)

static struct lvm2_vg *
sample_vg (void)
{
  struct lvm2_vg *vg = calloc (1, sizeof *vg);
  char raw[33];

  strcpy (vg->name, "vg_test");
  lvm2_gen_id (raw);
  lvm2_dash_id (raw, vg->id);
  vg->seqno = 7;
  vg->extent_size = 8192;
  vg->n_pvs = 2;
  vg->pvs = calloc (2, sizeof *vg->pvs);
  for (int i = 0; i < 2; i++) {
    snprintf (vg->pvs[i].name, sizeof vg->pvs[i].name, "pv%d", i);
    lvm2_gen_id (raw);
    lvm2_dash_id (raw, vg->pvs[i].id);
    vg->pvs[i].pe_start = 2048;
    vg->pvs[i].pe_count = 100 + i;
    vg->pvs[i].dev_size = 2048 + (100 + i) * 8192;
  }
  vg->n_lvs = 2;
  vg->lvs = calloc (2, sizeof *vg->lvs);
  for (int i = 0; i < 2; i++) {
    struct lvm2_lv *lv = &vg->lvs[i];
    snprintf (lv->name, sizeof lv->name, "lv%d", i);
    lvm2_gen_id (raw);
    lvm2_dash_id (raw, lv->id);
    lv->visible = true;
    lv->creation_time = 1700000000 + i;
    strcpy (lv->creation_host, "host\"q");
    lv->n_segs = (size_t) i + 1;
    lv->segs = calloc (lv->n_segs, sizeof *lv->segs);
    for (size_t s = 0; s < lv->n_segs; s++) {
      lv->segs[s].start_extent = s * 10;
      lv->segs[s].extent_count = 10;
      strcpy (lv->segs[s].type, "striped");
      lv->segs[s].stripe_count = 1;
      lv->segs[s].stripes = calloc (1, sizeof *lv->segs[s].stripes);
      lv->segs[s].stripes[0].pv = (uint32_t) s;
      lv->segs[s].stripes[0].pe = 20 * (uint64_t) i + 5;
    }
    lv->extents = 10 * lv->n_segs;
  }
  return vg;
}

static int
test_text_roundtrip (void)
{
  struct lvm2_vg *vg = sample_vg (), *back;
  const char *devs[] = { "/dev/loop7", "/tmp/a \"b\".img" };
  struct lvm2_value *root;
  char *text;
  size_t len;

  CHECK (lvm2_format_text (vg, devs, "desc with \"quotes\" and \\", &text, &len) == 0);
  CHECK (len == strlen (text) + 1);
  CHECK (lvm2_parse (text, len - 1, &root) == 0);
  CHECK (lvm2_vg_from_text (root, "test", &back) == 0);
  CHECK (!strcmp (back->name, vg->name) && !strcmp (back->id, vg->id));
  CHECK (back->seqno == 7 && back->extent_size == 8192 && back->n_pvs == 2 && back->n_lvs == 2);
  for (int i = 0; i < 2; i++) {
    CHECK (!strcmp (back->pvs[i].id, vg->pvs[i].id));
    CHECK (back->pvs[i].pe_start == 2048 && back->pvs[i].pe_count == vg->pvs[i].pe_count);
    CHECK (back->pvs[i].dev_size == vg->pvs[i].dev_size);
    CHECK (!strcmp (back->lvs[i].name, vg->lvs[i].name));
    CHECK (!strcmp (back->lvs[i].id, vg->lvs[i].id));
    CHECK (back->lvs[i].visible && back->lvs[i].extents == vg->lvs[i].extents);
    CHECK (back->lvs[i].creation_time == vg->lvs[i].creation_time);
    CHECK (!strcmp (back->lvs[i].creation_host, "host\"q"));
    CHECK (back->lvs[i].n_segs == vg->lvs[i].n_segs);
    for (size_t s = 0; s < back->lvs[i].n_segs; s++) {
      CHECK (back->lvs[i].segs[s].stripes[0].pv == vg->lvs[i].segs[s].stripes[0].pv);
      CHECK (back->lvs[i].segs[s].stripes[0].pe == vg->lvs[i].segs[s].stripes[0].pe);
      CHECK (back->lvs[i].segs[s].start_extent == vg->lvs[i].segs[s].start_extent);
    }
  }
  {
    const struct lvm2_value *vgs = lvm2_get (root, "vg_test"), *pvs, *pv1, *dev;
    pvs = lvm2_get (vgs, "physical_volumes");
    pv1 = lvm2_get (pvs, "pv1");
    dev = lvm2_get (pv1, "device");
    CHECK (dev && dev->type == LVM2_STR && !strcmp (dev->s, "/tmp/a \"b\".img"));
    CHECK (lvm2_get (root, "version") && lvm2_get (root, "version")->i == 1);
  }
  /* vdk's own output is writable; a VG with tags is not. */
  CHECK (lvm2_vg_writable (root, back, "test") == 0);
  lvm2_value_free (root);
  {
    char *t2;
    CHECK (asprintf (&t2, "%.*s", (int) (strstr (text, "seqno") - text), text) > 0);
    char *t3;
    CHECK (asprintf (&t3, "%stags = [\"x\"]\n%s", t2, strstr (text, "seqno")) > 0);
    CHECK (lvm2_parse (t3, strlen (t3), &root) == 0);
    CHECK (lvm2_vg_writable (root, back, "test") == -ENOTSUP);
    CHECK (strstr (disk_last_error (), "'tags'"));
    lvm2_value_free (root);
    free (t2);
    free (t3);
  }
  lvm2_vg_free (back);
  free (text);
  lvm2_vg_free (vg);
  return 0;
}

static int
test_next_offset (void)
{
  CHECK (lvm2_mda_next_offset (0, 0, 8192) == 512);
  CHECK (lvm2_mda_next_offset (512, 100, 8192) == 1024);
  CHECK (lvm2_mda_next_offset (512, 512, 8192) == 1024);
  CHECK (lvm2_mda_next_offset (512, 513, 8192) == 1536);
  /* ending within 512 bytes of the end: start over */
  CHECK (lvm2_mda_next_offset (7000, 1000, 8192) == 512);
  CHECK (lvm2_mda_next_offset (6000, 1000, 8192) == 7168);
  CHECK (lvm2_mda_next_offset (7168, 1000, 8192) == 512);
  /* a wrapped text: 1024 bytes at the end, 1000 after the header */
  CHECK (lvm2_mda_next_offset (7168, 2024, 8192) == 1536);
  CHECK (lvm2_mda_max_text (8192) == 3328);
  CHECK (lvm2_mda_max_text (1044480) == 521472);
  return 0;
}

static int
test_ring (void)
{
  char path[] = "/tmp/vdk-lvm2-ring.XXXXXX";
  const uint64_t mstart = 4096, msize = 8192;
  int fd = mkstemp (path);
  struct gfs_dev dev;
  struct lvm2_label lab;
  char raw[33], *text = malloc (4000), *back;
  size_t len;
  int wrapped = 0;

  CHECK (fd >= 0 && text);
  unlink (path);
  CHECK (ftruncate (fd, 1 << 20) == 0);
  CHECK (lvm2_gen_id (raw) == 0);
  CHECK (lvm2_write_label (fd, "ring", raw, 1 << 20, 65536, mstart, msize, true) == 0);
  lvm2_fd_dev (&dev, fd, "ring", 1 << 20);
  CHECK (lvm2_read_label (&dev, &lab) == 1);
  CHECK (!strcmp (lab.pv_uuid, raw) && lab.dev_size == 1 << 20 && lab.data_offset == 65536);
  CHECK (lab.n_mdas == 1 && lab.mda_offset[0] == mstart && lab.mda_size[0] == msize);
  CHECK (lvm2_mda_init (fd, "ring", mstart, msize) == 0);
  CHECK (lvm2_read_text (&dev, &lab, &back, &len) == -ENOENT);
  for (int i = 0; i < 60; i++) {
    size_t n = 700 + (size_t) (i * 397) % 2600;
    uint8_t h[64];
    for (size_t k = 0; k < n - 1; k++)
      text[k] = (char) ('a' + (k + (size_t) i) % 26);
    text[n - 1] = 0;
    CHECK (lvm2_mda_commit (fd, "ring", mstart, msize, text, n) == 0);
    CHECK (lvm2_read_text (&dev, &lab, &back, &len) == 0);
    CHECK (len == n - 1 && !memcmp (back, text, n));
    free (back);
    CHECK (pread (fd, h, sizeof h, mstart) == sizeof h);
    uint64_t off = 0, sz = 0;
    for (int b = 7; b >= 0; b--) {
      off = off << 8 | h[40 + b];
      sz = sz << 8 | h[48 + b];
    }
    CHECK (off >= 512 && off < msize && sz == n);
    if (off + sz > msize)
      wrapped++;
  }
  CHECK (wrapped > 0);
  /* too big for two copies */
  memset (text, 'x', 3999);
  text[3999] = 0;
  CHECK (lvm2_mda_commit (fd, "ring", mstart, msize, text, 4000) == -ENOSPC);
  /* a corrupt header is refused, not overwritten */
  CHECK (pwrite (fd, "X", 1, mstart + 10) == 1);
  CHECK (lvm2_mda_commit (fd, "ring", mstart, msize, "a", 2) == -EIO);
  close (fd);
  free (text);
  return 0;
}

int
main (void)
{
  if (test_text_roundtrip () || test_next_offset () || test_ring ())
    return 1;
  printf ("ok\n");
  return 0;
}
