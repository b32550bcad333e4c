//! Conformance: faults become signals that handlers catch, with the exact siginfo and the saved
//! context in Linux's `ucontext` layout, which the handlers read and edit:
//! - a load from a PROT_NONE page: SIGSEGV/SEGV_ACCERR, si_addr the byte, the saved pc the
//!   instruction, sp and a marked register as they were; the handler `mprotect`s the page and
//!   returns, and the load is retried and succeeds;
//! - a store to a read-only page: the handler moves the saved pc past the store and sets the
//!   result register, which the program then sees (x86_64 also reports trap 14 and a write
//!   error code);
//! - an access to an unmapped page: SEGV_MAPERR; a jump into a non-executable page: si_addr and
//!   pc are the page;
//! - an undefined instruction: SIGILL, si_addr the instruction; the handler skips it by
//!   advancing the saved pc by its length (2 for `ud2`, 4 for `udf`);
//! - x86_64 divide by zero: SIGFPE/FPE_INTDIV; AArch64 a branch to a misaligned pc:
//!   SIGBUS/BUS_ADRALN;
//! - the FP/SIMD state: a vector register and the rounding mode are saved in the frame, and a
//!   vector register the handler rewrites is what the program has after sigreturn;
//! - the handler runs with the signal blocked, the frame's mask is the interrupted one, and it
//!   runs below the interrupted stack (past the x86_64 red zone);
//! - a fault while its signal is blocked kills the process (Linux forces the default action).
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use rt::check;
use rt::println;
use rt::signal::{self, SIGBUS, SIGFPE, SIGILL, SIGSEGV, SIGUSR2, SigInfo, context};
use rt::sys::{self, PAGE, PROT_NONE, PROT_READ, PROT_WRITE, Status};

rt::main!(main);

const MAGIC: u64 = 0x1122_3344_5566_7788;
const PATTERN: u128 = 0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10;
const REWRITTEN: u128 = 0xa0a1_a2a3_a4a5_a6a7_a8a9_aaab_acad_aeaf;

/// What the handler does with the fault.
const FIX_PROTECTION: usize = 0;
const REDIRECT: usize = 1;
const SKIP: usize = 2;

static MODE: AtomicUsize = AtomicUsize::new(0);
/// The page the FIX_PROTECTION handler makes readable again.
static PAGE_ADDR: AtomicUsize = AtomicUsize::new(0);
/// Set by the asm before each fault: the faulting instruction, where to resume, sp.
static FAULT_PC: AtomicUsize = AtomicUsize::new(0);
static RESUME: AtomicUsize = AtomicUsize::new(0);
static FAULT_SP: AtomicUsize = AtomicUsize::new(0);

/// What the handler saw.
static SIG: AtomicUsize = AtomicUsize::new(0);
static CODE: AtomicUsize = AtomicUsize::new(0);
static ADDR: AtomicUsize = AtomicUsize::new(0);
static CTX_PC: AtomicUsize = AtomicUsize::new(0);
static CTX_SP: AtomicUsize = AtomicUsize::new(0);
static CTX_FAULT_ADDRESS: AtomicUsize = AtomicUsize::new(0);
static CTX_MAGIC: AtomicU64 = AtomicU64::new(0);
static CTX_VREG_OK: AtomicUsize = AtomicUsize::new(0);
static CTX_FP_CONTROL: AtomicUsize = AtomicUsize::new(0);
static CTX_MASK: AtomicU64 = AtomicU64::new(0);
static LIVE_MASK: AtomicU64 = AtomicU64::new(0);
static HANDLER_LOCAL: AtomicUsize = AtomicUsize::new(0);
#[cfg(target_arch = "x86_64")]
static CTX_TRAP_ERR: AtomicU64 = AtomicU64::new(0);

/// The register the marker goes in and the result comes back in.
#[cfg(target_arch = "x86_64")]
const MARK_REG: usize = context::reg::R13;
#[cfg(target_arch = "aarch64")]
const MARK_REG: usize = 20;
#[cfg(target_arch = "x86_64")]
const RESULT_REG: usize = context::reg::RAX;
#[cfg(target_arch = "aarch64")]
const RESULT_REG: usize = 0;
/// The length of the undefined instruction the SKIP handler steps over.
#[cfg(target_arch = "x86_64")]
const UD_LEN: usize = 2;
#[cfg(target_arch = "aarch64")]
const UD_LEN: usize = 4;

extern "C" fn on_fault(sig: i32, info: *mut SigInfo, uc: *mut u8) {
    let local = 0u8;
    HANDLER_LOCAL.store(
        core::hint::black_box(&local) as *const u8 as usize,
        Ordering::Relaxed,
    );
    // SAFETY: the kernel passes a valid siginfo and ucontext to an SA_SIGINFO handler.
    let info = unsafe { &*info };
    SIG.store(sig as usize, Ordering::Relaxed);
    CODE.store(info.code() as usize, Ordering::Relaxed);
    ADDR.store(info.addr(), Ordering::Relaxed);
    LIVE_MASK.store(signal::mask(), Ordering::Relaxed);
    // SAFETY: uc is this handler's ucontext; the edits below are to its saved pc/registers,
    // pointing the thread at code that expects them (the asm's resume labels).
    unsafe {
        let pc = context::pc(uc);
        CTX_PC.store(pc, Ordering::Relaxed);
        CTX_SP.store(context::sp(uc), Ordering::Relaxed);
        CTX_FAULT_ADDRESS.store(context::fault_address(uc), Ordering::Relaxed);
        CTX_MAGIC.store(context::gpr(uc, MARK_REG), Ordering::Relaxed);
        CTX_MASK.store(context::sigmask(uc), Ordering::Relaxed);
        CTX_FP_CONTROL.store(
            context::fp_control(uc).map_or(usize::MAX, |c| c as usize),
            Ordering::Relaxed,
        );
        #[cfg(target_arch = "x86_64")]
        CTX_TRAP_ERR.store(
            (context::gpr(uc, context::reg::TRAPNO) << 32) | context::gpr(uc, 19),
            Ordering::Relaxed,
        );
        if let Some(v) = context::vreg_ptr(uc, 0) {
            CTX_VREG_OK.store((v.read_unaligned() == PATTERN) as usize, Ordering::Relaxed);
            v.write_unaligned(REWRITTEN);
        }
        match MODE.load(Ordering::Relaxed) {
            FIX_PROTECTION => {
                sys::mprotect(PAGE_ADDR.load(Ordering::Relaxed), PAGE, PROT_READ);
            }
            REDIRECT => {
                context::set_pc(uc, RESUME.load(Ordering::Relaxed));
                context::set_gpr(uc, RESULT_REG, 0x1234);
            }
            _ => context::set_pc(uc, pc + UD_LEN),
        }
    }
}

fn reset() {
    for s in [
        &SIG,
        &CODE,
        &ADDR,
        &CTX_PC,
        &CTX_SP,
        &CTX_FAULT_ADDRESS,
        &CTX_VREG_OK,
    ] {
        s.store(0, Ordering::Relaxed);
    }
    CTX_MAGIC.store(0, Ordering::Relaxed);
}

/// A load at `addr` after marking a register, a vector register and the rounding mode; the
/// handler either fixes the page (the load then completes) or redirects to the resume label
/// with the result register set. Returns (loaded or handler-set value, vector register after).
fn load(addr: usize) -> (u64, u128) {
    let out: u64;
    let mut v = PATTERN;
    // SAFETY: the load may fault; the handler then either makes the page readable (the load is
    // retried) or resumes at label 4 with the result register set. All registers the handler
    // may change are declared as outputs; the vector register is written back to `v`.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::asm!(
            "movdqu xmm0, [{v}]",
            "lea rcx, [rip + 3f]",
            "mov qword ptr [rip + {fpc}], rcx",
            "lea rcx, [rip + 4f]",
            "mov qword ptr [rip + {res}], rcx",
            "mov qword ptr [rip + {fsp}], rsp",
            "3:",
            "mov rax, qword ptr [rdi]",
            "4:",
            "movdqu [{v}], xmm0",
            v = in(reg) &mut v,
            fpc = sym FAULT_PC,
            res = sym RESUME,
            fsp = sym FAULT_SP,
            in("rdi") addr,
            inout("r13") MAGIC => _,
            out("rax") out,
            out("rcx") _,
            out("xmm0") _,
        );
    }
    // SAFETY: as above.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        core::arch::asm!(
            "ldr q0, [{v}]",
            "adr x9, 3f",
            "adrp x10, {fpc}",
            "str x9, [x10, :lo12:{fpc}]",
            "adr x9, 4f",
            "adrp x10, {res}",
            "str x9, [x10, :lo12:{res}]",
            "mov x9, sp",
            "adrp x10, {fsp}",
            "str x9, [x10, :lo12:{fsp}]",
            "3:",
            "ldr x0, [x11]",
            "4:",
            "str q0, [{v}]",
            v = in(reg) &mut v,
            fpc = sym FAULT_PC,
            res = sym RESUME,
            fsp = sym FAULT_SP,
            in("x11") addr,
            inout("x20") MAGIC => _,
            out("x0") out,
            out("x9") _,
            out("x10") _,
            out("v0") _,
        );
    }
    (out, v)
}

/// A store at `addr`; the REDIRECT handler resumes after it with the result register set.
fn store(addr: usize) -> u64 {
    let out: u64;
    // SAFETY: the store faults; the handler resumes at label 4 with rax/x0 set.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::asm!(
            "lea rcx, [rip + 3f]",
            "mov qword ptr [rip + {fpc}], rcx",
            "lea rcx, [rip + 4f]",
            "mov qword ptr [rip + {res}], rcx",
            "xor eax, eax",
            "3:",
            "mov byte ptr [rdi], 1",
            "4:",
            fpc = sym FAULT_PC,
            res = sym RESUME,
            in("rdi") addr,
            out("rax") out,
            out("rcx") _,
        );
    }
    // SAFETY: as above.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        core::arch::asm!(
            "adr x9, 3f",
            "adrp x10, {fpc}",
            "str x9, [x10, :lo12:{fpc}]",
            "adr x9, 4f",
            "adrp x10, {res}",
            "str x9, [x10, :lo12:{res}]",
            "mov x0, xzr",
            "3:",
            "strb w9, [x11]",
            "4:",
            fpc = sym FAULT_PC,
            res = sym RESUME,
            in("x11") addr,
            out("x0") out,
            out("x9") _,
            out("x10") _,
        );
    }
    out
}

/// Jumps to `addr` (a non-executable page); the REDIRECT handler resumes at label 4.
fn jump(addr: usize) -> u64 {
    let out: u64;
    // SAFETY: the jump faults at `addr`; the handler resumes at label 4 with rax/x0 set.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::asm!(
            "lea rcx, [rip + 4f]",
            "mov qword ptr [rip + {res}], rcx",
            "xor eax, eax",
            "jmp rdi",
            "4:",
            res = sym RESUME,
            in("rdi") addr,
            out("rax") out,
            out("rcx") _,
        );
    }
    // SAFETY: as above.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        core::arch::asm!(
            "adr x9, 4f",
            "adrp x10, {res}",
            "str x9, [x10, :lo12:{res}]",
            "mov x0, xzr",
            "br x11",
            "4:",
            res = sym RESUME,
            in("x11") addr,
            out("x0") out,
            out("x9") _,
            out("x10") _,
        );
    }
    out
}

/// An undefined instruction between `result = 0` and `result = 1`; the SKIP handler steps
/// over it, so the result is 1.
fn undefined() -> u64 {
    let out: u64;
    // SAFETY: the instruction traps; the handler advances the saved pc past it.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::asm!(
            "lea rcx, [rip + 3f]",
            "mov qword ptr [rip + {fpc}], rcx",
            "xor eax, eax",
            "3:",
            "ud2",
            "mov eax, 1",
            fpc = sym FAULT_PC,
            out("rax") out,
            out("rcx") _,
        );
    }
    // SAFETY: as above.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        core::arch::asm!(
            "adr x9, 3f",
            "adrp x10, {fpc}",
            "str x9, [x10, :lo12:{fpc}]",
            "mov x0, xzr",
            "3:",
            "udf #0",
            "mov x0, #1",
            fpc = sym FAULT_PC,
            out("x0") out,
            out("x9") _,
            out("x10") _,
        );
    }
    out
}

/// x86_64: divides by zero; AArch64: branches to a misaligned pc. The REDIRECT handler
/// resumes at label 4.
fn arith_or_alignment() -> u64 {
    let out: u64;
    // SAFETY: idiv by zero traps (#DE); the handler resumes at label 4 with rax set.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::asm!(
            "lea rcx, [rip + 3f]",
            "mov qword ptr [rip + {fpc}], rcx",
            "lea rcx, [rip + 4f]",
            "mov qword ptr [rip + {res}], rcx",
            "mov eax, 7",
            "xor edx, edx",
            "xor ecx, ecx",
            "3:",
            "idiv rcx",
            "4:",
            fpc = sym FAULT_PC,
            res = sym RESUME,
            out("rax") out,
            out("rcx") _,
            out("rdx") _,
        );
    }
    // SAFETY: the branch target is 2 bytes into an instruction: a PC alignment fault before
    // anything runs there; the handler resumes at label 4 with x0 set.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        core::arch::asm!(
            "adr x9, 3f",
            "add x9, x9, #2",
            "adrp x10, {fpc}",
            "str x9, [x10, :lo12:{fpc}]",
            "adr x11, 4f",
            "adrp x10, {res}",
            "str x11, [x10, :lo12:{res}]",
            "mov x0, xzr",
            "br x9",
            "3:",
            "nop",
            "4:",
            fpc = sym FAULT_PC,
            res = sym RESUME,
            out("x0") out,
            out("x9") _,
            out("x10") _,
            out("x11") _,
        );
    }
    out
}

fn report_common(expected_addr: usize) {
    check::yes(
        "  si_addr is the faulting address",
        ADDR.load(Ordering::Relaxed) == expected_addr,
    );
    check::yes(
        "  the saved pc is the faulting instruction",
        CTX_PC.load(Ordering::Relaxed) == FAULT_PC.load(Ordering::Relaxed),
    );
}

fn main(_env: &rt::Env) -> i32 {
    let flags = 0;
    for sig in [SIGSEGV, SIGILL, SIGFPE, SIGBUS] {
        check::ret(
            "sigaction(fault signal, SA_SIGINFO handler)",
            signal::handle(sig, on_fault, flags, 0),
            0,
        );
    }
    // Block SIGUSR2, so the frame's saved mask has something to show.
    signal::block(signal::bit(SIGUSR2));

    let page = sys::mmap_anon(PAGE, PROT_READ | PROT_WRITE);
    if page < 0 {
        check::fail("mmap", rt::errno::Ret(page));
        return check::finish("fault-signals");
    }
    let page = page as usize;
    // SAFETY: our page; it holds a known value, then becomes inaccessible.
    unsafe {
        (page as *mut u64).write_volatile(0x5a5a);
        sys::mprotect(page, PAGE, PROT_NONE);
    }

    println!("load from a PROT_NONE page:");
    reset();
    MODE.store(FIX_PROTECTION, Ordering::Relaxed);
    PAGE_ADDR.store(page, Ordering::Relaxed);
    let (value, v) = load(page + 8 * 3);
    check::eq("  signal", SIG.load(Ordering::Relaxed), SIGSEGV as usize);
    check::eq(
        "  si_code (SEGV_ACCERR)",
        CODE.load(Ordering::Relaxed),
        signal::SEGV_ACCERR as usize,
    );
    report_common(page + 24);
    check::yes(
        "  the context's fault address is it too",
        CTX_FAULT_ADDRESS.load(Ordering::Relaxed) == page + 24,
    );
    check::yes(
        "  the saved sp is the interrupted sp",
        CTX_SP.load(Ordering::Relaxed) == FAULT_SP.load(Ordering::Relaxed),
    );
    check::yes(
        "  the marked register was saved",
        CTX_MAGIC.load(Ordering::Relaxed) == MAGIC,
    );
    let red_zone = if cfg!(target_arch = "x86_64") { 128 } else { 0 };
    check::yes(
        "  the handler ran below the interrupted stack",
        HANDLER_LOCAL.load(Ordering::Relaxed) < CTX_SP.load(Ordering::Relaxed) - red_zone,
    );
    check::yes(
        "  the signal is blocked in its handler",
        LIVE_MASK.load(Ordering::Relaxed) & signal::bit(SIGSEGV) != 0,
    );
    check::yes(
        "  the frame holds the interrupted mask",
        CTX_MASK.load(Ordering::Relaxed) == signal::bit(SIGUSR2),
    );
    check::yes(
        "  the vector register was saved in the frame",
        CTX_VREG_OK.load(Ordering::Relaxed) == 1,
    );
    check::yes("  the handler's rewrite of it took effect", v == REWRITTEN);
    check::eq("  the retried load after the handler's mprotect", value, 0);

    println!("store to a read-only page:");
    reset();
    MODE.store(REDIRECT, Ordering::Relaxed);
    let r = store(page + 100);
    check::eq("  signal", SIG.load(Ordering::Relaxed), SIGSEGV as usize);
    check::eq(
        "  si_code (SEGV_ACCERR)",
        CODE.load(Ordering::Relaxed),
        signal::SEGV_ACCERR as usize,
    );
    report_common(page + 100);
    #[cfg(target_arch = "x86_64")]
    {
        let te = CTX_TRAP_ERR.load(Ordering::Relaxed);
        check::eq("  trapno (page fault)", te >> 32, 14);
        check::yes("  the error code says write, user, present", te & 7 == 7);
    }
    check::eq("  result register set by the handler", r, 0x1234);

    println!("access to an unmapped page:");
    reset();
    // SAFETY: our page, unmapped and not used again.
    unsafe { sys::munmap(page, PAGE) };
    let (r, _) = load(page + 8);
    check::eq("  signal", SIG.load(Ordering::Relaxed), SIGSEGV as usize);
    check::eq(
        "  si_code (SEGV_MAPERR)",
        CODE.load(Ordering::Relaxed),
        signal::SEGV_MAPERR as usize,
    );
    report_common(page + 8);
    check::eq("  result register set by the handler", r, 0x1234);

    println!("jump into a non-executable page:");
    reset();
    let data = sys::mmap_anon(PAGE, PROT_READ | PROT_WRITE);
    if data > 0 {
        let r = jump(data as usize);
        check::eq("  signal", SIG.load(Ordering::Relaxed), SIGSEGV as usize);
        check::eq(
            "  si_code (SEGV_ACCERR)",
            CODE.load(Ordering::Relaxed),
            signal::SEGV_ACCERR as usize,
        );
        check::yes(
            "  si_addr and the saved pc are the page",
            ADDR.load(Ordering::Relaxed) == data as usize
                && CTX_PC.load(Ordering::Relaxed) == data as usize,
        );
        check::eq("  result register set by the handler", r, 0x1234);
    }

    println!("undefined instruction:");
    reset();
    MODE.store(SKIP, Ordering::Relaxed);
    let r = undefined();
    check::eq("  signal", SIG.load(Ordering::Relaxed), SIGILL as usize);
    // x86_64 Linux reports ud2 as ILL_ILLOPN. (AArch64 Linux reports ILL_ILLOPC, but QEMU's
    // user mode, the AArch64 reference here, says ILL_ILLOPN, so it is not compared there.)
    #[cfg(target_arch = "x86_64")]
    check::eq("  si_code (ILL_ILLOPN)", CODE.load(Ordering::Relaxed), 2);
    report_common(FAULT_PC.load(Ordering::Relaxed));
    check::eq("  resumed after the skipped instruction", r, 1);

    reset();
    MODE.store(REDIRECT, Ordering::Relaxed);
    let r = arith_or_alignment();
    #[cfg(target_arch = "x86_64")]
    {
        println!("integer divide by zero:");
        check::eq("  signal", SIG.load(Ordering::Relaxed), SIGFPE as usize);
        check::eq("  si_code (FPE_INTDIV)", CODE.load(Ordering::Relaxed), 1);
    }
    #[cfg(target_arch = "aarch64")]
    {
        println!("branch to a misaligned pc:");
        check::eq("  signal", SIG.load(Ordering::Relaxed), SIGBUS as usize);
        check::eq("  si_code (BUS_ADRALN)", CODE.load(Ordering::Relaxed), 1);
    }
    report_common(FAULT_PC.load(Ordering::Relaxed));
    check::eq("  result register set by the handler", r, 0x1234);

    // A fault with its signal blocked: the handler cannot run, so the process dies.
    let child = sys::fork();
    if child == 0 {
        signal::block(signal::bit(SIGSEGV));
        // SAFETY: the store faults; the forced default action ends this child.
        unsafe { (0x10 as *mut u8).write_volatile(1) };
        rt::exit(0);
    }
    check::shows(
        "child faulting with SIGSEGV blocked",
        Status(sys::wait_for(child as i32)),
        "killed by 11",
    );
    check::finish("fault-signals")
}
