//! Conformance: the thread pointer. x86_64: `arch_prctl` ARCH_SET_FS/GET_FS/SET_GS/GET_GS, and
//! `%fs:`/`%gs:`-relative loads seeing the block set (so the base is really loaded, not just
//! stored), EINVAL/EFAULT/EPERM for bad codes, pointers and non-canonical bases. AArch64:
//! TPIDR_EL0 written by the program itself. On both: it starts at 0, survives system calls,
//! signal handlers, 200 ms of spinning (preemption) and `fork`; each thread made with
//! CLONE_SETTLS has its own, checked while the threads run interleaved.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicUsize, Ordering};

use rt::check;
use rt::signal::{self, SIGUSR1, SigInfo};
use rt::sys::{self, Status};
use rt::thread;

rt::main!(main);

/// A TLS block: its first word points to itself (the x86_64 ABI), the second is a marker.
#[repr(C, align(64))]
struct Block {
    self_ptr: usize,
    marker: usize,
}

static SEEN_IN_HANDLER: AtomicUsize = AtomicUsize::new(0);
static THREAD_OK: AtomicUsize = AtomicUsize::new(0);

#[cfg(target_arch = "x86_64")]
mod tp {
    use rt::syscall::{nr, syscall2};

    pub const ARCH_SET_GS: usize = 0x1001;
    pub const ARCH_SET_FS: usize = 0x1002;
    pub const ARCH_GET_FS: usize = 0x1003;
    pub const ARCH_GET_GS: usize = 0x1004;

    pub fn arch_prctl(code: usize, arg: usize) -> isize {
        // SAFETY: the SET codes change only this thread's segment bases, which this program
        // uses for nothing else; the GET codes write one word at `arg`.
        unsafe { syscall2(nr::ARCH_PRCTL, code, arg) }
    }

    /// The FS base, through arch_prctl.
    pub fn get() -> usize {
        let mut v = 0usize;
        arch_prctl(ARCH_GET_FS, &mut v as *mut usize as usize);
        v
    }

    pub fn set(v: usize) -> isize {
        arch_prctl(ARCH_SET_FS, v)
    }

    /// The marker word of the block FS points at, read through the segment (%fs:8).
    pub fn marker() -> usize {
        let v: usize;
        // SAFETY: only called after FS was set to a live Block.
        unsafe {
            core::arch::asm!("mov {}, fs:[8]", out(reg) v, options(nostack, readonly, preserves_flags))
        };
        v
    }
}

#[cfg(target_arch = "aarch64")]
mod tp {
    pub fn get() -> usize {
        let v: usize;
        // SAFETY: reading TPIDR_EL0 has no side effects.
        unsafe {
            core::arch::asm!("mrs {}, tpidr_el0", out(reg) v, options(nostack, nomem, preserves_flags))
        };
        v
    }

    pub fn set(v: usize) -> isize {
        // SAFETY: TPIDR_EL0 is this thread's own register, used for nothing else here.
        unsafe {
            core::arch::asm!("msr tpidr_el0, {}", in(reg) v, options(nostack, nomem, preserves_flags))
        };
        0
    }

    /// The marker word of the block TPIDR_EL0 points at.
    pub fn marker() -> usize {
        // SAFETY: only called after TPIDR_EL0 was set to a live Block.
        unsafe { *((get() + 8) as *const usize) }
    }
}

extern "C" fn handler(_sig: i32, _info: *mut SigInfo, _uc: *mut u8) {
    SEEN_IN_HANDLER.store(tp::marker(), Ordering::Relaxed);
}

/// Each thread checks, many times while the others run, that its thread pointer is its own
/// control block (rt::thread makes its TLS pointer point there) and the marker is its index.
extern "C" fn worker(i: usize) -> i32 {
    let own = tp::get();
    // SAFETY: the thread pointer is our live control block, which starts with its own address.
    let self_ok = unsafe { *(own as *const usize) } == own;
    let mut ok = self_ok;
    for round in 0..2000 {
        ok &= tp::get() == own && thread::tls_pointer() == own;
        if round % 100 == 0 {
            sys::sched_yield();
        }
    }
    if ok {
        THREAD_OK.fetch_or(1 << i, Ordering::Relaxed);
    }
    0
}

fn main(_env: &rt::Env) -> i32 {
    check::eq("the thread pointer starts at 0", tp::get(), 0);
    let mut block = Block {
        self_ptr: 0,
        marker: 0x5eed,
    };
    let addr = &block as *const Block as usize;
    block.self_ptr = addr;
    // The block is only read through the thread pointer from now on.
    core::hint::black_box(&mut block);
    check::ret("set it to a block", tp::set(addr), 0);
    check::yes("  reads back", tp::get() == addr);
    check::shows(
        "  loads through it see the block",
        format_args!("{:#x}", tp::marker()),
        "0x5eed",
    );
    for _ in 0..100 {
        sys::getpid();
        sys::sched_yield();
    }
    check::yes(
        "  kept across 200 system calls",
        tp::get() == addr && tp::marker() == 0x5eed,
    );
    signal::handle(SIGUSR1, handler, 0, 0);
    sys::raise(SIGUSR1);
    check::shows(
        "  a signal handler sees it",
        format_args!("{:#x}", SEEN_IN_HANDLER.load(Ordering::Relaxed)),
        "0x5eed",
    );
    check::yes("  kept after the handler", tp::get() == addr);
    sys::spin_ms(200);
    check::yes(
        "  kept across 200 ms of spinning",
        tp::get() == addr && tp::marker() == 0x5eed,
    );
    let child = sys::fork();
    if child == 0 {
        rt::exit(if tp::get() == addr && tp::marker() == 0x5eed {
            0
        } else {
            1
        });
    }
    check::shows(
        "  a forked child inherits it",
        Status(sys::wait_for(child as i32)),
        "exited 0",
    );

    let mut threads: [Option<thread::Thread>; 3] = [const { None }; 3];
    for (i, t) in threads.iter_mut().enumerate() {
        match thread::spawn(worker, i) {
            Ok(th) => *t = Some(th),
            Err(e) => check::fail("clone(thread)", rt::errno::Ret(e)),
        }
    }
    for t in threads.into_iter().flatten() {
        t.join();
    }
    check::eq(
        "threads that kept their own thread pointer (CLONE_SETTLS)",
        THREAD_OK.load(Ordering::Relaxed).count_ones(),
        3,
    );
    check::yes("the main thread's is unchanged", tp::get() == addr);

    #[cfg(target_arch = "x86_64")]
    {
        use rt::errno::{EFAULT, EINVAL, EPERM};
        let gs_block = Block {
            self_ptr: 0,
            marker: 0x6a5,
        };
        let g = &gs_block as *const Block as usize;
        check::ret(
            "arch_prctl(ARCH_SET_GS)",
            tp::arch_prctl(tp::ARCH_SET_GS, g),
            0,
        );
        let mut v = 0usize;
        tp::arch_prctl(tp::ARCH_GET_GS, &mut v as *mut usize as usize);
        check::yes("  ARCH_GET_GS reads it back", v == g);
        let m: usize;
        // SAFETY: GS points at gs_block, which is live.
        unsafe {
            core::arch::asm!("mov {}, gs:[8]", out(reg) m, options(nostack, readonly, preserves_flags))
        };
        check::shows(
            "  loads through %gs see the block",
            format_args!("{m:#x}"),
            "0x6a5",
        );
        tp::arch_prctl(tp::ARCH_SET_GS, 0);
        check::err("arch_prctl(code 0x9999)", tp::arch_prctl(0x9999, 0), EINVAL);
        check::err(
            "arch_prctl(ARCH_GET_FS, 0x10)",
            tp::arch_prctl(tp::ARCH_GET_FS, 0x10),
            EFAULT,
        );
        check::err(
            "arch_prctl(ARCH_SET_FS, non-canonical)",
            tp::arch_prctl(tp::ARCH_SET_FS, 1 << 63),
            EPERM,
        );
        check::yes("  FS unchanged by the failures", tp::get() == addr);
    }
    // Back to 0 before the block goes away.
    tp::set(0);
    check::finish("tls")
}
