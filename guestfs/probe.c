/* Signatures vdk recognises but does not open: swap, LUKS, LVM PVs, and
 * filesystems without a reader (btrfs, ntfs, iso9660, squashfs...).  Only
 * the type, label and UUID are read, as blkid reports them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "guestfs/guestfs.h"

/* Read LEN bytes at OFF if the device is large enough; 1 read, 0 too small. */
static int
rd (struct gfs_device *d, void *buf, size_t len, uint64_t off)
{
  int r;
  if (off > d->dev->size || len > d->dev->size - off)
    return 0;
  r = gfs_dev_pread (d->dev, buf, len, off);
  return r < 0 ? r : 1;
}

/* Copy a fixed-size, maybe not terminated, maybe space-padded label. */
static void
set_label (struct gfs_device *d, const uint8_t *p, size_t n, bool trim_spaces)
{
  size_t k = 0;
  if (n > sizeof d->label - 1)
    n = sizeof d->label - 1;
  for (; k < n && p[k]; k++)
    d->label[k] = p[k] >= 0x20 && p[k] < 0x7f ? (char) p[k] : '?';
  d->label[k] = 0;
  while (trim_spaces && k > 0 && d->label[k - 1] == ' ')
    d->label[--k] = 0;
}

static void
set_text_uuid (struct gfs_device *d, const uint8_t *p, size_t n)
{
  size_t k = 0;
  for (; k < n && k < sizeof d->uuid - 1 && p[k] > 0x20 && p[k] < 0x7f; k++)
    d->uuid[k] = (char) p[k];
  d->uuid[k] = 0;
}

int
gfs_probe_signatures (struct gfs_device *d)
{
  uint8_t b[4096];
  int r;

  /* LVM2 PV: label in one of the first four sectors */
  if ((r = rd (d, b, 2048, 0)) > 0) {
    for (int s = 0; s < 4; s++) {
      const uint8_t *l = b + 512 * s;
      if (!memcmp (l, "LABELONE", 8) && !memcmp (l + 24, "LVM2 001", 8)) {
        uint32_t off = gfs_le32 (l + 20);
        snprintf (d->vfs_type, sizeof d->vfs_type, "LVM2_member");
        if (off >= 32 && off + 32 <= 512) {
          const uint8_t *u = l + off;
          static const int cuts[] = { 6, 4, 4, 4, 4, 4, 6 };
          size_t k = 0, p = 0;
          for (int c = 0; c < 7; c++) {
            if (c)
              d->uuid[k++] = '-';
            for (int j = 0; j < cuts[c]; j++)
              d->uuid[k++] = u[p] > 0x20 && u[p] < 0x7f ? (char) u[p] : '?', p++;
          }
          d->uuid[k] = 0;
        }
        return 1;
      }
    }
  }
  if (r < 0)
    return r;
  if ((r = rd (d, b, 4096, 0)) > 0) {
    if (!memcmp (b, "LUKS\xba\xbe", 6)) {
      uint16_t ver = gfs_be16 (b + 6);
      snprintf (d->vfs_type, sizeof d->vfs_type, "crypto_LUKS");
      snprintf (d->version, sizeof d->version, "%u", ver);
      set_text_uuid (d, b + 168, 40);
      if (ver == 2)
        set_label (d, b + 24, 48, false);
      return 1;
    }
    if (!memcmp (b + 4086, "SWAPSPACE2", 10) || !memcmp (b + 4086, "SWAP-SPACE", 10)) {
      snprintf (d->vfs_type, sizeof d->vfs_type, "swap");
      if (!memcmp (b + 4086, "SWAPSPACE2", 10)) {
        static const uint8_t zero[16];
        if (memcmp (b + 1036, zero, 16))
          gfs_uuid_str (b + 1036, d->uuid);
        set_label (d, b + 1052, 16, false);
      }
      return 1;
    }
    if (!memcmp (b, "XFSB", 4)) {
      snprintf (d->vfs_type, sizeof d->vfs_type, "xfs");
      gfs_uuid_str (b + 32, d->uuid);
      set_label (d, b + 108, 12, false);
      return 1;
    }
    if (!memcmp (b, "hsqs", 4)) {
      snprintf (d->vfs_type, sizeof d->vfs_type, "squashfs");
      return 1;
    }
    if (!memcmp (b + 3, "NTFS    ", 8)) {
      snprintf (d->vfs_type, sizeof d->vfs_type, "ntfs");
      snprintf (d->uuid, sizeof d->uuid, "%016llX", (unsigned long long) gfs_le64 (b + 0x48));
      return 1;
    }
    if (b[510] == 0x55 && b[511] == 0xaa &&
        (!memcmp (b + 82, "FAT32   ", 8) || !memcmp (b + 54, "FAT12   ", 8) ||
         !memcmp (b + 54, "FAT16   ", 8))) {
      bool f32 = !memcmp (b + 82, "FAT32", 5);
      const uint8_t *id = b + (f32 ? 67 : 39);
      snprintf (d->vfs_type, sizeof d->vfs_type, "vfat");
      snprintf (d->uuid, sizeof d->uuid, "%02X%02X-%02X%02X", id[3], id[2], id[1], id[0]);
      set_label (d, b + (f32 ? 71 : 43), 11, true);
      if (!strcmp (d->label, "NO NAME"))
        d->label[0] = 0;
      return 1;
    }
  }
  if (r < 0)
    return r;
  if ((r = rd (d, b, 2048, 32768)) > 0 && !memcmp (b + 1, "CD001", 5)) {
    snprintf (d->vfs_type, sizeof d->vfs_type, "iso9660");
    set_label (d, b + 40, 32, true);
    return 1;
  }
  if (r < 0)
    return r;
  if ((r = rd (d, b, 4096, 65536)) > 0 && !memcmp (b + 64, "_BHRfS_M", 8)) {
    snprintf (d->vfs_type, sizeof d->vfs_type, "btrfs");
    gfs_uuid_str (b + 32, d->uuid);
    set_label (d, b + 0x12b, 256, false);
    return 1;
  }
  return r < 0 ? r : 0;
}
