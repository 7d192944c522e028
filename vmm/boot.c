/* Direct kernel boot through the Linux x86 64-bit boot protocol
 * (Documentation/arch/x86/boot.rst): a bzImage or an ELF vmlinux, with
 * boot_params (e820, command line, initrd), an MP table for SMP, identity
 * page tables and a flat GDT so the kernel starts in long mode. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "vmm.h"

#define KERNEL_FILE_MAX (512ULL << 20)

/* boot_params (the "zero page") offsets. */
#define BP_E820_ENTRIES  0x1e8
#define BP_HDR           0x1f1
#define BP_E820_TABLE    0x2d0
#define BP_E820_MAX      128
/* setup header offsets (relative to the start of the zero page / image) */
#define HDR_SETUP_SECTS  0x1f1
#define HDR_BOOT_FLAG    0x1fe
#define HDR_JUMP         0x200
#define HDR_HEADER       0x202
#define HDR_VERSION      0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS    0x211
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_HEAP_END_PTR 0x224
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_XLOADFLAGS   0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE    0x260

#define LOADED_HIGH   0x01
#define CAN_USE_HEAP  0x80
#define XLF_KERNEL_64 0x01

static inline uint16_t ld16 (const uint8_t *p) { return p[0] | p[1] << 8; }
static inline uint32_t ld32 (const uint8_t *p) { return ld16 (p) | (uint32_t) ld16 (p + 2) << 16; }
static inline void st16 (uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static inline void st32 (uint8_t *p, uint32_t v) { st16 (p, v); st16 (p + 2, v >> 16); }
static inline void st64 (uint8_t *p, uint64_t v) { st32 (p, v); st32 (p + 4, v >> 32); }

static int
read_file (const char *path, const char *what, uint8_t **out, size_t *len)
{
  struct stat st;
  uint8_t *buf;
  size_t o = 0;
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    return vm_err (errno, "%s: cannot open %s: %s", path, what, strerror (errno));
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)) {
    close (fd);
    return vm_err (EINVAL, "%s: the %s is not a regular file", path, what);
  }
  if ((uint64_t) st.st_size > KERNEL_FILE_MAX) {
    close (fd);
    return vm_err (EFBIG, "%s: the %s is too large (%lld bytes)", path, what,
                   (long long) st.st_size);
  }
  buf = malloc (st.st_size ? st.st_size : 1);
  if (!buf) {
    close (fd);
    return vm_err (ENOMEM, "out of memory");
  }
  while (o < (size_t) st.st_size) {
    ssize_t n = read (fd, buf + o, st.st_size - o);
    if (n <= 0) {
      int e = n < 0 ? errno : EIO;
      free (buf);
      close (fd);
      return vm_err (e, "%s: read error: %s", path, strerror (e));
    }
    o += n;
  }
  close (fd);
  *out = buf;
  *len = o;
  return 0;
}

/* ELF vmlinux: PT_LOAD segments at their physical addresses. */
static int
load_elf (struct vm *vm, const char *path, const uint8_t *k, size_t klen, uint64_t *end)
{
  const Elf64_Ehdr *eh = (const void *) k;
  uint64_t entry = eh->e_entry;
  bool entry_ok = false;
  unsigned nload = 0;

  if (klen < sizeof *eh || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
      eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_X86_64)
    return vm_err (ENOEXEC, "%s: not a little-endian x86-64 ELF file", path);
  if (eh->e_type != ET_EXEC)
    return vm_err (ENOEXEC, "%s: ELF file is not an executable", path);
  if (eh->e_phentsize != sizeof (Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum > 64 ||
      eh->e_phoff > klen || (uint64_t) eh->e_phnum * sizeof (Elf64_Phdr) > klen - eh->e_phoff)
    return vm_err (ENOEXEC, "%s: bad ELF program header table", path);
  *end = 0;
  for (unsigned i = 0; i < eh->e_phnum; i++) {
    Elf64_Phdr ph;
    memcpy (&ph, k + eh->e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
      continue;
    if (ph.p_filesz > ph.p_memsz || ph.p_offset > klen || ph.p_filesz > klen - ph.p_offset)
      return vm_err (ENOEXEC, "%s: ELF segment %u lies outside the file", path, i);
    if (ph.p_paddr < VM_KERNEL_ADDR || !vm_gpa (vm, ph.p_paddr, ph.p_memsz))
      return vm_err (ENOEXEC, "%s: ELF segment %u at physical %#llx (+%#llx) does not fit "
                     "in guest RAM above 1 MiB (%llu MiB)", path, i,
                     (unsigned long long) ph.p_paddr, (unsigned long long) ph.p_memsz,
                     (unsigned long long) (vm->ram_size >> 20));
    uint8_t *dst = vm_gpa (vm, ph.p_paddr, ph.p_memsz);
    memcpy (dst, k + ph.p_offset, ph.p_filesz);
    memset (dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
    if (ph.p_paddr + ph.p_memsz > *end)
      *end = ph.p_paddr + ph.p_memsz;
    nload++;
    /* vmlinux's entry is the physical startup_64; accept a virtual one too. */
    if (entry >= ph.p_paddr && entry - ph.p_paddr < ph.p_memsz)
      entry_ok = true;
    else if (!entry_ok && entry >= ph.p_vaddr && entry - ph.p_vaddr < ph.p_memsz) {
      entry = entry - ph.p_vaddr + ph.p_paddr;
      entry_ok = true;
    }
  }
  if (nload == 0)
    return vm_err (ENOEXEC, "%s: ELF file has no loadable segment", path);
  if (!entry_ok)
    return vm_err (ENOEXEC, "%s: ELF entry point %#llx is not inside a loaded segment",
                   path, (unsigned long long) eh->e_entry);
  vm->entry = entry;
  return 0;
}

/* bzImage: real-mode setup (only its header is used), then the protected-mode
 * kernel, loaded at 1 MiB and entered at its 64-bit entry (+0x200). */
static int
load_bzimage (struct vm *vm, const char *path, const uint8_t *k, size_t klen,
              uint8_t *bp, uint64_t *end, uint32_t *cmdline_max, uint32_t *initrd_max)
{
  unsigned setup_sects = k[HDR_SETUP_SECTS] ? k[HDR_SETUP_SECTS] : 4;
  uint16_t version = ld16 (k + HDR_VERSION);
  size_t setup_len = (size_t) (setup_sects + 1) * 512, hdr_end;
  uint64_t pm_len, init_size, pref;

  if (version < 0x020c)
    return vm_err (ENOEXEC, "%s: boot protocol %u.%02u is too old (2.12 or later is needed "
                   "for 64-bit entry)", path, version >> 8, version & 0xff);
  if (!(k[HDR_LOADFLAGS] & LOADED_HIGH))
    return vm_err (ENOEXEC, "%s: not a bzImage (zImage kernels are not supported)", path);
  if (!(ld16 (k + HDR_XLOADFLAGS) & XLF_KERNEL_64))
    return vm_err (ENOEXEC, "%s: kernel has no 64-bit entry point (not an x86-64 kernel?)",
                   path);
  if (setup_len >= klen)
    return vm_err (ENOEXEC, "%s: setup (%zu bytes) is larger than the file", path, setup_len);
  pm_len = klen - setup_len;
  init_size = ld32 (k + HDR_INIT_SIZE);
  if (init_size < pm_len)
    init_size = pm_len;
  /* The decompressor moves the kernel to pref_address (16 MiB usually)
   * and needs init_size bytes there. */
  pref = ld32 (k + HDR_PREF_ADDRESS) | (uint64_t) ld32 (k + HDR_PREF_ADDRESS + 4) << 32;
  if (pref < VM_KERNEL_ADDR || pref > VM_RAM_MAX)
    pref = VM_KERNEL_ADDR;
  if (!vm_gpa (vm, VM_KERNEL_ADDR, pm_len) || !vm_gpa (vm, pref, init_size))
    return vm_err (ENOEXEC, "%s: the kernel needs %llu MiB from %llu MiB: more than the "
                   "guest's %llu MiB of memory", path,
                   (unsigned long long) ((init_size + 0xfffff) >> 20),
                   (unsigned long long) (pref >> 20),
                   (unsigned long long) (vm->ram_size >> 20));
  memcpy (vm->ram + VM_KERNEL_ADDR, k + setup_len, pm_len);
  /* The setup header runs from 0x1f1 to 0x202 + the jump's offset byte. */
  hdr_end = 0x202 + k[HDR_JUMP + 1];
  if (hdr_end > 0x290)
    hdr_end = 0x290;
  memcpy (bp + BP_HDR, k + BP_HDR, hdr_end - BP_HDR);
  *end = VM_KERNEL_ADDR + pm_len > pref + init_size ? VM_KERNEL_ADDR + pm_len : pref + init_size;
  *cmdline_max = ld32 (k + HDR_CMDLINE_SIZE);
  *initrd_max = ld32 (k + HDR_INITRD_ADDR_MAX);
  vm->entry = VM_KERNEL_ADDR + 0x200;
  return 0;
}

/* MP table (Intel MultiProcessor Specification 1.4) so the guest finds all
 * CPUs, the I/O APIC and the ISA interrupt routing without ACPI. */
static uint8_t
checksum (const uint8_t *p, size_t n)
{
  uint8_t s = 0;

  while (n--)
    s += *p++;
  return -s;
}

static void
setup_mptable (struct vm *vm)
{
  uint8_t *fp = vm->ram + VM_MPTABLE_ADDR, *cfg = fp + 16, *e = cfg + 44;
  unsigned n = 0;
  uint8_t ioapic_id = vm->ncpus;

  memset (fp, 0, 4096);
  for (unsigned i = 0; i < vm->ncpus; i++, n++, e += 20) {
    e[0] = 0;                       /* processor */
    e[1] = i;                       /* local APIC id */
    e[2] = 0x14;                    /* local APIC version */
    e[3] = 1 | (i == 0 ? 2 : 0);    /* enabled, BSP */
    st32 (e + 4, 0x600);            /* signature: family 6 */
    st32 (e + 8, 0x201);            /* features: FPU, APIC */
  }
  e[0] = 1; e[1] = 0; memcpy (e + 2, "ISA   ", 6); e += 8; n++;
  e[0] = 2; e[1] = ioapic_id; e[2] = 0x11; e[3] = 1; st32 (e + 4, 0xfec00000); e += 8; n++;
  /* ISA IRQ i -> I/O APIC pin i, as KVM's default GSI routing does. */
  for (unsigned irq = 0; irq < 16; irq++, e += 8, n++) {
    e[0] = 3; e[1] = 0; st16 (e + 2, 0); e[4] = 0; e[5] = irq; e[6] = ioapic_id; e[7] = irq;
  }
  /* Local interrupts: ExtINT on LINT0, NMI on LINT1 of every CPU. */
  e[0] = 4; e[1] = 3; st16 (e + 2, 0); e[4] = 0; e[5] = 0; e[6] = 0xff; e[7] = 0; e += 8; n++;
  e[0] = 4; e[1] = 1; st16 (e + 2, 0); e[4] = 0; e[5] = 0; e[6] = 0xff; e[7] = 1; e += 8; n++;

  memcpy (cfg, "PCMP", 4);
  st16 (cfg + 4, e - cfg);
  cfg[6] = 4;
  memcpy (cfg + 8, "VDK     ", 8);
  memcpy (cfg + 16, "VDK-VM      ", 12);
  st16 (cfg + 34, n);
  st32 (cfg + 36, 0xfee00000);
  cfg[7] = checksum (cfg, e - cfg);

  memcpy (fp, "_MP_", 4);
  st32 (fp + 4, VM_MPTABLE_ADDR + 16);
  fp[8] = 1;
  fp[9] = 4;
  fp[10] = checksum (fp, 16);
}

static void
e820_add (uint8_t *bp, uint64_t addr, uint64_t size, uint32_t type)
{
  uint8_t n = bp[BP_E820_ENTRIES];
  uint8_t *e = bp + BP_E820_TABLE + n * 20;

  st64 (e, addr);
  st64 (e + 8, size);
  st32 (e + 16, type);
  bp[BP_E820_ENTRIES] = n + 1;
}

int
vm_load_kernel (struct vm *vm)
{
  const struct vm_config *cfg = vm->cfg;
  uint8_t *k = NULL, *initrd = NULL, *bp = vm->ram + VM_BOOT_PARAMS;
  size_t klen, ilen = 0, clen;
  uint64_t kend = 0;
  uint32_t cmdline_max = 2048, initrd_max = 0x7fffffff;
  int r;

  if (cfg->kernel_data) {
    if (cfg->kernel_size > KERNEL_FILE_MAX)
      return vm_err (EFBIG, "%s: the kernel is too large (%zu bytes)", cfg->kernel,
                     cfg->kernel_size);
    k = (uint8_t *) cfg->kernel_data;
    klen = cfg->kernel_size;
  }
  else if ((r = read_file (cfg->kernel, "kernel", &k, &klen)) < 0)
    return r;
  memset (bp, 0, 4096);
  if (klen >= 4 && !memcmp (k, ELFMAG, SELFMAG))
    r = load_elf (vm, cfg->kernel, k, klen, &kend);
  else if (klen >= 0x300 && ld16 (k + HDR_BOOT_FLAG) == 0xaa55 &&
           !memcmp (k + HDR_HEADER, "HdrS", 4))
    r = load_bzimage (vm, cfg->kernel, k, klen, bp, &kend, &cmdline_max, &initrd_max);
  else
    r = vm_err (ENOEXEC, "%s: not a kernel vdk can boot (neither an ELF vmlinux nor a "
                "bzImage with the Linux boot protocol)", cfg->kernel);
  if (!cfg->kernel_data)
    free (k);
  if (r < 0)
    return r;

  /* Setup header fields the loader owns. */
  bp[HDR_BOOT_FLAG] = 0x55; bp[HDR_BOOT_FLAG + 1] = 0xaa;
  memcpy (bp + HDR_HEADER, "HdrS", 4);
  if (ld16 (bp + HDR_VERSION) == 0)
    st16 (bp + HDR_VERSION, 0x020f);
  bp[HDR_TYPE_OF_LOADER] = 0xff;
  bp[HDR_LOADFLAGS] |= LOADED_HIGH | CAN_USE_HEAP;
  st16 (bp + HDR_HEAP_END_PTR, 0xfe00);
  if (ld32 (bp + HDR_KERNEL_ALIGNMENT) == 0)
    st32 (bp + HDR_KERNEL_ALIGNMENT, 0x1000000);

  /* Command line. */
  clen = strlen (vm->cmdline);
  if (cmdline_max == 0 || cmdline_max > VM_CMDLINE_MAX)
    cmdline_max = VM_CMDLINE_MAX;
  if (clen + 1 > cmdline_max)
    return vm_err (E2BIG, "the kernel command line is %zu bytes; this kernel accepts at "
                   "most %u", clen, cmdline_max - 1);
  memcpy (vm->ram + VM_CMDLINE_ADDR, vm->cmdline, clen + 1);
  st32 (bp + HDR_CMD_LINE_PTR, VM_CMDLINE_ADDR);
  st32 (bp + HDR_CMDLINE_SIZE, clen + 1);

  /* Initrd: as high as allowed, page aligned, above the kernel. */
  if (cfg->initrd) {
    uint64_t top = vm->low_size, addr;
    if (cfg->initrd_data) {
      if (cfg->initrd_size > KERNEL_FILE_MAX)
        return vm_err (EFBIG, "%s: the initrd is too large (%zu bytes)", cfg->initrd,
                       cfg->initrd_size);
      initrd = (uint8_t *) cfg->initrd_data;
      ilen = cfg->initrd_size;
    }
    else if ((r = read_file (cfg->initrd, "initrd", &initrd, &ilen)) < 0)
      return r;
    if ((uint64_t) initrd_max + 1 < top)
      top = (uint64_t) initrd_max + 1;
    addr = ilen <= top ? (top - ilen) & ~0xfffULL : 0;
    if (ilen > top || addr < ((kend + 0xfff) & ~0xfffULL)) {
      if (!cfg->initrd_data)
        free (initrd);
      return vm_err (ENOMEM, "%s: the initrd (%zu bytes) does not fit in guest memory above "
                     "the kernel", cfg->initrd, ilen);
    }
    memcpy (vm->ram + addr, initrd, ilen);
    if (!cfg->initrd_data)
      free (initrd);
    st32 (bp + HDR_RAMDISK_IMAGE, addr);
    st32 (bp + HDR_RAMDISK_SIZE, ilen);
  }

  e820_add (bp, 0, 0x9fc00, 1);
  e820_add (bp, 0x9fc00, 0x400, 2);
  e820_add (bp, 0xf0000, 0x10000, 2);
  e820_add (bp, VM_KERNEL_ADDR, vm->low_size - VM_KERNEL_ADDR, 1);
  if (vm->high_size)
    e820_add (bp, VM_HIGH_BASE, vm->high_size, 1);
  setup_mptable (vm);
  return 0;
}

/* Long mode for the boot CPU: identity-mapped first 4 GiB (2 MiB pages, so
 * the MMIO windows are reachable too), a flat GDT, paging on. */
int
vm_setup_cpu_state (struct vm *vm, struct vm_vcpu *c)
{
  uint64_t *pml4 = (uint64_t *) (vm->ram + VM_PML4_ADDR);
  uint64_t *pdpt = pml4 + 512, *pd = pml4 + 1024;
  uint64_t *gdt = (uint64_t *) (vm->ram + VM_GDT_ADDR);
  struct kvm_segment code, data;
  struct kvm_sregs sregs;
  struct kvm_regs regs;
  struct kvm_lapic_state lapic;

  memset (pml4, 0, 6 * 4096);
  pml4[0] = (VM_PML4_ADDR + 0x1000) | 3;
  for (unsigned i = 0; i < 4; i++)
    pdpt[i] = (VM_PML4_ADDR + 0x2000 + i * 0x1000) | 3;
  for (uint64_t i = 0; i < 4 * 512; i++)
    pd[i] = (i << 21) | 0x83;
  gdt[0] = 0;
  gdt[1] = 0;
  gdt[2] = 0x00af9b000000ffffULL;   /* 0x10: 64-bit code */
  gdt[3] = 0x00cf93000000ffffULL;   /* 0x18: data */

  if (ioctl (c->fd, KVM_GET_SREGS, &sregs) < 0)
    return vm_err (errno, "KVM_GET_SREGS: %s", strerror (errno));
  code = (struct kvm_segment) {
    .base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 11, .present = 1,
    .dpl = 0, .db = 0, .s = 1, .l = 1, .g = 1,
  };
  data = code;
  data.selector = 0x18;
  data.type = 3;
  data.l = 0;
  data.db = 1;
  sregs.cs = code;
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
  sregs.gdt.base = VM_GDT_ADDR;
  sregs.gdt.limit = 4 * 8 - 1;
  sregs.cr3 = VM_PML4_ADDR;
  sregs.cr4 = 1 << 5;                    /* PAE */
  sregs.cr0 = 0x80050033;                /* PG, AM, WP, NE, ET, MP, PE */
  sregs.efer = 0x500;                    /* LME, LMA */
  if (ioctl (c->fd, KVM_SET_SREGS, &sregs) < 0)
    return vm_err (errno, "KVM_SET_SREGS: %s", strerror (errno));
  memset (&regs, 0, sizeof regs);
  regs.rip = vm->entry;
  regs.rsi = VM_BOOT_PARAMS;
  regs.rflags = 2;
  if (ioctl (c->fd, KVM_SET_REGS, &regs) < 0)
    return vm_err (errno, "KVM_SET_REGS: %s", strerror (errno));

  /* Virtual wire mode: the PIC through LINT0 (ExtINT), NMI on LINT1. */
  for (unsigned i = 0; i < vm->ncpus; i++) {
    if (ioctl (vm->vcpus[i].fd, KVM_GET_LAPIC, &lapic) < 0)
      continue;
    uint32_t *lint0 = (uint32_t *) (lapic.regs + 0x350), *lint1 = (uint32_t *) (lapic.regs + 0x360);
    *lint0 = (*lint0 & ~0x10700u) | (7u << 8);
    *lint1 = (*lint1 & ~0x10700u) | (4u << 8);
    ioctl (vm->vcpus[i].fd, KVM_SET_LAPIC, &lapic);
  }
  return 0;
}

#define CPUID_MAX_ENTRIES 256

int
vm_setup_cpuid (struct vm *vm, struct vm_vcpu *c)
{
  struct kvm_cpuid2 *cp;
  int r = 0;

  cp = calloc (1, sizeof *cp + CPUID_MAX_ENTRIES * sizeof (struct kvm_cpuid_entry2));
  if (!cp)
    return vm_err (ENOMEM, "out of memory");
  cp->nent = CPUID_MAX_ENTRIES;
  if (ioctl (vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cp) < 0) {
    r = vm_err (errno, "KVM_GET_SUPPORTED_CPUID: %s", strerror (errno));
    goto out;
  }
  for (uint32_t i = 0; i < cp->nent; i++) {
    struct kvm_cpuid_entry2 *e = &cp->entries[i];
    switch (e->function) {
    case 1:
      /* Initial APIC id and the logical processor count. */
      e->ebx = (e->ebx & 0x0000ffffu) | (c->id << 24) | ((vm->cfg->ncpus & 0xff) << 16);
      if (vm->cfg->ncpus > 1)
        e->edx |= 1u << 28;             /* HTT: the count field is valid */
      break;
    case 0xb:
    case 0x1f:
      e->edx = c->id;                   /* x2APIC id */
      break;
    }
  }
  if (ioctl (c->fd, KVM_SET_CPUID2, cp) < 0)
    r = vm_err (errno, "KVM_SET_CPUID2: %s", strerror (errno));
out:
  free (cp);
  return r;
}
