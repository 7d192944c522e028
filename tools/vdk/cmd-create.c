/* vdk create */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vdk.h"

/* "-o help" as qemu-img prints it: "  name=<type>", padded to 24 columns,
 * " - help", sorted by name. */
struct help_lines {
  char *v[64];
  size_t n;
  const char *const *only;   /* NULL-terminated names to list, or NULL for all */
};

static void
collect_opt (void *opaque, const char *name, const char *type, const char *help,
             const char *defval)
{
  struct help_lines *h = opaque;
  const char *t = !strcmp (type, "string") ? "str" : !strcmp (type, "bool") ? "bool (on/off)"
    : !strcmp (type, "number") ? "num" : type;
  char left[128];
  int l;

  (void) defval;
  if (h->n >= sizeof h->v / sizeof h->v[0])
    return;
  if (h->only) {
    size_t i = 0;
    while (h->only[i] && strcmp (h->only[i], name))
      i++;
    if (!h->only[i])
      return;
  }
  l = snprintf (left, sizeof left, "  %s=<%s>", name, t);
  if (asprintf (&h->v[h->n], "%s%*s - %s", left, l < 24 ? 24 - l : 0, "", help) >= 0)
    h->n++;
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* An option list as qemu-img prints it: TITLE, then the options (those of
 * ONLY if set).  Without TITLE, create's -o help without an image name:
 * "Supported FMT options:" and the note on protocol options. */
int
print_option_help (const char *fmt, const char *title, const char *const *only)
{
  struct help_lines h = { .n = 0, .only = only };
  int r = disk_create_options (fmt, collect_opt, &h);

  if (r < 0)
    return disk_fail ();
  qsort (h.v, h.n, sizeof h.v[0], cmp_str);
  if (title)
    printf ("%s\n", title);
  else
    printf ("Supported %s options:\n", fmt);
  for (size_t i = 0; i < h.n; i++) {
    printf ("%s\n", h.v[i]);
    free (h.v[i]);
  }
  if (!title)
    printf ("\nThe protocol level may support further options.\n"
            "Specify the target filename to include those options.\n");
  return 0;
}

/* The "Formatting" line: qemu-img prints the create options of the format
 * in its own order, with the defaults it has, sizes and numbers as numbers
 * and commas in strings doubled. */
enum otype { O_STR, O_SIZE, O_NUM, O_BOOL };
struct fmt_opt { const char *name; enum otype type; const char *def; };
static const struct fmt_opt qcow2_order[] = {
  { "cluster_size", O_SIZE, "65536" }, { "extended_l2", O_BOOL, "off" },
  { "preallocation", O_STR, NULL }, { "compression_type", O_STR, "zlib" },
  { "size", O_SIZE, NULL }, { "compat", O_STR, NULL }, { "backing_file", O_STR, NULL },
  { "backing_fmt", O_STR, NULL }, { "data_file", O_STR, NULL },
  { "data_file_raw", O_BOOL, NULL }, { "lazy_refcounts", O_BOOL, "off" },
  { "refcount_bits", O_NUM, "16" }, { NULL, 0, NULL },
};
static const struct fmt_opt raw_order[] = {
  { "size", O_SIZE, NULL }, { "preallocation", O_STR, NULL }, { NULL, 0, NULL },
};
static const struct fmt_opt vmdk_order[] = {
  { "size", O_SIZE, NULL }, { "adapter_type", O_STR, NULL }, { "backing_file", O_STR, NULL },
  { "backing_fmt", O_STR, NULL }, { "compat6", O_BOOL, "off" },
  { "hwversion", O_STR, "undefined" }, { "toolsversion", O_STR, NULL },
  { "subformat", O_STR, NULL }, { "zeroed_grain", O_BOOL, NULL }, { NULL, 0, NULL },
};
static const struct fmt_opt vpc_order[] = {   /* backing_*: vdk's differencing images */
  { "size", O_SIZE, NULL }, { "subformat", O_STR, NULL }, { "force_size", O_BOOL, NULL },
  { "backing_file", O_STR, NULL }, { "backing_fmt", O_STR, NULL }, { NULL, 0, NULL },
};
static const struct fmt_opt vhdx_order[] = {
  { "size", O_SIZE, NULL }, { "log_size", O_SIZE, "1048576" }, { "block_size", O_SIZE, "0" },
  { "subformat", O_STR, NULL }, { "block_state_zero", O_BOOL, NULL },
  { "logical_sector_size", O_NUM, NULL }, { "backing_file", O_STR, NULL },
  { "backing_fmt", O_STR, NULL }, { NULL, 0, NULL },
};

/* The value of KEY in a qemu-style option string ("a=b,c=d", ",," is a
 * comma), the last one given, malloc'd; NULL if absent. */
static char *
opt_value (const char *opts, const char *key)
{
  char *found = NULL;
  size_t kl = strlen (key);
  const char *p = opts;

  while (p && *p) {
    const char *start = p;
    char *v, *w;
    while (*p && !(p[0] == ',' && p[1] != ','))
      p += p[0] == ',' ? 2 : 1;
    if (!strncmp (start, key, kl) && start[kl] == '=') {
      free (found);
      found = w = v = malloc (p - start);
      if (!v)
        return NULL;
      for (const char *q = start + kl + 1; q < p; q++) {
        *w++ = *q;
        if (q[0] == ',' && q + 1 < p && q[1] == ',')
          q++;
      }
      *w = 0;
    }
    if (*p == ',')
      p++;
  }
  return found;
}

static void
print_formatting (const char *filename, const char *fmt, const char *opts, uint64_t size,
                  const char *backing, const char *bfmt)
{
  const struct fmt_opt *order = !strcmp (fmt, "qcow2") ? qcow2_order
    : !strcmp (fmt, "raw") ? raw_order : !strcmp (fmt, "vmdk") ? vmdk_order
    : !strcmp (fmt, "vpc") ? vpc_order : !strcmp (fmt, "vhdx") ? vhdx_order : raw_order;

  printf ("Formatting '%s', fmt=%s", filename, fmt);
  for (const struct fmt_opt *o = order; o->name; o++) {
    char *v = opt_value (opts, o->name);
    const char *val = v;
    char num[32];
    if (!strcmp (o->name, "size")) {
      snprintf (num, sizeof num, "%" PRIu64, size);
      val = num;
    }
    else if (!strcmp (o->name, "backing_file") && backing)
      val = backing;
    else if (!strcmp (o->name, "backing_fmt") && bfmt)
      val = bfmt;
    else if (v && (o->type == O_SIZE || o->type == O_NUM)) {
      uint64_t n;
      if (disk_parse_size (v, &n) == 0) {
        snprintf (num, sizeof num, "%" PRIu64, n);
        val = num;
      }
    }
    if (!val)
      val = o->def;
    if (val) {
      printf (" %s=", o->name);
      for (const char *c = val; *c; c++) {
        if (*c == ',' && o->type == O_STR)
          putchar (',');
        putchar (*c);
      }
    }
    free (v);
  }
  printf ("\n");
  fflush (stdout);
}

static void
ignore_opt (void *opaque, const char *name, const char *type, const char *help,
            const char *defval)
{
  (void) opaque, (void) name, (void) type, (void) help, (void) defval;
}

struct known {
  char *name;
  bool found;
};

static void
find_opt (void *opaque, const char *name, const char *type, const char *help,
          const char *defval)
{
  struct known *k = opaque;
  (void) type, (void) help, (void) defval;
  if (!strcmp (name, k->name))
    k->found = true;
}

/* qemu-img prefixes create's errors with the image name. */
static int
create_fail (const char *filename)
{
  const char *m = disk_last_error ();
  size_t l = strlen (filename);

  disk_take_warnings ();   /* one line: the error */
  if (!strncmp (m, filename, l) && m[l] == ':')
    error ("%s", m);
  else
    error ("%s: %s", filename, m);
  return 1;
}

/* The backing file as the new image will see it: relative to its directory. */
static char *
backing_path (const char *filename, const char *backing)
{
  const char *slash = strrchr (filename, '/');
  char *p;

  if (backing[0] == '/' || strstr (backing, "://") || !slash)
    return strdup (backing);
  if (asprintf (&p, "%.*s/%s", (int) (slash - filename), filename, backing) < 0)
    return NULL;
  return p;
}

int
cmd_create (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "help", no_argument, NULL, 'h' },
    { "format", required_argument, NULL, 'f' },
    { "backing", required_argument, NULL, 'b' },
    { "backing-format", required_argument, NULL, 'F' },
    { "options", required_argument, NULL, 'o' },
    { "quiet", no_argument, NULL, 'q' },
    { NULL, 0, NULL, 0 },
  };
  const char *fmt = "raw", *backing = NULL, *bfmt = NULL, *filename;
  bool bfmt_alone = false;
  char *opts = NULL, *sz, *backing_opt = NULL, *bfmt_opt = NULL;
  bool quiet = false, unsafe = false;
  int rc = 1;
  uint64_t size = 0;
  unsigned flags = 0;
  int c, r;

  while ((c = getopt_long (argc, argv, "f:b:F:o:qu", longopts, NULL)) != -1) {
    switch (c) {
    case 'f': fmt = optarg; break;
    case 'b': backing = optarg; break;
    case 'F': bfmt = optarg; break;
    case 'o':
      if (opts) {                         /* several -o accumulate */
        char *n;
        if (asprintf (&n, "%s,%s", opts, optarg) < 0)
          return 1;
        free (opts);
        opts = n;
      }
      else {
        free (opts);
        opts = strdup (optarg);
      }
      break;
    case 'q': quiet = true; break;
    case 'u': unsafe = true; break;
    default:
      return usage_error ("create", "invalid option");
    }
  }
  if (opts_want_help (opts)) {
    /* like qemu-img: with an image name, one list under "Supported options:" */
    r = print_option_help (fmt, optind < argc ? "Supported options:" : NULL, NULL);
    free (opts);
    return r;
  }
  if (optind >= argc) {
    free (opts);
    return usage_error ("create", "Expecting image file name");
  }
  filename = argv[optind++];
  if (optind < argc) {
    if (parse_size_arg (argv[optind], &size, "image size") < 0) {
      free (opts);
      return 1;
    }
    optind++;
  }
  else if ((sz = opt_value (opts, "size"))) {
    r = parse_size_arg (sz, &size, "image size");
    free (sz);
    if (r < 0) {
      free (opts);
      return 1;
    }
  }
  else if (!backing && !(sz = opt_value (opts, "backing_file"))) {
    free (opts);
    error ("%s: Image creation needs a size parameter", filename);
    return 1;
  }
  else if (!backing)
    free (sz);
  if (optind < argc) {
    free (opts);
    return usage_error ("create", "Unexpected argument: %s", argv[optind]);
  }
  if (unsafe)
    flags |= DISK_CREATE_NO_BACKING_CHECK;
  if (!backing && (sz = opt_value (opts, "backing_file")))
    backing = backing_opt = sz;
  if (!bfmt && (sz = opt_value (opts, "backing_fmt")))
    bfmt = bfmt_opt = sz;
  if (disk_create_options (fmt, ignore_opt, NULL) < 0) {
    rc = create_fail (filename);
    goto out;
  }
  for (const char *p = opts; p && *p; ) {   /* unknown options: before anything else */
    const char *start = p, *eq;
    struct known k = { NULL, false };
    while (*p && !(p[0] == ',' && p[1] != ','))
      p += p[0] == ',' ? 2 : 1;
    eq = memchr (start, '=', p - start);
    if (asprintf (&k.name, "%.*s", (int) ((eq ? eq : p) - start), start) < 0)
      goto out;
    disk_create_options (fmt, find_opt, &k);
    if (!k.found) {
      error ("%s: Invalid parameter '%s'", filename, k.name);
      free (k.name);
      goto out;
    }
    free (k.name);
    if (*p == ',')
      p++;
  }
  if (backing) {
    struct known k = { (char *) "backing_file", false };
    disk_create_options (fmt, find_opt, &k);
    if (!k.found) {
      error ("%s: Backing file not supported for file format '%s'", filename, fmt);
      goto out;
    }
    if (!backing[0]) {
      error ("%s: Expected backing file name, got empty string", filename);
      goto out;
    }
  }
  else if (bfmt) {
    /* qemu-img: a backing format alone is refused */
    struct known k = { (char *) "backing_fmt", false };
    disk_create_options (fmt, find_opt, &k);
    if (!k.found) {
      error ("%s: Backing file format not supported for file format '%s'", filename, fmt);
      goto out;
    }
    bfmt_alone = !strcmp (fmt, "qcow2");   /* the qcow2 driver's check */
  }
  if (backing && backing[0] && (!unsafe || (!bfmt && !strcmp (fmt, "qcow2")))) {
    /* Like qemu-img: open the backing file (its size is the default), and
     * a qcow2 image must name its format.  vmdk, vpc and vhdx parents can
     * only be of their own format, so nothing is probed for them. */
    struct disk *b = NULL;
    char *path = backing_path (filename, backing);
    if (!path) {
      error ("out of memory");
      goto out;
    }
    if (!unsafe && disk_open (&b, path, bfmt, DISK_OPEN_NO_LOCK, NULL) < 0) {
      /* qemu-img: "Could not open 'NAME': why" and a hint line */
      const char *m = disk_last_error ();
      size_t l = strlen (path);
      if (!strncmp (m, path, l) && !strncmp (m + l, ": ", 2))
        error ("%s: Could not open '%s': %s", filename, path, m + l + 2);
      else
        error ("%s: %s", filename, m);
      fprintf (stderr, "Could not open backing image.\n");
      free (path);
      goto out;
    }
    free (path);
    if (!bfmt && !strcmp (fmt, "qcow2")) {
      error ("%s: Backing file specified without backing format", filename);
      if (b)
        fprintf (stderr, "Detected format of %s.\n", disk_get_format (b));
      disk_close (b);
      goto out;
    }
    if (b && size == 0)
      size = disk_get_size (b);
    disk_close (b);
  }
  if (!quiet)
    print_formatting (filename, fmt, opts, size, backing, bfmt);
  if (bfmt_alone) {
    error ("%s: Backing format cannot be used without backing file", filename);
    goto out;
  }
  r = disk_create (filename, fmt, size, opts, backing_opt ? NULL : backing,
                   bfmt_opt ? NULL : bfmt, flags);
  if (r < 0) {
    rc = create_fail (filename);
    goto out;
  }
  rc = 0;
 out:
  free (opts);
  free (backing_opt);
  free (bfmt_opt);
  return rc;
}
