/* virtio-rng: fills the guest's buffers from the host's getrandom(). */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "virtio.h"

#define RNG_MAX_PER_REQUEST (64u << 10)

struct rng {
  struct vchain chain;
};

static void
rng_process (struct virtio_dev *d)
{
  struct rng *g = d->priv;
  struct vchain *c = &g->chain;
  bool pushed = false;
  int r;

  while ((r = virtq_pop (d, &d->vq[0], c)) == 1) {
    uint32_t done = 0;
    for (unsigned i = 0; !c->bad && i < c->nseg && done < RNG_MAX_PER_REQUEST; i++) {
      struct vseg *s = &c->seg[i];
      if (!s->writable)
        continue;
      uint32_t want = s->len < RNG_MAX_PER_REQUEST - done ? s->len : RNG_MAX_PER_REQUEST - done;
      ssize_t n = getrandom (s->ptr, want, 0);
      if (n <= 0)
        break;
      done += n;
      if ((uint32_t) n < want)
        break;
    }
    virtq_push (d, &d->vq[0], c->head, done);
    pushed = true;
  }
  if (pushed)
    virtio_notify (d);
}

static void
rng_destroy (struct virtio_dev *d)
{
  free (d->priv);
}

static const struct virtio_dev_ops rng_ops = {
  .name = "virtio-rng", .device_id = VIRTIO_ID_RNG, .nqueues = 1, .features = 0,
  .process = rng_process, .destroy = rng_destroy,
};

int
virtio_rng_create (struct vm *vm)
{
  struct rng *g = calloc (1, sizeof *g);
  int r;

  if (!g)
    return vm_err (ENOMEM, "out of memory");
  r = virtio_dev_create (vm, &rng_ops, g, "rng", NULL);
  if (r < 0 && (vm->nvirtio == 0 || vm->virtio[vm->nvirtio - 1]->priv != g))
    free (g);
  return r;
}
