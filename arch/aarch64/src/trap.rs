//! Exceptions and user mode. `cyphera_run_user` saves the kernel's callee-saved registers in a
//! frame on the kernel stack, loads the user context and `eret`s. Every exception from EL0 lands
//! on that same stack (SP_EL1 is left pointing at the frame), stores the user registers into the
//! context whose pointer the frame holds, and returns from `cyphera_run_user` as if it were an
//! ordinary call, with the kind of exception as its result. The frame on the per-CPU kernel
//! stack is this CPU's "current user context" record. The FP/SIMD registers (which the
//! soft-float kernel never uses) are switched along with the general ones, so each context owns
//! its own. Exceptions taken from EL1 are kernel bugs: they are reported and end in a panic.
//!
//! Interrupts: the kernel runs with IRQs masked. They are taken only from user mode (then they
//! are acknowledged, dispatched to the handler a board routed with [`route_interrupt`], and
//! `run_user` returns `ReturnReason::Interrupt`), or polled by [`wait_for_interrupt`].

use crate::context::{self, Context};
use crate::fault::{self, SyncOutcome};
use hal::irq::{IrqController, IrqNumber};
use hal::user::ReturnReason;
use spin::{Mutex, Once};

/// Bytes of the run_user frame: x19..x30 (12 registers) + the context pointer + padding.
const FRAME_SIZE: usize = 112;
const FRAME_CONTEXT: usize = 96;

/// `cyphera_run_user` results: which vector user mode left through.
const KIND_SYNC: u64 = 0;
const KIND_IRQ: u64 = 1;
const KIND_FIQ: u64 = 2;
const KIND_SERROR: u64 = 3;

core::arch::global_asm!(
    r#"
    // The kernel is soft-float, but user FP/SIMD state is switched here.
    .arch_extension fp
    .arch_extension simd

    .macro el0_vector kind
    stp     x0, x1, [sp, #-16]!
    mov     x1, #\kind
    b       cyphera_el0_exit
    .endm

    // Kernel-mode exception: move to the emergency stack (the kernel stack may be what
    // overflowed), keeping x0 and the old sp in scratch system registers for the report.
    .macro el1_vector slot
    msr     tpidr_el1, x0
    mov     x0, sp
    msr     tpidrro_el0, x0
    adrp    x0, __emergency_stack_top
    add     x0, x0, :lo12:__emergency_stack_top
    mov     sp, x0
    mov     x0, #\slot
    b       cyphera_el1_entry
    .endm

    .section .text.vectors, "ax"
    .balign 2048
    .global cyphera_vectors
cyphera_vectors:
    // Current EL with SP_EL0: the kernel never runs on SP_EL0.
    .balign 0x80
    el1_vector 0
    .balign 0x80
    el1_vector 1
    .balign 0x80
    el1_vector 2
    .balign 0x80
    el1_vector 3
    // Current EL with SP_ELx: the kernel itself.
    .balign 0x80
    el1_vector 4
    .balign 0x80
    el1_vector 5
    .balign 0x80
    el1_vector 6
    .balign 0x80
    el1_vector 7
    // Lower EL, AArch64: user mode.
    .balign 0x80
    el0_vector {sync}
    .balign 0x80
    el0_vector {irq}
    .balign 0x80
    el0_vector {fiq}
    .balign 0x80
    el0_vector {serror}
    // Lower EL, AArch32: never entered (user PSTATE is always AArch64), so a kernel bug.
    .balign 0x80
    el1_vector 12
    .balign 0x80
    el1_vector 13
    .balign 0x80
    el1_vector 14
    .balign 0x80
    el1_vector 15

    .section .text, "ax"

// extern "C" fn cyphera_run_user(context: *mut Context) -> u64
    .global cyphera_run_user
cyphera_run_user:
    sub     sp, sp, #{frame}
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    str     x0, [sp, #{frame_ctx}]
    ldr     x1, [x0, #{off_sp}]
    msr     sp_el0, x1
    ldr     x1, [x0, #{off_pc}]
    msr     elr_el1, x1
    ldr     x1, [x0, #{off_pstate}]
    msr     spsr_el1, x1
    ldr     x1, [x0, #{off_tpidr}]
    msr     tpidr_el0, x1
    add     x1, x0, #{off_fp}
    ldp     q0, q1, [x1, #0]
    ldp     q2, q3, [x1, #32]
    ldp     q4, q5, [x1, #64]
    ldp     q6, q7, [x1, #96]
    ldp     q8, q9, [x1, #128]
    ldp     q10, q11, [x1, #160]
    ldp     q12, q13, [x1, #192]
    ldp     q14, q15, [x1, #224]
    ldp     q16, q17, [x1, #256]
    ldp     q18, q19, [x1, #288]
    ldp     q20, q21, [x1, #320]
    ldp     q22, q23, [x1, #352]
    ldp     q24, q25, [x1, #384]
    ldp     q26, q27, [x1, #416]
    ldp     q28, q29, [x1, #448]
    ldp     q30, q31, [x1, #480]
    ldr     x2, [x0, #{off_fpcr}]
    msr     fpcr, x2
    ldr     x2, [x0, #{off_fpsr}]
    msr     fpsr, x2
    ldp     x2, x3, [x0, #16]
    ldp     x4, x5, [x0, #32]
    ldp     x6, x7, [x0, #48]
    ldp     x8, x9, [x0, #64]
    ldp     x10, x11, [x0, #80]
    ldp     x12, x13, [x0, #96]
    ldp     x14, x15, [x0, #112]
    ldp     x16, x17, [x0, #128]
    ldp     x18, x19, [x0, #144]
    ldp     x20, x21, [x0, #160]
    ldp     x22, x23, [x0, #176]
    ldp     x24, x25, [x0, #192]
    ldp     x26, x27, [x0, #208]
    ldp     x28, x29, [x0, #224]
    ldr     x30, [x0, #240]
    ldp     x0, x1, [x0, #0]
    eret
    dsb     nsh                             // no speculation past eret
    isb

// From an EL0 vector: user x0/x1 pushed on the kernel stack, x1 = kind; below them is the
// run_user frame.
cyphera_el0_exit:
    ldr     x0, [sp, #(16 + {frame_ctx})]
    stp     x2, x3, [x0, #16]
    stp     x4, x5, [x0, #32]
    stp     x6, x7, [x0, #48]
    stp     x8, x9, [x0, #64]
    stp     x10, x11, [x0, #80]
    stp     x12, x13, [x0, #96]
    stp     x14, x15, [x0, #112]
    stp     x16, x17, [x0, #128]
    stp     x18, x19, [x0, #144]
    stp     x20, x21, [x0, #160]
    stp     x22, x23, [x0, #176]
    stp     x24, x25, [x0, #192]
    stp     x26, x27, [x0, #208]
    stp     x28, x29, [x0, #224]
    str     x30, [x0, #240]
    mov     x2, x1
    ldp     x3, x4, [sp], #16
    stp     x3, x4, [x0, #0]
    mrs     x3, sp_el0
    str     x3, [x0, #{off_sp}]
    mrs     x3, elr_el1
    str     x3, [x0, #{off_pc}]
    mrs     x3, spsr_el1
    str     x3, [x0, #{off_pstate}]
    mrs     x3, tpidr_el0
    str     x3, [x0, #{off_tpidr}]
    mrs     x3, esr_el1
    str     x3, [x0, #{off_esr}]
    mrs     x3, far_el1
    str     x3, [x0, #{off_far}]
    add     x3, x0, #{off_fp}
    stp     q0, q1, [x3, #0]
    stp     q2, q3, [x3, #32]
    stp     q4, q5, [x3, #64]
    stp     q6, q7, [x3, #96]
    stp     q8, q9, [x3, #128]
    stp     q10, q11, [x3, #160]
    stp     q12, q13, [x3, #192]
    stp     q14, q15, [x3, #224]
    stp     q16, q17, [x3, #256]
    stp     q18, q19, [x3, #288]
    stp     q20, q21, [x3, #320]
    stp     q22, q23, [x3, #352]
    stp     q24, q25, [x3, #384]
    stp     q26, q27, [x3, #416]
    stp     q28, q29, [x3, #448]
    stp     q30, q31, [x3, #480]
    mrs     x3, fpcr
    str     x3, [x0, #{off_fpcr}]
    mrs     x3, fpsr
    str     x3, [x0, #{off_fpsr}]
    mov     x0, x2
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    add     sp, sp, #{frame}
    ret

// Kernel-mode exception on the emergency stack: x0 = vector slot, the interrupted x0 in
// TPIDR_EL1 and sp in TPIDRRO_EL0. Builds an El1Frame and reports it.
cyphera_el1_entry:
    sub     sp, sp, #288
    str     x1, [sp, #8]
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    str     x30, [sp, #240]
    mrs     x1, tpidr_el1
    str     x1, [sp, #0]
    mrs     x1, tpidrro_el0
    str     x1, [sp, #248]
    mrs     x1, elr_el1
    str     x1, [sp, #256]
    mrs     x1, spsr_el1
    str     x1, [sp, #264]
    mrs     x1, esr_el1
    str     x1, [sp, #272]
    mrs     x1, far_el1
    str     x1, [sp, #280]
    mov     x1, sp
    mov     x29, xzr
    bl      cyphera_el1_exception
1:  wfe
    b       1b
"#,
    frame = const FRAME_SIZE,
    frame_ctx = const FRAME_CONTEXT,
    off_sp = const context::OFFSET_SP,
    off_pc = const context::OFFSET_PC,
    off_pstate = const context::OFFSET_PSTATE,
    off_tpidr = const context::OFFSET_TPIDR,
    off_esr = const context::OFFSET_ESR,
    off_far = const context::OFFSET_FAR,
    off_fp = const context::OFFSET_FP,
    off_fpcr = const context::OFFSET_FPCR,
    off_fpsr = const context::OFFSET_FPSR,
    sync = const KIND_SYNC,
    irq = const KIND_IRQ,
    fiq = const KIND_FIQ,
    serror = const KIND_SERROR,
);

unsafe extern "C" {
    fn cyphera_run_user(context: *mut Context) -> u64;
}

/// Registers of the kernel at an EL1 exception, as `cyphera_el1_entry` lays them out.
#[repr(C)]
struct El1Frame {
    x: [u64; 31],
    sp: u64,
    elr: u64,
    spsr: u64,
    esr: u64,
    far: u64,
}

const _: () = assert!(core::mem::size_of::<El1Frame>() == 288);

static IN_EL1_EXCEPTION: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

#[unsafe(no_mangle)]
extern "C" fn cyphera_el1_exception(slot: u64, frame: &El1Frame) -> ! {
    if IN_EL1_EXCEPTION.swap(true, core::sync::atomic::Ordering::Relaxed) {
        // Faulted again while reporting: nothing more can be said safely.
        crate::cpu::halt();
    }
    let what = match slot {
        0..=3 => "on SP_EL0",
        4 => "synchronous",
        5 => "IRQ",
        6 => "FIQ",
        7 => "SError",
        _ => "from AArch32 EL0",
    };
    kernel_core::kprintln!(
        "cyphera: kernel exception ({what}): ESR_EL1 {:#018x} (EC {:#x}) FAR_EL1 {:#018x} ELR_EL1 {:#018x} SPSR_EL1 {:#010x} SP {:#018x}",
        frame.esr,
        fault::exception_class(frame.esr),
        frame.far,
        frame.elr,
        frame.spsr,
        frame.sp
    );
    for (i, pair) in frame.x.chunks(4).enumerate() {
        let mut line = [0u64; 4];
        line[..pair.len()].copy_from_slice(pair);
        kernel_core::kprintln!(
            "  x{:<2} {:#018x} {:#018x} {:#018x} {:#018x}",
            i * 4,
            line[0],
            line[1],
            line[2],
            line[3]
        );
    }
    let cause = if slot == 4 {
        fault::explain_kernel_fault(
            frame.esr,
            frame.far,
            &crate::boot::kernel_stack_guards(),
            crate::USER_END,
            crate::paging::software_pan(),
        )
    } else {
        hal::protection::KernelFault::Other
    };
    if cause != hal::protection::KernelFault::Other {
        kernel_core::kprintln!("cyphera: kernel fault: {cause}");
    }
    panic!(
        "unhandled {what} exception in the kernel at {:#x} (ESR {:#x}, FAR {:#x})",
        frame.elr, frame.esr, frame.far
    );
}

static IRQ_CONTROLLER: Once<&'static dyn IrqController> = Once::new();

/// Wires the board's interrupt controller: interrupts taken while user code runs, or while the
/// kernel idles in [`wait_for_interrupt`], are acknowledged through it.
pub fn set_irq_controller(controller: &'static dyn IrqController) {
    IRQ_CONTROLLER.call_once(|| controller);
}

/// What a driver does when its interrupt arrives (called with interrupts masked, after the
/// controller acknowledged `irq` and before the end of interrupt is signalled).
pub type InterruptHandler = fn(irq: IrqNumber);

/// Interrupt sources one board can route (timer, UART, ...): a fixed table, since handlers
/// are installed at boot before the heap matters and looked up on every interrupt.
const MAX_HANDLERS: usize = 16;

static HANDLERS: Mutex<[Option<(IrqNumber, InterruptHandler)>; MAX_HANDLERS]> =
    Mutex::new([None; MAX_HANDLERS]);

/// Why [`route_interrupt`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// [`set_irq_controller`] has not been called.
    NoController,
    /// Every handler slot is taken.
    TableFull,
}

/// Installs `handler` for interrupt `irq` (replacing an earlier one) and enables the source at
/// the interrupt controller.
pub fn route_interrupt(irq: IrqNumber, handler: InterruptHandler) -> Result<(), RouteError> {
    let controller = IRQ_CONTROLLER.get().ok_or(RouteError::NoController)?;
    {
        let mut table = HANDLERS.lock();
        let slot = match table
            .iter()
            .position(|e| matches!(e, Some((i, _)) if *i == irq))
        {
            Some(existing) => existing,
            None => table
                .iter()
                .position(Option::is_none)
                .ok_or(RouteError::TableFull)?,
        };
        table[slot] = Some((irq, handler));
    }
    controller.enable(irq);
    Ok(())
}

fn handler_for(irq: IrqNumber) -> Option<InterruptHandler> {
    HANDLERS
        .lock()
        .iter()
        .flatten()
        .find(|(i, _)| *i == irq)
        .map(|&(_, h)| h)
}

/// Acknowledges and handles whatever is pending; returns how many interrupts that was. A
/// source nobody routed is masked (and reported) rather than left to storm.
fn handle_interrupts() -> usize {
    let Some(controller) = IRQ_CONTROLLER.get() else {
        return 0;
    };
    let mut handled = 0;
    // Bounded: a source that re-asserts at once must not keep the kernel here forever.
    for _ in 0..64 {
        let Some(irq) = controller.acknowledge() else {
            break;
        };
        handled += 1;
        match handler_for(irq) {
            Some(handler) => handler(irq),
            None => {
                log::warn!("interrupt {irq} has no handler; masking it");
                controller.disable(irq);
            }
        }
        controller.end_of_interrupt(irq);
    }
    handled
}

/// Idles until an interrupt arrives and handles it (`hal::arch::Arch::wait_for_interrupt`).
///
/// The kernel keeps IRQs masked in PSTATE throughout: `wfi` still wakes up when an interrupt is
/// pending at the CPU (masking only stops it from being *taken*), and the controller is then
/// polled for it. An interrupt that arrives between the poll and the `wfi` leaves the CPU with
/// a pending interrupt, so the `wfi` completes at once: no wake-up can be lost, and no kernel
/// code ever runs in interrupt context.
pub fn wait_for_interrupt() {
    if IRQ_CONTROLLER.get().is_none() {
        // Nothing could wake us that we could acknowledge; idle once and let the caller decide.
        // SAFETY: waiting for an interrupt has no memory or register effects.
        unsafe { core::arch::asm!("dsb sy", "wfi", options(nostack, preserves_flags)) };
        return;
    }
    loop {
        if handle_interrupts() > 0 {
            return;
        }
        // SAFETY: as above; the dsb completes outstanding memory accesses (e.g. the end of
        // interrupt just written) before the core sleeps.
        unsafe { core::arch::asm!("dsb sy", "wfi", options(nostack, preserves_flags)) };
    }
}

/// Runs user mode until it traps (see `hal::arch::Arch::run_user`).
pub fn run_user(ctx: &mut Context, space: &crate::paging::UserSpace) -> ReturnReason {
    space.activate();
    loop {
        ctx.pstate = context::sanitize_pstate(ctx.pstate);
        // SAFETY: `ctx` is a valid, exclusively borrowed Context with the layout the assembly
        // expects; TTBR0 holds `space` for the trip (`with_user_tables`); the sanitised PSTATE
        // can only enter EL0 (AArch64). The call returns like a normal AAPCS64 function when
        // user mode traps.
        let kind = crate::paging::with_user_tables(|| unsafe { cyphera_run_user(ctx) });
        match kind {
            KIND_SYNC => match fault::classify(ctx.esr, ctx.far, ctx.pc, ctx.sp) {
                SyncOutcome::Return(reason) => {
                    if reason == ReturnReason::Syscall {
                        ctx.enter_syscall();
                    }
                    return reason;
                }
                SyncOutcome::SkipInstruction => ctx.pc = ctx.pc.wrapping_add(4),
            },
            KIND_IRQ | KIND_FIQ => {
                handle_interrupts();
                return ReturnReason::Interrupt;
            }
            _ => panic!(
                "SError while user code ran: ESR_EL1 {:#x}, pc {:#x}",
                ctx.esr, ctx.pc
            ),
        }
    }
}
