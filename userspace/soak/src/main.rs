//! The soak test's /init (`cargo xtask soak`): round after round, fork+execs every program
//! listed in /etc/soak-programs (one per line: the name under /bin, then its arguments), each
//! with its output captured through a pipe, and requires each to exit 0 with `<name>: ok` as
//! its last line (the conformance programs' verdict). After each round it reaps any orphans left
//! to it, reads MemFree and the kernel heap (SUnreclaim) from /proc/meminfo and prints
//!
//! ```text
//! cyphera-soak: round N ok free_kb=X heap_kb=Y secs=S
//! ```
//!
//! The first round is the warm-up: its figures are the baseline, and every later round must
//! come back to it (see [`FREE_SLACK_KB`] and [`HEAP_SLACK_KB`]). Rounds go on until the
//! deadline — argv[1], in seconds of CLOCK_MONOTONIC from the start — has passed, but at least
//! two run so that one is checked against the baseline. Then `cyphera-soak: done rounds=N`
//! and exit 0. A failure prints `cyphera-soak: round N FAILED ...` (with the end of the
//! program's output) and exits 1.
#![no_std]
#![no_main]

use rt::exec::Strings;
use rt::println;
use rt::sys::{self, Status};
use rt::syscall::{nr, syscall3, syscall4};

rt::main!(main);

/// How far MemFree may end a round below the baseline. Every user page and page table is a
/// frame and comes back when its process is reaped, and this process (the only one between
/// rounds) has touched all it ever touches by the end of the warm-up. Measured: MemFree ends
/// every round on exactly the same figure (5 rounds of the full mix on x86_64, 3 on AArch64,
/// each with thousands of processes, three memory exhaustions and a full tmpfs). A few pages of
/// slack allow for an unlucky boundary (this process's page tables for a stack page first
/// touched later, say) without hiding a leak: one page per program run would show in a round.
const FREE_SLACK_KB: u64 = 64;
/// How far the kernel heap in use may end a round above the baseline. The heap holds only
/// kernel objects; a process's are freed when it is reaped. What may legitimately stay is
/// capacity: tables that grew to a new high-water mark and keep it (a run queue that once held
/// more threads than ever before, say). Measured: the figure ends every round on the same KiB
/// (213 on x86_64, 214 on AArch64). 256 KiB allows for high-water growth, while a leak of one
/// small object per process would pass it within a round (the mix starts thousands).
const HEAP_SLACK_KB: u64 = 256;

/// Everything in /etc/soak-programs.
const LIST_MAX: usize = 4096;
/// Programs at most.
const PROGRAMS_MAX: usize = 64;
/// Output kept per program run, for the failure report.
const TAIL: usize = 3072;

const O_CLOEXEC: usize = 0o2000000;

fn open_read(path: &core::ffi::CStr) -> isize {
    // SAFETY: a NUL-terminated path; O_RDONLY takes no mode.
    unsafe {
        syscall4(
            nr::OPENAT,
            (-100isize) as usize,
            path.as_ptr() as usize,
            O_CLOEXEC,
            0,
        )
    }
}

/// Reads a whole (small) file into `buf`: its length, or -errno.
fn read_file(path: &core::ffi::CStr, buf: &mut [u8]) -> isize {
    let fd = open_read(path);
    if fd < 0 {
        return fd;
    }
    let mut len = 0;
    while len < buf.len() {
        let n = sys::read(fd as i32, &mut buf[len..]);
        if n < 0 {
            sys::close(fd as i32);
            return n;
        }
        if n == 0 {
            break;
        }
        len += n as usize;
    }
    sys::close(fd as i32);
    len as isize
}

/// MemFree and SUnreclaim (the kernel heap), in KiB.
fn meminfo() -> Option<(u64, u64)> {
    let mut buf = [0u8; 4096];
    let len = read_file(c"/proc/meminfo", &mut buf);
    if len < 0 {
        println!(
            "cyphera-soak: reading /proc/meminfo: {}",
            rt::errno::Ret(len)
        );
        return None;
    }
    let (mut free, mut heap) = (None, None);
    for line in buf[..len as usize].split(|&b| b == b'\n') {
        let mut words = line.split(|&b| b == b' ').filter(|w| !w.is_empty());
        let (Some(key), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        let value = rt::text::parse_int(value).map(|v| v as u64);
        match key {
            b"MemFree:" => free = value,
            b"SUnreclaim:" => heap = value,
            _ => {}
        }
    }
    Some((free?, heap?))
}

/// The last [`TAIL`] bytes of a program's output, and its last complete line.
struct Output {
    ring: [u8; TAIL],
    total: usize,
    line: [u8; 256],
    line_len: usize,
    last: [u8; 256],
    last_len: usize,
}

impl Output {
    fn new() -> Output {
        Output {
            ring: [0; TAIL],
            total: 0,
            line: [0; 256],
            line_len: 0,
            last: [0; 256],
            last_len: 0,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.ring[self.total % TAIL] = b;
            self.total += 1;
            if b == b'\n' {
                self.last = self.line;
                self.last_len = self.line_len;
                self.line_len = 0;
            } else if self.line_len < self.line.len() {
                self.line[self.line_len] = b;
                self.line_len += 1;
            }
        }
    }

    fn last_line(&self) -> &[u8] {
        &self.last[..self.last_len]
    }

    fn print_tail(&self) {
        let start = self.total.saturating_sub(TAIL);
        let mut chunk = [0u8; 256];
        let mut n = 0;
        for i in start..self.total {
            chunk[n] = self.ring[i % TAIL];
            n += 1;
            if n == chunk.len() {
                let _ = rt::io::write_all(1, &chunk[..n]);
                n = 0;
            }
        }
        let _ = rt::io::write_all(1, &chunk[..n]);
        if self.total > 0 && self.ring[(self.total - 1) % TAIL] != b'\n' {
            println!("");
        }
    }
}

/// One program of the list: its name and its arguments.
struct Program<'a> {
    words: [&'a [u8]; 8],
    count: usize,
}

impl<'a> Program<'a> {
    fn name(&self) -> &'a [u8] {
        self.words[0]
    }
}

fn parse_list(text: &[u8]) -> ([Option<Program<'_>>; PROGRAMS_MAX], usize) {
    let mut list: [Option<Program<'_>>; PROGRAMS_MAX] = [const { None }; PROGRAMS_MAX];
    let mut n = 0;
    for line in text.split(|&b| b == b'\n') {
        let mut p = Program {
            words: [&[]; 8],
            count: 0,
        };
        for w in line.split(|&b| b == b' ').filter(|w| !w.is_empty()) {
            if p.count < p.words.len() {
                p.words[p.count] = w;
                p.count += 1;
            }
        }
        if p.count > 0 && n < PROGRAMS_MAX {
            list[n] = Some(p);
            n += 1;
        }
    }
    (list, n)
}

/// Runs one program to its end; `Err` says why it did not pass (its output is printed).
fn run(p: &Program<'_>, env: &rt::Env, round: u64) -> Result<(), ()> {
    let name = core::str::from_utf8(p.name()).unwrap_or("?");
    let mut path = Strings::new();
    path.push_fmt(format_args!("/bin/{name}"));
    let mut argv = Strings::new();
    argv.push_fmt(format_args!("/bin/{name}"));
    for w in &p.words[1..p.count] {
        argv.push(w);
    }
    let mut envp = Strings::new();
    // SAFETY: the kernel's envp array is null-terminated C strings.
    unsafe { envp.push_all(env.envp_ptr()) };
    let Ok([r, w]) = sys::pipe2(O_CLOEXEC) else {
        println!("cyphera-soak: round {round} FAILED {name}: pipe2 failed");
        return Err(());
    };
    let pid = sys::fork();
    if pid == 0 {
        // SAFETY: dup3 and execve get live, NUL-terminated arrays; on success this image is
        // replaced, on failure the child exits.
        unsafe {
            syscall3(nr::DUP3, w as usize, 1, 0);
            syscall3(nr::DUP3, w as usize, 2, 0);
            let e = sys::execve(path.first(), argv.as_ptr(), envp.as_ptr());
            println!("execve {name}: {}", rt::errno::Ret(e));
        }
        rt::exit(127);
    }
    sys::close(w);
    if pid < 0 {
        sys::close(r);
        println!(
            "cyphera-soak: round {round} FAILED {name}: fork: {}",
            rt::errno::Ret(pid)
        );
        return Err(());
    }
    let mut out = Output::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = sys::read(r, &mut buf);
        if n == -rt::errno::EINTR {
            continue;
        }
        if n <= 0 {
            break;
        }
        out.push(&buf[..n as usize]);
    }
    sys::close(r);
    let status = sys::wait_for(pid as i32);
    let mut verdict = rt::text::Text::new();
    let _ = core::fmt::Write::write_fmt(&mut verdict, format_args!("{name}: ok"));
    if sys::exited(status) == Some(0) && out.last_line() == verdict.as_str().as_bytes() {
        return Ok(());
    }
    println!(
        "cyphera-soak: round {round} FAILED {name}: {} (the end of its output follows)",
        Status(status)
    );
    out.print_tail();
    Err(())
}

/// Reaps whatever was left to init (orphans of the programs), without waiting.
fn reap_orphans() {
    while sys::wait4(-1, None, sys::WNOHANG) > 0 {}
}

fn main(env: &rt::Env) -> i32 {
    let start = sys::monotonic_ns();
    // The deadline is the first numeric argument (Linux would put its own unknown command-line
    // words first; Cyphera passes only the words after `--`).
    let seconds = (1..env.argc())
        .filter_map(|i| env.arg(i).and_then(rt::text::parse_int))
        .next()
        .unwrap_or(0);
    let deadline = start + seconds as i128 * 1_000_000_000;
    static mut LIST: [u8; LIST_MAX] = [0; LIST_MAX];
    // SAFETY: single-threaded; LIST is used only here, for the whole run.
    let list = unsafe { &mut *core::ptr::addr_of_mut!(LIST) };
    let len = read_file(c"/etc/soak-programs", list);
    if len <= 0 {
        println!(
            "cyphera-soak: FAILED: no program list in /etc/soak-programs ({})",
            rt::errno::Ret(len)
        );
        return 1;
    }
    let (programs, count) = parse_list(&list[..len as usize]);
    sys::mount_proc();
    println!("cyphera-soak: begin programs={count} seconds={seconds}");
    let mut baseline = None;
    let mut round = 0u64;
    loop {
        round += 1;
        let began = sys::monotonic_ns();
        for p in programs.iter().take(count).flatten() {
            println!(
                "cyphera-soak: round {round}: {}",
                core::str::from_utf8(p.name()).unwrap_or("?")
            );
            if run(p, env, round).is_err() {
                return 1;
            }
            reap_orphans();
        }
        let Some((free, heap)) = meminfo() else {
            println!(
                "cyphera-soak: round {round} FAILED: /proc/meminfo lacks MemFree or SUnreclaim"
            );
            return 1;
        };
        let secs = (sys::monotonic_ns() - began) / 1_000_000_000;
        println!("cyphera-soak: round {round} ok free_kb={free} heap_kb={heap} secs={secs}");
        match baseline {
            None => baseline = Some((free, heap)),
            Some((base_free, base_heap)) => {
                if free + FREE_SLACK_KB < base_free {
                    println!(
                        "cyphera-soak: round {round} FAILED: free memory {free} KiB did not come back to the baseline {base_free} KiB (slack {FREE_SLACK_KB} KiB)"
                    );
                    return 1;
                }
                if heap > base_heap + HEAP_SLACK_KB {
                    println!(
                        "cyphera-soak: round {round} FAILED: the kernel heap {heap} KiB did not come back to the baseline {base_heap} KiB (slack {HEAP_SLACK_KB} KiB)"
                    );
                    return 1;
                }
            }
        }
        if round >= 2 && sys::monotonic_ns() >= deadline {
            break;
        }
    }
    println!("cyphera-soak: done rounds={round}");
    0
}
