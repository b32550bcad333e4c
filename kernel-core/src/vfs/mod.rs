//! The virtual file system: inodes and the operations on them (tmpfs semantics), the mount
//! table, and locations (a node plus the mount it was reached through, so that `..` can climb
//! out of a mount). Path resolution is in [`path`], the initramfs unpacking in [`initramfs`],
//! the device nodes in [`devfs`] and the generated /proc tree in [`procfs`].
//!
//! Everything is in memory: a tmpfs file's bytes live on the kernel heap (files unpacked from
//! the initramfs point into it until first written), directories are sorted maps, and an inode
//! lives as long as a directory entry or an open file holds it (`Rc`).

pub mod devfs;
pub mod initramfs;
pub mod path;
pub mod procfs;

#[cfg(test)]
mod tests;

use crate::errno::Errno;
use alloc::collections::BTreeMap;
use alloc::rc::{Rc, Weak};
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

pub type NodeRef = Rc<Inode>;

pub const S_IFMT: u32 = 0o170000;
pub const S_IFSOCK: u32 = 0o140000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFBLK: u32 = 0o060000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFCHR: u32 = 0o020000;
pub const S_IFIFO: u32 = 0o010000;
pub const S_ISUID: u32 = 0o4000;
pub const S_ISGID: u32 = 0o2000;
pub const S_ISVTX: u32 = 0o1000;

/// Linux's NAME_MAX and PATH_MAX.
pub const NAME_MAX: usize = 255;
pub const PATH_MAX: usize = 4096;
/// Largest file a tmpfs holds here (the heap is the backing store).
pub const MAX_FILE_SIZE: u64 = 1 << 40;

/// A time stamp: seconds and nanoseconds since the epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timestamp {
    pub sec: i64,
    pub nsec: u32,
}

impl Timestamp {
    pub fn from_ns(ns: u64) -> Self {
        Self {
            sec: (ns / 1_000_000_000) as i64,
            nsec: (ns % 1_000_000_000) as u32,
        }
    }
}

/// What `stat` reports beyond the body: type and permission bits, owner, link count, times.
#[derive(Clone, Copy, Debug)]
pub struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    /// The device a device node stands for.
    pub rdev: u64,
    pub atime: Timestamp,
    pub mtime: Timestamp,
    pub ctime: Timestamp,
}

/// A regular file's bytes: borrowed from the initramfs until first written.
pub enum FileData {
    Static(&'static [u8]),
    Owned(Vec<u8>),
}

impl FileData {
    pub fn bytes(&self) -> &[u8] {
        match self {
            FileData::Static(b) => b,
            FileData::Owned(v) => v,
        }
    }

    pub fn len(&self) -> u64 {
        self.bytes().len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }

    fn owned(&mut self) -> &mut Vec<u8> {
        if let FileData::Static(b) = self {
            *self = FileData::Owned(b.to_vec());
        }
        match self {
            FileData::Owned(v) => v,
            FileData::Static(_) => unreachable!("converted above"),
        }
    }

    /// Copies from `offset` into `out`; returns the count (0 at or past the end).
    pub fn read_at(&self, offset: u64, out: &mut [u8]) -> usize {
        read_slice_at(self.bytes(), offset, out)
    }

    /// Writes `data` at `offset`, extending (with zeros for a hole) as needed.
    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), Errno> {
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|&e| e <= MAX_FILE_SIZE)
            .ok_or(Errno::EFBIG)?;
        let v = self.owned();
        if end as usize > v.len() {
            grow_room(v, end as usize)?;
            v.try_reserve(end as usize - v.len())
                .map_err(|_| Errno::ENOSPC)?;
            v.resize(end as usize, 0);
        }
        v[offset as usize..end as usize].copy_from_slice(data);
        Ok(())
    }

    pub fn truncate(&mut self, len: u64) -> Result<(), Errno> {
        if len > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        let v = self.owned();
        if len as usize > v.len() {
            grow_room(v, len as usize)?;
            v.try_reserve(len as usize - v.len())
                .map_err(|_| Errno::ENOSPC)?;
        }
        v.resize(len as usize, 0);
        v.shrink_to((len as usize).max(64));
        Ok(())
    }
}

/// File data lives on the kernel heap: a file may grow to `len` bytes only if what the vector
/// then allocates (at least double its capacity, as `try_reserve` grows it) leaves the room
/// crate::memory::heap_room_for_files keeps; otherwise the file system is full, ENOSPC, as a
/// full tmpfs is on Linux.
fn grow_room(v: &Vec<u8>, len: usize) -> Result<(), Errno> {
    if len <= v.capacity() {
        return Ok(());
    }
    let new_capacity = len.max(v.capacity().saturating_mul(2));
    if crate::memory::heap_room_for_files(new_capacity as u64) {
        Ok(())
    } else {
        Err(Errno::ENOSPC)
    }
}

/// Copies `bytes` from `offset` into `out`; returns the count (0 at or past the end).
pub fn read_slice_at(bytes: &[u8], offset: u64, out: &mut [u8]) -> usize {
    let Ok(start) = usize::try_from(offset) else {
        return 0;
    };
    if start >= bytes.len() {
        return 0;
    }
    let n = out.len().min(bytes.len() - start);
    out[..n].copy_from_slice(&bytes[start..start + n]);
    n
}

/// A directory: its entries (sorted by name, which is also the getdents order) and its parent.
pub struct Dir {
    pub entries: BTreeMap<Vec<u8>, NodeRef>,
    /// The directory this one is in; a file system's root points at itself (empty Weak).
    pub parent: Weak<Inode>,
}

/// What an inode holds.
pub enum Body {
    Dir(RefCell<Dir>),
    File(RefCell<FileData>),
    Symlink(Vec<u8>),
    /// A device, FIFO or socket node: its identity is `Meta::rdev` and the type bits.
    Special,
    /// A node of the generated /proc tree.
    Proc(procfs::ProcNode),
}

pub struct Inode {
    pub ino: u64,
    /// The file system's device number (st_dev).
    pub dev: u64,
    pub meta: RefCell<Meta>,
    pub body: Body,
}

impl Inode {
    pub fn mode(&self) -> u32 {
        self.meta.borrow().mode
    }

    pub fn file_type(&self) -> u32 {
        self.mode() & S_IFMT
    }

    pub fn is_dir(&self) -> bool {
        self.file_type() == S_IFDIR
    }

    pub fn is_symlink(&self) -> bool {
        self.file_type() == S_IFLNK
    }

    pub fn dir(&self) -> Option<&RefCell<Dir>> {
        match &self.body {
            Body::Dir(d) => Some(d),
            _ => None,
        }
    }

    /// st_size: bytes for a file, the target's length for a symlink, 0 for the rest (tmpfs
    /// reports a directory's size as a count; Linux's tmpfs uses entries*BOGO_DIRENT_SIZE).
    pub fn size(&self) -> u64 {
        match &self.body {
            Body::File(d) => d.borrow().len(),
            Body::Symlink(t) => t.len() as u64,
            Body::Dir(d) => (d.borrow().entries.len() as u64 + 2) * 20,
            Body::Special | Body::Proc(_) => 0,
        }
    }

    /// Whether the caller (root: uid 0 only, so every check passes except execute, which
    /// needs some x bit on a non-directory) may access the node as `mask` (R=4, W=2, X=1).
    pub fn permits(&self, mask: u32) -> bool {
        mask & 1 == 0 || self.is_dir() || self.mode() & 0o111 != 0
    }
}

/// One mounted file system.
pub struct Mount {
    pub id: u32,
    pub root: NodeRef,
    /// Where it is mounted: the parent mount and the directory covered. None for the root.
    pub parent: Option<(Rc<Mount>, NodeRef)>,
    pub fstype: &'static str,
    pub source: String,
    pub read_only: bool,
}

/// A node reached by path resolution, with the mount it belongs to.
#[derive(Clone)]
pub struct Location {
    pub mount: Rc<Mount>,
    pub node: NodeRef,
    /// The directory the node was found in, for a non-directory (whose inode has no parent
    /// pointer: hard links give it several) so that its path can be named later.
    pub parent: Option<NodeRef>,
}

impl Location {
    pub fn same(&self, other: &Location) -> bool {
        same_inode(&self.node, &other.node)
    }
}

/// Whether two node handles are the same inode. A tmpfs inode has one handle; /proc makes a
/// fresh handle at every lookup, so its nodes are the same when they name the same thing in
/// the same proc mount.
pub fn same_inode(a: &NodeRef, b: &NodeRef) -> bool {
    match (&a.body, &b.body) {
        (Body::Proc(x), Body::Proc(y)) => a.dev == b.dev && x == y,
        _ => Rc::ptr_eq(a, b),
    }
}

/// Linux's default `fs.mount-max`: more mounts than this in one namespace is ENOSPC.
pub const MAX_MOUNTS: usize = 100_000;

/// A process's place in the tree (shared by CLONE_FS, copied otherwise).
#[derive(Clone)]
pub struct FsContext {
    pub root: Location,
    pub cwd: Location,
    pub umask: u32,
}

impl FsContext {
    /// Init's: root and cwd at `/`, umask 022 (Linux's default).
    pub fn new(vfs: &Vfs) -> Self {
        Self {
            root: vfs.root(),
            cwd: vfs.root(),
            umask: 0o022,
        }
    }
}

/// The mount table and the source of inode and device numbers.
pub struct Vfs {
    pub mounts: Vec<Rc<Mount>>,
    next_ino: Cell<u64>,
    next_dev: Cell<u32>,
    next_mount: Cell<u32>,
}

/// Linux's makedev/major/minor (the 64-bit encoding glibc and musl use).
pub fn makedev(major: u32, minor: u32) -> u64 {
    ((major as u64 & 0xfffff000) << 32)
        | ((major as u64 & 0xfff) << 8)
        | ((minor as u64 & 0xffffff00) << 12)
        | (minor as u64 & 0xff)
}

pub fn major(dev: u64) -> u32 {
    (((dev >> 32) & 0xfffff000) | ((dev >> 8) & 0xfff)) as u32
}

pub fn minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffffff00) | (dev & 0xff)) as u32
}

impl Default for Vfs {
    fn default() -> Self {
        Self::new()
    }
}

impl Vfs {
    /// An empty tmpfs as `/` ("rootfs", as Linux calls the initramfs root).
    pub fn new() -> Self {
        let vfs = Self {
            mounts: Vec::new(),
            next_ino: Cell::new(1),
            next_dev: Cell::new(1),
            next_mount: Cell::new(1),
        };
        let dev = vfs.new_dev();
        let root = vfs.new_node(dev, S_IFDIR | 0o755, Timestamp::default(), dir_body(None));
        let mut vfs = vfs;
        let mount = Rc::new(Mount {
            id: vfs.next_mount_id(),
            root,
            parent: None,
            fstype: "rootfs",
            source: String::from("rootfs"),
            read_only: false,
        });
        vfs.mounts.push(mount);
        vfs
    }

    fn next_mount_id(&self) -> u32 {
        let id = self.next_mount.get();
        self.next_mount.set(id + 1);
        id
    }

    /// An anonymous device number (major 0), as tmpfs and proc get on Linux.
    pub fn new_dev(&self) -> u64 {
        let minor = self.next_dev.get();
        self.next_dev.set(minor + 1);
        makedev(0, minor)
    }

    pub fn new_ino(&self) -> u64 {
        let ino = self.next_ino.get();
        self.next_ino.set(ino + 1);
        ino
    }

    pub fn new_node(&self, dev: u64, mode: u32, now: Timestamp, body: Body) -> NodeRef {
        Rc::new(Inode {
            ino: self.new_ino(),
            dev,
            meta: RefCell::new(Meta {
                mode,
                uid: 0,
                gid: 0,
                nlink: if mode & S_IFMT == S_IFDIR { 2 } else { 1 },
                rdev: 0,
                atime: now,
                mtime: now,
                ctime: now,
            }),
            body,
        })
    }

    /// `/` as a location.
    pub fn root(&self) -> Location {
        let mount = self.mounts[0].clone();
        Location {
            node: mount.root.clone(),
            mount,
            parent: None,
        }
    }

    /// The topmost mount on `at` (a directory reached through `at.mount`), if any.
    pub fn mounted_on(&self, at: &Location) -> Option<Rc<Mount>> {
        self.mounts
            .iter()
            .rev()
            .find(|m| {
                m.parent.as_ref().is_some_and(|(pm, node)| {
                    Rc::ptr_eq(pm, &at.mount) && same_inode(node, &at.node)
                })
            })
            .cloned()
    }

    /// Mounts a new file system with root `root` on the directory `at`: EINVAL if `at` is in
    /// a detached tree, ENOSPC beyond [`MAX_MOUNTS`], ENOMEM when the kernel heap is down to
    /// its reserve.
    pub fn mount(
        &mut self,
        at: &Location,
        root: NodeRef,
        fstype: &'static str,
        source: &str,
    ) -> Result<Location, Errno> {
        if !self.is_attached(&at.mount) {
            return Err(Errno::EINVAL); // as Linux: the target is in a detached tree
        }
        if self.mounts.len() >= MAX_MOUNTS {
            return Err(Errno::ENOSPC);
        }
        if !crate::memory::heap_room((core::mem::size_of::<Mount>() + source.len()) as u64 + 64) {
            return Err(Errno::ENOMEM);
        }
        let mount = Rc::new(Mount {
            id: self.next_mount_id(),
            root: root.clone(),
            parent: Some((at.mount.clone(), at.node.clone())),
            fstype,
            source: String::from(source),
            read_only: false,
        });
        self.mounts.push(mount.clone());
        Ok(Location {
            mount,
            node: root,
            parent: None,
        })
    }

    /// Unmounts the file system whose root is `at`: EINVAL if `at` is not a mount's root,
    /// EBUSY if something is mounted below it — unless `detach` (MNT_DETACH), which takes
    /// the mounts below along.
    pub fn unmount(&mut self, at: &Location, detach: bool) -> Result<(), Errno> {
        if !same_inode(&at.mount.root, &at.node)
            || at.mount.parent.is_none()
            || !self.is_attached(&at.mount)
        {
            return Err(Errno::EINVAL);
        }
        let has_children = self.mounts.iter().any(|m| {
            m.parent
                .as_ref()
                .is_some_and(|(pm, _)| Rc::ptr_eq(pm, &at.mount))
        });
        if has_children && !detach {
            return Err(Errno::EBUSY);
        }
        let target = at.mount.clone();
        self.detach_mounts(|m| Rc::ptr_eq(m, &target));
        Ok(())
    }

    /// Detaches the mounts on /proc/<pid> and below it, as Linux does when the process is
    /// reaped and its /proc directory goes away (otherwise a later process with the same pid
    /// would find them, and `/proc` itself could never be unmounted).
    pub fn detach_proc_mounts(&mut self, pid: u32) {
        self.detach_mounts(|m| {
            m.parent.as_ref().is_some_and(|(_, node)| {
                matches!(
                    node.body,
                    Body::Proc(procfs::ProcNode::Pid(p) | procfs::ProcNode::FdDir(p)) if p == pid
                )
            })
        });
    }

    /// Removes the mounts `chosen` picks and every mount stacked on or below them. Processes
    /// inside a detached tree keep it alive (through their `Location`s) until they leave it.
    fn detach_mounts(&mut self, chosen: impl Fn(&Rc<Mount>) -> bool) {
        // A mount is always made on an attached one, so it comes after its parent in the
        // table and one pass in order finds every descendant.
        let mut gone = alloc::collections::BTreeSet::new();
        self.mounts.retain(|m| {
            let below_gone = m
                .parent
                .as_ref()
                .is_some_and(|(pm, _)| gone.contains(&Rc::as_ptr(pm)));
            if below_gone || chosen(m) {
                gone.insert(Rc::as_ptr(m));
                false
            } else {
                true
            }
        });
    }

    /// Whether `mount` is still in the table (not detached by umount or by its /proc
    /// directory going away).
    pub fn is_attached(&self, mount: &Rc<Mount>) -> bool {
        self.mounts.iter().any(|m| Rc::ptr_eq(m, mount))
    }

    /// A fresh empty tmpfs root directory (for mount -t tmpfs).
    pub fn new_tmpfs(&self, now: Timestamp) -> NodeRef {
        let dev = self.new_dev();
        self.new_node(dev, S_IFDIR | 0o1777, now, dir_body(None))
    }

    /// Creates `name` in the directory `dir`: EEXIST if taken, ENOTDIR if `dir` is not one.
    pub fn create(
        &self,
        dir: &NodeRef,
        name: &[u8],
        mode: u32,
        now: Timestamp,
        body: Body,
    ) -> Result<NodeRef, Errno> {
        check_name(name)?;
        let d = dir.dir().ok_or(Errno::ENOTDIR)?;
        if matches!(dir.body, Body::Proc(_)) {
            return Err(Errno::EACCES);
        }
        if d.borrow().entries.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let body = match body {
            Body::Dir(_) => dir_body(Some(dir)),
            other => other,
        };
        let node = self.new_node(dir.dev, mode, now, body);
        if node.is_dir() {
            dir.meta.borrow_mut().nlink += 1;
        }
        d.borrow_mut().entries.insert(name.to_vec(), node.clone());
        touch_dir(dir, now);
        Ok(node)
    }
}

/// A directory body (its parent is fixed up by [`Vfs::create`]).
pub fn dir_body(parent: Option<&NodeRef>) -> Body {
    Body::Dir(RefCell::new(Dir {
        entries: BTreeMap::new(),
        parent: parent.map_or_else(Weak::new, Rc::downgrade),
    }))
}

/// A name one directory entry may have.
pub fn check_name(name: &[u8]) -> Result<(), Errno> {
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

pub(crate) fn touch_dir(dir: &NodeRef, now: Timestamp) {
    let mut m = dir.meta.borrow_mut();
    m.mtime = now;
    m.ctime = now;
}

/// A directory's parent node (itself at a file system's root).
pub fn parent_of(dir: &NodeRef) -> NodeRef {
    dir.dir()
        .and_then(|d| d.borrow().parent.upgrade())
        .unwrap_or_else(|| dir.clone())
}

pub fn lookup_child(dir: &NodeRef, name: &[u8]) -> Option<NodeRef> {
    dir.dir()?.borrow().entries.get(name).cloned()
}

/// Adds a hard link `name` → `node` in `dir` (not for directories).
pub fn link(dir: &NodeRef, name: &[u8], node: &NodeRef, now: Timestamp) -> Result<(), Errno> {
    check_name(name)?;
    if node.is_dir() {
        return Err(Errno::EPERM);
    }
    if dir.dev != node.dev {
        return Err(Errno::EXDEV);
    }
    let d = dir.dir().ok_or(Errno::ENOTDIR)?;
    if d.borrow().entries.contains_key(name) {
        return Err(Errno::EEXIST);
    }
    d.borrow_mut().entries.insert(name.to_vec(), node.clone());
    let mut m = node.meta.borrow_mut();
    m.nlink += 1;
    m.ctime = now;
    drop(m);
    touch_dir(dir, now);
    Ok(())
}

/// Removes the entry `name` from `dir`. `want_dir`: rmdir (the entry must be an empty
/// directory) versus unlink (it must not be a directory).
pub fn remove(dir: &NodeRef, name: &[u8], want_dir: bool, now: Timestamp) -> Result<(), Errno> {
    if name == b"." {
        return Err(Errno::EINVAL);
    }
    if name == b".." {
        return Err(Errno::ENOTEMPTY);
    }
    let d = dir.dir().ok_or(Errno::ENOTDIR)?;
    if matches!(dir.body, Body::Proc(_)) {
        return Err(Errno::EACCES);
    }
    let node = d.borrow().entries.get(name).cloned().ok_or(Errno::ENOENT)?;
    if want_dir {
        let child = node.dir().ok_or(Errno::ENOTDIR)?;
        if !child.borrow().entries.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        dir.meta.borrow_mut().nlink -= 1;
        node.meta.borrow_mut().nlink = 0;
    } else {
        if node.is_dir() {
            return Err(Errno::EISDIR);
        }
        let mut m = node.meta.borrow_mut();
        m.nlink = m.nlink.saturating_sub(1);
        m.ctime = now;
    }
    d.borrow_mut().entries.remove(name);
    touch_dir(dir, now);
    Ok(())
}

/// Whether `node` is `ancestor` or lies below it (rename must not move a directory into itself).
fn is_within(node: &NodeRef, ancestor: &NodeRef) -> bool {
    let mut cur = node.clone();
    loop {
        if Rc::ptr_eq(&cur, ancestor) {
            return true;
        }
        let up = parent_of(&cur);
        if Rc::ptr_eq(&up, &cur) {
            return false;
        }
        cur = up;
    }
}

pub const RENAME_NOREPLACE: u32 = 1;
pub const RENAME_EXCHANGE: u32 = 2;

/// rename(2) within one file system, with Linux's checks and RENAME_NOREPLACE/EXCHANGE.
pub fn rename(
    old_dir: &NodeRef,
    old_name: &[u8],
    new_dir: &NodeRef,
    new_name: &[u8],
    flags: u32,
    now: Timestamp,
) -> Result<(), Errno> {
    if old_name == b"." || old_name == b".." || new_name == b"." || new_name == b".." {
        return Err(
            if flags & RENAME_EXCHANGE != 0 || old_name == b"." || old_name == b".." {
                Errno::EINVAL
            } else {
                Errno::EBUSY
            },
        );
    }
    check_name(new_name)?;
    if old_dir.dev != new_dir.dev {
        return Err(Errno::EXDEV);
    }
    let od = old_dir.dir().ok_or(Errno::ENOTDIR)?;
    let nd = new_dir.dir().ok_or(Errno::ENOTDIR)?;
    let node = od
        .borrow()
        .entries
        .get(old_name)
        .cloned()
        .ok_or(Errno::ENOENT)?;
    let target = nd.borrow().entries.get(new_name).cloned();
    if flags & RENAME_EXCHANGE != 0 {
        let target = target.ok_or(Errno::ENOENT)?;
        if (node.is_dir() && is_within(new_dir, &node))
            || (target.is_dir() && is_within(old_dir, &target))
        {
            return Err(Errno::EINVAL);
        }
        od.borrow_mut()
            .entries
            .insert(old_name.to_vec(), target.clone());
        nd.borrow_mut()
            .entries
            .insert(new_name.to_vec(), node.clone());
        for (n, d) in [(&node, new_dir), (&target, old_dir)] {
            if let Body::Dir(inner) = &n.body {
                inner.borrow_mut().parent = Rc::downgrade(d);
            }
        }
        if node.is_dir() != target.is_dir() {
            let (gain, lose) = if node.is_dir() {
                (new_dir, old_dir)
            } else {
                (old_dir, new_dir)
            };
            gain.meta.borrow_mut().nlink += 1;
            lose.meta.borrow_mut().nlink -= 1;
        }
        touch_dir(old_dir, now);
        touch_dir(new_dir, now);
        return Ok(());
    }
    if let Some(target) = &target {
        if flags & RENAME_NOREPLACE != 0 {
            return Err(Errno::EEXIST);
        }
        if Rc::ptr_eq(target, &node) {
            return Ok(()); // two links to one inode: POSIX says do nothing
        }
        match (node.is_dir(), target.is_dir()) {
            (true, false) => return Err(Errno::ENOTDIR),
            (false, true) => return Err(Errno::EISDIR),
            (true, true) if !target.dir().unwrap().borrow().entries.is_empty() => {
                return Err(Errno::ENOTEMPTY);
            }
            _ => {}
        }
    }
    if node.is_dir() && is_within(new_dir, &node) {
        return Err(Errno::EINVAL);
    }
    if let Some(target) = target {
        let target_is_dir = target.is_dir();
        let mut m = target.meta.borrow_mut();
        if target_is_dir {
            m.nlink = 0;
            new_dir.meta.borrow_mut().nlink -= 1;
        } else {
            m.nlink = m.nlink.saturating_sub(1);
        }
        m.ctime = now;
    }
    od.borrow_mut().entries.remove(old_name);
    nd.borrow_mut()
        .entries
        .insert(new_name.to_vec(), node.clone());
    if let Body::Dir(inner) = &node.body {
        inner.borrow_mut().parent = Rc::downgrade(new_dir);
        old_dir.meta.borrow_mut().nlink -= 1;
        new_dir.meta.borrow_mut().nlink += 1;
    }
    node.meta.borrow_mut().ctime = now;
    touch_dir(old_dir, now);
    touch_dir(new_dir, now);
    Ok(())
}

/// One directory entry as getdents reports it.
pub struct DirEntry {
    pub ino: u64,
    pub name: Vec<u8>,
    /// DT_* type.
    pub kind: u8,
}

/// DT_* from the S_IFMT bits.
pub fn dirent_type(mode: u32) -> u8 {
    ((mode & S_IFMT) >> 12) as u8
}
