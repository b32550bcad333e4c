//! Conformance: a user program cannot reach the kernel. Each probe runs in a child process that
//! catches SIGSEGV/SIGBUS with SA_SIGINFO and reports the signal, si_code and si_addr; the
//! parent prints them, so the lines compare with Linux's:
//! - loads from, stores to and calls into the kernel image (0xffff_ffff_8000_0000 + 1 MiB) and
//!   the kernel's direct map of RAM (x86_64 0xffff_8000_0000_0000, AArch64
//!   0xffff_0000_0000_0000), and the first address above the user range;
//! - x86_64: a non-canonical address (a #GP, not a page fault);
//! - a store to the program's own code and a jump into its own (non-executable) data;
//! - x86_64, with the argument `umip` only: `str` and `sldt`, which UMIP makes fault in user
//!   mode. This part is not compared with Linux, which may emulate them (it does on the hosts
//!   measured: they "succeed" under Linux 6.x with UMIP on); Cyphera must deliver SIGSEGV with
//!   si_code SI_KERNEL, as for any general-protection fault.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, Ordering};
use rt::println;
use rt::signal::{self, SIGBUS, SIGSEGV, SigInfo};
use rt::sys;

rt::main!(main);

const KERNEL_IMAGE: usize = 0xffff_ffff_8010_0000;
#[cfg(target_arch = "x86_64")]
const DIRECT_MAP: usize = 0xffff_8000_0000_0000;
#[cfg(target_arch = "aarch64")]
const DIRECT_MAP: usize = 0xffff_0000_0000_0000;
/// The first page above the user range Linux gives a process (x86_64 TASK_SIZE_MAX is one page
/// short of 2^47; AArch64 with 48-bit VAs ends at 2^48).
#[cfg(target_arch = "x86_64")]
const ABOVE_USER: usize = 0x0000_8000_0000_0000 - 0x1000;
#[cfg(target_arch = "aarch64")]
const ABOVE_USER: usize = 0x0001_0000_0000_0000;

/// Whether the handler prints si_addr. On AArch64 the Linux reference runs under qemu-user,
/// which reports si_addr 0 for addresses outside its guest address space (the direct map and
/// above the user range), where Linux itself reports the address (arm64 `do_bad_area` passes
/// FAR_EL1); Cyphera reports the address as Linux does, and the line leaves it out.
static PRINT_ADDR: AtomicBool = AtomicBool::new(true);

/// Data that is never executable (.data is mapped read+write, no execute).
static mut DATA_WORD: [u32; 2] = [0, 0];

extern "C" fn on_fault(sig: i32, info: *mut SigInfo, _uc: *mut u8) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let info = unsafe { &*info };
    if PRINT_ADDR.load(Ordering::Relaxed) {
        println!(
            "  signal {} code {:#x} addr {:#x}",
            sig,
            info.code() as u32,
            info.addr()
        );
    } else {
        println!("  signal {} code {:#x}", sig, info.code() as u32);
    }
    // Nothing to resume: the probe's access cannot succeed. End the child.
    rt::exit(0);
}

fn load(addr: usize) {
    // SAFETY: a deliberate load from an address the program may not read; the fault ends the
    // child in `on_fault`.
    unsafe { core::ptr::read_volatile(addr as *const u8) };
}

fn store(addr: usize) {
    // SAFETY: as `load`, for a store.
    unsafe { core::ptr::write_volatile(addr as *mut u8, 0x5a) };
}

fn call(addr: usize) {
    // SAFETY: as `load`, for an instruction fetch.
    let f: extern "C" fn() = unsafe { core::mem::transmute(addr) };
    f();
}

/// Runs `probe` in a child with the fault handler installed and prints how the child ended.
fn probe(name: &str, probe: fn()) {
    println!("{name}:");
    match sys::fork() {
        0 => {
            signal::handle(SIGSEGV, on_fault, 0, 0);
            signal::handle(SIGBUS, on_fault, 0, 0);
            probe();
            println!("  no fault: the access went through");
            rt::exit(1);
        }
        pid if pid > 0 => {
            let mut status = 0;
            sys::wait4(pid as i32, Some(&mut status), 0);
            println!("  child {}", sys::Status(status));
            // The handler exits 0 after reporting the fault; anything else means no fault.
            if status != 0 {
                rt::check::fail(name, "the access was not stopped by a signal");
            }
        }
        e => println!("  fork failed: {e}"),
    }
}

fn main(env: &rt::Env) -> i32 {
    #[cfg(target_arch = "x86_64")]
    if (1..env.argc()).any(|i| env.arg(i) == Some(b"umip")) {
        return umip();
    }
    let _ = env;
    probe("load kernel image", || load(KERNEL_IMAGE));
    probe("store kernel image", || store(KERNEL_IMAGE));
    probe("call kernel image", || call(KERNEL_IMAGE));
    PRINT_ADDR.store(cfg!(target_arch = "x86_64"), Ordering::Relaxed);
    probe("load direct map", || load(DIRECT_MAP));
    probe("store direct map", || store(DIRECT_MAP));
    probe("load above the user range", || load(ABOVE_USER));
    PRINT_ADDR.store(true, Ordering::Relaxed);
    #[cfg(target_arch = "x86_64")]
    probe("load non-canonical", || load(0x8000_0000_0000_0000));
    probe("store own code", || store(main as *const () as usize));
    probe("call own data", || call((&raw const DATA_WORD) as usize));
    rt::check::finish("isolation")
}

/// The UMIP probes: each child must be stopped by SIGSEGV (the handler exits 0).
#[cfg(target_arch = "x86_64")]
fn umip() -> i32 {
    // CPUID is available to user code on every x86_64 CPU.
    let leaf7 = core::arch::x86_64::__cpuid_count(7, 0);
    if leaf7.ecx & (1 << 2) == 0 {
        rt::check::fail("umip", "the CPU does not have UMIP");
        return rt::check::finish("isolation");
    }
    // SAFETY: STR/SLDT only write the register; with UMIP they fault in ring 3.
    probe("str (UMIP)", || unsafe {
        core::arch::asm!("str {0:x}", out(reg) _, options(nomem, nostack))
    });
    // SAFETY: as above.
    probe("sldt (UMIP)", || unsafe {
        core::arch::asm!("sldt {0:x}", out(reg) _, options(nomem, nostack))
    });
    rt::check::finish("isolation")
}
