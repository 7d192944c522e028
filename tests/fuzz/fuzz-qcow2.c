/* Fuzz harness for the qcow2 header/table parser and the read path.
 *
 * With clang it is a libFuzzer target (-fsanitize=fuzzer).  With any other
 * compiler a small main() runs each file given on the command line once,
 * so the same code replays crashers and the tests' hostile images.
 *
 * The input is the image file itself (in a memfd): opened without backing
 * files or locks, then its info, every guest byte (capped) and a check are
 * read through the public API; then it is opened for writing and written,
 * zeroed, discarded, snapshotted and repaired (the memfd is a copy). */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vdk/disk.h"

#define MAX_READ (4u << 20)

static void
quiet (void *opaque, const char *msg)
{
  (void) opaque;
  (void) msg;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char path[64];
  struct disk *d;
  struct disk_info *info;
  struct disk_check_result res;
  int fd = memfd_create ("fuzz-qcow2", 0);
  static uint8_t buf[65536];

  if (fd < 0)
    return 0;
  if (write (fd, data, size) != (ssize_t) size) {
    close (fd);
    return 0;
  }
  snprintf (path, sizeof path, "/proc/self/fd/%d", fd);
  if (disk_open (&d, path, "qcow2", DISK_OPEN_NO_BACKING | DISK_OPEN_NO_LOCK, NULL) == 0) {
    uint64_t sz = (uint64_t) disk_get_size (d), len = sz < MAX_READ ? sz : MAX_READ;
    if (disk_get_info (d, 0, &info) == 0)
      disk_info_free (info);
    for (uint64_t off = 0; off < len; off += sizeof buf) {
      size_t l = len - off < sizeof buf ? len - off : sizeof buf;
      if (disk_pread (d, buf, l, off) < 0)
        break;
    }
    disk_check (d, 0, &res, quiet, NULL);
    disk_close (d);
  }
  if (disk_open (&d, path, "qcow2", DISK_OPEN_RDWR | DISK_OPEN_NO_BACKING | DISK_OPEN_NO_LOCK,
                 NULL) == 0) {
    uint64_t sz = (uint64_t) disk_get_size (d);
    memset (buf, 0xa5, sizeof buf);
    if (sz >= 3 * sizeof buf) {
      disk_pwrite (d, buf, 1000, 512, 0);
      disk_pwrite (d, buf, sizeof buf, sz - sizeof buf, 0);
      disk_write_zeroes (d, sizeof buf, sizeof buf, 0);
      disk_discard (d, 0, sizeof buf);
      disk_pwrite (d, buf, sizeof buf, sizeof buf, DISK_COMPRESSED);
      if (disk_snapshot_create (d, "f") == 0) {
        disk_pwrite (d, buf, 4096, 0, 0);
        disk_snapshot_apply (d, "f");
        disk_snapshot_delete (d, "f");
      }
    }
    disk_check (d, DISK_CHECK_FIX_LEAKS | DISK_CHECK_FIX_ERRORS, &res, quiet, NULL);
    disk_close (d);
  }
  close (fd);
  return 0;
}

#ifndef VDK_LIBFUZZER
int
main (int argc, char **argv)
{
  for (int i = 1; i < argc; i++) {
    FILE *f = fopen (argv[i], "rb");
    uint8_t *data;
    long size;
    if (!f) {
      perror (argv[i]);
      return 1;
    }
    fseek (f, 0, SEEK_END);
    size = ftell (f);
    fseek (f, 0, SEEK_SET);
    data = malloc (size > 0 ? size : 1);
    if (!data || fread (data, 1, size, f) != (size_t) size) {
      fprintf (stderr, "%s: read error\n", argv[i]);
      return 1;
    }
    fclose (f);
    LLVMFuzzerTestOneInput (data, size);
    free (data);
  }
  return 0;
}
#endif
