//! Linux signals as the core sees them (numbers and semantics are the same on x86_64 and
//! AArch64): signal sets, `struct sigaction`, `siginfo_t` encoding, default actions, and what a
//! user fault means as a signal. Delivery (which signal, when, on which stack) lives in
//! [`crate::sched`]; the frame layout is the arch's (`Arch::push_signal_frame`).

use hal::user::{FaultKind, UserFault};

pub const SIGHUP: u32 = 1;
pub const SIGINT: u32 = 2;
pub const SIGQUIT: u32 = 3;
pub const SIGILL: u32 = 4;
pub const SIGTRAP: u32 = 5;
pub const SIGABRT: u32 = 6;
pub const SIGBUS: u32 = 7;
pub const SIGFPE: u32 = 8;
pub const SIGKILL: u32 = 9;
pub const SIGUSR1: u32 = 10;
pub const SIGSEGV: u32 = 11;
pub const SIGUSR2: u32 = 12;
pub const SIGPIPE: u32 = 13;
pub const SIGALRM: u32 = 14;
pub const SIGTERM: u32 = 15;
pub const SIGCHLD: u32 = 17;
pub const SIGCONT: u32 = 18;
pub const SIGSTOP: u32 = 19;
pub const SIGTSTP: u32 = 20;
pub const SIGTTIN: u32 = 21;
pub const SIGTTOU: u32 = 22;
pub const SIGURG: u32 = 23;
pub const SIGXCPU: u32 = 24;
pub const SIGXFSZ: u32 = 25;
pub const SIGWINCH: u32 = 28;
pub const SIGSYS: u32 = 31;
/// Signals are 1..=64 (`_NSIG`).
pub const NSIG: u32 = 64;

/// `sa_flags` bits (identical on both arches).
pub const SA_NOCLDSTOP: u64 = 0x1;
pub const SA_NOCLDWAIT: u64 = 0x2;
pub const SA_SIGINFO: u64 = 0x4;
pub const SA_RESTORER: u64 = 0x0400_0000;
pub const SA_ONSTACK: u64 = 0x0800_0000;
pub const SA_RESTART: u64 = 0x1000_0000;
pub const SA_NODEFER: u64 = 0x4000_0000;
pub const SA_RESETHAND: u64 = 0x8000_0000;

pub const SIG_DFL: u64 = 0;
pub const SIG_IGN: u64 = 1;

/// `si_code` values used by the kernel.
pub const SI_USER: i32 = 0;
pub const SI_TKILL: i32 = -6;
pub const SEGV_MAPERR: i32 = 1;
pub const SEGV_ACCERR: i32 = 2;
pub const BUS_ADRALN: i32 = 1;
pub const ILL_ILLOPC: i32 = 1;
pub const ILL_ILLOPN: i32 = 2;
pub const FPE_INTDIV: i32 = 1;
pub const FPE_FLTINV: i32 = 7;
pub const TRAP_BRKPT: i32 = 1;
pub const CLD_EXITED: i32 = 1;
pub const CLD_KILLED: i32 = 2;
pub const CLD_DUMPED: i32 = 3;
pub const CLD_STOPPED: i32 = 5;
pub const CLD_CONTINUED: i32 = 6;

/// A set of signals: bit `n - 1` is signal `n`, exactly as the kernel's `sigset_t` on 64-bit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigSet(pub u64);

impl SigSet {
    pub const EMPTY: Self = Self(0);
    /// SIGKILL and SIGSTOP can never be blocked, caught or ignored.
    pub const UNBLOCKABLE: Self = Self(bit(SIGKILL) | bit(SIGSTOP));

    pub const fn of(signal: u32) -> Self {
        Self(bit(signal))
    }
    pub const fn contains(self, signal: u32) -> bool {
        self.0 & bit(signal) != 0
    }
    pub fn insert(&mut self, signal: u32) {
        self.0 |= bit(signal);
    }
    pub fn remove(&mut self, signal: u32) {
        self.0 &= !bit(signal);
    }
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
    pub const fn minus(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }
    /// What a user-supplied mask may actually block.
    pub const fn sanitized(self) -> Self {
        self.minus(Self::UNBLOCKABLE)
    }
    /// The lowest-numbered signal in the set (Linux delivers synchronous, low signals first).
    pub fn lowest(self) -> Option<u32> {
        (self.0 != 0).then(|| self.0.trailing_zeros() + 1)
    }
}

const fn bit(signal: u32) -> u64 {
    if signal >= 1 && signal <= NSIG {
        1 << (signal - 1)
    } else {
        0
    }
}

pub fn valid(signal: u32) -> bool {
    (1..=NSIG).contains(&signal)
}

/// Signals waiting for delivery with their `siginfo`. A standard signal (1..=31) is pending at
/// most once; a real-time signal (32..=64) queues every instance, as POSIX requires.
#[derive(Clone, Debug, Default)]
pub struct PendingSignals {
    set: SigSet,
    info: alloc::collections::BTreeMap<u32, alloc::collections::VecDeque<SigInfo>>,
}

/// The first real-time signal number the kernel knows (SIGRTMIN in the kernel ABI).
pub const SIGRTMIN_KERNEL: u32 = 32;
/// Bound on queued real-time instances per signal (Linux bounds the total by RLIMIT_SIGPENDING).
const MAX_QUEUED: usize = 4096;

impl PendingSignals {
    pub fn set(&self) -> SigSet {
        self.set
    }

    pub fn contains(&self, signal: u32) -> bool {
        self.set.contains(signal)
    }

    /// Queues `info`; a standard signal already pending is not queued twice.
    pub fn add(&mut self, info: SigInfo) {
        let queue = self.info.entry(info.signal).or_default();
        if queue.is_empty() || (info.signal >= SIGRTMIN_KERNEL && queue.len() < MAX_QUEUED) {
            queue.push_back(info);
        }
        self.set.insert(info.signal);
    }

    /// Takes the oldest instance of `signal`.
    pub fn take(&mut self, signal: u32) -> Option<SigInfo> {
        if !self.set.contains(signal) {
            return None;
        }
        let queue = self.info.get_mut(&signal)?;
        let info = queue.pop_front();
        if queue.is_empty() {
            self.info.remove(&signal);
            self.set.remove(signal);
        }
        info
    }

    /// Discards every instance of `signal`.
    pub fn discard(&mut self, signal: u32) {
        self.info.remove(&signal);
        self.set.remove(signal);
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

/// `struct sigaction` as the kernel ABI has it on both arches: handler, flags, restorer, mask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: SigSet,
}

impl SigAction {
    pub const SIZE: usize = 32;

    pub fn from_bytes(raw: &[u8; 32]) -> Self {
        let word = |i: usize| u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap());
        Self {
            handler: word(0),
            flags: word(1),
            restorer: word(2),
            mask: SigSet(word(3)),
        }
    }

    pub fn to_bytes(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, w) in [self.handler, self.flags, self.restorer, self.mask.0]
            .into_iter()
            .enumerate()
        {
            out[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

/// What happens when a signal with `SIG_DFL` arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    Terminate,
    /// Terminate and report a core dump in the wait status (no core file is written).
    Core,
    Stop,
    Continue,
    Ignore,
}

pub fn default_action(signal: u32) -> DefaultAction {
    match signal {
        SIGCHLD | SIGURG | SIGWINCH => DefaultAction::Ignore,
        SIGCONT => DefaultAction::Continue,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => DefaultAction::Stop,
        SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGBUS | SIGFPE | SIGSEGV | SIGXCPU | SIGXFSZ
        | SIGSYS => DefaultAction::Core,
        _ => DefaultAction::Terminate,
    }
}

/// The information a signal carries, encoded as `siginfo_t` (128 bytes; same layout on both
/// arches: si_signo, si_errno, si_code, then the union at offset 16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SigInfo {
    pub signal: u32,
    pub code: i32,
    pub fields: SigFields,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigFields {
    /// kill/tkill/tgkill: sender pid and uid.
    Kill { pid: u32, uid: u32 },
    /// Faults: the faulting address.
    Fault { address: u64 },
    /// SIGCHLD: the child, its uid, its status, its user and system time in clock ticks.
    Child {
        pid: u32,
        uid: u32,
        status: i32,
        utime: u64,
        stime: u64,
    },
}

impl SigInfo {
    pub fn user(signal: u32, code: i32, pid: u32) -> Self {
        Self {
            signal,
            code,
            fields: SigFields::Kill { pid, uid: 0 },
        }
    }

    pub fn to_bytes(&self) -> [u8; 128] {
        let mut out = [0u8; 128];
        out[0..4].copy_from_slice(&self.signal.to_le_bytes());
        out[8..12].copy_from_slice(&self.code.to_le_bytes());
        match self.fields {
            SigFields::Kill { pid, uid } => {
                out[16..20].copy_from_slice(&pid.to_le_bytes());
                out[20..24].copy_from_slice(&uid.to_le_bytes());
            }
            SigFields::Fault { address } => out[16..24].copy_from_slice(&address.to_le_bytes()),
            SigFields::Child {
                pid,
                uid,
                status,
                utime,
                stime,
            } => {
                out[16..20].copy_from_slice(&pid.to_le_bytes());
                out[20..24].copy_from_slice(&uid.to_le_bytes());
                out[24..28].copy_from_slice(&status.to_le_bytes());
                out[32..40].copy_from_slice(&utime.to_le_bytes());
                out[40..48].copy_from_slice(&stime.to_le_bytes());
            }
        }
        out
    }
}

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

/// The signal Linux delivers for a user fault, its `si_code`, and a short description for the
/// kernel's report.
pub fn for_fault(fault: &UserFault) -> (SigInfo, &'static str) {
    let (signal, code, what) = match fault.kind {
        FaultKind::PageFault { present: false, .. } => {
            (SIGSEGV, SEGV_MAPERR, "page fault (not mapped)")
        }
        FaultKind::PageFault { execute: true, .. } => {
            (SIGSEGV, SEGV_ACCERR, "page fault (execute denied)")
        }
        FaultKind::PageFault { write: true, .. } => {
            (SIGSEGV, SEGV_ACCERR, "page fault (write denied)")
        }
        FaultKind::PageFault { .. } => (SIGSEGV, SEGV_ACCERR, "page fault (access denied)"),
        // Linux reports #GP with si_code SI_KERNEL (0x80) and address 0.
        FaultKind::GeneralProtection => (SIGSEGV, 0x80, "general protection fault"),
        FaultKind::IllegalInstruction => (SIGILL, ILL_ILLOPC, "illegal instruction"),
        FaultKind::InvalidOpcode => (SIGILL, ILL_ILLOPN, "invalid opcode"),
        FaultKind::Alignment => (SIGBUS, BUS_ADRALN, "alignment fault"),
        FaultKind::SegmentFault => (SIGBUS, 0x80, "segment fault"),
        FaultKind::DivideError => (SIGFPE, FPE_INTDIV, "divide error"),
        FaultKind::FloatingPoint => (SIGFPE, FPE_FLTINV, "floating-point exception"),
        FaultKind::Breakpoint => (SIGTRAP, TRAP_BRKPT, "breakpoint"),
    };
    let address = match fault.kind {
        FaultKind::GeneralProtection | FaultKind::SegmentFault => 0,
        _ => fault.address,
    };
    (
        SigInfo {
            signal,
            code,
            fields: SigFields::Fault { address },
        },
        what,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(kind: FaultKind) -> UserFault {
        UserFault {
            kind,
            address: 0x1234,
            pc: 0x400000,
        }
    }

    #[test]
    fn faults_map_to_linux_signals() {
        let pf = FaultKind::PageFault {
            write: true,
            execute: false,
            present: false,
        };
        assert_eq!(for_fault(&fault(pf)).0.signal, SIGSEGV);
        assert_eq!(for_fault(&fault(pf)).0.code, SEGV_MAPERR);
        let denied = FaultKind::PageFault {
            write: true,
            execute: false,
            present: true,
        };
        assert_eq!(for_fault(&fault(denied)).0.code, SEGV_ACCERR);
        assert_eq!(
            for_fault(&fault(FaultKind::IllegalInstruction)).0.signal,
            SIGILL
        );
        assert_eq!(for_fault(&fault(FaultKind::Alignment)).0.signal, SIGBUS);
        assert_eq!(for_fault(&fault(FaultKind::SegmentFault)).0.signal, SIGBUS);
        assert_eq!(for_fault(&fault(FaultKind::DivideError)).0.signal, SIGFPE);
        assert_eq!(for_fault(&fault(FaultKind::Breakpoint)).0.signal, SIGTRAP);
        assert_eq!(
            for_fault(&fault(FaultKind::GeneralProtection)).0.signal,
            SIGSEGV
        );
    }

    #[test]
    fn fault_siginfo_carries_the_address() {
        let pf = FaultKind::PageFault {
            write: false,
            execute: false,
            present: false,
        };
        let bytes = for_fault(&fault(pf)).0.to_bytes();
        assert_eq!(u32::from_le_bytes(bytes[0..4].try_into().unwrap()), SIGSEGV);
        assert_eq!(
            i32::from_le_bytes(bytes[8..12].try_into().unwrap()),
            SEGV_MAPERR
        );
        assert_eq!(
            u64::from_le_bytes(bytes[16..24].try_into().unwrap()),
            0x1234
        );
    }

    #[test]
    fn sets_and_actions() {
        let mut s = SigSet::EMPTY;
        s.insert(SIGCHLD);
        s.insert(SIGKILL);
        assert!(s.contains(SIGCHLD));
        assert_eq!(s.lowest(), Some(SIGKILL));
        assert_eq!(s.sanitized(), SigSet::of(SIGCHLD));
        assert_eq!(SigSet::of(0), SigSet::EMPTY);
        assert_eq!(SigSet::of(65), SigSet::EMPTY);
        assert_eq!(SigSet::of(64), SigSet(1 << 63));
        assert_eq!(default_action(SIGCHLD), DefaultAction::Ignore);
        assert_eq!(default_action(SIGSEGV), DefaultAction::Core);
        assert_eq!(default_action(SIGTERM), DefaultAction::Terminate);
        assert_eq!(default_action(SIGTSTP), DefaultAction::Stop);
        assert_eq!(default_action(40), DefaultAction::Terminate);
        let act = SigAction {
            handler: 0x401000,
            flags: SA_SIGINFO | SA_RESTORER,
            restorer: 0x402000,
            mask: SigSet(0x5),
        };
        assert_eq!(SigAction::from_bytes(&act.to_bytes()), act);
    }

    #[test]
    fn standard_signals_coalesce_and_realtime_signals_queue() {
        let mut p = PendingSignals::default();
        p.add(SigInfo::user(SIGUSR1, SI_USER, 1));
        p.add(SigInfo::user(SIGUSR1, SI_USER, 2));
        p.add(SigInfo::user(40, SI_USER, 3));
        p.add(SigInfo::user(40, SI_USER, 4));
        assert_eq!(
            p.take(SIGUSR1).map(|i| i.fields),
            Some(SigFields::Kill { pid: 1, uid: 0 })
        );
        assert!(!p.contains(SIGUSR1));
        assert_eq!(
            p.take(40).map(|i| i.fields),
            Some(SigFields::Kill { pid: 3, uid: 0 })
        );
        assert!(p.contains(40));
        assert_eq!(
            p.take(40).map(|i| i.fields),
            Some(SigFields::Kill { pid: 4, uid: 0 })
        );
        assert_eq!(p.set(), SigSet::EMPTY);
    }

    #[test]
    fn names() {
        assert_eq!(name(SIGSEGV), "SIGSEGV");
        assert_eq!(name(SIGBUS), "SIGBUS");
        assert_eq!(name(40), "SIGRT");
    }
}
