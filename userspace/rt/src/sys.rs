//! Typed wrappers over the raw system calls the conformance programs use. They return the
//! kernel's raw result (`-errno` on failure) so the programs can check error codes exactly. Calls
//! that only read or write memory the wrapper's arguments describe are safe functions; calls that
//! can change this process's own memory or control flow behind the compiler's back (mapping with
//! MAP_FIXED, unmapping, changing protections, exec) are `unsafe`.

use core::sync::atomic::AtomicU32;

use crate::syscall::{nr, syscall0, syscall1, syscall2, syscall3, syscall4, syscall5, syscall6};

pub type Pid = i32;

/// `struct timespec` (64-bit).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Timespec {
    pub sec: i64,
    pub nsec: i64,
}

impl Timespec {
    pub const fn from_ns(ns: i64) -> Timespec {
        Timespec {
            sec: ns / 1_000_000_000,
            nsec: ns % 1_000_000_000,
        }
    }

    pub fn ns(&self) -> i128 {
        self.sec as i128 * 1_000_000_000 + self.nsec as i128
    }
}

/// `struct timeval` (64-bit).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Timeval {
    pub sec: i64,
    pub usec: i64,
}

impl Timeval {
    pub fn us(&self) -> i128 {
        self.sec as i128 * 1_000_000 + self.usec as i128
    }
}

/// `struct rusage`: the two times, then 14 longs of counters.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct Rusage {
    pub utime: Timeval,
    pub stime: Timeval,
    pub counters: [i64; 14],
}

/// `struct tms`, in clock ticks.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct Tms {
    pub utime: i64,
    pub stime: i64,
    pub cutime: i64,
    pub cstime: i64,
}

/// `struct rlimit64`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Rlimit {
    pub cur: u64,
    pub max: u64,
}

pub const RLIM_INFINITY: u64 = u64::MAX;

// mmap and friends (asm-generic mman-common.h; x86_64 and AArch64 agree).
pub const PROT_NONE: usize = 0;
pub const PROT_READ: usize = 1;
pub const PROT_WRITE: usize = 2;
pub const PROT_EXEC: usize = 4;
pub const MAP_SHARED: usize = 0x01;
pub const MAP_PRIVATE: usize = 0x02;
pub const MAP_FIXED: usize = 0x10;
pub const MAP_ANONYMOUS: usize = 0x20;
pub const MAP_NORESERVE: usize = 0x4000;
pub const MAP_FIXED_NOREPLACE: usize = 0x10_0000;
pub const MREMAP_MAYMOVE: usize = 1;
pub const MREMAP_FIXED: usize = 2;
pub const MREMAP_DONTUNMAP: usize = 4;
pub const MADV_NORMAL: usize = 0;
pub const MADV_RANDOM: usize = 1;
pub const MADV_SEQUENTIAL: usize = 2;
pub const MADV_WILLNEED: usize = 3;
pub const MADV_DONTNEED: usize = 4;
pub const PAGE: usize = 4096;

// wait4/waitid (include/uapi/linux/wait.h).
pub const WNOHANG: usize = 1;
pub const WUNTRACED: usize = 2;
pub const WSTOPPED: usize = 2;
pub const WEXITED: usize = 4;
pub const WCONTINUED: usize = 8;
pub const WNOWAIT: usize = 0x0100_0000;
pub const WALL: usize = 0x4000_0000;
pub const P_ALL: usize = 0;
pub const P_PID: usize = 1;

// clone flags (include/uapi/linux/sched.h).
pub const CLONE_VM: usize = 0x100;
pub const CLONE_FS: usize = 0x200;
pub const CLONE_FILES: usize = 0x400;
pub const CLONE_SIGHAND: usize = 0x800;
pub const CLONE_VFORK: usize = 0x4000;
pub const CLONE_THREAD: usize = 0x1_0000;
pub const CLONE_SYSVSEM: usize = 0x4_0000;
pub const CLONE_SETTLS: usize = 0x8_0000;
pub const CLONE_PARENT_SETTID: usize = 0x10_0000;
pub const CLONE_CHILD_CLEARTID: usize = 0x20_0000;
pub const CLONE_CHILD_SETTID: usize = 0x100_0000;

// Clocks (include/uapi/linux/time.h).
pub const CLOCK_REALTIME: usize = 0;
pub const CLOCK_MONOTONIC: usize = 1;
pub const CLOCK_PROCESS_CPUTIME_ID: usize = 2;
pub const CLOCK_THREAD_CPUTIME_ID: usize = 3;
pub const CLOCK_BOOTTIME: usize = 7;
pub const TIMER_ABSTIME: usize = 1;

// futex (include/uapi/linux/futex.h).
pub const FUTEX_WAIT: usize = 0;
pub const FUTEX_WAKE: usize = 1;
pub const FUTEX_REQUEUE: usize = 3;
pub const FUTEX_CMP_REQUEUE: usize = 4;
pub const FUTEX_WAIT_BITSET: usize = 9;
pub const FUTEX_WAKE_BITSET: usize = 10;
pub const FUTEX_PRIVATE_FLAG: usize = 128;
pub const FUTEX_CLOCK_REALTIME: usize = 256;

// Resources (include/uapi/asm-generic/resource.h).
pub const RLIMIT_STACK: usize = 3;
pub const RLIMIT_CORE: usize = 4;
pub const RLIMIT_NOFILE: usize = 7;
pub const RUSAGE_SELF: usize = 0;
pub const RUSAGE_CHILDREN: isize = -1;
pub const RUSAGE_THREAD: usize = 1;

pub const O_CLOEXEC: usize = 0o2000000;
pub const F_GETFD: usize = 1;
pub const FD_CLOEXEC: isize = 1;

/// Decoded wait status (the `int` wait4 stores).
pub fn exited(status: i32) -> Option<i32> {
    (status & 0x7f == 0).then_some((status >> 8) & 0xff)
}
pub fn signaled(status: i32) -> Option<i32> {
    let sig = status & 0x7f;
    (sig != 0 && sig != 0x7f).then_some(sig)
}
pub fn stopped(status: i32) -> Option<i32> {
    (status & 0xff == 0x7f).then_some((status >> 8) & 0xff)
}
pub fn continued(status: i32) -> bool {
    status == 0xffff
}

/// A wait status in words: `exited 3`, `killed by 9`, `stopped by 19`, `continued`.
pub struct Status(pub i32);

impl core::fmt::Display for Status {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = self.0;
        if let Some(c) = exited(s) {
            write!(f, "exited {c}")
        } else if let Some(sig) = signaled(s) {
            write!(f, "killed by {sig}")
        } else if let Some(sig) = stopped(s) {
            write!(f, "stopped by {sig}")
        } else if continued(s) {
            write!(f, "continued")
        } else {
            write!(f, "status {s:#x}")
        }
    }
}

pub fn getpid() -> Pid {
    // SAFETY: no arguments.
    unsafe { syscall0(nr::GETPID) as Pid }
}

pub fn getppid() -> Pid {
    // SAFETY: no arguments.
    unsafe { syscall0(nr::GETPPID) as Pid }
}

pub fn gettid() -> Pid {
    // SAFETY: no arguments.
    unsafe { syscall0(nr::GETTID) as Pid }
}

pub fn sched_yield() -> isize {
    // SAFETY: no arguments.
    unsafe { syscall0(nr::SCHED_YIELD) }
}

/// `fork()`: the x86_64 syscall; AArch64 has only clone, which fork is `clone(SIGCHLD, 0)`.
pub fn fork() -> isize {
    // SAFETY: the child gets a copy of this address space and continues here, like C's fork.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        syscall0(nr::FORK)
    }
    // SAFETY: as above; clone(SIGCHLD, stack 0 = same stack in the copy) is fork.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        syscall5(nr::CLONE, crate::signal::SIGCHLD as usize, 0, 0, 0, 0)
    }
}

/// `wait4(pid, &status, options, NULL)`.
pub fn wait4(pid: Pid, status: Option<&mut i32>, options: usize) -> isize {
    let p = status.map_or(0, |s| s as *mut i32 as usize);
    // SAFETY: the status pointer is null or a live i32.
    unsafe { syscall4(nr::WAIT4, pid as isize as usize, p, options, 0) }
}

/// `wait4(pid, &status, options, &rusage)`.
pub fn wait4_rusage(pid: Pid, status: &mut i32, options: usize, ru: &mut Rusage) -> isize {
    // SAFETY: both pointers are live objects of the right types.
    unsafe {
        syscall4(
            nr::WAIT4,
            pid as isize as usize,
            status as *mut i32 as usize,
            options,
            ru as *mut Rusage as usize,
        )
    }
}

/// Waits for `pid` to end (retrying EINTR) and returns its status; a failure is reported as a
/// check failure and gives -1.
pub fn wait_for(pid: Pid) -> i32 {
    let mut status = 0;
    loop {
        let r = wait4(pid, Some(&mut status), 0);
        if r == -crate::errno::EINTR {
            continue;
        }
        if r != pid as isize {
            crate::check::fail("wait4", crate::errno::Ret(r));
            return -1;
        }
        return status;
    }
}

/// `waitid(idtype, id, &info, options, NULL)`.
pub fn waitid(idtype: usize, id: Pid, info: &mut crate::signal::SigInfo, options: usize) -> isize {
    // SAFETY: info is a live 128-byte siginfo.
    unsafe {
        syscall5(
            nr::WAITID,
            idtype,
            id as isize as usize,
            info as *mut _ as usize,
            options,
            0,
        )
    }
}

pub fn kill(pid: Pid, sig: i32) -> isize {
    // SAFETY: no pointers.
    unsafe { syscall2(nr::KILL, pid as isize as usize, sig as isize as usize) }
}

pub fn tkill(tid: Pid, sig: i32) -> isize {
    // SAFETY: no pointers.
    unsafe { syscall2(nr::TKILL, tid as isize as usize, sig as isize as usize) }
}

pub fn tgkill(tgid: Pid, tid: Pid, sig: i32) -> isize {
    // SAFETY: no pointers.
    unsafe {
        syscall3(
            nr::TGKILL,
            tgid as isize as usize,
            tid as isize as usize,
            sig as isize as usize,
        )
    }
}

/// Sends `sig` to this thread (what libc's `raise` does).
pub fn raise(sig: i32) -> isize {
    tgkill(getpid(), gettid(), sig)
}

/// Ends only the calling thread (`exit`, not `exit_group`).
pub fn exit_thread(code: i32) -> ! {
    // SAFETY: exit takes no pointers and does not return.
    unsafe { syscall1(nr::EXIT, code as usize) };
    #[allow(clippy::empty_loop)]
    loop {}
}

/// `mmap` with any arguments.
///
/// # Safety
/// With MAP_FIXED the call replaces whatever is mapped at `addr`; the caller must own that range.
pub unsafe fn mmap(
    addr: usize,
    len: usize,
    prot: usize,
    flags: usize,
    fd: isize,
    off: usize,
) -> isize {
    // SAFETY: forwarded to the caller.
    unsafe { syscall6(nr::MMAP, [addr, len, prot, flags, fd as usize, off]) }
}

/// A fresh private anonymous mapping of `len` bytes anywhere: its address, or -errno.
pub fn mmap_anon(len: usize, prot: usize) -> isize {
    // SAFETY: without MAP_FIXED the kernel picks a free range; nothing existing changes.
    unsafe { mmap(0, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) }
}

/// # Safety
/// Nothing may use the range afterwards (unless it is mapped again).
pub unsafe fn munmap(addr: usize, len: usize) -> isize {
    // SAFETY: forwarded to the caller.
    unsafe { syscall2(nr::MUNMAP, addr, len) }
}

/// # Safety
/// The caller must own the range and not access it in ways the new protection forbids (unless
/// the resulting fault is what it tests).
pub unsafe fn mprotect(addr: usize, len: usize, prot: usize) -> isize {
    // SAFETY: forwarded to the caller.
    unsafe { syscall3(nr::MPROTECT, addr, len, prot) }
}

/// # Safety
/// The caller must own both ranges; the old one may move.
pub unsafe fn mremap(
    old: usize,
    old_len: usize,
    new_len: usize,
    flags: usize,
    new: usize,
) -> isize {
    // SAFETY: forwarded to the caller.
    unsafe { syscall5(nr::MREMAP, old, old_len, new_len, flags, new) }
}

/// # Safety
/// Some advice (MADV_DONTNEED) discards the range's contents; the caller must own it.
pub unsafe fn madvise(addr: usize, len: usize, advice: usize) -> isize {
    // SAFETY: forwarded to the caller.
    unsafe { syscall3(nr::MADVISE, addr, len, advice) }
}

/// The raw `brk` syscall: returns the (new or unchanged) break.
///
/// # Safety
/// Shrinking the break frees the memory above it; nothing may still use it.
pub unsafe fn brk(addr: usize) -> usize {
    // SAFETY: forwarded to the caller.
    unsafe { syscall1(nr::BRK, addr) as usize }
}

pub fn nanosleep(req: &Timespec, rem: Option<&mut Timespec>) -> isize {
    let r = rem.map_or(0, |r| r as *mut Timespec as usize);
    // SAFETY: req is read, rem is null or a live timespec.
    unsafe { syscall2(nr::NANOSLEEP, req as *const Timespec as usize, r) }
}

pub fn clock_nanosleep(
    clock: usize,
    flags: usize,
    req: &Timespec,
    rem: Option<&mut Timespec>,
) -> isize {
    let r = rem.map_or(0, |r| r as *mut Timespec as usize);
    // SAFETY: req is read, rem is null or a live timespec.
    unsafe {
        syscall4(
            nr::CLOCK_NANOSLEEP,
            clock,
            flags,
            req as *const Timespec as usize,
            r,
        )
    }
}

/// Sleeps at least `ms` milliseconds (restarting after signal handlers).
pub fn sleep_ms(ms: i64) {
    let mut req = Timespec::from_ns(ms * 1_000_000);
    let mut rem = Timespec::default();
    while nanosleep(&req, Some(&mut rem)) == -crate::errno::EINTR {
        req = rem;
    }
}

pub fn clock_gettime(clock: usize) -> Result<Timespec, isize> {
    let mut t = Timespec::default();
    // SAFETY: t is a live timespec.
    let r = unsafe { syscall2(nr::CLOCK_GETTIME, clock, &mut t as *mut Timespec as usize) };
    if r < 0 { Err(r) } else { Ok(t) }
}

pub fn clock_getres(clock: usize) -> Result<Timespec, isize> {
    let mut t = Timespec::default();
    // SAFETY: t is a live timespec.
    let r = unsafe { syscall2(nr::CLOCK_GETRES, clock, &mut t as *mut Timespec as usize) };
    if r < 0 { Err(r) } else { Ok(t) }
}

/// CLOCK_MONOTONIC in nanoseconds (0 if the clock is missing, which its own checks report).
pub fn monotonic_ns() -> i128 {
    clock_gettime(CLOCK_MONOTONIC).map_or(0, |t| t.ns())
}

/// The raw futex call.
///
/// # Safety
/// `uaddr`/`uaddr2` must be valid futex words (or deliberately invalid to test errors), and
/// `timeout` null, a live timespec, or (for the requeue operations) a count.
pub unsafe fn futex(
    uaddr: *const u32,
    op: usize,
    val: u32,
    timeout: usize,
    uaddr2: *const u32,
    val3: u32,
) -> isize {
    // SAFETY: forwarded to the caller.
    unsafe {
        syscall6(
            nr::FUTEX,
            [
                uaddr as usize,
                op,
                val as usize,
                timeout,
                uaddr2 as usize,
                val3 as usize,
            ],
        )
    }
}

/// FUTEX_WAIT_PRIVATE on `word` while it holds `val`, with an optional relative timeout.
pub fn futex_wait(word: &AtomicU32, val: u32, timeout: Option<&Timespec>) -> isize {
    let t = timeout.map_or(0, |t| t as *const Timespec as usize);
    // SAFETY: word is a live aligned u32; t is null or a live timespec.
    unsafe {
        futex(
            word.as_ptr(),
            FUTEX_WAIT | FUTEX_PRIVATE_FLAG,
            val,
            t,
            core::ptr::null(),
            0,
        )
    }
}

/// FUTEX_WAKE_PRIVATE: wakes up to `n` waiters on `word`; returns how many woke.
pub fn futex_wake(word: &AtomicU32, n: u32) -> isize {
    // SAFETY: word is a live aligned u32.
    unsafe {
        futex(
            word.as_ptr(),
            FUTEX_WAKE | FUTEX_PRIVATE_FLAG,
            n,
            0,
            core::ptr::null(),
            0,
        )
    }
}

/// # Safety
/// `path`, `argv` and `envp` must be null-terminated as execve requires (or deliberately bad to
/// test errors). On success this process image is replaced.
pub unsafe fn execve(path: *const u8, argv: *const *const u8, envp: *const *const u8) -> isize {
    // SAFETY: forwarded to the caller.
    unsafe { syscall3(nr::EXECVE, path as usize, argv as usize, envp as usize) }
}

pub fn pipe2(flags: usize) -> Result<[i32; 2], isize> {
    let mut fds = [0i32; 2];
    // SAFETY: fds is a live [i32; 2].
    let r = unsafe { syscall2(nr::PIPE2, fds.as_mut_ptr() as usize, flags) };
    if r < 0 { Err(r) } else { Ok(fds) }
}

/// Mounts /proc if it is not there, as an init does (the program may be init, booted from an
/// initramfs that has no /proc). Used by the programs that read /proc/meminfo.
pub fn mount_proc() {
    // SAFETY: NUL-terminated strings; faccessat-like probe through a read-only open.
    let fd = unsafe {
        syscall4(
            nr::OPENAT,
            (-100isize) as usize,
            c"/proc/meminfo".as_ptr() as usize,
            0,
            0,
        )
    };
    if fd >= 0 {
        close(fd as i32);
        return;
    }
    // SAFETY: NUL-terminated strings; an existing /proc (EEXIST) is fine, a failed mount shows
    // as the missing file later.
    unsafe {
        syscall3(
            nr::MKDIRAT,
            (-100isize) as usize,
            c"/proc".as_ptr() as usize,
            0o555,
        );
        syscall6(
            nr::MOUNT,
            [
                c"proc".as_ptr() as usize,
                c"/proc".as_ptr() as usize,
                c"proc".as_ptr() as usize,
                0,
                0,
                0,
            ],
        );
    }
}

pub fn close(fd: i32) -> isize {
    // SAFETY: no pointers.
    unsafe { syscall1(nr::CLOSE, fd as usize) }
}

pub fn read(fd: i32, buf: &mut [u8]) -> isize {
    // SAFETY: read writes at most buf.len() bytes into buf.
    unsafe { syscall3(nr::READ, fd as usize, buf.as_mut_ptr() as usize, buf.len()) }
}

pub fn fcntl(fd: i32, cmd: usize, arg: usize) -> isize {
    // SAFETY: the commands used (F_GETFD, F_GETFL) take no pointers.
    unsafe { syscall3(nr::FCNTL, fd as usize, cmd, arg) }
}

pub fn getrusage(who: isize) -> Result<Rusage, isize> {
    let mut ru = Rusage::default();
    // SAFETY: ru is a live rusage.
    let r = unsafe { syscall2(nr::GETRUSAGE, who as usize, &mut ru as *mut Rusage as usize) };
    if r < 0 { Err(r) } else { Ok(ru) }
}

/// `prlimit64(pid, resource, new, old)`.
pub fn prlimit(pid: Pid, resource: usize, new: Option<&Rlimit>, old: Option<&mut Rlimit>) -> isize {
    let n = new.map_or(0, |n| n as *const Rlimit as usize);
    let o = old.map_or(0, |o| o as *mut Rlimit as usize);
    // SAFETY: new is null or read, old is null or a live rlimit.
    unsafe { syscall4(nr::PRLIMIT64, pid as usize, resource, n, o) }
}

/// Burns CPU for at least `ms` milliseconds of monotonic time (for CPU-time and preemption
/// tests); returns a value derived from the work so it is not optimised away.
pub fn spin_ms(ms: i64) -> u64 {
    let end = monotonic_ns() + ms as i128 * 1_000_000;
    let mut x: u64 = 1;
    while monotonic_ns() < end {
        for _ in 0..1000 {
            x = core::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
    x
}
