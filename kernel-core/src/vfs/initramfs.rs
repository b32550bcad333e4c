//! Unpacking the initramfs (a newc cpio) into the tmpfs root, as Linux's init/initramfs.c does:
//! directories, regular files (their bytes stay in the archive until first written), symbolic
//! links, device nodes and FIFOs, with modes, owners and modification times; members with the
//! same inode number become hard links. Missing parent directories are created (Linux would
//! skip the member), and a later member replaces an earlier one of the same name.

use super::{
    Body, FileData, NodeRef, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG,
    S_IFSOCK, Timestamp, Vfs,
};
use crate::cpio::{self, CpioError};
use crate::errno::Errno;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cell::RefCell;

/// What unpacking did, for the boot log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Unpacked {
    pub files: usize,
    pub dirs: usize,
    pub links: usize,
    /// Members that could not be created (a bad name, a file where a directory is needed).
    pub skipped: usize,
}

/// Unpacks `archive` into the directory `root`.
pub fn unpack(vfs: &Vfs, root: &NodeRef, archive: &'static [u8]) -> Result<Unpacked, CpioError> {
    let mut report = Unpacked::default();
    // (dev major, dev minor, ino) of members with nlink > 1 → the node made for the first one.
    let mut hard_links: BTreeMap<(u32, u32, u32), NodeRef> = BTreeMap::new();
    for entry in cpio::entries(archive) {
        let entry = entry?;
        let mtime = Timestamp {
            sec: entry.mtime as i64,
            nsec: 0,
        };
        let components: Vec<&[u8]> = entry
            .name
            .as_bytes()
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
            .collect();
        let Some((&name, parents)) = components.split_last() else {
            // "." itself: the root's attributes.
            if entry.file_type() == S_IFDIR {
                let mut m = root.meta.borrow_mut();
                m.mode = entry.mode;
                m.uid = entry.uid;
                m.gid = entry.gid;
                m.mtime = mtime;
            }
            continue;
        };
        if components.contains(&&b".."[..]) {
            report.skipped += 1;
            continue;
        }
        let Ok(dir) = make_parents(vfs, root, parents, mtime) else {
            report.skipped += 1;
            continue;
        };
        // No type bits means a regular file (as mknod(2) takes it); a type no file system has
        // is skipped, as Linux's unpacker does.
        let kind = match entry.file_type() {
            0 => S_IFREG,
            t @ (S_IFDIR | S_IFREG | S_IFLNK | S_IFCHR | S_IFBLK | S_IFIFO | S_IFSOCK) => t,
            _ => {
                report.skipped += 1;
                continue;
            }
        };
        let existing = super::lookup_child(&dir, name);
        if let Some(old) = &existing {
            if kind == S_IFDIR && old.is_dir() {
                set_meta(old, &entry, mtime);
                continue;
            }
            if super::remove(&dir, name, old.is_dir(), mtime).is_err() {
                report.skipped += 1;
                continue;
            }
        }
        let key = (entry.dev_major, entry.dev_minor, entry.ino);
        if kind == S_IFREG
            && entry.nlink > 1
            && let Some(node) = hard_links.get(&key)
        {
            if super::link(&dir, name, node, mtime).is_err() {
                report.skipped += 1;
                continue;
            }
            if !entry.data.is_empty()
                && let Body::File(data) = &node.body
            {
                *data.borrow_mut() = FileData::Static(entry.data);
            }
            report.links += 1;
            continue;
        }
        let body = match kind {
            S_IFDIR => super::dir_body(None),
            S_IFREG => Body::File(RefCell::new(FileData::Static(entry.data))),
            S_IFLNK => Body::Symlink(entry.data.to_vec()),
            _ => Body::Special,
        };
        let mode = kind | (entry.mode & !S_IFMT);
        match vfs.create(&dir, name, mode, mtime, body) {
            Ok(node) => {
                set_meta(&node, &entry, mtime);
                node.meta.borrow_mut().rdev = super::makedev(entry.rdev_major, entry.rdev_minor);
                match kind {
                    S_IFDIR => report.dirs += 1,
                    _ => report.files += 1,
                }
                if kind == S_IFREG && entry.nlink > 1 {
                    hard_links.insert(key, node);
                }
            }
            Err(_) => report.skipped += 1,
        }
        super::touch_dir(&dir, mtime);
    }
    Ok(report)
}

fn set_meta(node: &NodeRef, entry: &cpio::Entry, mtime: Timestamp) {
    let mut m = node.meta.borrow_mut();
    m.mode = (m.mode & S_IFMT) | (entry.mode & !S_IFMT);
    m.uid = entry.uid;
    m.gid = entry.gid;
    m.mtime = mtime;
    m.ctime = mtime;
    m.atime = mtime;
}

/// The directory `root/parents...`, creating missing ones (mode 0755).
fn make_parents(
    vfs: &Vfs,
    root: &NodeRef,
    parents: &[&[u8]],
    now: Timestamp,
) -> Result<NodeRef, Errno> {
    let mut dir = root.clone();
    for &part in parents {
        dir = match super::lookup_child(&dir, part) {
            Some(next) if next.is_dir() => next,
            Some(_) => return Err(Errno::ENOTDIR),
            None => vfs.create(&dir, part, S_IFDIR | 0o755, now, super::dir_body(None))?,
        };
    }
    Ok(dir)
}
