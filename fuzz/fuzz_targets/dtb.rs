//! Fuzz target: the device-tree gate (`arch_aarch64::dtb::parse` / `parse_for`) and everything
//! the kernel does with an accepted tree: the boot path's memory and `/chosen` reads, the memory
//! map, the qemu-virt board's lookups and the drivers' device-tree helpers. The raw input is a
//! DTB and an edit script over QEMU's `virt` tree. A panic inside the `fdt` crate on a tree the
//! gate accepted is a gap in the gate.
#![no_main]

use arch_aarch64::dtb::{self, Lookups};
use arch_aarch64::memmap::{self, MemoryFacts};
use core::ptr::NonNull;
use cyphera_fuzz::edit;
use drivers::{arm_generic_timer, devicetree};
use fdt::Fdt;
use hal::boot::{BootInfo, BootProtocol};
use libfuzzer_sys::fuzz_target;

const VIRT: &[u8] = include_bytes!("../../arch/aarch64/testdata/qemu-virt-512m.dtb");
const BOARD: Lookups<'static> = Lookups {
    paths: &["/psci"],
    stdout_path: true,
};

fn boot_path(fdt: &Fdt<'_>) {
    let mut facts = MemoryFacts::default();
    let _ = dtb::collect_memory(fdt, &mut facts);
    let mut boot = BootInfo::new(BootProtocol::LinuxArm64Image);
    memmap::build(&mut boot, &facts);
    for pair in boot.memory_map().windows(2) {
        assert!(pair[0].range.end() <= pair[1].range.start);
    }
    let chosen = dtb::chosen(fdt);
    boot.set_command_line(chosen.bootargs);
    for node in fdt.all_nodes() {
        let _ = node.properties().count();
        let _ = node.reg().map(|r| r.count());
        let _ = devicetree::is_enabled(&node);
        let _ = devicetree::reg(&node, 0);
    }
    let _ = fdt.root().property("model");
    let _ = fdt.memory_reservations().count();
    for with in [
        &["arm,pl031"][..],
        &["arm,gic-v3"],
        &["arm,gic-400", "arm,cortex-a15-gic"],
    ] {
        // As the drivers probe: the first compatible node's registers and interrupts (interrupts
        // of every node would make each run quadratic in the tree's size).
        if let Some(node) = devicetree::find_compatible(fdt, with) {
            let _ = devicetree::map_reg(&node, 1, &|_, _| Some(NonNull::dangling()));
            let _ = devicetree::interrupt(fdt, &node, 0);
        }
    }
    let _ = arm_generic_timer::probe(fdt);
}

fn board(fdt: &Fdt<'_>) {
    if let Some(psci) = fdt.find_node("/psci") {
        let _ = psci.compatible().map(|c| c.all().count());
        let _ = psci.property("method").and_then(|p| p.as_str());
    }
    if let Some(uart) = devicetree::stdout_node(fdt, &["arm,pl011"]) {
        let _ = devicetree::map_reg(&uart, 0, &|_, _| Some(NonNull::dangling()));
    }
}

fn check(bytes: &[u8]) {
    let _ = dtb::total_size(bytes);
    if let Ok(fdt) = dtb::parse(bytes) {
        boot_path(&fdt);
    }
    if let Ok(fdt) = dtb::parse_for(bytes, BOARD) {
        board(&fdt);
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    check(&edit(VIRT, data));
});
