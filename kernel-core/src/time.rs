//! Clocks: monotonic time from the board's timer, the wall clock as the RTC's reading at boot plus
//! monotonic time, and the `timespec`/`timeval` encodings (same layout on both 64-bit arches).

use crate::errno::Errno;
use hal::timer::Timer;

pub const NSEC_PER_SEC: u64 = 1_000_000_000;
/// `sysconf(_SC_CLK_TCK)` / AT_CLKTCK: times() and /proc count in 1/100 s.
pub const CLOCK_TICKS_PER_SEC: u64 = 100;

pub const CLOCK_REALTIME: u64 = 0;
pub const CLOCK_MONOTONIC: u64 = 1;
pub const CLOCK_PROCESS_CPUTIME_ID: u64 = 2;
pub const CLOCK_THREAD_CPUTIME_ID: u64 = 3;
pub const CLOCK_MONOTONIC_RAW: u64 = 4;
pub const CLOCK_REALTIME_COARSE: u64 = 5;
pub const CLOCK_MONOTONIC_COARSE: u64 = 6;
pub const CLOCK_BOOTTIME: u64 = 7;

pub struct Clock {
    timer: &'static dyn Timer,
    /// Wall-clock time (ns since the epoch) at monotonic time 0.
    realtime_offset: u64,
    /// The deadline last given to the timer (0: none yet).
    armed: u64,
}

impl Clock {
    pub fn new(timer: &'static dyn Timer, unix_seconds_at_boot: u64) -> Self {
        let now = timer.now_ns();
        let realtime_offset = unix_seconds_at_boot
            .saturating_mul(NSEC_PER_SEC)
            .saturating_sub(now);
        Self {
            timer,
            realtime_offset,
            armed: 0,
        }
    }

    pub fn monotonic(&self) -> u64 {
        self.timer.now_ns()
    }

    pub fn realtime(&self) -> u64 {
        self.realtime_offset + self.monotonic()
    }

    /// Arranges a timer interrupt at or before `deadline` (`now` is the current monotonic
    /// time). An armed deadline that comes no later and has not passed is kept: the earlier
    /// interrupt only makes the run loop look again, and programming the timer is a device
    /// access the loop would otherwise pay on every pass.
    pub fn set_deadline(&mut self, deadline: u64, now: u64) {
        if self.armed > now && self.armed <= deadline {
            return;
        }
        self.armed = deadline;
        self.timer.set_deadline(deadline);
    }

    /// Converts an absolute time on `clock` to a monotonic deadline.
    pub fn to_monotonic(&self, clock: u64, absolute: u64) -> u64 {
        if clock == CLOCK_REALTIME {
            absolute.saturating_sub(self.realtime_offset)
        } else {
            absolute
        }
    }
}

/// Decodes a user `struct timespec` (two 64-bit words); EINVAL unless 0 <= tv_nsec < 1e9 and
/// tv_sec >= 0.
pub fn timespec_ns(raw: [u8; 16]) -> Result<u64, Errno> {
    let sec = i64::from_le_bytes(raw[..8].try_into().unwrap());
    let nsec = i64::from_le_bytes(raw[8..].try_into().unwrap());
    if sec < 0 || !(0..NSEC_PER_SEC as i64).contains(&nsec) {
        return Err(Errno::EINVAL);
    }
    Ok((sec as u64)
        .saturating_mul(NSEC_PER_SEC)
        .saturating_add(nsec as u64))
}

pub fn timespec(ns: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&(ns / NSEC_PER_SEC).to_le_bytes());
    out[8..].copy_from_slice(&(ns % NSEC_PER_SEC).to_le_bytes());
    out
}

pub fn timeval(ns: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&(ns / NSEC_PER_SEC).to_le_bytes());
    out[8..].copy_from_slice(&((ns % NSEC_PER_SEC) / 1000).to_le_bytes());
    out
}

pub fn ticks(ns: u64) -> u64 {
    ns / (NSEC_PER_SEC / CLOCK_TICKS_PER_SEC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespec_round_trip_and_validation() {
        assert_eq!(timespec_ns(timespec(3_500_000_001)), Ok(3_500_000_001));
        let mut bad = timespec(0);
        bad[8..].copy_from_slice(&1_000_000_000i64.to_le_bytes());
        assert_eq!(timespec_ns(bad), Err(Errno::EINVAL));
        let mut negative = timespec(0);
        negative[..8].copy_from_slice(&(-1i64).to_le_bytes());
        assert_eq!(timespec_ns(negative), Err(Errno::EINVAL));
        let mut huge = timespec(0);
        huge[..8].copy_from_slice(&i64::MAX.to_le_bytes());
        assert_eq!(timespec_ns(huge), Ok(u64::MAX));
        assert_eq!(timeval(1_234_567_890), {
            let mut v = [0u8; 16];
            v[..8].copy_from_slice(&1u64.to_le_bytes());
            v[8..].copy_from_slice(&234_567u64.to_le_bytes());
            v
        });
        assert_eq!(ticks(1_500_000_000), 150);
    }
}
