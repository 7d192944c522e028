/* Include this instead of the nfs client library's headers: every call
 * goes through the pointers vdk_lazy_nfs_load() fills in (the library is
 * dlopen()ed on first use, not linked: see lazy/nfs.c).  Call the loader
 * before the first call into the library. */
#ifndef VDK_LAZY_NFS_H
#define VDK_LAZY_NFS_H

#include "nfs-table.h"

#define nfs_chmod (vdk_lazy_nfs.nfs_chmod)
#define nfs_chown (vdk_lazy_nfs.nfs_chown)
#define nfs_close (vdk_lazy_nfs.nfs_close)
#define nfs_closedir (vdk_lazy_nfs.nfs_closedir)
#define nfs_create (vdk_lazy_nfs.nfs_create)
#define nfs_destroy_context (vdk_lazy_nfs.nfs_destroy_context)
#define nfs_destroy_url (vdk_lazy_nfs.nfs_destroy_url)
#define nfs_fstat64 (vdk_lazy_nfs.nfs_fstat64)
#define nfs_fsync (vdk_lazy_nfs.nfs_fsync)
#define nfs_fsync_async (vdk_lazy_nfs.nfs_fsync_async)
#define nfs_ftruncate (vdk_lazy_nfs.nfs_ftruncate)
#define nfs_get_error (vdk_lazy_nfs.nfs_get_error)
#define nfs_get_fd (vdk_lazy_nfs.nfs_get_fd)
#define nfs_get_readmax (vdk_lazy_nfs.nfs_get_readmax)
#define nfs_get_rpc_context (vdk_lazy_nfs.nfs_get_rpc_context)
#define nfs_get_writemax (vdk_lazy_nfs.nfs_get_writemax)
#define nfs_init_context (vdk_lazy_nfs.nfs_init_context)
#define nfs_mkdir2 (vdk_lazy_nfs.nfs_mkdir2)
#define nfs_mount (vdk_lazy_nfs.nfs_mount)
#define nfs_open (vdk_lazy_nfs.nfs_open)
#define nfs_opendir (vdk_lazy_nfs.nfs_opendir)
#define nfs_parse_url_dir (vdk_lazy_nfs.nfs_parse_url_dir)
#define nfs_parse_url_full (vdk_lazy_nfs.nfs_parse_url_full)
#define nfs_pread (vdk_lazy_nfs.nfs_pread)
#define nfs_pread_async (vdk_lazy_nfs.nfs_pread_async)
#define nfs_pwrite (vdk_lazy_nfs.nfs_pwrite)
#define nfs_pwrite_async (vdk_lazy_nfs.nfs_pwrite_async)
#define nfs_readdir (vdk_lazy_nfs.nfs_readdir)
#define nfs_rmdir (vdk_lazy_nfs.nfs_rmdir)
#define nfs_service (vdk_lazy_nfs.nfs_service)
#define nfs_set_autoreconnect (vdk_lazy_nfs.nfs_set_autoreconnect)
#define nfs_set_tcp_syncnt (vdk_lazy_nfs.nfs_set_tcp_syncnt)
#define nfs_set_timeout (vdk_lazy_nfs.nfs_set_timeout)
#define nfs_set_version (vdk_lazy_nfs.nfs_set_version)
#define nfs_stat64 (vdk_lazy_nfs.nfs_stat64)
#define nfs_statvfs64 (vdk_lazy_nfs.nfs_statvfs64)
#define nfs_unlink (vdk_lazy_nfs.nfs_unlink)
#define nfs_which_events (vdk_lazy_nfs.nfs_which_events)
#define rpc_connect_async (vdk_lazy_nfs.rpc_connect_async)
#define rpc_connect_program_async (vdk_lazy_nfs.rpc_connect_program_async)
#define rpc_destroy_context (vdk_lazy_nfs.rpc_destroy_context)
#define rpc_disconnect (vdk_lazy_nfs.rpc_disconnect)
#define rpc_get_error (vdk_lazy_nfs.rpc_get_error)
#define rpc_get_fd (vdk_lazy_nfs.rpc_get_fd)
#define rpc_init_context (vdk_lazy_nfs.rpc_init_context)
#define rpc_mount3_export_async (vdk_lazy_nfs.rpc_mount3_export_async)
#define rpc_service (vdk_lazy_nfs.rpc_service)
#define rpc_which_events (vdk_lazy_nfs.rpc_which_events)

#endif /* VDK_LAZY_NFS_H */
