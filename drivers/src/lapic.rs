//! The x86 local APIC of the (one) CPU: xAPIC through its memory-mapped registers, or x2APIC
//! through MSRs when the firmware chose it (see [`Lapic::new`] for why). Brought to a known
//! state (every local source masked), it acknowledges interrupts (in-service register, EOI) and
//! runs the APIC timer in one-shot mode, which [`LapicTimer`] turns into a
//! [`hal::timer::Timer`] together with the TSC, both calibrated against the PIT (or the TSC
//! frequency CPUID leaf 0x15 states exactly).

use crate::i8254::{PIT_HZ, Pit};
use core::sync::atomic::{AtomicU64, Ordering};
use hal::timer::Timer;

/// Register offsets (xAPIC MMIO offsets; the x2APIC MSR is 0x800 + offset / 16).
pub mod reg {
    pub const ID: u32 = 0x20;
    pub const VERSION: u32 = 0x30;
    pub const TPR: u32 = 0x80;
    pub const EOI: u32 = 0xb0;
    pub const SVR: u32 = 0xf0;
    /// In-service register: eight 32-bit registers 0x10 apart, vector v is bit v % 32 of
    /// register v / 32.
    pub const ISR0: u32 = 0x100;
    pub const ESR: u32 = 0x280;
    pub const LVT_CMCI: u32 = 0x2f0;
    pub const LVT_TIMER: u32 = 0x320;
    pub const LVT_THERMAL: u32 = 0x330;
    pub const LVT_PERF: u32 = 0x340;
    pub const LVT_LINT0: u32 = 0x350;
    pub const LVT_LINT1: u32 = 0x360;
    pub const LVT_ERROR: u32 = 0x370;
    pub const TIMER_INITIAL: u32 = 0x380;
    pub const TIMER_CURRENT: u32 = 0x390;
    pub const TIMER_DIVIDE: u32 = 0x3e0;
}

pub const LVT_MASKED: u32 = 1 << 16;
/// SVR bit 8: the APIC is software-enabled.
const SVR_ENABLE: u32 = 1 << 8;
/// Divide configuration for "divide by 16".
const DIVIDE_BY_16: u32 = 0b0011;

/// The vector the APIC delivers when an interrupt vanished before the CPU took it (Linux's
/// choice, 0xff; its low four bits must be 1 on old APICs). It sets no in-service bit and is
/// never EOI'd.
pub const SPURIOUS_VECTOR: u8 = 0xff;
/// The APIC timer's vector (Linux's LOCAL_TIMER_VECTOR).
pub const TIMER_VECTOR: u8 = 0xec;

const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_X2APIC: u64 = 1 << 10;

/// How the registers are reached.
trait Registers {
    fn read(&self, reg: u32) -> u32;
    fn write(&self, reg: u32, value: u32);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    X2Apic,
    /// Virtual address of the register page.
    XApic(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LapicError {
    /// CPUID says there is no local APIC.
    Absent,
    /// xAPIC mode, and the register page is not mapped.
    Unmapped { phys: u64 },
}

pub struct Lapic {
    mode: Mode,
}

impl Registers for Lapic {
    fn read(&self, reg: u32) -> u32 {
        match self.mode {
            // SAFETY: `Lapic::new` enabled x2APIC mode, in which these MSRs are the APIC's
            // registers; callers only name registers that exist (see `max_lvt`).
            Mode::X2Apic => unsafe { rdmsr(0x800 + (reg >> 4)) as u32 },
            // SAFETY: `base` maps the APIC register page (the constructor's contract); the
            // offset is inside it and 16-byte aligned; APIC registers take 32-bit accesses.
            Mode::XApic(base) => unsafe { ((base + u64::from(reg)) as *const u32).read_volatile() },
        }
    }

    fn write(&self, reg: u32, value: u32) {
        match self.mode {
            // SAFETY: as in `read`.
            Mode::X2Apic => unsafe { wrmsr(0x800 + (reg >> 4), u64::from(value)) },
            // SAFETY: as in `read`.
            Mode::XApic(base) => unsafe {
                ((base + u64::from(reg)) as *mut u32).write_volatile(value)
            },
        }
    }
}

/// # Safety
/// `msr` must exist on this CPU.
unsafe fn rdmsr(msr: u32) -> u64 {
    // SAFETY: forwarded to the caller.
    unsafe { x86_64::registers::model_specific::Msr::new(msr).read() }
}

/// # Safety
/// `msr` must exist and accept `value`, and the write must not break memory safety.
unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: forwarded to the caller.
    unsafe { x86_64::registers::model_specific::Msr::new(msr).write(value) }
}

impl Lapic {
    /// Takes over this CPU's local APIC and hardware-enables it. Its registers are reached
    /// through the xAPIC register page (from IA32_APIC_BASE, mapped by `map(phys, len)`, which
    /// must return an uncached kernel mapping) unless the firmware already switched the APIC to
    /// x2APIC mode (there is no way back without a reset) or the page cannot be mapped and the
    /// CPU has x2APIC.
    ///
    /// Why xAPIC by default: with one CPU nothing needs x2APIC's wider IDs, and Linux makes the
    /// same choice on a machine without interrupt remapping unless a hypervisor vouches for
    /// x2APIC. QEMU's TCG runs RDMSR/WRMSR without marking them as I/O, so under
    /// `-icount` an APIC timer access through the x2APIC MSRs stops QEMU ("Bad icount read"),
    /// while the same access as MMIO is fine; the benchmarks rely on `-icount`.
    ///
    /// # Safety
    /// Only one `Lapic` may exist, and nothing else may program the local APIC.
    pub unsafe fn new(map: impl FnOnce(u64, u64) -> Option<u64>) -> Result<Self, LapicError> {
        let leaf1 = core::arch::x86_64::__cpuid(1);
        if leaf1.edx & (1 << 9) == 0 {
            return Err(LapicError::Absent);
        }
        let x2apic_supported = leaf1.ecx & (1 << 21) != 0;
        // SAFETY: IA32_APIC_BASE exists on every CPU with an APIC.
        let base = unsafe { rdmsr(IA32_APIC_BASE) };
        let phys = base & 0x000f_ffff_ffff_f000;
        let mode = if base & APIC_BASE_X2APIC != 0 {
            Mode::X2Apic
        } else {
            match map(phys, 4096) {
                Some(virt) => Mode::XApic(virt),
                None if x2apic_supported => Mode::X2Apic,
                None => return Err(LapicError::Unmapped { phys }),
            }
        };
        let mut new_base = base | APIC_BASE_ENABLE;
        if mode == Mode::X2Apic {
            new_base |= APIC_BASE_X2APIC;
        }
        if new_base != base {
            // SAFETY: enabling the APIC (and going from xAPIC to x2APIC, a permitted
            // transition) changes no memory mapping the kernel relies on: the register page was
            // never used as memory.
            unsafe { wrmsr(IA32_APIC_BASE, new_base) };
        }
        Ok(Self { mode })
    }

    pub fn is_x2apic(&self) -> bool {
        self.mode == Mode::X2Apic
    }

    pub fn id(&self) -> u32 {
        let id = self.read(reg::ID);
        if self.is_x2apic() { id } else { id >> 24 }
    }

    /// The highest LVT entry this APIC has (4: up to perf, 5: thermal, 6: CMCI). x2APIC
    /// faults on a register that does not exist, so only existing ones are touched.
    fn max_lvt(&self) -> u32 {
        (self.read(reg::VERSION) >> 16) & 0xff
    }

    /// Brings the APIC to a known state: software-enabled with [`SPURIOUS_VECTOR`], every local
    /// interrupt source masked (timer, LINT0/1, error, performance, thermal, CMCI), the timer
    /// stopped and dividing by 16, priority 0, errors cleared, nothing left in service.
    pub fn init(&self) {
        let max_lvt = self.max_lvt();
        for (lvt, needs) in [
            (reg::LVT_TIMER, 0),
            (reg::LVT_LINT0, 0),
            (reg::LVT_LINT1, 0),
            (reg::LVT_ERROR, 0),
            (reg::LVT_PERF, 4),
            (reg::LVT_THERMAL, 5),
            (reg::LVT_CMCI, 6),
        ] {
            if max_lvt >= needs {
                self.write(lvt, LVT_MASKED);
            }
        }
        self.write(reg::TIMER_INITIAL, 0);
        self.timer_divide_by_16();
        self.write(reg::TPR, 0);
        self.write(reg::SVR, SVR_ENABLE | u32::from(SPURIOUS_VECTOR));
        // The error register latches on a write; write, then read to clear it.
        self.write(reg::ESR, 0);
        let _ = self.read(reg::ESR);
        // Anything the firmware left in service would block its priority class forever.
        for _ in 0..256 {
            if self.in_service().is_none() {
                break;
            }
            self.end_of_interrupt();
        }
    }

    /// The vector being serviced (the highest in-service bit), if any.
    pub fn in_service(&self) -> Option<u8> {
        highest_in_service(|i| self.read(reg::ISR0 + 0x10 * i))
    }

    pub fn end_of_interrupt(&self) {
        self.write(reg::EOI, 0);
    }

    /// Sets the timer's input to the bus clock divided by 16 (done by [`Lapic::init`]).
    pub fn timer_divide_by_16(&self) {
        self.write(reg::TIMER_DIVIDE, DIVIDE_BY_16);
    }

    /// Starts the timer counting down from `count`; it raises `vector` once when it reaches 0,
    /// unless `masked`. A count of 0 stops it.
    pub fn timer_one_shot(&self, vector: u8, count: u32, masked: bool) {
        let mask = if masked { LVT_MASKED } else { 0 };
        // One-shot mode is LVT timer mode 0.
        self.write(reg::LVT_TIMER, mask | u32::from(vector));
        self.write(reg::TIMER_INITIAL, count);
    }

    pub fn timer_current(&self) -> u32 {
        self.read(reg::TIMER_CURRENT)
    }

    pub fn timer_stop(&self) {
        self.write(reg::LVT_TIMER, LVT_MASKED | u32::from(TIMER_VECTOR));
        self.write(reg::TIMER_INITIAL, 0);
    }
}

/// The highest set bit of the 256-bit in-service register, read 32 bits at a time by `isr(i)`.
fn highest_in_service(isr: impl Fn(u32) -> u32) -> Option<u8> {
    (0..8u32).rev().find_map(|i| {
        let bits = isr(i);
        (bits != 0).then(|| (i * 32 + 31 - bits.leading_zeros()) as u8)
    })
}

/// A counter frequency and exact conversions to and from nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frequency {
    hz: u64,
}

impl Frequency {
    /// `None` for frequencies no real counter has (below 1 kHz).
    pub fn new(hz: u64) -> Option<Self> {
        (hz >= 1000).then_some(Self { hz })
    }

    pub fn hz(&self) -> u64 {
        self.hz
    }

    /// Nanoseconds for `ticks` (rounded down, exact, monotonic, saturating).
    pub fn ticks_to_ns(&self, ticks: u64) -> u64 {
        crate::counter::ticks_to_ns(ticks, self.hz)
    }

    /// Ticks covering at least `ns` nanoseconds (rounded up: a deadline never comes early).
    pub fn ns_to_ticks_ceil(&self, ns: u64) -> u64 {
        crate::counter::ns_to_ticks(ns, self.hz)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CalibrationError {
    /// The PIT never finished its countdown (no PIT) and CPUID gives no TSC frequency.
    NoReference,
    /// A counter did not advance, or advanced implausibly.
    Implausible,
}

/// The TSC frequency CPUID leaf 0x15 states exactly (crystal Hz × ratio), when it states all
/// three numbers.
fn cpuid_tsc_hz() -> Option<u64> {
    // SAFETY: CPUID leaf 0 is always valid.
    let max = core::arch::x86_64::__cpuid(0).eax;
    if max < 0x15 {
        return None;
    }
    let leaf = core::arch::x86_64::__cpuid(0x15);
    let (denominator, numerator, crystal) = (leaf.eax, leaf.ebx, leaf.ecx);
    if denominator == 0 || numerator == 0 || crystal == 0 {
        return None;
    }
    Some(u64::from(crystal) * u64::from(numerator) / u64::from(denominator))
}

fn rdtsc() -> u64 {
    // SAFETY: RDTSC exists on every x86_64 CPU and has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// PIT ticks per calibration round: about 10 ms.
const CALIBRATION_TICKS: u16 = 11_932;
const CALIBRATION_ROUNDS: usize = 3;
/// Polls of the PIT before concluding it does not count (far more than 10 ms of port reads).
const PIT_POLLS: u32 = 50_000_000;

/// Median of three.
fn median(mut v: [u64; CALIBRATION_ROUNDS]) -> u64 {
    v.sort_unstable();
    v[CALIBRATION_ROUNDS / 2]
}

/// No deadline armed.
const NO_DEADLINE: u64 = u64::MAX;

/// The monotonic clock (the TSC) and the deadline interrupt (the APIC timer, one-shot).
pub struct LapicTimer {
    lapic: &'static Lapic,
    tsc: Frequency,
    /// The TSC's fast tick-to-nanosecond conversion, for reading the clock.
    tsc_scale: crate::counter::Scale,
    /// APIC timer counts per second at divide-by-16.
    apic: Frequency,
    tsc_at_boot: u64,
    /// The largest value `now_ns` has returned: the clock never goes backwards, even if the TSC
    /// were to.
    last_ns: AtomicU64,
    /// The armed deadline, so that an interrupt that comes early (a deadline beyond the
    /// counter's range) re-arms instead of being lost.
    deadline_ns: AtomicU64,
}

impl LapicTimer {
    /// Measures the TSC and the APIC timer against PIT channel 2 (the TSC frequency is taken
    /// from CPUID leaf 0x15 instead when it states it), three 10 ms rounds, median. Without a
    /// working PIT the APIC timer is measured against a CPUID-stated TSC.
    pub fn calibrate(lapic: &'static Lapic, pit: &Pit) -> Result<Self, CalibrationError> {
        let cpuid_tsc = cpuid_tsc_hz();
        let mut tsc = [0u64; CALIBRATION_ROUNDS];
        let mut apic = [0u64; CALIBRATION_ROUNDS];
        let mut pit_works = true;
        lapic.timer_divide_by_16();
        for round in 0..CALIBRATION_ROUNDS {
            pit.channel2_start(CALIBRATION_TICKS);
            lapic.timer_one_shot(TIMER_VECTOR, u32::MAX, true);
            let tsc0 = rdtsc();
            let mut polls = 0;
            while !pit.channel2_done() {
                polls += 1;
                if polls == PIT_POLLS {
                    pit_works = false;
                    break;
                }
                core::hint::spin_loop();
            }
            let tsc1 = rdtsc();
            let apic_left = lapic.timer_current();
            pit.channel2_stop();
            if !pit_works {
                break;
            }
            let per_second = |count: u64| count * PIT_HZ / u64::from(CALIBRATION_TICKS);
            tsc[round] = per_second(tsc1.wrapping_sub(tsc0));
            apic[round] = per_second(u64::from(u32::MAX - apic_left));
        }
        lapic.timer_stop();

        let (tsc_hz, apic_hz) = if pit_works {
            (cpuid_tsc.unwrap_or(median(tsc)), median(apic))
        } else {
            let tsc_hz = cpuid_tsc.ok_or(CalibrationError::NoReference)?;
            (tsc_hz, Self::apic_against_tsc(lapic, tsc_hz))
        };
        let tsc = Frequency::new(tsc_hz).ok_or(CalibrationError::Implausible)?;
        let apic = Frequency::new(apic_hz).ok_or(CalibrationError::Implausible)?;
        Ok(Self {
            lapic,
            tsc,
            tsc_scale: crate::counter::Scale::new(tsc.hz()),
            apic,
            tsc_at_boot: rdtsc(),
            last_ns: AtomicU64::new(0),
            deadline_ns: AtomicU64::new(NO_DEADLINE),
        })
    }

    /// APIC timer counts per second over 10 ms of a TSC of known frequency.
    fn apic_against_tsc(lapic: &Lapic, tsc_hz: u64) -> u64 {
        let window = tsc_hz / 100;
        lapic.timer_one_shot(TIMER_VECTOR, u32::MAX, true);
        let start = rdtsc();
        while rdtsc().wrapping_sub(start) < window {
            core::hint::spin_loop();
        }
        let counted = u64::from(u32::MAX - lapic.timer_current());
        lapic.timer_stop();
        counted * 100
    }

    pub fn tsc_hz(&self) -> u64 {
        self.tsc.hz()
    }

    pub fn apic_timer_hz(&self) -> u64 {
        self.apic.hz()
    }

    /// Arms the APIC timer for `deadline_ns`: the count is rounded up and limited to the
    /// counter's range (a deadline beyond it fires at the end of the range, and
    /// [`LapicTimer::handle_interrupt`] re-arms for the rest).
    fn arm(&self, deadline_ns: u64) {
        let delta = deadline_ns.saturating_sub(self.now_ns());
        let ticks = self
            .apic
            .ns_to_ticks_ceil(delta)
            .clamp(1, u64::from(u32::MAX));
        self.lapic.timer_one_shot(TIMER_VECTOR, ticks as u32, false);
    }

    /// Called when the timer vector has been taken: a deadline that has not yet passed (the
    /// interrupt came at the end of the counter's range) is armed again.
    pub fn handle_interrupt(&self) {
        let deadline = self.deadline_ns.load(Ordering::Relaxed);
        if deadline == NO_DEADLINE {
            return;
        }
        if self.now_ns() < deadline {
            self.arm(deadline);
        } else {
            self.deadline_ns.store(NO_DEADLINE, Ordering::Relaxed);
        }
    }
}

impl Timer for LapicTimer {
    fn now_ns(&self) -> u64 {
        let ns = self.tsc_scale.ns(rdtsc().wrapping_sub(self.tsc_at_boot));
        // One CPU, and the kernel runs with interrupts off: no read-modify-write is needed to
        // keep the clock from going backwards.
        let previous = self.last_ns.load(Ordering::Relaxed);
        if ns > previous {
            self.last_ns.store(ns, Ordering::Relaxed);
            ns
        } else {
            previous
        }
    }

    /// `u64::MAX` means "never": the timer is stopped.
    fn set_deadline(&self, deadline_ns: u64) {
        self.deadline_ns.store(deadline_ns, Ordering::Relaxed);
        if deadline_ns == NO_DEADLINE {
            self.lapic.timer_stop();
        } else {
            self.arm(deadline_ns);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_service_finds_the_highest_vector() {
        let isr = |bits: [u32; 8]| highest_in_service(move |i| bits[i as usize]);
        assert_eq!(isr([0; 8]), None);
        assert_eq!(isr([1, 0, 0, 0, 0, 0, 0, 0]), Some(0));
        assert_eq!(isr([0, 0, 0, 0, 0, 0, 0, 1 << 12]), Some(TIMER_VECTOR));
        assert_eq!(isr([0, 1 << 16, 0, 0, 0, 0, 0, 1 << 12]), Some(0xec));
        assert_eq!(isr([0, 1 << 16, 0, 0, 0, 0, 0, 0]), Some(0x30));
        assert_eq!(isr([0, 0, 0, 0, 0, 0, 0, 1 << 31]), Some(0xff));
    }

    #[test]
    fn frequency_conversions() {
        let f = Frequency::new(62_500_000).unwrap(); // QEMU's APIC timer at divide 16
        assert_eq!(f.ns_to_ticks_ceil(1_000_000), 62_500);
        assert_eq!(f.ns_to_ticks_ceil(1), 1, "rounded up, never early");
        assert_eq!(f.ns_to_ticks_ceil(0), 0);
        assert_eq!(f.ticks_to_ns(62_500_000), 1_000_000_000);
        let tsc = Frequency::new(2_994_374_000).unwrap();
        let one_hour = 3600 * 2_994_374_000u64;
        let ns = tsc.ticks_to_ns(one_hour);
        assert_eq!(ns, 3600 * crate::counter::NANOS_PER_SECOND);
        assert_eq!(tsc.ticks_to_ns(2_994_374), 1_000_000);
        // Huge values saturate instead of wrapping.
        assert_eq!(
            Frequency::new(1000).unwrap().ticks_to_ns(u64::MAX),
            u64::MAX
        );
        assert_eq!(f.ns_to_ticks_ceil(u64::MAX), u64::MAX / 16 + 1);
        assert_eq!(Frequency::new(999), None);
        // Conversions are monotonic.
        let mut last = 0;
        for t in (0..10_000_000u64).step_by(9973) {
            let ns = tsc.ticks_to_ns(t);
            assert!(ns >= last);
            last = ns;
        }
    }

    #[test]
    fn median_of_three() {
        assert_eq!(median([3, 1, 2]), 2);
        assert_eq!(median([5, 5, 1]), 5);
    }
}
