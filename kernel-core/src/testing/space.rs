//! The mock address space for host tests: a page table over a mock *physical memory*, obeying the
//! same contracts as the real arch page tables (W^X, user range, one frame reference per mapping,
//! page-table frames taken from the allocator, protection checks in the copy helpers).
//!
//! Physical memory is keyed by frame address, so two page tables mapping one frame see the same
//! bytes: copy-on-write sharing after `fork` and shared mappings are observable exactly as on
//! hardware. A frame that was never written holds a poison pattern, not zeros, so that a missing
//! [`zero_frame`] shows up as garbage in a test.

use super::MockArch;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cell::RefCell;
use hal::arch::Arch;
use hal::boot::PhysAddr;
use hal::mmu::{AddressSpace, BadUserAddress, FrameAllocator, MapError, PAGE_SIZE, PageFlags};

/// What a frame holds before anything wrote it (real RAM holds whatever it held last).
pub const POISON: u8 = 0xa5;
/// One page-table frame covers this much user address space in the mock (as a last-level table
/// does on both arches: 512 entries of 4 KiB).
const TABLE_SPAN: u64 = 512 * PAGE_SIZE;

type Frame = Box<[u8; PAGE_SIZE as usize]>;

std::thread_local! {
    /// The mock RAM. Each test runs on its own thread, so tests never see each other's frames.
    static PHYSICAL: RefCell<BTreeMap<PhysAddr, Frame>> = const { RefCell::new(BTreeMap::new()) };
}

fn with_frame<R>(frame: PhysAddr, f: impl FnOnce(&mut [u8; PAGE_SIZE as usize]) -> R) -> R {
    PHYSICAL.with(|memory| {
        let mut memory = memory.borrow_mut();
        let bytes = memory
            .entry(frame)
            .or_insert_with(|| Box::new([POISON; PAGE_SIZE as usize]));
        f(bytes)
    })
}

/// Fills a mock frame with zeros (`Arch::zero_frame` of the mock arch).
pub fn zero_frame(frame: PhysAddr) {
    with_frame(frame, |bytes| bytes.fill(0));
}

/// Copies one mock frame to another (`Arch::copy_frame` of the mock arch).
pub fn copy_frame(dst: PhysAddr, src: PhysAddr) {
    let copy: [u8; PAGE_SIZE as usize] = with_frame(src, |bytes| *bytes);
    with_frame(dst, |bytes| *bytes = copy);
}

/// Reads `len` bytes of a mock frame at `offset`: tests look at physical memory directly.
pub fn read_frame(frame: PhysAddr, offset: usize, len: usize) -> Vec<u8> {
    with_frame(frame, |bytes| bytes[offset..offset + len].to_vec())
}

/// A page table: user pages (frame and rights) plus the page-table frames it took from the
/// allocator (a root, and one table per 2 MiB of address space that ever had a page), which
/// [`AddressSpace::destroy`] returns, like the real arch code.
pub struct MockSpace {
    pages: BTreeMap<u64, (PhysAddr, PageFlags)>,
    root: Option<PhysAddr>,
    tables: BTreeMap<u64, PhysAddr>,
}

type Piece = (PhysAddr, usize, usize);

impl MockSpace {
    /// Splits `[va, va + len)` into (frame, offset, length) pieces after checking every byte, as
    /// the arch's software page walk does.
    fn walk(
        &self,
        va: u64,
        len: usize,
        write: bool,
        force: bool,
    ) -> Result<Vec<Piece>, BadUserAddress> {
        let bad = BadUserAddress { address: va };
        let end = va
            .checked_add(len as u64)
            .filter(|&e| e <= MockArch::USER_END)
            .ok_or(bad)?;
        let mut pieces = Vec::new();
        let mut at = va;
        while at < end {
            let page = at & !(PAGE_SIZE - 1);
            let &(frame, flags) = self
                .pages
                .get(&page)
                .ok_or(BadUserAddress { address: at })?;
            if write && !flags.write && !force {
                return Err(BadUserAddress { address: at });
            }
            let n = (PAGE_SIZE - (at - page)).min(end - at) as usize;
            pieces.push((frame, (at - page) as usize, n));
            at += n as u64;
        }
        Ok(pieces)
    }

    fn check_va(va: u64) -> Result<(), MapError> {
        if !va.is_multiple_of(PAGE_SIZE) || va >= MockArch::USER_END {
            return Err(MapError::BadAddress);
        }
        Ok(())
    }

    /// The page-table frame covering `va`, allocated on first use.
    fn table_for(&mut self, va: u64, frames: &mut dyn FrameAllocator) -> Result<(), MapError> {
        if let alloc::collections::btree_map::Entry::Vacant(slot) =
            self.tables.entry(va / TABLE_SPAN)
        {
            slot.insert(frames.allocate_frame().ok_or(MapError::OutOfMemory)?);
        }
        Ok(())
    }

    /// Reads user memory ignoring nothing: a test convenience.
    pub fn peek(&self, va: u64, len: usize) -> Vec<u8> {
        let mut out = alloc::vec![0; len];
        self.read_user(va, &mut out)
            .expect("peek at unmapped memory");
        out
    }

    /// How many user pages are mapped.
    pub fn mapped_pages(&self) -> usize {
        self.pages.len()
    }

    /// How many page-table frames the space holds (root included).
    pub fn table_frames(&self) -> usize {
        self.tables.len() + usize::from(self.root.is_some())
    }
}

impl AddressSpace for MockSpace {
    fn new(frames: &mut dyn FrameAllocator) -> Result<Self, MapError> {
        let root = frames.allocate_frame().ok_or(MapError::OutOfMemory)?;
        Ok(Self {
            pages: BTreeMap::new(),
            root: Some(root),
            tables: BTreeMap::new(),
        })
    }
    fn map_zeroed(
        &mut self,
        va: u64,
        flags: PageFlags,
        frames: &mut dyn FrameAllocator,
    ) -> Result<(), MapError> {
        Self::check_va(va)?;
        if flags.write && flags.execute {
            return Err(MapError::WriteExecute);
        }
        if self.pages.contains_key(&va) {
            return Err(MapError::AlreadyMapped);
        }
        self.table_for(va, frames)?;
        let frame = frames.allocate_frame().ok_or(MapError::OutOfMemory)?;
        zero_frame(frame);
        self.pages.insert(va, (frame, flags));
        Ok(())
    }
    fn map_frame(
        &mut self,
        va: u64,
        frame: PhysAddr,
        flags: PageFlags,
        frames: &mut dyn FrameAllocator,
    ) -> Result<(), MapError> {
        Self::check_va(va)?;
        if flags.write && flags.execute {
            return Err(MapError::WriteExecute);
        }
        if self.pages.contains_key(&va) {
            return Err(MapError::AlreadyMapped);
        }
        self.table_for(va, frames)?;
        self.pages.insert(va, (frame, flags));
        Ok(())
    }
    fn protect(&mut self, va: u64, flags: PageFlags) -> Result<(), MapError> {
        if flags.write && flags.execute {
            return Err(MapError::WriteExecute);
        }
        self.pages
            .get_mut(&va)
            .map(|p| p.1 = flags)
            .ok_or(MapError::NotMapped)
    }
    fn unmap(&mut self, va: u64, frames: &mut dyn FrameAllocator) -> Result<(), MapError> {
        let (frame, _) = self.pages.remove(&va).ok_or(MapError::NotMapped)?;
        frames.free_frame(frame);
        Ok(())
    }
    fn translate(&self, va: u64) -> Option<(PhysAddr, PageFlags)> {
        self.pages.get(&(va & !(PAGE_SIZE - 1))).copied()
    }
    fn for_each_mapped(
        &self,
        start: u64,
        end: u64,
        visit: &mut dyn FnMut(u64, PhysAddr, PageFlags),
    ) {
        if start >= end {
            return;
        }
        for (&va, &(frame, flags)) in self.pages.range(start..end) {
            visit(va, frame, flags);
        }
    }
    fn write_user(
        &self,
        va: u64,
        src: &[u8],
        ignore_protection: bool,
    ) -> Result<(), BadUserAddress> {
        let pieces = self.walk(va, src.len(), true, ignore_protection)?;
        let mut copied = 0;
        for (frame, offset, n) in pieces {
            with_frame(frame, |bytes| {
                bytes[offset..offset + n].copy_from_slice(&src[copied..copied + n])
            });
            copied += n;
        }
        Ok(())
    }
    fn read_user(&self, va: u64, dst: &mut [u8]) -> Result<(), BadUserAddress> {
        let pieces = self.walk(va, dst.len(), false, false)?;
        let mut copied = 0;
        for (frame, offset, n) in pieces {
            with_frame(frame, |bytes| {
                dst[copied..copied + n].copy_from_slice(&bytes[offset..offset + n])
            });
            copied += n;
        }
        Ok(())
    }
    fn destroy(self, frames: &mut dyn FrameAllocator) {
        for (_, (frame, _)) in self.pages {
            frames.free_frame(frame);
        }
        for (_, table) in self.tables {
            frames.free_frame(table);
        }
        if let Some(root) = self.root {
            frames.free_frame(root);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{BitmapFrameAllocator, Frames};
    use hal::boot::PhysRange;

    fn allocator() -> BitmapFrameAllocator {
        BitmapFrameAllocator::new(&[PhysRange::new(0x100_0000, 64 * PAGE_SIZE)])
    }

    #[test]
    fn two_spaces_mapping_one_frame_see_the_same_bytes() {
        let mut frames = allocator();
        let baseline = frames.free_frames();
        let mut a = MockSpace::new(&mut frames).unwrap();
        let mut b = MockSpace::new(&mut frames).unwrap();
        a.map_zeroed(0x1000, PageFlags::READ_WRITE, &mut frames)
            .unwrap();
        let (frame, _) = a.translate(0x1234).unwrap();
        frames.share(frame);
        b.map_frame(0x40_0000, frame, PageFlags::READ, &mut frames)
            .unwrap();
        a.write_user(0x1010, b"shared", false).unwrap();
        assert_eq!(b.peek(0x40_0010, 6), b"shared");
        assert_eq!(
            b.write_user(0x40_0010, b"x", false),
            Err(BadUserAddress { address: 0x40_0010 })
        );
        assert_eq!(frames.references(frame), 2);
        a.destroy(&mut frames);
        assert_eq!(frames.references(frame), 1);
        b.destroy(&mut frames);
        assert_eq!(frames.free_frames(), baseline);
    }

    #[test]
    fn fresh_frames_hold_poison_until_zeroed_and_copy_copies() {
        let mut frames = allocator();
        let f = frames.allocate_frame().unwrap();
        let g = frames.allocate_frame().unwrap();
        assert_eq!(read_frame(f, 0, 4), [POISON; 4]);
        zero_frame(f);
        assert_eq!(read_frame(f, 100, 4), [0; 4]);
        copy_frame(g, f);
        assert_eq!(read_frame(g, 4000, 4), [0; 4]);
    }

    #[test]
    fn for_each_mapped_visits_in_order_within_the_range() {
        let mut frames = allocator();
        let mut s = MockSpace::new(&mut frames).unwrap();
        for va in [0x3000, 0x1000, 0x9000, 0x20_0000] {
            s.map_zeroed(va, PageFlags::READ, &mut frames).unwrap();
        }
        let mut seen = Vec::new();
        s.for_each_mapped(0x1000, 0x20_0000, &mut |va, _, _| seen.push(va));
        assert_eq!(seen, [0x1000, 0x3000, 0x9000]);
        // Two page tables: 0..2 MiB and 2..4 MiB, plus the root.
        assert_eq!(s.table_frames(), 3);
        s.destroy(&mut frames);
    }

    #[test]
    fn mapping_refuses_wx_unaligned_and_kernel_addresses() {
        let mut frames = allocator();
        let mut s = MockSpace::new(&mut frames).unwrap();
        let wx = PageFlags {
            write: true,
            execute: true,
        };
        assert_eq!(
            s.map_zeroed(0x1000, wx, &mut frames),
            Err(MapError::WriteExecute)
        );
        assert_eq!(
            s.map_zeroed(0x1001, PageFlags::READ, &mut frames),
            Err(MapError::BadAddress)
        );
        assert_eq!(
            s.map_zeroed(MockArch::USER_END, PageFlags::READ, &mut frames),
            Err(MapError::BadAddress)
        );
        s.destroy(&mut frames);
    }
}
