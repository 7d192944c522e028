/* vmdk descriptor files: parsing and writing.
 *
 * A descriptor is line-oriented text: "version=1", "CID=hex",
 * "parentCID=hex", createType="...", parentFileNameHint="...", extent
 * lines ("RW 2048 SPARSE \"x.vmdk\"", "RW 2048 FLAT \"x-flat.vmdk\" 0",
 * "RW 2048 ZERO") and the disk database (ddb.key = "value"). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmdk.h"

bool
vmdk_desc_probe (const uint8_t *buf, size_t len)
{
  const char *p = (const char *) buf, *end = p + len;

  while (p < end) {
    if (*p == '#') {                 /* a comment line */
      while (p < end && *p != '\n')
        p++;
      p++;
      continue;
    }
    if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
      while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
        p++;
      if (p < end && *p != '\n')
        return false;                /* only blank lines before version= */
      p++;
      continue;
    }
    if ((size_t) (end - p) >= 10 && strncmp (p, "version=", 8) == 0 &&
        p[8] >= '1' && p[8] <= '3' && (p[9] == '\n' || p[9] == '\r'))
      return true;
    return false;
  }
  return false;
}

void
vmdk_desc_free (struct vmdk_desc *d)
{
  free (d->create_type);
  free (d->parent_hint);
  free (d->adapter_type);
  free (d->hw_version);
  for (size_t i = 0; i < d->n_ext; i++)
    free (d->ext[i].file);
  free (d->ext);
  memset (d, 0, sizeof *d);
}

static char *
trim (char *s)
{
  char *e;
  while (*s == ' ' || *s == '\t')
    s++;
  e = s + strlen (s);
  while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
    *--e = 0;
  return s;
}

/* Remove one pair of surrounding double quotes. */
static char *
unquote (char *s)
{
  size_t l = strlen (s);
  if (l >= 2 && s[0] == '"' && s[l - 1] == '"') {
    s[l - 1] = 0;
    return s + 1;
  }
  return s;
}

static int
parse_hex32 (const char *fname, const char *key, const char *v, uint32_t *out)
{
  char *end;
  unsigned long long x;

  errno = 0;
  x = strtoull (v, &end, 16);
  if (errno || end == v || *trim (end) || x > 0xffffffffULL)
    return vdk_err (EINVAL, "%s: invalid %s '%s' in the descriptor", fname, key, v);
  *out = (uint32_t) x;
  return 0;
}

static int
word (char **p, char *out, size_t outsz)
{
  size_t l;
  while (**p == ' ' || **p == '\t')
    (*p)++;
  l = strcspn (*p, " \t");
  if (l == 0 || l >= outsz)
    return -1;
  memcpy (out, *p, l);
  out[l] = 0;
  *p += l;
  return 0;
}

static int
parse_extent (const char *fname, char *line, struct vmdk_desc *d)
{
  struct vmdk_desc_extent x;
  struct vmdk_desc_extent *nx;
  char num[32], *p = line, *end;

  memset (&x, 0, sizeof x);
  if (d->n_ext >= VMDK_MAX_EXTENTS)
    return vdk_err (EINVAL, "%s: more than %d extents in the descriptor", fname, VMDK_MAX_EXTENTS);
  if (word (&p, x.access, sizeof x.access) < 0 || word (&p, num, sizeof num) < 0 ||
      word (&p, x.type, sizeof x.type) < 0)
    return vdk_err (EINVAL, "%s: invalid extent line '%.80s' in the descriptor", fname, line);
  errno = 0;
  x.sectors = strtoull (num, &end, 10);
  if (errno || *end || num[0] == '-' ||
      x.sectors > VDK_MAX_IMAGE_SIZE / VMDK_SECTOR)
    return vdk_err (EINVAL, "%s: invalid extent size '%s' in the descriptor", fname, num);
  while (*p == ' ' || *p == '\t')
    p++;
  if (*p == '"') {
    char *q = strchr (p + 1, '"');
    if (!q)
      return vdk_err (EINVAL, "%s: unterminated file name in extent line '%.80s'", fname, line);
    if (q == p + 1 || q - p > 4096)
      return vdk_err (EINVAL, "%s: invalid file name in extent line '%.80s'", fname, line);
    x.file = strndup (p + 1, q - p - 1);
    if (!x.file)
      return vdk_err (ENOMEM, "out of memory");
    p = q + 1;
    while (*p == ' ' || *p == '\t')
      p++;
    if (*p) {
      if (word (&p, num, sizeof num) < 0)
        goto bad_off;
      errno = 0;
      x.offset = strtoull (num, &end, 10);
      if (errno || *end || num[0] == '-' || x.offset > VDK_MAX_IMAGE_SIZE / VMDK_SECTOR)
        goto bad_off;
      while (*p == ' ' || *p == '\t')
        p++;
      if (*p)
        goto bad_off;
    }
  }
  else if (*p) {
    return vdk_err (EINVAL, "%s: invalid extent line '%.80s' in the descriptor", fname, line);
  }
  if (strcmp (x.type, "ZERO") != 0 && !x.file) {
    return vdk_err (EINVAL, "%s: extent line '%.80s' has no file name", fname, line);
  }
  nx = realloc (d->ext, (d->n_ext + 1) * sizeof *nx);
  if (!nx) {
    free (x.file);
    return vdk_err (ENOMEM, "out of memory");
  }
  d->ext = nx;
  d->ext[d->n_ext++] = x;
  return 0;
 bad_off:
  free (x.file);
  return vdk_err (EINVAL, "%s: invalid extent offset in line '%.80s'", fname, line);
}

static int
set_str (char **dst, const char *v)
{
  free (*dst);
  *dst = strdup (v);
  return *dst ? 0 : vdk_err (ENOMEM, "out of memory");
}

int
vmdk_desc_parse (const char *fname, const char *text, size_t len, struct vmdk_desc *d)
{
  char *buf, *line, *save = NULL;
  int r = 0;

  memset (d, 0, sizeof *d);
  d->parent_cid = VMDK_NO_PARENT;
  if (len > VMDK_DESC_MAX)
    len = VMDK_DESC_MAX;
  buf = strndup (text, len);   /* stops at the first NUL (padding) */
  if (!buf)
    return vdk_err (ENOMEM, "out of memory");
  for (line = strtok_r (buf, "\n", &save); line && r == 0; line = strtok_r (NULL, "\n", &save)) {
    char *l = trim (line), *eq, *key, *val;
    if (!*l || *l == '#')
      continue;
    if (!strncmp (l, "RW ", 3) || !strncmp (l, "RDONLY ", 7) || !strncmp (l, "NOACCESS ", 9) ||
        !strncmp (l, "RW\t", 3) || !strncmp (l, "RDONLY\t", 7) || !strncmp (l, "NOACCESS\t", 9)) {
      r = parse_extent (fname, l, d);
      continue;
    }
    eq = strchr (l, '=');
    if (!eq)
      continue;                  /* unknown text: ignored like VMware does */
    *eq = 0;
    key = trim (l);
    val = unquote (trim (eq + 1));
    if (!strcmp (key, "version")) {
      d->version = atoi (val);
      if (d->version < 1 || d->version > 3)
        r = vdk_err (ENOTSUP, "%s: unsupported descriptor version '%s'", fname, val);
    }
    else if (!strcmp (key, "CID"))
      r = parse_hex32 (fname, "CID", val, &d->cid);
    else if (!strcmp (key, "parentCID"))
      r = parse_hex32 (fname, "parentCID", val, &d->parent_cid);
    else if (!strcmp (key, "createType"))
      r = set_str (&d->create_type, val);
    else if (!strcmp (key, "parentFileNameHint"))
      r = set_str (&d->parent_hint, val);
    else if (!strcmp (key, "ddb.adapterType"))
      r = set_str (&d->adapter_type, val);
    else if (!strcmp (key, "ddb.virtualHWVersion"))
      r = set_str (&d->hw_version, val);
  }
  free (buf);
  if (r < 0)
    vmdk_desc_free (d);
  return r;
}

char *
vmdk_desc_format (const struct vmdk_desc_out *o)
{
  uint64_t sectors = o->size / VMDK_SECTOR, cyl;
  unsigned heads = strcmp (o->adapter_type, "ide") == 0 ? 16 : 255;
  char parent[4200] = "";
  char *s;

  cyl = sectors / (heads * 63);
  if (cyl > 16383)
    cyl = 16383;
  if (o->parent_hint)
    snprintf (parent, sizeof parent, "parentFileNameHint=\"%s\"\n", o->parent_hint);
  if (asprintf (&s,
                "# Disk DescriptorFile\n"
                "version=1\n"
                "CID=%08" PRIx32 "\n"
                "parentCID=%08" PRIx32 "\n"
                "createType=\"%s\"\n"
                "%s"
                "\n"
                "# Extent description\n"
                "%s"
                "\n"
                "# The Disk Data Base\n"
                "#DDB\n"
                "\n"
                "ddb.virtualHWVersion = \"%s\"\n"
                "ddb.geometry.cylinders = \"%" PRIu64 "\"\n"
                "ddb.geometry.heads = \"%u\"\n"
                "ddb.geometry.sectors = \"63\"\n"
                "ddb.adapterType = \"%s\"\n"
                "ddb.toolsVersion = \"%s\"\n",
                o->cid, o->parent_cid, o->create_type, parent, o->extents,
                o->hw_version, cyl, heads, o->adapter_type, o->tools_version) < 0)
    return NULL;
  return s;
}
