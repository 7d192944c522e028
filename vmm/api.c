/* The control socket: JSON lines on a unix socket, QMP-like.
 *   -> {"execute": "query-status"}            (optional "id" is echoed)
 *   <- {"return": {"status": "running", "running": true}}
 * Commands: query-status, pause, resume, quit, system-powerdown, query-block.
 * Errors: {"error": {"class": "GenericError", "desc": "..."}}. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "vmm.h"

#define API_MAX_CLIENTS 8
#define API_LINE_MAX 65536

struct client {
  int fd;
  char *buf;
  size_t len;
};

struct vm_api {
  struct vm *vm;
  char *path;
  int listen_fd, stop_fd;
  pthread_t thread;
  bool have_thread;
  struct client clients[API_MAX_CLIENTS];
};

static void
send_json (int fd, struct json_object *o)
{
  const char *s = json_object_to_json_string_ext (o, JSON_C_TO_STRING_PLAIN);
  size_t len = strlen (s), off = 0;

  while (off < len) {
    ssize_t n = send (fd, s + off, len - off, MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR)
        continue;
      return;
    }
    off += n;
  }
  send (fd, "\n", 1, MSG_NOSIGNAL);
}

static struct json_object *
error_reply (const char *desc)
{
  struct json_object *o = json_object_new_object (), *e = json_object_new_object ();

  json_object_object_add (e, "class", json_object_new_string ("GenericError"));
  json_object_object_add (e, "desc", json_object_new_string (desc));
  json_object_object_add (o, "error", e);
  return o;
}

static struct json_object *
query_block (struct vm *vm)
{
  struct json_object *arr = json_object_new_array ();
  struct blk_info bi;

  for (unsigned i = 0; virtio_blk_query (vm, i, &bi); i++) {
    struct json_object *d = json_object_new_object (), *s = json_object_new_object ();
    json_object_object_add (d, "device", json_object_new_string (bi.name));
    json_object_object_add (d, "file", json_object_new_string (bi.spec));
    json_object_object_add (d, "format", json_object_new_string (bi.format ? bi.format : ""));
    json_object_object_add (d, "virtual-size", json_object_new_int64 (bi.size));
    json_object_object_add (d, "read-only", json_object_new_boolean (bi.readonly));
#define S(key, f) json_object_object_add (s, key, json_object_new_int64 (bi.stats.f))
    S ("rd_bytes", rd_bytes); S ("wr_bytes", wr_bytes);
    S ("rd_operations", rd_ops); S ("wr_operations", wr_ops);
    S ("flush_operations", flush_ops); S ("discard_operations", discard_ops);
    S ("write_zeroes_operations", write_zeroes_ops);
    S ("failed_operations", failed_ops); S ("invalid_operations", invalid_ops);
#undef S
    json_object_object_add (d, "stats", s);
    json_object_array_add (arr, d);
  }
  return arr;
}

/* Returns true when the VM was told to quit. */
static bool
handle_line (struct vm_api *a, int fd, const char *line)
{
  struct vm *vm = a->vm;
  struct json_object *req = json_tokener_parse (line), *cmd, *id = NULL, *reply = NULL, *ret = NULL;
  const char *name;
  bool quit = false;

  if (!req || !json_object_is_type (req, json_type_object) ||
      !json_object_object_get_ex (req, "execute", &cmd) ||
      !json_object_is_type (cmd, json_type_string)) {
    reply = error_reply ("expected a JSON object with \"execute\": \"COMMAND\"");
    goto send;
  }
  json_object_object_get_ex (req, "id", &id);
  name = json_object_get_string (cmd);
  if (!strcmp (name, "query-status")) {
    bool paused;
    pthread_mutex_lock (&vm->lock);
    paused = vm->paused;
    pthread_mutex_unlock (&vm->lock);
    ret = json_object_new_object ();
    json_object_object_add (ret, "status", json_object_new_string (paused ? "paused" : "running"));
    json_object_object_add (ret, "running", json_object_new_boolean (!paused));
  }
  else if (!strcmp (name, "pause")) {
    vm_pause (vm);
    ret = json_object_new_object ();
  }
  else if (!strcmp (name, "resume") || !strcmp (name, "cont")) {
    vm_resume (vm);
    ret = json_object_new_object ();
  }
  else if (!strcmp (name, "quit")) {
    ret = json_object_new_object ();
    quit = true;
  }
  else if (!strcmp (name, "system-powerdown")) {
    i8042_ctrl_alt_del (vm);
    ret = json_object_new_object ();
  }
  else if (!strcmp (name, "query-block"))
    ret = query_block (vm);
  else {
    char msg[128];
    snprintf (msg, sizeof msg, "unknown command '%.64s'", name);
    reply = error_reply (msg);
  }
  if (ret) {
    reply = json_object_new_object ();
    json_object_object_add (reply, "return", ret);
  }
send:
  if (id)
    json_object_object_add (reply, "id", json_object_get (id));
  send_json (fd, reply);
  json_object_put (reply);
  if (req)
    json_object_put (req);
  if (quit)
    vm_request_stop (vm, VM_STOP_QUIT, "quit on the control socket");
  return quit;
}

static void
client_close (struct client *c)
{
  close (c->fd);
  free (c->buf);
  c->fd = -1;
  c->buf = NULL;
  c->len = 0;
}

static void
client_read (struct vm_api *a, struct client *c)
{
  char tmp[4096];
  ssize_t n = recv (c->fd, tmp, sizeof tmp, 0);
  char *nl;

  if (n <= 0) {
    if (n < 0 && errno == EINTR)
      return;
    client_close (c);
    return;
  }
  if (c->len + n > API_LINE_MAX) {
    struct json_object *e = error_reply ("request line too long");
    send_json (c->fd, e);
    json_object_put (e);
    client_close (c);
    return;
  }
  char *nb = realloc (c->buf, c->len + n + 1);
  if (!nb) {
    client_close (c);
    return;
  }
  c->buf = nb;
  memcpy (c->buf + c->len, tmp, n);
  c->len += n;
  c->buf[c->len] = 0;
  while ((nl = memchr (c->buf, '\n', c->len))) {
    *nl = 0;
    if (nl > c->buf && !(nl == c->buf + 1 && c->buf[0] == '\r'))
      handle_line (a, c->fd, c->buf);
    c->len -= nl + 1 - c->buf;
    memmove (c->buf, nl + 1, c->len + 1);
  }
}

static void *
api_thread (void *arg)
{
  struct vm_api *a = arg;

  for (;;) {
    struct pollfd p[2 + API_MAX_CLIENTS];
    unsigned n = 2;
    p[0] = (struct pollfd) { .fd = a->stop_fd, .events = POLLIN };
    p[1] = (struct pollfd) { .fd = a->listen_fd, .events = POLLIN };
    for (unsigned i = 0; i < API_MAX_CLIENTS; i++)
      p[n++] = (struct pollfd) { .fd = a->clients[i].fd, .events = POLLIN };
    if (poll (p, n, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (p[0].revents)
      break;
    if (p[1].revents & POLLIN) {
      int fd = accept4 (a->listen_fd, NULL, NULL, SOCK_CLOEXEC);
      unsigned i;
      for (i = 0; fd >= 0 && i < API_MAX_CLIENTS && a->clients[i].fd >= 0; i++)
        ;
      if (fd >= 0 && i == API_MAX_CLIENTS) {
        struct json_object *e = error_reply ("too many clients");
        send_json (fd, e);
        json_object_put (e);
        close (fd);
      }
      else if (fd >= 0) {
        struct json_object *g = json_object_new_object (), *v = json_object_new_object ();
        json_object_object_add (v, "version", json_object_new_string (VDK_VERSION));
        json_object_object_add (g, "vdk", v);
        send_json (fd, g);
        json_object_put (g);
        a->clients[i].fd = fd;
      }
    }
    for (unsigned i = 0; i < API_MAX_CLIENTS; i++)
      if (a->clients[i].fd >= 0 && (p[2 + i].revents & (POLLIN | POLLHUP | POLLERR)))
        client_read (a, &a->clients[i]);
  }
  return NULL;
}

int
api_create (struct vm *vm, const char *path)
{
  struct vm_api *a = calloc (1, sizeof *a);
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  int r;

  if (!a)
    return vm_err (ENOMEM, "out of memory");
  a->vm = vm;
  a->listen_fd = a->stop_fd = -1;
  for (unsigned i = 0; i < API_MAX_CLIENTS; i++)
    a->clients[i].fd = -1;
  vm->api = a;
  if (strlen (path) >= sizeof sun.sun_path)
    return vm_err (ENAMETOOLONG, "%s: control socket path is too long", path);
  strcpy (sun.sun_path, path);
  a->listen_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (a->listen_fd < 0)
    return vm_err (errno, "socket: %s", strerror (errno));
  if (vm_unlink_stale_socket (path) < 0 ||
      bind (a->listen_fd, (struct sockaddr *) &sun, sizeof sun) < 0)
    return vm_err (errno, "%s: cannot create the control socket: %s", path, strerror (errno));
  a->path = strdup (path);
  if (listen (a->listen_fd, 8) < 0)
    return vm_err (errno, "%s: listen: %s", path, strerror (errno));
  a->stop_fd = eventfd (0, EFD_CLOEXEC);
  if (a->stop_fd < 0)
    return vm_err (errno, "eventfd: %s", strerror (errno));
  r = pthread_create (&a->thread, NULL, api_thread, a);
  if (r)
    return vm_err (r, "cannot start the control thread: %s", strerror (r));
  a->have_thread = true;
  return 0;
}

void
api_destroy (struct vm *vm)
{
  struct vm_api *a = vm->api;
  uint64_t one = 1;

  if (!a)
    return;
  if (a->have_thread) {
    if (write (a->stop_fd, &one, sizeof one) < 0)
      pthread_cancel (a->thread);
    pthread_join (a->thread, NULL);
  }
  for (unsigned i = 0; i < API_MAX_CLIENTS; i++)
    if (a->clients[i].fd >= 0)
      client_close (&a->clients[i]);
  if (a->listen_fd >= 0)
    close (a->listen_fd);
  if (a->path) {
    unlink (a->path);
    free (a->path);
  }
  if (a->stop_fd >= 0)
    close (a->stop_fd);
  free (a);
  vm->api = NULL;
}
