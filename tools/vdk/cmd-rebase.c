/* vdk rebase: change the backing file of an image.  Safe mode copies into
 * the image whatever the new backing file would read differently from the
 * old one, so the guest-visible content does not change; -u only rewrites
 * the name. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vdk.h"

#define BUFSZ (2u << 20)

int
cmd_rebase (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "force-share", no_argument, NULL, 'U' },
    { NULL, 0, NULL, 0 },
  };
  const char *fmt = NULL, *bfmt = NULL, *backing = NULL, *cache = "writeback";
  const char *scache = NULL;
  bool unsafe = false, quiet = false, progress = false, share = false;
  struct disk *d = NULL, *nb = NULL;
  uint8_t *old = NULL, *new = NULL;
  char opts[64];
  uint64_t size, nbsize = 0;
  int c, rc = 1;

  while ((c = getopt_long (argc, argv, "f:F:b:uqpt:T:U", longopts, NULL)) != -1) {
    switch (c) {
    case 'f': fmt = optarg; break;
    case 'F': bfmt = optarg; break;
    case 'b': backing = optarg; break;
    case 'u': unsafe = true; break;
    case 'q': quiet = true; break;
    case 'p': progress = true; break;
    case 't': cache = optarg; break;
    case 'T': scache = optarg; break;
    case 'U': share = true; break;
    default: return usage_error ("rebase", "invalid option");
    }
  }
  if (optind != argc - 1)
    return usage_error ("rebase", "Expecting one image file name");
  if (!cache_mode_valid (cache)) {
    error ("Invalid cache option: %s", cache);
    return 1;
  }
  if (scache && !cache_mode_valid (scache)) {
    error ("Invalid source cache option: %s", scache);
    return 1;
  }
  if (!backing && unsafe)
    backing = "";   /* qemu-img: -u without -b removes the backing file */
  if (!backing)
    return usage_error ("rebase", "Must specify backing file (-b) or use unsafe mode (-u)");
  if (backing[0] && !bfmt && unsafe) {
    /* qemu-img 7.2 records no backing file without its format */
    error ("Could not change the backing file to '%s': backing format must be specified",
           backing);
    return 1;
  }
  if (share && !unsafe) {
    error ("-U can only be used with -u (the image is written in safe mode)");
    return 1;
  }
  snprintf (opts, sizeof opts, "cache=%s", cache);
  if (disk_open (&d, argv[optind], fmt,
                 DISK_OPEN_RDWR | (unsafe ? DISK_OPEN_NO_BACKING : 0), opts) < 0)
    return disk_fail ();
  if (!unsafe) {
    size = disk_get_size (d);
    if (backing[0]) {
      /* The new name is relative to the image, as it will be recorded. */
      char *path = NULL;
      const char *img = argv[optind], *slash = strrchr (img, '/');
      if (backing[0] != '/' && slash && !strstr (backing, "://")) {
        if (asprintf (&path, "%.*s/%s", (int) (slash - img), img, backing) < 0)
          path = NULL;
      }
      int r = disk_open (&nb, path ? path : backing, bfmt, DISK_OPEN_NO_LOCK, NULL);
      free (path);
      if (r < 0) {
        const char *m = disk_last_error (), *opened = path ? path : backing;
        size_t l = strlen (opened);
        if (!strncmp (m, opened, l) && !strncmp (m + l, ": ", 2))   /* qemu-img's words */
          error ("Could not open new backing file '%s': Could not open '%s': %s", backing,
                 opened, m + l + 2);
        else
          error ("Could not open new backing file '%s': %s", backing, m);
        goto out;
      }
      nbsize = disk_get_size (nb);
      if (!bfmt) {   /* as qemu-img 7.2, once the new backing file could be opened */
        error ("Could not change the backing file to '%s': backing format must be specified",
               backing);
        goto out;
      }
    }
    old = malloc (BUFSZ);
    new = malloc (BUFSZ);
    if (!old || !new) {
      error ("out of memory");
      goto out;
    }
    progress_init (progress && !quiet ? PROGRESS_HUMAN : PROGRESS_NONE);
    for (uint64_t off = 0; off < size;) {
      struct disk_status st;
      uint64_t len = size - off < BUFSZ ? size - off : BUFSZ;
      if (disk_block_status (d, off, len, 0, &st) < 0) {
        disk_fail ();
        goto out;
      }
      len = st.length;
      if (!(st.flags & DISK_STATUS_ALLOCATED)) {
        /* Not in the image itself: old backing content vs new. */
        uint64_t have = nb && off < nbsize ? (nbsize - off < len ? nbsize - off : len) : 0;
        if (disk_pread (d, old, len, off) < 0 ||
            (have && disk_pread (nb, new, have, off) < 0)) {
          disk_fail ();
          goto out;
        }
        memset (new + have, 0, len - have);
        for (uint64_t p = 0; p < len;) {
          uint64_t q = p;
          while (q < len && memcmp (old + q, new + q, len - q < 512 ? len - q : 512) == 0)
            q += 512;
          if (q >= len)
            break;
          p = q;
          while (q < len && memcmp (old + q, new + q, len - q < 512 ? len - q : 512) != 0)
            q += 512;
          if (q > len)
            q = len;
          if (disk_pwrite (d, old + p, q - p, off + p, 0) < 0) {
            disk_fail ();
            goto out;
          }
          p = q;
        }
      }
      off += len;
      progress_update (off, size);
    }
    progress_finish ();
  }
  if (disk_set_backing (d, backing[0] ? backing : NULL, backing[0] ? bfmt : NULL) < 0) {
    disk_fail ();
    goto out;
  }
  rc = 0;
 out:
  progress_finish ();
  free (old);
  free (new);
  if (nb)
    disk_close (nb);
  if (disk_close (d) < 0 && rc == 0)
    rc = disk_fail ();
  return rc;
}
