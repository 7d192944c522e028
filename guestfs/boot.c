/* Boot entry discovery: BLS entries (as inspection lists them), grub.cfg
 * menu entries, then the newest kernel in /boot.  Everything read here is
 * guest data: files are size-capped, lists are bounded, and a path that is
 * not there gives one error naming it. */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestfs/boot.h"

#define MAX_CFG (4u << 20)     /* grub.cfg, grubenv, loader.conf */
#define MAX_VARS 256
#define MAX_MENU 1024
#define MAX_WORDS 256
#define MAX_WORD 4096

const char *
gfs_boot_source_name (enum gfs_boot_source src)
{
  switch (src) {
  case GFS_BOOT_BLS: return "bls";
  case GFS_BOOT_GRUB: return "grub";
  default: return "boot-dir";
  }
}

void
gfs_boot_free (struct gfs_boot *b)
{
  free (b->where);
  free (b->entry);
  free (b->title);
  free (b->kernel);
  for (size_t i = 0; i < b->n_initrds; i++)
    free (b->initrds[i]);
  free (b->cmdline);
  memset (b, 0, sizeof *b);
}

int
gfs_boot_read (struct gfs_session *s, const char *path, size_t max, char **buf, size_t *len)
{
  struct gfs_fs *fs;
  uint64_t ino;
  int r = gfs_resolve (s, path, true, &fs, &ino);

  if (r < 0)
    return r;
  return gfs_read_file (fs, ino, max, buf, len);
}

static bool
exists (struct gfs_session *s, const char *path)
{
  struct gfs_fs *fs;
  uint64_t ino;
  return gfs_resolve (s, path, true, &fs, &ino) == 0;
}

/* Text file or NULL when absent; -errno (other than ENOENT) in *ERR. */
static char *
read_cfg (struct gfs_session *s, const char *path, int *err)
{
  char *buf;
  size_t len;
  int r = gfs_boot_read (s, path, MAX_CFG, &buf, &len);

  if (r == -ENOENT)
    return NULL;
  if (r < 0) {
    *err = r;
    return NULL;
  }
  (void) len;                           /* a NUL inside ends the text */
  return buf;
}

/* The device /boot lives on: a separate filesystem, or the root. */
static struct gfs_device *
boot_device (struct gfs_session *s, const struct gfs_os *os, bool *separate)
{
  for (size_t i = 0; i < s->n_mounts; i++)
    if (!strcmp (s->mounts[i].mountpoint, "/boot")) {
      *separate = true;
      return s->mounts[i].dev;
    }
  *separate = false;
  return os->root;
}

/* ---- variables (grubenv, "set NAME=VALUE" in grub.cfg) ---- */

struct vars {
  char *name[MAX_VARS], *value[MAX_VARS];
  size_t n;
};

static void
vars_free (struct vars *v)
{
  for (size_t i = 0; i < v->n; i++) {
    free (v->name[i]);
    free (v->value[i]);
  }
  v->n = 0;
}

static const char *
var_get (const struct vars *v, const char *name, size_t nl)
{
  for (size_t i = v->n; i-- > 0;)
    if (strlen (v->name[i]) == nl && !memcmp (v->name[i], name, nl))
      return v->value[i];
  return NULL;
}

static void
var_set (struct vars *v, const char *name, const char *value)
{
  char *val;
  for (size_t i = 0; i < v->n; i++)
    if (!strcmp (v->name[i], name)) {
      if ((val = strdup (value))) {
        free (v->value[i]);
        v->value[i] = val;
      }
      return;
    }
  if (v->n >= MAX_VARS)
    return;
  v->name[v->n] = strdup (name);
  v->value[v->n] = strdup (value);
  if (v->name[v->n] && v->value[v->n])
    v->n++;
  else {
    free (v->name[v->n]);
    free (v->value[v->n]);
  }
}

/* grubenv: "# GRUB Environment Block" then KEY=VALUE lines, '#' padding. */
static void
read_grubenv (struct gfs_session *s, struct vars *v)
{
  static const char *const paths[] = { "/boot/grub2/grubenv", "/boot/grub/grubenv", NULL };
  int err = 0;

  for (int i = 0; paths[i]; i++) {
    char *t = read_cfg (s, paths[i], &err), *save = NULL;
    if (!t)
      continue;
    for (char *l = strtok_r (t, "\n", &save); l; l = strtok_r (NULL, "\n", &save)) {
      char *eq = strchr (l, '=');
      if (l[0] == '#' || !eq || eq == l)
        continue;
      *eq = 0;
      var_set (v, l, eq + 1);
    }
    free (t);
    return;
  }
}

/* Append [P, P+N) to the growing string *OUT (capped at MAX_WORD). */
static void
put (char *out, size_t *ol, const char *p, size_t n)
{
  if (n > MAX_WORD - 1 - *ol)
    n = MAX_WORD - 1 - *ol;
  memcpy (out + *ol, p, n);
  *ol += n;
  out[*ol] = 0;
}

/* $name or ${name} at *P (just after the '$'): appends its value. */
static void
expand_var (const char **pp, const struct vars *v, char *out, size_t *ol)
{
  const char *p = *pp, *name;
  size_t nl = 0;
  const char *val;

  if (*p == '{') {
    const char *e = strchr (p, '}');
    if (!e) {
      put (out, ol, "$", 1);
      return;
    }
    name = p + 1;
    nl = (size_t) (e - name);
    *pp = e + 1;
  }
  else {
    name = p;
    while ((name[nl] >= 'a' && name[nl] <= 'z') || (name[nl] >= 'A' && name[nl] <= 'Z') ||
           (name[nl] >= '0' && name[nl] <= '9') || name[nl] == '_')
      nl++;
    if (!nl) {
      put (out, ol, "$", 1);
      return;
    }
    *pp = name + nl;
  }
  val = var_get (v, name, nl);
  if (val)
    put (out, ol, val, strlen (val));
}

/* Expand variables in a BLS options value (Fedora's "$kernelopts"). */
static char *
expand_str (const char *in, const struct vars *v)
{
  char out[MAX_WORD];
  size_t ol = 0;
  const char *p = in;

  out[0] = 0;
  while (*p) {
    if (*p == '$') {
      p++;
      expand_var (&p, v, out, &ol);
    }
    else
      put (out, &ol, p++, 1);
  }
  return strdup (out);
}

/* Split a grub script line into words: quotes, backslashes and variables
 * as grub does.  Returns the number of words (at most MAX_WORDS); words
 * are allocated. */
static size_t
split_words (const char *line, const struct vars *v, char **w)
{
  size_t n = 0;
  const char *p = line;

  for (;;) {
    char word[MAX_WORD];
    size_t wl = 0;
    bool have = false;

    while (*p == ' ' || *p == '\t' || *p == '\r')
      p++;
    if (!*p || *p == '#' || *p == ';' || n >= MAX_WORDS)
      break;
    word[0] = 0;
    while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != ';') {
      have = true;
      if (*p == '\'') {
        const char *e = strchr (p + 1, '\'');
        if (!e)
          e = p + strlen (p);
        put (word, &wl, p + 1, (size_t) (e - p - 1));
        p = *e ? e + 1 : e;
      }
      else if (*p == '"') {
        p++;
        while (*p && *p != '"') {
          if (*p == '\\' && (p[1] == '"' || p[1] == '\\' || p[1] == '$')) {
            put (word, &wl, p + 1, 1);
            p += 2;
          }
          else if (*p == '$') {
            p++;
            expand_var (&p, v, word, &wl);
          }
          else
            put (word, &wl, p++, 1);
        }
        if (*p)
          p++;
      }
      else if (*p == '\\' && p[1]) {
        put (word, &wl, p + 1, 1);
        p += 2;
      }
      else if (*p == '$') {
        p++;
        expand_var (&p, v, word, &wl);
      }
      else
        put (word, &wl, p++, 1);
    }
    if (have && (w[n] = strdup (word)))
      n++;
  }
  return n;
}

static void
free_words (char **w, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (w[i]);
}

/* ---- path and command line helpers ---- */

static bool
is_number (const char *s)
{
  if (!*s || strlen (s) > 6)
    return false;
  for (; *s; s++)
    if (*s < '0' || *s > '9')
      return false;
  return true;
}

/* Where a boot loader path is in the guest's tree.  BASE is where the
 * loader's filesystem is mounted ("/boot", "/efi").  BOOT_REL: the loader
 * reads the path from that filesystem (1), from the root filesystem (0),
 * or unknown (-1: try both, BASE's first when it is a separate mount). */
static char *
guest_path (struct gfs_session *s, const char *p, const char *base, int boot_rel,
            bool separate)
{
  char a[GFS_MAX_PATH], b[2 * GFS_MAX_PATH];

  if (p[0] == '(') {               /* (hd0,msdos1)/vmlinuz, ($root)/vmlinuz */
    const char *e = strchr (p, ')');
    if (e)
      p = e + 1;
  }
  if (strlen (p) > GFS_MAX_PATH - 16)
    return NULL;
  snprintf (a, sizeof a, "%s%s", p[0] == '/' ? "" : "/", p);
  snprintf (b, sizeof b, "%s%s", base, a);
  if (boot_rel == 1 || (boot_rel < 0 && separate)) {
    if (exists (s, b) || boot_rel == 1)
      return strdup (b);
    return exists (s, a) ? strdup (a) : NULL;
  }
  if (exists (s, a) || boot_rel == 0)
    return strdup (a);
  return exists (s, b) ? strdup (b) : NULL;
}

static int
missing (const char *where, const char *what, const char *path, const struct gfs_device *d)
{
  return gfs_err (ENOENT, "%s: %s %s not found on %s", where, what, path, d->dev->name);
}

/* Fill B's kernel and initrds (a space-separated list) from loader paths,
 * checking that each exists. */
static int
set_files (struct gfs_session *s, struct gfs_boot *b, const char *kernel, const char *initrds,
           const char *base, int boot_rel, bool separate, const struct gfs_device *bootdev)
{
  char *list, *save = NULL;

  b->kernel = guest_path (s, kernel, base, boot_rel, separate);
  if (!b->kernel || !exists (s, b->kernel))
    return missing (b->where, "kernel", kernel, bootdev);
  if (!initrds)
    return 0;
  if (!(list = strdup (initrds)))
    return gfs_err (ENOMEM, "out of memory");
  for (char *t = strtok_r (list, " \t", &save); t; t = strtok_r (NULL, " \t", &save)) {
    char *p;
    if (b->n_initrds >= GFS_BOOT_MAX_INITRDS) {
      free (list);
      return gfs_err (E2BIG, "%s: more than %d initrds", b->where, GFS_BOOT_MAX_INITRDS);
    }
    p = guest_path (s, t, base, boot_rel, separate);
    if (!p || !exists (s, p)) {
      int r = missing (b->where, "initrd", t, bootdev);
      free (p);
      free (list);
      return r;
    }
    b->initrds[b->n_initrds++] = p;
  }
  free (list);
  return 0;
}

/* ---- BLS ---- */

static const char *
bls_id (const struct gfs_bootentry *e)
{
  const char *base = strrchr (e->file, '/');
  return base ? base + 1 : e->file;
}

static bool
bls_id_is (const struct gfs_bootentry *e, const char *name)
{
  const char *id = bls_id (e);
  size_t l = strlen (id);
  return !strcmp (id, name) || (l > 5 && strlen (name) == l - 5 && !strncmp (id, name, l - 5));
}

static int
cmp_bls (const void *pa, const void *pb)
{
  const struct gfs_bootentry *a = *(const struct gfs_bootentry *const *) pa;
  const struct gfs_bootentry *b = *(const struct gfs_bootentry *const *) pb;
  int r = strverscmp (b->version ? b->version : "", a->version ? a->version : "");
  return r ? r : strverscmp (bls_id (b), bls_id (a));
}

/* loader.conf's "default PATTERN" (the last one wins). */
static char *
loader_default (struct gfs_session *s)
{
  static const char *const paths[] = { "/boot/loader/loader.conf",
                                       "/boot/efi/loader/loader.conf", NULL };
  char *r = NULL;

  for (int i = 0; paths[i] && !r; i++) {
    int err = 0;
    char *t = read_cfg (s, paths[i], &err), *save = NULL;
    if (!t)
      continue;
    for (char *l = strtok_r (t, "\n", &save); l; l = strtok_r (NULL, "\n", &save)) {
      char *v;
      if (strncmp (l, "default", 7) || (l[7] != ' ' && l[7] != '\t'))
        continue;
      v = l + 7 + strspn (l + 7, " \t");
      v[strcspn (v, " \t\r")] = 0;
      free (r);
      r = *v && *v != '@' ? strdup (v) : NULL;
    }
    free (t);
  }
  return r;
}

static int
boot_bls (struct gfs_session *s, const struct gfs_os *os, const char *entry,
          const struct vars *env, struct gfs_boot *b)
{
  const struct gfs_bootentry **v = calloc (os->n_boot, sizeof *v), *e = NULL;
  size_t n = 0;
  bool separate;
  const struct gfs_device *bootdev = boot_device (s, os, &separate);
  int r;

  if (!v)
    return gfs_err (ENOMEM, "out of memory");
  for (size_t i = 0; i < os->n_boot; i++)
    v[n++] = &os->boot[i];
  qsort (v, n, sizeof *v, cmp_bls);      /* menu order: newest first */
  if (entry) {
    if (is_number (entry)) {
      if ((size_t) atoi (entry) < n)
        e = v[atoi (entry)];
    }
    else
      for (size_t i = 0; i < n && !e; i++)
        if (bls_id_is (v[i], entry) || (v[i]->title && !strcmp (v[i]->title, entry)))
          e = v[i];
    if (!e) {
      free (v);
      return gfs_err (ENOENT, "no boot entry '%s' in /boot/loader/entries (%zu entries)",
                      entry, n);
    }
  }
  else {
    char *def = loader_default (s);
    const char *saved = var_get (env, "saved_entry", 11);
    for (size_t i = 0; i < n && !e && def; i++)
      if (!fnmatch (def, bls_id (v[i]), 0) || bls_id_is (v[i], def))
        e = v[i];
    for (size_t i = 0; i < n && !e && saved && *saved; i++)
      if (bls_id_is (v[i], saved) || (v[i]->title && !strcmp (v[i]->title, saved)))
        e = v[i];
    free (def);
    /* else the newest entry that boots Linux (not an "efi" one) */
    for (size_t i = 0; i < n && !e; i++)
      if (v[i]->kernel)
        e = v[i];
    if (!e)
      e = v[0];
  }
  free (v);
  b->source = GFS_BOOT_BLS;
  b->where = strdup (e->file);
  b->entry = strndup (bls_id (e), strlen (bls_id (e)) - (strlen (bls_id (e)) > 5 ? 5 : 0));
  b->title = e->title ? strdup (e->title) : NULL;
  b->cmdline = expand_str (e->options ? e->options : "", env);
  if (!b->where || !b->entry || !b->cmdline)
    return gfs_err (ENOMEM, "out of memory");
  if (!e->kernel)
    return gfs_err (ENOENT, "%s: the boot entry has no 'linux' line", e->file);
  /* Paths are relative to the filesystem holding the entries: /boot, or
   * an ESP at /efi or /boot/efi. */
  {
    char base[600];
    const char *le = strstr (e->file, "/loader/entries/");
    snprintf (base, sizeof base, "%.*s", le ? (int) (le - e->file) : 5, e->file);
    if (strcmp (base, "/boot")) {
      separate = false;
      bootdev = os->root;
      for (size_t i = 0; i < s->n_mounts; i++)
        if (!strcmp (s->mounts[i].mountpoint, base)) {
          separate = true;
          bootdev = s->mounts[i].dev;
        }
    }
    r = set_files (s, b, e->kernel, e->initrd, base, -1, separate, bootdev);
  }
  return r;
}

/* ---- grub.cfg ---- */

struct menu {
  char *title, *id, *parent_title, *parent_id;
  int top, sub;                         /* sub -1 for top-level entries */
  char *kernel, *args, *initrds;
  struct gfs_device *root;              /* from search --set=root, or NULL */
  bool root_known;
};

static void
menu_free (struct menu *m, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    free (m[i].title); free (m[i].id); free (m[i].parent_title); free (m[i].parent_id);
    free (m[i].kernel); free (m[i].args); free (m[i].initrds);
  }
  free (m);
}

static char *
join_words (char **w, size_t from, size_t n)
{
  char out[MAX_WORD];
  size_t ol = 0;

  out[0] = 0;
  for (size_t i = from; i < n; i++) {
    bool q = strchr (w[i], ' ') != NULL;
    if (ol)
      put (out, &ol, " ", 1);
    if (q)
      put (out, &ol, "\"", 1);
    put (out, &ol, w[i], strlen (w[i]));
    if (q)
      put (out, &ol, "\"", 1);
  }
  return strdup (out);
}

/* The filesystem holding PATH at its top (grub's search --file looks
 * through all of them). */
static struct gfs_device *
find_by_file (struct gfs_session *s, const char *path)
{
  for (size_t i = 0; i < s->n_devs; i++) {
    struct gfs_fs *fs;
    uint64_t ino;
    if (!s->devs[i]->ops || s->devs[i]->open_error || gfs_device_fs (s->devs[i], &fs) < 0)
      continue;
    if (gfs_resolve_fs (fs, path, true, &ino) == 0)
      return s->devs[i];
  }
  return NULL;
}

/* search [--fs-uuid|-u|--label|-l|--file|-f] [--set=root|--set root] VALUE */
static void
parse_search (struct gfs_session *s, char **w, size_t n, struct gfs_device **root, bool *known)
{
  bool uuid = false, label = false, file = false, sets_root = false;
  const char *val = NULL;

  for (size_t i = 1; i < n; i++) {
    if (!strcmp (w[i], "--fs-uuid") || !strcmp (w[i], "-u"))
      uuid = true;
    else if (!strcmp (w[i], "--label") || !strcmp (w[i], "-l"))
      label = true;
    else if (!strcmp (w[i], "--file") || !strcmp (w[i], "-f"))
      file = true;
    else if (!strcmp (w[i], "--set=root"))
      sets_root = true;
    else if ((!strcmp (w[i], "--set") || !strcmp (w[i], "-s")) && i + 1 < n) {
      sets_root = !strcmp (w[i + 1], "root");
      i++;
    }
    else if (!strncmp (w[i], "--hint", 6) && !strchr (w[i], '=') && i + 1 < n)
      i++;
    else if (w[i][0] != '-' && !val)
      val = w[i];
  }
  if (!sets_root || !val || (!uuid && !label && !file))
    return;
  *root = uuid ? gfs_find_by_uuid (s, val) : label ? gfs_find_by_label (s, val)
        : find_by_file (s, val);
  *known = true;
}

enum { BLK_ENTRY, BLK_SUBMENU, BLK_OTHER };

static int
parse_grub (struct gfs_session *s, const char *text, struct vars *vars, struct menu **out,
            size_t *nout, char **def)
{
  struct menu *m = NULL, *cur = NULL;
  size_t nm = 0;
  int stack[16], depth = 0, top = 0, sub = 0;
  struct gfs_device *groot = NULL;
  bool groot_known = false;
  const char *p = text;
  char *parent_title = NULL, *parent_id = NULL;

  *def = NULL;
  /* grub-mkconfig sets it to "--id" when grub knows menu entry ids */
  var_set (vars, "menuentry_id_option", "--id");
  while (p && *p) {
    const char *eol = strchr (p, '\n');
    size_t ll = eol ? (size_t) (eol - p) : strlen (p);
    char *line = strndup (p, ll > MAX_WORD ? MAX_WORD : ll), *w[MAX_WORDS];
    size_t n;

    p = eol ? eol + 1 : NULL;
    if (!line)
      break;
    n = split_words (line, vars, w);
    free (line);
    if (n == 0)
      continue;
    if (!strcmp (w[0], "}")) {
      if (depth > 0) {
        depth--;
        if (stack[depth] == BLK_ENTRY)
          cur = NULL;
        else if (stack[depth] == BLK_SUBMENU) {
          free (parent_title);
          free (parent_id);
          parent_title = parent_id = NULL;
        }
      }
    }
    else if ((!strcmp (w[0], "menuentry") || !strcmp (w[0], "submenu")) && n >= 2 &&
             !strcmp (w[n - 1], "{") && depth < 16) {
      bool in_sub = depth > 0 && stack[depth - 1] == BLK_SUBMENU;
      const char *id = NULL;
      for (size_t i = 2; i + 1 < n; i++)
        if (!strcmp (w[i], "--id") || !strcmp (w[i], "$menuentry_id_option") ||
            !strcmp (w[i], "--id=")) {
          id = w[i + 1];
          break;
        }
      if (depth > 0 && !in_sub)
        stack[depth++] = BLK_OTHER;     /* inside a function or an entry */
      else if (w[0][0] == 's') {
        stack[depth++] = in_sub ? BLK_OTHER : BLK_SUBMENU;
        if (!in_sub) {
          parent_title = strdup (w[1]);
          parent_id = id ? strdup (id) : NULL;
          sub = 0;
          top++;
        }
      }
      else {
        stack[depth++] = BLK_ENTRY;
        if (nm < MAX_MENU) {
          struct menu *nmv = realloc (m, (nm + 1) * sizeof *m);
          if (nmv) {
            m = nmv;
            cur = &m[nm++];
            memset (cur, 0, sizeof *cur);
            cur->title = strdup (w[1]);
            cur->id = id ? strdup (id) : NULL;
            cur->root = groot;
            cur->root_known = groot_known;
            if (in_sub) {
              cur->top = top - 1;
              cur->sub = sub++;
              cur->parent_title = parent_title ? strdup (parent_title) : NULL;
              cur->parent_id = parent_id ? strdup (parent_id) : NULL;
            }
            else {
              cur->top = top++;
              cur->sub = -1;
            }
          }
        }
        else
          top++;
      }
    }
    else if (!strcmp (w[n - 1], "{") && depth < 16)
      stack[depth++] = BLK_OTHER;
    else if (!strcmp (w[0], "search"))
      parse_search (s, w, n, cur ? &cur->root : &groot, cur ? &cur->root_known : &groot_known);
    else if (cur && n >= 2 && (!strcmp (w[0], "linux") || !strcmp (w[0], "linuxefi") ||
                               !strcmp (w[0], "linux16"))) {
      free (cur->kernel);
      free (cur->args);
      cur->kernel = strdup (w[1]);
      cur->args = join_words (w, 2, n);
    }
    else if (cur && n >= 2 && (!strcmp (w[0], "initrd") || !strcmp (w[0], "initrdefi") ||
                               !strcmp (w[0], "initrd16"))) {
      free (cur->initrds);
      cur->initrds = join_words (w, 1, n);
    }
    else if (!cur && !strcmp (w[0], "set") && n >= 2 && strchr (w[1], '=')) {
      char *eq = strchr (w[1], '=');
      *eq = 0;
      var_set (vars, w[1], eq + 1);
      if (!strcmp (w[1], "default") && depth == 0) {
        free (*def);
        *def = strdup (eq + 1);
      }
    }
    free_words (w, n);
  }
  free (parent_title);
  free (parent_id);
  *out = m;
  *nout = nm;
  return 0;
}

static bool
part_is (const char *part, int index, const char *title, const char *id)
{
  if (is_number (part))
    return atoi (part) == index;
  return (title && !strcmp (part, title)) || (id && !strcmp (part, id));
}

/* grub's default syntax: "N", "TITLE", "ID", or "A>B" into a submenu. */
static struct menu *
menu_pick (struct menu *m, size_t n, const char *sel)
{
  const char *gt = strchr (sel, '>');

  if (!gt) {
    for (size_t i = 0; i < n; i++)
      if (m[i].sub < 0 && part_is (sel, m[i].top, m[i].title, m[i].id))
        return &m[i];
    return NULL;
  }
  {
    char a[MAX_WORD];
    snprintf (a, sizeof a, "%.*s", (int) (gt - sel), sel);
    for (size_t i = 0; i < n; i++)
      if (m[i].sub >= 0 && part_is (a, m[i].top, m[i].parent_title, m[i].parent_id) &&
          part_is (gt + 1, m[i].sub, m[i].title, m[i].id))
        return &m[i];
  }
  return NULL;
}

static void
menu_index (const struct menu *e, char *out, size_t cap)
{
  if (e->sub >= 0)
    snprintf (out, cap, "%d>%d", e->top, e->sub);
  else
    snprintf (out, cap, "%d", e->top);
}

/* Returns 1 when grub.cfg has no Linux entry (the caller goes on). */
static int
boot_grub (struct gfs_session *s, const struct gfs_os *os, const char *cfgpath, const char *text,
           const char *entry, struct vars *vars, struct gfs_boot *b)
{
  struct menu *m, *e = NULL;
  size_t n, nlinux = 0;
  char *def, idx[32];
  bool separate;
  struct gfs_device *bootdev = boot_device (s, os, &separate);
  int boot_rel = -1, r;

  parse_grub (s, text, vars, &m, &n, &def);
  for (size_t i = 0; i < n; i++)
    if (m[i].kernel)
      nlinux++;
  if (!nlinux && !entry) {
    free (def);
    menu_free (m, n);
    return 1;
  }
  if (entry) {
    e = menu_pick (m, n, entry);
    if (!e) {
      r = gfs_err (ENOENT, "no boot entry '%s' in %s (%zu entries)", entry, cfgpath, n);
      free (def);
      menu_free (m, n);
      return r;
    }
  }
  else {
    if (def && *def)
      e = menu_pick (m, n, def);
    if (!e)
      e = menu_pick (m, n, "0");
    if (!e)
      e = &m[0];
  }
  free (def);
  b->source = GFS_BOOT_GRUB;
  b->where = strdup (cfgpath);
  menu_index (e, idx, sizeof idx);
  b->entry = strdup (idx);
  b->title = e->title ? strdup (e->title) : NULL;
  b->cmdline = strdup (e->args ? e->args : "");
  if (!b->where || !b->entry || !b->cmdline)
    r = gfs_err (ENOMEM, "out of memory");
  else if (!e->kernel)
    r = gfs_err (ENOENT, "%s: menu entry %s ('%s') has no 'linux' line", cfgpath, idx,
                 e->title ? e->title : "");
  else {
    /* search --set=root tells which filesystem the paths are on. */
    if (e->root_known && e->root && e->root == bootdev && separate)
      boot_rel = 1;
    else if (e->root_known && e->root && e->root == os->root)
      boot_rel = 0;
    r = set_files (s, b, e->kernel, e->initrds, "/boot", boot_rel, separate,
                   boot_rel == 0 ? os->root : bootdev);
  }
  menu_free (m, n);
  return r;
}

/* ---- /boot/vmlinuz-* ---- */

static int
boot_dir (struct gfs_session *s, const struct gfs_os *os, const char *entry, struct gfs_boot *b)
{
  bool separate;
  const struct gfs_device *bootdev = boot_device (s, os, &separate);
  const struct gfs_kernel *k = NULL;
  char cmd[512], vd[300];

  if (!os->n_kernels)
    return gfs_err (ENOENT, "no kernel found in /boot of %s", bootdev->dev->name);
  if (entry) {
    if (is_number (entry) && (size_t) atoi (entry) < os->n_kernels)
      k = &os->kernels[os->n_kernels - 1 - (size_t) atoi (entry)];
    for (size_t i = 0; i < os->n_kernels && !k; i++)
      if (!strcmp (os->kernels[i].version, entry))
        k = &os->kernels[i];
    if (!k)
      return gfs_err (ENOENT, "no kernel '%s' in /boot of %s (%zu kernels)", entry,
                      bootdev->dev->name, os->n_kernels);
  }
  else
    k = &os->kernels[os->n_kernels - 1];     /* sorted by version */
  if (os->root->uuid[0])
    snprintf (cmd, sizeof cmd, "root=UUID=%s ro", os->root->uuid);
  else {
    /* /dev/sda1 is /dev/vda1 on virtio */
    snprintf (vd, sizeof vd, "%s", os->root->dev->name);
    if (!strncmp (vd, "/dev/sd", 7))
      vd[5] = 'v';
    snprintf (cmd, sizeof cmd, "root=%s ro", vd);
  }
  b->source = GFS_BOOT_DIR;
  b->where = strdup ("/boot");
  b->entry = strdup (k->version);
  b->kernel = strdup (k->vmlinuz);
  b->cmdline = strdup (cmd);
  if (!b->where || !b->entry || !b->kernel || !b->cmdline)
    return gfs_err (ENOMEM, "out of memory");
  if (k->initrd && !(b->initrds[b->n_initrds++] = strdup (k->initrd)))
    return gfs_err (ENOMEM, "out of memory");
  return 0;
}

int
gfs_boot_find (struct gfs_session *s, const struct gfs_os *os, const char *entry,
               struct gfs_boot *b)
{
  static const char *const cfgs[] = { "/boot/grub2/grub.cfg", "/boot/grub/grub.cfg", NULL };
  struct vars vars = { 0 };
  int r;

  memset (b, 0, sizeof *b);
  if ((r = gfs_os_mount (s, os)) < 0)
    return r;
  if (!exists (s, "/boot"))
    return gfs_err (ENOENT, "no /boot in the guest (root filesystem %s)", os->root->dev->name);
  read_grubenv (s, &vars);
  if (os->n_boot)
    r = boot_bls (s, os, entry, &vars, b);
  else {
    r = 1;
    for (int i = 0; cfgs[i] && r == 1; i++) {
      int err = 0;
      char *t = read_cfg (s, cfgs[i], &err);
      if (err < 0) {
        r = gfs_err (-err, "%s: %s", cfgs[i], disk_last_error ());
        break;
      }
      if (!t)
        continue;
      r = boot_grub (s, os, cfgs[i], t, entry, &vars, b);
      free (t);
    }
    if (r == 1)
      r = boot_dir (s, os, entry, b);
  }
  vars_free (&vars);
  if (r == 0) {         /* guest strings; the paths stay as they are, to be read */
    gfs_utf8_fix (b->entry);
    gfs_utf8_fix (b->title);
    gfs_utf8_fix (b->cmdline);
  }
  if (r < 0)
    gfs_boot_free (b);
  return r < 0 ? r : 0;
}
