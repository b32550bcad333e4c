//! Conformance: `sigaltstack`. No alternate stack at first; an SA_ONSTACK handler runs on the
//! one installed (a local's address is inside it) and sees SS_ONSTACK, while a handler without
//! the flag runs on the normal stack; the stack cannot be changed while on it (EPERM); too small
//! (ENOMEM), bad flags (EINVAL), bad pointers (EFAULT); SS_DISABLE turns it off; and a forked
//! child whose main stack overflows (under an 8 MiB RLIMIT_STACK) catches the SIGSEGV on its
//! alternate stack.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

use rt::check;
use rt::errno::{EFAULT, EINVAL, ENOMEM, EPERM};
use rt::println;
use rt::signal::{
    self, MINSIGSTKSZ, SA_ONSTACK, SIGSEGV, SIGUSR1, SIGUSR2, SS_DISABLE, SS_ONSTACK, SigInfo,
    StackT,
};
use rt::sys::{self, Status};
use rt::syscall::{nr, syscall2};

rt::main!(main);

const ALT: usize = 64 * 1024;

static LOCAL: AtomicUsize = AtomicUsize::new(0);
static SEEN_FLAGS: AtomicIsize = AtomicIsize::new(-1);
static CHANGE_WHILE_ON: AtomicIsize = AtomicIsize::new(0);

extern "C" fn handler(_sig: i32, _info: *mut SigInfo, _uc: *mut u8) {
    let local = 0u8;
    LOCAL.store(
        core::hint::black_box(&local) as *const u8 as usize,
        Ordering::Relaxed,
    );
    let mut cur = StackT::default();
    signal::sigaltstack(None, Some(&mut cur));
    SEEN_FLAGS.store(cur.flags as isize, Ordering::Relaxed);
    let other = StackT {
        sp: cur.sp,
        flags: 0,
        size: cur.size,
    };
    CHANGE_WHILE_ON.store(signal::sigaltstack(Some(&other), None), Ordering::Relaxed);
}

extern "C" fn overflow_caught(_sig: i32, _info: *mut SigInfo, _uc: *mut u8) {
    let local = 0u8;
    let here = core::hint::black_box(&local) as *const u8 as usize;
    let base = LOCAL.load(Ordering::Relaxed);
    let on_alt = here >= base && here < base + ALT;
    println!(
        "  child: SIGSEGV caught on the alternate stack: {}",
        if on_alt { "yes" } else { "no" }
    );
    rt::exit(if on_alt { 42 } else { 1 });
}

/// Recurses until the stack runs out (4 KiB per level; the result keeps it from being a loop).
#[inline(never)]
#[allow(unconditional_recursion)] // on purpose: it ends in SIGSEGV
fn recurse(n: usize) -> usize {
    let mut frame = [0u8; 4096];
    frame[n % 4096] = n as u8;
    let frame = core::hint::black_box(&mut frame);
    recurse(n + 1) + frame[n % 4096] as usize
}

fn main(_env: &rt::Env) -> i32 {
    let mut cur = StackT::default();
    check::ret(
        "sigaltstack(NULL, &old)",
        signal::sigaltstack(None, Some(&mut cur)),
        0,
    );
    check::eq("  initially disabled (SS_DISABLE)", cur.flags, SS_DISABLE);
    check::yes("  with no stack", cur.sp == 0 && cur.size == 0);

    let mem = sys::mmap_anon(ALT, sys::PROT_READ | sys::PROT_WRITE);
    if mem < 0 {
        check::fail("mmap", rt::errno::Ret(mem));
        return check::finish("sigaltstack");
    }
    let mem = mem as usize;
    let ss = StackT {
        sp: mem,
        flags: 0,
        size: ALT,
    };
    check::ret(
        "install a 64 KiB alternate stack",
        signal::sigaltstack(Some(&ss), None),
        0,
    );
    signal::sigaltstack(None, Some(&mut cur));
    check::yes(
        "  reads back",
        cur.sp == mem && cur.size == ALT && cur.flags == 0,
    );

    signal::handle(SIGUSR1, handler, SA_ONSTACK, 0);
    sys::raise(SIGUSR1);
    let l = LOCAL.load(Ordering::Relaxed);
    check::yes(
        "SA_ONSTACK handler runs on the alternate stack",
        l >= mem && l < mem + ALT,
    );
    check::eq(
        "  sigaltstack there reports SS_ONSTACK",
        SEEN_FLAGS.load(Ordering::Relaxed),
        SS_ONSTACK as isize,
    );
    check::err(
        "  changing it there",
        CHANGE_WHILE_ON.load(Ordering::Relaxed),
        EPERM,
    );
    signal::handle(SIGUSR2, handler, 0, 0);
    sys::raise(SIGUSR2);
    let l = LOCAL.load(Ordering::Relaxed);
    check::yes(
        "a handler without SA_ONSTACK runs on the normal stack",
        !(l >= mem && l < mem + ALT),
    );
    check::eq(
        "  sigaltstack there reports flags",
        SEEN_FLAGS.load(Ordering::Relaxed),
        0,
    );

    // Below MINSIGSTKSZ (x86_64 2048, AArch64 5120; QEMU's user mode, the AArch64 reference
    // here, uses 2048 for both, so the size tested is below both).
    let small = StackT {
        sp: mem,
        flags: 0,
        size: MINSIGSTKSZ.min(2048) - 1,
    };
    check::err(
        "sigaltstack(size 2047)",
        signal::sigaltstack(Some(&small), None),
        ENOMEM,
    );
    let bad = StackT {
        sp: mem,
        flags: 5,
        size: ALT,
    };
    check::err(
        "sigaltstack(flags 5)",
        signal::sigaltstack(Some(&bad), None),
        EINVAL,
    );
    // SAFETY: 0x10 is never mapped; the kernel must not read or write there.
    check::err(
        "sigaltstack(new at 0x10)",
        unsafe { syscall2(nr::SIGALTSTACK, 0x10, 0) },
        EFAULT,
    );
    // SAFETY: as above.
    check::err(
        "sigaltstack(old to 0x10)",
        unsafe { syscall2(nr::SIGALTSTACK, 0, 0x10) },
        EFAULT,
    );
    let off = StackT {
        sp: 0,
        flags: SS_DISABLE,
        size: 0,
    };
    check::ret(
        "sigaltstack(SS_DISABLE)",
        signal::sigaltstack(Some(&off), None),
        0,
    );
    signal::sigaltstack(None, Some(&mut cur));
    check::eq("  now disabled", cur.flags, SS_DISABLE);
    sys::raise(SIGUSR1);
    let l = LOCAL.load(Ordering::Relaxed);
    check::yes(
        "  SA_ONSTACK handler then runs on the normal stack",
        !(l >= mem && l < mem + ALT),
    );

    println!("stack overflow:");
    let child = sys::fork();
    if child == 0 {
        let limit = sys::Rlimit {
            cur: 8 << 20,
            max: 8 << 20,
        };
        sys::prlimit(0, sys::RLIMIT_STACK, Some(&limit), None);
        LOCAL.store(mem, Ordering::Relaxed);
        signal::sigaltstack(Some(&ss), None);
        signal::handle(SIGSEGV, overflow_caught, SA_ONSTACK, 0);
        let n = recurse(0);
        println!("  child: recursion ended ({n})");
        rt::exit(1);
    }
    check::shows(
        "  child status",
        Status(sys::wait_for(child as i32)),
        "exited 42",
    );
    check::finish("sigaltstack")
}
