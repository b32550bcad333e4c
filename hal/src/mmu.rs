//! User address spaces: one page table per user program, built and torn down by the arch code,
//! with the checked copy helpers through which *all* kernel access to user memory goes.

use crate::boot::PhysAddr;

pub const PAGE_SIZE: u64 = 4096;

/// Where physical page frames come from. kernel-core owns the allocator; the arch page-table code
/// borrows it for page tables and user pages.
pub trait FrameAllocator {
    /// A free 4 KiB frame, or `None` when memory is exhausted. Contents are unspecified.
    fn allocate_frame(&mut self) -> Option<PhysAddr>;
    /// Drops one reference to a frame obtained from [`FrameAllocator::allocate_frame`]; the frame
    /// is free again when no reference remains (frames are shared by copy-on-write and shared
    /// mappings; kernel-core's allocator counts the references).
    fn free_frame(&mut self, frame: PhysAddr);
}

/// Access rights of a user page. Every mapped user page is readable; a page is never both
/// writable and executable (W^X): the arch refuses such a request with [`MapError::WriteExecute`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PageFlags {
    pub write: bool,
    pub execute: bool,
}

impl PageFlags {
    pub const READ: Self = Self {
        write: false,
        execute: false,
    };
    pub const READ_WRITE: Self = Self {
        write: true,
        execute: false,
    };
    pub const READ_EXECUTE: Self = Self {
        write: false,
        execute: true,
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// No frame for the page or for a page-table level.
    OutOfMemory,
    /// The address is not page aligned, or not inside the user range.
    BadAddress,
    /// Something is already mapped there.
    AlreadyMapped,
    /// Nothing is mapped there.
    NotMapped,
    /// Writable and executable at once.
    WriteExecute,
}

/// The user pointer did not name accessible memory: the syscall returns `-EFAULT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadUserAddress {
    pub address: u64,
}

/// One user address space (lower half). The kernel half is shared by all and is never reachable
/// through these methods.
pub trait AddressSpace: Sized {
    /// An empty user address space (the kernel half already present, so it can be activated).
    fn new(frames: &mut dyn FrameAllocator) -> Result<Self, MapError>;

    /// Maps one fresh, zero-filled 4 KiB page at `va` (page aligned, inside the user range).
    fn map_zeroed(
        &mut self,
        va: u64,
        flags: PageFlags,
        frames: &mut dyn FrameAllocator,
    ) -> Result<(), MapError>;

    /// Maps the existing frame `frame` at `va` (page aligned, inside the user range). The address
    /// space takes over one reference to the frame: [`AddressSpace::unmap`] and
    /// [`AddressSpace::destroy`] drop it with [`FrameAllocator::free_frame`]. `frames` supplies
    /// page-table frames.
    fn map_frame(
        &mut self,
        va: u64,
        frame: PhysAddr,
        flags: PageFlags,
        frames: &mut dyn FrameAllocator,
    ) -> Result<(), MapError>;

    /// Changes the rights of the page at `va` (and flushes any stale TLB entry for it).
    fn protect(&mut self, va: u64, flags: PageFlags) -> Result<(), MapError>;

    /// Unmaps the page at `va` and drops the space's reference to its frame.
    fn unmap(&mut self, va: u64, frames: &mut dyn FrameAllocator) -> Result<(), MapError>;

    /// The frame and rights of the page mapped at `va`, or `None` if nothing is mapped there.
    fn translate(&self, va: u64) -> Option<(PhysAddr, PageFlags)>;

    /// The rights of the page mapped at `va`, or `None` if nothing is mapped there.
    fn query(&self, va: u64) -> Option<PageFlags> {
        self.translate(va).map(|(_, flags)| flags)
    }

    /// Calls `visit(va, frame, flags)` for every mapped page in `[start, end)`, in ascending
    /// address order, skipping empty page-table subtrees without visiting each page (fork walks
    /// large, sparsely used ranges).
    fn for_each_mapped(
        &self,
        start: u64,
        end: u64,
        visit: &mut dyn FnMut(u64, PhysAddr, PageFlags),
    );

    /// Copies `src` to user memory at `va`. Fails, writing nothing beyond the first bad page, if
    /// any byte is unmapped, outside the user range or (unless `ignore_protection`) not writable.
    /// `ignore_protection` is for the loader filling read-only segments it just mapped.
    fn write_user(
        &self,
        va: u64,
        src: &[u8],
        ignore_protection: bool,
    ) -> Result<(), BadUserAddress>;

    /// Copies user memory at `va` into `dst`. Fails if any byte is unmapped or outside the user
    /// range.
    fn read_user(&self, va: u64, dst: &mut [u8]) -> Result<(), BadUserAddress>;

    /// Frees every user page and page-table frame. The address space must not be active.
    fn destroy(self, frames: &mut dyn FrameAllocator);
}
