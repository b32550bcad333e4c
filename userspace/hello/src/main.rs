//! The hello world ABI proof: two raw system calls, `write(1, "Hello, world!\n")` and `exit(0)`,
//! with inline asm and nothing else (no libc, no runtime, no shared code). If this static Linux
//! binary runs, the ELF loader, the syscall dispatch and the calling convention are wired up right.
#![no_std]
#![no_main]

use core::arch::asm;

#[cfg(target_arch = "x86_64")]
fn sys_write(fd: u64, buf: *const u8, len: usize) -> i64 {
    let r: i64;
    // SAFETY: write(2) only reads `len` bytes at `buf`, which the caller passes from a live slice;
    // the kernel clobbers rcx (return address) and r11 (flags), declared here.
    unsafe {
        asm!(
            "syscall",
            in("rax") 1u64, // syscall 1: write
            in("rdi") fd,
            in("rsi") buf,
            in("rdx") len,
            lateout("rax") r,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    r
}

#[cfg(target_arch = "x86_64")]
fn sys_exit(code: i32) -> ! {
    // SAFETY: exit(2) ends the process and never returns.
    unsafe {
        asm!(
            "syscall",
            in("rax") 60u64, // syscall 60: exit
            in("rdi") code as u64,
            options(noreturn, nostack),
        );
    }
}

#[cfg(target_arch = "aarch64")]
fn sys_write(fd: u64, buf: *const u8, len: usize) -> i64 {
    let r: i64;
    // SAFETY: write(2) only reads `len` bytes at `buf`, which the caller passes from a live slice.
    unsafe {
        asm!(
            "svc #0",
            in("x8") 64u64, // asm-generic syscall 64: write
            inlateout("x0") fd as i64 => r,
            in("x1") buf,
            in("x2") len,
            options(nostack),
        );
    }
    r
}

#[cfg(target_arch = "aarch64")]
fn sys_exit(code: i32) -> ! {
    // SAFETY: exit(2) ends the process and never returns.
    unsafe {
        asm!(
            "svc #0",
            in("x8") 93u64, // asm-generic syscall 93: exit
            in("x0") code as u64,
            options(noreturn, nostack),
        );
    }
}

/// The ELF entry point. The stack holds argc/argv/envp/auxv, which this program does not need.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    let msg = b"Hello, world!\n";
    sys_write(1, msg.as_ptr(), msg.len());
    sys_exit(0)
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // Nothing here can panic; a panic would mean a miscompiled program. Exit like Rust's std does.
    sys_exit(101)
}
