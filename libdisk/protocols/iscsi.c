/* The "iscsi" protocol: a LUN of an iSCSI target through libiscsi.
 *
 *   iscsi://[user[%password]@]host[:port]/target-iqn/lun[?options]
 *
 * Options in the query: libiscsi's own (target_user=, target_password= for
 * mutual CHAP, header_digest=...) plus vdk's:
 *   initiator-name=IQN   the initiator name (ACLs); default VDK_ISCSI_INITIATOR
 *   timeout=SECONDS      per-command and login timeout (default 15; 0 is refused)
 *   password-secret=ID   the CHAP password is the secret ID of the program's
 *                        secret store (disk_set_secret_lookup; vdk: a secret's
 *                        UUID), the user name the URL's (iscsi://user@host/...)
 * CHAP credentials can also come from LIBISCSI_CHAP_USERNAME/PASSWORD.
 *
 * libiscsi's defaults wait forever and reconnect forever when a target goes
 * away; here every command has a timeout and there is no reconnect, so a
 * vanished target gives an error.  I/O uses READ(16)/WRITE(16), flush
 * SYNCHRONIZE CACHE(16), discard UNMAP, zeroes WRITE SAME(16), block status
 * GET LBA STATUS when the LUN is thin-provisioned (LBPME).  LUNs are not
 * created or resized by vdk: "create" checks that the LUN exists.
 *
 * Like nfs.c, one context per node; once async I/O starts, a loop thread
 * (netio.c) owns it and synchronous calls run there too. */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"
#include "../lazy/iscsi.h"
#include "netio.h"

#define VDK_ISCSI_INITIATOR "iqn.2025-01.org.vdk:initiator"
#define ISCSI_DEFAULT_TIMEOUT 15
#define ISCSI_MAX_CHUNK (4u << 20)   /* per READ/WRITE when the target sets no limit */
#define ISCSI_MAX_ZERO_CHUNK (64u << 20)

struct iscsi_priv {
  struct iscsi_context *ctx;
  int lun;
  uint32_t bs;
  uint64_t nblocks;
  uint32_t max_xfer;          /* bytes per READ/WRITE command */
  uint64_t max_ws;            /* blocks per WRITE SAME */
  uint32_t max_unmap;         /* blocks per UNMAP */
  bool lbpme, lbprz, lbpu, lbpws;
  bool no_ws, no_unmap, no_lba_status;
  unsigned char *zero_block;
  struct vdk_netloop *loop;
  bool no_loop;
  bool early_sync;            /* cache=writeback: see EARLY_SYNC */
  uint64_t unsynced;          /* bytes written since the last early SYNCHRONIZE CACHE */
  int early_err;              /* its failure (atomic), returned by the next flush */
};

/* With cache=writeback, a SYNCHRONIZE CACHE is sent (without waiting for
 * it) after every EARLY_SYNC bytes written, so that the target writes the
 * data out while more arrives and the final one (convert's flush) finds
 * little left to do.  Against tgtd on this machine, convert -n -t writeback
 * of 128 MiB of data (and 128 MiB of holes): none 0.23-0.27 s, every 32 MiB
 * 0.19-0.22 s, every 8 MiB 0.17-0.19 s (4 MiB the same); qemu-img 0.28-0.30
 * s.  An early one's failure is returned by the next flush: a write-back
 * error is reported once. */
#define EARLY_SYNC (8u << 20)

/* Split our own options out of the query; the rest goes to libiscsi. */
static int
split_url (const char *url, char **lib_url, char **initiator, int *timeout, char **secret)
{
  char *tmp, *tmp2, *tmo;

  *timeout = ISCSI_DEFAULT_TIMEOUT;
  if (vdk_url_take_param (url, "password-secret", &tmp2, secret) < 0)
    return vdk_err (ENOMEM, "out of memory");
  if (vdk_url_take_param (tmp2, "initiator-name", &tmp, initiator) < 0) {
    free (tmp2);
    free (*secret);
    return vdk_err (ENOMEM, "out of memory");
  }
  free (tmp2);
  if (vdk_url_take_param (tmp, "timeout", lib_url, &tmo) < 0) {
    free (tmp);
    free (*initiator);
    free (*secret);
    return vdk_err (ENOMEM, "out of memory");
  }
  free (tmp);
  if (tmo) {
    char *end;
    long t = strtol (tmo, &end, 10);
    if (*end || end == tmo || t <= 0 || t > 3600) {
      int r = vdk_err (EINVAL, "%s: invalid timeout '%s' (1-3600 seconds)", url, tmo);
      free (tmo);
      free (*lib_url);
      free (*initiator);
      free (*secret);
      return r;
    }
    *timeout = (int) t;
    free (tmo);
  }
  if ((*initiator && !**initiator) || (*secret && !**secret)) {
    int r = vdk_err (EINVAL, "%s: empty %s", url, *secret && !**secret ? "password-secret"
                     : "initiator-name");
    free (*lib_url);
    free (*initiator);
    free (*secret);
    return r;
  }
  return 0;
}

/* The user name of iscsi://user@host/... (without a password), or NULL. */
static char *
url_user (const char *url)
{
  const char *u = strstr (url, "://"), *end;
  if (!u)
    return NULL;
  u += 3;
  end = u + strcspn (u, "@/?");
  if (*end != '@' || end == u || memchr (u, '%', end - u))
    return NULL;
  return strndup (u, end - u);
}

static int
sense_errno (struct scsi_task *t)
{
  if (t->status == SCSI_STATUS_CHECK_CONDITION) {
    switch (t->sense.key) {
    case SCSI_SENSE_ILLEGAL_REQUEST: return EINVAL;
    case SCSI_SENSE_DATA_PROTECTION: return EROFS;
    case SCSI_SENSE_NOT_READY: return EAGAIN;
    default: return EIO;
    }
  }
  if (t->status == SCSI_STATUS_TIMEOUT)
    return ETIMEDOUT;
  if (t->status == SCSI_STATUS_RESERVATION_CONFLICT)
    return EBUSY;
  return EIO;
}

/* Check a finished synchronous task; on failure set the message and free it. */
static int
task_check (struct iscsi_context *ctx, const char *url, struct scsi_task *t,
            const char *what, uint64_t lba)
{
  int e;

  if (!t)
    return vdk_err (EIO, "%s: %s at LBA %" PRIu64 " failed: %s", url, what, lba,
                    iscsi_get_error (ctx));
  if (t->status == SCSI_STATUS_GOOD)
    return 0;
  e = sense_errno (t);
  if (t->status == SCSI_STATUS_CHECK_CONDITION)
    vdk_err (e, "%s: %s at LBA %" PRIu64 " failed: %s (%s)", url, what, lba,
             scsi_sense_key_str (t->sense.key), scsi_sense_ascq_str (t->sense.ascq));
  else
    vdk_err (e, "%s: %s at LBA %" PRIu64 " failed: %s", url, what, lba,
             iscsi_get_error (ctx));
  scsi_free_scsi_task (t);
  return -e;
}

/* Log in; on success *CTXP is logged in to the LUN *LUNP. */
static int
lun_connect (const char *url, bool allow_secret, struct iscsi_context **ctxp, int *lunp)
{
  const char *lazy;
  char *lib_url = NULL, *initiator = NULL, *secret = NULL, *user = NULL, *pw = NULL;
  struct iscsi_context *ctx;
  struct iscsi_url *u;
  int timeout, r;

  r = split_url (url, &lib_url, &initiator, &timeout, &secret);
  if (r < 0)
    return r;
  /* The password is looked up by name and handed to libiscsi only: it
   * never becomes part of a URL, so no message can show it. */
  if (secret) {
    if (!allow_secret) {
      r = vdk_err (EPERM, "%s: password-secret is not allowed in a name read from an image"
                   " (backing file, extent): the image could send the secret to any host", url);
      goto out;
    }
    if (!(user = url_user (lib_url))) {
      r = vdk_err (EINVAL, "%s: password-secret needs the CHAP user name in the URL"
                   " (iscsi://user@host/...) and no password there", url);
      goto out;
    }
    if ((r = vdk_secret_lookup (secret, url, &pw)) < 0)
      goto out;
  }
  if ((lazy = vdk_lazy_iscsi_load ())) {
    r = vdk_err (ELIBACC, "%s: %s", url, lazy);
    goto out;
  }
  ctx = iscsi_create_context (initiator ? initiator : VDK_ISCSI_INITIATOR);
  if (!ctx) {
    r = vdk_err (ENOMEM, "%s: cannot create an iSCSI context", url);
    goto out;
  }
  u = iscsi_parse_full_url (ctx, lib_url);
  if (!u) {
    r = vdk_err (EINVAL, "%s: invalid iSCSI URL (expected iscsi://[user%%password@]host[:port]"
                 "/target-iqn/lun): %s", url, iscsi_get_error (ctx));
    iscsi_destroy_context (ctx);
    goto out;
  }
  if (pw && iscsi_set_initiator_username_pwd (ctx, user, pw) != 0) {
    r = vdk_err (EINVAL, "%s: cannot set the CHAP credentials: %s", url, iscsi_get_error (ctx));
    iscsi_destroy_url (u);
    iscsi_destroy_context (ctx);
    goto out;
  }
  iscsi_set_session_type (ctx, ISCSI_SESSION_NORMAL);
  iscsi_set_header_digest (ctx, ISCSI_HEADER_DIGEST_NONE_CRC32C);
  iscsi_set_timeout (ctx, timeout);
  iscsi_set_reconnect_max_retries (ctx, 0);
  iscsi_set_noautoreconnect (ctx, 1);
  if (iscsi_full_connect_sync (ctx, u->portal, u->lun) != 0) {
    const char *m = iscsi_get_error (ctx);
    int e = EIO;
    const char *what = "login failed";
    if (strstr (m, "uthentication")) {
      e = EACCES;
      what = "authentication failed (CHAP user or password)";
    }
    else if (strstr (m, "not found") || strstr (m, "Not Found")) {
      e = ENOENT;
      what = "target not found or access denied (target name, initiator ACL)";
    }
    else if (strstr (m, "LOGICAL_UNIT_NOT_SUPPORTED")) {
      e = ENOENT;
      what = "no such LUN on target";
    }
    else if (strstr (m, "onnect") || strstr (m, "refused")) {
      e = ECONNREFUSED;
      what = "cannot connect (connection refused or target unreachable)";
    }
    r = vdk_err (e, "%s: %s: %s, portal %s: %s", url, what, u->target, u->portal, m);
    iscsi_destroy_url (u);
    iscsi_destroy_context (ctx);
    goto out;
  }
  *lunp = u->lun;
  *ctxp = ctx;
  iscsi_destroy_url (u);
  r = 0;
 out:
  free (lib_url);
  free (initiator);
  free (secret);
  free (user);
  vdk_secret_free (pw);
  return r;
}

static void
lun_disconnect (struct iscsi_context *ctx)
{
  if (!ctx)
    return;
  if (iscsi_is_logged_in (ctx))
    iscsi_logout_sync (ctx);
  iscsi_destroy_context (ctx);
}

/* INQUIRY, READ CAPACITY(16), the VPD pages: fill P. */
static int
iscsi_probe_lun (const char *url, struct iscsi_priv *p)
{
  struct scsi_task *t;
  int r;

  t = iscsi_inquiry_sync (p->ctx, p->lun, 0, 0, 255);
  if ((r = task_check (p->ctx, url, t, "INQUIRY", 0)) < 0)
    return r;
  {
    struct scsi_inquiry_standard *inq = scsi_datain_unmarshall (t);
    int type = inq ? (int) inq->device_type : -1;
    scsi_free_scsi_task (t);
    if (type != SCSI_INQUIRY_PERIPHERAL_DEVICE_TYPE_DIRECT_ACCESS)
      return vdk_err (ENODEV, "%s: LUN %d is not a disk (peripheral device type %#x%s)", url,
                      p->lun, (unsigned) type,
                      type == 0x0c ? ", a storage array controller" : "");
  }
  t = iscsi_readcapacity16_sync (p->ctx, p->lun);
  if ((r = task_check (p->ctx, url, t, "READ CAPACITY(16)", 0)) < 0)
    return r;
  {
    struct scsi_readcapacity16 *rc = scsi_datain_unmarshall (t);
    if (!rc) {
      scsi_free_scsi_task (t);
      return vdk_err (EIO, "%s: cannot decode READ CAPACITY(16) data", url);
    }
    p->bs = rc->block_length;
    p->nblocks = rc->returned_lba + 1;
    p->lbpme = rc->lbpme;
    p->lbprz = rc->lbprz;
    scsi_free_scsi_task (t);
  }
  if (p->bs < 512 || p->bs > 65536 || !VDK_IS_POW2 (p->bs))
    return vdk_err (EINVAL, "%s: unsupported block size %u", url, p->bs);
  if (p->nblocks > VDK_MAX_IMAGE_SIZE / p->bs)
    return vdk_err (EINVAL, "%s: LUN size is too large", url);
  p->max_xfer = ISCSI_MAX_CHUNK;
  p->max_ws = ISCSI_MAX_ZERO_CHUNK / p->bs;
  p->max_unmap = ISCSI_MAX_ZERO_CHUNK / p->bs;
  /* Block limits: optional. */
  t = iscsi_inquiry_sync (p->ctx, p->lun, 1, SCSI_INQUIRY_PAGECODE_BLOCK_LIMITS, 255);
  if (t && t->status == SCSI_STATUS_GOOD) {
    struct scsi_inquiry_block_limits *bl = scsi_datain_unmarshall (t);
    if (bl) {
      if (bl->max_xfer_len && (uint64_t) bl->max_xfer_len * p->bs < p->max_xfer)
        p->max_xfer = bl->max_xfer_len * p->bs;
      if (bl->max_ws_len && bl->max_ws_len < p->max_ws)
        p->max_ws = bl->max_ws_len;
      if (bl->max_unmap && bl->max_unmap != 0xffffffffu && bl->max_unmap < p->max_unmap)
        p->max_unmap = bl->max_unmap;
    }
  }
  if (t)
    scsi_free_scsi_task (t);
  if (p->max_xfer < p->bs)
    p->max_xfer = p->bs;
  if (p->lbpme) {
    t = iscsi_inquiry_sync (p->ctx, p->lun, 1, SCSI_INQUIRY_PAGECODE_LOGICAL_BLOCK_PROVISIONING,
                            255);
    if (t && t->status == SCSI_STATUS_GOOD) {
      struct scsi_inquiry_logical_block_provisioning *lbp = scsi_datain_unmarshall (t);
      if (lbp) {
        p->lbpu = lbp->lbpu;
        p->lbpws = lbp->lbpws;
      }
    }
    if (t)
      scsi_free_scsi_task (t);
  }
  return 0;
}

static int
iscsi_proto_open (struct vdk_node *n, struct vdk_opts *opts, unsigned flags)
{
  const char *fn = vdk_opts_take (opts, "filename");
  struct iscsi_priv *p;
  int r;

  if (fn && !n->filename && !(n->filename = strdup (fn)))
    return vdk_err (ENOMEM, "out of memory");
  if (!n->filename)
    return vdk_err (EINVAL, "iscsi: no URL given");
  p = calloc (1, sizeof *p);
  if (!p)
    return vdk_err (ENOMEM, "out of memory");
  r = lun_connect (n->filename, !(flags & VDK_O_FROM_IMAGE), &p->ctx, &p->lun);
  if (r < 0) {
    free (p);
    return r;
  }
  p->early_sync = (flags & VDK_O_RDWR) && !(flags & (VDK_O_UNSAFE | VDK_O_WRITETHROUGH));
  r = iscsi_probe_lun (n->filename, p);
  if (r < 0)
    goto err;
  p->zero_block = calloc (1, p->bs);
  if (!p->zero_block) {
    r = vdk_err (ENOMEM, "out of memory");
    goto err;
  }
  n->size = p->nblocks * p->bs;
  n->request_align = p->bs;
  n->no_zero_init = true;   /* a LUN keeps whatever it held */
  n->priv = p;
  return 0;
 err:
  lun_disconnect (p->ctx);
  free (p);
  return r;
}

static void
iscsi_proto_close (struct vdk_node *n)
{
  struct iscsi_priv *p = n->priv;

  if (!p)
    return;
  if (p->loop && vdk_netloop_dead (p->loop)) {
    vdk_netloop_free (p->loop);
    iscsi_destroy_context (p->ctx);   /* no LOGOUT on a dead connection */
  }
  else {
    vdk_netloop_free (p->loop);
    lun_disconnect (p->ctx);
  }
  free (p->zero_block);
  free (p);
}

/* ---- synchronous I/O ----------------------------------------------------- */

static int
rw_blocks (struct vdk_node *n, bool write, void *buf, size_t len, uint64_t off, bool fua)
{
  struct iscsi_priv *p = n->priv;

  while (len > 0) {
    size_t l = VDK_MIN (len, (size_t) p->max_xfer);
    uint64_t lba = off / p->bs;
    struct scsi_task *t;
    int r;

    if (write)
      t = iscsi_write16_sync (p->ctx, p->lun, lba, buf, l, p->bs, 0, 0, fua, 0, 0);
    else
      t = iscsi_read16_sync (p->ctx, p->lun, lba, l, p->bs, 0, 0, 0, 0, 0);
    r = task_check (p->ctx, n->filename, t, write ? "WRITE(16)" : "READ(16)", lba);
    if (r < 0)
      return r;
    if (!write) {
      if (t->datain.size != (int) l) {
        scsi_free_scsi_task (t);
        return vdk_err (EIO, "%s: READ(16) at LBA %" PRIu64 " returned %d of %zu bytes",
                        n->filename, lba, t->datain.size, l);
      }
      memcpy (buf, t->datain.data, l);
    }
    scsi_free_scsi_task (t);
    buf = (char *) buf + l;
    len -= l;
    off += l;
  }
  return 0;
}

/* Unaligned requests go through a bounce buffer (read-modify-write). */
static int
iscsi_rw (struct vdk_node *n, bool write, void *buf, size_t len, uint64_t off, bool fua)
{
  struct iscsi_priv *p = n->priv;
  uint64_t start = VDK_ROUND_DOWN (off, p->bs);
  uint64_t end = VDK_ROUND_UP (off + len, p->bs);
  char *b;
  int r;

  if (start == off && end == off + len)
    return rw_blocks (n, write, buf, len, off, fua);
  if (end - start > (64u << 20))
    return vdk_err (EINVAL, "%s: unaligned request too large", n->filename);
  b = malloc (end - start);
  if (!b)
    return vdk_err (ENOMEM, "out of memory");
  r = rw_blocks (n, false, b, end - start, start, false);
  if (r == 0 && write) {
    memcpy (b + (off - start), buf, len);
    r = rw_blocks (n, true, b, end - start, start, fua);
  }
  else if (r == 0)
    memcpy (buf, b + (off - start), len);
  free (b);
  return r;
}

static int
do_flush (struct vdk_node *n)
{
  struct iscsi_priv *p = n->priv;
  struct scsi_task *t = iscsi_synchronizecache16_sync (p->ctx, p->lun, 0, 0, 0, 0);
  int r = task_check (p->ctx, n->filename, t, "SYNCHRONIZE CACHE(16)", 0);
  if (r < 0)
    return r;
  scsi_free_scsi_task (t);
  if ((r = __atomic_exchange_n (&p->early_err, 0, __ATOMIC_ACQ_REL)) < 0)
    return vdk_err (-r, "%s: SYNCHRONIZE CACHE(16): %s", n->filename, strerror (-r));
  return 0;
}

static int
do_discard (struct vdk_node *n, uint64_t off, uint64_t len)
{
  struct iscsi_priv *p = n->priv;
  uint64_t start = VDK_ROUND_UP (off, p->bs), end = VDK_ROUND_DOWN (off + len, p->bs);

  if (!p->lbpu || p->no_unmap)
    return -ENOTSUP;
  for (uint64_t lba = start / p->bs; lba < end / p->bs;) {
    struct unmap_list ul = { .lba = lba, .num = (uint32_t) VDK_MIN ((uint64_t) p->max_unmap,
                                                                    end / p->bs - lba) };
    struct scsi_task *t = iscsi_unmap_sync (p->ctx, p->lun, 0, 0, &ul, 1);
    if (t && t->status == SCSI_STATUS_CHECK_CONDITION &&
        t->sense.key == SCSI_SENSE_ILLEGAL_REQUEST) {
      scsi_free_scsi_task (t);
      p->no_unmap = true;
      return -ENOTSUP;
    }
    int r = task_check (p->ctx, n->filename, t, "UNMAP", lba);
    if (r < 0)
      return r;
    scsi_free_scsi_task (t);
    lba += ul.num;
  }
  return 0;
}

/* WRITE SAME commands in flight at once (one range is cut into several:
 * the target works on them in parallel). */
#define WS_PARALLEL 8
#define WS_PIECE (8u << 20)

struct ws_batch {
  unsigned pending;
  int err;                     /* first error (errno), 0 */
  bool illegal;                /* ILLEGAL REQUEST: not supported */
  uint64_t err_lba;
  char msg[256];
};

struct ws_cmd {
  struct ws_batch *b;
  uint64_t lba;
};

static void
ws_cb (struct iscsi_context *ctx, int status, void *data, void *private_data)
{
  struct ws_cmd *c = private_data;
  struct ws_batch *b = c->b;
  struct scsi_task *t = data;

  b->pending--;
  if (status != SCSI_STATUS_GOOD && !b->err && !b->illegal) {
    if (t && t->status == SCSI_STATUS_CHECK_CONDITION &&
        t->sense.key == SCSI_SENSE_ILLEGAL_REQUEST)
      b->illegal = true;
    else {
      b->err = t ? sense_errno (t) : EIO;
      b->err_lba = c->lba;
      if (t && t->status == SCSI_STATUS_CHECK_CONDITION)
        snprintf (b->msg, sizeof b->msg, "%s (%s)", scsi_sense_key_str (t->sense.key),
                  scsi_sense_ascq_str (t->sense.ascq));
      else
        snprintf (b->msg, sizeof b->msg, "%s", iscsi_get_error (ctx));
    }
  }
  if (t)
    scsi_free_scsi_task (t);
  free (c);
}

/* Service the context once (on the thread that owns it: the loop's, or
 * the caller's before the loop starts); other async tasks complete too, as
 * in libiscsi's own synchronous calls.  -1: the connection is gone (every
 * task has been failed through its callback). */
static int
ws_service (struct iscsi_context *ctx, struct ws_batch *b)
{
  struct pollfd pfd = { .fd = iscsi_get_fd (ctx), .events = (short) iscsi_which_events (ctx) };

  if (poll (&pfd, 1, 100) <= 0)
    pfd.revents = 0;     /* a tick: drives libiscsi's timeouts */
  if (iscsi_service (ctx, pfd.revents) < 0) {
    iscsi_scsi_cancel_all_tasks (ctx);
    if (!b->err) {
      b->err = ECONNRESET;
      snprintf (b->msg, sizeof b->msg, "%s", iscsi_get_error (ctx));
    }
    return -1;
  }
  return 0;
}

static int
do_write_zeroes (struct vdk_node *n, uint64_t off, uint64_t len, unsigned flags)
{
  struct iscsi_priv *p = n->priv;
  bool unmap = (flags & DISK_MAY_UNMAP) && p->lbpws && p->lbprz;
  uint64_t piece = VDK_MIN (p->max_ws, (uint64_t) WS_PIECE / p->bs);
  struct ws_batch b = { 0 };

  if (off % p->bs || len % p->bs)
    return -ENOTSUP;      /* the core writes zero buffers */
  if (!vdk_range_ok (off, len, n->size))
    return vdk_err (EINVAL, "%s: cannot write zeroes beyond the end of the LUN", n->filename);
  if (p->no_ws)
    return -ENOTSUP;
  if (piece == 0)
    piece = 1;
  for (uint64_t lba = off / p->bs, endl = (off + len) / p->bs; lba < endl && !b.err && !b.illegal;) {
    uint32_t num = (uint32_t) VDK_MIN (piece, endl - lba);
    struct ws_cmd *c = malloc (sizeof *c);
    struct scsi_task *t;
    if (!c) {
      b.err = ENOMEM;
      snprintf (b.msg, sizeof b.msg, "out of memory");
      break;
    }
    *c = (struct ws_cmd) { .b = &b, .lba = lba };
    t = iscsi_writesame16_task (p->ctx, p->lun, lba, p->zero_block, p->bs, num, 0, unmap, 0, 0,
                                ws_cb, c);
    if (!t) {
      free (c);
      b.err = EIO;
      b.err_lba = lba;
      snprintf (b.msg, sizeof b.msg, "%s", iscsi_get_error (p->ctx));
      break;
    }
    b.pending++;
    lba += num;
    /* a window of commands in flight */
    while (b.pending >= WS_PARALLEL && !b.err && !b.illegal)
      if (ws_service (p->ctx, &b) < 0)
        break;
  }
  while (b.pending > 0)
    if (ws_service (p->ctx, &b) < 0)
      break;
  if (b.illegal && !b.err) {
    p->no_ws = true;
    return -ENOTSUP;
  }
  if (b.err)
    return vdk_err (b.err, "%s: WRITE SAME(16) at LBA %" PRIu64 " failed: %s", n->filename,
                    b.err_lba, b.msg);
  return 0;
}

static int
do_block_status (struct vdk_node *n, uint64_t off, uint64_t len, struct vdk_extent *e)
{
  struct iscsi_priv *p = n->priv;
  uint64_t lba = off / p->bs;
  struct scsi_task *t;
  struct scsi_get_lba_status *ls;

  e->off = off;
  e->host = off;
  e->child = NULL;
  e->kind = VDK_EXT_DATA;
  e->len = len;
  if (!p->lbpme || p->no_lba_status)
    return 0;
  if (off % p->bs) {     /* partial first block: data up to the boundary */
    e->len = VDK_MIN (len, p->bs - off % p->bs);
    return 0;
  }
  t = iscsi_get_lba_status_sync (p->ctx, p->lun, lba, 8 + 16);
  if (!t || t->status != SCSI_STATUS_GOOD) {
    if (t && t->status == SCSI_STATUS_CHECK_CONDITION &&
        t->sense.key == SCSI_SENSE_ILLEGAL_REQUEST)
      p->no_lba_status = true;
    else if (!t || t->status != SCSI_STATUS_CHECK_CONDITION)
      return task_check (p->ctx, n->filename, t, "GET LBA STATUS", lba);
    scsi_free_scsi_task (t);
    return 0;
  }
  ls = scsi_datain_unmarshall (t);
  if (ls && ls->num_descriptors > 0) {
    struct scsi_lba_status_descriptor *d = &ls->descriptors[0];
    if (d->lba <= lba && d->lba + d->num_blocks > lba) {
      uint64_t end = (d->lba + d->num_blocks) * p->bs;
      e->len = VDK_MIN (len, end - off);
      if (d->provisioning != SCSI_PROVISIONING_TYPE_MAPPED && p->lbprz)
        e->kind = VDK_EXT_ZERO;
    }
  }
  scsi_free_scsi_task (t);
  return 0;
}

static int
do_truncate (struct vdk_node *n, uint64_t size)
{
  struct iscsi_priv *p = n->priv;
  if (size > p->nblocks * p->bs)
    return vdk_err (ENOSPC, "%s: the LUN has only %" PRIu64 " bytes, %" PRIu64 " are needed;"
                    " iSCSI LUNs cannot be resized by vdk", n->filename, p->nblocks * p->bs, size);
  n->size = size;   /* a view of the first SIZE bytes, like a block device */
  return 0;
}

/* ---- calls through the loop thread once it runs ---------------------------- */

struct iscsi_call {
  enum { C_READ, C_WRITE, C_FLUSH, C_DISCARD, C_ZERO, C_STATUS, C_TRUNCATE } op;
  struct vdk_node *n;
  void *buf;
  size_t len;
  uint64_t off;
  unsigned flags;
  struct vdk_extent *e;
};

static int64_t
call_run (void *opaque)
{
  struct iscsi_call *c = opaque;
  switch (c->op) {
  case C_READ: return iscsi_rw (c->n, false, c->buf, c->len, c->off, false);
  case C_WRITE: return iscsi_rw (c->n, true, c->buf, c->len, c->off, c->flags & DISK_FUA);
  case C_FLUSH: return do_flush (c->n);
  case C_DISCARD: return do_discard (c->n, c->off, c->len);
  case C_ZERO: return do_write_zeroes (c->n, c->off, c->len, c->flags);
  case C_STATUS: return do_block_status (c->n, c->off, c->len, c->e);
  case C_TRUNCATE: return do_truncate (c->n, c->off);
  }
  return -EINVAL;
}

static int
call (struct iscsi_call *c)
{
  struct iscsi_priv *p = c->n->priv;
  return p->loop ? vdk_netloop_call (p->loop, call_run, c) : call_run (c);
}

static int
iscsi_proto_pread (struct vdk_node *n, void *buf, size_t len, uint64_t off)
{
  struct iscsi_call c = { .op = C_READ, .n = n, .buf = buf, .len = len, .off = off };
  return call (&c);
}

static int
iscsi_proto_pwrite (struct vdk_node *n, const void *buf, size_t len, uint64_t off, unsigned flags)
{
  struct iscsi_priv *p = n->priv;
  struct iscsi_call c = { .op = C_WRITE, .n = n, .buf = (void *) buf, .len = len, .off = off,
                          .flags = flags };
  int r;

  /* Like a block device: the node may be a shorter view of the LUN (after
   * truncate); writes past the view extend it, up to the LUN's capacity. */
  if (!vdk_range_ok (off, len, p->nblocks * p->bs))
    return vdk_err (ENOSPC, "%s: write at offset %" PRIu64 " beyond the end of the LUN"
                    " (%" PRIu64 " bytes)", n->filename, off, p->nblocks * p->bs);
  r = call (&c);
  if (r == 0 && off + len > n->size)
    n->size = off + len;
  return r;
}

static int
iscsi_proto_flush (struct vdk_node *n)
{
  struct iscsi_call c = { .op = C_FLUSH, .n = n };
  return call (&c);
}

static int
iscsi_proto_discard (struct vdk_node *n, uint64_t off, uint64_t len)
{
  struct iscsi_call c = { .op = C_DISCARD, .n = n, .len = len, .off = off };
  return call (&c);
}

static int
iscsi_proto_write_zeroes (struct vdk_node *n, uint64_t off, uint64_t len, unsigned flags)
{
  struct iscsi_call c = { .op = C_ZERO, .n = n, .len = len, .off = off, .flags = flags };
  return call (&c);
}

static int
iscsi_proto_block_status (struct vdk_node *n, uint64_t off, uint64_t len, struct vdk_extent *e)
{
  struct iscsi_call c = { .op = C_STATUS, .n = n, .len = len, .off = off, .e = e };
  return call (&c);
}

static int
iscsi_proto_truncate (struct vdk_node *n, uint64_t size, enum vdk_prealloc pa)
{
  struct iscsi_call c = { .op = C_TRUNCATE, .n = n, .off = size };
  (void) pa;
  return call (&c);
}

static int64_t
iscsi_proto_get_allocated (struct vdk_node *n)
{
  return n->size;
}

/* LUNs exist on the target: "create" only checks that this one does. */
static int
iscsi_proto_create (const char *filename, struct vdk_opts *opts)
{
  struct iscsi_priv p = { 0 };
  int r;

  (void) opts;
  r = lun_connect (filename, true, &p.ctx, &p.lun);
  if (r == 0) {
    r = iscsi_probe_lun (filename, &p);
    lun_disconnect (p.ctx);
  }
  if (r < 0) {
    /* "URL: problem" -> "URL: cannot use this LUN (...): problem" */
    char msg[1024];
    const char *m = disk_last_error ();
    size_t fl = strlen (filename);
    if (!strncmp (m, filename, fl) && !strncmp (m + fl, ": ", 2))
      m += fl + 2;
    snprintf (msg, sizeof msg, "%s", m);
    vdk_err (-r, "%s: cannot use this LUN (vdk writes to existing iSCSI LUNs, it does not"
             " create them): %s", filename, msg);
  }
  return r;
}

/* ---- asynchronous I/O (on the loop thread) --------------------------------- */

struct iscsi_aio {
  struct vdk_netreq req;
  struct vdk_node *n;
  struct vdk_io *io;
  unsigned pending;            /* commands in flight, +1 while issuing */
  int err;                     /* first error (-errno), 0 */
};

/* One command of A is done with R (0 or -errno), or the issuing is. */
static void
aio_put (struct iscsi_aio *a, int r)
{
  struct iscsi_priv *p = a->n->priv;

  if (r < 0 && !a->err)
    a->err = r;
  if (--a->pending > 0)
    return;
  if (a->io->op == VDK_IO_FLUSH && !a->err)
    a->err = __atomic_exchange_n (&p->early_err, 0, __ATOMIC_ACQ_REL);
  vdk_netloop_complete (p->loop, &a->req,
                        a->err ? a->err : a->io->op == VDK_IO_FLUSH ? 0 : (int) a->io->len);
}

static void
aio_cb (struct iscsi_context *ctx, int status, void *data, void *private_data)
{
  struct iscsi_aio *a = private_data;
  struct scsi_task *t = data;
  int r = 0;

  (void) ctx;
  if (status != SCSI_STATUS_GOOD)
    r = t ? -sense_errno (t) : -EIO;
  else if (t && t->residual_status == SCSI_RESIDUAL_UNDERFLOW && t->residual > 0)
    r = -EIO;   /* the target sent less than asked: never return stale bytes */
  if (t)
    scsi_free_scsi_task (t);
  aio_put (a, r);
}

static void
early_sync_cb (struct iscsi_context *ctx, int status, void *data, void *private_data)
{
  struct iscsi_priv *p = private_data;   /* freed after the context */
  struct scsi_task *t = data;
  int none = 0;

  (void) ctx;
  if (status != SCSI_STATUS_GOOD)
    __atomic_compare_exchange_n (&p->early_err, &none, t ? -sense_errno (t) : -EIO, false,
                                 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
  if (t)
    scsi_free_scsi_task (t);
}

/* Before a write: an early SYNCHRONIZE CACHE when due (see EARLY_SYNC). */
static void
early_sync (struct iscsi_priv *p, size_t len)
{
  if (!p->early_sync)
    return;
  p->unsynced += len;
  if (p->unsynced < EARLY_SYNC)
    return;
  p->unsynced = 0;
  if (!iscsi_synchronizecache16_task (p->ctx, p->lun, 0, 0, 0, 0, early_sync_cb, p))
    early_sync_cb (p->ctx, SCSI_STATUS_ERROR, NULL, p);
}

/* Start the whole request at once: a transfer larger than the target's
 * maximum becomes several commands, all in flight together. */
static void
aio_start (struct iscsi_aio *a)
{
  struct iscsi_priv *p = a->n->priv;
  struct vdk_io *io = a->io;

  a->pending = 1;    /* the issuing */
  if (io->op == VDK_IO_FLUSH) {
    a->pending++;
    if (!iscsi_synchronizecache16_task (p->ctx, p->lun, 0, 0, 0, 0, aio_cb, a)) {
      a->pending--;
      a->err = -EIO;
    }
  }
  else {
    if (io->op == VDK_IO_WRITE)
      early_sync (p, io->len);
    for (size_t done = 0; done < io->len && !a->err;) {
      size_t l = VDK_MIN (io->len - done, (size_t) p->max_xfer);
      uint64_t lba = (io->off + done) / p->bs;
      struct scsi_task *t;
      a->pending++;
      if (io->op == VDK_IO_READ) {
        t = iscsi_read16_task (p->ctx, p->lun, lba, l, p->bs, 0, 0, 0, 0, 0, aio_cb, a);
        /* the data lands in the caller's buffer directly */
        if (t && scsi_task_add_data_in_buffer (t, l, (unsigned char *) io->buf + done) != 0) {
          /* the task is queued already: it fails through the callback */
          iscsi_scsi_cancel_task (p->ctx, t);
          if (!a->err)
            a->err = -ENOMEM;
          break;
        }
      }
      else
        t = iscsi_write16_task (p->ctx, p->lun, lba, (unsigned char *) io->buf + done, l,
                                p->bs, 0, 0, (io->flags & DISK_FUA) != 0, 0, 0, aio_cb, a);
      if (!t) {
        a->pending--;
        a->err = -EIO;
      }
      done += l;
    }
  }
  aio_put (a, 0);
}

static void
loop_start (void *opaque, struct vdk_netreq *req)
{
  (void) opaque;
  aio_start ((struct iscsi_aio *) req);
}

static int
loop_fd (void *opaque, short *events)
{
  struct iscsi_priv *p = opaque;
  *events = (short) iscsi_which_events (p->ctx);
  return iscsi_get_fd (p->ctx);
}

static int
loop_service (void *opaque, short revents)
{
  struct iscsi_priv *p = opaque;

  if (iscsi_service (p->ctx, revents) < 0) {
    /* The connection is gone and there is no reconnect: fail what is in
     * flight now rather than when each command times out. */
    iscsi_scsi_cancel_all_tasks (p->ctx);
    return -EIO;
  }
  return 0;
}

static const struct vdk_netloop_ops iscsi_loop_ops = {
  .fd = loop_fd,
  .service = loop_service,
  .start = loop_start,
};

static int
iscsi_proto_submit (struct vdk_node *n, struct disk_queue *q, struct vdk_io *io)
{
  struct iscsi_priv *p = n->priv;
  struct iscsi_aio *a;

  if (io->op != VDK_IO_FLUSH &&
      (io->off % p->bs || io->len % p->bs || !vdk_range_ok (io->off, io->len, n->size)))
    return -ENOTSUP;    /* unaligned or past the end: the synchronous path */
  if (p->no_loop || io->len > INT32_MAX)   /* completions carry the length as an int */
    return -ENOTSUP;
  if (!p->loop && vdk_netloop_new (&iscsi_loop_ops, p, n->filename, &p->loop) < 0) {
    /* e.g. no io_uring MSG_RING (Linux < 5.18): synchronous from now on */
    vdk_err_clear ();
    p->no_loop = true;
    return -ENOTSUP;
  }
  a = calloc (1, sizeof *a);
  if (!a)
    return -ENOMEM;
  a->n = n;
  a->io = io;
  return vdk_netloop_submit (p->loop, q, io, &a->req);
}

static const char *const iscsi_schemes[] = { "iscsi", NULL };

const struct vdk_protocol vdk_protocol_iscsi = {
  .struct_size = sizeof (struct vdk_protocol),
  .name = "iscsi",
  .schemes = iscsi_schemes,
  .open = iscsi_proto_open,
  .close = iscsi_proto_close,
  .pread = iscsi_proto_pread,
  .pwrite = iscsi_proto_pwrite,
  .flush = iscsi_proto_flush,
  .discard = iscsi_proto_discard,
  .write_zeroes = iscsi_proto_write_zeroes,
  .block_status = iscsi_proto_block_status,
  .truncate = iscsi_proto_truncate,
  .get_allocated = iscsi_proto_get_allocated,
  .create = iscsi_proto_create,
  .submit = iscsi_proto_submit,
};
