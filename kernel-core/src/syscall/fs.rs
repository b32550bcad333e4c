//! File-descriptor system calls. Until the VFS exists, descriptors 0, 1 and 2 are the console
//! (as the kernel opens /dev/console for init) and every other descriptor is closed.

use super::Kernel;
use crate::errno::{Errno, SysResult};
use crate::process::Process;
use crate::uaccess;
use alloc::vec::Vec;
use hal::arch::Arch;
use hal::mmu::PAGE_SIZE;

/// Linux caps one read/write at MAX_RW_COUNT (INT_MAX rounded down to a page).
const MAX_RW_COUNT: u64 = 0x7fff_f000;
/// Linux's UIO_MAXIOV.
const IOV_MAX: u64 = 1024;

fn console_fd(fd: u64) -> Result<(), Errno> {
    if fd <= 2 { Ok(()) } else { Err(Errno::EBADF) }
}

/// Streams `len` user bytes at `address` to the console. Returns how many were written; a bad
/// address after some bytes went out is a short write, before any is `-EFAULT` (as Linux does).
fn write_user_to_console<A: Arch>(
    k: &mut Kernel,
    p: &Process<A>,
    address: u64,
    len: u64,
) -> SysResult {
    let mut buffer = [0u8; uaccess::CHUNK];
    let mut done = 0u64;
    while done < len {
        let at = address.checked_add(done).ok_or(Errno::EFAULT)?;
        // Stop each chunk at a page boundary so that a fault on a later page still lets the bytes
        // before it through (a short write), as Linux's page-wise copy does.
        let to_page_end = PAGE_SIZE - at % PAGE_SIZE;
        let n = (len - done).min(to_page_end).min(buffer.len() as u64) as usize;
        if let Err(e) = uaccess::read_bytes(&p.space, A::USER_END, at, &mut buffer[..n]) {
            return if done > 0 { Ok(done) } else { Err(e) };
        }
        k.console.write_bytes(&buffer[..n]);
        done += n as u64;
    }
    Ok(done)
}

pub fn write<A: Arch>(
    k: &mut Kernel,
    p: &mut Process<A>,
    fd: u64,
    buf: u64,
    count: u64,
) -> SysResult {
    console_fd(fd)?;
    write_user_to_console(k, p, buf, count.min(MAX_RW_COUNT))
}

pub fn writev<A: Arch>(
    k: &mut Kernel,
    p: &mut Process<A>,
    fd: u64,
    iov: u64,
    iovcnt: u64,
) -> SysResult {
    console_fd(fd)?;
    if iovcnt > IOV_MAX {
        return Err(Errno::EINVAL);
    }
    // Read the whole vector first: a bad iovec array fails before anything is written.
    let mut vectors = Vec::with_capacity(iovcnt as usize);
    let mut total = 0u64;
    for i in 0..iovcnt {
        let entry = iov.checked_add(i * 16).ok_or(Errno::EFAULT)?;
        let base = uaccess::read_u64(&p.space, A::USER_END, entry)?;
        let len = uaccess::read_u64(&p.space, A::USER_END, entry + 8)?;
        // Linux refuses a total that does not fit ssize_t.
        total = total
            .checked_add(len)
            .filter(|&t| t <= i64::MAX as u64)
            .ok_or(Errno::EINVAL)?;
        vectors.push((base, len));
    }
    let mut budget = MAX_RW_COUNT;
    let mut written = 0u64;
    for (base, len) in vectors {
        let len = len.min(budget);
        match write_user_to_console(k, p, base, len) {
            Ok(n) => {
                written += n;
                budget -= n;
                if n < len || budget == 0 {
                    break;
                }
            }
            Err(e) if written == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(written)
}
