//! Process and thread system calls: clone/fork/vfork, execve, exit, wait, ids, limits.

use super::{Outcome, ret};
use crate::errno::{Errno, SysResult};
use crate::signal::{self, SigAction, SigFields, SigInfo};
use crate::task::{self, ExitStatus, Kernel, Pid, ProcessState, Restart, Tid, Wait};
use crate::usermem::PATH_MAX;
use alloc::string::String;
use alloc::vec::Vec;
use hal::arch::Arch;
use hal::user::{CloneArgs, UserContext};

pub const CLONE_VM: u64 = 0x100;
pub const CLONE_FS: u64 = 0x200;
pub const CLONE_FILES: u64 = 0x400;
pub const CLONE_SIGHAND: u64 = 0x800;
pub const CLONE_PTRACE: u64 = 0x2000;
pub const CLONE_VFORK: u64 = 0x4000;
pub const CLONE_PARENT: u64 = 0x8000;
pub const CLONE_THREAD: u64 = 0x10000;
pub const CLONE_SYSVSEM: u64 = 0x40000;
pub const CLONE_SETTLS: u64 = 0x80000;
pub const CLONE_PARENT_SETTID: u64 = 0x100000;
pub const CLONE_CHILD_CLEARTID: u64 = 0x200000;
pub const CLONE_DETACHED: u64 = 0x400000;
pub const CLONE_UNTRACED: u64 = 0x800000;
pub const CLONE_CHILD_SETTID: u64 = 0x1000000;
pub const CLONE_IO: u64 = 0x8000_0000;
/// The low byte of clone's flags: the signal sent to the parent on exit.
const CSIGNAL: u64 = 0xff;
/// Flags Cyphera implements (namespaces, pidfds and cgroups are refused with EINVAL).
const SUPPORTED: u64 = CSIGNAL
    | CLONE_VM
    | CLONE_FS
    | CLONE_FILES
    | CLONE_SIGHAND
    | CLONE_PTRACE
    | CLONE_VFORK
    | CLONE_PARENT
    | CLONE_THREAD
    | CLONE_SYSVSEM
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID
    | CLONE_DETACHED
    | CLONE_UNTRACED
    | CLONE_CHILD_SETTID
    | CLONE_IO;

pub fn exit<A: Arch>(k: &mut Kernel<A>, tid: Tid, code: u64) -> Outcome {
    k.exit_thread(tid, ExitStatus::Exited(code as u8));
    Outcome::Done
}

pub fn exit_group<A: Arch>(k: &mut Kernel<A>, tid: Tid, code: u64) -> Outcome {
    let pid = k.threads[&tid].pid;
    k.exit_group(pid, ExitStatus::Exited(code as u8));
    Outcome::Done
}

/// The parent's pid: init's parent is the kernel (0), as on Linux.
pub fn parent<A: Arch>(k: &Kernel<A>, tid: Tid) -> u64 {
    let p = k.process_of(tid);
    if p.pid == crate::task::INIT_PID {
        0
    } else {
        p.parent as u64
    }
}

pub fn set_tid_address<A: Arch>(k: &mut Kernel<A>, tid: Tid, address: u64) -> SysResult {
    k.threads.get_mut(&tid).expect("thread").clear_child_tid = address;
    Ok(tid as u64)
}

/// `struct robust_list_head` is 24 bytes on 64-bit; any other size is EINVAL.
const ROBUST_LIST_HEAD_SIZE: u64 = 24;

pub fn set_robust_list<A: Arch>(k: &mut Kernel<A>, tid: Tid, head: u64, len: u64) -> SysResult {
    if len != ROBUST_LIST_HEAD_SIZE {
        return Err(Errno::EINVAL);
    }
    k.threads.get_mut(&tid).expect("thread").robust_list = (head, len);
    Ok(0)
}

pub fn get_robust_list<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    target: u64,
    head_ptr: u64,
    len_ptr: u64,
) -> SysResult {
    let target = if target == 0 { tid } else { target as Tid };
    let (head, _) = k.threads.get(&target).ok_or(Errno::ESRCH)?.robust_list;
    let mut mem = k.user(tid);
    mem.write_u64(head_ptr, head)?;
    mem.write_u64(len_ptr, ROBUST_LIST_HEAD_SIZE)?;
    Ok(0)
}

/// clone(2), fork(2), vfork(2) and clone3(2) all end here. A vfork parent sleeps until its
/// child execs or exits; the child's pid is its result then.
pub fn clone<A: Arch>(k: &mut Kernel<A>, tid: Tid, args: CloneArgs) -> Outcome {
    match do_clone(k, tid, args) {
        Ok(child) if args.flags & CLONE_VFORK != 0 => {
            k.block(
                tid,
                Wait::Vfork {
                    child: child as Pid,
                },
                Restart::Uninterruptible,
            );
            Outcome::Done
        }
        result => ret(result),
    }
}

fn do_clone<A: Arch>(k: &mut Kernel<A>, tid: Tid, args: CloneArgs) -> SysResult {
    let flags = args.flags;
    if flags & !SUPPORTED != 0 {
        return Err(Errno::EINVAL);
    }
    // Linux's consistency rules (kernel/fork.c copy_process).
    if flags & CLONE_THREAD != 0 && flags & CLONE_SIGHAND == 0 {
        return Err(Errno::EINVAL);
    }
    if flags & CLONE_SIGHAND != 0 && flags & CLONE_VM == 0 {
        return Err(Errno::EINVAL);
    }
    let exit_signal = (flags & CSIGNAL) as u32;
    if exit_signal > signal::NSIG {
        return Err(Errno::EINVAL);
    }
    let parent_pid = k.threads[&tid].pid;
    // RLIMIT_NPROC bounds tasks as Linux counts them for a user: every thread, and each zombie
    // until it is reaped. Cyphera's one user is root, to whom it applies too (Linux exempts
    // root): it is what stops a fork or thread bomb before the kernel heap runs out.
    let limit = k.processes[&parent_pid].rlimits[task::RLIMIT_NPROC].0;
    let zombies = k
        .processes
        .values()
        .filter(|p| p.threads.is_empty())
        .count();
    if (k.threads.len() + zombies) as u64 >= limit {
        return Err(Errno::EAGAIN);
    }
    // A new task's kernel objects, and a new process's copies of its parent's areas and
    // descriptor table, come from the kernel heap: refused (as Linux's fork is when memory is
    // short) near its reserve.
    let p = &k.processes[&parent_pid];
    let copied_areas = if flags & CLONE_VM == 0 {
        k.vms.get(&p.vm).map_or(0, |slot| slot.vm.areas().count())
    } else {
        0
    };
    let copied_fds = if flags & CLONE_FILES == 0 {
        p.files.borrow().fds().count()
    } else {
        0
    };
    let heap = crate::memory::TASK_HEAP
        + copied_areas as u64 * crate::memory::AREA_HEAP
        + copied_fds as u64 * crate::memory::FD_HEAP;
    if !crate::memory::heap_room(heap) {
        return Err(Errno::ENOMEM);
    }

    let parent_thread = &k.threads[&tid];
    let mut context = parent_thread.context.clone();
    let (blocked, alt_stack) = (parent_thread.blocked, parent_thread.alt_stack);
    context.set_syscall_return(0);
    if args.stack != 0 {
        context.set_stack_pointer(args.stack);
    }
    if flags & CLONE_SETTLS != 0 {
        context.set_thread_pointer(args.tls);
    }

    let child = if flags & CLONE_THREAD != 0 {
        let child = k.allocate_id();
        k.add_thread(child, parent_pid, context);
        k.processes
            .get_mut(&parent_pid)
            .expect("process")
            .threads
            .push(child);
        child
    } else {
        let parent_vm = k.processes[&parent_pid].vm;
        let vm = if flags & CLONE_VM != 0 {
            k.vms.get_mut(&parent_vm).expect("vm").users += 1;
            parent_vm
        } else {
            let slot = k.vms.get_mut(&parent_vm).expect("vm");
            let copy = slot.vm.fork(&mut k.frames).map_err(|_| Errno::ENOMEM)?;
            k.add_vm(copy)
        };
        let p = &k.processes[&parent_pid];
        let (name, actions, rlimits) = (p.name.clone(), p.actions, p.rlimits);
        let files = if flags & CLONE_FILES != 0 {
            p.files.clone()
        } else {
            alloc::rc::Rc::new(core::cell::RefCell::new(p.files.borrow().clone()))
        };
        let fs = if flags & CLONE_FS != 0 {
            p.fs.clone()
        } else {
            alloc::rc::Rc::new(core::cell::RefCell::new(p.fs.borrow().clone()))
        };
        let (exe, cmdline, environ, areas) = (
            p.exe.clone(),
            p.cmdline.clone(),
            p.environ.clone(),
            p.arg_areas,
        );
        // CLONE_PARENT makes a sibling, which signals the shared parent with the caller's own
        // exit signal, not the one in the flags (Linux's copy_process): otherwise a child of
        // init could have init sent any signal.
        let (new_parent, exit_signal) = if flags & CLONE_PARENT != 0 {
            (p.parent, p.exit_signal)
        } else {
            (parent_pid, exit_signal)
        };
        let child = k.spawn(new_parent, name, vm, context);
        let c = k.processes.get_mut(&child).expect("child");
        c.actions = actions;
        c.rlimits = rlimits;
        c.exit_signal = exit_signal;
        c.files = files;
        c.fs = fs;
        (c.exe, c.cmdline, c.environ, c.arg_areas) = (exe, cmdline, environ, areas);
        if flags & CLONE_VFORK != 0 {
            c.vfork_parent = Some(tid);
        }
        child
    };
    let t = k.threads.get_mut(&child).expect("child thread");
    t.blocked = blocked;
    // fork keeps the alternate signal stack; a thread or a CLONE_VM child must not share it.
    if flags & CLONE_VM == 0 || flags & CLONE_VFORK != 0 {
        t.alt_stack = alt_stack;
    }
    if flags & CLONE_CHILD_CLEARTID != 0 {
        t.clear_child_tid = args.child_tid;
    }
    // Linux ignores faults on these two writes.
    if flags & CLONE_PARENT_SETTID != 0 {
        let _ = k.user(tid).write_u32(args.parent_tid, child);
    }
    if flags & CLONE_CHILD_SETTID != 0 {
        let _ = k.user(child).write_u32(args.child_tid, child);
    }
    Ok(child as u64)
}

/// clone3(2): `struct clone_args` from user memory (64 bytes in version 0, up to 88 known).
pub fn clone3<A: Arch>(k: &mut Kernel<A>, tid: Tid, uargs: u64, size: u64) -> Outcome {
    const VER0: u64 = 64;
    const KNOWN: u64 = 88;
    let parsed = (|| {
        if size < VER0 {
            return Err(Errno::EINVAL);
        }
        if size > 4096 {
            return Err(Errno::E2BIG);
        }
        let mut raw = alloc::vec![0u8; size as usize];
        k.user(tid).read(uargs, &mut raw)?;
        // Fields this kernel does not know must be zero.
        if raw
            .get(KNOWN as usize..)
            .is_some_and(|rest| rest.iter().any(|&b| b != 0))
        {
            return Err(Errno::E2BIG);
        }
        let word = |i: usize| {
            raw.get(i * 8..i * 8 + 8)
                .map_or(0, |w| u64::from_le_bytes(w.try_into().unwrap()))
        };
        let (flags, _pidfd, child_tid, parent_tid, exit_signal) =
            (word(0), word(1), word(2), word(3), word(4));
        let (stack, stack_size, tls, _set_tid, set_tid_size) =
            (word(5), word(6), word(7), word(8), word(9));
        if flags & CSIGNAL != 0 || exit_signal > signal::NSIG as u64 || set_tid_size != 0 {
            return Err(Errno::EINVAL);
        }
        if (stack == 0) != (stack_size == 0) {
            return Err(Errno::EINVAL);
        }
        let top = if stack == 0 {
            0
        } else {
            stack.checked_add(stack_size).ok_or(Errno::EINVAL)?
        };
        Ok(CloneArgs {
            flags: flags | exit_signal,
            stack: top,
            parent_tid,
            child_tid,
            tls,
        })
    })();
    match parsed {
        Ok(args) => clone(k, tid, args),
        Err(e) => ret(Err(e)),
    }
}

/// execve(2): the program comes from the initramfs until the VFS exists.
pub fn execve<A: Arch>(k: &mut Kernel<A>, tid: Tid, path: u64, argv: u64, envp: u64) -> Outcome {
    match do_execve(k, tid, path, argv, envp) {
        Ok(()) => Outcome::Done,
        Err(e) => ret(Err(e)),
    }
}

fn do_execve<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    path: u64,
    argv: u64,
    envp: u64,
) -> Result<(), Errno> {
    let mut mem = k.user(tid);
    let path = mem.read_c_string(path, PATH_MAX)?;
    let argv = mem.read_string_array(argv)?;
    let envp = mem.read_string_array(envp)?;
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    let start = {
        let fs = k.process_of(tid).fs.borrow();
        if path[0] == b'/' {
            fs.root.clone()
        } else {
            fs.cwd.clone()
        }
    };
    let program =
        super::path::with_resolver(k, tid, |r, _| crate::exec::find(r, &start, &path, argv))?;
    let argv: Vec<&[u8]> = program.argv.iter().map(|s| s.as_slice()).collect();
    let envp_refs: Vec<&[u8]> = envp.iter().map(|s| s.as_slice()).collect();
    let pid = k.threads[&tid].pid;
    let stack_limit = k.processes[&pid].rlimits[task::RLIMIT_STACK].0;
    // comm is the name execve was given (a script's own name, not its interpreter's).
    let path = String::from_utf8_lossy(&path).into_owned();
    let (vm, context) = crate::process::load::<A>(
        &String::from_utf8_lossy(&program.path),
        &program.image,
        &argv,
        &envp_refs,
        stack_limit,
        &mut k.frames,
    )
    .map_err(|e| e.errno())?;
    let cmdline = crate::proc_text::cmdline(&argv);
    let environ = crate::proc_text::environ(&envp_refs);
    let areas = crate::process::arg_areas(&vm, context.stack_pointer(), &argv, &envp_refs);

    // Point of no return: the other threads go, the new image replaces the old.
    let others: Vec<Tid> = k.processes[&pid]
        .threads
        .iter()
        .copied()
        .filter(|&t| t != tid)
        .collect();
    for other in others {
        k.threads.remove(&other);
        k.futexes.forget(other);
        k.run_queue.retain(|&t| t != other);
    }
    // A non-leader thread that execs becomes the leader: its tid is the pid from now on (Linux's
    // de_thread). The run loop still holds the old tid as current, so queue the new one.
    let tid = if tid != pid {
        let mut t = k.threads.remove(&tid).expect("thread");
        t.tid = pid;
        k.threads.insert(pid, t);
        k.futexes.forget(tid);
        k.run_queue.push_back(pid);
        pid
    } else {
        tid
    };
    let new_vm = k.add_vm(vm);
    let p = k.processes.get_mut(&pid).expect("process");
    let old_vm = core::mem::replace(&mut p.vm, new_vm);
    p.threads = alloc::vec![tid];
    p.name = crate::process::comm(&path);
    p.exe = program.exe.clone();
    p.cmdline = cmdline;
    p.environ = environ;
    p.arg_areas = areas;
    // Caught signals revert to the default; ignored ones stay ignored (POSIX).
    for action in p.actions.iter_mut() {
        if action.handler != signal::SIG_IGN {
            *action = SigAction::default();
        }
    }
    let vfork_parent = p.vfork_parent.take();
    // execve unshares the file table (like Linux's unshare_files) and closes O_CLOEXEC ones.
    let table = p.files.borrow().clone();
    p.files = alloc::rc::Rc::new(core::cell::RefCell::new(table));
    let closed = p.files.borrow_mut().close_cloexec();
    drop(closed);
    k.release_vm(old_vm);
    let t = k.threads.get_mut(&tid).expect("thread");
    t.context = context;
    t.alt_stack = hal::signal::AltStack {
        sp: 0,
        flags: task::SS_DISABLE,
        size: 0,
    };
    t.clear_child_tid = 0;
    t.robust_list = (0, 0);
    t.pending.clear();
    if let Some(parent) = vfork_parent {
        k.wake_vfork_parent(parent, pid);
    }
    Ok(())
}

const WNOHANG: u64 = 1;
const WUNTRACED: u64 = 2;
const WSTOPPED: u64 = 2;
const WEXITED: u64 = 4;
const WCONTINUED: u64 = 8;
const WNOWAIT: u64 = 0x0100_0000;
const WNOTHREAD: u64 = 0x2000_0000;
const WALL: u64 = 0x4000_0000;
const WCLONE: u64 = 0x8000_0000;

/// Which children a wait selects.
#[derive(Clone, Copy)]
enum Selector {
    Any,
    Pid(Pid),
    Group(Pid),
}

/// A child state change a wait can report.
struct Report {
    pid: Pid,
    code: i32,
    status: i32,
    wait_status: i32,
    reap: bool,
}

/// Looks for a reportable child; `Ok(None)` when children exist but none is reportable yet.
fn find_report<A: Arch>(
    k: &mut Kernel<A>,
    pid: Pid,
    selector: Selector,
    exited: bool,
    stopped: bool,
    continued: bool,
    consume: bool,
) -> Result<Option<Report>, Errno> {
    let children = k.processes[&pid].children.clone();
    let mut any = false;
    for child in children {
        let Some(c) = k.processes.get_mut(&child) else {
            continue;
        };
        let selected = match selector {
            Selector::Any => true,
            Selector::Pid(p) => p == child,
            Selector::Group(g) => c.pgid == g,
        };
        if !selected {
            continue;
        }
        any = true;
        match c.state {
            ProcessState::Zombie(status) if exited => {
                let (code, st) = match status {
                    ExitStatus::Exited(code) => (signal::CLD_EXITED, code as i32),
                    ExitStatus::Killed {
                        signal: s,
                        core: true,
                    } => (signal::CLD_DUMPED, s as i32),
                    ExitStatus::Killed { signal: s, .. } => (signal::CLD_KILLED, s as i32),
                };
                return Ok(Some(Report {
                    pid: child,
                    code,
                    status: st,
                    wait_status: status.wait_status(),
                    reap: consume,
                }));
            }
            ProcessState::Stopped {
                signal: s,
                reported: false,
            } if stopped => {
                if consume {
                    c.state = ProcessState::Stopped {
                        signal: s,
                        reported: true,
                    };
                }
                return Ok(Some(Report {
                    pid: child,
                    code: signal::CLD_STOPPED,
                    status: s as i32,
                    wait_status: ((s as i32) << 8) | 0x7f,
                    reap: false,
                }));
            }
            _ if continued && c.continued => {
                if consume {
                    c.continued = false;
                }
                return Ok(Some(Report {
                    pid: child,
                    code: signal::CLD_CONTINUED,
                    status: signal::SIGCONT as i32,
                    wait_status: 0xffff,
                    reap: false,
                }));
            }
            _ => {}
        }
    }
    if any { Ok(None) } else { Err(Errno::ECHILD) }
}

fn write_rusage<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    child: Pid,
    address: u64,
) -> Result<(), Errno> {
    if address == 0 {
        return Ok(());
    }
    let (user, system) = k.processes.get(&child).map_or((0, 0), |c| {
        (
            c.user_ns + c.children_user_ns,
            c.system_ns + c.children_system_ns,
        )
    });
    super::time::write_rusage(k, tid, address, user, system)
}

pub fn wait4<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    pid: i32,
    status: u64,
    options: u64,
    rusage: u64,
) -> Outcome {
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | WNOTHREAD | WALL | WCLONE) != 0 {
        return ret(Err(Errno::EINVAL));
    }
    let me = k.threads[&tid].pid;
    let selector = match pid {
        -1 => Selector::Any,
        0 => Selector::Group(k.processes[&me].pgid),
        i32::MIN => return ret(Err(Errno::ESRCH)),
        p if p < 0 => Selector::Group((-p) as Pid),
        p => Selector::Pid(p as Pid),
    };
    match find_report(
        k,
        me,
        selector,
        true,
        options & WUNTRACED != 0,
        options & WCONTINUED != 0,
        true,
    ) {
        Err(e) => ret(Err(e)),
        Ok(Some(report)) => {
            let result = (|| {
                if status != 0 {
                    k.user(tid).write_u32(status, report.wait_status as u32)?;
                }
                write_rusage(k, tid, report.pid, rusage)
            })();
            if report.reap {
                k.reap(report.pid);
            }
            ret(result.map(|()| report.pid as u64))
        }
        Ok(None) if options & WNOHANG != 0 => ret(Ok(0)),
        Ok(None) => {
            k.block(tid, Wait::Child, Restart::IfSaRestart);
            Outcome::Done
        }
    }
}

const P_ALL: u64 = 0;
const P_PID: u64 = 1;
const P_PGID: u64 = 2;

pub fn waitid<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    idtype: u64,
    id: u64,
    infop: u64,
    options: u64,
    rusage: u64,
) -> Outcome {
    if options & !(WNOHANG | WSTOPPED | WEXITED | WCONTINUED | WNOWAIT | WNOTHREAD | WALL | WCLONE)
        != 0
        || options & (WEXITED | WSTOPPED | WCONTINUED) == 0
    {
        return ret(Err(Errno::EINVAL));
    }
    let me = k.threads[&tid].pid;
    let selector = match idtype {
        P_ALL => Selector::Any,
        P_PID if id > 0 && id <= i32::MAX as u64 => Selector::Pid(id as Pid),
        P_PGID if id == 0 => Selector::Group(k.processes[&me].pgid),
        P_PGID if id <= i32::MAX as u64 => Selector::Group(id as Pid),
        _ => return ret(Err(Errno::EINVAL)),
    };
    let consume = options & WNOWAIT == 0;
    match find_report(
        k,
        me,
        selector,
        options & WEXITED != 0,
        options & WSTOPPED != 0,
        options & WCONTINUED != 0,
        consume,
    ) {
        Err(e) => ret(Err(e)),
        Ok(Some(report)) => {
            let result = (|| {
                if infop != 0 {
                    let info = SigInfo {
                        signal: signal::SIGCHLD,
                        code: report.code,
                        fields: SigFields::Child {
                            pid: report.pid,
                            uid: 0,
                            status: report.status,
                            utime: 0,
                            stime: 0,
                        },
                    };
                    k.user(tid).write(infop, &info.to_bytes())?;
                }
                write_rusage(k, tid, report.pid, rusage)
            })();
            if report.reap {
                k.reap(report.pid);
            }
            ret(result.map(|()| 0))
        }
        Ok(None) if options & WNOHANG != 0 => {
            // Linux zeroes si_pid (and si_signo) when nothing was reportable.
            if infop != 0 {
                return ret(k.user(tid).write(infop, &[0u8; 128]).map(|()| 0));
            }
            ret(Ok(0))
        }
        Ok(None) => {
            k.block(tid, Wait::Child, Restart::IfSaRestart);
            Outcome::Done
        }
    }
}

fn target_process<A: Arch>(k: &Kernel<A>, tid: Tid, pid: u64) -> Result<Pid, Errno> {
    if pid == 0 {
        return Ok(k.threads[&tid].pid);
    }
    let pid = Pid::try_from(pid).map_err(|_| Errno::ESRCH)?;
    match k.processes.get(&pid) {
        Some(p) if !matches!(p.state, ProcessState::Zombie(_)) => Ok(pid),
        _ => Err(Errno::ESRCH),
    }
}

pub fn getpgid<A: Arch>(k: &mut Kernel<A>, tid: Tid, pid: u64) -> SysResult {
    Ok(k.processes[&target_process(k, tid, pid)?].pgid as u64)
}

pub fn getsid<A: Arch>(k: &mut Kernel<A>, tid: Tid, pid: u64) -> SysResult {
    Ok(k.processes[&target_process(k, tid, pid)?].sid as u64)
}

pub fn setpgid<A: Arch>(k: &mut Kernel<A>, tid: Tid, pid: u64, pgid: u64) -> SysResult {
    if (pgid as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    let me = k.threads[&tid].pid;
    let target = target_process(k, tid, pid)?;
    if target != me && k.processes[&target].parent != me {
        return Err(Errno::ESRCH);
    }
    let pgid = if pgid == 0 { target } else { pgid as Pid };
    let p = &k.processes[&target];
    if p.sid == target {
        return Err(Errno::EPERM); // a session leader cannot change its group
    }
    // The group must exist in the caller's session, unless it is the target's own pid.
    let sid = k.processes[&me].sid;
    if pgid != target && !k.processes.values().any(|q| q.pgid == pgid && q.sid == sid) {
        return Err(Errno::EPERM);
    }
    k.processes.get_mut(&target).expect("process").pgid = pgid;
    Ok(0)
}

pub fn setsid<A: Arch>(k: &mut Kernel<A>, tid: Tid) -> SysResult {
    let pid = k.threads[&tid].pid;
    if k.processes.values().any(|p| p.pgid == pid) {
        return Err(Errno::EPERM);
    }
    let p = k.processes.get_mut(&pid).expect("process");
    p.sid = pid;
    p.pgid = pid;
    Ok(pid as u64)
}

pub fn prlimit<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    pid: u64,
    resource: u64,
    new: u64,
    old: u64,
) -> SysResult {
    let resource = usize::try_from(resource)
        .ok()
        .filter(|&r| r < task::RLIM_NLIMITS)
        .ok_or(Errno::EINVAL)?;
    let target = target_process(k, tid, pid)?;
    let new_limit = if new != 0 {
        let mut mem = k.user(tid);
        let (soft, hard) = (mem.read_u64(new)?, mem.read_u64(new + 8)?);
        if soft > hard {
            return Err(Errno::EINVAL);
        }
        // do_prlimit: no descriptor limit may exceed fs.nr_open.
        if resource == task::RLIMIT_NOFILE && hard > super::fs::NR_OPEN {
            return Err(Errno::EPERM);
        }
        Some((soft, hard))
    } else {
        None
    };
    let current = k.processes[&target].rlimits[resource];
    if old != 0 {
        let mut mem = k.user(tid);
        mem.write_u64(old, current.0)?;
        mem.write_u64(old + 8, current.1)?;
    }
    if let Some(limit) = new_limit {
        let p = k.processes.get_mut(&target).expect("process");
        p.rlimits[resource] = limit;
        if resource == task::RLIMIT_STACK {
            let vm = p.vm;
            k.vms.get_mut(&vm).expect("vm").vm.set_stack_limit(limit.0);
        }
    }
    Ok(0)
}

pub fn getres_ids<A: Arch>(k: &mut Kernel<A>, tid: Tid, pointers: [u64; 3]) -> SysResult {
    let mut mem = k.user(tid);
    for p in pointers {
        mem.write_u32(p, 0)?;
    }
    Ok(0)
}

pub fn sched_yield<A: Arch>(k: &mut Kernel<A>, _tid: Tid) -> Outcome {
    k.yield_requested = true;
    Outcome::Return(0)
}

/// One CPU: the affinity mask is bit 0, reported in one `unsigned long`.
pub fn sched_getaffinity<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    pid: u64,
    len: u64,
    mask: u64,
) -> SysResult {
    target_thread(k, tid, pid)?;
    if len < 8 || !len.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    k.user(tid).write_u64(mask, 1)?;
    Ok(8)
}

pub fn sched_setaffinity<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    pid: u64,
    len: u64,
    mask: u64,
) -> SysResult {
    target_thread(k, tid, pid)?;
    if len == 0 {
        return Err(Errno::EINVAL);
    }
    let first = k.user(tid).read_array::<1>(mask)?;
    if first[0] & 1 == 0 {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}

fn target_thread<A: Arch>(k: &Kernel<A>, tid: Tid, target: u64) -> Result<Tid, Errno> {
    if target == 0 {
        return Ok(tid);
    }
    let target = Tid::try_from(target).map_err(|_| Errno::ESRCH)?;
    k.threads
        .contains_key(&target)
        .then_some(target)
        .ok_or(Errno::ESRCH)
}

const ARCH_SET_GS: u64 = 0x1001;
const ARCH_SET_FS: u64 = 0x1002;
const ARCH_GET_FS: u64 = 0x1003;
const ARCH_GET_GS: u64 = 0x1004;

/// arch_prctl(2) exists only in the x86_64 table; its FS base is the hal thread pointer.
pub fn arch_prctl<A: Arch>(k: &mut Kernel<A>, tid: Tid, code: u64, address: u64) -> SysResult {
    match code {
        ARCH_SET_FS => {
            if address >= A::USER_END {
                return Err(Errno::EPERM);
            }
            k.threads
                .get_mut(&tid)
                .expect("thread")
                .context
                .set_thread_pointer(address);
            Ok(0)
        }
        ARCH_GET_FS => {
            let fs = k.threads[&tid].context.thread_pointer();
            k.user(tid).write_u64(address, fs)?;
            Ok(0)
        }
        ARCH_SET_GS => {
            if address >= A::USER_END {
                return Err(Errno::EPERM);
            }
            let t = k.threads.get_mut(&tid).expect("thread");
            if t.context.set_alternate_thread_pointer(address) {
                Ok(0)
            } else {
                Err(Errno::EINVAL)
            }
        }
        ARCH_GET_GS => {
            let gs = k.threads[&tid]
                .context
                .alternate_thread_pointer()
                .ok_or(Errno::EINVAL)?;
            k.user(tid).write_u64(address, gs)?;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

const PR_SET_PDEATHSIG: u64 = 1;
const PR_GET_PDEATHSIG: u64 = 2;
const PR_GET_DUMPABLE: u64 = 3;
const PR_SET_DUMPABLE: u64 = 4;
const PR_SET_NAME: u64 = 15;
const PR_GET_NAME: u64 = 16;
const PR_GET_SECCOMP: u64 = 21;
const PR_CAPBSET_READ: u64 = 23;
const PR_SET_CHILD_SUBREAPER: u64 = 36;
const PR_GET_CHILD_SUBREAPER: u64 = 37;
const PR_SET_NO_NEW_PRIVS: u64 = 38;
const PR_GET_NO_NEW_PRIVS: u64 = 39;
/// Linux's CAP_LAST_CAP in 6.1.
const CAP_LAST_CAP: u64 = 40;

/// prctl(2): the thread name (PR_SET_NAME/PR_GET_NAME, what busybox uses to show an applet's
/// name), and the flags programs commonly query. Others are EINVAL, as Linux says for an
/// option it does not know.
pub fn prctl<A: Arch>(k: &mut Kernel<A>, tid: Tid, option: u64, arg: u64) -> SysResult {
    match option {
        PR_SET_NAME => {
            let raw = k.user(tid).read_array::<16>(arg).or_else(|_| {
                // The name may end within 16 bytes of an unmapped page: read it as a string.
                k.user(tid).read_c_string(arg, 4096).map(|s| {
                    let mut out = [0u8; 16];
                    let n = s.len().min(15);
                    out[..n].copy_from_slice(&s[..n]);
                    out
                })
            })?;
            let len = raw.iter().position(|&b| b == 0).unwrap_or(15).min(15);
            k.process_of_mut(tid).name = String::from_utf8_lossy(&raw[..len]).into_owned();
            Ok(0)
        }
        PR_GET_NAME => {
            let mut out = [0u8; 16];
            let name = k.process_of(tid).name.as_bytes();
            let n = name.len().min(15);
            out[..n].copy_from_slice(&name[..n]);
            k.user(tid).write(arg, &out)?;
            Ok(0)
        }
        PR_SET_PDEATHSIG => {
            if arg != 0 && !signal::valid(arg as u32) {
                return Err(Errno::EINVAL);
            }
            Ok(0)
        }
        PR_GET_PDEATHSIG => k.user(tid).write_u32(arg, 0).map(|()| 0),
        PR_GET_DUMPABLE => Ok(1),
        PR_SET_DUMPABLE => {
            if arg > 1 {
                Err(Errno::EINVAL)
            } else {
                Ok(0)
            }
        }
        PR_GET_SECCOMP => Ok(0),
        PR_CAPBSET_READ => {
            if arg > CAP_LAST_CAP {
                Err(Errno::EINVAL)
            } else {
                Ok(1)
            }
        }
        PR_SET_CHILD_SUBREAPER | PR_SET_NO_NEW_PRIVS => Ok(0),
        PR_GET_CHILD_SUBREAPER => k.user(tid).write_u32(arg, 0).map(|()| 0),
        PR_GET_NO_NEW_PRIVS => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}
