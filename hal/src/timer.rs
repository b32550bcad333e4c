//! A monotonic clock with a one-shot deadline interrupt (LAPIC timer, ARM generic timer, ...).

pub trait Timer: Sync {
    /// Nanoseconds since an arbitrary fixed point at boot; never goes backwards.
    fn now_ns(&self) -> u64;
    /// Arranges one interrupt at or after `deadline_ns` (same clock as [`Timer::now_ns`]),
    /// replacing any earlier deadline.
    fn set_deadline(&self, deadline_ns: u64);
}
