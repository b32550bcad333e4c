//! Path resolution: absolute and relative paths, `.` and `..` (climbing out of mounts), mount
//! points, symbolic links (at most [`MAX_SYMLINKS`] per resolution, then ELOOP), trailing
//! slashes, and the reverse walk that turns a location back into a path (getcwd, /proc links).

use super::procfs::{self, ProcSource};
use super::{Body, Location, NodeRef, PATH_MAX, Vfs, lookup_child, parent_of};
use crate::errno::Errno;
use alloc::rc::Rc;
use alloc::vec::Vec;

/// Linux's MAXSYMLINKS: links followed in one resolution.
pub const MAX_SYMLINKS: u32 = 40;

/// Resolves paths for one process: its root, and the /proc view it sees.
pub struct Resolver<'a> {
    pub vfs: &'a Vfs,
    pub proc: &'a dyn ProcSource,
    pub root: Location,
}

/// The result of resolving all but the last component (for create, unlink, rename, ...).
pub struct Parent {
    pub dir: Location,
    /// The last component; empty for `/` (and for a path of only slashes).
    pub name: Vec<u8>,
    /// The path ended in `/` (the last component must then be a directory).
    pub trailing_slash: bool,
}

impl Resolver<'_> {
    /// Resolves `path` relative to `start`; a trailing symlink is followed when `follow`.
    pub fn resolve(&self, start: &Location, path: &[u8], follow: bool) -> Result<Location, Errno> {
        let mut budget = MAX_SYMLINKS;
        self.walk(start, path, follow, &mut budget)
    }

    /// Resolves every component but the last, which is returned as a name.
    pub fn resolve_parent(&self, start: &Location, path: &[u8]) -> Result<Parent, Errno> {
        check_path(path)?;
        let trimmed_len = path.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
        let trailing_slash = trimmed_len < path.len();
        let trimmed = &path[..trimmed_len];
        let (dir_part, name) = match trimmed.iter().rposition(|&b| b == b'/') {
            Some(i) => (&trimmed[..=i], &trimmed[i + 1..]),
            None => (&b""[..], trimmed),
        };
        let mut budget = MAX_SYMLINKS;
        let dir = if dir_part.is_empty() {
            if path.first() == Some(&b'/') {
                self.root.clone()
            } else {
                start.clone()
            }
        } else {
            self.walk(start, dir_part, true, &mut budget)?
        };
        if !dir.node.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(Parent {
            dir,
            name: name.to_vec(),
            trailing_slash,
        })
    }

    fn walk(
        &self,
        start: &Location,
        path: &[u8],
        follow_last: bool,
        budget: &mut u32,
    ) -> Result<Location, Errno> {
        check_path(path)?;
        let mut cur = if path[0] == b'/' {
            self.root.clone()
        } else {
            start.clone()
        };
        let trailing_slash = path.last() == Some(&b'/');
        let components: Vec<&[u8]> = path
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .collect();
        for (i, &component) in components.iter().enumerate() {
            let last = i + 1 == components.len();
            if !cur.node.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            if component.len() > super::NAME_MAX {
                return Err(Errno::ENAMETOOLONG);
            }
            match component {
                b"." => continue,
                b".." => {
                    cur = self.parent(&cur);
                    continue;
                }
                _ => {}
            }
            let child = self.lookup(&cur, component).ok_or(Errno::ENOENT)?;
            let next = self.enter_mounts(Location {
                mount: cur.mount.clone(),
                node: child,
                parent: Some(cur.node.clone()),
            });
            cur = if next.node.is_symlink() && (!last || follow_last || trailing_slash) {
                if *budget == 0 {
                    return Err(Errno::ELOOP);
                }
                *budget -= 1;
                let target = self.read_link(&next)?;
                if target.is_empty() {
                    return Err(Errno::ENOENT);
                }
                self.walk(&cur, &target, true, budget)?
            } else {
                next
            };
        }
        if trailing_slash && !cur.node.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(cur)
    }

    /// A child of the directory at `dir`, from the tmpfs or the generated /proc tree.
    pub fn lookup(&self, dir: &Location, name: &[u8]) -> Option<NodeRef> {
        match &dir.node.body {
            Body::Proc(_) => procfs::lookup(self.proc, &dir.node, name),
            _ => lookup_child(&dir.node, name),
        }
    }

    /// Steps onto what is mounted on `loc`, repeatedly (mounts can stack).
    pub fn enter_mounts(&self, mut loc: Location) -> Location {
        while loc.node.is_dir() {
            match self.vfs.mounted_on(&loc) {
                Some(mount) => {
                    loc = Location {
                        node: mount.root.clone(),
                        mount,
                        parent: None,
                    }
                }
                None => break,
            }
        }
        loc
    }

    /// `..`: stays at the process root, climbs out of mounts, then goes to the parent.
    pub fn parent(&self, loc: &Location) -> Location {
        let mut cur = loc.clone();
        loop {
            if cur.same(&self.root) {
                return cur;
            }
            if Rc::ptr_eq(&cur.node, &cur.mount.root) {
                match &cur.mount.parent {
                    Some((mount, node)) => {
                        cur = Location {
                            mount: mount.clone(),
                            node: node.clone(),
                            parent: None,
                        };
                        continue;
                    }
                    None => return cur,
                }
            }
            break;
        }
        let up = match &cur.node.body {
            Body::Proc(_) => procfs::parent(&cur.node, &cur.mount.root),
            _ => parent_of(&cur.node),
        };
        self.enter_mounts(Location {
            mount: cur.mount,
            node: up,
            parent: None,
        })
    }

    /// A symbolic link's target (for /proc, generated).
    pub fn read_link(&self, loc: &Location) -> Result<Vec<u8>, Errno> {
        match &loc.node.body {
            Body::Symlink(target) => Ok(target.clone()),
            Body::Proc(node) => procfs::read_link(self.proc, node).ok_or(Errno::ENOENT),
            _ => Err(Errno::EINVAL),
        }
    }

    /// The path of `loc` as seen from this process's root (what getcwd prints). A location
    /// outside the root (after a chroot) or unlinked gets Linux's markers.
    pub fn path_of(&self, loc: &Location) -> Vec<u8> {
        let mut parts: Vec<Vec<u8>> = Vec::new();
        let mut cur = loc.clone();
        let mut unlinked = false;
        for _ in 0..PATH_MAX {
            if cur.same(&self.root) {
                break;
            }
            if Rc::ptr_eq(&cur.node, &cur.mount.root) {
                match &cur.mount.parent {
                    Some((mount, node)) => {
                        cur = Location {
                            mount: mount.clone(),
                            node: node.clone(),
                            parent: None,
                        };
                        continue;
                    }
                    None => break,
                }
            }
            let up_dir = Location {
                mount: cur.mount.clone(),
                node: match (&cur.node.body, &cur.parent) {
                    (Body::Proc(_), _) => procfs::parent(&cur.node, &cur.mount.root),
                    (Body::Dir(_), _) => parent_of(&cur.node),
                    (_, Some(dir)) => dir.clone(),
                    (_, None) => {
                        unlinked = true;
                        break;
                    }
                },
                parent: None,
            };
            match name_in(self, &up_dir, &cur.node) {
                Some(name) => parts.push(name),
                None => {
                    unlinked = true;
                    break;
                }
            }
            cur = up_dir;
        }
        let mut out = Vec::new();
        for part in parts.iter().rev() {
            out.push(b'/');
            out.extend_from_slice(part);
        }
        if out.is_empty() {
            out.push(b'/');
        }
        if unlinked {
            out.extend_from_slice(b" (deleted)");
        }
        out
    }
}

/// The name under which `dir` holds `node`.
fn name_in(r: &Resolver, dir: &Location, node: &NodeRef) -> Option<Vec<u8>> {
    match &dir.node.body {
        Body::Dir(d) => d
            .borrow()
            .entries
            .iter()
            .find(|(_, n)| Rc::ptr_eq(n, node))
            .map(|(name, _)| name.clone()),
        Body::Proc(_) => match &node.body {
            Body::Proc(p) => procfs::name_of(r.proc, p),
            _ => None,
        },
        _ => None,
    }
}

/// An empty path is ENOENT; a too-long one ENAMETOOLONG.
fn check_path(path: &[u8]) -> Result<(), Errno> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    if path.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(())
}
