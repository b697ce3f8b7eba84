/* null_deref.c - an init program that dereferences NULL (not a protocol test).
 *
 * Expected (ABI 3, "A user fault"; ABI 8): the kernel kills the faulting
 * thread and logs one console line naming the process, the thread, the fault
 * (page fault), the address (0) and rip; the init process then has no thread
 * left, so it ends without POWEROFF and the kernel powers off with status 0.
 * See user/c/README.md for how to run it.
 */
#include <ferrite.h>

static const char before[] = "null_deref: reading address 0 now";
static const char after[] = "null_deref: the read of address 0 returned (kernel bug)";

static void say(const char *text, uint64_t len)
{
    jinue_syscall_args_t args = { JINUE_SYS_PUTS, FERRITE_PUTS_INFO, (uint64_t)(uintptr_t)text, len };
    ferrite_syscall_int80(&args);
}

__attribute__((noreturn, used)) void c_main(void)
{
    say(before, sizeof before - 1);
    /* The empty asm hides the value from the optimizer, so the load below is
     * an ordinary load (not undefined behaviour the compiler may remove). */
    volatile const uint64_t *null = (volatile const uint64_t *)0;
    __asm__("" : "+r"(null));
    (void)*null;
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
