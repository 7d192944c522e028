/* libFuzzer harness for the vmdk driver: the input is one image file
 * (sparse header + embedded descriptor + tables, or a descriptor file);
 * it is opened as vmdk, read whole, its info taken, then written a little.
 *
 * Built with -fsanitize=fuzzer under clang.  With -DVDK_FUZZ_MAIN it gets a
 * main() that replays the files named on the command line instead (used
 * by the test suite under any compiler). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "vdk/disk.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static char path[64];
  static uint8_t buf[1 << 20];
  struct disk *d;
  struct disk_info *info;
  int fd;

  if (!path[0]) {
    snprintf (path, sizeof path, "/tmp/fuzz-vmdk-%d.vmdk", (int) getpid ());
  }
  fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0)
    return 0;
  if (size && write (fd, data, size) != (ssize_t) size) {
    close (fd);
    return 0;
  }
  close (fd);
  if (disk_open (&d, path, "vmdk", DISK_OPEN_NO_LOCK | DISK_OPEN_NO_BACKING, NULL) == 0) {
    int64_t len = disk_get_size (d);
    /* Read at most 64 MiB of guest data in 1 MiB steps. */
    for (int64_t off = 0; off < len && off < (64 << 20); off += sizeof buf) {
      size_t n = len - off < (int64_t) sizeof buf ? (size_t) (len - off) : sizeof buf;
      if (disk_pread (d, buf, n, off) < 0)
        break;
    }
    if (disk_get_info (d, 0, &info) == 0)
      disk_info_free (info);
    disk_close (d);
  }
  /* The write paths too (allocation, grain tables, the CID update, stream
   * appends), on images with grains of a sane size. */
  if (disk_open (&d, path, "vmdk", DISK_OPEN_RDWR | DISK_OPEN_NO_LOCK | DISK_OPEN_NO_BACKING,
                 NULL) == 0) {
    int64_t len = disk_get_size (d);
    if (disk_get_cluster_size (d) <= (1u << 20) && len > 0) {
      memset (buf, 0xa5, 8192);
      disk_pwrite (d, buf, len < 4096 ? (size_t) len : 4096, 0, 0);
      if (len > 20000)
        disk_pwrite (d, buf, 8192, (uint64_t) (len / 2) & ~511ULL, 0);
      if (len > 200000)
        disk_write_zeroes (d, (uint64_t) len - 150000, 150000, DISK_MAY_UNMAP);
      disk_flush (d);
      if (len > 100)
        disk_pread (d, buf, 100, 0);
    }
    disk_close (d);
  }
  unlink (path);
  return 0;
}

#ifdef VDK_FUZZ_MAIN
int
main (int argc, char **argv)
{
  for (int i = 1; i < argc; i++) {
    FILE *f = fopen (argv[i], "rb");
    uint8_t *b;
    long n;
    if (!f)
      continue;
    fseek (f, 0, SEEK_END);
    n = ftell (f);
    rewind (f);
    b = malloc (n > 0 ? n : 1);
    if (b && fread (b, 1, n, f) == (size_t) n)
      LLVMFuzzerTestOneInput (b, n);
    free (b);
    fclose (f);
  }
  return 0;
}
#endif
