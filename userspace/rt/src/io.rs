//! Output: `write(2)` on a slice, and `print!`/`println!`/`eprintln!` that format straight into
//! write calls (no buffering, so output that precedes a deliberate crash is never lost).

use core::fmt;

use crate::syscall::{nr, syscall3};

/// `write(fd, buf)`: the number of bytes written, or -errno.
pub fn write(fd: i32, buf: &[u8]) -> isize {
    // SAFETY: write(2) only reads `buf.len()` bytes from `buf`, a live slice.
    unsafe { syscall3(nr::WRITE, fd as usize, buf.as_ptr() as usize, buf.len()) }
}

/// Writes all of `buf` to `fd`, retrying short writes; stops at the first error.
pub fn write_all(fd: i32, mut buf: &[u8]) -> Result<(), isize> {
    while !buf.is_empty() {
        let n = write(fd, buf);
        if n <= 0 {
            return Err(n);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// A `fmt::Write` sink for a file descriptor.
pub struct Fd(pub i32);

impl fmt::Write for Fd {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_all(self.0, s.as_bytes()).map_err(|_| fmt::Error)
    }
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {{
        let _ = core::fmt::Write::write_fmt(&mut $crate::io::Fd(1), format_args!($($arg)*));
    }};
}

#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {{
        $crate::print!("{}\n", format_args!($($arg)*));
    }};
}

#[macro_export]
macro_rules! eprintln {
    ($($arg:tt)*) => {{
        let _ = core::fmt::Write::write_fmt(
            &mut $crate::io::Fd(2),
            format_args!("{}\n", format_args!($($arg)*)),
        );
    }};
}
