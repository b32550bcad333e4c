//! Console lines: formatted into a buffer on the stack and written with one `write`, so that a
//! line is never split by another process's output and a line costs one system call (under
//! TCG a system call is tens of microseconds; `print!` writes every formatting piece separately).

use core::fmt;

pub const PREFIX: &str = "cyphera-fuzz: ";

pub struct Line {
    buf: [u8; 600],
    len: usize,
}

impl Line {
    pub fn new() -> Line {
        let mut l = Line {
            buf: [0; 600],
            len: 0,
        };
        let _ = fmt::Write::write_str(&mut l, PREFIX);
        l
    }

    /// Writes the line (with its newline) to `fd`; the raw result of `write`.
    pub fn emit(&mut self, fd: i32) -> isize {
        if self.len == self.buf.len() {
            self.buf[self.len - 1] = b'\n';
        } else {
            self.buf[self.len] = b'\n';
            self.len += 1;
        }
        rt::io::write(fd, &self.buf[..self.len])
    }
}

impl fmt::Write for Line {
    /// Appends what fits; a line too long for the buffer is cut rather than lost.
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// `say!(fd, "...", args)`: one `cyphera-fuzz: ...` line on `fd`.
#[macro_export]
macro_rules! say {
    ($fd:expr, $($arg:tt)*) => {{
        let mut line = $crate::out::Line::new();
        let _ = core::fmt::Write::write_fmt(&mut line, format_args!($($arg)*));
        line.emit($fd)
    }};
}
