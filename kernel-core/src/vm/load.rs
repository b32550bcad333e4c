//! Building a new address space from an ELF image (`execve`): segments become areas (their file
//! bytes copied in now, bss left to demand paging), the stack area grows down from the top of the
//! user range with the System V initial stack written into it, the signal-return trampoline gets
//! its page, and the program break starts after the image.

use super::map::STACK_EXPAND;
use super::{Area, AreaKind, Prot, Vm, mmap_base, page_down, page_up};
use crate::elf::{self, ElfError, LoadPlan};
use crate::errno::Errno;
use crate::initial_stack::{self, AuxEntry, StackError};
use crate::memory::Frames;
use core::fmt;
use hal::arch::Arch;
use hal::mmu::{AddressSpace, PAGE_SIZE, PageFlags};

/// Where a static-pie executable is placed: Linux's ELF_ET_DYN_BASE on x86_64 (2/3 of the 47-bit
/// user range), valid on both arches.
pub const PIE_BASE: u64 = 0x5555_5555_4000;

/// Why an image could not be loaded. Nothing of the new address space survives the error.
#[derive(Debug)]
pub enum ExecError {
    Elf(ElfError),
    /// No memory for a page or a page table.
    OutOfMemory,
    /// The initial stack could not be built (argument list too long or malformed).
    Stack(StackError),
    /// The loader's own bounds checks passed but the copy into user memory failed.
    Copy,
}

impl ExecError {
    /// The `execve` error Linux reports for this failure.
    pub fn errno(&self) -> Errno {
        match self {
            ExecError::Elf(_) => Errno::ENOEXEC,
            ExecError::OutOfMemory => Errno::ENOMEM,
            ExecError::Stack(StackError::TooBig) => Errno::E2BIG,
            ExecError::Stack(StackError::NulInString) => Errno::EINVAL,
            ExecError::Stack(_) | ExecError::Copy => Errno::EFAULT,
        }
    }
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecError::Elf(e) => write!(f, "{e}"),
            ExecError::OutOfMemory => f.write_str("out of memory"),
            ExecError::Stack(e) => write!(f, "cannot build the initial stack: {e}"),
            ExecError::Copy => f.write_str("cannot copy the image into user memory"),
        }
    }
}

/// Where a freshly loaded program starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecImage {
    pub entry: u64,
    pub stack_pointer: u64,
}

fn prot_of(flags: PageFlags) -> Prot {
    Prot {
        read: true,
        write: flags.write,
        execute: flags.execute,
    }
}

impl<A: Arch> Vm<A> {
    /// Loads `image` into a new address space: the areas and pages of its segments, a stack
    /// holding `argv`, `envp` and the auxiliary vector, the signal-return trampoline and an empty
    /// program break. `stack_limit` is `RLIMIT_STACK` (bounds the stack's growth and places the
    /// mmap base below its room).
    pub fn load(
        path: &str,
        image: &[u8],
        argv: &[&[u8]],
        envp: &[&[u8]],
        stack_limit: u64,
        frames: &mut dyn Frames,
    ) -> Result<(Vm<A>, ExecImage), ExecError> {
        let plan =
            elf::plan(image, A::ELF_MACHINE, A::USER_END, PIE_BASE).map_err(ExecError::Elf)?;
        let mut vm = Vm::<A>::new(frames).map_err(|_| ExecError::OutOfMemory)?;
        vm.stack_limit = stack_limit;
        vm.mmap_base = mmap_base(A::USER_END, stack_limit);
        match vm.build(&plan, path, image, argv, envp, frames) {
            Ok(start) => Ok((vm, start)),
            Err(e) => {
                vm.destroy(frames);
                Err(e)
            }
        }
    }

    fn build(
        &mut self,
        plan: &LoadPlan,
        path: &str,
        image: &[u8],
        argv: &[&[u8]],
        envp: &[&[u8]],
        frames: &mut dyn Frames,
    ) -> Result<ExecImage, ExecError> {
        let mut previous_end = 0;
        for segment in &plan.segments {
            // Two segments with identical rights may share a page (elf::plan allows only that):
            // the page belongs to the first one's area.
            let start = segment.vaddr.max(previous_end);
            if start < segment.mem_end {
                let area = Area::anonymous(
                    start,
                    segment.mem_end,
                    prot_of(segment.flags),
                    AreaKind::Image,
                );
                self.insert_area(area).map_err(|_| ExecError::OutOfMemory)?;
            }
            previous_end = segment.mem_end;
            if segment.file_size == 0 {
                continue;
            }
            // The pages holding file bytes are filled now; the rest of the segment (bss) is
            // zero-filled on demand. plan() bounds-checked the file range and the addresses.
            let first = page_down(segment.data_vaddr);
            let last = page_up(segment.data_vaddr + segment.file_size).ok_or(ExecError::Copy)?;
            let mut page = first;
            while page < last {
                if self.space.translate(page).is_none() {
                    self.resolve(page, super::Access::Read, frames)
                        .map_err(|_| ExecError::OutOfMemory)?;
                }
                page += PAGE_SIZE;
            }
            let offset = segment.file_offset as usize;
            let bytes = &image[offset..offset + segment.file_size as usize];
            self.space
                .write_user(segment.data_vaddr, bytes, true)
                .map_err(|_| ExecError::Copy)?;
        }

        let stack_top = page_down(A::USER_END - PAGE_SIZE);
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
        // The arguments must leave the stack room within its limit (Linux: a quarter of it).
        let used = stack_top - page_down(stack.base);
        if used > self.stack_limit {
            return Err(ExecError::Stack(StackError::TooBig));
        }
        // Like Linux, the initial stack area reaches 128 KiB below the arguments (within the
        // limit); it grows from there on faults.
        let room = (used + STACK_EXPAND)
            .min(page_down(self.stack_limit))
            .max(used);
        let stack_prot = Prot {
            read: true,
            write: true,
            execute: plan.stack_executable,
        };
        self.insert_stack(stack_top - room, stack_top, stack_prot)
            .map_err(|_| ExecError::OutOfMemory)?;
        self.populate(stack.base, stack.bytes.len() as u64, true, frames)
            .map_err(|_| ExecError::OutOfMemory)?;
        self.space
            .write_user(stack.base, &stack.bytes, false)
            .map_err(|_| ExecError::Copy)?;

        self.map_trampoline(frames)?;
        self.brk_start = plan.image_end;
        self.brk = plan.image_end;
        Ok(ExecImage {
            entry: plan.entry,
            stack_pointer: stack.stack_pointer,
        })
    }

    /// Maps the arch's signal-return code read+execute on a page of its own, placed like any
    /// kernel-chosen mapping (as Linux places the vDSO).
    fn map_trampoline(&mut self, frames: &mut dyn Frames) -> Result<(), ExecError> {
        let code = A::SIGRETURN_TRAMPOLINE;
        if code.is_empty() || code.len() as u64 > PAGE_SIZE {
            return Ok(());
        }
        let at = self.find_free(0, PAGE_SIZE).ok_or(ExecError::OutOfMemory)?;
        let area = Area::anonymous(at, at + PAGE_SIZE, Prot::READ_EXECUTE, AreaKind::Trampoline);
        self.insert_area(area).map_err(|_| ExecError::OutOfMemory)?;
        self.resolve(at, super::Access::Execute, frames)
            .map_err(|_| ExecError::OutOfMemory)?;
        self.space
            .write_user(at, code, true)
            .map_err(|_| ExecError::Copy)?;
        self.trampoline = at;
        Ok(())
    }
}
