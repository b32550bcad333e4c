//! Contents of procfs files, byte for byte as Linux 6.1 formats them, built from plain-data structs
//! the kernel fills from its process table (the VFS decides *which* file; this decides *what is in it*).
//!
//! Userland (busybox `ps`/`top`/`free`/`uptime`/`mount`/`df`, procps, glibc's `get_nprocs`) parses
//! these files with `sscanf`-style code, so field order, separators, padding and the trailing newline
//! all matter. Each generator names the Linux function it mirrors. Where Linux prints a line only
//! under a config option, we print what a Linux built *without* that option prints (no HIGHMEM,
//! ZSWAP, THP, CMA, HUGETLB, CPUSETS, NUMA, MEMORY_FAILURE) because Cyphera has none of those
//! features; the lines every 6.1 kernel prints are always present.
//!
//! Inputs are plain integers, byte slices and `&str`; every field documents its unit. Arithmetic on
//! input saturates: a nonsensical input yields a nonsensical number, never a panic.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write};

use crate::time::{CLOCK_TICKS_PER_SEC, NSEC_PER_SEC};
use hal::mmu::PAGE_SIZE;

/// A byte buffer that `write!` can format into. Files that echo user-controlled bytes (names, paths,
/// argv) are `Vec<u8>` because those bytes need not be UTF-8.
struct Out(Vec<u8>);

impl Out {
    fn new() -> Self {
        Out(Vec::new())
    }

    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }

    fn byte(&mut self, b: u8) {
        self.0.push(b);
    }

    fn str(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

impl Write for Out {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

// Writing into a growable buffer cannot fail, so the `fmt::Result`s below are ignored with `let _`.

/// Linux's `nsec_to_clock_t` with USER_HZ = 100: nanoseconds to clock ticks, truncating.
pub fn ns_to_clock_ticks(ns: u64) -> u64 {
    ns / (NSEC_PER_SEC / CLOCK_TICKS_PER_SEC)
}

/// Linux's `new_encode_dev`: the 32-bit device number user space sees in `stat` and
/// `/proc/<pid>/stat` (`tty_nr`). ttyS0 is (4, 64) → 1088.
pub fn encode_dev(major: u32, minor: u32) -> u32 {
    (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12)
}

/// Appends `s` with every byte found in `esc` replaced by `\ooo` (three octal digits). This is both
/// `mangle_path` and `seq_escape(.., ESCAPE_OCTAL, esc)`, which produce the same text.
fn push_octal_escaped(out: &mut Out, s: &[u8], esc: &[u8]) {
    for &c in s {
        if esc.contains(&c) {
            out.byte(b'\\');
            out.byte(b'0' + (c >> 6));
            out.byte(b'0' + ((c >> 3) & 7));
            out.byte(b'0' + (c & 7));
        } else {
            out.byte(c);
        }
    }
}

/// A task's `comm` as Linux stores it: at most the bytes before the first NUL.
fn comm_bytes(comm: &[u8]) -> &[u8] {
    let end = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
    &comm[..end]
}

// ---------------------------------------------------------------------------------------------------
// Per-process files: /proc/<pid>/{stat,status,statm,cmdline,environ,maps}
// ---------------------------------------------------------------------------------------------------

/// A task's scheduling state as `/proc` reports it (`task_state_array` in fs/proc/array.c).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TaskState {
    #[default]
    Running,
    /// Interruptible sleep (waiting for an event: read, wait4, nanosleep, futex, ...).
    Sleeping,
    /// Uninterruptible sleep.
    DiskSleep,
    /// Stopped by a job-control signal.
    Stopped,
    /// Stopped by a tracer.
    TracingStop,
    Dead,
    /// Exited, not yet reaped by the parent.
    Zombie,
    Parked,
    Idle,
}

impl TaskState {
    /// The one-letter code of `/proc/<pid>/stat` field 3.
    pub fn letter(self) -> char {
        match self {
            TaskState::Running => 'R',
            TaskState::Sleeping => 'S',
            TaskState::DiskSleep => 'D',
            TaskState::Stopped => 'T',
            TaskState::TracingStop => 't',
            TaskState::Dead => 'X',
            TaskState::Zombie => 'Z',
            TaskState::Parked => 'P',
            TaskState::Idle => 'I',
        }
    }

    /// The `State:` text of `/proc/<pid>/status`.
    pub fn description(self) -> &'static str {
        match self {
            TaskState::Running => "R (running)",
            TaskState::Sleeping => "S (sleeping)",
            TaskState::DiskSleep => "D (disk sleep)",
            TaskState::Stopped => "T (stopped)",
            TaskState::TracingStop => "t (tracing stop)",
            TaskState::Dead => "X (dead)",
            TaskState::Zombie => "Z (zombie)",
            TaskState::Parked => "P (parked)",
            TaskState::Idle => "I (idle)",
        }
    }
}

/// The process's controlling terminal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ControllingTty {
    /// Device number of the terminal, e.g. (4, 64) for ttyS0, (136, n) for /dev/pts/n.
    pub major: u32,
    pub minor: u32,
    /// The terminal's foreground process group (`tcgetpgrp`), 0 if it has none.
    pub foreground_pgrp: u32,
}

/// The process's memory descriptor (Linux `mm_struct`), absent for zombies.
/// Counters are in pages of `hal::mmu::PAGE_SIZE` bytes; addresses are user virtual addresses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MmInfo {
    /// Pages mapped in total (all VMAs) — VmSize, `vsize`.
    pub total_vm: u64,
    /// Highest `total_vm` seen (0 if never tracked: the current value is used then) — VmPeak.
    pub hiwater_vm: u64,
    /// Pages locked with mlock — VmLck.
    pub locked_vm: u64,
    /// Pages pinned (long-term GUP) — VmPin.
    pub pinned_vm: u64,
    /// Highest resident set seen, pages (0 if never tracked) — VmHWM.
    pub hiwater_rss: u64,
    /// Resident anonymous pages — RssAnon.
    pub anon_pages: u64,
    /// Resident file-backed pages — RssFile.
    pub file_pages: u64,
    /// Resident shared-memory (shmem/tmpfs/MAP_SHARED|MAP_ANONYMOUS) pages — RssShmem.
    pub shmem_pages: u64,
    /// Pages swapped out — VmSwap.
    pub swap_pages: u64,
    /// Pages in private writable, non-stack mappings — VmData.
    pub data_vm: u64,
    /// Pages in stack mappings — VmStk.
    pub stack_vm: u64,
    /// Pages in executable mappings (text of the program and its libraries) — VmExe + VmLib.
    pub exec_vm: u64,
    /// Bytes of page tables backing this address space — VmPTE.
    pub page_table_bytes: u64,
    /// Bounds of the program's text segment (from the ELF loader).
    pub start_code: u64,
    pub end_code: u64,
    /// Bounds of the program's data segment.
    pub start_data: u64,
    pub end_data: u64,
    /// Start of the brk heap (the initial break).
    pub start_brk: u64,
    /// Address of argc on the initial stack (`mm->start_stack`).
    pub start_stack: u64,
    /// The argv strings area on the initial stack: [arg_start, arg_end).
    pub arg_start: u64,
    pub arg_end: u64,
    /// The envp strings area on the initial stack: [env_start, env_end).
    pub env_start: u64,
    pub env_end: u64,
}

impl MmInfo {
    fn rss(&self) -> u64 {
        self.anon_pages
            .saturating_add(self.file_pages)
            .saturating_add(self.shmem_pages)
    }

    /// Bytes of the page-aligned text segment, as `task_mem`/`task_statm` compute it.
    fn text_bytes(&self) -> u64 {
        let end = self
            .end_code
            .checked_next_multiple_of(PAGE_SIZE)
            .unwrap_or(!(PAGE_SIZE - 1));
        end.saturating_sub(self.start_code & !(PAGE_SIZE - 1))
    }
}

/// Capability sets, one bit per capability (bit n = capability n, as in `capget` v3 joined to 64
/// bits). A root process on Linux 6.1 has 0x1ff_ffff_ffff in permitted/effective/bounding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub inheritable: u64,
    pub permitted: u64,
    pub effective: u64,
    pub bounding: u64,
    pub ambient: u64,
}

/// Everything `/proc/<pid>/{stat,status,statm}` show about one process (a thread group, read
/// through its leader: counters are summed over the group by the caller).
/// Signal sets are Linux `sigset_t` words: bit (n - 1) set means signal n is in the set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessInfo<'a> {
    /// Process id (the thread id for /proc/<pid>/task/<tid>) in the reader's pid namespace.
    pub pid: u32,
    /// Thread-group id (= pid of the group leader).
    pub tgid: u32,
    /// Command name (`comm`, up to 15 bytes, from the executable's basename or PR_SET_NAME).
    pub comm: &'a [u8],
    pub state: TaskState,
    /// Parent's tgid (0 for init).
    pub ppid: u32,
    /// Process group id.
    pub pgrp: u32,
    /// Session id.
    pub session: u32,
    /// Pid of the ptrace tracer, 0 if not traced.
    pub tracer_pid: u32,
    /// Controlling terminal, if the session has one.
    pub tty: Option<ControllingTty>,
    /// Linux `PF_*` task flags (e.g. PF_RANDOMIZE 0x0040_0000, PF_FORKNOEXEC 0x40); 0 is valid.
    pub flags: u32,
    /// Minor/major page faults of the process and of its reaped children.
    pub min_flt: u64,
    pub cmin_flt: u64,
    pub maj_flt: u64,
    pub cmaj_flt: u64,
    /// CPU time in user/kernel mode, nanoseconds; `c*` = of reaped children.
    pub utime_ns: u64,
    pub stime_ns: u64,
    pub cutime_ns: u64,
    pub cstime_ns: u64,
    /// Nice value, -20..=19.
    pub nice: i32,
    /// Scheduling policy (SCHED_OTHER 0, FIFO 1, RR 2, BATCH 3, IDLE 5).
    pub policy: u32,
    /// Real-time priority 1..=99 for FIFO/RR, else 0.
    pub rt_priority: u32,
    pub num_threads: u32,
    /// When the process started, nanoseconds since boot (CLOCK_BOOTTIME).
    pub start_time_ns: u64,
    /// RLIMIT_RSS soft limit, bytes (u64::MAX = unlimited).
    pub rss_limit: u64,
    /// Memory descriptor; `None` for a zombie.
    pub mm: Option<MmInfo>,
    /// Signals pending for this thread / for the whole thread group.
    pub sig_pending: u64,
    pub sig_shared_pending: u64,
    /// Blocked mask.
    pub sig_blocked: u64,
    /// Signals whose disposition is SIG_IGN / a handler.
    pub sig_ignored: u64,
    pub sig_caught: u64,
    /// Queued signals charged to the owner, and the RLIMIT_SIGPENDING soft limit (`SigQ:`).
    pub sigq_queued: u64,
    pub sigq_limit: u64,
    /// Signal sent to the parent on exit (normally SIGCHLD = 17; 0 for threads).
    pub exit_signal: i32,
    /// CPU the task last ran on.
    pub processor: u32,
    /// wait status once exited (Linux `exit_code`), 0 while alive.
    pub exit_code: i32,
    /// Real, effective, saved, filesystem uid / gid.
    pub uids: [u32; 4],
    pub gids: [u32; 4],
    /// Supplementary groups.
    pub groups: &'a [u32],
    /// File mode creation mask; `None` when the task has no fs context (zombie): the line is omitted.
    pub umask: Option<u32>,
    /// Capacity of the fd table (`FDSize:`), a count of slots, not of open files.
    pub fd_table_size: u32,
    pub caps: Capabilities,
    pub no_new_privs: bool,
    /// CPUs the task may run on, bit n = CPU n, and the number of possible CPUs (`nr_cpu_ids`,
    /// 1..=64), which fixes the width of `Cpus_allowed:`.
    pub cpus_allowed: u64,
    pub nr_cpu_ids: u32,
    pub voluntary_ctxt_switches: u64,
    pub nonvoluntary_ctxt_switches: u64,
    /// The process is writing a core dump.
    pub core_dumping: bool,
    /// Whether the *reader* may inspect this process (Linux `ptrace_may_access(PTRACE_MODE_READ)`;
    /// always true for root). When false, Linux hides code/stack addresses and the exit code.
    pub reader_may_inspect: bool,
}

impl ProcessInfo<'_> {
    /// `task_prio`: 20 + nice for time-sharing policies, -1 - rt_priority for FIFO/RR.
    fn priority(&self) -> i64 {
        match self.policy {
            1 | 2 => -1 - i64::from(self.rt_priority),
            _ => 20 + i64::from(self.nice),
        }
    }
}

/// `/proc/<pid>/stat`: one line of 52 space-separated fields (`do_task_stat`, fs/proc/array.c).
pub fn pid_stat(p: &ProcessInfo) -> Vec<u8> {
    let mut o = Out::new();
    let (tty_nr, tty_pgrp) = match p.tty {
        Some(t) => (
            i64::from(encode_dev(t.major, t.minor)),
            i64::from(t.foreground_pgrp),
        ),
        None => (0, -1),
    };
    let ticks = ns_to_clock_ticks;
    let mm = p.mm.as_ref();
    let permitted = p.reader_may_inspect;
    // "wchan" is only a 0/1 flag nowadays: 1 when the task is not running.
    let wchan = u64::from(permitted && p.state != TaskState::Running);

    let _ = write!(o, "{} (", p.pid);
    o.bytes(comm_bytes(p.comm));
    let _ = write!(
        o,
        ") {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} 0 {} {} {} {}",
        p.state.letter(),
        p.ppid,
        p.pgrp,
        p.session,
        tty_nr,
        tty_pgrp,
        p.flags,
        p.min_flt,
        p.cmin_flt,
        p.maj_flt,
        p.cmaj_flt,
        ticks(p.utime_ns),
        ticks(p.stime_ns),
        ticks(p.cutime_ns),
        ticks(p.cstime_ns),
        p.priority(),
        p.nice,
        p.num_threads,
        ticks(p.start_time_ns),
        mm.map_or(0, |m| m.total_vm.saturating_mul(PAGE_SIZE)),
        mm.map_or(0, MmInfo::rss),
        p.rss_limit,
    );
    let (start_code, end_code) = match mm {
        Some(m) if permitted => (m.start_code, m.end_code),
        Some(_) => (1, 1),
        None => (0, 0),
    };
    let start_stack = mm.filter(|_| permitted).map_or(0, |m| m.start_stack);
    // kstkesp and kstkeip stay 0: Linux fills them only for a task that is dumping core.
    let _ = write!(o, " {start_code} {end_code} {start_stack} 0 0");
    // The obsolete decimal signal words: only the first 31 signals (Linux 2.0 compatibility).
    let _ = write!(
        o,
        " {} {} {} {} {wchan} 0 0 {} {} {} {} 0 0 0",
        p.sig_pending & 0x7fff_ffff,
        p.sig_blocked & 0x7fff_ffff,
        p.sig_ignored & 0x7fff_ffff,
        p.sig_caught & 0x7fff_ffff,
        p.exit_signal,
        p.processor,
        p.rt_priority,
        p.policy,
    );
    match mm {
        Some(m) if permitted => {
            let _ = write!(
                o,
                " {} {} {} {} {} {} {}",
                m.start_data,
                m.end_data,
                m.start_brk,
                m.arg_start,
                m.arg_end,
                m.env_start,
                m.env_end
            );
        }
        _ => o.str(" 0 0 0 0 0 0 0"),
    }
    let exit_code = if permitted { p.exit_code } else { 0 };
    let _ = writeln!(o, " {exit_code}");
    o.0
}

/// `/proc/<pid>/statm`: "size resident shared text lib data dt" in pages (`proc_pid_statm`).
pub fn pid_statm(p: &ProcessInfo) -> String {
    let Some(m) = p.mm else {
        return String::from("0 0 0 0 0 0 0\n");
    };
    let shared = m.file_pages.saturating_add(m.shmem_pages);
    alloc::format!(
        "{} {} {} {} 0 {} 0\n",
        m.total_vm,
        shared.saturating_add(m.anon_pages),
        shared,
        m.text_bytes() / PAGE_SIZE,
        m.data_vm.saturating_add(m.stack_vm),
    )
}

/// `%*pb`: a CPU mask in hex, 32-bit chunks joined by ',' (most significant first); the first
/// chunk has just enough digits for the bits it holds.
fn push_cpumask_hex(o: &mut Out, mask: u64, nbits: u32) {
    let nbits = nbits.clamp(1, 64);
    let mask = if nbits == 64 {
        mask
    } else {
        mask & ((1u64 << nbits) - 1)
    };
    let mut chunk_bits = nbits % 32;
    if chunk_bits == 0 {
        chunk_bits = 32;
    }
    let mut low = nbits.div_ceil(32) * 32 - 32;
    let mut first = true;
    loop {
        let val = (mask >> low) & ((1u64 << chunk_bits) - 1);
        if !first {
            o.byte(b',');
        }
        first = false;
        let _ = write!(
            o,
            "{:0width$x}",
            val,
            width = chunk_bits.div_ceil(4) as usize
        );
        chunk_bits = 32;
        if low == 0 {
            break;
        }
        low -= 32;
    }
}

/// `%*pbl`: a CPU mask as a list of ranges, e.g. "0-1" or "0,2-3".
fn push_cpumask_list(o: &mut Out, mask: u64, nbits: u32) {
    let nbits = nbits.clamp(1, 64);
    let mut first = true;
    let mut cpu = 0;
    while cpu < nbits {
        if mask & (1u64 << cpu) == 0 {
            cpu += 1;
            continue;
        }
        let start = cpu;
        while cpu + 1 < nbits && mask & (1u64 << (cpu + 1)) != 0 {
            cpu += 1;
        }
        if !first {
            o.byte(b',');
        }
        first = false;
        if start == cpu {
            let _ = write!(o, "{start}");
        } else {
            let _ = write!(o, "{start}-{cpu}");
        }
        cpu += 1;
    }
}

/// `/proc/<pid>/status` (`proc_pid_status`, fs/proc/array.c and `task_mem`, fs/proc/task_mmu.c).
pub fn pid_status(p: &ProcessInfo) -> Vec<u8> {
    let mut o = Out::new();
    o.str("Name:\t");
    // `seq_escape_str(.., ESCAPE_SPACE | ESCAPE_SPECIAL, "\n\\")`: only newline and backslash are
    // escaped, C-style, so one process per line stays parseable.
    for &c in comm_bytes(p.comm) {
        match c {
            b'\n' => o.str("\\n"),
            b'\\' => o.str("\\\\"),
            _ => o.byte(c),
        }
    }
    o.byte(b'\n');
    if let Some(umask) = p.umask {
        // "%#04o": the '0' prefix plus at least three digits.
        let _ = writeln!(o, "Umask:\t0{:03o}", umask);
    }
    let _ = write!(
        o,
        "State:\t{}\nTgid:\t{}\nNgid:\t0\nPid:\t{}\nPPid:\t{}\nTracerPid:\t{}\n",
        p.state.description(),
        p.tgid,
        p.pid,
        p.ppid,
        p.tracer_pid
    );
    let [u0, u1, u2, u3] = p.uids;
    let [g0, g1, g2, g3] = p.gids;
    let _ = write!(
        o,
        "Uid:\t{u0}\t{u1}\t{u2}\t{u3}\nGid:\t{g0}\t{g1}\t{g2}\t{g3}\nFDSize:\t{}\nGroups:\t",
        p.fd_table_size
    );
    for (i, g) in p.groups.iter().enumerate() {
        if i > 0 {
            o.byte(b' ');
        }
        let _ = write!(o, "{g}");
    }
    // Linux leaves a trailing space after the group list (even an empty one) and keeps it for ABI.
    o.str(" \n");
    // One pid namespace level: each NS* line holds a single id.
    let _ = write!(
        o,
        "NStgid:\t{}\nNSpid:\t{}\nNSpgid:\t{}\nNSsid:\t{}\n",
        p.tgid, p.pid, p.pgrp, p.session
    );
    if let Some(m) = p.mm {
        let kb = |pages: u64| pages.saturating_mul(PAGE_SIZE / 1024);
        let total_rss = m.rss();
        let text = m.text_bytes().min(m.exec_vm.saturating_mul(PAGE_SIZE));
        let lib = m.exec_vm.saturating_mul(PAGE_SIZE).saturating_sub(text);
        let lines: [(&str, u64); 15] = [
            ("VmPeak", kb(m.hiwater_vm.max(m.total_vm))),
            ("VmSize", kb(m.total_vm)),
            ("VmLck", kb(m.locked_vm)),
            ("VmPin", kb(m.pinned_vm)),
            ("VmHWM", kb(m.hiwater_rss.max(total_rss))),
            ("VmRSS", kb(total_rss)),
            ("RssAnon", kb(m.anon_pages)),
            ("RssFile", kb(m.file_pages)),
            ("RssShmem", kb(m.shmem_pages)),
            ("VmData", kb(m.data_vm)),
            ("VmStk", kb(m.stack_vm)),
            ("VmExe", text >> 10),
            ("VmLib", lib >> 10),
            ("VmPTE", m.page_table_bytes >> 10),
            ("VmSwap", kb(m.swap_pages)),
        ];
        for (label, value) in lines {
            let _ = writeln!(o, "{label}:\t{value:>8} kB");
        }
        let _ = writeln!(o, "CoreDumping:\t{}", u8::from(p.core_dumping));
        // Linux without CONFIG_TRANSPARENT_HUGEPAGE prints 0 here.
        o.str("THP_enabled:\t0\n");
    }
    let _ = write!(
        o,
        "Threads:\t{}\nSigQ:\t{}/{}\n",
        p.num_threads, p.sigq_queued, p.sigq_limit
    );
    for (label, set) in [
        ("SigPnd", p.sig_pending),
        ("ShdPnd", p.sig_shared_pending),
        ("SigBlk", p.sig_blocked),
        ("SigIgn", p.sig_ignored),
        ("SigCgt", p.sig_caught),
        ("CapInh", p.caps.inheritable),
        ("CapPrm", p.caps.permitted),
        ("CapEff", p.caps.effective),
        ("CapBnd", p.caps.bounding),
        ("CapAmb", p.caps.ambient),
    ] {
        let _ = writeln!(o, "{label}:\t{set:016x}");
    }
    // No seccomp filters can be installed, and the speculation-control prctl is not implemented:
    // "unknown"/"unsupported" are what Linux prints when the arch hook returns -EINVAL.
    let _ = write!(
        o,
        "NoNewPrivs:\t{}\nSeccomp:\t0\nSeccomp_filters:\t0\n\
         Speculation_Store_Bypass:\tunknown\nSpeculationIndirectBranch:\tunsupported\n",
        u8::from(p.no_new_privs)
    );
    o.str("Cpus_allowed:\t");
    push_cpumask_hex(&mut o, p.cpus_allowed, p.nr_cpu_ids);
    o.str("\nCpus_allowed_list:\t");
    push_cpumask_list(&mut o, p.cpus_allowed, p.nr_cpu_ids);
    let _ = write!(
        o,
        "\nvoluntary_ctxt_switches:\t{}\nnonvoluntary_ctxt_switches:\t{}\n",
        p.voluntary_ctxt_switches, p.nonvoluntary_ctxt_switches
    );
    o.0
}

/// `/proc/<pid>/cmdline` for an unmodified argument area: each argument followed by a NUL.
pub fn cmdline(argv: &[&[u8]]) -> Vec<u8> {
    nul_terminated(argv)
}

/// `/proc/<pid>/environ`: each `NAME=value` string followed by a NUL.
pub fn environ(envp: &[&[u8]]) -> Vec<u8> {
    nul_terminated(envp)
}

fn nul_terminated(items: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::with_capacity(items.iter().map(|s| s.len() + 1).sum());
    for s in items {
        v.extend_from_slice(s);
        v.push(0);
    }
    v
}

/// `/proc/<pid>/cmdline` read from the process's memory the way `get_mm_cmdline` does, which also
/// honours `setproctitle()`-style rewrites. `area` is the user memory from `arg_start` up to
/// `env_end` (or only up to `arg_end` when the env strings do not directly follow the args);
/// `arg_len` = `arg_end - arg_start`.
///
/// If the last byte of the argument area is still NUL the area is returned as is. Otherwise the
/// process overwrote it with a title that may run on into the environment: Linux then returns the
/// title up to and including its first NUL, looking at most one page past `arg_start`.
pub fn cmdline_from_memory(area: &[u8], arg_len: usize) -> Vec<u8> {
    let arg_len = arg_len.min(area.len());
    if arg_len == 0 {
        return Vec::new();
    }
    if area[arg_len - 1] == 0 {
        return area[..arg_len].to_vec();
    }
    let window = &area[..area.len().min(PAGE_SIZE as usize)];
    let len = match window.iter().position(|&b| b == 0) {
        Some(nul) => nul + 1,
        None => window.len(),
    };
    window[..len].to_vec()
}

/// What a mapping shows in the last column of `/proc/<pid>/maps`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MapName<'a> {
    /// Private anonymous memory: no name, and no padding either.
    #[default]
    Anonymous,
    /// The brk heap ("[heap]"): Linux names the VMA that overlaps [start_brk, brk].
    Heap,
    /// The main thread's stack ("[stack]"): the VMA containing `start_stack`.
    Stack,
    /// "[vdso]", "[vvar]", "[vsyscall]" and the like; the `&str` includes the brackets.
    Special(&'a str),
    /// An anonymous mapping named with PR_SET_VMA_ANON_NAME: shown as "[anon:NAME]".
    AnonNamed(&'a [u8]),
    /// A file mapping (including shared anonymous memory, which Linux backs with a shmem file
    /// named "/dev/zero (deleted)").
    File {
        /// Absolute path as seen from the reader's root, with " (deleted)" appended by the caller
        /// when the file was unlinked.
        path: &'a [u8],
        /// Offset into the file of the mapping's first byte, in bytes.
        offset: u64,
        /// Device number of the file system holding the file.
        dev_major: u32,
        dev_minor: u32,
        inode: u64,
    },
}

/// One VMA of `/proc/<pid>/maps`. `start`/`end` are page-aligned user addresses, `end` exclusive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mapping<'a> {
    pub start: u64,
    pub end: u64,
    pub read: bool,
    pub write: bool,
    pub exec: bool,
    /// MAP_SHARED ('s') rather than private ('p').
    pub shared: bool,
    pub name: MapName<'a>,
}

/// `/proc/<pid>/maps` (`show_map_vma`, fs/proc/task_mmu.c), one line per mapping in address order:
/// `start-end perms offset major:minor inode`, then (for named mappings) spaces up to column 73
/// and the name.
pub fn pid_maps(mappings: &[Mapping]) -> Vec<u8> {
    // `seq_setwidth(m, 25 + sizeof(void *) * 6 - 1)`: the name starts after this many bytes + 1.
    const NAME_COLUMN: usize = 25 + 8 * 6 - 1;
    let mut o = Out::new();
    for m in mappings {
        let line_start = o.len();
        let (offset, major, minor, inode) = match m.name {
            MapName::File {
                offset,
                dev_major,
                dev_minor,
                inode,
                ..
            } => (offset, dev_major, dev_minor, inode),
            _ => (0, 0, 0, 0),
        };
        let _ = write!(
            o,
            "{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {} ",
            m.start,
            m.end,
            if m.read { 'r' } else { '-' },
            if m.write { 'w' } else { '-' },
            if m.exec { 'x' } else { '-' },
            if m.shared { 's' } else { 'p' },
            offset,
            major,
            minor,
            inode
        );
        let pad = |o: &mut Out| {
            while o.len() - line_start < NAME_COLUMN {
                o.byte(b' ');
            }
            o.byte(b' ');
        };
        match m.name {
            MapName::Anonymous => {}
            MapName::Heap => {
                pad(&mut o);
                o.str("[heap]");
            }
            MapName::Stack => {
                pad(&mut o);
                o.str("[stack]");
            }
            MapName::Special(name) => {
                pad(&mut o);
                o.str(name);
            }
            MapName::AnonNamed(name) => {
                pad(&mut o);
                o.str("[anon:");
                o.bytes(name);
                o.byte(b']');
            }
            MapName::File { path, .. } => {
                pad(&mut o);
                // `seq_file_path(m, file, "\n")`: a newline in a file name must not split the line.
                push_octal_escaped(&mut o, path, b"\n");
            }
        }
        o.byte(b'\n');
    }
    o.0
}

// ---------------------------------------------------------------------------------------------------
// System-wide files
// ---------------------------------------------------------------------------------------------------

/// Inputs of `/proc/meminfo`, every field in KiB (Linux computes pages << (PAGE_SHIFT - 10)).
/// Fields the kernel does not track stay 0, as on a Linux without that feature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemInfo {
    /// Usable RAM (all frames the frame allocator manages, kernel image excluded).
    pub mem_total: u64,
    /// Free frames.
    pub mem_free: u64,
    /// Estimate of memory available for new work without swapping (free + reclaimable caches).
    pub mem_available: u64,
    /// Block-device buffer cache.
    pub buffers: u64,
    /// Page cache excluding swap cache and buffers (includes tmpfs/shmem pages, as on Linux).
    pub cached: u64,
    pub swap_cached: u64,
    /// LRU lists; "Active"/"Inactive" are printed as anon + file sums.
    pub active_anon: u64,
    pub inactive_anon: u64,
    pub active_file: u64,
    pub inactive_file: u64,
    pub unevictable: u64,
    pub mlocked: u64,
    pub swap_total: u64,
    pub swap_free: u64,
    /// File pages waiting to be / being written back.
    pub dirty: u64,
    pub writeback: u64,
    /// Anonymous pages mapped into user page tables.
    pub anon_pages: u64,
    /// File pages mapped into user page tables.
    pub mapped: u64,
    /// tmpfs/shmem and shared anonymous memory.
    pub shmem: u64,
    /// Reclaimable kernel memory other than slab (KReclaimable = this + SReclaimable).
    pub kernel_misc_reclaimable: u64,
    /// Reclaimable / unreclaimable kernel heap (Slab = sum).
    pub slab_reclaimable: u64,
    pub slab_unreclaimable: u64,
    /// Kernel stacks of all tasks.
    pub kernel_stack: u64,
    /// User page tables.
    pub page_tables: u64,
    /// Secondary (IOMMU/KVM) page tables.
    pub sec_page_tables: u64,
    pub bounce: u64,
    pub writeback_tmp: u64,
    /// Overcommit limit and committed address space.
    pub commit_limit: u64,
    pub committed_as: u64,
    /// Size of the kernel's vmalloc area and the part in use.
    pub vmalloc_total: u64,
    pub vmalloc_used: u64,
    /// Per-CPU allocator.
    pub percpu: u64,
}

/// `/proc/meminfo` (`meminfo_proc_show`, fs/proc/meminfo.c): "Label:" padded to 16 columns, the
/// value right-aligned in 8, then " kB".
pub fn meminfo(m: &MemInfo) -> String {
    let rows: [(&str, u64); 37] = [
        ("MemTotal:", m.mem_total),
        ("MemFree:", m.mem_free),
        ("MemAvailable:", m.mem_available),
        ("Buffers:", m.buffers),
        ("Cached:", m.cached),
        ("SwapCached:", m.swap_cached),
        ("Active:", m.active_anon.saturating_add(m.active_file)),
        ("Inactive:", m.inactive_anon.saturating_add(m.inactive_file)),
        ("Active(anon):", m.active_anon),
        ("Inactive(anon):", m.inactive_anon),
        ("Active(file):", m.active_file),
        ("Inactive(file):", m.inactive_file),
        ("Unevictable:", m.unevictable),
        ("Mlocked:", m.mlocked),
        ("SwapTotal:", m.swap_total),
        ("SwapFree:", m.swap_free),
        ("Dirty:", m.dirty),
        ("Writeback:", m.writeback),
        ("AnonPages:", m.anon_pages),
        ("Mapped:", m.mapped),
        ("Shmem:", m.shmem),
        (
            "KReclaimable:",
            m.slab_reclaimable.saturating_add(m.kernel_misc_reclaimable),
        ),
        (
            "Slab:",
            m.slab_reclaimable.saturating_add(m.slab_unreclaimable),
        ),
        ("SReclaimable:", m.slab_reclaimable),
        ("SUnreclaim:", m.slab_unreclaimable),
        ("KernelStack:", m.kernel_stack),
        ("PageTables:", m.page_tables),
        ("SecPageTables:", m.sec_page_tables),
        // Linux hard-codes NFS_Unstable and VmallocChunk to 0.
        ("NFS_Unstable:", 0),
        ("Bounce:", m.bounce),
        ("WritebackTmp:", m.writeback_tmp),
        ("CommitLimit:", m.commit_limit),
        ("Committed_AS:", m.committed_as),
        ("VmallocTotal:", m.vmalloc_total),
        ("VmallocUsed:", m.vmalloc_used),
        ("VmallocChunk:", 0),
        ("Percpu:", m.percpu),
    ];
    let mut s = String::new();
    for (label, kb) in rows {
        let _ = writeln!(s, "{label:<16}{kb:>8} kB");
    }
    s
}

/// One x86-64 CPU for `/proc/cpuinfo`, as the arch reads it from CPUID.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct X86Cpu<'a> {
    /// Logical CPU number (0-based, as in "cpuN").
    pub processor: u32,
    /// CPUID 0 vendor string, e.g. "GenuineIntel", "AuthenticAMD"; "" prints "unknown".
    pub vendor_id: &'a str,
    /// Display family/model (extended fields already folded in), stepping.
    pub family: u32,
    pub model: u32,
    /// CPUID 0x80000002..4 brand string; "" prints "unknown". Surrounding spaces are trimmed.
    pub model_name: &'a str,
    pub stepping: u32,
    /// Microcode revision; 0 omits the line.
    pub microcode: u32,
    /// Current frequency in kHz; `None` (no TSC) omits the "cpu MHz" line.
    pub cpu_khz: Option<u32>,
    /// Last-level cache size in KiB; 0 omits the line.
    pub cache_size_kb: u32,
    /// Topology: package id, logical CPUs in the package, core id, cores in the package, APIC ids.
    pub physical_id: u32,
    pub siblings: u32,
    pub core_id: u32,
    pub cpu_cores: u32,
    pub apicid: u32,
    pub initial_apicid: u32,
    /// Highest standard CPUID leaf (CPUID 0 EAX).
    pub cpuid_level: u32,
    /// Linux feature flag names, in Linux's `cpufeatures.h` order ("fpu vme de pse tsc ...").
    pub flags: &'a [&'a str],
    /// Linux bug names ("spectre_v1 spectre_v2 ...").
    pub bugs: &'a [&'a str],
    /// BogoMIPS × 100 (Linux prints loops_per_jiffy-derived "%lu.%02lu").
    pub bogomips_centi: u64,
    /// AMD L2 TLB size in 4K pages; 0 omits the line.
    pub tlb_size: u32,
    /// CLFLUSH line size and cache alignment, bytes.
    pub clflush_size: u32,
    pub cache_alignment: u32,
    /// CPUID 0x80000008 EAX address widths.
    pub phys_bits: u32,
    pub virt_bits: u32,
    /// CPUID 0x80000007 EDX (advanced power management features).
    pub power_flags: u32,
}

/// Names of CPUID 0x80000007 EDX bits (`x86_power_flags`); bit 8 (invariant TSC) prints nothing
/// here because Linux reports it as the "constant_tsc" flag instead.
const X86_POWER_FLAGS: [&str; 13] = [
    "ts",
    "fid",
    "vid",
    "ttp",
    "tm",
    "stc",
    "100mhzsteps",
    "hwpstate",
    "",
    "cpb",
    "eff_freq_ro",
    "proc_feedback",
    "acc_power",
];

/// `/proc/cpuinfo` on x86-64 (`show_cpuinfo`, arch/x86/kernel/cpu/proc.c): one block per online
/// CPU, each ending in a blank line.
pub fn x86_cpuinfo(cpus: &[X86Cpu]) -> String {
    let mut s = String::new();
    for c in cpus {
        let vendor = if c.vendor_id.is_empty() {
            "unknown"
        } else {
            c.vendor_id
        };
        let model_name = c.model_name.trim_matches(' ');
        let model_name = if model_name.is_empty() {
            "unknown"
        } else {
            model_name
        };
        let _ = write!(
            s,
            "processor\t: {}\nvendor_id\t: {}\ncpu family\t: {}\nmodel\t\t: {}\n\
             model name\t: {}\nstepping\t: {}\n",
            c.processor, vendor, c.family, c.model, model_name, c.stepping
        );
        if c.microcode != 0 {
            let _ = writeln!(s, "microcode\t: 0x{:x}", c.microcode);
        }
        if let Some(khz) = c.cpu_khz {
            let _ = writeln!(s, "cpu MHz\t\t: {}.{:03}", khz / 1000, khz % 1000);
        }
        if c.cache_size_kb != 0 {
            let _ = writeln!(s, "cache size\t: {} KB", c.cache_size_kb);
        }
        let _ = write!(
            s,
            "physical id\t: {}\nsiblings\t: {}\ncore id\t\t: {}\ncpu cores\t: {}\n\
             apicid\t\t: {}\ninitial apicid\t: {}\n",
            c.physical_id, c.siblings, c.core_id, c.cpu_cores, c.apicid, c.initial_apicid
        );
        let _ = write!(
            s,
            "fpu\t\t: yes\nfpu_exception\t: yes\ncpuid level\t: {}\nwp\t\t: yes\nflags\t\t:",
            c.cpuid_level
        );
        for f in c.flags {
            let _ = write!(s, " {f}");
        }
        s.push_str("\nbugs\t\t:");
        for b in c.bugs {
            let _ = write!(s, " {b}");
        }
        let _ = writeln!(
            s,
            "\nbogomips\t: {}.{:02}",
            c.bogomips_centi / 100,
            c.bogomips_centi % 100
        );
        if c.tlb_size > 0 {
            let _ = writeln!(s, "TLB size\t: {} 4K pages", c.tlb_size);
        }
        let _ = write!(
            s,
            "clflush size\t: {}\ncache_alignment\t: {}\n\
             address sizes\t: {} bits physical, {} bits virtual\npower management:",
            c.clflush_size, c.cache_alignment, c.phys_bits, c.virt_bits
        );
        for bit in 0..32 {
            if c.power_flags & (1 << bit) == 0 {
                continue;
            }
            match X86_POWER_FLAGS.get(bit) {
                Some(&"") => {}
                Some(name) => {
                    let _ = write!(s, " {name}");
                }
                None => {
                    let _ = write!(s, " [{bit}]");
                }
            }
        }
        s.push_str("\n\n");
    }
    s
}

/// AT_HWCAP bit names in bit order (`hwcap_str`, arch/arm64/kernel/cpuinfo.c, Linux 6.1).
const ARM64_HWCAP: [&str; 32] = [
    "fp", "asimd", "evtstrm", "aes", "pmull", "sha1", "sha2", "crc32", "atomics", "fphp",
    "asimdhp", "cpuid", "asimdrdm", "jscvt", "fcma", "lrcpc", "dcpop", "sha3", "sm3", "sm4",
    "asimddp", "sha512", "sve", "asimdfhm", "dit", "uscat", "ilrcpc", "flagm", "ssbs", "sb",
    "paca", "pacg",
];

/// AT_HWCAP2 bit names in bit order (Linux 6.1 knows bits 0..=33).
const ARM64_HWCAP2: [&str; 34] = [
    "dcpodp",
    "sve2",
    "sveaes",
    "svepmull",
    "svebitperm",
    "svesha3",
    "svesm4",
    "flagm2",
    "frint",
    "svei8mm",
    "svef32mm",
    "svef64mm",
    "svebf16",
    "i8mm",
    "bf16",
    "dgh",
    "rng",
    "bti",
    "mte",
    "ecv",
    "afp",
    "rpres",
    "mte3",
    "sme",
    "smei16i64",
    "smef64f64",
    "smei8i32",
    "smef16f32",
    "smeb16f32",
    "smef32f32",
    "smefa64",
    "wfxt",
    "ebf16",
    "sveebf16",
];

/// One AArch64 CPU for `/proc/cpuinfo`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Aarch64Cpu {
    /// Logical CPU number.
    pub processor: u32,
    /// The CPU's MIDR_EL1.
    pub midr: u32,
}

/// System-wide inputs of the AArch64 `/proc/cpuinfo`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Aarch64CpuInfo<'a> {
    /// Online CPUs in order.
    pub cpus: &'a [Aarch64Cpu],
    /// BogoMIPS × 100. Linux derives it from the generic timer: 2 × CNTFRQ in MHz
    /// (62.5 MHz → 125.00).
    pub bogomips_centi: u64,
    /// The AT_HWCAP / AT_HWCAP2 values given to processes; they select the "Features" names.
    pub hwcap: u64,
    pub hwcap2: u64,
}

/// `/proc/cpuinfo` on AArch64 (`c_show`, arch/arm64/kernel/cpuinfo.c) for 64-bit readers: no
/// "model name" line (Linux prints it only to AArch32 tasks, which Cyphera does not run).
pub fn aarch64_cpuinfo(info: &Aarch64CpuInfo) -> String {
    let mut s = String::new();
    for c in info.cpus {
        let midr = c.midr;
        let _ = write!(
            s,
            "processor\t: {}\nBogoMIPS\t: {}.{:02}\nFeatures\t:",
            c.processor,
            info.bogomips_centi / 100,
            info.bogomips_centi % 100
        );
        for (bit, name) in ARM64_HWCAP.iter().enumerate() {
            if info.hwcap & (1 << bit) != 0 {
                let _ = write!(s, " {name}");
            }
        }
        for (bit, name) in ARM64_HWCAP2.iter().enumerate() {
            if info.hwcap2 & (1 << bit) != 0 {
                let _ = write!(s, " {name}");
            }
        }
        let _ = write!(
            s,
            "\nCPU implementer\t: 0x{:02x}\nCPU architecture: 8\nCPU variant\t: 0x{:x}\n\
             CPU part\t: 0x{:03x}\nCPU revision\t: {}\n\n",
            midr >> 24,
            (midr >> 20) & 0xf,
            (midr >> 4) & 0xfff,
            midr & 0xf
        );
    }
    s
}

/// `/proc/uptime` (`uptime_proc_show`): seconds since boot and idle seconds summed over all CPUs,
/// both with two truncated decimals. Inputs in nanoseconds.
pub fn uptime(uptime_ns: u64, idle_ns: u64) -> String {
    let cs = NSEC_PER_SEC / 100;
    alloc::format!(
        "{}.{:02} {}.{:02}\n",
        uptime_ns / NSEC_PER_SEC,
        uptime_ns % NSEC_PER_SEC / cs,
        idle_ns / NSEC_PER_SEC,
        idle_ns % NSEC_PER_SEC / cs
    )
}

/// Fixed-point shift of load averages (Linux `FSHIFT`): 1.0 is `1 << 11`.
pub const LOAD_FSHIFT: u32 = 11;

/// Inputs of `/proc/loadavg`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadAvg {
    /// 1, 5 and 15-minute load averages in Linux fixed point (`avenrun`, 1.0 = 1 << LOAD_FSHIFT).
    pub avenrun: [u64; 3],
    /// Runnable tasks now, and all tasks (threads) in the system.
    pub running: u32,
    pub total: u32,
    /// The most recently allocated pid.
    pub last_pid: u32,
}

/// `/proc/loadavg` (`loadavg_proc_show`): "0.00 0.00 0.00 running/total last_pid". Linux rounds
/// each average by adding 1/200 before truncating to two decimals.
pub fn loadavg(l: &LoadAvg) -> String {
    let fixed_1 = 1u64 << LOAD_FSHIFT;
    let mut s = String::new();
    for a in l.avenrun {
        let a = a.saturating_add(fixed_1 / 200);
        let int = a >> LOAD_FSHIFT;
        let frac = ((a & (fixed_1 - 1)) * 100) >> LOAD_FSHIFT;
        let _ = write!(s, "{int}.{frac:02} ");
    }
    let _ = writeln!(s, "{}/{} {}", l.running, l.total, l.last_pid);
    s
}

/// Inputs of `/proc/version`; the fields are the `uname` strings plus build provenance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VersionInfo<'a> {
    /// `uname -s` (Linux prints "Linux"; must equal what uname(2) returns).
    pub sysname: &'a str,
    /// `uname -r`, e.g. "6.1.0-cyphera".
    pub release: &'a str,
    /// Who built the kernel, on which host, with which compiler ("rustc 1.95.0").
    pub compile_by: &'a str,
    pub compile_host: &'a str,
    pub compiler: &'a str,
    /// `uname -v`, e.g. "#1 SMP PREEMPT Thu Jan 1 00:00:00 UTC 1970".
    pub version: &'a str,
}

/// `/proc/version` (`linux_proc_banner`, init/version.c):
/// "SYSNAME version RELEASE (BY@HOST) (COMPILER) VERSION\n".
pub fn version(v: &VersionInfo) -> String {
    alloc::format!(
        "{} version {} ({}@{}) ({}) {}\n",
        v.sysname,
        v.release,
        v.compile_by,
        v.compile_host,
        v.compiler,
        v.version
    )
}

/// One CPU's time accounting for `/proc/stat`, all in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    pub irq: u64,
    pub softirq: u64,
    pub steal: u64,
    pub guest: u64,
    pub guest_nice: u64,
}

impl CpuTimes {
    fn fields(&self) -> [u64; 10] {
        [
            self.user,
            self.nice,
            self.system,
            self.idle,
            self.iowait,
            self.irq,
            self.softirq,
            self.steal,
            self.guest,
            self.guest_nice,
        ]
    }
}

/// Number of softirq kinds Linux reports (HI, TIMER, NET_TX, NET_RX, BLOCK, IRQ_POLL, TASKLET,
/// SCHED, HRTIMER, RCU).
pub const NR_SOFTIRQS: usize = 10;

/// Inputs of `/proc/stat`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SystemStat<'a> {
    /// Online CPUs in order ("cpu0", "cpu1", ...); the "cpu" line is their sum.
    pub cpus: &'a [CpuTimes],
    /// Interrupts serviced since boot, all sources (including ones without an IRQ number).
    pub interrupts_total: u64,
    /// Per IRQ number 0..nr_irqs, the count since boot (zeros included).
    pub interrupts: &'a [u64],
    /// Context switches since boot.
    pub context_switches: u64,
    /// Boot time, seconds since the Unix epoch.
    pub boot_time: u64,
    /// Processes/threads created since boot (fork/clone count).
    pub forks: u64,
    /// Tasks runnable now, and tasks blocked in uninterruptible I/O wait.
    pub procs_running: u32,
    pub procs_blocked: u32,
    /// Softirqs handled since boot, per kind.
    pub softirqs: [u64; NR_SOFTIRQS],
}

/// `/proc/stat` (`show_stat`, fs/proc/stat.c); times in clock ticks (USER_HZ = 100).
pub fn stat(st: &SystemStat) -> String {
    let mut s = String::new();
    let mut sum = [0u64; 10];
    for c in st.cpus {
        for (acc, v) in sum.iter_mut().zip(c.fields()) {
            *acc = acc.saturating_add(v);
        }
    }
    s.push_str("cpu ");
    for v in sum {
        let _ = write!(s, " {}", ns_to_clock_ticks(v));
    }
    s.push('\n');
    for (i, c) in st.cpus.iter().enumerate() {
        let _ = write!(s, "cpu{i}");
        for v in c.fields() {
            let _ = write!(s, " {}", ns_to_clock_ticks(v));
        }
        s.push('\n');
    }
    let _ = write!(s, "intr {}", st.interrupts_total);
    for n in st.interrupts {
        let _ = write!(s, " {n}");
    }
    let softirq_total = st.softirqs.iter().fold(0u64, |a, &b| a.saturating_add(b));
    let _ = write!(
        s,
        "\nctxt {}\nbtime {}\nprocesses {}\nprocs_running {}\nprocs_blocked {}\nsoftirq {}",
        st.context_switches,
        st.boot_time,
        st.forks,
        st.procs_running,
        st.procs_blocked,
        softirq_total
    );
    for n in st.softirqs {
        let _ = write!(s, " {n}");
    }
    s.push('\n');
    s
}

/// A registered file-system type for `/proc/filesystems`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FilesystemType<'a> {
    pub name: &'a str,
    /// Needs a block device (FS_REQUIRES_DEV); the others are marked "nodev".
    pub requires_dev: bool,
}

/// `/proc/filesystems` (`filesystems_proc_show`, fs/filesystems.c): "nodev\tNAME" or "\tNAME".
pub fn filesystems(types: &[FilesystemType]) -> String {
    let mut s = String::new();
    for t in types {
        let _ = writeln!(
            s,
            "{}\t{}",
            if t.requires_dev { "" } else { "nodev" },
            t.name
        );
    }
    s
}

/// Per-mount flags shown in `/proc/mounts`, in the order Linux prints them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MountFlags {
    pub read_only: bool,
    /// Superblock flags.
    pub sync: bool,
    pub dirsync: bool,
    pub mand: bool,
    pub lazytime: bool,
    /// Mount-point flags.
    pub nosuid: bool,
    pub nodev: bool,
    pub noexec: bool,
    pub noatime: bool,
    pub nodiratime: bool,
    pub relatime: bool,
    pub nosymfollow: bool,
}

/// A file-system-specific mount option ("size=65536k", "mode=755"), shown after the generic ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MountOption<'a> {
    pub name: &'a str,
    pub value: Option<&'a [u8]>,
}

/// One mount for `/proc/mounts` (= `/proc/self/mounts`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MountInfo<'a> {
    /// The `source` given to mount(2) (e.g. "tmpfs", "/dev/vda1"); Linux shows "none" when it was
    /// NULL, so pass b"none" then.
    pub device: &'a [u8],
    /// Absolute path of the mount point as seen from the reader's root.
    pub mount_point: &'a [u8],
    /// File-system type name ("tmpfs", "proc", "devtmpfs", "sysfs", "ramfs", ...).
    pub fs_type: &'a str,
    pub flags: MountFlags,
    pub fs_options: &'a [MountOption<'a>],
}

/// `/proc/mounts` (`show_vfsmnt`, fs/proc_namespace.c): "DEV MOUNTPOINT TYPE OPTIONS 0 0" per
/// mount, with space, tab, newline and backslash (and '#' in DEV/TYPE) written as `\ooo` octal so
/// that `getmntent` can split the fields.
pub fn mounts(list: &[MountInfo]) -> Vec<u8> {
    let mut o = Out::new();
    for m in list {
        push_octal_escaped(&mut o, m.device, b" \t\n\\#");
        o.byte(b' ');
        push_octal_escaped(&mut o, m.mount_point, b" \t\n\\");
        o.byte(b' ');
        push_octal_escaped(&mut o, m.fs_type.as_bytes(), b" \t\n\\#");
        let f = &m.flags;
        o.str(if f.read_only { " ro" } else { " rw" });
        for (set, text) in [
            (f.sync, ",sync"),
            (f.dirsync, ",dirsync"),
            (f.mand, ",mand"),
            (f.lazytime, ",lazytime"),
            (f.nosuid, ",nosuid"),
            (f.nodev, ",nodev"),
            (f.noexec, ",noexec"),
            (f.noatime, ",noatime"),
            (f.nodiratime, ",nodiratime"),
            (f.relatime, ",relatime"),
            (f.nosymfollow, ",nosymfollow"),
        ] {
            if set {
                o.str(text);
            }
        }
        // `seq_show_option`: ',' and '=' are separators inside the option list, so they are
        // escaped too (only ',' within a value).
        for opt in m.fs_options {
            o.byte(b',');
            push_octal_escaped(&mut o, opt.name.as_bytes(), b",= \t\n\\");
            if let Some(value) = opt.value {
                o.byte(b'=');
                push_octal_escaped(&mut o, value, b", \t\n\\");
            }
        }
        o.str(" 0 0\n");
    }
    o.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).expect("generator produced UTF-8 for UTF-8 input")
    }

    /// A `cat` process as this host's Linux showed it (`/proc/self/stat`, `statm`, `status`).
    fn cat_process() -> ProcessInfo<'static> {
        ProcessInfo {
            pid: 18234,
            tgid: 18234,
            comm: b"cat",
            state: TaskState::Running,
            ppid: 18230,
            pgrp: 18230,
            session: 17184,
            flags: 0x0040_0000,
            min_flt: 100,
            nice: 0,
            num_threads: 1,
            start_time_ns: 960_284 * 10_000_000 + 9_999_999,
            rss_limit: u64::MAX,
            mm: Some(MmInfo {
                total_vm: 765,
                hiwater_vm: 0,
                hiwater_rss: 0,
                anon_pages: 29,
                file_pages: 395,
                data_vm: 90,
                stack_vm: 33,
                exec_vm: 387,
                page_table_bytes: 52 * 1024,
                start_code: 94351983226880,
                end_code: 94351983246761,
                start_data: 94351983262768,
                end_data: 94351983264384,
                start_brk: 94352010686464,
                start_stack: 140734958677616,
                arg_start: 140734958684896,
                arg_end: 140734958684916,
                env_start: 140734958684916,
                env_end: 140734958686187,
                ..MmInfo::default()
            }),
            exit_signal: 17,
            processor: 1,
            uids: [0; 4],
            gids: [0; 4],
            umask: Some(0o022),
            fd_table_size: 256,
            sigq_limit: 96365,
            caps: Capabilities {
                permitted: 0x1ff_ffff_ffff,
                effective: 0x1ff_ffff_ffff,
                bounding: 0x1ff_ffff_ffff,
                ..Capabilities::default()
            },
            cpus_allowed: 0b11,
            nr_cpu_ids: 2,
            reader_may_inspect: true,
            ..ProcessInfo::default()
        }
    }

    #[test]
    fn proc_text_stat_matches_linux_line() {
        // Copied from `cat /proc/self/stat` on a Linux host; every field is Linux's.
        let expected = "18234 (cat) R 18230 18230 17184 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 \
            960284 3133440 424 18446744073709551615 94351983226880 94351983246761 \
            140734958677616 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94351983262768 94351983264384 \
            94352010686464 140734958684896 140734958684916 140734958684916 140734958686187 0\n";
        assert_eq!(text(pid_stat(&cat_process())), expected);
    }

    #[test]
    fn proc_text_stat_has_52_fields_after_an_awkward_comm() {
        let p = ProcessInfo {
            comm: b"a) b (c",
            ..cat_process()
        };
        let line = text(pid_stat(&p));
        // procps/busybox find the *last* ')' to skip comm; 2 fields precede it.
        let close = line.rfind(')').unwrap();
        assert_eq!(&line[..close + 1], "18234 (a) b (c)");
        assert_eq!(line[close + 1..].split_whitespace().count() + 2, 52);
        assert!(line.ends_with(" 0\n"));
    }

    #[test]
    fn proc_text_stat_tty_signals_rt_and_zombie() {
        let p = ProcessInfo {
            state: TaskState::Sleeping,
            tty: Some(ControllingTty {
                major: 4,
                minor: 64,
                foreground_pgrp: 7,
            }),
            utime_ns: 1_234_567_890,
            cstime_ns: 20_000_000,
            policy: 1,
            rt_priority: 10,
            // SIGINT (2) and SIGUSR1 (10) pending; a real-time signal (34) is cut off.
            sig_pending: (1 << 1) | (1 << 9) | (1 << 33),
            sig_ignored: 1 << 12,
            sig_caught: 1 << 16,
            ..cat_process()
        };
        let line = text(pid_stat(&p));
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f[2], "S");
        assert_eq!(f[6], "1088"); // makedev(4, 64)
        assert_eq!(f[7], "7");
        assert_eq!(f[13], "123"); // utime: 1.23 s in ticks, truncated
        assert_eq!(f[16], "2");
        assert_eq!(f[17], "-11"); // FIFO prio 10 → task_prio -11
        assert_eq!(f[30], "514");
        assert_eq!(f[32], "4096");
        assert_eq!(f[33], "65536");
        assert_eq!(f[34], "1"); // wchan flag: not running
        assert_eq!(f[39], "10");
        assert_eq!(f[40], "1");

        let zombie = ProcessInfo {
            state: TaskState::Zombie,
            mm: None,
            exit_code: 0x0100,
            ..cat_process()
        };
        let expected = "18234 (cat) Z 18230 18230 17184 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 \
            960284 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 1 0 0 17 1 0 0 0 0 0 \
            0 0 0 0 0 0 0 256\n";
        assert_eq!(text(pid_stat(&zombie)), expected);

        let hidden = ProcessInfo {
            reader_may_inspect: false,
            exit_code: 9,
            ..cat_process()
        };
        let line = text(pid_stat(&hidden));
        assert!(line.contains(" 18446744073709551615 1 1 0 0 0 "));
        assert!(line.ends_with(" 0 0 0 0 0 0 0 0\n"));
    }

    #[test]
    fn proc_text_statm_matches_linux() {
        // `cat /proc/self/statm` on the host: size resident shared text lib data dt.
        assert_eq!(pid_statm(&cat_process()), "765 424 395 5 0 123 0\n");
        let zombie = ProcessInfo {
            mm: None,
            ..cat_process()
        };
        assert_eq!(pid_statm(&zombie), "0 0 0 0 0 0 0\n");
    }

    #[test]
    fn proc_text_status_golden() {
        let expected = "Name:\tcat\n\
            Umask:\t0022\n\
            State:\tR (running)\n\
            Tgid:\t18234\n\
            Ngid:\t0\n\
            Pid:\t18234\n\
            PPid:\t18230\n\
            TracerPid:\t0\n\
            Uid:\t0\t0\t0\t0\n\
            Gid:\t0\t0\t0\t0\n\
            FDSize:\t256\n\
            Groups:\t \n\
            NStgid:\t18234\n\
            NSpid:\t18234\n\
            NSpgid:\t18230\n\
            NSsid:\t17184\n\
            VmPeak:\t    3060 kB\n\
            VmSize:\t    3060 kB\n\
            VmLck:\t       0 kB\n\
            VmPin:\t       0 kB\n\
            VmHWM:\t    1696 kB\n\
            VmRSS:\t    1696 kB\n\
            RssAnon:\t     116 kB\n\
            RssFile:\t    1580 kB\n\
            RssShmem:\t       0 kB\n\
            VmData:\t     360 kB\n\
            VmStk:\t     132 kB\n\
            VmExe:\t      20 kB\n\
            VmLib:\t    1528 kB\n\
            VmPTE:\t      52 kB\n\
            VmSwap:\t       0 kB\n\
            CoreDumping:\t0\n\
            THP_enabled:\t0\n\
            Threads:\t1\n\
            SigQ:\t0/96365\n\
            SigPnd:\t0000000000000000\n\
            ShdPnd:\t0000000000000000\n\
            SigBlk:\t0000000000000000\n\
            SigIgn:\t0000000000000000\n\
            SigCgt:\t0000000000000000\n\
            CapInh:\t0000000000000000\n\
            CapPrm:\t000001ffffffffff\n\
            CapEff:\t000001ffffffffff\n\
            CapBnd:\t000001ffffffffff\n\
            CapAmb:\t0000000000000000\n\
            NoNewPrivs:\t0\n\
            Seccomp:\t0\n\
            Seccomp_filters:\t0\n\
            Speculation_Store_Bypass:\tunknown\n\
            SpeculationIndirectBranch:\tunsupported\n\
            Cpus_allowed:\t3\n\
            Cpus_allowed_list:\t0-1\n\
            voluntary_ctxt_switches:\t0\n\
            nonvoluntary_ctxt_switches:\t0\n";
        assert_eq!(text(pid_status(&cat_process())), expected);
    }

    #[test]
    fn proc_text_status_escapes_name_and_lists_groups_and_signals() {
        let p = ProcessInfo {
            comm: b"a\nb\\c d",
            state: TaskState::Sleeping,
            umask: Some(0),
            groups: &[0, 10, 1000],
            sig_blocked: (1 << 1) | (1 << 63),
            sig_caught: 1 << 16,
            mm: Some(MmInfo {
                total_vm: 100,
                hiwater_vm: 150,
                anon_pages: 10,
                hiwater_rss: 40,
                ..MmInfo::default()
            }),
            ..cat_process()
        };
        let s = text(pid_status(&p));
        assert!(s.starts_with("Name:\ta\\nb\\\\c d\nUmask:\t0000\nState:\tS (sleeping)\n"));
        assert!(s.contains("\nGroups:\t0 10 1000 \nNStgid:"));
        assert!(s.contains("\nSigBlk:\t8000000000000002\n"));
        assert!(s.contains("\nSigCgt:\t0000000000010000\n"));
        assert!(s.contains("\nVmPeak:\t     600 kB\nVmSize:\t     400 kB\n"));
        assert!(s.contains("\nVmHWM:\t     160 kB\nVmRSS:\t      40 kB\n"));

        // A zombie has no mm and no fs: those lines disappear, the rest stay.
        let zombie = ProcessInfo {
            state: TaskState::Zombie,
            mm: None,
            umask: None,
            ..cat_process()
        };
        let s = text(pid_status(&zombie));
        assert!(s.starts_with("Name:\tcat\nState:\tZ (zombie)\n"));
        assert!(!s.contains("Vm"));
        assert!(s.contains("NSsid:\t17184\nThreads:\t1\n"));
    }

    #[test]
    fn proc_text_cpumask_formats() {
        let hex = |mask, n| {
            let mut o = Out::new();
            push_cpumask_hex(&mut o, mask, n);
            text(o.0)
        };
        let list = |mask, n| {
            let mut o = Out::new();
            push_cpumask_list(&mut o, mask, n);
            text(o.0)
        };
        assert_eq!(hex(1, 1), "1");
        assert_eq!(hex(0b1101, 4), "d");
        assert_eq!(hex(0b1, 8), "01");
        assert_eq!(hex((1 << 40) - 1, 40), "ff,ffffffff");
        assert_eq!(hex(1 << 32, 33), "1,00000000");
        assert_eq!(hex(u64::MAX, 64), "ffffffff,ffffffff");
        assert_eq!(hex(u64::MAX, 4), "f");
        assert_eq!(list(0b11, 2), "0-1");
        assert_eq!(list(0b1101, 4), "0,2-3");
        assert_eq!(list(0, 4), "");
        assert_eq!(list(u64::MAX, 64), "0-63");
        assert_eq!(list((1 << 63) | 1, 64), "0,63");
    }

    #[test]
    fn proc_text_cmdline_and_environ() {
        assert_eq!(
            cmdline(&[b"/bin/sh", b"-c", b"echo hi"]),
            b"/bin/sh\0-c\0echo hi\0"
        );
        assert_eq!(cmdline(&[]), b"");
        assert_eq!(
            environ(&[b"HOME=/", b"TERM=linux"]),
            b"HOME=/\0TERM=linux\0"
        );

        // Untouched argument area: returned exactly, environment excluded.
        let area = b"ls\0-l\0PATH=/bin\0";
        assert_eq!(cmdline_from_memory(area, 6), b"ls\0-l\0");
        // setproctitle(): the title overran argv's last NUL into the environment.
        let area = b"nginx: worker process\0/bin\0";
        assert_eq!(cmdline_from_memory(area, 6), b"nginx: worker process\0");
        // ... and with no NUL at all, everything available (at most a page) is returned.
        assert_eq!(cmdline_from_memory(b"abcdef", 3), b"abcdef");
        let big = vec![b'x'; 5000];
        assert_eq!(cmdline_from_memory(&big, 10).len(), PAGE_SIZE as usize);
        // Nonsense lengths do not panic.
        assert_eq!(cmdline_from_memory(b"ab\0", 99), b"ab\0");
        assert_eq!(cmdline_from_memory(b"", 0), b"");
    }

    #[test]
    fn proc_text_maps_matches_linux_lines() {
        let maps = [
            Mapping {
                start: 0x55af335de000,
                end: 0x55af335e0000,
                read: true,
                name: MapName::File {
                    path: b"/usr/bin/cat",
                    offset: 0,
                    dev_major: 0xfe,
                    dev_minor: 0,
                    inode: 247030,
                },
                ..Mapping::default()
            },
            Mapping {
                start: 0x55af335e0000,
                end: 0x55af335e5000,
                read: true,
                exec: true,
                name: MapName::File {
                    path: b"/usr/bin/cat",
                    offset: 0x2000,
                    dev_major: 0xfe,
                    dev_minor: 0,
                    inode: 247030,
                },
                ..Mapping::default()
            },
            Mapping {
                start: 0x55af501b6000,
                end: 0x55af501d7000,
                read: true,
                write: true,
                name: MapName::Heap,
                ..Mapping::default()
            },
            Mapping {
                start: 0x7f8214bf4000,
                end: 0x7f8214c16000,
                read: true,
                write: true,
                ..Mapping::default()
            },
            Mapping {
                start: 0x7f8214e5c000,
                end: 0x7f8214e63000,
                read: true,
                shared: true,
                name: MapName::File {
                    path: b"/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache",
                    offset: 0,
                    dev_major: 0xfe,
                    dev_minor: 0,
                    inode: 325745,
                },
                ..Mapping::default()
            },
            Mapping {
                start: 0x7f8214e66000,
                end: 0x7f8214e6a000,
                read: true,
                name: MapName::Special("[vvar]"),
                ..Mapping::default()
            },
        ];
        // Lines copied from `cat /proc/self/maps` on a Linux host (note the trailing space of
        // the unnamed anonymous mapping).
        let expected = "\
55af335de000-55af335e0000 r--p 00000000 fe:00 247030                     /usr/bin/cat
55af335e0000-55af335e5000 r-xp 00002000 fe:00 247030                     /usr/bin/cat
55af501b6000-55af501d7000 rw-p 00000000 00:00 0                          [heap]
7f8214bf4000-7f8214c16000 rw-p 00000000 00:00 0 \n\
7f8214e5c000-7f8214e63000 r--s 00000000 fe:00 325745                     /usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache
7f8214e66000-7f8214e6a000 r--p 00000000 00:00 0                          [vvar]
";
        assert_eq!(text(pid_maps(&maps)), expected);
    }

    #[test]
    fn proc_text_maps_short_addresses_long_lines_and_escapes() {
        let maps = [
            Mapping {
                start: 0x400000,
                end: 0x401000,
                read: true,
                exec: true,
                name: MapName::File {
                    path: b"/bin/odd\nname",
                    offset: 0x1_0000_0000,
                    dev_major: 0x103,
                    dev_minor: 0x1234,
                    inode: 1_234_567,
                },
                ..Mapping::default()
            },
            Mapping {
                start: 0xffff_ffff_ff60_0000,
                end: 0xffff_ffff_ff60_1000,
                exec: true,
                name: MapName::File {
                    path: b"/long",
                    offset: 0xffff_ffff_ffff_f000,
                    dev_major: 0xfff,
                    dev_minor: 0xf_ffff,
                    inode: u64::MAX,
                },
                ..Mapping::default()
            },
            Mapping {
                start: 0x7ffc_0000_0000,
                end: 0x7ffc_0002_1000,
                read: true,
                write: true,
                name: MapName::Stack,
                ..Mapping::default()
            },
            Mapping {
                start: 0x1000,
                end: 0x2000,
                name: MapName::AnonNamed(b"jit"),
                ..Mapping::default()
            },
        ];
        // Fields wider than Linux's minimum widths push the name right. Past column 73 there is
        // nothing to pad, but `seq_pad` still adds its space after the header's own: two spaces.
        let expected = "\
00400000-00401000 r-xp 100000000 103:1234 1234567                        /bin/odd\\012name
ffffffffff600000-ffffffffff601000 --xp fffffffffffff000 fff:fffff 18446744073709551615  /long
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]
00001000-00002000 ---p 00000000 00:00 0                                  [anon:jit]
";
        assert_eq!(text(pid_maps(&maps)), expected);
        assert_eq!(pid_maps(&[]), b"");
    }

    #[test]
    fn proc_text_meminfo_matches_linux() {
        let m = MemInfo {
            mem_total: 24684096,
            mem_free: 22200424,
            mem_available: 24216932,
            buffers: 37860,
            cached: 1658908,
            active_anon: 1528,
            inactive_anon: 4604,
            active_file: 988232,
            inactive_file: 699748,
            unevictable: 13764,
            mlocked: 12888,
            dirty: 288,
            anon_pages: 11228,
            mapped: 10716,
            shmem: 8788,
            slab_reclaimable: 646048,
            slab_unreclaimable: 55860,
            kernel_stack: 1456,
            page_tables: 1912,
            commit_limit: 12342048,
            committed_as: 57764,
            vmalloc_total: 34359738367,
            vmalloc_used: 14284,
            percpu: 832,
            ..MemInfo::default()
        };
        // `cat /proc/meminfo` on a Linux host, minus the lines of config options Cyphera lacks
        // (Zswap, THP, hugetlb, DirectMap).
        let expected = "\
MemTotal:       24684096 kB
MemFree:        22200424 kB
MemAvailable:   24216932 kB
Buffers:           37860 kB
Cached:          1658908 kB
SwapCached:            0 kB
Active:           989760 kB
Inactive:         704352 kB
Active(anon):       1528 kB
Inactive(anon):     4604 kB
Active(file):     988232 kB
Inactive(file):   699748 kB
Unevictable:       13764 kB
Mlocked:           12888 kB
SwapTotal:             0 kB
SwapFree:              0 kB
Dirty:               288 kB
Writeback:             0 kB
AnonPages:         11228 kB
Mapped:            10716 kB
Shmem:              8788 kB
KReclaimable:     646048 kB
Slab:             701908 kB
SReclaimable:     646048 kB
SUnreclaim:        55860 kB
KernelStack:        1456 kB
PageTables:         1912 kB
SecPageTables:         0 kB
NFS_Unstable:          0 kB
Bounce:                0 kB
WritebackTmp:          0 kB
CommitLimit:    12342048 kB
Committed_AS:      57764 kB
VmallocTotal:   34359738367 kB
VmallocUsed:       14284 kB
VmallocChunk:          0 kB
Percpu:              832 kB
";
        assert_eq!(meminfo(&m), expected);
    }

    #[test]
    fn proc_text_x86_cpuinfo_matches_linux() {
        let flags = ["fpu", "vme", "de", "pse", "tsc", "msr", "pae"];
        let bugs = ["spectre_v1", "spectre_v2"];
        let cpu = X86Cpu {
            processor: 0,
            vendor_id: "GenuineIntel",
            family: 6,
            model: 85,
            model_name: "Intel(R) Xeon(R) Processor @ 2.50GHz   ",
            stepping: 7,
            microcode: 1,
            cpu_khz: Some(2_499_982),
            cache_size_kb: 36608,
            siblings: 2,
            cpu_cores: 2,
            cpuid_level: 22,
            flags: &flags,
            bugs: &bugs,
            bogomips_centi: 499_996,
            clflush_size: 64,
            cache_alignment: 64,
            phys_bits: 46,
            virt_bits: 48,
            ..X86Cpu::default()
        };
        let cpu1 = X86Cpu {
            processor: 1,
            vendor_id: "",
            model_name: "",
            microcode: 0,
            cpu_khz: None,
            cache_size_kb: 0,
            core_id: 1,
            apicid: 1,
            initial_apicid: 1,
            flags: &[],
            bugs: &[],
            tlb_size: 3072,
            // ts, ttp, the invariant-TSC bit (silent), cpb and an unnamed bit 14.
            power_flags: (1 << 0) | (1 << 3) | (1 << 8) | (1 << 9) | (1 << 14),
            ..cpu
        };
        // First block: the host's /proc/cpuinfo with the flag and bug lists shortened.
        let expected = "\
processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 85
model name\t: Intel(R) Xeon(R) Processor @ 2.50GHz
stepping\t: 7
microcode\t: 0x1
cpu MHz\t\t: 2499.982
cache size\t: 36608 KB
physical id\t: 0
siblings\t: 2
core id\t\t: 0
cpu cores\t: 2
apicid\t\t: 0
initial apicid\t: 0
fpu\t\t: yes
fpu_exception\t: yes
cpuid level\t: 22
wp\t\t: yes
flags\t\t: fpu vme de pse tsc msr pae
bugs\t\t: spectre_v1 spectre_v2
bogomips\t: 4999.96
clflush size\t: 64
cache_alignment\t: 64
address sizes\t: 46 bits physical, 48 bits virtual
power management:

processor\t: 1
vendor_id\t: unknown
cpu family\t: 6
model\t\t: 85
model name\t: unknown
stepping\t: 7
physical id\t: 0
siblings\t: 2
core id\t\t: 1
cpu cores\t: 2
apicid\t\t: 1
initial apicid\t: 1
fpu\t\t: yes
fpu_exception\t: yes
cpuid level\t: 22
wp\t\t: yes
flags\t\t:
bugs\t\t:
bogomips\t: 4999.96
TLB size\t: 3072 4K pages
clflush size\t: 64
cache_alignment\t: 64
address sizes\t: 46 bits physical, 48 bits virtual
power management: ts ttp cpb [14]

";
        assert_eq!(x86_cpuinfo(&[cpu, cpu1]), expected);
    }

    #[test]
    fn proc_text_aarch64_cpuinfo_golden() {
        // QEMU `-cpu cortex-a72`: MIDR 0x410fd083, 62.5 MHz generic timer.
        let cpus = [
            Aarch64Cpu {
                processor: 0,
                midr: 0x410f_d083,
            },
            Aarch64Cpu {
                processor: 1,
                midr: 0x411f_d0c1,
            },
        ];
        let info = Aarch64CpuInfo {
            cpus: &cpus,
            bogomips_centi: 12_500,
            hwcap: 0xff | (1 << 11),
            hwcap2: (1 << 1) | (1 << 33),
        };
        let expected = "\
processor\t: 0
BogoMIPS\t: 125.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid sve2 sveebf16
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x0
CPU part\t: 0xd08
CPU revision\t: 3

processor\t: 1
BogoMIPS\t: 125.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid sve2 sveebf16
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x1
CPU part\t: 0xd0c
CPU revision\t: 1

";
        assert_eq!(aarch64_cpuinfo(&info), expected);
    }

    #[test]
    fn proc_text_uptime_and_loadavg() {
        assert_eq!(
            uptime(9_890_539_999_999, 4_934_440_000_001),
            "9890.53 4934.44\n"
        );
        assert_eq!(uptime(0, 0), "0.00 0.00\n");
        assert_eq!(uptime(u64::MAX, 5_000_000), "18446744073.70 0.00\n");

        let one = 1 << LOAD_FSHIFT;
        let l = LoadAvg {
            // 17973/2048 = 8.7759: Linux's +1/200 makes it 8.78 (plain truncation gives 8.77);
            // and 1.0 minus one unit rounds up to 1.00.
            avenrun: [17973, 0, one - 1],
            running: 10,
            total: 138,
            last_pid: 22285,
        };
        assert_eq!(loadavg(&l), "8.78 0.00 1.00 10/138 22285\n");
        let huge = LoadAvg {
            avenrun: [u64::MAX; 3],
            ..l
        };
        assert!(loadavg(&huge).ends_with(" 10/138 22285\n"));
    }

    #[test]
    fn proc_text_version() {
        let v = VersionInfo {
            sysname: "Linux",
            release: "6.1.0-cyphera",
            compile_by: "cyphera",
            compile_host: "build",
            compiler: "rustc 1.95.0",
            version: "#1 SMP PREEMPT_DYNAMIC",
        };
        assert_eq!(
            version(&v),
            "Linux version 6.1.0-cyphera (cyphera@build) (rustc 1.95.0) #1 SMP PREEMPT_DYNAMIC\n"
        );
    }

    #[test]
    fn proc_text_system_stat_golden() {
        let t = |ticks: u64| ticks * 10_000_000;
        let cpus = [
            CpuTimes {
                // Half a tick each on both CPUs: the summed line gains a whole tick, as on Linux.
                user: t(633324) + 5_000_000,
                system: t(82320),
                idle: t(261481),
                iowait: t(1608),
                softirq: t(540),
                steal: t(9966),
                ..CpuTimes::default()
            },
            CpuTimes {
                user: t(653969) + 5_000_000,
                system: t(88042),
                idle: t(231962),
                iowait: t(3801),
                softirq: t(935),
                steal: t(10531),
                guest: t(2),
                ..CpuTimes::default()
            },
        ];
        let st = SystemStat {
            cpus: &cpus,
            interrupts_total: 1234,
            interrupts: &[0, 1200, 0, 34],
            context_switches: 47569159,
            boot_time: 1795215021,
            forks: 379290,
            procs_running: 10,
            procs_blocked: 0,
            softirqs: [0, 662698, 4, 60701, 507471, 0, 218, 720710, 0, 1801481],
        };
        let expected = "\
cpu  1287294 0 170362 493443 5409 0 1475 20497 2 0
cpu0 633324 0 82320 261481 1608 0 540 9966 0 0
cpu1 653969 0 88042 231962 3801 0 935 10531 2 0
intr 1234 0 1200 0 34
ctxt 47569159
btime 1795215021
processes 379290
procs_running 10
procs_blocked 0
softirq 3753283 0 662698 4 60701 507471 0 218 720710 0 1801481
";
        assert_eq!(stat(&st), expected);
    }

    #[test]
    fn proc_text_filesystems() {
        let fs = [
            FilesystemType {
                name: "tmpfs",
                requires_dev: false,
            },
            FilesystemType {
                name: "ext2",
                requires_dev: true,
            },
        ];
        assert_eq!(filesystems(&fs), "nodev\ttmpfs\n\text2\n");
    }

    #[test]
    fn proc_text_mounts_golden_and_escapes() {
        let devtmpfs_opts = [
            MountOption {
                name: "size",
                value: Some(b"12334524k"),
            },
            MountOption {
                name: "nr_inodes",
                value: Some(b"3083631"),
            },
            MountOption {
                name: "mode",
                value: Some(b"755"),
            },
        ];
        let odd_opts = [
            MountOption {
                name: "a=b,c",
                value: None,
            },
            MountOption {
                name: "label",
                value: Some(b"x=y,z w"),
            },
        ];
        let list = [
            MountInfo {
                device: b"proc",
                mount_point: b"/proc",
                fs_type: "proc",
                flags: MountFlags {
                    relatime: true,
                    ..MountFlags::default()
                },
                fs_options: &[],
            },
            MountInfo {
                device: b"devtmpfs",
                mount_point: b"/dev",
                fs_type: "devtmpfs",
                flags: MountFlags {
                    relatime: true,
                    ..MountFlags::default()
                },
                fs_options: &devtmpfs_opts,
            },
            MountInfo {
                device: b"my#dev x",
                mount_point: b"/mnt/a b\tc\\d\ne#f",
                fs_type: "fuse#x",
                flags: MountFlags {
                    read_only: true,
                    sync: true,
                    lazytime: true,
                    nosuid: true,
                    nodev: true,
                    noexec: true,
                    noatime: true,
                    nosymfollow: true,
                    ..MountFlags::default()
                },
                fs_options: &odd_opts,
            },
        ];
        // The first two lines are verbatim from a Linux host's /proc/mounts.
        let expected = "\
proc /proc proc rw,relatime 0 0
devtmpfs /dev devtmpfs rw,relatime,size=12334524k,nr_inodes=3083631,mode=755 0 0
my\\043dev\\040x /mnt/a\\040b\\011c\\134d\\012e#f fuse\\043x \
ro,sync,lazytime,nosuid,nodev,noexec,noatime,nosymfollow,a\\075b\\054c,label=x=y\\054z\\040w 0 0
";
        assert_eq!(text(mounts(&list)), expected);
    }

    #[test]
    fn proc_text_encode_dev_and_ticks() {
        assert_eq!(encode_dev(4, 64), 1088);
        assert_eq!(encode_dev(136, 3), 0x8803);
        // Minor bits above the low 8 move up by 12, past the major in bits 8..20.
        assert_eq!(encode_dev(136, 0x1234), 0x0120_8834);
        assert_eq!(ns_to_clock_ticks(9_999_999), 0);
        assert_eq!(ns_to_clock_ticks(10_000_000), 1);
        assert_eq!(ns_to_clock_ticks(u64::MAX), u64::MAX / 10_000_000);
    }
}
