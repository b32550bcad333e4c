//! Crossing between kernel and user mode: `enter_user` (sysretq or iretq into a [`Context`]),
//! the `syscall` entry, the 256 IDT trap stubs, and `run_user`, which turns whatever brought the
//! CPU back into a [`ReturnReason`]. Exceptions taken in kernel mode panic with the CPU state;
//! interrupts are taken in kernel mode only inside [`wait_for_interrupt`]. Every interrupt,
//! from either mode, is acknowledged through the board's controller ([`set_irq_controller`]).
//!
//! The shape is Asterinas's `UserMode::execute`: `enter_user` saves the kernel's callee-saved
//! registers and stack pointer in the per-CPU area and enters user mode; every way back
//! (`syscall`, exception, interrupt) stores all user registers into the context named in the
//! per-CPU area, restores the kernel stack pointer and returns from `enter_user` as if it were
//! an ordinary call. Nothing ever runs on the user's stack.

use crate::context::{Context, is_canonical, offsets as ctx};
use crate::cpu::{self, PerCpu, USER_CODE, USER_DATA};
use crate::fault::{self, UserTrap};
use crate::paging::UserSpace;
use core::mem::offset_of;
use hal::irq::IrqController;
use hal::user::{FaultKind, ReturnReason, UserFault};
use spin::Once;
use x86_64::VirtAddr;
use x86_64::registers::model_specific::{FsBase, KernelGsBase};

/// `enter_user` return values.
const EXIT_SYSCALL: u64 = 0;
const EXIT_TRAP: u64 = 1;

/// Trap stubs are this many bytes apart, so stub `n` is at `base + n * STUB_SIZE`.
const STUB_SIZE: u64 = 16;

core::arch::global_asm!(
    r#"
    .section .text.cyphera_entry, "ax"
    .code64

    // u64 cyphera_enter_user(Context *ctx /* rdi */, u64 use_sysret /* rsi */)
    .global cyphera_enter_user
    .type cyphera_enter_user, @function
cyphera_enter_user:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    mov gs:[{PCPU_KERNEL_RSP}], rsp
    mov gs:[{PCPU_CONTEXT}], rdi
    fxrstor64 [rdi + {FX}]
    test rsi, rsi
    jz 2f

    // sysretq: rip from rcx, rflags from r11 (run_user checked they match the context and
    // that rip is canonical).
    mov rcx, [rdi + {RIP}]
    mov r11, [rdi + {RFLAGS}]
    mov rax, [rdi + {RAX}]
    mov rbx, [rdi + {RBX}]
    mov rdx, [rdi + {RDX}]
    mov rsi, [rdi + {RSI}]
    mov rbp, [rdi + {RBP}]
    mov r8,  [rdi + {R8}]
    mov r9,  [rdi + {R9}]
    mov r10, [rdi + {R10}]
    mov r12, [rdi + {R12}]
    mov r13, [rdi + {R13}]
    mov r14, [rdi + {R14}]
    mov r15, [rdi + {R15}]
    // From here to sysretq rsp is the user's; IF is clear, and NMI/#MC/#DB use IST stacks.
    mov rsp, [rdi + {RSP}]
    mov rdi, [rdi + {RDI}]
    swapgs
    sysretq

2:  // iretq: every register restored exactly, from a frame on the kernel stack.
    push {USER_SS}
    push qword ptr [rdi + {RSP}]
    push qword ptr [rdi + {RFLAGS}]
    push {USER_CS}
    push qword ptr [rdi + {RIP}]
    mov rax, [rdi + {RAX}]
    mov rbx, [rdi + {RBX}]
    mov rcx, [rdi + {RCX}]
    mov rdx, [rdi + {RDX}]
    mov rsi, [rdi + {RSI}]
    mov rbp, [rdi + {RBP}]
    mov r8,  [rdi + {R8}]
    mov r9,  [rdi + {R9}]
    mov r10, [rdi + {R10}]
    mov r11, [rdi + {R11}]
    mov r12, [rdi + {R12}]
    mov r13, [rdi + {R13}]
    mov r14, [rdi + {R14}]
    mov r15, [rdi + {R15}]
    mov rdi, [rdi + {RDI}]
    swapgs
    iretq
    .size cyphera_enter_user, . - cyphera_enter_user

    // `syscall` from user mode: rcx = user rip, r11 = user rflags, rsp = user stack,
    // IF/TF/DF/AC cleared by SFMASK.
    .global cyphera_syscall_entry
    .type cyphera_syscall_entry, @function
cyphera_syscall_entry:
    swapgs
    mov gs:[{PCPU_SCRATCH}], rsp
    mov rsp, gs:[{PCPU_KERNEL_RSP}]
    push rdi
    mov rdi, gs:[{PCPU_CONTEXT}]
    mov [rdi + {RAX}], rax
    mov [rdi + {ORIG_RAX}], rax
    mov [rdi + {RBX}], rbx
    mov [rdi + {RCX}], rcx
    mov [rdi + {RDX}], rdx
    mov [rdi + {RSI}], rsi
    mov [rdi + {RBP}], rbp
    mov [rdi + {R8}],  r8
    mov [rdi + {R9}],  r9
    mov [rdi + {R10}], r10
    mov [rdi + {R11}], r11
    mov [rdi + {R12}], r12
    mov [rdi + {R13}], r13
    mov [rdi + {R14}], r14
    mov [rdi + {R15}], r15
    mov [rdi + {RIP}], rcx
    mov [rdi + {RFLAGS}], r11
    pop rax
    mov [rdi + {RDI}], rax
    mov rax, gs:[{PCPU_SCRATCH}]
    mov [rdi + {RSP}], rax
    fxsave64 [rdi + {FX}]
    mov eax, {EXIT_SYSCALL}
    jmp cyphera_exit_to_kernel
    .size cyphera_syscall_entry, . - cyphera_syscall_entry

    // Back on the stack enter_user was called on, with clean flags (IF, DF, AC clear:
    // an exception from user mode keeps the user's DF and AC), returning from enter_user.
cyphera_exit_to_kernel:
    mov rsp, gs:[{PCPU_KERNEL_RSP}]
    push 2
    popfq
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret

    // Stack on entry to the common path: vector, error code, then the CPU's frame
    // (rip, cs, rflags, rsp, ss).
cyphera_trap_common:
    test qword ptr [rsp + 24], 3
    jz cyphera_kernel_trap
    swapgs
    push rdi
    mov rdi, gs:[{PCPU_CONTEXT}]
    mov qword ptr [rdi + {ORIG_RAX}], -1
    mov [rdi + {RAX}], rax
    mov [rdi + {RBX}], rbx
    mov [rdi + {RCX}], rcx
    mov [rdi + {RDX}], rdx
    mov [rdi + {RSI}], rsi
    mov [rdi + {RBP}], rbp
    mov [rdi + {R8}],  r8
    mov [rdi + {R9}],  r9
    mov [rdi + {R10}], r10
    mov [rdi + {R11}], r11
    mov [rdi + {R12}], r12
    mov [rdi + {R13}], r13
    mov [rdi + {R14}], r14
    mov [rdi + {R15}], r15
    pop rax
    mov [rdi + {RDI}], rax
    mov rax, [rsp + 16]
    mov [rdi + {RIP}], rax
    mov rax, [rsp + 32]
    mov [rdi + {RFLAGS}], rax
    mov rax, [rsp + 40]
    mov [rdi + {RSP}], rax
    fxsave64 [rdi + {FX}]
    mov rax, [rsp]
    mov gs:[{PCPU_TRAP_VECTOR}], rax
    mov rax, [rsp + 8]
    mov gs:[{PCPU_TRAP_ERROR}], rax
    mov rax, cr2
    mov gs:[{PCPU_TRAP_CR2}], rax
    mov eax, {EXIT_TRAP}
    jmp cyphera_exit_to_kernel

    // A trap in kernel mode. Interrupts (vector 32 and up) arrive only while the kernel idles
    // in `wait_for_interrupt` (it otherwise runs with IF clear): handle them and resume. The
    // kernel never uses SSE (soft-float target), so only the caller-saved general registers
    // need saving around the Rust call. The stack is 16-byte aligned here: the CPU aligned it
    // before pushing its 40-byte frame, the stub added 16, and the 9 pushes below add 72.
cyphera_kernel_trap:
    cmp qword ptr [rsp], 32
    jb cyphera_kernel_exception
    cld
    push rax
    push rcx
    push rdx
    push rsi
    push rdi
    push r8
    push r9
    push r10
    push r11
    mov rdi, [rsp + 72]
    call {kernel_interrupt}
    pop r11
    pop r10
    pop r9
    pop r8
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rax
    add rsp, 16
    iretq

    // An exception in kernel mode: never resumed. Hand the whole frame to Rust, which panics.
cyphera_kernel_exception:
    cld
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    mov rdi, rsp
    and rsp, -16
    call {kernel_trap}
    ud2

    // 256 stubs, STUB_SIZE apart: push a dummy error code where the CPU pushes none, push the
    // vector, join the common path.
    .balign {STUB_SIZE}
    .global cyphera_trap_stubs
cyphera_trap_stubs:
    .set vector, 0
    .rept 256
    .balign {STUB_SIZE}
    .if (vector == 8) || ((vector >= 10) && (vector <= 14)) || (vector == 17) || (vector == 21) || (vector == 29) || (vector == 30)
    .else
    push 0
    .endif
    push vector
    jmp cyphera_trap_common
    .set vector, vector + 1
    .endr
    "#,
    PCPU_KERNEL_RSP = const offset_of!(PerCpu, kernel_rsp),
    PCPU_CONTEXT = const offset_of!(PerCpu, user_context),
    PCPU_SCRATCH = const offset_of!(PerCpu, scratch),
    PCPU_TRAP_VECTOR = const offset_of!(PerCpu, trap_vector),
    PCPU_TRAP_ERROR = const offset_of!(PerCpu, trap_error),
    PCPU_TRAP_CR2 = const offset_of!(PerCpu, trap_cr2),
    RAX = const ctx::RAX,
    RBX = const ctx::RBX,
    RCX = const ctx::RCX,
    RDX = const ctx::RDX,
    RSI = const ctx::RSI,
    RDI = const ctx::RDI,
    RBP = const ctx::RBP,
    RSP = const ctx::RSP,
    R8 = const ctx::R8,
    R9 = const ctx::R9,
    R10 = const ctx::R10,
    R11 = const ctx::R11,
    R12 = const ctx::R12,
    R13 = const ctx::R13,
    R14 = const ctx::R14,
    R15 = const ctx::R15,
    RIP = const ctx::RIP,
    RFLAGS = const ctx::RFLAGS,
    ORIG_RAX = const ctx::ORIG_RAX,
    FX = const ctx::FX,
    USER_SS = const USER_DATA,
    USER_CS = const USER_CODE,
    EXIT_SYSCALL = const EXIT_SYSCALL,
    EXIT_TRAP = const EXIT_TRAP,
    STUB_SIZE = const STUB_SIZE,
    kernel_trap = sym kernel_trap,
    kernel_interrupt = sym kernel_interrupt,
);

unsafe extern "C" {
    fn cyphera_enter_user(context: *mut Context, use_sysret: u64) -> u64;
    fn cyphera_syscall_entry();
    static cyphera_trap_stubs: [u8; 256 * STUB_SIZE as usize];
}

/// Address of the IDT stub for `vector`.
pub fn trap_stub(vector: u8) -> u64 {
    let base = (&raw const cyphera_trap_stubs) as u64;
    base + vector as u64 * STUB_SIZE
}

pub fn syscall_entry_address() -> u64 {
    cyphera_syscall_entry as *const () as u64
}

/// What the kernel-trap path pushed, lowest address first.
#[repr(C)]
struct KernelTrapFrame {
    r15: u64,
    r14: u64,
    r13: u64,
    r12: u64,
    r11: u64,
    r10: u64,
    r9: u64,
    r8: u64,
    rbp: u64,
    rdi: u64,
    rsi: u64,
    rdx: u64,
    rcx: u64,
    rbx: u64,
    rax: u64,
    vector: u64,
    error: u64,
    rip: u64,
    cs: u64,
    rflags: u64,
    rsp: u64,
    ss: u64,
}

/// An exception (or stray interrupt) in kernel mode is a kernel bug or broken hardware: report
/// the CPU state and stop through the panic handler.
extern "C" fn kernel_trap(frame: &KernelTrapFrame) -> ! {
    let cr2 = x86_64::registers::control::Cr2::read_raw();
    let vector = frame.vector as u8;
    let cause = fault::explain_kernel_fault(
        vector,
        frame.error,
        cr2,
        &crate::boot::kernel_stack_guards(),
        crate::paging::USER_END,
    );
    if cause != hal::protection::KernelFault::Other {
        kernel_core::kprintln!("cyphera: kernel fault: {cause}");
    }
    panic!(
        "CPU exception {} ({}) in kernel mode: error code {:#x}, rip {:#x}, rsp {:#x}, cr2 {:#x}, \
         rflags {:#x}, rax {:#x} rbx {:#x} rcx {:#x} rdx {:#x} rsi {:#x} rdi {:#x} rbp {:#x} \
         r8 {:#x} r9 {:#x} r10 {:#x} r11 {:#x} r12 {:#x} r13 {:#x} r14 {:#x} r15 {:#x}, cs {:#x} ss {:#x}",
        vector,
        fault::name(vector),
        frame.error,
        frame.rip,
        frame.rsp,
        cr2,
        frame.rflags,
        frame.rax,
        frame.rbx,
        frame.rcx,
        frame.rdx,
        frame.rsi,
        frame.rdi,
        frame.rbp,
        frame.r8,
        frame.r9,
        frame.r10,
        frame.r11,
        frame.r12,
        frame.r13,
        frame.r14,
        frame.r15,
        frame.cs,
        frame.ss,
    )
}

/// Interrupts taken while the kernel idles in [`wait_for_interrupt`]: acknowledged and handled
/// exactly as those taken from user mode.
extern "C" fn kernel_interrupt(vector: u64) {
    handle_interrupt(vector as u8);
}

static IRQ_CONTROLLER: Once<&'static dyn IrqController> = Once::new();

/// Wires the board's interrupt controller (LAPIC + IOAPIC): every interrupt vector except the
/// legacy PIC's and the LAPIC's spurious vector is acknowledged and ended through it.
pub fn set_irq_controller(controller: &'static dyn IrqController) {
    IRQ_CONTROLLER.call_once(|| controller);
}

/// Acknowledges one interrupt so that the next can be delivered.
fn handle_interrupt(vector: u8) {
    match vector {
        // The PICs are fully masked; what arrives is a spurious IRQ 7/15, or a stale one
        // latched before masking.
        v if (fault::PIC_VECTOR_BASE..fault::PIC_VECTOR_BASE + 16).contains(&v) => {
            cpu::pic::acknowledge(v)
        }
        // The LAPIC's spurious vector sets no in-service bit and must not be EOI'd; an NMI
        // involves no interrupt controller.
        fault::SPURIOUS_VECTOR | fault::NMI => {}
        _ => match IRQ_CONTROLLER.get() {
            Some(controller) => {
                if let Some(irq) = controller.acknowledge() {
                    controller.end_of_interrupt(irq);
                }
            }
            None => log::warn!("interrupt vector {vector:#x} with no interrupt controller"),
        },
    }
}

/// Idles until an interrupt has arrived and been handled. `sti` takes effect only after the
/// next instruction, so an interrupt pending before `sti` is taken once `hlt` has begun (and
/// ends it), never between the two, where it would be handled and `hlt` would then sleep
/// until the next one.
pub fn wait_for_interrupt() {
    // SAFETY: the IDT handles every vector in kernel mode (`kernel_interrupt` for interrupts,
    // which saves the registers it uses); interrupts are disabled again before returning, as
    // the rest of the kernel expects. No `nomem`: the handler changes memory.
    unsafe { core::arch::asm!("sti", "hlt", "cli", options(nostack)) };
}

/// Runs `context` in user mode in `space` until it traps back; see [`hal::arch::Arch::run_user`].
pub fn run_user(context: &mut Context, space: &UserSpace) -> ReturnReason {
    if cpu::active_root() != space.root() {
        cpu::load_root(space.root());
    }
    context.sanitize();
    // iretq to a non-canonical rip faults in kernel mode, before the switch to ring 3; what the
    // program would have got is a #GP at that address, so report exactly that.
    if !is_canonical(context.rip) {
        return ReturnReason::Fault(UserFault {
            kind: FaultKind::GeneralProtection,
            address: context.rip,
            pc: context.rip,
        });
    }
    FsBase::write(VirtAddr::new_truncate(context.fs_base));
    // The user GS base waits in KERNEL_GS_BASE until `swapgs` on the way out exchanges it.
    KernelGsBase::write(VirtAddr::new_truncate(context.gs_base));
    let use_sysret = context.can_sysret() as u64;
    // SAFETY: the context is a valid, exclusively borrowed `Context` (the assembly writes it
    // back on every exit); the active page tables map the kernel as always plus this user
    // space; the per-CPU area is set up by `cpu::init`. `enter_user` returns like a normal call
    // with all callee-saved registers restored.
    let exit = unsafe { cyphera_enter_user(context, use_sysret) };
    if exit == EXIT_SYSCALL {
        return ReturnReason::Syscall;
    }
    // SAFETY: written by the trap path that just ran on this CPU; nothing else touches it.
    let (vector, error, cr2) = unsafe {
        let p = &raw const cpu::PER_CPU;
        ((*p).trap_vector as u8, (*p).trap_error, (*p).trap_cr2)
    };
    match fault::classify_user_trap(vector, error, cr2, context.rip) {
        UserTrap::Fault(f) => {
            fault::record_trap(context, vector, error, cr2);
            ReturnReason::Fault(f)
        }
        UserTrap::Interrupt => {
            handle_interrupt(vector);
            ReturnReason::Interrupt
        }
        UserTrap::Fatal => panic!(
            "CPU exception {vector} ({}) from user mode: error code {error:#x}, rip {:#x}",
            fault::name(vector),
            context.rip
        ),
    }
}
