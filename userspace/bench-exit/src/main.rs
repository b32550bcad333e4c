//! The program `bench`'s fork+execve+wait row executes: one `exit_group(0)` and nothing else, so
//! the row measures the kernel's exec (ELF load, address-space teardown) rather than user code.
//! Standalone (no runtime): one page of text, the smallest static Linux binary that is still real.
#![no_std]
#![no_main]

use core::arch::asm;

/// The ELF entry point: exit_group(0) at once.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    exit_group(0)
}

fn exit_group(code: u64) -> ! {
    // SAFETY: exit_group(2) ends the process and never returns; it reads no memory.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        asm!("syscall", in("rax") 231u64, in("rdi") code, options(noreturn, nostack));
    }
    // SAFETY: as above (asm-generic exit_group is 94).
    #[cfg(target_arch = "aarch64")]
    unsafe {
        asm!("svc #0", in("x8") 94u64, in("x0") code, options(noreturn, nostack));
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // Nothing above can panic; if something did, a failure status is all there is to say.
    exit_group(1)
}
