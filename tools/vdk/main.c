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
    "                    directsync (default: unsafe, like qemu-img: no flush)\n"
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
  { "rebase", cmd_rebase, "change the backing file of an image",
    "Usage: vdk rebase [-q] [-p] [-u] [-f FMT] [-t CACHE] -b BACKING [-F BACKING_FMT] IMAGE\n"
    "\n"
    "Make BACKING (relative to IMAGE's directory, or \"\" for none) the backing file of\n"
    "IMAGE.  Safe mode copies into IMAGE every range the new backing file would read\n"
    "differently, so IMAGE's content does not change.\n"
    "  -u   unsafe: only rewrite the name (the new backing file must hold the same data)\n" },
  { "commit", cmd_commit, "write an image's data into its backing file",
    "Usage: vdk commit [-q] [-p] [-d] [-f FMT] [-t CACHE] [-b BASE] IMAGE\n"
    "\n"
    "Copy the data IMAGE holds above BASE (default: its backing file) into BASE, then\n"
    "empty IMAGE so it reads through to BASE.\n"
    "  -d       do not empty IMAGE\n"
    "  -b BASE  commit into this image of the chain (implies -d: the images between\n"
    "           BASE and IMAGE no longer match)\n" },
  { "measure", cmd_measure, "how much host space an image needs",
    "Usage: vdk measure [--output=human|json] [-O OUTPUT_FMT] [-o OPTIONS]\n"
    "                   [--size N | [-f FMT] [-U] IMAGE]\n"
    "\n"
    "Print the host bytes needed by an OUTPUT_FMT image (default raw): of N bytes, or\n"
    "holding the data of IMAGE.  'required' is what the data needs now, 'fully\n"
    "allocated' what a fully written image needs.\n" },
  { "dd", cmd_dd, "copy part of an image (dd style)",
    "Usage: vdk dd [-U] [-f FMT] [-O OUTPUT_FMT] [bs=SIZE] [count=N] [skip=N]\n"
    "              if=INPUT of=OUTPUT\n"
    "\n"
    "Create OUTPUT and copy COUNT blocks of BS bytes (default 512; all by default)\n"
    "from INPUT, starting SKIP blocks in.\n" },
  { "bench", cmd_bench, "measure I/O performance on an image",
    "Usage: vdk bench [-c COUNT] [-d DEPTH] [-f FMT] [-n] [-o OFFSET] [-q] [-s SIZE]\n"
    "                 [-S STEP] [-t CACHE] [-i io_uring|threads] [-w] [-U]\n"
    "                 [--pattern=BYTE] [--flush-interval=N] [--random] IMAGE\n"
    "\n"
    "Send COUNT (75000) requests of SIZE (4k) bytes, DEPTH (64) in flight, starting at\n"
    "OFFSET and moving by STEP (default SIZE), or at random aligned offsets with\n"
    "--random.  -w writes (the pattern byte, default 0xa5) instead of reading.\n"
    "  -n         cache=none          -t CACHE  cache mode\n"
    "  -i MODE    io_uring (one thread, many in flight) or threads (DEPTH threads)\n" },
  { "sparsify", cmd_sparsify, "give back the space of zero-filled blocks",
    "Usage: vdk sparsify [-q] [-p] [-f FMT] [-S SIZE] --in-place IMAGE\n"
    "       vdk sparsify [-q] [-p] [-f FMT] [-O FMT] [-o OPTIONS] [-S SIZE] IMAGE OUTPUT\n"
    "\n"
    "Find blocks of SIZE bytes (default: the cluster size, or 4k) that hold only\n"
    "zeroes and release them: in place (discard/hole punching), or by writing a\n"
    "sparse copy.  No filesystem knowledge is used.\n" },
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
