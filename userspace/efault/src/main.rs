//! `write(1, bad_pointer, 8)` must fail with -EFAULT (-14) instead of faulting the kernel or
//! leaking kernel memory: an unmapped low address, the start of the kernel's direct map (mapped,
//! but never user-accessible) and the kernel image's base. Exits 0 only if every call got -14.
#![no_std]
#![no_main]

use rt::println;
use rt::syscall::{nr, syscall3};

rt::main!(main);

const EFAULT: isize = 14;

/// The kernel half's direct-map base (Cyphera and Linux both put RAM there on this arch).
#[cfg(target_arch = "x86_64")]
const KERNEL_DIRECT_MAP: usize = 0xffff_8000_0000_0000;
#[cfg(target_arch = "aarch64")]
const KERNEL_DIRECT_MAP: usize = 0xffff_0000_0000_0000;

/// Where Cyphera's (and Linux x86_64's) kernel image lives.
const KERNEL_IMAGE: usize = 0xffff_ffff_8000_0000;

fn main(_env: &rt::Env) -> i32 {
    let mut ok = true;
    for addr in [0x10, KERNEL_DIRECT_MAP, KERNEL_IMAGE] {
        // SAFETY: write(2) only reads from the buffer; an invalid one must be refused by the
        // kernel with EFAULT, which is the behaviour under test. Nothing in this process changes.
        let r = unsafe { syscall3(nr::WRITE, 1, addr, 8) };
        println!("write(1, {addr:#x}, 8) = {r}");
        if r != -EFAULT {
            println!("efault: expected -{EFAULT} (EFAULT)");
            ok = false;
        }
    }
    if ok {
        println!("efault: ok");
        0
    } else {
        1
    }
}
