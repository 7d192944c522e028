/* vdk resize */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vdk.h"

enum { OPT_SHRINK = 256, OPT_PREALLOC };

int
cmd_resize (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "format", required_argument, NULL, 'f' },
    { "shrink", no_argument, NULL, OPT_SHRINK },
    { "preallocation", required_argument, NULL, OPT_PREALLOC },
    { "quiet", no_argument, NULL, 'q' },
    { NULL, 0, NULL, 0 },
  };
  const char *fmt = NULL, *prealloc = NULL, *sizearg;
  bool shrink = false, quiet = false;
  int sign = 0, c, r;
  uint64_t delta, cur, size;
  struct disk *d;

  /* The size is always the last argument (like qemu-img), so "-1G" is not
   * taken for an option. */
  if (argc < 3)
    return usage_error ("resize", "Not enough arguments");
  sizearg = argv[--argc];
  while ((c = getopt_long (argc, argv, "+f:q", longopts, NULL)) != -1) {
    switch (c) {
    case 'f': fmt = optarg; break;
    case 'q': quiet = true; break;
    case OPT_SHRINK: shrink = true; break;
    case OPT_PREALLOC:
      prealloc = optarg;
      if (strcmp (prealloc, "off") && strcmp (prealloc, "metadata") &&
          strcmp (prealloc, "falloc") && strcmp (prealloc, "full")) {
        error ("Invalid preallocation mode '%s'", prealloc);
        return 1;
      }
      break;
    default: return usage_error ("resize", "invalid option");
    }
  }
  if (optind < argc && !strcmp (argv[optind], "--"))
    optind++;
  if (argc - optind == 2 && !strcmp (argv[optind + 1], "--"))
    argc--;
  if (argc - optind != 1)
    return usage_error ("resize", "expecting an image and a size");
  if (sizearg[0] == '+' || sizearg[0] == '-') {
    sign = sizearg[0] == '+' ? 1 : -1;
    sizearg++;
  }
  if (parse_size_arg (sizearg, &delta, "new size") < 0)
    return 1;
  r = disk_open (&d, argv[optind], fmt, DISK_OPEN_RDWR, NULL);
  if (r < 0)
    return disk_fail ();
  cur = disk_get_size (d);
  if (sign > 0) {
    if (delta > (1ULL << 60) - cur) {
      disk_close (d);
      error ("new image size is too large");
      return 1;
    }
    size = cur + delta;
  }
  else if (sign < 0) {
    size = delta >= cur ? 0 : cur - delta;
  }
  else
    size = delta;
  if (size == 0) {
    disk_close (d);
    error ("New image size must be positive");
    return 1;
  }
  if (size <= cur && prealloc && strcmp (prealloc, "off")) {
    disk_close (d);
    error ("Preallocation can only be used for growing images");
    return 1;
  }
  if (size < cur && !shrink) {
    disk_close (d);
    error ("Use the --shrink option to perform a shrink operation.");
    warning ("Shrinking an image will delete all data beyond the shrunken image's end. "
             "Before performing such an operation, make sure there is no important data there.");
    return 1;
  }
  r = disk_truncate (d, size, prealloc, shrink ? DISK_TRUNCATE_SHRINK : 0);
  if (r < 0) {
    disk_fail ();
    disk_close (d);
    return 1;
  }
  r = disk_close (d);
  if (r < 0)
    return disk_fail ();
  if (!quiet)
    printf ("Image resized.\n");
  return 0;
}
