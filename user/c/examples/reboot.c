/* reboot.c - an init program that asks the kernel to reboot (not a protocol test).
 *
 * Expected (ABI 3, REBOOT): the call does not return; the kernel resets the
 * machine (ACPI reset register, else the keyboard controller, else a triple
 * fault). `cargo xtask test` boots it with no isa-debug-exit device and QEMU's
 * -no-reboot, so the reset ends QEMU; the console ends with "ferrite: reboot".
 * If REBOOT returns, the program says so and powers off with status 1.
 */
#include <ferrite.h>

static const char before[] = "reboot: asking the kernel to reboot";
static const char after[] = "reboot: REBOOT returned (kernel bug)";

static void say(const char *text, uint64_t len)
{
    jinue_syscall_args_t args = { JINUE_SYS_PUTS, FERRITE_PUTS_INFO, (uint64_t)(uintptr_t)text, len };
    ferrite_syscall_int80(&args);
}

__attribute__((noreturn, used)) void c_main(void)
{
    say(before, sizeof before - 1);
    jinue_syscall_args_t reboot = { JINUE_SYS_REBOOT, 0, 0, 0 };
    ferrite_syscall_int80(&reboot);
    say(after, sizeof after - 1);
    jinue_syscall_args_t args = { FERRITE_SYS_POWEROFF, 1, 0, 0 };
    ferrite_syscall_int80(&args);
    for (;;) {
    }
}

/* The entry stack is 16-byte aligned (ABI 8); the call keeps the C ABI's
 * alignment for c_main. */
__asm__(
    "    .text\n"
    "    .globl _start\n"
    "    .type _start, @function\n"
    "_start:\n"
    "    call c_main\n"
    "    ud2\n"
    "    .size _start, . - _start\n");
