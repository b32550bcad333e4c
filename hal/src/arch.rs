//! What an architecture provides to the core. Both `arch/x86_64` and `arch/aarch64` implement
//! [`Arch`]; a missing piece is a compile error, not a convention.

use crate::boot::PhysAddr;
use crate::mmu::{AddressSpace, BadUserAddress};
use crate::protection::Violation;
use crate::signal::{SignalDelivery, SignalReturn};
use crate::syscall::Sysno;
use crate::user::{CloneArgs, ReturnReason, UserContext};

pub trait Arch {
    /// `uname -m` and the ELF AT_PLATFORM string: "x86_64" or "aarch64".
    const MACHINE: &'static str;
    /// The ELF `e_machine` this arch runs (EM_X86_64 = 62, EM_AARCH64 = 183).
    const ELF_MACHINE: u16;
    /// First address above the user range (user addresses are `0..USER_END`).
    const USER_END: u64;

    type Context: UserContext;
    type AddressSpace: AddressSpace;

    /// Translates this arch's Linux syscall number into the arch-neutral [`Sysno`]; `None` for a
    /// number Linux does not define on this arch.
    fn sysno(number: u64) -> Option<Sysno>;

    /// Makes `space` the current user address space and runs `context` in user mode until it
    /// traps back to the kernel, then returns why. The context holds the user registers on return.
    fn run_user(context: &mut Self::Context, space: &Self::AddressSpace) -> ReturnReason;

    /// The AT_HWCAP value for the ELF auxiliary vector (Linux's meaning for this arch).
    fn hwcap() -> u64;
    /// 16 bytes of entropy for AT_RANDOM (RDRAND/RNDR where present, else timer jitter).
    fn random_bytes() -> [u8; 16];

    /// Fills a physical frame with zeros (through the direct map).
    fn zero_frame(frame: PhysAddr);
    /// Copies one physical frame to another (copy-on-write).
    fn copy_frame(dst: PhysAddr, src: PhysAddr);

    /// Idles the CPU until an interrupt arrives: interrupts are enabled only while waiting; the
    /// interrupt is acknowledged and handled before this returns.
    fn wait_for_interrupt();

    /// Decodes clone(2)'s raw arguments in this arch's register order.
    fn clone_args(raw: [u64; 6]) -> CloneArgs;

    /// Builds Linux's signal frame for this arch (x86_64 `rt_sigframe`: return address, ucontext
    /// with sigcontext and FPU state, siginfo; AArch64 `rt_sigframe`: siginfo, ucontext with
    /// sigcontext and its fpsimd_context record, frame record) below `delivery.stack_pointer`,
    /// and points the context at the handler with the arguments Linux passes.
    fn push_signal_frame(
        context: &mut Self::Context,
        space: &Self::AddressSpace,
        delivery: &SignalDelivery,
    ) -> Result<(), BadUserAddress>;

    /// `rt_sigreturn`: restores the registers saved by [`Arch::push_signal_frame`] from the frame
    /// at the current stack pointer, sanitised (a handler may edit them, but never into kernel
    /// mode), and returns the signal mask and alternate stack saved with them.
    fn pop_signal_frame(
        context: &mut Self::Context,
        space: &Self::AddressSpace,
    ) -> Result<SignalReturn, BadUserAddress>;

    /// Machine code that calls `rt_sigreturn`. The kernel maps it read+execute into every
    /// process and uses it as the return address of handlers installed without SA_RESTORER
    /// (Linux's vDSO `__kernel_rt_sigreturn` / `__restore_rt`).
    const SIGRETURN_TRAMPOLINE: &'static [u8];

    /// Breaks one hardware protection on purpose (`cyphera.selftest=NAME`), with `space` made
    /// current: `user_data` is a present, writable user address and `user_code` a present,
    /// executable one. The protection turns the access into a kernel fault, which the arch's
    /// fault handler explains (see [`crate::protection::KernelFault`]) before the panic; this
    /// returns only when the access went through, i.e. when the protection is off.
    fn attempt_violation(
        violation: Violation,
        space: &Self::AddressSpace,
        user_data: u64,
        user_code: u64,
    );
}
