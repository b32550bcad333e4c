//! The syscall layer's view of a thread's user memory: every read and write of user memory made
//! on a thread's behalf goes through [`UserMem`], which borrows the thread's address space and the
//! frame allocator (pages are populated on demand, copy-on-write is broken before a write). A bad
//! pointer is `-EFAULT`, never a kernel fault.

use crate::errno::Errno;
use crate::memory::BitmapFrameAllocator;
use crate::task::{Kernel, Tid};
use crate::vm::Vm;
use alloc::vec::Vec;
use hal::arch::Arch;

pub struct UserMem<'a, A: Arch> {
    pub vm: &'a mut Vm<A>,
    pub frames: &'a mut BitmapFrameAllocator,
}

impl<A: Arch> Kernel<A> {
    /// The user memory of `tid`'s process.
    pub fn user(&mut self, tid: Tid) -> UserMem<'_, A> {
        let pid = self.threads[&tid].pid;
        let vm = self.processes[&pid].vm;
        UserMem {
            vm: &mut self.vms.get_mut(&vm).expect("vm").vm,
            frames: &mut self.frames,
        }
    }
}

/// Longest path accepted (Linux's PATH_MAX, including the NUL).
pub const PATH_MAX: usize = 4096;
/// Linux's MAX_ARG_STRLEN and a bound on argv/envp entries (MAX_ARG_STRINGS is 0x7fffffff, but
/// the total is bounded by the stack limit; this keeps a hostile array from exhausting the heap).
pub const MAX_ARG_STRLEN: usize = 32 * 4096;
pub const MAX_ARG_COUNT: usize = 65536;

impl<A: Arch> UserMem<'_, A> {
    pub fn read(&mut self, address: u64, out: &mut [u8]) -> Result<(), Errno> {
        self.vm.read_user(address, out, self.frames)
    }

    pub fn write(&mut self, address: u64, bytes: &[u8]) -> Result<(), Errno> {
        self.vm.write_user(address, bytes, self.frames)
    }

    pub fn read_u32(&mut self, address: u64) -> Result<u32, Errno> {
        let mut raw = [0u8; 4];
        self.read(address, &mut raw)?;
        Ok(u32::from_le_bytes(raw))
    }

    pub fn read_u64(&mut self, address: u64) -> Result<u64, Errno> {
        let mut raw = [0u8; 8];
        self.read(address, &mut raw)?;
        Ok(u64::from_le_bytes(raw))
    }

    pub fn write_u32(&mut self, address: u64, value: u32) -> Result<(), Errno> {
        self.write(address, &value.to_le_bytes())
    }

    pub fn write_u64(&mut self, address: u64, value: u64) -> Result<(), Errno> {
        self.write(address, &value.to_le_bytes())
    }

    pub fn read_array<const N: usize>(&mut self, address: u64) -> Result<[u8; N], Errno> {
        let mut raw = [0u8; N];
        self.read(address, &mut raw)?;
        Ok(raw)
    }

    /// A NUL-terminated string of at most `max` bytes (without the NUL); ENAMETOOLONG beyond.
    pub fn read_c_string(&mut self, address: u64, max: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        let mut at = address;
        // Most strings (paths, names) are short: reading a small piece at a time, on the stack,
        // costs far less than copying and zeroing the rest of the page, which was most of a
        // path call's time.
        let mut buf = [0u8; 128];
        loop {
            // Never past the end of the page, so a string ending just before an unmapped page
            // works.
            let chunk = ((4096 - (at % 4096)) as usize).min(buf.len());
            let piece = &mut buf[..chunk];
            self.read(at, piece)?;
            if let Some(end) = piece.iter().position(|&b| b == 0) {
                out.extend_from_slice(&piece[..end]);
                return if out.len() >= max {
                    Err(Errno::ENAMETOOLONG)
                } else {
                    Ok(out)
                };
            }
            out.extend_from_slice(piece);
            if out.len() >= max {
                return Err(Errno::ENAMETOOLONG);
            }
            at = at.checked_add(chunk as u64).ok_or(Errno::EFAULT)?;
        }
    }

    /// A NULL-terminated array of string pointers (execve's argv/envp). A NULL array is empty.
    pub fn read_string_array(&mut self, address: u64) -> Result<Vec<Vec<u8>>, Errno> {
        let mut out = Vec::new();
        if address == 0 {
            return Ok(out);
        }
        loop {
            let slot = address
                .checked_add(out.len() as u64 * 8)
                .ok_or(Errno::EFAULT)?;
            let ptr = self.read_u64(slot)?;
            if ptr == 0 {
                return Ok(out);
            }
            if out.len() >= MAX_ARG_COUNT {
                return Err(Errno::E2BIG);
            }
            out.push(self.read_c_string(ptr, MAX_ARG_STRLEN).map_err(|e| {
                if e == Errno::ENAMETOOLONG {
                    Errno::E2BIG
                } else {
                    e
                }
            })?);
        }
    }
}
