/* vdk run: boot a kernel on KVM with virtio disks backed by libdisk. */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "vdk.h"
#include "vmm/vmm.h"

enum { OPT_KERNEL = 256, OPT_INITRD, OPT_CMDLINE, OPT_DISK, OPT_MEMORY, OPT_CPUS,
       OPT_CONSOLE, OPT_API, OPT_NO_RNG };

/* Next comma-separated item of *P (",," is a literal comma), or NULL. */
static char *
next_item (char **p)
{
  char *start = *p, *r, *w;

  if (!start)
    return NULL;
  for (r = w = start; *r; r++) {
    if (*r == ',' && r[1] == ',') {
      *w++ = ',';
      r++;
    }
    else if (*r == ',') {
      *w = 0;
      *p = r + 1;
      return start;
    }
    else
      *w++ = *r;
  }
  *w = 0;
  *p = NULL;
  return start;
}

/* SPEC[,readonly=on][,cache=MODE][,format=FMT][,serial=ID]: the run options
 * are taken out, the rest (which may itself be key=value) is the spec.  A
 * comma in a file name is written ",,". */
static int
parse_disk (char *arg, struct vm_disk_config *d)
{
  /* Room for every comma doubled again (key=value specs keep ",,"). */
  char *spec = malloc (2 * strlen (arg) + 1), *tok, *p = arg;
  unsigned ntok = 0;
  char *first = NULL;

  if (!spec)
    return -1;
  spec[0] = 0;
  *d = (struct vm_disk_config) { 0 };
  while ((tok = next_item (&p))) {
    if (!*tok)
      continue;
    if (!strncmp (tok, "readonly=", 9) || !strncmp (tok, "read-only=", 10)) {
      const char *v = strchr (tok, '=') + 1;
      if (!strcmp (v, "on") || !strcmp (v, "true") || !strcmp (v, "1"))
        d->readonly = true;
      else if (!strcmp (v, "off") || !strcmp (v, "false") || !strcmp (v, "0"))
        d->readonly = false;
      else {
        error ("--disk: readonly must be on or off, not '%s'", v);
        free (spec);
        return -1;
      }
    }
    else if (!strncmp (tok, "cache=", 6))
      d->cache = tok + 6;
    else if (!strncmp (tok, "format=", 7))
      d->format = tok + 7;
    else if (!strncmp (tok, "serial=", 7)) {
      if (strlen (tok + 7) > 20) {
        error ("--disk: serial '%s' is longer than 20 characters", tok + 7);
        free (spec);
        return -1;
      }
      d->serial = tok + 7;
    }
    else {
      /* Re-escape commas: the spec is parsed again by libdisk. */
      char *o = spec + strlen (spec);
      if (ntok++)
        *o++ = ',';
      else
        first = tok;
      for (const char *c = tok; *c; c++) {
        *o++ = *c;
        if (*c == ',')
          *o++ = ',';
      }
      *o = 0;
    }
  }
  /* A plain file name (one item, no '=') is not parsed again: no escapes. */
  if (ntok == 1 && !strchr (first, '='))
    strcpy (spec, first);
  if (!spec[0]) {
    error ("--disk: no image given");
    free (spec);
    return -1;
  }
  d->spec = spec;
  return 0;
}

int
cmd_run (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "kernel", required_argument, NULL, OPT_KERNEL },
    { "initrd", required_argument, NULL, OPT_INITRD },
    { "cmdline", required_argument, NULL, OPT_CMDLINE },
    { "append", required_argument, NULL, OPT_CMDLINE },
    { "disk", required_argument, NULL, OPT_DISK },
    { "memory", required_argument, NULL, OPT_MEMORY },
    { "cpus", required_argument, NULL, OPT_CPUS },
    { "console", required_argument, NULL, OPT_CONSOLE },
    { "api", required_argument, NULL, OPT_API },
    { "no-rng", no_argument, NULL, OPT_NO_RNG },
    { NULL, 0, NULL, 0 },
  };
  struct vm_config cfg = { .ram_size = 512ULL << 20, .ncpus = 1, .rng = true,
                           .console = VM_CONSOLE_STDIO, .handle_signals = true };
  enum vm_stop_reason why;
  char *msg = NULL, *end;
  int c, r, rc = 1;
  uint64_t v;

  while ((c = getopt_long (argc, argv, "+m:c:", longopts, NULL)) != -1) {
    switch (c) {
    case OPT_KERNEL: cfg.kernel = optarg; break;
    case OPT_INITRD: cfg.initrd = optarg; break;
    case OPT_CMDLINE: cfg.cmdline = optarg; break;
    case OPT_DISK:
      if (cfg.ndisks >= VM_MAX_DISKS) {
        error ("too many disks (at most %d)", VM_MAX_DISKS);
        goto out;
      }
      if (parse_disk (optarg, &cfg.disks[cfg.ndisks]) < 0)
        goto out;
      cfg.ndisks++;
      break;
    case 'm':
    case OPT_MEMORY:
      /* A bare number is MiB, as with qemu -m. */
      v = strtoull (optarg, &end, 10);
      if (end != optarg && !*end)
        v <<= 20;
      else if (parse_size_arg (optarg, &v, "memory size") < 0)
        goto out;
      cfg.ram_size = v;
      break;
    case 'c':
    case OPT_CPUS:
      v = strtoull (optarg, &end, 10);
      if (end == optarg || *end || v < 1 || v > VM_MAX_CPUS) {
        error ("--cpus: expecting a number from 1 to %d, not '%s'", VM_MAX_CPUS, optarg);
        goto out;
      }
      cfg.ncpus = v;
      break;
    case OPT_CONSOLE:
      if (!strcmp (optarg, "stdio"))
        cfg.console = VM_CONSOLE_STDIO;
      else if (!strcmp (optarg, "none"))
        cfg.console = VM_CONSOLE_NONE;
      else if (!strcmp (optarg, "pty"))
        cfg.console = VM_CONSOLE_PTY;
      else if (!strncmp (optarg, "unix:", 5) && optarg[5]) {
        cfg.console = VM_CONSOLE_UNIX;
        cfg.console_path = optarg + 5;
      }
      else {
        error ("--console: expecting stdio, pty, unix:PATH or none, not '%s'", optarg);
        goto out;
      }
      break;
    case OPT_API:
      cfg.api_path = !strncmp (optarg, "unix:", 5) ? optarg + 5 : optarg;
      break;
    case OPT_NO_RNG: cfg.rng = false; break;
    default:
      usage_error ("run", "invalid option");
      goto out;
    }
  }
  if (optind < argc) {
    usage_error ("run", "unexpected argument '%s' (give the kernel with --kernel)", argv[optind]);
    goto out;
  }
  if (!cfg.kernel) {
    usage_error ("run", "--kernel is required");
    goto out;
  }
  /* A console reader that goes away must not kill the VM mid-write. */
  signal (SIGPIPE, SIG_IGN);
  r = vm_run (&cfg, &why, &msg);
  if (r < 0) {
    error ("%s", vm_last_error ());
    goto out;
  }
  switch (why) {
  case VM_STOP_SHUTDOWN:
    error ("%s", msg ? msg : "guest shut down");
    rc = 2;
    break;
  default:
    rc = 0;
    break;
  }
out:
  free (msg);
  for (unsigned i = 0; i < cfg.ndisks; i++)
    free ((char *) cfg.disks[i].spec);
  return rc;
}
