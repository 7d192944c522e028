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
  { "check", cmd_check, "check an image for consistency, repair it",
    "Usage: vdk check [-q] [-f FMT] [-r leaks|all] [--output=human|json] [-U] IMAGE\n"
    "\n"
    "Check the metadata of IMAGE (qcow2: refcounts, L1/L2 tables, overlaps).\n"
    "Exit status: 0 no problems, 1 the check could not complete, 2 corruptions,\n"
    "3 leaked clusters only, 63 the format cannot be checked.\n"
    "\n"
    "  -f FMT          image format (default: probe)\n"
    "  -r leaks        repair leaked clusters\n"
    "  -r all          repair leaks and errors\n"
    "  --output=FMT    human (default) or json\n"
    "  -U              open read-only without taking the image lock\n"
    "  -q              quiet\n" },
  { "snapshot", cmd_snapshot, "list, create, apply or delete internal snapshots",
    "Usage: vdk snapshot [-q] [-f FMT] [-U] (-l | -c NAME | -a NAME | -d NAME) IMAGE\n"
    "\n"
    "  -l        list the snapshots\n"
    "  -c NAME   create a snapshot NAME of the current state\n"
    "  -a NAME   apply (revert to) snapshot NAME (a name or an ID)\n"
    "  -d NAME   delete snapshot NAME (a name or an ID)\n"
    "  -U        with -l: open without taking the image lock\n" },
  { "amend", cmd_amend, "change the format options of an image",
    "Usage: vdk amend [-q] [-f FMT] -o OPTIONS IMAGE\n"
    "\n"
    "qcow2 options: compat=0.10|1.1, lazy_refcounts=on|off.\n" },
  { "map", cmd_map, "show where the data of an image is",
    "Usage: vdk map [-f FMT] [--output=human|json] [--start-offset=OFF]\n"
    "               [--max-length=LEN] [-U] IMAGE\n" },
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
    if (!strcmp (argv[i], "--help") || !strcmp (argv[i], "-h")) {
      print_command_help (c);
      return 0;
    }
  }
  return c->run (argc - 1, argv + 1);
}
