/* virtio-mmio (version 2) transport and split virtqueues, shared by the
 * virtio devices.  Everything the guest wrote (queue addresses, sizes,
 * descriptor chains, ring indexes) is validated before use. */
#ifndef VDK_VMM_VIRTIO_H
#define VDK_VMM_VIRTIO_H

#include "vmm.h"

#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_RNG   4

#define VIRTIO_F_VERSION_1 (1ULL << 32)
#define VIRTIO_RING_F_INDIRECT_DESC (1ULL << 28)

#define VIRTIO_STATUS_ACK         1
#define VIRTIO_STATUS_DRIVER      2
#define VIRTIO_STATUS_DRIVER_OK   4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED      0x80

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4

#define VIRTIO_MAX_QUEUES 2
#define VIRTQ_MAX_SIZE 256

struct virtq {
  uint16_t num;             /* as set by the driver */
  bool ready;
  uint64_t desc_gpa, avail_gpa, used_gpa;
  /* Host pointers, valid while ready. */
  uint8_t *desc, *avail, *used;
  uint16_t last_avail, used_idx;
};

/* One segment of a descriptor chain, already checked to be in guest RAM. */
struct vseg {
  uint8_t *ptr;
  uint32_t len;
  bool writable;
};

struct vchain {
  uint16_t head;
  unsigned nseg;
  struct vseg seg[VIRTQ_MAX_SIZE];
  const char *bad;          /* why the chain is unusable, or NULL */
};

struct virtio_dev;

struct virtio_dev_ops {
  const char *name;
  uint32_t device_id;
  unsigned nqueues;
  uint64_t features;        /* device features, VERSION_1 added by the transport */
  /* Process the queues after a notification (I/O thread, io_lock held). */
  void (*process) (struct virtio_dev *d);
  /* The driver reset the device (io_lock held). */
  void (*reset) (struct virtio_dev *d);
  void (*destroy) (struct virtio_dev *d);
};

struct virtio_dev {
  struct vm *vm;
  const struct virtio_dev_ops *ops;
  void *priv;
  uint64_t base;
  unsigned irq;
  char name[16];

  pthread_mutex_t io_lock;  /* queue processing vs. reconfiguration */
  pthread_mutex_t lock;     /* registers, interrupt status */
  uint32_t status, isr, dev_feat_sel, drv_feat_sel, queue_sel, config_gen;
  uint64_t driver_features;
  int level;
  struct virtq vq[VIRTIO_MAX_QUEUES];
  uint8_t config[64];
  unsigned config_len;

  int kick_fd, stop_fd;
  bool ioeventfd;
  pthread_t thread;
  bool have_thread;
  unsigned complaints;      /* rate limit for messages about a hostile guest */
};

/* Create a device at the next MMIO window, with its I/O thread. */
int virtio_dev_create (struct vm *vm, const struct virtio_dev_ops *ops, void *priv,
                       const char *name, struct virtio_dev **out);

/* Next chain: 1 = got one (check chain->bad), 0 = none, -1 = the queue is
 * broken (the device now needs a reset). */
int virtq_pop (struct virtio_dev *d, struct virtq *q, struct vchain *c);
void virtq_push (struct virtio_dev *d, struct virtq *q, uint16_t head, uint32_t len);
/* Raise the used-buffer interrupt. */
void virtio_notify (struct virtio_dev *d);
/* Report a guest error (first few only) on stderr. */
void virtio_complain (struct virtio_dev *d, const char *fmt, ...) VM_ATTR_FORMAT (2, 3);

/* blk.c, rng.c */
int virtio_blk_create (struct vm *vm, unsigned index, const struct vm_disk_config *cfg);
int virtio_rng_create (struct vm *vm);

#endif
