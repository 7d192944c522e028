/* vdk vol-*: storage volumes, with virsh's names, arguments and output. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vdk.h"
#include "virsh.h"
#include "pool.h"

/* A volume as virsh finds it: NAME within --pool, else a key or a path;
 * vdk also takes vol:POOL/VOL.  On success the caller owns *C, *P, *V. */
static int
get_vol (const char *spec, const char *pool_name, bool exclusive, struct pool_ctx **c,
         struct pool **p, struct pool_vol **v)
{
  char *pname = NULL;
  int r;

  *p = NULL;
  *v = NULL;
  if (pool_ctx_open (c, NULL, exclusive) < 0)
    return pool_fail ();
  if (!strncmp (spec, "vol:", 4) && strchr (spec + 4, '/')) {
    const char *slash = strchr (spec + 4, '/');
    if (!(pname = strndup (spec + 4, slash - spec - 4))) {
      error ("out of memory");
      goto fail;
    }
    pool_name = pname;
    spec = slash + 1;
  }
  if (pool_name) {
    if (pool_lookup (*c, pool_name, p) < 0)
      goto fail_msg;
    r = pool_vol_lookup (*p, spec, v);
    if (r == 0)
      goto ok;
    if (r != -ENOENT || pname)
      goto fail_msg;
    pool_free (*p);
    *p = NULL;
  }
  if (pool_vol_find (*c, spec, p, v) < 0)
    goto fail_msg;
 ok:
  free (pname);
  return 0;
 fail_msg:
  pool_fail ();
 fail:
  free (pname);
  pool_free (*p);
  pool_ctx_close (*c);
  return 1;
}

static void
put_vol (struct pool_ctx *c, struct pool *p, struct pool_vol *v)
{
  pool_vol_free (v);
  pool_free (p);
  pool_ctx_close (c);
}

static int
get_pool (struct pool_ctx *c, const char *name, struct pool **p)
{
  return pool_lookup (c, name, p) < 0 ? pool_fail () : 0;
}

static int
parse_scaled_arg (const char *s, const char *what, uint64_t *out)
{
  if (pool_parse_scaled (s, NULL, out) < 0) {
    error ("Malformed size %s: %s", s, pool_last_error ());
    (void) what;
    return 1;
  }
  return 0;
}

/* XML-escaped text on stdout. */
static void
xml_text (const char *s)
{
  for (; *s; s++)
    switch (*s) {
    case '<': fputs ("&lt;", stdout); break;
    case '>': fputs ("&gt;", stdout); break;
    case '&': fputs ("&amp;", stdout); break;
    case '\'': fputs ("&apos;", stdout); break;
    case '"': fputs ("&quot;", stdout); break;
    default: putchar (*s);
    }
}

/* ---- vol-create-as, vol-create ------------------------------------------------- */
static const struct vopt create_as_opts[] = {
  { "pool", true, true, true },
  { "name", true, true, true },
  { "capacity", true, true, true },
  { "allocation", true, false, false },
  { "format", true, false, false },
  { "backing-vol", true, false, false },
  { "backing-vol-format", true, false, false },
  { "prealloc-metadata", false, false, false },
  { "print-xml", false, false, false },
  { NULL },
};

/* The backing volume: a path, or a volume of POOL (name), or a key. */
static int
resolve_backing (struct pool_ctx *c, struct pool *p, const char *spec, char **path)
{
  struct pool_vol *v;
  struct pool *bp = NULL;

  if (!strncmp (spec, "vol:", 4) && strchr (spec + 4, '/')) {
    const char *slash = strchr (spec + 4, '/');
    char *pname = strndup (spec + 4, slash - spec - 4);
    int r = pname ? pool_lookup (c, pname, &bp) : -ENOMEM;
    free (pname);
    if (r < 0 || pool_vol_lookup (bp, slash + 1, &v) < 0) {
      pool_free (bp);
      return pool_fail ();
    }
  }
  else if (pool_vol_lookup (p, spec, &v) < 0 && pool_vol_find (c, spec, &bp, &v) < 0) {
    if (spec[0] == '/' && access (spec, F_OK) == 0) {
      *path = strdup (spec);
      return *path ? 0 : 1;
    }
    return pool_fail ();
  }
  /* A path that names a secret (an iscsi pool's LUN) or a spec carrying the
   * pool's credentials (an rbd volume's keyfile) may not be used as a name
   * read from an image: record vol:POOL/VOL, which libdisk resolves through
   * the pools when the image is opened. */
  if (strstr (v->path, "password-secret=") || v->spec) {
    if (asprintf (path, "vol:%s/%s", (bp ? bp : p)->def->name, v->name) < 0)
      *path = NULL;
  }
  else
    *path = strdup (pool_vol_spec (v));
  pool_vol_free (v);
  pool_free (bp);
  return *path ? 0 : 1;
}

static int
do_create (struct pool_ctx *c, struct pool *p, struct vol_def *d, const char *msg_fmt,
           const char *from)
{
  struct pool_vol *v;

  if (pool_vol_create (p, d, &v) < 0)
    return pool_fail ();
  printf (msg_fmt, v->name, from);
  pool_vol_free (v);
  (void) c;
  return 0;
}

int
cmd_vol_create_as (int argc, char **argv)
{
  struct vargs a;
  struct pool_ctx *c;
  struct pool *p;
  struct vol_def d = { 0 };
  const char *v;
  int rc = 1;

  if (vparse (argv[0], create_as_opts, argc, argv, &a))
    return 1;
  d.name = (char *) vget (create_as_opts, &a, "name");
  if (parse_scaled_arg (vget (create_as_opts, &a, "capacity"), "capacity", &d.capacity))
    return 1;
  if ((v = vget (create_as_opts, &a, "allocation"))) {
    if (parse_scaled_arg (v, "allocation", &d.allocation))
      return 1;
    d.has_allocation = true;
  }
  d.format = (char *) vget (create_as_opts, &a, "format");
  d.backing_format = (char *) vget (create_as_opts, &a, "backing-vol-format");
  d.prealloc_metadata = vhas (create_as_opts, &a, "prealloc-metadata");
  if (pool_ctx_open (&c, NULL, true) < 0)
    return pool_fail ();
  if (get_pool (c, vget (create_as_opts, &a, "pool"), &p))
    goto out_ctx;
  if ((v = vget (create_as_opts, &a, "backing-vol")) && resolve_backing (c, p, v, &d.backing_path))
    goto out;
  if (vhas (create_as_opts, &a, "print-xml")) {
    /* The volume XML virsh would send: nothing is created. */
    if (!pool_name_valid (d.name)) {
      error ("invalid volume name '%s'", d.name);
      goto out;
    }
    printf ("<volume>\n  <name>");
    xml_text (d.name);
    printf ("</name>\n  <capacity>%" PRIu64 "</capacity>\n", d.capacity);
    if (d.has_allocation)
      printf ("  <allocation>%" PRIu64 "</allocation>\n", d.allocation);
    if (d.format) {
      printf ("  <target>\n    <format type='");
      xml_text (d.format);
      printf ("'/>\n  </target>\n");
    }
    if (d.backing_path) {
      printf ("  <backingStore>\n    <path>");
      xml_text (d.backing_path);
      printf ("</path>\n");
      if (d.backing_format) {
        printf ("    <format type='");
        xml_text (d.backing_format);
        printf ("'/>\n");
      }
      printf ("  </backingStore>\n");
    }
    printf ("</volume>\n");
    rc = 0;
    goto out;
  }
  rc = do_create (c, p, &d, "Vol %s created\n%s", "");
 out:
  free (d.backing_path);
  pool_free (p);
 out_ctx:
  pool_ctx_close (c);
  return rc;
}

static const struct vopt create_opts[] = {
  { "pool", true, true, true },
  { "file", true, true, true },
  { "prealloc-metadata", false, false, false },
  { NULL },
};

static int
read_file_arg (const char *file, char **xml, size_t *len)
{
  FILE *f = fopen (file, "re");
  if (!f) {
    error ("Failed to open file '%s': %s", file, strerror (errno));
    return 1;
  }
  *xml = malloc (POOL_MAX_XML + 1);
  if (!*xml) {
    fclose (f);
    error ("out of memory");
    return 1;
  }
  *len = fread (*xml, 1, POOL_MAX_XML + 1, f);
  fclose (f);
  if (*len > POOL_MAX_XML) {
    free (*xml);
    error ("%s: file is too large (more than %u bytes)", file, POOL_MAX_XML);
    return 1;
  }
  return 0;
}

static int
load_vol_def (const char *file, bool prealloc, struct vol_def **d)
{
  char *xml;
  size_t len;
  int r;

  if (read_file_arg (file, &xml, &len))
    return 1;
  r = vol_def_parse (xml, len, file, d);
  free (xml);
  if (r < 0)
    return pool_fail ();
  if (prealloc)
    (*d)->prealloc_metadata = true;
  return 0;
}

int
cmd_vol_create (int argc, char **argv)
{
  struct vargs a;
  struct pool_ctx *c;
  struct pool *p;
  struct vol_def *d;
  const char *file;
  int rc = 1;

  if (vparse (argv[0], create_opts, argc, argv, &a))
    return 1;
  file = vget (create_opts, &a, "file");
  if (load_vol_def (file, vhas (create_opts, &a, "prealloc-metadata"), &d))
    return 1;
  if (pool_ctx_open (&c, NULL, true) < 0) {
    vol_def_free (d);
    return pool_fail ();
  }
  if (!get_pool (c, vget (create_opts, &a, "pool"), &p)) {
    if (d->backing_path) {
      char *bp;
      if (resolve_backing (c, p, d->backing_path, &bp) == 0) {
        free (d->backing_path);
        d->backing_path = bp;
        rc = do_create (c, p, d, "Vol %s created from %s\n", file);
      }
    }
    else
      rc = do_create (c, p, d, "Vol %s created from %s\n", file);
    pool_free (p);
  }
  vol_def_free (d);
  pool_ctx_close (c);
  return rc;
}

/* ---- vol-create-from, vol-clone --------------------------------------------------- */
static const struct vopt create_from_opts[] = {
  { "pool", true, true, true },
  { "file", true, true, true },
  { "vol", true, true, true },
  { "inputpool", true, false, false },
  { "prealloc-metadata", false, false, false },
  { NULL },
};

int
cmd_vol_create_from (int argc, char **argv)
{
  struct vargs a;
  struct pool_ctx *c;
  struct pool *p = NULL, *sp;
  struct pool_vol *src, *nv;
  struct vol_def *d;
  int rc = 1;

  if (vparse (argv[0], create_from_opts, argc, argv, &a))
    return 1;
  if (load_vol_def (vget (create_from_opts, &a, "file"),
                    vhas (create_from_opts, &a, "prealloc-metadata"), &d))
    return 1;
  if (get_vol (vget (create_from_opts, &a, "vol"), vget (create_from_opts, &a, "inputpool"),
               true, &c, &sp, &src)) {
    vol_def_free (d);
    return 1;
  }
  if (!get_pool (c, vget (create_from_opts, &a, "pool"), &p)) {
    if (pool_vol_create_from (p, d, src, &nv) < 0)
      pool_fail ();
    else {
      printf ("Vol %s created from input vol %s\n", nv->name, src->name);
      pool_vol_free (nv);
      rc = 0;
    }
  }
  pool_free (p);
  vol_def_free (d);
  put_vol (c, sp, src);
  return rc;
}

static const struct vopt clone_opts[] = {
  { "vol", true, true, true },
  { "newname", true, true, true },
  { "pool", true, false, false },
  { "prealloc-metadata", false, false, false },
  { NULL },
};

int
cmd_vol_clone (int argc, char **argv)
{
  struct vargs a;
  struct pool_ctx *c;
  struct pool *p;
  struct pool_vol *src, *nv;
  struct vol_def d = { 0 };
  int rc = 1;

  if (vparse (argv[0], clone_opts, argc, argv, &a) ||
      get_vol (vget (clone_opts, &a, "vol"), vget (clone_opts, &a, "pool"), true, &c, &p, &src))
    return 1;
  d.name = (char *) vget (clone_opts, &a, "newname");
  d.capacity = src->capacity;
  d.format = src->format;
  d.prealloc_metadata = vhas (clone_opts, &a, "prealloc-metadata");
  if (pool_vol_create_from (p, &d, src, &nv) < 0)
    pool_fail ();
  else {
    printf ("Vol %s cloned from %s\n", nv->name, src->name);
    pool_vol_free (nv);
    rc = 0;
  }
  put_vol (c, p, src);
  return rc;
}

/* ---- vol-delete, vol-wipe, vol-resize --------------------------------------------- */
static const struct vopt vol_pool_opts[] = {
  { "vol", true, true, true },
  { "pool", true, false, false },
  { NULL },
};

static const struct vopt delete_opts[] = {
  { "vol", true, true, true },
  { "pool", true, false, false },
  { "delete-snapshots", false, false, false },
  { NULL },
};

int
cmd_vol_delete (int argc, char **argv)
{
  struct vargs a;
  struct pool_ctx *c;
  struct pool *p;
  struct pool_vol *v;
  int rc = 0;

  if (vparse (argv[0], delete_opts, argc, argv, &a) ||
      get_vol (vget (delete_opts, &a, "vol"), vget (delete_opts, &a, "pool"), true, &c, &p, &v))
    return 1;
  if (pool_vol_delete_flags (p, v, vhas (delete_opts, &a, "delete-snapshots")
                             ? POOL_VOL_DELETE_WITH_SNAPSHOTS : 0) < 0)
    rc = pool_fail ();
  else
    printf ("Vol %s deleted\n", v->name);
  put_vol (c, p, v);
  return rc;
}

static const struct vopt wipe_opts[] = {
  { "vol", true, true, true },
  { "pool", true, false, false },
  { "algorithm", true, false, false },
  { NULL },
};

int
cmd_vol_wipe (int argc, char **argv)
{
  struct vargs a;
  struct pool_ctx *c;
  struct pool *p;
  struct pool_vol *v;
  const char *alg;
  int rc = 0;

  if (vparse (argv[0], wipe_opts, argc, argv, &a))
    return 1;
  alg = vget (wipe_opts, &a, "algorithm");
  if (alg) {
    const char *const *names = pool_wipe_algorithms ();
    size_t i = 0;
    while (names[i] && strcmp (names[i], alg))
      i++;
    if (!names[i]) {
      error ("Unsupported wiping algorithm '%s' (zero, nnsa, dod, bsi, gutmann, schneier,"
             " pfitzner7, pfitzner33, random, trim)", alg);
      return 1;
    }
  }
  if (get_vol (vget (wipe_opts, &a, "vol"), vget (wipe_opts, &a, "pool"), false, &c, &p, &v))
    return 1;
  if (pool_vol_wipe_alg (p, v, alg) < 0)
    rc = pool_fail ();
  else
    printf ("Vol %s wiped\n", v->name);
  put_vol (c, p, v);
  return rc;
}

static const struct vopt resize_opts[] = {
  { "vol", true, true, true },
  { "capacity", true, true, true },
  { "pool", true, false, false },
  { "allocate", false, false, false },
  { "delta", false, false, false },
  { "shrink", false, false, false },
  { NULL },
};

int
cmd_vol_resize (int argc, char **argv)
{
  struct vargs a;
  struct pool_ctx *c;
  struct pool *p;
  struct pool_vol *v;
  const char *cap;
  uint64_t size, target;
  bool neg, delta, shrink;
  unsigned flags = 0;
  int rc = 0;

  if (vparse (argv[0], resize_opts, argc, argv, &a))
    return 1;
  cap = vget (resize_opts, &a, "capacity");
  delta = vhas (resize_opts, &a, "delta");
  shrink = vhas (resize_opts, &a, "shrink");
  neg = cap[0] == '-';
  if (neg) {
    if (!shrink) {
      error ("negative size requires --shrink");
      return 1;
    }
    if (!delta) {
      error ("negative size requires --delta");
      return 1;
    }
  }
  if (parse_scaled_arg (cap + neg, "capacity", &size))
    return 1;
  if (get_vol (vget (resize_opts, &a, "vol"), vget (resize_opts, &a, "pool"), false, &c, &p, &v))
    return 1;
  if (!delta)
    target = size;
  else if (neg) {
    if (size > v->capacity) {
      error ("cannot shrink volume '%s' below zero", v->name);
      put_vol (c, p, v);
      return 1;
    }
    target = v->capacity - size;
  }
  else
    target = v->capacity + size;
  if (vhas (resize_opts, &a, "allocate"))
    flags |= POOL_RESIZE_ALLOCATE;
  if (shrink)
    flags |= POOL_RESIZE_SHRINK;
  if (pool_vol_resize (p, v, target, flags) < 0)
    rc = pool_fail ();
  else
    printf (delta ? "Size of volume '%s' successfully changed by %s\n"
            : "Size of volume '%s' successfully changed to %s\n", v->name, cap);
  put_vol (c, p, v);
  return rc;
}

/* ---- vol-upload, vol-download ------------------------------------------------------- */
static const struct vopt io_opts[] = {
  { "vol", true, true, true },
  { "file", true, true, true },
  { "pool", true, false, false },
  { "offset", true, false, false },
  { "length", true, false, false },
  { "sparse", false, false, false },
  { NULL },
};

static int
upload_download (int argc, char **argv, bool upload)
{
  struct vargs a;
  struct pool_ctx *c;
  struct pool *p;
  struct pool_vol *v;
  uint64_t off = 0, len = 0;
  const char *s, *file;
  int fd, r, rc = 0;

  if (vparse (argv[0], io_opts, argc, argv, &a))
    return 1;
  if ((s = vget (io_opts, &a, "offset")) && parse_scaled_arg (s, "offset", &off))
    return 1;
  if ((s = vget (io_opts, &a, "length")) && parse_scaled_arg (s, "length", &len))
    return 1;
  file = vget (io_opts, &a, "file");
  if (get_vol (vget (io_opts, &a, "vol"), vget (io_opts, &a, "pool"), false, &c, &p, &v))
    return 1;
  fd = upload ? open (file, O_RDONLY | O_CLOEXEC)
    : open (file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) {
    error ("cannot open file '%s': %s", file, strerror (errno));
    put_vol (c, p, v);
    return 1;
  }
  r = upload ? pool_vol_upload (v, fd, off, len, vhas (io_opts, &a, "sparse"))
    : pool_vol_download (v, fd, off, len, vhas (io_opts, &a, "sparse"));
  if (r < 0)
    rc = pool_fail ();
  if (close (fd) < 0 && rc == 0) {
    error ("%s: %s", file, strerror (errno));
    rc = 1;
  }
  put_vol (c, p, v);
  return rc;
}

int cmd_vol_upload (int argc, char **argv) { return upload_download (argc, argv, true); }
int cmd_vol_download (int argc, char **argv) { return upload_download (argc, argv, false); }

/* ---- reports ---------------------------------------------------------------------------- */
static const struct vopt list_opts[] = {
  { "pool", true, true, true },
  { "details", false, false, false },
  { "output", true, false, false },
  { NULL },
};

static void
vol_json (struct jw *w, const struct pool_vol *v)
{
  jw_obj (w, NULL);
  jw_str (w, "name", v->name);
  jw_str (w, "key", v->key);
  jw_str (w, "path", v->path);
  jw_str (w, "type", v->type);
  jw_str (w, "format", v->format);
  jw_uint (w, "capacity", v->capacity);
  jw_uint (w, "allocation", v->allocation);
  jw_uint (w, "physical", v->physical);
  if (v->backing)
    jw_str (w, "backing-filename", v->backing);
  if (v->backing_format)
    jw_str (w, "backing-format", v->backing_format);
  jw_obj_end (w);
}

static int
get_output (const struct vopt *opts, const struct vargs *a, enum output_format *out)
{
  *out = OUT_HUMAN;
  return vget (opts, a, "output") && parse_output (vget (opts, a, "output"), out) < 0;
}

int
cmd_vol_list (int argc, char **argv)
{
  struct vargs a;
  struct pool_ctx *c;
  struct pool *p;
  struct pool_vol **v;
  struct vtable *t;
  size_t n;
  bool details;
  enum output_format out;

  if (vparse (argv[0], list_opts, argc, argv, &a))
    return 1;
  details = vhas (list_opts, &a, "details");
  if (get_output (list_opts, &a, &out))
    return 1;
  if (pool_ctx_open (&c, NULL, false) < 0)
    return pool_fail ();
  if (get_pool (c, vget (list_opts, &a, "pool"), &p)) {
    pool_ctx_close (c);
    return 1;
  }
  if (pool_vol_list (p, &v, &n) < 0) {
    pool_free (p);
    pool_ctx_close (c);
    return pool_fail ();
  }
  if (out == OUT_JSON) {
    struct jw w;
    jw_init (&w, stdout, true);
    jw_arr (&w, NULL);
    for (size_t i = 0; i < n; i++)
      vol_json (&w, v[i]);
    jw_arr_end (&w);
    jw_end (&w);
    pool_vol_list_free (v, n);
    pool_free (p);
    pool_ctx_close (c);
    return 0;
  }
  t = details ? vtable_new (5, "Name", "Path", "Type", "Capacity", "Allocation")
    : vtable_new (2, "Name", "Path");
  for (size_t i = 0; i < n; i++) {
    if (details) {
      char cap[32], alloc[32];
      vtable_row (t, v[i]->name, v[i]->path, v[i]->type,
                  pretty_capacity (v[i]->capacity, cap, sizeof cap),
                  pretty_capacity (v[i]->allocation, alloc, sizeof alloc));
    }
    else
      vtable_row (t, v[i]->name, v[i]->path);
  }
  vtable_print (t);
  vtable_free (t);
  pool_vol_list_free (v, n);
  pool_free (p);
  pool_ctx_close (c);
  return 0;
}

static const struct vopt info_opts[] = {
  { "vol", true, true, true },
  { "pool", true, false, false },
  { "bytes", false, false, false },
  { "physical", false, false, false },
  { "output", true, false, false },
  { NULL },
};

int
cmd_vol_info (int argc, char **argv)
{
  struct vargs a;
  struct pool_ctx *c;
  struct pool *p;
  struct pool_vol *v;
  bool bytes;
  char buf[32];
  enum output_format out;

  if (vparse (argv[0], info_opts, argc, argv, &a) || get_output (info_opts, &a, &out) ||
      get_vol (vget (info_opts, &a, "vol"), vget (info_opts, &a, "pool"), false, &c, &p, &v))
    return 1;
  if (out == OUT_JSON) {
    struct jw w;
    jw_init (&w, stdout, true);
    vol_json (&w, v);
    jw_end (&w);
    put_vol (c, p, v);
    return 0;
  }
  bytes = vhas (info_opts, &a, "bytes");
  printf ("%-15s %s\n", "Name:", v->name);
  printf ("%-15s %s\n", "Type:", v->type);
  if (bytes)
    printf ("%-15s %" PRIu64 " bytes\n", "Capacity:", v->capacity);
  else
    printf ("%-15s %s\n", "Capacity:", pretty_capacity (v->capacity, buf, sizeof buf));
  if (vhas (info_opts, &a, "physical")) {
    if (bytes)
      printf ("%-15s %" PRIu64 " bytes\n", "Physical:", v->physical);
    else
      printf ("%-15s %s\n", "Physical:", pretty_capacity (v->physical, buf, sizeof buf));
  }
  else if (bytes)
    printf ("%-15s %" PRIu64 " bytes\n", "Allocation:", v->allocation);
  else
    printf ("%-15s %s\n", "Allocation:", pretty_capacity (v->allocation, buf, sizeof buf));
  put_vol (c, p, v);
  return 0;
}

enum vol_field { F_XML, F_PATH, F_KEY, F_NAME };

static int
vol_field (int argc, char **argv, enum vol_field f)
{
  struct vargs a;
  struct pool_ctx *c;
  struct pool *p;
  struct pool_vol *v;
  char *xml;
  int rc = 0;

  if (vparse (argv[0], vol_pool_opts, argc, argv, &a) ||
      get_vol (vget (vol_pool_opts, &a, "vol"), vget (vol_pool_opts, &a, "pool"), false, &c, &p, &v))
    return 1;
  switch (f) {
  case F_XML:
    if (!(xml = pool_vol_format_xml (v)))
      rc = pool_fail ();
    else {
      fputs (xml, stdout);
      free (xml);
    }
    break;
  case F_PATH: printf ("%s\n", v->path); break;
  case F_KEY: printf ("%s\n", v->key); break;
  case F_NAME: printf ("%s\n", v->name); break;
  }
  put_vol (c, p, v);
  return rc;
}

int cmd_vol_dumpxml (int argc, char **argv) { return vol_field (argc, argv, F_XML); }
int cmd_vol_path (int argc, char **argv) { return vol_field (argc, argv, F_PATH); }
int cmd_vol_key (int argc, char **argv) { return vol_field (argc, argv, F_KEY); }

static const struct vopt by_key_opts[] = {
  { "vol", true, true, true },
  { "uuid", false, false, false },
  { NULL },
};

static int
vol_by_key (int argc, char **argv, bool want_pool)
{
  struct vargs a;
  struct pool_ctx *c;
  struct pool *p;
  struct pool_vol *v;

  if (vparse (argv[0], by_key_opts, argc, argv, &a))
    return 1;
  if (!want_pool && vhas (by_key_opts, &a, "uuid"))
    return usage_error (argv[0], "command '%s' doesn't support option --uuid", argv[0]);
  if (get_vol (vget (by_key_opts, &a, "vol"), NULL, false, &c, &p, &v))
    return 1;
  if (want_pool)
    printf ("%s\n", vhas (by_key_opts, &a, "uuid") ? p->def->uuid : p->def->name);
  else
    printf ("%s\n", v->name);
  put_vol (c, p, v);
  return 0;
}

int cmd_vol_name (int argc, char **argv) { return vol_by_key (argc, argv, false); }
int cmd_vol_pool (int argc, char **argv) { return vol_by_key (argc, argv, true); }
