//! Cyphera on the Raspberry Pi 3 Model B (BCM2837; QEMU `-machine raspi3b`). No GIC and no
//! PSCI: interrupts go through the BCM2836 per-core controller with the BCM2835 ARM controller
//! cascaded behind it (the generic timer's virtual timer is the per-core controller's source 3),
//! the console is the mini UART `/chosen/stdout-path` names, power-off is the PM watchdog's
//! "halt" reset, and there is no real-time clock. Every address comes from the device tree,
//! translated from the VideoCore bus (0x7e00_0000) through `/soc`'s `ranges`. Wiring only.
#![no_std]
#![no_main]

use board_dt::{DeviceTree, Region};
use core::ptr::NonNull;
use drivers::arm_generic_timer::GenericTimer;
use drivers::bcm2835_armctrl_ic::Bcm2835ArmctrlIc;
use drivers::bcm2835_aux_uart::Bcm2835AuxUart;
use drivers::bcm2835_pm_wdt::Bcm2835PmWdt;
use drivers::bcm2836_local_intc::{self, Bcm2836LocalIntc};
use hal::boot::BootInfo;
use hal::irq::{IrqController, IrqNumber};
use kernel_core::Platform;
use spin::Once;

static UART: Once<Bcm2835AuxUart> = Once::new();
static ARMCTRL: Once<Bcm2835ArmctrlIc> = Once::new();
static LOCAL_INTC: Once<Bcm2836LocalIntc> = Once::new();
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

/// The console: the mini UART that `/chosen/stdout-path` names (`serial1`), else the first one.
fn init_console<'a>(dt: &DeviceTree<'a>) -> Option<(&'static Bcm2835AuxUart, Region, &'a str)> {
    const MINI_UART: &[&str] = &["brcm,bcm2835-aux-uart"];
    let node = dt
        .stdout()
        .filter(|n| n.is_compatible(MINI_UART))
        .or_else(|| dt.find_compatible(MINI_UART))?;
    let region = node.reg(0)?;
    let regs = map(Some(region))?;
    // The enable bit lives in the auxiliary block the UART shares with two SPI masters.
    let aux = dt
        .find_compatible(&["brcm,bcm2835-aux"])
        .and_then(|a| map(a.reg(0)));
    // SAFETY: both windows are the tree's, just mapped as device memory; only this driver uses
    // the UART, and it touches only its own enable bit in the shared block.
    let uart = UART.call_once(|| unsafe { Bcm2835AuxUart::new(regs, aux) });
    uart.init();
    Some((uart, region, node.name()))
}

/// The per-core controller with the ARM controller cascaded behind it.
fn init_interrupts(dt: &DeviceTree<'_>) -> Option<&'static dyn IrqController> {
    let local = dt.find_compatible(&["brcm,bcm2836-l1-intc"])?.reg(0);
    let gpu = dt.find_compatible(&["brcm,bcm2836-armctrl-ic"])?.reg(0);
    let (local_regs, gpu_regs) = (map(local)?, map(gpu)?);
    // SAFETY: the tree's controller registers, just mapped as device memory; each driver is
    // created once and is the only user of its block.
    let armctrl = ARMCTRL.call_once(|| unsafe { Bcm2835ArmctrlIc::new(gpu_regs) });
    // SAFETY: as above.
    let intc = LOCAL_INTC.call_once(|| unsafe { Bcm2836LocalIntc::new(local_regs, Some(armctrl)) });
    intc.init();
    log::info!(
        "interrupts: BCM2836 local controller at {:#x}, BCM2835 ARM controller at {:#x} behind it",
        local.map_or(0, |r| r.address),
        gpu.map_or(0, |r| r.address)
    );
    Some(intc)
}

/// Entry of the timer node's `interrupts` that is the EL1 virtual timer the generic-timer driver
/// uses (the binding's order: secure physical, non-secure physical, virtual, hypervisor).
const VIRTUAL_TIMER: usize = 2;

fn timer_interrupt(_irq: IrqNumber) {
    if let Some(timer) = TIMER.get() {
        timer.handle_interrupt();
    }
}

/// The EL1 virtual timer at CNTFRQ_EL0 (the firmware sets it), its interrupt enabled at the
/// per-core controller: the tree's timer specifier `<3 flags>` is that controller's source 3.
fn init_timer(dt: &DeviceTree<'_>, interrupts: bool) -> &'static GenericTimer {
    let frequency = GenericTimer::counter_frequency();
    let Some(timer) = GenericTimer::new(frequency) else {
        panic!("the generic timer has no frequency (CNTFRQ_EL0 is 0)");
    };
    let timer = TIMER.call_once(|| timer);
    timer.init();
    let irq = dt
        .find_compatible(&["arm,armv8-timer", "arm,armv7-timer"])
        .and_then(|n| n.interrupt(VIRTUAL_TIMER))
        .filter(|i| i.controller.is_compatible(&["brcm,bcm2836-l1-intc"]))
        .and_then(|i| i.cells().first().copied())
        .filter(|&irq| irq <= bcm2836_local_intc::CNTV_IRQ);
    match irq {
        Some(irq) if interrupts => match arch_aarch64::route_interrupt(irq, timer_interrupt) {
            Ok(()) => {
                log::info!("timer: generic timer (EL1 virtual), {frequency} Hz, local source {irq}")
            }
            Err(e) => log::warn!("timer: cannot route local source {irq}: {e:?}; no deadlines"),
        },
        _ => log::warn!("timer: no usable interrupt in the device tree; no deadlines"),
    }
    timer
}

/// The PM block's watchdog: the Pi's only power control.
fn init_power(dt: &DeviceTree<'_>) -> Option<&'static Bcm2835PmWdt> {
    let node = dt.find_compatible(&["brcm,bcm2835-pm-wdt", "brcm,bcm2835-pm"])?;
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
    let Some((uart, uart_regs, uart_name)) = init_console(&dt) else {
        panic!("no usable mini UART in the device tree");
    };
    kernel_core::console::init(uart);
    log::info!("machine: {}", dt.model());
    log::info!(
        "console: BCM2835 mini UART at {:#x} ({}), baud divisor {}",
        uart_regs.address,
        uart_name,
        uart.baud_divisor()
    );

    let intc = init_interrupts(&dt);
    match intc {
        Some(intc) => arch_aarch64::set_irq_controller(intc),
        None => log::warn!("no BCM2836 interrupt controllers in the device tree"),
    }
    let timer = init_timer(&dt, intc.is_some());
    let Some(power) = init_power(&dt) else {
        panic!("no BCM2835 PM watchdog in the device tree: the board could not power off");
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
