//! The PC's APIC interrupt system as one [`IrqController`]: the CPU's local APIC (which takes
//! and acknowledges every interrupt, and owns the timer) and the I/O APICs listed in the ACPI
//! MADT (which route external inputs to it).
//!
//! Interrupt numbers are global system interrupts (GSIs) for external inputs, delivered on
//! vector [`GSI_VECTOR_BASE`] + GSI; interrupts local to the APIC get numbers from
//! [`LOCAL_IRQ_BASE`] + vector, the timer being [`LAPIC_TIMER_IRQ`].

use crate::acpi::{MAX_IOAPICS, Madt, Signalling};
use crate::ioapic::{IoApic, Redirection};
use crate::lapic::{Lapic, LapicTimer, TIMER_VECTOR};
use hal::irq::{IrqController, IrqNumber};
use spin::Once;

/// GSI g arrives on vector 0x30 + g (Linux's ISA_IRQ_VECTOR(0) is 0x30 too); 0x20..0x2f stay
/// with the (masked) 8259 PICs.
pub const GSI_VECTOR_BASE: u8 = 0x30;
/// GSIs that have a vector: 0x30..0xe0, below the APIC timer's.
pub const GSI_COUNT: u32 = 0xe0 - GSI_VECTOR_BASE as u32;
/// Interrupts of the local APIC itself are numbered from here (above any GSI).
pub const LOCAL_IRQ_BASE: IrqNumber = 0x8000_0000;
pub const LAPIC_TIMER_IRQ: IrqNumber = LOCAL_IRQ_BASE + TIMER_VECTOR as IrqNumber;

pub struct ApicInterrupts {
    lapic: &'static Lapic,
    ioapics: [Option<IoApic>; MAX_IOAPICS],
    /// Interrupt source overrides, for the signalling of each GSI.
    madt: Option<Madt>,
    timer: Once<&'static LapicTimer>,
}

impl ApicInterrupts {
    /// The local APIC plus the I/O APICs named by `madt`, each mapped (uncached) by `map`
    /// (physical address, length → virtual address); an IOAPIC `map` cannot reach is skipped.
    ///
    /// # Safety
    /// The MADT must describe this machine (its IOAPIC addresses are programmed), and no other
    /// driver may program those IOAPICs.
    pub unsafe fn new(
        lapic: &'static Lapic,
        madt: Option<Madt>,
        map: impl Fn(u64, u64) -> Option<u64>,
    ) -> Self {
        let mut ioapics = [const { None }; MAX_IOAPICS];
        if let Some(madt) = &madt {
            for (slot, entry) in ioapics.iter_mut().zip(madt.ioapics()) {
                if let Some(base) = map(entry.address, 0x20) {
                    // SAFETY: the MADT names an IOAPIC there (caller's contract), `map` gave
                    // an uncached mapping of its registers, and nothing else drives it.
                    *slot = Some(unsafe { IoApic::new(base, entry.gsi_base) });
                }
            }
        }
        Self {
            lapic,
            ioapics,
            madt,
            timer: Once::new(),
        }
    }

    /// Routes the APIC timer's interrupts to `timer` (which re-arms deadlines the counter could
    /// not reach in one go).
    pub fn set_timer(&self, timer: &'static LapicTimer) {
        self.timer.call_once(|| timer);
    }

    pub fn ioapics(&self) -> impl Iterator<Item = &IoApic> {
        self.ioapics.iter().flatten()
    }

    /// The GSI that ISA IRQ `irq` (e.g. 4 for COM1) arrives on.
    pub fn isa_irq(&self, irq: u8) -> IrqNumber {
        self.madt
            .as_ref()
            .map_or(u32::from(irq), |m| m.isa_irq(irq).0)
    }

    fn signalling(&self, gsi: u32) -> Signalling {
        match &self.madt {
            Some(m) => m.gsi_signalling(gsi),
            None if gsi < 16 => Signalling::ISA,
            None => Signalling::PCI,
        }
    }

    fn find(&self, gsi: u32) -> Option<(&IoApic, u32)> {
        self.ioapics()
            .find_map(|io| io.pin_of(gsi).map(|pin| (io, pin)))
    }
}

/// The interrupt number of a vector the local APIC reports in service.
pub fn irq_of_vector(vector: u8) -> IrqNumber {
    let v = u32::from(vector);
    if (u32::from(GSI_VECTOR_BASE)..u32::from(GSI_VECTOR_BASE) + GSI_COUNT).contains(&v) {
        v - u32::from(GSI_VECTOR_BASE)
    } else {
        LOCAL_IRQ_BASE + v
    }
}

impl IrqController for ApicInterrupts {
    fn init(&self) {
        self.lapic.init();
        for io in self.ioapics() {
            io.mask_all();
        }
    }

    fn enable(&self, irq: IrqNumber) {
        if irq >= GSI_COUNT {
            // Local sources are enabled by their own drivers (the timer by `set_deadline`).
            return;
        }
        let Some((io, pin)) = self.find(irq) else {
            log::warn!("apic: no IOAPIC input for GSI {irq}");
            return;
        };
        io.set(
            pin,
            Redirection {
                vector: GSI_VECTOR_BASE + irq as u8,
                destination_apic: self.lapic.id() as u8,
                signalling: self.signalling(irq),
                masked: false,
            },
        );
    }

    fn disable(&self, irq: IrqNumber) {
        if irq == LAPIC_TIMER_IRQ {
            self.lapic.timer_stop();
        } else if let Some((io, pin)) = self.find(irq) {
            io.mask(pin);
        }
    }

    fn acknowledge(&self) -> Option<IrqNumber> {
        // The CPU already took the vector from the APIC; the one being serviced is the highest
        // in-service bit (interrupts never nest: the kernel runs with them disabled). The
        // spurious vector sets no in-service bit, so it acknowledges as `None`.
        self.lapic.in_service().map(irq_of_vector)
    }

    fn end_of_interrupt(&self, irq: IrqNumber) {
        self.lapic.end_of_interrupt();
        if irq == LAPIC_TIMER_IRQ
            && let Some(timer) = self.timer.get()
        {
            timer.handle_interrupt();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_and_numbers() {
        assert_eq!(irq_of_vector(0x30), 0);
        assert_eq!(irq_of_vector(0x34), 4);
        assert_eq!(irq_of_vector(0xdf), 0xaf);
        assert_eq!(irq_of_vector(TIMER_VECTOR), LAPIC_TIMER_IRQ);
        assert_eq!(irq_of_vector(0xe0), LOCAL_IRQ_BASE + 0xe0);
        const { assert!(LAPIC_TIMER_IRQ >= GSI_COUNT) };
    }
}
