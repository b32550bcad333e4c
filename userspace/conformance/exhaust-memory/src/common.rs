//! What the memory exhaustion programs (`exhaust-memory`, `exhaust-overcommit`) share: the
//! children that take memory until the machine runs out or a cap (see `exhaust-memory`'s
//! description), reading /proc/meminfo, and the check that free memory comes back.

use core::sync::atomic::{AtomicU64, Ordering};

use rt::check;
use rt::errno::ENOMEM;
use rt::println;
use rt::signal::SIGKILL;
use rt::sys::{self, MAP_ANONYMOUS, MAP_SHARED, PAGE, PROT_READ, PROT_WRITE};
use rt::syscall::{nr, syscall4};

pub const RW: usize = PROT_READ | PROT_WRITE;

pub const MAP_POPULATE: usize = 0x8000;

pub const MADV_POPULATE_WRITE: usize = 23;

pub const MIB: usize = 1 << 20;

/// How far a child goes at most (see the module comment).
pub const CAP: usize = 1 << 30;

/// The size of each mmap or brk step.
pub const STEP: usize = MIB;

/// Child exit statuses.
pub const REACHED_CAP: i32 = 0;

pub const REFUSED_ENOMEM: i32 = 2;

pub const REFUSED_OTHER: i32 = 3;

/// What the parent reads from /proc/meminfo, in KiB.
#[derive(Clone, Copy, Default)]
pub struct MemInfo {
    pub total: u64,
    pub free: u64,
    pub available: u64,
}

pub fn meminfo() -> MemInfo {
    let mut m = MemInfo::default();
    // SAFETY: a NUL-terminated path; O_RDONLY takes no mode.
    let fd = unsafe {
        syscall4(
            nr::OPENAT,
            (-100isize) as usize,
            c"/proc/meminfo".as_ptr() as usize,
            0,
            0,
        )
    };
    if fd < 0 {
        check::fail("open /proc/meminfo", rt::errno::Ret(fd));
        return m;
    }
    let mut buf = [0u8; 8192];
    let mut len = 0;
    loop {
        let n = sys::read(fd as i32, &mut buf[len..]);
        if n <= 0 {
            break;
        }
        len += n as usize;
    }
    sys::close(fd as i32);
    for line in buf[..len].split(|&b| b == b'\n') {
        let mut words = line.split(|&b| b == b' ').filter(|w| !w.is_empty());
        let (Some(key), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        let Some(v) = rt::text::parse_int(value) else {
            continue;
        };
        match key {
            b"MemTotal:" => m.total = v as u64,
            b"MemFree:" => m.free = v as u64,
            b"MemAvailable:" => m.available = v as u64,
            _ => {}
        }
    }
    m
}

/// How far MemAvailable may stay below its earlier value and still count as "back". Cyphera has
/// no page cache and nothing else running: its figure comes back to the page (measured: 4 KiB
/// below after the first child, the parent's own first touches, then 0 KiB after every one).
/// Linux's moves with everything else on the host: measured on a busy 24 GiB build host, the
/// other processes' memory moved it by up to 1 GiB within a few seconds, for longer than the
/// retries below wait. So the tolerance scales with the machine: 1/16 of MemTotal, at least
/// 2 MiB — 30 MiB on the 512 MiB QEMU machine, where a child that did not give back what it
/// took (hundreds of MiB) shows, and 1.5 GiB on that host. The soak test (cargo xtask soak)
/// checks Cyphera's figures to the page, round after round.
pub fn tolerance_kb(m: &MemInfo) -> u64 {
    (m.total / 16).max(2048)
}

/// Whether MemFree comes back to `before` (within the tolerance); on a busy host it may take
/// a moment, so it is read again for up to 10 seconds.
pub fn back_to(before: &MemInfo) -> bool {
    for _ in 0..100 {
        let now = meminfo();
        if now.available + tolerance_kb(before) >= before.available {
            return true;
        }
        sys::sleep_ms(100);
    }
    false
}

/// The shared page the children count their progress in (MiB, or mappings for (d)).
pub fn progress() -> &'static AtomicU64 {
    static mut PAGE_ADDR: usize = 0;
    // SAFETY: single-threaded; the page is mapped once and never unmapped.
    unsafe {
        if PAGE_ADDR == 0 {
            let p = sys::mmap(0, PAGE, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
            if p < 0 {
                check::fail("mmap of the shared progress page", rt::errno::Ret(p));
                rt::exit(1);
            }
            PAGE_ADDR = p as usize;
        }
        &*(PAGE_ADDR as *const AtomicU64)
    }
}

/// Writes one byte into every page of [addr, addr + len).
///
/// # Safety
/// The range must be this process's own writable memory.
pub unsafe fn touch(addr: usize, len: usize) {
    for page in (addr..addr + len).step_by(PAGE) {
        // SAFETY: per the contract.
        unsafe { (page as *mut u8).write_volatile(1) };
    }
}

pub fn refused(r: isize) -> i32 {
    if r == -ENOMEM {
        REFUSED_ENOMEM
    } else {
        REFUSED_OTHER
    }
}

/// Runs `f` in a child: its wait status and how far it got.
pub fn run(f: fn() -> i32) -> (i32, u64) {
    progress().store(0, Ordering::Relaxed);
    let pid = sys::fork();
    if pid == 0 {
        rt::exit(f());
    }
    if pid < 0 {
        check::fail("fork", rt::errno::Ret(pid));
        return (-1, 0);
    }
    let status = sys::wait_for(pid as i32);
    (status, progress().load(Ordering::Relaxed))
}

/// Whether a child's end fits this machine (see the module comment).
pub fn as_memory_allows(status: i32, m: &MemInfo) -> bool {
    let ran_out =
        sys::exited(status) == Some(REFUSED_ENOMEM) || sys::signaled(status) == Some(SIGKILL);
    let reached = sys::exited(status) == Some(REACHED_CAP);
    let cap_kb = (CAP / 1024) as u64;
    if m.total < cap_kb {
        ran_out
    } else if m.available >= 2 * cap_kb {
        reached
    } else {
        ran_out || reached
    }
}

pub fn exhaust(name: &str, f: fn() -> i32) -> u64 {
    println!("{name}:");
    let before = meminfo();
    let (status, got) = run(f);
    check::yes(
        "  the child ran out of memory or reached the cap, as this machine allows",
        as_memory_allows(status, &before),
    );
    check::yes("  free memory back to what it was", back_to(&before));
    got
}
