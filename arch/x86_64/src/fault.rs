//! What an x86_64 exception or interrupt vector means: the arch-neutral [`FaultKind`] of a user
//! fault, an interrupt, or something that must never come from user mode. Host-tested.

use hal::protection::{GuardRange, KernelFault};
use hal::user::{FaultKind, UserFault};

pub const DIVIDE_ERROR: u8 = 0;
pub const DEBUG: u8 = 1;
pub const NMI: u8 = 2;
pub const BREAKPOINT: u8 = 3;
pub const OVERFLOW: u8 = 4;
pub const BOUND_RANGE: u8 = 5;
pub const INVALID_OPCODE: u8 = 6;
pub const DEVICE_NOT_AVAILABLE: u8 = 7;
pub const DOUBLE_FAULT: u8 = 8;
pub const INVALID_TSS: u8 = 10;
pub const SEGMENT_NOT_PRESENT: u8 = 11;
pub const STACK_SEGMENT: u8 = 12;
pub const GENERAL_PROTECTION: u8 = 13;
pub const PAGE_FAULT: u8 = 14;
pub const X87_FLOATING_POINT: u8 = 16;
pub const ALIGNMENT_CHECK: u8 = 17;
pub const MACHINE_CHECK: u8 = 18;
pub const SIMD_FLOATING_POINT: u8 = 19;
pub const VIRTUALIZATION: u8 = 20;
pub const CONTROL_PROTECTION: u8 = 21;

/// First vector the 8259 PICs are remapped to (IRQ 0..15 → 32..47).
pub const PIC_VECTOR_BASE: u8 = 32;
/// The local APIC's spurious-interrupt vector (its reset value).
pub const SPURIOUS_VECTOR: u8 = 0xff;

/// The vectors for which the CPU pushes an error code.
pub const fn has_error_code(vector: u8) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

pub const fn name(vector: u8) -> &'static str {
    match vector {
        DIVIDE_ERROR => "#DE divide error",
        DEBUG => "#DB debug",
        NMI => "NMI",
        BREAKPOINT => "#BP breakpoint",
        OVERFLOW => "#OF overflow",
        BOUND_RANGE => "#BR bound range",
        INVALID_OPCODE => "#UD invalid opcode",
        DEVICE_NOT_AVAILABLE => "#NM device not available",
        DOUBLE_FAULT => "#DF double fault",
        INVALID_TSS => "#TS invalid TSS",
        SEGMENT_NOT_PRESENT => "#NP segment not present",
        STACK_SEGMENT => "#SS stack segment",
        GENERAL_PROTECTION => "#GP general protection",
        PAGE_FAULT => "#PF page fault",
        X87_FLOATING_POINT => "#MF x87 floating point",
        ALIGNMENT_CHECK => "#AC alignment check",
        MACHINE_CHECK => "#MC machine check",
        SIMD_FLOATING_POINT => "#XM SIMD floating point",
        VIRTUALIZATION => "#VE virtualization",
        CONTROL_PROTECTION => "#CP control protection",
        v if v < 32 => "reserved exception",
        SPURIOUS_VECTOR => "APIC spurious interrupt",
        _ => "interrupt",
    }
}

/// Page-fault error code bits.
pub mod pf {
    pub const PRESENT: u64 = 1 << 0;
    pub const WRITE: u64 = 1 << 1;
    pub const USER: u64 = 1 << 2;
    pub const RESERVED_BIT: u64 = 1 << 3;
    pub const INSTRUCTION: u64 = 1 << 4;
}

/// How a trap taken from user mode is handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserTrap {
    /// The program did something the kernel turns into a signal.
    Fault(UserFault),
    /// A hardware interrupt (or NMI) arrived; the program resumes.
    Interrupt,
    /// Something no user program can cause (machine check, double fault): the machine is
    /// broken and the kernel must stop.
    Fatal,
}

/// Records a user fault in the context the way Linux keeps `thread.trap_nr`, `error_code` and
/// `cr2` for the signal frame's `trapno`, `err` and `cr2`: page faults always carry the USER
/// bit, and one on a kernel address always reads as a protection fault (so the kernel's
/// page-table layout does not leak, as in Linux's `set_signal_archinfo`). Only page faults
/// change `cr2`.
pub fn record_trap(context: &mut crate::context::Context, vector: u8, error: u64, cr2: u64) {
    context.trap_nr = u64::from(vector);
    if vector == PAGE_FAULT {
        let mut error = error | pf::USER;
        if cr2 >= crate::paging::USER_END {
            error |= pf::PRESENT;
        }
        context.error_code = error;
        context.cr2 = cr2;
    } else {
        context.error_code = error;
    }
}

/// Classifies a trap from user mode. `rip` is the saved user rip (for faults: the faulting
/// instruction; for traps such as #BP and #DB single-step: the next one), `cr2` the page-fault
/// linear address.
pub fn classify_user_trap(vector: u8, error: u64, cr2: u64, rip: u64) -> UserTrap {
    let fault = |kind, address| {
        UserTrap::Fault(UserFault {
            kind,
            address,
            pc: rip,
        })
    };
    match vector {
        PAGE_FAULT => fault(
            FaultKind::PageFault {
                write: error & pf::WRITE != 0,
                execute: error & pf::INSTRUCTION != 0,
                present: error & pf::PRESENT != 0,
            },
            cr2,
        ),
        DIVIDE_ERROR => fault(FaultKind::DivideError, rip),
        INVALID_OPCODE => fault(FaultKind::InvalidOpcode, rip),
        // #AC does not report the misaligned address; the pc is the best there is.
        ALIGNMENT_CHECK => fault(FaultKind::Alignment, rip),
        // #NM cannot happen with CR0.EM and CR0.TS clear; if it ever does it is an FPU matter.
        X87_FLOATING_POINT | SIMD_FLOATING_POINT | DEVICE_NOT_AVAILABLE => {
            fault(FaultKind::FloatingPoint, rip)
        }
        BREAKPOINT | DEBUG => fault(FaultKind::Breakpoint, rip),
        NMI => UserTrap::Interrupt,
        MACHINE_CHECK | DOUBLE_FAULT => UserTrap::Fatal,
        // Linux's do_error_trap sends SIGBUS for these two (arch/x86/kernel/traps.c).
        STACK_SEGMENT | SEGMENT_NOT_PRESENT => fault(FaultKind::SegmentFault, rip),
        // #GP, #TS, #OF/#BR (invalid in 64-bit mode, Linux sends SIGSEGV), #CP, #VE
        // and the reserved vectors: a protection violation.
        v if v < 32 => fault(FaultKind::GeneralProtection, rip),
        _ => UserTrap::Interrupt,
    }
}

/// Page-fault error code bits (Intel SDM vol. 3, 4.7).
const PF_PRESENT: u64 = 1 << 0;
const PF_WRITE: u64 = 1 << 1;
const PF_INSTRUCTION: u64 = 1 << 4;

/// Which protection stopped the kernel, from a kernel-mode exception: `cr2` is the faulting
/// address, `guards` the guard pages under the kernel stacks. A stack overflow reaches the
/// kernel as a double fault (the page fault cannot push its frame onto the guard page); CR2
/// then still holds the guard address.
pub fn explain_kernel_fault(
    vector: u8,
    error: u64,
    cr2: u64,
    guards: &[GuardRange],
    user_end: u64,
) -> KernelFault {
    if matches!(vector, PAGE_FAULT | DOUBLE_FAULT) && guards.iter().any(|g| g.contains(cr2)) {
        return KernelFault::StackGuard { address: cr2 };
    }
    if vector != PAGE_FAULT || error & PF_PRESENT == 0 {
        return KernelFault::Other;
    }
    let instruction = error & PF_INSTRUCTION != 0;
    if cr2 < user_end {
        if instruction {
            KernelFault::UserExecute {
                address: cr2,
                protection: "SMEP",
            }
        } else {
            KernelFault::UserAccess {
                address: cr2,
                write: error & PF_WRITE != 0,
                protection: "SMAP",
            }
        }
    } else if instruction {
        KernelFault::ExecuteNever {
            address: cr2,
            protection: "NX",
        }
    } else if error & PF_WRITE != 0 {
        KernelFault::WriteReadOnly { address: cr2 }
    } else {
        KernelFault::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(vector: u8, error: u64) -> FaultKind {
        match classify_user_trap(vector, error, 0xdead_b000, 0x401000) {
            UserTrap::Fault(f) => f.kind,
            other => panic!("vector {vector}: {other:?}"),
        }
    }

    #[test]
    fn page_faults_report_cr2_and_access_bits() {
        let t = classify_user_trap(
            PAGE_FAULT,
            pf::USER | pf::WRITE | pf::PRESENT,
            0x1000,
            0x401234,
        );
        assert_eq!(
            t,
            UserTrap::Fault(UserFault {
                kind: FaultKind::PageFault {
                    write: true,
                    execute: false,
                    present: true
                },
                address: 0x1000,
                pc: 0x401234,
            })
        );
        assert_eq!(
            kind(PAGE_FAULT, pf::USER | pf::INSTRUCTION),
            FaultKind::PageFault {
                write: false,
                execute: true,
                present: false
            }
        );
    }

    #[test]
    fn exceptions_map_to_their_kinds() {
        assert_eq!(kind(INVALID_OPCODE, 0), FaultKind::InvalidOpcode);
        assert_eq!(kind(ALIGNMENT_CHECK, 0), FaultKind::Alignment);
        assert_eq!(kind(DIVIDE_ERROR, 0), FaultKind::DivideError);
        assert_eq!(kind(X87_FLOATING_POINT, 0), FaultKind::FloatingPoint);
        assert_eq!(kind(SIMD_FLOATING_POINT, 0), FaultKind::FloatingPoint);
        assert_eq!(kind(BREAKPOINT, 0), FaultKind::Breakpoint);
        assert_eq!(kind(DEBUG, 0), FaultKind::Breakpoint);
        // Linux: SIGBUS for #SS and #NP, SIGSEGV for the rest.
        assert_eq!(kind(STACK_SEGMENT, 0), FaultKind::SegmentFault);
        assert_eq!(kind(SEGMENT_NOT_PRESENT, 0), FaultKind::SegmentFault);
        for v in [GENERAL_PROTECTION, OVERFLOW, BOUND_RANGE, 31] {
            assert_eq!(kind(v, 0), FaultKind::GeneralProtection, "vector {v}");
        }
        match classify_user_trap(GENERAL_PROTECTION, 0, 0xdead, 0x401000) {
            UserTrap::Fault(f) => assert_eq!((f.address, f.pc), (0x401000, 0x401000)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn interrupts_and_fatal_vectors() {
        assert_eq!(
            classify_user_trap(PIC_VECTOR_BASE, 0, 0, 0),
            UserTrap::Interrupt
        );
        assert_eq!(
            classify_user_trap(SPURIOUS_VECTOR, 0, 0, 0),
            UserTrap::Interrupt
        );
        assert_eq!(classify_user_trap(NMI, 0, 0, 0), UserTrap::Interrupt);
        assert_eq!(classify_user_trap(MACHINE_CHECK, 0, 0, 0), UserTrap::Fatal);
        assert_eq!(classify_user_trap(DOUBLE_FAULT, 0, 0, 0), UserTrap::Fatal);
    }

    #[test]
    fn traps_are_recorded_like_linux() {
        use crate::context::Context;
        use hal::user::UserContext;
        let mut c = Context::new(0, 0);
        record_trap(&mut c, PAGE_FAULT, pf::WRITE | pf::USER, 0x1000);
        assert_eq!((c.trap_nr, c.error_code, c.cr2), (14, 6, 0x1000));
        // A user access to a kernel address is reported as a protection fault.
        record_trap(&mut c, PAGE_FAULT, pf::USER, 0xffff_ffff_8000_0000);
        assert_eq!(c.error_code, pf::USER | pf::PRESENT);
        // Other faults keep the last page-fault address.
        record_trap(&mut c, GENERAL_PROTECTION, 0, 0);
        assert_eq!(
            (c.trap_nr, c.error_code, c.cr2),
            (13, 0, 0xffff_ffff_8000_0000)
        );
    }

    #[test]
    fn error_code_vectors() {
        let with: Vec<u8> = (0..=255u8).filter(|&v| has_error_code(v)).collect();
        assert_eq!(with, vec![8, 10, 11, 12, 13, 14, 17, 21, 29, 30]);
        assert_eq!(name(14), "#PF page fault");
        assert_eq!(name(40), "interrupt");
    }

    #[test]
    fn kernel_faults_name_the_protection() {
        const USER_END: u64 = 0x7fff_ffff_f000;
        let guards = [GuardRange {
            start: 0xffff_ffff_8040_0000,
            end: 0xffff_ffff_8040_1000,
        }];
        let explain =
            |vector, error, cr2| explain_kernel_fault(vector, error, cr2, &guards, USER_END);
        // Supervisor read and write of a present user page: SMAP.
        assert_eq!(
            explain(PAGE_FAULT, PF_PRESENT, 0x7fff_0000),
            KernelFault::UserAccess {
                address: 0x7fff_0000,
                write: false,
                protection: "SMAP"
            }
        );
        assert_eq!(
            explain(PAGE_FAULT, PF_PRESENT | PF_WRITE, 0x1000),
            KernelFault::UserAccess {
                address: 0x1000,
                write: true,
                protection: "SMAP"
            }
        );
        // Supervisor fetch from a user page: SMEP.
        assert_eq!(
            explain(PAGE_FAULT, PF_PRESENT | PF_INSTRUCTION, 0x40_1000),
            KernelFault::UserExecute {
                address: 0x40_1000,
                protection: "SMEP"
            }
        );
        // Kernel pages: write to read-only, fetch from no-execute.
        assert_eq!(
            explain(PAGE_FAULT, PF_PRESENT | PF_WRITE, 0xffff_ffff_8020_0000),
            KernelFault::WriteReadOnly {
                address: 0xffff_ffff_8020_0000
            }
        );
        assert_eq!(
            explain(
                PAGE_FAULT,
                PF_PRESENT | PF_INSTRUCTION,
                0xffff_ffff_8050_0000
            ),
            KernelFault::ExecuteNever {
                address: 0xffff_ffff_8050_0000,
                protection: "NX"
            }
        );
        // The guard page, as a page fault or as the double fault an overflow becomes.
        for vector in [PAGE_FAULT, DOUBLE_FAULT] {
            assert_eq!(
                explain(vector, 0, 0xffff_ffff_8040_0ff8),
                KernelFault::StackGuard {
                    address: 0xffff_ffff_8040_0ff8
                }
            );
        }
        // Not-present pages and other exceptions are plain bugs.
        assert_eq!(explain(PAGE_FAULT, 0, 0x1000), KernelFault::Other);
        assert_eq!(
            explain(PAGE_FAULT, PF_WRITE, 0xffff_ffff_9000_0000),
            KernelFault::Other
        );
        assert_eq!(
            explain(GENERAL_PROTECTION, 0, 0x7fff_0000),
            KernelFault::Other
        );
        assert_eq!(explain(DOUBLE_FAULT, 0, 0x1000), KernelFault::Other);
    }
}
