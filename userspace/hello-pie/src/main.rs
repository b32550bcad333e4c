//! A static-pie hello world: ET_DYN without PT_INTERP, so the kernel picks the load address and
//! jumps to the entry with no dynamic loader. It needs no relocations: all code is PC-relative and
//! there is no data holding absolute addresses (`cargo xtask build` checks the ELF has no dynamic
//! relocations), so nothing has to be patched at run time.
#![no_std]
#![no_main]

use core::arch::asm;

#[cfg(target_arch = "x86_64")]
fn sys_write(fd: u64, buf: *const u8, len: usize) -> i64 {
    let r: i64;
    // SAFETY: write(2) only reads `len` bytes at `buf`, a live slice; rcx and r11 are clobbered.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") 1i64 => r,
            in("rdi") fd,
            in("rsi") buf,
            in("rdx") len,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    r
}

#[cfg(target_arch = "x86_64")]
fn sys_exit(code: i32) -> ! {
    // SAFETY: exit_group(2) ends the process and never returns.
    unsafe {
        asm!("syscall", in("rax") 231u64, in("rdi") code as u64, options(noreturn, nostack));
    }
}

#[cfg(target_arch = "aarch64")]
fn sys_write(fd: u64, buf: *const u8, len: usize) -> i64 {
    let r: i64;
    // SAFETY: write(2) only reads `len` bytes at `buf`, a live slice.
    unsafe {
        asm!(
            "svc #0",
            in("x8") 64u64,
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
    // SAFETY: exit_group(2) ends the process and never returns.
    unsafe {
        asm!("svc #0", in("x8") 94u64, in("x0") code as u64, options(noreturn, nostack));
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    let msg = b"Hello from a static-pie binary!\n";
    let code = if sys_write(1, msg.as_ptr(), msg.len()) == msg.len() as i64 {
        0
    } else {
        1
    };
    sys_exit(code)
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    sys_exit(101)
}
