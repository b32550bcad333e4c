//! The child's arena: pages at a fixed address (so that a replay passes the same pointers) with
//! every kind of user memory a pointer argument can meet, and prepared structures (short
//! timespecs, iovecs, pollfds, argv, clone_args, ...) that let calls get past argument decoding.
//!
//! ```text
//! ARENA + 0x0000  RW     prepared structures, strings
//!       + 0x1000  RW     a patterned buffer
//!       + 0x2000  R      a patterned buffer; ends with "/fuzz/a" and no NUL (next page: NONE)
//!       + 0x3000  NONE
//!       + 0x4000  hole   (unmapped)
//!       + 0x5000  RW     zeros; ends with "/fuzz/a\0", the NUL as the page's last byte
//!       + 0x6000  unmapped
//! FREE            unmapped space for MAP_FIXED to land in
//! ```
//!
//! The fuzzed calls change all of this (they write into it, unmap it, remap it, change its
//! protection), so the child rebuilds it every [`REFRESH`] calls: a MAP_FIXED mapping over the
//! whole range and fresh contents. Writing only into a mapping just made writable keeps the
//! child's own stores from faulting.

use rt::sys::{
    self, MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PAGE, PROT_NONE, PROT_READ, PROT_WRITE,
};

pub const ARENA: usize = 0x0000_1000_0000_0000;
pub const RW0: usize = ARENA;
pub const RW1: usize = ARENA + PAGE;
pub const RO: usize = ARENA + 2 * PAGE;
pub const NONE: usize = ARENA + 3 * PAGE;
pub const HOLE: usize = ARENA + 4 * PAGE;
pub const RW5: usize = ARENA + 5 * PAGE;
pub const PAGES: usize = 6;
pub const END: usize = ARENA + PAGES * PAGE;
/// Free address space (nothing is mapped there by the child) for MAP_FIXED and mremap targets.
pub const FREE: usize = ARENA + 0x10_0000;

/// Calls between rebuilds of the arena.
pub const REFRESH: u64 = 64;

// Prepared structures in RW0.
pub const TS_ZERO: usize = RW0;
pub const TS_1US: usize = RW0 + 0x10;
pub const TS_1MS: usize = RW0 + 0x20;
/// tv_nsec = 1e9: EINVAL.
pub const TS_BAD_NSEC: usize = RW0 + 0x30;
/// tv_sec = -1: EINVAL.
pub const TS_NEG: usize = RW0 + 0x40;
pub const SIGSET_ALL: usize = RW0 + 0x50;
pub const SIGSET_NONE: usize = RW0 + 0x58;
pub const SIGSET_POKE: usize = RW0 + 0x60;
/// Four iovecs into writable memory.
pub const IOV_GOOD: usize = RW0 + 0x80;
/// Four iovecs into PROT_NONE, read-only-then-NONE, NULL and the kernel.
pub const IOV_BAD: usize = RW0 + 0xc0;
/// Four iovecs whose lengths overflow.
pub const IOV_HUGE: usize = RW0 + 0x100;
/// Eight pollfds on the pool's descriptors.
pub const POLLFDS: usize = RW0 + 0x140;
pub const ITIMERSPEC: usize = RW0 + 0x180;
pub const EPOLL_EVENT: usize = RW0 + 0x1a0;
pub const RLIMIT: usize = RW0 + 0x1c0;
/// `struct sigaction` with SIG_IGN.
pub const SIGACTION: usize = RW0 + 0x1e0;
pub const ARGV: usize = RW0 + 0x200;
pub const ENVP: usize = RW0 + 0x220;
/// `struct clone_args` for a plain fork (exit signal SIGCHLD).
pub const CLONE_ARGS: usize = RW0 + 0x240;
pub const SOCKADDR_UN: usize = RW0 + 0x2a0;
pub const TIMEVAL: usize = RW0 + 0x320;
pub const FUTEX_WORD: usize = RW0 + 0x330;
pub const FUTEX_WAITV: usize = RW0 + 0x340;
pub const ZEROS: usize = RW0 + 0x400;
pub const STR_PATH: usize = RW0 + 0x800;
pub const STR_X: usize = RW0 + 0x810;
pub const STR_ENV: usize = RW0 + 0x820;
pub const STR_DIR: usize = RW0 + 0x830;
/// "/fuzz/a\0" with the NUL as RW5's last byte.
pub const PATH_AT_END: usize = RW5 + PAGE - 8;
/// "/fuzz/a" without a NUL, running into the PROT_NONE page.
pub const PATH_UNTERMINATED: usize = RO + PAGE - 7;

/// The prepared structures a pointer argument may be given.
pub const STRUCTS: &[usize] = &[
    TS_ZERO,
    TS_1US,
    TS_1MS,
    TS_BAD_NSEC,
    TS_NEG,
    SIGSET_ALL,
    SIGSET_NONE,
    SIGSET_POKE,
    IOV_GOOD,
    IOV_BAD,
    IOV_HUGE,
    POLLFDS,
    ITIMERSPEC,
    EPOLL_EVENT,
    RLIMIT,
    SIGACTION,
    ARGV,
    ENVP,
    CLONE_ARGS,
    SOCKADDR_UN,
    TIMEVAL,
    FUTEX_WORD,
    FUTEX_WAITV,
    ZEROS,
    STR_PATH,
];

/// Stores into the freshly mapped arena.
struct Writer;

impl Writer {
    /// # Safety
    /// `[at, at + bytes.len())` must lie in the arena's writable pages, freshly mapped.
    unsafe fn bytes(at: usize, bytes: &[u8]) {
        // SAFETY: per the contract.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), at as *mut u8, bytes.len()) };
    }

    /// # Safety
    /// As [`Writer::bytes`], for 8 * `words.len()` bytes at an 8-aligned `at`.
    unsafe fn words(at: usize, words: &[u64]) {
        for (i, w) in words.iter().enumerate() {
            // SAFETY: per the contract; the address is 8-aligned.
            unsafe { ((at + 8 * i) as *mut u64).write(*w) };
        }
    }
}

/// The patterned bytes of RW1 and RO: not zero, not a valid anything, repeatable.
fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(37).wrapping_add(11) % 251) as u8
}

/// Maps the arena afresh and fills it; `pool` gives the descriptors for the pollfds. Returns
/// false (and leaves whatever is there) if the kernel refuses the mapping — a fuzzed call may
/// have lowered RLIMIT_AS or the like; the pointers into the arena stay just as useful.
pub fn refresh(pool: &[i32]) -> bool {
    // SAFETY: the arena range belongs to the fuzzer (nothing else of the program lives there);
    // MAP_FIXED replaces whatever the fuzzed calls left in it.
    let r = unsafe {
        sys::mmap(
            ARENA,
            PAGES * PAGE,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
            -1,
            0,
        )
    };
    if r as usize != ARENA {
        return false;
    }
    // SAFETY: all six pages were just mapped read-write and zero-filled; every write below is
    // inside them (the offsets are the constants above, all within RW0, RW1, RO and RW5 before
    // their protections change).
    unsafe {
        Writer::words(TS_1US, &[0, 1_000]);
        Writer::words(TS_1MS, &[0, 1_000_000]);
        Writer::words(TS_BAD_NSEC, &[0, 1_000_000_000]);
        Writer::words(TS_NEG, &[u64::MAX, 0]);
        Writer::words(SIGSET_ALL, &[u64::MAX]);
        Writer::words(SIGSET_POKE, &[rt::signal::bit(crate::child::POKE)]);
        let (rw1, rw5, ro, none) = (RW1 as u64, RW5 as u64, RO as u64, NONE as u64);
        Writer::words(
            IOV_GOOD,
            &[
                rw1,
                64,
                rw1 + 64,
                1000,
                rw5,
                PAGE as u64 - 16,
                rw1 + 2048,
                0,
            ],
        );
        Writer::words(
            IOV_BAD,
            &[none, 16, ro + 4000, 200, 0, 8, 0xffff_ffff_8000_0000, 8],
        );
        Writer::words(
            IOV_HUGE,
            &[rw1, u64::MAX, rw1, 1 << 31, rw5, i64::MAX as u64, rw1, 8],
        );
        for (i, &fd) in pool.iter().take(8).enumerate() {
            // struct pollfd { int fd; short events; short revents; }: POLLIN | POLLOUT.
            let entry = (fd as u32 as u64) | (0x5 << 32);
            Writer::words(POLLFDS + 8 * i, &[entry]);
        }
        Writer::words(ITIMERSPEC, &[0, 0, 0, 1_000_000]);
        // EPOLLIN; the data word after it (packed on x86_64, aligned on AArch64) stays 0.
        Writer::words(EPOLL_EVENT, &[1]);
        Writer::words(RLIMIT, &[16, 64]);
        Writer::words(SIGACTION, &[rt::signal::SIG_IGN as u64, 0, 0, 0]);
        Writer::words(ARGV, &[STR_PATH as u64, STR_X as u64, 0]);
        Writer::words(ENVP, &[STR_ENV as u64, 0]);
        // struct clone_args: flags, pidfd, child_tid, parent_tid, exit_signal (SIGCHLD), stack,
        // stack_size, tls, set_tid, set_tid_size, cgroup.
        Writer::words(CLONE_ARGS, &[0, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0]);
        // struct sockaddr_un { sa_family_t = AF_UNIX; char path[108]; }
        Writer::bytes(SOCKADDR_UN, &[1, 0]);
        Writer::bytes(SOCKADDR_UN + 2, b"/fuzz/sock\0");
        Writer::words(TIMEVAL, &[0, 1_000]);
        // struct futex_waitv { u64 val; u64 uaddr; u32 flags (FUTEX2_SIZE_U32); u32 reserved; }
        Writer::words(FUTEX_WAITV, &[0, FUTEX_WORD as u64, 2]);
        Writer::bytes(STR_PATH, b"/fuzz/a\0");
        Writer::bytes(STR_X, b"x\0");
        Writer::bytes(STR_ENV, b"A=B\0");
        Writer::bytes(STR_DIR, b"/fuzz/dir\0");
        for i in 0..PAGE {
            ((RW1 + i) as *mut u8).write(pattern(i));
            ((RO + i) as *mut u8).write(pattern(i + 1));
        }
        Writer::bytes(PATH_UNTERMINATED, b"/fuzz/a");
        Writer::bytes(PATH_AT_END, b"/fuzz/a\0");
    }
    // SAFETY: the arena's own pages; the child writes to RO and NONE only through this function,
    // which remaps them read-write first.
    unsafe {
        sys::mprotect(RO, PAGE, PROT_READ);
        sys::mprotect(NONE, PAGE, PROT_NONE);
        sys::munmap(HOLE, PAGE);
    }
    true
}
