//! Booting: the Xen PVH entry QEMU's `-kernel` uses (32-bit protected mode → long mode on
//! temporary page tables → higher half), and the common Rust path both PVH and Limine finish
//! on: CPU setup, the kernel's final page tables (4 KiB pages for the image with exact rights,
//! a no-execute direct map of all RAM), the [`BootInfo`], the heap, then the board's `main`.

use crate::firmware::{self, FirmwareInfo};
use crate::paging::{self, PhysWindow, pte};
use crate::pvh::{self, PhysMemory};
use crate::{PHYS_OFFSET, cpu};
use core::sync::atomic::{AtomicU64, Ordering};
use hal::boot::{BootInfo, BootProtocol, PhysRange};
use hal::mmu::{FrameAllocator, PAGE_SIZE};
use spin::Once;

/// Kernel virtual address = physical address + this (see `linker.ld`).
pub const KERNEL_VIRT_OFFSET: u64 = 0xffff_ffff_8000_0000;
/// How much physical memory the PVH boot page tables map at [`PHYS_OFFSET`] (the PVH start
/// info, its memory map, command line and the initramfs all lie below 4 GiB).
const BOOT_DIRECT_MAP_END: u64 = 4 << 30;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

core::arch::global_asm!(
    r#"
    .set KOFF, 0xffffffff80000000

    // The PVH entry note QEMU looks for (XEN_ELFNOTE_PHYS32_ENTRY = 18): the physical address
    // of the 32-bit entry point.
    .section .note.Xen, "a", @note
    .balign 4
    .long 4
    .long 8
    .long 18
    .asciz "Xen"
    .balign 4
    .quad cyphera_pvh_entry - KOFF
    .balign 4

    // Temporary page tables: PML4[0] identity-maps 0..1 GiB for the switch to long mode,
    // PML4[256] maps 0..4 GiB at the direct-map base, PML4[511] maps 0..1 GiB at
    // 0xffffffff80000000 (the kernel image), all with 2 MiB pages.
    .section .bss.cyphera_boot_tables, "aw", @nobits
    .balign 4096
cyphera_boot_pml4: .skip 4096
cyphera_boot_pdpt_low: .skip 4096
cyphera_boot_pdpt_direct: .skip 4096
cyphera_boot_pdpt_high: .skip 4096
cyphera_boot_pd: .skip 4 * 4096

    .section .rodata.cyphera_boot, "a"
    .balign 8
cyphera_boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
cyphera_boot_gdt_pointer:
    .short 23
    .long cyphera_boot_gdt - KOFF

    // Entered by QEMU's PVH loader: 32-bit protected mode, paging off, ebx = physical address
    // of the hvm_start_info, everything else (stack, GDT, IDT) ours to set up. Runs at the
    // physical load address, so every absolute address is `symbol - KOFF`.
    .section .text.boot, "ax"
    .code32
    .global cyphera_pvh_entry
cyphera_pvh_entry:
    cli
    cld
    mov esi, ebx

    // No long mode: nothing can be done (not even printing), stop here.
    mov eax, 0x80000000
    cpuid
    cmp eax, 0x80000001
    jb 5f
    mov eax, 0x80000001
    cpuid
    test edx, 1 << 29
    jz 5f

    // QEMU zero-fills .bss; a loader that does not must not leave garbage in the tables.
    mov edi, offset __bss_start - KOFF
    mov ecx, offset __bss_end - KOFF
    sub ecx, edi
    shr ecx, 2
    xor eax, eax
    rep stosd
    mov esp, offset __stack_top - KOFF

    // 2048 entries of 2 MiB (present, writable, huge) = 0..4 GiB in four page directories.
    mov edi, offset cyphera_boot_pd - KOFF
    xor ecx, ecx
3:
    mov eax, ecx
    shl eax, 21
    or eax, 0x83
    mov [edi + ecx * 8], eax
    mov eax, ecx
    shr eax, 11
    mov [edi + ecx * 8 + 4], eax
    inc ecx
    cmp ecx, 2048
    jb 3b

    mov eax, offset cyphera_boot_pd - KOFF
    or eax, 3
    mov dword ptr [cyphera_boot_pdpt_low - KOFF], eax
    mov dword ptr [cyphera_boot_pdpt_high - KOFF + 510 * 8], eax
    mov dword ptr [cyphera_boot_pdpt_direct - KOFF], eax
    add eax, 4096
    mov dword ptr [cyphera_boot_pdpt_direct - KOFF + 8], eax
    add eax, 4096
    mov dword ptr [cyphera_boot_pdpt_direct - KOFF + 16], eax
    add eax, 4096
    mov dword ptr [cyphera_boot_pdpt_direct - KOFF + 24], eax
    mov eax, offset cyphera_boot_pdpt_low - KOFF
    or eax, 3
    mov dword ptr [cyphera_boot_pml4 - KOFF], eax
    mov eax, offset cyphera_boot_pdpt_direct - KOFF
    or eax, 3
    mov dword ptr [cyphera_boot_pml4 - KOFF + 256 * 8], eax
    mov eax, offset cyphera_boot_pdpt_high - KOFF
    or eax, 3
    mov dword ptr [cyphera_boot_pml4 - KOFF + 511 * 8], eax

    // PAE, the tables, EFER.LME, paging: long mode (compatibility sub-mode until the far jump).
    mov eax, cr4
    or eax, 1 << 5
    mov cr4, eax
    mov eax, offset cyphera_boot_pml4 - KOFF
    mov cr3, eax
    mov ecx, 0xc0000080
    rdmsr
    or eax, 1 << 8
    wrmsr
    mov eax, cr0
    or eax, 0x80000001
    mov cr0, eax
    lgdt [cyphera_boot_gdt_pointer - KOFF]
    // Far return into the 64-bit code segment (selector 0x08).
    mov eax, offset cyphera_boot_long_mode - KOFF
    push 0x08
    push eax
    retf

5:
    hlt
    jmp 5b

    .code64
cyphera_boot_long_mode:
    mov eax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax
    movabs rax, offset cyphera_boot_higher_half
    jmp rax
cyphera_boot_higher_half:
    movabs rsp, offset __stack_top
    mov edi, esi
    xor ebp, ebp
    call {pvh_main}
    ud2

    // The Limine entry (ELF e_entry): long mode, Limine's page tables with the kernel at its
    // link address, a Limine stack in bootloader-reclaimable memory. Move to the kernel's own
    // stack at once so that nothing lives in memory the kernel will hand out later.
    .section .text.boot, "ax"
    .global cyphera_limine_entry
cyphera_limine_entry:
    cli
    cld
    lea rsp, [rip + __stack_top]
    xor ebp, ebp
    call {limine_main}
    ud2
    "#,
    pvh_main = sym pvh_main,
    limine_main = sym crate::limine_boot::limine_main,
);

unsafe extern "C" {
    static __kernel_start: u8;
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __stack_guard: u8;
    static __stack_bottom: u8;
    static __kernel_end: u8;
}

unsafe extern "Rust" {
    /// Defined by the board through [`crate::board_entry!`].
    fn cyphera_board_main(boot: &'static BootInfo) -> !;
}

fn symbol(s: *const u8) -> u64 {
    s as u64
}

/// The guard page under every kernel stack: the trap stacks' and the boot stack's. The kernel
/// page tables leave them unmapped; a fault there is reported as a stack overflow.
pub fn kernel_stack_guards() -> [hal::protection::GuardRange; cpu::TRAP_STACKS + 1] {
    let mut guards = [hal::protection::GuardRange {
        start: symbol(&raw const __stack_guard),
        end: symbol(&raw const __stack_bottom),
    }; cpu::TRAP_STACKS + 1];
    for (slot, guard) in guards.iter_mut().take(cpu::TRAP_STACKS).enumerate() {
        *guard = cpu::trap_stack_slot(slot).0;
    }
    guards
}

/// The kernel image's virtual extent, from the linker script.
pub(crate) fn image_virtual() -> (u64, u64) {
    (
        symbol(&raw const __kernel_start),
        symbol(&raw const __kernel_end),
    )
}

/// Physical memory readable through a window up to `limit` (exclusive).
struct Window {
    window: PhysWindow,
    limit: u64,
}

impl PhysMemory for Window {
    fn read(&self, phys: u64, buf: &mut [u8]) -> bool {
        match phys.checked_add(buf.len() as u64) {
            Some(end) if end <= self.limit => {
                // SAFETY: `[phys, end)` lies inside the part of physical memory the current
                // page tables map at the window offset; reading RAM or ROM there is harmless.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        self.window.ptr(phys),
                        buf.as_mut_ptr(),
                        buf.len(),
                    )
                };
                true
            }
            _ => false,
        }
    }
}

/// The Rust side of the PVH entry: on the boot stack, in the higher half, boot page tables.
extern "C" fn pvh_main(start_info: u64) -> ! {
    cpu::init();
    let window = PhysWindow::new(PHYS_OFFSET);
    let mut fw = FirmwareInfo::new(BootProtocol::Pvh);
    let memory = Window {
        window,
        limit: BOOT_DIRECT_MAP_END,
    };
    if let Err(e) = pvh::parse(&memory, start_info, &mut fw) {
        panic!("PVH boot: unusable start info at {start_info:#x}: {e:?}");
    }
    let (start, _) = image_virtual();
    finish_boot(&fw, window, BOOT_DIRECT_MAP_END, start - KERNEL_VIRT_OFFSET)
}

/// Frames for the kernel page tables, handed out in order from a range reserved for them.
struct BumpFrames {
    next: u64,
    end: u64,
}

impl FrameAllocator for BumpFrames {
    fn allocate_frame(&mut self) -> Option<u64> {
        (self.next < self.end).then(|| {
            let frame = self.next;
            self.next += PAGE_SIZE;
            frame
        })
    }
    fn free_frame(&mut self, _frame: u64) {
        // Kernel page tables live as long as the kernel: nothing is ever given back.
    }
}

/// How many `size`-aligned blocks `[start, end)` touches.
fn blocks(start: u64, end: u64, size: u64) -> u64 {
    if end <= start {
        0
    } else {
        (end - 1) / size - start / size + 1
    }
}

/// Page-table frames the final kernel tables need: the PML4, the image's tables (4 KiB pages)
/// and the direct map's (2 MiB pages) up to `direct_end`.
fn table_frames(image_start: u64, image_end: u64, direct_end: u64) -> u64 {
    let image = blocks(image_start, image_end, 512 * GIB)
        + blocks(image_start, image_end, GIB)
        + blocks(image_start, image_end, 2 * MIB);
    let direct = blocks(PHYS_OFFSET, PHYS_OFFSET + direct_end, 512 * GIB)
        + blocks(PHYS_OFFSET, PHYS_OFFSET + direct_end, GIB);
    1 + image + direct
}

static BOOT_INFO: Once<BootInfo> = Once::new();

/// One past the highest physical address the direct map covers (0 until the kernel tables are
/// built): physical memory below it is readable at `PHYS_OFFSET + address`.
static DIRECT_MAP_END: AtomicU64 = AtomicU64::new(0);

/// The direct-map virtual address of the physical range `[phys, phys + len)`, or `None` if any
/// of it lies outside the direct map. Device registers (LAPIC, IOAPIC) are reached this way:
/// 2 MiB blocks of the direct map that hold no RAM are mapped uncacheable.
pub fn direct_map(phys: u64, len: u64) -> Option<u64> {
    let end = phys.checked_add(len)?;
    (end <= DIRECT_MAP_END.load(Ordering::Relaxed)).then(|| PHYS_OFFSET + phys)
}

/// Copies physical memory (firmware tables) into `buf`; false if any of it is outside the
/// direct map.
pub fn read_physical(phys: u64, buf: &mut [u8]) -> bool {
    match direct_map(phys, buf.len() as u64) {
        Some(virt) => {
            // SAFETY: the range is inside the direct map (checked), which maps all of it
            // readable; firmware tables and RAM have no read side effects. A byte copy, so no
            // alignment requirement.
            unsafe {
                core::ptr::copy_nonoverlapping(virt as *const u8, buf.as_mut_ptr(), buf.len())
            };
            true
        }
        None => false,
    }
}

/// Everything after the protocol-specific part: `window` reaches physical memory below
/// `window_limit` right now; the image was loaded at physical `image_phys`.
pub(crate) fn finish_boot(
    fw: &FirmwareInfo,
    window: PhysWindow,
    window_limit: u64,
    image_phys: u64,
) -> ! {
    let (image_start, image_end) = image_virtual();
    let image = PhysRange::new(image_phys, image_end - image_start);

    // The direct map covers all RAM, and never less than the 4 GiB below which firmware tables
    // and devices live.
    let direct_end = firmware::align_up(fw.map.ram_end().max(4 * GIB), GIB)
        .expect("RAM reaches the top of the physical address space");
    let mut fw_checked = fw.clone();
    if let Some(initramfs) = fw.initramfs
        && initramfs.end() > direct_end
    {
        // Not in RAM: reading it would fault. Better no initramfs than a crash.
        fw_checked.initramfs = None;
    }
    let fw = &fw_checked;

    let mut in_use = [image; 4];
    let mut used = 1;
    if let Some(initramfs) = fw.initramfs {
        in_use[used] = initramfs;
        used += 1;
    }
    let frames = table_frames(image_start, image_end, direct_end);
    let pool = fw
        .map
        .find_free(frames * PAGE_SIZE, MIB, window_limit, &in_use[..used])
        .expect("no free RAM for the kernel page tables");
    in_use[used] = PhysRange::new(pool, frames * PAGE_SIZE);
    used += 1;

    let preliminary = firmware::build_boot_info(fw, &in_use[..used], image, PHYS_OFFSET);
    let heap = kernel_core::memory::choose_heap(&preliminary);
    if let Some(heap) = heap {
        in_use[used] = heap;
        used += 1;
    }
    let boot =
        BOOT_INFO.call_once(|| firmware::build_boot_info(fw, &in_use[..used], image, PHYS_OFFSET));

    let mut pool_frames = BumpFrames {
        next: pool,
        end: pool + frames * PAGE_SIZE,
    };
    let root = build_kernel_tables(window, &mut pool_frames, image_phys, direct_end, fw);
    paging::set_kernel_root(root);
    cpu::load_root(root);
    DIRECT_MAP_END.store(direct_end, Ordering::Relaxed);

    if let Some(heap) = heap {
        // SAFETY: the heap range is RAM (choose_heap picks from usable memory), marked
        // KernelInUse so nothing else will use it, and mapped writable at PHYS_OFFSET by the
        // tables just loaded. It is claimed exactly once.
        let claimed = unsafe {
            kernel_core::memory::HEAP
                .lock()
                .claim((PHYS_OFFSET + heap.start) as *mut u8, heap.len as usize)
        };
        // choose_heap never picks less than 4 MiB, far above talc's minimum arena.
        assert!(claimed.is_some(), "the kernel heap could not be set up");
    }
    // SAFETY: the board defines this through `board_entry!`, which checks its signature.
    unsafe { cyphera_board_main(boot) }
}

/// Builds the kernel's page tables in `frames`: the image with the rights of its sections
/// (text RX, rodata R, data/bss/stack RW+NX, the stack guard page unmapped), and all of
/// `[0, direct_end)` at [`PHYS_OFFSET`] as RW+NX 2 MiB pages, uncacheable where a block holds
/// no RAM at all (device registers: the MTRRs usually say so too, but the page tables must not
/// ask for caching of registers). Returns the PML4's physical address.
fn build_kernel_tables(
    window: PhysWindow,
    frames: &mut BumpFrames,
    image_phys: u64,
    direct_end: u64,
    fw: &FirmwareInfo,
) -> u64 {
    let nx = paging::nx_bit();
    let global = if cpu::features().global_pages {
        pte::GLOBAL
    } else {
        0
    };
    let root = frames.allocate_frame().expect("page-table pool too small");
    // SAFETY: the pool frame is reserved for us and reachable through the current window.
    unsafe { core::ptr::write_bytes(window.ptr(root), 0, PAGE_SIZE as usize) };

    let sections = [
        (
            symbol(&raw const __text_start),
            symbol(&raw const __text_end),
            0,
        ),
        (
            symbol(&raw const __rodata_start),
            symbol(&raw const __rodata_end),
            nx,
        ),
        (
            symbol(&raw const __data_start),
            symbol(&raw const __kernel_end),
            pte::WRITABLE | nx,
        ),
    ];
    let guards = kernel_stack_guards();
    let (image_start, _) = image_virtual();
    for (start, end, flags) in sections {
        let mut va = start;
        while va < end {
            if guards.iter().any(|g| g.contains(va)) {
                va += PAGE_SIZE;
                continue;
            }
            let pa = va - image_start + image_phys;
            // SAFETY: building a fresh, inactive table in reserved frames.
            unsafe { paging::map_kernel(window, root, va, pa, 1, flags | global, frames) }
                .expect("page-table pool too small");
            va += PAGE_SIZE;
        }
    }
    let mut pa = 0;
    while pa < direct_end {
        let block = PhysRange::new(pa, 2 * MIB);
        let holds_ram = fw.map.regions().iter().any(|r| {
            r.kind != firmware::RawKind::Reserved
                && r.range.start < block.end()
                && block.start < r.range.end()
        });
        let cache = if holds_ram {
            0
        } else {
            pte::CACHE_DISABLE | pte::WRITE_THROUGH
        };
        // SAFETY: as above.
        unsafe {
            paging::map_kernel(
                window,
                root,
                PHYS_OFFSET + pa,
                pa,
                2,
                pte::WRITABLE | nx | global | cache,
                frames,
            )
        }
        .expect("page-table pool too small");
        pa += 2 * MIB;
    }
    root
}

/// The initramfs as bytes, through the direct map (empty if the boot loader gave none).
pub fn initramfs(boot: &'static BootInfo) -> &'static [u8] {
    match boot.initramfs {
        Some(range) if range.len > 0 => {
            // SAFETY: `finish_boot` kept the initramfs only if it lies inside the direct map;
            // it is marked KernelInUse, so no frame of it is ever handed out or written.
            unsafe {
                core::slice::from_raw_parts(
                    (boot.phys_offset + range.start) as *const u8,
                    range.len as usize,
                )
            }
        }
        _ => &[],
    }
}
