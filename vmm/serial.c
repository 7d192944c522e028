/* An 8250/16550-style UART at 0x3f8, IRQ 4, connected to stdio, a pty or a
 * unix socket.  It raises transmit-holding-register-empty interrupts: Linux's
 * 8250 driver relies on them and loses its console output otherwise.  Input
 * is queued in a small FIFO and raises received-data interrupts.  Output
 * never blocks the vCPU: with no reader it is dropped (pty) or kept in a
 * bounded buffer until a client connects (unix socket). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "vmm.h"

#define SERIAL_PORT 0x3f8
#define RX_FIFO 256
#define PENDING_MAX (64u << 10)

struct serial {
  struct vm *vm;
  pthread_mutex_t lock;
  uint8_t ier, lcr, mcr, scr, dll, dlm;
  bool thre_pending;       /* a THRE interrupt is waiting to be seen */
  int level;
  uint8_t rx[RX_FIFO];
  unsigned rx_head, rx_len;
  int out_fd, in_fd;       /* -1: none */
  int listen_fd;           /* unix: waiting for a console client */
  char *sock_path;
  uint8_t *pending;        /* unix: output before the client came */
  size_t npending;
  int stop_fd;
  pthread_t reader;
  bool have_reader;
};

static void
update_irq (struct serial *s)
{
  int level = ((s->ier & 0x02) && s->thre_pending) || ((s->ier & 0x01) && s->rx_len);

  if (level != s->level) {
    s->level = level;
    vm_irq_line (s->vm, SERIAL_IRQ, level);
  }
}

static void
emit (struct serial *s, uint8_t v)
{
  ssize_t n;

  if (s->out_fd < 0) {
    if (s->listen_fd >= 0 && s->pending && s->npending < PENDING_MAX)
      s->pending[s->npending++] = v;
    return;
  }
  do
    n = write (s->out_fd, &v, 1);
  while (n < 0 && errno == EINTR);
}

static void
serial_io (void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
  struct serial *s = opaque;
  bool dlab;

  (void) len;
  pthread_mutex_lock (&s->lock);
  dlab = s->lcr & 0x80;
  if (is_write) {
    uint8_t v = data[0];
    switch (off) {
    case 0:
      if (dlab)
        s->dll = v;
      else {
        if (!(s->mcr & 0x10))
          emit (s, v);
        s->thre_pending = true;
      }
      break;
    case 1:
      if (dlab)
        s->dlm = v;
      else {
        /* Enabling THRE interrupts with an empty THR raises one at once. */
        if ((v & 0x02) && !(s->ier & 0x02))
          s->thre_pending = true;
        s->ier = v & 0x0f;
      }
      break;
    case 2: break;               /* FCR: FIFOs are not modelled */
    case 3: s->lcr = v; break;
    case 4: s->mcr = v & 0x1f; break;
    case 7: s->scr = v; break;
    }
  }
  else {
    uint8_t v = 0;
    switch (off) {
    case 0:
      if (dlab)
        v = s->dll;
      else if (s->rx_len) {
        v = s->rx[s->rx_head];
        s->rx_head = (s->rx_head + 1) % RX_FIFO;
        s->rx_len--;
      }
      break;
    case 1: v = dlab ? s->dlm : s->ier; break;
    case 2:                      /* IIR: received data > THRE > none */
      if ((s->ier & 0x01) && s->rx_len)
        v = 0x04;
      else if ((s->ier & 0x02) && s->thre_pending) {
        v = 0x02;
        s->thre_pending = false;
      }
      else
        v = 0x01;
      break;
    case 3: v = s->lcr; break;
    case 4: v = s->mcr; break;
    case 5: v = 0x60 | (s->rx_len ? 1 : 0); break;   /* THR and TSR empty */
    case 6:
      /* Loopback mode reflects MCR into MSR, as the driver's probe checks. */
      if (s->mcr & 0x10)
        v = ((s->mcr & 0x01) << 5) | ((s->mcr & 0x02) << 3) | ((s->mcr & 0x04) << 4) |
          ((s->mcr & 0x08) << 4);
      else
        v = 0xb0;                /* DCD, DSR, CTS */
      break;
    case 7: v = s->scr; break;
    }
    memset (data, 0, len);
    data[0] = v;
  }
  update_irq (s);
  pthread_mutex_unlock (&s->lock);
}

static void
client_gone (struct serial *s)
{
  pthread_mutex_lock (&s->lock);
  if (s->in_fd >= 0)
    close (s->in_fd);
  s->in_fd = s->out_fd = -1;
  pthread_mutex_unlock (&s->lock);
}

static void
client_accept (struct serial *s)
{
  int fd = accept4 (s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

  if (fd < 0)
    return;
  pthread_mutex_lock (&s->lock);
  if (s->in_fd >= 0) {          /* one console client at a time */
    pthread_mutex_unlock (&s->lock);
    close (fd);
    return;
  }
  s->in_fd = s->out_fd = fd;
  for (size_t o = 0; o < s->npending; ) {
    ssize_t n = send (fd, s->pending + o, s->npending - o, MSG_NOSIGNAL);
    if (n <= 0)
      break;
    o += n;
  }
  free (s->pending);
  s->pending = NULL;
  s->npending = 0;
  pthread_mutex_unlock (&s->lock);
}

static void *
reader_thread (void *arg)
{
  struct serial *s = arg;
  uint8_t buf[64];

  for (;;) {
    struct pollfd p[3] = { { .fd = s->stop_fd, .events = POLLIN },
                           { .fd = s->in_fd, .events = POLLIN },
                           { .fd = s->listen_fd, .events = POLLIN } };
    if (poll (p, 3, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (p[0].revents)
      break;
    if (p[2].revents & POLLIN)
      client_accept (s);
    if (!(p[1].revents & (POLLIN | POLLHUP | POLLERR)))
      continue;
    pthread_mutex_lock (&s->lock);
    size_t room = RX_FIFO - s->rx_len;
    pthread_mutex_unlock (&s->lock);
    if (room == 0) {
      usleep (10000);
      continue;
    }
    ssize_t n = read (p[1].fd, buf, room < sizeof buf ? room : sizeof buf);
    if (n <= 0) {
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (s->listen_fd >= 0) {
        client_gone (s);        /* wait for the next client */
        continue;
      }
      if (n < 0 && errno == EIO) {
        usleep (100000);        /* pty without a reader: wait for one */
        continue;
      }
      break;                    /* EOF on stdin: no more input */
    }
    pthread_mutex_lock (&s->lock);
    for (ssize_t i = 0; i < n && s->rx_len < RX_FIFO; i++)
      s->rx[(s->rx_head + s->rx_len++) % RX_FIFO] = buf[i];
    update_irq (s);
    pthread_mutex_unlock (&s->lock);
  }
  return NULL;
}

static int
open_pty (struct serial *s)
{
  int fd = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
  const char *name;

  /* In a container /dev/ptmx may belong to another devpts instance than
   * /dev/pts: then use the instance's own ptmx. */
  if (fd >= 0 && grantpt (fd) == 0 && unlockpt (fd) == 0 && (name = ptsname (fd)) &&
      access (name, F_OK) < 0) {
    close (fd);
    fd = open ("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
  }
  if (fd < 0 || grantpt (fd) < 0 || unlockpt (fd) < 0 || !(name = ptsname (fd))) {
    int e = errno;
    if (fd >= 0)
      close (fd);
    return vm_err (e, "cannot create a pty for the console: %s", strerror (e));
  }
  /* Raw: no echo of the guest's output back into its input. */
  struct termios t;
  if (tcgetattr (fd, &t) == 0) {
    cfmakeraw (&t);
    tcsetattr (fd, TCSANOW, &t);
  }
  s->in_fd = s->out_fd = fd;
  fprintf (stderr, "vdk: console on %s\n", name);
  return 0;
}

static int
open_socket (struct serial *s, const char *path)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };

  if (strlen (path) >= sizeof sun.sun_path)
    return vm_err (ENAMETOOLONG, "%s: console socket path is too long", path);
  strcpy (sun.sun_path, path);
  s->listen_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s->listen_fd < 0)
    return vm_err (errno, "socket: %s", strerror (errno));
  if (vm_unlink_stale_socket (path) < 0 ||
      bind (s->listen_fd, (struct sockaddr *) &sun, sizeof sun) < 0 ||
      listen (s->listen_fd, 1) < 0)
    return vm_err (errno, "%s: cannot create the console socket: %s", path, strerror (errno));
  s->sock_path = strdup (path);
  s->pending = malloc (PENDING_MAX);
  if (!s->sock_path || !s->pending)
    return vm_err (ENOMEM, "out of memory");
  return 0;
}

int
serial_create (struct vm *vm, enum vm_console console, const char *path)
{
  struct serial *s = calloc (1, sizeof *s);
  int r;

  if (!s)
    return vm_err (ENOMEM, "out of memory");
  s->vm = vm;
  s->out_fd = s->in_fd = s->listen_fd = s->stop_fd = -1;
  pthread_mutex_init (&s->lock, NULL);
  vm->serial = s;
  if ((r = vm_add_pio (vm, SERIAL_PORT, 8, serial_io, s)) < 0)
    return r;
  switch (console) {
  case VM_CONSOLE_NONE: return 0;
  case VM_CONSOLE_STDIO: s->out_fd = 1; s->in_fd = 0; break;
  case VM_CONSOLE_PTY: r = open_pty (s); break;
  case VM_CONSOLE_UNIX: r = open_socket (s, path); break;
  }
  if (r < 0)
    return r;
  s->stop_fd = eventfd (0, EFD_CLOEXEC);
  if (s->stop_fd < 0)
    return vm_err (errno, "eventfd: %s", strerror (errno));
  r = pthread_create (&s->reader, NULL, reader_thread, s);
  if (r)
    return vm_err (r, "cannot start the console thread: %s", strerror (r));
  s->have_reader = true;
  return 0;
}

void
serial_destroy (struct vm *vm)
{
  struct serial *s = vm->serial;
  uint64_t one = 1;

  if (!s)
    return;
  if (s->have_reader) {
    if (write (s->stop_fd, &one, sizeof one) < 0)
      pthread_cancel (s->reader);
    pthread_join (s->reader, NULL);
  }
  if (s->stop_fd >= 0)
    close (s->stop_fd);
  if (s->in_fd > 0)
    close (s->in_fd);
  if (s->listen_fd >= 0)
    close (s->listen_fd);
  if (s->sock_path) {
    unlink (s->sock_path);
    free (s->sock_path);
  }
  free (s->pending);
  pthread_mutex_destroy (&s->lock);
  free (s);
  vm->serial = NULL;
}
