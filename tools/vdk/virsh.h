/* virsh-style argument parsing and output for the pool and volume
 * commands (cmd-pool.c, cmd-vol.c). */
#ifndef VDK_VIRSH_H
#define VDK_VIRSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VOPT_MAX 24

/* One option: "--name VALUE" or "--name=VALUE" (ARG), "--name" (flag).
 * POSITIONAL options may also be given bare, in their table order, as
 * virsh allows ("pool-define-as NAME TYPE"). */
struct vopt {
  const char *name;
  bool arg;
  bool positional;
  bool required;
};

struct vargs {
  const char *val[VOPT_MAX];
  bool set[VOPT_MAX];
};

/* Returns 0, or prints a usage error and returns 1. */
int vparse (const char *cmd, const struct vopt *opts, int argc, char **argv, struct vargs *a);
/* The value (or NULL) / whether it was given, by option name. */
const char *vget (const struct vopt *opts, const struct vargs *a, const char *name);
bool vhas (const struct vopt *opts, const struct vargs *a, const char *name);

/* A table printed like virsh's vshTable. */
struct vtable {
  size_t ncols, nrows;
  char **cells;       /* nrows * ncols, row 0 is the header */
};
struct vtable *vtable_new (size_t ncols, ...);
void vtable_row (struct vtable *t, ...);   /* NCOLS strings (copied) */
void vtable_print (struct vtable *t);
void vtable_free (struct vtable *t);

/* "1.50 GiB", as virsh's vshPrettyCapacity + "%.2lf %s". */
const char *pretty_capacity (uint64_t v, char *buf, size_t len);
/* Report the pools library's last error ("vdk: ..."); returns 1. */
int pool_fail (void);

#endif
