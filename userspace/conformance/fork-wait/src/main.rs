//! Conformance: `fork` (AArch64: `clone(SIGCHLD)`) and the wait calls. A fork tree whose exit
//! codes add up through two generations; exit codes truncated to 8 bits; the child's pid, ppid
//! and tid; copy-on-write memory (the child's writes stay in the child); `wait4(-1)` reaping
//! several children; `WNOHANG` with and without a zombie; `waitid` siginfo fields and `WNOWAIT`;
//! a child killed by a fault; and the error codes (ECHILD, EINVAL, ESRCH, EFAULT).
#![no_std]
#![no_main]

use rt::check;
use rt::errno::{ECHILD, EFAULT, EINVAL, ESRCH};
use rt::println;
use rt::signal::{CLD_EXITED, SIGCHLD, SigInfo};
use rt::sys::{self, Status, WEXITED, WNOHANG, WNOWAIT};

rt::main!(main);

/// Forks; the child runs `f` and exits with its result.
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

fn main(_env: &rt::Env) -> i32 {
    let me = sys::getpid();
    let mut info = SigInfo::default();

    check::err(
        "wait4(-1) with no children",
        sys::wait4(-1, None, 0),
        ECHILD,
    );
    check::err(
        "wait4(-1, WNOHANG) with no children",
        sys::wait4(-1, None, WNOHANG),
        ECHILD,
    );
    check::err(
        "waitid(P_ALL) with no children",
        sys::waitid(sys::P_ALL, 0, &mut info, WEXITED),
        ECHILD,
    );

    // The child's identity.
    let child = spawn(|| {
        let ok = sys::getppid() == me && sys::getpid() != me && sys::gettid() == sys::getpid();
        if ok { 42 } else { 1 }
    });
    let mut status = 0;
    check::yes(
        "wait4(child) returns its pid",
        sys::wait4(child, Some(&mut status), 0) == child as isize,
    );
    check::shows(
        "child's pid/ppid/tid (42 = consistent)",
        Status(status),
        "exited 42",
    );

    // Only the low 8 bits of the exit code survive.
    let child = spawn(|| 256 + 7);
    check::shows("exit(263) status", Status(sys::wait_for(child)), "exited 7");

    // Copy-on-write: a 64 KiB buffer and a scalar, written by the child after fork.
    let mut buf = [0u8; 65536];
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    let mut scalar = 5u32;
    let buf_ref = &mut buf;
    let scalar_ref = &mut scalar;
    let child = spawn(|| {
        let saw_parent = buf_ref
            .iter()
            .enumerate()
            .all(|(i, &b)| b == (i % 251) as u8)
            && *scalar_ref == 5;
        buf_ref.fill(0xee);
        *scalar_ref = 99;
        let kept = core::hint::black_box(&*buf_ref).iter().all(|&b| b == 0xee);
        if saw_parent && kept { 0 } else { 1 }
    });
    check::shows(
        "child saw the parent's memory and changed its copy",
        Status(sys::wait_for(child)),
        "exited 0",
    );
    check::yes(
        "parent's memory unchanged by the child",
        core::hint::black_box(&buf)
            .iter()
            .enumerate()
            .all(|(i, &b)| b == (i % 251) as u8)
            && core::hint::black_box(scalar) == 5,
    );

    // A fork tree: three children each fork two grandchildren (exit codes 10i+j), reap them
    // with wait4(-1) and exit with the sum; the parent reaps the children by pid, in order.
    let mut children = [0; 3];
    for (i, c) in children.iter_mut().enumerate() {
        *c = spawn(move || {
            for j in 1..=2 {
                spawn(move || (10 * (i + 1) + j) as i32);
            }
            let mut sum = 0;
            for _ in 0..2 {
                let mut st = 0;
                if sys::wait4(-1, Some(&mut st), 0) <= 0 {
                    return 255;
                }
                sum += sys::exited(st).unwrap_or(100);
            }
            // No third grandchild.
            if sys::wait4(-1, None, WNOHANG) != -ECHILD {
                return 254;
            }
            sum
        });
    }
    for (i, &c) in children.iter().enumerate() {
        let label = match i {
            0 => "tree child 1 (grandchildren 11+12)",
            1 => "tree child 2 (grandchildren 21+22)",
            _ => "tree child 3 (grandchildren 31+32)",
        };
        let want = rt::text::Text::of(format_args!("exited {}", 20 * (i + 1) + 3));
        check::shows(label, Status(sys::wait_for(c)), want.as_str());
    }

    // wait4(-1) reaps whichever child ends; all three are found exactly once.
    let mut pids = [0; 3];
    for (k, p) in pids.iter_mut().enumerate() {
        *p = spawn(move || 21 + k as i32);
    }
    let mut seen = [false; 3];
    for _ in 0..3 {
        let mut st = 0;
        let r = sys::wait4(-1, Some(&mut st), 0);
        match pids.iter().position(|&p| p as isize == r) {
            Some(k) if !seen[k] && sys::exited(st) == Some(21 + k as i32) => seen[k] = true,
            _ => check::fail("wait4(-1)", "an unexpected pid or status"),
        }
    }
    check::yes(
        "wait4(-1) reaped each of three children once",
        seen == [true; 3],
    );
    check::err(
        "wait4(-1) after reaping all",
        sys::wait4(-1, None, 0),
        ECHILD,
    );

    // WNOWAIT leaves the zombie; waitid reports it; WNOHANG then reaps it at once.
    let child = spawn(|| 9);
    let r = sys::waitid(sys::P_PID, child, &mut info, WEXITED | WNOWAIT);
    check::ret("waitid(P_PID, WEXITED|WNOWAIT)", r, 0);
    check::eq("  si_signo", info.signo(), SIGCHLD);
    check::eq("  si_code", info.code(), CLD_EXITED);
    check::eq("  si_status", info.status(), 9);
    check::yes("  si_pid is the child", info.pid() == child);
    // SAFETY: getuid takes no arguments.
    let uid = unsafe { rt::syscall::syscall0(rt::syscall::nr::GETUID) } as u32;
    check::yes("  si_uid is our uid", info.uid() == uid);
    let mut st = 0;
    check::yes(
        "wait4(child, WNOHANG) reaps the zombie",
        sys::wait4(child, Some(&mut st), WNOHANG) == child as isize,
    );
    check::shows("  its status", Status(st), "exited 9");
    check::err(
        "wait4(child, WNOHANG) again",
        sys::wait4(child, None, WNOHANG),
        ECHILD,
    );

    // waitid(P_ALL) reaps too, and then nothing is left.
    let child = spawn(|| 0);
    info = SigInfo::default();
    check::ret(
        "waitid(P_ALL, WEXITED)",
        sys::waitid(sys::P_ALL, 0, &mut info, WEXITED),
        0,
    );
    check::yes("  si_pid is the child", info.pid() == child);
    check::eq("  si_status", info.status(), 0);
    check::err(
        "waitid(P_ALL) afterwards",
        sys::waitid(sys::P_ALL, 0, &mut info, WEXITED),
        ECHILD,
    );

    // A child killed by a fault: the status says which signal.
    let child = spawn(|| {
        // SAFETY: the store faults and the default action kills this child; nothing follows.
        unsafe { (0x10 as *mut u8).write_volatile(1) };
        0
    });
    check::shows(
        "child storing to 0x10",
        Status(sys::wait_for(child)),
        "killed by 11",
    );

    // Error codes.
    check::err(
        "wait4 with unknown option bits",
        sys::wait4(-1, None, 0x10000),
        EINVAL,
    );
    check::err("wait4(INT_MIN)", sys::wait4(i32::MIN, None, 0), ESRCH);
    check::err(
        "waitid with no WEXITED/WSTOPPED/WCONTINUED",
        sys::waitid(sys::P_ALL, 0, &mut info, 0),
        EINVAL,
    );
    check::err(
        "waitid with idtype 99",
        sys::waitid(99, 0, &mut info, WEXITED),
        EINVAL,
    );
    let child = spawn(|| 4);
    // Wait without reaping first, so the next call finds a zombie to report.
    sys::waitid(sys::P_PID, child, &mut info, WEXITED | WNOWAIT);
    // SAFETY: 0x10 is never mapped; the kernel must refuse to store the status there.
    let r = unsafe { rt::syscall::syscall4(rt::syscall::nr::WAIT4, child as usize, 0x10, 0, 0) };
    check::err("wait4 storing the status at 0x10", r, EFAULT);
    // Linux reaps the child before it fails to store the status.
    check::err(
        "  the child was reaped anyway",
        sys::wait4(child, None, WNOHANG),
        ECHILD,
    );

    println!("fork-wait: done");
    check::finish("fork-wait")
}
