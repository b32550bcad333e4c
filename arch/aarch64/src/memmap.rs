//! Turning "these ranges are RAM" plus "these ranges are taken" (kernel image, DTB, initramfs,
//! heap, firmware reservations) into the sorted, disjoint, page-aligned `BootInfo` memory map,
//! without a heap (this runs before there is one). Shared by the Linux-Image and Limine boot paths.

use hal::boot::{BootInfo, MemoryKind, PhysRange};
use hal::mmu::PAGE_SIZE;

/// A fixed-capacity vector for boot-time lists; pushing past capacity is reported, not a panic.
#[derive(Clone, Debug)]
pub struct FixedVec<T: Copy, const N: usize> {
    items: [Option<T>; N],
    len: usize,
    /// Set when a push did not fit.
    pub overflowed: bool,
}

impl<T: Copy, const N: usize> FixedVec<T, N> {
    pub const fn new() -> Self {
        Self {
            items: [None; N],
            len: 0,
            overflowed: false,
        }
    }

    pub fn push(&mut self, item: T) {
        if self.len == N {
            self.overflowed = true;
        } else {
            self.items[self.len] = Some(item);
            self.len += 1;
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        self.items[..self.len].iter().flatten().copied()
    }
}

impl<T: Copy, const N: usize> Default for FixedVec<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Maximum RAM ranges and taken ranges kept.
pub const MAX_RAM: usize = 32;
pub const MAX_HOLES: usize = 64;

/// The raw facts a boot path gathered, before they become a memory map.
#[derive(Clone, Debug, Default)]
pub struct MemoryFacts {
    pub ram: FixedVec<PhysRange, MAX_RAM>,
    pub holes: FixedVec<(PhysRange, MemoryKind), MAX_HOLES>,
}

impl MemoryFacts {
    pub fn add_ram(&mut self, range: PhysRange) {
        if !range.is_empty() {
            self.ram.push(range);
        }
    }

    pub fn add_hole(&mut self, range: PhysRange, kind: MemoryKind) {
        if !range.is_empty() {
            self.holes.push((range, kind));
        }
    }

    pub fn truncated(&self) -> bool {
        self.ram.overflowed || self.holes.overflowed
    }
}

const fn align_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

const fn align_up(x: u64) -> u64 {
    match x.checked_add(PAGE_SIZE - 1) {
        Some(v) => align_down(v),
        None => align_down(u64::MAX),
    }
}

/// How strongly a kind claims memory when ranges overlap: firmware reservations win over our own
/// use, which wins over free RAM.
const fn rank(kind: MemoryKind) -> u8 {
    match kind {
        MemoryKind::Usable => 0,
        MemoryKind::KernelInUse => 1,
        MemoryKind::Reserved => 2,
    }
}

/// Writes the memory map of `facts` into `boot` (which must have no regions yet): RAM shrunk
/// inward and taken ranges grown outward to page boundaries, split into disjoint ascending
/// intervals, each with the strongest kind that covers it; adjacent intervals of one kind merged.
/// Taken ranges outside RAM are listed with their own kind.
pub fn build(boot: &mut BootInfo, facts: &MemoryFacts) {
    const MAX_POINTS: usize = 2 * (MAX_RAM + MAX_HOLES);
    let mut points = [0u64; MAX_POINTS];
    let mut n = 0;

    let ram = |r: PhysRange| (align_up(r.start), align_down(r.end()));
    let hole = |r: PhysRange| (align_down(r.start), align_up(r.end()));

    for r in facts.ram.iter() {
        let (s, e) = ram(r);
        if s < e {
            points[n] = s;
            points[n + 1] = e;
            n += 2;
        }
    }
    for (r, _) in facts.holes.iter() {
        let (s, e) = hole(r);
        if s < e {
            points[n] = s;
            points[n + 1] = e;
            n += 2;
        }
    }
    let points = &mut points[..n];
    points.sort_unstable();

    let mut pending: Option<(PhysRange, MemoryKind)> = None;
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a == b {
            continue;
        }
        let in_ram = facts.ram.iter().any(|r| {
            let (s, e) = ram(r);
            s <= a && b <= e
        });
        let taken = facts
            .holes
            .iter()
            .filter(|&(r, _)| {
                let (s, e) = hole(r);
                s <= a && b <= e
            })
            .map(|(_, k)| k)
            .max_by_key(|&k| rank(k));
        let kind = match (taken, in_ram) {
            (Some(k), _) => k,
            (None, true) => MemoryKind::Usable,
            (None, false) => continue,
        };
        pending = match pending {
            Some((r, k)) if k == kind && r.end() == a => {
                Some((PhysRange::new(r.start, b - r.start), k))
            }
            Some((r, k)) => {
                boot.add_region(r, k);
                Some((PhysRange::new(a, b - a), kind))
            }
            None => Some((PhysRange::new(a, b - a), kind)),
        };
    }
    if let Some((r, k)) = pending {
        boot.add_region(r, k);
    }
    if facts.truncated() {
        boot.memory_map_truncated = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hal::boot::{BootProtocol, MemoryRegion};

    fn r(start: u64, len: u64) -> PhysRange {
        PhysRange::new(start, len)
    }

    fn map(facts: &MemoryFacts) -> Vec<MemoryRegion> {
        let mut boot = BootInfo::new(BootProtocol::LinuxArm64Image);
        build(&mut boot, facts);
        boot.memory_map().to_vec()
    }

    fn region(start: u64, end: u64, kind: MemoryKind) -> MemoryRegion {
        MemoryRegion {
            range: PhysRange::new(start, end - start),
            kind,
        }
    }

    #[test]
    fn carves_kernel_dtb_and_initrd_out_of_ram() {
        let mut f = MemoryFacts::default();
        f.add_ram(r(0x4000_0000, 0x2000_0000));
        f.add_hole(r(0x4020_0000, 0x12_3456), MemoryKind::KernelInUse); // kernel, unaligned end
        f.add_hole(r(0x4800_0000, 0x10_0000), MemoryKind::KernelInUse); // initrd
        f.add_hole(r(0x4810_0000, 0x1c00), MemoryKind::KernelInUse); // DTB right after it
        assert_eq!(
            map(&f),
            vec![
                region(0x4000_0000, 0x4020_0000, MemoryKind::Usable),
                region(0x4020_0000, 0x4032_4000, MemoryKind::KernelInUse),
                region(0x4032_4000, 0x4800_0000, MemoryKind::Usable),
                region(0x4800_0000, 0x4810_2000, MemoryKind::KernelInUse),
                region(0x4810_2000, 0x6000_0000, MemoryKind::Usable),
            ]
        );
    }

    #[test]
    fn reservations_win_and_outside_holes_are_kept() {
        let mut f = MemoryFacts::default();
        f.add_ram(r(0x8000_0000, 0x1000_0000));
        f.add_ram(r(0x4000_0000, 0x1000_0000)); // unsorted input
        f.add_hole(r(0x4000_0000, 0x2000), MemoryKind::KernelInUse);
        f.add_hole(r(0x4000_1000, 0x2000), MemoryKind::Reserved); // overlaps the previous one
        f.add_hole(r(0x1000, 0x1000), MemoryKind::Reserved); // not RAM at all
        assert_eq!(
            map(&f),
            vec![
                region(0x1000, 0x2000, MemoryKind::Reserved),
                region(0x4000_0000, 0x4000_1000, MemoryKind::KernelInUse),
                region(0x4000_1000, 0x4000_3000, MemoryKind::Reserved),
                region(0x4000_3000, 0x5000_0000, MemoryKind::Usable),
                region(0x8000_0000, 0x9000_0000, MemoryKind::Usable),
            ]
        );
    }

    #[test]
    fn unaligned_ram_shrinks_and_hostile_ranges_do_not_wrap() {
        let mut f = MemoryFacts::default();
        f.add_ram(r(0x4000_0123, 0x3000)); // -> 0x4000_1000..0x4000_3000
        f.add_ram(r(u64::MAX - 0x1000, 0x5000)); // saturates at the top
        f.add_ram(r(0x5000_0000, 0x800)); // less than a page: nothing
        let m = map(&f);
        assert_eq!(m[0], region(0x4000_1000, 0x4000_3000, MemoryKind::Usable));
        for w in m.windows(2) {
            assert!(w[0].range.end() <= w[1].range.start);
        }
        assert!(
            m.iter()
                .all(|x| x.range.start % PAGE_SIZE == 0 && x.range.len % PAGE_SIZE == 0)
        );
    }

    #[test]
    fn overflow_is_reported() {
        let mut f = MemoryFacts::default();
        for i in 0..(MAX_RAM as u64 + 3) {
            f.add_ram(r(i * 0x10_0000, 0x1000));
        }
        let mut boot = BootInfo::new(BootProtocol::LinuxArm64Image);
        build(&mut boot, &f);
        assert!(boot.memory_map_truncated);
        assert_eq!(boot.memory_map().len(), MAX_RAM);
    }
}
