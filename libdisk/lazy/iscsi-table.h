/* The iscsi client library's functions that vdk calls, as pointers filled
 * in by vdk_lazy_iscsi_load() (lazy/iscsi.c).  Generated once from the
 * undefined symbols of the objects that use them (nm -u); keep the lists
 * sorted.  Included through lazy/iscsi.h only. */
#ifndef VDK_LAZY_ISCSI_TABLE_H
#define VDK_LAZY_ISCSI_TABLE_H

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define VDK_LAZY_ISCSI_SYMS(X) \
  X (iscsi_connect_sync) \
  X (iscsi_create_context) \
  X (iscsi_destroy_context) \
  X (iscsi_destroy_url) \
  X (iscsi_discovery_sync) \
  X (iscsi_free_discovery_data) \
  X (iscsi_full_connect_sync) \
  X (iscsi_get_error) \
  X (iscsi_get_fd) \
  X (iscsi_get_lba_status_sync) \
  X (iscsi_inquiry_sync) \
  X (iscsi_is_logged_in) \
  X (iscsi_login_sync) \
  X (iscsi_logout_sync) \
  X (iscsi_parse_full_url) \
  X (iscsi_read16_sync) \
  X (iscsi_read16_task) \
  X (iscsi_readcapacity16_sync) \
  X (iscsi_reportluns_sync) \
  X (iscsi_scsi_cancel_all_tasks) \
  X (iscsi_scsi_cancel_task) \
  X (iscsi_service) \
  X (iscsi_set_header_digest) \
  X (iscsi_set_initiator_username_pwd) \
  X (iscsi_set_noautoreconnect) \
  X (iscsi_set_reconnect_max_retries) \
  X (iscsi_set_session_type) \
  X (iscsi_set_targetname) \
  X (iscsi_set_timeout) \
  X (iscsi_synchronizecache16_sync) \
  X (iscsi_synchronizecache16_task) \
  X (iscsi_unmap_sync) \
  X (iscsi_which_events) \
  X (iscsi_write16_sync) \
  X (iscsi_write16_task) \
  X (iscsi_writesame16_task) \
  X (scsi_datain_unmarshall) \
  X (scsi_free_scsi_task) \
  X (scsi_sense_ascq_str) \
  X (scsi_sense_key_str) \
  X (scsi_task_add_data_in_buffer)

#define VDK_LAZY_MEMBER(f) __typeof__ (f) *f;

struct vdk_lazy_iscsi {
  VDK_LAZY_ISCSI_SYMS (VDK_LAZY_MEMBER)
};

extern struct vdk_lazy_iscsi vdk_lazy_iscsi;

/* Load the library (once; thread safe).  NULL when loaded, else a message
 * naming the library and why it could not be loaded. */
const char *vdk_lazy_iscsi_load (void);

#endif /* VDK_LAZY_ISCSI_TABLE_H */
