//! Executes an undefined instruction (x86_64 `ud2`, AArch64 `udf #0`): the kernel must kill the
//! program with SIGILL. Prints a line first so the harness sees the program started.
#![no_std]
#![no_main]

use rt::println;

rt::main!(main);

fn main(_env: &rt::Env) -> i32 {
    println!("fault-ill: executing an undefined instruction");
    // SAFETY: the instruction traps; the process is killed before anything else happens.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::asm!("ud2", options(nostack));
    }
    // SAFETY: as above.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        core::arch::asm!("udf #0", options(nostack));
    }
    println!("fault-ill: survived an undefined instruction (no SIGILL)");
    1
}
