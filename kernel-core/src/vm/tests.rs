//! Host tests of the VM on the mock architecture. User-mode accesses are simulated the way the
//! CPU behaves: try the access through the page table, and on a fault ask
//! [`Vm::handle_fault`] and retry. Every test checks that the frame reference counts match what
//! the page tables, parked frames and objects hold, and that destroying everything brings the
//! free-frame count back to its baseline.

use super::map::*;
use super::*;
use crate::errno::SysResult;
use crate::memory::BitmapFrameAllocator;
use crate::testing::{MockArch, tiny_elf};
use alloc::vec;
use hal::boot::PhysRange;
use hal::mmu::BadUserAddress;

type TestVm = Vm<MockArch>;
const P: u64 = PAGE_SIZE;
const RW: u64 = PROT_READ | PROT_WRITE;
const ANON: u64 = MAP_PRIVATE | MAP_ANONYMOUS;
const SHARED_ANON: u64 = MAP_SHARED | MAP_ANONYMOUS;
const NO_FD: u64 = u64::MAX;
const USER_END: u64 = MockArch::USER_END;

struct Fx {
    frames: BitmapFrameAllocator,
    baseline: u64,
}

impl Fx {
    fn new() -> Self {
        Self::with_frames(4096)
    }
    fn with_frames(n: u64) -> Self {
        let frames = BitmapFrameAllocator::new(&[PhysRange::new(0x100_0000, n * P)]);
        let baseline = frames.free_frames();
        Fx { frames, baseline }
    }
    fn vm(&mut self) -> TestVm {
        TestVm::new(&mut self.frames).unwrap()
    }
    fn mmap(&mut self, vm: &mut TestVm, addr: u64, len: u64, prot: u64, flags: u64) -> SysResult {
        vm.mmap(addr, len, prot, flags, NO_FD, 0, &mut self.frames)
    }
    /// A user store, as the CPU does it: fault, resolve, retry.
    fn store(&mut self, vm: &mut TestVm, addr: u64, bytes: &[u8]) -> Result<(), FaultError> {
        for _ in 0..8 {
            match vm.space().write_user(addr, bytes, false) {
                Ok(()) => return Ok(()),
                Err(BadUserAddress { address }) => {
                    vm.handle_fault(address, true, false, &mut self.frames)?
                }
            }
        }
        panic!("store at {addr:#x}: the fault was never resolved");
    }
    /// A user load.
    fn load(&mut self, vm: &mut TestVm, addr: u64, len: usize) -> Result<Vec<u8>, FaultError> {
        let mut out = vec![0; len];
        for _ in 0..8 {
            match vm.space().read_user(addr, &mut out) {
                Ok(()) => return Ok(out),
                Err(BadUserAddress { address }) => {
                    vm.handle_fault(address, false, false, &mut self.frames)?
                }
            }
        }
        panic!("load at {addr:#x}: the fault was never resolved");
    }
    /// An instruction fetch.
    fn fetch(&mut self, vm: &mut TestVm, addr: u64) -> Result<(), FaultError> {
        for _ in 0..8 {
            match vm.space().translate(addr) {
                Some((_, flags)) if flags.execute => return Ok(()),
                _ => vm.handle_fault(addr, false, true, &mut self.frames)?,
            }
        }
        panic!("fetch at {addr:#x}: the fault was never resolved");
    }
    fn byte(&mut self, vm: &mut TestVm, addr: u64) -> u8 {
        self.load(vm, addr, 1).unwrap()[0]
    }
    fn refs(&self, vm: &TestVm, va: u64) -> u32 {
        let (frame, _) = vm.space().translate(va).expect("page mapped");
        self.frames.references(frame)
    }
    /// Checks every frame's reference count against what the spaces, parked frames and objects
    /// hold, and that no other frame is in use besides page tables.
    fn check(&self, vms: &[&TestVm]) {
        let mut expected: BTreeMap<PhysAddr, u32> = BTreeMap::new();
        let mut objects: Vec<*const Mutex<MemoryObject>> = Vec::new();
        let mut tables = 0;
        for vm in vms {
            vm.space()
                .for_each_mapped(0, USER_END, &mut |va, frame, flags| {
                    assert!(!(flags.write && flags.execute), "W+X page at {va:#x}");
                    let area = vm.area_at(va).expect("mapped page outside every area");
                    assert!(!area.prot.is_none(), "page mapped under PROT_NONE");
                    if flags.write && !area.shared {
                        assert_eq!(self.frames.references(frame), 1, "writable shared frame");
                    }
                    *expected.entry(frame).or_default() += 1;
                });
            for (&va, &frame) in &vm.parked {
                assert!(vm.area_at(va).is_some(), "parked frame outside every area");
                *expected.entry(frame).or_default() += 1;
            }
            for area in vm.areas() {
                assert!(area.start < area.end && area.start % P == 0 && area.end % P == 0);
                if let Backing::Object { object, .. } = &area.backing
                    && !objects.contains(&Arc::as_ptr(object))
                {
                    objects.push(Arc::as_ptr(object));
                    for &frame in object.lock().pages.values() {
                        *expected.entry(frame).or_default() += 1;
                    }
                }
            }
            // Areas are sorted, disjoint and never mergeable neighbours.
            for pair in vm.areas.values().collect::<Vec<_>>().windows(2) {
                assert!(pair[0].end <= pair[1].start, "overlapping areas");
                assert!(!pair[0].can_merge(pair[1]), "unmerged neighbours");
            }
            tables += vm.space().table_frames() as u64;
        }
        for (&frame, &count) in &expected {
            assert_eq!(
                self.frames.references(frame),
                count,
                "references of frame {frame:#x}"
            );
        }
        assert_eq!(
            self.baseline - self.frames.free_frames(),
            expected.len() as u64 + tables,
            "frames in use besides pages and page tables"
        );
    }
    fn destroy(&mut self, vm: TestVm) {
        vm.destroy(&mut self.frames);
    }
    fn at_baseline(&self) {
        assert_eq!(self.frames.free_frames(), self.baseline, "frames leaked");
    }
}

fn kinds(vm: &TestVm) -> Vec<(u64, u64, Prot)> {
    vm.areas().map(|a| (a.start, a.end, a.prot)).collect()
}

const R: Prot = Prot {
    read: true,
    write: false,
    execute: false,
};

#[test]
fn anonymous_memory_is_demand_paged_zero_filled_and_freed() {
    let mut fx = Fx::new();
    let mut vm = fx.vm();
    let at = fx.mmap(&mut vm, 0, 64 * P, RW, ANON).unwrap();
    assert_eq!(at % P, 0);
    assert_eq!(
        at + 64 * P,
        vm.mmap_base(),
        "first mapping right below the mmap base"
    );
    assert_eq!(vm.space().mapped_pages(), 0, "nothing populated by mmap");
    assert_eq!(fx.load(&mut vm, at + 5 * P + 17, 4).unwrap(), [0; 4]);
    fx.store(&mut vm, at + 9 * P, b"data").unwrap();
    assert_eq!(fx.load(&mut vm, at + 9 * P, 4).unwrap(), b"data");
    assert_eq!(vm.space().mapped_pages(), 2);
    fx.check(&[&vm]);
    fx.destroy(vm);
    fx.at_baseline();
}

#[test]
fn mmap_argument_errors_match_linux() {
    let mut fx = Fx::new();
    let mut vm = fx.vm();
    let cases = [
        (0, 0, RW, ANON, 0, Errno::EINVAL),          // length 0
        (0, P, RW, ANON, 100, Errno::EINVAL),        // unaligned offset
        (0, P, RW, MAP_PRIVATE, 0, Errno::EBADF),    // a file mapping, no files
        (0, 0, RW, MAP_PRIVATE, 0, Errno::EBADF),    // the fd is checked before len
        (0, P, RW, MAP_ANONYMOUS, 0, Errno::EINVAL), // neither private nor shared
        (
            0,
            P,
            RW,
            MAP_SHARED_VALIDATE | MAP_ANONYMOUS,
            0,
            Errno::EINVAL,
        ),
        (0, P, RW, SHARED_ANON | MAP_GROWSDOWN, 0, Errno::EINVAL),
        (0, P, RW, ANON | MAP_HUGETLB, 0, Errno::ENOMEM),
        (0, u64::MAX, RW, ANON, 0, Errno::ENOMEM), // rounds up past 2^64
        (0, 1 << 47, RW, ANON, 0, Errno::ENOMEM),  // larger than the user range
        (0x10_0001, P, RW, ANON | MAP_FIXED, 0, Errno::EINVAL), // unaligned fixed address
        (USER_END - P, 2 * P, RW, ANON | MAP_FIXED, 0, Errno::ENOMEM),
        (!(P - 1), P, RW, ANON | MAP_FIXED, 0, Errno::ENOMEM),
        (0x1000, P, RW, ANON | MAP_FIXED, 0, Errno::EPERM), // below mmap_min_addr
        (0, P, RW, ANON | MAP_FIXED, 0, Errno::EPERM),
    ];
    for (addr, len, prot, flags, offset, errno) in cases {
        assert_eq!(
            vm.mmap(addr, len, prot, flags, NO_FD, offset, &mut fx.frames),
            Err(errno),
            "mmap({addr:#x}, {len:#x}, {prot}, {flags:#x}, -1, {offset})"
        );
    }
    assert_eq!(vm.areas().count(), 0, "no failed call left an area behind");
    // The descriptor is ignored for anonymous mappings, unknown bits too.
    let at = vm
        .mmap(
            0,
            P,
            RW,
            ANON | MAP_NORESERVE | MAP_STACK | 0x800_0000,
            7,
            0,
            &mut fx.frames,
        )
        .unwrap();
    assert!(at > 0);
    fx.destroy(vm);
    fx.at_baseline();
}

#[test]
fn mappings_are_placed_top_down_and_holes_are_reused() {
    let mut fx = Fx::new();
    let mut vm = fx.vm();
    let base = vm.mmap_base();
    let a = fx.mmap(&mut vm, 0, 4 * P, RW, ANON).unwrap();
    let b = fx.mmap(&mut vm, 0, 2 * P, PROT_READ, ANON).unwrap();
    let c = fx.mmap(&mut vm, 0, 3 * P, RW, ANON).unwrap();
    assert_eq!((a, b, c), (base - 4 * P, base - 6 * P, base - 9 * P));
    // Same rights next to each other merge into one area; different ones do not.
    assert_eq!(vm.areas().count(), 3);
    let d = fx.mmap(&mut vm, 0, 2 * P, PROT_READ, ANON).unwrap();
    assert_eq!(d, base - 11 * P);
    // A hole big enough is reused: the highest one that fits.
    vm.munmap(b, 2 * P, &mut fx.frames).unwrap();
    assert_eq!(fx.mmap(&mut vm, 0, P, RW, ANON).unwrap(), b + P);
    assert_eq!(fx.mmap(&mut vm, 0, 2 * P, RW, ANON).unwrap(), d - 2 * P);
    fx.check(&[&vm]);
    fx.destroy(vm);
    fx.at_baseline();
}

#[test]
fn hints_are_honoured_when_free_and_ignored_otherwise() {
    let mut fx = Fx::new();
    let mut vm = fx.vm();
    let hint = 0x2000_0000;
    assert_eq!(fx.mmap(&mut vm, hint, 2 * P, RW, ANON), Ok(hint));
    // Taken: the kernel picks another place (top-down), it does not fail or replace.
    fx.store(&mut vm, hint, b"keep").unwrap();
    let other = fx.mmap(&mut vm, hint + P, P, RW, ANON).unwrap();
    assert_eq!(other, vm.mmap_base() - P);
    assert_eq!(fx.load(&mut vm, hint, 4).unwrap(), b"keep");
    // An unaligned hint is rounded down; one below mmap_min_addr goes up to it.
    assert_eq!(fx.mmap(&mut vm, 0x3000_0123, P, RW, ANON), Ok(0x3000_0000));
    assert_eq!(fx.mmap(&mut vm, 0x2000, P, RW, ANON), Ok(MIN_USER_ADDRESS));
    // A hint whose range would leave the user range is ignored.
    let high = fx.mmap(&mut vm, USER_END - P, 2 * P, RW, ANON).unwrap();
    assert!(high + 2 * P <= vm.mmap_base());
    fx.check(&[&vm]);
    fx.destroy(vm);
    fx.at_baseline();
}

#[test]
fn map_32bit_places_below_2_gib_on_x86_64() {
    let mut fx = Fx::new();
    let mut vm = fx.vm();
    let a = fx.mmap(&mut vm, 0, 3 * P, RW, ANON | MAP_32BIT).unwrap();
    let b = fx.mmap(&mut vm, 0, P, RW, ANON | MAP_32BIT).unwrap();
    assert_eq!(a, 0x4000_0000);
    assert_eq!(b, 0x4000_0000 + 3 * P);
    fx.destroy(vm);
    fx.at_baseline();
}

#[test]
fn map_fixed_replaces_and_noreplace_refuses() {
    let mut fx = Fx::new();
    let mut vm = fx.vm();
    let at = 0x1000_0000;
    assert_eq!(fx.mmap(&mut vm, at, 8 * P, RW, ANON | MAP_FIXED), Ok(at));
    for i in 0..8 {
        fx.store(&mut vm, at + i * P, &[i as u8 + 1]).unwrap();
    }
    let used = fx.frames.free_frames();
    // Replace pages 2..4 with a fresh read-only mapping: the old pages are gone (frames back).
    assert_eq!(
        fx.mmap(&mut vm, at + 2 * P, 2 * P, PROT_READ, ANON | MAP_FIXED),
        Ok(at + 2 * P)
    );
    assert_eq!(fx.frames.free_frames(), used + 2);
    assert_eq!(fx.byte(&mut vm, at + 2 * P), 0);
    assert_eq!(fx.byte(&mut vm, at + P), 2);
    assert_eq!(fx.byte(&mut vm, at + 4 * P), 5);
    assert_eq!(
        kinds(&vm),
        [
            (at, at + 2 * P, Prot::READ_WRITE),
            (at + 2 * P, at + 4 * P, R),
            (at + 4 * P, at + 8 * P, Prot::READ_WRITE),
        ]
    );
    assert_eq!(
        fx.store(&mut vm, at + 2 * P, b"x"),
        Err(FaultError::Forbidden)
    );
    // NOREPLACE: EEXIST on any overlap, fine on a free range.
    assert_eq!(
        fx.mmap(&mut vm, at + 7 * P, 2 * P, RW, ANON | MAP_FIXED_NOREPLACE),
        Err(Errno::EEXIST)
    );
    assert_eq!(fx.byte(&mut vm, at + 7 * P), 8);
    assert_eq!(
        fx.mmap(&mut vm, at + 8 * P, 2 * P, RW, ANON | MAP_FIXED_NOREPLACE),
        Ok(at + 8 * P)
    );
    // Merged with the neighbour of identical rights.
    assert_eq!(vm.areas().count(), 3);
    fx.check(&[&vm]);
    fx.destroy(vm);
    fx.at_baseline();
}

#[test]
fn munmap_splits_frees_and_accepts_holes() {
    let mut fx = Fx::new();
    let mut vm = fx.vm();
    let at = fx.mmap(&mut vm, 0, 6 * P, RW, ANON).unwrap();
    for i in 0..6 {
        fx.store(&mut vm, at + i * P, &[0x10 + i as u8]).unwrap();
    }
    let free = fx.frames.free_frames();
    assert_eq!(vm.munmap(at + 2 * P, 2 * P, &mut fx.frames), Ok(0));
    assert_eq!(fx.frames.free_frames(), free + 2);
    assert_eq!(vm.areas().count(), 2);
    assert_eq!(fx.load(&mut vm, at + 2 * P, 1), Err(FaultError::Unmapped));
    assert_eq!(fx.byte(&mut vm, at + 4 * P), 0x14);
    // A length that is not a page multiple covers the whole last page.
    assert_eq!(vm.munmap(at + 4 * P, 1, &mut fx.frames), Ok(0));
    assert_eq!(fx.load(&mut vm, at + 4 * P, 1), Err(FaultError::Unmapped));
    // Holes are fine, even a range with nothing in it.
    assert_eq!(vm.munmap(at, 6 * P, &mut fx.frames), Ok(0));
    assert_eq!(vm.munmap(0x5000_0000, 100 * P, &mut fx.frames), Ok(0));
    assert_eq!(vm.areas().count(), 0);
    for (addr, len) in [
        (at + 1, P),
        (at, 0),
        (USER_END, P),
        (USER_END - P, 2 * P),
        (P * 16, u64::MAX),
        (!(P - 1), P),
    ] {
        assert_eq!(
            vm.munmap(addr, len, &mut fx.frames),
            Err(Errno::EINVAL),
            "munmap({addr:#x}, {len:#x})"
        );
    }
    fx.check(&[&vm]);
    fx.destroy(vm);
    fx.at_baseline();
}

#[test]
fn mprotect_splits_merges_and_enforces_rights() {
    let mut fx = Fx::new();
    let mut vm = fx.vm();
    let at = fx.mmap(&mut vm, 0, 4 * P, RW, ANON).unwrap();
    fx.store(&mut vm, at + P, b"one").unwrap();
    assert_eq!(vm.mprotect(at + P, P, PROT_READ, &mut fx.frames), Ok(0));
    assert_eq!(vm.areas().count(), 3);
    assert_eq!(vm.space().query(at + P), Some(PageFlags::READ));
    assert_eq!(fx.store(&mut vm, at + P, b"x"), Err(FaultError::Forbidden));
    assert_eq!(FaultError::Forbidden.si_code(), SEGV_ACCERR);
    assert_eq!(fx.load(&mut vm, at + P, 3).unwrap(), b"one");
    // Back to read-write: one area again, and the page writable.
    assert_eq!(vm.mprotect(at, 4 * P, RW, &mut fx.frames), Ok(0));
    assert_eq!(vm.areas().count(), 1);
    fx.store(&mut vm, at + P, b"two").unwrap();
    // Errors.
    assert_eq!(
        vm.mprotect(at + 1, P, RW, &mut fx.frames),
        Err(Errno::EINVAL)
    );
    assert_eq!(vm.mprotect(at, P, 0x40, &mut fx.frames), Err(Errno::EINVAL));
    assert_eq!(
        vm.mprotect(at, P, RW | PROT_GROWSDOWN | PROT_GROWSUP, &mut fx.frames),
        Err(Errno::EINVAL)
    );
    assert_eq!(vm.mprotect(at, 0, RW, &mut fx.frames), Ok(0));
    assert_eq!(
        vm.mprotect(at, u64::MAX, RW, &mut fx.frames),
        Err(Errno::ENOMEM)
    );
    // A hole anywhere in the range: ENOMEM and nothing changed.
    assert_eq!(
        vm.mprotect(at, 5 * P, PROT_READ, &mut fx.frames),
        Err(Errno::ENOMEM)
    );
    assert_eq!(
        vm.mprotect(at - P, 2 * P, PROT_READ, &mut fx.frames),
        Err(Errno::ENOMEM)
    );
    assert_eq!(vm.areas().next().unwrap().prot, Prot::READ_WRITE);
    assert_eq!(
        vm.mprotect(0x10_0000, P, PROT_READ, &mut fx.frames),
        Err(Errno::ENOMEM)
    );
    // PROT_GROWSDOWN on an area that does not grow down.
    assert_eq!(
        vm.mprotect(at + P, P, RW | PROT_GROWSDOWN, &mut fx.frames),
        Err(Errno::EINVAL)
    );
    fx.check(&[&vm]);
    fx.destroy(vm);
    fx.at_baseline();
}

#[test]
fn prot_none_faults_and_keeps_the_contents() {
    let mut fx = Fx::new();
    let mut vm = fx.vm();
    let at = fx.mmap(&mut vm, 0, 2 * P, RW, ANON).unwrap();
    fx.store(&mut vm, at, b"secret").unwrap();
    assert_eq!(vm.mprotect(at, 2 * P, PROT_NONE, &mut fx.frames), Ok(0));
    assert_eq!(
        vm.space().mapped_pages(),
        0,
        "nothing accessible in hardware"
    );
    assert_eq!(fx.load(&mut vm, at, 1), Err(FaultError::Forbidden));
    assert_eq!(fx.load(&mut vm, at + P, 1), Err(FaultError::Forbidden));
    assert_eq!(fx.fetch(&mut vm, at), Err(FaultError::Forbidden));
    fx.check(&[&vm]);
    assert_eq!(vm.mprotect(at, P, PROT_READ, &mut fx.frames), Ok(0));
    assert_eq!(fx.load(&mut vm, at, 6).unwrap(), b"secret");
    // A PROT_NONE mapping from the start.
    let none = fx.mmap(&mut vm, 0, P, PROT_NONE, ANON).unwrap();
    assert_eq!(fx.load(&mut vm, none, 1), Err(FaultError::Forbidden));
    fx.check(&[&vm]);
    fx.destroy(vm);
    fx.at_baseline();
}

#[test]
fn write_execute_areas_flip_pages_between_phases() {
    let mut fx = Fx::new();
    let mut vm = fx.vm();
    let at = fx
        .mmap(&mut vm, 0, P, PROT_READ | PROT_WRITE | PROT_EXEC, ANON)
        .unwrap();
    fx.store(&mut vm, at, &[0xc3]).unwrap();
    assert_eq!(vm.space().query(at), Some(PageFlags::READ_WRITE));
    fx.fetch(&mut vm, at).unwrap();
    assert_eq!(vm.space().query(at), Some(PageFlags::READ_EXECUTE));
    assert_eq!(fx.byte(&mut vm, at), 0xc3);
    fx.store(&mut vm, at + 1, &[0x90]).unwrap();
    assert_eq!(vm.space().query(at), Some(PageFlags::READ_WRITE));
    fx.fetch(&mut vm, at).unwrap();
    assert_eq!(fx.load(&mut vm, at, 2).unwrap(), [0xc3, 0x90]);
    // The kernel writing into it (e.g. read(2) into a JIT buffer) flips it too.
    vm.write_user(at + 2, &[0xcc], &mut fx.frames).unwrap();
    assert_eq!(vm.space().query(at), Some(PageFlags::READ_WRITE));
    // Executing a page that is not executable is refused.
    let data = fx.mmap(&mut vm, 0, P, RW, ANON).unwrap();
    assert_eq!(fx.fetch(&mut vm, data), Err(FaultError::Forbidden));
    // mprotect to RWX keeps a written page writable until it runs.
    fx.store(&mut vm, data, b"j").unwrap();
    vm.mprotect(data, P, PROT_READ | PROT_WRITE | PROT_EXEC, &mut fx.frames)
        .unwrap();
    assert_eq!(vm.space().query(data), Some(PageFlags::READ_WRITE));
    fx.fetch(&mut vm, data).unwrap();
    fx.check(&[&vm]);
    fx.destroy(vm);
    fx.at_baseline();
}

#[test]
fn mremap_shrinks_grows_in_place_and_moves_with_the_data() {
    let mut fx = Fx::new();
    let mut vm = fx.vm();
    let at = 0x1000_0000;
    fx.mmap(&mut vm, at, 4 * P, RW, ANON | MAP_FIXED).unwrap();
    for i in 0..4 {
        fx.store(&mut vm, at + i * P, &[0xa0 + i as u8]).unwrap();
    }
    // Shrink: the tail goes.
    assert_eq!(vm.mremap(at, 4 * P, 3 * P, 0, 0, &mut fx.frames), Ok(at));
    assert_eq!(fx.load(&mut vm, at + 3 * P, 1), Err(FaultError::Unmapped));
    // Same size: nothing to do.
    assert_eq!(vm.mremap(at, 3 * P, 3 * P, 0, 0, &mut fx.frames), Ok(at));
    // Grow in place into the free space after it.
    assert_eq!(vm.mremap(at, 3 * P, 6 * P, 0, 0, &mut fx.frames), Ok(at));
    assert_eq!(fx.byte(&mut vm, at + 2 * P), 0xa2);
    assert_eq!(fx.byte(&mut vm, at + 5 * P), 0);
    // Blocked by a mapping right after: ENOMEM unless it may move.
    fx.mmap(&mut vm, at + 6 * P, P, PROT_READ, ANON | MAP_FIXED)
        .unwrap();
    assert_eq!(
        vm.mremap(at, 6 * P, 8 * P, 0, 0, &mut fx.frames),
        Err(Errno::ENOMEM)
    );
    let moved = vm
        .mremap(at, 6 * P, 8 * P, MREMAP_MAYMOVE, 0, &mut fx.frames)
        .unwrap();
    assert_ne!(moved, at);
    assert_eq!(fx.load(&mut vm, at, 1), Err(FaultError::Unmapped));
    for i in 0..3 {
        assert_eq!(fx.byte(&mut vm, moved + i * P), 0xa0 + i as u8);
    }
    fx.store(&mut vm, moved + 7 * P, b"end").unwrap();
    // Move to a fixed place, replacing what is there.
    let target = 0x2000_0000;
    fx.mmap(&mut vm, target, 2 * P, RW, ANON | MAP_FIXED)
        .unwrap();
    fx.store(&mut vm, target, b"old").unwrap();
    assert_eq!(
        vm.mremap(
            moved,
            8 * P,
            8 * P,
            MREMAP_MAYMOVE | MREMAP_FIXED,
            target,
            &mut fx.frames
        ),
        Ok(target)
    );
    assert_eq!(fx.byte(&mut vm, target), 0xa0);
    assert_eq!(fx.load(&mut vm, target + 7 * P, 3).unwrap(), b"end");
    assert_eq!(fx.load(&mut vm, moved, 1), Err(FaultError::Unmapped));
    // Moving part of an area splits it.
    assert_eq!(
        vm.mremap(
            target + 2 * P,
            P,
            P,
            MREMAP_MAYMOVE | MREMAP_FIXED,
            0x3000_0000,
            &mut fx.frames
        ),
        Ok(0x3000_0000)
    );
    assert_eq!(fx.byte(&mut vm, 0x3000_0000), 0xa2);
    assert_eq!(
        fx.load(&mut vm, target + 2 * P, 1),
        Err(FaultError::Unmapped)
    );
    assert_eq!(fx.byte(&mut vm, target + 3 * P), 0);
    fx.check(&[&vm]);
    fx.destroy(vm);
    fx.at_baseline();
}

#[test]
fn mremap_errors_match_linux() {
    let mut fx = Fx::new();
    let mut vm = fx.vm();
    let at = 0x1000_0000;
    fx.mmap(&mut vm, at, 4 * P, RW, ANON | MAP_FIXED).unwrap();
    let m = MREMAP_MAYMOVE;
    let cases = [
        (at, P, P, 8, 0, Errno::EINVAL),                      // unknown flag
        (at + 1, P, P, 0, 0, Errno::EINVAL),                  // unaligned address
        (at, P, 0, 0, 0, Errno::EINVAL),                      // new length 0
        (at, P, u64::MAX, m, 0, Errno::EINVAL),               // rounds to 0
        (at, P, P, MREMAP_FIXED, 0x2000_0000, Errno::EINVAL), // fixed without maymove
        (at, P, P, m | MREMAP_FIXED, 0x2000_0001, Errno::EINVAL), // unaligned target
        (at, P, 2 * P, m | MREMAP_DONTUNMAP, 0, Errno::EINVAL), // dontunmap resizing
        (at, 2 * P, 2 * P, m | MREMAP_FIXED, at + P, Errno::EINVAL), // overlapping
        (at, P, P, m | MREMAP_FIXED, USER_END, Errno::EINVAL),
        (0x5000_0000, P, 2 * P, m, 0, Errno::EFAULT), // nothing mapped there
        (at, 5 * P, 6 * P, m, 0, Errno::EFAULT),      // beyond the area
        (at, 0, P, m, 0, Errno::EINVAL),              // duplicating private memory
        (at, P, P, m | MREMAP_FIXED, 0x1000, Errno::EPERM), // below mmap_min_addr
    ];
    for (old, old_len, new_len, flags, new, errno) in cases {
        assert_eq!(
            vm.mremap(old, old_len, new_len, flags, new, &mut fx.frames),
            Err(errno),
            "mremap({old:#x}, {old_len:#x}, {new_len:#x}, {flags}, {new:#x})"
        );
    }
    // Growing to the end of the user range in place is refused, moving works.
    let top = USER_END - 2 * P;
    fx.mmap(&mut vm, top, 2 * P, RW, ANON | MAP_FIXED).unwrap();
    assert_eq!(
        vm.mremap(top, 2 * P, 3 * P, 0, 0, &mut fx.frames),
        Err(Errno::ENOMEM)
    );
    fx.check(&[&vm]);
    fx.destroy(vm);
    fx.at_baseline();
}

#[test]
fn mremap_dontunmap_leaves_the_old_range_empty() {
    let mut fx = Fx::new();
    let mut vm = fx.vm();
    let at = fx.mmap(&mut vm, 0, 2 * P, RW, ANON).unwrap();
    fx.store(&mut vm, at, b"moved").unwrap();
    let new = vm
        .mremap(
            at,
            2 * P,
            2 * P,
            MREMAP_MAYMOVE | MREMAP_DONTUNMAP,
            0,
            &mut fx.frames,
        )
        .unwrap();
    assert_ne!(new, at);
    assert_eq!(fx.load(&mut vm, new, 5).unwrap(), b"moved");
    assert_eq!(
        fx.load(&mut vm, at, 5).unwrap(),
        [0; 5],
        "still mapped, empty"
    );
    fx.check(&[&vm]);
    fx.destroy(vm);
    fx.at_baseline();
}

#[test]
fn mremap_of_a_shared_mapping_keeps_sharing() {
    let mut fx = Fx::new();
    let mut vm = fx.vm();
    let at = fx.mmap(&mut vm, 0, 2 * P, RW, SHARED_ANON).unwrap();
    fx.store(&mut vm, at + P, b"shm").unwrap();
    // old_len 0 on a shared mapping makes a second view of the same pages.
    let twin = vm
        .mremap(at, 0, 2 * P, MREMAP_MAYMOVE, 0, &mut fx.frames)
        .unwrap();
    assert_ne!(twin, at);
    assert_eq!(fx.load(&mut vm, twin + P, 3).unwrap(), b"shm");
    fx.store(&mut vm, twin, b"both").unwrap();
    assert_eq!(fx.load(&mut vm, at, 4).unwrap(), b"both");
    // Grow and move: the contents follow.
    let moved = vm
        .mremap(at, 2 * P, 4 * P, MREMAP_MAYMOVE, 0, &mut fx.frames)
        .unwrap();
    assert_eq!(fx.load(&mut vm, moved + P, 3).unwrap(), b"shm");
    fx.store(&mut vm, moved + 3 * P, b"new").unwrap();
    fx.check(&[&vm]);
    fx.destroy(vm);
    fx.at_baseline();
}

#[test]
fn madvise_dontneed_zeroes_private_and_keeps_shared() {
    let mut fx = Fx::new();
    let mut vm = fx.vm();
    let private = fx.mmap(&mut vm, 0, 2 * P, RW, ANON).unwrap();
    let shared = fx.mmap(&mut vm, 0, 2 * P, RW, SHARED_ANON).unwrap();
    fx.store(&mut vm, private, b"gone").unwrap();
    fx.store(&mut vm, private + P, b"kept").unwrap();
    fx.store(&mut vm, shared, b"stays").unwrap();
    let free = fx.frames.free_frames();
    assert_eq!(vm.madvise(private, P, MADV_DONTNEED, &mut fx.frames), Ok(0));
    assert_eq!(fx.frames.free_frames(), free + 1);
    assert_eq!(fx.load(&mut vm, private, 4).unwrap(), [0; 4]);
    assert_eq!(fx.load(&mut vm, private + P, 4).unwrap(), b"kept");
    assert_eq!(
        vm.madvise(shared, 2 * P, MADV_DONTNEED, &mut fx.frames),
        Ok(0)
    );
    assert_eq!(fx.load(&mut vm, shared, 5).unwrap(), b"stays");
    // Hints are accepted; MADV_FREE keeps the data (nothing is under memory pressure).
    for advice in [
        MADV_NORMAL,
        MADV_RANDOM,
        MADV_SEQUENTIAL,
        MADV_WILLNEED,
        MADV_HUGEPAGE,
        MADV_FREE,
    ] {
        assert_eq!(vm.madvise(private, 2 * P, advice, &mut fx.frames), Ok(0));
    }
    assert_eq!(fx.load(&mut vm, private + P, 4).unwrap(), b"kept");
    fx.check(&[&vm]);
    fx.destroy(vm);
    fx.at_baseline();
}

#[test]
fn madvise_errors_match_linux() {
    let mut fx = Fx::new();
    let mut vm = fx.vm();
    let private = fx.mmap(&mut vm, 0, 2 * P, RW, ANON).unwrap();
    let shared = fx.mmap(&mut vm, 0x2000_0000, P, RW, SHARED_ANON).unwrap();
    let cases = [
        (private, P, 5, Errno::EINVAL),   // not an advice
        (private, P, 102, Errno::EINVAL), // guard regions are not supported
        (private, P, 1000, Errno::EINVAL),
        (private + 1, P, MADV_DONTNEED, Errno::EINVAL),
        (private, u64::MAX, MADV_DONTNEED, Errno::EINVAL),
        (!(P - 1), 2 * P, MADV_DONTNEED, Errno::EINVAL),
        (private, 3 * P, MADV_DONTNEED, Errno::ENOMEM), // runs past the mapping
        (0x5000_0000, P, MADV_NORMAL, Errno::ENOMEM),
        (shared, P, MADV_WIPEONFORK, Errno::EINVAL),
        (shared, P, MADV_FREE, Errno::EINVAL),
        (private, P, MADV_REMOVE, Errno::EINVAL),
        (private, P, MADV_HWPOISON, Errno::EINVAL),
        (private, P, MADV_SOFT_OFFLINE, Errno::EINVAL),
        (private, P, 26, Errno::EINVAL),
    ];
    for (addr, len, advice, errno) in cases {
        assert_eq!(
            vm.madvise(addr, len, advice, &mut fx.frames),
            Err(errno),
            "madvise({addr:#x}, {len:#x}, {advice})"
        );
    }
    assert_eq!(vm.madvise(private, 0, MADV_DONTNEED, &mut fx.frames), Ok(0));
    // Populate: faults pages in, EFAULT where the rights forbid it.
    assert_eq!(
        vm.madvise(private, 2 * P, MADV_POPULATE_WRITE, &mut fx.frames),
        Ok(0)
    );
    assert_eq!(vm.space().query(private + P), Some(PageFlags::READ_WRITE));
    vm.mprotect(private, P, PROT_READ, &mut fx.frames).unwrap();
    assert_eq!(
        vm.madvise(private, P, MADV_POPULATE_WRITE, &mut fx.frames),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        vm.madvise(private, P, MADV_POPULATE_READ, &mut fx.frames),
        Ok(0)
    );
    fx.check(&[&vm]);
    fx.destroy(vm);
    fx.at_baseline();
}

#[test]
fn fork_shares_private_pages_copy_on_write() {
    let mut fx = Fx::new();
    let mut parent = fx.vm();
    let at = fx.mmap(&mut parent, 0, 3 * P, RW, ANON).unwrap();
    fx.store(&mut parent, at, b"parent").unwrap();
    fx.store(&mut parent, at + P, b"second").unwrap();
    let mut child = parent.fork(&mut fx.frames).unwrap();
    fx.check(&[&parent, &child]);
    assert_eq!(fx.refs(&parent, at), 2);
    assert_eq!(parent.space().query(at), Some(PageFlags::READ));
    assert_eq!(child.space().query(at), Some(PageFlags::READ));
    assert_eq!(
        child.space().translate(at).unwrap().0,
        parent.space().translate(at).unwrap().0
    );
    assert_eq!(fx.load(&mut child, at, 6).unwrap(), b"parent");
    // The child's write is its own.
    fx.store(&mut child, at, b"child!").unwrap();
    assert_eq!(fx.load(&mut parent, at, 6).unwrap(), b"parent");
    assert_eq!(fx.load(&mut child, at, 6).unwrap(), b"child!");
    assert_eq!(fx.refs(&parent, at), 1);
    assert_eq!(fx.refs(&child, at), 1);
    // The parent, now the only user of the old frame, writes without a copy.
    let frame = parent.space().translate(at).unwrap().0;
    fx.store(&mut parent, at, b"PARENT").unwrap();
    assert_eq!(
        parent.space().translate(at).unwrap().0,
        frame,
        "reused, not copied"
    );
    assert_eq!(fx.load(&mut child, at, 6).unwrap(), b"child!");
    // The parent writes the other shared page: the child keeps the old contents.
    fx.store(&mut parent, at + P, b"SECOND").unwrap();
    assert_eq!(fx.load(&mut child, at + P, 6).unwrap(), b"second");
    // An untouched page is independent in both.
    fx.store(&mut child, at + 2 * P, b"c").unwrap();
    assert_eq!(fx.byte(&mut parent, at + 2 * P), 0);
    fx.check(&[&parent, &child]);
    fx.destroy(child);
    fx.check(&[&parent]);
    fx.destroy(parent);
    fx.at_baseline();
}

#[test]
fn futex_words_are_named_by_frame_only_in_shared_memory() {
    let mut fx = Fx::new();
    let mut parent = fx.vm();
    let private = fx.mmap(&mut parent, 0, P, RW, ANON).unwrap();
    let shared = fx.mmap(&mut parent, 0, P, RW, SHARED_ANON).unwrap();
    assert_eq!(parent.shared_frame(private + 8, &mut fx.frames), Ok(None));
    let mut child = parent.fork(&mut fx.frames).unwrap();
    let a = parent.shared_frame(shared + 8, &mut fx.frames).unwrap();
    let b = child.shared_frame(shared + 8, &mut fx.frames).unwrap();
    assert!(a.is_some());
    assert_eq!(a, b, "both processes name the same word");
    assert_eq!(
        child.shared_frame(0x10_0000, &mut fx.frames),
        Err(Errno::EFAULT)
    );
    fx.check(&[&parent, &child]);
    fx.destroy(child);
    fx.destroy(parent);
    fx.at_baseline();
}

#[test]
fn a_page_shared_by_three_after_two_forks() {
    let mut fx = Fx::new();
    let mut a = fx.vm();
    let at = fx.mmap(&mut a, 0, P, RW, ANON).unwrap();
    fx.store(&mut a, at, b"x").unwrap();
    let mut b = a.fork(&mut fx.frames).unwrap();
    let mut c = b.fork(&mut fx.frames).unwrap();
    assert_eq!(fx.refs(&a, at), 3);
    fx.check(&[&a, &b, &c]);
    fx.store(&mut b, at, b"b").unwrap();
    assert_eq!(fx.refs(&a, at), 2);
    assert_eq!(fx.refs(&b, at), 1);
    fx.store(&mut c, at, b"c").unwrap();
    assert_eq!(fx.refs(&a, at), 1);
    assert_eq!(
        (
            fx.byte(&mut a, at),
            fx.byte(&mut b, at),
            fx.byte(&mut c, at)
        ),
        (b'x', b'b', b'c')
    );
    fx.check(&[&a, &b, &c]);
    // Exit order does not matter.
    fx.destroy(b);
    fx.destroy(a);
    fx.destroy(c);
    fx.at_baseline();
}

#[test]
fn fork_keeps_shared_mappings_shared_and_read_only_pages_shared() {
    let mut fx = Fx::new();
    let mut parent = fx.vm();
    let shared = fx.mmap(&mut parent, 0, 2 * P, RW, SHARED_ANON).unwrap();
    let ro = fx.mmap(&mut parent, 0, P, RW, ANON).unwrap();
    fx.store(&mut parent, ro, b"ro").unwrap();
    parent.mprotect(ro, P, PROT_READ, &mut fx.frames).unwrap();
    fx.store(&mut parent, shared, b"before").unwrap();
    let mut child = parent.fork(&mut fx.frames).unwrap();
    // Shared: writes on either side are seen on the other, including pages first touched
    // after the fork.
    fx.store(&mut child, shared, b"child ").unwrap();
    assert_eq!(fx.load(&mut parent, shared, 6).unwrap(), b"child ");
    fx.store(&mut parent, shared + P, b"late").unwrap();
    assert_eq!(fx.load(&mut child, shared + P, 4).unwrap(), b"late");
    assert_eq!(child.space().query(shared), Some(PageFlags::READ_WRITE));
    assert_eq!(fx.load(&mut child, ro, 2).unwrap(), b"ro");
    assert_eq!(fx.refs(&child, ro), 2);
    assert_eq!(fx.store(&mut child, ro, b"x"), Err(FaultError::Forbidden));
    fx.check(&[&parent, &child]);
    // The object outlives the parent while the child maps it.
    fx.destroy(parent);
    assert_eq!(fx.load(&mut child, shared + P, 4).unwrap(), b"late");
    fx.check(&[&child]);
    fx.destroy(child);
    fx.at_baseline();
}

#[test]
fn fork_obeys_dontfork_and_wipeonfork() {
    let mut fx = Fx::new();
    let mut parent = fx.vm();
    let keep = fx.mmap(&mut parent, 0, P, RW, ANON).unwrap();
    let skip = fx.mmap(&mut parent, 0, P, PROT_READ, ANON).unwrap();
    let wipe = fx
        .mmap(&mut parent, 0, P, PROT_READ | PROT_EXEC, ANON)
        .unwrap();
    for at in [keep, skip, wipe] {
        parent
            .madvise(at, P, MADV_POPULATE_READ, &mut fx.frames)
            .unwrap();
    }
    fx.store(&mut parent, keep, b"k").unwrap();
    parent
        .madvise(skip, P, MADV_DONTFORK, &mut fx.frames)
        .unwrap();
    parent.mprotect(wipe, P, RW, &mut fx.frames).unwrap();
    fx.store(&mut parent, wipe, b"w").unwrap();
    parent
        .madvise(wipe, P, MADV_WIPEONFORK, &mut fx.frames)
        .unwrap();
    let mut child = parent.fork(&mut fx.frames).unwrap();
    assert_eq!(fx.byte(&mut child, keep), b'k');
    assert_eq!(fx.load(&mut child, skip, 1), Err(FaultError::Unmapped));
    assert_eq!(fx.byte(&mut child, wipe), 0);
    assert_eq!(fx.byte(&mut parent, wipe), b'w');
    // DOFORK/KEEPONFORK undo it (and the areas merge back where they can).
    parent
        .madvise(skip, P, MADV_DOFORK, &mut fx.frames)
        .unwrap();
    parent
        .madvise(wipe, P, MADV_KEEPONFORK, &mut fx.frames)
        .unwrap();
    let mut second = parent.fork(&mut fx.frames).unwrap();
    assert_eq!(fx.byte(&mut second, wipe), b'w');
    assert_eq!(fx.byte(&mut second, skip), 0);
    fx.check(&[&parent, &child, &second]);
    fx.destroy(second);
    fx.destroy(child);
    fx.destroy(parent);
    fx.at_baseline();
}

#[test]
fn fork_of_protnone_pages_keeps_their_contents_private() {
    let mut fx = Fx::new();
    let mut parent = fx.vm();
    let at = fx.mmap(&mut parent, 0, P, RW, ANON).unwrap();
    fx.store(&mut parent, at, b"hidden").unwrap();
    parent.mprotect(at, P, PROT_NONE, &mut fx.frames).unwrap();
    let mut child = parent.fork(&mut fx.frames).unwrap();
    fx.check(&[&parent, &child]);
    child.mprotect(at, P, RW, &mut fx.frames).unwrap();
    assert_eq!(fx.load(&mut child, at, 6).unwrap(), b"hidden");
    fx.store(&mut child, at, b"CHILD!").unwrap();
    parent.mprotect(at, P, PROT_READ, &mut fx.frames).unwrap();
    assert_eq!(fx.load(&mut parent, at, 6).unwrap(), b"hidden");
    fx.check(&[&parent, &child]);
    fx.destroy(parent);
    fx.destroy(child);
    fx.at_baseline();
}

fn loaded(fx: &mut Fx) -> (TestVm, ExecImage) {
    let image = tiny_elf(&[0x0f, 0x05], 0x3000);
    let argv: [&[u8]; 2] = [b"/init", b"arg1"];
    let envp: [&[u8]; 1] = [b"HOME=/"];
    TestVm::load(
        "/init",
        &image,
        &argv,
        &envp,
        DEFAULT_STACK_LIMIT,
        &mut fx.frames,
    )
    .unwrap()
}

#[test]
fn load_maps_segments_stack_trampoline_and_break() {
    let mut fx = Fx::new();
    let (mut vm, start) = loaded(&mut fx);
    assert_eq!(start.entry, 0x40_1000);
    // Text: file bytes present, executable, not writable.
    assert_eq!(vm.space().query(0x40_1000), Some(PageFlags::READ_EXECUTE));
    assert_eq!(vm.space().peek(0x40_1000, 2), [0x0f, 0x05]);
    // Bss: an area, not populated until touched, zero when it is.
    assert!(vm.space().translate(0x60_0000).is_none());
    assert_eq!(fx.load(&mut vm, 0x60_2fff, 1).unwrap(), [0]);
    assert_eq!(fx.load(&mut vm, 0x60_3000, 1), Err(FaultError::Unmapped));
    // Stack: argc, argv[0], argv[1] at the stack pointer; the area grows down.
    let sp = start.stack_pointer;
    let word =
        |vm: &TestVm, at: u64| u64::from_le_bytes(vm.space().peek(at, 8).try_into().unwrap());
    assert_eq!(word(&vm, sp), 2);
    let argv0 = word(&vm, sp + 8);
    assert_eq!(vm.space().peek(argv0, 6), b"/init\0");
    let stack = vm.area_at(sp).unwrap();
    assert_eq!(stack.kind, AreaKind::Stack);
    assert!(stack.grows_down);
    assert_eq!(stack.end, USER_END - P);
    assert!(stack.end - stack.start >= STACK_EXPAND);
    // The trampoline: one read+execute page holding the arch's code, below the mmap base.
    let tramp = vm.trampoline();
    assert_eq!(tramp, vm.mmap_base() - P);
    assert_eq!(vm.space().query(tramp), Some(PageFlags::READ_EXECUTE));
    assert_eq!(
        vm.space().peek(tramp, MockArch::SIGRETURN_TRAMPOLINE.len()),
        MockArch::SIGRETURN_TRAMPOLINE
    );
    assert_eq!(vm.area_at(tramp).unwrap().kind, AreaKind::Trampoline);
    // The break starts after the image, with no heap area yet.
    assert_eq!(vm.brk_range(), (0x60_3000, 0x60_3000));
    // The first mmap goes below the trampoline.
    assert_eq!(fx.mmap(&mut vm, 0, P, RW, ANON), Ok(tramp - P));
    fx.check(&[&vm]);
    fx.destroy(vm);
    fx.at_baseline();
}

#[test]
fn load_errors_leave_nothing_behind() {
    let mut fx = Fx::new();
    let argv: [&[u8]; 1] = [b"/init"];
    let bad = TestVm::load(
        "/init",
        b"#!/bin/sh\n",
        &argv,
        &[],
        DEFAULT_STACK_LIMIT,
        &mut fx.frames,
    );
    assert_eq!(bad.err().map(|e| e.errno()), Some(Errno::ENOEXEC));
    fx.at_baseline();
    let image = tiny_elf(&[0x0f, 0x05], 0x3000);
    // Every allocation failure point on the way: each must fail cleanly.
    for n in 1..12 {
        let mut small = Fx::with_frames(n);
        match TestVm::load(
            "/init",
            &image,
            &argv,
            &[],
            DEFAULT_STACK_LIMIT,
            &mut small.frames,
        ) {
            Ok((vm, _)) => small.destroy(vm),
            Err(e) => assert_eq!(e.errno(), Errno::ENOMEM, "with {n} frames"),
        }
        small.at_baseline();
    }
    // Arguments too big for the stack limit.
    let big = vec![b'a'; 100_000];
    let argv: [&[u8]; 1] = [&big];
    let e = TestVm::load("/init", &image, &argv, &[], 64 << 10, &mut fx.frames).err();
    assert_eq!(e.map(|e| e.errno()), Some(Errno::E2BIG));
    fx.at_baseline();
}

#[test]
fn an_image_laid_over_the_stack_is_refused() {
    let mut fx = Fx::new();
    let mut image = tiny_elf(&[0x0f, 0x05], 0x2000);
    // Move the data segment (program header 1: p_vaddr at 120 + 16, p_paddr at 120 + 24) to
    // where the stack goes.
    let high = USER_END - 0x10000;
    image[136..144].copy_from_slice(&high.to_le_bytes());
    image[144..152].copy_from_slice(&high.to_le_bytes());
    let argv: [&[u8]; 1] = [b"/init"];
    let result = TestVm::load(
        "/init",
        &image,
        &argv,
        &[],
        DEFAULT_STACK_LIMIT,
        &mut fx.frames,
    );
    assert_eq!(result.err().map(|e| e.errno()), Some(Errno::ENOMEM));
    fx.at_baseline();
}

#[test]
fn the_stack_grows_down_within_its_limit() {
    let mut fx = Fx::new();
    let (mut vm, start) = loaded(&mut fx);
    let top = USER_END - P;
    let initial = vm.area_at(start.stack_pointer).unwrap().start;
    // A touch below the area (within the limit) extends it.
    let deep = top - (4 << 20);
    fx.store(&mut vm, deep, b"deep").unwrap();
    assert_eq!(vm.area_at(deep).unwrap().start, deep);
    assert_eq!(vm.area_at(deep).unwrap().end, top);
    assert!(deep < initial);
    // The limit: exactly 8 MiB is fine, one page more is not.
    let lowest = top - DEFAULT_STACK_LIMIT;
    fx.store(&mut vm, lowest, b"x").unwrap();
    assert_eq!(
        fx.store(&mut vm, lowest - P, b"x"),
        Err(FaultError::Unmapped)
    );
    assert_eq!(FaultError::Unmapped.si_code(), SEGV_MAPERR);
    // A lower limit applies to later growth.
    let (mut vm2, _) = loaded(&mut fx);
    vm2.set_stack_limit(256 << 10);
    assert_eq!(
        fx.store(&mut vm2, top - (512 << 10), b"x"),
        Err(FaultError::Unmapped)
    );
    fx.store(&mut vm2, top - (256 << 10), b"x").unwrap();
    // The kernel's own writes grow the stack too (a signal frame being pushed).
    vm2.set_stack_limit(DEFAULT_STACK_LIMIT);
    vm2.write_user(top - (1 << 20), b"frame", &mut fx.frames)
        .unwrap();
    vm2.prefault(top - (2 << 20), top - (1 << 20), &mut fx.frames)
        .unwrap();
    assert_eq!(vm2.area_at(top - (2 << 20)).unwrap().kind, AreaKind::Stack);
    fx.check(&[&vm, &vm2]);
    fx.destroy(vm);
    fx.destroy(vm2);
    fx.at_baseline();
}

#[test]
fn the_guard_gap_below_the_stack_is_kept() {
    let mut fx = Fx::new();
    let (mut vm, start) = loaded(&mut fx);
    let stack_start = vm.area_at(start.stack_pointer).unwrap().start;
    // A hint inside the gap is not honoured.
    let hint = stack_start - 4 * P;
    let got = fx.mmap(&mut vm, hint, P, RW, ANON).unwrap();
    assert_ne!(got, hint);
    // MAP_FIXED may go there (as on Linux), but then the stack cannot grow to within the gap
    // of it.
    let fixed = stack_start - STACK_GUARD_GAP - 8 * P;
    fx.mmap(&mut vm, fixed, P, RW, ANON | MAP_FIXED).unwrap();
    assert_eq!(
        fx.store(&mut vm, fixed + P + STACK_GUARD_GAP - P, b"x"),
        Err(FaultError::Unmapped)
    );
    fx.store(&mut vm, fixed + P + STACK_GUARD_GAP, b"x")
        .unwrap();
    // A PROT_NONE area below does not count (it is not accessible).
    vm.mprotect(fixed, P, PROT_NONE, &mut fx.frames).unwrap();
    fx.store(&mut vm, fixed + 2 * P, b"y").unwrap();
    // A MAP_GROWSDOWN mapping grows on faults below it, and keeps the gap too.
    let gd = fx
        .mmap(&mut vm, 0, 4 * P, RW, ANON | MAP_GROWSDOWN)
        .unwrap();
    assert!(vm.area_at(gd).unwrap().grows_down);
    fx.store(&mut vm, gd - 10 * P, b"z").unwrap();
    assert_eq!(vm.area_at(gd - 10 * P).unwrap().start, gd - 10 * P);
    let below = fx.mmap(&mut vm, 0, P, RW, ANON).unwrap();
    assert!(below + P <= gd - 10 * P - STACK_GUARD_GAP);
    // mprotect with PROT_GROWSDOWN reaches down to the start of the growing area.
    assert_eq!(
        vm.mprotect(gd, P, PROT_READ | PROT_GROWSDOWN, &mut fx.frames),
        Ok(0)
    );
    assert_eq!(vm.area_at(gd - 10 * P).unwrap().prot, R);
    fx.check(&[&vm]);
    fx.destroy(vm);
    fx.at_baseline();
}

#[test]
fn faults_outside_areas_and_user_range_are_segv() {
    let mut fx = Fx::new();
    let (mut vm, _) = loaded(&mut fx);
    for address in [0, 0x1000, 0x3f_ffff, 0x7000_0000, USER_END, u64::MAX] {
        for (w, x) in [(false, false), (true, false), (false, true)] {
            assert_eq!(
                vm.handle_fault(address, w, x, &mut fx.frames),
                Err(FaultError::Unmapped),
                "{address:#x}"
            );
        }
    }
    // Writing text and executing data are access errors.
    assert_eq!(
        vm.handle_fault(0x40_1000, true, false, &mut fx.frames),
        Err(FaultError::Forbidden)
    );
    assert_eq!(
        vm.handle_fault(0x60_0000, false, true, &mut fx.frames),
        Err(FaultError::Forbidden)
    );
    fx.check(&[&vm]);
    fx.destroy(vm);
    fx.at_baseline();
}

#[test]
fn brk_grows_lazily_shrinks_and_refuses_collisions() {
    let mut fx = Fx::new();
    let (mut vm, _) = loaded(&mut fx);
    let (start, current) = vm.brk_range();
    assert_eq!(vm.brk(0, &mut fx.frames), current);
    assert_eq!(vm.brk(start - 1, &mut fx.frames), current);
    let pages = vm.space().mapped_pages();
    assert_eq!(
        vm.brk(start + 10 * P + 5, &mut fx.frames),
        start + 10 * P + 5
    );
    assert_eq!(vm.space().mapped_pages(), pages, "nothing populated yet");
    assert_eq!(vm.area_at(start).unwrap().kind, AreaKind::Heap);
    fx.store(&mut vm, start + 10 * P, b"heap").unwrap();
    fx.store(&mut vm, start + 3 * P, b"low").unwrap();
    // Not page aligned: the whole page is in; the next is not.
    assert_eq!(
        fx.load(&mut vm, start + 11 * P, 1),
        Err(FaultError::Unmapped)
    );
    // Shrinking returns the pages; growing again gives zeroed ones.
    assert_eq!(vm.brk(start + 2 * P, &mut fx.frames), start + 2 * P);
    assert_eq!(vm.area_at(start).unwrap().end, start + 2 * P);
    assert_eq!(vm.brk(start + 4 * P, &mut fx.frames), start + 4 * P);
    assert_eq!(fx.load(&mut vm, start + 3 * P, 3).unwrap(), [0; 3]);
    assert_eq!(vm.areas().filter(|a| a.kind == AreaKind::Heap).count(), 1);
    // A mapping in the way: the break stays (it may not come within a page of it).
    fx.mmap(&mut vm, start + 20 * P, P, RW, ANON | MAP_FIXED)
        .unwrap();
    assert_eq!(vm.brk(start + 19 * P + 1, &mut fx.frames), start + 4 * P);
    assert_eq!(vm.brk(start + 19 * P, &mut fx.frames), start + 19 * P);
    // Absurd requests.
    assert_eq!(vm.brk(u64::MAX, &mut fx.frames), start + 19 * P);
    assert_eq!(vm.brk(USER_END + P, &mut fx.frames), start + 19 * P);
    fx.check(&[&vm]);
    fx.destroy(vm);
    fx.at_baseline();
    // A space without an image has no break.
    let mut empty = fx.vm();
    assert_eq!(empty.brk(0x100_0000, &mut fx.frames), 0);
    fx.destroy(empty);
}

#[test]
fn running_out_of_memory_is_an_error_not_a_leak() {
    let mut fx = Fx::with_frames(24);
    let mut vm = fx.vm();
    let at = fx.mmap(&mut vm, 0, 64 * P, RW, ANON).unwrap();
    let mut touched = 0;
    let result = loop {
        match fx.store(&mut vm, at + touched * P, b"x") {
            Ok(()) => touched += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(result, FaultError::OutOfMemory);
    assert!(touched > 10);
    fx.check(&[&vm]);
    // Forking with no memory left fails cleanly; so does a copy-on-write break.
    assert_eq!(vm.fork(&mut fx.frames).err(), Some(Errno::ENOMEM));
    fx.check(&[&vm]);
    vm.munmap(at + 10 * P, 5 * P, &mut fx.frames).unwrap();
    let mut child = vm.fork(&mut fx.frames).unwrap();
    let mut failed = false;
    for i in 0..touched {
        if (10..15).contains(&i) {
            continue;
        }
        if fx.store(&mut child, at + i * P, b"y").is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed, "some copy must have run out of frames");
    // The kernel's copies report it as EFAULT, like Linux's uaccess: the parent's page 5 is
    // still shared with the child, and there is no frame for the copy.
    assert_eq!(fx.refs(&vm, at + 5 * P), 2);
    assert_eq!(
        vm.write_user(at + 5 * P, b"zz", &mut fx.frames),
        Err(Errno::EFAULT)
    );
    assert_eq!(fx.load(&mut vm, at + 5 * P, 1).unwrap(), b"x");
    fx.check(&[&vm, &child]);
    fx.destroy(child);
    fx.destroy(vm);
    fx.at_baseline();
}

#[test]
fn populate_flags_fault_pages_in_at_mmap() {
    let mut fx = Fx::new();
    let mut vm = fx.vm();
    let at = fx.mmap(&mut vm, 0, 4 * P, RW, ANON | MAP_POPULATE).unwrap();
    assert_eq!(vm.space().mapped_pages(), 4);
    assert_eq!(vm.space().query(at), Some(PageFlags::READ_WRITE));
    let locked = fx
        .mmap(&mut vm, 0, 2 * P, PROT_READ, ANON | MAP_LOCKED)
        .unwrap();
    assert_eq!(vm.space().query(locked + P), Some(PageFlags::READ));
    let none = fx
        .mmap(&mut vm, 0, 2 * P, PROT_NONE, ANON | MAP_POPULATE)
        .unwrap();
    assert!(vm.space().translate(none).is_none());
    fx.check(&[&vm]);
    fx.destroy(vm);
    fx.at_baseline();
}

#[test]
fn mincore_and_msync() {
    let mut fx = Fx::new();
    let mut vm = fx.vm();
    let at = fx.mmap(&mut vm, 0, 4 * P, RW, ANON).unwrap();
    let vec = fx.mmap(&mut vm, 0, P, RW, ANON).unwrap();
    fx.store(&mut vm, at + P, b"x").unwrap();
    fx.store(&mut vm, at + 3 * P, b"x").unwrap();
    assert_eq!(vm.mincore(at, 4 * P - 1, vec, &mut fx.frames), Ok(0));
    assert_eq!(fx.load(&mut vm, vec, 4).unwrap(), [0, 1, 0, 1]);
    assert_eq!(
        vm.mincore(at + 1, P, vec, &mut fx.frames),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        vm.mincore(at, 5 * P, vec, &mut fx.frames),
        Err(Errno::ENOMEM)
    );
    assert_eq!(
        vm.mincore(at, P, USER_END, &mut fx.frames),
        Err(Errno::EFAULT)
    );
    assert_eq!(vm.mincore(at, P, 0x10, &mut fx.frames), Err(Errno::EFAULT));
    assert_eq!(vm.msync(at, 4 * P, MS_SYNC), Ok(0));
    assert_eq!(vm.msync(at, 0, MS_ASYNC), Ok(0));
    assert_eq!(vm.msync(at, P, MS_SYNC | MS_ASYNC), Err(Errno::EINVAL));
    assert_eq!(vm.msync(at, P, 8), Err(Errno::EINVAL));
    assert_eq!(vm.msync(at + 1, P, MS_SYNC), Err(Errno::EINVAL));
    assert_eq!(vm.msync(at, 6 * P, MS_SYNC), Err(Errno::ENOMEM));
    fx.destroy(vm);
    fx.at_baseline();
}

#[test]
fn the_map_count_is_bounded() {
    let mut fx = Fx::new();
    let mut vm = fx.vm();
    let base = 0x1000_0000u64;
    // Alternating rights so that nothing merges: one area per page.
    for i in 0..MAX_MAP_COUNT as u64 {
        let prot = if i % 2 == 0 { PROT_READ } else { RW };
        fx.mmap(&mut vm, base + i * P, P, prot, ANON | MAP_FIXED)
            .unwrap();
    }
    assert_eq!(
        fx.mmap(&mut vm, 0, P, RW, ANON)
            .and_then(|_| fx.mmap(&mut vm, 0, P, PROT_READ, ANON)),
        Err(Errno::ENOMEM)
    );
    // Splitting is refused too, never an unbounded number of areas.
    let big = base + MAX_MAP_COUNT as u64 * P + 16 * P;
    vm.munmap(base, P, &mut fx.frames).unwrap();
    fx.mmap(&mut vm, big, 4 * P, RW, ANON | MAP_FIXED).unwrap();
    assert_eq!(
        vm.mprotect(big + P, P, PROT_READ, &mut fx.frames),
        Err(Errno::ENOMEM)
    );
    assert!(vm.areas().count() <= MAX_MAP_COUNT);
    fx.destroy(vm);
    fx.at_baseline();
}

/// A small deterministic generator for the hostile-argument test.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 ^ (self.0 >> 29)
    }
    /// Mostly interesting values: edges of the user range, page multiples, small numbers.
    fn arg(&mut self, around: u64) -> u64 {
        let interesting = [
            0,
            1,
            P - 1,
            P,
            2 * P,
            16 * P,
            USER_END,
            USER_END - P,
            USER_END + P,
            u64::MAX,
            u64::MAX - P + 1,
            1 << 63,
            around,
            around + P,
            around.wrapping_sub(P),
        ];
        match self.next() % 4 {
            0 => self.next(),
            1 => (self.next() % 64) * P + around,
            _ => interesting[(self.next() % interesting.len() as u64) as usize],
        }
    }
}

#[test]
fn hostile_arguments_never_panic_or_leak() {
    let mut fx = Fx::with_frames(2048);
    let (mut vm, _) = loaded(&mut fx);
    let mut rng = Lcg(0x5eed);
    let mut children: Vec<TestVm> = Vec::new();
    let around = vm.mmap_base() - 64 * P;
    for round in 0..6000 {
        let (a, b, c, d, e) = (
            rng.arg(around),
            rng.arg(around),
            rng.next() % 0x40,
            rng.arg(around),
            rng.arg(around),
        );
        match rng.next() % 12 {
            0 | 1 => {
                // Mostly the combinations programs use, sometimes any bits at all.
                let common = [
                    ANON,
                    ANON | MAP_FIXED,
                    SHARED_ANON,
                    SHARED_ANON | MAP_FIXED,
                    ANON | MAP_FIXED_NOREPLACE,
                    ANON | MAP_GROWSDOWN,
                    ANON | MAP_POPULATE,
                    ANON | MAP_32BIT,
                ];
                let flags = match rng.next() % 4 {
                    0 => (rng.next() & 0x1f_fff3) | MAP_ANONYMOUS,
                    _ => common[(rng.next() % common.len() as u64) as usize],
                };
                let len = match rng.next() % 4 {
                    0 => b,
                    _ => (rng.next() % 32 + 1) * P,
                };
                let addr = match rng.next() % 3 {
                    0 => a,
                    _ => around - (rng.next() % 128) * P,
                };
                let _ = vm.mmap(addr, len, c & 0xf, flags, NO_FD, 0, &mut fx.frames);
            }
            2 => {
                let addr = around - (rng.next() % 128) * P;
                let _ = vm.munmap(addr, (rng.next() % 8) * P, &mut fx.frames);
                let _ = vm.munmap(a, b, &mut fx.frames);
            }
            3 => {
                let addr = around - (rng.next() % 128) * P;
                let _ = vm.mprotect(addr, (rng.next() % 8) * P, c & 0x7, &mut fx.frames);
                let _ = vm.mprotect(a, b, c & 0x7, &mut fx.frames);
            }
            4 => {
                let old = around - (rng.next() % 128) * P;
                let old_len = (rng.next() % 8) * P;
                let new_len = (rng.next() % 16 + 1) * P;
                let target = around - (rng.next() % 256) * P;
                let flags = [0, MREMAP_MAYMOVE, MREMAP_MAYMOVE | MREMAP_FIXED][(c % 3) as usize];
                let _ = vm.mremap(old, old_len, new_len, flags, target, &mut fx.frames);
                let _ = vm.mremap(a, b, d % (64 * P), c & 0x7, e, &mut fx.frames);
            }
            5 => {
                let addr = around - (rng.next() % 128) * P;
                let _ = vm.madvise(addr, (rng.next() % 8) * P, c % 26, &mut fx.frames);
                let _ = vm.madvise(a, b, c, &mut fx.frames);
            }
            6 => {
                let _ = vm.brk(a, &mut fx.frames);
            }
            7 => {
                let addr = around - (rng.next() % 256) * P + rng.next() % P;
                let _ = vm.handle_fault(addr, c & 1 != 0, c & 2 != 0, &mut fx.frames);
                let _ = vm.handle_fault(a, c & 1 != 0, c & 2 != 0, &mut fx.frames);
            }
            8 => {
                let _ = vm.write_user(a, &[round as u8; 40], &mut fx.frames);
                let mut buf = [0u8; 40];
                let _ = vm.read_user(a, &mut buf, &mut fx.frames);
                let _ = vm.read_c_string(a, 100, &mut fx.frames);
            }
            9 => {
                let _ = vm.mincore(a, b % (1 << 30), d, &mut fx.frames);
                let _ = vm.msync(a, b, c);
            }
            10 if children.len() < 3 => {
                if let Ok(child) = vm.fork(&mut fx.frames) {
                    children.push(child);
                }
            }
            _ => {
                if let Some(child) = children.pop() {
                    child.destroy(&mut fx.frames);
                }
            }
        }
        if round % 500 == 0 {
            let mut all: Vec<&TestVm> = vec![&vm];
            all.extend(children.iter());
            fx.check(&all);
        }
    }
    let mut all: Vec<&TestVm> = vec![&vm];
    all.extend(children.iter());
    fx.check(&all);
    for child in children {
        child.destroy(&mut fx.frames);
    }
    fx.destroy(vm);
    fx.at_baseline();
}

#[test]
fn area_bookkeeping_merges_splits_and_searches() {
    let mut fx = Fx::new();
    let mut vm = fx.vm();
    // Three adjacent mappings with the same rights are one area; a shared one next to them is not.
    for i in 0..3 {
        fx.mmap(&mut vm, 0x1000_0000 + i * P, P, RW, ANON | MAP_FIXED)
            .unwrap();
    }
    fx.mmap(&mut vm, 0x1000_0000 + 3 * P, P, RW, SHARED_ANON | MAP_FIXED)
        .unwrap();
    assert_eq!(vm.areas().count(), 2);
    // Two shared mappings of different objects never merge.
    fx.mmap(&mut vm, 0x1000_0000 + 4 * P, P, RW, SHARED_ANON | MAP_FIXED)
        .unwrap();
    assert_eq!(vm.areas().count(), 3);
    // Splitting a shared area keeps each part at its place in the object.
    let shm = 0x2000_0000;
    fx.mmap(&mut vm, shm, 3 * P, RW, SHARED_ANON | MAP_FIXED)
        .unwrap();
    for i in 0..3 {
        fx.store(&mut vm, shm + i * P, &[i as u8 + 1]).unwrap();
    }
    vm.mprotect(shm + P, P, PROT_READ, &mut fx.frames).unwrap();
    vm.madvise(shm, 3 * P, MADV_DONTNEED, &mut fx.frames)
        .unwrap();
    for i in 0..3 {
        assert_eq!(fx.byte(&mut vm, shm + i * P), i as u8 + 1);
    }
    vm.mprotect(shm + P, P, RW, &mut fx.frames).unwrap();
    assert_eq!(vm.area_at(shm).unwrap().end, shm + 3 * P, "merged back");
    // The free-range searches.
    let gaps = fx.vm();
    assert_eq!(
        gaps.search_top_down(P, MIN_USER_ADDRESS, 0x10_0000),
        Some(0x10_0000 - P)
    );
    assert_eq!(
        gaps.search_top_down(0x10_0000, MIN_USER_ADDRESS, 0x10_0000),
        None
    );
    assert_eq!(
        vm.search_bottom_up(P, 0x1000_0000, 0x1000_0000 + 6 * P),
        Some(0x1000_0000 + 5 * P)
    );
    assert_eq!(
        vm.search_bottom_up(2 * P, 0x1000_0000, 0x1000_0000 + 6 * P),
        None
    );
    fx.check(&[&vm, &gaps]);
    fx.destroy(gaps);
    fx.destroy(vm);
    fx.at_baseline();
}
