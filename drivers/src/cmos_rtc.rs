//! The PC's CMOS real-time clock (MC146818-compatible, behind index port 0x70 and data port
//! 0x71) as a [`hal::rtc::Rtc`]: BCD or binary, 12- or 24-hour, read only outside an update
//! cycle and twice in a row until both reads agree. The century comes from the register the
//! ACPI FADT names, else the year is taken to be 20xx. A reading that is not a valid date is
//! `None`, never a guess.

use crate::port_io::{CpuPorts, PortIo};
use hal::rtc::Rtc;

const INDEX: u16 = 0x70;
const DATA: u16 = 0x71;

const SECONDS: u8 = 0x00;
const MINUTES: u8 = 0x02;
const HOURS: u8 = 0x04;
const DAY: u8 = 0x07;
const MONTH: u8 = 0x08;
const YEAR: u8 = 0x09;
const STATUS_A: u8 = 0x0a;
const STATUS_B: u8 = 0x0b;

/// Status A: an update cycle is in progress (or starts within 244 µs); the time registers are
/// not to be read.
const UPDATE_IN_PROGRESS: u8 = 0x80;
/// Status B: 24-hour mode; binary (not BCD) values.
const HOUR_24: u8 = 0x02;
const BINARY: u8 = 0x04;
/// In 12-hour mode the hours register's top bit means PM.
const PM: u8 = 0x80;

/// Polls of status A while waiting for an update to end (an update takes under 2 ms).
const UPDATE_POLLS: u32 = 100_000;
/// Attempts at two identical consecutive readings.
const READ_ATTEMPTS: u32 = 10;

/// The registers of one reading, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Raw {
    pub seconds: u8,
    pub minutes: u8,
    pub hours: u8,
    pub day: u8,
    pub month: u8,
    pub year: u8,
    /// `None` when the machine names no century register.
    pub century: Option<u8>,
    pub status_b: u8,
}

pub struct CmosRtc<P: PortIo = CpuPorts> {
    io: P,
    century_register: Option<u8>,
    /// The index/data pair is two accesses that must not interleave.
    lock: spin::Mutex<()>,
}

impl CmosRtc<CpuPorts> {
    /// The RTC at ports 0x70/0x71; `century_register` is the FADT's `CENTURY` field, if any.
    ///
    /// # Safety
    /// Ports 0x70 and 0x71 must be the CMOS index and data ports (as on every PC), and no
    /// other driver may use them.
    pub const unsafe fn new(century_register: Option<u8>) -> Self {
        Self::with_io(CpuPorts::new(), century_register)
    }
}

impl<P: PortIo> CmosRtc<P> {
    /// An RTC reached through `io` (tests use a device model).
    pub const fn with_io(io: P, century_register: Option<u8>) -> Self {
        Self {
            io,
            century_register,
            lock: spin::Mutex::new(()),
        }
    }

    fn register(&self, index: u8) -> u8 {
        // Bit 7 of the index would disable NMIs; it is left clear.
        self.io.write8(INDEX, index & 0x7f);
        self.io.read8(DATA)
    }

    fn wait_for_update_end(&self) -> bool {
        (0..UPDATE_POLLS).any(|_| self.register(STATUS_A) & UPDATE_IN_PROGRESS == 0)
    }

    fn read_raw(&self) -> Option<Raw> {
        if !self.wait_for_update_end() {
            return None;
        }
        Some(Raw {
            seconds: self.register(SECONDS),
            minutes: self.register(MINUTES),
            hours: self.register(HOURS),
            day: self.register(DAY),
            month: self.register(MONTH),
            year: self.register(YEAR),
            century: self.century_register.map(|r| self.register(r)),
            status_b: self.register(STATUS_B),
        })
    }

    /// Two identical consecutive readings: neither straddled an update.
    pub fn read_stable(&self) -> Option<Raw> {
        let _guard = self.lock.lock();
        let mut previous = self.read_raw()?;
        for _ in 0..READ_ATTEMPTS {
            let next = self.read_raw()?;
            if next == previous {
                return Some(next);
            }
            previous = next;
        }
        None
    }
}

impl<P: PortIo + Sync> Rtc for CmosRtc<P> {
    fn unix_time(&self) -> Option<u64> {
        decode(&self.read_stable()?)
    }
}

fn from_bcd(value: u8) -> Option<u8> {
    let (high, low) = (value >> 4, value & 0x0f);
    (high < 10 && low < 10).then_some(high * 10 + low)
}

/// Seconds since the epoch of a reading, or `None` if it is not a valid time at or after 1970.
pub fn decode(raw: &Raw) -> Option<u64> {
    let binary = raw.status_b & BINARY != 0;
    let value = |v: u8| if binary { Some(v) } else { from_bcd(v) };
    let seconds = value(raw.seconds)?;
    let minutes = value(raw.minutes)?;
    let mut hours = value(raw.hours & !PM)?;
    if raw.status_b & HOUR_24 == 0 {
        // 12-hour clock: 12 AM is hour 0, 12 PM is hour 12.
        if !(1..=12).contains(&hours) {
            return None;
        }
        hours %= 12;
        if raw.hours & PM != 0 {
            hours += 12;
        }
    } else if raw.hours & PM != 0 {
        return None;
    }
    let day = value(raw.day)?;
    let month = value(raw.month)?;
    let year = value(raw.year)?;
    let century = match raw.century {
        Some(c) => value(c)?,
        None => 20,
    };
    let year = u64::from(century) * 100 + u64::from(year);
    if seconds > 59 || minutes > 59 || hours > 23 || !(1..=12).contains(&month) || year < 1970 {
        return None;
    }
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_since_epoch(year, month, day);
    Some(days * 86_400 + u64::from(hours) * 3600 + u64::from(minutes) * 60 + u64::from(seconds))
}

fn is_leap(year: u64) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u64, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given date (year >= 1970, valid month and day).
fn days_since_epoch(year: u64, month: u8, day: u8) -> u64 {
    let years = year - 1970;
    // Leap days in [1970, year): multiples of 4, minus of 100, plus of 400, counted from 0.
    let leaps = |y: u64| y / 4 - y / 100 + y / 400;
    let leap_days = leaps(year - 1) - leaps(1969);
    let mut days = years * 365 + leap_days;
    for m in 1..month {
        days += u64::from(days_in_month(year, m));
    }
    days + u64::from(day) - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A CMOS with a register file; status A reports an update in progress for the first
    /// `busy` reads of it, and the clock ticks (seconds register) after `tick_after` reads of
    /// the seconds register.
    struct Model {
        state: Mutex<State>,
    }

    struct State {
        index: u8,
        regs: [u8; 128],
        busy: u32,
        tick_after: Option<u32>,
        seconds_reads: u32,
    }

    impl Model {
        fn new(regs: &[(u8, u8)]) -> Self {
            let mut r = [0u8; 128];
            for &(i, v) in regs {
                r[i as usize] = v;
            }
            Self {
                state: Mutex::new(State {
                    index: 0,
                    regs: r,
                    busy: 0,
                    tick_after: None,
                    seconds_reads: 0,
                }),
            }
        }
    }

    impl PortIo for Model {
        fn read8(&self, port: u16) -> u8 {
            assert_eq!(port, DATA);
            let mut s = self.state.lock().unwrap();
            let i = s.index;
            if i == STATUS_A && s.busy > 0 {
                s.busy -= 1;
                return UPDATE_IN_PROGRESS;
            }
            if i == SECONDS {
                s.seconds_reads += 1;
                if s.tick_after == Some(s.seconds_reads) {
                    s.regs[0] = s.regs[0].wrapping_add(1);
                }
            }
            s.regs[i as usize]
        }
        fn write8(&self, port: u16, value: u8) {
            assert_eq!(port, INDEX);
            assert_eq!(value & 0x80, 0, "NMIs stay enabled");
            self.state.lock().unwrap().index = value;
        }
        fn write16(&self, _: u16, _: u16) {
            unreachable!()
        }
        fn write32(&self, _: u16, _: u32) {
            unreachable!()
        }
        fn halt(&self) -> ! {
            unreachable!()
        }
    }

    // 2024-02-29 13:45:30 UTC = 1709214330.
    const LEAP_DAY: u64 = 1_709_214_330;

    fn bcd_24h() -> Vec<(u8, u8)> {
        vec![
            (SECONDS, 0x30),
            (MINUTES, 0x45),
            (HOURS, 0x13),
            (DAY, 0x29),
            (MONTH, 0x02),
            (YEAR, 0x24),
            (0x32, 0x20),
            (STATUS_B, HOUR_24),
        ]
    }

    #[test]
    fn bcd_24_hour_with_century() {
        let rtc = CmosRtc::with_io(Model::new(&bcd_24h()), Some(0x32));
        assert_eq!(rtc.unix_time(), Some(LEAP_DAY));
    }

    #[test]
    fn binary_12_hour_without_century() {
        let regs = [
            (SECONDS, 30),
            (MINUTES, 45),
            (HOURS, PM | 1),
            (DAY, 29),
            (MONTH, 2),
            (YEAR, 24),
            (STATUS_B, BINARY),
        ];
        let rtc = CmosRtc::with_io(Model::new(&regs), None);
        assert_eq!(rtc.unix_time(), Some(LEAP_DAY));
    }

    #[test]
    fn waits_for_updates_and_rereads_across_a_tick() {
        let model = Model::new(&bcd_24h());
        {
            let mut s = model.state.lock().unwrap();
            s.busy = 50;
            s.tick_after = Some(2); // the second reading sees :31
        }
        let rtc = CmosRtc::with_io(model, Some(0x32));
        assert_eq!(rtc.unix_time(), Some(LEAP_DAY + 1));
        // A clock stuck in an update is unreadable, not a hang.
        let model = Model::new(&bcd_24h());
        model.state.lock().unwrap().busy = u32::MAX;
        let rtc = CmosRtc::with_io(model, Some(0x32));
        assert_eq!(rtc.unix_time(), None);
    }

    #[test]
    fn twelve_hour_edges() {
        let at = |hours: u8| Raw {
            seconds: 0,
            minutes: 0,
            hours,
            day: 1,
            month: 1,
            year: 0x70,
            century: Some(0x19),
            status_b: 0,
        };
        assert_eq!(decode(&at(0x12)), Some(0), "12 AM is midnight");
        assert_eq!(decode(&at(PM | 0x12)), Some(12 * 3600), "12 PM is noon");
        assert_eq!(decode(&at(PM | 0x11)), Some(23 * 3600));
        assert_eq!(decode(&at(0x00)), None);
        assert_eq!(decode(&at(0x13)), None);
    }

    #[test]
    fn garbage_is_none() {
        let good = Raw {
            seconds: 0x30,
            minutes: 0x45,
            hours: 0x13,
            day: 0x29,
            month: 0x02,
            year: 0x24,
            century: Some(0x20),
            status_b: HOUR_24,
        };
        assert_eq!(decode(&good), Some(LEAP_DAY));
        for bad in [
            Raw {
                seconds: 0x60,
                ..good
            },
            Raw {
                seconds: 0x3a,
                ..good
            },
            Raw {
                minutes: 0x60,
                ..good
            },
            Raw {
                hours: 0x24,
                ..good
            },
            Raw {
                hours: PM | 0x01,
                ..good
            },
            Raw { day: 0x00, ..good },
            Raw { day: 0x30, ..good }, // 30 February
            Raw {
                month: 0x13,
                ..good
            },
            Raw {
                month: 0x00,
                ..good
            },
            Raw {
                century: Some(0x19),
                year: 0x69,
                ..good
            }, // 1969
            Raw {
                century: Some(0xff),
                ..good
            },
            Raw { year: 0x23, ..good }, // 2023-02-29 does not exist
        ] {
            assert_eq!(decode(&bad), None, "{bad:?}");
        }
        // An absent RTC reads as all ones.
        let ones = Raw {
            seconds: 0xff,
            minutes: 0xff,
            hours: 0xff,
            day: 0xff,
            month: 0xff,
            year: 0xff,
            century: None,
            status_b: 0xff,
        };
        assert_eq!(decode(&ones), None);
    }

    #[test]
    fn calendar_arithmetic() {
        assert_eq!(days_since_epoch(1970, 1, 1), 0);
        assert_eq!(days_since_epoch(1972, 3, 1), 365 * 2 + 31 + 29);
        assert_eq!(days_since_epoch(2000, 1, 1), 10_957);
        assert_eq!(days_since_epoch(2100, 3, 1), 47_541);
        assert!(!is_leap(2100));
        assert!(is_leap(2000));
        assert_eq!(days_in_month(2024, 2), 29);
    }
}
