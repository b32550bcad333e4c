//! A tiny runtime for Cyphera's userspace test programs: the ELF entry `_start` (argc, argv, envp
//! and auxv from the initial stack, as Linux lays them out), raw per-arch system calls, printing,
//! and a panic handler that reports and exits with 101; for the conformance programs also typed
//! syscall wrappers, checks that print comparable lines, signals and their saved contexts, raw
//! threads and a futex mutex. No libc: every program built on it is a genuine static Linux binary
//! whose behaviour can be compared between Linux and Cyphera.
#![no_std]

pub mod check;
pub mod errno;
pub mod exec;
pub mod io;
pub mod signal;
pub mod start;
pub mod sync;
pub mod sys;
pub mod syscall;
pub mod text;
pub mod thread;

pub use start::Env;

/// Ends the whole process (`exit_group`) with `code`, as returning from `main` does in C.
pub fn exit(code: i32) -> ! {
    // SAFETY: exit_group takes no pointers and never returns.
    unsafe { syscall::syscall1(syscall::nr::EXIT_GROUP, code as usize) };
    // exit_group cannot fail; if a broken kernel returned anyway, fault rather than run on.
    #[allow(clippy::empty_loop)]
    loop {}
}

/// Names the program's `fn(&rt::Env) -> i32`; `_start` calls it and exits with what it returns.
#[macro_export]
macro_rules! main {
    ($path:path) => {
        #[unsafe(no_mangle)]
        extern "Rust" fn __rt_main(env: &$crate::Env) -> i32 {
            let f: fn(&$crate::Env) -> i32 = $path;
            f(env)
        }
    };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    eprintln!("panicked: {}", info);
    exit(101)
}
