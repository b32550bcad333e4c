//! The memory the parent and each child share (MAP_SHARED|MAP_ANONYMOUS, mapped before fork):
//! the child's phase, how many calls it has issued, and a record of every call (number,
//! arguments, result). The parent reads it to count calls (a child that dies mid-run cannot
//! report them any other way), to see whether the child is making progress (and poke it when it
//! is not), to name the call a stuck child was killed in, and, with `trace`, to print the
//! child's calls after it ended — a replay that, unlike `verbose`, does not slow the child
//! down between calls (console output lets other processes run, which changes some outcomes).

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use rt::sys::{self, MAP_ANONYMOUS, MAP_SHARED, PAGE, PROT_READ, PROT_WRITE};

/// Setting up its pool and arena: no call counted yet, no poking.
pub const PHASE_SETUP: u64 = 0;
/// Issuing fuzzed calls.
pub const PHASE_RUNNING: u64 = 1;

/// Calls recorded per child (a child issues at most this many).
pub const RECORDS: usize = 1000;

/// The result a record holds until its call returns.
pub const PENDING: u64 = 0x7eed_0000_0000_0000;

/// One call: number, arguments, result ([`PENDING`] while in flight).
#[repr(C)]
pub struct Record {
    pub nr: AtomicU64,
    pub args: [AtomicU64; 6],
    pub ret: AtomicU64,
}

#[repr(C)]
pub struct Shared {
    pub phase: AtomicU64,
    /// Fuzzed calls issued so far (the one in flight included).
    pub started: AtomicU64,
    pub records: [Record; RECORDS],
}

impl Shared {
    /// Maps the shared memory; None if the kernel refuses a shared anonymous mapping.
    pub fn map() -> Option<&'static Shared> {
        let len = core::mem::size_of::<Shared>().next_multiple_of(PAGE);
        // SAFETY: without MAP_FIXED the kernel picks a free range; nothing existing changes.
        let r = unsafe {
            sys::mmap(
                0,
                len,
                PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if r < 0 {
            return None;
        }
        // SAFETY: fresh, zero-filled, page-aligned read-write memory of at least
        // size_of::<Shared>() bytes that stays mapped for the life of the process (nothing
        // unmaps it); all-zero is a valid `Shared` (atomics only), and every access goes through
        // the atomics, so sharing it with other processes is sound.
        Some(unsafe { &*(r as usize as *const Shared) })
    }

    pub fn reset(&self) {
        self.phase.store(PHASE_SETUP, Relaxed);
        self.started.store(0, Relaxed);
    }

    /// Records call number `index` (from 1) before it is issued.
    pub fn record(&self, index: u64, nr: usize, args: &[usize; 6]) {
        if let Some(r) = self.records.get(index as usize - 1) {
            r.nr.store(nr as u64, Relaxed);
            for (slot, &a) in r.args.iter().zip(args) {
                slot.store(a as u64, Relaxed);
            }
            r.ret.store(PENDING, Relaxed);
        }
        self.started.store(index, Relaxed);
    }

    /// Records the result of call `index`.
    pub fn finish(&self, index: u64, ret: isize) {
        if let Some(r) = self.records.get(index as usize - 1) {
            r.ret.store(ret as u64, Relaxed);
        }
    }

    /// Call `index` (from 1): number, arguments and result, if recorded.
    pub fn call(&self, index: u64) -> Option<(u64, [u64; 6], u64)> {
        let r = self.records.get((index as usize).checked_sub(1)?)?;
        let mut a = [0; 6];
        for (v, s) in a.iter_mut().zip(&r.args) {
            *v = s.load(Relaxed);
        }
        Some((r.nr.load(Relaxed), a, r.ret.load(Relaxed)))
    }
}
