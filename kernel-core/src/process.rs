//! A user process: its address space, registers and program break, and `exec`, which builds all
//! three from an ELF image (the loader plan from [`crate::elf`], the System V initial stack from
//! [`crate::initial_stack`]).

use crate::elf::{self, ElfError, LoadPlan};
use crate::initial_stack::{self, AuxEntry};
use alloc::string::String;
use core::fmt;
use hal::arch::Arch;
use hal::mmu::{AddressSpace, FrameAllocator, MapError, PAGE_SIZE, PageFlags};
use hal::user::UserContext;

/// Where a static-pie executable is placed: Linux's ELF_ET_DYN_BASE on x86_64 (2/3 of the 47-bit
/// user range), valid on both arches.
pub const PIE_BASE: u64 = 0x5555_5555_4000;
/// Stack pages mapped up front, below a one-page gap under the top of the user range. (Growing
/// stacks arrive with demand paging.)
pub const STACK_SIZE: u64 = 1 << 20;
/// How far the program break may grow beyond the end of the image (Linux's default RLIMIT_DATA is
/// unlimited; this bounds eager mapping until demand paging arrives).
pub const BRK_MAX: u64 = 256 << 20;
/// Linux's comm is 16 bytes including the NUL.
const COMM_LEN: usize = 15;

pub struct Process<A: Arch> {
    pub pid: u32,
    /// The executable's base name, as `/proc/<pid>/comm` shows it.
    pub name: String,
    pub space: A::AddressSpace,
    pub context: A::Context,
    pub brk: ProgramBreak,
}

/// The heap segment `brk` manages: `[start, current)`, with whole pages mapped up to `mapped_end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramBreak {
    pub start: u64,
    pub current: u64,
    pub mapped_end: u64,
}

#[derive(Debug)]
pub enum ExecError {
    Elf(ElfError),
    Map(MapError),
    /// The initial stack could not be built (argument list too long or malformed).
    Stack(initial_stack::StackError),
    /// The loader's own bounds checks passed but the copy into user memory failed.
    Copy,
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecError::Elf(e) => write!(f, "{e}"),
            ExecError::Map(MapError::OutOfMemory) => f.write_str("out of memory"),
            ExecError::Map(e) => write!(f, "cannot map the image: {e:?}"),
            ExecError::Stack(e) => write!(f, "cannot build the initial stack: {e}"),
            ExecError::Copy => f.write_str("cannot copy the image into user memory"),
        }
    }
}

impl From<MapError> for ExecError {
    fn from(e: MapError) -> Self {
        ExecError::Map(e)
    }
}

fn comm(path: &str) -> String {
    let base = path.rsplit('/').find(|s| !s.is_empty()).unwrap_or(path);
    base.chars().take(COMM_LEN).collect()
}

/// Maps `[start, end)` page by page. Pages already mapped with the same rights are accepted (two
/// segments may share a page); any other failure is returned.
fn map_range<S: AddressSpace>(
    space: &mut S,
    start: u64,
    end: u64,
    flags: PageFlags,
    frames: &mut dyn FrameAllocator,
) -> Result<(), MapError> {
    let mut va = start;
    while va < end {
        match space.map_zeroed(va, flags, frames) {
            Ok(()) => {}
            Err(MapError::AlreadyMapped) if space.query(va) == Some(flags) => {}
            Err(e) => return Err(e),
        }
        va += PAGE_SIZE;
    }
    Ok(())
}

/// Builds a new process image from `image`: maps and fills every segment, builds the initial
/// stack with `argv`/`envp` and the auxiliary vector, and returns a process ready to enter user
/// mode at the ELF entry point. Nothing of the new image survives an error.
pub fn exec<A: Arch>(
    pid: u32,
    path: &str,
    image: &[u8],
    argv: &[&[u8]],
    envp: &[&[u8]],
    frames: &mut dyn FrameAllocator,
) -> Result<Process<A>, ExecError> {
    let plan = elf::plan(image, A::ELF_MACHINE, A::USER_END, PIE_BASE).map_err(ExecError::Elf)?;
    let mut space = A::AddressSpace::new(frames)?;
    match populate::<A>(&mut space, &plan, path, image, argv, envp, frames) {
        Ok((context, brk)) => Ok(Process {
            pid,
            name: comm(path),
            space,
            context,
            brk,
        }),
        Err(e) => {
            space.destroy(frames);
            Err(e)
        }
    }
}

fn populate<A: Arch>(
    space: &mut A::AddressSpace,
    plan: &LoadPlan,
    path: &str,
    image: &[u8],
    argv: &[&[u8]],
    envp: &[&[u8]],
    frames: &mut dyn FrameAllocator,
) -> Result<(A::Context, ProgramBreak), ExecError> {
    for segment in &plan.segments {
        map_range(space, segment.vaddr, segment.mem_end, segment.flags, frames)?;
        // elf::plan has bounds-checked file_offset + file_size against the image.
        let start = segment.file_offset as usize;
        let bytes = &image[start..start + segment.file_size as usize];
        space
            .write_user(segment.data_vaddr, bytes, true)
            .map_err(|_| ExecError::Copy)?;
    }

    let stack_top = (A::USER_END - PAGE_SIZE) & !(PAGE_SIZE - 1);
    let stack_flags = PageFlags::READ_WRITE;
    map_range(
        space,
        stack_top - STACK_SIZE,
        stack_top,
        stack_flags,
        frames,
    )?;
    let auxv = [
        AuxEntry(initial_stack::AT_PHDR, plan.phdr_address),
        AuxEntry(initial_stack::AT_PHENT, plan.phent as u64),
        AuxEntry(initial_stack::AT_PHNUM, plan.phnum as u64),
        AuxEntry(initial_stack::AT_PAGESZ, PAGE_SIZE),
        AuxEntry(initial_stack::AT_BASE, 0),
        AuxEntry(initial_stack::AT_FLAGS, 0),
        AuxEntry(initial_stack::AT_ENTRY, plan.entry),
        AuxEntry(initial_stack::AT_UID, 0),
        AuxEntry(initial_stack::AT_EUID, 0),
        AuxEntry(initial_stack::AT_GID, 0),
        AuxEntry(initial_stack::AT_EGID, 0),
        AuxEntry(initial_stack::AT_SECURE, 0),
        AuxEntry(initial_stack::AT_CLKTCK, 100),
        AuxEntry(initial_stack::AT_HWCAP, A::hwcap()),
        AuxEntry(initial_stack::AT_HWCAP2, 0),
    ];
    let stack = initial_stack::build(
        stack_top,
        argv,
        envp,
        &auxv,
        A::random_bytes(),
        A::MACHINE,
        path.as_bytes(),
    )
    .map_err(ExecError::Stack)?;
    if stack.base < stack_top - STACK_SIZE {
        return Err(ExecError::Stack(initial_stack::StackError::TooBig));
    }
    space
        .write_user(stack.base, &stack.bytes, false)
        .map_err(|_| ExecError::Copy)?;

    let brk = ProgramBreak {
        start: plan.image_end,
        current: plan.image_end,
        mapped_end: plan.image_end,
    };
    Ok((A::Context::new(plan.entry, stack.stack_pointer), brk))
}

impl<A: Arch> Process<A> {
    /// Linux `brk(2)`: moves the program break to `requested` when that is possible and returns
    /// the break in force afterwards (the old one on failure; `brk(0)` just reports it).
    pub fn set_brk(&mut self, requested: u64, frames: &mut dyn FrameAllocator) -> u64 {
        let brk = self.brk;
        if requested < brk.start || requested > brk.start.saturating_add(BRK_MAX) {
            return brk.current;
        }
        let Some(new_mapped_end) = requested
            .checked_add(PAGE_SIZE - 1)
            .map(|v| v & !(PAGE_SIZE - 1))
        else {
            return brk.current;
        };
        if new_mapped_end > brk.mapped_end {
            if let Err(e) = map_range(
                &mut self.space,
                brk.mapped_end,
                new_mapped_end,
                PageFlags::READ_WRITE,
                frames,
            ) {
                log::debug!("brk: growing to {requested:#x} failed: {e:?}");
                // Undo the part that did get mapped so that a failed brk changes nothing.
                self.unmap_range(brk.mapped_end, new_mapped_end, frames);
                return brk.current;
            }
        } else if new_mapped_end < brk.mapped_end {
            self.unmap_range(new_mapped_end, brk.mapped_end, frames);
        }
        self.brk.current = requested;
        self.brk.mapped_end = new_mapped_end;
        requested
    }

    fn unmap_range(&mut self, start: u64, end: u64, frames: &mut dyn FrameAllocator) {
        let mut va = start;
        while va < end {
            // Pages that were never mapped report NotMapped; nothing else to undo for them.
            let _ = self.space.unmap(va, frames);
            va += PAGE_SIZE;
        }
    }

    /// Frees every page of the process.
    pub fn destroy(self, frames: &mut dyn FrameAllocator) {
        self.space.destroy(frames);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comm_is_the_base_name_cut_to_15_bytes() {
        assert_eq!(comm("/init"), "init");
        assert_eq!(comm("/bin/a-very-long-program-name"), "a-very-long-pro");
        assert_eq!(comm("/usr/bin/"), "bin");
        assert_eq!(comm("hello"), "hello");
    }
}
