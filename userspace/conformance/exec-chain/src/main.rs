//! Conformance: `execve`. A forked child executes this program again with new arguments and an
//! extra environment variable, three times over; every stage checks that its pid is the one the
//! first stage had (exec keeps the process), that argv and envp arrived exactly, and the last
//! stage's exit code reaches the parent. Then the error codes: ENOENT, EFAULT for a bad path or
//! argv pointer; a failed execve returns to the caller. (Path-walk errors, ENOTDIR and EACCES
//! for a directory, need a file system: `std-fs` checks them.)
//! The program finds itself through argv[0] (there is no /proc/self/exe to rely on).
#![no_std]
#![no_main]

use rt::check;
use rt::errno::{EFAULT, ENOENT};
use rt::exec::Strings;
use rt::println;
use rt::sys::{self, Status};
use rt::text::parse_int;

rt::main!(main);

const LAST_STAGE: i64 = 3;

fn main(env: &rt::Env) -> i32 {
    if env.arg(1) == Some(b"stage") {
        return stage(env);
    }
    println!("exec-chain: start");
    let me = env.arg(0).unwrap_or(b"");

    // The chain, in a child so the parent can check the final status.
    let child = sys::fork();
    if child == 0 {
        exec_stage(env, 1, sys::getpid());
        rt::exit(127);
    }
    check::shows(
        "chain of 3 execs ends with",
        Status(sys::wait_for(child as i32)),
        "exited 33",
    );

    // Error codes; each failed execve returns here.
    let mut s = Strings::new();
    s.push(b"/no/such/file");
    let mut argv = Strings::new();
    argv.push(b"x");
    // SAFETY: valid C strings; a successful exec is not expected (the checks would report it
    // by never printing, which the differential comparison catches).
    check::err(
        "execve(missing file)",
        unsafe { sys::execve(s.first(), argv.as_ptr(), core::ptr::null()) },
        ENOENT,
    );
    // SAFETY: 0x10 is never mapped; the kernel must fail with EFAULT.
    check::err(
        "execve(path 0x10)",
        unsafe { sys::execve(0x10 as *const u8, argv.as_ptr(), core::ptr::null()) },
        EFAULT,
    );
    let mut s = Strings::new();
    s.push(me);
    // SAFETY: argv 0x10 is never mapped; the kernel must fail with EFAULT before replacing us.
    check::err(
        "execve(argv 0x10)",
        unsafe { sys::execve(s.first(), 0x10 as *const *const u8, core::ptr::null()) },
        EFAULT,
    );
    let bad_argv = [
        c"x".as_ptr().cast::<u8>(),
        0x10 as *const u8,
        core::ptr::null(),
    ];
    // SAFETY: argv[1] points nowhere; the kernel must fail with EFAULT.
    check::err(
        "execve(argv[1] 0x10)",
        unsafe { sys::execve(s.first(), bad_argv.as_ptr(), core::ptr::null()) },
        EFAULT,
    );
    check::yes(
        "still the same process after failed execs",
        sys::getpid() == sys::getpid(),
    );
    check::finish("exec-chain")
}

/// Replaces this process with stage `n` of the chain: argv = [self, "stage", n, pid0, "a b"],
/// envp = ours with CHAIN=<n> instead of any earlier CHAIN.
fn exec_stage(env: &rt::Env, n: i64, pid0: sys::Pid) {
    let mut argv = Strings::new();
    argv.push(env.arg(0).unwrap_or(b""));
    argv.push(b"stage");
    argv.push_fmt(format_args!("{n}"));
    argv.push_fmt(format_args!("{pid0}"));
    argv.push(b"two words");
    argv.push(b"");
    let mut envp = Strings::new();
    for v in env.vars().filter(|v| !v.starts_with(b"CHAIN=")) {
        envp.push(v);
    }
    envp.push_fmt(format_args!("CHAIN={n}"));
    let path = argv.first();
    let a = argv.as_ptr();
    let e = envp.as_ptr();
    // SAFETY: path/argv/envp are null-terminated arrays of C strings that live until execve
    // either replaces this image or returns an error.
    let r = unsafe { sys::execve(path, a, e) };
    check::fail("execve(self)", rt::errno::Ret(r));
}

fn stage(env: &rt::Env) -> i32 {
    let n = env.arg(2).and_then(parse_int).unwrap_or(-1);
    let pid0 = env.arg(3).and_then(parse_int).unwrap_or(-1);
    println!("stage {n}: argc={}", env.argc());
    check::yes("  pid kept across execve", sys::getpid() as i64 == pid0);
    check::yes(
        "  argv[4] is \"two words\"",
        env.arg(4) == Some(b"two words"),
    );
    check::yes("  argv[5] is empty", env.arg(5) == Some(b""));
    check::yes(
        "  CHAIN is this stage",
        env.var(b"CHAIN").and_then(parse_int) == Some(n),
    );
    check::yes(
        "  CHAIN appears once",
        env.vars().filter(|v| v.starts_with(b"CHAIN=")).count() == 1,
    );
    check::yes("  HOME inherited", env.var(b"HOME") == Some(b"/"));
    if check::failures() != 0 {
        return 1;
    }
    if n < LAST_STAGE {
        exec_stage(env, n + 1, pid0 as sys::Pid);
        return 1;
    }
    33
}
