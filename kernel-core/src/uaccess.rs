//! Checked access to user memory. Every syscall that takes a user pointer goes through these
//! helpers (backed by the arch's page-table walk), so a bad pointer becomes `-EFAULT`, never a
//! kernel fault.

use crate::errno::Errno;
use hal::mmu::AddressSpace;

/// Bytes copied per step when streaming user memory through a kernel buffer.
pub const CHUNK: usize = 4096;

/// Checks that `[address, address + len)` lies inside the user range without wrapping.
pub fn check_range(address: u64, len: u64, user_end: u64) -> Result<(), Errno> {
    match address.checked_add(len) {
        Some(end) if end <= user_end => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

pub fn read_bytes<S: AddressSpace>(
    space: &S,
    user_end: u64,
    address: u64,
    dst: &mut [u8],
) -> Result<(), Errno> {
    check_range(address, dst.len() as u64, user_end)?;
    space.read_user(address, dst).map_err(|_| Errno::EFAULT)
}

pub fn write_bytes<S: AddressSpace>(
    space: &S,
    user_end: u64,
    address: u64,
    src: &[u8],
) -> Result<(), Errno> {
    check_range(address, src.len() as u64, user_end)?;
    space
        .write_user(address, src, false)
        .map_err(|_| Errno::EFAULT)
}

pub fn read_u64<S: AddressSpace>(space: &S, user_end: u64, address: u64) -> Result<u64, Errno> {
    let mut raw = [0u8; 8];
    read_bytes(space, user_end, address, &mut raw)?;
    Ok(u64::from_le_bytes(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
