//! Cyphera on the Raspberry Pi 4 Model B (BCM2711; QEMU `-machine raspi4b`). A GIC-400 (the
//! GICv2 driver) takes the interrupts (the generic timer's as PPIs), the console is the PL011
//! (`serial0`), there is no PSCI: power-off is the PM watchdog's "halt" reset, and there is no
//! real-time clock. Every address comes from the device tree,
//! translated from the VideoCore bus (0x7e00_0000) and the ARM-local window (0x4000_0000)
//! through `/soc`'s `ranges`. Wiring only.
#![no_std]
#![no_main]

use board_dt::{DeviceTree, Region};
use core::ptr::NonNull;
use drivers::arm_generic_timer::GenericTimer;
use drivers::bcm2835_pm_wdt::Bcm2835PmWdt;
use drivers::gicv2::GicV2;
use drivers::pl011::Pl011;
use hal::boot::BootInfo;
use hal::irq::{IrqController, IrqNumber};
use kernel_core::Platform;
use spin::Once;

static UART: Once<Pl011> = Once::new();
static GIC: Once<GicV2> = Once::new();
static PM: Once<Bcm2835PmWdt> = Once::new();
static TIMER: Once<GenericTimer> = Once::new();

arch_aarch64::board_entry!(main);

/// Maps a register window as device memory in the kernel's direct map.
fn map(region: Option<Region>) -> Option<NonNull<u8>> {
    let Region { address, size } = region?;
    match arch_aarch64::map_device(address, size) {
        Ok(va) => NonNull::new(va as *mut u8),
        Err(e) => {
            log::warn!("cannot map MMIO {address:#x}+{size:#x}: {e:?}");
            None
        }
    }
}

/// The console: the PL011 (`serial0`; on real hardware `dtoverlay=disable-bt` puts it on GPIO
/// 14/15), else whatever PL011 `/chosen/stdout-path` or the tree offers first.
fn init_console(dt: &DeviceTree<'_>) -> Option<(&'static Pl011, Region)> {
    const PL011: &[&str] = &["arm,pl011"];
    let node = dt
        .find_path("serial0")
        .or_else(|| dt.stdout())
        .filter(|n| n.is_compatible(PL011))
        .or_else(|| dt.find_compatible(PL011))?;
    let region = node.reg(0)?;
    let regs = map(Some(region))?;
    // SAFETY: the tree's PL011, just mapped as device memory; only this driver uses it.
    let uart = UART.call_once(|| unsafe { Pl011::new(regs) });
    uart.init();
    Some((uart, region))
}

/// The GIC-400: distributor and CPU interface (the first two `reg` entries).
fn init_gic(dt: &DeviceTree<'_>) -> Option<&'static dyn IrqController> {
    let node = dt.find_compatible(drivers::gicv2::COMPATIBLE)?;
    let (gicd, gicc) = (node.reg(0)?, node.reg(1)?);
    let (gicd_regs, gicc_regs) = (map(Some(gicd))?, map(Some(gicc))?);
    // SAFETY: the tree's distributor and CPU interface, just mapped as device memory; only
    // this driver uses them.
    let gic = GIC.call_once(|| unsafe { GicV2::new(gicd_regs, gicc_regs) });
    gic.init();
    log::info!(
        "interrupts: GIC-400 distributor {:#x}, CPU interface {:#x}, {} interrupt IDs",
        gicd.address,
        gicc.address,
        gic.lines()
    );
    Some(gic)
}

/// Entry of the timer node's `interrupts` that is the EL1 virtual timer the generic-timer driver
/// uses (the binding's order: secure physical, non-secure physical, virtual, hypervisor).
const VIRTUAL_TIMER: usize = 2;

fn timer_interrupt(_irq: IrqNumber) {
    if let Some(timer) = TIMER.get() {
        timer.handle_interrupt();
    }
}

/// The EL1 virtual timer at CNTFRQ_EL0 (the firmware sets it), its PPI enabled at the GIC.
fn init_timer(dt: &DeviceTree<'_>, gic: bool) -> &'static GenericTimer {
    let frequency = GenericTimer::counter_frequency();
    let Some(timer) = GenericTimer::new(frequency) else {
        panic!("the generic timer has no frequency (CNTFRQ_EL0 is 0)");
    };
    let timer = TIMER.call_once(|| timer);
    timer.init();
    let intid = dt
        .find_compatible(&["arm,armv8-timer", "arm,armv7-timer"])
        .and_then(|n| n.interrupt(VIRTUAL_TIMER))
        .and_then(|i| i.gic_intid());
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

/// The PM block's watchdog: the Pi's only power control.
fn init_power(dt: &DeviceTree<'_>) -> Option<&'static Bcm2835PmWdt> {
    let node = dt.find_compatible(&["brcm,bcm2711-pm", "brcm,bcm2835-pm-wdt"])?;
    let regs = map(node.reg_named("pm").or_else(|| node.reg(0)))?;
    // SAFETY: the tree's PM registers, just mapped as device memory; only this driver uses them.
    Some(PM.call_once(|| unsafe { Bcm2835PmWdt::new(regs) }))
}

fn main(boot: &'static BootInfo) -> ! {
    let Some(dtb) = arch_aarch64::boot::device_tree(boot) else {
        panic!("booted without a device tree");
    };
    let dt = match DeviceTree::new(dtb) {
        Ok(dt) => dt,
        Err(e) => panic!("device tree: {e:?}"),
    };
    let Some((uart, uart_regs)) = init_console(&dt) else {
        panic!("no usable PL011 in the device tree");
    };
    kernel_core::console::init(uart);
    log::info!("machine: {}", dt.model());
    log::info!("console: PL011 at {:#x}", uart_regs.address);

    let gic = init_gic(&dt);
    match gic {
        Some(gic) => arch_aarch64::set_irq_controller(gic),
        None => log::warn!("no GIC-400 in the device tree"),
    }
    let timer = init_timer(&dt, gic.is_some());
    let Some(power) = init_power(&dt) else {
        panic!("no BCM2711 PM watchdog in the device tree: the board could not power off");
    };

    let initramfs = arch_aarch64::boot::initramfs(boot);
    kernel_core::start::<arch_aarch64::Aarch64>(
        boot,
        Platform {
            console: uart,
            power,
            initramfs,
            timer,
            // The Pi has no battery-backed clock: the wall clock starts at the epoch.
            rtc: None,
        },
    )
}
