//! What the boot path needs from the flattened device tree: RAM (`/memory` nodes), memory the
//! firmware keeps (`/reserved-memory`, the memreserve block) and `/chosen` (bootargs, initrd).
//! Device discovery is the board's business, not this module's.

use crate::memmap::MemoryFacts;
use fdt::Fdt;
use hal::boot::{MemoryKind, PhysRange};

/// The boot-relevant `/chosen` facts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Chosen<'a> {
    /// `bootargs` without its terminating NUL (empty if absent).
    pub bootargs: &'a [u8],
    /// `[linux,initrd-start, linux,initrd-end)`, if both are present and well-ordered.
    pub initrd: Option<PhysRange>,
}

/// Why a DTB could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtbError {
    /// Bad magic or truncated.
    Invalid,
    /// No usable `/memory` range.
    NoMemory,
}

/// The total size a DTB header claims, after checking its magic; `None` if `header` is not the
/// start of a DTB. Used to know how much to map before parsing.
pub fn total_size(header: &[u8]) -> Option<usize> {
    let magic = u32::from_be_bytes(header.get(0..4)?.try_into().ok()?);
    let size = u32::from_be_bytes(header.get(4..8)?.try_into().ok()?);
    (magic == 0xd00d_feed && size >= 40).then_some(size as usize)
}

pub fn parse(bytes: &[u8]) -> Result<Fdt<'_>, DtbError> {
    Fdt::new(bytes).map_err(|_| DtbError::Invalid)
}

fn disabled(node: &fdt::node::FdtNode<'_, '_>) -> bool {
    node.property("status")
        .and_then(|p| p.as_str())
        .is_some_and(|s| s != "okay" && s != "ok")
}

/// Adds every `/memory` range as RAM and every firmware reservation as `Reserved` to `facts`.
pub fn collect_memory(fdt: &Fdt<'_>, facts: &mut MemoryFacts) -> Result<(), DtbError> {
    let before = facts.ram.len();
    for node in fdt.all_nodes() {
        let is_memory_name = node.name == "memory" || node.name.starts_with("memory@");
        let device_type = node.property("device_type").and_then(|p| p.as_str());
        if !is_memory_name || device_type.is_some_and(|t| t != "memory") || disabled(&node) {
            continue;
        }
        for reg in node.reg().into_iter().flatten() {
            if let Some(size) = reg.size {
                facts.add_ram(PhysRange::new(reg.starting_address as u64, size as u64));
            }
        }
    }
    if facts.ram.len() == before {
        return Err(DtbError::NoMemory);
    }

    if let Some(reserved) = fdt.find_node("/reserved-memory") {
        for child in reserved.children() {
            if disabled(&child) {
                continue;
            }
            // Dynamically placed reservations (size + alloc-ranges, no reg) are left to whoever
            // would allocate them; there is no such user in this kernel.
            for reg in child.reg().into_iter().flatten() {
                if let Some(size) = reg.size {
                    facts.add_hole(
                        PhysRange::new(reg.starting_address as u64, size as u64),
                        MemoryKind::Reserved,
                    );
                }
            }
        }
    }
    for r in fdt.memory_reservations() {
        facts.add_hole(
            PhysRange::new(r.address() as u64, r.size() as u64),
            MemoryKind::Reserved,
        );
    }
    Ok(())
}

/// Reads `/chosen`. A missing node means no arguments and no initrd.
pub fn chosen<'a>(fdt: &Fdt<'a>) -> Chosen<'a> {
    let Some(node) = fdt.find_node("/chosen") else {
        return Chosen::default();
    };
    let bootargs = node.property("bootargs").map(|p| p.value).unwrap_or(&[]);
    let bootargs = bootargs.split(|&b| b == 0).next().unwrap_or(&[]);
    let start = node
        .property("linux,initrd-start")
        .and_then(|p| p.as_usize());
    let end = node.property("linux,initrd-end").and_then(|p| p.as_usize());
    let initrd = match (start, end) {
        (Some(s), Some(e)) if e > s => Some(PhysRange::new(s as u64, (e - s) as u64)),
        _ => None,
    };
    Chosen { bootargs, initrd }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `qemu-system-aarch64 -machine virt,dumpdtb=... -cpu cortex-a72 -m 512M
    /// -append "init=/bin/x -- a b" -initrd <6-byte file>`, padding trimmed.
    const VIRT_512M: &[u8] = include_bytes!("../testdata/qemu-virt-512m.dtb");
    /// The same with `-machine virt,gic-version=3 -m 2G` and no initrd or arguments.
    const VIRT_2G: &[u8] = include_bytes!("../testdata/qemu-virt-gicv3-2g.dtb");

    #[test]
    fn header_size() {
        assert_eq!(total_size(VIRT_512M), Some(VIRT_512M.len()));
        assert_eq!(total_size(&[0u8; 8]), None);
        assert_eq!(total_size(&[0xd0, 0x0d]), None);
    }

    #[test]
    fn qemu_virt_memory_and_chosen() {
        let fdt = parse(VIRT_512M).unwrap();
        let mut facts = MemoryFacts::default();
        collect_memory(&fdt, &mut facts).unwrap();
        assert_eq!(
            facts.ram.iter().collect::<Vec<_>>(),
            vec![PhysRange::new(0x4000_0000, 512 << 20)]
        );
        let c = chosen(&fdt);
        assert_eq!(c.bootargs, b"init=/bin/x -- a b");
        let initrd = c.initrd.unwrap();
        assert_eq!(initrd.len, 6);
        assert!(initrd.start >= 0x4000_0000);
    }

    #[test]
    fn qemu_virt_2g_without_chosen_extras() {
        let fdt = parse(VIRT_2G).unwrap();
        let mut facts = MemoryFacts::default();
        collect_memory(&fdt, &mut facts).unwrap();
        assert_eq!(
            facts.ram.iter().collect::<Vec<_>>(),
            vec![PhysRange::new(0x4000_0000, 2 << 30)]
        );
        assert_eq!(chosen(&fdt), Chosen::default());
    }

    #[test]
    fn garbage_is_an_error() {
        assert_eq!(parse(&[0u8; 64]).err(), Some(DtbError::Invalid));
        let mut truncated = VIRT_512M.to_vec();
        truncated.truncate(100);
        assert_eq!(parse(&truncated).err(), Some(DtbError::Invalid));
    }
}
