//! The soft-float check: the kernel image must contain no x87/MMX/SSE/AVX instruction.
//!
//! The kernel is built for `x86_64-unknown-none` (soft-float), so neither the
//! compiler nor the precompiled `core` may put floating-point or vector code
//! in it; a trap entry then never has to save user FPU state just because the
//! kernel runs. The check disassembles the image's `.text` with binutils'
//! `objdump` and lists every instruction that computes with x87, MMX or SSE
//! state. The only ones allowed save and restore the *user's* state in the
//! trap stubs (`FXSAVE64`/`FXRSTOR64`, XSAVE family), which is their job.

use std::path::Path;
use std::process::Command;

/// Mnemonics that move the user's FPU state to or from memory (allowed).
const STATE_SAVE: [&str; 8] = [
    "fxsave",
    "fxsave64",
    "fxrstor",
    "fxrstor64",
    "xsave",
    "xsave64",
    "xrstor",
    "xrstor64",
];
/// SSE/MMX instructions without a vector register operand.
const SSE_WITHOUT_VECTOR_OPERAND: [&str; 4] = ["ldmxcsr", "stmxcsr", "emms", "movnti"];

/// Disassembles `.text` of the image; the `objdump -d` text.
pub fn disassemble(image: &Path) -> Result<String, String> {
    let output = Command::new("objdump")
        .args(["-d", "--no-show-raw-insn", "-M", "att", "-j", ".text"])
        .arg(image)
        .output()
        .map_err(|e| format!("cannot run objdump (Debian package binutils): {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "objdump -d {} failed: {}",
            image.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The instruction lines of an `objdump -d` listing that use x87, MMX or SSE
/// (every `f…` mnemonic but the state save/restore ones, any `%st`, `%mm`,
/// `%xmm`, `%ymm`, `%zmm` operand, and the SSE control instructions).
pub fn float_instructions(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter(|line| {
            // "ffffffff80100000:\tmov    %rax,%rbx"
            let Some((_, insn)) = line.split_once(":\t") else {
                return false;
            };
            let mut words = insn.split_whitespace();
            let Some(mut mnemonic) = words.next() else {
                return false;
            };
            // Prefixes are printed as separate words.
            while [
                "lock", "rep", "repz", "repnz", "repe", "repne", "data16", "addr32",
            ]
            .contains(&mnemonic)
                || mnemonic.starts_with("rex")
            {
                match words.next() {
                    Some(next) => mnemonic = next,
                    None => return false,
                }
            }
            let operands: String = words.collect::<Vec<_>>().join(" ");
            let operands = operands.split('#').next().unwrap_or("");
            if STATE_SAVE.contains(&mnemonic) {
                return false;
            }
            let x87 = mnemonic.starts_with('f') && mnemonic != "fs" && mnemonic != "fs:";
            let vector_register = ["%st", "%mm", "%xmm", "%ymm", "%zmm"]
                .iter()
                .any(|r| operands.contains(r));
            x87 || vector_register || SSE_WITHOUT_VECTOR_OPERAND.contains(&mnemonic)
        })
        .map(|line| line.trim().to_string())
        .collect()
}

#[cfg(test)]
mod unit {
    use super::float_instructions;

    #[test]
    fn finds_x87_and_sse_and_allows_state_saves() {
        let listing = "\
ffffffff80100000 <f>:
ffffffff80100000:\tmov    %rax,%rbx
ffffffff80100003:\tfxsave64 0x4d9d4(%rip)        # ffffffff8016c160 <X>
ffffffff80100008:\tfxrstor64 0x40(%rdi)
ffffffff8010000c:\tmovaps %xmm0,(%rsp)
ffffffff80100010:\tfldz
ffffffff80100012:\tfninit
ffffffff80100014:\tldmxcsr (%rax)
ffffffff80100017:\tpxor   %mm0,%mm1
ffffffff8010001a:\tvmovdqu %ymm1,(%rdi)
ffffffff8010001e:\tmov    %fs:0x0,%rax
ffffffff80100027:\tlock cmpxchg %rcx,(%rdx)
ffffffff8010002c:\tcall   ffffffff80100000 <fxsave_helper>
";
        let found = float_instructions(listing);
        assert_eq!(found.len(), 6, "{found:?}");
        assert!(found[0].contains("movaps"));
        assert!(found[1].contains("fldz"));
        assert!(found[2].contains("fninit"));
        assert!(found[3].contains("ldmxcsr"));
        assert!(found[4].contains("pxor"));
        assert!(found[5].contains("vmovdqu"));
    }
}
