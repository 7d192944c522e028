/* libFuzzer harness: open the input as an image of format FUZZ_FORMAT
 * (read-only, no backing file) and read it: block status over the whole
 * image and the data of the first extents.  Built only with clang
 * (-fsanitize=fuzzer); run as  ./fuzz-vhdx CORPUS_DIR. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vdk/disk.h"

#ifndef FUZZ_FORMAT
#error "define FUZZ_FORMAT"
#endif

__attribute__ ((visibility ("default"))) int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static char buf[1 << 20];
  char path[64];
  struct disk *d;
  int fd = memfd_create ("fuzz", 0);

  if (fd < 0)
    return 0;
  if (write (fd, data, size) != (ssize_t) size) {
    close (fd);
    return 0;
  }
  snprintf (path, sizeof path, "/proc/self/fd/%d", fd);
  if (disk_open (&d, path, FUZZ_FORMAT, DISK_OPEN_NO_BACKING | DISK_OPEN_NO_LOCK, NULL) == 0) {
    uint64_t off = 0, end = (uint64_t) disk_get_size (d);
    int extents = 0, reads = 0;
    while (off < end && extents++ < 4096) {
      struct disk_status st;
      if (disk_block_status (d, off, end - off, 0, &st) < 0 || st.length == 0)
        break;
      if (reads < 64) {
        size_t l = st.length < sizeof buf ? st.length : sizeof buf;
        disk_pread (d, buf, l, off);
        reads++;
      }
      off += st.length;
    }
    disk_close (d);
  }
  close (fd);
  return 0;
}
