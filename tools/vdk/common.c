/* Shared helpers of the vdk tool: messages, sizes, JSON, progress. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vdk.h"

void
error (const char *fmt, ...)
{
  va_list ap;
  fprintf (stderr, "%s: ", progname);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
}

void
warning (const char *fmt, ...)
{
  va_list ap;
  fprintf (stderr, "%s: warning: ", progname);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
}

/* libdisk's warnings, one "vdk: warning: ..." line each, as qemu-img
 * prints its own. */
void
print_warnings (void)
{
  const char *w = disk_take_warnings ();

  while (w && *w) {
    const char *nl = strchr (w, '\n');
    int len = nl ? (int) (nl - w) : (int) strlen (w);
    fflush (stdout);
    fprintf (stderr, "%s: warning: %.*s\n", progname, len, w);
    w += len + (nl != NULL);
  }
}

int
disk_fail (void)
{
  disk_take_warnings ();   /* the error says what went wrong: one line, not several */
  error ("%s", disk_last_error ());
  return 1;
}

int
usage_error (const char *cmd, const char *fmt, ...)
{
  va_list ap;
  fprintf (stderr, "%s: ", progname);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fprintf (stderr, "\nTry '%s %s --help' for more information.\n", progname, cmd);
  return 1;
}

void
print_command_help (const struct command *c)
{
  fputs (c->usage, stdout);
}

/* The cache modes -t and -T take (qemu's names). */
bool
cache_mode_valid (const char *m)
{
  static const char *const modes[] = { "writeback", "none", "off", "unsafe", "writethrough",
                                       "directsync" };
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
    if (!strcmp (m, modes[i]))
      return true;
  return false;
}

/* Is "help" or "?" one of the -o items (key=value,... with ",," for a
 * comma in a value)?  qemu-img then prints the options instead. */
bool
opts_want_help (const char *opts)
{
  for (const char *p = opts; p && *p; ) {
    const char *start = p;
    while (*p && !(p[0] == ',' && p[1] != ','))
      p += p[0] == ',' ? 2 : 1;
    if ((p - start == 4 && !strncmp (start, "help", 4)) || (p - start == 1 && *start == '?'))
      return true;
    if (*p == ',')
      p++;
  }
  return false;
}

int
parse_size_arg (const char *s, uint64_t *out, const char *what)
{
  int r = disk_parse_size (s, out);
  if (r == -ERANGE || (r == 0 && *out > (1ULL << 60))) {
    error ("%s '%s' is too large (the limit is 1 EiB)", what, s);
    return -1;
  }
  if (r < 0) {
    /* qemu-img's words, for the arguments qemu-img has too */
    static const char *const names[][2] = {
      { "image size", "image size" }, { "start offset", "start offset" },
      { "max length", "max length" }, { "sparse size", "buffer size for sparse output" },
      { "offset", "offset" }, { "buffer size", "buffer size" }, { "step size", "step_size" },
      { "bs", "bs" }, { "count", "count" }, { "skip", "skip" },
    };
    if (!strcmp (what, "new size")) {   /* resize */
      error ("Parameter 'size' expects a non-negative number below 2^64");
      fprintf (stderr, "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-,"
               " peta-\nand exabytes, respectively.\n");
      return -1;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
      if (!strcmp (what, names[i][0])) {
        error ("Invalid %s specified. You may use k, M, G, T, P or E suffixes for", names[i][1]);
        error ("kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
        return -1;
      }
  }
  if (r < 0) {
    error ("invalid %s '%s': use a number of bytes, optionally with a k, M, G, T, P or E suffix",
           what, s);
    return -1;
  }
  return 0;
}

char *
human_size (uint64_t v)
{
  static const char *const suffixes[] = { "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei" };
  static char bufs[4][32];
  static int which;
  char *b = bufs[which++ & 3];
  int i;
  uint64_t div;

  /* qemu's size_to_str: switch unit when the integer part reaches 1000. */
  frexp (v / (1000.0 / 1024.0), &i);
  i = (i - 1) / 10;
  if (i < 0)
    i = 0;
  if (i > 6)
    i = 6;
  div = 1ULL << (i * 10);
  snprintf (b, 32, "%0.3g %sB", (double) v / div, suffixes[i]);
  return b;
}

int
parse_output (const char *s, enum output_format *out)
{
  if (!strcmp (s, "human"))
    *out = OUT_HUMAN;
  else if (!strcmp (s, "json"))
    *out = OUT_JSON;
  else {
    error ("--output must be used with human or json as argument.");
    return -1;
  }
  return 0;
}

/* ---- JSON ---------------------------------------------------------------- */
void
jw_init (struct jw *w, FILE *f, bool pretty)
{
  memset (w, 0, sizeof *w);
  w->f = f;
  w->pretty = pretty;
  w->first[0] = true;
}

static void
jstring (FILE *f, const char *s)
{
  fputc ('"', f);
  for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
    switch (*p) {
    case '"': fputs ("\\\"", f); break;
    case '\\': fputs ("\\\\", f); break;
    case '\n': fputs ("\\n", f); break;
    case '\t': fputs ("\\t", f); break;
    case '\r': fputs ("\\r", f); break;
    default:
      if (*p < 0x20)
        fprintf (f, "\\u%04x", *p);
      else
        fputc (*p, f);
    }
  }
  fputc ('"', f);
}

static void
jkey (struct jw *w, const char *key)
{
  if (w->depth > 0) {
    if (!w->first[w->depth])
      fputc (',', w->f);
    if (w->pretty) {
      fputc ('\n', w->f);
      for (int i = 0; i < w->depth; i++)
        fputs ("    ", w->f);
    }
    else if (!w->first[w->depth])
      fputc (' ', w->f);
  }
  w->first[w->depth] = false;
  if (key) {
    jstring (w->f, key);
    fputs (": ", w->f);
  }
}

static void
jopen (struct jw *w, const char *key, char c)
{
  jkey (w, key);
  fputc (c, w->f);
  if (w->depth < 63)
    w->depth++;
  w->first[w->depth] = true;
}

static void
jclose (struct jw *w, char c)
{
  bool empty = w->first[w->depth];
  w->depth--;
  if (w->pretty && !empty) {
    fputc ('\n', w->f);
    for (int i = 0; i < w->depth; i++)
      fputs ("    ", w->f);
  }
  fputc (c, w->f);
}

void jw_obj (struct jw *w, const char *key) { jopen (w, key, '{'); }
void jw_obj_end (struct jw *w) { jclose (w, '}'); }
void jw_arr (struct jw *w, const char *key) { jopen (w, key, '['); }
void jw_arr_end (struct jw *w) { jclose (w, ']'); }
void jw_str (struct jw *w, const char *key, const char *v) { jkey (w, key); jstring (w->f, v); }
void jw_int (struct jw *w, const char *key, int64_t v) { jkey (w, key); fprintf (w->f, "%" PRId64, v); }
void jw_uint (struct jw *w, const char *key, uint64_t v) { jkey (w, key); fprintf (w->f, "%" PRIu64, v); }
void jw_bool (struct jw *w, const char *key, bool v) { jkey (w, key); fputs (v ? "true" : "false", w->f); }
void jw_double (struct jw *w, const char *key, double v) { jkey (w, key); fprintf (w->f, "%.2f", v); }
void jw_end (struct jw *w) { fputc ('\n', w->f); }

/* ---- progress and signals ----------------------------------------------- */
static enum progress_mode pmode;
static volatile sig_atomic_t got_usr1, got_stop;
static double last_pct = -1;

static void
on_usr1 (int sig)
{
  (void) sig;
  got_usr1 = 1;
}

static void
on_stop (int sig)
{
  (void) sig;
  got_stop = 1;
}

void
install_signal_handlers (void)
{
  struct sigaction sa;
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGHUP, &sa, NULL);
  sa.sa_handler = on_usr1;
  sa.sa_flags = SA_RESTART;
  sigaction (SIGUSR1, &sa, NULL);
}

bool
interrupted (void)
{
  return got_stop;
}

void
progress_init (enum progress_mode mode)
{
  pmode = mode;
  last_pct = -1;
  if (mode == PROGRESS_HUMAN)
    progress_update (0, 1);
}

void
progress_update (uint64_t done, uint64_t total)
{
  double pct = total ? 100.0 * (double) done / (double) total : 100.0;

  if (got_usr1) {
    got_usr1 = 0;
    fprintf (stderr, "    (%3.2f/100%%)\n", pct);
  }
  if (pmode == PROGRESS_NONE)
    return;
  if (pct - last_pct < 0.5 && pct < 100.0 && last_pct >= 0)
    return;
  if (pct == last_pct)
    return;
  last_pct = pct;
  if (pmode == PROGRESS_HUMAN) {
    printf ("    (%3.2f/100%%)\r", pct);
    fflush (stdout);
  }
  else {
    printf ("{\"progress\": %.2f, \"done\": %" PRIu64 ", \"total\": %" PRIu64 "}\n",
            pct, done, total);
    fflush (stdout);
  }
}

void
progress_finish (void)
{
  if (pmode == PROGRESS_HUMAN)
    printf ("\n");
  pmode = PROGRESS_NONE;
}

/* -l SNAPSHOT_PARAM of convert and measure: "snapshot.id=ID,snapshot.name=NAME"
 * (",," is a comma) or a bare name or id. */
int
parse_snapshot_param (const char *arg, struct snapshot_sel *sel)
{
  const char *p = arg;

  memset (sel, 0, sizeof *sel);
  if (strncmp (arg, "snapshot.", 9) != 0) {
    sel->id_or_name = arg;
    return 0;
  }
  while (*p) {
    char key[64], *val, *v;
    size_t k;
    const char *eq = strchr (p, '=');
    const char *comma = strchr (p, ',');
    if (!eq || (comma && comma < eq)) {
      size_t l = comma ? (size_t) (comma - p) : strlen (p);
      error ("Invalid parameter '%.*s'", (int) l, p);
      goto bad;
    }
    k = eq - p;
    snprintf (key, sizeof key, "%.*s", (int) (k < sizeof key ? k : sizeof key - 1), p);
    p = eq + 1;
    val = v = malloc (strlen (p) + 1);
    if (!val) {
      error ("out of memory");
      return -1;
    }
    while (*p && !(p[0] == ',' && p[1] != ',')) {
      if (p[0] == ',')
        p++;
      *v++ = *p++;
    }
    *v = 0;
    if (*p == ',')
      p++;
    if (!strcmp (key, "snapshot.id")) {
      free (sel->id);
      sel->id = val;
    }
    else if (!strcmp (key, "snapshot.name")) {
      free (sel->name);
      sel->name = val;
    }
    else {
      free (val);
      error ("Invalid parameter '%s'", key);
      goto bad;
    }
  }
  return 0;
 bad:
  error ("Failed in parsing snapshot param '%s'", arg);
  snapshot_sel_free (sel);
  return -1;
}

void
snapshot_sel_free (struct snapshot_sel *sel)
{
  free (sel->id);
  free (sel->name);
  memset (sel, 0, sizeof *sel);
}

bool
snapshot_sel_given (const struct snapshot_sel *sel)
{
  return sel->id_or_name || sel->id || sel->name;
}

/* Show the selected snapshot of D (qemu's bdrv_snapshot_load_tmp, by id
 * then by name for a bare word).  Prints the error; returns 0 or -1. */
int
load_snapshot (struct disk *d, const struct snapshot_sel *sel)
{
  int r;

  if (sel->id_or_name) {
    r = disk_snapshot_load (d, sel->id_or_name, NULL);
    if (r == -ENOENT)
      r = disk_snapshot_load (d, NULL, sel->id_or_name);
  }
  else if (sel->id || sel->name)
    r = disk_snapshot_load (d, sel->id, sel->name);
  else
    return 0;
  if (r < 0) {
    error ("Failed to load snapshot: %s", disk_last_error ());
    return -1;
  }
  return 0;
}
