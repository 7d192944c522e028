/* vdk secret-*: libvirt-compatible secrets, with virsh's names, arguments
 * and output.  Values never go into a message. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "vdk.h"
#include "virsh.h"
#include "pool.h"
#include "secret.h"

static void
wipe_free (void *p, size_t len)
{
  if (p) {
    explicit_bzero (p, len);
    free (p);
  }
}

/* Open the state dir and find secret UUID. */
static int
get_secret (const char *uuid, bool exclusive, struct pool_ctx **c, struct pool_secret **s)
{
  if (pool_ctx_open (c, NULL, exclusive) < 0)
    return pool_fail ();
  if (pool_secret_lookup (*c, uuid, s) < 0) {
    pool_fail ();
    pool_ctx_close (*c);
    return 1;
  }
  return 0;
}

static void
put_secret (struct pool_ctx *c, struct pool_secret *s)
{
  pool_secret_free (s);
  pool_ctx_close (c);
}

/* A whole file of at most MAX bytes (any kind of file: /dev/stdin too),
 * NUL-terminated; wiped when freed (it may hold a value). */
static int
read_capped (const char *file, size_t max, char **out, size_t *len)
{
  int fd = open (file, O_RDONLY | O_CLOEXEC);
  char *buf;
  size_t n = 0;

  *out = NULL;
  *len = 0;
  if (fd < 0) {
    error ("Failed to open file '%s': %s", file, strerror (errno));
    return 1;
  }
  if (!(buf = malloc (max + 1))) {
    close (fd);
    error ("out of memory");
    return 1;
  }
  for (;;) {
    char extra;
    ssize_t r = n < max ? read (fd, buf + n, max - n) : read (fd, &extra, 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      error ("%s: read error: %s", file, strerror (errno));
      goto fail;
    }
    if (r == 0)
      break;
    if (n == max) {
      error ("%s: file is too large (more than %zu bytes)", file, max);
      goto fail;
    }
    n += (size_t) r;
  }
  close (fd);
  buf[n] = 0;
  *out = buf;
  *len = n;
  return 0;
 fail:
  close (fd);
  wipe_free (buf, max + 1);
  return 1;
}

/* ---- secret-define FILE ------------------------------------------------------ */
static const struct vopt define_opts[] = {
  { "file", true, true, true },
  { NULL },
};

int
cmd_secret_define (int argc, char **argv)
{
  struct vargs a;
  struct pool_secret_def *d;
  struct pool_secret *s;
  struct pool_ctx *c;
  const char *file;
  char *xml;
  size_t len;
  int r;

  if (vparse (argv[0], define_opts, argc, argv, &a))
    return 1;
  file = vget (define_opts, &a, "file");
  if (read_capped (file, POOL_SECRET_MAX_XML, &xml, &len))
    return 1;
  r = pool_secret_def_parse (xml, len, file, &d);
  free (xml);
  if (r < 0)
    return pool_fail ();
  if (pool_ctx_open (&c, NULL, true) < 0) {
    pool_secret_def_free (d);
    return pool_fail ();
  }
  if (pool_secret_define (c, d, &s) < 0) {
    pool_ctx_close (c);
    return pool_fail ();
  }
  printf ("Secret %s created\n", s->def->uuid);
  put_secret (c, s);
  return 0;
}

/* ---- secret-dumpxml / secret-undefine UUID ---------------------------------------- */
static const struct vopt secret_only_opts[] = {
  { "secret", true, true, true },
  { NULL },
};

int
cmd_secret_dumpxml (int argc, char **argv)
{
  struct vargs a;
  struct pool_ctx *c;
  struct pool_secret *s;
  char *xml;

  if (vparse (argv[0], secret_only_opts, argc, argv, &a) ||
      get_secret (vget (secret_only_opts, &a, "secret"), false, &c, &s))
    return 1;
  xml = pool_secret_def_format (s->def);
  put_secret (c, s);
  if (!xml)
    return pool_fail ();
  fputs (xml, stdout);
  free (xml);
  return 0;
}

int
cmd_secret_undefine (int argc, char **argv)
{
  struct vargs a;
  struct pool_ctx *c;
  struct pool_secret *s;
  const char *uuid;

  if (vparse (argv[0], secret_only_opts, argc, argv, &a))
    return 1;
  uuid = vget (secret_only_opts, &a, "secret");
  if (get_secret (uuid, true, &c, &s))
    return 1;
  if (pool_secret_undefine (s) < 0) {
    put_secret (c, s);
    return pool_fail ();
  }
  put_secret (c, s);
  printf ("Secret %s deleted\n", uuid);
  return 0;
}

/* ---- secret-set-value ------------------------------------------------------------- */
static const struct vopt set_opts[] = {
  { "secret", true, true, true },
  { "base64", true, true, false },
  { "file", true, false, false },
  { "plain", false, false, false },
  { "interactive", false, false, false },
  { "allow-pipe", false, false, false },
  { NULL },
};

static struct termios saved_tty;
static volatile sig_atomic_t tty_changed;

/* Echo comes back even when the user interrupts the prompt. */
static void
restore_tty (int sig)
{
  if (tty_changed)
    tcsetattr (0, TCSAFLUSH, &saved_tty);
  signal (sig, SIG_DFL);
  raise (sig);
}

/* One line (without its newline) from stdin: a terminal, with echo off as
 * getpass() does for virsh; a pipe only when the user said so. */
static int
read_interactive (bool allow_pipe, unsigned char **out, size_t *len)
{
  static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
  struct sigaction sa = { .sa_handler = restore_tty }, old[4];
  bool tty = isatty (0);
  unsigned char *buf;
  size_t n = 0;
  bool got_newline = false, too_big = false;
  int rc = 0;

  *out = NULL;
  *len = 0;
  if (!tty && !allow_pipe) {
    error ("--interactive reads the value from a terminal, and standard input is not one"
           " (add --allow-pipe to read one line from it)");
    return 1;
  }
  if (!(buf = malloc (POOL_SECRET_MAX_VALUE + 1))) {
    error ("out of memory");
    return 1;
  }
  /* Echo goes off before the prompt: nothing typed after it shows. */
  if (tty && tcgetattr (0, &saved_tty) == 0) {
    struct termios t = saved_tty;
    for (size_t i = 0; i < 4; i++)
      sigaction (sigs[i], &sa, &old[i]);
    t.c_lflag &= ~(tcflag_t) ECHO;
    tty_changed = tcsetattr (0, TCSAFLUSH, &t) == 0;
  }
  printf ("Enter new value for secret:");
  fflush (stdout);
  /* Byte by byte: what follows the line stays in the pipe. */
  for (;;) {
    unsigned char ch;
    ssize_t r = read (0, &ch, 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      rc = -errno;
      break;
    }
    if (r == 0)
      break;
    if (ch == '\n') {
      got_newline = true;
      break;
    }
    if (n == POOL_SECRET_MAX_VALUE)
      too_big = true;
    else
      buf[n++] = ch;
  }
  if (tty_changed) {
    tcsetattr (0, TCSAFLUSH, &saved_tty);
    tty_changed = 0;
    for (size_t i = 0; i < 4; i++)
      sigaction (sigs[i], &old[i], NULL);
  }
  if (tty)
    putchar ('\n');
  if (rc < 0 || (n == 0 && !got_newline) || too_big) {
    wipe_free (buf, POOL_SECRET_MAX_VALUE + 1);
    if (too_big)
      error ("Failed to read secret: the value is too large (the limit is %u bytes)",
             POOL_SECRET_MAX_VALUE);
    else
      error ("Failed to read secret%s%s", rc < 0 ? ": " : ": end of input",
             rc < 0 ? strerror (-rc) : "");
    return 1;
  }
  buf[n] = 0;
  *out = buf;
  *len = n;
  return 0;
}

static int
exclusive_opts (const char *cmd, const struct vargs *a)
{
  static const char *const pairs[][2] = {
    { "file", "base64" }, { "plain", "base64" }, { "interactive", "base64" },
    { "interactive", "plain" }, { "interactive", "file" },
  };
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
    if (vhas (set_opts, a, pairs[i][0]) && vhas (set_opts, a, pairs[i][1]))
      return usage_error (cmd, "Options --%s and --%s are mutually exclusive", pairs[i][0],
                          pairs[i][1]);
  if (vhas (set_opts, a, "plain") && !vhas (set_opts, a, "file"))
    return usage_error (cmd, "--plain needs --file");
  if (vhas (set_opts, a, "allow-pipe") && !vhas (set_opts, a, "interactive"))
    return usage_error (cmd, "--allow-pipe needs --interactive");
  return 0;
}

int
cmd_secret_set_value (int argc, char **argv)
{
  struct vargs a;
  struct pool_ctx *c;
  struct pool_secret *s;
  const char *uuid, *b64, *file;
  unsigned char *value = NULL;
  char *text = NULL;
  size_t len = 0, tlen = 0;
  int r;

  if (vparse (argv[0], set_opts, argc, argv, &a) || exclusive_opts (argv[0], &a))
    return 1;
  uuid = vget (set_opts, &a, "secret");
  b64 = vget (set_opts, &a, "base64");
  file = vget (set_opts, &a, "file");
  /* Fail before prompting when there is no such secret (the lock is not
   * held while the user types). */
  if (get_secret (uuid, false, &c, &s))
    return 1;
  put_secret (c, s);
  if (b64) {
    warning ("Passing secret value as command-line argument is insecure!");
    r = pool_base64_decode (b64, strlen (b64), POOL_SECRET_MAX_VALUE, &value, &len);
    if (r < 0)
      return pool_fail ();
  }
  else if (file) {
    bool plain = vhas (set_opts, &a, "plain");
    if (read_capped (file, plain ? POOL_SECRET_MAX_VALUE : POOL_SECRET_MAX_BASE64, &text, &tlen))
      return 1;
    if (plain) {
      value = (unsigned char *) text;
      len = tlen;
      text = NULL;
    }
    else {
      r = pool_base64_decode (text, tlen, POOL_SECRET_MAX_VALUE, &value, &len);
      wipe_free (text, tlen);
      if (r < 0) {
        error ("%s: %s", file, pool_last_error ());
        return 1;
      }
    }
  }
  else if (vhas (set_opts, &a, "interactive")) {
    if (read_interactive (vhas (set_opts, &a, "allow-pipe"), &value, &len))
      return 1;
  }
  else {
    error ("Input secret value is missing");
    return 1;
  }
  r = get_secret (uuid, true, &c, &s);
  if (r == 0) {
    if (pool_secret_set_value (s, value, len) < 0)
      r = pool_fail ();
    put_secret (c, s);
  }
  wipe_free (value, len);
  if (r == 0)
    printf ("Secret value set\n");
  return r;
}

/* ---- secret-get-value --------------------------------------------------------------- */
static const struct vopt get_opts[] = {
  { "secret", true, true, true },
  { "plain", false, false, false },
  { NULL },
};

int
cmd_secret_get_value (int argc, char **argv)
{
  struct vargs a;
  struct pool_ctx *c;
  struct pool_secret *s;
  unsigned char *value;
  size_t len;
  int r = 0;

  if (vparse (argv[0], get_opts, argc, argv, &a) ||
      get_secret (vget (get_opts, &a, "secret"), false, &c, &s))
    return 1;
  if (pool_secret_get_value (s, false, &value, &len) < 0) {
    put_secret (c, s);
    return pool_fail ();
  }
  put_secret (c, s);
  if (vhas (get_opts, &a, "plain")) {
    if (fwrite (value, 1, len, stdout) != len)
      r = 2;
  }
  else {
    char *b64 = pool_base64_encode (value, len);
    if (!b64)
      r = pool_fail ();
    else {
      printf ("%s\n", b64);
      wipe_free (b64, strlen (b64));
    }
  }
  wipe_free (value, len);
  if (fflush (stdout) != 0 || ferror (stdout) || r == 2) {
    error ("failed to write secret");
    return 1;
  }
  return r;
}

/* ---- secret-list ---------------------------------------------------------------------- */
static const struct vopt list_opts[] = {
  { "ephemeral", false, false, false },
  { "no-ephemeral", false, false, false },
  { "private", false, false, false },
  { "no-private", false, false, false },
  { NULL },
};

int
cmd_secret_list (int argc, char **argv)
{
  struct vargs a;
  struct pool_ctx *c;
  struct pool_secret **v;
  struct vtable *t;
  size_t n;
  bool eph, noeph, priv, nopriv;

  if (vparse (argv[0], list_opts, argc, argv, &a))
    return 1;
  eph = vhas (list_opts, &a, "ephemeral");
  noeph = vhas (list_opts, &a, "no-ephemeral");
  priv = vhas (list_opts, &a, "private");
  nopriv = vhas (list_opts, &a, "no-private");
  if (pool_ctx_open (&c, NULL, false) < 0)
    return pool_fail ();
  if (pool_secret_list (c, &v, &n) < 0) {
    pool_ctx_close (c);
    return pool_fail ();
  }
  t = vtable_new (2, "UUID", "Usage");
  for (size_t i = 0; i < n; i++) {
    const struct pool_secret_def *d = v[i]->def;
    char *usage = NULL;
    /* libvirt's filters: each pair selects when either of it is given. */
    if ((eph || noeph) && !((eph && d->ephemeral) || (noeph && !d->ephemeral)))
      continue;
    if ((priv || nopriv) && !((priv && d->is_private) || (nopriv && !d->is_private)))
      continue;
    if (d->usage_type != POOL_SECRET_USAGE_NONE &&
        asprintf (&usage, "%s %s", pool_secret_usage_name (d->usage_type), d->usage_id) < 0) {
      error ("out of memory");
      exit (1);
    }
    vtable_row (t, d->uuid, usage ? usage : "Unused");
    free (usage);
  }
  vtable_print (t);
  vtable_free (t);
  pool_secret_list_free (v, n);
  pool_ctx_close (c);
  return 0;
}
