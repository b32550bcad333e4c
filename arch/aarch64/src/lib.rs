//! Cyphera's aarch64 support. The hardware-facing modules only build for the bare-metal target; the
//! syscall number table, page tables (over a simulated direct map), exception decoding, the memory
//! map and DTB parsing build everywhere so that they are tested on the host.
#![cfg_attr(not(test), no_std)]

pub mod context;
pub mod dtb;
pub mod fault;
pub mod hwcap;
pub mod memmap;
pub mod paging;
pub mod pte;
pub mod signal;
pub mod syscall_table;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod boot;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod cpu;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod kmap;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod limine_boot;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod protection;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod trap;

pub use context::Context;
pub use paging::{DIRECT_MAP_BASE, USER_END, UserSpace};

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub use kmap::map_device;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub use trap::{InterruptHandler, RouteError, route_interrupt, set_irq_controller};

/// The AArch64 architecture (`hal::arch::Arch`).
pub struct Aarch64;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
impl hal::arch::Arch for Aarch64 {
    const MACHINE: &'static str = "aarch64";
    const ELF_MACHINE: u16 = 183;
    const USER_END: u64 = USER_END;

    type Context = Context;
    type AddressSpace = UserSpace;

    fn sysno(number: u64) -> Option<hal::syscall::Sysno> {
        syscall_table::sysno(number)
    }

    fn run_user(context: &mut Context, space: &UserSpace) -> hal::user::ReturnReason {
        trap::run_user(context, space)
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
        hwcap::hwcap_from(hwcap::read_id_registers())
    }

    fn random_bytes() -> [u8; 16] {
        random::bytes()
    }

    fn zero_frame(frame: hal::boot::PhysAddr) {
        paging::zero_frame(frame);
    }

    fn copy_frame(dst: hal::boot::PhysAddr, src: hal::boot::PhysAddr) {
        paging::copy_frame(dst, src);
    }

    fn wait_for_interrupt() {
        trap::wait_for_interrupt();
    }

    fn clone_args(raw: [u64; 6]) -> hal::user::CloneArgs {
        signal::clone_args(raw)
    }

    fn push_signal_frame(
        context: &mut Context,
        space: &UserSpace,
        delivery: &hal::signal::SignalDelivery,
    ) -> Result<(), hal::mmu::BadUserAddress> {
        signal::push(context, space, delivery)
    }

    fn pop_signal_frame(
        context: &mut Context,
        space: &UserSpace,
    ) -> Result<hal::signal::SignalReturn, hal::mmu::BadUserAddress> {
        signal::pop(context, space)
    }

    const SIGRETURN_TRAMPOLINE: &'static [u8] = &signal::SIGRETURN_TRAMPOLINE;
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod random {
    //! AT_RANDOM: the architected RNG (FEAT_RNG) when present, else counter jitter.
    use aarch64_cpu::asm::random::ArmRng;
    use core::sync::atomic::{AtomicU64, Ordering};

    /// Distinguishes calls that land on the same counter value.
    static CALLS: AtomicU64 = AtomicU64::new(0);

    /// splitmix64's finaliser: spreads a few changing low bits over the whole word.
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn word(index: u64) -> u64 {
        if let Some(rng) = ArmRng::new() {
            for _ in 0..16 {
                if let Some(v) = rng.rndr() {
                    return v;
                }
            }
        }
        // No RNG: fold the counter sampled around short busy loops whose length depends on
        // earlier samples (timing jitter), with a per-call sequence number.
        let mut acc = CALLS
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ index;
        for _ in 0..8 {
            let spin = (acc & 0x3f) + 1;
            for _ in 0..spin {
                core::hint::spin_loop();
            }
            acc = mix(acc ^ crate::cpu::counter());
        }
        acc
    }

    pub fn bytes() -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&word(0).to_le_bytes());
        out[8..].copy_from_slice(&word(1).to_le_bytes());
        out
    }
}

/// The board names its `main` with this (defined once, in `hal`, for every arch).
pub use hal::board_entry;
