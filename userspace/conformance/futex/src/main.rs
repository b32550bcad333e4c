//! Conformance: futex. Error codes and timeouts first, single-threaded: EAGAIN when the word
//! changed, ETIMEDOUT after a relative timeout (and no earlier), absolute FUTEX_WAIT_BITSET
//! deadlines on CLOCK_MONOTONIC and CLOCK_REALTIME, EINVAL for bad timeouts, a zero bitset and
//! an unaligned word, EFAULT for an unmapped word, ENOSYS for an unknown operation. Then with
//! waiter threads: WAKE waking them one at a time, CMP_REQUEUE moving every waiter to a second
//! word (after which a wake on the first finds nobody), REQUEUE waking one and moving the rest,
//! and WAKE_BITSET waking only the waiter whose bitset matches.
//!
//! Counts are deterministic because a waiter is only ever counted once the kernel reports it
//! woke or moved it: the main thread repeats the operation until every waiter has been found
//! blocked, whatever the scheduling.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicIsize, AtomicU32, Ordering};

use rt::check;
use rt::errno::{EAGAIN, EFAULT, EINVAL, ENOSYS, ETIMEDOUT};
use rt::println;
use rt::sys::{self, Timespec};
use rt::thread;

rt::main!(main);

const PRIVATE: usize = sys::FUTEX_PRIVATE_FLAG;
const N: usize = 3;

static F1: AtomicU32 = AtomicU32::new(0);
static F2: AtomicU32 = AtomicU32::new(0);
/// What each waiter's FUTEX_WAIT returned (-1000 until it returns).
static RESULTS: [AtomicIsize; N] = [const { AtomicIsize::new(-1000) }; N];
static BITSETS: [u32; N] = [1, 2, 4];

fn op(
    word: &AtomicU32,
    op: usize,
    val: u32,
    timeout: usize,
    word2: Option<&AtomicU32>,
    val3: u32,
) -> isize {
    let p2 = word2.map_or(core::ptr::null(), |w| w.as_ptr() as *const u32);
    // SAFETY: both words are live aligned u32s; timeout is null, a live timespec or a count.
    unsafe { sys::futex(word.as_ptr(), op | PRIVATE, val, timeout, p2, val3) }
}

/// Waits once on F1 (value 0) and records the result.
extern "C" fn waiter(i: usize) -> i32 {
    let r = op(&F1, sys::FUTEX_WAIT, 0, 0, None, 0);
    RESULTS[i].store(r, Ordering::Release);
    0
}

/// Waits once on F1 with bitset BITSETS[i] and records the result.
extern "C" fn bitset_waiter(i: usize) -> i32 {
    let r = op(&F1, sys::FUTEX_WAIT_BITSET, 0, 0, None, BITSETS[i]);
    RESULTS[i].store(r, Ordering::Release);
    0
}

fn start(f: extern "C" fn(usize) -> i32) -> [Option<thread::Thread>; N] {
    for r in &RESULTS {
        r.store(-1000, Ordering::Relaxed);
    }
    let mut ts: [Option<thread::Thread>; N] = [const { None }; N];
    for (i, t) in ts.iter_mut().enumerate() {
        match thread::spawn(f, i) {
            Ok(th) => *t = Some(th),
            Err(e) => check::fail("clone(thread)", rt::errno::Ret(e)),
        }
    }
    ts
}

fn join(ts: [Option<thread::Thread>; N]) {
    for t in ts.into_iter().flatten() {
        t.join();
    }
}

/// Moves waiters from F1 to F2 with CMP_REQUEUE until `n` have been moved.
fn park_all_on_f2(n: usize) -> usize {
    let mut moved = 0;
    for _ in 0..1_000_000 {
        let r = op(
            &F1,
            sys::FUTEX_CMP_REQUEUE,
            0,
            usize::MAX >> 33,
            Some(&F2),
            0,
        );
        if r < 0 {
            check::fail("FUTEX_CMP_REQUEUE", rt::errno::Ret(r));
            break;
        }
        moved += r as usize;
        if moved >= n {
            break;
        }
        sys::sched_yield();
    }
    moved
}

fn results() -> [isize; N] {
    core::array::from_fn(|i| RESULTS[i].load(Ordering::Acquire))
}

/// Waiters' results: `-ENAME`/value each, `-` for one still waiting.
struct List([isize; N]);

impl core::fmt::Display for List {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, &r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if r == -1000 {
                f.write_str("-")?;
            } else {
                write!(f, "{}", rt::errno::Ret(r))?;
            }
        }
        Ok(())
    }
}

fn main(_env: &rt::Env) -> i32 {
    let w = AtomicU32::new(5);

    // Single-threaded errors and timeouts.
    check::err(
        "WAIT while the word differs",
        op(&w, sys::FUTEX_WAIT, 4, 0, None, 0),
        EAGAIN,
    );
    check::ret(
        "WAKE with no waiters",
        op(&w, sys::FUTEX_WAKE, 1, 0, None, 0),
        0,
    );
    let t = Timespec::from_ns(20_000_000);
    let before = sys::monotonic_ns();
    let r = op(
        &w,
        sys::FUTEX_WAIT,
        5,
        &t as *const Timespec as usize,
        None,
        0,
    );
    let slept = sys::monotonic_ns() - before;
    check::err("WAIT with a 20 ms relative timeout", r, ETIMEDOUT);
    check::yes("  at least 20 ms passed", slept >= 20_000_000);

    let deadline = Timespec::from_ns((sys::monotonic_ns() + 20_000_000) as i64);
    let r = op(
        &w,
        sys::FUTEX_WAIT_BITSET,
        5,
        &deadline as *const Timespec as usize,
        None,
        u32::MAX,
    );
    check::err("WAIT_BITSET until CLOCK_MONOTONIC now+20 ms", r, ETIMEDOUT);
    check::yes(
        "  the deadline has passed",
        sys::monotonic_ns() >= deadline.ns(),
    );
    let real = |_: ()| sys::clock_gettime(sys::CLOCK_REALTIME).map_or(0, |t| t.ns());
    let deadline = Timespec::from_ns((real(()) + 20_000_000) as i64);
    let r = op(
        &w,
        sys::FUTEX_WAIT_BITSET | sys::FUTEX_CLOCK_REALTIME,
        5,
        &deadline as *const Timespec as usize,
        None,
        u32::MAX,
    );
    check::err("WAIT_BITSET|CLOCK_REALTIME until now+20 ms", r, ETIMEDOUT);
    check::yes("  the deadline has passed", real(()) >= deadline.ns());
    let past = Timespec::from_ns(1);
    let r = op(
        &w,
        sys::FUTEX_WAIT_BITSET,
        5,
        &past as *const Timespec as usize,
        None,
        u32::MAX,
    );
    check::err("WAIT_BITSET with a deadline in the past", r, ETIMEDOUT);

    let bad = Timespec {
        sec: 0,
        nsec: 1_000_000_000,
    };
    check::err(
        "WAIT with tv_nsec = 1e9",
        op(
            &w,
            sys::FUTEX_WAIT,
            5,
            &bad as *const Timespec as usize,
            None,
            0,
        ),
        EINVAL,
    );
    let neg = Timespec { sec: -1, nsec: 0 };
    check::err(
        "WAIT with tv_sec = -1",
        op(
            &w,
            sys::FUTEX_WAIT,
            5,
            &neg as *const Timespec as usize,
            None,
            0,
        ),
        EINVAL,
    );
    check::err(
        "WAIT_BITSET with bitset 0",
        op(&w, sys::FUTEX_WAIT_BITSET, 5, 0, None, 0),
        EINVAL,
    );
    check::err(
        "WAKE_BITSET with bitset 0",
        op(&w, sys::FUTEX_WAKE_BITSET, 1, 0, None, 0),
        EINVAL,
    );
    let pair = [AtomicU32::new(0), AtomicU32::new(0)];
    let odd = (pair.as_ptr() as usize + 1) as *const u32;
    // SAFETY: an unaligned address the kernel must refuse before touching it.
    let r = unsafe { sys::futex(odd, sys::FUTEX_WAIT | PRIVATE, 0, 0, core::ptr::null(), 0) };
    check::err("WAIT on an unaligned word", r, EINVAL);
    // SAFETY: 0x10 is never mapped; the kernel must fail to read it.
    let r = unsafe {
        sys::futex(
            0x10 as *const u32,
            sys::FUTEX_WAIT | PRIVATE,
            0,
            0,
            core::ptr::null(),
            0,
        )
    };
    check::err("WAIT on unmapped 0x10", r, EFAULT);
    check::err(
        "unknown futex operation 99",
        op(&w, 99, 0, 0, None, 0),
        ENOSYS,
    );
    check::err(
        "CMP_REQUEUE when the word differs",
        op(&w, sys::FUTEX_CMP_REQUEUE, 1, 1, Some(&F2), 4),
        EAGAIN,
    );

    // WAKE: every waiter is woken by a wake that reports exactly one woken.
    let ts = start(waiter);
    let mut woken = 0;
    for _ in 0..1_000_000 {
        let r = op(&F1, sys::FUTEX_WAKE, 1, 0, None, 0);
        if !(0..=1).contains(&r) {
            check::fail("FUTEX_WAKE(1)", rt::errno::Ret(r));
            break;
        }
        woken += r as usize;
        if woken == N {
            break;
        }
        sys::sched_yield();
    }
    join(ts);
    check::eq("WAKE(1) calls that woke a waiter", woken, N);
    check::shows(
        "  what each waiter's WAIT returned",
        List(results()),
        "0 0 0",
    );

    // CMP_REQUEUE parks every waiter on F2; F1 then has none; WAKE(F2, all) wakes them all.
    let ts = start(waiter);
    check::eq("CMP_REQUEUE(F1 -> F2) moved", park_all_on_f2(N), N);
    check::ret(
        "  WAKE(F1, all) afterwards",
        op(&F1, sys::FUTEX_WAKE, i32::MAX as u32, 0, None, 0),
        0,
    );
    check::ret(
        "  WAKE(F2, all)",
        op(&F2, sys::FUTEX_WAKE, i32::MAX as u32, 0, None, 0),
        N as isize,
    );
    join(ts);
    check::shows(
        "  what each waiter's WAIT returned",
        List(results()),
        "0 0 0",
    );

    // REQUEUE(F2 -> F1) wakes one and moves the rest.
    let ts = start(waiter);
    park_all_on_f2(N);
    check::ret(
        "REQUEUE(F2 -> F1, wake 1, move all)",
        op(&F2, sys::FUTEX_REQUEUE, 1, i32::MAX as usize, Some(&F1), 0),
        N as isize,
    );
    check::ret(
        "  WAKE(F1, all)",
        op(&F1, sys::FUTEX_WAKE, i32::MAX as u32, 0, None, 0),
        N as isize - 1,
    );
    join(ts);
    check::shows(
        "  what each waiter's WAIT returned",
        List(results()),
        "0 0 0",
    );

    // WAKE_BITSET only wakes waiters whose bitset intersects (requeue keeps each bitset).
    let ts = start(bitset_waiter);
    park_all_on_f2(N);
    check::ret(
        "WAKE_BITSET(F2, bitset 8)",
        op(&F2, sys::FUTEX_WAKE_BITSET, i32::MAX as u32, 0, None, 8),
        0,
    );
    check::ret(
        "WAKE_BITSET(F2, bitset 2)",
        op(&F2, sys::FUTEX_WAKE_BITSET, i32::MAX as u32, 0, None, 2),
        1,
    );
    // Wait until the woken one has recorded its result before looking.
    while RESULTS[1].load(Ordering::Acquire) == -1000 {
        sys::sched_yield();
    }
    check::shows(
        "  returned so far (- = still waiting)",
        List(results()),
        "- 0 -",
    );
    check::ret(
        "WAKE_BITSET(F2, bitset 5)",
        op(&F2, sys::FUTEX_WAKE_BITSET, i32::MAX as u32, 0, None, 5),
        2,
    );
    join(ts);
    check::shows(
        "  what each waiter's WAIT returned",
        List(results()),
        "0 0 0",
    );

    println!("futex: done");
    check::finish("futex")
}
