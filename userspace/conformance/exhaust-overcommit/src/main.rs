//! Conformance: overcommitted memory and the brk heap. Like `exhaust-memory` (whose shared
//! code, `common.rs`, this includes, with its cap of 1 GiB and the check that free memory comes
//! back):
//!
//! - (b) one 64 GiB MAP_NORESERVE mapping (overcommitted: more than the machine has), touched
//!   page by page until a fault cannot be backed or the cap;
//! - (c) the brk heap grown 1 MiB at a time, each part populated with MADV_POPULATE_WRITE, until
//!   brk refuses: a mapping placed 256.5 MiB above the break stops it after exactly 256 steps
//!   (Linux keeps the break a page away from the next mapping), with the break unchanged by
//!   the refusal.
//!
//! On a machine with less memory than the cap the child of (b) must be killed with SIGKILL (the
//! OOM killer's signal: Cyphera's page-fault path sends it). (c) takes half of the test
//! machine's memory without running out: running out costs time in proportion to the machine's
//! memory (every page is zeroed), and a test program has a minute on the slowest emulated
//! boards; (a) and (b) run out through the paths (c) would use.
#![no_std]
#![no_main]

// Each program uses part of the shared code.
#[allow(dead_code)]
#[path = "../../exhaust-memory/src/common.rs"]
mod common;

use core::sync::atomic::Ordering;

use common::*;
use rt::check;
use rt::println;
use rt::sys::{
    self, MAP_ANONYMOUS, MAP_FIXED_NOREPLACE, MAP_NORESERVE, MAP_PRIVATE, PAGE, PROT_READ,
};

rt::main!(main);

/// The overcommitted MAP_NORESERVE mapping.
const HUGE: usize = 64 << 30;

fn noreserve() -> i32 {
    // SAFETY: without MAP_FIXED nothing existing is replaced.
    let p = unsafe {
        sys::mmap(
            0,
            HUGE,
            RW,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p < 0 {
        return refused(p);
    }
    let done = progress();
    let mut at = p as usize;
    while at < p as usize + CAP {
        // SAFETY: inside the mapping just made.
        unsafe { touch(at, STEP) };
        at += STEP;
        done.fetch_add(1, Ordering::Relaxed);
    }
    REACHED_CAP
}

/// Where (c) puts a mapping above the break: 256.5 MiB up, so 256 steps of 1 MiB fit below it
/// with the gap of at least a page that Linux's brk keeps from the next mapping, and the 257th
/// would overlap it.
const WALL: usize = 256 * MIB + 512 * 1024;
/// The steps of (c) that must succeed.
const BRK_STEPS: u64 = 256;
/// (c)'s child could not place its wall.
const NO_WALL: i32 = 4;

fn brk_to_a_wall() -> i32 {
    // SAFETY: the program has no heap of its own; only this child uses the break.
    let start = (unsafe { sys::brk(0) } + PAGE - 1) & !(PAGE - 1);
    // SAFETY: MAP_FIXED_NOREPLACE replaces nothing: it fails if the range is taken.
    let wall = unsafe {
        sys::mmap(
            start + WALL,
            PAGE,
            PROT_READ,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    // SAFETY: as above (the break moves up to a page boundary).
    if wall != (start + WALL) as isize || unsafe { sys::brk(start) } != start {
        return NO_WALL;
    }
    let done = progress();
    let mut end = start;
    loop {
        // SAFETY: as above.
        if unsafe { sys::brk(end + STEP) } != end + STEP {
            break;
        }
        // MADV_POPULATE_WRITE faults the new part in (the touch is for a kernel that ignores
        // the advice).
        // SAFETY: the heap now covers [end, end + STEP), ours alone.
        let r = unsafe { sys::madvise(end, STEP, MADV_POPULATE_WRITE) };
        if r < 0 {
            return refused(r);
        }
        // SAFETY: as above.
        unsafe { touch(end, STEP) };
        end += STEP;
        done.fetch_add(1, Ordering::Relaxed);
    }
    // SAFETY: brk(0) only reports the break.
    if unsafe { sys::brk(0) } == end {
        0
    } else {
        REFUSED_OTHER
    }
}

fn main(_env: &rt::Env) -> i32 {
    rt::sys::mount_proc();
    let m = meminfo();
    check::yes(
        "MemTotal and MemFree read",
        m.total > 0 && m.free > 0 && m.free <= m.total,
    );
    progress();

    exhaust("(b) 64 GiB MAP_NORESERVE, touched", noreserve);

    println!("(c) brk grown 1 MiB at a time, populated, up to a mapping 256.5 MiB above:");
    let before = meminfo();
    let (status, steps) = run(brk_to_a_wall);
    check::shows(
        "  brk refused the step into it and kept the break",
        sys::Status(status),
        "exited 0",
    );
    check::eq("  steps that succeeded", steps, BRK_STEPS);
    check::yes("  free memory back to what it was", back_to(&before));

    check::finish("exhaust-overcommit")
}
