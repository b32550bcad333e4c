//! Reading the Xen PVH start-of-day structure (`struct hvm_start_info`, Xen's
//! `public/arch-x86/hvm/start_info.h`) that QEMU's direct boot hands over in `ebx`.
//!
//! The structure and everything it points to is read through a [`PhysMemory`] window and copied
//! into a [`FirmwareInfo`]; every pointer and count in it is treated as untrusted, so a damaged
//! structure yields an error or a shorter map, never an out-of-bounds access. Host-tested.

use crate::firmware::{FirmwareInfo, MAX_RAW_REGIONS, RawKind};
use hal::boot::PhysRange;

/// `hvm_start_info.magic`: "xEn3" with the 0x80 bit of the "E" set.
pub const START_MAGIC: u32 = 0x336e_c578;

/// E820-style types of `hvm_memmap_table_entry.type`.
const MEMMAP_TYPE_RAM: u32 = 1;

/// Byte offsets in `struct hvm_start_info`.
const OFF_MAGIC: u64 = 0;
const OFF_VERSION: u64 = 4;
const OFF_NR_MODULES: u64 = 12;
const OFF_MODLIST_PADDR: u64 = 16;
const OFF_CMDLINE_PADDR: u64 = 24;
const OFF_RSDP_PADDR: u64 = 32;
const OFF_MEMMAP_PADDR: u64 = 40;
const OFF_MEMMAP_ENTRIES: u64 = 48;
/// `struct hvm_memmap_table_entry { u64 addr; u64 size; u32 type; u32 reserved; }`
const MEMMAP_ENTRY_SIZE: u64 = 24;

/// Read access to physical memory (the boot direct map on the machine, a buffer in tests).
pub trait PhysMemory {
    /// Copies `buf.len()` bytes from physical address `phys`; false (and `buf` unspecified) if
    /// any of them is outside the readable window.
    fn read(&self, phys: u64, buf: &mut [u8]) -> bool;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PvhError {
    /// A structure the start info points to lies outside readable memory.
    Unreadable(u64),
    /// `ebx` did not point at a start info structure.
    BadMagic(u32),
    /// Version 0 of the structure carries no memory map (Xen would have us ask a hypercall).
    NoMemoryMap,
}

fn read_u32(mem: &dyn PhysMemory, at: u64) -> Result<u32, PvhError> {
    let mut b = [0; 4];
    if mem.read(at, &mut b) {
        Ok(u32::from_le_bytes(b))
    } else {
        Err(PvhError::Unreadable(at))
    }
}

fn read_u64(mem: &dyn PhysMemory, at: u64) -> Result<u64, PvhError> {
    let mut b = [0; 8];
    if mem.read(at, &mut b) {
        Ok(u64::from_le_bytes(b))
    } else {
        Err(PvhError::Unreadable(at))
    }
}

/// Parses the start info at physical address `start_info` into `fw` (memory map, command line,
/// first module as the initramfs, RSDP).
pub fn parse(mem: &dyn PhysMemory, start_info: u64, fw: &mut FirmwareInfo) -> Result<(), PvhError> {
    let field = |off: u64| {
        start_info
            .checked_add(off)
            .ok_or(PvhError::Unreadable(start_info))
    };
    let magic = read_u32(mem, field(OFF_MAGIC)?)?;
    if magic != START_MAGIC {
        return Err(PvhError::BadMagic(magic));
    }
    let version = read_u32(mem, field(OFF_VERSION)?)?;
    if version < 1 {
        return Err(PvhError::NoMemoryMap);
    }

    let memmap = read_u64(mem, field(OFF_MEMMAP_PADDR)?)?;
    let entries = read_u32(mem, field(OFF_MEMMAP_ENTRIES)?)?;
    if entries == 0 {
        return Err(PvhError::NoMemoryMap);
    }
    // Reading more entries than can be kept would only burn time on a hostile count.
    let readable = (entries as usize).min(MAX_RAW_REGIONS + 1);
    for i in 0..readable as u64 {
        let entry = memmap
            .checked_add(i * MEMMAP_ENTRY_SIZE)
            .ok_or(PvhError::Unreadable(memmap))?;
        let addr = read_u64(mem, entry)?;
        let size = read_u64(mem, entry + 8)?;
        let kind = read_u32(mem, entry + 16)?;
        let kind = if kind == MEMMAP_TYPE_RAM {
            RawKind::Usable
        } else {
            RawKind::Reserved
        };
        fw.map.push(addr, size, kind);
    }
    if entries as usize > readable {
        fw.map.truncated = true;
    }

    let cmdline = read_u64(mem, field(OFF_CMDLINE_PADDR)?)?;
    if cmdline != 0 {
        let mut at = cmdline;
        let mut byte = [0u8; 1];
        // Stop at the NUL, at the end of readable memory, or when the kept line is full.
        while mem.read(at, &mut byte) && byte[0] != 0 && fw.push_command_line_byte(byte[0]) {
            match at.checked_add(1) {
                Some(next) => at = next,
                None => break,
            }
        }
    }

    let nr_modules = read_u32(mem, field(OFF_NR_MODULES)?)?;
    let modlist = read_u64(mem, field(OFF_MODLIST_PADDR)?)?;
    if nr_modules > 0 && modlist != 0 {
        // `struct hvm_modlist_entry { u64 paddr; u64 size; u64 cmdline_paddr; u64 reserved; }`:
        // the first module is the initramfs (QEMU passes `-initrd` as the only one).
        let paddr = read_u64(mem, modlist)?;
        let size = read_u64(
            mem,
            modlist
                .checked_add(8)
                .ok_or(PvhError::Unreadable(modlist))?,
        )?;
        if size != 0 && paddr.checked_add(size).is_some() {
            fw.initramfs = Some(PhysRange::new(paddr, size));
        }
    }

    let rsdp = read_u64(mem, field(OFF_RSDP_PADDR)?)?;
    fw.acpi_rsdp = (rsdp != 0).then_some(rsdp);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hal::boot::BootProtocol;

    /// Physical memory `[base, base + bytes.len())`.
    struct Buffer {
        base: u64,
        bytes: Vec<u8>,
    }

    impl PhysMemory for Buffer {
        fn read(&self, phys: u64, buf: &mut [u8]) -> bool {
            let Some(off) = phys.checked_sub(self.base) else {
                return false;
            };
            let Ok(off) = usize::try_from(off) else {
                return false;
            };
            match self.bytes.get(off..off + buf.len()) {
                Some(src) => {
                    buf.copy_from_slice(src);
                    true
                }
                None => false,
            }
        }
    }

    impl Buffer {
        fn put32(&mut self, at: u64, v: u32) {
            let o = (at - self.base) as usize;
            self.bytes[o..o + 4].copy_from_slice(&v.to_le_bytes());
        }
        fn put64(&mut self, at: u64, v: u64) {
            let o = (at - self.base) as usize;
            self.bytes[o..o + 8].copy_from_slice(&v.to_le_bytes());
        }
    }

    const BASE: u64 = 0x6000;
    const INFO: u64 = 0x6000;
    const MODS: u64 = 0x6100;
    const CMDLINE: u64 = 0x6200;
    const MEMMAP: u64 = 0x6400;

    /// A start info laid out like QEMU's: two RAM entries, one reserved, one module.
    fn qemu_like() -> Buffer {
        let mut m = Buffer {
            base: BASE,
            bytes: vec![0; 0x1000],
        };
        m.put32(INFO + OFF_MAGIC, START_MAGIC);
        m.put32(INFO + OFF_VERSION, 1);
        m.put32(INFO + OFF_NR_MODULES, 1);
        m.put64(INFO + OFF_MODLIST_PADDR, MODS);
        m.put64(INFO + OFF_CMDLINE_PADDR, CMDLINE);
        m.put64(INFO + OFF_RSDP_PADDR, 0xf52e0);
        m.put64(INFO + OFF_MEMMAP_PADDR, MEMMAP);
        m.put32(INFO + OFF_MEMMAP_ENTRIES, 3);
        let e = |i: u64| MEMMAP + i * MEMMAP_ENTRY_SIZE;
        m.put64(e(0), 0);
        m.put64(e(0) + 8, 0x9fc00);
        m.put32(e(0) + 16, 1);
        m.put64(e(1), 0x9fc00);
        m.put64(e(1) + 8, 0x400);
        m.put32(e(1) + 16, 2);
        m.put64(e(2), 0x100000);
        m.put64(e(2) + 8, 0x1ff00000);
        m.put32(e(2) + 16, 1);
        m.put64(MODS, 0x1fe00000);
        m.put64(MODS + 8, 0x12345);
        let cmd = b"init=/bin/hello -- a b\0";
        let o = (CMDLINE - BASE) as usize;
        m.bytes[o..o + cmd.len()].copy_from_slice(cmd);
        m
    }

    #[test]
    fn parses_qemu_start_info() {
        let m = qemu_like();
        let mut fw = FirmwareInfo::new(BootProtocol::Pvh);
        parse(&m, INFO, &mut fw).unwrap();
        let regions = fw.map.regions();
        assert_eq!(regions.len(), 3);
        assert_eq!(regions[0].kind, RawKind::Usable);
        assert_eq!(regions[1].kind, RawKind::Reserved);
        assert_eq!(regions[2].range, PhysRange::new(0x100000, 0x1ff00000));
        assert_eq!(fw.command_line(), b"init=/bin/hello -- a b");
        assert_eq!(fw.initramfs, Some(PhysRange::new(0x1fe00000, 0x12345)));
        assert_eq!(fw.acpi_rsdp, Some(0xf52e0));
    }

    #[test]
    fn rejects_bad_magic_and_version_zero() {
        let mut m = qemu_like();
        m.put32(INFO, 0x1234);
        let mut fw = FirmwareInfo::new(BootProtocol::Pvh);
        assert_eq!(parse(&m, INFO, &mut fw), Err(PvhError::BadMagic(0x1234)));
        let mut m = qemu_like();
        m.put32(INFO + OFF_VERSION, 0);
        assert_eq!(parse(&m, INFO, &mut fw), Err(PvhError::NoMemoryMap));
        assert_eq!(
            parse(&m, 0xdead_0000, &mut fw),
            Err(PvhError::Unreadable(0xdead_0000))
        );
        assert_eq!(
            parse(&m, u64::MAX - 2, &mut fw),
            Err(PvhError::Unreadable(u64::MAX - 2))
        );
    }

    #[test]
    fn hostile_counts_and_pointers_do_not_overrun() {
        // A huge entry count whose table runs off the end of memory: an error, not a crash.
        let mut m = qemu_like();
        m.put32(INFO + OFF_MEMMAP_ENTRIES, u32::MAX);
        let mut fw = FirmwareInfo::new(BootProtocol::Pvh);
        assert!(matches!(
            parse(&m, INFO, &mut fw),
            Err(PvhError::Unreadable(_))
        ));

        // A command line without a terminator ends at the end of readable memory.
        let mut m = qemu_like();
        let end = BASE + m.bytes.len() as u64;
        let len = m.bytes.len();
        m.bytes[len - 10..].fill(b'x');
        m.put64(INFO + OFF_CMDLINE_PADDR, end - 10);
        let mut fw = FirmwareInfo::new(BootProtocol::Pvh);
        parse(&m, INFO, &mut fw).unwrap();
        assert_eq!(fw.command_line(), b"xxxxxxxxxx");

        // A module with zero size or a wrapping range is no initramfs.
        let mut m = qemu_like();
        m.put64(MODS, u64::MAX - 4);
        let mut fw = FirmwareInfo::new(BootProtocol::Pvh);
        parse(&m, INFO, &mut fw).unwrap();
        assert_eq!(fw.initramfs, None);

        // No modules, no command line, no RSDP.
        let mut m = qemu_like();
        m.put32(INFO + OFF_NR_MODULES, 0);
        m.put64(INFO + OFF_CMDLINE_PADDR, 0);
        m.put64(INFO + OFF_RSDP_PADDR, 0);
        let mut fw = FirmwareInfo::new(BootProtocol::Pvh);
        parse(&m, INFO, &mut fw).unwrap();
        assert_eq!(fw.initramfs, None);
        assert_eq!(fw.command_line(), b"");
        assert_eq!(fw.acpi_rsdp, None);
    }

    #[test]
    fn more_entries_than_kept_sets_truncated() {
        let mut m = Buffer {
            base: BASE,
            bytes: vec![0; 0x2000],
        };
        let n = MAX_RAW_REGIONS as u32 + 5;
        m.put32(INFO + OFF_MAGIC, START_MAGIC);
        m.put32(INFO + OFF_VERSION, 1);
        m.put64(INFO + OFF_MEMMAP_PADDR, 0x6100);
        m.put32(INFO + OFF_MEMMAP_ENTRIES, n);
        for i in 0..(MAX_RAW_REGIONS as u64 + 1) {
            let e = 0x6100 + i * MEMMAP_ENTRY_SIZE;
            m.put64(e, i * 0x10000);
            m.put64(e + 8, 0x1000);
            m.put32(e + 16, 1);
        }
        let mut fw = FirmwareInfo::new(BootProtocol::Pvh);
        parse(&m, INFO, &mut fw).unwrap();
        assert!(fw.map.truncated);
        assert_eq!(fw.map.regions().len(), MAX_RAW_REGIONS);
    }
}
