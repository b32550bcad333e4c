//! Conformance: memory exhaustion. Children take memory until the machine has none left — or
//! until a cap of 1 GiB, which the 512 MiB test machine cannot reach and the host of a Linux
//! reference run must not be pushed past — and the parent checks after each that free memory
//! is back where it was (MemAvailable in /proc/meminfo: on Cyphera the same as MemFree; on
//! Linux it also counts the page cache, which a busy host fills and empties all the time):
//!
//! - (a) anonymous mmaps of 1 MiB with MAP_POPULATE, every page touched, until mmap fails or the
//!   cap;
//! - (d) single-page mappings that cannot merge, each touched, until the map count limit
//!   (Linux's vm.max_map_count, 65530 by default) makes mmap fail with ENOMEM;
//! - (e) a file written 64 KiB at a time until the file system is full (ENOSPC) or 64 MiB:
//!   while it is full a child can still be forked and talk through a pipe, and once the file
//!   is deleted the same again gets as far. (On Cyphera, files live in tmpfs on the kernel
//!   heap, which they may fill only so far; on Linux the reference writes into its current
//!   directory, a disk with room for 64 MiB.)
//!
//! (b) and (c), an overcommitted mapping and the brk heap, are `exhaust-overcommit`: each run
//! out of memory takes time in proportion to the machine's memory (every page is zeroed), and
//! a test program has a minute on the slowest emulated boards.
//!
//! Running out means what Linux does on a small machine: the OOM killer ends the child with
//! SIGKILL (Linux's default overcommit lets the mmap and brk calls succeed; ENOMEM from them is
//! accepted too, as with strict overcommit). Which ending is right depends on the machine, so
//! the check says only whether the child ended as this machine's memory allows: out of memory
//! where MemTotal is below the cap, at the cap where MemAvailable is twice the cap, either in
//! between. The parent survives all of it; each child reports its progress through a shared
//! page, which survives SIGKILL.
#![no_std]
#![no_main]

// Each program uses part of the shared code.
#[allow(dead_code)]
mod common;

use core::sync::atomic::Ordering;

use common::*;
use rt::check;
use rt::println;
use rt::sys::{self, MAP_ANONYMOUS, MAP_PRIVATE, PAGE, PROT_READ};
use rt::syscall::{nr, syscall4};

rt::main!(main);

/// At least this many single-page mappings must succeed before the map count limit (Linux's
/// default is 65530; the program itself has a few).
const MANY_MAPS: u64 = 60_000;

fn mmap_chunks() -> i32 {
    let done = progress();
    while (done.load(Ordering::Relaxed) as usize) * STEP < CAP {
        // MAP_POPULATE has the kernel fault the pages in (what runs out there is not the call's
        // failure, on Linux or Cyphera: the touch below then faults); far fewer traps than
        // touching alone, which matters on emulated machines with more memory.
        // SAFETY: without MAP_FIXED nothing existing is replaced.
        let p = unsafe {
            sys::mmap(
                0,
                STEP,
                RW,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                -1,
                0,
            )
        };
        if p < 0 {
            return refused(p);
        }
        // SAFETY: a fresh private mapping of STEP bytes.
        unsafe { touch(p as usize, STEP) };
        done.fetch_add(1, Ordering::Relaxed);
    }
    REACHED_CAP
}

/// Where (d) places its pages: a hint, free on both architectures' 47/48-bit user ranges and
/// far from the program, the stack and the kernel's own mmap placement. Each page goes right
/// above the previous one: with a free hint the kernel places a mapping without searching
/// (Cyphera's search for a free range walks the mappings, which would make 65530 of them take
/// quadratic time).
const MAPS_BASE: usize = 0x1000_0000_0000;

fn many_maps() -> i32 {
    let done = progress();
    let mut i = 0usize;
    loop {
        // Alternate protections so that neighbours never merge into one mapping.
        let prot = if i.is_multiple_of(2) { RW } else { PROT_READ };
        // SAFETY: a hint, not MAP_FIXED: nothing existing is replaced.
        let p = unsafe {
            sys::mmap(
                MAPS_BASE + i * PAGE,
                PAGE,
                prot,
                MAP_PRIVATE | MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p < 0 {
            return refused(p);
        }
        if prot == RW {
            // SAFETY: a fresh writable page.
            unsafe { touch(p as usize, PAGE) };
        }
        done.fetch_add(1, Ordering::Relaxed);
        i += 1;
    }
}

fn main(_env: &rt::Env) -> i32 {
    rt::sys::mount_proc();
    let m = meminfo();
    check::yes(
        "MemTotal and MemFree read",
        m.total > 0 && m.free > 0 && m.free <= m.total,
    );
    progress();

    exhaust(
        "(a) mmap 1 MiB at a time, populated and touched",
        mmap_chunks,
    );

    println!("(d) single pages until the map count limit:");
    let before = meminfo();
    let (status, maps) = run(many_maps);
    check::yes(
        "  mmap failed with ENOMEM",
        sys::exited(status) == Some(REFUSED_ENOMEM),
    );
    check::yes("  after more than 60000 mappings", maps > MANY_MAPS);
    check::yes("  free memory back to what it was", back_to(&before));

    fill_file_system();

    check::finish("exhaust-memory")
}

#[cfg(target_arch = "x86_64")]
const UNLINKAT: usize = 263;
#[cfg(target_arch = "aarch64")]
const UNLINKAT: usize = 35;
const O_WRONLY: usize = 0o1;
const O_CREAT: usize = 0o100;
const O_TRUNC: usize = 0o1000;
/// How much (e) writes at most.
const FILE_CAP: usize = 64 << 20;

/// Writes `path` 64 KiB at a time until a write fails or [`FILE_CAP`]: the bytes written, and
/// the failure (0 at the cap).
fn fill(path: &core::ffi::CStr) -> (usize, isize) {
    // SAFETY: a NUL-terminated path.
    let fd = unsafe {
        syscall4(
            nr::OPENAT,
            (-100isize) as usize,
            path.as_ptr() as usize,
            O_WRONLY | O_CREAT | O_TRUNC | sys::O_CLOEXEC,
            0o600,
        )
    };
    if fd < 0 {
        return (0, fd);
    }
    static CHUNK: [u8; 65536] = [0x5a; 65536];
    let mut total = 0;
    let mut end = 0;
    while total < FILE_CAP {
        let n = rt::io::write(fd as i32, &CHUNK);
        if n <= 0 {
            end = n;
            break;
        }
        total += n as usize;
    }
    sys::close(fd as i32);
    (total, end)
}

fn unlink(path: &core::ffi::CStr) -> isize {
    // SAFETY: a NUL-terminated path.
    unsafe { rt::syscall::syscall3(UNLINKAT, (-100isize) as usize, path.as_ptr() as usize, 0) }
}

fn fill_file_system() {
    println!("(e) a file written until the file system is full:");
    // In the current directory; the pid keeps two reference runs at once apart.
    let mut name = rt::exec::Strings::new();
    name.push_fmt(format_args!("exhaust-memory-{}.fill", sys::getpid()));
    // SAFETY: Strings::first is the NUL-terminated string just pushed, alive while `name` is.
    let path = unsafe { core::ffi::CStr::from_ptr(name.first().cast()) };
    let (first, end) = fill(path);
    check::yes(
        "  it filled up (ENOSPC) or reached 64 MiB",
        end == -rt::errno::ENOSPC || (end == 0 && first == FILE_CAP),
    );
    let pid = sys::fork();
    if pid == 0 {
        let ok = match sys::pipe2(0) {
            Ok([r, w]) => {
                let mut b = [0u8; 5];
                rt::io::write(w, b"hello") == 5 && sys::read(r, &mut b) == 5 && &b == b"hello"
            }
            Err(_) => false,
        };
        rt::exit(if ok { 0 } else { 1 });
    }
    if pid < 0 {
        check::fail("  fork while it is full", rt::errno::Ret(pid));
    } else {
        check::shows(
            "  while it is full, a forked child talks through a pipe",
            sys::Status(sys::wait_for(pid as i32)),
            "exited 0",
        );
    }
    check::ret("  unlink", unlink(path), 0);
    let (second, end) = fill(path);
    check::yes(
        "  filled again, it gets as far (within 1 MiB)",
        (end == -rt::errno::ENOSPC || end == 0) && second + MIB >= first && first + MIB >= second,
    );
    check::ret("  unlink", unlink(path), 0);
}
