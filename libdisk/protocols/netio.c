/* See netio.h. */
#include <poll.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <liburing.h>

#include "../internal.h"
#include "netio.h"

struct vdk_poster {
  pthread_mutex_t lock;
  struct io_uring ring;
};

int
vdk_poster_new (struct vdk_poster **out)
{
  struct vdk_poster *po = calloc (1, sizeof *po);
  struct io_uring_probe *probe;
  bool ok;

  if (!po)
    return -ENOMEM;
  if (io_uring_queue_init (16, &po->ring, 0) < 0) {
    free (po);
    return -ENOTSUP;
  }
  probe = io_uring_get_probe_ring (&po->ring);
  ok = probe && io_uring_opcode_supported (probe, IORING_OP_MSG_RING);
  if (probe)
    io_uring_free_probe (probe);
  if (!ok) {
    io_uring_queue_exit (&po->ring);
    free (po);
    return -ENOTSUP;
  }
  pthread_mutex_init (&po->lock, NULL);
  *out = po;
  return 0;
}

void
vdk_poster_free (struct vdk_poster *po)
{
  if (!po)
    return;
  io_uring_queue_exit (&po->ring);
  pthread_mutex_destroy (&po->lock);
  free (po);
}

void
vdk_poster_post (struct vdk_poster *po, struct disk_queue *q, struct vdk_io *io, int ret)
{
  struct io_uring *target = vdk_queue_ring (q);
  struct io_uring_sqe *sqe;
  struct io_uring_cqe *cqe;

  pthread_mutex_lock (&po->lock);
  for (;;) {
    sqe = io_uring_get_sqe (&po->ring);
    if (sqe)
      break;
    io_uring_submit (&po->ring);
  }
  io_uring_prep_msg_ring (sqe, target->ring_fd, (unsigned) ret, (uint64_t) (uintptr_t) io, 0);
  io_uring_submit (&po->ring);
  /* MSG_RING completes inline; reap our own CQE (its result only matters if
   * the target's CQ overflowed, which the core's sizing prevents) */
  if (io_uring_wait_cqe (&po->ring, &cqe) == 0)
    io_uring_cqe_seen (&po->ring, cqe);
  pthread_mutex_unlock (&po->lock);
}

/* ---- the loop ------------------------------------------------------------ */

struct call {
  struct vdk_netreq req;       /* req.io == NULL marks a call */
  int64_t (*fn) (void *);
  void *arg;
  int64_t ret;
  char msg[1024];
  bool done;
};

struct vdk_netloop {
  const struct vdk_netloop_ops *ops;
  void *opaque;
  char *name;                  /* for messages */
  struct vdk_poster *poster;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int evfd;
  bool stop;
  bool dead;                   /* the connection failed: no more polling */
  struct vdk_netreq *head, *tail;
};

static void
wake (struct vdk_netloop *l)
{
  uint64_t one = 1;
  while (write (l->evfd, &one, sizeof one) < 0 && errno == EINTR)
    ;
}

static void
enqueue (struct vdk_netloop *l, struct vdk_netreq *r)
{
  r->next = NULL;
  pthread_mutex_lock (&l->lock);
  if (l->tail)
    l->tail->next = r;
  else
    l->head = r;
  l->tail = r;
  pthread_mutex_unlock (&l->lock);
  wake (l);
}

static void *
loop_main (void *opaque)
{
  struct vdk_netloop *l = opaque;

  for (;;) {
    struct vdk_netreq *list;
    struct pollfd pfd[2];
    bool stop;
    int nfds = 1, r;

    pthread_mutex_lock (&l->lock);
    list = l->head;
    l->head = l->tail = NULL;
    stop = l->stop;
    pthread_mutex_unlock (&l->lock);
    while (list) {
      struct vdk_netreq *r0 = list;
      list = list->next;
      if (r0->io && l->dead)
        vdk_netloop_complete (l, r0, -ECONNRESET);
      else if (r0->io)
        l->ops->start (l->opaque, r0);
      else {
        struct call *c = (struct call *) r0;
        vdk_err_clear ();
        /* a synchronous call on a broken connection would wait for its
         * timeout: fail it at once */
        if (l->dead)
          c->ret = vdk_err (ECONNRESET, "%s: the connection to the server was lost", l->name);
        else
          c->ret = c->fn (c->arg);
        if (c->ret < 0)
          snprintf (c->msg, sizeof c->msg, "%s", disk_last_error ());
        pthread_mutex_lock (&l->lock);
        c->done = true;
        pthread_cond_broadcast (&l->cond);
        pthread_mutex_unlock (&l->lock);
      }
    }
    if (stop)
      return NULL;
    pfd[0] = (struct pollfd) { .fd = l->evfd, .events = POLLIN };
    pfd[1].fd = l->dead ? -1 : l->ops->fd (l->opaque, &pfd[1].events);
    pfd[1].revents = 0;
    if (pfd[1].fd >= 0)
      nfds = 2;
    /* the tick also drives the client library's timeouts */
    r = poll (pfd, nfds, 100);
    if (r < 0 && errno != EINTR)
      r = 0;
    if (pfd[0].revents & POLLIN) {
      uint64_t v;
      if (read (l->evfd, &v, sizeof v) < 0)
        (void) 0;
    }
    /* A failed connection is not polled again (it would spin on POLLHUP):
     * the library has failed what was in flight, later requests fail at
     * once (there is no reconnect). */
    if (nfds == 2 && l->ops->service (l->opaque, pfd[1].revents) < 0) {
      pthread_mutex_lock (&l->lock);
      l->dead = true;
      pthread_mutex_unlock (&l->lock);
    }
    else if (l->dead)
      l->ops->service (l->opaque, 0);   /* timeouts only */
  }
}

int
vdk_netloop_new (const struct vdk_netloop_ops *ops, void *opaque, const char *name,
                 struct vdk_netloop **out)
{
  struct vdk_netloop *l = calloc (1, sizeof *l);
  int r;

  if (!l)
    return vdk_err (ENOMEM, "out of memory");
  l->ops = ops;
  l->opaque = opaque;
  l->name = strdup (name);
  if (!l->name) {
    free (l);
    return vdk_err (ENOMEM, "out of memory");
  }
  r = vdk_poster_new (&l->poster);
  if (r < 0) {
    free (l->name);
    free (l);
    return vdk_err (-r, "%s: no io_uring MSG_RING support for asynchronous I/O", name);
  }
  l->evfd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (l->evfd < 0) {
    r = vdk_err (errno, "%s: eventfd: %s", name, strerror (errno));
    goto err;
  }
  pthread_mutex_init (&l->lock, NULL);
  pthread_cond_init (&l->cond, NULL);
  r = pthread_create (&l->thread, NULL, loop_main, l);
  if (r) {
    pthread_mutex_destroy (&l->lock);
    pthread_cond_destroy (&l->cond);
    close (l->evfd);
    r = vdk_err (r, "%s: cannot start the I/O thread: %s", name, strerror (r));
    goto err;
  }
  *out = l;
  return 0;
 err:
  vdk_poster_free (l->poster);
  free (l->name);
  free (l);
  return r;
}

void
vdk_netloop_free (struct vdk_netloop *l)
{
  if (!l)
    return;
  pthread_mutex_lock (&l->lock);
  l->stop = true;
  pthread_mutex_unlock (&l->lock);
  wake (l);
  pthread_join (l->thread, NULL);
  close (l->evfd);
  pthread_mutex_destroy (&l->lock);
  pthread_cond_destroy (&l->cond);
  vdk_poster_free (l->poster);
  free (l->name);
  free (l);
}

int64_t
vdk_netloop_call (struct vdk_netloop *l, int64_t (*fn) (void *), void *arg)
{
  struct call c = { .fn = fn, .arg = arg };

  enqueue (l, &c.req);
  pthread_mutex_lock (&l->lock);
  while (!c.done)
    pthread_cond_wait (&l->cond, &l->lock);
  pthread_mutex_unlock (&l->lock);
  if (c.ret < 0)
    vdk_err ((int) -c.ret, "%s", c.msg);
  return c.ret;
}

int
vdk_netloop_submit (struct vdk_netloop *l, struct disk_queue *q, struct vdk_io *io,
                    struct vdk_netreq *req)
{
  req->q = q;
  req->io = io;
  enqueue (l, req);
  return 0;
}

bool
vdk_netloop_dead (struct vdk_netloop *l)
{
  bool d;
  pthread_mutex_lock (&l->lock);
  d = l->dead;
  pthread_mutex_unlock (&l->lock);
  return d;
}

void
vdk_netloop_complete (struct vdk_netloop *l, struct vdk_netreq *req, int ret)
{
  vdk_poster_post (l->poster, req->q, req->io, ret);
  free (req);
}

int
vdk_url_take_param (const char *url, const char *key, char **out_url, char **value)
{
  const char *q = strchr (url, '?');
  size_t kl = strlen (key);
  char *out, *o;
  const char *s;

  *value = NULL;
  out = strdup (url);
  if (!out)
    return -ENOMEM;
  if (!q) {
    *out_url = out;
    return 0;
  }
  o = out + (q - url);
  *o = 0;
  s = q + 1;
  while (*s) {
    size_t l = strcspn (s, "&");
    if (l > kl && !strncmp (s, key, kl) && s[kl] == '=') {
      free (*value);
      *value = strndup (s + kl + 1, l - kl - 1);
      if (!*value) {
        free (out);
        return -ENOMEM;
      }
    }
    else if (l > 0) {
      char sep = o == out + (q - url) ? '?' : '&';
      *o++ = sep;
      memcpy (o, s, l);
      o += l;
      *o = 0;
    }
    s += l;
    if (*s == '&')
      s++;
  }
  *out_url = out;
  return 0;
}
