/* vdk commit: write an image's data down into a backing file of its chain. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "vdk.h"

#define BUFSZ (2u << 20)

static bool
same_file (const char *a, const char *b)
{
  char ra[PATH_MAX], rb[PATH_MAX];
  if (!realpath (a, ra) || !realpath (b, rb))
    return strcmp (a, b) == 0;
  return strcmp (ra, rb) == 0;
}

int
cmd_commit (int argc, char **argv)
{
  const char *fmt = NULL, *base_name = NULL, *cache = "writeback";
  bool quiet = false, progress = false, keep = false;
  struct disk *top = NULL, *base = NULL;
  uint8_t *buf = NULL;
  char opts[64];
  int c, rc = 1, base_depth = 1, n;
  uint64_t size;

  while ((c = getopt (argc, argv, "+f:t:b:dpq")) != -1) {
    switch (c) {
    case 'f': fmt = optarg; break;
    case 't': cache = optarg; break;
    case 'b': base_name = optarg; break;
    case 'd': keep = true; break;
    case 'p': progress = true; break;
    case 'q': quiet = true; break;
    default: return usage_error ("commit", "invalid option");
    }
  }
  if (optind != argc - 1)
    return usage_error ("commit", "Expecting one image file name");
  if (!cache_mode_valid (cache)) {
    error ("Invalid cache option: %s", cache);
    return 1;
  }
  if (base_name)
    keep = true;   /* images between base and top become invalid: keep top as it is */
  snprintf (opts, sizeof opts, "cache=%s", cache);
  if (disk_open (&top, argv[optind], fmt,
                 (keep ? 0 : DISK_OPEN_RDWR) | DISK_OPEN_BACKING_NO_LOCK, NULL) < 0)
    return disk_fail ();
  n = disk_chain_length (top);
  if (n < 2) {
    error ("Image does not have a backing file");
    goto out;
  }
  if (base_name) {
    base_depth = -1;
    for (int i = 1; i < n; i++) {
      char *rel = NULL;
      const char *img = argv[optind], *slash = strrchr (img, '/');
      if (slash && base_name[0] != '/' && asprintf (&rel, "%.*s/%s", (int) (slash - img), img,
                                                     base_name) < 0)
        rel = NULL;
      if (same_file (base_name, disk_chain_filename (top, i)) ||
          (rel && same_file (rel, disk_chain_filename (top, i))))
        base_depth = i;
      free (rel);
      if (base_depth > 0)
        break;
    }
    if (base_depth < 0) {
      error ("Did not find '%s' in the backing chain of '%s'", base_name, argv[optind]);
      goto out;
    }
  }
  if (disk_open (&base, disk_chain_filename (top, base_depth),
                 disk_chain_format (top, base_depth), DISK_OPEN_RDWR, opts) < 0) {
    disk_fail ();
    goto out;
  }
  size = disk_get_size (top);
  if ((uint64_t) disk_get_size (base) < size && disk_truncate (base, size, NULL, 0) < 0) {
    disk_fail ();
    goto out;
  }
  buf = malloc (BUFSZ);
  if (!buf) {
    error ("out of memory");
    goto out;
  }
  progress_init (progress && !quiet ? PROGRESS_HUMAN : PROGRESS_NONE);
  for (uint64_t off = 0; off < size;) {
    struct disk_status st;
    uint64_t len = size - off < BUFSZ ? size - off : BUFSZ;
    if (disk_block_status (top, off, len, DISK_STATUS_WANT_DEPTH, &st) < 0) {
      disk_fail ();
      goto out;
    }
    len = st.length;
    if (st.depth < base_depth && (st.flags & DISK_STATUS_ALLOCATED)) {
      int r;
      if ((st.flags & DISK_STATUS_ZERO) && !(st.flags & DISK_STATUS_DATA))
        r = disk_write_zeroes (base, off, len, 0);
      else if ((r = disk_pread (top, buf, len, off)) == 0)
        r = disk_is_zero_buf (buf, len) ? disk_write_zeroes (base, off, len, 0)
                                        : disk_pwrite (base, buf, len, off, 0);
      if (r < 0) {
        disk_fail ();
        goto out;
      }
    }
    off += len;
    progress_update (off, size);
  }
  progress_finish ();
  if (disk_close (base) < 0) {
    base = NULL;
    disk_fail ();
    goto out;
  }
  base = NULL;
  if (!keep && disk_make_empty (top) < 0) {
    disk_fail ();
    goto out;
  }
  if (!quiet)
    printf ("Image committed.\n");
  rc = 0;
 out:
  progress_finish ();
  free (buf);
  if (base)
    disk_close (base);
  if (disk_close (top) < 0 && rc == 0)
    rc = disk_fail ();
  return rc;
}
