//! Cyphera on QEMU's x86_64 `pc` machine: the i440FX host bridge with the PIIX3 ISA bridge and
//! the PIIX4 power-management function (QEMU's default x86 machine, older than `q35`). The same
//! PC drivers as on q35, found the same way: COM1 as the console, isa-debug-exit / ACPI for
//! power, the local APIC and the I/O APIC of the ACPI MADT for interrupts (every source masked),
//! the TSC and the APIC timer (calibrated against the PIT) as the clock, the CMOS RTC as the
//! wall clock. What differs from q35 is found, not assumed: the ACPI tables, the PM block's
//! chip. Wiring only.
#![no_std]
#![no_main]

use drivers::acpi::{Acpi, Madt};
use drivers::apic::ApicInterrupts;
use drivers::cmos_rtc::CmosRtc;
use drivers::i8254::Pit;
use drivers::lapic::{Lapic, LapicTimer};
use drivers::ns16550::Ns16550;
use drivers::pc_power::{PcPower, PcPowerPorts};
use hal::boot::BootInfo;
use hal::irq::IrqController;
use hal::rtc::Rtc;
use kernel_core::Platform;
use spin::Once;

// SAFETY: a PC's COM1 is a 16550 at 0x3f8 (or absent, which the driver detects).
static COM1: Ns16550 = unsafe { Ns16550::new(0x3f8) };

// SAFETY: on QEMU `pc`, 0xf4 is the isa-debug-exit device xtask adds (or nothing); 0x604 is
// PM1a_CNT of the PIIX4 PM function, whose I/O base (PMBA) SeaBIOS programs to 0x600 (ICH9's on
// q35 sits at the same address, placed by a different chip); QEMU's DSDT gives \_S5 SLP_TYP 0.
static POWER: PcPower = unsafe {
    PcPower::new(PcPowerPorts {
        debug_exit: Some(0xf4),
        pm1a_control: Some(0x604),
        s5_sleep_type: 0,
    })
};

// SAFETY: every PC has the PIT's channel 2 and system control port B; only the timer
// calibration uses them.
static PIT: Pit = unsafe { Pit::new() };

static LAPIC: Once<Lapic> = Once::new();
static INTERRUPTS: Once<ApicInterrupts> = Once::new();
static TIMER: Once<LapicTimer> = Once::new();
static RTC: Once<CmosRtc> = Once::new();

arch_x86_64::board_entry!(main);

/// Physical memory through the direct map, for the ACPI tables.
fn read_physical(phys: u64, buf: &mut [u8]) -> bool {
    arch_x86_64::boot::read_physical(phys, buf)
}

/// The MADT and the RTC century register, if the firmware's ACPI tables are usable.
fn acpi(boot: &BootInfo) -> (Option<Madt>, Option<u8>) {
    let acpi = match Acpi::new(&read_physical, boot.acpi_rsdp) {
        Ok(acpi) => acpi,
        Err(e) => {
            log::warn!("acpi: {e:?}; no IOAPIC, RTC century assumed 20");
            return (None, None);
        }
    };
    let madt = acpi
        .madt()
        .inspect_err(|e| log::warn!("acpi: MADT: {e:?}"))
        .ok();
    let century = acpi.rtc_century_register().unwrap_or(None);
    (madt, century)
}

fn main(boot: &'static BootInfo) -> ! {
    COM1.init();
    kernel_core::console::init(&COM1);

    let (madt, century) = acpi(boot);
    // SAFETY: the one CPU's local APIC, driven only through this static.
    let lapic = match unsafe { Lapic::new(arch_x86_64::boot::direct_map) } {
        Ok(lapic) => LAPIC.call_once(|| lapic),
        Err(e) => panic!("local APIC: {e:?}"),
    };
    // SAFETY: the MADT is this machine's; its IOAPICs are driven only through this static.
    let interrupts = INTERRUPTS
        .call_once(|| unsafe { ApicInterrupts::new(lapic, madt, arch_x86_64::boot::direct_map) });
    interrupts.init();
    let timer = match LapicTimer::calibrate(lapic, &PIT) {
        Ok(timer) => TIMER.call_once(|| timer),
        Err(e) => panic!("timer calibration: {e:?}"),
    };
    interrupts.set_timer(timer);
    arch_x86_64::set_irq_controller(interrupts);
    log::info!(
        "interrupts: local APIC {} (id {}), {} IOAPIC(s) with {} inputs, all masked",
        if lapic.is_x2apic() { "x2APIC" } else { "xAPIC" },
        lapic.id(),
        interrupts.ioapics().count(),
        interrupts.ioapics().map(|io| io.pins()).sum::<u32>()
    );
    log::info!(
        "timer: TSC {} kHz, APIC timer {} kHz (divide 16)",
        timer.tsc_hz() / 1000,
        timer.apic_timer_hz() / 1000
    );

    // SAFETY: ports 0x70/0x71 are the CMOS on every PC; only this driver uses them.
    let rtc = RTC.call_once(|| unsafe { CmosRtc::new(century) });
    log::info!("rtc: CMOS, {:?} s since the epoch", rtc.unix_time());

    let initramfs = arch_x86_64::boot::initramfs(boot);
    kernel_core::start::<arch_x86_64::X86_64>(
        boot,
        Platform {
            console: &COM1,
            power: &POWER,
            initramfs,
            timer,
            rtc: Some(rtc as &'static dyn Rtc),
        },
    )
}
