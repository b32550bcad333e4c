//! Physical memory: the kernel heap and the frame allocator built from the boot memory map.

use hal::boot::{BootInfo, PhysRange};
use linked_list_allocator::LockedHeap;

/// The kernel heap. The arch boot code initialises it (the one `unsafe` step) over the range
/// [`choose_heap`] picks, mapped through the direct map, before calling the board.
#[cfg_attr(all(not(test), target_os = "none"), global_allocator)]
pub static HEAP: LockedHeap = LockedHeap::empty();

/// Picks the physical range for the kernel heap from the usable memory in `boot`: TODO(body).
pub fn choose_heap(boot: &BootInfo) -> Option<PhysRange> {
    let _ = boot;
    None
}
