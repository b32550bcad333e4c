//! Waiting for file events without kernel stacks. A call that cannot proceed parks its thread on
//! a fresh key (`Wait::Io`) after registering that key in the [`WaitQueue`] of every object it
//! waits for; a state change wakes the queue, which queues the keys for the run loop to notify
//! (deferred, because `Drop` — a pipe end closing as its process exits — cannot reach the
//! `Kernel`). The woken call runs again from scratch; what it must not recompute (its absolute
//! deadline, the bytes it already moved) is kept in a record keyed by the thread and the exact
//! call (syscall number and arguments), which the re-run takes back with [`resume`].

use super::poll::{EPOLL_PRIVATE, EPOLLIN, EPOLLRDNORM};
use crate::syscall::Outcome;
use crate::task::{Kernel, Restart, ThreadState, Tid, Wait};
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::rc::{Rc, Weak};
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use hal::arch::Arch;
use hal::user::UserContext;

/// A parked call's memory across re-runs.
struct Parked {
    signature: (u64, [u64; 6]),
    key: u64,
    deadline: Option<u64>,
    progress: u64,
    /// The run loop has seen the thread parked on `key` (so an interruption it then sees is
    /// an interruption of this wait).
    seen_parked: bool,
}

/// At most this many records per thread: a handler's call nested in an interrupted one makes
/// two; more can only be stale.
const MAX_RECORDS_PER_THREAD: usize = 4;

/// State shared by all file objects: global because `Drop` has no other way to reach it.
pub(super) struct IoState {
    deferred: Vec<u64>,
    parked: BTreeMap<Tid, Vec<Parked>>,
    /// Keys some thread is (or was last) parked on; other keys in wait queues are stale.
    live: BTreeSet<u64>,
    next_key: u64,
    /// Pipe buffer slots in existence (Linux's per-user pipe accounting; everyone is root here,
    /// so the whole system is one user).
    pub(super) pipe_slots: usize,
}

impl IoState {
    const fn new() -> Self {
        Self {
            deferred: Vec::new(),
            parked: BTreeMap::new(),
            live: BTreeSet::new(),
            next_key: 0,
            pipe_slots: 0,
        }
    }
}

#[cfg(not(test))]
static IO: spin::Mutex<IoState> = spin::Mutex::new(IoState::new());

/// Runs `f` on the shared I/O state. Never called re-entrantly (`f` only touches the state).
#[cfg(not(test))]
pub(super) fn with_io<R>(f: impl FnOnce(&mut IoState) -> R) -> R {
    f(&mut IO.lock())
}

// Host tests run in parallel threads, each with its own kernel: each gets its own state.
#[cfg(test)]
std::thread_local! {
    static IO: RefCell<IoState> = const { RefCell::new(IoState::new()) };
}

#[cfg(test)]
pub(super) fn with_io<R>(f: impl FnOnce(&mut IoState) -> R) -> R {
    IO.with(|s| f(&mut s.borrow_mut()))
}

/// A fresh key to park on. Keys are odd, so they never equal an object's address.
pub fn new_key() -> u64 {
    with_io(|s| {
        s.next_key += 1;
        (s.next_key << 1) | 1
    })
}

/// Queues a notification of `key` for the run loop.
pub fn defer(key: u64) {
    with_io(|s| s.deferred.push(key));
}

/// What a call finds of its previous run when it runs again after a wakeup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resume {
    /// This is a re-run of a parked call.
    pub rerun: bool,
    /// Its absolute deadline (monotonic ns), if it had one.
    pub deadline: Option<u64>,
    /// Bytes it already transferred.
    pub progress: u64,
}

fn signature<A: Arch>(k: &Kernel<A>, tid: Tid) -> (u64, [u64; 6]) {
    let c = &k.threads[&tid].context;
    (c.syscall_number(), c.syscall_args())
}

/// Takes back the record of this exact call if it parked before (and consumes the thread's
/// `io_timed_out` flag: callers compare the clock with their deadline instead).
pub fn resume<A: Arch>(k: &mut Kernel<A>, tid: Tid) -> Resume {
    if let Some(t) = k.threads.get_mut(&tid) {
        t.io_timed_out = false;
    }
    // The common case, a thread with no parked call, needs no signature.
    if !with_io(|s| s.parked.contains_key(&tid)) {
        return Resume::default();
    }
    let sig = signature(k, tid);
    with_io(|s| {
        let Some(list) = s.parked.get_mut(&tid) else {
            return Resume::default();
        };
        let Some(at) = list.iter().rposition(|p| p.signature == sig) else {
            return Resume::default();
        };
        let p = list.remove(at);
        if list.is_empty() {
            s.parked.remove(&tid);
        }
        s.live.remove(&p.key);
        Resume {
            rerun: true,
            deadline: p.deadline,
            progress: p.progress,
        }
    })
}

/// How a call parks.
pub struct Park {
    /// The key registered in the wait queues (from [`new_key`]).
    pub key: u64,
    /// The call's own deadline, kept for its re-run.
    pub deadline: Option<u64>,
    /// When the run loop re-runs the call even without a wakeup: the deadline, or earlier
    /// for a device that must be polled (the console has no receive interrupt yet).
    pub wake_at: Option<u64>,
    pub progress: u64,
    pub restart: Restart,
}

/// Parks `tid` on `park.key` and records what its re-run needs.
pub fn park<A: Arch>(k: &mut Kernel<A>, tid: Tid, park: Park) -> Outcome {
    let signature = signature(k, tid);
    with_io(|s| {
        let list = s.parked.entry(tid).or_default();
        if list.len() >= MAX_RECORDS_PER_THREAD {
            let old = list.remove(0);
            s.live.remove(&old.key);
        }
        list.push(Parked {
            signature,
            key: park.key,
            deadline: park.deadline,
            progress: park.progress,
            seen_parked: false,
        });
        s.live.insert(park.key);
    });
    k.block(
        tid,
        Wait::Io {
            key: park.key,
            deadline: park.wake_at,
        },
        park.restart,
    );
    if k.threads
        .get(&tid)
        .is_some_and(|t| !matches!(t.state, ThreadState::Blocked { .. }))
    {
        // A signal was already pending: the wait ended as it began. The call will not run
        // again as it was, and bytes already moved are its result, as in the run loop below.
        with_io(|s| {
            if let Some(list) = s.parked.get_mut(&tid) {
                list.pop();
                if list.is_empty() {
                    s.parked.remove(&tid);
                }
            }
            s.live.remove(&park.key);
        });
        if park.progress > 0 {
            k.threads.get_mut(&tid).expect("thread").interrupted = None;
            return Outcome::Return(park.progress);
        }
    }
    Outcome::Done
}

/// Whether notifications wait for [`drain_notifications`] (the run loop goes round before
/// resuming a thread when they do).
pub fn notifications_pending() -> bool {
    with_io(|s| !s.deferred.is_empty())
}

/// The run loop calls this at the top of every iteration: it delivers the deferred
/// notifications, and finishes waits a signal interrupted after some bytes moved (Linux returns
/// the partial count then, never -EINTR or a restart that would repeat the bytes).
pub fn drain_notifications<A: Arch>(k: &mut Kernel<A>) {
    let keys = with_io(|s| core::mem::take(&mut s.deferred));
    for key in keys {
        k.notify_io(key);
    }
    let finished = with_io(|s| {
        if s.parked.is_empty() {
            return Vec::new();
        }
        let mut finished = Vec::new();
        let mut gone = Vec::new();
        for (&tid, list) in s.parked.iter_mut() {
            let Some(t) = k.threads.get(&tid) else {
                gone.push(tid);
                continue;
            };
            let Some(last) = list.last_mut() else {
                gone.push(tid);
                continue;
            };
            match t.state {
                ThreadState::Blocked {
                    wait: Wait::Io { key, .. },
                    ..
                } if key == last.key => last.seen_parked = true,
                ThreadState::Runnable if last.seen_parked && t.interrupted.is_some() => {
                    // A signal ended this wait: the call will not run again as it was.
                    let p = list.pop().expect("last record");
                    s.live.remove(&p.key);
                    if p.progress > 0 {
                        finished.push((tid, p.progress));
                    }
                    if list.is_empty() {
                        gone.push(tid);
                    }
                }
                _ => last.seen_parked = false,
            }
        }
        for tid in gone {
            if let Some(list) = s.parked.remove(&tid) {
                for p in list {
                    s.live.remove(&p.key);
                }
            }
        }
        finished
    });
    for (tid, progress) in finished {
        if let Some(t) = k.threads.get_mut(&tid) {
            t.interrupted = None;
            t.context.set_syscall_return(progress);
        }
    }
}

/// An epoll instance's interest in one object: woken with the object's queue.
pub struct Watch {
    /// The item's key in its epoll (descriptor, description address).
    pub item: (u32, usize),
    /// The events of interest (with EPOLLET/EPOLLONESHOT bits); a fired one-shot item keeps
    /// only the private bits and ignores wakeups.
    pub events: Cell<u32>,
    /// In the epoll's ready list already.
    pub queued: Cell<bool>,
    pub ready: Weak<RefCell<ReadyList>>,
}

/// An epoll instance's ready list (Linux's `rdllist`) and the queue of its own waiters
/// (epoll_wait callers, poll/select on the epoll descriptor, epoll instances watching it).
#[derive(Default)]
pub struct ReadyList {
    pub order: VecDeque<(u32, usize)>,
    pub queue: WaitQueue,
}

impl Watch {
    /// Linux's `ep_poll_callback`: a wakeup carrying `mask` (0: any event) queues the item if
    /// it is interested, and wakes the epoll's waiters.
    fn trigger(&self, mask: u32) {
        let events = self.events.get();
        if events & !EPOLL_PRIVATE == 0 || (mask != 0 && mask & events == 0) {
            return;
        }
        let Some(ready) = self.ready.upgrade() else {
            return;
        };
        // Never contended: scans take the list out before polling anything.
        let Ok(mut ready) = ready.try_borrow_mut() else {
            return;
        };
        if !self.queued.replace(true) {
            ready.order.push_back(self.item);
        }
        ready.queue.wake(EPOLLIN | EPOLLRDNORM);
    }
}

/// The waiters of one waitable object: parked calls (by key, woken once) and epoll watches.
#[derive(Default)]
pub struct WaitQueue {
    keys: Vec<u64>,
    watches: Vec<Weak<Watch>>,
}

impl WaitQueue {
    /// Adds a parked call's key (dropping keys nobody waits on any more).
    pub fn register(&mut self, key: u64) {
        with_io(|s| self.keys.retain(|k| s.live.contains(k)));
        self.keys.push(key);
    }

    pub fn subscribe(&mut self, watch: &Rc<Watch>) {
        self.watches.retain(|w| w.strong_count() > 0);
        self.watches.push(Rc::downgrade(watch));
    }

    /// The object changed state: every parked waiter runs again, interested watches fire.
    pub fn wake(&mut self, mask: u32) {
        if !self.keys.is_empty() {
            let keys = core::mem::take(&mut self.keys);
            with_io(|s| s.deferred.extend(keys));
        }
        self.watches.retain(|w| match w.upgrade() {
            Some(w) => {
                w.trigger(mask);
                true
            }
            None => false,
        });
    }

    #[cfg(test)]
    pub fn waiters(&self) -> usize {
        self.keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakeups_are_deferred_once_and_stale_keys_are_dropped() {
        let mut q = WaitQueue::default();
        let (a, b) = (new_key(), new_key());
        assert_ne!(a, b);
        assert_eq!(a & 1, 1, "keys are odd");
        q.register(a);
        // `a` never parked (not live): registering `b` drops it.
        q.register(b);
        assert_eq!(q.waiters(), 1);
        q.wake(0);
        assert_eq!(q.waiters(), 0);
        let deferred = with_io(|s| core::mem::take(&mut s.deferred));
        assert_eq!(deferred, [b]);
    }

    #[test]
    fn watches_fire_by_mask_and_queue_once() {
        let ready = Rc::new(RefCell::new(ReadyList::default()));
        let watch = Rc::new(Watch {
            item: (3, 0x1000),
            events: Cell::new(super::super::poll::POLLOUT),
            queued: Cell::new(false),
            ready: Rc::downgrade(&ready),
        });
        let mut q = WaitQueue::default();
        q.subscribe(&watch);
        q.wake(EPOLLIN);
        assert!(ready.borrow().order.is_empty(), "not interested in input");
        q.wake(0);
        q.wake(0);
        assert_eq!(ready.borrow().order, [(3, 0x1000)]);
        drop(watch);
        q.wake(0);
        assert!(q.watches.is_empty(), "dead watches are pruned");
    }
}
