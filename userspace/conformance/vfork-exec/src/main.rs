//! Conformance: `vfork` (x86_64's syscall; AArch64 has none, so `clone(CLONE_VM|CLONE_VFORK|
//! SIGCHLD)` as its C libraries do). The child shares the parent's memory and stack until it
//! execs or exits, so it does nothing but system calls, in one asm block: execve of this program
//! (which then reports and exits 5), a direct `_exit(6)`, and an execve that fails (ENOENT) and
//! `_exit(127)`s. The parent sees each status. (Whether the parent really waits for the child is
//! not checked: QEMU's user mode emulates vfork with fork, and the output must be the same.)
#![no_std]
#![no_main]

use rt::check;
use rt::exec::Strings;
use rt::println;
use rt::sys::{self, Status};

rt::main!(main);

fn main(env: &rt::Env) -> i32 {
    if env.arg(1) == Some(b"child") {
        println!("vfork-exec: child running after execve");
        return 5;
    }
    println!("vfork-exec: start");
    let mut argv = Strings::new();
    argv.push(env.arg(0).unwrap_or(b""));
    argv.push(b"child");
    let path = argv.first();
    let a = argv.as_ptr();
    let pid = vfork_exec(path, a, env.envp_ptr(), 127);
    // Reported after the wait: the exec'd child prints concurrently with us.
    let status = sys::wait_for(pid as i32);
    check::yes("vfork returned a pid", pid > 0);
    check::shows("vfork+execve(self) child", Status(status), "exited 5");

    let pid = vfork_exec(core::ptr::null(), core::ptr::null(), core::ptr::null(), 6);
    check::yes("vfork returned a pid", pid > 0);
    check::shows(
        "vfork+_exit(6) child",
        Status(sys::wait_for(pid as i32)),
        "exited 6",
    );

    let mut missing = Strings::new();
    missing.push(b"/no/such/program");
    let path = missing.first();
    let pid = vfork_exec(path, a, env.envp_ptr(), 127);
    check::shows(
        "vfork+failed execve child",
        Status(sys::wait_for(pid as i32)),
        "exited 127",
    );
    check::finish("vfork-exec")
}

/// vfork; the child calls execve(path, argv, envp) if `path` is not null, then `_exit(code)`.
/// Returns the child's pid (or -errno) in the parent.
fn vfork_exec(
    path: *const u8,
    argv: *const *const u8,
    envp: *const *const u8,
    code: usize,
) -> isize {
    let r: isize;
    // SAFETY: the child runs only the instructions in this block (system calls on registers
    // set before vfork), never touching the shared stack, and ends in execve or exit; the
    // parent resumes after the vfork syscall with its registers intact. path/argv/envp are
    // null or valid execve arguments.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::asm!(
            "mov eax, {vfork}",
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "test rdi, rdi",
            "jz 3f",
            "mov eax, {execve}",
            "syscall",
            "3:",
            "mov rdi, r12",
            "mov eax, {exit}",
            "syscall",
            "ud2",
            "2:",
            vfork = const rt::syscall::nr::VFORK,
            execve = const rt::syscall::nr::EXECVE,
            exit = const rt::syscall::nr::EXIT,
            inout("rdi") path => _,
            in("rsi") argv,
            in("rdx") envp,
            in("r12") code,
            lateout("rax") r,
            out("rcx") _,
            out("r11") _,
        );
    }
    // SAFETY: as above; clone(CLONE_VM|CLONE_VFORK|SIGCHLD, stack 0) shares the stack, so the
    // child again only makes system calls on preloaded registers.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        core::arch::asm!(
            "mov x0, #{flags}",
            "mov x1, xzr",
            "mov x2, xzr",
            "mov x3, xzr",
            "mov x4, xzr",
            "mov x8, #{clone}",
            "svc #0",
            "cbnz x0, 2f",
            "cbz x9, 3f",
            "mov x0, x9",
            "mov x1, x10",
            "mov x2, x11",
            "mov x8, #{execve}",
            "svc #0",
            "3:",
            "mov x0, x12",
            "mov x8, #{exit}",
            "svc #0",
            "udf #0",
            "2:",
            flags = const sys::CLONE_VM | sys::CLONE_VFORK | rt::signal::SIGCHLD as usize,
            clone = const rt::syscall::nr::CLONE,
            execve = const rt::syscall::nr::EXECVE,
            exit = const rt::syscall::nr::EXIT,
            in("x9") path,
            in("x10") argv,
            in("x11") envp,
            in("x12") code,
            lateout("x0") r,
            out("x1") _,
            out("x2") _,
            out("x3") _,
            out("x4") _,
            out("x8") _,
        );
    }
    r
}
