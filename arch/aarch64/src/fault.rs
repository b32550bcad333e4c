//! Decoding ESR_EL1 of a synchronous exception taken from EL0 into the arch-neutral
//! [`ReturnReason`], and of one taken from EL1 into the protection that stopped the kernel
//! ([`KernelFault`]). Pure, so every exception class is tested on the host.

use hal::protection::{GuardRange, KernelFault};
use hal::user::{FaultKind, ReturnReason, UserFault};

/// ESR_EL1.EC values (Arm ARM D24.2.40) that user mode can cause.
pub mod ec {
    pub const UNKNOWN: u64 = 0x00;
    pub const WFX: u64 = 0x01;
    pub const ILLEGAL_STATE: u64 = 0x0e;
    pub const SVC64: u64 = 0x15;
    pub const MSR_MRS: u64 = 0x18;
    pub const INSTRUCTION_ABORT_LOWER: u64 = 0x20;
    pub const PC_ALIGNMENT: u64 = 0x22;
    pub const DATA_ABORT_LOWER: u64 = 0x24;
    pub const SP_ALIGNMENT: u64 = 0x26;
    pub const FP_EXCEPTION64: u64 = 0x2c;
    pub const BREAKPOINT_LOWER: u64 = 0x30;
    pub const SOFTWARE_STEP_LOWER: u64 = 0x32;
    pub const WATCHPOINT_LOWER: u64 = 0x34;
    /// Aborts taken without a change of exception level: the kernel's own.
    pub const INSTRUCTION_ABORT_SAME: u64 = 0x21;
    pub const DATA_ABORT_SAME: u64 = 0x25;
    pub const BRK64: u64 = 0x3c;
}

pub const fn exception_class(esr: u64) -> u64 {
    (esr >> 26) & 0x3f
}

/// What the kernel does with a synchronous exception from EL0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncOutcome {
    /// Report this to the core.
    Return(ReturnReason),
    /// The instruction is treated as a no-op: advance the pc by 4 and resume (WFI/WFE, which
    /// Linux also skips for EL0 rather than letting a program sleep the CPU).
    SkipInstruction,
}

/// Classifies a synchronous exception from EL0. `far` is FAR_EL1, `pc` is ELR_EL1, `sp` is
/// SP_EL0 at the time of the exception.
pub fn classify(esr: u64, far: u64, pc: u64, sp: u64) -> SyncOutcome {
    let fault = |kind: FaultKind, address: u64| {
        SyncOutcome::Return(ReturnReason::Fault(UserFault { kind, address, pc }))
    };
    let iss = esr & 0x01ff_ffff;
    match exception_class(esr) {
        ec::SVC64 => SyncOutcome::Return(ReturnReason::Syscall),
        ec::WFX => SyncOutcome::SkipInstruction,
        ec::DATA_ABORT_LOWER => abort(iss, far, false, pc),
        ec::INSTRUCTION_ABORT_LOWER => abort(iss, far, true, pc),
        ec::PC_ALIGNMENT => fault(FaultKind::Alignment, far),
        ec::SP_ALIGNMENT => fault(FaultKind::Alignment, sp),
        ec::FP_EXCEPTION64 => fault(FaultKind::FloatingPoint, pc),
        ec::BRK64 | ec::BREAKPOINT_LOWER | ec::SOFTWARE_STEP_LOWER | ec::WATCHPOINT_LOWER => {
            fault(FaultKind::Breakpoint, pc)
        }
        // Unknown/undefined instructions, trapped system-register accesses, SVE/SME while
        // disabled, BTI and PAC failures, illegal execution state: all SIGILL on Linux.
        _ => fault(FaultKind::IllegalInstruction, pc),
    }
}

/// Data/instruction abort: the fault status code (ISS[5:0]) says whether the page was missing
/// (translation fault) or present but refused (permission / access flag).
fn abort(iss: u64, far: u64, execute: bool, pc: u64) -> SyncOutcome {
    let status = iss & 0x3f;
    // FnV: FAR is not valid; the only honest address left is the pc.
    let address = if iss & (1 << 10) != 0 { pc } else { far };
    let kind = match status {
        0x21 => FaultKind::Alignment,
        _ => {
            // WnR is meaningless for instruction aborts, and cache maintenance (CM) aborts
            // report WnR=1 for what is a read as far as permissions go.
            let write = !execute && iss & (1 << 6) != 0 && iss & (1 << 8) == 0;
            // 0b0000xx address size and 0b0001xx translation faults: nothing is mapped there.
            // Access flag (0b0010xx), permission (0b0011xx) and everything else: a page exists.
            let present = !matches!(status, 0x00..=0x07);
            FaultKind::PageFault {
                write,
                execute,
                present,
            }
        }
    };
    SyncOutcome::Return(ReturnReason::Fault(UserFault { kind, address, pc }))
}

/// Which protection stopped the kernel, from an exception taken at EL1: `far` is FAR_EL1,
/// `guards` the guard pages under the kernel stacks. Permission faults (fault status 0b0011xx)
/// on a user address are PAN (data) or PXN (instruction fetch: every user page is PXN); on a
/// kernel address they are a store to a read-only page or a fetch from an execute-never one.
pub fn explain_kernel_fault(
    esr: u64,
    far: u64,
    guards: &[GuardRange],
    user_end: u64,
    software_pan: bool,
) -> KernelFault {
    let class = exception_class(esr);
    let execute = match class {
        ec::DATA_ABORT_SAME => false,
        ec::INSTRUCTION_ABORT_SAME => true,
        _ => return KernelFault::Other,
    };
    let iss = esr & 0x01ff_ffff;
    // FnV: FAR is not valid, nothing can be said about the address.
    if iss & (1 << 10) != 0 {
        return KernelFault::Other;
    }
    if guards.iter().any(|g| g.contains(far)) {
        return KernelFault::StackGuard { address: far };
    }
    let write = !execute && iss & (1 << 6) != 0 && iss & (1 << 8) == 0;
    let translation = matches!(iss & 0x3f, 0x04..=0x07);
    if software_pan && translation && far < user_end {
        // The kernel runs with the idle table in TTBR0: every user address fails to translate.
        return if execute {
            KernelFault::UserExecute {
                address: far,
                protection: "software PAN",
            }
        } else {
            KernelFault::UserAccess {
                address: far,
                write,
                protection: "software PAN",
            }
        };
    }
    let permission = matches!(iss & 0x3f, 0x0c..=0x0f);
    if !permission {
        return KernelFault::Other;
    }
    match (far < user_end, execute) {
        (true, false) => KernelFault::UserAccess {
            address: far,
            write,
            protection: "PAN",
        },
        (true, true) => KernelFault::UserExecute {
            address: far,
            protection: "PXN",
        },
        (false, true) => KernelFault::ExecuteNever {
            address: far,
            protection: "PXN",
        },
        (false, false) if write => KernelFault::WriteReadOnly { address: far },
        (false, false) => KernelFault::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esr(ec: u64, iss: u64) -> u64 {
        (ec << 26) | (1 << 25) | iss
    }

    fn fault_of(o: SyncOutcome) -> UserFault {
        match o {
            SyncOutcome::Return(ReturnReason::Fault(f)) => f,
            other => panic!("expected a fault, got {other:?}"),
        }
    }

    #[test]
    fn svc_is_a_syscall_and_wfi_is_skipped() {
        assert_eq!(
            classify(esr(ec::SVC64, 0), 0, 0x1000, 0),
            SyncOutcome::Return(ReturnReason::Syscall)
        );
        assert_eq!(
            classify(esr(ec::WFX, 0), 0, 0x1000, 0),
            SyncOutcome::SkipInstruction
        );
    }

    #[test]
    fn data_aborts() {
        // Translation fault level 3, read.
        let f = fault_of(classify(
            esr(ec::DATA_ABORT_LOWER, 0x07),
            0xdead_0000,
            0x40_0000,
            0,
        ));
        assert_eq!(
            f.kind,
            FaultKind::PageFault {
                write: false,
                execute: false,
                present: false
            }
        );
        assert_eq!((f.address, f.pc), (0xdead_0000, 0x40_0000));
        // Permission fault level 3, write.
        let f = fault_of(classify(
            esr(ec::DATA_ABORT_LOWER, 0x0f | 1 << 6),
            0x40_0010,
            0x40_0004,
            0,
        ));
        assert_eq!(
            f.kind,
            FaultKind::PageFault {
                write: true,
                execute: false,
                present: true
            }
        );
        // Cache maintenance on an unmapped page: not a write.
        let f = fault_of(classify(
            esr(ec::DATA_ABORT_LOWER, 0x06 | 1 << 6 | 1 << 8),
            0x9000,
            0x40_0000,
            0,
        ));
        assert_eq!(
            f.kind,
            FaultKind::PageFault {
                write: false,
                execute: false,
                present: false
            }
        );
        // Alignment fault.
        let f = fault_of(classify(
            esr(ec::DATA_ABORT_LOWER, 0x21),
            0x40_0001,
            0x40_0000,
            0,
        ));
        assert_eq!(f.kind, FaultKind::Alignment);
        assert_eq!(f.address, 0x40_0001);
        // FAR not valid: report the pc.
        let f = fault_of(classify(
            esr(ec::DATA_ABORT_LOWER, 0x10 | 1 << 10),
            0x1234,
            0x40_0000,
            0,
        ));
        assert_eq!(f.address, 0x40_0000);
    }

    #[test]
    fn instruction_aborts_are_execute_faults() {
        let f = fault_of(classify(
            esr(ec::INSTRUCTION_ABORT_LOWER, 0x0f),
            0x40_2000,
            0x40_2000,
            0,
        ));
        assert_eq!(
            f.kind,
            FaultKind::PageFault {
                write: false,
                execute: true,
                present: true
            }
        );
        let f = fault_of(classify(
            esr(ec::INSTRUCTION_ABORT_LOWER, 0x05 | 1 << 6),
            0x0,
            0x0,
            0,
        ));
        assert_eq!(
            f.kind,
            FaultKind::PageFault {
                write: false,
                execute: true,
                present: false
            }
        );
    }

    #[test]
    fn other_classes() {
        let cases = [
            (ec::UNKNOWN, FaultKind::IllegalInstruction),
            (ec::MSR_MRS, FaultKind::IllegalInstruction),
            (ec::ILLEGAL_STATE, FaultKind::IllegalInstruction),
            (0x19, FaultKind::IllegalInstruction), // SVE disabled
            (ec::BRK64, FaultKind::Breakpoint),
            (ec::SOFTWARE_STEP_LOWER, FaultKind::Breakpoint),
            (ec::BREAKPOINT_LOWER, FaultKind::Breakpoint),
            (ec::FP_EXCEPTION64, FaultKind::FloatingPoint),
            (ec::PC_ALIGNMENT, FaultKind::Alignment),
        ];
        for (class, kind) in cases {
            let f = fault_of(classify(esr(class, 0), 0x40_0002, 0x40_0002, 0x7fff_0008));
            assert_eq!(f.kind, kind, "EC {class:#x}");
            assert_eq!(f.pc, 0x40_0002);
        }
        let f = fault_of(classify(
            esr(ec::SP_ALIGNMENT, 0),
            0,
            0x40_0000,
            0x7fff_0008,
        ));
        assert_eq!((f.kind, f.address), (FaultKind::Alignment, 0x7fff_0008));
    }

    #[test]
    fn kernel_faults_name_the_protection() {
        const USER_END: u64 = 0x0001_0000_0000_0000;
        let guards = [GuardRange {
            start: 0xffff_ffff_8040_0000,
            end: 0xffff_ffff_8040_1000,
        }];
        let explain = |esr, far| explain_kernel_fault(esr, far, &guards, USER_END, false);
        const PERMISSION_L3: u64 = 0x0f;
        const TRANSLATION_L3: u64 = 0x07;
        const WNR: u64 = 1 << 6;
        assert_eq!(
            explain(esr(ec::DATA_ABORT_SAME, PERMISSION_L3), 0xffff_f000),
            KernelFault::UserAccess {
                address: 0xffff_f000,
                write: false,
                protection: "PAN"
            }
        );
        assert_eq!(
            explain(esr(ec::DATA_ABORT_SAME, PERMISSION_L3 | WNR), 0xffff_f000),
            KernelFault::UserAccess {
                address: 0xffff_f000,
                write: true,
                protection: "PAN"
            }
        );
        assert_eq!(
            explain(esr(ec::INSTRUCTION_ABORT_SAME, PERMISSION_L3), 0x40_1000),
            KernelFault::UserExecute {
                address: 0x40_1000,
                protection: "PXN"
            }
        );
        assert_eq!(
            explain(
                esr(ec::DATA_ABORT_SAME, PERMISSION_L3 | WNR),
                0xffff_ffff_8000_1000
            ),
            KernelFault::WriteReadOnly {
                address: 0xffff_ffff_8000_1000
            }
        );
        assert_eq!(
            explain(
                esr(ec::INSTRUCTION_ABORT_SAME, PERMISSION_L3),
                0xffff_ffff_8050_0000
            ),
            KernelFault::ExecuteNever {
                address: 0xffff_ffff_8050_0000,
                protection: "PXN"
            }
        );
        // The guard page is unmapped: a translation fault there is a stack overflow.
        assert_eq!(
            explain(
                esr(ec::DATA_ABORT_SAME, TRANSLATION_L3 | WNR),
                0xffff_ffff_8040_0ff0
            ),
            KernelFault::StackGuard {
                address: 0xffff_ffff_8040_0ff0
            }
        );
        // Missing pages, FAR not valid, aborts from EL0 and other classes: not protections.
        assert_eq!(
            explain(esr(ec::DATA_ABORT_SAME, TRANSLATION_L3), 0x1000),
            KernelFault::Other
        );
        assert_eq!(
            explain(esr(ec::DATA_ABORT_SAME, PERMISSION_L3 | (1 << 10)), 0x1000),
            KernelFault::Other
        );
        assert_eq!(
            explain(esr(ec::DATA_ABORT_LOWER, PERMISSION_L3), 0x1000),
            KernelFault::Other
        );
        assert_eq!(explain(esr(ec::UNKNOWN, 0), 0x1000), KernelFault::Other);
        // With software PAN the user tables are out of TTBR0: a translation fault on a user
        // address is the protection at work; on a kernel address it is still a plain bug.
        let with_software_pan = |esr, far| explain_kernel_fault(esr, far, &guards, USER_END, true);
        const TRANSLATION_L0: u64 = 0x04;
        assert_eq!(
            with_software_pan(esr(ec::DATA_ABORT_SAME, TRANSLATION_L0 | WNR), 0x7fff_f000),
            KernelFault::UserAccess {
                address: 0x7fff_f000,
                write: true,
                protection: "software PAN"
            }
        );
        assert_eq!(
            with_software_pan(esr(ec::INSTRUCTION_ABORT_SAME, TRANSLATION_L0), 0x40_1000),
            KernelFault::UserExecute {
                address: 0x40_1000,
                protection: "software PAN"
            }
        );
        assert_eq!(
            with_software_pan(
                esr(ec::DATA_ABORT_SAME, TRANSLATION_L3),
                0xffff_ffff_9000_0000
            ),
            KernelFault::Other
        );
    }
}
