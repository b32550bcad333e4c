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
    self, File, FileDescription, O_APPEND, O_CLOEXEC, O_DIRECT_AARCH64, O_DIRECT_X86_64,
    O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY, OpenFile, SharedTable,
};
use crate::signal::{self, SigInfo, SigSet};
use crate::task::{Kernel, RLIMIT_NOFILE, Restart, Tid};
use crate::time;
use crate::usermem::UserMem;
use alloc::vec::Vec;
use hal::arch::Arch;
use hal::mmu::PAGE_SIZE;

/// Linux caps one read/write at MAX_RW_COUNT (INT_MAX rounded down to a page).
const MAX_RW_COUNT: u64 = 0x7fff_f000;
/// Linux's UIO_MAXIOV.
const IOV_MAX: u64 = 1024;
/// Linux's sysctl_nr_open default: no descriptor number reaches it whatever RLIMIT_NOFILE says.
const NR_OPEN: u64 = 1 << 20;
/// How often a wait involving the console looks at its receiver (no receive interrupt yet).
const CONSOLE_POLL_NS: u64 = 10_000_000;
const O_NOATIME: u32 = 0o1000000;

// ----- helpers -----------------------------------------------------------------------------

fn table<A: Arch>(k: &Kernel<A>, tid: Tid) -> SharedTable {
    k.process_of(tid).files.clone()
}

/// The description behind `fd`, or EBADF. Descriptors are `unsigned int` (or `int`, where a
/// negative one is simply not open): the register's upper half is ignored, as Linux does.
fn file<A: Arch>(k: &Kernel<A>, tid: Tid, fd: u64) -> Result<OpenFile, Errno> {
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
    let p = &k.processes[&t.pid];
    t.pending
        .set()
        .union(p.pending.set())
        .minus(t.blocked.sanitized())
        .lowest()
        .is_some()
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

/// pread64/pwrite64: a negative position is EINVAL (checked first, as Linux does); none of
/// these files has positions, so the rest is EBADF or ESPIPE.
pub fn pread_pwrite<A: Arch>(k: &mut Kernel<A>, tid: Tid, fd: u64, position: u64) -> SysResult {
    if (position as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    file(k, tid, fd)?;
    Err(Errno::ESPIPE)
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
    let console = k.console;
    let mut desc = f.borrow_mut();
    match &mut desc.file {
        File::Console => {
            let mut sink = UserIo::new(k.user(tid), segs);
            let want = sink.left;
            if want == 0 {
                return ret(Ok(0));
            }
            let bytes = fd::console_read(console, want.min(4096));
            if bytes.is_empty() {
                drop(sink);
                drop(desc);
                if nonblock {
                    return ret(Err(Errno::EAGAIN));
                }
                // No receive interrupt yet: look again shortly.
                let key = wait::new_key();
                let wake = wake_at(k, None, true);
                return wait::park(
                    k,
                    tid,
                    Park {
                        key,
                        deadline: None,
                        wake_at: wake,
                        progress: 0,
                        restart: Restart::IfSaRestart,
                    },
                );
            }
            ret(sink.put(&bytes).map(|()| bytes.len() as u64))
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
    let console = k.console;
    let mut desc = f.borrow_mut();
    match &mut desc.file {
        File::Console => {
            // Page by page, so that a fault after some bytes is a short write, as on Linux.
            let mut source = UserIo::new(k.user(tid), segs);
            let mut done = 0u64;
            let mut chunk = [0u8; 4096];
            loop {
                let n = source.page_chunk();
                if n == 0 {
                    break;
                }
                if let Err(e) = source.take(&mut chunk[..n]) {
                    return ret(if done > 0 { Ok(done) } else { Err(e) });
                }
                console.write_bytes(&chunk[..n]);
                done += n as u64;
            }
            ret(Ok(done))
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

/// ioctl(2): the generic requests every file takes, and FIONREAD on pipes. Terminal requests
/// (TCGETS, TIOCGWINSZ, ...) are ENOTTY until the console becomes a tty.
pub fn ioctl<A: Arch>(k: &mut Kernel<A>, tid: Tid, fd: u64, cmd: u64, arg: u64) -> SysResult {
    let f = file(k, tid, fd)?;
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
        FIONREAD => {
            let available = match &f.borrow().file {
                File::Pipe(end) => end.pipe.borrow().available(),
                _ => return Err(Errno::ENOTTY),
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
    match f.borrow().file {
        File::Console | File::Pipe(_) => Err(Errno::ESPIPE),
        File::Epoll(_) | File::EventFd(_) => Ok(0),
    }
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
    let mask = f.borrow().poll(k.console, 0);
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
        let mask = f.borrow().poll(k.console, 0);
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
    let console = k.console;
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
    let console = k.console;
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
