//! Cyphera on QEMU's x86_64 `q35` machine: COM1 as the console, isa-debug-exit / ACPI for
//! power, the x86_64 arch underneath. Wiring only.
#![no_std]
#![no_main]

use drivers::ns16550::Ns16550;
use drivers::pc_power::{PcPower, PcPowerPorts};
use hal::boot::BootInfo;
use kernel_core::Platform;

// SAFETY: a PC's COM1 is a 16550 at 0x3f8 (or absent, which the driver detects).
static COM1: Ns16550 = unsafe { Ns16550::new(0x3f8) };

// SAFETY: on QEMU q35, 0xf4 is the isa-debug-exit device xtask adds (or nothing), 0x604 is the
// ICH9 PM1a control register and \_S5 has SLP_TYP 0.
static POWER: PcPower = unsafe {
    PcPower::new(PcPowerPorts {
        debug_exit: Some(0xf4),
        pm1a_control: Some(0x604),
        s5_sleep_type: 0,
    })
};

arch_x86_64::board_entry!(main);

fn main(boot: &'static BootInfo) -> ! {
    COM1.init();
    let initramfs = arch_x86_64::boot::initramfs(boot);
    kernel_core::start::<arch_x86_64::X86_64>(
        boot,
        Platform {
            console: &COM1,
            power: &POWER,
            initramfs,
        },
    )
}
