/* A minimal i8042 keyboard controller (ports 0x60 and 0x64, IRQ 1): enough
 * for Linux's i8042/atkbd probe, the reset line (0xfe on 0x64 ends the VM)
 * and typing Ctrl-Alt-Del for a graceful shutdown. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm.h"

#define OUTQ 32
#define ST_OBF    0x01
#define ST_SYS    0x04
#define ST_CMD    0x08
#define CB_KBD_INT 0x01
#define CB_KBD_DIS 0x10

struct i8042 {
  struct vm *vm;
  pthread_mutex_t lock;
  uint8_t cmdbyte;
  uint8_t pending_cmd;     /* controller command waiting for its data byte */
  uint8_t kbd_pending;     /* keyboard command waiting for its data byte */
  uint8_t status;
  uint8_t q[OUTQ];
  unsigned qhead, qlen;
  int level;
};

static void
update_irq (struct i8042 *k)
{
  int level = k->qlen && (k->cmdbyte & CB_KBD_INT);

  if (level != k->level) {
    k->level = level;
    vm_irq_line (k->vm, I8042_IRQ, level);
  }
}

static void
push (struct i8042 *k, uint8_t v)
{
  if (k->qlen < OUTQ)
    k->q[(k->qhead + k->qlen++) % OUTQ] = v;
}

static void
kbd_command (struct i8042 *k, uint8_t v)
{
  if (k->kbd_pending) {          /* data byte of LEDs / rate / scan set */
    k->kbd_pending = 0;
    push (k, 0xfa);
    return;
  }
  switch (v) {
  case 0xff: push (k, 0xfa); push (k, 0xaa); break;          /* reset + BAT ok */
  case 0xf2: push (k, 0xfa); push (k, 0xab); push (k, 0x83); break; /* MF2 id */
  case 0xed: case 0xf3: case 0xf0:
    k->kbd_pending = v;
    push (k, 0xfa);
    break;
  case 0xee: push (k, 0xee); break;                          /* echo */
  default: push (k, 0xfa); break;                            /* enable, disable, ... */
  }
}

static void
i8042_io (void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
  struct i8042 *k = opaque;
  bool reset = false;

  pthread_mutex_lock (&k->lock);
  if (off == 0 && !is_write) {                 /* 0x60: data */
    memset (data, 0, len);
    if (k->qlen) {
      data[0] = k->q[k->qhead];
      k->qhead = (k->qhead + 1) % OUTQ;
      k->qlen--;
      /* One byte per interrupt: lower the line so the next byte makes a
       * new edge (ISA interrupts are edge-triggered). */
      if (k->level) {
        k->level = 0;
        vm_irq_line (k->vm, I8042_IRQ, 0);
      }
    }
  }
  else if (off == 0) {
    uint8_t v = data[0];
    k->status &= ~ST_CMD;
    switch (k->pending_cmd) {
    case 0x60: k->cmdbyte = v; break;                      /* write command byte */
    case 0xd1: break;                                      /* output port */
    case 0xd2: push (k, v); break;                         /* fake keyboard input */
    case 0xd3: case 0xd4: break;                           /* no AUX device */
    default: kbd_command (k, v); break;
    }
    k->pending_cmd = 0;
  }
  else if (off == 4 && !is_write) {            /* 0x64: status */
    memset (data, 0, len);
    data[0] = k->status | ST_SYS | (k->qlen ? ST_OBF : 0);
  }
  else if (off == 4) {
    uint8_t v = data[0];
    k->status |= ST_CMD;
    switch (v) {
    case 0x20: push (k, k->cmdbyte); break;
    case 0x60: case 0xd1: case 0xd2: case 0xd3: case 0xd4:
      k->pending_cmd = v;
      break;
    case 0xa7: case 0xa8: break;                           /* AUX disable/enable */
    case 0xa9: push (k, 0xff); break;                      /* AUX test: no AUX port */
    case 0xaa: push (k, 0x55); break;                      /* self test ok */
    case 0xab: push (k, 0x00); break;                      /* keyboard test ok */
    case 0xad: k->cmdbyte |= CB_KBD_DIS; break;
    case 0xae: k->cmdbyte &= ~CB_KBD_DIS; break;
    case 0xfe: reset = true; break;                        /* pulse reset line */
    default:
      if ((v & 0xf0) == 0xf0 && !(v & 1))
        reset = true;                                      /* pulse output bit 0 */
      break;
    }
  }
  else if (!is_write)
    memset (data, 0xff, len);
  update_irq (k);
  pthread_mutex_unlock (&k->lock);
  if (reset)
    vm_request_stop (k->vm, VM_STOP_RESET, "guest reset (i8042)");
}

void
i8042_ctrl_alt_del (struct vm *vm)
{
  /* Scancode set 1 (what the controller's translation delivers):
   * Ctrl, Alt, Del make, then their breaks. */
  static const uint8_t seq[] = { 0x1d, 0x38, 0x53, 0xd3, 0xb8, 0x9d };
  struct i8042 *k = vm->i8042;

  pthread_mutex_lock (&k->lock);
  for (size_t i = 0; i < sizeof seq; i++)
    push (k, seq[i]);
  update_irq (k);
  pthread_mutex_unlock (&k->lock);
}

int
i8042_create (struct vm *vm)
{
  struct i8042 *k = calloc (1, sizeof *k);
  int r;

  if (!k)
    return vm_err (ENOMEM, "out of memory");
  k->vm = vm;
  k->cmdbyte = CB_KBD_INT | 0x40;   /* interrupts on, translation on */
  pthread_mutex_init (&k->lock, NULL);
  vm->i8042 = k;
  /* 0x60..0x64; 0x61 (port B) is served by KVM's PIT speaker model. */
  if ((r = vm_add_pio (vm, 0x60, 5, i8042_io, k)) < 0)
    return r;
  return 0;
}

void
i8042_destroy (struct vm *vm)
{
  if (!vm->i8042)
    return;
  pthread_mutex_destroy (&vm->i8042->lock);
  free (vm->i8042);
  vm->i8042 = NULL;
}
