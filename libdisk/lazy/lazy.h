/* Loading a network client library on first use.
 *
 * vdk does not link librbd/librados, libiscsi or libnfs: linked, they (and
 * librbd's C++ dependencies, 71 MB in all) were loaded and relocated by
 * every run of vdk, `vdk --version` included, tripling its start time.
 * Each is dlopen()ed the first time a protocol or pool of its kind creates a
 * context, and its functions are called through a table of pointers
 * (lazy/<name>-table.h; the code that calls them includes lazy/<name>.h,
 * whose macros turn each call into a call through the table).  The
 * compiler checks every pointer's type against the library's own header.
 * Handles are never closed.
 *
 * These objects are built into libdisk and, separately, into the pools
 * library (which sees libdisk only through its public API); each copy
 * loads the library once, and dlopen shares it between them. */
#ifndef VDK_LAZY_H
#define VDK_LAZY_H

#include <stddef.h>

/* dlopen SONAME; on failure, a message naming it goes to MSG. */
void *vdk_lazy_open (const char *soname, char *msg, size_t msglen);
/* dlsym NAME in H (from SONAME); on failure, a message goes to MSG. */
void *vdk_lazy_sym (void *h, const char *soname, const char *name, char *msg, size_t msglen);

#endif /* VDK_LAZY_H */
