//! Conformance: the address-space calls, without faults (those are in `fault-signals`).
//! Fresh anonymous memory is zero; hints are honoured when free; MAP_FIXED replaces and
//! MAP_FIXED_NOREPLACE refuses (EEXIST); `munmap` of a middle page leaves a hole exactly one
//! page wide (probed with MAP_FIXED_NOREPLACE, so no fault is needed); `mprotect` keeps contents
//! and splits mappings; `mremap` grows (moving or in place), shrinks, moves to a fixed address
//! and refuses to grow over a neighbour; `brk` grows, zero-fills, shrinks and refuses to go
//! below its start; MADV_DONTNEED zero-fills private anonymous memory; a 1 GiB MAP_NORESERVE
//! mapping is only backed where touched; the main stack grows by 2 MiB; code written to a page
//! runs after `mprotect(PROT_READ|PROT_EXEC)`; a writable+executable mapping is allowed, as on
//! Linux. Every call's error codes: EINVAL, EBADF, ENOMEM, EEXIST, EFAULT.
#![no_std]
#![no_main]

use rt::check;
use rt::errno::{EBADF, EEXIST, EFAULT, EINVAL, ENOMEM};
use rt::println;
use rt::sys::{
    self, MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_NORESERVE, MAP_PRIVATE, PAGE,
    PROT_EXEC, PROT_NONE, PROT_READ, PROT_WRITE,
};

rt::main!(main);

const RW: usize = PROT_READ | PROT_WRITE;
const ANON: usize = MAP_PRIVATE | MAP_ANONYMOUS;

/// A private anonymous RW mapping the test owns; its address or 0 after reporting failure.
fn map(len: usize) -> usize {
    let r = sys::mmap_anon(len, RW);
    if r < 0 {
        check::fail("mmap", rt::errno::Ret(r));
        return 0;
    }
    r as usize
}

/// # Safety
/// The caller owns [addr, addr + len).
unsafe fn fill(addr: usize, len: usize, seed: u8) {
    for i in 0..len {
        // SAFETY: per the contract.
        unsafe { ((addr + i) as *mut u8).write_volatile(seed.wrapping_add((i % 253) as u8)) };
    }
}

/// # Safety
/// The caller owns [addr, addr + len) and it is readable.
unsafe fn holds(addr: usize, len: usize, seed: u8) -> bool {
    (0..len).all(|i| {
        // SAFETY: per the contract.
        let b = unsafe { ((addr + i) as *const u8).read_volatile() };
        b == seed.wrapping_add((i % 253) as u8)
    })
}

/// # Safety
/// The caller owns [addr, addr + len) and it is readable.
unsafe fn zero(addr: usize, len: usize) -> bool {
    // SAFETY: per the contract.
    (0..len).all(|i| unsafe { ((addr + i) as *const u8).read_volatile() } == 0)
}

/// Is the page at `addr` unmapped? Maps it with MAP_FIXED_NOREPLACE (EEXIST if mapped) and
/// unmaps it again.
fn page_free(addr: usize) -> bool {
    // SAFETY: NOREPLACE never replaces anything; a new page is unmapped again at once.
    let r = unsafe { sys::mmap(addr, PAGE, PROT_NONE, ANON | MAP_FIXED_NOREPLACE, -1, 0) };
    if r == addr as isize {
        // SAFETY: the page was just mapped by us.
        unsafe { sys::munmap(addr, PAGE) };
        true
    } else {
        if r != -EEXIST {
            check::fail("mmap(MAP_FIXED_NOREPLACE)", rt::errno::Ret(r));
        }
        false
    }
}

fn main(_env: &rt::Env) -> i32 {
    basics();
    unmap_and_protect();
    remap();
    brk();
    madvise();
    lazy_and_stack();
    code();
    println!("mmap: done");
    check::finish("mmap")
}

fn basics() {
    let a = map(3 * PAGE);
    // SAFETY: a is our fresh 3-page mapping.
    unsafe {
        check::yes("fresh anonymous memory is zero", zero(a, 3 * PAGE));
        fill(a, 3 * PAGE, 1);
        check::yes("it keeps what is written", holds(a, 3 * PAGE, 1));
    }
    // SAFETY: unmapping our own mapping, used no more.
    unsafe { sys::munmap(a, 3 * PAGE) };

    // SAFETY: all of these fail before mapping anything.
    unsafe {
        check::err("mmap(len 0)", sys::mmap(0, 0, RW, ANON, -1, 0), EINVAL);
        check::err(
            "mmap(MAP_FIXED, unaligned address)",
            sys::mmap(a + 1, PAGE, RW, ANON | MAP_FIXED, -1, 0),
            EINVAL,
        );
        check::err(
            "mmap(neither SHARED nor PRIVATE)",
            sys::mmap(0, PAGE, RW, MAP_ANONYMOUS, -1, 0),
            EINVAL,
        );
        check::err(
            "mmap(file mapping, fd -1)",
            sys::mmap(0, PAGE, RW, MAP_PRIVATE, -1, 0),
            EBADF,
        );
        check::err(
            "mmap(unaligned offset)",
            sys::mmap(0, PAGE, RW, ANON, -1, 1),
            EINVAL,
        );
        check::err(
            "mmap(len 2^62)",
            sys::mmap(0, 1 << 62, RW, ANON, -1, 0),
            ENOMEM,
        );
    }

    // A hint at a free address is honoured (a was unmapped above).
    // SAFETY: without MAP_FIXED nothing existing is replaced.
    let r = unsafe { sys::mmap(a, PAGE, RW, ANON, -1, 0) };
    check::yes("mmap(free hint) returns the hint", r == a as isize);
    // SAFETY: NOREPLACE over our own page fails; without FIXED a taken hint is moved.
    unsafe {
        check::err(
            "mmap(MAP_FIXED_NOREPLACE over a mapping)",
            sys::mmap(a, PAGE, RW, ANON | MAP_FIXED_NOREPLACE, -1, 0),
            EEXIST,
        );
        let other = sys::mmap(a, PAGE, RW, ANON, -1, 0);
        check::yes(
            "mmap(taken hint) maps elsewhere",
            other > 0 && other != a as isize,
        );
        sys::munmap(other as usize, PAGE);
    }
    // MAP_FIXED replaces: the old contents are gone.
    // SAFETY: a is our page; it is replaced by a fresh one.
    unsafe {
        (a as *mut u8).write_volatile(7);
        let r = sys::mmap(a, PAGE, RW, ANON | MAP_FIXED, -1, 0);
        check::yes(
            "mmap(MAP_FIXED over a mapping) returns the address",
            r == a as isize,
        );
        check::yes("  and the page is fresh (zero)", zero(a, PAGE));
        sys::munmap(a, PAGE);
    }
    // PROT_NONE reserves; mprotect opens part of it.
    let r = sys::mmap_anon(16 * PAGE, PROT_NONE);
    check::ok("mmap(16 pages, PROT_NONE)", r);
    if r > 0 {
        let res = r as usize;
        // SAFETY: our reservation; the opened pages are then used.
        unsafe {
            check::ret(
                "mprotect(4 middle pages, RW)",
                sys::mprotect(res + 4 * PAGE, 4 * PAGE, RW),
                0,
            );
            fill(res + 4 * PAGE, 4 * PAGE, 3);
            check::yes("  they are usable", holds(res + 4 * PAGE, 4 * PAGE, 3));
            sys::munmap(res, 16 * PAGE);
        }
    }
    // Writable and executable at once is allowed on Linux (JITs rely on it).
    let r = sys::mmap_anon(PAGE, RW | PROT_EXEC);
    check::ok("mmap(PROT_READ|PROT_WRITE|PROT_EXEC)", r);
    if r > 0 {
        // SAFETY: our fresh page.
        unsafe { sys::munmap(r as usize, PAGE) };
    }
}

fn unmap_and_protect() {
    let a = map(3 * PAGE);
    // SAFETY: a is ours; the middle page is unmapped and then only probed.
    unsafe {
        fill(a, 3 * PAGE, 5);
        check::ret("munmap(middle page)", sys::munmap(a + PAGE, PAGE), 0);
        check::yes("  the middle page is free", page_free(a + PAGE));
        check::yes("  the first page is still mapped", !page_free(a));
        check::yes("  the last page is still mapped", !page_free(a + 2 * PAGE));
        check::yes(
            "  and both keep their contents",
            holds(a, PAGE, 5) && holds_shifted(a + 2 * PAGE, PAGE, 5, 2 * PAGE),
        );
        check::ret("munmap(an unmapped range)", sys::munmap(a + PAGE, PAGE), 0);
        check::err("munmap(unaligned)", sys::munmap(a + 1, PAGE), EINVAL);
        check::err("munmap(len 0)", sys::munmap(a, 0), EINVAL);

        check::ret(
            "mprotect(first page, READ)",
            sys::mprotect(a, PAGE, PROT_READ),
            0,
        );
        check::yes("  contents kept", holds(a, PAGE, 5));
        check::ret("mprotect(first page, RW)", sys::mprotect(a, PAGE, RW), 0);
        (a as *mut u8).write_volatile(9);
        check::yes("  writable again", (a as *const u8).read_volatile() == 9);
        check::err(
            "mprotect(unaligned)",
            sys::mprotect(a + 1, PAGE, RW),
            EINVAL,
        );
        check::err(
            "mprotect(range with a hole)",
            sys::mprotect(a, 3 * PAGE, RW),
            ENOMEM,
        );
        check::err(
            "mprotect(unknown prot bit 0x1000)",
            sys::mprotect(a, PAGE, RW | 0x1000),
            EINVAL,
        );
        sys::munmap(a, 3 * PAGE);
    }
}

/// Like [`holds`] for a range that starts `shift` bytes into a pattern filled from its base.
///
/// # Safety
/// As for [`holds`].
unsafe fn holds_shifted(addr: usize, len: usize, seed: u8, shift: usize) -> bool {
    (0..len).all(|i| {
        // SAFETY: per the contract.
        let b = unsafe { ((addr + i) as *const u8).read_volatile() };
        b == seed.wrapping_add(((i + shift) % 253) as u8)
    })
}

fn remap() {
    let a = map(2 * PAGE);
    // SAFETY: all ranges are ours; moved mappings are only used at their new addresses.
    unsafe {
        fill(a, 2 * PAGE, 11);
        check::err(
            "mremap(grow over the next page, no MAYMOVE)",
            sys::mremap(a, PAGE, 2 * PAGE, 0, 0),
            ENOMEM,
        );
        let b = sys::mremap(a, 2 * PAGE, 8 * PAGE, sys::MREMAP_MAYMOVE, 0);
        check::ok("mremap(2 -> 8 pages, MAYMOVE)", b);
        if b < 0 {
            return;
        }
        let b = b as usize;
        check::yes("  contents moved along", holds(b, 2 * PAGE, 11));
        check::yes("  the new pages are zero", zero(b + 2 * PAGE, 6 * PAGE));
        check::yes(
            "mremap(8 -> 1 page) stays in place",
            sys::mremap(b, 8 * PAGE, PAGE, 0, 0) == b as isize,
        );
        check::yes(
            "  the cut pages are free",
            page_free(b + PAGE) && page_free(b + 7 * PAGE),
        );
        check::yes(
            "mremap(1 -> 3 pages, in place, room after)",
            sys::mremap(b, PAGE, 3 * PAGE, 0, 0) == b as isize,
        );
        check::yes("  contents kept", holds(b, PAGE, 11));
        // Move to a fixed address: the old range becomes free.
        let target = map(4 * PAGE);
        let r = sys::mremap(
            b,
            3 * PAGE,
            3 * PAGE,
            sys::MREMAP_MAYMOVE | sys::MREMAP_FIXED,
            target,
        );
        check::yes(
            "mremap(MAYMOVE|FIXED) returns the target",
            r == target as isize,
        );
        check::yes("  contents moved", holds(target, PAGE, 11));
        check::yes("  the old range is free", page_free(b));
        check::yes(
            "  the target's 4th page is untouched",
            !page_free(target + 3 * PAGE),
        );
        check::err(
            "mremap(unaligned)",
            sys::mremap(target + 1, PAGE, PAGE, 0, 0),
            EINVAL,
        );
        check::err(
            "mremap(unknown flag 0x80)",
            sys::mremap(target, PAGE, PAGE, 0x80, 0),
            EINVAL,
        );
        check::err(
            "mremap(FIXED without MAYMOVE)",
            sys::mremap(target, PAGE, PAGE, sys::MREMAP_FIXED, b),
            EINVAL,
        );
        // QEMU's user mode (the AArch64 Linux reference here) answers ENOMEM; Linux's mremap is
        // generic code, so the check runs where real Linux answers: x86_64.
        #[cfg(target_arch = "x86_64")]
        check::err(
            "mremap(new length 0)",
            sys::mremap(target, PAGE, 0, sys::MREMAP_MAYMOVE, 0),
            EINVAL,
        );
        check::err(
            "mremap(unmapped old range)",
            sys::mremap(b, PAGE, 2 * PAGE, sys::MREMAP_MAYMOVE, 0),
            EFAULT,
        );
        sys::munmap(target, 4 * PAGE);
    }
}

fn brk() {
    // SAFETY: the program uses no heap; the break is ours to move, and only the range between
    // the start and the current break is touched.
    unsafe {
        let start = sys::brk(0);
        check::yes("brk(0) is positive", start > 0);
        let grown = sys::brk(start + 5 * PAGE + 123);
        check::yes(
            "brk(start + 5 pages + 123) returns exactly that",
            grown == start + 5 * PAGE + 123,
        );
        check::yes("  the new memory is zero", zero(start, 5 * PAGE + 123));
        fill(start, 5 * PAGE + 123, 13);
        check::yes("  and writable", holds(start, 5 * PAGE + 123, 13));
        check::yes("brk(start) shrinks back", sys::brk(start) == start);
        check::yes(
            "brk(grow again) gives zero memory",
            sys::brk(start + 2 * PAGE) == start + 2 * PAGE && zero(start, 2 * PAGE),
        );
        check::yes(
            "brk(below the start) is refused (returns the current break)",
            sys::brk(start / 2) == start + 2 * PAGE,
        );
        sys::brk(start);
    }
}

fn madvise() {
    let a = map(4 * PAGE);
    // SAFETY: a is ours; DONTNEED discards its contents, which is what is checked.
    unsafe {
        fill(a, 4 * PAGE, 17);
        for (label, advice) in [
            ("madvise(MADV_NORMAL)", sys::MADV_NORMAL),
            ("madvise(MADV_RANDOM)", sys::MADV_RANDOM),
            ("madvise(MADV_SEQUENTIAL)", sys::MADV_SEQUENTIAL),
            ("madvise(MADV_WILLNEED)", sys::MADV_WILLNEED),
        ] {
            check::ret(label, sys::madvise(a, 4 * PAGE, advice), 0);
        }
        check::yes("  contents kept", holds(a, 4 * PAGE, 17));
        check::ret(
            "madvise(2 pages, MADV_DONTNEED)",
            sys::madvise(a + PAGE, 2 * PAGE, sys::MADV_DONTNEED),
            0,
        );
        check::yes("  those pages read as zero", zero(a + PAGE, 2 * PAGE));
        check::yes(
            "  the others kept their contents",
            holds(a, PAGE, 17) && holds_shifted(a + 3 * PAGE, PAGE, 17, 3 * PAGE),
        );
        check::ret("madvise(len 0)", sys::madvise(a, 0, sys::MADV_NORMAL), 0);
        check::err(
            "madvise(unaligned)",
            sys::madvise(a + 1, PAGE, sys::MADV_NORMAL),
            EINVAL,
        );
        // QEMU's user mode (the AArch64 Linux reference here) accepts any advice and ranges
        // with holes; Linux's madvise is generic code, so these run where real Linux answers.
        #[cfg(target_arch = "x86_64")]
        {
            check::err(
                "madvise(unknown advice 999)",
                sys::madvise(a, PAGE, 999),
                EINVAL,
            );
            sys::munmap(a + 2 * PAGE, PAGE);
            check::err(
                "madvise(range with a hole)",
                sys::madvise(a, 4 * PAGE, sys::MADV_NORMAL),
                ENOMEM,
            );
        }
        sys::munmap(a, 4 * PAGE);
    }
}

fn lazy_and_stack() {
    const GIB: usize = 1 << 30;
    // SAFETY: without MAP_FIXED nothing existing is replaced.
    let r = unsafe { sys::mmap(0, GIB, RW, ANON | MAP_NORESERVE, -1, 0) };
    check::ok("mmap(1 GiB, MAP_NORESERVE)", r);
    if r > 0 {
        let base = r as usize;
        let mut ok = true;
        // SAFETY: every touched byte is inside our mapping.
        unsafe {
            for i in 0..16 {
                let p = (base + i * (GIB / 16) + 100) as *mut u64;
                ok &= p.read_volatile() == 0;
                p.write_volatile(i as u64 + 1);
            }
            for i in 0..16 {
                ok &= ((base + i * (GIB / 16) + 100) as *const u64).read_volatile() == i as u64 + 1;
            }
            sys::munmap(base, GIB);
        }
        check::yes(
            "  16 pages across it read zero, then hold what was written",
            ok,
        );
    }
    check::eq("recursing through 2 MiB of stack", deep(128), 128 * 255);
}

/// Uses 16 KiB of stack per level.
#[inline(never)]
fn deep(n: usize) -> usize {
    let mut frame = [0u8; 16384];
    frame[0] = 255;
    frame[16383] = 1;
    let frame = core::hint::black_box(&mut frame);
    if n == 0 {
        return 0;
    }
    frame[0] as usize + deep(n - 1) - 1 + frame[16383] as usize
}

fn code() {
    let a = map(PAGE);
    if a == 0 {
        return;
    }
    // x86_64: mov eax, 42; ret.  AArch64: mov w0, #42; ret.
    #[cfg(target_arch = "x86_64")]
    let bytes: &[u8] = &[0xb8, 42, 0, 0, 0, 0xc3];
    #[cfg(target_arch = "aarch64")]
    let bytes: &[u8] = &[0x40, 0x05, 0x80, 0x52, 0xc0, 0x03, 0x5f, 0xd6];
    // SAFETY: a is our RW page; after mprotect it is executable and holds a complete function
    // with the C ABI returning 42.
    unsafe {
        core::ptr::copy_nonoverlapping(bytes.as_ptr(), a as *mut u8, bytes.len());
        check::ret(
            "mprotect(code page, READ|EXEC)",
            sys::mprotect(a, PAGE, PROT_READ | PROT_EXEC),
            0,
        );
        // AArch64 needs the data cache cleaned and the instruction cache invalidated (Linux lets
        // user space do this: SCTLR_EL1.UCI). The 8 bytes are within one cache line.
        #[cfg(target_arch = "aarch64")]
        core::arch::asm!(
            "dc cvau, {0}",
            "dsb ish",
            "ic ivau, {0}",
            "dsb ish",
            "isb",
            in(reg) a,
            options(nostack)
        );
        let f: extern "C" fn() -> i32 = core::mem::transmute(a);
        check::eq("calling code written at run time", f(), 42);
        sys::munmap(a, PAGE);
    }
}
