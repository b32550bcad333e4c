//! Byte streams between a file and its caller: a write takes bytes from a [`Source`], a read
//! puts them into a [`Sink`]. The syscall layer implements both over user memory (iovecs, with
//! `-EFAULT` for bad pointers); tests and the kernel itself use plain buffers.

use crate::errno::Errno;
use alloc::vec::Vec;

pub trait Source {
    /// Bytes not taken yet.
    fn remaining(&self) -> usize;
    /// Copies the next `out.len()` bytes (at most `remaining()`) into `out` and moves past
    /// them; on a fault it moves nowhere.
    fn take(&mut self, out: &mut [u8]) -> Result<(), Errno>;
}

pub trait Sink {
    /// Room left.
    fn remaining(&self) -> usize;
    /// Appends `bytes` (at most `remaining()`); on a fault nothing counts as delivered.
    fn put(&mut self, bytes: &[u8]) -> Result<(), Errno>;
}

/// A source over kernel memory.
pub struct SliceSource<'a> {
    pub data: &'a [u8],
}

impl Source for SliceSource<'_> {
    fn remaining(&self) -> usize {
        self.data.len()
    }
    fn take(&mut self, out: &mut [u8]) -> Result<(), Errno> {
        let (head, tail) = self.data.split_at(out.len().min(self.data.len()));
        out[..head.len()].copy_from_slice(head);
        self.data = tail;
        Ok(())
    }
}

/// A sink into kernel memory, holding at most `limit` bytes.
pub struct VecSink {
    pub data: Vec<u8>,
    pub limit: usize,
}

impl VecSink {
    pub fn new(limit: usize) -> Self {
        Self {
            data: Vec::new(),
            limit,
        }
    }
}

impl Sink for VecSink {
    fn remaining(&self) -> usize {
        self.limit - self.data.len()
    }
    fn put(&mut self, bytes: &[u8]) -> Result<(), Errno> {
        self.data.extend_from_slice(bytes);
        Ok(())
    }
}
