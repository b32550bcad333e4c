//! VMSAv8-64 stage-1 translation table descriptors for the one configuration Cyphera uses:
//! 4 KiB granule, 48-bit virtual addresses, four levels (L0..L3), MAIR index 0 = normal
//! write-back memory, index 1 = Device-nGnRE. Pure bit manipulation, shared by the boot mapper,
//! the kernel mapper and the user address spaces, and tested on the host.

use hal::mmu::PageFlags;

/// Descriptor is valid.
pub const VALID: u64 = 1 << 0;
/// At L0..L2: the descriptor points to a next-level table (clear = block). At L3: must be set
/// for a page descriptor.
pub const TABLE: u64 = 1 << 1;
/// L3 page descriptor type bits.
pub const PAGE: u64 = VALID | TABLE;
/// L1/L2 block descriptor type bits.
pub const BLOCK: u64 = VALID;

/// AttrIndx[2:0] (bits 4:2) selects a MAIR_EL1 slot.
pub const ATTR_INDEX_MASK: u64 = 0b111 << 2;
/// MAIR slot 0: normal memory, inner/outer write-back read/write-allocate.
pub const ATTR_NORMAL: u64 = 0 << 2;
/// MAIR slot 1: Device-nGnRE (MMIO).
pub const ATTR_DEVICE: u64 = 1 << 2;
/// MAIR_EL1 value matching the two indices above.
pub const MAIR_VALUE: u64 = 0xff | (0x04 << 8);

/// AP[1]: accessible from EL0.
pub const AP_EL0: u64 = 1 << 6;
/// AP[2]: read-only (at every EL that can access it).
pub const AP_RO: u64 = 1 << 7;
/// SH[1:0] = inner shareable.
pub const SH_INNER: u64 = 0b11 << 8;
/// Access flag: set up front so no access-flag faults are taken.
pub const AF: u64 = 1 << 10;
/// Not global: TLB entries are tagged with the ASID (all user mappings).
pub const NG: u64 = 1 << 11;
/// Privileged execute-never.
pub const PXN: u64 = 1 << 53;
/// Unprivileged execute-never.
pub const UXN: u64 = 1 << 54;

/// Table descriptor: privileged execute-never for everything below.
pub const PXN_TABLE: u64 = 1 << 59;
/// Table descriptor: unprivileged execute-never for everything below.
pub const UXN_TABLE: u64 = 1 << 60;
/// Table descriptor: APTable[0], no EL0 access to anything below.
pub const NO_EL0_TABLE: u64 = 1 << 61;

/// Output address bits [47:12] of a page, block or table descriptor.
pub const ADDR_MASK: u64 = 0x0000_ffff_ffff_f000;

pub const PAGE_SHIFT: u32 = 12;
pub const ENTRIES: usize = 512;

/// Kernel text: read-only, executable at EL1 only.
pub const KERNEL_TEXT: u64 = ATTR_NORMAL | SH_INNER | AF | AP_RO | UXN;
/// Kernel read-only data.
pub const KERNEL_RODATA: u64 = ATTR_NORMAL | SH_INNER | AF | AP_RO | UXN | PXN;
/// Kernel data, bss, stack, direct-mapped RAM.
pub const KERNEL_DATA: u64 = ATTR_NORMAL | SH_INNER | AF | UXN | PXN;
/// MMIO through the direct map.
pub const KERNEL_DEVICE: u64 = ATTR_DEVICE | AF | UXN | PXN;

/// Shift of the address bits that index a table at `level` (0..=3).
pub const fn level_shift(level: usize) -> u32 {
    PAGE_SHIFT + 9 * (3 - level as u32)
}

/// Index into the table at `level` for virtual address `va`.
pub const fn index(va: u64, level: usize) -> usize {
    ((va >> level_shift(level)) & 0x1ff) as usize
}

pub const fn is_valid(desc: u64) -> bool {
    desc & VALID != 0
}

/// A valid L0..L2 descriptor that points to another table.
pub const fn is_table(desc: u64, level: usize) -> bool {
    level < 3 && desc & (VALID | TABLE) == (VALID | TABLE)
}

/// The physical address a descriptor points to.
pub const fn address(desc: u64) -> u64 {
    desc & ADDR_MASK
}

/// A table descriptor for a user address space: the kernel may never execute anything below it.
pub const fn user_table(pa: u64) -> u64 {
    (pa & ADDR_MASK) | VALID | TABLE | PXN_TABLE
}

/// A table descriptor in the kernel half: nothing below is reachable or executable from EL0.
pub const fn kernel_table(pa: u64) -> u64 {
    (pa & ADDR_MASK) | VALID | TABLE | UXN_TABLE | NO_EL0_TABLE
}

/// The permission bits of a user page with `flags` (W^X is the caller's check). Every user page
/// is EL0-readable, never executable by the kernel, non-global.
pub const fn user_permissions(flags: PageFlags) -> u64 {
    let mut bits = ATTR_NORMAL | SH_INNER | AF | NG | AP_EL0 | PXN;
    if !flags.write {
        bits |= AP_RO;
    }
    if !flags.execute {
        bits |= UXN;
    }
    bits
}

/// An L3 descriptor mapping user frame `pa` with `flags`.
pub const fn user_page(pa: u64, flags: PageFlags) -> u64 {
    (pa & ADDR_MASK) | PAGE | user_permissions(flags)
}

/// The rights a user page descriptor grants to EL0.
pub const fn user_flags(desc: u64) -> PageFlags {
    PageFlags {
        write: desc & AP_RO == 0,
        execute: desc & UXN == 0,
    }
}

/// True when EL0 may read through this (valid, leaf) descriptor.
pub const fn el0_readable(desc: u64) -> bool {
    is_valid(desc) && desc & AP_EL0 != 0
}

/// True when EL0 may write through this (valid, leaf) descriptor.
pub const fn el0_writable(desc: u64) -> bool {
    el0_readable(desc) && desc & AP_RO == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_of_the_kernel_base() {
        let va = 0xffff_ffff_8000_0000u64;
        assert_eq!(index(va, 0), 511);
        assert_eq!(index(va, 1), 510);
        assert_eq!(index(va, 2), 0);
        assert_eq!(index(va, 3), 0);
        let dm = 0xffff_0000_4020_3000u64;
        assert_eq!(index(dm, 0), 0);
        assert_eq!(index(dm, 1), 1);
        assert_eq!(index(dm, 2), 1);
        assert_eq!(index(dm, 3), 3);
    }

    #[test]
    fn user_pages_encode_rights() {
        let rw = user_page(0x4000_1000, PageFlags::READ_WRITE);
        assert_eq!(address(rw), 0x4000_1000);
        assert!(el0_readable(rw) && el0_writable(rw));
        assert_eq!(user_flags(rw), PageFlags::READ_WRITE);
        assert!(rw & UXN != 0 && rw & PXN != 0 && rw & NG != 0 && rw & AF != 0);

        let rx = user_page(0x4000_2000, PageFlags::READ_EXECUTE);
        assert!(el0_readable(rx) && !el0_writable(rx));
        assert_eq!(user_flags(rx), PageFlags::READ_EXECUTE);
        assert!(rx & UXN == 0 && rx & PXN != 0);

        let ro = user_page(0x4000_3000, PageFlags::READ);
        assert_eq!(user_flags(ro), PageFlags::READ);
        assert!(!el0_writable(ro));
    }

    #[test]
    fn kernel_mappings_are_never_user_or_wx() {
        for attrs in [KERNEL_TEXT, KERNEL_RODATA, KERNEL_DATA, KERNEL_DEVICE] {
            assert_eq!(attrs & AP_EL0, 0);
            assert_ne!(attrs & UXN, 0);
            // writable (AP[2] clear) implies privileged execute-never
            if attrs & AP_RO == 0 {
                assert_ne!(attrs & PXN, 0);
            }
        }
        assert!(is_table(kernel_table(0x1000), 0));
        assert!(!is_table(0x1000 | BLOCK, 1));
        assert!(!is_table(0x1000 | PAGE, 3));
    }
}
