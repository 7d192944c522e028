/* Helpers shared by the network protocols (nfs, iscsi, rbd).
 *
 * Completing async I/O from another thread: the core's queue (aio.c) reaps
 * completions from its io_uring only.  A network protocol finishes a leaf
 * I/O on some other thread (its own event loop, librbd's callback threads),
 * so it posts the completion into the queue's ring with IORING_OP_MSG_RING:
 * the core then sees an ordinary CQE (user_data = the vdk_io, res = bytes
 * or -errno) and needs no change.
 *
 * The event loop (vdk_netloop) is a thread that owns a non-thread-safe
 * client context (libnfs, libiscsi) once started: it polls the context's
 * socket, starts queued requests and runs synchronous calls for the other
 * threads, so one context serves both the sync and the async paths. */
#ifndef VDK_NETIO_H
#define VDK_NETIO_H

#include <stdbool.h>
#include <stdint.h>

struct disk_queue;
struct vdk_io;

/* Posts completions into queue rings.  Thread-safe. */
struct vdk_poster;
int vdk_poster_new (struct vdk_poster **out);   /* -ENOTSUP without MSG_RING */
void vdk_poster_free (struct vdk_poster *po);
/* Complete IO (submitted on queue Q) with RET (bytes done, or -errno). */
void vdk_poster_post (struct vdk_poster *po, struct disk_queue *q, struct vdk_io *io, int ret);

/* A request handed to the loop.  Drivers embed it first in their own. */
struct vdk_netreq {
  struct vdk_netreq *next;
  struct disk_queue *q;
  struct vdk_io *io;
};

struct vdk_netloop_ops {
  /* The socket to poll (-1: none) and the events wanted. */
  int (*fd) (void *opaque, short *events);
  /* Events on it (0: periodic tick, for timeouts).  <0: the connection
   * failed; requests in flight must have been completed with errors. */
  int (*service) (void *opaque, short revents);
  /* Start an async request (on the loop thread). */
  void (*start) (void *opaque, struct vdk_netreq *req);
};

struct vdk_netloop;
int vdk_netloop_new (const struct vdk_netloop_ops *ops, void *opaque, const char *name,
                     struct vdk_netloop **out);
/* Stop the thread (after all async requests completed) and free. */
void vdk_netloop_free (struct vdk_netloop *l);
/* Run FN(ARG) on the loop thread and wait; FN's result is returned, and
 * the error message it set is carried over to the calling thread. */
int64_t vdk_netloop_call (struct vdk_netloop *l, int64_t (*fn) (void *), void *arg);
/* Queue REQ (already allocated by the driver, freed by complete). */
int vdk_netloop_submit (struct vdk_netloop *l, struct disk_queue *q, struct vdk_io *io,
                        struct vdk_netreq *req);
/* Did the connection fail?  Then the context must not be used for
 * synchronous calls (logout, close) any more: they could wait forever. */
bool vdk_netloop_dead (struct vdk_netloop *l);
/* On the loop thread: finish REQ with RET and free it. */
void vdk_netloop_complete (struct vdk_netloop *l, struct vdk_netreq *req, int ret);

/* Take "KEY=value" out of URL's query: *OUT_URL is URL without it (malloc'd),
 * *VALUE the value or NULL (malloc'd).  -ENOMEM only. */
int vdk_url_take_param (const char *url, const char *key, char **out_url, char **value);

#endif
