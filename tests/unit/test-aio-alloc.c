/* Asynchronous allocating writes: many writes in flight that share
 * allocation units (never bytes) of a freshly created image, checked
 * against a shadow copy, then read back synchronously and asynchronously.
 * Runs on every format in this build that can be created and written
 * through alloc/alloc_commit (qcow2, vmdk, vhdx...); raw is the control. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libdisk/internal.h"
#include "libdisk/io.h"

#define CHECK(x) do { if (!(x)) { fprintf (stderr, "%s:%d: CHECK failed: %s (%s)\n", \
              __FILE__, __LINE__, #x, disk_last_error ()); exit (1); } } while (0)

#define SIZE (16u << 20)
#define NREQ 3000
#define DEPTH 32

struct w { uint64_t off, len; bool busy; };
static struct w slots[DEPTH];
static int errors;

static void
cb (void *opaque, int ret)
{
  struct w *s = opaque;
  s->busy = false;
  if (ret < 0) {
    fprintf (stderr, "write failed: %s\n", disk_last_error ());
    errors++;
  }
}

static bool
overlaps (uint64_t off, uint64_t len)
{
  for (int i = 0; i < DEPTH; i++)
    if (slots[i].busy && off < slots[i].off + slots[i].len && slots[i].off < off + len)
      return true;
  return false;
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t
rnd (void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static void
run (const char *fmt, const char *path)
{
  struct disk *d;
  struct disk_queue *q;
  uint8_t *shadow = calloc (1, SIZE), *data = malloc (SIZE), *r = malloc (SIZE);
  int r2;

  for (size_t i = 0; i < SIZE; i++)
    data[i] = (uint8_t) rnd ();
  CHECK (disk_create (path, fmt, SIZE, NULL, NULL, NULL, 0) == 0);
  CHECK (disk_open (&d, path, fmt, DISK_OPEN_RDWR, NULL) == 0);
  CHECK (disk_queue_new (&q, DEPTH) == 0);
  for (int n = 0; n < NREQ; n++) {
    uint64_t len = (1 + rnd () % 64) * 512, off = (rnd () % ((SIZE - len) / 512)) * 512;
    int slot = -1;
    while (overlaps (off, len) || slot < 0) {
      for (int i = 0; i < DEPTH && slot < 0; i++)
        if (!slots[i].busy)
          slot = i;
      if (overlaps (off, len) || slot < 0) {
        CHECK (disk_queue_wait (q, 1) >= 0);
        slot = -1;
      }
    }
    slots[slot] = (struct w) { off, len, true };
    memcpy (shadow + off, data + off, len);
    CHECK (disk_aio_pwrite (q, d, data + off, len, off, 0, cb, &slots[slot]) == 0);
  }
  while (disk_queue_inflight (q))
    CHECK (disk_queue_wait (q, 1) >= 0);
  CHECK (errors == 0);
  CHECK (disk_pread (d, r, SIZE, 0) == 0);
  CHECK (memcmp (r, shadow, SIZE) == 0);
  CHECK (disk_close (d) == 0);
  /* reopen: what was committed is what we wrote */
  CHECK (disk_open (&d, path, fmt, 0, NULL) == 0);
  memset (r, 0x55, SIZE);
  for (unsigned i = 0; i < SIZE / (1 << 20); i++)
    CHECK (disk_aio_pread (q, d, r + i * (1 << 20), 1 << 20, (uint64_t) i << 20, NULL, NULL) == 0);
  r2 = disk_queue_wait (q, SIZE / (1 << 20));
  CHECK (r2 == SIZE / (1 << 20));
  CHECK (memcmp (r, shadow, SIZE) == 0);
  disk_close (d);
  disk_queue_free (q);
  free (shadow);
  free (data);
  free (r);
  printf ("%s: OK\n", fmt);
}

/* A toy format to drive the commit path without any real format: 64 KiB
 * units are allocated at the end of the file on first write, with zeroes
 * around the written range, and linked in memory by alloc_commit. */
#define UNIT 65536u
struct toy { uint64_t map[SIZE / UNIT]; uint64_t next; int commits; };

static int
toy_map (struct vdk_node *n, uint64_t off, uint64_t len, struct vdk_extent *e)
{
  struct toy *t = n->priv;
  uint64_t u = off / UNIT, in = off % UNIT;
  e->len = VDK_MIN (len, UNIT - in);
  if (t->map[u]) {
    e->kind = VDK_EXT_DATA;
    e->host = t->map[u] - 1 + in;
  }
  else
    e->kind = VDK_EXT_UNALLOC;
  return 0;
}

static int
toy_alloc (struct vdk_node *n, uint64_t off, uint64_t len, struct vdk_extent *e)
{
  struct toy *t = n->priv;
  uint64_t u = off / UNIT, in = off % UNIT;
  static const uint8_t zero[UNIT];
  int r;

  e->kind = VDK_EXT_DATA;
  e->len = VDK_MIN (len, UNIT - in);
  if (t->map[u]) {
    e->host = t->map[u] - 1 + in;
    return 0;
  }
  r = vdk_node_pwrite (n->file, zero, UNIT, t->next, 0);   /* zeroes around the data */
  if (r < 0)
    return r;
  e->host = t->next + in;
  e->cookie = t->next;
  e->needs_commit = true;
  t->next += UNIT;
  return 0;
}

static int
toy_commit (struct vdk_node *n, const struct vdk_extent *e)
{
  struct toy *t = n->priv;
  uint64_t u = e->off / UNIT;
  if (t->map[u])
    return vdk_err (EIO, "toy: unit %llu allocated twice", (unsigned long long) u);
  t->map[u] = e->cookie + 1;
  t->commits++;
  return 0;
}

static const struct vdk_format toy_format = {
  .struct_size = sizeof (struct vdk_format), .name = "toy",
  .map = toy_map, .alloc = toy_alloc, .alloc_commit = toy_commit,
  .flags = VDK_FMT_ASYNC_ALLOC,
};

static void
run_toy (const char *path)
{
  struct vdk_node *file, n;
  struct disk d = { .root = &n };
  struct disk_queue *q;
  struct toy *t = calloc (1, sizeof *t);
  uint8_t *shadow = calloc (1, SIZE), *data = malloc (SIZE), *r = malloc (SIZE);

  for (size_t i = 0; i < SIZE; i++)
    data[i] = (uint8_t) rnd ();
  CHECK (disk_create (path, "raw", 0, NULL, NULL, NULL, 0) == 0);
  CHECK (vdk_open_protocol (path, NULL, VDK_O_RDWR, &file) == 0);
  memset (&n, 0, sizeof n);
  n.fmt = &toy_format;
  n.file = file;
  n.priv = t;
  n.filename = (char *) path;
  n.size = SIZE;
  n.flags = VDK_O_RDWR;
  n.cluster_size = UNIT;
  pthread_mutex_init (&n.lock, NULL);
  pthread_cond_init (&n.inflight_cond, NULL);
  CHECK (disk_queue_new (&q, DEPTH) == 0);
  memset (slots, 0, sizeof slots);
  for (int k = 0; k < NREQ; k++) {
    uint64_t len = (1 + rnd () % 64) * 512, off = (rnd () % ((SIZE - len) / 512)) * 512;
    int slot = -1;
    while (overlaps (off, len) || slot < 0) {
      for (int i = 0; i < DEPTH && slot < 0; i++)
        if (!slots[i].busy)
          slot = i;
      if (overlaps (off, len) || slot < 0) {
        CHECK (disk_queue_wait (q, 1) >= 0);
        slot = -1;
      }
    }
    slots[slot] = (struct w) { off, len, true };
    memcpy (shadow + off, data + off, len);
    CHECK (disk_aio_pwrite (q, &d, data + off, len, off, 0, cb, &slots[slot]) == 0);
  }
  while (disk_queue_inflight (q))
    CHECK (disk_queue_wait (q, 1) >= 0);
  CHECK (errors == 0);
  CHECK (n.inflight == NULL && n.deferred == NULL);
  /* every unit was allocated exactly once (a double allocation fails commit) */
  CHECK ((uint64_t) t->commits * UNIT == t->next);
  CHECK (vdk_node_pread (&n, r, SIZE, 0) == 0);
  CHECK (memcmp (r, shadow, SIZE) == 0);
  printf ("toy: OK (%d units)\n", t->commits);
  disk_queue_free (q);
  vdk_node_close (file);
  pthread_mutex_destroy (&n.lock);
  pthread_cond_destroy (&n.inflight_cond);
  free (t);
  free (shadow);
  free (data);
  free (r);
}

int
main (void)
{
  char path[256];
  const char *dir = getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp";

  for (size_t i = 0; vdk_formats[i]; i++) {
    const struct vdk_format *f = vdk_formats[i];
    if (!f->create || !f->alloc || f->pwrite)
      continue;
    snprintf (path, sizeof path, "%s/vdk-aio-alloc-%d.%s", dir, (int) getpid (), f->name);
    run (f->name, path);
    unlink (path);
  }
  snprintf (path, sizeof path, "%s/vdk-aio-alloc-%d.toy", dir, (int) getpid ());
  run_toy (path);
  unlink (path);
  return 0;
}
