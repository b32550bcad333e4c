//! Cyphera on QEMU's AArch64 `virt` machine. Every device comes from the device tree: the
//! PL011 console (`/chosen/stdout-path`, else the first "arm,pl011"), the GIC (v2 or v3 by
//! `compatible`), PSCI for power (`/psci`, conduit from `method`). Wiring only.
#![no_std]
#![no_main]

use core::ptr::NonNull;
use drivers::gicv2::GicV2;
use drivers::gicv3::GicV3;
use drivers::pl011::Pl011;
use drivers::psci::{self, Conduit, Psci};
use fdt::Fdt;
use fdt::node::FdtNode;
use hal::boot::BootInfo;
use hal::irq::IrqController;
use hal::power::Power;
use kernel_core::Platform;
use spin::Once;

static UART: Once<Pl011> = Once::new();
static GICV2: Once<GicV2> = Once::new();
static GICV3: Once<GicV3> = Once::new();
static PSCI: Once<Psci> = Once::new();

arch_aarch64::board_entry!(main);

/// `(physical address, size)` of a node's `reg` entry `index`.
fn reg(node: &FdtNode<'_, '_>, index: usize) -> Option<(u64, u64)> {
    let r = node.reg()?.nth(index)?;
    Some((r.starting_address as u64, r.size? as u64))
}

/// Maps `reg` entry `index` of `node` as device memory; returns its virtual address.
fn map(node: &FdtNode<'_, '_>, index: usize) -> Option<(NonNull<u8>, u64, u64)> {
    let (pa, size) = reg(node, index)?;
    match arch_aarch64::map_device(pa, size) {
        Ok(va) => Some((NonNull::new(va as *mut u8)?, pa, size)),
        Err(e) => {
            log::warn!("{}: cannot map {pa:#x}+{size:#x}: {e:?}", node.name);
            None
        }
    }
}

fn is_compatible(node: &FdtNode<'_, '_>, with: &str) -> bool {
    node.compatible()
        .is_some_and(|c| c.all().any(|s| s == with))
}

/// The console UART: `/chosen/stdout-path` (options after ':' dropped) if it is a PL011, else
/// the first PL011 in the tree.
fn find_uart<'b, 'a>(fdt: &'b Fdt<'a>) -> Option<FdtNode<'b, 'a>> {
    let from_chosen = fdt
        .find_node("/chosen")
        .and_then(|c| c.property("stdout-path"))
        .and_then(|p| p.as_str())
        .and_then(|path| path.split(':').next())
        .and_then(|path| fdt.find_node(path))
        .filter(|n| is_compatible(n, "arm,pl011"));
    from_chosen.or_else(|| fdt.find_compatible(&["arm,pl011"]))
}

/// Brings up the interrupt controller the tree describes; returns a description for the log.
fn init_gic(fdt: &Fdt<'_>) -> Option<&'static dyn IrqController> {
    if let Some(node) = fdt.find_compatible(&["arm,gic-v3"]) {
        let (gicd, gicd_pa, _) = map(&node, 0)?;
        let (gicr, gicr_pa, gicr_len) = map(&node, 1)?;
        // SAFETY: the distributor and redistributor region of the tree's GICv3, just mapped as
        // device memory; nothing else drives them.
        let gic = GICV3.call_once(|| unsafe { GicV3::new(gicd, gicr, gicr_len as usize) });
        gic.init();
        log::info!(
            "GICv3: distributor {gicd_pa:#x}, redistributors {gicr_pa:#x}+{gicr_len:#x}, {} interrupt IDs",
            gic.lines()
        );
        return Some(gic);
    }
    let v2 = [
        "arm,cortex-a15-gic",
        "arm,gic-400",
        "arm,cortex-a9-gic",
        "arm,cortex-a7-gic",
    ];
    if let Some(node) = fdt.find_compatible(&v2) {
        let (gicd, gicd_pa, _) = map(&node, 0)?;
        let (gicc, gicc_pa, _) = map(&node, 1)?;
        // SAFETY: the tree's GICv2 distributor and CPU interface, just mapped as device memory.
        let gic = GICV2.call_once(|| unsafe { GicV2::new(gicd, gicc) });
        gic.init();
        log::info!(
            "GICv2: distributor {gicd_pa:#x}, CPU interface {gicc_pa:#x}, {} interrupt IDs",
            gic.lines()
        );
        return Some(gic);
    }
    log::warn!("no supported interrupt controller in the device tree");
    None
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
    let fdt = match Fdt::new(dtb) {
        Ok(fdt) => fdt,
        Err(e) => panic!("device tree: {e:?}"),
    };

    let Some(uart_node) = find_uart(&fdt) else {
        panic!("no PL011 UART in the device tree");
    };
    let Some((uart_base, uart_pa, _)) = map(&uart_node, 0) else {
        panic!("PL011 {} has no usable reg", uart_node.name);
    };
    // SAFETY: the tree's console PL011, just mapped as device memory; only this driver uses it.
    let uart = UART.call_once(|| unsafe { Pl011::new(uart_base) });
    uart.init();
    kernel_core::console::init(uart);

    let model = fdt
        .root()
        .property("model")
        .and_then(|p| p.as_str())
        .unwrap_or("unknown machine");
    log::info!("machine: {model}");
    log::info!("console: PL011 at {uart_pa:#x} ({})", uart_node.name);

    if let Some(gic) = init_gic(&fdt) {
        arch_aarch64::set_irq_controller(gic);
    }
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
        },
    )
}
