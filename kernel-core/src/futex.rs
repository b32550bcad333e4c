//! Futex wait queues. A key names the futex word: private futexes by (address space, address),
//! shared ones by (physical frame, offset) so that different mappings of one page meet.

use crate::task::{Tid, VmId};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

pub const FUTEX_WAIT: u64 = 0;
pub const FUTEX_WAKE: u64 = 1;
pub const FUTEX_REQUEUE: u64 = 3;
pub const FUTEX_CMP_REQUEUE: u64 = 4;
pub const FUTEX_WAKE_OP: u64 = 5;
pub const FUTEX_WAIT_BITSET: u64 = 9;
pub const FUTEX_WAKE_BITSET: u64 = 10;
pub const FUTEX_PRIVATE_FLAG: u64 = 128;
pub const FUTEX_CLOCK_REALTIME: u64 = 256;
pub const FUTEX_BITSET_MATCH_ANY: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FutexKey {
    Private { vm: VmId, address: u64 },
    Shared { frame: u64, offset: u64 },
}

#[derive(Default)]
pub struct Futexes {
    queues: BTreeMap<FutexKey, VecDeque<(Tid, u32)>>,
}

impl Futexes {
    pub fn wait(&mut self, key: FutexKey, tid: Tid, bitset: u32) {
        self.queues.entry(key).or_default().push_back((tid, bitset));
    }

    /// Removes and returns up to `count` waiters whose bitset intersects `bitset`, oldest first.
    pub fn wake(&mut self, key: FutexKey, count: u32, bitset: u32) -> Vec<Tid> {
        let mut woken = Vec::new();
        if let Some(queue) = self.queues.get_mut(&key) {
            queue.retain(|&(tid, bits)| {
                if woken.len() < count as usize && bits & bitset != 0 {
                    woken.push(tid);
                    false
                } else {
                    true
                }
            });
            if queue.is_empty() {
                self.queues.remove(&key);
            }
        }
        woken
    }

    /// Wakes up to `wake` waiters of `from` and moves up to `requeue` more to `to`. Returns the
    /// woken threads and how many were moved.
    pub fn requeue(
        &mut self,
        from: FutexKey,
        to: FutexKey,
        wake: u32,
        requeue: u32,
    ) -> (Vec<Tid>, u32) {
        let woken = self.wake(from, wake, FUTEX_BITSET_MATCH_ANY);
        let mut moved = 0;
        if from != to
            && let Some(mut queue) = self.queues.remove(&from)
        {
            while moved < requeue {
                let Some(w) = queue.pop_front() else { break };
                self.queues.entry(to).or_default().push_back(w);
                moved += 1;
            }
            if !queue.is_empty() {
                self.queues.insert(from, queue);
            }
        }
        (woken, moved)
    }

    pub fn is_waiting(&self, key: FutexKey, tid: Tid) -> bool {
        self.queues
            .get(&key)
            .is_some_and(|q| q.iter().any(|&(t, _)| t == tid))
    }

    /// Forgets `tid` wherever it waits (timeout, signal, exit).
    pub fn forget(&mut self, tid: Tid) {
        self.queues.retain(|_, q| {
            q.retain(|&(t, _)| t != tid);
            !q.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: FutexKey = FutexKey::Private {
        vm: 1,
        address: 0x1000,
    };
    const B: FutexKey = FutexKey::Private {
        vm: 1,
        address: 0x2000,
    };

    #[test]
    fn wake_is_fifo_counted_and_bitset_filtered() {
        let mut f = Futexes::default();
        f.wait(A, 10, 0b01);
        f.wait(A, 11, 0b10);
        f.wait(A, 12, u32::MAX);
        assert_eq!(f.wake(A, 5, 0b10), [11, 12]);
        assert_eq!(f.wake(A, 5, u32::MAX), [10]);
        assert!(f.wake(A, 5, u32::MAX).is_empty());
        // The same address in another address space is another futex.
        f.wait(A, 1, u32::MAX);
        assert!(
            f.wake(
                FutexKey::Private {
                    vm: 2,
                    address: 0x1000
                },
                1,
                u32::MAX
            )
            .is_empty()
        );
    }

    #[test]
    fn requeue_moves_the_rest() {
        let mut f = Futexes::default();
        for t in 1..=5 {
            f.wait(A, t, u32::MAX);
        }
        let (woken, moved) = f.requeue(A, B, 1, 2);
        assert_eq!((woken, moved), (alloc::vec![1], 2));
        assert_eq!(f.wake(B, 10, u32::MAX), [2, 3]);
        assert_eq!(f.wake(A, 10, u32::MAX), [4, 5]);
        f.wait(A, 7, u32::MAX);
        f.forget(7);
        assert!(f.wake(A, 10, u32::MAX).is_empty());
    }
}
