/* A minimal gfs_dev over a file and a local gfs_err, so the filesystem
 * drivers can be tested on their own (without the guestfs core). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guestfs/fs.h"
#include "testdev.h"

static char err_msg[2048];

int
gfs_err (int errnum, const char *fmt, ...)
{
  va_list ap;

  if (errnum <= 0)
    errnum = EIO;
  va_start (ap, fmt);
  vsnprintf (err_msg, sizeof err_msg, fmt, ap);
  va_end (ap);
  return -errnum;
}

const char *
test_last_error (void)
{
  return err_msg;
}

int
gfs_dev_pread (struct gfs_dev *d, void *buf, size_t len, uint64_t off)
{
  if (off > d->size || len > d->size - off)
    return gfs_err (EIO, "%s: read of %zu bytes at %" PRIu64 " is beyond the end (%" PRIu64 ")",
                    d->name, len, off, d->size);
  return d->pread (d, buf, len, off);
}

static int
file_pread (struct gfs_dev *d, void *buf, size_t len, uint64_t off)
{
  int fd = *(int *) d->priv;
  while (len > 0) {
    ssize_t r = pread (fd, buf, len, (off_t) off);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return gfs_err (errno, "%s: read: %s", d->name, strerror (errno));
    }
    if (r == 0)
      return gfs_err (EIO, "%s: unexpected end of file", d->name);
    buf = (char *) buf + r;
    len -= (size_t) r;
    off += (uint64_t) r;
  }
  return 0;
}

static void
file_close (struct gfs_dev *d)
{
  close (*(int *) d->priv);
}

int
test_dev_open (const char *path, struct gfs_dev **out)
{
  struct gfs_dev *d;
  struct stat st;
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    return gfs_err (errno, "%s: %s", path, strerror (errno));
  if (fstat (fd, &st) < 0) {
    close (fd);
    return gfs_err (errno, "%s: %s", path, strerror (errno));
  }
  d = calloc (1, sizeof *d + sizeof (int));
  if (!d) {
    close (fd);
    return gfs_err (ENOMEM, "out of memory");
  }
  d->name = strdup (path);
  d->size = (uint64_t) st.st_size;
  d->pread = file_pread;
  d->close = file_close;
  d->priv = d + 1;
  *(int *) d->priv = fd;
  *out = d;
  return 0;
}

void
gfs_dev_free (struct gfs_dev *d)
{
  if (!d)
    return;
  if (d->close)
    d->close (d);
  free (d->name);
  free (d);
}
