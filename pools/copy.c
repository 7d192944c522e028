/* Moving data through libdisk: volume to volume (vol-create-from,
 * vol-clone) and volume to/from a file (vol-upload, vol-download).  Block
 * status drives the copies: zero ranges are not read, and not written when
 * the target already reads as zeroes. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vdk/disk.h"
#include "pool-int.h"

#define BUF_SIZE (1u << 20)
#define ZERO_BLOCK 4096u

static uint64_t
min64 (uint64_t a, uint64_t b)
{
  return a < b ? a : b;
}

int
pool_vol_open (const struct pool_vol *v, unsigned flags, struct disk **out)
{
  int r = disk_open (out, pool_vol_spec (v), v->format, flags, NULL);

  if (r == -EAGAIN)
    return pool_err (EBUSY, "volume '%s' is in use: %s", v->name, disk_last_error ());
  return r < 0 ? pool_err_from_disk (r) : 0;
}

/* Write BUF to DST, leaving out all-zero blocks when SKIP_ZERO. */
static int
write_sparse (struct disk *dst, const uint8_t *buf, size_t len, uint64_t off, bool skip_zero)
{
  size_t pos = 0;

  while (pos < len) {
    size_t run = min64 (ZERO_BLOCK, len - pos), end;
    bool zero = skip_zero && disk_is_zero_buf (buf + pos, run);
    end = pos + run;
    while (end < len) {
      size_t l = min64 (ZERO_BLOCK, len - end);
      if ((skip_zero && disk_is_zero_buf (buf + end, l)) != zero)
        break;
      end += l;
    }
    if (!zero) {
      int r = disk_pwrite (dst, buf + pos, end - pos, off + pos, 0);
      if (r < 0)
        return pool_err_from_disk (r);
    }
    pos = end;
  }
  return 0;
}

int
pool_copy_disk (struct disk *src, struct disk *dst, uint64_t src_off, uint64_t dst_off,
                uint64_t len)
{
  bool dst_zero = disk_is_zero_initialized (dst);
  uint8_t *buf = malloc (BUF_SIZE);
  uint64_t done = 0;
  int r = 0;

  if (!buf)
    return pool_err (ENOMEM, "out of memory");
  while (done < len) {
    struct disk_status st;
    uint64_t n;
    r = disk_block_status (src, src_off + done, min64 (len - done, 1ULL << 30), 0, &st);
    if (r < 0) {
      r = pool_err_from_disk (r);
      break;
    }
    n = min64 (st.length, len - done);
    if (st.flags & DISK_STATUS_ZERO) {
      if (!dst_zero && (r = disk_write_zeroes (dst, dst_off + done, n, DISK_MAY_UNMAP)) < 0) {
        r = pool_err_from_disk (r);
        break;
      }
      done += n;
      continue;
    }
    while (n > 0) {
      size_t c = min64 (n, BUF_SIZE);
      if ((r = disk_pread (src, buf, c, src_off + done)) < 0) {
        r = pool_err_from_disk (r);
        goto out;
      }
      if ((r = write_sparse (dst, buf, c, dst_off + done, dst_zero)) < 0)
        goto out;
      done += c;
      n -= c;
    }
  }
 out:
  free (buf);
  if (r == 0 && (r = disk_flush (dst)) < 0)
    r = pool_err_from_disk (r);
  return r;
}

static int
check_range (const struct pool_vol *v, uint64_t size, uint64_t offset, uint64_t *length)
{
  if (offset > size)
    return pool_err (EINVAL, "volume '%s': offset %" PRIu64 " is beyond its end (%" PRIu64
                     " bytes)", v->name, offset, size);
  if (*length == 0)
    *length = size - offset;
  else if (*length > size - offset)
    return pool_err (EINVAL, "volume '%s': offset + length is beyond its end (%" PRIu64
                     " bytes)", v->name, size);
  return 0;
}

static ssize_t
read_full (int fd, uint8_t *buf, size_t len)
{
  size_t got = 0;
  while (got < len) {
    ssize_t r = read (fd, buf + got, len - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return -errno;
    if (r == 0)
      break;
    got += r;
  }
  return got;
}

int
pool_vol_upload (struct pool_vol *v, int fd, uint64_t offset, uint64_t length, bool sparse)
{
  struct disk *d;
  uint8_t *buf;
  uint64_t done = 0;
  int r = pool_vol_open (v, DISK_OPEN_RDWR, &d);

  if (r < 0)
    return r;
  if ((r = check_range (v, disk_get_size (d), offset, &length)) < 0) {
    disk_close (d);
    return r;
  }
  if (!(buf = malloc (BUF_SIZE))) {
    disk_close (d);
    return pool_err (ENOMEM, "out of memory");
  }
  for (;;) {
    size_t want = BUF_SIZE;
    ssize_t got;
    if (done == length) {
      /* Anything more in the input does not fit. */
      got = read_full (fd, buf, 1);
      if (got > 0)
        r = pool_err (EFBIG, "volume '%s': the input is larger than the space from offset %"
                      PRIu64 " to the end of the volume", v->name, offset);
      else if (got < 0)
        r = pool_err ((int) -got, "read error: %s", strerror ((int) -got));
      break;
    }
    want = min64 (want, length - done);
    got = read_full (fd, buf, want);
    if (got < 0) {
      r = pool_err ((int) -got, "read error: %s", strerror ((int) -got));
      break;
    }
    if (got == 0)
      break;
    if (sparse) {
      /* Zero blocks become holes (deallocated zeroes) in the volume. */
      size_t pos = 0;
      while (r == 0 && pos < (size_t) got) {
        size_t l = min64 (ZERO_BLOCK, (size_t) got - pos), end = pos + l;
        bool zero = disk_is_zero_buf (buf + pos, l);
        while (end < (size_t) got) {
          size_t l2 = min64 (ZERO_BLOCK, (size_t) got - end);
          if (disk_is_zero_buf (buf + end, l2) != zero)
            break;
          end += l2;
        }
        r = zero ? disk_write_zeroes (d, offset + done + pos, end - pos, DISK_MAY_UNMAP)
          : disk_pwrite (d, buf + pos, end - pos, offset + done + pos, 0);
        if (r < 0)
          r = pool_err_from_disk (r);
        pos = end;
      }
    }
    else if ((r = disk_pwrite (d, buf, got, offset + done, 0)) < 0)
      r = pool_err_from_disk (r);
    if (r < 0)
      break;
    done += got;
  }
  free (buf);
  if (r < 0) {
    disk_close (d);
    return r;
  }
  r = disk_close (d);
  return r < 0 ? pool_err_from_disk (r) : 0;
}

static int
write_out (int fd, const uint8_t *buf, size_t len)
{
  while (len > 0) {
    ssize_t r = write (fd, buf, len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return pool_err (errno, "write error: %s", strerror (errno));
    buf += r;
    len -= r;
  }
  return 0;
}

int
pool_vol_download (struct pool_vol *v, int fd, uint64_t offset, uint64_t length, bool sparse)
{
  struct disk *d;
  uint8_t *buf;
  uint64_t done = 0;
  struct stat st;
  bool seekable;
  int r = pool_vol_open (v, 0, &d);

  if (r < 0)
    return r;
  if ((r = check_range (v, disk_get_size (d), offset, &length)) < 0) {
    disk_close (d);
    return r;
  }
  seekable = fstat (fd, &st) == 0 && S_ISREG (st.st_mode);
  sparse = sparse && seekable;
  if (!(buf = calloc (1, BUF_SIZE))) {
    disk_close (d);
    return pool_err (ENOMEM, "out of memory");
  }
  while (r == 0 && done < length) {
    struct disk_status s;
    uint64_t n;
    r = disk_block_status (d, offset + done, min64 (length - done, 1ULL << 30), 0, &s);
    if (r < 0) {
      r = pool_err_from_disk (r);
      break;
    }
    n = min64 (s.length, length - done);
    while (r == 0 && n > 0) {
      size_t c = min64 (n, BUF_SIZE);
      bool zero = s.flags & DISK_STATUS_ZERO;
      if (!zero && (r = disk_pread (d, buf, c, offset + done)) < 0) {
        r = pool_err_from_disk (r);
        break;
      }
      if (zero || (sparse && disk_is_zero_buf (buf, c))) {
        if (sparse) {
          if (lseek (fd, c, SEEK_CUR) < 0)
            r = pool_err (errno, "seek error: %s", strerror (errno));
        }
        else {
          memset (buf, 0, c);
          r = write_out (fd, buf, c);
        }
      }
      else
        r = write_out (fd, buf, c);
      done += c;
      n -= c;
    }
  }
  if (r == 0 && sparse) {
    off_t end = lseek (fd, 0, SEEK_CUR);
    if (end < 0 || ftruncate (fd, end) < 0)
      r = pool_err (errno, "cannot set the output size: %s", strerror (errno));
  }
  free (buf);
  disk_close (d);
  return r;
}
