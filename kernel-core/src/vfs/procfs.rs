//! The /proc tree: generated on demand from the process table. Its directories list what
//! exists now (one directory per process), its files are generated when opened, and its
//! symbolic links (self, exe, cwd, fd/N) are computed when read. The kernel answers through
//! [`ProcSource`], so this module knows nothing of processes beyond numbers.

use super::{
    Body, DirEntry, Inode, Meta, NodeRef, S_IFDIR, S_IFLNK, S_IFREG, Timestamp, dirent_type,
};
use alloc::format;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;

/// A file under /proc/<pid>/.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PidFile {
    Stat,
    Status,
    Statm,
    Cmdline,
    Environ,
    Comm,
    Maps,
    Mounts,
}

/// A symbolic link under /proc/<pid>/.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PidLink {
    Exe,
    Cwd,
    Root,
    Fd(u32),
}

/// A file directly under /proc.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GlobalFile {
    Meminfo,
    Cpuinfo,
    Uptime,
    Version,
    Loadavg,
    Stat,
    Filesystems,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcNode {
    Root,
    /// `self` → the caller's pid; `mounts` → `self/mounts`.
    SelfLink,
    MountsLink,
    Pid(u32),
    FdDir(u32),
    PidFile(u32, PidFile),
    PidLink(u32, PidLink),
    Global(GlobalFile),
}

/// What the kernel tells /proc.
pub trait ProcSource {
    /// The calling process.
    fn current(&self) -> u32;
    /// Every process, ascending.
    fn pids(&self) -> Vec<u32>;
    fn fds(&self, pid: u32) -> Option<Vec<u32>>;
    /// A link's target; None if the process or descriptor is gone.
    fn link(&self, pid: u32, link: PidLink) -> Option<Vec<u8>>;
    /// A generated file's contents; None if its process is gone.
    fn pid_file(&self, pid: u32, file: PidFile) -> Option<Vec<u8>>;
    fn global_file(&self, file: GlobalFile) -> Vec<u8>;
    /// Boot time, for the nodes' time stamps.
    fn boot_time(&self) -> Timestamp;
}

const PID_FILES: [(&str, PidFile); 8] = [
    ("cmdline", PidFile::Cmdline),
    ("comm", PidFile::Comm),
    ("environ", PidFile::Environ),
    ("maps", PidFile::Maps),
    ("mounts", PidFile::Mounts),
    ("stat", PidFile::Stat),
    ("statm", PidFile::Statm),
    ("status", PidFile::Status),
];
const PID_LINKS: [(&str, PidLink); 3] = [
    ("cwd", PidLink::Cwd),
    ("exe", PidLink::Exe),
    ("root", PidLink::Root),
];
const GLOBAL_FILES: [(&str, GlobalFile); 7] = [
    ("cpuinfo", GlobalFile::Cpuinfo),
    ("filesystems", GlobalFile::Filesystems),
    ("loadavg", GlobalFile::Loadavg),
    ("meminfo", GlobalFile::Meminfo),
    ("stat", GlobalFile::Stat),
    ("uptime", GlobalFile::Uptime),
    ("version", GlobalFile::Version),
];

/// A /proc root directory inode for a new proc mount.
pub fn new_root(dev: u64, ino: u64, now: Timestamp) -> NodeRef {
    make(dev, ino, ProcNode::Root, now)
}

fn mode_of(node: &ProcNode) -> u32 {
    match node {
        ProcNode::Root | ProcNode::Pid(_) => S_IFDIR | 0o555,
        ProcNode::FdDir(_) => S_IFDIR | 0o500,
        ProcNode::SelfLink | ProcNode::MountsLink => S_IFLNK | 0o777,
        ProcNode::PidLink(..) => S_IFLNK | 0o777,
        ProcNode::PidFile(_, PidFile::Environ) => S_IFREG | 0o400,
        ProcNode::PidFile(..) | ProcNode::Global(_) => S_IFREG | 0o444,
    }
}

/// Stable inode numbers: the same node always gets the same number.
fn ino_of(root_ino: u64, node: &ProcNode) -> u64 {
    let code = |f: u64| root_ino + 0x1000 + f;
    match *node {
        ProcNode::Root => root_ino,
        ProcNode::SelfLink => code(1),
        ProcNode::MountsLink => code(2),
        ProcNode::Global(g) => code(16 + g as u64),
        ProcNode::Pid(p) => (p as u64) << 16,
        ProcNode::FdDir(p) => ((p as u64) << 16) | 1,
        ProcNode::PidFile(p, f) => ((p as u64) << 16) | (16 + f as u64),
        ProcNode::PidLink(p, PidLink::Fd(fd)) => ((p as u64) << 16) | (1024 + fd as u64 % 60000),
        ProcNode::PidLink(p, l) => {
            ((p as u64) << 16)
                | (8 + match l {
                    PidLink::Exe => 0,
                    PidLink::Cwd => 1,
                    _ => 2,
                })
        }
    }
}

fn make(dev: u64, ino: u64, node: ProcNode, now: Timestamp) -> NodeRef {
    let mode = mode_of(&node);
    Rc::new(Inode {
        ino,
        dev,
        meta: RefCell::new(Meta {
            mode,
            uid: 0,
            gid: 0,
            nlink: if mode & super::S_IFMT == S_IFDIR {
                2
            } else {
                1
            },
            rdev: 0,
            atime: now,
            mtime: now,
            ctime: now,
        }),
        body: Body::Proc(node),
    })
}

fn proc_of(n: &NodeRef) -> ProcNode {
    match &n.body {
        Body::Proc(p) => *p,
        _ => ProcNode::Root,
    }
}

/// The base for the numbers of the root's own children: the root's inode number. Only the
/// root has such children; under other directories every number derives from the pid.
fn root_ino_seen_from(dir: &NodeRef) -> u64 {
    match proc_of(dir) {
        ProcNode::Root => dir.ino,
        _ => 0,
    }
}

fn child(dir: &NodeRef, node: ProcNode, src: &dyn ProcSource) -> NodeRef {
    make(
        dir.dev,
        ino_of(root_ino_seen_from(dir), &node),
        node,
        src.boot_time(),
    )
}

fn parse_number(name: &[u8]) -> Option<u32> {
    if name.is_empty() || name.len() > 10 || (name.len() > 1 && name[0] == b'0') {
        return None;
    }
    core::str::from_utf8(name).ok()?.parse().ok()
}

/// Looks `name` up in the /proc directory `dir`.
pub fn lookup(src: &dyn ProcSource, dir: &NodeRef, name: &[u8]) -> Option<NodeRef> {
    let node = match proc_of(dir) {
        ProcNode::Root => match name {
            b"self" => ProcNode::SelfLink,
            b"mounts" => ProcNode::MountsLink,
            _ => {
                if let Some(&(_, g)) = GLOBAL_FILES.iter().find(|(n, _)| n.as_bytes() == name) {
                    ProcNode::Global(g)
                } else {
                    let pid = parse_number(name)?;
                    src.pids().contains(&pid).then_some(ProcNode::Pid(pid))?
                }
            }
        },
        ProcNode::Pid(pid) => {
            if name == b"fd" {
                ProcNode::FdDir(pid)
            } else if let Some(&(_, f)) = PID_FILES.iter().find(|(n, _)| n.as_bytes() == name) {
                ProcNode::PidFile(pid, f)
            } else {
                let &(_, l) = PID_LINKS.iter().find(|(n, _)| n.as_bytes() == name)?;
                ProcNode::PidLink(pid, l)
            }
        }
        ProcNode::FdDir(pid) => {
            let fd = parse_number(name)?;
            src.fds(pid)?
                .contains(&fd)
                .then_some(ProcNode::PidLink(pid, PidLink::Fd(fd)))?
        }
        _ => return None,
    };
    Some(child(dir, node, src))
}

/// The directory above a /proc node (`root` is the mount's root).
pub fn parent(node: &NodeRef, root: &NodeRef) -> NodeRef {
    match proc_of(node) {
        ProcNode::FdDir(pid) | ProcNode::PidFile(pid, _) | ProcNode::PidLink(pid, _) => {
            let dir = match proc_of(node) {
                ProcNode::PidLink(_, PidLink::Fd(_)) => ProcNode::FdDir(pid),
                _ => ProcNode::Pid(pid),
            };
            make(
                node.dev,
                ino_of(root.ino, &dir),
                dir,
                node.meta.borrow().mtime,
            )
        }
        _ => root.clone(),
    }
}

/// The name a node has in its directory (for the reverse walk of getcwd).
pub fn name_of(_src: &dyn ProcSource, node: &ProcNode) -> Option<Vec<u8>> {
    Some(match *node {
        ProcNode::Root => return None,
        ProcNode::SelfLink => b"self".to_vec(),
        ProcNode::MountsLink => b"mounts".to_vec(),
        ProcNode::Pid(p) => format!("{p}").into_bytes(),
        ProcNode::FdDir(_) => b"fd".to_vec(),
        ProcNode::PidLink(_, PidLink::Fd(fd)) => format!("{fd}").into_bytes(),
        ProcNode::PidFile(_, f) => PID_FILES.iter().find(|e| e.1 == f)?.0.as_bytes().to_vec(),
        ProcNode::PidLink(_, l) => PID_LINKS.iter().find(|e| e.1 == l)?.0.as_bytes().to_vec(),
        ProcNode::Global(g) => GLOBAL_FILES
            .iter()
            .find(|e| e.1 == g)?
            .0
            .as_bytes()
            .to_vec(),
    })
}

pub fn read_link(src: &dyn ProcSource, node: &ProcNode) -> Option<Vec<u8>> {
    match *node {
        ProcNode::SelfLink => Some(format!("{}", src.current()).into_bytes()),
        ProcNode::MountsLink => Some(b"self/mounts".to_vec()),
        ProcNode::PidLink(pid, link) => src.link(pid, link),
        _ => None,
    }
}

/// The entries of a /proc directory (without `.` and `..`).
pub fn read_dir(src: &dyn ProcSource, dir: &NodeRef) -> Vec<DirEntry> {
    let mut nodes = Vec::new();
    match proc_of(dir) {
        ProcNode::Root => {
            nodes.extend(GLOBAL_FILES.iter().map(|&(_, g)| ProcNode::Global(g)));
            nodes.push(ProcNode::MountsLink);
            nodes.push(ProcNode::SelfLink);
            nodes.extend(src.pids().into_iter().map(ProcNode::Pid));
        }
        ProcNode::Pid(pid) => {
            nodes.push(ProcNode::FdDir(pid));
            nodes.extend(PID_FILES.iter().map(|&(_, f)| ProcNode::PidFile(pid, f)));
            nodes.extend(PID_LINKS.iter().map(|&(_, l)| ProcNode::PidLink(pid, l)));
        }
        ProcNode::FdDir(pid) => nodes.extend(
            src.fds(pid)
                .unwrap_or_default()
                .into_iter()
                .map(|fd| ProcNode::PidLink(pid, PidLink::Fd(fd))),
        ),
        _ => {}
    }
    let root_ino = root_ino_seen_from(dir);
    nodes
        .into_iter()
        .filter_map(|n| {
            Some(DirEntry {
                ino: ino_of(root_ino, &n),
                name: name_of(src, &n)?,
                kind: dirent_type(mode_of(&n)),
            })
        })
        .collect()
}

/// A /proc file's contents at open; None if its process has gone (ESRCH → ENOENT on Linux).
pub fn contents(src: &dyn ProcSource, node: &ProcNode) -> Option<Vec<u8>> {
    match *node {
        ProcNode::PidFile(pid, f) => src.pid_file(pid, f),
        ProcNode::Global(g) => Some(src.global_file(g)),
        _ => None,
    }
}
