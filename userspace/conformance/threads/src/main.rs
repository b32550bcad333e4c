//! Conformance: threads made with raw `clone` and the flags pthread_create uses (CLONE_VM|FS|
//! FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_SETTID|CHILD_CLEARTID). Each thread
//! checks its tid (as the kernel wrote it through CHILD_SETTID), its pid (the process's) and its
//! TLS pointer, then hammers a futex-based mutex; the main thread joins each one by waiting for
//! the kernel to clear its tid word (CHILD_CLEARTID wakes a shared futex waiter) and checks the
//! PARENT_SETTID word and the final count. Also: `exit` ends one thread only, `exit_group` from
//! a thread ends the whole process, `set_tid_address`, `set_robust_list`, and clone's flag
//! validation (EINVAL).
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use rt::check;
use rt::errno::EINVAL;
use rt::println;
use rt::sync::Mutex;
use rt::sys::{self, Status};
use rt::syscall::{nr, syscall1, syscall5};
use rt::thread;

rt::main!(main);

const THREADS: usize = 4;
const ROUNDS: usize = 20_000;

static LOCK: Mutex = Mutex::new();
/// Guarded by LOCK; deliberately not atomic read-modify-write, so lost updates would show.
static COUNTER: AtomicUsize = AtomicUsize::new(0);
static PID: AtomicU32 = AtomicU32::new(0);
/// Bit i set: thread i found its tid, pid and TLS pointer right.
static IDENTITY_OK: AtomicU32 = AtomicU32::new(0);

extern "C" fn worker(i: usize) -> i32 {
    // The thread's TLS pointer is its control block (see rt::thread), whose ctid word the
    // kernel set to our tid (CLONE_CHILD_SETTID) before we ran.
    let tls = thread::tls_pointer();
    // SAFETY: tls is this thread's live control block, set by CLONE_SETTLS.
    let ctl = unsafe { &*(tls as *const thread::Control) };
    let tid = sys::gettid();
    let ok = ctl.tls_self == tls
        && ctl.ctid.load(Ordering::Acquire) == tid as u32
        && sys::getpid() as u32 == PID.load(Ordering::Relaxed)
        && tid as u32 != PID.load(Ordering::Relaxed);
    if ok {
        IDENTITY_OK.fetch_or(1 << i, Ordering::Relaxed);
    }
    for _ in 0..ROUNDS {
        LOCK.lock();
        let v = COUNTER.load(Ordering::Relaxed);
        // Widen the race window a little: other threads run while the lock is held.
        core::hint::spin_loop();
        COUNTER.store(v + 1, Ordering::Relaxed);
        LOCK.unlock();
    }
    i as i32
}

extern "C" fn exit_group_from_thread(_: usize) -> i32 {
    // SAFETY: exit_group ends the whole process (the forked child) with status 5.
    unsafe { syscall1(nr::EXIT_GROUP, 5) };
    1
}

extern "C" fn just_exit(_: usize) -> i32 {
    0
}

fn main(_env: &rt::Env) -> i32 {
    PID.store(sys::getpid() as u32, Ordering::Relaxed);
    // exit_group from a second thread ends the whole (forked) process; its main thread was
    // blocked in a futex wait forever. (First, before this process has had threads: QEMU's user
    // mode, the AArch64 reference, sometimes hangs forking a process whose threads have exited.)
    let child = sys::fork();
    if child == 0 {
        let _ = thread::spawn(exit_group_from_thread, 0);
        let forever = AtomicU32::new(0);
        loop {
            sys::futex_wait(&forever, 0, None);
        }
    }
    check::shows(
        "exit_group(5) from a thread of a child",
        Status(sys::wait_for(child as i32)),
        "exited 5",
    );

    check::yes(
        "main thread: gettid == getpid",
        sys::gettid() == sys::getpid(),
    );
    let word = AtomicU32::new(7);
    // SAFETY: set_tid_address only records the pointer (used at our exit), returns our tid.
    let r = unsafe { syscall1(nr::SET_TID_ADDRESS, word.as_ptr() as usize) };
    check::yes(
        "set_tid_address returns the tid",
        r == sys::gettid() as isize,
    );
    // Point it back at nothing, so exit writes nowhere in our (stack) memory.
    // SAFETY: a null pointer disables the clear.
    unsafe { syscall1(nr::SET_TID_ADDRESS, 0) };
    // set_robust_list is checked on x86_64 only: QEMU's user mode (the AArch64 Linux
    // reference here) does not implement it, and the kernel code is the same on both arches.
    #[cfg(target_arch = "x86_64")]
    robust_list();

    let mut threads: [Option<thread::Thread>; THREADS] = [const { None }; THREADS];
    for (i, t) in threads.iter_mut().enumerate() {
        match thread::spawn(worker, i) {
            Ok(th) => *t = Some(th),
            Err(e) => check::fail("clone(thread)", rt::errno::Ret(e)),
        }
    }
    let mut ptid_ok = true;
    for t in threads.iter_mut() {
        if let Some(th) = t.take() {
            ptid_ok &= th.control().ptid.load(Ordering::Acquire) == th.tid as u32;
            th.join();
        }
    }
    println!("{THREADS} threads x {ROUNDS} locked increments");
    check::yes("PARENT_SETTID wrote each thread's tid", ptid_ok);
    check::eq(
        "threads that saw their own tid, pid and TLS",
        IDENTITY_OK.load(Ordering::Relaxed).count_ones(),
        THREADS as u32,
    );
    check::eq("counter", COUNTER.load(Ordering::Relaxed), THREADS * ROUNDS);

    // A thread that returns leaves with `exit`; the process carries on and its ctid is cleared.
    match thread::spawn(just_exit, 0) {
        Ok(th) => th.join(),
        Err(e) => check::fail("clone(thread)", rt::errno::Ret(e)),
    }
    check::yes("a returning thread was joined; the process goes on", true);

    // Flag validation (the calls fail before creating anything).
    let bad = [
        (
            "clone(CLONE_THREAD|CLONE_VM) without CLONE_SIGHAND",
            sys::CLONE_THREAD | sys::CLONE_VM,
        ),
        ("clone(CLONE_SIGHAND) without CLONE_VM", sys::CLONE_SIGHAND),
    ];
    for (label, flags) in bad {
        // SAFETY: the kernel refuses these flag combinations, so no child is made.
        let r = unsafe { syscall5(nr::CLONE, flags, 0, 0, 0, 0) };
        check::err(label, r, EINVAL);
    }
    check::finish("threads")
}

#[cfg(target_arch = "x86_64")]
fn robust_list() {
    // A robust list head (next, futex offset, pending); an empty list points to itself.
    let mut head = [0usize; 3];
    head[0] = head.as_ptr() as usize;
    // SAFETY: the kernel only records the pointer (it walks the list at thread exit, and we
    // unregister below before the stack array goes away).
    let r = unsafe { rt::syscall::syscall2(nr::SET_ROBUST_LIST, head.as_ptr() as usize, 24) };
    check::ret("set_robust_list(head, 24)", r, 0);
    // SAFETY: as above; the wrong size is refused before anything is recorded.
    let r = unsafe { rt::syscall::syscall2(nr::SET_ROBUST_LIST, head.as_ptr() as usize, 23) };
    check::err("set_robust_list(head, 23)", r, EINVAL);
    // SAFETY: unregisters (a null head), so the kernel never reads the stack array later.
    unsafe { rt::syscall::syscall2(nr::SET_ROBUST_LIST, 0, 24) };
}
