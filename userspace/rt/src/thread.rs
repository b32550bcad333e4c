//! Raw threads: `clone` with the flags pthreads use, on a stack this module maps, running an
//! `extern "C" fn(usize) -> i32` and ending with `exit` (the thread only). The thread's control
//! block doubles as its TLS block (x86_64 FS base / AArch64 TPIDR_EL0 point at it, and its first
//! word points to itself, the x86_64 TLS ABI convention), and holds the tid words the kernel
//! writes: CLONE_PARENT_SETTID, CLONE_CHILD_SETTID and CLONE_CHILD_CLEARTID, whose futex wake
//! at thread exit is what [`Thread::join`] waits for.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::sys::{self, Pid};
use crate::syscall::nr;

/// The flags of a pthread_create-style clone.
pub const THREAD_FLAGS: usize = sys::CLONE_VM
    | sys::CLONE_FS
    | sys::CLONE_FILES
    | sys::CLONE_SIGHAND
    | sys::CLONE_THREAD
    | sys::CLONE_SYSVSEM
    | sys::CLONE_SETTLS
    | sys::CLONE_PARENT_SETTID
    | sys::CLONE_CHILD_SETTID
    | sys::CLONE_CHILD_CLEARTID;

/// The size of each thread's mapping: control block at the bottom, stack above it.
const MAPPING: usize = 128 * 1024;

/// The start of each thread's mapping; the thread's TLS pointer points here.
#[repr(C)]
pub struct Control {
    /// The TLS self pointer (x86_64 `%fs:0`).
    pub tls_self: usize,
    /// CLONE_PARENT_SETTID target.
    pub ptid: AtomicU32,
    /// CLONE_CHILD_SETTID / CLONE_CHILD_CLEARTID target; 1 until the kernel writes the tid.
    pub ctid: AtomicU32,
}

/// A running (or finished, not yet joined) raw thread.
pub struct Thread {
    /// What clone returned.
    pub tid: Pid,
    base: usize,
}

impl Thread {
    /// The thread's control block.
    pub fn control(&self) -> &Control {
        // SAFETY: base is the start of the live mapping made by spawn, which begins with the
        // initialised Control and stays mapped until join.
        unsafe { &*(self.base as *const Control) }
    }

    /// True once the kernel cleared the CLONE_CHILD_CLEARTID word (the thread has exited).
    pub fn finished(&self) -> bool {
        self.control().ctid.load(Ordering::Acquire) == 0
    }

    /// Waits for the thread to exit (the kernel clears `ctid` and wakes it with a *shared*
    /// futex wake, so this waits with shared FUTEX_WAIT), then unmaps its stack.
    pub fn join(self) {
        let ctid = &self.control().ctid;
        loop {
            let v = ctid.load(Ordering::Acquire);
            if v == 0 {
                break;
            }
            // SAFETY: ctid is a live aligned u32 in our mapping.
            unsafe { sys::futex(ctid.as_ptr(), sys::FUTEX_WAIT, v, 0, core::ptr::null(), 0) };
        }
        // SAFETY: the thread has exited (the kernel cleared ctid after its last user-mode
        // instruction), so nothing uses its stack any more.
        unsafe { sys::munmap(self.base, MAPPING) };
    }
}

/// Starts `f(arg)` on a new thread with [`THREAD_FLAGS`].
pub fn spawn(f: extern "C" fn(usize) -> i32, arg: usize) -> Result<Thread, isize> {
    spawn_with(THREAD_FLAGS, f, arg)
}

/// Starts `f(arg)` on a new thread made by `clone(flags, ...)`; the flags must include CLONE_VM
/// (the new thread runs on a stack in this address space). The TLS, tid pointers are always
/// passed; the flags decide which the kernel uses.
pub fn spawn_with(
    flags: usize,
    f: extern "C" fn(usize) -> i32,
    arg: usize,
) -> Result<Thread, isize> {
    let base = sys::mmap_anon(MAPPING, sys::PROT_READ | sys::PROT_WRITE);
    if base < 0 {
        return Err(base);
    }
    let base = base as usize;
    let ctl = base as *mut Control;
    // SAFETY: the fresh mapping is writable and large enough for a Control.
    unsafe {
        ctl.write(Control {
            tls_self: base,
            ptid: AtomicU32::new(0),
            ctid: AtomicU32::new(1),
        })
    };
    // SAFETY: as above; the references are to the fields just written.
    let (ptid, ctid) = unsafe { ((*ctl).ptid.as_ptr(), (*ctl).ctid.as_ptr()) };
    // SAFETY: the stack top is the end of our own fresh mapping; f is an extern "C" fn that the
    // trampoline calls on that stack before exiting the thread; ptid/ctid/tls are in the mapping.
    let r = unsafe { clone_raw(f, base + MAPPING, flags, arg, ptid, ctid, base) };
    if r < 0 {
        // SAFETY: no thread was created, so the mapping is unused.
        unsafe { sys::munmap(base, MAPPING) };
        return Err(r);
    }
    Ok(Thread {
        tid: r as Pid,
        base,
    })
}

/// The calling thread's TLS pointer (FS base via `%fs:0`, or TPIDR_EL0).
pub fn tls_pointer() -> usize {
    let v: usize;
    // SAFETY: reads the thread pointer; on x86_64 the FS segment must be set up, which is true
    // for threads made by spawn (callers on other threads use arch-specific checks instead).
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::asm!("mov {}, fs:[0]", out(reg) v, options(nostack, readonly, preserves_flags))
    };
    // SAFETY: reading TPIDR_EL0 has no side effects.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        core::arch::asm!("mrs {}, tpidr_el0", out(reg) v, options(nostack, nomem, preserves_flags))
    };
    v
}

/// `clone` that runs `f(arg)` on `stack` in the child and then `exit`s with its result.
///
/// x86_64: f=rdi, stack=rsi, flags=rdx, arg=rcx, ptid=r8, ctid=r9, tls on the stack; the kernel
/// wants clone(flags, stack, ptid, ctid, tls). `f` and `arg` are stored on the child's stack
/// first, since the child returns from the syscall on that stack with nothing else of ours.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
unsafe extern "C" fn clone_raw(
    f: extern "C" fn(usize) -> i32,
    stack: usize,
    flags: usize,
    arg: usize,
    ptid: *mut u32,
    ctid: *mut u32,
    tls: usize,
) -> isize {
    core::arch::naked_asm!(
        "and rsi, -16",
        "sub rsi, 16",
        "mov [rsi], rcx",
        "mov [rsi + 8], rdi",
        "mov rdi, rdx",
        "mov rdx, r8",
        "mov r10, r9",
        "mov r8, [rsp + 8]",
        "mov eax, {clone}",
        "syscall",
        "test rax, rax",
        "jnz 2f",
        // The child: rsp is the new stack, with arg and f on it.
        "xor ebp, ebp",
        "pop rdi",
        "pop rax",
        "call rax",
        "mov edi, eax",
        "mov eax, {exit}",
        "syscall",
        "ud2",
        "2:",
        "ret",
        clone = const nr::CLONE,
        exit = const nr::EXIT,
    )
}

/// `clone` that runs `f(arg)` on `stack` in the child and then `exit`s with its result.
///
/// AArch64: f=x0, stack=x1, flags=x2, arg=x3, ptid=x4, ctid=x5, tls=x6; the kernel wants
/// clone(flags, stack, ptid, tls, ctid) (CLONE_BACKWARDS).
#[cfg(target_arch = "aarch64")]
#[unsafe(naked)]
unsafe extern "C" fn clone_raw(
    f: extern "C" fn(usize) -> i32,
    stack: usize,
    flags: usize,
    arg: usize,
    ptid: *mut u32,
    ctid: *mut u32,
    tls: usize,
) -> isize {
    core::arch::naked_asm!(
        "and x1, x1, #-16",
        "stp x0, x3, [x1, #-16]!",
        "mov x0, x2",
        "mov x2, x4",
        "mov x3, x6",
        "mov x4, x5",
        "mov x8, #{clone}",
        "svc #0",
        "cbnz x0, 2f",
        // The child: sp is the new stack, with f and arg on it.
        "ldp x1, x0, [sp], #16",
        "mov x29, xzr",
        "mov x30, xzr",
        "blr x1",
        "mov x8, #{exit}",
        "svc #0",
        "udf #0",
        "2:",
        "ret",
        clone = const nr::CLONE,
        exit = const nr::EXIT,
    )
}
