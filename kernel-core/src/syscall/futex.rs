//! futex(2): WAIT/WAKE, REQUEUE/CMP_REQUEUE, WAIT_BITSET/WAKE_BITSET, private and shared, with
//! timeouts. The value check and the enqueue happen with nothing else running (one CPU, kernel
//! not preemptible), which is the atomicity futex needs.

use super::{Outcome, ret};
use crate::errno::{Errno, SysResult};
use crate::futex::*;
use crate::task::{Kernel, Restart, Tid, Wait};
use crate::time;
use hal::arch::Arch;
use hal::mmu::PAGE_SIZE;

/// The futex word's key: private futexes by address space and address; shared ones by the
/// physical page, so every mapping of a shared page meets at one queue.
fn key<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    address: u64,
    private: bool,
) -> Result<FutexKey, Errno> {
    if !address.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    let vm = k.process_of(tid).vm;
    if private {
        return Ok(FutexKey::Private { vm, address });
    }
    // A word in shared memory is named by its frame; in private memory (including pages that are
    // only copy-on-write shared after fork) by this address space's address.
    let mem = k.user(tid);
    match mem.vm.shared_frame(address, mem.frames)? {
        Some(frame) => Ok(FutexKey::Shared {
            frame,
            offset: address % PAGE_SIZE,
        }),
        None => Ok(FutexKey::Private { vm, address }),
    }
}

pub fn futex<A: Arch>(k: &mut Kernel<A>, tid: Tid, a: [u64; 6]) -> Outcome {
    let (address, op, val, timeout, address2, val3) =
        (a[0], a[1], a[2] as u32, a[3], a[4], a[5] as u32);
    let private = op & FUTEX_PRIVATE_FLAG != 0;
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    if realtime && cmd != FUTEX_WAIT_BITSET && cmd != FUTEX_WAIT {
        return ret(Err(Errno::ENOSYS));
    }
    match cmd {
        FUTEX_WAIT => wait(
            k,
            tid,
            address,
            private,
            val,
            timeout,
            false,
            realtime,
            FUTEX_BITSET_MATCH_ANY,
        ),
        FUTEX_WAIT_BITSET => wait(k, tid, address, private, val, timeout, true, realtime, val3),
        FUTEX_WAKE => ret(wake(k, tid, address, private, val, FUTEX_BITSET_MATCH_ANY)),
        FUTEX_WAKE_BITSET => ret(wake(k, tid, address, private, val, val3)),
        FUTEX_REQUEUE => ret(requeue(
            k,
            tid,
            address,
            private,
            val,
            timeout as u32,
            address2,
            None,
        )),
        FUTEX_CMP_REQUEUE => ret(requeue(
            k,
            tid,
            address,
            private,
            val,
            timeout as u32,
            address2,
            Some(val3),
        )),
        _ => ret(Err(Errno::ENOSYS)),
    }
}

#[allow(clippy::too_many_arguments)]
fn wait<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    address: u64,
    private: bool,
    expected: u32,
    timeout: u64,
    absolute: bool,
    realtime: bool,
    bitset: u32,
) -> Outcome {
    let setup = (|| {
        if bitset == 0 {
            return Err(Errno::EINVAL);
        }
        let key = key(k, tid, address, private)?;
        let deadline = if timeout != 0 {
            let ns = time::timespec_ns(k.user(tid).read_array::<16>(timeout)?)?;
            // FUTEX_WAIT takes a relative timeout; FUTEX_WAIT_BITSET an absolute one.
            Some(if absolute {
                k.clock.to_monotonic(
                    if realtime {
                        time::CLOCK_REALTIME
                    } else {
                        time::CLOCK_MONOTONIC
                    },
                    ns,
                )
            } else {
                k.clock.monotonic().saturating_add(ns)
            })
        } else {
            None
        };
        if k.user(tid).read_u32(address)? != expected {
            return Err(Errno::EAGAIN);
        }
        Ok((key, deadline))
    })();
    match setup {
        Err(e) => ret(Err(e)),
        Ok((_, Some(deadline))) if deadline <= k.clock.monotonic() => ret(Err(Errno::ETIMEDOUT)),
        Ok((key, deadline)) => {
            k.futexes.wait(key, tid, bitset);
            k.block(
                tid,
                Wait::Futex {
                    key,
                    bitset,
                    deadline,
                },
                Restart::IfSaRestart,
            );
            Outcome::Done
        }
    }
}

fn wake<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    address: u64,
    private: bool,
    count: u32,
    bitset: u32,
) -> SysResult {
    if bitset == 0 {
        return Err(Errno::EINVAL);
    }
    let key = key(k, tid, address, private)?;
    let woken = k.futexes.wake(key, count, bitset);
    let n = woken.len() as u64;
    for t in woken {
        k.wake(t, Some(0));
    }
    Ok(n)
}

#[allow(clippy::too_many_arguments)]
fn requeue<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    address: u64,
    private: bool,
    wake_count: u32,
    requeue_count: u32,
    address2: u64,
    expected: Option<u32>,
) -> SysResult {
    if (wake_count as i32) < 0 || (requeue_count as i32) < 0 {
        return Err(Errno::EINVAL);
    }
    let from = key(k, tid, address, private)?;
    let to = key(k, tid, address2, private)?;
    if let Some(expected) = expected
        && k.user(tid).read_u32(address)? != expected
    {
        return Err(Errno::EAGAIN);
    }
    let (woken, moved) = k.futexes.requeue(from, to, wake_count, requeue_count);
    let n = woken.len() as u64;
    for t in woken {
        k.wake(t, Some(0));
    }
    // A requeued waiter now waits on `to`: keep its parked state consistent.
    for t in k.threads.values_mut() {
        if let crate::task::ThreadState::Blocked {
            wait: Wait::Futex { key, .. },
            ..
        } = &mut t.state
            && *key == from
            && !k.futexes.is_waiting(from, t.tid)
        {
            *key = to;
        }
    }
    // Both REQUEUE and CMP_REQUEUE return how many waiters were woken or requeued.
    Ok(n + moved as u64)
}
