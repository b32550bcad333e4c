//! Conformance: memory across `fork`. MAP_SHARED anonymous memory is shared both ways;
//! MAP_PRIVATE memory and the brk heap are copied (copy-on-write: the child sees the parent's
//! data, its writes stay its own, through a grandchild too); `munmap` and `mprotect` in the child
//! leave the parent's mappings alone; a shared futex word in a MAP_SHARED page wakes a waiter in
//! another process; and memory is given back when processes exit (48 children in turn each
//! touch 8 MiB, more in total than a small machine has).
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};

use rt::check;
use rt::println;
use rt::sys::{self, MAP_ANONYMOUS, MAP_SHARED, PAGE, PROT_READ, PROT_WRITE, Status};

rt::main!(main);

const RW: usize = PROT_READ | PROT_WRITE;

fn spawn(f: impl FnOnce() -> i32) -> sys::Pid {
    let pid = sys::fork();
    if pid == 0 {
        rt::exit(f());
    }
    if pid < 0 {
        check::fail("fork", rt::errno::Ret(pid));
    }
    pid as sys::Pid
}

/// # Safety
/// [addr, addr + len) must be ours and readable.
unsafe fn all(addr: usize, len: usize, v: u8) -> bool {
    // SAFETY: per the contract.
    (0..len).all(|i| unsafe { ((addr + i) as *const u8).read_volatile() } == v)
}

/// # Safety
/// [addr, addr + len) must be ours and writable.
unsafe fn set(addr: usize, len: usize, v: u8) {
    // SAFETY: per the contract.
    unsafe { core::ptr::write_bytes(addr as *mut u8, v, len) };
}

fn main(_env: &rt::Env) -> i32 {
    // SAFETY: a fresh shared anonymous mapping (nothing is replaced).
    let shared = unsafe { sys::mmap(0, 2 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0) };
    check::ok("mmap(MAP_SHARED|MAP_ANONYMOUS)", shared);
    let private = sys::mmap_anon(8 * PAGE, RW);
    check::ok("mmap(MAP_PRIVATE|MAP_ANONYMOUS)", private);
    if shared < 0 || private < 0 {
        return check::finish("fork-memory");
    }
    let (shared, private) = (shared as usize, private as usize);
    // SAFETY: the break is ours (the program has no heap); 4 pages above it are used.
    let heap = unsafe {
        let start = sys::brk(0);
        sys::brk(start + 4 * PAGE);
        start
    };

    // SAFETY: all ranges below are our mappings; the children work on their copies.
    unsafe {
        set(shared, 2 * PAGE, 1);
        set(private, 8 * PAGE, 2);
        set(heap, 4 * PAGE, 3);
        let child = spawn(|| {
            let saw =
                all(shared, 2 * PAGE, 1) && all(private, 8 * PAGE, 2) && all(heap, 4 * PAGE, 3);
            set(shared, PAGE, 10);
            set(private, 8 * PAGE, 20);
            set(heap, 4 * PAGE, 30);
            // A grandchild sees the child's copies and changes its own.
            let grandchild = spawn(|| {
                let saw = all(private, 8 * PAGE, 20) && all(heap, 4 * PAGE, 30);
                set(private, 8 * PAGE, 40);
                set(shared.wrapping_add(PAGE), PAGE, 50);
                if saw { 0 } else { 1 }
            });
            let g = sys::wait_for(grandchild);
            let kept = all(private, 8 * PAGE, 20) && all(heap, 4 * PAGE, 30);
            match (saw, g, kept) {
                (true, 0, true) => 0,
                (false, _, _) => 1,
                (_, 0, false) => 2,
                _ => 3,
            }
        });
        check::shows(
            "child and grandchild saw their parents' data and kept their own",
            Status(sys::wait_for(child)),
            "exited 0",
        );
        check::yes(
            "shared page 1 holds the child's write",
            all(shared, PAGE, 10),
        );
        check::yes(
            "shared page 2 holds the grandchild's write",
            all(shared + PAGE, PAGE, 50),
        );
        check::yes(
            "private mapping unchanged in the parent",
            all(private, 8 * PAGE, 2),
        );
        check::yes("brk heap unchanged in the parent", all(heap, 4 * PAGE, 3));

        // munmap and mprotect in the child do not reach the parent.
        let child = spawn(|| {
            let a = sys::munmap(private, 4 * PAGE);
            let b = sys::mprotect(private + 4 * PAGE, 4 * PAGE, PROT_READ);
            if a == 0 && b == 0 { 0 } else { 1 }
        });
        check::shows(
            "child unmapped half and write-protected the rest",
            Status(sys::wait_for(child)),
            "exited 0",
        );
        set(private, 8 * PAGE, 4);
        check::yes(
            "the parent's mapping is whole and writable",
            all(private, 8 * PAGE, 4),
        );
    }

    // A shared futex in the shared page: the child waits (no PRIVATE flag), the parent wakes it.
    // SAFETY: the word is in our shared mapping, aligned, and lives until both are done.
    let word = unsafe { &*(shared as *const AtomicU32) };
    word.store(0, Ordering::SeqCst);
    let child = spawn(|| {
        // SAFETY: the shared, aligned word above.
        let r = unsafe { sys::futex(word.as_ptr(), sys::FUTEX_WAIT, 0, 0, core::ptr::null(), 0) };
        if r == 0 { 0 } else { 1 }
    });
    let mut woken = 0;
    for _ in 0..1_000_000 {
        // SAFETY: as above.
        let r = unsafe { sys::futex(word.as_ptr(), sys::FUTEX_WAKE, 1, 0, core::ptr::null(), 0) };
        if r != 0 {
            woken = r;
            break;
        }
        sys::sched_yield();
    }
    check::ret(
        "shared FUTEX_WAKE woke the other process's waiter",
        woken,
        1,
    );
    check::shows(
        "  whose FUTEX_WAIT returned 0",
        Status(sys::wait_for(child)),
        "exited 0",
    );

    // Memory comes back: each child in turn touches 8 MiB.
    let mut all_ok = true;
    for _ in 0..48 {
        let child = spawn(|| {
            let len = 8 << 20;
            let m = sys::mmap_anon(len, RW);
            if m < 0 {
                return 1;
            }
            let m = m as usize;
            // SAFETY: our fresh mapping.
            unsafe {
                let mut p = m;
                while p < m + len {
                    (p as *mut u8).write_volatile(1);
                    p += PAGE;
                }
            }
            0
        });
        all_ok &= sys::wait_for(child) == 0;
    }
    check::yes(
        "48 children in turn each touched 8 MiB and exited 0",
        all_ok,
    );
    println!("fork-memory: done");
    check::finish("fork-memory")
}
