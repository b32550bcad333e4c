//! x86 I/O-port access behind a small trait, so that the port-I/O drivers ([`crate::ns16550`],
//! [`crate::pc_power`]) talk to the CPU's ports on the machine and to a device model in tests.

/// Byte, word and doubleword access to I/O ports, plus stopping the CPU for good.
pub trait PortIo: Sync {
    fn read8(&self, port: u16) -> u8;
    fn write8(&self, port: u16, value: u8);
    fn write16(&self, port: u16, value: u16);
    fn write32(&self, port: u16, value: u32);
    /// Stops this CPU forever (interrupts off, `hlt`): what is left when the hardware did not
    /// react to a power-off or reset request.
    fn halt(&self) -> !;
}

/// The CPU's own I/O ports. Only drivers of this crate create it, from constructors whose
/// callers vouch for the device at the ports the driver will touch.
pub struct CpuPorts(());

impl CpuPorts {
    pub(crate) const fn new() -> Self {
        Self(())
    }
}

impl PortIo for CpuPorts {
    fn read8(&self, port: u16) -> u8 {
        // SAFETY: the driver that owns this value was constructed for a device at `port`
        // (its constructor's contract); reading its registers is what the driver is for.
        unsafe { x86_64::instructions::port::Port::new(port).read() }
    }
    fn write8(&self, port: u16, value: u8) {
        // SAFETY: as in `read8`.
        unsafe { x86_64::instructions::port::Port::new(port).write(value) }
    }
    fn write16(&self, port: u16, value: u16) {
        // SAFETY: as in `read8`.
        unsafe { x86_64::instructions::port::Port::new(port).write(value) }
    }
    fn write32(&self, port: u16, value: u32) {
        // SAFETY: as in `read8`.
        unsafe { x86_64::instructions::port::Port::new(port).write(value) }
    }
    fn halt(&self) -> ! {
        x86_64::instructions::interrupts::disable();
        loop {
            x86_64::instructions::hlt();
        }
    }
}
