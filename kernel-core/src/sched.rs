//! The run loop, which is also the scheduler: pick a runnable thread, deliver its signals, run it
//! in user mode until it traps, handle why it came back, repeat. Round-robin with a time slice
//! enforced by the timer's deadline interrupt; deadlines of parked syscalls expire here; with
//! nothing runnable the CPU idles until the next interrupt.

use crate::errno::Errno;
use crate::kprintln;
use crate::signal::{self, DefaultAction, SigFields, SigInfo};
use crate::syscall;
use crate::task::{ExitStatus, InitEnd, Kernel, ThreadState, Tid, Wait, err};
use hal::arch::Arch;
use hal::signal::SignalDelivery;
use hal::user::{FaultKind, ReturnReason, UserContext};

/// How long a thread runs before another runnable thread gets the CPU.
pub const TIME_SLICE_NS: u64 = 10_000_000;
/// Stack bytes made present below the stack pointer before a signal frame is written (the
/// largest frame, AArch64's, is about 4.6 KiB).
const SIGNAL_FRAME_RESERVE: u64 = 8192;

/// Runs until init ends; returns how it ended.
pub fn run<A: Arch>(k: &mut Kernel<A>) -> InitEnd {
    run_loop(k, None).expect("the run loop only stops when init ends")
}

/// Runs until init ends (`Some`) or `stop` holds after a trap has been handled (`None`).
pub fn run_until<A: Arch>(k: &mut Kernel<A>, stop: impl Fn(&Kernel<A>) -> bool) -> Option<InitEnd> {
    run_loop(k, Some(&stop))
}

/// A test's condition for leaving the run loop (see [`run_until`]).
type StopTest<'a, A> = &'a dyn Fn(&Kernel<A>) -> bool;

/// The loop of [`run`] and [`run_until`]; `stop` (tests only) is checked after every trap.
fn run_loop<A: Arch>(k: &mut Kernel<A>, stop: Option<StopTest<'_, A>>) -> Option<InitEnd> {
    let mut current: Option<(Tid, u64)> = None;
    loop {
        if let Some(end) = k.init_end {
            return Some(end);
        }
        let now = k.clock.monotonic();
        crate::tty_glue::sample_input(k, now);
        // The UART has no receive interrupt yet: wake at least this often to look at it.
        let next_deadline = Some(
            expire_deadlines(k, now).map_or(now + crate::tty_glue::SAMPLE_NS, |d| {
                d.min(now + crate::tty_glue::SAMPLE_NS)
            }),
        );
        crate::fd::drain_notifications(k);
        if stop.is_some_and(|stop| stop(k)) {
            // The current thread is held only here: give it back to the queue, first in line.
            if let Some((tid, _)) = current
                && runnable(k, tid)
            {
                k.run_queue.push_front(tid);
            }
            return None;
        }

        // Keep the current thread while its slice lasts; otherwise take the next in line.
        let yielded = core::mem::take(&mut k.yield_requested);
        let (tid, slice_end) = match current.take() {
            Some((tid, end)) if now < end && !yielded && runnable(k, tid) => (tid, end),
            Some((tid, _)) => {
                if runnable(k, tid) {
                    k.run_queue.push_back(tid);
                }
                match next_runnable(k) {
                    Some(t) => (t, now + TIME_SLICE_NS),
                    None => continue,
                }
            }
            None => match next_runnable(k) {
                Some(t) => (t, now + TIME_SLICE_NS),
                None => {
                    idle(k, next_deadline);
                    continue;
                }
            },
        };

        deliver_signals(k, tid);
        if !runnable(k, tid) || k.init_end.is_some() {
            continue;
        }
        current = Some((tid, slice_end));
        let deadline = next_deadline.map_or(slice_end, |d| d.min(slice_end));
        k.clock.set_deadline(deadline, now);
        run_thread(k, tid, stop);
    }
}

/// Runs `tid` in user mode and handles why it came back, again and again while a system call
/// or a resolved page fault leaves nothing for the run loop to do: the thread is still
/// runnable, has no signal to take, did not give up the CPU, and left no I/O notifications or
/// end of init behind. The common case, a call that neither blocks nor signals, then costs no
/// more than the call itself. The loop's other duties keep: the deadline armed before the first
/// entry (the slice's end, the earliest timed wait, the next console sample) interrupts user
/// mode when it comes, and sends the thread back through the loop.
///
/// CPU time is charged from the clock at each crossing: user mode to `user_ns`, the kernel's
/// handling of the thread's traps to `system_ns`.
fn run_thread<A: Arch>(k: &mut Kernel<A>, tid: Tid, stop: Option<StopTest<'_, A>>) {
    // After the first pass: when the kernel took over from user mode, and the value the last
    // system call returns (written here, through the lookup each pass makes anyway).
    let mut after: Option<(u64, Option<u64>)> = None;
    loop {
        if let Some((left, value)) = after
            && let Some(stop) = stop
        {
            // A test stops the loop between two traps: it must see the last call's result.
            if let Some(value) = value
                && let Some(t) = k.threads.get_mut(&tid)
            {
                t.context.set_syscall_return(value);
            }
            after = Some((left, None));
            if stop(k) {
                return;
            }
        }
        let loop_needed = after.is_some()
            && (k.init_end.is_some() || k.yield_requested || crate::fd::notifications_pending());
        let Some(thread) = k.threads.get_mut(&tid) else {
            return;
        };
        if let Some((_, Some(value))) = after {
            thread.context.set_syscall_return(value);
        }
        let Some(process) = k.processes.get(&thread.pid) else {
            return;
        };
        if let Some((left, _)) = after
            && (loop_needed
                || thread.state != ThreadState::Runnable
                || thread.deliverable(process).lowest().is_some())
        {
            thread.system_ns += k.clock.monotonic().saturating_sub(left);
            return;
        }
        let space = k.vms[&process.vm].vm.space();
        let entered = k.clock.monotonic();
        if let Some((left, _)) = after {
            thread.system_ns += entered.saturating_sub(left);
        }
        let reason = A::run_user(&mut thread.context, space);
        let left = k.clock.monotonic();
        thread.user_ns += left.saturating_sub(entered);

        let value = match reason {
            ReturnReason::Syscall => {
                let number = thread.context.syscall_number();
                let args = thread.context.syscall_args();
                k.stats.syscalls += 1;
                syscall::call(k, tid, number, args)
            }
            ReturnReason::Fault(fault) => {
                handle_fault(k, tid, fault);
                None
            }
            ReturnReason::Interrupt => return,
        };
        after = Some((left, value));
    }
}

fn runnable<A: Arch>(k: &Kernel<A>, tid: Tid) -> bool {
    k.threads
        .get(&tid)
        .is_some_and(|t| t.state == ThreadState::Runnable)
}

fn next_runnable<A: Arch>(k: &mut Kernel<A>) -> Option<Tid> {
    while let Some(tid) = k.run_queue.pop_front() {
        if runnable(k, tid) {
            return Some(tid);
        }
    }
    None
}

/// Nothing to run: sleep until the next deadline or any interrupt.
fn idle<A: Arch>(k: &mut Kernel<A>, next_deadline: Option<u64>) {
    if k.threads.is_empty() {
        // Only possible if init is gone, which ends the loop first; never spin silently.
        panic!("no threads left and init has not ended");
    }
    if let Some(deadline) = next_deadline {
        let now = k.clock.monotonic();
        k.clock.set_deadline(deadline, now);
    }
    A::wait_for_interrupt();
}

/// Ends the waits whose deadline has passed; returns the earliest deadline still pending.
fn expire_deadlines<A: Arch>(k: &mut Kernel<A>, now: u64) -> Option<u64> {
    let mut expired = alloc::vec::Vec::new();
    let mut next: Option<u64> = None;
    for (tid, t) in &k.threads {
        let ThreadState::Blocked { wait, .. } = t.state else {
            continue;
        };
        let deadline = match wait {
            Wait::Futex {
                deadline: Some(d), ..
            }
            | Wait::SignalSet {
                deadline: Some(d), ..
            }
            | Wait::Io {
                deadline: Some(d), ..
            } => d,
            Wait::Sleep { deadline, .. } => deadline,
            _ => continue,
        };
        if deadline <= now {
            expired.push((*tid, wait));
        } else {
            next = Some(next.map_or(deadline, |n: u64| n.min(deadline)));
        }
    }
    for (tid, wait) in expired {
        let result = match wait {
            Wait::Futex { .. } => {
                k.futexes.forget(tid);
                err(Errno::ETIMEDOUT)
            }
            Wait::SignalSet { .. } => err(Errno::EAGAIN),
            // poll/epoll run again at their deadline and then report what is ready (maybe nothing).
            Wait::Io { .. } => {
                k.expire_io(tid);
                continue;
            }
            _ => 0,
        };
        k.wake(tid, Some(result));
    }
    next
}

/// A user fault: demand paging and copy-on-write are resolved by the VM; anything else becomes
/// the signal Linux sends, forced through even if blocked or ignored (as force_sig_fault does).
fn handle_fault<A: Arch>(k: &mut Kernel<A>, tid: Tid, fault: hal::user::UserFault) {
    let (mut info, _) = signal::for_fault(&fault);
    if let FaultKind::PageFault { write, execute, .. } = fault.kind {
        let pid = k.threads[&tid].pid;
        let vm = k.processes[&pid].vm;
        let slot = k.vms.get_mut(&vm).expect("vm");
        match slot
            .vm
            .handle_fault(fault.address, write, execute, &mut k.frames)
        {
            Ok(()) => return,
            Err(crate::vm::FaultError::OutOfMemory) => {
                // Linux's OOM killer would pick a victim; the faulting process is the one here.
                log::warn!(
                    "pid {pid}: out of memory on a page fault at {:#x}; killing it",
                    fault.address
                );
                k.exit_group(
                    pid,
                    ExitStatus::Killed {
                        signal: signal::SIGKILL,
                        core: false,
                    },
                );
                return;
            }
            // The VM knows better than the hardware whether the page was never mapped.
            Err(e) => info.code = e.si_code(),
        }
    }
    force_signal(k, tid, info);
}

/// Sends a synchronous signal that cannot be blocked or ignored away.
pub fn force_signal<A: Arch>(k: &mut Kernel<A>, tid: Tid, info: SigInfo) {
    let sig = info.signal;
    let Some(t) = k.threads.get_mut(&tid) else {
        return;
    };
    let blocked = t.blocked.contains(sig);
    t.blocked.remove(sig);
    let p = k.process_of_mut(tid);
    let action = &mut p.actions[(sig - 1) as usize];
    if blocked || action.handler == signal::SIG_IGN {
        *action = signal::SigAction::default();
    }
    if action.handler == signal::SIG_DFL {
        // As force_sig_info_to_task: a fault init does not handle kills even init.
        p.unkillable = false;
    }
    k.send_to_thread(tid, info);
}

/// Delivers pending signals to `tid` before it returns to user mode: default actions take
/// effect, and for a handler the arch writes Linux's signal frame.
pub fn deliver_signals<A: Arch>(k: &mut Kernel<A>, tid: Tid) {
    loop {
        let Some(t) = k.threads.get(&tid) else { return };
        let pid = t.pid;
        let p = &k.processes[&pid];
        let Some(sig) = t.deliverable(p).lowest() else {
            break;
        };
        let from_thread = t.pending.contains(sig);
        let (t, p) = (
            k.threads.get_mut(&tid).expect("thread"),
            k.processes.get_mut(&pid).expect("process"),
        );
        let info = if from_thread {
            t.pending.take(sig)
        } else {
            p.pending.take(sig)
        }
        .unwrap_or(SigInfo::user(sig, signal::SI_USER, 0));
        let action = p.actions[(sig - 1) as usize];

        if action.handler == signal::SIG_IGN && sig != signal::SIGKILL && sig != signal::SIGSTOP {
            continue;
        }
        if action.handler == signal::SIG_DFL || sig == signal::SIGKILL || sig == signal::SIGSTOP {
            if p.unkillable && sig != signal::SIGKILL && sig != signal::SIGSTOP {
                // Init gets no signal it does not want: one queued while blocked, whose
                // handler is still the default when it is unblocked, is dropped here.
                continue;
            }
            match signal::default_action(sig) {
                DefaultAction::Ignore | DefaultAction::Continue => continue,
                DefaultAction::Stop => {
                    if t.interrupted.take().is_some() {
                        t.context.restart_syscall();
                    }
                    k.stop_process(pid, sig);
                    return;
                }
                action @ (DefaultAction::Terminate | DefaultAction::Core) => {
                    if let SigFields::Fault { address } = info.fields {
                        kprintln!(
                            "cyphera: pid {pid} ({}) killed by {}: {} at {address:#x}, pc {:#x}",
                            p.name,
                            signal::name(sig),
                            fault_description(sig, info.code),
                            t.context.pc()
                        );
                    }
                    let core = action == DefaultAction::Core;
                    k.exit_group(pid, ExitStatus::Killed { signal: sig, core });
                    return;
                }
            }
        }

        // A handler runs. A syscall it interrupted returns -EINTR or is restarted.
        if let Some(restart) = t.interrupted.take() {
            if restart == crate::task::Restart::IfSaRestart
                && action.flags & signal::SA_RESTART != 0
            {
                t.context.restart_syscall();
            } else {
                t.context.set_syscall_return(err(Errno::EINTR));
            }
        }
        let sp = t.context.stack_pointer();
        let alt = t.alt_stack;
        let on_alt =
            alt.flags & crate::task::SS_DISABLE == 0 && sp > alt.sp && sp <= alt.sp + alt.size;
        let use_alt = action.flags & signal::SA_ONSTACK != 0
            && alt.flags & crate::task::SS_DISABLE == 0
            && !on_alt;
        let stack_pointer = if use_alt { alt.sp + alt.size } else { sp };
        let saved_mask = t.saved_mask.take().unwrap_or(t.blocked).0;
        let vm = p.vm;
        let slot = k.vms.get_mut(&vm).expect("vm");
        let restorer = if action.flags & signal::SA_RESTORER != 0 {
            action.restorer
        } else {
            slot.vm.sigreturn_trampoline().unwrap_or(0)
        };
        let delivery = SignalDelivery {
            signal: sig,
            info: info.to_bytes(),
            handler: action.handler,
            flags: action.flags,
            restorer,
            stack_pointer,
            on_alternate_stack: use_alt || on_alt,
            saved_mask,
            alt_stack: alt,
        };
        // The frame's pages may not be present yet (demand-paged stack): fault them in first.
        let reserve_start = stack_pointer.saturating_sub(SIGNAL_FRAME_RESERVE);
        let _ = slot.vm.populate(
            reserve_start,
            stack_pointer - reserve_start,
            true,
            &mut k.frames,
        );
        let t = k.threads.get_mut(&tid).expect("thread");
        if A::push_signal_frame(&mut t.context, slot.vm.space(), &delivery).is_err() {
            // No room for the frame: Linux kills with SIGSEGV.
            k.exit_group(
                pid,
                ExitStatus::Killed {
                    signal: signal::SIGSEGV,
                    core: true,
                },
            );
            return;
        }
        let mut mask = t.blocked.union(action.mask);
        if action.flags & signal::SA_NODEFER == 0 {
            mask.insert(sig);
        }
        t.blocked = mask.sanitized();
        if action.flags & signal::SA_RESETHAND != 0 {
            k.processes.get_mut(&pid).expect("process").actions[(sig - 1) as usize] =
                signal::SigAction::default();
        }
        return;
    }
    // No handler ran: an interrupted syscall simply runs again.
    if let Some(t) = k.threads.get_mut(&tid)
        && t.interrupted.take().is_some()
    {
        t.context.restart_syscall();
    }
}

/// Words for the kernel's report of a fatal fault signal.
fn fault_description(sig: u32, code: i32) -> &'static str {
    match (sig, code) {
        (signal::SIGSEGV, signal::SEGV_MAPERR) => "page fault (not mapped)",
        (signal::SIGSEGV, signal::SEGV_ACCERR) => "page fault (access denied)",
        (signal::SIGSEGV, _) => "general protection fault",
        (signal::SIGBUS, signal::BUS_ADRALN) => "alignment fault",
        (signal::SIGBUS, _) => "bus error",
        (signal::SIGILL, _) => "illegal instruction",
        (signal::SIGFPE, signal::FPE_INTDIV) => "divide error",
        (signal::SIGFPE, _) => "floating-point exception",
        (signal::SIGTRAP, _) => "breakpoint",
        _ => "fault",
    }
}
