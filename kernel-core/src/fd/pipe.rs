//! Pipes, as Linux builds them: a ring of page-sized buffers (16 by default, so 64 KiB), small
//! writes merged into the last page when they fit whole, each other chunk of up to a page in a
//! slot of its own — which is what makes writes of at most PIPE_BUF bytes atomic. A read end and
//! a write end share the ring; each end object counts itself in and out (`Drop`), so the last
//! writer closing — by close, exit or exec's close-on-exec — gives readers end-of-file, and the
//! last reader closing gives writers EPIPE.

use super::io::{Sink, Source};
use super::poll::{POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use super::wait::{WaitQueue, with_io};
use crate::errno::Errno;
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;

pub const PAGE: usize = 4096;
/// Writes of at most this many bytes are never interleaved with other writes.
pub const PIPE_BUF: usize = 4096;
/// Slots of a new pipe (Linux's PIPE_DEF_BUFFERS).
pub const DEFAULT_SLOTS: usize = 16;
/// Slots of a new pipe once the system holds too many (PIPE_MIN_DEF_BUFFERS).
const MIN_SLOTS: usize = 2;
/// Largest F_SETPIPE_SZ (Linux's /proc/sys/fs/pipe-max-size default).
pub const MAX_SIZE: usize = 1 << 20;
/// Slots all pipes together may have before new pipes get the minimum (Linux's
/// pipe-user-pages-soft, scaled to the kernel heap: pipe pages live there).
const SOFT_LIMIT_SLOTS: usize = 2048;
/// Beyond this, pipe() fails with ENFILE (Linux's pipe-user-pages-hard, unset there; the heap
/// is small here and running out of it is fatal).
const HARD_LIMIT_SLOTS: usize = 4096;

/// One slot: bytes `data[start..]` are unread. `packet`: written in O_DIRECT mode (one write
/// chunk is one packet, never merged, read whole or truncated).
struct Buffer {
    data: Vec<u8>,
    start: usize,
    packet: bool,
}

impl Buffer {
    fn len(&self) -> usize {
        self.data.len() - self.start
    }
}

pub struct Pipe {
    bufs: VecDeque<Buffer>,
    /// Ring size in slots (F_GETPIPE_SZ is this many pages).
    slots: usize,
    readers: u32,
    writers: u32,
    /// Waiters for data (readers, POLLIN pollers): woken by writes and by the last writer closing.
    pub read_queue: WaitQueue,
    /// Waiters for room (writers, POLLOUT pollers): woken when a read frees a slot of a full
    /// pipe, on resize, and by the last reader closing.
    pub write_queue: WaitQueue,
}

/// The result of a read or write that may have to wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transfer {
    /// Finished: this many bytes in total (including earlier runs' progress).
    Done(u64),
    /// Nothing more can move now; `progress` bytes moved so far (across runs).
    WouldBlock { progress: u64 },
}

/// One end of a pipe, held by its open file description.
pub struct PipeEnd {
    pub pipe: Rc<RefCell<Pipe>>,
    pub write: bool,
}

/// A new pipe's two ends (read, write); ENFILE when the system holds too many pipe buffers.
pub fn new_pipe() -> Result<(PipeEnd, PipeEnd), Errno> {
    let slots = with_io(|s| {
        let slots = if s.pipe_slots + DEFAULT_SLOTS > SOFT_LIMIT_SLOTS {
            MIN_SLOTS
        } else {
            DEFAULT_SLOTS
        };
        if s.pipe_slots + slots > HARD_LIMIT_SLOTS {
            return Err(Errno::ENFILE);
        }
        s.pipe_slots += slots;
        Ok(slots)
    })?;
    let pipe = Rc::new(RefCell::new(Pipe {
        bufs: VecDeque::new(),
        slots,
        readers: 1,
        writers: 1,
        read_queue: WaitQueue::default(),
        write_queue: WaitQueue::default(),
    }));
    Ok((
        PipeEnd {
            pipe: pipe.clone(),
            write: false,
        },
        PipeEnd { pipe, write: true },
    ))
}

impl Drop for Pipe {
    fn drop(&mut self) {
        let slots = self.slots;
        with_io(|s| s.pipe_slots = s.pipe_slots.saturating_sub(slots));
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        // Nothing holds a pipe borrowed while descriptions are dropped (closes happen outside
        // every pipe operation); should that ever change, losing the count is not an option, so
        // this borrows unconditionally.
        let mut p = self.pipe.borrow_mut();
        if self.write {
            p.writers -= 1;
        } else {
            p.readers -= 1;
        }
        // The last reader or the last writer (not both): the other side must find out.
        if (p.readers == 0) != (p.writers == 0) {
            p.read_queue.wake(0);
            p.write_queue.wake(0);
        }
    }
}

impl Pipe {
    fn is_full(&self) -> bool {
        self.bufs.len() >= self.slots
    }

    /// poll(2) readiness of the read end or the write end.
    pub fn poll(&self, write_end: bool) -> u32 {
        let mut mask = 0;
        if write_end {
            if !self.is_full() {
                mask |= POLLOUT | POLLWRNORM;
            }
            if self.readers == 0 {
                mask |= POLLERR;
            }
        } else {
            if !self.bufs.is_empty() {
                mask |= POLLIN | POLLRDNORM;
            }
            if self.writers == 0 {
                mask |= POLLHUP;
            }
        }
        mask
    }

    /// Bytes waiting (FIONREAD).
    pub fn available(&self) -> usize {
        self.bufs.iter().map(Buffer::len).sum()
    }

    /// Capacity in bytes (F_GETPIPE_SZ).
    pub fn size(&self) -> usize {
        self.slots * PAGE
    }

    /// Reads into `sink`: whatever is there (up to its room), 0 at end-of-file, EAGAIN or
    /// `WouldBlock` when empty with writers left.
    pub fn read(&mut self, sink: &mut dyn Sink, nonblock: bool) -> Result<Transfer, Errno> {
        if sink.remaining() == 0 {
            return Ok(Transfer::Done(0));
        }
        let mut done = 0usize;
        let mut wake_writers = false;
        let mut packet_read = false;
        while let Some(front) = self.bufs.front_mut() {
            let chars = front.len().min(sink.remaining());
            if let Err(e) = sink.put(&front.data[front.start..front.start + chars]) {
                if done == 0 {
                    return Err(e);
                }
                break;
            }
            done += chars;
            front.start += chars;
            if front.packet {
                // A packet is consumed whole; what did not fit is gone.
                front.start = front.data.len();
                packet_read = true;
            }
            if front.len() == 0 {
                wake_writers |= self.bufs.len() >= self.slots;
                self.bufs.pop_front();
            }
            if packet_read || sink.remaining() == 0 {
                break;
            }
        }
        if wake_writers {
            self.write_queue.wake(POLLOUT | POLLWRNORM);
        }
        if done > 0 || self.writers == 0 {
            return Ok(Transfer::Done(done as u64));
        }
        if nonblock {
            return Err(Errno::EAGAIN);
        }
        Ok(Transfer::WouldBlock { progress: 0 })
    }

    /// Writes from `source`, continuing after `progress` bytes an earlier run already wrote.
    /// Returns the result and whether the writer must get SIGPIPE (no readers). Blocking writes
    /// return `WouldBlock` when the ring is full (after writing what fitted); non-blocking ones
    /// return what fitted, or EAGAIN if nothing did.
    pub fn write(
        &mut self,
        source: &mut dyn Source,
        nonblock: bool,
        packet: bool,
        progress: u64,
    ) -> (Result<Transfer, Errno>, bool) {
        let total = source.remaining();
        if total == 0 {
            return (Ok(Transfer::Done(progress)), false);
        }
        let mut done = 0usize;
        let result = self.write_inner(source, nonblock, packet, progress, total, &mut done);
        if done > 0 {
            self.read_queue.wake(POLLIN | POLLRDNORM);
        }
        result
    }

    fn write_inner(
        &mut self,
        source: &mut dyn Source,
        nonblock: bool,
        packet: bool,
        progress: u64,
        total: usize,
        done: &mut usize,
    ) -> (Result<Transfer, Errno>, bool) {
        let moved = |done: usize| progress + done as u64;
        if self.readers == 0 {
            return (Err(Errno::EPIPE), true);
        }
        // The part of the write that is not a whole number of pages goes first, into the last
        // page if it fits there whole (only at the start of a write, as Linux does).
        let chars = total % PAGE;
        if progress == 0
            && chars != 0
            && !packet
            && let Some(last) = self.bufs.back_mut()
            && !last.packet
            && last.data.len() + chars <= PAGE
        {
            let at = last.data.len();
            last.data.resize(at + chars, 0);
            if let Err(e) = source.take(&mut last.data[at..]) {
                last.data.truncate(at);
                return (Err(e), false);
            }
            *done += chars;
            if source.remaining() == 0 {
                return (Ok(Transfer::Done(moved(*done))), false);
            }
        }
        loop {
            if self.readers == 0 {
                let result = if moved(*done) == 0 {
                    Err(Errno::EPIPE)
                } else {
                    Ok(Transfer::Done(moved(*done)))
                };
                return (result, true);
            }
            if !self.is_full() {
                // Linux's pipe_write stops with ENOMEM when it cannot get a page; here, when
                // the kernel heap is down to its reserve (crate::memory::heap_room_in_transit).
                if !crate::memory::heap_room_in_transit(PAGE as u64) {
                    let result = if moved(*done) == 0 {
                        Err(Errno::ENOMEM)
                    } else {
                        Ok(Transfer::Done(moved(*done)))
                    };
                    return (result, false);
                }
                let n = source.remaining().min(PAGE);
                let mut data = alloc::vec![0u8; n];
                if let Err(e) = source.take(&mut data) {
                    let result = if moved(*done) == 0 {
                        Err(e)
                    } else {
                        Ok(Transfer::Done(moved(*done)))
                    };
                    return (result, false);
                }
                self.bufs.push_back(Buffer {
                    data,
                    start: 0,
                    packet,
                });
                *done += n;
                if source.remaining() == 0 {
                    return (Ok(Transfer::Done(moved(*done))), false);
                }
                continue;
            }
            if nonblock {
                let result = if moved(*done) == 0 {
                    Err(Errno::EAGAIN)
                } else {
                    Ok(Transfer::Done(moved(*done)))
                };
                return (result, false);
            }
            return (
                Ok(Transfer::WouldBlock {
                    progress: moved(*done),
                }),
                false,
            );
        }
    }

    /// F_SETPIPE_SZ: rounds up to a power-of-two number of pages; EBUSY if the data held would
    /// not fit, EPERM beyond MAX_SIZE or the system-wide budget (Cyphera treats every process
    /// as unprivileged here: the budget protects the kernel heap).
    pub fn set_size(&mut self, requested: u32) -> Result<usize, Errno> {
        let requested = requested as u64;
        if requested > 1 << 31 {
            return Err(Errno::EINVAL);
        }
        let size = requested.max(PAGE as u64).next_power_of_two() as usize;
        let slots = size / PAGE;
        if slots > self.slots && size > MAX_SIZE {
            return Err(Errno::EPERM);
        }
        if slots < self.bufs.len() {
            return Err(Errno::EBUSY);
        }
        let old = self.slots;
        with_io(|s| {
            let total = s.pipe_slots - old + slots;
            if slots > old && total > SOFT_LIMIT_SLOTS {
                return Err(Errno::EPERM);
            }
            s.pipe_slots = total;
            Ok(())
        })?;
        self.slots = slots;
        // This may have made room.
        self.write_queue.wake(0);
        Ok(size)
    }

    #[cfg(test)]
    fn slots_used(&self) -> usize {
        self.bufs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::io::{SliceSource, VecSink};
    use super::*;

    fn write(p: &PipeEnd, bytes: &[u8], nonblock: bool) -> (Result<Transfer, Errno>, bool) {
        p.pipe
            .borrow_mut()
            .write(&mut SliceSource { data: bytes }, nonblock, false, 0)
    }

    fn read(p: &PipeEnd, max: usize, nonblock: bool) -> (Result<Transfer, Errno>, Vec<u8>) {
        let mut sink = VecSink::new(max);
        let r = p.pipe.borrow_mut().read(&mut sink, nonblock);
        (r, sink.data)
    }

    #[test]
    fn bytes_come_out_in_order_and_eof_after_the_writer_closes() {
        let (r, w) = new_pipe().unwrap();
        assert_eq!(write(&w, b"hello ", true).0, Ok(Transfer::Done(6)));
        assert_eq!(write(&w, b"world", true).0, Ok(Transfer::Done(5)));
        assert_eq!(r.pipe.borrow().available(), 11);
        assert_eq!(r.pipe.borrow().slots_used(), 1, "small writes merge");
        assert_eq!(read(&r, 3, true), (Ok(Transfer::Done(3)), b"hel".to_vec()));
        assert_eq!(
            read(&r, 100, true),
            (Ok(Transfer::Done(8)), b"lo world".to_vec())
        );
        assert_eq!(read(&r, 100, true).0, Err(Errno::EAGAIN));
        assert_eq!(
            read(&r, 100, false).0,
            Ok(Transfer::WouldBlock { progress: 0 })
        );
        assert_eq!(r.pipe.borrow().poll(false), 0);
        drop(w);
        assert_eq!(r.pipe.borrow().poll(false), POLLHUP);
        assert_eq!(read(&r, 100, false).0, Ok(Transfer::Done(0)), "EOF");
    }

    #[test]
    fn no_readers_is_epipe_with_sigpipe() {
        let (r, w) = new_pipe().unwrap();
        drop(r);
        assert_eq!(write(&w, b"x", false), (Err(Errno::EPIPE), true));
        assert_eq!(w.pipe.borrow().poll(true), POLLOUT | POLLWRNORM | POLLERR);
    }

    #[test]
    fn capacity_is_sixteen_pages_and_nonblocking_writes_are_partial_or_eagain() {
        let (r, w) = new_pipe().unwrap();
        let big = alloc::vec![7u8; 100_000];
        assert_eq!(write(&w, &big, true).0, Ok(Transfer::Done(65536)));
        assert_eq!(write(&w, b"x", true).0, Err(Errno::EAGAIN));
        assert_eq!(w.pipe.borrow().poll(true), 0, "full: not writable");
        // A blocking write waits.
        assert_eq!(
            write(&w, b"x", false).0,
            Ok(Transfer::WouldBlock { progress: 0 })
        );
        // Reading part of a page frees no slot; reading a whole page does.
        assert_eq!(read(&r, 100, true).0, Ok(Transfer::Done(100)));
        assert_eq!(write(&w, b"x", true).0, Err(Errno::EAGAIN));
        assert_eq!(read(&r, 3996, true).0, Ok(Transfer::Done(3996)));
        assert_eq!(w.pipe.borrow().poll(true), POLLOUT | POLLWRNORM);
        assert_eq!(write(&w, &big[..5000], true).0, Ok(Transfer::Done(4096)));
    }

    #[test]
    fn writes_up_to_pipe_buf_are_atomic() {
        let (_r, w) = new_pipe().unwrap();
        // 1000-byte writes: four merge into each page, the fifth needs a new slot.
        let chunk = [1u8; 1000];
        let mut accepted = 0;
        loop {
            match write(&w, &chunk, true).0 {
                Ok(Transfer::Done(n)) => {
                    assert_eq!(n, 1000, "never split");
                    accepted += n;
                }
                Err(Errno::EAGAIN) => break,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(accepted, 64_000, "as Linux: 4 per page, 16 pages");
    }

    #[test]
    fn a_blocking_write_continues_where_it_stopped() {
        let (r, w) = new_pipe().unwrap();
        let data: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
        let first = w
            .pipe
            .borrow_mut()
            .write(&mut SliceSource { data: &data }, false, false, 0)
            .0;
        assert_eq!(first, Ok(Transfer::WouldBlock { progress: 65536 }));
        let (_, got) = read(&r, 70_000, true);
        assert_eq!(got.len(), 65536);
        let again = w
            .pipe
            .borrow_mut()
            .write(
                &mut SliceSource {
                    data: &data[65536..],
                },
                false,
                false,
                65536,
            )
            .0;
        assert_eq!(again, Ok(Transfer::Done(70_000)));
        let (_, rest) = read(&r, 70_000, true);
        assert_eq!([got, rest].concat(), data);
    }

    #[test]
    fn packet_mode_keeps_write_boundaries() {
        let (r, w) = new_pipe().unwrap();
        for msg in [&b"one"[..], b"three"] {
            w.pipe
                .borrow_mut()
                .write(&mut SliceSource { data: msg }, true, true, 0)
                .0
                .unwrap();
        }
        assert_eq!(read(&r, 100, true).1, b"one");
        // A short read discards the rest of the packet.
        assert_eq!(read(&r, 2, true).1, b"th");
        assert_eq!(read(&r, 100, true).0, Err(Errno::EAGAIN));
    }

    #[test]
    fn resizing_follows_linux_rules() {
        let (r, w) = new_pipe().unwrap();
        let mut p = w.pipe.borrow_mut();
        assert_eq!(p.size(), 65536);
        assert_eq!(p.set_size(0), Ok(4096));
        assert_eq!(p.set_size(5000), Ok(8192));
        assert_eq!(p.set_size(MAX_SIZE as u32 + 1), Err(Errno::EPERM));
        assert_eq!(p.set_size(u32::MAX), Err(Errno::EINVAL));
        drop(p);
        write(&w, &[0u8; 8192], true).0.unwrap();
        assert_eq!(w.pipe.borrow_mut().set_size(4096), Err(Errno::EBUSY));
        drop(r);
    }

    #[test]
    fn the_system_wide_budget_shrinks_then_refuses_new_pipes() {
        let mut pipes = Vec::new();
        loop {
            match new_pipe() {
                Ok(p) => pipes.push(p),
                Err(e) => {
                    assert_eq!(e, Errno::ENFILE);
                    break;
                }
            }
        }
        let sizes: Vec<usize> = pipes.iter().map(|(r, _)| r.pipe.borrow().size()).collect();
        assert_eq!(sizes[0], 65536);
        assert_eq!(*sizes.last().unwrap(), 8192);
        let held = with_io(|s| s.pipe_slots);
        assert!(held <= HARD_LIMIT_SLOTS);
        pipes.clear();
        assert_eq!(with_io(|s| s.pipe_slots), 0, "freed with the pipes");
    }
}
