//! The arch-neutral identity of a Linux system call ([`Sysno`]), and the
//! [`syscall_table!`](crate::syscall_table) macro with which each architecture maps its own Linux
//! syscall numbers onto it.
//!
//! Names and numbers are kept apart because the two architectures number the same call
//! differently (`write` is 1 on x86_64 and 64 on AArch64) and x86_64 keeps legacy calls AArch64
//! never had (`open`, `fork`, `arch_prctl`, ...). The core dispatches on [`Sysno`] only; each arch
//! crate's `syscall_table.rs` owns its numbers. This is the split gVisor makes with its per-arch
//! `linux64` tables and Asterinas with its per-arch syscall macro tables.
//!
//! The variant set is the union of the names in Linux 7.1.5's x86_64 table
//! (`arch/x86/entry/syscalls/syscall_64.tbl`, ABIs `common` and `64`) and its arm64 table
//! (`scripts/syscall.tbl`, ABIs `common 64 renameat rlimit memfd_secret`); the arch crates'
//! tables say exactly which files and how to regenerate. A variant is the CamelCase of the name in
//! those tables (`rt_sigaction` → `RtSigaction`, `_sysctl` → `Sysctl`); one name is one variant
//! on both architectures. In Linux 7.1.5 every AArch64 name also exists on x86_64, so the union
//! is the 385 x86_64 names.

/// Declares [`Sysno`] with its [`Sysno::ALL`] list and [`Sysno::name`] from one list, so the
/// three cannot drift apart.
macro_rules! define_sysno {
    ($($variant:ident => $name:literal,)*) => {
        /// A Linux system call, independent of any architecture's numbering. An arch crate's
        /// `syscall_table::sysno` turns a trapped syscall number into one of these.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Sysno {
            $(
                #[doc = concat!("Linux `", $name, "`.")]
                $variant,
            )*
        }

        impl Sysno {
            /// Every system call in declaration (identifier) order; `ALL[i] as usize == i`.
            pub const ALL: &'static [Sysno] = &[$(Sysno::$variant,)*];

            /// The call's Linux name, as the syscall tables, `man 2` and `strace` spell it.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Sysno::$variant => $name,)*
                }
            }
        }
    };
}

define_sysno! {
    Accept => "accept",
    Accept4 => "accept4",
    Access => "access",
    Acct => "acct",
    AddKey => "add_key",
    Adjtimex => "adjtimex",
    AfsSyscall => "afs_syscall",
    Alarm => "alarm",
    ArchPrctl => "arch_prctl",
    Bind => "bind",
    Bpf => "bpf",
    Brk => "brk",
    Cachestat => "cachestat",
    Capget => "capget",
    Capset => "capset",
    Chdir => "chdir",
    Chmod => "chmod",
    Chown => "chown",
    Chroot => "chroot",
    ClockAdjtime => "clock_adjtime",
    ClockGetres => "clock_getres",
    ClockGettime => "clock_gettime",
    ClockNanosleep => "clock_nanosleep",
    ClockSettime => "clock_settime",
    Clone => "clone",
    Clone3 => "clone3",
    Close => "close",
    CloseRange => "close_range",
    Connect => "connect",
    CopyFileRange => "copy_file_range",
    Creat => "creat",
    CreateModule => "create_module",
    DeleteModule => "delete_module",
    Dup => "dup",
    Dup2 => "dup2",
    Dup3 => "dup3",
    EpollCreate => "epoll_create",
    EpollCreate1 => "epoll_create1",
    EpollCtl => "epoll_ctl",
    EpollCtlOld => "epoll_ctl_old",
    EpollPwait => "epoll_pwait",
    EpollPwait2 => "epoll_pwait2",
    EpollWait => "epoll_wait",
    EpollWaitOld => "epoll_wait_old",
    Eventfd => "eventfd",
    Eventfd2 => "eventfd2",
    Execve => "execve",
    Execveat => "execveat",
    Exit => "exit",
    ExitGroup => "exit_group",
    Faccessat => "faccessat",
    Faccessat2 => "faccessat2",
    Fadvise64 => "fadvise64",
    Fallocate => "fallocate",
    FanotifyInit => "fanotify_init",
    FanotifyMark => "fanotify_mark",
    Fchdir => "fchdir",
    Fchmod => "fchmod",
    Fchmodat => "fchmodat",
    Fchmodat2 => "fchmodat2",
    Fchown => "fchown",
    Fchownat => "fchownat",
    Fcntl => "fcntl",
    Fdatasync => "fdatasync",
    Fgetxattr => "fgetxattr",
    FileGetattr => "file_getattr",
    FileSetattr => "file_setattr",
    FinitModule => "finit_module",
    Flistxattr => "flistxattr",
    Flock => "flock",
    Fork => "fork",
    Fremovexattr => "fremovexattr",
    Fsconfig => "fsconfig",
    Fsetxattr => "fsetxattr",
    Fsmount => "fsmount",
    Fsopen => "fsopen",
    Fspick => "fspick",
    Fstat => "fstat",
    Fstatfs => "fstatfs",
    Fsync => "fsync",
    Ftruncate => "ftruncate",
    Futex => "futex",
    FutexRequeue => "futex_requeue",
    FutexWait => "futex_wait",
    FutexWaitv => "futex_waitv",
    FutexWake => "futex_wake",
    Futimesat => "futimesat",
    GetKernelSyms => "get_kernel_syms",
    GetMempolicy => "get_mempolicy",
    GetRobustList => "get_robust_list",
    GetThreadArea => "get_thread_area",
    Getcpu => "getcpu",
    Getcwd => "getcwd",
    Getdents => "getdents",
    Getdents64 => "getdents64",
    Getegid => "getegid",
    Geteuid => "geteuid",
    Getgid => "getgid",
    Getgroups => "getgroups",
    Getitimer => "getitimer",
    Getpeername => "getpeername",
    Getpgid => "getpgid",
    Getpgrp => "getpgrp",
    Getpid => "getpid",
    Getpmsg => "getpmsg",
    Getppid => "getppid",
    Getpriority => "getpriority",
    Getrandom => "getrandom",
    Getresgid => "getresgid",
    Getresuid => "getresuid",
    Getrlimit => "getrlimit",
    Getrusage => "getrusage",
    Getsid => "getsid",
    Getsockname => "getsockname",
    Getsockopt => "getsockopt",
    Gettid => "gettid",
    Gettimeofday => "gettimeofday",
    Getuid => "getuid",
    Getxattr => "getxattr",
    Getxattrat => "getxattrat",
    InitModule => "init_module",
    InotifyAddWatch => "inotify_add_watch",
    InotifyInit => "inotify_init",
    InotifyInit1 => "inotify_init1",
    InotifyRmWatch => "inotify_rm_watch",
    IoCancel => "io_cancel",
    IoDestroy => "io_destroy",
    IoGetevents => "io_getevents",
    IoPgetevents => "io_pgetevents",
    IoSetup => "io_setup",
    IoSubmit => "io_submit",
    IoUringEnter => "io_uring_enter",
    IoUringRegister => "io_uring_register",
    IoUringSetup => "io_uring_setup",
    Ioctl => "ioctl",
    Ioperm => "ioperm",
    Iopl => "iopl",
    IoprioGet => "ioprio_get",
    IoprioSet => "ioprio_set",
    Kcmp => "kcmp",
    KexecFileLoad => "kexec_file_load",
    KexecLoad => "kexec_load",
    Keyctl => "keyctl",
    Kill => "kill",
    LandlockAddRule => "landlock_add_rule",
    LandlockCreateRuleset => "landlock_create_ruleset",
    LandlockRestrictSelf => "landlock_restrict_self",
    Lchown => "lchown",
    Lgetxattr => "lgetxattr",
    Link => "link",
    Linkat => "linkat",
    Listen => "listen",
    Listmount => "listmount",
    Listns => "listns",
    Listxattr => "listxattr",
    Listxattrat => "listxattrat",
    Llistxattr => "llistxattr",
    LookupDcookie => "lookup_dcookie",
    Lremovexattr => "lremovexattr",
    Lseek => "lseek",
    Lsetxattr => "lsetxattr",
    LsmGetSelfAttr => "lsm_get_self_attr",
    LsmListModules => "lsm_list_modules",
    LsmSetSelfAttr => "lsm_set_self_attr",
    Lstat => "lstat",
    Madvise => "madvise",
    MapShadowStack => "map_shadow_stack",
    Mbind => "mbind",
    Membarrier => "membarrier",
    MemfdCreate => "memfd_create",
    MemfdSecret => "memfd_secret",
    MigratePages => "migrate_pages",
    Mincore => "mincore",
    Mkdir => "mkdir",
    Mkdirat => "mkdirat",
    Mknod => "mknod",
    Mknodat => "mknodat",
    Mlock => "mlock",
    Mlock2 => "mlock2",
    Mlockall => "mlockall",
    Mmap => "mmap",
    ModifyLdt => "modify_ldt",
    Mount => "mount",
    MountSetattr => "mount_setattr",
    MoveMount => "move_mount",
    MovePages => "move_pages",
    Mprotect => "mprotect",
    MqGetsetattr => "mq_getsetattr",
    MqNotify => "mq_notify",
    MqOpen => "mq_open",
    MqTimedreceive => "mq_timedreceive",
    MqTimedsend => "mq_timedsend",
    MqUnlink => "mq_unlink",
    Mremap => "mremap",
    Mseal => "mseal",
    Msgctl => "msgctl",
    Msgget => "msgget",
    Msgrcv => "msgrcv",
    Msgsnd => "msgsnd",
    Msync => "msync",
    Munlock => "munlock",
    Munlockall => "munlockall",
    Munmap => "munmap",
    NameToHandleAt => "name_to_handle_at",
    Nanosleep => "nanosleep",
    Newfstatat => "newfstatat",
    Nfsservctl => "nfsservctl",
    Open => "open",
    OpenByHandleAt => "open_by_handle_at",
    OpenTree => "open_tree",
    OpenTreeAttr => "open_tree_attr",
    Openat => "openat",
    Openat2 => "openat2",
    Pause => "pause",
    PerfEventOpen => "perf_event_open",
    Personality => "personality",
    PidfdGetfd => "pidfd_getfd",
    PidfdOpen => "pidfd_open",
    PidfdSendSignal => "pidfd_send_signal",
    Pipe => "pipe",
    Pipe2 => "pipe2",
    PivotRoot => "pivot_root",
    PkeyAlloc => "pkey_alloc",
    PkeyFree => "pkey_free",
    PkeyMprotect => "pkey_mprotect",
    Poll => "poll",
    Ppoll => "ppoll",
    Prctl => "prctl",
    Pread64 => "pread64",
    Preadv => "preadv",
    Preadv2 => "preadv2",
    Prlimit64 => "prlimit64",
    ProcessMadvise => "process_madvise",
    ProcessMrelease => "process_mrelease",
    ProcessVmReadv => "process_vm_readv",
    ProcessVmWritev => "process_vm_writev",
    Pselect6 => "pselect6",
    Ptrace => "ptrace",
    Putpmsg => "putpmsg",
    Pwrite64 => "pwrite64",
    Pwritev => "pwritev",
    Pwritev2 => "pwritev2",
    QueryModule => "query_module",
    Quotactl => "quotactl",
    QuotactlFd => "quotactl_fd",
    Read => "read",
    Readahead => "readahead",
    Readlink => "readlink",
    Readlinkat => "readlinkat",
    Readv => "readv",
    Reboot => "reboot",
    Recvfrom => "recvfrom",
    Recvmmsg => "recvmmsg",
    Recvmsg => "recvmsg",
    RemapFilePages => "remap_file_pages",
    Removexattr => "removexattr",
    Removexattrat => "removexattrat",
    Rename => "rename",
    Renameat => "renameat",
    Renameat2 => "renameat2",
    RequestKey => "request_key",
    RestartSyscall => "restart_syscall",
    Rmdir => "rmdir",
    Rseq => "rseq",
    RseqSliceYield => "rseq_slice_yield",
    RtSigaction => "rt_sigaction",
    RtSigpending => "rt_sigpending",
    RtSigprocmask => "rt_sigprocmask",
    RtSigqueueinfo => "rt_sigqueueinfo",
    RtSigreturn => "rt_sigreturn",
    RtSigsuspend => "rt_sigsuspend",
    RtSigtimedwait => "rt_sigtimedwait",
    RtTgsigqueueinfo => "rt_tgsigqueueinfo",
    SchedGetPriorityMax => "sched_get_priority_max",
    SchedGetPriorityMin => "sched_get_priority_min",
    SchedGetaffinity => "sched_getaffinity",
    SchedGetattr => "sched_getattr",
    SchedGetparam => "sched_getparam",
    SchedGetscheduler => "sched_getscheduler",
    SchedRrGetInterval => "sched_rr_get_interval",
    SchedSetaffinity => "sched_setaffinity",
    SchedSetattr => "sched_setattr",
    SchedSetparam => "sched_setparam",
    SchedSetscheduler => "sched_setscheduler",
    SchedYield => "sched_yield",
    Seccomp => "seccomp",
    Security => "security",
    Select => "select",
    Semctl => "semctl",
    Semget => "semget",
    Semop => "semop",
    Semtimedop => "semtimedop",
    Sendfile => "sendfile",
    Sendmmsg => "sendmmsg",
    Sendmsg => "sendmsg",
    Sendto => "sendto",
    SetMempolicy => "set_mempolicy",
    SetMempolicyHomeNode => "set_mempolicy_home_node",
    SetRobustList => "set_robust_list",
    SetThreadArea => "set_thread_area",
    SetTidAddress => "set_tid_address",
    Setdomainname => "setdomainname",
    Setfsgid => "setfsgid",
    Setfsuid => "setfsuid",
    Setgid => "setgid",
    Setgroups => "setgroups",
    Sethostname => "sethostname",
    Setitimer => "setitimer",
    Setns => "setns",
    Setpgid => "setpgid",
    Setpriority => "setpriority",
    Setregid => "setregid",
    Setresgid => "setresgid",
    Setresuid => "setresuid",
    Setreuid => "setreuid",
    Setrlimit => "setrlimit",
    Setsid => "setsid",
    Setsockopt => "setsockopt",
    Settimeofday => "settimeofday",
    Setuid => "setuid",
    Setxattr => "setxattr",
    Setxattrat => "setxattrat",
    Shmat => "shmat",
    Shmctl => "shmctl",
    Shmdt => "shmdt",
    Shmget => "shmget",
    Shutdown => "shutdown",
    Sigaltstack => "sigaltstack",
    Signalfd => "signalfd",
    Signalfd4 => "signalfd4",
    Socket => "socket",
    Socketpair => "socketpair",
    Splice => "splice",
    Stat => "stat",
    Statfs => "statfs",
    Statmount => "statmount",
    Statx => "statx",
    Swapoff => "swapoff",
    Swapon => "swapon",
    Symlink => "symlink",
    Symlinkat => "symlinkat",
    Sync => "sync",
    SyncFileRange => "sync_file_range",
    Syncfs => "syncfs",
    Sysctl => "_sysctl",
    Sysfs => "sysfs",
    Sysinfo => "sysinfo",
    Syslog => "syslog",
    Tee => "tee",
    Tgkill => "tgkill",
    Time => "time",
    TimerCreate => "timer_create",
    TimerDelete => "timer_delete",
    TimerGetoverrun => "timer_getoverrun",
    TimerGettime => "timer_gettime",
    TimerSettime => "timer_settime",
    TimerfdCreate => "timerfd_create",
    TimerfdGettime => "timerfd_gettime",
    TimerfdSettime => "timerfd_settime",
    Times => "times",
    Tkill => "tkill",
    Truncate => "truncate",
    Tuxcall => "tuxcall",
    Umask => "umask",
    Umount2 => "umount2",
    Uname => "uname",
    Unlink => "unlink",
    Unlinkat => "unlinkat",
    Unshare => "unshare",
    Uprobe => "uprobe",
    Uretprobe => "uretprobe",
    Uselib => "uselib",
    Userfaultfd => "userfaultfd",
    Ustat => "ustat",
    Utime => "utime",
    Utimensat => "utimensat",
    Utimes => "utimes",
    Vfork => "vfork",
    Vhangup => "vhangup",
    Vmsplice => "vmsplice",
    Vserver => "vserver",
    Wait4 => "wait4",
    Waitid => "waitid",
    Write => "write",
    Writev => "writev",
}

impl Sysno {
    /// Looks a call up by its Linux name (`"exit_group"`); `None` if neither x86_64 nor AArch64
    /// Linux has a call of that name. A linear scan: meant for configuration and diagnostics,
    /// not for the syscall path.
    pub fn from_name(name: &str) -> Option<Sysno> {
        Sysno::ALL.iter().copied().find(|s| s.name() == name)
    }
}

impl core::fmt::Display for Sysno {
    /// Prints the Linux name, so logs read like `strace`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Generates an architecture's syscall numbering from a list of `number => Variant` lines, in
/// ascending number order. Invoke it once, in the arch crate's `syscall_table.rs`:
///
/// ```
/// mod syscall_table {
///     hal::syscall_table! {
///         0 => Read,
///         1 => Write,
///         60 => Exit,
///     }
/// }
/// use hal::syscall::Sysno;
/// assert_eq!(syscall_table::sysno(1), Some(Sysno::Write));
/// assert_eq!(syscall_table::sysno(2), None);
/// assert_eq!(syscall_table::number(Sysno::Exit), Some(60));
/// assert_eq!(syscall_table::number(Sysno::Open), None);
/// assert_eq!(syscall_table::TABLE.len(), 3);
/// ```
///
/// It defines, in the invoking module:
/// - `pub const TABLE: &[(u64, Sysno)]` — the list as data (tests, diagnostics);
/// - `pub const fn sysno(nr: u64) -> Option<Sysno>` — a `match` on the number, which the compiler
///   lowers to a jump table: this is the per-syscall lookup;
/// - `pub const fn number(s: Sysno) -> Option<u64>` — the reverse (`None`: not on this arch).
///
/// A list that repeats a number, repeats a call, or is out of order does not compile.
#[macro_export]
macro_rules! syscall_table {
    ($($nr:literal => $variant:ident),* $(,)?) => {
        /// Every `(number, call)` this architecture defines, in ascending number order.
        pub const TABLE: &[(u64, $crate::syscall::Sysno)] =
            &[$(($nr, $crate::syscall::Sysno::$variant)),*];

        // Checked while compiling so a bad edit to the table is an error, not a wrong dispatch:
        // strictly ascending numbers (hence no number twice) and no call twice.
        const _: () = {
            let table = TABLE;
            let mut seen = [false; $crate::syscall::Sysno::ALL.len()];
            let mut i = 0;
            while i < table.len() {
                if i > 0 {
                    assert!(
                        table[i - 1].0 < table[i].0,
                        "syscall_table!: a number is repeated or out of order"
                    );
                }
                let call = table[i].1 as usize;
                assert!(!seen[call], "syscall_table!: a call is listed twice");
                seen[call] = true;
                i += 1;
            }
        };

        /// This architecture's syscall number to the call it names; `None` for a number Linux
        /// leaves unassigned here (the kernel answers those with `-ENOSYS`).
        pub const fn sysno(nr: u64) -> Option<$crate::syscall::Sysno> {
            match nr {
                $($nr => Some($crate::syscall::Sysno::$variant),)*
                _ => None,
            }
        }

        /// The number of `call` on this architecture; `None` if Linux has no such call here.
        // The wildcard is unreachable when this arch has every call; it is still needed for the
        // arches that do not.
        #[allow(unreachable_patterns)]
        pub const fn number(call: $crate::syscall::Sysno) -> Option<u64> {
            match call {
                $($crate::syscall::Sysno::$variant => Some($nr),)*
                _ => None,
            }
        }
    };
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::Sysno;
    use std::collections::BTreeSet;
    use std::string::{String, ToString};

    /// The union of the x86_64 (385) and AArch64 (327) names of Linux 7.1.5, which is the
    /// x86_64 set because AArch64 has no name x86_64 lacks.
    const UNION_OF_LINUX_NAMES: usize = 385;

    fn camel_case(name: &str) -> String {
        name.split('_')
            .filter(|part| !part.is_empty())
            .map(|part| {
                let mut chars = part.chars();
                let first = chars.next().map(|c| c.to_ascii_uppercase());
                first.into_iter().chain(chars).collect::<String>()
            })
            .collect()
    }

    #[test]
    fn all_lists_every_variant_once_in_order() {
        assert_eq!(Sysno::ALL.len(), UNION_OF_LINUX_NAMES);
        for (index, call) in Sysno::ALL.iter().enumerate() {
            assert_eq!(*call as usize, index, "{call:?} out of place in ALL");
        }
    }

    #[test]
    fn names_are_unique_linux_spellings() {
        let names: BTreeSet<&str> = Sysno::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names.len(), Sysno::ALL.len());
        for name in names {
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{name:?} is not a Linux syscall-table spelling"
            );
        }
    }

    #[test]
    fn variant_is_camel_case_of_name() {
        for call in Sysno::ALL {
            assert_eq!(std::format!("{call:?}"), camel_case(call.name()));
        }
        assert_eq!(Sysno::Sysctl.name(), "_sysctl");
        assert_eq!(Sysno::RtSigaction.name(), "rt_sigaction");
        assert_eq!(Sysno::ExitGroup.name(), "exit_group");
        assert_eq!(Sysno::Newfstatat.name(), "newfstatat");
        assert_eq!(Sysno::Pread64.name(), "pread64");
    }

    #[test]
    fn from_name_and_display_round_trip() {
        for call in Sysno::ALL {
            assert_eq!(Sysno::from_name(call.name()), Some(*call));
            assert_eq!(call.to_string(), call.name());
        }
        assert_eq!(Sysno::from_name("sysctl"), None);
        assert_eq!(Sysno::from_name("Read"), None);
        assert_eq!(Sysno::from_name(""), None);
    }
}
