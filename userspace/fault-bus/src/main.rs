//! Makes the CPU refuse a misaligned access, which Linux reports as SIGBUS (BUS_ADRALN):
//! on x86_64 by setting EFLAGS.AC (Linux runs with CR0.AM set, so user-mode alignment checking
//! is live) and loading from an odd address; on AArch64 by loading through a stack pointer that is
//! not 16-byte aligned (Linux sets SCTLR_EL1.SA0). QEMU's AArch64 emulation (system and user mode)
//! does not implement the SP alignment check, so the AArch64 version then branches to an address
//! that is not a multiple of 4, which every AArch64 implementation, QEMU included, refuses with a
//! PC alignment fault (also SIGBUS, BUS_ADRALN, on Linux). Prints a line first so the harness sees the program started.
#![no_std]
#![no_main]

use rt::println;

rt::main!(main);

fn main(_env: &rt::Env) -> i32 {
    println!("fault-bus: misaligned access with alignment checking on");
    misaligned_access();
    println!("fault-bus: survived a misaligned access (no SIGBUS)");
    1
}

#[cfg(target_arch = "x86_64")]
fn misaligned_access() {
    let buf = [0u64; 2];
    let odd = (buf.as_ptr() as usize) + 1;
    // SAFETY: the 4-byte load at buf+1 stays inside `buf`. With EFLAGS.AC set it raises #AC and
    // the process is killed; if it does not (no CR0.AM), AC is cleared again before returning, and
    // the pushes use the stack the asm does not declare `nostack` for.
    unsafe {
        core::arch::asm!(
            "pushfq",
            "or dword ptr [rsp], 0x40000", // EFLAGS.AC
            "popfq",
            "mov {tmp:e}, dword ptr [{odd}]",
            "pushfq",
            "and dword ptr [rsp], 0xfffbffff",
            "popfq",
            odd = in(reg) odd,
            tmp = out(reg) _,
        );
    }
}

#[cfg(target_arch = "aarch64")]
fn misaligned_access() {
    // SAFETY: sp is moved down by 8 bytes, still inside this thread's stack (below it is free
    // stack space the ABI lets a function use), loaded through, and moved back. The load through
    // the misaligned sp raises an SP alignment fault and the process is killed; if it does not,
    // sp is restored before the asm ends.
    unsafe {
        core::arch::asm!(
            "sub sp, sp, #8",
            "ldr {tmp}, [sp]",
            "add sp, sp, #8",
            tmp = out(reg) _,
        );
    }
    // SAFETY: the branch itself is fine, but fetching from the misaligned pc (2 bytes into the
    // `udf`) raises a PC alignment fault, which AArch64 always checks, and the process is killed.
    // The `udf` backs that up: the asm cannot fall through.
    unsafe {
        core::arch::asm!(
            "adr x16, 2f",
            "add x16, x16, #2",
            "br x16",
            "2:",
            "udf #0",
            options(nostack, noreturn),
        );
    }
}
