//! The Arm generic timer's EL1 virtual timer (Arm ARM D11): the monotonic clock is the virtual
//! counter CNTVCT_EL0 at CNTFRQ_EL0 Hz, and the one-shot deadline is CNTV_CVAL_EL0, whose
//! interrupt is a per-CPU PPI (INTID 27 on most GIC systems; the device tree's timer node says
//! which). The counter/time arithmetic is pure and host-tested; the register accesses are
//! AArch64 only.

use crate::devicetree::{self, InterruptSpec};
use fdt::Fdt;

/// Index of the EL1 virtual timer in the `arm,armv8-timer` node's `interrupts` (secure
/// physical, non-secure physical, virtual, hypervisor physical).
const VIRTUAL_TIMER_INDEX: usize = 2;

/// The counter arithmetic, shared with the x86 timers.
pub use crate::counter::{ns_to_ticks, ticks_to_ns};

/// What the device tree says about the timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerNode {
    /// The virtual timer's interrupt specifier (decode it for the interrupt controller in use,
    /// e.g. [`InterruptSpec::gic_intid`]).
    pub virtual_interrupt: InterruptSpec,
    /// `clock-frequency`, for firmware that did not program CNTFRQ_EL0 (the binding discourages
    /// it, but some boards need it).
    pub clock_frequency: Option<u64>,
}

/// Reads the `arm,armv8-timer` (or `arm,armv7-timer`) node.
pub fn probe(fdt: &Fdt<'_>) -> Option<TimerNode> {
    let node = devicetree::find_compatible(fdt, &["arm,armv8-timer", "arm,armv7-timer"])?;
    let virtual_interrupt = devicetree::interrupt(fdt, &node, VIRTUAL_TIMER_INDEX)?;
    let clock_frequency = node
        .property("clock-frequency")
        .and_then(|p| p.as_usize())
        .map(|f| f as u64)
        .filter(|&f| f != 0);
    Some(TimerNode {
        virtual_interrupt,
        clock_frequency,
    })
}

/// The EL1 virtual timer of the CPU that uses it (single-CPU kernel: the boot CPU).
pub struct GenericTimer {
    frequency: u64,
    /// The fast tick-to-nanosecond conversion, for reading the clock (which only an AArch64
    /// build can do).
    #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
    scale: crate::counter::Scale,
}

impl GenericTimer {
    /// A timer counting at `frequency` Hz; `None` for 0 Hz (an unprogrammed CNTFRQ_EL0).
    pub const fn new(frequency: u64) -> Option<Self> {
        if frequency == 0 {
            None
        } else {
            Some(Self {
                frequency,
                scale: crate::counter::Scale::new(frequency),
            })
        }
    }

    pub fn frequency(&self) -> u64 {
        self.frequency
    }
}

#[cfg(target_arch = "aarch64")]
mod sysreg {
    //! The counter and EL1 virtual timer registers. Every access is to this CPU's own timer and
    //! has no memory effects.

    /// CNTV_CTL_EL0 bits.
    pub const ENABLE: u64 = 1 << 0;
    pub const IMASK: u64 = 1 << 1;

    pub fn frequency() -> u64 {
        let v: u64;
        // SAFETY: reading CNTFRQ_EL0 is side-effect free and allowed at EL1.
        unsafe {
            core::arch::asm!("mrs {}, cntfrq_el0", out(reg) v, options(nomem, nostack, preserves_flags))
        };
        v & 0xffff_ffff
    }

    pub fn counter() -> u64 {
        let v: u64;
        // SAFETY: reading CNTVCT_EL0 is side-effect free; the isb keeps the read from being
        // hoisted above earlier instructions (so time read after an event is not stale).
        unsafe {
            core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) v, options(nomem, nostack, preserves_flags))
        };
        v
    }

    /// Programs the compare value and enables the timer with its interrupt unmasked.
    pub fn arm(compare: u64) {
        // SAFETY: writes only this CPU's EL1 virtual timer registers.
        unsafe {
            core::arch::asm!(
                "msr cntv_cval_el0, {cval}",
                "msr cntv_ctl_el0, {ctl}",
                "isb",
                cval = in(reg) compare,
                ctl = in(reg) ENABLE,
                options(nomem, nostack, preserves_flags)
            )
        };
    }

    /// Stops the timer: its (level-triggered) interrupt line drops.
    pub fn disarm() {
        // SAFETY: as in `arm`.
        unsafe {
            core::arch::asm!(
                "msr cntv_ctl_el0, {ctl}",
                "isb",
                ctl = in(reg) IMASK,
                options(nomem, nostack, preserves_flags)
            )
        };
    }
}

#[cfg(target_arch = "aarch64")]
impl GenericTimer {
    /// CNTFRQ_EL0 as the firmware programmed it (0 if it did not).
    pub fn counter_frequency() -> u64 {
        sysreg::frequency()
    }

    /// Brings the timer to a known state: disabled, no interrupt pending.
    pub fn init(&self) {
        sysreg::disarm();
    }

    /// The timer's interrupt handler: the deadline has passed, so the timer is stopped (its
    /// level-triggered line would otherwise fire again at once); the next `set_deadline` arms
    /// it again.
    pub fn handle_interrupt(&self) {
        sysreg::disarm();
    }
}

#[cfg(target_arch = "aarch64")]
impl hal::timer::Timer for GenericTimer {
    fn now_ns(&self) -> u64 {
        self.scale.ns(sysreg::counter())
    }

    fn set_deadline(&self, deadline_ns: u64) {
        sysreg::arm(ns_to_ticks(deadline_ns, self.frequency));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devicetree::tests::{VIRT_GICV2, VIRT_GICV3};

    #[test]
    fn conversions_at_common_frequencies() {
        // QEMU's older CPU models count at 62.5 MHz (16 ns per tick), newer ones at 1 GHz;
        // the Raspberry Pi 3/4 at 19.2 and 54 MHz.
        assert_eq!(ticks_to_ns(62_500_000, 62_500_000), 1_000_000_000);
        assert_eq!(ticks_to_ns(1, 62_500_000), 16);
        assert_eq!(ticks_to_ns(3, 19_200_000), 156);
        assert_eq!(
            ticks_to_ns(54_000_000 * 3600, 54_000_000),
            3600 * 1_000_000_000
        );
        assert_eq!(ns_to_ticks(16, 62_500_000), 1);
        assert_eq!(ns_to_ticks(17, 62_500_000), 2, "deadlines round up");
        assert_eq!(ns_to_ticks(10_000_000, 1_000_000_000), 10_000_000);
        assert_eq!(ns_to_ticks(0, 19_200_000), 0);
    }

    #[test]
    fn conversions_round_trip_without_firing_early() {
        for freq in [
            19_200_000u64,
            24_000_000,
            54_000_000,
            62_500_000,
            1_000_000_000,
        ] {
            for ns in [1u64, 999, 1_000_000, 123_456_789_012, 1 << 62] {
                let ticks = ns_to_ticks(ns, freq);
                assert!(
                    ticks_to_ns(ticks, freq) >= ns,
                    "{ns} ns at {freq} Hz fires early"
                );
                assert!(
                    ticks == 0 || ticks_to_ns(ticks - 1, freq) < ns,
                    "not the first tick"
                );
            }
        }
    }

    #[test]
    fn conversions_saturate_and_stay_monotonic() {
        assert_eq!(ns_to_ticks(u64::MAX, 1_000_000_000), u64::MAX);
        assert_eq!(ns_to_ticks(u64::MAX, 62_500_000), 1_152_921_504_606_846_976);
        assert_eq!(ticks_to_ns(u64::MAX, 19_200_000), u64::MAX);
        let mut last = 0;
        for t in (0..2_000_000u64).step_by(7) {
            let ns = ticks_to_ns(t, 19_200_000);
            assert!(ns >= last);
            last = ns;
        }
    }

    #[test]
    fn zero_frequency_is_refused() {
        assert!(GenericTimer::new(0).is_none());
        assert_eq!(
            GenericTimer::new(62_500_000).unwrap().frequency(),
            62_500_000
        );
    }

    #[test]
    fn the_virtual_timer_interrupt_comes_from_the_tree() {
        for dtb in [VIRT_GICV2, VIRT_GICV3] {
            let fdt = Fdt::new(dtb).unwrap();
            let node = probe(&fdt).unwrap();
            assert_eq!(node.virtual_interrupt.gic_intid(), Some(27));
            assert_eq!(node.clock_frequency, None);
        }
    }
}
