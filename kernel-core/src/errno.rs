//! Linux error numbers (asm-generic/errno-base.h and errno.h; identical on x86_64 and AArch64).
//! A syscall returns `-errno` in the result register.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Errno {
    EPERM = 1,
    ENOENT = 2,
    ESRCH = 3,
    EINTR = 4,
    EIO = 5,
    ENXIO = 6,
    E2BIG = 7,
    ENOEXEC = 8,
    EBADF = 9,
    ECHILD = 10,
    EAGAIN = 11,
    ENOMEM = 12,
    EACCES = 13,
    EFAULT = 14,
    ENOTBLK = 15,
    EBUSY = 16,
    EEXIST = 17,
    EXDEV = 18,
    ENODEV = 19,
    ENOTDIR = 20,
    EISDIR = 21,
    EINVAL = 22,
    ENFILE = 23,
    EMFILE = 24,
    ENOTTY = 25,
    ETXTBSY = 26,
    EFBIG = 27,
    ENOSPC = 28,
    ESPIPE = 29,
    EROFS = 30,
    EMLINK = 31,
    EPIPE = 32,
    ERANGE = 34,
    ENAMETOOLONG = 36,
    ENOSYS = 38,
    ENOTEMPTY = 39,
    ELOOP = 40,
    ENODATA = 61,
    EOVERFLOW = 75,
    EOPNOTSUPP = 95,
    ETIMEDOUT = 110,
}

impl Errno {
    /// The value the syscall register receives: `-errno` as two's complement.
    pub const fn as_return(self) -> u64 {
        (-(self as i64)) as u64
    }
}

/// What a syscall handler produces: a non-negative value or an error.
pub type SysResult = Result<u64, Errno>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_return_encoding() {
        assert_eq!(Errno::EFAULT.as_return() as i64, -14);
        assert_eq!(Errno::ENOSYS.as_return() as i64, -38);
        assert_eq!(Errno::ETIMEDOUT.as_return() as i64, -110);
        assert_eq!(Errno::EFAULT.as_return(), 0xffff_ffff_ffff_fff2);
    }
}
