/* Secrets: libvirt-compatible secrets without a daemon (virsh secret-*),
 * for the pools' authentication (iSCSI CHAP, Ceph cephx) and anyone else.
 *
 * Same conventions as pool.h: >= 0 or -errno, the message in
 * pool_last_error().  A secret's value never appears in a message.
 *
 * State (in the pools' state dir, under its lock):
 *   STATE/secrets/UUID.xml         persistent definitions (libvirt XML), 0600
 *   STATE/secrets/UUID.base64      their values (base64, no newline), 0600
 *   STATE/run/secrets/UUID.xml     ephemeral secrets: definition and value
 *   STATE/run/secrets/UUID.base64  live for this boot only (like run/pools)
 * Both directories are 0700; every file is written atomically (temp file,
 * fsync, rename).
 */
#ifndef VDK_SECRET_H
#define VDK_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#include "pool.h"

#define POOL_SECRET_MAX_VALUE (64u << 10)   /* bytes of a value */
#define POOL_SECRET_MAX_XML (64u << 10)     /* a definition's XML */
#define POOL_SECRET_MAX_COUNT 65536         /* secrets in a state dir */
/* Base64 text of the largest value, with room for line breaks. */
#define POOL_SECRET_MAX_BASE64 ((POOL_SECRET_MAX_VALUE + 2) / 3 * 4 + 4096)

/* libvirt's usage types, in libvirt's order (virSecretUsageType). */
enum pool_secret_usage {
  POOL_SECRET_USAGE_NONE,
  POOL_SECRET_USAGE_VOLUME,   /* <volume>path</volume> */
  POOL_SECRET_USAGE_CEPH,     /* <name>client.admin secret</name> */
  POOL_SECRET_USAGE_ISCSI,    /* <target>libvirtiscsi</target> */
  POOL_SECRET_USAGE_TLS,      /* <name> */
  POOL_SECRET_USAGE_VTPM,     /* <name> */
};

struct pool_secret_def {
  char uuid[37];              /* lower case; "" until assigned */
  bool ephemeral;
  bool is_private;
  char *description;          /* or NULL */
  enum pool_secret_usage usage_type;
  char *usage_id;             /* NULL for POOL_SECRET_USAGE_NONE */
};

void pool_secret_def_free (struct pool_secret_def *d);
/* Parse libvirt secret XML (what virsh secret-dumpxml prints).  SRC names
 * the document in messages. */
int pool_secret_def_parse (const char *xml, size_t len, const char *src,
                           struct pool_secret_def **out);
/* The XML as libvirt formats it; NULL on OOM. */
char *pool_secret_def_format (const struct pool_secret_def *d);
/* "ceph", "iscsi"... ("none" for NONE), or NULL; the type of a name, or -1. */
const char *pool_secret_usage_name (enum pool_secret_usage t);
int pool_secret_usage_from_name (const char *name);

struct pool_secret {
  struct pool_ctx *ctx;
  struct pool_secret_def *def;
  bool has_value;
};
void pool_secret_free (struct pool_secret *s);
void pool_secret_list_free (struct pool_secret **v, size_t n);

/* Define (or redefine: same UUID) a secret.  As libvirt: another secret with
 * the same usage is refused, a secret's usage cannot change, nor can a
 * private secret become non-private.  Takes DEF.  Needs the exclusive lock. */
int pool_secret_define (struct pool_ctx *c, struct pool_secret_def *def, struct pool_secret **out);
/* By UUID (any case). */
int pool_secret_lookup (struct pool_ctx *c, const char *uuid, struct pool_secret **out);
/* By usage: TYPE "ceph", "iscsi", "volume"... and its id. */
int pool_secret_lookup_by_usage (struct pool_ctx *c, const char *type, const char *id,
                                 struct pool_secret **out);
/* Every secret (persistent and, for this boot, ephemeral) sorted by UUID;
 * damaged definitions are left out (looking them up says what is wrong). */
int pool_secret_list (struct pool_ctx *c, struct pool_secret ***out, size_t *n);
/* Removes the definition and the value.  Exclusive lock. */
int pool_secret_undefine (struct pool_secret *s);
/* Store LEN bytes (at most POOL_SECRET_MAX_VALUE).  Exclusive lock. */
int pool_secret_set_value (struct pool_secret *s, const unsigned char *value, size_t len);
/* The value: malloc'd, NUL-terminated after LEN bytes (CHAP passwords are
 * strings), to be freed with pool_secret_value_free.  Refused for a private
 * secret unless INTERNAL (the pools' own use: authenticating). */
int pool_secret_get_value (struct pool_secret *s, bool internal, unsigned char **value,
                           size_t *len);
/* Wipe and free a value. */
void pool_secret_value_free (unsigned char *value, size_t len);

/* For the pool types (iSCSI CHAP, RBD cephx): the value of the secret with
 * usage TYPE/ID, or with UUID, private or not.  They use the state dir
 * context open in this process (the pool's), else open one for reading. */
int pool_secret_lookup_usage (const char *type, const char *id, unsigned char **value,
                              size_t *len);
int pool_secret_lookup_uuid (const char *uuid, unsigned char **value, size_t *len);
/* The state file holding that secret's value (0600 in a 0700 directory,
 * base64 without a newline: what Ceph's "keyfile" option reads), malloc'd
 * in *PATH; ENOENT when the secret has no value.  USAGE_ID or UUID. */
int pool_secret_value_file (const char *type, const char *id, const char *uuid, char **path);
/* For disk_set_secret_lookup: the value of the secret whose UUID is ID. */
int pool_secret_disk_lookup (const char *id, unsigned char **value, size_t *len, char *err,
                             size_t errlen);

/* Base64 (RFC 4648, standard alphabet, padded).  Decoding is strict but
 * skips white space (files end with a newline, base64(1) wraps lines) and
 * accepts missing padding; OUT holds at most MAX bytes. */
char *pool_base64_encode (const unsigned char *data, size_t len);
int pool_base64_decode (const char *in, size_t inlen, size_t max, unsigned char **out,
                        size_t *outlen);

#endif /* VDK_SECRET_H */
