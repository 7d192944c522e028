/* vdk create */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vdk.h"

static void
print_opt (void *opaque, const char *name, const char *type, const char *help,
           const char *defval)
{
  char left[128];
  (void) opaque;
  snprintf (left, sizeof left, "%s=<%s>", name, type);
  printf ("  %-24s - %s%s%s%s\n", left, help, defval ? " (default: " : "",
          defval ? defval : "", defval ? ")" : "");
}

/* Is "-o help" / "-o ?" asked? */
static bool
wants_help (const char *opts)
{
  return opts && (!strcmp (opts, "help") || !strcmp (opts, "?"));
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
  char *opts = NULL;
  bool quiet = false, unsafe = false;
  uint64_t size = 0;
  unsigned flags = 0;
  int c, r;

  while ((c = getopt_long (argc, argv, "+f:b:F:o:qu", longopts, NULL)) != -1) {
    switch (c) {
    case 'f': fmt = optarg; break;
    case 'b': backing = optarg; break;
    case 'F': bfmt = optarg; break;
    case 'o':
      if (opts && !wants_help (optarg)) {   /* several -o accumulate */
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
  if (wants_help (opts)) {
    printf ("Supported options:\n");
    r = disk_create_options (fmt, print_opt, NULL);
    free (opts);
    return r < 0 ? disk_fail () : 0;
  }
  if (optind >= argc) {
    free (opts);
    return usage_error ("create", "expecting a filename");
  }
  filename = argv[optind++];
  if (optind < argc) {
    if (parse_size_arg (argv[optind], &size, "image size") < 0) {
      free (opts);
      return 1;
    }
    optind++;
  }
  else if (!backing && !(opts && strstr (opts, "size="))) {
    free (opts);
    error ("%s: Image creation needs a size parameter", filename);
    return 1;
  }
  if (optind < argc) {
    free (opts);
    return usage_error ("create", "unexpected argument '%s'", argv[optind]);
  }
  if (unsafe)
    flags |= DISK_CREATE_NO_BACKING_CHECK;
  if (!quiet) {
    printf ("Formatting '%s', fmt=%s", filename, fmt);
    if (opts)
      printf (" %s", opts);
    printf (" size=%" PRIu64, size);
    if (backing)
      printf (" backing_file=%s", backing);
    if (bfmt)
      printf (" backing_fmt=%s", bfmt);
    printf ("\n");
    fflush (stdout);
  }
  r = disk_create (filename, fmt, size, opts, backing, bfmt, flags);
  free (opts);
  if (r < 0)
    return disk_fail ();
  return 0;
}
