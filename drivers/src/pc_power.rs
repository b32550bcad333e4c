//! Powering a PC off and resetting it, as a [`hal::power::Power`]: QEMU's `isa-debug-exit`
//! device (the exit status reaches the host), then ACPI soft-off through the PM1a control
//! register, and for reset the 0xCF9 reset control register with the 8042 keyboard
//! controller's reset line as the fallback. Whatever does not react, the CPU halts.

use crate::port_io::{CpuPorts, PortIo};
use hal::power::Power;

/// PM1 control register: SLP_EN starts the sleep state selected by SLP_TYP (bits 10..13).
const PM1_SLEEP_ENABLE: u16 = 1 << 13;
const PM1_SLEEP_TYPE_SHIFT: u16 = 10;
/// The reset control register of PC chipsets (PIIX, ICH): bit 1 = reset, bit 2 = full reset.
const RESET_CONTROL: u16 = 0xcf9;
const RESET_SYSTEM: u8 = 0x02;
const RESET_FULL: u8 = 0x06;
/// The 8042 keyboard controller's command port; command 0xfe pulses the CPU reset line.
const KBC_COMMAND: u16 = 0x64;
const KBC_PULSE_RESET: u8 = 0xfe;

/// Where a PC's power controls are.
#[derive(Clone, Copy, Debug)]
pub struct PcPowerPorts {
    /// QEMU `-device isa-debug-exit,iobase=...` port, if the machine has one: writing `v` makes
    /// QEMU exit with status `(v << 1) | 1`.
    pub debug_exit: Option<u16>,
    /// ACPI PM1a control block port (FADT `PM1a_CNT_BLK`; 0x604 on QEMU q35, 0xb004 on i440fx).
    pub pm1a_control: Option<u16>,
    /// SLP_TYPa of the \_S5 (soft-off) state from the DSDT (0 on QEMU).
    pub s5_sleep_type: u8,
}

pub struct PcPower<P: PortIo = CpuPorts> {
    io: P,
    ports: PcPowerPorts,
}

impl PcPower<CpuPorts> {
    /// # Safety
    /// The ports in `ports`, 0xcf9 and 0x64 must be those devices (or nothing) on this
    /// machine: writing to them is only harmless if they are.
    pub const unsafe fn new(ports: PcPowerPorts) -> Self {
        Self {
            io: CpuPorts::new(),
            ports,
        }
    }
}

impl<P: PortIo> PcPower<P> {
    pub const fn with_io(io: P, ports: PcPowerPorts) -> Self {
        Self { io, ports }
    }
}

impl<P: PortIo> Power for PcPower<P> {
    fn power_off(&self, status: u8) -> ! {
        if let Some(port) = self.ports.debug_exit {
            self.io.write32(port, status as u32);
        }
        if let Some(port) = self.ports.pm1a_control {
            let sleep_type = (self.ports.s5_sleep_type as u16 & 0x7) << PM1_SLEEP_TYPE_SHIFT;
            self.io.write16(port, sleep_type | PM1_SLEEP_ENABLE);
        }
        self.io.halt()
    }

    fn reboot(&self) -> ! {
        self.io.write8(RESET_CONTROL, RESET_SYSTEM);
        self.io.write8(RESET_CONTROL, RESET_FULL);
        self.io.write8(KBC_COMMAND, KBC_PULSE_RESET);
        self.io.halt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::Mutex;

    /// Records every port write; `halt` unwinds so the test can look at what came before.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<(u16, u32, u8)>>);

    impl PortIo for Recorder {
        fn read8(&self, _: u16) -> u8 {
            unreachable!("power control only writes")
        }
        fn write8(&self, port: u16, value: u8) {
            self.0.lock().unwrap().push((port, value as u32, 8));
        }
        fn write16(&self, port: u16, value: u16) {
            self.0.lock().unwrap().push((port, value as u32, 16));
        }
        fn write32(&self, port: u16, value: u32) {
            self.0.lock().unwrap().push((port, value, 32));
        }
        fn halt(&self) -> ! {
            panic!("halted")
        }
    }

    fn writes(ports: PcPowerPorts, f: impl FnOnce(&PcPower<Recorder>)) -> Vec<(u16, u32, u8)> {
        let power = PcPower::with_io(Recorder::default(), ports);
        let halted = catch_unwind(AssertUnwindSafe(|| f(&power)));
        assert!(halted.is_err(), "must end in halt");
        power.io.0.into_inner().unwrap()
    }

    const Q35: PcPowerPorts = PcPowerPorts {
        debug_exit: Some(0xf4),
        pm1a_control: Some(0x604),
        s5_sleep_type: 0,
    };

    #[test]
    fn power_off_tries_debug_exit_then_acpi_then_halts() {
        let w = writes(Q35, |p| p.power_off(3));
        assert_eq!(w, vec![(0xf4, 3, 32), (0x604, 0x2000, 16)]);
    }

    #[test]
    fn sleep_type_goes_into_bits_10_to_12() {
        let ports = PcPowerPorts {
            debug_exit: None,
            pm1a_control: Some(0xb004),
            s5_sleep_type: 5,
        };
        assert_eq!(
            writes(ports, |p| p.power_off(0)),
            vec![(0xb004, 0x2000 | (5 << 10), 16)]
        );
    }

    #[test]
    fn reboot_uses_cf9_then_the_keyboard_controller() {
        let w = writes(Q35, |p| p.reboot());
        assert_eq!(w, vec![(0xcf9, 2, 8), (0xcf9, 6, 8), (0x64, 0xfe, 8)]);
    }
}
