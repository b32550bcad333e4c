//! File descriptors: each process has a table (shared by CLONE_FILES, copied by fork) mapping
//! numbers to open file descriptions, which are shared by dup and fork and carry the offset and
//! status flags. This is the layer the VFS plugs its files into; the files so far are the
//! console (init's 0, 1 and 2), pipes, epoll instances and eventfds. How a call that cannot
//! proceed waits for them is in [`wait`].

pub mod epoll;
pub mod eventfd;
pub mod io;
pub mod node;
pub mod pipe;
pub mod poll;
pub mod wait;

#[cfg(test)]
mod scenario_tests;

pub use wait::{drain_notifications, notifications_pending};

use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use core::cell::RefCell;

/// An open file description: what `open` creates and `dup`/`fork` share.
pub type OpenFile = Rc<RefCell<FileDescription>>;

/// A file table shared by the processes created with CLONE_FILES.
pub type SharedTable = Rc<RefCell<FdTable>>;

pub struct FileDescription {
    pub file: File,
    /// The access mode and the status flags (O_APPEND, O_NONBLOCK, O_DIRECT), as F_GETFL
    /// reports them.
    pub status_flags: u32,
    /// The file position (regular files, /proc files; directories keep theirs in the node
    /// state).
    pub offset: u64,
    /// Where it was opened, for files opened by path: fstat, fchdir, the *at calls and
    /// /proc/<pid>/fd name it through this.
    pub path: Option<crate::vfs::Location>,
}

/// What a description refers to.
pub enum File {
    /// The console (a UART): writes go to the board console, reads poll its receiver.
    Console,
    /// One end of a pipe.
    Pipe(pipe::PipeEnd),
    Epoll(epoll::Epoll),
    EventFd(eventfd::EventFd),
    /// A regular file, directory or /proc file (`path` holds the node).
    Node(node::NodeFile),
    /// A character device without state: null, zero, full, random, urandom.
    Device(crate::vfs::devfs::Device),
}

pub const O_ACCMODE: u32 = 3;
pub const O_RDONLY: u32 = 0;
pub const O_WRONLY: u32 = 1;
pub const O_RDWR: u32 = 2;
pub const O_APPEND: u32 = 0o2000;
pub const O_NONBLOCK: u32 = 0o4000;
pub const O_CLOEXEC: u32 = 0o2000000;
/// O_DIRECT differs between the architectures (asm-generic vs arm64's fcntl.h).
pub const O_DIRECT_X86_64: u32 = 0o40000;
pub const O_DIRECT_AARCH64: u32 = 0o200000;

impl FileDescription {
    pub fn new(file: File, status_flags: u32) -> OpenFile {
        Rc::new(RefCell::new(Self {
            file,
            status_flags,
            offset: 0,
            path: None,
        }))
    }

    /// A description of a file opened by path.
    pub fn at(file: File, status_flags: u32, path: crate::vfs::Location) -> OpenFile {
        Rc::new(RefCell::new(Self {
            file,
            status_flags,
            offset: 0,
            path: Some(path),
        }))
    }

    /// The VFS node behind a description opened by path.
    pub fn node(&self) -> Option<&crate::vfs::NodeRef> {
        self.path.as_ref().map(|l| &l.node)
    }

    pub fn readable(&self) -> bool {
        self.status_flags & O_ACCMODE != O_WRONLY
    }

    pub fn writable(&self) -> bool {
        matches!(self.status_flags & O_ACCMODE, O_WRONLY | O_RDWR)
    }

    pub fn nonblocking(&self) -> bool {
        self.status_flags & O_NONBLOCK != 0
    }

    /// poll(2) readiness now. `depth` bounds nested epoll instances.
    pub fn poll(&self, tty: &crate::tty::Tty, depth: usize) -> u32 {
        match &self.file {
            File::Console => {
                let mut mask = poll::POLLOUT | poll::POLLWRNORM;
                if tty.readable() {
                    mask |= poll::POLLIN | poll::POLLRDNORM;
                }
                mask
            }
            File::Pipe(end) => end.pipe.borrow().poll(end.write),
            File::Epoll(ep) => ep.poll(tty, depth),
            File::EventFd(e) => e.poll(),
            // Regular files and these devices never block (Linux's DEFAULT_POLLMASK).
            File::Node(_) | File::Device(_) => {
                poll::POLLIN | poll::POLLRDNORM | poll::POLLOUT | poll::POLLWRNORM
            }
        }
    }

    /// The wait queue that wakes when this file's readiness changes; `None` for files without
    /// wakeups (the console), which are sampled instead: see [`Self::needs_sampling`].
    fn with_queue<R>(&mut self, f: impl FnOnce(&mut wait::WaitQueue) -> R) -> Option<R> {
        match &mut self.file {
            File::Console => None,
            File::Pipe(end) => {
                let mut p = end.pipe.borrow_mut();
                Some(if end.write {
                    f(&mut p.write_queue)
                } else {
                    f(&mut p.read_queue)
                })
            }
            File::Epoll(ep) => Some(f(&mut ep.ready.borrow_mut().queue)),
            File::EventFd(e) => Some(f(&mut e.queue)),
            File::Node(_) | File::Device(_) => None,
        }
    }

    /// Adds a parked call's key to this file's wait queue.
    pub fn register(&mut self, key: u64) {
        self.with_queue(|q| q.register(key));
    }

    /// Subscribes an epoll item; false if the file has no wakeups.
    pub fn subscribe(&mut self, watch: &Rc<wait::Watch>) -> bool {
        self.with_queue(|q| q.subscribe(watch)).is_some()
    }

    /// A wait on this file must poll it periodically: the console has no receive interrupt
    /// yet (so neither does an epoll instance watching it).
    pub fn needs_sampling(&self, depth: usize) -> bool {
        match &self.file {
            File::Console => true,
            File::Epoll(ep) => ep.needs_sampling(depth),
            File::Pipe(_) | File::EventFd(_) | File::Node(_) | File::Device(_) => false,
        }
    }
}

/// Linux's default RLIMIT_NOFILE soft limit bounds the table.
pub const DEFAULT_MAX_FDS: usize = 1024;

#[derive(Clone)]
struct Slot {
    file: OpenFile,
    close_on_exec: bool,
}

#[derive(Clone, Default)]
pub struct FdTable {
    slots: BTreeMap<u32, Slot>,
}

impl FdTable {
    /// init's table: descriptors 0, 1 and 2 open on the console, read-write.
    pub fn with_console() -> Self {
        let console = FileDescription::new(File::Console, O_RDWR);
        let mut table = Self::default();
        for fd in 0..3 {
            table.slots.insert(
                fd,
                Slot {
                    file: console.clone(),
                    close_on_exec: false,
                },
            );
        }
        table
    }

    pub fn get(&self, fd: u32) -> Option<&OpenFile> {
        self.slots.get(&fd).map(|s| &s.file)
    }

    /// Installs `file` at the lowest free descriptor at or above `min` (below `limit`).
    pub fn insert(
        &mut self,
        file: OpenFile,
        close_on_exec: bool,
        min: u32,
        limit: usize,
    ) -> Option<u32> {
        let mut fd = min;
        for &used in self.slots.range(min..).map(|(k, _)| k) {
            if used != fd {
                break;
            }
            fd += 1;
        }
        ((fd as usize) < limit).then(|| {
            self.slots.insert(
                fd,
                Slot {
                    file,
                    close_on_exec,
                },
            );
            fd
        })
    }

    /// Installs `file` exactly at `fd`, replacing (and returning) what was there (dup2/dup3).
    pub fn insert_at(&mut self, fd: u32, file: OpenFile, close_on_exec: bool) -> Option<OpenFile> {
        self.slots
            .insert(
                fd,
                Slot {
                    file,
                    close_on_exec,
                },
            )
            .map(|s| s.file)
    }

    pub fn remove(&mut self, fd: u32) -> Option<OpenFile> {
        self.slots.remove(&fd).map(|s| s.file)
    }

    pub fn close_on_exec(&self, fd: u32) -> Option<bool> {
        self.slots.get(&fd).map(|s| s.close_on_exec)
    }

    pub fn set_close_on_exec(&mut self, fd: u32, value: bool) -> bool {
        self.slots
            .get_mut(&fd)
            .map(|s| s.close_on_exec = value)
            .is_some()
    }

    /// execve: descriptors marked close-on-exec go.
    pub fn close_cloexec(&mut self) -> alloc::vec::Vec<OpenFile> {
        let doomed: alloc::vec::Vec<u32> = self
            .slots
            .iter()
            .filter(|(_, s)| s.close_on_exec)
            .map(|(&fd, _)| fd)
            .collect();
        doomed
            .into_iter()
            .filter_map(|fd| self.remove(fd))
            .collect()
    }

    pub fn fds(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_free_descriptor_and_cloexec() {
        let mut t = FdTable::with_console();
        let console = t.get(1).unwrap().clone();
        assert_eq!(t.insert(console.clone(), true, 0, 1024), Some(3));
        t.remove(1);
        assert_eq!(t.insert(console.clone(), false, 0, 1024), Some(1));
        assert_eq!(t.insert(console.clone(), false, 10, 1024), Some(10));
        assert_eq!(t.insert(console.clone(), false, 0, 4), None, "limit");
        assert_eq!(t.close_cloexec().len(), 1);
        assert!(t.get(3).is_none());
        assert_eq!(t.fds().collect::<alloc::vec::Vec<_>>(), [0, 1, 2, 10]);
    }
}
