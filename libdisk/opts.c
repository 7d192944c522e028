/* Option lists: "-o a=b,c=d", specs "driver=qcow2,file.filename=x", json:{...} */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "internal.h"

void
vdk_opts_init (struct vdk_opts *o)
{
  memset (o, 0, sizeof *o);
}

void
vdk_opts_free (struct vdk_opts *o)
{
  for (size_t i = 0; i < o->n; i++) {
    free (o->v[i].key);
    free (o->v[i].value);
  }
  free (o->v);
  memset (o, 0, sizeof *o);
}

static struct vdk_opt *
find (const struct vdk_opts *o, const char *key)
{
  for (size_t i = 0; i < o->n; i++)
    if (strcmp (o->v[i].key, key) == 0)
      return &o->v[i];
  return NULL;
}

int
vdk_opts_set (struct vdk_opts *o, const char *key, const char *value)
{
  struct vdk_opt *e = find (o, key);
  char *v = strdup (value ? value : "");

  if (!v)
    return vdk_err (ENOMEM, "out of memory");
  if (e) {
    free (e->value);
    e->value = v;
    e->used = false;
    return 0;
  }
  if (o->n == o->cap) {
    size_t cap = o->cap ? o->cap * 2 : 8;
    struct vdk_opt *nv = realloc (o->v, cap * sizeof *nv);
    if (!nv) {
      free (v);
      return vdk_err (ENOMEM, "out of memory");
    }
    o->v = nv;
    o->cap = cap;
  }
  o->v[o->n].key = strdup (key);
  if (!o->v[o->n].key) {
    free (v);
    return vdk_err (ENOMEM, "out of memory");
  }
  o->v[o->n].value = v;
  o->v[o->n].used = false;
  o->n++;
  return 0;
}

/* Read one comma-separated token; ",," is a literal comma. */
static char *
next_token (const char **sp)
{
  const char *s = *sp;
  size_t cap = strlen (s) + 1, n = 0;
  char *out = malloc (cap);

  if (!out)
    return NULL;
  while (*s) {
    if (*s == ',') {
      if (s[1] == ',') {
        out[n++] = ',';
        s += 2;
        continue;
      }
      s++;
      break;
    }
    out[n++] = *s++;
  }
  out[n] = 0;
  *sp = s;
  return out;
}

int
vdk_opts_parse (struct vdk_opts *o, const char *s, const char *implied_key)
{
  bool first = true;

  if (!s)
    return 0;
  while (*s) {
    char *tok = next_token (&s);
    char *eq;
    int r;

    if (!tok)
      return vdk_err (ENOMEM, "out of memory");
    if (!tok[0]) {
      free (tok);
      first = false;
      continue;
    }
    eq = strchr (tok, '=');
    if (!eq) {
      if (first && implied_key)
        r = vdk_opts_set (o, implied_key, tok);
      else
        r = vdk_err (EINVAL, "invalid option '%s': expected key=value", tok);
    }
    else {
      *eq = 0;
      if (!tok[0])
        r = vdk_err (EINVAL, "invalid option '=%s': empty key", eq + 1);
      else
        r = vdk_opts_set (o, tok, eq + 1);
    }
    free (tok);
    if (r < 0)
      return r;
    first = false;
  }
  return 0;
}

static int
flatten_json (struct vdk_opts *o, const char *prefix, struct json_object *obj)
{
  char key[512];
  int r;

  if (json_object_get_type (obj) != json_type_object) {
    const char *v;
    if (!prefix[0])
      return vdk_err (EINVAL, "json: spec must be an object");
    if (json_object_get_type (obj) == json_type_array)
      return vdk_err (EINVAL, "json: arrays are not supported (key '%s')", prefix);
    if (json_object_get_type (obj) == json_type_null)
      return 0;
    v = json_object_get_string (obj);
    return vdk_opts_set (o, prefix, v ? v : "");
  }
  json_object_object_foreach (obj, k, val) {
    if ((size_t) snprintf (key, sizeof key, "%s%s%s", prefix, prefix[0] ? "." : "", k)
        >= sizeof key)
      return vdk_err (EINVAL, "json: key too long");
    r = flatten_json (o, key, val);
    if (r < 0)
      return r;
  }
  return 0;
}

int
vdk_opts_parse_json (struct vdk_opts *o, const char *json)
{
  struct json_tokener *tok = json_tokener_new_ex (32);
  struct json_object *obj;
  int r;

  if (!tok)
    return vdk_err (ENOMEM, "out of memory");
  obj = json_tokener_parse_ex (tok, json, (int) strlen (json));
  if (!obj || json_tokener_get_error (tok) != json_tokener_success) {
    r = vdk_err (EINVAL, "json: %s",
                 json_tokener_error_desc (json_tokener_get_error (tok)));
    json_tokener_free (tok);
    if (obj)
      json_object_put (obj);
    return r;
  }
  json_tokener_free (tok);
  r = flatten_json (o, "", obj);
  json_object_put (obj);
  return r;
}

const char *
vdk_opts_get (const struct vdk_opts *o, const char *key)
{
  struct vdk_opt *e = find (o, key);
  return e ? e->value : NULL;
}

const char *
vdk_opts_take (struct vdk_opts *o, const char *key)
{
  struct vdk_opt *e = find (o, key);
  if (!e)
    return NULL;
  e->used = true;
  return e->value;
}

bool
vdk_opts_taken (const struct vdk_opts *o, const char *key)
{
  struct vdk_opt *e = find (o, key);
  return e && e->used;
}

int
vdk_opts_take_size (struct vdk_opts *o, const char *key, uint64_t *out)
{
  const char *v = vdk_opts_take (o, key);
  int r;

  if (!v)
    return 0;
  r = disk_parse_size (v, out);
  if (r < 0)
    return vdk_err (-r, "invalid value '%s' for option '%s': expected a size", v, key);
  return 1;
}

int
vdk_opts_take_uint (struct vdk_opts *o, const char *key, uint64_t *out)
{
  const char *v = vdk_opts_take (o, key);
  char *end;
  unsigned long long x;

  if (!v)
    return 0;
  errno = 0;
  if (!isdigit ((unsigned char) v[0]))
    return vdk_err (EINVAL, "invalid value '%s' for option '%s': expected a number", v, key);
  x = strtoull (v, &end, 0);
  if (errno || *end)
    return vdk_err (EINVAL, "invalid value '%s' for option '%s': expected a number", v, key);
  *out = x;
  return 1;
}

int
vdk_opts_take_bool (struct vdk_opts *o, const char *key, bool *out)
{
  const char *v = vdk_opts_take (o, key);

  if (!v)
    return 0;
  if (!strcmp (v, "on") || !strcmp (v, "yes") || !strcmp (v, "true") || !strcmp (v, "1"))
    *out = true;
  else if (!strcmp (v, "off") || !strcmp (v, "no") || !strcmp (v, "false") || !strcmp (v, "0"))
    *out = false;
  else
    return vdk_err (EINVAL, "invalid value '%s' for option '%s': expected 'on' or 'off'", v, key);
  return 1;
}

int
vdk_opts_extract_prefix (struct vdk_opts *o, const char *prefix, struct vdk_opts *dst)
{
  size_t pl = strlen (prefix);

  for (size_t i = 0; i < o->n; i++) {
    if (strncmp (o->v[i].key, prefix, pl) == 0 && o->v[i].key[pl] == '.') {
      int r = vdk_opts_set (dst, o->v[i].key + pl + 1, o->v[i].value);
      if (r < 0)
        return r;
      o->v[i].used = true;
    }
  }
  return 0;
}

int
vdk_opts_check_unused (const struct vdk_opts *o, const char *what)
{
  for (size_t i = 0; i < o->n; i++)
    if (!o->v[i].used)
      return vdk_err (EINVAL, "%s does not support the option '%s'", what, o->v[i].key);
  return 0;
}

int
disk_parse_size (const char *s, uint64_t *out)
{
  char *end;
  double d;
  long double mult = 1;
  unsigned long long whole;
  const char *p = s;

  if (!s || !*s)
    return -EINVAL;
  while (isspace ((unsigned char) *p))
    p++;
  if (*p == '-' || *p == '+' || !(isdigit ((unsigned char) *p) || *p == '.'))
    return -EINVAL;
  /* Integers exactly; fractions through double like qemu. */
  errno = 0;
  whole = strtoull (p, &end, 10);
  if (errno == ERANGE)
    return -ERANGE;
  if (*end == '.') {
    errno = 0;
    d = strtod (p, &end);
    if (errno || !isfinite (d) || d < 0)
      return -EINVAL;
  }
  else {
    d = -1;
    if (end == p)
      return -EINVAL;
  }
  switch (*end) {
  case 0: break;
  case 'b': case 'B': end++; break;
  case 'k': case 'K': mult = 1ULL << 10; end++; break;
  case 'm': case 'M': mult = 1ULL << 20; end++; break;
  case 'g': case 'G': mult = 1ULL << 30; end++; break;
  case 't': case 'T': mult = 1ULL << 40; end++; break;
  case 'p': case 'P': mult = 1ULL << 50; end++; break;
  case 'e': case 'E': mult = 1ULL << 60; end++; break;
  default: return -EINVAL;
  }
  /* Allow "10GiB"/"10G"-style trailing "iB"/"B" is not qemu; be strict. */
  if (*end)
    return -EINVAL;
  if (d >= 0) {
    long double v = (long double) d * mult;
    if (v >= 18446744073709551615.0L)
      return -ERANGE;
    if (mult == 1 && d != (double) (uint64_t) d)
      return -EINVAL;   /* fractional bytes */
    *out = (uint64_t) v;
    return 0;
  }
  if (mult != 1 && whole > UINT64_MAX / (uint64_t) mult)
    return -ERANGE;
  *out = whole * (uint64_t) mult;
  return 0;
}
