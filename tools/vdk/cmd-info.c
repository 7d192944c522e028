/* vdk info */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vdk.h"

enum { OPT_OUTPUT = 256, OPT_CHAIN, OPT_IMAGE_OPTS };

static void
snapshot_table_human (const struct disk_info *info)
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
              secs / 3600, (secs / 60) % 60, secs % 60,
              (s->vm_clock_nsec / 1000000) % 1000);
    if (s->icount_valid)
      snprintf (icount, sizeof icount, "%" PRIu64, s->icount);
    printf ("%-9s %-16s %8s%20s%13s%11s\n", s->id, s->name, human_size (s->vm_state_size),
            date, clock, icount);
  }
}

static void
print_human (const struct disk_info *info)
{
  printf ("image: %s\n", info->filename);
  printf ("file format: %s\n", info->format);
  printf ("virtual size: %s (%" PRIu64 " bytes)\n", human_size (info->virtual_size),
          info->virtual_size);
  if (info->actual_size >= 0)
    printf ("disk size: %s\n", human_size (info->actual_size));
  else
    printf ("disk size: unavailable\n");
  if (info->cluster_size)
    printf ("cluster_size: %" PRIu64 "\n", info->cluster_size);
  if (info->encrypted)
    printf ("encrypted: yes\n");
  if (info->backing_filename) {
    printf ("backing file: %s", info->backing_filename);
    if (info->full_backing_filename && strcmp (info->full_backing_filename, info->backing_filename))
      printf (" (actual path: %s)", info->full_backing_filename);
    printf ("\n");
    if (info->backing_format)
      printf ("backing file format: %s\n", info->backing_format);
  }
  if (info->n_snapshots)
    snapshot_table_human (info);
  if (info->n_fields) {
    printf ("Format specific information:\n");
    for (size_t i = 0; i < info->n_fields; i++) {
      const struct disk_info_field *f = &info->fields[i];
      printf ("%*s%s:", 4 * (f->indent + 1), "", f->human);
      /* A nested object or list opener: no value after the colon, as qemu. */
      if (f->type == DISK_V_STRING && !f->s[0] && i + 1 < info->n_fields &&
          info->fields[i + 1].indent > f->indent) {
        printf ("\n");
        continue;
      }
      switch (f->type) {
      case DISK_V_STRING: printf (" %s\n", f->s); break;
      case DISK_V_INT: printf (" %" PRId64 "\n", f->i); break;
      case DISK_V_BOOL: printf (" %s\n", f->b ? "true" : "false"); break;
      }
    }
  }
}

static void
print_json (struct jw *w, const struct disk_info *info)
{
  jw_obj (w, NULL);
  if (info->backing_format)   /* qemu-img's dictionary puts it first */
    jw_str (w, "backing-filename-format", info->backing_format);
  if (info->n_snapshots) {
    jw_arr (w, "snapshots");
    for (size_t i = 0; i < info->n_snapshots; i++) {
      const struct disk_snapshot *s = &info->snapshots[i];
      jw_obj (w, NULL);
      if (s->icount_valid)
        jw_uint (w, "icount", s->icount);
      jw_uint (w, "vm-clock-nsec", s->vm_clock_nsec % 1000000000ULL);
      jw_str (w, "name", s->name);
      jw_uint (w, "date-sec", s->date_sec);
      jw_uint (w, "date-nsec", s->date_nsec);
      jw_uint (w, "vm-clock-sec", s->vm_clock_nsec / 1000000000ULL);
      jw_str (w, "id", s->id);
      jw_uint (w, "vm-state-size", s->vm_state_size);
      jw_obj_end (w);
    }
    jw_arr_end (w);
  }
  jw_uint (w, "virtual-size", info->virtual_size);
  jw_str (w, "filename", info->filename);
  if (info->cluster_size)
    jw_uint (w, "cluster-size", info->cluster_size);
  jw_str (w, "format", info->format);
  if (info->actual_size >= 0)
    jw_int (w, "actual-size", info->actual_size);
  if (info->encrypted)
    jw_bool (w, "encrypted", true);
  if (info->n_fields) {
    int depth = 0;
    bool is_arr[64] = { false };   /* per nesting level: a list ("[0]" children) */
    jw_obj (w, "format-specific");
    jw_str (w, "type", info->format);
    jw_obj (w, "data");
    for (size_t i = 0; i < info->n_fields; i++) {
      const struct disk_info_field *f = &info->fields[i];
      while (depth > f->indent) {
        if (is_arr[depth])
          jw_arr_end (w);
        else
          jw_obj_end (w);
        depth--;
      }
      /* A string field with the next one indented opens a nested object;
       * when the nested keys are "[0]", "[1]"... it is a list of them. */
      if (i + 1 < info->n_fields && info->fields[i + 1].indent > f->indent &&
          f->type == DISK_V_STRING && !f->s[0] && depth + 1 < 64) {
        bool in_list = depth > 0 && is_arr[depth] && f->json_key[0] == '[';
        depth++;
        is_arr[depth] = info->fields[i + 1].json_key[0] == '[';
        if (is_arr[depth])
          jw_arr (w, in_list ? NULL : f->json_key);
        else
          jw_obj (w, in_list ? NULL : f->json_key);
        continue;
      }
      const char *key = depth > 0 && is_arr[depth] ? NULL : f->json_key;
      switch (f->type) {
      case DISK_V_STRING: jw_str (w, key, f->s); break;
      case DISK_V_INT: jw_int (w, key, f->i); break;
      case DISK_V_BOOL: jw_bool (w, key, f->b); break;
      }
    }
    for (; depth > 0; depth--) {
      if (is_arr[depth])
        jw_arr_end (w);
      else
        jw_obj_end (w);
    }
    jw_obj_end (w);
    jw_obj_end (w);
  }
  if (info->backing_filename) {
    if (info->full_backing_filename)
      jw_str (w, "full-backing-filename", info->full_backing_filename);
    jw_str (w, "backing-filename", info->backing_filename);
  }
  if (info->data_file)
    jw_str (w, "data-file", info->data_file);
  jw_bool (w, "dirty-flag", info->dirty);
  jw_obj_end (w);
}

int
cmd_info (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "format", required_argument, NULL, 'f' },
    { "output", required_argument, NULL, OPT_OUTPUT },
    { "backing-chain", no_argument, NULL, OPT_CHAIN },
    { "force-share", no_argument, NULL, 'U' },
    { NULL, 0, NULL, 0 },
  };
  const char *fmt = NULL;
  enum output_format out = OUT_HUMAN;
  bool chain = false, share = false;
  struct disk *d;
  struct disk_info *info;
  int c, r;

  while ((c = getopt_long (argc, argv, "f:U", longopts, NULL)) != -1) {
    switch (c) {
    case 'f': fmt = optarg; break;
    case 'U': share = true; break;
    case OPT_OUTPUT:
      if (parse_output (optarg, &out) < 0)
        return 1;
      break;
    case OPT_CHAIN: chain = true; break;
    default: return usage_error ("info", "invalid option");
    }
  }
  if (optind != argc - 1)
    return usage_error ("info", "Expecting one image file name");
  r = disk_open (&d, argv[optind], fmt,
                 (share ? DISK_OPEN_FORCE_SHARE : 0) | (chain ? 0 : 0), NULL);
  if (r < 0)
    return disk_fail ();
  r = disk_get_info (d, chain ? DISK_INFO_CHAIN : 0, &info);
  if (r < 0) {
    disk_close (d);
    return disk_fail ();
  }
  if (out == OUT_JSON) {
    struct jw w;
    jw_init (&w, stdout, true);
    if (chain)
      jw_arr (&w, NULL);
    for (struct disk_info *i = info; i; i = chain ? i->backing : NULL)
      print_json (&w, i);
    if (chain)
      jw_arr_end (&w);
    jw_end (&w);
  }
  else {
    for (struct disk_info *i = info; i; i = chain ? i->backing : NULL) {
      print_human (i);
      if (chain && i->backing)
        printf ("\n");
    }
  }
  disk_info_free (info);
  disk_close (d);
  return 0;
}
