/* vdk run: boot a kernel on KVM with virtio disks backed by libdisk, or
 * boot a disk image without firmware: its kernel, initrd and command line
 * are found by guestfs/boot.c and read out of the image into memory. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "vdk.h"
#include "vmm/vmm.h"
#include "guestfs/boot.h"

enum { OPT_KERNEL = 256, OPT_INITRD, OPT_CMDLINE, OPT_DISK, OPT_MEMORY, OPT_CPUS,
       OPT_CONSOLE, OPT_API, OPT_NO_RNG, OPT_ENTRY, OPT_PRINT_BOOT };

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

/* What IMAGE boots, read out of it: fills the kernel, initrd and command
 * line of CFG (buffers in *KBUF, *IBUF, *CMD).  EXTRA is appended to the
 * command line; PRINT only prints the choice.  Returns 0, 1 when printed,
 * -1 on error (reported). */
static int
image_boot (const struct vm_disk_config *img, const char *entry, const char *extra, bool print,
            struct vm_config *cfg, char **kbuf, char **ibuf, char **cmd)
{
  struct gfs_session *s = NULL;
  struct gfs_os *oses = NULL;
  struct gfs_boot b = { 0 };
  size_t n_os = 0, klen, ilen = 0, cl;
  int r = -1;
  char *w;

  if (gfs_session_new (&s) < 0 || gfs_add_disk (s, img->spec, img->format) < 0) {
    error ("%s", disk_last_error ());     /* libdisk names the image */
    goto out;
  }
  if (gfs_scan (s) < 0 || gfs_inspect (s, &oses, &n_os) < 0) {
    error ("%s: %s", img->spec, disk_last_error ());
    goto out;
  }
  if ((w = gfs_take_warnings ())) {
    char *save = NULL;
    for (char *l = strtok_r (w, "\n", &save); l; l = strtok_r (NULL, "\n", &save))
      warning ("%s: %s", img->spec, l);
    free (w);
  }
  if (n_os == 0) {
    /* Say which filesystems could not be read, if any. */
    char why[1024] = "";
    for (size_t k = 0; k < s->n_devs; k++) {
      const struct gfs_device *d = s->devs[k];
      const char *what = NULL;
      bool has_parts = false;
      for (size_t j = 0; j < s->n_devs && d->kind == GFS_KIND_DEVICE; j++)
        if (s->devs[j]->kind == GFS_KIND_PARTITION && !strcmp (s->devs[j]->parent, d->dev->name))
          has_parts = true;
      if (d->open_error)
        what = d->open_error;
      else if (!d->ops && !d->vfs_type[0] && !d->is_extended && !has_parts)
        what = "no filesystem vdk can read";
      else if (!d->ops && d->vfs_type[0] && strcmp (d->vfs_type, "LVM2_member") &&
               strcmp (d->vfs_type, "swap") && !d->is_extended)
        what = d->vfs_type;
      if (what && strlen (why) < sizeof why - 2)   /* open errors name the device */
        snprintf (why + strlen (why), sizeof why - strlen (why), "; %s%s%s",
                  d->open_error ? "" : d->dev->name, d->open_error ? "" : ": ", what);
    }
    error ("%s: no operating system found on the image (no filesystem with a Linux root%s)",
           img->spec, why);
    goto out;
  }
  if (n_os > 1)
    warning ("%s: %zu operating systems found, booting the one on %s", img->spec, n_os,
             oses[0].root->dev->name);
  if (gfs_boot_find (s, &oses[0], entry, &b) < 0) {
    error ("%s: %s", img->spec, disk_last_error ());
    goto out;
  }
  /* console=ttyS0 unless the entry names a console; then the user's extra */
  cl = strlen (b.cmdline) + (extra ? strlen (extra) : 0) + 32;
  if (!(*cmd = malloc (cl))) {
    error ("out of memory");
    goto out;
  }
  snprintf (*cmd, cl, "%s%s%s%s%s", b.cmdline, b.cmdline[0] ? " " : "",
            strstr (b.cmdline, "console=") ? "" : "console=ttyS0",
            extra && *extra ? " " : "", extra ? extra : "");
  {
    size_t l = strlen (*cmd);       /* no trailing blank when console= was there */
    while (l && (*cmd)[l - 1] == ' ')
      (*cmd)[--l] = 0;
  }
  if (print) {
    printf ("source: %s %s\n", gfs_boot_source_name (b.source), b.where);
    printf ("entry: %s%s%s%s\n", b.entry, b.title ? " (" : "", b.title ? b.title : "",
            b.title ? ")" : "");
    printf ("kernel: %s\n", b.kernel);
    printf ("initrd:");
    for (size_t i = 0; i < b.n_initrds; i++)
      printf (" %s", b.initrds[i]);
    printf ("%s\n", b.n_initrds ? "" : " none");
    printf ("cmdline: %s\n", *cmd);
    r = 1;
    goto out;
  }
  if (gfs_boot_read (s, b.kernel, GFS_MAX_FILE_READ, kbuf, &klen) < 0) {
    error ("%s: kernel %s: %s", img->spec, b.kernel, disk_last_error ());
    goto out;
  }
  /* Several initrds are concatenated (each 4-byte aligned), as boot
   * loaders do; Linux unpacks them in order. */
  for (size_t i = 0; i < b.n_initrds; i++) {
    char *part, *nb;
    size_t plen, pad = (4 - ilen % 4) % 4;
    if (gfs_boot_read (s, b.initrds[i], GFS_MAX_FILE_READ, &part, &plen) < 0) {
      error ("%s: initrd %s: %s", img->spec, b.initrds[i], disk_last_error ());
      goto out;
    }
    if (ilen + pad + plen > GFS_MAX_FILE_READ || !(nb = realloc (*ibuf, ilen + pad + plen + 1))) {
      free (part);
      error ("%s: initrds of %s are too large", img->spec, b.where);
      goto out;
    }
    memset (nb + ilen, 0, pad);
    memcpy (nb + ilen + pad, part, plen);
    free (part);
    *ibuf = nb;
    ilen += pad + plen;
  }
  {
    /* Names for the VMM's messages: IMAGE:/boot/vmlinuz-... */
    static char kname[GFS_MAX_PATH + 256], iname[GFS_MAX_PATH + 256];
    snprintf (kname, sizeof kname, "%s:%s", img->spec, b.kernel);
    cfg->kernel = kname;
    cfg->kernel_data = *kbuf;
    cfg->kernel_size = klen;
    if (b.n_initrds) {
      snprintf (iname, sizeof iname, "%s:%s", img->spec, b.initrds[0]);
      cfg->initrd = iname;
      cfg->initrd_data = *ibuf;
      cfg->initrd_size = ilen;
    }
  }
  cfg->cmdline = *cmd;
  r = 0;
out:
  gfs_boot_free (&b);
  if (oses)
    gfs_os_free (oses, n_os);
  if (s)
    gfs_session_free (s);
  return r;
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
    { "entry", required_argument, NULL, OPT_ENTRY },
    { "print-boot", no_argument, NULL, OPT_PRINT_BOOT },
    { NULL, 0, NULL, 0 },
  };
  struct vm_config cfg = { .ram_size = 512ULL << 20, .ncpus = 1, .rng = true,
                           .console = VM_CONSOLE_STDIO, .handle_signals = true };
  enum vm_stop_reason why;
  const char *entry = NULL;
  bool print_boot = false;
  char *kbuf = NULL, *ibuf = NULL, *cmd = NULL;
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
    case OPT_ENTRY: entry = optarg; break;
    case OPT_PRINT_BOOT: print_boot = true; break;
    default:
      usage_error ("run", "invalid option");
      goto out;
    }
  }
  if (optind + 1 < argc) {
    usage_error ("run", "unexpected argument '%s' (one IMAGE at most; more disks with --disk)",
                 argv[optind + 1]);
    goto out;
  }
  if (optind < argc) {
    /* vdk run IMAGE: the image is the first disk, its kernel boots. */
    const char *extra = cfg.cmdline;
    if (cfg.kernel || cfg.initrd) {
      usage_error ("run", "give either --kernel or IMAGE, not both");
      goto out;
    }
    if (cfg.ndisks >= VM_MAX_DISKS) {
      error ("too many disks (at most %d)", VM_MAX_DISKS);
      goto out;
    }
    memmove (&cfg.disks[1], &cfg.disks[0], cfg.ndisks * sizeof cfg.disks[0]);
    cfg.ndisks++;
    if (parse_disk (argv[optind], &cfg.disks[0]) < 0)
      goto out;
    cfg.cmdline = NULL;
    r = image_boot (&cfg.disks[0], entry, extra, print_boot, &cfg, &kbuf, &ibuf, &cmd);
    if (r != 0) {
      rc = r > 0 ? 0 : 1;
      goto out;
    }
  }
  else if (entry || print_boot) {
    usage_error ("run", "--entry and --print-boot need an IMAGE");
    goto out;
  }
  if (!cfg.kernel) {
    usage_error ("run", "--kernel is required (or an IMAGE to boot)");
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
  free (kbuf);
  free (ibuf);
  free (cmd);
  for (unsigned i = 0; i < cfg.ndisks; i++)
    free ((char *) cfg.disks[i].spec);
  return rc;
}
