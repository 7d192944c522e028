/* vdk snapshot: internal snapshots, as qemu-img snapshot. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vdk.h"

enum action { ACT_NONE, ACT_LIST, ACT_CREATE, ACT_APPLY, ACT_DELETE };

static void
print_list (const struct disk_info *info)
{
  printf ("Snapshot list:\n");
  printf ("%-10s%-17s%8s%20s%13s%11s\n", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT");
  for (size_t i = 0; i < info->n_snapshots; i++) {
    const struct disk_snapshot *s = &info->snapshots[i];
    char date[32], clock[32], icount[32] = "";
    time_t t = s->date_sec;
    struct tm tm;
    uint64_t secs = s->vm_clock_nsec / 1000000000ULL;

    localtime_r (&t, &tm);
    strftime (date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf (clock, sizeof clock, "%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64 ".%03" PRIu64,
              secs / 3600, (secs / 60) % 60, secs % 60, (s->vm_clock_nsec / 1000000) % 1000);
    if (s->icount_valid)
      snprintf (icount, sizeof icount, "%" PRIu64, s->icount);
    printf ("%-9s %-16s %8s%20s%13s%11s\n", s->id, s->name, human_size (s->vm_state_size),
            date, clock, icount);
  }
}

int
cmd_snapshot (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "format", required_argument, NULL, 'f' },
    { "force-share", no_argument, NULL, 'U' },
    { "quiet", no_argument, NULL, 'q' },
    { NULL, 0, NULL, 0 },
  };
  const char *fmt = NULL, *name = NULL;
  enum action act = ACT_NONE;
  bool share = false;
  struct disk *d;
  int c, r;

  while ((c = getopt_long (argc, argv, "f:la:c:d:qU", longopts, NULL)) != -1) {
    enum action a = ACT_NONE;
    switch (c) {
    case 'f': fmt = optarg; break;
    case 'U': share = true; break;
    case 'q': break;
    case 'l': a = ACT_LIST; break;
    case 'a': a = ACT_APPLY; name = optarg; break;
    case 'c': a = ACT_CREATE; name = optarg; break;
    case 'd': a = ACT_DELETE; name = optarg; break;
    default: return usage_error ("snapshot", "invalid option");
    }
    if (a != ACT_NONE) {
      if (act != ACT_NONE)
        return usage_error ("snapshot", "Cannot mix '-l', '-a', '-c', '-d'");
      act = a;
    }
  }
  if (optind != argc - 1)
    return usage_error ("snapshot", "Expecting one image file name");
  if (share && act != ACT_LIST) {
    error ("-U can only be used with -l");
    return 1;
  }
  r = disk_open (&d, argv[optind], fmt,
                 DISK_OPEN_NO_BACKING
                 | (act == ACT_LIST || act == ACT_NONE ? (share ? DISK_OPEN_FORCE_SHARE : 0)
                    : DISK_OPEN_RDWR), NULL);
  if (r < 0)
    return disk_fail ();
  switch (act) {
  case ACT_LIST: {
    struct disk_info *info;
    r = disk_get_info (d, 0, &info);
    if (r == 0) {
      if (info->n_snapshots)
        print_list (info);
      disk_info_free (info);
    }
    break;
  }
  case ACT_CREATE: r = disk_snapshot_create (d, name); break;
  case ACT_APPLY: r = disk_snapshot_apply (d, name); break;
  case ACT_DELETE: r = disk_snapshot_delete (d, name); break;
  default: break;   /* no action: qemu-img opens the image and does nothing */
  }
  if (r < 0) {
    static const char *const what[] = { "", "", "create snapshot", "apply snapshot",
                                        "delete snapshot" };
    if (act == ACT_LIST)
      error ("Could not list snapshots: %s", disk_last_error ());
    else if (r == -ENOENT && act == ACT_APPLY)   /* qemu-img's words */
      error ("Could not apply snapshot '%s': Failed to load snapshot: %s", name, strerror (ENOENT));
    else if (r == -ENOENT && act == ACT_DELETE)
      error ("Could not delete snapshot '%s': snapshot not found", name);
    else
      error ("Could not %s '%s': %s", what[act], name, disk_last_error ());
    disk_close (d);
    return 1;
  }
  r = disk_close (d);
  if (r < 0)
    return disk_fail ();
  return 0;
}
