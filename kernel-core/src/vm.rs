//! Virtual memory of one user address space: the areas (Linux's VMAs) a program mapped, demand
//! paging, copy-on-write `fork`, growing stacks, and the memory-management system calls
//! (`mmap`, `munmap`, `mprotect`, `mremap`, `brk`, `madvise`, `msync`, `mincore`, in
//! [`map`]), with Linux's semantics and error codes. One [`Vm`] per address space; threads created
//! with `CLONE_VM` share it.
//!
//! # Model
//! - An [`Area`] is a page-aligned range `[start, end)` with the rights the program asked for
//!   ([`Prot`]), private or shared, and a [`Backing`]: anonymous memory, or a [`MemoryObject`]
//!   (the pages of a shared anonymous mapping; file mappings will be objects too).
//! - Pages are populated on first touch ([`Vm::handle_fault`]); nothing but the file bytes of the
//!   executable is copied eagerly. The kernel's own accesses to user memory go through the
//!   populating wrappers in [`crate::uaccess`], which resolve a missing page exactly as a fault
//!   would.
//! - Frames are reference counted ([`Frames`]): a private page shared after `fork` is mapped
//!   read-only in both processes and copied on the first write (a page whose frame has a single
//!   reference is simply made writable again). Shared mappings hold their pages in the object, so
//!   every process mapping it sees the same frames.
//! - Frames of pages that are not mapped in hardware but must keep their contents (a private
//!   page under `PROT_NONE`, or a page whose remapping ran out of memory) are *parked*: the [`Vm`]
//!   keeps the reference and the next fault maps the frame again.
//!
//! # W^X
//! User pages are never writable and executable at once (the arch refuses it). An area the
//! program maps `PROT_WRITE | PROT_EXEC` (JITs do) is honoured per page instead: a page is first
//! mapped writable, not executable; an execute fault flips it to executable, not writable; a later
//! write fault flips it back. Each flip is one fault, so code that writes and runs the same page
//! in a loop is slower than on Linux, but it runs, and no page is ever both.
//!
//! # Limits of the model
//! Every mapped page is readable (neither arch can map write-only or execute-only pages for user
//! mode here): `PROT_WRITE` or `PROT_EXEC` alone imply read, as on x86_64 Linux.

mod load;
pub mod map;
#[cfg(test)]
mod tests;

pub use load::{ExecError, ExecImage, PIE_BASE};

use crate::errno::Errno;
use crate::memory::Frames;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use hal::arch::Arch;
use hal::boot::PhysAddr;
use hal::mmu::{AddressSpace, MapError, PAGE_SIZE, PageFlags};
use spin::Mutex;

/// Nothing is mapped below this address (Linux's default `vm.mmap_min_addr`), so that a NULL
/// pointer dereference faults.
pub const MIN_USER_ADDRESS: u64 = crate::elf::MIN_USER_ADDRESS;
/// Linux's `stack_guard_gap`: 256 pages that no mapping placed by the kernel may take below a
/// stack (an area that grows down), and into which the stack may not grow when another area sits
/// below it.
pub const STACK_GUARD_GAP: u64 = 256 * PAGE_SIZE;
/// The default `RLIMIT_STACK` (8 MiB), how far the main stack may grow.
pub const DEFAULT_STACK_LIMIT: u64 = 8 << 20;
/// `RLIM_INFINITY`.
pub const RLIM_INFINITY: u64 = u64::MAX;
/// Linux's `sysctl_max_map_count`: a process cannot split its memory into more areas, which
/// bounds the kernel heap one process can take with area bookkeeping.
pub const MAX_MAP_COUNT: usize = 65530;
/// The smallest distance between the top of the user range and the mmap base (Linux's MIN_GAP),
/// leaving room for the stack to grow.
const MIN_MMAP_GAP: u64 = 128 << 20;

/// What a program may do with an area (`PROT_READ`, `PROT_WRITE`, `PROT_EXEC`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Prot {
    pub read: bool,
    pub write: bool,
    pub execute: bool,
}

impl Prot {
    pub const NONE: Prot = Prot {
        read: false,
        write: false,
        execute: false,
    };
    pub const READ_WRITE: Prot = Prot {
        read: true,
        write: true,
        execute: false,
    };
    pub const READ_EXECUTE: Prot = Prot {
        read: true,
        write: false,
        execute: true,
    };

    /// From the `PROT_*` bits (others are ignored here; the syscalls validate them).
    pub fn from_bits(bits: u64) -> Prot {
        Prot {
            read: bits & map::PROT_READ != 0,
            write: bits & map::PROT_WRITE != 0,
            execute: bits & map::PROT_EXEC != 0,
        }
    }

    /// `PROT_NONE`: every access faults.
    pub fn is_none(self) -> bool {
        !(self.read || self.write || self.execute)
    }

    fn allows(self, access: Access) -> bool {
        match access {
            // Every mapped page is readable: any right implies read.
            Access::Read => !self.is_none(),
            Access::Write => self.write,
            Access::Execute => self.execute,
        }
    }
}

/// What an area is for (the name `/proc/<pid>/maps` shows, and which areas `brk` manages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AreaKind {
    /// A segment of the executable.
    Image,
    /// The program break (`[heap]`).
    Heap,
    /// The main thread's stack (`[stack]`).
    Stack,
    /// Anything `mmap` created.
    Mmap,
    /// The signal-return trampoline page (Linux's `[vdso]`).
    Trampoline,
}

/// A set of pages that several areas (in one or several address spaces) map: the pages of a
/// shared anonymous mapping, indexed by page number within the object. The object holds one
/// reference to each of its frames; they are freed when the last area mapping it goes away.
/// (File mappings will use the same shape, with the page cache as the object.)
#[derive(Debug, Default)]
pub struct MemoryObject {
    pages: BTreeMap<u64, PhysAddr>,
}

/// Where an area's contents come from.
#[derive(Clone, Debug)]
pub enum Backing {
    /// Zero-filled on first touch, private to the address space (and its fork children, by
    /// copy-on-write).
    Anonymous,
    /// Pages of a [`MemoryObject`]; the area's first page is the object's page `page_offset`.
    Object {
        object: Arc<Mutex<MemoryObject>>,
        page_offset: u64,
    },
}

/// One mapped range (Linux's `vm_area_struct`).
#[derive(Clone, Debug)]
pub struct Area {
    pub start: u64,
    pub end: u64,
    pub prot: Prot,
    /// `MAP_SHARED`: writes are seen by every mapping of the backing, never copied.
    pub shared: bool,
    pub kind: AreaKind,
    /// A stack: a fault below it (within the stack limit and guard gap) extends it downwards.
    pub grows_down: bool,
    /// `MADV_DONTFORK`: a `fork` child does not get this area.
    pub dont_fork: bool,
    /// `MADV_WIPEONFORK`: a `fork` child gets the area empty (zero-filled).
    pub wipe_on_fork: bool,
    pub backing: Backing,
}

impl Area {
    /// A private anonymous area.
    pub fn anonymous(start: u64, end: u64, prot: Prot, kind: AreaKind) -> Area {
        Area {
            start,
            end,
            prot,
            shared: false,
            kind,
            grows_down: false,
            dont_fork: false,
            wipe_on_fork: false,
            backing: Backing::Anonymous,
        }
    }

    /// The lowest address a new mapping placed by the kernel may end at: a stack keeps
    /// [`STACK_GUARD_GAP`] free below itself (Linux's `vm_start_gap`).
    fn start_gap(&self) -> u64 {
        if self.grows_down {
            self.start.saturating_sub(STACK_GUARD_GAP)
        } else {
            self.start
        }
    }

    /// The object page backing `va` (inside the area), if the area has an object.
    fn object_page(&self, va: u64) -> Option<(Arc<Mutex<MemoryObject>>, u64)> {
        match &self.backing {
            Backing::Anonymous => None,
            Backing::Object {
                object,
                page_offset,
            } => Some((object.clone(), page_offset + (va - self.start) / PAGE_SIZE)),
        }
    }

    /// Whether `next` (starting where `self` ends) can become one area with `self`.
    fn can_merge(&self, next: &Area) -> bool {
        self.end == next.start
            && self.prot == next.prot
            && self.shared == next.shared
            && self.kind == next.kind
            && self.grows_down == next.grows_down
            && self.dont_fork == next.dont_fork
            && self.wipe_on_fork == next.wipe_on_fork
            && match (&self.backing, &next.backing) {
                (Backing::Anonymous, Backing::Anonymous) => true,
                (
                    Backing::Object {
                        object: a,
                        page_offset: pa,
                    },
                    Backing::Object {
                        object: b,
                        page_offset: pb,
                    },
                ) => Arc::ptr_eq(a, b) && pa + (self.end - self.start) / PAGE_SIZE == *pb,
                _ => false,
            }
    }
}

/// The kind of access a fault (or a kernel copy) makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Execute,
}

/// Why a fault could not be resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultError {
    /// No area at the address (and no stack to grow there): SIGSEGV with `SEGV_MAPERR`.
    Unmapped,
    /// The area forbids this access (`PROT_NONE`, a write to a read-only area, executing a
    /// non-executable one): SIGSEGV with `SEGV_ACCERR`.
    Forbidden,
    /// No frame for the page or its page table. Linux would invoke the OOM killer; the caller
    /// decides (SIGKILL, or SIGBUS like a failed file fault).
    OutOfMemory,
}

/// `si_code` values of SIGSEGV.
pub const SEGV_MAPERR: i32 = 1;
pub const SEGV_ACCERR: i32 = 2;

impl FaultError {
    /// The `si_code` of the SIGSEGV this fault raises (`OutOfMemory` reports `SEGV_MAPERR`).
    pub fn si_code(self) -> i32 {
        match self {
            FaultError::Forbidden => SEGV_ACCERR,
            FaultError::Unmapped | FaultError::OutOfMemory => SEGV_MAPERR,
        }
    }
}

fn page_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

/// `x` rounded up to a page, `None` if that overflows.
fn page_up(x: u64) -> Option<u64> {
    x.checked_add(PAGE_SIZE - 1).map(page_down)
}

/// The hardware rights for a page of an area with `prot`. `writable`: the page may be written
/// without a copy (a shared page, or a private frame nobody else references). `execute_mode`:
/// for a `PROT_WRITE | PROT_EXEC` area, whether the page is in its executable phase (W^X, see the
/// module documentation).
fn page_flags(prot: Prot, writable: bool, execute_mode: bool) -> PageFlags {
    let write = prot.write && writable;
    if prot.execute && (!write || execute_mode) {
        PageFlags::READ_EXECUTE
    } else {
        PageFlags {
            write,
            execute: false,
        }
    }
}

/// One user address space: the arch page table plus the areas that say what may be mapped in it.
pub struct Vm<A: Arch> {
    space: A::AddressSpace,
    areas: BTreeMap<u64, Area>,
    /// Frames this space holds a reference to without a hardware mapping (see the module docs),
    /// by page address. Always inside an area.
    parked: BTreeMap<u64, PhysAddr>,
    /// The program break: `brk` moves `brk` within `[brk_start, ..)`.
    brk_start: u64,
    brk: u64,
    /// Top of the region `mmap` places mappings in (top-down), below the stack's room to grow.
    mmap_base: u64,
    /// `RLIMIT_STACK`: how far a stack area may grow.
    stack_limit: u64,
    /// Address of the signal-return trampoline page (0 if none is mapped).
    trampoline: u64,
}

/// Linux's `mmap_base()` without randomisation: below the top of the user range by the stack
/// limit plus the guard gap, at least [`MIN_MMAP_GAP`] and at most 5/6 of the range.
fn mmap_base(user_end: u64, stack_limit: u64) -> u64 {
    let gap = stack_limit
        .saturating_add(STACK_GUARD_GAP)
        .clamp(MIN_MMAP_GAP, user_end / 6 * 5);
    page_down(user_end - gap)
}

fn map_error(e: MapError) -> FaultError {
    match e {
        MapError::OutOfMemory => FaultError::OutOfMemory,
        // The VM only maps page-aligned user addresses it has checked, never W+X, never over
        // an existing page: anything else is a kernel bug, reported rather than panicking.
        other => {
            log::error!("vm: unexpected page-table error {other:?}");
            FaultError::Unmapped
        }
    }
}

impl<A: Arch> Vm<A> {
    /// An empty address space: no areas, the mmap base below the default stack room.
    pub fn new(frames: &mut dyn Frames) -> Result<Self, Errno> {
        let space = A::AddressSpace::new(frames).map_err(|_| Errno::ENOMEM)?;
        Ok(Vm {
            space,
            areas: BTreeMap::new(),
            parked: BTreeMap::new(),
            brk_start: 0,
            brk: 0,
            mmap_base: mmap_base(A::USER_END, DEFAULT_STACK_LIMIT),
            stack_limit: DEFAULT_STACK_LIMIT,
            trampoline: 0,
        })
    }

    /// The page table, for `Arch::run_user` and the arch's signal-frame code. Its `read_user` /
    /// `write_user` do not populate pages: call [`Vm::populate`] for the range first.
    pub fn space(&self) -> &A::AddressSpace {
        &self.space
    }

    /// The areas in address order.
    pub fn areas(&self) -> impl Iterator<Item = &Area> {
        self.areas.values()
    }

    /// The area containing `va`.
    pub fn area_at(&self, va: u64) -> Option<&Area> {
        self.areas
            .range(..=va)
            .next_back()
            .map(|(_, a)| a)
            .filter(|a| va < a.end)
    }

    /// The current program break and where it started.
    pub fn brk_range(&self) -> (u64, u64) {
        (self.brk_start, self.brk)
    }

    pub fn mmap_base(&self) -> u64 {
        self.mmap_base
    }

    /// `RLIMIT_STACK` as the VM applies it to stack growth.
    pub fn stack_limit(&self) -> u64 {
        self.stack_limit
    }

    /// Sets `RLIMIT_STACK` (`setrlimit`/`prlimit64`): later stack growth obeys it (the mmap
    /// base, fixed at exec as on Linux, does not move).
    pub fn set_stack_limit(&mut self, limit: u64) {
        self.stack_limit = limit;
    }

    /// Where the signal-return trampoline is mapped (the return address for handlers installed
    /// without `SA_RESTORER`), 0 if this space has none (an arch without trampoline code, or a
    /// space not built by [`Vm::load`]).
    pub fn trampoline(&self) -> u64 {
        self.trampoline
    }

    /// [`Vm::trampoline`] as an option: `None` when no trampoline is mapped.
    pub fn sigreturn_trampoline(&self) -> Option<u64> {
        (self.trampoline != 0).then_some(self.trampoline)
    }

    /// Resolves a page fault at `address` from user mode: maps a zeroed page on first touch,
    /// copies a copy-on-write page on write, flips a W+X page between its writable and
    /// executable phase, or grows a stack. `Ok` means the faulting instruction can be retried.
    pub fn handle_fault(
        &mut self,
        address: u64,
        write: bool,
        execute: bool,
        frames: &mut dyn Frames,
    ) -> Result<(), FaultError> {
        let access = if execute {
            Access::Execute
        } else if write {
            Access::Write
        } else {
            Access::Read
        };
        self.resolve(address, access, frames)
    }

    /// Makes `[address, address + len)` accessible for the kernel's own copy (`write`: writable;
    /// else readable) by resolving every page that is missing or lacks the right, as a fault
    /// would. `-EFAULT` if any page cannot be (no area, forbidden, out of memory), as Linux's
    /// uaccess reports.
    pub fn populate(
        &mut self,
        address: u64,
        len: u64,
        write: bool,
        frames: &mut dyn Frames,
    ) -> Result<(), Errno> {
        if len == 0 {
            return Ok(());
        }
        crate::uaccess::check_range(address, len, A::USER_END)?;
        let access = if write { Access::Write } else { Access::Read };
        let end = address + len;
        let mut page = page_down(address);
        while page < end {
            let ready = match self.space.translate(page) {
                Some((_, flags)) => !write || flags.write,
                None => false,
            };
            if !ready {
                self.resolve(page, access, frames)
                    .map_err(|_| Errno::EFAULT)?;
            }
            page += PAGE_SIZE;
        }
        Ok(())
    }

    /// For a futex without `FUTEX_PRIVATE_FLAG`: the frame holding the word at `address` if it
    /// lies in a shared mapping (where other processes may wait on the same memory), `None` for
    /// private memory, which Linux keys by address space and address (a private page shared
    /// copy-on-write after `fork` must not make parent and child futexes one). `-EFAULT` if the
    /// word is not readable.
    pub fn shared_frame(
        &mut self,
        address: u64,
        frames: &mut dyn Frames,
    ) -> Result<Option<PhysAddr>, Errno> {
        self.populate(address, 4, false, frames)?;
        let shared = self.area_at(address).is_some_and(|a| a.shared);
        Ok(if shared {
            self.space.translate(address).map(|(frame, _)| frame)
        } else {
            None
        })
    }

    /// Best effort for a write that is about to happen below `end` (a signal frame under the
    /// stack pointer): makes the pages of `[start, end)` writable from the top down, stopping at
    /// the first that cannot be (the stack's limit or guard gap), so that as much as possible of
    /// the range nearest `end` is ready. `-EFAULT` if not all of it could be.
    pub fn prefault(&mut self, start: u64, end: u64, frames: &mut dyn Frames) -> Result<(), Errno> {
        let end = end.min(A::USER_END);
        if start >= end {
            return Ok(());
        }
        let mut page = page_down(end - 1);
        loop {
            let ready = self
                .space
                .translate(page)
                .is_some_and(|(_, flags)| flags.write);
            if !ready {
                self.resolve(page, Access::Write, frames)
                    .map_err(|_| Errno::EFAULT)?;
            }
            if page <= start {
                return Ok(());
            }
            page -= PAGE_SIZE;
        }
    }

    fn resolve(
        &mut self,
        address: u64,
        access: Access,
        frames: &mut dyn Frames,
    ) -> Result<(), FaultError> {
        if address >= A::USER_END {
            return Err(FaultError::Unmapped);
        }
        let page = page_down(address);
        if self.area_at(page).is_none() {
            self.grow_down_to(page)?;
        }
        let area = self.area_at(page).ok_or(FaultError::Unmapped)?;
        if !area.prot.allows(access) {
            return Err(FaultError::Forbidden);
        }
        let (prot, shared, object) = (area.prot, area.shared, area.object_page(page));
        match self.space.translate(page) {
            None => self.populate_page(page, prot, shared, object, access, frames),
            Some((frame, flags)) => {
                self.upgrade_page(page, frame, flags, prot, shared, access, frames)
            }
        }
    }

    /// Extends the stack (the first area above `page`, if it grows down) down to `page`, within
    /// the stack limit and without coming closer than the guard gap to an accessible area below
    /// (Linux's `expand_downwards`).
    fn grow_down_to(&mut self, page: u64) -> Result<(), FaultError> {
        let Some((&key, stack)) = self.areas.range(page..).next() else {
            return Err(FaultError::Unmapped);
        };
        if !stack.grows_down || page < MIN_USER_ADDRESS || stack.end - page > self.stack_limit {
            return Err(FaultError::Unmapped);
        }
        if let Some((_, below)) = self.areas.range(..page).next_back()
            && !below.grows_down
            && !below.prot.is_none()
            && page - below.end < STACK_GUARD_GAP
        {
            return Err(FaultError::Unmapped);
        }
        let mut stack = self.areas.remove(&key).expect("area just found");
        if let Backing::Object { page_offset, .. } = &mut stack.backing {
            // Growing below page 0 of the object is impossible: shared areas never grow down.
            *page_offset = page_offset.saturating_sub((key - page) / PAGE_SIZE);
        }
        stack.start = page;
        self.areas.insert(page, stack);
        Ok(())
    }

    /// Maps a page that is not present: its parked frame, its object's page, or a zeroed one.
    fn populate_page(
        &mut self,
        page: u64,
        prot: Prot,
        shared: bool,
        object: Option<(Arc<Mutex<MemoryObject>>, u64)>,
        access: Access,
        frames: &mut dyn Frames,
    ) -> Result<(), FaultError> {
        // A frame with the page's contents, holding one reference that is ours to give away.
        let mut frame = if let Some(frame) = self.parked.remove(&page) {
            frame
        } else if let Some((object, index)) = object {
            let mut object = object.lock();
            let frame = match object.pages.get(&index) {
                Some(&frame) => frame,
                None => {
                    let frame = frames.allocate_frame().ok_or(FaultError::OutOfMemory)?;
                    A::zero_frame(frame);
                    object.pages.insert(index, frame);
                    frame
                }
            };
            frames.share(frame);
            frame
        } else {
            let frame = frames.allocate_frame().ok_or(FaultError::OutOfMemory)?;
            A::zero_frame(frame);
            frame
        };
        if !shared && access == Access::Write && frames.references(frame) > 1 {
            // A private page someone else still maps: the write gets its own copy.
            let Some(copy) = frames.allocate_frame() else {
                self.parked.insert(page, frame);
                return Err(FaultError::OutOfMemory);
            };
            A::copy_frame(copy, frame);
            frames.free_frame(frame);
            frame = copy;
        }
        let writable = shared || frames.references(frame) == 1;
        let flags = page_flags(prot, writable, access == Access::Execute);
        if let Err(e) = self.space.map_frame(page, frame, flags, frames) {
            // The frame may hold the only copy of the page's data: keep it for the next try.
            self.parked.insert(page, frame);
            return Err(map_error(e));
        }
        Ok(())
    }

    /// Upgrades a present page for `access` (already allowed by the area's rights).
    #[allow(clippy::too_many_arguments)]
    fn upgrade_page(
        &mut self,
        page: u64,
        frame: PhysAddr,
        flags: PageFlags,
        prot: Prot,
        shared: bool,
        access: Access,
        frames: &mut dyn Frames,
    ) -> Result<(), FaultError> {
        match access {
            // Every present page is readable: a read fault on one is spurious (a stale TLB
            // entry on another path); retrying is right.
            Access::Read => Ok(()),
            Access::Execute if flags.execute => Ok(()),
            Access::Execute => self
                .space
                .protect(page, PageFlags::READ_EXECUTE)
                .map_err(map_error),
            Access::Write if flags.write => Ok(()),
            Access::Write if shared || frames.references(frame) == 1 => self
                .space
                .protect(page, page_flags(prot, true, false))
                .map_err(map_error),
            Access::Write => self.break_cow(page, frame, flags, prot, frames),
        }
    }

    /// Gives the space its own writable copy of a private page whose frame is shared.
    fn break_cow(
        &mut self,
        page: u64,
        frame: PhysAddr,
        flags: PageFlags,
        prot: Prot,
        frames: &mut dyn Frames,
    ) -> Result<(), FaultError> {
        let copy = frames.allocate_frame().ok_or(FaultError::OutOfMemory)?;
        A::copy_frame(copy, frame);
        // Hold the old frame across the swap so that a failure can put it back.
        frames.share(frame);
        let _ = self.space.unmap(page, frames);
        match self
            .space
            .map_frame(page, copy, page_flags(prot, true, false), frames)
        {
            Ok(()) => {
                frames.free_frame(frame);
                Ok(())
            }
            Err(e) => {
                frames.free_frame(copy);
                if self.space.map_frame(page, frame, flags, frames).is_err() {
                    self.parked.insert(page, frame);
                }
                Err(map_error(e))
            }
        }
    }

    /// The mapped pages in `[start, end)`, collected so that the page table can be changed
    /// while going through them.
    fn mapped_pages(&self, start: u64, end: u64) -> Vec<(u64, PhysAddr, PageFlags)> {
        let mut pages = Vec::new();
        self.space
            .for_each_mapped(start, end, &mut |va, frame, flags| {
                pages.push((va, frame, flags))
            });
        pages
    }

    /// Drops every page in `[start, end)`: unmapped from the page table, parked frames released.
    /// Private anonymous contents are gone (the next touch sees zeros); an object keeps its pages.
    fn discard_pages(&mut self, start: u64, end: u64, frames: &mut dyn Frames) {
        for (va, _, _) in self.mapped_pages(start, end) {
            let _ = self.space.unmap(va, frames);
        }
        let parked: Vec<u64> = self.parked.range(start..end).map(|(&va, _)| va).collect();
        for va in parked {
            if let Some(frame) = self.parked.remove(&va) {
                frames.free_frame(frame);
            }
        }
    }

    /// Drops an area's reference to its object; the last one frees the object's pages.
    fn release_backing(area: Area, frames: &mut dyn Frames) {
        if let Backing::Object { object, .. } = area.backing
            && let Some(object) = Arc::into_inner(object)
        {
            for (_, frame) in object.into_inner().pages {
                frames.free_frame(frame);
            }
        }
    }

    /// Whether any area intersects `[start, end)`.
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.areas
            .range(..end)
            .next_back()
            .is_some_and(|(_, a)| a.end > start)
    }

    /// Whether areas cover `[start, end)` without a hole.
    fn covered(&self, start: u64, end: u64) -> bool {
        let mut at = start;
        while at < end {
            match self.area_at(at) {
                Some(area) => at = area.end,
                None => return false,
            }
        }
        true
    }

    /// Splits the area containing `at` (strictly inside it) in two at `at`.
    fn split(&mut self, at: u64) -> Result<(), Errno> {
        let Some(area) = self.area_at(at).filter(|a| a.start < at) else {
            return Ok(());
        };
        if self.areas.len() >= MAX_MAP_COUNT || !crate::memory::heap_room(crate::memory::AREA_HEAP)
        {
            return Err(Errno::ENOMEM);
        }
        let mut upper = area.clone();
        let key = area.start;
        if let Backing::Object { page_offset, .. } = &mut upper.backing {
            *page_offset += (at - key) / PAGE_SIZE;
        }
        upper.start = at;
        self.areas.get_mut(&key).expect("area just found").end = at;
        self.areas.insert(at, upper);
        Ok(())
    }

    /// Merges compatible neighbours among the areas touching `[start, end]`.
    fn merge_around(&mut self, start: u64, end: u64) {
        let mut cursor = match self.areas.range(..start).next_back() {
            Some((&key, area)) if area.end >= start => key,
            _ => match self.areas.range(start..).next() {
                Some((&key, _)) => key,
                None => return,
            },
        };
        loop {
            let current = &self.areas[&cursor];
            let Some((&next_key, next)) = self.areas.range(cursor + 1..).next() else {
                return;
            };
            if next_key > end {
                return;
            }
            if current.can_merge(next) {
                let next = self.areas.remove(&next_key).expect("area just found");
                self.areas.get_mut(&cursor).expect("area just found").end = next.end;
            } else {
                cursor = next_key;
            }
        }
    }

    /// Adds an area over a free range and merges it with compatible neighbours.
    fn insert_area(&mut self, area: Area) -> Result<(), Errno> {
        if area.start >= area.end || self.overlaps(area.start, area.end) {
            // Callers check first; refusing here keeps the areas disjoint whatever happens
            // (an executable laid out over the stack, say).
            return Err(Errno::ENOMEM);
        }
        // Areas live on the kernel heap: none beyond its reserve (crate::memory::heap_room).
        if self.areas.len() >= MAX_MAP_COUNT || !crate::memory::heap_room(crate::memory::AREA_HEAP)
        {
            return Err(Errno::ENOMEM);
        }
        let (start, end) = (area.start, area.end);
        self.areas.insert(start, area);
        self.merge_around(start, end);
        Ok(())
    }

    /// Removes everything in `[start, end)`: areas (split at the edges), pages, parked frames.
    fn remove_range(&mut self, start: u64, end: u64, frames: &mut dyn Frames) -> Result<(), Errno> {
        if !self.overlaps(start, end) {
            return Ok(());
        }
        self.split(start)?;
        self.split(end)?;
        let keys: Vec<u64> = self.areas.range(start..end).map(|(&k, _)| k).collect();
        for key in keys {
            let area = self.areas.remove(&key).expect("area just listed");
            self.discard_pages(area.start, area.end, frames);
            Self::release_backing(area, frames);
        }
        Ok(())
    }

    /// Applies `change` to every area in `[start, end)` (which areas must cover), splitting at
    /// the edges first and merging afterwards.
    fn update_areas(
        &mut self,
        start: u64,
        end: u64,
        mut change: impl FnMut(&mut Area),
    ) -> Result<(), Errno> {
        self.split(start)?;
        self.split(end)?;
        for (_, area) in self.areas.range_mut(start..end) {
            change(area);
        }
        self.merge_around(start, end);
        Ok(())
    }

    /// Re-derives the hardware rights of the mapped pages in `[start, end)` after the area's
    /// rights changed to `prot`. Under `PROT_NONE` pages leave the page table; private frames
    /// are parked so that their contents survive.
    fn reprotect_pages(
        &mut self,
        start: u64,
        end: u64,
        prot: Prot,
        shared: bool,
        frames: &mut dyn Frames,
    ) {
        for (va, frame, flags) in self.mapped_pages(start, end) {
            if prot.is_none() {
                if !shared {
                    frames.share(frame);
                    self.parked.insert(va, frame);
                }
                let _ = self.space.unmap(va, frames);
            } else {
                let writable = shared || frames.references(frame) == 1;
                let new = page_flags(prot, writable, flags.execute);
                if new != flags {
                    let _ = self.space.protect(va, new);
                }
            }
        }
    }

    /// The address for a new mapping of `len` bytes (page aligned, non-zero): `hint` if that
    /// range is free (with the guard gap below stacks), else the highest free range below the
    /// mmap base, else the highest anywhere (Linux's top-down allocator).
    fn find_free(&self, hint: u64, len: u64) -> Option<u64> {
        if hint != 0 && self.range_is_free(hint, len, A::USER_END) {
            return Some(hint);
        }
        self.search_top_down(len, MIN_USER_ADDRESS, self.mmap_base)
            .or_else(|| self.search_top_down(len, MIN_USER_ADDRESS, A::USER_END))
    }

    /// Whether `[at, at + len)` lies in `[MIN_USER_ADDRESS, limit)` and is free, keeping the
    /// guard gap below stacks.
    fn range_is_free(&self, at: u64, len: u64, limit: u64) -> bool {
        let Some(end) = at.checked_add(len).filter(|&e| e <= limit) else {
            return false;
        };
        if at < MIN_USER_ADDRESS {
            return false;
        }
        // The first area ending above `at` decides: it must start (gap included) at or after
        // `end`; areas below end at or before `at` by construction.
        let next = match self.area_at(at) {
            Some(area) => Some(area),
            None => self.areas.range(at..).next().map(|(_, a)| a),
        };
        next.is_none_or(|a| end <= a.start_gap())
    }

    /// The highest `len`-byte free range inside `[low, high)`.
    fn search_top_down(&self, len: u64, low: u64, high: u64) -> Option<u64> {
        let mut upper = high;
        for area in self.areas.values().rev() {
            if upper <= low {
                return None;
            }
            let floor = area.end.max(low);
            if floor < upper && upper - floor >= len {
                return Some(upper - len);
            }
            upper = upper.min(area.start_gap());
        }
        (upper > low && upper - low >= len).then(|| upper - len)
    }

    /// The lowest `len`-byte free range inside `[low, high)` (x86_64's `MAP_32BIT`).
    fn search_bottom_up(&self, len: u64, low: u64, high: u64) -> Option<u64> {
        let mut lower = low;
        for area in self.areas.values() {
            if area.end <= lower {
                continue;
            }
            let ceiling = area.start_gap().min(high);
            if ceiling > lower && ceiling - lower >= len {
                return Some(lower);
            }
            lower = lower.max(area.end);
            if lower >= high {
                return None;
            }
        }
        (high > lower && high - lower >= len).then_some(lower)
    }

    /// `fork`: a copy of this address space for a child. Private pages are shared copy-on-write
    /// (read-only in both, copied on the first write); shared areas keep sharing their object;
    /// `MADV_DONTFORK` areas are left out and `MADV_WIPEONFORK` areas start empty.
    pub fn fork(&mut self, frames: &mut dyn Frames) -> Result<Vm<A>, Errno> {
        let mut child = Vm::<A>::new(frames)?;
        child.brk_start = self.brk_start;
        child.brk = self.brk;
        child.mmap_base = self.mmap_base;
        child.stack_limit = self.stack_limit;
        child.trampoline = self.trampoline;
        let areas: Vec<Area> = self.areas.values().cloned().collect();
        for area in areas {
            if area.dont_fork {
                continue;
            }
            let copy_pages = !area.shared && !area.wipe_on_fork;
            let (start, end) = (area.start, area.end);
            child.areas.insert(start, area);
            if !copy_pages {
                // A shared area's pages stay in its object: the child faults them in from there.
                continue;
            }
            for (va, frame, flags) in self.mapped_pages(start, end) {
                let read_only = PageFlags {
                    write: false,
                    execute: flags.execute,
                };
                frames.share(frame);
                if child.space.map_frame(va, frame, read_only, frames).is_err() {
                    frames.free_frame(frame);
                    child.destroy(frames);
                    return Err(Errno::ENOMEM);
                }
                if flags.write {
                    let _ = self.space.protect(va, read_only);
                }
            }
            let parked: Vec<(u64, PhysAddr)> = self
                .parked
                .range(start..end)
                .map(|(&va, &frame)| (va, frame))
                .collect();
            for (va, frame) in parked {
                frames.share(frame);
                child.parked.insert(va, frame);
            }
        }
        Ok(child)
    }

    /// Frees everything: every page and parked frame, the objects only this space still maps,
    /// and the page table. The space must not be active on the CPU.
    pub fn destroy(self, frames: &mut dyn Frames) {
        for (_, frame) in self.parked {
            frames.free_frame(frame);
        }
        for (_, area) in self.areas {
            Self::release_backing(area, frames);
        }
        self.space.destroy(frames);
    }
}
