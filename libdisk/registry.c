/* The const tables of drivers.  Add a driver: declare it here and list it. */
#include <string.h>

#include "internal.h"

extern const struct vdk_protocol vdk_protocol_file;
#ifdef VDK_HAVE_NFS
extern const struct vdk_protocol vdk_protocol_nfs;
#endif
#ifdef VDK_HAVE_ISCSI
extern const struct vdk_protocol vdk_protocol_iscsi;
#endif
#ifdef VDK_HAVE_RBD
extern const struct vdk_protocol vdk_protocol_rbd;
#endif
extern const struct vdk_format vdk_format_raw;
extern const struct vdk_format vdk_format_vhdx;
extern const struct vdk_format vdk_format_vpc;
extern const struct vdk_format vdk_format_vmdk;
extern const struct vdk_format vdk_format_qcow2;

const struct vdk_protocol *const vdk_protocols[] = {
  &vdk_protocol_file,
#ifdef VDK_HAVE_NFS
  &vdk_protocol_nfs,
#endif
#ifdef VDK_HAVE_ISCSI
  &vdk_protocol_iscsi,
#endif
#ifdef VDK_HAVE_RBD
  &vdk_protocol_rbd,
#endif
  NULL,
};

/* Probing order does not matter (highest score wins); raw scores 1. */
const struct vdk_format *const vdk_formats[] = {
  &vdk_format_raw,
  &vdk_format_vhdx,
  &vdk_format_vpc,
  &vdk_format_vmdk,
  &vdk_format_qcow2,
  NULL,
};

const struct vdk_format *
vdk_find_format (const char *name)
{
  for (size_t i = 0; vdk_formats[i]; i++)
    if (strcmp (vdk_formats[i]->name, name) == 0)
      return vdk_formats[i];
  return NULL;
}

const struct vdk_protocol *
vdk_find_protocol (const char *name)
{
  for (size_t i = 0; vdk_protocols[i]; i++)
    if (strcmp (vdk_protocols[i]->name, name) == 0)
      return vdk_protocols[i];
  return NULL;
}

/* "scheme://..." or "scheme:..." (rbd:pool/img).  NULL: a plain path. */
const struct vdk_protocol *
vdk_find_protocol_for_url (const char *spec)
{
  const char *colon = strchr (spec, ':');
  size_t len;

  if (!colon || colon == spec)
    return NULL;
  len = colon - spec;
  for (size_t i = 0; i < len; i++) {
    char c = spec[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-'))
      return NULL;
  }
  for (size_t i = 0; vdk_protocols[i]; i++) {
    const char *const *s = vdk_protocols[i]->schemes;
    for (; s && *s; s++)
      if (strlen (*s) == len && strncmp (*s, spec, len) == 0)
        return vdk_protocols[i];
  }
  return NULL;
}

const char *const *
disk_format_names (void)
{
  static const char *names[64];
  size_t i;
  for (i = 0; vdk_formats[i] && i < 63; i++)
    names[i] = vdk_formats[i]->name;
  names[i] = NULL;
  return names;
}

const char *const *
disk_protocol_names (void)
{
  static const char *names[64];
  size_t i;
  for (i = 0; vdk_protocols[i] && i < 63; i++)
    names[i] = vdk_protocols[i]->name;
  names[i] = NULL;
  return names;
}
