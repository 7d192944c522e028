/* Per-thread error messages (the libdisk error contract). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static _Thread_local char err_msg[2048];
static _Thread_local int err_num;
static _Thread_local char *warnings;

int
vdk_err (int errnum, const char *fmt, ...)
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

void
vdk_err_prefix (const char *fmt, ...)
{
  char prefix[1024], old[sizeof err_msg];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (prefix, sizeof prefix, fmt, ap);
  va_end (ap);
  memcpy (old, err_msg, sizeof old);
  {
    size_t pl = strlen (prefix);
    if (pl >= sizeof err_msg - 3)
      pl = sizeof err_msg - 3;
    memcpy (err_msg, prefix, pl);
    if (old[0]) {
      size_t ol = strlen (old);
      memcpy (err_msg + pl, ": ", 2);
      if (ol > sizeof err_msg - pl - 3)
        ol = sizeof err_msg - pl - 3;
      memcpy (err_msg + pl + 2, old, ol);
      err_msg[pl + 2 + ol] = 0;
    }
    else
      err_msg[pl] = 0;
  }
}

int
vdk_err_keep (int errnum)
{
  if (errnum <= 0)
    errnum = EIO;
  err_num = errnum;
  if (!err_msg[0])
    snprintf (err_msg, sizeof err_msg, "%s", strerror (errnum));
  return -errnum;
}

void
vdk_err_clear (void)
{
  err_msg[0] = 0;
  err_num = 0;
}

void
vdk_warn (const char *fmt, ...)
{
  char line[1024];
  va_list ap;
  size_t old = warnings ? strlen (warnings) : 0;
  size_t add;
  char *p;

  va_start (ap, fmt);
  vsnprintf (line, sizeof line, fmt, ap);
  va_end (ap);
  add = strlen (line);
  if (old + add > 64 * 1024)     /* bounded: hostile images can warn a lot */
    return;
  p = realloc (warnings, old + add + 2);
  if (!p)
    return;
  memcpy (p + old, line, add);
  p[old + add] = '\n';
  p[old + add + 1] = 0;
  warnings = p;
}

const char *
vdk_take_warnings (void)
{
  static _Thread_local char *last;
  free (last);
  last = warnings;
  warnings = NULL;
  return last;
}

const char *
disk_take_warnings (void)
{
  return vdk_take_warnings ();
}

const char *
disk_last_error (void)
{
  if (!err_msg[0] && err_num)
    return strerror (err_num);
  return err_msg[0] ? err_msg : "no error";
}

int
disk_last_errno (void)
{
  return err_num;
}

int
disk_set_error (int errnum, const char *fmt, ...)
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
