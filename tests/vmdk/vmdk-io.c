/* Test helper: apply pseudo-random writes to an image and, identically, to
 * a raw reference file, through the public libdisk API.
 *   vmdk-io IMAGE FORMAT REF.raw OFF:LEN[:SEED] ...
 * Offsets and lengths need not be aligned (partial grains on purpose). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vdk/disk.h"

static int
apply (struct disk *d, uint64_t off, size_t len, uint32_t seed)
{
  uint8_t *b = malloc (len ? len : 1);
  uint32_t x = seed ? seed : 1;
  int r;

  if (!b)
    return -1;
  for (size_t i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b[i] = (uint8_t) x;
  }
  r = disk_pwrite (d, b, len, off, 0);
  free (b);
  return r;
}

int
main (int argc, char **argv)
{
  struct disk *img, *ref;

  if (argc < 5) {
    fprintf (stderr, "usage: vmdk-io IMAGE FORMAT REF.raw OFF:LEN[:SEED]...\n");
    return 2;
  }
  if (disk_open (&img, argv[1], argv[2], DISK_OPEN_RDWR, NULL) < 0 ||
      disk_open (&ref, argv[3], "raw", DISK_OPEN_RDWR, NULL) < 0) {
    fprintf (stderr, "vmdk-io: %s\n", disk_last_error ());
    return 1;
  }
  for (int i = 4; i < argc; i++) {
    uint64_t off, len;
    unsigned seed = (unsigned) i;
    if (sscanf (argv[i], "%" SCNu64 ":%" SCNu64 ":%u", &off, &len, &seed) < 2) {
      fprintf (stderr, "vmdk-io: bad write spec '%s'\n", argv[i]);
      return 2;
    }
    if (apply (img, off, len, seed) < 0 || apply (ref, off, len, seed) < 0) {
      fprintf (stderr, "vmdk-io: %s\n", disk_last_error ());
      return 1;
    }
  }
  if (disk_close (img) < 0 || disk_close (ref) < 0) {
    fprintf (stderr, "vmdk-io: %s\n", disk_last_error ());
    return 1;
  }
  return 0;
}
