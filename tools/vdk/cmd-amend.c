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

int
cmd_amend (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "format", required_argument, NULL, 'f' },
    { "quiet", no_argument, NULL, 'q' },
    { NULL, 0, NULL, 0 },
  };
  const char *fmt = NULL;
  char *opts = NULL;
  struct disk *d;
  int c, r;

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
  if (optind != argc - 1) {
    free (opts);
    return usage_error ("amend", optind >= argc ? "expecting an image" : "too many arguments");
  }
  r = disk_open (&d, argv[optind], fmt, DISK_OPEN_RDWR | DISK_OPEN_NO_BACKING, NULL);
  if (r < 0) {
    free (opts);
    return disk_fail ();
  }
  r = disk_amend (d, opts);
  free (opts);
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
    disk_close (d);
    return 1;
  }
  r = disk_close (d);
  return r < 0 ? disk_fail () : 0;
}
