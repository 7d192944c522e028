/* The nfs client library's functions that vdk calls, as pointers filled
 * in by vdk_lazy_nfs_load() (lazy/nfs.c).  Generated once from the
 * undefined symbols of the objects that use them (nm -u); keep the lists
 * sorted.  Included through lazy/nfs.h only. */
#ifndef VDK_LAZY_NFS_TABLE_H
#define VDK_LAZY_NFS_TABLE_H

#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-nfs.h>
#include <nfsc/libnfs-raw-mount.h>

#define VDK_LAZY_NFS_SYMS(X) \
  X (nfs_chmod) \
  X (nfs_chown) \
  X (nfs_close) \
  X (nfs_closedir) \
  X (nfs_create) \
  X (nfs_destroy_context) \
  X (nfs_destroy_url) \
  X (nfs_fstat64) \
  X (nfs_fsync) \
  X (nfs_fsync_async) \
  X (nfs_ftruncate) \
  X (nfs_get_error) \
  X (nfs_get_fd) \
  X (nfs_get_readmax) \
  X (nfs_get_rpc_context) \
  X (nfs_get_writemax) \
  X (nfs_init_context) \
  X (nfs_mkdir2) \
  X (nfs_mount) \
  X (nfs_open) \
  X (nfs_opendir) \
  X (nfs_parse_url_dir) \
  X (nfs_parse_url_full) \
  X (nfs_pread) \
  X (nfs_pread_async) \
  X (nfs_pwrite) \
  X (nfs_pwrite_async) \
  X (nfs_readdir) \
  X (nfs_rmdir) \
  X (nfs_service) \
  X (nfs_set_autoreconnect) \
  X (nfs_set_tcp_syncnt) \
  X (nfs_set_timeout) \
  X (nfs_set_version) \
  X (nfs_stat64) \
  X (nfs_statvfs64) \
  X (nfs_unlink) \
  X (nfs_which_events) \
  X (rpc_connect_async) \
  X (rpc_connect_program_async) \
  X (rpc_destroy_context) \
  X (rpc_disconnect) \
  X (rpc_get_error) \
  X (rpc_get_fd) \
  X (rpc_init_context) \
  X (rpc_mount3_export_async) \
  X (rpc_service) \
  X (rpc_which_events)

#define VDK_LAZY_MEMBER(f) __typeof__ (f) *f;

struct vdk_lazy_nfs {
  VDK_LAZY_NFS_SYMS (VDK_LAZY_MEMBER)
};

extern struct vdk_lazy_nfs vdk_lazy_nfs;

/* Load the library (once; thread safe).  NULL when loaded, else a message
 * naming the library and why it could not be loaded. */
const char *vdk_lazy_nfs_load (void);

#endif /* VDK_LAZY_NFS_TABLE_H */
