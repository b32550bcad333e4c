//! Checks for the conformance programs. Every check prints one line, `label: value`, whose text
//! is the same on every correct kernel (results, error names, yes/no — never addresses, pids or
//! timings), so the harness can compare the whole output with Linux's. A failed check also says
//! what was expected and is counted; [`finish`] turns the count into the exit status. The count
//! is per process (a forked child has its own copy and reports through its exit status).

use core::fmt::Display;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::errno::Ret;
use crate::println;

static FAILURES: AtomicUsize = AtomicUsize::new(0);

/// Records a failure with its explanation.
pub fn fail(label: &str, why: impl Display) {
    FAILURES.fetch_add(1, Ordering::Relaxed);
    println!("{label}: FAILED: {why}");
}

/// The number of failed checks so far in this process.
pub fn failures() -> usize {
    FAILURES.load(Ordering::Relaxed)
}

/// `label: got`, which must equal `want`.
pub fn eq<T: PartialEq + Display>(label: &str, got: T, want: T) -> bool {
    if got == want {
        println!("{label}: {got}");
        true
    } else {
        FAILURES.fetch_add(1, Ordering::Relaxed);
        println!("{label}: {got} FAILED: expected {want}");
        false
    }
}

/// `label: got` where `got` must print as `want` (e.g. a wait status as `exited 3`).
pub fn shows(label: &str, got: impl Display, want: &str) -> bool {
    let text = crate::text::Text::of(got);
    if text.as_str() == want {
        println!("{label}: {text}");
        true
    } else {
        FAILURES.fetch_add(1, Ordering::Relaxed);
        println!("{label}: {text} FAILED: expected {want}");
        false
    }
}

/// A raw syscall result that must be exactly `want` (an error as `-errno`, or a value).
pub fn ret(label: &str, got: isize, want: isize) -> bool {
    eq(label, Ret(got), Ret(want))
}

/// A raw syscall result that must be an error `-errno`.
pub fn err(label: &str, got: isize, errno: isize) -> bool {
    eq(label, Ret(got), Ret(-errno))
}

/// A raw syscall result that must be a success (non-negative); prints `ok`, not the value,
/// since successful results (addresses, pids) differ between runs.
pub fn ok(label: &str, got: isize) -> bool {
    if got >= 0 {
        println!("{label}: ok");
        true
    } else {
        FAILURES.fetch_add(1, Ordering::Relaxed);
        println!("{label}: {} FAILED: expected success", Ret(got));
        false
    }
}

/// A property that must hold: `label: yes`.
pub fn yes(label: &str, cond: bool) -> bool {
    if cond {
        println!("{label}: yes");
    } else {
        FAILURES.fetch_add(1, Ordering::Relaxed);
        println!("{label}: no FAILED");
    }
    cond
}

/// Ends a program's checks: prints `name: ok` (exit status 0) or the failure count (status 1).
pub fn finish(name: &str) -> i32 {
    match failures() {
        0 => {
            println!("{name}: ok");
            0
        }
        n => {
            println!("{name}: {n} checks FAILED");
            1
        }
    }
}
