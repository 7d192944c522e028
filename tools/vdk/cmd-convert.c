/* vdk convert: an extent-driven copy with many requests in flight.
 *
 * The source address space (several sources are concatenated) is cut into
 * chunks of up to CHUNK bytes, aligned to CHUNK.  Block status sorts each
 * chunk: zero (skipped when the target reads as zeroes, else write_zeroes),
 * unallocated above a -B backing (skipped), or data (read asynchronously,
 * scanned for zero runs of -S bytes, the non-zero runs written
 * asynchronously).  Up to -m chunks are in flight; writes are issued in
 * offset order unless -W.  Nothing is read or written twice.
 *
 * With -C (copy offloading, as qemu-img) and with -S 0 no zero detection
 * applies to data, so data chunks are first offered to disk_copy_range: where
 * source and target are files of one filesystem the kernel copies them
 * (copy_file_range), once instead of twice through our buffers.  What it
 * cannot copy that way (zeroes, compressed clusters, another filesystem,
 * O_DIRECT) takes the read/write path. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vdk.h"

#define CHUNK (2u << 20)
#define VDK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VDK_ROUND_UP_CS(x, a) ((((x) + (a) - 1) / (a)) * (a))
#define MAX_SOURCES 64

enum { OPT_TARGET_ZERO = 256, OPT_PROGRESS };

enum slot_state { SLOT_FREE, SLOT_READING, SLOT_READ, SLOT_WRITING };

struct slot {
  enum slot_state state;
  uint64_t off;            /* in the concatenated source */
  size_t len;
  unsigned src;
  uint64_t src_off;
  uint8_t *buf;
  unsigned pending_writes;
  uint64_t seq;            /* order of issue */
  struct job *job;
};

struct job {
  struct disk *src[MAX_SOURCES];
  uint64_t src_start[MAX_SOURCES + 1];
  unsigned nsrc;
  struct disk *dst;
  struct disk_queue *q;
  bool target_zero, has_backing_target, out_of_order, compress;
  bool dst_raw;            /* the target is raw: no allocations to order */
  bool offload;            /* data chunks go to disk_copy_range first */
  bool offload_failed;     /* its last try copied nothing */
  uint64_t cluster_size;   /* of the target, for compressed output */
  uint64_t sparse;         /* 0 = write everything */
  uint64_t total, done, next_off;
  /* Block status is asked for large ranges and cached: one answer usually
   * covers many chunks. */
  struct disk_status st;
  uint64_t st_off, st_end;          /* concatenated offsets the cache covers */
  uint64_t next_seq, next_write_seq;
  unsigned nslots;
  struct slot *slots;
  int err;
  char errmsg[1024];
};

static void
job_fail (struct job *j, int ret)
{
  if (!j->err) {
    j->err = ret;
    snprintf (j->errmsg, sizeof j->errmsg, "%s", disk_last_error ());
  }
}

static bool
check_interrupt (struct job *j)
{
  if (interrupted () && !j->err) {
    j->err = -EINTR;
    snprintf (j->errmsg, sizeof j->errmsg, "interrupted by a signal");
  }
  return j->err != 0;
}

static void
write_done (void *opaque, int ret)
{
  struct slot *s = opaque;
  if (ret < 0)
    job_fail (s->job, ret);
  if (--s->pending_writes == 0) {
    s->job->done += s->len;
    s->state = SLOT_FREE;
  }
}

static void
read_done (void *opaque, int ret)
{
  struct slot *s = opaque;
  if (ret < 0)
    job_fail (s->job, ret);
  s->state = SLOT_READ;
}

/* Synchronous zeroing must not overlap an allocation of ours still in
 * flight (the target could not order them): drain the queue first.  Only
 * needed when the target does not read as zeroes already, and not for a
 * raw target, which allocates nothing: there the zeroing (on a network
 * target, e.g. iSCSI WRITE SAME) overlaps the data writes in flight, which
 * are to other ranges. */
static int
zero_range (struct job *j, uint64_t off, uint64_t len)
{
  while (!j->dst_raw && disk_queue_inflight (j->q) > 0)
    if (disk_queue_wait (j->q, 1) < 0)
      return -1;
  return disk_write_zeroes (j->dst, off, len, DISK_MAY_UNMAP);
}

/* Write the data of a slot: non-zero runs as data, zero runs skipped or
 * zeroed.  Writes complete through write_done. */
static void
issue_writes (struct job *j, struct slot *s)
{
  uint64_t gran = j->sparse;
  size_t pos = 0;
  int r = 0;

  s->state = SLOT_WRITING;
  s->pending_writes = 1;   /* guard */
  if (j->err)
    goto out;
  if (j->compress) {
    /* Whole clusters (chunks are cluster-aligned in compress mode): runs of
     * non-zero clusters are written compressed, zero clusters skipped (or
     * zeroed when the target does not read as zeroes). */
    uint64_t cs = j->cluster_size;
    while (pos < s->len && r == 0) {
      size_t run = pos;
      bool zero = disk_is_zero_buf (s->buf + pos, VDK_MIN (cs, s->len - pos));
      while (run < s->len && disk_is_zero_buf (s->buf + run, VDK_MIN (cs, s->len - run)) == zero)
        run += VDK_MIN (cs, s->len - run);
      if (!zero)
        r = disk_pwrite (j->dst, s->buf + pos, run - pos, s->off + pos, DISK_COMPRESSED);
      else if (!j->target_zero)
        r = zero_range (j, s->off + pos, run - pos);
      if (r < 0)
        job_fail (j, r);
      pos = run;
    }
    goto out;
  }
  while (pos < s->len) {
    size_t run = pos;
    bool zero;
    if (gran == 0) {
      run = s->len;
      zero = false;
    }
    else {
      /* Extend a run of blocks with the same zero-ness. */
      size_t blk = VDK_CHUNK_MAX (gran);
      size_t first = (s->off + pos) % blk ? blk - (s->off + pos) % blk : blk;
      size_t l = first < s->len - pos ? first : s->len - pos;
      zero = disk_is_zero_buf (s->buf + pos, l);
      run = pos + l;
      while (run < s->len) {
        l = blk < s->len - run ? blk : s->len - run;
        if (disk_is_zero_buf (s->buf + run, l) != zero)
          break;
        run += l;
      }
    }
    if (zero) {
      if (!j->target_zero) {
        r = zero_range (j, s->off + pos, run - pos);
        if (r < 0) {
          job_fail (j, r);
          break;
        }
      }
    }
    else {
      s->pending_writes++;
      r = disk_aio_pwrite (j->q, j->dst, s->buf + pos, run - pos, s->off + pos, 0,
                           write_done, s);
      if (r < 0) {
        s->pending_writes--;
        job_fail (j, r);
        break;
      }
    }
    pos = run;
  }
 out:
  write_done (s, 0);
}

static bool
slots_busy (const struct job *j)
{
  for (unsigned k = 0; k < j->nslots; k++)
    if (j->slots[k].state != SLOT_FREE)
      return true;
  return false;
}

/* Sort the next range; returns true if a slot was started. */
static bool
start_next (struct job *j, struct slot *s)
{
  while (j->next_off < j->total && !j->err) {
    uint64_t off = j->next_off;
    unsigned i = 0;
    uint64_t soff, len;
    struct disk_status st;
    int r;

    while (off >= j->src_start[i + 1])
      i++;
    soff = off - j->src_start[i];
    len = CHUNK - off % CHUNK;
    if (len > j->src_start[i + 1] - off)
      len = j->src_start[i + 1] - off;
    if (j->sparse == 0 && !j->compress) {
      st.flags = DISK_STATUS_DATA;
      st.length = len;
    }
    else {
      if (off < j->st_off || off >= j->st_end) {
        uint64_t want = j->src_start[i + 1] - off;
        if (want > (1ULL << 30))
          want = 1ULL << 30;
        r = disk_block_status (j->src[i], soff, want,
                               j->has_backing_target ? 0 : DISK_STATUS_WANT_DEPTH, &j->st);
        if (r < 0) {
          job_fail (j, r);
          return false;
        }
        j->st_off = off;
        j->st_end = off + j->st.length;
      }
      st = j->st;
      st.length = j->st_end - off;
    }
    if (j->compress && (st.flags & DISK_STATUS_DATA)) {
      /* compressed output is written in whole clusters: read up to the end
       * of the cluster where the data ends (what follows may be left to a
       * -B backing) */
      if (st.length < len)
        len = VDK_MIN (len, VDK_ROUND_UP_CS (off + st.length, j->cluster_size) - off);
    }
    else if (j->compress && st.length < len) {
      /* a zero/unallocated range: skip only whole clusters of it */
      uint64_t cs = j->cluster_size, end = off + st.length;
      uint64_t aligned_end = end - end % cs;
      if (aligned_end > off && off % cs == 0)
        len = aligned_end - off;
      else {
        st.flags = DISK_STATUS_DATA;   /* a partial cluster: read it */
        len = VDK_MIN (len, VDK_ROUND_UP_CS (off + 1, cs) - off);
      }
    }
    else if (st.length < len)
      len = st.length;
    st.length = len;
    if (!(st.flags & (DISK_STATUS_DATA | DISK_STATUS_ZERO)) && j->has_backing_target) {
      j->next_off += len;       /* the target's backing provides it */
      j->done += len;
      continue;
    }
    if (!(st.flags & DISK_STATUS_DATA) && !j->compress) {
      if (!j->target_zero) {
        r = zero_range (j, off, len);
        if (r < 0) {
          job_fail (j, r);
          return false;
        }
      }
      j->next_off += len;
      j->done += len;
      continue;
    }
    if (j->compress && !(st.flags & DISK_STATUS_DATA) && j->target_zero) {
      j->next_off += len;
      j->done += len;
      continue;
    }
    if (j->offload && (j->out_of_order || !slots_busy (j) || !j->offload_failed)) {
      int64_t c;
      /* In order: copy once the writes before this chunk are issued.  When
       * the last try copied nothing, try again only when that costs no
       * wait. */
      if (!j->out_of_order && slots_busy (j))
        return false;
      c = disk_copy_range (j->src[i], soff, j->dst, off, len, 0);
      if (c < 0) {
        job_fail (j, (int) c);
        return false;
      }
      j->offload_failed = c == 0;
      j->next_off += c;
      j->done += c;
      if ((uint64_t) c == len) {
        progress_update (j->done, j->total);
        if (check_interrupt (j))
          return false;
        continue;
      }
      off += c;               /* read and write the rest */
      soff += c;
      len -= c;
    }
    s->off = off;
    s->len = len;
    s->src = i;
    s->src_off = soff;
    s->seq = j->next_seq++;
    s->state = SLOT_READING;
    j->next_off += len;
    r = disk_aio_pread (j->q, j->src[i], s->buf, len, soff, read_done, s);
    if (r < 0) {
      s->state = SLOT_FREE;
      job_fail (j, r);
      return false;
    }
    return true;
  }
  return false;
}

static int
run_job (struct job *j)
{
  for (;;) {
    bool busy = false;

    check_interrupt (j);
    /* Issue writes for read slots (in order unless -W). */
    for (bool progress = true; progress;) {
      progress = false;
      for (unsigned k = 0; k < j->nslots; k++) {
        struct slot *s = &j->slots[k];
        if (s->state == SLOT_READ && (j->out_of_order || s->seq == j->next_write_seq)) {
          j->next_write_seq++;
          issue_writes (j, s);
          progress = true;
        }
      }
    }
    /* Start reads in free slots. */
    for (unsigned k = 0; k < j->nslots && !j->err; k++)
      if (j->slots[k].state == SLOT_FREE && !start_next (j, &j->slots[k]))
        break;
    for (unsigned k = 0; k < j->nslots; k++)
      if (j->slots[k].state != SLOT_FREE)
        busy = true;
    progress_update (j->done, j->total);
    if (!busy)
      break;
    if (disk_queue_inflight (j->q) > 0) {
      int r = disk_queue_wait (j->q, 1);
      if (r < 0) {
        job_fail (j, r);
        return j->err;
      }
    }
  }
  return j->err;
}

struct opt_probe { const char *name; bool found; };

static void
probe_opt (void *opaque, const char *name, const char *type, const char *help,
           const char *defval)
{
  struct opt_probe *p = opaque;
  (void) type, (void) help, (void) defval;
  if (!strcmp (name, p->name))
    p->found = true;
}

static bool
format_has_opt (const char *fmt, const char *name)
{
  struct opt_probe p = { name, false };
  disk_create_options (fmt, probe_opt, &p);
  return p.found;
}

/* What qemu-img convert refuses before it opens anything, with its words. */
static bool
check_convert_args (const char *ofmt, const char *opts, const char *backing, const char *bfmt,
                    const char *tcache, const char *scache, bool compress, bool no_create,
                    const char *out)
{
  if (tcache && !cache_mode_valid (tcache)) {
    error ("Invalid cache option: %s", tcache);
    return false;
  }
  if (scache && !cache_mode_valid (scache)) {
    error ("Invalid source cache option: %s", scache);
    return false;
  }
  if (no_create)
    return true;
  if (!format_has_opt (ofmt, "size")) {   /* unknown format */
    if (disk_create_options (ofmt, probe_opt, &(struct opt_probe) { "", false }) < 0) {
      error ("%s", disk_last_error ());
      return false;
    }
  }
  for (const char *p = opts; p && *p; ) {
    const char *start = p, *eq;
    char key[128];
    while (*p && !(p[0] == ',' && p[1] != ','))
      p += p[0] == ',' ? 2 : 1;
    eq = memchr (start, '=', p - start);
    snprintf (key, sizeof key, "%.*s", (int) ((eq ? eq : p) - start), start);
    if (!format_has_opt (ofmt, key)) {
      error ("Invalid parameter '%s'", key);
      return false;
    }
    if (!strcmp (key, "backing_file"))
      backing = "";
    if (!strcmp (key, "backing_fmt"))
      bfmt = "";
    if (*p == ',')
      p++;
  }
  if (backing && !format_has_opt (ofmt, "backing_file")) {
    error ("Backing file not supported for file format '%s'", ofmt);
    return false;
  }
  if (backing && !bfmt && !strcmp (ofmt, "qcow2")) {
    /* as create: vmdk, vpc and vhdx parents are of the image's own format */
    error ("Use of backing file requires explicit backing format");
    return false;
  }
  if (bfmt && !backing) {
    error ("%s: error while converting %s: Backing format cannot be used without backing"
           " file", out, ofmt);
    return false;
  }
  if (compress && strcmp (ofmt, "qcow2") && strcmp (ofmt, "vmdk")) {
    error ("Compression not supported for this file format");
    return false;
  }
  return true;
}

int
cmd_convert (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "target-is-zero", no_argument, NULL, OPT_TARGET_ZERO },
    { "progress", required_argument, NULL, OPT_PROGRESS },
    { "force-share", no_argument, NULL, 'U' },
    { NULL, 0, NULL, 0 },
  };
  const char *fmt = NULL, *ofmt = "raw", *backing = NULL, *bfmt = NULL;
  const char *tcache = "unsafe", *scache = NULL, *out;
  char *opts = NULL, dst_opts[64];
  bool quiet = false, no_create = false, share = false, target_zero_flag = false;
  bool copy_range = false, sparse_given = false;
  bool ofmt_given = false, copy_started = false;
  enum progress_mode pmode = PROGRESS_NONE;
  struct job j;
  struct snapshot_sel snap = { 0 };
  unsigned m = 8;
  int c, r, rc = 1;
  bool created = false;

  memset (&j, 0, sizeof j);
  j.sparse = 4096;
  while ((c = getopt_long (argc, argv, "f:O:o:B:F:nS:m:Wt:T:pqUcCl:s:", longopts, NULL)) != -1) {
    switch (c) {
    case 'f': fmt = optarg; break;
    case 'O': ofmt = optarg; ofmt_given = true; break;
    case 'o':
      if (opts) {
        char *n2;
        if (asprintf (&n2, "%s,%s", opts, optarg) < 0)
          return 1;
        free (opts);
        opts = n2;
      }
      else
        opts = strdup (optarg);
      break;
    case 'B': backing = optarg; break;
    case 'F': bfmt = optarg; break;
    case 'n': no_create = true; break;
    case 'l':
    case 's':   /* qemu-img's older -s SNAPSHOT_ID_OR_NAME */
      snapshot_sel_free (&snap);
      if (parse_snapshot_param (c == 's' ? "" : optarg, &snap) < 0)
        goto out;
      if (c == 's')
        snap.id_or_name = optarg;
      break;
    case 'c': j.compress = true; break;
    case 'C': copy_range = true; break;
    case 'S':
      sparse_given = true;
      if (parse_size_arg (optarg, &j.sparse, "sparse size") < 0)
        goto out;
      if (j.sparse % 512 || j.sparse > (16u << 20)) {
        error ("Invalid buffer size for sparse output specified. Valid sizes are multiples"
               " of 512 up to 16777216. Select 0 to disable sparse detection (fully allocates"
               " output).");
        goto out;
      }
      break;
    case 'm': {
      char *end;
      long v = strtol (optarg, &end, 10);
      if (*end || end == optarg || v < 1 || v > 16) {
        error ("Invalid number of coroutines. Allowed number of coroutines is between 1"
               " and 16");
        goto out;
      }
      m = v;
      break;
    }
    case 'W': j.out_of_order = true; break;
    case 't': tcache = optarg; break;
    case 'T': scache = optarg; break;
    case 'p': pmode = PROGRESS_HUMAN; break;
    case 'q': quiet = true; break;
    case 'U': share = true; break;
    case OPT_TARGET_ZERO: target_zero_flag = true; break;
    case OPT_PROGRESS:
      if (!strcmp (optarg, "json"))
        pmode = PROGRESS_JSON;
      else if (!strcmp (optarg, "human"))
        pmode = PROGRESS_HUMAN;
      else {
        error ("--progress must be human or json");
        goto out;
      }
      break;
    default:
      rc = usage_error ("convert", "invalid option");
      goto out;
    }
  }
  if (quiet)
    pmode = PROGRESS_NONE;
  if (copy_range && j.compress) {
    error ("Cannot enable copy offloading when -c is used");
    goto out;
  }
  if (copy_range && sparse_given) {
    error ("Cannot enable copy offloading when -S is used");
    goto out;
  }
  if (opts_want_help (opts)) {
    /* like qemu-img: with the output named, one list ("Supported
     * options:"), else create's -o help for the format */
    rc = print_option_help (ofmt, argc - optind >= 2 ? "Supported options:" : NULL, NULL) ? 1 : 0;
    goto out;
  }
  if (argc - optind < 2) {
    error ("Must specify image file name");
    goto out;
  }
  if (argc - optind - 1 > MAX_SOURCES) {
    error ("too many source images (at most %d)", MAX_SOURCES);
    goto out;
  }
  if (target_zero_flag && !no_create) {
    error ("--target-is-zero requires use of -n flag");
    goto out;
  }
  if (no_create && opts) {
    error ("-o has no effect when skipping image creation");
    goto out;
  }
  if (!check_convert_args (ofmt, opts, backing, bfmt, tcache, scache, j.compress, no_create,
                           argv[argc - 1]))
    goto out;
  out = argv[argc - 1];
  j.nsrc = argc - optind - 1;
  for (unsigned i = 0; i < j.nsrc; i++) {
    char sopts[64] = "";
    if (scache)
      snprintf (sopts, sizeof sopts, "cache=%s", scache);
    r = disk_open (&j.src[i], argv[optind + i], fmt, share ? DISK_OPEN_FORCE_SHARE : 0,
                   scache ? sopts : NULL);
    if (r < 0) {
      disk_fail ();
      goto out;
    }
    j.src_start[i + 1] = j.src_start[i] + disk_get_size (j.src[i]);
  }
  /* Like qemu-img: snapshot.id/name apply to the first source; a bare name
   * cannot be combined with several sources. */
  if (snap.id_or_name && j.nsrc > 1) {
    error ("No support for concatenating multiple snapshot");
    goto out;
  }
  if (load_snapshot (j.src[0], &snap) < 0)
    goto out;
  j.total = j.src_start[j.nsrc];

  if (!no_create) {
    r = disk_create (out, ofmt, j.total, opts, backing, bfmt, 0);
    if (r < 0) {
      /* qemu-img's prefix; the message may name the file already */
      const char *msg = disk_last_error ();
      size_t l = strlen (out);
      disk_take_warnings ();
      if (!strncmp (msg, out, l) && !strncmp (msg + l, ": ", 2))
        msg += l + 2;
      error ("%s: error while converting %s: %s", out, ofmt, msg);
      goto out;
    }
    created = true;
  }
  install_signal_handlers ();
  snprintf (dst_opts, sizeof dst_opts, "cache=%s", tcache);
  /* An existing target (-n) is opened as -O says, like qemu-img; without
   * -O it is probed, where qemu-img would take it for raw (and write raw
   * data over a qcow2 or vmdk target's metadata). */
  r = disk_open (&j.dst, out, no_create && !ofmt_given ? NULL : ofmt, DISK_OPEN_RDWR,
                 dst_opts);
  if (r < 0) {
    disk_fail ();
    goto cleanup;
  }
  if ((uint64_t) disk_get_size (j.dst) < j.total) {
    error ("output file is smaller than input file");
    goto cleanup;
  }
  j.has_backing_target = backing != NULL;
  /* Zero runs smaller than the target's allocation unit cannot be left
   * unallocated anyway: detect them at that granularity (as qemu-img does),
   * up to the chunk size. */
  if (j.sparse && disk_get_cluster_size (j.dst) > j.sparse)
    j.sparse = disk_get_cluster_size (j.dst) < CHUNK ? disk_get_cluster_size (j.dst) : CHUNK;
  j.target_zero = target_zero_flag || (!no_create && disk_is_zero_initialized (j.dst));
  j.dst_raw = !strcmp (disk_get_format (j.dst), "raw");
  j.offload = (copy_range || j.sparse == 0) && !j.compress;
  if (j.compress) {
    uint64_t cs = disk_get_cluster_size (j.dst);
    j.cluster_size = cs;
    if (!cs || CHUNK % cs) {
      error ("Compression not supported for this file format");
      goto cleanup;
    }
  }
  r = disk_queue_new (&j.q, m * 4);
  if (r < 0) {
    disk_fail ();
    goto cleanup;
  }
  j.nslots = m;
  j.slots = calloc (m, sizeof *j.slots);
  if (!j.slots) {
    error ("out of memory");
    goto cleanup;
  }
  for (unsigned k = 0; k < m; k++) {
    j.slots[k].job = &j;
    if (posix_memalign ((void **) &j.slots[k].buf, 4096, CHUNK)) {
      error ("out of memory");
      goto cleanup;
    }
  }
  progress_init (pmode);
  copy_started = true;
  r = run_job (&j);
  if (r == 0) {
    r = disk_flush (j.dst);
    if (r < 0)
      job_fail (&j, r);
  }
  progress_update (j.err ? j.done : j.total, j.total);
  progress_finish ();
  if (j.err) {
    error ("%s: convert failed: %s", out, j.errmsg);
    goto cleanup;
  }
  r = disk_close (j.dst);
  j.dst = NULL;
  if (r < 0) {
    disk_fail ();
    goto cleanup;
  }
  rc = 0;
 cleanup:
  if (j.q)
    disk_queue_free (j.q);
  if (j.dst)
    disk_close (j.dst);
  j.dst = NULL;
  if (rc != 0) {
    if (created) {
      if (disk_remove (out, ofmt) == 0)
        error ("removed the incomplete output '%s'", out);
    }
    else if (no_create && copy_started && j.total)
      error ("the output '%s' was left in place; %" PRIu64 " of %" PRIu64
             " bytes had been copied", out, j.done, j.total);
  }
  if (j.slots)
    for (unsigned k = 0; k < j.nslots; k++)
      free (j.slots[k].buf);
  free (j.slots);
 out:
  for (unsigned i = 0; i < j.nsrc; i++)
    if (j.src[i])
      disk_close (j.src[i]);
  snapshot_sel_free (&snap);
  free (opts);
  return rc;
}
