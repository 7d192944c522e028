/* Opening specs into node graphs: protocol, format (probed safely), backing
 * chain (relative names, depth cap, loop detection). */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

/* For loop detection: the canonical names of the images above us. */
struct chain {
  const char *canon;
  const struct chain *up;
};

static struct vdk_node *
node_new (const char *filename)
{
  struct vdk_node *n = calloc (1, sizeof *n);
  if (!n)
    return NULL;
  if (filename && !(n->filename = strdup (filename))) {
    free (n);
    return NULL;
  }
  pthread_mutex_init (&n->lock, NULL);
  pthread_cond_init (&n->inflight_cond, NULL);
  return n;
}

void
vdk_node_close (struct vdk_node *n)
{
  if (!n)
    return;
  if (n->fmt && n->fmt->close && n->priv)
    n->fmt->close (n);
  else if (n->proto && n->proto->close && n->priv)
    n->proto->close (n);
  vdk_node_close (n->backing);
  vdk_node_close (n->file);
  pthread_mutex_destroy (&n->lock);
  pthread_cond_destroy (&n->inflight_cond);
  free (n->filename);
  free (n->backing_filename);
  free (n->backing_format);
  free (n->data_filename);
  free (n);
}

char *
vdk_resolve_relative (const char *base, const char *name)
{
  const char *slash;
  char *out;

  if (!base || name[0] == '/' || vdk_find_protocol_for_url (name) ||
      strncmp (name, "vol:", 4) == 0 ||
      strncmp (name, "json:", 5) == 0 || !(slash = strrchr (base, '/')))
    return strdup (name);
  if (strncmp (base, "json:", 5) == 0)
    return strdup (name);
  /* A URL's query (nfs://h/e/a.qcow2?nfsport=N: how to reach the server)
   * applies to the image next to it too. */
  if (strstr (base, "://") && strchr (base, '?')) {
    const char *q = strchr (base, '?'), *s = q;
    while (s > base && s[-1] != '/')
      s--;
    if (s > base) {
      if (asprintf (&out, "%.*s%s%s", (int) (s - base), base, name,
                    strchr (name, '?') ? "" : q) < 0)
        return NULL;
      return out;
    }
  }
  if (asprintf (&out, "%.*s/%s", (int) (slash - base), base, name) < 0)
    return NULL;
  return out;
}

/* "file:///path" -> "/path"; other URLs and paths unchanged. */
static const char *
strip_file_url (const char *s)
{
  if (strncmp (s, "file://", 7) == 0)
    return s + 7;
  if (strncmp (s, "file:", 5) == 0)
    return s + 5;
  return s;
}

int
vdk_open_protocol (const char *filename, struct vdk_opts *opts, unsigned flags,
                   struct vdk_node **out)
{
  const struct vdk_protocol *p = NULL;
  const char *drv = opts ? vdk_opts_take (opts, "driver") : NULL;
  struct vdk_opts empty;
  struct vdk_node *n;
  int r;

  vdk_opts_init (&empty);
  if (!opts)
    opts = &empty;
  if (drv) {
    p = vdk_find_protocol (drv);
    if (!p)
      return vdk_err (EINVAL, "%s: unknown protocol '%s'", filename ? filename : "", drv);
  }
  else if (filename)
    p = vdk_find_protocol_for_url (filename);
  if (!p) {
    if (filename && strchr (filename, ':') && !strchr (filename, '/') &&
        strncmp (filename, "file:", 5) != 0) {
      /* "foo:bar" with an unknown scheme and no path: say so clearly. */
      struct stat st;
      if (stat (filename, &st) < 0) {
        size_t l = strcspn (filename, ":");
        return vdk_err (ENOENT, "%s: unknown protocol '%.*s' and no such file",
                        filename, (int) l, filename);
      }
    }
    p = vdk_find_protocol ("file");
  }
  if (p == vdk_find_protocol ("file") && filename)
    filename = strip_file_url (filename);
  n = node_new (filename);
  if (!n)
    return vdk_err (ENOMEM, "out of memory");
  n->proto = p;
  n->flags = flags;
  r = p->open (n, opts, flags);
  if (r < 0) {
    n->priv = NULL;
    vdk_node_close (n);
    vdk_opts_free (&empty);
    return r;
  }
  r = vdk_opts_check_unused (opts, p->name);
  vdk_opts_free (&empty);
  if (r < 0) {
    vdk_node_close (n);
    return r;
  }
  *out = n;
  return 0;
}

static int
probe_format (struct vdk_node *file, const struct vdk_format **out)
{
  uint8_t buf[2048];
  size_t len = VDK_MIN ((uint64_t) sizeof buf, file->size);
  int best = -1, r;

  r = vdk_node_pread (file, buf, len, 0);
  if (r < 0)
    return r;
  for (size_t i = 0; vdk_formats[i]; i++) {
    const struct vdk_format *f = vdk_formats[i];
    int s;
    if (!f->probe)
      continue;
    s = f->probe (buf, len, file->filename);
    if (s > best) {
      best = s;
      *out = f;
    }
  }
  if (best <= 0)
    return vdk_err (EINVAL, "%s: could not determine the image format", file->filename);
  return 0;
}

static int
parse_cache (const char *mode, unsigned *flags)
{
  if (!mode || !strcmp (mode, "writeback"))
    return 0;
  if (!strcmp (mode, "none"))
    *flags |= VDK_O_DIRECT;
  else if (!strcmp (mode, "unsafe"))
    *flags |= VDK_O_UNSAFE;
  else if (!strcmp (mode, "writethrough"))
    *flags |= VDK_O_WRITETHROUGH;
  else if (!strcmp (mode, "directsync"))
    *flags |= VDK_O_DIRECT | VDK_O_WRITETHROUGH;
  else
    return vdk_err (EINVAL, "invalid cache mode '%s' (writeback, none, unsafe, writethrough,"
                    " directsync)", mode);
  return 0;
}

/* Does S look like "key=value,..." rather than a file name? */
static bool
looks_like_kv (const char *s)
{
  const char *eq = strchr (s, '=');
  struct stat st;

  if (!eq || stat (s, &st) == 0)
    return false;
  for (const char *p = s; p < eq; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' ||
          *p == '-' || *p == '_'))
      return false;
  return eq > s;
}

static int open_spec_chain (const char *spec, const char *format, struct vdk_opts *extra,
                            unsigned flags, int depth, const struct chain *up,
                            struct vdk_node **out);

static int
open_backing (struct vdk_node *n, struct vdk_opts *bopts, unsigned flags, int depth,
              const struct chain *self)
{
  char *name;
  int r;
  unsigned bflags = (flags & ~(VDK_O_RDWR | VDK_O_PROBED | VDK_O_CREATE | VDK_O_FROM_IMAGE));
  if (flags & VDK_O_BACKING_NOLOCK)
    bflags |= VDK_O_NOLOCK;

  if (depth + 1 >= VDK_MAX_CHAIN_DEPTH)
    return vdk_err (ELOOP, "%s: backing chain is deeper than %d images (at %s)",
                    n->filename, VDK_MAX_CHAIN_DEPTH, n->backing_filename);
  name = vdk_resolve_relative (n->filename, n->backing_filename);
  if (!name)
    return vdk_err (ENOMEM, "out of memory");
  if (strncmp (name, "vol:", 4) == 0) {
    char *resolved;
    r = vdk_resolve_vol_spec (name, 0, &resolved);
    free (name);
    if (r < 0) {
      vdk_err_prefix ("%s: could not open backing file", n->filename);
      return r;
    }
    name = resolved;
  }
  else
    bflags |= VDK_O_FROM_IMAGE;   /* a vol: spec resolves to the pools' own specs */
  r = open_spec_chain (name, n->backing_format, bopts, bflags, depth + 1, self, &n->backing);
  /* Chain-level errors (too deep, a loop) are reported once, as they are,
   * not wrapped by every image above. */
  if (r < 0 && r != -ELOOP)
    vdk_err_prefix ("%s: could not open backing file", n->filename);
  free (name);
  return r;
}

static int
open_spec_chain (const char *spec, const char *format, struct vdk_opts *extra,
                 unsigned flags, int depth, const struct chain *up, struct vdk_node **out)
{
  struct vdk_opts o, fopts, bopts;
  const struct vdk_format *fmt = NULL;
  struct vdk_node *file = NULL, *n = NULL;
  const char *filename, *v;
  char canon[PATH_MAX];
  struct chain self;
  int r;

  vdk_opts_init (&o);
  vdk_opts_init (&fopts);
  vdk_opts_init (&bopts);
  if (strncmp (spec, "json:", 5) == 0)
    r = vdk_opts_parse_json (&o, spec + 5);
  else if (looks_like_kv (spec))
    r = vdk_opts_parse (&o, spec, NULL);
  else
    r = vdk_opts_set (&o, "filename", spec);
  for (size_t i = 0; r == 0 && extra && i < extra->n; i++)
    r = vdk_opts_set (&o, extra->v[i].key, extra->v[i].value);
  if (r < 0)
    goto out;

  if ((v = vdk_opts_take (&o, "cache")) && (r = parse_cache (v, &flags)) < 0)
    goto out;
  if ((v = vdk_opts_take (&o, "driver")) && !format)
    format = v;
  if (format && !vdk_find_format (format) && vdk_find_protocol (format)) {
    /* driver=file: the protocol itself, seen as raw. */
    r = vdk_opts_set (&fopts, "driver", format);
    format = "raw";
    if (r < 0)
      goto out;
  }
  if (format && !(fmt = vdk_find_format (format))) {
    r = vdk_err (EINVAL, "Unknown file format '%s'", format);
    goto out;
  }
  if ((r = vdk_opts_extract_prefix (&o, "file", &fopts)) < 0 ||
      (r = vdk_opts_extract_prefix (&o, "backing", &bopts)) < 0)
    goto out;
  filename = vdk_opts_take (&fopts, "filename");
  if (!filename)
    filename = vdk_opts_take (&o, "file");
  if (!filename)
    filename = vdk_opts_take (&o, "filename");
  if (!filename) {
    r = vdk_err (EINVAL, "%s: no filename in the image spec", spec);
    goto out;
  }

  /* Loop detection on canonical names. */
  if (realpath (strip_file_url (filename), canon) == NULL)
    snprintf (canon, sizeof canon, "%s", filename);
  for (const struct chain *c = up; c; c = c->up)
    if (strcmp (c->canon, canon) == 0) {
      r = vdk_err (ELOOP, "%s: backing chain loop: the image is its own backing file",
                   filename);
      goto out;
    }
  self.canon = canon;
  self.up = up;

  r = vdk_open_protocol (filename, &fopts, flags, &file);
  if (r < 0)
    goto out;
  if (!fmt) {
    r = probe_format (file, &fmt);
    if (r < 0)
      goto out;
    flags |= VDK_O_PROBED;
  }
  n = node_new (file->filename);
  if (!n) {
    r = vdk_err (ENOMEM, "out of memory");
    goto out;
  }
  n->fmt = fmt;
  n->file = file;
  n->flags = flags;
  n->depth = depth;
  file = NULL;
  r = fmt->open (n, &o, flags);
  if (r < 0) {
    n->priv = NULL;
    goto out;
  }
  if ((r = vdk_opts_check_unused (&o, fmt->name)) < 0)
    goto out;
  if (n->size > VDK_MAX_IMAGE_SIZE) {
    r = vdk_err (EFBIG, "%s: virtual size %" PRIu64 " is too large", n->filename, n->size);
    goto out;
  }
  if (n->backing_filename && n->backing_filename[0] && !(flags & VDK_O_NO_BACKING)) {
    r = open_backing (n, &bopts, flags, depth, &self);
    if (r < 0)
      goto out;
  }
  *out = n;
  n = NULL;
 out:
  vdk_node_close (n);
  vdk_node_close (file);
  vdk_opts_free (&o);
  vdk_opts_free (&fopts);
  vdk_opts_free (&bopts);
  return r;
}

static disk_spec_resolver spec_resolver;

void
disk_set_spec_resolver (disk_spec_resolver fn)
{
  spec_resolver = fn;
}

int
vdk_resolve_vol_spec (const char *spec, unsigned flags, char **out)
{
  char msg[1024] = "";
  int r;

  *out = NULL;
  if (!spec || strncmp (spec, "vol:", 4) != 0)
    return 0;
  if (!spec_resolver)
    return vdk_err (ENOTSUP, "%s: volume specs need the storage pools (this program"
                    " does not provide them)", spec);
  r = spec_resolver (spec, flags, out, msg, sizeof msg);
  if (r >= 0 && !*out)
    r = -EIO;
  if (r < 0) {
    free (*out);
    *out = NULL;
    return vdk_err (-r, "%s", msg[0] ? msg : "cannot resolve the volume spec");
  }
  return 0;
}

static disk_secret_lookup secret_lookup;

void
disk_set_secret_lookup (disk_secret_lookup fn)
{
  secret_lookup = fn;
}

int
vdk_secret_lookup (const char *id, const char *who, char **value)
{
  char msg[1024] = "";
  unsigned char *v = NULL;
  size_t len = 0;
  int r;

  *value = NULL;
  if (!secret_lookup)
    return vdk_err (ENOTSUP, "%s: secret '%s': this program has no secret store", who, id);
  r = secret_lookup (id, &v, &len, msg, sizeof msg);
  if (r >= 0 && !v)
    r = -EIO;
  if (r >= 0 && memchr (v, 0, len)) {
    snprintf (msg, sizeof msg, "the value of secret '%s' contains a NUL byte", id);
    r = -EINVAL;
  }
  if (r < 0) {
    if (v) {
      explicit_bzero (v, len);
      free (v);
    }
    return vdk_err (-r, "%s: %s", who, msg[0] ? msg : "cannot look up the secret");
  }
  *value = (char *) v;
  return 0;
}

void
vdk_secret_free (char *value)
{
  if (value) {
    explicit_bzero (value, strlen (value));
    free (value);
  }
}

int
vdk_open_spec (const char *spec, const char *format, struct vdk_opts *extra,
               unsigned flags, int depth, struct vdk_node **out)
{
  char *resolved;
  int r;

  if (!spec || !spec[0])
    return vdk_err (EINVAL, "empty image name");
  r = vdk_resolve_vol_spec (spec, 0, &resolved);
  if (r < 0)
    return r;
  r = open_spec_chain (resolved ? resolved : spec, format, extra, flags, depth, NULL, out);
  free (resolved);
  return r;
}

int
vdk_create_file (struct vdk_node *relative_to, const char *name, struct vdk_node **out)
{
  char *path = vdk_resolve_relative (relative_to ? relative_to->filename : NULL, name);
  const struct vdk_protocol *p;
  int r;

  if (!path)
    return vdk_err (ENOMEM, "out of memory");
  p = vdk_find_protocol_for_url (path);
  if (!p)
    p = vdk_find_protocol ("file");
  if (!p->create) {
    free (path);
    return vdk_err (ENOTSUP, "%s: the %s protocol cannot create files", name, p->name);
  }
  r = p->create (strip_file_url (path), NULL);
  if (r == 0)
    r = vdk_open_protocol (path, NULL, VDK_O_RDWR | (relative_to ? relative_to->flags & VDK_O_NOLOCK : 0), out);
  free (path);
  return r;
}

int
vdk_open_file (struct vdk_node *relative_to, const char *name, unsigned flags,
               struct vdk_node **out)
{
  char *path = vdk_resolve_relative (relative_to ? relative_to->filename : NULL, name);
  int r;

  if (!path)
    return vdk_err (ENOMEM, "out of memory");
  /* extents and data files: names read from an image */
  r = vdk_open_protocol (path, NULL, flags | VDK_O_FROM_IMAGE, out);
  free (path);
  return r;
}

int
vdk_parse_prealloc (const char *s, enum vdk_prealloc *out)
{
  if (!s || !strcmp (s, "off"))
    *out = VDK_PREALLOC_OFF;
  else if (!strcmp (s, "metadata"))
    *out = VDK_PREALLOC_METADATA;
  else if (!strcmp (s, "falloc"))
    *out = VDK_PREALLOC_FALLOC;
  else if (!strcmp (s, "full"))
    *out = VDK_PREALLOC_FULL;
  else
    return vdk_err (EINVAL, "invalid parameter value: %s", s);   /* qemu-img's words */
  return 0;
}

const char *
vdk_prealloc_name (enum vdk_prealloc p)
{
  static const char *const names[] = { "off", "metadata", "falloc", "full" };
  return names[p];
}
