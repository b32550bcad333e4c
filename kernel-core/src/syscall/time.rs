//! Time system calls: clocks, sleeping, process times and resource usage.

use super::{Outcome, ret};
use crate::errno::{Errno, SysResult};
use crate::task::{Kernel, Restart, Tid, Wait};
use crate::time::{
    self, CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE, CLOCK_MONOTONIC_RAW,
};
use crate::time::{
    CLOCK_PROCESS_CPUTIME_ID, CLOCK_REALTIME, CLOCK_REALTIME_COARSE, CLOCK_THREAD_CPUTIME_ID,
};
use hal::arch::Arch;

/// nanosleep(2) measures against CLOCK_MONOTONIC.
pub const CLOCK_MONOTONIC_FOR_SLEEP: u64 = CLOCK_MONOTONIC;
const TIMER_ABSTIME: u64 = 1;

fn process_cpu_ns<A: Arch>(k: &Kernel<A>, tid: Tid) -> u64 {
    let p = k.process_of(tid);
    p.user_ns
        + p.system_ns
        + p.threads
            .iter()
            .map(|t| k.threads[t].user_ns + k.threads[t].system_ns)
            .sum::<u64>()
}

/// The current value of `clock` in ns, or EINVAL for a clock Cyphera does not have.
fn read_clock<A: Arch>(k: &Kernel<A>, tid: Tid, clock: u64) -> Result<u64, Errno> {
    Ok(match clock {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE => k.clock.realtime(),
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE | CLOCK_BOOTTIME => {
            k.clock.monotonic()
        }
        CLOCK_PROCESS_CPUTIME_ID => process_cpu_ns(k, tid),
        CLOCK_THREAD_CPUTIME_ID => k.threads[&tid].user_ns + k.threads[&tid].system_ns,
        _ => return Err(Errno::EINVAL),
    })
}

pub fn clock_gettime<A: Arch>(k: &mut Kernel<A>, tid: Tid, clock: u64, out: u64) -> SysResult {
    let now = read_clock(k, tid, clock)?;
    k.user(tid).write(out, &time::timespec(now))?;
    Ok(0)
}

pub fn clock_getres<A: Arch>(k: &mut Kernel<A>, tid: Tid, clock: u64, out: u64) -> SysResult {
    read_clock(k, tid, clock)?;
    // The coarse clocks tick at the scheduler's rate; the others are as fine as the counter.
    let resolution = if clock == CLOCK_REALTIME_COARSE || clock == CLOCK_MONOTONIC_COARSE {
        4_000_000
    } else {
        1
    };
    if out != 0 {
        k.user(tid).write(out, &time::timespec(resolution))?;
    }
    Ok(0)
}

pub fn gettimeofday<A: Arch>(k: &mut Kernel<A>, tid: Tid, tv: u64, tz: u64) -> SysResult {
    let now = k.clock.realtime();
    let mut mem = k.user(tid);
    if tv != 0 {
        mem.write(tv, &time::timeval(now))?;
    }
    if tz != 0 {
        mem.write(tz, &[0u8; 8])?; // UTC, no DST
    }
    Ok(0)
}

pub fn time<A: Arch>(k: &mut Kernel<A>, tid: Tid, out: u64) -> SysResult {
    let seconds = k.clock.realtime() / time::NSEC_PER_SEC;
    if out != 0 {
        k.user(tid).write_u64(out, seconds)?;
    }
    Ok(seconds)
}

/// nanosleep(2) and clock_nanosleep(2): park until the deadline. Interrupted by a handler, the
/// call returns -EINTR and reports the time left (relative sleeps).
pub fn nanosleep<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    clock: u64,
    flags: u64,
    request: u64,
    remaining: u64,
) -> Outcome {
    let setup = (|| {
        match clock {
            CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME => {}
            CLOCK_THREAD_CPUTIME_ID => return Err(Errno::EOPNOTSUPP),
            CLOCK_PROCESS_CPUTIME_ID => return Err(Errno::ENOSYS),
            _ => return Err(Errno::EINVAL),
        }
        if flags & !TIMER_ABSTIME != 0 {
            return Err(Errno::EINVAL);
        }
        let ns = time::timespec_ns(k.user(tid).read_array::<16>(request)?)?;
        let now = k.clock.monotonic();
        Ok(if flags & TIMER_ABSTIME != 0 {
            k.clock.to_monotonic(clock, ns)
        } else {
            now.saturating_add(ns)
        })
    })();
    match setup {
        Err(e) => ret(Err(e)),
        Ok(deadline) if deadline <= k.clock.monotonic() => ret(Ok(0)),
        Ok(deadline) => {
            let remaining = if flags & TIMER_ABSTIME != 0 {
                0
            } else {
                remaining
            };
            k.block(
                tid,
                Wait::Sleep {
                    deadline,
                    remaining,
                },
                Restart::Never,
            );
            Outcome::Done
        }
    }
}

pub fn times<A: Arch>(k: &mut Kernel<A>, tid: Tid, out: u64) -> SysResult {
    let p = k.process_of(tid);
    let user: u64 = p.user_ns + p.threads.iter().map(|t| k.threads[t].user_ns).sum::<u64>();
    let system: u64 = p.system_ns
        + p.threads
            .iter()
            .map(|t| k.threads[t].system_ns)
            .sum::<u64>();
    let fields = [user, system, p.children_user_ns, p.children_system_ns].map(time::ticks);
    if out != 0 {
        let mut raw = [0u8; 32];
        for (i, f) in fields.iter().enumerate() {
            raw[i * 8..i * 8 + 8].copy_from_slice(&f.to_le_bytes());
        }
        k.user(tid).write(out, &raw)?;
    }
    Ok(time::ticks(k.clock.monotonic()))
}

const RUSAGE_SELF: i32 = 0;
const RUSAGE_CHILDREN: i32 = -1;
const RUSAGE_THREAD: i32 = 1;

pub fn getrusage<A: Arch>(k: &mut Kernel<A>, tid: Tid, who: i32, out: u64) -> SysResult {
    let p = k.process_of(tid);
    let (user, system) = match who {
        RUSAGE_SELF => (
            p.user_ns + p.threads.iter().map(|t| k.threads[t].user_ns).sum::<u64>(),
            p.system_ns
                + p.threads
                    .iter()
                    .map(|t| k.threads[t].system_ns)
                    .sum::<u64>(),
        ),
        RUSAGE_CHILDREN => (p.children_user_ns, p.children_system_ns),
        RUSAGE_THREAD => (k.threads[&tid].user_ns, k.threads[&tid].system_ns),
        _ => return Err(Errno::EINVAL),
    };
    write_rusage(k, tid, out, user, system)?;
    Ok(0)
}

/// `struct rusage` (144 bytes): ru_utime and ru_stime as timevals, the other fields zero.
pub fn write_rusage<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    out: u64,
    user_ns: u64,
    system_ns: u64,
) -> Result<(), Errno> {
    let mut raw = [0u8; 144];
    raw[..16].copy_from_slice(&time::timeval(user_ns));
    raw[16..32].copy_from_slice(&time::timeval(system_ns));
    k.user(tid).write(out, &raw)
}
