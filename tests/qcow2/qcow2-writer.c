/* Random writes through libdisk's public API, mirrored into a raw shadow
 * file, for the qcow2 tests.
 *
 *   qcow2-writer IMAGE SHADOW SEED COUNT [MAXLEN [OPTIONS]]
 *
 * Each operation is a pwrite of random data, a write_zeroes or a discard
 * (discard is only mirrored when the image reads back zeroes there, which
 * the test checks by reading).  COUNT 0 = run until killed (crash tests):
 * then every write is flushed and "N" is printed after each completed one. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vdk/disk.h"

static uint64_t rng;

static uint64_t
next (void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

int
main (int argc, char **argv)
{
  struct disk *d;
  int fd, r;
  uint64_t size, count, maxlen = 256 * 1024;
  uint8_t *buf, *chk;

  if (argc < 5) {
    fprintf (stderr, "usage: %s IMAGE SHADOW SEED COUNT [MAXLEN [OPTIONS]]\n", argv[0]);
    return 2;
  }
  rng = strtoull (argv[3], NULL, 0) * 2654435761u + 1;
  count = strtoull (argv[4], NULL, 0);
  if (argc > 5)
    maxlen = strtoull (argv[5], NULL, 0);
  r = disk_open (&d, argv[1], NULL, DISK_OPEN_RDWR, argc > 6 ? argv[6] : NULL);
  if (r < 0) {
    fprintf (stderr, "open: %s\n", disk_last_error ());
    return 1;
  }
  size = disk_get_size (d);
  fd = open (argv[2], O_RDWR);
  if (fd < 0) {
    perror (argv[2]);
    return 1;
  }
  buf = malloc (maxlen);
  chk = malloc (maxlen);
  if (!buf || !chk)
    return 1;
  for (uint64_t i = 0; count == 0 || i < count; i++) {
    uint64_t len = 1 + next () % maxlen, off, op = next () % 10;
    if (next () % 4 == 0)
      len = (len + 511) & ~511ULL;
    if (len > maxlen)
      len = maxlen;
    if (len > size)
      len = size;
    off = next () % (size - len + 1);
    if (next () % 3 == 0)
      off &= ~4095ULL;
    if (off + len > size)
      len = size - off;
    if (len == 0)
      continue;
    if (getenv ("WRITER_TRACE"))
      fprintf (stderr, "op %" PRIu64 ": %s %" PRIu64 "+%" PRIu64 "\n", i,
               op < 7 ? "write" : op < 9 ? "zero" : "discard", off, len);
    if (op < 7) {
      for (uint64_t j = 0; j < len; j += 8) {
        uint64_t v = next ();
        memcpy (buf + j, &v, len - j < 8 ? len - j : 8);
      }
      r = disk_pwrite (d, buf, len, off, 0);
      if (r == 0 && pwrite (fd, buf, len, off) != (ssize_t) len)
        r = -errno;
    }
    else if (op < 9) {
      r = disk_write_zeroes (d, off, len, op == 8 ? DISK_MAY_UNMAP : 0);
      memset (buf, 0, len);
      if (r == 0 && pwrite (fd, buf, len, off) != (ssize_t) len)
        r = -errno;
    }
    else {
      /* discard: mirror whatever the image now reads there */
      r = disk_discard (d, off, len);
      if (r == 0)
        r = disk_pread (d, chk, len, off);
      if (r == 0 && pwrite (fd, chk, len, off) != (ssize_t) len)
        r = -errno;
    }
    if (r < 0) {
      fprintf (stderr, "op %" PRIu64 " at %" PRIu64 "+%" PRIu64 ": %s\n", i, off, len,
               disk_last_error ());
      return 1;
    }
    /* read back a random earlier-written range to exercise the cache */
    if (next () % 4 == 0) {
      r = disk_pread (d, chk, len, off);
      if (r < 0 || pread (fd, buf, len, off) != (ssize_t) len || memcmp (chk, buf, len)) {
        uint64_t j = 0;
        while (j < len && chk[j] == buf[j])
          j++;
        fprintf (stderr, "read back mismatch at %" PRIu64 "+%" PRIu64 " (first difference at %"
                 PRIu64 ")\n", off, len, off + j);
        return 1;
      }
    }
    if (count == 0) {
      disk_flush (d);
      printf ("%" PRIu64 "\n", i);
      fflush (stdout);
    }
  }
  free (buf);
  free (chk);
  close (fd);
  r = disk_close (d);
  if (r < 0) {
    fprintf (stderr, "close: %s\n", disk_last_error ());
    return 1;
  }
  return 0;
}
