/* The rbd client library's functions that vdk calls, as pointers filled
 * in by vdk_lazy_rbd_load() (lazy/rbd.c).  Generated once from the
 * undefined symbols of the objects that use them (nm -u); keep the lists
 * sorted.  Included through lazy/rbd.h only. */
#ifndef VDK_LAZY_RBD_TABLE_H
#define VDK_LAZY_RBD_TABLE_H

#include <rados/librados.h>
#include <rbd/librbd.h>

#define VDK_LAZY_RBD_SYMS(X) \
  X (rbd_aio_create_completion) \
  X (rbd_aio_discard) \
  X (rbd_aio_flush) \
  X (rbd_aio_get_return_value) \
  X (rbd_aio_read) \
  X (rbd_aio_release) \
  X (rbd_aio_write) \
  X (rbd_aio_write_zeroes) \
  X (rbd_clone2) \
  X (rbd_close) \
  X (rbd_create4) \
  X (rbd_diff_iterate2) \
  X (rbd_flush) \
  X (rbd_get_features) \
  X (rbd_get_size) \
  X (rbd_get_stripe_count) \
  X (rbd_get_stripe_unit) \
  X (rbd_image_options_create) \
  X (rbd_image_options_destroy) \
  X (rbd_image_spec_list_cleanup) \
  X (rbd_list2) \
  X (rbd_open) \
  X (rbd_open_read_only) \
  X (rbd_remove) \
  X (rbd_resize) \
  X (rbd_snap_create) \
  X (rbd_snap_get_timestamp) \
  X (rbd_snap_is_protected) \
  X (rbd_snap_list) \
  X (rbd_snap_list_end) \
  X (rbd_snap_protect) \
  X (rbd_snap_remove) \
  X (rbd_snap_rollback) \
  X (rbd_snap_unprotect) \
  X (rbd_stat) \
  X (rbd_watchers_list) \
  X (rbd_watchers_list_cleanup) \
  X (rbd_write_zeroes)

#define VDK_LAZY_RADOS_SYMS(X) \
  X (rados_cluster_stat) \
  X (rados_conf_get) \
  X (rados_conf_parse_env) \
  X (rados_conf_read_file) \
  X (rados_conf_set) \
  X (rados_connect) \
  X (rados_create) \
  X (rados_ioctx_create) \
  X (rados_ioctx_destroy) \
  X (rados_ioctx_pool_stat) \
  X (rados_ioctx_set_namespace) \
  X (rados_shutdown)

#define VDK_LAZY_MEMBER(f) __typeof__ (f) *f;

struct vdk_lazy_rbd {
  VDK_LAZY_RBD_SYMS (VDK_LAZY_MEMBER)
  VDK_LAZY_RADOS_SYMS (VDK_LAZY_MEMBER)
};

extern struct vdk_lazy_rbd vdk_lazy_rbd;

/* Load the library (once; thread safe).  NULL when loaded, else a message
 * naming the library and why it could not be loaded. */
const char *vdk_lazy_rbd_load (void);

#endif /* VDK_LAZY_RBD_TABLE_H */
