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
  const char *fmt = NULL, *ofmt = "raw";
  char *opts = NULL;
  enum output_format out = OUT_HUMAN;
  bool share = false, have_size = false;
  uint64_t size = 0;
  struct disk_measure_result res;
  struct snapshot_sel snap = { 0 };
  struct disk *src = NULL;
  int c, r, rc = 1;

  while ((c = getopt_long (argc, argv, "f:O:o:l:U", longopts, NULL)) != -1) {
    switch (c) {
    case 'f': fmt = optarg; break;
    case 'O': ofmt = optarg; break;
    case 'o':
      if (opts) {   /* several -o accumulate, as in qemu-img */
        char *n2;
        if (asprintf (&n2, "%s,%s", opts, optarg) < 0)
          goto out;
        free (opts);
        opts = n2;
      }
      else if (!(opts = strdup (optarg)))
        goto out;
      break;
    case 'l':
      snapshot_sel_free (&snap);
      if (parse_snapshot_param (optarg, &snap) < 0)
        goto out;
      break;
    case 'U': share = true; break;
    case OPT_OUTPUT:
      if (parse_output (optarg, &out) < 0)
        goto out;
      break;
    case OPT_SIZE:
      if (parse_size_arg (optarg, &size, "image size") < 0)
        goto out;
      have_size = true;
      break;
    default:
      rc = usage_error ("measure", "invalid option");
      goto out;
    }
  }
  /* qemu-img's checks and messages */
  if (argc - optind > 1) {
    error ("At most one filename argument is allowed.");
    goto out;
  }
  if (have_size && optind < argc) {
    error ("--size N cannot be used together with a filename.");
    goto out;
  }
  if (!have_size && optind == argc) {
    error ("Either --size N or one filename must be specified.");
    goto out;
  }
  if (have_size && (fmt || snapshot_sel_given (&snap))) {
    error ("--image-opts, -f, and -l require a filename argument.");
    goto out;
  }
  if (!have_size) {
    if (disk_open (&src, argv[optind], fmt, share ? DISK_OPEN_FORCE_SHARE : 0, NULL) < 0) {
      disk_fail ();
      goto out;
    }
    if (load_snapshot (src, &snap) < 0)
      goto out;
  }
  r = disk_measure_ex (ofmt, opts, size, src, &res);
  if (r < 0) {
    disk_fail ();
    goto out;
  }
  if (out == OUT_JSON) {
    /* qemu-img prints its dictionary in this order */
    struct jw w;
    jw_init (&w, stdout, true);
    jw_obj (&w, NULL);
    if (res.has_bitmaps)
      jw_uint (&w, "bitmaps", res.bitmaps);
    jw_uint (&w, "required", res.required);
    jw_uint (&w, "fully-allocated", res.fully_allocated);
    jw_obj_end (&w);
    jw_end (&w);
  }
  else {
    printf ("required size: %" PRIu64 "\n", res.required);
    printf ("fully allocated size: %" PRIu64 "\n", res.fully_allocated);
    if (res.has_bitmaps)
      printf ("bitmaps size: %" PRIu64 "\n", res.bitmaps);
  }
  rc = 0;
 out:
  if (src)
    disk_close (src);
  snapshot_sel_free (&snap);
  free (opts);
  return rc;
}
