//! Conformance: signals within one thread. `rt_sigaction` stores and returns actions (minus
//! SIGKILL/SIGSTOP in masks and unknown flag bits) and refuses bad signals, sizes and pointers;
//! `kill`/`tkill`/`tgkill` to ourselves run the handler before the call returns, with the
//! sender's pid/uid and SI_USER/SI_TKILL; blocked signals wait in the pending set (standard ones
//! once, real-time ones queued) and run when unblocked, lowest number first; handlers run with
//! their mask and the signal blocked, which sigreturn undoes; SA_NODEFER lets a handler nest,
//! SA_RESETHAND resets to SIG_DFL; ignored signals vanish unless blocked, and setting SIG_IGN
//! discards them; `rt_sigprocmask` never blocks SIGKILL/SIGSTOP; `rt_sigtimedwait` takes
//! signals without handlers and times out; `rt_sigsuspend` swaps the mask for one handler.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};

use rt::check;
use rt::errno::{EAGAIN, EFAULT, EINTR, EINVAL, ESRCH};
use rt::println;
use rt::signal::{
    self, SA_NODEFER, SA_RESETHAND, SA_RESTART, SIG_DFL, SIG_IGN, SIGKILL, SIGRT_A, SIGRT_B,
    SIGSTOP, SIGUSR1, SIGUSR2, SigAction, SigInfo, bit,
};
use rt::sys::{self, Timespec};
use rt::syscall::{nr, syscall2, syscall4};

rt::main!(main);

static COUNT: AtomicUsize = AtomicUsize::new(0);
static LAST_CODE: AtomicI32 = AtomicI32::new(0);
static LAST_PID: AtomicI32 = AtomicI32::new(0);
static LAST_UID: AtomicU64 = AtomicU64::new(0);
static MASK_IN_HANDLER: AtomicU64 = AtomicU64::new(0);
/// The order handlers ran in: signal numbers (entering) and 100 + number (leaving).
static EVENTS: [AtomicI32; 16] = [const { AtomicI32::new(0) }; 16];
static NEVENTS: AtomicUsize = AtomicUsize::new(0);
static NEST: AtomicUsize = AtomicUsize::new(0);

fn event(e: i32) {
    let i = NEVENTS.fetch_add(1, Ordering::Relaxed);
    if i < EVENTS.len() {
        EVENTS[i].store(e, Ordering::Relaxed);
    }
}

/// The recorded events, space-separated.
struct Events;

impl core::fmt::Display for Events {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let n = NEVENTS.load(Ordering::Relaxed).min(EVENTS.len());
        for (i, e) in EVENTS[..n].iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{}", e.load(Ordering::Relaxed))?;
        }
        Ok(())
    }
}

fn clear_events() {
    NEVENTS.store(0, Ordering::Relaxed);
}

extern "C" fn record(sig: i32, info: *mut SigInfo, _uc: *mut u8) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let info = unsafe { &*info };
    COUNT.fetch_add(1, Ordering::Relaxed);
    LAST_CODE.store(info.code(), Ordering::Relaxed);
    LAST_PID.store(info.pid(), Ordering::Relaxed);
    LAST_UID.store(info.uid() as u64, Ordering::Relaxed);
    MASK_IN_HANDLER.store(signal::mask(), Ordering::Relaxed);
    event(sig);
}

/// Raises its own signal once from inside itself, recording entry and exit.
extern "C" fn nesting(sig: i32, _info: *mut SigInfo, _uc: *mut u8) {
    event(sig);
    if NEST.fetch_add(1, Ordering::Relaxed) == 0 {
        sys::raise(sig);
    }
    event(100 + sig);
}

/// A handler installed without SA_RESTORER (AArch64 only: Linux then returns through its
/// vDSO trampoline, Cyphera through its own; x86_64 requires SA_RESTORER).
#[cfg(target_arch = "aarch64")]
extern "C" fn plain(sig: i32) {
    event(sig);
}

fn uid() -> u64 {
    // SAFETY: getuid takes no arguments.
    unsafe { rt::syscall::syscall0(nr::GETUID) as u64 }
}

fn main(_env: &rt::Env) -> i32 {
    let me = sys::getpid();

    println!("rt_sigaction:");
    check::ret(
        "  install a handler for SIGUSR1",
        signal::handle(SIGUSR1, record, SA_RESTART, bit(SIGUSR2)),
        0,
    );
    let old = signal::current(SIGUSR1).unwrap_or_default();
    check::yes(
        "  the handler reads back",
        old.handler == record as *const () as usize,
    );
    check::shows(
        "  flags read back",
        format_args!("{:#x}", old.flags),
        "0x14000004",
    );
    check::shows("  mask read back", format_args!("{:#x}", old.mask), "0x800");
    // Linux drops SIGKILL and SIGSTOP from a handler's mask. (QEMU's user mode, the AArch64
    // reference here, keeps them; the kernel code is generic, so this runs on x86_64.)
    #[cfg(target_arch = "x86_64")]
    {
        signal::handle(
            SIGUSR2,
            record,
            0,
            bit(SIGKILL) | bit(SIGSTOP) | bit(SIGRT_A),
        );
        let old = signal::current(SIGUSR2).unwrap_or_default();
        check::shows(
            "  a mask with SIGKILL and SIGSTOP reads back without them",
            format_args!("{:#x}", old.mask),
            "0x8000000000",
        );
        signal::disposition(SIGUSR2, SIG_DFL);
    }
    let kill_act = SigAction {
        handler: record as *const () as usize,
        flags: signal::SA_SIGINFO,
        ..SigAction::default()
    };
    check::err(
        "  handler for SIGKILL",
        signal::sigaction(SIGKILL, Some(&kill_act), None),
        EINVAL,
    );
    check::err(
        "  handler for SIGSTOP",
        signal::sigaction(SIGSTOP, Some(&kill_act), None),
        EINVAL,
    );
    check::ret(
        "  query SIGKILL's action",
        signal::sigaction(SIGKILL, None, Some(&mut SigAction::default())),
        0,
    );
    check::err(
        "  signal 0",
        signal::sigaction(0, None, Some(&mut SigAction::default())),
        EINVAL,
    );
    check::err(
        "  signal 65",
        signal::sigaction(65, None, Some(&mut SigAction::default())),
        EINVAL,
    );
    let mut o = SigAction::default();
    // SAFETY: the wrong size is refused before anything is read or written.
    let r = unsafe {
        syscall4(
            nr::RT_SIGACTION,
            SIGUSR2 as usize,
            0,
            &mut o as *mut SigAction as usize,
            4,
        )
    };
    check::err("  sigsetsize 4", r, EINVAL);
    // SAFETY: 0x10 is never mapped; the kernel must not read or write there.
    let r = unsafe { syscall4(nr::RT_SIGACTION, SIGUSR2 as usize, 0x10, 0, 8) };
    check::err("  new action at 0x10", r, EFAULT);
    // SAFETY: as above.
    let r = unsafe { syscall4(nr::RT_SIGACTION, SIGUSR2 as usize, 0, 0x10, 8) };
    check::err("  old action to 0x10", r, EFAULT);

    println!("sending to ourselves:");
    COUNT.store(0, Ordering::Relaxed);
    check::ret("  kill(getpid(), SIGUSR1)", sys::kill(me, SIGUSR1), 0);
    check::eq(
        "  handler runs before kill returns",
        COUNT.load(Ordering::Relaxed),
        1,
    );
    check::eq(
        "  si_code (SI_USER)",
        LAST_CODE.load(Ordering::Relaxed),
        signal::SI_USER,
    );
    check::yes("  si_pid is ours", LAST_PID.load(Ordering::Relaxed) == me);
    check::yes(
        "  si_uid is ours",
        LAST_UID.load(Ordering::Relaxed) == uid(),
    );
    check::yes(
        "  in the handler, its mask and the signal are blocked",
        MASK_IN_HANDLER.load(Ordering::Relaxed) == bit(SIGUSR1) | bit(SIGUSR2),
    );
    check::eq("  after it, the mask is back", signal::mask(), 0);
    check::ret(
        "  tgkill(getpid(), gettid(), SIGUSR1)",
        sys::tgkill(me, sys::gettid(), SIGUSR1),
        0,
    );
    check::eq(
        "  si_code (SI_TKILL)",
        LAST_CODE.load(Ordering::Relaxed),
        signal::SI_TKILL,
    );
    check::ret(
        "  tkill(gettid(), SIGUSR1)",
        sys::tkill(sys::gettid(), SIGUSR1),
        0,
    );
    check::eq(
        "  si_code (SI_TKILL)",
        LAST_CODE.load(Ordering::Relaxed),
        signal::SI_TKILL,
    );
    check::eq("  handler runs", COUNT.load(Ordering::Relaxed), 3);
    check::ret("  kill(getpid(), 0)", sys::kill(me, 0), 0);
    check::err("  kill(getpid(), 65)", sys::kill(me, 65), EINVAL);
    check::err("  kill(0x3fffffff, 0)", sys::kill(0x3fff_ffff, 0), ESRCH);
    check::err(
        "  tgkill(getpid(), 0, SIGUSR1)",
        sys::tgkill(me, 0, SIGUSR1),
        EINVAL,
    );
    check::err(
        "  tgkill(getpid(), 0x3fffffff, SIGUSR1)",
        sys::tgkill(me, 0x3fff_ffff, SIGUSR1),
        ESRCH,
    );
    check::err("  tkill(0, SIGUSR1)", sys::tkill(0, SIGUSR1), EINVAL);

    println!("blocking:");
    COUNT.store(0, Ordering::Relaxed);
    check::ret("  block SIGUSR1", signal::block(bit(SIGUSR1)), 0);
    sys::raise(SIGUSR1);
    sys::raise(SIGUSR1);
    check::eq(
        "  raised twice while blocked: handler runs",
        COUNT.load(Ordering::Relaxed),
        0,
    );
    check::yes("  it is pending", signal::pending() == bit(SIGUSR1));
    signal::unblock(bit(SIGUSR1));
    check::eq(
        "  unblocked: standard signals coalesce, handler runs",
        COUNT.load(Ordering::Relaxed),
        1,
    );
    check::eq("  pending afterwards", signal::pending(), 0);
    signal::handle(SIGRT_A, record, 0, 0);
    signal::block(bit(SIGRT_A));
    for _ in 0..3 {
        sys::raise(SIGRT_A);
    }
    COUNT.store(0, Ordering::Relaxed);
    signal::unblock(bit(SIGRT_A));
    check::eq(
        "  a real-time signal raised 3 times while blocked: handler runs",
        COUNT.load(Ordering::Relaxed),
        3,
    );

    // Several pending signals, each handler blocking the others: run lowest first, one by one.
    let all = bit(SIGUSR1) | bit(SIGUSR2) | bit(SIGRT_A) | bit(SIGRT_B);
    for sig in [SIGUSR1, SIGUSR2, SIGRT_A, SIGRT_B] {
        signal::handle(sig, record, 0, all);
    }
    signal::block(all);
    for sig in [SIGRT_B, SIGUSR2, SIGRT_A, SIGUSR1] {
        sys::raise(sig);
    }
    clear_events();
    signal::unblock(all);
    check::shows(
        "  four pending, handlers mask each other: order",
        Events,
        "10 12 40 41",
    );
    // Without masking each other every pending signal is delivered at once, each frame on top of
    // the last: the highest-numbered handler runs first.
    for sig in [SIGUSR1, SIGUSR2, SIGRT_A, SIGRT_B] {
        signal::handle(sig, record, 0, 0);
    }
    signal::block(all);
    for sig in [SIGRT_B, SIGUSR2, SIGRT_A, SIGUSR1] {
        sys::raise(sig);
    }
    clear_events();
    signal::unblock(all);
    check::shows(
        "  four pending, unmasked handlers: order",
        Events,
        "41 40 12 10",
    );

    println!("rt_sigprocmask:");
    signal::set_mask(u64::MAX);
    let m = signal::mask();
    check::yes(
        "  block everything: SIGKILL and SIGSTOP stay unblocked",
        m & (bit(SIGKILL) | bit(SIGSTOP)) == 0,
    );
    // (Signals 1..=60: QEMU's user mode cannot represent the last few real-time signals.)
    let low = (1u64 << 60) - 1;
    check::yes(
        "  every other signal is blocked",
        m & low == low & !bit(SIGKILL) & !bit(SIGSTOP),
    );
    signal::set_mask(0);
    check::err("  how = 3", signal::sigprocmask(3, Some(&0), None), EINVAL);
    // SAFETY: 0x10 is never mapped; the kernel must not read there.
    check::err(
        "  set at 0x10",
        unsafe { syscall4(nr::RT_SIGPROCMASK, signal::SIG_BLOCK, 0x10, 0, 8) },
        EFAULT,
    );
    // SAFETY: the wrong size is refused first.
    check::err(
        "  sigsetsize 4",
        unsafe { syscall4(nr::RT_SIGPROCMASK, signal::SIG_BLOCK, 0, 0, 4) },
        EINVAL,
    );
    // SAFETY: 0x10 is never mapped.
    check::err(
        "  rt_sigpending to 0x10",
        unsafe { syscall2(nr::RT_SIGPENDING, 0x10, 8) },
        EFAULT,
    );

    println!("SA_NODEFER and SA_RESETHAND:");
    signal::handle(SIGUSR2, nesting, 0, 0);
    NEST.store(0, Ordering::Relaxed);
    clear_events();
    sys::raise(SIGUSR2);
    check::shows(
        "  without SA_NODEFER, a raise inside the handler waits",
        Events,
        "12 112 12 112",
    );
    signal::handle(SIGUSR2, nesting, SA_NODEFER, 0);
    NEST.store(0, Ordering::Relaxed);
    clear_events();
    sys::raise(SIGUSR2);
    check::shows("  with SA_NODEFER it nests", Events, "12 12 112 112");
    signal::handle(signal::SIGURG, record, SA_RESETHAND, 0);
    COUNT.store(0, Ordering::Relaxed);
    sys::raise(signal::SIGURG);
    check::eq(
        "  SA_RESETHAND: handler ran",
        COUNT.load(Ordering::Relaxed),
        1,
    );
    check::yes(
        "  then the action is SIG_DFL",
        signal::current(signal::SIGURG).is_ok_and(|a| a.handler == SIG_DFL),
    );
    sys::raise(signal::SIGURG);
    check::eq(
        "  and SIGURG's default (ignore) applies",
        COUNT.load(Ordering::Relaxed),
        1,
    );

    println!("ignored signals:");
    signal::disposition(SIGUSR2, SIG_IGN);
    sys::raise(SIGUSR2);
    check::eq("  an ignored signal is discarded", signal::pending(), 0);
    signal::block(bit(SIGUSR2));
    sys::raise(SIGUSR2);
    check::yes(
        "  unless blocked: then it is pending",
        signal::pending() == bit(SIGUSR2),
    );
    signal::disposition(SIGUSR2, SIG_IGN);
    check::eq("  setting SIG_IGN discards it", signal::pending(), 0);
    signal::disposition(signal::SIGWINCH, SIG_DFL);
    sys::raise(signal::SIGWINCH);
    check::eq(
        "  SIGWINCH by default is ignored",
        signal::pending() & bit(signal::SIGWINCH),
        0,
    );
    signal::set_mask(0);

    println!("rt_sigtimedwait:");
    signal::handle(SIGUSR1, record, 0, 0);
    signal::block(bit(SIGUSR1) | bit(SIGRT_A));
    COUNT.store(0, Ordering::Relaxed);
    sys::kill(me, SIGUSR1);
    let mut info = SigInfo::default();
    let set = bit(SIGUSR1);
    // (A timeout, so that a kernel that lost the signal fails the check instead of hanging.)
    let patience = Timespec::from_ns(10_000_000_000);
    check::ret(
        "  takes a pending SIGUSR1",
        signal::sigtimedwait(&set, Some(&mut info), Some(&patience)),
        SIGUSR1 as isize,
    );
    check::eq("  si_signo", info.signo(), SIGUSR1);
    check::eq("  si_code (SI_USER)", info.code(), signal::SI_USER);
    check::yes("  si_pid is ours", info.pid() == me);
    check::eq("  no handler ran", COUNT.load(Ordering::Relaxed), 0);
    check::eq("  nothing pending", signal::pending(), 0);
    sys::raise(SIGRT_A);
    sys::raise(SIGRT_A);
    let zero = Timespec::default();
    let rt_set = bit(SIGRT_A);
    check::ret(
        "  a queued real-time signal, first",
        signal::sigtimedwait(&rt_set, None, Some(&zero)),
        SIGRT_A as isize,
    );
    check::ret(
        "  and second",
        signal::sigtimedwait(&rt_set, None, Some(&zero)),
        SIGRT_A as isize,
    );
    check::err(
        "  then none (zero timeout)",
        signal::sigtimedwait(&rt_set, None, Some(&zero)),
        EAGAIN,
    );
    let t = Timespec::from_ns(10_000_000);
    let before = sys::monotonic_ns();
    check::err(
        "  10 ms timeout",
        signal::sigtimedwait(&set, None, Some(&t)),
        EAGAIN,
    );
    check::yes(
        "  at least 10 ms passed",
        sys::monotonic_ns() - before >= 10_000_000,
    );
    let bad = Timespec {
        sec: 0,
        nsec: 1_000_000_000,
    };
    check::err(
        "  tv_nsec = 1e9",
        signal::sigtimedwait(&set, None, Some(&bad)),
        EINVAL,
    );

    println!("rt_sigsuspend:");
    sys::raise(SIGUSR1);
    // Only suspend if the signal really is pending: otherwise nothing would ever wake us.
    if !check::yes(
        "  SIGUSR1 raised while blocked is pending",
        signal::pending() & bit(SIGUSR1) != 0,
    ) {
        return check::finish("signals");
    }
    check::err(
        "  suspending with it unblocked",
        signal::sigsuspend(&bit(SIGUSR2)),
        EINTR,
    );
    check::eq("  handler ran", COUNT.load(Ordering::Relaxed), 1);
    check::yes(
        "  with the suspend mask plus SIGUSR1",
        MASK_IN_HANDLER.load(Ordering::Relaxed) == bit(SIGUSR2) | bit(SIGUSR1),
    );
    check::yes(
        "  the old mask is back",
        signal::mask() == bit(SIGUSR1) | bit(SIGRT_A),
    );
    signal::set_mask(0);

    #[cfg(target_arch = "aarch64")]
    {
        println!("without SA_RESTORER:");
        let act = SigAction {
            handler: plain as *const () as usize,
            ..SigAction::default()
        };
        signal::sigaction(SIGUSR2, Some(&act), None);
        clear_events();
        sys::raise(SIGUSR2);
        check::shows("  the handler ran and returned", Events, "12");
    }
    check::finish("signals")
}
