//! x86_64 4-level page tables: the walker shared by the boot code (kernel tables) and by
//! [`UserSpace`], the [`hal::mmu::AddressSpace`] of one user program.
//!
//! Every table is reached through a [`PhysWindow`] (the direct map on the machine), never
//! through the address space being edited, so an inactive space can be edited and user memory is
//! only ever touched by a software walk that checks the USER and WRITABLE bits. The logic builds
//! and is tested on the host, where the "physical" addresses are host heap pages (window 0).

use core::sync::atomic::{AtomicU64, Ordering};
use hal::mmu::{AddressSpace, BadUserAddress, FrameAllocator, MapError, PAGE_SIZE, PageFlags};

/// Page-table entry bits.
pub mod pte {
    pub const PRESENT: u64 = 1 << 0;
    pub const WRITABLE: u64 = 1 << 1;
    pub const USER: u64 = 1 << 2;
    /// With PCD: PAT entry 3, uncacheable under the reset PAT (device memory).
    pub const WRITE_THROUGH: u64 = 1 << 3;
    pub const CACHE_DISABLE: u64 = 1 << 4;
    pub const HUGE: u64 = 1 << 7;
    pub const GLOBAL: u64 = 1 << 8;
    /// Software bit (the MMU ignores bit 9): the page was mapped without execute permission.
    /// Recorded apart from NX so that `query` answers correctly on a CPU without NX.
    pub const SW_NO_EXECUTE: u64 = 1 << 9;
    pub const NO_EXECUTE: u64 = 1 << 63;
    pub const ADDRESS: u64 = 0x000f_ffff_ffff_f000;
}

/// First address above the user range (Linux's `TASK_SIZE_MAX`: the last lower-half page is
/// left out so that no user instruction can run into the non-canonical hole).
pub const USER_END: u64 = 0x0000_7fff_ffff_f000;
/// PML4 entries 256..512 map the kernel half, shared by every address space.
pub const KERNEL_PML4_FIRST: usize = 256;

/// The NX bit to use in leaf entries: the real bit when the CPU has EFER.NXE, else 0 (setting a
/// reserved bit would make every access fault).
static NX_BIT: AtomicU64 = AtomicU64::new(pte::NO_EXECUTE);
/// Physical address of the kernel's PML4, whose upper half every user space copies.
static KERNEL_ROOT: AtomicU64 = AtomicU64::new(0);

pub fn set_nx_supported(supported: bool) {
    NX_BIT.store(
        if supported { pte::NO_EXECUTE } else { 0 },
        Ordering::Relaxed,
    );
}

pub fn nx_bit() -> u64 {
    NX_BIT.load(Ordering::Relaxed)
}

pub fn set_kernel_root(root: u64) {
    KERNEL_ROOT.store(root, Ordering::Relaxed);
}

pub fn kernel_root() -> u64 {
    KERNEL_ROOT.load(Ordering::Relaxed)
}

/// How the kernel reaches physical memory right now: physical `p` is at virtual `offset + p`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhysWindow {
    offset: u64,
}

impl PhysWindow {
    pub const fn new(offset: u64) -> Self {
        Self { offset }
    }

    pub const fn offset(&self) -> u64 {
        self.offset
    }

    pub fn ptr(&self, phys: u64) -> *mut u8 {
        self.offset.wrapping_add(phys) as *mut u8
    }

    fn entry(&self, table: u64, index: usize) -> *mut u64 {
        (self.ptr(table) as *mut u64).wrapping_add(index)
    }
}

/// The table index of `va` at `level` (4 = PML4 .. 1 = page table).
const fn index(va: u64, level: u32) -> usize {
    ((va >> (12 + 9 * (level - 1))) & 511) as usize
}

/// Returns the entry for `va` at `leaf_level` (1: 4 KiB page, 2: 2 MiB page), creating missing
/// intermediate tables (zeroed) with `table_flags`.
///
/// # Safety
/// `root` and every table reachable from it must be page-table frames readable and writable
/// through `window`, and nobody else may be editing them.
pub unsafe fn walk_create(
    window: PhysWindow,
    root: u64,
    va: u64,
    leaf_level: u32,
    table_flags: u64,
    frames: &mut dyn FrameAllocator,
) -> Result<*mut u64, MapError> {
    let mut table = root;
    for level in (leaf_level + 1..=4).rev() {
        let entry = window.entry(table, index(va, level));
        // SAFETY: `entry` is inside a live table reachable through the window (caller's
        // contract); page tables are plain u64 arrays.
        let value = unsafe { entry.read() };
        if value & pte::PRESENT == 0 {
            let frame = frames.allocate_frame().ok_or(MapError::OutOfMemory)?;
            // SAFETY: a fresh frame from the allocator is ours and reachable through the window;
            // zeroing it makes every entry not-present before it is linked in.
            unsafe {
                core::ptr::write_bytes(window.ptr(frame), 0, PAGE_SIZE as usize);
                entry.write(frame | table_flags);
            }
            table = frame;
        } else if value & pte::HUGE != 0 {
            return Err(MapError::AlreadyMapped);
        } else {
            table = value & pte::ADDRESS;
        }
    }
    Ok(window.entry(table, index(va, leaf_level)))
}

/// The level-1 entry for `va`, if every table on the way exists (and none is a huge page).
///
/// # Safety
/// As for [`walk_create`], but only read access is needed.
pub unsafe fn walk(window: PhysWindow, root: u64, va: u64) -> Option<*mut u64> {
    let mut table = root;
    for level in (2..=4).rev() {
        // SAFETY: as in `walk_create`.
        let value = unsafe { window.entry(table, index(va, level)).read() };
        if value & pte::PRESENT == 0 || value & pte::HUGE != 0 {
            return None;
        }
        table = value & pte::ADDRESS;
    }
    Some(window.entry(table, index(va, 1)))
}

/// Maps one kernel page (`level` 1: 4 KiB, 2: 2 MiB) with leaf `flags`; intermediate tables are
/// present+writable, supervisor-only (the leaf decides the rights).
///
/// # Safety
/// As for [`walk_create`]; and the mapping must not break anything the kernel is using.
pub unsafe fn map_kernel(
    window: PhysWindow,
    root: u64,
    va: u64,
    pa: u64,
    level: u32,
    flags: u64,
    frames: &mut dyn FrameAllocator,
) -> Result<(), MapError> {
    let huge = if level == 2 { pte::HUGE } else { 0 };
    // SAFETY: forwarded caller contract.
    let entry = unsafe {
        walk_create(
            window,
            root,
            va,
            level,
            pte::PRESENT | pte::WRITABLE,
            frames,
        )?
    };
    // SAFETY: `entry` points into a live table (walk_create's result).
    unsafe { entry.write((pa & pte::ADDRESS) | flags | huge | pte::PRESENT) };
    Ok(())
}

/// Machine hooks: TLB maintenance and the direct-map window. On the host (tests) there is no
/// MMU; the window is the identity and nothing needs flushing.
#[cfg(target_os = "none")]
mod machine {
    use super::PhysWindow;
    use x86_64::VirtAddr;
    use x86_64::registers::control::Cr3;

    pub fn window() -> PhysWindow {
        PhysWindow::new(crate::PHYS_OFFSET)
    }

    fn active_root() -> u64 {
        Cr3::read_raw().0.start_address().as_u64()
    }

    /// Drops a stale translation of `va` if `root` is the active address space (an inactive
    /// one has no TLB entries: writing CR3 flushes every non-global entry).
    pub fn flush(root: u64, va: u64) {
        if active_root() == root {
            x86_64::instructions::tlb::flush(VirtAddr::new_truncate(va));
        }
    }

    /// Makes sure `root` is not the active address space before its frames are freed.
    pub fn deactivate(root: u64) {
        if active_root() == root {
            crate::cpu::load_root(super::kernel_root());
        }
    }
}

#[cfg(not(target_os = "none"))]
mod machine {
    use super::PhysWindow;

    pub fn window() -> PhysWindow {
        PhysWindow::new(0)
    }
    pub fn flush(_root: u64, _va: u64) {}
    pub fn deactivate(_root: u64) {}
}

/// One user program's address space: a PML4 whose upper half is the kernel's.
#[derive(Debug)]
pub struct UserSpace {
    root: u64,
}

fn leaf_flags(flags: PageFlags) -> u64 {
    let mut bits = pte::PRESENT | pte::USER;
    if flags.write {
        bits |= pte::WRITABLE;
    }
    if !flags.execute {
        bits |= pte::SW_NO_EXECUTE | nx_bit();
    }
    bits
}

/// The rights a present user leaf entry grants.
fn flags_of(value: u64) -> PageFlags {
    PageFlags {
        write: value & pte::WRITABLE != 0,
        execute: value & pte::SW_NO_EXECUTE == 0,
    }
}

/// Calls `visit` for every present user leaf of `table` (at `level`, covering virtual addresses
/// from `base`) that lies in `[start, end)`, in address order. Absent entries at any level are
/// skipped whole, so the cost follows what is mapped, not the size of the range.
///
/// # Safety
/// `table` must be a live page table at `level` reachable through `window`, not edited
/// concurrently.
unsafe fn visit_range(
    window: PhysWindow,
    table: u64,
    level: u32,
    base: u64,
    start: u64,
    end: u64,
    visit: &mut dyn FnMut(u64, u64, PageFlags),
) {
    let span = 1u64 << (12 + 9 * (level - 1));
    let first = if start > base {
        ((start - base) / span) as usize
    } else {
        0
    };
    for i in first..512 {
        let va = base + i as u64 * span;
        if va >= end {
            break;
        }
        // SAFETY: caller's contract; `i < 512` stays inside the table.
        let value = unsafe { window.entry(table, i).read() };
        if value & pte::PRESENT == 0 || value & pte::USER == 0 {
            continue;
        }
        if level == 1 {
            if va >= start {
                visit(va, value & pte::ADDRESS, flags_of(value));
            }
        } else if value & pte::HUGE == 0 {
            // SAFETY: a present non-huge entry above level 1 points at a live lower table.
            unsafe {
                visit_range(
                    window,
                    value & pte::ADDRESS,
                    level - 1,
                    va,
                    start,
                    end,
                    visit,
                )
            };
        }
    }
}

fn check_page(va: u64) -> Result<(), MapError> {
    if !va.is_multiple_of(PAGE_SIZE) || va >= USER_END {
        return Err(MapError::BadAddress);
    }
    Ok(())
}

/// Checks that `[va, va + len)` is inside the user range; the error names the first byte that
/// is not.
fn check_user_range(va: u64, len: usize) -> Result<(), BadUserAddress> {
    if va >= USER_END {
        return Err(BadUserAddress { address: va });
    }
    match va.checked_add(len as u64) {
        Some(end) if end <= USER_END => Ok(()),
        _ => Err(BadUserAddress { address: USER_END }),
    }
}

impl UserSpace {
    /// Physical address of the PML4 (what CR3 holds while this space is active).
    pub fn root(&self) -> u64 {
        self.root
    }

    /// The user leaf entry for `va` if it is mapped.
    fn leaf(&self, va: u64) -> Option<*mut u64> {
        // SAFETY: `self.root` is a PML4 this space owns; its tables are only edited through
        // `&mut self`, and the window reaches all physical memory.
        let entry = unsafe { walk(machine::window(), self.root, va)? };
        // SAFETY: `walk` returned a pointer into a live page table.
        let value = unsafe { entry.read() };
        (value & pte::PRESENT != 0 && value & pte::USER != 0).then_some(entry)
    }

    /// The empty level-1 entry for user page `va`, creating the tables above it: the common
    /// checks of `map_zeroed` and `map_frame`.
    fn free_leaf(
        &mut self,
        va: u64,
        flags: PageFlags,
        frames: &mut dyn FrameAllocator,
    ) -> Result<*mut u64, MapError> {
        check_page(va)?;
        if flags.write && flags.execute {
            return Err(MapError::WriteExecute);
        }
        let table_flags = pte::PRESENT | pte::WRITABLE | pte::USER;
        // SAFETY: our own tables, edited under `&mut self`; `va` is a user address so only
        // tables below PML4 entry 256 (ours, not the shared kernel half) are touched.
        let entry =
            unsafe { walk_create(machine::window(), self.root, va, 1, table_flags, frames)? };
        // SAFETY: live entry returned by `walk_create`.
        if unsafe { entry.read() } & pte::PRESENT != 0 {
            return Err(MapError::AlreadyMapped);
        }
        Ok(entry)
    }

    /// Copies between user memory at `va` and the kernel buffer, page by page, through the
    /// direct map. `copy(kernel_offset, user_pointer, len)` moves one piece.
    fn each_user_piece(
        &self,
        va: u64,
        len: usize,
        need_write: bool,
        mut copy: impl FnMut(usize, *mut u8, usize),
    ) -> Result<(), BadUserAddress> {
        check_user_range(va, len)?;
        let window = machine::window();
        let mut done = 0usize;
        while done < len {
            let addr = va + done as u64;
            let bad = BadUserAddress { address: addr };
            let entry = self.leaf(addr).ok_or(bad)?;
            // SAFETY: `leaf` returned a live page-table entry.
            let value = unsafe { entry.read() };
            if need_write && value & pte::WRITABLE == 0 {
                return Err(bad);
            }
            let offset = (addr % PAGE_SIZE) as usize;
            let piece = (PAGE_SIZE as usize - offset).min(len - done);
            let user = window.ptr((value & pte::ADDRESS) + offset as u64);
            copy(done, user, piece);
            done += piece;
        }
        Ok(())
    }
}

impl AddressSpace for UserSpace {
    fn new(frames: &mut dyn FrameAllocator) -> Result<Self, MapError> {
        let root = frames.allocate_frame().ok_or(MapError::OutOfMemory)?;
        let window = machine::window();
        let kernel = kernel_root();
        // SAFETY: `root` is a fresh frame we own; the kernel PML4 is live for the whole run and
        // only read here. Entries 256..512 point at tables that are shared, never freed.
        unsafe {
            core::ptr::write_bytes(window.ptr(root), 0, PAGE_SIZE as usize);
            if kernel != 0 {
                for i in KERNEL_PML4_FIRST..512 {
                    window.entry(root, i).write(window.entry(kernel, i).read());
                }
            }
        }
        Ok(Self { root })
    }

    fn map_zeroed(
        &mut self,
        va: u64,
        flags: PageFlags,
        frames: &mut dyn FrameAllocator,
    ) -> Result<(), MapError> {
        let entry = self.free_leaf(va, flags, frames)?;
        let frame = frames.allocate_frame().ok_or(MapError::OutOfMemory)?;
        let window = machine::window();
        // SAFETY: a fresh frame is ours; zero it before the user can see it, then link it into
        // the live, empty entry `free_leaf` returned.
        unsafe {
            core::ptr::write_bytes(window.ptr(frame), 0, PAGE_SIZE as usize);
            entry.write(frame | leaf_flags(flags));
        }
        Ok(())
    }

    fn map_frame(
        &mut self,
        va: u64,
        frame: u64,
        flags: PageFlags,
        frames: &mut dyn FrameAllocator,
    ) -> Result<(), MapError> {
        if !frame.is_multiple_of(PAGE_SIZE) || frame & !pte::ADDRESS != 0 {
            return Err(MapError::BadAddress);
        }
        let entry = self.free_leaf(va, flags, frames)?;
        // SAFETY: live, empty entry of our own table (`free_leaf`); the caller hands us one
        // reference to `frame`, which `unmap`/`destroy` give back.
        unsafe { entry.write(frame | leaf_flags(flags)) };
        Ok(())
    }

    fn protect(&mut self, va: u64, flags: PageFlags) -> Result<(), MapError> {
        check_page(va)?;
        if flags.write && flags.execute {
            return Err(MapError::WriteExecute);
        }
        let entry = self.leaf(va).ok_or(MapError::NotMapped)?;
        // SAFETY: live entry of our own table, edited under `&mut self`.
        unsafe {
            let frame = entry.read() & pte::ADDRESS;
            entry.write(frame | leaf_flags(flags));
        }
        machine::flush(self.root, va);
        Ok(())
    }

    fn unmap(&mut self, va: u64, frames: &mut dyn FrameAllocator) -> Result<(), MapError> {
        check_page(va)?;
        let entry = self.leaf(va).ok_or(MapError::NotMapped)?;
        // SAFETY: live entry of our own table, edited under `&mut self`.
        let frame = unsafe {
            let frame = entry.read() & pte::ADDRESS;
            entry.write(0);
            frame
        };
        // The translation must be gone before the frame can be reused.
        machine::flush(self.root, va);
        frames.free_frame(frame);
        Ok(())
    }

    fn translate(&self, va: u64) -> Option<(u64, PageFlags)> {
        if va >= USER_END {
            return None;
        }
        let entry = self.leaf(va & !(PAGE_SIZE - 1))?;
        // SAFETY: live entry.
        let value = unsafe { entry.read() };
        Some((value & pte::ADDRESS, flags_of(value)))
    }

    fn for_each_mapped(&self, start: u64, end: u64, visit: &mut dyn FnMut(u64, u64, PageFlags)) {
        let end = end.min(USER_END);
        if start >= end {
            return;
        }
        // SAFETY: our own tables, read under `&self` (edits need `&mut self`); only the user
        // half (PML4 entries below 256, since `end <= USER_END`) is walked.
        unsafe { visit_range(machine::window(), self.root, 4, 0, start, end, visit) };
    }

    fn write_user(
        &self,
        va: u64,
        src: &[u8],
        ignore_protection: bool,
    ) -> Result<(), BadUserAddress> {
        self.each_user_piece(va, src.len(), !ignore_protection, |done, user, n| {
            // SAFETY: `user` is the direct-map address of `n` bytes inside one mapped user
            // page; `src[done..done + n]` is in bounds; kernel buffers never alias user frames
            // through the direct map.
            unsafe { core::ptr::copy_nonoverlapping(src.as_ptr().add(done), user, n) }
        })
    }

    fn read_user(&self, va: u64, dst: &mut [u8]) -> Result<(), BadUserAddress> {
        let out = dst.as_mut_ptr();
        self.each_user_piece(va, dst.len(), false, |done, user, n| {
            // SAFETY: as in `write_user`, in the other direction.
            unsafe { core::ptr::copy_nonoverlapping(user, out.add(done), n) }
        })
    }

    fn destroy(self, frames: &mut dyn FrameAllocator) {
        machine::deactivate(self.root);
        let window = machine::window();
        // SAFETY: the space is no longer active and is consumed; only the lower half (ours) is
        // walked and freed, the shared kernel half is left alone.
        unsafe { free_tables(window, self.root, 4, 0..KERNEL_PML4_FIRST, frames) };
        frames.free_frame(self.root);
    }
}

/// Frees every frame below `table` (pages and tables) in `indices`, not `table` itself.
///
/// # Safety
/// `table` must be a page table at `level` owned by the caller and not in use.
unsafe fn free_tables(
    window: PhysWindow,
    table: u64,
    level: u32,
    indices: core::ops::Range<usize>,
    frames: &mut dyn FrameAllocator,
) {
    for i in indices {
        // SAFETY: caller's contract; entries are plain u64s.
        let value = unsafe { window.entry(table, i).read() };
        if value & pte::PRESENT == 0 {
            continue;
        }
        let frame = value & pte::ADDRESS;
        if level > 1 && value & pte::HUGE == 0 {
            // SAFETY: a present non-huge entry above level 1 points at a table we own.
            unsafe { free_tables(window, frame, level - 1, 0..512, frames) };
        }
        frames.free_frame(frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::{Layout, alloc, dealloc};
    use std::collections::BTreeSet;

    /// Frames are host heap pages; "physical address" = host address (window offset 0).
    struct HostFrames {
        live: BTreeSet<u64>,
        limit: usize,
    }

    impl HostFrames {
        fn new() -> Self {
            Self {
                live: BTreeSet::new(),
                limit: usize::MAX,
            }
        }
    }

    const LAYOUT: Layout = match Layout::from_size_align(4096, 4096) {
        Ok(l) => l,
        Err(_) => panic!(),
    };

    impl FrameAllocator for HostFrames {
        fn allocate_frame(&mut self) -> Option<u64> {
            if self.live.len() >= self.limit {
                return None;
            }
            // SAFETY: non-zero size layout.
            let p = unsafe { alloc(LAYOUT) } as u64;
            assert_ne!(p, 0);
            // Garbage, as the trait allows: the page-table code must zero what it uses.
            // SAFETY: freshly allocated 4096 bytes.
            unsafe { core::ptr::write_bytes(p as *mut u8, 0xa5, 4096) };
            self.live.insert(p);
            Some(p)
        }
        fn free_frame(&mut self, frame: u64) {
            assert!(
                self.live.remove(&frame),
                "double or foreign free of {frame:#x}"
            );
            // SAFETY: allocated by `allocate_frame` with the same layout.
            unsafe { dealloc(frame as *mut u8, LAYOUT) };
        }
    }

    const RW: PageFlags = PageFlags::READ_WRITE;
    const RX: PageFlags = PageFlags::READ_EXECUTE;

    #[test]
    fn map_query_protect_unmap() {
        let mut f = HostFrames::new();
        let mut s = UserSpace::new(&mut f).unwrap();
        assert_eq!(s.query(0x400000), None);
        s.map_zeroed(0x400000, RX, &mut f).unwrap();
        s.map_zeroed(0x401000, RW, &mut f).unwrap();
        assert_eq!(s.query(0x400000), Some(RX));
        assert_eq!(s.query(0x400fff), Some(RX));
        assert_eq!(s.query(0x401000), Some(RW));
        assert_eq!(
            s.map_zeroed(0x400000, RW, &mut f),
            Err(MapError::AlreadyMapped)
        );
        assert_eq!(
            s.map_zeroed(
                0x402000,
                PageFlags {
                    write: true,
                    execute: true
                },
                &mut f
            ),
            Err(MapError::WriteExecute)
        );
        assert_eq!(
            s.map_zeroed(0x402001, RW, &mut f),
            Err(MapError::BadAddress)
        );
        assert_eq!(
            s.map_zeroed(USER_END, RW, &mut f),
            Err(MapError::BadAddress)
        );
        assert_eq!(
            s.map_zeroed(0xffff_8000_0000_0000, RW, &mut f),
            Err(MapError::BadAddress)
        );
        s.protect(0x401000, PageFlags::READ).unwrap();
        assert_eq!(s.query(0x401000), Some(PageFlags::READ));
        assert_eq!(
            s.protect(
                0x401000,
                PageFlags {
                    write: true,
                    execute: true
                }
            ),
            Err(MapError::WriteExecute)
        );
        assert_eq!(s.protect(0x500000, RW), Err(MapError::NotMapped));
        s.unmap(0x401000, &mut f).unwrap();
        assert_eq!(s.query(0x401000), None);
        assert_eq!(s.unmap(0x401000, &mut f), Err(MapError::NotMapped));
        s.destroy(&mut f);
        assert!(f.live.is_empty(), "leaked {} frames", f.live.len());
    }

    #[test]
    fn map_frame_shares_and_translate_reports_the_frame() {
        let mut f = HostFrames::new();
        let mut s = UserSpace::new(&mut f).unwrap();
        s.map_zeroed(0x1000, RW, &mut f).unwrap();
        let (frame, flags) = s.translate(0x1234).unwrap();
        assert_eq!(flags, RW);
        assert_eq!(frame % 4096, 0);
        s.write_user(0x1000, b"shared", false).unwrap();
        // The same frame mapped a second time, read-only: both views see the same bytes.
        s.map_frame(0x7000_0000, frame, PageFlags::READ, &mut f)
            .unwrap();
        assert_eq!(s.translate(0x7000_0000), Some((frame, PageFlags::READ)));
        let mut back = [0u8; 6];
        s.read_user(0x7000_0000, &mut back).unwrap();
        assert_eq!(&back, b"shared");
        assert_eq!(
            s.map_frame(0x7000_0000, frame, RW, &mut f),
            Err(MapError::AlreadyMapped)
        );
        assert_eq!(
            s.map_frame(0x7000_1000, frame + 1, RW, &mut f),
            Err(MapError::BadAddress)
        );
        assert_eq!(
            s.map_frame(
                0x7000_1000,
                frame,
                PageFlags {
                    write: true,
                    execute: true
                },
                &mut f
            ),
            Err(MapError::WriteExecute)
        );
        assert_eq!(s.translate(USER_END), None);
        assert_eq!(s.translate(0x2000), None);
        // Unmapping the second view drops one reference; the host allocator is not counting,
        // so take the frame back out of its books first to see that unmap hands it over.
        let mut handed_back = Vec::new();
        struct Recorder<'a>(&'a mut Vec<u64>);
        impl FrameAllocator for Recorder<'_> {
            fn allocate_frame(&mut self) -> Option<u64> {
                None
            }
            fn free_frame(&mut self, frame: u64) {
                self.0.push(frame);
            }
        }
        s.unmap(0x7000_0000, &mut Recorder(&mut handed_back))
            .unwrap();
        assert_eq!(handed_back, vec![frame]);
        assert_eq!(s.translate(0x1000).map(|t| t.0), Some(frame));
        s.destroy(&mut f);
        assert!(f.live.is_empty());
    }

    #[test]
    fn for_each_mapped_visits_in_order_and_only_the_range() {
        let mut f = HostFrames::new();
        let mut s = UserSpace::new(&mut f).unwrap();
        // Spread over different PML4, PDPT, PD and PT entries.
        let pages = [
            0x1000u64,
            0x2000,
            0x20_0000,
            0x4000_0000,
            0x7f00_0000_0000,
            USER_END - 0x1000,
        ];
        for &va in pages.iter().rev() {
            s.map_zeroed(va, if va == 0x2000 { RX } else { RW }, &mut f)
                .unwrap();
        }
        let mut seen = Vec::new();
        s.for_each_mapped(0, USER_END, &mut |va, frame, flags| {
            seen.push((va, flags));
            assert_eq!(s.translate(va).unwrap().0, frame);
        });
        let expected: Vec<(u64, PageFlags)> = pages
            .iter()
            .map(|&va| (va, if va == 0x2000 { RX } else { RW }))
            .collect();
        assert_eq!(seen, expected);
        // A sub-range, with bounds inside pages and beyond the user range.
        let mut seen = Vec::new();
        s.for_each_mapped(0x1800, 0x4000_0001, &mut |va, _, _| seen.push(va));
        assert_eq!(seen, vec![0x2000, 0x20_0000, 0x4000_0000]);
        let mut seen = Vec::new();
        s.for_each_mapped(0x7f00_0000_0000, u64::MAX, &mut |va, _, _| seen.push(va));
        assert_eq!(seen, vec![0x7f00_0000_0000, USER_END - 0x1000]);
        let mut count = 0;
        s.for_each_mapped(0x3000, 0x3000, &mut |_, _, _| count += 1);
        s.for_each_mapped(0x5000, 0x1000, &mut |_, _, _| count += 1);
        s.for_each_mapped(0x3000, 0x20_0000, &mut |_, _, _| count += 1);
        assert_eq!(count, 0);
        s.destroy(&mut f);
        assert!(f.live.is_empty());
    }

    #[test]
    fn leaf_entries_have_the_right_bits() {
        let mut f = HostFrames::new();
        let mut s = UserSpace::new(&mut f).unwrap();
        s.map_zeroed(0x1000, RW, &mut f).unwrap();
        s.map_zeroed(0x2000, RX, &mut f).unwrap();
        // SAFETY: test tables, identity window.
        let rw = unsafe { s.leaf(0x1000).unwrap().read() };
        let rx = unsafe { s.leaf(0x2000).unwrap().read() };
        assert_eq!(
            rw & !pte::ADDRESS,
            pte::PRESENT | pte::USER | pte::WRITABLE | pte::SW_NO_EXECUTE | pte::NO_EXECUTE
        );
        assert_eq!(rx & !pte::ADDRESS, pte::PRESENT | pte::USER);
        s.destroy(&mut f);
        assert!(f.live.is_empty());
    }

    #[test]
    fn pages_are_zeroed_and_copies_cross_pages() {
        let mut f = HostFrames::new();
        let mut s = UserSpace::new(&mut f).unwrap();
        s.map_zeroed(0x10000, RW, &mut f).unwrap();
        s.map_zeroed(0x11000, RW, &mut f).unwrap();
        let mut buf = [0xffu8; 8192];
        s.read_user(0x10000, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 0));
        let data: Vec<u8> = (0..6000u32).map(|i| i as u8).collect();
        s.write_user(0x10ffa, &data[..100], false).unwrap();
        let mut back = [0u8; 100];
        s.read_user(0x10ffa, &mut back).unwrap();
        assert_eq!(&back[..], &data[..100]);
        s.write_user(0x10000, &data, false).unwrap();
        let mut back = vec![0u8; 6000];
        s.read_user(0x10000, &mut back).unwrap();
        assert_eq!(back, data);
        s.destroy(&mut f);
        assert!(f.live.is_empty());
    }

    #[test]
    fn checked_copies_refuse_bad_addresses() {
        let mut f = HostFrames::new();
        let mut s = UserSpace::new(&mut f).unwrap();
        s.map_zeroed(0x10000, RW, &mut f).unwrap();
        s.map_zeroed(0x11000, PageFlags::READ, &mut f).unwrap();
        // Unmapped.
        assert_eq!(
            s.read_user(0x20000, &mut [0; 4]),
            Err(BadUserAddress { address: 0x20000 })
        );
        // Runs off the end of the mapping: the first bad byte is reported, the good part was
        // written.
        assert_eq!(
            s.write_user(0x10ffe, &[1, 2, 3, 4], false),
            Err(BadUserAddress { address: 0x11000 })
        );
        let mut two = [0u8; 2];
        s.read_user(0x10ffe, &mut two).unwrap();
        assert_eq!(two, [1, 2]);
        // Read-only page: writes refused unless the loader ignores protection.
        assert_eq!(
            s.write_user(0x11000, &[9], false),
            Err(BadUserAddress { address: 0x11000 })
        );
        s.write_user(0x11000, &[9], true).unwrap();
        let mut one = [0u8; 1];
        s.read_user(0x11000, &mut one).unwrap();
        assert_eq!(one, [9]);
        // Kernel half, non-canonical, wrapping, straddling USER_END.
        assert!(s.read_user(0xffff_ffff_8000_0000, &mut one).is_err());
        assert!(s.read_user(0x0000_8000_0000_0000, &mut one).is_err());
        assert_eq!(
            s.read_user(USER_END - 1, &mut two),
            Err(BadUserAddress { address: USER_END })
        );
        assert!(s.write_user(u64::MAX, &[1], true).is_err());
        // Empty copies touch nothing and succeed wherever they point inside the user range.
        s.read_user(0x5000_0000, &mut []).unwrap();
        s.destroy(&mut f);
        assert!(f.live.is_empty());
    }

    #[test]
    fn out_of_memory_is_an_error_and_leaks_nothing() {
        let mut f = HostFrames::new();
        let mut s = UserSpace::new(&mut f).unwrap();
        f.limit = f.live.len() + 2; // room for two of the three tables below the PML4
        assert_eq!(
            s.map_zeroed(0x7000_0000_0000, RW, &mut f),
            Err(MapError::OutOfMemory)
        );
        f.limit = usize::MAX;
        s.map_zeroed(0x7000_0000_0000, RW, &mut f).unwrap();
        s.destroy(&mut f);
        assert!(f.live.is_empty());
        let mut f = HostFrames::new();
        f.limit = 0;
        assert!(matches!(UserSpace::new(&mut f), Err(MapError::OutOfMemory)));
    }

    #[test]
    fn kernel_half_is_shared_and_never_freed() {
        let mut f = HostFrames::new();
        // A kernel PML4 with one upper-half table.
        let kernel = f.allocate_frame().unwrap();
        let shared = f.allocate_frame().unwrap();
        let window = PhysWindow::new(0);
        // SAFETY: test frames.
        unsafe {
            core::ptr::write_bytes(window.ptr(kernel), 0, 4096);
            window
                .entry(kernel, 511)
                .write(shared | pte::PRESENT | pte::WRITABLE);
        }
        set_kernel_root(kernel);
        let mut s = UserSpace::new(&mut f).unwrap();
        // SAFETY: test frames.
        assert_eq!(
            unsafe { window.entry(s.root(), 511).read() } & pte::ADDRESS,
            shared
        );
        s.map_zeroed(0x1000, RW, &mut f).unwrap();
        s.destroy(&mut f);
        // Only the kernel's two frames are left.
        assert_eq!(f.live.iter().copied().collect::<Vec<_>>().len(), 2);
        assert!(f.live.contains(&kernel) && f.live.contains(&shared));
    }

    #[test]
    fn kernel_mappings_use_supervisor_tables() {
        let mut f = HostFrames::new();
        let root = f.allocate_frame().unwrap();
        let window = PhysWindow::new(0);
        // SAFETY: test frames.
        unsafe {
            core::ptr::write_bytes(window.ptr(root), 0, 4096);
            map_kernel(
                window,
                root,
                0xffff_ffff_8020_0000,
                0x200000,
                1,
                pte::GLOBAL,
                &mut f,
            )
            .unwrap();
            map_kernel(
                window,
                root,
                0xffff_8000_0000_0000,
                0,
                2,
                pte::WRITABLE,
                &mut f,
            )
            .unwrap();
            let pml4e = window.entry(root, 511).read();
            assert_eq!(pml4e & pte::USER, 0);
            let leaf = walk(window, root, 0xffff_ffff_8020_0000).unwrap().read();
            assert_eq!(leaf, 0x200000 | pte::GLOBAL | pte::PRESENT);
            // A 2 MiB page is not a 4 KiB leaf.
            assert!(walk(window, root, 0xffff_8000_0000_0000).is_none());
            assert_eq!(
                map_kernel(window, root, 0xffff_8000_0000_1000, 0x1000, 1, 0, &mut f),
                Err(MapError::AlreadyMapped)
            );
        }
    }
}
