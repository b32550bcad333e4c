//! Linux error numbers (include/uapi/asm-generic/errno-base.h and errno.h; x86_64 and AArch64
//! share them) and a printable form of raw syscall results, so that test output reads
//! `-EINVAL` rather than `-22` and can be compared line by line with Linux.

use core::fmt;

pub const EPERM: isize = 1;
pub const ENOENT: isize = 2;
pub const ESRCH: isize = 3;
pub const EINTR: isize = 4;
pub const EIO: isize = 5;
pub const E2BIG: isize = 7;
pub const ENOEXEC: isize = 8;
pub const EBADF: isize = 9;
pub const ECHILD: isize = 10;
pub const EAGAIN: isize = 11;
pub const ENOMEM: isize = 12;
pub const EACCES: isize = 13;
pub const EFAULT: isize = 14;
pub const EBUSY: isize = 16;
pub const EEXIST: isize = 17;
pub const ENOTDIR: isize = 20;
pub const EISDIR: isize = 21;
pub const EINVAL: isize = 22;
pub const EMFILE: isize = 24;
pub const ENOSPC: isize = 28;
pub const EPIPE: isize = 32;
pub const ERANGE: isize = 34;
pub const ENAMETOOLONG: isize = 36;
pub const ENOSYS: isize = 38;
pub const EOPNOTSUPP: isize = 95;
pub const ETIMEDOUT: isize = 110;

/// The symbolic name of error number `e` (positive), if it is one the tests meet.
pub fn name(e: isize) -> Option<&'static str> {
    Some(match e {
        EPERM => "EPERM",
        ENOENT => "ENOENT",
        ESRCH => "ESRCH",
        EINTR => "EINTR",
        EIO => "EIO",
        E2BIG => "E2BIG",
        ENOEXEC => "ENOEXEC",
        EBADF => "EBADF",
        ECHILD => "ECHILD",
        EAGAIN => "EAGAIN",
        ENOMEM => "ENOMEM",
        EACCES => "EACCES",
        EFAULT => "EFAULT",
        EBUSY => "EBUSY",
        EEXIST => "EEXIST",
        ENOTDIR => "ENOTDIR",
        EISDIR => "EISDIR",
        EINVAL => "EINVAL",
        EMFILE => "EMFILE",
        ENOSPC => "ENOSPC",
        EPIPE => "EPIPE",
        ERANGE => "ERANGE",
        ENAMETOOLONG => "ENAMETOOLONG",
        ENOSYS => "ENOSYS",
        EOPNOTSUPP => "EOPNOTSUPP",
        ETIMEDOUT => "ETIMEDOUT",
        _ => return None,
    })
}

/// A raw syscall result for printing: `-ENAME` for errors (`-N` for unnamed ones), the number
/// itself otherwise.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Ret(pub isize);

impl fmt::Display for Ret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        if (-4095..0).contains(&r) {
            match name(-r) {
                Some(n) => write!(f, "-{n}"),
                None => write!(f, "-{}", -r),
            }
        } else {
            write!(f, "{r}")
        }
    }
}

impl fmt::Debug for Ret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
