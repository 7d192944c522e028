/* vdk check: metadata consistency check and repair, as qemu-img check. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vdk.h"

enum { OPT_OUTPUT = 256 };

static void
report_line (void *opaque, const char *msg)
{
  (void) opaque;
  fprintf (stderr, "%s\n", msg);
}

static void
print_human (const struct disk_check_result *c)
{
  if (!(c->corruptions || c->leaks || c->check_errors))
    printf ("No errors were found on the image.\n");
  else {
    if (c->corruptions)
      printf ("\n%" PRId64 " errors were found on the image.\n"
              "Data may be corrupted, or further writes to the image may corrupt it.\n",
              c->corruptions);
    if (c->leaks)
      printf ("\n%" PRId64 " leaked clusters were found on the image.\n"
              "This means waste of disk space, but no harm to data.\n", c->leaks);
    if (c->check_errors)
      printf ("\n%" PRId64 " internal errors have occurred during the check.\n",
              c->check_errors);
  }
  if (c->total_clusters != 0 && c->allocated_clusters != 0)
    printf ("%" PRId64 "/%" PRId64 " = %0.2f%% allocated, %0.2f%% fragmented, %0.2f%% compressed"
            " clusters\n", c->allocated_clusters, c->total_clusters,
            c->allocated_clusters * 100.0 / c->total_clusters,
            c->fragmented_clusters * 100.0 / c->allocated_clusters,
            c->compressed_clusters * 100.0 / c->allocated_clusters);
  if (c->image_end_offset)
    printf ("Image end offset: %" PRId64 "\n", c->image_end_offset);
}

/* Key order as qemu-img prints it. */
static void
print_json (const struct disk_check_result *c, const char *filename, const char *format)
{
  struct jw w;
  jw_init (&w, stdout, true);
  jw_obj (&w, NULL);
  if (c->image_end_offset)
    jw_int (&w, "image-end-offset", c->image_end_offset);
  if (c->compressed_clusters)
    jw_int (&w, "compressed-clusters", c->compressed_clusters);
  if (c->total_clusters)
    jw_int (&w, "total-clusters", c->total_clusters);
  if (c->corruptions)
    jw_int (&w, "corruptions", c->corruptions);
  jw_int (&w, "check-errors", c->check_errors);
  if (c->leaks)
    jw_int (&w, "leaks", c->leaks);
  if (c->corruptions_fixed)
    jw_int (&w, "corruptions-fixed", c->corruptions_fixed);
  if (c->leaks_fixed)
    jw_int (&w, "leaks-fixed", c->leaks_fixed);
  if (c->total_clusters)
    jw_int (&w, "allocated-clusters", c->allocated_clusters);
  jw_str (&w, "filename", filename);
  jw_str (&w, "format", format);
  if (c->fragmented_clusters)
    jw_int (&w, "fragmented-clusters", c->fragmented_clusters);
  jw_obj_end (&w);
  jw_end (&w);
}

int
cmd_check (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "format", required_argument, NULL, 'f' },
    { "repair", required_argument, NULL, 'r' },
    { "output", required_argument, NULL, OPT_OUTPUT },
    { "force-share", no_argument, NULL, 'U' },
    { "quiet", no_argument, NULL, 'q' },
    { NULL, 0, NULL, 0 },
  };
  const char *fmt = NULL, *scache = NULL;
  enum output_format out = OUT_HUMAN;
  bool share = false, quiet = false;
  unsigned fix = 0, flags;
  struct disk_check_result res;
  struct disk *d;
  int c, r;

  while ((c = getopt_long (argc, argv, "f:r:T:qU", longopts, NULL)) != -1) {
    switch (c) {
    case 'f': fmt = optarg; break;
    case 'U': share = true; break;
    case 'q': quiet = true; break;
    case 'T': scache = optarg; break;   /* checked; the default is fine for a check */
    case 'r':
      if (!strcmp (optarg, "leaks"))
        fix = DISK_CHECK_FIX_LEAKS;
      else if (!strcmp (optarg, "all"))
        fix = DISK_CHECK_FIX_LEAKS | DISK_CHECK_FIX_ERRORS;
      else
        return usage_error ("check", "Unknown option value for -r (expecting 'leaks' or"
                            " 'all'): %s", optarg);
      break;
    case OPT_OUTPUT:
      if (parse_output (optarg, &out) < 0)
        return 1;
      break;
    default: return usage_error ("check", "invalid option");
    }
  }
  if (optind != argc - 1)
    return usage_error ("check", "Expecting one image file name");
  if (scache && !cache_mode_valid (scache)) {
    error ("Invalid source cache option: %s", scache);
    return 1;
  }
  if (fix && share) {
    error ("cannot repair with -U (force share)");
    return 1;
  }
  flags = DISK_OPEN_NO_BACKING | (fix ? DISK_OPEN_RDWR : 0) | (share ? DISK_OPEN_FORCE_SHARE : 0);
  r = disk_open (&d, argv[optind], fmt, flags, NULL);
  if (r < 0)
    return disk_fail ();
  r = disk_check (d, fix, &res, report_line, NULL);
  if (r == -ENOTSUP) {
    error ("This image format does not support checks");
    disk_close (d);
    return 63;
  }
  if (r == 0 && (res.corruptions_fixed || res.leaks_fixed)) {
    int64_t cf = res.corruptions_fixed, lf = res.leaks_fixed;
    if (out == OUT_HUMAN && !quiet)
      printf ("The following inconsistencies were found and repaired:\n\n"
              "    %" PRId64 " leaked clusters\n    %" PRId64 " corruptions\n\n"
              "Double checking the fixed image now...\n", lf, cf);
    r = disk_check (d, 0, &res, report_line, NULL);
    res.corruptions_fixed = cf;
    res.leaks_fixed = lf;
  }
  if (r == 0) {
    if (out == OUT_JSON)
      print_json (&res, disk_get_filename (d), disk_get_format (d));
    else if (!quiet)
      print_human (&res);
  }
  if (r < 0 || res.check_errors) {
    if (r < 0)
      error ("Check failed: %s", disk_last_error ());
    else
      error ("Check failed");
    disk_close (d);
    return 1;
  }
  r = disk_close (d);
  if (r < 0)
    return disk_fail ();
  return res.corruptions ? 2 : res.leaks ? 3 : 0;
}
