//! The deliberate protection violations of `cyphera.selftest=NAME` on AArch64: each one is an
//! access that PAN (the CPU's, or software PAN's empty TTBR0 on CPUs without FEAT_PAN such as
//! the Cortex-A72), PXN, a read-only or execute-never kernel mapping, or a stack guard page must
//! turn into an EL1 abort, which `trap::cyphera_el1_exception` then explains. Reaching the end
//! of [`attempt`] means the protection is off.

use crate::paging::UserSpace;
use hal::protection::{GuardRange, Violation};

/// Read-only data the `write-rodata` selftest stores into (the linker puts it in .rodata).
static RODATA_PROBE: [u8; 8] = *b"rodata!!";

/// Writable data holding `ret` (0xd65f03c0), which the `execute-data` selftest calls: kernel
/// data is mapped PXN (and SCTLR_EL1.WXN makes anything writable execute-never anyway).
static mut RET_IN_DATA: [u32; 2] = [0xd65f_03c0, 0];

pub fn attempt(violation: Violation, space: &UserSpace, user_data: u64, user_code: u64) {
    space.activate();
    match violation {
        // SAFETY (the user accesses): `space` is current and maps both addresses (kernel-core
        // populated them; with software PAN its tables are not in TTBR0 while the kernel
        // runs, which is the point); PAN/PXN are meant to stop these accesses, and if they do not, a byte
        // of the user's own stack is read or zeroed, or the call runs user code at EL1 (the
        // selftest is then reported as failed and the machine powered off).
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
        // SAFETY: storing the byte already there into the kernel's text, mapped read-only: the
        // store must abort; if not, nothing changes.
        Violation::WriteText => unsafe {
            let p = attempt as *const () as *mut u8;
            p.write_volatile(p.read_volatile());
        },
        // SAFETY: as above, for read-only data (volatile, so the store is really made).
        Violation::WriteRodata => unsafe {
            let p = RODATA_PROBE.as_ptr() as *mut u8;
            p.write_volatile(p.read_volatile());
        },
        // SAFETY: RET_IN_DATA holds `ret`, so if the fetch is not stopped the call returns.
        Violation::ExecuteData => unsafe {
            let f: extern "C" fn() = core::mem::transmute(&raw const RET_IN_DATA);
            f();
        },
        Violation::StackOverflow => {
            core::hint::black_box(recurse(0));
        }
        Violation::GuardPage => {
            let guards = crate::boot::kernel_stack_guards();
            check_guards_unmapped(&guards);
            let last = guards[guards.len() - 1];
            kernel_core::kprintln!(
                "cyphera: selftest guard-page: {} kernel stacks, every guard page unmapped; reading the one at {:#x}",
                guards.len(),
                last.start
            );
            // SAFETY: the guard page is unmapped (just checked), so this load aborts.
            unsafe { core::ptr::read_volatile(last.start as *const u8) };
        }
    }
}

/// Asks the MMU (`AT S1E1R`/`AT S1E1W`): every guard page must fail to translate and the page
/// above it (the stack's lowest page) must translate for an EL1 write.
fn check_guards_unmapped(guards: &[GuardRange]) {
    for g in guards {
        if let Some(par) = translate(g.start, false) {
            panic!(
                "guard page {:#x} translates (PAR_EL1 {par:#x}): a stack overflow would go unnoticed",
                g.start
            );
        }
        if translate(g.end, true).is_none() {
            panic!("stack page {:#x} above a guard is not writable", g.end);
        }
    }
}

/// PAR_EL1 after an EL1 stage-1 translation of `va` for a read or a write; `None` if it faults.
fn translate(va: u64, write: bool) -> Option<u64> {
    let par: u64;
    // SAFETY: address translation instructions only write PAR_EL1; no memory is accessed.
    unsafe {
        if write {
            core::arch::asm!("at s1e1w, {va}", "isb", "mrs {par}, par_el1", va = in(reg) va, par = out(reg) par, options(nostack, preserves_flags));
        } else {
            core::arch::asm!("at s1e1r, {va}", "isb", "mrs {par}, par_el1", va = in(reg) va, par = out(reg) par, options(nostack, preserves_flags));
        }
    }
    (par & 1 == 0).then_some(par)
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
