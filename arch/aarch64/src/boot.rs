//! Boot: the Linux arm64 Image header and entry (MMU off, x0 = DTB), the drop from EL2, the
//! boot page tables, the switch to the higher half, and the Rust half of both boot paths (Image
//! here, Limine in `limine_boot.rs`) converging on [`finish`], which fills `BootInfo`, sets up the
//! heap and calls the board.
//!
//! Until the MMU is on the code runs wherever the loader put it, so everything before
//! `cyphera_high_entry` addresses memory PC-relatively (`adrp`/`add`) and derives physical
//! addresses from where `__image_start` actually is.

use crate::memmap::{self, MemoryFacts};
use crate::paging::DIRECT_MAP_BASE;
use crate::{cpu, dtb, kmap, pte};
use hal::boot::{BootInfo, BootProtocol, MemoryKind, PhysRange};
use spin::Once;

/// Link address of the image (see kernel.ld).
pub const KERNEL_VBASE: u64 = 0xffff_ffff_8000_0000;

/// TTBR1 and boot table descriptors (see `pte.rs`; the assembly cannot name Rust items).
const KERNEL_TABLE_BITS: u64 = pte::kernel_table(0);
const TEXT_PAGE: u64 = pte::PAGE | pte::KERNEL_TEXT;
const RODATA_PAGE: u64 = pte::PAGE | pte::KERNEL_RODATA;
const DATA_PAGE: u64 = pte::PAGE | pte::KERNEL_DATA;
/// The 1 GiB identity block holding the MMU-enable code: read-only so WXN leaves it executable.
const IDMAP_BLOCK: u64 =
    pte::BLOCK | pte::ATTR_NORMAL | pte::SH_INNER | pte::AF | pte::AP_RO | pte::UXN;

core::arch::global_asm!(
    r#"
    .section .text.head, "ax"
    .global cyphera_image_header
cyphera_image_header:
    b       cyphera_image_entry     // code0
    .long   0                       // code1
    .quad   0                       // text_offset: anywhere 2 MiB aligned
    .quad   __image_size            // image_size, including bss, boot tables and stack
    .quad   0xa                     // flags: little endian, 4 KiB pages, placement anywhere
    .quad   0, 0, 0                 // res2..res4
    .ascii  "ARM\x64"               // magic
    .long   0                       // res5: no PE/COFF header

    .section .text.boot, "ax"

// Linux Image entry: MMU off, x0 = DTB physical address, EL2 or EL1.
    .global cyphera_image_entry
cyphera_image_entry:
    msr     daifset, #0xf
    mov     x19, x0                         // DTB (physical)
    adrp    x20, __image_start              // where we were loaded (physical)
    add     x20, x20, :lo12:__image_start
    bl      cyphera_el2_to_el1
    msr     spsel, #1                       // the kernel runs on SP_EL1 (see trap.rs)
    ldr     x9, ={sctlr_off}
    msr     sctlr_el1, x9
    isb
    adrp    x9, __stack_top
    add     x9, x9, :lo12:__stack_top
    mov     sp, x9
    mov     x0, x20
    mov     x1, #1
    bl      cyphera_build_kernel_tables
    bl      cyphera_load_mmu_regs
    adrp    x9, __boot_id_l0
    add     x9, x9, :lo12:__boot_id_l0
    msr     ttbr0_el1, x9
    adrp    x9, __boot_l0
    add     x9, x9, :lo12:__boot_l0
    msr     ttbr1_el1, x9
    isb
    tlbi    vmalle1
    ic      iallu
    dsb     nsh
    isb
    ldr     x9, ={sctlr_on}
    msr     sctlr_el1, x9
    isb
    // Still at the physical address, through the identity block; jump to the link address.
    ldr     x9, =cyphera_high_entry
    br      x9

// Returns at EL1 when entered at EL2 (configured so EL1 runs untrapped); returns at once at EL1.
cyphera_el2_to_el1:
    mrs     x9, CurrentEL
    lsr     x9, x9, #2
    cmp     x9, #2
    b.eq    1f
    b.hi    9f
    ret
1:  mov     x9, #(1 << 31)                  // HCR_EL2.RW: EL1 is AArch64; nothing else trapped
    msr     hcr_el2, x9
    isb
    mrs     x9, hcr_el2                     // E2H reads 1 when the CPU forces VHE
    mrs     x10, cnthctl_el2
    orr     x10, x10, #3                    // EL1PCTEN | EL1PCEN
    tbz     x9, #34, 2f
    orr     x10, x10, #(3 << 10)            // the same bits in the E2H layout
2:  msr     cnthctl_el2, x10
    msr     cntvoff_el2, xzr
    mov     x10, #0x33ff                    // CPTR_EL2: no FP/SIMD traps
    tbz     x9, #34, 3f
    mov     x10, #(3 << 20)                 // E2H layout: FPEN = 0b11
3:  msr     cptr_el2, x10
    msr     hstr_el2, xzr
    msr     vttbr_el2, xzr
    mrs     x10, midr_el1
    msr     vpidr_el2, x10
    mrs     x10, mpidr_el1
    msr     vmpidr_el2, x10
    mrs     x10, id_aa64mmfr0_el1           // fine-grained traps: none
    ubfx    x10, x10, #56, #4
    cbz     x10, 4f
    msr     S3_4_C1_C1_4, xzr               // HFGRTR_EL2
    msr     S3_4_C1_C1_5, xzr               // HFGWTR_EL2
    msr     S3_4_C1_C1_6, xzr               // HFGITR_EL2
    msr     S3_4_C3_C1_4, xzr               // HDFGRTR_EL2
    msr     S3_4_C3_C1_5, xzr               // HDFGWTR_EL2
4:  mrs     x10, id_aa64pfr0_el1            // GICv3 CPU interface: let EL1 use ICC_* registers
    ubfx    x10, x10, #24, #4
    cbz     x10, 5f
    mrs     x10, S3_4_C12_C9_5              // ICC_SRE_EL2
    orr     x10, x10, #1                    // SRE
    orr     x10, x10, #8                    // Enable: EL1 accesses are not trapped
    msr     S3_4_C12_C9_5, x10
    isb
5:  ldr     x10, ={sctlr_off}
    msr     sctlr_el1, x10
    mov     x10, #0x3c5                     // EL1h with D, A, I, F masked
    msr     spsr_el2, x10
    msr     elr_el2, x30
    eret
9:  wfe                                     // EL3: not a Linux boot protocol state
    b       9b

// MAIR_EL1 and TCR_EL1 (with IPS from ID_AA64MMFR0_EL1.PARange, capped at 48 bits).
// Clobbers x9, x10.
    .global cyphera_load_mmu_regs
cyphera_load_mmu_regs:
    ldr     x9, ={mair}
    msr     mair_el1, x9
    mrs     x9, id_aa64mmfr0_el1
    and     x9, x9, #0xf
    mov     x10, #{ips_max}
    cmp     x9, x10
    csel    x9, x9, x10, ls
    ldr     x10, ={tcr}
    orr     x10, x10, x9, lsl #32
    msr     tcr_el1, x10
    isb
    ret

// Builds the boot translation tables: TTBR1 maps the image at its link address with 4 KiB
// pages (text RX, rodata R, data/bss/stacks RW, the stacks' guard pages unmapped), TTBR0 an
// identity 1 GiB block around this code. x0 = physical address of __image_start, x1 = 1 when
// the MMU is off (then the tables were written around the caches and stale lines must go).
// Tables are written through their current addresses (adrp: physical with the MMU off, virtual
// under Limine); descriptors hold physical addresses = current + (x0 - current image start).
    .global cyphera_build_kernel_tables
cyphera_build_kernel_tables:
    adrp    x2, __image_start
    add     x2, x2, :lo12:__image_start
    sub     x3, x0, x2                      // current address + x3 = physical address
    mrs     x4, ctr_el0                     // x4 = smallest data cache line
    ubfx    x4, x4, #16, #4
    mov     x5, #4
    lsl     x4, x5, x4
    adrp    x5, __boot_tables_start
    add     x5, x5, :lo12:__boot_tables_start
    adrp    x6, __boot_tables_end
    add     x6, x6, :lo12:__boot_tables_end
    cbz     x1, 2f
    mov     x7, x5
1:  dc      ivac, x7
    add     x7, x7, x4
    cmp     x7, x6
    b.lo    1b
    dsb     sy
2:  mov     x7, x5
3:  stp     xzr, xzr, [x7], #16
    cmp     x7, x6
    b.lo    3b

    ldr     x10, ={table_bits}
    adrp    x7, __boot_l0
    add     x7, x7, :lo12:__boot_l0
    adrp    x8, __boot_kimg_l1
    add     x8, x8, :lo12:__boot_kimg_l1
    add     x9, x8, x3
    orr     x9, x9, x10
    str     x9, [x7, #(511 * 8)]            // L0[511]: 0xffffff80_00000000..
    adrp    x7, __boot_kimg_l2
    add     x7, x7, :lo12:__boot_kimg_l2
    add     x9, x7, x3
    orr     x9, x9, x10
    str     x9, [x8, #(510 * 8)]            // L1[510]: 0xffffffff_80000000..
    adrp    x8, __boot_kimg_l3
    add     x8, x8, :lo12:__boot_kimg_l3
    adrp    x12, __boot_id_l0               // the L3 tables end where the identity L0 starts
    add     x12, x12, :lo12:__boot_id_l0
    sub     x12, x12, x8
    lsr     x12, x12, #12
    mov     x11, #0
4:  add     x9, x8, x11, lsl #12
    add     x9, x9, x3
    orr     x9, x9, x10
    str     x9, [x7, x11, lsl #3]           // L2[i] -> L3 table i
    add     x11, x11, #1
    cmp     x11, x12
    b.lo    4b

    .macro map_pages from, to, attrs
    adrp    x12, \from
    add     x12, x12, :lo12:\from
    adrp    x13, \to
    add     x13, x13, :lo12:\to
    ldr     x14, =\attrs
    sub     x12, x12, x2                    // offsets from the image start
    sub     x13, x13, x2
5:  cmp     x12, x13
    b.hs    6f
    add     x9, x0, x12
    orr     x9, x9, x14
    lsr     x15, x12, #9                    // (offset / 4 KiB) * 8
    str     x9, [x8, x15]
    add     x12, x12, #4096
    b       5b
6:
    .endm
    map_pages __image_start, __text_end, {text_page}
    map_pages __text_end, __rodata_end, {rodata_page}
    map_pages __rodata_end, __stack_guard, {data_page}
    map_pages __stack_bottom, __emergency_stack_guard, {data_page}
    map_pages __emergency_stack_bottom, __image_end, {data_page}

    adrp    x12, cyphera_image_entry        // identity map for the MMU switch
    add     x12, x12, :lo12:cyphera_image_entry
    add     x12, x12, x3
    adrp    x7, __boot_id_l0
    add     x7, x7, :lo12:__boot_id_l0
    adrp    x8, __boot_id_l1
    add     x8, x8, :lo12:__boot_id_l1
    ubfx    x13, x12, #39, #9
    add     x9, x8, x3
    orr     x9, x9, #3
    str     x9, [x7, x13, lsl #3]
    ubfx    x13, x12, #30, #9
    and     x9, x12, #0xffffffffc0000000
    ldr     x14, ={idmap_block}
    orr     x9, x9, x14
    str     x9, [x8, x13, lsl #3]

    cbz     x1, 8f
    dsb     sy
    mov     x7, x5
7:  dc      ivac, x7
    add     x7, x7, x4
    cmp     x7, x6
    b.lo    7b
8:  dsb     ish
    ret

// Switches to the kernel's own tables while running in the higher half (Limine path): the image
// is mapped at the same addresses with the same memory type in both, so only the TLB needs
// flushing. x0 = TTBR1 value, x1 = TTBR0 value.
    .global cyphera_switch_tables
cyphera_switch_tables:
    mov     x2, x30
    bl      cyphera_load_mmu_regs
    msr     ttbr1_el1, x0
    msr     ttbr0_el1, x1
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    ldr     x9, ={sctlr_on}
    msr     sctlr_el1, x9
    isb
    ret     x2

// Zeroes .bss through its current addresses. Clobbers x9, x10.
    .global cyphera_zero_bss
cyphera_zero_bss:
    adrp    x9, __bss_start
    add     x9, x9, :lo12:__bss_start
    adrp    x10, __bss_end
    add     x10, x10, :lo12:__bss_end
1:  cmp     x9, x10
    b.hs    2f
    stp     xzr, xzr, [x9], #16
    b       1b
2:  ret

    .ltorg

    .section .text, "ax"
// First instruction at the link address.
cyphera_high_entry:
    ldr     x9, =__stack_top
    mov     sp, x9
    adrp    x9, __boot_empty_l0             // TTBR0 := nothing (physical address of an empty L0)
    add     x9, x9, :lo12:__boot_empty_l0
    ldr     x10, =__image_start
    sub     x9, x9, x10
    add     x9, x9, x20
    msr     ttbr0_el1, x9
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    bl      cyphera_zero_bss
    adrp    x9, cyphera_vectors
    add     x9, x9, :lo12:cyphera_vectors
    msr     vbar_el1, x9
    isb
    mov     x0, x19
    mov     x1, x20
    mov     x29, xzr
    bl      cyphera_image_main
1:  wfe
    b       1b
    .ltorg
"#,
    sctlr_off = const cpu::SCTLR_MMU_OFF,
    sctlr_on = const cpu::SCTLR_MMU_ON,
    mair = const pte::MAIR_VALUE,
    tcr = const cpu::TCR_BASE,
    ips_max = const cpu::IPS_MAX,
    table_bits = const KERNEL_TABLE_BITS,
    text_page = const TEXT_PAGE,
    rodata_page = const RODATA_PAGE,
    data_page = const DATA_PAGE,
    idmap_block = const IDMAP_BLOCK,
);

unsafe extern "Rust" {
    /// Defined by the board through `board_entry!`.
    fn cyphera_board_main(boot: &'static BootInfo) -> !;
}

unsafe extern "C" {
    static __image_start: u8;
    static __image_end: u8;
    static __boot_l0: u8;
    static __boot_empty_l0: u8;
    static __stack_guard: u8;
    static __stack_bottom: u8;
    static __emergency_stack_guard: u8;
    static __emergency_stack_bottom: u8;
    pub(crate) fn cyphera_build_kernel_tables(phys_base: u64, mmu_off: u64);
    pub(crate) fn cyphera_switch_tables(ttbr1: u64, ttbr0: u64);
}

/// The guard page under each kernel stack (the kernel stack, then the emergency stack), which
/// the boot tables never map; a fault there is reported as a stack overflow.
pub fn kernel_stack_guards() -> [hal::protection::GuardRange; 2] {
    let range = |start: *const u8, end: *const u8| hal::protection::GuardRange {
        start: start as u64,
        end: end as u64,
    };
    [
        range(&raw const __stack_guard, &raw const __stack_bottom),
        range(
            &raw const __emergency_stack_guard,
            &raw const __emergency_stack_bottom,
        ),
    ]
}

/// Link-time (virtual) address of a linker symbol.
macro_rules! symbol_va {
    ($sym:ident) => {
        // Only the address of the linker-defined symbol is taken, never its contents.
        &raw const $sym as u64
    };
}
pub(crate) use symbol_va;

/// The physical range of the loaded image, given where its first byte is.
pub(crate) fn image_range(phys_base: u64) -> PhysRange {
    PhysRange::new(
        phys_base,
        symbol_va!(__image_end) - symbol_va!(__image_start),
    )
}

/// Physical address of a kernel-image virtual address.
pub(crate) fn image_pa(va: u64, phys_base: u64) -> u64 {
    va - KERNEL_VBASE + phys_base
}

pub(crate) fn boot_l0_pa(phys_base: u64) -> u64 {
    image_pa(symbol_va!(__boot_l0), phys_base)
}

pub(crate) fn empty_l0_pa(phys_base: u64) -> u64 {
    image_pa(symbol_va!(__boot_empty_l0), phys_base)
}

static BOOT_INFO: Once<BootInfo> = Once::new();

/// Rust entry of the Linux Image path, in the higher half with the boot tables, bss cleared.
#[unsafe(no_mangle)]
extern "C" fn cyphera_image_main(dtb_pa: u64, phys_base: u64) -> ! {
    cpu::init();
    kmap::init(phys_base);
    let image = image_range(phys_base);

    let dtb_bytes = match kmap::map_dtb(dtb_pa) {
        Ok(bytes) => bytes,
        Err(e) => panic!("no usable device tree at {dtb_pa:#x} (x0 at entry): {e:?}"),
    };
    let fdt = dtb::parse(dtb_bytes).unwrap_or_else(|e| panic!("device tree at {dtb_pa:#x}: {e:?}"));
    let mut facts = MemoryFacts::default();
    if let Err(e) = dtb::collect_memory(&fdt, &mut facts) {
        panic!("device tree memory: {e:?}");
    }
    let chosen = dtb::chosen(&fdt);

    let mut boot = BootInfo::new(BootProtocol::LinuxArm64Image);
    boot.set_command_line(chosen.bootargs);
    boot.initramfs = chosen.initrd;
    boot.device_tree = Some(dtb_pa);
    boot.kernel_image = image;
    boot.phys_offset = DIRECT_MAP_BASE;

    facts.add_hole(image, MemoryKind::KernelInUse);
    facts.add_hole(
        PhysRange::new(dtb_pa, dtb_bytes.len() as u64),
        MemoryKind::KernelInUse,
    );
    if let Some(initrd) = chosen.initrd {
        facts.add_hole(initrd, MemoryKind::KernelInUse);
    }
    finish(boot, facts)
}

/// Common end of both boot paths (running on the kernel's own tables): direct-maps RAM, creates
/// the heap, publishes `BootInfo` and calls the board.
pub(crate) fn finish(mut boot: BootInfo, mut facts: MemoryFacts) -> ! {
    // The image's alias in the direct map is read-only (mapped first: the first mapping of an
    // address wins), so kernel text is never writable through any address.
    if let Err(e) = kmap::map_normal(boot.kernel_image, true) {
        panic!("direct map of the kernel image: {e:?}");
    }
    let mut provisional = boot.clone();
    memmap::build(&mut provisional, &facts);
    for region in provisional.memory_map() {
        if region.kind != MemoryKind::Reserved
            && let Err(e) = kmap::map_normal(region.range, false)
        {
            panic!(
                "direct map of {:#x}+{:#x}: {e:?}",
                region.range.start, region.range.len
            );
        }
    }

    let Some(heap) = kernel_core::memory::choose_heap(&provisional) else {
        panic!("no usable memory for the kernel heap");
    };
    // SAFETY: `heap` lies in usable RAM that nothing else uses (it is carved out of the memory
    // map below), it is mapped read-write in the direct map just above, and the heap is
    // claimed exactly once, before anything allocates.
    let claimed = unsafe {
        kernel_core::memory::HEAP
            .lock()
            .claim((DIRECT_MAP_BASE + heap.start) as *mut u8, heap.len as usize)
    };
    // choose_heap never picks less than 4 MiB, far above talc's minimum arena.
    assert!(claimed.is_some(), "the kernel heap could not be set up");
    facts.add_hole(heap, MemoryKind::KernelInUse);
    memmap::build(&mut boot, &facts);

    crate::paging::set_idle_root(empty_l0_pa(boot.kernel_image.start));
    let boot = BOOT_INFO.call_once(|| boot);
    // SAFETY: `cyphera_board_main` is defined by `board_entry!` with exactly this signature
    // (the macro type-checks the board's function against it).
    unsafe { cyphera_board_main(boot) }
}

/// True when every byte of `range` lies in memory the boot path direct-mapped (any region of
/// the memory map that is not `Reserved`).
fn direct_mapped(boot: &BootInfo, range: PhysRange) -> bool {
    let mut at = range.start;
    for region in boot.memory_map() {
        if at >= range.end() {
            break;
        }
        if region.kind != MemoryKind::Reserved
            && region.range.start <= at
            && at < region.range.end()
        {
            at = region.range.end();
        }
    }
    at >= range.end()
}

/// The initramfs bytes (newc cpio), or empty if none was given or it is not in mapped memory.
pub fn initramfs(boot: &'static BootInfo) -> &'static [u8] {
    match boot.initramfs {
        Some(range) if !range.is_empty() && direct_mapped(boot, range) => {
            // SAFETY: the range is direct-mapped (checked) and recorded KernelInUse, so no frame
            // of it is ever handed out or written.
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

/// The flattened device tree the machine was booted with, if any (mapped read-only).
pub fn device_tree(boot: &'static BootInfo) -> Option<&'static [u8]> {
    let pa = boot.device_tree?;
    // The boot path mapped it and checked its header; map_dtb is idempotent and re-derives the
    // length from that header.
    kmap::map_dtb(pa).ok()
}
