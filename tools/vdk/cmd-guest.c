/* Guest disk commands: filesystems, ls, cat, df, inspect, get-kernel.
 * Disks are opened read-only without locks; everything is read in-process
 * by guestfs/ (no appliance). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vdk.h"
#include "guestfs/guestfs.h"
#include "guestfs/inspect.h"
#include "guestfs/boot.h"

enum { OPT_OUTPUT = 256, OPT_FORMAT, OPT_ALL, OPT_LONG, OPT_UUID };

struct guest_opts {
  const char *images[GFS_MAX_DISKS];
  const char *formats[GFS_MAX_DISKS];
  size_t n;
  const char *format;       /* applies to the -a options after it */
};

static int
add_image (const char *cmd, struct guest_opts *g, const char *img)
{
  if (g->n >= GFS_MAX_DISKS)
    return usage_error (cmd, "too many -a options (at most %d)", GFS_MAX_DISKS);
  g->formats[g->n] = g->format;
  g->images[g->n++] = img;
  return 0;
}

static const char *disk_hint (const char *msg);

static void
flush_warnings (void)
{
  char *w = gfs_take_warnings ();
  if (w) {
    char *save = NULL;
    for (char *l = strtok_r (w, "\n", &save); l; l = strtok_r (NULL, "\n", &save))
      warning ("%s%s", l, disk_hint (l));
    free (w);
  }
}

static const struct guest_opts *cur_opts;

/* " (/dev/sdb is b.qcow2)" when MSG names a disk device, so the error
 * names the image file too. */
static const char *
disk_hint (const char *msg)
{
  static char hint[1100];
  const char *p = msg ? strstr (msg, "/dev/sd") : NULL;
  size_t i;

  hint[0] = 0;
  if (!p || !cur_opts || p[7] < 'a' || p[7] > 'z')
    return hint;
  i = (size_t) (p[7] - 'a');
  if (i < cur_opts->n)
    snprintf (hint, sizeof hint, " (/dev/sd%c is %s)", p[7], cur_opts->images[i]);
  return hint;
}

static int
guest_fail (void)
{
  const char *m = disk_last_error ();
  error ("%s%s", m, disk_hint (m));
  return 1;
}

static int
open_session (struct guest_opts *g, struct gfs_session **out)
{
  struct gfs_session *s;

  cur_opts = g;
  if (gfs_session_new (&s) < 0)
    return guest_fail ();
  for (size_t i = 0; i < g->n; i++)
    if (gfs_add_disk (s, g->images[i], g->formats[i]) < 0) {
      gfs_session_free (s);
      return guest_fail ();
    }
  if (gfs_scan (s) < 0) {
    flush_warnings ();
    gfs_session_free (s);
    return guest_fail ();
  }
  flush_warnings ();
  *out = s;
  return 0;
}

/* ---- filesystems ---- */

/* virt-filesystems' human sizes (gnulib human_readable with autoscale,
 * base 1024, round to nearest): "512", "1.0K", "9.5M", "14M", "2.0G". */
static const char *
gfs_human_size (uint64_t v)
{
  static char bufs[8][32];
  static int which;
  static const char units[] = "KMGTPE";
  char *b = bufs[which++ & 7];
  double x = (double) v;
  int u = -1;

  if (v < 1024) {
    snprintf (b, 32, "%" PRIu64, v);
    return b;
  }
  while (x >= 1024 && u < 5) {
    x /= 1024;
    u++;
  }
  if (x < 9.95)
    snprintf (b, 32, "%.1f%c", x, units[u]);
  else if (x < 1023.5 || u == 5)
    snprintf (b, 32, "%.0f%c", x, units[u]);
  else
    snprintf (b, 32, "1.0%c", units[u + 1]);
  return b;
}

static const char *
size_str (uint64_t v, bool human)
{
  static char bufs[8][32];
  static int which;
  char *b = bufs[which++ & 7];

  if (human)
    return gfs_human_size (v);
  snprintf (b, 32, "%" PRIu64, v);
  return b;
}

/* One output row; NULL strings are absent columns (printed "-"), as in
 * virt-filesystems' write_row. */
struct row {
  const char *name, *type, *vfs, *label, *uuid, *mbr, *parent;
  uint64_t size;
  const struct gfs_device *part;   /* partition rows: GPT details */
  char buf[3][520];                /* storage for name, parent, uuid */
  char sizebuf[32];
};

enum {
  SEL_FS = 1, SEL_EXTRA = 2, SEL_LVS = 4, SEL_VGS = 8, SEL_PVS = 16,
  SEL_PARTS = 32, SEL_DEVS = 64,
  SEL_ALL = 127,
};

static bool
is_fs_row (const struct gfs_device *d)
{
  return d->vfs_type[0] && strcmp (d->vfs_type, "LVM2_member") && !d->is_extended;
}

/* What libguestfs' list_filesystems returns: whole disks without
 * partitions, partitions (not the extended container) and LVs, except LVM
 * PVs. */
static bool
is_fs_device (struct gfs_session *s, const struct gfs_device *d)
{
  if (d->is_extended || !strcmp (d->vfs_type, "LVM2_member"))
    return false;
  if (d->kind == GFS_KIND_DEVICE && !d->vfs_type[0])
    for (size_t k = 0; k < s->n_devs; k++)
      if (s->devs[k]->kind == GFS_KIND_PARTITION && !strcmp (s->devs[k]->parent, d->dev->name))
        return false;
  return true;
}

/* LVM ids without dashes, as libguestfs' *_full structs give them. */
static void
undash (const char *in, char *out, size_t cap)
{
  size_t n = 0;
  for (; *in && n + 1 < cap; in++)
    if (*in != '-')
      out[n++] = *in;
  out[n] = 0;
}

static int
cmp_lv_rows (const void *a, const void *b)
{
  const struct gfs_device *x = *(struct gfs_device *const *) a;
  const struct gfs_device *y = *(struct gfs_device *const *) b;
  int c = strcmp (x->parent, y->parent);
  return c ? c : strcmp (x->dev->name, y->dev->name);
}

static int
cmp_vg_rows (const void *a, const void *b)
{
  return strcmp (((const struct gfs_vg *) a)->name, ((const struct gfs_vg *) b)->name);
}

static void
csv_field (const char *f)
{
  if (!f)
    return;
  if (!strpbrk (f, " \",\n")) {
    fputs (f, stdout);
    return;
  }
  putchar ('"');
  for (; *f; f++) {
    if (*f == '"')
      putchar ('"');
    putchar (*f);
  }
  putchar ('"');
}

int
cmd_filesystems (int argc, char **argv)
{
  enum { OPT_CSV = 300, OPT_EXTRA, OPT_NOTITLE, OPT_FS, OPT_PARTS, OPT_LVS, OPT_VGS, OPT_PVS,
         OPT_DEVS };
  static const struct option longopts[] = {
    { "add", required_argument, NULL, 'a' },
    { "format", required_argument, NULL, OPT_FORMAT },
    { "all", no_argument, NULL, OPT_ALL },
    { "extra", no_argument, NULL, OPT_EXTRA },
    { "filesystems", no_argument, NULL, OPT_FS },
    { "partitions", no_argument, NULL, OPT_PARTS },
    { "parts", no_argument, NULL, OPT_PARTS },
    { "lvs", no_argument, NULL, OPT_LVS },
    { "logvols", no_argument, NULL, OPT_LVS },
    { "logical-volumes", no_argument, NULL, OPT_LVS },
    { "vgs", no_argument, NULL, OPT_VGS },
    { "volgroups", no_argument, NULL, OPT_VGS },
    { "volume-groups", no_argument, NULL, OPT_VGS },
    { "pvs", no_argument, NULL, OPT_PVS },
    { "physvols", no_argument, NULL, OPT_PVS },
    { "physical-volumes", no_argument, NULL, OPT_PVS },
    { "blkdevs", no_argument, NULL, OPT_DEVS },
    { "block-devices", no_argument, NULL, OPT_DEVS },
    { "long", no_argument, NULL, 'l' },
    { "uuid", no_argument, NULL, OPT_UUID },
    { "uuids", no_argument, NULL, OPT_UUID },
    { "human-readable", no_argument, NULL, 'h' },
    { "csv", no_argument, NULL, OPT_CSV },
    { "no-title", no_argument, NULL, OPT_NOTITLE },
    { "output", required_argument, NULL, OPT_OUTPUT },
    { NULL, 0, NULL, 0 },
  };
  struct guest_opts g = { 0 };
  bool lng = false, human = false, uuid = false, csv = false, title = true;
  unsigned sel = 0;
  enum output_format of = OUT_HUMAN;
  struct gfs_session *s;
  struct row *rows;
  struct gfs_device **lvs;
  struct gfs_vg *vgs;
  size_t nr = 0, nlv = 0;
  int c;

  while ((c = getopt_long (argc, argv, "+a:lh", longopts, NULL)) != -1) {
    switch (c) {
    case 'a': if (add_image ("filesystems", &g, optarg)) return 1; break;
    case OPT_FORMAT: g.format = optarg; break;
    case OPT_ALL: sel = SEL_ALL; break;
    case OPT_EXTRA: sel |= SEL_FS | SEL_EXTRA; break;
    case OPT_FS: sel |= SEL_FS; break;
    case OPT_PARTS: sel |= SEL_PARTS; break;
    case OPT_LVS: sel |= SEL_LVS; break;
    case OPT_VGS: sel |= SEL_VGS; break;
    case OPT_PVS: sel |= SEL_PVS; break;
    case OPT_DEVS: sel |= SEL_DEVS; break;
    case 'l': lng = true; break;
    case 'h': human = true; break;
    case OPT_UUID: uuid = true; break;
    case OPT_CSV: csv = true; break;
    case OPT_NOTITLE: title = false; break;
    case OPT_OUTPUT: if (parse_output (optarg, &of) < 0) return 1; break;
    default: return usage_error ("filesystems", "invalid option");
    }
  }
  if (optind < argc)
    return usage_error ("filesystems", "unexpected argument '%s'", argv[optind]);
  if (g.n == 0)
    return usage_error ("filesystems", "at least one -a IMAGE is required");
  if (human && csv)
    return usage_error ("filesystems", "-h and --csv cannot be used together");
  if (sel == 0)
    sel = SEL_FS;
  if (open_session (&g, &s))
    return 1;
  rows = calloc (3 * s->n_devs + s->n_vgs + 1, sizeof *rows);
  lvs = calloc (s->n_devs + 1, sizeof *lvs);
  vgs = calloc (s->n_vgs + 1, sizeof *vgs);
  if (!rows || !lvs || !vgs) {
    free (rows);
    free (lvs);
    free (vgs);
    gfs_session_free (s);
    error ("out of memory");
    return 1;
  }
  /* LVs and VGs in LVM's report order (by VG name, then LV name) */
  for (size_t i = 0; i < s->n_devs; i++)
    if (s->devs[i]->kind == GFS_KIND_LV)
      lvs[nlv++] = s->devs[i];
  qsort (lvs, nlv, sizeof *lvs, cmp_lv_rows);
  if (s->n_vgs)
    memcpy (vgs, s->vgs, s->n_vgs * sizeof *vgs);
  qsort (vgs, s->n_vgs, sizeof *vgs, cmp_vg_rows);

  if (sel & SEL_FS)
    /* libguestfs order: whole disks, partitions, then LVs */
    for (int pass = 0; pass < 3; pass++) {
      size_t n = pass == 2 ? nlv : s->n_devs;
      for (size_t i = 0; i < n; i++) {
        struct gfs_device *d = pass == 2 ? lvs[i] : s->devs[i];
        const char *vfs = d->vfs_type[0] ? d->vfs_type : "unknown";
        struct gfs_fs *fs;
        struct gfs_statfs st;
        struct row *r;
        if ((pass == 0 && d->kind != GFS_KIND_DEVICE) ||
            (pass == 1 && d->kind != GFS_KIND_PARTITION) || !is_fs_device (s, d))
          continue;
        if (!(sel & SEL_EXTRA) && (!strcmp (vfs, "swap") || !strcmp (vfs, "unknown")))
          continue;
        r = &rows[nr++];
        *r = (struct row) { d->dev->name, "filesystem", vfs, d->label, d->uuid, NULL, NULL,
                            d->dev->size };
        /* the size of a filesystem is what statvfs says once mounted
         * (blocks without the metadata), else the device size */
        if (d->ops && gfs_device_fs (d, &fs) == 0 && fs->ops->statfs &&
            fs->ops->statfs (fs, &st) == 0)
          r->size = st.blocks * st.block_size;
        else
          free (gfs_take_warnings ());
      }
    }
  flush_warnings ();
  if (sel & SEL_LVS)
    for (size_t i = 0; i < nlv; i++) {
      struct row *r = &rows[nr++];
      *r = (struct row) { lvs[i]->dev->name, "lv", NULL, NULL, lvs[i]->lv_uuid, NULL,
                          lvs[i]->parent, lvs[i]->dev->size };
    }
  if (sel & SEL_VGS)
    for (size_t i = 0; i < s->n_vgs; i++) {
      struct row *r = &rows[nr++];
      *r = (struct row) { r->buf[0], "vg", NULL, NULL, r->buf[2], NULL, r->buf[1], vgs[i].size };
      snprintf (r->buf[0], sizeof r->buf[0], "/dev/%s", vgs[i].name);
      for (size_t k = 0; k < vgs[i].n_pvs; k++)
        snprintf (r->buf[1] + strlen (r->buf[1]), sizeof r->buf[1] - strlen (r->buf[1]),
                  "%s%s", k ? "," : "", vgs[i].pvs[k]);
      undash (vgs[i].uuid, r->buf[2], sizeof r->buf[2]);
    }
  if (sel & SEL_PVS)
    for (size_t i = 0; i < s->n_devs; i++) {
      struct gfs_device *d = s->devs[i];
      struct row *r;
      if (strcmp (d->vfs_type, "LVM2_member"))
        continue;
      r = &rows[nr++];
      *r = (struct row) { d->dev->name, "pv", NULL, NULL, r->buf[2], NULL, NULL, d->dev->size };
      undash (d->uuid, r->buf[2], sizeof r->buf[2]);
      /* LVM's pv_size: the extents of a PV in a VG */
      for (size_t v = 0; v < s->n_vgs; v++)
        for (size_t k = 0; k < s->vgs[v].n_pvs; k++)
          if (!strcmp (s->vgs[v].pvs[k], d->dev->name))
            r->size = s->vgs[v].pv_sizes[k];
    }
  if (sel & SEL_PARTS)
    for (size_t i = 0; i < s->n_devs; i++) {
      struct gfs_device *d = s->devs[i];
      if (d->kind == GFS_KIND_PARTITION)
        rows[nr++] = (struct row) { d->dev->name, "partition", NULL, NULL, NULL,
                                    d->mbr_id[0] ? d->mbr_id : NULL, d->parent, d->dev->size, d };
    }
  if (sel & SEL_DEVS)
    for (size_t i = 0; i < s->n_devs; i++) {
      struct gfs_device *d = s->devs[i];
      if (d->kind == GFS_KIND_DEVICE)
        rows[nr++] = (struct row) { d->dev->name, "device", NULL, NULL, NULL, NULL, NULL,
                                    d->dev->size };
    }
  for (size_t i = 0; i < nr; i++)
    if (rows[i].parent && !rows[i].parent[0])
      rows[i].parent = NULL;

  if (of == OUT_JSON) {
    struct jw w;
    jw_init (&w, stdout, true);
    jw_arr (&w, NULL);
    for (size_t i = 0; i < nr; i++) {
      jw_obj (&w, NULL);
      jw_str (&w, "name", rows[i].name);
      jw_str (&w, "type", rows[i].type);
      if (rows[i].vfs)
        jw_str (&w, "vfs-type", rows[i].vfs);
      if (rows[i].label)
        jw_str (&w, "vfs-label", rows[i].label);
      if (rows[i].uuid && rows[i].uuid[0])
        jw_str (&w, "uuid", rows[i].uuid);
      if (rows[i].mbr)
        jw_str (&w, "mbr-id", rows[i].mbr);
      jw_uint (&w, "size", rows[i].size);
      if (rows[i].parent)
        jw_str (&w, "parent", rows[i].parent);
      if (rows[i].part) {
        jw_uint (&w, "partnum", (uint64_t) rows[i].part->partnum);
        if (rows[i].part->gpt_type[0])
          jw_str (&w, "gpt-type", rows[i].part->gpt_type);
        if (rows[i].part->part_name[0])
          jw_str (&w, "gpt-name", rows[i].part->part_name);
        if (rows[i].part->part_uuid[0])
          jw_str (&w, "partuuid", rows[i].part->part_uuid);
      }
      jw_obj_end (&w);
    }
    jw_arr_end (&w);
    jw_end (&w);
  }
  else {
    /* The columns of virt-filesystems: name; with --long type, VFS type and
     * label (when filesystems are listed), MBR id (when partitions are),
     * size, parents, and UUID with --uuid.  --csv quotes fields; the text
     * form aligns them, prints empty ones as "-" and drops columns that
     * are empty in every row. */
    enum { C_NAME, C_TYPE, C_VFS, C_LABEL, C_MBR, C_SIZE, C_PARENT, C_UUID, NCOL };
    static const char *const heads[NCOL] = { "Name", "Type", "VFS", "Label", "MBR", "Size",
                                             "Parent", "UUID" };
    bool show[NCOL] = { true };
    size_t width[NCOL] = { 0 }, nrow = nr + 1, space = 2, total = 0;
    const char *(*cells)[NCOL] = calloc (nrow, sizeof *cells);

    if (!cells) {
      free (rows);
      free (lvs);
      free (vgs);
      gfs_session_free (s);
      error ("out of memory");
      return 1;
    }
    if (lng) {
      show[C_TYPE] = show[C_SIZE] = show[C_PARENT] = true;
      show[C_VFS] = show[C_LABEL] = (sel & SEL_FS) != 0;
      show[C_MBR] = (sel & SEL_PARTS) != 0;
      show[C_UUID] = uuid;
    }
    else
      title = false;
    for (int k = 0; k < NCOL; k++)
      cells[0][k] = title && show[k] ? heads[k] : NULL;
    for (size_t i = 0; i < nr; i++) {
      const char **cl = cells[i + 1];
      cl[C_NAME] = rows[i].name;
      cl[C_TYPE] = rows[i].type;
      cl[C_VFS] = rows[i].vfs;
      cl[C_LABEL] = rows[i].label;
      cl[C_MBR] = rows[i].mbr;
      snprintf (rows[i].sizebuf, sizeof rows[i].sizebuf, "%s", size_str (rows[i].size, human));
      cl[C_SIZE] = rows[i].sizebuf;
      cl[C_PARENT] = rows[i].parent ? rows[i].parent : (show[C_PARENT] ? "" : NULL);
      cl[C_UUID] = rows[i].uuid;
      for (int k = 0; k < NCOL; k++)
        if (!show[k])
          cl[k] = NULL;
    }
    for (size_t i = title ? 0 : 1; i < nrow; i++)
      for (int k = 0; k < NCOL; k++)
        if (cells[i][k]) {
          size_t l = strlen (cells[i][k]);
          if (l == 0)
            l = 1;
          if (l > width[k])
            width[k] = l;
        }
    for (int k = 0; k < NCOL; k++)
      total += width[k] + 2;
    if (total > 72)
      space = 1;
    for (size_t i = title ? 0 : 1; i < nrow; i++) {
      size_t pad = 0;
      bool first = true;
      for (int k = 0; k < NCOL; k++) {
        const char *v = cells[i][k];
        if (!show[k] || (!csv && width[k] == 0))
          continue;
        if (csv) {
          if (!first)
            putchar (',');
          csv_field (v);
        }
        else {
          printf ("%*s%s", (int) pad, "", v && v[0] ? v : "-");
          pad = width[k] - (v && v[0] ? strlen (v) : 1) + space;
        }
        first = false;
      }
      putchar ('\n');
    }
    free (cells);
  }
  free (rows);
  free (lvs);
  free (vgs);
  gfs_session_free (s);
  return 0;
}

/* ---- path selection shared by ls/cat ---- */

/* "DEVICE:/path" selects one filesystem; "/path" is the inspected guest
 * (root filesystem plus its fstab mounts), or the only filesystem. */
static int
setup_paths (struct gfs_session *s, const char *arg, const char **path,
             struct gfs_os **oses, size_t *n_os)
{
  const char *colon = strchr (arg, ':');
  *oses = NULL;
  *n_os = 0;
  if (colon && arg[0] == '/' && !strncmp (arg, "/dev/", 5)) {
    char dev[300];
    struct gfs_device *d;
    snprintf (dev, sizeof dev, "%.*s", (int) (colon - arg), arg);
    d = gfs_find_device (s, dev);
    if (!d) {
      error ("%s: no such device in the guest", dev);
      return 1;
    }
    if (!d->ops) {
      error ("%s: no filesystem that vdk can read (%s)", dev, d->vfs_type[0] ? d->vfs_type : "unknown");
      return 1;
    }
    if (gfs_mount_add (s, "/", d) < 0)
      return guest_fail ();
    *path = colon[1] ? colon + 1 : "/";
    return 0;
  }
  *path = arg;
  if (gfs_inspect (s, oses, n_os) < 0)
    return guest_fail ();
  if (*n_os > 0) {
    if (gfs_os_mount (s, &(*oses)[0]) < 0)
      return guest_fail ();
    flush_warnings ();
    return 0;
  }
  {
    struct gfs_device *only = NULL;
    size_t n = 0;
    for (size_t i = 0; i < s->n_devs; i++)
      if (s->devs[i]->ops) {
        only = s->devs[i];
        n++;
      }
    if (n == 1) {
      if (gfs_mount_add (s, "/", only) < 0)
        return guest_fail ();
      return 0;
    }
  }
  error ("no operating system found in the guest: name a filesystem as DEVICE:PATH (see 'vdk filesystems')");
  return 1;
}

/* ---- ls ---- */

struct ent {
  char name[256];
  uint8_t type;
};

struct ent_list {
  struct ent *v;
  size_t n;
};

static int
collect_ent (void *opaque, const struct gfs_dirent *e)
{
  struct ent_list *l = opaque;
  struct ent *n;
  if (l->n >= 500000)         /* 128 MiB of names at most */
    return -E2BIG;
  if ((l->n & (l->n - 1)) == 0) {
    n = realloc (l->v, (l->n ? l->n * 2 : 1) * sizeof *n);
    if (!n)
      return -ENOMEM;
    l->v = n;
  }
  memcpy (l->v[l->n].name, e->name, sizeof e->name);
  l->v[l->n].type = e->type;
  l->n++;
  return 0;
}

static int
cmp_ent (const void *a, const void *b)
{
  return strcmp (((const struct ent *) a)->name, ((const struct ent *) b)->name);
}

static void
mode_str (uint32_t m, char out[11])
{
  const char *rwx = "rwxrwxrwx";
  out[0] = S_ISDIR (m) ? 'd' : S_ISLNK (m) ? 'l' : S_ISCHR (m) ? 'c' : S_ISBLK (m) ? 'b' :
           S_ISFIFO (m) ? 'p' : S_ISSOCK (m) ? 's' : '-';
  for (int i = 0; i < 9; i++)
    out[1 + i] = (m & (0400 >> i)) ? rwx[i] : '-';
  if (m & S_ISUID) out[3] = (m & 0100) ? 's' : 'S';
  if (m & S_ISGID) out[6] = (m & 010) ? 's' : 'S';
  if (m & S_ISVTX) out[9] = (m & 01) ? 't' : 'T';
  out[10] = 0;
}

/* Directories already listed by -R: a hostile filesystem can hard-link
 * directories into a DAG with exponentially many paths. */
struct seen_set {
  struct { uintptr_t fs; uint64_t ino; } *v;
  size_t cap, n;
};

/* 1 if (FS, INO) was already in the set, else adds it (0) or -ENOMEM. */
static int
seen_add (struct seen_set *st, const void *fs, uint64_t ino)
{
  size_t h;

  if (st->n * 2 >= st->cap) {
    size_t ncap = st->cap ? st->cap * 2 : 1024;
    struct seen_set n = { calloc (ncap, sizeof *st->v), ncap, 0 };
    if (!n.v)
      return -ENOMEM;
    for (size_t i = 0; i < st->cap; i++)
      if (st->v[i].fs)
        seen_add (&n, (const void *) st->v[i].fs, st->v[i].ino);
    free (st->v);
    *st = n;
  }
  h = (size_t) ((ino * 0x9E3779B97F4A7C15ull) ^ (uintptr_t) fs) & (st->cap - 1);
  while (st->v[h].fs) {
    if (st->v[h].fs == (uintptr_t) fs && st->v[h].ino == ino)
      return 1;
    h = (h + 1) & (st->cap - 1);
  }
  st->v[h].fs = (uintptr_t) fs;
  st->v[h].ino = ino;
  st->n++;
  return 0;
}

struct ls_ctx {
  struct gfs_session *s;
  bool lng, rec, xattrs;
  int status;
  struct seen_set seen;
  /* directories on the current recursion path, for cycle detection */
  struct { struct gfs_fs *fs; uint64_t ino; } stack[256];
  int depth;
};

static int
print_xattr (void *opaque, const char *name, const void *value, size_t len)
{
  const unsigned char *v = value;
  bool text = len > 0;

  (void) opaque;
  for (size_t i = 0; i < len; i++)
    if ((v[i] < 0x20 || v[i] >= 0x7f) && !(i == len - 1 && v[i] == 0))
      text = false;
  printf ("    %s=", name);
  if (text)
    printf ("\"%.*s\"\n", (int) (v[len - 1] ? len : len - 1), (const char *) v);
  else {
    printf ("0x");
    for (size_t i = 0; i < len; i++)
      printf ("%02x", v[i]);
    printf ("\n");
  }
  return 0;
}

static void
print_xattrs (struct ls_ctx *c, const char *shown, struct gfs_fs *fs, uint64_t ino)
{
  if (!fs->ops->listxattr)
    return;
  if (fs->ops->listxattr (fs, ino, print_xattr, NULL) < 0) {
    error ("%s: %s%s", shown, disk_last_error (), disk_hint (disk_last_error ()));
    c->status = 1;
  }
}

static void
print_entry (struct ls_ctx *c, const char *shown, struct gfs_fs *fs, uint64_t ino)
{
  struct gfs_stat st;
  char m[11], t[32], target[GFS_MAX_PATH] = "";
  time_t tt;
  struct tm tm;

  if (!c->lng) {
    printf ("%s\n", shown);
    if (c->xattrs)
      print_xattrs (c, shown, fs, ino);
    return;
  }
  if (fs->ops->getattr (fs, ino, &st) < 0) {
    error ("%s: %s%s", shown, disk_last_error (), disk_hint (disk_last_error ()));
    c->status = 1;
    return;
  }
  mode_str (st.mode, m);
  tt = st.mtime;
  gmtime_r (&tt, &tm);
  strftime (t, sizeof t, "%Y-%m-%d %H:%M", &tm);
  if (S_ISLNK (st.mode) && fs->ops->readlink (fs, ino, target, sizeof target) < 0)
    snprintf (target, sizeof target, "?");
  printf ("%s %3" PRIu32 " %5" PRIu32 " %5" PRIu32 " %10" PRIu64 " %s %s%s%s\n", m, st.nlink,
          st.uid, st.gid, st.size, t, shown, target[0] ? " -> " : "", target);
  if (c->xattrs)
    print_xattrs (c, shown, fs, ino);
}

static void
ls_dir (struct ls_ctx *c, const char *path, const char *prefix, struct gfs_fs *fs, uint64_t ino)
  __attribute__((nonnull));
static void
ls_dir (struct ls_ctx *c, const char *path, const char *prefix, struct gfs_fs *fs, uint64_t ino)
{
  struct ent_list l = { NULL, 0 };
  int r;

  if (c->depth >= 256) {
    error ("%s: directories nested too deeply", path);
    c->status = 1;
    return;
  }
  for (int i = 0; i < c->depth; i++)
    if (c->stack[i].fs == fs && c->stack[i].ino == ino) {
      error ("%s: directory cycle (inode %" PRIu64 " is its own ancestor)", path, ino);
      c->status = 1;
      return;
    }
  if (c->rec) {
    int r2 = seen_add (&c->seen, fs, ino);
    if (r2 < 0) {
      error ("out of memory");
      c->status = 1;
      return;
    }
    if (r2 > 0) {
      error ("%s: directory inode %" PRIu64 " was already listed (hard-linked directory)", path, ino);
      c->status = 1;
      return;
    }
  }
  c->stack[c->depth].fs = fs;
  c->stack[c->depth].ino = ino;
  c->depth++;
  r = fs->ops->readdir (fs, ino, collect_ent, &l);
  if (r < 0) {
    const char *m = r == -E2BIG ? "too many entries (more than 500000)" :
                    r == -ENOMEM ? strerror (ENOMEM) : disk_last_error ();
    error ("%s: %s%s", path, m, disk_hint (m));
    c->status = 1;
  }
  if (l.n)
    qsort (l.v, l.n, sizeof *l.v, cmp_ent);
  for (size_t i = 0; i < l.n; i++) {
    char child[GFS_MAX_PATH], shown[GFS_MAX_PATH];
    struct gfs_fs *cfs;
    uint64_t cino;
    struct gfs_stat st;

    snprintf (child, sizeof child, "%s%s%s", path, path[strlen (path) - 1] == '/' ? "" : "/", l.v[i].name);
    snprintf (shown, sizeof shown, "%s%s", prefix, l.v[i].name);
    if (gfs_resolve (c->s, child, false, &cfs, &cino) < 0) {
      error ("%s: %s%s", child, disk_last_error (), disk_hint (disk_last_error ()));
      c->status = 1;
      continue;
    }
    print_entry (c, shown, cfs, cino);
    if (c->rec && cfs->ops->getattr (cfs, cino, &st) == 0 && S_ISDIR (st.mode)) {
      char sub[GFS_MAX_PATH + 2];
      snprintf (sub, sizeof sub, "%s/", shown);
      ls_dir (c, child, sub, cfs, cino);
    }
  }
  free (l.v);
  c->depth--;
}

int
cmd_ls (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "add", required_argument, NULL, 'a' },
    { "format", required_argument, NULL, OPT_FORMAT },
    { "long", no_argument, NULL, 'l' },
    { "recursive", no_argument, NULL, 'R' },
    { "xattrs", no_argument, NULL, 'x' },
    { NULL, 0, NULL, 0 },
  };
  struct guest_opts g = { 0 };
  struct ls_ctx c = { 0 };
  struct gfs_session *s;
  struct gfs_os *oses;
  size_t n_os;
  const char *path;
  struct gfs_fs *fs;
  uint64_t ino;
  struct gfs_stat st;
  int opt;

  while ((opt = getopt_long (argc, argv, "+a:lRx", longopts, NULL)) != -1) {
    switch (opt) {
    case 'a': if (add_image ("ls", &g, optarg)) return 1; break;
    case OPT_FORMAT: g.format = optarg; break;
    case 'l': c.lng = true; break;
    case 'R': c.rec = true; break;
    case 'x': c.xattrs = true; break;
    default: return usage_error ("ls", "invalid option");
    }
  }
  if (g.n == 0)
    return usage_error ("ls", "at least one -a IMAGE is required");
  if (argc - optind != 1)
    return usage_error ("ls", "expected one PATH");
  if (open_session (&g, &s))
    return 1;
  c.s = s;
  if (setup_paths (s, argv[optind], &path, &oses, &n_os)) {
    gfs_os_free (oses, n_os);
    gfs_session_free (s);
    return 1;
  }
  if (gfs_resolve (s, path, true, &fs, &ino) < 0 || fs->ops->getattr (fs, ino, &st) < 0)
    c.status = guest_fail ();
  else if (S_ISDIR (st.mode)) {
    /* -R prints full paths (as virt-ls -R); plain ls prints names */
    char prefix[GFS_MAX_PATH + 2] = "";
    if (c.rec) {
      size_t l = strlen (path);
      while (l > 1 && path[l - 1] == '/')
        l--;
      snprintf (prefix, sizeof prefix, "%.*s/", (int) (l == 1 && path[0] == '/' ? 0 : l), path);
    }
    ls_dir (&c, path, prefix, fs, ino);
  }
  else {
    if (gfs_resolve (s, path, false, &fs, &ino) == 0)
      print_entry (&c, path, fs, ino);
  }
  flush_warnings ();
  free (c.seen.v);
  gfs_os_free (oses, n_os);
  gfs_session_free (s);
  return c.status;
}

/* ---- cat ---- */

int
cmd_cat (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "add", required_argument, NULL, 'a' },
    { "format", required_argument, NULL, OPT_FORMAT },
    { NULL, 0, NULL, 0 },
  };
  struct guest_opts g = { 0 };
  struct gfs_session *s;
  struct gfs_os *oses;
  size_t n_os;
  const char *first;
  int opt, status = 0;

  while ((opt = getopt_long (argc, argv, "+a:", longopts, NULL)) != -1) {
    switch (opt) {
    case 'a': if (add_image ("cat", &g, optarg)) return 1; break;
    case OPT_FORMAT: g.format = optarg; break;
    default: return usage_error ("cat", "invalid option");
    }
  }
  if (g.n == 0)
    return usage_error ("cat", "at least one -a IMAGE is required");
  if (argc - optind < 1)
    return usage_error ("cat", "expected a PATH");
  if (open_session (&g, &s))
    return 1;
  if (setup_paths (s, argv[optind], &first, &oses, &n_os)) {
    gfs_os_free (oses, n_os);
    gfs_session_free (s);
    return 1;
  }
  for (int i = optind; i < argc && !status; i++) {
    struct gfs_fs *fs;
    uint64_t ino, off = 0;
    struct gfs_stat st;
    char *buf;
    const char *path = i == optind ? first : argv[i];

    if (i > optind && strchr (argv[i], ':') && !strncmp (argv[i], "/dev/", 5)) {
      error ("%s: only the first PATH may name a device", argv[i]);
      status = 1;
      break;
    }
    if (gfs_resolve (s, path, true, &fs, &ino) < 0 || fs->ops->getattr (fs, ino, &st) < 0) {
      status = guest_fail ();
      break;
    }
    if (S_ISDIR (st.mode)) {
      error ("%s: is a directory", path);
      status = 1;
      break;
    }
    buf = malloc (1 << 20);
    if (!buf) {
      error ("out of memory");
      status = 1;
      break;
    }
    while (off < st.size) {
      ssize_t n = fs->ops->read (fs, ino, buf, 1 << 20, off);
      if (n < 0) {
        status = guest_fail ();
        break;
      }
      if (n == 0)
        break;
      if (fwrite (buf, 1, (size_t) n, stdout) != (size_t) n) {
        error ("write error: %s", strerror (errno));
        status = 1;
        break;
      }
      off += (uint64_t) n;
    }
    free (buf);
  }
  flush_warnings ();
  gfs_os_free (oses, n_os);
  gfs_session_free (s);
  if (fflush (stdout) != 0)
    status = 1;
  return status;
}

/* ---- df ---- */

int
cmd_df (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "add", required_argument, NULL, 'a' },
    { "format", required_argument, NULL, OPT_FORMAT },
    { "human-readable", no_argument, NULL, 'h' },
    { "inodes", no_argument, NULL, 'i' },
    { "output", required_argument, NULL, OPT_OUTPUT },
    { NULL, 0, NULL, 0 },
  };
  struct guest_opts g = { 0 };
  struct gfs_session *s;
  bool human = false, inodes = false;
  enum output_format of = OUT_HUMAN;
  struct jw w;
  int opt, status = 0;
  const char *base;

  while ((opt = getopt_long (argc, argv, "+a:hi", longopts, NULL)) != -1) {
    switch (opt) {
    case 'a': if (add_image ("df", &g, optarg)) return 1; break;
    case OPT_FORMAT: g.format = optarg; break;
    case 'h': human = true; break;
    case 'i': inodes = true; break;
    case OPT_OUTPUT: if (parse_output (optarg, &of) < 0) return 1; break;
    default: return usage_error ("df", "invalid option");
    }
  }
  if (optind < argc)
    return usage_error ("df", "unexpected argument '%s'", argv[optind]);
  if (g.n == 0)
    return usage_error ("df", "at least one -a IMAGE is required");
  if (open_session (&g, &s))
    return 1;
  base = strrchr (g.images[0], '/') ? strrchr (g.images[0], '/') + 1 : g.images[0];
  if (of == OUT_JSON) {
    jw_init (&w, stdout, true);
    jw_arr (&w, NULL);
  }
  else if (inodes)
    printf ("%-36s %10s %10s %10s %5s\n", "Filesystem", "Inodes", "IUsed", "IFree", "IUse%");
  else if (human)
    printf ("%-36s %10s %10s %10s %5s\n", "Filesystem", "Size", "Used", "Available", "Use%");
  else
    printf ("%-36s %10s %10s %10s %5s\n", "Filesystem", "1K-blocks", "Used", "Available", "Use%");
  for (size_t i = 0; i < s->n_devs; i++) {
    struct gfs_device *d = s->devs[i];
    struct gfs_fs *fs;
    struct gfs_statfs st;
    char name[400];
    uint64_t size, used, avail, pct;

    if (!d->ops)
      continue;
    if (gfs_device_fs (d, &fs) < 0 || fs->ops->statfs (fs, &st) < 0) {
      guest_fail ();
      status = 1;
      continue;
    }
    snprintf (name, sizeof name, "%s:%s", base, d->dev->name);
    if (inodes) {
      size = st.files;
      used = st.files - st.ffree;
      avail = st.ffree;
    }
    else {
      size = st.blocks * st.block_size;
      used = (st.blocks - st.bfree) * st.block_size;
      avail = st.bavail * st.block_size;
    }
    pct = size ? (used * 100 + size - 1) / size : 0;
    if (of == OUT_JSON) {
      jw_obj (&w, NULL);
      jw_str (&w, "filesystem", d->dev->name);
      jw_str (&w, "vfs-type", d->vfs_type);
      jw_uint (&w, "block-size", st.block_size);
      jw_uint (&w, "blocks", st.blocks);
      jw_uint (&w, "blocks-free", st.bfree);
      jw_uint (&w, "blocks-available", st.bavail);
      jw_uint (&w, "inodes", st.files);
      jw_uint (&w, "inodes-free", st.ffree);
      jw_obj_end (&w);
    }
    else if (inodes)
      printf ("%-36s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %4" PRIu64 "%%\n", name, size, used, avail, pct);
    else if (human)
      printf ("%-36s %10s %10s %10s %4" PRIu64 "%%\n", name, size_str (size, true),
              size_str (used, true), size_str (avail, true), pct);
    else
      printf ("%-36s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %4" PRIu64 "%%\n", name, size / 1024,
              used / 1024, avail / 1024, pct);
  }
  if (of == OUT_JSON) {
    jw_arr_end (&w);
    jw_end (&w);
  }
  flush_warnings ();
  gfs_session_free (s);
  return status;
}

/* ---- inspect ---- */

static void
xml_text (const char *s)
{
  for (; s && *s; s++) {
    switch (*s) {
    case '<': fputs ("&lt;", stdout); break;
    case '>': fputs ("&gt;", stdout); break;
    case '&': fputs ("&amp;", stdout); break;
    case '"': fputs ("&quot;", stdout); break;
    default:
      if ((unsigned char) *s < 0x20 && *s != '\t' && *s != '\n')
        printf ("&#x%x;", (unsigned char) *s);
      else
        putchar (*s);
    }
  }
}

static void
xml_el (int indent, const char *tag, const char *v)
{
  if (!v || !v[0])
    return;
  printf ("%*s<%s>", indent, "", tag);
  xml_text (v);
  printf ("</%s>\n", tag);
}

/* A guest path made valid UTF-8 for printing (a copy: the path itself
 * is kept to be read). */
static const char *
printable (const char *path)
{
  static char buf[GFS_MAX_PATH + 1];
  snprintf (buf, sizeof buf, "%s", path);
  gfs_utf8_fix (buf);
  return buf;
}

/* One <operatingsystem>, with the session's mount table set for it. */
static void
print_xml_os (struct gfs_session *s, struct gfs_os *os)
{
  {
    char num[32];
    printf ("  <operatingsystem>\n");
    xml_el (4, "root", os->root->dev->name);
    xml_el (4, "name", os->type);
    xml_el (4, "arch", os->arch);
    xml_el (4, "distro", os->distro);
    xml_el (4, "product_name", os->product_name);
    xml_el (4, "product_variant", os->product_variant);
    snprintf (num, sizeof num, "%d", os->major);
    xml_el (4, "major_version", num);
    snprintf (num, sizeof num, "%d", os->minor);
    xml_el (4, "minor_version", num);
    xml_el (4, "package_format", os->package_format);
    xml_el (4, "package_management", os->package_manager);
    xml_el (4, "hostname", os->hostname);
    xml_el (4, "osinfo", os->osinfo);
    printf ("    <mountpoints>\n");
    for (size_t k = 0; k < s->n_mounts; k++) {
      printf ("      <mountpoint dev=\"");
      xml_text (s->mounts[s->n_mounts - 1 - k].dev->dev->name);
      printf ("\">");
      xml_text (s->mounts[s->n_mounts - 1 - k].mountpoint);
      printf ("</mountpoint>\n");
    }
    printf ("    </mountpoints>\n    <filesystems>\n");
    /* the filesystems of this OS: its root and what its fstab names */
    for (size_t k = 0; k < s->n_devs; k++) {
      struct gfs_device *d = s->devs[k];
      if (!is_fs_row (d) || !gfs_os_has_device (os, d))
        continue;
      printf ("      <filesystem dev=\"");
      xml_text (d->dev->name);
      printf ("\">\n");
      xml_el (8, "type", d->vfs_type);
      xml_el (8, "label", d->label);
      xml_el (8, "uuid", d->uuid);
      printf ("      </filesystem>\n");
    }
    printf ("    </filesystems>\n");
    if (os->n_apps) {
      printf ("    <applications>\n");
      for (size_t k = 0; k < os->n_apps; k++) {
        struct gfs_app *a = &os->apps[k];
        printf ("      <application>\n");
        xml_el (8, "name", a->name);
        if (a->epoch && strcmp (a->epoch, "0"))
          xml_el (8, "epoch", a->epoch);
        xml_el (8, "version", a->version);
        xml_el (8, "release", a->release);
        xml_el (8, "arch", a->arch);
        xml_el (8, "url", a->url);
        xml_el (8, "summary", a->summary);
        xml_el (8, "description", a->description);
        printf ("      </application>\n");
      }
      printf ("    </applications>\n");
    }
    if (os->n_kernels) {
      printf ("    <kernels>\n");
      for (size_t k = 0; k < os->n_kernels; k++) {
        printf ("      <kernel>\n");
        xml_el (8, "version", os->kernels[k].version);
        xml_el (8, "vmlinuz", os->kernels[k].vmlinuz);
        xml_el (8, "initrd", os->kernels[k].initrd);
        printf ("      </kernel>\n");
      }
      printf ("    </kernels>\n");
    }
    if (os->n_boot) {
      printf ("    <bootentries>\n");
      for (size_t k = 0; k < os->n_boot; k++) {
        struct gfs_bootentry *b = &os->boot[k];
        printf ("      <bootentry>\n");
        xml_el (8, "file", b->file);
        xml_el (8, "title", b->title);
        xml_el (8, "version", b->version);
        xml_el (8, "linux", b->kernel);
        xml_el (8, "initrd", b->initrd);
        xml_el (8, "options", b->options);
        printf ("      </bootentry>\n");
      }
      printf ("    </bootentries>\n");
    }
    {
      /* what the guest boots by default (what 'vdk run IMAGE' boots) */
      struct gfs_boot b;
      if (gfs_boot_find (s, os, NULL, &b) == 0) {
        printf ("    <boot source=\"%s\">\n", gfs_boot_source_name (b.source));
        xml_el (6, "file", b.where);
        xml_el (6, "entry", b.entry);
        xml_el (6, "title", b.title);
        xml_el (6, "kernel", printable (b.kernel));
        for (size_t k = 0; k < b.n_initrds; k++)
          xml_el (6, "initrd", printable (b.initrds[k]));
        xml_el (6, "cmdline", b.cmdline);
        printf ("    </boot>\n");
        gfs_boot_free (&b);
      }
    }
    if (os->n_problems) {
      printf ("    <problems>\n");
      for (size_t k = 0; k < os->n_problems; k++)
        xml_el (6, "problem", os->problems[k]);
      printf ("    </problems>\n");
    }
    printf ("  </operatingsystem>\n");
  }
}

static void
jw_opt (struct jw *w, const char *k, const char *v)
{
  if (v && v[0])
    jw_str (w, k, v);
}

static void
print_json_os (struct gfs_session *s, struct jw *w, struct gfs_os *os)
{
  jw_obj (w, NULL);
  jw_str (w, "root", os->root->dev->name);
  jw_str (w, "name", os->type);
  jw_opt (w, "arch", os->arch);
  jw_opt (w, "distro", os->distro);
  jw_opt (w, "product_name", os->product_name);
  jw_opt (w, "product_variant", os->product_variant);
  jw_int (w, "major_version", os->major);
  jw_int (w, "minor_version", os->minor);
  jw_opt (w, "package_format", os->package_format);
  jw_opt (w, "package_management", os->package_manager);
  jw_opt (w, "hostname", os->hostname);
  jw_opt (w, "osinfo", os->osinfo);
  jw_arr (w, "mountpoints");
  for (size_t k = 0; k < s->n_mounts; k++) {
    jw_obj (w, NULL);
    jw_str (w, "dev", s->mounts[s->n_mounts - 1 - k].dev->dev->name);
    jw_str (w, "mountpoint", s->mounts[s->n_mounts - 1 - k].mountpoint);
    jw_obj_end (w);
  }
  jw_arr_end (w);
  jw_arr (w, "fstab");
  for (size_t k = 0; k < os->n_fstab; k++) {
    jw_obj (w, NULL);
    jw_str (w, "spec", os->fstab[k].spec);
    jw_str (w, "mountpoint", os->fstab[k].mountpoint);
    jw_str (w, "vfstype", os->fstab[k].vfstype);
    jw_opt (w, "device", os->fstab[k].device);
    jw_obj_end (w);
  }
  jw_arr_end (w);
  jw_arr (w, "filesystems");
  for (size_t k = 0; k < s->n_devs; k++) {
    struct gfs_device *d = s->devs[k];
    if (!is_fs_row (d) || !gfs_os_has_device (os, d))
      continue;
    jw_obj (w, NULL);
    jw_str (w, "dev", d->dev->name);
    jw_str (w, "type", d->vfs_type);
    jw_opt (w, "label", d->label);
    jw_opt (w, "uuid", d->uuid);
    jw_obj_end (w);
  }
  jw_arr_end (w);
  jw_arr (w, "applications");
  for (size_t k = 0; k < os->n_apps; k++) {
    struct gfs_app *a = &os->apps[k];
    jw_obj (w, NULL);
    jw_str (w, "name", a->name);
    jw_opt (w, "epoch", a->epoch);
    jw_opt (w, "version", a->version);
    jw_opt (w, "release", a->release);
    jw_opt (w, "arch", a->arch);
    jw_opt (w, "summary", a->summary);
    if (a->url)
      jw_opt (w, "url", a->url);
    if (a->description)
      jw_opt (w, "description", a->description);
    jw_obj_end (w);
  }
  jw_arr_end (w);
  jw_arr (w, "kernels");
  for (size_t k = 0; k < os->n_kernels; k++) {
    jw_obj (w, NULL);
    jw_str (w, "version", os->kernels[k].version);
    jw_str (w, "vmlinuz", os->kernels[k].vmlinuz);
    jw_opt (w, "initrd", os->kernels[k].initrd);
    jw_obj_end (w);
  }
  jw_arr_end (w);
  jw_arr (w, "bootentries");
  for (size_t k = 0; k < os->n_boot; k++) {
    struct gfs_bootentry *b = &os->boot[k];
    jw_obj (w, NULL);
    jw_str (w, "file", b->file);
    jw_opt (w, "title", b->title);
    jw_opt (w, "version", b->version);
    jw_opt (w, "linux", b->kernel);
    jw_opt (w, "initrd", b->initrd);
    jw_opt (w, "options", b->options);
    jw_obj_end (w);
  }
  jw_arr_end (w);
  {
    struct gfs_boot b;
    if (gfs_boot_find (s, os, NULL, &b) == 0) {
      jw_obj (w, "boot");
      jw_str (w, "source", gfs_boot_source_name (b.source));
      jw_str (w, "file", b.where);
      jw_str (w, "entry", b.entry);
      jw_opt (w, "title", b.title);
      jw_str (w, "kernel", printable (b.kernel));
      jw_arr (w, "initrds");
      for (size_t k = 0; k < b.n_initrds; k++)
        jw_str (w, NULL, printable (b.initrds[k]));
      jw_arr_end (w);
      jw_str (w, "cmdline", b.cmdline);
      jw_obj_end (w);
      gfs_boot_free (&b);
    }
  }
  jw_arr (w, "problems");
  for (size_t k = 0; k < os->n_problems; k++)
    jw_str (w, NULL, os->problems[k]);
  jw_arr_end (w);
  jw_obj_end (w);
}

int
cmd_inspect (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "add", required_argument, NULL, 'a' },
    { "format", required_argument, NULL, OPT_FORMAT },
    { "output", required_argument, NULL, OPT_OUTPUT },
    { NULL, 0, NULL, 0 },
  };
  struct guest_opts g = { 0 };
  struct gfs_session *s;
  struct gfs_os *oses;
  size_t n;
  bool json = false;
  int opt;

  while ((opt = getopt_long (argc, argv, "+a:", longopts, NULL)) != -1) {
    switch (opt) {
    case 'a': if (add_image ("inspect", &g, optarg)) return 1; break;
    case OPT_FORMAT: g.format = optarg; break;
    case OPT_OUTPUT:
      if (!strcmp (optarg, "json"))
        json = true;
      else if (strcmp (optarg, "xml"))
        return usage_error ("inspect", "--output must be xml or json");
      break;
    default: return usage_error ("inspect", "invalid option");
    }
  }
  if (optind < argc)
    return usage_error ("inspect", "unexpected argument '%s'", argv[optind]);
  if (g.n == 0)
    return usage_error ("inspect", "at least one -a IMAGE is required");
  if (open_session (&g, &s))
    return 1;
  if (gfs_inspect (s, &oses, &n) < 0) {
    gfs_session_free (s);
    return guest_fail ();
  }
  flush_warnings ();
  if (n == 0) {
    error ("no operating system was found in the guest");
    gfs_os_free (oses, n);
    gfs_session_free (s);
    return 1;
  }
  if (json) {
    struct jw w;
    jw_init (&w, stdout, true);
    jw_arr (&w, NULL);
    for (size_t i = 0; i < n; i++) {
      gfs_os_mount (s, &oses[i]);
      print_json_os (s, &w, &oses[i]);
    }
    jw_arr_end (&w);
    jw_end (&w);
  }
  else {
    printf ("<?xml version=\"1.0\"?>\n<operatingsystems>\n");
    for (size_t i = 0; i < n; i++) {
      gfs_os_mount (s, &oses[i]);
      print_xml_os (s, &oses[i]);
    }
    printf ("</operatingsystems>\n");
  }
  flush_warnings ();
  gfs_os_free (oses, n);
  gfs_session_free (s);
  return 0;
}

/* ---- get-kernel ---- */

static int
copy_out (struct gfs_session *s, const char *path, const char *dir)
{
  struct gfs_fs *fs;
  uint64_t ino, off = 0;
  struct gfs_stat st;
  char out[GFS_MAX_PATH];
  const char *base = strrchr (path, '/') + 1;
  char *buf;
  int fd, status = 0;

  if (gfs_resolve (s, path, true, &fs, &ino) < 0 || fs->ops->getattr (fs, ino, &st) < 0)
    return guest_fail ();
  snprintf (out, sizeof out, "%s/%s", dir, base);
  fd = open (out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    error ("%s: %s", out, strerror (errno));
    return 1;
  }
  buf = malloc (1 << 20);
  if (!buf) {
    close (fd);
    error ("out of memory");
    return 1;
  }
  while (off < st.size) {
    ssize_t n = fs->ops->read (fs, ino, buf, 1 << 20, off);
    if (n < 0) {
      status = guest_fail ();
      break;
    }
    if (n == 0)
      break;
    if (write (fd, buf, (size_t) n) != n) {
      error ("%s: %s", out, strerror (errno));
      status = 1;
      break;
    }
    off += (uint64_t) n;
  }
  free (buf);
  if (close (fd) < 0 && !status) {
    error ("%s: %s", out, strerror (errno));
    status = 1;
  }
  if (status)
    unlink (out);
  else
    printf ("%s -> %s\n", path, out);
  return status;
}

int
cmd_get_kernel (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "add", required_argument, NULL, 'a' },
    { "format", required_argument, NULL, OPT_FORMAT },
    { "output", required_argument, NULL, 'o' },
    { NULL, 0, NULL, 0 },
  };
  struct guest_opts g = { 0 };
  struct gfs_session *s;
  struct gfs_os *oses;
  size_t n;
  const char *dir = ".";
  int opt, status = 0;

  while ((opt = getopt_long (argc, argv, "+a:o:", longopts, NULL)) != -1) {
    switch (opt) {
    case 'a': if (add_image ("get-kernel", &g, optarg)) return 1; break;
    case OPT_FORMAT: g.format = optarg; break;
    case 'o': dir = optarg; break;
    default: return usage_error ("get-kernel", "invalid option");
    }
  }
  if (optind < argc)
    return usage_error ("get-kernel", "unexpected argument '%s'", argv[optind]);
  if (g.n == 0)
    return usage_error ("get-kernel", "at least one -a IMAGE is required");
  if (open_session (&g, &s))
    return 1;
  if (gfs_inspect (s, &oses, &n) < 0) {
    gfs_session_free (s);
    return guest_fail ();
  }
  flush_warnings ();
  if (n == 0 || oses[0].n_kernels == 0) {
    error (n == 0 ? "no operating system was found in the guest" : "no kernel found in /boot of %s",
           n ? oses[0].root->dev->name : "");
    status = 1;
  }
  else {
    /* kernels are sorted by version: the last is the newest */
    const struct gfs_kernel *k = &oses[0].kernels[oses[0].n_kernels - 1];
    gfs_os_mount (s, &oses[0]);
    status = copy_out (s, k->vmlinuz, dir);
    if (!status && k->initrd)
      status = copy_out (s, k->initrd, dir);
  }
  gfs_os_free (oses, n);
  gfs_session_free (s);
  return status;
}
