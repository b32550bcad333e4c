//! Running user code: one call enters user mode and returns *why* user mode stopped, in the
//! manner of Asterinas's `UserMode::execute`. The core's loop decides what happens next.

/// Why [`crate::arch::Arch::run_user`] came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReturnReason {
    /// The program executed the system-call instruction; the registers are in the context.
    Syscall,
    /// The program faulted; the kernel decides which signal that means.
    Fault(UserFault),
    /// A hardware interrupt arrived while the program ran (already acknowledged and handled by
    /// the arch/board interrupt path); the program can simply be resumed.
    Interrupt,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserFault {
    pub kind: FaultKind,
    /// The faulting data address (page and alignment faults) or the pc (others).
    pub address: u64,
    /// The program counter of the faulting instruction.
    pub pc: u64,
}

/// Arch-neutral classes of user faults. The mapping to Linux signals lives in kernel-core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Access to an unmapped page, or one whose rights forbid the access.
    PageFault {
        write: bool,
        execute: bool,
        present: bool,
    },
    /// Undefined or privileged instruction (AArch64 EC=0 unknown): SIGILL with ILL_ILLOPC.
    IllegalInstruction,
    /// x86 #UD: Linux reports it as SIGILL with ILL_ILLOPN.
    InvalidOpcode,
    /// Misaligned access the hardware refuses (x86 #AC with EFLAGS.AC, AArch64 SP/PC alignment).
    Alignment,
    /// Integer divide error (x86 #DE).
    DivideError,
    /// Floating point / SIMD exception.
    FloatingPoint,
    /// Breakpoint or single-step trap (int3, brk).
    Breakpoint,
    /// General protection fault (x86 #GP, e.g. a privileged operation or non-canonical address).
    GeneralProtection,
    /// A segment fault that Linux reports as a bus error: x86 #SS (stack segment, e.g. a
    /// non-canonical stack access) and #NP (segment not present).
    SegmentFault,
}

/// clone(2)'s arguments, decoded from the arch's register order (x86_64:
/// flags, stack, parent_tid, child_tid, tls; AArch64 (CLONE_BACKWARDS): flags, stack, parent_tid,
/// tls, child_tid).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CloneArgs {
    pub flags: u64,
    pub stack: u64,
    pub parent_tid: u64,
    pub child_tid: u64,
    pub tls: u64,
}

/// The saved user registers of one thread. The arch defines the layout; the core only uses these
/// accessors, so the register convention stays at the arch boundary.
pub trait UserContext: Clone {
    /// A context that starts executing at `entry` with stack pointer `stack_pointer`, all other
    /// general registers zero (as Linux's ELF entry requires on both arches).
    fn new(entry: u64, stack_pointer: u64) -> Self;
    fn pc(&self) -> u64;
    fn set_pc(&mut self, pc: u64);
    fn stack_pointer(&self) -> u64;
    fn set_stack_pointer(&mut self, sp: u64);
    /// The raw syscall number register (x86_64 rax, AArch64 x8).
    fn syscall_number(&self) -> u64;
    /// The six syscall argument registers (x86_64 rdi rsi rdx r10 r8 r9; AArch64 x0..x5).
    fn syscall_args(&self) -> [u64; 6];
    /// Stores the syscall result (x86_64 rax, AArch64 x0). Negative errno values are passed as
    /// their two's complement.
    fn set_syscall_return(&mut self, value: u64);
    /// The thread pointer (x86_64 FS base, AArch64 TPIDR_EL0).
    fn thread_pointer(&self) -> u64;
    fn set_thread_pointer(&mut self, tp: u64);
    /// A second user thread-pointer register, where the arch has one (x86_64's GS base, set with
    /// arch_prctl(ARCH_SET_GS)); `None` where it has none (AArch64).
    fn alternate_thread_pointer(&self) -> Option<u64>;
    /// Sets it; false where the arch has none.
    fn set_alternate_thread_pointer(&mut self, value: u64) -> bool;
    /// Makes the system call this context last entered the kernel with run again when it resumes
    /// (SA_RESTART, restart_syscall): pc back to the syscall instruction, and the syscall number
    /// and first argument as they were at entry (x86_64 keeps `orig_rax`; AArch64 keeps the
    /// original x0, which the return value overwrote).
    fn restart_syscall(&mut self);
}
