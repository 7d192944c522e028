/* An 8250/16550-style UART at 0x3f8, IRQ 4, connected to stdio.  It raises
 * transmit-holding-register-empty interrupts: Linux's 8250 driver relies on
 * them and loses its console output otherwise.  Input from stdin is queued
 * in a small FIFO and raises received-data interrupts. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm.h"

#define SERIAL_PORT 0x3f8
#define RX_FIFO 256

struct serial {
  struct vm *vm;
  pthread_mutex_t lock;
  uint8_t ier, lcr, mcr, scr, dll, dlm;
  bool thre_pending;       /* a THRE interrupt is waiting to be seen */
  int level;
  uint8_t rx[RX_FIFO];
  unsigned rx_head, rx_len;
  int out_fd;
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
        if (s->out_fd >= 0 && !(s->mcr & 0x10)) {
          ssize_t n;
          do
            n = write (s->out_fd, &v, 1);
          while (n < 0 && errno == EINTR);
        }
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

static void *
reader_thread (void *arg)
{
  struct serial *s = arg;
  struct pollfd p[2] = { { .fd = 0, .events = POLLIN }, { .fd = s->stop_fd, .events = POLLIN } };
  uint8_t buf[64];

  for (;;) {
    if (poll (p, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (p[1].revents)
      break;
    if (!(p[0].revents & (POLLIN | POLLHUP)))
      continue;
    pthread_mutex_lock (&s->lock);
    size_t room = RX_FIFO - s->rx_len;
    pthread_mutex_unlock (&s->lock);
    if (room == 0) {
      usleep (10000);
      continue;
    }
    ssize_t n = read (0, buf, room < sizeof buf ? room : sizeof buf);
    if (n <= 0) {
      if (n < 0 && errno == EINTR)
        continue;
      break;                     /* EOF: no more input */
    }
    pthread_mutex_lock (&s->lock);
    for (ssize_t i = 0; i < n && s->rx_len < RX_FIFO; i++)
      s->rx[(s->rx_head + s->rx_len++) % RX_FIFO] = buf[i];
    update_irq (s);
    pthread_mutex_unlock (&s->lock);
  }
  return NULL;
}

int
serial_create (struct vm *vm, enum vm_console console)
{
  struct serial *s = calloc (1, sizeof *s);
  int r;

  if (!s)
    return vm_err (ENOMEM, "out of memory");
  s->vm = vm;
  s->out_fd = console == VM_CONSOLE_STDIO ? 1 : -1;
  s->stop_fd = -1;
  pthread_mutex_init (&s->lock, NULL);
  vm->serial = s;
  if ((r = vm_add_pio (vm, SERIAL_PORT, 8, serial_io, s)) < 0)
    return r;
  if (console == VM_CONSOLE_STDIO) {
    s->stop_fd = eventfd (0, EFD_CLOEXEC);
    if (s->stop_fd < 0)
      return vm_err (errno, "eventfd: %s", strerror (errno));
    if (pthread_create (&s->reader, NULL, reader_thread, s) == 0)
      s->have_reader = true;
  }
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
  pthread_mutex_destroy (&s->lock);
  free (s);
  vm->serial = NULL;
}
