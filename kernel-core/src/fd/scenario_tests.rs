//! Scenario tests of file descriptors on the scripted mock arch: the real run loop, syscall
//! handlers and VM, with mock threads running scripts of system calls. The mock arch's table
//! only knows the process calls, so these tests run on [`FdArch`], the same mock with the file
//! calls' x86_64 numbers added.

use crate::memory::BitmapFrameAllocator;
use crate::sched::run_until;
use crate::signal::{self, SigAction};
use crate::task::{Kernel, Pid, ThreadState, Tid, Wait};
use crate::testing::{MOCK_TIMER, MockArch, MockContext, MockSpace, Step, nr};
use crate::time::Clock;
use crate::vm::Vm;
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use hal::arch::Arch;
use hal::boot::{PhysAddr, PhysRange};
use hal::console::Console;
use hal::mmu::{BadUserAddress, PAGE_SIZE};
use hal::signal::{SignalDelivery, SignalReturn};
use hal::syscall::Sysno;
use hal::user::{CloneArgs, ReturnReason};

/// x86_64 numbers of the file calls.
mod n {
    pub const READ: u64 = 0;
    pub const WRITE: u64 = 1;
    pub const CLOSE: u64 = 3;
    pub const POLL: u64 = 7;
    pub const LSEEK: u64 = 8;
    pub const IOCTL: u64 = 16;
    pub const PREAD64: u64 = 17;
    pub const READV: u64 = 19;
    pub const WRITEV: u64 = 20;
    pub const SELECT: u64 = 23;
    pub const DUP: u64 = 32;
    pub const DUP2: u64 = 33;
    pub const FCNTL: u64 = 72;
    pub const EPOLL_CREATE: u64 = 213;
    pub const EPOLL_WAIT: u64 = 232;
    pub const EPOLL_CTL: u64 = 233;
    pub const PPOLL: u64 = 271;
    pub const EPOLL_PWAIT: u64 = 281;
    pub const EVENTFD2: u64 = 290;
    pub const EPOLL_CREATE1: u64 = 291;
    pub const DUP3: u64 = 292;
    pub const PIPE2: u64 = 293;
}

/// The mock arch with the file calls in its table.
struct FdArch;

impl Arch for FdArch {
    const MACHINE: &'static str = MockArch::MACHINE;
    const ELF_MACHINE: u16 = MockArch::ELF_MACHINE;
    const USER_END: u64 = MockArch::USER_END;
    type Context = MockContext;
    type AddressSpace = MockSpace;

    fn sysno(number: u64) -> Option<Sysno> {
        use Sysno as S;
        Some(match number {
            n::READ => S::Read,
            n::WRITE => S::Write,
            n::CLOSE => S::Close,
            n::POLL => S::Poll,
            n::LSEEK => S::Lseek,
            n::IOCTL => S::Ioctl,
            n::PREAD64 => S::Pread64,
            n::READV => S::Readv,
            n::WRITEV => S::Writev,
            n::SELECT => S::Select,
            n::DUP => S::Dup,
            n::DUP2 => S::Dup2,
            n::FCNTL => S::Fcntl,
            n::EPOLL_CREATE => S::EpollCreate,
            n::EPOLL_WAIT => S::EpollWait,
            n::EPOLL_CTL => S::EpollCtl,
            n::PPOLL => S::Ppoll,
            n::EPOLL_PWAIT => S::EpollPwait,
            n::EVENTFD2 => S::Eventfd2,
            n::EPOLL_CREATE1 => S::EpollCreate1,
            n::DUP3 => S::Dup3,
            n::PIPE2 => S::Pipe2,
            other => return MockArch::sysno(other),
        })
    }
    fn run_user(context: &mut MockContext, space: &MockSpace) -> ReturnReason {
        MockArch::run_user(context, space)
    }
    fn hwcap() -> u64 {
        MockArch::hwcap()
    }
    fn random_bytes() -> [u8; 16] {
        MockArch::random_bytes()
    }
    fn zero_frame(frame: PhysAddr) {
        MockArch::zero_frame(frame)
    }
    fn copy_frame(dst: PhysAddr, src: PhysAddr) {
        MockArch::copy_frame(dst, src)
    }
    fn wait_for_interrupt() {
        MockArch::wait_for_interrupt()
    }
    fn clone_args(raw: [u64; 6]) -> CloneArgs {
        MockArch::clone_args(raw)
    }
    fn push_signal_frame(
        context: &mut MockContext,
        space: &MockSpace,
        delivery: &SignalDelivery,
    ) -> Result<(), BadUserAddress> {
        MockArch::push_signal_frame(context, space, delivery)
    }
    fn pop_signal_frame(
        context: &mut MockContext,
        space: &MockSpace,
    ) -> Result<SignalReturn, BadUserAddress> {
        MockArch::pop_signal_frame(context, space)
    }
    const SIGRETURN_TRAMPOLINE: &'static [u8] = MockArch::SIGRETURN_TRAMPOLINE;
    fn attempt_violation(
        violation: hal::protection::Violation,
        space: &MockSpace,
        user_data: u64,
        user_code: u64,
    ) {
        MockArch::attempt_violation(violation, space, user_data, user_code)
    }
}

/// A console with scripted input.
#[derive(Default)]
struct TestConsole {
    output: spin::Mutex<Vec<u8>>,
    input: spin::Mutex<VecDeque<u8>>,
}

impl Console for TestConsole {
    fn write_bytes(&self, bytes: &[u8]) {
        self.output.lock().extend_from_slice(bytes);
    }
    fn read_byte(&self) -> Option<u8> {
        self.input.lock().pop_front()
    }
}

type K = Kernel<FdArch>;

/// A writable scratch area every test process has.
const DATA: u64 = 0x1000_0000;
const EAGAIN: u64 = (-11i64) as u64;
const EBADF: u64 = (-9i64) as u64;
const EINTR: u64 = (-4i64) as u64;
const EINVAL: u64 = (-22i64) as u64;
const EPIPE: u64 = (-32i64) as u64;
const ESPIPE: u64 = (-29i64) as u64;
const EEXIST: u64 = (-17i64) as u64;
const ENOENT: u64 = (-2i64) as u64;
const ELOOP: u64 = (-40i64) as u64;
const O_NONBLOCK: u64 = 0o4000;
const O_CLOEXEC: u64 = 0o2000000;
const POLLIN: u64 = 1;
const POLLOUT: u64 = 4;
const EPOLLIN: u32 = 1;
const EPOLLET: u32 = 1 << 31;
const EPOLLONESHOT: u32 = 1 << 30;

fn kernel() -> (K, &'static TestConsole) {
    let frames = BitmapFrameAllocator::new(&[PhysRange::new(0x100_0000, 8192 * PAGE_SIZE)]);
    let console: &'static TestConsole = Box::leak(Box::default());
    let clock = Clock::new(&MOCK_TIMER, 1_700_000_000);
    (Kernel::new(frames, console, clock, &[]), console)
}

fn sys(number: u64, args: &[u64]) -> Step {
    let mut a = [0u64; 6];
    a[..args.len()].copy_from_slice(args);
    Step::Syscall(number, a)
}

/// A process with a scratch data area and the console on 0, 1 and 2, running `steps`.
fn process(k: &mut K, parent: Pid, steps: impl IntoIterator<Item = Step>) -> Pid {
    let mut vm = Vm::<FdArch>::new(&mut k.frames).unwrap();
    let flags = 0x02 | 0x20 | 0x10; // MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED
    vm.mmap(DATA, 0x20000, 0x3, flags, u64::MAX, 0, &mut k.frames)
        .unwrap();
    let vm = k.add_vm(vm);
    let pid = k.spawn(parent, "test".into(), vm, MockContext::scripted(steps));
    k.processes[&pid]
        .files
        .replace(super::FdTable::with_console());
    pid
}

fn returns(k: &K, tid: Tid) -> Vec<u64> {
    k.threads[&tid].context.returns.clone()
}

fn done(k: &K, tid: Tid, calls: usize) -> bool {
    k.threads
        .get(&tid)
        .is_some_and(|t| t.context.returns.len() >= calls)
}

fn parked(k: &K, tid: Tid) -> bool {
    k.threads.get(&tid).is_some_and(|t| {
        matches!(
            t.state,
            ThreadState::Blocked {
                wait: Wait::Io { .. },
                ..
            }
        )
    })
}

fn peek(k: &mut K, tid: Tid, at: u64, len: usize) -> Vec<u8> {
    let mut out = alloc::vec![0; len];
    k.user(tid).read(at, &mut out).unwrap();
    out
}

fn poke(k: &mut K, tid: Tid, at: u64, bytes: &[u8]) {
    k.user(tid).write(at, bytes).unwrap();
}

fn pollfd(fd: i32, events: u16) -> [u8; 8] {
    let mut raw = [0u8; 8];
    raw[..4].copy_from_slice(&fd.to_le_bytes());
    raw[4..6].copy_from_slice(&events.to_le_bytes());
    raw
}

/// x86_64's packed `struct epoll_event`.
fn epoll_event(events: u32, data: u64) -> [u8; 12] {
    let mut raw = [0u8; 12];
    raw[..4].copy_from_slice(&events.to_le_bytes());
    raw[4..].copy_from_slice(&data.to_le_bytes());
    raw
}

fn set_action(k: &mut K, pid: Pid, sig: u32, handler: u64, flags: u64) {
    k.processes.get_mut(&pid).unwrap().actions[(sig - 1) as usize] = SigAction {
        handler,
        flags,
        ..Default::default()
    };
}

fn now(k: &K) -> u64 {
    k.clock.monotonic()
}

#[test]
fn a_forked_child_writes_through_a_pipe_and_its_exit_is_eof() {
    let (mut k, _) = kernel();
    let buf = DATA + 0x100;
    let init = process(
        &mut k,
        0,
        [
            sys(n::PIPE2, &[DATA, 0]),
            sys(nr::FORK, &[]),
            sys(n::CLOSE, &[4]),
            sys(n::READ, &[3, buf, 100]),
            sys(n::READ, &[3, buf + 100, 100]),
            sys(nr::WAIT4, &[u64::MAX, 0, 0, 0]),
        ],
    );
    poke(&mut k, init, DATA + 0x200, b"hello");
    assert_eq!(run_until(&mut k, |k| done(k, init, 2)), None);
    assert_eq!(peek(&mut k, init, DATA, 8), [3, 0, 0, 0, 4, 0, 0, 0]);
    let child = returns(&k, init)[1] as Tid;
    // The child inherited the script; give it its own part.
    k.threads.get_mut(&child).unwrap().context.script = [
        sys(n::CLOSE, &[3]),
        sys(n::WRITE, &[4, DATA + 0x200, 5]),
        sys(nr::EXIT_GROUP, &[0]),
    ]
    .into_iter()
    .collect();
    assert_eq!(run_until(&mut k, |k| done(k, init, 6)), None);
    assert_eq!(returns(&k, init), [0, child as u64, 0, 5, 0, child as u64]);
    assert_eq!(peek(&mut k, init, buf, 5), b"hello");
}

#[test]
fn close_on_exec_ends_close_and_readers_see_eof() {
    let (mut k, _) = kernel();
    let init = process(&mut k, 0, [sys(n::PIPE2, &[DATA, O_CLOEXEC])]);
    assert_eq!(run_until(&mut k, |k| done(k, init, 1)), None);
    let files = k.processes[&init].files.clone();
    assert_eq!(files.borrow().close_on_exec(3), Some(true));
    let read_end = files.borrow().get(3).unwrap().clone();
    // What execve does: unshare the table, close the close-on-exec descriptors.
    let closed = files.borrow_mut().close_cloexec();
    assert_eq!(closed.len(), 2);
    drop(closed);
    assert!(files.borrow().get(4).is_none());
    let d = read_end.borrow();
    let super::File::Pipe(end) = &d.file else {
        panic!("not a pipe")
    };
    let mut sink = super::io::VecSink::new(10);
    assert_eq!(
        end.pipe.borrow_mut().read(&mut sink, false),
        Ok(super::pipe::Transfer::Done(0)),
        "the writer closed by exec: end of file"
    );
}

#[test]
fn writing_to_a_pipe_without_readers_is_sigpipe_or_epipe() {
    let (mut k, _) = kernel();
    let status = DATA + 0x800;
    let init = process(&mut k, 0, [sys(nr::WAIT4, &[u64::MAX, status, 0, 0])]);
    let writer = process(
        &mut k,
        init,
        [
            sys(n::PIPE2, &[DATA, 0]),
            sys(n::CLOSE, &[3]),
            sys(n::WRITE, &[4, DATA, 1]),
            sys(nr::GETPID, &[]),
        ],
    );
    // Default action: the writer dies of SIGPIPE.
    assert_eq!(run_until(&mut k, |k| done(k, init, 1)), None);
    assert_eq!(returns(&k, init), [writer as u64]);
    let killed_by_sigpipe = (signal::SIGPIPE as u8).to_le_bytes();
    assert_eq!(peek(&mut k, init, status, 1), killed_by_sigpipe);
    // Init itself gets no signal it does not handle (Linux's SIGNAL_UNKILLABLE): EPIPE.
    let (mut k, _) = kernel();
    let lone_init = process(
        &mut k,
        0,
        [
            sys(n::PIPE2, &[DATA, 0]),
            sys(n::CLOSE, &[3]),
            sys(n::WRITE, &[4, DATA, 1]),
        ],
    );
    assert_eq!(run_until(&mut k, |k| done(k, lone_init, 3)), None);
    assert_eq!(returns(&k, lone_init), [0, 0, EPIPE]);
    // Ignored: the write fails with EPIPE.
    let (mut k, _) = kernel();
    let init2 = process(
        &mut k,
        0,
        [
            sys(n::PIPE2, &[DATA, 0]),
            sys(n::CLOSE, &[3]),
            sys(n::WRITE, &[4, DATA, 1]),
        ],
    );
    set_action(&mut k, init2, signal::SIGPIPE, signal::SIG_IGN, 0);
    assert_eq!(run_until(&mut k, |k| done(k, init2, 3)), None);
    assert_eq!(returns(&k, init2), [0, 0, EPIPE]);
    let _ = init;
}

#[test]
fn poll_times_out_and_a_wakeup_that_changes_nothing_keeps_the_deadline() {
    let (mut k, _) = kernel();
    let fds = DATA + 0x100;
    // POLLPRI (2) is never reported for a pipe: the write below wakes the poll for nothing.
    let init = process(
        &mut k,
        0,
        [
            sys(n::PIPE2, &[DATA, 0]),
            sys(n::POLL, &[fds, 1, 100]),
            sys(nr::WAIT4, &[u64::MAX, 0, 0, 0]),
        ],
    );
    poke(&mut k, init, fds, &pollfd(3, 2));
    let start = now(&k);
    assert_eq!(run_until(&mut k, |k| parked(k, 1)), None);
    // Another process, sharing the pipe, writes 30 ms later.
    let writer = process(
        &mut k,
        init,
        [
            sys(nr::NANOSLEEP, &[DATA, 0]),
            sys(n::WRITE, &[4, DATA + 0x300, 1]),
        ],
    );
    poke(&mut k, writer, DATA, &crate::time::timespec(30_000_000));
    let shared = k.processes[&init].files.borrow().clone();
    k.processes[&writer].files.replace(shared);
    assert_eq!(run_until(&mut k, |k| done(k, init, 2)), None);
    assert_eq!(returns(&k, init), [0, 0], "timed out");
    let waited = now(&k) - start;
    assert!(
        (100_000_000..130_000_000).contains(&waited),
        "waited {waited} ns: the wakeup must not restart the timeout"
    );
    assert_eq!(peek(&mut k, init, fds + 6, 2), [0, 0], "no revents");
}

#[test]
fn poll_reports_ready_and_invalid_descriptors() {
    let (mut k, _) = kernel();
    let fds = DATA + 0x100;
    let init = process(
        &mut k,
        0,
        [
            sys(n::PIPE2, &[DATA, 0]),
            sys(n::WRITE, &[4, DATA + 0x300, 3]),
            sys(n::POLL, &[fds, 4, 0]),
            sys(n::CLOSE, &[4]),
            sys(n::POLL, &[fds, 1, u64::MAX]),
        ],
    );
    for (i, entry) in [
        pollfd(3, POLLIN as u16 | POLLOUT as u16),
        pollfd(4, POLLOUT as u16),
        pollfd(99, POLLIN as u16),
        pollfd(-1, POLLIN as u16),
    ]
    .iter()
    .enumerate()
    {
        poke(&mut k, init, fds + i as u64 * 8, entry);
    }
    assert_eq!(run_until(&mut k, |k| done(k, init, 3)), None);
    assert_eq!(returns(&k, init)[2], 3);
    let revents = |k: &mut K, i: u64| {
        let raw = peek(k, init, fds + i * 8 + 6, 2);
        u16::from_le_bytes([raw[0], raw[1]]) as u64
    };
    assert_eq!(
        revents(&mut k, 0),
        POLLIN,
        "readable (POLLRDNORM was not asked for)"
    );
    assert_eq!(revents(&mut k, 1), POLLOUT, "writable, only what was asked");
    assert_eq!(revents(&mut k, 2), 0x20, "POLLNVAL");
    assert_eq!(revents(&mut k, 3), 0, "negative fds are skipped");
    // With the writer gone: readable and hung up, waiting for ever returns at once.
    assert_eq!(run_until(&mut k, |k| done(k, init, 5)), None);
    assert_eq!(returns(&k, init)[4], 1);
    assert_eq!(
        revents(&mut k, 0),
        POLLIN | 0x10,
        "POLLHUP is always reported"
    );
}

#[test]
fn epoll_level_edge_and_one_shot() {
    let (mut k, _) = kernel();
    let ev = DATA + 0x100;
    let out = DATA + 0x200;
    let byte = DATA + 0x300;
    // fds: 3/4 pipe, 5 level, 6 edge, 7 one-shot.
    let mut steps = alloc::vec![
        sys(n::PIPE2, &[DATA, O_NONBLOCK]),
        sys(n::EPOLL_CREATE1, &[0]),
        sys(n::EPOLL_CREATE1, &[O_CLOEXEC]),
        sys(n::EPOLL_CREATE, &[1]),
        sys(n::EPOLL_CTL, &[5, 1, 3, ev]),
        sys(n::EPOLL_CTL, &[6, 1, 3, ev + 16]),
        sys(n::EPOLL_CTL, &[7, 1, 3, ev + 32]),
        sys(n::EPOLL_CTL, &[5, 1, 3, ev]),
        // Nothing ready yet.
        sys(n::EPOLL_WAIT, &[5, out, 8, 0]),
        sys(n::WRITE, &[4, byte, 1]),
    ];
    for _ in 0..2 {
        steps.extend([
            sys(n::EPOLL_WAIT, &[5, out, 8, 0]),
            sys(n::EPOLL_WAIT, &[6, out, 8, 0]),
            sys(n::EPOLL_WAIT, &[7, out, 8, 0]),
        ]);
    }
    steps.extend([
        // A new write is a new edge; the one-shot item stays disarmed until MOD.
        sys(n::WRITE, &[4, byte, 1]),
        sys(n::EPOLL_WAIT, &[6, out, 8, 0]),
        sys(n::EPOLL_WAIT, &[7, out, 8, 0]),
        sys(n::EPOLL_CTL, &[7, 3, 3, ev + 32]),
        sys(n::EPOLL_WAIT, &[7, out, 8, 0]),
        sys(n::EPOLL_CTL, &[7, 2, 3, 0]),
        sys(n::EPOLL_CTL, &[7, 2, 3, 0]),
        sys(n::EPOLL_CTL, &[7, 3, 3, ev + 32]),
        sys(n::EPOLL_CTL, &[7, 1, 7, ev]),
        sys(n::EPOLL_CTL, &[9, 1, 3, ev]),
        sys(n::EPOLL_CTL, &[5, 1, 6, ev]),
        sys(n::EPOLL_CTL, &[6, 1, 5, ev]),
        sys(n::EPOLL_WAIT, &[5, out, 0, 0]),
        sys(n::EPOLL_WAIT, &[3, out, 1, 0]),
    ]);
    let calls = steps.len();
    let init = process(&mut k, 0, steps);
    poke(&mut k, init, ev, &epoll_event(EPOLLIN, 0xaaaa));
    poke(
        &mut k,
        init,
        ev + 16,
        &epoll_event(EPOLLIN | EPOLLET, 0xbbbb),
    );
    poke(
        &mut k,
        init,
        ev + 32,
        &epoll_event(EPOLLIN | EPOLLONESHOT, 0xcccc),
    );
    assert_eq!(run_until(&mut k, |k| done(k, init, calls)), None);
    let r = returns(&k, init);
    assert_eq!(&r[..8], [0, 5, 6, 7, 0, 0, 0, EEXIST]);
    assert_eq!(r[8], 0, "nothing ready");
    assert_eq!(r[9], 1);
    assert_eq!(&r[10..13], [1, 1, 1], "all three report the first time");
    assert_eq!(&r[13..16], [1, 0, 0], "level again; edge and one-shot not");
    assert_eq!(r[16], 1);
    assert_eq!(&r[17..19], [1, 0], "new edge; one-shot disarmed");
    assert_eq!(&r[19..21], [0, 1], "MOD re-arms");
    assert_eq!(
        &r[21..24],
        [0, ENOENT, ENOENT],
        "DEL, then nothing to delete or modify"
    );
    assert_eq!(r[24], EINVAL, "an instance cannot watch itself");
    assert_eq!(r[25], EBADF);
    assert_eq!(r[26], 0, "instances may nest");
    assert_eq!(r[27], ELOOP, "but not in a loop");
    assert_eq!(r[28], EINVAL, "maxevents must be positive");
    assert_eq!(r[29], EINVAL, "not an epoll instance");
    // The one-shot MOD report: data and events as the packed x86_64 layout has them.
    let raw = peek(&mut k, init, out, 12);
    assert_eq!(u32::from_le_bytes(raw[..4].try_into().unwrap()), EPOLLIN);
    assert_eq!(u64::from_le_bytes(raw[4..].try_into().unwrap()), 0xcccc);
}

#[test]
fn epoll_wait_sleeps_until_another_process_writes() {
    let (mut k, _) = kernel();
    let ev = DATA + 0x100;
    let out = DATA + 0x200;
    let init = process(
        &mut k,
        0,
        [
            sys(n::PIPE2, &[DATA, 0]),
            sys(n::EPOLL_CREATE1, &[0]),
            sys(n::EPOLL_CTL, &[5, 1, 3, ev]),
            sys(n::EPOLL_PWAIT, &[5, out, 4, u64::MAX, 0, 8]),
            sys(n::READ, &[3, DATA + 0x400, 10]),
            sys(nr::WAIT4, &[u64::MAX, 0, 0, 0]),
        ],
    );
    poke(&mut k, init, ev, &epoll_event(EPOLLIN | EPOLLET, 42));
    assert_eq!(run_until(&mut k, |k| parked(k, 1)), None);
    let writer = process(&mut k, init, [sys(n::WRITE, &[4, DATA + 0x300, 2])]);
    poke(&mut k, writer, DATA + 0x300, b"ok");
    let shared = k.processes[&init].files.borrow().clone();
    k.processes[&writer].files.replace(shared);
    assert_eq!(run_until(&mut k, |k| done(k, init, 6)), None);
    assert_eq!(returns(&k, init), [0, 5, 0, 1, 2, writer as u64]);
    let raw = peek(&mut k, init, out, 12);
    assert_eq!(u64::from_le_bytes(raw[4..].try_into().unwrap()), 42);
    assert_eq!(peek(&mut k, init, DATA + 0x400, 2), b"ok");
}

#[test]
fn eventfd_counter_and_semaphore() {
    let (mut k, _) = kernel();
    let value = DATA + 0x100;
    let init = process(
        &mut k,
        0,
        [
            // fd 3: semaphore starting at 2, non-blocking.
            sys(n::EVENTFD2, &[2, 1 | O_NONBLOCK]),
            sys(n::READ, &[3, value, 8]),
            sys(n::READ, &[3, value, 8]),
            sys(n::READ, &[3, value, 8]),
            sys(n::READ, &[3, value, 4]),
            // fd 4: a counter; a blocking read waits for the writer below.
            sys(n::EVENTFD2, &[0, 0]),
            sys(n::WRITE, &[4, DATA + 0x200, 8]),
            sys(n::WRITE, &[4, DATA + 0x200, 8]),
            sys(n::READ, &[4, value, 8]),
            sys(n::READ, &[4, value + 8, 8]),
            sys(n::EVENTFD2, &[0, 0x40]),
        ],
    );
    poke(&mut k, init, DATA + 0x200, &5u64.to_le_bytes());
    assert_eq!(run_until(&mut k, |k| done(k, init, 9)), None);
    assert_eq!(
        returns(&k, init),
        [3, 8, 8, EAGAIN, EINVAL, 4, 8, 8, 8],
        "1, 1, then empty; short buffers are EINVAL"
    );
    assert_eq!(peek(&mut k, init, value, 8), 10u64.to_le_bytes());
    assert_eq!(run_until(&mut k, |k| parked(k, 1)), None);
    let writer = process(&mut k, init, [sys(n::WRITE, &[4, DATA, 8])]);
    poke(&mut k, writer, DATA, &7u64.to_le_bytes());
    let shared = k.processes[&init].files.borrow().clone();
    k.processes[&writer].files.replace(shared);
    assert_eq!(run_until(&mut k, |k| done(k, init, 11)), None);
    assert_eq!(&returns(&k, init)[9..], [8, EINVAL]);
    assert_eq!(peek(&mut k, init, value + 8, 8), 7u64.to_le_bytes());
}

#[test]
fn a_signal_ends_a_partial_blocking_write_with_its_count() {
    let (mut k, _) = kernel();
    let big = 70_000u64;
    let init = process(
        &mut k,
        0,
        [
            sys(n::PIPE2, &[DATA, 0]),
            sys(n::WRITE, &[4, DATA + 0x1000, big]),
            sys(n::READ, &[3, DATA, 0]),
        ],
    );
    set_action(&mut k, init, signal::SIGUSR1, 0x7000, signal::SA_RESTART);
    assert_eq!(run_until(&mut k, |k| parked(k, 1)), None);
    k.send_to_process(init, signal::SigInfo::user(signal::SIGUSR1, 0, 0));
    assert_eq!(run_until(&mut k, |k| done(k, init, 3)), None);
    // Linux returns what was written, even with SA_RESTART: restarting would write it twice.
    assert_eq!(returns(&k, init), [0, 65536, 0]);
    assert_eq!(k.threads[&init].context.handled, [signal::SIGUSR1]);
}

#[test]
fn a_blocked_read_is_interrupted_or_restarted() {
    for (flags, expected) in [
        (0, alloc::vec![0, EINTR]),
        (signal::SA_RESTART, alloc::vec![0]),
    ] {
        let (mut k, _) = kernel();
        let init = process(
            &mut k,
            0,
            [sys(n::PIPE2, &[DATA, 0]), sys(n::READ, &[3, DATA, 10])],
        );
        set_action(&mut k, init, signal::SIGUSR1, 0x7000, flags);
        assert_eq!(run_until(&mut k, |k| parked(k, 1)), None);
        k.send_to_process(init, signal::SigInfo::user(signal::SIGUSR1, 0, 0));
        assert_eq!(
            run_until(&mut k, |k| k.threads[&1].context.handled.len() == 1
                && parked(k, 1)
                || done(k, 1, 2)),
            None
        );
        assert_eq!(returns(&k, init), expected);
    }
}

#[test]
fn the_console_is_a_terminal_with_line_editing_and_echo() {
    let (mut k, console) = kernel();
    let fds = DATA + 0x100;
    let init = process(
        &mut k,
        0,
        [
            sys(n::POLL, &[fds, 1, 0]),
            sys(n::READ, &[0, DATA, 10]),
            sys(n::POLL, &[fds, 1, u64::MAX]),
            sys(n::READ, &[0, DATA + 0x10, 10]),
            sys(n::WRITE, &[1, DATA, 3]),
            sys(n::LSEEK, &[0, 0, 0]),
            sys(n::IOCTL, &[1, 0x5401, DATA + 0x800]),
        ],
    );
    poke(&mut k, init, fds, &pollfd(0, POLLIN as u16));
    assert_eq!(run_until(&mut k, |k| parked(k, 1)), None);
    assert_eq!(returns(&k, init), [0], "nothing typed yet; the read waits");
    // Canonical mode: a partial line (with a backspace) is echoed but not readable yet.
    console.input.lock().extend(b"hx");
    let before = now(&k);
    assert_eq!(run_until(&mut k, |k| now(k) >= before + 30_000_000), None);
    assert_eq!(returns(&k, init), [0], "no complete line yet");
    // Return (ICRNL makes it a newline) completes the line, noticed within a sampling period.
    console.input.lock().extend(b"i\r");
    let before = now(&k);
    assert_eq!(run_until(&mut k, |k| done(k, 1, 2) && parked(k, 1)), None);
    assert!(
        now(&k) - before <= 10_000_000,
        "noticed within a polling period"
    );
    assert_eq!(returns(&k, init), [0, 3]);
    console.input.lock().extend(b"!\n");
    assert_eq!(run_until(&mut k, |k| done(k, init, 7)), None);
    assert_eq!(returns(&k, init), [0, 3, 1, 2, 3, ESPIPE, 0]);
    assert_eq!(peek(&mut k, init, DATA, 3), b"hi\n");
    assert_eq!(peek(&mut k, init, DATA + 0x10, 2), b"!\n");
    // TCGETS: the default c_lflag has ICANON|ECHO.
    assert_eq!(peek(&mut k, init, DATA + 0x800 + 12, 1)[0] & 0o12, 0o12);
    // Echo (with the erase sequence) and the write, newlines as CR LF (OPOST|ONLCR).
    assert_eq!(
        console.output.lock().as_slice(),
        b"hx\x08 \x08i\r\n!\r\nhi\r\n"
    );
}

#[test]
fn descriptor_table_calls() {
    let (mut k, _) = kernel();
    let init = process(
        &mut k,
        0,
        [
            sys(n::PIPE2, &[DATA, O_CLOEXEC | O_NONBLOCK]),
            sys(n::DUP, &[4]),
            sys(n::FCNTL, &[5, 1, 0]),
            sys(n::FCNTL, &[3, 1, 0]),
            sys(n::DUP2, &[3, 3]),
            sys(n::DUP2, &[9, 9]),
            sys(n::DUP3, &[3, 3, 0]),
            sys(n::DUP3, &[3, 10, 1]),
            sys(n::DUP3, &[3, 10, O_CLOEXEC]),
            sys(n::FCNTL, &[10, 1, 0]),
            sys(n::FCNTL, &[3, 1030, 20]),
            sys(n::FCNTL, &[3, 0, 5000]),
            sys(n::FCNTL, &[3, 3, 0]),
            sys(n::FCNTL, &[4, 4, 0]),
            sys(n::FCNTL, &[4, 3, 0]),
            sys(n::FCNTL, &[4, 1032, 0]),
            sys(n::FCNTL, &[4, 1031, 100_000]),
            sys(n::FCNTL, &[0, 1032, 0]),
            sys(n::FCNTL, &[3, 0xdead, 0]),
            sys(n::CLOSE, &[10]),
            sys(n::CLOSE, &[10]),
            sys(n::DUP2, &[4, 2000]),
            sys(n::LSEEK, &[3, 0, 0]),
            sys(n::LSEEK, &[3, 0, 9]),
            sys(n::PREAD64, &[3, DATA, 1, u64::MAX]),
            sys(n::PREAD64, &[3, DATA, 1, 0]),
            sys(n::IOCTL, &[4, 0x5421, DATA + 0x100]),
            sys(n::READ, &[3, DATA, 1]),
            sys(n::WRITE, &[3, DATA, 1]),
            sys(n::READ, &[4, DATA, 1]),
            sys(n::IOCTL, &[3, 0x541b, DATA + 0x104]),
            sys(n::FCNTL, &[4, 3, 0]),
        ],
    );
    poke(&mut k, init, DATA + 0x100, &1u32.to_le_bytes());
    assert_eq!(run_until(&mut k, |k| done(k, init, 32)), None);
    let r = returns(&k, init);
    assert_eq!(&r[..4], [0, 5, 0, 1], "dup clears FD_CLOEXEC; pipe2 set it");
    assert_eq!(
        &r[4..7],
        [3, EBADF, EINVAL],
        "dup2 to itself; dup3 refuses it"
    );
    assert_eq!(&r[7..10], [EINVAL, 10, 1], "dup3 flags");
    assert_eq!(
        &r[10..12],
        [20, EINVAL],
        "F_DUPFD_CLOEXEC from 20; beyond the limit"
    );
    assert_eq!(r[12], O_NONBLOCK, "F_GETFL of the read end");
    assert_eq!(
        &r[13..15],
        [0, 1],
        "F_SETFL keeps the access mode (O_WRONLY)"
    );
    assert_eq!(&r[15..18], [65536, 131072, EBADF], "pipe sizes; not a pipe");
    assert_eq!(r[18], EINVAL, "unknown command");
    assert_eq!(&r[19..21], [0, EBADF]);
    assert_eq!(r[21], EBADF, "beyond RLIMIT_NOFILE");
    assert_eq!(&r[22..24], [ESPIPE, EINVAL]);
    assert_eq!(&r[24..26], [EINVAL, ESPIPE], "negative position first");
    assert_eq!(r[26], 0, "FIONBIO on the write end");
    assert_eq!(r[27], EAGAIN, "the read end kept O_NONBLOCK");
    assert_eq!(&r[28..30], [EBADF, EBADF], "wrong direction");
    assert_eq!(r[30], 0);
    assert_eq!(
        r[31],
        1 | O_NONBLOCK,
        "FIONBIO set what F_SETFL had cleared"
    );
    assert_eq!(
        peek(&mut k, init, DATA + 0x104, 4),
        [0; 4],
        "FIONREAD: empty"
    );
}

#[test]
fn vectored_io_and_select() {
    let (mut k, _) = kernel();
    let iov = DATA + 0x100;
    let sets = DATA + 0x200;
    let init = process(
        &mut k,
        0,
        [
            sys(n::PIPE2, &[DATA, 0]),
            sys(n::WRITEV, &[4, iov, 2]),
            sys(n::SELECT, &[5, sets, sets + 8, 0, 0]),
            sys(n::READV, &[3, iov + 32, 2]),
            sys(n::WRITEV, &[4, iov + 64, 1]),
            sys(n::WRITEV, &[4, iov, 1025]),
        ],
    );
    let mut vec = Vec::new();
    for (base, len) in [
        (DATA + 0x400, 3u64),
        (DATA + 0x500, 2),
        (DATA + 0x600, 1),
        (DATA + 0x700, 10),
        (DATA + 0x400, u64::MAX),
    ] {
        vec.extend_from_slice(&base.to_le_bytes());
        vec.extend_from_slice(&len.to_le_bytes());
    }
    poke(&mut k, init, iov, &vec);
    poke(&mut k, init, DATA + 0x400, b"abc");
    poke(&mut k, init, DATA + 0x500, b"de");
    // Ask: readable 3 and 4; writable 3 and 4.
    poke(&mut k, init, sets, &[0b11000, 0, 0, 0, 0, 0, 0, 0]);
    poke(&mut k, init, sets + 8, &[0b11000, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(run_until(&mut k, |k| done(k, init, 6)), None);
    assert_eq!(returns(&k, init), [0, 5, 2, 5, EINVAL, EINVAL]);
    assert_eq!(peek(&mut k, init, sets, 1), [0b01000], "3 readable");
    assert_eq!(peek(&mut k, init, sets + 8, 1), [0b10000], "4 writable");
    assert_eq!(peek(&mut k, init, DATA + 0x600, 1), b"a");
    assert_eq!(peek(&mut k, init, DATA + 0x700, 4), b"bcde");
}

#[test]
fn ppoll_with_a_mask_that_unblocks_a_pending_signal_is_interrupted() {
    let (mut k, _) = kernel();
    let fds = DATA + 0x100;
    let mask = DATA + 0x200;
    let init = process(
        &mut k,
        0,
        [
            sys(n::PIPE2, &[DATA, 0]),
            sys(n::PPOLL, &[fds, 1, 0, mask, 8]),
            sys(n::PPOLL, &[fds, 1, 0, mask, 7]),
        ],
    );
    poke(&mut k, init, fds, &pollfd(3, POLLIN as u16));
    poke(&mut k, init, mask, &0u64.to_le_bytes());
    set_action(&mut k, init, signal::SIGUSR1, 0x7000, 0);
    let t = k.threads.get_mut(&init).unwrap();
    t.blocked.insert(signal::SIGUSR1);
    k.send_to_process(init, signal::SigInfo::user(signal::SIGUSR1, 0, 0));
    assert_eq!(run_until(&mut k, |k| done(k, init, 3)), None);
    assert_eq!(returns(&k, init), [0, EINTR, EINVAL]);
    assert_eq!(k.threads[&init].context.handled, [signal::SIGUSR1]);
    assert!(
        k.threads[&init].blocked.contains(signal::SIGUSR1),
        "the old mask is back after the handler"
    );
}

#[test]
fn hostile_arguments_are_errors() {
    let (mut k, _) = kernel();
    let init = process(
        &mut k,
        0,
        [
            sys(n::PIPE2, &[0x10, 0]),
            sys(n::PIPE2, &[DATA, 0xffff]),
            sys(n::POLL, &[DATA, 5000, 0]),
            sys(n::POLL, &[0x10, 1, 0]),
            sys(n::READ, &[0, u64::MAX - 4, 8]),
            sys(n::WRITE, &[1, 0x10, 8]),
            sys(n::EPOLL_CREATE, &[0]),
            sys(n::EPOLL_CREATE1, &[1]),
            sys(n::EPOLL_CREATE1, &[0]),
            sys(n::EPOLL_WAIT, &[3, 0x10, 1, 0]),
            sys(n::EPOLL_WAIT, &[3, DATA, i32::MAX as u64, 0]),
            sys(n::EPOLL_CTL, &[3, 1, 0, 0x10]),
            sys(n::READV, &[1, 0x10, 1]),
            sys(n::EVENTFD2, &[0, 0x10]),
            sys(n::IOCTL, &[1, 0x5421, 0x10]),
        ],
    );
    assert_eq!(run_until(&mut k, |k| done(k, init, 15)), None);
    const EFAULT: u64 = (-14i64) as u64;
    assert_eq!(
        returns(&k, init),
        [
            EFAULT, EINVAL, EINVAL, EFAULT, EFAULT, EFAULT, EINVAL, EINVAL, 3, 0, EINVAL, EFAULT,
            EFAULT, EINVAL, EFAULT
        ]
    );
    // The failed pipe2 left no descriptors behind.
    assert!(k.processes[&init].files.borrow().get(4).is_none());
}

#[test]
fn nested_epoll_instances_pass_wakeups_up() {
    let (mut k, _) = kernel();
    let ev = DATA + 0x100;
    let out = DATA + 0x200;
    let fds = DATA + 0x300;
    let init = process(
        &mut k,
        0,
        [
            sys(n::PIPE2, &[DATA, 0]),
            sys(n::EPOLL_CREATE1, &[0]),
            sys(n::EPOLL_CREATE1, &[0]),
            sys(n::EPOLL_CTL, &[6, 1, 3, ev]),
            sys(n::EPOLL_CTL, &[5, 1, 6, ev + 16]),
            // Blocks until the writer below writes into the pipe the inner instance watches.
            sys(n::EPOLL_WAIT, &[5, out, 4, u64::MAX]),
            sys(n::EPOLL_WAIT, &[5, out + 12, 4, 0]),
            sys(n::POLL, &[fds, 1, 0]),
            sys(n::EPOLL_WAIT, &[6, out + 24, 4, 0]),
        ],
    );
    poke(&mut k, init, ev, &epoll_event(EPOLLIN, 0x1111));
    poke(
        &mut k,
        init,
        ev + 16,
        &epoll_event(EPOLLIN | EPOLLET, 0x2222),
    );
    poke(&mut k, init, fds, &pollfd(5, POLLIN as u16));
    assert_eq!(run_until(&mut k, |k| parked(k, 1)), None);
    assert_eq!(returns(&k, init), [0, 5, 6, 0, 0]);
    let writer = process(&mut k, init, [sys(n::WRITE, &[4, DATA, 1])]);
    let shared = k.processes[&init].files.borrow().clone();
    k.processes[&writer].files.replace(shared);
    assert_eq!(run_until(&mut k, |k| done(k, init, 9)), None);
    // The outer item is edge-triggered: reported once, and then the outer instance's ready
    // list is empty, so poll finds it unreadable (as on Linux) while the inner, level-triggered
    // one still reports.
    assert_eq!(returns(&k, init), [0, 5, 6, 0, 0, 1, 0, 0, 1]);
    let data =
        |k: &mut K, at: u64| u64::from_le_bytes(peek(k, init, at + 4, 8).try_into().unwrap());
    assert_eq!(data(&mut k, out), 0x2222);
    assert_eq!(data(&mut k, out + 24), 0x1111);
}

#[test]
fn a_large_blocking_write_continues_as_the_reader_drains_the_pipe() {
    let (mut k, _) = kernel();
    let big = 100_000u64;
    let src = DATA + 0x1000;
    let init = process(
        &mut k,
        0,
        [
            sys(n::PIPE2, &[DATA, 0]),
            sys(n::WRITE, &[4, src, big]),
            sys(nr::WAIT4, &[u64::MAX, 0, 0, 0]),
        ],
    );
    let data: Vec<u8> = (0..big as u32).map(|i| (i % 251) as u8).collect();
    poke(&mut k, init, src, &data);
    assert_eq!(run_until(&mut k, |k| parked(k, 1)), None);
    // The reader takes at most 25000 bytes at a time, each read into its own buffer; a read
    // returns what is there, so how the bytes split depends on the schedule.
    const CHUNK: u64 = 25_000;
    let steps: Vec<Step> = (0..5)
        .map(|i| sys(n::READ, &[3, DATA + 0x1000 + i * CHUNK, CHUNK]))
        .collect();
    let reader = process(&mut k, init, steps);
    let shared = k.processes[&init].files.borrow().clone();
    k.processes[&reader].files.replace(shared);
    let total = |k: &K| {
        k.threads
            .get(&reader)
            .map_or(0, |t| t.context.returns.iter().sum::<u64>())
    };
    assert_eq!(run_until(&mut k, |k| total(k) >= big), None);
    assert_eq!(total(&k), big);
    assert_eq!(run_until(&mut k, |k| done(k, init, 2)), None);
    assert_eq!(returns(&k, init), [0, big], "one write, every byte, once");
    let mut got = Vec::new();
    for (i, &n) in returns(&k, reader).iter().enumerate() {
        got.extend(peek(
            &mut k,
            reader,
            DATA + 0x1000 + i as u64 * CHUNK,
            n as usize,
        ));
    }
    assert_eq!(got, data);
}

#[test]
fn parking_with_a_signal_already_pending_ends_at_once() {
    let (mut k, _) = kernel();
    let init = process(&mut k, 0, [sys(nr::GETPID, &[])]);
    set_action(&mut k, init, signal::SIGUSR1, 0x7000, 0);
    k.threads
        .get_mut(&init)
        .unwrap()
        .blocked
        .insert(signal::SIGUSR1);
    k.send_to_process(init, signal::SigInfo::user(signal::SIGUSR1, 0, 0));
    k.threads
        .get_mut(&init)
        .unwrap()
        .blocked
        .remove(signal::SIGUSR1);
    let park = |progress| super::wait::Park {
        key: super::wait::new_key(),
        deadline: None,
        wake_at: None,
        progress,
        restart: crate::task::Restart::IfSaRestart,
    };
    // Bytes already written are the result; nothing is left for a re-run to find.
    let outcome = super::wait::park(&mut k, init, park(10));
    assert_eq!(outcome, crate::syscall::Outcome::Return(10));
    assert_eq!(k.threads[&init].interrupted, None);
    assert!(!super::wait::resume(&mut k, init).rerun);
    // Nothing moved: the signal's delivery decides (-EINTR or a restart).
    k.threads.get_mut(&init).unwrap().state = ThreadState::Runnable;
    let outcome = super::wait::park(&mut k, init, park(0));
    assert_eq!(outcome, crate::syscall::Outcome::Done);
    assert!(k.threads[&init].interrupted.is_some());
    assert!(!super::wait::resume(&mut k, init).rerun);
}
