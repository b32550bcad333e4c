//! A battery-backed real-time clock (CMOS on PCs, PL031 on ARM virt): the wall clock at boot.

pub trait Rtc: Sync {
    /// Seconds since the Unix epoch (UTC), or `None` if the clock cannot be read.
    fn unix_time(&self) -> Option<u64>;
}
