/* libvirt's storage pool and volume XML: parsing (untrusted: size-capped,
 * no network, no entity expansion) and formatting the way libvirt does. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "vdk/disk.h"
#include "pool-int.h"

void
pool_def_free (struct pool_def *d)
{
  if (!d)
    return;
  free (d->type);
  free (d->name);
  for (size_t i = 0; i < d->n_devices; i++)
    free (d->devices[i]);
  free (d->source_format);
  free (d->source_dir);
  free (d->source_host);
  for (size_t i = 0; i < d->n_extra_hosts; i++)
    free (d->extra_hosts[i]);
  free (d->source_name);
  free (d->source_protocol_ver);
  free (d->initiator_iqn);
  free (d->auth_type);
  free (d->auth_username);
  free (d->auth_secret_usage);
  free (d->auth_secret_uuid);
  for (size_t i = 0; i < d->n_config_opts; i++) {
    free (d->config_opt_names[i]);
    free (d->config_opt_values[i]);
  }
  free (d->target);
  free (d->mode);
  for (size_t i = 0; i < d->n_mount_opts; i++)
    free (d->mount_opts[i]);
  free (d);
}

void
vol_def_free (struct vol_def *d)
{
  if (!d)
    return;
  free (d->name);
  free (d->format);
  free (d->backing_path);
  free (d->backing_format);
  free (d);
}

bool
pool_name_valid (const char *name)
{
  size_t l;

  if (!name || !name[0] || (l = strlen (name)) > 255)
    return false;
  if (strchr (name, '/') || strstr (name, ".."))
    return false;
  if (!strcmp (name, "."))
    return false;
  for (const unsigned char *p = (const unsigned char *) name; *p; p++)
    if (*p < 0x20 || *p == 0x7f)
      return false;
  return true;
}

/* libvirt's scaled integers: unit suffixes are powers of 1024 unless they
 * say "B" after a letter (KB = 1000); "bytes"/"b" mean 1. */
int
pool_parse_scaled (const char *num, const char *unit, uint64_t *out)
{
  static const char letters[] = "kmgtpe";
  char *end;
  uint64_t v, scale = 1;
  double frac = 0;
  const char *u;

  if (!num)
    return pool_err (EINVAL, "missing number");
  while (*num == ' ')
    num++;
  if (!(*num >= '0' && *num <= '9'))
    return pool_err (EINVAL, "invalid size '%s'", num);
  errno = 0;
  v = strtoull (num, &end, 10);
  if (errno)
    return pool_err (ERANGE, "size '%s' is too large", num);
  if (*end == '.') {
    char *e2;
    frac = strtod (end, &e2);
    end = e2;
  }
  u = unit && unit[0] ? unit : end;
  if (unit && unit[0] && *end)
    return pool_err (EINVAL, "invalid size '%s'", num);
  if (!*u || !strcmp (u, "b") || !strcmp (u, "B") || !strcasecmp (u, "bytes"))
    scale = 1;
  else {
    const char *l = strchr (letters, u[0] | 0x20);
    size_t exp;
    uint64_t base = 1024;
    if (!l)
      return pool_err (EINVAL, "unknown size unit '%s'", u);
    exp = l - letters + 1;
    if (!u[1] || !strcmp (u + 1, "iB") || !strcmp (u + 1, "ib"))
      base = 1024;
    else if (!strcmp (u + 1, "B") || !strcmp (u + 1, "b"))
      base = 1000;
    else
      return pool_err (EINVAL, "unknown size unit '%s'", u);
    for (size_t i = 0; i < exp; i++)
      scale *= base;
  }
  if (v > UINT64_MAX / scale)
    return pool_err (ERANGE, "size '%s%s' is too large", num, unit ? unit : "");
  v *= scale;
  if (frac > 0) {
    double extra = frac * (double) scale;
    if ((double) (UINT64_MAX - v) < extra)
      return pool_err (ERANGE, "size '%s' is too large", num);
    v += (uint64_t) extra;
  }
  if (v > (1ULL << 60))
    return pool_err (ERANGE, "size '%s%s' is too large (the limit is 1 EiB)", num,
                     unit ? unit : "");
  *out = v;
  return 0;
}

static xmlDocPtr
parse_doc (const char *xml, size_t len, const char *src, const char *root_name)
{
  xmlDocPtr doc;
  xmlNodePtr root;

  if (len > POOL_MAX_XML) {
    pool_err (EFBIG, "%s: XML document is too large", src);
    return NULL;
  }
  doc = xmlReadMemory (xml, (int) len, src, NULL,
                       XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (!doc) {
    const xmlError *e = xmlGetLastError ();
    char msg[512] = "malformed XML";
    if (e && e->message) {
      snprintf (msg, sizeof msg, "%s", e->message);
      msg[strcspn (msg, "\n")] = 0;
    }
    pool_err (EINVAL, "%s: %s%s", src, msg,
              e && e->line ? "" : "");
    return NULL;
  }
  root = xmlDocGetRootElement (doc);
  if (!root || strcmp ((const char *) root->name, root_name) != 0) {
    pool_err (EINVAL, "%s: unexpected root element <%s>, expecting <%s>", src,
              root ? (const char *) root->name : "", root_name);
    xmlFreeDoc (doc);
    return NULL;
  }
  return doc;
}

static xmlNodePtr
child (xmlNodePtr n, const char *name)
{
  if (!n)
    return NULL;
  for (xmlNodePtr c = n->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE && !strcmp ((const char *) c->name, name))
      return c;
  return NULL;
}

/* Trimmed text content (malloc'd), or NULL. */
static char *
text (xmlNodePtr n)
{
  xmlChar *t;
  char *s, *b, *e;

  if (!n || !(t = xmlNodeGetContent (n)))
    return NULL;
  for (b = (char *) t; *b == ' ' || *b == '\n' || *b == '\t' || *b == '\r'; b++)
    ;
  e = b + strlen (b);
  while (e > b && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\t' || e[-1] == '\r'))
    e--;
  s = strndup (b, e - b);
  xmlFree (t);
  return s;
}

static char *
attr (xmlNodePtr n, const char *name)
{
  xmlChar *v;
  char *s;

  if (!n || !(v = xmlGetProp (n, (const xmlChar *) name)))
    return NULL;
  s = strdup ((const char *) v);
  xmlFree (v);
  return s;
}

static int
scaled_elem (xmlNodePtr n, const char *src, const char *what, uint64_t *out)
{
  char *num = text (n), *unit = attr (n, "unit");
  int r = pool_parse_scaled (num, unit, out);
  if (r < 0) {
    char msg[512];
    snprintf (msg, sizeof msg, "%s", pool_last_error ());
    r = pool_err (-r, "%s: <%s>: %s", src, what, msg);
  }
  free (num);
  free (unit);
  return r;
}

#define FS_NS "http://libvirt.org/schemas/storagepool/fs/1.0"

/* <fs:mount_opts><fs:option name='...'/>...</fs:mount_opts>, in libvirt's
 * fs namespace only (an element of another namespace is not ours). */
static int
parse_mount_opts (xmlNodePtr root, const char *src, struct pool_def *d)
{
  for (xmlNodePtr m = root->children; m; m = m->next) {
    if (m->type != XML_ELEMENT_NODE || strcmp ((const char *) m->name, "mount_opts") ||
        !m->ns || !m->ns->href || strcmp ((const char *) m->ns->href, FS_NS))
      continue;
    for (xmlNodePtr o = m->children; o; o = o->next) {
      char *v;
      if (o->type != XML_ELEMENT_NODE || strcmp ((const char *) o->name, "option"))
        continue;
      if (d->n_mount_opts == POOL_MAX_MOUNT_OPTS)
        return pool_err (EINVAL, "%s: more than %d mount options", src, POOL_MAX_MOUNT_OPTS);
      if (!(v = attr (o, "name")) || !v[0]) {
        free (v);
        return pool_err (EINVAL, "%s: a mount option without a name", src);
      }
      d->mount_opts[d->n_mount_opts++] = v;
    }
  }
  return 0;
}

int
pool_def_parse (const char *xml, size_t len, const char *src, struct pool_def **out)
{
  xmlDocPtr doc = parse_doc (xml, len, src, "pool");
  xmlNodePtr root, s, t, perm, a;
  struct pool_def *d;
  char *v;
  int r = -ENOMEM;

  if (!doc)
    return -pool_last_errno ();
  d = calloc (1, sizeof *d);
  if (!d) {
    xmlFreeDoc (doc);
    return pool_err (ENOMEM, "out of memory");
  }
  d->owner = d->group = -1;
  root = xmlDocGetRootElement (doc);
  d->type = attr (root, "type");
  if (!d->type) {
    r = pool_err (EINVAL, "%s: storage pool type is missing (<pool type='...'>)", src);
    goto fail;
  }
  d->name = text (child (root, "name"));
  if (!d->name) {
    r = pool_err (EINVAL, "%s: missing pool source name element", src);
    goto fail;
  }
  if ((v = text (child (root, "uuid")))) {
    if (!pool_uuid_valid (v)) {
      r = pool_err (EINVAL, "%s: malformed uuid element '%s'", src, v);
      free (v);
      goto fail;
    }
    for (size_t i = 0; i < 36; i++)
      d->uuid[i] = (char) (v[i] >= 'A' && v[i] <= 'F' ? v[i] + 32 : v[i]);
    d->uuid[36] = 0;
    free (v);
  }
  if ((s = child (root, "source"))) {
    for (xmlNodePtr c = s->children; c; c = c->next) {
      if (c->type != XML_ELEMENT_NODE || strcmp ((const char *) c->name, "device"))
        continue;
      if (d->n_devices == POOL_MAX_DEVICES) {
        r = pool_err (EINVAL, "%s: more than %d source devices", src, POOL_MAX_DEVICES);
        goto fail;
      }
      if (!(v = attr (c, "path"))) {
        r = pool_err (EINVAL, "%s: missing storage pool source device path", src);
        goto fail;
      }
      d->devices[d->n_devices++] = v;
    }
    d->source_format = attr (child (s, "format"), "type");
    d->source_dir = attr (child (s, "dir"), "path");
    d->source_name = text (child (s, "name"));
    /* every <host>: the first is source_host, the rest (rbd's other
     * monitors) extra_hosts */
    for (xmlNodePtr c = s->children; c; c = c->next) {
      char **name;
      long *port;
      if (c->type != XML_ELEMENT_NODE || strcmp ((const char *) c->name, "host"))
        continue;
      if (!d->source_host) {
        name = &d->source_host;
        port = &d->source_port;
      }
      else if (d->n_extra_hosts == POOL_MAX_HOSTS - 1) {
        r = pool_err (EINVAL, "%s: more than %d source hosts", src, POOL_MAX_HOSTS);
        goto fail;
      }
      else {
        name = &d->extra_hosts[d->n_extra_hosts];
        port = &d->extra_ports[d->n_extra_hosts];
      }
      if (!(*name = attr (c, "name"))) {
        r = pool_err (EINVAL, "%s: missing storage pool host name", src);
        goto fail;
      }
      if (name != &d->source_host)
        d->n_extra_hosts++;
      *port = 0;
      if ((v = attr (c, "port"))) {
        char *end;
        errno = 0;
        *port = strtol (v, &end, 10);
        if (errno || end == v || *end || *port < 1 || *port > 65535) {
          r = pool_err (EINVAL, "%s: Invalid port number: %s", src, v);
          free (v);
          goto fail;
        }
        free (v);
      }
    }
    d->source_protocol_ver = attr (child (s, "protocol"), "ver");
    d->initiator_iqn = attr (child (child (s, "initiator"), "iqn"), "name");
    if ((a = child (s, "auth"))) {
      d->auth_type = attr (a, "type");
      d->auth_username = attr (a, "username");
      d->auth_secret_usage = attr (child (a, "secret"), "usage");
      d->auth_secret_uuid = attr (child (a, "secret"), "uuid");
      if (!d->auth_type || !d->auth_username) {
        r = pool_err (EINVAL, "%s: missing auth type or username", src);
        goto fail;
      }
      if (!d->auth_secret_usage == !d->auth_secret_uuid) {
        r = pool_err (EINVAL, "%s: either a secret uuid or usage is required in <auth><secret>",
                      src);
        goto fail;
      }
    }
  }
  /* libvirt's rbd namespace: <rbd:config_opts><rbd:option name= value=/> */
  if ((a = child (root, "config_opts")) && a->ns && a->ns->href &&
      !strcmp ((const char *) a->ns->href, POOL_RBD_XMLNS)) {
    for (xmlNodePtr c = a->children; c; c = c->next) {
      if (c->type != XML_ELEMENT_NODE || strcmp ((const char *) c->name, "option"))
        continue;
      if (d->n_config_opts == POOL_MAX_CONFIG_OPTS) {
        r = pool_err (EINVAL, "%s: more than %d rbd:config_opts options", src,
                      POOL_MAX_CONFIG_OPTS);
        goto fail;
      }
      d->config_opt_names[d->n_config_opts] = attr (c, "name");
      d->config_opt_values[d->n_config_opts++] = attr (c, "value");
      if (!d->config_opt_names[d->n_config_opts - 1] ||
          !d->config_opt_values[d->n_config_opts - 1]) {
        r = pool_err (EINVAL, "%s: an rbd:option needs a name and a value", src);
        goto fail;
      }
    }
  }
  if ((t = child (root, "target"))) {
    d->target = text (child (t, "path"));
    if ((perm = child (t, "permissions"))) {
      d->mode = text (child (perm, "mode"));
      if ((v = text (child (perm, "owner")))) {
        d->owner = strtol (v, NULL, 10);
        free (v);
      }
      if ((v = text (child (perm, "group")))) {
        d->group = strtol (v, NULL, 10);
        free (v);
      }
    }
  }
  if ((r = parse_mount_opts (root, src, d)) < 0)
    goto fail;
  xmlFreeDoc (doc);
  *out = d;
  return 0;
 fail:
  xmlFreeDoc (doc);
  pool_def_free (d);
  return r;
}

int
vol_def_parse (const char *xml, size_t len, const char *src, struct vol_def **out)
{
  xmlDocPtr doc = parse_doc (xml, len, src, "volume");
  xmlNodePtr root, n, t, b;
  struct vol_def *d;
  int r;

  if (!doc)
    return -pool_last_errno ();
  d = calloc (1, sizeof *d);
  if (!d) {
    xmlFreeDoc (doc);
    return pool_err (ENOMEM, "out of memory");
  }
  root = xmlDocGetRootElement (doc);
  d->name = text (child (root, "name"));
  if (!d->name) {
    r = pool_err (EINVAL, "%s: missing volume name element", src);
    goto fail;
  }
  if (!(n = child (root, "capacity"))) {
    r = pool_err (EINVAL, "%s: missing capacity element", src);
    goto fail;
  }
  if ((r = scaled_elem (n, src, "capacity", &d->capacity)) < 0)
    goto fail;
  if ((n = child (root, "allocation"))) {
    if ((r = scaled_elem (n, src, "allocation", &d->allocation)) < 0)
      goto fail;
    d->has_allocation = true;
  }
  if ((t = child (root, "target")))
    d->format = attr (child (t, "format"), "type");
  if ((b = child (root, "backingStore"))) {
    d->backing_path = text (child (b, "path"));
    d->backing_format = attr (child (b, "format"), "type");
  }
  xmlFreeDoc (doc);
  *out = d;
  return 0;
 fail:
  xmlFreeDoc (doc);
  vol_def_free (d);
  return r;
}

/* ---- formatting ------------------------------------------------------------ */
struct sbuf { char *s; size_t len, cap; bool oom; };

static void
sb_add (struct sbuf *b, const char *fmt, ...)
{
  va_list ap;
  int n;

  if (b->oom)
    return;
  for (;;) {
    size_t room = b->cap - b->len;
    va_start (ap, fmt);
    n = vsnprintf (b->s ? b->s + b->len : NULL, room, fmt, ap);
    va_end (ap);
    if (n < 0) {
      b->oom = true;
      return;
    }
    if ((size_t) n < room) {
      b->len += n;
      return;
    }
    size_t ncap = b->cap ? b->cap * 2 : 1024;
    while (ncap - b->len <= (size_t) n)
      ncap *= 2;
    char *ns = realloc (b->s, ncap);
    if (!ns) {
      b->oom = true;
      return;
    }
    b->s = ns;
    b->cap = ncap;
  }
}

/* Text escaped for XML content and attribute values. */
static void
sb_esc (struct sbuf *b, const char *s)
{
  for (; s && *s; s++) {
    switch (*s) {
    case '<': sb_add (b, "&lt;"); break;
    case '>': sb_add (b, "&gt;"); break;
    case '&': sb_add (b, "&amp;"); break;
    case '\'': sb_add (b, "&apos;"); break;
    case '"': sb_add (b, "&quot;"); break;
    default: sb_add (b, "%c", *s);
    }
  }
}

static char *
sb_done (struct sbuf *b)
{
  if (b->oom) {
    free (b->s);
    pool_err (ENOMEM, "out of memory");
    return NULL;
  }
  return b->s;
}

char *
pool_def_format (const struct pool_def *d, const struct pool_info *info)
{
  struct sbuf b = { 0 };
  const char *host;
  long port;
  struct pool_info zero = { 0 };

  if (!info)
    info = &zero;
  sb_add (&b, "<pool type='");
  sb_esc (&b, d->type);
  if (d->n_config_opts)
    sb_add (&b, "' xmlns:rbd='%s", POOL_RBD_XMLNS);
  if (d->n_mount_opts)
    sb_add (&b, "' xmlns:fs='%s", FS_NS);
  sb_add (&b, "'>\n  <name>");
  sb_esc (&b, d->name);
  sb_add (&b, "</name>\n  <uuid>%s</uuid>\n", d->uuid);
  sb_add (&b, "  <capacity unit='bytes'>%" PRIu64 "</capacity>\n", info->capacity);
  sb_add (&b, "  <allocation unit='bytes'>%" PRIu64 "</allocation>\n", info->allocation);
  sb_add (&b, "  <available unit='bytes'>%" PRIu64 "</available>\n", info->available);
  sb_add (&b, "  <source>\n");
  for (size_t i = 0; (host = pool_def_host (d, i, &port)); i++) {
    sb_add (&b, "    <host name='");
    sb_esc (&b, host);
    if (port > 0)
      sb_add (&b, "' port='%ld", port);
    sb_add (&b, "'/>\n");
  }
  for (size_t i = 0; i < d->n_devices; i++) {
    sb_add (&b, "    <device path='");
    sb_esc (&b, d->devices[i]);
    sb_add (&b, "'/>\n");
  }
  if (d->source_dir) {
    sb_add (&b, "    <dir path='");
    sb_esc (&b, d->source_dir);
    sb_add (&b, "'/>\n");
  }
  if (d->source_name) {
    sb_add (&b, "    <name>");
    sb_esc (&b, d->source_name);
    sb_add (&b, "</name>\n");
  }
  if (d->initiator_iqn) {
    sb_add (&b, "    <initiator>\n      <iqn name='");
    sb_esc (&b, d->initiator_iqn);
    sb_add (&b, "'/>\n    </initiator>\n");
  }
  if (d->source_format) {
    sb_add (&b, "    <format type='");
    sb_esc (&b, d->source_format);
    sb_add (&b, "'/>\n");
  }
  if (d->auth_type) {
    sb_add (&b, "    <auth type='");
    sb_esc (&b, d->auth_type);
    sb_add (&b, "' username='");
    sb_esc (&b, d->auth_username ? d->auth_username : "");
    sb_add (&b, "'>\n      <secret ");
    sb_add (&b, d->auth_secret_uuid ? "uuid='" : "usage='");
    sb_esc (&b, d->auth_secret_uuid ? d->auth_secret_uuid : d->auth_secret_usage);
    sb_add (&b, "'/>\n    </auth>\n");
  }
  if (d->source_protocol_ver) {
    sb_add (&b, "    <protocol ver='");
    sb_esc (&b, d->source_protocol_ver);
    sb_add (&b, "'/>\n");
  }
  sb_add (&b, "  </source>\n");
  if (d->target) {
    sb_add (&b, "  <target>\n    <path>");
    sb_esc (&b, d->target);
    sb_add (&b, "</path>\n");
    if (d->mode || d->owner >= 0 || d->group >= 0) {
      sb_add (&b, "    <permissions>\n");
      if (d->mode) {
        sb_add (&b, "      <mode>");
        sb_esc (&b, d->mode);
        sb_add (&b, "</mode>\n");
      }
      if (d->owner >= 0)
        sb_add (&b, "      <owner>%ld</owner>\n", d->owner);
      if (d->group >= 0)
        sb_add (&b, "      <group>%ld</group>\n", d->group);
      sb_add (&b, "    </permissions>\n");
    }
    sb_add (&b, "  </target>\n");
  }
  if (d->n_config_opts) {
    sb_add (&b, "  <rbd:config_opts>\n");
    for (size_t i = 0; i < d->n_config_opts; i++) {
      sb_add (&b, "    <rbd:option name='");
      sb_esc (&b, d->config_opt_names[i]);
      sb_add (&b, "' value='");
      sb_esc (&b, d->config_opt_values[i]);
      sb_add (&b, "'/>\n");
    }
    sb_add (&b, "  </rbd:config_opts>\n");
  }
  if (d->n_mount_opts) {
    sb_add (&b, "  <fs:mount_opts>\n");
    for (size_t i = 0; i < d->n_mount_opts; i++) {
      sb_add (&b, "    <fs:option name='");
      sb_esc (&b, d->mount_opts[i]);
      sb_add (&b, "'/>\n");
    }
    sb_add (&b, "  </fs:mount_opts>\n");
  }
  sb_add (&b, "</pool>\n");
  return sb_done (&b);
}

char *
pool_vol_format_xml (const struct pool_vol *v)
{
  struct sbuf b = { 0 };
  const struct timespec *ts[3] = { &v->atime, &v->mtime, &v->ctime };
  static const char *const tsn[3] = { "atime", "mtime", "ctime" };

  sb_add (&b, "<volume type='%s'>\n  <name>", v->type);
  sb_esc (&b, v->name);
  sb_add (&b, "</name>\n  <key>");
  sb_esc (&b, v->key);
  sb_add (&b, "</key>\n");
  sb_add (&b, "  <capacity unit='bytes'>%" PRIu64 "</capacity>\n", v->capacity);
  sb_add (&b, "  <allocation unit='bytes'>%" PRIu64 "</allocation>\n", v->allocation);
  sb_add (&b, "  <physical unit='bytes'>%" PRIu64 "</physical>\n", v->physical);
  sb_add (&b, "  <target>\n    <path>");
  sb_esc (&b, v->path);
  sb_add (&b, "</path>\n    <format type='");
  sb_esc (&b, v->format);
  sb_add (&b, "'/>\n    <permissions>\n      <mode>%04o</mode>\n      <owner>%u</owner>\n"
          "      <group>%u</group>\n    </permissions>\n    <timestamps>\n",
          (unsigned) (v->mode & 07777), (unsigned) v->uid, (unsigned) v->gid);
  for (int i = 0; i < 3; i++)
    sb_add (&b, "      <%s>%lld.%09ld</%s>\n", tsn[i], (long long) ts[i]->tv_sec,
            ts[i]->tv_nsec, tsn[i]);
  sb_add (&b, "    </timestamps>\n  </target>\n");
  if (v->backing) {
    sb_add (&b, "  <backingStore>\n    <path>");
    sb_esc (&b, v->backing);
    sb_add (&b, "</path>\n");
    if (v->backing_format) {
      sb_add (&b, "    <format type='");
      sb_esc (&b, v->backing_format);
      sb_add (&b, "'/>\n");
    }
    sb_add (&b, "  </backingStore>\n");
  }
  sb_add (&b, "</volume>\n");
  return sb_done (&b);
}

static void
ignore_opt (void *opaque, const char *name, const char *type, const char *help,
            const char *defval)
{
  (void) opaque; (void) name; (void) type; (void) help; (void) defval;
}

char *
pool_capabilities_xml (void)
{
  struct sbuf b = { 0 };
  static const char *const all_types[] = {
    "dir", "fs", "netfs", "logical", "disk", "iscsi", "iscsi-direct", "scsi", "mpath",
    "rbd", "sheepdog", "gluster", "zfs", "vstorage", NULL };
  const char *const *fmts = disk_format_names ();

  sb_add (&b, "<storagepoolCapabilities>\n");
  for (size_t i = 0; all_types[i]; i++) {
    const struct pool_type_ops *t = pool_find_type (all_types[i]);
    if (!t) {
      sb_add (&b, "  <pool type='%s' supported='no'>\n  </pool>\n", all_types[i]);
      continue;
    }
    sb_add (&b, "  <pool type='%s' supported='yes'>\n", t->name);
    if (t->source_formats) {
      sb_add (&b, "    <poolOptions>\n      <defaultFormat type='%s'/>\n"
              "      <enum name='sourceFormatType'>\n", t->default_source_format);
      for (size_t j = 0; t->source_formats[j]; j++)
        sb_add (&b, "        <value>%s</value>\n", t->source_formats[j]);
      sb_add (&b, "      </enum>\n    </poolOptions>\n");
    }
    sb_add (&b, "    <volOptions>\n      <defaultFormat type='raw'/>\n"
            "      <enum name='targetFormatType'>\n");
    for (size_t j = 0; fmts[j]; j++)
      /* partitions and RBD images are raw */
      if (((strcmp (t->name, "disk") && strcmp (t->name, "rbd")) || !strcmp (fmts[j], "raw")) &&
          disk_create_options (fmts[j], ignore_opt, NULL) != -ENOTSUP)
        sb_add (&b, "        <value>%s</value>\n", fmts[j]);
    sb_add (&b, "      </enum>\n    </volOptions>\n  </pool>\n");
  }
  sb_add (&b, "</storagepoolCapabilities>\n");
  return sb_done (&b);
}

/* ---- for the library's other XML documents (secret.c) ----------------------- */
struct _xmlDoc *
pool_xml_parse (const char *xml, size_t len, const char *src, const char *root_name)
{
  return parse_doc (xml, len, src, root_name);
}

struct _xmlNode *
pool_xml_child (struct _xmlNode *n, const char *name)
{
  return child (n, name);
}

char *
pool_xml_text (struct _xmlNode *n)
{
  return text (n);
}

char *
pool_xml_attr (struct _xmlNode *n, const char *name)
{
  return attr (n, name);
}

char *
pool_xml_escape (const char *s)
{
  struct sbuf b = { 0 };
  sb_add (&b, "%s", "");
  sb_esc (&b, s);
  return sb_done (&b);
}
