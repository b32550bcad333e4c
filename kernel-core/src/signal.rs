//! Linux signal numbers (identical on x86_64 and AArch64) and what a user fault means as a signal.

use hal::user::{FaultKind, UserFault};

pub const SIGILL: u32 = 4;
pub const SIGTRAP: u32 = 5;
pub const SIGBUS: u32 = 7;
pub const SIGFPE: u32 = 8;
pub const SIGKILL: u32 = 9;
pub const SIGSEGV: u32 = 11;

/// The signal's name as `kill -l` prints it, for kernel messages.
pub fn name(signal: u32) -> &'static str {
    const NAMES: [&str; 32] = [
        "SIG0",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    NAMES.get(signal as usize).copied().unwrap_or("SIGRT")
}

/// The signal Linux delivers for a user fault, and a short description for the kernel's report.
pub fn for_fault(fault: &UserFault) -> (u32, &'static str) {
    match fault.kind {
        FaultKind::PageFault { present: false, .. } => (SIGSEGV, "page fault (not mapped)"),
        FaultKind::PageFault { execute: true, .. } => (SIGSEGV, "page fault (execute denied)"),
        FaultKind::PageFault { write: true, .. } => (SIGSEGV, "page fault (write denied)"),
        FaultKind::PageFault { .. } => (SIGSEGV, "page fault (access denied)"),
        FaultKind::GeneralProtection => (SIGSEGV, "general protection fault"),
        FaultKind::IllegalInstruction => (SIGILL, "illegal instruction"),
        FaultKind::Alignment => (SIGBUS, "alignment fault"),
        FaultKind::SegmentFault => (SIGBUS, "segment fault"),
        FaultKind::DivideError => (SIGFPE, "divide error"),
        FaultKind::FloatingPoint => (SIGFPE, "floating-point exception"),
        FaultKind::Breakpoint => (SIGTRAP, "breakpoint"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(kind: FaultKind) -> UserFault {
        UserFault {
            kind,
            address: 0,
            pc: 0,
        }
    }

    #[test]
    fn faults_map_to_linux_signals() {
        let pf = FaultKind::PageFault {
            write: true,
            execute: false,
            present: false,
        };
        assert_eq!(for_fault(&fault(pf)).0, SIGSEGV);
        assert_eq!(for_fault(&fault(FaultKind::IllegalInstruction)).0, SIGILL);
        assert_eq!(for_fault(&fault(FaultKind::Alignment)).0, SIGBUS);
        assert_eq!(for_fault(&fault(FaultKind::SegmentFault)).0, SIGBUS);
        assert_eq!(for_fault(&fault(FaultKind::DivideError)).0, SIGFPE);
        assert_eq!(for_fault(&fault(FaultKind::Breakpoint)).0, SIGTRAP);
        assert_eq!(for_fault(&fault(FaultKind::GeneralProtection)).0, SIGSEGV);
    }

    #[test]
    fn names() {
        assert_eq!(name(SIGSEGV), "SIGSEGV");
        assert_eq!(name(SIGBUS), "SIGBUS");
        assert_eq!(name(SIGILL), "SIGILL");
        assert_eq!(name(40), "SIGRT");
    }
}
