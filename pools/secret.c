/* Secrets: libvirt's secret XML, the state dir's secrets/ and run/secrets/,
 * values in base64 files.  Values are wiped from memory after use and never
 * put into a message. */
#include <errno.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/tree.h>

#include "pool-int.h"
#include "secret.h"

#define B64_FILE_MAX POOL_SECRET_MAX_BASE64

/* libvirt's names, the element holding the usage id, the word its
 * "usage specified, but ... is missing" messages use. */
static const struct {
  const char *name, *elem, *label, *what;
} usages[] = {
  [POOL_SECRET_USAGE_NONE] = { "none", NULL, NULL, NULL },
  [POOL_SECRET_USAGE_VOLUME] = { "volume", "volume", "volume", "volume path" },
  [POOL_SECRET_USAGE_CEPH] = { "ceph", "name", "Ceph", "name" },
  [POOL_SECRET_USAGE_ISCSI] = { "iscsi", "target", "iSCSI", "target" },
  [POOL_SECRET_USAGE_TLS] = { "tls", "name", "TLS", "name" },
  [POOL_SECRET_USAGE_VTPM] = { "vtpm", "name", "vTPM", "name" },
};
#define N_USAGES ((int) (sizeof usages / sizeof usages[0]))

const char *
pool_secret_usage_name (enum pool_secret_usage t)
{
  return (int) t >= 0 && (int) t < N_USAGES ? usages[t].name : NULL;
}

int
pool_secret_usage_from_name (const char *name)
{
  for (int i = 0; name && i < N_USAGES; i++)
    if (!strcmp (usages[i].name, name))
      return i;
  return -1;
}

static void
wipe_free (void *p, size_t len)
{
  if (p) {
    explicit_bzero (p, len);
    free (p);
  }
}

void
pool_secret_value_free (unsigned char *value, size_t len)
{
  wipe_free (value, len);
}

/* ---- base64 ------------------------------------------------------------------ */
static const char b64chars[] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
pool_base64_encode (const unsigned char *data, size_t len)
{
  char *out, *o;

  if (len > POOL_SECRET_MAX_VALUE * 16u) {
    pool_err (EFBIG, "value is too large to encode");
    return NULL;
  }
  out = malloc ((len + 2) / 3 * 4 + 1);
  if (!out) {
    pool_err (ENOMEM, "out of memory");
    return NULL;
  }
  o = out;
  for (size_t i = 0; i < len; i += 3) {
    unsigned v = (unsigned) data[i] << 16;
    size_t n = len - i < 3 ? len - i : 3;
    if (n > 1)
      v |= (unsigned) data[i + 1] << 8;
    if (n > 2)
      v |= data[i + 2];
    *o++ = b64chars[(v >> 18) & 63];
    *o++ = b64chars[(v >> 12) & 63];
    *o++ = n > 1 ? b64chars[(v >> 6) & 63] : '=';
    *o++ = n > 2 ? b64chars[v & 63] : '=';
  }
  *o = 0;
  return out;
}

static int
b64val (unsigned char c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

int
pool_base64_decode (const char *in, size_t inlen, size_t max, unsigned char **out,
                    size_t *outlen)
{
  size_t cap = inlen / 4 * 3 + 3, n = 0;
  unsigned char *buf;
  unsigned quad = 0;
  int k = 0, pads = 0;

  *out = NULL;
  *outlen = 0;
  if (cap > max + 3)
    cap = max + 3;
  buf = malloc (cap + 1);
  if (!buf)
    return pool_err (ENOMEM, "out of memory");
  for (size_t i = 0; i < inlen; i++) {
    unsigned char c = (unsigned char) in[i];
    int v;
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
      continue;
    if (c == '=') {
      /* Padding completes a group of 2 or 3 characters; nothing follows. */
      if (k < 2 || k + ++pads > 4)
        goto bad;
      continue;
    }
    if (pads || (v = b64val (c)) < 0)
      goto bad;
    quad = quad << 6 | (unsigned) v;
    if (++k == 4) {
      if (n + 3 > max)
        goto big;
      buf[n++] = (unsigned char) (quad >> 16);
      buf[n++] = (unsigned char) (quad >> 8);
      buf[n++] = (unsigned char) quad;
      quad = 0;
      k = 0;
    }
  }
  if (k == 1 || (pads && k + pads != 4))
    goto bad;
  if (k >= 2) {
    quad <<= 6 * (4 - k);
    if (n + (size_t) (k - 1) > max)
      goto big;
    buf[n++] = (unsigned char) (quad >> 16);
    if (k == 3)
      buf[n++] = (unsigned char) (quad >> 8);
  }
  buf[n] = 0;
  explicit_bzero (&quad, sizeof quad);
  *out = buf;
  *outlen = n;
  return 0;
 bad:
  wipe_free (buf, cap + 1);
  return pool_err (EINVAL, "invalid base64 data");
 big:
  wipe_free (buf, cap + 1);
  return pool_err (EFBIG, "the secret value is too large (the limit is %zu bytes)", max);
}

/* ---- XML ------------------------------------------------------------------------ */
void
pool_secret_def_free (struct pool_secret_def *d)
{
  if (!d)
    return;
  free (d->description);
  free (d->usage_id);
  free (d);
}

static int
yes_no (xmlNodePtr root, const char *name, const char *src, bool *out)
{
  char *v = pool_xml_attr (root, name);
  int r = 0;

  if (!v)
    return 0;
  if (!strcmp (v, "yes"))
    *out = true;
  else if (!strcmp (v, "no"))
    *out = false;
  else
    r = pool_err (EINVAL, "%s: XML error: invalid value of '%s'", src, name);
  free (v);
  return r;
}

int
pool_secret_def_parse (const char *xml, size_t len, const char *src,
                       struct pool_secret_def **out)
{
  struct pool_secret_def *d;
  xmlDocPtr doc;
  xmlNodePtr root, u;
  char *v;
  int r, t;

  *out = NULL;
  if (len > POOL_SECRET_MAX_XML)
    return pool_err (EFBIG, "%s: XML document is too large (more than %u bytes)", src,
                     POOL_SECRET_MAX_XML);
  if (!(doc = pool_xml_parse (xml, len, src, "secret")))
    return -pool_last_errno ();
  d = calloc (1, sizeof *d);
  if (!d) {
    xmlFreeDoc (doc);
    return pool_err (ENOMEM, "out of memory");
  }
  root = xmlDocGetRootElement (doc);
  if ((r = yes_no (root, "ephemeral", src, &d->ephemeral)) < 0 ||
      (r = yes_no (root, "private", src, &d->is_private)) < 0)
    goto fail;
  if ((v = pool_xml_text (pool_xml_child (root, "uuid")))) {
    if (!pool_uuid_valid (v)) {
      free (v);
      r = pool_err (EINVAL, "%s: malformed uuid element", src);
      goto fail;
    }
    for (size_t i = 0; i < 36; i++)
      d->uuid[i] = (char) (v[i] >= 'A' && v[i] <= 'F' ? v[i] + 32 : v[i]);
    d->uuid[36] = 0;
    free (v);
  }
  if ((v = pool_xml_text (pool_xml_child (root, "description"))) && !v[0]) {
    free (v);
    v = NULL;
  }
  d->description = v;
  if ((u = pool_xml_child (root, "usage"))) {
    v = pool_xml_attr (u, "type");
    t = pool_secret_usage_from_name (v);
    if (t < 0) {
      r = v ? pool_err (EINVAL, "%s: XML error: unknown secret usage type %s", src, v)
        : pool_err (EINVAL, "%s: XML error: unknown secret usage type", src);
      free (v);
      goto fail;
    }
    free (v);
    d->usage_type = (enum pool_secret_usage) t;
    if (t != POOL_SECRET_USAGE_NONE) {
      d->usage_id = pool_xml_text (pool_xml_child (u, usages[t].elem));
      if (!d->usage_id || !d->usage_id[0]) {
        r = pool_err (EINVAL, "%s: XML error: %s usage specified, but %s is missing", src,
                      usages[t].label, usages[t].what);
        goto fail;
      }
    }
  }
  xmlFreeDoc (doc);
  *out = d;
  return 0;
 fail:
  xmlFreeDoc (doc);
  pool_secret_def_free (d);
  return r;
}

char *
pool_secret_def_format (const struct pool_secret_def *d)
{
  char *desc = NULL, *id = NULL, *s = NULL;
  int t = (int) d->usage_type;

  if (t < 0 || t >= N_USAGES || (t != POOL_SECRET_USAGE_NONE && !d->usage_id)) {
    pool_err (EINVAL, "secret %s: bad usage", d->uuid);
    return NULL;
  }
  if ((d->description && !(desc = pool_xml_escape (d->description))) ||
      (t != POOL_SECRET_USAGE_NONE && !(id = pool_xml_escape (d->usage_id))))
    goto out;
  if (asprintf (&s, "<secret ephemeral='%s' private='%s'>\n  <uuid>%s</uuid>\n%s%s%s",
                d->ephemeral ? "yes" : "no", d->is_private ? "yes" : "no", d->uuid,
                desc ? "  <description>" : "", desc ? desc : "",
                desc ? "</description>\n" : "") < 0)
    s = NULL;
  if (s && t != POOL_SECRET_USAGE_NONE) {
    char *s2;
    if (asprintf (&s2, "%s  <usage type='%s'>\n    <%s>%s</%s>\n  </usage>\n", s,
                  usages[t].name, usages[t].elem, id, usages[t].elem) < 0)
      s2 = NULL;
    free (s);
    s = s2;
  }
  if (s) {
    char *s2;
    if (asprintf (&s2, "%s</secret>\n", s) < 0)
      s2 = NULL;
    free (s);
    s = s2;
  }
 out:
  free (desc);
  free (id);
  if (!s)
    pool_err (ENOMEM, "out of memory");
  return s;
}

/* A definition built by a caller rather than parsed gets the same checks. */
static int
check_def (const struct pool_secret_def *d)
{
  int t = (int) d->usage_type;

  if (d->uuid[0] && !pool_uuid_valid (d->uuid))
    return pool_err (EINVAL, "malformed uuid '%s'", d->uuid);
  if (t < 0 || t >= N_USAGES)
    return pool_err (EINVAL, "unknown secret usage type %d", t);
  if (t != POOL_SECRET_USAGE_NONE && (!d->usage_id || !d->usage_id[0]))
    return pool_err (EINVAL, "%s usage specified, but %s is missing", usages[t].label,
                     usages[t].what);
  return 0;
}

/* ---- the state dir ------------------------------------------------------------- */
static const char *
subdir (bool ephemeral)
{
  return ephemeral ? "run/secrets" : "secrets";
}

static char *
spath (struct pool_ctx *c, bool ephemeral, const char *uuid, const char *ext)
{
  char *s;
  if (asprintf (&s, "%s/%s/%s%s", pool_ctx_dir (c), subdir (ephemeral), uuid, ext) < 0) {
    pool_err (ENOMEM, "out of memory");
    return NULL;
  }
  return s;
}

static bool
exists (const char *path)
{
  struct stat st;
  return lstat (path, &st) == 0;
}

/* secrets/ and run/secrets/ are the owner's only. */
static int
ensure_dir (struct pool_ctx *c, bool ephemeral)
{
  char *dir;
  struct stat st;
  int r = 0;

  if (asprintf (&dir, "%s/%s", pool_ctx_dir (c), subdir (ephemeral)) < 0)
    return pool_err (ENOMEM, "out of memory");
  if (mkdir (dir, 0700) < 0 && errno != EEXIST)
    r = pool_err (errno, "cannot create directory '%s': %s", dir, strerror (errno));
  else if (lstat (dir, &st) < 0)
    r = pool_err (errno, "%s: %s", dir, strerror (errno));
  else if (!S_ISDIR (st.st_mode))
    r = pool_err (ENOTDIR, "%s: not a directory", dir);
  else if ((st.st_mode & 0777) != 0700 && chmod (dir, 0700) < 0)
    r = pool_err (errno, "%s: %s", dir, strerror (errno));
  free (dir);
  return r;
}

static int
remove_file (const char *path)
{
  if (unlink (path) < 0 && errno != ENOENT)
    return pool_err (errno, "%s: %s", path, strerror (errno));
  return 0;
}

/* The state dir is trusted no more than any other input. */
static int
load_def (const char *path, const char *uuid, bool ephemeral, struct pool_secret_def **out)
{
  char *xml;
  size_t len;
  int r = pool_read_file (path, POOL_SECRET_MAX_XML, &xml, &len);

  *out = NULL;
  if (r < 0)
    return r;
  r = pool_secret_def_parse (xml, len, path, out);
  free (xml);
  if (r < 0)
    return r;
  if (strcmp ((*out)->uuid, uuid) != 0 || (*out)->ephemeral != ephemeral) {
    pool_secret_def_free (*out);
    *out = NULL;
    return pool_err (EINVAL, "%s: the secret definition is damaged (uuid or ephemeral flag)",
                     path);
  }
  return 0;
}

void
pool_secret_free (struct pool_secret *s)
{
  if (!s)
    return;
  pool_secret_def_free (s->def);
  free (s);
}

void
pool_secret_list_free (struct pool_secret **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    pool_secret_free (v[i]);
  free (v);
}

/* UUID is valid and lower case.  0 and *OUT = NULL when there is none. */
static int
load_secret (struct pool_ctx *c, const char *uuid, struct pool_secret **out)
{
  struct pool_secret *s;
  bool eph = false;
  char *cfg, *val;
  int r;

  *out = NULL;
  if (!(cfg = spath (c, false, uuid, ".xml")))
    return -ENOMEM;
  if (!exists (cfg)) {
    free (cfg);
    if (!pool_ctx_run_valid (c) || !(cfg = spath (c, true, uuid, ".xml")))
      return pool_ctx_run_valid (c) ? -ENOMEM : 0;
    if (!exists (cfg)) {
      free (cfg);
      return 0;
    }
    eph = true;
  }
  if (!(s = calloc (1, sizeof *s))) {
    free (cfg);
    return pool_err (ENOMEM, "out of memory");
  }
  s->ctx = c;
  r = load_def (cfg, uuid, eph, &s->def);
  free (cfg);
  if (r < 0) {
    free (s);
    return r;
  }
  if (!(val = spath (c, eph, uuid, ".base64"))) {
    pool_secret_free (s);
    return -ENOMEM;
  }
  s->has_value = exists (val);
  free (val);
  *out = s;
  return 0;
}

static bool
canonical_uuid (const char *s, char out[37])
{
  if (!s || !pool_uuid_valid (s))
    return false;
  for (size_t i = 0; i < 36; i++)
    out[i] = (char) (s[i] >= 'A' && s[i] <= 'F' ? s[i] + 32 : s[i]);
  out[36] = 0;
  return true;
}

int
pool_secret_lookup (struct pool_ctx *c, const char *uuid, struct pool_secret **out)
{
  char u[37];
  int r = 0;

  *out = NULL;
  if (canonical_uuid (uuid, u) && ((r = load_secret (c, u, out)) < 0 || *out))
    return r < 0 ? r : 0;
  return pool_err (ENOENT, "Secret not found: no secret with matching uuid '%s'",
                   uuid ? uuid : "");
}

static int
cmp_secret (const void *a, const void *b)
{
  return strcasecmp ((*(struct pool_secret *const *) a)->def->uuid,
                     (*(struct pool_secret *const *) b)->def->uuid);
}

int
pool_secret_list (struct pool_ctx *c, struct pool_secret ***out, size_t *n)
{
  struct pool_secret **v = NULL;
  size_t count = 0;

  *out = NULL;
  *n = 0;
  for (int k = 0; k < 2; k++) {
    char *dir;
    DIR *d;
    struct dirent *e;
    if (k == 1 && !pool_ctx_run_valid (c))
      break;
    if (asprintf (&dir, "%s/%s", pool_ctx_dir (c), subdir (k == 1)) < 0)
      goto oom;
    d = opendir (dir);
    free (dir);
    if (!d)
      continue;
    while ((e = readdir (d))) {
      char u[37];
      struct pool_secret *s, **nv;
      bool dup = false;
      /* Only UUID.xml as we write them (lower case): not temp files. */
      if (strlen (e->d_name) != 40 || strcmp (e->d_name + 36, ".xml") != 0)
        continue;
      memcpy (u, e->d_name, 36);
      u[36] = 0;
      if (!pool_uuid_valid (u) || strpbrk (u, "ABCDEF"))
        continue;
      for (size_t i = 0; i < count && !dup; i++)
        dup = !strcmp (v[i]->def->uuid, u);
      /* A damaged definition does not hide the others. */
      if (dup || load_secret (c, u, &s) < 0 || !s)
        continue;
      if (count >= POOL_SECRET_MAX_COUNT || !(nv = realloc (v, (count + 1) * sizeof *nv))) {
        pool_secret_free (s);
        closedir (d);
        if (count >= POOL_SECRET_MAX_COUNT) {
          pool_secret_list_free (v, count);
          return pool_err (EFBIG, "more than %d secrets in the state directory",
                           POOL_SECRET_MAX_COUNT);
        }
        goto oom;
      }
      v = nv;
      v[count++] = s;
    }
    closedir (d);
  }
  if (count)
    qsort (v, count, sizeof *v, cmp_secret);
  *out = v;
  *n = count;
  return 0;
 oom:
  pool_secret_list_free (v, count);
  return pool_err (ENOMEM, "out of memory");
}

int
pool_secret_lookup_by_usage (struct pool_ctx *c, const char *type, const char *id,
                             struct pool_secret **out)
{
  struct pool_secret **v;
  size_t n;
  int t = pool_secret_usage_from_name (type), r;

  *out = NULL;
  if (t <= POOL_SECRET_USAGE_NONE)
    return pool_err (EINVAL, "unknown secret usage type '%s'", type ? type : "");
  if ((r = pool_secret_list (c, &v, &n)) < 0)
    return r;
  for (size_t i = 0; i < n && !*out; i++)
    if ((int) v[i]->def->usage_type == t && !strcmp (v[i]->def->usage_id, id ? id : "")) {
      *out = v[i];
      v[i] = NULL;
    }
  pool_secret_list_free (v, n);
  if (!*out)
    return pool_err (ENOENT, "Secret not found: no secret with matching usage '%s'",
                     id ? id : "");
  return 0;
}

/* Copy the value file of a secret that moves between secrets/ and
 * run/secrets/ (its ephemeral flag changed). */
static int
copy_value (struct pool_ctx *c, const char *uuid, bool from_eph)
{
  char *src = spath (c, from_eph, uuid, ".base64"), *dst = spath (c, !from_eph, uuid, ".base64");
  char *data = NULL;
  size_t len = 0;
  int r = 0;

  if (!src || !dst)
    r = -ENOMEM;
  else if (exists (src)) {
    if ((r = pool_read_file (src, B64_FILE_MAX, &data, &len)) == 0)
      r = pool_write_file (dst, data, 0600);
  }
  wipe_free (data, len);
  free (src);
  free (dst);
  return r;
}

int
pool_secret_define (struct pool_ctx *c, struct pool_secret_def *def, struct pool_secret **out)
{
  struct pool_secret *old = NULL, **all = NULL;
  size_t n = 0;
  char *xml = NULL, *path = NULL, *val = NULL;
  int r;

  if (out)
    *out = NULL;
  if ((r = pool_ctx_need_exclusive (c)) < 0 || (r = check_def (def)) < 0)
    goto out;
  if (def->uuid[0]) {
    char u[37];
    canonical_uuid (def->uuid, u);
    memcpy (def->uuid, u, sizeof u);
    /* A damaged definition is replaced: that is how it gets repaired. */
    if (load_secret (c, def->uuid, &old) < 0)
      old = NULL;
  }
  else if ((r = pool_uuid_generate (def->uuid)) < 0)
    goto out;
  if (old) {
    const char *o = old->def->usage_id, *nu = def->usage_id;
    if ((o || nu) && (!o || !nu || strcmp (o, nu))) {
      r = pool_err (EEXIST, "a secret with UUID %s is already defined for use with %s",
                    def->uuid, o ? o : "nothing (no usage)");
      goto out;
    }
    if (old->def->is_private && !def->is_private) {
      r = pool_err (EPERM, "cannot change private flag on existing secret");
      goto out;
    }
  }
  /* One secret per usage (none excepted). */
  if (def->usage_type != POOL_SECRET_USAGE_NONE) {
    if ((r = pool_secret_list (c, &all, &n)) < 0)
      goto out;
    for (size_t i = 0; i < n; i++)
      if (all[i]->def->usage_type == def->usage_type && strcmp (all[i]->def->uuid, def->uuid) &&
          !strcmp (all[i]->def->usage_id, def->usage_id)) {
        r = pool_err (EEXIST, "a secret with UUID %s already defined for use with %s",
                      all[i]->def->uuid, def->usage_id);
        goto out;
      }
  }
  if ((r = ensure_dir (c, def->ephemeral)) < 0)
    goto out;
  if (!(xml = pool_secret_def_format (def)) || !(path = spath (c, def->ephemeral, def->uuid, ".xml"))) {
    r = -pool_last_errno ();
    goto out;
  }
  if (!old) {
    /* A new UUID, or a damaged definition being replaced.  A value without
     * its definition (left by a crash) must not join the new secret; a
     * damaged definition keeps its value where the new one goes. */
    for (int k = 0; k < 2 && r == 0; k++) {
      bool eph = k == 1;
      char *x = spath (c, eph, def->uuid, ".xml"), *b = spath (c, eph, def->uuid, ".base64");
      if (!x || !b)
        r = -ENOMEM;
      else if (eph != def->ephemeral || !exists (x)) {
        r = remove_file (b);
        if (r == 0 && eph != def->ephemeral)
          r = remove_file (x);
      }
      free (x);
      free (b);
    }
    if (r < 0)
      goto out;
  }
  else if (old->def->ephemeral != def->ephemeral && (r = copy_value (c, def->uuid, old->def->ephemeral)) < 0)
    goto out;
  if ((r = pool_write_file (path, xml, 0600)) < 0)
    goto out;
  if (old && old->def->ephemeral != def->ephemeral) {
    char *ox = spath (c, old->def->ephemeral, def->uuid, ".xml");
    free (val);
    val = spath (c, old->def->ephemeral, def->uuid, ".base64");
    if (!ox || !val || (r = remove_file (ox)) < 0 || (r = remove_file (val)) < 0) {
      r = r < 0 ? r : -ENOMEM;
      free (ox);
      goto out;
    }
    free (ox);
  }
  if (out) {
    if ((r = load_secret (c, def->uuid, out)) == 0 && !*out)
      r = pool_err (EIO, "secret %s: its definition vanished after writing it", def->uuid);
  }
 out:
  pool_secret_free (old);
  pool_secret_list_free (all, n);
  pool_secret_def_free (def);
  free (xml);
  free (path);
  free (val);
  return r;
}

int
pool_secret_undefine (struct pool_secret *s)
{
  char *val, *cfg;
  int r;

  if ((r = pool_ctx_need_exclusive (s->ctx)) < 0)
    return r;
  val = spath (s->ctx, s->def->ephemeral, s->def->uuid, ".base64");
  cfg = spath (s->ctx, s->def->ephemeral, s->def->uuid, ".xml");
  /* The value first: a crash in between leaves a secret without a value,
   * never a value without its secret. */
  if (!val || !cfg)
    r = -ENOMEM;
  else if ((r = remove_file (val)) == 0)
    r = remove_file (cfg);
  free (val);
  free (cfg);
  if (r == 0)
    s->has_value = false;
  return r;
}

int
pool_secret_set_value (struct pool_secret *s, const unsigned char *value, size_t len)
{
  char *b64, *path;
  int r;

  if ((r = pool_ctx_need_exclusive (s->ctx)) < 0)
    return r;
  if (len > POOL_SECRET_MAX_VALUE)
    return pool_err (EFBIG, "the secret value is too large (%zu bytes; the limit is %u bytes)",
                     len, POOL_SECRET_MAX_VALUE);
  if ((r = ensure_dir (s->ctx, s->def->ephemeral)) < 0)
    return r;
  if (!(path = spath (s->ctx, s->def->ephemeral, s->def->uuid, ".base64")))
    return -ENOMEM;
  if (!(b64 = pool_base64_encode (value, len))) {
    free (path);
    return -pool_last_errno ();
  }
  r = pool_write_file (path, b64, 0600);
  wipe_free (b64, strlen (b64));
  free (path);
  if (r == 0)
    s->has_value = true;
  return r;
}

int
pool_secret_get_value (struct pool_secret *s, bool internal, unsigned char **value, size_t *len)
{
  char *path, *data = NULL;
  size_t dlen = 0;
  int r;

  *value = NULL;
  *len = 0;
  if (s->def->is_private && !internal)
    return pool_err (EPERM, "Invalid secret: secret is private");
  if (!(path = spath (s->ctx, s->def->ephemeral, s->def->uuid, ".base64")))
    return -ENOMEM;
  if (!exists (path))
    r = pool_err (ENOENT, "Secret not found: secret '%s' does not have a value", s->def->uuid);
  else if ((r = pool_read_file (path, B64_FILE_MAX, &data, &dlen)) == 0 &&
           (r = pool_base64_decode (data, dlen, POOL_SECRET_MAX_VALUE, value, len)) < 0)
    r = pool_err (-r, "%s: the secret value is damaged (%s)", path,
                  r == -EFBIG ? "too large" : "not base64");
  wipe_free (data, dlen);
  free (path);
  return r;
}

/* ---- for the pool types ------------------------------------------------------------- */
static int
internal_value (const char *type, const char *id, const char *uuid, unsigned char **value,
                size_t *len)
{
  struct pool_ctx *c = pool_ctx_current (), *mine = NULL;
  struct pool_secret *s = NULL;
  int r;

  *value = NULL;
  *len = 0;
  if (!c) {
    if ((r = pool_ctx_open (&mine, NULL, false)) < 0)
      return r;
    c = mine;
  }
  r = uuid ? pool_secret_lookup (c, uuid, &s) : pool_secret_lookup_by_usage (c, type, id, &s);
  if (r == 0)
    r = pool_secret_get_value (s, true, value, len);
  pool_secret_free (s);
  pool_ctx_close (mine);
  return r;
}

int
pool_secret_lookup_usage (const char *type, const char *id, unsigned char **value, size_t *len)
{
  return internal_value (type, id, NULL, value, len);
}

int
pool_secret_lookup_uuid (const char *uuid, unsigned char **value, size_t *len)
{
  return internal_value (NULL, NULL, uuid ? uuid : "", value, len);
}

int
pool_secret_value_file (const char *type, const char *id, const char *uuid, char **path)
{
  struct pool_ctx *c = pool_ctx_current (), *mine = NULL;
  struct pool_secret *s = NULL;
  int r;

  *path = NULL;
  if (!c) {
    if ((r = pool_ctx_open (&mine, NULL, false)) < 0)
      return r;
    c = mine;
  }
  r = uuid ? pool_secret_lookup (c, uuid, &s) : pool_secret_lookup_by_usage (c, type, id, &s);
  if (r == 0) {
    if (!(*path = spath (c, s->def->ephemeral, s->def->uuid, ".base64")))
      r = pool_err (ENOMEM, "out of memory");
    else if (!exists (*path)) {
      r = pool_err (ENOENT, "secret '%s' has no value", s->def->uuid);
      free (*path);
      *path = NULL;
    }
  }
  pool_secret_free (s);
  pool_ctx_close (mine);
  return r;
}

/* libdisk's secret lookup (disk_set_secret_lookup): ID is a secret's UUID.
 * This is how a volume of an iSCSI pool (an iscsi:// URL with
 * password-secret=UUID) gets its CHAP password. */
int
pool_secret_disk_lookup (const char *id, unsigned char **value, size_t *len, char *err,
                         size_t errlen)
{
  int r;

  if (!pool_uuid_valid (id)) {
    snprintf (err, errlen, "'%s' is not a secret UUID", id);
    return -EINVAL;
  }
  r = pool_secret_lookup_uuid (id, value, len);
  if (r < 0)
    snprintf (err, errlen, "%s", pool_last_error ());
  return r;
}
