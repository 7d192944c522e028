/* librbd and librados, loaded on first use: see lazy.h. */
#include <pthread.h>

#include "lazy.h"
#include "rbd-table.h"

struct vdk_lazy_rbd vdk_lazy_rbd;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static char msg[512];

#define LOAD(h, soname, f)                                              \
  if (!msg[0])                                                          \
    vdk_lazy_rbd.f = (__typeof__ (vdk_lazy_rbd.f))                      \
      vdk_lazy_sym (h, soname, #f, msg, sizeof msg);

static void
load (void)
{
  /* librbd's own DT_NEEDED loads librados; its handle is for rados_*. */
  void *rados = vdk_lazy_open (VDK_SONAME_RADOS, msg, sizeof msg);
  void *rbd = rados ? vdk_lazy_open (VDK_SONAME_RBD, msg, sizeof msg) : NULL;

  if (!rbd)
    return;
#define LOAD_RBD(f) LOAD (rbd, VDK_SONAME_RBD, f)
#define LOAD_RADOS(f) LOAD (rados, VDK_SONAME_RADOS, f)
  VDK_LAZY_RBD_SYMS (LOAD_RBD)
  VDK_LAZY_RADOS_SYMS (LOAD_RADOS)
}

const char *
vdk_lazy_rbd_load (void)
{
  pthread_once (&once, load);
  return msg[0] ? msg : NULL;
}
