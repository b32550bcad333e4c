//! The parent's side of the file system and the console: the scratch world in /fuzz that every
//! child starts from, rebuilt after each child together with /tmp, /dev (devtmpfs) and /proc,
//! whatever the child mounted, renamed or deleted; and the parent's own descriptors and the
//! console's termios, which a child's tty ioctls may have changed.

use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use rt::syscall::{nr, syscall2, syscall3, syscall4, syscall5};

use crate::table::{
    NR_EXIT_GROUP, NR_FCHMODAT, NR_FSTAT, NR_GETDENTS64, NR_LSEEK, NR_MKDIRAT, NR_MKNODAT,
    NR_MOUNT, NR_SYMLINKAT, NR_UMOUNT2, NR_UNLINKAT,
};

const AT_FDCWD: usize = -100isize as usize;
const AT_REMOVEDIR: usize = 0x200;
const O_RDONLY: usize = 0;
const O_WRONLY: usize = 1;
const O_RDWR: usize = 2;
const O_CREAT: usize = 0o100;
const O_TRUNC: usize = 0o1000;
const O_NOCTTY: usize = 0o400;
const O_CLOEXEC: usize = 0o2000000;
#[cfg(target_arch = "x86_64")]
const O_DIRECTORY: usize = 0o200000;
#[cfg(target_arch = "aarch64")]
const O_DIRECTORY: usize = 0o40000;
#[cfg(target_arch = "x86_64")]
const O_NOFOLLOW: usize = 0o400000;
#[cfg(target_arch = "aarch64")]
const O_NOFOLLOW: usize = 0o100000;
const S_IFIFO: usize = 0o010000;
const S_IFCHR: usize = 0o020000;
const ENOENT: isize = 2;

const TCGETS: usize = 0x5401;
const TCSETS: usize = 0x5402;
const TCXONC: usize = 0x540a;
const TCOON: usize = 1;

/// Where the parent keeps /dev/null for the children's stdout and stderr.
pub const NULL_FD: i32 = 10;

/// Where a child's mounts can be outside /fuzz (which [`remove_tree`] clears of mounts as it
/// goes): the directories it can name from any working directory — its pool paths, and its
/// relative names resolved at the root — then the kernel's own trees and the root itself.
const MOUNT_POINTS: &[&[u8]] = &[
    b"/tmp/x\0",
    b"/tmp/a\0",
    b"/tmp/new\0",
    b"/tmp/dir\0",
    b"/tmp\0",
    b"/a\0",
    b"/new\0",
    b"/dir\0",
    b"/proc\0",
    b"/dev\0",
    b"/\0",
];

/// The directories the run needs at the root.
const ROOT_DIRS: [&[u8]; 3] = [b"/proc\0", b"/tmp\0", b"/dev\0"];

fn ptr(s: &[u8]) -> usize {
    s.as_ptr() as usize
}

fn open(path: &[u8], flags: usize, mode: usize) -> isize {
    // SAFETY: a NUL-terminated path.
    unsafe { syscall4(nr::OPENAT, AT_FDCWD, ptr(path), flags, mode) }
}

fn mkdir(path: &[u8], mode: usize) -> isize {
    // SAFETY: a NUL-terminated path.
    unsafe { syscall3(NR_MKDIRAT, AT_FDCWD, ptr(path), mode) }
}

fn mount(source: &[u8], target: &[u8], fstype: &[u8]) -> isize {
    // SAFETY: NUL-terminated strings; no data.
    unsafe { syscall5(NR_MOUNT, ptr(source), ptr(target), ptr(fstype), 0, 0) }
}

/// (st_dev, st_ino) of an open file: the first two words of `struct stat` on both arches.
fn identity(fd: i32) -> Option<(u64, u64)> {
    let mut st = [0u64; 32];
    // SAFETY: st is larger than struct stat (144 bytes on x86_64, 128 on AArch64).
    let r = unsafe { syscall2(NR_FSTAT, fd as usize, st.as_mut_ptr() as usize) };
    (r == 0).then_some((st[0], st[1]))
}

/// The root directory's identity, recorded at start so that [`remove_tree`] never descends into
/// a bind mount of `/` (a fuzzed `mount --bind / /fuzz/dir` would otherwise have it delete
/// /init).
pub fn root_identity() -> Option<(u64, u64)> {
    let fd = open(b"/\0", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if fd < 0 {
        return None;
    }
    let id = identity(fd as i32);
    rt::sys::close(fd as i32);
    id
}

/// An absolute path being walked, NUL-terminated at `len`.
struct PathBuf {
    bytes: [u8; 4096],
    len: usize,
}

impl PathBuf {
    fn new(path: &[u8]) -> PathBuf {
        let mut p = PathBuf {
            bytes: [0; 4096],
            len: 0,
        };
        p.push(path);
        p
    }

    /// Appends `part` (without NUL); false if it does not fit.
    fn push(&mut self, part: &[u8]) -> bool {
        if self.len + part.len() + 1 > self.bytes.len() {
            return false;
        }
        self.bytes[self.len..self.len + part.len()].copy_from_slice(part);
        self.len += part.len();
        self.bytes[self.len] = 0;
        true
    }

    fn truncate(&mut self, len: usize) {
        self.len = len;
        self.bytes[len] = 0;
    }

    fn ptr(&self) -> usize {
        self.bytes.as_ptr() as usize
    }
}

/// Unmounts whatever is mounted on `path`, stack by stack (until the kernel says no).
fn unmount_all(path: &PathBuf) {
    for _ in 0..16 {
        // SAFETY: a NUL-terminated path.
        if unsafe { syscall2(NR_UMOUNT2, path.ptr(), 0) } != 0 {
            return;
        }
    }
}

/// Removes `path` and, if it is a directory, everything under it: first unmounting what is
/// mounted there (a child can mount on, or rename a mount point to, any directory it can name),
/// never following symlinks, `depth` levels at most, and never inside the root directory itself
/// (a bind mount of `/` that could not be unmounted). Returns whether `path` is gone. Bounded
/// everywhere: whatever shape the fuzzed calls left, this ends.
fn remove_tree(path: &mut PathBuf, depth: u32, root: Option<(u64, u64)>) -> bool {
    // SAFETY: a NUL-terminated path.
    let r = unsafe { syscall3(NR_UNLINKAT, AT_FDCWD, path.ptr(), 0) };
    if r == 0 || r == -ENOENT {
        return true;
    }
    unmount_all(path);
    let fd = open(
        &path.bytes[..=path.len],
        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
        0,
    );
    if fd < 0 {
        return false;
    }
    let fd = fd as i32;
    let id = identity(fd);
    if depth < 8 && id.is_some() && id != root {
        let mut buf = [0u64; 256];
        let base_len = path.len;
        // Entries are removed while the directory is read: read it again from the start until
        // a pass removes nothing (an entry that cannot go ends it).
        for _ in 0..16 {
            let mut removed = false;
            for _ in 0..64 {
                // SAFETY: buf is a live 2 KiB buffer.
                let n = unsafe {
                    syscall3(
                        NR_GETDENTS64,
                        fd as usize,
                        buf.as_mut_ptr() as usize,
                        core::mem::size_of_val(&buf),
                    )
                };
                if n <= 0 {
                    break;
                }
                // SAFETY: the kernel filled `n` bytes of buf with whole records.
                let bytes =
                    unsafe { core::slice::from_raw_parts(buf.as_ptr() as *const u8, n as usize) };
                let mut off = 0;
                while off + 19 < bytes.len() {
                    // struct linux_dirent64 { u64 ino; i64 off; u16 reclen; u8 type; char name[] }
                    let reclen = u16::from_ne_bytes([bytes[off + 16], bytes[off + 17]]) as usize;
                    if reclen == 0 {
                        break;
                    }
                    let name = &bytes[off + 19..(off + reclen).min(bytes.len())];
                    let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
                    off += reclen;
                    if name.is_empty() || name == b"." || name == b".." {
                        continue;
                    }
                    if path.push(b"/") && path.push(name) && remove_tree(path, depth + 1, root) {
                        removed = true;
                    }
                    path.truncate(base_len);
                }
            }
            if !removed {
                break;
            }
            // SAFETY: no pointers.
            unsafe { syscall3(NR_LSEEK, fd as usize, 0, 0) };
        }
    }
    rt::sys::close(fd);
    // Mounts made inside what was mounted here are gone now: try again.
    unmount_all(path);
    // SAFETY: a NUL-terminated path.
    let r = unsafe { syscall3(NR_UNLINKAT, AT_FDCWD, path.ptr(), AT_REMOVEDIR) };
    r == 0 || r == -ENOENT
}

/// Appends the names in directory `path` (up to what the line holds) to `line`.
fn list_dir(path: &[u8], line: &mut crate::out::Line) {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if fd < 0 {
        let _ = core::fmt::Write::write_fmt(line, format_args!(" (open: {})", rt::errno::Ret(fd)));
        return;
    }
    let mut buf = [0u64; 256];
    // SAFETY: buf is a live 2 KiB buffer.
    let n = unsafe {
        syscall3(
            NR_GETDENTS64,
            fd as usize,
            buf.as_mut_ptr() as usize,
            core::mem::size_of_val(&buf),
        )
    };
    if n > 0 {
        // SAFETY: the kernel filled `n` bytes of buf with whole records.
        let bytes = unsafe { core::slice::from_raw_parts(buf.as_ptr() as *const u8, n as usize) };
        let mut off = 0;
        while off + 19 < bytes.len() {
            let reclen = u16::from_ne_bytes([bytes[off + 16], bytes[off + 17]]) as usize;
            if reclen == 0 {
                break;
            }
            let kind = bytes[off + 18];
            let name = &bytes[off + 19..(off + reclen).min(bytes.len())];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            off += reclen;
            let _ = core::fmt::Write::write_fmt(
                line,
                format_args!(
                    " {}(type {kind})",
                    core::str::from_utf8(name).unwrap_or("?")
                ),
            );
        }
    }
    rt::sys::close(fd as i32);
}

/// Makes `path` a directory again: a rename may have put a file (or anything) there.
fn ensure_dir(path: &[u8]) {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
    if fd >= 0 {
        rt::sys::close(fd as i32);
        return;
    }
    // SAFETY: a NUL-terminated path.
    unsafe { syscall3(NR_UNLINKAT, AT_FDCWD, ptr(path), 0) };
    mkdir(path, 0o755);
}

/// Creates `path` with `mode` and `data`.
fn file(path: &[u8], mode: usize, data: &[u8]) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if fd >= 0 {
        let _ = rt::io::write_all(fd as i32, data);
        rt::sys::close(fd as i32);
    }
    // The umask may have cut the mode.
    // SAFETY: a NUL-terminated path.
    unsafe { syscall4(NR_FCHMODAT, AT_FDCWD, ptr(path), mode, 0) };
}

fn symlink(target: &[u8], path: &[u8]) {
    // SAFETY: NUL-terminated strings.
    unsafe { syscall3(NR_SYMLINKAT, ptr(target), AT_FDCWD, ptr(path)) };
}

fn mknod(path: &[u8], mode: usize, dev: usize) {
    // SAFETY: a NUL-terminated path.
    unsafe { syscall4(NR_MKNODAT, AT_FDCWD, ptr(path), mode, dev) };
}

#[cfg(target_arch = "x86_64")]
const EM: u16 = 62;
#[cfg(target_arch = "aarch64")]
const EM: u16 = 183;

/// `exit_group(0)` in machine code.
#[cfg(target_arch = "x86_64")]
fn exit_code() -> [u8; 12] {
    let n = (NR_EXIT_GROUP as u32).to_le_bytes();
    // xor edi, edi; mov eax, n; syscall; nop nop nop
    [
        0x31, 0xff, 0xb8, n[0], n[1], n[2], n[3], 0x0f, 0x05, 0x90, 0x90, 0x90,
    ]
}
#[cfg(target_arch = "aarch64")]
fn exit_code() -> [u8; 12] {
    let mov_x0 = 0xd280_0000u32; // movz x0, #0
    let mov_x8 = 0xd280_0008u32 | ((NR_EXIT_GROUP as u32) << 5); // movz x8, #n
    let svc = 0xd400_0001u32; // svc #0
    let mut code = [0; 12];
    code[0..4].copy_from_slice(&mov_x0.to_le_bytes());
    code[4..8].copy_from_slice(&mov_x8.to_le_bytes());
    code[8..12].copy_from_slice(&svc.to_le_bytes());
    code
}

const ELF_LEN: usize = 64 + 56 + 12;
const LOAD_ADDR: u64 = 0x40_0000;

/// A complete static ELF executable for this architecture whose one segment is [`exit_code`]
/// (the fuzzer's children exec it, or damaged copies of it: `variant` 1..=5, see below).
fn elf(variant: u32) -> ([u8; ELF_LEN], usize) {
    let mut e = [0u8; ELF_LEN];
    let put = |e: &mut [u8; ELF_LEN], at: usize, bytes: &[u8]| {
        e[at..at + bytes.len()].copy_from_slice(bytes);
    };
    put(&mut e, 0, &[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    put(&mut e, 16, &2u16.to_le_bytes()); // ET_EXEC
    put(&mut e, 18, &EM.to_le_bytes());
    put(&mut e, 20, &1u32.to_le_bytes());
    put(&mut e, 24, &(LOAD_ADDR + 120).to_le_bytes()); // entry: the code after the headers
    put(&mut e, 32, &64u64.to_le_bytes()); // phoff
    put(&mut e, 52, &64u16.to_le_bytes()); // ehsize
    put(&mut e, 54, &56u16.to_le_bytes()); // phentsize
    put(&mut e, 56, &1u16.to_le_bytes()); // phnum
    put(&mut e, 58, &64u16.to_le_bytes()); // shentsize
    put(&mut e, 64, &1u32.to_le_bytes()); // PT_LOAD
    put(&mut e, 68, &5u32.to_le_bytes()); // R+X
    put(&mut e, 80, &LOAD_ADDR.to_le_bytes()); // vaddr (offset 0)
    put(&mut e, 88, &LOAD_ADDR.to_le_bytes()); // paddr
    put(&mut e, 96, &(ELF_LEN as u64).to_le_bytes()); // filesz
    put(&mut e, 104, &(ELF_LEN as u64).to_le_bytes()); // memsz
    put(&mut e, 112, &0x1000u64.to_le_bytes()); // align
    put(&mut e, 120, &exit_code());
    let mut len = ELF_LEN;
    match variant {
        // No program headers at all.
        1 => put(&mut e, 56, &0u16.to_le_bytes()),
        // The segment's bytes lie far beyond the end of the file.
        2 => {
            put(&mut e, 72, &0xffff_ffff_0000u64.to_le_bytes());
            put(&mut e, 96, &0x10000u64.to_le_bytes());
            put(&mut e, 104, &0x10000u64.to_le_bytes());
        }
        // A segment in the kernel's half, with more file than memory.
        3 => {
            put(&mut e, 24, &0xffff_ffff_8000_0078u64.to_le_bytes());
            put(&mut e, 80, &0xffff_ffff_8000_0000u64.to_le_bytes());
            put(&mut e, 104, &0u64.to_le_bytes());
        }
        // Cut off in the middle of the ELF header.
        4 => len = 40,
        // 65535 program headers starting near the end of the address space.
        5 => {
            put(&mut e, 32, &0xffff_ffff_ffff_ff00u64.to_le_bytes());
            put(&mut e, 56, &0xffffu16.to_le_bytes());
        }
        _ => {}
    }
    (e, len)
}

/// Once at start: the directories the run needs and /proc (Cyphera and Linux mount devtmpfs on
/// /dev themselves; nobody mounts /proc for init).
pub fn setup() {
    for dir in ROOT_DIRS {
        ensure_dir(dir);
    }
    if open(b"/proc/self/stat\0", O_RDONLY | O_CLOEXEC, 0) < 0 {
        mount(b"proc\0", b"/proc\0", b"proc\0");
    }
}

/// Makes /fuzz, /tmp, /dev and /proc what every child expects, and gives the parent back its
/// console descriptors (0-2), /dev/null ([`NULL_FD`]) and termios.
pub fn reset(root: Option<(u64, u64)>, termios: Option<&[u8; 64]>) {
    // Every stack of mounts the child made on the directories it can name, innermost first, the
    // kernel's own /dev and /proc included (remounted fresh below).
    for _ in 0..64 {
        let mut any = false;
        for target in MOUNT_POINTS {
            // SAFETY: a NUL-terminated path.
            if unsafe { syscall2(NR_UMOUNT2, ptr(target), 0) } == 0 {
                any = true;
            }
        }
        if !any {
            break;
        }
    }
    for dir in ROOT_DIRS {
        ensure_dir(dir);
    }
    mount(b"devtmpfs\0", b"/dev\0", b"devtmpfs\0");
    mount(b"proc\0", b"/proc\0", b"proc\0");

    // Reported the first few times only: what cannot go (a mount point whose mount cannot be
    // unmounted) usually stays for the rest of the run.
    static LEFTOVER_REPORTS: AtomicU32 = AtomicU32::new(0);
    if !remove_tree(&mut PathBuf::new(b"/fuzz"), 0, root)
        && LEFTOVER_REPORTS.fetch_add(1, Relaxed) < 3
    {
        let mut line = crate::out::Line::new();
        let _ = core::fmt::Write::write_str(
            &mut line,
            "could not remove all of /fuzz; building on what is left:",
        );
        list_dir(b"/fuzz\0", &mut line);
        line.emit(1);
    }
    for leftover in [&b"/tmp/x"[..], b"/tmp/a", b"/tmp/new", b"/tmp/dir"] {
        remove_tree(&mut PathBuf::new(leftover), 0, root);
    }
    mkdir(b"/fuzz\0", 0o777);
    let mut text = [0u8; 5000];
    for (i, b) in text.iter_mut().enumerate() {
        *b = b'a' + (i % 26) as u8;
    }
    file(b"/fuzz/a\0", 0o755, &text);
    file(b"/fuzz/b\0", 0o644, b"");
    mkdir(b"/fuzz/dir\0", 0o755);
    file(b"/fuzz/dir/c\0", 0o644, b"c\n");
    symlink(b"a\0", b"/fuzz/link\0");
    symlink(b"loop2\0", b"/fuzz/loop1\0");
    symlink(b"loop1\0", b"/fuzz/loop2\0");
    symlink(b"nonexistent\0", b"/fuzz/dangling\0");
    mknod(b"/fuzz/fifo\0", S_IFIFO | 0o666, 0);
    // The null device (1, 3), as Linux encodes dev_t: minor low byte | major << 8.
    mknod(b"/fuzz/null\0", S_IFCHR | 0o666, 0x103);
    let (good, len) = elf(0);
    file(b"/fuzz/exit-elf\0", 0o755, &good[..len]);
    let bad: [&[u8]; 5] = [
        b"/fuzz/bad-elf-0\0",
        b"/fuzz/bad-elf-1\0",
        b"/fuzz/bad-elf-2\0",
        b"/fuzz/bad-elf-3\0",
        b"/fuzz/bad-elf-4\0",
    ];
    for (i, path) in bad.iter().enumerate() {
        let (e, len) = elf(i as u32 + 1);
        file(path, 0o755, &e[..len]);
    }
    file(b"/fuzz/script\0", 0o755, b"#!/fuzz/exit-elf\n");

    // The console again on 0, 1 and 2 (a child cannot touch the parent's descriptors, but the
    // devtmpfs they came from was just replaced, and this keeps them what init started with).
    let con = open(b"/dev/console\0", O_RDWR | O_NOCTTY, 0);
    if con >= 0 {
        for fd in 0..3 {
            // SAFETY: no pointers.
            unsafe { syscall3(nr::DUP3, con as usize, fd, 0) };
        }
        if con > 2 {
            rt::sys::close(con as i32);
        }
    }
    let null = open(b"/dev/null\0", O_RDWR, 0);
    if null >= 0 {
        // SAFETY: no pointers.
        unsafe { syscall3(nr::DUP3, null as usize, NULL_FD as usize, 0) };
        rt::sys::close(null as i32);
    }
    // The child may have changed the terminal (no output processing, lower-case mapping, output
    // stopped with TCXONC): put it back as init found it.
    if let Some(t) = termios {
        // SAFETY: t is a live buffer larger than struct termios.
        unsafe { syscall3(nr::IOCTL, 0, TCSETS, t.as_ptr() as usize) };
    }
    // SAFETY: no pointers.
    unsafe { syscall3(nr::IOCTL, 0, TCXONC, TCOON) };
}

/// The console's termios now, if fd 0 is a terminal.
pub fn termios() -> Option<[u8; 64]> {
    let mut t = [0u8; 64];
    // SAFETY: t is larger than struct termios (36 bytes on both arches).
    let r = unsafe { syscall3(nr::IOCTL, 0, TCGETS, t.as_mut_ptr() as usize) };
    (r == 0).then_some(t)
}

/// The pids of every process but init (from /proc), up to `out.len()`; how many were found.
pub fn other_pids(out: &mut [i32]) -> usize {
    let dir = open(b"/proc\0", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if dir < 0 {
        return 0;
    }
    let mut buf = [0u64; 256];
    let mut found = 0;
    loop {
        // SAFETY: buf is a live 2 KiB buffer.
        let n = unsafe {
            syscall3(
                NR_GETDENTS64,
                dir as usize,
                buf.as_mut_ptr() as usize,
                core::mem::size_of_val(&buf),
            )
        };
        if n <= 0 {
            break;
        }
        // SAFETY: the kernel filled `n` bytes of buf with whole records.
        let bytes = unsafe { core::slice::from_raw_parts(buf.as_ptr() as *const u8, n as usize) };
        let mut off = 0;
        while off + 19 < bytes.len() {
            let reclen = u16::from_ne_bytes([bytes[off + 16], bytes[off + 17]]) as usize;
            if reclen == 0 {
                break;
            }
            let name = &bytes[off + 19..(off + reclen).min(bytes.len())];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            off += reclen;
            let pid = core::str::from_utf8(name)
                .ok()
                .and_then(|t| t.parse::<i32>().ok());
            if let Some(pid) = pid.filter(|&p| p != 1)
                && found < out.len()
            {
                out[found] = pid;
                found += 1;
            }
        }
    }
    rt::sys::close(dir as i32);
    found
}

/// Prints `/proc/PID/stat` of process `pid`: what survived SIGKILL, for the report.
pub fn report_survivor(pid: i32) {
    let mut path = [0u8; 32];
    let mut line = crate::out::Line::new();
    let mut w = Cursor {
        buf: &mut path,
        len: 0,
    };
    let _ = core::fmt::Write::write_fmt(&mut w, format_args!("/proc/{pid}/stat\0"));
    let fd = open(&path, O_RDONLY | O_CLOEXEC, 0);
    let mut stat = [0u8; 300];
    let len = if fd >= 0 {
        let n = rt::sys::read(fd as i32, &mut stat);
        rt::sys::close(fd as i32);
        n
    } else {
        fd
    };
    let text = if len > 0 {
        core::str::from_utf8(&stat[..len as usize]).unwrap_or("?")
    } else {
        "(gone)"
    };
    let _ = core::fmt::Write::write_fmt(&mut line, format_args!("survivor: {}", text.trim_end()));
    line.emit(1);
}

/// Formats into a byte buffer (a path), cutting what does not fit.
struct Cursor<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl core::fmt::Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}
