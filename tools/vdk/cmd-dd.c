/* vdk dd: copy part of an image, like qemu-img dd. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vdk.h"

/* dd operands count in blocks; reject overflow. */
static int
parse_blocks (const char *what, const char *v, uint64_t *out)
{
  int r = disk_parse_size (v, out);
  if (r == -ERANGE || (r == 0 && *out > INT64_MAX)) {   /* qemu-img's words */
    if (!strcmp (what, "bs"))
      error ("Invalid bs specified. Must be between 1 and 2147483647.");
    else
      error ("Invalid %s specified. Must be between 0 and %" PRId64 ".", what, INT64_MAX);
    return -1;
  }
  return parse_size_arg (v, out, what);
}

int
cmd_dd (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "force-share", no_argument, NULL, 'U' },
    { NULL, 0, NULL, 0 },
  };
  const char *fmt = NULL, *ofmt = "raw", *in = NULL, *out = NULL;
  uint64_t bs = 512, count = UINT64_MAX, skip = 0, insize, start, len, done, step;
  bool share = false;
  struct disk *src = NULL, *dst = NULL;
  uint8_t *buf = NULL;
  int c, r, rc = 1;
  bool created = false;

  while ((c = getopt_long (argc, argv, "f:O:U", longopts, NULL)) != -1) {
    switch (c) {
    case 'f': fmt = optarg; break;
    case 'O': ofmt = optarg; break;
    case 'U': share = true; break;
    default: return usage_error ("dd", "invalid option");
    }
  }
  for (int i = optind; i < argc; i++) {
    char *eq = strchr (argv[i], '=');
    if (!eq) {
      error ("unrecognized operand %s", argv[i]);
      return 1;
    }
    *eq = 0;
    const char *v = eq + 1;
    if (!strcmp (argv[i], "if"))
      in = v;
    else if (!strcmp (argv[i], "of"))
      out = v;
    else if (!strcmp (argv[i], "bs")) {
      if (parse_blocks ("bs", v, &bs) < 0)
        return 1;
      if (bs == 0 || bs > INT32_MAX) {
        error ("Invalid bs specified. Must be between 1 and 2147483647.");
        return 1;
      }
    }
    else if (!strcmp (argv[i], "count")) {
      if (parse_blocks ("count", v, &count) < 0)
        return 1;
    }
    else if (!strcmp (argv[i], "skip")) {
      if (parse_blocks ("skip", v, &skip) < 0)
        return 1;
    }
    else {
      error ("unrecognized operand %s", argv[i]);
      return 1;
    }
  }
  if (!in || !out)
    return usage_error ("dd", "Must specify both input and output files");
  if (disk_open (&src, in, fmt, share ? DISK_OPEN_FORCE_SHARE : 0, NULL) < 0)
    return disk_fail ();
  insize = disk_get_size (src);
  if (skip > insize / bs) {
    /* as qemu-img (and dd): an empty output */
    error ("%s: cannot skip to specified offset", in);
    start = insize;
  }
  else
    start = skip * bs;
  len = insize - start;
  if (count != UINT64_MAX && count < len / bs + !!(len % bs))
    len = count * bs < len ? count * bs : len;
  if (disk_create (out, ofmt, len, NULL, NULL, NULL, 0) < 0) {
    disk_fail ();
    goto out;
  }
  created = true;
  if (disk_open (&dst, out, ofmt, DISK_OPEN_RDWR, NULL) < 0) {
    disk_fail ();
    goto out;
  }
  /* bs only counts skip and count: the copy goes in pieces of at most
   * 64 MiB, whatever bs is */
  step = bs < (64u << 20) ? bs : (64u << 20);
  buf = malloc (step);
  if (!buf) {
    error ("out of memory");
    goto out;
  }
  for (done = 0; done < len; done += step) {
    size_t n = len - done < step ? len - done : step;
    if ((r = disk_pread (src, buf, n, start + done)) < 0 ||
        (!disk_is_zero_buf (buf, n) && (r = disk_pwrite (dst, buf, n, done, 0)) < 0)) {
      disk_fail ();
      goto out;
    }
  }
  if (disk_close (dst) < 0) {
    dst = NULL;
    disk_fail ();
    goto out;
  }
  dst = NULL;
  rc = 0;
 out:
  free (buf);
  if (dst)
    disk_close (dst);
  if (rc && created)
    disk_remove (out, ofmt);
  disk_close (src);
  return rc;
}
