/* Helpers shared by the pool types: running programs, files, mounts,
 * UUIDs, signature sniffing. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pool-int.h"

#define RUN_OUTPUT_MAX (64u << 10)

int
pool_run (const char *const *argv, char **output)
{
  int pfd[2], status;
  char *buf;
  size_t len = 0;
  pid_t pid;

  if (output)
    *output = NULL;
  buf = malloc (RUN_OUTPUT_MAX + 1);
  if (!buf)
    return pool_err (ENOMEM, "out of memory");
  if (pipe2 (pfd, O_CLOEXEC) < 0) {
    free (buf);
    return pool_err (errno, "pipe: %s", strerror (errno));
  }
  pid = fork ();
  if (pid < 0) {
    int e = errno;
    close (pfd[0]);
    close (pfd[1]);
    free (buf);
    return pool_err (e, "fork: %s", strerror (e));
  }
  if (pid == 0) {
    int nul = open ("/dev/null", O_RDONLY);
    if (nul >= 0)
      dup2 (nul, 0);
    dup2 (pfd[1], 1);
    dup2 (pfd[1], 2);
    signal (SIGPIPE, SIG_DFL);
    execvp (argv[0], (char *const *) argv);
    /* mkfs.* and friends live in sbin, which a user's PATH may lack. */
    if (errno == ENOENT && !strchr (argv[0], '/')) {
      static const char *const dirs[] = { "/usr/sbin/", "/sbin/", "/usr/bin/" };
      for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char path[256];
        snprintf (path, sizeof path, "%s%s", dirs[i], argv[0]);
        execv (path, (char *const *) argv);
      }
      errno = ENOENT;
    }
    dprintf (2, "%s: %s\n", argv[0], strerror (errno));
    _exit (127);
  }
  close (pfd[1]);
  for (;;) {
    char tmp[4096];
    ssize_t r = read (pfd[0], tmp, sizeof tmp);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    if (len < RUN_OUTPUT_MAX) {
      size_t n = (size_t) r < RUN_OUTPUT_MAX - len ? (size_t) r : RUN_OUTPUT_MAX - len;
      memcpy (buf + len, tmp, n);
      len += n;
    }
  }
  close (pfd[0]);
  buf[len] = 0;
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR) {
      int e = errno;
      free (buf);
      return pool_err (e, "waitpid: %s", strerror (e));
    }
  if (output)
    *output = buf;
  else
    free (buf);
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  return 128 + (WIFSIGNALED (status) ? WTERMSIG (status) : 0);
}

int
pool_run_checked (const char *what, const char *const *argv)
{
  char *out = NULL;
  int r = pool_run (argv, &out);

  if (r > 0) {
    /* The last non-empty line says what went wrong. */
    char *line = out, *p;
    size_t l = out ? strlen (out) : 0;
    while (l > 0 && (out[l - 1] == '\n' || out[l - 1] == ' '))
      out[--l] = 0;
    if (out && (p = strrchr (out, '\n')))
      line = p + 1;
    if (r == 127 && line && strstr (line, strerror (ENOENT)))
      r = pool_err (ENOENT, "%s: %s is not installed", what, argv[0]);
    else
      r = pool_err (EIO, "%s: %s failed (exit status %d)%s%s", what, argv[0], r,
                    line && line[0] ? ": " : "", line ? line : "");
  }
  free (out);
  return r;
}

int
pool_write_file (const char *path, const char *data, mode_t mode)
{
  char tmp[PATH_MAX];
  size_t len = strlen (data), done = 0;
  int fd, e;

  if (snprintf (tmp, sizeof tmp, "%s.tmp.%ld", path, (long) getpid ()) >= (int) sizeof tmp)
    return pool_err (ENAMETOOLONG, "%s: path too long", path);
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return pool_err (errno, "%s: %s", tmp, strerror (errno));
  while (done < len) {
    ssize_t r = write (fd, data + done, len - done);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      goto fail;
    done += r;
  }
  if (fsync (fd) < 0)
    goto fail;
  if (close (fd) < 0) {
    fd = -1;
    goto fail;
  }
  if (rename (tmp, path) < 0) {
    fd = -1;
    goto fail;
  }
  return 0;
 fail:
  e = errno;
  if (fd >= 0)
    close (fd);
  unlink (tmp);
  return pool_err (e, "%s: %s", path, strerror (e));
}

int
pool_read_file (const char *path, size_t max, char **out, size_t *lenp)
{
  struct stat st;
  char *buf;
  size_t len = 0;
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    return pool_err (errno, "%s: %s", path, strerror (errno));
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)) {
    close (fd);
    return pool_err (EINVAL, "%s: not a regular file", path);
  }
  if ((uint64_t) st.st_size > max) {
    close (fd);
    return pool_err (EFBIG, "%s: file is too large (more than %zu bytes)", path, max);
  }
  buf = malloc (max + 1);
  if (!buf) {
    close (fd);
    return pool_err (ENOMEM, "out of memory");
  }
  for (;;) {
    ssize_t r = read (fd, buf + len, max - len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      int e = errno;
      close (fd);
      free (buf);
      return pool_err (e, "%s: %s", path, strerror (e));
    }
    if (r == 0)
      break;
    len += r;
    if (len == max) {
      char c;
      if (read (fd, &c, 1) > 0) {
        close (fd);
        free (buf);
        return pool_err (EFBIG, "%s: file is too large (more than %zu bytes)", path, max);
      }
      break;
    }
  }
  close (fd);
  buf[len] = 0;
  *out = buf;
  if (lenp)
    *lenp = len;
  return 0;
}

int
pool_mkdir_p (const char *path, mode_t mode)
{
  char buf[PATH_MAX];
  size_t l = strlen (path);

  if (l == 0 || l >= sizeof buf)
    return pool_err (ENAMETOOLONG, "%s: bad path", path);
  memcpy (buf, path, l + 1);
  for (char *p = buf + 1; ; p++) {
    if (*p == '/' || *p == 0) {
      char c = *p;
      *p = 0;
      if (mkdir (buf, c ? 0755 : mode) < 0 && errno != EEXIST)
        return pool_err (errno, "cannot create directory '%s': %s", buf, strerror (errno));
      *p = c;
      if (!c)
        break;
    }
  }
  return 0;
}

bool
pool_dir_is_empty (const char *path)
{
  DIR *d = opendir (path);
  struct dirent *e;
  bool empty = true;

  if (!d)
    return errno == ENOENT;
  while ((e = readdir (d)))
    if (strcmp (e->d_name, ".") && strcmp (e->d_name, "..")) {
      empty = false;
      break;
    }
  closedir (d);
  return empty;
}

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void
unescape (char *s)
{
  char *o = s;
  while (*s) {
    if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
        s[3] >= '0' && s[3] <= '7') {
      *o++ = (char) ((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
      s += 4;
    }
    else
      *o++ = *s++;
  }
  *o = 0;
}

bool
pool_is_mounted (const char *path, char **source)
{
  char canon[PATH_MAX], *line = NULL;
  size_t cap = 0;
  bool found = false;
  FILE *f;

  if (source)
    *source = NULL;
  if (!realpath (path, canon))
    return false;
  f = fopen ("/proc/self/mountinfo", "re");
  if (!f)
    return false;
  while (getline (&line, &cap, f) > 0) {
    /* id parent major:minor root mountpoint opts... - fstype source sopts */
    char *fields[5], *save = NULL, *p = line, *dash, *src;
    int i;
    for (i = 0; i < 5; i++, p = NULL)
      if (!(fields[i] = strtok_r (p, " \n", &save)))
        break;
    if (i < 5)
      continue;
    unescape (fields[4]);
    if (strcmp (fields[4], canon) != 0)
      continue;
    found = true;   /* the last match wins: it is the top mount */
    if (source) {
      free (*source);
      *source = NULL;
      dash = strstr (save ? save : "", " - ");
      if (dash && strtok_r (dash + 3, " \n", &save) && (src = strtok_r (NULL, " \n", &save))) {
        unescape (src);
        *source = strdup (src);
      }
    }
  }
  free (line);
  fclose (f);
  return found;
}

int
pool_uuid_generate (char out[37])
{
  unsigned char b[16];
  size_t got = 0;

  while (got < sizeof b) {
    ssize_t r = getrandom (b + got, sizeof b - got, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return pool_err (errno, "getrandom: %s", strerror (errno));
    got += r;
  }
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  snprintf (out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
            b[12], b[13], b[14], b[15]);
  return 0;
}

bool
pool_uuid_valid (const char *s)
{
  if (strlen (s) != 36)
    return false;
  for (int i = 0; i < 36; i++) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    char c = s[i];
    if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                            (c >= 'A' && c <= 'F')))
      return false;
  }
  return true;
}

/* What mkfs or a partitioner would destroy.  Offsets from each format's
 * specification (superblock magics). */
int
pool_sniff_signature (const char *path, char *what, size_t whatlen)
{
  enum { LEN = 68 * 1024 };
  static const struct { size_t off; const char *magic; size_t len; const char *name; } sigs[] = {
    { 1024 + 56, "\x53\xef", 2, "ext2/3/4 filesystem" },
    { 0, "XFSB", 4, "xfs filesystem" },
    { 65536 + 64, "_BHRfS_M", 8, "btrfs filesystem" },
    { 0, "LUKS\xba\xbe", 6, "LUKS volume" },
    { 512, "EFI PART", 8, "GPT partition table" },
    { 512 + 24, "LVM2 001", 8, "LVM2 physical volume" },
    { 4096 - 10, "SWAPSPACE2", 10, "swap space" },
    { 32769, "CD001", 5, "iso9660 filesystem" },
    { 0x10040, "ReIsEr", 6, "reiserfs filesystem" },
  };
  unsigned char *buf;
  ssize_t got;
  size_t n = 0;
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    return pool_err (errno, "%s: %s", path, strerror (errno));
  buf = calloc (1, LEN);
  if (!buf) {
    close (fd);
    return pool_err (ENOMEM, "out of memory");
  }
  while (n < LEN && (got = pread (fd, buf + n, LEN - n, n)) != 0) {
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0) {
      int e = errno;
      close (fd);
      free (buf);
      return pool_err (e, "%s: read error: %s", path, strerror (e));
    }
    n += got;
  }
  close (fd);
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (sigs[i].off + sigs[i].len <= n && memcmp (buf + sigs[i].off, sigs[i].magic, sigs[i].len) == 0) {
      snprintf (what, whatlen, "%s", sigs[i].name);
      free (buf);
      return 1;
    }
  /* FAT boot sector: "FAT" at 54 (FAT12/16) or 82 (FAT32), 0x55AA at 510;
   * otherwise a 0x55AA alone is an MBR partition table. */
  if (n >= 512 && buf[510] == 0x55 && buf[511] == 0xaa) {
    if (memcmp (buf + 54, "FAT", 3) == 0 || memcmp (buf + 82, "FAT", 3) == 0)
      snprintf (what, whatlen, "vfat filesystem");
    else
      snprintf (what, whatlen, "DOS/MBR partition table");
    free (buf);
    return 1;
  }
  /* Sub-4k page swap signatures. */
  for (size_t ps = 8192; ps <= 65536; ps *= 2)
    if (ps <= n && memcmp (buf + ps - 10, "SWAPSPACE2", 10) == 0) {
      snprintf (what, whatlen, "swap space");
      free (buf);
      return 1;
    }
  free (buf);
  return 0;
}
