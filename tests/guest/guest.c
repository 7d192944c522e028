/* The vdk test guest: a freestanding 64-bit program entered through the Linux
 * 64-bit boot protocol.  It reads its command line from boot_params, finds
 * the virtio-mmio devices announced there (virtio_mmio.device=4K@ADDR:IRQ),
 * runs the checks named by vdktest=a,b,c and reports on the serial port:
 *   PASS name [detail] / FAIL name: reason / SKIP name: reason
 *   VDKTEST DONE pass=N fail=M
 * then resets through the i8042.
 *
 * On kvm_pvm hosts kernel-mode code is emulated (~1.4 M instructions/s), so
 * every check moves only a few KiB and the code stays simple. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SECTOR 512
#define QSIZE 16

/* ---- tiny runtime ------------------------------------------------------- */
void *memset (void *d, int c, size_t n);
void *memcpy (void *d, const void *s, size_t n);
int memcmp (const void *a, const void *b, size_t n);

void *
memset (void *d, int c, size_t n)
{
  uint8_t *p = d;
  while (n--)
    *p++ = c;
  return d;
}

void *
memcpy (void *d, const void *s, size_t n)
{
  uint8_t *p = d;
  const uint8_t *q = s;
  while (n--)
    *p++ = *q++;
  return d;
}

int
memcmp (const void *a, const void *b, size_t n)
{
  const uint8_t *p = a, *q = b;
  for (; n; n--, p++, q++)
    if (*p != *q)
      return *p - *q;
  return 0;
}

#define barrier() __asm__ volatile ("" ::: "memory")

static inline void
outb (uint16_t port, uint8_t v)
{
  __asm__ volatile ("outb %0, %1" :: "a" (v), "Nd" (port));
}

static inline uint8_t
inb (uint16_t port)
{
  uint8_t v;
  __asm__ volatile ("inb %1, %0" : "=a" (v) : "Nd" (port));
  return v;
}

static inline uint32_t
mmio_r (uint64_t a)
{
  return *(volatile uint32_t *) a;
}

static inline void
mmio_w (uint64_t a, uint32_t v)
{
  *(volatile uint32_t *) a = v;
}

static void
puts_ (const char *s)
{
  while (*s)
    outb (0x3f8, *s++);
}

static void
putu (uint64_t v)
{
  char b[24];
  int i = 23;
  b[i] = 0;
  do
    b[--i] = '0' + v % 10;
  while (v /= 10);
  puts_ (b + i);
}

static void
putx (uint64_t v)
{
  char b[20];
  int i = 19;
  b[i] = 0;
  do
    b[--i] = "0123456789abcdef"[v & 15];
  while (v >>= 4);
  puts_ ("0x");
  puts_ (b + i);
}

static unsigned npass, nfail;

static void
pass (const char *name, const char *detail)
{
  puts_ ("PASS ");
  puts_ (name);
  if (detail) {
    puts_ (" ");
    puts_ (detail);
  }
  puts_ ("\n");
  npass++;
}

static bool
fail (const char *name, const char *why, uint64_t v)
{
  puts_ ("FAIL ");
  puts_ (name);
  puts_ (": ");
  puts_ (why);
  puts_ (" ");
  putx (v);
  puts_ ("\n");
  nfail++;
  return false;
}

/* ---- command line --------------------------------------------------------- */
static const char *cmdline;

/* Find KEY=value on the command line; returns a pointer to value. */
static const char *
param (const char *key, const char *from)
{
  const char *p = from ? from : cmdline;
  size_t kl = 0;
  while (key[kl])
    kl++;
  for (; *p; p++) {
    if ((p == cmdline || p[-1] == ' ') && !memcmp (p, key, kl) && p[kl] == '=')
      return p + kl + 1;
  }
  return 0;
}

static uint64_t
parse_num (const char **pp)
{
  const char *p = *pp;
  uint64_t v = 0;
  if (p[0] == '0' && p[1] == 'x') {
    for (p += 2;; p++) {
      if (*p >= '0' && *p <= '9') v = v * 16 + *p - '0';
      else if (*p >= 'a' && *p <= 'f') v = v * 16 + *p - 'a' + 10;
      else break;
    }
  }
  else
    for (; *p >= '0' && *p <= '9'; p++)
      v = v * 10 + *p - '0';
  *pp = p;
  return v;
}

/* Is NAME in the comma-separated vdktest= list? */
static bool
wanted (const char *name)
{
  const char *p = param ("vdktest", 0);
  size_t nl = 0;
  while (name[nl])
    nl++;
  while (p && *p && *p != ' ') {
    if (!memcmp (p, name, nl) && (p[nl] == ',' || p[nl] == ' ' || p[nl] == 0))
      return true;
    while (*p && *p != ',' && *p != ' ')
      p++;
    if (*p == ',')
      p++;
  }
  return false;
}

/* ---- virtio-mmio ---------------------------------------------------------- */
#define R_MAGIC 0x000
#define R_VERSION 0x004
#define R_DEVICE_ID 0x008
#define R_DEV_FEAT 0x010
#define R_DEV_FEAT_SEL 0x014
#define R_DRV_FEAT 0x020
#define R_DRV_FEAT_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_ISR 0x060
#define R_ISR_ACK 0x064
#define R_STATUS 0x070
#define R_DESC_LO 0x080
#define R_DESC_HI 0x084
#define R_AVAIL_LO 0x090
#define R_AVAIL_HI 0x094
#define R_USED_LO 0x0a0
#define R_USED_HI 0x0a4
#define R_CONFIG 0x100

struct desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags, next;
};

struct ring {                   /* one page per device */
  struct desc desc[QSIZE];      /* 256 bytes */
  struct {
    uint16_t flags, idx, ring[QSIZE], event;
  } avail __attribute__((aligned (256)));
  struct {
    uint16_t flags, idx;
    struct { uint32_t id, len; } ring[QSIZE];
    uint16_t event;
  } used __attribute__((aligned (256)));
} __attribute__((aligned (4096)));

struct vdev {
  uint64_t base;
  uint32_t id;
  uint64_t features;
  struct ring *r;
  uint16_t avail_idx, used_seen;
};

#define MAX_DEVS 4
static struct ring rings[MAX_DEVS];
static struct vdev devs[MAX_DEVS];
static unsigned ndevs;

static bool
vdev_init (struct vdev *d, uint64_t want_features)
{
  struct ring *r = d->r;
  uint64_t ra = (uint64_t) r;

  mmio_w (d->base + R_STATUS, 0);
  mmio_w (d->base + R_STATUS, 1 | 2);
  mmio_w (d->base + R_DEV_FEAT_SEL, 0);
  d->features = mmio_r (d->base + R_DEV_FEAT);
  mmio_w (d->base + R_DEV_FEAT_SEL, 1);
  d->features |= (uint64_t) mmio_r (d->base + R_DEV_FEAT) << 32;
  if (!(d->features & (1ULL << 32)))
    return false;
  mmio_w (d->base + R_DRV_FEAT_SEL, 0);
  mmio_w (d->base + R_DRV_FEAT, (uint32_t) (d->features & want_features));
  mmio_w (d->base + R_DRV_FEAT_SEL, 1);
  mmio_w (d->base + R_DRV_FEAT, 1);
  mmio_w (d->base + R_STATUS, 1 | 2 | 8);
  if (!(mmio_r (d->base + R_STATUS) & 8))
    return false;
  memset (r, 0, sizeof *r);
  mmio_w (d->base + R_QUEUE_SEL, 0);
  if (mmio_r (d->base + R_QUEUE_NUM_MAX) < QSIZE)
    return false;
  mmio_w (d->base + R_QUEUE_NUM, QSIZE);
  mmio_w (d->base + R_DESC_LO, ra);
  mmio_w (d->base + R_DESC_HI, ra >> 32);
  mmio_w (d->base + R_AVAIL_LO, (uint64_t) &r->avail);
  mmio_w (d->base + R_AVAIL_HI, (uint64_t) &r->avail >> 32);
  mmio_w (d->base + R_USED_LO, (uint64_t) &r->used);
  mmio_w (d->base + R_USED_HI, (uint64_t) &r->used >> 32);
  mmio_w (d->base + R_QUEUE_READY, 1);
  mmio_w (d->base + R_STATUS, 1 | 2 | 4 | 8);
  d->avail_idx = d->used_seen = 0;
  return mmio_r (d->base + R_QUEUE_READY) == 1;
}

/* Make the chain starting at descriptor HEAD available (no notify). */
static void
vq_add (struct vdev *d, uint16_t head)
{
  d->r->avail.ring[d->avail_idx % QSIZE] = head;
  barrier ();
  d->avail_idx++;
  *(volatile uint16_t *) &d->r->avail.idx = d->avail_idx;
  barrier ();
}

static void
vq_kick (struct vdev *d)
{
  mmio_w (d->base + R_QUEUE_NOTIFY, 0);
}

/* Wait for N more used entries; returns false on timeout. */
static bool
vq_wait (struct vdev *d, unsigned n)
{
  uint16_t want = d->used_seen + n;
  for (uint64_t spin = 0; spin < 20000000; spin++) {
    uint16_t u = *(volatile uint16_t *) &d->r->used.idx;
    if ((uint16_t) (u - want) < 0x8000) {
      d->used_seen = want;
      mmio_w (d->base + R_ISR_ACK, mmio_r (d->base + R_ISR));
      return true;
    }
    __asm__ volatile ("pause");
  }
  return false;
}

static struct vdev *
find_dev (uint32_t id, unsigned nth)
{
  for (unsigned i = 0; i < ndevs; i++)
    if (devs[i].id == id && nth-- == 0)
      return &devs[i];
  return 0;
}

/* ---- virtio-blk ------------------------------------------------------------ */
struct blk_hdr {
  uint32_t type, reserved;
  uint64_t sector;
};

static struct blk_hdr hdrs[QSIZE];
static uint8_t stat[QSIZE];
static uint8_t buf[8][4096] __attribute__((aligned (4096)));

/* Set up the 3-descriptor chain for slot S (descriptors 3S..3S+2). */
static uint16_t
blk_chain (struct vdev *d, unsigned s, uint32_t type, uint64_t sector, void *data,
           uint32_t len, bool dev_writes)
{
  struct desc *dd = d->r->desc + 3 * s;
  hdrs[s] = (struct blk_hdr) { type, 0, sector };
  stat[s] = 0xff;
  dd[0] = (struct desc) { (uint64_t) &hdrs[s], 16, 1, 3 * s + 1 };
  if (len) {
    dd[1] = (struct desc) { (uint64_t) data, len, 1 | (dev_writes ? 2 : 0), 3 * s + 2 };
    dd[2] = (struct desc) { (uint64_t) &stat[s], 1, 2, 0 };
  }
  else
    dd[0].next = 3 * s + 2, dd[2] = (struct desc) { (uint64_t) &stat[s], 1, 2, 0 };
  return 3 * s;
}

/* One synchronous request; returns the status byte (0xff = no answer). */
static int
blk_req (struct vdev *d, uint32_t type, uint64_t sector, void *data, uint32_t len,
         bool dev_writes)
{
  vq_add (d, blk_chain (d, 0, type, sector, data, len, dev_writes));
  vq_kick (d);
  if (!vq_wait (d, 1))
    return 0x100;
  return stat[0];
}

/* The pattern the test script writes: byte at disk offset o. */
static uint8_t
pattern (uint64_t o)
{
  return (uint8_t) (((o >> 9) * 31 + (o & 511)) ^ 0xa5);
}

static bool
check_pattern (const uint8_t *b, uint64_t off, uint32_t len)
{
  for (uint32_t i = 0; i < len; i++)
    if (b[i] != pattern (off + i))
      return false;
  return true;
}

static bool
blk_setup (const char *name, struct vdev **out, unsigned nth)
{
  struct vdev *d = find_dev (2, nth);
  if (!d)
    return fail (name, "no virtio-blk device", nth);
  /* FLUSH, DISCARD, WRITE_ZEROES, BLK_SIZE, SEG_MAX, RO */
  if (!vdev_init (d, (1 << 9) | (1 << 13) | (1 << 14) | (1 << 6) | (1 << 2) | (1 << 5)))
    return fail (name, "device initialisation failed, status", mmio_r (d->base + R_STATUS));
  *out = d;
  return true;
}

static void
t_blk_read (void)
{
  static char id[24];
  struct vdev *d;
  int s;
  if (!blk_setup ("blk-read", &d, 0))
    return;
  if ((s = blk_req (d, 0, 0, buf[0], 4096, true)) != 0)
    return (void) fail ("blk-read", "read at sector 0 failed, status", s);
  if (!check_pattern (buf[0], 0, 4096))
    return (void) fail ("blk-read", "wrong data at sector", 0);
  if ((s = blk_req (d, 0, 2048, buf[1], 2048, true)) != 0)
    return (void) fail ("blk-read", "read at sector 2048 failed, status", s);
  if (!check_pattern (buf[1], 2048 * 512, 2048))
    return (void) fail ("blk-read", "wrong data at sector", 2048);
  memset (id, 0, sizeof id);
  if ((s = blk_req (d, 8, 0, id, 20, true)) != 0)
    return (void) fail ("blk-read", "GET_ID failed, status", s);
  puts_ ("INFO blk-read id=");
  puts_ (id);
  puts_ (" capacity=");
  putu (*(volatile uint64_t *) (d->base + R_CONFIG));
  puts_ ("\n");
  pass ("blk-read", 0);
}

static void
t_blk_write (void)
{
  struct vdev *d;
  int s;
  if (!blk_setup ("blk-write", &d, 0))
    return;
  for (unsigned i = 0; i < 1024; i++)
    buf[2][i] = (uint8_t) (i * 3 + 0x11);
  if ((s = blk_req (d, 1, 100, buf[2], 1024, false)) != 0)
    return (void) fail ("blk-write", "write failed, status", s);
  if ((s = blk_req (d, 4, 0, 0, 0, false)) != 0)
    return (void) fail ("blk-write", "flush failed, status", s);
  memset (buf[3], 0, 1024);
  if ((s = blk_req (d, 0, 100, buf[3], 1024, true)) != 0)
    return (void) fail ("blk-write", "read back failed, status", s);
  if (memcmp (buf[2], buf[3], 1024))
    return (void) fail ("blk-write", "read back differs", 100);
  pass ("blk-write", 0);
}

static void
t_blk_discard (void)
{
  static struct { uint64_t sector; uint32_t num, flags; } seg;
  struct vdev *d;
  struct desc *dd;
  int s;
  if (!blk_setup ("blk-discard", &d, 0))
    return;
  if (!(d->features & (1 << 13)) || !(d->features & (1 << 14)))
    return (void) fail ("blk-discard", "DISCARD/WRITE_ZEROES not offered", d->features);
  for (unsigned op = 0; op < 2; op++) {
    seg.sector = op ? 300 : 200;
    seg.num = 8;
    seg.flags = 0;
    blk_chain (d, 0, op ? 11 : 13, 0, 0, 0, false);
    dd = d->r->desc;
    dd[0].next = 1;
    dd[1] = (struct desc) { (uint64_t) &seg, 16, 1, 2 };
    vq_add (d, 0);
    vq_kick (d);
    if (!vq_wait (d, 1) || stat[0] != 0)
      return (void) fail ("blk-discard", op ? "discard failed, status" : "write-zeroes failed, status", stat[0]);
    memset (buf[4], 0x77, 4096);
    if ((s = blk_req (d, 0, seg.sector, buf[4], 4096, true)) != 0)
      return (void) fail ("blk-discard", "read back failed, status", s);
    for (unsigned i = 0; i < 4096; i++)
      if (buf[4][i])
        return (void) fail ("blk-discard", "range not zero after write-zeroes/discard at sector",
                            seg.sector);
  }
  pass ("blk-discard", 0);
}

static void
t_blk_ro (void)
{
  struct vdev *d;
  int s;
  if (!blk_setup ("blk-ro", &d, 0))
    return;
  if (!(d->features & (1 << 5)))
    return (void) fail ("blk-ro", "RO feature not offered", d->features);
  if ((s = blk_req (d, 1, 100, buf[2], 512, false)) != 1)
    return (void) fail ("blk-ro", "write to a read-only disk did not fail with IOERR, status", s);
  if ((s = blk_req (d, 0, 0, buf[0], 512, true)) != 0 || !check_pattern (buf[0], 0, 512))
    return (void) fail ("blk-ro", "read from a read-only disk failed, status", s);
  pass ("blk-ro", 0);
}

/* The first disk is a partitioned image (vdk run IMAGE): report its
 * capacity and what sectors 0 and 1 hold (MBR signature, GPT header). */
static void
t_blk_sig (void)
{
  struct vdev *d;
  int s;
  if (!blk_setup ("blk-sig", &d, 0))
    return;
  if ((s = blk_req (d, 0, 0, buf[0], 1024, true)) != 0)
    return (void) fail ("blk-sig", "read at sector 0 failed, status", s);
  if (buf[0][510] != 0x55 || buf[0][511] != 0xaa)
    return (void) fail ("blk-sig", "no MBR signature in sector", 0);
  puts_ ("PASS blk-sig mbr");
  puts_ (memcmp (buf[0] + 512, "EFI PART", 8) ? "" : " gpt");
  puts_ ((d->features & (1 << 5)) ? " ro" : " rw");
  puts_ (" capacity=");
  putu (*(volatile uint64_t *) (d->base + R_CONFIG));
  puts_ ("\n");
  npass++;
}

/* Eight reads in flight at once, one notification. */
static void
t_blk_inflight (void)
{
  struct vdev *d;
  if (!blk_setup ("blk-inflight", &d, 0))
    return;
  for (unsigned i = 0; i < 5; i++) {
    memset (buf[i], 0, 1024);
    vq_add (d, blk_chain (d, i, 0, 8 + 16 * i, buf[i], 1024, true));
  }
  vq_kick (d);
  if (!vq_wait (d, 5))
    return (void) fail ("blk-inflight", "requests did not complete", 5);
  for (unsigned i = 0; i < 5; i++)
    if (stat[i] != 0 || !check_pattern (buf[i], (8 + 16 * i) * 512ULL, 1024))
      return (void) fail ("blk-inflight", "bad status or data in request", i);
  pass ("blk-inflight", "5 requests");
}

/* A hostile driver: every bad request must fail on its own, and the device
 * must keep working (or ask for a reset, and work after it). */
static void
t_hostile (void)
{
  struct vdev *d;
  struct desc *dd;
  int s;
  if (!blk_setup ("hostile", &d, 0))
    return;
  dd = d->r->desc;

  /* 1. a data buffer outside guest RAM */
  blk_chain (d, 0, 0, 0, buf[0], 512, true);
  dd[1].addr = 0x7fff00000000ULL;
  vq_add (d, 0);
  vq_kick (d);
  if (!vq_wait (d, 1) || d->r->used.ring[(d->used_seen - 1) % QSIZE].len != 0 || stat[0] == 0)
    return (void) fail ("hostile", "buffer outside RAM was not refused", stat[0]);

  /* 2. a descriptor loop */
  blk_chain (d, 0, 0, 0, buf[0], 512, true);
  dd[2] = (struct desc) { (uint64_t) &stat[0], 1, 2 | 1, 0 };
  vq_add (d, 0);
  vq_kick (d);
  if (!vq_wait (d, 1) || d->r->used.ring[(d->used_seen - 1) % QSIZE].len != 0)
    return (void) fail ("hostile", "descriptor loop was not refused", 2);

  /* 3. next index out of range */
  blk_chain (d, 0, 0, 0, buf[0], 512, true);
  dd[1].next = 200;
  vq_add (d, 0);
  vq_kick (d);
  if (!vq_wait (d, 1) || d->r->used.ring[(d->used_seen - 1) % QSIZE].len != 0)
    return (void) fail ("hostile", "next index out of range was not refused", 3);

  /* 4. a read past the end of the disk, and a length not a sector multiple */
  if ((s = blk_req (d, 0, 1ULL << 40, buf[0], 512, true)) != 1)
    return (void) fail ("hostile", "read past the end did not give IOERR, status", s);
  if ((s = blk_req (d, 0, 0, buf[0], 100, true)) != 1)
    return (void) fail ("hostile", "partial-sector read did not give IOERR, status", s);
  /* 5. an unknown request type */
  if ((s = blk_req (d, 99, 0, 0, 0, false)) != 2)
    return (void) fail ("hostile", "unknown type did not give UNSUPP, status", s);

  /* 6. the device still works */
  if ((s = blk_req (d, 0, 0, buf[0], 512, true)) != 0 || !check_pattern (buf[0], 0, 512))
    return (void) fail ("hostile", "device broken after bad requests, status", s);

  /* 7. the available index jumps past the queue size: needs reset */
  d->avail_idx += 100;
  *(volatile uint16_t *) &d->r->avail.idx = d->avail_idx;
  vq_kick (d);
  for (unsigned i = 0; i < 2000000 && !(mmio_r (d->base + R_STATUS) & 0x40); i++)
    __asm__ volatile ("pause");
  if (!(mmio_r (d->base + R_STATUS) & 0x40))
    return (void) fail ("hostile", "bad available index did not set NEEDS_RESET", 7);

  /* 8. rings outside guest RAM are refused at QueueReady */
  mmio_w (d->base + R_STATUS, 0);
  mmio_w (d->base + R_STATUS, 1 | 2);
  mmio_w (d->base + R_DRV_FEAT_SEL, 1);
  mmio_w (d->base + R_DRV_FEAT, 1);
  mmio_w (d->base + R_STATUS, 1 | 2 | 8);
  mmio_w (d->base + R_QUEUE_SEL, 0);
  mmio_w (d->base + R_QUEUE_NUM, QSIZE);
  mmio_w (d->base + R_DESC_LO, 0);
  mmio_w (d->base + R_DESC_HI, 0x100);
  mmio_w (d->base + R_QUEUE_READY, 1);
  if (mmio_r (d->base + R_QUEUE_READY) != 0 || !(mmio_r (d->base + R_STATUS) & 0x40))
    return (void) fail ("hostile", "queue outside RAM was accepted", 8);
  /* a queue size that is not a power of 2 */
  mmio_w (d->base + R_STATUS, 0);
  mmio_w (d->base + R_QUEUE_NUM, 3);
  mmio_w (d->base + R_QUEUE_READY, 1);
  if (mmio_r (d->base + R_QUEUE_READY) != 0)
    return (void) fail ("hostile", "queue size 3 was accepted", 3);

  /* 9. after a reset everything works again */
  if (!vdev_init (d, 0))
    return (void) fail ("hostile", "re-initialisation failed", mmio_r (d->base + R_STATUS));
  if ((s = blk_req (d, 0, 0, buf[0], 512, true)) != 0 || !check_pattern (buf[0], 0, 512))
    return (void) fail ("hostile", "device broken after reset, status", s);
  pass ("hostile", 0);
}

static void
t_rng (void)
{
  static uint8_t rb[64];
  struct vdev *d = find_dev (4, 0);
  uint32_t len;
  unsigned same = 0, zero = 0;
  if (!d)
    return (void) fail ("rng", "no virtio-rng device", 0);
  if (!vdev_init (d, 0))
    return (void) fail ("rng", "device initialisation failed", mmio_r (d->base + R_STATUS));
  memset (rb, 0, sizeof rb);
  d->r->desc[0] = (struct desc) { (uint64_t) rb, sizeof rb, 2, 0 };
  vq_add (d, 0);
  vq_kick (d);
  if (!vq_wait (d, 1))
    return (void) fail ("rng", "no answer", 0);
  len = d->r->used.ring[0].len;
  for (unsigned i = 0; i < sizeof rb; i++) {
    zero += rb[i] == 0;
    same += rb[i] == rb[0];
  }
  if (len != sizeof rb || zero > 8 || same > 8)
    return (void) fail ("rng", "short or non-random data, length", len);
  pass ("rng", "64 bytes");
}

/* Start every AP with INIT + SIPI through the local APIC.  Each AP runs a
 * real-mode trampoline at 0x8000 that counts itself in and halts. */
static void
t_smp_ap (uint64_t ncpu)
{
  /* cli; xor ax,ax; mov ds,ax; lock inc word [0x8ff0]; hlt; jmp $-1 */
  static const uint8_t tramp[] = { 0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0xf0, 0xff, 0x06, 0xf0, 0x8f,
                                   0xf4, 0xeb, 0xfd };
  volatile uint16_t *count = (volatile uint16_t *) 0x8ff0;
  const uint64_t apic = 0xfee00000;
  if (ncpu < 2) {
    puts_ ("SKIP smp-ap: only one CPU\n");
    return;
  }
  memcpy ((void *) 0x8000, tramp, sizeof tramp);
  *count = 0;
  barrier ();
  for (uint32_t id = 1; id < ncpu; id++) {
    mmio_w (apic + 0x310, id << 24);
    mmio_w (apic + 0x300, 0x4500);                  /* INIT */
    for (unsigned i = 0; i < 1000 && (mmio_r (apic + 0x300) & 0x1000); i++)
      ;
    mmio_w (apic + 0x310, id << 24);
    mmio_w (apic + 0x300, 0x4600 | (0x8000 >> 12)); /* SIPI */
  }
  for (uint64_t spin = 0; spin < 5000000 && *count != ncpu - 1; spin++)
    __asm__ volatile ("pause");
  if (*count != ncpu - 1)
    return (void) fail ("smp-ap", "APs that started:", *count);
  puts_ ("PASS smp-ap ");
  putu (*count);
  puts_ (" APs started\n");
  npass++;
}

/* SMP: the MP table must list every CPU and be well formed. */
static void
t_smp (void)
{
  const uint8_t *fp = 0, *cfg;
  const char *p = param ("vdkcpus", 0);
  uint64_t want = p ? parse_num (&p) : 1, ncpu = 0;
  uint8_t sum = 0;
  uint16_t len, n;
  for (uint64_t a = 0xf0000; a < 0x100000; a += 16)
    if (!memcmp ((void *) a, "_MP_", 4)) {
      fp = (const uint8_t *) a;
      break;
    }
  if (!fp)
    return (void) fail ("smp", "no MP floating pointer in 0xf0000-0xfffff", 0);
  for (unsigned i = 0; i < 16; i++)
    sum += fp[i];
  if (sum)
    return (void) fail ("smp", "bad MP floating pointer checksum", sum);
  cfg = (const uint8_t *) (uint64_t) *(const uint32_t *) (fp + 4);
  len = *(const uint16_t *) (cfg + 4);
  n = *(const uint16_t *) (cfg + 34);
  if (memcmp (cfg, "PCMP", 4))
    return (void) fail ("smp", "no MP configuration table at", (uint64_t) cfg);
  for (unsigned i = 0; i < len; i++)
    sum += cfg[i];
  if (sum)
    return (void) fail ("smp", "bad MP configuration table checksum", sum);
  for (const uint8_t *e = cfg + 44; n--; e += e[0] == 0 ? 20 : 8)
    if (e[0] == 0 && (e[3] & 1))
      ncpu++;
  if (ncpu != want)
    return (void) fail ("smp", "wrong number of CPUs in the MP table", ncpu);
  puts_ ("PASS smp ");
  putu (ncpu);
  puts_ (" cpus in the MP table\n");
  npass++;
  t_smp_ap (want);
}

/* Wait for Ctrl-Alt-Del on the i8042 keyboard (system-powerdown). */
static void
t_powerdown (void)
{
  unsigned seen = 0;
  puts_ ("READY powerdown\n");
  for (uint64_t spin = 0; spin < 5000000; spin++) {   /* ~50 s */
    if (!(inb (0x64) & 1))
      continue;
    uint8_t c = inb (0x60);
    if (c == 0x1d || c == 0x38)
      seen |= c == 0x1d ? 1 : 2;
    else if (c == 0x53 && seen == 3) {
      pass ("powerdown", "ctrl-alt-del");
      return;
    }
  }
  fail ("powerdown", "no ctrl-alt-del", seen);
}

/* The initrd the test gave: starts with "VDKINITRD", loaded where
 * boot_params says. */
static void
t_initrd (const uint8_t *bp)
{
  uint32_t addr = *(const uint32_t *) (bp + 0x218), size = *(const uint32_t *) (bp + 0x21c);
  if (!addr || size < 9)
    return (void) fail ("initrd", "no initrd in boot_params, size", size);
  if (memcmp ((const void *) (uint64_t) addr, "VDKINITRD", 9))
    return (void) fail ("initrd", "initrd content differs at", addr);
  puts_ ("PASS initrd size=");
  putu (size);
  puts_ ("\n");
  npass++;
}

/* Console input: read one line from the UART (polling LSR.DR). */
static void
t_input (void)
{
  static char line[64];
  unsigned n = 0;
  puts_ ("READY input\n");
  for (uint64_t spin = 0; spin < 5000000 && n < sizeof line - 1; spin++) {
    if (!(inb (0x3fd) & 1))
      continue;
    char c = inb (0x3f8);
    if (c == '\n' || c == '\r')
      break;
    line[n++] = c;
  }
  line[n] = 0;
  if (!n)
    return (void) fail ("input", "no input line", 0);
  puts_ ("PASS input ");
  puts_ (line);
  puts_ ("\n");
  npass++;
}

/* Throughput: read vdkbench=MiB from the first disk, 64 KiB per request,
 * five requests in flight.  The host times the BENCH lines. */
static uint8_t bench_buf[5][65536] __attribute__((aligned (4096)));

static void
t_blk_bench (void)
{
  const char *p = param ("vdkbench", 0);
  uint64_t mib = p ? parse_num (&p) : 16, off = 0, total;
  struct vdev *d;
  if (!blk_setup ("blk-bench", &d, 0))
    return;
  total = mib << 20;
  puts_ ("BENCH start\n");
  while (off < total) {
    unsigned n = 0;
    for (; n < 5 && off < total; n++, off += 65536)
      vq_add (d, blk_chain (d, n, 0, off >> 9, bench_buf[n], 65536, true));
    vq_kick (d);
    if (!vq_wait (d, n))
      return (void) fail ("blk-bench", "requests did not complete at", off);
    for (unsigned i = 0; i < n; i++)
      if (stat[i])
        return (void) fail ("blk-bench", "read failed at", off);
  }
  puts_ ("BENCH end\n");
  pass ("blk-bench", 0);
}

/* Every disk: its ID and whether it is read-only. */
static void
t_blk_ids (void)
{
  static char id[24];
  struct vdev *d;
  unsigned n;
  int s;
  for (n = 0; find_dev (2, n); n++) {
    if (!blk_setup ("blk-ids", &d, n))
      return;
    memset (id, 0, sizeof id);
    if ((s = blk_req (d, 8, 0, id, 20, true)) != 0)
      return (void) fail ("blk-ids", "GET_ID failed, status", s);
    puts_ ("INFO disk ");
    putu (n);
    puts_ (" id=");
    puts_ (id);
    puts_ ((d->features & (1 << 5)) ? " ro" : " rw");
    puts_ ("\n");
  }
  puts_ ("PASS blk-ids ");
  putu (n);
  puts_ (" disks\n");
  npass++;
}

/* Memory writer (for migration tests): keep writing a pass counter into
 * every page of vdkmem=MiB (default 4) above 8 MiB, printing each pass, until
 * Ctrl-Alt-Del arrives; then check the last pass reached every page. */
static void
t_memwrite (void)
{
  const char *p = param ("vdkmem", 0);
  uint64_t mib = p ? parse_num (&p) : 4, pass_no;
  volatile uint64_t *base = (volatile uint64_t *) (8ULL << 20);
  uint64_t pages = mib << 8;
  unsigned seen = 0;
  for (pass_no = 1;; pass_no++) {
    for (uint64_t i = 0; i < pages; i++)
      base[i * 512] = pass_no * 0x100000000ULL + i;
    puts_ ("MEMWRITE pass ");
    putu (pass_no);
    puts_ ("\n");
    while (inb (0x64) & 1) {
      uint8_t c = inb (0x60);
      if (c == 0x1d || c == 0x38)
        seen |= c == 0x1d ? 1 : 2;
      else if (c == 0x53 && seen == 3)
        goto done;
    }
  }
done:
  for (uint64_t i = 0; i < pages; i++)
    if (base[i * 512] != pass_no * 0x100000000ULL + i)
      return (void) fail ("memwrite", "page lost its last write:", i);
  pass ("memwrite", 0);
}

/* The e820 map: print the usable RAM in KiB and the number of entries. */
static void
t_mem (const uint8_t *bp)
{
  uint8_t n = bp[0x1e8];
  uint64_t ram = 0;
  for (unsigned i = 0; i < n && i < 128; i++) {
    const uint8_t *e = bp + 0x2d0 + 20 * i;
    if (*(const uint32_t *) (e + 16) == 1)
      ram += *(const uint64_t *) (e + 8);
  }
  if (!n || !ram)
    return (void) fail ("mem", "empty e820 map", n);
  puts_ ("PASS mem ram=");
  putu (ram >> 10);
  puts_ ("K e820=");
  putu (n);
  puts_ ("\n");
  npass++;
}

/* Crash on purpose: an empty IDT and an invalid opcode make a triple fault. */
static void
t_crash (void)
{
  static const struct { uint16_t limit; uint64_t base; } __attribute__((packed)) idt = { 0, 0 };
  puts_ ("CRASHING\n");
  __asm__ volatile ("lidt %0; ud2" :: "m" (idt));
}

/* Indirect descriptor tables: refused until negotiated, then a read through
 * one works, and bad tables (nested, chained, odd length, loops) fail alone. */
static struct desc itab[4] __attribute__((aligned (16)));

static uint32_t
indirect_req (struct vdev *d, uint16_t flags, uint32_t len)
{
  d->r->desc[0] = (struct desc) { (uint64_t) itab, len, flags, 0 };
  vq_add (d, 0);
  vq_kick (d);
  if (!vq_wait (d, 1))
    return 0xffffffff;
  return d->r->used.ring[(d->used_seen - 1) % QSIZE].len;
}

static void
t_indirect (void)
{
  struct vdev *d = find_dev (2, 0);
  if (!d)
    return (void) fail ("indirect", "no virtio-blk device", 0);
  if (!vdev_init (d, 0))
    return (void) fail ("indirect", "device initialisation failed", 0);
  if (!(d->features & (1 << 28)))
    return (void) fail ("indirect", "INDIRECT_DESC not offered", d->features);
  hdrs[0] = (struct blk_hdr) { 0, 0, 4 };
  stat[0] = 0xff;
  itab[0] = (struct desc) { (uint64_t) &hdrs[0], 16, 1, 1 };
  itab[1] = (struct desc) { (uint64_t) buf[5], 1024, 1 | 2, 2 };
  itab[2] = (struct desc) { (uint64_t) &stat[0], 1, 2, 0 };
  if (indirect_req (d, 4, 48) != 0)
    return (void) fail ("indirect", "used an indirect table without negotiation", 0);
  if (!vdev_init (d, 1 << 28))
    return (void) fail ("indirect", "device initialisation failed", 1);
  memset (buf[5], 0, 1024);
  if (indirect_req (d, 4, 48) != 1025 || stat[0] != 0 || !check_pattern (buf[5], 4 * 512, 1024))
    return (void) fail ("indirect", "read through an indirect table failed, status", stat[0]);
  /* hostile tables */
  if (indirect_req (d, 4, 40) != 0)
    return (void) fail ("indirect", "table length not a multiple of 16 accepted", 40);
  if (indirect_req (d, 4 | 1, 48) != 0)
    return (void) fail ("indirect", "indirect descriptor with NEXT accepted", 1);
  itab[3] = (struct desc) { (uint64_t) itab, 48, 4, 0 };
  itab[2].flags = 2 | 1;
  itab[2].next = 3;
  if (indirect_req (d, 4, 64) != 0)
    return (void) fail ("indirect", "nested indirect table accepted", 3);
  itab[2].next = 0;                   /* a loop inside the table */
  if (indirect_req (d, 4, 48) != 0)
    return (void) fail ("indirect", "loop in an indirect table accepted", 0);
  itab[2] = (struct desc) { (uint64_t) &stat[0], 1, 2, 0 };
  if (indirect_req (d, 4, 48) != 1025 || stat[0] != 0)
    return (void) fail ("indirect", "device broken after bad tables, status", stat[0]);
  pass ("indirect", 0);
}

/* Forty bad requests: the VMM must not log them all. */
static void
t_spam (void)
{
  struct vdev *d;
  if (!blk_setup ("spam", &d, 0))
    return;
  for (unsigned i = 0; i < 40; i++) {
    blk_chain (d, 0, 0, 0, buf[0], 512, true);
    d->r->desc[1].addr = 0x7fff00000000ULL;
    vq_add (d, 0);
    vq_kick (d);
    if (!vq_wait (d, 1) || d->r->used.ring[(d->used_seen - 1) % QSIZE].len != 0)
      return (void) fail ("spam", "bad request not refused", i);
  }
  pass ("spam", "40 bad requests");
}

void guest_main (const uint8_t *bp);

void
guest_main (const uint8_t *bp)
{
  const char *p;

  cmdline = (const char *) (uint64_t) *(const uint32_t *) (bp + 0x228);
  puts_ ("vdk-guest: hello\n");
  puts_ ("INFO cmdline=");
  puts_ (cmdline);
  puts_ ("\n");
  /* virtio_mmio.device=4K@0xADDR:IRQ */
  for (p = param ("virtio_mmio.device", 0); p && ndevs < MAX_DEVS;
       p = param ("virtio_mmio.device", p)) {
    while (*p && *p != '@')
      p++;
    if (*p++ != '@')
      break;
    struct vdev *d = &devs[ndevs];
    d->base = parse_num (&p);
    if (mmio_r (d->base + R_MAGIC) != 0x74726976 || mmio_r (d->base + R_VERSION) != 2) {
      fail ("probe", "no virtio-mmio v2 device at", d->base);
      continue;
    }
    d->id = mmio_r (d->base + R_DEVICE_ID);
    d->r = &rings[ndevs++];
  }
  puts_ ("INFO devices=");
  putu (ndevs);
  puts_ ("\n");
  if (wanted ("blk-read")) t_blk_read ();
  if (wanted ("blk-write")) t_blk_write ();
  if (wanted ("blk-discard")) t_blk_discard ();
  if (wanted ("blk-ro")) t_blk_ro ();
  if (wanted ("blk-sig")) t_blk_sig ();
  if (wanted ("blk-inflight")) t_blk_inflight ();
  if (wanted ("hostile")) t_hostile ();
  if (wanted ("indirect")) t_indirect ();
  if (wanted ("spam")) t_spam ();
  if (wanted ("rng")) t_rng ();
  if (wanted ("smp")) t_smp ();
  if (wanted ("initrd")) t_initrd (bp);
  if (wanted ("mem")) t_mem (bp);
  if (wanted ("blk-ids")) t_blk_ids ();
  if (wanted ("blk-bench")) t_blk_bench ();
  if (wanted ("input")) t_input ();
  if (wanted ("memwrite")) t_memwrite ();
  if (wanted ("crash")) t_crash ();
  if (wanted ("powerdown")) t_powerdown ();
  puts_ ("VDKTEST DONE pass=");
  putu (npass);
  puts_ (" fail=");
  putu (nfail);
  puts_ ("\n");
}
