//! Flattened-device-tree probing helpers shared by the drivers' `from_device_tree`
//! constructors and the ARM boards: find a node by `compatible`, read and map its `reg`
//! entries, decode its `interrupts`. Pure parsing (host-tested); mapping MMIO is the caller's
//! business, passed in as a [`MapMmio`] function so drivers stay independent of the arch crate.
//!
//! The `fdt` crate (0.1.5) panics on malformed trees, and [`stdout_node`]'s lookup by path can
//! panic even on a sound one (NOP tokens in a node it steps over). Hand these helpers only a tree
//! that `arch_aarch64::dtb::parse_for` accepted with `stdout_path: true` (as
//! `drivers/tests/devicetree.rs` does): it replays exactly these lookups first.

use core::ptr::NonNull;
use fdt::Fdt;
use fdt::node::FdtNode;

/// Maps `size` bytes of MMIO at physical address `pa` as device memory and returns the kernel
/// virtual address of `pa` (on AArch64: `arch_aarch64::map_device`), or `None` if it cannot.
pub type MapMmio<'m> = &'m dyn Fn(u64, u64) -> Option<NonNull<u8>>;

/// A mapped `reg` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mmio {
    /// Kernel virtual address of the first register.
    pub base: NonNull<u8>,
    /// Physical address and size from the tree.
    pub phys: u64,
    pub size: u64,
}

/// True when one of the node's `compatible` strings is `with`.
pub fn is_compatible(node: &FdtNode<'_, '_>, with: &str) -> bool {
    node.compatible()
        .is_some_and(|c| c.all().any(|s| s == with))
}

/// False for nodes whose `status` says they are not usable ("disabled", "fail", ...).
pub fn is_enabled(node: &FdtNode<'_, '_>) -> bool {
    node.property("status")
        .and_then(|p| p.as_str())
        .is_none_or(|s| s == "okay" || s == "ok")
}

/// The first enabled node compatible with any of `with`.
pub fn find_compatible<'b, 'a>(fdt: &'b Fdt<'a>, with: &[&str]) -> Option<FdtNode<'b, 'a>> {
    fdt.all_nodes().find(|n| {
        is_enabled(n)
            && n.compatible()
                .is_some_and(|c| c.all().any(|s| with.contains(&s)))
    })
}

/// `(physical address, size)` of `reg` entry `index`. Addresses are taken as they appear: buses
/// whose `ranges` translate addresses are not followed.
pub fn reg(node: &FdtNode<'_, '_>, index: usize) -> Option<(u64, u64)> {
    let r = node.reg()?.nth(index)?;
    Some((r.starting_address as u64, r.size? as u64))
}

/// Maps `reg` entry `index` of `node` with `map`.
pub fn map_reg(node: &FdtNode<'_, '_>, index: usize, map: MapMmio<'_>) -> Option<Mmio> {
    let (phys, size) = reg(node, index)?;
    if size == 0 {
        return None;
    }
    let base = map(phys, size)?;
    Some(Mmio { base, phys, size })
}

/// The node's interrupt parent: its own `interrupt-parent`, else the root's (how QEMU's `virt`
/// and the Raspberry Pi trees name their controller). Intermediate ancestors are not searched.
pub fn interrupt_parent<'b, 'a>(
    fdt: &'b Fdt<'a>,
    node: &FdtNode<'b, 'a>,
) -> Option<FdtNode<'b, 'a>> {
    let phandle = node
        .property("interrupt-parent")
        .or_else(|| fdt.find_node("/")?.property("interrupt-parent"))?;
    fdt.find_phandle(u32::from_be_bytes(phandle.value.try_into().ok()?))
}

/// One interrupt specifier: the raw cells of one `interrupts` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterruptSpec {
    cells: [u32; Self::MAX_CELLS],
    len: usize,
}

impl InterruptSpec {
    /// Largest `#interrupt-cells` understood.
    pub const MAX_CELLS: usize = 4;

    pub fn cells(&self) -> &[u32] {
        &self.cells[..self.len]
    }

    /// The GIC interrupt ID of a specifier in the Arm GIC binding (`#interrupt-cells = 3`:
    /// type, number, flags): SPI n is INTID 32 + n, PPI n is INTID 16 + n.
    pub fn gic_intid(&self) -> Option<u32> {
        match *self.cells() {
            [0, n, _] if n < 988 => Some(32 + n),
            [1, n, _] if n < 16 => Some(16 + n),
            _ => None,
        }
    }
}

/// Entry `index` of the node's `interrupts` property, split by the interrupt parent's
/// `#interrupt-cells`.
pub fn interrupt(fdt: &Fdt<'_>, node: &FdtNode<'_, '_>, index: usize) -> Option<InterruptSpec> {
    let parent = interrupt_parent(fdt, node)?;
    let cells = parent.interrupt_cells()?;
    if cells == 0 || cells > InterruptSpec::MAX_CELLS {
        return None;
    }
    let raw = node.property("interrupts")?.value;
    let entry = raw.chunks_exact(4 * cells).nth(index)?;
    let mut spec = InterruptSpec {
        cells: [0; InterruptSpec::MAX_CELLS],
        len: cells,
    };
    for (cell, bytes) in spec.cells.iter_mut().zip(entry.chunks_exact(4)) {
        *cell = u32::from_be_bytes(bytes.try_into().ok()?);
    }
    Some(spec)
}

/// The console node: `/chosen/stdout-path` (an alias or a path, options after ':' dropped) if it
/// is compatible with any of `with`, else the first enabled node compatible with any of them.
pub fn stdout_node<'b, 'a>(fdt: &'b Fdt<'a>, with: &[&str]) -> Option<FdtNode<'b, 'a>> {
    let from_chosen = fdt
        .find_node("/chosen")
        .and_then(|c| c.property("stdout-path"))
        .and_then(|p| p.as_str())
        .and_then(|path| path.split(':').next())
        .and_then(|path| fdt.find_node(path))
        .filter(|n| with.iter().any(|w| is_compatible(n, w)));
    from_chosen.or_else(|| find_compatible(fdt, with))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// QEMU 10 `virt` device trees (GICv2 with 512 MiB, GICv3 with 2 GiB), as dumped by
    /// `-machine dumpdtb`.
    pub const VIRT_GICV2: &[u8] = include_bytes!("../../arch/aarch64/testdata/qemu-virt-512m.dtb");
    pub const VIRT_GICV3: &[u8] =
        include_bytes!("../../arch/aarch64/testdata/qemu-virt-gicv3-2g.dtb");

    #[test]
    fn finds_and_maps_the_uart() {
        let fdt = Fdt::new(VIRT_GICV2).unwrap();
        let node = stdout_node(&fdt, &["arm,pl011"]).unwrap();
        assert!(is_compatible(&node, "arm,primecell"));
        assert_eq!(reg(&node, 0), Some((0x900_0000, 0x1000)));
        assert_eq!(reg(&node, 1), None);
        let fake = NonNull::<u64>::dangling().cast::<u8>();
        let seen = core::cell::Cell::new((0, 0));
        let map = |pa: u64, size: u64| {
            seen.set((pa, size));
            Some(fake)
        };
        let mmio = map_reg(&node, 0, &map).unwrap();
        assert_eq!(
            (mmio.phys, mmio.size, mmio.base),
            (0x900_0000, 0x1000, fake)
        );
        assert_eq!(seen.get(), (0x900_0000, 0x1000));
        assert_eq!(map_reg(&node, 0, &|_, _| None), None);
    }

    #[test]
    fn decodes_gic_interrupt_specifiers() {
        for dtb in [VIRT_GICV2, VIRT_GICV3] {
            let fdt = Fdt::new(dtb).unwrap();
            let timer = find_compatible(&fdt, &["arm,armv8-timer"]).unwrap();
            // Secure, non-secure physical, virtual, hypervisor timers: PPIs 13, 14, 11, 10.
            let ids: Vec<_> = (0..4)
                .map(|i| interrupt(&fdt, &timer, i).unwrap().gic_intid())
                .collect();
            assert_eq!(ids, [Some(29), Some(30), Some(27), Some(26)]);
            assert_eq!(interrupt(&fdt, &timer, 4), None);
            let rtc = find_compatible(&fdt, &["arm,pl031"]).unwrap();
            let spec = interrupt(&fdt, &rtc, 0).unwrap();
            assert_eq!(spec.cells(), [0, 2, 4]);
            assert_eq!(spec.gic_intid(), Some(34));
        }
    }

    #[test]
    fn odd_specifiers_have_no_gic_id() {
        let spec = |cells: &[u32]| {
            let mut s = InterruptSpec {
                cells: [0; 4],
                len: cells.len(),
            };
            s.cells[..cells.len()].copy_from_slice(cells);
            s
        };
        assert_eq!(spec(&[1, 16, 4]).gic_intid(), None);
        assert_eq!(spec(&[2, 1, 4]).gic_intid(), None);
        assert_eq!(spec(&[0, 1]).gic_intid(), None);
        assert_eq!(spec(&[0, 987, 4]).gic_intid(), Some(1019));
    }

    #[test]
    fn missing_nodes_are_none() {
        let fdt = Fdt::new(VIRT_GICV2).unwrap();
        assert!(find_compatible(&fdt, &["brcm,bcm2835-aux-uart"]).is_none());
        assert!(stdout_node(&fdt, &["ns16550a"]).is_none());
    }
}
