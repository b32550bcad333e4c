//! A mock architecture for host tests: an address space made of boxed pages, a register file with
//! the syscall convention in plain fields, and a tiny syscall table. It obeys the same contracts
//! as the real arch crates (W^X, user range, protection checks in the copy helpers).

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cell::RefCell;
use hal::arch::Arch;
use hal::console::Console;
use hal::mmu::{AddressSpace, BadUserAddress, FrameAllocator, MapError, PAGE_SIZE, PageFlags};
use hal::syscall::Sysno;
use hal::user::{ReturnReason, UserContext};

pub struct MockArch;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MockContext {
    pub pc: u64,
    pub sp: u64,
    pub number: u64,
    pub args: [u64; 6],
    pub ret: u64,
    pub tp: u64,
}

impl UserContext for MockContext {
    fn new(entry: u64, stack_pointer: u64) -> Self {
        Self {
            pc: entry,
            sp: stack_pointer,
            ..Default::default()
        }
    }
    fn pc(&self) -> u64 {
        self.pc
    }
    fn set_pc(&mut self, pc: u64) {
        self.pc = pc;
    }
    fn stack_pointer(&self) -> u64 {
        self.sp
    }
    fn set_stack_pointer(&mut self, sp: u64) {
        self.sp = sp;
    }
    fn syscall_number(&self) -> u64 {
        self.number
    }
    fn syscall_args(&self) -> [u64; 6] {
        self.args
    }
    fn set_syscall_return(&mut self, value: u64) {
        self.ret = value;
    }
    fn thread_pointer(&self) -> u64 {
        self.tp
    }
    fn set_thread_pointer(&mut self, tp: u64) {
        self.tp = tp;
    }
}

/// Page-granular fake memory; each page remembers the frame it was given so that tests can check
/// that every frame comes back. Interior mutability mirrors hardware: `write_user(&self)` writes
/// through a shared page table.
pub struct MockSpace {
    pub pages: RefCell<BTreeMap<u64, MockPage>>,
}

/// A page's bytes, rights and the frame it was charged to.
pub type MockPage = (Box<[u8; 4096]>, PageFlags, u64);

type Piece = (u64, usize, usize);

impl MockSpace {
    /// Splits `[va, va + len)` into (page, offset, length) pieces after checking every byte.
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
        let pages = self.pages.borrow();
        let mut pieces = Vec::new();
        let mut at = va;
        while at < end {
            let page = at & !(PAGE_SIZE - 1);
            let (_, flags, _) = pages.get(&page).ok_or(BadUserAddress { address: at })?;
            if write && !flags.write && !force {
                return Err(BadUserAddress { address: at });
            }
            let n = (PAGE_SIZE - (at - page)).min(end - at) as usize;
            pieces.push((page, (at - page) as usize, n));
            at += n as u64;
        }
        Ok(pieces)
    }

    /// Reads user memory ignoring nothing: a test convenience.
    pub fn peek(&self, va: u64, len: usize) -> Vec<u8> {
        let mut out = alloc::vec![0; len];
        self.read_user(va, &mut out)
            .expect("peek at unmapped memory");
        out
    }
}

impl AddressSpace for MockSpace {
    fn new(_frames: &mut dyn FrameAllocator) -> Result<Self, MapError> {
        Ok(Self {
            pages: RefCell::new(BTreeMap::new()),
        })
    }
    fn map_zeroed(
        &mut self,
        va: u64,
        flags: PageFlags,
        frames: &mut dyn FrameAllocator,
    ) -> Result<(), MapError> {
        if !va.is_multiple_of(PAGE_SIZE) || va >= MockArch::USER_END {
            return Err(MapError::BadAddress);
        }
        if flags.write && flags.execute {
            return Err(MapError::WriteExecute);
        }
        let pages = self.pages.get_mut();
        if pages.contains_key(&va) {
            return Err(MapError::AlreadyMapped);
        }
        let frame = frames.allocate_frame().ok_or(MapError::OutOfMemory)?;
        pages.insert(va, (Box::new([0; 4096]), flags, frame));
        Ok(())
    }
    fn protect(&mut self, va: u64, flags: PageFlags) -> Result<(), MapError> {
        if flags.write && flags.execute {
            return Err(MapError::WriteExecute);
        }
        self.pages
            .get_mut()
            .get_mut(&va)
            .map(|p| p.1 = flags)
            .ok_or(MapError::NotMapped)
    }
    fn unmap(&mut self, va: u64, frames: &mut dyn FrameAllocator) -> Result<(), MapError> {
        let (_, _, frame) = self
            .pages
            .get_mut()
            .remove(&va)
            .ok_or(MapError::NotMapped)?;
        frames.free_frame(frame);
        Ok(())
    }
    fn query(&self, va: u64) -> Option<PageFlags> {
        self.pages
            .borrow()
            .get(&(va & !(PAGE_SIZE - 1)))
            .map(|p| p.1)
    }
    fn write_user(
        &self,
        va: u64,
        src: &[u8],
        ignore_protection: bool,
    ) -> Result<(), BadUserAddress> {
        let pieces = self.walk(va, src.len(), true, ignore_protection)?;
        let mut pages = self.pages.borrow_mut();
        let mut copied = 0;
        for (page, offset, n) in pieces {
            pages.get_mut(&page).unwrap().0[offset..offset + n]
                .copy_from_slice(&src[copied..copied + n]);
            copied += n;
        }
        Ok(())
    }
    fn read_user(&self, va: u64, dst: &mut [u8]) -> Result<(), BadUserAddress> {
        let pieces = self.walk(va, dst.len(), false, false)?;
        let pages = self.pages.borrow();
        let mut copied = 0;
        for (page, offset, n) in pieces {
            dst[copied..copied + n].copy_from_slice(&pages[&page].0[offset..offset + n]);
            copied += n;
        }
        Ok(())
    }
    fn destroy(self, frames: &mut dyn FrameAllocator) {
        for (_, (_, _, frame)) in self.pages.into_inner() {
            frames.free_frame(frame);
        }
    }
}

impl Arch for MockArch {
    const MACHINE: &'static str = "mock64";
    const ELF_MACHINE: u16 = crate::elf::EM_X86_64;
    const USER_END: u64 = 0x0000_7fff_ffff_f000;
    type Context = MockContext;
    type AddressSpace = MockSpace;

    fn sysno(number: u64) -> Option<Sysno> {
        // A few x86_64 numbers: enough to exercise the dispatcher.
        Some(match number {
            1 => Sysno::Write,
            20 => Sysno::Writev,
            12 => Sysno::Brk,
            39 => Sysno::Getpid,
            60 => Sysno::Exit,
            63 => Sysno::Uname,
            231 => Sysno::ExitGroup,
            0 => Sysno::Read,
            _ => return None,
        })
    }
    fn run_user(_context: &mut MockContext, _space: &MockSpace) -> ReturnReason {
        ReturnReason::Syscall
    }
    fn hwcap() -> u64 {
        0x1234
    }
    fn random_bytes() -> [u8; 16] {
        [7; 16]
    }
}

/// A console that records what was written.
#[derive(Default)]
pub struct RecordingConsole {
    pub output: spin::Mutex<Vec<u8>>,
}

impl Console for RecordingConsole {
    fn write_bytes(&self, bytes: &[u8]) {
        self.output.lock().extend_from_slice(bytes);
    }
    fn read_byte(&self) -> Option<u8> {
        None
    }
}

/// Builds a minimal static x86_64 ELF executable: one RX segment at `0x40_0000` holding `code`
/// plus a RW segment of `bss` zero bytes at `0x60_0000`.
pub fn tiny_elf(code: &[u8], bss: u64) -> Vec<u8> {
    let mut elf = alloc::vec![0u8; 0x1000];
    elf[..4].copy_from_slice(b"\x7fELF");
    elf[4] = 2; // ELFCLASS64
    elf[5] = 1; // little-endian
    elf[6] = 1; // EV_CURRENT
    elf[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf[18..20].copy_from_slice(&crate::elf::EM_X86_64.to_le_bytes());
    elf[20..24].copy_from_slice(&1u32.to_le_bytes());
    elf[24..32].copy_from_slice(&0x40_1000u64.to_le_bytes()); // entry
    elf[32..40].copy_from_slice(&64u64.to_le_bytes()); // phoff
    elf[52..54].copy_from_slice(&64u16.to_le_bytes()); // ehsize
    elf[54..56].copy_from_slice(&56u16.to_le_bytes()); // phentsize
    elf[56..58].copy_from_slice(&2u16.to_le_bytes()); // phnum
    let phdr = |elf: &mut Vec<u8>,
                at: usize,
                flags: u32,
                offset: u64,
                vaddr: u64,
                filesz: u64,
                memsz: u64| {
        elf[at..at + 4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        elf[at + 4..at + 8].copy_from_slice(&flags.to_le_bytes());
        elf[at + 8..at + 16].copy_from_slice(&offset.to_le_bytes());
        elf[at + 16..at + 24].copy_from_slice(&vaddr.to_le_bytes());
        elf[at + 24..at + 32].copy_from_slice(&vaddr.to_le_bytes());
        elf[at + 32..at + 40].copy_from_slice(&filesz.to_le_bytes());
        elf[at + 40..at + 48].copy_from_slice(&memsz.to_le_bytes());
        elf[at + 48..at + 56].copy_from_slice(&0x1000u64.to_le_bytes());
    };
    // Text: the headers page plus the code page (PF_R | PF_X).
    phdr(
        &mut elf,
        64,
        5,
        0,
        0x40_0000,
        0x1000 + code.len() as u64,
        0x1000 + code.len() as u64,
    );
    // Data: bss only (PF_R | PF_W).
    phdr(&mut elf, 120, 6, 0x1000, 0x60_0000, 0, bss.max(1));
    elf.extend_from_slice(code);
    elf
}
