//! Writes to address 0, which is never mapped: the kernel must kill the program with SIGSEGV
//! (and keep running itself). Prints a line first so the harness sees the program started.
#![no_std]
#![no_main]

use rt::println;

rt::main!(main);

fn main(_env: &rt::Env) -> i32 {
    println!("fault-segv: storing to address 0x0");
    store_to_null();
    println!("fault-segv: survived a null store (no SIGSEGV)");
    1
}

/// The store is in asm so that the compiler neither optimises it away nor treats it as UB.
fn store_to_null() {
    let addr: usize = 0;
    // SAFETY: the store faults; the process is killed before anything else happens. If a broken
    // kernel mapped page 0, the byte written there is not used by anything.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::asm!("mov byte ptr [{0}], 1", in(reg) addr, options(nostack));
    }
    // SAFETY: as above.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        core::arch::asm!("strb wzr, [{0}]", in(reg) addr, options(nostack));
    }
}
