/* vdk: one command-line tool for images, pools, guests and VMs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vdk.h"

const char *progname = "vdk";

static const struct command commands[] = {
  { "create", cmd_create, "create a new image",
    "Usage: vdk create [-q] [-f FMT] [-o OPTIONS] [-b BACKING [-F BACKING_FMT]] [-u]\n"
    "                  FILENAME [SIZE]\n"
    "\n"
    "Create an image of SIZE bytes (k, M, G, T, P, E suffixes; 1024-based).\n"
    "With -b, SIZE may be left out: the backing file's size is used.\n"
    "\n"
    "  -f FMT           image format (default: raw)\n"
    "  -o OPTIONS       format options, key=value,... ('-o help' lists them)\n"
    "  -b BACKING       backing file (relative names are relative to FILENAME)\n"
    "  -F BACKING_FMT   format of the backing file\n"
    "  -u               do not open the backing file (SIZE is then required)\n"
    "  -q               quiet\n" },
  { "info", cmd_info, "show information about an image",
    "Usage: vdk info [-f FMT] [--output=human|json] [--backing-chain] [-U] IMAGE\n"
    "\n"
    "  -f FMT            image format (default: probe)\n"
    "  --output=FMT      human (default) or json\n"
    "  --backing-chain   show every image of the backing chain\n"
    "  -U, --force-share open read-only without taking the image lock\n" },
  { "convert", cmd_convert, "copy an image, converting its format",
    "Usage: vdk convert [-p] [-q] [-n] [-W] [-U] [-f FMT] [-O OUTPUT_FMT] [-o OPTIONS]\n"
    "                   [-B BACKING [-F BACKING_FMT]] [-S SPARSE_SIZE] [-m N]\n"
    "                   [-t CACHE] [-T SRC_CACHE] [--target-is-zero]\n"
    "                   [--progress=human|json] SOURCE [SOURCE...] OUTPUT\n"
    "\n"
    "Copy SOURCE (several are concatenated) to OUTPUT.  Holes, zeroes and\n"
    "unallocated ranges are not copied.  A failed or interrupted convert removes\n"
    "the OUTPUT it created; with -n the existing OUTPUT is kept.\n"
    "\n"
    "  -f FMT            source format (default: probe)\n"
    "  -O OUTPUT_FMT     output format (default: raw)\n"
    "  -o OPTIONS        output format options\n"
    "  -B BACKING        the output gets this backing file; only data the source\n"
    "                    holds above its own backing is copied\n"
    "  -F BACKING_FMT    format of BACKING\n"
    "  -n                do not create OUTPUT: write into the existing image\n"
    "  -S SIZE           zero detection granularity (default 4k; 0 = write all)\n"
    "  -m N              requests in flight (1..64, default 8)\n"
    "  -W                allow out-of-order writes (default: in order)\n"
    "  -t CACHE          output cache mode: writeback, none, unsafe, writethrough,\n"
    "                    directsync (default: unsafe, then one flush at the end)\n"
    "  -T CACHE          source cache mode (default: writeback)\n"
    "  --target-is-zero  the existing output (-n) reads as zeroes: skip zeroes\n"
    "  -p                show progress (SIGUSR1 prints one progress line anyway)\n"
    "  --progress=json   machine-readable progress lines on stdout\n"
    "  -U                open the source without taking its lock\n"
    "  -q                quiet\n" },
  { "resize", cmd_resize, "change the virtual size of an image",
    "Usage: vdk resize [-q] [-f FMT] [--shrink] [--preallocation=MODE] IMAGE [+|-]SIZE\n"
    "\n"
    "  --shrink             allow making the image smaller (data past the end is lost)\n"
    "  --preallocation=MODE off, metadata, falloc or full for the new area\n" },
  { "compare", cmd_compare, "compare the contents of two images",
    "Usage: vdk compare [-f FMT] [-F FMT] [-s] [-q] [-p] [-U] IMAGE1 IMAGE2\n"
    "\n"
    "Exit status: 0 identical, 1 different, 2 error.\n"
    "\n"
    "  -f FMT   format of IMAGE1      -F FMT   format of IMAGE2\n"
    "  -s       strict: sizes and allocation must match too\n"
    "  -U       open the images without taking their locks\n" },
  { "map", cmd_map, "show where the data of an image is",
    "Usage: vdk map [-f FMT] [--output=human|json] [--start-offset=OFF]\n"
    "               [--max-length=LEN] [-U] IMAGE\n" },
  { "filesystems", cmd_filesystems, "list the filesystems, partitions and volumes of a guest",
    "Usage: vdk filesystems -a IMAGE [-a IMAGE]... [--all] [-l|--long] [-h] [--uuid]\n"
    "                       [--output=human|json] [--format=FMT]\n"
    "\n"
    "List what the guest's disks hold, like virt-filesystems.  Disks are named\n"
    "/dev/sda, /dev/sdb... in -a order; partitions /dev/sda1...; LVM logical\n"
    "volumes /dev/VG/LV.  Swap, LUKS and filesystems vdk cannot read are listed\n"
    "with their type.\n"
    "\n"
    "  -a IMAGE         add a disk (any image spec; opened read-only, no lock)\n"
    "  --format=FMT     format of the following -a images (default: probe)\n"
    "  --all            also list partitions, LVs, VGs, PVs and disks\n"
    "  -l, --long       columns: name, type, VFS type, label, MBR id, size, parent\n"
    "  -h               human-readable sizes\n"
    "  --uuid           add a UUID column\n"
    "  --output=json    machine-readable list\n", CMD_OWN_H },
  { "ls", cmd_ls, "list a directory of a guest",
    "Usage: vdk ls [-l] [-R] [-x] -a IMAGE [-a IMAGE]... PATH\n"
    "\n"
    "PATH is either /path in the inspected guest (its root filesystem with the\n"
    "mountpoints of its /etc/fstab; a guest with one filesystem needs no\n"
    "inspection), or DEVICE:/path in one filesystem, e.g. /dev/sda1:/grub or\n"
    "/dev/VolGroup00/LogVol00:/etc.  Symbolic links in PATH are followed.\n"
    "\n"
    "  -l, --long       mode, links, uid, gid, size, mtime (UTC), name -> target\n"
    "  -R, --recursive  list subdirectories too, with their paths\n"
    "  -x, --xattrs     extended attributes under each entry (NAME=\"text\" or 0xHEX)\n"
    "  --format=FMT     format of the following -a images\n" },
  { "cat", cmd_cat, "print files of a guest",
    "Usage: vdk cat -a IMAGE [-a IMAGE]... PATH [PATH...]\n"
    "\n"
    "PATH as for 'vdk ls': /path in the inspected guest, or DEVICE:/path.\n" },
  { "df", cmd_df, "show free space of a guest's filesystems",
    "Usage: vdk df [-h] [-i] [--output=human|json] -a IMAGE [-a IMAGE]...\n"
    "\n"
    "Like virt-df: size, used and available space of every filesystem vdk can read.\n"
    "\n"
    "  -h               human-readable sizes\n"
    "  -i, --inodes     inodes instead of blocks\n"
    "  --output=json    raw counts as json\n", CMD_OWN_H },
  { "inspect", cmd_inspect, "describe the operating system(s) of a guest",
    "Usage: vdk inspect -a IMAGE [-a IMAGE]... [--output=xml|json]\n"
    "\n"
    "Like virt-inspector: OS type, distro, product name, version, hostname,\n"
    "architecture, package format and manager, mountpoints (from /etc/fstab,\n"
    "UUID= and LABEL= resolved), filesystems, installed applications (dpkg),\n"
    "kernels in /boot and boot loader (BLS) entries.  Parts of the guest that\n"
    "cannot be read are listed under problems; the rest is still reported.\n" },
  { "get-kernel", cmd_get_kernel, "copy the newest kernel and initrd out of a guest",
    "Usage: vdk get-kernel -a IMAGE [-a IMAGE]... [-o DIR]\n"
    "\n"
    "Copy the newest /boot/vmlinuz-VERSION of the inspected guest and its initrd\n"
    "into DIR (default: the current directory).\n"
    "\n"
    "  -o DIR           output directory\n" },
};

const struct command *
find_command (const char *name)
{
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp (commands[i].name, name))
      return &commands[i];
  return NULL;
}

static void
usage (FILE *f)
{
  fprintf (f,
           "Usage: vdk COMMAND [OPTIONS...]\n"
           "       vdk --help | --version | help COMMAND\n"
           "\n"
           "vdk converts, creates and inspects virtual disk images.\n"
           "Image commands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf (f, "  %-12s %s\n", commands[i].name, commands[i].summary);
  fprintf (f, "\nFormats:");
  for (const char *const *n = disk_format_names (); *n; n++)
    fprintf (f, " %s", *n);
  fprintf (f, "\nProtocols:");
  for (const char *const *n = disk_protocol_names (); *n; n++)
    fprintf (f, " %s", *n);
  fprintf (f, "\n\nAn IMAGE is a path, a URL (file://...), json:{...} or key=value options\n"
           "(driver=raw,file.filename=x.img).  'vdk COMMAND --help' shows a command's options.\n");
}

int
main (int argc, char **argv)
{
  const struct command *c;

  if (argc < 2) {
    usage (stderr);
    return 1;
  }
  if (!strcmp (argv[1], "--help") || !strcmp (argv[1], "-h")) {
    usage (stdout);
    return 0;
  }
  if (!strcmp (argv[1], "--version") || !strcmp (argv[1], "-V")) {
    printf ("vdk version %s\n", disk_version ());
    return 0;
  }
  if (!strcmp (argv[1], "help")) {
    if (argc < 3) {
      usage (stdout);
      return 0;
    }
    c = find_command (argv[2]);
    if (!c) {
      error ("unknown command '%s'", argv[2]);
      return 1;
    }
    print_command_help (c);
    return 0;
  }
  c = find_command (argv[1]);
  if (!c) {
    error ("unknown command '%s' (try '%s --help')", argv[1], progname);
    return 1;
  }
  for (int i = 2; i < argc; i++) {
    if (!strcmp (argv[i], "--"))
      break;
    if (!strcmp (argv[i], "--help") ||
        (!strcmp (argv[i], "-h") && !(c->flags & CMD_OWN_H))) {
      print_command_help (c);
      return 0;
    }
  }
  return c->run (argc - 1, argv + 1);
}
