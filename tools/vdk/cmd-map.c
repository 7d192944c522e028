/* vdk map: where the data is, like qemu-img map. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vdk.h"

enum { OPT_OUTPUT = 256, OPT_START, OPT_MAXLEN };

struct entry {
  uint64_t start, length, offset;
  int depth;
  bool present, zero, data, compressed, has_offset;
  const char *filename;
};

static bool
mergeable (const struct entry *a, const struct entry *b)
{
  if (a->present != b->present || a->zero != b->zero || a->data != b->data ||
      a->compressed != b->compressed || a->depth != b->depth || a->has_offset != b->has_offset)
    return false;
  if (a->has_offset && (a->offset + a->length != b->offset ||
                        strcmp (a->filename, b->filename) != 0))
    return false;
  return true;
}

static void
emit (const struct entry *e, enum output_format out, bool *first)
{
  if (out == OUT_HUMAN) {
    if (e->data && e->has_offset)
      printf ("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s\n",
              e->start, e->length, e->offset, e->filename);
    return;
  }
  printf ("%s{ \"start\": %" PRIu64 ", \"length\": %" PRIu64 ", \"depth\": %d,"
          " \"present\": %s, \"zero\": %s, \"data\": %s",
          *first ? "[" : ",\n", e->start, e->length, e->depth,
          e->present ? "true" : "false", e->zero ? "true" : "false",
          e->data ? "true" : "false");
  if (e->has_offset)
    printf (", \"offset\": %" PRIu64, e->offset);
  printf ("}");
  *first = false;
}

int
cmd_map (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "format", required_argument, NULL, 'f' },
    { "output", required_argument, NULL, OPT_OUTPUT },
    { "start-offset", required_argument, NULL, OPT_START },
    { "max-length", required_argument, NULL, OPT_MAXLEN },
    { "force-share", no_argument, NULL, 'U' },
    { NULL, 0, NULL, 0 },
  };
  const char *fmt = NULL;
  enum output_format out = OUT_HUMAN;
  bool share = false, first = true, have = false;
  uint64_t start = 0, maxlen = UINT64_MAX, end, size, off;
  struct disk *d;
  struct entry cur = { 0 };
  int c, r;

  while ((c = getopt_long (argc, argv, "f:U", longopts, NULL)) != -1) {
    switch (c) {
    case 'f': fmt = optarg; break;
    case 'U': share = true; break;
    case OPT_OUTPUT:
      if (parse_output (optarg, &out) < 0)
        return 1;
      break;
    case OPT_START:
      if (parse_size_arg (optarg, &start, "start offset") < 0)
        return 1;
      break;
    case OPT_MAXLEN:
      if (parse_size_arg (optarg, &maxlen, "max length") < 0)
        return 1;
      break;
    default: return usage_error ("map", "invalid option");
    }
  }
  if (optind != argc - 1)
    return usage_error ("map", "Expecting one image file name");
  r = disk_open (&d, argv[optind], fmt, share ? DISK_OPEN_FORCE_SHARE : 0, NULL);
  if (r < 0)
    return disk_fail ();
  size = disk_get_size (d);
  end = start >= size ? size : (maxlen > size - start ? size : start + maxlen);
  if (out == OUT_HUMAN)
    printf ("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
  for (off = start; off < end;) {
    struct disk_status st;
    struct entry e;
    r = disk_block_status (d, off, VDK_CHUNK_MAX (end - off), DISK_STATUS_WANT_DEPTH, &st);
    if (r < 0) {
      disk_fail ();
      disk_close (d);
      return 1;
    }
    e = (struct entry) {
      .start = off, .length = st.length, .depth = st.depth,
      .present = st.flags & DISK_STATUS_ALLOCATED, .zero = st.flags & DISK_STATUS_ZERO,
      .data = st.flags & DISK_STATUS_DATA, .compressed = st.flags & DISK_STATUS_COMPRESSED,
      .has_offset = st.flags & DISK_STATUS_OFFSET, .offset = st.host_offset,
      .filename = st.filename,
    };
    if (have && mergeable (&cur, &e))
      cur.length += e.length;
    else {
      if (have)
        emit (&cur, out, &first);
      cur = e;
      have = true;
    }
    off += st.length;
  }
  if (have)
    emit (&cur, out, &first);
  if (out == OUT_JSON && first)   /* nothing to map: qemu-img prints one empty range */
    printf ("[{ \"start\": %" PRIu64 ", \"length\": 0, \"depth\": 0, \"present\": false,"
            " \"zero\": false, \"data\": false}]\n", start);
  else if (out == OUT_JSON)
    printf ("]\n");
  disk_close (d);
  return 0;
}
