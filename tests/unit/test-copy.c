/* Unit tests of disk_copy_range: raw to raw, into new qcow2 clusters, what
 * it declines (zero clusters, a compressed qcow2 writer's pwrite path, a
 * read-only target, bad arguments), and the fallback through a buffer when
 * the kernel refuses a copy it was offered (overlapping ranges of one
 * file). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libdisk/internal.h"

#define CHECK(x) do { if (!(x)) { fprintf (stderr, "%s:%d: CHECK failed: %s (%s)\n", \
              __FILE__, __LINE__, #x, disk_last_error ()); exit (1); } } while (0)

#define SIZE (8u << 20)
#define MiB (1u << 20)
static char dir[256];

static char *
name (const char *base)
{
  static char buf[4][320];
  static int k;
  k = (k + 1) % 4;
  snprintf (buf[k], sizeof buf[k], "%s/%s", dir, base);
  return buf[k];
}

static void
fill (uint8_t *b, size_t len, unsigned seed)
{
  for (size_t i = 0; i < len; i++)
    b[i] = (uint8_t) (seed * 131 + i * 7 + (i >> 9) + 1);
}

int
main (void)
{
  uint8_t *w = malloc (SIZE), *r = malloc (SIZE);
  struct disk *src, *dst, *q, *ro;
  struct disk_status st;
  const char *t = getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp";

  snprintf (dir, sizeof dir, "%s/vdk-test-copy-%d", t, (int) getpid ());
  CHECK (mkdir (dir, 0700) == 0);
  CHECK (w && r);

  /* raw source: data at [1 MiB, 4 MiB), a hole elsewhere */
  fill (w, SIZE, 3);
  CHECK (disk_create (name ("src.raw"), "raw", SIZE, NULL, NULL, NULL, 0) == 0);
  CHECK (disk_open (&src, name ("src.raw"), "raw", DISK_OPEN_RDWR, NULL) == 0);
  CHECK (disk_pwrite (src, w + MiB, 3 * MiB, MiB, 0) == 0);

  /* raw -> raw: everything asked for is copied (holes read as zeroes) */
  CHECK (disk_create (name ("dst.raw"), "raw", SIZE, NULL, NULL, NULL, 0) == 0);
  CHECK (disk_open (&dst, name ("dst.raw"), "raw", DISK_OPEN_RDWR, NULL) == 0);
  CHECK (disk_copy_range (src, MiB, dst, 2 * MiB, 3 * MiB, 0) == 3 * MiB);
  CHECK (disk_pread (dst, r, 3 * MiB, 2 * MiB) == 0 && memcmp (r, w + MiB, 3 * MiB) == 0);
  CHECK (disk_pread (dst, r, 2 * MiB, 0) == 0);
  for (size_t i = 0; i < 2 * MiB; i++)
    CHECK (r[i] == 0);
  /* arguments */
  CHECK (disk_copy_range (src, 0, dst, 0, 4096, 1) == -EINVAL);
  CHECK (disk_copy_range (src, SIZE - 4096, dst, 0, 8192, 0) == -EINVAL);
  CHECK (disk_copy_range (src, 0, dst, SIZE - 4096, 8192, 0) == -EINVAL);
  CHECK (disk_copy_range (src, 0, dst, 0, 0, 0) == 0);
  CHECK (disk_open (&ro, name ("src.raw"), "raw", DISK_OPEN_FORCE_SHARE, NULL) == 0);
  CHECK (disk_copy_range (dst, 0, ro, 0, 4096, 0) == -EROFS);

  /* raw -> new qcow2 clusters: linked after the copy, reads back */
  CHECK (disk_create (name ("dst.qcow2"), "qcow2", SIZE, NULL, NULL, NULL, 0) == 0);
  CHECK (disk_open (&q, name ("dst.qcow2"), "qcow2", DISK_OPEN_RDWR, NULL) == 0);
  CHECK (disk_copy_range (src, MiB, q, MiB + 4096, 3 * MiB - 8192, 0) == 3 * MiB - 8192);
  CHECK (disk_pread (q, r, 3 * MiB - 8192, MiB + 4096) == 0
         && memcmp (r, w + MiB, 3 * MiB - 8192) == 0);
  CHECK (disk_block_status (q, MiB, 64 << 10, 0, &st) == 0);
  CHECK (st.flags & DISK_STATUS_DATA);
  /* the partial clusters around it read as zeroes */
  CHECK (disk_pread (q, r, 4096, MiB) == 0);
  for (size_t i = 0; i < 4096; i++)
    CHECK (r[i] == 0);
  /* qcow2 -> raw: runs of data clusters; an unallocated cluster stops the copy */
  CHECK (disk_copy_range (q, MiB + 4096, dst, 0, 64 << 10, 0) == 64 << 10);
  CHECK (disk_pread (dst, r, 64 << 10, 0) == 0 && memcmp (r, w + MiB, 64 << 10) == 0);
  CHECK (disk_copy_range (q, 0, dst, 0, 64 << 10, 0) == 0);
  CHECK (disk_copy_range (q, 4 * MiB - (64 << 10), dst, 0, 128 << 10, 0) == 64 << 10);
  /* a zeroed qcow2 range is not copied */
  CHECK (disk_write_zeroes (q, 2 * MiB, 64 << 10, DISK_MAY_UNMAP) == 0);
  CHECK (disk_copy_range (q, 2 * MiB, dst, 0, 64 << 10, 0) == 0);
  CHECK (disk_close (q) == 0);

  /* The kernel refuses overlapping ranges of one file (EINVAL) after the
   * copy was offered: the library copies through a buffer instead. */
  CHECK (disk_copy_range (ro, MiB, src, MiB + 256 * 1024, 512 * 1024, 0) == 512 * 1024);
  CHECK (disk_pread (src, r, 512 * 1024, MiB + 256 * 1024) == 0
         && memcmp (r, w + MiB, 512 * 1024) == 0);
  CHECK (disk_close (ro) == 0);

  CHECK (disk_close (dst) == 0);
  CHECK (disk_close (src) == 0);
  unlink (name ("src.raw"));
  unlink (name ("dst.raw"));
  unlink (name ("dst.qcow2"));
  rmdir (dir);
  free (w);
  free (r);
  printf ("OK\n");
  return 0;
}
