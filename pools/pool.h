/* Storage pools and volumes: libvirt-compatible pools without a daemon.
 *
 * Conventions are libdisk's: functions return >= 0 or -errno, and leave a
 * message naming the pool or volume in a per-thread buffer (pool_last_error).
 * Nothing here prints or exits.
 *
 * State lives in the state dir (pool_state_dir):
 *   STATE/lock                     flock'd while reading (shared) or changing
 *                                  (exclusive) anything below
 *   STATE/pools/NAME.xml           persistent pool definitions (libvirt XML)
 *   STATE/pools/autostart/NAME.xml symlink to ../NAME.xml, as libvirt does
 *   STATE/run/boot_id              the boot the runtime state belongs to
 *   STATE/run/pools/NAME.xml       one per active pool (transient ones only
 *                                  exist here); stale after a reboot
 *   STATE/secrets/, run/secrets/   secrets (see secret.h)
 */
#ifndef VDK_POOL_H
#define VDK_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define POOL_MAX_DEVICES 64
#define POOL_MAX_VOLUMES 65536
#define POOL_MAX_XML (1u << 20)      /* pool / volume XML files */
#define POOL_MAX_CONFIG_OPTS 16
#define POOL_MAX_HOSTS 16          /* <source><host> elements (rbd: monitors) */
#define POOL_RBD_XMLNS "http://libvirt.org/schemas/storagepool/rbd/1.0"
#define POOL_MAX_MOUNT_OPTS 64

/* ---- errors ------------------------------------------------------------ */
const char *pool_last_error (void);
int pool_last_errno (void);
int pool_err (int errnum, const char *fmt, ...) __attribute__((format (printf, 2, 3)));
/* Copy libdisk's last error into ours; returns -errno. */
int pool_err_from_disk (int r);

/* ---- definitions ------------------------------------------------------- */
struct pool_def {
  char *type;                  /* "dir", "fs" */
  char *name;
  char uuid[37];               /* "" until assigned */
  size_t n_devices;
  char *devices[POOL_MAX_DEVICES]; /* <source><device path=.../> */
  char *source_format;         /* <source><format type=.../> */
  char *source_dir;            /* <source><dir path=.../> */
  char *source_host;           /* <source><host name=.../> */
  char *source_name;           /* <source><name> */
  long source_port;            /* <source><host port=...>, 0 when not given */
  /* the <host> elements after the first (rbd pools only: more monitors) */
  size_t n_extra_hosts;
  char *extra_hosts[POOL_MAX_HOSTS - 1];
  long extra_ports[POOL_MAX_HOSTS - 1];      /* 0 when not given */
  char *source_protocol_ver;   /* <source><protocol ver=.../> (netfs) */
  char *initiator_iqn;         /* <source><initiator><iqn name=.../> (iscsi) */
  char *auth_type;             /* <source><auth type=...> ("chap", "ceph") */
  char *auth_username;         /* <source><auth username=...> */
  char *auth_secret_usage;     /* <auth><secret usage=.../> */
  char *auth_secret_uuid;      /* <auth><secret uuid=.../> */
  /* libvirt's <rbd:config_opts><rbd:option name=... value=.../> (rbd) */
  size_t n_config_opts;
  char *config_opt_names[POOL_MAX_CONFIG_OPTS], *config_opt_values[POOL_MAX_CONFIG_OPTS];
  char *target;                /* <target><path> */
  char *mode;                  /* <target><permissions><mode> (octal), or NULL */
  long owner, group;           /* -1 when not given */
  /* libvirt's <fs:mount_opts><fs:option name='...'/> (namespace
   * http://libvirt.org/schemas/storagepool/fs/1.0); netfs reads some */
  size_t n_mount_opts;
  char *mount_opts[POOL_MAX_MOUNT_OPTS];
};

void pool_def_free (struct pool_def *d);
/* The Ith <host> of D (0: source_host), its port in *PORT (0: none given);
 * NULL past the last. */
static inline const char *
pool_def_host (const struct pool_def *d, size_t i, long *port)
{
  if (!d->source_host || i > d->n_extra_hosts)
    return NULL;
  *port = i ? d->extra_ports[i - 1] : d->source_port;
  return i ? d->extra_hosts[i - 1] : d->source_host;
}
/* Parse libvirt pool XML (what virsh pool-dumpxml prints).  SRC names the
 * file for messages. */
int pool_def_parse (const char *xml, size_t len, const char *src, struct pool_def **out);
/* Check names, required fields and the type. */
int pool_def_validate (const struct pool_def *d);
bool pool_name_valid (const char *name);

/* A volume definition (vol-create XML, vol-create-as). */
struct vol_def {
  char *name;
  uint64_t capacity;
  uint64_t allocation;
  bool has_allocation;
  char *format;                /* NULL = the pool's default (raw) */
  char *backing_path;
  char *backing_format;
  bool prealloc_metadata;
};
void vol_def_free (struct vol_def *d);
int vol_def_parse (const char *xml, size_t len, const char *src, struct vol_def **out);
/* "10G", "512M", with libvirt's units (k=KiB, KB=1000...) or qemu's. */
int pool_parse_scaled (const char *num, const char *unit, uint64_t *out);

/* ---- the state dir ------------------------------------------------------ */
struct pool_ctx;
/* Open the state dir (OVERRIDE, else $VDK_STATE_DIR, else /var/lib/vdk for
 * root, else $XDG_DATA_HOME/vdk or ~/.local/share/vdk), creating it, and
 * lock it: EXCLUSIVE for commands that change state. */
int pool_ctx_open (struct pool_ctx **out, const char *override, bool exclusive);
void pool_ctx_close (struct pool_ctx *c);
const char *pool_ctx_dir (const struct pool_ctx *c);

/* ---- pools --------------------------------------------------------------- */
struct pool_type_ops;

struct pool {
  struct pool_ctx *ctx;
  struct pool_def *def;
  const struct pool_type_ops *ops;
  bool active;
  bool persistent;
  bool autostart;
};

struct pool_info {
  uint64_t capacity, allocation, available;
};

/* Build flags (pool-build, pool-start --build). */
#define POOL_BUILD_OVERWRITE    0x01u
#define POOL_BUILD_NO_OVERWRITE 0x02u

void pool_free (struct pool *p);
void pool_list_free (struct pool **v, size_t n);
/* Find a pool by name or UUID. */
int pool_lookup (struct pool_ctx *c, const char *name_or_uuid, struct pool **out);
/* Every pool (persistent and active transient), sorted by name. */
int pool_list (struct pool_ctx *c, struct pool ***out, size_t *n);

int pool_define (struct pool_ctx *c, struct pool_def *def, struct pool **out); /* takes def */
/* Transient: defined and started at once; gone when destroyed. */
int pool_create (struct pool_ctx *c, struct pool_def *def, bool build, unsigned build_flags,
                 struct pool **out);  /* takes def */
int pool_undefine (struct pool *p);
int pool_start (struct pool *p, bool build, unsigned build_flags);
int pool_destroy (struct pool *p);
int pool_build (struct pool *p, unsigned flags);
int pool_delete (struct pool *p);
int pool_set_autostart (struct pool *p, bool on);
int pool_get_info (struct pool *p, struct pool_info *info);
/* The pool's XML as libvirt prints it (with sizes unless INACTIVE). */
char *pool_format_xml (struct pool *p, bool inactive);
char *pool_def_format (const struct pool_def *d, const struct pool_info *info);
/* find-storage-pool-sources(-as): the <sources> XML of what pool type TYPE
 * finds (malloc'd in *XML_OUT).  HOST, PORT, INITIATOR (-as) and
 * SRCSPEC_XML (a <source> document) may be NULL. */
int pool_find_sources (const char *type, const char *host, const char *port,
                       const char *initiator, const char *srcspec_xml, char **xml_out);
/* <storagepoolCapabilities> */
char *pool_capabilities_xml (void);
const char *const *pool_type_names (void);

/* ---- volumes ------------------------------------------------------------- */
struct pool_vol {
  char *name;
  char *key;                   /* dir/fs: the path */
  char *path;                  /* what libdisk opens */
  char *format;                /* "raw", "qcow2", ... */
  const char *type;            /* "file", "block" */
  uint64_t capacity, allocation, physical;
  char *backing, *backing_format;
  mode_t mode;
  uid_t uid;
  gid_t gid;
  struct timespec atime, mtime, ctime;
  /* What libdisk opens when that is not PATH (rbd: PATH is libvirt's
   * "RADOSPOOL/IMAGE", SPEC the rbd: spec with the pool's connection). */
  char *spec;
};
static inline const char *
pool_vol_spec (const struct pool_vol *v)
{
  return v->spec ? v->spec : v->path;
}
void pool_vol_free (struct pool_vol *v);
void pool_vol_list_free (struct pool_vol **v, size_t n);

/* The volumes of an active pool, sorted by name. */
int pool_vol_list (struct pool *p, struct pool_vol ***out, size_t *n);
int pool_vol_lookup (struct pool *p, const char *name, struct pool_vol **out);
/* Find a volume by key or path among the active pools (POOL_OUT optional). */
int pool_vol_find (struct pool_ctx *c, const char *key_or_path, struct pool **pool_out,
                   struct pool_vol **out);
int pool_vol_create (struct pool *p, const struct vol_def *d, struct pool_vol **out);
/* Create D in P and copy SRC's contents into it (any formats, any pools). */
int pool_vol_create_from (struct pool *p, const struct vol_def *d, const struct pool_vol *src,
                          struct pool_vol **out);
int pool_vol_delete (struct pool *p, struct pool_vol *v);
/* libvirt's VIR_STORAGE_VOL_DELETE_WITH_SNAPSHOTS: also the volume's
 * snapshots (rbd); types without snapshots of their own ignore it. */
#define POOL_VOL_DELETE_WITH_SNAPSHOTS 0x02u
int pool_vol_delete_flags (struct pool *p, struct pool_vol *v, unsigned flags);
int pool_vol_wipe (struct pool *p, struct pool_vol *v);   /* the "zero" algorithm */
/* vol-wipe --algorithm ALGORITHM (NULL: zero), one of pool_wipe_algorithms
 * (virsh's: zero nnsa dod bsi gutmann schneier pfitzner7 pfitzner33 random
 * trim; see wipe.c). */
int pool_vol_wipe_alg (struct pool *p, struct pool_vol *v, const char *algorithm);
const char *const *pool_wipe_algorithms (void);   /* NULL-terminated */
#define POOL_RESIZE_ALLOCATE 0x01u
#define POOL_RESIZE_SHRINK   0x02u
int pool_vol_resize (struct pool *p, struct pool_vol *v, uint64_t capacity, unsigned flags);
/* Copy between a volume and a file descriptor (the guest view: formats are
 * interpreted).  LENGTH 0 = to the end.  SPARSE: holes stay holes. */
int pool_vol_upload (struct pool_vol *v, int fd, uint64_t offset, uint64_t length, bool sparse);
int pool_vol_download (struct pool_vol *v, int fd, uint64_t offset, uint64_t length, bool sparse);
char *pool_vol_format_xml (const struct pool_vol *v);

/* The libdisk resolver for "vol:POOL/VOL" (see disk_set_spec_resolver). */
int pool_spec_resolver (const char *spec, unsigned flags, char **path_out,
                        char *err, size_t errlen);

#endif /* VDK_POOL_H */
