/* disk_get_info and the format-specific info helpers. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "io.h"

static int
add_field (struct disk_info *info, const char *json_key, const char *human,
           struct disk_info_field f)
{
  struct disk_info_field *nf;

  if (info->n_fields >= 256)
    return vdk_err (E2BIG, "too many info fields");
  nf = realloc (info->fields, (info->n_fields + 1) * sizeof *nf);
  if (!nf)
    return vdk_err (ENOMEM, "out of memory");
  info->fields = nf;
  f.json_key = strdup (json_key);
  f.human = strdup (human);
  if (!f.json_key || !f.human)
    return vdk_err (ENOMEM, "out of memory");
  nf[info->n_fields++] = f;
  return 0;
}

int
vdk_info_add_str (struct disk_info *info, const char *json_key, const char *human, const char *v)
{
  struct disk_info_field f = { .type = DISK_V_STRING, .s = strdup (v ? v : "") };
  if (!f.s)
    return vdk_err (ENOMEM, "out of memory");
  return add_field (info, json_key, human, f);
}

int
vdk_info_add_int (struct disk_info *info, const char *json_key, const char *human, int64_t v)
{
  struct disk_info_field f = { .type = DISK_V_INT, .i = v };
  return add_field (info, json_key, human, f);
}

int
vdk_info_add_bool (struct disk_info *info, const char *json_key, const char *human, bool v)
{
  struct disk_info_field f = { .type = DISK_V_BOOL, .b = v };
  return add_field (info, json_key, human, f);
}

void
disk_info_free (struct disk_info *info)
{
  if (!info)
    return;
  disk_info_free (info->backing);
  free (info->filename);
  free (info->format);
  free (info->backing_filename);
  free (info->full_backing_filename);
  free (info->backing_format);
  free (info->data_file);
  for (size_t i = 0; i < info->n_fields; i++) {
    free ((char *) info->fields[i].json_key);
    free ((char *) info->fields[i].human);
    free ((char *) info->fields[i].s);
  }
  free (info->fields);
  free (info->snapshots);
  free (info);
}

static char *
dup_or_null (const char *s)
{
  return s ? strdup (s) : NULL;
}

static int
node_info (struct vdk_node *n, unsigned flags, struct disk_info **out)
{
  struct disk_info *info = calloc (1, sizeof *info);
  int r = 0;

  if (!info)
    return vdk_err (ENOMEM, "out of memory");
  info->filename = dup_or_null (n->filename);
  info->format = strdup (n->fmt ? n->fmt->name : n->proto->name);
  info->virtual_size = n->size;
  info->actual_size = vdk_node_get_allocated (n);
  if (info->actual_size < 0) {
    info->actual_size = -1;
    vdk_err_clear ();
  }
  if (n->backing_filename && n->backing_filename[0]) {
    info->backing_filename = strdup (n->backing_filename);
    info->full_backing_filename = n->backing ? dup_or_null (n->backing->filename)
                                             : vdk_resolve_relative (n->filename, n->backing_filename);
    info->backing_format = dup_or_null (n->backing_format);
  }
  info->data_file = dup_or_null (n->data_filename);
  if (n->fmt && n->fmt->info) {
    pthread_mutex_lock (&n->lock);
    r = n->fmt->info (n, info);
    pthread_mutex_unlock (&n->lock);
  }
  if (r == 0 && n->fmt && n->fmt->snapshot_list) {
    pthread_mutex_lock (&n->lock);
    r = n->fmt->snapshot_list (n, &info->snapshots, &info->n_snapshots);
    pthread_mutex_unlock (&n->lock);
  }
  else if (r == 0 && vdk_snapshot_node (n) != n) {
    /* raw over a protocol with snapshots (rbd) */
    struct vdk_node *s = vdk_snapshot_node (n);
    pthread_mutex_lock (&s->lock);
    r = s->proto->snapshot_list (s, &info->snapshots, &info->n_snapshots);
    pthread_mutex_unlock (&s->lock);
  }
  if (r == 0 && (flags & DISK_INFO_CHAIN) && n->backing)
    r = node_info (n->backing, flags, &info->backing);
  if (r < 0) {
    disk_info_free (info);
    return r;
  }
  *out = info;
  return 0;
}

int
disk_get_info (struct disk *d, unsigned flags, struct disk_info **out)
{
  return node_info (d->root, flags, out);
}
