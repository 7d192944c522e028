/* Entry points of the test guest. */
        .section .head, "ax"
        .code32
startup_32:                     /* not used: vdk enters at the 64-bit entry */
1:      hlt
        jmp 1b

        .section .text.start, "ax"
        .code64
        .globl _start
_start:                         /* 64-bit boot protocol: %rsi = boot_params */
        cli
        lea stack_top(%rip), %rsp
        mov %rsi, %rdi
        call guest_main
        /* reset through the i8042 */
        mov $0xfe, %al
        out %al, $0x64
2:      hlt
        jmp 2b

        .section .bss
        .balign 16
stack:  .skip 16384
stack_top:
        .section .note.GNU-stack, "", @progbits
