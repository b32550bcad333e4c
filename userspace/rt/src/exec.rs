//! Building argv/envp arrays for execve without an allocator: a fixed buffer of NUL-terminated
//! strings and the null-terminated pointer array to them.

use core::fmt;

/// Up to 31 strings in 2 KiB.
pub struct Strings {
    store: [u8; 2048],
    used: usize,
    offsets: [usize; 31],
    count: usize,
    ptrs: [*const u8; 32],
}

impl Strings {
    pub const fn new() -> Strings {
        Strings {
            store: [0; 2048],
            used: 0,
            offsets: [0; 31],
            count: 0,
            ptrs: [core::ptr::null(); 32],
        }
    }

    /// Appends one string (a NUL is added). Returns false if it does not fit.
    pub fn push(&mut self, s: &[u8]) -> bool {
        if self.count == self.offsets.len() || self.used + s.len() + 1 > self.store.len() {
            return false;
        }
        self.offsets[self.count] = self.used;
        self.store[self.used..self.used + s.len()].copy_from_slice(s);
        self.store[self.used + s.len()] = 0;
        self.used += s.len() + 1;
        self.count += 1;
        true
    }

    /// Appends a formatted string.
    pub fn push_fmt(&mut self, args: fmt::Arguments<'_>) -> bool {
        let t = crate::text::Text::of(args);
        self.push(t.as_str().as_bytes())
    }

    /// Appends every string of a null-terminated array (e.g. the environment we were given).
    ///
    /// # Safety
    /// `array` must be null or a null-terminated array of NUL-terminated strings.
    pub unsafe fn push_all(&mut self, array: *const *const u8) -> bool {
        if array.is_null() {
            return true;
        }
        let mut i = 0;
        loop {
            // SAFETY: per the contract, every element up to the null is a C string.
            let p = unsafe { *array.add(i) };
            if p.is_null() {
                return true;
            }
            // SAFETY: as above.
            let s = unsafe { core::ffi::CStr::from_ptr(p.cast()) };
            if !self.push(s.to_bytes()) {
                return false;
            }
            i += 1;
        }
    }

    /// The null-terminated pointer array; valid while `self` is neither moved nor changed.
    pub fn as_ptr(&mut self) -> *const *const u8 {
        for i in 0..self.count {
            self.ptrs[i] = self.store[self.offsets[i]..].as_ptr();
        }
        self.ptrs[self.count] = core::ptr::null();
        self.ptrs.as_ptr()
    }

    /// The first string as a C string pointer (e.g. a path), or null if empty.
    pub fn first(&self) -> *const u8 {
        if self.count == 0 {
            core::ptr::null()
        } else {
            self.store.as_ptr()
        }
    }
}

impl Default for Strings {
    fn default() -> Strings {
        Strings::new()
    }
}
