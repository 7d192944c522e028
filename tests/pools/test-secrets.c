/* Unit tests of the secrets library: base64 (RFC 4648's vectors, strictness,
 * caps), XML parsing and formatting, and the lookups the pool types use
 * (by usage and by UUID, private secrets included, with and without a state
 * dir context open in the process). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool-int.h"
#include "secret.h"

#define CHECK(x) do { if (!(x)) { fprintf (stderr, "%s:%d: CHECK failed: %s (%s)\n", \
                                  __FILE__, __LINE__, #x, pool_last_error ()); return 1; } } while (0)

static int
dec (const char *in, size_t max, const char *want, size_t wantlen)
{
  unsigned char *out;
  size_t len;
  int r = pool_base64_decode (in, strlen (in), max, &out, &len);
  if (r < 0)
    return r;
  r = len == wantlen && memcmp (out, want, len) == 0 && out[len] == 0 ? 0 : -EBADMSG;
  pool_secret_value_free (out, len);
  return r;
}

static int
test_base64 (void)
{
  static const char *const vec[][2] = {
    { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
    { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
  };
  for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
    char *e = pool_base64_encode ((const unsigned char *) vec[i][0], strlen (vec[i][0]));
    CHECK (e && !strcmp (e, vec[i][1]));
    free (e);
    CHECK (dec (vec[i][1], 64, vec[i][0], strlen (vec[i][0])) == 0);
  }
  {
    unsigned char all[256];
    char *e;
    for (int i = 0; i < 256; i++)
      all[i] = (unsigned char) i;
    CHECK ((e = pool_base64_encode (all, 256)) != NULL);
    CHECK (dec (e, 256, (const char *) all, 256) == 0);
    CHECK (dec (e, 255, (const char *) all, 256) == -EFBIG);
    free (e);
  }
  CHECK (dec ("Zm9v\nYmFy\n", 64, "foobar", 6) == 0);
  CHECK (dec (" Zm 9v\r\n\tYg", 64, "foob", 4) == 0);      /* no padding */
  CHECK (dec ("Zm9vYmE", 64, "fooba", 5) == 0);
  CHECK (dec ("Zm9vYmFy", 5, "", 0) == -EFBIG);
  CHECK (dec ("Zm9vYg", 3, "", 0) == -EFBIG);
  CHECK (dec ("Zm9vYg", 4, "foob", 4) == 0);
  CHECK (dec ("Zm9vY", 64, "", 0) == -EINVAL);
  CHECK (dec ("Zm9v=", 64, "", 0) == -EINVAL);
  CHECK (dec ("Zg=", 64, "", 0) == -EINVAL);
  CHECK (dec ("Zg===", 64, "", 0) == -EINVAL);
  CHECK (dec ("Zg==Zg==", 64, "", 0) == -EINVAL);
  CHECK (dec ("Zm-v", 64, "", 0) == -EINVAL);
  CHECK (dec ("Zm9v\x80", 64, "", 0) == -EINVAL);
  CHECK (strstr (pool_last_error (), "Zm") == NULL);
  return 0;
}

static int
test_xml (void)
{
  static const char x[] =
    "<secret ephemeral='yes' private='no'>\n"
    "  <uuid>0A1B2C3D-4E5F-4A6B-8C7D-0123456789AB</uuid>\n"
    "  <description>a &lt;b&gt; &amp; 'c'</description>\n"
    "  <usage type='iscsi'>\n    <target>iqn.2024-01.x:t</target>\n  </usage>\n"
    "</secret>\n";
  static const char want[] =
    "<secret ephemeral='yes' private='no'>\n"
    "  <uuid>0a1b2c3d-4e5f-4a6b-8c7d-0123456789ab</uuid>\n"
    "  <description>a &lt;b&gt; &amp; &apos;c&apos;</description>\n"
    "  <usage type='iscsi'>\n    <target>iqn.2024-01.x:t</target>\n  </usage>\n"
    "</secret>\n";
  struct pool_secret_def *d, *d2;
  char *s, *s2;

  CHECK (pool_secret_def_parse (x, sizeof x - 1, "x", &d) == 0);
  CHECK (d->ephemeral && !d->is_private && d->usage_type == POOL_SECRET_USAGE_ISCSI);
  CHECK (!strcmp (d->usage_id, "iqn.2024-01.x:t"));
  CHECK ((s = pool_secret_def_format (d)) && !strcmp (s, want));
  CHECK (pool_secret_def_parse (s, strlen (s), "s", &d2) == 0);
  CHECK ((s2 = pool_secret_def_format (d2)) && !strcmp (s, s2));
  free (s);
  free (s2);
  pool_secret_def_free (d);
  pool_secret_def_free (d2);
  CHECK (pool_secret_def_parse ("<secret/>", 9, "e", &d) == 0);
  CHECK (!d->uuid[0] && d->usage_type == POOL_SECRET_USAGE_NONE && !d->usage_id && !d->description);
  pool_secret_def_free (d);
  CHECK (pool_secret_def_parse ("<secret><usage type='none'/></secret>", 37, "n", &d) == 0);
  CHECK (d->usage_type == POOL_SECRET_USAGE_NONE);
  pool_secret_def_free (d);
  CHECK (pool_secret_def_parse ("<secret><usage type='vtpm'><name>t</name></usage></secret>",
                                58, "v", &d) == 0);
  CHECK (d->usage_type == POOL_SECRET_USAGE_VTPM && !strcmp (d->usage_id, "t"));
  pool_secret_def_free (d);
  CHECK (pool_secret_def_parse ("<secret><usage type='tls'/></secret>", 36, "t", &d) == -EINVAL);
  CHECK (strstr (pool_last_error (), "t: XML error: TLS usage specified, but name is missing"));
  CHECK (pool_secret_def_parse ("<secret", 7, "m", &d) == -EINVAL);
  CHECK (pool_secret_usage_from_name ("ceph") == POOL_SECRET_USAGE_CEPH);
  CHECK (pool_secret_usage_from_name ("Ceph") == -1);
  CHECK (pool_secret_usage_from_name (NULL) == -1);
  CHECK (!strcmp (pool_secret_usage_name (POOL_SECRET_USAGE_VOLUME), "volume"));
  CHECK (pool_secret_usage_name ((enum pool_secret_usage) 99) == NULL);
  return 0;
}

static struct pool_secret_def *
def (const char *uuid, bool priv, enum pool_secret_usage t, const char *id)
{
  struct pool_secret_def *d = calloc (1, sizeof *d);
  if (!d)
    abort ();
  snprintf (d->uuid, sizeof d->uuid, "%s", uuid);
  d->is_private = priv;
  d->usage_type = t;
  d->usage_id = id ? strdup (id) : NULL;
  return d;
}

static int
test_lookups (const char *dir)
{
  static const unsigned char chap[] = "chap\0pass";   /* bytes, NUL inside */
  static const char cu[] = "c0000000-0000-4000-8000-000000000001";
  struct pool_ctx *c, *shared;
  struct pool_secret *s;
  unsigned char *v;
  size_t len;

  CHECK (pool_ctx_open (&c, dir, true) == 0);
  CHECK (pool_secret_define (c, def (cu, true, POOL_SECRET_USAGE_CEPH, "client.admin secret"),
                             &s) == 0);
  CHECK (!s->has_value);
  CHECK (pool_secret_set_value (s, chap, sizeof chap - 1) == 0 && s->has_value);
  /* The pools' lookups: private or not, through the context of this process. */
  CHECK (pool_secret_lookup_usage ("ceph", "client.admin secret", &v, &len) == 0);
  CHECK (len == sizeof chap - 1 && !memcmp (v, chap, len) && v[len] == 0);
  pool_secret_value_free (v, len);
  CHECK (pool_secret_lookup_uuid ("C0000000-0000-4000-8000-000000000001", &v, &len) == 0);
  CHECK (len == sizeof chap - 1 && !memcmp (v, chap, len));
  pool_secret_value_free (v, len);
  /* What secret-get-value does is refused. */
  CHECK (pool_secret_get_value (s, false, &v, &len) == -EPERM && !v);
  CHECK (strstr (pool_last_error (), "secret is private"));
  pool_secret_free (s);
  CHECK (pool_secret_lookup_usage ("iscsi", "client.admin secret", &v, &len) == -ENOENT);
  CHECK (strstr (pool_last_error (), "no secret with matching usage 'client.admin secret'"));
  CHECK (pool_secret_lookup_usage ("bogus", "x", &v, &len) == -EINVAL);
  CHECK (pool_secret_lookup_usage ("none", "x", &v, &len) == -EINVAL);
  CHECK (pool_secret_lookup_uuid ("nope", &v, &len) == -ENOENT);
  CHECK (pool_secret_lookup_uuid (NULL, &v, &len) == -ENOENT);
  /* A definition built by a caller is checked like parsed XML. */
  CHECK (pool_secret_define (c, def ("zz", false, POOL_SECRET_USAGE_NONE, NULL), NULL) == -EINVAL);
  CHECK (pool_secret_define (c, def ("", false, POOL_SECRET_USAGE_ISCSI, NULL), NULL) == -EINVAL);
  CHECK (pool_secret_define (c, def ("", false, POOL_SECRET_USAGE_CEPH, "client.admin secret"),
                             NULL) == -EEXIST);
  CHECK (pool_secret_define (c, def ("", false, (enum pool_secret_usage) 42, "x"), NULL)
         == -EINVAL);
  /* A secret without a value. */
  CHECK (pool_secret_define (c, def ("", false, POOL_SECRET_USAGE_ISCSI, "iqn.t"), NULL) == 0);
  CHECK (pool_secret_lookup_usage ("iscsi", "iqn.t", &v, &len) == -ENOENT);
  CHECK (strstr (pool_last_error (), "does not have a value"));
  pool_ctx_close (c);
  /* State changes need the exclusive lock. */
  CHECK (pool_ctx_open (&shared, dir, false) == 0);
  CHECK (pool_secret_lookup (shared, cu, &s) == 0);
  CHECK (pool_secret_set_value (s, chap, 1) == -EPERM);
  CHECK (pool_secret_undefine (s) == -EPERM);
  pool_secret_free (s);
  pool_ctx_close (shared);
  /* No context open: the lookup opens the state dir itself (VDK_STATE_DIR). */
  CHECK (setenv ("VDK_STATE_DIR", dir, 1) == 0);
  CHECK (pool_secret_lookup_usage ("ceph", "client.admin secret", &v, &len) == 0);
  CHECK (len == sizeof chap - 1 && !memcmp (v, chap, len));
  pool_secret_value_free (v, len);
  CHECK (pool_ctx_current () == NULL);
  return 0;
}

int
main (void)
{
  char dir[] = "/tmp/vdk-test-secrets.XXXXXX";
  char cmd[128];
  int r;

  if (test_base64 () || test_xml ())
    return 1;
  if (!mkdtemp (dir))
    return 1;
  r = test_lookups (dir);
  snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system (cmd) != 0)
    r = 1;
  if (r == 0)
    printf ("OK\n");
  return r;
}
