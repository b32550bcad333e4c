//! The memory-management system calls on a [`Vm`]: `mmap`, `munmap`, `mprotect`, `mremap`,
//! `brk`, `madvise`, `msync` and `mincore`, taking the raw syscall arguments and returning what
//! Linux returns, with its checks in its order (so that a program probing with bad arguments gets
//! the same error it would get on Linux). The constants are the generic Linux values, identical
//! on x86_64 and AArch64.

use super::{
    Access, Area, AreaKind, Backing, FaultError, MAX_MAP_COUNT, MIN_USER_ADDRESS, MemoryObject,
    Prot, Vm, page_down, page_up,
};
use crate::errno::{Errno, SysResult};
use crate::memory::Frames;
use alloc::sync::Arc;
use alloc::vec::Vec;
use hal::arch::Arch;
use hal::mmu::{AddressSpace, PAGE_SIZE};
use spin::Mutex;

pub const PROT_NONE: u64 = 0;
pub const PROT_READ: u64 = 0x1;
pub const PROT_WRITE: u64 = 0x2;
pub const PROT_EXEC: u64 = 0x4;
pub const PROT_SEM: u64 = 0x8;
pub const PROT_GROWSDOWN: u64 = 0x0100_0000;
pub const PROT_GROWSUP: u64 = 0x0200_0000;

pub const MAP_SHARED: u64 = 0x01;
pub const MAP_PRIVATE: u64 = 0x02;
pub const MAP_SHARED_VALIDATE: u64 = 0x03;
pub const MAP_DROPPABLE: u64 = 0x08;
pub const MAP_TYPE: u64 = 0x0f;
pub const MAP_FIXED: u64 = 0x10;
pub const MAP_ANONYMOUS: u64 = 0x20;
/// x86_64 only: place the mapping in the low 2 GiB (ignored on AArch64, where the bit is unused).
pub const MAP_32BIT: u64 = 0x40;
pub const MAP_GROWSDOWN: u64 = 0x0100;
pub const MAP_DENYWRITE: u64 = 0x0800;
pub const MAP_EXECUTABLE: u64 = 0x1000;
pub const MAP_LOCKED: u64 = 0x2000;
pub const MAP_NORESERVE: u64 = 0x4000;
pub const MAP_POPULATE: u64 = 0x8000;
pub const MAP_NONBLOCK: u64 = 0x1_0000;
pub const MAP_STACK: u64 = 0x2_0000;
pub const MAP_HUGETLB: u64 = 0x4_0000;
pub const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;

pub const MREMAP_MAYMOVE: u64 = 1;
pub const MREMAP_FIXED: u64 = 2;
pub const MREMAP_DONTUNMAP: u64 = 4;

pub const MADV_NORMAL: u64 = 0;
pub const MADV_RANDOM: u64 = 1;
pub const MADV_SEQUENTIAL: u64 = 2;
pub const MADV_WILLNEED: u64 = 3;
pub const MADV_DONTNEED: u64 = 4;
pub const MADV_FREE: u64 = 8;
pub const MADV_REMOVE: u64 = 9;
pub const MADV_DONTFORK: u64 = 10;
pub const MADV_DOFORK: u64 = 11;
pub const MADV_MERGEABLE: u64 = 12;
pub const MADV_UNMERGEABLE: u64 = 13;
pub const MADV_HUGEPAGE: u64 = 14;
pub const MADV_NOHUGEPAGE: u64 = 15;
pub const MADV_DONTDUMP: u64 = 16;
pub const MADV_DODUMP: u64 = 17;
pub const MADV_WIPEONFORK: u64 = 18;
pub const MADV_KEEPONFORK: u64 = 19;
pub const MADV_COLD: u64 = 20;
pub const MADV_PAGEOUT: u64 = 21;
pub const MADV_POPULATE_READ: u64 = 22;
pub const MADV_POPULATE_WRITE: u64 = 23;
pub const MADV_DONTNEED_LOCKED: u64 = 24;
pub const MADV_COLLAPSE: u64 = 25;
pub const MADV_HWPOISON: u64 = 100;
pub const MADV_SOFT_OFFLINE: u64 = 101;

pub const MS_ASYNC: u64 = 1;
pub const MS_INVALIDATE: u64 = 2;
pub const MS_SYNC: u64 = 4;

/// `MAP_32BIT`'s window on x86_64 Linux.
const LOW_2G_START: u64 = 0x4000_0000;
const LOW_2G_END: u64 = 0x8000_0000;
/// How far the initial stack area extends below the arguments (Linux's `stack_expand`).
pub(super) const STACK_EXPAND: u64 = 128 << 10;

/// Linux's `PAGE_ALIGN`, wrapping like the C macro (callers check for the wrap where Linux does).
fn page_align_wrapping(len: u64) -> u64 {
    len.wrapping_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

/// Whether `advice` is one Cyphera accepts: every advice Linux knows except the guard-region
/// pair (`MADV_GUARD_INSTALL`/`REMOVE`, Linux 6.13), refused with `-EINVAL` as older kernels do
/// (callers fall back to `PROT_NONE` guards), and memory-failure injection (`MADV_HWPOISON`,
/// `MADV_SOFT_OFFLINE`), refused as by a kernel built without CONFIG_MEMORY_FAILURE.
fn advice_is_valid(advice: u64) -> bool {
    matches!(
        advice,
        MADV_NORMAL
            | MADV_RANDOM
            | MADV_SEQUENTIAL
            | MADV_WILLNEED
            | MADV_DONTNEED
            | MADV_FREE
            | MADV_REMOVE
            | MADV_DONTFORK
            | MADV_DOFORK
            | MADV_MERGEABLE
            | MADV_UNMERGEABLE
            | MADV_HUGEPAGE
            | MADV_NOHUGEPAGE
            | MADV_DONTDUMP
            | MADV_DODUMP
            | MADV_WIPEONFORK
            | MADV_KEEPONFORK
            | MADV_COLD
            | MADV_PAGEOUT
            | MADV_POPULATE_READ
            | MADV_POPULATE_WRITE
            | MADV_DONTNEED_LOCKED
            | MADV_COLLAPSE
    )
}

impl<A: Arch> Vm<A> {
    /// `mmap(addr, len, prot, flags, fd, offset)`: the address of the new mapping.
    ///
    /// Anonymous mappings: file mappings are made by the syscall layer
    /// (`syscall::memory::map_file`), which copies the file into an anonymous one; a file
    /// mapping reaching this point is `-EBADF`, what Linux says for a descriptor that names no
    /// file. `MAP_NORESERVE`, `MAP_STACK`, `MAP_DENYWRITE`,
    /// `MAP_EXECUTABLE` and unknown bits are accepted and ignored (as Linux ignores unknown bits
    /// outside `MAP_SHARED_VALIDATE`); `MAP_POPULATE` and `MAP_LOCKED` populate the pages now.
    #[allow(clippy::too_many_arguments)]
    pub fn mmap(
        &mut self,
        addr: u64,
        len: u64,
        prot: u64,
        flags: u64,
        fd: u64,
        offset: u64,
        frames: &mut dyn Frames,
    ) -> SysResult {
        // The arch entry points (x86_64 and arm64 sys_mmap) refuse an unaligned offset first.
        if !offset.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        if flags & MAP_ANONYMOUS == 0 {
            log::debug!("mmap of fd {} refused: no files yet", fd as i32);
            return Err(Errno::EBADF);
        }
        if flags & MAP_HUGETLB != 0 {
            // Linux with no huge pages reserved (the default) cannot back the mapping.
            return Err(Errno::ENOMEM);
        }
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
        let hint = if fixed {
            addr
        } else {
            // round_hint_to_min: down to a page, and up to the minimum address when below it.
            let hint = page_down(addr);
            if hint != 0 && hint < MIN_USER_ADDRESS {
                MIN_USER_ADDRESS
            } else {
                hint
            }
        };
        let len = page_up(len).ok_or(Errno::ENOMEM)?;
        if self.areas.len() > MAX_MAP_COUNT {
            return Err(Errno::ENOMEM);
        }
        let low_2g = flags & MAP_32BIT != 0 && A::ELF_MACHINE == crate::elf::EM_X86_64;
        let start = self.unmapped_area(hint, len, fixed, low_2g)?;
        let end = start + len;
        if flags & MAP_FIXED_NOREPLACE != 0 && self.overlaps(start, end) {
            return Err(Errno::EEXIST);
        }
        let grows_down = flags & MAP_GROWSDOWN != 0;
        let shared = match flags & MAP_TYPE {
            MAP_SHARED if grows_down => return Err(Errno::EINVAL),
            MAP_SHARED => true,
            // MAP_DROPPABLE (Linux 6.11) pages may be dropped under memory pressure; keeping
            // them is allowed. It cannot grow down.
            MAP_DROPPABLE if grows_down => return Err(Errno::EINVAL),
            MAP_PRIVATE | MAP_DROPPABLE => false,
            _ => return Err(Errno::EINVAL),
        };
        self.remove_range(start, end, frames)?;
        let mut area = Area::anonymous(start, end, Prot::from_bits(prot), AreaKind::Mmap);
        area.grows_down = grows_down;
        if shared {
            area.shared = true;
            area.backing = Backing::Object {
                object: Arc::new(Mutex::new(MemoryObject::default())),
                page_offset: 0,
            };
        }
        let populate = area.prot;
        self.insert_area(area)?;
        if flags & MAP_LOCKED != 0 || flags & (MAP_POPULATE | MAP_NONBLOCK) == MAP_POPULATE {
            // Like Linux's mm_populate, failures here are not the call's failure: the pages
            // are faulted in later instead.
            let _ = self.populate(start, len, populate.write, frames);
        }
        Ok(start)
    }

    /// Linux's `get_unmapped_area` for an anonymous mapping of `len` (page aligned) bytes.
    fn unmapped_area(&self, hint: u64, len: u64, fixed: bool, low_2g: bool) -> SysResult {
        if len > A::USER_END - MIN_USER_ADDRESS {
            return Err(Errno::ENOMEM);
        }
        let addr = if fixed {
            hint
        } else if low_2g {
            if hint != 0 && self.range_is_free(hint, len, LOW_2G_END) {
                hint
            } else {
                self.search_bottom_up(len, LOW_2G_START, LOW_2G_END)
                    .ok_or(Errno::ENOMEM)?
            }
        } else {
            self.find_free(hint, len).ok_or(Errno::ENOMEM)?
        };
        if addr > A::USER_END - len {
            return Err(Errno::ENOMEM);
        }
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        // security_mmap_addr: mapping the lowest pages needs CAP_SYS_RAWIO, which Cyphera
        // grants nobody (a NULL dereference must always fault).
        if addr < MIN_USER_ADDRESS {
            return Err(Errno::EPERM);
        }
        Ok(addr)
    }

    /// `munmap(addr, len)`. Unmapping a range with no mapping in it succeeds.
    pub fn munmap(&mut self, addr: u64, len: u64, frames: &mut dyn Frames) -> SysResult {
        if !addr.is_multiple_of(PAGE_SIZE) || addr > A::USER_END || len > A::USER_END - addr {
            return Err(Errno::EINVAL);
        }
        let len = page_align_wrapping(len);
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        self.remove_range(addr, addr + len, frames)?;
        Ok(0)
    }

    /// `mprotect(addr, len, prot)`. Unlike Linux, which changes the areas before a hole and then
    /// fails, a range with a hole is refused (`-ENOMEM`) before anything changes.
    pub fn mprotect(
        &mut self,
        addr: u64,
        len: u64,
        prot: u64,
        frames: &mut dyn Frames,
    ) -> SysResult {
        let grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
        let prot = prot & !grows;
        if grows == PROT_GROWSDOWN | PROT_GROWSUP {
            return Err(Errno::EINVAL);
        }
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        if len == 0 {
            return Ok(0);
        }
        let len = page_align_wrapping(len);
        let mut start = addr;
        let end = addr.wrapping_add(len);
        if end <= start {
            return Err(Errno::ENOMEM);
        }
        if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM) != 0 {
            return Err(Errno::EINVAL);
        }
        // The first area intersecting [start, end).
        let first = match self.area_at(start) {
            Some(area) => area,
            None => match self.areas.range(start..).next() {
                Some((_, area)) if area.start < end => area,
                _ => return Err(Errno::ENOMEM),
            },
        };
        if grows & PROT_GROWSDOWN != 0 {
            if first.start >= end {
                return Err(Errno::ENOMEM);
            }
            start = first.start;
            if !first.grows_down {
                return Err(Errno::EINVAL);
            }
        } else {
            if first.start > start {
                return Err(Errno::ENOMEM);
            }
            if grows & PROT_GROWSUP != 0 {
                // No area grows up on these architectures.
                return Err(Errno::EINVAL);
            }
        }
        if !self.covered(start, end) {
            return Err(Errno::ENOMEM);
        }
        let new = Prot::from_bits(prot);
        let mut changed = Vec::new();
        self.update_areas(start, end, |area| {
            area.prot = new;
            changed.push((area.start, area.end, area.shared));
        })?;
        for (s, e, shared) in changed {
            self.reprotect_pages(s, e, new, shared, frames);
        }
        Ok(0)
    }

    /// `mremap(old_addr, old_len, new_len, flags, new_addr)`: resizes and/or moves a mapping,
    /// keeping its contents; returns its (new) address.
    pub fn mremap(
        &mut self,
        old_addr: u64,
        old_len: u64,
        new_len: u64,
        flags: u64,
        new_addr: u64,
        frames: &mut dyn Frames,
    ) -> SysResult {
        if flags & !(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP) != 0 {
            return Err(Errno::EINVAL);
        }
        if !old_addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        if page_align_wrapping(new_len) == 0 {
            return Err(Errno::EINVAL);
        }
        let to_new_addr = flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) != 0;
        if to_new_addr {
            if !new_addr.is_multiple_of(PAGE_SIZE) || flags & MREMAP_MAYMOVE == 0 {
                return Err(Errno::EINVAL);
            }
            if flags & MREMAP_DONTUNMAP != 0 && old_len != new_len {
                return Err(Errno::EINVAL);
            }
            if self.areas.len() + 2 >= MAX_MAP_COUNT - 3 {
                return Err(Errno::ENOMEM);
            }
        }
        let mut old_len = page_align_wrapping(old_len);
        let new_len = page_align_wrapping(new_len);
        if self.area_at(old_addr).is_none() {
            return Err(Errno::EFAULT);
        }
        if to_new_addr {
            // mremap_to: the caller names (or, with only MREMAP_DONTUNMAP, hints) the target.
            if new_len > A::USER_END || new_addr > A::USER_END - new_len {
                return Err(Errno::EINVAL);
            }
            let old_end = old_addr.wrapping_add(old_len);
            if old_end > new_addr && new_addr + new_len > old_addr {
                return Err(Errno::EINVAL);
            }
            if flags & MREMAP_FIXED != 0 {
                self.munmap(new_addr, new_len, frames)?;
                if self.area_at(old_addr).is_none() {
                    return Err(Errno::EFAULT);
                }
            }
            if old_len > new_len {
                self.munmap(old_addr + new_len, old_len - new_len, frames)?;
                old_len = new_len;
                if self.area_at(old_addr).is_none() {
                    return Err(Errno::EFAULT);
                }
            }
            self.remap_is_valid(old_addr, old_len)?;
            let target = if flags & MREMAP_FIXED != 0 {
                self.unmapped_area(new_addr, new_len, true, false)?
            } else {
                self.unmapped_area(new_addr, new_len, false, false)?
            };
            let keep_old = flags & MREMAP_DONTUNMAP != 0;
            return self.move_mapping(old_addr, old_len, target, new_len, keep_old, frames);
        }
        if old_len == new_len {
            return Ok(old_addr);
        }
        if old_len > new_len {
            // An end beyond the user range makes munmap refuse it (-EINVAL), as on Linux.
            self.munmap(old_addr.wrapping_add(new_len), old_len - new_len, frames)?;
            return Ok(old_addr);
        }
        // Growing.
        self.remap_is_valid(old_addr, old_len)?;
        let area = self.area_at(old_addr).expect("checked above");
        let (area_start, area_end) = (area.start, area.end);
        let delta = new_len - old_len;
        if old_addr + old_len == area_end
            && let Some(grown_end) = area_end.checked_add(delta)
            && grown_end <= A::USER_END
            && !self.overlaps(area_end, grown_end)
        {
            self.areas
                .get_mut(&area_start)
                .expect("area just found")
                .end = grown_end;
            self.merge_around(area_start, grown_end);
            return Ok(old_addr);
        }
        if flags & MREMAP_MAYMOVE == 0 {
            return Err(Errno::ENOMEM);
        }
        let target = self.unmapped_area(0, new_len, false, false)?;
        self.move_mapping(old_addr, old_len, target, new_len, false, frames)
    }

    /// Linux's `remap_is_valid` checks for a range about to be moved or grown.
    fn remap_is_valid(&self, old_addr: u64, old_len: u64) -> Result<(), Errno> {
        let area = self.area_at(old_addr).ok_or(Errno::EFAULT)?;
        if old_len == 0 && !area.shared {
            // "Duplicating" a private mapping makes no sense: Linux refuses it.
            return Err(Errno::EINVAL);
        }
        if old_len > area.end - old_addr {
            return Err(Errno::EFAULT);
        }
        Ok(())
    }

    /// Moves `[old_addr, old_addr + old_len)` (inside one area) to a new area of `new_len`
    /// bytes at `target` (free or just unmapped), taking the pages along. With `keep_old` the
    /// old range stays mapped, empty (`MREMAP_DONTUNMAP`).
    fn move_mapping(
        &mut self,
        old_addr: u64,
        old_len: u64,
        target: u64,
        new_len: u64,
        keep_old: bool,
        frames: &mut dyn Frames,
    ) -> SysResult {
        let source = self.area_at(old_addr).ok_or(Errno::EFAULT)?;
        let mut area = source.clone();
        if let Backing::Object { page_offset, .. } = &mut area.backing {
            *page_offset += (old_addr - source.start) / PAGE_SIZE;
        }
        let shared = source.shared;
        area.start = target;
        area.end = target + new_len;
        if self.areas.len() >= MAX_MAP_COUNT {
            return Err(Errno::ENOMEM);
        }
        // Shared pages stay in their object and fault back in at the new place; private pages
        // (and parked frames) move with their contents.
        let old_end = old_addr + old_len;
        let moved = if shared {
            Vec::new()
        } else {
            self.mapped_pages(old_addr, old_end)
        };
        self.areas.insert(target, area);
        for (i, &(va, frame, flags)) in moved.iter().enumerate() {
            frames.share(frame);
            if self
                .space
                .map_frame(target + (va - old_addr), frame, flags, frames)
                .is_err()
            {
                // Out of page-table memory: undo the copies made so far and the new area.
                frames.free_frame(frame);
                for &(undo, _, _) in &moved[..i] {
                    let _ = self.space.unmap(target + (undo - old_addr), frames);
                }
                if let Some(area) = self.areas.remove(&target) {
                    Self::release_backing(area, frames);
                }
                return Err(Errno::ENOMEM);
            }
        }
        let parked: Vec<(u64, u64)> = self
            .parked
            .range(old_addr..old_end)
            .map(|(&va, &frame)| (va, frame))
            .collect();
        for (va, frame) in parked {
            self.parked.remove(&va);
            self.parked.insert(target + (va - old_addr), frame);
        }
        if keep_old {
            self.discard_pages(old_addr, old_end, frames);
        } else if old_len > 0 {
            self.remove_range(old_addr, old_end, frames)?;
        }
        self.merge_around(target, target + new_len);
        Ok(target)
    }

    /// `brk(requested)`: moves the program break when possible and returns the break in force
    /// afterwards (the old one on failure; `brk(0)` just reports it). The heap is populated on
    /// demand. It may not grow to within a page of the next mapping (or the guard gap of a stack).
    pub fn brk(&mut self, requested: u64, frames: &mut dyn Frames) -> u64 {
        let current = self.brk;
        // A space without a program image has no break to move.
        if self.brk_start == 0 || requested < self.brk_start {
            return current;
        }
        let (Some(new_end), Some(old_end)) = (page_up(requested), page_up(current)) else {
            return current;
        };
        if new_end == old_end {
            self.brk = requested;
            return requested;
        }
        if requested <= current {
            if self.remove_range(new_end, old_end, frames).is_ok() {
                self.brk = requested;
                return requested;
            }
            return current;
        }
        let limit = new_end.checked_add(PAGE_SIZE);
        let next = match self.area_at(old_end) {
            Some(area) => Some(area),
            None => self.areas.range(old_end..).next().map(|(_, a)| a),
        };
        let blocked = match (limit, next) {
            (None, _) => true,
            (Some(limit), Some(next)) => limit > next.start_gap(),
            (Some(limit), None) => limit > A::USER_END,
        };
        if blocked {
            return current;
        }
        let heap = Area::anonymous(old_end, new_end, Prot::READ_WRITE, AreaKind::Heap);
        if self.insert_area(heap).is_err() {
            return current;
        }
        self.brk = requested;
        requested
    }

    /// `madvise(addr, len, advice)`. `MADV_DONTNEED` drops private pages (zero on next touch) and
    /// a shared mapping's page-table entries (its data stays in the object); `MADV_DONTFORK`/
    /// `DOFORK` and `MADV_WIPEONFORK`/`KEEPONFORK` change what `fork` copies; `MADV_POPULATE_*`
    /// fault pages in. The rest are hints and accepted. `MADV_FREE` keeps the contents (the
    /// kernel may discard them, and never does); `MADV_REMOVE` on a shared mapping drops its
    /// page-table entries but, unlike Linux, does not punch a hole in the object.
    pub fn madvise(
        &mut self,
        addr: u64,
        len: u64,
        advice: u64,
        frames: &mut dyn Frames,
    ) -> SysResult {
        if !advice_is_valid(advice) {
            return Err(Errno::EINVAL);
        }
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        let aligned = page_align_wrapping(len);
        if len != 0 && aligned == 0 {
            return Err(Errno::EINVAL);
        }
        let end = addr.checked_add(aligned).ok_or(Errno::EINVAL)?;
        if end == addr {
            return Ok(0);
        }
        // The (clipped) areas in the range, walked in order as Linux does.
        let first = self.area_at(addr).map_or(addr, |a| a.start);
        let pieces: Vec<(u64, u64, bool)> = self
            .areas
            .range(first..end)
            .map(|(_, a)| (a.start.max(addr), a.end.min(end), a.shared))
            .collect();
        let mut hole = pieces.first().is_none_or(|&(s, _, _)| s > addr)
            || pieces.last().is_none_or(|&(_, e, _)| e < end);
        for pair in pieces.windows(2) {
            hole |= pair[0].1 != pair[1].0;
        }
        for (s, e, shared) in pieces {
            match advice {
                MADV_DONTNEED | MADV_DONTNEED_LOCKED => self.discard_pages(s, e, frames),
                MADV_FREE if shared => return Err(Errno::EINVAL),
                MADV_REMOVE if !shared => return Err(Errno::EINVAL),
                MADV_REMOVE => self.discard_pages(s, e, frames),
                MADV_DONTFORK | MADV_DOFORK => {
                    let on = advice == MADV_DONTFORK;
                    self.update_areas(s, e, |a| a.dont_fork = on)?;
                }
                MADV_WIPEONFORK if shared => return Err(Errno::EINVAL),
                MADV_WIPEONFORK | MADV_KEEPONFORK => {
                    let on = advice == MADV_WIPEONFORK;
                    self.update_areas(s, e, |a| a.wipe_on_fork = on)?;
                }
                MADV_POPULATE_READ | MADV_POPULATE_WRITE => {
                    let write = advice == MADV_POPULATE_WRITE;
                    self.populate_strict(s, e, write, frames)?;
                }
                _ => {}
            }
        }
        if hole { Err(Errno::ENOMEM) } else { Ok(0) }
    }

    /// Faults in `[start, end)` (inside areas) for `MADV_POPULATE_*`: `-EFAULT` where the rights
    /// forbid it, `-ENOMEM` when memory runs out.
    fn populate_strict(
        &mut self,
        start: u64,
        end: u64,
        write: bool,
        frames: &mut dyn Frames,
    ) -> Result<(), Errno> {
        let access = if write { Access::Write } else { Access::Read };
        let mut page = start;
        while page < end {
            let ready = self
                .space
                .translate(page)
                .is_some_and(|(_, f)| !write || f.write);
            if !ready {
                self.resolve(page, access, frames).map_err(|e| match e {
                    FaultError::OutOfMemory => Errno::ENOMEM,
                    _ => Errno::EFAULT,
                })?;
            }
            page += PAGE_SIZE;
        }
        Ok(())
    }

    /// `msync(addr, len, flags)`: anonymous memory has nothing to write back, so this only checks
    /// its arguments and that the range is mapped.
    pub fn msync(&self, addr: u64, len: u64, flags: u64) -> SysResult {
        if flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0 {
            return Err(Errno::EINVAL);
        }
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        if flags & MS_ASYNC != 0 && flags & MS_SYNC != 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_align_wrapping(len);
        let end = addr.wrapping_add(len);
        if end < addr {
            return Err(Errno::ENOMEM);
        }
        if end == addr {
            return Ok(0);
        }
        if self.covered(addr, end) {
            Ok(0)
        } else {
            Err(Errno::ENOMEM)
        }
    }

    /// `mincore(addr, len, vec)`: one byte per page, 1 when the page is in memory (mapped,
    /// parked, or present in its shared object).
    pub fn mincore(&mut self, addr: u64, len: u64, vec: u64, frames: &mut dyn Frames) -> SysResult {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        if addr.checked_add(len).is_none_or(|e| e > A::USER_END) {
            return Err(Errno::ENOMEM);
        }
        let pages = len.div_ceil(PAGE_SIZE);
        crate::uaccess::check_range(vec, pages, A::USER_END)?;
        if pages == 0 {
            return Ok(0);
        }
        let end = addr + pages * PAGE_SIZE;
        if !self.covered(addr, end) {
            return Err(Errno::ENOMEM);
        }
        // Produced and copied out a chunk at a time, so a huge range costs no huge buffer.
        let mut chunk = Vec::with_capacity(crate::uaccess::CHUNK);
        let mut page = addr;
        let mut out = vec;
        while page < end {
            chunk.clear();
            while page < end && chunk.len() < crate::uaccess::CHUNK {
                chunk.push(u8::from(self.resident(page)));
                page += PAGE_SIZE;
            }
            self.write_user(out, &chunk, frames)?;
            out += chunk.len() as u64;
        }
        Ok(0)
    }

    fn resident(&self, page: u64) -> bool {
        if self.space.translate(page).is_some() || self.parked.contains_key(&page) {
            return true;
        }
        self.area_at(page)
            .and_then(|a| a.object_page(page))
            .is_some_and(|(object, index)| object.lock().pages.contains_key(&index))
    }

    /// Creates the initial stack area `[start, top)`, growing down.
    pub(super) fn insert_stack(&mut self, start: u64, top: u64, prot: Prot) -> Result<(), Errno> {
        let mut stack = Area::anonymous(start, top, prot, AreaKind::Stack);
        stack.grows_down = true;
        self.insert_area(stack)
    }
}
