//! Signals for the conformance programs: numbers and flags, the kernel's `struct sigaction`,
//! `siginfo_t` and `stack_t` layouts, a restorer that calls `rt_sigreturn` (what libc installs
//! with SA_RESTORER), and accessors for the saved context in Linux's `ucontext` layout on each
//! architecture (x86_64 `uc_mcontext.gregs` + the fxsave area; AArch64 `sigcontext` + the
//! `fpsimd_context` record), which handlers read and edit.

use crate::sys::{Pid, Timespec};
use crate::syscall::{nr, syscall2, syscall4};

pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGQUIT: i32 = 3;
pub const SIGILL: i32 = 4;
pub const SIGTRAP: i32 = 5;
pub const SIGABRT: i32 = 6;
pub const SIGBUS: i32 = 7;
pub const SIGFPE: i32 = 8;
pub const SIGKILL: i32 = 9;
pub const SIGUSR1: i32 = 10;
pub const SIGSEGV: i32 = 11;
pub const SIGUSR2: i32 = 12;
pub const SIGPIPE: i32 = 13;
pub const SIGALRM: i32 = 14;
pub const SIGTERM: i32 = 15;
pub const SIGCHLD: i32 = 17;
pub const SIGCONT: i32 = 18;
pub const SIGSTOP: i32 = 19;
pub const SIGTSTP: i32 = 20;
pub const SIGURG: i32 = 23;
pub const SIGWINCH: i32 = 28;
pub const SIGSYS: i32 = 31;
/// Real-time signals the tests use: above the ones C libraries and QEMU's user mode reserve.
pub const SIGRT_A: i32 = 40;
pub const SIGRT_B: i32 = 41;
pub const NSIG: i32 = 64;

pub const SIG_DFL: usize = 0;
pub const SIG_IGN: usize = 1;

pub const SA_NOCLDSTOP: u64 = 1;
pub const SA_NOCLDWAIT: u64 = 2;
pub const SA_SIGINFO: u64 = 4;
pub const SA_RESTORER: u64 = 0x0400_0000;
pub const SA_ONSTACK: u64 = 0x0800_0000;
pub const SA_RESTART: u64 = 0x1000_0000;
pub const SA_NODEFER: u64 = 0x4000_0000;
pub const SA_RESETHAND: u64 = 0x8000_0000;

pub const SIG_BLOCK: usize = 0;
pub const SIG_UNBLOCK: usize = 1;
pub const SIG_SETMASK: usize = 2;

pub const SS_ONSTACK: i32 = 1;
pub const SS_DISABLE: i32 = 2;
/// The kernel's minimum alternate stack size (uapi MINSIGSTKSZ).
#[cfg(target_arch = "x86_64")]
pub const MINSIGSTKSZ: usize = 2048;
#[cfg(target_arch = "aarch64")]
pub const MINSIGSTKSZ: usize = 5120;

// si_code values (include/uapi/asm-generic/siginfo.h).
pub const SI_USER: i32 = 0;
pub const SI_KERNEL: i32 = 0x80;
pub const SI_TKILL: i32 = -6;
pub const CLD_EXITED: i32 = 1;
pub const CLD_KILLED: i32 = 2;
pub const CLD_STOPPED: i32 = 5;
pub const CLD_CONTINUED: i32 = 6;
pub const SEGV_MAPERR: i32 = 1;
pub const SEGV_ACCERR: i32 = 2;

/// The mask bit of signal `sig`.
pub const fn bit(sig: i32) -> u64 {
    1 << (sig - 1)
}

/// The kernel's `struct sigaction` (x86_64 and AArch64 share it: handler, flags, restorer, mask).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct SigAction {
    pub handler: usize,
    pub flags: u64,
    pub restorer: usize,
    pub mask: u64,
}

/// `siginfo_t`: 128 bytes; the fields live at fixed offsets on both 64-bit ABIs.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub struct SigInfo {
    pub bytes: [u8; 128],
}

impl Default for SigInfo {
    fn default() -> SigInfo {
        SigInfo { bytes: [0; 128] }
    }
}

impl SigInfo {
    fn i32_at(&self, off: usize) -> i32 {
        let mut b = [0; 4];
        b.copy_from_slice(&self.bytes[off..off + 4]);
        i32::from_ne_bytes(b)
    }

    pub fn signo(&self) -> i32 {
        self.i32_at(0)
    }
    pub fn errno(&self) -> i32 {
        self.i32_at(4)
    }
    pub fn code(&self) -> i32 {
        self.i32_at(8)
    }
    /// Sender (kill, SIGCHLD) pid.
    pub fn pid(&self) -> Pid {
        self.i32_at(16)
    }
    /// Sender (kill, SIGCHLD) uid.
    pub fn uid(&self) -> u32 {
        self.i32_at(20) as u32
    }
    /// SIGCHLD: the exit code or signal.
    pub fn status(&self) -> i32 {
        self.i32_at(24)
    }
    /// Fault signals: the faulting address.
    pub fn addr(&self) -> usize {
        let mut b = [0; 8];
        b.copy_from_slice(&self.bytes[16..24]);
        usize::from_ne_bytes(b)
    }
}

/// `stack_t`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct StackT {
    pub sp: usize,
    pub flags: i32,
    pub size: usize,
}

/// A handler with SA_SIGINFO: signal, siginfo, ucontext.
pub type Handler = extern "C" fn(i32, *mut SigInfo, *mut u8);

/// Returns from a handler: `rt_sigreturn` with the frame the kernel built still at sp.
///
/// # Safety
/// Only the kernel calls this, as the return address of a signal handler.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
pub unsafe extern "C" fn restorer() {
    core::arch::naked_asm!("mov eax, {n}", "syscall", "ud2", n = const nr::RT_SIGRETURN)
}

/// Returns from a handler: `rt_sigreturn` with the frame the kernel built still at sp.
///
/// # Safety
/// Only the kernel calls this, as the return address of a signal handler.
#[cfg(target_arch = "aarch64")]
#[unsafe(naked)]
pub unsafe extern "C" fn restorer() {
    core::arch::naked_asm!("mov x8, #{n}", "svc #0", "udf #0", n = const nr::RT_SIGRETURN)
}

/// `rt_sigaction(sig, new, old, 8)`.
pub fn sigaction(sig: i32, new: Option<&SigAction>, old: Option<&mut SigAction>) -> isize {
    let n = new.map_or(0, |n| n as *const SigAction as usize);
    let o = old.map_or(0, |o| o as *mut SigAction as usize);
    // SAFETY: new is null or read; old is null or a live SigAction. A handler installed here is
    // an `extern "C"` function of this program or SIG_DFL/SIG_IGN.
    unsafe { syscall4(nr::RT_SIGACTION, sig as usize, n, o, 8) }
}

/// Installs `handler` for `sig` with SA_SIGINFO, our restorer, the extra `flags` and `mask`.
pub fn handle(sig: i32, handler: Handler, flags: u64, mask: u64) -> isize {
    let act = SigAction {
        handler: handler as usize,
        flags: SA_SIGINFO | SA_RESTORER | flags,
        restorer: restorer as *const () as usize,
        mask,
    };
    sigaction(sig, Some(&act), None)
}

/// Sets `sig` to SIG_DFL or SIG_IGN.
pub fn disposition(sig: i32, what: usize) -> isize {
    let act = SigAction {
        handler: what,
        ..SigAction::default()
    };
    sigaction(sig, Some(&act), None)
}

/// The current action for `sig`.
pub fn current(sig: i32) -> Result<SigAction, isize> {
    let mut old = SigAction::default();
    let r = sigaction(sig, None, Some(&mut old));
    if r < 0 { Err(r) } else { Ok(old) }
}

/// `rt_sigprocmask(how, set, old, 8)`.
pub fn sigprocmask(how: usize, set: Option<&u64>, old: Option<&mut u64>) -> isize {
    let s = set.map_or(0, |s| s as *const u64 as usize);
    let o = old.map_or(0, |o| o as *mut u64 as usize);
    // SAFETY: set is null or read; old is null or a live u64.
    unsafe { syscall4(nr::RT_SIGPROCMASK, how, s, o, 8) }
}

/// The calling thread's signal mask.
pub fn mask() -> u64 {
    let mut m = 0;
    sigprocmask(SIG_BLOCK, None, Some(&mut m));
    m
}

pub fn block(set: u64) -> isize {
    sigprocmask(SIG_BLOCK, Some(&set), None)
}

pub fn unblock(set: u64) -> isize {
    sigprocmask(SIG_UNBLOCK, Some(&set), None)
}

pub fn set_mask(set: u64) -> isize {
    sigprocmask(SIG_SETMASK, Some(&set), None)
}

/// The pending set (`rt_sigpending`).
pub fn pending() -> u64 {
    let mut set = 0u64;
    // SAFETY: set is a live u64.
    unsafe { syscall2(nr::RT_SIGPENDING, &mut set as *mut u64 as usize, 8) };
    set
}

/// `rt_sigtimedwait(set, info, timeout, 8)`: the signal taken, or -errno.
pub fn sigtimedwait(set: &u64, info: Option<&mut SigInfo>, timeout: Option<&Timespec>) -> isize {
    let i = info.map_or(0, |i| i as *mut SigInfo as usize);
    let t = timeout.map_or(0, |t| t as *const Timespec as usize);
    // SAFETY: set and timeout are read; info is null or a live siginfo.
    unsafe { syscall4(nr::RT_SIGTIMEDWAIT, set as *const u64 as usize, i, t, 8) }
}

/// `rt_sigsuspend(mask, 8)`: always returns -EINTR after a handler ran.
pub fn sigsuspend(mask: &u64) -> isize {
    // SAFETY: mask is read.
    unsafe { syscall2(nr::RT_SIGSUSPEND, mask as *const u64 as usize, 8) }
}

/// `sigaltstack(new, old)`.
pub fn sigaltstack(new: Option<&StackT>, old: Option<&mut StackT>) -> isize {
    let n = new.map_or(0, |n| n as *const StackT as usize);
    let o = old.map_or(0, |o| o as *mut StackT as usize);
    // SAFETY: new is null or read (the stack it names is the caller's); old is null or live.
    unsafe { syscall2(nr::SIGALTSTACK, n, o) }
}

/// The saved user context a handler receives, in Linux's `ucontext` layout.
pub mod context {
    /// Offset of the saved mask (`uc_sigmask`).
    #[cfg(target_arch = "x86_64")]
    const SIGMASK: usize = 296;
    #[cfg(target_arch = "aarch64")]
    const SIGMASK: usize = 40;

    /// x86_64 `uc_mcontext.gregs` indices (sys/ucontext.h REG_*).
    #[cfg(target_arch = "x86_64")]
    pub mod reg {
        pub const R12: usize = 4;
        pub const R13: usize = 5;
        pub const RAX: usize = 13;
        pub const RSP: usize = 15;
        pub const RIP: usize = 16;
        pub const TRAPNO: usize = 20;
        pub const CR2: usize = 22;
    }

    #[cfg(target_arch = "x86_64")]
    const GREGS: usize = 40;
    #[cfg(target_arch = "x86_64")]
    const FPREGS_PTR: usize = 40 + 23 * 8;
    /// `xmm0` within the fxsave area `fpregs` points to.
    #[cfg(target_arch = "x86_64")]
    const FX_XMM: usize = 160;
    #[cfg(target_arch = "x86_64")]
    const FX_MXCSR: usize = 24;

    /// AArch64 `sigcontext` offsets within the ucontext (uc_mcontext is 16-aligned at 176).
    #[cfg(target_arch = "aarch64")]
    const FAULT_ADDRESS: usize = 176;
    #[cfg(target_arch = "aarch64")]
    const REGS: usize = 184;
    #[cfg(target_arch = "aarch64")]
    const SP: usize = 432;
    #[cfg(target_arch = "aarch64")]
    const PC: usize = 440;
    #[cfg(target_arch = "aarch64")]
    const RESERVED: usize = 464;
    /// The `fpsimd_context` record's magic; it is the first record in `__reserved`.
    #[cfg(target_arch = "aarch64")]
    pub const FPSIMD_MAGIC: u32 = 0x4650_8001;

    /// # Safety
    /// `uc` must be the ucontext pointer a handler received, and `off` inside it.
    unsafe fn word(uc: *const u8, off: usize) -> u64 {
        // SAFETY: per the contract; the frame is 8-aligned at these offsets.
        unsafe { (uc.add(off) as *const u64).read() }
    }

    /// # Safety
    /// As for [`word`].
    unsafe fn set_word(uc: *mut u8, off: usize, v: u64) {
        // SAFETY: per the contract.
        unsafe { (uc.add(off) as *mut u64).write(v) }
    }

    /// The saved program counter.
    ///
    /// # Safety
    /// `uc` must be the ucontext pointer a handler received.
    pub unsafe fn pc(uc: *const u8) -> usize {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: per the contract.
        let v = unsafe { word(uc, GREGS + reg::RIP * 8) };
        #[cfg(target_arch = "aarch64")]
        // SAFETY: per the contract.
        let v = unsafe { word(uc, PC) };
        v as usize
    }

    /// Changes where the thread resumes after the handler returns.
    ///
    /// # Safety
    /// `uc` must be the ucontext pointer a handler received, and `pc` code that can run there.
    pub unsafe fn set_pc(uc: *mut u8, pc: usize) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: per the contract.
        unsafe {
            set_word(uc, GREGS + reg::RIP * 8, pc as u64)
        };
        #[cfg(target_arch = "aarch64")]
        // SAFETY: per the contract.
        unsafe {
            set_word(uc, PC, pc as u64)
        };
    }

    /// The saved stack pointer.
    ///
    /// # Safety
    /// `uc` must be the ucontext pointer a handler received.
    pub unsafe fn sp(uc: *const u8) -> usize {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: per the contract.
        let v = unsafe { word(uc, GREGS + reg::RSP * 8) };
        #[cfg(target_arch = "aarch64")]
        // SAFETY: per the contract.
        let v = unsafe { word(uc, SP) };
        v as usize
    }

    /// A saved general register: x86_64 by `reg::` index, AArch64 `x<i>`.
    ///
    /// # Safety
    /// `uc` must be the ucontext pointer a handler received.
    pub unsafe fn gpr(uc: *const u8, i: usize) -> u64 {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: per the contract; i < 23.
        let v = unsafe { word(uc, GREGS + i.min(22) * 8) };
        #[cfg(target_arch = "aarch64")]
        // SAFETY: per the contract; i < 31.
        let v = unsafe { word(uc, REGS + i.min(30) * 8) };
        v
    }

    /// # Safety
    /// `uc` must be the ucontext pointer a handler received.
    pub unsafe fn set_gpr(uc: *mut u8, i: usize, v: u64) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: per the contract.
        unsafe {
            set_word(uc, GREGS + i.min(22) * 8, v)
        };
        #[cfg(target_arch = "aarch64")]
        // SAFETY: per the contract.
        unsafe {
            set_word(uc, REGS + i.min(30) * 8, v)
        };
    }

    /// The signal mask that `rt_sigreturn` will restore.
    ///
    /// # Safety
    /// `uc` must be the ucontext pointer a handler received.
    pub unsafe fn sigmask(uc: *const u8) -> u64 {
        // SAFETY: per the contract.
        unsafe { word(uc, SIGMASK) }
    }

    /// # Safety
    /// `uc` must be the ucontext pointer a handler received.
    pub unsafe fn set_sigmask(uc: *mut u8, mask: u64) {
        // SAFETY: per the contract.
        unsafe { set_word(uc, SIGMASK, mask) }
    }

    /// AArch64 `sigcontext.fault_address`.
    ///
    /// # Safety
    /// `uc` must be the ucontext pointer a handler received.
    #[cfg(target_arch = "aarch64")]
    pub unsafe fn fault_address(uc: *const u8) -> usize {
        // SAFETY: per the contract.
        unsafe { word(uc, FAULT_ADDRESS) as usize }
    }

    /// x86_64 `uc_mcontext.gregs[REG_CR2]`: the page-fault address.
    ///
    /// # Safety
    /// `uc` must be the ucontext pointer a handler received.
    #[cfg(target_arch = "x86_64")]
    pub unsafe fn fault_address(uc: *const u8) -> usize {
        // SAFETY: per the contract.
        unsafe { word(uc, GREGS + reg::CR2 * 8) as usize }
    }

    /// Where vector register `i` is saved, if the frame has the FP/SIMD state: x86_64 `xmm<i>`
    /// in the fxsave area `uc_mcontext.fpregs` points to; AArch64 `v<i>` in the `fpsimd_context`
    /// record, which Linux always puts first in `__reserved`.
    ///
    /// # Safety
    /// `uc` must be the ucontext pointer a handler received.
    pub unsafe fn vreg_ptr(uc: *mut u8, i: usize) -> Option<*mut u128> {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: per the contract.
            let fp = unsafe { word(uc, FPREGS_PTR) } as usize;
            if fp == 0 || i >= 16 {
                return None;
            }
            Some((fp + FX_XMM + i * 16) as *mut u128)
        }
        #[cfg(target_arch = "aarch64")]
        {
            // SAFETY: per the contract; the record header is two u32s.
            let magic = unsafe { (uc.add(RESERVED) as *const u32).read() };
            if magic != FPSIMD_MAGIC || i >= 32 {
                return None;
            }
            // header (8) + fpsr (4) + fpcr (4), then vregs[32], 16-aligned.
            // SAFETY: inside the record per its magic.
            Some(unsafe { uc.add(RESERVED + 16 + i * 16) } as *mut u128)
        }
    }

    /// The saved MXCSR (x86_64) or FPCR (AArch64), if the frame has the FP state.
    ///
    /// # Safety
    /// `uc` must be the ucontext pointer a handler received.
    pub unsafe fn fp_control(uc: *const u8) -> Option<u32> {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: per the contract.
            let fp = unsafe { word(uc, FPREGS_PTR) } as usize;
            // SAFETY: fp points at the fxsave area of the frame.
            (fp != 0).then(|| unsafe { ((fp + FX_MXCSR) as *const u32).read() })
        }
        #[cfg(target_arch = "aarch64")]
        {
            // SAFETY: per the contract.
            let magic = unsafe { (uc.add(RESERVED) as *const u32).read() };
            // SAFETY: fpcr is at offset 12 of the fpsimd record.
            (magic == FPSIMD_MAGIC).then(|| unsafe { (uc.add(RESERVED + 12) as *const u32).read() })
        }
    }
}
