/* Unit tests: option lists, json specs, size parsing, the error buffer. */
#include <assert.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "libdisk/internal.h"

#define CHECK(x) do { if (!(x)) { fprintf (stderr, "%s:%d: CHECK failed: %s\n", \
                                  __FILE__, __LINE__, #x); return 1; } } while (0)

static int
test_sizes (void)
{
  uint64_t v;
  CHECK (disk_parse_size ("512", &v) == 0 && v == 512);
  CHECK (disk_parse_size ("10G", &v) == 0 && v == 10ULL << 30);
  CHECK (disk_parse_size ("1k", &v) == 0 && v == 1024);
  CHECK (disk_parse_size ("1.5M", &v) == 0 && v == 1572864);
  CHECK (disk_parse_size ("4E", &v) == 0 && v == 4ULL << 60);
  CHECK (disk_parse_size ("16E", &v) == -ERANGE);
  CHECK (disk_parse_size ("99999999999999999999", &v) == -ERANGE);
  CHECK (disk_parse_size ("10Q", &v) == -EINVAL);
  CHECK (disk_parse_size ("-1", &v) == -EINVAL);
  CHECK (disk_parse_size ("", &v) == -EINVAL);
  CHECK (disk_parse_size ("G", &v) == -EINVAL);
  CHECK (disk_parse_size ("1.5", &v) == -EINVAL);
  CHECK (disk_parse_size ("1GG", &v) == -EINVAL);
  return 0;
}

static int
test_kv (void)
{
  struct vdk_opts o;
  uint64_t v;
  bool b;

  vdk_opts_init (&o);
  CHECK (vdk_opts_parse (&o, "driver=qcow2,file.filename=a,,b.img,x=1", NULL) == 0);
  CHECK (!strcmp (vdk_opts_get (&o, "driver"), "qcow2"));
  CHECK (!strcmp (vdk_opts_get (&o, "file.filename"), "a,b.img"));
  CHECK (vdk_opts_check_unused (&o, "t") == -EINVAL);
  CHECK (strstr (disk_last_error (), "'driver'"));
  vdk_opts_take (&o, "driver");
  struct vdk_opts f;
  vdk_opts_init (&f);
  CHECK (vdk_opts_extract_prefix (&o, "file", &f) == 0);
  CHECK (!strcmp (vdk_opts_get (&f, "filename"), "a,b.img"));
  CHECK (vdk_opts_take_uint (&o, "x", &v) == 1 && v == 1);
  CHECK (vdk_opts_check_unused (&o, "t") == 0);
  vdk_opts_free (&f);
  CHECK (vdk_opts_parse (&o, "lazy=on,bad=maybe,sz=64k", NULL) == 0);
  CHECK (vdk_opts_take_bool (&o, "lazy", &b) == 1 && b);
  CHECK (vdk_opts_take_bool (&o, "bad", &b) == -EINVAL);
  CHECK (strstr (disk_last_error (), "bad"));
  CHECK (vdk_opts_take_size (&o, "sz", &v) == 1 && v == 65536);
  CHECK (vdk_opts_take_size (&o, "absent", &v) == 0);
  CHECK (vdk_opts_parse (&o, "=x", NULL) == -EINVAL);
  CHECK (vdk_opts_parse (&o, "noequals", NULL) == -EINVAL);
  vdk_opts_free (&o);

  vdk_opts_init (&o);
  CHECK (vdk_opts_parse_json (&o, "{\"driver\": \"raw\", \"file\": {\"driver\": \"file\","
                              " \"filename\": \"/x\"}, \"n\": 5}") == 0);
  CHECK (!strcmp (vdk_opts_get (&o, "file.filename"), "/x"));
  CHECK (!strcmp (vdk_opts_get (&o, "n"), "5"));
  CHECK (vdk_opts_parse_json (&o, "{\"a\": [1]}") == -EINVAL);
  CHECK (vdk_opts_parse_json (&o, "{broken") == -EINVAL);
  CHECK (vdk_opts_parse_json (&o, "42") == -EINVAL);
  vdk_opts_free (&o);
  return 0;
}

static int
test_errors (void)
{
  CHECK (vdk_err (ENOENT, "%s: gone", "img") == -ENOENT);
  CHECK (disk_last_errno () == ENOENT);
  CHECK (!strcmp (disk_last_error (), "img: gone"));
  vdk_err_prefix ("outer");
  CHECK (!strcmp (disk_last_error (), "outer: img: gone"));
  CHECK (vdk_range_ok (0, 10, 10));
  CHECK (!vdk_range_ok (1, 10, 10));
  CHECK (!vdk_range_ok (UINT64_MAX, 2, UINT64_MAX));
  return 0;
}

static int
test_resolve (void)
{
  char *s = vdk_resolve_relative ("/a/b/c.qcow2", "d.raw");
  CHECK (s && !strcmp (s, "/a/b/d.raw"));
  free (s);
  s = vdk_resolve_relative ("c.qcow2", "d.raw");
  CHECK (s && !strcmp (s, "d.raw"));
  free (s);
  s = vdk_resolve_relative ("/a/c.qcow2", "/abs.raw");
  CHECK (s && !strcmp (s, "/abs.raw"));
  free (s);
  s = vdk_resolve_relative ("dir/c.qcow2", "../d.raw");
  CHECK (s && !strcmp (s, "dir/../d.raw"));
  free (s);
  return 0;
}

int
main (void)
{
  int r = test_sizes () || test_kv () || test_errors () || test_resolve ();
  if (!r)
    printf ("OK\n");
  return r;
}
