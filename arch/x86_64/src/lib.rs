//! Cyphera's x86_64 support: PVH and Limine boot, CPU setup, traps and interrupts,
//! `syscall`/`sysret` user entry and exit, 4-level page tables, the Linux signal frame and the
//! syscall number table.
//!
//! The hardware-facing modules only build for the bare-metal target (`target_os = "none"`); the
//! pure logic (firmware memory map, PVH parsing, page-table walking, the user context, fault
//! decoding, the syscall table) builds everywhere so that it is tested on the host.
#![cfg_attr(not(test), no_std)]

pub mod context;
pub mod fault;
pub mod firmware;
pub mod paging;
pub mod pvh;
pub mod signal;
pub mod syscall_table;

#[cfg(target_os = "none")]
pub mod boot;
#[cfg(target_os = "none")]
pub mod cpu;
#[cfg(target_os = "none")]
pub mod entry;
#[cfg(target_os = "none")]
mod limine_boot;
#[cfg(target_os = "none")]
mod protection;

pub use context::Context;
#[cfg(target_os = "none")]
pub use entry::set_irq_controller;
pub use paging::UserSpace;

/// Where all physical memory is mapped (no-execute) in every address space.
pub const PHYS_OFFSET: u64 = 0xffff_8000_0000_0000;

/// The board names its `main` with this (defined once, in `hal`, for every arch).
pub use hal::board_entry;

/// The x86_64 architecture, as the arch-neutral core sees it.
pub struct X86_64;

#[cfg(target_os = "none")]
impl hal::arch::Arch for X86_64 {
    const MACHINE: &'static str = "x86_64";
    const ELF_MACHINE: u16 = 62;
    const USER_END: u64 = paging::USER_END;

    type Context = Context;
    type AddressSpace = UserSpace;

    fn sysno(number: u64) -> Option<hal::syscall::Sysno> {
        syscall_table::sysno(number)
    }

    fn run_user(context: &mut Context, space: &UserSpace) -> hal::user::ReturnReason {
        entry::run_user(context, space)
    }

    fn attempt_violation(
        violation: hal::protection::Violation,
        space: &UserSpace,
        user_data: u64,
        user_code: u64,
    ) {
        protection::attempt(violation, space, user_data, user_code)
    }

    fn hwcap() -> u64 {
        // Linux's ELF_HWCAP on x86_64 is CPUID.1:EDX.
        cpu::features().leaf1_edx as u64
    }

    fn random_bytes() -> [u8; 16] {
        let mut out = [0u8; 16];
        let a = random_u64();
        let b = random_u64();
        out[..8].copy_from_slice(&a.to_le_bytes());
        out[8..].copy_from_slice(&b.to_le_bytes());
        out
    }

    fn zero_frame(frame: hal::boot::PhysAddr) {
        // SAFETY: kernel-core passes frames from its allocator: RAM inside the direct map, owned
        // by the caller, and never aliased by a Rust reference.
        unsafe {
            core::ptr::write_bytes(
                (PHYS_OFFSET + frame) as *mut u8,
                0,
                hal::mmu::PAGE_SIZE as usize,
            )
        }
    }

    fn copy_frame(dst: hal::boot::PhysAddr, src: hal::boot::PhysAddr) {
        if dst == src {
            return;
        }
        // SAFETY: as in `zero_frame`; two distinct frames never overlap.
        unsafe {
            core::ptr::copy_nonoverlapping(
                (PHYS_OFFSET + src) as *const u8,
                (PHYS_OFFSET + dst) as *mut u8,
                hal::mmu::PAGE_SIZE as usize,
            )
        }
    }

    fn wait_for_interrupt() {
        entry::wait_for_interrupt()
    }

    fn clone_args(raw: [u64; 6]) -> hal::user::CloneArgs {
        signal::clone_args(raw)
    }

    fn push_signal_frame(
        context: &mut Context,
        space: &UserSpace,
        delivery: &hal::signal::SignalDelivery,
    ) -> Result<(), hal::mmu::BadUserAddress> {
        signal::push_signal_frame(context, space, delivery)
    }

    fn pop_signal_frame(
        context: &mut Context,
        space: &UserSpace,
    ) -> Result<hal::signal::SignalReturn, hal::mmu::BadUserAddress> {
        signal::pop_signal_frame(context, space, context::mxcsr_mask())
    }

    const SIGRETURN_TRAMPOLINE: &'static [u8] = &signal::SIGRETURN_TRAMPOLINE;
}

/// 64 random bits: RDRAND when the CPU has it (retried, as Intel advises, since it may
/// transiently fail), otherwise timestamp-counter jitter mixed through SplitMix64.
#[cfg(target_os = "none")]
fn random_u64() -> u64 {
    if cpu::features().rdrand {
        for _ in 0..10 {
            let value: u64;
            let ok: u8;
            // SAFETY: RDRAND is present (CPUID checked); it only writes the named registers.
            unsafe {
                core::arch::asm!("rdrand {v}", "setc {ok}", v = out(reg) value, ok = out(reg_byte) ok, options(nomem, nostack));
            }
            if ok != 0 {
                return value;
            }
        }
    }
    use core::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
    let mut mixed = 0u64;
    for _ in 0..8 {
        // SAFETY: RDTSC has no side effects.
        let tsc = unsafe { core::arch::x86_64::_rdtsc() };
        mixed = splitmix64(mixed ^ tsc);
    }
    let state = STATE.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
    splitmix64(mixed ^ state)
}

#[cfg_attr(not(target_os = "none"), allow(dead_code))]
const fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_spreads_nearby_inputs() {
        let a = splitmix64(1);
        let b = splitmix64(2);
        assert_ne!(a, b);
        assert!((a ^ b).count_ones() > 16);
    }

    #[test]
    fn syscall_numbers_come_from_the_table() {
        assert_eq!(syscall_table::sysno(1), Some(hal::syscall::Sysno::Write));
        assert_eq!(syscall_table::sysno(60), Some(hal::syscall::Sysno::Exit));
        assert_eq!(syscall_table::sysno(100_000), None);
    }
}
