//! Broadcom BCM2835 power-management watchdog (`brcm,bcm2835-pm-wdt`, also the BCM2711's
//! `brcm,bcm2711-pm`): the only way a Raspberry Pi turns itself off or resets, there being no
//! PSCI. Reset arms the watchdog with a short timeout and requests a full reset. Power-off is
//! the same reset with the boot partition set to 63, which the Pi's firmware (and QEMU's
//! `bcm2835_powermgt`) takes to mean "halt": the board stays off instead of rebooting, and
//! QEMU exits.
//!
//! The exit status cannot travel this way; tooling reads it from the console marker.

use core::ptr::NonNull;
use hal::power::Power;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::ReadWrite;

register_structs! {
    /// The watchdog's part of the PM block (`reg` entry "pm").
    pub PmRegisters {
        (0x00 => _reserved0),
        (0x1c => rstc: ReadWrite<u32>),
        (0x20 => rsts: ReadWrite<u32>),
        (0x24 => wdog: ReadWrite<u32>),
        (0x28 => @END),
    }
}

/// Size of the register block to map.
pub const MMIO_SIZE: u64 = 0x28;

/// Every write must carry this in bits 31:24 or the block ignores it.
const PASSWORD: u32 = 0x5a00_0000;
/// RSTC: the reset-configuration field, and its "full reset" value.
const RSTC_WRCFG_MASK: u32 = 0x30;
const RSTC_WRCFG_FULL_RESET: u32 = 0x20;
/// RSTS: the boot partition number, spread over the even bits 0..=10, and partition 63 (all of
/// them), the firmware's "halt" request.
const RSTS_PARTITION_MASK: u32 = 0x555;
const RSTS_PARTITION_HALT: u32 = 0x555;
/// Watchdog ticks (about 16 µs each) before the reset: short, but long enough for the writes to
/// land, as Linux's bcm2835_wdt uses.
const RESET_TICKS: u32 = 10;
const WDOG_TIME_MASK: u32 = 0x000f_ffff;

pub struct Bcm2835PmWdt {
    regs: NonNull<PmRegisters>,
}

// SAFETY: the registers are device memory accessed with single volatile operations, and they
// are only written on the way down (power-off or reset), after which nothing else runs.
unsafe impl Sync for Bcm2835PmWdt {}
// SAFETY: the pointer names device memory, not thread-local data.
unsafe impl Send for Bcm2835PmWdt {}

impl Bcm2835PmWdt {
    /// # Safety
    /// `base` must be the kernel virtual address of the PM block's registers ([`MMIO_SIZE`]
    /// bytes, mapped as device memory), driven by nothing else, valid for as long as the driver
    /// is used.
    pub const unsafe fn new(base: NonNull<u8>) -> Self {
        Self { regs: base.cast() }
    }

    fn regs(&self) -> &PmRegisters {
        // SAFETY: `new`'s contract.
        unsafe { self.regs.as_ref() }
    }

    /// Records the partition to boot from next (0 = normal, 63 = stay halted).
    fn set_partition(&self, partition_bits: u32) {
        let regs = self.regs();
        let rsts = regs.rsts.get() & !(RSTS_PARTITION_MASK | 0xff00_0000);
        regs.rsts.set(PASSWORD | rsts | partition_bits);
    }

    /// Arms the watchdog and requests a full reset when it fires.
    fn trigger(&self) {
        let regs = self.regs();
        regs.wdog.set(PASSWORD | (RESET_TICKS & WDOG_TIME_MASK));
        let rstc = regs.rstc.get() & !(RSTC_WRCFG_MASK | 0xff00_0000);
        regs.rstc.set(PASSWORD | rstc | RSTC_WRCFG_FULL_RESET);
    }
}

fn halt() -> ! {
    loop {
        #[cfg(target_arch = "aarch64")]
        // SAFETY: `wfe` only waits for an event (the watchdog fires meanwhile); it touches no
        // memory or registers.
        unsafe {
            core::arch::asm!("wfe", options(nomem, nostack, preserves_flags))
        };
        core::hint::spin_loop();
    }
}

impl Power for Bcm2835PmWdt {
    fn power_off(&self, _status: u8) -> ! {
        self.set_partition(RSTS_PARTITION_HALT);
        self.trigger();
        halt()
    }

    fn reboot(&self) -> ! {
        self.set_partition(0);
        self.trigger();
        halt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        _mem: Box<[u32; 10]>,
        base: *mut u32,
        pm: Bcm2835PmWdt,
    }

    impl Fake {
        fn new() -> Self {
            let mut mem = Box::new([0u32; 10]);
            let base = mem.as_mut_ptr();
            // SAFETY: the block is as large as the register set and outlives the driver.
            let pm = unsafe { Bcm2835PmWdt::new(NonNull::new(base.cast()).unwrap()) };
            Self {
                _mem: mem,
                base,
                pm,
            }
        }
        fn get(&self, offset: usize) -> u32 {
            // SAFETY: in bounds of the fake block.
            unsafe { self.base.add(offset / 4).read_volatile() }
        }
        fn set(&self, offset: usize, value: u32) {
            // SAFETY: in bounds of the fake block.
            unsafe { self.base.add(offset / 4).write_volatile(value) }
        }
    }

    /// The two steps of `power_off` (it cannot be called: it never returns).
    #[test]
    fn power_off_marks_partition_63_then_resets_with_the_password() {
        let f = Fake::new();
        f.set(0x1c, 0x102); // RSTC at reset
        f.set(0x20, 0x1000 | 0x014); // RSTS with another partition recorded
        f.pm.set_partition(RSTS_PARTITION_HALT);
        assert_eq!(f.get(0x20), PASSWORD | 0x1000 | 0x555);
        f.pm.trigger();
        assert_eq!(f.get(0x24), PASSWORD | 10);
        assert_eq!(f.get(0x1c), PASSWORD | 0x102 | 0x20);
    }

    #[test]
    fn reboot_clears_the_partition() {
        let f = Fake::new();
        f.set(0x20, 0x1555);
        f.set(0x1c, 0x10); // a stale WRCFG value is replaced
        f.pm.set_partition(0);
        assert_eq!(f.get(0x20), PASSWORD | 0x1000);
        f.pm.trigger();
        assert_eq!(f.get(0x1c), PASSWORD | 0x20);
    }
}
