//! The kernel half (TTBR1) after boot: adds direct-map ranges (RAM, the DTB, MMIO) to the boot
//! tables. Table pages come from a fixed pool inside the image (`__boot_pool`), so this works
//! before any allocator exists, and tables are reached through the image mapping, so it works
//! before the direct map does.

use crate::boot::{KERNEL_VBASE, boot_l0_pa, image_pa, symbol_va};
use crate::paging::DIRECT_MAP_BASE;
use crate::{dtb, pte};
use hal::boot::PhysRange;
use hal::mmu::{MapError, PAGE_SIZE};
use spin::Mutex;

unsafe extern "C" {
    static __boot_pool: u8;
    static __boot_pool_end: u8;
}

/// Physical addresses the direct map can hold: L0 slots 0..255 of TTBR1 (128 TiB); the image
/// lives in slot 511.
const DIRECT_MAP_LIMIT: u64 = 1 << 47;
/// Largest DTB accepted (the Linux boot protocol allows 2 MiB; leave room for firmware that
/// appends more).
const MAX_DTB: u64 = 16 << 20;

struct KernelMap {
    phys_base: u64,
    root: u64,
    pool_next: u64,
    pool_end: u64,
}

static KMAP: Mutex<Option<KernelMap>> = Mutex::new(None);

/// Records where the image is; the boot tables (built by the assembly) are already live.
pub fn init(phys_base: u64) {
    *KMAP.lock() = Some(KernelMap {
        phys_base,
        root: boot_l0_pa(phys_base),
        pool_next: symbol_va!(__boot_pool),
        pool_end: symbol_va!(__boot_pool_end),
    });
}

impl KernelMap {
    /// Kernel address of a table page (all of them are in the image).
    fn table(&self, pa: u64) -> *mut u64 {
        (pa - self.phys_base + KERNEL_VBASE) as *mut u64
    }

    fn read(&self, table: u64, index: usize) -> u64 {
        // SAFETY: `table` is the root or a pool page (inside the image, mapped RW) and
        // index < 512.
        unsafe { self.table(table).add(index).read_volatile() }
    }

    fn write(&self, table: u64, index: usize, value: u64) {
        // SAFETY: as in `read`; the KMAP lock serialises all writers.
        unsafe { self.table(table).add(index).write_volatile(value) }
    }

    fn alloc_table(&mut self) -> Result<u64, MapError> {
        if self.pool_next >= self.pool_end {
            return Err(MapError::OutOfMemory);
        }
        let va = self.pool_next;
        self.pool_next += PAGE_SIZE;
        // SAFETY: a pool page handed out once, inside the image's RW boot data.
        unsafe { core::ptr::write_bytes(va as *mut u8, 0, PAGE_SIZE as usize) };
        Ok(image_pa(va, self.phys_base))
    }

    /// Maps `[va, end)` to `pa..` in the table at `level`, using 1 GiB / 2 MiB blocks where
    /// alignment allows. Existing mappings of the same physical pages with the same memory type
    /// are kept (the first mapping of a direct-map address wins); anything else is a conflict.
    fn map(
        &mut self,
        table: u64,
        level: usize,
        mut va: u64,
        mut pa: u64,
        end: u64,
        attrs: u64,
    ) -> Result<(), MapError> {
        while va < end {
            let shift = pte::level_shift(level);
            let size = 1u64 << shift;
            let block_start = va & !(size - 1);
            let chunk_end = block_start
                .checked_add(size)
                .map_or(end, |next| next.min(end));
            let index = pte::index(va, level);
            let desc = self.read(table, index);
            let whole = va == block_start && chunk_end - va == size && pa.is_multiple_of(size);
            if !pte::is_valid(desc) && level == 3 {
                self.write(table, index, pa | pte::PAGE | attrs);
            } else if !pte::is_valid(desc) && whole && (level == 1 || level == 2) {
                self.write(table, index, pa | pte::BLOCK | attrs);
            } else if pte::is_table(desc, level) {
                self.map(pte::address(desc), level + 1, va, pa, chunk_end, attrs)?;
            } else if !pte::is_valid(desc) {
                let new = self.alloc_table()?;
                self.write(table, index, pte::kernel_table(new));
                self.map(new, level + 1, va, pa, chunk_end, attrs)?;
            } else {
                // A block or page already covers this chunk: it must be the same memory.
                let offset = va - block_start;
                let same_type = desc & pte::ATTR_INDEX_MASK == attrs & pte::ATTR_INDEX_MASK;
                if !same_type || pte::address(desc) + offset != pa {
                    return Err(MapError::AlreadyMapped);
                }
            }
            pa += chunk_end - va;
            va = chunk_end;
        }
        Ok(())
    }
}

/// Maps physical `range` (rounded out to pages) at `DIRECT_MAP_BASE + pa` with `attrs`.
fn map_direct(range: PhysRange, attrs: u64) -> Result<(), MapError> {
    if range.is_empty() {
        return Ok(());
    }
    let start = range.start & !(PAGE_SIZE - 1);
    let end = range
        .end()
        .checked_add(PAGE_SIZE - 1)
        .ok_or(MapError::BadAddress)?
        & !(PAGE_SIZE - 1);
    if end > DIRECT_MAP_LIMIT {
        return Err(MapError::BadAddress);
    }
    let mut guard = KMAP.lock();
    let kmap = guard.as_mut().ok_or(MapError::NotMapped)?;
    let root = kmap.root;
    let result = kmap.map(
        root,
        0,
        DIRECT_MAP_BASE + start,
        start,
        DIRECT_MAP_BASE + end,
        attrs,
    );
    // SAFETY: barrier only: the new entries reach the table walker before they are used. New
    // valid entries replace invalid ones, which the TLB never caches, so no invalidation.
    unsafe { core::arch::asm!("dsb ishst", "isb", options(nostack, preserves_flags)) };
    result
}

/// Direct-maps RAM as normal write-back memory, never executable; `read_only` for aliases of
/// the kernel image and other data the kernel must not modify.
pub fn map_normal(range: PhysRange, read_only: bool) -> Result<(), MapError> {
    let attrs = if read_only {
        pte::KERNEL_DATA | pte::AP_RO
    } else {
        pte::KERNEL_DATA
    };
    map_direct(range, attrs)
}

/// Maps an MMIO region (Device-nGnRE, never executable) into the direct map and returns the
/// kernel virtual address of `pa`. Mapping the same device twice is fine; mapping RAM as a
/// device is refused.
pub fn map_device(pa: u64, len: u64) -> Result<u64, MapError> {
    map_direct(PhysRange::new(pa, len.max(1)), pte::KERNEL_DEVICE)?;
    Ok(DIRECT_MAP_BASE + pa)
}

/// Maps the DTB at `pa` read-only and returns its bytes (as long as its header says).
pub fn map_dtb(pa: u64) -> Result<&'static [u8], MapError> {
    if pa == 0 || !pa.is_multiple_of(8) {
        return Err(MapError::BadAddress);
    }
    map_direct(PhysRange::new(pa, 8), pte::KERNEL_DATA | pte::AP_RO)?;
    let va = DIRECT_MAP_BASE + pa;
    // SAFETY: the 8 header bytes were just mapped (read-only, normal memory).
    let header = unsafe { core::slice::from_raw_parts(va as *const u8, 8) };
    let size = dtb::total_size(header).ok_or(MapError::NotMapped)? as u64;
    if size > MAX_DTB {
        return Err(MapError::BadAddress);
    }
    map_direct(PhysRange::new(pa, size), pte::KERNEL_DATA | pte::AP_RO)?;
    // SAFETY: the whole blob is mapped read-only for the rest of the kernel's life, and its
    // memory is recorded as in use so nothing reuses it.
    Ok(unsafe { core::slice::from_raw_parts(va as *const u8, size as usize) })
}
