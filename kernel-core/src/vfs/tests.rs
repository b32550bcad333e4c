//! Host tests of the VFS: the tmpfs operations, path resolution (symlinks, `..` across mounts,
//! loops, trailing slashes), the initramfs unpacker and the /proc tree.

use super::path::Resolver;
use super::procfs::{GlobalFile, PidFile, PidLink, ProcSource};
use super::*;
use alloc::format;
use alloc::vec;

struct FakeProc;

impl ProcSource for FakeProc {
    fn current(&self) -> u32 {
        7
    }
    fn pids(&self) -> Vec<u32> {
        vec![1, 7]
    }
    fn fds(&self, pid: u32) -> Option<Vec<u32>> {
        (pid == 7).then(|| vec![0, 1, 2])
    }
    fn link(&self, pid: u32, link: PidLink) -> Option<Vec<u8>> {
        match link {
            PidLink::Cwd => Some(b"/tmp".to_vec()),
            PidLink::Fd(fd) => Some(format!("/dev/fd-of-{pid}-{fd}").into_bytes()),
            _ => Some(b"/".to_vec()),
        }
    }
    fn pid_file(&self, pid: u32, file: PidFile) -> Option<Vec<u8>> {
        Some(format!("{pid} {file:?}").into_bytes())
    }
    fn global_file(&self, file: GlobalFile) -> Vec<u8> {
        format!("{file:?}").into_bytes()
    }
    fn boot_time(&self) -> Timestamp {
        Timestamp::default()
    }
}

const NOW: Timestamp = Timestamp { sec: 100, nsec: 0 };

fn mkdir(vfs: &Vfs, dir: &NodeRef, name: &str) -> NodeRef {
    vfs.create(dir, name.as_bytes(), S_IFDIR | 0o755, NOW, dir_body(None))
        .unwrap()
}

fn file(vfs: &Vfs, dir: &NodeRef, name: &str, data: &[u8]) -> NodeRef {
    vfs.create(
        dir,
        name.as_bytes(),
        S_IFREG | 0o644,
        NOW,
        Body::File(RefCell::new(FileData::Owned(data.to_vec()))),
    )
    .unwrap()
}

fn symlink(vfs: &Vfs, dir: &NodeRef, name: &str, target: &str) {
    vfs.create(
        dir,
        name.as_bytes(),
        S_IFLNK | 0o777,
        NOW,
        Body::Symlink(target.as_bytes().to_vec()),
    )
    .unwrap();
}

fn resolver(vfs: &Vfs) -> Resolver<'_> {
    Resolver {
        vfs,
        proc: &FakeProc,
        root: vfs.root(),
    }
}

/// /a/b/f ("data"), /a/up -> .., /abs -> /a/b, /loop1 <-> /loop2, /dangling -> /nope
fn sample() -> (Vfs, NodeRef) {
    let vfs = Vfs::new();
    let root = vfs.root().node;
    let a = mkdir(&vfs, &root, "a");
    let b = mkdir(&vfs, &a, "b");
    let f = file(&vfs, &b, "f", b"data");
    symlink(&vfs, &a, "up", "..");
    symlink(&vfs, &root, "abs", "/a/b");
    symlink(&vfs, &root, "loop1", "loop2");
    symlink(&vfs, &root, "loop2", "loop1");
    symlink(&vfs, &root, "dangling", "/nope");
    (vfs, f)
}

#[test]
fn resolves_absolute_relative_dot_dotdot_and_symlinks() {
    let (vfs, f) = sample();
    let r = resolver(&vfs);
    let root = vfs.root();
    let found = |p: &str| r.resolve(&root, p.as_bytes(), true).map(|l| l.node);
    assert!(Rc::ptr_eq(&found("/a/b/f").unwrap(), &f));
    assert!(Rc::ptr_eq(&found("a/./b//f").unwrap(), &f));
    assert!(Rc::ptr_eq(&found("/a/b/../b/f").unwrap(), &f));
    assert!(
        Rc::ptr_eq(&found("/../../a/b/f").unwrap(), &f),
        ".. stops at /"
    );
    assert!(Rc::ptr_eq(&found("/abs/f").unwrap(), &f));
    assert!(
        Rc::ptr_eq(&found("/a/up/a/b/f").unwrap(), &f),
        "relative link"
    );
    assert_eq!(found("/a/b/f/").err(), Some(Errno::ENOTDIR));
    assert_eq!(found("/a/b/f/x").err(), Some(Errno::ENOTDIR));
    assert_eq!(found("/a/x").err(), Some(Errno::ENOENT));
    assert_eq!(found("").err(), Some(Errno::ENOENT));
    assert_eq!(found("/loop1").err(), Some(Errno::ELOOP));
    assert_eq!(found("/dangling").err(), Some(Errno::ENOENT));
    // Without following, the link itself.
    let l = r.resolve(&root, b"/dangling", false).unwrap();
    assert!(l.node.is_symlink());
    assert_eq!(r.read_link(&l).unwrap(), b"/nope");
    // A trailing slash follows even with nofollow.
    assert!(r.resolve(&root, b"/abs/", false).unwrap().node.is_dir());
    let long = "x".repeat(256);
    assert_eq!(found(&long).err(), Some(Errno::ENAMETOOLONG));
}

#[test]
fn mounts_are_entered_and_dotdot_climbs_out() {
    let (mut vfs, _) = sample();
    let root = vfs.root();
    let a = resolver(&vfs).resolve(&root, b"/a", true).unwrap();
    let tmp = vfs.new_tmpfs(NOW);
    let mounted = vfs.mount(&a, tmp.clone(), "tmpfs", "tmpfs").unwrap();
    file(&vfs, &tmp, "inside", b"x");
    let r = resolver(&vfs);
    let l = r.resolve(&root, b"/a/inside", true).unwrap();
    assert!(Rc::ptr_eq(&l.mount, &mounted.mount));
    assert_eq!(
        r.resolve(&root, b"/a/b", true).err(),
        Some(Errno::ENOENT),
        "covered"
    );
    let back = r.resolve(&mounted, b"../abs", false).unwrap();
    assert!(
        back.node.is_symlink(),
        "from the mount's root, .. is /a's parent"
    );
    assert_eq!(r.path_of(&l), b"/a/inside");
    drop(r);
    assert_eq!(vfs.unmount(&root, false), Err(Errno::EINVAL));
    let m = resolver(&vfs).resolve(&root, b"/a", true).unwrap();
    vfs.unmount(&m, false).unwrap();
    assert!(resolver(&vfs).resolve(&root, b"/a/b/f", true).is_ok());
}

#[test]
fn parent_resolution_splits_the_last_component() {
    let (vfs, _) = sample();
    let r = resolver(&vfs);
    let root = vfs.root();
    let p = r.resolve_parent(&root, b"/a/b/new/").unwrap();
    assert_eq!(p.name, b"new");
    assert!(p.trailing_slash);
    assert_eq!(r.path_of(&p.dir), b"/a/b");
    let p = r.resolve_parent(&root, b"/").unwrap();
    assert!(p.name.is_empty());
    assert_eq!(
        r.resolve_parent(&root, b"/a/b/f/x").err(),
        Some(Errno::ENOTDIR)
    );
    let p = r.resolve_parent(&root, b"abs/g").unwrap();
    assert_eq!(
        r.path_of(&p.dir),
        b"/a/b",
        "links in the directory part are followed"
    );
}

#[test]
fn link_unlink_rmdir_and_rename() {
    let (vfs, f) = sample();
    let root = vfs.root().node;
    let a = lookup_child(&root, b"a").unwrap();
    let b = lookup_child(&a, b"b").unwrap();
    link(&root, b"hard", &f, NOW).unwrap();
    assert_eq!(f.meta.borrow().nlink, 2);
    assert_eq!(link(&root, b"hard", &f, NOW), Err(Errno::EEXIST));
    assert_eq!(link(&root, b"d", &a, NOW), Err(Errno::EPERM));
    remove(&b, b"f", false, NOW).unwrap();
    assert_eq!(f.meta.borrow().nlink, 1);
    assert_eq!(remove(&root, b"a", true, NOW), Err(Errno::ENOTEMPTY));
    assert_eq!(remove(&root, b"a", false, NOW), Err(Errno::EISDIR));
    assert_eq!(remove(&root, b"hard", true, NOW), Err(Errno::ENOTDIR));
    // Directory renames fix the parent pointer and the link counts.
    let root_links = root.meta.borrow().nlink;
    rename(&a, b"b", &root, b"b2", 0, NOW).unwrap();
    assert_eq!(root.meta.borrow().nlink, root_links + 1);
    assert!(Rc::ptr_eq(&parent_of(&b), &root));
    assert_eq!(rename(&root, b"a", &b, b"x", 0, NOW), Ok(()));
    assert_eq!(
        rename(&b, b"x", &lookup_child(&b, b"x").unwrap(), b"y", 0, NOW),
        Err(Errno::EINVAL),
        "into itself"
    );
    file(&vfs, &root, "g", b"1");
    assert_eq!(
        rename(&root, b"hard", &root, b"g", RENAME_NOREPLACE, NOW),
        Err(Errno::EEXIST)
    );
    rename(&root, b"hard", &root, b"g", RENAME_EXCHANGE, NOW).unwrap();
    assert!(Rc::ptr_eq(&lookup_child(&root, b"g").unwrap(), &f));
    assert_eq!(rename(&root, b"g", &b, b"x", 0, NOW), Err(Errno::EISDIR));
    // Replacing a file drops the old one's link; replacing an empty directory drops it.
    let old = file(&vfs, &root, "old", b"1");
    rename(&root, b"g", &root, b"old", 0, NOW).unwrap();
    assert_eq!(old.meta.borrow().nlink, 0);
    assert!(Rc::ptr_eq(&lookup_child(&root, b"old").unwrap(), &f));
    let empty = mkdir(&vfs, &root, "empty");
    let links = root.meta.borrow().nlink;
    rename(&b, b"x", &root, b"empty", 0, NOW).unwrap();
    assert_eq!(empty.meta.borrow().nlink, 0);
    assert_eq!(
        root.meta.borrow().nlink,
        links,
        "one directory left, one came"
    );
}

#[test]
fn file_data_reads_writes_holes_and_truncates() {
    static IMAGE: [u8; 4] = *b"abcd";
    let mut d = FileData::Static(&IMAGE);
    let mut out = [0u8; 8];
    assert_eq!(d.read_at(1, &mut out), 3);
    assert_eq!(&out[..3], b"bcd");
    assert_eq!(d.read_at(9, &mut out), 0);
    d.write_at(6, b"zz").unwrap();
    assert_eq!(d.bytes(), b"abcd\0\0zz");
    d.truncate(2).unwrap();
    assert_eq!(d.bytes(), b"ab");
    assert_eq!(d.write_at(u64::MAX - 1, b"xx"), Err(Errno::EFBIG));
}

#[test]
fn initramfs_unpacks_types_owners_and_hard_links() {
    let mut w = crate::cpio::NewcWriter::new();
    w.add("bin", S_IFDIR | 0o755, 5, &[]);
    w.add("bin/busybox", S_IFREG | 0o755, 6, b"\x7fELF");
    w.add("bin/sh", S_IFLNK | 0o777, 7, b"busybox");
    w.add("deep/er/file", S_IFREG | 0o600, 8, b"x");
    let archive: &'static [u8] = Vec::leak(w.finish());
    let vfs = Vfs::new();
    let root = vfs.root();
    let report = initramfs::unpack(&vfs, &root.node, archive).unwrap();
    assert_eq!(report.skipped, 0);
    let r = resolver(&vfs);
    let sh = r.resolve(&root, b"/bin/sh", true).unwrap();
    assert_eq!(sh.node.mode(), S_IFREG | 0o755);
    assert_eq!(sh.node.meta.borrow().mtime.sec, 6);
    let deep = r.resolve(&root, b"/deep/er/file", true).unwrap();
    assert_eq!(deep.node.size(), 1);
    assert_eq!(deep.node.mode() & 0o7777, 0o600);
    assert!(initramfs::unpack(&vfs, &root.node, b"garbage!").is_err());
}

#[test]
fn proc_tree_lists_and_resolves_processes() {
    let mut vfs = Vfs::new();
    let root = vfs.root();
    let dir = mkdir(&vfs, &root.node, "proc");
    let at = Location {
        mount: root.mount.clone(),
        node: dir,
        parent: None,
    };
    let proc_root = procfs::new_root(vfs.new_dev(), vfs.new_ino(), NOW);
    vfs.mount(&at, proc_root.clone(), "proc", "proc").unwrap();
    let r = resolver(&vfs);
    let status = r.resolve(&root, b"/proc/self/status", true).unwrap();
    let Body::Proc(node) = &status.node.body else {
        panic!("not a proc node")
    };
    assert_eq!(procfs::contents(&FakeProc, node).unwrap(), b"7 Status");
    assert_eq!(r.path_of(&status), b"/proc/7/status");
    assert!(
        r.resolve(&root, b"/proc/3", true).is_err(),
        "no such process"
    );
    assert!(
        r.resolve(&root, b"/proc/7/fd/1", false)
            .unwrap()
            .node
            .is_symlink()
    );
    assert_eq!(
        r.resolve(&root, b"/proc/7/fd/9", false).err(),
        Some(Errno::ENOENT)
    );
    let cwd = r.resolve(&root, b"/proc/self/cwd", false).unwrap();
    assert_eq!(r.read_link(&cwd).unwrap(), b"/tmp");
    let names: Vec<Vec<u8>> = procfs::read_dir(&FakeProc, &proc_root)
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(names.contains(&b"meminfo".to_vec()) && names.contains(&b"7".to_vec()));
    let up = r.resolve(&root, b"/proc/7/fd/..", true).unwrap();
    assert_eq!(r.path_of(&up), b"/proc/7");
}

#[test]
fn devtmpfs_has_the_standard_nodes() {
    let vfs = Vfs::new();
    let dev = devfs::new_devtmpfs(&vfs, NOW);
    let null = lookup_child(&dev, b"null").unwrap();
    assert_eq!(null.file_type(), S_IFCHR);
    assert_eq!(
        devfs::device(null.meta.borrow().rdev),
        Some(devfs::Device::Null)
    );
    assert_eq!(
        devfs::device(lookup_child(&dev, b"ttyS0").unwrap().meta.borrow().rdev),
        Some(devfs::Device::Console)
    );
    assert_eq!((major(makedev(4, 64)), minor(makedev(4, 64))), (4, 64));
    assert_eq!(
        (major(makedev(300, 70000)), minor(makedev(300, 70000))),
        (300, 70000)
    );
}

#[test]
fn an_executable_found_through_a_relative_symlink_has_its_absolute_path_as_exe() {
    let vfs = Vfs::new();
    let root = vfs.root().node;
    let bin = mkdir(&vfs, &root, "bin");
    let tmp = mkdir(&vfs, &root, "tmp");
    let prog = file(&vfs, &bin, "busybox", b"\x7fELF");
    prog.meta.borrow_mut().mode = S_IFREG | 0o755;
    symlink(&vfs, &tmp, "unknown", "/bin/busybox");
    let r = resolver(&vfs);
    let cwd = r.resolve(&r.root, b"/tmp", true).unwrap();
    let program = crate::exec::find(&r, &cwd, b"./unknown", vec![b"./unknown".to_vec()]).unwrap();
    assert_eq!(
        program.path, b"./unknown",
        "AT_EXECFN and comm use the name as given"
    );
    assert_eq!(
        program.exe, b"/bin/busybox",
        "/proc/self/exe is absolute, links resolved"
    );
    assert_eq!(program.argv, [b"./unknown".to_vec()]);
}
