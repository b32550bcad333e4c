//! Conformance: what `execve` keeps and what it resets. A forked child sets up state, starts a
//! second thread and execs this program again *from that thread*; the new image checks that it
//! kept the pid (and, as the only thread left, has tid == pid), that handled signals went back
//! to SIG_DFL while ignored ones stayed ignored, that the signal mask and a pending blocked
//! process-directed signal survived, that the alternate stack and the old mappings are gone,
//! and that the O_CLOEXEC end of a pipe was closed while the other stayed open.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use rt::check;
use rt::errno::EBADF;
use rt::exec::Strings;
use rt::println;
use rt::signal::{
    self, SIG_DFL, SIG_IGN, SIGRT_A, SIGRT_B, SIGUSR1, SIGUSR2, SS_DISABLE, SigInfo, StackT, bit,
};
use rt::sys::{self, MAP_ANONYMOUS, MAP_FIXED_NOREPLACE, MAP_PRIVATE, PAGE, PROT_READ, Status};
use rt::text::parse_int;
use rt::thread;

rt::main!(main);

extern "C" fn handler(_sig: i32, _info: *mut SigInfo, _uc: *mut u8) {}

/// The exec arguments, prepared by the main thread for the second one.
static mut ARGS: Strings = Strings::new();
static ENVP: AtomicUsize = AtomicUsize::new(0);

extern "C" fn exec_from_thread(_: usize) -> i32 {
    // SAFETY: the main thread filled ARGS before starting this thread and no longer touches
    // it; it is blocked in a futex wait until the exec replaces the whole process.
    let args = unsafe { &mut *core::ptr::addr_of_mut!(ARGS) };
    let path = args.first();
    let argv = args.as_ptr();
    // SAFETY: path/argv are null-terminated C strings in ARGS; envp is the kernel's array.
    let r = unsafe { sys::execve(path, argv, ENVP.load(Ordering::Relaxed) as *const *const u8) };
    check::fail("execve from the second thread", rt::errno::Ret(r));
    rt::exit(1)
}

fn main(env: &rt::Env) -> i32 {
    if env.arg(1) == Some(b"after") {
        return after(env);
    }
    println!("exec-state: start");
    let child = sys::fork();
    if child == 0 {
        prepare_and_exec(env);
    }
    check::shows(
        "the exec'd image's checks",
        Status(sys::wait_for(child as i32)),
        "exited 0",
    );
    check::finish("exec-state")
}

fn prepare_and_exec(env: &rt::Env) -> ! {
    signal::handle(SIGUSR1, handler, 0, 0);
    signal::disposition(SIGUSR2, SIG_IGN);
    signal::block(bit(SIGRT_A) | bit(SIGRT_B));
    // Process-directed, so it is pending for the process, not just this (soon gone) thread.
    sys::kill(sys::getpid(), SIGRT_B);
    let alt = sys::mmap_anon(65536, sys::PROT_READ | sys::PROT_WRITE);
    signal::sigaltstack(
        Some(&StackT {
            sp: alt as usize,
            flags: 0,
            size: 65536,
        }),
        None,
    );
    let mapping = sys::mmap_anon(PAGE, PROT_READ);
    let keep = sys::pipe2(0).unwrap_or([-1, -1]);
    let cloexec = sys::pipe2(sys::O_CLOEXEC).unwrap_or([-1, -1]);
    // SAFETY: ARGS is only touched here, before the thread that uses it starts.
    let args = unsafe { &mut *core::ptr::addr_of_mut!(ARGS) };
    args.push(env.arg(0).unwrap_or(b""));
    args.push(b"after");
    args.push_fmt(format_args!("{}", sys::getpid()));
    args.push_fmt(format_args!("{mapping}"));
    args.push_fmt(format_args!("{}", keep[0]));
    args.push_fmt(format_args!("{}", cloexec[0]));
    ENVP.store(env.envp_ptr() as usize, Ordering::Relaxed);
    if let Err(e) = thread::spawn(exec_from_thread, 0) {
        check::fail("clone(thread)", rt::errno::Ret(e));
        rt::exit(1);
    }
    // The exec ends this thread along with the process image.
    let forever = AtomicU32::new(0);
    loop {
        sys::futex_wait(&forever, 0, None);
    }
}

fn after(env: &rt::Env) -> i32 {
    let arg = |i| env.arg(i).and_then(parse_int).unwrap_or(-1);
    let (pid, mapping, keep, cloexec) = (arg(2), arg(3) as usize, arg(4) as i32, arg(5) as i32);
    check::yes(
        "pid kept across an exec from a second thread",
        sys::getpid() as i64 == pid,
    );
    check::yes(
        "the exec'ing thread became the leader (tid == pid)",
        sys::gettid() as i64 == pid,
    );
    check::yes(
        "a handled signal is reset to SIG_DFL",
        signal::current(SIGUSR1).is_ok_and(|a| a.handler == SIG_DFL),
    );
    check::yes(
        "an ignored signal stays ignored",
        signal::current(SIGUSR2).is_ok_and(|a| a.handler == SIG_IGN),
    );
    check::yes(
        "the signal mask is kept",
        signal::mask() == bit(SIGRT_A) | bit(SIGRT_B),
    );
    check::yes(
        "a pending signal is kept",
        signal::pending() == bit(SIGRT_B),
    );
    let mut ss = StackT::default();
    signal::sigaltstack(None, Some(&mut ss));
    check::eq(
        "the alternate stack is gone (SS_DISABLE)",
        ss.flags,
        SS_DISABLE,
    );
    // SAFETY: NOREPLACE cannot replace anything; the probe page is unmapped again.
    let r = unsafe {
        sys::mmap(
            mapping,
            PAGE,
            PROT_READ,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    check::yes("the old image's mapping is gone", r == mapping as isize);
    check::ret(
        "fcntl(F_GETFD) on the kept pipe end",
        sys::fcntl(keep, sys::F_GETFD, 0),
        0,
    );
    check::err(
        "fcntl(F_GETFD) on the O_CLOEXEC pipe end",
        sys::fcntl(cloexec, sys::F_GETFD, 0),
        EBADF,
    );
    if check::failures() == 0 { 0 } else { 1 }
}
