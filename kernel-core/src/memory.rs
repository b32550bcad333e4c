//! Physical memory: which RAM is free (the boot memory map minus everything in use), the kernel
//! heap's placement, and the frame allocator that hands out 4 KiB frames to page tables and user
//! pages and counts the references to each (copy-on-write and shared mappings share frames).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use hal::boot::{BootInfo, MemoryKind, PhysAddr, PhysRange};
use hal::mmu::{FrameAllocator, PAGE_SIZE};
use talc::TalcLock;
use talc::source::Manual;

/// The kernel heap. The arch boot code gives it its memory (the one `unsafe` step: `claim`) over
/// the range [`choose_heap`] picks, mapped through the direct map, before calling the board.
/// talc rather than a first-fit list: the kernel allocates on most system calls (descriptor
/// tables, path buffers, fork's copies), and a first-fit search over a fragmented free list
/// cost hundreds of instructions per allocation.
#[cfg_attr(all(not(test), target_os = "none"), global_allocator)]
pub static HEAP: TalcLock<spinning_top::RawSpinlock, Manual> = TalcLock::new(Manual);

/// Bytes of the kernel heap in use: what it has handed out plus its bookkeeping around those
/// allocations, i.e. what it could not hand out now. `/proc/meminfo` reports this as `Slab` and
/// `SUnreclaim`, where Linux reports its slab caches (nothing in this heap can be reclaimed).
/// 0 before the arch code gives the heap its memory, and in host tests (HEAP is not the global
/// allocator there).
pub fn heap_in_use() -> u64 {
    // Copied out so that the lock is released before anything else happens.
    let c = *HEAP.lock().counters();
    c.claimed_bytes.saturating_sub(c.available_bytes) as u64
}

/// The part of the kernel heap kept back from growth made at a user's request (new processes and
/// threads, mappings, file data, pipe buffers): 1/8 of it, 4 MiB of the 32 MiB heap a 512 MiB
/// machine gets. Running out of heap is fatal — an allocation failure panics — and without a
/// reserve a fork bomb under the default RLIMIT_NPROC, five processes each at the map count
/// limit, or one file written into tmpfs, each ran the heap dry (measured). Such requests fail
/// instead, with the error Linux gives when memory is short, while the reserve still covers
/// what the kernel must do regardless: finish the calls in progress, exit, reap and close,
/// which give memory back.
const HEAP_RESERVE_DIVISOR: usize = 8;

/// The kernel heap a new process or thread takes with it, beyond the areas of its address space:
/// its process and thread records, descriptor table and names (measured: about 8 KiB for a small
/// process; twice that leaves room for larger tables).
pub const TASK_HEAP: u64 = 16 << 10;
/// The kernel heap one area of an address space takes (measured: 98 bytes, B-tree included).
pub const AREA_HEAP: u64 = 128;
/// The kernel heap one open descriptor takes: its table slot and, for a new one, its open file
/// description (measured: about 200 bytes).
pub const FD_HEAP: u64 = 256;

/// Whether `bytes` more of the kernel heap may go to a user's request and still leave the
/// reserve (see [`HEAP_RESERVE_DIVISOR`]). Always true when the heap has no memory of its own
/// (host tests, where it is not the global allocator).
pub fn heap_room(bytes: u64) -> bool {
    room_beyond(bytes, HEAP_RESERVE_DIVISOR)
}

/// Like [`heap_room`] for file data (tmpfs, whose files live on the heap): it must leave twice
/// the reserve, so that a full file system — ENOSPC, as when Linux's tmpfs reaches its size —
/// still leaves room for processes, mappings and pipes (Linux's tmpfs may take half of RAM,
/// leaving the rest to everything else).
pub fn heap_room_for_files(bytes: u64) -> bool {
    room_beyond(bytes, HEAP_RESERVE_DIVISOR / 2)
}

/// Like [`heap_room`] for data in transit (pipe buffers, taken back as soon as they are read):
/// it may use the first half of the reserve, so that a process that holds the heap down to its
/// reserve (with mappings, say) does not also stop every pipe, through which the processes that
/// would end it may be talking.
pub fn heap_room_in_transit(bytes: u64) -> bool {
    room_beyond(bytes, 2 * HEAP_RESERVE_DIVISOR)
}

fn room_beyond(bytes: u64, reserve_divisor: usize) -> bool {
    let counters = *HEAP.lock().counters();
    room_in(&counters, bytes, reserve_divisor)
}

/// Whether a heap with counters `c` has `bytes` free beyond 1/`reserve_divisor` of its size.
fn room_in(c: &talc::base::Counters, bytes: u64, reserve_divisor: usize) -> bool {
    if c.claimed_bytes == 0 {
        return true;
    }
    let reserve = (c.claimed_bytes / reserve_divisor) as u64;
    c.available_bytes as u64 >= reserve.saturating_add(bytes)
}

/// Frames below 1 MiB are never handed out: on PCs they hold firmware structures, and keeping
/// physical page 0 unused means a zero frame address is always a bug, never a real frame.
const LOW_MEMORY_END: PhysAddr = 0x10_0000;
/// Heap size bounds: 1/16 of free RAM, at least 4 MiB, at most 64 MiB.
const HEAP_MIN: u64 = 4 << 20;
const HEAP_MAX: u64 = 64 << 20;
/// At most this many free ranges are tracked before the heap exists (fixed storage).
const MAX_FREE_RANGES: usize = 128;

fn align_up(x: u64, a: u64) -> Option<u64> {
    x.checked_add(a - 1).map(|v| v & !(a - 1))
}

fn align_down(x: u64, a: u64) -> u64 {
    x & !(a - 1)
}

/// The free RAM in `boot`: every `Usable` region minus every region of any other kind (kernel
/// image, initramfs, DTB, heap, firmware), minus low memory, shrunk to whole pages. Works without
/// the heap (fixed storage); ranges beyond [`MAX_FREE_RANGES`] are dropped.
pub fn free_ranges(boot: &BootInfo) -> FreeRanges {
    let mut out = FreeRanges {
        ranges: [PhysRange::new(0, 0); MAX_FREE_RANGES],
        len: 0,
    };
    for region in boot
        .memory_map()
        .iter()
        .filter(|r| r.kind == MemoryKind::Usable)
    {
        // Subtract every non-usable region from this one; pieces are processed with an explicit
        // work list so a region split in two is handled without recursion.
        let mut work = [PhysRange::new(0, 0); 8];
        let mut work_len = 1;
        work[0] = PhysRange::new(region.range.start.max(LOW_MEMORY_END), 0);
        work[0].len = region.range.end().saturating_sub(work[0].start);
        for taken in boot
            .memory_map()
            .iter()
            .filter(|r| r.kind != MemoryKind::Usable)
        {
            let mut next = [PhysRange::new(0, 0); 8];
            let mut next_len = 0;
            for piece in &work[..work_len] {
                let (a, b) = subtract(*piece, taken.range);
                for part in [a, b].into_iter().flatten() {
                    if next_len < next.len() {
                        next[next_len] = part;
                        next_len += 1;
                    }
                }
            }
            work = next;
            work_len = next_len;
        }
        for piece in &work[..work_len] {
            let (Some(start), end) = (
                align_up(piece.start, PAGE_SIZE),
                align_down(piece.end(), PAGE_SIZE),
            ) else {
                continue;
            };
            if end > start && out.len < MAX_FREE_RANGES {
                out.ranges[out.len] = PhysRange::new(start, end - start);
                out.len += 1;
            }
        }
    }
    out
}

/// `a` minus `b`: up to two pieces (before and after `b`).
fn subtract(a: PhysRange, b: PhysRange) -> (Option<PhysRange>, Option<PhysRange>) {
    if a.is_empty() {
        return (None, None);
    }
    if b.is_empty() || b.end() <= a.start || b.start >= a.end() {
        return (Some(a), None);
    }
    let before = (b.start > a.start).then(|| PhysRange::new(a.start, b.start - a.start));
    let after = (b.end() < a.end()).then(|| PhysRange::new(b.end(), a.end() - b.end()));
    (before, after)
}

/// Free physical ranges, page aligned, in memory-map order.
pub struct FreeRanges {
    ranges: [PhysRange; MAX_FREE_RANGES],
    len: usize,
}

impl FreeRanges {
    pub fn as_slice(&self) -> &[PhysRange] {
        &self.ranges[..self.len]
    }
    pub fn total(&self) -> u64 {
        self.as_slice().iter().map(|r| r.len).sum()
    }
}

/// Picks the physical range for the kernel heap: 1/16 of free RAM clamped to 4..64 MiB, from the
/// start of the largest free range. `None` if no free range is large enough. The caller marks the
/// range `KernelInUse` so that the frame allocator never hands it out.
pub fn choose_heap(boot: &BootInfo) -> Option<PhysRange> {
    let free = free_ranges(boot);
    let size = align_down((free.total() / 16).clamp(HEAP_MIN, HEAP_MAX), PAGE_SIZE);
    let largest = free.as_slice().iter().max_by_key(|r| r.len)?;
    (largest.len >= size).then(|| PhysRange::new(largest.start, size))
}

/// A frame allocator that counts references, so that one frame can back several mappings: a
/// copy-on-write page shared after `fork`, a shared mapping's page in every process that maps it.
/// [`FrameAllocator::allocate_frame`] hands out a frame with one reference,
/// [`Frames::share`] adds one, and [`FrameAllocator::free_frame`] drops one (the frame is free
/// again when none remains).
pub trait Frames: FrameAllocator {
    /// Adds a reference to an allocated frame.
    fn share(&mut self, frame: PhysAddr);
    /// How many references the frame has (0 if it is free).
    fn references(&self, frame: PhysAddr) -> u32;
}

/// Reference counts up to this value live in the per-frame byte; a frame with more references
/// stores `OVERFLOW` there and its exact count in [`BitmapFrameAllocator::overflow`]. Nearly all
/// frames have one or two references, so one byte per frame (256 KiB per GiB of RAM) suffices.
const OVERFLOW: u8 = u8::MAX;

/// A bitmap frame allocator over the free ranges: one bit per 4 KiB frame (set = in use) for the
/// search, and a reference count per frame.
pub struct BitmapFrameAllocator {
    regions: Vec<BitmapRegion>,
    /// Exact counts of the frames whose byte holds [`OVERFLOW`].
    overflow: BTreeMap<PhysAddr, u32>,
    free: u64,
    total: u64,
}

struct BitmapRegion {
    start: PhysAddr,
    frames: u64,
    used: Vec<u64>,
    /// One reference count per frame (see [`OVERFLOW`]); 0 exactly when the bit is clear.
    counts: Vec<u8>,
    /// Word index where the last search succeeded: allocation is O(1) amortised while memory is
    /// handed out in order.
    hint: usize,
}

impl BitmapFrameAllocator {
    pub fn new(free: &[PhysRange]) -> Self {
        let regions: Vec<BitmapRegion> = free
            .iter()
            .filter(|r| r.len >= PAGE_SIZE)
            .map(|r| {
                let frames = r.len / PAGE_SIZE;
                let words = frames.div_ceil(64) as usize;
                let mut used = alloc::vec![0u64; words];
                // Bits past the last frame are permanently "used".
                let tail = frames % 64;
                if tail != 0 {
                    used[words - 1] = !0u64 << tail;
                }
                BitmapRegion {
                    start: r.start,
                    frames,
                    used,
                    counts: alloc::vec![0u8; frames as usize],
                    hint: 0,
                }
            })
            .collect();
        let total = regions.iter().map(|r| r.frames).sum();
        Self {
            regions,
            overflow: BTreeMap::new(),
            free: total,
            total,
        }
    }

    pub fn free_frames(&self) -> u64 {
        self.free
    }

    pub fn total_frames(&self) -> u64 {
        self.total
    }

    /// The region and frame index of an allocated frame. A frame that was never handed out, is
    /// misaligned or is free is a kernel bug: reported loudly rather than corrupting the counts.
    fn locate(&self, frame: PhysAddr, what: &str) -> (usize, usize) {
        assert!(
            frame.is_multiple_of(PAGE_SIZE),
            "{what}: misaligned frame {frame:#x}"
        );
        let Some(r) = self
            .regions
            .iter()
            .position(|r| frame >= r.start && frame < r.start + r.frames * PAGE_SIZE)
        else {
            panic!("{what}: {frame:#x} was never allocatable");
        };
        let index = ((frame - self.regions[r].start) / PAGE_SIZE) as usize;
        (r, index)
    }
}

impl FrameAllocator for BitmapFrameAllocator {
    fn allocate_frame(&mut self) -> Option<PhysAddr> {
        for region in &mut self.regions {
            let words = region.used.len();
            for i in 0..words {
                let w = (region.hint + i) % words;
                let word = region.used[w];
                if word != !0 {
                    let bit = (!word).trailing_zeros() as u64;
                    region.used[w] |= 1 << bit;
                    region.hint = w;
                    let index = w as u64 * 64 + bit;
                    region.counts[index as usize] = 1;
                    self.free -= 1;
                    return Some(region.start + index * PAGE_SIZE);
                }
            }
        }
        None
    }

    fn free_frame(&mut self, frame: PhysAddr) {
        let (r, index) = self.locate(frame, "free_frame");
        let region = &mut self.regions[r];
        match region.counts[index] {
            0 => panic!("free_frame: double free of {frame:#x}"),
            1 => {
                region.counts[index] = 0;
                region.used[index / 64] &= !(1 << (index % 64));
                self.free += 1;
            }
            OVERFLOW => {
                let count = self
                    .overflow
                    .get_mut(&frame)
                    .expect("frame reference overflow entry");
                *count -= 1;
                if *count < u32::from(OVERFLOW) {
                    region.counts[index] = *count as u8;
                    self.overflow.remove(&frame);
                }
            }
            n => region.counts[index] = n - 1,
        }
    }
}

impl Frames for BitmapFrameAllocator {
    fn share(&mut self, frame: PhysAddr) {
        let (r, index) = self.locate(frame, "share");
        let count = &mut self.regions[r].counts[index];
        match *count {
            0 => panic!("share: {frame:#x} is not allocated"),
            OVERFLOW => {
                let exact = self
                    .overflow
                    .get_mut(&frame)
                    .expect("frame reference overflow entry");
                // Four billion references would need more page-table entries than RAM holds.
                *exact = exact
                    .checked_add(1)
                    .expect("frame reference count overflow");
            }
            n if n == OVERFLOW - 1 => {
                *count = OVERFLOW;
                self.overflow.insert(frame, u32::from(OVERFLOW));
            }
            n => *count = n + 1,
        }
    }

    fn references(&self, frame: PhysAddr) -> u32 {
        let (r, index) = self.locate(frame, "references");
        match self.regions[r].counts[index] {
            OVERFLOW => self.overflow.get(&frame).copied().unwrap_or(0),
            n => u32::from(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hal::boot::BootProtocol;

    fn boot_with(regions: &[(u64, u64, MemoryKind)]) -> BootInfo {
        let mut boot = BootInfo::new(BootProtocol::Pvh);
        for &(start, len, kind) in regions {
            boot.add_region(PhysRange::new(start, len), kind);
        }
        boot
    }

    #[test]
    fn heap_room_keeps_the_reserves() {
        let heap = talc::base::Counters {
            claimed_bytes: 32 << 20,
            available_bytes: 5 << 20,
            ..Default::default()
        };
        // Processes and mappings keep 4 MiB (1/8), files 8 MiB (1/4), pipes 2 MiB (1/16).
        assert!(room_in(&heap, 1 << 20, HEAP_RESERVE_DIVISOR));
        assert!(!room_in(&heap, (1 << 20) + 1, HEAP_RESERVE_DIVISOR));
        assert!(!room_in(&heap, 1, HEAP_RESERVE_DIVISOR / 2));
        assert!(room_in(&heap, 3 << 20, 2 * HEAP_RESERVE_DIVISOR));
        assert!(!room_in(&heap, u64::MAX, 2 * HEAP_RESERVE_DIVISOR));
        // A heap without memory of its own (host tests) never refuses.
        assert!(room_in(&Default::default(), u64::MAX, HEAP_RESERVE_DIVISOR));
        assert!(heap_room(1 << 40) && heap_in_use() == 0);
    }

    #[test]
    fn free_ranges_subtract_in_use_and_low_memory() {
        let boot = boot_with(&[
            (0, 0x9fc00, MemoryKind::Usable),
            (0x10_0000, 0x7f0_0000, MemoryKind::Usable),
            (0x20_0000, 0x10_0000, MemoryKind::KernelInUse), // kernel image
            (0x400_0000, 0x1800, MemoryKind::KernelInUse),   // initramfs, not page sized
            (0xfee0_0000, 0x1000, MemoryKind::Reserved),     // outside RAM: no effect
        ]);
        let free = free_ranges(&boot);
        assert_eq!(
            free.as_slice(),
            &[
                PhysRange::new(0x10_0000, 0x10_0000),
                PhysRange::new(0x30_0000, 0x400_0000 - 0x30_0000),
                PhysRange::new(0x400_2000, 0x800_0000 - 0x400_2000),
            ]
        );
    }

    #[test]
    fn heap_is_a_sixteenth_clamped_and_inside_free_memory() {
        let boot = boot_with(&[(0x4000_0000, 512 << 20, MemoryKind::Usable)]);
        assert_eq!(
            choose_heap(&boot),
            Some(PhysRange::new(0x4000_0000, 32 << 20))
        );
        let small = boot_with(&[(0x4000_0000, 16 << 20, MemoryKind::Usable)]);
        assert_eq!(choose_heap(&small).map(|r| r.len), Some(4 << 20));
        let big = boot_with(&[(0x1_0000_0000, 8 << 30, MemoryKind::Usable)]);
        assert_eq!(choose_heap(&big).map(|r| r.len), Some(64 << 20));
        let tiny = boot_with(&[(0x4000_0000, 1 << 20, MemoryKind::Usable)]);
        assert_eq!(choose_heap(&tiny), None);
    }

    #[test]
    fn allocator_hands_out_each_frame_once_and_takes_them_back() {
        let ranges = [
            PhysRange::new(0x10_0000, 3 * PAGE_SIZE),
            PhysRange::new(0x80_0000, 70 * PAGE_SIZE),
        ];
        let mut frames = BitmapFrameAllocator::new(&ranges);
        assert_eq!(frames.total_frames(), 73);
        let mut got = Vec::new();
        while let Some(f) = frames.allocate_frame() {
            assert_eq!(f % PAGE_SIZE, 0);
            assert!(ranges.iter().any(|r| f >= r.start && f < r.end()));
            got.push(f);
        }
        assert_eq!(got.len(), 73);
        got.sort();
        got.dedup();
        assert_eq!(got.len(), 73, "a frame was handed out twice");
        assert_eq!(frames.free_frames(), 0);
        for f in got {
            frames.free_frame(f);
        }
        assert_eq!(frames.free_frames(), 73);
    }

    #[test]
    #[should_panic(expected = "double free")]
    fn double_free_is_caught() {
        let mut frames = BitmapFrameAllocator::new(&[PhysRange::new(0x10_0000, 4 * PAGE_SIZE)]);
        let f = frames.allocate_frame().unwrap();
        frames.free_frame(f);
        frames.free_frame(f);
    }

    #[test]
    fn references_count_up_and_the_last_free_releases_the_frame() {
        let mut frames = BitmapFrameAllocator::new(&[PhysRange::new(0x10_0000, 4 * PAGE_SIZE)]);
        let f = frames.allocate_frame().unwrap();
        assert_eq!(frames.references(f), 1);
        frames.share(f);
        frames.share(f);
        assert_eq!(frames.references(f), 3);
        assert_eq!(frames.free_frames(), 3);
        frames.free_frame(f);
        frames.free_frame(f);
        assert_eq!(frames.references(f), 1);
        assert_eq!(frames.free_frames(), 3, "still referenced");
        frames.free_frame(f);
        assert_eq!(frames.references(f), 0);
        assert_eq!(frames.free_frames(), 4);
        // A freed frame is handed out again with a fresh count.
        let again = frames.allocate_frame().unwrap();
        assert_eq!(frames.references(again), 1);
    }

    #[test]
    fn counts_beyond_a_byte_use_the_overflow_map() {
        let mut frames = BitmapFrameAllocator::new(&[PhysRange::new(0x10_0000, 2 * PAGE_SIZE)]);
        let f = frames.allocate_frame().unwrap();
        for _ in 0..999 {
            frames.share(f);
        }
        assert_eq!(frames.references(f), 1000);
        assert_eq!(frames.overflow.len(), 1);
        for expected in (1..1000).rev() {
            frames.free_frame(f);
            assert_eq!(frames.references(f), expected);
        }
        assert!(frames.overflow.is_empty(), "back in the byte below 255");
        assert_eq!(frames.free_frames(), 1);
        frames.free_frame(f);
        assert_eq!(frames.free_frames(), 2);
    }

    #[test]
    #[should_panic(expected = "not allocated")]
    fn sharing_a_free_frame_is_caught() {
        let mut frames = BitmapFrameAllocator::new(&[PhysRange::new(0x10_0000, 4 * PAGE_SIZE)]);
        let f = frames.allocate_frame().unwrap();
        frames.free_frame(f);
        frames.share(f);
    }
}
