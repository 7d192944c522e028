/* vmm: a small KVM virtual machine monitor (x86-64, direct kernel boot,
 * 8250 console, i8042, virtio-mmio blk and rng, JSON control socket).
 *
 * Errors follow libdisk's convention: functions return 0 or -errno and
 * leave a message in a per-thread buffer (vm_last_error()).  The library
 * never calls exit(); it prints only the guest's console output. */
#ifndef VDK_VMM_H
#define VDK_VMM_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vdk/disk.h"

#define VM_ATTR_FORMAT(a, b) __attribute__((format (printf, a, b)))

/* Guest physical layout. */
#define VM_GDT_ADDR        0x500ULL
#define VM_BOOT_PARAMS     0x7000ULL
#define VM_PML4_ADDR       0x9000ULL    /* + PDPT 0xa000, 4 PDs 0xb000..0xe000 */
#define VM_CMDLINE_ADDR    0x20000ULL
#define VM_CMDLINE_MAX     4096
#define VM_MPTABLE_ADDR    0xf0000ULL
#define VM_KERNEL_ADDR     0x100000ULL
#define VM_MMIO_BASE       0xd0000000ULL /* virtio-mmio windows, 4 KiB each */
#define VM_MMIO_SIZE       0x1000ULL
#define VM_LOW_MAX         0xc0000000ULL /* low RAM stays below the MMIO hole, */
#define VM_HIGH_BASE       0x100000000ULL /* the rest is mapped from 4 GiB */
#define VM_RAM_MAX         (256ULL << 30)
#define VM_RAM_MIN         (16ULL << 20)
#define VM_MAX_CPUS        32
#define VM_MAX_DISKS       8
#define VM_MAX_VIRTIO      (VM_MAX_DISKS + 1)

/* ---- errors ------------------------------------------------------------ */
const char *vm_last_error (void);
int vm_err (int errnum, const char *fmt, ...) VM_ATTR_FORMAT (2, 3);

/* ---- configuration ----------------------------------------------------- */
struct vm_disk_config {
  const char *spec;       /* libdisk spec */
  const char *format;     /* NULL: probe */
  const char *cache;      /* NULL: writeback */
  const char *serial;     /* virtio-blk ID (20 bytes max), NULL: "vdk-diskN" */
  bool readonly;
};

enum vm_console { VM_CONSOLE_STDIO, VM_CONSOLE_NONE, VM_CONSOLE_PTY, VM_CONSOLE_UNIX };

struct vm_config {
  const char *kernel;     /* a file, or the name of kernel_data in messages */
  const char *initrd;     /* may be NULL */
  /* Kernel and initrd already in memory (vdk run IMAGE reads them out of
   * the guest): used instead of reading the files when set. */
  const void *kernel_data;
  size_t kernel_size;
  const void *initrd_data;  /* with initrd naming it */
  size_t initrd_size;
  const char *cmdline;    /* may be NULL */
  uint64_t ram_size;      /* bytes */
  unsigned ncpus;
  struct vm_disk_config disks[VM_MAX_DISKS];
  unsigned ndisks;
  bool rng;
  enum vm_console console;
  const char *console_path; /* VM_CONSOLE_UNIX: socket path */
  const char *api_path;   /* unix socket path, or NULL */
  bool handle_signals;    /* SIGINT/SIGTERM/SIGHUP stop the VM cleanly */
};

/* Why the VM stopped. */
enum vm_stop_reason {
  VM_RUNNING = 0,
  VM_STOP_RESET,          /* i8042 reset (guest reboot) */
  VM_STOP_SHUTDOWN,       /* triple fault */
  VM_STOP_QUIT,           /* quit on the control socket */
  VM_STOP_ERROR,          /* internal error, message in vm->stop_msg */
};

struct vm;

/* Create, boot and run a VM until it stops.  Returns 0 when the guest
 * reset or was told to quit, -errno on failure (message in vm_last_error),
 * and the stop reason in *REASON. */
int vm_run (const struct vm_config *cfg, enum vm_stop_reason *reason, char **message);

/* ---- internals shared by the vmm files ---------------------------------- */
struct vm_vcpu {
  struct vm *vm;
  unsigned id;
  int fd;
  struct kvm_run *run;
  pthread_t thread;
  bool started;
};

/* A port-I/O or MMIO handler: DATA is LEN bytes (1, 2, 4 or 8). */
typedef void (*vm_io_fn) (void *opaque, uint64_t offset, uint8_t *data,
                          unsigned len, bool is_write);

struct vm_io_region {
  uint64_t base, len;
  vm_io_fn fn;
  void *opaque;
};

#define VM_MAX_REGIONS 24

struct serial;
struct i8042;
struct virtio_dev;
struct vm_api;

struct vm {
  const struct vm_config *cfg;
  int kvm_fd, vm_fd;
  int port80_fd;           /* absorbs io_delay writes to port 0x80 */
  size_t run_size;
  uint8_t *ram;            /* low RAM, then high RAM */
  uint64_t ram_size, low_size, high_size;
  struct vm_vcpu vcpus[VM_MAX_CPUS];
  unsigned ncpus;

  struct vm_io_region pio[VM_MAX_REGIONS], mmio[VM_MAX_REGIONS];
  unsigned npio, nmmio;

  struct serial *serial;
  struct i8042 *i8042;
  struct virtio_dev *virtio[VM_MAX_VIRTIO];
  unsigned nvirtio;
  struct vm_api *api;
  char *cmdline;           /* the final command line (with virtio_mmio.device=) */

  /* Boot: where the kernel starts. */
  uint64_t entry;

  pthread_t signal_thread;
  bool have_signal_thread;
  sigset_t old_sigmask;

  /* Run state: protected by lock. */
  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool paused;
  unsigned vcpus_paused;   /* vCPU threads parked while paused */
  enum vm_stop_reason stop;
  char stop_msg[512];
};

/* Is [gpa, gpa+len) guest RAM (in one piece)?  Returns the host pointer
 * or NULL. */
static inline void *
vm_gpa (struct vm *vm, uint64_t gpa, uint64_t len)
{
  if (gpa <= vm->low_size && len <= vm->low_size - gpa)
    return vm->ram + gpa;
  if (gpa >= VM_HIGH_BASE && gpa - VM_HIGH_BASE <= vm->high_size &&
      len <= vm->high_size - (gpa - VM_HIGH_BASE))
    return vm->ram + vm->low_size + (gpa - VM_HIGH_BASE);
  return NULL;
}

int vm_add_pio (struct vm *vm, uint64_t base, uint64_t len, vm_io_fn fn, void *opaque);
int vm_add_mmio (struct vm *vm, uint64_t base, uint64_t len, vm_io_fn fn, void *opaque);
/* Raise or lower an interrupt line (GSI). */
void vm_irq_line (struct vm *vm, unsigned irq, int level);
/* Stop the VM (from any thread); the first reason wins. */
void vm_request_stop (struct vm *vm, enum vm_stop_reason why, const char *fmt, ...)
  VM_ATTR_FORMAT (3, 4);
void vm_pause (struct vm *vm);
void vm_resume (struct vm *vm);

/* boot.c */
int vm_load_kernel (struct vm *vm);
int vm_setup_cpu_state (struct vm *vm, struct vm_vcpu *bsp);
int vm_setup_cpuid (struct vm *vm, struct vm_vcpu *c);

/* serial.c */
#define SERIAL_IRQ 4
int serial_create (struct vm *vm, enum vm_console console, const char *path);
void serial_destroy (struct vm *vm);

/* i8042.c */
#define I8042_IRQ 1
int i8042_create (struct vm *vm);
void i8042_destroy (struct vm *vm);
/* Type Ctrl-Alt-Del on the keyboard (graceful shutdown request). */
void i8042_ctrl_alt_del (struct vm *vm);

/* virtio.c, blk.c, rng.c */
int virtio_create_devices (struct vm *vm);
void virtio_destroy_devices (struct vm *vm);
/* Block statistics for query-block. */
struct blk_stats {
  uint64_t rd_bytes, wr_bytes, rd_ops, wr_ops, flush_ops, discard_ops,
    write_zeroes_ops, failed_ops, invalid_ops;
};
struct blk_info {
  char name[16];
  const char *spec, *format;
  uint64_t size;
  bool readonly;
  struct blk_stats stats;
};
/* Fill INFO for the Nth disk; false when there is no such disk. */
bool virtio_blk_query (struct vm *vm, unsigned n, struct blk_info *info);

/* Remove PATH if it is a unix socket nobody listens on any more. */
int vm_unlink_stale_socket (const char *path);

/* api.c */
int api_create (struct vm *vm, const char *path);
void api_destroy (struct vm *vm);

#endif
