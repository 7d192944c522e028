/* virsh-style argument parsing and tables for the pool/vol commands. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vdk.h"
#include "virsh.h"
#include "pool.h"

static int
find_opt (const struct vopt *opts, const char *name, size_t len)
{
  for (int i = 0; opts[i].name; i++)
    if (strlen (opts[i].name) == len && !strncmp (opts[i].name, name, len))
      return i;
  return -1;
}

int
vparse (const char *cmd, const struct vopt *opts, int argc, char **argv, struct vargs *a)
{
  bool only_positional = false;

  memset (a, 0, sizeof *a);
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i];
    if (!only_positional && !strcmp (s, "--")) {
      only_positional = true;
      continue;
    }
    if (!only_positional && !strncmp (s, "--", 2)) {
      const char *eq = strchr (s + 2, '=');
      size_t len = eq ? (size_t) (eq - s - 2) : strlen (s + 2);
      int k = find_opt (opts, s + 2, len);
      if (k < 0)
        return usage_error (cmd, "command '%s' doesn't support option %.*s", cmd,
                            (int) len + 2, s);
      if (opts[k].arg) {
        if (eq)
          a->val[k] = eq + 1;
        else if (i + 1 < argc)
          a->val[k] = argv[++i];
        else
          return usage_error (cmd, "expected syntax: --%s <string>", opts[k].name);
      }
      else if (eq)
        return usage_error (cmd, "invalid '=' after option --%s", opts[k].name);
      a->set[k] = true;
      continue;
    }
    {
      int k;
      for (k = 0; opts[k].name; k++)
        if (opts[k].positional && !a->set[k])
          break;
      if (!opts[k].name)
        return usage_error (cmd, "unexpected data '%s'", s);
      a->val[k] = s;
      a->set[k] = true;
    }
  }
  for (int k = 0; opts[k].name; k++)
    if (opts[k].required && !a->set[k])
      return usage_error (cmd, "command '%s' requires <%s> option", cmd, opts[k].name);
  return 0;
}

const char *
vget (const struct vopt *opts, const struct vargs *a, const char *name)
{
  int k = find_opt (opts, name, strlen (name));
  return k >= 0 && a->set[k] ? a->val[k] : NULL;
}

bool
vhas (const struct vopt *opts, const struct vargs *a, const char *name)
{
  int k = find_opt (opts, name, strlen (name));
  return k >= 0 && a->set[k];
}

static void
oom (void)
{
  error ("out of memory");
  exit (1);
}

struct vtable *
vtable_new (size_t ncols, ...)
{
  struct vtable *t = calloc (1, sizeof *t);
  va_list ap;

  if (!t || !(t->cells = calloc (ncols, sizeof *t->cells)))
    oom ();
  t->ncols = ncols;
  t->nrows = 1;
  va_start (ap, ncols);
  for (size_t i = 0; i < ncols; i++)
    if (!(t->cells[i] = strdup (va_arg (ap, const char *))))
      oom ();
  va_end (ap);
  return t;
}

void
vtable_row (struct vtable *t, ...)
{
  va_list ap;
  char **c = realloc (t->cells, (t->nrows + 1) * t->ncols * sizeof *c);

  if (!c)
    oom ();
  t->cells = c;
  va_start (ap, t);
  for (size_t i = 0; i < t->ncols; i++) {
    const char *s = va_arg (ap, const char *);
    if (!(c[t->nrows * t->ncols + i] = strdup (s ? s : "")))
      oom ();
  }
  va_end (ap);
  t->nrows++;
}

/* Control characters are shown as \xNN, as virsh does, so they cannot
 * break the columns. */
static size_t
cell_width (const char *s)
{
  size_t w = 0;
  for (; *s; s++)
    w += (unsigned char) *s < 0x20 || *s == 0x7f ? 4 : 1;
  return w;
}

static void
print_cell (const char *s)
{
  for (; *s; s++)
    if ((unsigned char) *s < 0x20 || *s == 0x7f)
      printf ("\\x%02x", (unsigned char) *s);
    else
      putchar (*s);
}

/* Each cell is " " + text, padded to the column's width + 2; then a line
 * of (width + 3) dashes per column under the header. */
void
vtable_print (struct vtable *t)
{
  size_t *w = calloc (t->ncols, sizeof *w);

  if (!w)
    oom ();
  for (size_t r = 0; r < t->nrows; r++)
    for (size_t c = 0; c < t->ncols; c++) {
      size_t cw = cell_width (t->cells[r * t->ncols + c]);
      if (cw > w[c])
        w[c] = cw;
    }
  for (size_t r = 0; r < t->nrows; r++) {
    for (size_t c = 0; c < t->ncols; c++) {
      const char *s = t->cells[r * t->ncols + c];
      putchar (' ');
      print_cell (s);
      if (c + 1 < t->ncols)
        printf ("%*s", (int) (w[c] - cell_width (s) + 2), "");
    }
    putchar ('\n');
    if (r == 0) {
      for (size_t c = 0; c < t->ncols; c++)
        for (size_t k = 0; k < w[c] + 3; k++)
          putchar ('-');
      putchar ('\n');
    }
  }
  free (w);
}

void
vtable_free (struct vtable *t)
{
  if (!t)
    return;
  for (size_t i = 0; i < t->nrows * t->ncols; i++)
    free (t->cells[i]);
  free (t->cells);
  free (t);
}

const char *
pretty_capacity (uint64_t v, char *buf, size_t len)
{
  static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
  double d = (double) v;
  int u = 0;

  while (d >= 1024 && u < 6) {
    d /= 1024;
    u++;
  }
  snprintf (buf, len, "%.2f %s", d, units[u]);
  return buf;
}

int
pool_fail (void)
{
  error ("%s", pool_last_error ());
  return 1;
}
