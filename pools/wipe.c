/* vol-wipe --algorithm: virsh's algorithms for every pool type.
 *
 * zero is each type's vol_wipe (deallocating where it can).  The others
 * write the volume's guest view through libdisk (a qcow2 volume stays a
 * valid qcow2), pass after pass, with a flush after every pass so each one
 * reaches the storage:
 *   random, pfitzner7, pfitzner33: 1, 7, 33 passes of random data;
 *   nnsa, dod, bsi, gutmann, schneier: the pass sequences of scrub(1), which
 *   libvirt runs for them ("verify" reads the volume back and checks the
 *   last pattern);
 *   trim: the whole volume is discarded (holes punched in files, BLKDISCARD
 *   on block devices, clusters freed in qcow2), then checked to read back
 *   as zeroes; storage where discarding leaves the data is refused, as
 *   libvirt refuses trim where it is not supported. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "vdk/disk.h"
#include "pool-int.h"

#define CHUNK (1u << 20)

/* A pass: LEN pattern bytes repeated from offset 0; LEN 0 = random data,
 * VERIFY = read back and check the previous pattern. */
#define VERIFY 0xff
struct pass { uint8_t len; uint8_t pat[3]; };
#define R { 0, { 0 } }
#define P1(a) { 1, { a } }
#define P3(a, b, c) { 3, { a, b, c } }
#define V { VERIFY, { 0 } }

static const struct pass nnsa[] = { R, R, P1 (0x00), V };
static const struct pass dod[] = { R, P1 (0x00), P1 (0xff), V };
static const struct pass bsi[] = {
  P1 (0xff), P1 (0xfe), P1 (0xfd), P1 (0xfb), P1 (0xf7), P1 (0xef), P1 (0xdf), P1 (0xbf),
  P1 (0x7f),
};
/* Gutmann's 35 passes (Secure Deletion of Data from Magnetic and
 * Solid-State Memory, 1996): 4 random, 27 fixed, 4 random. */
static const struct pass gutmann[] = {
  R, R, R, R,
  P1 (0x55), P1 (0xaa), P3 (0x92, 0x49, 0x24), P3 (0x49, 0x24, 0x92), P3 (0x24, 0x92, 0x49),
  P1 (0x00), P1 (0x11), P1 (0x22), P1 (0x33), P1 (0x44), P1 (0x55), P1 (0x66), P1 (0x77),
  P1 (0x88), P1 (0x99), P1 (0xaa), P1 (0xbb), P1 (0xcc), P1 (0xdd), P1 (0xee), P1 (0xff),
  P3 (0x92, 0x49, 0x24), P3 (0x49, 0x24, 0x92), P3 (0x24, 0x92, 0x49),
  P3 (0x6d, 0xb6, 0xdb), P3 (0xb6, 0xdb, 0x6d), P3 (0xdb, 0x6d, 0xb6),
  R, R, R, R,
};
static const struct pass schneier[] = { P1 (0x00), P1 (0xff), R, R, R, R, R };
static const struct pass pf7[] = { R, R, R, R, R, R, R };
static const struct pass pf33[] = {
  R, R, R, R, R, R, R, R, R, R, R, R, R, R, R, R, R, R, R, R, R, R, R, R, R, R, R, R, R, R,
  R, R, R,
};
static const struct pass rnd[] = { R };

static const struct alg {
  const char *name;
  const struct pass *passes;
  size_t n;
} algs[] = {
  { "zero", NULL, 0 },
  { "nnsa", nnsa, sizeof nnsa / sizeof nnsa[0] },
  { "dod", dod, sizeof dod / sizeof dod[0] },
  { "bsi", bsi, sizeof bsi / sizeof bsi[0] },
  { "gutmann", gutmann, sizeof gutmann / sizeof gutmann[0] },
  { "schneier", schneier, sizeof schneier / sizeof schneier[0] },
  { "pfitzner7", pf7, sizeof pf7 / sizeof pf7[0] },
  { "pfitzner33", pf33, sizeof pf33 / sizeof pf33[0] },
  { "random", rnd, 1 },
  { "trim", NULL, 0 },
};

const char *const *
pool_wipe_algorithms (void)
{
  static const char *names[sizeof algs / sizeof algs[0] + 1];
  for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
    names[i] = algs[i].name;
  return names;
}

static int
fill_random (uint8_t *buf, size_t len)
{
  while (len) {
    ssize_t got = getrandom (buf, len, 0);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      return pool_err (errno ? errno : EIO, "getrandom: %s", strerror (errno ? errno : EIO));
    buf += got;
    len -= (size_t) got;
  }
  return 0;
}

static int
disk_fail (const struct pool_vol *v, int r)
{
  return pool_err (-r, "volume '%s': %s", v->name, disk_last_error ());
}

/* Write pass P over the whole of D (SIZE bytes), or check the pattern of
 * pass P (VERIFY). */
static int
run_pass (struct disk *d, const struct pool_vol *v, uint64_t size, const struct pass *p,
          bool verify, uint8_t *buf, uint8_t *pat)
{
  int r;

  if (p->len)                           /* pat[i] = pattern byte at offset i */
    for (size_t i = 0; i < CHUNK + 3; i++)
      pat[i] = p->pat[i % p->len];
  for (uint64_t off = 0; off < size;) {
    size_t n = size - off < CHUNK ? (size_t) (size - off) : CHUNK;
    const uint8_t *want = p->len ? pat + off % p->len : NULL;
    if (verify) {
      if ((r = disk_pread (d, buf, n, off)) < 0)
        return disk_fail (v, r);
      if (memcmp (buf, want, n))
        return pool_err (EIO, "volume '%s': verification failed: the data at offset %" PRIu64
                         " is not what was written", v->name, off);
    }
    else {
      if (!p->len && (r = fill_random (buf, n)) < 0)
        return r;
      if ((r = disk_pwrite (d, p->len ? want : buf, n, off, 0)) < 0)
        return disk_fail (v, r);
    }
    off += n;
  }
  if (!verify && (r = disk_flush (d)) < 0)
    return disk_fail (v, r);
  return 0;
}

static int
run_passes (struct disk *d, const struct pool_vol *v, const struct alg *a)
{
  uint64_t size = (uint64_t) disk_get_size (d);
  uint8_t *buf = malloc (CHUNK), *pat = malloc (CHUNK + 3);
  const struct pass *last = NULL;
  int r = 0;

  if (!buf || !pat) {
    free (buf);
    free (pat);
    return pool_err (ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < a->n && r == 0; i++) {
    if (a->passes[i].len == VERIFY)
      r = last ? run_pass (d, v, size, last, true, buf, pat) : 0;
    else
      r = run_pass (d, v, size, last = &a->passes[i], false, buf, pat);
  }
  free (buf);
  free (pat);
  return r;
}

/* Discard everything, then make sure it reads as zeroes (holes are skipped
 * by block status; the rest is read). */
static int
trim (struct disk *d, const struct pool_vol *v)
{
  uint64_t size = (uint64_t) disk_get_size (d), off = 0;
  uint8_t *buf;
  int r;

  while (off < size) {
    uint64_t n = size - off < (1ULL << 30) ? size - off : (1ULL << 30);
    if ((r = disk_discard (d, off, n)) < 0)
      return disk_fail (v, r);
    off += n;
  }
  if ((r = disk_flush (d)) < 0)
    return disk_fail (v, r);
  if (!(buf = malloc (CHUNK)))
    return pool_err (ENOMEM, "out of memory");
  for (off = 0; off < size;) {
    struct disk_status st;
    if ((r = disk_block_status (d, off, size - off, 0, &st)) < 0) {
      r = disk_fail (v, r);
      break;
    }
    if (!(st.flags & DISK_STATUS_ZERO))
      for (uint64_t pos = off; pos < off + st.length && r == 0; pos += CHUNK) {
        size_t n = off + st.length - pos < CHUNK ? (size_t) (off + st.length - pos) : CHUNK;
        if ((r = disk_pread (d, buf, n, pos)) < 0)
          r = disk_fail (v, r);
        else if (!disk_is_zero_buf (buf, n))
          r = pool_err (ENOTSUP, "volume '%s': the 'trim' algorithm is not supported by its"
                        " storage (discarded data still reads back at offset %" PRIu64 ")",
                        v->name, pos);
      }
    if (r < 0)
      break;
    off += st.length;
  }
  free (buf);
  return r;
}

int
pool_vol_wipe_alg (struct pool *p, struct pool_vol *v, const char *algorithm)
{
  const struct alg *a = NULL;
  struct disk *d;
  int r, r2;

  for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
    if (!strcmp (algs[i].name, algorithm ? algorithm : "zero"))
      a = &algs[i];
  if (!a)
    return pool_err (EINVAL, "Unsupported wiping algorithm '%s'", algorithm);
  if (a == &algs[0])
    return pool_vol_wipe (p, v);
  if ((r = pool_vol_wipe_check (p, v)) < 0)
    return r;
  if ((r = pool_vol_open (v, DISK_OPEN_RDWR, &d)) < 0)
    return r;
  r = a->passes ? run_passes (d, v, a) : trim (d, v);
  r2 = disk_close (d);
  if (r == 0 && r2 < 0)
    r = disk_fail (v, r2);
  return r;
}
