//! Conformance: signals and threads. `tgkill` runs the handler on the thread it names, even
//! while that thread is blocked in a futex wait; a process-directed `kill` goes to a thread that
//! does not block the signal; a signal sent to a thread that blocks it stays pending for that
//! thread only (other threads' `rt_sigpending` do not show it); a new thread inherits its
//! creator's mask but not its alternate stack; and a fatal signal to one thread ends the whole
//! process.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

use rt::check;
use rt::println;
use rt::signal::{self, SIGRT_A, SIGTERM, SIGUSR1, SIGUSR2, SS_DISABLE, SigInfo, StackT, bit};
use rt::sys::{self, Status};
use rt::thread;

rt::main!(main);

/// Who ran the handler last.
static HANDLER_TID: AtomicI32 = AtomicI32::new(0);
/// Commands to the worker thread: 0 idle, 1 report your pending set, 2 report your mask and
/// alternate stack, 3 exit. The worker answers in ANSWER and sets CMD back to 0.
static CMD: AtomicU32 = AtomicU32::new(0);
static ANSWER: AtomicU64 = AtomicU64::new(0);

extern "C" fn record(_sig: i32, _info: *mut SigInfo, _uc: *mut u8) {
    HANDLER_TID.store(sys::gettid(), Ordering::Release);
}

extern "C" fn worker(_: usize) -> i32 {
    // Block SIGUSR2 in this thread only.
    signal::block(bit(SIGUSR2));
    loop {
        match CMD.load(Ordering::Acquire) {
            0 => {
                // Sleep until a command (or a signal) wakes us.
                sys::futex_wait(&CMD, 0, None);
            }
            1 => {
                ANSWER.store(signal::pending(), Ordering::Relaxed);
                done();
            }
            2 => {
                let mut ss = StackT::default();
                signal::sigaltstack(None, Some(&mut ss));
                let disabled = (ss.flags == SS_DISABLE) as u64;
                ANSWER.store(signal::mask() | disabled << 63, Ordering::Relaxed);
                done();
            }
            _ => return 0,
        }
    }
}

fn done() {
    CMD.store(0, Ordering::Release);
    sys::futex_wake(&CMD, 1);
}

/// How long to wait for the worker or a handler before reporting failure (not a timing
/// assertion: Linux takes microseconds; this only turns a broken kernel's hang into a failure).
const PATIENCE_NS: i128 = 10_000_000_000;

/// Sends a command to the worker and waits for its answer (0 if none came).
fn ask(cmd: u32) -> u64 {
    CMD.store(cmd, Ordering::Release);
    sys::futex_wake(&CMD, 1);
    let end = sys::monotonic_ns() + PATIENCE_NS;
    while CMD.load(Ordering::Acquire) != 0 {
        if sys::monotonic_ns() > end {
            return 0;
        }
        sys::sched_yield();
    }
    ANSWER.load(Ordering::Relaxed)
}

/// Waits until the handler has run somewhere and returns the tid it ran on (0 if it did not).
fn handled() -> i32 {
    let end = sys::monotonic_ns() + PATIENCE_NS;
    loop {
        let t = HANDLER_TID.swap(0, Ordering::AcqRel);
        if t != 0 || sys::monotonic_ns() > end {
            return t;
        }
        sys::sched_yield();
    }
}

extern "C" fn raise_term(_: usize) -> i32 {
    sys::raise(SIGTERM);
    0
}

fn main(_env: &rt::Env) -> i32 {
    // A fatal signal to one thread ends the whole process. (First, before this process has
    // had threads: QEMU's user mode, the AArch64 reference, sometimes hangs forking a process
    // whose threads have exited.)
    let child = sys::fork();
    if child == 0 {
        signal::disposition(SIGTERM, signal::SIG_DFL);
        let _ = thread::spawn(raise_term, 0);
        let forever = AtomicU32::new(0);
        loop {
            sys::futex_wait(&forever, 0, None);
        }
    }
    check::shows(
        "a thread of a child raising SIGTERM",
        Status(sys::wait_for(child as i32)),
        "killed by 15",
    );
    let me = sys::getpid();
    signal::handle(SIGUSR1, record, signal::SA_RESTART, 0);
    // The worker inherits this mask; an alternate stack is not inherited.
    signal::block(bit(SIGRT_A));
    let alt = sys::mmap_anon(65536, sys::PROT_READ | sys::PROT_WRITE);
    if alt > 0 {
        signal::sigaltstack(
            Some(&StackT {
                sp: alt as usize,
                flags: 0,
                size: 65536,
            }),
            None,
        );
    }
    let t = match thread::spawn(worker, 0) {
        Ok(t) => t,
        Err(e) => {
            check::fail("clone(thread)", rt::errno::Ret(e));
            return check::finish("thread-signals");
        }
    };
    signal::unblock(bit(SIGRT_A));
    let answer = ask(2);
    check::yes(
        "the new thread inherited the creator's mask",
        answer & bit(SIGRT_A) != 0,
    );
    check::yes("  but not its alternate stack", answer >> 63 == 1);

    check::ret(
        "tgkill(pid, worker, SIGUSR1)",
        sys::tgkill(me, t.tid, SIGUSR1),
        0,
    );
    check::yes("  the handler ran on the worker", handled() == t.tid);
    check::ret(
        "tgkill(pid, main, SIGUSR1)",
        sys::tgkill(me, sys::gettid(), SIGUSR1),
        0,
    );
    check::yes(
        "  the handler ran on the main thread",
        handled() == sys::gettid(),
    );
    signal::block(bit(SIGUSR1));
    check::ret(
        "kill(pid, SIGUSR1) with SIGUSR1 blocked in main",
        sys::kill(me, SIGUSR1),
        0,
    );
    check::yes("  the worker took it", handled() == t.tid);
    signal::unblock(bit(SIGUSR1));

    signal::handle(SIGUSR2, record, 0, 0);
    check::ret(
        "tgkill(pid, worker, SIGUSR2), blocked there",
        sys::tgkill(me, t.tid, SIGUSR2),
        0,
    );
    check::yes("  pending in the worker", ask(1) & bit(SIGUSR2) != 0);
    check::yes(
        "  not in the main thread",
        signal::pending() & bit(SIGUSR2) == 0,
    );
    check::yes("  no handler ran", HANDLER_TID.load(Ordering::Acquire) == 0);

    CMD.store(3, Ordering::Release);
    sys::futex_wake(&CMD, 1);
    t.join();
    println!("worker joined");

    check::finish("thread-signals")
}
