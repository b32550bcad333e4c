//! What an architecture provides to the core. Both `arch/x86_64` and `arch/aarch64` implement
//! [`Arch`]; a missing piece is a compile error, not a convention.

use crate::mmu::AddressSpace;
use crate::syscall::Sysno;
use crate::user::{ReturnReason, UserContext};

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
}
