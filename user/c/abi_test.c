/* abi_test.c - the Ferrite ABI seen from C, with include/ferrite.h only.
 *
 * A user-space test program (doc/internals.md, "User-space test protocol"):
 * one line "test c_abi::<case> ... ok" or "... FAILED <why>" per case, then
 * "c_abi: N passed, N failed", then POWEROFF with status 0 if every case
 * passed, 1 otherwise.
 *
 * Invocation: the runner boots it as the init program with the command line
 * "abi_test a b", so argc is 3 and argv is {"abi_test", "a", "b"} (argv[0]
 * may carry a directory). By hand:
 *     cargo xtask run --init /tmp/abi_test a b
 *
 * Build (no libc, no Ferrite library):
 *     gcc -static -nostdlib -ffreestanding -fno-pie -no-pie -O2 -I include \
 *         -o /tmp/abi_test user/c/abi_test.c
 */
#include <ferrite.h>

/* ---- Entry -------------------------------------------------------------- */

/* General-purpose registers as they were at entry, in this order. */
enum {
    R_RAX, R_RBX, R_RCX, R_RDX, R_RSI, R_RDI, R_RBP, R_R8, R_R9,
    R_R10, R_R11, R_R12, R_R13, R_R14, R_R15, R_COUNT
};
static const char *const entry_reg_names[R_COUNT] = {
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9",
    "r10", "r11", "r12", "r13", "r14", "r15",
};
uint64_t entry_regs[R_COUNT];
uint64_t entry_rsp;

void _start(void);
__attribute__((noreturn, used)) void c_main(uint64_t *sp);

/* _start stores every register before anything else touches one, then calls
 * c_main with the initial stack pointer (re-aligning the stack itself so that
 * the other cases still run if the kernel got the alignment wrong). */
__asm__(
    "    .text\n"
    "    .globl _start\n"
    "    .type _start, @function\n"
    "_start:\n"
    "    movq %rax, entry_regs+0(%rip)\n"
    "    movq %rbx, entry_regs+8(%rip)\n"
    "    movq %rcx, entry_regs+16(%rip)\n"
    "    movq %rdx, entry_regs+24(%rip)\n"
    "    movq %rsi, entry_regs+32(%rip)\n"
    "    movq %rdi, entry_regs+40(%rip)\n"
    "    movq %rbp, entry_regs+48(%rip)\n"
    "    movq %r8, entry_regs+56(%rip)\n"
    "    movq %r9, entry_regs+64(%rip)\n"
    "    movq %r10, entry_regs+72(%rip)\n"
    "    movq %r11, entry_regs+80(%rip)\n"
    "    movq %r12, entry_regs+88(%rip)\n"
    "    movq %r13, entry_regs+96(%rip)\n"
    "    movq %r14, entry_regs+104(%rip)\n"
    "    movq %r15, entry_regs+112(%rip)\n"
    "    movq %rsp, entry_rsp(%rip)\n"
    "    movq %rsp, %rdi\n"
    "    andq $-16, %rsp\n"
    "    xorl %ebp, %ebp\n"
    "    call c_main\n"
    "    ud2\n"
    "    .size _start, . - _start\n");

/* ---- Probes of register preservation ------------------------------------ */

/* Layout of a probe block: in and out alike. */
enum {
    P_RBX, P_RBP, P_R12, P_R13, P_R14, P_R15, P_R8, P_R9, P_R10, P_RCX,
    P_R11, P_RDI, P_RSI, P_RDX, P_RAX, P_PAD, P_GPRS
};
static const char *const probe_reg_names[P_GPRS] = {
    "rbx", "rbp", "r12", "r13", "r14", "r15", "r8", "r9", "r10", "rcx",
    "r11", "rdi", "rsi", "rdx", "rax", "pad",
};
struct probe {
    uint64_t gpr[P_GPRS];
    uint8_t xmm[16][16];
};
_Static_assert(sizeof(struct probe) == 384, "probe block layout used by probe_call");

/* probe_call(function, in, out, via_int): loads every register but rsp from
 * `in` (rdi/rsi/rdx are arg1..arg3), makes one call with `syscall` (via_int
 * == 0) or `int $0x80`, and stores every register into `out`. */
void probe_call(uint64_t function, const struct probe *in, struct probe *out, uint64_t via_int);
__asm__(
    "    .text\n"
    "    .globl probe_call\n"
    "    .type probe_call, @function\n"
    "probe_call:\n"
    "    pushq %rbx\n"
    "    pushq %rbp\n"
    "    pushq %r12\n"
    "    pushq %r13\n"
    "    pushq %r14\n"
    "    pushq %r15\n"
    "    pushq %rdx\n"              /* out */
    "    pushq %rcx\n"              /* via_int */
    "    movq %rdi, %rax\n"
    "    movdqu 128(%rsi), %xmm0\n"
    "    movdqu 144(%rsi), %xmm1\n"
    "    movdqu 160(%rsi), %xmm2\n"
    "    movdqu 176(%rsi), %xmm3\n"
    "    movdqu 192(%rsi), %xmm4\n"
    "    movdqu 208(%rsi), %xmm5\n"
    "    movdqu 224(%rsi), %xmm6\n"
    "    movdqu 240(%rsi), %xmm7\n"
    "    movdqu 256(%rsi), %xmm8\n"
    "    movdqu 272(%rsi), %xmm9\n"
    "    movdqu 288(%rsi), %xmm10\n"
    "    movdqu 304(%rsi), %xmm11\n"
    "    movdqu 320(%rsi), %xmm12\n"
    "    movdqu 336(%rsi), %xmm13\n"
    "    movdqu 352(%rsi), %xmm14\n"
    "    movdqu 368(%rsi), %xmm15\n"
    "    movq 0(%rsi), %rbx\n"
    "    movq 8(%rsi), %rbp\n"
    "    movq 16(%rsi), %r12\n"
    "    movq 24(%rsi), %r13\n"
    "    movq 32(%rsi), %r14\n"
    "    movq 40(%rsi), %r15\n"
    "    movq 48(%rsi), %r8\n"
    "    movq 56(%rsi), %r9\n"
    "    movq 64(%rsi), %r10\n"
    "    movq 72(%rsi), %rcx\n"
    "    movq 80(%rsi), %r11\n"
    "    movq 88(%rsi), %rdi\n"
    "    movq 104(%rsi), %rdx\n"
    "    cmpq $0, 0(%rsp)\n"
    "    movq 96(%rsi), %rsi\n"     /* mov leaves the flags of the cmp */
    "    jne 1f\n"
    "    syscall\n"
    "    jmp 2f\n"
    "1:  int $0x80\n"
    "2:  pushq %rax\n"
    "    movq 16(%rsp), %rax\n"     /* out */
    "    movq %rbx, 0(%rax)\n"
    "    movq %rbp, 8(%rax)\n"
    "    movq %r12, 16(%rax)\n"
    "    movq %r13, 24(%rax)\n"
    "    movq %r14, 32(%rax)\n"
    "    movq %r15, 40(%rax)\n"
    "    movq %r8, 48(%rax)\n"
    "    movq %r9, 56(%rax)\n"
    "    movq %r10, 64(%rax)\n"
    "    movq %rcx, 72(%rax)\n"
    "    movq %r11, 80(%rax)\n"
    "    movq %rdi, 88(%rax)\n"
    "    movq %rsi, 96(%rax)\n"
    "    movq %rdx, 104(%rax)\n"
    "    popq %rcx\n"
    "    movq %rcx, 112(%rax)\n"
    "    movdqu %xmm0, 128(%rax)\n"
    "    movdqu %xmm1, 144(%rax)\n"
    "    movdqu %xmm2, 160(%rax)\n"
    "    movdqu %xmm3, 176(%rax)\n"
    "    movdqu %xmm4, 192(%rax)\n"
    "    movdqu %xmm5, 208(%rax)\n"
    "    movdqu %xmm6, 224(%rax)\n"
    "    movdqu %xmm7, 240(%rax)\n"
    "    movdqu %xmm8, 256(%rax)\n"
    "    movdqu %xmm9, 272(%rax)\n"
    "    movdqu %xmm10, 288(%rax)\n"
    "    movdqu %xmm11, 304(%rax)\n"
    "    movdqu %xmm12, 320(%rax)\n"
    "    movdqu %xmm13, 336(%rax)\n"
    "    movdqu %xmm14, 352(%rax)\n"
    "    movdqu %xmm15, 368(%rax)\n"
    "    addq $16, %rsp\n"
    "    popq %r15\n"
    "    popq %r14\n"
    "    popq %r13\n"
    "    popq %r12\n"
    "    popq %rbp\n"
    "    popq %rbx\n"
    "    ret\n"
    "    .size probe_call, . - probe_call\n");

/* probe_flags(function, rflags, via_int): makes one call (arg1..arg3 = 0)
 * with rflags loaded from `rflags`, and returns rflags as they are after it.
 * The direction flag is cleared again before returning to C. */
uint64_t probe_flags(uint64_t function, uint64_t rflags, uint64_t via_int);
__asm__(
    "    .text\n"
    "    .globl probe_flags\n"
    "    .type probe_flags, @function\n"
    "probe_flags:\n"
    "    movq %rdi, %rax\n"
    "    xorl %edi, %edi\n"
    "    testq %rdx, %rdx\n"
    "    jnz 1f\n"
    "    pushq %rsi\n"
    "    xorl %esi, %esi\n"
    "    xorl %edx, %edx\n"
    "    popfq\n"
    "    syscall\n"
    "    jmp 2f\n"
    "1:  pushq %rsi\n"
    "    xorl %esi, %esi\n"
    "    xorl %edx, %edx\n"
    "    popfq\n"
    "    int $0x80\n"
    "2:  pushfq\n"
    "    popq %rax\n"
    "    cld\n"
    "    ret\n"
    "    .size probe_flags, . - probe_flags\n");

/* ---- Freestanding helpers ----------------------------------------------- */

/* The compiler may emit calls to these even with -ffreestanding. The loops
 * must not be turned back into calls to themselves. */
__attribute__((optimize("no-tree-loop-distribute-patterns")))
void *memset(void *dst, int c, size_t n)
{
    volatile uint8_t *d = dst;
    for (size_t i = 0; i < n; i++) {
        d[i] = (uint8_t)c;
    }
    return dst;
}

__attribute__((optimize("no-tree-loop-distribute-patterns")))
void *memcpy(void *dst, const void *src, size_t n)
{
    volatile uint8_t *d = dst;
    const volatile uint8_t *s = src;
    for (size_t i = 0; i < n; i++) {
        d[i] = s[i];
    }
    return dst;
}

static size_t str_len(const char *s)
{
    size_t n = 0;
    while (s[n] != '\0') {
        n++;
    }
    return n;
}

static int str_eq(const char *a, const char *b)
{
    size_t i = 0;
    for (; a[i] != '\0' && a[i] == b[i]; i++) {
    }
    return a[i] == b[i];
}

static int str_ends_with(const char *s, const char *suffix)
{
    size_t n = str_len(s), m = str_len(suffix);
    return n >= m && str_eq(s + n - m, suffix);
}

/* ---- Calls -------------------------------------------------------------- */

/* The entry the kernel recommends (JINUE_AT_HOWSYSCALL), read from auxv. */
static uint64_t how_syscall = FERRITE_HOWSYSCALL_INTERRUPT;

static jinue_syscall_args_t call_via(int via_int, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
    jinue_syscall_args_t args = { a0, a1, a2, a3 };
    if (via_int) {
        ferrite_syscall_int80(&args);
    } else {
        ferrite_syscall_insn(&args);
    }
    return args;
}

static jinue_syscall_args_t call(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
    return call_via(how_syscall != FERRITE_HOWSYSCALL_SYSCALL, a0, a1, a2, a3);
}

static jinue_syscall_args_t puts_raw(uint64_t level, uint64_t ptr, uint64_t len)
{
    return call(JINUE_SYS_PUTS, level, ptr, len);
}

__attribute__((noreturn)) static void poweroff(uint64_t status)
{
    call(FERRITE_SYS_POWEROFF, status, 0, 0);
    /* POWEROFF does not return; if it did, the kernel powers off when init ends. */
    call(JINUE_SYS_EXIT_THREAD, 0, 0, 0);
    for (;;) {
        call(JINUE_SYS_YIELD_THREAD, 0, 0, 0);
    }
}

/* ---- Output lines ------------------------------------------------------- */

struct line {
    char buf[FERRITE_PUTS_MAX_LENGTH];
    size_t len;
};

static void put_str(struct line *l, const char *s)
{
    for (; *s != '\0' && l->len < sizeof l->buf; s++) {
        l->buf[l->len++] = *s;
    }
}

static void put_dec(struct line *l, int64_t v)
{
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0) {
        tmp[n++] = '-';
    }
    while (n > 0 && l->len < sizeof l->buf) {
        l->buf[l->len++] = tmp[--n];
    }
}

static void put_hex(struct line *l, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    put_str(l, "0x");
    int shift = 60;
    while (shift > 0 && ((v >> shift) & 0xf) == 0) {
        shift -= 4;
    }
    for (; shift >= 0 && l->len < sizeof l->buf; shift -= 4) {
        l->buf[l->len++] = digits[(v >> shift) & 0xf];
    }
}

static void emit(const struct line *l)
{
    puts_raw(FERRITE_PUTS_INFO, (uint64_t)(uintptr_t)l->buf, l->len);
}

/* ---- Cases -------------------------------------------------------------- */

/* A case fills `why` and returns 0 on failure, returns 1 on success. */
typedef int (*case_fn)(struct line *why);

static uint64_t argc;
static char **argv;
static uint64_t (*auxv)[2];

/* Value of auxv entry `type`; *count gets how many entries have that type. */
static uint64_t aux_get(uint64_t type, int *count)
{
    uint64_t value = 0;
    *count = 0;
    for (uint64_t (*a)[2] = auxv; (*a)[0] != AT_NULL; a++) {
        if ((*a)[0] == type) {
            value = (*a)[1];
            (*count)++;
        }
    }
    return value;
}

/* Fails the case unless auxv has exactly one entry of `type`. */
#define AUX_ONE(type, var)                                   \
    int var##_count;                                         \
    uint64_t var = aux_get((type), &var##_count);            \
    if (var##_count != 1) {                                  \
        put_str(why, #type " entries: ");                    \
        put_dec(why, var##_count);                           \
        return 0;                                            \
    }

#define EXPECT_EQ(what, got, want)                           \
    do {                                                     \
        uint64_t got_ = (uint64_t)(got), want_ = (uint64_t)(want); \
        if (got_ != want_) {                                 \
            put_str(why, what " = ");                        \
            put_hex(why, got_);                              \
            put_str(why, ", want ");                         \
            put_hex(why, want_);                             \
            return 0;                                        \
        }                                                    \
    } while (0)

static int case_argv(struct line *why)
{
    static const char *const want[] = { "abi_test", "a", "b" };
    EXPECT_EQ("argc", argc, 3);
    if (!str_ends_with(argv[0], want[0])) {
        put_str(why, "argv[0] = \"");
        put_str(why, argv[0]);
        put_str(why, "\"");
        return 0;
    }
    for (int i = 1; i < 3; i++) {
        if (!str_eq(argv[i], want[i])) {
            put_str(why, "argv[");
            put_dec(why, i);
            put_str(why, "] = \"");
            put_str(why, argv[i]);
            put_str(why, "\"");
            return 0;
        }
    }
    EXPECT_EQ("argv[argc]", (uintptr_t)argv[3], 0);
    return 1;
}

static int case_entry_stack_aligned(struct line *why)
{
    EXPECT_EQ("entry rsp % 16", entry_rsp % 16, 0);
    return 1;
}

static int case_entry_stack_layout(struct line *why)
{
    uint64_t lo = JINUE_STACK_BASE - JINUE_STACK_SIZE;
    if (entry_rsp < lo || entry_rsp >= JINUE_STACK_BASE) {
        put_str(why, "entry rsp ");
        put_hex(why, entry_rsp);
        put_str(why, " is outside the stack region");
        return 0;
    }
    /* argv strings lie above the vectors, inside the stack region. */
    uint64_t vectors_end = (uint64_t)(uintptr_t)auxv;
    for (uint64_t i = 0; i < argc; i++) {
        uint64_t s = (uint64_t)(uintptr_t)argv[i];
        if (s <= vectors_end || s >= JINUE_STACK_BASE) {
            put_str(why, "argv[");
            put_dec(why, (int64_t)i);
            put_str(why, "] at ");
            put_hex(why, s);
            put_str(why, " is not in the string area");
            return 0;
        }
    }
    return 1;
}

static int case_entry_registers_zero(struct line *why)
{
    for (int i = 0; i < R_COUNT; i++) {
        if (entry_regs[i] != 0) {
            put_str(why, entry_reg_names[i]);
            put_str(why, " = ");
            put_hex(why, entry_regs[i]);
            put_str(why, " at entry");
            return 0;
        }
    }
    return 1;
}

static int case_auxv_pagesz(struct line *why)
{
    AUX_ONE(AT_PAGESZ, pagesz);
    EXPECT_EQ("AT_PAGESZ", pagesz, PAGE_SIZE);
    return 1;
}

static int case_auxv_entry(struct line *why)
{
    AUX_ONE(AT_ENTRY, entry);
    EXPECT_EQ("AT_ENTRY", entry, (uintptr_t)&_start);
    return 1;
}

/* Minimal ELF64 definitions (System V gABI), for the program headers. */
struct elf64_ehdr {
    uint8_t e_ident[16];
    uint16_t e_type, e_machine;
    uint32_t e_version;
    uint64_t e_entry, e_phoff, e_shoff;
    uint32_t e_flags;
    uint16_t e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx;
};
struct elf64_phdr {
    uint32_t p_type, p_flags;
    uint64_t p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align;
};
_Static_assert(sizeof(struct elf64_ehdr) == 64, "Elf64_Ehdr");
_Static_assert(sizeof(struct elf64_phdr) == 56, "Elf64_Phdr");
enum { ELF_ET_EXEC = 2, ELF_PT_LOAD = 1, ELF_PF_X = 1 };

/* The ELF header as the linker placed it in the first loaded segment. */
extern const struct elf64_ehdr __ehdr_start;

static int case_auxv_phdr(struct line *why)
{
    AUX_ONE(AT_PHDR, phdr);
    AUX_ONE(AT_PHENT, phent);
    AUX_ONE(AT_PHNUM, phnum);
    const struct elf64_ehdr *eh = &__ehdr_start;
    if (eh->e_ident[0] != 0x7f || eh->e_ident[1] != 'E' || eh->e_ident[2] != 'L' ||
        eh->e_ident[3] != 'F') {
        put_str(why, "no ELF header at __ehdr_start");
        return 0;
    }
    EXPECT_EQ("e_type", eh->e_type, ELF_ET_EXEC);
    EXPECT_EQ("e_entry", eh->e_entry, (uintptr_t)&_start);
    EXPECT_EQ("AT_PHDR", phdr, (uintptr_t)eh + eh->e_phoff);
    EXPECT_EQ("AT_PHENT", phent, eh->e_phentsize);
    EXPECT_EQ("AT_PHENT", phent, sizeof(struct elf64_phdr));
    EXPECT_EQ("AT_PHNUM", phnum, eh->e_phnum);
    /* The table at AT_PHDR describes this program: a PT_LOAD that is
     * executable holds _start, and a PT_LOAD holds the table itself. */
    const struct elf64_phdr *ph = (const struct elf64_phdr *)(uintptr_t)phdr;
    int text_found = 0, table_found = 0;
    uint64_t start = (uintptr_t)&_start;
    for (uint64_t i = 0; i < phnum; i++) {
        if (ph[i].p_type != ELF_PT_LOAD) {
            continue;
        }
        uint64_t lo = ph[i].p_vaddr, hi = ph[i].p_vaddr + ph[i].p_memsz;
        if ((ph[i].p_flags & ELF_PF_X) && start >= lo && start < hi) {
            text_found = 1;
        }
        if (phdr >= lo && phdr + phnum * phent <= hi) {
            table_found = 1;
        }
    }
    if (!text_found || !table_found) {
        put_str(why, text_found ? "no PT_LOAD holds the table at AT_PHDR"
                                : "no executable PT_LOAD holds _start");
        return 0;
    }
    return 1;
}

static int case_auxv_stackbase(struct line *why)
{
    AUX_ONE(JINUE_AT_STACKBASE, base);
    EXPECT_EQ("JINUE_AT_STACKBASE", base, JINUE_STACK_BASE);
    return 1;
}

static int case_auxv_howsyscall(struct line *why)
{
    AUX_ONE(JINUE_AT_HOWSYSCALL, how);
    if (how != FERRITE_HOWSYSCALL_INTERRUPT && how != FERRITE_HOWSYSCALL_SYSCALL) {
        put_str(why, "JINUE_AT_HOWSYSCALL = ");
        put_dec(why, (int64_t)how);
        return 0;
    }
    return 1;
}

/* Checks a Jinue-convention failure with `err`, via both entries. */
static int expect_jinue_error(struct line *why, const char *what, uint64_t a0, uint64_t a1,
                              uint64_t a2, uint64_t a3, uint64_t err)
{
    for (int via_int = 0; via_int < 2; via_int++) {
        jinue_syscall_args_t r = call_via(via_int, a0, a1, a2, a3);
        if (!jinue_failed(&r) || r.arg1 != err || r.arg2 != 0 || r.arg3 != 0) {
            put_str(why, what);
            put_str(why, via_int ? " (int 0x80): " : " (syscall): ");
            put_dec(why, (int64_t)r.arg0);
            put_str(why, ",");
            put_dec(why, (int64_t)r.arg1);
            put_str(why, ",");
            put_hex(why, r.arg2);
            put_str(why, ",");
            put_hex(why, r.arg3);
            put_str(why, " want -1,");
            put_dec(why, (int64_t)err);
            put_str(why, ",0,0");
            return 0;
        }
    }
    return 1;
}

static const char sample[] = "c_abi: this text must never reach the console";

static int case_puts_ok(struct line *why)
{
    static char max_line[FERRITE_PUTS_MAX_LENGTH];
    const char *head = "c_abi: a PUTS line of the maximum length, 120 bytes ";
    size_t n = str_len(head);
    memcpy(max_line, head, n);
    for (size_t i = n; i < sizeof max_line; i++) {
        max_line[i] = (char)('0' + i % 10);
    }
    uint64_t levels[3] = { FERRITE_PUTS_INFO, FERRITE_PUTS_WARNING, FERRITE_PUTS_ERROR };
    for (int i = 0; i < 3; i++) {
        static const char msg[] = "c_abi: PUTS at level I, W, E (this line three times)";
        jinue_syscall_args_t r = puts_raw(levels[i], (uintptr_t)msg, sizeof msg - 1);
        EXPECT_EQ("PUTS arg0", r.arg0, 0);
        EXPECT_EQ("PUTS arg1", r.arg1, 0);
        EXPECT_EQ("PUTS arg2", r.arg2, 0);
        EXPECT_EQ("PUTS arg3", r.arg3, 0);
    }
    jinue_syscall_args_t r = puts_raw(FERRITE_PUTS_INFO, (uintptr_t)max_line, sizeof max_line);
    EXPECT_EQ("PUTS of 120 bytes: arg0", r.arg0, 0);
    return 1;
}

static int case_puts_kernel_pointer(struct line *why)
{
    return expect_jinue_error(why, "PUTS at USER_LIMIT", JINUE_SYS_PUTS, 'I', USER_LIMIT, 8,
                              JINUE_EINVAL) &&
           expect_jinue_error(why, "PUTS at 0xffff800000000000", JINUE_SYS_PUTS, 'I',
                              0xffff800000000000ULL, 8, JINUE_EINVAL) &&
           expect_jinue_error(why, "PUTS at 0xffffffff80000000", JINUE_SYS_PUTS, 'I',
                              0xffffffff80000000ULL, 8, JINUE_EINVAL);
}

static int case_puts_null(struct line *why)
{
    return expect_jinue_error(why, "PUTS of NULL", JINUE_SYS_PUTS, 'I', 0, 8, JINUE_EINVAL);
}

static int case_puts_unmapped(struct line *why)
{
    /* Nothing is mapped at 64 TiB, nor in the page below the stack region. */
    return expect_jinue_error(why, "PUTS at 0x400000000000", JINUE_SYS_PUTS, 'I',
                              0x400000000000ULL, 8, JINUE_EINVAL) &&
           expect_jinue_error(why, "PUTS below the stack", JINUE_SYS_PUTS, 'I',
                              JINUE_STACK_BASE - JINUE_STACK_SIZE - PAGE_SIZE, 8,
                              JINUE_EINVAL);
}

static int case_puts_crossing_limit(struct line *why)
{
    return expect_jinue_error(why, "PUTS at USER_LIMIT-4 len 16", JINUE_SYS_PUTS, 'I',
                              USER_LIMIT - 4, 16, JINUE_EINVAL) &&
           expect_jinue_error(why, "PUTS wrapping around", JINUE_SYS_PUTS, 'I',
                              0xfffffffffffffff8ULL, 16, JINUE_EINVAL);
}

static int case_puts_crossing_mapped_end(struct line *why)
{
    /* The stack region ends at JINUE_STACK_BASE; the page above is unmapped. */
    return expect_jinue_error(why, "PUTS at STACK_BASE-4 len 16", JINUE_SYS_PUTS, 'I',
                              JINUE_STACK_BASE - 4, 16, JINUE_EINVAL);
}

static int case_puts_too_long(struct line *why)
{
    static const char long_text[FERRITE_PUTS_MAX_LENGTH + 1] = "c_abi: 121 bytes";
    return expect_jinue_error(why, "PUTS of 121 bytes", JINUE_SYS_PUTS, 'I',
                              (uintptr_t)long_text, FERRITE_PUTS_MAX_LENGTH + 1,
                              JINUE_EINVAL) &&
           expect_jinue_error(why, "PUTS of 2^32+1 bytes", JINUE_SYS_PUTS, 'I',
                              (uintptr_t)sample, (1ULL << 32) + 1, JINUE_EINVAL);
}

static int case_puts_bad_level(struct line *why)
{
    static const uint64_t bad[] = { 0, 'i', 'X', 'I' + 0x100, (uint64_t)-1 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (!expect_jinue_error(why, "PUTS with a bad level", JINUE_SYS_PUTS, bad[i],
                                (uintptr_t)sample, sizeof sample - 1, JINUE_EINVAL)) {
            put_str(why, " level ");
            put_hex(why, bad[i]);
            return 0;
        }
    }
    return 1;
}

static int case_enosys_reserved(struct line *why)
{
    static const uint64_t reserved[] = {
        7, JINUE_SYS_USER_BASE - 1,
        (uint64_t)FERRITE_SYS_SEND_LAST + 1,
    };
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        if (!expect_jinue_error(why, "reserved", reserved[i], 1, 2, 3, JINUE_ENOSYS)) {
            put_str(why, " for ");
            put_dec(why, (int64_t)reserved[i]);
            return 0;
        }
    }
    return 1;
}

static int case_enosys_unknown(struct line *why)
{
    /* 71 and 95 lie in the ChorusOS range but name nothing: still the Jinue
     * convention (ABI 1). */
    static const uint64_t unknown[] = { 0, 1, 7, 23, 63, 71, 77, 95, 100, 1000, 0x7fffffffffffffffULL };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        if (!expect_jinue_error(why, "unknown", unknown[i], 1, 2, 3, JINUE_ENOSYS)) {
            put_str(why, " for ");
            put_dec(why, (int64_t)unknown[i]);
            return 0;
        }
    }
    return 1;
}

static int case_einval_negative_number(struct line *why)
{
    static const uint64_t negative[] = { (uint64_t)-1, (uint64_t)-4096, 1ULL << 63,
                                         (uint64_t)-1 - 0xffffffffULL };
    for (size_t i = 0; i < sizeof negative / sizeof negative[0]; i++) {
        if (!expect_jinue_error(why, "negative", negative[i], 1, 2, 3, JINUE_EINVAL)) {
            put_str(why, " for ");
            put_dec(why, (int64_t)negative[i]);
            return 0;
        }
    }
    return 1;
}

static int case_both_entries_work(struct line *why)
{
    for (int via_int = 0; via_int < 2; via_int++) {
        jinue_syscall_args_t r = call_via(via_int, JINUE_SYS_YIELD_THREAD, 7, 8, 9);
        if (r.arg0 != 0 || r.arg1 != 0 || r.arg2 != 0 || r.arg3 != 0) {
            put_str(why, via_int ? "YIELD_THREAD via int 0x80: " : "YIELD_THREAD via syscall: ");
            put_hex(why, r.arg0);
            put_str(why, ",");
            put_hex(why, r.arg1);
            put_str(why, ",");
            put_hex(why, r.arg2);
            put_str(why, ",");
            put_hex(why, r.arg3);
            put_str(why, " want 0,0,0,0");
            return 0;
        }
    }
    return 1;
}

/* Loads distinct patterns into every register, makes `function` (with
 * arg1..arg3 = 7, 8, 9) and checks what must be preserved and returned. */
static int check_preserved(struct line *why, int via_int, uint64_t function, uint64_t want_arg0,
                           uint64_t want_arg1)
{
    static struct probe in, out;
    for (int i = 0; i < P_GPRS; i++) {
        in.gpr[i] = 0xf0e1d2c3b4a59687ULL ^ ((uint64_t)(i + 1) * 0x0101010101010101ULL);
    }
    in.gpr[P_RDI] = 7;
    in.gpr[P_RSI] = 8;
    in.gpr[P_RDX] = 9;
    for (int r = 0; r < 16; r++) {
        for (int b = 0; b < 16; b++) {
            in.xmm[r][b] = (uint8_t)((r * 16 + b) ^ 0xa5);
        }
    }
    memset(&out, 0, sizeof out);
    probe_call(function, &in, &out, (uint64_t)via_int);

    const char *entry = via_int ? "int 0x80" : "syscall";
    /* syscall overwrites rcx and r11 (hardware); everything else not returned
     * is preserved. */
    for (int i = P_RBX; i <= P_R11; i++) {
        if (!via_int && (i == P_RCX || i == P_R11)) {
            continue;
        }
        if (out.gpr[i] != in.gpr[i]) {
            put_str(why, entry);
            put_str(why, ": ");
            put_str(why, probe_reg_names[i]);
            put_str(why, " = ");
            put_hex(why, out.gpr[i]);
            put_str(why, " was ");
            put_hex(why, in.gpr[i]);
            return 0;
        }
    }
    for (int r = 0; r < 16; r++) {
        for (int b = 0; b < 16; b++) {
            if (out.xmm[r][b] != in.xmm[r][b]) {
                put_str(why, entry);
                put_str(why, ": xmm");
                put_dec(why, r);
                put_str(why, " byte ");
                put_dec(why, b);
                put_str(why, " changed");
                return 0;
            }
        }
    }
    uint64_t got[4] = { out.gpr[P_RAX], out.gpr[P_RDI], out.gpr[P_RSI], out.gpr[P_RDX] };
    uint64_t want[4] = { want_arg0, want_arg1, 0, 0 };
    for (int i = 0; i < 4; i++) {
        if (got[i] != want[i]) {
            put_str(why, entry);
            put_str(why, ": returned arg");
            put_dec(why, i);
            put_str(why, " = ");
            put_hex(why, got[i]);
            put_str(why, ", want ");
            put_hex(why, want[i]);
            return 0;
        }
    }
    return 1;
}

static int preserved(struct line *why, int via_int)
{
    return check_preserved(why, via_int, JINUE_SYS_YIELD_THREAD, 0, 0) &&
           check_preserved(why, via_int, 1000, (uint64_t)-1, JINUE_ENOSYS) &&
           check_preserved(why, via_int, (uint64_t)-1, (uint64_t)-1, JINUE_EINVAL);
}

static int case_registers_preserved_syscall(struct line *why)
{
    return preserved(why, 0);
}

static int case_registers_preserved_int80(struct line *why)
{
    return preserved(why, 1);
}

static int memstat_call(memstat *m, uint64_t size, jinue_syscall_args_t *r)
{
    *r = call(FERRITE_SYS_MEMSTAT, (uintptr_t)m, size, 0);
    return r->arg0 == 0 && r->arg1 == 0;
}

static int case_memstat_basics(struct line *why)
{
    static memstat m;
    jinue_syscall_args_t r;
    memset(&m, 0, sizeof m);
    if (!memstat_call(&m, sizeof m, &r)) {
        put_str(why, "MEMSTAT: ");
        put_dec(why, (int64_t)r.arg0);
        put_str(why, ",");
        put_dec(why, (int64_t)r.arg1);
        return 0;
    }
    EXPECT_EQ("page_size", m.page_size, PAGE_SIZE);
    if (m.total_frames == 0 || m.user_frames == 0 || m.table_frames == 0) {
        put_str(why, "zero total, user or table frames");
        return 0;
    }
    if (m.free_frames + m.user_frames + m.table_frames > m.total_frames) {
        put_str(why, "free + user + table > total: ");
        put_dec(why, (int64_t)m.free_frames);
        put_str(why, "+");
        put_dec(why, (int64_t)m.user_frames);
        put_str(why, "+");
        put_dec(why, (int64_t)m.table_frames);
        put_str(why, " > ");
        put_dec(why, (int64_t)m.total_frames);
        return 0;
    }
    return 1;
}

static int case_memstat_stable(struct line *why)
{
    static memstat a, b;
    jinue_syscall_args_t r;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    if (!memstat_call(&a, sizeof a, &r) || !memstat_call(&b, sizeof b, &r)) {
        put_str(why, "MEMSTAT failed");
        return 0;
    }
    /* Nothing was created between the two calls. */
    EXPECT_EQ("user_frames on the second call", b.user_frames, a.user_frames);
    EXPECT_EQ("table_frames on the second call", b.table_frames, a.table_frames);
    EXPECT_EQ("committed_frames on the second call", b.committed_frames, a.committed_frames);
    EXPECT_EQ("total_frames on the second call", b.total_frames, a.total_frames);
    return 1;
}

static int case_memstat_short_buffer(struct line *why)
{
    static uint8_t buf[sizeof(memstat)];
    jinue_syscall_args_t r;
    memset(buf, 0xaa, sizeof buf);
    if (!memstat_call((memstat *)(uintptr_t)buf, 8, &r)) {
        put_str(why, "MEMSTAT with 8 bytes failed");
        return 0;
    }
    uint64_t page_size = 0;
    memcpy(&page_size, buf, 8);
    EXPECT_EQ("page_size (8-byte buffer)", page_size, PAGE_SIZE);
    for (size_t i = 8; i < sizeof buf; i++) {
        if (buf[i] != 0xaa) {
            put_str(why, "byte ");
            put_dec(why, (int64_t)i);
            put_str(why, " written with an 8-byte buffer");
            return 0;
        }
    }
    return 1;
}

/* Status flags CF, PF, AF, ZF, SF, OF; bit 1 is always 1; IF stays set. */
#define RFLAGS_STATUS 0x8d5ULL
#define RFLAGS_DF 0x400ULL
#define RFLAGS_FIXED 0x202ULL

static int check_flags(struct line *why, uint64_t flags, uint64_t mask)
{
    static const uint64_t functions[] = { JINUE_SYS_YIELD_THREAD, 1000 };
    for (int via_int = 0; via_int < 2; via_int++) {
        for (size_t f = 0; f < 2; f++) {
            uint64_t after = probe_flags(functions[f], flags | RFLAGS_FIXED, (uint64_t)via_int);
            if ((after & mask) != (flags & mask)) {
                put_str(why, via_int ? "int 0x80, " : "syscall, ");
                put_str(why, f == 0 ? "YIELD_THREAD: rflags " : "ENOSYS: rflags ");
                put_hex(why, after);
                put_str(why, ", set ");
                put_hex(why, flags | RFLAGS_FIXED);
                return 0;
            }
        }
    }
    return 1;
}

static int case_rflags_status_preserved(struct line *why)
{
    return check_flags(why, RFLAGS_STATUS, RFLAGS_STATUS) && check_flags(why, 0, RFLAGS_STATUS);
}

/* Last: a kernel that trusts the user's direction flag may crash here. */
static int case_rflags_df_preserved(struct line *why)
{
    return check_flags(why, RFLAGS_DF, RFLAGS_DF | RFLAGS_STATUS);
}

struct test_case {
    const char *name;
    case_fn run;
};

static const struct test_case cases[] = {
    { "argv", case_argv },
    { "entry_stack_aligned", case_entry_stack_aligned },
    { "entry_stack_layout", case_entry_stack_layout },
    { "entry_registers_zero", case_entry_registers_zero },
    { "auxv_pagesz", case_auxv_pagesz },
    { "auxv_entry", case_auxv_entry },
    { "auxv_phdr", case_auxv_phdr },
    { "auxv_stackbase", case_auxv_stackbase },
    { "auxv_howsyscall", case_auxv_howsyscall },
    { "both_entries_work", case_both_entries_work },
    { "puts_ok", case_puts_ok },
    { "puts_kernel_pointer", case_puts_kernel_pointer },
    { "puts_null", case_puts_null },
    { "puts_unmapped", case_puts_unmapped },
    { "puts_crossing_limit", case_puts_crossing_limit },
    { "puts_crossing_mapped_end", case_puts_crossing_mapped_end },
    { "puts_too_long", case_puts_too_long },
    { "puts_bad_level", case_puts_bad_level },
    { "enosys_reserved", case_enosys_reserved },
    { "enosys_unknown", case_enosys_unknown },
    { "einval_negative_number", case_einval_negative_number },
    { "registers_preserved_syscall", case_registers_preserved_syscall },
    { "registers_preserved_int80", case_registers_preserved_int80 },
    { "memstat_basics", case_memstat_basics },
    { "memstat_stable", case_memstat_stable },
    { "memstat_short_buffer", case_memstat_short_buffer },
    { "rflags_status_preserved", case_rflags_status_preserved },
    { "rflags_df_preserved", case_rflags_df_preserved },
};

void c_main(uint64_t *sp)
{
    argc = sp[0];
    argv = (char **)(sp + 1);
    char **envp = argv + argc + 1;
    while (*envp != 0) {
        envp++;
    }
    auxv = (uint64_t(*)[2])(envp + 1);
    int how_count;
    uint64_t how = aux_get(JINUE_AT_HOWSYSCALL, &how_count);
    if (how_count == 1) {
        how_syscall = how;
    }

    int passed = 0, failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct line why = { .len = 0 };
        int ok = cases[i].run(&why);
        struct line out = { .len = 0 };
        put_str(&out, "test c_abi::");
        put_str(&out, cases[i].name);
        if (ok) {
            put_str(&out, " ... ok");
            passed++;
        } else {
            put_str(&out, " ... FAILED ");
            for (size_t j = 0; j < why.len && out.len < sizeof out.buf; j++) {
                out.buf[out.len++] = why.buf[j];
            }
            failed++;
        }
        emit(&out);
    }
    struct line summary = { .len = 0 };
    put_str(&summary, "c_abi: ");
    put_dec(&summary, passed);
    put_str(&summary, " passed, ");
    put_dec(&summary, failed);
    put_str(&summary, " failed");
    emit(&summary);
    poweroff(failed == 0 ? 0 : 1);
}
