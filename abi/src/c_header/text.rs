//! The fixed C text of `include/ferrite.h`: prologue, system-call helpers, epilogue.

pub(super) const PROLOGUE: &str = "\
/* ferrite.h - the Ferrite system-call ABI (doc/spec/ABI.md) for C programs.
 *
 * GENERATED from the abi crate by abi/src/c_header/: do not edit.
 * Regenerate with: FERRITE_BLESS=1 cargo test -p abi
 *
 * Needs only the compiler's freestanding headers (stddef.h, stdint.h) and no
 * Ferrite library. C11 or later, x86_64 only. Names the ABI gives are kept
 * as they are; the abi crate's own helper constants carry a FERRITE_ prefix.
 */
#ifndef FERRITE_H
#define FERRITE_H

#if !defined(__x86_64__)
#error \"ferrite.h: the Ferrite ABI is defined for x86_64 only\"
#endif

#include <stddef.h>
#include <stdint.h>
";

pub(super) const SYSCALL_HELPERS_HEAD: &str = "\
/* Raw entries (ABI 1). Both are always available; the auxiliary vector entry
 * JINUE_AT_HOWSYSCALL says which the kernel recommends. The four logical
 * registers travel in rax, rdi, rsi, rdx in both directions; every other
 * register is preserved (SSE/x87 state included), except that the syscall
 * instruction itself overwrites rcx and r11. The memory clobber orders the
 * call against the buffers it reads and writes. */

/* Enters the kernel with the syscall instruction. */
static inline void ferrite_syscall_insn(jinue_syscall_args_t *args)
{
    uint64_t a0 = args->arg0, a1 = args->arg1, a2 = args->arg2, a3 = args->arg3;
    __asm__ __volatile__(\"syscall\"
                         : \"+a\"(a0), \"+D\"(a1), \"+S\"(a2), \"+d\"(a3)
                         :
                         : \"rcx\", \"r11\", \"memory\");
    args->arg0 = a0;
    args->arg1 = a1;
    args->arg2 = a2;
    args->arg3 = a3;
}

";

/// The `int` entry; each `$VECTOR` becomes `$` and [`SYSCALL_INTERRUPT_VECTOR`].
pub(super) const INT_HELPER: &str = "\
/* Enters the kernel with the software interrupt int $VECTOR. */
static inline void ferrite_syscall_int80(jinue_syscall_args_t *args)
{
    uint64_t a0 = args->arg0, a1 = args->arg1, a2 = args->arg2, a3 = args->arg3;
    __asm__ __volatile__(\"int $VECTOR\"
                         : \"+a\"(a0), \"+D\"(a1), \"+S\"(a2), \"+d\"(a3)
                         :
                         : \"memory\");
    args->arg0 = a0;
    args->arg1 = a1;
    args->arg2 = a2;
    args->arg3 = a3;
}

";

pub(super) const SYSCALL_HELPERS_TAIL: &str = "\
/* Enters the kernel the way `how` (a JINUE_AT_HOWSYSCALL value) says. */
static inline void ferrite_syscall(uint64_t how, jinue_syscall_args_t *args)
{
    if (how == FERRITE_HOWSYSCALL_SYSCALL) {
        ferrite_syscall_insn(args);
    } else {
        ferrite_syscall_int80(args);
    }
}

/* Jinue convention (ABI 1.1): arg0 = -1 on failure, arg1 = JINUE_E* number. */
static inline int jinue_failed(const jinue_syscall_args_t *args)
{
    return (int64_t)args->arg0 == -1;
}

/* ChorusOS convention (ABI 1.1): a negative arg0 is a K_E* code. */
static inline int k_failed(const jinue_syscall_args_t *args)
{
    return (int64_t)args->arg0 < 0;
}
";

/// The variable-length GET_ADDRESS_MAP buffer (its size is checked against the Rust constants).
pub(super) const ADDR_MAP: &str = "
/* GET_ADDRESS_MAP output (ABI 3.3): num_entries, padding, then the entries. */
typedef struct jinue_addr_map_t {
    uint32_t num_entries;
    uint32_t _pad;
    jinue_addr_map_entry_t entry[];
} jinue_addr_map_t;
_Static_assert(offsetof(jinue_addr_map_t, entry) == FERRITE_ADDR_MAP_HEADER_SIZE, \"jinue_addr_map_t.entry: offset\");
";

pub(super) const EPILOGUE: &str = "\
#endif /* FERRITE_H */
";
