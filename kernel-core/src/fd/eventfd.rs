//! eventfd(2): a 64-bit counter as a file. Writes add (blocking while the sum would reach
//! 2^64 - 1), reads take the whole count, or one with EFD_SEMAPHORE (blocking at zero).

use super::poll::{POLLERR, POLLIN, POLLOUT};
use super::wait::WaitQueue;
use crate::errno::Errno;

pub const EFD_SEMAPHORE: u32 = 1;

pub struct EventFd {
    count: u64,
    semaphore: bool,
    /// Readers, writers and pollers share one queue, as on Linux.
    pub queue: WaitQueue,
}

impl EventFd {
    pub fn new(initial: u32, semaphore: bool) -> Self {
        Self {
            count: initial as u64,
            semaphore,
            queue: WaitQueue::default(),
        }
    }

    pub fn poll(&self) -> u32 {
        let mut mask = 0;
        if self.count > 0 {
            mask |= POLLIN;
        }
        if self.count == u64::MAX {
            mask |= POLLERR;
        }
        if u64::MAX - 1 > self.count {
            mask |= POLLOUT;
        }
        mask
    }

    /// Takes the value a read returns; `None` if it would block (count 0).
    pub fn take(&mut self) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let value = if self.semaphore { 1 } else { self.count };
        self.count -= value;
        self.queue.wake(POLLOUT);
        Some(value)
    }

    /// Adds `value`: EINVAL for 2^64 - 1; `Ok(false)` if it would block (no room yet).
    pub fn add(&mut self, value: u64) -> Result<bool, Errno> {
        if value == u64::MAX {
            return Err(Errno::EINVAL);
        }
        if u64::MAX - self.count <= value {
            return Ok(false);
        }
        self.count += value;
        self.queue.wake(POLLIN);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_and_semaphore_modes() {
        let mut e = EventFd::new(0, false);
        assert_eq!(e.take(), None);
        assert_eq!(e.poll(), POLLOUT);
        assert_eq!(e.add(3), Ok(true));
        assert_eq!(e.add(4), Ok(true));
        assert_eq!(e.poll(), POLLIN | POLLOUT);
        assert_eq!(e.take(), Some(7));
        assert_eq!(e.take(), None);

        let mut s = EventFd::new(2, true);
        assert_eq!(s.take(), Some(1));
        assert_eq!(s.take(), Some(1));
        assert_eq!(s.take(), None);
    }

    #[test]
    fn the_counter_never_reaches_its_maximum() {
        let mut e = EventFd::new(0, false);
        assert_eq!(e.add(u64::MAX), Err(Errno::EINVAL));
        assert_eq!(e.add(u64::MAX - 1), Ok(true));
        assert_eq!(e.poll(), POLLIN, "full: not writable");
        assert_eq!(e.add(1), Ok(false), "would block");
        assert_eq!(e.add(0), Ok(true), "adding nothing always fits");
        assert_eq!(e.take(), Some(u64::MAX - 1));
    }
}
