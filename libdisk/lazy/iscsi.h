/* Include this instead of the iscsi client library's headers: every call
 * goes through the pointers vdk_lazy_iscsi_load() fills in (the library is
 * dlopen()ed on first use, not linked: see lazy/iscsi.c).  Call the loader
 * before the first call into the library. */
#ifndef VDK_LAZY_ISCSI_H
#define VDK_LAZY_ISCSI_H

#include "iscsi-table.h"

#define iscsi_connect_sync (vdk_lazy_iscsi.iscsi_connect_sync)
#define iscsi_create_context (vdk_lazy_iscsi.iscsi_create_context)
#define iscsi_destroy_context (vdk_lazy_iscsi.iscsi_destroy_context)
#define iscsi_destroy_url (vdk_lazy_iscsi.iscsi_destroy_url)
#define iscsi_discovery_sync (vdk_lazy_iscsi.iscsi_discovery_sync)
#define iscsi_free_discovery_data (vdk_lazy_iscsi.iscsi_free_discovery_data)
#define iscsi_full_connect_sync (vdk_lazy_iscsi.iscsi_full_connect_sync)
#define iscsi_get_error (vdk_lazy_iscsi.iscsi_get_error)
#define iscsi_get_fd (vdk_lazy_iscsi.iscsi_get_fd)
#define iscsi_get_lba_status_sync (vdk_lazy_iscsi.iscsi_get_lba_status_sync)
#define iscsi_inquiry_sync (vdk_lazy_iscsi.iscsi_inquiry_sync)
#define iscsi_is_logged_in (vdk_lazy_iscsi.iscsi_is_logged_in)
#define iscsi_login_sync (vdk_lazy_iscsi.iscsi_login_sync)
#define iscsi_logout_sync (vdk_lazy_iscsi.iscsi_logout_sync)
#define iscsi_parse_full_url (vdk_lazy_iscsi.iscsi_parse_full_url)
#define iscsi_read16_sync (vdk_lazy_iscsi.iscsi_read16_sync)
#define iscsi_read16_task (vdk_lazy_iscsi.iscsi_read16_task)
#define iscsi_readcapacity16_sync (vdk_lazy_iscsi.iscsi_readcapacity16_sync)
#define iscsi_reportluns_sync (vdk_lazy_iscsi.iscsi_reportluns_sync)
#define iscsi_scsi_cancel_all_tasks (vdk_lazy_iscsi.iscsi_scsi_cancel_all_tasks)
#define iscsi_scsi_cancel_task (vdk_lazy_iscsi.iscsi_scsi_cancel_task)
#define iscsi_service (vdk_lazy_iscsi.iscsi_service)
#define iscsi_set_header_digest (vdk_lazy_iscsi.iscsi_set_header_digest)
#define iscsi_set_initiator_username_pwd (vdk_lazy_iscsi.iscsi_set_initiator_username_pwd)
#define iscsi_set_noautoreconnect (vdk_lazy_iscsi.iscsi_set_noautoreconnect)
#define iscsi_set_reconnect_max_retries (vdk_lazy_iscsi.iscsi_set_reconnect_max_retries)
#define iscsi_set_session_type (vdk_lazy_iscsi.iscsi_set_session_type)
#define iscsi_set_targetname (vdk_lazy_iscsi.iscsi_set_targetname)
#define iscsi_set_timeout (vdk_lazy_iscsi.iscsi_set_timeout)
#define iscsi_synchronizecache16_sync (vdk_lazy_iscsi.iscsi_synchronizecache16_sync)
#define iscsi_synchronizecache16_task (vdk_lazy_iscsi.iscsi_synchronizecache16_task)
#define iscsi_unmap_sync (vdk_lazy_iscsi.iscsi_unmap_sync)
#define iscsi_which_events (vdk_lazy_iscsi.iscsi_which_events)
#define iscsi_write16_sync (vdk_lazy_iscsi.iscsi_write16_sync)
#define iscsi_write16_task (vdk_lazy_iscsi.iscsi_write16_task)
#define iscsi_writesame16_task (vdk_lazy_iscsi.iscsi_writesame16_task)
#define scsi_datain_unmarshall (vdk_lazy_iscsi.scsi_datain_unmarshall)
#define scsi_free_scsi_task (vdk_lazy_iscsi.scsi_free_scsi_task)
#define scsi_sense_ascq_str (vdk_lazy_iscsi.scsi_sense_ascq_str)
#define scsi_sense_key_str (vdk_lazy_iscsi.scsi_sense_key_str)
#define scsi_task_add_data_in_buffer (vdk_lazy_iscsi.scsi_task_add_data_in_buffer)

#endif /* VDK_LAZY_ISCSI_H */
