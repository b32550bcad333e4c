//! Cyphera on QEMU's AArch64 `virt` machine. Every device comes from the device tree: the
//! PL011 console (`/chosen/stdout-path`, else the first "arm,pl011"), the GIC (v2 or v3 by
//! `compatible`), the generic timer's virtual timer (interrupt from the `/timer` node), the
//! PL031 wall clock, PSCI for power (`/psci`, conduit from `method`). Wiring only.
#![no_std]
#![no_main]

use core::ptr::NonNull;
use drivers::arm_generic_timer::{self, GenericTimer};
use drivers::gicv2::GicV2;
use drivers::gicv3::GicV3;
use drivers::pl011::Pl011;
use drivers::pl031::Pl031;
use drivers::psci::{self, Conduit, Psci};
use fdt::Fdt;
use hal::boot::BootInfo;
use hal::irq::{IrqController, IrqNumber};
use hal::power::Power;
use hal::rtc::Rtc;
use kernel_core::Platform;
use spin::Once;

static UART: Once<Pl011> = Once::new();
static GICV2: Once<GicV2> = Once::new();
static GICV3: Once<GicV3> = Once::new();
static TIMER: Once<GenericTimer> = Once::new();
static RTC: Once<Pl031> = Once::new();
static PSCI: Once<Psci> = Once::new();

arch_aarch64::board_entry!(main);

/// Maps MMIO for the drivers' device-tree probes: device memory in the kernel's direct map.
fn map(pa: u64, size: u64) -> Option<NonNull<u8>> {
    match arch_aarch64::map_device(pa, size) {
        Ok(va) => NonNull::new(va as *mut u8),
        Err(e) => {
            log::warn!("cannot map MMIO {pa:#x}+{size:#x}: {e:?}");
            None
        }
    }
}

/// Brings up the interrupt controller the tree describes.
fn init_gic(fdt: &Fdt<'_>) -> Option<&'static dyn IrqController> {
    // SAFETY: `map` maps the tree's register blocks as device memory, and each controller is
    // probed once and driven only through its static.
    if let Some((gic, gicd, gicr)) = unsafe { GicV3::from_device_tree(fdt, &map) } {
        let gic = GICV3.call_once(|| gic);
        gic.init();
        log::info!(
            "GICv3: distributor {:#x}, redistributors {:#x}+{:#x}, {} interrupt IDs",
            gicd.phys,
            gicr.phys,
            gicr.size,
            gic.lines()
        );
        return Some(gic);
    }
    // SAFETY: as above.
    if let Some((gic, gicd, gicc)) = unsafe { GicV2::from_device_tree(fdt, &map) } {
        let gic = GICV2.call_once(|| gic);
        gic.init();
        log::info!(
            "GICv2: distributor {:#x}, CPU interface {:#x}, {} interrupt IDs",
            gicd.phys,
            gicc.phys,
            gic.lines()
        );
        return Some(gic);
    }
    log::warn!("no supported interrupt controller in the device tree");
    None
}

fn timer_interrupt(_irq: IrqNumber) {
    if let Some(timer) = TIMER.get() {
        timer.handle_interrupt();
    }
}

/// The EL1 virtual timer: frequency from the `/timer` node's `clock-frequency` if the firmware
/// gave one (as Linux prefers it), else CNTFRQ_EL0; its interrupt from the node, routed
/// through the GIC when there is one.
fn init_timer(fdt: &Fdt<'_>, gic: bool) -> &'static GenericTimer {
    let node = arm_generic_timer::probe(fdt);
    let frequency = node
        .and_then(|n| n.clock_frequency)
        .unwrap_or_else(GenericTimer::counter_frequency);
    let Some(timer) = GenericTimer::new(frequency) else {
        panic!("the generic timer has no frequency (CNTFRQ_EL0 is 0 and the tree gives none)");
    };
    let timer = TIMER.call_once(|| timer);
    timer.init();
    let intid = node.and_then(|n| n.virtual_interrupt.gic_intid());
    match intid {
        Some(intid) if gic => match arch_aarch64::route_interrupt(intid, timer_interrupt) {
            Ok(()) => {
                log::info!("timer: generic timer (EL1 virtual), {frequency} Hz, INTID {intid}")
            }
            Err(e) => log::warn!("timer: cannot route INTID {intid}: {e:?}; no deadlines"),
        },
        _ => log::warn!("timer: no usable interrupt in the device tree; no deadlines"),
    }
    timer
}

fn init_rtc(fdt: &Fdt<'_>) -> Option<&'static dyn Rtc> {
    // SAFETY: `map` maps the PL031's registers as device memory; only this driver uses them.
    let rtc = unsafe { Pl031::from_device_tree(fdt, &map) }?;
    let rtc = RTC.call_once(|| rtc);
    log::info!("rtc: PL031, {:?} s since the epoch", rtc.unix_time());
    Some(rtc)
}

/// PSCI from `/psci`, if it has the standard (0.2+) function IDs.
fn find_psci(fdt: &Fdt<'_>) -> Option<&'static Psci> {
    let node = fdt.find_node("/psci")?;
    let standard = node
        .compatible()
        .is_some_and(|c| c.all().any(psci::compatible_has_standard_ids));
    let conduit = node
        .property("method")
        .and_then(|p| p.as_str())
        .and_then(Conduit::from_method)?;
    if !standard {
        log::warn!("PSCI 0.1 only: no SYSTEM_OFF");
        return None;
    }
    let psci = PSCI.call_once(|| Psci::new(conduit));
    let (major, minor) = psci.version();
    log::info!(
        "PSCI {major}.{minor} via {}",
        if conduit == Conduit::Hvc {
            "hvc"
        } else {
            "smc"
        }
    );
    Some(psci)
}

/// Power "control" when the tree offers none: stop the CPU.
struct Halt;

impl Power for Halt {
    fn power_off(&self, _status: u8) -> ! {
        halt()
    }
    fn reboot(&self) -> ! {
        halt()
    }
}

fn halt() -> ! {
    loop {
        core::hint::spin_loop();
    }
}

static HALT: Halt = Halt;

fn main(boot: &'static BootInfo) -> ! {
    let Some(dtb) = arch_aarch64::boot::device_tree(boot) else {
        panic!("booted without a device tree");
    };
    // Every path this board looks up is named, so that the tree is checked for them before the
    // `fdt` crate (which panics on some malformed trees) walks it.
    let lookups = arch_aarch64::dtb::Lookups {
        paths: &["/psci"],
        stdout_path: true,
    };
    let fdt = match arch_aarch64::dtb::parse_for(dtb, lookups) {
        Ok(fdt) => fdt,
        Err(e) => panic!("device tree: {e:?}"),
    };

    // SAFETY: `map` maps the console UART as device memory; only this driver uses it.
    let Some((uart, uart_mmio)) = (unsafe { Pl011::from_device_tree(&fdt, &map) }) else {
        panic!("no usable PL011 UART in the device tree");
    };
    let uart = UART.call_once(|| uart);
    uart.init();
    kernel_core::console::init(uart);

    let model = fdt
        .root()
        .property("model")
        .and_then(|p| p.as_str())
        .unwrap_or("unknown machine");
    log::info!("machine: {model}");
    log::info!("console: PL011 at {:#x}", uart_mmio.phys);

    let gic = init_gic(&fdt);
    if let Some(gic) = gic {
        arch_aarch64::set_irq_controller(gic);
    }
    let timer = init_timer(&fdt, gic.is_some());
    let rtc = init_rtc(&fdt);
    let power: &'static dyn Power = match find_psci(&fdt) {
        Some(psci) => psci,
        None => {
            log::warn!("no PSCI: power-off will halt the CPU");
            &HALT
        }
    };

    let initramfs = arch_aarch64::boot::initramfs(boot);
    kernel_core::start::<arch_aarch64::Aarch64>(
        boot,
        Platform {
            console: uart,
            power,
            initramfs,
            timer,
            rtc,
        },
    )
}
