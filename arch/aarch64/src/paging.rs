//! User address spaces: a 4-level, 4 KiB-granule TTBR0 translation table per program
//! (`impl hal::mmu::AddressSpace`). Tables and pages are reached through the kernel's direct map
//! (`phys_offset + pa`), never through user virtual addresses, so the copy helpers work whichever
//! space is active, with PAN on, and with software PAN keeping user tables out of TTBR0. The host tests run the very same code over an arena that
//! stands in for physical memory.

use crate::pte;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use hal::boot::PhysAddr;
use hal::mmu::{AddressSpace, BadUserAddress, FrameAllocator, MapError, PAGE_SIZE, PageFlags};

/// First address above the user range: TTBR0 with T0SZ = 16 covers 48 bits.
pub const USER_END: u64 = 0x0001_0000_0000_0000;
/// Where the kernel direct-maps all RAM (TTBR1, L0 slots 0..255).
pub const DIRECT_MAP_BASE: u64 = 0xffff_0000_0000_0000;

/// Kernel virtual address of physical address 0 in the direct map. A variable only so the host
/// tests can point it at their arena; the kernel never changes it.
static PHYS_OFFSET: AtomicU64 = AtomicU64::new(DIRECT_MAP_BASE);

#[cfg(test)]
pub(crate) fn set_phys_offset_for_tests(offset: u64) {
    PHYS_OFFSET.store(offset, Ordering::Relaxed);
}

fn phys_to_virt(pa: PhysAddr) -> *mut u8 {
    PHYS_OFFSET.load(Ordering::Relaxed).wrapping_add(pa) as *mut u8
}

/// Reads entry `index` of the table at physical `table`.
///
/// Callers pass only tables this module allocated (or the root), which are RAM frames mapped in
/// the direct map, and `index < 512`.
fn read_entry(table: PhysAddr, index: usize) -> u64 {
    debug_assert!(index < pte::ENTRIES);
    let p = phys_to_virt(table).cast::<u64>().wrapping_add(index);
    // SAFETY: `table` is a page-table frame owned by this address space (see above), mapped at
    // `phys_offset + table`; the index is in the frame. Volatile because the MMU walks it too.
    unsafe { p.read_volatile() }
}

fn write_entry(table: PhysAddr, index: usize, value: u64) {
    debug_assert!(index < pte::ENTRIES);
    let p = phys_to_virt(table).cast::<u64>().wrapping_add(index);
    // SAFETY: as in `read_entry`; this address space owns the table exclusively (`&mut self`
    // or, for `new`, a fresh frame).
    unsafe { p.write_volatile(value) }
}

/// Fills RAM frame `frame` with zeros through the direct map (`hal::arch::Arch::zero_frame`).
///
/// The caller hands in a frame from the frame allocator that it owns (a fresh one, or one whose
/// contents it is entitled to overwrite); the direct map covers all RAM.
pub fn zero_frame(frame: PhysAddr) {
    let frame = frame & !(PAGE_SIZE - 1);
    // SAFETY: `frame` is a whole 4 KiB RAM frame (see above) mapped read-write in the direct
    // map; no Rust reference to its bytes exists (the kernel only reaches frames by address).
    unsafe { core::ptr::write_bytes(phys_to_virt(frame), 0, PAGE_SIZE as usize) }
}

/// Copies RAM frame `src` to `dst` through the direct map (`hal::arch::Arch::copy_frame`, for
/// copy-on-write). Copying a frame onto itself leaves it unchanged.
pub fn copy_frame(dst: PhysAddr, src: PhysAddr) {
    let (dst, src) = (dst & !(PAGE_SIZE - 1), src & !(PAGE_SIZE - 1));
    if dst == src {
        return;
    }
    // SAFETY: two distinct, page-aligned 4 KiB RAM frames (so they do not overlap), both mapped
    // in the direct map; as in `zero_frame`, nothing holds a Rust reference to their bytes.
    unsafe {
        core::ptr::copy_nonoverlapping(
            phys_to_virt(src).cast_const(),
            phys_to_virt(dst),
            PAGE_SIZE as usize,
        )
    }
}

/// Makes new or changed table entries visible to the table walker before they are used.
fn publish_tables() {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: a barrier; no memory or register effects beyond ordering.
    unsafe {
        core::arch::asm!("dsb ishst", "isb", options(nostack, preserves_flags));
    }
}

/// The ASID of every user space (TTBR0's bits 63:48; TCR_EL1.A1 = 0 takes the ASID from
/// TTBR0). Not 0: ASID 0 belongs to the idle table, so that with software PAN the kernel runs
/// under an ASID no user translation is cached for.
const USER_ASID: u64 = 1;
const ASID_SHIFT: u64 = 48;

/// Drops any TLB entry for user page `va` (all user mappings use [`USER_ASID`]).
fn flush_page(va: u64) {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: TLB maintenance for a user VA; removing stale translations is always safe.
    unsafe {
        core::arch::asm!(
            "dsb ishst",
            "tlbi vae1is, {}",
            "dsb ish",
            "isb",
            in(reg) ((va >> 12) & 0x0000_0fff_ffff_ffff) | (USER_ASID << ASID_SHIFT),
            options(nostack, preserves_flags)
        );
    }
    #[cfg(not(target_arch = "aarch64"))]
    let _ = va;
}

/// Drops every user TLB entry (those of [`USER_ASID`]).
fn flush_user_tlb() {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: TLB maintenance for USER_ASID's non-global entries: only user translations.
    unsafe {
        core::arch::asm!(
            "dsb ishst",
            "tlbi aside1is, {}",
            "dsb ish",
            "isb",
            in(reg) USER_ASID << ASID_SHIFT,
            options(nostack, preserves_flags)
        );
    }
}

/// Makes the instruction side see what the kernel just wrote into `frame` through the direct
/// map (data side) before user mode executes it: clean to the point of unification, then
/// invalidate the whole instruction cache (which also covers VIPT aliases of other mappings).
fn sync_icache(frame: PhysAddr) {
    #[cfg(target_arch = "aarch64")]
    {
        let ctr: u64;
        // SAFETY: reading CTR_EL0 has no side effects.
        unsafe {
            core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags))
        };
        let line = 4u64 << ((ctr >> 16) & 0xf);
        let start = phys_to_virt(frame) as u64;
        let mut addr = start;
        while addr < start + PAGE_SIZE {
            // SAFETY: cache maintenance by VA on a mapped, owned frame; no architectural
            // memory contents change.
            unsafe {
                core::arch::asm!("dc cvau, {}", in(reg) addr, options(nostack, preserves_flags))
            };
            addr += line;
        }
        // SAFETY: barriers and a whole-cache instruction invalidate have no memory effects.
        unsafe {
            core::arch::asm!(
                "dsb ish",
                "ic ialluis",
                "dsb ish",
                "isb",
                options(nostack, preserves_flags)
            )
        };
    }
    #[cfg(not(target_arch = "aarch64"))]
    let _ = frame;
}

/// The root table of the active user space (the one user mode runs in), to avoid flushing
/// the TLB when the same space runs again.
static ACTIVE_ROOT: AtomicU64 = AtomicU64::new(0);
/// An all-invalid L0 table: TTBR0 (with ASID 0) whenever no user space may be walked (set once
/// at boot), and, with software PAN, whenever the kernel runs.
static IDLE_ROOT: AtomicU64 = AtomicU64::new(0);
/// Software PAN (Linux's CONFIG_ARM64_SW_TTBR0_PAN), for CPUs without FEAT_PAN: the kernel runs
/// with the idle table in TTBR0 and the user's tables are installed only for user mode, so a
/// kernel access to a user address faults (a translation fault) as it would under PAN. The
/// kernel itself reaches user memory only through the direct map.
static SOFTWARE_PAN: AtomicBool = AtomicBool::new(false);

/// Records the idle TTBR0 table the boot code installed.
pub fn set_idle_root(root: PhysAddr) {
    IDLE_ROOT.store(root, Ordering::Relaxed);
    ACTIVE_ROOT.store(root, Ordering::Relaxed);
}

/// Turns software PAN on (at boot, before any user space runs, when the CPU lacks PAN).
pub fn enable_software_pan() {
    SOFTWARE_PAN.store(true, Ordering::Relaxed);
}

/// Whether the kernel runs with user tables unreachable (software PAN).
pub fn software_pan() -> bool {
    SOFTWARE_PAN.load(Ordering::Relaxed)
}

/// Writes TTBR0: the table `root` with `asid`.
fn write_ttbr0(root: PhysAddr, asid: u64) {
    let ttbr0 = root | (asid << ASID_SHIFT);
    #[cfg(target_arch = "aarch64")]
    // SAFETY: TTBR0 only translates user addresses; `root` is a valid L0 table (a user space's
    // or the idle one). The kernel runs from TTBR1 and is unaffected.
    unsafe {
        core::arch::asm!(
            "msr ttbr0_el1, {}",
            "isb",
            in(reg) ttbr0,
            options(nostack, preserves_flags)
        );
    }
    #[cfg(not(target_arch = "aarch64"))]
    let _ = ttbr0;
}

/// Runs `user_mode` (the trip to EL0 and back) with the active space's tables in TTBR0 when
/// software PAN keeps them out of the kernel's way; otherwise they are there already.
pub fn with_user_tables<R>(user_mode: impl FnOnce() -> R) -> R {
    if !software_pan() {
        return user_mode();
    }
    write_ttbr0(ACTIVE_ROOT.load(Ordering::Relaxed), USER_ASID);
    let r = user_mode();
    write_ttbr0(IDLE_ROOT.load(Ordering::Relaxed), 0);
    r
}

/// One user address space: the physical address of its L0 table.
#[derive(Debug)]
pub struct UserSpace {
    root: PhysAddr,
}

impl UserSpace {
    pub fn root(&self) -> PhysAddr {
        self.root
    }

    /// Makes this space the one user mode runs in (and, without software PAN, the one TTBR0
    /// translates). All spaces share [`USER_ASID`] and user mappings are non-global, so switching
    /// to a different root flushes the user TLB entries.
    pub fn activate(&self) {
        if ACTIVE_ROOT.swap(self.root, Ordering::Relaxed) != self.root {
            if !software_pan() {
                write_ttbr0(self.root, USER_ASID);
            }
            flush_user_tlb();
        }
    }

    /// The L3 entry location for `va`, if all tables above it exist.
    fn leaf_slot(&self, va: u64) -> Option<(PhysAddr, usize)> {
        let mut table = self.root;
        for level in 0..3 {
            let desc = read_entry(table, pte::index(va, level));
            if !pte::is_table(desc, level) {
                return None;
            }
            table = pte::address(desc);
        }
        Some((table, pte::index(va, 3)))
    }

    /// The valid L3 descriptor mapping `va`, if any.
    fn leaf(&self, va: u64) -> Option<u64> {
        let (table, index) = self.leaf_slot(va)?;
        let desc = read_entry(table, index);
        pte::is_valid(desc).then_some(desc)
    }

    /// Like `leaf_slot`, creating missing tables.
    fn leaf_slot_create(
        &mut self,
        va: u64,
        frames: &mut dyn FrameAllocator,
    ) -> Result<(PhysAddr, usize), MapError> {
        let mut table = self.root;
        for level in 0..3 {
            let index = pte::index(va, level);
            let desc = read_entry(table, index);
            table = if pte::is_table(desc, level) {
                pte::address(desc)
            } else if pte::is_valid(desc) {
                // User spaces never contain blocks; anything else is corruption we refuse to
                // build on.
                return Err(MapError::AlreadyMapped);
            } else {
                let frame = frames.allocate_frame().ok_or(MapError::OutOfMemory)?;
                zero_frame(frame);
                write_entry(table, index, pte::user_table(frame));
                frame
            };
        }
        Ok((table, pte::index(va, 3)))
    }

    fn check_page(va: u64) -> Result<(), MapError> {
        if !va.is_multiple_of(PAGE_SIZE) || va >= USER_END {
            Err(MapError::BadAddress)
        } else {
            Ok(())
        }
    }

    /// Calls `f(frame_pa + offset, chunk_len)` for each page-sized piece of `[va, va + len)`
    /// after `check` accepted every page's descriptor. Nothing is touched unless the whole
    /// range passes, so a failure copies nothing at all.
    fn for_each_chunk(
        &self,
        va: u64,
        len: usize,
        check: fn(u64) -> bool,
        mut f: impl FnMut(PhysAddr, usize, usize, u64),
    ) -> Result<(), BadUserAddress> {
        if len == 0 {
            return Ok(());
        }
        // A range that wraps saturates at the top and so runs into USER_END below.
        let end = va.saturating_add(len as u64);
        // First pass: every page must be mapped with the needed rights and in the user range.
        let mut page = va & !(PAGE_SIZE - 1);
        while page < end {
            let first_byte = page.max(va);
            if page >= USER_END {
                return Err(BadUserAddress {
                    address: first_byte,
                });
            }
            match self.leaf(page) {
                Some(desc) if check(desc) => {}
                _ => {
                    return Err(BadUserAddress {
                        address: first_byte,
                    });
                }
            }
            page += PAGE_SIZE;
        }
        // Second pass: copy.
        let mut done = 0usize;
        while done < len {
            let at = va + done as u64;
            let offset = (at % PAGE_SIZE) as usize;
            let chunk = (PAGE_SIZE as usize - offset).min(len - done);
            let desc = self.leaf(at).ok_or(BadUserAddress { address: at })?;
            f(pte::address(desc) + offset as u64, chunk, done, desc);
            done += chunk;
        }
        Ok(())
    }

    /// Visits the valid pages under the table at `level` that covers addresses from `base`,
    /// restricted to pages overlapping `[start, end)`. Only entries in that index range are
    /// read, and invalid entries end the descent at once, so the cost follows what is mapped,
    /// not the size of the range.
    fn walk(
        table: PhysAddr,
        level: usize,
        base: u64,
        start: u64,
        end: u64,
        visit: &mut dyn FnMut(u64, PhysAddr, PageFlags),
    ) {
        let shift = pte::level_shift(level);
        let span = 1u64 << shift;
        // `end > start >= ...` and both lie inside this table's range (the caller clipped
        // them), so the index arithmetic cannot underflow.
        let first = if start > base {
            ((start - base) >> shift) as usize
        } else {
            0
        };
        let last =
            (((end - 1).saturating_sub(base)) >> shift).min(pte::ENTRIES as u64 - 1) as usize;
        for index in first..=last {
            let desc = read_entry(table, index);
            if !pte::is_valid(desc) {
                continue;
            }
            let va = base + index as u64 * span;
            if level == 3 {
                visit(va, pte::address(desc), pte::user_flags(desc));
            } else if pte::is_table(desc, level) {
                Self::walk(
                    pte::address(desc),
                    level + 1,
                    va,
                    start.max(va),
                    end.min(va + span),
                    visit,
                );
            }
        }
    }

    fn free_table(table: PhysAddr, level: usize, frames: &mut dyn FrameAllocator) {
        for index in 0..pte::ENTRIES {
            let desc = read_entry(table, index);
            if !pte::is_valid(desc) {
                continue;
            }
            if level == 3 {
                frames.free_frame(pte::address(desc));
            } else if pte::is_table(desc, level) {
                Self::free_table(pte::address(desc), level + 1, frames);
            }
        }
        frames.free_frame(table);
    }
}

impl AddressSpace for UserSpace {
    fn new(frames: &mut dyn FrameAllocator) -> Result<Self, MapError> {
        let root = frames.allocate_frame().ok_or(MapError::OutOfMemory)?;
        zero_frame(root);
        Ok(Self { root })
    }

    fn map_zeroed(
        &mut self,
        va: u64,
        flags: PageFlags,
        frames: &mut dyn FrameAllocator,
    ) -> Result<(), MapError> {
        Self::check_page(va)?;
        if flags.write && flags.execute {
            return Err(MapError::WriteExecute);
        }
        let (table, index) = self.leaf_slot_create(va, frames)?;
        if pte::is_valid(read_entry(table, index)) {
            return Err(MapError::AlreadyMapped);
        }
        let frame = frames.allocate_frame().ok_or(MapError::OutOfMemory)?;
        zero_frame(frame);
        if flags.execute {
            sync_icache(frame);
        }
        write_entry(table, index, pte::user_page(frame, flags));
        publish_tables();
        Ok(())
    }

    fn map_frame(
        &mut self,
        va: u64,
        frame: PhysAddr,
        flags: PageFlags,
        frames: &mut dyn FrameAllocator,
    ) -> Result<(), MapError> {
        Self::check_page(va)?;
        if flags.write && flags.execute {
            return Err(MapError::WriteExecute);
        }
        if !frame.is_multiple_of(PAGE_SIZE) || frame & !pte::ADDR_MASK != 0 {
            return Err(MapError::BadAddress);
        }
        let (table, index) = self.leaf_slot_create(va, frames)?;
        if pte::is_valid(read_entry(table, index)) {
            // The caller keeps its reference: nothing was taken over.
            return Err(MapError::AlreadyMapped);
        }
        if flags.execute {
            // The frame may have been written through the direct map (a copy-on-write copy,
            // a page-cache page): the instruction side must see it.
            sync_icache(frame);
        }
        write_entry(table, index, pte::user_page(frame, flags));
        publish_tables();
        Ok(())
    }

    fn protect(&mut self, va: u64, flags: PageFlags) -> Result<(), MapError> {
        Self::check_page(va)?;
        if flags.write && flags.execute {
            return Err(MapError::WriteExecute);
        }
        let (table, index) = self.leaf_slot(va).ok_or(MapError::NotMapped)?;
        let desc = read_entry(table, index);
        if !pte::is_valid(desc) {
            return Err(MapError::NotMapped);
        }
        let frame = pte::address(desc);
        if flags.execute && pte::user_flags(desc) != flags {
            // What user mode wrote through its old writable mapping must reach the
            // instruction side before the page becomes executable.
            sync_icache(frame);
        }
        // A permission-only change needs no break-before-make; the TLB flush makes it exact.
        write_entry(table, index, pte::user_page(frame, flags));
        flush_page(va);
        Ok(())
    }

    fn unmap(&mut self, va: u64, frames: &mut dyn FrameAllocator) -> Result<(), MapError> {
        Self::check_page(va)?;
        let (table, index) = self.leaf_slot(va).ok_or(MapError::NotMapped)?;
        let desc = read_entry(table, index);
        if !pte::is_valid(desc) {
            return Err(MapError::NotMapped);
        }
        write_entry(table, index, 0);
        flush_page(va);
        // Only after no TLB can reach it may the frame be reused.
        frames.free_frame(pte::address(desc));
        Ok(())
    }

    fn translate(&self, va: u64) -> Option<(PhysAddr, PageFlags)> {
        if va >= USER_END {
            return None;
        }
        self.leaf(va & !(PAGE_SIZE - 1))
            .map(|desc| (pte::address(desc), pte::user_flags(desc)))
    }

    fn for_each_mapped(
        &self,
        start: u64,
        end: u64,
        visit: &mut dyn FnMut(u64, PhysAddr, PageFlags),
    ) {
        let end = end.min(USER_END);
        if start >= end {
            return;
        }
        Self::walk(self.root, 0, 0, start, end, visit);
    }

    fn write_user(
        &self,
        va: u64,
        src: &[u8],
        ignore_protection: bool,
    ) -> Result<(), BadUserAddress> {
        let check: fn(u64) -> bool = if ignore_protection {
            pte::el0_readable
        } else {
            pte::el0_writable
        };
        self.for_each_chunk(va, src.len(), check, |pa, chunk, done, desc| {
            // SAFETY: `pa..pa + chunk` lies inside one user frame (checked mapped above), which
            // the direct map covers; `src[done..done + chunk]` is in bounds by construction.
            // The frame belongs to this space, and the kernel holds no other reference to it.
            unsafe {
                core::ptr::copy_nonoverlapping(src.as_ptr().add(done), phys_to_virt(pa), chunk)
            };
            // Each chunk is a different page: code written into an executable page (the loader
            // filling text) must reach the instruction side.
            if desc & pte::UXN == 0 {
                sync_icache(pte::address(desc));
            }
        })
    }

    fn read_user(&self, va: u64, dst: &mut [u8]) -> Result<(), BadUserAddress> {
        let len = dst.len();
        let dst_ptr = dst.as_mut_ptr();
        self.for_each_chunk(va, len, pte::el0_readable, |pa, chunk, done, _| {
            // SAFETY: as in `write_user`, with the roles swapped; `dst_ptr + done .. + chunk` is
            // inside `dst`, which we borrow mutably.
            unsafe { core::ptr::copy_nonoverlapping(phys_to_virt(pa), dst_ptr.add(done), chunk) };
        })
    }

    fn destroy(self, frames: &mut dyn FrameAllocator) {
        // The table walker must not see these frames once they are reused: if this space is still
        // in TTBR0 (the core destroys an exited program's space before activating another),
        // switch to the idle table first. Then drop whatever TLB entries still name the frames.
        if ACTIVE_ROOT.load(Ordering::Relaxed) == self.root {
            let idle = IDLE_ROOT.load(Ordering::Relaxed);
            write_ttbr0(idle, 0);
            ACTIVE_ROOT.store(idle, Ordering::Relaxed);
        }
        flush_user_tlb();
        Self::free_table(self.root, 0, frames);
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Simulated physical memory for host tests of code that walks user page tables.
    use super::*;
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};

    /// Frames at "physical" addresses ARENA_BASE.. live in one host allocation, and PHYS_OFFSET
    /// maps them like the kernel's direct map does.
    const ARENA_BASE: u64 = 0x4000_0000;
    const ARENA_FRAMES: u64 = 8192;

    struct Arena {
        next: Mutex<u64>,
    }

    fn arena() -> &'static Arena {
        static ARENA: OnceLock<Arena> = OnceLock::new();
        ARENA.get_or_init(|| {
            let layout =
                std::alloc::Layout::from_size_align((ARENA_FRAMES * PAGE_SIZE) as usize, 4096)
                    .unwrap();
            // SAFETY: non-zero size; leaked on purpose so it lives as long as the tests.
            let base = unsafe { std::alloc::alloc(layout) };
            assert!(!base.is_null());
            set_phys_offset_for_tests((base as u64).wrapping_sub(ARENA_BASE));
            Arena {
                next: Mutex::new(ARENA_BASE),
            }
        })
    }

    /// The bytes of a simulated frame.
    pub fn frame_bytes(frame: PhysAddr) -> &'static mut [u8] {
        arena();
        // SAFETY: test frames come from the arena, which is never freed; tests use each frame
        // from one thread at a time.
        unsafe { core::slice::from_raw_parts_mut(phys_to_virt(frame), PAGE_SIZE as usize) }
    }

    /// A reference-counting frame allocator over a private slice of the arena, like the core's:
    /// `free_frame` drops one reference, and a frame is free again at zero.
    pub struct Frames {
        pub free: Vec<u64>,
        pub refs: HashMap<u64, u32>,
        pub limit: Option<usize>,
    }

    impl Frames {
        pub fn new(count: u64) -> Self {
            let a = arena();
            let mut next = a.next.lock().unwrap();
            let start = *next;
            *next += count * PAGE_SIZE;
            assert!(
                *next <= ARENA_BASE + ARENA_FRAMES * PAGE_SIZE,
                "arena exhausted"
            );
            let free = (0..count).map(|i| start + i * PAGE_SIZE).rev().collect();
            // Unspecified contents, as the trait allows: fill with garbage.
            for i in 0..count {
                frame_bytes(start + i * PAGE_SIZE).fill(0xa5);
            }
            Self {
                free,
                refs: HashMap::new(),
                limit: None,
            }
        }

        /// Takes one more reference to an allocated frame (what the core does before sharing a
        /// frame through `map_frame`).
        pub fn add_ref(&mut self, frame: u64) {
            *self.refs.get_mut(&frame).expect("not allocated") += 1;
        }

        pub fn outstanding(&self) -> usize {
            self.refs.len()
        }
    }

    impl FrameAllocator for Frames {
        fn allocate_frame(&mut self) -> Option<PhysAddr> {
            if self.limit.is_some_and(|l| self.refs.len() >= l) {
                return None;
            }
            let f = self.free.pop()?;
            assert!(self.refs.insert(f, 1).is_none());
            Some(f)
        }
        fn free_frame(&mut self, frame: PhysAddr) {
            let count = self
                .refs
                .get_mut(&frame)
                .unwrap_or_else(|| panic!("double or foreign free of {frame:#x}"));
            *count -= 1;
            if *count == 0 {
                self.refs.remove(&frame);
                self.free.push(frame);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn map_query_protect_unmap() {
        let mut frames = Frames::new(64);
        let mut space = UserSpace::new(&mut frames).unwrap();
        let va = 0x40_0000;
        assert_eq!(space.query(va), None);
        space
            .map_zeroed(va, PageFlags::READ_EXECUTE, &mut frames)
            .unwrap();
        assert_eq!(space.query(va), Some(PageFlags::READ_EXECUTE));
        assert_eq!(space.query(va + 0x123), Some(PageFlags::READ_EXECUTE));
        assert_eq!(
            space.map_zeroed(va, PageFlags::READ, &mut frames),
            Err(MapError::AlreadyMapped)
        );
        assert_eq!(
            space.map_zeroed(
                va + 0x1000,
                PageFlags {
                    write: true,
                    execute: true
                },
                &mut frames
            ),
            Err(MapError::WriteExecute)
        );
        assert_eq!(
            space.protect(
                va,
                PageFlags {
                    write: true,
                    execute: true
                }
            ),
            Err(MapError::WriteExecute)
        );
        space.protect(va, PageFlags::READ_WRITE).unwrap();
        assert_eq!(space.query(va), Some(PageFlags::READ_WRITE));
        assert_eq!(
            space.protect(va + 0x1000, PageFlags::READ),
            Err(MapError::NotMapped)
        );
        space.unmap(va, &mut frames).unwrap();
        assert_eq!(space.query(va), None);
        assert_eq!(space.unmap(va, &mut frames), Err(MapError::NotMapped));
        space.destroy(&mut frames);
        assert_eq!(frames.outstanding(), 0, "leaked {:?}", frames.refs);
    }

    #[test]
    fn bad_addresses_are_refused() {
        let mut frames = Frames::new(16);
        let mut space = UserSpace::new(&mut frames).unwrap();
        assert_eq!(
            space.map_zeroed(0x1001, PageFlags::READ, &mut frames),
            Err(MapError::BadAddress)
        );
        assert_eq!(
            space.map_zeroed(USER_END, PageFlags::READ, &mut frames),
            Err(MapError::BadAddress)
        );
        assert_eq!(
            space.map_zeroed(0xffff_ffff_8000_0000, PageFlags::READ, &mut frames),
            Err(MapError::BadAddress)
        );
        assert_eq!(space.query(USER_END + 0x1000), None);
        space
            .map_zeroed(USER_END - PAGE_SIZE, PageFlags::READ_WRITE, &mut frames)
            .unwrap();
        assert_eq!(space.write_user(USER_END - 4, &[1, 2, 3, 4], false), Ok(()));
        assert_eq!(
            space.write_user(USER_END - 4, &[0; 5], false),
            Err(BadUserAddress { address: USER_END })
        );
        assert_eq!(
            space.read_user(USER_END, &mut [0; 1]),
            Err(BadUserAddress { address: USER_END })
        );
        assert_eq!(
            space.read_user(u64::MAX - 2, &mut [0; 8]),
            Err(BadUserAddress {
                address: u64::MAX - 2
            })
        );
        // Zero-length accesses touch nothing and succeed, like Linux's access_ok(p, 0).
        assert_eq!(space.read_user(0xdead_0000, &mut []), Ok(()));
        space.destroy(&mut frames);
        assert_eq!(frames.outstanding(), 0);
    }

    #[test]
    fn copies_across_pages_and_respect_rights() {
        let mut frames = Frames::new(32);
        let mut space = UserSpace::new(&mut frames).unwrap();
        let base = 0x7fff_0000;
        space
            .map_zeroed(base, PageFlags::READ_WRITE, &mut frames)
            .unwrap();
        space
            .map_zeroed(base + PAGE_SIZE, PageFlags::READ_WRITE, &mut frames)
            .unwrap();
        space
            .map_zeroed(base + 2 * PAGE_SIZE, PageFlags::READ, &mut frames)
            .unwrap();

        // Fresh pages read back as zero even though the frames held garbage.
        let mut buf = vec![0xffu8; 3 * PAGE_SIZE as usize];
        space.read_user(base, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 0));

        let data: Vec<u8> = (0..6000u32).map(|i| (i % 251) as u8).collect();
        space.write_user(base + 100, &data, false).unwrap();
        let mut back = vec![0u8; data.len()];
        space.read_user(base + 100, &mut back).unwrap();
        assert_eq!(back, data);

        // The read-only page refuses writes (nothing at all is written), unless the loader
        // asks to ignore protection.
        let before = {
            let mut b = vec![0u8; 16];
            space.read_user(base + 2 * PAGE_SIZE - 8, &mut b).unwrap();
            b
        };
        assert_eq!(
            space.write_user(base + 2 * PAGE_SIZE - 8, &[7; 16], false),
            Err(BadUserAddress {
                address: base + 2 * PAGE_SIZE
            })
        );
        let mut after = vec![0u8; 16];
        space
            .read_user(base + 2 * PAGE_SIZE - 8, &mut after)
            .unwrap();
        assert_eq!(before, after);
        space
            .write_user(base + 2 * PAGE_SIZE - 8, &[7; 16], true)
            .unwrap();
        space
            .read_user(base + 2 * PAGE_SIZE - 8, &mut after)
            .unwrap();
        assert_eq!(after, vec![7; 16]);

        // An unmapped page in the middle of a range is reported at its first byte.
        assert_eq!(
            space.read_user(base + 3 * PAGE_SIZE - 1, &mut [0; 2]),
            Err(BadUserAddress {
                address: base + 3 * PAGE_SIZE
            })
        );
        assert_eq!(
            space.read_user(base - 1, &mut [0; 2]),
            Err(BadUserAddress { address: base - 1 })
        );
        space.destroy(&mut frames);
        assert_eq!(frames.outstanding(), 0);
    }

    #[test]
    fn out_of_memory_is_an_error_and_nothing_leaks() {
        let mut frames = Frames::new(16);
        let mut space = UserSpace::new(&mut frames).unwrap();
        // Root + L1 + L2 + L3 = 4 frames; the page itself would be the 5th.
        frames.limit = Some(4);
        assert_eq!(
            space.map_zeroed(0x1000, PageFlags::READ, &mut frames),
            Err(MapError::OutOfMemory)
        );
        frames.limit = None;
        space
            .map_zeroed(0x1000, PageFlags::READ, &mut frames)
            .unwrap();
        // Far apart pages use separate tables at every level.
        space
            .map_zeroed(0x8000_0000_0000 - PAGE_SIZE, PageFlags::READ, &mut frames)
            .unwrap();
        space.destroy(&mut frames);
        assert_eq!(frames.outstanding(), 0);
    }

    #[test]
    fn spaces_are_independent() {
        let mut frames = Frames::new(32);
        let mut a = UserSpace::new(&mut frames).unwrap();
        let mut b = UserSpace::new(&mut frames).unwrap();
        a.map_zeroed(0x1000, PageFlags::READ_WRITE, &mut frames)
            .unwrap();
        b.map_zeroed(0x1000, PageFlags::READ_WRITE, &mut frames)
            .unwrap();
        a.write_user(0x1000, b"from a", false).unwrap();
        b.write_user(0x1000, b"from b", false).unwrap();
        let mut buf = [0u8; 6];
        a.read_user(0x1000, &mut buf).unwrap();
        assert_eq!(&buf, b"from a");
        assert_eq!(b.query(0x2000), None);
        a.destroy(&mut frames);
        b.read_user(0x1000, &mut buf).unwrap();
        assert_eq!(&buf, b"from b");
        b.destroy(&mut frames);
        assert_eq!(frames.outstanding(), 0);
    }

    #[test]
    fn map_frame_shares_a_frame_and_unmap_drops_one_reference() {
        let mut frames = Frames::new(32);
        let mut a = UserSpace::new(&mut frames).unwrap();
        let mut b = UserSpace::new(&mut frames).unwrap();
        a.map_zeroed(0x1000, PageFlags::READ_WRITE, &mut frames)
            .unwrap();
        a.write_user(0x1000, b"shared", false).unwrap();
        let (frame, flags) = a.translate(0x1234).unwrap();
        assert_eq!(flags, PageFlags::READ_WRITE);
        assert_eq!(a.query(0x1fff), Some(PageFlags::READ_WRITE));

        // Copy-on-write style: the same frame read-only in both spaces, one reference each.
        frames.add_ref(frame);
        b.map_frame(0x5000, frame, PageFlags::READ, &mut frames)
            .unwrap();
        a.protect(0x1000, PageFlags::READ).unwrap();
        assert_eq!(b.translate(0x5000), Some((frame, PageFlags::READ)));
        let mut buf = [0u8; 6];
        b.read_user(0x5000, &mut buf).unwrap();
        assert_eq!(&buf, b"shared");
        assert_eq!(
            b.write_user(0x5000, b"x", false),
            Err(BadUserAddress { address: 0x5000 })
        );

        // Refusals take no reference.
        assert_eq!(
            b.map_frame(0x5000, frame, PageFlags::READ, &mut frames),
            Err(MapError::AlreadyMapped)
        );
        assert_eq!(
            b.map_frame(
                0x6000,
                frame,
                PageFlags {
                    write: true,
                    execute: true
                },
                &mut frames
            ),
            Err(MapError::WriteExecute)
        );
        assert_eq!(
            b.map_frame(0x6000, frame + 8, PageFlags::READ, &mut frames),
            Err(MapError::BadAddress)
        );
        assert_eq!(
            b.map_frame(USER_END, frame, PageFlags::READ, &mut frames),
            Err(MapError::BadAddress)
        );
        assert_eq!(frames.refs[&frame], 2);

        a.unmap(0x1000, &mut frames).unwrap();
        assert_eq!(frames.refs[&frame], 1);
        b.read_user(0x5000, &mut buf).unwrap();
        assert_eq!(&buf, b"shared");
        a.destroy(&mut frames);
        b.destroy(&mut frames);
        assert_eq!(frames.outstanding(), 0, "leaked {:?}", frames.refs);
    }

    #[test]
    fn translate_refuses_kernel_and_unmapped_addresses() {
        let mut frames = Frames::new(16);
        let space = UserSpace::new(&mut frames).unwrap();
        assert_eq!(space.translate(0), None);
        assert_eq!(space.translate(USER_END), None);
        assert_eq!(space.translate(u64::MAX), None);
        space.destroy(&mut frames);
    }

    #[test]
    fn for_each_mapped_visits_in_order_and_clips_to_the_range() {
        let mut frames = Frames::new(64);
        let mut space = UserSpace::new(&mut frames).unwrap();
        // Pages in different L0, L1, L2 and L3 slots, mapped out of order.
        let pages = [
            0x7fff_ffff_f000u64,
            0x1000,
            0x40_0000,
            0x40_1000,
            0x8000_0000,
            0x80_0000_0000,
            USER_END - PAGE_SIZE,
        ];
        for (i, &va) in pages.iter().enumerate() {
            let flags = if i % 2 == 0 {
                PageFlags::READ_WRITE
            } else {
                PageFlags::READ_EXECUTE
            };
            space.map_zeroed(va, flags, &mut frames).unwrap();
        }
        let mut sorted = pages.to_vec();
        sorted.sort_unstable();

        let mut seen = Vec::new();
        space.for_each_mapped(0, USER_END, &mut |va, frame, flags| {
            assert_eq!(space.translate(va), Some((frame, flags)));
            seen.push(va);
        });
        assert_eq!(seen, sorted);

        // A sub-range: the page containing an unaligned start is included, the end is exclusive.
        seen.clear();
        space.for_each_mapped(0x40_0800, 0x8000_0000, &mut |va, _, _| seen.push(va));
        assert_eq!(seen, [0x40_0000, 0x40_1000]);
        seen.clear();
        space.for_each_mapped(0x8000_0000, 0x8000_0001, &mut |va, _, _| seen.push(va));
        assert_eq!(seen, [0x8000_0000]);
        // Empty, inverted and out-of-range requests visit nothing.
        seen.clear();
        space.for_each_mapped(0x5000, 0x5000, &mut |va, _, _| seen.push(va));
        space.for_each_mapped(0x9000, 0x1000, &mut |va, _, _| seen.push(va));
        space.for_each_mapped(USER_END, u64::MAX, &mut |va, _, _| seen.push(va));
        assert!(seen.is_empty());
        // Ranges reaching past the user end are clipped to it.
        space.for_each_mapped(USER_END - PAGE_SIZE, u64::MAX, &mut |va, _, _| {
            seen.push(va)
        });
        assert_eq!(seen, [USER_END - PAGE_SIZE]);
        space.destroy(&mut frames);
        assert_eq!(frames.outstanding(), 0);
    }

    #[test]
    fn zero_and_copy_frames_through_the_direct_map() {
        let mut frames = Frames::new(4);
        let a = frames.allocate_frame().unwrap();
        let b = frames.allocate_frame().unwrap();
        for (i, byte) in frame_bytes(a).iter_mut().enumerate() {
            *byte = (i % 251) as u8;
        }
        copy_frame(b, a);
        assert_eq!(frame_bytes(a), frame_bytes(b));
        copy_frame(a, a);
        assert_eq!(frame_bytes(a)[250], 250);
        zero_frame(a);
        assert!(frame_bytes(a).iter().all(|&x| x == 0));
        assert_eq!(frame_bytes(b)[250], 250);
        frames.free_frame(a);
        frames.free_frame(b);
    }
}
