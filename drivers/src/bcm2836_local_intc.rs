//! Broadcom BCM2836 "ARM local" interrupt controller (`brcm,bcm2836-l1-intc`; Quad-A7 control
//! document QA7_rev3.4): the per-core controller of the BCM2836/BCM2837 (Raspberry Pi 2 and 3),
//! which have no GIC. It takes each core's four generic-timer outputs, four mailboxes and the PMU,
//! plus one line from the GPU's interrupt controller ([`crate::bcm2835_armctrl_ic`]), which it
//! cascades: that controller's interrupts appear here as [`CHAINED_BASE`] + its number.
//!
//! Interrupt numbers are the device tree's (Linux's `irq-bcm2836.c`): 0 CNTPS, 1 CNTPNS,
//! 2 CNTHP, 3 CNTV (the generic timers), 4..=7 mailboxes 0..3, 8 the GPU cascade, 9 the PMU.
//! Single-CPU use: everything is routed to and read from core 0.

use core::ptr::NonNull;
use hal::irq::{IrqController, IrqNumber};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_structs! {
    pub LocalIntcRegisters {
        (0x00 => control: ReadWrite<u32>),
        (0x04 => _reserved0),
        (0x08 => core_timer_prescaler: ReadWrite<u32>),
        (0x0c => gpu_routing: ReadWrite<u32>),
        (0x10 => pmu_routing_set: WriteOnly<u32>),
        (0x14 => pmu_routing_clear: WriteOnly<u32>),
        (0x18 => _reserved1),
        (0x40 => timer_control: [ReadWrite<u32>; 4]),
        (0x50 => mailbox_control: [ReadWrite<u32>; 4]),
        (0x60 => irq_source: [ReadOnly<u32>; 4]),
        (0x70 => fiq_source: [ReadOnly<u32>; 4]),
        (0x80 => @END),
    }
}

/// Size of the register block to map (the device tree says 0x100).
pub const MMIO_SIZE: u64 = 0x100;

/// The generic timers' interrupt numbers (and their bit in the core's timer control register).
pub const CNTPS_IRQ: IrqNumber = 0;
pub const CNTPNS_IRQ: IrqNumber = 1;
pub const CNTHP_IRQ: IrqNumber = 2;
pub const CNTV_IRQ: IrqNumber = 3;
/// Mailbox 0's interrupt; mailboxes 1..3 follow.
pub const MAILBOX0_IRQ: IrqNumber = 4;
/// The cascade from the GPU's interrupt controller.
pub const GPU_IRQ: IrqNumber = 8;
pub const PMU_IRQ: IrqNumber = 9;
/// Interrupt `n` of the chained controller is number `CHAINED_BASE + n` here.
pub const CHAINED_BASE: IrqNumber = 32;

/// The core everything is routed to.
const CORE: usize = 0;

pub struct Bcm2836LocalIntc {
    regs: NonNull<LocalIntcRegisters>,
    /// The GPU's controller, behind [`GPU_IRQ`].
    chained: Option<&'static dyn IrqController>,
}

// SAFETY: the driver performs single volatile register accesses; the per-core enable registers
// it read-modify-writes are only touched by the one CPU the kernel runs on, with interrupts
// masked, so concurrent use cannot corrupt state.
unsafe impl Sync for Bcm2836LocalIntc {}
// SAFETY: the pointer names device memory, not thread-local data.
unsafe impl Send for Bcm2836LocalIntc {}

impl Bcm2836LocalIntc {
    /// # Safety
    /// `base` must be the kernel virtual address of the controller's registers
    /// ([`MMIO_SIZE`] bytes, mapped as device memory), driven by nothing else, valid for as long
    /// as the driver is used.
    pub const unsafe fn new(
        base: NonNull<u8>,
        chained: Option<&'static dyn IrqController>,
    ) -> Self {
        Self {
            regs: base.cast(),
            chained,
        }
    }

    fn regs(&self) -> &LocalIntcRegisters {
        // SAFETY: `new`'s contract.
        unsafe { self.regs.as_ref() }
    }

    /// Sets or clears `bit` of a per-core enable register.
    fn update(reg: &ReadWrite<u32>, bit: u32, on: bool) {
        let value = reg.get();
        reg.set(if on { value | bit } else { value & !bit });
    }

    fn set_enabled(&self, irq: IrqNumber, on: bool) {
        let regs = self.regs();
        match irq {
            CNTPS_IRQ..=CNTV_IRQ => Self::update(&regs.timer_control[CORE], 1 << irq, on),
            4..=7 => Self::update(&regs.mailbox_control[CORE], 1 << (irq - MAILBOX0_IRQ), on),
            // Bit 0 routes the PMU interrupt to core 0's IRQ input.
            PMU_IRQ if on => regs.pmu_routing_set.set(1 << CORE),
            PMU_IRQ => regs.pmu_routing_clear.set(1 << CORE),
            n if n >= CHAINED_BASE => {
                if let Some(chained) = self.chained {
                    if on {
                        chained.enable(n - CHAINED_BASE);
                    } else {
                        chained.disable(n - CHAINED_BASE);
                    }
                }
            }
            // The GPU cascade line itself is always routed (see `init`); anything else does
            // not exist.
            _ => {}
        }
    }
}

impl IrqController for Bcm2836LocalIntc {
    fn init(&self) {
        let regs = self.regs();
        for core in 0..4 {
            regs.timer_control[core].set(0);
            regs.mailbox_control[core].set(0);
        }
        regs.pmu_routing_clear.set(0xff);
        // GPU interrupts to core 0's IRQ (bits 1:0) and FIQ (bits 3:2) inputs; the GPU
        // controller itself decides what is enabled.
        regs.gpu_routing.set(0);
        if let Some(chained) = self.chained {
            chained.init();
        }
    }

    fn enable(&self, irq: IrqNumber) {
        self.set_enabled(irq, true);
    }

    fn disable(&self, irq: IrqNumber) {
        self.set_enabled(irq, false);
    }

    fn acknowledge(&self) -> Option<IrqNumber> {
        // The sources are level-triggered at the device: nothing is latched here, so reading
        // the source register is the whole acknowledgement. Lowest number first.
        let pending = self.regs().irq_source[CORE].get();
        for irq in 0..=PMU_IRQ {
            if pending & (1 << irq) == 0 {
                continue;
            }
            if irq == GPU_IRQ {
                match self.chained.and_then(|c| c.acknowledge()) {
                    Some(n) => return n.checked_add(CHAINED_BASE),
                    None => continue,
                }
            }
            return Some(irq);
        }
        None
    }

    fn end_of_interrupt(&self, irq: IrqNumber) {
        // Local sources are cleared at the device (timer reprogrammed, mailbox cleared); only
        // the cascade may need telling.
        if irq >= CHAINED_BASE
            && let Some(chained) = self.chained
        {
            chained.end_of_interrupt(irq - CHAINED_BASE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A chained controller that records what it is asked.
    struct Child {
        log: Mutex<Vec<(&'static str, IrqNumber)>>,
        pending: Mutex<Option<IrqNumber>>,
    }

    impl IrqController for Child {
        fn init(&self) {
            self.log.lock().unwrap().push(("init", 0));
        }
        fn enable(&self, irq: IrqNumber) {
            self.log.lock().unwrap().push(("enable", irq));
        }
        fn disable(&self, irq: IrqNumber) {
            self.log.lock().unwrap().push(("disable", irq));
        }
        fn acknowledge(&self) -> Option<IrqNumber> {
            *self.pending.lock().unwrap()
        }
        fn end_of_interrupt(&self, irq: IrqNumber) {
            self.log.lock().unwrap().push(("eoi", irq));
        }
    }

    struct Fake {
        _mem: Box<[u32; 0x40]>,
        base: *mut u32,
        intc: Bcm2836LocalIntc,
        child: &'static Child,
    }

    impl Fake {
        fn new() -> Self {
            let child: &'static Child = Box::leak(Box::new(Child {
                log: Mutex::new(Vec::new()),
                pending: Mutex::new(None),
            }));
            let mut mem = Box::new([0u32; 0x40]);
            let base = mem.as_mut_ptr();
            // SAFETY: the block is as large as the register set and outlives the driver.
            let intc =
                unsafe { Bcm2836LocalIntc::new(NonNull::new(base.cast()).unwrap(), Some(child)) };
            Self {
                _mem: mem,
                base,
                intc,
                child,
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
    fn init_masks_local_sources_routes_the_gpu_to_core0_and_inits_the_cascade() {
        let f = Fake::new();
        f.set(0x40, 0xf);
        f.set(0x54, 0x3);
        f.set(0x0c, 0x3);
        f.intc.init();
        assert_eq!(f.get(0x40), 0);
        assert_eq!(f.get(0x54), 0);
        assert_eq!(f.get(0x0c), 0);
        assert_eq!(f.get(0x14), 0xff);
        assert_eq!(f.child.log.lock().unwrap()[..], [("init", 0)]);
    }

    #[test]
    fn timers_and_mailboxes_are_enabled_per_bit() {
        let f = Fake::new();
        f.intc.enable(CNTPNS_IRQ);
        f.intc.enable(CNTV_IRQ);
        assert_eq!(f.get(0x40), 0b1010);
        f.intc.disable(CNTPNS_IRQ);
        assert_eq!(f.get(0x40), 0b1000);
        f.intc.enable(MAILBOX0_IRQ + 3);
        assert_eq!(f.get(0x50), 0b1000);
        f.intc.enable(PMU_IRQ);
        assert_eq!(f.get(0x10), 1);
        f.intc.enable(CHAINED_BASE + 57);
        f.intc.disable(CHAINED_BASE + 1);
        f.intc.enable(20); // no such source: ignored
        assert_eq!(
            f.child.log.lock().unwrap()[..],
            [("enable", 57), ("disable", 1)]
        );
    }

    #[test]
    fn acknowledge_reads_the_source_and_follows_the_cascade() {
        let f = Fake::new();
        assert_eq!(f.intc.acknowledge(), None);
        f.set(0x60, 1 << CNTV_IRQ);
        assert_eq!(f.intc.acknowledge(), Some(CNTV_IRQ));
        f.set(0x60, 1 << GPU_IRQ);
        assert_eq!(f.intc.acknowledge(), None, "cascade with nothing pending");
        *f.child.pending.lock().unwrap() = Some(61);
        assert_eq!(f.intc.acknowledge(), Some(CHAINED_BASE + 61));
        f.set(0x60, (1 << GPU_IRQ) | (1 << CNTPNS_IRQ));
        assert_eq!(f.intc.acknowledge(), Some(CNTPNS_IRQ), "lowest first");
        f.intc.end_of_interrupt(CNTPNS_IRQ);
        f.intc.end_of_interrupt(CHAINED_BASE + 61);
        assert_eq!(f.child.log.lock().unwrap()[..], [("eoi", 61)]);
    }
}
