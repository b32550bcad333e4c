//! Open files that live in the VFS: regular files (read and written at the description's
//! offset), directories (read with getdents, whose position survives entries being removed
//! between calls, as `rm -r` needs) and /proc files (generated once, at open, then read like a
//! regular file).

use crate::errno::Errno;
use crate::vfs::procfs::{self, ProcSource};
use crate::vfs::{Body, DirEntry, NodeRef, Timestamp, dirent_type};
use alloc::vec::Vec;

/// A VFS node's per-description state.
#[derive(Default)]
pub struct NodeFile {
    /// A /proc file's contents, generated at open.
    pub snapshot: Option<Vec<u8>>,
    /// Directory position: entries returned so far (`.` and `..` included)...
    pub dir_pos: u64,
    /// ... and the name of the last real entry returned (tmpfs directories are sorted maps,
    /// so the next entry is the first name after it, whatever was removed meanwhile).
    pub dir_last: Option<Vec<u8>>,
}

/// Reads up to `max` bytes at `offset`.
pub fn read(node: &NodeRef, nf: &NodeFile, offset: u64, max: usize) -> Result<Vec<u8>, Errno> {
    let mut out = alloc::vec![0u8; max];
    let n = match (&node.body, &nf.snapshot) {
        (Body::Dir(_), _) => return Err(Errno::EISDIR),
        (Body::File(data), _) => data.borrow().read_at(offset, &mut out),
        (Body::Proc(_), Some(snapshot)) => crate::vfs::read_slice_at(snapshot, offset, &mut out),
        (Body::Proc(_), None) => return Err(Errno::EISDIR),
        _ => return Err(Errno::EINVAL),
    };
    out.truncate(n);
    Ok(out)
}

/// Writes `data` at `offset` into a regular file and updates its times.
pub fn write(node: &NodeRef, offset: u64, data: &[u8], now: Timestamp) -> Result<(), Errno> {
    match &node.body {
        Body::File(contents) => {
            contents.borrow_mut().write_at(offset, data)?;
            let mut m = node.meta.borrow_mut();
            m.mtime = now;
            m.ctime = now;
            Ok(())
        }
        Body::Dir(_) => Err(Errno::EISDIR),
        _ => Err(Errno::EINVAL),
    }
}

/// The next directory entries after the position in `nf`: `.`, `..`, then the children.
/// `parent_ino` is what `..` reports. Does not move the position: [`advance`] does, for the
/// entries the caller managed to return.
pub fn entries_from(
    src: &dyn ProcSource,
    node: &NodeRef,
    parent_ino: u64,
    nf: &NodeFile,
    limit: usize,
) -> Result<Vec<DirEntry>, Errno> {
    let mut out = Vec::new();
    let dot = |name: &[u8], ino: u64| DirEntry {
        ino,
        name: name.to_vec(),
        kind: dirent_type(crate::vfs::S_IFDIR),
    };
    if nf.dir_pos == 0 {
        out.push(dot(b".", node.ino));
    }
    if nf.dir_pos <= 1 {
        out.push(dot(b"..", parent_ino));
    }
    match &node.body {
        Body::Dir(d) => {
            let d = d.borrow();
            let range = match &nf.dir_last {
                Some(last) => d
                    .entries
                    .range::<[u8], _>((
                        core::ops::Bound::Excluded(last.as_slice()),
                        core::ops::Bound::Unbounded,
                    ))
                    .take(limit),
                None => d
                    .entries
                    .range::<[u8], _>((core::ops::Bound::Unbounded, core::ops::Bound::Unbounded))
                    .take(limit),
            };
            out.extend(range.map(|(name, child)| DirEntry {
                ino: child.ino,
                name: name.clone(),
                kind: dirent_type(child.mode()),
            }));
        }
        Body::Proc(_) => {
            let skip = nf.dir_pos.saturating_sub(2) as usize;
            out.extend(
                procfs::read_dir(src, node)
                    .into_iter()
                    .skip(skip)
                    .take(limit),
            );
        }
        _ => return Err(Errno::ENOTDIR),
    }
    Ok(out)
}

/// Moves the position past `entry`, which [`entries_from`] returned and the caller delivered.
pub fn advance(nf: &mut NodeFile, entry: &DirEntry) {
    nf.dir_pos += 1;
    if nf.dir_pos > 2 {
        nf.dir_last = Some(entry.name.clone());
    }
}

/// lseek on a directory: 0 rewinds; another position counts entries from the start.
pub fn seek_dir(src: &dyn ProcSource, node: &NodeRef, nf: &mut NodeFile, pos: u64) {
    nf.dir_pos = 0;
    nf.dir_last = None;
    if pos == 0 {
        return;
    }
    let wanted = pos.min(1 << 20) as usize;
    if let Ok(entries) = entries_from(src, node, 0, nf, wanted) {
        for e in entries.iter().take(wanted) {
            advance(nf, e);
        }
    }
}
