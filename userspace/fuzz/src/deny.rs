//! The deny list: the few calls the child does not issue, or issues with one argument replaced,
//! because they would end or corrupt the harness rather than test the kernel. Kept short on
//! purpose; every entry says why. Calls are judged by [`table::base`] (the number a kernel that
//! reads only the low 32 bits would run), so an out-of-range alias cannot slip through.
//!
//! Not denied, on purpose: exit and exit_group (they end the child, which the parent counts;
//! gen.rs only draws them less often), rt_sigreturn, clone/fork/vfork (the new task leaves at
//! once, raw.rs), signals to anyone, init included (init gets only the signals it handles, and
//! the parent handles none), blocking calls (the parent pokes or kills a child that stops progressing), and
//! everything that changes the file system (the parent rebuilds it after every child).

use crate::calls::{self, Call};
use crate::rng::Rng;
use crate::table::{
    self, NR_EXECVE, NR_EXECVEAT, NR_PRLIMIT64, NR_PROCESS_VM_WRITEV, NR_PTRACE, NR_REBOOT,
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

/// Why `call` must not be issued, if it must not.
pub fn check(call: &Call) -> Option<&'static str> {
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
    // Signals to init are allowed: init gets only the signals it handles (Linux's
    // SIGNAL_UNKILLABLE, which Cyphera has too), and the parent handles none, so kill(1, ..),
    // tgkill and kill(0, ..) from init's group test exactly that protection.
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
