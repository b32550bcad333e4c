//! Host tests of individual syscalls on the mock architecture: a real ELF image (built in the
//! test) is loaded as pid 1, then calls go through the same `handle` path the run loop uses.

use crate::errno::Errno;
use crate::memory::BitmapFrameAllocator;
use crate::process;
use crate::task::{Kernel, Tid};
use crate::testing::{MOCK_TIMER, MockArch, RecordingConsole, nr, tiny_elf};
use crate::time::Clock;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use hal::boot::PhysRange;
use hal::mmu::PAGE_SIZE;

const EFAULT: u64 = Errno::EFAULT.as_return();
const INIT: Tid = 1;

struct Fixture {
    k: Kernel<MockArch>,
    console: &'static RecordingConsole,
    baseline: u64,
}

impl Fixture {
    fn new() -> Self {
        let frames = BitmapFrameAllocator::new(&[PhysRange::new(0x100_0000, 4096 * PAGE_SIZE)]);
        let baseline = frames.free_frames();
        let console: &'static RecordingConsole = Box::leak(Box::default());
        let mut k = Kernel::new(frames, console, Clock::new(&MOCK_TIMER, 0), &[]);
        let image = tiny_elf(&[0x0f, 0x05], 0x2000);
        let argv: [&[u8]; 2] = [b"/init", b"arg1"];
        let envp: [&[u8]; 1] = [b"HOME=/"];
        let (vm, context) = process::load::<MockArch>(
            "/init",
            &image,
            &argv,
            &envp,
            process::DEFAULT_STACK_LIMIT,
            &mut k.frames,
        )
        .expect("load");
        let vm = k.add_vm(vm);
        assert_eq!(k.spawn(0, process::comm("/init"), vm, context), INIT);
        // As start() does: init's 0, 1 and 2 are the console.
        k.processes[&INIT]
            .files
            .replace(crate::fd::FdTable::with_console());
        Self {
            k,
            console,
            baseline,
        }
    }

    /// Makes a system call as pid 1 and returns its result register.
    fn call(&mut self, number: u64, args: [u64; 6]) -> u64 {
        call_as(self, INIT, number, args)
    }

    /// A writable user address inside the bss of the tiny ELF.
    fn scratch(&mut self, bytes: &[u8]) -> u64 {
        let at = 0x60_0000;
        self.k.user(INIT).write(at, bytes).unwrap();
        at
    }

    fn peek(&mut self, at: u64, len: usize) -> Vec<u8> {
        let mut out = alloc::vec![0; len];
        self.k.user(INIT).read(at, &mut out).unwrap();
        out
    }

    fn output(&self) -> Vec<u8> {
        self.console.output.lock().clone()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.k.exit_group(1, crate::task::ExitStatus::Exited(0));
        if !std::thread::panicking() {
            assert_eq!(self.k.frames.free_frames(), self.baseline, "frames leaked");
        }
    }
}

#[test]
fn write_copies_user_bytes_to_the_console() {
    let mut f = Fixture::new();
    let buf = f.scratch(b"Hello, world!\n");
    assert_eq!(f.call(nr::WRITE, [1, buf, 14, 0, 0, 0]), 14);
    // The console is a terminal: OPOST|ONLCR sends a newline as CR LF.
    assert_eq!(f.output(), b"Hello, world!\r\n");
}

#[test]
fn write_with_bad_pointers_is_efault_and_writes_nothing() {
    let mut f = Fixture::new();
    for bad in [
        0x10,
        0xffff_8000_0000_0000,
        u64::MAX - 3,
        0x0000_7fff_ffff_f000 - 4,
    ] {
        assert_eq!(
            f.call(nr::WRITE, [1, bad, 8, 0, 0, 0]),
            EFAULT,
            "pointer {bad:#x}"
        );
    }
    assert!(f.output().is_empty());
}

#[test]
fn write_running_into_an_unmapped_page_is_a_short_write() {
    let mut f = Fixture::new();
    // The bss is two pages at 0x60_0000; the third page is outside any area.
    let last = 0x60_2000 - 5;
    f.k.user(INIT).write(last, b"abcde").unwrap();
    assert_eq!(f.call(nr::WRITE, [1, last, 100, 0, 0, 0]), 5);
    assert_eq!(f.output(), b"abcde");
}

#[test]
fn write_to_a_closed_descriptor_is_ebadf() {
    let mut f = Fixture::new();
    let buf = f.scratch(b"x");
    assert_eq!(
        f.call(nr::WRITE, [7, buf, 1, 0, 0, 0]),
        Errno::EBADF.as_return()
    );
}

#[test]
fn writev_gathers_and_checks_its_vector() {
    let mut f = Fixture::new();
    let base = 0x60_0000u64;
    f.k.user(INIT).write(base + 0x100, b"Hello, ").unwrap();
    f.k.user(INIT).write(base + 0x200, b"world!\n").unwrap();
    let mut iov = Vec::new();
    for (addr, len) in [(base + 0x100, 7u64), (base + 0x200, 7)] {
        iov.extend_from_slice(&addr.to_le_bytes());
        iov.extend_from_slice(&len.to_le_bytes());
    }
    f.k.user(INIT).write(base, &iov).unwrap();
    assert_eq!(f.call(nr::WRITEV, [1, base, 2, 0, 0, 0]), 14);
    assert_eq!(f.output(), b"Hello, world!\r\n");
    assert_eq!(f.call(nr::WRITEV, [1, 0x10, 2, 0, 0, 0]), EFAULT);
    assert_eq!(
        f.call(nr::WRITEV, [1, base, 1025, 0, 0, 0]),
        Errno::EINVAL.as_return()
    );
    let mut huge = Vec::new();
    for len in [u64::MAX / 2, u64::MAX / 2 + 10] {
        huge.extend_from_slice(&(base + 0x100).to_le_bytes());
        huge.extend_from_slice(&len.to_le_bytes());
    }
    f.k.user(INIT).write(base + 0x400, &huge).unwrap();
    assert_eq!(
        f.call(nr::WRITEV, [1, base + 0x400, 2, 0, 0, 0]),
        Errno::EINVAL.as_return()
    );
    assert_eq!(f.call(nr::WRITEV, [1, base, 0, 0, 0, 0]), 0);
}

#[test]
fn getpid_gettid_getppid() {
    let mut f = Fixture::new();
    assert_eq!(f.call(nr::GETPID, [0; 6]), 1);
    assert_eq!(f.call(nr::GETTID, [0; 6]), 1);
    assert_eq!(f.call(nr::GETPPID, [0; 6]), 0);
}

#[test]
fn uname_fills_struct_utsname() {
    let mut f = Fixture::new();
    let buf = 0x60_0100;
    assert_eq!(f.call(nr::UNAME, [buf, 0, 0, 0, 0, 0]), 0);
    let raw = f.peek(buf, 6 * 65);
    let field = |i: usize| {
        let f = &raw[i * 65..(i + 1) * 65];
        String::from_utf8(f[..f.iter().position(|&b| b == 0).unwrap()].to_vec()).unwrap()
    };
    assert_eq!(field(0), "Linux");
    assert_eq!(field(1), "cyphera");
    assert!(field(2).starts_with("6.1.0"));
    assert_eq!(field(4), "mock64");
    assert_eq!(f.call(nr::UNAME, [0x10, 0, 0, 0, 0, 0]), EFAULT);
}

#[test]
fn brk_grows_shrinks_and_refuses_like_linux() {
    let mut f = Fixture::new();
    let start = f.call(nr::BRK, [0; 6]);
    assert_eq!(start % PAGE_SIZE, 0);
    assert_eq!(
        f.call(nr::BRK, [start + 0x2800, 0, 0, 0, 0, 0]),
        start + 0x2800
    );
    // The new memory is zeroed and writable.
    f.k.user(INIT).write(start + 0x27ff, b"z").unwrap();
    assert_eq!(f.peek(start, 4), [0; 4]);
    assert_eq!(f.call(nr::BRK, [start + 0x10, 0, 0, 0, 0, 0]), start + 0x10);
    // Below the start or absurdly high: refused, the break stays.
    assert_eq!(
        f.call(nr::BRK, [start - 0x1000, 0, 0, 0, 0, 0]),
        start + 0x10
    );
    assert_eq!(f.call(nr::BRK, [u64::MAX, 0, 0, 0, 0, 0]), start + 0x10);
}

#[test]
fn unknown_and_unimplemented_calls_are_enosys() {
    let mut f = Fixture::new();
    let enosys = Errno::ENOSYS.as_return();
    assert_eq!(f.call(0x7fff, [0; 6]), enosys);
    assert_eq!(f.call(0x7fff, [0; 6]), enosys);
    assert_eq!(f.call(u64::MAX, [0; 6]), enosys);
    assert_eq!(f.k.reported.len(), 2, "each number reported once");
    // A real Linux call that Cyphera does not implement has no dispatch entry.
    assert!(super::dispatch(&mut f.k, INIT, hal::syscall::Sysno::KexecLoad, [0; 6]).is_none());
}

#[test]
fn bad_signal_arguments_are_einval_or_efault() {
    let mut f = Fixture::new();
    let buf = f.scratch(&[0; 64]);
    let einval = Errno::EINVAL.as_return();
    assert_eq!(
        f.call(nr::RT_SIGACTION, [0, buf, 0, 8, 0, 0]),
        einval,
        "signal 0"
    );
    assert_eq!(
        f.call(nr::RT_SIGACTION, [65, buf, 0, 8, 0, 0]),
        einval,
        "signal 65"
    );
    assert_eq!(
        f.call(nr::RT_SIGACTION, [9, buf, 0, 8, 0, 0]),
        einval,
        "SIGKILL"
    );
    assert_eq!(
        f.call(nr::RT_SIGACTION, [10, buf, 0, 4, 0, 0]),
        einval,
        "sigsetsize"
    );
    assert_eq!(f.call(nr::RT_SIGACTION, [10, 0x10, 0, 8, 0, 0]), EFAULT);
    assert_eq!(
        f.call(nr::RT_SIGPROCMASK, [7, buf, 0, 8, 0, 0]),
        einval,
        "how"
    );
    assert_eq!(f.call(nr::KILL, [1, 65, 0, 0, 0, 0]), einval);
    assert_eq!(
        f.call(nr::KILL, [12345, 0, 0, 0, 0, 0]),
        Errno::ESRCH.as_return()
    );
    assert_eq!(f.call(nr::TGKILL, [1, 1, 0, 0, 0, 0]), 0, "signal 0 probes");
    assert_eq!(
        f.call(nr::TGKILL, [2, 1, 0, 0, 0, 0]),
        Errno::ESRCH.as_return(),
        "wrong group"
    );
    assert_eq!(
        f.call(nr::WAIT4, [u64::MAX, 0, 0x10, 0, 0, 0]),
        einval,
        "bad options"
    );
    assert_eq!(
        f.call(nr::WAIT4, [u64::MAX, 0, 0, 0, 0, 0]),
        Errno::ECHILD.as_return()
    );
    assert_eq!(
        f.call(nr::FUTEX, [buf + 1, 0, 0, 0, 0, 0]),
        einval,
        "misaligned futex"
    );
    assert_eq!(f.call(nr::FUTEX, [0x10, 0, 0, 0, 0, 0]), EFAULT);
    assert_eq!(
        f.call(nr::FUTEX, [buf, 99, 0, 0, 0, 0]),
        Errno::ENOSYS.as_return()
    );
    // clone: CLONE_THREAD without CLONE_SIGHAND, CLONE_SIGHAND without CLONE_VM.
    assert_eq!(f.call(nr::CLONE, [0x10000, 0, 0, 0, 0, 0]), einval);
    assert_eq!(f.call(nr::CLONE, [0x800, 0, 0, 0, 0, 0]), einval);
    assert_eq!(
        f.call(nr::CLONE, [0x2000_0000, 0, 0, 0, 0, 0]),
        einval,
        "CLONE_NEWUTS"
    );
}

#[test]
fn sigaction_round_trips_and_masks_sanitised() {
    let mut f = Fixture::new();
    let new = 0x60_0000;
    let old = 0x60_0100;
    let act = crate::signal::SigAction {
        handler: 0x40_1000,
        flags: 0x0400_0004,
        restorer: 0x40_1100,
        mask: crate::signal::SigSet(u64::MAX),
    };
    f.k.user(INIT).write(new, &act.to_bytes()).unwrap();
    assert_eq!(f.call(nr::RT_SIGACTION, [10, new, 0, 8, 0, 0]), 0);
    assert_eq!(f.call(nr::RT_SIGACTION, [10, 0, old, 8, 0, 0]), 0);
    let back = crate::signal::SigAction::from_bytes(&f.peek(old, 32).try_into().unwrap());
    assert_eq!(back.handler, act.handler);
    assert!(
        !back.mask.contains(crate::signal::SIGKILL),
        "SIGKILL cannot be masked"
    );
}

/// Files by path through the system calls: create, write, seek, read, stat, rename, list,
/// remove (x86_64 numbers: the legacy calls are the *at calls at AT_FDCWD).
#[test]
fn files_are_created_written_listed_renamed_and_removed() {
    use nr::{CHDIR, CLOSE, GETCWD, GETDENTS64, LSEEK, MKDIR, OPEN, RENAME, RMDIR, STAT, UNLINK};
    const O_RDWR_CREAT_EXCL: u64 = 0o2 | 0o100 | 0o200;
    const O_DIRECTORY: u64 = 0o200000;
    let enoent = (-2i64) as u64;
    let eexist = (-17i64) as u64;
    let enotempty = (-39i64) as u64;
    let mut f = Fixture::new();
    let base = 0x60_0000u64;
    let dir = user_string(&mut f, 0, "/d");
    let file = user_string(&mut f, 0x100, "/d/f");
    let renamed = user_string(&mut f, 0x200, "g");
    let data = user_string(&mut f, 0x300, "hello");
    let buf = base + 0x1000;
    assert_eq!(f.call(MKDIR, [dir, 0o755, 0, 0, 0, 0]), 0);
    assert_eq!(f.call(MKDIR, [dir, 0o755, 0, 0, 0, 0]), eexist);
    // "./" and "/d/.." name existing directories: EEXIST, as mkdir -p and tar expect.
    let dot = user_string(&mut f, 0x500, "./");
    let dotdot = user_string(&mut f, 0x520, "/d/..");
    assert_eq!(f.call(MKDIR, [dot, 0o755, 0, 0, 0, 0]), eexist);
    assert_eq!(f.call(MKDIR, [dotdot, 0o755, 0, 0, 0, 0]), eexist);
    assert_eq!(f.call(OPEN, [file, O_RDWR_CREAT_EXCL, 0o666, 0, 0, 0]), 3);
    assert_eq!(
        f.call(OPEN, [file, O_RDWR_CREAT_EXCL, 0o666, 0, 0, 0]),
        eexist
    );
    assert_eq!(f.call(nr::WRITE, [3, data, 5, 0, 0, 0]), 5);
    assert_eq!(f.call(LSEEK, [3, 1, 0, 0, 0, 0]), 1);
    assert_eq!(f.call(nr::READ, [3, buf, 10, 0, 0, 0]), 4);
    assert_eq!(f.peek(buf, 4), b"ello");
    // A private read-only file mapping holds the file's bytes.
    let map = f.call(nr::MMAP, [0, 4096, 1, 2, 3, 0]);
    assert!(map < (1 << 47), "mmap of a file: {:#x}", map as i64);
    assert_eq!(f.peek(map, 6), b"hello\0");
    // struct stat (x86_64): st_mode at 24, st_size at 48; umask 022 applied to 0666.
    assert_eq!(f.call(STAT, [file, buf, 0, 0, 0, 0]), 0);
    let st = f.peek(buf, 144);
    assert_eq!(u32::from_le_bytes(st[24..28].try_into().unwrap()), 0o100644);
    assert_eq!(u64::from_le_bytes(st[48..56].try_into().unwrap()), 5);
    // Relative paths start at the working directory.
    assert_eq!(f.call(CHDIR, [dir, 0, 0, 0, 0, 0]), 0);
    assert_eq!(f.call(GETCWD, [buf, 64, 0, 0, 0, 0]), 3);
    assert_eq!(f.peek(buf, 3), b"/d\0");
    let f_rel = user_string(&mut f, 0x400, "f");
    assert_eq!(f.call(RENAME, [f_rel, renamed, 0, 0, 0, 0]), 0);
    assert_eq!(f.call(OPEN, [file, 0, 0, 0, 0, 0]), enoent);
    // The directory lists ".", ".." and "g"; the open descriptor still reads the renamed file.
    assert_eq!(f.call(OPEN, [dir, O_DIRECTORY, 0, 0, 0, 0]), 4);
    let n = f.call(GETDENTS64, [4, buf, 512, 0, 0, 0]) as usize;
    let raw = f.peek(buf, n);
    let mut names = Vec::new();
    let mut at = 0;
    while at < n {
        let reclen = u16::from_le_bytes([raw[at + 16], raw[at + 17]]) as usize;
        let name = &raw[at + 19..at + reclen];
        names.push(name[..name.iter().position(|&b| b == 0).unwrap()].to_vec());
        at += reclen;
    }
    assert_eq!(names, [b".".to_vec(), b"..".to_vec(), b"g".to_vec()]);
    assert_eq!(
        f.call(GETDENTS64, [4, buf, 512, 0, 0, 0]),
        0,
        "end of directory"
    );
    assert_eq!(f.call(RMDIR, [dir, 0, 0, 0, 0, 0]), enotempty);
    assert_eq!(f.call(UNLINK, [renamed, 0, 0, 0, 0, 0]), 0);
    assert_eq!(f.call(RMDIR, [dir, 0, 0, 0, 0, 0]), 0);
    assert_eq!(f.call(CLOSE, [3, 0, 0, 0, 0, 0]), 0);
    assert_eq!(f.call(CLOSE, [4, 0, 0, 0, 0, 0]), 0);
}

/// Found by the syscall fuzzer: a process cloned with exit signal SIGFPE, orphaned, then
/// exiting, killed init. Reparenting resets the exit signal to SIGCHLD, as on Linux.
#[test]
fn orphans_adopted_by_init_signal_it_with_sigchld() {
    let mut f = Fixture::new();
    let a = f.call(nr::FORK, [0; 6]) as Tid;
    let clone = [crate::signal::SIGFPE as u64, 0, 0, 0, 0, 0];
    let g = call_as(&mut f, a, nr::CLONE, clone) as Tid;
    assert_eq!(f.k.processes[&g].exit_signal, crate::signal::SIGFPE);
    f.k.exit_group(a, crate::task::ExitStatus::Exited(0));
    assert_eq!(f.k.processes[&g].parent, INIT);
    assert_eq!(f.k.processes[&g].exit_signal, crate::signal::SIGCHLD);
    f.k.exit_group(g, crate::task::ExitStatus::Exited(0));
    assert!(f.k.init_end.is_none(), "init still runs");
}

/// Found by the syscall fuzzer: CLONE_PARENT with exit signal SIGBUS from a child of init made a
/// sibling whose exit killed init. The sibling takes the caller's exit signal, as on Linux.
#[test]
fn clone_parent_siblings_signal_with_the_callers_exit_signal() {
    let mut f = Fixture::new();
    let a = f.call(nr::FORK, [0; 6]) as Tid;
    let flags = crate::syscall::process::CLONE_PARENT | crate::signal::SIGBUS as u64;
    let s = call_as(&mut f, a, nr::CLONE, [flags, 0, 0, 0, 0, 0]) as Tid;
    assert_eq!(f.k.processes[&s].parent, INIT);
    assert_eq!(f.k.processes[&s].exit_signal, crate::signal::SIGCHLD);
    f.k.exit_group(s, crate::task::ExitStatus::Exited(0));
    f.k.exit_group(a, crate::task::ExitStatus::Exited(0));
}

/// Found by reading the fuzzer's target: every distinct unknown number used to be remembered
/// (and logged), so random numbers grew the kernel's memory without bound.
#[test]
fn unknown_syscall_numbers_are_remembered_only_up_to_a_bound() {
    let mut f = Fixture::new();
    let enosys = Errno::ENOSYS.as_return();
    for n in 0..200u64 {
        assert_eq!(f.call(100_000 + n, [0; 6]), enosys);
    }
    assert_eq!(f.k.reported.len(), super::MAX_REPORTED);
}

/// Writes NUL-terminated `text` into the scratch area at `offset` and returns its address.
fn user_string(f: &mut Fixture, offset: u64, text: &str) -> u64 {
    let at = 0x60_0000 + offset;
    let mut bytes = text.as_bytes().to_vec();
    bytes.push(0);
    f.k.user(INIT).write(at, &bytes).unwrap();
    at
}

/// Found by the syscall fuzzer: renaming a mount point (or exchanging it, or renaming onto
/// one) succeeded and carried the mount along; Linux refuses with EBUSY.
#[test]
fn mount_points_cannot_be_renamed_or_replaced() {
    use nr::{MKDIR, MOUNT, RENAME, RENAMEAT2, UMOUNT2};
    const AT_FDCWD: u64 = -100i64 as u64;
    const RENAME_EXCHANGE: u64 = 2;
    let ebusy = Errno::EBUSY.as_return();
    let mut f = Fixture::new();
    let mnt = user_string(&mut f, 0, "/mnt");
    let other = user_string(&mut f, 0x40, "/other");
    let tmpfs = user_string(&mut f, 0x80, "tmpfs");
    let itself = user_string(&mut f, 0xc0, "/mnt/../mnt");
    assert_eq!(f.call(MKDIR, [mnt, 0o755, 0, 0, 0, 0]), 0);
    assert_eq!(f.call(MKDIR, [other, 0o755, 0, 0, 0, 0]), 0);
    assert_eq!(f.call(MOUNT, [tmpfs, mnt, tmpfs, 0, 0, 0]), 0);
    assert_eq!(f.call(RENAME, [mnt, other, 0, 0, 0, 0]), ebusy, "from");
    assert_eq!(f.call(RENAME, [other, mnt, 0, 0, 0, 0]), ebusy, "onto");
    let exchange = [AT_FDCWD, other, AT_FDCWD, mnt, RENAME_EXCHANGE, 0];
    assert_eq!(f.call(RENAMEAT2, exchange), ebusy, "exchange");
    assert_eq!(f.call(RENAME, [mnt, itself, 0, 0, 0, 0]), 0, "onto itself");
    assert_eq!(f.call(UMOUNT2, [mnt, 0, 0, 0, 0, 0]), 0);
    assert_eq!(
        f.call(RENAME, [mnt, other, 0, 0, 0, 0]),
        0,
        "no longer mounted"
    );
}

/// Found by the syscall fuzzer: a mount on /proc/<pid> outlived the process, after which
/// `umount /proc` was EBUSY for ever. As on Linux, reaping the process detaches it; while
/// the process lives, the mount is entered like any other.
#[test]
fn mounts_on_a_proc_pid_directory_go_with_the_process() {
    use nr::{MKDIR, MOUNT, STAT, UMOUNT2};
    let ebusy = Errno::EBUSY.as_return();
    let mut f = Fixture::new();
    let proc_dir = user_string(&mut f, 0, "/proc");
    let proc_type = user_string(&mut f, 0x40, "proc");
    let tmpfs = user_string(&mut f, 0x80, "tmpfs");
    let stat_buf = 0x60_1000;
    assert_eq!(f.call(MKDIR, [proc_dir, 0o555, 0, 0, 0, 0]), 0);
    assert_eq!(f.call(MOUNT, [proc_type, proc_dir, proc_type, 0, 0, 0]), 0);
    let child = f.call(nr::FORK, [0; 6]) as Tid;
    let child_dir = user_string(&mut f, 0x100, &format!("/proc/{child}"));
    let inside = user_string(&mut f, 0x140, &format!("/proc/{child}/d"));
    assert_eq!(f.call(MOUNT, [tmpfs, child_dir, tmpfs, 0, 0, 0]), 0);
    assert_eq!(
        f.call(MKDIR, [inside, 0o755, 0, 0, 0, 0]),
        0,
        "in the tmpfs"
    );
    assert_eq!(f.call(MOUNT, [tmpfs, inside, tmpfs, 0, 0, 0]), 0);
    assert_eq!(f.call(STAT, [inside, stat_buf, 0, 0, 0, 0]), 0);
    assert_eq!(f.call(UMOUNT2, [proc_dir, 0, 0, 0, 0, 0]), ebusy);
    f.k.exit_group(child, crate::task::ExitStatus::Exited(0));
    assert_eq!(
        f.call(nr::WAIT4, [child as u64, 0, 0, 0, 0, 0]),
        child as u64
    );
    assert_eq!(f.k.vfs.mounts.len(), 2, "rootfs and /proc are left");
    assert_eq!(f.call(UMOUNT2, [proc_dir, 0, 0, 0, 0, 0]), 0);
}

/// umount with MNT_DETACH takes what is mounted below along; without it that is EBUSY. A
/// process left inside the detached tree cannot mount there.
#[test]
fn lazy_unmount_detaches_the_whole_tree() {
    use nr::{CHDIR, MKDIR, MOUNT, UMOUNT2};
    const MNT_DETACH: u64 = 2;
    let mut f = Fixture::new();
    let top = user_string(&mut f, 0, "/top");
    let below = user_string(&mut f, 0x40, "/top/below");
    let tmpfs = user_string(&mut f, 0x80, "tmpfs");
    let here = user_string(&mut f, 0xc0, ".");
    assert_eq!(f.call(MKDIR, [top, 0o755, 0, 0, 0, 0]), 0);
    assert_eq!(f.call(MOUNT, [tmpfs, top, tmpfs, 0, 0, 0]), 0);
    assert_eq!(f.call(MKDIR, [below, 0o755, 0, 0, 0, 0]), 0);
    assert_eq!(f.call(MOUNT, [tmpfs, below, tmpfs, 0, 0, 0]), 0);
    assert_eq!(f.call(CHDIR, [below, 0, 0, 0, 0, 0]), 0);
    let ebusy = Errno::EBUSY.as_return();
    assert_eq!(f.call(UMOUNT2, [top, 0, 0, 0, 0, 0]), ebusy);
    assert_eq!(f.call(UMOUNT2, [top, MNT_DETACH, 0, 0, 0, 0]), 0);
    assert_eq!(f.k.vfs.mounts.len(), 1, "only rootfs is left");
    let einval = Errno::EINVAL.as_return();
    assert_eq!(f.call(MOUNT, [tmpfs, here, tmpfs, 0, 0, 0]), einval);
    assert_eq!(f.call(UMOUNT2, [here, 0, 0, 0, 0, 0]), einval);
}

/// Makes a system call as thread `tid` and returns its result register.
fn call_as(f: &mut Fixture, tid: Tid, number: u64, args: [u64; 6]) -> u64 {
    let t = f.k.threads.get_mut(&tid).unwrap();
    t.context.number = number;
    t.context.args = args;
    super::handle(&mut f.k, tid);
    f.k.threads[&tid].context.ret
}

/// Found by the syscall fuzzer (whose deny list had to keep signals away from init): a child
/// could end the system with kill(1, SIGKILL) or stop it with SIGSTOP. As Linux's
/// SIGNAL_UNKILLABLE: init gets only the signals it has a handler for.
#[test]
fn init_gets_only_the_signals_it_handles() {
    use crate::signal::{SIGKILL, SIGSTOP, SIGTERM, SIGUSR1};
    use crate::task::ProcessState;
    let mut f = Fixture::new();
    let child = f.call(nr::FORK, [0; 6]) as Tid;
    for sig in [SIGKILL, SIGSTOP, SIGTERM, SIGUSR1] {
        assert_eq!(
            call_as(&mut f, child, nr::KILL, [1, sig as u64, 0, 0, 0, 0]),
            0
        );
        let tkill = [1, 1, sig as u64, 0, 0, 0];
        assert_eq!(call_as(&mut f, child, nr::TGKILL, tkill), 0);
        crate::sched::deliver_signals(&mut f.k, INIT);
        assert!(f.k.init_end.is_none(), "{sig} ended init");
        assert!(matches!(f.k.processes[&INIT].state, ProcessState::Running));
        assert!(
            f.k.threads[&INIT]
                .deliverable(&f.k.processes[&INIT])
                .lowest()
                .is_none()
        );
    }
    // Blocked, SIGTERM is queued; unblocked while still at its default action, it is dropped.
    let sigterm_set = f.scratch(&(1u64 << (SIGTERM - 1)).to_le_bytes());
    assert_eq!(f.call(nr::RT_SIGPROCMASK, [0, sigterm_set, 0, 8, 0, 0]), 0);
    assert_eq!(
        call_as(&mut f, child, nr::KILL, [1, SIGTERM as u64, 0, 0, 0, 0]),
        0
    );
    assert!(
        f.k.processes[&INIT].pending.contains(SIGTERM),
        "queued while blocked"
    );
    assert_eq!(f.call(nr::RT_SIGPROCMASK, [1, sigterm_set, 0, 8, 0, 0]), 0);
    crate::sched::deliver_signals(&mut f.k, INIT);
    assert!(f.k.init_end.is_none(), "dropped at delivery");
    // A handled signal arrives.
    let mut action = [0u8; 32];
    action[..8].copy_from_slice(&0x40_0000u64.to_le_bytes());
    let act = f.scratch(&action);
    assert_eq!(
        f.call(nr::RT_SIGACTION, [SIGUSR1 as u64, act, 0, 8, 0, 0]),
        0
    );
    assert_eq!(
        call_as(&mut f, child, nr::KILL, [1, SIGUSR1 as u64, 0, 0, 0, 0]),
        0
    );
    assert!(
        f.k.processes[&INIT].pending.contains(SIGUSR1),
        "handled: delivered"
    );
    // The same signals still reach any other process.
    let grandchild = call_as(&mut f, child, nr::FORK, [0; 6]) as Tid;
    let kill = [grandchild as u64, SIGKILL as u64, 0, 0, 0, 0];
    assert_eq!(call_as(&mut f, child, nr::KILL, kill), 0);
    crate::sched::deliver_signals(&mut f.k, grandchild);
    assert!(matches!(
        f.k.processes[&grandchild].state,
        ProcessState::Zombie(_)
    ));
    let reap = [grandchild as u64, 0, 0, 0, 0, 0];
    assert_eq!(call_as(&mut f, child, nr::WAIT4, reap), grandchild as u64);
    f.k.exit_group(child, crate::task::ExitStatus::Exited(0));
    assert_eq!(
        f.call(nr::WAIT4, [child as u64, 0, 0, 0, 0, 0]),
        child as u64
    );
}

/// A fault init does not handle still kills it (Linux clears SIGNAL_UNKILLABLE for it), so a
/// broken init ends the system with the right signal rather than faulting for ever.
#[test]
fn an_unhandled_fault_kills_even_init() {
    let mut f = Fixture::new();
    let fault = crate::signal::SigInfo::user(crate::signal::SIGSEGV, 1, 0);
    crate::sched::force_signal(&mut f.k, INIT, fault);
    crate::sched::deliver_signals(&mut f.k, INIT);
    assert!(matches!(
        f.k.init_end,
        Some(crate::task::InitEnd::Killed(crate::signal::SIGSEGV))
    ));
}

/// Found by the syscall fuzzer: numbers were decoded as 64-bit values, so 2^32 + 39 was ENOSYS
/// here but getpid on Linux, which uses the register's low 32 bits.
#[test]
fn only_the_low_32_bits_of_the_number_count() {
    let mut f = Fixture::new();
    assert_eq!(f.call((1 << 32) | nr::GETPID, [0; 6]), 1);
    assert_eq!(f.call(0xdead_beef_0000_0000 | nr::GETPID, [0; 6]), 1);
    let enosys = Errno::ENOSYS.as_return();
    assert_eq!(
        f.call(0x4000_0000 | nr::GETPID, [0; 6]),
        enosys,
        "x32 is not offered"
    );
    assert_eq!(f.call(u64::MAX, [0; 6]), enosys);
}
