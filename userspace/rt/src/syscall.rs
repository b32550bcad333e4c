//! Raw Linux system calls, per architecture: x86_64 `syscall` (number in rax, arguments in rdi rsi
//! rdx r10 r8 r9, result in rax; rcx and r11 clobbered) and AArch64 `svc #0` (number in x8,
//! arguments in x0..x5, result in x0). Results are the kernel's raw value: -errno on failure.

use core::arch::asm;

/// The syscall numbers the runtime and the test programs use (x86_64 table).
#[cfg(target_arch = "x86_64")]
pub mod nr {
    pub const READ: usize = 0;
    pub const WRITE: usize = 1;
    pub const OPENAT: usize = 257;
    pub const MKDIRAT: usize = 258;
    pub const MOUNT: usize = 165;
    pub const CLOSE: usize = 3;
    pub const PPOLL: usize = 271;
    pub const PIPE2: usize = 293;
    pub const DUP3: usize = 292;
    pub const FCNTL: usize = 72;
    pub const IOCTL: usize = 16;
    pub const MMAP: usize = 9;
    pub const MPROTECT: usize = 10;
    pub const MUNMAP: usize = 11;
    pub const BRK: usize = 12;
    pub const MREMAP: usize = 25;
    pub const MADVISE: usize = 28;
    pub const RT_SIGACTION: usize = 13;
    pub const RT_SIGPROCMASK: usize = 14;
    pub const RT_SIGRETURN: usize = 15;
    pub const RT_SIGPENDING: usize = 127;
    pub const RT_SIGTIMEDWAIT: usize = 128;
    pub const RT_SIGSUSPEND: usize = 130;
    pub const RT_SIGQUEUEINFO: usize = 129;
    pub const SIGALTSTACK: usize = 131;
    pub const SCHED_YIELD: usize = 24;
    pub const SCHED_GETAFFINITY: usize = 204;
    pub const NANOSLEEP: usize = 35;
    pub const CLOCK_GETTIME: usize = 228;
    pub const CLOCK_GETRES: usize = 229;
    pub const CLOCK_NANOSLEEP: usize = 230;
    pub const GETTIMEOFDAY: usize = 96;
    pub const TIMES: usize = 100;
    pub const GETRUSAGE: usize = 98;
    pub const GETPID: usize = 39;
    pub const GETPPID: usize = 110;
    pub const GETTID: usize = 186;
    pub const GETUID: usize = 102;
    pub const GETEUID: usize = 107;
    pub const GETGID: usize = 104;
    pub const GETEGID: usize = 108;
    pub const GETRESUID: usize = 118;
    pub const GETRESGID: usize = 120;
    pub const GETGROUPS: usize = 115;
    pub const CLONE: usize = 56;
    pub const CLONE3: usize = 435;
    pub const EXECVE: usize = 59;
    pub const EXIT: usize = 60;
    pub const EXIT_GROUP: usize = 231;
    pub const WAIT4: usize = 61;
    pub const WAITID: usize = 247;
    pub const KILL: usize = 62;
    pub const TKILL: usize = 200;
    pub const TGKILL: usize = 234;
    pub const FUTEX: usize = 202;
    pub const SET_TID_ADDRESS: usize = 218;
    pub const SET_ROBUST_LIST: usize = 273;
    pub const GETRLIMIT: usize = 97;
    pub const PRLIMIT64: usize = 302;
    pub const GETRANDOM: usize = 318;
    pub const UNAME: usize = 63;
    pub const NEWFSTATAT: usize = 262;
    pub const SYNC: usize = 162;
    pub const REBOOT: usize = 169;
    pub const FORK: usize = 57;
    pub const VFORK: usize = 58;
    pub const ARCH_PRCTL: usize = 158;
    pub const PAUSE: usize = 34;
    pub const POLL: usize = 7;
    pub const PIPE: usize = 22;
}

/// The syscall numbers the runtime and the test programs use (asm-generic table).
#[cfg(target_arch = "aarch64")]
pub mod nr {
    pub const READ: usize = 63;
    pub const WRITE: usize = 64;
    pub const OPENAT: usize = 56;
    pub const MKDIRAT: usize = 34;
    pub const MOUNT: usize = 40;
    pub const CLOSE: usize = 57;
    pub const PPOLL: usize = 73;
    pub const PIPE2: usize = 59;
    pub const DUP3: usize = 24;
    pub const FCNTL: usize = 25;
    pub const IOCTL: usize = 29;
    pub const MMAP: usize = 222;
    pub const MPROTECT: usize = 226;
    pub const MUNMAP: usize = 215;
    pub const BRK: usize = 214;
    pub const MREMAP: usize = 216;
    pub const MADVISE: usize = 233;
    pub const RT_SIGACTION: usize = 134;
    pub const RT_SIGPROCMASK: usize = 135;
    pub const RT_SIGRETURN: usize = 139;
    pub const RT_SIGPENDING: usize = 136;
    pub const RT_SIGTIMEDWAIT: usize = 137;
    pub const RT_SIGSUSPEND: usize = 133;
    pub const RT_SIGQUEUEINFO: usize = 138;
    pub const SIGALTSTACK: usize = 132;
    pub const SCHED_YIELD: usize = 124;
    pub const SCHED_GETAFFINITY: usize = 123;
    pub const NANOSLEEP: usize = 101;
    pub const CLOCK_GETTIME: usize = 113;
    pub const CLOCK_GETRES: usize = 114;
    pub const CLOCK_NANOSLEEP: usize = 115;
    pub const GETTIMEOFDAY: usize = 169;
    pub const TIMES: usize = 153;
    pub const GETRUSAGE: usize = 165;
    pub const GETPID: usize = 172;
    pub const GETPPID: usize = 173;
    pub const GETTID: usize = 178;
    pub const GETUID: usize = 174;
    pub const GETEUID: usize = 175;
    pub const GETGID: usize = 176;
    pub const GETEGID: usize = 177;
    pub const GETRESUID: usize = 148;
    pub const GETRESGID: usize = 150;
    pub const GETGROUPS: usize = 158;
    pub const CLONE: usize = 220;
    pub const CLONE3: usize = 435;
    pub const EXECVE: usize = 221;
    pub const EXIT: usize = 93;
    pub const EXIT_GROUP: usize = 94;
    pub const WAIT4: usize = 260;
    pub const WAITID: usize = 95;
    pub const KILL: usize = 129;
    pub const TKILL: usize = 130;
    pub const TGKILL: usize = 131;
    pub const FUTEX: usize = 98;
    pub const SET_TID_ADDRESS: usize = 96;
    pub const SET_ROBUST_LIST: usize = 99;
    pub const GETRLIMIT: usize = 163;
    pub const PRLIMIT64: usize = 261;
    pub const GETRANDOM: usize = 278;
    pub const UNAME: usize = 160;
    pub const NEWFSTATAT: usize = 79;
    pub const SYNC: usize = 81;
    pub const REBOOT: usize = 142;
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
