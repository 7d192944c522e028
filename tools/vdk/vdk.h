/* Shared pieces of the vdk command-line tool. */
#ifndef VDK_TOOL_H
#define VDK_TOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdnoreturn.h>

#include "vdk/disk.h"

#define ATTR_PRINTF(a, b) __attribute__((format (printf, a, b)))
/* Largest range asked of block status at once. */
#define VDK_CHUNK_MAX(x) ((x) > (1ULL << 30) ? (1ULL << 30) : (x))

struct command {
  const char *name;
  int (*run) (int argc, char **argv);
  const char *summary;
  const char *usage;       /* full help text */
  unsigned flags;          /* CMD_* */
};
/* The command uses -h itself (df -h): only --help prints its help. */
#define CMD_OWN_H 0x1u

extern const char *progname;

/* "vdk: message" on stderr. */
void error (const char *fmt, ...) ATTR_PRINTF (1, 2);
void warning (const char *fmt, ...) ATTR_PRINTF (1, 2);
/* Print disk_last_error() (and any warnings); return exit code 1. */
int disk_fail (void);
void print_warnings (void);

/* Usage error for COMMAND: message + hint, returns 1. */
int usage_error (const char *cmd, const char *fmt, ...) ATTR_PRINTF (2, 3);
/* Print help for a command if argv has --help/-h; returns true if printed. */
void print_command_help (const struct command *c);
const struct command *find_command (const char *name);

/* Sizes.  parse_size_arg prints qemu-style errors. */
int parse_size_arg (const char *s, uint64_t *out, const char *what);
bool cache_mode_valid (const char *m);
bool opts_want_help (const char *opts);   /* -o help or ? among the items */
char *human_size (uint64_t v);   /* "10 GiB" (static buffer rotation) */

/* --output=human|json */
enum output_format { OUT_HUMAN, OUT_JSON };
int parse_output (const char *s, enum output_format *out);

/* A small JSON writer with qemu-img's layout (4-space indent). */
struct jw {
  FILE *f;
  int depth;
  bool first[64];
  bool pretty;
};
void jw_init (struct jw *w, FILE *f, bool pretty);
void jw_obj (struct jw *w, const char *key);
void jw_obj_end (struct jw *w);
void jw_arr (struct jw *w, const char *key);
void jw_arr_end (struct jw *w);
void jw_str (struct jw *w, const char *key, const char *v);
void jw_int (struct jw *w, const char *key, int64_t v);
void jw_uint (struct jw *w, const char *key, uint64_t v);
void jw_bool (struct jw *w, const char *key, bool v);
void jw_double (struct jw *w, const char *key, double v);
void jw_end (struct jw *w);   /* final newline */

/* Progress reporting shared by long jobs. */
enum progress_mode { PROGRESS_NONE, PROGRESS_HUMAN, PROGRESS_JSON };
void progress_init (enum progress_mode mode);
void progress_update (uint64_t done, uint64_t total);
void progress_finish (void);
bool interrupted (void);        /* SIGINT/SIGTERM/SIGHUP arrived */
void install_signal_handlers (void);

/* -l snapshot.id=ID,snapshot.name=NAME or -l NAME (convert, measure). */
struct snapshot_sel {
  const char *id_or_name;   /* a bare word: an id, else a name */
  char *id, *name;
};
int parse_snapshot_param (const char *arg, struct snapshot_sel *sel);
void snapshot_sel_free (struct snapshot_sel *sel);
bool snapshot_sel_given (const struct snapshot_sel *sel);
int load_snapshot (struct disk *d, const struct snapshot_sel *sel);

int cmd_create (int argc, char **argv);
int print_option_help (const char *fmt, const char *title, const char *const *only);
int cmd_info (int argc, char **argv);
int cmd_convert (int argc, char **argv);
int cmd_resize (int argc, char **argv);
int cmd_compare (int argc, char **argv);
int cmd_map (int argc, char **argv);
int cmd_dd (int argc, char **argv);
int cmd_measure (int argc, char **argv);
int cmd_rebase (int argc, char **argv);
int cmd_commit (int argc, char **argv);
int cmd_bench (int argc, char **argv);
int cmd_sparsify (int argc, char **argv);

/* Storage pools and volumes (cmd-pool.c, cmd-vol.c). */
int cmd_pool_define_as (int argc, char **argv);
int cmd_pool_define (int argc, char **argv);
int cmd_pool_create_as (int argc, char **argv);
int cmd_pool_create (int argc, char **argv);
int cmd_pool_build (int argc, char **argv);
int cmd_pool_start (int argc, char **argv);
int cmd_pool_destroy (int argc, char **argv);
int cmd_pool_delete (int argc, char **argv);
int cmd_pool_undefine (int argc, char **argv);
int cmd_pool_autostart (int argc, char **argv);
int cmd_pool_list (int argc, char **argv);
int cmd_pool_info (int argc, char **argv);
int cmd_pool_dumpxml (int argc, char **argv);
int cmd_pool_refresh (int argc, char **argv);
int cmd_pool_capabilities (int argc, char **argv);
int cmd_find_sources (int argc, char **argv);
int cmd_find_sources_as (int argc, char **argv);
int cmd_pool_name (int argc, char **argv);
int cmd_pool_uuid (int argc, char **argv);
int cmd_vol_create_as (int argc, char **argv);
int cmd_vol_create (int argc, char **argv);
int cmd_vol_create_from (int argc, char **argv);
int cmd_vol_clone (int argc, char **argv);
int cmd_vol_delete (int argc, char **argv);
int cmd_vol_wipe (int argc, char **argv);
int cmd_vol_resize (int argc, char **argv);
int cmd_vol_upload (int argc, char **argv);
int cmd_vol_download (int argc, char **argv);
int cmd_vol_list (int argc, char **argv);
int cmd_vol_info (int argc, char **argv);
int cmd_vol_dumpxml (int argc, char **argv);
int cmd_vol_path (int argc, char **argv);
int cmd_vol_name (int argc, char **argv);
int cmd_vol_key (int argc, char **argv);
int cmd_vol_pool (int argc, char **argv);
int cmd_run (int argc, char **argv);

/* Secrets (cmd-secret.c). */
int cmd_secret_define (int argc, char **argv);
int cmd_secret_dumpxml (int argc, char **argv);
int cmd_secret_set_value (int argc, char **argv);
int cmd_secret_get_value (int argc, char **argv);
int cmd_secret_undefine (int argc, char **argv);
int cmd_secret_list (int argc, char **argv);
/* guest disks (guestfs/) */
int cmd_filesystems (int argc, char **argv);
int cmd_ls (int argc, char **argv);
int cmd_cat (int argc, char **argv);
int cmd_df (int argc, char **argv);
int cmd_inspect (int argc, char **argv);
int cmd_get_kernel (int argc, char **argv);
int cmd_check (int argc, char **argv);
int cmd_snapshot (int argc, char **argv);
int cmd_amend (int argc, char **argv);

#endif
