//! epoll(7), modelled on Linux's: items keyed by (descriptor, open file description), a ready
//! list in wakeup order (`rdllist`) fed by the watched objects' wait queues, level-triggered
//! items re-queued after each report, edge-triggered ones only by a new wakeup, one-shot ones
//! disarmed until EPOLL_CTL_MOD. Items do not keep their file open: when its last descriptor
//! closes, the item disappears. The console has no receive interrupt yet, so items on it are
//! checked at every scan instead of being woken.

use super::poll::{EPOLL_PRIVATE, EPOLLERR, EPOLLET, EPOLLHUP, EPOLLIN, EPOLLONESHOT, EPOLLRDNORM};
use super::wait::{ReadyList, Watch};
use super::{File, FileDescription, OpenFile};
use crate::errno::Errno;
use crate::tty::Tty;
use alloc::collections::BTreeMap;
use alloc::rc::{Rc, Weak};
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

/// Linux's EP_MAX_NESTS: how deep epoll instances may watch each other.
pub const MAX_NESTS: usize = 4;

type ItemKey = (u32, usize);

struct Item {
    file: Weak<RefCell<FileDescription>>,
    data: u64,
    watch: Rc<Watch>,
    /// For files without wakeups (the tty, or an instance watching it), which are sampled
    /// at each scan: the readiness the last sample saw (its rising edge counts as a wakeup).
    was_ready: Cell<bool>,
}

pub struct Epoll {
    items: BTreeMap<ItemKey, Item>,
    pub ready: Rc<RefCell<ReadyList>>,
}

/// The identity of a description for item keys.
pub fn identity(file: &OpenFile) -> usize {
    Rc::as_ptr(file) as *const u8 as usize
}

impl Default for Epoll {
    fn default() -> Self {
        Self::new()
    }
}

impl Epoll {
    pub fn new() -> Self {
        Self {
            items: BTreeMap::new(),
            ready: Rc::new(RefCell::new(ReadyList::default())),
        }
    }

    /// The readiness of an item's file right now, limited to the item's events.
    fn item_events(item: &Item, tty: &Tty, depth: usize) -> u32 {
        let Some(file) = item.file.upgrade() else {
            return 0;
        };
        let Ok(file) = file.try_borrow() else {
            return 0;
        };
        file.poll(tty, depth + 1) & item.watch.events.get() & !EPOLL_PRIVATE
    }

    fn is_sampled(item: &Item, depth: usize) -> bool {
        item.file
            .upgrade()
            .and_then(|f| f.try_borrow().ok().map(|f| f.needs_sampling(depth + 1)))
            .unwrap_or(false)
    }

    /// Items on files without wakeups: queue them when their readiness rises (edge-triggered)
    /// or whenever they are ready (level-triggered), as a wakeup would have.
    fn sample(&self, tty: &Tty, depth: usize) {
        let mut queued = false;
        for (key, item) in self.items.iter() {
            let events = item.watch.events.get();
            if events & !EPOLL_PRIVATE == 0 || !Self::is_sampled(item, depth) {
                continue;
            }
            let ready = Self::item_events(item, tty, depth) != 0;
            let rising = ready && !item.was_ready.replace(ready);
            if ready && (rising || events & EPOLLET == 0) && !item.watch.queued.replace(true) {
                self.ready.borrow_mut().order.push_back(*key);
                queued = true;
            }
        }
        if queued {
            // Instances watching this one hear about it like about any other wakeup.
            self.ready.borrow_mut().queue.wake(EPOLLIN | EPOLLRDNORM);
        }
    }

    /// poll(2) on the epoll descriptor: readable when an item on the ready list is ready
    /// (Linux drops the ones that are not on the way, as here).
    pub fn poll(&self, tty: &Tty, depth: usize) -> u32 {
        if depth > MAX_NESTS {
            return 0;
        }
        self.sample(tty, depth);
        let order = core::mem::take(&mut self.ready.borrow_mut().order);
        let mut kept = alloc::collections::VecDeque::new();
        let mut found = false;
        for key in order {
            if found {
                kept.push_back(key);
                continue;
            }
            let Some(item) = self.items.get(&key) else {
                continue;
            };
            if Self::item_events(item, tty, depth) != 0 {
                found = true;
                kept.push_back(key);
            } else {
                item.watch.queued.set(false);
            }
        }
        let mut ready = self.ready.borrow_mut();
        kept.extend(ready.order.drain(..));
        ready.order = kept;
        if found { EPOLLIN | EPOLLRDNORM } else { 0 }
    }

    /// Whether waiting on this instance needs periodic sampling (an item on the tty,
    /// directly or through a nested instance).
    pub fn needs_sampling(&self, depth: usize) -> bool {
        depth <= MAX_NESTS && self.items.values().any(|i| Self::is_sampled(i, depth))
    }

    /// EPOLL_CTL_ADD. `events` already carries EPOLLERR | EPOLLHUP.
    pub fn add(
        &mut self,
        fd: u32,
        file: &OpenFile,
        events: u32,
        data: u64,
        tty: &Tty,
    ) -> Result<(), Errno> {
        let key = (fd, identity(file));
        if self.items.contains_key(&key) {
            return Err(Errno::EEXIST);
        }
        let watch = Rc::new(Watch {
            item: key,
            events: Cell::new(events),
            queued: Cell::new(false),
            ready: Rc::downgrade(&self.ready),
        });
        file.borrow_mut().subscribe(&watch);
        let item = Item {
            file: Rc::downgrade(file),
            data,
            watch,
            was_ready: Cell::new(false),
        };
        let now = Self::item_events(&item, tty, 0);
        item.was_ready.set(now != 0);
        self.items.insert(key, item);
        if now != 0 {
            self.queue(key);
        }
        Ok(())
    }

    /// EPOLL_CTL_MOD: new events and data; queued at once if ready.
    pub fn modify(
        &mut self,
        fd: u32,
        file: &OpenFile,
        events: u32,
        data: u64,
        tty: &Tty,
    ) -> Result<(), Errno> {
        let key = (fd, identity(file));
        let item = self.items.get_mut(&key).ok_or(Errno::ENOENT)?;
        item.watch.events.set(events);
        item.data = data;
        let now = Self::item_events(item, tty, 0);
        item.was_ready.set(now != 0);
        if now != 0 {
            self.queue(key);
        }
        Ok(())
    }

    /// EPOLL_CTL_DEL.
    pub fn delete(&mut self, fd: u32, file: &OpenFile) -> Result<(), Errno> {
        let key = (fd, identity(file));
        self.items.remove(&key).ok_or(Errno::ENOENT)?;
        self.ready.borrow_mut().order.retain(|k| *k != key);
        Ok(())
    }

    /// The events of an existing item (EPOLLEXCLUSIVE items refuse EPOLL_CTL_MOD).
    pub fn events_of(&self, fd: u32, file: &OpenFile) -> Option<u32> {
        self.items
            .get(&(fd, identity(file)))
            .map(|i| i.watch.events.get())
    }

    fn queue(&self, key: ItemKey) {
        let Some(item) = self.items.get(&key) else {
            return;
        };
        let mut ready = self.ready.borrow_mut();
        if !item.watch.queued.replace(true) {
            ready.order.push_back(key);
        }
        ready.queue.wake(EPOLLIN | EPOLLRDNORM);
    }

    /// epoll_wait's scan (Linux's ep_send_events): up to `max` (events, data) pairs in ready
    /// list order.
    pub fn collect(&mut self, max: usize, tty: &Tty) -> Vec<(u32, u64)> {
        // Items whose file is gone are gone (Linux removes them when the file is released).
        self.items.retain(|_, i| i.file.strong_count() > 0);
        self.sample(tty, 0);
        let mut pending = core::mem::take(&mut self.ready.borrow_mut().order);
        let mut out = Vec::new();
        let mut again = Vec::new();
        while let Some(key) = pending.pop_front() {
            if out.len() >= max {
                pending.push_front(key);
                break;
            }
            let Some(item) = self.items.get(&key) else {
                continue;
            };
            item.watch.queued.set(false);
            let revents = Self::item_events(item, tty, 0);
            if revents == 0 {
                continue;
            }
            out.push((revents, item.data));
            let events = item.watch.events.get();
            if events & EPOLLONESHOT != 0 {
                item.watch.events.set(events & EPOLL_PRIVATE);
            } else if events & EPOLLET == 0 {
                item.watch.queued.set(true);
                again.push(key);
            }
        }
        let mut ready = self.ready.borrow_mut();
        pending.extend(ready.order.drain(..));
        pending.extend(again);
        ready.order = pending;
        out
    }
}

/// Whether watching `candidate` from the instance `target` would close a loop or nest too
/// deep (ELOOP): `candidate` reaches `target` through epoll items, or is itself too deep.
pub fn would_loop(candidate: &OpenFile, target: &OpenFile) -> bool {
    fn reaches(file: &OpenFile, target: usize, depth: usize) -> bool {
        if identity(file) == target {
            return true;
        }
        if depth > MAX_NESTS {
            return true;
        }
        let Ok(desc) = file.try_borrow() else {
            return true;
        };
        let File::Epoll(ep) = &desc.file else {
            return false;
        };
        ep.items
            .values()
            .filter_map(|i| i.file.upgrade())
            .any(|f| reaches(&f, target, depth + 1))
    }
    reaches(candidate, identity(target), 0)
}

/// Every EPOLL_CTL_ADD/MOD event set also reports errors and hangups.
pub fn with_error_events(events: u32) -> u32 {
    events | EPOLLERR | EPOLLHUP
}
