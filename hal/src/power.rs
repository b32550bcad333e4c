//! Ending the machine: power-off carries an exit status so that test harnesses (QEMU's
//! isa-debug-exit, semihosting, or a console marker) can report how the system ended.

pub trait Power: Sync {
    /// Powers the machine off. `status` is init's exit status (0 = success); boards that can pass
    /// it to the host (e.g. QEMU isa-debug-exit) do so. Must not return; if the hardware refuses,
    /// the implementation halts the CPU forever.
    fn power_off(&self, status: u8) -> !;
    /// Resets the machine.
    fn reboot(&self) -> !;
}
