//! The deny list: the few calls the child does not issue, or issues with one argument replaced,
//! because they would end or corrupt the harness rather than test the kernel. Kept short on
//! purpose; every entry says why. Calls are judged by [`table::base`] (the number a kernel that
//! reads only the low 32 bits would run), so an out-of-range alias cannot slip through.
//!
//! Not denied, on purpose: exit and exit_group (they end the child, which the parent counts;
//! gen.rs only draws them less often), rt_sigreturn, clone/fork/vfork (the new task leaves at
//! once, raw.rs), kill(-1) (Linux and Cyphera both spare init and the sender), signals to the
//! child itself, blocking calls (the parent pokes or kills a child that stops progressing), and
//! everything that changes the file system (the parent rebuilds it after every child).

use crate::calls::{self, Call};
use crate::rng::Rng;
use crate::table::{
    self, NR_EXECVE, NR_EXECVEAT, NR_KILL, NR_PIDFD_OPEN, NR_PRLIMIT64, NR_PROCESS_VM_WRITEV,
    NR_PTRACE, NR_REBOOT, NR_RT_SIGQUEUEINFO, NR_RT_TGSIGQUEUEINFO, NR_TGKILL, NR_TKILL,
};

/// Calls denied for now because they panic or hang the kernel and the fix is pending; each
/// entry names the finding. Empty when the kernel survives everything else.
pub const TEMPORARY_DENY: &[usize] = &[];

/// Replaces the path of exec calls with one of [`calls::EXEC_PATHS`]. Running anything else could
/// run /init again: a second fuzzer, or (through /proc/self/exe or a symlink the fuzzer made) a
/// program that is not this test. The safe targets still cover the interesting part of exec —
/// argv/envp copying, the ELF loader on good and damaged files, scripts, errors — and a
/// successful exec simply ends the child. Draws from `rng` only for exec calls, so the sequence
/// stays a function of the seed.
pub fn sanitize(call: &mut Call, rng: &mut Rng) {
    let b = table::base(call.nr);
    if b == NR_EXECVE {
        call.args[0] = calls::exec_path(rng);
    } else if b == NR_EXECVEAT {
        call.args[1] = calls::exec_path(rng);
    }
}

/// The pid an argument names as the kernel reads a `pid_t`: the low 32 bits, signed.
fn pid_arg(v: usize) -> i32 {
    v as u32 as i32
}

/// Whether a signal aimed at `pid` (kill's encoding) would reach init, whose process group is
/// `init_pgid`, from a caller in group `own_pgid`. kill(-1) does not: Linux and Cyphera skip
/// init and the sender.
fn reaches_init(pid: i32, init_pgid: i32, own_pgid: i32) -> bool {
    pid == 1 || (pid == 0 && own_pgid == init_pgid) || (pid != -1 && pid == -init_pgid)
}

/// Why `call` must not be issued, if it must not. `init_pgid` is init's process group;
/// `own_pgid` (the caller's group) is asked only for kill(0, ..).
pub fn check(call: &Call, init_pgid: i32, own_pgid: impl Fn() -> i32) -> Option<&'static str> {
    let b = table::base(call.nr);
    let a = &call.args;
    if TEMPORARY_DENY.contains(&b) {
        return Some("temporarily denied (a pending kernel fix)");
    }
    // reboot with the right magic powers the machine off or restarts it: the run would end as
    // if it had finished. With any other first argument it is only argument checking.
    if b == NR_REBOOT && a[0] as u32 == 0xfee1_dead {
        return Some("reboot would end the run");
    }
    // Signals to init. Linux protects init (SIGNAL_UNKILLABLE: only signals it handles reach
    // it, never SIGKILL or SIGSTOP from inside its namespace); Cyphera delivers them, so a
    // child's kill(1, SIGKILL) would end the fuzzer, and SIGSTOP would hang it. The parent
    // ignores every other signal. Targets: kill/rt_sigqueueinfo take kill's encoding (0 = own
    // group, -N = group N); tkill/tgkill/rt_tgsigqueueinfo name thread ids (init's is 1).
    if b == NR_KILL || b == NR_RT_SIGQUEUEINFO {
        let pid = pid_arg(a[0]);
        let own = if pid == 0 { own_pgid() } else { 0 };
        if reaches_init(pid, init_pgid, own) {
            return Some("signal to init");
        }
    }
    if b == NR_TKILL && pid_arg(a[0]) == 1 {
        return Some("signal to init");
    }
    if (b == NR_TGKILL || b == NR_RT_TGSIGQUEUEINFO) && (pid_arg(a[0]) == 1 || pid_arg(a[1]) == 1) {
        return Some("signal to init");
    }
    // A pidfd for init would let pidfd_send_signal do the same.
    if b == NR_PIDFD_OPEN && pid_arg(a[0]) == 1 {
        return Some("pidfd for init");
    }
    // Other processes' resources and memory: lowering init's RLIMIT_NOFILE or RLIMIT_NPROC
    // would starve the parent, writing its memory or tracing it would corrupt it.
    if (b == NR_PRLIMIT64 || b == NR_PROCESS_VM_WRITEV) && pid_arg(a[0]) == 1 {
        return Some("changes init");
    }
    if b == NR_PTRACE && pid_arg(a[1]) == 1 {
        return Some("traces init");
    }
    None
}
