/* Guest inspection: OS roots, os-release, hostname, arch, fstab,
 * applications (dpkg), kernels and boot loader entries. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "guestfs/guestfs.h"
#include "guestfs/inspect.h"
#include "guestfs/rpmdb.h"

#define MAX_TEXT (8u << 20)   /* small config files */
#define MAX_STATUS (256u << 20)

static void
problem (struct gfs_os *os, const char *fmt, ...)
{
  char line[1024];
  char **n;
  va_list ap;

  if (os->n_problems >= 256)
    return;
  va_start (ap, fmt);
  vsnprintf (line, sizeof line, fmt, ap);
  va_end (ap);
  n = realloc (os->problems, (os->n_problems + 1) * sizeof *n);
  if (!n)
    return;
  os->problems = n;
  if ((n[os->n_problems] = strdup (line)))
    os->n_problems++;
}

void
gfs_mounts_clear (struct gfs_session *s)
{
  for (size_t i = 0; i < s->n_mounts; i++)
    free (s->mounts[i].mountpoint);
  free (s->mounts);
  s->mounts = NULL;
  s->n_mounts = 0;
}

/* Read PATH through the mount table; NULL (and a problem unless absent). */
static char *
read_text (struct gfs_session *s, struct gfs_os *os, const char *path, size_t max, size_t *len)
{
  struct gfs_fs *fs;
  uint64_t ino;
  char *buf;
  int r = gfs_resolve (s, path, true, &fs, &ino);

  if (r == -ENOENT)
    return NULL;
  if (r == 0)
    r = gfs_read_file (fs, ino, max, &buf, len);
  if (r < 0) {
    if (os)
      problem (os, "%s: %s", path, disk_last_error ());
    return NULL;
  }
  return buf;
}

static bool
exists (struct gfs_session *s, const char *path)
{
  struct gfs_fs *fs;
  uint64_t ino;
  return gfs_resolve (s, path, true, &fs, &ino) == 0;
}

static void
copy_str (char *dst, size_t cap, const char *src, size_t n)
{
  if (n >= cap)
    n = cap - 1;
  memcpy (dst, src, n);
  dst[n] = 0;
}

/* KEY=value lines (os-release); unquotes "..." and '...'. */
static bool
kv_get (const char *text, const char *key, char *out, size_t cap)
{
  size_t kl = strlen (key);
  const char *p = text;

  while (p && *p) {
    const char *eol = strchr (p, '\n');
    size_t ll = eol ? (size_t) (eol - p) : strlen (p);
    if (ll > kl && !strncmp (p, key, kl) && p[kl] == '=') {
      const char *v = p + kl + 1;
      size_t vl = ll - kl - 1;
      if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
        v++;
        vl -= 2;
      }
      copy_str (out, cap, v, vl);
      return true;
    }
    p = eol ? eol + 1 : NULL;
  }
  return false;
}

static void
set_version (struct gfs_os *os, const char *v)
{
  const char *dot;
  while (*v && (*v < '0' || *v > '9'))
    v++;
  if (!*v)
    return;
  os->major = atoi (v);
  dot = v + strspn (v, "0123456789");
  os->minor = *dot == '.' ? atoi (dot + 1) : 0;
}

/* Guests older than os-release: lsb-release, redhat-release, debian_version. */
static void
parse_legacy_release (struct gfs_session *s, struct gfs_os *os)
{
  size_t len;
  char *t, v[64];

  if ((t = read_text (s, os, "/etc/lsb-release", MAX_TEXT, &len))) {
    char id[64] = "";
    if (kv_get (t, "DISTRIB_ID", id, sizeof id)) {
      for (char *p = id; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
          *p = (char) (*p - 'A' + 'a');
      snprintf (os->distro, sizeof os->distro, "%s", id);
    }
    kv_get (t, "DISTRIB_DESCRIPTION", os->product_name, sizeof os->product_name);
    if (kv_get (t, "DISTRIB_RELEASE", v, sizeof v))
      set_version (os, v);
    free (t);
    if (os->distro[0])
      return;
  }
  if ((t = read_text (s, os, "/etc/redhat-release", MAX_TEXT, &len))) {
    copy_str (os->product_name, sizeof os->product_name, t, strcspn (t, "\r\n"));
    snprintf (os->distro, sizeof os->distro, "%s",
              strstr (t, "Fedora") ? "fedora" : strstr (t, "CentOS") ? "centos" :
              strstr (t, "Rocky") ? "rocky" : strstr (t, "Alma") ? "alma" : "rhel");
    set_version (os, os->product_name);
    free (t);
    return;
  }
  if ((t = read_text (s, os, "/etc/debian_version", MAX_TEXT, &len))) {
    snprintf (os->distro, sizeof os->distro, "debian");
    copy_str (v, sizeof v, t, strcspn (t, "\r\n"));
    set_version (os, v);
    snprintf (os->product_name, sizeof os->product_name, "Debian %s", v);
    free (t);
  }
}

static void
parse_os_release (struct gfs_session *s, struct gfs_os *os)
{
  size_t len;
  char *t = read_text (s, os, "/etc/os-release", MAX_TEXT, &len);
  char id[64] = "", ver[64] = "";

  if (!t)
    t = read_text (s, os, "/usr/lib/os-release", MAX_TEXT, &len);
  if (!t) {
    parse_legacy_release (s, os);
    return;
  }
  if (kv_get (t, "ID", id, sizeof id)) {
    static const struct { const char *id, *distro; } map[] = {
      { "opensuse-leap", "opensuse" }, { "opensuse-tumbleweed", "opensuse" },
      { "sles", "sles" }, { "arch", "archlinux" }, { "rocky", "rocky" },
      { "almalinux", "alma" }, { "ol", "oraclelinux" }, { "linuxmint", "linuxmint" },
    };
    snprintf (os->distro, sizeof os->distro, "%s", id);
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
      if (!strcmp (id, map[i].id))
        snprintf (os->distro, sizeof os->distro, "%s", map[i].distro);
  }
  if (!kv_get (t, "PRETTY_NAME", os->product_name, sizeof os->product_name))
    kv_get (t, "NAME", os->product_name, sizeof os->product_name);
  kv_get (t, "VARIANT", os->product_variant, sizeof os->product_variant);
  if (kv_get (t, "VERSION_ID", ver, sizeof ver)) {
    char *dot;
    os->major = atoi (ver);
    dot = strchr (ver, '.');
    os->minor = dot ? atoi (dot + 1) : 0;
    if (os->distro[0])
      snprintf (os->osinfo, sizeof os->osinfo, "%s%s", os->distro, ver);
  }
  free (t);
}

static void
parse_hostname (struct gfs_session *s, struct gfs_os *os)
{
  size_t len;
  char *t = read_text (s, os, "/etc/hostname", MAX_TEXT, &len);

  if (t) {
    size_t n = strcspn (t, "\r\n");
    copy_str (os->hostname, sizeof os->hostname, t, n);
    free (t);
    return;
  }
  t = read_text (s, os, "/etc/HOSTNAME", MAX_TEXT, &len);
  if (t) {
    copy_str (os->hostname, sizeof os->hostname, t, strcspn (t, "\r\n"));
    free (t);
    return;
  }
  t = read_text (s, os, "/etc/sysconfig/network", MAX_TEXT, &len);
  if (t) {
    kv_get (t, "HOSTNAME", os->hostname, sizeof os->hostname);
    free (t);
  }
}

static void
detect_arch (struct gfs_session *s, struct gfs_os *os)
{
  static const char *const bins[] = { "/bin/sh", "/bin/bash", "/usr/bin/bash", "/bin/ls",
                                      "/usr/bin/ls", "/bin/busybox", "/usr/bin/env", NULL };
  for (int i = 0; bins[i]; i++) {
    struct gfs_fs *fs;
    uint64_t ino;
    uint8_t h[64];
    ssize_t n;
    unsigned mach;
    bool le;
    const char *a = NULL;

    if (gfs_resolve (s, bins[i], true, &fs, &ino) < 0)
      continue;
    n = fs->ops->read (fs, ino, h, sizeof h, 0);
    if (n < 20 || memcmp (h, "\177ELF", 4))
      continue;
    le = h[5] == 1;
    mach = le ? gfs_le16 (h + 18) : gfs_be16 (h + 18);
    switch (mach) {
    case 3: a = "i386"; break;
    case 62: a = "x86_64"; break;
    case 183: a = "aarch64"; break;
    case 40: a = "arm"; break;
    case 243: a = h[4] == 2 ? "riscv64" : "riscv32"; break;
    case 21: a = le ? "ppc64le" : "ppc64"; break;
    case 20: a = "ppc"; break;
    case 22: a = "s390x"; break;
    case 258: a = "loongarch64"; break;
    case 8: a = h[4] == 2 ? "mips64" : "mips"; break;
    default: break;
    }
    if (a) {
      snprintf (os->arch, sizeof os->arch, "%s", a);
      return;
    }
  }
}

static struct gfs_device *
resolve_spec (struct gfs_session *s, const char *spec)
{
  if (!strncmp (spec, "UUID=", 5))
    return gfs_find_by_uuid (s, spec + 5);
  if (!strncmp (spec, "LABEL=", 6))
    return gfs_find_by_label (s, spec + 6);
  if (!strncmp (spec, "PARTUUID=", 9) || !strncmp (spec, "/dev/disk/by-partuuid/", 22)) {
    const char *u = spec + (spec[0] == 'P' ? 9 : 22);
    for (size_t i = 0; i < s->n_devs; i++)
      if (s->devs[i]->part_uuid[0] && !strcasecmp (s->devs[i]->part_uuid, u))
        return s->devs[i];
    return NULL;
  }
  if (!strncmp (spec, "PARTLABEL=", 10)) {
    for (size_t i = 0; i < s->n_devs; i++)
      if (s->devs[i]->part_name[0] && !strcmp (s->devs[i]->part_name, spec + 10))
        return s->devs[i];
    return NULL;
  }
  if (!strncmp (spec, "/dev/disk/by-uuid/", 18))
    return gfs_find_by_uuid (s, spec + 18);
  if (!strncmp (spec, "/dev/disk/by-label/", 19))
    return gfs_find_by_label (s, spec + 19);
  return gfs_find_device (s, spec);
}

/* Undo fstab's octal escapes (\040 for a space). */
static void
unescape (char *p)
{
  char *o = p;
  while (*p) {
    if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
        p[3] >= '0' && p[3] <= '7') {
      *o++ = (char) ((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
      p += 4;
    }
    else
      *o++ = *p++;
  }
  *o = 0;
}

static void
parse_fstab (struct gfs_session *s, struct gfs_os *os, const char *text)
{
  const char *p = text;
  while (p && *p && os->n_fstab < 1024) {
    const char *eol = strchr (p, '\n');
    size_t ll = eol ? (size_t) (eol - p) : strlen (p);
    char line[1024], *f[4] = { 0 }, *save = NULL;
    int nf = 0;
    struct gfs_fstab_entry *n, *e;
    struct gfs_device *d;

    copy_str (line, sizeof line, p, ll);
    p = eol ? eol + 1 : NULL;
    for (char *t = strtok_r (line, " \t", &save); t && nf < 4; t = strtok_r (NULL, " \t", &save))
      f[nf++] = t;
    if (nf < 3 || f[0][0] == '#')
      continue;
    unescape (f[0]);
    unescape (f[1]);
    n = realloc (os->fstab, (os->n_fstab + 1) * sizeof *n);
    if (!n)
      return;
    os->fstab = n;
    e = &n[os->n_fstab++];
    memset (e, 0, sizeof *e);
    e->spec = strdup (f[0]);
    e->mountpoint = strdup (f[1]);
    e->vfstype = strdup (f[2]);
    d = resolve_spec (s, f[0]);
    if (d)
      e->device = strdup (d->dev->name);
  }
}

static int
cmp_mp (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

int
gfs_os_mount (struct gfs_session *s, const struct gfs_os *os)
{
  int r;

  gfs_mounts_clear (s);
  r = gfs_mount_add (s, "/", os->root);
  if (r < 0)
    return r;
  for (size_t i = 0; i < os->n_fstab; i++) {
    const struct gfs_fstab_entry *e = &os->fstab[i];
    struct gfs_device *d;
    if (!e->device || !e->mountpoint || e->mountpoint[0] != '/' || !strcmp (e->mountpoint, "/"))
      continue;
    d = gfs_find_device (s, e->device);
    if (!d || !d->ops)
      continue;
    if (gfs_mount_add (s, e->mountpoint, d) < 0)
      gfs_warn ("%s: cannot mount on %s: %s", e->device, e->mountpoint, disk_last_error ());
  }
  (void) cmp_mp;
  return 0;
}

/* ---- applications ---- */

static char *
dup_n (const char *p, size_t n)
{
  char *r = malloc (n + 1);
  if (r) {
    memcpy (r, p, n);
    r[n] = 0;
  }
  return r;
}

static void
add_dpkg_app (struct gfs_os *os, const char *name, const char *ver, const char *arch,
              const char *summary, const char *url, const char *desc, bool installed)
{
  struct gfs_app *n, *a;
  const char *colon, *dash, *up;

  if (!installed || !name[0] || os->n_apps >= GFS_MAX_APPS)
    return;
  n = realloc (os->apps, (os->n_apps + 1) * sizeof *n);
  if (!n)
    return;
  os->apps = n;
  a = &n[os->n_apps++];
  memset (a, 0, sizeof *a);
  a->name = strdup (name);
  colon = strchr (ver, ':');
  up = colon ? colon + 1 : ver;
  a->epoch = colon ? dup_n (ver, (size_t) (colon - ver)) : strdup ("0");
  dash = strrchr (up, '-');
  a->version = dash ? dup_n (up, (size_t) (dash - up)) : strdup (up);
  a->release = strdup (dash ? dash + 1 : "");
  a->arch = strdup (arch);
  a->summary = strdup (summary);
  a->url = url[0] ? strdup (url) : NULL;
  a->description = desc && desc[0] ? strdup (desc) : NULL;
}

static void
parse_dpkg (struct gfs_os *os, const char *t)
{
  char name[256] = "", ver[256] = "", arch[64] = "", summary[512] = "", url[512] = "";
  char *desc = NULL;               /* Description's continuation lines */
  size_t desc_len = 0;
  bool installed = false, in_desc = false;
  const char *p = t;

  while (p) {
    const char *eol = strchr (p, '\n');
    size_t ll = eol ? (size_t) (eol - p) : strlen (p);

    if (ll > 0 && p[0] == ' ' && in_desc) {
      /* joined with newlines, as libguestfs does (capped at 64 KiB) */
      if (desc_len + ll < 65536) {
        char *nd = realloc (desc, desc_len + ll + 1);
        if (nd) {
          desc = nd;
          if (desc_len)
            desc[desc_len++] = '\n';
          memcpy (desc + desc_len, p + 1, ll - 1);
          desc_len += ll - 1;
          desc[desc_len] = 0;
        }
      }
      goto next;
    }
    in_desc = false;
    if (ll == 0) {
      add_dpkg_app (os, name, ver, arch, summary, url, desc, installed);
      name[0] = ver[0] = arch[0] = summary[0] = url[0] = 0;
      free (desc);
      desc = NULL;
      desc_len = 0;
      installed = false;
    }
#define FIELD(k, dst) \
    else if (ll > sizeof k - 1 && !strncmp (p, k, sizeof k - 1)) \
      copy_str (dst, sizeof dst, p + sizeof k - 1, ll - (sizeof k - 1))
    FIELD ("Package: ", name);
    FIELD ("Version: ", ver);
    FIELD ("Architecture: ", arch);
    FIELD ("Homepage: ", url);
    else if (ll > 13 && !strncmp (p, "Description: ", 13)) {
      copy_str (summary, sizeof summary, p + 13, ll - 13);
      in_desc = true;
    }
#undef FIELD
    else if (ll > 8 && !strncmp (p, "Status: ", 8)) {
      char st[128];
      copy_str (st, sizeof st, p + 8, ll - 8);
      installed = strstr (st, " installed") != NULL && strstr (st, "not-installed") == NULL;
    }
  next:
    if (!eol)
      break;
    p = eol + 1;
  }
  add_dpkg_app (os, name, ver, arch, summary, url, desc, installed);
  free (desc);
}

static int
add_rpm_app (void *opaque, const struct gfs_rpm_pkg *p)
{
  struct gfs_os *os = opaque;
  struct gfs_app *n, *a;

  if (os->n_apps >= GFS_MAX_APPS)
    return 1;
  n = realloc (os->apps, (os->n_apps + 1) * sizeof *n);
  if (!n)
    return -ENOMEM;
  os->apps = n;
  a = &n[os->n_apps++];
  a->name = strdup (p->name);
  a->epoch = strdup (p->epoch);
  a->version = strdup (p->version);
  a->release = strdup (p->release ? p->release : "");
  a->arch = strdup (p->arch ? p->arch : "");
  a->summary = strdup (p->summary ? p->summary : "");
  a->url = a->description = NULL;
  return 0;
}

static void
read_rpmdb (struct gfs_session *s, struct gfs_os *os)
{
  static const char *const paths[] = { "/usr/lib/sysimage/rpm/rpmdb.sqlite",
                                       "/var/lib/rpm/rpmdb.sqlite", NULL };
  for (int i = 0; paths[i]; i++) {
    size_t len;
    char *t;
    if (!exists (s, paths[i]))
      continue;
    t = read_text (s, os, paths[i], MAX_STATUS, &len);
    if (!t)
      return;
    if (gfs_rpmdb_sqlite (paths[i], (const uint8_t *) t, len, add_rpm_app, os) < 0)
      problem (os, "%s", disk_last_error ());
    free (t);
    return;
  }
  if (exists (s, "/var/lib/rpm/Packages"))
    problem (os, "/var/lib/rpm/Packages: Berkeley DB rpm databases are not supported");
}

static int
cmp_app (const void *a, const void *b)
{
  return strcmp (((const struct gfs_app *) a)->name, ((const struct gfs_app *) b)->name);
}

/* ---- kernels and boot entries ---- */

struct names {
  char **v;
  size_t n;
};

static int
collect_name (void *opaque, const struct gfs_dirent *e)
{
  struct names *nm = opaque;
  char **n;
  if (nm->n >= 100000)
    return 0;
  n = realloc (nm->v, (nm->n + 1) * sizeof *n);
  if (!n)
    return -ENOMEM;
  nm->v = n;
  if ((n[nm->n] = strdup (e->name)))
    nm->n++;
  return 0;
}

static int
cmp_ver_str (const void *a, const void *b)
{
  return strverscmp (*(char *const *) a, *(char *const *) b);
}

static int
list_dir (struct gfs_session *s, struct gfs_os *os, const char *path, struct names *nm)
{
  struct gfs_fs *fs;
  uint64_t ino;
  int r = gfs_resolve (s, path, true, &fs, &ino);

  nm->v = NULL;
  nm->n = 0;
  if (r == -ENOENT)
    return r;
  if (r == 0)
    r = fs->ops->readdir (fs, ino, collect_name, nm);
  if (r < 0) {
    problem (os, "%s: %s", path, disk_last_error ());
    return r;
  }
  if (nm->n)
    qsort (nm->v, nm->n, sizeof *nm->v, cmp_ver_str);
  return 0;
}

static void
free_names (struct names *nm)
{
  for (size_t i = 0; i < nm->n; i++)
    free (nm->v[i]);
  free (nm->v);
}

static void
find_kernels (struct gfs_session *s, struct gfs_os *os)
{
  struct names nm;

  if (list_dir (s, os, "/boot", &nm) < 0)
    return;
  for (size_t i = 0; i < nm.n; i++) {
    const char *ver;
    char path[600], initrd[600];
    struct gfs_kernel *n;
    static const char *const initrds[] = { "/boot/initrd.img-%s", "/boot/initramfs-%s.img",
                                           "/boot/initrd-%s", "/boot/initramfs-%s", NULL };
    if (strncmp (nm.v[i], "vmlinuz-", 8) || strstr (nm.v[i], "-rescue-"))
      continue;
    if (os->n_kernels >= 64) {   /* each costs lookups in /boot: bound the work */
      problem (os, "/boot: more than 64 kernels, the rest are not listed");
      break;
    }
    ver = nm.v[i] + 8;
    snprintf (path, sizeof path, "/boot/%s", nm.v[i]);
    initrd[0] = 0;
    for (int k = 0; initrds[k]; k++) {
      snprintf (initrd, sizeof initrd, initrds[k], ver);
      if (exists (s, initrd))
        break;
      initrd[0] = 0;
    }
    n = realloc (os->kernels, (os->n_kernels + 1) * sizeof *n);
    if (!n)
      break;
    os->kernels = n;
    n[os->n_kernels].version = strdup (ver);
    n[os->n_kernels].vmlinuz = strdup (path);
    n[os->n_kernels].initrd = initrd[0] ? strdup (initrd) : NULL;
    os->n_kernels++;
  }
  free_names (&nm);
}

/* The value of KEY in a BLS entry; a key given on several lines
 * ("initrd", "options") has its values joined with a space. */
static char *
bls_value (const char *text, const char *key)
{
  const char *p = text;
  size_t kl = strlen (key);
  char *r = NULL;
  size_t rl = 0;

  while (p && *p) {
    const char *eol = strchr (p, '\n');
    size_t ll = eol ? (size_t) (eol - p) : strlen (p);
    if (ll > kl && !strncmp (p, key, kl) && (p[kl] == ' ' || p[kl] == '\t')) {
      const char *v = p + kl, *e = p + ll;
      char *n;
      while (v < e && (*v == ' ' || *v == '\t'))
        v++;
      while (e > v && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        e--;
      n = realloc (r, rl + (size_t) (e - v) + 2);
      if (!n)
        break;
      r = n;
      if (rl)
        r[rl++] = ' ';
      memcpy (r + rl, v, (size_t) (e - v));
      rl += (size_t) (e - v);
      r[rl] = 0;
    }
    p = eol ? eol + 1 : NULL;
  }
  return r;
}

/* BLS entries in $BOOT (/boot) and on an ESP mounted at /efi or /boot/efi
 * (systemd-boot reads both). */
static void
find_bls (struct gfs_session *s, struct gfs_os *os)
{
  static const char *const dirs[] = { "/boot/loader/entries", "/efi/loader/entries",
                                      "/boot/efi/loader/entries", NULL };
  for (int d = 0; dirs[d]; d++) {
    struct names nm;

    if (list_dir (s, os, dirs[d], &nm) < 0)
      continue;
    for (size_t i = 0; i < nm.n && os->n_boot < 256; i++) {
      size_t l = strlen (nm.v[i]), len;
      char path[600], *t;
      struct gfs_bootentry *n, *b;

      if (l < 6 || strcmp (nm.v[i] + l - 5, ".conf"))
        continue;
      snprintf (path, sizeof path, "%s/%s", dirs[d], nm.v[i]);
      t = read_text (s, os, path, MAX_TEXT, &len);
      if (!t)
        continue;
      n = realloc (os->boot, (os->n_boot + 1) * sizeof *n);
      if (!n) {
        free (t);
        break;
      }
      os->boot = n;
      b = &n[os->n_boot++];
      b->file = strdup (path);
      b->title = bls_value (t, "title");
      b->version = bls_value (t, "version");
      b->kernel = bls_value (t, "linux");
      b->initrd = bls_value (t, "initrd");
      b->options = bls_value (t, "options");
      free (t);
    }
    free_names (&nm);
  }
}

/* ---- roots ---- */

static bool
is_linux_root (struct gfs_device *d)
{
  struct gfs_fs *fs;
  uint64_t ino;

  if (!d->ops || gfs_device_fs (d, &fs) < 0)
    return false;
  if (gfs_resolve_fs (fs, "/etc", true, &ino) < 0)
    return false;
  return gfs_resolve_fs (fs, "/etc/os-release", true, &ino) == 0 ||
         gfs_resolve_fs (fs, "/usr/lib/os-release", true, &ino) == 0 ||
         (gfs_resolve_fs (fs, "/etc/fstab", true, &ino) == 0 &&
          (gfs_resolve_fs (fs, "/bin", true, &ino) == 0 ||
           gfs_resolve_fs (fs, "/usr/bin", true, &ino) == 0));
}

static void
inspect_one (struct gfs_session *s, struct gfs_os *os)
{
  size_t len;
  char *t;

  snprintf (os->type, sizeof os->type, "linux");
  gfs_mounts_clear (s);
  if (gfs_mount_add (s, "/", os->root) < 0)
    return;
  t = read_text (s, os, "/etc/fstab", MAX_TEXT, &len);
  if (t) {
    parse_fstab (s, os, t);
    free (t);
  }
  gfs_os_mount (s, os);
  for (size_t i = 0; i < os->n_fstab; i++) {
    const struct gfs_fstab_entry *e = &os->fstab[i];
    if (e->mountpoint[0] == '/' && strcmp (e->mountpoint, "/") && !e->device &&
        strcmp (e->vfstype, "tmpfs") && strcmp (e->vfstype, "proc") &&
        strcmp (e->vfstype, "sysfs") && strcmp (e->vfstype, "devpts") &&
        strcmp (e->vfstype, "swap") && strcmp (e->vfstype, "nfs")) {
      char unreadable[512] = "";
      for (size_t k = 0; k < s->n_devs; k++)
        if (s->devs[k]->open_error && strlen (unreadable) < sizeof unreadable - 2)
          snprintf (unreadable + strlen (unreadable), sizeof unreadable - strlen (unreadable),
                    "%s%s", unreadable[0] ? ", " : "; unreadable filesystems: ",
                    s->devs[k]->dev->name);
      problem (os, "fstab: %s (%s) was not found on the disks given%s", e->spec,
               e->mountpoint, unreadable);
    }
  }
  parse_os_release (s, os);
  parse_hostname (s, os);
  detect_arch (s, os);

  if (exists (s, "/var/lib/dpkg/status")) {
    snprintf (os->package_format, sizeof os->package_format, "deb");
    snprintf (os->package_manager, sizeof os->package_manager, "apt");
    t = read_text (s, os, "/var/lib/dpkg/status", MAX_STATUS, &len);
    if (t) {
      parse_dpkg (os, t);
      free (t);
      if (os->n_apps)
        qsort (os->apps, os->n_apps, sizeof *os->apps, cmp_app);
    }
  }
  else if (exists (s, "/var/lib/rpm") || exists (s, "/usr/lib/sysimage/rpm")) {
    snprintf (os->package_format, sizeof os->package_format, "rpm");
    snprintf (os->package_manager, sizeof os->package_manager, "%s",
              exists (s, "/usr/bin/dnf") || exists (s, "/usr/bin/dnf5") ? "dnf" :
              exists (s, "/usr/bin/zypper") ? "zypper" : "yum");
    read_rpmdb (s, os);
    if (os->n_apps)
      qsort (os->apps, os->n_apps, sizeof *os->apps, cmp_app);
  }
  else if (exists (s, "/lib/apk/db/installed")) {
    snprintf (os->package_format, sizeof os->package_format, "apk");
    snprintf (os->package_manager, sizeof os->package_manager, "apk");
  }
  else if (exists (s, "/var/lib/pacman")) {
    snprintf (os->package_format, sizeof os->package_format, "pacman");
    snprintf (os->package_manager, sizeof os->package_manager, "pacman");
  }
  if (!os->package_format[0]) {
    static const struct { const char *distro, *fmt, *mgr; } map[] = {
      { "debian", "deb", "apt" }, { "ubuntu", "deb", "apt" }, { "linuxmint", "deb", "apt" },
      { "fedora", "rpm", "dnf" }, { "rhel", "rpm", "dnf" }, { "centos", "rpm", "dnf" },
      { "rocky", "rpm", "dnf" }, { "alma", "rpm", "dnf" }, { "oraclelinux", "rpm", "dnf" },
      { "opensuse", "rpm", "zypper" }, { "sles", "rpm", "zypper" },
      { "alpine", "apk", "apk" }, { "archlinux", "pacman", "pacman" },
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
      if (!strcmp (os->distro, map[i].distro)) {
        snprintf (os->package_format, sizeof os->package_format, "%s", map[i].fmt);
        snprintf (os->package_manager, sizeof os->package_manager, "%s", map[i].mgr);
        /* dnf replaced yum in RHEL/CentOS 8 */
        if (strcmp (os->distro, "fedora") && !strcmp (map[i].mgr, "dnf") && os->major && os->major < 8)
          snprintf (os->package_manager, sizeof os->package_manager, "yum");
      }
  }
  find_kernels (s, os);
  find_bls (s, os);
}

/* gfs_utf8_fix for text whose lines are kept (in place, same length). */
static void
fix_multiline (char *s)
{
  while (s) {
    char *nl = strchr (s, '\n');
    if (nl)
      *nl = 0;
    gfs_utf8_fix (s);
    if (!nl)
      break;
    *nl = '\n';
    s = nl + 1;
  }
}

/* Everything inspection reports comes from the guest: keep it valid text. */
static void
fix_strings (struct gfs_os *os)
{
  gfs_utf8_fix (os->distro);
  gfs_utf8_fix (os->product_name);
  gfs_utf8_fix (os->product_variant);
  gfs_utf8_fix (os->osinfo);
  gfs_utf8_fix (os->hostname);
  for (size_t i = 0; i < os->n_fstab; i++) {
    gfs_utf8_fix (os->fstab[i].spec);
    gfs_utf8_fix (os->fstab[i].mountpoint);
    gfs_utf8_fix (os->fstab[i].vfstype);
  }
  for (size_t i = 0; i < os->n_apps; i++) {
    struct gfs_app *a = &os->apps[i];
    gfs_utf8_fix (a->name); gfs_utf8_fix (a->epoch); gfs_utf8_fix (a->version);
    gfs_utf8_fix (a->release); gfs_utf8_fix (a->arch); gfs_utf8_fix (a->summary);
    gfs_utf8_fix (a->url); fix_multiline (a->description);
  }
  for (size_t i = 0; i < os->n_kernels; i++) {
    gfs_utf8_fix (os->kernels[i].version);
    gfs_utf8_fix (os->kernels[i].vmlinuz);
    gfs_utf8_fix (os->kernels[i].initrd);
  }
  for (size_t i = 0; i < os->n_boot; i++) {
    struct gfs_bootentry *b = &os->boot[i];
    gfs_utf8_fix (b->file); gfs_utf8_fix (b->title); gfs_utf8_fix (b->version);
    gfs_utf8_fix (b->kernel); gfs_utf8_fix (b->initrd); gfs_utf8_fix (b->options);
  }
  for (size_t i = 0; i < os->n_problems; i++)
    gfs_utf8_fix (os->problems[i]);
}

static int
cmp_apps (const void *a, const void *b)
{
  const struct gfs_app *x = a, *y = b;
  return strcmp (x->name ? x->name : "", y->name ? y->name : "");
}

bool
gfs_os_has_device (const struct gfs_os *os, const struct gfs_device *d)
{
  if (d == os->root)
    return true;
  for (size_t i = 0; i < os->n_fstab; i++)
    if (os->fstab[i].device && !strcmp (os->fstab[i].device, d->dev->name))
      return true;
  return false;
}

int
gfs_inspect (struct gfs_session *s, struct gfs_os **oses, size_t *n)
{
  struct gfs_os *v = NULL;
  size_t nv = 0;

  for (size_t i = 0; i < s->n_devs; i++) {
    struct gfs_os *t;
    if (!is_linux_root (s->devs[i]))
      continue;
    t = realloc (v, (nv + 1) * sizeof *t);
    if (!t) {
      gfs_os_free (v, nv);
      return gfs_err (ENOMEM, "out of memory");
    }
    v = t;
    memset (&v[nv], 0, sizeof *v);
    v[nv].root = s->devs[i];
    inspect_one (s, &v[nv]);
    /* applications by name, as virt-inspector lists them */
    if (v[nv].n_apps > 1)
      qsort (v[nv].apps, v[nv].n_apps, sizeof *v[nv].apps, cmp_apps);
    fix_strings (&v[nv]);
    nv++;
  }
  gfs_mounts_clear (s);
  *oses = v;
  *n = nv;
  return 0;
}

void
gfs_os_free (struct gfs_os *oses, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    struct gfs_os *os = &oses[i];
    for (size_t k = 0; k < os->n_fstab; k++) {
      free (os->fstab[k].spec);
      free (os->fstab[k].mountpoint);
      free (os->fstab[k].vfstype);
      free (os->fstab[k].device);
    }
    free (os->fstab);
    for (size_t k = 0; k < os->n_apps; k++) {
      struct gfs_app *a = &os->apps[k];
      free (a->name); free (a->epoch); free (a->version);
      free (a->release); free (a->arch); free (a->summary);
      free (a->url); free (a->description);
    }
    free (os->apps);
    for (size_t k = 0; k < os->n_kernels; k++) {
      free (os->kernels[k].version);
      free (os->kernels[k].vmlinuz);
      free (os->kernels[k].initrd);
    }
    free (os->kernels);
    for (size_t k = 0; k < os->n_boot; k++) {
      struct gfs_bootentry *b = &os->boot[k];
      free (b->file); free (b->title); free (b->version);
      free (b->kernel); free (b->initrd); free (b->options);
    }
    free (os->boot);
    for (size_t k = 0; k < os->n_problems; k++)
      free (os->problems[k]);
    free (os->problems);
  }
  free (oses);
}
