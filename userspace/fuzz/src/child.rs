//! One fuzzing child: makes itself harmless to the harness, opens a pool of descriptors of every
//! kind, builds the arena, then issues up to its budget of random calls, recording each (and its
//! result) in the shared memory. Half of its plain forks go on fuzzing for a while, so that two
//! processes work on the same open files. With `verbose` it prints every call before and its
//! result after, on a copy of the console it keeps on a high descriptor.

use core::fmt::Write as _;
use core::sync::atomic::Ordering::Relaxed;

use rt::signal::{self, SIG_DFL, SigInfo};
use rt::sys;
use rt::syscall::{nr, syscall2, syscall3, syscall4};

use crate::arena;
use crate::calls::{self, Ctx};
use crate::deny;
use crate::out::Line;
use crate::raw;
use crate::rng::Rng;
use crate::shared::{PHASE_RUNNING, Shared};
use crate::table;

/// The signal the parent pokes a stalled child with: the child handles it with an empty handler
/// installed without SA_RESTART, so a blocking call returns EINTR and the child goes on. (If a
/// fuzzed call masks, ignores or re-routes it, the poke fails and the parent kills the child.)
pub const POKE: i32 = signal::SIGUSR2;

/// Where the verbose log goes: a copy of the console, out of the way of the small numbers the
/// fuzzed calls mostly hit.
const LOG_FD: i32 = 200;

const O_RDONLY: usize = 0;
const O_WRONLY: usize = 1;
const O_RDWR: usize = 2;
const O_NONBLOCK: usize = 0o4000;
const O_NOCTTY: usize = 0o400;
const O_CLOEXEC: usize = 0o2000000;
const O_PATH: usize = 0o10000000;
#[cfg(target_arch = "x86_64")]
const O_DIRECTORY: usize = 0o200000;
#[cfg(target_arch = "aarch64")]
const O_DIRECTORY: usize = 0o40000;
const AT_FDCWD: usize = -100isize as usize;

/// What every child of a run shares.
pub struct Config {
    pub seed: u64,
    /// The parent's /dev/null, for the child's stdout and stderr.
    pub null_fd: i32,
    /// What the earlier children found unimplemented.
    pub learned: crate::calls::Learned,
}

extern "C" fn on_poke(_: i32, _: *mut SigInfo, _: *mut u8) {}

fn open(path: &[u8], flags: usize) -> i32 {
    // SAFETY: path is a NUL-terminated constant.
    unsafe { syscall4(nr::OPENAT, AT_FDCWD, path.as_ptr() as usize, flags, 0) as i32 }
}

fn dup3(from: i32, to: i32) -> isize {
    // SAFETY: no pointers.
    unsafe { syscall3(nr::DUP3, from as usize, to as usize, 0) }
}

/// Opens the pool: one descriptor of every kind the kernel has (files, directories, devices,
/// both ends of pipes, an eventfd, an epoll with a member, /proc files, a FIFO, an O_PATH one),
/// plus those that only some kernels have (memfd, sockets, timerfd, signalfd) when they work.
fn open_pool(unimplemented: crate::calls::Learned) -> Ctx {
    let mut ctx = Ctx {
        pool: [0; 32],
        pool_len: 0,
        pid: sys::getpid(),
        unimplemented,
    };
    let mut add = |fd: isize| {
        if fd >= 0 && ctx.pool_len < ctx.pool.len() {
            ctx.pool[ctx.pool_len] = fd as i32;
            ctx.pool_len += 1;
        }
    };
    add(0);
    add(open(b"/fuzz/a\0", O_RDWR) as isize);
    add(open(b"/fuzz/b\0", O_RDONLY) as isize);
    add(open(b"/fuzz/dir\0", O_RDONLY | O_DIRECTORY) as isize);
    add(open(b"/\0", O_RDONLY | O_DIRECTORY) as isize);
    add(open(b"/fuzz\0", O_PATH) as isize);
    add(open(b"/dev/null\0", O_RDWR) as isize);
    add(open(b"/dev/zero\0", O_RDWR) as isize);
    add(open(b"/dev/console\0", O_RDONLY | O_NOCTTY) as isize);
    add(open(b"/proc/self/stat\0", O_RDONLY) as isize);
    add(open(b"/proc/self/maps\0", O_RDONLY) as isize);
    add(open(b"/fuzz/fifo\0", O_RDWR | O_NONBLOCK) as isize);
    add(open(b"/fuzz/exit-elf\0", O_RDONLY) as isize);
    let mut pipe_read = -1;
    for flags in [0, O_NONBLOCK] {
        if let Ok([r, w]) = sys::pipe2(flags) {
            add(r as isize);
            add(w as isize);
            pipe_read = r;
        }
    }
    // eventfd2(0, 0)
    // SAFETY: no pointers.
    add(unsafe { syscall2(table::NR_EVENTFD2, 0, 0) });
    // epoll_create1(0), watching a pipe's read end.
    // SAFETY: no pointers.
    let ep = unsafe { syscall2(table::NR_EPOLL_CREATE1, 0, 0) };
    if ep >= 0 && pipe_read >= 0 {
        let event: [u64; 2] = [1, 0];
        // SAFETY: event is a live epoll_event-sized buffer (EPOLLIN, data 0).
        unsafe {
            syscall4(
                table::NR_EPOLL_CTL,
                ep as usize,
                1,
                pipe_read as usize,
                event.as_ptr() as usize,
            )
        };
    }
    add(ep);
    // memfd_create("fuzz", 0)
    // SAFETY: the name is a NUL-terminated constant.
    add(unsafe { syscall2(table::NR_MEMFD_CREATE, c"fuzz".as_ptr() as usize, 0) });
    // timerfd_create(CLOCK_MONOTONIC, 0)
    // SAFETY: no pointers.
    add(unsafe { syscall2(table::NR_TIMERFD_CREATE, 1, 0) });
    // signalfd4(-1, {SIGUSR1}, 8, 0)
    let mask: u64 = signal::bit(signal::SIGUSR1);
    // SAFETY: mask is a live 8-byte sigset.
    add(unsafe {
        rt::syscall::syscall4(
            table::NR_SIGNALFD4,
            usize::MAX,
            &mask as *const u64 as usize,
            8,
            0,
        )
    });
    // socketpair(AF_UNIX, SOCK_STREAM, 0)
    let mut pair = [-1i32; 2];
    // SAFETY: pair is a live int[2].
    if unsafe { syscall4(table::NR_SOCKETPAIR, 1, 1, 0, pair.as_mut_ptr() as usize) } == 0 {
        add(pair[0] as isize);
        add(pair[1] as isize);
    }
    ctx
}

/// Writes one verbose line; if the fuzzed calls closed or replaced the log descriptor, reopens
/// the console there once and tries again.
fn log(line: &mut Line) {
    if line.emit(LOG_FD) < 0 {
        let con = open(b"/dev/console\0", O_WRONLY | O_NOCTTY | O_CLOEXEC);
        if con >= 0 {
            dup3(con, LOG_FD);
            sys::close(con);
            line.emit(LOG_FD);
        }
    }
}

/// The name a verbose line gives number `nr`: the call's name, marked `~` when `nr` only
/// aliases it (out of range, reaching it through the low 32 bits or the x32 bit on kernels
/// that read the number that way).
fn name(nr: usize) -> (&'static str, &'static str) {
    match table::entry(nr) {
        Some(e) if table::base(nr) == nr => (e.name, ""),
        Some(e) => (e.name, "~"),
        None => ("?", ""),
    }
}

/// `call I NAME(NR) A0 .. A5`: the line printed before call `index` (verbose and trace alike);
/// `tag` marks the calls of a forked process (`f`).
pub fn write_call(line: &mut Line, tag: &str, index: u64, nr: usize, a: &[usize; 6]) {
    let (name, alias) = name(nr);
    let _ = write!(
        line,
        "call {tag}{index} {alias}{name}({nr:#x}) {:#x} {:#x} {:#x} {:#x} {:#x} {:#x}",
        a[0], a[1], a[2], a[3], a[4], a[5]
    );
}

/// `ret I = R`: the line printed after call `index` returned `r`.
pub fn write_ret(line: &mut Line, tag: &str, index: u64, r: isize) {
    let _ = write!(line, "ret {tag}{index} = {}", rt::errno::Ret(r));
}

/// Calls a forked process makes before it exits.
const FORKED_CALLS: u64 = 200;

/// Whether `call` makes a plain copy of this process (fork, or clone without CLONE_VM,
/// CLONE_VFORK or CLONE_THREAD and on the same stack), which can safely go on running this
/// code: then, half the time, the copy fuzzes on (see [`run`]) instead of leaving at once.
fn makes_a_plain_copy(call: &calls::Call) -> bool {
    const CLONE_VM: usize = 0x100;
    const CLONE_VFORK: usize = 0x4000;
    const CLONE_THREAD: usize = 0x1_0000;
    let b = table::base(call.nr);
    b == table::NR_FORK
        || (b == table::NR_CLONE
            && call.nr == b
            && call.args[0] & (CLONE_VM | CLONE_VFORK | CLONE_THREAD) == 0
            && call.args[1] == 0)
}

/// Runs child `k` with `budget` calls, printing each with `verbose`; never returns.
pub fn run(cfg: &Config, k: u64, budget: u64, verbose: bool, shared: &Shared) -> ! {
    // The poke handler first: until it is in place the poke is still ignored (inherited SIG_IGN),
    // never fatal. Then every other signal back to its default (the parent ignores them all),
    // so that fuzzed signals and faults end the child as they would any program.
    signal::handle(POKE, on_poke, 0, 0);
    for sig in 1..=signal::NSIG {
        if sig != signal::SIGKILL && sig != signal::SIGSTOP && sig != POKE {
            signal::disposition(sig, SIG_DFL);
        }
    }
    signal::set_mask(0);
    // Its own process group, so that kill(0, ..) reaches only itself (deny.rs checks anyway).
    // SAFETY: no pointers.
    unsafe { syscall2(table::NR_SETPGID, 0, 0) };

    // Descriptors: in verbose mode the console is kept on LOG_FD; fd 0 is the console opened
    // read-only (tty ioctls get fuzzed, random writes cannot reach the console the harness
    // reads); 1 and 2 are /dev/null.
    if verbose {
        dup3(1, LOG_FD);
    }
    let con = open(b"/dev/console\0", O_RDONLY | O_NOCTTY);
    if con >= 0 {
        dup3(con, 0);
        sys::close(con);
    }
    dup3(cfg.null_fd, 1);
    dup3(cfg.null_fd, 2);
    sys::close(cfg.null_fd);
    // SAFETY: a NUL-terminated constant.
    unsafe { rt::syscall::syscall1(table::NR_CHDIR, c"/fuzz".as_ptr() as usize) };

    let mut ctx = open_pool(cfg.learned);
    arena::refresh(ctx.pool());
    let mut rng = Rng::for_child(cfg.seed, k);
    if verbose {
        let mut line = Line::new();
        let _ = write!(line, "child {k}: pid {}, pool", ctx.pid);
        for fd in ctx.pool() {
            let _ = write!(line, " {fd}");
        }
        log(&mut line);
    }
    shared.phase.store(PHASE_RUNNING, Relaxed);
    // A plain fork of the child may go on fuzzing for FORKED_CALLS calls with a generator of its
    // own (derived from the child's, so still a function of the seed): two processes then work
    // on the same open files, pipes, terminal and process group, which one process alone never
    // does. It records nothing in the shared memory (that is the child's) and forks no fuzzer
    // of its own; its calls are printed with `verbose`, tagged `f`.
    let mut forked = false;
    let (mut issued, mut limit) = (0, budget);
    while issued < limit {
        if issued > 0 && issued % arena::REFRESH == 0 {
            arena::refresh(ctx.pool());
        }
        let mut call = calls::call(&mut rng, &ctx);
        deny::sanitize(&mut call, &mut rng);
        if let Some(why) = deny::check(&call) {
            if verbose {
                let (name, alias) = name(call.nr);
                let mut line = Line::new();
                let _ = write!(line, "skip {alias}{name}({:#x}): {why}", call.nr);
                log(&mut line);
            }
            continue;
        }
        issued += 1;
        let tag = if forked { "f" } else { "" };
        if !forked {
            shared.record(issued, call.nr, &call.args);
        }
        if verbose {
            let mut line = Line::new();
            write_call(&mut line, tag, issued, call.nr, &call.args);
            log(&mut line);
        }
        let fork_on = !forked && makes_a_plain_copy(&call) && rng.chance(50);
        let new_task_leaves = table::fork_like(call.nr) && !fork_on;
        // SAFETY: see raw::syscall: the child accepts any outcome of a random call. A copy made
        // by a plain fork runs on in its own copy of this address space, as after fork(2).
        let r = unsafe { raw::syscall(call.nr, call.args, new_task_leaves) };
        if fork_on && r == 0 {
            forked = true;
            rng = Rng::new(rng.word() ^ 0xf0f0_f0f0_0f0f_0f0f);
            ctx.pid = sys::getpid();
            (issued, limit) = (0, FORKED_CALLS);
            if verbose {
                let mut line = Line::new();
                let _ = write!(line, "child {k}: forked pid {} fuzzes on", ctx.pid);
                log(&mut line);
            }
            continue;
        }
        if !forked {
            shared.finish(issued, r);
        }
        if verbose {
            let mut line = Line::new();
            write_ret(&mut line, tag, issued, r);
            log(&mut line);
        }
    }
    if forked {
        rt::exit(0);
    }
    if verbose {
        let mut line = Line::new();
        let _ = write!(line, "child {k}: done");
        log(&mut line);
    }
    rt::exit(0)
}
