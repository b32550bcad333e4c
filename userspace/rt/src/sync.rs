//! A futex-based mutex (the classic three-state design: 0 unlocked, 1 locked, 2 locked with
//! waiters), for raw threads that hammer a shared counter. Waiters sleep in FUTEX_WAIT_PRIVATE
//! and the unlocker wakes one only when someone may be waiting.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::sys;

pub struct Mutex {
    state: AtomicU32,
}

impl Mutex {
    pub const fn new() -> Mutex {
        Mutex {
            state: AtomicU32::new(0),
        }
    }

    pub fn lock(&self) {
        if self
            .state
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        // Contended: mark "locked with waiters" and sleep until the holder releases.
        while self.state.swap(2, Ordering::Acquire) != 0 {
            sys::futex_wait(&self.state, 2, None);
        }
    }

    pub fn unlock(&self) {
        if self.state.swap(0, Ordering::Release) == 2 {
            sys::futex_wake(&self.state, 1);
        }
    }
}

impl Default for Mutex {
    fn default() -> Mutex {
        Mutex::new()
    }
}
