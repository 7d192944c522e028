/* vdk measure: how much host space an image needs, like qemu-img measure. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vdk.h"

enum { OPT_OUTPUT = 256, OPT_SIZE };

int
cmd_measure (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "output", required_argument, NULL, OPT_OUTPUT },
    { "size", required_argument, NULL, OPT_SIZE },
    { "force-share", no_argument, NULL, 'U' },
    { NULL, 0, NULL, 0 },
  };
  const char *fmt = NULL, *ofmt = "raw", *opts = NULL;
  enum output_format out = OUT_HUMAN;
  bool share = false, have_size = false;
  uint64_t size = 0, required, full;
  struct disk *src = NULL;
  int c, r;

  while ((c = getopt_long (argc, argv, "+f:O:o:U", longopts, NULL)) != -1) {
    switch (c) {
    case 'f': fmt = optarg; break;
    case 'O': ofmt = optarg; break;
    case 'o': opts = optarg; break;
    case 'U': share = true; break;
    case OPT_OUTPUT:
      if (parse_output (optarg, &out) < 0)
        return 1;
      break;
    case OPT_SIZE:
      if (parse_size_arg (optarg, &size, "image size") < 0)
        return 1;
      have_size = true;
      break;
    default: return usage_error ("measure", "invalid option");
    }
  }
  if (have_size == (optind < argc)) {
    error ("Either --size N or one filename must be specified.");
    return 1;
  }
  if (argc - optind > 1)
    return usage_error ("measure", "too many arguments");
  if (!have_size && disk_open (&src, argv[optind], fmt, share ? DISK_OPEN_FORCE_SHARE : 0,
                               NULL) < 0)
    return disk_fail ();
  r = disk_measure (ofmt, opts, size, src, &required, &full);
  if (src)
    disk_close (src);
  if (r < 0)
    return disk_fail ();
  if (out == OUT_JSON) {
    struct jw w;
    jw_init (&w, stdout, true);
    jw_obj (&w, NULL);
    jw_uint (&w, "required", required);
    jw_uint (&w, "fully-allocated", full);
    jw_obj_end (&w);
    jw_end (&w);
  }
  else {
    printf ("required size: %" PRIu64 "\n", required);
    printf ("fully allocated size: %" PRIu64 "\n", full);
  }
  return 0;
}
