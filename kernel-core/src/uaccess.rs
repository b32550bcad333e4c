//! Checked access to user memory. Every syscall that takes a user pointer goes through the [`Vm`]
//! methods here: they resolve pages that are not populated yet (or are copy-on-write, for a
//! write) exactly as a fault from user mode would, then copy through the arch's software page
//! walk. A bad pointer, a forbidden access (writing a read-only mapping, touching `PROT_NONE`) or
//! a failed page allocation is `-EFAULT`, never a kernel fault.

use crate::errno::Errno;
use crate::memory::Frames;
use crate::vm::Vm;
use alloc::vec::Vec;
use hal::arch::Arch;
use hal::mmu::{AddressSpace, PAGE_SIZE};

/// Bytes copied per step when streaming user memory through a kernel buffer.
pub const CHUNK: usize = 4096;

/// Checks that `[address, address + len)` lies inside the user range without wrapping.
pub fn check_range(address: u64, len: u64, user_end: u64) -> Result<(), Errno> {
    match address.checked_add(len) {
        Some(end) if end <= user_end => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

impl<A: Arch> Vm<A> {
    /// Copies user memory at `address` into `dst`, populating pages as needed.
    pub fn read_user(
        &mut self,
        address: u64,
        dst: &mut [u8],
        frames: &mut dyn Frames,
    ) -> Result<(), Errno> {
        check_range(address, dst.len() as u64, A::USER_END)?;
        if self.space().read_user(address, dst).is_ok() {
            return Ok(());
        }
        self.populate(address, dst.len() as u64, false, frames)?;
        self.space()
            .read_user(address, dst)
            .map_err(|_| Errno::EFAULT)
    }

    /// Copies `src` to user memory at `address`, populating pages and breaking copy-on-write as
    /// needed. A read-only destination is `-EFAULT`.
    pub fn write_user(
        &mut self,
        address: u64,
        src: &[u8],
        frames: &mut dyn Frames,
    ) -> Result<(), Errno> {
        check_range(address, src.len() as u64, A::USER_END)?;
        if self.space().write_user(address, src, false).is_ok() {
            return Ok(());
        }
        self.populate(address, src.len() as u64, true, frames)?;
        self.space()
            .write_user(address, src, false)
            .map_err(|_| Errno::EFAULT)
    }

    pub fn read_u32(&mut self, address: u64, frames: &mut dyn Frames) -> Result<u32, Errno> {
        let mut raw = [0u8; 4];
        self.read_user(address, &mut raw, frames)?;
        Ok(u32::from_le_bytes(raw))
    }

    pub fn read_u64(&mut self, address: u64, frames: &mut dyn Frames) -> Result<u64, Errno> {
        let mut raw = [0u8; 8];
        self.read_user(address, &mut raw, frames)?;
        Ok(u64::from_le_bytes(raw))
    }

    pub fn write_u32(
        &mut self,
        address: u64,
        value: u32,
        frames: &mut dyn Frames,
    ) -> Result<(), Errno> {
        self.write_user(address, &value.to_le_bytes(), frames)
    }

    pub fn write_u64(
        &mut self,
        address: u64,
        value: u64,
        frames: &mut dyn Frames,
    ) -> Result<(), Errno> {
        self.write_user(address, &value.to_le_bytes(), frames)
    }

    /// The NUL-terminated string at `address`, without its NUL. `max` counts the NUL, like
    /// `PATH_MAX`: a string of `max` bytes or more is `-ENAMETOOLONG`. Reads page by page, so a
    /// string ending just before an unmapped page is fine; a fault before the NUL is `-EFAULT`.
    pub fn read_c_string(
        &mut self,
        address: u64,
        max: usize,
        frames: &mut dyn Frames,
    ) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        let mut at = address;
        let mut chunk = [0u8; PAGE_SIZE as usize];
        loop {
            let room = max.saturating_sub(out.len());
            if room == 0 {
                return Err(Errno::ENAMETOOLONG);
            }
            let n = ((PAGE_SIZE - at % PAGE_SIZE) as usize).min(room);
            self.read_user(at, &mut chunk[..n], frames)?;
            if let Some(nul) = chunk[..n].iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..nul]);
                return Ok(out);
            }
            out.extend_from_slice(&chunk[..n]);
            at = at.checked_add(n as u64).ok_or(Errno::EFAULT)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::BitmapFrameAllocator;
    use crate::testing::MockArch;
    use crate::vm::map::{MAP_ANONYMOUS, MAP_PRIVATE, PROT_NONE, PROT_READ, PROT_WRITE};
    use hal::boot::PhysRange;

    #[test]
    fn ranges_that_wrap_or_leave_user_space_fault() {
        let end = 0x7fff_ffff_f000;
        assert_eq!(check_range(0x1000, 0x1000, end), Ok(()));
        assert_eq!(check_range(end - 8, 8, end), Ok(()));
        assert_eq!(check_range(end - 8, 9, end), Err(Errno::EFAULT));
        assert_eq!(check_range(u64::MAX - 4, 8, end), Err(Errno::EFAULT));
        assert_eq!(
            check_range(0xffff_8000_0000_0000, 1, end),
            Err(Errno::EFAULT)
        );
    }

    fn setup() -> (BitmapFrameAllocator, Vm<MockArch>, u64) {
        let mut frames = BitmapFrameAllocator::new(&[PhysRange::new(0x100_0000, 256 * PAGE_SIZE)]);
        let mut vm = Vm::<MockArch>::new(&mut frames).unwrap();
        let at = vm
            .mmap(
                0,
                4 * PAGE_SIZE,
                PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS,
                u64::MAX,
                0,
                &mut frames,
            )
            .unwrap();
        (frames, vm, at)
    }

    #[test]
    fn copies_populate_untouched_pages() {
        let (mut frames, mut vm, at) = setup();
        assert_eq!(vm.space().mapped_pages(), 0);
        // Spans a page boundary: both pages get populated.
        vm.write_user(at + PAGE_SIZE - 3, b"hello", &mut frames)
            .unwrap();
        assert_eq!(vm.space().mapped_pages(), 2);
        let mut back = [0u8; 5];
        vm.read_user(at + PAGE_SIZE - 3, &mut back, &mut frames)
            .unwrap();
        assert_eq!(&back, b"hello");
        // Reading an untouched page populates it with zeros.
        assert_eq!(vm.read_u64(at + 3 * PAGE_SIZE, &mut frames), Ok(0));
        vm.write_u32(at + 8, 0xdead_beef, &mut frames).unwrap();
        vm.write_u64(at + 16, u64::MAX - 1, &mut frames).unwrap();
        assert_eq!(vm.read_u32(at + 8, &mut frames), Ok(0xdead_beef));
        assert_eq!(vm.read_u64(at + 16, &mut frames), Ok(u64::MAX - 1));
        vm.destroy(&mut frames);
    }

    #[test]
    fn copies_honour_the_rights_of_the_area() {
        let (mut frames, mut vm, at) = setup();
        vm.mprotect(at, PAGE_SIZE, PROT_READ, &mut frames).unwrap();
        vm.mprotect(at + PAGE_SIZE, PAGE_SIZE, PROT_NONE, &mut frames)
            .unwrap();
        assert_eq!(vm.write_user(at, b"x", &mut frames), Err(Errno::EFAULT));
        assert_eq!(vm.read_u32(at, &mut frames), Ok(0));
        assert_eq!(vm.read_u32(at + PAGE_SIZE, &mut frames), Err(Errno::EFAULT));
        // Unmapped memory, kernel addresses, wrapping ranges.
        for bad in [0, at + 4 * PAGE_SIZE, MockArch::USER_END, u64::MAX - 2] {
            assert_eq!(
                vm.read_u64(bad, &mut frames),
                Err(Errno::EFAULT),
                "{bad:#x}"
            );
            assert_eq!(vm.write_u64(bad, 1, &mut frames), Err(Errno::EFAULT));
        }
        vm.destroy(&mut frames);
    }

    #[test]
    fn c_strings_stop_at_nul_length_limit_or_fault() {
        let (mut frames, mut vm, at) = setup();
        // A string ending exactly at the end of the mapping's last page.
        let end = at + 4 * PAGE_SIZE;
        vm.write_user(end - 6, b"/init\0", &mut frames).unwrap();
        assert_eq!(
            vm.read_c_string(end - 6, 4096, &mut frames),
            Ok(b"/init".to_vec())
        );
        // No NUL before the end of the mapping: the next page faults.
        vm.write_user(end - 3, b"abc", &mut frames).unwrap();
        assert_eq!(
            vm.read_c_string(end - 3, 4096, &mut frames),
            Err(Errno::EFAULT)
        );
        // `max` counts the NUL.
        vm.write_user(at, b"12345\0", &mut frames).unwrap();
        assert_eq!(vm.read_c_string(at, 6, &mut frames), Ok(b"12345".to_vec()));
        assert_eq!(
            vm.read_c_string(at, 5, &mut frames),
            Err(Errno::ENAMETOOLONG)
        );
        // A long string across pages.
        let long = alloc::vec![b'x'; 5000];
        vm.write_user(at + 100, &long, &mut frames).unwrap();
        vm.write_user(at + 5100, b"\0", &mut frames).unwrap();
        assert_eq!(
            vm.read_c_string(at + 100, 8192, &mut frames)
                .map(|s| s.len()),
            Ok(5000)
        );
        assert_eq!(
            vm.read_c_string(at + 100, 4096, &mut frames),
            Err(Errno::ENAMETOOLONG)
        );
        assert_eq!(
            vm.read_c_string(u64::MAX - 1, 4096, &mut frames),
            Err(Errno::EFAULT)
        );
        vm.destroy(&mut frames);
    }
}
