/* Engine internals shared by io.c, aio.c and disk.c. */
#ifndef VDK_IO_H
#define VDK_IO_H
#include "internal.h"

/* map() under the node lock, with sanity checks on the answer. */
int vdk_fmt_map (struct vdk_node *n, uint64_t off, uint64_t len, struct vdk_extent *e);

struct disk {
  struct vdk_node *root;
  char *filename;
};

#endif
