//! An interrupt controller (GICv2/v3, IOAPIC+LAPIC, 8259 PIC, BCM2836 local controller, ...).

/// A controller-specific interrupt number (GIC INTID, IOAPIC input, ...).
pub type IrqNumber = u32;

pub trait IrqController: Sync {
    /// Brings the controller to a known state with every source masked.
    fn init(&self);
    fn enable(&self, irq: IrqNumber);
    fn disable(&self, irq: IrqNumber);
    /// Acknowledges the highest-priority pending interrupt and returns its number, or `None` for
    /// a spurious interrupt.
    fn acknowledge(&self) -> Option<IrqNumber>;
    /// Signals end of handling for `irq`.
    fn end_of_interrupt(&self, irq: IrqNumber);
}
