/* Unit tests of the I/O engine on raw files: sync and async I/O, zeroes,
 * discard, block status, truncate, read-only, locking, probed-raw safety. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libdisk/internal.h"

#define CHECK(x) do { if (!(x)) { fprintf (stderr, "%s:%d: CHECK failed: %s (%s)\n", \
              __FILE__, __LINE__, #x, disk_last_error ()); exit (1); } } while (0)

#define SIZE (8u << 20)
static char path[256];

static void
fill (uint8_t *b, size_t len, unsigned seed)
{
  for (size_t i = 0; i < len; i++)
    b[i] = (uint8_t) (seed * 131 + i * 7 + (i >> 9));
}

struct cbstate { int done, errors; };
static void
cb (void *opaque, int ret)
{
  struct cbstate *s = opaque;
  s->done++;
  if (ret < 0)
    s->errors++;
}

static void
test_sync_async (void)
{
  struct disk *d, *d2;
  struct disk_queue *q;
  uint8_t *w = malloc (SIZE), *r = malloc (SIZE);
  struct cbstate st = { 0 };
  struct disk_status bs;

  CHECK (disk_create (path, "raw", SIZE, NULL, NULL, NULL, 0) == 0);
  CHECK (disk_open (&d, path, "raw", DISK_OPEN_RDWR, NULL) == 0);
  CHECK (disk_get_size (d) == SIZE);
  CHECK (!strcmp (disk_get_format (d), "raw"));

  /* a second writer in the same process (another open file description) is refused */
  CHECK (disk_open (&d2, path, "raw", DISK_OPEN_RDWR, NULL) == -EAGAIN);
  CHECK (strstr (disk_last_error (), "Failed to get"));
  CHECK (strstr (disk_last_error (), path));
  CHECK (disk_open (&d2, path, "raw", 0, NULL) == -EAGAIN);
  CHECK (disk_open (&d2, path, "raw", DISK_OPEN_FORCE_SHARE, NULL) == 0);

  fill (w, SIZE, 1);
  CHECK (disk_pwrite (d, w, SIZE / 2, 0, 0) == 0);
  CHECK (disk_pread (d, r, SIZE / 2, 0) == 0 && memcmp (w, r, SIZE / 2) == 0);
  /* the force-shared reader sees it */
  CHECK (disk_pread (d2, r, 4096, 4096) == 0 && memcmp (w + 4096, r, 4096) == 0);
  CHECK (disk_pwrite (d2, w, 512, 0, 0) == -EROFS);
  disk_close (d2);

  /* async: 256 requests of 16 KiB in flight, writes then reads */
  CHECK (disk_queue_new (&q, 64) == 0);
  fill (w, SIZE, 2);
  for (unsigned i = 0; i < SIZE / 16384; i++)
    CHECK (disk_aio_pwrite (q, d, w + i * 16384, 16384, (uint64_t) i * 16384, 0, cb, &st) == 0);
  while (disk_queue_inflight (q))
    CHECK (disk_queue_wait (q, 1) >= 0);
  CHECK (st.done == SIZE / 16384 && st.errors == 0);
  memset (r, 0, SIZE);
  st.done = 0;
  for (unsigned i = 0; i < SIZE / 16384; i++)
    CHECK (disk_aio_pread (q, d, r + i * 16384, 16384, (uint64_t) i * 16384, cb, &st) == 0);
  CHECK (disk_queue_wait (q, SIZE / 16384) == SIZE / 16384);
  CHECK (st.errors == 0 && memcmp (w, r, SIZE) == 0);
  /* out of range requests fail at submission */
  CHECK (disk_aio_pread (q, d, r, 4096, SIZE - 100, cb, &st) == -EINVAL);
  disk_queue_free (q);

  /* write zeroes, discard, block status */
  CHECK (disk_write_zeroes (d, 1 << 20, 1 << 20, DISK_MAY_UNMAP) == 0);
  CHECK (disk_pread (d, r, 1 << 20, 1 << 20) == 0 && disk_is_zero_buf (r, 1 << 20));
  CHECK (disk_block_status (d, 1 << 20, 1 << 20, DISK_STATUS_WANT_DEPTH, &bs) == 0);
  CHECK (bs.flags & DISK_STATUS_ZERO);
  CHECK (disk_write_zeroes (d, 3 << 20, 4096, 0) == 0);
  CHECK (disk_pread (d, r, 4096, 3 << 20) == 0 && disk_is_zero_buf (r, 4096));
  CHECK (disk_discard (d, 4 << 20, 1 << 20) == 0);
  CHECK (disk_block_status (d, 0, 4096, 0, &bs) == 0);
  CHECK ((bs.flags & DISK_STATUS_DATA) && bs.length >= 4096);
  CHECK (disk_pread (d, r, 1, SIZE) == -EINVAL);
  CHECK (strstr (disk_last_error (), "beyond the end"));
  CHECK (disk_pwrite (d, w, 2, SIZE - 1, 0) == -EINVAL);

  /* truncate: shrink needs the flag */
  CHECK (disk_truncate (d, SIZE / 2, NULL, 0) == -EINVAL);
  CHECK (disk_truncate (d, SIZE / 2, NULL, DISK_TRUNCATE_SHRINK) == 0);
  CHECK (disk_get_size (d) == SIZE / 2);
  CHECK (disk_truncate (d, SIZE, "falloc", 0) == 0);
  CHECK (disk_truncate (d, SIZE, "nonsense", 0) == -EINVAL);
  CHECK (disk_close (d) == 0);

  /* read-only open */
  CHECK (disk_open (&d, path, NULL, 0, NULL) == 0);
  CHECK (disk_pwrite (d, w, 512, 0, 0) == -EROFS);
  CHECK (disk_write_zeroes (d, 0, 512, 0) == -EROFS);
  disk_close (d);
  free (w);
  free (r);
}

/* A probed raw image must not become another format by a guest write. */
static void
test_probed_raw (void)
{
  struct disk *d;
  uint8_t sector[512] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };

  CHECK (disk_open (&d, path, NULL, DISK_OPEN_RDWR, NULL) == 0);
  if (vdk_find_format ("qcow2")) {
    CHECK (disk_pwrite (d, sector, 512, 0, 0) == -EPERM);
    CHECK (strstr (disk_last_error (), "probed"));
  }
  /* harmless writes to sector 0 are fine */
  memset (sector, 0xab, sizeof sector);
  CHECK (disk_pwrite (d, sector, 512, 0, 0) == 0);
  disk_close (d);
  if (vdk_find_format ("qcow2")) {
    /* named as raw, the write is allowed */
    uint8_t q[8] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
    CHECK (disk_open (&d, path, "raw", DISK_OPEN_RDWR, NULL) == 0);
    CHECK (disk_pwrite (d, q, 8, 0, 0) == 0);
    disk_close (d);
  }
}

int
main (void)
{
  snprintf (path, sizeof path, "%s/vdk-test-io-%d.raw", getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp",
            (int) getpid ());
  test_sync_async ();
  test_probed_raw ();
  unlink (path);
  printf ("OK\n");
  return 0;
}
