//! A fixed-capacity string for formatting without an allocator: lets the checks compare what a
//! value prints as (`exited 3`, `-EINVAL`) with the expected text.

use core::fmt;

pub struct Text {
    buf: [u8; 128],
    len: usize,
}

impl Text {
    pub const fn new() -> Text {
        Text {
            buf: [0; 128],
            len: 0,
        }
    }

    /// `value` formatted with `Display` (cut at 128 bytes).
    pub fn of(value: impl fmt::Display) -> Text {
        let mut t = Text::new();
        let _ = fmt::Write::write_fmt(&mut t, format_args!("{value}"));
        t
    }

    pub fn as_str(&self) -> &str {
        // Only whole `&str`s are appended, but a cut may split a character; show what is valid.
        match core::str::from_utf8(&self.buf[..self.len]) {
            Ok(s) => s,
            Err(e) => core::str::from_utf8(&self.buf[..e.valid_up_to()]).unwrap_or(""),
        }
    }
}

impl Default for Text {
    fn default() -> Text {
        Text::new()
    }
}

impl fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses a decimal integer with an optional leading `-`.
pub fn parse_int(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((d - b'0') as i64)?;
    }
    Some(if neg { -v } else { v })
}
