/* libiscsi, loaded on first use: see lazy.h. */
#include <pthread.h>

#include "lazy.h"
#include "iscsi-table.h"

struct vdk_lazy_iscsi vdk_lazy_iscsi;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static char msg[512];

#define LOAD(h, soname, f)                                              \
  if (!msg[0])                                                          \
    vdk_lazy_iscsi.f = (__typeof__ (vdk_lazy_iscsi.f))                  \
      vdk_lazy_sym (h, soname, #f, msg, sizeof msg);

static void
load (void)
{
  void *h = vdk_lazy_open (VDK_SONAME_ISCSI, msg, sizeof msg);

  if (!h)
    return;
#define LOAD_ONE(f) LOAD (h, VDK_SONAME_ISCSI, f)
  VDK_LAZY_ISCSI_SYMS (LOAD_ONE)
}

const char *
vdk_lazy_iscsi_load (void)
{
  pthread_once (&once, load);
  return msg[0] ? msg : NULL;
}
