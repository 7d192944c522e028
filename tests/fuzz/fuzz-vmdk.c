/* libFuzzer harness for the vmdk driver: the input is one image file
 * (sparse header + embedded descriptor + tables, or a descriptor file,
 * optionally followed by a NUL and the contents of an extent file "e.vmdk");
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
#include <sys/stat.h>
#include <unistd.h>

#include "vdk/disk.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static char dir[64], path[96], ext[96];

static int
put_file (const char *name, const uint8_t *data, size_t size)
{
  int fd = open (name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int ok;

  if (fd < 0)
    return -1;
  ok = !size || write (fd, data, size) == (ssize_t) size;
  close (fd);
  return ok ? 0 : -1;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static uint8_t buf[1 << 20];
  struct disk *d;
  struct disk_info *info;
  const uint8_t *nul;

  if (!dir[0]) {
    snprintf (dir, sizeof dir, "/tmp/fuzz-vmdk-%d", (int) getpid ());
    mkdir (dir, 0700);
    snprintf (path, sizeof path, "%s/d.vmdk", dir);
    snprintf (ext, sizeof ext, "%s/e.vmdk", dir);
  }
  /* A descriptor (text) may be followed by a NUL and the contents of the
   * extent file "e.vmdk" it can name; a binary image is used whole. */
  nul = size && data[0] != 'K' && data[0] != 'C' ? memchr (data, 0, size) : NULL;
  if (put_file (path, data, nul ? (size_t) (nul - data) : size) < 0 ||
      put_file (ext, nul ? nul + 1 : data, nul ? size - (nul + 1 - data) : 0) < 0)
    return 0;
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
  unlink (ext);
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
  if (dir[0])
    rmdir (dir);
  return 0;
}
#endif
