/* vdk compare: exit 0 identical, 1 different, 2 error (like qemu-img). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vdk.h"

#define BUFSZ (1u << 20)

/* Offset of the first differing 512-byte sector (qemu reports sectors). */
static uint64_t
first_diff (const uint8_t *a, const uint8_t *b, size_t len)
{
  size_t i = 0;
  while (i < len && a[i] == b[i])
    i++;
  return i - i % 512;
}

static uint64_t
first_nonzero (const uint8_t *a, size_t len)
{
  size_t i = 0;
  while (i < len && a[i] == 0)
    i++;
  return i - i % 512;
}

/* Check that [off, end) of D reads as zeroes; 0 yes, 1 no (*bad set), -1 error. */
static int
check_zero_tail (struct disk *d, uint64_t off, uint64_t end, uint8_t *buf, uint64_t *bad)
{
  while (off < end) {
    struct disk_status st;
    uint64_t len = end - off > BUFSZ ? BUFSZ : end - off;
    if (disk_block_status (d, off, len, DISK_STATUS_WANT_DEPTH, &st) < 0)
      return -1;
    len = st.length;
    if (!(st.flags & DISK_STATUS_ZERO) || (st.flags & DISK_STATUS_DATA)) {
      if (disk_pread (d, buf, len, off) < 0)
        return -1;
      if (!disk_is_zero_buf (buf, len)) {
        *bad = off + first_nonzero (buf, len);
        return 1;
      }
    }
    off += len;
  }
  return 0;
}

int
cmd_compare (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "force-share", no_argument, NULL, 'U' },
    { NULL, 0, NULL, 0 },
  };
  const char *fmt1 = NULL, *fmt2 = NULL, *scache = NULL;
  bool strict = false, quiet = false, share = false, progress = false;
  struct disk *d1 = NULL, *d2 = NULL;
  uint8_t *b1 = NULL, *b2 = NULL;
  uint64_t s1, s2, common, off, bad;
  int c, r, rc = 2;

  while ((c = getopt_long (argc, argv, "f:F:sqpUT:", longopts, NULL)) != -1) {
    switch (c) {
    case 'f': fmt1 = optarg; break;
    case 'F': fmt2 = optarg; break;
    case 's': strict = true; break;
    case 'q': quiet = true; break;
    case 'p': progress = true; break;
    case 'U': share = true; break;
    case 'T': scache = optarg; break;   /* checked; reads use the default */
    default:
      return usage_error ("compare", "invalid option");   /* 1, as qemu-img */
    }
  }
  if (argc - optind != 2) {
    usage_error ("compare", "Expecting two image file names");
    return 1;   /* qemu-img: usage errors exit with 1 */
  }
  if (scache && !cache_mode_valid (scache)) {
    error ("Invalid source cache option: %s", scache);
    return 2;
  }
  if (disk_open (&d1, argv[optind], fmt1, share ? DISK_OPEN_FORCE_SHARE : 0, NULL) < 0 ||
      disk_open (&d2, argv[optind + 1], fmt2, share ? DISK_OPEN_FORCE_SHARE : 0, NULL) < 0) {
    disk_fail ();
    goto out;
  }
  b1 = malloc (BUFSZ);
  b2 = malloc (BUFSZ);
  if (!b1 || !b2) {
    error ("out of memory");
    goto out;
  }
  progress_init (progress && !quiet ? PROGRESS_HUMAN : PROGRESS_NONE);
  s1 = disk_get_size (d1);
  s2 = disk_get_size (d2);
  if (s1 != s2) {
    if (strict) {
      if (!quiet)
        printf ("Strict mode: Image size mismatch!\n");
      rc = 1;
      goto out;
    }
  }
  common = s1 < s2 ? s1 : s2;
  for (off = 0; off < common;) {
    struct disk_status st1, st2;
    uint64_t len = common - off > BUFSZ ? BUFSZ : common - off;

    if (disk_block_status (d1, off, len, DISK_STATUS_WANT_DEPTH, &st1) < 0 ||
        disk_block_status (d2, off, len, DISK_STATUS_WANT_DEPTH, &st2) < 0) {
      disk_fail ();
      goto out;
    }
    len = st1.length < st2.length ? st1.length : st2.length;
    if (strict && ((st1.flags ^ st2.flags) & DISK_STATUS_ALLOCATED)) {
      if (!quiet)
        printf ("Strict mode: Offset %" PRIu64 " block status mismatch!\n", off);
      rc = 1;
      goto out;
    }
    bool z1 = (st1.flags & DISK_STATUS_ZERO) && !(st1.flags & DISK_STATUS_DATA);
    bool z2 = (st2.flags & DISK_STATUS_ZERO) && !(st2.flags & DISK_STATUS_DATA);
    if (!(z1 && z2)) {
      if (z1 || z2) {
        r = check_zero_tail (z1 ? d2 : d1, off, off + len, b1, &bad);
        if (r < 0) {
          disk_fail ();
          goto out;
        }
        if (r > 0) {
          if (!quiet)
            printf ("Content mismatch at offset %" PRIu64 "!\n", bad);
          rc = 1;
          goto out;
        }
      }
      else {
        if (disk_pread (d1, b1, len, off) < 0 || disk_pread (d2, b2, len, off) < 0) {
          disk_fail ();
          goto out;
        }
        if (memcmp (b1, b2, len) != 0) {
          if (!quiet)
            printf ("Content mismatch at offset %" PRIu64 "!\n", off + first_diff (b1, b2, len));
          rc = 1;
          goto out;
        }
      }
    }
    off += len;
    progress_update (off, s1 > s2 ? s1 : s2);
  }
  if (s1 != s2) {
    if (!quiet)   /* qemu-img says so once the common part is equal */
      printf ("Warning: Image size mismatch!\n");
    r = check_zero_tail (s1 > s2 ? d1 : d2, common, s1 > s2 ? s1 : s2, b1, &bad);
    if (r < 0) {
      disk_fail ();
      goto out;
    }
    if (r > 0) {
      if (!quiet)
        printf ("Content mismatch at offset %" PRIu64 "!\n", bad);
      rc = 1;
      goto out;
    }
  }
  progress_finish ();
  if (!quiet)
    printf ("Images are identical.\n");
  rc = 0;
 out:
  progress_finish ();
  free (b1);
  free (b2);
  if (d1)
    disk_close (d1);
  if (d2)
    disk_close (d2);
  return rc;
}
