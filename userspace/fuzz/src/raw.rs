//! The fuzzer's own syscall stub. It differs from rt's in one thing: after a fork-like call
//! (clone, clone3, fork, vfork) the new task — the one that sees 0 — leaves with `exit(0)` at
//! once, in the same few instructions, without touching memory. A fuzzed clone may share this
//! address space (CLONE_VM, CLONE_VFORK) and even this stack (a new stack pointer of 0 or
//! noise), so the new task must not return into Rust code that would write to a stack the
//! child is still using; and if it did run on it would replay the same random calls a second
//! time. `exit` rather than `exit_group` ends only the new task when it is a thread.

use core::arch::asm;

use crate::table::NR_EXIT;

/// Issues system call `nr` with `a`; returns the raw result.
///
/// # Safety
/// None: the arguments are random. The call may change or unmap any memory of this process,
/// replace its image, end it, or hand control to a signal handler; the fuzzer's child accepts
/// all of that (its parent counts how the child ended). Nothing calls this whose own memory
/// safety depends on the outcome.
#[cfg(target_arch = "x86_64")]
pub unsafe fn syscall(nr: usize, a: [usize; 6], fork_like: bool) -> isize {
    let r: isize;
    // SAFETY: see the function's contract; the asm declares the registers `syscall` clobbers
    // (rcx, r11), and the exit path for a new task uses no stack.
    unsafe {
        asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "test {fork:e}, {fork:e}",
            "jz 2f",
            "mov eax, {exit}",
            "xor edi, edi",
            "syscall",
            "ud2",
            "2:",
            fork = in(reg) fork_like as u32,
            exit = const NR_EXIT,
            inlateout("rax") nr as isize => r,
            in("rdi") a[0],
            in("rsi") a[1],
            in("rdx") a[2],
            in("r10") a[3],
            in("r8") a[4],
            in("r9") a[5],
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    r
}

/// Issues system call `nr` with `a`; returns the raw result.
///
/// # Safety
/// As the x86_64 version: the arguments are random and the child accepts any outcome.
#[cfg(target_arch = "aarch64")]
pub unsafe fn syscall(nr: usize, a: [usize; 6], fork_like: bool) -> isize {
    let r: isize;
    // SAFETY: see the function's contract; `svc` preserves every register but x0, and the exit
    // path for a new task (x0 is already 0, the status) uses no stack.
    unsafe {
        asm!(
            "svc #0",
            "cbnz x0, 2f",
            "cbz {fork:w}, 2f",
            "mov x8, #{exit}",
            "svc #0",
            "udf #0",
            "2:",
            fork = in(reg) fork_like as u32,
            exit = const NR_EXIT,
            in("x8") nr,
            inlateout("x0") a[0] as isize => r,
            in("x1") a[1],
            in("x2") a[2],
            in("x3") a[3],
            in("x4") a[4],
            in("x5") a[5],
            options(nostack),
        );
    }
    r
}
