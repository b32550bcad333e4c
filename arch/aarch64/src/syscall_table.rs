//! AArch64 Linux system call numbers → [`Sysno`]: what `x8` holds at `svc #0`.
//!
//! Data, generated from Linux 7.1.5 `scripts/syscall.tbl` (sha256
//! 222c40f91975eb2860bf4d334863005ef084fee39dd031d252ad2f2f2342d485; identical in 7.1.3), which
//! `arch/arm64/tools/syscall_64.tbl` links to: every line whose ABI is one arm64 builds for 64-bit
//! tasks — `common` and `64` (`scripts/Makefile.asm-headers`) plus `renameat rlimit memfd_secret`
//! (`arch/arm64/kernel/Makefile.syscalls`) — 327 in all: common 286, 64 37, renameat 1, rlimit 2,
//! memfd_secret 1. Lines Linux wires to `sys_ni_syscall` (`lookup_dcookie`, `nfsservctl`) keep
//! their numbers and are listed. The `64` ABI picks the 64-bit name where a 32-bit one shares the
//! number (79 `newfstatat`, 80 `fstat`, 222 `mmap`, 223 `fadvise64`, 71 `sendfile`), so these are
//! the same [`Sysno`] as on x86_64. To regenerate: take those lines, and write
//! `number => CamelCase(name),` per line in number order (a throwaway script; the lead keeps only
//! this output). Numbers not listed are unassigned on arm64 — including the arch-private range
//! 244..=259, which arm64 does not use, and the 32-bit-only time64 calls 403..=423 — and
//! [`sysno`] returns `None` for them.

#[cfg(doc)]
use hal::syscall::Sysno;

hal::syscall_table! {
    0 => IoSetup,
    1 => IoDestroy,
    2 => IoSubmit,
    3 => IoCancel,
    4 => IoGetevents,
    5 => Setxattr,
    6 => Lsetxattr,
    7 => Fsetxattr,
    8 => Getxattr,
    9 => Lgetxattr,
    10 => Fgetxattr,
    11 => Listxattr,
    12 => Llistxattr,
    13 => Flistxattr,
    14 => Removexattr,
    15 => Lremovexattr,
    16 => Fremovexattr,
    17 => Getcwd,
    18 => LookupDcookie,
    19 => Eventfd2,
    20 => EpollCreate1,
    21 => EpollCtl,
    22 => EpollPwait,
    23 => Dup,
    24 => Dup3,
    25 => Fcntl,
    26 => InotifyInit1,
    27 => InotifyAddWatch,
    28 => InotifyRmWatch,
    29 => Ioctl,
    30 => IoprioSet,
    31 => IoprioGet,
    32 => Flock,
    33 => Mknodat,
    34 => Mkdirat,
    35 => Unlinkat,
    36 => Symlinkat,
    37 => Linkat,
    38 => Renameat,
    39 => Umount2,
    40 => Mount,
    41 => PivotRoot,
    42 => Nfsservctl,
    43 => Statfs,
    44 => Fstatfs,
    45 => Truncate,
    46 => Ftruncate,
    47 => Fallocate,
    48 => Faccessat,
    49 => Chdir,
    50 => Fchdir,
    51 => Chroot,
    52 => Fchmod,
    53 => Fchmodat,
    54 => Fchownat,
    55 => Fchown,
    56 => Openat,
    57 => Close,
    58 => Vhangup,
    59 => Pipe2,
    60 => Quotactl,
    61 => Getdents64,
    62 => Lseek,
    63 => Read,
    64 => Write,
    65 => Readv,
    66 => Writev,
    67 => Pread64,
    68 => Pwrite64,
    69 => Preadv,
    70 => Pwritev,
    71 => Sendfile,
    72 => Pselect6,
    73 => Ppoll,
    74 => Signalfd4,
    75 => Vmsplice,
    76 => Splice,
    77 => Tee,
    78 => Readlinkat,
    79 => Newfstatat,
    80 => Fstat,
    81 => Sync,
    82 => Fsync,
    83 => Fdatasync,
    84 => SyncFileRange,
    85 => TimerfdCreate,
    86 => TimerfdSettime,
    87 => TimerfdGettime,
    88 => Utimensat,
    89 => Acct,
    90 => Capget,
    91 => Capset,
    92 => Personality,
    93 => Exit,
    94 => ExitGroup,
    95 => Waitid,
    96 => SetTidAddress,
    97 => Unshare,
    98 => Futex,
    99 => SetRobustList,
    100 => GetRobustList,
    101 => Nanosleep,
    102 => Getitimer,
    103 => Setitimer,
    104 => KexecLoad,
    105 => InitModule,
    106 => DeleteModule,
    107 => TimerCreate,
    108 => TimerGettime,
    109 => TimerGetoverrun,
    110 => TimerSettime,
    111 => TimerDelete,
    112 => ClockSettime,
    113 => ClockGettime,
    114 => ClockGetres,
    115 => ClockNanosleep,
    116 => Syslog,
    117 => Ptrace,
    118 => SchedSetparam,
    119 => SchedSetscheduler,
    120 => SchedGetscheduler,
    121 => SchedGetparam,
    122 => SchedSetaffinity,
    123 => SchedGetaffinity,
    124 => SchedYield,
    125 => SchedGetPriorityMax,
    126 => SchedGetPriorityMin,
    127 => SchedRrGetInterval,
    128 => RestartSyscall,
    129 => Kill,
    130 => Tkill,
    131 => Tgkill,
    132 => Sigaltstack,
    133 => RtSigsuspend,
    134 => RtSigaction,
    135 => RtSigprocmask,
    136 => RtSigpending,
    137 => RtSigtimedwait,
    138 => RtSigqueueinfo,
    139 => RtSigreturn,
    140 => Setpriority,
    141 => Getpriority,
    142 => Reboot,
    143 => Setregid,
    144 => Setgid,
    145 => Setreuid,
    146 => Setuid,
    147 => Setresuid,
    148 => Getresuid,
    149 => Setresgid,
    150 => Getresgid,
    151 => Setfsuid,
    152 => Setfsgid,
    153 => Times,
    154 => Setpgid,
    155 => Getpgid,
    156 => Getsid,
    157 => Setsid,
    158 => Getgroups,
    159 => Setgroups,
    160 => Uname,
    161 => Sethostname,
    162 => Setdomainname,
    163 => Getrlimit,
    164 => Setrlimit,
    165 => Getrusage,
    166 => Umask,
    167 => Prctl,
    168 => Getcpu,
    169 => Gettimeofday,
    170 => Settimeofday,
    171 => Adjtimex,
    172 => Getpid,
    173 => Getppid,
    174 => Getuid,
    175 => Geteuid,
    176 => Getgid,
    177 => Getegid,
    178 => Gettid,
    179 => Sysinfo,
    180 => MqOpen,
    181 => MqUnlink,
    182 => MqTimedsend,
    183 => MqTimedreceive,
    184 => MqNotify,
    185 => MqGetsetattr,
    186 => Msgget,
    187 => Msgctl,
    188 => Msgrcv,
    189 => Msgsnd,
    190 => Semget,
    191 => Semctl,
    192 => Semtimedop,
    193 => Semop,
    194 => Shmget,
    195 => Shmctl,
    196 => Shmat,
    197 => Shmdt,
    198 => Socket,
    199 => Socketpair,
    200 => Bind,
    201 => Listen,
    202 => Accept,
    203 => Connect,
    204 => Getsockname,
    205 => Getpeername,
    206 => Sendto,
    207 => Recvfrom,
    208 => Setsockopt,
    209 => Getsockopt,
    210 => Shutdown,
    211 => Sendmsg,
    212 => Recvmsg,
    213 => Readahead,
    214 => Brk,
    215 => Munmap,
    216 => Mremap,
    217 => AddKey,
    218 => RequestKey,
    219 => Keyctl,
    220 => Clone,
    221 => Execve,
    222 => Mmap,
    223 => Fadvise64,
    224 => Swapon,
    225 => Swapoff,
    226 => Mprotect,
    227 => Msync,
    228 => Mlock,
    229 => Munlock,
    230 => Mlockall,
    231 => Munlockall,
    232 => Mincore,
    233 => Madvise,
    234 => RemapFilePages,
    235 => Mbind,
    236 => GetMempolicy,
    237 => SetMempolicy,
    238 => MigratePages,
    239 => MovePages,
    240 => RtTgsigqueueinfo,
    241 => PerfEventOpen,
    242 => Accept4,
    243 => Recvmmsg,
    // 244..=259: unassigned on this architecture.
    260 => Wait4,
    261 => Prlimit64,
    262 => FanotifyInit,
    263 => FanotifyMark,
    264 => NameToHandleAt,
    265 => OpenByHandleAt,
    266 => ClockAdjtime,
    267 => Syncfs,
    268 => Setns,
    269 => Sendmmsg,
    270 => ProcessVmReadv,
    271 => ProcessVmWritev,
    272 => Kcmp,
    273 => FinitModule,
    274 => SchedSetattr,
    275 => SchedGetattr,
    276 => Renameat2,
    277 => Seccomp,
    278 => Getrandom,
    279 => MemfdCreate,
    280 => Bpf,
    281 => Execveat,
    282 => Userfaultfd,
    283 => Membarrier,
    284 => Mlock2,
    285 => CopyFileRange,
    286 => Preadv2,
    287 => Pwritev2,
    288 => PkeyMprotect,
    289 => PkeyAlloc,
    290 => PkeyFree,
    291 => Statx,
    292 => IoPgetevents,
    293 => Rseq,
    294 => KexecFileLoad,
    // 295..=423: unassigned on this architecture.
    424 => PidfdSendSignal,
    425 => IoUringSetup,
    426 => IoUringEnter,
    427 => IoUringRegister,
    428 => OpenTree,
    429 => MoveMount,
    430 => Fsopen,
    431 => Fsconfig,
    432 => Fsmount,
    433 => Fspick,
    434 => PidfdOpen,
    435 => Clone3,
    436 => CloseRange,
    437 => Openat2,
    438 => PidfdGetfd,
    439 => Faccessat2,
    440 => ProcessMadvise,
    441 => EpollPwait2,
    442 => MountSetattr,
    443 => QuotactlFd,
    444 => LandlockCreateRuleset,
    445 => LandlockAddRule,
    446 => LandlockRestrictSelf,
    447 => MemfdSecret,
    448 => ProcessMrelease,
    449 => FutexWaitv,
    450 => SetMempolicyHomeNode,
    451 => Cachestat,
    452 => Fchmodat2,
    453 => MapShadowStack,
    454 => FutexWake,
    455 => FutexWait,
    456 => FutexRequeue,
    457 => Statmount,
    458 => Listmount,
    459 => LsmGetSelfAttr,
    460 => LsmSetSelfAttr,
    461 => LsmListModules,
    462 => Mseal,
    463 => Setxattrat,
    464 => Getxattrat,
    465 => Listxattrat,
    466 => Removexattrat,
    467 => OpenTreeAttr,
    468 => FileGetattr,
    469 => FileSetattr,
    470 => Listns,
    471 => RseqSliceYield,
}

#[cfg(test)]
mod tests {
    use super::{TABLE, number, sysno};
    use hal::syscall::Sysno;
    use std::collections::BTreeSet;

    /// Lines with ABI `common` (286), `64` (37), `renameat` (1), `rlimit` (2) or
    /// `memfd_secret` (1) in Linux 7.1.5's scripts/syscall.tbl.
    const LINUX_TABLE_ENTRIES: usize = 327;

    /// The calls only x86_64 has, computed from the two Linux tables (x86_64 names minus arm64
    /// names): legacy path-based and non-`at` calls that asm-generic never adopted, the
    /// x86-specific ones, and numbers x86_64 keeps reserved for removed calls.
    const X86_64_ONLY: &[Sysno] = &[
        Sysno::Access,
        Sysno::AfsSyscall,
        Sysno::Alarm,
        Sysno::ArchPrctl,
        Sysno::Chmod,
        Sysno::Chown,
        Sysno::Creat,
        Sysno::CreateModule,
        Sysno::Dup2,
        Sysno::EpollCreate,
        Sysno::EpollCtlOld,
        Sysno::EpollWait,
        Sysno::EpollWaitOld,
        Sysno::Eventfd,
        Sysno::Fork,
        Sysno::Futimesat,
        Sysno::GetKernelSyms,
        Sysno::GetThreadArea,
        Sysno::Getdents,
        Sysno::Getpgrp,
        Sysno::Getpmsg,
        Sysno::InotifyInit,
        Sysno::Ioperm,
        Sysno::Iopl,
        Sysno::Lchown,
        Sysno::Link,
        Sysno::Lstat,
        Sysno::Mkdir,
        Sysno::Mknod,
        Sysno::ModifyLdt,
        Sysno::Open,
        Sysno::Pause,
        Sysno::Pipe,
        Sysno::Poll,
        Sysno::Putpmsg,
        Sysno::QueryModule,
        Sysno::Readlink,
        Sysno::Rename,
        Sysno::Rmdir,
        Sysno::Security,
        Sysno::Select,
        Sysno::SetThreadArea,
        Sysno::Signalfd,
        Sysno::Stat,
        Sysno::Symlink,
        Sysno::Sysctl,
        Sysno::Sysfs,
        Sysno::Time,
        Sysno::Tuxcall,
        Sysno::Unlink,
        Sysno::Uprobe,
        Sysno::Uretprobe,
        Sysno::Uselib,
        Sysno::Ustat,
        Sysno::Utime,
        Sysno::Utimes,
        Sysno::Vfork,
        Sysno::Vserver,
    ];

    #[test]
    fn entry_count_matches_linux_table() {
        assert_eq!(TABLE.len(), LINUX_TABLE_ENTRIES);
    }

    #[test]
    fn no_number_or_call_appears_twice() {
        let numbers: BTreeSet<u64> = TABLE.iter().map(|&(nr, _)| nr).collect();
        let calls: BTreeSet<Sysno> = TABLE.iter().map(|&(_, call)| call).collect();
        assert_eq!(numbers.len(), TABLE.len());
        assert_eq!(calls.len(), TABLE.len());
    }

    #[test]
    fn sysno_and_number_round_trip_for_every_entry() {
        for &(nr, call) in TABLE {
            assert_eq!(sysno(nr), Some(call), "sysno({nr})");
            assert_eq!(number(call), Some(nr), "number({call:?})");
        }
    }

    #[test]
    fn numbers_outside_the_table_are_unassigned() {
        for nr in 0..2048 {
            if !TABLE.iter().any(|&(n, _)| n == nr) {
                assert_eq!(sysno(nr), None, "sysno({nr})");
            }
        }
    }

    #[test]
    fn spot_checks() {
        let expected = [
            (0, Sysno::IoSetup),
            (18, Sysno::LookupDcookie),
            (25, Sysno::Fcntl),
            (38, Sysno::Renameat),
            (42, Sysno::Nfsservctl),
            (56, Sysno::Openat),
            (62, Sysno::Lseek),
            (63, Sysno::Read),
            (64, Sysno::Write),
            (71, Sysno::Sendfile),
            (79, Sysno::Newfstatat),
            (80, Sysno::Fstat),
            (93, Sysno::Exit),
            (94, Sysno::ExitGroup),
            (134, Sysno::RtSigaction),
            (160, Sysno::Uname),
            (163, Sysno::Getrlimit),
            (172, Sysno::Getpid),
            (214, Sysno::Brk),
            (220, Sysno::Clone),
            (221, Sysno::Execve),
            (222, Sysno::Mmap),
            (223, Sysno::Fadvise64),
            (243, Sysno::Recvmmsg),
            (260, Sysno::Wait4),
            (293, Sysno::Rseq),
            (294, Sysno::KexecFileLoad),
            (424, Sysno::PidfdSendSignal),
            (447, Sysno::MemfdSecret),
            (471, Sysno::RseqSliceYield),
        ];
        for (nr, call) in expected {
            assert_eq!(sysno(nr), Some(call), "sysno({nr})");
            assert_eq!(number(call), Some(nr), "number({call:?})");
        }
    }

    #[test]
    fn unassigned_numbers_are_none() {
        // 244..=259: arch-private range arm64 leaves empty; 295..=402 unassigned; 403 and 423
        // are 32-bit-only time64 calls; 472 is past the newest call.
        for nr in [244, 259, 295, 402, 403, 423, 472, 0xffff, u64::MAX] {
            assert_eq!(sysno(nr), None, "sysno({nr:#x})");
        }
    }

    #[test]
    fn x86_only_calls_have_no_number() {
        for call in [
            Sysno::Open,
            Sysno::Fork,
            Sysno::ArchPrctl,
            Sysno::Iopl,
            Sysno::Stat,
        ] {
            assert_eq!(number(call), None, "number({call:?})");
        }
    }

    #[test]
    fn missing_calls_are_exactly_the_x86_64_only_set() {
        let missing: Vec<Sysno> = Sysno::ALL
            .iter()
            .copied()
            .filter(|&c| number(c).is_none())
            .collect();
        assert_eq!(missing, X86_64_ONLY);
        assert_eq!(TABLE.len() + X86_64_ONLY.len(), Sysno::ALL.len());
    }
}
