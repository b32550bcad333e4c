//! Broadcom BCM2835 ARM interrupt controller (`brcm,bcm2835-armctrl-ic` /
//! `brcm,bcm2836-armctrl-ic`; BCM2835 ARM Peripherals §7): the GPU-side controller that gathers
//! the SoC peripherals' interrupts (UARTs, system timer, DMA, USB, ...). On the BCM2835 it drives
//! the ARM core's IRQ directly; on the BCM2836/7 it is chained behind
//! [`crate::bcm2836_local_intc`].
//!
//! Interrupt numbers are the device tree's (Linux's `irq-bcm2835.c`): bank × 32 + bit, bank 0 the
//! eight ARM-side sources of the basic registers, banks 1 and 2 GPU interrupts 0..31 and 32..63.
//! All sources are level-triggered at their device, so there is nothing to end here.

use core::ptr::NonNull;
use hal::irq::{IrqController, IrqNumber};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_structs! {
    /// The controller's registers (the device tree's `reg`, 0x200 into the block at 0x7e00b000).
    pub ArmctrlRegisters {
        (0x00 => pending_basic: ReadOnly<u32>),
        (0x04 => pending: [ReadOnly<u32>; 2]),
        (0x0c => fiq_control: ReadWrite<u32>),
        (0x10 => enable: [WriteOnly<u32>; 2]),
        (0x18 => enable_basic: WriteOnly<u32>),
        (0x1c => disable: [WriteOnly<u32>; 2]),
        (0x24 => disable_basic: WriteOnly<u32>),
        (0x28 => @END),
    }
}

/// Size of the register block to map.
pub const MMIO_SIZE: u64 = 0x28;

/// The ARM-side sources in the basic registers (bank 0): timer, mailbox, doorbells, GPU halts,
/// illegal accesses. The basic register's higher bits are summaries and GPU shortcuts.
const BANK0_MASK: u32 = 0xff;

/// Interrupts in the three banks.
pub const LINES: IrqNumber = 96;

pub struct Bcm2835ArmctrlIc {
    regs: NonNull<ArmctrlRegisters>,
}

// SAFETY: enable and disable are separate write-one registers, pending registers are read-only:
// every access is a single volatile operation that cannot race destructively.
unsafe impl Sync for Bcm2835ArmctrlIc {}
// SAFETY: the pointer names device memory, not thread-local data.
unsafe impl Send for Bcm2835ArmctrlIc {}

impl Bcm2835ArmctrlIc {
    /// # Safety
    /// `base` must be the kernel virtual address of the controller's registers ([`MMIO_SIZE`]
    /// bytes, mapped as device memory), driven by nothing else, valid for as long as the driver
    /// is used.
    pub const unsafe fn new(base: NonNull<u8>) -> Self {
        Self { regs: base.cast() }
    }

    fn regs(&self) -> &ArmctrlRegisters {
        // SAFETY: `new`'s contract.
        unsafe { self.regs.as_ref() }
    }

    /// The interrupt number for a device-tree specifier `<bank bit>`, if it names a line.
    pub fn from_specifier(bank: u32, bit: u32) -> Option<IrqNumber> {
        (bank < 3 && bit < 32 && (bank != 0 || bit < 8)).then_some(bank * 32 + bit)
    }
}

impl IrqController for Bcm2835ArmctrlIc {
    fn init(&self) {
        let regs = self.regs();
        regs.fiq_control.set(0);
        regs.disable_basic.set(u32::MAX);
        regs.disable[0].set(u32::MAX);
        regs.disable[1].set(u32::MAX);
    }

    fn enable(&self, irq: IrqNumber) {
        let regs = self.regs();
        match irq / 32 {
            0 => regs.enable_basic.set((1 << irq) & BANK0_MASK),
            1 | 2 => regs.enable[(irq / 32 - 1) as usize].set(1 << (irq % 32)),
            _ => {}
        }
    }

    fn disable(&self, irq: IrqNumber) {
        let regs = self.regs();
        match irq / 32 {
            0 => regs.disable_basic.set((1 << irq) & BANK0_MASK),
            1 | 2 => regs.disable[(irq / 32 - 1) as usize].set(1 << (irq % 32)),
            _ => {}
        }
    }

    fn acknowledge(&self) -> Option<IrqNumber> {
        // The pending registers show enabled sources only. The basic register's summary and
        // shortcut bits are not needed: banks 1 and 2 are read directly (lowest number first).
        let regs = self.regs();
        let basic = regs.pending_basic.get() & BANK0_MASK;
        if basic != 0 {
            return Some(basic.trailing_zeros());
        }
        for bank in 0..2 {
            let bits = regs.pending[bank].get();
            if bits != 0 {
                return Some(32 * (bank as u32 + 1) + bits.trailing_zeros());
            }
        }
        None
    }

    fn end_of_interrupt(&self, _irq: IrqNumber) {
        // Level-triggered sources: the device's handler clears the cause.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        _mem: Box<[u32; 10]>,
        base: *mut u32,
        ic: Bcm2835ArmctrlIc,
    }

    impl Fake {
        fn new() -> Self {
            let mut mem = Box::new([0u32; 10]);
            let base = mem.as_mut_ptr();
            // SAFETY: the block is as large as the register set and outlives the driver.
            let ic = unsafe { Bcm2835ArmctrlIc::new(NonNull::new(base.cast()).unwrap()) };
            Self {
                _mem: mem,
                base,
                ic,
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

    #[test]
    fn init_disables_every_bank() {
        let f = Fake::new();
        f.ic.init();
        assert_eq!((f.get(0x1c), f.get(0x20), f.get(0x24)), (!0, !0, !0));
    }

    #[test]
    fn enable_and_disable_pick_the_bank_register() {
        let f = Fake::new();
        f.ic.enable(1);
        assert_eq!(f.get(0x18), 1 << 1);
        f.ic.enable(32 + 29); // the mini UART (AUX, GPU interrupt 29)
        assert_eq!(f.get(0x10), 1 << 29);
        f.ic.enable(64 + 25); // the PL011 (GPU interrupt 57)
        assert_eq!(f.get(0x14), 1 << 25);
        f.ic.disable(64 + 25);
        assert_eq!(f.get(0x20), 1 << 25);
        f.ic.disable(9); // bank 0 has only 8 sources
        assert_eq!(f.get(0x24), 0);
        f.ic.enable(500);
    }

    #[test]
    fn acknowledge_returns_the_lowest_pending_line() {
        let f = Fake::new();
        assert_eq!(f.ic.acknowledge(), None);
        f.set(0x08, 1 << 25);
        assert_eq!(f.ic.acknowledge(), Some(89));
        f.set(0x04, 1 << 29);
        assert_eq!(f.ic.acknowledge(), Some(61));
        f.set(0x00, (1 << 9) | (1 << 3));
        assert_eq!(f.ic.acknowledge(), Some(3));
        f.set(0x00, 1 << 19); // a shortcut bit alone: bank 1 is read anyway
        assert_eq!(f.ic.acknowledge(), Some(61));
    }

    #[test]
    fn specifiers() {
        assert_eq!(Bcm2835ArmctrlIc::from_specifier(1, 29), Some(61));
        assert_eq!(Bcm2835ArmctrlIc::from_specifier(2, 25), Some(89));
        assert_eq!(Bcm2835ArmctrlIc::from_specifier(0, 8), None);
        assert_eq!(Bcm2835ArmctrlIc::from_specifier(3, 0), None);
    }
}
