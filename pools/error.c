/* Per-thread error messages of the pools library (libdisk's contract). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vdk/disk.h"
#include "pool.h"

static _Thread_local char err_msg[2048];
static _Thread_local int err_num;

const char *
pool_last_error (void)
{
  return err_msg[0] ? err_msg : "unknown error";
}

int
pool_last_errno (void)
{
  return err_num;
}

int
pool_err (int errnum, const char *fmt, ...)
{
  va_list ap;

  if (errnum <= 0)
    errnum = EIO;
  va_start (ap, fmt);
  vsnprintf (err_msg, sizeof err_msg, fmt, ap);
  va_end (ap);
  err_num = errnum;
  return -errnum;
}

int
pool_err_from_disk (int r)
{
  int e = r < 0 ? -r : disk_last_errno ();
  return pool_err (e > 0 ? e : EIO, "%s", disk_last_error ());
}
