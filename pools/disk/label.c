/* GPT and DOS/MBR partition tables: read into a model (pl_label), changed
 * (add, remove, resize partitions with 1 MiB alignment) and written back.
 *
 * GPT (UEFI spec, chapter 5): a protective MBR, the primary header at LBA 1
 * with its entry array at LBA 2, the backup entry array and header at the
 * end of the disk, CRC32s over the header and the array.  DOS: four primary
 * entries at byte 446 of sector 0, one of which may be an extended
 * partition holding a chain of extended boot records (EBR), one per logical
 * partition: entry 0 the logical (relative to its EBR), entry 1 the link to
 * the next EBR (relative to the extended partition's start). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "label.h"

#define MBR_SIZE 512
#define GPT_ENTRY 128

/* Linux filesystem data: 0FC63DAF-8483-4772-8E79-3D69D8477DE4 */
static const uint8_t linux_fs_guid[16] = {
  0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47,
  0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4,
};

static uint16_t le16 (const uint8_t *p) { return p[0] | p[1] << 8; }
static uint32_t le32 (const uint8_t *p)
{ return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t) p[3] << 24; }
static uint64_t le64 (const uint8_t *p) { return le32 (p) | (uint64_t) le32 (p + 4) << 32; }
static void put16 (uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static void put32 (uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = v >> (8 * i); }
static void put64 (uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = v >> (8 * i); }

uint32_t
pl_crc32 (const void *buf, size_t len)
{
  static uint32_t table[256];
  static bool init;
  const uint8_t *p = buf;
  uint32_t c = 0xffffffffu;

  if (!init) {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t v = i;
      for (int k = 0; k < 8; k++)
        v = v & 1 ? 0xedb88320u ^ (v >> 1) : v >> 1;
      table[i] = v;
    }
    init = true;
  }
  while (len--)
    c = table[(c ^ *p++) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

static int
fail (struct pl_label *l, int errnum, const char *fmt, ...) __attribute__((format (printf, 3, 4)));
static int
fail (struct pl_label *l, int errnum, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (l->err, sizeof l->err, fmt, ap);
  va_end (ap);
  return -errnum;
}

struct reader {
  pl_pread_fn fn;
  pl_warn_fn warn;
  void *opaque;
  unsigned flags;
};

static void
warn (const struct reader *rr, const char *fmt, ...) __attribute__((format (printf, 2, 3)));
static void
warn (const struct reader *rr, const char *fmt, ...)
{
  char msg[512];
  va_list ap;
  if (!rr->warn)
    return;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  rr->warn (rr->opaque, msg);
}

#define LENIENT(rr) ((rr)->flags & PL_READ_LENIENT)

static int
rd (struct pl_label *l, const struct reader *rr, void *buf, size_t len, uint64_t off)
{
  int r = rr->fn (rr->opaque, buf, len, off);
  if (r < 0 && !l->err[0])
    return fail (l, -r, "read error at offset %" PRIu64 ": %s", off, strerror (-r));
  return r < 0 ? r : 0;
}

static int
fd_pread (void *opaque, void *buf, size_t len, uint64_t off)
{
  int fd = *(int *) opaque;
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread (fd, (uint8_t *) buf + done, len - done, off + done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    if (n == 0)
      return -EIO;
    done += n;
  }
  return 0;
}

static int
wr (struct pl_label *l, int fd, const void *buf, size_t len, uint64_t off)
{
  size_t done = 0;
  while (done < len) {
    ssize_t n = pwrite (fd, (const uint8_t *) buf + done, len - done, off + done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return fail (l, n < 0 ? errno : EIO, "write error at offset %" PRIu64 ": %s", off + done,
                   n < 0 ? strerror (errno) : "short write");
    done += n;
  }
  return 0;
}

const char *
pl_kind_name (enum pl_kind k)
{
  return k == PL_GPT ? "gpt" : k == PL_DOS ? "dos" : "none";
}

uint64_t
pl_align (const struct pl_label *l)
{
  return (1024 * 1024) / l->ss;
}

static uint64_t
align_up (const struct pl_label *l, uint64_t s)
{
  uint64_t a = pl_align (l);
  return (s + a - 1) / a * a;
}

static uint64_t
gpt_entry_sectors (const struct pl_label *l)
{
  return ((uint64_t) l->n_entries * l->entry_size + l->ss - 1) / l->ss;
}

static bool
is_extended_type (uint8_t t)
{
  return t == 0x05 || t == 0x0f || t == 0x85;
}

static void
sort_parts (struct pl_label *l)
{
  for (size_t i = 1; i < l->n; i++)
    for (size_t j = i; j > 0 && l->parts[j - 1].num > l->parts[j].num; j--) {
      struct pl_part t = l->parts[j];
      l->parts[j] = l->parts[j - 1];
      l->parts[j - 1] = t;
    }
}

/* Do the partitions overlap each other (the extended container aside)? */
static int
check_overlaps (struct pl_label *l)
{
  for (size_t i = 0; i < l->n; i++)
    for (size_t j = i + 1; j < l->n; j++) {
      const struct pl_part *a = &l->parts[i], *b = &l->parts[j];
      if ((a->extended && b->logical) || (b->extended && a->logical))
        continue;
      if (a->start < b->start + b->size && b->start < a->start + a->size)
        return fail (l, EINVAL, "partitions %u and %u overlap", a->num, b->num);
    }
  return 0;
}

/* ---- reading GPT ----------------------------------------------------------------- */
struct gpt_hdr {
  uint64_t my, alt, first, last, entries_lba;
  uint32_t n, esize, ecrc;
  uint8_t guid[16];
};

/* 1 = valid, 0 = not (WHY says why), -errno. */
static int
read_gpt_hdr (struct pl_label *l, const struct reader *rr, uint64_t lba, struct gpt_hdr *h, uint8_t **entries,
              const char **why)
{
  uint8_t *sec;
  uint32_t hsize, crc;
  size_t total;
  int r;

  *entries = NULL;
  if (lba >= l->nsectors) {
    *why = "beyond the end of the disk";
    return 0;
  }
  if (!(sec = malloc (l->ss)))
    return fail (l, ENOMEM, "out of memory");
  if ((r = rd (l, rr, sec, l->ss, lba * l->ss)) < 0)
    goto out;
  r = 0;
  if (memcmp (sec, "EFI PART", 8)) {
    *why = "no signature";
    goto out;
  }
  hsize = le32 (sec + 12);
  if (hsize < 92 || hsize > l->ss) {
    *why = "bad header size";
    goto out;
  }
  crc = le32 (sec + 16);
  memset (sec + 16, 0, 4);
  if (pl_crc32 (sec, hsize) != crc) {
    *why = "header CRC mismatch";
    goto out;
  }
  h->my = le64 (sec + 24);
  h->alt = le64 (sec + 32);
  h->first = le64 (sec + 40);
  h->last = le64 (sec + 48);
  memcpy (h->guid, sec + 56, 16);
  h->entries_lba = le64 (sec + 72);
  h->n = le32 (sec + 80);
  h->esize = le32 (sec + 84);
  h->ecrc = le32 (sec + 88);
  if (h->my != lba) {
    *why = "header does not point at itself";
    goto out;
  }
  if (h->esize < GPT_ENTRY || h->esize % 8 || h->esize > 4096) {
    *why = "bad partition entry size";
    goto out;
  }
  if (h->n == 0 || (uint64_t) h->n * h->esize > PL_MAX_GPT_ENTRY_BYTES) {
    *why = "bad partition entry count";
    goto out;
  }
  total = (size_t) h->n * h->esize;
  if (h->entries_lba >= l->nsectors || total > (l->nsectors - h->entries_lba) * l->ss) {
    *why = "partition entry array beyond the end of the disk";
    goto out;
  }
  if (!(*entries = malloc (total))) {
    r = fail (l, ENOMEM, "out of memory");
    goto out;
  }
  if ((r = rd (l, rr, *entries, total, h->entries_lba * l->ss)) < 0)
    goto out;
  if (pl_crc32 (*entries, total) != h->ecrc) {
    *why = "partition entry array CRC mismatch";
    r = 0;
    goto out;
  }
  r = 1;
 out:
  if (r <= 0) {
    free (*entries);
    *entries = NULL;
  }
  free (sec);
  return r;
}

static int
read_gpt (struct pl_label *l, const struct reader *rr)
{
  struct gpt_hdr pri, bak, *h;
  uint8_t *pe = NULL, *be = NULL, *e;
  const char *whyp = NULL, *whyb = NULL;
  uint64_t esec, last;
  int rp, rb, r = 1;

  l->kind = PL_GPT;
  rp = read_gpt_hdr (l, rr, 1, &pri, &pe, &whyp);
  if (rp < 0)
    return rp;
  rb = read_gpt_hdr (l, rr, rp > 0 && pri.alt < l->nsectors ? pri.alt : l->nsectors - 1, &bak,
                     &be, &whyb);
  if (rb < 0) {
    free (pe);
    return rb;
  }
  if (rp == 0 && rb == 0)
    return fail (l, EINVAL, "protective MBR but both GPT headers are damaged (primary: %s;"
                 " backup: %s)", whyp, whyb);
  if (rp == 0)
    warn (rr, "GPT primary header is damaged (%s), using the backup header", whyp);
  else if (rb == 0)
    warn (rr, "GPT backup header is damaged (%s)", whyb);
  h = rp > 0 ? &pri : &bak;
  e = rp > 0 ? pe : be;
  l->gpt_damaged = rp == 0 || rb == 0 || pri.alt != l->nsectors - 1;
  memcpy (l->disk_guid, h->guid, 16);
  l->n_entries = h->n;
  l->entry_size = h->esize;
  esec = gpt_entry_sectors (l);
  if (l->nsectors < 2 * esec + 4 && !LENIENT (rr)) {
    r = fail (l, EINVAL, "GPT entry array too large for the disk");
    goto out;
  }
  /* Written back with the entries at LBA 2 and the backup at the end. */
  last = l->nsectors >= 2 * esec + 4 ? l->nsectors - 2 - esec : l->nsectors - 1;
  if (h->first < 2 + esec || h->first > last) {
    if (!LENIENT (rr)) {
      r = fail (l, EINVAL, "GPT first usable LBA %" PRIu64 " is out of range", h->first);
      goto out;
    }
  }
  l->first_usable = h->first;
  l->last_usable = last;
  if (LENIENT (rr)) {   /* a reader only: what the disk holds */
    l->first_usable = 0;
    l->last_usable = l->nsectors - 1;
  }
  for (uint32_t i = 0; i < h->n; i++) {
    const uint8_t *ent = e + (size_t) i * h->esize;
    static const uint8_t zero[16];
    struct pl_part *p;
    uint64_t s, end;

    if (!memcmp (ent, zero, 16))
      continue;
    s = le64 (ent + 32);
    end = le64 (ent + 40);
    if (end < s || s < l->first_usable || end > l->last_usable) {
      if (LENIENT (rr)) {
        warn (rr, "GPT entry %" PRIu32 " has an invalid range, ignored", i + 1);
        continue;
      }
      r = fail (l, EINVAL, "GPT partition %" PRIu32 " (sectors %" PRIu64 "-%" PRIu64
                ") is outside the usable area", i + 1, s, end);
      goto out;
    }
    if (l->n >= PL_MAX_PARTS) {
      if (LENIENT (rr)) {
        warn (rr, "more than %d GPT partitions, the rest are ignored", PL_MAX_PARTS);
        break;
      }
      r = fail (l, E2BIG, "more than %d GPT partitions", PL_MAX_PARTS);
      goto out;
    }
    p = &l->parts[l->n++];
    memset (p, 0, sizeof *p);
    p->num = i + 1;
    p->start = s;
    p->size = end - s + 1;
    memcpy (p->type, ent, 16);
    memcpy (p->guid, ent + 16, 16);
    p->attrs = le64 (ent + 48);
    for (int k = 0; k < PL_NAME_CHARS; k++) {
      uint16_t c = le16 (ent + 56 + 2 * k);
      p->name16[k] = c;
      if (!c)
        break;
      p->name[k] = c >= 0x20 && c < 0x7f ? (char) c : '?';
    }
  }
  r = LENIENT (rr) ? 0 : check_overlaps (l);
  r = r < 0 ? r : 1;
 out:
  free (pe);
  free (be);
  return r;
}

/* ---- reading DOS ----------------------------------------------------------------- */
/* 1 = added (*OUT), 0 = skipped (lenient), -errno. */
static int
add_dos (struct pl_label *l, const struct reader *rr, unsigned num, const uint8_t *e,
         uint64_t base, struct pl_part **out)
{
  uint64_t s = base + le32 (e + 8), size = le32 (e + 12);
  struct pl_part *p;

  if (s == 0 || s + size > l->nsectors) {
    /* A reader keeps an extended partition whose start is on the disk. */
    bool keep = LENIENT (rr) && is_extended_type (e[4]) && s > 0 && s + 2 <= l->nsectors;
    if (!LENIENT (rr))
      return fail (l, EINVAL, "DOS partition %u (sectors %" PRIu64 "+%" PRIu64
                   ") extends beyond the end of the disk", num, s, size);
    if (!keep) {
      warn (rr, "partition %u (sectors %" PRIu64 "+%" PRIu64 ") extends beyond the end of the"
            " disk, ignored", num, s, size);
      return 0;
    }
  }
  if (l->n >= PL_MAX_PARTS) {
    if (LENIENT (rr))
      return 0;
    return fail (l, E2BIG, "too many partitions");
  }
  p = &l->parts[l->n++];
  memset (p, 0, sizeof *p);
  p->num = num;
  p->start = s;
  p->size = size;
  p->mbr_type = e[4];
  p->boot = e[0];
  *out = p;
  return 1;
}

static int
read_logicals (struct pl_label *l, const struct reader *rr, const struct pl_part *ext)
{
  uint8_t sec[MBR_SIZE];
  uint64_t ebr = ext->start, ext_end = ext->start + ext->size;
  unsigned num = 5;
  int r;

  for (int i = 0; i < PL_MAX_LOGICAL; i++) {
    const uint8_t *e0 = sec + 446, *e1 = sec + 462;
    struct pl_part *p;

    if ((r = rd (l, rr, sec, MBR_SIZE, ebr * l->ss)) < 0)
      return r;
    if (sec[510] != 0x55 || sec[511] != 0xaa) {
      if (LENIENT (rr)) {
        warn (rr, "extended boot record at sector %" PRIu64 " has no signature, logical"
              " partitions end here", ebr);
        return 0;
      }
      if (ebr == ext->start)
        return 0;   /* an empty extended partition */
      return fail (l, EINVAL, "extended boot record at sector %" PRIu64 " has no signature", ebr);
    }
    if (e0[4] != 0 && le32 (e0 + 12) != 0) {
      if ((r = add_dos (l, rr, num, e0, ebr, &p)) < 0)
        return r;
      if (r > 0) {
        if (p->start <= ebr || p->start + p->size > ext_end) {
          if (!LENIENT (rr))
            return fail (l, EINVAL, "logical partition %u lies outside its extended partition",
                         num);
          warn (rr, "logical partition %u lies outside its extended partition", num);
        }
        p->logical = true;
        p->ebr = ebr;
      }
      num++;
    }
    if (e1[4] == 0 || le32 (e1 + 12) == 0)
      return 0;
    if (!is_extended_type (e1[4])) {
      if (LENIENT (rr))
        return 0;
      return fail (l, EINVAL, "extended boot record at sector %" PRIu64 " links with type 0x%02x",
                   ebr, e1[4]);
    }
    {
      uint64_t next = ext->start + le32 (e1 + 8);
      if (next <= ebr || next >= ext_end) {
        if (LENIENT (rr)) {
          warn (rr, "extended boot record chain goes backwards or leaves the extended"
                " partition, stopped");
          return 0;
        }
        return fail (l, EINVAL, "the chain of extended boot records goes backwards or leaves"
                     " the extended partition at sector %" PRIu64, ebr);
      }
      ebr = next;
    }
  }
  if (LENIENT (rr)) {
    warn (rr, "more than %d logical partitions, the rest are ignored", PL_MAX_LOGICAL);
    return 0;
  }
  return fail (l, E2BIG, "more than %d logical partitions", PL_MAX_LOGICAL);
}

static int
read_dos (struct pl_label *l, const struct reader *rr, const uint8_t *mbr)
{
  struct pl_part *ext = NULL;
  int r;

  l->kind = PL_DOS;
  l->disk_sig = le32 (mbr + 440);
  for (unsigned i = 0; i < 4; i++) {
    const uint8_t *e = mbr + 446 + 16 * i;
    struct pl_part *p;
    if (e[4] == 0 || le32 (e + 12) == 0)
      continue;
    if ((r = add_dos (l, rr, i + 1, e, 0, &p)) < 0)
      return r;
    if (r == 0 || !is_extended_type (e[4]))
      continue;
    p->extended = true;
    if (ext) {
      if (!LENIENT (rr))
        return fail (l, ENOTSUP, "more than one extended partition");
      continue;
    }
    ext = p;
  }
  if (ext) {
    struct pl_part copy = *ext;
    if (copy.start + copy.size > l->nsectors)
      warn (rr, "extended partition extends beyond the end of the disk");
    else if ((r = read_logicals (l, rr, &copy)) < 0)
      return r;
  }
  r = LENIENT (rr) ? 0 : check_overlaps (l);
  return r < 0 ? r : 1;
}

int
pl_read_with (pl_pread_fn fn, pl_warn_fn warn_fn, void *opaque, uint64_t size, uint32_t ss,
              unsigned flags, struct pl_label *l)
{
  const struct reader reader = { fn, warn_fn, opaque, flags }, *rr = &reader;
  uint8_t mbr[MBR_SIZE];
  bool protective = false;
  int r;

  memset (l, 0, sizeof *l);
  l->ss = ss;
  l->nsectors = size / ss;
  if (size < 2 * (uint64_t) ss || ss < MBR_SIZE)
    return 0;
  if ((r = rd (l, rr, mbr, MBR_SIZE, 0)) < 0)
    return r;
  memcpy (l->boot_code, mbr, sizeof l->boot_code);
  if (mbr[510] != 0x55 || mbr[511] != 0xaa)
    return 0;
  /* Boot flags are 0 or 0x80 in a partition table; FAT and NTFS boot
   * sectors also end in 55aa but fail this. */
  for (int i = 0; i < 4; i++) {
    const uint8_t *e = mbr + 446 + 16 * i;
    if (e[0] != 0 && e[0] != 0x80)
      return 0;
    protective |= e[4] == 0xee;
  }
  r = protective ? read_gpt (l, rr) : read_dos (l, rr, mbr);
  if (r >= 0)
    sort_parts (l);
  return r;
}

int
pl_read (int fd, uint64_t size, uint32_t ss, struct pl_label *l)
{
  return pl_read_with (fd_pread, NULL, &fd, size, ss, 0, l);
}

/* ---- new labels ------------------------------------------------------------------ */
static int
random_bytes (struct pl_label *l, void *buf, size_t len)
{
  size_t done = 0;
  while (done < len) {
    ssize_t n = getrandom ((uint8_t *) buf + done, len - done, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return fail (l, errno, "getrandom: %s", strerror (errno));
    done += n;
  }
  return 0;
}

/* A version 4 GUID in GPT's byte order (the third group is little endian). */
static int
random_guid (struct pl_label *l, uint8_t g[16])
{
  int r = random_bytes (l, g, 16);
  g[7] = (g[7] & 0x0f) | 0x40;
  g[8] = (g[8] & 0x3f) | 0x80;
  return r;
}

int
pl_new (struct pl_label *l, enum pl_kind kind, uint64_t size, uint32_t ss)
{
  uint64_t esec;

  memset (l, 0, sizeof *l);
  l->kind = kind;
  l->ss = ss;
  l->nsectors = size / ss;
  if (l->nsectors < 2 * pl_align (l) + 2 * (16384 / ss) + 4)
    return fail (l, ENOSPC, "the disk is too small for a partition table (%" PRIu64 " bytes)",
                 size);
  if (kind == PL_DOS) {
    if (l->nsectors > 0xffffffffull)
      return fail (l, EFBIG, "the disk is too large for a dos label (2^32 sectors at most):"
                   " use gpt");
    return random_bytes (l, &l->disk_sig, sizeof l->disk_sig);
  }
  l->n_entries = 128;
  l->entry_size = GPT_ENTRY;
  esec = gpt_entry_sectors (l);
  l->first_usable = 2 + esec;
  l->last_usable = l->nsectors - 2 - esec;
  return random_guid (l, l->disk_guid);
}

/* ---- writing --------------------------------------------------------------------- */
/* CHS as libfdisk writes it for an LBA disk: 255 heads, 63 sectors per
 * track, 1023/254/63 beyond what CHS can address. */
static void
put_chs (uint8_t *p, uint64_t lba)
{
  uint64_t c, h, s;
  if (lba >= 1024ull * 255 * 63)
    lba = 1024ull * 255 * 63 - 1;
  c = lba / (255 * 63);
  h = (lba / 63) % 255;
  s = lba % 63 + 1;
  p[0] = (uint8_t) h;
  p[1] = (uint8_t) (s | ((c >> 2) & 0xc0));
  p[2] = (uint8_t) c;
}

static void
put_mbr_entry (uint8_t *e, uint8_t boot, uint8_t type, uint64_t abs_start, uint64_t rel_start,
               uint64_t size)
{
  e[0] = boot;
  put_chs (e + 1, abs_start);
  e[4] = type;
  put_chs (e + 5, abs_start + size - 1);
  put32 (e + 8, (uint32_t) rel_start);
  put32 (e + 12, (uint32_t) size);
}

static void
put_gpt_header (uint8_t *sec, const struct pl_label *l, uint64_t my, uint64_t alt,
                uint64_t entries_lba, uint32_t ecrc)
{
  memset (sec, 0, l->ss);
  memcpy (sec, "EFI PART", 8);
  put32 (sec + 8, 0x00010000);
  put32 (sec + 12, 92);
  put64 (sec + 24, my);
  put64 (sec + 32, alt);
  put64 (sec + 40, l->first_usable);
  put64 (sec + 48, l->last_usable);
  memcpy (sec + 56, l->disk_guid, 16);
  put64 (sec + 72, entries_lba);
  put32 (sec + 80, l->n_entries);
  put32 (sec + 84, l->entry_size);
  put32 (sec + 88, ecrc);
  put32 (sec + 16, pl_crc32 (sec, 92));
}

static int
write_gpt (int fd, struct pl_label *l)
{
  uint64_t esec = gpt_entry_sectors (l), last = l->nsectors - 1;
  size_t total = (size_t) esec * l->ss;
  uint8_t *ent = calloc (1, total), *sec = calloc (1, l->ss), mbr[MBR_SIZE];
  uint32_t ecrc;
  int r = -ENOMEM;

  if (!ent || !sec) {
    fail (l, ENOMEM, "out of memory");
    goto out;
  }
  if (l->entry_size != GPT_ENTRY) {
    r = fail (l, ENOTSUP, "vdk writes 128-byte GPT entries only (this table has %" PRIu32 ")",
              l->entry_size);
    goto out;
  }
  for (size_t i = 0; i < l->n; i++) {
    const struct pl_part *p = &l->parts[i];
    uint8_t *e = ent + (size_t) (p->num - 1) * l->entry_size;
    memcpy (e, p->type, 16);
    memcpy (e + 16, p->guid, 16);
    put64 (e + 32, p->start);
    put64 (e + 40, p->start + p->size - 1);
    put64 (e + 48, p->attrs);
    for (int k = 0; k < PL_NAME_CHARS; k++)
      put16 (e + 56 + 2 * k, p->name16[k]);
  }
  ecrc = pl_crc32 (ent, (size_t) l->n_entries * l->entry_size);
  /* The protective MBR: one 0xEE partition over the whole disk. */
  memset (mbr, 0, sizeof mbr);
  memcpy (mbr, l->boot_code, sizeof l->boot_code);
  put_mbr_entry (mbr + 446, 0, 0xee, 1, 1, l->nsectors - 1 > 0xffffffffull ? 0xffffffffull
                 : l->nsectors - 1);
  memset (mbr + 446 + 5, 0xff, 3);   /* the end CHS as sfdisk and sgdisk write it */
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  /* Backup first, then the primary: a crash in between leaves one good copy. */
  if ((r = wr (l, fd, ent, total, (last - esec) * l->ss)) < 0)
    goto out;
  put_gpt_header (sec, l, last, 1, last - esec, ecrc);
  if ((r = wr (l, fd, sec, l->ss, last * l->ss)) < 0)
    goto out;
  if ((r = wr (l, fd, ent, total, 2 * (uint64_t) l->ss)) < 0)
    goto out;
  put_gpt_header (sec, l, 1, last, 2, ecrc);
  if ((r = wr (l, fd, sec, l->ss, l->ss)) < 0)
    goto out;
  r = wr (l, fd, mbr, sizeof mbr, 0);
 out:
  free (ent);
  free (sec);
  return r;
}

static int
write_dos (int fd, struct pl_label *l)
{
  uint8_t mbr[MBR_SIZE], ebr[MBR_SIZE];
  const struct pl_part *ext = NULL, *lg[PL_MAX_LOGICAL];
  size_t nl = 0;
  int r;

  memset (mbr, 0, sizeof mbr);
  memcpy (mbr, l->boot_code, sizeof l->boot_code);
  put32 (mbr + 440, l->disk_sig);
  for (size_t i = 0; i < l->n; i++) {
    const struct pl_part *p = &l->parts[i];
    if (p->logical) {
      if (nl < PL_MAX_LOGICAL)
        lg[nl++] = p;
      continue;
    }
    if (p->extended)
      ext = p;
    put_mbr_entry (mbr + 446 + 16 * (p->num - 1), p->boot, p->mbr_type, p->start, p->start,
                   p->size);
  }
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  /* Logicals are numbered in disk order (pl_add, pl_remove keep it so).
   * The first EBR is at the start of the extended partition; the others
   * where they were, or 1 MiB before their partition (sfdisk's place) when
   * the old place is taken. */
  uint64_t at_of[PL_MAX_LOGICAL];
  for (size_t i = 0; i < nl; i++) {
    uint64_t prev_end = i ? lg[i - 1]->start + lg[i - 1]->size - 1 : 0;
    at_of[i] = lg[i]->ebr;
    if (i == 0)
      at_of[i] = ext->start;
    else if (at_of[i] <= prev_end || at_of[i] >= lg[i]->start)
      at_of[i] = lg[i]->start > pl_align (l) && lg[i]->start - pl_align (l) > prev_end
        ? lg[i]->start - pl_align (l) : prev_end + 1;
  }
  for (size_t i = 0; ext && (i < nl || i == 0); i++) {
    memset (ebr, 0, sizeof ebr);
    ebr[510] = 0x55;
    ebr[511] = 0xaa;
    if (nl == 0) {   /* an empty extended partition: an empty EBR */
      if ((r = wr (l, fd, ebr, sizeof ebr, ext->start * l->ss)) < 0)
        return r;
      break;
    }
    const struct pl_part *p = lg[i];
    uint64_t at = at_of[i];
    put_mbr_entry (ebr + 446, p->boot, p->mbr_type, p->start, p->start - at, p->size);
    if (i + 1 < nl) {
      const struct pl_part *q = lg[i + 1];
      put_mbr_entry (ebr + 462, 0, 0x05, at_of[i + 1], at_of[i + 1] - ext->start,
                     q->start + q->size - at_of[i + 1]);
    }
    if ((r = wr (l, fd, ebr, sizeof ebr, at * l->ss)) < 0)
      return r;
  }
  return wr (l, fd, mbr, sizeof mbr, 0);
}

int
pl_write (int fd, struct pl_label *l)
{
  int r = l->kind == PL_GPT ? write_gpt (fd, l) : write_dos (fd, l);
  if (r == 0 && fsync (fd) < 0)
    r = fail (l, errno, "fsync: %s", strerror (errno));
  if (r == 0)
    l->gpt_damaged = false;
  return r;
}

int
pl_wipe_ends (int fd, uint64_t size, bool regular_file)
{
  enum { LEN = 1024 * 1024 };
  uint64_t len = size < LEN ? size : LEN;
  struct pl_label dummy;
  uint8_t *z;
  int r = 0;

  if (regular_file &&
      fallocate (fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, len) == 0 &&
      fallocate (fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, size - len, len) == 0)
    return 0;
  if (!(z = calloc (1, LEN)))
    return -ENOMEM;
  if ((r = wr (&dummy, fd, z, len, 0)) == 0)
    r = wr (&dummy, fd, z, len, size - len);
  free (z);
  return r;
}

static const struct pl_part *
find_ext (const struct pl_label *l)
{
  for (size_t i = 0; i < l->n; i++)
    if (l->parts[i].extended)
      return &l->parts[i];
  return NULL;
}

/* ---- changing partitions --------------------------------------------------------- */
/* The partitions that bound free space at the level of P (NULL: the disk
 * level; else inside the extended partition), sorted by start. */
struct span { uint64_t start, end; };

static size_t
level_spans (const struct pl_label *l, bool inside, struct span *out)
{
  size_t n = 0;
  for (size_t i = 0; i < l->n; i++) {
    const struct pl_part *p = &l->parts[i];
    if (p->logical != inside)
      continue;
    /* A logical's EBR belongs to it; the first one's, at the start of the
     * extended partition, moves to the sector before it when another
     * logical partition goes in front of it. */
    out[n].start = !inside ? p->start : p->ebr == find_ext (l)->start ? p->start - 1 : p->ebr;
    out[n].end = p->start + p->size - 1;
    n++;
  }
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && out[j - 1].start > out[j].start; j--) {
      struct span t = out[j];
      out[j] = out[j - 1];
      out[j - 1] = t;
    }
  return n;
}

/* The usable range at a level. */
static void
level_range (const struct pl_label *l, bool inside, uint64_t *lo, uint64_t *hi)
{
  if (inside) {
    const struct pl_part *e = find_ext (l);
    *lo = e->start;
    *hi = e->start + e->size - 1;
  }
  else if (l->kind == PL_GPT) {
    *lo = l->first_usable;
    *hi = l->last_usable;
  }
  else {
    *lo = 1;
    *hi = (l->nsectors < 0xffffffffull ? l->nsectors : 0xffffffffull) - 1;
  }
}

/* First fit: a partition of SIZE sectors in a gap at this level.  Inside
 * the extended partition the EBR comes first, 1 MiB before the data.
 * *EBR_OUT / *START_OUT. */
static bool
find_gap (const struct pl_label *l, bool inside, uint64_t size, uint64_t *ebr_out,
          uint64_t *start_out, uint64_t *gap_end)
{
  struct span s[PL_MAX_PARTS + 4];
  uint64_t lo, hi, a;
  size_t n = level_spans (l, inside, s);

  level_range (l, inside, &lo, &hi);
  /* Logical partitions only go after the last one: one placed before
   * others would renumber them, and their volumes' names would change. */
  for (int pass = inside ? 0 : 1; pass < (inside ? 1 : 2); pass++) {
  a = lo;
  for (size_t i = 0; i <= n; i++) {
    uint64_t b = i < n ? s[i].start : hi + 1;   /* the gap is [a, b) */
    if (b > a && (pass == 1 || i == n)) {
      uint64_t start = inside ? align_up (l, a + 1) : align_up (l, a > pl_align (l) ? a
                                                                : pl_align (l));
      if (start < b && size <= b - start) {
        *ebr_out = a;
        *start_out = start;
        if (gap_end)
          *gap_end = b - 1;
        return true;
      }
    }
    if (i < n && s[i].end + 1 > a)
      a = s[i].end + 1;
  }
  }
  return false;
}

static void
renumber_logicals (struct pl_label *l)
{
  unsigned num = 5;
  uint64_t prev = 0;
  /* Selection by start: at most PL_MAX_LOGICAL passes. */
  for (;;) {
    struct pl_part *best = NULL;
    for (size_t i = 0; i < l->n; i++) {
      struct pl_part *p = &l->parts[i];
      if (p->logical && p->start > prev && (!best || p->start < best->start))
        best = p;
    }
    if (!best)
      break;
    best->num = num++;
    prev = best->start;
  }
  sort_parts (l);
}

static void
name_to_utf16 (struct pl_part *p, const char *name)
{
  memset (p->name16, 0, sizeof p->name16);
  memset (p->name, 0, sizeof p->name);
  for (int k = 0; name && name[k] && k < PL_NAME_CHARS; k++) {
    p->name16[k] = (unsigned char) name[k];
    p->name[k] = name[k];
  }
}

int
pl_add (struct pl_label *l, uint64_t size, const char *name, size_t *out)
{
  struct pl_part np;
  uint64_t ebr, start, gap_end;
  int r;

  memset (&np, 0, sizeof np);
  if (size == 0)
    return fail (l, EINVAL, "a partition cannot be empty");
  if (l->n >= PL_MAX_PARTS)
    return fail (l, E2BIG, "too many partitions");
  if (l->kind == PL_GPT) {
    unsigned num = 0;
    for (unsigned i = 1; !num && i <= l->n_entries; i++) {
      bool used = false;
      for (size_t k = 0; k < l->n; k++)
        used |= l->parts[k].num == i;
      if (!used)
        num = i;
    }
    if (!num)
      return fail (l, ENOSPC, "all %" PRIu32 " GPT partition entries are in use", l->n_entries);
    if (!find_gap (l, false, size, &ebr, &start, NULL))
      goto nospace;
    np.num = num;
    np.start = start;
    np.size = size;
    memcpy (np.type, linux_fs_guid, 16);
    if ((r = random_guid (l, np.guid)) < 0)
      return r;
    name_to_utf16 (&np, name);
  }
  else {
    const struct pl_part *ext = find_ext (l);
    unsigned used = 0, slot = 0;
    for (unsigned i = 1; i <= 4; i++) {
      bool u = false;
      for (size_t k = 0; k < l->n; k++)
        u |= l->parts[k].num == i;
      used += u;
      if (!u && !slot)
        slot = i;
    }
    np.mbr_type = 0x83;
    np.size = size;
    if (ext && find_gap (l, true, size, &ebr, &start, NULL)) {
      size_t nlog = 0;
      for (size_t k = 0; k < l->n; k++)
        nlog += l->parts[k].logical;
      if (nlog >= PL_MAX_LOGICAL)
        return fail (l, E2BIG, "too many logical partitions");
      np.logical = true;
      np.ebr = ebr;
      np.start = start;
      np.num = 1000;   /* renumbered below */
    }
    else if (slot && (ext || used < 3)) {
      if (!find_gap (l, false, size, &ebr, &start, NULL))
        goto nospace;
      np.num = slot;
      np.start = start;
    }
    else if (slot) {
      /* The last primary slot: an extended partition over the free space,
       * with this partition as its first logical one. */
      struct pl_part ep;
      if (!find_gap (l, false, size + pl_align (l), &ebr, &start, &gap_end))
        goto nospace;
      memset (&ep, 0, sizeof ep);
      ep.num = slot;
      ep.extended = true;
      ep.mbr_type = 0x05;
      ep.start = start;
      ep.size = gap_end - start + 1;
      l->parts[l->n++] = ep;
      np.logical = true;
      np.ebr = start;
      np.start = start + pl_align (l);
      np.num = 1000;
    }
    else
      return fail (l, ENOSPC, "all four primary partition slots are in use and there is no"
                   " room in an extended partition");
  }
  l->parts[l->n++] = np;
  if (l->kind == PL_DOS)
    renumber_logicals (l);
  else
    sort_parts (l);
  for (size_t i = 0; i < l->n; i++)
    if (l->parts[i].start == np.start && !l->parts[i].extended)
      *out = i;
  return 0;
 nospace:
  {
    uint64_t largest;
    pl_free_sectors (l, &largest);
    return fail (l, ENOSPC, "not enough free space for a partition of %" PRIu64 " bytes"
                 " (largest free extent: %" PRIu64 " bytes)", size * l->ss, largest * l->ss);
  }
}

int
pl_next_num (const struct pl_label *l, uint64_t size, unsigned *num)
{
  struct pl_label *c = malloc (sizeof *c);
  size_t idx;
  int r;

  if (!c)
    return -ENOMEM;
  memcpy (c, l, sizeof *c);
  r = pl_add (c, size, NULL, &idx);
  if (r == 0)
    *num = c->parts[idx].num;
  else
    memcpy (((struct pl_label *) l)->err, c->err, sizeof c->err);
  free (c);
  return r;
}

int
pl_remove (struct pl_label *l, size_t idx)
{
  bool logical;

  if (idx >= l->n)
    return fail (l, EINVAL, "no such partition");
  logical = l->parts[idx].logical;
  memmove (&l->parts[idx], &l->parts[idx + 1], (l->n - idx - 1) * sizeof l->parts[0]);
  l->n--;
  if (logical) {
    size_t nlog = 0;
    for (size_t i = 0; i < l->n; i++)
      nlog += l->parts[i].logical;
    if (nlog == 0)   /* the extended partition goes with its last logical */
      for (size_t i = 0; i < l->n; i++)
        if (l->parts[i].extended) {
          memmove (&l->parts[i], &l->parts[i + 1], (l->n - i - 1) * sizeof l->parts[0]);
          l->n--;
          break;
        }
    renumber_logicals (l);
  }
  return 0;
}

int
pl_resize (struct pl_label *l, size_t idx, uint64_t size)
{
  struct pl_part *p = &l->parts[idx];
  uint64_t lo, hi, limit;

  if (size == 0)
    return fail (l, EINVAL, "a partition cannot be empty");
  if (size <= p->size) {
    p->size = size;
    return 0;
  }
  level_range (l, p->logical, &lo, &hi);
  limit = hi;
  for (size_t i = 0; i < l->n; i++) {
    const struct pl_part *q = &l->parts[i];
    uint64_t qs = p->logical ? q->ebr : q->start;
    if (q == p || q->logical != p->logical)
      continue;
    if (qs > p->start && qs - 1 < limit)
      limit = qs - 1;
  }
  if (p->start + size - 1 > limit)
    return fail (l, ENOSPC, "not enough free space after partition %u: it can grow to %"
                 PRIu64 " bytes at most", p->num, (limit - p->start + 1) * l->ss);
  p->size = size;
  return 0;
}

uint64_t
pl_free_sectors (const struct pl_label *l, uint64_t *largest)
{
  struct span s[PL_MAX_PARTS + 4];
  uint64_t total = 0, big = 0;

  for (int inside = 0; inside < 2; inside++) {
    uint64_t lo, hi, a;
    size_t n;
    if (inside && (l->kind != PL_DOS || !find_ext (l)))
      break;
    n = level_spans (l, inside, s);
    level_range (l, inside, &lo, &hi);
    if (!inside && l->kind == PL_DOS && lo < pl_align (l))
      lo = pl_align (l);
    a = lo;
    for (size_t i = 0; i <= n; i++) {
      uint64_t b = i < n ? s[i].start : hi + 1;
      if (b > a) {
        total += b - a;
        if (b - a > big)
          big = b - a;
      }
      if (i < n && s[i].end + 1 > a)
        a = s[i].end + 1;
    }
  }
  if (largest)
    *largest = big;
  return total;
}
