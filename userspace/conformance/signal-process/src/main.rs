//! Conformance: signals between processes. Default actions in children (SIGTERM, SIGKILL,
//! SIGQUIT and SIGABRT terminate; SIGCHLD, SIGURG, SIGWINCH are ignored; SIGSTOP/SIGCONT stop and
//! continue, seen by `wait4(WUNTRACED/WCONTINUED)` and `waitid(WSTOPPED/WCONTINUED)`), SIGCHLD
//! to the parent with CLD_EXITED/KILLED/STOPPED/CONTINUED (none for stops with SA_NOCLDSTOP),
//! children reaped automatically when SIGCHLD is ignored, a blocking `wait4` interrupted with
//! EINTR by a handler without SA_RESTART and restarted with it, `nanosleep` interrupted with the
//! time left, and ESRCH for a reaped pid. Only wait statuses and signal numbers are printed (a
//! core-dump flag depends on the host's core settings).
//!
//! With the argument `as-init`, run as init (pid 1), it checks instead that init gets only the
//! signals it handles (Linux's SIGNAL_UNKILLABLE): a child's SIGKILL, SIGSTOP and signals init
//! leaves at their default action are dropped. The Linux reference runs are not init, so this
//! case runs on Cyphera only (checked against Linux in QEMU by hand: see docs/security.md).
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicUsize, Ordering};

use rt::check;
use rt::errno::{ECHILD, EINTR, ESRCH};
use rt::println;
use rt::signal::{
    self, CLD_CONTINUED, CLD_EXITED, CLD_KILLED, CLD_STOPPED, SA_RESTART, SIG_DFL, SIG_IGN,
    SIGCHLD, SIGCONT, SIGKILL, SIGSTOP, SIGTERM, SIGUSR1, SigInfo, bit,
};
use rt::sys::{self, Status, Timespec, WCONTINUED, WNOHANG, WUNTRACED};

rt::main!(main);

static HITS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count(_sig: i32, _info: *mut SigInfo, _uc: *mut u8) {
    HITS.fetch_add(1, Ordering::Relaxed);
}

fn spawn(f: impl FnOnce() -> i32) -> sys::Pid {
    let pid = sys::fork();
    if pid == 0 {
        rt::exit(f());
    }
    if pid < 0 {
        check::fail("fork", rt::errno::Ret(pid));
    }
    pid as sys::Pid
}

/// A child that waits for signals forever (until one kills it).
fn sleeper() -> sys::Pid {
    spawn(|| {
        loop {
            signal::sigsuspend(&0);
        }
    })
}

/// The next SIGCHLD (blocked, taken with sigtimedwait).
fn next_sigchld() -> SigInfo {
    let mut info = SigInfo::default();
    let set = bit(SIGCHLD);
    // Bounded, so a kernel that never sends it fails the check instead of hanging.
    let patience = Timespec::from_ns(10_000_000_000);
    let r = signal::sigtimedwait(&set, Some(&mut info), Some(&patience));
    if r != SIGCHLD as isize {
        check::fail("sigtimedwait(SIGCHLD)", rt::errno::Ret(r));
    }
    info
}

fn main(env: &rt::Env) -> i32 {
    if (1..env.argc()).any(|i| env.arg(i) == Some(b"as-init")) {
        return as_init();
    }
    println!("default actions in a child:");
    for (label, sig, want) in [
        ("  SIGTERM", SIGTERM, "killed by 15"),
        ("  SIGKILL", SIGKILL, "killed by 9"),
        ("  SIGQUIT", signal::SIGQUIT, "killed by 3"),
        ("  SIGABRT", signal::SIGABRT, "killed by 6"),
        ("  SIGUSR1", SIGUSR1, "killed by 10"),
    ] {
        let child = spawn(move || {
            // The default action is under test, whatever was inherited: a shell starts
            // background jobs with SIGINT and SIGQUIT ignored, and execve keeps that.
            signal::disposition(sig, signal::SIG_DFL);
            // A core file (SIGQUIT/SIGABRT) is not wanted; the limit is best effort.
            let zero = sys::Rlimit::default();
            sys::prlimit(0, sys::RLIMIT_CORE, Some(&zero), None);
            sys::raise(sig);
            0
        });
        check::shows(label, Status(sys::wait_for(child)), want);
    }
    for (label, sig) in [
        ("  SIGCHLD ignored", SIGCHLD),
        ("  SIGURG ignored", signal::SIGURG),
        ("  SIGWINCH ignored", signal::SIGWINCH),
        ("  SIGCONT alone", SIGCONT),
    ] {
        let child = spawn(move || {
            sys::raise(sig);
            7
        });
        check::shows(label, Status(sys::wait_for(child)), "exited 7");
    }

    println!("stop and continue:");
    signal::block(bit(SIGCHLD));
    let child = sleeper();
    sys::kill(child, SIGSTOP);
    let info = next_sigchld();
    check::eq("  SIGCHLD si_code (CLD_STOPPED)", info.code(), CLD_STOPPED);
    check::eq("  SIGCHLD si_status", info.status(), SIGSTOP);
    check::yes("  SIGCHLD si_pid is the child", info.pid() == child);
    let mut st = 0;
    check::yes(
        "  wait4(WUNTRACED) reports it",
        sys::wait4(child, Some(&mut st), WUNTRACED) == child as isize,
    );
    check::shows("  status", Status(st), "stopped by 19");
    check::ret(
        "  wait4(WUNTRACED|WNOHANG) again: already reported",
        sys::wait4(child, None, WUNTRACED | WNOHANG),
        0,
    );
    sys::kill(child, SIGCONT);
    let info = next_sigchld();
    check::eq(
        "  SIGCHLD si_code (CLD_CONTINUED)",
        info.code(),
        CLD_CONTINUED,
    );
    check::eq("  SIGCHLD si_status", info.status(), SIGCONT);
    check::yes(
        "  wait4(WCONTINUED) reports it",
        sys::wait4(child, Some(&mut st), WCONTINUED) == child as isize,
    );
    check::shows("  status", Status(st), "continued");
    // waitid sees the same transitions.
    sys::kill(child, SIGSTOP);
    next_sigchld();
    let mut wi = SigInfo::default();
    check::ret(
        "  waitid(WSTOPPED)",
        sys::waitid(sys::P_PID, child, &mut wi, sys::WSTOPPED),
        0,
    );
    check::eq("    si_code (CLD_STOPPED)", wi.code(), CLD_STOPPED);
    check::eq("    si_status", wi.status(), SIGSTOP);
    sys::kill(child, SIGCONT);
    next_sigchld();
    check::ret(
        "  waitid(WCONTINUED)",
        sys::waitid(sys::P_PID, child, &mut wi, sys::WCONTINUED),
        0,
    );
    check::eq("    si_code (CLD_CONTINUED)", wi.code(), CLD_CONTINUED);
    // SIGTERM to a stopped child kills it too (SIGKILL would; SIGTERM needs it continued).
    sys::kill(child, SIGSTOP);
    next_sigchld();
    sys::kill(child, SIGKILL);
    let info = next_sigchld();
    check::eq(
        "  SIGKILL to the stopped child: SIGCHLD si_code (CLD_KILLED)",
        info.code(),
        CLD_KILLED,
    );
    check::eq("  si_status", info.status(), SIGKILL);
    check::shows("  status", Status(sys::wait_for(child)), "killed by 9");
    let child = spawn(|| 3);
    let info = next_sigchld();
    check::eq(
        "  a child exiting: SIGCHLD si_code (CLD_EXITED)",
        info.code(),
        CLD_EXITED,
    );
    check::eq("  si_status", info.status(), 3);
    sys::wait_for(child);
    check::err("  kill(reaped pid, 0)", sys::kill(child, 0), ESRCH);

    // SA_NOCLDSTOP: a stop sends no SIGCHLD (the exit does). QEMU's user mode, the AArch64
    // reference here, does not implement the flag; the kernel code is generic, so this runs on
    // x86_64.
    #[cfg(target_arch = "x86_64")]
    {
        signal::handle(SIGCHLD, count, signal::SA_NOCLDSTOP, 0);
        let child = sleeper();
        sys::kill(child, SIGSTOP);
        sys::wait4(child, Some(&mut st), WUNTRACED);
        check::eq(
            "  SA_NOCLDSTOP: SIGCHLD pending after a stop",
            signal::pending() & bit(SIGCHLD),
            0,
        );
        sys::kill(child, SIGKILL);
        sys::wait_for(child);
        check::yes(
            "  but after the exit",
            signal::pending() & bit(SIGCHLD) != 0,
        );
        signal::disposition(SIGCHLD, SIG_DFL);
    }
    signal::set_mask(0);

    println!("SIGCHLD ignored:");
    signal::disposition(SIGCHLD, SIG_IGN);
    let child = spawn(|| 0);
    check::err(
        "  wait4 finds no zombie (children are reaped at once)",
        sys::wait4(child, None, 0),
        ECHILD,
    );
    signal::disposition(SIGCHLD, SIG_DFL);

    println!("interrupted wait4:");
    let parent = sys::getpid();
    // The child keeps signalling until it is killed; the first signal that arrives while wait4
    // blocks interrupts it.
    signal::handle(SIGUSR1, count, 0, 0);
    let child = spawn(move || {
        loop {
            sys::kill(parent, SIGUSR1);
            sys::sleep_ms(5);
        }
    });
    check::err(
        "  without SA_RESTART: wait4",
        sys::wait4(child, None, 0),
        EINTR,
    );
    sys::kill(child, SIGKILL);
    check::shows("  the child", Status(sys::wait_for(child)), "killed by 9");
    // With SA_RESTART wait4 goes on until the child ends after its 5 signals.
    signal::handle(SIGUSR1, count, SA_RESTART, 0);
    HITS.store(0, Ordering::Relaxed);
    let child = spawn(move || {
        for _ in 0..5 {
            sys::kill(parent, SIGUSR1);
            sys::sleep_ms(5);
        }
        4
    });
    let mut st = 0;
    let r = sys::wait4(child, Some(&mut st), 0);
    check::yes(
        "  with SA_RESTART: wait4 returns the child",
        r == child as isize,
    );
    check::shows("  its status", Status(st), "exited 4");
    check::yes("  and the handler ran", HITS.load(Ordering::Relaxed) >= 1);

    println!("interrupted nanosleep:");
    signal::handle(SIGUSR1, count, 0, 0);
    let child = spawn(move || {
        loop {
            sys::kill(parent, SIGUSR1);
            sys::sleep_ms(5);
        }
    });
    let req = Timespec { sec: 30, nsec: 0 };
    let mut rem = Timespec::default();
    check::err(
        "  nanosleep(30 s)",
        sys::nanosleep(&req, Some(&mut rem)),
        EINTR,
    );
    // Linux computes the time left from its timer's expiry, which includes the timer slack, so
    // it may exceed the request by that much.
    check::yes(
        "  the time left is positive, at most the request (+ slack)",
        rem.ns() > 0 && rem.ns() <= req.ns() + 100_000_000,
    );
    sys::kill(child, SIGKILL);
    sys::wait_for(child);
    check::finish("signal-process")
}

/// The `as-init` case: signals from a child to init.
fn as_init() -> i32 {
    use signal::{SIGINT, SIGSEGV, SIGTSTP, SIGUSR2};
    println!("init gets only the signals it handles:");
    check::eq("  getpid", sys::getpid(), 1);
    let defaults = [SIGTERM, SIGINT, SIGSEGV, SIGUSR1, SIGTSTP];
    for sig in defaults {
        signal::disposition(sig, SIG_DFL);
    }
    signal::set_mask(0);
    signal::handle(SIGUSR2, count, SA_RESTART, 0);
    HITS.store(0, Ordering::Relaxed);
    // The child's status names the first signal kill refused (kill succeeds on Linux: the
    // signal is dropped on arrival, not refused).
    let child = spawn(move || {
        for sig in [SIGKILL, SIGSTOP].into_iter().chain(defaults) {
            if sys::kill(1, sig) != 0 {
                return sig;
            }
        }
        if sys::kill(1, SIGUSR2) != 0 {
            return SIGUSR2;
        }
        0
    });
    check::shows(
        "  a child sends SIGKILL, SIGSTOP, SIGTERM, SIGINT, SIGSEGV, SIGUSR1, SIGTSTP and SIGUSR2",
        Status(sys::wait_for(child)),
        "exited 0",
    );
    check::eq(
        "  init's SIGUSR2 handler ran",
        HITS.load(Ordering::Relaxed),
        1,
    );
    check::eq("  nothing is left pending", signal::pending(), 0);
    // Blocked, a signal is queued (a handler may be set before it is unblocked); unblocked at
    // its default action, it is dropped.
    signal::block(bit(SIGTERM));
    let child = spawn(|| sys::kill(1, SIGTERM) as i32);
    check::shows(
        "  SIGTERM while blocked: the child",
        Status(sys::wait_for(child)),
        "exited 0",
    );
    check::yes(
        "  pending while blocked",
        signal::pending() & bit(SIGTERM) != 0,
    );
    signal::set_mask(0);
    check::eq("  dropped once unblocked", signal::pending(), 0);
    check::finish("signal-process")
}
