//! What stat, statx and statfs report, and their user-visible layouts: `struct stat` differs
//! between x86_64 (144 bytes, nlink before mode) and the asm-generic layout AArch64 uses
//! (128 bytes); `struct statx` and `struct statfs` are the same on both.

use crate::fd::{File, FileDescription};
use crate::vfs::{self, Inode, S_IFCHR, S_IFIFO, Timestamp};
use alloc::vec::Vec;
use hal::arch::Arch;

/// The fields every stat form reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub size: u64,
    pub blksize: u32,
    pub blocks: u64,
    pub atime: Timestamp,
    pub mtime: Timestamp,
    pub ctime: Timestamp,
}

/// Device number of the anonymous inodes (pipes, epoll, eventfd): Linux's pipefs/anon_inodefs
/// live on their own anonymous devices; one number serves here.
const ANON_DEV: u64 = 0x0d;

pub fn of_node(node: &Inode) -> Stat {
    let m = node.meta.borrow();
    let size = node.size();
    Stat {
        dev: node.dev,
        ino: node.ino,
        mode: m.mode,
        nlink: m.nlink,
        uid: m.uid,
        gid: m.gid,
        rdev: m.rdev,
        size,
        blksize: 4096,
        // 512-byte blocks, rounded up to whole pages as tmpfs allocates them.
        blocks: size.div_ceil(4096) * 8,
        atime: m.atime,
        mtime: m.mtime,
        ctime: m.ctime,
    }
}

/// fstat of a description: its node when opened by path, else the anonymous inode Linux
/// gives pipes, epoll and eventfd (and the console opened for init: the serial tty).
pub fn of_description(d: &FileDescription, id: u64) -> Stat {
    if let Some(node) = d.node() {
        return of_node(node);
    }
    let mode = match &d.file {
        File::Pipe(_) => S_IFIFO | 0o600,
        File::Console => S_IFCHR | 0o620,
        _ => 0o600,
    };
    Stat {
        dev: ANON_DEV,
        ino: id,
        mode,
        nlink: 1,
        rdev: if matches!(d.file, File::Console) {
            vfs::devfs::console_rdev()
        } else {
            0
        },
        blksize: 4096,
        ..Stat::default()
    }
}

fn put(out: &mut [u8], at: usize, bytes: &[u8]) {
    out[at..at + bytes.len()].copy_from_slice(bytes);
}

fn put_time(out: &mut [u8], at: usize, t: Timestamp) {
    put(out, at, &t.sec.to_le_bytes());
    put(out, at + 8, &(t.nsec as u64).to_le_bytes());
}

/// `struct stat` for the architecture.
pub fn encode<A: Arch>(s: &Stat) -> Vec<u8> {
    if A::ELF_MACHINE == crate::elf::EM_AARCH64 {
        let mut out = alloc::vec![0u8; 128];
        put(&mut out, 0, &s.dev.to_le_bytes());
        put(&mut out, 8, &s.ino.to_le_bytes());
        put(&mut out, 16, &s.mode.to_le_bytes());
        put(&mut out, 20, &s.nlink.to_le_bytes());
        put(&mut out, 24, &s.uid.to_le_bytes());
        put(&mut out, 28, &s.gid.to_le_bytes());
        put(&mut out, 32, &s.rdev.to_le_bytes());
        put(&mut out, 48, &s.size.to_le_bytes());
        put(&mut out, 56, &s.blksize.to_le_bytes());
        put(&mut out, 64, &s.blocks.to_le_bytes());
        put_time(&mut out, 72, s.atime);
        put_time(&mut out, 88, s.mtime);
        put_time(&mut out, 104, s.ctime);
        out
    } else {
        let mut out = alloc::vec![0u8; 144];
        put(&mut out, 0, &s.dev.to_le_bytes());
        put(&mut out, 8, &s.ino.to_le_bytes());
        put(&mut out, 16, &(s.nlink as u64).to_le_bytes());
        put(&mut out, 24, &s.mode.to_le_bytes());
        put(&mut out, 28, &s.uid.to_le_bytes());
        put(&mut out, 32, &s.gid.to_le_bytes());
        put(&mut out, 40, &s.rdev.to_le_bytes());
        put(&mut out, 48, &s.size.to_le_bytes());
        put(&mut out, 56, &(s.blksize as u64).to_le_bytes());
        put(&mut out, 64, &s.blocks.to_le_bytes());
        put_time(&mut out, 72, s.atime);
        put_time(&mut out, 88, s.mtime);
        put_time(&mut out, 104, s.ctime);
        out
    }
}

pub const STATX_BASIC_STATS: u32 = 0x7ff;
const STATX_MNT_ID: u32 = 0x1000;

/// `struct statx` (256 bytes). Every basic field is filled whatever `mask` asked for, which
/// the interface allows; the birth time is not kept.
pub fn encode_statx(s: &Stat, mount_id: u32) -> Vec<u8> {
    let mut out = alloc::vec![0u8; 256];
    put(
        &mut out,
        0,
        &(STATX_BASIC_STATS | STATX_MNT_ID).to_le_bytes(),
    );
    put(&mut out, 4, &s.blksize.to_le_bytes());
    put(&mut out, 16, &s.nlink.to_le_bytes());
    put(&mut out, 20, &s.uid.to_le_bytes());
    put(&mut out, 24, &s.gid.to_le_bytes());
    put(&mut out, 28, &(s.mode as u16).to_le_bytes());
    put(&mut out, 32, &s.ino.to_le_bytes());
    put(&mut out, 40, &s.size.to_le_bytes());
    put(&mut out, 48, &s.blocks.to_le_bytes());
    let stx_time = |out: &mut [u8], at: usize, t: Timestamp| {
        put(out, at, &t.sec.to_le_bytes());
        put(out, at + 8, &t.nsec.to_le_bytes());
    };
    stx_time(&mut out, 64, s.atime);
    stx_time(&mut out, 96, s.ctime);
    stx_time(&mut out, 112, s.mtime);
    put(&mut out, 128, &vfs::major(s.rdev).to_le_bytes());
    put(&mut out, 132, &vfs::minor(s.rdev).to_le_bytes());
    put(&mut out, 136, &vfs::major(s.dev).to_le_bytes());
    put(&mut out, 140, &vfs::minor(s.dev).to_le_bytes());
    put(&mut out, 144, &(mount_id as u64).to_le_bytes());
    out
}

pub const TMPFS_MAGIC: u64 = 0x0102_1994;
pub const PROC_SUPER_MAGIC: u64 = 0x9fa0;
pub const SYSFS_MAGIC: u64 = 0x6265_6572;

/// `struct statfs` (120 bytes on both arches) for a file system of type `fstype`, whose
/// blocks are the free memory (as tmpfs's default size is a share of RAM).
pub fn encode_statfs(fstype: &str, dev: u64, total_pages: u64, free_pages: u64) -> Vec<u8> {
    let magic = match fstype {
        "proc" => PROC_SUPER_MAGIC,
        "sysfs" => SYSFS_MAGIC,
        _ => TMPFS_MAGIC,
    };
    let (blocks, free) = if magic == TMPFS_MAGIC {
        (total_pages, free_pages)
    } else {
        (0, 0)
    };
    let mut out = alloc::vec![0u8; 120];
    put(&mut out, 0, &magic.to_le_bytes());
    put(&mut out, 8, &4096u64.to_le_bytes());
    put(&mut out, 16, &blocks.to_le_bytes());
    put(&mut out, 24, &free.to_le_bytes());
    put(&mut out, 32, &free.to_le_bytes());
    put(&mut out, 40, &(blocks / 2).to_le_bytes());
    put(&mut out, 48, &(free / 2).to_le_bytes());
    put(&mut out, 56, &(vfs::minor(dev)).to_le_bytes());
    put(&mut out, 64, &255u64.to_le_bytes());
    put(&mut out, 72, &4096u64.to_le_bytes());
    // f_flags: ST_VALID (0x20) | ST_RELATIME (0x1000)
    put(&mut out, 80, &0x1020u64.to_le_bytes());
    out
}
