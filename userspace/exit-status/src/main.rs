//! Exits with a chosen status: 42, or the number given as argv[1]. Checks that the exit status
//! travels from `exit_group` through the kernel to whoever waits for the program.
#![no_std]
#![no_main]

use rt::println;

rt::main!(main);

fn main(env: &rt::Env) -> i32 {
    let code = match env.arg(1) {
        None => 42,
        Some(text) => match parse(text) {
            Some(n) => n,
            None => {
                println!("exit-status: argv[1] is not a number in 0..=255");
                return 2;
            }
        },
    };
    println!("exit-status: exiting with {code}");
    code
}

/// A decimal number in 0..=255 (an exit status keeps 8 bits).
fn parse(text: &[u8]) -> Option<i32> {
    if text.is_empty() || text.len() > 3 {
        return None;
    }
    let mut n: i32 = 0;
    for &b in text {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i32::from(b - b'0');
    }
    (n <= 255).then_some(n)
}
