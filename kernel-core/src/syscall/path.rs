//! System calls that name files by path: open/openat, the stat family, mkdir/mknod, unlink/
//! rmdir, rename, link/symlink/readlink, access, chmod/chown, utimensat, truncate, chdir/
//! getcwd/umask/chroot, getdents, mount/umount2, statfs, and the x86_64-only legacy forms
//! (open, stat, mkdir, ...) mapped onto the `*at` calls with AT_FDCWD, as Linux does.

use super::stat;
use crate::errno::{Errno, SysResult};
use crate::fd::node::{self, NodeFile};
use crate::fd::{File, FileDescription, O_ACCMODE, O_APPEND, O_CLOEXEC, O_NONBLOCK, OpenFile};
use crate::procview::ProcView;
use crate::task::{Kernel, Tid};
use crate::vfs::devfs::{self, Device};
use crate::vfs::path::{Parent, Resolver};
use crate::vfs::{
    self, Body, FileData, FsContext, Location, PATH_MAX, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO,
    S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK, S_ISGID, S_ISUID, Timestamp,
};
use alloc::vec::Vec;
use core::cell::RefCell;
use hal::arch::Arch;

pub const AT_FDCWD: i32 = -100;
const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
const AT_REMOVEDIR: u32 = 0x200;
const AT_EACCESS: u32 = 0x200;
const AT_SYMLINK_FOLLOW: u32 = 0x400;
const AT_NO_AUTOMOUNT: u32 = 0x800;
const AT_EMPTY_PATH: u32 = 0x1000;
const AT_STATX_SYNC_TYPE: u32 = 0x6000;

const O_CREAT: u32 = 0o100;
const O_EXCL: u32 = 0o200;
const O_NOCTTY: u32 = 0o400;
const O_TRUNC: u32 = 0o1000;
const O_DSYNC: u32 = 0o10000;
const O_ASYNC: u32 = 0o20000;
const O_NOATIME: u32 = 0o1000000;
const O_SYNC: u32 = 0o4010000;
pub const O_PATH: u32 = 0o10000000;
const O_TMPFILE_BIT: u32 = 0o20000000;

/// The open flags whose values differ between the architectures.
struct ArchFlags {
    directory: u32,
    nofollow: u32,
    direct: u32,
    largefile: u32,
}

fn arch_flags<A: Arch>() -> ArchFlags {
    if A::ELF_MACHINE == crate::elf::EM_AARCH64 {
        ArchFlags {
            directory: 0o40000,
            nofollow: 0o100000,
            direct: 0o200000,
            largefile: 0o400000,
        }
    } else {
        ArchFlags {
            directory: 0o200000,
            nofollow: 0o400000,
            direct: 0o40000,
            largefile: 0o100000,
        }
    }
}

pub fn now<A: Arch>(k: &Kernel<A>) -> Timestamp {
    Timestamp::from_ns(k.clock.realtime())
}

fn read_path<A: Arch>(k: &mut Kernel<A>, tid: Tid, address: u64) -> Result<Vec<u8>, Errno> {
    k.user(tid).read_c_string(address, PATH_MAX)
}

fn fs_context<A: Arch>(k: &Kernel<A>, tid: Tid) -> FsContext {
    k.process_of(tid).fs.borrow().clone()
}

/// Runs `f` with a resolver for the calling process.
pub fn with_resolver<A: Arch, R>(
    k: &Kernel<A>,
    tid: Tid,
    f: impl FnOnce(&Resolver, &FsContext) -> R,
) -> R {
    let view = ProcView::new(k, tid);
    let fs = fs_context(k, tid);
    let r = Resolver {
        vfs: &k.vfs,
        proc: &view,
        root: fs.root.clone(),
    };
    f(&r, &fs)
}

/// Where a relative path starts: the cwd for AT_FDCWD, else the directory open on `dirfd`.
fn start_dir<A: Arch>(k: &Kernel<A>, tid: Tid, dirfd: u64, path: &[u8]) -> Result<Location, Errno> {
    if path.first() == Some(&b'/') {
        return Ok(fs_context(k, tid).root);
    }
    if dirfd as i32 == AT_FDCWD {
        return Ok(fs_context(k, tid).cwd);
    }
    let f = super::fs::file(k, tid, dirfd)?;
    let d = f.borrow();
    match &d.path {
        Some(loc) if loc.node.is_dir() => Ok(loc.clone()),
        _ => Err(Errno::ENOTDIR),
    }
}

/// What a path (plus dirfd and AT_ flags) names: a location, or with AT_EMPTY_PATH and an
/// empty path, the open description itself (which may have no path: a pipe).
pub enum Target {
    Path(Location),
    Description(OpenFile),
}

fn target<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    dirfd: u64,
    path: u64,
    follow: bool,
    empty_ok: bool,
) -> Result<Target, Errno> {
    let path = read_path(k, tid, path)?;
    if path.is_empty() {
        if !empty_ok {
            return Err(Errno::ENOENT);
        }
        if dirfd as i32 == AT_FDCWD {
            return Ok(Target::Path(fs_context(k, tid).cwd));
        }
        return Ok(Target::Description(super::fs::file(k, tid, dirfd)?));
    }
    let start = start_dir(k, tid, dirfd, &path)?;
    with_resolver(k, tid, |r, _| r.resolve(&start, &path, follow)).map(Target::Path)
}

/// [`target`] with the usual AT_ flags: AT_SYMLINK_NOFOLLOW and AT_EMPTY_PATH.
fn target_at<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    dirfd: u64,
    path: u64,
    flags: u32,
) -> Result<Target, Errno> {
    target(
        k,
        tid,
        dirfd,
        path,
        flags & AT_SYMLINK_NOFOLLOW == 0,
        flags & AT_EMPTY_PATH != 0,
    )
}

/// A path's location (no AT_EMPTY_PATH).
fn locate<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    dirfd: u64,
    path: u64,
    follow: bool,
) -> Result<Location, Errno> {
    match target(k, tid, dirfd, path, follow, false)? {
        Target::Path(l) => Ok(l),
        Target::Description(_) => Err(Errno::ENOENT),
    }
}

fn locate_parent<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    dirfd: u64,
    path: u64,
) -> Result<Parent, Errno> {
    let path = read_path(k, tid, path)?;
    let start = start_dir(k, tid, dirfd, &path)?;
    with_resolver(k, tid, |r, _| r.resolve_parent(&start, &path))
}

/// A last component that names an existing directory ("", ".", ".."): creating it is EEXIST.
fn names_existing_dir(name: &[u8]) -> bool {
    name.is_empty() || name == b"." || name == b".."
}

fn check_writable_fs(loc: &Location) -> Result<(), Errno> {
    if loc.mount.read_only || matches!(loc.node.body, Body::Proc(_)) {
        return Err(Errno::EROFS);
    }
    Ok(())
}

// ----- open ------------------------------------------------------------------------------

pub fn openat<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    dirfd: u64,
    path: u64,
    flags: u64,
    mode: u64,
) -> SysResult {
    let flags = flags as u32;
    let af = arch_flags::<A>();
    let cloexec = flags & O_CLOEXEC != 0;
    let file = open_file(k, tid, dirfd, path, flags, mode as u32 & 0o7777, &af)?;
    super::fs::install_file(k, tid, file, cloexec)
}

fn open_file<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    dirfd: u64,
    path: u64,
    flags: u32,
    mode: u32,
    af: &ArchFlags,
) -> Result<OpenFile, Errno> {
    if flags & O_TMPFILE_BIT != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let raw_path = read_path(k, tid, path)?;
    let start = start_dir(k, tid, dirfd, &raw_path)?;
    let now = now(k);
    let umask = fs_context(k, tid).umask;
    let o_path = flags & O_PATH != 0;
    let nofollow = flags & af.nofollow != 0;
    let accmode = flags & O_ACCMODE;
    let wants_write = !o_path && (accmode == crate::fd::O_WRONLY || accmode == crate::fd::O_RDWR);
    let loc = if flags & O_CREAT != 0 && !o_path {
        create_or_open(k, tid, &start, &raw_path, flags, mode & !umask, now, af)?
    } else {
        with_resolver(k, tid, |r, _| r.resolve(&start, &raw_path, !nofollow))?
    };
    let node = loc.node.clone();
    if node.is_symlink() && !o_path {
        return Err(Errno::ELOOP);
    }
    if flags & af.directory != 0 && !node.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    if node.is_dir() && (wants_write || flags & O_CREAT != 0) && !o_path {
        return Err(Errno::EISDIR);
    }
    if wants_write {
        check_writable_fs(&loc)?;
    }
    let status = if o_path {
        O_PATH | (flags & (af.directory | af.nofollow))
    } else {
        (flags & (O_ACCMODE | O_APPEND | O_NONBLOCK | O_DSYNC | O_ASYNC | O_NOATIME | O_SYNC))
            | (flags & af.direct)
            | af.largefile
    };
    if o_path {
        return Ok(FileDescription::at(
            File::Node(NodeFile::default()),
            status,
            loc,
        ));
    }
    let file = match node.file_type() {
        S_IFREG | S_IFDIR => {
            if flags & O_TRUNC != 0 && wants_write && node.file_type() == S_IFREG {
                truncate_node(&node, 0, now)?;
            }
            match &node.body {
                Body::Proc(p) if !node.is_dir() => {
                    let view = ProcView::new(k, tid);
                    let contents = vfs::procfs::contents(&view, p).ok_or(Errno::ENOENT)?;
                    if wants_write {
                        return Err(Errno::EACCES);
                    }
                    File::Node(NodeFile {
                        snapshot: Some(contents),
                        ..NodeFile::default()
                    })
                }
                _ => File::Node(NodeFile::default()),
            }
        }
        S_IFCHR => match devfs::device(node.meta.borrow().rdev) {
            Some(Device::Console) => {
                crate::tty_glue::opened(k, tid, &loc, flags & O_NOCTTY != 0);
                File::Console
            }
            Some(Device::ControllingTty) => {
                if !crate::tty_glue::has_controlling_tty(k, tid) {
                    return Err(Errno::ENXIO);
                }
                File::Console
            }
            Some(device) => File::Device(device),
            None => return Err(Errno::ENXIO),
        },
        S_IFLNK => return Err(Errno::ELOOP),
        // FIFOs, sockets and block devices have no implementation behind them yet.
        _ => return Err(Errno::ENXIO),
    };
    Ok(FileDescription::at(file, status, loc))
}

/// O_CREAT: the last component is created if missing (following a symlink to a missing
/// target creates the target, as Linux does unless O_EXCL or O_NOFOLLOW).
#[allow(clippy::too_many_arguments)]
fn create_or_open<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    start: &Location,
    path: &[u8],
    flags: u32,
    mode: u32,
    now: Timestamp,
    af: &ArchFlags,
) -> Result<Location, Errno> {
    let mut start = start.clone();
    let mut path = path.to_vec();
    for _ in 0..vfs::path::MAX_SYMLINKS {
        let parent = with_resolver(k, tid, |r, _| r.resolve_parent(&start, &path))?;
        if names_existing_dir(&parent.name) {
            return Err(Errno::EISDIR);
        }
        let existing = with_resolver(k, tid, |r, _| {
            r.lookup(&parent.dir, &parent.name).map(|node| {
                r.enter_mounts(Location {
                    mount: parent.dir.mount.clone(),
                    node,
                    parent: Some(parent.dir.node.clone()),
                })
            })
        });
        match existing {
            Some(_) if flags & O_EXCL != 0 => return Err(Errno::EEXIST),
            Some(loc) if loc.node.is_symlink() => {
                if flags & af.nofollow != 0 {
                    return Err(Errno::ELOOP);
                }
                let target = with_resolver(k, tid, |r, _| r.read_link(&loc))?;
                start = parent.dir;
                path = target;
                continue;
            }
            Some(loc) => {
                if parent.trailing_slash && !loc.node.is_dir() {
                    return Err(Errno::ENOTDIR);
                }
                return Ok(loc);
            }
            None => {
                if parent.trailing_slash {
                    return Err(Errno::EISDIR);
                }
                check_writable_fs(&parent.dir)?;
                let node = k.vfs.create(
                    &parent.dir.node,
                    &parent.name,
                    S_IFREG | (mode & 0o7777),
                    now,
                    Body::File(RefCell::new(FileData::Owned(Vec::new()))),
                )?;
                return Ok(Location {
                    mount: parent.dir.mount.clone(),
                    node,
                    parent: Some(parent.dir.node.clone()),
                });
            }
        }
    }
    Err(Errno::ELOOP)
}

pub fn open<A: Arch>(k: &mut Kernel<A>, tid: Tid, path: u64, flags: u64, mode: u64) -> SysResult {
    openat(k, tid, AT_FDCWD as u64, path, flags, mode)
}

pub fn creat<A: Arch>(k: &mut Kernel<A>, tid: Tid, path: u64, mode: u64) -> SysResult {
    let flags = O_CREAT | crate::fd::O_WRONLY | O_TRUNC;
    openat(k, tid, AT_FDCWD as u64, path, flags as u64, mode)
}

fn truncate_node(node: &vfs::NodeRef, len: u64, now: Timestamp) -> Result<(), Errno> {
    match &node.body {
        Body::File(data) => {
            data.borrow_mut().truncate(len)?;
            let mut m = node.meta.borrow_mut();
            m.mtime = now;
            m.ctime = now;
            Ok(())
        }
        Body::Dir(_) => Err(Errno::EISDIR),
        _ => Err(Errno::EINVAL),
    }
}

// ----- stat ------------------------------------------------------------------------------

/// What stat reports for a target, and the mount id statx adds.
fn stat_target(t: &Target) -> (stat::Stat, u32) {
    match t {
        Target::Path(l) => (stat::of_node(&l.node), l.mount.id),
        Target::Description(f) => {
            let d = f.borrow();
            // An anonymous inode's number: stable for the description's lifetime.
            let id = alloc::rc::Rc::as_ptr(f) as *const u8 as usize as u64 & 0xffff_ffff;
            let mount = d.path.as_ref().map_or(0, |l| l.mount.id);
            (stat::of_description(&d, id), mount)
        }
    }
}

pub fn newfstatat<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    dirfd: u64,
    path: u64,
    buf: u64,
    flags: u64,
) -> SysResult {
    let flags = flags as u32;
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let t = target_at(k, tid, dirfd, path, flags)?;
    let (s, _) = stat_target(&t);
    k.user(tid).write(buf, &stat::encode::<A>(&s))?;
    Ok(0)
}

pub fn fstat<A: Arch>(k: &mut Kernel<A>, tid: Tid, fd: u64, buf: u64) -> SysResult {
    let t = Target::Description(super::fs::file(k, tid, fd)?);
    let (s, _) = stat_target(&t);
    k.user(tid).write(buf, &stat::encode::<A>(&s))?;
    Ok(0)
}

pub fn statx<A: Arch>(k: &mut Kernel<A>, tid: Tid, a: [u64; 6]) -> SysResult {
    let (dirfd, path, flags, mask, buf) = (a[0], a[1], a[2] as u32, a[3] as u32, a[4]);
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH | AT_STATX_SYNC_TYPE) != 0
        || flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE
        || mask & 0x8000_0000 != 0
    {
        return Err(Errno::EINVAL);
    }
    let t = target_at(k, tid, dirfd, path, flags)?;
    let (s, mount) = stat_target(&t);
    k.user(tid).write(buf, &stat::encode_statx(&s, mount))?;
    Ok(0)
}

pub fn stat_legacy<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    path: u64,
    buf: u64,
    follow: bool,
) -> SysResult {
    let flags = if follow { 0 } else { AT_SYMLINK_NOFOLLOW };
    newfstatat(k, tid, AT_FDCWD as u64, path, buf, flags as u64)
}

pub fn statfs<A: Arch>(k: &mut Kernel<A>, tid: Tid, path: u64, buf: u64) -> SysResult {
    let loc = locate(k, tid, AT_FDCWD as u64, path, true)?;
    write_statfs(k, tid, &loc, buf)
}

pub fn fstatfs<A: Arch>(k: &mut Kernel<A>, tid: Tid, fd: u64, buf: u64) -> SysResult {
    let f = super::fs::file(k, tid, fd)?;
    let loc = f.borrow().path.clone();
    match loc {
        Some(loc) => write_statfs(k, tid, &loc, buf),
        None => {
            let out = stat::encode_statfs("pipefs", 0, 0, 0);
            k.user(tid).write(buf, &out)?;
            Ok(0)
        }
    }
}

fn write_statfs<A: Arch>(k: &mut Kernel<A>, tid: Tid, loc: &Location, buf: u64) -> SysResult {
    let (total, free) = (k.frames.total_frames(), k.frames.free_frames());
    let out = stat::encode_statfs(loc.mount.fstype, loc.node.dev, total, free);
    k.user(tid).write(buf, &out)?;
    Ok(0)
}

// ----- creating and removing names -------------------------------------------------------

pub fn mkdirat<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    dirfd: u64,
    path: u64,
    mode: u64,
) -> SysResult {
    let p = locate_parent(k, tid, dirfd, path)?;
    if names_existing_dir(&p.name) {
        return Err(Errno::EEXIST);
    }
    if with_resolver(k, tid, |r, _| r.lookup(&p.dir, &p.name)).is_some() {
        return Err(Errno::EEXIST);
    }
    check_writable_fs(&p.dir)?;
    let umask = fs_context(k, tid).umask;
    let mode = S_IFDIR | (mode as u32 & 0o1777 & !umask);
    let now = now(k);
    k.vfs
        .create(&p.dir.node, &p.name, mode, now, vfs::dir_body(None))?;
    Ok(0)
}

pub fn mknodat<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    dirfd: u64,
    path: u64,
    mode: u64,
    dev: u64,
) -> SysResult {
    let mode = mode as u32;
    let kind = match mode & S_IFMT {
        0 => S_IFREG,
        t @ (S_IFREG | S_IFCHR | S_IFBLK | S_IFIFO | S_IFSOCK) => t,
        S_IFDIR => return Err(Errno::EPERM),
        _ => return Err(Errno::EINVAL),
    };
    let p = locate_parent(k, tid, dirfd, path)?;
    if names_existing_dir(&p.name)
        || with_resolver(k, tid, |r, _| r.lookup(&p.dir, &p.name)).is_some()
    {
        return Err(Errno::EEXIST);
    }
    check_writable_fs(&p.dir)?;
    let umask = fs_context(k, tid).umask;
    let body = if kind == S_IFREG {
        Body::File(RefCell::new(FileData::Owned(Vec::new())))
    } else {
        Body::Special
    };
    let now = now(k);
    let node = k.vfs.create(
        &p.dir.node,
        &p.name,
        kind | (mode & 0o7777 & !umask),
        now,
        body,
    )?;
    if kind == S_IFCHR || kind == S_IFBLK {
        // The user's dev_t is the kernel's new_encode_dev form: the same encoding as makedev.
        node.meta.borrow_mut().rdev = dev & 0xffff_ffff;
    }
    Ok(0)
}

pub fn unlinkat<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    dirfd: u64,
    path: u64,
    flags: u64,
) -> SysResult {
    let flags = flags as u32;
    if flags & !AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    let rmdir = flags & AT_REMOVEDIR != 0;
    let p = locate_parent(k, tid, dirfd, path)?;
    if p.name.is_empty() {
        return Err(if rmdir { Errno::EBUSY } else { Errno::EISDIR });
    }
    if rmdir && p.name == b"." {
        return Err(Errno::EINVAL);
    }
    if !rmdir && (p.name == b"." || p.name == b"..") {
        return Err(Errno::EISDIR);
    }
    let child = with_resolver(k, tid, |r, _| r.lookup(&p.dir, &p.name));
    if let Some(child) = &child {
        if !rmdir && p.trailing_slash {
            return Err(if child.is_dir() {
                Errno::EISDIR
            } else {
                Errno::ENOTDIR
            });
        }
        let child_loc = Location {
            mount: p.dir.mount.clone(),
            node: child.clone(),
            parent: None,
        };
        if k.vfs.mounted_on(&child_loc).is_some() {
            return Err(Errno::EBUSY);
        }
    }
    check_writable_fs(&p.dir)?;
    vfs::remove(&p.dir.node, &p.name, rmdir, now(k))?;
    Ok(0)
}

pub fn renameat2<A: Arch>(k: &mut Kernel<A>, tid: Tid, a: [u64; 6]) -> SysResult {
    let (olddir, oldpath, newdir, newpath, flags) = (a[0], a[1], a[2], a[3], a[4] as u32);
    if flags & !(vfs::RENAME_NOREPLACE | vfs::RENAME_EXCHANGE | 4) != 0
        || (flags & vfs::RENAME_NOREPLACE != 0 && flags & vfs::RENAME_EXCHANGE != 0)
    {
        return Err(Errno::EINVAL);
    }
    if flags & 4 != 0 {
        return Err(Errno::EOPNOTSUPP); // RENAME_WHITEOUT: overlay file systems only
    }
    let old = locate_parent(k, tid, olddir, oldpath)?;
    let new = locate_parent(k, tid, newdir, newpath)?;
    if old.name.is_empty() || new.name.is_empty() {
        return Err(Errno::EBUSY);
    }
    if !alloc::rc::Rc::ptr_eq(&old.dir.mount, &new.dir.mount) {
        return Err(Errno::EXDEV);
    }
    let moving =
        with_resolver(k, tid, |r, _| r.lookup(&old.dir, &old.name)).ok_or(Errno::ENOENT)?;
    if (old.trailing_slash || new.trailing_slash) && !moving.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    check_writable_fs(&old.dir)?;
    // Linux's vfs_rename: neither end may be a mount point (what is mounted stays where it
    // is, so renaming the directory under it would leave the mount behind).
    let at_old = Location {
        mount: old.dir.mount.clone(),
        node: moving.clone(),
        parent: None,
    };
    let replaced = with_resolver(k, tid, |r, _| r.lookup(&new.dir, &new.name));
    let busy = |node: &vfs::NodeRef| {
        let at = Location {
            mount: new.dir.mount.clone(),
            node: node.clone(),
            parent: None,
        };
        k.vfs.mounted_on(&at).is_some()
    };
    // Renaming an inode onto itself does nothing (vfs::rename's business), mounted or not.
    let onto_itself = replaced
        .as_ref()
        .is_some_and(|r| vfs::same_inode(r, &moving));
    if !onto_itself && (k.vfs.mounted_on(&at_old).is_some() || replaced.as_ref().is_some_and(busy))
    {
        return Err(Errno::EBUSY);
    }
    vfs::rename(
        &old.dir.node,
        &old.name,
        &new.dir.node,
        &new.name,
        flags,
        now(k),
    )?;
    Ok(0)
}

pub fn linkat<A: Arch>(k: &mut Kernel<A>, tid: Tid, a: [u64; 6]) -> SysResult {
    let (olddir, oldpath, newdir, newpath, flags) = (a[0], a[1], a[2], a[3], a[4] as u32);
    if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let old = match target(
        k,
        tid,
        olddir,
        oldpath,
        flags & AT_SYMLINK_FOLLOW != 0,
        flags & AT_EMPTY_PATH != 0,
    )? {
        Target::Path(l) => l,
        Target::Description(f) => f.borrow().path.clone().ok_or(Errno::ENOENT)?,
    };
    let new = locate_parent(k, tid, newdir, newpath)?;
    if names_existing_dir(&new.name) {
        return Err(Errno::EEXIST);
    }
    if new.trailing_slash {
        return Err(Errno::ENOENT);
    }
    if !alloc::rc::Rc::ptr_eq(&old.mount, &new.dir.mount) {
        return Err(Errno::EXDEV);
    }
    check_writable_fs(&new.dir)?;
    vfs::link(&new.dir.node, &new.name, &old.node, now(k))?;
    Ok(0)
}

pub fn symlinkat<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    target: u64,
    dirfd: u64,
    path: u64,
) -> SysResult {
    let target = read_path(k, tid, target)?;
    if target.is_empty() {
        return Err(Errno::ENOENT);
    }
    let p = locate_parent(k, tid, dirfd, path)?;
    if names_existing_dir(&p.name)
        || with_resolver(k, tid, |r, _| r.lookup(&p.dir, &p.name)).is_some()
    {
        return Err(Errno::EEXIST);
    }
    if p.trailing_slash {
        return Err(Errno::ENOENT);
    }
    check_writable_fs(&p.dir)?;
    let now = now(k);
    k.vfs.create(
        &p.dir.node,
        &p.name,
        S_IFLNK | 0o777,
        now,
        Body::Symlink(target),
    )?;
    Ok(0)
}

pub fn readlinkat<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    dirfd: u64,
    path: u64,
    buf: u64,
    size: u64,
) -> SysResult {
    if (size as i32) <= 0 {
        return Err(Errno::EINVAL);
    }
    let loc = match target(k, tid, dirfd, path, false, true)? {
        Target::Path(l) => l,
        Target::Description(f) => f.borrow().path.clone().ok_or(Errno::EINVAL)?,
    };
    if !loc.node.is_symlink() {
        return Err(Errno::EINVAL);
    }
    let link = with_resolver(k, tid, |r, _| r.read_link(&loc))?;
    let n = link.len().min(size as u32 as usize);
    k.user(tid).write(buf, &link[..n])?;
    Ok(n as u64)
}

// ----- attributes ------------------------------------------------------------------------

pub fn faccessat2<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    dirfd: u64,
    path: u64,
    mode: u64,
    flags: u64,
) -> SysResult {
    let (mode, flags) = (mode as u32, flags as u32);
    if mode & !7 != 0 || flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let loc = match target_at(k, tid, dirfd, path, flags)? {
        Target::Path(l) => l,
        Target::Description(f) => match f.borrow().path.clone() {
            Some(l) => l,
            None => return Ok(0),
        },
    };
    if mode & 2 != 0 && loc.mount.read_only {
        return Err(Errno::EROFS);
    }
    if loc.node.permits(mode) {
        Ok(0)
    } else {
        Err(Errno::EACCES)
    }
}

/// The node an fd-or-path attribute call changes.
fn attr_target<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    dirfd: u64,
    path: u64,
    flags: u32,
) -> Result<Location, Errno> {
    match target_at(k, tid, dirfd, path, flags)? {
        Target::Path(l) => Ok(l),
        Target::Description(f) => f.borrow().path.clone().ok_or(Errno::EBADF),
    }
}

fn set_mode<A: Arch>(k: &Kernel<A>, loc: &Location, mode: u32) -> SysResult {
    check_writable_fs(loc)?;
    let now = now(k);
    let mut m = loc.node.meta.borrow_mut();
    m.mode = (m.mode & S_IFMT) | (mode & 0o7777);
    m.ctime = now;
    Ok(0)
}

pub fn fchmodat<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    dirfd: u64,
    path: u64,
    mode: u64,
    flags: u64,
) -> SysResult {
    let flags = flags as u32;
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let loc = attr_target(k, tid, dirfd, path, flags)?;
    if loc.node.is_symlink() {
        return Err(Errno::EOPNOTSUPP);
    }
    set_mode(k, &loc, mode as u32)
}

pub fn fchmod<A: Arch>(k: &mut Kernel<A>, tid: Tid, fd: u64, mode: u64) -> SysResult {
    let f = super::fs::file(k, tid, fd)?;
    let loc = f.borrow().path.clone();
    match loc {
        Some(loc) => set_mode(k, &loc, mode as u32),
        None => Ok(0),
    }
}

fn set_owner<A: Arch>(k: &Kernel<A>, loc: &Location, uid: u64, gid: u64) -> SysResult {
    check_writable_fs(loc)?;
    let now = now(k);
    let mut m = loc.node.meta.borrow_mut();
    if uid as u32 != u32::MAX {
        m.uid = uid as u32;
    }
    if gid as u32 != u32::MAX {
        m.gid = gid as u32;
    }
    // chown drops set-user-ID, and set-group-ID when group-execute is set (Linux's
    // ATTR_KILL_SUID/SGID for non-directories), whoever the caller.
    if m.mode & S_IFMT != S_IFDIR {
        m.mode &= !S_ISUID;
        if m.mode & 0o010 != 0 {
            m.mode &= !S_ISGID;
        }
    }
    m.ctime = now;
    Ok(0)
}

pub fn fchownat<A: Arch>(k: &mut Kernel<A>, tid: Tid, a: [u64; 6]) -> SysResult {
    let flags = a[4] as u32;
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let loc = attr_target(k, tid, a[0], a[1], flags)?;
    set_owner(k, &loc, a[2], a[3])
}

pub fn fchown<A: Arch>(k: &mut Kernel<A>, tid: Tid, fd: u64, uid: u64, gid: u64) -> SysResult {
    let f = super::fs::file(k, tid, fd)?;
    let loc = f.borrow().path.clone();
    match loc {
        Some(loc) => set_owner(k, &loc, uid, gid),
        None => Ok(0),
    }
}

const UTIME_NOW: u64 = (1 << 30) - 1;
const UTIME_OMIT: u64 = (1 << 30) - 2;

/// utimensat; a NULL path changes the file open on `dirfd` (futimens).
pub fn utimensat<A: Arch>(k: &mut Kernel<A>, tid: Tid, a: [u64; 6]) -> SysResult {
    let (dirfd, path, times, flags) = (a[0], a[1], a[2], a[3] as u32);
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let now = now(k);
    let mut set = [Some(now), Some(now)];
    if times != 0 {
        let raw = k.user(tid).read_array::<32>(times)?;
        for (i, slot) in set.iter_mut().enumerate() {
            let sec = i64::from_le_bytes(raw[i * 16..i * 16 + 8].try_into().unwrap());
            let nsec = u64::from_le_bytes(raw[i * 16 + 8..i * 16 + 16].try_into().unwrap());
            *slot = match nsec {
                UTIME_NOW => Some(now),
                UTIME_OMIT => None,
                n if n < 1_000_000_000 => Some(Timestamp {
                    sec,
                    nsec: n as u32,
                }),
                _ => return Err(Errno::EINVAL),
            };
        }
    }
    let loc = if path == 0 {
        let f = super::fs::file(k, tid, dirfd)?;
        let l = f.borrow().path.clone();
        match l {
            Some(l) => l,
            None => return Ok(0),
        }
    } else {
        attr_target(k, tid, dirfd, path, flags)?
    };
    set_times(&loc, set, now)
}

fn set_times(loc: &Location, set: [Option<Timestamp>; 2], now: Timestamp) -> SysResult {
    if set == [None, None] {
        return Ok(0);
    }
    check_writable_fs(loc)?;
    let mut m = loc.node.meta.borrow_mut();
    if let Some(t) = set[0] {
        m.atime = t;
    }
    if let Some(t) = set[1] {
        m.mtime = t;
    }
    m.ctime = now;
    Ok(0)
}

/// utimes/futimesat (struct timeval pairs) and utime (struct utimbuf: two time_t).
pub fn utimes_legacy<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    dirfd: u64,
    path: u64,
    times: u64,
    utimbuf: bool,
) -> SysResult {
    let now = now(k);
    let set = if times == 0 {
        [Some(now), Some(now)]
    } else if utimbuf {
        let raw = k.user(tid).read_array::<16>(times)?;
        let sec = |i: usize| i64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap());
        [
            Some(Timestamp {
                sec: sec(0),
                nsec: 0,
            }),
            Some(Timestamp {
                sec: sec(1),
                nsec: 0,
            }),
        ]
    } else {
        let raw = k.user(tid).read_array::<32>(times)?;
        let mut set = [None, None];
        for (i, slot) in set.iter_mut().enumerate() {
            let sec = i64::from_le_bytes(raw[i * 16..i * 16 + 8].try_into().unwrap());
            let usec = u64::from_le_bytes(raw[i * 16 + 8..i * 16 + 16].try_into().unwrap());
            if usec >= 1_000_000 {
                return Err(Errno::EINVAL);
            }
            *slot = Some(Timestamp {
                sec,
                nsec: usec as u32 * 1000,
            });
        }
        set
    };
    let loc = locate(k, tid, dirfd, path, true)?;
    set_times(&loc, set, now)
}

pub fn truncate<A: Arch>(k: &mut Kernel<A>, tid: Tid, path: u64, len: u64) -> SysResult {
    if (len as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    let loc = locate(k, tid, AT_FDCWD as u64, path, true)?;
    check_writable_fs(&loc)?;
    truncate_node(&loc.node, len, now(k))?;
    Ok(0)
}

pub fn ftruncate<A: Arch>(k: &mut Kernel<A>, tid: Tid, fd: u64, len: u64) -> SysResult {
    if (len as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    let f = super::fs::file(k, tid, fd)?;
    let d = f.borrow();
    let node = d.node().filter(|n| n.file_type() == S_IFREG);
    match node {
        Some(node) if d.writable() => {
            truncate_node(node, len, now(k))?;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

// ----- the process's place: cwd, root, umask ------------------------------------------------

pub fn chdir<A: Arch>(k: &mut Kernel<A>, tid: Tid, path: u64) -> SysResult {
    let loc = locate(k, tid, AT_FDCWD as u64, path, true)?;
    if !loc.node.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    k.process_of(tid).fs.borrow_mut().cwd = loc;
    Ok(0)
}

pub fn fchdir<A: Arch>(k: &mut Kernel<A>, tid: Tid, fd: u64) -> SysResult {
    let f = super::fs::file(k, tid, fd)?;
    let loc = f.borrow().path.clone().ok_or(Errno::ENOTDIR)?;
    if !loc.node.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    k.process_of(tid).fs.borrow_mut().cwd = loc;
    Ok(0)
}

pub fn chroot<A: Arch>(k: &mut Kernel<A>, tid: Tid, path: u64) -> SysResult {
    let loc = locate(k, tid, AT_FDCWD as u64, path, true)?;
    if !loc.node.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    k.process_of(tid).fs.borrow_mut().root = loc;
    Ok(0)
}

pub fn getcwd<A: Arch>(k: &mut Kernel<A>, tid: Tid, buf: u64, size: u64) -> SysResult {
    let cwd = fs_context(k, tid).cwd;
    let mut path = with_resolver(k, tid, |r, _| r.path_of(&cwd));
    if path.ends_with(b" (deleted)") {
        // Linux's getcwd fails with ENOENT for an unlinked working directory.
        return Err(Errno::ENOENT);
    }
    path.push(0);
    if path.len() as u64 > size {
        return Err(Errno::ERANGE);
    }
    k.user(tid).write(buf, &path)?;
    Ok(path.len() as u64)
}

pub fn umask<A: Arch>(k: &mut Kernel<A>, tid: Tid, mask: u64) -> SysResult {
    let p = k.process_of(tid);
    let mut fs = p.fs.borrow_mut();
    let old = fs.umask;
    fs.umask = mask as u32 & 0o777;
    Ok(old as u64)
}

// ----- directories -----------------------------------------------------------------------

/// getdents64 (`linux_dirent64`) and, on x86_64, getdents (`linux_dirent`, type in the last
/// byte of the record).
pub fn getdents<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    fd: u64,
    buf: u64,
    count: u64,
    legacy: bool,
) -> SysResult {
    let f = super::fs::file(k, tid, fd)?;
    let loc = f.borrow().path.clone().ok_or(Errno::ENOTDIR)?;
    if !loc.node.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    if f.borrow().status_flags & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    let count = (count as u32).min(1 << 20) as usize;
    let parent_ino = with_resolver(k, tid, |r, _| r.parent(&loc).node.ino);
    let view = ProcView::new(k, tid);
    let mut d = f.borrow_mut();
    let File::Node(nf) = &mut d.file else {
        return Err(Errno::ENOTDIR);
    };
    let entries = node::entries_from(&view, &loc.node, parent_ino, nf, count / 24 + 1)?;
    let mut out = Vec::new();
    for e in &entries {
        let name_len = e.name.len();
        let reclen = if legacy {
            (8 + 8 + 2 + name_len + 2).next_multiple_of(8)
        } else {
            (8 + 8 + 2 + 1 + name_len + 1).next_multiple_of(8)
        };
        if out.len() + reclen > count {
            break;
        }
        let next_off = nf.dir_pos + 1;
        let start = out.len();
        out.resize(start + reclen, 0);
        let rec = &mut out[start..];
        rec[0..8].copy_from_slice(&e.ino.to_le_bytes());
        rec[8..16].copy_from_slice(&next_off.to_le_bytes());
        rec[16..18].copy_from_slice(&(reclen as u16).to_le_bytes());
        if legacy {
            rec[18..18 + name_len].copy_from_slice(&e.name);
            rec[reclen - 1] = e.kind;
        } else {
            rec[18] = e.kind;
            rec[19..19 + name_len].copy_from_slice(&e.name);
        }
        node::advance(nf, e);
    }
    if out.is_empty() && !entries.is_empty() {
        return Err(Errno::EINVAL);
    }
    drop(d);
    k.user(tid).write(buf, &out)?;
    Ok(out.len() as u64)
}

// ----- mounts ----------------------------------------------------------------------------

const MS_RDONLY: u64 = 1;
const MS_REMOUNT: u64 = 32;
const MS_BIND: u64 = 4096;
const MS_MOVE: u64 = 8192;
const MNT_FORCE: u32 = 1;
const MNT_DETACH: u32 = 2;
const MNT_EXPIRE: u32 = 4;
const UMOUNT_NOFOLLOW: u32 = 8;

pub fn mount<A: Arch>(k: &mut Kernel<A>, tid: Tid, a: [u64; 6]) -> SysResult {
    let (source, target_ptr, fstype, flags) = (a[0], a[1], a[2], a[3]);
    let at = locate(k, tid, AT_FDCWD as u64, target_ptr, true)?;
    if flags & MS_REMOUNT != 0 {
        return if alloc::rc::Rc::ptr_eq(&at.node, &at.mount.root) {
            Ok(0)
        } else {
            Err(Errno::EINVAL)
        };
    }
    if !at.node.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    if flags & MS_MOVE != 0 {
        return Err(Errno::EINVAL);
    }
    let now = now(k);
    if flags & MS_BIND != 0 {
        let from = locate(k, tid, AT_FDCWD as u64, source, true)?;
        if !from.node.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let src = alloc::string::String::from_utf8_lossy(&read_path(k, tid, source)?).into_owned();
        k.vfs
            .mount(&at, from.node.clone(), from.mount.fstype, &src)?;
        return Ok(0);
    }
    let fstype = read_path(k, tid, fstype)?;
    let source = if source == 0 {
        alloc::string::String::from("none")
    } else {
        alloc::string::String::from_utf8_lossy(&read_path(k, tid, source)?).into_owned()
    };
    let (root, name): (vfs::NodeRef, &'static str) = match fstype.as_slice() {
        b"tmpfs" => (k.vfs.new_tmpfs(now), "tmpfs"),
        b"ramfs" => (k.vfs.new_tmpfs(now), "ramfs"),
        b"devtmpfs" => (devfs::new_devtmpfs(&k.vfs, now), "devtmpfs"),
        b"proc" => (
            vfs::procfs::new_root(k.vfs.new_dev(), k.vfs.new_ino(), now),
            "proc",
        ),
        _ => return Err(Errno::ENODEV),
    };
    if name == "tmpfs" || name == "ramfs" {
        root.meta.borrow_mut().mode = S_IFDIR | 0o1777;
    }
    let _ = flags & MS_RDONLY;
    k.vfs.mount(&at, root, name, &source)?;
    Ok(0)
}

pub fn umount2<A: Arch>(k: &mut Kernel<A>, tid: Tid, target_ptr: u64, flags: u64) -> SysResult {
    let flags = flags as u32;
    if flags & !(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW) != 0
        || (flags & MNT_EXPIRE != 0 && flags & (MNT_FORCE | MNT_DETACH) != 0)
    {
        return Err(Errno::EINVAL);
    }
    let at = locate(
        k,
        tid,
        AT_FDCWD as u64,
        target_ptr,
        flags & UMOUNT_NOFOLLOW == 0,
    )?;
    k.vfs.unmount(&at, flags & MNT_DETACH != 0)?;
    Ok(0)
}
