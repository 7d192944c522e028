/* Partition tables: MBR (with extended/logical partitions) and GPT.
 * 512-byte sectors (GPT also with 4 KiB logical sectors).  Devices are named as libguestfs does: /dev/sda1... */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestfs/guestfs.h"

#define SECTOR 512
#define MAX_LOGICAL 128
#define GPT_MAX_ENTRIES_BYTES (1u << 20)

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

static bool
is_extended (uint8_t t)
{
  return t == 0x05 || t == 0x0f || t == 0x85;
}

static int
scan_logical (struct gfs_session *s, struct gfs_device *disk, uint64_t ext_start, uint64_t ext_size,
              uint32_t disksig)
{
  uint8_t sec[SECTOR];
  uint64_t ebr = ext_start;
  int num = 5, r;

  for (int i = 0; i < MAX_LOGICAL; i++) {
    const uint8_t *e0 = sec + 446, *e1 = sec + 462;
    struct gfs_device *p;
    uint64_t next;

    r = gfs_dev_pread (disk->dev, sec, SECTOR, ebr);
    if (r < 0)
      return r;
    if (sec[510] != 0x55 || sec[511] != 0xaa) {
      gfs_warn ("%s: extended boot record at sector %" PRIu64 " has no signature, logical partitions end here",
                disk->dev->name, ebr / SECTOR);
      return 0;
    }
    if (e0[4] != 0 && gfs_le32 (e0 + 12) != 0) {
      uint64_t start = ebr + (uint64_t) gfs_le32 (e0 + 8) * SECTOR;
      uint64_t size = (uint64_t) gfs_le32 (e0 + 12) * SECTOR;
      if (start < ext_start || start + size > ext_start + ext_size)
        gfs_warn ("%s: logical partition %d lies outside its extended partition", disk->dev->name, num);
      r = add_part (s, disk, num, start, size, &p);
      if (r < 0)
        return r;
      if (p) {
        snprintf (p->mbr_id, sizeof p->mbr_id, "%02x", e0[4]);
        snprintf (p->part_uuid, sizeof p->part_uuid, "%08x-%02d", disksig, num);
      }
      num++;
    }
    if (e1[4] == 0 || !is_extended (e1[4]))
      return 0;
    next = ext_start + (uint64_t) gfs_le32 (e1 + 8) * SECTOR;
    if (next <= ebr || next >= ext_start + ext_size) {
      gfs_warn ("%s: extended boot record chain goes backwards or leaves the extended partition, stopped",
                disk->dev->name);
      return 0;
    }
    ebr = next;
  }
  gfs_warn ("%s: more than %d logical partitions, the rest are ignored", disk->dev->name, MAX_LOGICAL);
  return 0;
}

/* ---- GPT ---- */

struct gpt {
  uint8_t hdr[SECTOR];
  uint64_t ss;               /* logical sector size: 512 or 4096 */
  uint64_t my_lba, alt_lba, entries_lba;
  uint32_t n_entries, entry_size;
  uint8_t *entries;
};

static int
read_gpt (struct gfs_device *disk, uint64_t ss, uint64_t lba, struct gpt *g, const char **why)
{
  uint32_t hsize, crc, ecrc;
  size_t total;
  int r;

  g->entries = NULL;
  g->ss = ss;
  if ((lba + 1) * ss > disk->dev->size) {
    *why = "beyond the end of the disk";
    return 0;
  }
  r = gfs_dev_pread (disk->dev, g->hdr, SECTOR, lba * ss);
  if (r < 0)
    return r;
  if (memcmp (g->hdr, "EFI PART", 8)) {
    *why = "no signature";
    return 0;
  }
  hsize = gfs_le32 (g->hdr + 12);
  if (hsize < 92 || hsize > SECTOR) {
    *why = "bad header size";
    return 0;
  }
  crc = gfs_le32 (g->hdr + 16);
  memset (g->hdr + 16, 0, 4);
  if (gfs_crc32 (0, g->hdr, hsize) != crc) {
    *why = "header CRC mismatch";
    return 0;
  }
  g->my_lba = gfs_le64 (g->hdr + 24);
  g->alt_lba = gfs_le64 (g->hdr + 32);
  g->entries_lba = gfs_le64 (g->hdr + 72);
  g->n_entries = gfs_le32 (g->hdr + 80);
  g->entry_size = gfs_le32 (g->hdr + 84);
  ecrc = gfs_le32 (g->hdr + 88);
  if (g->my_lba != lba) {
    *why = "header does not point at itself";
    return 0;
  }
  if (g->entry_size < 128 || g->entry_size % 8 || g->entry_size > 4096 ||
      g->n_entries == 0 || (uint64_t) g->n_entries * g->entry_size > GPT_MAX_ENTRIES_BYTES) {
    *why = "bad partition entry array size";
    return 0;
  }
  total = (size_t) g->n_entries * g->entry_size;
  if (g->entries_lba > disk->dev->size / ss ||
      total > disk->dev->size - g->entries_lba * ss) {
    *why = "partition entry array beyond the end of the disk";
    return 0;
  }
  g->entries = malloc (total);
  if (!g->entries)
    return gfs_err (ENOMEM, "out of memory");
  r = gfs_dev_pread (disk->dev, g->entries, total, g->entries_lba * ss);
  if (r < 0) {
    free (g->entries);
    g->entries = NULL;
    return r;
  }
  if (gfs_crc32 (0, g->entries, total) != ecrc) {
    free (g->entries);
    g->entries = NULL;
    *why = "partition entry array CRC mismatch";
    return 0;
  }
  return 1;
}

static int
scan_gpt (struct gfs_session *s, struct gfs_device *disk)
{
  uint64_t ss = SECTOR;
  uint8_t probe[8];
  struct gpt pri, bak, *use;
  const char *why_p = NULL, *why_b = NULL;
  uint64_t last;
  int rp, rb, n = 0, r;

  /* 4 KiB logical sectors: the header is at byte 4096 instead of 512 */
  if (gfs_dev_pread (disk->dev, probe, 8, 512) == 0 && memcmp (probe, "EFI PART", 8) &&
      disk->dev->size >= 3 * 4096 && gfs_dev_pread (disk->dev, probe, 8, 4096) == 0 &&
      !memcmp (probe, "EFI PART", 8))
    ss = 4096;
  last = disk->dev->size / ss - 1;

  rp = read_gpt (disk, ss, 1, &pri, &why_p);
  if (rp < 0)
    return rp;
  rb = read_gpt (disk, ss, rp > 0 && pri.alt_lba <= last ? pri.alt_lba : last, &bak, &why_b);
  if (rb < 0) {
    free (pri.entries);
    return rb;
  }
  if (rp > 0) {
    use = &pri;
    if (rb == 0)
      gfs_warn ("%s: GPT backup header is damaged (%s)", disk->dev->name, why_b);
  }
  else if (rb > 0) {
    use = &bak;
    gfs_warn ("%s: GPT primary header is damaged (%s), using the backup header", disk->dev->name, why_p);
  }
  else {
    return gfs_err (EINVAL, "%s: protective MBR but both GPT headers are damaged (primary: %s; backup: %s)",
                    disk->dev->name, why_p, why_b);
  }
  for (uint32_t i = 0; i < use->n_entries; i++) {
    const uint8_t *e = use->entries + (size_t) i * use->entry_size;
    static const uint8_t zero[16];
    uint64_t first, lastlba;
    struct gfs_device *p;

    if (!memcmp (e, zero, 16))
      continue;
    first = gfs_le64 (e + 32);
    lastlba = gfs_le64 (e + 40);
    if (lastlba < first || lastlba > last) {
      gfs_warn ("%s: GPT entry %" PRIu32 " has an invalid range, ignored", disk->dev->name, i + 1);
      continue;
    }
    r = add_part (s, disk, (int) i + 1, first * ss, (lastlba - first + 1) * ss, &p);
    if (r < 0)
      goto out;
    if (p) {
      gfs_guid_str (e, p->gpt_type);
      gfs_guid_str (e + 16, p->part_uuid);
      for (char *c = p->part_uuid; *c; c++)
        if (*c >= 'A' && *c <= 'F')
          *c = (char) (*c - 'A' + 'a');
      for (int k = 0; k < 36 && k < (int) sizeof p->part_name - 1; k++) {
        uint16_t c = gfs_le16 (e + 56 + 2 * k);
        if (!c)
          break;
        p->part_name[k] = c < 0x80 && c >= 0x20 ? (char) c : '?';
      }
    }
    n++;
  }
  r = n > 0 ? 1 : 1;   /* a GPT disk with no partitions still has a table */
 out:
  free (pri.entries);
  free (bak.entries);
  return r;
}

int
gfs_scan_partitions (struct gfs_session *s, struct gfs_device *disk, int disk_index)
{
  uint8_t mbr[SECTOR];
  int r, found = 0;
  bool protective = false;

  (void) disk_index;
  if (disk->dev->size < 2 * SECTOR)
    return 0;
  r = gfs_dev_pread (disk->dev, mbr, SECTOR, 0);
  if (r < 0)
    return r;
  if (mbr[510] != 0x55 || mbr[511] != 0xaa)
    return 0;
  /* A valid table has boot flags 0 or 0x80; FAT/NTFS boot sectors also end
   * in 55aa but fail this. */
  for (int i = 0; i < 4; i++) {
    const uint8_t *e = mbr + 446 + 16 * i;
    if (e[0] != 0 && e[0] != 0x80)
      return 0;
    if (e[4] == 0xee)
      protective = true;
  }
  if (protective)
    return scan_gpt (s, disk);
  for (int i = 0; i < 4; i++) {
    const uint8_t *e = mbr + 446 + 16 * i;
    uint64_t start = (uint64_t) gfs_le32 (e + 8) * SECTOR;
    uint64_t size = (uint64_t) gfs_le32 (e + 12) * SECTOR;
    struct gfs_device *p;

    if (e[4] == 0 || size == 0)
      continue;
    r = add_part (s, disk, i + 1, start, is_extended (e[4]) ? 2 * SECTOR : size, &p);
    if (r < 0)
      return r;
    if (!p)
      continue;
    found++;
    snprintf (p->mbr_id, sizeof p->mbr_id, "%02x", e[4]);
    snprintf (p->part_uuid, sizeof p->part_uuid, "%08x-%02d", gfs_le32 (mbr + 440), i + 1);
    if (is_extended (e[4])) {
      p->is_extended = true;
      if (start + size > disk->dev->size) {
        gfs_warn ("%s: extended partition extends beyond the end of the disk", disk->dev->name);
        continue;
      }
      r = scan_logical (s, disk, start, size, gfs_le32 (mbr + 440));
      if (r < 0)
        gfs_warn ("%s: %s", disk->dev->name, disk_last_error ());
    }
  }
  return found > 0 ? 1 : 0;
}
