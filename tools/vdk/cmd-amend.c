/* vdk amend: change format options of an existing image. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "vdk.h"

struct amend_probe { const char *name; bool found; };

static void
amend_probe_opt (void *opaque, const char *name, const char *type, const char *help,
                 const char *defval)
{
  struct amend_probe *p = opaque;
  (void) type, (void) help, (void) defval;
  if (!strcmp (name, p->name))
    p->found = true;
}

/* The options amend takes, as qemu-img lists them (only qcow2 has amend):
 * those the qcow2 driver changes and those this command handles (size,
 * and the backing file, which may only be repeated unchanged). */
static const char *const qcow2_amend_opts[] = {
  "backing_file", "backing_fmt", "compat", "lazy_refcounts", "refcount_bits", "size", NULL
};

/* Take the options this command handles out of OPTS (key=value,...
 * with ",," for a comma in a value); the rest goes to the driver.  HELP is
 * set for "help" or "?" anywhere, like qemu-img. */
static int
split_opts (const char *opts, char **rest, char **size, char **bfile, char **bfmt, bool *help)
{
  size_t cap = strlen (opts) + 1, rl = 0;
  const char *p = opts;

  *rest = calloc (1, cap);
  if (!*rest)
    return -1;
  while (*p) {
    const char *start = p, *eq;
    char key[64];
    char **slot = NULL;
    size_t klen;
    while (*p && !(p[0] == ',' && p[1] != ','))
      p += p[0] == ',' ? 2 : 1;
    eq = memchr (start, '=', p - start);
    klen = (eq ? eq : p) - start;
    snprintf (key, sizeof key, "%.*s", (int) klen, start);
    if (!eq && (!strcmp (key, "help") || !strcmp (key, "?")))
      *help = true;
    else if (eq && !strcmp (key, "size"))
      slot = size;
    else if (eq && !strcmp (key, "backing_file"))
      slot = bfile;
    else if (eq && !strcmp (key, "backing_fmt"))
      slot = bfmt;
    if (slot) {
      /* the value, with ",," unescaped */
      size_t j = 0;
      free (*slot);
      *slot = malloc (p - eq);
      if (!*slot)
        return -1;
      for (const char *q = eq + 1; q < p; q++) {
        (*slot)[j++] = *q;
        if (q[0] == ',' && q + 1 < p && q[1] == ',')
          q++;
      }
      (*slot)[j] = 0;
    }
    else if (!*help || eq) {
      if (rl)
        (*rest)[rl++] = ',';
      memcpy (*rest + rl, start, p - start);
      rl += p - start;
    }
    if (*p == ',')
      p++;
  }
  return 0;
}

static bool
str_differs (const char *a, const char *b)
{
  return (a == NULL) != (b == NULL) || (a && strcmp (a, b));
}

int
cmd_amend (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "format", required_argument, NULL, 'f' },
    { "quiet", no_argument, NULL, 'q' },
    { NULL, 0, NULL, 0 },
  };
  const char *fmt = NULL;
  char *opts = NULL, *rest = NULL, *size_s = NULL, *bfile = NULL, *bfmt = NULL;
  bool help = false;
  struct disk *d = NULL;
  int c, r, rc = 1;

  while ((c = getopt_long (argc, argv, "f:o:q", longopts, NULL)) != -1) {
    switch (c) {
    case 'f': fmt = optarg; break;
    case 'q': break;
    case 'o': {
      /* several -o accumulate */
      char *n;
      if (asprintf (&n, "%s%s%s", opts ? opts : "", opts ? "," : "", optarg) < 0) {
        free (opts);
        error ("out of memory");
        return 1;
      }
      free (opts);
      opts = n;
      break;
    }
    default:
      free (opts);
      return usage_error ("amend", "invalid option");
    }
  }
  if (!opts)
    return usage_error ("amend", "Must specify options (-o)");
  if (split_opts (opts, &rest, &size_s, &bfile, &bfmt, &help) < 0) {
    error ("out of memory");
    goto out;
  }
  if (help && fmt && optind == argc) {
    /* qemu-img amend -f FMT -o help needs no image */
    struct amend_probe probe = { "", false };
    if (disk_create_options (fmt, amend_probe_opt, &probe) < 0) {
      disk_fail ();
      goto out;
    }
  }
  else if (optind != argc - 1) {
    error ("Expecting one image file name");
    goto out;
  }
  else {
    r = disk_open (&d, argv[optind], fmt, (help ? 0 : DISK_OPEN_RDWR) | DISK_OPEN_NO_BACKING,
                   NULL);
    if (r < 0) {
      disk_fail ();
      goto out;
    }
    fmt = disk_get_format (d);
  }
  if (strcmp (fmt, "qcow2")) {
    error ("Format driver '%s' does not support option amendment", fmt);
    goto out;
  }
  if (help) {
    char title[64];
    snprintf (title, sizeof title, "Amend options for '%s':", fmt);
    rc = print_option_help (fmt, title, qcow2_amend_opts);
    goto out;
  }
  if (bfile || bfmt) {
    struct disk_info *info;
    bool differs;
    if (disk_get_info (d, 0, &info) < 0) {
      disk_fail ();
      goto out;
    }
    differs = str_differs (bfile, info->backing_filename) ||
              str_differs (bfmt, info->backing_format);
    disk_info_free (info);
    if (differs) {
      error ("Cannot amend the backing file");
      fprintf (stderr, "You can use '%s rebase' instead.\n", progname);
      goto out;
    }
  }
  uint64_t size = 0;
  if (size_s && parse_size_arg (size_s, &size, "new size") < 0)
    goto out;
  if (*rest) {
    r = disk_amend (d, rest);
    if (r < 0) {
      /* qemu-img's words for an option amend does not take */
      const char *m = strstr (disk_last_error (), "does not support the option '");
      if (m) {
        char name[128];
        struct amend_probe p = { name, false };
        snprintf (name, sizeof name, "%s", m + strlen ("does not support the option '"));
        if (strchr (name, '\''))
          *strchr (name, '\'') = 0;
        disk_create_options (disk_get_format (d), amend_probe_opt, &p);
        error ("Invalid parameter '%s'", name);
        if (p.found)
          fprintf (stderr, "This option is only supported for image creation\n");
      }
      else
        disk_fail ();
      goto out;
    }
  }
  /* size=0 means no change, as in qemu-img; a smaller size shrinks */
  if (size && size != (uint64_t) disk_get_size (d) &&
      disk_truncate (d, size, NULL, DISK_TRUNCATE_SHRINK) < 0) {
    disk_fail ();
    goto out;
  }
  r = disk_close (d);
  d = NULL;
  if (r < 0) {
    disk_fail ();
    goto out;
  }
  rc = 0;
 out:
  if (d)
    disk_close (d);
  free (opts);
  free (rest);
  free (size_s);
  free (bfile);
  free (bfmt);
  return rc;
}
