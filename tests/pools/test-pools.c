/* Unit tests of the pools library's parsers: sizes with libvirt's units,
 * names, UUIDs, pool and volume XML (hostile too), signature sniffing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vdk/disk.h"
#include "pool-int.h"

#define CHECK(x) do { if (!(x)) { fprintf (stderr, "%s:%d: CHECK failed: %s (%s)\n", \
                                  __FILE__, __LINE__, #x, pool_last_error ()); return 1; } } while (0)

static int
test_scaled (void)
{
  uint64_t v;
  CHECK (pool_parse_scaled ("512", NULL, &v) == 0 && v == 512);
  CHECK (pool_parse_scaled ("10G", NULL, &v) == 0 && v == 10ULL << 30);
  CHECK (pool_parse_scaled ("10GiB", NULL, &v) == 0 && v == 10ULL << 30);
  CHECK (pool_parse_scaled ("10GB", NULL, &v) == 0 && v == 10000000000ULL);
  CHECK (pool_parse_scaled ("3", "KB", &v) == 0 && v == 3000);
  CHECK (pool_parse_scaled ("3", "k", &v) == 0 && v == 3072);
  CHECK (pool_parse_scaled ("7", "bytes", &v) == 0 && v == 7);
  CHECK (pool_parse_scaled ("1.5M", NULL, &v) == 0 && v == 1572864);
  CHECK (pool_parse_scaled ("1E", NULL, &v) == 0 && v == 1ULL << 60);
  CHECK (pool_parse_scaled ("2E", NULL, &v) == -ERANGE);
  CHECK (pool_parse_scaled ("99999999999999999999", NULL, &v) == -ERANGE);
  CHECK (pool_parse_scaled ("18446744073709551615", "KiB", &v) == -ERANGE);
  CHECK (pool_parse_scaled ("-1", NULL, &v) == -EINVAL);
  CHECK (pool_parse_scaled ("", NULL, &v) == -EINVAL);
  CHECK (pool_parse_scaled (NULL, NULL, &v) == -EINVAL);
  CHECK (pool_parse_scaled ("G", NULL, &v) == -EINVAL);
  CHECK (pool_parse_scaled ("1Q", NULL, &v) == -EINVAL);
  CHECK (pool_parse_scaled ("1GX", NULL, &v) == -EINVAL);
  CHECK (pool_parse_scaled ("1G", "M", &v) == -EINVAL);
  return 0;
}

static int
test_names (void)
{
  CHECK (pool_name_valid ("default"));
  CHECK (pool_name_valid ("a.b-c_d"));
  CHECK (pool_name_valid (".hidden"));
  CHECK (!pool_name_valid (""));
  CHECK (!pool_name_valid (NULL));
  CHECK (!pool_name_valid ("."));
  CHECK (!pool_name_valid (".."));
  CHECK (!pool_name_valid ("a..b"));
  CHECK (!pool_name_valid ("a/b"));
  CHECK (!pool_name_valid ("/"));
  CHECK (!pool_name_valid ("a\nb"));
  CHECK (!pool_name_valid ("a\x7f"));
  {
    char longname[300];
    memset (longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    CHECK (!pool_name_valid (longname));
  }
  CHECK (pool_uuid_valid ("3e3fce45-4f53-4fa7-bb32-11f34168b82b"));
  CHECK (pool_uuid_valid ("3E3FCE45-4F53-4FA7-BB32-11F34168B82B"));
  CHECK (!pool_uuid_valid ("3e3fce45-4f53-4fa7-bb32-11f34168b82"));
  CHECK (!pool_uuid_valid ("3e3fce45x4f53-4fa7-bb32-11f34168b82b"));
  CHECK (!pool_uuid_valid ("ge3fce45-4f53-4fa7-bb32-11f34168b82b"));
  {
    char a[37], b[37];
    CHECK (pool_uuid_generate (a) == 0 && pool_uuid_generate (b) == 0);
    CHECK (pool_uuid_valid (a) && strcmp (a, b) != 0);
    CHECK (a[14] == '4');
  }
  return 0;
}

static int
parse_pool (const char *xml, struct pool_def **d)
{
  return pool_def_parse (xml, strlen (xml), "test.xml", d);
}

static int
test_pool_xml (void)
{
  struct pool_def *d, *d2;
  char *out;

  CHECK (parse_pool ("<pool type='fs'><name> web </name>"
                     "<source><device path='/dev/sdb1'/><format type='xfs'/></source>"
                     "<target><path>/srv/web</path><permissions><mode>0750</mode>"
                     "<owner>107</owner><group>-1</group></permissions></target></pool>", &d) == 0);
  CHECK (!strcmp (d->type, "fs") && !strcmp (d->name, "web"));
  CHECK (d->n_devices == 1 && !strcmp (d->devices[0], "/dev/sdb1"));
  CHECK (!strcmp (d->source_format, "xfs") && !strcmp (d->target, "/srv/web"));
  CHECK (!strcmp (d->mode, "0750") && d->owner == 107 && d->group == -1);
  CHECK (pool_def_validate (d) == 0);
  strcpy (d->uuid, "3e3fce45-4f53-4fa7-bb32-11f34168b82b");
  out = pool_def_format (d, NULL);
  CHECK (out);
  CHECK (parse_pool (out, &d2) == 0);
  CHECK (!strcmp (d2->name, "web") && !strcmp (d2->uuid, d->uuid) && d2->n_devices == 1);
  CHECK (!strcmp (d2->source_format, "xfs") && d2->owner == 107);
  free (out);
  pool_def_free (d2);
  /* Escaping of names and paths. */
  free (d->target);
  d->target = strdup ("/srv/a'b<c>&\"");
  out = pool_def_format (d, NULL);
  CHECK (out && strstr (out, "/srv/a&apos;b&lt;c&gt;&amp;&quot;"));
  CHECK (parse_pool (out, &d2) == 0 && !strcmp (d2->target, "/srv/a'b<c>&\""));
  free (out);
  pool_def_free (d2);
  pool_def_free (d);

  /* Refusals. */
  CHECK (parse_pool ("", &d) == -EINVAL);
  CHECK (parse_pool ("<pool><name>x</name></pool>", &d) == -EINVAL);      /* no type */
  CHECK (strstr (pool_last_error (), "type is missing"));
  CHECK (parse_pool ("<pool type='dir'></pool>", &d) == -EINVAL);         /* no name */
  CHECK (parse_pool ("<pool type='dir'><name>x</name><uuid>1</uuid></pool>", &d) == -EINVAL);
  CHECK (parse_pool ("<pool type='fs'><name>x</name><source><device/></source></pool>", &d)
         == -EINVAL);
  CHECK (strstr (pool_last_error (), "source device path"));
  {
    /* More devices than the cap. */
    char *big = malloc (100000);
    size_t n = 0;
    if (!big)
      return 1;
    n += sprintf (big + n, "<pool type='dir'><name>x</name><source>");
    for (int i = 0; i < POOL_MAX_DEVICES + 1; i++)
      n += sprintf (big + n, "<device path='/dev/d%d'/>", i);
    sprintf (big + n, "</source></pool>");
    CHECK (parse_pool (big, &d) == -EINVAL);
    CHECK (strstr (pool_last_error (), "more than"));
    free (big);
  }
  /* Deep nesting does not crash the parser. */
  {
    size_t depth = 100000;
    char *deep = malloc (depth * 7 + 64);
    size_t n;
    CHECK (deep);
    n = sprintf (deep, "<pool type='dir'><name>x</name>");
    for (size_t i = 0; i < depth; i++)
      n += sprintf (deep + n, "<a>");
    sprintf (deep + n, "</pool>");
    CHECK (parse_pool (deep, &d) < 0);
    free (deep);
  }
  /* validate */
  CHECK (parse_pool ("<pool type='dir'><name>x</name><target><path>/t</path></target>"
                     "<source><format type='ext4'/></source></pool>", &d) == 0);
  CHECK (pool_def_validate (d) == -EINVAL);   /* a dir pool has no source format */
  pool_def_free (d);
  CHECK (parse_pool ("<pool type='dir'><name>x</name><target><path>/t</path>"
                     "<permissions><mode>999</mode></permissions></target></pool>", &d) == 0);
  CHECK (pool_def_validate (d) == -EINVAL);
  CHECK (strstr (pool_last_error (), "malformed octal mode"));
  pool_def_free (d);
  return 0;
}

static int
test_vol_xml (void)
{
  struct vol_def *v;
  const char *x = "<volume type='file'><name>a.qcow2</name>"
    "<capacity unit='G'>10</capacity><allocation unit='MiB'>1</allocation>"
    "<target><format type='qcow2'/></target>"
    "<backingStore><path>/b.raw</path><format type='raw'/></backingStore></volume>";

  CHECK (vol_def_parse (x, strlen (x), "v.xml", &v) == 0);
  CHECK (!strcmp (v->name, "a.qcow2") && v->capacity == 10ULL << 30);
  CHECK (v->has_allocation && v->allocation == 1 << 20);
  CHECK (!strcmp (v->format, "qcow2") && !strcmp (v->backing_path, "/b.raw"));
  CHECK (!strcmp (v->backing_format, "raw"));
  vol_def_free (v);
  x = "<volume><name>a</name></volume>";
  CHECK (vol_def_parse (x, strlen (x), "v.xml", &v) == -EINVAL);
  CHECK (strstr (pool_last_error (), "missing capacity"));
  x = "<volume><name>a</name><capacity unit='parsecs'>1</capacity></volume>";
  CHECK (vol_def_parse (x, strlen (x), "v.xml", &v) == -EINVAL);
  CHECK (strstr (pool_last_error (), "v.xml: <capacity>: unknown size unit 'parsecs'"));
  x = "<pool/>";
  CHECK (vol_def_parse (x, strlen (x), "v.xml", &v) == -EINVAL);
  return 0;
}

static int
sniff (const char *path, size_t off, const void *magic, size_t len, const char *want)
{
  char what[64];
  int fd = open (path, O_RDWR | O_CREAT | O_TRUNC, 0600), r;
  if (fd < 0 || ftruncate (fd, 1 << 20) < 0 || pwrite (fd, magic, len, off) != (ssize_t) len)
    return -1;
  close (fd);
  r = pool_sniff_signature (path, what, sizeof what);
  if (r < 0)
    return r;
  if (want == NULL)
    return r == 0 ? 0 : 1;
  return r == 1 && strcmp (what, want) == 0 ? 0 : 1;
}

static int
test_sniff (void)
{
  char path[] = "/tmp/vdk-sniff-XXXXXX";
  int fd = mkstemp (path);
  char what[64];

  CHECK (fd >= 0);
  close (fd);
  CHECK (sniff (path, 1024 + 56, "\x53\xef", 2, "ext2/3/4 filesystem") == 0);
  CHECK (sniff (path, 0, "XFSB", 4, "xfs filesystem") == 0);
  CHECK (sniff (path, 65536 + 64, "_BHRfS_M", 8, "btrfs filesystem") == 0);
  CHECK (sniff (path, 512, "EFI PART", 8, "GPT partition table") == 0);
  CHECK (sniff (path, 510, "\x55\xaa", 2, "DOS/MBR partition table") == 0);
  CHECK (sniff (path, 536, "LVM2 001", 8, "LVM2 physical volume") == 0);
  CHECK (sniff (path, 4086, "SWAPSPACE2", 10, "swap space") == 0);
  CHECK (sniff (path, 0, "LUKS\xba\xbe", 6, "LUKS volume") == 0);
  CHECK (sniff (path, 4096, "nothing", 7, NULL) == 0);
  /* A short file is fine too. */
  fd = open (path, O_RDWR | O_TRUNC);
  CHECK (fd >= 0 && write (fd, "XF", 2) == 2);
  close (fd);
  CHECK (pool_sniff_signature (path, what, sizeof what) == 0);
  unlink (path);
  CHECK (pool_sniff_signature (path, what, sizeof what) == -ENOENT);
  return 0;
}

/* libdisk's vol: hook (disk_set_spec_resolver). */
static char resolver_dir[64];
static unsigned resolver_flags_seen;

static int
test_resolver (const char *spec, unsigned flags, char **path_out, char *err, size_t errlen)
{
  resolver_flags_seen = flags;
  if (strncmp (spec, "vol:t/", 6) != 0) {
    snprintf (err, errlen, "%s: no such test volume", spec);
    return -ENOENT;
  }
  return asprintf (path_out, "%s/%s", resolver_dir, spec + 6) < 0 ? -ENOMEM : 0;
}

static int
test_spec_hook (void)
{
  struct disk *d;
  char path[128];

  snprintf (resolver_dir, sizeof resolver_dir, "/tmp/vdk-hook-XXXXXX");
  CHECK (mkdtemp (resolver_dir));
  /* No resolver: a clear refusal, not a file named "vol:...". */
  disk_set_spec_resolver (NULL);
  CHECK (disk_open (&d, "vol:t/a.raw", NULL, 0, NULL) == -ENOTSUP);
  CHECK (strstr (disk_last_error (), "vol:t/a.raw: volume specs need the storage pools"));
  disk_set_spec_resolver (test_resolver);
  CHECK (disk_create ("vol:t/a.raw", "raw", 1 << 20, NULL, NULL, NULL, DISK_CREATE_QUIET) == 0);
  CHECK (resolver_flags_seen == DISK_RESOLVE_CREATE);
  snprintf (path, sizeof path, "%s/a.raw", resolver_dir);
  CHECK (access (path, F_OK) == 0);
  CHECK (disk_open (&d, "vol:t/a.raw", NULL, DISK_OPEN_RDWR, NULL) == 0);
  CHECK (resolver_flags_seen == 0);
  CHECK (disk_get_size (d) == 1 << 20 && !strcmp (disk_get_filename (d), path));
  CHECK (disk_close (d) == 0);
  CHECK (disk_open (&d, "vol:other/x", NULL, 0, NULL) == -ENOENT);
  CHECK (!strcmp (disk_last_error (), "vol:other/x: no such test volume"));
  CHECK (disk_remove ("vol:t/a.raw", "raw") == 0);
  CHECK (access (path, F_OK) < 0);
  disk_set_spec_resolver (NULL);
  rmdir (resolver_dir);
  return 0;
}

int
main (void)
{
  if (test_scaled () || test_names () || test_pool_xml () || test_vol_xml () || test_sniff () ||
      test_spec_hook ())
    return 1;
  printf ("OK\n");
  return 0;
}
