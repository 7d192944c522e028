/* vdk pool-*: storage pools, with virsh's names, arguments and output. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vdk.h"
#include "virsh.h"
#include "pool.h"

static int
open_ctx (struct pool_ctx **c, bool exclusive)
{
  return pool_ctx_open (c, NULL, exclusive) < 0 ? pool_fail () : 0;
}

/* Open the state dir and find pool NAME. */
static int
get_pool (const char *name, bool exclusive, struct pool_ctx **c, struct pool **p)
{
  if (open_ctx (c, exclusive))
    return 1;
  if (pool_lookup (*c, name, p) < 0) {
    pool_fail ();
    pool_ctx_close (*c);
    return 1;
  }
  return 0;
}

static void
put_pool (struct pool_ctx *c, struct pool *p)
{
  pool_free (p);
  pool_ctx_close (c);
}

static int
read_xml_file (const char *file, char **xml, size_t *len)
{
  FILE *f = strcmp (file, "-") ? fopen (file, "re") : stdin;
  size_t cap = 0;

  *xml = NULL;
  *len = 0;
  if (!f) {
    error ("Failed to open file '%s': %s", file, strerror (errno));
    return 1;
  }
  for (;;) {
    if (*len == cap) {
      char *n;
      if (cap >= POOL_MAX_XML) {
        error ("%s: file is too large (more than %u bytes)", file, POOL_MAX_XML);
        goto fail;
      }
      cap = cap ? cap * 2 : 8192;
      if (!(n = realloc (*xml, cap + 1))) {
        error ("out of memory");
        goto fail;
      }
      *xml = n;
    }
    size_t r = fread (*xml + *len, 1, cap - *len, f);
    *len += r;
    if (r == 0)
      break;
  }
  if (ferror (f)) {
    error ("%s: read error", file);
    goto fail;
  }
  (*xml)[*len] = 0;
  if (f != stdin)
    fclose (f);
  return 0;
 fail:
  free (*xml);
  *xml = NULL;
  if (f != stdin)
    fclose (f);
  return 1;
}

static unsigned
build_flags (const struct vopt *o, const struct vargs *a)
{
  return (vhas (o, a, "overwrite") ? POOL_BUILD_OVERWRITE : 0) |
    (vhas (o, a, "no-overwrite") ? POOL_BUILD_NO_OVERWRITE : 0);
}

/* ---- pool-define-as / pool-create-as -------------------------------------- */
static const struct vopt as_opts[] = {
  { "name", true, true, true },
  { "type", true, true, true },
  { "source-host", true, true, false },
  { "source-path", true, true, false },
  { "source-dev", true, true, false },
  { "source-name", true, true, false },
  { "target", true, true, false },
  { "source-format", true, false, false },
  { "auth-type", true, false, false },
  { "auth-username", true, false, false },
  { "secret-usage", true, false, false },
  { "secret-uuid", true, false, false },
  { "source-initiator", true, false, false },
  { "source-protocol-ver", true, false, false },
  { "print-xml", false, false, false },
  { "build", false, false, false },
  { "overwrite", false, false, false },
  { "no-overwrite", false, false, false },
  { NULL },
};

static int
def_from_args (const char *cmd, const struct vargs *a, struct pool_def **out)
{
  struct pool_def *d = calloc (1, sizeof *d);
  const char *v;

  *out = NULL;
  if (!d)
    goto oom;
  d->owner = d->group = -1;
  if (!(d->name = strdup (vget (as_opts, a, "name"))) ||
      !(d->type = strdup (vget (as_opts, a, "type"))))
    goto oom;
  if ((v = vget (as_opts, a, "source-dev")) && v[0]) {
    if (!(d->devices[0] = strdup (v)))
      goto oom;
    d->n_devices = 1;
  }
  if ((v = vget (as_opts, a, "source-host")) && v[0]) {
    /* HOST:PORT ([V6ADDR]:PORT) gives <host name=HOST port=PORT/>. */
    const char *c = strrchr (v, ':');
    size_t hl = strlen (v);
    if (c && c > v && c[1] && strspn (c + 1, "0123456789") == strlen (c + 1) &&
        (v[0] == '[' ? c[-1] == ']' : !memchr (v, ':', c - v))) {
      long port = strtol (c + 1, NULL, 10);
      if (port <= 0 || port > 65535 || strlen (c + 1) > 5) {
        pool_def_free (d);
        return usage_error (cmd, "invalid port in --source-host '%s'", v);
      }
      d->source_port = port;
      hl = c - v;
      if (v[0] == '[') {
        v++;
        hl -= 2;
      }
    }
    if (!(d->source_host = strndup (v, hl)))
      goto oom;
  }
  if ((v = vget (as_opts, a, "source-path")) && v[0] && !(d->source_dir = strdup (v)))
    goto oom;
  if ((v = vget (as_opts, a, "source-name")) && v[0] && !(d->source_name = strdup (v)))
    goto oom;
  if ((v = vget (as_opts, a, "source-format")) && v[0] && !(d->source_format = strdup (v)))
    goto oom;
  if ((v = vget (as_opts, a, "target")) && v[0] && !(d->target = strdup (v)))
    goto oom;
  if ((v = vget (as_opts, a, "source-initiator")) && v[0] && !(d->initiator_iqn = strdup (v)))
    goto oom;
  if ((v = vget (as_opts, a, "source-protocol-ver")) && v[0]) {
    char *end;
    unsigned long ver = strtoul (v, &end, 10);
    if (end == v || *end || ver == 0 || ver > 4) {
      pool_def_free (d);
      return usage_error (cmd, "Unable to parse protocol version '%s'", v);
    }
    if (!(d->source_protocol_ver = strdup (v)))
      goto oom;
  }
  {
    const char *at = vget (as_opts, a, "auth-type");
    const char *au = vget (as_opts, a, "auth-username");
    const char *su = vget (as_opts, a, "secret-usage");
    const char *sid = vget (as_opts, a, "secret-uuid");
    if (at || au || su || sid) {
      /* virsh's rule: all of type, username and one secret, or none */
      if (!at || !au || !at[0] || !au[0] || (!su && !sid) || (su && sid)) {
        pool_def_free (d);
        return usage_error (cmd, "Either both --auth-type and --auth-username and one of "
                            "--secret-usage or --secret-uuid are required, or none");
      }
      if (!(d->auth_type = strdup (at)) || !(d->auth_username = strdup (au)) ||
          (su && !(d->auth_secret_usage = strdup (su))) ||
          (sid && !(d->auth_secret_uuid = strdup (sid))))
        goto oom;
    }
  }
  (void) cmd;
  *out = d;
  return 0;
 oom:
  pool_def_free (d);
  error ("out of memory");
  return 1;
}

static int
define_or_create_as (int argc, char **argv, bool create)
{
  const char *cmd = argv[0];
  struct vargs a;
  struct pool_def *d;
  struct pool_ctx *c;
  struct pool *p;
  char name[512];
  int r;

  if (vparse (cmd, as_opts, argc, argv, &a) || def_from_args (cmd, &a, &d))
    return 1;
  if (!create && (vhas (as_opts, &a, "build") || vhas (as_opts, &a, "overwrite") ||
                  vhas (as_opts, &a, "no-overwrite"))) {
    pool_def_free (d);
    return usage_error (cmd, "command '%s' doesn't support option --build", cmd);
  }
  if (vhas (as_opts, &a, "print-xml")) {
    char *xml = NULL;
    if (pool_def_validate (d) < 0) {
      pool_def_free (d);
      return pool_fail ();
    }
    /* As virsh prints it: no uuid or sizes yet. */
    xml = pool_def_format (d, NULL);
    pool_def_free (d);
    if (!xml)
      return pool_fail ();
    {
      char *u = strstr (xml, "  <uuid></uuid>\n");
      char *cap = strstr (xml, "  <capacity");
      char *src = strstr (xml, "  <source>");
      if (u && cap && src) {
        memmove (u, src, strlen (src) + 1);
      }
    }
    fputs (xml, stdout);
    free (xml);
    return 0;
  }
  snprintf (name, sizeof name, "%s", d->name);
  if (open_ctx (&c, true)) {
    pool_def_free (d);
    return 1;
  }
  r = create ? pool_create (c, d, vhas (as_opts, &a, "build"), build_flags (as_opts, &a), &p) : pool_define (c, d, &p);
  if (r < 0) {
    pool_ctx_close (c);
    return pool_fail ();
  }
  printf (create ? "Pool %s created\n" : "Pool %s defined\n", name);
  put_pool (c, p);
  return 0;
}

int
cmd_pool_define_as (int argc, char **argv)
{
  return define_or_create_as (argc, argv, false);
}

int
cmd_pool_create_as (int argc, char **argv)
{
  return define_or_create_as (argc, argv, true);
}

/* ---- pool-define / pool-create FILE ---------------------------------------- */
static const struct vopt file_opts[] = {
  { "file", true, true, true },
  { "build", false, false, false },
  { "overwrite", false, false, false },
  { "no-overwrite", false, false, false },
  { "validate", false, false, false },
  { NULL },
};

static int
define_or_create (int argc, char **argv, bool create)
{
  const char *cmd = argv[0], *file;
  struct vargs a;
  struct pool_def *d;
  struct pool_ctx *c;
  struct pool *p;
  char *xml, name[512];
  size_t len;
  int r;

  if (vparse (cmd, file_opts, argc, argv, &a))
    return 1;
  if (!create && vhas (file_opts, &a, "build"))
    return usage_error (cmd, "command '%s' doesn't support option --build", cmd);
  file = vget (file_opts, &a, "file");
  if (read_xml_file (file, &xml, &len))
    return 1;
  r = pool_def_parse (xml, len, file, &d);
  free (xml);
  if (r < 0)
    return pool_fail ();
  snprintf (name, sizeof name, "%s", d->name);
  if (open_ctx (&c, true)) {
    pool_def_free (d);
    return 1;
  }
  r = create ? pool_create (c, d, vhas (file_opts, &a, "build"), build_flags (file_opts, &a), &p) : pool_define (c, d, &p);
  if (r < 0) {
    pool_ctx_close (c);
    return pool_fail ();
  }
  printf (create ? "Pool %s created from %s\n" : "Pool %s defined from %s\n", name, file);
  put_pool (c, p);
  return 0;
}

int
cmd_pool_define (int argc, char **argv)
{
  return define_or_create (argc, argv, false);
}

int
cmd_pool_create (int argc, char **argv)
{
  return define_or_create (argc, argv, true);
}

/* ---- simple state changes --------------------------------------------------- */
static const struct vopt pool_only_opts[] = {
  { "pool", true, true, true },
  { NULL },
};

enum simple_op { OP_DESTROY, OP_DELETE, OP_UNDEFINE, OP_REFRESH };

static int
simple (int argc, char **argv, enum simple_op op)
{
  static const char *const msgs[] = {
    "Pool %s destroyed\n", "Pool %s deleted\n", "Pool %s has been undefined\n",
    "Pool %s refreshed\n",
  };
  struct vargs a;
  struct pool_ctx *c;
  struct pool *p;
  int r = 0;

  if (vparse (argv[0], pool_only_opts, argc, argv, &a) ||
      get_pool (vget (pool_only_opts, &a, "pool"), op != OP_REFRESH, &c, &p))
    return 1;
  switch (op) {
  case OP_DESTROY: r = pool_destroy (p); break;
  case OP_DELETE: r = pool_delete (p); break;
  case OP_UNDEFINE: r = pool_undefine (p); break;
  case OP_REFRESH: {
    struct pool_vol **v;
    size_t n;
    r = pool_vol_list (p, &v, &n);
    if (r == 0)
      pool_vol_list_free (v, n);
    break;
  }
  }
  if (r < 0) {
    put_pool (c, p);
    return pool_fail ();
  }
  printf (msgs[op], p->def->name);
  put_pool (c, p);
  return 0;
}

int cmd_pool_destroy (int argc, char **argv) { return simple (argc, argv, OP_DESTROY); }
int cmd_pool_delete (int argc, char **argv) { return simple (argc, argv, OP_DELETE); }
int cmd_pool_undefine (int argc, char **argv) { return simple (argc, argv, OP_UNDEFINE); }
int cmd_pool_refresh (int argc, char **argv) { return simple (argc, argv, OP_REFRESH); }

static const struct vopt build_opts[] = {
  { "pool", true, true, true },
  { "overwrite", false, false, false },
  { "no-overwrite", false, false, false },
  { NULL },
};

int
cmd_pool_build (int argc, char **argv)
{
  struct vargs a;
  struct pool_ctx *c;
  struct pool *p;

  if (vparse (argv[0], build_opts, argc, argv, &a) ||
      get_pool (vget (build_opts, &a, "pool"), true, &c, &p))
    return 1;
  if (pool_build (p, build_flags (build_opts, &a)) < 0) {
    put_pool (c, p);
    return pool_fail ();
  }
  printf ("Pool %s built\n", p->def->name);
  put_pool (c, p);
  return 0;
}

static const struct vopt start_opts[] = {
  { "pool", true, true, false },
  { "build", false, false, false },
  { "overwrite", false, false, false },
  { "no-overwrite", false, false, false },
  { "autostart", false, false, false },
  { NULL },
};

/* pool-start --autostart: start every autostart pool that is not active
 * (what libvirtd does when it starts; contrib/vdk-pools.service runs it at
 * boot).  Every pool is tried; the exit status says if one failed. */
static int
start_autostart (void)
{
  struct pool_ctx *c;
  struct pool **v;
  size_t n;
  int rc = 0;

  if (open_ctx (&c, true))
    return 1;
  if (pool_list (c, &v, &n) < 0) {
    pool_ctx_close (c);
    return pool_fail ();
  }
  for (size_t i = 0; i < n; i++) {
    if (!v[i]->autostart || v[i]->active)
      continue;
    if (pool_start (v[i], false, 0) < 0)
      rc = pool_fail ();
    else
      printf ("Pool %s started\n", v[i]->def->name);
  }
  pool_list_free (v, n);
  pool_ctx_close (c);
  return rc;
}

int
cmd_pool_start (int argc, char **argv)
{
  struct vargs a;
  struct pool_ctx *c;
  struct pool *p;
  unsigned flags;

  if (vparse (argv[0], start_opts, argc, argv, &a))
    return 1;
  if (vhas (start_opts, &a, "autostart")) {
    if (vhas (start_opts, &a, "pool"))
      return usage_error (argv[0], "--autostart starts every autostart pool: give no pool name");
    return start_autostart ();
  }
  if (!vhas (start_opts, &a, "pool"))
    return usage_error (argv[0], "command '%s' requires <pool> option", argv[0]);
  if (get_pool (vget (start_opts, &a, "pool"), true, &c, &p))
    return 1;
  flags = build_flags (start_opts, &a);
  if (pool_start (p, vhas (start_opts, &a, "build") || flags, flags) < 0) {
    put_pool (c, p);
    return pool_fail ();
  }
  printf ("Pool %s started\n", p->def->name);
  put_pool (c, p);
  return 0;
}

static const struct vopt autostart_opts[] = {
  { "pool", true, true, true },
  { "disable", false, false, false },
  { NULL },
};

int
cmd_pool_autostart (int argc, char **argv)
{
  struct vargs a;
  struct pool_ctx *c;
  struct pool *p;
  bool off;

  if (vparse (argv[0], autostart_opts, argc, argv, &a) ||
      get_pool (vget (autostart_opts, &a, "pool"), true, &c, &p))
    return 1;
  off = vhas (autostart_opts, &a, "disable");
  if (pool_set_autostart (p, !off) < 0) {
    put_pool (c, p);
    return pool_fail ();
  }
  printf (off ? "Pool %s unmarked as autostarted\n" : "Pool %s marked as autostarted\n",
          p->def->name);
  put_pool (c, p);
  return 0;
}

/* ---- reports ------------------------------------------------------------------ */
static const struct vopt list_opts[] = {
  { "inactive", false, false, false },
  { "all", false, false, false },
  { "persistent", false, false, false },
  { "transient", false, false, false },
  { "autostart", false, false, false },
  { "no-autostart", false, false, false },
  { "type", true, false, false },
  { "details", false, false, false },
  { "uuid", false, false, false },
  { "name", false, false, false },
  { "output", true, false, false },
  { NULL },
};

static void
pool_json (struct jw *w, struct pool *p)
{
  struct pool_info info;

  jw_obj (w, NULL);
  jw_str (w, "name", p->def->name);
  jw_str (w, "uuid", p->def->uuid);
  jw_str (w, "type", p->def->type);
  jw_str (w, "state", p->active ? "running" : "inactive");
  jw_bool (w, "persistent", p->persistent);
  jw_bool (w, "autostart", p->autostart);
  if (p->def->target)
    jw_str (w, "target", p->def->target);
  if (p->active && pool_get_info (p, &info) == 0) {
    jw_uint (w, "capacity", info.capacity);
    jw_uint (w, "allocation", info.allocation);
    jw_uint (w, "available", info.available);
  }
  jw_obj_end (w);
}

static bool
type_wanted (const char *types, const char *t)
{
  size_t tl = strlen (t);
  for (const char *s = types; *s; ) {
    size_t l = strcspn (s, ",");
    if (l == tl && !strncmp (s, t, l))
      return true;
    s += l + (s[l] == ',');
  }
  return false;
}

int
cmd_pool_list (int argc, char **argv)
{
  struct vargs a;
  struct pool_ctx *c;
  struct pool **v;
  struct vtable *t;
  size_t n;
  bool all, inactive, details, by_name, by_uuid;
  const char *types;
  enum output_format out = OUT_HUMAN;
  struct jw w;

  if (vparse (argv[0], list_opts, argc, argv, &a))
    return 1;
  all = vhas (list_opts, &a, "all");
  inactive = vhas (list_opts, &a, "inactive");
  details = vhas (list_opts, &a, "details");
  by_name = vhas (list_opts, &a, "name");
  by_uuid = vhas (list_opts, &a, "uuid");
  types = vget (list_opts, &a, "type");
  if (types) {
    for (const char *s = types; *s; ) {
      size_t l = strcspn (s, ",");
      bool known = false;
      for (const char *const *tn = pool_type_names (); *tn; tn++)
        known |= strlen (*tn) == l && !strncmp (*tn, s, l);
      static const char *const other[] = { "netfs", "logical", "disk", "iscsi", "iscsi-direct",
                                           "scsi", "mpath", "rbd", "sheepdog", "gluster",
                                           "zfs", "vstorage", NULL };
      for (size_t k = 0; other[k]; k++)
        known |= strlen (other[k]) == l && !strncmp (other[k], s, l);
      if (!known) {
        error ("Invalid pool type '%.*s'", (int) l, s);
        return 1;
      }
      s += l + (s[l] == ',');
    }
  }
  if (vget (list_opts, &a, "output") && parse_output (vget (list_opts, &a, "output"), &out) < 0)
    return 1;
  if (open_ctx (&c, false))
    return 1;
  if (pool_list (c, &v, &n) < 0) {
    pool_ctx_close (c);
    return pool_fail ();
  }
  jw_init (&w, stdout, true);
  if (out == OUT_JSON)
    jw_arr (&w, NULL);
  t = details ? vtable_new (7, "Name", "State", "Autostart", "Persistent", "Capacity",
                            "Allocation", "Available")
    : vtable_new (3, "Name", "State", "Autostart");
  for (size_t i = 0; i < n; i++) {
    struct pool *p = v[i];
    if (!all && (inactive ? p->active : !p->active))
      continue;
    if (vhas (list_opts, &a, "persistent") && !p->persistent)
      continue;
    if (vhas (list_opts, &a, "transient") && p->persistent)
      continue;
    if (vhas (list_opts, &a, "autostart") && !p->autostart)
      continue;
    if (vhas (list_opts, &a, "no-autostart") && p->autostart)
      continue;
    if (types && !type_wanted (types, p->def->type))
      continue;
    if (out == OUT_JSON) {
      pool_json (&w, p);
      continue;
    }
    if (by_name || by_uuid) {
      if (by_uuid)
        printf ("%s%s", p->def->uuid, by_name ? " " : "\n");
      if (by_name)
        printf ("%s\n", p->def->name);
      continue;
    }
    if (details) {
      struct pool_info info;
      char cap[32] = "-", alloc[32] = "-", avail[32] = "-";
      if (p->active && pool_get_info (p, &info) == 0) {
        pretty_capacity (info.capacity, cap, sizeof cap);
        pretty_capacity (info.allocation, alloc, sizeof alloc);
        pretty_capacity (info.available, avail, sizeof avail);
      }
      vtable_row (t, p->def->name, p->active ? "running" : "inactive",
                  p->autostart ? "yes" : "no", p->persistent ? "yes" : "no", cap, alloc, avail);
    }
    else
      vtable_row (t, p->def->name, p->active ? "active" : "inactive",
                  p->autostart ? "yes" : "no");
  }
  if (out == OUT_JSON) {
    jw_arr_end (&w);
    jw_end (&w);
  }
  else if (!by_name && !by_uuid)
    vtable_print (t);
  vtable_free (t);
  pool_list_free (v, n);
  pool_ctx_close (c);
  return 0;
}

static const struct vopt info_opts[] = {
  { "pool", true, true, true },
  { "bytes", false, false, false },
  { "output", true, false, false },
  { NULL },
};

int
cmd_pool_info (int argc, char **argv)
{
  struct vargs a;
  struct pool_ctx *c;
  struct pool *p;
  struct pool_info info;
  bool bytes;

  if (vparse (argv[0], info_opts, argc, argv, &a) ||
      get_pool (vget (info_opts, &a, "pool"), false, &c, &p))
    return 1;
  bytes = vhas (info_opts, &a, "bytes");
  if (pool_get_info (p, &info) < 0) {
    put_pool (c, p);
    return pool_fail ();
  }
  if (vget (info_opts, &a, "output")) {
    enum output_format out;
    if (parse_output (vget (info_opts, &a, "output"), &out) < 0) {
      put_pool (c, p);
      return 1;
    }
    if (out == OUT_JSON) {
      struct jw w;
      jw_init (&w, stdout, true);
      pool_json (&w, p);
      jw_end (&w);
      put_pool (c, p);
      return 0;
    }
  }
  printf ("%-15s %s\n", "Name:", p->def->name);
  printf ("%-15s %s\n", "UUID:", p->def->uuid);
  printf ("%-15s %s\n", "State:", p->active ? "running" : "inactive");
  printf ("%-15s %s\n", "Persistent:", p->persistent ? "yes" : "no");
  printf ("%-15s %s\n", "Autostart:", p->autostart ? "yes" : "no");
  if (p->active) {
    const char *label[3] = { "Capacity:", "Allocation:", "Available:" };
    uint64_t val[3] = { info.capacity, info.allocation, info.available };
    for (int i = 0; i < 3; i++) {
      char buf[32];
      if (bytes)
        printf ("%-15s %" PRIu64 "\n", label[i], val[i]);
      else
        printf ("%-15s %s\n", label[i], pretty_capacity (val[i], buf, sizeof buf));
    }
  }
  put_pool (c, p);
  return 0;
}

static const struct vopt dumpxml_opts[] = {
  { "pool", true, true, true },
  { "inactive", false, false, false },
  { NULL },
};

int
cmd_pool_dumpxml (int argc, char **argv)
{
  struct vargs a;
  struct pool_ctx *c;
  struct pool *p;
  char *xml;

  if (vparse (argv[0], dumpxml_opts, argc, argv, &a) ||
      get_pool (vget (dumpxml_opts, &a, "pool"), false, &c, &p))
    return 1;
  xml = pool_format_xml (p, vhas (dumpxml_opts, &a, "inactive"));
  put_pool (c, p);
  if (!xml)
    return pool_fail ();
  fputs (xml, stdout);
  free (xml);
  return 0;
}

static const struct vopt nothing_opts[] = { { NULL } };

int
cmd_pool_capabilities (int argc, char **argv)
{
  struct vargs a;
  char *xml;

  if (vparse (argv[0], nothing_opts, argc, argv, &a))
    return 1;
  if (!(xml = pool_capabilities_xml ()))
    return pool_fail ();
  fputs (xml, stdout);
  free (xml);
  return 0;
}

static int
name_or_uuid (int argc, char **argv, bool want_uuid)
{
  struct vargs a;
  struct pool_ctx *c;
  struct pool *p;

  if (vparse (argv[0], pool_only_opts, argc, argv, &a) ||
      get_pool (vget (pool_only_opts, &a, "pool"), false, &c, &p))
    return 1;
  printf ("%s\n", want_uuid ? p->def->uuid : p->def->name);
  put_pool (c, p);
  return 0;
}

int cmd_pool_name (int argc, char **argv) { return name_or_uuid (argc, argv, false); }
int cmd_pool_uuid (int argc, char **argv) { return name_or_uuid (argc, argv, true); }

/* ---- find-storage-pool-sources(-as) ------------------------------------------------ */
static const struct vopt find_opts[] = {
  { "type", true, true, true },
  { "srcSpec", true, true, false },
  { NULL },
};

static const struct vopt find_as_opts[] = {
  { "type", true, true, true },
  { "host", true, true, false },
  { "port", true, true, false },
  { "initiator", true, true, false },
  { NULL },
};

static int
print_sources (const char *type, const char *host, const char *port, const char *initiator,
               const char *spec)
{
  char *xml;

  if (pool_find_sources (type, host, port, initiator, spec, &xml) < 0)
    return pool_fail ();
  fputs (xml, stdout);
  free (xml);
  return 0;
}

int
cmd_find_sources (int argc, char **argv)
{
  struct vargs a;
  const char *file;
  char *spec = NULL;
  size_t len;
  int rc;

  if (vparse (argv[0], find_opts, argc, argv, &a))
    return 1;
  if ((file = vget (find_opts, &a, "srcSpec")) && read_xml_file (file, &spec, &len))
    return 1;
  rc = print_sources (vget (find_opts, &a, "type"), NULL, NULL, NULL, spec);
  free (spec);
  return rc;
}

int
cmd_find_sources_as (int argc, char **argv)
{
  struct vargs a;

  if (vparse (argv[0], find_as_opts, argc, argv, &a))
    return 1;
  return print_sources (vget (find_as_opts, &a, "type"), vget (find_as_opts, &a, "host"),
                        vget (find_as_opts, &a, "port"), vget (find_as_opts, &a, "initiator"),
                        NULL);
}
