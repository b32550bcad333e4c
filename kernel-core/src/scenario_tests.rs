//! Host scenario tests of the process model on the scripted mock arch: the real run loop, real
//! syscall handlers and the real VM, with mock threads executing scripts of syscalls and faults.

use crate::memory::BitmapFrameAllocator;
use crate::sched::run_until;
use crate::signal::{self, SigAction};
use crate::task::{ExitStatus, InitEnd, Kernel, Pid, ProcessState, ThreadState, Tid};
use crate::testing::{
    MOCK_TIMER, MockArch, MockContext, RecordingConsole, Step, advance_clock, nr,
    set_handler_script,
};
use crate::time::Clock;
use crate::vm::Vm;
use alloc::boxed::Box;
use hal::boot::PhysRange;
use hal::mmu::PAGE_SIZE;
use hal::user::{FaultKind, UserFault};

/// A writable scratch area every test process has.
const DATA: u64 = 0x1000_0000;
const EINTR: u64 = (-4i64) as u64;
const ECHILD: u64 = (-10i64) as u64;

fn kernel() -> Kernel<MockArch> {
    let frames = BitmapFrameAllocator::new(&[PhysRange::new(0x100_0000, 8192 * PAGE_SIZE)]);
    let console: &'static RecordingConsole = Box::leak(Box::default());
    let clock = Clock::new(&MOCK_TIMER, 1_700_000_000);
    Kernel::new(frames, console, clock, &[])
}

fn sys(number: u64, args: &[u64]) -> Step {
    let mut a = [0u64; 6];
    a[..args.len()].copy_from_slice(args);
    Step::Syscall(number, a)
}

/// A process with a scratch data area, running `steps`.
fn process(k: &mut Kernel<MockArch>, parent: Pid, steps: impl IntoIterator<Item = Step>) -> Pid {
    let mut vm = Vm::<MockArch>::new(&mut k.frames).unwrap();
    let flags = 0x02 | 0x20 | 0x10; // MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED
    vm.mmap(DATA, 0x10000, 0x3, flags, u64::MAX, 0, &mut k.frames)
        .unwrap();
    let vm = k.add_vm(vm);
    k.spawn(parent, "test".into(), vm, MockContext::scripted(steps))
}

fn returns(k: &Kernel<MockArch>, tid: Tid) -> alloc::vec::Vec<u64> {
    k.threads[&tid].context.returns.clone()
}

fn read_u32(k: &mut Kernel<MockArch>, tid: Tid, at: u64) -> u32 {
    k.user(tid).read_u32(at).unwrap()
}

fn set_action(k: &mut Kernel<MockArch>, pid: Pid, sig: u32, handler: u64, flags: u64) {
    k.processes.get_mut(&pid).unwrap().actions[(sig - 1) as usize] = SigAction {
        handler,
        flags,
        ..Default::default()
    };
}

#[test]
fn init_exit_status_ends_the_run() {
    let mut k = kernel();
    process(&mut k, 0, [sys(nr::EXIT_GROUP, &[3])]);
    assert_eq!(run_until(&mut k, |_| false), Some(InitEnd::Exited(3)));
}

#[test]
fn wait4_collects_a_child_exit_status_and_reaps_it() {
    let mut k = kernel();
    let init = process(
        &mut k,
        0,
        [
            sys(nr::WAIT4, &[u64::MAX, DATA, 0, 0]),
            sys(nr::WAIT4, &[u64::MAX, 0, 1, 0]),
        ],
    );
    let child = process(
        &mut k,
        init,
        [sys(nr::GETPPID, &[]), sys(nr::EXIT_GROUP, &[7])],
    );
    assert_eq!(
        run_until(&mut k, |k| k.threads[&1].context.returns.len() == 2),
        None
    );
    assert_eq!(returns(&k, init), [child as u64, ECHILD]);
    assert_eq!(read_u32(&mut k, init, DATA), 7 << 8);
    assert!(!k.processes.contains_key(&child), "reaped");
}

#[test]
fn fork_gives_the_child_zero_and_a_copy_of_memory() {
    let mut k = kernel();
    let init = process(&mut k, 0, [sys(nr::FORK, &[])]);
    k.user(init).write_u32(DATA, 41).unwrap();
    assert_eq!(
        run_until(&mut k, |k| k.threads[&1].context.returns.len() == 1),
        None
    );
    let child = returns(&k, init)[0] as Tid;
    assert!(child > 1);
    assert_eq!(k.threads[&child].context.returns, [0]);
    // Copy-on-write: the child's write is not seen by the parent.
    k.user(child).write_u32(DATA, 99).unwrap();
    assert_eq!(read_u32(&mut k, init, DATA), 41);
    assert_eq!(read_u32(&mut k, child, DATA), 99);
    assert_eq!(k.processes[&child].parent, init);
}

#[test]
fn killed_child_reports_the_signal_and_parent_gets_sigchld() {
    let mut k = kernel();
    let init = process(&mut k, 0, [sys(nr::WAIT4, &[u64::MAX, DATA, 0, 0])]);
    set_action(&mut k, init, signal::SIGCHLD, 0x5000, signal::SA_RESTART);
    let fault = UserFault {
        kind: FaultKind::PageFault {
            write: true,
            execute: false,
            present: false,
        },
        address: 0x10,
        pc: 0x400000,
    };
    let child = process(&mut k, init, [Step::Fault(fault)]);
    assert_eq!(
        run_until(&mut k, |k| !k.threads[&1].context.returns.is_empty()),
        None
    );
    assert_eq!(returns(&k, init), [child as u64]);
    // SIGSEGV with a core dump bit, as WIFSIGNALED/WCOREDUMP see it.
    assert_eq!(read_u32(&mut k, init, DATA), 11 | 0x80);
    // The SIGCHLD handler ran (the restarted wait4 then found the zombie).
    assert_eq!(k.threads[&init].context.handled, [signal::SIGCHLD]);
}

#[test]
fn a_handler_interrupts_wait4_with_eintr_without_sa_restart() {
    let mut k = kernel();
    let init = process(&mut k, 0, [sys(nr::WAIT4, &[u64::MAX, 0, 0, 0])]);
    set_action(&mut k, init, signal::SIGUSR1, 0x6000, 0);
    let child = process(
        &mut k,
        init,
        [
            sys(nr::KILL, &[1, signal::SIGUSR1 as u64]),
            sys(nr::PAUSE, &[]),
        ],
    );
    assert_eq!(
        run_until(&mut k, |k| !k.threads[&1].context.returns.is_empty()),
        None
    );
    assert_eq!(returns(&k, init), [EINTR]);
    assert_eq!(k.threads[&init].context.handled, [signal::SIGUSR1]);
    assert!(matches!(
        k.threads[&child].state,
        ThreadState::Blocked { .. }
    ));
}

#[test]
fn handler_mask_and_sigreturn_restore_the_interrupted_context() {
    let mut k = kernel();
    // A handler that itself makes a call: its result must not leak into the interrupted code.
    set_handler_script(0x7000, alloc::vec![sys(nr::GETPID, &[])]);
    let init = process(
        &mut k,
        0,
        [
            sys(nr::KILL, &[1, signal::SIGUSR2 as u64]),
            sys(nr::GETTID, &[]),
        ],
    );
    set_action(&mut k, init, signal::SIGUSR2, 0x7000, signal::SA_SIGINFO);
    assert_eq!(
        run_until(&mut k, |k| k.threads[&1].context.returns.len() >= 3),
        None
    );
    let t = &k.threads[&init];
    assert_eq!(t.context.handled, [signal::SIGUSR2]);
    // kill returned 0, then (inside the handler) getpid returned 1, then sigreturn, then gettid.
    assert_eq!(t.context.returns, [0, 1, 1]);
    assert!(t.context.frames.is_empty(), "sigreturn popped the frame");
    assert!(!t.blocked.contains(signal::SIGUSR2), "the mask came back");
}

#[test]
fn ignored_and_blocked_signals() {
    let mut k = kernel();
    let init = process(
        &mut k,
        0,
        [
            sys(nr::KILL, &[1, signal::SIGUSR1 as u64]),
            sys(nr::GETPID, &[]),
        ],
    );
    set_action(&mut k, init, signal::SIGUSR1, signal::SIG_IGN, 0);
    assert_eq!(
        run_until(&mut k, |k| k.threads[&1].context.returns.len() >= 2),
        None
    );
    assert!(k.threads[&init].context.handled.is_empty());
    // A blocked signal stays pending.
    k.threads
        .get_mut(&init)
        .unwrap()
        .blocked
        .insert(signal::SIGTERM);
    k.send_to_process(init, signal::SigInfo::user(signal::SIGTERM, 0, 0));
    assert!(k.processes[&init].pending.contains(signal::SIGTERM));
}

#[test]
fn sigkill_terminates_with_the_signal_status() {
    let mut k = kernel();
    let init = process(&mut k, 0, [sys(nr::WAIT4, &[u64::MAX, DATA, 0, 0])]);
    let child = process(&mut k, init, [sys(nr::PAUSE, &[])]);
    assert_eq!(
        run_until(&mut k, |k| matches!(
            k.threads.get(&2).map(|t| t.state),
            Some(ThreadState::Blocked { .. })
        )),
        None
    );
    k.send_to_process(child, signal::SigInfo::user(signal::SIGKILL, 0, 1));
    assert_eq!(
        run_until(&mut k, |k| !k.threads[&1].context.returns.is_empty()),
        None
    );
    assert_eq!(read_u32(&mut k, init, DATA), signal::SIGKILL);
}

#[test]
fn stop_and_continue_are_reported_to_wait() {
    let mut k = kernel();
    let init = process(
        &mut k,
        0,
        [
            sys(nr::WAIT4, &[u64::MAX, DATA, 2, 0]),
            sys(nr::WAIT4, &[u64::MAX, DATA + 4, 8, 0]),
        ],
    );
    let child = process(&mut k, init, [sys(nr::PAUSE, &[])]);
    assert_eq!(
        run_until(&mut k, |k| matches!(
            k.threads.get(&2).map(|t| t.state),
            Some(ThreadState::Blocked { .. })
        )),
        None
    );
    k.send_to_process(child, signal::SigInfo::user(signal::SIGSTOP, 0, 1));
    assert_eq!(
        run_until(&mut k, |k| !k.threads[&1].context.returns.is_empty()),
        None
    );
    assert_eq!(read_u32(&mut k, init, DATA), (signal::SIGSTOP << 8) | 0x7f);
    assert!(matches!(
        k.processes[&child].state,
        ProcessState::Stopped { .. }
    ));
    k.send_to_process(child, signal::SigInfo::user(signal::SIGCONT, 0, 1));
    assert_eq!(
        run_until(&mut k, |k| k.threads[&1].context.returns.len() >= 2),
        None
    );
    assert_eq!(read_u32(&mut k, init, DATA + 4), 0xffff);
}

#[test]
fn futex_wait_sleeps_until_wake() {
    let mut k = kernel();
    let futex = DATA + 0x100;
    // FUTEX_WAIT_PRIVATE on a word holding 0.
    let init = process(
        &mut k,
        0,
        [
            sys(nr::FUTEX, &[futex, 128, 0, 0, 0, 0]),
            sys(nr::WAIT4, &[u64::MAX, 0, 0, 0]),
        ],
    );
    // A wrong expected value is EAGAIN at once; the wake then finds the first waiter.
    let child = process(&mut k, init, [sys(nr::FUTEX, &[futex, 128, 1, 0, 0, 0])]);
    assert_eq!(
        run_until(&mut k, |k| k
            .threads
            .get(&2)
            .is_some_and(|t| !t.context.returns.is_empty())),
        None
    );
    assert_eq!(returns(&k, child), [(-11i64) as u64]);
    // Different address spaces: the private futex in the child is another word. Wake init from itself-equivalent.
    let vm = k.processes[&init].vm;
    let key = crate::futex::FutexKey::Private { vm, address: futex };
    let woken = k.futexes.wake(key, 1, u32::MAX);
    assert_eq!(woken, [init]);
    k.wake(init, Some(0));
    assert_eq!(
        run_until(&mut k, |k| !k.threads[&1].context.returns.is_empty()),
        None
    );
    assert_eq!(returns(&k, init)[0], 0);
}

#[test]
fn futex_wait_times_out() {
    let mut k = kernel();
    let futex = DATA + 0x100;
    let timeout = DATA + 0x200;
    let init = process(
        &mut k,
        0,
        [
            sys(nr::FUTEX, &[futex, 128, 0, timeout, 0, 0]),
            sys(nr::GETPID, &[]),
        ],
    );
    k.user(init)
        .write(timeout, &crate::time::timespec(5_000_000))
        .unwrap();
    assert_eq!(
        run_until(&mut k, |k| !k.threads[&1].context.returns.is_empty()),
        None
    );
    assert_eq!(returns(&k, init), [(-110i64) as u64]);
}

#[test]
fn nanosleep_waits_for_its_deadline() {
    let mut k = kernel();
    let request = DATA;
    let init = process(&mut k, 0, [sys(nr::NANOSLEEP, &[request, 0])]);
    k.user(init)
        .write(request, &crate::time::timespec(3_000_000_000))
        .unwrap();
    let before = k.clock.monotonic();
    assert_eq!(
        run_until(&mut k, |k| !k.threads[&1].context.returns.is_empty()),
        None
    );
    assert_eq!(returns(&k, init), [0]);
    assert!(k.clock.monotonic() - before >= 3_000_000_000);
}

#[test]
fn threads_share_memory_and_exit_group_ends_them_all() {
    let mut k = kernel();
    let flags = crate::syscall::process_flags::THREAD_FLAGS;
    let init = process(
        &mut k,
        0,
        [
            sys(
                nr::CLONE,
                &[flags, DATA + 0x8000, DATA + 0x10, DATA + 0x20, 0],
            ),
            sys(nr::WAIT4, &[u64::MAX, 0, 1, 0]),
        ],
    );
    assert_eq!(
        run_until(&mut k, |k| !k.threads[&1].context.returns.is_empty()),
        None
    );
    let thread = returns(&k, init)[0] as Tid;
    assert_eq!(k.threads[&thread].pid, init, "same thread group");
    // CLONE_PARENT_SETTID and CLONE_CHILD_SETTID wrote the tid (same memory).
    assert_eq!(read_u32(&mut k, init, DATA + 0x10), thread);
    assert_eq!(read_u32(&mut k, init, DATA + 0x20), thread);
    assert_eq!(k.threads[&thread].context.sp, DATA + 0x8000);
    k.exit_group(init, ExitStatus::Exited(0));
    assert!(k.threads.is_empty());
    advance_clock(1);
}
