//! Raw Linux system calls, per architecture: x86_64 `syscall` (number in rax, arguments in rdi rsi
//! rdx r10 r8 r9, result in rax; rcx and r11 clobbered) and AArch64 `svc #0` (number in x8,
//! arguments in x0..x5, result in x0). Results are the kernel's raw value: -errno on failure.

use core::arch::asm;

/// The syscall numbers the runtime and the test programs use (x86_64 table).
#[cfg(target_arch = "x86_64")]
pub mod nr {
    pub const WRITE: usize = 1;
    pub const EXIT: usize = 60;
    pub const EXIT_GROUP: usize = 231;
}

/// The syscall numbers the runtime and the test programs use (asm-generic table).
#[cfg(target_arch = "aarch64")]
pub mod nr {
    pub const WRITE: usize = 64;
    pub const EXIT: usize = 93;
    pub const EXIT_GROUP: usize = 94;
}

/// Six-argument system call; the fewer-argument forms pass zeros, which the kernel ignores.
///
/// # Safety
/// The call may read or write any memory its arguments point to, or end the process: the caller
/// must pass arguments that are valid for syscall `n`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn syscall6(n: usize, a: [usize; 6]) -> isize {
    let r: isize;
    // SAFETY: the caller vouches for the arguments; the asm declares everything the syscall
    // instruction clobbers (rcx = return address, r11 = saved rflags).
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n as isize => r,
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

/// Six-argument system call; the fewer-argument forms pass zeros, which the kernel ignores.
///
/// # Safety
/// The call may read or write any memory its arguments point to, or end the process: the caller
/// must pass arguments that are valid for syscall `n`.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
pub unsafe fn syscall6(n: usize, a: [usize; 6]) -> isize {
    let r: isize;
    // SAFETY: the caller vouches for the arguments; svc preserves all registers but x0.
    unsafe {
        asm!(
            "svc #0",
            in("x8") n,
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

/// # Safety
/// See [`syscall6`].
#[inline(always)]
pub unsafe fn syscall0(n: usize) -> isize {
    // SAFETY: forwarded to the caller.
    unsafe { syscall6(n, [0; 6]) }
}

/// # Safety
/// See [`syscall6`].
#[inline(always)]
pub unsafe fn syscall1(n: usize, a0: usize) -> isize {
    // SAFETY: forwarded to the caller.
    unsafe { syscall6(n, [a0, 0, 0, 0, 0, 0]) }
}

/// # Safety
/// See [`syscall6`].
#[inline(always)]
pub unsafe fn syscall2(n: usize, a0: usize, a1: usize) -> isize {
    // SAFETY: forwarded to the caller.
    unsafe { syscall6(n, [a0, a1, 0, 0, 0, 0]) }
}

/// # Safety
/// See [`syscall6`].
#[inline(always)]
pub unsafe fn syscall3(n: usize, a0: usize, a1: usize, a2: usize) -> isize {
    // SAFETY: forwarded to the caller.
    unsafe { syscall6(n, [a0, a1, a2, 0, 0, 0]) }
}

/// # Safety
/// See [`syscall6`].
#[inline(always)]
pub unsafe fn syscall4(n: usize, a0: usize, a1: usize, a2: usize, a3: usize) -> isize {
    // SAFETY: forwarded to the caller.
    unsafe { syscall6(n, [a0, a1, a2, a3, 0, 0]) }
}

/// # Safety
/// See [`syscall6`].
#[inline(always)]
pub unsafe fn syscall5(n: usize, a0: usize, a1: usize, a2: usize, a3: usize, a4: usize) -> isize {
    // SAFETY: forwarded to the caller.
    unsafe { syscall6(n, [a0, a1, a2, a3, a4, 0]) }
}
