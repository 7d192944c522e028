/* find-storage-pool-sources(-as): the framework side.  Pool types with a
 * find_sources callback report what they find as libvirt's <sources> XML;
 * the local types (logical, disk) look at block devices with the helpers
 * below: the devices named by the source spec (<source><device path=.../>,
 * block devices or image files), or else every block device of the host
 * (/sys/class/block, loop devices included). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/tree.h>

#include "pool-int.h"

#define SYS_BLOCK "/sys/class/block"
#define MAX_SCAN 4096                /* block devices looked at */

void
pool_src_devices_free (struct pool_src_dev *v, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    if (v[i].fd >= 0)
      close (v[i].fd);
    free (v[i].path);
  }
  free (v);
}

/* Open PATH for reading: 0, or -errno (with the error set when REPORT). */
static int
open_dev (const char *path, bool report, struct pool_src_dev *d)
{
  struct stat st;
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

  d->fd = -1;
  d->path = NULL;
  d->ss = 512;
  if (fd < 0)
    return report ? pool_err (errno, "cannot open device '%s': %s", path, strerror (errno))
                  : -errno;
  if (fstat (fd, &st) < 0)
    goto err;
  if (S_ISBLK (st.st_mode)) {
    int ss = 512;
    if (ioctl (fd, BLKGETSIZE64, &d->size) < 0)
      goto err;
    if (ioctl (fd, BLKSSZGET, &ss) == 0 && ss >= 512 && ss <= 65536)
      d->ss = (uint32_t) ss;
  }
  else if (S_ISREG (st.st_mode))
    d->size = (uint64_t) st.st_size;
  else {
    close (fd);
    return report ? pool_err (EINVAL, "'%s' is not a block device or an image file", path)
                  : -EINVAL;
  }
  if (!(d->path = strdup (path))) {
    close (fd);
    return pool_err (ENOMEM, "out of memory");
  }
  d->fd = fd;
  return 0;
 err:
  {
    int e = errno;
    close (fd);
    return report ? pool_err (e, "%s: %s", path, strerror (e)) : -e;
  }
}

static int
add_dev (struct pool_src_dev **v, size_t *n, const struct pool_src_dev *d)
{
  struct pool_src_dev *nv = realloc (*v, (*n + 1) * sizeof *nv);
  if (!nv)
    return pool_err (ENOMEM, "out of memory");
  *v = nv;
  nv[(*n)++] = *d;
  return 0;
}

static bool
sys_flag (const char *name, const char *file)
{
  char path[512];
  snprintf (path, sizeof path, SYS_BLOCK "/%s/%s", name, file);
  return access (path, F_OK) == 0;
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Every block device of the host with a size, sorted by name. */
static int
scan_host (bool skip_partitions, struct pool_src_dev **out, size_t *nout)
{
  DIR *dir = opendir (SYS_BLOCK);
  char *names[MAX_SCAN];
  size_t nn = 0;
  struct dirent *e;
  int r = 0;

  if (!dir)
    return pool_err (errno, "cannot read %s: %s", SYS_BLOCK, strerror (errno));
  while ((e = readdir (dir)) && nn < MAX_SCAN) {
    if (e->d_name[0] == '.' || strlen (e->d_name) > 200)
      continue;
    if (skip_partitions && sys_flag (e->d_name, "partition"))
      continue;
    if (!(names[nn] = strdup (e->d_name))) {
      r = pool_err (ENOMEM, "out of memory");
      break;
    }
    nn++;
  }
  closedir (dir);
  qsort (names, nn, sizeof *names, cmp_str);
  for (size_t i = 0; i < nn; i++) {
    struct pool_src_dev d;
    char path[256];
    snprintf (path, sizeof path, "/dev/%s", names[i]);
    /* unbound loop devices, empty drives... have no size: not a source */
    if (r == 0 && open_dev (path, false, &d) == 0) {
      if (d.size == 0 || (r = add_dev (out, nout, &d)) < 0) {
        close (d.fd);
        free (d.path);
      }
    }
    free (names[i]);
  }
  return r;
}

int
pool_src_devices (const char *srcspec_xml, bool skip_partitions, struct pool_src_dev **out,
                  size_t *nout)
{
  struct pool_src_dev *v = NULL;
  size_t n = 0;
  xmlDocPtr doc = NULL;
  bool named = false;
  int r = 0;

  if (srcspec_xml) {
    xmlNodePtr root;
    doc = pool_xml_parse (srcspec_xml, strlen (srcspec_xml), "the source spec", "source");
    if (!doc)
      return -pool_last_errno ();
    root = xmlDocGetRootElement (doc);
    for (xmlNodePtr c = root->children; c && r == 0; c = c->next) {
      struct pool_src_dev d;
      char *path;
      if (c->type != XML_ELEMENT_NODE || strcmp ((const char *) c->name, "device"))
        continue;
      named = true;
      if (n >= POOL_MAX_DEVICES) {
        r = pool_err (E2BIG, "the source spec names more than %d devices", POOL_MAX_DEVICES);
        break;
      }
      if (!(path = pool_xml_attr (c, "path")) || path[0] != '/') {
        r = pool_err (EINVAL, "the source spec's <device> needs an absolute path");
        free (path);
        break;
      }
      r = open_dev (path, true, &d);
      free (path);
      if (r == 0 && (r = add_dev (&v, &n, &d)) < 0) {
        close (d.fd);
        free (d.path);
      }
    }
    xmlFreeDoc (doc);
  }
  if (r == 0 && !named)
    r = scan_host (skip_partitions, &v, &n);
  if (r < 0) {
    pool_src_devices_free (v, n);
    return r;
  }
  *out = v;
  *nout = n;
  return 0;
}

/* "<sources>" with the <source> elements ITEMS (already indented by 2). */
char *
pool_sources_xml (const char *items)
{
  char *s;
  if (asprintf (&s, "<sources>\n%s</sources>\n", items ? items : "") < 0) {
    pool_err (ENOMEM, "out of memory");
    return NULL;
  }
  return s;
}

/* What virsh's find-storage-pool-sources-as builds from its arguments. */
static char *
spec_from_args (const char *host, const char *port, const char *initiator)
{
  char *h = host ? pool_xml_escape (host) : NULL, *p = port ? pool_xml_escape (port) : NULL;
  char *i = initiator ? pool_xml_escape (initiator) : NULL, *s = NULL;
  size_t len = 0;
  FILE *f;

  if ((host && !h) || (port && !p) || (initiator && !i) || !(f = open_memstream (&s, &len))) {
    free (h); free (p); free (i);
    return NULL;
  }
  fputs ("<source>\n", f);
  if (h) {
    fprintf (f, "  <host name='%s'", h);
    if (p)
      fprintf (f, " port='%s'", p);
    fputs ("/>\n", f);
  }
  if (i)
    fprintf (f, "  <initiator>\n    <iqn name='%s'/>\n  </initiator>\n", i);
  fputs ("</source>\n", f);
  free (h); free (p); free (i);
  if (fclose (f) != 0) {
    free (s);
    return NULL;
  }
  return s;
}

int
pool_find_sources (const char *type, const char *host, const char *port, const char *initiator,
                   const char *srcspec_xml, char **xml_out)
{
  const struct pool_type_ops *t = pool_find_type (type);
  char *spec = NULL, *h = NULL, *pt = NULL;
  int r;

  *xml_out = NULL;
  if (!t)
    return pool_err (EINVAL, "internal error: unknown storage pool type %s", type);
  if (!t->find_sources)
    return pool_err (ENOTSUP, "this function is not supported by the connection driver:"
                     " pool type '%s' does not support source discovery", type);
  if (!srcspec_xml && (host || port || initiator)) {
    if (!(spec = spec_from_args (host, port, initiator)))
      return pool_err (ENOMEM, "out of memory");
    srcspec_xml = spec;
  }
  else if (srcspec_xml && !host) {
    /* the spec's <host name= port=> for types that connect somewhere */
    xmlDocPtr doc = pool_xml_parse (srcspec_xml, strlen (srcspec_xml), "the source spec",
                                    "source");
    if (!doc)
      return -pool_last_errno ();
    xmlNodePtr hn = pool_xml_child (xmlDocGetRootElement (doc), "host");
    if (hn) {
      h = pool_xml_attr (hn, "name");
      pt = pool_xml_attr (hn, "port");
    }
    xmlFreeDoc (doc);
    host = h;
    port = pt;
  }
  r = t->find_sources (host, port, srcspec_xml, xml_out);
  free (spec);
  free (h);
  free (pt);
  return r;
}
