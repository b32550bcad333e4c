//! Processes and threads, and the state machine that moves them: runnable, parked in a blocking
//! syscall, stopped, exited. Nothing here blocks: a blocking syscall parks its thread with a
//! [`Wait`] and the event that satisfies it wakes the thread, either completing the syscall with a
//! result or re-running it. All kernel state lives in [`Kernel`], owned by the one run loop.

use crate::errno::Errno;
use crate::futex::Futexes;
use crate::memory::BitmapFrameAllocator;
use crate::signal::{self, DefaultAction, SigAction, SigFields, SigInfo, SigSet};
use crate::time::Clock;
use crate::vm::Vm;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use hal::arch::Arch;
use hal::console::Console;
use hal::signal::AltStack;
use hal::user::UserContext;

pub type Pid = u32;

/// Init's pid: the first process, which adopts orphans and whose end ends the system.
pub const INIT_PID: Pid = 1;
pub type Tid = u32;
pub type VmId = u32;

/// Resource limits kept per process (`RLIMIT_*` numbering is the same on both arches).
pub const RLIM_NLIMITS: usize = 16;
pub const RLIM_INFINITY: u64 = u64::MAX;
pub const RLIMIT_STACK: usize = 3;
pub const RLIMIT_NPROC: usize = 6;
pub const RLIMIT_NOFILE: usize = 7;

/// Linux's defaults for init (`INIT_RLIMITS`), in (soft, hard) pairs.
pub fn default_rlimits() -> [(u64, u64); RLIM_NLIMITS] {
    let mut limits = [(RLIM_INFINITY, RLIM_INFINITY); RLIM_NLIMITS];
    limits[RLIMIT_STACK] = (8 << 20, RLIM_INFINITY);
    limits[RLIMIT_NPROC] = (4096, 4096);
    limits[RLIMIT_NOFILE] = (1024, 4096);
    limits[4] = (0, RLIM_INFINITY); // RLIMIT_CORE
    limits[8] = (8 << 20, 8 << 20); // RLIMIT_MEMLOCK
    limits[11] = (4096, 4096); // RLIMIT_SIGPENDING
    limits[12] = (819_200, 819_200); // RLIMIT_MSGQUEUE
    limits[13] = (0, 0); // RLIMIT_NICE
    limits[14] = (0, 0); // RLIMIT_RTPRIO
    limits
}

/// How a blocked syscall behaves when a signal interrupts it (Linux's -ERESTART* family).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// ERESTARTSYS: re-run it if the handler has SA_RESTART or no handler runs, else -EINTR.
    IfSaRestart,
    /// ERESTARTNOHAND: -EINTR when a handler runs (sigsuspend, pause).
    Never,
    /// Not interruptible by signals other than SIGKILL (the vfork parent's wait).
    Uninterruptible,
}

/// Why a thread is parked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// wait4/waitid found no reportable child yet: re-run when a child changes state.
    Child,
    /// futex WAIT on `key`, matching `bitset`; `deadline` in monotonic ns.
    Futex {
        key: crate::futex::FutexKey,
        bitset: u32,
        deadline: Option<u64>,
    },
    /// nanosleep/clock_nanosleep until `deadline` (monotonic ns); `remaining` is the user
    /// address for the time left if interrupted (0: none).
    Sleep { deadline: u64, remaining: u64 },
    /// rt_sigsuspend / pause: only a delivered signal ends it.
    Signal,
    /// rt_sigtimedwait: a signal in `set` ends it (result: the signal number).
    SignalSet {
        set: SigSet,
        info: u64,
        deadline: Option<u64>,
    },
    /// The parent of a vfork child: ends when the child execs or exits.
    Vfork { child: Pid },
    /// I/O that cannot proceed yet (a pipe read with no data, poll/epoll with nothing ready):
    /// re-run when `key` is notified ([`Kernel::notify_io`]) or at `deadline`.
    Io { key: u64, deadline: Option<u64> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    Runnable,
    Blocked {
        wait: Wait,
        restart: Restart,
    },
    /// Stopped by a stop signal (the whole process is stopped).
    Stopped,
}

pub struct Thread<A: Arch> {
    pub tid: Tid,
    pub pid: Pid,
    pub context: A::Context,
    pub state: ThreadState,
    /// Signals this thread blocks.
    pub blocked: SigSet,
    /// The mask to restore after the handler that ends rt_sigsuspend runs.
    pub saved_mask: Option<SigSet>,
    /// Signals directed at this thread (tkill/tgkill, faults).
    pub pending: crate::signal::PendingSignals,
    pub alt_stack: AltStack,
    /// CLONE_CHILD_CLEARTID / set_tid_address: zeroed and futex-woken when the thread exits.
    pub clear_child_tid: u64,
    pub robust_list: (u64, u64),
    /// A blocking syscall was interrupted by a signal: decide -EINTR or restart at delivery.
    pub interrupted: Option<Restart>,
    /// Set when an I/O wait's deadline passed; the re-run call consumes it and does not park again.
    pub io_timed_out: bool,
    /// CPU time consumed in user mode (ns), for times/getrusage/CPUTIME clocks.
    pub user_ns: u64,
    pub system_ns: u64,
}

/// How a process ended, as wait4 reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(u8),
    Killed { signal: u32, core: bool },
}

impl<A: Arch> Thread<A> {
    /// The signals this thread may take now: its own and its process's pending ones, minus its
    /// mask (SIGKILL and SIGSTOP are never masked).
    pub fn deliverable(&self, process: &Process) -> crate::signal::SigSet {
        self.pending
            .set()
            .union(process.pending.set())
            .minus(self.blocked.sanitized())
    }
}

impl ExitStatus {
    /// The `int` wait status Linux encodes (`WIFEXITED` etc.).
    pub fn wait_status(self) -> i32 {
        match self {
            ExitStatus::Exited(code) => (code as i32) << 8,
            ExitStatus::Killed { signal, core } => signal as i32 | if core { 0x80 } else { 0 },
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessState {
    Running,
    /// Stopped by `signal`; `reported` once a waiter with WUNTRACED has seen it.
    Stopped {
        signal: u32,
        reported: bool,
    },
    Zombie(ExitStatus),
}

pub struct Process {
    pub pid: Pid,
    pub parent: Pid,
    pub pgid: Pid,
    pub sid: Pid,
    /// The executable's base name (`comm`).
    pub name: String,
    pub vm: VmId,
    pub threads: Vec<Tid>,
    pub children: Vec<Pid>,
    pub actions: [SigAction; signal::NSIG as usize],
    /// Signals directed at the process as a whole.
    pub pending: crate::signal::PendingSignals,
    pub state: ProcessState,
    /// A SIGCONT resumed the process and no waiter with WCONTINUED has seen it yet.
    pub continued: bool,
    /// The signal sent to the parent when this process ends (clone's low byte; SIGCHLD for fork).
    pub exit_signal: u32,
    pub rlimits: [(u64, u64); RLIM_NLIMITS],
    /// Time of ended threads and of waited-for children, for getrusage/times.
    pub user_ns: u64,
    pub system_ns: u64,
    pub children_user_ns: u64,
    pub children_system_ns: u64,
    /// The parent thread blocked in vfork until this child execs or exits.
    pub vfork_parent: Option<Tid>,
    /// The file-descriptor table (shared with CLONE_FILES processes).
    pub files: crate::fd::SharedTable,
    /// Root, working directory and umask (shared with CLONE_FS processes).
    pub fs: alloc::rc::Rc<core::cell::RefCell<crate::vfs::FsContext>>,
    /// The path execve was given (/proc/<pid>/exe), and argv and envp as NUL-terminated
    /// strings (/proc/<pid>/cmdline and environ).
    pub exe: Vec<u8>,
    pub cmdline: Vec<u8>,
    pub environ: Vec<u8>,
    /// Where argv and envp live in memory (read live by /proc; the copies above are the
    /// fallback when that memory is gone).
    pub arg_areas: crate::process::ArgAreas,
    /// When the process was created (monotonic ns), for /proc/<pid>/stat.
    pub start_ns: u64,
    /// Linux's SIGNAL_UNKILLABLE, which init has: SIGKILL and SIGSTOP never reach it, and a
    /// signal it has left at its default action is dropped, so that no process can end or
    /// stop the system by signalling init. A fault it does not handle clears it (and kills).
    pub unkillable: bool,
}

/// One address space and how many processes use it (CLONE_VM without CLONE_THREAD shares it).
pub struct VmSlot<A: Arch> {
    pub vm: Vm<A>,
    pub users: u32,
}

/// How init ended; the run loop returns it so the board can power off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitEnd {
    Exited(u8),
    Killed(u32),
    /// reboot(2) asked for the machine to end this way.
    PowerOff,
    Restart,
    Halt,
}

pub struct Kernel<A: Arch> {
    pub frames: BitmapFrameAllocator,
    pub console: &'static dyn Console,
    pub clock: Clock,
    pub processes: BTreeMap<Pid, Process>,
    pub threads: BTreeMap<Tid, Thread<A>>,
    pub vms: BTreeMap<VmId, VmSlot<A>>,
    pub run_queue: VecDeque<Tid>,
    pub futexes: Futexes,
    pub rng: crate::random::Rng,
    next_id: u32,
    next_vm: VmId,
    /// Syscall numbers already reported as unsupported: each is logged once.
    pub reported: BTreeSet<u64>,
    pub init_end: Option<InitEnd>,
    /// The initramfs, unpacked into the root tmpfs at start.
    pub initramfs: &'static [u8],
    /// The file system tree.
    pub vfs: crate::vfs::Vfs,
    /// The console as a terminal.
    pub console_tty: crate::tty_glue::ConsoleTty,
    pub host_names: crate::syscall::system::HostNames,
    /// sched_yield asked the run loop to end the current thread's time slice.
    pub yield_requested: bool,
    /// What the kernel has served since boot, reported at power-off (the fuzzer and soak
    /// tests read it to know how much work the kernel survived).
    pub stats: KernelStats,
}

/// Counters of work done since boot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// System calls made (including unknown numbers and failed calls).
    pub syscalls: u64,
    /// Threads created (init's, and every fork, vfork and clone).
    pub threads_created: u64,
}

impl<A: Arch> Kernel<A> {
    pub fn new(
        frames: BitmapFrameAllocator,
        console: &'static dyn Console,
        clock: Clock,
        initramfs: &'static [u8],
    ) -> Self {
        Self {
            frames,
            console,
            clock,
            processes: BTreeMap::new(),
            threads: BTreeMap::new(),
            vms: BTreeMap::new(),
            run_queue: VecDeque::new(),
            futexes: Futexes::default(),
            rng: crate::random::Rng::new(A::random_bytes()),
            next_id: 1,
            next_vm: 1,
            reported: BTreeSet::new(),
            init_end: None,
            initramfs,
            vfs: crate::vfs::Vfs::new(),
            console_tty: crate::tty_glue::ConsoleTty::default(),
            host_names: Default::default(),
            yield_requested: false,
            stats: KernelStats::default(),
        }
    }

    /// A fresh pid/tid (one number space, as on Linux). Wraps around skipping numbers in use.
    pub fn allocate_id(&mut self) -> u32 {
        self.stats.threads_created += 1;
        loop {
            let id = self.next_id;
            self.next_id = if self.next_id >= 4_194_304 {
                2
            } else {
                self.next_id + 1
            };
            if !self.threads.contains_key(&id) && !self.processes.contains_key(&id) {
                return id;
            }
        }
    }

    pub fn add_vm(&mut self, vm: Vm<A>) -> VmId {
        let id = self.next_vm;
        self.next_vm += 1;
        self.vms.insert(id, VmSlot { vm, users: 1 });
        id
    }

    /// Drops one process's use of an address space; the last user frees it.
    pub fn release_vm(&mut self, id: VmId) {
        let Some(slot) = self.vms.get_mut(&id) else {
            return;
        };
        slot.users -= 1;
        if slot.users == 0 {
            let slot = self.vms.remove(&id).expect("vm slot");
            slot.vm.destroy(&mut self.frames);
        }
    }

    pub fn vm_of(&mut self, tid: Tid) -> &mut Vm<A> {
        let pid = self.threads[&tid].pid;
        let vm = self.processes[&pid].vm;
        &mut self.vms.get_mut(&vm).expect("process without vm").vm
    }

    pub fn process_of(&self, tid: Tid) -> &Process {
        &self.processes[&self.threads[&tid].pid]
    }

    pub fn process_of_mut(&mut self, tid: Tid) -> &mut Process {
        let pid = self.threads[&tid].pid;
        self.processes
            .get_mut(&pid)
            .expect("thread without process")
    }

    /// Creates a process with one thread; the caller has built its address space and context.
    pub fn spawn(&mut self, parent: Pid, name: String, vm: VmId, context: A::Context) -> Pid {
        let pid = self.allocate_id();
        let (pgid, sid) = self
            .processes
            .get(&parent)
            .map_or((pid, pid), |p| (p.pgid, p.sid));
        let process = Process {
            unkillable: pid == INIT_PID,
            pid,
            parent,
            pgid,
            sid,
            name,
            vm,
            threads: alloc::vec![pid],
            children: Vec::new(),
            actions: [SigAction::default(); signal::NSIG as usize],
            pending: crate::signal::PendingSignals::default(),
            state: ProcessState::Running,
            continued: false,
            exit_signal: signal::SIGCHLD,
            rlimits: default_rlimits(),
            user_ns: 0,
            system_ns: 0,
            children_user_ns: 0,
            children_system_ns: 0,
            vfork_parent: None,
            files: alloc::rc::Rc::new(core::cell::RefCell::new(crate::fd::FdTable::default())),
            fs: alloc::rc::Rc::new(core::cell::RefCell::new(crate::vfs::FsContext::new(
                &self.vfs,
            ))),
            exe: Vec::new(),
            cmdline: Vec::new(),
            environ: Vec::new(),
            arg_areas: Default::default(),
            start_ns: self.clock.monotonic(),
        };
        self.processes.insert(pid, process);
        if let Some(p) = self.processes.get_mut(&parent) {
            p.children.push(pid);
        }
        self.add_thread(pid, pid, context);
        pid
    }

    pub fn add_thread(&mut self, tid: Tid, pid: Pid, context: A::Context) {
        let thread = Thread {
            tid,
            pid,
            context,
            state: ThreadState::Runnable,
            blocked: SigSet::EMPTY,
            saved_mask: None,
            pending: crate::signal::PendingSignals::default(),
            alt_stack: AltStack {
                sp: 0,
                flags: SS_DISABLE,
                size: 0,
            },
            clear_child_tid: 0,
            robust_list: (0, 0),
            interrupted: None,
            io_timed_out: false,
            user_ns: 0,
            system_ns: 0,
        };
        self.threads.insert(tid, thread);
        self.run_queue.push_back(tid);
    }

    /// Parks `tid` until `wait` is satisfied (or a signal interrupts it). A signal that is
    /// already pending and unblocked interrupts at once, as Linux checks before sleeping.
    pub fn block(&mut self, tid: Tid, wait: Wait, restart: Restart) {
        let Some(t) = self.threads.get_mut(&tid) else {
            return;
        };
        t.state = ThreadState::Blocked { wait, restart };
        if let Some(sig) = t.deliverable(&self.processes[&t.pid]).lowest() {
            self.interrupt(tid, sig);
        }
    }

    /// Ends `tid`'s wait: `Some(value)` completes its syscall with that result, `None` re-runs it.
    pub fn wake(&mut self, tid: Tid, result: Option<u64>) {
        let Some(t) = self.threads.get_mut(&tid) else {
            return;
        };
        if !matches!(t.state, ThreadState::Blocked { .. }) {
            return;
        }
        match result {
            Some(value) => t.context.set_syscall_return(value),
            None => t.context.restart_syscall(),
        }
        t.state = ThreadState::Runnable;
        self.run_queue.push_back(tid);
    }

    /// The vfork child exec'd or exited: its parent resumes, and runs next (Linux's wakeup
    /// preemption gives the woken parent the CPU, and programs' output order depends on it).
    pub fn wake_vfork_parent(&mut self, parent: Tid, child: Pid) {
        self.wake(parent, Some(child as u64));
        if let Some(pos) = self.run_queue.iter().position(|&t| t == parent) {
            self.run_queue.remove(pos);
            self.run_queue.push_front(parent);
        }
        self.yield_requested = true;
    }

    /// Re-runs the syscalls parked on I/O key `key` (a pipe became readable/writable, ...).
    /// Keys are chosen by the file types (e.g. the address of a pipe's shared state).
    pub fn notify_io(&mut self, key: u64) {
        let waiters: Vec<Tid> = self
            .threads
            .iter()
            .filter(|(_, t)| matches!(t.state, ThreadState::Blocked { wait: Wait::Io { key: k, .. }, .. } if k == key))
            .map(|(&tid, _)| tid)
            .collect();
        for tid in waiters {
            self.wake(tid, None);
        }
    }

    /// An I/O wait reached its deadline: the call runs again with `io_timed_out` set so that it
    /// returns what is ready (poll's 0) instead of parking again.
    pub fn expire_io(&mut self, tid: Tid) {
        if let Some(t) = self.threads.get_mut(&tid) {
            t.io_timed_out = true;
        }
        self.wake(tid, None);
    }

    /// Wakes every thread waiting for a child of `parent` so that its wait4/waitid looks again.
    pub fn wake_child_waiters(&mut self, parent: Pid) {
        let waiters: Vec<Tid> = self
            .processes
            .get(&parent)
            .map(|p| p.threads.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|t| {
                matches!(
                    self.threads[t].state,
                    ThreadState::Blocked {
                        wait: Wait::Child,
                        ..
                    }
                )
            })
            .collect();
        for tid in waiters {
            self.wake(tid, None);
        }
    }

    // ----- signals: sending -------------------------------------------------------------------

    /// Queues `info` for process `pid` (kill). Ignored signals are discarded at once, as Linux
    /// does; SIGKILL and SIGCONT take effect immediately on a stopped process.
    pub fn send_to_process(&mut self, pid: Pid, info: SigInfo) {
        let sig = info.signal;
        let Some(p) = self.processes.get_mut(&pid) else {
            return;
        };
        if matches!(p.state, ProcessState::Zombie(_)) || self.dropped_by_init(pid, sig) {
            return;
        }
        if sig == signal::SIGCONT || sig == signal::SIGKILL {
            // Continuing discards pending stop signals, and vice versa. Only SIGCONT is reported
            // to the parent as CLD_CONTINUED; SIGKILL just lets the threads run to their death.
            self.continue_process(pid, sig == signal::SIGCONT);
        }
        let p = self.processes.get_mut(&pid).expect("process");
        if is_stop(sig) {
            p.pending.discard(signal::SIGCONT);
        }
        if self.ignored(pid, sig) {
            return;
        }
        let p = self.processes.get_mut(&pid).expect("process");
        p.pending.add(info);
        // Pick a thread that does not block it and interrupt it if it is parked.
        let threads = p.threads.clone();
        let target = threads
            .iter()
            .copied()
            .find(|t| !self.threads[t].blocked.contains(sig))
            .or(threads.first().copied());
        if let Some(tid) = target {
            self.interrupt(tid, sig);
        }
    }

    /// Queues `info` for one thread (tkill/tgkill, synchronous faults).
    pub fn send_to_thread(&mut self, tid: Tid, info: SigInfo) {
        let sig = info.signal;
        let Some(pid) = self.threads.get(&tid).map(|t| t.pid) else {
            return;
        };
        if self.dropped_by_init(pid, sig) {
            return;
        }
        if sig == signal::SIGCONT || sig == signal::SIGKILL {
            self.continue_process(pid, sig == signal::SIGCONT);
        }
        if self.ignored(pid, sig) {
            return;
        }
        let t = self.threads.get_mut(&tid).expect("thread");
        t.pending.add(info);
        self.interrupt(tid, sig);
    }

    /// True if `sig` is one an unkillable process (init) never receives: SIGKILL and SIGSTOP,
    /// and any signal at its default action that no thread blocks (a blocked one is queued, as
    /// the handler may be set before it is unblocked; delivery drops it if it is not). This is
    /// Linux's sig_task_ignored for SIGNAL_UNKILLABLE.
    fn dropped_by_init(&self, pid: Pid, sig: u32) -> bool {
        let p = &self.processes[&pid];
        if !p.unkillable {
            return false;
        }
        if sig == signal::SIGKILL || sig == signal::SIGSTOP {
            return true;
        }
        let blocked = p
            .threads
            .iter()
            .any(|t| self.threads.get(t).is_some_and(|t| t.blocked.contains(sig)));
        !blocked && p.actions[(sig - 1) as usize].handler == signal::SIG_DFL
    }

    /// True if `sig` would be discarded on arrival: SIG_IGN, or SIG_DFL with the Ignore action —
    /// unless a thread of the process blocks it (Linux's sig_ignored: the handler may change before
    /// it is unblocked, and sigtimedwait may be waiting for it).
    fn ignored(&self, pid: Pid, sig: u32) -> bool {
        if sig == signal::SIGKILL || sig == signal::SIGSTOP {
            return false;
        }
        let p = &self.processes[&pid];
        if p.threads
            .iter()
            .any(|t| self.threads.get(t).is_some_and(|t| t.blocked.contains(sig)))
        {
            return false;
        }
        let action = p.actions[(sig - 1) as usize];
        action.handler == signal::SIG_IGN
            || (action.handler == signal::SIG_DFL
                && signal::default_action(sig) == DefaultAction::Ignore)
    }

    /// A deliverable signal arrived for `tid`: end an interruptible wait so delivery can happen.
    fn interrupt(&mut self, tid: Tid, sig: u32) {
        let Some(t) = self.threads.get_mut(&tid) else {
            return;
        };
        if let ThreadState::Blocked {
            wait: Wait::SignalSet { set, .. },
            ..
        } = t.state
            && set.contains(sig)
        {
            // rt_sigtimedwait runs again and finds (and takes) the signal it waits for.
            t.context.restart_syscall();
            t.state = ThreadState::Runnable;
            self.run_queue.push_back(tid);
            return;
        }
        if t.blocked.contains(sig) && sig != signal::SIGKILL {
            return;
        }
        if let ThreadState::Blocked { restart, wait } = t.state {
            if restart == Restart::Uninterruptible && sig != signal::SIGKILL {
                return;
            }
            t.state = ThreadState::Runnable;
            t.interrupted = Some(restart);
            self.run_queue.push_back(tid);
            match wait {
                Wait::Futex { .. } => self.futexes.forget(tid),
                // nanosleep reports the time it did not sleep (ignored if the pointer is bad).
                Wait::Sleep {
                    deadline,
                    remaining,
                } if remaining != 0 => {
                    let left = deadline.saturating_sub(self.clock.monotonic());
                    let _ = self
                        .user(tid)
                        .write(remaining, &crate::time::timespec(left));
                }
                _ => {}
            }
        }
    }

    fn continue_process(&mut self, pid: Pid, notify: bool) {
        let Some(p) = self.processes.get_mut(&pid) else {
            return;
        };
        for s in [
            signal::SIGSTOP,
            signal::SIGTSTP,
            signal::SIGTTIN,
            signal::SIGTTOU,
        ] {
            p.pending.discard(s);
        }
        if !matches!(p.state, ProcessState::Stopped { .. }) {
            return;
        }
        p.state = ProcessState::Running;
        p.continued = notify;
        let (parent, threads) = (p.parent, p.threads.clone());
        for tid in threads {
            let t = self.threads.get_mut(&tid).expect("thread");
            if t.state == ThreadState::Stopped {
                t.state = ThreadState::Runnable;
                self.run_queue.push_back(tid);
            }
        }
        if notify {
            self.notify_parent(
                pid,
                parent,
                signal::CLD_CONTINUED,
                signal::SIGCONT as i32,
                true,
            );
        }
    }

    /// SIGCHLD (or the stop/continue notification) to the parent, then wake its waiters.
    fn notify_parent(
        &mut self,
        child: Pid,
        parent: Pid,
        code: i32,
        status: i32,
        stop_or_continue: bool,
    ) {
        let Some(pp) = self.processes.get(&parent) else {
            return;
        };
        let action = pp.actions[(signal::SIGCHLD - 1) as usize];
        let exit_signal = if stop_or_continue {
            signal::SIGCHLD
        } else {
            self.processes[&child].exit_signal
        };
        let suppressed = stop_or_continue && action.flags & signal::SA_NOCLDSTOP != 0;
        if exit_signal != 0 && !suppressed {
            let (utime, stime) = self
                .processes
                .get(&child)
                .map_or((0, 0), |c| (c.user_ns, c.system_ns));
            let info = SigInfo {
                signal: exit_signal,
                code,
                fields: SigFields::Child {
                    pid: child,
                    uid: 0,
                    status,
                    utime: utime / 10_000_000,
                    stime: stime / 10_000_000,
                },
            };
            self.send_to_process(parent, info);
        }
        self.wake_child_waiters(parent);
    }

    /// Stops every thread of `pid` (default action of a stop signal).
    pub fn stop_process(&mut self, pid: Pid, sig: u32) {
        let Some(p) = self.processes.get_mut(&pid) else {
            return;
        };
        p.state = ProcessState::Stopped {
            signal: sig,
            reported: false,
        };
        p.continued = false;
        let (parent, threads) = (p.parent, p.threads.clone());
        for tid in threads {
            if let Some(t) = self.threads.get_mut(&tid) {
                // A parked syscall is re-run after SIGCONT.
                if let ThreadState::Blocked { .. } = t.state {
                    t.context.restart_syscall();
                }
                t.state = ThreadState::Stopped;
            }
        }
        self.run_queue.retain(|t| {
            self.threads
                .get(t)
                .is_some_and(|t| t.state == ThreadState::Runnable)
        });
        self.notify_parent(pid, parent, signal::CLD_STOPPED, sig as i32, true);
    }

    // ----- exit --------------------------------------------------------------------------------

    /// One thread ends (exit(2)): clear_child_tid is honoured; the last thread ends the process.
    pub fn exit_thread(&mut self, tid: Tid, status: ExitStatus) {
        let Some(thread) = self.threads.remove(&tid) else {
            return;
        };
        self.run_queue.retain(|&t| t != tid);
        self.futexes.forget(tid);
        let pid = thread.pid;
        if thread.clear_child_tid != 0 {
            // Linux ignores a fault here: the thread is going away regardless.
            let vm = self.processes[&pid].vm;
            if let Some(slot) = self.vms.get_mut(&vm) {
                let _ = slot.vm.write_user(
                    thread.clear_child_tid,
                    &0u32.to_le_bytes(),
                    &mut self.frames,
                );
            }
            let key = crate::futex::FutexKey::Private {
                vm,
                address: thread.clear_child_tid,
            };
            for woken in self.futexes.wake(key, 1, u32::MAX) {
                self.wake(woken, Some(0));
            }
        }
        let p = self.processes.get_mut(&pid).expect("process");
        p.user_ns += thread.user_ns;
        p.system_ns += thread.system_ns;
        p.threads.retain(|&t| t != tid);
        if p.threads.is_empty() {
            self.exit_process(pid, status);
        }
    }

    /// exit_group or a fatal signal: every thread of the process ends with `status`.
    pub fn exit_group(&mut self, pid: Pid, status: ExitStatus) {
        let threads = self
            .processes
            .get(&pid)
            .map(|p| p.threads.clone())
            .unwrap_or_default();
        for tid in threads {
            self.exit_thread(tid, status);
        }
    }

    fn exit_process(&mut self, pid: Pid, status: ExitStatus) {
        if self.processes[&pid].sid == pid {
            crate::tty_glue::session_leader_exited(self, pid);
        }
        let p = self.processes.get_mut(&pid).expect("process");
        p.state = ProcessState::Zombie(status);
        let (vm, parent, children, vfork_parent) = (
            p.vm,
            p.parent,
            core::mem::take(&mut p.children),
            p.vfork_parent.take(),
        );
        // The process's descriptors close now, not when it is reaped (a pipe's reader must see EOF).
        p.files = alloc::rc::Rc::new(core::cell::RefCell::new(crate::fd::FdTable::default()));
        self.release_vm(vm);
        if let Some(waiter) = vfork_parent {
            self.wake_vfork_parent(waiter, pid);
        }
        if pid == INIT_PID {
            self.init_end = Some(match status {
                ExitStatus::Exited(code) => InitEnd::Exited(code),
                ExitStatus::Killed { signal, .. } => InitEnd::Killed(signal),
            });
            return;
        }
        // Orphans go to init, which reaps them.
        for child in children {
            if let Some(c) = self.processes.get_mut(&child) {
                c.parent = INIT_PID;
                // As Linux's reparent_leader: init hears of its adopted children by SIGCHLD,
                // whatever exit signal the old parent chose (any other could kill init).
                c.exit_signal = signal::SIGCHLD;
                let zombie = matches!(c.state, ProcessState::Zombie(_));
                if let Some(init) = self.processes.get_mut(&INIT_PID) {
                    init.children.push(child);
                }
                if zombie {
                    self.wake_child_waiters(INIT_PID);
                }
            }
        }
        // A parent that ignores SIGCHLD (or set SA_NOCLDWAIT) never sees zombies.
        let auto_reap = self.processes.get(&parent).is_none_or(|pp| {
            let a = pp.actions[(signal::SIGCHLD - 1) as usize];
            a.handler == signal::SIG_IGN || a.flags & signal::SA_NOCLDWAIT != 0
        });
        let (code, st) = match status {
            ExitStatus::Exited(c) => (signal::CLD_EXITED, c as i32),
            ExitStatus::Killed { signal: s, core } => (
                if core {
                    signal::CLD_DUMPED
                } else {
                    signal::CLD_KILLED
                },
                s as i32,
            ),
        };
        self.notify_parent(pid, parent, code, st, false);
        if auto_reap {
            self.reap(pid);
            self.wake_child_waiters(parent);
        }
    }

    /// Removes a zombie for good, adding its times to its parent's children times.
    pub fn reap(&mut self, pid: Pid) {
        let Some(p) = self.processes.remove(&pid) else {
            return;
        };
        self.vfs.detach_proc_mounts(pid);
        if let Some(parent) = self.processes.get_mut(&p.parent) {
            parent.children.retain(|&c| c != pid);
            parent.children_user_ns += p.user_ns + p.children_user_ns;
            parent.children_system_ns += p.system_ns + p.children_system_ns;
        }
    }
}

/// `ss_flags` value of a disabled alternate stack.
pub const SS_DISABLE: u32 = 2;
pub const SS_ONSTACK: u32 = 1;

pub fn is_stop(sig: u32) -> bool {
    matches!(
        sig,
        signal::SIGSTOP | signal::SIGTSTP | signal::SIGTTIN | signal::SIGTTOU
    )
}

/// Errno as a syscall return value.
pub fn err(e: Errno) -> u64 {
    e.as_return()
}
