//! Device nodes: the numbers Linux gives its character devices, and the devtmpfs that the
//! kernel mounts on /dev (and `mount -t devtmpfs` creates): null, zero, full, random,
//! urandom, tty, console and the serial port ttyS0, plus the /dev/fd and /dev/std* links.

use super::{Body, NodeRef, S_IFCHR, S_IFDIR, S_IFLNK, Timestamp, Vfs, makedev};

/// The character devices Cyphera implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Null,
    Zero,
    Full,
    Random,
    Urandom,
    /// /dev/tty: the caller's controlling terminal.
    ControllingTty,
    /// /dev/console and the serial port it is on.
    Console,
}

/// (name, major, minor, mode, device).
const NODES: [(&str, u32, u32, u32, Device); 8] = [
    ("null", 1, 3, 0o666, Device::Null),
    ("zero", 1, 5, 0o666, Device::Zero),
    ("full", 1, 7, 0o666, Device::Full),
    ("random", 1, 8, 0o666, Device::Random),
    ("urandom", 1, 9, 0o666, Device::Urandom),
    ("tty", 5, 0, 0o666, Device::ControllingTty),
    ("console", 5, 1, 0o600, Device::Console),
    ("ttyS0", 4, 64, 0o620, Device::Console),
];

/// The device a node's rdev stands for (character devices only).
pub fn device(rdev: u64) -> Option<Device> {
    NODES
        .iter()
        .find(|n| makedev(n.1, n.2) == rdev)
        .map(|n| n.4)
}

/// The console's device number (ttyS0), as /proc/<pid>/stat's tty_nr reports it.
pub fn console_rdev() -> u64 {
    makedev(4, 64)
}

/// A new devtmpfs root holding the device nodes.
pub fn new_devtmpfs(vfs: &Vfs, now: Timestamp) -> NodeRef {
    let dev = vfs.new_dev();
    let root = vfs.new_node(dev, S_IFDIR | 0o755, now, super::dir_body(None));
    for (name, major, minor, mode, _) in NODES {
        let node = vfs
            .create(&root, name.as_bytes(), S_IFCHR | mode, now, Body::Special)
            .expect("fresh directory");
        node.meta.borrow_mut().rdev = makedev(major, minor);
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        vfs.create(
            &root,
            name.as_bytes(),
            S_IFLNK | 0o777,
            now,
            Body::Symlink(target.as_bytes().to_vec()),
        )
        .expect("fresh directory");
    }
    for name in ["pts", "shm"] {
        let mode = if name == "shm" { 0o1777 } else { 0o755 };
        vfs.create(
            &root,
            name.as_bytes(),
            S_IFDIR | mode,
            now,
            super::dir_body(None),
        )
        .expect("fresh directory");
    }
    root
}
