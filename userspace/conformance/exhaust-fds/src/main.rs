//! Conformance: descriptor exhaustion. With RLIMIT_NOFILE lowered to 256, opening files, `dup`,
//! `F_DUPFD` and `pipe2` fill the table to exactly the limit and then fail with EMFILE; `pipe2`
//! with one free slot fails too and leaves that slot free; `dup2`/`dup3` to a number at or past
//! the limit is EBADF and `F_DUPFD` from there EINVAL; closing everything makes the whole table
//! usable again. A limit lowered below the descriptors already open keeps them working but
//! refuses new ones at or above it. Raised to 4096 the table fills to 4096 and a forked child
//! gets a copy of all of it. The limit itself: soft above hard is EINVAL, a hard limit above
//! `nr_open` EPERM.
//!
//! The table starts from a known state: everything above stderr is closed first (a Linux
//! reference run may inherit more descriptors), so counts and descriptor numbers are exact.
#![no_std]
#![no_main]

use rt::check;
use rt::errno::{EBADF, EINVAL, EMFILE, EPERM};
use rt::println;
use rt::sys::{self, Rlimit, Status};
use rt::syscall::{nr, syscall1, syscall3, syscall4};

rt::main!(main);

/// The calls rt does not wrap, per architecture.
#[cfg(target_arch = "x86_64")]
mod more {
    pub const DUP: usize = 32;
    pub const DUP2: usize = 33;
}
#[cfg(target_arch = "aarch64")]
mod more {
    pub const DUP: usize = 23;
}

const F_DUPFD: usize = 0;
const F_GETFD: usize = 1;
/// Linux's `fs.nr_open` default: no RLIMIT_NOFILE may exceed it.
const NR_OPEN: u64 = 1 << 20;
/// The first limit filled (small enough for a quick test, far below every default).
const SMALL: usize = 256;
/// The limit filled last: Cyphera's default hard limit, Linux's usual one.
const LARGE: usize = 4096;

fn open_root() -> isize {
    // SAFETY: a NUL-terminated path; O_RDONLY takes no mode.
    unsafe {
        syscall4(
            nr::OPENAT,
            (-100isize) as usize,
            c"/".as_ptr() as usize,
            0,
            0,
        )
    }
}

fn dup(fd: i32) -> isize {
    // SAFETY: no pointers.
    unsafe { syscall1(more::DUP, fd as usize) }
}

fn dup3(old: i32, new: usize) -> isize {
    // SAFETY: no pointers.
    unsafe { syscall3(nr::DUP3, old as usize, new, 0) }
}

fn set_nofile(cur: u64, max: u64) -> isize {
    sys::prlimit(0, sys::RLIMIT_NOFILE, Some(&Rlimit { cur, max }), None)
}

fn nofile() -> Rlimit {
    let mut r = Rlimit::default();
    sys::prlimit(0, sys::RLIMIT_NOFILE, None, Some(&mut r));
    r
}

fn close_from(first: usize, end: usize) {
    for fd in first..end {
        sys::close(fd as i32);
    }
}

/// Opens `/` until the first failure: how many opened, the failure, and the last descriptor.
fn fill() -> (usize, isize, isize) {
    let (mut count, mut last) = (0, -1);
    loop {
        let r = open_root();
        if r < 0 {
            return (count, r, last);
        }
        count += 1;
        last = r;
    }
}

fn main(_env: &rt::Env) -> i32 {
    let start = nofile();
    // The Linux reference may inherit descriptors above stderr; Cyphera's init has none.
    close_from(3, (start.cur as usize).min(1 << 16));

    println!("limit {SMALL}:");
    check::ret(
        "  setrlimit(NOFILE, soft 256)",
        set_nofile(SMALL as u64, start.max),
        0,
    );
    let (count, end, last) = fill();
    check::eq("  files opened", count, SMALL - 3);
    check::err("  the next open", end, EMFILE);
    check::ret("  the last one is", last, SMALL as isize - 1);
    check::err("  dup(0)", dup(0), EMFILE);
    check::err("  F_DUPFD from 0", sys::fcntl(0, F_DUPFD, 0), EMFILE);
    check::yes("  pipe2: EMFILE", sys::pipe2(0) == Err(-EMFILE));
    check::err("  dup3(0, 256)", dup3(0, SMALL), EBADF);
    check::err("  dup3(0, 1000000)", dup3(0, 1_000_000), EBADF);
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: no pointers.
        let r = unsafe { rt::syscall::syscall2(more::DUP2, 0, SMALL) };
        check::err("  dup2(0, 256)", r, EBADF);
    }
    check::ret(
        "  dup3(0, 255) replaces it",
        dup3(0, SMALL - 1),
        SMALL as isize - 1,
    );
    check::err("  F_DUPFD from 256", sys::fcntl(0, F_DUPFD, SMALL), EINVAL);

    sys::close(100);
    check::yes(
        "  pipe2 with one free slot: EMFILE",
        sys::pipe2(0) == Err(-EMFILE),
    );
    check::ret("  that slot stayed free: open gives", open_root(), 100);
    sys::close(100);
    sys::close(200);
    check::yes(
        "  pipe2 with two free slots: [100, 200]",
        sys::pipe2(0) == Ok([100, 200]),
    );
    check::ret(
        "  F_DUPFD from 0 when full",
        sys::fcntl(0, F_DUPFD, 0),
        -EMFILE,
    );

    close_from(3, SMALL);
    let (count, end, _) = fill();
    check::eq("  reopened after closing all", count, SMALL - 3);
    check::err("  then", end, EMFILE);
    close_from(3, SMALL);
    // Pipes fill it too: two descriptors each.
    let mut pipes = 0;
    let failure = loop {
        match sys::pipe2(0) {
            Ok(_) => pipes += 1,
            Err(e) => break e,
        }
    };
    check::eq("  pipes made", pipes, (SMALL - 3) / 2);
    check::err("  then pipe2", failure, EMFILE);
    check::ret(
        "  one slot left: open gives",
        open_root(),
        SMALL as isize - 1,
    );
    close_from(3, SMALL);

    println!("lowered below what is open:");
    let (count, _, _) = fill();
    check::eq("  files open", count, SMALL - 3);
    check::ret("  setrlimit(NOFILE, soft 64)", set_nofile(64, start.max), 0);
    check::ret(
        "  fd 255 still works: F_GETFD",
        sys::fcntl(SMALL as i32 - 1, F_GETFD, 0),
        0,
    );
    check::err("  open", open_root(), EMFILE);
    check::err("  dup3(0, 64)", dup3(0, 64), EBADF);
    check::ret("  dup3(0, 63)", dup3(0, 63), 63);
    sys::close(10);
    check::ret("  after closing fd 10: open gives", open_root(), 10);
    sys::close(100);
    check::err(
        "  after closing fd 100 (above the limit): open",
        open_root(),
        EMFILE,
    );
    close_from(3, SMALL);
    let (count, end, last) = fill();
    check::eq("  after closing all: files opened", count, 64 - 3);
    check::err("  then", end, EMFILE);
    check::ret("  the last one is", last, 63);
    close_from(3, 64);

    println!("limit {LARGE}:");
    check::ret(
        "  setrlimit(NOFILE, 4096, 4096)",
        set_nofile(LARGE as u64, LARGE as u64),
        0,
    );
    let (count, end, last) = fill();
    check::eq("  files opened", count, LARGE - 3);
    check::err("  then", end, EMFILE);
    check::ret("  the last one is", last, LARGE as isize - 1);
    // A child gets a copy of the full table and can close all of it.
    let pid = sys::fork();
    if pid == 0 {
        let whole = sys::fcntl(LARGE as i32 - 1, F_GETFD, 0) == 0 && open_root() == -EMFILE;
        close_from(3, LARGE);
        let reusable = open_root() == 3;
        rt::exit(if whole && reusable { 0 } else { 1 });
    }
    check::shows(
        "  a forked child had the whole table and emptied its copy",
        Status(sys::wait_for(pid as i32)),
        "exited 0",
    );
    check::ret(
        "  the parent's copy is whole: F_GETFD(4095)",
        sys::fcntl(LARGE as i32 - 1, F_GETFD, 0),
        0,
    );
    close_from(3, LARGE);
    let (count, _, _) = fill();
    check::eq("  reopened after closing all", count, LARGE - 3);
    close_from(3, LARGE);

    println!("the limit itself:");
    check::err(
        "  soft above hard",
        set_nofile(LARGE as u64 + 1, LARGE as u64),
        EINVAL,
    );
    check::err("  hard above nr_open", set_nofile(64, NR_OPEN + 1), EPERM);
    let now = nofile();
    check::yes(
        "  unchanged by the failures",
        now == Rlimit {
            cur: LARGE as u64,
            max: LARGE as u64,
        },
    );

    check::finish("exhaust-fds")
}
