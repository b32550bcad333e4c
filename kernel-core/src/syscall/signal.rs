//! Signal system calls: actions, masks, waiting for signals, sending them, the alternate stack
//! and returning from a handler.

use super::{Outcome, ret};
use crate::errno::{Errno, SysResult};
use crate::signal::{self, SigAction, SigInfo, SigSet};
use crate::task::{self, Kernel, Pid, ProcessState, Restart, Tid, Wait};
use crate::time;
use hal::arch::Arch;
use hal::signal::AltStack;

/// The only `sigsetsize` the 64-bit kernel ABI accepts.
const SIGSET_SIZE: u64 = 8;

fn check_sigsetsize(size: u64) -> Result<(), Errno> {
    if size == SIGSET_SIZE {
        Ok(())
    } else {
        Err(Errno::EINVAL)
    }
}

pub fn rt_sigaction<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    sig: u64,
    new: u64,
    old: u64,
    size: u64,
) -> SysResult {
    check_sigsetsize(size)?;
    let sig = u32::try_from(sig)
        .ok()
        .filter(|&s| signal::valid(s))
        .ok_or(Errno::EINVAL)?;
    let new_action = if new != 0 {
        if sig == signal::SIGKILL || sig == signal::SIGSTOP {
            return Err(Errno::EINVAL);
        }
        let raw = k.user(tid).read_array::<{ SigAction::SIZE }>(new)?;
        let mut action = SigAction::from_bytes(&raw);
        action.mask = action.mask.sanitized();
        Some(action)
    } else {
        None
    };
    let current = k.process_of(tid).actions[(sig - 1) as usize];
    if old != 0 {
        k.user(tid).write(old, &current.to_bytes())?;
    }
    if let Some(action) = new_action {
        let pid = k.threads[&tid].pid;
        k.processes.get_mut(&pid).expect("process").actions[(sig - 1) as usize] = action;
        // Setting a signal to be ignored discards it where it is pending (POSIX).
        if action.handler == signal::SIG_IGN
            || (action.handler == signal::SIG_DFL
                && signal::default_action(sig) == signal::DefaultAction::Ignore)
        {
            let p = k.processes.get_mut(&pid).expect("process");
            p.pending.discard(sig);
            for t in p.threads.clone() {
                if let Some(t) = k.threads.get_mut(&t) {
                    t.pending.discard(sig);
                }
            }
        }
    }
    Ok(0)
}

const SIG_BLOCK: u64 = 0;
const SIG_UNBLOCK: u64 = 1;
const SIG_SETMASK: u64 = 2;

pub fn rt_sigprocmask<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    how: u64,
    set: u64,
    old: u64,
    size: u64,
) -> SysResult {
    check_sigsetsize(size)?;
    let current = k.threads[&tid].blocked;
    let new = if set != 0 {
        let set = SigSet(k.user(tid).read_u64(set)?);
        Some(match how {
            SIG_BLOCK => current.union(set),
            SIG_UNBLOCK => current.minus(set),
            SIG_SETMASK => set,
            _ => return Err(Errno::EINVAL),
        })
    } else {
        None
    };
    if old != 0 {
        k.user(tid).write_u64(old, current.0)?;
    }
    if let Some(mask) = new {
        k.threads.get_mut(&tid).expect("thread").blocked = mask.sanitized();
    }
    Ok(0)
}

pub fn rt_sigpending<A: Arch>(k: &mut Kernel<A>, tid: Tid, set: u64, size: u64) -> SysResult {
    if size > SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let t = &k.threads[&tid];
    let pending = t.pending.set().union(k.processes[&t.pid].pending.set());
    let blocked = t.blocked;
    let bytes = SigSet(pending.0 & blocked.0).0.to_le_bytes();
    k.user(tid).write(set, &bytes[..size as usize])?;
    Ok(0)
}

/// Replaces the mask and sleeps until a signal is delivered; always -EINTR (after the handler,
/// the original mask is back).
pub fn rt_sigsuspend<A: Arch>(k: &mut Kernel<A>, tid: Tid, set: u64, size: u64) -> Outcome {
    if let Err(e) = check_sigsetsize(size) {
        return ret(Err(e));
    }
    let mask = match k.user(tid).read_u64(set) {
        Ok(m) => SigSet(m).sanitized(),
        Err(e) => return ret(Err(e)),
    };
    let t = k.threads.get_mut(&tid).expect("thread");
    t.saved_mask = Some(t.blocked);
    t.blocked = mask;
    k.block(tid, Wait::Signal, Restart::Never);
    Outcome::Done
}

pub fn pause<A: Arch>(k: &mut Kernel<A>, tid: Tid) -> Outcome {
    k.block(tid, Wait::Signal, Restart::Never);
    Outcome::Done
}

/// Takes a pending signal from `set` if there is one, thread-directed first.
fn take_pending<A: Arch>(k: &mut Kernel<A>, tid: Tid, set: SigSet) -> Option<SigInfo> {
    let t = k.threads.get_mut(&tid).expect("thread");
    if let Some(sig) = SigSet(t.pending.set().0 & set.0).lowest() {
        return t.pending.take(sig);
    }
    let pid = t.pid;
    let p = k.processes.get_mut(&pid).expect("process");
    let sig = SigSet(p.pending.set().0 & set.0).lowest()?;
    p.pending.take(sig)
}

pub fn rt_sigtimedwait<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    set: u64,
    info: u64,
    timeout: u64,
    size: u64,
) -> Outcome {
    let setup = (|| {
        check_sigsetsize(size)?;
        let set = SigSet(k.user(tid).read_u64(set)?).sanitized();
        let timeout = if timeout != 0 {
            Some(time::timespec_ns(k.user(tid).read_array::<16>(timeout)?)?)
        } else {
            None
        };
        Ok((set, timeout))
    })();
    let (set, timeout) = match setup {
        Ok(v) => v,
        Err(e) => return ret(Err(e)),
    };
    if let Some(found) = take_pending(k, tid, set) {
        let written = if info != 0 {
            k.user(tid).write(info, &found.to_bytes())
        } else {
            Ok(())
        };
        return ret(written.map(|()| found.signal as u64));
    }
    if timeout == Some(0) {
        return ret(Err(Errno::EAGAIN));
    }
    let deadline = timeout.map(|t| k.clock.monotonic().saturating_add(t));
    k.block(
        tid,
        Wait::SignalSet {
            set,
            info,
            deadline,
        },
        Restart::Never,
    );
    Outcome::Done
}

/// Linux's MINSIGSTKSZ differs per arch (x86_64 2048, arm64 5120); the larger keeps both safe.
const MIN_SIGNAL_STACK: u64 = 5120;

pub fn sigaltstack<A: Arch>(k: &mut Kernel<A>, tid: Tid, new: u64, old: u64) -> SysResult {
    let t = &k.threads[&tid];
    let current = t.alt_stack;
    let sp = hal::user::UserContext::stack_pointer(&t.context);
    let on_stack =
        current.flags & task::SS_DISABLE == 0 && sp > current.sp && sp <= current.sp + current.size;
    if old != 0 {
        let mut raw = [0u8; 24];
        raw[..8].copy_from_slice(&current.sp.to_le_bytes());
        let flags = if on_stack {
            task::SS_ONSTACK
        } else {
            current.flags & task::SS_DISABLE
        };
        raw[8..12].copy_from_slice(&flags.to_le_bytes());
        raw[16..24].copy_from_slice(&current.size.to_le_bytes());
        k.user(tid).write(old, &raw)?;
    }
    if new != 0 {
        let raw = k.user(tid).read_array::<24>(new)?;
        let sp = u64::from_le_bytes(raw[..8].try_into().unwrap());
        let flags = u32::from_le_bytes(raw[8..12].try_into().unwrap());
        let size = u64::from_le_bytes(raw[16..24].try_into().unwrap());
        if on_stack {
            return Err(Errno::EPERM);
        }
        const SS_AUTODISARM: u32 = 1 << 31;
        let mode = flags & !SS_AUTODISARM;
        if mode != 0 && mode != task::SS_DISABLE && mode != task::SS_ONSTACK {
            return Err(Errno::EINVAL);
        }
        let stack = if mode == task::SS_DISABLE {
            AltStack {
                sp: 0,
                flags: task::SS_DISABLE,
                size: 0,
            }
        } else {
            if size < MIN_SIGNAL_STACK {
                return Err(Errno::ENOMEM);
            }
            AltStack { sp, flags: 0, size }
        };
        k.threads.get_mut(&tid).expect("thread").alt_stack = stack;
    }
    Ok(0)
}

pub fn kill<A: Arch>(k: &mut Kernel<A>, tid: Tid, pid: i32, sig: u64) -> SysResult {
    let sig = u32::try_from(sig)
        .ok()
        .filter(|&s| s == 0 || signal::valid(s))
        .ok_or(Errno::EINVAL)?;
    let me = k.threads[&tid].pid;
    let targets: alloc::vec::Vec<Pid> = match pid {
        p if p > 0 => alloc::vec![p as Pid],
        0 => group(k, k.processes[&me].pgid),
        -1 => k
            .processes
            .keys()
            .copied()
            .filter(|&p| p != crate::task::INIT_PID && p != me)
            .collect(),
        i32::MIN => return Err(Errno::ESRCH),
        p => group(k, (-p) as Pid),
    };
    let targets: alloc::vec::Vec<Pid> = targets
        .into_iter()
        .filter(|p| {
            k.processes
                .get(p)
                .is_some_and(|p| !matches!(p.state, ProcessState::Zombie(_)))
        })
        .collect();
    if targets.is_empty() {
        return Err(Errno::ESRCH);
    }
    if sig != 0 {
        for target in targets {
            k.send_to_process(target, SigInfo::user(sig, signal::SI_USER, me));
        }
    }
    Ok(0)
}

fn group<A: Arch>(k: &Kernel<A>, pgid: Pid) -> alloc::vec::Vec<Pid> {
    k.processes
        .values()
        .filter(|p| p.pgid == pgid)
        .map(|p| p.pid)
        .collect()
}

/// tkill (no `tgid`) and tgkill.
pub fn tgkill<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    tgid: Option<u64>,
    target: u64,
    sig: u64,
) -> SysResult {
    let sig = u32::try_from(sig)
        .ok()
        .filter(|&s| s == 0 || signal::valid(s))
        .ok_or(Errno::EINVAL)?;
    let target = Tid::try_from(target)
        .ok()
        .filter(|&t| t > 0)
        .ok_or(Errno::EINVAL)?;
    if let Some(tgid) = tgid {
        if tgid == 0 || tgid > i32::MAX as u64 {
            return Err(Errno::EINVAL);
        }
        if k.threads.get(&target).map(|t| t.pid as u64) != Some(tgid) {
            return Err(Errno::ESRCH);
        }
    }
    if !k.threads.contains_key(&target) {
        return Err(Errno::ESRCH);
    }
    if sig != 0 {
        let me = k.threads[&tid].pid;
        k.send_to_thread(target, SigInfo::user(sig, signal::SI_TKILL, me));
    }
    Ok(0)
}

/// The largest signal frame (AArch64's rt_sigframe is 4688 bytes, x86_64's with its FPU image
/// about 1 KiB).
const FRAME_SIZE: u64 = 4688 + 512;

/// Returns from a handler: registers, mask and alternate stack come back from the frame. A
/// damaged frame is SIGSEGV, as on Linux.
pub fn rt_sigreturn<A: Arch>(k: &mut Kernel<A>, tid: Tid) -> Outcome {
    let pid = k.threads[&tid].pid;
    let vm = k.processes[&pid].vm;
    // The frame is normally present (the kernel wrote it), but the handler may have moved the
    // stack pointer: fault the largest frame's worth in first.
    let sp = hal::user::UserContext::stack_pointer(&k.threads[&tid].context);
    let slot = k.vms.get_mut(&vm).expect("vm");
    let _ = slot
        .vm
        .populate(sp.saturating_sub(8), FRAME_SIZE, false, &mut k.frames);
    let space = k.vms[&vm].vm.space();
    let t = k.threads.get_mut(&tid).expect("thread");
    match A::pop_signal_frame(&mut t.context, space) {
        Ok(restored) => {
            t.blocked = SigSet(restored.saved_mask).sanitized();
            let alt = restored.alt_stack;
            // Like restore_altstack: an invalid saved stack is simply not restored.
            if alt.flags & task::SS_DISABLE != 0 {
                t.alt_stack = AltStack {
                    sp: 0,
                    flags: task::SS_DISABLE,
                    size: 0,
                };
            } else if alt.size >= MIN_SIGNAL_STACK {
                t.alt_stack = AltStack {
                    sp: alt.sp,
                    flags: 0,
                    size: alt.size,
                };
            }
            Outcome::Done
        }
        Err(_) => {
            let info = SigInfo {
                signal: signal::SIGSEGV,
                code: 0x80,
                fields: signal::SigFields::Fault { address: 0 },
            };
            crate::sched::force_signal(k, tid, info);
            Outcome::Done
        }
    }
}
