/* The "iscsi" pool type: the LUNs of one iSCSI target are the volumes, as in
 * libvirt.  libvirt logs the kernel initiator in (iscsiadm) and lists the SCSI
 * devices that appear; vdk has no kernel initiator, so it talks to the
 * target itself with libiscsi:
 *
 *   start/refresh  log in (CHAP from the pool's <auth> secret, initiator name
 *                  from <initiator>), REPORT LUNS, INQUIRY each LUN, READ
 *                  CAPACITY(16) each disk; LUN 0 when it is the target's
 *                  controller (peripheral device type 0x0c, as tgtd's) and
 *                  any other non-disk LUN are left out.  A volume is named
 *                  as libvirt names it, unit:0:0:LUN.
 *   volume path    (and key) the iscsi:// URL that libdisk opens:
 *                    iscsi://[USER@]HOST:PORT/IQN/LUN?initiator-name=INITIATOR
 *                    [&password-secret=SECRET-UUID]
 *                  With CHAP the URL names the secret (by UUID) instead of
 *                  holding the password: libdisk's iscsi protocol asks the
 *                  program's secret lookup (disk_set_secret_lookup; the vdk
 *                  tool registers the pools' secret store) for the value when
 *                  it logs in, and gives it to libiscsi only.  So the password
 *                  is never on a command line, in a spec, a message, the
 *                  environment or any file but the secret store (0600 in a
 *                  0700 directory).
 *   no volume creation, deletion or resizing, no pool-build (a no-op) or
 *   pool-delete: the LUNs belong to the target, as in libvirt.
 *
 * Nothing stays logged in between commands: every listing is a short login
 * with a finite timeout and no reconnect (as libdisk's iscsi protocol). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../libdisk/lazy/iscsi.h"
#include <libxml/tree.h>

#include "../pool-int.h"
#include "../secret.h"

#define ISCSI_POOL_PORT 3260
#define ISCSI_POOL_TIMEOUT 15                  /* seconds, login and each command */
/* libdisk's default initiator name (libdisk/protocols/iscsi.c). */
#define ISCSI_POOL_INITIATOR "iqn.2025-01.org.vdk:initiator"
#define ISCSI_POOL_INITIATOR_FILE "/etc/iscsi/initiatorname.iscsi"
#define ISCSI_REPORT_LUNS_LEN 16384            /* up to 2047 LUNs at first */
#define ISCSI_REPORT_LUNS_MAX (8 + 8 * 0x4000)  /* every 14-bit LUN */
#define VDK_POOL_MIN(a, b) ((a) < (b) ? (a) : (b))

/* ---- definitions ------------------------------------------------------------ */
/* iSCSI names (iqn., eui., naa.) and what else goes into our URLs: a
 * conservative character set, so that the URL needs no escaping. */
static bool
name_ok (const char *s, const char *extra)
{
  if (!s || !s[0] || strlen (s) > 223)
    return false;
  for (; *s; s++)
    if (!isalnum ((unsigned char) *s) && !strchr (".:-", *s) && !(extra && strchr (extra, *s)))
      return false;
  return true;
}

static int
ip_check (const struct pool_def *d)
{
  if (!d->source_host)
    return pool_err (EINVAL, "pool '%s': missing source host (--source-host)", d->name);
  if (!name_ok (d->source_host, "[]_"))
    return pool_err (EINVAL, "pool '%s': invalid source host '%s'", d->name, d->source_host);
  if (d->source_port < 0 || d->source_port > 65535)
    return pool_err (EINVAL, "pool '%s': invalid port %ld", d->name, d->source_port);
  if (d->n_devices != 1)
    return pool_err (EINVAL, "Expected exactly 1 device for the storage pool");
  if (!name_ok (d->devices[0], NULL))
    return pool_err (EINVAL, "pool '%s': invalid target IQN '%s'", d->name, d->devices[0]);
  if (d->initiator_iqn && !name_ok (d->initiator_iqn, NULL))
    return pool_err (EINVAL, "pool '%s': invalid initiator IQN '%s'", d->name,
                     d->initiator_iqn);
  if (d->auth_type) {
    if (strcmp (d->auth_type, "chap") != 0)
      return pool_err (EINVAL, "pool '%s': iscsi pool only supports 'chap' auth type (not"
                       " '%s')", d->name, d->auth_type);
    if (!d->auth_username || !d->auth_username[0])
      return pool_err (EINVAL, "pool '%s': missing auth username attribute", d->name);
    if (!name_ok (d->auth_username, "_+~!$*,;=") || strlen (d->auth_username) > 200)
      return pool_err (EINVAL, "pool '%s': unsupported characters in the CHAP user name '%s'",
                       d->name, d->auth_username);
    if (!d->auth_secret_usage && !d->auth_secret_uuid)
      return pool_err (EINVAL, "pool '%s': missing auth secret uuid or usage attribute",
                       d->name);
  }
  return 0;
}

/* "[::1]" stays as it is; a bare IPv6 address gets brackets. */
static char *
portal_of (const struct pool_def *d)
{
  char *s;
  bool v6 = strchr (d->source_host, ':') && d->source_host[0] != '[';
  if (asprintf (&s, "%s%s%s:%ld", v6 ? "[" : "", d->source_host, v6 ? "]" : "",
                d->source_port > 0 ? d->source_port : (long) ISCSI_POOL_PORT) < 0)
    return NULL;
  return s;
}

/* The pool's initiator name: <initiator><iqn name=.../>, else the host's
 * (open-iscsi's file, as libvirt uses it), else libdisk's default. */
static char *
initiator_of (const struct pool_def *d)
{
  char *data = NULL, *line, *save = NULL, *out = NULL;

  if (d->initiator_iqn)
    return strdup (d->initiator_iqn);
  if (pool_read_file (ISCSI_POOL_INITIATOR_FILE, 65536, &data, NULL) == 0) {
    for (line = strtok_r (data, "\n", &save); line && !out; line = strtok_r (NULL, "\n", &save)) {
      char *v;
      while (isspace ((unsigned char) *line))
        line++;
      if (strncmp (line, "InitiatorName=", 14) != 0)
        continue;
      v = line + 14;
      v[strcspn (v, " \t\r")] = 0;
      if (name_ok (v, NULL))
        out = strdup (v);
    }
    free (data);
    if (out)
      return out;
  }
  return strdup (ISCSI_POOL_INITIATOR);
}

/* The UUID of the pool's CHAP secret (for the volumes' URLs). */
static int
secret_uuid_of (struct pool *p, char uuid[37])
{
  const struct pool_def *d = p->def;
  struct pool_secret *s = NULL;
  int r;

  if (d->auth_secret_uuid)
    r = pool_secret_lookup (p->ctx, d->auth_secret_uuid, &s);
  else
    r = pool_secret_lookup_by_usage (p->ctx, "iscsi", d->auth_secret_usage, &s);
  if (r < 0)
    return r;
  snprintf (uuid, 37, "%s", s->def->uuid);
  pool_secret_free (s);
  return 0;
}

/* ---- talking to the target ------------------------------------------------------ */
struct ip_session {
  struct iscsi_context *ctx;
  char *portal;
  char *initiator;
  char secret_uuid[37];
};

static void
ip_logout (struct ip_session *s)
{
  if (s->ctx) {
    if (iscsi_is_logged_in (s->ctx))
      iscsi_logout_sync (s->ctx);
    iscsi_destroy_context (s->ctx);
  }
  free (s->portal);
  free (s->initiator);
  memset (s, 0, sizeof *s);
}

/* One clear message for a failed login: what is most likely wrong. */
static int
login_error (struct pool *p, const struct ip_session *s, const char *msg)
{
  const char *what = "login failed";
  char m[512];
  size_t l;
  int e = EIO;

  snprintf (m, sizeof m, "%s", msg ? msg : "");
  for (l = strlen (m); l > 0 && (m[l - 1] == '\n' || m[l - 1] == ' '); l--)
    m[l - 1] = 0;

  if (strstr (m, "uthentication")) {
    e = EACCES;
    what = "authentication failed (CHAP user name or the password in the secret)";
  }
  else if (strstr (m, "not found") || strstr (m, "Not Found")) {
    e = ENOENT;
    what = "target not found or access denied (target IQN, or the initiator is not in"
      " the target's ACL)";
  }
  else if (strstr (m, "timed out") || strstr (m, "imeout")) {
    e = ETIMEDOUT;
    what = "timed out";
  }
  else if (strstr (m, "onnect") || strstr (m, "refused")) {
    /* libiscsi's words for a refused connection are about reconnecting */
    e = ECONNREFUSED;
    return pool_err (e, "pool '%s': cannot connect to the iSCSI portal %s (connection refused"
                     " or unreachable)", p->def->name, s->portal);
  }
  return pool_err (e, "pool '%s': iSCSI login to %s at %s as %s: %s: %s", p->def->name,
                   p->def->devices[0], s->portal, s->initiator, what, m);
}

static int
ip_login (struct pool *p, struct ip_session *s)
{
  const char *lazy;
  const struct pool_def *d = p->def;
  unsigned char *pw = NULL;
  size_t pwlen = 0;
  int r;

  memset (s, 0, sizeof *s);
  if (!(s->portal = portal_of (d)) || !(s->initiator = initiator_of (d))) {
    r = pool_err (ENOMEM, "out of memory");
    goto fail;
  }
  if (d->auth_type) {
    if ((r = secret_uuid_of (p, s->secret_uuid)) < 0 ||
        (r = pool_secret_lookup_uuid (s->secret_uuid, &pw, &pwlen)) < 0) {
      char msg[1024];
      snprintf (msg, sizeof msg, "%s", pool_last_error ());
      r = pool_err (-r, "pool '%s': CHAP secret: %s", d->name, msg);
      goto fail;
    }
    if (memchr (pw, 0, pwlen) || pwlen == 0) {
      r = pool_err (EINVAL, "pool '%s': the CHAP secret %s is empty or holds a NUL byte",
                    d->name, s->secret_uuid);
      goto fail;
    }
  }
  if ((lazy = vdk_lazy_iscsi_load ())) {
    r = pool_err (ELIBACC, "pool '%s': %s", d->name, lazy);
    goto fail;
  }
  s->ctx = iscsi_create_context (s->initiator);
  if (!s->ctx) {
    r = pool_err (ENOMEM, "pool '%s': cannot create an iSCSI context", d->name);
    goto fail;
  }
  if (iscsi_set_targetname (s->ctx, d->devices[0]) != 0 ||
      (pw && iscsi_set_initiator_username_pwd (s->ctx, d->auth_username, (char *) pw) != 0)) {
    r = pool_err (EINVAL, "pool '%s': %s", d->name, iscsi_get_error (s->ctx));
    goto fail;
  }
  pool_secret_value_free (pw, pwlen);
  pw = NULL;
  iscsi_set_session_type (s->ctx, ISCSI_SESSION_NORMAL);
  iscsi_set_header_digest (s->ctx, ISCSI_HEADER_DIGEST_NONE_CRC32C);
  iscsi_set_timeout (s->ctx, ISCSI_POOL_TIMEOUT);
  iscsi_set_reconnect_max_retries (s->ctx, 0);
  iscsi_set_noautoreconnect (s->ctx, 1);
  if (iscsi_full_connect_sync (s->ctx, s->portal, -1) != 0) {
    r = login_error (p, s, iscsi_get_error (s->ctx));
    goto fail;
  }
  return 0;
 fail:
  pool_secret_value_free (pw, pwlen);
  ip_logout (s);
  return r;
}

/* A finished task: 0, or the error (the task is freed then). */
static int
task_ok (struct pool *p, struct ip_session *s, struct scsi_task *t, const char *what, int lun)
{
  int r;
  if (t && t->status == SCSI_STATUS_GOOD)
    return 0;
  if (t && t->status == SCSI_STATUS_CHECK_CONDITION)
    r = pool_err (EIO, "pool '%s': %s of LUN %d failed: %s (%s)", p->def->name, what, lun,
                  scsi_sense_key_str (t->sense.key), scsi_sense_ascq_str (t->sense.ascq));
  else
    r = pool_err (t && t->status == SCSI_STATUS_TIMEOUT ? ETIMEDOUT : EIO,
                  "pool '%s': %s of LUN %d failed: %s", p->def->name, what, lun,
                  iscsi_get_error (s->ctx));
  if (t)
    scsi_free_scsi_task (t);
  return r;
}

/* The iscsi:// URL of LUN: the volume's path and key. */
static char *
lun_url (struct pool *p, const struct ip_session *s, int lun)
{
  const struct pool_def *d = p->def;
  char *u;
  if (asprintf (&u, "iscsi://%s%s%s/%s/%d?initiator-name=%s%s%s",
                d->auth_type ? d->auth_username : "", d->auth_type ? "@" : "", s->portal,
                d->devices[0], lun, s->initiator, d->auth_type ? "&password-secret=" : "",
                d->auth_type ? s->secret_uuid : "") < 0)
    return NULL;
  return u;
}

/* INQUIRY and READ CAPACITY(16) of LUN: 0 and *OUT, or 1 when LUN is not a
 * disk (a controller, a tape...), or -errno. */
static int
probe_lun (struct pool *p, struct ip_session *s, int lun, struct pool_vol **out)
{
  struct scsi_task *t;
  struct pool_vol *v;
  uint64_t size;
  uint32_t bs;
  int r, type, qual;

  *out = NULL;
  t = iscsi_inquiry_sync (s->ctx, lun, 0, 0, 255);
  if ((r = task_ok (p, s, t, "INQUIRY", lun)) < 0)
    return r;
  {
    struct scsi_inquiry_standard *inq = scsi_datain_unmarshall (t);
    type = inq ? (int) inq->device_type : -1;
    qual = inq ? (int) inq->qualifier : -1;
    scsi_free_scsi_task (t);
  }
  if (type < 0)
    return pool_err (EIO, "pool '%s': cannot decode the INQUIRY data of LUN %d",
                     p->def->name, lun);
  /* 0x0c: the storage array controller (tgtd's LUN 0); libvirt lists disks
   * only (and CD-ROMs, which vdk does not read).  Qualifier != 0: no
   * device behind this LUN. */
  if (qual != 0 || type != SCSI_INQUIRY_PERIPHERAL_DEVICE_TYPE_DIRECT_ACCESS)
    return 1;
  /* The first command after a login reports UNIT ATTENTION (power on,
   * bus reset) once per LUN: retry it, a few times at most. */
  for (int tries = 0;; tries++) {
    t = iscsi_readcapacity16_sync (s->ctx, lun);
    if (tries >= 3 || !t || t->status != SCSI_STATUS_CHECK_CONDITION ||
        t->sense.key != SCSI_SENSE_UNIT_ATTENTION)
      break;
    scsi_free_scsi_task (t);
  }
  if ((r = task_ok (p, s, t, "READ CAPACITY(16)", lun)) < 0)
    return r;
  {
    struct scsi_readcapacity16 *rc = scsi_datain_unmarshall (t);
    if (!rc) {
      scsi_free_scsi_task (t);
      return pool_err (EIO, "pool '%s': cannot decode the READ CAPACITY(16) data of LUN %d",
                       p->def->name, lun);
    }
    bs = rc->block_length;
    size = rc->returned_lba;
    scsi_free_scsi_task (t);
  }
  if (bs < 512 || bs > 65536 || (bs & (bs - 1)) || size >= (1ULL << 60) / bs)
    return pool_err (EIO, "pool '%s': LUN %d: implausible capacity (%" PRIu64 " blocks of %"
                     PRIu32 " bytes)", p->def->name, lun, size + 1, bs);
  size = (size + 1) * bs;
  v = calloc (1, sizeof *v);
  if (!v || asprintf (&v->name, "unit:0:0:%d", lun) < 0 || !(v->path = lun_url (p, s, lun)) ||
      !(v->key = strdup (v->path)) || !(v->format = strdup ("raw"))) {
    pool_vol_free (v);
    return pool_err (ENOMEM, "out of memory");
  }
  v->type = "block";
  v->capacity = v->allocation = v->physical = size;
  v->mode = 0600;
  *out = v;
  return 0;
}

/* Every disk LUN; with ONLY >= 0, just that one (*N = 0 if it is not
 * there). */
static int
list_luns (struct pool *p, int only, struct pool_vol ***out, size_t *n)
{
  struct ip_session s;
  struct scsi_task *t = NULL;
  struct pool_vol **v = NULL;
  size_t count = 0, entries;
  uint32_t alloc = ISCSI_REPORT_LUNS_LEN, listlen;
  const unsigned char *data;
  unsigned char seen[0x4000 / 8] = { 0 };
  int r;

  *out = NULL;
  *n = 0;
  if ((r = ip_login (p, &s)) < 0)
    return r;
  /* The data is decoded here, not by libiscsi's unmarshaller, which
   * trusts the target's list length.  A list longer than the buffer is
   * asked for again with a bigger one, up to every 14-bit LUN. */
  for (;;) {
    t = iscsi_reportluns_sync (s.ctx, 0, alloc);
    if ((r = task_ok (p, &s, t, "REPORT LUNS", 0)) < 0) {
      t = NULL;
      goto out;
    }
    if (t->datain.size < 8) {
      r = pool_err (EIO, "pool '%s': short REPORT LUNS data (%d bytes)", p->def->name,
                    t->datain.size);
      goto out;
    }
    data = t->datain.data;
    listlen = (uint32_t) data[0] << 24 | (uint32_t) data[1] << 16 | (uint32_t) data[2] << 8
      | data[3];
    if (listlen <= (uint32_t) t->datain.size - 8 || alloc >= ISCSI_REPORT_LUNS_MAX)
      break;
    alloc = listlen + 8 > ISCSI_REPORT_LUNS_MAX ? ISCSI_REPORT_LUNS_MAX : listlen + 8;
    scsi_free_scsi_task (t);
    t = NULL;
  }
  entries = VDK_POOL_MIN (listlen, (uint32_t) t->datain.size - 8) / 8;
  v = calloc (entries ? entries : 1, sizeof *v);
  if (!v) {
    r = pool_err (ENOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < entries; i++) {
    const unsigned char *e = data + 8 + i * 8;
    int lun = (e[0] & 0x3f) << 8 | e[1];
    /* peripheral (bus 0) and flat addressing; others are not for us */
    if ((e[0] >> 6) > 1 || ((e[0] >> 6) == 0 && e[0] != 0))
      continue;
    if ((only >= 0 && lun != only) || (seen[lun / 8] & (1u << (lun % 8))))
      continue;   /* a hostile target may repeat a LUN */
    seen[lun / 8] |= (unsigned char) (1u << (lun % 8));
    r = probe_lun (p, &s, lun, &v[count]);
    if (r < 0)
      goto out;
    if (r == 0)
      count++;
  }
  r = 0;
 out:
  if (t)
    scsi_free_scsi_task (t);
  ip_logout (&s);
  if (r < 0) {
    pool_vol_list_free (v, count);
    return r;
  }
  *out = v;
  *n = count;
  return 0;
}

/* ---- find-storage-pool-sources: SendTargets discovery ------------------------------- */
#define ISCSI_MAX_DISCOVERED 4096

static int
ip_find_sources (const char *host, const char *port, const char *srcspec_xml, char **xml_out)
{
  const char *lazy;
  struct iscsi_context *ctx = NULL;
  struct iscsi_discovery_address *da = NULL;
  char *initiator = NULL, *portal = NULL, *ehost = NULL, *einit = NULL, *buf = NULL;
  size_t blen = 0, n = 0;
  FILE *f = NULL;
  long portn = ISCSI_POOL_PORT;
  bool have_init;
  int r;

  *xml_out = NULL;
  if (!host || !host[0])
    return pool_err (EINVAL, "hostname must be specified for iscsi sources");
  if (!name_ok (host, "[]_"))
    return pool_err (EINVAL, "invalid host name '%s'", host);
  if (port && port[0]) {
    char *end;
    portn = strtol (port, &end, 10);
    if (*end || portn <= 0 || portn > 65535)
      return pool_err (EINVAL, "invalid port '%s'", port);
  }
  if (srcspec_xml) {
    struct _xmlDoc *doc = pool_xml_parse (srcspec_xml, strlen (srcspec_xml), "the source spec",
                                          "source");
    if (!doc)
      return -pool_last_errno ();
    initiator = pool_xml_attr (pool_xml_child (pool_xml_child (xmlDocGetRootElement (doc),
                                                               "initiator"), "iqn"), "name");
    xmlFreeDoc (doc);
    if (initiator && !name_ok (initiator, NULL)) {
      r = pool_err (EINVAL, "invalid initiator IQN '%s'", initiator);
      goto out;
    }
  }
  have_init = initiator != NULL;
  {
    struct pool_def d = { .source_host = (char *) host, .source_port = portn,
                          .initiator_iqn = initiator };
    char *i2 = initiator_of (&d);
    if (!(portal = portal_of (&d)) || !i2) {
      free (i2);
      r = pool_err (ENOMEM, "out of memory");
      goto out;
    }
    free (initiator);
    initiator = i2;
  }
  if ((lazy = vdk_lazy_iscsi_load ())) {
    r = pool_err (ELIBACC, "%s", lazy);
    goto out;
  }
  ctx = iscsi_create_context (initiator);
  if (!ctx) {
    r = pool_err (ENOMEM, "cannot create an iSCSI context");
    goto out;
  }
  iscsi_set_session_type (ctx, ISCSI_SESSION_DISCOVERY);
  iscsi_set_header_digest (ctx, ISCSI_HEADER_DIGEST_NONE_CRC32C);
  iscsi_set_timeout (ctx, ISCSI_POOL_TIMEOUT);
  iscsi_set_reconnect_max_retries (ctx, 0);
  iscsi_set_noautoreconnect (ctx, 1);
  if (iscsi_connect_sync (ctx, portal) != 0) {
    r = pool_err (ECONNREFUSED, "cannot connect to the iSCSI portal %s (connection refused or"
                  " unreachable)", portal);
    goto out;
  }
  if (iscsi_login_sync (ctx) != 0) {
    r = pool_err (EACCES, "iSCSI discovery login to %s as %s failed: %s", portal, initiator,
                  iscsi_get_error (ctx));
    goto out;
  }
  {
    /* libiscsi returns NULL both for an error and for no targets: an
     * error is a new error message. */
    char before[256];
    const char *m = iscsi_get_error (ctx);
    snprintf (before, sizeof before, "%s", m ? m : "");
    da = iscsi_discovery_sync (ctx);
    m = iscsi_get_error (ctx);
    if (!da && m && m[0] && strncmp (before, m, sizeof before - 1) != 0) {
      r = pool_err (EIO, "iSCSI SendTargets discovery at %s failed: %s", portal, m);
      goto out;
    }
  }
  /* libvirt's <sources>: the spec's host, each target name as a device. */
  if (!(ehost = pool_xml_escape (host)) || !(einit = pool_xml_escape (initiator)) ||
      !(f = open_memstream (&buf, &blen))) {
    r = pool_err (ENOMEM, "out of memory");
    goto out;
  }
  fputs ("<sources>\n", f);
  for (struct iscsi_discovery_address *a = da; a && n < ISCSI_MAX_DISCOVERED; a = a->next, n++) {
    char *t = a->target_name ? pool_xml_escape (a->target_name) : NULL;
    if (!t)
      continue;
    fprintf (f, "  <source>\n    <host name='%s'", ehost);
    if (port && port[0])
      fprintf (f, " port='%ld'", portn);
    fprintf (f, "/>\n    <device path='%s'/>\n", t);
    if (have_init)   /* libvirt copies the spec's initiator */
      fprintf (f, "    <initiator>\n      <iqn name='%s'/>\n    </initiator>\n", einit);
    fputs ("  </source>\n", f);
    free (t);
  }
  fputs ("</sources>\n", f);
  if (fclose (f) != 0) {
    f = NULL;
    r = pool_err (ENOMEM, "out of memory");
    goto out;
  }
  f = NULL;
  *xml_out = buf;
  buf = NULL;
  r = 0;
 out:
  if (f)
    fclose (f);
  free (buf);
  if (ctx) {
    if (da)
      iscsi_free_discovery_data (ctx, da);
    if (iscsi_is_logged_in (ctx))
      iscsi_logout_sync (ctx);
    iscsi_destroy_context (ctx);
  }
  free (portal);
  free (initiator);
  free (ehost);
  free (einit);
  return r;
}

/* ---- the pool type ------------------------------------------------------------ */
static int
ip_build (struct pool *p, unsigned flags)
{
  /* libvirt's iscsi backend has no buildPool: pool-build succeeds and does
   * nothing. */
  (void) p;
  (void) flags;
  return 0;
}

static int
ip_refresh (struct pool *p, struct pool_vol ***out, size_t *n)
{
  return list_luns (p, -1, out, n);
}

/* Starting checks that the target takes our login and lists its LUNs. */
static int
ip_start (struct pool *p)
{
  struct pool_vol **v;
  size_t n;
  int r = list_luns (p, -1, &v, &n);
  if (r == 0)
    pool_vol_list_free (v, n);
  return r;
}

static int
ip_stop (struct pool *p)
{
  (void) p;   /* no session stays open */
  return 0;
}

static int
ip_delete (struct pool *p)
{
  return pool_err (ENOTSUP, "pool '%s': pool does not support pool deletion", p->def->name);
}

/* As libvirt: the capacity is the sum of the LUNs, all of it allocated. */
static int
ip_info (struct pool *p, struct pool_info *info)
{
  struct pool_vol **v;
  size_t n;
  int r = list_luns (p, -1, &v, &n);

  if (r < 0)
    return r;
  info->capacity = info->allocation = info->available = 0;
  for (size_t i = 0; i < n; i++)
    info->capacity += v[i]->capacity;
  info->allocation = info->capacity;
  pool_vol_list_free (v, n);
  return 0;
}

/* "unit:0:0:LUN" -> LUN, or -1. */
static int
lun_of_name (const char *name)
{
  char *end;
  long l;
  if (strncmp (name, "unit:0:0:", 9) != 0 || !isdigit ((unsigned char) name[9]))
    return -1;
  l = strtol (name + 9, &end, 10);
  if (*end || l < 0 || l > 0x3fff || (name[9] == '0' && name[10]))
    return -1;
  return (int) l;
}

static int
ip_vol_lookup (struct pool *p, const char *name, struct pool_vol **out)
{
  struct pool_vol **v;
  size_t n;
  int lun = lun_of_name (name), r;

  *out = NULL;
  if (lun < 0)
    return pool_err (ENOENT, "Storage volume not found: no storage vol with matching name"
                     " '%s'", name);
  if ((r = list_luns (p, lun, &v, &n)) < 0)
    return r;
  if (n == 0) {
    free (v);
    return pool_err (ENOENT, "Storage volume not found: no storage vol with matching name"
                     " '%s'", name);
  }
  *out = v[0];
  v[0] = NULL;
  pool_vol_list_free (v, n);
  return 0;
}

/* Only an existing LUN has a path: vdk create/convert onto vol:POOL/unit:0:0:N
 * writes to it (libdisk's iscsi protocol checks it is big enough). */
static char *
ip_vol_path (struct pool *p, const char *name)
{
  struct pool_vol *v;
  char *s;

  if (ip_vol_lookup (p, name, &v) < 0) {
    if (pool_last_errno () == ENOENT)
      pool_err (ENOTSUP, "storage pool does not support volume creation (no LUN '%s' in"
                " pool '%s')", name, p->def->name);
    return NULL;
  }
  s = v->path;
  v->path = NULL;
  pool_vol_free (v);
  return s;
}

static int
ip_vol_create (struct pool *p, const struct vol_def *d)
{
  (void) p;
  (void) d;
  return pool_err (ENOTSUP, "storage pool does not support volume creation");
}

static int
ip_vol_delete (struct pool *p, struct pool_vol *v)
{
  (void) p;
  (void) v;
  return pool_err (ENOTSUP, "storage pool does not support vol deletion");
}

static int
ip_vol_resize (struct pool *p, struct pool_vol *v, uint64_t capacity, unsigned flags)
{
  (void) p;
  (void) v;
  (void) capacity;
  (void) flags;
  return pool_err (ENOTSUP, "storage pool does not support changing of volume capacity");
}

/* iSCSI has no OFD locks to look at; a LUN in use elsewhere is the
 * target's business (reservations), as with libvirt. */
static int
ip_vol_check_not_in_use (struct pool *p, struct pool_vol *v)
{
  (void) p;
  (void) v;
  return 0;
}

const struct pool_type_ops pool_type_iscsi = {
  .name = "iscsi",
  .needs_device = true,
  .check = ip_check,
  .build = ip_build,
  .start = ip_start,
  .stop = ip_stop,
  .delete = ip_delete,
  .info = ip_info,
  .refresh = ip_refresh,
  .vol_lookup = ip_vol_lookup,
  .vol_path = ip_vol_path,
  .vol_create = ip_vol_create,
  .vol_delete = ip_vol_delete,
  .vol_resize = ip_vol_resize,
  .vol_wipe = pool_file_vol_wipe,
  .vol_check_not_in_use = ip_vol_check_not_in_use,
  .shared_target = true,
  .find_sources = ip_find_sources,
};
