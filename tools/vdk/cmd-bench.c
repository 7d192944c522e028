/* vdk bench: run a simple I/O benchmark on an image, like qemu-img bench,
 * with an extra --random for random offsets (aligned to the buffer size). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vdk.h"

enum { OPT_PATTERN = 256, OPT_FLUSH_INTERVAL, OPT_NO_DRAIN, OPT_RANDOM };

struct bench {
  struct disk *d;
  bool write, random;
  uint64_t count, issued, completed, offset, step, size, bufsize, flush_interval;
  uint64_t rng;
  unsigned depth;
  uint8_t *bufs;
  struct disk_queue *q;
  int err;
  pthread_mutex_t lock;
};

static uint64_t
next_offset (struct bench *b, uint64_t n)
{
  uint64_t slots = (b->size - b->offset) / b->bufsize;
  if (b->random) {
    /* xorshift64 */
    b->rng ^= b->rng << 13;
    b->rng ^= b->rng >> 7;
    b->rng ^= b->rng << 17;
    return b->offset + (b->rng % slots) * b->bufsize;
  }
  return b->offset + (n * b->step) % (slots * b->bufsize);
}

static void issue (struct bench *b, unsigned slot);

struct slotctx { struct bench *b; unsigned slot; };

static void
slot_cb (void *opaque, int ret)
{
  struct slotctx *s = opaque;
  struct bench *b = s->b;
  if (ret < 0 && !b->err) {
    b->err = ret;
    disk_fail ();
  }
  b->completed++;
  if (b->flush_interval && b->write && b->completed % b->flush_interval == 0 &&
      disk_flush (b->d) < 0 && !b->err)
    b->err = -EIO;
  if (b->issued < b->count && !b->err)
    issue (b, s->slot);
}

static struct slotctx *ctxs;

static void
issue (struct bench *b, unsigned slot)
{
  uint64_t off = next_offset (b, b->issued++);
  uint8_t *buf = b->bufs + (size_t) slot * b->bufsize;
  int r = b->write
    ? disk_aio_pwrite (b->q, b->d, buf, b->bufsize, off, 0, slot_cb, &ctxs[slot])
    : disk_aio_pread (b->q, b->d, buf, b->bufsize, off, slot_cb, &ctxs[slot]);
  if (r < 0 && !b->err) {
    b->err = r;
    disk_fail ();
  }
}

/* -i threads: DEPTH threads doing synchronous I/O. */
static void *
thread_main (void *opaque)
{
  struct slotctx *s = opaque;
  struct bench *b = s->b;
  uint8_t *buf = b->bufs + (size_t) s->slot * b->bufsize;

  for (;;) {
    uint64_t n, off;
    pthread_mutex_lock (&b->lock);
    if (b->issued >= b->count || b->err) {
      pthread_mutex_unlock (&b->lock);
      break;
    }
    n = b->issued++;
    off = next_offset (b, n);
    pthread_mutex_unlock (&b->lock);
    int r = b->write ? disk_pwrite (b->d, buf, b->bufsize, off, 0)
                     : disk_pread (b->d, buf, b->bufsize, off);
    pthread_mutex_lock (&b->lock);
    if (r < 0 && !b->err) {
      b->err = r;
      disk_fail ();
    }
    b->completed++;
    pthread_mutex_unlock (&b->lock);
  }
  return NULL;
}

int
cmd_bench (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "pattern", required_argument, NULL, OPT_PATTERN },
    { "flush-interval", required_argument, NULL, OPT_FLUSH_INTERVAL },
    { "no-drain", no_argument, NULL, OPT_NO_DRAIN },
    { "random", no_argument, NULL, OPT_RANDOM },
    { "force-share", no_argument, NULL, 'U' },
    { NULL, 0, NULL, 0 },
  };
  struct bench b;
  const char *fmt = NULL, *cache = "writeback", *aio = "io_uring";
  bool quiet = false, share = false, step_set = false;
  int pattern = 0xa5, c, rc = 1;
  char opts[64];
  struct timespec t0, t1;
  uint64_t v;

  memset (&b, 0, sizeof b);
  b.count = 75000;
  b.depth = 64;
  b.bufsize = 4096;
  b.rng = 0x9e3779b97f4a7c15ULL;
  pthread_mutex_init (&b.lock, NULL);
  while ((c = getopt_long (argc, argv, "c:d:f:no:qs:S:t:i:wU", longopts, NULL)) != -1) {
    switch (c) {
    case 'c':
      if (disk_parse_size (optarg, &b.count) < 0 || b.count == 0) {
        error ("Invalid request count specified");
        return 1;
      }
      break;
    case 'd':
      if (disk_parse_size (optarg, &v) < 0 || v < 1 || v > 4096) {
        error ("Invalid queue depth specified");
        return 1;
      }
      b.depth = v;
      break;
    case 'f': fmt = optarg; break;
    case 'n': cache = "none"; break;
    case 'o':
      if (parse_size_arg (optarg, &b.offset, "offset") < 0)
        return 1;
      break;
    case 'q': quiet = true; break;
    case 's':
      if (parse_size_arg (optarg, &b.bufsize, "buffer size") < 0)
        return 1;
      if (b.bufsize == 0 || b.bufsize > (64u << 20)) {
        error ("Invalid buffer size specified");
        return 1;
      }
      break;
    case 'S':
      if (parse_size_arg (optarg, &b.step, "step size") < 0)
        return 1;
      step_set = true;
      break;
    case 't':
      if (!cache_mode_valid (optarg)) {   /* qemu-img's words */
        error ("Invalid cache mode");
        return 1;
      }
      cache = optarg;
      break;
    case 'i':
      if (strcmp (optarg, "io_uring") && strcmp (optarg, "threads")) {
        error ("Invalid aio option '%s' (io_uring, threads)", optarg);
        return 1;
      }
      aio = optarg;
      break;
    case 'w': b.write = true; break;
    case 'U': share = true; break;
    case OPT_PATTERN: {
      char *end;
      long p = strtol (optarg, &end, 0);
      if (*end || p < 0 || p > 255) {
        error ("Invalid pattern byte specified");
        return 1;
      }
      pattern = p;
      break;
    }
    case OPT_FLUSH_INTERVAL:
      if (disk_parse_size (optarg, &b.flush_interval) < 0) {
        error ("Invalid flush interval specified");
        return 1;
      }
      break;
    case OPT_NO_DRAIN: break;
    case OPT_RANDOM: b.random = true; break;
    default: return usage_error ("bench", "invalid option");
    }
  }
  if (optind != argc - 1)
    return usage_error ("bench", "Expecting one image file name");
  if (!step_set)
    b.step = b.bufsize;
  if (b.write && share) {
    error ("-U cannot be used with -w");
    return 1;
  }
  if (b.flush_interval && b.flush_interval < b.depth) {   /* as qemu-img */
    error ("Flush interval can't be smaller than depth");
    return 1;
  }
  snprintf (opts, sizeof opts, "cache=%s", cache);
  if (disk_open (&b.d, argv[optind], fmt, (b.write ? DISK_OPEN_RDWR : 0) |
                 (share ? DISK_OPEN_FORCE_SHARE : 0), opts) < 0)
    return disk_fail ();
  b.size = disk_get_size (b.d);
  if (b.offset >= b.size || b.size - b.offset < b.bufsize) {
    error ("%s: the image is too small for offset %" PRIu64 " and buffer size %" PRIu64,
           argv[optind], b.offset, b.bufsize);
    goto out;
  }
  if (posix_memalign ((void **) &b.bufs, 4096, (size_t) b.depth * b.bufsize)) {
    error ("out of memory");
    goto out;
  }
  memset (b.bufs, pattern, (size_t) b.depth * b.bufsize);
  ctxs = calloc (b.depth, sizeof *ctxs);
  if (!ctxs) {
    error ("out of memory");
    goto out;
  }
  if (!quiet) {
    printf ("Sending %" PRIu64 " %s requests, %" PRIu64 " bytes each, %u in parallel "
            "(starting at offset %" PRIu64 ", step size %" PRIu64 ")\n",
            b.count, b.write ? "write" : "read", b.bufsize, b.depth, b.offset,
            b.random ? 0 : b.step);
    if (b.random)
      printf ("Offsets are random (aligned to the buffer size)\n");
    if (b.flush_interval && b.write)
      printf ("Sending flush every %" PRIu64 " requests\n", b.flush_interval);
    fflush (stdout);
  }
  clock_gettime (CLOCK_MONOTONIC, &t0);
  if (!strcmp (aio, "threads")) {
    pthread_t *th = calloc (b.depth, sizeof *th);
    if (!th) {
      error ("out of memory");
      goto out;
    }
    for (unsigned i = 0; i < b.depth; i++) {
      ctxs[i] = (struct slotctx) { &b, i };
      pthread_create (&th[i], NULL, thread_main, &ctxs[i]);
    }
    for (unsigned i = 0; i < b.depth; i++)
      pthread_join (th[i], NULL);
    free (th);
  }
  else {
    if (disk_queue_new (&b.q, b.depth) < 0) {
      disk_fail ();
      goto out;
    }
    for (unsigned i = 0; i < b.depth && b.issued < b.count; i++) {
      ctxs[i] = (struct slotctx) { &b, i };
      issue (&b, i);
    }
    while (disk_queue_inflight (b.q) > 0)
      if (disk_queue_wait (b.q, 1) < 0) {
        disk_fail ();
        break;
      }
    disk_queue_free (b.q);
  }
  if (!b.err && b.write && disk_flush (b.d) < 0) {
    disk_fail ();
    b.err = -EIO;
  }
  clock_gettime (CLOCK_MONOTONIC, &t1);
  if (b.err)
    goto out;
  double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  if (!quiet)
    printf ("Run completed in %3.3f seconds.\n", secs);
  rc = 0;
 out:
  free (ctxs);
  ctxs = NULL;
  free (b.bufs);
  disk_close (b.d);
  return rc;
}
