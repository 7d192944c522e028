/* vdk sparsify: give back the space of zero-filled blocks, in place or into a
 * copy, for any format (no filesystem knowledge, like virt-sparsify
 * --in-place without the fstrim step). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vdk.h"

enum { OPT_IN_PLACE = 256 };

#define BUFSZ (2u << 20)

static int
sparsify_in_place (const char *image, const char *fmt, uint64_t gran, bool quiet, bool progress)
{
  struct disk *d;
  uint8_t *buf = NULL;
  uint64_t size, off, released = 0;
  int rc = 1;

  if (disk_open (&d, image, fmt, DISK_OPEN_RDWR, NULL) < 0)
    return disk_fail ();
  if (!gran)
    gran = disk_get_cluster_size (d) ? disk_get_cluster_size (d) : 4096;
  if (gran > BUFSZ || BUFSZ % gran) {
    error ("the block size must divide %u", BUFSZ);
    goto out;
  }
  buf = aligned_alloc (4096, BUFSZ);
  if (!buf) {
    error ("out of memory");
    goto out;
  }
  size = disk_get_size (d);
  progress_init (progress && !quiet ? PROGRESS_HUMAN : PROGRESS_NONE);
  for (off = 0; off < size;) {
    struct disk_status st;
    uint64_t len = size - off > BUFSZ - off % BUFSZ ? BUFSZ - off % BUFSZ : size - off;
    if (disk_block_status (d, off, len, 0, &st) < 0) {
      disk_fail ();
      goto out;
    }
    len = st.length;
    if ((st.flags & DISK_STATUS_DATA) && (st.flags & DISK_STATUS_ALLOCATED)) {
      if (disk_pread (d, buf, len, off) < 0) {
        disk_fail ();
        goto out;
      }
      /* Whole aligned blocks of zeroes only. */
      for (uint64_t b = off - off % gran; b < off + len; b += gran) {
        uint64_t s = b < off ? off : b, e = b + gran > off + len ? off + len : b + gran;
        if (s != b || e != b + gran)
          continue;
        if (disk_is_zero_buf (buf + (s - off), gran)) {
          int r = disk_write_zeroes (d, s, gran, DISK_MAY_UNMAP | DISK_NO_FALLBACK);
          if (r == -ENOTSUP) {
            error ("%s: the %s format cannot release space in place; sparsify into a copy",
                   image, disk_get_format (d));
            goto out;
          }
          if (r < 0) {
            disk_fail ();
            goto out;
          }
          released += gran;
        }
      }
    }
    off += len;
    progress_update (off, size);
  }
  progress_finish ();
  if (disk_close (d) < 0) {
    d = NULL;
    disk_fail ();
    goto out;
  }
  d = NULL;
  if (!quiet)
    printf ("Released %" PRIu64 " bytes of zero blocks.\n", released);
  rc = 0;
 out:
  progress_finish ();
  free (buf);
  if (d)
    disk_close (d);
  return rc;
}

int
cmd_sparsify (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "in-place", no_argument, NULL, OPT_IN_PLACE },
    { NULL, 0, NULL, 0 },
  };
  const char *fmt = NULL, *ofmt = NULL, *opts = NULL, *sparse = NULL;
  bool in_place = false, quiet = false, progress = false;
  uint64_t gran = 0;
  int c;

  while ((c = getopt_long (argc, argv, "+f:O:o:S:qp", longopts, NULL)) != -1) {
    switch (c) {
    case 'f': fmt = optarg; break;
    case 'O': ofmt = optarg; break;
    case 'o': opts = optarg; break;
    case 'S':
      sparse = optarg;
      if (parse_size_arg (optarg, &gran, "block size") < 0)
        return 1;
      if (gran < 512 || gran % 512) {
        error ("-S must be a multiple of 512 bytes");
        return 1;
      }
      break;
    case 'q': quiet = true; break;
    case 'p': progress = true; break;
    case OPT_IN_PLACE: in_place = true; break;
    default: return usage_error ("sparsify", "invalid option");
    }
  }
  if (in_place) {
    if (argc - optind != 1)
      return usage_error ("sparsify", "--in-place takes one image");
    if (ofmt || opts)
      return usage_error ("sparsify", "-O and -o need an output image");
    return sparsify_in_place (argv[optind], fmt, gran, quiet, progress);
  }
  if (argc - optind != 2)
    return usage_error ("sparsify", "expecting an image and an output (or --in-place IMAGE)");
  /* A copy: convert with zero detection does exactly this. */
  {
    char *av[16], *probed = NULL;
    int ac = 0, rc;
    struct disk *d;
    av[ac++] = "convert";
    if (fmt) { av[ac++] = "-f"; av[ac++] = (char *) fmt; }
    if (!ofmt) {
      if (disk_open (&d, argv[optind], fmt, DISK_OPEN_FORCE_SHARE, NULL) < 0)
        return disk_fail ();
      probed = strdup (disk_get_format (d));
      disk_close (d);
      if (!probed) {
        error ("out of memory");
        return 1;
      }
      ofmt = probed;
    }
    av[ac++] = "-O"; av[ac++] = (char *) ofmt;
    if (opts) { av[ac++] = "-o"; av[ac++] = (char *) opts; }
    if (sparse) { av[ac++] = "-S"; av[ac++] = (char *) sparse; }
    if (quiet) av[ac++] = "-q";
    if (progress) av[ac++] = "-p";
    av[ac++] = argv[optind];
    av[ac++] = argv[optind + 1];
    av[ac] = NULL;
    optind = 1;
    rc = cmd_convert (ac, av);
    free (probed);
    return rc;
  }
}
