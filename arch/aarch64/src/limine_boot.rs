//! The Limine boot path: requests in `.requests`, and `cyphera_limine_entry` (the ELF entry
//! point; EL1, MMU on, running at the link address with Limine's tables). Everything Limine
//! hands over is copied into `BootInfo` while its higher-half direct map still exists; then the
//! kernel switches to its own tables (same layout as the Image path) and joins `boot::finish`.

use crate::boot::{self, KERNEL_VBASE, cyphera_build_kernel_tables, cyphera_switch_tables};
use crate::memmap::MemoryFacts;
use crate::paging::DIRECT_MAP_BASE;
use crate::{cpu, dtb, kmap};
use hal::boot::{BootInfo, BootProtocol, MemoryKind, PhysRange};
use limine::BaseRevision;
use limine::memory_map::EntryType;
use limine::paging;
use limine::request::{
    DeviceTreeBlobRequest, ExecutableAddressRequest, ExecutableCmdlineRequest, HhdmRequest,
    MemoryMapRequest, ModuleRequest, PagingModeRequest, RequestsEndMarker, RequestsStartMarker,
};

#[used]
#[unsafe(link_section = ".requests_start_marker")]
static REQUESTS_START: RequestsStartMarker = RequestsStartMarker::new();

#[used]
#[unsafe(link_section = ".requests")]
static BASE_REVISION: BaseRevision = BaseRevision::new();

#[used]
#[unsafe(link_section = ".requests")]
static MEMORY_MAP: MemoryMapRequest = MemoryMapRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
static HHDM: HhdmRequest = HhdmRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
static DEVICE_TREE: DeviceTreeBlobRequest = DeviceTreeBlobRequest::new();

/// The first module is the initramfs.
#[used]
#[unsafe(link_section = ".requests")]
static MODULES: ModuleRequest = ModuleRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
static COMMAND_LINE: ExecutableCmdlineRequest = ExecutableCmdlineRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
static EXECUTABLE_ADDRESS: ExecutableAddressRequest = ExecutableAddressRequest::new();

/// 4-level (48-bit) translation, the same TCR shape the kernel installs, so switching tables is
/// a plain TTBR change.
#[used]
#[unsafe(link_section = ".requests")]
static PAGING_MODE: PagingModeRequest = PagingModeRequest::new()
    .with_mode(paging::Mode::FOUR_LEVEL)
    .with_max_mode(paging::Mode::FOUR_LEVEL)
    .with_min_mode(paging::Mode::FOUR_LEVEL);

#[used]
#[unsafe(link_section = ".requests_end_marker")]
static REQUESTS_END: RequestsEndMarker = RequestsEndMarker::new();

core::arch::global_asm!(
    r#"
    .section .text, "ax"
    .global cyphera_limine_entry
cyphera_limine_entry:
    msr     daifset, #0xf
    msr     spsel, #1                       // the kernel runs on SP_EL1 (see trap.rs)
    adrp    x9, __stack_top                 // leave Limine's stack (bootloader-reclaimable)
    add     x9, x9, :lo12:__stack_top
    mov     sp, x9
    bl      cyphera_zero_bss
    adrp    x9, cyphera_vectors
    add     x9, x9, :lo12:cyphera_vectors
    msr     vbar_el1, x9
    isb
    mov     x29, xzr
    bl      cyphera_limine_main
1:  wfe
    b       1b
"#
);

/// Physical address of something Limine gave as a higher-half direct-map pointer.
fn hhdm_to_phys(ptr: u64, hhdm: u64) -> u64 {
    ptr.wrapping_sub(hhdm)
}

#[unsafe(no_mangle)]
extern "C" fn cyphera_limine_main() -> ! {
    if !BASE_REVISION.is_supported() {
        // No console yet, nowhere to report: this loader speaks an older protocol revision.
        cpu::halt();
    }
    let (Some(hhdm), Some(address), Some(memory_map)) = (
        HHDM.get_response(),
        EXECUTABLE_ADDRESS.get_response(),
        MEMORY_MAP.get_response(),
    ) else {
        cpu::halt();
    };
    let hhdm = hhdm.offset();
    let phys_base = address.physical_base();
    if address.virtual_base() != KERNEL_VBASE {
        // Relocated: the image is linked for exactly one address.
        cpu::halt();
    }

    let mut boot = BootInfo::new(BootProtocol::Limine);
    let mut facts = MemoryFacts::default();
    for entry in memory_map.entries() {
        let range = PhysRange::new(entry.base, entry.length);
        match entry.entry_type {
            EntryType::USABLE => facts.add_ram(range),
            // Loader data (page tables, responses, the DTB copy) and our own image/modules:
            // RAM, but taken.
            EntryType::BOOTLOADER_RECLAIMABLE | EntryType::EXECUTABLE_AND_MODULES => {
                facts.add_ram(range);
                facts.add_hole(range, MemoryKind::KernelInUse);
            }
            _ => facts.add_hole(range, MemoryKind::Reserved),
        }
    }
    let image = boot::image_range(phys_base);
    facts.add_hole(image, MemoryKind::KernelInUse);
    boot.kernel_image = image;
    boot.phys_offset = DIRECT_MAP_BASE;

    if let Some(module) = MODULES.get_response().and_then(|r| r.modules().first()) {
        let range = PhysRange::new(hhdm_to_phys(module.addr() as u64, hhdm), module.size());
        boot.initramfs = Some(range);
        facts.add_hole(range, MemoryKind::KernelInUse);
    }
    if let Some(response) = COMMAND_LINE.get_response() {
        boot.set_command_line(response.cmdline().to_bytes());
    }
    let mut dtb_pa = None;
    if let Some(response) = DEVICE_TREE.get_response() {
        let ptr = response.dtb_ptr() as u64;
        // SAFETY: Limine's pointer is to a DTB in its direct map, mapped for at least its header.
        let header = unsafe { core::slice::from_raw_parts(ptr as *const u8, 8) };
        if let Some(size) = dtb::total_size(header) {
            let pa = hhdm_to_phys(ptr, hhdm);
            facts.add_hole(PhysRange::new(pa, size as u64), MemoryKind::KernelInUse);
            boot.device_tree = Some(pa);
            dtb_pa = Some(pa);
        }
    }

    // From here on nothing of Limine's is dereferenced: everything needed is in `boot`/`facts`.
    // SAFETY: the builder only writes the image's own boot-table pages (mapped RW by Limine)
    // and reads linker symbols; `phys_base` comes from Limine's executable-address response.
    unsafe { cyphera_build_kernel_tables(phys_base, 0) };
    // SAFETY: the new TTBR1 maps the image at the same virtual addresses and with the same memory
    // type as Limine's tables (MAIR slot 0 = normal write-back in both), so execution continues
    // seamlessly; TTBR0 becomes the empty table (no user space yet; this stack and all data in
    // use are in the image).
    unsafe { cyphera_switch_tables(boot::boot_l0_pa(phys_base), boot::empty_l0_pa(phys_base)) };
    cpu::init();
    kmap::init(phys_base);
    if let Some(pa) = dtb_pa
        && let Err(e) = kmap::map_dtb(pa)
    {
        panic!("device tree at {pa:#x}: {e:?}");
    }
    boot::finish(boot, facts)
}
