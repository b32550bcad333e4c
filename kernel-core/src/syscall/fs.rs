//! File-descriptor system calls on the process's descriptor table: read/write and their
//! vector and positioned forms, close/dup/fcntl/ioctl/lseek, pipes, poll/select, epoll and
//! eventfd. A call that cannot proceed parks (see `fd::wait`) and runs again when woken; what a
//! re-run needs from its first run (absolute deadline, bytes already written) comes back from
//! `wait::resume`. Errors follow Linux, including the order in which it checks arguments.

use super::{Outcome, ret};
use crate::errno::{Errno, SysResult};
use crate::fd::epoll::{self, Epoll};
use crate::fd::eventfd::{EFD_SEMAPHORE, EventFd};
use crate::fd::io::{Sink, Source};
use crate::fd::pipe::{self, Transfer};
use crate::fd::poll::{
    EPOLLERR, EPOLLET, EPOLLEXCLUSIVE, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLWAKEUP, POLLERR, POLLHUP,
    POLLNVAL, SELECT_EX, SELECT_IN, SELECT_OUT,
};
use crate::fd::wait::{self, Park, Resume};
use crate::fd::{
    File, FileDescription, O_APPEND, O_CLOEXEC, O_DIRECT_AARCH64, O_DIRECT_X86_64, O_NONBLOCK,
    O_RDONLY, O_RDWR, O_WRONLY, OpenFile, SharedTable,
};
use crate::signal::{self, SigInfo, SigSet};
use crate::task::{Kernel, RLIMIT_NOFILE, Restart, Tid};
use crate::time;
use crate::tty_glue;
use crate::usermem::UserMem;
use crate::vfs::devfs::Device;
use alloc::vec::Vec;
use hal::arch::Arch;
use hal::mmu::PAGE_SIZE;

/// Linux caps one read/write at MAX_RW_COUNT (INT_MAX rounded down to a page).
const MAX_RW_COUNT: u64 = 0x7fff_f000;
/// Linux's UIO_MAXIOV.
const IOV_MAX: u64 = 1024;
/// Linux's sysctl_nr_open default: no descriptor number reaches it whatever RLIMIT_NOFILE says.
pub(super) const NR_OPEN: u64 = 1 << 20;
/// How often a wait involving the console looks at its receiver (no receive interrupt yet).
const CONSOLE_POLL_NS: u64 = 10_000_000;
const O_NOATIME: u32 = 0o1000000;

// ----- helpers -----------------------------------------------------------------------------

fn table<A: Arch>(k: &Kernel<A>, tid: Tid) -> SharedTable {
    k.process_of(tid).files.clone()
}

/// The description behind `fd`, or EBADF. Descriptors are `unsigned int` (or `int`, where a
/// negative one is simply not open): the register's upper half is ignored, as Linux does.
pub(super) fn file<A: Arch>(k: &Kernel<A>, tid: Tid, fd: u64) -> Result<OpenFile, Errno> {
    table(k, tid)
        .borrow()
        .get(fd as u32)
        .cloned()
        .ok_or(Errno::EBADF)
}

/// RLIMIT_NOFILE: descriptors are below it.
fn fd_limit<A: Arch>(k: &Kernel<A>, tid: Tid) -> u64 {
    k.process_of(tid).rlimits[RLIMIT_NOFILE].0.min(NR_OPEN)
}

fn o_direct<A: Arch>() -> u32 {
    if A::ELF_MACHINE == crate::elf::EM_AARCH64 {
        O_DIRECT_AARCH64
    } else {
        O_DIRECT_X86_64
    }
}

/// Linux's access_ok: the range lies in the user half (whether it is mapped is found later).
fn access_ok<A: Arch>(address: u64, len: u64) -> Result<(), Errno> {
    match address.checked_add(len) {
        Some(end) if end <= A::USER_END => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

fn install<A: Arch>(
    k: &Kernel<A>,
    tid: Tid,
    file: OpenFile,
    close_on_exec: bool,
    min: u64,
) -> SysResult {
    let limit = fd_limit(k, tid);
    if min >= limit {
        return Err(Errno::EINVAL);
    }
    // Descriptors live on the kernel heap: none past its reserve (crate::memory::heap_room),
    // ENFILE as when Linux's file table is full.
    if !crate::memory::heap_room(crate::memory::FD_HEAP) {
        return Err(Errno::ENFILE);
    }
    table(k, tid)
        .borrow_mut()
        .insert(file, close_on_exec, min as u32, limit as usize)
        .map(u64::from)
        .ok_or(Errno::EMFILE)
}

/// An absolute deadline `ns` from now (saturating: a huge timeout is forever in practice).
fn after<A: Arch>(k: &Kernel<A>, ns: u64) -> u64 {
    k.clock.monotonic().saturating_add(ns)
}

fn expired<A: Arch>(k: &Kernel<A>, deadline: Option<u64>) -> bool {
    deadline.is_some_and(|d| k.clock.monotonic() >= d)
}

/// When a parked wait must run again anyway: its deadline, or sooner to sample the console.
fn wake_at<A: Arch>(k: &Kernel<A>, deadline: Option<u64>, sample: bool) -> Option<u64> {
    if sample {
        let tick = after(k, CONSOLE_POLL_NS);
        Some(deadline.map_or(tick, |d| d.min(tick)))
    } else {
        deadline
    }
}

/// A signal the thread does not block is pending (it would interrupt a wait at once).
fn signal_pending<A: Arch>(k: &Kernel<A>, tid: Tid) -> bool {
    let t = &k.threads[&tid];
    t.deliverable(&k.processes[&t.pid]).lowest().is_some()
}

/// ppoll/pselect6/epoll_pwait: blocks `mask` for the duration of the call. The old mask is
/// kept in `saved_mask`, which a handler's frame restores if a signal ends the wait (and which
/// a restarted call keeps rather than overwrite with the temporary mask).
fn apply_sigmask<A: Arch>(k: &mut Kernel<A>, tid: Tid, mask: u64, size: u64) -> Result<(), Errno> {
    if mask == 0 {
        return Ok(());
    }
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    let set = SigSet(k.user(tid).read_u64(mask)?).sanitized();
    let t = k.threads.get_mut(&tid).expect("thread");
    let old = t.blocked;
    t.saved_mask.get_or_insert(old);
    t.blocked = set;
    Ok(())
}

fn restore_sigmask<A: Arch>(k: &mut Kernel<A>, tid: Tid, mask: u64) {
    if mask == 0 {
        return;
    }
    let t = k.threads.get_mut(&tid).expect("thread");
    if let Some(old) = t.saved_mask.take() {
        t.blocked = old;
    }
}

/// A wait with nothing ready and an unblocked signal pending ends at once: -EINTR after a
/// handler, a restart otherwise (Linux's ERESTARTNOHAND).
fn interrupted<A: Arch>(k: &mut Kernel<A>, tid: Tid) -> Outcome {
    k.threads.get_mut(&tid).expect("thread").interrupted = Some(Restart::Never);
    Outcome::Done
}

// ----- user memory as a byte stream ------------------------------------------------------

/// The user buffers of one read or write: (address, length) segments, already checked with
/// access_ok and capped at MAX_RW_COUNT in total.
struct UserIo<'a, A: Arch> {
    mem: UserMem<'a, A>,
    segs: Vec<(u64, u64)>,
    idx: usize,
    off: u64,
    left: usize,
}

impl<'a, A: Arch> UserIo<'a, A> {
    fn new(mem: UserMem<'a, A>, segs: Vec<(u64, u64)>) -> Self {
        let left = segs.iter().map(|s| s.1).sum::<u64>() as usize;
        Self {
            mem,
            segs,
            idx: 0,
            off: 0,
            left,
        }
    }

    /// Moves past `n` bytes (what an earlier run of the call already wrote).
    fn skip(&mut self, n: u64) {
        let mut n = n.min(self.left as u64);
        self.left -= n as usize;
        while n > 0 {
            let avail = self.segs[self.idx].1 - self.off;
            let step = avail.min(n);
            self.off += step;
            n -= step;
            if self.off == self.segs[self.idx].1 {
                self.idx += 1;
                self.off = 0;
            }
        }
    }

    /// The bytes from here to the end of the current page and segment (at most a page): a
    /// copy of this size either faults whole or not at all.
    fn page_chunk(&mut self) -> usize {
        while self.idx < self.segs.len() && self.off == self.segs[self.idx].1 {
            self.idx += 1;
            self.off = 0;
        }
        let Some(&(base, len)) = self.segs.get(self.idx) else {
            return 0;
        };
        let at = base + self.off;
        (len - self.off).min(PAGE_SIZE - at % PAGE_SIZE) as usize
    }

    /// Walks `len` bytes from the current position, calling `f(address, range)` per piece;
    /// on an error the position is unchanged.
    fn walk(
        &mut self,
        len: usize,
        mut f: impl FnMut(&mut UserMem<'a, A>, u64, core::ops::Range<usize>) -> Result<(), Errno>,
    ) -> Result<(), Errno> {
        let (idx, off, left) = (self.idx, self.off, self.left);
        let mut done = 0;
        while done < len {
            let (base, seg_len) = self.segs[self.idx];
            let avail = (seg_len - self.off) as usize;
            if avail == 0 {
                self.idx += 1;
                self.off = 0;
                continue;
            }
            let n = avail.min(len - done);
            if let Err(e) = f(&mut self.mem, base + self.off, done..done + n) {
                (self.idx, self.off, self.left) = (idx, off, left);
                return Err(e);
            }
            done += n;
            self.off += n as u64;
        }
        self.left -= len;
        Ok(())
    }
}

impl<A: Arch> Source for UserIo<'_, A> {
    fn remaining(&self) -> usize {
        self.left
    }
    fn take(&mut self, out: &mut [u8]) -> Result<(), Errno> {
        let len = out.len().min(self.left);
        self.walk(len, |mem, at, range| mem.read(at, &mut out[range]))
    }
}

impl<A: Arch> Sink for UserIo<'_, A> {
    fn remaining(&self) -> usize {
        self.left
    }
    fn put(&mut self, bytes: &[u8]) -> Result<(), Errno> {
        let len = bytes.len().min(self.left);
        self.walk(len, |mem, at, range| mem.write(at, &bytes[range]))
    }
}

/// Where a read or write's bytes are in user memory.
#[derive(Clone, Copy)]
enum Buffers {
    /// One buffer (read/write/pread64/pwrite64).
    One { address: u64, count: u64 },
    /// An iovec array (readv/writev).
    Vector { iov: u64, count: u64 },
}

impl Buffers {
    /// Linux's import_iovec: at most UIO_MAXIOV entries, no negative length, every buffer in
    /// the user half, the total capped at MAX_RW_COUNT.
    fn segments<A: Arch>(self, k: &mut Kernel<A>, tid: Tid) -> Result<Vec<(u64, u64)>, Errno> {
        match self {
            Buffers::One { address, count } => {
                access_ok::<A>(address, count)?;
                Ok(alloc::vec![(address, count.min(MAX_RW_COUNT))])
            }
            Buffers::Vector { iov, count } => {
                if count > IOV_MAX {
                    return Err(Errno::EINVAL);
                }
                let mut raw = alloc::vec![0u8; count as usize * 16];
                k.user(tid).read(iov, &mut raw)?;
                let word = |i: usize| u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap());
                let entries: Vec<(u64, u64)> = (0..count as usize)
                    .map(|i| (word(2 * i), word(2 * i + 1)))
                    .collect();
                if entries.iter().any(|&(_, len)| (len as i64) < 0) {
                    return Err(Errno::EINVAL);
                }
                let mut total = 0u64;
                let mut segs = Vec::with_capacity(entries.len());
                for (base, len) in entries {
                    access_ok::<A>(base, len)?;
                    let len = len.min(MAX_RW_COUNT - total);
                    total += len;
                    segs.push((base, len));
                }
                Ok(segs)
            }
        }
    }
}

// ----- read and write ----------------------------------------------------------------------

pub fn read<A: Arch>(k: &mut Kernel<A>, tid: Tid, fd: u64, buf: u64, count: u64) -> Outcome {
    do_read(
        k,
        tid,
        fd,
        Buffers::One {
            address: buf,
            count,
        },
    )
}

pub fn readv<A: Arch>(k: &mut Kernel<A>, tid: Tid, fd: u64, iov: u64, count: u64) -> Outcome {
    do_read(k, tid, fd, Buffers::Vector { iov, count })
}

pub fn write<A: Arch>(k: &mut Kernel<A>, tid: Tid, fd: u64, buf: u64, count: u64) -> Outcome {
    do_write(
        k,
        tid,
        fd,
        Buffers::One {
            address: buf,
            count,
        },
    )
}

pub fn writev<A: Arch>(k: &mut Kernel<A>, tid: Tid, fd: u64, iov: u64, count: u64) -> Outcome {
    do_write(k, tid, fd, Buffers::Vector { iov, count })
}

/// pread64/pwrite64 (and preadv/pwritev): at `position`, leaving the file offset alone. A
/// negative position is EINVAL (checked first, as Linux does); pipes, the console and the
/// other stream files are ESPIPE.
pub fn pread_pwrite<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    fd: u64,
    buffers: (u64, u64, bool),
    position: u64,
    write: bool,
) -> SysResult {
    if (position as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    let f = file(k, tid, fd)?;
    let (ok, positioned) = {
        let d = f.borrow();
        let ok = if write { d.writable() } else { d.readable() };
        (ok, matches!(d.file, File::Node(_) | File::Device(_)))
    };
    if !ok {
        return Err(Errno::EBADF);
    }
    if !positioned {
        return Err(Errno::ESPIPE);
    }
    let (address, count, vector) = buffers;
    let segs = if vector {
        Buffers::Vector {
            iov: address,
            count,
        }
    } else {
        Buffers::One { address, count }
    }
    .segments(k, tid)?;
    if write {
        let now = super::path::now(k);
        let mut source = UserIo::new(k.user(tid), segs);
        write_stateless(&f, &mut source, position, now)
    } else {
        read_stateless(k, tid, &f, segs, position)
    }
}

/// Reads from a VFS node or a stateless device at `pos` into the user buffers `segs`, in
/// chunks of at most 64 KiB (a fault after some bytes is a short read).
fn read_stateless<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    f: &OpenFile,
    segs: Vec<(u64, u64)>,
    pos: u64,
) -> SysResult {
    let want: u64 = segs.iter().map(|s| s.1).sum();
    if matches!(f.borrow().file, File::Device(Device::Zero | Device::Full)) {
        // Zeros straight from one static page: no buffer to allocate and clear per call. Page
        // aligned, as user buffers usually are: memcpy copies word by word only when source and
        // destination are equally aligned (a byte loop otherwise, four times slower on AArch64).
        #[repr(align(4096))]
        struct ZeroPage([u8; PAGE_SIZE as usize]);
        static ZEROS: ZeroPage = ZeroPage([0; PAGE_SIZE as usize]);
        let zeros = &ZEROS.0;
        let mut sink = UserIo::new(k.user(tid), segs);
        let mut done = 0u64;
        while done < want {
            let n = (want - done).min(PAGE_SIZE) as usize;
            if let Err(e) = sink.put(&zeros[..n]) {
                if done == 0 {
                    return Err(e);
                }
                break;
            }
            done += n as u64;
        }
        return Ok(done);
    }
    let mut done = 0u64;
    while done < want {
        let n = (want - done).min(64 * 1024) as usize;
        let bytes = match produce(f, &mut k.rng, pos + done, n) {
            Ok(b) => b,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        if bytes.is_empty() {
            break;
        }
        let mut sink = UserIo::new(k.user(tid), segs.clone());
        sink.skip(done);
        if let Err(e) = sink.put(&bytes) {
            if done == 0 {
                return Err(e);
            }
            break;
        }
        done += bytes.len() as u64;
        if bytes.len() < n {
            break;
        }
    }
    Ok(done)
}

/// Up to `n` bytes of a VFS node or stateless device at `pos`.
fn produce(
    f: &OpenFile,
    rng: &mut crate::random::Rng,
    pos: u64,
    n: usize,
) -> Result<Vec<u8>, Errno> {
    let d = f.borrow();
    Ok(match (&d.file, d.node()) {
        (File::Device(Device::Null), _) => Vec::new(),
        (File::Device(Device::Zero | Device::Full), _) => alloc::vec![0u8; n],
        (File::Device(_), _) => {
            let mut b = alloc::vec![0u8; n];
            rng.fill(&mut b);
            b
        }
        (File::Node(nf), Some(node)) => crate::fd::node::read(node, nf, pos, n)?,
        _ => return Err(Errno::EINVAL),
    })
}

/// Writes `source` into a VFS node or a stateless device at `pos`.
fn write_stateless(
    f: &OpenFile,
    source: &mut dyn Source,
    pos: u64,
    now: crate::vfs::Timestamp,
) -> SysResult {
    let d = f.borrow();
    let total = source.remaining();
    match (&d.file, d.node()) {
        (File::Device(Device::Full), _) => Err(Errno::ENOSPC),
        // Linux's write_null (also /dev/zero's write) takes the count without reading the
        // bytes: only the range check the caller made (access_ok) can make it EFAULT.
        (File::Device(Device::Null | Device::Zero), _) => Ok(total as u64),
        (File::Device(_), _) => {
            // /dev/random and /dev/urandom read the bytes (Linux mixes them into the pool), so
            // a bad buffer is EFAULT.
            let mut scratch = alloc::vec![0u8; total.min(64 * 1024)];
            let mut left = total;
            while left > 0 {
                let n = left.min(scratch.len());
                source.take(&mut scratch[..n])?;
                left -= n;
            }
            Ok(total as u64)
        }
        (File::Node(_), Some(node)) => {
            let mut done = 0usize;
            let mut chunk = alloc::vec![0u8; total.min(64 * 1024)];
            while done < total {
                let n = (total - done).min(chunk.len());
                if let Err(e) = source.take(&mut chunk[..n]) {
                    if done == 0 {
                        return Err(e);
                    }
                    break;
                }
                if let Err(e) = crate::fd::node::write(node, pos + done as u64, &chunk[..n], now) {
                    if done == 0 {
                        return Err(e);
                    }
                    break;
                }
                done += n;
            }
            Ok(done as u64)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// A read of the console terminal: job control first, then the line discipline, parking
/// until input (or VTIME) ends the read.
fn console_read<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    segs: Vec<(u64, u64)>,
    nonblock: bool,
) -> Outcome {
    let resume = wait::resume(k, tid);
    if let Err(outcome) = tty_glue::check_background(k, tid, signal::SIGTTIN) {
        return outcome;
    }
    tty_glue::poll_input(k);
    let mut op = if resume.rerun {
        k.console_tty.reads.remove(&tid)
    } else {
        None
    }
    .unwrap_or_else(|| crate::tty::ReadOp::new(segs.iter().map(|s| s.1 as usize).sum()));
    let now = k.clock.monotonic();
    let before = op.taken();
    let step = k.console_tty.tty.read(&mut op, now);
    if !step.data.is_empty() {
        let mut sink = UserIo::new(k.user(tid), segs);
        sink.skip(before as u64);
        if let Err(e) = sink.put(&step.data) {
            return ret(if before > 0 {
                Ok(before as u64)
            } else {
                Err(e)
            });
        }
    }
    match step.status {
        crate::tty::ReadStatus::Done => ret(Ok(op.taken() as u64)),
        crate::tty::ReadStatus::Wait { .. } if nonblock => ret(if op.taken() > 0 {
            Ok(op.taken() as u64)
        } else {
            Err(Errno::EAGAIN)
        }),
        crate::tty::ReadStatus::Wait { deadline_ns } => {
            let taken = op.taken() as u64;
            k.console_tty.reads.insert(tid, op);
            let key = wait::new_key();
            k.console_tty.readers.register(key);
            wait::park(
                k,
                tid,
                Park {
                    key,
                    deadline: deadline_ns,
                    wake_at: deadline_ns,
                    progress: taken,
                    restart: Restart::IfSaRestart,
                },
            )
        }
    }
}

fn do_read<A: Arch>(k: &mut Kernel<A>, tid: Tid, fd: u64, buffers: Buffers) -> Outcome {
    // A parked read keeps nothing across runs, but its record must go.
    wait::resume(k, tid);
    let f = match file(k, tid, fd) {
        Ok(f) => f,
        Err(e) => return ret(Err(e)),
    };
    let (readable, nonblock, is_epoll) = {
        let d = f.borrow();
        (
            d.readable(),
            d.nonblocking(),
            matches!(d.file, File::Epoll(_)),
        )
    };
    if !readable {
        return ret(Err(Errno::EBADF));
    }
    if is_epoll {
        return ret(Err(Errno::EINVAL));
    }
    let segs = match buffers.segments(k, tid) {
        Ok(s) => s,
        Err(e) => return ret(Err(e)),
    };
    let mut desc = f.borrow_mut();
    match &mut desc.file {
        File::Console => {
            drop(desc);
            console_read(k, tid, segs, nonblock)
        }
        File::Node(_) | File::Device(_) => {
            drop(desc);
            let pos = f.borrow().offset;
            let moved = read_stateless(k, tid, &f, segs, pos);
            if let Ok(n) = moved
                && f.borrow().node().is_some()
            {
                f.borrow_mut().offset = pos + n;
            }
            ret(moved)
        }
        File::Pipe(end) => {
            let pipe = end.pipe.clone();
            drop(desc);
            let mut sink = UserIo::new(k.user(tid), segs);
            let result = pipe.borrow_mut().read(&mut sink, nonblock);
            drop(sink);
            match result {
                Ok(Transfer::Done(n)) => ret(Ok(n)),
                Ok(Transfer::WouldBlock { .. }) => {
                    let key = wait::new_key();
                    pipe.borrow_mut().read_queue.register(key);
                    park_io(k, tid, key, 0)
                }
                Err(e) => ret(Err(e)),
            }
        }
        File::EventFd(e) => {
            let mut sink = UserIo::new(k.user(tid), segs);
            if sink.left < 8 {
                return ret(Err(Errno::EINVAL));
            }
            match e.take() {
                Some(value) => ret(sink.put(&value.to_le_bytes()).map(|()| 8)),
                None if nonblock => ret(Err(Errno::EAGAIN)),
                None => {
                    drop(sink);
                    let key = wait::new_key();
                    e.queue.register(key);
                    drop(desc);
                    park_io(k, tid, key, 0)
                }
            }
        }
        File::Epoll(_) => ret(Err(Errno::EINVAL)),
    }
}

fn do_write<A: Arch>(k: &mut Kernel<A>, tid: Tid, fd: u64, buffers: Buffers) -> Outcome {
    let resume = wait::resume(k, tid);
    let f = match file(k, tid, fd) {
        Ok(f) => f,
        Err(e) => return ret(Err(e)),
    };
    let (writable, nonblock, flags, is_epoll) = {
        let d = f.borrow();
        (
            d.writable(),
            d.nonblocking(),
            d.status_flags,
            matches!(d.file, File::Epoll(_)),
        )
    };
    if !writable {
        return ret(Err(Errno::EBADF));
    }
    if is_epoll {
        return ret(Err(Errno::EINVAL));
    }
    let segs = match buffers.segments(k, tid) {
        Ok(s) => s,
        Err(e) => return ret(Err(e)),
    };
    let mut desc = f.borrow_mut();
    match &mut desc.file {
        File::Console => {
            drop(desc);
            if k.console_tty.tty.termios().c_lflag & crate::tty::TOSTOP != 0
                && let Err(outcome) = tty_glue::check_background(k, tid, signal::SIGTTOU)
            {
                return outcome;
            }
            // Page by page, so that a fault after some bytes is a short write, as on Linux.
            let mut source = UserIo::new(k.user(tid), segs);
            let mut done = 0u64;
            let mut chunk = [0u8; 4096];
            let mut out = Vec::new();
            loop {
                let n = source.page_chunk();
                if n == 0 {
                    break;
                }
                if let Err(e) = source.take(&mut chunk[..n]) {
                    if done == 0 {
                        return ret(Err(e));
                    }
                    break;
                }
                out.extend_from_slice(&chunk[..n]);
                done += n as u64;
            }
            drop(source);
            tty_glue::output(k, &out);
            ret(Ok(done))
        }
        File::Device(Device::Null | Device::Zero) => {
            // Discarded unread, as in write_stateless (without setting up a copy).
            ret(Ok(segs.iter().map(|&(_, len)| len).sum()))
        }
        File::Node(_) | File::Device(_) => {
            drop(desc);
            let now = super::path::now(k);
            let mut source = UserIo::new(k.user(tid), segs);
            let append = flags & O_APPEND != 0;
            let pos = {
                let d = f.borrow();
                match d.node() {
                    Some(n) if append => n.size(),
                    _ => d.offset,
                }
            };
            let moved = write_stateless(&f, &mut source, pos, now);
            if let Ok(n) = moved
                && f.borrow().node().is_some()
            {
                f.borrow_mut().offset = pos + n;
            }
            ret(moved)
        }
        File::Pipe(end) => {
            let pipe = end.pipe.clone();
            drop(desc);
            let packet = flags & o_direct::<A>() != 0;
            let mut source = UserIo::new(k.user(tid), segs);
            source.skip(resume.progress);
            let (result, broken) =
                pipe.borrow_mut()
                    .write(&mut source, nonblock, packet, resume.progress);
            drop(source);
            if broken {
                let pid = k.threads[&tid].pid;
                k.send_to_thread(tid, SigInfo::user(signal::SIGPIPE, signal::SI_USER, pid));
            }
            match result {
                Ok(Transfer::Done(n)) => ret(Ok(n)),
                Ok(Transfer::WouldBlock { progress }) => {
                    let key = wait::new_key();
                    pipe.borrow_mut().write_queue.register(key);
                    park_io(k, tid, key, progress)
                }
                Err(e) => ret(Err(e)),
            }
        }
        File::EventFd(e) => {
            let mut source = UserIo::new(k.user(tid), segs);
            if source.left < 8 {
                return ret(Err(Errno::EINVAL));
            }
            let mut raw = [0u8; 8];
            if let Err(err) = source.take(&mut raw) {
                return ret(Err(err));
            }
            drop(source);
            match e.add(u64::from_le_bytes(raw)) {
                Ok(true) => ret(Ok(8)),
                Ok(false) if nonblock => ret(Err(Errno::EAGAIN)),
                Ok(false) => {
                    let key = wait::new_key();
                    e.queue.register(key);
                    drop(desc);
                    park_io(k, tid, key, 0)
                }
                Err(err) => ret(Err(err)),
            }
        }
        File::Epoll(_) => ret(Err(Errno::EINVAL)),
    }
}

// ----- the descriptor table --------------------------------------------------------------

pub fn close<A: Arch>(k: &mut Kernel<A>, tid: Tid, fd: u64) -> SysResult {
    let t = table(k, tid);
    let closed = t.borrow_mut().remove(fd as u32).ok_or(Errno::EBADF)?;
    // The description (and a pipe end's count) goes outside the table's borrow.
    drop(closed);
    Ok(0)
}

pub fn dup<A: Arch>(k: &mut Kernel<A>, tid: Tid, fd: u64) -> SysResult {
    let f = file(k, tid, fd)?;
    install(k, tid, f, false, 0).map_err(|e| if e == Errno::EINVAL { Errno::EMFILE } else { e })
}

pub fn dup2<A: Arch>(k: &mut Kernel<A>, tid: Tid, old: u64, new: u64) -> SysResult {
    if old as u32 == new as u32 {
        file(k, tid, old)?;
        return Ok(new as u32 as u64);
    }
    dup3(k, tid, old, new, 0)
}

pub fn dup3<A: Arch>(k: &mut Kernel<A>, tid: Tid, old: u64, new: u64, flags: u64) -> SysResult {
    let flags = flags as u32;
    if flags & !O_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    let (old, new) = (old as u32, new as u32);
    if old == new {
        return Err(Errno::EINVAL);
    }
    if new as u64 >= fd_limit(k, tid) {
        return Err(Errno::EBADF);
    }
    let f = file(k, tid, old as u64)?;
    if !crate::memory::heap_room(crate::memory::FD_HEAP) {
        return Err(Errno::ENFILE);
    }
    let replaced = table(k, tid)
        .borrow_mut()
        .insert_at(new, f, flags & O_CLOEXEC != 0);
    drop(replaced);
    Ok(new as u64)
}

const F_DUPFD: u64 = 0;
const F_GETFD: u64 = 1;
const F_SETFD: u64 = 2;
const F_GETFL: u64 = 3;
const F_SETFL: u64 = 4;
const F_GETLK: u64 = 5;
const F_SETLK: u64 = 6;
const F_SETLKW: u64 = 7;
const F_OFD_GETLK: u64 = 36;
const F_OFD_SETLK: u64 = 37;
const F_OFD_SETLKW: u64 = 38;
const F_DUPFD_CLOEXEC: u64 = 1030;
const F_SETPIPE_SZ: u64 = 1031;
const F_GETPIPE_SZ: u64 = 1032;
const FD_CLOEXEC: u64 = 1;
const F_RDLCK: u16 = 0;
const F_WRLCK: u16 = 1;
const F_UNLCK: u16 = 2;

pub fn fcntl<A: Arch>(k: &mut Kernel<A>, tid: Tid, fd: u64, cmd: u64, arg: u64) -> SysResult {
    let f = file(k, tid, fd)?;
    let fd = fd as u32;
    let cmd = cmd as u32 as u64;
    match cmd {
        F_DUPFD | F_DUPFD_CLOEXEC => install(k, tid, f, cmd == F_DUPFD_CLOEXEC, arg),
        F_GETFD => Ok(table(k, tid)
            .borrow()
            .close_on_exec(fd)
            .map_or(0, |c| if c { FD_CLOEXEC } else { 0 })),
        F_SETFD => {
            table(k, tid)
                .borrow_mut()
                .set_close_on_exec(fd, arg & FD_CLOEXEC != 0);
            Ok(0)
        }
        F_GETFL => Ok(f.borrow().status_flags as u64),
        F_SETFL => {
            let arg = arg as u32;
            let direct = o_direct::<A>();
            let mut d = f.borrow_mut();
            // Packet mode is O_DIRECT on a pipe; other files here cannot do direct I/O.
            if arg & direct != 0 && !matches!(d.file, File::Pipe(_)) {
                return Err(Errno::EINVAL);
            }
            let settable = O_APPEND | O_NONBLOCK | direct | O_NOATIME;
            d.status_flags = (d.status_flags & !settable) | (arg & settable);
            Ok(0)
        }
        F_GETLK | F_SETLK | F_SETLKW | F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW => {
            lock(k, tid, &f, cmd, arg)
        }
        F_GETPIPE_SZ | F_SETPIPE_SZ => {
            let d = f.borrow();
            let File::Pipe(end) = &d.file else {
                return Err(Errno::EBADF);
            };
            let mut p = end.pipe.borrow_mut();
            if cmd == F_GETPIPE_SZ {
                Ok(p.size() as u64)
            } else {
                p.set_size(arg as u32).map(|s| s as u64)
            }
        }
        _ => Err(Errno::EINVAL),
    }
}

/// Record locks: Linux locks the inode; these files' inodes are private to their pipe or
/// instance and Cyphera does not track lock owners yet, so a valid request always succeeds
/// (F_GETLK finds no conflicting lock), after Linux's argument checks.
fn lock<A: Arch>(k: &mut Kernel<A>, tid: Tid, f: &OpenFile, cmd: u64, arg: u64) -> SysResult {
    // struct flock: l_type, l_whence (shorts), l_start, l_len (off_t), l_pid (int): 32 bytes.
    let mut raw = k.user(tid).read_array::<32>(arg)?;
    let l_type = u16::from_le_bytes([raw[0], raw[1]]);
    let whence = u16::from_le_bytes([raw[2], raw[3]]);
    let start = i64::from_le_bytes(raw[8..16].try_into().unwrap());
    let len = i64::from_le_bytes(raw[16..24].try_into().unwrap());
    let pid = i32::from_le_bytes(raw[24..28].try_into().unwrap());
    let ofd = matches!(cmd, F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW);
    if ofd && pid != 0 {
        return Err(Errno::EINVAL);
    }
    if whence > 2 || start < 0 || (len < 0 && start.checked_add(len).is_none_or(|s| s < 0)) {
        return Err(Errno::EINVAL);
    }
    if matches!(cmd, F_GETLK | F_OFD_GETLK) {
        if l_type != F_RDLCK && l_type != F_WRLCK {
            return Err(Errno::EINVAL);
        }
        raw[0..2].copy_from_slice(&F_UNLCK.to_le_bytes());
        k.user(tid).write(arg, &raw)?;
        return Ok(0);
    }
    let d = f.borrow();
    match l_type {
        F_RDLCK if !d.readable() => Err(Errno::EBADF),
        F_WRLCK if !d.writable() => Err(Errno::EBADF),
        F_RDLCK | F_WRLCK | F_UNLCK => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

const FIONREAD: u32 = 0x541b;
const FIONBIO: u32 = 0x5421;
const FIONCLEX: u32 = 0x5450;
const FIOCLEX: u32 = 0x5451;

/// ioctl(2): the generic requests every file takes, FIONREAD on pipes and regular files, and
/// the terminal requests on the console (the others are ENOTTY there).
pub fn ioctl<A: Arch>(k: &mut Kernel<A>, tid: Tid, fd: u64, cmd: u64, arg: u64) -> Outcome {
    let f = match file(k, tid, fd) {
        Ok(f) => f,
        Err(e) => return ret(Err(e)),
    };
    let is_console = matches!(f.borrow().file, File::Console);
    if is_console
        && !matches!(cmd as u32, FIOCLEX | FIONCLEX | FIONBIO)
        && let Some(result) = tty_glue::ioctl(k, tid, cmd as u32, arg)
    {
        return match result {
            Ok(r) => ret(r),
            Err(outcome) => outcome,
        };
    }
    ret(generic_ioctl(k, tid, &f, fd, cmd, arg))
}

fn generic_ioctl<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    f: &OpenFile,
    fd: u64,
    cmd: u64,
    arg: u64,
) -> SysResult {
    match cmd as u32 {
        FIOCLEX | FIONCLEX => {
            table(k, tid)
                .borrow_mut()
                .set_close_on_exec(fd as u32, cmd as u32 == FIOCLEX);
            Ok(0)
        }
        FIONBIO => {
            let on = k.user(tid).read_u32(arg)? != 0;
            let mut d = f.borrow_mut();
            if on {
                d.status_flags |= O_NONBLOCK;
            } else {
                d.status_flags &= !O_NONBLOCK;
            }
            Ok(0)
        }
        FIONREAD if !matches!(f.borrow().file, File::Console) => {
            let available = {
                let d = f.borrow();
                match (&d.file, d.node()) {
                    (File::Pipe(end), _) => end.pipe.borrow().available(),
                    (File::Node(_), Some(n)) if n.file_type() == crate::vfs::S_IFREG => {
                        n.size().saturating_sub(d.offset) as usize
                    }
                    _ => return Err(Errno::ENOTTY),
                }
            };
            k.user(tid).write_u32(arg, available as u32)?;
            Ok(0)
        }
        _ => Err(Errno::ENOTTY),
    }
}

/// lseek(2): pipes and the console cannot seek; epoll and eventfd files accept any seek and
/// stay at 0 (Linux's noop_llseek). A `whence` beyond SEEK_HOLE is EINVAL first.
pub fn lseek<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    fd: u64,
    _offset: u64,
    whence: u64,
) -> SysResult {
    let f = file(k, tid, fd)?;
    if whence as u32 > 4 {
        return Err(Errno::EINVAL);
    }
    let offset = _offset as i64;
    let mut d = f.borrow_mut();
    match &d.file {
        File::Console | File::Pipe(_) => return Err(Errno::ESPIPE),
        File::Epoll(_) | File::EventFd(_) | File::Device(_) => return Ok(0),
        File::Node(_) => {}
    }
    let node = d.node().cloned().ok_or(Errno::ESPIPE)?;
    if node.is_dir() {
        if whence != 0 || offset < 0 {
            return Err(Errno::EINVAL);
        }
        let view = crate::procview::ProcView::new(k, tid);
        let File::Node(nf) = &mut d.file else {
            unreachable!("checked above")
        };
        crate::fd::node::seek_dir(&view, &node, nf, offset as u64);
        d.offset = offset as u64;
        return Ok(offset as u64);
    }
    let size = match (&node.body, &d.file) {
        (
            _,
            File::Node(crate::fd::node::NodeFile {
                snapshot: Some(s), ..
            }),
        ) => s.len() as u64,
        _ => node.size(),
    } as i64;
    let new = match whence {
        0 => Some(offset),
        1 => (d.offset as i64).checked_add(offset),
        2 => size.checked_add(offset),
        // SEEK_DATA: the whole file is data; SEEK_HOLE: the only hole is at the end.
        3 if offset < size && offset >= 0 => Some(offset),
        4 if offset < size && offset >= 0 => Some(size),
        3 | 4 => return Err(Errno::ENXIO),
        _ => return Err(Errno::EINVAL),
    };
    match new {
        Some(n) if n >= 0 => {
            d.offset = n as u64;
            Ok(n as u64)
        }
        Some(_) => Err(Errno::EINVAL),
        None => Err(Errno::EOVERFLOW),
    }
}

/// Installs a description opened by path at the lowest free descriptor.
pub fn install_file<A: Arch>(
    k: &Kernel<A>,
    tid: Tid,
    file: OpenFile,
    close_on_exec: bool,
) -> SysResult {
    install(k, tid, file, close_on_exec, 0)
        .map_err(|e| if e == Errno::EINVAL { Errno::EMFILE } else { e })
}

// ----- pipes and eventfd -------------------------------------------------------------------

/// Linux's O_NOTIFICATION_PIPE (watch queues), not supported.
const O_NOTIFICATION_PIPE: u32 = 0o200;

pub fn pipe2<A: Arch>(k: &mut Kernel<A>, tid: Tid, fds: u64, flags: u64) -> SysResult {
    let flags = flags as u32;
    let direct = o_direct::<A>();
    if flags & !(O_CLOEXEC | O_NONBLOCK | direct) != 0 || flags & O_NOTIFICATION_PIPE != 0 {
        return Err(Errno::EINVAL);
    }
    let (r, w) = pipe::new_pipe()?;
    let cloexec = flags & O_CLOEXEC != 0;
    let read_end = FileDescription::new(File::Pipe(r), O_RDONLY | (flags & O_NONBLOCK));
    let write_end = FileDescription::new(File::Pipe(w), O_WRONLY | (flags & (O_NONBLOCK | direct)));
    let rfd = install(k, tid, read_end, cloexec, 0).map_err(|_| Errno::EMFILE)?;
    let wfd = match install(k, tid, write_end, cloexec, 0) {
        Ok(fd) => fd,
        Err(_) => {
            let closed = table(k, tid).borrow_mut().remove(rfd as u32);
            drop(closed);
            return Err(Errno::EMFILE);
        }
    };
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&(rfd as u32).to_le_bytes());
    out[4..].copy_from_slice(&(wfd as u32).to_le_bytes());
    if let Err(e) = k.user(tid).write(fds, &out) {
        let t = table(k, tid);
        let read_end = t.borrow_mut().remove(rfd as u32);
        let write_end = t.borrow_mut().remove(wfd as u32);
        drop((read_end, write_end));
        return Err(e);
    }
    Ok(0)
}

pub fn eventfd2<A: Arch>(k: &mut Kernel<A>, tid: Tid, initial: u64, flags: u64) -> SysResult {
    let flags = flags as u32;
    if flags & !(O_CLOEXEC | O_NONBLOCK | EFD_SEMAPHORE) != 0 {
        return Err(Errno::EINVAL);
    }
    let e = EventFd::new(initial as u32, flags & EFD_SEMAPHORE != 0);
    let f = FileDescription::new(File::EventFd(e), O_RDWR | (flags & O_NONBLOCK));
    install(k, tid, f, flags & O_CLOEXEC != 0, 0).map_err(|_| Errno::EMFILE)
}

// ----- poll and select ---------------------------------------------------------------------

/// Readiness of `fd` for poll: POLLNVAL if it is not open.
fn poll_fd<A: Arch>(k: &Kernel<A>, t: &SharedTable, fd: i32) -> (u32, Option<OpenFile>) {
    let Some(f) = (fd >= 0)
        .then(|| t.borrow().get(fd as u32).cloned())
        .flatten()
    else {
        return (POLLNVAL, None);
    };
    let mask = f.borrow().poll(&k.console_tty.tty, 0);
    (mask, Some(f))
}

/// How many pollfd entries are read from user memory at a time.
const POLL_CHUNK: usize = 256;

/// Reads the pollfd array chunk by chunk (it can be as long as RLIMIT_NOFILE allows) and
/// calls `f` on each chunk; with `write_back` the chunk is then stored back.
fn for_each_pollfd_chunk<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    fds: u64,
    nfds: u64,
    write_back: bool,
    mut f: impl FnMut(&mut Kernel<A>, &mut [u8]),
) -> Result<(), Errno> {
    let mut at = 0;
    while at < nfds {
        let n = (nfds - at).min(POLL_CHUNK as u64);
        let address = fds + at * 8;
        let mut raw = alloc::vec![0u8; n as usize * 8];
        k.user(tid).read(address, &mut raw)?;
        f(k, &mut raw);
        if write_back {
            k.user(tid).write(address, &raw)?;
        }
        at += n;
    }
    Ok(())
}

/// The common part of poll and ppoll: `deadline` None waits for ever. A first pass counts
/// what is ready; if anything is (or time is up), a second pass stores every revents (nothing
/// can change in between); otherwise a second pass registers the wait on every file.
fn do_poll<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    fds: u64,
    nfds: u64,
    deadline: Option<u64>,
    sigmask: u64,
) -> Result<Outcome, Errno> {
    let t = table(k, tid);
    let revents = |k: &Kernel<A>, entry: &[u8]| -> (u32, Option<OpenFile>) {
        let fd = i32::from_le_bytes(entry[..4].try_into().unwrap());
        if fd < 0 {
            return (0, None);
        }
        let events = u16::from_le_bytes([entry[4], entry[5]]) as u32;
        match poll_fd(k, &t, fd) {
            (_, None) => (POLLNVAL, None),
            (mask, f) => (mask & (events | POLLERR | POLLHUP), f),
        }
    };
    let mut ready = 0u64;
    let mut sample = false;
    for_each_pollfd_chunk(k, tid, fds, nfds, false, |k, raw| {
        for entry in raw.chunks_exact(8) {
            let (mask, f) = revents(k, entry);
            ready += (mask != 0) as u64;
            sample |= f.is_some_and(|f| f.borrow().needs_sampling(0));
        }
    })?;
    if ready > 0 || expired(k, deadline) {
        for_each_pollfd_chunk(k, tid, fds, nfds, true, |k, raw| {
            for entry in raw.chunks_exact_mut(8) {
                let (mask, _) = revents(k, entry);
                entry[6..8].copy_from_slice(&(mask as u16).to_le_bytes());
            }
        })?;
        restore_sigmask(k, tid, sigmask);
        return Ok(Outcome::Return(ready));
    }
    if sigmask != 0 && signal_pending(k, tid) {
        return Ok(interrupted(k, tid));
    }
    let key = wait::new_key();
    for_each_pollfd_chunk(k, tid, fds, nfds, false, |k, raw| {
        for entry in raw.chunks_exact(8) {
            if let (_, Some(f)) = revents(k, entry) {
                f.borrow_mut().register(key);
            }
        }
    })?;
    Ok(park_poll(k, tid, key, deadline, sample))
}

/// Parks a read or write that cannot proceed until `key` is notified, with `progress` bytes
/// already transferred (a restartable call: SA_RESTART re-runs it).
fn park_io<A: Arch>(k: &mut Kernel<A>, tid: Tid, key: u64, progress: u64) -> Outcome {
    let park = Park {
        key,
        deadline: None,
        wake_at: None,
        progress,
        restart: Restart::IfSaRestart,
    };
    wait::park(k, tid, park)
}

/// Parks poll, select or epoll until `key` is notified or `deadline` passes (also waking to
/// sample files that cannot notify, when `sample`); a handler ends it with -EINTR, as Linux's
/// ERESTARTNOHAND does.
fn park_poll<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    key: u64,
    deadline: Option<u64>,
    sample: bool,
) -> Outcome {
    let wake_at = wake_at(k, deadline, sample);
    wait::park(
        k,
        tid,
        Park {
            key,
            deadline,
            wake_at,
            progress: 0,
            restart: Restart::Never,
        },
    )
}

fn check_nfds<A: Arch>(k: &Kernel<A>, tid: Tid, nfds: u64) -> Result<(), Errno> {
    if nfds > fd_limit(k, tid) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

pub fn poll<A: Arch>(k: &mut Kernel<A>, tid: Tid, fds: u64, nfds: u64, timeout: u64) -> Outcome {
    let resume = wait::resume(k, tid);
    let nfds = nfds as u32 as u64;
    if let Err(e) = check_nfds(k, tid, nfds) {
        return ret(Err(e));
    }
    let deadline = if resume.rerun {
        resume.deadline
    } else {
        match timeout as i32 {
            ms if ms < 0 => None,
            ms => Some(after(k, ms as u64 * 1_000_000)),
        }
    };
    do_poll(k, tid, fds, nfds, deadline, 0).unwrap_or_else(|e| ret(Err(e)))
}

/// Reads a relative `struct timespec` timeout into an absolute deadline (a re-run keeps the
/// first run's); `None` for a NULL pointer (wait for ever).
fn timespec_deadline<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    resume: &Resume,
    address: u64,
) -> Result<Option<u64>, Errno> {
    if resume.rerun {
        return Ok(resume.deadline);
    }
    if address == 0 {
        return Ok(None);
    }
    let ns = time::timespec_ns(k.user(tid).read_array::<16>(address)?)?;
    Ok(Some(after(k, ns)))
}

/// ppoll/pselect6/select report the time left in their timeout argument (Linux does, unless
/// the timeout was zero); a fault there is ignored.
fn write_time_left<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    address: u64,
    deadline: Option<u64>,
    timeval: bool,
) {
    let (Some(deadline), true) = (deadline, address != 0) else {
        return;
    };
    let raw = k.user(tid).read_array::<16>(address).unwrap_or([0; 16]);
    if raw == [0; 16] {
        return;
    }
    let left = deadline.saturating_sub(k.clock.monotonic());
    let bytes = if timeval {
        time::timeval(left)
    } else {
        time::timespec(left)
    };
    let _ = k.user(tid).write(address, &bytes);
}

pub fn ppoll<A: Arch>(k: &mut Kernel<A>, tid: Tid, a: [u64; 6]) -> Outcome {
    let [fds, nfds, tsp, sigmask, sigsetsize, _] = a;
    let resume = wait::resume(k, tid);
    let result = (|| {
        let deadline = timespec_deadline(k, tid, &resume, tsp)?;
        if !resume.rerun {
            apply_sigmask(k, tid, sigmask, sigsetsize)?;
        }
        let nfds = nfds as u32 as u64;
        if let Err(e) = check_nfds(k, tid, nfds) {
            restore_sigmask(k, tid, sigmask);
            return Err(e);
        }
        let outcome = do_poll(k, tid, fds, nfds, deadline, sigmask).inspect_err(|_| {
            restore_sigmask(k, tid, sigmask);
        })?;
        if let Outcome::Return(_) = outcome {
            write_time_left(k, tid, tsp, deadline, false);
        }
        Ok(outcome)
    })();
    result.unwrap_or_else(|e| ret(Err(e)))
}

/// Linux's fdtable size for the highest open descriptor: select() ignores bits beyond it.
fn table_size(highest: Option<u32>) -> u64 {
    match highest {
        Some(h) if h >= 64 => {
            // alloc_fdtable: slots in units of 1024 bytes of pointers, a power of two of them.
            let unit = 128u64;
            ((h as u64 + 1) / unit + 1).next_power_of_two() * unit
        }
        _ => 64,
    }
}

fn do_select<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    n: u64,
    sets: [u64; 3],
    deadline: Option<u64>,
    sigmask: u64,
) -> Result<Outcome, Errno> {
    let n = n as i32;
    if n < 0 {
        return Err(Errno::EINVAL);
    }
    let t = table(k, tid);
    let max = table_size(t.borrow().fds().last());
    let n = (n as u64).min(max);
    let bytes = n.div_ceil(64) as usize * 8;
    let mut input = [
        alloc::vec![0u8; bytes],
        alloc::vec![0u8; bytes],
        alloc::vec![0u8; bytes],
    ];
    for (set, &address) in input.iter_mut().zip(sets.iter()) {
        if address != 0 {
            k.user(tid).read(address, set)?;
        }
    }
    let bit = |set: &[u8], fd: usize| set[fd / 8] & (1 << (fd % 8)) != 0;
    let mut output = [
        alloc::vec![0u8; bytes],
        alloc::vec![0u8; bytes],
        alloc::vec![0u8; bytes],
    ];
    let mut files = Vec::new();
    let mut count = 0u64;
    let mut sample = false;
    for fd in 0..n as usize {
        let wanted = [0, 1, 2].map(|s| bit(&input[s], fd));
        if !wanted.iter().any(|&w| w) {
            continue;
        }
        let f = t.borrow().get(fd as u32).cloned().ok_or(Errno::EBADF)?;
        let mask = f.borrow().poll(&k.console_tty.tty, 0);
        sample |= f.borrow().needs_sampling(0);
        for (s, class) in [SELECT_IN, SELECT_OUT, SELECT_EX].into_iter().enumerate() {
            if wanted[s] && mask & class != 0 {
                output[s][fd / 8] |= 1 << (fd % 8);
                count += 1;
            }
        }
        files.push(f);
    }
    if count > 0 || expired(k, deadline) {
        for (set, &address) in output.iter().zip(sets.iter()) {
            if address != 0 {
                k.user(tid).write(address, set)?;
            }
        }
        restore_sigmask(k, tid, sigmask);
        return Ok(Outcome::Return(count));
    }
    if sigmask != 0 && signal_pending(k, tid) {
        return Ok(interrupted(k, tid));
    }
    let key = wait::new_key();
    for f in files {
        f.borrow_mut().register(key);
    }
    Ok(park_poll(k, tid, key, deadline, sample))
}

pub fn select<A: Arch>(k: &mut Kernel<A>, tid: Tid, a: [u64; 6]) -> Outcome {
    let [n, inp, outp, exp, tvp, _] = a;
    let resume = wait::resume(k, tid);
    let result = (|| {
        let deadline = if resume.rerun {
            resume.deadline
        } else if tvp == 0 {
            None
        } else {
            let raw = k.user(tid).read_array::<16>(tvp)?;
            let sec = i64::from_le_bytes(raw[..8].try_into().unwrap());
            let usec = i64::from_le_bytes(raw[8..].try_into().unwrap());
            // Linux folds whole seconds out of tv_usec; what is negative is invalid.
            let sec = sec.checked_add(usec / 1_000_000).ok_or(Errno::EINVAL)?;
            let nsec = (usec % 1_000_000) * 1000;
            if sec < 0 || nsec < 0 {
                return Err(Errno::EINVAL);
            }
            Some(after(
                k,
                (sec as u64)
                    .saturating_mul(time::NSEC_PER_SEC)
                    .saturating_add(nsec as u64),
            ))
        };
        let outcome = do_select(k, tid, n, [inp, outp, exp], deadline, 0)?;
        if let Outcome::Return(_) = outcome {
            write_time_left(k, tid, tvp, deadline, true);
        }
        Ok(outcome)
    })();
    result.unwrap_or_else(|e| ret(Err(e)))
}

pub fn pselect6<A: Arch>(k: &mut Kernel<A>, tid: Tid, a: [u64; 6]) -> Outcome {
    let [n, inp, outp, exp, tsp, sig] = a;
    let resume = wait::resume(k, tid);
    let result = (|| {
        let deadline = timespec_deadline(k, tid, &resume, tsp)?;
        // The sixth argument points at { const sigset_t *ss; size_t ss_len; }.
        let (mask, size) = if sig != 0 {
            let raw = k.user(tid).read_array::<16>(sig)?;
            (
                u64::from_le_bytes(raw[..8].try_into().unwrap()),
                u64::from_le_bytes(raw[8..].try_into().unwrap()),
            )
        } else {
            (0, 0)
        };
        if !resume.rerun {
            apply_sigmask(k, tid, mask, size)?;
        }
        let outcome = do_select(k, tid, n, [inp, outp, exp], deadline, mask).inspect_err(|_| {
            restore_sigmask(k, tid, mask);
        })?;
        if let Outcome::Return(_) = outcome {
            write_time_left(k, tid, tsp, deadline, false);
        }
        Ok(outcome)
    })();
    result.unwrap_or_else(|e| ret(Err(e)))
}

// ----- epoll -------------------------------------------------------------------------------

const EPOLL_CTL_ADD: u64 = 1;
const EPOLL_CTL_DEL: u64 = 2;
const EPOLL_CTL_MOD: u64 = 3;
/// What an EPOLLEXCLUSIVE item may ask for.
const EXCLUSIVE_OK: u32 =
    EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;

/// `struct epoll_event` is packed (12 bytes) on x86_64 and naturally aligned (16) elsewhere.
fn epoll_event_size<A: Arch>() -> u64 {
    if A::ELF_MACHINE == crate::elf::EM_X86_64 {
        12
    } else {
        16
    }
}

pub fn epoll_create<A: Arch>(k: &mut Kernel<A>, tid: Tid, size: u64) -> SysResult {
    if (size as i32) <= 0 {
        return Err(Errno::EINVAL);
    }
    epoll_create1(k, tid, 0)
}

pub fn epoll_create1<A: Arch>(k: &mut Kernel<A>, tid: Tid, flags: u64) -> SysResult {
    let flags = flags as u32;
    if flags & !O_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    let f = FileDescription::new(File::Epoll(Epoll::new()), O_RDWR);
    install(k, tid, f, flags & O_CLOEXEC != 0, 0).map_err(|_| Errno::EMFILE)
}

pub fn epoll_ctl<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    epfd: u64,
    op: u64,
    fd: u64,
    event: u64,
) -> SysResult {
    let op = op as u32 as u64;
    let (events, data) = if op != EPOLL_CTL_DEL {
        let size = epoll_event_size::<A>() as usize;
        let mut raw = [0u8; 16];
        k.user(tid).read(event, &mut raw[..size])?;
        let data_at = size - 8;
        (
            u32::from_le_bytes(raw[..4].try_into().unwrap()),
            u64::from_le_bytes(raw[data_at..data_at + 8].try_into().unwrap()),
        )
    } else {
        (0, 0)
    };
    let ep_file = file(k, tid, epfd)?;
    let target = file(k, tid, fd)?;
    if alloc::rc::Rc::ptr_eq(&ep_file, &target) || !matches!(ep_file.borrow().file, File::Epoll(_))
    {
        return Err(Errno::EINVAL);
    }
    let target_is_epoll = matches!(target.borrow().file, File::Epoll(_));
    if op != EPOLL_CTL_DEL && events & EPOLLEXCLUSIVE != 0 {
        if op == EPOLL_CTL_MOD {
            return Err(Errno::EINVAL);
        }
        if op == EPOLL_CTL_ADD && (target_is_epoll || events & !EXCLUSIVE_OK != 0) {
            return Err(Errno::EINVAL);
        }
    }
    if op == EPOLL_CTL_ADD && target_is_epoll && epoll::would_loop(&target, &ep_file) {
        return Err(Errno::ELOOP);
    }
    let console = &k.console_tty.tty;
    let fd = fd as u32;
    let mut d = ep_file.borrow_mut();
    let File::Epoll(ep) = &mut d.file else {
        return Err(Errno::EINVAL);
    };
    match op {
        EPOLL_CTL_ADD => ep.add(fd, &target, epoll::with_error_events(events), data, console),
        EPOLL_CTL_DEL => ep.delete(fd, &target),
        EPOLL_CTL_MOD => match ep.events_of(fd, &target) {
            None => Err(Errno::ENOENT),
            Some(old) if old & EPOLLEXCLUSIVE != 0 => Err(Errno::EINVAL),
            Some(_) => ep.modify(fd, &target, epoll::with_error_events(events), data, console),
        },
        _ => Err(Errno::EINVAL),
    }
    .map(|()| 0)
}

/// epoll_wait, epoll_pwait and epoll_pwait2. `timeout` is the relative timeout in ns (None:
/// for ever), read by the caller.
fn do_epoll_wait<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    epfd: u64,
    events: u64,
    maxevents: u64,
    deadline: Option<u64>,
    sigmask: u64,
) -> Result<Outcome, Errno> {
    let size = epoll_event_size::<A>();
    let max = maxevents as i32;
    if max <= 0 || max as u64 > i32::MAX as u64 / size {
        return Err(Errno::EINVAL);
    }
    access_ok::<A>(events, max as u64 * size)?;
    let f = file(k, tid, epfd)?;
    let console = &k.console_tty.tty;
    let (found, sample) = {
        let mut d = f.borrow_mut();
        let File::Epoll(ep) = &mut d.file else {
            return Err(Errno::EINVAL);
        };
        (ep.collect(max as usize, console), ep.needs_sampling(0))
    };
    if !found.is_empty() {
        let mut written = 0u64;
        for (revents, data) in &found {
            let mut raw = [0u8; 16];
            raw[..4].copy_from_slice(&revents.to_le_bytes());
            let data_at = size as usize - 8;
            raw[data_at..data_at + 8].copy_from_slice(&data.to_le_bytes());
            let at = events + written * size;
            if let Err(e) = k.user(tid).write(at, &raw[..size as usize]) {
                if written == 0 {
                    restore_sigmask(k, tid, sigmask);
                    return Err(e);
                }
                break;
            }
            written += 1;
        }
        restore_sigmask(k, tid, sigmask);
        return Ok(Outcome::Return(written));
    }
    if expired(k, deadline) {
        restore_sigmask(k, tid, sigmask);
        return Ok(Outcome::Return(0));
    }
    if sigmask != 0 && signal_pending(k, tid) {
        return Ok(interrupted(k, tid));
    }
    let key = wait::new_key();
    f.borrow_mut().register(key);
    Ok(park_poll(k, tid, key, deadline, sample))
}

/// epoll_wait(2) (`sigmask` 0) and epoll_pwait(2): the timeout in milliseconds.
pub fn epoll_pwait<A: Arch>(k: &mut Kernel<A>, tid: Tid, a: [u64; 6]) -> Outcome {
    let [epfd, events, maxevents, timeout, sigmask, sigsetsize] = a;
    let resume = wait::resume(k, tid);
    let result = (|| {
        if !resume.rerun {
            apply_sigmask(k, tid, sigmask, sigsetsize)?;
        }
        let deadline = if resume.rerun {
            resume.deadline
        } else {
            match timeout as i32 {
                ms if ms < 0 => None,
                ms => Some(after(k, ms as u64 * 1_000_000)),
            }
        };
        do_epoll_wait(k, tid, epfd, events, maxevents, deadline, sigmask).inspect_err(|_| {
            restore_sigmask(k, tid, sigmask);
        })
    })();
    result.unwrap_or_else(|e| ret(Err(e)))
}

pub fn epoll_pwait2<A: Arch>(k: &mut Kernel<A>, tid: Tid, a: [u64; 6]) -> Outcome {
    let [epfd, events, maxevents, tsp, sigmask, sigsetsize] = a;
    let resume = wait::resume(k, tid);
    let result = (|| {
        let deadline = timespec_deadline(k, tid, &resume, tsp)?;
        if !resume.rerun {
            apply_sigmask(k, tid, sigmask, sigsetsize)?;
        }
        do_epoll_wait(k, tid, epfd, events, maxevents, deadline, sigmask).inspect_err(|_| {
            restore_sigmask(k, tid, sigmask);
        })
    })();
    result.unwrap_or_else(|e| ret(Err(e)))
}

/// fsync, fdatasync, syncfs, fadvise64, readahead: everything lives in memory, so there is
/// nothing to do beyond checking the descriptor.
pub fn fd_exists<A: Arch>(k: &mut Kernel<A>, tid: Tid, fd: u64) -> SysResult {
    file(k, tid, fd).map(|_| 0)
}

const LOCK_SH: u64 = 1;
const LOCK_EX: u64 = 2;
const LOCK_NB: u64 = 4;
const LOCK_UN: u64 = 8;

/// flock(2): accepted after Linux's argument checks; with one file owner per lock (Cyphera
/// does not track lock owners yet) every request succeeds at once, as in [`lock`].
pub fn flock<A: Arch>(k: &mut Kernel<A>, tid: Tid, fd: u64, op: u64) -> SysResult {
    file(k, tid, fd)?;
    match op & !LOCK_NB {
        LOCK_SH | LOCK_EX | LOCK_UN => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

/// sendfile(2): from a regular file (at `*offset`, or its file position) to any writable
/// descriptor, one chunk of at most 64 KiB per call (callers loop on short counts); a pipe
/// that is full parks the call, which then runs again from the start.
pub fn sendfile<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    out_fd: u64,
    in_fd: u64,
    offset_ptr: u64,
    count: u64,
) -> Outcome {
    ret((|| {
        let input = file(k, tid, in_fd)?;
        let output = file(k, tid, out_fd)?;
        if !input.borrow().readable() || !output.borrow().writable() {
            return Err(Errno::EBADF);
        }
        if output.borrow().status_flags & O_APPEND != 0 {
            return Err(Errno::EINVAL);
        }
        let pos = if offset_ptr != 0 {
            let p = k.user(tid).read_u64(offset_ptr)? as i64;
            if p < 0 {
                return Err(Errno::EINVAL);
            }
            p as u64
        } else {
            input.borrow().offset
        };
        if !matches!(input.borrow().file, File::Node(_) | File::Device(_)) {
            return Err(Errno::EINVAL);
        }
        let n = count.min(MAX_RW_COUNT).min(64 * 1024) as usize;
        let bytes = produce(&input, &mut k.rng, pos, n)?;
        let written = write_kernel(k, tid, &output, &bytes)?;
        if offset_ptr != 0 {
            k.user(tid).write_u64(offset_ptr, pos + written)?;
        } else if input.borrow().node().is_some() {
            input.borrow_mut().offset = pos + written;
        }
        Ok(written)
    })())
}

/// Writes kernel bytes to a description (sendfile, copy_file_range), without blocking: a full
/// pipe takes what fits (EAGAIN if nothing).
fn write_kernel<A: Arch>(k: &mut Kernel<A>, tid: Tid, f: &OpenFile, bytes: &[u8]) -> SysResult {
    let mut source = crate::fd::io::SliceSource { data: bytes };
    let is_pipe = matches!(f.borrow().file, File::Pipe(_));
    if is_pipe {
        let pipe = match &f.borrow().file {
            File::Pipe(end) => end.pipe.clone(),
            _ => unreachable!("checked above"),
        };
        let (result, broken) = pipe.borrow_mut().write(&mut source, true, false, 0);
        if broken {
            let pid = k.threads[&tid].pid;
            k.send_to_thread(tid, SigInfo::user(signal::SIGPIPE, signal::SI_USER, pid));
        }
        return match result? {
            Transfer::Done(n) => Ok(n),
            Transfer::WouldBlock { progress } if progress > 0 => Ok(progress),
            Transfer::WouldBlock { .. } => Err(Errno::EAGAIN),
        };
    }
    let console = matches!(f.borrow().file, File::Console);
    if console {
        tty_glue::output(k, bytes);
        return Ok(bytes.len() as u64);
    }
    let pos = {
        let d = f.borrow();
        match d.node() {
            Some(n) if d.status_flags & O_APPEND != 0 => n.size(),
            _ => d.offset,
        }
    };
    let now = super::path::now(k);
    let n = write_stateless(f, &mut source, pos, now)?;
    if f.borrow().node().is_some() {
        f.borrow_mut().offset = pos + n;
    }
    Ok(n)
}

/// copy_file_range(2) between regular files (one chunk of at most 1 MiB per call; a short
/// count is allowed and callers loop).
pub fn copy_file_range<A: Arch>(k: &mut Kernel<A>, tid: Tid, a: [u64; 6]) -> SysResult {
    let (fd_in, off_in, fd_out, off_out, len, flags) = (a[0], a[1], a[2], a[3], a[4], a[5]);
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let input = file(k, tid, fd_in)?;
    let output = file(k, tid, fd_out)?;
    if !input.borrow().readable() || !output.borrow().writable() {
        return Err(Errno::EBADF);
    }
    if output.borrow().status_flags & O_APPEND != 0 {
        return Err(Errno::EBADF);
    }
    let regular = |f: &OpenFile| {
        f.borrow()
            .node()
            .map(|n| n.file_type())
            .ok_or(Errno::EINVAL)
    };
    match (regular(&input)?, regular(&output)?) {
        (crate::vfs::S_IFDIR, _) | (_, crate::vfs::S_IFDIR) => return Err(Errno::EISDIR),
        (crate::vfs::S_IFREG, crate::vfs::S_IFREG) => {}
        _ => return Err(Errno::EINVAL),
    }
    let read_pos = |k: &mut Kernel<A>, ptr: u64, f: &OpenFile| -> Result<u64, Errno> {
        if ptr == 0 {
            Ok(f.borrow().offset)
        } else {
            let p = k.user(tid).read_u64(ptr)? as i64;
            if p < 0 {
                Err(Errno::EINVAL)
            } else {
                Ok(p as u64)
            }
        }
    };
    let pin = read_pos(k, off_in, &input)?;
    let pout = read_pos(k, off_out, &output)?;
    let same = alloc::rc::Rc::ptr_eq(
        input.borrow().node().unwrap(),
        output.borrow().node().unwrap(),
    );
    if same && pin < pout.saturating_add(len) && pout < pin.saturating_add(len) {
        return Err(Errno::EINVAL);
    }
    let bytes = produce(&input, &mut k.rng, pin, len.min(1 << 20) as usize)?;
    let now = super::path::now(k);
    let n = write_stateless(
        &output,
        &mut crate::fd::io::SliceSource { data: &bytes },
        pout,
        now,
    )?;
    if off_in == 0 {
        input.borrow_mut().offset = pin + n;
    } else {
        k.user(tid).write_u64(off_in, pin + n)?;
    }
    if off_out == 0 {
        output.borrow_mut().offset = pout + n;
    } else {
        k.user(tid).write_u64(off_out, pout + n)?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_table_sizes_follow_linux() {
        assert_eq!(table_size(None), 64);
        assert_eq!(table_size(Some(2)), 64);
        assert_eq!(table_size(Some(63)), 64);
        assert_eq!(table_size(Some(64)), 128);
        assert_eq!(table_size(Some(200)), 256);
        assert_eq!(table_size(Some(1000)), 1024);
    }
}
