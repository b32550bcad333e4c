//! The deliberate protection violations of `cyphera.selftest=NAME` on x86_64: each one is an
//! access that SMAP, SMEP, CR0.WP, NX or a stack guard page must turn into a kernel fault,
//! which `entry::kernel_trap` then explains. Reaching the end of [`attempt`] means the
//! protection is off.

use crate::paging::{self, UserSpace, pte};
use crate::{boot, cpu};
use hal::protection::Violation;

/// Read-only data the `write-rodata` selftest stores into (the linker puts it in .rodata).
static RODATA_PROBE: [u8; 8] = *b"rodata!!";

/// Writable data holding `ret`, which the `execute-data` selftest calls: .data is mapped
/// no-execute, so the call must fault on its first fetch.
static mut RET_IN_DATA: [u8; 4] = [0xc3, 0xcc, 0xcc, 0xcc];

pub fn attempt(violation: Violation, space: &UserSpace, user_data: u64, user_code: u64) {
    if cpu::active_root() != space.root() {
        cpu::load_root(space.root());
    }
    match violation {
        // SAFETY (the user accesses): `space` is current and maps both addresses (kernel-core
        // populated them); SMAP/SMEP are meant to stop these accesses, and if they do not, a
        // byte of the user's own stack is read or zeroed, or the call runs user code in ring 0
        // (the selftest is then reported as failed and the machine powered off).
        Violation::ReadUser => {
            unsafe { core::ptr::read_volatile(user_data as *const u8) };
        }
        Violation::WriteUser => unsafe {
            (user_data as *mut u8).write_volatile(0);
        },
        Violation::ExecuteUser => unsafe {
            let f: extern "C" fn() = core::mem::transmute(user_code as usize);
            f();
        },
        // SAFETY: storing the byte already there into the kernel's text: CR0.WP with the
        // read-only text mapping must fault; if not, nothing changes.
        Violation::WriteText => unsafe {
            let p = attempt as *const () as *mut u8;
            p.write_volatile(p.read_volatile());
        },
        // SAFETY: as above, for read-only data (volatile, so the store is really made).
        Violation::WriteRodata => unsafe {
            let p = RODATA_PROBE.as_ptr() as *mut u8;
            p.write_volatile(p.read_volatile());
        },
        // SAFETY: RET_IN_DATA holds `ret`, so if NX does not stop the fetch the call returns.
        Violation::ExecuteData => unsafe {
            let f: extern "C" fn() = core::mem::transmute(&raw const RET_IN_DATA);
            f();
        },
        Violation::StackOverflow => {
            core::hint::black_box(recurse(0));
        }
        Violation::GuardPage => {
            let guards = boot::kernel_stack_guards();
            check_guards_unmapped(&guards);
            let last = guards[guards.len() - 2];
            kernel_core::kprintln!(
                "cyphera: selftest guard-page: {} kernel stacks, every guard page unmapped; reading the one at {:#x}",
                guards.len(),
                last.start
            );
            // SAFETY: the guard page is unmapped (just checked), so this load faults.
            unsafe { core::ptr::read_volatile(last.start as *const u8) };
        }
    }
}

/// Walks the kernel page tables: every guard page must be unmapped and the page above it (the
/// stack's lowest page) mapped writable.
fn check_guards_unmapped(guards: &[hal::protection::GuardRange]) {
    let window = paging::PhysWindow::new(crate::PHYS_OFFSET);
    let root = paging::kernel_root();
    let present = |va: u64| {
        // SAFETY: read-only walk of the live kernel tables through the direct map.
        unsafe { paging::walk(window, root, va) }
            // SAFETY: `walk` returned a pointer to a live level-1 entry.
            .map(|e| unsafe { e.read() })
            .filter(|e| e & pte::PRESENT != 0)
    };
    for g in guards {
        if let Some(entry) = present(g.start) {
            panic!(
                "guard page {:#x} is mapped ({entry:#x}): a stack overflow would go unnoticed",
                g.start
            );
        }
        match present(g.end) {
            Some(e) if e & pte::WRITABLE != 0 => {}
            other => panic!(
                "stack page {:#x} above a guard is not mapped writable: {other:?}",
                g.end
            ),
        }
    }
}

/// Uses 1 KiB of stack per level until the guard page stops it. The depth limit is opaque to
/// the compiler (it cannot prove the recursion ends, nor turn it into a loop).
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let mut frame = [0u8; 1024];
    frame[depth as usize % 1024] = depth as u8;
    let frame = core::hint::black_box(frame);
    if depth < core::hint::black_box(u64::MAX) {
        recurse(depth + 1).wrapping_add(frame[0] as u64)
    } else {
        0
    }
}
