/* Loading a network client library on first use: see lazy.h. */
#include <dlfcn.h>
#include <stdio.h>

#include "lazy.h"

void *
vdk_lazy_open (const char *soname, char *msg, size_t msglen)
{
  void *h = dlopen (soname, RTLD_NOW | RTLD_LOCAL);
  if (!h)
    snprintf (msg, msglen, "cannot load the client library %s (%s)", soname, dlerror ());
  return h;
}

void *
vdk_lazy_sym (void *h, const char *soname, const char *name, char *msg, size_t msglen)
{
  void *p;

  dlerror ();
  p = dlsym (h, name);
  if (!p)
    snprintf (msg, msglen, "cannot load the client library %s: it has no function %s",
              soname, name);
  return p;
}
