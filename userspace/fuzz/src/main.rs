//! The syscall fuzzer `cargo xtask fuzz` boots as /init (issue 7): random and structure-aware
//! arguments across the architecture's whole syscall table, issued by child processes so that
//! their crashes, signals and exits are survived. The kernel passes when it neither panics nor
//! hangs; the program reports how many calls ran.
//!
//! Arguments, anywhere among the words Linux or Cyphera hand init (argv, or k=v words in the
//! environment): `seed=S` (decimal or 0x hex, default 1), `iterations=N` (calls in all, default
//! 100000), `child=K` (replay: run children 0..=K as the run with the same seed and iterations
//! did and stop after K; `verbose` then applies to K only), `alone` (with `child=K`: run only
//! child K, faster but from a fresh kernel rather than the state the earlier children left),
//! `verbose` (print every call before it is issued and its result after), `trace` (print them
//! after the child ended, from the shared record: the child runs at full speed, as in the
//! original run, which a hang or a race may need to show again).
//!
//! The parent (pid 1; the program refuses to fuzz as anything else, so that running it by
//! mistake on a real system cannot kill or unlink real things) sets up /fuzz, then for each
//! child k: rebuilds the world, prints `cyphera-fuzz: child k`, forks; the child issues up to
//! 1000 calls from its own generator (seeded from S and k) and exits 0. The parent watches the
//! child's progress in shared memory: a child stalled in a blocking call is poked with a signal
//! (the call returns EINTR), and killed if that does not help; then the parent kills every other
//! process (`kill(-1, SIGKILL)` from init) and reaps them all, and learns from the child's
//! record which numbers are unimplemented (calls.rs draws those less). Lines the harness reads:
//! `cyphera-fuzz: child K` before each child; `processes survived SIGKILL ...` and `survivor:
//! /proc/PID/stat` when a killed process does not die (a kernel bug); `slow round: ...` when a
//! round took over 2 s; at the end `cyphera-fuzz: time ms=T ...` and
//! `cyphera-fuzz: survived calls=N children=M exited=a signaled=b killed=c`, then the power-off.
#![no_std]
#![no_main]

mod arena;
mod calls;
mod child;
mod deny;
mod out;
mod raw;
mod rng;
mod shared;
mod table;
mod world;

use core::fmt::Write as _;
use core::sync::atomic::Ordering::Relaxed;

use rt::errno::{ECHILD, EINTR};
use rt::signal::{self, SIG_IGN};
use rt::sys::{self, WALL, WNOHANG};
use rt::syscall::{nr, syscall0, syscall4};

use shared::{PHASE_RUNNING, PHASE_SETUP, Shared};

rt::main!(main);

#[cfg(target_arch = "x86_64")]
const ARCH: &str = "x86_64";
#[cfg(target_arch = "aarch64")]
const ARCH: &str = "aarch64";

/// Calls per child: enough that the per-child set-up (fork, pool, arena, world) stays a small
/// part of the run, few enough that a child's state (closed pool descriptors, remapped arena,
/// masked signals) does not drift too far from the start.
const PER_CHILD: u64 = shared::RECORDS as u64;

/// How often the parent looks at the child.
const POLL_NS: i64 = 1_000_000;
/// No progress for this long after the child's call began: poke it (SIGCONT, then the poke
/// signal), again at each further mark, and SIGKILL at the last.
const STALL_MARKS_NS: [i64; 4] = [4_000_000, 12_000_000, 28_000_000, 60_000_000];
/// A child still setting up after this long is killed.
const SETUP_LIMIT_NS: i64 = 10_000_000_000;
/// A child that progresses but has not finished after this long is killed.
const CHILD_LIMIT_NS: i64 = 60_000_000_000;
/// A round (world reset, child, reaping) longer than this is reported with its parts.
const SLOW_ROUND_NS: i64 = 2_000_000_000;
/// A killed process that has not died after this long is reported (a kernel bug: SIGKILL must
/// always work) and left behind.
const UNKILLABLE_NS: i64 = 10_000_000_000;

const REBOOT_MAGIC1: usize = 0xfee1_dead;
const REBOOT_MAGIC2: usize = 0x2812_1969;
const REBOOT_CMD_POWER_OFF: usize = 0x4321_fedc;

/// What the command line asked for.
struct Args {
    seed: u64,
    iterations: u64,
    /// The last child to run (a replay).
    child: Option<u64>,
    /// With `child`: run only that child, not the ones before it.
    alone: bool,
    verbose: bool,
    trace: bool,
}

fn number(s: &[u8]) -> Option<u64> {
    let text = core::str::from_utf8(s).ok()?;
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Finds the words among argv and the environment (Linux hands init unknown `k=v` command-line
/// words as environment variables, Cyphera as argv after `--`; both are accepted). Returns the
/// offending word on a malformed value.
fn parse_args(env: &rt::Env) -> Result<Args, &'static [u8]> {
    let mut args = Args {
        seed: 1,
        iterations: 100_000,
        child: None,
        alone: false,
        verbose: false,
        trace: false,
    };
    let words = (1..env.argc()).filter_map(|i| env.arg(i)).chain(env.vars());
    for word in words {
        if word == b"verbose" {
            args.verbose = true;
        } else if word == b"alone" {
            args.alone = true;
        } else if word == b"trace" {
            args.trace = true;
        } else if let Some(v) = word.strip_prefix(b"seed=") {
            args.seed = number(v).ok_or(word)?;
        } else if let Some(v) = word.strip_prefix(b"iterations=") {
            args.iterations = number(v).ok_or(word)?;
        } else if let Some(v) = word.strip_prefix(b"child=") {
            args.child = Some(number(v).ok_or(word)?);
        }
    }
    Ok(args)
}

/// How a child ended.
enum End {
    Exited(i32),
    Signaled(i32),
    /// Killed by the parent: stalled, or over its time.
    Killed,
    /// Survived SIGKILL (reported; a kernel bug).
    Unkillable,
}

fn now() -> i64 {
    sys::monotonic_ns() as i64
}

fn nap() {
    let t = sys::Timespec::from_ns(POLL_NS);
    sys::nanosleep(&t, None);
}

/// Prints the calls the child recorded, as `verbose` would have printed them live.
fn print_trace(shared: &Shared) {
    for i in 1..=shared.started.load(Relaxed) {
        let Some((nr, a, ret)) = shared.call(i) else {
            break;
        };
        let a = a.map(|v| v as usize);
        let mut line = out::Line::new();
        child::write_call(&mut line, "", i, nr as usize, &a);
        line.emit(1);
        let mut line = out::Line::new();
        if ret == shared::PENDING {
            let _ = write!(line, "ret {i}: did not return");
        } else {
            child::write_ret(&mut line, "", i, ret as isize);
        }
        line.emit(1);
    }
}

/// Watches child `k` (pid `pid`) until it ends: pokes it when it stops progressing, kills it
/// when pokes do not help or it runs too long.
fn supervise(pid: i32, k: u64, shared: &Shared, verbose: bool) -> End {
    let started_at = now();
    let mut last = (u64::MAX, started_at);
    let mut pokes = 0;
    let mut killed_at: Option<i64> = None;
    let kill = |why: &str, killed_at: &mut Option<i64>, t: i64| {
        if verbose || why != "stalled" {
            let i = shared.started.load(Relaxed);
            let mut line = out::Line::new();
            let _ = write!(line, "child {k} {why}, killed in ");
            match shared.call(i) {
                Some((nr, a, _)) => {
                    child::write_call(&mut line, "", i, nr as usize, &a.map(|v| v as usize))
                }
                None => {
                    let _ = write!(line, "set-up");
                }
            }
            line.emit(1);
        }
        sys::kill(pid, signal::SIGKILL);
        *killed_at = Some(t);
    };
    loop {
        let mut status = 0;
        let r = sys::wait4(pid, Some(&mut status), WNOHANG | WALL);
        if r == pid as isize {
            if sys::stopped(status).is_some() {
                // Only a traced child reports stops without WUNTRACED; end it.
                sys::kill(pid, signal::SIGKILL);
                killed_at.get_or_insert(now());
                continue;
            }
            return match (sys::exited(status), sys::signaled(status)) {
                (_, Some(signal::SIGKILL)) if killed_at.is_some() => End::Killed,
                (Some(code), _) => End::Exited(code),
                (_, Some(sig)) => End::Signaled(sig),
                _ => End::Exited(-1),
            };
        }
        if r < 0 && r != -EINTR {
            let _ = say!(1, "child {k}: wait4 failed: {}", rt::errno::Ret(r));
            return End::Unkillable;
        }
        let t = now();
        match killed_at {
            Some(at) => {
                if t - at > UNKILLABLE_NS {
                    let _ = say!(
                        1,
                        "child {k} (pid {pid}) survived SIGKILL for {} s",
                        UNKILLABLE_NS / 1_000_000_000
                    );
                    return End::Unkillable;
                }
            }
            None => {
                let started = shared.started.load(Relaxed);
                if started != last.0 {
                    last = (started, t);
                    pokes = 0;
                }
                let stalled = t - last.1;
                match shared.phase.load(Relaxed) {
                    PHASE_RUNNING if stalled > STALL_MARKS_NS[pokes] => {
                        if pokes + 1 < STALL_MARKS_NS.len() {
                            sys::kill(pid, signal::SIGCONT);
                            sys::kill(pid, child::POKE);
                            pokes += 1;
                        } else {
                            kill("stalled", &mut killed_at, t);
                        }
                    }
                    PHASE_SETUP if stalled > SETUP_LIMIT_NS => {
                        kill("stuck setting up", &mut killed_at, t)
                    }
                    _ if t - started_at > CHILD_LIMIT_NS => {
                        kill("over its time", &mut killed_at, t)
                    }
                    _ => {}
                }
            }
        }
        nap();
    }
}

/// Processes that survived SIGKILL (a kernel bug, reported once): later rounds do not wait
/// for them again.
struct Survivors {
    pids: [i32; 64],
    len: usize,
}

impl Survivors {
    fn contains(&self, pid: i32) -> bool {
        self.pids[..self.len].contains(&pid)
    }
}

/// Kills every process but init and reaps them all (orphans of the child came to init); a
/// process still there after [`UNKILLABLE_NS`] is reported once and not waited for again.
fn reap_all(survivors: &mut Survivors) {
    let start = now();
    let mut last_kill: Option<i64> = None;
    loop {
        let t = now();
        // Again every 100 ms: a process may have been created (or stopped and continued) since.
        let check = last_kill.is_none_or(|at| t - at > 100_000_000);
        if check {
            sys::kill(-1, signal::SIGKILL);
            last_kill = Some(t);
        }
        let r = sys::wait4(-1, None, WNOHANG | WALL);
        if r > 0 || r == -EINTR {
            continue;
        }
        if r == -ECHILD {
            return;
        }
        if r < 0 {
            let _ = say!(1, "reaping: wait4 failed: {}", rt::errno::Ret(r));
            return;
        }
        let mut pids = [0; 64];
        let n = if check || t - start > UNKILLABLE_NS {
            world::other_pids(&mut pids)
        } else {
            usize::MAX
        };
        if n != usize::MAX && pids[..n].iter().all(|&p| survivors.contains(p)) {
            // Only the known survivors are left (or nothing /proc shows).
            return;
        }
        if t - start > UNKILLABLE_NS {
            let _ = say!(
                1,
                "processes survived SIGKILL for {} s; going on without them",
                UNKILLABLE_NS / 1_000_000_000
            );
            for &p in &pids[..n] {
                if !survivors.contains(p) {
                    world::report_survivor(p);
                    if survivors.len < survivors.pids.len() {
                        survivors.pids[survivors.len] = p;
                        survivors.len += 1;
                    }
                }
            }
            return;
        }
        nap();
    }
}

/// Every signal but the ones that cannot be ignored (SIGKILL, SIGSTOP), SIGCHLD (ignoring it
/// would make the kernel reap the children before the parent can count them) and the
/// synchronous fault signals (a fault in the parent itself must stay visible) is ignored:
/// a child's kill(0, ..) or a terminal's job-control signal must not stop or end init.
fn ignore_signals() {
    const KEEP: [i32; 8] = [
        signal::SIGKILL,
        signal::SIGSTOP,
        signal::SIGCHLD,
        signal::SIGILL,
        signal::SIGTRAP,
        signal::SIGBUS,
        signal::SIGSEGV,
        8, // SIGFPE
    ];
    for sig in 1..=signal::NSIG {
        if !KEEP.contains(&sig) {
            signal::disposition(sig, SIG_IGN);
        }
    }
}

/// Checks that a MAP_SHARED|MAP_ANONYMOUS page really is shared with a forked child.
fn shared_works(shared: &Shared) -> bool {
    shared.reset();
    let pid = sys::fork();
    if pid == 0 {
        shared.started.store(0x5ea1, Relaxed);
        rt::exit(0);
    }
    if pid < 0 {
        return false;
    }
    sys::wait_for(pid as i32);
    let ok = shared.started.load(Relaxed) == 0x5ea1;
    shared.reset();
    ok
}

fn power_off() -> ! {
    // SAFETY: sync and reboot take no pointers.
    unsafe {
        syscall0(nr::SYNC);
        syscall4(
            nr::REBOOT,
            REBOOT_MAGIC1,
            REBOOT_MAGIC2,
            REBOOT_CMD_POWER_OFF,
            0,
        );
    }
    // reboot returns only on failure: init must not exit, so wait to be stopped.
    let _ = say!(1, "reboot failed; waiting");
    loop {
        sys::sleep_ms(1000);
    }
}

fn main(env: &rt::Env) -> i32 {
    if sys::getpid() != 1 {
        let _ = say!(
            2,
            "refusing to run: not process 1. This program issues random system calls (unlink, \
             kill, mount, ...) as root; it runs only as the init of a throwaway machine \
             (cargo xtask fuzz)."
        );
        return 2;
    }
    let args = match parse_args(env) {
        Ok(a) => a,
        Err(word) => {
            let _ = say!(
                1,
                "bad argument `{}` (seed=S iterations=N child=K verbose)",
                core::str::from_utf8(word).unwrap_or("?")
            );
            power_off();
        }
    };
    ignore_signals();
    let termios = world::termios();
    world::setup();
    let root = world::root_identity();
    let Some(shared) = Shared::map().filter(|s| shared_works(s)) else {
        let _ = say!(
            1,
            "error: a MAP_SHARED|MAP_ANONYMOUS page is not shared with a forked child; the \
             fuzzer cannot count calls"
        );
        power_off();
    };
    let mut begin = out::Line::new();
    let _ = write!(
        begin,
        "begin arch={ARCH} seed={} iterations={} per-child={PER_CHILD}",
        args.seed, args.iterations
    );
    if let Some(k) = args.child {
        let _ = write!(
            begin,
            " child={k}{}",
            if args.alone { " alone" } else { "" }
        );
    }
    if args.verbose {
        let _ = write!(begin, " verbose");
    }
    if args.trace {
        let _ = write!(begin, " trace");
    }
    begin.emit(1);
    let mut cfg = child::Config {
        seed: args.seed,
        null_fd: world::NULL_FD,
        learned: calls::Learned::default(),
    };
    let (mut calls, mut children) = (0u64, 0u64);
    let (mut exited, mut signaled, mut killed) = (0u64, 0u64, 0u64);
    // Children that die before issuing anything would loop forever: give up when they average
    // fewer than 20 calls (they average some hundreds).
    let max_children = args.iterations / 20 + 100;
    let mut survivors = Survivors {
        pids: [0; 64],
        len: 0,
    };
    let started = now();
    let mut k = match args.child {
        Some(last) if args.alone => last,
        _ => 0,
    };
    loop {
        if calls >= args.iterations || args.child.is_some_and(|last| k > last) {
            break;
        }
        // With `child=K`, only child K is verbose: the ones before it run as in the original
        // run, so that K starts from the same kernel state (pids, leftovers) as it did there.
        let this_one = args.child.is_none_or(|last| k == last);
        let verbose = args.verbose && this_one;
        if children >= max_children {
            let _ = say!(
                1,
                "giving up after {children} children: they issue too few calls"
            );
            break;
        }
        let round_start = now();
        world::reset(root, termios.as_ref());
        let reset_done = now();
        shared.reset();
        let budget = PER_CHILD.min(args.iterations - calls);
        let _ = say!(1, "child {k}");
        let pid = sys::fork();
        if pid == 0 {
            child::run(&cfg, k, budget, verbose, shared);
        }
        if pid < 0 {
            let _ = say!(1, "fork failed: {}", rt::errno::Ret(pid));
            break;
        }
        let end = supervise(pid as i32, k, shared, verbose);
        let child_done = now();
        if args.trace && this_one {
            print_trace(shared);
        }
        for i in 1..=shared.started.load(Relaxed).min(budget) {
            if let Some((nr, _, ret)) = shared.call(i)
                && ret != shared::PENDING
            {
                cfg.learned.note(nr as usize, ret as isize);
            }
        }
        calls += shared.started.load(Relaxed).min(budget);
        children += 1;
        match end {
            End::Exited(code) => {
                exited += 1;
                if verbose {
                    let _ = say!(1, "child {k} exited {code}");
                }
            }
            End::Signaled(sig) => {
                signaled += 1;
                if verbose {
                    let _ = say!(1, "child {k} killed by signal {sig}");
                }
            }
            End::Killed | End::Unkillable => killed += 1,
        }
        if verbose {
            let _ = say!(1, "reaping every other process");
        }
        reap_all(&mut survivors);
        // A slow round says where the time went: a kernel that makes the parent wait (a slow
        // mount, an unkillable process, a sleep that oversleeps) shows up here first.
        let t = now();
        if t - round_start > SLOW_ROUND_NS {
            let ms = |ns: i64| ns / 1_000_000;
            let mut line = out::Line::new();
            let _ = write!(
                line,
                "slow round: child {k} reset {} ms, run {} ms, reap {} ms; processes left:",
                ms(reset_done - round_start),
                ms(child_done - reset_done),
                ms(t - child_done)
            );
            let mut pids = [0; 16];
            let n = world::other_pids(&mut pids);
            for p in &pids[..n] {
                let _ = write!(line, " {p}");
            }
            line.emit(1);
        }
        k += 1;
    }
    if args.verbose {
        let _ = say!(1, "rebuilding the world");
    }
    world::reset(root, termios.as_ref());
    let ms = (now() - started) / 1_000_000;
    let _ = say!(
        1,
        "time ms={ms} unimplemented={} (numbers that only ever returned ENOSYS)",
        cfg.learned.count()
    );
    let _ = say!(
        1,
        "survived calls={calls} children={children} exited={exited} signaled={signaled} \
         killed={killed}"
    );
    power_off();
}
