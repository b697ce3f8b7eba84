/* ipc_test.c - IPC and physical memory (ABI 3.2, 3.3) from C, with include/ferrite.h only.
 *
 * A user-space test program (doc/internals.md, "User-space test protocol"):
 * one line "test c_ipc::<case> ... ok" or "... FAILED <why>" per case, then
 * "c_ipc: N passed, N failed", then POWEROFF with status 0 if every case
 * passed, 1 otherwise. Booted as init by the runner ("ipc_test a b").
 *
 * A server thread of this process (CREATE_THREAD, START_THREAD on a static
 * stack) answers on an endpoint: it upper-cases each message, refuses
 * function JINUE_SYS_USER_BASE + 1 with REPLY_ERROR, and ends when RECEIVE
 * fails (the endpoint destroyed).
 *
 * Build (no libc, no Ferrite library):
 *     gcc -static -nostdlib -ffreestanding -fno-pie -no-pie -O2 -I include \
 *         -o /tmp/ipc_test user/c/ipc_test.c
 */
#include <ferrite.h>

enum {
    EP = 10,          /* endpoint, owner */
    EP_SEND = 11,     /* SEND-only copy with a cookie */
    SERVER = 12,      /* the server thread */
    COOKIE = 0x5eed,
    REFUSED = 0xbad,  /* the server's REPLY_ERROR code */
};

void _start(void);
__attribute__((noreturn, used)) void c_main(uint64_t *sp);

__asm__(
    "    .text\n"
    "    .globl _start\n"
    "    .type _start, @function\n"
    "_start:\n"
    "    movq %rsp, %rdi\n"
    "    andq $-16, %rsp\n"
    "    call c_main\n"
    "    ud2\n"
    "    .size _start, . - _start\n");

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

static jinue_syscall_args_t call(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
    jinue_syscall_args_t args = { .arg0 = a0, .arg1 = a1, .arg2 = a2, .arg3 = a3 };
    ferrite_syscall_int80(&args);
    return args;
}

/* ---- Output --------------------------------------------------------------- */

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
    uint64_t u = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
    if (v < 0) {
        put_str(l, "-");
    }
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    while (n > 0 && l->len < sizeof l->buf) {
        l->buf[l->len++] = tmp[--n];
    }
}

static void emit(const struct line *l)
{
    call(JINUE_SYS_PUTS, FERRITE_PUTS_INFO, (uintptr_t)l->buf, l->len);
}

#define EXPECT_EQ(what, got, want)                                        \
    do {                                                                  \
        int64_t got_ = (int64_t)(got), want_ = (int64_t)(want);           \
        if (got_ != want_) {                                              \
            put_str(why, what);                                           \
            put_str(why, ": ");                                           \
            put_dec(why, got_);                                           \
            put_str(why, " want ");                                       \
            put_dec(why, want_);                                          \
            return 0;                                                     \
        }                                                                 \
    } while (0)

/* ---- The server thread ---------------------------------------------------- */

static uint8_t server_stack[16384] __attribute__((aligned(16)));

__attribute__((noreturn, used)) void server_main(void)
{
    char buf[64];
    jinue_buffer_t in = { .addr = (uintptr_t)buf, .size = sizeof buf };
    jinue_message_t msg = { .recv_buffers = (uintptr_t)&in, .recv_buffers_length = 1 };
    for (;;) {
        jinue_syscall_args_t r = call(JINUE_SYS_RECEIVE, EP, (uintptr_t)&msg, 0);
        if (jinue_failed(&r)) {
            break;
        }
        if (msg.recv_function == JINUE_SYS_USER_BASE + 1) {
            call(JINUE_SYS_REPLY_ERROR, REFUSED, 0, 0);
            continue;
        }
        char out[64];
        uint64_t n = r.arg0;
        for (uint64_t i = 0; i < n; i++) {
            char ch = buf[i];
            out[i] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 'a' + 'A') : ch;
        }
        /* The cookie travels back in the reply's first byte after the text. */
        out[n] = (char)(msg.recv_cookie & 0xff);
        jinue_buffer_t reply = { .addr = (uintptr_t)out, .size = n + 1 };
        jinue_message_t rm = { .send_buffers = (uintptr_t)&reply, .send_buffers_length = 1 };
        call(JINUE_SYS_REPLY, 0, (uintptr_t)&rm, 0);
    }
    call(JINUE_SYS_EXIT_THREAD, 0, 0, 0);
    __builtin_unreachable();
}

/* ---- Cases ---------------------------------------------------------------- */

static int case_endpoint_and_server(struct line *why)
{
    jinue_syscall_args_t r = call(JINUE_SYS_CREATE_ENDPOINT, EP, 0, 0);
    EXPECT_EQ("CREATE_ENDPOINT", r.arg0, 0);
    r = call(JINUE_SYS_CREATE_ENDPOINT, EP, 0, 0);
    EXPECT_EQ("CREATE_ENDPOINT again: errno", r.arg1, JINUE_EBADF);
    jinue_mint_args_t mint = {
        .process = FERRITE_INIT_SELF_DESCRIPTOR, .fd = EP_SEND, .perms = JINUE_PERM_SEND, .cookie = COOKIE
    };
    r = call(JINUE_SYS_MINT, EP, (uintptr_t)&mint, 0);
    EXPECT_EQ("MINT", r.arg0, 0);
    r = call(JINUE_SYS_CREATE_THREAD, SERVER, FERRITE_INIT_SELF_DESCRIPTOR, 0);
    EXPECT_EQ("CREATE_THREAD", r.arg0, 0);
    uint64_t sp = (uintptr_t)(server_stack + sizeof server_stack) - 8;
    r = call(JINUE_SYS_START_THREAD, SERVER, (uintptr_t)&server_main, sp);
    EXPECT_EQ("START_THREAD", r.arg0, 0);
    return 1;
}

static int case_send_and_reply(struct line *why)
{
    static const char hello[] = "hello, ";
    static const char world[] = "server";
    char a[4], b[64];
    jinue_buffer_t out[2] = {
        { .addr = (uintptr_t)hello, .size = sizeof hello - 1 },
        { .addr = (uintptr_t)world, .size = sizeof world - 1 },
    };
    jinue_buffer_t in[2] = {
        { .addr = (uintptr_t)a, .size = sizeof a },
        { .addr = (uintptr_t)b, .size = sizeof b },
    };
    jinue_message_t msg = {
        .send_buffers = (uintptr_t)out, .send_buffers_length = 2,
        .recv_buffers = (uintptr_t)in, .recv_buffers_length = 2,
    };
    jinue_syscall_args_t r = call(JINUE_SYS_USER_BASE, EP_SEND, (uintptr_t)&msg, 0);
    EXPECT_EQ("SEND: reply size", (int64_t)r.arg0, 14);
    static const char want[] = "HELLO, SERVER";
    for (int i = 0; i < 13; i++) {
        char got = i < 4 ? a[i] : b[i - 4];
        EXPECT_EQ("reply byte", got, want[i]);
    }
    EXPECT_EQ("cookie seen by the server", (uint8_t)b[9], COOKIE & 0xff);
    return 1;
}

static int case_reply_error_and_send_errors(struct line *why)
{
    jinue_message_t empty = { 0 };
    jinue_syscall_args_t r = call(JINUE_SYS_USER_BASE + 1, EP_SEND, (uintptr_t)&empty, 0);
    EXPECT_EQ("REPLY_ERROR: arg0", (int64_t)r.arg0, -1);
    EXPECT_EQ("REPLY_ERROR: errno", r.arg1, JINUE_EPROTO);
    EXPECT_EQ("REPLY_ERROR: code in arg2", r.arg2, REFUSED);
    r = call(JINUE_SYS_USER_BASE, EP_SEND, 0, 0);
    EXPECT_EQ("SEND NULL: errno", r.arg1, JINUE_EINVAL);
    r = call(JINUE_SYS_USER_BASE, 1000, (uintptr_t)&empty, 0);
    EXPECT_EQ("SEND free slot: errno", r.arg1, JINUE_EBADF);
    r = call((uint64_t)FERRITE_SYS_SEND_LAST + 1, EP_SEND, (uintptr_t)&empty, 0);
    EXPECT_EQ("above SEND's numbers: errno", r.arg1, JINUE_ENOSYS);
    r = call(JINUE_SYS_RECEIVE, EP_SEND, (uintptr_t)&empty, 0);
    EXPECT_EQ("RECEIVE without the permission: errno", r.arg1, JINUE_EPERM);
    r = call(JINUE_SYS_REPLY, 0, (uintptr_t)&empty, 0);
    EXPECT_EQ("REPLY with no message: errno", r.arg1, JINUE_ENOMSG);
    r = call(JINUE_SYS_REPLY_ERROR, 1, 0, 0);
    EXPECT_EQ("REPLY_ERROR with no message: errno", r.arg1, JINUE_ENOMSG);
    return 1;
}

static int case_destroy_ends_the_server(struct line *why)
{
    jinue_syscall_args_t r = call(JINUE_SYS_DESTROY, EP, 0, 0);
    EXPECT_EQ("DESTROY", r.arg0, 0);
    r = call(JINUE_SYS_AWAIT_THREAD, SERVER, 0, 0);
    EXPECT_EQ("AWAIT_THREAD (the server saw EIO and exited)", r.arg0, 0);
    jinue_message_t empty = { 0 };
    r = call(JINUE_SYS_USER_BASE, EP_SEND, (uintptr_t)&empty, 0);
    EXPECT_EQ("SEND to a destroyed endpoint: errno", r.arg1, JINUE_EIO);
    call(JINUE_SYS_CLOSE, EP_SEND, 0, 0);
    call(JINUE_SYS_CLOSE, EP, 0, 0);
    call(JINUE_SYS_CLOSE, SERVER, 0, 0);
    return 1;
}

static uint8_t map_buf[8 + 24 * 64] __attribute__((aligned(8)));

static int case_address_map_and_mmap(struct line *why)
{
    jinue_syscall_args_t r = call(JINUE_SYS_GET_ADDRESS_MAP, (uintptr_t)map_buf, 8, 0);
    EXPECT_EQ("GET_ADDRESS_MAP small: errno", r.arg1, JINUE_E2BIG);
    const jinue_addr_map_t *map = (const jinue_addr_map_t *)map_buf;
    uint32_t count = map->num_entries;
    if (count == 0 || count > 64) {
        put_str(why, "num_entries not written");
        return 0;
    }
    r = call(JINUE_SYS_GET_ADDRESS_MAP, (uintptr_t)map_buf, 8 + 24 * (uint64_t)count, 0);
    EXPECT_EQ("GET_ADDRESS_MAP", r.arg0, 0);
    const jinue_addr_map_entry_t *module = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (map->entry[i].type == JINUE_MEMYPE_RAMDISK) {
            module = &map->entry[i];
        }
    }
    if (module == 0) {
        put_str(why, "no RAMDISK entry");
        return 0;
    }
    uint64_t page = module->addr & ~(uint64_t)(PAGE_SIZE - 1);
    uint64_t at = 0x60000000;
    jinue_mmap_args_t args = { .addr = at, .length = PAGE_SIZE, .prot = JINUE_PROT_READ, .paddr = page };
    r = call(JINUE_SYS_MMAP, FERRITE_INIT_SELF_DESCRIPTOR, (uintptr_t)&args, 0);
    EXPECT_EQ("MMAP of the boot module", r.arg0, 0);
    const volatile uint8_t *elf = (const volatile uint8_t *)(uintptr_t)(at + (module->addr - page));
    EXPECT_EQ("ELF magic", elf[0], 0x7f);
    EXPECT_EQ("ELF magic", elf[1], 'E');
    args.paddr = 0x100000; /* the kernel's RAM */
    r = call(JINUE_SYS_MMAP, FERRITE_INIT_SELF_DESCRIPTOR, (uintptr_t)&args, 0);
    EXPECT_EQ("MMAP of RAM: errno", r.arg1, JINUE_EPERM);
    KnRgnDesc all = { .startAddr = at, .size = PAGE_SIZE };
    r = call(K_SYS_RGN_FREE, K_MYACTOR_VALUE, (uintptr_t)&all, 0);
    EXPECT_EQ("RGN_FREE", r.arg0, K_OK);
    return 1;
}

static const struct {
    const char *name;
    int (*run)(struct line *why);
} cases[] = {
    { "endpoint_and_server", case_endpoint_and_server },
    { "send_and_reply", case_send_and_reply },
    { "reply_error_and_send_errors", case_reply_error_and_send_errors },
    { "destroy_ends_the_server", case_destroy_ends_the_server },
    { "address_map_and_mmap", case_address_map_and_mmap },
};

void c_main(uint64_t *sp)
{
    (void)sp;
    int passed = 0, failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct line why = { .len = 0 };
        int ok = cases[i].run(&why);
        struct line out = { .len = 0 };
        put_str(&out, "test c_ipc::");
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
    put_str(&summary, "c_ipc: ");
    put_dec(&summary, passed);
    put_str(&summary, " passed, ");
    put_dec(&summary, failed);
    put_str(&summary, " failed");
    emit(&summary);
    call(FERRITE_SYS_POWEROFF, failed == 0 ? 0 : 1, 0, 0);
    for (;;) {
    }
}
