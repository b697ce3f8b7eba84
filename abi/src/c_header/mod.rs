//! Generator of `include/ferrite.h`: the ABI of this crate as a C header, for
//! C programs that use Ferrite with no Ferrite library.
//!
//! Every number, flag and structure layout in the header is read from this
//! crate's constants and types; nothing is written twice. The struct tables are
//! checked at compile time against the Rust definitions (every field present,
//! of the stated type), and the header carries `_Static_assert`s with the Rust
//! sizes, alignments and offsets, so a C compiler rejects any drift.
//!
//! The unit tests compare `include/ferrite.h` with [`write_c_header`]'s output;
//! `FERRITE_BLESS=1 cargo test -p abi` rewrites the file.

use core::fmt::{self, Write};
use core::mem::{align_of, offset_of, size_of};

use crate::errors::{ChorusError, JinueError, K_OK};
use crate::init::*;
use crate::ipc::*;
use crate::layout::*;
use crate::mapper::*;
use crate::memstat::MemStat;
use crate::numbers::*;
use crate::perms::*;
use crate::physmem::*;
use crate::region::*;
use crate::regs::SyscallArgs;
use crate::types::*;

mod text;
use text::*;

/// How a constant is spelled in C.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lit {
    /// Decimal (numbers, counts).
    Dec(u64),
    /// Hexadecimal (bits, masks, addresses).
    Hex(u64),
    /// A negative code, parenthesized.
    Neg(i64),
    /// A printable ASCII character constant.
    Char(u8),
}

impl fmt::Display for Lit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values beyond `int` get a suffix so that C never truncates or sign-converts them.
        let suffix = |v: u64| if v > i32::MAX as u64 { "ULL" } else { "" };
        match *self {
            Lit::Dec(v) => write!(f, "{v}{}", suffix(v)),
            Lit::Hex(v) => write!(f, "{v:#x}{}", suffix(v)),
            Lit::Neg(v) => write!(f, "({v})"),
            Lit::Char(c) => write!(f, "'{}'", c as char),
        }
    }
}

/// One `#define`.
struct Define {
    name: &'static str,
    value: Lit,
}

const fn d(name: &'static str, value: Lit) -> Define {
    Define { name, value }
}

/// The C name of a type that appears in a structure.
trait CType {
    const C_NAME: &'static str;
}

impl CType for u64 {
    const C_NAME: &'static str = "uint64_t";
}
impl CType for u32 {
    const C_NAME: &'static str = "uint32_t";
}
impl CType for i32 {
    const C_NAME: &'static str = "int32_t";
}
impl CType for i64 {
    const C_NAME: &'static str = "int64_t";
}

macro_rules! c_name {
    ($($rust:ty => $c:literal),* $(,)?) => {
        $(impl CType for $rust {
            const C_NAME: &'static str = $c;
        })*
    };
}

c_name! {
    SyscallArgs => "jinue_syscall_args_t",
    MCloneArgs => "jinue_mclone_args_t",
    MintArgs => "jinue_mint_args_t",
    JinueBuffer => "jinue_buffer_t",
    KnUniqueId => "KnUniqueId",
    KnKey => "KnKey",
    KnCap => "KnCap",
    KnRgnDesc => "KnRgnDesc",
    KnRgnStat => "KnRgnStat",
    MemStat => "memstat",
    JinueMessage => "jinue_message_t",
    KnObjDesc => "KnObjDesc",
    KnRgnFromActorArgs => "KnRgnFromActorArgs",
    KnMpRequest => "KnMpRequest",
    KnMpReply => "KnMpReply",
    MmapArgs => "jinue_mmap_args_t",
    AddrMapEntry => "jinue_addr_map_entry_t",
}

struct CField {
    name: &'static str,
    c_type: &'static str,
    offset: usize,
}

struct CStruct {
    c_name: &'static str,
    doc: &'static str,
    size: usize,
    align: usize,
    fields: &'static [CField],
}

/// A field's C name: its Rust name without the raw-identifier prefix (`r#type` is `type`).
const fn c_field_name(rust: &'static str) -> &'static str {
    match rust.as_bytes() {
        [b'r', b'#', ..] => match core::str::from_utf8(rust.as_bytes().split_at(2).1) {
            Ok(name) => name,
            Err(_) => rust,
        },
        _ => rust,
    }
}

/// Describes a Rust `#[repr(C)]` structure for C. The closure is never called:
/// it only makes the compiler check that the list names every field of the
/// structure (the destructuring is exhaustive) with the stated type.
macro_rules! c_struct {
    ($rust:ident, $doc:literal, { $($field:ident : $ty:ty),* $(,)? }) => {{
        const _: fn($rust) = |s: $rust| {
            let $rust { $($field),* } = s;
            $(let _: $ty = $field;)*
        };
        CStruct {
            c_name: <$rust as CType>::C_NAME,
            doc: $doc,
            size: size_of::<$rust>(),
            align: align_of::<$rust>(),
            fields: &[$(CField {
                name: c_field_name(stringify!($field)),
                c_type: <$ty as CType>::C_NAME,
                offset: offset_of!($rust, $field),
            }),*],
        }
    }};
}

/// Every structure of the ABI, in dependency order.
const STRUCTS: &[CStruct] = &[
    c_struct!(SyscallArgs, "The four logical registers of a call, in and out (ABI 1).", {
        arg0: u64, arg1: u64, arg2: u64, arg3: u64,
    }),
    c_struct!(MCloneArgs, "MCLONE arguments (ABI 3.1); _pad is padding.", {
        src_addr: u64, dest_addr: u64, length: u64, prot: i32, _pad: u32,
    }),
    c_struct!(MintArgs, "MINT arguments (ABI 3); _pad is padding.", {
        process: i32, fd: i32, perms: i32, _pad: u32, cookie: u64,
    }),
    c_struct!(JinueBuffer, "A user buffer (RGN_STAT output, IPC messages; ABI 3.2, 4.1).", {
        addr: u64, size: u64,
    }),
    c_struct!(JinueMessage, "SEND/RECEIVE/REPLY message: buffer arrays in, three RECEIVE outputs (ABI 3.2).", {
        send_buffers: u64, send_buffers_length: u64, recv_buffers: u64, recv_buffers_length: u64,
        recv_function: u64, recv_cookie: u64, reply_max_size: u64,
    }),
    c_struct!(MmapArgs, "MMAP arguments (ABI 3.3); _pad is padding.", {
        addr: u64, length: u64, prot: i32, _pad: u32, paddr: u64,
    }),
    c_struct!(AddrMapEntry, "One entry of jinue_addr_map_t (ABI 3.3); the C name of the field is type.", {
        addr: u64, size: u64, r#type: u32, _pad: u32,
    }),
    c_struct!(KnUniqueId, "ChorusOS unique identifier (ABI 4.1).", {
        head: u32, tail: u32,
    }),
    c_struct!(KnKey, "ChorusOS capability key (ABI 4.1).", {
        head: u32, tail: u32,
    }),
    c_struct!(KnCap, "ChorusOS actor capability (ABI 4.1).", {
        ui: KnUniqueId, key: KnKey,
    }),
    c_struct!(KnRgnDesc, "ChorusOS region descriptor (ABI 4.1).", {
        startAddr: u64, size: u64, options: u64, endAddr: u64, opaque1: u64, opaque2: u64,
    }),
    c_struct!(KnRgnStat, "RGN_STAT entry; resident = pages now backed by memory (ABI 4.1).", {
        startAddr: u64, size: u64, options: u64, opaque1: u64, opaque2: u64, resident: u64,
    }),
    c_struct!(MemStat, "MEMSTAT output, all counts in frames (ABI 7).", {
        page_size: u64, total_frames: u64, free_frames: u64, user_frames: u64,
        table_frames: u64, committed_frames: u64,
    }),
    c_struct!(KnObjDesc, "A segment range: segment capability, offset, size (ABI 4.5).", {
        dataObject: KnCap, startOffset: u64, size: u64,
    }),
    c_struct!(KnRgnFromActorArgs, "RGN_MAP_FROM_ACTOR / RGN_INIT_FROM_ACTOR: four pointers (ABI 4.3).", {
        tgtactorcap: u64, tgtrgndesc: u64, srcactorcap: u64, srcrgndesc: u64,
    }),
    c_struct!(KnMpRequest, "A kernel request to a mapper (ABI 4.5).", {
        key: KnKey, offset: u64, size: u64, access: u64,
    }),
    c_struct!(KnMpReply, "A mapper's answer to a kernel request (ABI 4.5).", {
        diag: i64, addr: u64,
    }),
];

/// The C name of each Jinue-convention function (the names of `numbers.rs`).
const fn jinue_call_name(call: JinueCall) -> &'static str {
    match call {
        JinueCall::Reboot => "JINUE_SYS_REBOOT",
        JinueCall::Puts => "JINUE_SYS_PUTS",
        JinueCall::CreateThread => "JINUE_SYS_CREATE_THREAD",
        JinueCall::YieldThread => "JINUE_SYS_YIELD_THREAD",
        JinueCall::SetThreadLocal => "JINUE_SYS_SET_THREAD_LOCAL",
        JinueCall::GetAddressMap => "JINUE_SYS_GET_ADDRESS_MAP",
        JinueCall::Mmap => "JINUE_SYS_MMAP",
        JinueCall::CreateEndpoint => "JINUE_SYS_CREATE_ENDPOINT",
        JinueCall::Receive => "JINUE_SYS_RECEIVE",
        JinueCall::Reply => "JINUE_SYS_REPLY",
        JinueCall::ExitThread => "JINUE_SYS_EXIT_THREAD",
        JinueCall::CreateProcess => "JINUE_SYS_CREATE_PROCESS",
        JinueCall::Mclone => "JINUE_SYS_MCLONE",
        JinueCall::Dup => "JINUE_SYS_DUP",
        JinueCall::Close => "JINUE_SYS_CLOSE",
        JinueCall::Destroy => "JINUE_SYS_DESTROY",
        JinueCall::Mint => "JINUE_SYS_MINT",
        JinueCall::StartThread => "JINUE_SYS_START_THREAD",
        JinueCall::AwaitThread => "JINUE_SYS_AWAIT_THREAD",
        JinueCall::ReplyError => "JINUE_SYS_REPLY_ERROR",
        JinueCall::MemStat => "FERRITE_SYS_MEMSTAT",
        JinueCall::PowerOff => "FERRITE_SYS_POWEROFF",
        JinueCall::ActorCap => "FERRITE_SYS_ACTOR_CAP",
        JinueCall::EndpointUi => "FERRITE_SYS_ENDPOINT_UI",
    }
}

/// The C name of each ChorusOS-convention function.
const fn chorus_call_name(call: ChorusCall) -> &'static str {
    match call {
        ChorusCall::RgnAllocate => "K_SYS_RGN_ALLOCATE",
        ChorusCall::RgnFree => "K_SYS_RGN_FREE",
        ChorusCall::RgnStat => "K_SYS_RGN_STAT",
        ChorusCall::RgnSetInherit => "K_SYS_RGN_SET_INHERIT",
        ChorusCall::RgnSetProtect => "K_SYS_RGN_SET_PROTECT",
        ChorusCall::RgnDup => "K_SYS_RGN_DUP",
        ChorusCall::ActorSelf => "K_SYS_ACTOR_SELF",
        ChorusCall::ActorDelete => "K_SYS_ACTOR_DELETE",
        ChorusCall::RgnMap => "K_SYS_RGN_MAP",
        ChorusCall::RgnInit => "K_SYS_RGN_INIT",
        ChorusCall::RgnMapFromActor => "K_SYS_RGN_MAP_FROM_ACTOR",
        ChorusCall::RgnInitFromActor => "K_SYS_RGN_INIT_FROM_ACTOR",
    }
}

/// SEND's range of function numbers and the message limits (ABI 3.2).
const IPC: &[Define] = &[
    d("JINUE_SYS_USER_BASE", Lit::Dec(JINUE_SYS_USER_BASE)),
    d("FERRITE_SYS_SEND_LAST", Lit::Hex(JINUE_SYS_SEND_LAST)),
    d("JINUE_MAX_MESSAGE_SIZE", Lit::Dec(JINUE_MAX_MESSAGE_SIZE)),
    d(
        "JINUE_MAX_BUFFERS_IN_ARRAY",
        Lit::Dec(JINUE_MAX_BUFFERS_IN_ARRAY),
    ),
    d("JINUE_MAX_BUFFER_SIZE", Lit::Dec(JINUE_MAX_BUFFER_SIZE)),
];

const PHYSMEM: &[Define] = &[
    d("JINUE_MEMYPE_MEMORY", Lit::Dec(JINUE_MEMYPE_MEMORY as u64)),
    d(
        "JINUE_MEMYPE_RESERVED",
        Lit::Dec(JINUE_MEMYPE_RESERVED as u64),
    ),
    d("JINUE_MEMYPE_ACPI", Lit::Dec(JINUE_MEMYPE_ACPI as u64)),
    d("JINUE_MEMYPE_NVS", Lit::Dec(JINUE_MEMYPE_NVS as u64)),
    d(
        "JINUE_MEMYPE_UNUSABLE",
        Lit::Dec(JINUE_MEMYPE_UNUSABLE as u64),
    ),
    d(
        "JINUE_MEMYPE_DISABLED",
        Lit::Dec(JINUE_MEMYPE_DISABLED as u64),
    ),
    d(
        "JINUE_MEMYPE_PERSISTENT",
        Lit::Dec(JINUE_MEMYPE_PERSISTENT as u64),
    ),
    d("JINUE_MEMYPE_OEM", Lit::Dec(JINUE_MEMYPE_OEM as u64)),
    d(
        "JINUE_MEMYPE_KERNEL_RESERVED",
        Lit::Hex(JINUE_MEMYPE_KERNEL_RESERVED as u64),
    ),
    d(
        "JINUE_MEMYPE_KERNEL_IMAGE",
        Lit::Hex(JINUE_MEMYPE_KERNEL_IMAGE as u64),
    ),
    d(
        "JINUE_MEMYPE_RAMDISK",
        Lit::Hex(JINUE_MEMYPE_RAMDISK as u64),
    ),
    d(
        "FERRITE_ADDR_MAP_HEADER_SIZE",
        Lit::Dec(ADDR_MAP_HEADER_SIZE as u64),
    ),
    d("FERRITE_PHYS_ADDR_LIMIT", Lit::Hex(PHYS_ADDR_LIMIT)),
];

const PERMISSIONS: &[Define] = &[
    d("JINUE_PERM_SEND", Lit::Hex(JINUE_PERM_SEND as u64)),
    d("JINUE_PERM_RECEIVE", Lit::Hex(JINUE_PERM_RECEIVE as u64)),
    d("JINUE_PERM_MAP", Lit::Hex(JINUE_PERM_MAP as u64)),
    d("JINUE_PERM_OPEN", Lit::Hex(JINUE_PERM_OPEN as u64)),
    d(
        "JINUE_PERM_CREATE_THREAD",
        Lit::Hex(JINUE_PERM_CREATE_THREAD as u64),
    ),
    d("JINUE_PERM_START", Lit::Hex(JINUE_PERM_START as u64)),
    d("JINUE_PERM_AWAIT", Lit::Hex(JINUE_PERM_AWAIT as u64)),
    d("FERRITE_PROCESS_PERMS", Lit::Hex(PROCESS_PERMS as u64)),
    d("FERRITE_THREAD_PERMS", Lit::Hex(THREAD_PERMS as u64)),
    d("FERRITE_ENDPOINT_PERMS", Lit::Hex(ENDPOINT_PERMS as u64)),
    d("JINUE_DESC_NUM", Lit::Dec(JINUE_DESC_NUM)),
];

const PROTECTIONS: &[Define] = &[
    d("JINUE_PROT_NONE", Lit::Hex(JINUE_PROT_NONE as u64)),
    d("JINUE_PROT_READ", Lit::Hex(JINUE_PROT_READ as u64)),
    d("JINUE_PROT_WRITE", Lit::Hex(JINUE_PROT_WRITE as u64)),
    d("JINUE_PROT_EXEC", Lit::Hex(JINUE_PROT_EXEC as u64)),
    d("FERRITE_PROT_MASK", Lit::Hex(JINUE_PROT_MASK as u64)),
];

const REGION_OPTIONS: &[Define] = &[
    d("K_WRITABLE", Lit::Hex(K_WRITABLE)),
    d("K_EXECUTABLE", Lit::Hex(K_EXECUTABLE)),
    d("K_NOACCESS", Lit::Hex(K_NOACCESS)),
    d("K_FILLZERO", Lit::Hex(K_FILLZERO)),
    d("K_ANYWHERE", Lit::Hex(K_ANYWHERE)),
    d("K_INHERITCOPY", Lit::Hex(K_INHERITCOPY)),
    d("K_INHERITSHARE", Lit::Hex(K_INHERITSHARE)),
    d("K_FREEALL", Lit::Hex(K_FREEALL)),
    d("FERRITE_K_PROT_MASK", Lit::Hex(K_PROT_MASK)),
    d("FERRITE_K_INHERIT_MASK", Lit::Hex(K_INHERIT_MASK)),
    d(
        "FERRITE_RGN_ALLOCATE_OPTIONS",
        Lit::Hex(RGN_ALLOCATE_OPTIONS),
    ),
    d("FERRITE_REGION_ATTRIBUTES", Lit::Hex(REGION_ATTRIBUTES)),
];

/// Actor-capability layout; `K_MYACTOR`/`K_SVACTOR` are written as pointers.
const ACTORS: &[Define] = &[
    d("K_MYACTOR_VALUE", Lit::Dec(K_MYACTOR)),
    d("K_SVACTOR_VALUE", Lit::Dec(K_SVACTOR)),
    d("FERRITE_SITE_NUMBER", Lit::Dec(SITE_NUMBER as u64)),
    d("FERRITE_ACTOR_TYPE", Lit::Dec(ACTOR_TYPE as u64)),
    d("FERRITE_UI_TYPE_SHIFT", Lit::Dec(UI_TYPE_SHIFT as u64)),
    d("FERRITE_UI_STAMP_MASK", Lit::Hex(UI_STAMP_MASK as u64)),
    d("FERRITE_PORT_TYPE", Lit::Dec(PORT_TYPE as u64)),
];

/// Kernel requests to mappers (ABI 4.5).
const MAPPERS: &[Define] = &[
    d("MP_PULL_IN", Lit::Dec(MP_PULL_IN)),
    d("MP_PUSH_OUT", Lit::Dec(MP_PUSH_OUT)),
    d("MP_RELEASE", Lit::Dec(MP_RELEASE)),
    d("MP_ACCESS_NONE", Lit::Dec(MP_ACCESS_NONE)),
    d("MP_ACCESS_READ", Lit::Dec(MP_ACCESS_READ)),
    d("MP_ACCESS_WRITE", Lit::Dec(MP_ACCESS_WRITE)),
    d("MP_MAX_REQUEST", Lit::Dec(MP_MAX_REQUEST)),
];

const LAYOUT: &[Define] = &[
    d("PAGE_SIZE", Lit::Dec(PAGE_SIZE)),
    d("USER_BASE", Lit::Hex(USER_BASE)),
    d("USER_LIMIT", Lit::Hex(USER_LIMIT)),
    d("JINUE_KLIMIT", Lit::Hex(JINUE_KLIMIT)),
    d("JINUE_STACK_BASE", Lit::Hex(JINUE_STACK_BASE)),
    d("JINUE_STACK_SIZE", Lit::Hex(JINUE_STACK_SIZE)),
];

const INIT: &[Define] = &[
    d("AT_NULL", Lit::Dec(AT_NULL)),
    d("AT_PHDR", Lit::Dec(AT_PHDR)),
    d("AT_PHENT", Lit::Dec(AT_PHENT)),
    d("AT_PHNUM", Lit::Dec(AT_PHNUM)),
    d("AT_PAGESZ", Lit::Dec(AT_PAGESZ)),
    d("AT_ENTRY", Lit::Dec(AT_ENTRY)),
    d("JINUE_AT_STACKBASE", Lit::Dec(JINUE_AT_STACKBASE)),
    d("JINUE_AT_HOWSYSCALL", Lit::Dec(JINUE_AT_HOWSYSCALL)),
    d("JINUE_AT_NCPU", Lit::Dec(JINUE_AT_NCPU)),
    d(
        "FERRITE_HOWSYSCALL_INTERRUPT",
        Lit::Dec(HOWSYSCALL_INTERRUPT),
    ),
    d("FERRITE_HOWSYSCALL_SYSCALL", Lit::Dec(HOWSYSCALL_SYSCALL)),
    d(
        "FERRITE_SYSCALL_INTERRUPT_VECTOR",
        Lit::Hex(SYSCALL_INTERRUPT_VECTOR as u64),
    ),
    d(
        "FERRITE_INIT_SELF_DESCRIPTOR",
        Lit::Dec(INIT_SELF_DESCRIPTOR),
    ),
    d(
        "FERRITE_INIT_THREAD_DESCRIPTOR",
        Lit::Dec(INIT_THREAD_DESCRIPTOR),
    ),
    d("FERRITE_PUTS_MAX_LENGTH", Lit::Dec(PUTS_MAX_LENGTH)),
    d("FERRITE_PUTS_INFO", Lit::Char(PUTS_INFO as u8)),
    d("FERRITE_PUTS_WARNING", Lit::Char(PUTS_WARNING as u8)),
    d("FERRITE_PUTS_ERROR", Lit::Char(PUTS_ERROR as u8)),
];

fn write_defines<W: Write>(out: &mut W, title: &str, defines: &[Define]) -> fmt::Result {
    writeln!(out, "\n/* {title} */")?;
    for def in defines {
        writeln!(out, "#define {} {}", def.name, def.value)?;
    }
    Ok(())
}

fn write_struct<W: Write>(out: &mut W, s: &CStruct) -> fmt::Result {
    writeln!(out, "\n/* {} */", s.doc)?;
    writeln!(out, "typedef struct {} {{", s.c_name)?;
    for f in s.fields {
        writeln!(out, "    {} {};", f.c_type, f.name)?;
    }
    writeln!(out, "}} {};", s.c_name)?;
    let n = s.c_name;
    writeln!(
        out,
        "_Static_assert(sizeof({n}) == {}, \"{n}: size\");",
        s.size
    )?;
    writeln!(
        out,
        "_Static_assert(_Alignof({n}) == {}, \"{n}: alignment\");",
        s.align
    )?;
    for f in s.fields {
        writeln!(
            out,
            "_Static_assert(offsetof({n}, {}) == {}, \"{n}.{}: offset\");",
            f.name, f.offset, f.name
        )?;
    }
    Ok(())
}

/// Writes the text of `include/ferrite.h`.
///
/// # Errors
///
/// Only those of `out`.
pub fn write_c_header<W: Write>(out: &mut W) -> fmt::Result {
    out.write_str(PROLOGUE)?;

    writeln!(
        out,
        "\n/* Function numbers, Jinue convention (ABI 3, 7); reserved ones return JINUE_ENOSYS */"
    )?;
    for call in JinueCall::ALL {
        writeln!(
            out,
            "#define {} {}",
            jinue_call_name(call),
            Lit::Dec(call as u64)
        )?;
    }
    writeln!(
        out,
        "\n/* Function numbers, ChorusOS convention (ABI 4.3) */"
    )?;
    for call in ChorusCall::ALL {
        writeln!(
            out,
            "#define {} {}",
            chorus_call_name(call),
            Lit::Dec(call as u64)
        )?;
    }

    writeln!(
        out,
        "\n/* Jinue error numbers, in arg1 after arg0 = -1 (ABI 6.1) */"
    )?;
    for e in JinueError::ALL {
        writeln!(out, "#define {} {}", e.name(), Lit::Dec(e.number()))?;
    }
    writeln!(
        out,
        "\n/* ChorusOS error codes, in arg0 (ABI 6.2) */\n#define K_OK {}",
        Lit::Dec(K_OK as u64)
    )?;
    for e in ChorusError::ALL {
        writeln!(out, "#define {} {}", e.name(), Lit::Neg(e.code()))?;
    }

    write_defines(out, "IPC: SEND numbers and message limits (ABI 3.2)", IPC)?;
    write_defines(
        out,
        "Physical memory: address-map types, limits (ABI 3.3)",
        PHYSMEM,
    )?;
    write_defines(out, "Descriptor permissions (ABI 2)", PERMISSIONS)?;
    write_defines(out, "Protections for MCLONE (ABI 6.3)", PROTECTIONS)?;
    write_defines(out, "Region options (ABI 4.2)", REGION_OPTIONS)?;
    write_defines(out, "Address-space layout (ABI 1.2)", LAYOUT)?;
    write_defines(
        out,
        "Init process: auxiliary vector, descriptors, PUTS (ABI 3, 8)",
        INIT,
    )?;
    write_defines(out, "Actor capabilities (ABI 4.1)", ACTORS)?;
    write_defines(out, "Segments and mappers (ABI 4.5)", MAPPERS)?;

    for s in STRUCTS {
        write_struct(out, s)?;
    }

    out.write_str(ADDR_MAP)?;
    writeln!(
        out,
        "\n/* Pointer values passed where a KnCap * is expected (ABI 4.1) */"
    )?;
    writeln!(out, "#define K_MYACTOR ((KnCap *)K_MYACTOR_VALUE)")?;
    writeln!(out, "#define K_SVACTOR ((KnCap *)K_SVACTOR_VALUE)")?;

    writeln!(out)?;
    out.write_str(SYSCALL_HELPERS_HEAD)?;
    for (i, part) in INT_HELPER.split("$VECTOR").enumerate() {
        if i > 0 {
            write!(out, "${SYSCALL_INTERRUPT_VECTOR:#x}")?;
        }
        out.write_str(part)?;
    }
    out.write_str(SYSCALL_HELPERS_TAIL)?;
    writeln!(out)?;
    out.write_str(EPILOGUE)
}

#[cfg(test)]
mod tests;
