//! A syscall number no kernel assigns must return -ENOSYS (-38), not crash or kill the program.
//! Exits 0 only if every unassigned number got -38.
#![no_std]
#![no_main]

use rt::println;
use rt::syscall::syscall6;

rt::main!(main);

const ENOSYS: isize = 38;

fn main(_env: &rt::Env) -> i32 {
    let mut ok = true;
    // Far past the end of both tables (x86_64 and asm-generic), and a small one in the unassigned
    // gap above the current tables.
    for n in [0x7fff, 1000] {
        // SAFETY: an unassigned syscall does nothing; the arguments are plain numbers.
        let r = unsafe { syscall6(n, [1, 2, 3, 4, 5, 6]) };
        println!("syscall({n:#x}) = {r}");
        if r != -ENOSYS {
            println!("enosys: expected -{ENOSYS} (ENOSYS)");
            ok = false;
        }
    }
    if ok {
        println!("enosys: ok");
        0
    } else {
        1
    }
}
