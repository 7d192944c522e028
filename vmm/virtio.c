/* virtio-mmio version 2 transport (virtio 1.x spec, section 4.2) and split
 * virtqueues.  Each device has an I/O thread woken by an eventfd (a KVM
 * ioeventfd on QueueNotify when available), so requests are not served on
 * the vCPU thread. */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "virtio.h"

/* Register offsets */
#define R_MAGIC        0x000
#define R_VERSION      0x004
#define R_DEVICE_ID    0x008
#define R_VENDOR_ID    0x00c
#define R_DEV_FEAT     0x010
#define R_DEV_FEAT_SEL 0x014
#define R_DRV_FEAT     0x020
#define R_DRV_FEAT_SEL 0x024
#define R_QUEUE_SEL    0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM    0x038
#define R_QUEUE_READY  0x044
#define R_QUEUE_NOTIFY 0x050
#define R_ISR          0x060
#define R_ISR_ACK      0x064
#define R_STATUS       0x070
#define R_DESC_LO      0x080
#define R_DESC_HI      0x084
#define R_AVAIL_LO     0x090
#define R_AVAIL_HI     0x094
#define R_USED_LO      0x0a0
#define R_USED_HI      0x0a4
#define R_CONFIG_GEN   0x0fc
#define R_CONFIG       0x100

/* Free ISA IRQs; 15 and 7 (where the 8259 reports spurious interrupts) last. */
static const unsigned irqs[VM_MAX_VIRTIO] = { 5, 6, 9, 10, 11, 12, 14, 15, 7 };

void
virtio_complain (struct virtio_dev *d, const char *fmt, ...)
{
  va_list ap;
  char msg[256];

  if (d->complaints >= 32)
    return;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  fprintf (stderr, "vdk: %s: guest error: %s%s\n", d->name, msg,
           ++d->complaints == 32 ? " (further errors not shown)" : "");
}

static void
update_irq (struct virtio_dev *d)
{
  int level = d->isr != 0;

  if (level != d->level) {
    d->level = level;
    vm_irq_line (d->vm, d->irq, level);
  }
}

void
virtio_notify (struct virtio_dev *d)
{
  pthread_mutex_lock (&d->lock);
  d->isr |= 1;
  update_irq (d);
  pthread_mutex_unlock (&d->lock);
}

static void
set_needs_reset (struct virtio_dev *d)
{
  pthread_mutex_lock (&d->lock);
  d->status |= VIRTIO_STATUS_NEEDS_RESET;
  d->isr |= 2;                  /* configuration change */
  update_irq (d);
  pthread_mutex_unlock (&d->lock);
}

/* ---- virtqueues --------------------------------------------------------- */
static uint16_t
load16 (const uint8_t *p)
{
  uint16_t v;

  memcpy (&v, p, 2);
  return le16toh (v);
}

int
virtq_pop (struct virtio_dev *d, struct virtq *q, struct vchain *c)
{
  uint16_t avail_idx, i;
  unsigned count = 0;
  bool seen_writable = false;

  if (!q->ready || (d->status & VIRTIO_STATUS_NEEDS_RESET))
    return 0;
  avail_idx = le16toh (__atomic_load_n ((uint16_t *) (q->avail + 2), __ATOMIC_ACQUIRE));
  if ((uint16_t) (avail_idx - q->last_avail) > q->num) {
    virtio_complain (d, "available index jumped from %u to %u (queue size %u); "
                     "the device needs a reset", q->last_avail, avail_idx, q->num);
    set_needs_reset (d);
    return -1;
  }
  if (avail_idx == q->last_avail)
    return 0;
  c->head = load16 (q->avail + 4 + 2 * (q->last_avail % q->num));
  c->nseg = 0;
  c->bad = NULL;
  if (c->head >= q->num) {
    virtio_complain (d, "descriptor head %u out of range (queue size %u); the device needs "
                     "a reset", c->head, q->num);
    set_needs_reset (d);
    return -1;
  }
  q->last_avail++;
  /* Walk the chain in TABLE (the ring's descriptors, or one indirect table)
   * of TSIZE entries; at most TSIZE steps, so loops end. */
  const uint8_t *table = q->desc;
  unsigned tsize = q->num;
  bool indirect = false;
  for (i = c->head;; ) {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
    const uint8_t *dp = table + 16 * i;

    /* Read each field once: the guest may be changing them under us. */
    memcpy (&addr, dp, 8);
    memcpy (&len, dp + 8, 4);
    flags = load16 (dp + 12);
    next = load16 (dp + 14);
    addr = le64toh (addr);
    len = le32toh (len);
    if (++count > tsize) {
      c->bad = "descriptor chain is longer than its table (a loop?)";
      break;
    }
    if (flags & VIRTQ_DESC_F_INDIRECT) {
      if (!(d->driver_features & VIRTIO_RING_F_INDIRECT_DESC)) {
        c->bad = "indirect descriptor (not negotiated)";
        break;
      }
      if (indirect) {
        c->bad = "indirect descriptor inside an indirect table";
        break;
      }
      if (c->nseg || (flags & VIRTQ_DESC_F_NEXT)) {
        c->bad = "indirect descriptor chained to others";
        break;
      }
      if (len == 0 || len % 16 || len / 16 > VIRTQ_MAX_SIZE) {
        c->bad = "indirect table length is not 1 to 256 descriptors";
        break;
      }
      if ((addr & 15) || !(table = vm_gpa (d->vm, addr, len))) {
        c->bad = "indirect table misaligned or outside guest RAM";
        break;
      }
      indirect = true;
      tsize = len / 16;
      count = 0;
      i = 0;
      continue;
    }
    uint8_t *ptr = vm_gpa (d->vm, addr, len);
    if (!ptr) {
      c->bad = "descriptor buffer outside guest RAM";
      break;
    }
    if (flags & VIRTQ_DESC_F_WRITE)
      seen_writable = true;
    else if (seen_writable) {
      c->bad = "device-readable descriptor after a device-writable one";
      break;
    }
    c->seg[c->nseg++] = (struct vseg) { ptr, len, !!(flags & VIRTQ_DESC_F_WRITE) };
    if (!(flags & VIRTQ_DESC_F_NEXT))
      break;
    if (next >= tsize) {
      c->bad = "next descriptor index out of range";
      break;
    }
    i = next;
  }
  if (c->bad)
    virtio_complain (d, "request %u: %s", c->head, c->bad);
  return 1;
}

void
virtq_push (struct virtio_dev *d, struct virtq *q, uint16_t head, uint32_t len)
{
  uint8_t *e = q->used + 4 + 8 * (q->used_idx % q->num);
  uint32_t id = htole32 (head), l = htole32 (len);

  (void) d;
  memcpy (e, &id, 4);
  memcpy (e + 4, &l, 4);
  q->used_idx++;
  __atomic_store_n ((uint16_t *) (q->used + 2), htole16 (q->used_idx), __ATOMIC_RELEASE);
}

/* Check the driver's queue setup when it sets QueueReady. */
static bool
queue_enable (struct virtio_dev *d, struct virtq *q)
{
  uint64_t n = q->num;

  if (n == 0 || (n & (n - 1)) || n > VIRTQ_MAX_SIZE) {
    virtio_complain (d, "queue size %u is not a power of 2 up to %u", q->num, VIRTQ_MAX_SIZE);
    return false;
  }
  if ((q->desc_gpa & 15) || (q->avail_gpa & 1) || (q->used_gpa & 3) ||
      !(q->desc = vm_gpa (d->vm, q->desc_gpa, 16 * n)) ||
      !(q->avail = vm_gpa (d->vm, q->avail_gpa, 6 + 2 * n)) ||
      !(q->used = vm_gpa (d->vm, q->used_gpa, 6 + 8 * n))) {
    virtio_complain (d, "queue rings are misaligned or outside guest RAM");
    q->desc = q->avail = q->used = NULL;
    return false;
  }
  q->last_avail = 0;
  q->used_idx = 0;
  q->ready = true;
  return true;
}

static void
device_reset (struct virtio_dev *d)
{
  d->status = 0;
  d->isr = 0;
  d->driver_features = 0;
  d->dev_feat_sel = d->drv_feat_sel = d->queue_sel = 0;
  memset (d->vq, 0, sizeof d->vq);
  update_irq (d);
  if (d->ops->reset)
    d->ops->reset (d);
}

/* ---- registers ---------------------------------------------------------- */
static uint32_t
reg_read (struct virtio_dev *d, uint64_t off)
{
  uint64_t feat = d->ops->features | VIRTIO_F_VERSION_1 | VIRTIO_RING_F_INDIRECT_DESC;
  struct virtq *q = d->queue_sel < d->ops->nqueues ? &d->vq[d->queue_sel] : NULL;

  switch (off) {
  case R_MAGIC: return 0x74726976;
  case R_VERSION: return 2;
  case R_DEVICE_ID: return d->ops->device_id;
  case R_VENDOR_ID: return 0x4b4456;   /* "VDK" */
  case R_DEV_FEAT:
    return d->dev_feat_sel == 0 ? (uint32_t) feat : d->dev_feat_sel == 1 ? feat >> 32 : 0;
  case R_QUEUE_NUM_MAX: return q ? VIRTQ_MAX_SIZE : 0;
  case R_QUEUE_READY: return q ? q->ready : 0;
  case R_ISR: return d->isr;
  case R_STATUS: return d->status;
  case R_CONFIG_GEN: return d->config_gen;
  default: return 0;
  }
}

static void
reg_write (struct virtio_dev *d, uint64_t off, uint32_t v)
{
  struct virtq *q = d->queue_sel < d->ops->nqueues ? &d->vq[d->queue_sel] : NULL;
  uint64_t feat = d->ops->features | VIRTIO_F_VERSION_1 | VIRTIO_RING_F_INDIRECT_DESC;

  switch (off) {
  case R_DEV_FEAT_SEL: d->dev_feat_sel = v; break;
  case R_DRV_FEAT_SEL: d->drv_feat_sel = v; break;
  case R_DRV_FEAT:
    if (d->status & VIRTIO_STATUS_FEATURES_OK)
      break;
    if (d->drv_feat_sel == 0)
      d->driver_features = (d->driver_features & ~0xffffffffULL) | (v & (uint32_t) feat);
    else if (d->drv_feat_sel == 1)
      d->driver_features = (d->driver_features & 0xffffffffULL) |
        ((uint64_t) (v & (uint32_t) (feat >> 32)) << 32);
    break;
  case R_QUEUE_SEL: d->queue_sel = v; break;
  case R_QUEUE_NUM:
    if (q && !q->ready)
      q->num = v > 0xffff ? 0 : v;
    break;
  case R_QUEUE_READY:
    if (!q)
      break;
    if (v == 1 && !q->ready) {
      if (!queue_enable (d, q)) {
        d->status |= VIRTIO_STATUS_NEEDS_RESET;
        d->isr |= 2;
        update_irq (d);
      }
    }
    else if (v == 0)
      q->ready = false;
    break;
  case R_DESC_LO: if (q && !q->ready) q->desc_gpa = (q->desc_gpa & ~0xffffffffULL) | v; break;
  case R_DESC_HI: if (q && !q->ready) q->desc_gpa = (q->desc_gpa & 0xffffffffULL) | (uint64_t) v << 32; break;
  case R_AVAIL_LO: if (q && !q->ready) q->avail_gpa = (q->avail_gpa & ~0xffffffffULL) | v; break;
  case R_AVAIL_HI: if (q && !q->ready) q->avail_gpa = (q->avail_gpa & 0xffffffffULL) | (uint64_t) v << 32; break;
  case R_USED_LO: if (q && !q->ready) q->used_gpa = (q->used_gpa & ~0xffffffffULL) | v; break;
  case R_USED_HI: if (q && !q->ready) q->used_gpa = (q->used_gpa & 0xffffffffULL) | (uint64_t) v << 32; break;
  case R_STATUS:
    if (v == 0) {
      device_reset (d);
      break;
    }
    /* FEATURES_OK only sticks when the driver accepted VERSION_1. */
    if ((v & VIRTIO_STATUS_FEATURES_OK) && !(d->status & VIRTIO_STATUS_FEATURES_OK) &&
        !(d->driver_features & VIRTIO_F_VERSION_1))
      v &= ~VIRTIO_STATUS_FEATURES_OK;
    d->status = (d->status & VIRTIO_STATUS_NEEDS_RESET) | (v & 0xff & ~VIRTIO_STATUS_NEEDS_RESET);
    break;
  }
}

static void
kick (struct virtio_dev *d)
{
  uint64_t one = 1;

  if (write (d->kick_fd, &one, sizeof one) < 0) {
    /* The counter is saturated: the thread is already due to run. */
  }
}

static void
virtio_mmio_io (void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
  struct virtio_dev *d = opaque;
  uint32_t v = 0;

  if (off >= R_CONFIG) {
    uint64_t c = off - R_CONFIG;
    if (is_write)
      return;                   /* config space is read-only here */
    memset (data, 0, len);
    pthread_mutex_lock (&d->lock);
    if (c < d->config_len)
      memcpy (data, d->config + c, len < d->config_len - c ? len : d->config_len - c);
    pthread_mutex_unlock (&d->lock);
    return;
  }
  /* Registers are 32 bits wide and aligned. */
  if (len != 4 || (off & 3)) {
    if (!is_write)
      memset (data, 0, len);
    return;
  }
  if (!is_write) {
    pthread_mutex_lock (&d->lock);
    v = reg_read (d, off);
    pthread_mutex_unlock (&d->lock);
    v = htole32 (v);
    memcpy (data, &v, 4);
    return;
  }
  memcpy (&v, data, 4);
  v = le32toh (v);
  if (off == R_QUEUE_NOTIFY) {
    if (v < d->ops->nqueues)
      kick (d);
    return;
  }
  if (off == R_ISR_ACK) {
    pthread_mutex_lock (&d->lock);
    d->isr &= ~v;
    update_irq (d);
    pthread_mutex_unlock (&d->lock);
    return;
  }
  /* Reconfiguration waits for the I/O thread to finish its batch. */
  pthread_mutex_lock (&d->io_lock);
  pthread_mutex_lock (&d->lock);
  reg_write (d, off, v);
  pthread_mutex_unlock (&d->lock);
  pthread_mutex_unlock (&d->io_lock);
  if (off == R_STATUS && (v & VIRTIO_STATUS_DRIVER_OK))
    kick (d);                   /* pick up anything queued before DRIVER_OK */
}

static void *
io_thread (void *arg)
{
  struct virtio_dev *d = arg;
  struct pollfd p[2] = { { .fd = d->kick_fd, .events = POLLIN },
                         { .fd = d->stop_fd, .events = POLLIN } };
  uint64_t v;

  for (;;) {
    if (poll (p, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (p[1].revents)
      break;
    if (read (d->kick_fd, &v, sizeof v) < 0 && errno != EAGAIN)
      break;
    pthread_mutex_lock (&d->io_lock);
    if ((d->status & VIRTIO_STATUS_DRIVER_OK) && !(d->status & VIRTIO_STATUS_NEEDS_RESET))
      d->ops->process (d);
    pthread_mutex_unlock (&d->io_lock);
  }
  return NULL;
}

int
virtio_dev_create (struct vm *vm, const struct virtio_dev_ops *ops, void *priv,
                   const char *name, struct virtio_dev **out)
{
  struct virtio_dev *d;
  struct kvm_ioeventfd ioev;
  int r;

  if (vm->nvirtio >= VM_MAX_VIRTIO)
    return vm_err (ENOSPC, "too many virtio devices");
  d = calloc (1, sizeof *d);
  if (!d)
    return vm_err (ENOMEM, "out of memory");
  d->vm = vm;
  d->ops = ops;
  d->priv = priv;
  d->base = VM_MMIO_BASE + vm->nvirtio * VM_MMIO_SIZE;
  d->irq = irqs[vm->nvirtio];
  snprintf (d->name, sizeof d->name, "%s", name);
  pthread_mutex_init (&d->io_lock, NULL);
  pthread_mutex_init (&d->lock, NULL);
  d->stop_fd = -1;
  vm->virtio[vm->nvirtio++] = d;
  d->kick_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  d->stop_fd = eventfd (0, EFD_CLOEXEC);
  if (d->kick_fd < 0 || d->stop_fd < 0)
    return vm_err (errno, "eventfd: %s", strerror (errno));
  if ((r = vm_add_mmio (vm, d->base, VM_MMIO_SIZE, virtio_mmio_io, d)) < 0)
    return r;
  /* QueueNotify writes go straight to the I/O thread when KVM can do it. */
  ioev = (struct kvm_ioeventfd) { .addr = d->base + R_QUEUE_NOTIFY, .len = 4, .fd = d->kick_fd };
  d->ioeventfd = ioctl (vm->vm_fd, KVM_IOEVENTFD, &ioev) == 0;
  r = pthread_create (&d->thread, NULL, io_thread, d);
  if (r)
    return vm_err (r, "cannot start the %s I/O thread: %s", name, strerror (r));
  d->have_thread = true;
  if (out)
    *out = d;
  return 0;
}

static void
virtio_dev_destroy (struct virtio_dev *d)
{
  uint64_t one = 1;

  if (d->have_thread) {
    if (write (d->stop_fd, &one, sizeof one) < 0)
      pthread_cancel (d->thread);
    pthread_join (d->thread, NULL);
  }
  if (d->ioeventfd) {
    struct kvm_ioeventfd ioev = { .addr = d->base + R_QUEUE_NOTIFY, .len = 4, .fd = d->kick_fd,
                                  .flags = KVM_IOEVENTFD_FLAG_DEASSIGN };
    ioctl (d->vm->vm_fd, KVM_IOEVENTFD, &ioev);
  }
  if (d->ops->destroy)
    d->ops->destroy (d);
  if (d->kick_fd >= 0)
    close (d->kick_fd);
  if (d->stop_fd >= 0)
    close (d->stop_fd);
  pthread_mutex_destroy (&d->io_lock);
  pthread_mutex_destroy (&d->lock);
  free (d);
}

int
virtio_create_devices (struct vm *vm)
{
  const struct vm_config *cfg = vm->cfg;
  size_t len = (cfg->cmdline ? strlen (cfg->cmdline) : 0) + 64 * VM_MAX_VIRTIO + 1, o;
  int r;

  for (unsigned i = 0; i < cfg->ndisks; i++)
    if ((r = virtio_blk_create (vm, i, &cfg->disks[i])) < 0)
      return r;
  if (cfg->rng && (r = virtio_rng_create (vm)) < 0)
    return r;
  /* Announce the devices on the kernel command line. */
  vm->cmdline = malloc (len);
  if (!vm->cmdline)
    return vm_err (ENOMEM, "out of memory");
  o = snprintf (vm->cmdline, len, "%s", cfg->cmdline ? cfg->cmdline : "");
  for (unsigned i = 0; i < vm->nvirtio; i++)
    o += snprintf (vm->cmdline + o, len - o, "%svirtio_mmio.device=4K@%#llx:%u",
                   o ? " " : "", (unsigned long long) vm->virtio[i]->base, vm->virtio[i]->irq);
  return 0;
}

void
virtio_destroy_devices (struct vm *vm)
{
  while (vm->nvirtio > 0) {
    vm->nvirtio--;
    virtio_dev_destroy (vm->virtio[vm->nvirtio]);
    vm->virtio[vm->nvirtio] = NULL;
  }
}
