//! The generated header matches `include/ferrite.h` and compiles with a C compiler.

extern crate std;

use super::*;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::string::String;
use std::{env, format, fs, println};

fn generated() -> String {
    let mut text = String::new();
    write_c_header(&mut text).expect("writing to a String cannot fail");
    text
}

fn header_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../include/ferrite.h")
}

#[test]
fn include_ferrite_h_is_up_to_date() {
    let text = generated();
    let path = header_path();
    if env::var_os("FERRITE_BLESS").is_some() {
        fs::write(&path, &text).expect("cannot write include/ferrite.h");
        return;
    }
    let on_disk = fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == text,
        "{} differs from what abi/src/c_header/ generates; \
         regenerate it with: FERRITE_BLESS=1 cargo test -p abi",
        path.display()
    );
}

#[test]
fn header_has_every_abi_item() {
    let text = generated();
    for call in JinueCall::ALL {
        let line = format!("#define {} {}\n", jinue_call_name(call), call as u64);
        assert!(text.contains(&line), "{line}");
    }
    for call in ChorusCall::ALL {
        let line = format!("#define {} {}\n", chorus_call_name(call), call as u64);
        assert!(text.contains(&line), "{line}");
    }
    for e in JinueError::ALL {
        assert!(text.contains(&format!("#define {} {}\n", e.name(), e.number())));
    }
    for e in ChorusError::ALL {
        assert!(text.contains(&format!("#define {} ({})\n", e.name(), e.code())));
    }
    for line in [
        "#define JINUE_SYS_MCLONE 15\n",
        "#define K_SYS_RGN_DUP 69\n",
        "#define FERRITE_SYS_ACTOR_CAP 98\n",
        "#define JINUE_EPROTO 14\n",
        "#define K_EOVERLAP (-5)\n",
        "#define USER_LIMIT 0x800000000000ULL\n",
        "#define JINUE_STACK_BASE 0x7fffffff0000ULL\n",
        "#define K_FREEALL 0x10000\n",
        "#define JINUE_PERM_AWAIT 0x40\n",
        "#define FERRITE_PUTS_INFO 'I'\n",
        "#define K_MYACTOR ((KnCap *)K_MYACTOR_VALUE)\n",
        "_Static_assert(sizeof(jinue_mclone_args_t) == 32, \"jinue_mclone_args_t: size\");\n",
        "_Static_assert(offsetof(jinue_mint_args_t, cookie) == 16, \"jinue_mint_args_t.cookie: offset\");\n",
        "_Static_assert(offsetof(KnRgnStat, resident) == 40, \"KnRgnStat.resident: offset\");\n",
        "_Static_assert(sizeof(memstat) == 48, \"memstat: size\");\n",
        "#define JINUE_SYS_RECEIVE 10\n",
        "#define JINUE_SYS_REPLY_ERROR 22\n",
        "#define JINUE_MAX_MESSAGE_SIZE 2048\n",
        "#define JINUE_MAX_BUFFERS_IN_ARRAY 256\n",
        "#define JINUE_MAX_BUFFER_SIZE 67108864\n",
        "#define JINUE_SYS_MMAP 13\n",
        "#define JINUE_SYS_GET_ADDRESS_MAP 8\n",
        "#define JINUE_MEMYPE_RAMDISK 0xf0000002ULL\n",
        "_Static_assert(offsetof(jinue_mmap_args_t, paddr) == 24, \"jinue_mmap_args_t.paddr: offset\");\n",
        "_Static_assert(offsetof(jinue_addr_map_entry_t, type) == 16, \"jinue_addr_map_entry_t.type: offset\");\n",
        "_Static_assert(sizeof(jinue_message_t) == 56, \"jinue_message_t: size\");\n",
        "_Static_assert(offsetof(jinue_message_t, reply_max_size) == 48, \"jinue_message_t.reply_max_size: offset\");\n",
    ] {
        assert!(text.contains(line), "missing: {line}");
    }
}

#[test]
fn struct_tables_cover_every_byte() {
    for s in STRUCTS {
        let mut end = 0;
        for f in s.fields {
            assert_eq!(f.offset, end, "{}.{} is not contiguous", s.c_name, f.name);
            end += match f.c_type {
                "uint64_t" | "int64_t" => 8,
                "uint32_t" | "int32_t" => 4,
                "KnCap" => 16,
                "KnUniqueId" | "KnKey" => 8,
                other => panic!("unexpected field type {other}"),
            };
        }
        assert_eq!(end, s.size, "{} has trailing padding", s.c_name);
    }
}

#[test]
fn literals() {
    assert_eq!(format!("{}", Lit::Dec(3)), "3");
    assert_eq!(format!("{}", Lit::Dec(1 << 31)), "2147483648ULL");
    assert_eq!(format!("{}", Lit::Hex(0x7fff_ffff)), "0x7fffffff");
    assert_eq!(format!("{}", Lit::Neg(-6)), "(-6)");
    assert_eq!(format!("{}", Lit::Char(b'W')), "'W'");
}

/// Compiles the header, and a use of every helper, with the compiler the
/// C test programs use. Skipped (with a message) only if gcc is absent.
#[test]
fn header_compiles_with_gcc() {
    if Command::new("gcc").arg("--version").output().is_err() {
        println!("skipping header_compiles_with_gcc: gcc is not installed");
        return;
    }
    let mut source = generated();
    source.push_str(
        "int ferrite_h_check(void);\n\
         int ferrite_h_check(void)\n\
         {\n\
         \x20   jinue_syscall_args_t a = { FERRITE_SYS_MEMSTAT, 0, 0, 0 };\n\
         \x20   KnCap cap;\n\
         \x20   ferrite_syscall_insn(&a);\n\
         \x20   ferrite_syscall_int80(&a);\n\
         \x20   ferrite_syscall(FERRITE_HOWSYSCALL_SYSCALL, &a);\n\
         \x20   a.arg1 = (uint64_t)(uintptr_t)K_MYACTOR;\n\
         \x20   a.arg2 = (uint64_t)(uintptr_t)&cap;\n\
         \x20   return jinue_failed(&a) + k_failed(&a) + (USER_LIMIT > JINUE_STACK_BASE);\n\
         }\n",
    );
    let mut child = Command::new("gcc")
        .args([
            "-std=c11",
            "-pedantic",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-ffreestanding",
            "-fsyntax-only",
            "-x",
            "c",
            "-",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run gcc");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(source.as_bytes())
        .expect("cannot feed gcc");
    let out = child.wait_with_output().expect("gcc did not finish");
    assert!(
        out.status.success(),
        "gcc rejected the generated header:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
