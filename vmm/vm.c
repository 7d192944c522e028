/* The VM: KVM setup, an ordered lifecycle table, vCPU threads and the exit
 * dispatcher. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "vmm.h"

/* ---- errors ------------------------------------------------------------ */
static __thread char errbuf[1024];

const char *
vm_last_error (void)
{
  return errbuf;
}

int
vm_err (int errnum, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (errbuf, sizeof errbuf, fmt, ap);
  va_end (ap);
  return -errnum;
}

/* A socket file left by a VM that died is removed; a live one (someone
 * accepts connections) or any other file is left alone (bind then fails
 * with EADDRINUSE).  Returns -1 with errno set only for a live socket. */
int
vm_unlink_stale_socket (const char *path)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  struct stat st;
  int fd, r;

  if (lstat (path, &st) < 0 || !S_ISSOCK (st.st_mode) || strlen (path) >= sizeof sun.sun_path)
    return 0;
  strcpy (sun.sun_path, path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return 0;
  r = connect (fd, (struct sockaddr *) &sun, sizeof sun);
  close (fd);
  if (r == 0) {
    errno = EADDRINUSE;
    return -1;
  }
  if (errno == ECONNREFUSED)
    unlink (path);
  return 0;
}

/* ---- I/O regions ------------------------------------------------------- */
static int
add_region (struct vm_io_region *tab, unsigned *n, uint64_t base, uint64_t len,
            vm_io_fn fn, void *opaque)
{
  if (*n >= VM_MAX_REGIONS)
    return vm_err (ENOSPC, "too many I/O regions");
  tab[*n] = (struct vm_io_region) { base, len, fn, opaque };
  (*n)++;
  return 0;
}

int
vm_add_pio (struct vm *vm, uint64_t base, uint64_t len, vm_io_fn fn, void *opaque)
{
  return add_region (vm->pio, &vm->npio, base, len, fn, opaque);
}

int
vm_add_mmio (struct vm *vm, uint64_t base, uint64_t len, vm_io_fn fn, void *opaque)
{
  return add_region (vm->mmio, &vm->nmmio, base, len, fn, opaque);
}

static const struct vm_io_region *
find_region (const struct vm_io_region *tab, unsigned n, uint64_t addr, unsigned len)
{
  for (unsigned i = 0; i < n; i++)
    if (addr >= tab[i].base && addr - tab[i].base < tab[i].len &&
        len <= tab[i].len - (addr - tab[i].base))
      return &tab[i];
  return NULL;
}

void
vm_irq_line (struct vm *vm, unsigned irq, int level)
{
  struct kvm_irq_level il = { .irq = irq, .level = level };

  ioctl (vm->vm_fd, KVM_IRQ_LINE, &il);
}

/* ---- run state --------------------------------------------------------- */
static void
kick_vcpus (struct vm *vm)
{
  for (unsigned i = 0; i < vm->ncpus; i++)
    if (vm->vcpus[i].started) {
      __atomic_store_n (&vm->vcpus[i].run->immediate_exit, 1, __ATOMIC_SEQ_CST);
      pthread_kill (vm->vcpus[i].thread, SIGUSR1);
    }
}

void
vm_request_stop (struct vm *vm, enum vm_stop_reason why, const char *fmt, ...)
{
  va_list ap;

  pthread_mutex_lock (&vm->lock);
  if (vm->stop == VM_RUNNING) {
    vm->stop = why;
    va_start (ap, fmt);
    vsnprintf (vm->stop_msg, sizeof vm->stop_msg, fmt, ap);
    va_end (ap);
  }
  pthread_cond_broadcast (&vm->cond);
  pthread_mutex_unlock (&vm->lock);
  kick_vcpus (vm);
}

void
vm_pause (struct vm *vm)
{
  pthread_mutex_lock (&vm->lock);
  vm->paused = true;
  pthread_mutex_unlock (&vm->lock);
  kick_vcpus (vm);
  /* Wait until every running vCPU has parked. */
  pthread_mutex_lock (&vm->lock);
  while (vm->paused && vm->stop == VM_RUNNING && vm->vcpus_paused < vm->ncpus)
    pthread_cond_wait (&vm->cond, &vm->lock);
  pthread_mutex_unlock (&vm->lock);
}

void
vm_resume (struct vm *vm)
{
  pthread_mutex_lock (&vm->lock);
  vm->paused = false;
  pthread_cond_broadcast (&vm->cond);
  pthread_mutex_unlock (&vm->lock);
}

/* ---- the vCPU loop ----------------------------------------------------- */
static void
exit_io (struct vm_vcpu *c)
{
  struct kvm_run *run = c->run;
  uint8_t *data = (uint8_t *) run + run->io.data_offset;
  bool out = run->io.direction == KVM_EXIT_IO_OUT;
  const struct vm_io_region *r;

  for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
    r = find_region (c->vm->pio, c->vm->npio, run->io.port, run->io.size);
    if (r)
      r->fn (r->opaque, run->io.port - r->base, data, run->io.size, out);
    else if (!out)
      memset (data, 0xff, run->io.size);
  }
}

static void
exit_mmio (struct vm_vcpu *c)
{
  struct kvm_run *run = c->run;
  const struct vm_io_region *r;
  unsigned len = run->mmio.len;

  if (len > sizeof run->mmio.data)
    len = sizeof run->mmio.data;
  r = find_region (c->vm->mmio, c->vm->nmmio, run->mmio.phys_addr, len);
  if (r)
    r->fn (r->opaque, run->mmio.phys_addr - r->base, run->mmio.data, len,
           run->mmio.is_write);
  else if (!run->mmio.is_write)
    memset (run->mmio.data, 0xff, len);
}

static void
exit_internal_error (struct vm_vcpu *c)
{
  struct kvm_run *run = c->run;
  struct kvm_regs regs;
  char data[256] = "";
  size_t o = 0;

  if (ioctl (c->fd, KVM_GET_REGS, &regs) < 0)
    memset (&regs, 0, sizeof regs);
  for (uint32_t i = 0; i < run->internal.ndata && i < 8 && o < sizeof data; i++)
    o += snprintf (data + o, sizeof data - o, " %#llx",
                   (unsigned long long) run->internal.data[i]);
  vm_request_stop (c->vm, VM_STOP_ERROR,
                   "vCPU %u: KVM internal error (suberror %u%s) at rip %#llx; data:%s",
                   c->id, run->internal.suberror,
                   run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
                   ", instruction emulation failed" : "",
                   (unsigned long long) regs.rip, o ? data : " none");
}

/* Returns false when the VM stops. */
static bool
vcpu_park (struct vm_vcpu *c)
{
  struct vm *vm = c->vm;
  bool go;

  pthread_mutex_lock (&vm->lock);
  if (vm->paused && vm->stop == VM_RUNNING) {
    vm->vcpus_paused++;
    pthread_cond_broadcast (&vm->cond);
    while (vm->paused && vm->stop == VM_RUNNING)
      pthread_cond_wait (&vm->cond, &vm->lock);
    vm->vcpus_paused--;
  }
  go = vm->stop == VM_RUNNING;
  pthread_mutex_unlock (&vm->lock);
  return go;
}

static void *
vcpu_thread (void *arg)
{
  struct vm_vcpu *c = arg;
  struct vm *vm = c->vm;
  struct kvm_run *run = c->run;
  sigset_t set;

  sigemptyset (&set);
  sigaddset (&set, SIGUSR1);
  pthread_sigmask (SIG_UNBLOCK, &set, NULL);

  while (vcpu_park (c)) {
    if (ioctl (c->fd, KVM_RUN, 0) < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        __atomic_store_n (&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
        continue;
      }
      vm_request_stop (vm, VM_STOP_ERROR, "vCPU %u: KVM_RUN: %s", c->id, strerror (errno));
      break;
    }
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
      exit_io (c);
      break;
    case KVM_EXIT_MMIO:
      exit_mmio (c);
      break;
    case KVM_EXIT_HLT:
      /* Without the in-kernel LAPIC halting would end here; with it, HLT
       * never exits.  A halted guest with nothing to wake it is done. */
      vm_request_stop (vm, VM_STOP_SHUTDOWN, "vCPU %u halted", c->id);
      break;
    case KVM_EXIT_SHUTDOWN:
      vm_request_stop (vm, VM_STOP_SHUTDOWN, "vCPU %u: triple fault (guest shutdown)", c->id);
      break;
    case KVM_EXIT_SYSTEM_EVENT:
      vm_request_stop (vm, VM_STOP_RESET, "vCPU %u: system event %u", c->id,
                       run->system_event.type);
      break;
    case KVM_EXIT_INTR:
      break;
    case KVM_EXIT_INTERNAL_ERROR:
      exit_internal_error (c);
      break;
    case KVM_EXIT_FAIL_ENTRY:
      vm_request_stop (vm, VM_STOP_ERROR, "vCPU %u: VM entry failed (reason %#llx)", c->id,
                       (unsigned long long) run->fail_entry.hardware_entry_failure_reason);
      break;
    default:
      vm_request_stop (vm, VM_STOP_ERROR, "vCPU %u: unexpected KVM exit reason %u",
                       c->id, run->exit_reason);
      break;
    }
  }
  return NULL;
}

/* SIGINT, SIGTERM and SIGHUP stop the VM cleanly (disks are closed, so
 * format metadata is written); SIGUSR2 ends the signal thread. */
static void *
signal_thread (void *arg)
{
  struct vm *vm = arg;
  sigset_t set;
  int sig;

  sigemptyset (&set);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGHUP);
  sigaddset (&set, SIGUSR2);
  while (sigwait (&set, &sig) == 0) {
    if (sig == SIGUSR2)
      break;
    vm_request_stop (vm, VM_STOP_QUIT, "terminated by signal %d", sig);
  }
  return NULL;
}

static int
step_signals (struct vm *vm)
{
  sigset_t set;
  int r;

  if (!vm->cfg->handle_signals)
    return 0;
  sigemptyset (&set);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGHUP);
  sigaddset (&set, SIGUSR2);
  pthread_sigmask (SIG_BLOCK, &set, &vm->old_sigmask);
  r = pthread_create (&vm->signal_thread, NULL, signal_thread, vm);
  if (r) {
    pthread_sigmask (SIG_SETMASK, &vm->old_sigmask, NULL);
    return vm_err (r, "cannot start the signal thread: %s", strerror (r));
  }
  vm->have_signal_thread = true;
  return 0;
}

static void
unstep_signals (struct vm *vm)
{
  if (!vm->have_signal_thread)
    return;
  pthread_kill (vm->signal_thread, SIGUSR2);
  pthread_join (vm->signal_thread, NULL);
  vm->have_signal_thread = false;
  pthread_sigmask (SIG_SETMASK, &vm->old_sigmask, NULL);
}

static void
sigusr1_handler (int sig)
{
  (void) sig;
}

/* ---- lifecycle steps ---------------------------------------------------- */
static int
step_kvm (struct vm *vm)
{
  int v;

  vm->kvm_fd = open ("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (vm->kvm_fd < 0) {
    int e = errno;
    if (e == ENOENT)
      return vm_err (e, "/dev/kvm does not exist: KVM is not available on this host "
                     "(load kvm-intel or kvm-amd, or enable nested virtualization)");
    return vm_err (e, "/dev/kvm: %s%s", strerror (e),
                   e == EACCES ? " (add yourself to the 'kvm' group)" : "");
  }
  v = ioctl (vm->kvm_fd, KVM_GET_API_VERSION, 0);
  if (v < 0)
    return vm_err (ENODEV, "/dev/kvm is not a KVM device (%s)", strerror (errno));
  if (v != KVM_API_VERSION)
    return vm_err (ENOTSUP, "/dev/kvm: unsupported KVM API version %d", v);
  if (ioctl (vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP) <= 0 ||
      ioctl (vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) <= 0)
    return vm_err (ENOTSUP, "/dev/kvm: the in-kernel irqchip or user memory is not supported");
  vm->run_size = ioctl (vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
  if ((long) vm->run_size < (long) sizeof (struct kvm_run))
    return vm_err (ENOTSUP, "/dev/kvm: bad vCPU mmap size");
  return 0;
}

static void
unstep_kvm (struct vm *vm)
{
  if (vm->kvm_fd >= 0)
    close (vm->kvm_fd);
}

static int
step_vm (struct vm *vm)
{
  struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
  uint64_t idmap = 0xfffbc000;

  do
    vm->vm_fd = ioctl (vm->kvm_fd, KVM_CREATE_VM, 0);
  while (vm->vm_fd < 0 && errno == EINTR);
  if (vm->vm_fd < 0)
    return vm_err (errno, "KVM_CREATE_VM: %s", strerror (errno));
  /* Intel needs these two pages below 4 GiB, outside RAM and MMIO. */
  ioctl (vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000);
  ioctl (vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap);
  if (ioctl (vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
    return vm_err (errno, "KVM_CREATE_IRQCHIP: %s", strerror (errno));
  if (ioctl (vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
    return vm_err (errno, "KVM_CREATE_PIT2: %s", strerror (errno));
  return 0;
}

static void
unstep_vm (struct vm *vm)
{
  if (vm->vm_fd >= 0)
    close (vm->vm_fd);
}

static int
step_memory (struct vm *vm)
{
  struct kvm_userspace_memory_region r;

  vm->ram_size = vm->cfg->ram_size;
  vm->low_size = vm->ram_size < VM_LOW_MAX ? vm->ram_size : VM_LOW_MAX;
  vm->high_size = vm->ram_size - vm->low_size;
  vm->ram = mmap (NULL, vm->ram_size, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (vm->ram == MAP_FAILED) {
    vm->ram = NULL;
    return vm_err (errno, "cannot allocate %llu MiB of guest memory: %s",
                   (unsigned long long) (vm->ram_size >> 20), strerror (errno));
  }
  r = (struct kvm_userspace_memory_region) {
    .slot = 0, .guest_phys_addr = 0, .memory_size = vm->low_size,
    .userspace_addr = (uintptr_t) vm->ram,
  };
  if (ioctl (vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
    return vm_err (errno, "KVM_SET_USER_MEMORY_REGION: %s", strerror (errno));
  if (vm->high_size) {
    r = (struct kvm_userspace_memory_region) {
      .slot = 1, .guest_phys_addr = VM_HIGH_BASE, .memory_size = vm->high_size,
      .userspace_addr = (uintptr_t) (vm->ram + vm->low_size),
    };
    if (ioctl (vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
      return vm_err (errno, "KVM_SET_USER_MEMORY_REGION (above 4 GiB): %s", strerror (errno));
  }
  return 0;
}

static void
unstep_memory (struct vm *vm)
{
  if (vm->ram)
    munmap (vm->ram, vm->ram_size);
}

static int
step_vcpus (struct vm *vm)
{
  int r;

  for (unsigned i = 0; i < vm->cfg->ncpus; i++) {
    struct vm_vcpu *c = &vm->vcpus[i];
    c->vm = vm;
    c->id = i;
    c->fd = ioctl (vm->vm_fd, KVM_CREATE_VCPU, i);
    if (c->fd < 0)
      return vm_err (errno, "KVM_CREATE_VCPU %u: %s", i, strerror (errno));
    vm->ncpus++;
    c->run = mmap (NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
    if (c->run == MAP_FAILED) {
      c->run = NULL;
      return vm_err (errno, "mmap vCPU %u: %s", i, strerror (errno));
    }
    if ((r = vm_setup_cpuid (vm, c)) < 0)
      return r;
  }
  return 0;
}

static void
unstep_vcpus (struct vm *vm)
{
  for (unsigned i = 0; i < vm->ncpus; i++) {
    if (vm->vcpus[i].run)
      munmap (vm->vcpus[i].run, vm->run_size);
    close (vm->vcpus[i].fd);
  }
}

static int
step_devices (struct vm *vm)
{
  struct kvm_ioeventfd pio80;
  int r;

  /* Linux's io_delay writes port 0x80 all the time: absorb those writes in
   * the kernel (an ioeventfd nobody reads) instead of exiting to us. */
  vm->port80_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (vm->port80_fd >= 0) {
    pio80 = (struct kvm_ioeventfd) { .addr = 0x80, .len = 1, .fd = vm->port80_fd,
                                     .flags = KVM_IOEVENTFD_FLAG_PIO };
    ioctl (vm->vm_fd, KVM_IOEVENTFD, &pio80);
  }

  if ((r = serial_create (vm, vm->cfg->console, vm->cfg->console_path)) < 0 || (r = i8042_create (vm)) < 0)
    return r;
  return virtio_create_devices (vm);
}

static void
unstep_devices (struct vm *vm)
{
  virtio_destroy_devices (vm);
  i8042_destroy (vm);
  serial_destroy (vm);
  if (vm->port80_fd >= 0) {
    struct kvm_ioeventfd pio80 = { .addr = 0x80, .len = 1, .fd = vm->port80_fd,
                                   .flags = KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DEASSIGN };
    ioctl (vm->vm_fd, KVM_IOEVENTFD, &pio80);
    close (vm->port80_fd);
    vm->port80_fd = -1;
  }
}

static int
step_boot (struct vm *vm)
{
  int r = vm_load_kernel (vm);

  if (r < 0)
    return r;
  return vm_setup_cpu_state (vm, &vm->vcpus[0]);
}

static int
step_api (struct vm *vm)
{
  return vm->cfg->api_path ? api_create (vm, vm->cfg->api_path) : 0;
}

static void
unstep_api (struct vm *vm)
{
  api_destroy (vm);
}

static int
step_threads (struct vm *vm)
{
  struct sigaction sa = { .sa_handler = sigusr1_handler };
  sigset_t set, old;
  int r = 0;

  sigaction (SIGUSR1, &sa, NULL);
  /* vCPU threads unblock SIGUSR1 themselves. */
  sigemptyset (&set);
  sigaddset (&set, SIGUSR1);
  pthread_sigmask (SIG_BLOCK, &set, &old);
  for (unsigned i = 0; i < vm->ncpus; i++) {
    r = pthread_create (&vm->vcpus[i].thread, NULL, vcpu_thread, &vm->vcpus[i]);
    if (r) {
      r = vm_err (r, "cannot start vCPU thread: %s", strerror (r));
      break;
    }
    vm->vcpus[i].started = true;
  }
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  return r;
}

static void
unstep_threads (struct vm *vm)
{
  vm_request_stop (vm, VM_STOP_QUIT, "stopped");
  for (unsigned i = 0; i < vm->ncpus; i++)
    if (vm->vcpus[i].started) {
      pthread_join (vm->vcpus[i].thread, NULL);
      vm->vcpus[i].started = false;
    }
}

/* The lifecycle: run in order, undone in reverse on failure or at exit.
 * Each exit function also undoes a partial init of its own step. */
static const struct step {
  const char *name;
  int (*init) (struct vm *vm);
  void (*exit) (struct vm *vm);
} steps[] = {
  { "signals", step_signals, unstep_signals },
  { "kvm", step_kvm, unstep_kvm },
  { "vm", step_vm, unstep_vm },
  { "memory", step_memory, unstep_memory },
  { "vcpus", step_vcpus, unstep_vcpus },
  { "devices", step_devices, unstep_devices },
  { "boot", step_boot, NULL },
  { "api", step_api, unstep_api },
  { "threads", step_threads, unstep_threads },
};

static int
check_config (const struct vm_config *cfg)
{
  if (!cfg->kernel)
    return vm_err (EINVAL, "no kernel given");
  if (cfg->ncpus < 1 || cfg->ncpus > VM_MAX_CPUS)
    return vm_err (EINVAL, "%u vCPUs: must be 1 to %d", cfg->ncpus, VM_MAX_CPUS);
  if (cfg->ram_size < VM_RAM_MIN || cfg->ram_size > VM_RAM_MAX ||
      cfg->ram_size % (2ULL << 20))
    return vm_err (EINVAL, "memory size %llu MiB: must be a multiple of 2 MiB between "
                   "%llu MiB and %llu MiB", (unsigned long long) (cfg->ram_size >> 20),
                   (unsigned long long) (VM_RAM_MIN >> 20),
                   (unsigned long long) (VM_RAM_MAX >> 20));
  if (cfg->ndisks > VM_MAX_DISKS)
    return vm_err (EINVAL, "too many disks (at most %d)", VM_MAX_DISKS);
  return 0;
}

int
vm_run (const struct vm_config *cfg, enum vm_stop_reason *reason, char **message)
{
  struct vm *vm;
  size_t done = 0;
  int r;

  *reason = VM_RUNNING;
  *message = NULL;
  if ((r = check_config (cfg)) < 0)
    return r;
  vm = calloc (1, sizeof *vm);
  if (!vm)
    return vm_err (ENOMEM, "out of memory");
  vm->cfg = cfg;
  vm->kvm_fd = vm->vm_fd = vm->port80_fd = -1;
  pthread_mutex_init (&vm->lock, NULL);
  pthread_cond_init (&vm->cond, NULL);

  for (; done < sizeof steps / sizeof steps[0]; done++) {
    r = steps[done].init (vm);
    if (r < 0)
      break;
  }
  if (r == 0) {
    pthread_mutex_lock (&vm->lock);
    while (vm->stop == VM_RUNNING)
      pthread_cond_wait (&vm->cond, &vm->lock);
    pthread_mutex_unlock (&vm->lock);
    *reason = vm->stop;
    *message = strdup (vm->stop_msg);
    if (vm->stop == VM_STOP_ERROR)
      r = vm_err (EIO, "%s", vm->stop_msg);
  }
  else {
    char saved[1024];
    snprintf (saved, sizeof saved, "%s", vm_last_error ());
    /* The failed step undoes its own partial work too: exits cope with it. */
    done++;
    while (done-- > 0)
      if (steps[done].exit)
        steps[done].exit (vm);
    vm_err (-r, "%s", saved);
    done = 0;
  }
  while (done-- > 0)
    if (steps[done].exit)
      steps[done].exit (vm);
  free (vm->cmdline);
  pthread_cond_destroy (&vm->cond);
  pthread_mutex_destroy (&vm->lock);
  free (vm);
  return r;
}
