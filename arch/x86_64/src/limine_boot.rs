//! The Limine boot protocol: the requests (in the `.requests` section, between Limine's start
//! and end markers, kept by `linker.ld`) and the Rust side of the 64-bit entry (`e_entry`,
//! `cyphera_limine_entry` in `boot.rs`), which turns the responses into the same
//! [`FirmwareInfo`] the PVH path produces and finishes booting on the common path.
//!
//! Limine maps the kernel at its linked (higher-half) addresses but at a physical address of
//! its choosing, with all usable memory at its own HHDM offset; both come from the responses.

use crate::boot::{finish_boot, image_virtual};
use crate::cpu;
use crate::firmware::{FirmwareInfo, RawKind};
use crate::paging::PhysWindow;
use hal::boot::{BootProtocol, PhysRange};
use limine::BaseRevision;
use limine::memory_map::EntryType;
use limine::request::{
    ExecutableAddressRequest, ExecutableCmdlineRequest, HhdmRequest, MemoryMapRequest,
    ModuleRequest, RequestsEndMarker, RequestsStartMarker, RsdpRequest,
};

#[used]
#[unsafe(link_section = ".requests_start_marker")]
static REQUESTS_START: RequestsStartMarker = RequestsStartMarker::new();

#[used]
#[unsafe(link_section = ".requests")]
static BASE_REVISION: BaseRevision = BaseRevision::with_revision(3);

#[used]
#[unsafe(link_section = ".requests")]
static MEMORY_MAP: MemoryMapRequest = MemoryMapRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
static HHDM: HhdmRequest = HhdmRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
static MODULES: ModuleRequest = ModuleRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
static COMMAND_LINE: ExecutableCmdlineRequest = ExecutableCmdlineRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
static EXECUTABLE_ADDRESS: ExecutableAddressRequest = ExecutableAddressRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
static RSDP: RsdpRequest = RsdpRequest::new();

#[used]
#[unsafe(link_section = ".requests_end_marker")]
static REQUESTS_END: RequestsEndMarker = RequestsEndMarker::new();

/// Called from `cyphera_limine_entry` on the kernel's own boot stack, still on Limine's page
/// tables (kernel at its link address, physical memory at the HHDM offset).
pub(crate) extern "C" fn limine_main() -> ! {
    cpu::init();
    // Without these three nothing can be located; a Limine that answers none of them is not
    // one this kernel can run under.
    let hhdm = HHDM
        .get_response()
        .expect("Limine: no HHDM response")
        .offset();
    let address = EXECUTABLE_ADDRESS
        .get_response()
        .expect("Limine: no executable address response");
    let memory_map = MEMORY_MAP
        .get_response()
        .expect("Limine: no memory map response");
    let revision = BASE_REVISION.loaded_revision().unwrap_or(0);

    let mut fw = FirmwareInfo::new(BootProtocol::Limine);
    for entry in memory_map.entries() {
        let kind = match entry.entry_type {
            EntryType::USABLE => RawKind::Usable,
            // Limine's page tables, our stack until the entry switched, and the responses
            // being read now: free once the kernel runs on its own tables.
            EntryType::BOOTLOADER_RECLAIMABLE => RawKind::UsableAfterBoot,
            EntryType::EXECUTABLE_AND_MODULES => RawKind::KernelInUse,
            _ => RawKind::Reserved,
        };
        fw.map.push(entry.base, entry.length, kind);
    }

    if let Some(cmdline) = COMMAND_LINE.get_response() {
        for &byte in cmdline.cmdline().to_bytes() {
            if !fw.push_command_line_byte(byte) {
                break;
            }
        }
    }
    // Module addresses are HHDM pointers; the first module is the initramfs.
    if let Some(module) = MODULES
        .get_response()
        .and_then(|m| m.modules().first().copied())
        && let Some(phys) = (module.addr() as u64).checked_sub(hhdm)
        && module.size() > 0
    {
        fw.initramfs = Some(PhysRange::new(phys, module.size()));
    }
    if let Some(rsdp) = RSDP.get_response() {
        let address = rsdp.address() as u64;
        // Base revision 3 reports it physical, older ones through the HHDM.
        let phys = if revision < 3 && address >= hhdm {
            address - hhdm
        } else {
            address
        };
        fw.acpi_rsdp = (phys != 0).then_some(phys);
    }

    // The image may sit anywhere physically; its link address is fixed. Limine reports the
    // physical address of the lowest loaded virtual address, which is the image start.
    let (image_start, _) = image_virtual();
    let image_phys = address
        .physical_base()
        .wrapping_add(image_start.wrapping_sub(address.virtual_base()));
    finish_boot(&fw, PhysWindow::new(hhdm), u64::MAX, image_phys)
}
