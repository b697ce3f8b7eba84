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
#error "ferrite.h: the Ferrite ABI is defined for x86_64 only"
#endif

#include <stddef.h>
#include <stdint.h>

/* Function numbers, Jinue convention (ABI 3, 7); reserved ones return JINUE_ENOSYS */
#define JINUE_SYS_REBOOT 2
#define JINUE_SYS_PUTS 3
#define JINUE_SYS_CREATE_THREAD 4
#define JINUE_SYS_YIELD_THREAD 5
#define JINUE_SYS_SET_THREAD_LOCAL 6
#define JINUE_SYS_GET_ADDRESS_MAP 8
#define JINUE_SYS_CREATE_ENDPOINT 9
#define JINUE_SYS_RECEIVE 10
#define JINUE_SYS_REPLY 11
#define JINUE_SYS_EXIT_THREAD 12
#define JINUE_SYS_MMAP 13
#define JINUE_SYS_CREATE_PROCESS 14
#define JINUE_SYS_MCLONE 15
#define JINUE_SYS_DUP 16
#define JINUE_SYS_CLOSE 17
#define JINUE_SYS_DESTROY 18
#define JINUE_SYS_MINT 19
#define JINUE_SYS_START_THREAD 20
#define JINUE_SYS_AWAIT_THREAD 21
#define JINUE_SYS_REPLY_ERROR 22
#define FERRITE_SYS_MEMSTAT 96
#define FERRITE_SYS_POWEROFF 97
#define FERRITE_SYS_ACTOR_CAP 98
#define FERRITE_SYS_ENDPOINT_UI 99

/* Function numbers, ChorusOS convention (ABI 4.3) */
#define K_SYS_RGN_ALLOCATE 64
#define K_SYS_RGN_FREE 65
#define K_SYS_RGN_STAT 66
#define K_SYS_RGN_SET_INHERIT 67
#define K_SYS_RGN_SET_PROTECT 68
#define K_SYS_RGN_DUP 69
#define K_SYS_ACTOR_SELF 70
#define K_SYS_ACTOR_DELETE 72
#define K_SYS_RGN_MAP 73
#define K_SYS_RGN_INIT 74
#define K_SYS_RGN_MAP_FROM_ACTOR 75
#define K_SYS_RGN_INIT_FROM_ACTOR 76

/* Jinue error numbers, in arg1 after arg0 = -1 (ABI 6.1) */
#define JINUE_ENOMEM 1
#define JINUE_ENOSYS 2
#define JINUE_EINVAL 3
#define JINUE_EAGAIN 4
#define JINUE_EBADF 5
#define JINUE_EIO 6
#define JINUE_EPERM 7
#define JINUE_E2BIG 8
#define JINUE_ENOMSG 9
#define JINUE_ENOTSUP 10
#define JINUE_EBUSY 11
#define JINUE_ESRCH 12
#define JINUE_EDEADLK 13
#define JINUE_EPROTO 14

/* ChorusOS error codes, in arg0 (ABI 6.2) */
#define K_OK 0
#define K_EINVAL (-1)
#define K_EFAULT (-2)
#define K_EUNKNOWN (-3)
#define K_ENOMEM (-4)
#define K_EOVERLAP (-5)
#define K_EMAPPER (-6)

/* IPC: SEND numbers and message limits (ABI 3.2) */
#define JINUE_SYS_USER_BASE 4096
#define FERRITE_SYS_SEND_LAST 0x7fffffff
#define JINUE_MAX_MESSAGE_SIZE 2048
#define JINUE_MAX_BUFFERS_IN_ARRAY 256
#define JINUE_MAX_BUFFER_SIZE 67108864

/* Physical memory: address-map types, limits (ABI 3.3) */
#define JINUE_MEMYPE_MEMORY 1
#define JINUE_MEMYPE_RESERVED 2
#define JINUE_MEMYPE_ACPI 3
#define JINUE_MEMYPE_NVS 4
#define JINUE_MEMYPE_UNUSABLE 5
#define JINUE_MEMYPE_DISABLED 6
#define JINUE_MEMYPE_PERSISTENT 7
#define JINUE_MEMYPE_OEM 12
#define JINUE_MEMYPE_KERNEL_RESERVED 0xf0000000ULL
#define JINUE_MEMYPE_KERNEL_IMAGE 0xf0000001ULL
#define JINUE_MEMYPE_RAMDISK 0xf0000002ULL
#define FERRITE_ADDR_MAP_HEADER_SIZE 8
#define FERRITE_PHYS_ADDR_LIMIT 0x10000000000000ULL

/* Descriptor permissions (ABI 2) */
#define JINUE_PERM_SEND 0x1
#define JINUE_PERM_RECEIVE 0x2
#define JINUE_PERM_MAP 0x4
#define JINUE_PERM_OPEN 0x8
#define JINUE_PERM_CREATE_THREAD 0x10
#define JINUE_PERM_START 0x20
#define JINUE_PERM_AWAIT 0x40
#define FERRITE_PROCESS_PERMS 0x1c
#define FERRITE_THREAD_PERMS 0x60
#define FERRITE_ENDPOINT_PERMS 0x3
#define JINUE_DESC_NUM 1024

/* Protections for MCLONE (ABI 6.3) */
#define JINUE_PROT_NONE 0x0
#define JINUE_PROT_READ 0x1
#define JINUE_PROT_WRITE 0x2
#define JINUE_PROT_EXEC 0x4
#define FERRITE_PROT_MASK 0x7

/* Region options (ABI 4.2) */
#define K_WRITABLE 0x1
#define K_EXECUTABLE 0x2
#define K_NOACCESS 0x4
#define K_FILLZERO 0x10
#define K_ANYWHERE 0x20
#define K_INHERITCOPY 0x100
#define K_INHERITSHARE 0x200
#define K_FREEALL 0x10000
#define FERRITE_K_PROT_MASK 0x7
#define FERRITE_K_INHERIT_MASK 0x300
#define FERRITE_RGN_ALLOCATE_OPTIONS 0x333
#define FERRITE_REGION_ATTRIBUTES 0x307

/* Address-space layout (ABI 1.2) */
#define PAGE_SIZE 4096
#define USER_BASE 0x1000
#define USER_LIMIT 0x800000000000ULL
#define JINUE_KLIMIT 0x800000000000ULL
#define JINUE_STACK_BASE 0x7fffffff0000ULL
#define JINUE_STACK_SIZE 0x20000

/* Init process: auxiliary vector, descriptors, PUTS (ABI 3, 8) */
#define AT_NULL 0
#define AT_PHDR 2
#define AT_PHENT 3
#define AT_PHNUM 4
#define AT_PAGESZ 5
#define AT_ENTRY 6
#define JINUE_AT_STACKBASE 7
#define JINUE_AT_HOWSYSCALL 8
#define JINUE_AT_NCPU 10
#define FERRITE_HOWSYSCALL_INTERRUPT 0
#define FERRITE_HOWSYSCALL_SYSCALL 1
#define FERRITE_SYSCALL_INTERRUPT_VECTOR 0x80
#define FERRITE_INIT_SELF_DESCRIPTOR 0
#define FERRITE_INIT_THREAD_DESCRIPTOR 1
#define FERRITE_PUTS_MAX_LENGTH 120
#define FERRITE_PUTS_INFO 'I'
#define FERRITE_PUTS_WARNING 'W'
#define FERRITE_PUTS_ERROR 'E'

/* Actor capabilities (ABI 4.1) */
#define K_MYACTOR_VALUE 1
#define K_SVACTOR_VALUE 2
#define FERRITE_SITE_NUMBER 1
#define FERRITE_ACTOR_TYPE 1
#define FERRITE_UI_TYPE_SHIFT 27
#define FERRITE_UI_STAMP_MASK 0x7ffffff
#define FERRITE_PORT_TYPE 2

/* Segments and mappers (ABI 4.5) */
#define MP_PULL_IN 1
#define MP_PUSH_OUT 2
#define MP_RELEASE 3
#define MP_ACCESS_NONE 0
#define MP_ACCESS_READ 1
#define MP_ACCESS_WRITE 2
#define MP_MAX_REQUEST 65536

/* The four logical registers of a call, in and out (ABI 1). */
typedef struct jinue_syscall_args_t {
    uint64_t arg0;
    uint64_t arg1;
    uint64_t arg2;
    uint64_t arg3;
} jinue_syscall_args_t;
_Static_assert(sizeof(jinue_syscall_args_t) == 32, "jinue_syscall_args_t: size");
_Static_assert(_Alignof(jinue_syscall_args_t) == 8, "jinue_syscall_args_t: alignment");
_Static_assert(offsetof(jinue_syscall_args_t, arg0) == 0, "jinue_syscall_args_t.arg0: offset");
_Static_assert(offsetof(jinue_syscall_args_t, arg1) == 8, "jinue_syscall_args_t.arg1: offset");
_Static_assert(offsetof(jinue_syscall_args_t, arg2) == 16, "jinue_syscall_args_t.arg2: offset");
_Static_assert(offsetof(jinue_syscall_args_t, arg3) == 24, "jinue_syscall_args_t.arg3: offset");

/* MCLONE arguments (ABI 3.1); _pad is padding. */
typedef struct jinue_mclone_args_t {
    uint64_t src_addr;
    uint64_t dest_addr;
    uint64_t length;
    int32_t prot;
    uint32_t _pad;
} jinue_mclone_args_t;
_Static_assert(sizeof(jinue_mclone_args_t) == 32, "jinue_mclone_args_t: size");
_Static_assert(_Alignof(jinue_mclone_args_t) == 8, "jinue_mclone_args_t: alignment");
_Static_assert(offsetof(jinue_mclone_args_t, src_addr) == 0, "jinue_mclone_args_t.src_addr: offset");
_Static_assert(offsetof(jinue_mclone_args_t, dest_addr) == 8, "jinue_mclone_args_t.dest_addr: offset");
_Static_assert(offsetof(jinue_mclone_args_t, length) == 16, "jinue_mclone_args_t.length: offset");
_Static_assert(offsetof(jinue_mclone_args_t, prot) == 24, "jinue_mclone_args_t.prot: offset");
_Static_assert(offsetof(jinue_mclone_args_t, _pad) == 28, "jinue_mclone_args_t._pad: offset");

/* MINT arguments (ABI 3); _pad is padding. */
typedef struct jinue_mint_args_t {
    int32_t process;
    int32_t fd;
    int32_t perms;
    uint32_t _pad;
    uint64_t cookie;
} jinue_mint_args_t;
_Static_assert(sizeof(jinue_mint_args_t) == 24, "jinue_mint_args_t: size");
_Static_assert(_Alignof(jinue_mint_args_t) == 8, "jinue_mint_args_t: alignment");
_Static_assert(offsetof(jinue_mint_args_t, process) == 0, "jinue_mint_args_t.process: offset");
_Static_assert(offsetof(jinue_mint_args_t, fd) == 4, "jinue_mint_args_t.fd: offset");
_Static_assert(offsetof(jinue_mint_args_t, perms) == 8, "jinue_mint_args_t.perms: offset");
_Static_assert(offsetof(jinue_mint_args_t, _pad) == 12, "jinue_mint_args_t._pad: offset");
_Static_assert(offsetof(jinue_mint_args_t, cookie) == 16, "jinue_mint_args_t.cookie: offset");

/* A user buffer (RGN_STAT output, IPC messages; ABI 3.2, 4.1). */
typedef struct jinue_buffer_t {
    uint64_t addr;
    uint64_t size;
} jinue_buffer_t;
_Static_assert(sizeof(jinue_buffer_t) == 16, "jinue_buffer_t: size");
_Static_assert(_Alignof(jinue_buffer_t) == 8, "jinue_buffer_t: alignment");
_Static_assert(offsetof(jinue_buffer_t, addr) == 0, "jinue_buffer_t.addr: offset");
_Static_assert(offsetof(jinue_buffer_t, size) == 8, "jinue_buffer_t.size: offset");

/* SEND/RECEIVE/REPLY message: buffer arrays in, three RECEIVE outputs (ABI 3.2). */
typedef struct jinue_message_t {
    uint64_t send_buffers;
    uint64_t send_buffers_length;
    uint64_t recv_buffers;
    uint64_t recv_buffers_length;
    uint64_t recv_function;
    uint64_t recv_cookie;
    uint64_t reply_max_size;
} jinue_message_t;
_Static_assert(sizeof(jinue_message_t) == 56, "jinue_message_t: size");
_Static_assert(_Alignof(jinue_message_t) == 8, "jinue_message_t: alignment");
_Static_assert(offsetof(jinue_message_t, send_buffers) == 0, "jinue_message_t.send_buffers: offset");
_Static_assert(offsetof(jinue_message_t, send_buffers_length) == 8, "jinue_message_t.send_buffers_length: offset");
_Static_assert(offsetof(jinue_message_t, recv_buffers) == 16, "jinue_message_t.recv_buffers: offset");
_Static_assert(offsetof(jinue_message_t, recv_buffers_length) == 24, "jinue_message_t.recv_buffers_length: offset");
_Static_assert(offsetof(jinue_message_t, recv_function) == 32, "jinue_message_t.recv_function: offset");
_Static_assert(offsetof(jinue_message_t, recv_cookie) == 40, "jinue_message_t.recv_cookie: offset");
_Static_assert(offsetof(jinue_message_t, reply_max_size) == 48, "jinue_message_t.reply_max_size: offset");

/* MMAP arguments (ABI 3.3); _pad is padding. */
typedef struct jinue_mmap_args_t {
    uint64_t addr;
    uint64_t length;
    int32_t prot;
    uint32_t _pad;
    uint64_t paddr;
} jinue_mmap_args_t;
_Static_assert(sizeof(jinue_mmap_args_t) == 32, "jinue_mmap_args_t: size");
_Static_assert(_Alignof(jinue_mmap_args_t) == 8, "jinue_mmap_args_t: alignment");
_Static_assert(offsetof(jinue_mmap_args_t, addr) == 0, "jinue_mmap_args_t.addr: offset");
_Static_assert(offsetof(jinue_mmap_args_t, length) == 8, "jinue_mmap_args_t.length: offset");
_Static_assert(offsetof(jinue_mmap_args_t, prot) == 16, "jinue_mmap_args_t.prot: offset");
_Static_assert(offsetof(jinue_mmap_args_t, _pad) == 20, "jinue_mmap_args_t._pad: offset");
_Static_assert(offsetof(jinue_mmap_args_t, paddr) == 24, "jinue_mmap_args_t.paddr: offset");

/* One entry of jinue_addr_map_t (ABI 3.3); the C name of the field is type. */
typedef struct jinue_addr_map_entry_t {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
    uint32_t _pad;
} jinue_addr_map_entry_t;
_Static_assert(sizeof(jinue_addr_map_entry_t) == 24, "jinue_addr_map_entry_t: size");
_Static_assert(_Alignof(jinue_addr_map_entry_t) == 8, "jinue_addr_map_entry_t: alignment");
_Static_assert(offsetof(jinue_addr_map_entry_t, addr) == 0, "jinue_addr_map_entry_t.addr: offset");
_Static_assert(offsetof(jinue_addr_map_entry_t, size) == 8, "jinue_addr_map_entry_t.size: offset");
_Static_assert(offsetof(jinue_addr_map_entry_t, type) == 16, "jinue_addr_map_entry_t.type: offset");
_Static_assert(offsetof(jinue_addr_map_entry_t, _pad) == 20, "jinue_addr_map_entry_t._pad: offset");

/* ChorusOS unique identifier (ABI 4.1). */
typedef struct KnUniqueId {
    uint32_t head;
    uint32_t tail;
} KnUniqueId;
_Static_assert(sizeof(KnUniqueId) == 8, "KnUniqueId: size");
_Static_assert(_Alignof(KnUniqueId) == 4, "KnUniqueId: alignment");
_Static_assert(offsetof(KnUniqueId, head) == 0, "KnUniqueId.head: offset");
_Static_assert(offsetof(KnUniqueId, tail) == 4, "KnUniqueId.tail: offset");

/* ChorusOS capability key (ABI 4.1). */
typedef struct KnKey {
    uint32_t head;
    uint32_t tail;
} KnKey;
_Static_assert(sizeof(KnKey) == 8, "KnKey: size");
_Static_assert(_Alignof(KnKey) == 4, "KnKey: alignment");
_Static_assert(offsetof(KnKey, head) == 0, "KnKey.head: offset");
_Static_assert(offsetof(KnKey, tail) == 4, "KnKey.tail: offset");

/* ChorusOS actor capability (ABI 4.1). */
typedef struct KnCap {
    KnUniqueId ui;
    KnKey key;
} KnCap;
_Static_assert(sizeof(KnCap) == 16, "KnCap: size");
_Static_assert(_Alignof(KnCap) == 4, "KnCap: alignment");
_Static_assert(offsetof(KnCap, ui) == 0, "KnCap.ui: offset");
_Static_assert(offsetof(KnCap, key) == 8, "KnCap.key: offset");

/* ChorusOS region descriptor (ABI 4.1). */
typedef struct KnRgnDesc {
    uint64_t startAddr;
    uint64_t size;
    uint64_t options;
    uint64_t endAddr;
    uint64_t opaque1;
    uint64_t opaque2;
} KnRgnDesc;
_Static_assert(sizeof(KnRgnDesc) == 48, "KnRgnDesc: size");
_Static_assert(_Alignof(KnRgnDesc) == 8, "KnRgnDesc: alignment");
_Static_assert(offsetof(KnRgnDesc, startAddr) == 0, "KnRgnDesc.startAddr: offset");
_Static_assert(offsetof(KnRgnDesc, size) == 8, "KnRgnDesc.size: offset");
_Static_assert(offsetof(KnRgnDesc, options) == 16, "KnRgnDesc.options: offset");
_Static_assert(offsetof(KnRgnDesc, endAddr) == 24, "KnRgnDesc.endAddr: offset");
_Static_assert(offsetof(KnRgnDesc, opaque1) == 32, "KnRgnDesc.opaque1: offset");
_Static_assert(offsetof(KnRgnDesc, opaque2) == 40, "KnRgnDesc.opaque2: offset");

/* RGN_STAT entry; resident = pages now backed by memory (ABI 4.1). */
typedef struct KnRgnStat {
    uint64_t startAddr;
    uint64_t size;
    uint64_t options;
    uint64_t opaque1;
    uint64_t opaque2;
    uint64_t resident;
} KnRgnStat;
_Static_assert(sizeof(KnRgnStat) == 48, "KnRgnStat: size");
_Static_assert(_Alignof(KnRgnStat) == 8, "KnRgnStat: alignment");
_Static_assert(offsetof(KnRgnStat, startAddr) == 0, "KnRgnStat.startAddr: offset");
_Static_assert(offsetof(KnRgnStat, size) == 8, "KnRgnStat.size: offset");
_Static_assert(offsetof(KnRgnStat, options) == 16, "KnRgnStat.options: offset");
_Static_assert(offsetof(KnRgnStat, opaque1) == 24, "KnRgnStat.opaque1: offset");
_Static_assert(offsetof(KnRgnStat, opaque2) == 32, "KnRgnStat.opaque2: offset");
_Static_assert(offsetof(KnRgnStat, resident) == 40, "KnRgnStat.resident: offset");

/* MEMSTAT output, all counts in frames (ABI 7). */
typedef struct memstat {
    uint64_t page_size;
    uint64_t total_frames;
    uint64_t free_frames;
    uint64_t user_frames;
    uint64_t table_frames;
    uint64_t committed_frames;
} memstat;
_Static_assert(sizeof(memstat) == 48, "memstat: size");
_Static_assert(_Alignof(memstat) == 8, "memstat: alignment");
_Static_assert(offsetof(memstat, page_size) == 0, "memstat.page_size: offset");
_Static_assert(offsetof(memstat, total_frames) == 8, "memstat.total_frames: offset");
_Static_assert(offsetof(memstat, free_frames) == 16, "memstat.free_frames: offset");
_Static_assert(offsetof(memstat, user_frames) == 24, "memstat.user_frames: offset");
_Static_assert(offsetof(memstat, table_frames) == 32, "memstat.table_frames: offset");
_Static_assert(offsetof(memstat, committed_frames) == 40, "memstat.committed_frames: offset");

/* A segment range: segment capability, offset, size (ABI 4.5). */
typedef struct KnObjDesc {
    KnCap dataObject;
    uint64_t startOffset;
    uint64_t size;
} KnObjDesc;
_Static_assert(sizeof(KnObjDesc) == 32, "KnObjDesc: size");
_Static_assert(_Alignof(KnObjDesc) == 8, "KnObjDesc: alignment");
_Static_assert(offsetof(KnObjDesc, dataObject) == 0, "KnObjDesc.dataObject: offset");
_Static_assert(offsetof(KnObjDesc, startOffset) == 16, "KnObjDesc.startOffset: offset");
_Static_assert(offsetof(KnObjDesc, size) == 24, "KnObjDesc.size: offset");

/* RGN_MAP_FROM_ACTOR / RGN_INIT_FROM_ACTOR: four pointers (ABI 4.3). */
typedef struct KnRgnFromActorArgs {
    uint64_t tgtactorcap;
    uint64_t tgtrgndesc;
    uint64_t srcactorcap;
    uint64_t srcrgndesc;
} KnRgnFromActorArgs;
_Static_assert(sizeof(KnRgnFromActorArgs) == 32, "KnRgnFromActorArgs: size");
_Static_assert(_Alignof(KnRgnFromActorArgs) == 8, "KnRgnFromActorArgs: alignment");
_Static_assert(offsetof(KnRgnFromActorArgs, tgtactorcap) == 0, "KnRgnFromActorArgs.tgtactorcap: offset");
_Static_assert(offsetof(KnRgnFromActorArgs, tgtrgndesc) == 8, "KnRgnFromActorArgs.tgtrgndesc: offset");
_Static_assert(offsetof(KnRgnFromActorArgs, srcactorcap) == 16, "KnRgnFromActorArgs.srcactorcap: offset");
_Static_assert(offsetof(KnRgnFromActorArgs, srcrgndesc) == 24, "KnRgnFromActorArgs.srcrgndesc: offset");

/* A kernel request to a mapper (ABI 4.5). */
typedef struct KnMpRequest {
    KnKey key;
    uint64_t offset;
    uint64_t size;
    uint64_t access;
} KnMpRequest;
_Static_assert(sizeof(KnMpRequest) == 32, "KnMpRequest: size");
_Static_assert(_Alignof(KnMpRequest) == 8, "KnMpRequest: alignment");
_Static_assert(offsetof(KnMpRequest, key) == 0, "KnMpRequest.key: offset");
_Static_assert(offsetof(KnMpRequest, offset) == 8, "KnMpRequest.offset: offset");
_Static_assert(offsetof(KnMpRequest, size) == 16, "KnMpRequest.size: offset");
_Static_assert(offsetof(KnMpRequest, access) == 24, "KnMpRequest.access: offset");

/* A mapper's answer to a kernel request (ABI 4.5). */
typedef struct KnMpReply {
    int64_t diag;
    uint64_t addr;
} KnMpReply;
_Static_assert(sizeof(KnMpReply) == 16, "KnMpReply: size");
_Static_assert(_Alignof(KnMpReply) == 8, "KnMpReply: alignment");
_Static_assert(offsetof(KnMpReply, diag) == 0, "KnMpReply.diag: offset");
_Static_assert(offsetof(KnMpReply, addr) == 8, "KnMpReply.addr: offset");

/* GET_ADDRESS_MAP output (ABI 3.3): num_entries, padding, then the entries. */
typedef struct jinue_addr_map_t {
    uint32_t num_entries;
    uint32_t _pad;
    jinue_addr_map_entry_t entry[];
} jinue_addr_map_t;
_Static_assert(offsetof(jinue_addr_map_t, entry) == FERRITE_ADDR_MAP_HEADER_SIZE, "jinue_addr_map_t.entry: offset");

/* Pointer values passed where a KnCap * is expected (ABI 4.1) */
#define K_MYACTOR ((KnCap *)K_MYACTOR_VALUE)
#define K_SVACTOR ((KnCap *)K_SVACTOR_VALUE)

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
    __asm__ __volatile__("syscall"
                         : "+a"(a0), "+D"(a1), "+S"(a2), "+d"(a3)
                         :
                         : "rcx", "r11", "memory");
    args->arg0 = a0;
    args->arg1 = a1;
    args->arg2 = a2;
    args->arg3 = a3;
}

/* Enters the kernel with the software interrupt int $0x80. */
static inline void ferrite_syscall_int80(jinue_syscall_args_t *args)
{
    uint64_t a0 = args->arg0, a1 = args->arg1, a2 = args->arg2, a3 = args->arg3;
    __asm__ __volatile__("int $0x80"
                         : "+a"(a0), "+D"(a1), "+S"(a2), "+d"(a3)
                         :
                         : "memory");
    args->arg0 = a0;
    args->arg1 = a1;
    args->arg2 = a2;
    args->arg3 = a3;
}

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

#endif /* FERRITE_H */
