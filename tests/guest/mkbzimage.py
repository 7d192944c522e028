#!/usr/bin/env python3
"""Wrap the test guest (flat binary loaded at 1 MiB, 64-bit entry at +0x200)
into a bzImage-style file with a Linux boot protocol 2.15 setup header, so
vdk's bzImage loader is tested with the same guest as the ELF loader.
usage: mkbzimage.py FLAT.bin ELF OUTPUT"""
import struct, sys

flat = open(sys.argv[1], 'rb').read()
elf = open(sys.argv[2], 'rb').read()
# init_size: memory the image needs from 1 MiB, i.e. up to the end of .bss
# (taken from the ELF's PT_LOAD headers).
phoff, = struct.unpack_from('<Q', elf, 0x20)
phentsize, phnum = struct.unpack_from('<HH', elf, 0x36)
end = 0
for i in range(phnum):
    p_type, _, _, _, p_paddr, _, p_memsz = struct.unpack_from('<IIQQQQQ', elf, phoff + i * phentsize)
    if p_type == 1:
        end = max(end, p_paddr + p_memsz)
init_size = (end - 0x100000 + 0xfff) & ~0xfff
setup_sects = 1
setup = bytearray((setup_sects + 1) * 512)
setup[0x1f1] = setup_sects
struct.pack_into('<H', setup, 0x1fe, 0xaa55)
setup[0x200] = 0xeb                      # jmp over the header
setup[0x201] = 0x268 - 0x202
setup[0x202:0x206] = b'HdrS'
struct.pack_into('<H', setup, 0x206, 0x020f)   # protocol 2.15
setup[0x211] = 0x01                      # LOADED_HIGH
struct.pack_into('<I', setup, 0x214, 0x100000) # code32_start
struct.pack_into('<I', setup, 0x22c, 0x7fffffff) # initrd_addr_max
struct.pack_into('<I', setup, 0x230, 0x200000) # kernel_alignment
struct.pack_into('<H', setup, 0x236, 0x0001)   # XLF_KERNEL_64
struct.pack_into('<I', setup, 0x238, 4095)     # cmdline_size
struct.pack_into('<Q', setup, 0x258, 0x100000) # pref_address
struct.pack_into('<I', setup, 0x260, init_size)
open(sys.argv[3], 'wb').write(bytes(setup) + flat)
