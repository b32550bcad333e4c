//! `BootInfo`: what every boot path (PVH, Linux arm64 Image, Limine) learns about the machine,
//! converged into one shape before the arch-neutral kernel entry runs.

/// A physical address.
pub type PhysAddr = u64;

/// A half-open range of physical memory `[start, start + len)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PhysRange {
    pub start: PhysAddr,
    pub len: u64,
}

impl PhysRange {
    pub const fn new(start: PhysAddr, len: u64) -> Self {
        Self { start, len }
    }
    /// One past the last byte (saturating, so a hostile length cannot wrap).
    pub const fn end(&self) -> PhysAddr {
        self.start.saturating_add(self.len)
    }
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What a range of physical memory may be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    /// Free RAM the kernel may hand out.
    Usable,
    /// RAM holding something the kernel still needs (its own image, the initramfs, the DTB,
    /// boot page tables). Never handed out.
    KernelInUse,
    /// Firmware-reserved, ACPI, MMIO, or anything else that is not free RAM.
    Reserved,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRegion {
    pub range: PhysRange,
    pub kind: MemoryKind,
}

/// How the kernel was entered; recorded for diagnostics (`/proc/cmdline` style reporting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootProtocol {
    /// x86_64 QEMU direct boot through the Xen PVH ELF note (`-kernel <ELF>`).
    Pvh,
    /// AArch64 Linux `Image` protocol: DTB physical address in x0.
    LinuxArm64Image,
    /// The Limine boot protocol (either arch).
    Limine,
}

/// A linear framebuffer handed over by the firmware or bootloader, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framebuffer {
    pub address: PhysAddr,
    pub width: u32,
    pub height: u32,
    pub pitch: u32,
    pub bpp: u16,
}

/// Maximum number of memory-map entries kept. Firmware maps beyond this are truncated with a
/// warning rather than overflowing a buffer (nothing may be allocated this early).
pub const MAX_MEMORY_REGIONS: usize = 64;
/// Maximum kernel command-line length kept (Linux's COMMAND_LINE_SIZE on x86 is 2048).
pub const MAX_COMMAND_LINE: usize = 2048;

/// Everything the boot path learned, in one arch-neutral shape. Fixed-size storage because it is
/// filled before the heap exists.
#[derive(Clone, Debug)]
pub struct BootInfo {
    pub protocol: BootProtocol,
    regions: [MemoryRegion; MAX_MEMORY_REGIONS],
    region_count: usize,
    /// True when entries had to be dropped because the firmware map was larger than we keep.
    pub memory_map_truncated: bool,
    command_line: [u8; MAX_COMMAND_LINE],
    command_line_len: usize,
    /// Where the initramfs (newc cpio) was loaded, if one was given.
    pub initramfs: Option<PhysRange>,
    /// Physical address of the flattened device tree, if the platform has one.
    pub device_tree: Option<PhysAddr>,
    /// Physical address of the ACPI RSDP, if the platform has one.
    pub acpi_rsdp: Option<PhysAddr>,
    pub framebuffer: Option<Framebuffer>,
    /// Where the kernel image itself lies in physical memory.
    pub kernel_image: PhysRange,
    /// Virtual address at which all physical memory is mapped (the "higher-half direct map"):
    /// physical address `p` is readable at `phys_offset + p` from kernel mode.
    pub phys_offset: u64,
}

impl BootInfo {
    pub const fn new(protocol: BootProtocol) -> Self {
        Self {
            protocol,
            regions: [MemoryRegion {
                range: PhysRange::new(0, 0),
                kind: MemoryKind::Reserved,
            }; MAX_MEMORY_REGIONS],
            region_count: 0,
            memory_map_truncated: false,
            command_line: [0; MAX_COMMAND_LINE],
            command_line_len: 0,
            initramfs: None,
            device_tree: None,
            acpi_rsdp: None,
            framebuffer: None,
            kernel_image: PhysRange::new(0, 0),
            phys_offset: 0,
        }
    }

    /// Records one memory-map entry. Empty ranges are ignored; entries past
    /// [`MAX_MEMORY_REGIONS`] set `memory_map_truncated` instead of overflowing.
    pub fn add_region(&mut self, range: PhysRange, kind: MemoryKind) {
        if range.is_empty() {
            return;
        }
        if self.region_count == MAX_MEMORY_REGIONS {
            self.memory_map_truncated = true;
            return;
        }
        self.regions[self.region_count] = MemoryRegion { range, kind };
        self.region_count += 1;
    }

    pub fn memory_map(&self) -> &[MemoryRegion] {
        &self.regions[..self.region_count]
    }

    /// Stores the kernel command line, truncated to [`MAX_COMMAND_LINE`] bytes and cut at the
    /// first NUL (boot protocols hand over C strings).
    pub fn set_command_line(&mut self, bytes: &[u8]) {
        let bytes = bytes.split(|&b| b == 0).next().unwrap_or(&[]);
        let n = bytes.len().min(MAX_COMMAND_LINE);
        self.command_line[..n].copy_from_slice(&bytes[..n]);
        self.command_line_len = n;
    }

    /// The command line as text; bytes that are not UTF-8 end it (they cannot be parameters we
    /// understand, and the rest is still usable).
    pub fn command_line(&self) -> &str {
        let bytes = &self.command_line[..self.command_line_len];
        match core::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => core::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
        }
    }
}

/// Names the board's `main`, `fn(&'static BootInfo) -> !`, as the function every arch's boot code
/// calls (through the symbol `cyphera_board_main`) once the kernel runs on its own page tables
/// with a heap. A `main` of the wrong type is a compile error in the board crate; a board without
/// one fails to link. Re-exported by each arch crate as `arch_*::board_entry!`.
///
/// ```ignore
/// arch_x86_64::board_entry!(main);
/// fn main(boot: &'static hal::boot::BootInfo) -> ! { ... }
/// ```
#[macro_export]
macro_rules! board_entry {
    ($main:path) => {
        #[doc(hidden)]
        #[unsafe(no_mangle)]
        pub fn cyphera_board_main(boot: &'static $crate::boot::BootInfo) -> ! {
            let main: fn(&'static $crate::boot::BootInfo) -> ! = $main;
            main(boot)
        }
    };
}
