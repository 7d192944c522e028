/* Partition tables: MBR (with extended/logical partitions) and GPT, read by
 * the table code shared with the disk pools (pools/disk/label.c) in its
 * lenient mode: damaged parts give warnings, not failures.  512-byte
 * sectors (GPT also with 4 KiB logical sectors).  Devices are named as
 * libguestfs does: /dev/sda1... */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestfs/guestfs.h"
#include "pools/disk/label.h"

#define SECTOR 512

static int
add_part (struct gfs_session *s, struct gfs_device *disk, int num, uint64_t start,
          uint64_t size, struct gfs_device **out)
{
  char name[300];
  struct gfs_dev *dev;
  int r;

  snprintf (name, sizeof name, "%s%d", disk->dev->name, num);
  if (start > disk->dev->size || size > disk->dev->size - start) {
    gfs_warn ("%s: partition %d (sectors %" PRIu64 "+%" PRIu64 ") extends beyond the end of the disk, ignored",
              disk->dev->name, num, start / SECTOR, size / SECTOR);
    *out = NULL;
    return 0;
  }
  r = gfs_dev_slice (disk->dev, name, start, size, &dev);
  if (r < 0)
    return r;
  r = gfs_session_add_device (s, dev, GFS_KIND_PARTITION, out);
  if (r < 0)
    return r;
  snprintf ((*out)->parent, sizeof (*out)->parent, "%s", disk->dev->name);
  (*out)->partnum = num;
  return 1;
}

static int
part_pread (void *opaque, void *buf, size_t len, uint64_t off)
{
  struct gfs_device *disk = opaque;
  return gfs_dev_pread (disk->dev, buf, len, off);
}

static void
part_warn (void *opaque, const char *msg)
{
  struct gfs_device *disk = opaque;
  gfs_warn ("%s: %s", disk->dev->name, msg);
}

int
gfs_scan_partitions (struct gfs_session *s, struct gfs_device *disk, int disk_index)
{
  struct pl_label *l;
  uint64_t ss = SECTOR;
  uint8_t probe[8];
  int r, found = 0;

  (void) disk_index;
  if (disk->dev->size < 2 * SECTOR)
    return 0;
  /* 4 KiB logical sectors: the GPT header is at byte 4096 instead of 512. */
  if (gfs_dev_pread (disk->dev, probe, 8, 512) == 0 && memcmp (probe, "EFI PART", 8) &&
      disk->dev->size >= 3 * 4096 && gfs_dev_pread (disk->dev, probe, 8, 4096) == 0 &&
      !memcmp (probe, "EFI PART", 8))
    ss = 4096;
  if (!(l = malloc (sizeof *l)))
    return gfs_err (ENOMEM, "out of memory");
  r = pl_read_with (part_pread, part_warn, disk, disk->dev->size, (uint32_t) ss,
                    PL_READ_LENIENT, l);
  if (r < 0) {
    /* A read error was reported by gfs_dev_pread already. */
    if (l->err[0] && strncmp (l->err, "read error", 10))
      r = gfs_err (-r, "%s: %s", disk->dev->name, l->err);
    free (l);
    return r;
  }
  if (r == 0) {
    free (l);
    return 0;
  }
  for (size_t i = 0; i < l->n; i++) {
    const struct pl_part *pt = &l->parts[i];
    struct gfs_device *p;

    r = add_part (s, disk, (int) pt->num, pt->start * ss,
                  pt->extended ? 2 * SECTOR : pt->size * ss, &p);
    if (r < 0)
      goto out;
    if (!p)
      continue;
    if (l->kind == PL_GPT) {
      gfs_guid_str (pt->type, p->gpt_type);
      gfs_guid_str (pt->guid, p->part_uuid);
      for (char *c = p->part_uuid; *c; c++)
        if (*c >= 'A' && *c <= 'F')
          *c = (char) (*c - 'A' + 'a');
      snprintf (p->part_name, sizeof p->part_name, "%s", pt->name);
    }
    else {
      snprintf (p->mbr_id, sizeof p->mbr_id, "%02x", pt->mbr_type);
      snprintf (p->part_uuid, sizeof p->part_uuid, "%08x-%02u", l->disk_sig, pt->num);
      p->is_extended = pt->extended;
      if (!pt->logical)
        found++;
    }
  }
  /* A GPT disk with no partitions still has a table; an MBR without
   * primary partitions is not taken for one. */
  r = l->kind == PL_GPT || found > 0 ? 1 : 0;
 out:
  free (l);
  return r;
}
