//! Conformance: process exhaustion. A coordinator process lowers RLIMIT_NPROC to 24 and starts a
//! fork bomb: every process of it forks (up to 3 children, 4 generations deep — far more than
//! the limit allows) until fork fails with EAGAIN, then holds still. The coordinator waits until
//! every process has reported its fork failing, checks the bomb filled the limit and no more,
//! that it cannot fork either and that a thread cannot be created; then releases the bomb,
//! which comes down leaf first (a process exits only after reaping its children, so nothing is
//! orphaned), and checks nothing is left and that fork works again. A flat bomb — the
//! coordinator's own children until EAGAIN — is killed with SIGKILL and reaped, and again fork
//! works afterwards. RLIMIT_NPROC 0 refuses every fork. A flat bomb of processes that each
//! carry 1000 mappings, under a limit of 512, stops with EAGAIN (Linux, at the limit) or ENOMEM
//! (Cyphera: its kernel heap, 32 MiB on the 512 MiB test machine, keeps a reserve that new
//! processes may not take), and everything comes down again; with the argument `wide`, so does
//! a bomb of thin processes under 4096, Cyphera's default limit.
//!
//! Linux exempts root from RLIMIT_NPROC (kernel/fork.c: a process of INIT_USER or with
//! CAP_SYS_RESOURCE/CAP_SYS_ADMIN may exceed it), and the Linux reference runs as root, so the
//! coordinator first becomes an unprivileged user with no other processes (setuid; the result
//! is not printed). Cyphera has only root and applies the limit to it, as to everyone. Both
//! count the processes of the user: on Linux the coordinator and its bomb, on Cyphera every
//! process; the checks count the user's other processes in /proc.
//!
//! On AArch64 the bombs run only with the argument `bombs` (see `main`: the Linux reference
//! there is QEMU's user mode, which cannot run them).
#![no_std]
#![no_main]

use rt::check;
use rt::errno::{EAGAIN, ECHILD, Ret};
use rt::println;
use rt::sys::{self, Rlimit, Status};
use rt::syscall::{nr, syscall1};

rt::main!(main);

#[cfg(target_arch = "x86_64")]
const SETUID: usize = 105;
#[cfg(target_arch = "aarch64")]
const SETUID: usize = 146;
const RLIMIT_NPROC: usize = 6;

/// The unprivileged uids the coordinator becomes start here: this plus its pid, so that no other
/// process on the reference host runs as it — not even another run of this program (two Linux
/// references at once, or two test runs on one host), whose processes Linux would count too.
const UID_BASE: usize = 100_000;
/// The process limit the bombs run under.
const LIMIT: u64 = 24;
/// Each bomb process forks at most this many children, and the bomb is at most this deep:
/// 1 + 3 + 9 + 27 + 81 = 121 processes, far more than [`LIMIT`], so the limit stops it.
const FANOUT: usize = 3;
const DEPTH: usize = 4;

/// What a bomb process reports on the report pipe: its birth, and how its forking ended.
const BORN: u8 = b'f';
const STOPPED_EAGAIN: u8 = b'e';
const STOPPED_FANOUT: u8 = b'c';
const STOPPED_OTHER: u8 = b'x';

fn set_nproc(soft: u64) -> isize {
    let mut old = Rlimit::default();
    sys::prlimit(0, RLIMIT_NPROC, None, Some(&mut old));
    sys::prlimit(
        0,
        RLIMIT_NPROC,
        Some(&Rlimit {
            cur: soft,
            max: old.max,
        }),
        None,
    )
}

fn close_all_but(keep: &[i32]) {
    for fd in 3..32 {
        if !keep.contains(&fd) {
            sys::close(fd);
        }
    }
}

#[cfg(target_arch = "x86_64")]
const GETDENTS64: usize = 217;
#[cfg(target_arch = "aarch64")]
const GETDENTS64: usize = 61;

fn open_read(path: &[u8]) -> isize {
    let mut p = rt::exec::Strings::new();
    p.push(path);
    // SAFETY: a NUL-terminated path; O_RDONLY takes no mode.
    unsafe {
        rt::syscall::syscall4(
            nr::OPENAT,
            (-100isize) as usize,
            p.first() as usize,
            sys::O_CLOEXEC,
            0,
        )
    }
}

/// The real uid in /proc/PID/status (`Uid:` real effective saved fs), if readable.
fn uid_of(pid: &[u8]) -> Option<u64> {
    let mut path = [0u8; 64];
    let parts: [&[u8]; 3] = [b"/proc/", pid, b"/status"];
    let mut len = 0;
    for part in parts {
        path.get_mut(len..len + part.len())?.copy_from_slice(part);
        len += part.len();
    }
    let fd = open_read(&path[..len]);
    if fd < 0 {
        return None;
    }
    let mut buf = [0u8; 2048];
    let n = sys::read(fd as i32, &mut buf);
    sys::close(fd as i32);
    let text = buf.get(..usize::try_from(n).ok()?)?;
    let line = text
        .split(|&b| b == b'\n')
        .find(|l| l.starts_with(b"Uid:"))?;
    let real = line[4..]
        .split(|&b| b == b'\t' || b == b' ')
        .find(|w| !w.is_empty())?;
    rt::text::parse_int(real).map(|v| v as u64)
}

/// How many other processes share this one's real uid — what RLIMIT_NPROC counts besides this
/// process and its bomb. On Linux, where the coordinator became a user of its own, none; on
/// Cyphera, where everyone is root, every other process (init, and the parent).
fn others_of_this_user() -> u64 {
    // SAFETY: getuid takes no arguments.
    let me = unsafe { rt::syscall::syscall0(nr::GETUID) } as u64;
    let own = {
        let mut t = rt::text::Text::new();
        let _ = core::fmt::Write::write_fmt(&mut t, format_args!("{}", sys::getpid()));
        t
    };
    let fd = open_read(b"/proc");
    if fd < 0 {
        check::fail("  open /proc", Ret(fd));
        return 0;
    }
    let mut count = 0;
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: getdents64 writes at most buf.len() bytes into buf.
        let n = unsafe {
            rt::syscall::syscall3(
                GETDENTS64,
                fd as usize,
                buf.as_mut_ptr() as usize,
                buf.len(),
            )
        };
        if n <= 0 {
            break;
        }
        // struct linux_dirent64: ino u64, off i64, reclen u16, type u8, name NUL-terminated.
        let mut at = 0;
        while at + 19 < n as usize {
            let reclen = u16::from_le_bytes([buf[at + 16], buf[at + 17]]) as usize;
            let name = &buf[at + 19..at + reclen];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if !name.is_empty()
                && name.iter().all(u8::is_ascii_digit)
                && name != own.as_str().as_bytes()
                && uid_of(name) == Some(me)
            {
                count += 1;
            }
            at += reclen.max(1);
        }
    }
    sys::close(fd as i32);
    count
}

fn put(fd: i32, b: u8) {
    let _ = rt::io::write_all(fd, &[b]);
}

/// Reaps every child; true if all exited 0.
fn reap_all() -> bool {
    let mut ok = true;
    loop {
        let mut status = 0;
        let r = sys::wait4(-1, Some(&mut status), 0);
        if r == -rt::errno::EINTR {
            continue;
        }
        if r < 0 {
            return ok && r == -ECHILD;
        }
        ok &= status == 0;
    }
}

/// One process of the tree bomb (its birth already reported): forks children until fork
/// fails or it has [`FANOUT`], each reporting its birth before this one goes on; reports how
/// its forking ended; then a leaf waits for the release (end-of-file on `release`) and a
/// parent reaps its children. Exits 0 only if everything below it did.
fn node(depth: usize, report: i32, release: i32) -> i32 {
    let mut children = 0;
    let stop = loop {
        if children == FANOUT || depth == DEPTH {
            break STOPPED_FANOUT;
        }
        let Ok([hs_r, hs_w]) = sys::pipe2(0) else {
            break STOPPED_OTHER;
        };
        let pid = sys::fork();
        if pid == 0 {
            close_all_but(&[report, release, hs_w]);
            put(report, BORN);
            // Only now may the parent go on: its own report comes after this child's birth.
            put(hs_w, 1);
            sys::close(hs_w);
            rt::exit(node(depth + 1, report, release));
        }
        sys::close(hs_w);
        if pid < 0 {
            sys::close(hs_r);
            break if pid == -EAGAIN {
                STOPPED_EAGAIN
            } else {
                STOPPED_OTHER
            };
        }
        let mut b = [0u8];
        let handshake = sys::read(hs_r, &mut b);
        sys::close(hs_r);
        if handshake != 1 {
            break STOPPED_OTHER;
        }
        children += 1;
    };
    put(report, stop);
    if children > 0 {
        return if reap_all() { 0 } else { 1 };
    }
    let mut b = [0u8];
    while sys::read(release, &mut b) > 0 {}
    0
}

fn tree_bomb() {
    println!("a fork bomb, each process forking until EAGAIN:");
    let others = others_of_this_user();
    let (Ok([report_r, report_w]), Ok([release_r, release_w])) = (sys::pipe2(0), sys::pipe2(0))
    else {
        check::fail("pipe2", "failed");
        return;
    };
    let root = sys::fork();
    if root == 0 {
        close_all_but(&[report_w, release_r]);
        put(report_w, BORN);
        rt::exit(node(0, report_w, release_r));
    }
    sys::close(report_w);
    sys::close(release_r);
    if root < 0 {
        check::fail("  fork of the bomb's first process", Ret(root));
        return;
    }
    // Every process reports its birth before its parent reports how its forking ended, so the
    // bomb is complete (nothing forking, nothing unreported) once the counts match.
    let (mut born, mut eagain, mut fanout, mut other) = (0usize, 0usize, 0usize, 0usize);
    while born == 0 || born != eagain + fanout + other {
        let mut b = [0u8; 64];
        let n = sys::read(report_r, &mut b);
        if n <= 0 {
            check::fail("  reading the reports", Ret(n));
            break;
        }
        for &c in &b[..n as usize] {
            match c {
                BORN => born += 1,
                STOPPED_EAGAIN => eagain += 1,
                STOPPED_FANOUT => fanout += 1,
                _ => other += 1,
            }
        }
    }
    check::yes("  forks failed with EAGAIN", eagain > 0);
    check::eq("  forks failed otherwise", other, 0);
    check::yes(
        "  the bomb, this process and the user's others fill the limit",
        born as u64 + 1 + others == LIMIT,
    );
    check::err("  this process's fork at the limit", sys::fork(), EAGAIN);
    let thread = rt::thread::spawn(thread_body, 0);
    check::yes(
        "  and a thread: EAGAIN",
        matches!(thread, Err(e) if e == -EAGAIN),
    );
    if let Ok(t) = thread {
        t.join();
    }
    // Release: end-of-file for the leaves, which exit; their parents reap them and follow.
    sys::close(release_w);
    check::shows(
        "  released, it came down leaf first",
        Status(sys::wait_for(root as i32)),
        "exited 0",
    );
    let mut b = [0u8; 64];
    check::ret(
        "  the report pipe is at end-of-file",
        sys::read(report_r, &mut b),
        0,
    );
    sys::close(report_r);
    check::err(
        "  nothing left to reap",
        sys::wait4(-1, None, sys::WNOHANG),
        ECHILD,
    );
    fork_works();
}

extern "C" fn thread_body(_: usize) -> i32 {
    0
}

/// A child that exits 7 can be forked and reaped.
fn fork_works() {
    let pid = sys::fork();
    if pid == 0 {
        rt::exit(7);
    }
    if pid < 0 {
        check::fail("  fork afterwards", Ret(pid));
        return;
    }
    check::shows(
        "  fork works afterwards",
        Status(sys::wait_for(pid as i32)),
        "exited 7",
    );
}

fn flat_bomb() {
    println!("a flat bomb, killed with SIGKILL:");
    let others = others_of_this_user();
    let Ok([release_r, release_w]) = sys::pipe2(0) else {
        check::fail("pipe2", "failed");
        return;
    };
    let mut pids = [0i32; LIMIT as usize];
    let mut count = 0;
    let end = loop {
        let pid = sys::fork();
        if pid == 0 {
            sys::close(release_w);
            let mut b = [0u8];
            // Never released: the parent kills it.
            while sys::read(release_r, &mut b) > 0 {}
            rt::exit(3);
        }
        if pid < 0 {
            break pid;
        }
        if count < pids.len() {
            pids[count] = pid as i32;
        }
        count += 1;
    };
    check::err("  fork until", end, EAGAIN);
    check::yes(
        "  children, this process and the user's others fill the limit",
        count as u64 + 1 + others == LIMIT,
    );
    let mut killed = 0;
    for &pid in pids.iter().take(count.min(pids.len())) {
        sys::kill(pid, rt::signal::SIGKILL);
    }
    for &pid in pids.iter().take(count.min(pids.len())) {
        if sys::signaled(sys::wait_for(pid)) == Some(rt::signal::SIGKILL) {
            killed += 1;
        }
    }
    check::yes("  every one killed by SIGKILL and reaped", killed == count);
    sys::close(release_r);
    sys::close(release_w);
    check::err(
        "  nothing left to reap",
        sys::wait4(-1, None, sys::WNOHANG),
        ECHILD,
    );
    fork_works();
}

/// A flat bomb under RLIMIT_NPROC `limit`, after mapping `areas` single pages that cannot merge
/// (each child's copy of them makes it heavier for the kernel): it must stop with EAGAIN (the
/// limit) or ENOMEM (the kernel's memory) after more than `at_least` processes.
fn wide_bomb(limit: u64, areas: usize, at_least: u64) {
    println!("a flat bomb under RLIMIT_NPROC {limit}, {areas} extra mappings in each process:");
    check::ret("  setrlimit", set_nproc(limit), 0);
    let base = 0x1000_0000_0000usize;
    let mut mapped = 0;
    for i in 0..areas {
        let prot = if i.is_multiple_of(2) {
            sys::PROT_READ | sys::PROT_WRITE
        } else {
            sys::PROT_READ
        };
        // SAFETY: a hint, not MAP_FIXED: nothing existing is replaced.
        let p = unsafe {
            sys::mmap(
                base + i * sys::PAGE,
                sys::PAGE,
                prot,
                sys::MAP_PRIVATE | sys::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p >= 0 {
            mapped += 1;
        }
    }
    check::eq("  mappings made", mapped, areas);
    let Ok([release_r, release_w]) = sys::pipe2(0) else {
        check::fail("pipe2", "failed");
        return;
    };
    let mut count = 0u64;
    let end = loop {
        let pid = sys::fork();
        if pid == 0 {
            sys::close(release_w);
            let mut b = [0u8];
            while sys::read(release_r, &mut b) > 0 {}
            rt::exit(0);
        }
        if pid < 0 {
            break pid;
        }
        count += 1;
    };
    check::yes(
        "  fork until EAGAIN (the limit) or ENOMEM (the kernel's memory)",
        end == -EAGAIN || end == -rt::errno::ENOMEM,
    );
    check::yes("  enough processes before that", count > at_least);
    check::yes("  and no more than the limit", count < limit);
    sys::close(release_r);
    sys::close(release_w);
    check::yes("  released, every one exited 0 and was reaped", reap_all());
    if areas > 0 {
        // SAFETY: the pages mapped above, used by nothing.
        unsafe { sys::munmap(base, areas * sys::PAGE) };
    }
    fork_works();
}

/// The coordinator: an unprivileged user (on Linux), then the bombs (if `bombs`; the widest only
/// if `wide`).
fn coordinator(bombs: bool, wide: bool) -> i32 {
    // SAFETY: setuid takes no pointers. Failing (Cyphera has no other users) changes nothing
    // this test relies on: Cyphera applies RLIMIT_NPROC to root.
    unsafe { syscall1(SETUID, UID_BASE + sys::getpid() as usize) };
    println!("RLIMIT_NPROC 0:");
    check::ret("  setrlimit", set_nproc(0), 0);
    check::err("  fork", sys::fork(), EAGAIN);
    check::ret("  setrlimit(NPROC, 24)", set_nproc(LIMIT), 0);
    if bombs {
        tree_bomb();
        flat_bomb();
        // Each child copies the 1000 mappings: about 100 KiB of Cyphera's kernel heap, which
        // runs short (ENOMEM) after some 250 of them; Linux stops them at the limit.
        wide_bomb(512, 1000, 100);
        if wide {
            // Thin processes under Cyphera's default limit: the kernel heap runs short after
            // some 3500 (the 512 MiB machine's 32 MiB heap). Slow under emulation: on request.
            wide_bomb(4096, 0, 2000);
        }
    }
    check::failures().min(100) as i32
}

fn main(env: &rt::Env) -> i32 {
    sys::mount_proc();
    // The AArch64 Linux reference is QEMU's user mode, whose forked processes each start a
    // thread of QEMU's own (call_rcu): at the process limit that thread cannot be created and
    // QEMU aborts. So the bombs run on x86_64, whose reference is Linux itself, and on AArch64
    // only when asked (`bombs`: the soak test asks, on Cyphera).
    let asked = |word: &[u8]| (1..env.argc()).any(|i| env.arg(i) == Some(word));
    let bombs = cfg!(target_arch = "x86_64") || asked(b"bombs");
    let pid = sys::fork();
    if pid == 0 {
        rt::exit(coordinator(bombs, asked(b"wide")));
    }
    if pid < 0 {
        check::fail("fork of the coordinator", Ret(pid));
        return check::finish("exhaust-processes");
    }
    check::shows(
        "coordinator: every check passed",
        Status(sys::wait_for(pid as i32)),
        "exited 0",
    );
    fork_works();
    check::finish("exhaust-processes")
}
