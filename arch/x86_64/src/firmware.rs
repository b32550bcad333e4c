//! What a boot protocol (PVH or Limine) reports about the machine, in one shape, and how that
//! becomes the kernel's [`BootInfo`] memory map: usable RAM with everything the kernel occupies
//! (image, initramfs, boot page tables, heap) carved out as `KernelInUse`.
//!
//! Pure logic, no hardware access: it builds and is tested on the host.

use hal::boot::{
    BootInfo, BootProtocol, MAX_COMMAND_LINE, MemoryKind, MemoryRegion, PhysAddr, PhysRange,
};

const PAGE: u64 = 4096;

/// Firmware map entries kept before translation. Larger than [`hal::boot::MAX_MEMORY_REGIONS`]
/// because carving and merging happen before the final (smaller) map is built.
pub const MAX_RAW_REGIONS: usize = 128;

/// A firmware memory-map entry's meaning, before the kernel's own use is subtracted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawKind {
    /// Free RAM, usable right now (even before the kernel has its own page tables).
    Usable,
    /// RAM that holds the boot loader's live data (its page tables, stack, the data we are
    /// reading) until the kernel switches to its own page tables; free afterwards.
    UsableAfterBoot,
    /// RAM the boot loader says holds the kernel or its modules.
    KernelInUse,
    /// Anything else: firmware, ACPI, MMIO, bad RAM.
    Reserved,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawRegion {
    pub range: PhysRange,
    pub kind: RawKind,
}

/// The firmware memory map, fixed-size (filled before any allocator exists).
#[derive(Clone, Debug)]
pub struct RawMap {
    regions: [RawRegion; MAX_RAW_REGIONS],
    count: usize,
    /// Entries were dropped because the firmware map was larger than [`MAX_RAW_REGIONS`].
    pub truncated: bool,
}

impl Default for RawMap {
    fn default() -> Self {
        Self::new()
    }
}

impl RawMap {
    pub const fn new() -> Self {
        Self {
            regions: [RawRegion {
                range: PhysRange::new(0, 0),
                kind: RawKind::Reserved,
            }; MAX_RAW_REGIONS],
            count: 0,
            truncated: false,
        }
    }

    /// Records an entry; empty ones are ignored, a range that would wrap past the top of the
    /// address space is clipped there.
    pub fn push(&mut self, start: u64, len: u64, kind: RawKind) {
        let len = len.min(u64::MAX - start);
        if len == 0 {
            return;
        }
        if self.count == MAX_RAW_REGIONS {
            self.truncated = true;
            return;
        }
        self.regions[self.count] = RawRegion {
            range: PhysRange::new(start, len),
            kind,
        };
        self.count += 1;
    }

    pub fn regions(&self) -> &[RawRegion] {
        &self.regions[..self.count]
    }

    /// One past the highest byte of RAM (of any RAM kind), 0 if there is none.
    pub fn ram_end(&self) -> u64 {
        self.regions()
            .iter()
            .filter(|r| r.kind != RawKind::Reserved)
            .map(|r| r.range.end())
            .max()
            .unwrap_or(0)
    }

    /// The lowest page-aligned `len` bytes of [`RawKind::Usable`] RAM inside `[min, limit)` that
    /// overlap no range in `avoid` and no non-usable region.
    pub fn find_free(&self, len: u64, min: u64, limit: u64, avoid: &[PhysRange]) -> Option<u64> {
        let len = align_up(len, PAGE)?;
        let mut best: Option<u64> = None;
        for region in self.regions().iter().filter(|r| r.kind == RawKind::Usable) {
            let Some(mut start) = align_up(region.range.start.max(min), PAGE) else {
                continue;
            };
            let end = align_down(region.range.end().min(limit), PAGE);
            // Slide past every obstacle that overlaps the candidate until one fits or the region
            // is exhausted. Each pass moves `start` strictly forward, so this terminates.
            'candidate: while let Some(candidate_end) = start.checked_add(len) {
                if candidate_end > end {
                    break;
                }
                let candidate = PhysRange::new(start, len);
                let obstacles = avoid.iter().copied().chain(
                    self.regions()
                        .iter()
                        .filter(|r| r.kind != RawKind::Usable)
                        .map(|r| r.range),
                );
                for obstacle in obstacles {
                    if overlaps(candidate, obstacle) {
                        match align_up(obstacle.end(), PAGE) {
                            Some(next) if next > start => start = next,
                            _ => break 'candidate,
                        }
                        continue 'candidate;
                    }
                }
                if best.is_none_or(|b| start < b) {
                    best = Some(start);
                }
                break;
            }
        }
        best
    }
}

/// Everything a boot protocol told us, before the kernel's own page tables exist.
#[derive(Clone, Debug)]
pub struct FirmwareInfo {
    pub protocol: BootProtocol,
    pub map: RawMap,
    command_line: [u8; MAX_COMMAND_LINE],
    command_line_len: usize,
    pub initramfs: Option<PhysRange>,
    pub acpi_rsdp: Option<PhysAddr>,
}

impl FirmwareInfo {
    pub const fn new(protocol: BootProtocol) -> Self {
        Self {
            protocol,
            map: RawMap::new(),
            command_line: [0; MAX_COMMAND_LINE],
            command_line_len: 0,
            initramfs: None,
            acpi_rsdp: None,
        }
    }

    /// Appends one byte of the command line; bytes past [`MAX_COMMAND_LINE`] are dropped.
    /// Returns false once the line is full.
    pub fn push_command_line_byte(&mut self, byte: u8) -> bool {
        if self.command_line_len == MAX_COMMAND_LINE {
            return false;
        }
        self.command_line[self.command_line_len] = byte;
        self.command_line_len += 1;
        true
    }

    pub fn command_line(&self) -> &[u8] {
        &self.command_line[..self.command_line_len]
    }
}

/// Builds the kernel's [`BootInfo`] from the firmware's report. `in_use` lists what the kernel
/// occupies (image, initramfs, page tables, heap); each is rounded out to whole pages and
/// carved out of usable RAM as [`MemoryKind::KernelInUse`]. Usable RAM is rounded in to whole
/// pages, overlapping usable entries are merged, and usable RAM overlapping a firmware-reserved
/// entry is dropped, so the result never offers a byte twice or a byte the firmware reserved.
pub fn build_boot_info(
    firmware: &FirmwareInfo,
    in_use: &[PhysRange],
    kernel_image: PhysRange,
    phys_offset: u64,
) -> BootInfo {
    let mut boot = BootInfo::new(firmware.protocol);
    boot.set_command_line(firmware.command_line());
    boot.initramfs = firmware.initramfs;
    boot.acpi_rsdp = firmware.acpi_rsdp;
    boot.kernel_image = kernel_image;
    boot.phys_offset = phys_offset;

    let mut out = RegionList::new();
    let raw = firmware.map.regions();

    // 1. Usable RAM, page-rounded inwards, sorted and merged.
    let mut usable = RangeList::new();
    for r in raw
        .iter()
        .filter(|r| matches!(r.kind, RawKind::Usable | RawKind::UsableAfterBoot))
    {
        if let Some(range) = shrink_to_pages(r.range) {
            usable.push(range);
        }
    }
    usable.sort_and_merge();

    // 2. What usable RAM must not offer: the kernel's ranges (reported as KernelInUse) and every
    //    non-usable firmware entry (reported as itself below).
    let mut kernel = RangeList::new();
    for &range in in_use {
        if let Some(range) = grow_to_pages(range) {
            kernel.push(range);
        }
    }
    kernel.sort_and_merge();
    let mut firmware_taken = RangeList::new();
    for r in raw
        .iter()
        .filter(|r| matches!(r.kind, RawKind::KernelInUse | RawKind::Reserved))
    {
        if let Some(range) = grow_to_pages(r.range) {
            firmware_taken.push(range);
        }
    }
    firmware_taken.sort_and_merge();

    // 3. Carve.
    for &free in usable.as_slice() {
        let mut cursor = free.start;
        let end = free.end();
        while cursor < end {
            // The first obstacle (of either list) that overlaps [cursor, end).
            let next_kernel = first_overlap(kernel.as_slice(), cursor, end);
            let next_firmware = first_overlap(firmware_taken.as_slice(), cursor, end);
            let (obstacle, is_kernel) = match (next_kernel, next_firmware) {
                (None, None) => {
                    out.push(PhysRange::new(cursor, end - cursor), MemoryKind::Usable);
                    break;
                }
                (Some(k), None) => (k, true),
                (None, Some(f)) => (f, false),
                (Some(k), Some(f)) => {
                    if k.start.max(cursor) <= f.start.max(cursor) {
                        (k, true)
                    } else {
                        (f, false)
                    }
                }
            };
            let taken_start = obstacle.start.max(cursor);
            let taken_end = obstacle.end().min(end);
            if taken_start > cursor {
                out.push(
                    PhysRange::new(cursor, taken_start - cursor),
                    MemoryKind::Usable,
                );
            }
            if is_kernel {
                out.push(
                    PhysRange::new(taken_start, taken_end - taken_start),
                    MemoryKind::KernelInUse,
                );
            }
            cursor = taken_end;
        }
    }

    // 4. Firmware's own non-usable entries, as they are.
    for r in raw {
        match r.kind {
            RawKind::KernelInUse => out.push(r.range, MemoryKind::KernelInUse),
            RawKind::Reserved => out.push(r.range, MemoryKind::Reserved),
            RawKind::Usable | RawKind::UsableAfterBoot => {}
        }
    }

    out.sort_and_merge_adjacent();
    boot.memory_map_truncated = firmware.map.truncated || out.truncated;
    for region in out.as_slice() {
        boot.add_region(region.range, region.kind);
    }
    boot
}

fn first_overlap(list: &[PhysRange], start: u64, end: u64) -> Option<PhysRange> {
    list.iter()
        .copied()
        .filter(|r| r.start < end && r.end() > start)
        .min_by_key(|r| r.start)
}

fn overlaps(a: PhysRange, b: PhysRange) -> bool {
    !a.is_empty() && !b.is_empty() && a.start < b.end() && b.start < a.end()
}

pub const fn align_up(x: u64, a: u64) -> Option<u64> {
    match x.checked_add(a - 1) {
        Some(v) => Some(v & !(a - 1)),
        None => None,
    }
}

pub const fn align_down(x: u64, a: u64) -> u64 {
    x & !(a - 1)
}

/// The whole pages inside `r`.
fn shrink_to_pages(r: PhysRange) -> Option<PhysRange> {
    let start = align_up(r.start, PAGE)?;
    let end = align_down(r.end(), PAGE);
    (end > start).then(|| PhysRange::new(start, end - start))
}

/// The pages touching `r`.
fn grow_to_pages(r: PhysRange) -> Option<PhysRange> {
    if r.is_empty() {
        return None;
    }
    let start = align_down(r.start, PAGE);
    let end = align_up(r.end(), PAGE).unwrap_or(align_down(u64::MAX, PAGE));
    (end > start).then(|| PhysRange::new(start, end - start))
}

const LIST_CAP: usize = MAX_RAW_REGIONS * 2;

/// Fixed-capacity list of ranges (no heap yet).
struct RangeList {
    items: [PhysRange; LIST_CAP],
    len: usize,
}

impl RangeList {
    fn new() -> Self {
        Self {
            items: [PhysRange::new(0, 0); LIST_CAP],
            len: 0,
        }
    }
    fn push(&mut self, r: PhysRange) {
        if self.len < LIST_CAP {
            self.items[self.len] = r;
            self.len += 1;
        }
    }
    fn as_slice(&self) -> &[PhysRange] {
        &self.items[..self.len]
    }
    fn sort_and_merge(&mut self) {
        let items = &mut self.items[..self.len];
        items.sort_unstable_by_key(|r| r.start);
        let mut merged = 0;
        for i in 0..self.len {
            let r = self.items[i];
            if merged > 0 && r.start <= self.items[merged - 1].end() {
                let last = &mut self.items[merged - 1];
                let end = last.end().max(r.end());
                last.len = end - last.start;
            } else {
                self.items[merged] = r;
                merged += 1;
            }
        }
        self.len = merged;
    }
}

/// Fixed-capacity list of typed regions: the output before it goes into [`BootInfo`].
struct RegionList {
    items: [MemoryRegion; LIST_CAP * 2],
    len: usize,
    truncated: bool,
}

impl RegionList {
    fn new() -> Self {
        Self {
            items: [MemoryRegion {
                range: PhysRange::new(0, 0),
                kind: MemoryKind::Reserved,
            }; LIST_CAP * 2],
            len: 0,
            truncated: false,
        }
    }
    fn push(&mut self, range: PhysRange, kind: MemoryKind) {
        if range.is_empty() {
            return;
        }
        if self.len == self.items.len() {
            self.truncated = true;
            return;
        }
        self.items[self.len] = MemoryRegion { range, kind };
        self.len += 1;
    }
    fn as_slice(&self) -> &[MemoryRegion] {
        &self.items[..self.len]
    }
    /// Sorts by address and joins neighbours of the same kind that touch exactly.
    fn sort_and_merge_adjacent(&mut self) {
        self.items[..self.len].sort_unstable_by_key(|r| (r.range.start, r.range.len));
        let mut merged = 0;
        for i in 0..self.len {
            let r = self.items[i];
            if merged > 0 {
                let last = &mut self.items[merged - 1];
                if last.kind == r.kind && last.range.end() == r.range.start {
                    last.range.len += r.range.len;
                    continue;
                }
            }
            self.items[merged] = r;
            merged += 1;
        }
        self.len = merged;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    /// QEMU q35 with 512 MiB, as its e820 reports it.
    fn q35_512m() -> FirmwareInfo {
        let mut fw = FirmwareInfo::new(BootProtocol::Pvh);
        fw.map.push(0, 0x9fc00, RawKind::Usable);
        fw.map.push(0x9fc00, 0x400, RawKind::Reserved);
        fw.map.push(0xf0000, 0x10000, RawKind::Reserved);
        fw.map
            .push(0x100000, 512 * MIB - 0x100000 - 0x20000, RawKind::Usable);
        fw.map.push(512 * MIB - 0x20000, 0x20000, RawKind::Reserved);
        fw.map.push(0xb000_0000, 0x1000_0000, RawKind::Reserved);
        fw.map.push(0xfed1_c000, 0x4000, RawKind::Reserved);
        fw.map.push(0xfeff_c000, 0x4000, RawKind::Reserved);
        fw
    }

    fn usable(boot: &BootInfo) -> u64 {
        boot.memory_map()
            .iter()
            .filter(|r| r.kind == MemoryKind::Usable)
            .map(|r| r.range.len)
            .sum()
    }

    fn assert_no_overlap(boot: &BootInfo) {
        let map = boot.memory_map();
        for (i, a) in map.iter().enumerate() {
            for b in &map[i + 1..] {
                assert!(!overlaps(a.range, b.range), "{a:?} overlaps {b:?}");
            }
        }
        for w in map.windows(2) {
            assert!(w[0].range.start <= w[1].range.start, "not sorted: {w:?}");
        }
    }

    #[test]
    fn kernel_ranges_are_carved_out_of_usable_ram() {
        let fw = q35_512m();
        let image = PhysRange::new(0x200000, 0x123456);
        let initrd = PhysRange::new(0x1ff0_0000, 0x8_0800);
        let boot = build_boot_info(&fw, &[image, initrd], image, 0xffff_8000_0000_0000);
        assert_no_overlap(&boot);
        let in_use: Vec<_> = boot
            .memory_map()
            .iter()
            .filter(|r| r.kind == MemoryKind::KernelInUse)
            .map(|r| r.range)
            .collect();
        // Rounded out to whole pages.
        assert_eq!(
            in_use,
            vec![
                PhysRange::new(0x200000, 0x124000),
                PhysRange::new(0x1ff0_0000, 0x8_1000)
            ]
        );
        let total_ram = 0x9f000 + (512 * MIB - 0x100000 - 0x20000);
        assert_eq!(usable(&boot), total_ram - 0x124000 - 0x8_1000);
        assert_eq!(boot.kernel_image, image);
        assert_eq!(boot.phys_offset, 0xffff_8000_0000_0000);
        // The usable piece between the two kernel ranges is exact.
        assert!(
            boot.memory_map()
                .iter()
                .any(|r| r.kind == MemoryKind::Usable
                    && r.range == PhysRange::new(0x324000, 0x1ff0_0000 - 0x324000))
        );
    }

    #[test]
    fn adjacent_in_use_ranges_merge() {
        let fw = q35_512m();
        let a = PhysRange::new(0x200000, 0x100000);
        let b = PhysRange::new(0x300000, 0x2000);
        let boot = build_boot_info(&fw, &[b, a], a, 0);
        let in_use: Vec<_> = boot
            .memory_map()
            .iter()
            .filter(|r| r.kind == MemoryKind::KernelInUse)
            .collect();
        assert_eq!(in_use.len(), 1);
        assert_eq!(in_use[0].range, PhysRange::new(0x200000, 0x102000));
    }

    #[test]
    fn overlapping_and_hostile_firmware_entries() {
        let mut fw = FirmwareInfo::new(BootProtocol::Pvh);
        fw.map.push(0x100000, 0x400000, RawKind::Usable);
        fw.map.push(0x300000, 0x400000, RawKind::Usable); // overlaps the first
        fw.map.push(0x400800, 0x1000, RawKind::Reserved); // inside usable RAM, unaligned
        fw.map.push(u64::MAX - 0x1000, u64::MAX, RawKind::Usable); // would wrap
        fw.map.push(0x123, 0, RawKind::Usable); // empty
        let boot = build_boot_info(&fw, &[], PhysRange::new(0, 0), 0);
        assert_no_overlap(&boot);
        // 0x100000..0x700000 merged, minus the two pages touched by the reserved entry.
        // The entry at the top of the address space holds no whole page and vanishes.
        assert_eq!(usable(&boot), 0x600000 - 0x2000);
    }

    #[test]
    fn usable_after_boot_is_usable_in_the_result_and_firmware_in_use_is_kept() {
        let mut fw = FirmwareInfo::new(BootProtocol::Limine);
        fw.map.push(0x100000, 0x100000, RawKind::UsableAfterBoot);
        fw.map.push(0x200000, 0x100000, RawKind::KernelInUse);
        let boot = build_boot_info(&fw, &[], PhysRange::new(0x200000, 0x100000), 0);
        assert_eq!(
            boot.memory_map(),
            &[
                MemoryRegion {
                    range: PhysRange::new(0x100000, 0x100000),
                    kind: MemoryKind::Usable
                },
                MemoryRegion {
                    range: PhysRange::new(0x200000, 0x100000),
                    kind: MemoryKind::KernelInUse
                },
            ]
        );
    }

    #[test]
    fn too_many_entries_truncate_instead_of_overflowing() {
        let mut fw = FirmwareInfo::new(BootProtocol::Pvh);
        for i in 0..(MAX_RAW_REGIONS as u64 + 10) {
            fw.map.push(
                i * 0x10000,
                0x1000,
                if i % 2 == 0 {
                    RawKind::Usable
                } else {
                    RawKind::Reserved
                },
            );
        }
        assert!(fw.map.truncated);
        let boot = build_boot_info(&fw, &[], PhysRange::new(0, 0), 0);
        assert!(boot.memory_map_truncated);
        assert_eq!(boot.memory_map().len(), hal::boot::MAX_MEMORY_REGIONS);
    }

    #[test]
    fn find_free_avoids_obstacles_and_respects_limits() {
        let fw = q35_512m();
        let image = PhysRange::new(0x200000, 0x124000);
        let found = fw.map.find_free(0x10000, MIB, 4 << 30, &[image]).unwrap();
        assert_eq!(found, 0x100000); // below the image
        let found = fw.map.find_free(0x200000, MIB, 4 << 30, &[image]).unwrap();
        assert_eq!(found, 0x324000); // does not fit below the image
        assert_eq!(fw.map.find_free(1 << 30, MIB, 4 << 30, &[]), None);
        // The limit cuts the region.
        assert_eq!(fw.map.find_free(0x10000, MIB, MIB + 0x8000, &[]), None);
        // A reserved entry inside usable RAM is an obstacle too.
        let mut fw2 = FirmwareInfo::new(BootProtocol::Pvh);
        fw2.map.push(0x100000, 0x100000, RawKind::Usable);
        fw2.map.push(0x100000, 0x1000, RawKind::Reserved);
        assert_eq!(fw2.map.find_free(0x1000, 0, u64::MAX, &[]), Some(0x101000));
        // Usable-after-boot RAM is not offered before the switch.
        let mut fw3 = FirmwareInfo::new(BootProtocol::Limine);
        fw3.map.push(0x100000, 0x100000, RawKind::UsableAfterBoot);
        assert_eq!(fw3.map.find_free(0x1000, 0, u64::MAX, &[]), None);
    }

    #[test]
    fn ram_end_ignores_reserved() {
        let fw = q35_512m();
        assert_eq!(fw.map.ram_end(), 512 * MIB - 0x20000);
    }

    #[test]
    fn command_line_is_bounded() {
        let mut fw = FirmwareInfo::new(BootProtocol::Pvh);
        for _ in 0..MAX_COMMAND_LINE {
            assert!(fw.push_command_line_byte(b'a'));
        }
        assert!(!fw.push_command_line_byte(b'b'));
        assert_eq!(fw.command_line().len(), MAX_COMMAND_LINE);
    }
}
