//! ELF load planning: checks an untrusted executable image and turns it into the pages to map and
//! the bytes to copy, or says exactly why Cyphera refuses to run it.
//!
//! Accepted: 64-bit little-endian images for the kernel's own machine that are either `ET_EXEC`
//! (loaded at their link addresses) or `ET_DYN` without `PT_INTERP` (static-pie: the binary
//! relocates itself, so the kernel only picks a base). Anything needing a dynamic linker is refused,
//! as is anything whose layout the kernel would have to guess at.
//!
//! Planning is pure arithmetic over the image: nothing is mapped here, so a hostile file can at
//! worst produce an [`ElfError`]. goblin decodes the header and the program headers, but only after
//! the identification bytes, the program header count, entry size and file bounds have been checked
//! here: goblin then never sees a request it could panic on or allocate much for.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use goblin::container::Endian;
use goblin::elf::header::{
    EI_CLASS, EI_DATA, ELFCLASS32, ELFCLASS64, ELFDATA2LSB, ELFDATA2MSB, ELFMAG, ET_CORE, ET_DYN,
    ET_EXEC, ET_NONE, ET_REL, SELFMAG,
};
use goblin::elf::program_header::{PF_W, PF_X, PT_GNU_STACK, PT_INTERP, PT_LOAD, PT_PHDR};
use goblin::elf64::header::{Header, SIZEOF_EHDR};
use goblin::elf64::program_header::{ProgramHeader, SIZEOF_PHDR};
use hal::mmu::{PAGE_SIZE, PageFlags};

/// `e_machine` of x86_64 executables.
pub const EM_X86_64: u16 = 62;
/// `e_machine` of AArch64 executables.
pub const EM_AARCH64: u16 = 183;

/// More program headers than this is refused. Real static binaries have about a dozen; the cap keeps
/// a hostile `e_phnum` (up to 65535) from costing more than a few KiB to decode.
pub const MAX_PROGRAM_HEADERS: u16 = 128;

/// Nothing is mapped below this address, like Linux's default `vm.mmap_min_addr`: a page at or near
/// 0 would turn NULL-pointer dereferences into silent reads and writes.
pub const MIN_USER_ADDRESS: u64 = 0x1_0000;

/// A single segment may span at most this much memory. Far above any real static binary's segment,
/// but it stops a file of a few hundred bytes from asking the loader to back terabytes of bss.
pub const MAX_SEGMENT_SIZE: u64 = 1 << 30;

/// Size of one ELF64 program header: the only `e_phentsize` accepted (as on Linux).
pub const PHENT_SIZE: u16 = SIZEOF_PHDR as u16;

/// How the image is placed in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfKind {
    /// `ET_EXEC`: loaded at its link addresses.
    Executable,
    /// `ET_DYN` without `PT_INTERP`: position independent, self-relocating, loaded at a chosen base.
    StaticPie,
}

/// Where and how to load an image: the result of [`plan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadPlan {
    pub kind: ElfKind,
    /// Added to every link address: 0 for `ET_EXEC`, chosen base minus the lowest segment page for
    /// static-pie (wrapping arithmetic; only the sums below are meaningful addresses).
    pub load_bias: u64,
    /// `e_entry + load_bias`; always inside an executable segment.
    pub entry: u64,
    /// The non-empty `PT_LOAD` segments in ascending address order. No two segments share a byte. Two
    /// consecutive segments may share one page (the last page of one, the first of the next) only
    /// when their flags are identical; the loader maps such a page once, e.g. by starting each
    /// segment's mapping at `max(segment.vaddr, previous.mem_end)`.
    pub segments: Vec<Segment>,
    /// User address of the program header table for `AT_PHDR`: found through the `PT_LOAD` whose file
    /// bytes contain the table (and checked against `PT_PHDR` when there is one). 0 when no segment
    /// loads the table and there is no `PT_PHDR`, which is what Linux passes for `ET_EXEC` then.
    pub phdr_address: u64,
    /// `AT_PHENT` (always 56) and `AT_PHNUM`.
    pub phent: u16,
    pub phnum: u16,
    /// End of the highest segment, page aligned: where the program break starts.
    pub image_end: u64,
    /// `PT_GNU_STACK` asked for an executable stack (default false without `PT_GNU_STACK`).
    pub stack_executable: bool,
}

/// One `PT_LOAD` segment, placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Start of the first page (page aligned, bias applied), at least [`MIN_USER_ADDRESS`].
    pub vaddr: u64,
    /// End of the last page (page aligned up), at most the `user_end` given to [`plan`].
    pub mem_end: u64,
    /// Exact user address of the first file byte (`p_vaddr + load_bias`).
    pub data_vaddr: u64,
    /// `image[file_offset..file_offset + file_size]` is copied to `data_vaddr`; the bounds were
    /// checked against the image. Everything else in `vaddr..mem_end` is zero (bss and page slack).
    pub file_offset: u64,
    pub file_size: u64,
    /// Write/execute from `p_flags`; read is implied. Never both write and execute.
    pub flags: PageFlags,
}

/// Which part of the file ended too early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfPart {
    Header,
    ProgramHeaders,
    SegmentData,
}

/// Why an image is refused. Addresses are as written in the file (before any bias) unless noted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// The file does not start with `\x7fELF`.
    NotElf,
    /// `ELFCLASS32`: 32-bit programs are not supported, whatever their machine.
    Elf32,
    /// `EI_CLASS` or `EI_DATA` hold a value that is neither of the defined ones.
    BadIdent { class: u8, data: u8 },
    /// `ELFDATA2MSB`.
    BigEndian,
    /// Built for another machine.
    WrongMachine { found: u16, expected: u16 },
    /// `e_type` is not `ET_EXEC` or `ET_DYN` (relocatable objects, core dumps, ...).
    NotExecutable { e_type: u16 },
    /// Has a `PT_INTERP`: needs a dynamic linker (lossy, length-capped copy of its path).
    Dynamic { interpreter: String },
    /// The file ends inside the named part.
    Truncated(ElfPart),
    /// `e_phentsize` is not 56.
    BadProgramHeaderSize(u16),
    /// `e_phnum` above [`MAX_PROGRAM_HEADERS`].
    TooManyProgramHeaders(u16),
    /// `p_align` of a `PT_LOAD` is neither 0 nor a power of two.
    BadAlignment { vaddr: u64, align: u64 },
    /// `p_filesz > p_memsz`.
    FileSizeExceedsMemSize { vaddr: u64 },
    /// A segment asks to be writable and executable at once.
    WriteExecute { vaddr: u64 },
    /// `p_vaddr` and `p_offset` differ in their offset within a page.
    Misaligned { vaddr: u64, offset: u64 },
    /// `p_memsz` above [`MAX_SEGMENT_SIZE`].
    SegmentTooLarge { vaddr: u64, size: u64 },
    /// A segment (placed: bias applied) reaches past the user address range or wraps around.
    OutsideUserRange { start: u64, end: u64 },
    /// A segment (placed) starts below [`MIN_USER_ADDRESS`].
    BelowMinimumAddress { start: u64 },
    /// Two segments share bytes, or share a page while asking for different rights.
    Overlap { first: u64, second: u64 },
    /// No `PT_LOAD` with a non-zero memory size.
    NoLoadableSegments,
    /// `e_entry` is not inside an executable segment.
    EntryNotExecutable { entry: u64 },
    /// `PT_PHDR` does not describe the program header table as the segments load it.
    BadPhdr { vaddr: u64 },
}

fn machine_name(machine: u16) -> Option<&'static str> {
    Some(match machine {
        2 => "SPARC",
        3 => "x86",
        8 => "MIPS",
        20 => "PowerPC",
        21 => "PowerPC64",
        22 => "S/390",
        40 => "ARM",
        43 => "SPARC V9",
        50 => "IA-64",
        62 => "x86-64",
        183 => "AArch64",
        243 => "RISC-V",
        258 => "LoongArch",
        _ => return None,
    })
}

struct Machine(u16);

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match machine_name(self.0) {
            Some(name) => write!(f, "{} ({name})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::NotElf => f.write_str("not an ELF file (bad magic)"),
            ElfError::Elf32 => f.write_str("32-bit ELF (ELFCLASS32) is not supported"),
            ElfError::BadIdent { class, data } => write!(
                f,
                "corrupt ELF identification (EI_CLASS {class}, EI_DATA {data})"
            ),
            ElfError::BigEndian => f.write_str("big-endian ELF (ELFDATA2MSB) is not supported"),
            ElfError::WrongMachine { found, expected } => write!(
                f,
                "ELF is for machine {}, this kernel runs {}",
                Machine(*found),
                Machine(*expected)
            ),
            ElfError::NotExecutable { e_type } => match *e_type {
                ET_NONE => f.write_str("not an executable (ET_NONE)"),
                ET_REL => f.write_str("not an executable (ET_REL)"),
                ET_CORE => f.write_str("not an executable (ET_CORE)"),
                other => write!(f, "not an executable (e_type {other:#x})"),
            },
            ElfError::Dynamic { interpreter } => write!(
                f,
                "dynamically linked (PT_INTERP {interpreter}): only static executables are supported"
            ),
            ElfError::Truncated(ElfPart::Header) => {
                f.write_str("truncated: the ELF header extends past the end of the file")
            }
            ElfError::Truncated(ElfPart::ProgramHeaders) => {
                f.write_str("truncated: program headers extend past the end of the file")
            }
            ElfError::Truncated(ElfPart::SegmentData) => {
                f.write_str("truncated: segment data extends past the end of the file")
            }
            ElfError::BadProgramHeaderSize(size) => write!(
                f,
                "program header entry size is {size}, expected {PHENT_SIZE}"
            ),
            ElfError::TooManyProgramHeaders(n) => {
                write!(f, "too many program headers ({n} > {MAX_PROGRAM_HEADERS})")
            }
            ElfError::BadAlignment { vaddr, align } => write!(
                f,
                "segment at {vaddr:#x}: alignment {align:#x} is not a power of two"
            ),
            ElfError::FileSizeExceedsMemSize { vaddr } => {
                write!(
                    f,
                    "segment at {vaddr:#x}: segment file size exceeds memory size"
                )
            }
            ElfError::WriteExecute { vaddr } => write!(
                f,
                "segment at {vaddr:#x}: segment is both writable and executable (W^X)"
            ),
            ElfError::Misaligned { vaddr, offset } => write!(
                f,
                "misaligned segment (p_offset {offset:#x}/p_vaddr {vaddr:#x} not congruent modulo page size)"
            ),
            ElfError::SegmentTooLarge { vaddr, size } => write!(
                f,
                "segment at {vaddr:#x}: segment too large ({size:#x} bytes, limit {MAX_SEGMENT_SIZE:#x})"
            ),
            ElfError::OutsideUserRange { start, end } => write!(
                f,
                "segment {start:#x}..{end:#x} outside the user address range"
            ),
            ElfError::BelowMinimumAddress { start } => write!(
                f,
                "segment at {start:#x} is below the lowest mappable address {MIN_USER_ADDRESS:#x}"
            ),
            ElfError::Overlap { first, second } => {
                write!(f, "overlapping segments (at {first:#x} and {second:#x})")
            }
            ElfError::NoLoadableSegments => f.write_str("no loadable segments"),
            ElfError::EntryNotExecutable { entry } => {
                write!(f, "entry point {entry:#x} outside any executable segment")
            }
            ElfError::BadPhdr { vaddr } => write!(
                f,
                "PT_PHDR at {vaddr:#x} does not match the loaded program header table"
            ),
        }
    }
}

impl core::error::Error for ElfError {}

fn align_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

fn align_up(x: u64) -> Option<u64> {
    x.checked_add(PAGE_SIZE - 1).map(align_down)
}

/// Checks `image` and plans its loading for a kernel running `machine` (`e_machine`) whose user
/// addresses are `0..user_end`. A static-pie is placed with its lowest page at `pie_base` (rounded
/// down to a page); `pie_base` is ignored for `ET_EXEC`.
pub fn plan(
    image: &[u8],
    machine: u16,
    user_end: u64,
    pie_base: u64,
) -> Result<LoadPlan, ElfError> {
    let header = parse_header(image, machine)?;
    let kind = match header.e_type {
        ET_EXEC => ElfKind::Executable,
        ET_DYN => ElfKind::StaticPie,
        e_type => return Err(ElfError::NotExecutable { e_type }),
    };
    let phdrs = parse_program_headers(image, &header)?;
    if let Some(interp) = phdrs.iter().find(|p| p.p_type == PT_INTERP) {
        return Err(ElfError::Dynamic {
            interpreter: interpreter_name(image, interp),
        });
    }

    let mut loads = Vec::new();
    for ph in phdrs.iter().filter(|p| p.p_type == PT_LOAD) {
        if check_load(image, ph)? {
            loads.push(ph);
        }
    }
    // The ELF spec wants PT_LOADs sorted by p_vaddr; sorting here instead of refusing costs nothing.
    loads.sort_by_key(|ph| ph.p_vaddr);
    let lowest_page = match loads.first() {
        Some(ph) => align_down(ph.p_vaddr),
        None => return Err(ElfError::NoLoadableSegments),
    };
    // `base` is where the lowest page lands. Placing each segment at base + (p_vaddr - lowest_page)
    // with checked addition (rather than adding a wrapping bias) means a placed segment can never
    // wrap around the address space and reappear low.
    let base = match kind {
        ElfKind::Executable => lowest_page,
        ElfKind::StaticPie => align_down(pie_base),
    };
    let load_bias = base.wrapping_sub(lowest_page);

    // Each placed segment with its exact (unaligned) end, needed for the overlap and entry checks.
    let mut placed: Vec<(Segment, u64)> = Vec::with_capacity(loads.len());
    for ph in &loads {
        placed.push(place(ph, base, lowest_page, user_end)?);
    }
    for pair in placed.windows(2) {
        let ((a, a_end), (b, _)) = (&pair[0], &pair[1]);
        // Sorted by start, so checking neighbours covers every pair.
        if *a_end > b.data_vaddr || (a.mem_end > b.vaddr && a.flags != b.flags) {
            return Err(ElfError::Overlap {
                first: a.data_vaddr,
                second: b.data_vaddr,
            });
        }
    }

    // Wrapping is exact here: the segments were placed without wrapping, so the entry lands inside
    // a placed segment exactly when e_entry lies inside that segment's link addresses.
    let entry = header.e_entry.wrapping_add(load_bias);
    if !placed
        .iter()
        .any(|(s, end)| s.flags.execute && entry >= s.data_vaddr && entry < *end)
    {
        return Err(ElfError::EntryNotExecutable {
            entry: header.e_entry,
        });
    }

    let phdr_address = phdr_address(&header, &phdrs, &loads, &placed, load_bias)?;
    // Linux honours the first PT_GNU_STACK only.
    let stack_executable = phdrs
        .iter()
        .find(|p| p.p_type == PT_GNU_STACK)
        .is_some_and(|p| p.p_flags & PF_X != 0);
    let image_end = placed.iter().map(|(s, _)| s.mem_end).max().unwrap_or(0);

    Ok(LoadPlan {
        kind,
        load_bias,
        entry,
        segments: placed.into_iter().map(|(s, _)| s).collect(),
        phdr_address,
        phent: PHENT_SIZE,
        phnum: header.e_phnum,
        image_end,
        stack_executable,
    })
}

/// Validates `e_ident` by hand (goblin would accept any class or byte order), then lets goblin
/// decode the fixed-size header from a slice already known to be long enough.
fn parse_header(image: &[u8], machine: u16) -> Result<Header, ElfError> {
    if image.get(..SELFMAG) != Some(&ELFMAG[..]) {
        return Err(ElfError::NotElf);
    }
    let (Some(&class), Some(&data)) = (image.get(EI_CLASS), image.get(EI_DATA)) else {
        return Err(ElfError::Truncated(ElfPart::Header));
    };
    match class {
        ELFCLASS64 => {}
        ELFCLASS32 => return Err(ElfError::Elf32),
        _ => return Err(ElfError::BadIdent { class, data }),
    }
    match data {
        ELFDATA2LSB => {}
        ELFDATA2MSB => return Err(ElfError::BigEndian),
        _ => return Err(ElfError::BadIdent { class, data }),
    }
    let bytes = image
        .get(..SIZEOF_EHDR)
        .ok_or(ElfError::Truncated(ElfPart::Header))?;
    let header = Header::parse(bytes).map_err(|_| ElfError::Truncated(ElfPart::Header))?;
    if header.e_machine != machine {
        return Err(ElfError::WrongMachine {
            found: header.e_machine,
            expected: machine,
        });
    }
    Ok(header)
}

/// Decodes the program header table after bounding its count, entry size and file range, so that
/// goblin's allocation is at most `MAX_PROGRAM_HEADERS` entries and every read is in bounds.
fn parse_program_headers(image: &[u8], header: &Header) -> Result<Vec<ProgramHeader>, ElfError> {
    let count = header.e_phnum;
    if count == 0 {
        return Err(ElfError::NoLoadableSegments);
    }
    if count > MAX_PROGRAM_HEADERS {
        return Err(ElfError::TooManyProgramHeaders(count));
    }
    if header.e_phentsize != PHENT_SIZE {
        return Err(ElfError::BadProgramHeaderSize(header.e_phentsize));
    }
    let truncated = ElfError::Truncated(ElfPart::ProgramHeaders);
    let start = usize::try_from(header.e_phoff).map_err(|_| truncated.clone())?;
    let end = start
        .checked_add(usize::from(count) * SIZEOF_PHDR)
        .ok_or(truncated.clone())?;
    let table = image.get(start..end).ok_or(truncated.clone())?;
    ProgramHeader::parse(table, 0, usize::from(count), Endian::Little).map_err(|_| truncated)
}

/// The interpreter path for the error message: at most 256 bytes, up to the first NUL, lossy UTF-8.
fn interpreter_name(image: &[u8], interp: &ProgramHeader) -> String {
    let start = usize::try_from(interp.p_offset).ok();
    let len = usize::try_from(interp.p_filesz.min(256)).unwrap_or(0);
    match start
        .and_then(|s| Some(s..s.checked_add(len)?))
        .and_then(|r| image.get(r))
    {
        Some(bytes) => {
            let path = bytes.split(|&b| b == 0).next().unwrap_or(&[]);
            String::from_utf8_lossy(path).into_owned()
        }
        None => String::from("<outside the file>"),
    }
}

/// The placement-independent checks of one `PT_LOAD`. `Ok(false)` for a segment with no memory,
/// which (as on Linux) is ignored entirely.
fn check_load(image: &[u8], ph: &ProgramHeader) -> Result<bool, ElfError> {
    let vaddr = ph.p_vaddr;
    // 0 and 1 both mean "no alignment constraint" in the ELF spec.
    if ph.p_align != 0 && !ph.p_align.is_power_of_two() {
        return Err(ElfError::BadAlignment {
            vaddr,
            align: ph.p_align,
        });
    }
    if ph.p_filesz > ph.p_memsz {
        return Err(ElfError::FileSizeExceedsMemSize { vaddr });
    }
    if ph.p_memsz == 0 {
        return Ok(false);
    }
    if ph.p_flags & PF_W != 0 && ph.p_flags & PF_X != 0 {
        return Err(ElfError::WriteExecute { vaddr });
    }
    if vaddr % PAGE_SIZE != ph.p_offset % PAGE_SIZE {
        return Err(ElfError::Misaligned {
            vaddr,
            offset: ph.p_offset,
        });
    }
    if ph.p_memsz > MAX_SEGMENT_SIZE {
        return Err(ElfError::SegmentTooLarge {
            vaddr,
            size: ph.p_memsz,
        });
    }
    if vaddr.checked_add(ph.p_memsz).is_none() {
        return Err(ElfError::OutsideUserRange {
            start: vaddr,
            end: u64::MAX,
        });
    }
    let file_end = ph.p_offset.checked_add(ph.p_filesz);
    if file_end.is_none_or(|end| end > image.len() as u64) {
        return Err(ElfError::Truncated(ElfPart::SegmentData));
    }
    Ok(true)
}

/// Places one checked `PT_LOAD` so that its link address `lowest_page` lands at `base`, and checks
/// the result against the user range. Returns the segment and its exact end address.
fn place(
    ph: &ProgramHeader,
    base: u64,
    lowest_page: u64,
    user_end: u64,
) -> Result<(Segment, u64), ElfError> {
    // p_vaddr >= lowest_page: the loads are sorted and lowest_page is the first one's page.
    let data_vaddr = base.checked_add(ph.p_vaddr - lowest_page);
    let end = data_vaddr.and_then(|start| start.checked_add(ph.p_memsz));
    let (Some(data_vaddr), Some(end)) = (data_vaddr, end) else {
        return Err(ElfError::OutsideUserRange {
            start: data_vaddr.unwrap_or(u64::MAX),
            end: u64::MAX,
        });
    };
    let vaddr = align_down(data_vaddr);
    if vaddr < MIN_USER_ADDRESS {
        return Err(ElfError::BelowMinimumAddress { start: vaddr });
    }
    let mem_end = match align_up(end) {
        Some(mem_end) if mem_end <= user_end => mem_end,
        _ => {
            return Err(ElfError::OutsideUserRange {
                start: data_vaddr,
                end,
            });
        }
    };
    let segment = Segment {
        vaddr,
        mem_end,
        data_vaddr,
        file_offset: ph.p_offset,
        file_size: ph.p_filesz,
        flags: PageFlags {
            write: ph.p_flags & PF_W != 0,
            execute: ph.p_flags & PF_X != 0,
        },
    };
    Ok((segment, end))
}

/// `AT_PHDR`: the user address where a loaded segment holds the whole program header table (as
/// Linux computes it since 5.18). A `PT_PHDR`, if present, must agree: C runtimes take
/// `AT_PHDR - PT_PHDR.p_vaddr` as the load bias, so a disagreement would misplace TLS and more.
fn phdr_address(
    header: &Header,
    phdrs: &[ProgramHeader],
    loads: &[&ProgramHeader],
    placed: &[(Segment, u64)],
    load_bias: u64,
) -> Result<u64, ElfError> {
    // Cannot overflow: the table was found inside the image by parse_program_headers.
    let table_start = header.e_phoff;
    let table_end = table_start + u64::from(header.e_phnum) * SIZEOF_PHDR as u64;
    let loaded = loads.iter().zip(placed).find_map(|(ph, (segment, _))| {
        // p_offset + p_filesz was checked against the image length.
        let contains = ph.p_offset <= table_start && table_end <= ph.p_offset + ph.p_filesz;
        // Within the file bytes, hence within memsz: no overflow past the segment's checked end.
        contains.then(|| segment.data_vaddr + (table_start - ph.p_offset))
    });
    match phdrs.iter().find(|p| p.p_type == PT_PHDR) {
        Some(pt_phdr) => match loaded {
            Some(address) if address == pt_phdr.p_vaddr.wrapping_add(load_bias) => Ok(address),
            _ => Err(ElfError::BadPhdr {
                vaddr: pt_phdr.p_vaddr,
            }),
        },
        None => Ok(loaded.unwrap_or(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use goblin::elf::program_header::{PF_R, PT_DYNAMIC, PT_NOTE};

    const X86_USER_END: u64 = 0x0000_7fff_ffff_f000;
    const ARM_USER_END: u64 = 0x0001_0000_0000_0000;
    const PIE_BASE: u64 = 0x5555_5555_4000;
    const RX: u32 = PF_R | PF_X;
    const RW: u32 = PF_R | PF_W;

    /// One program header as the test wants it written.
    #[derive(Clone, Copy, Debug)]
    struct Ph {
        p_type: u32,
        flags: u32,
        offset: u64,
        vaddr: u64,
        filesz: u64,
        memsz: u64,
        align: u64,
    }

    fn load(flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Ph {
        Ph {
            p_type: PT_LOAD,
            flags,
            offset,
            vaddr,
            filesz,
            memsz,
            align: 0x1000,
        }
    }

    fn other(p_type: u32, flags: u32, offset: u64, vaddr: u64, size: u64) -> Ph {
        Ph {
            p_type,
            flags,
            offset,
            vaddr,
            filesz: size,
            memsz: size,
            align: 8,
        }
    }

    /// An ELF64 image written field by field (independently of goblin), so each test states the
    /// exact bytes it feeds the parser.
    #[derive(Clone, Debug)]
    struct Elf {
        class: u8,
        data: u8,
        e_type: u16,
        machine: u16,
        entry: u64,
        phoff: u64,
        phentsize: u16,
        phnum: Option<u16>,
        phdrs: Vec<Ph>,
        len: usize,
        extra: Vec<(usize, Vec<u8>)>,
    }

    impl Elf {
        fn bytes(&self) -> Vec<u8> {
            let mut out = vec![0u8; self.len];
            // Segment bytes carry a recognisable pattern: byte i of the file is (i * 7) as u8.
            for (i, b) in out.iter_mut().enumerate().skip(SIZEOF_EHDR) {
                *b = (i * 7) as u8;
            }
            let mut put = |off: usize, bytes: &[u8]| {
                if out.len() < off + bytes.len() {
                    out.resize(off + bytes.len(), 0);
                }
                out[off..off + bytes.len()].copy_from_slice(bytes);
            };
            put(0, b"\x7fELF");
            put(4, &[self.class, self.data, 1, 0]);
            put(16, &self.e_type.to_le_bytes());
            put(18, &self.machine.to_le_bytes());
            put(20, &1u32.to_le_bytes());
            put(24, &self.entry.to_le_bytes());
            put(32, &self.phoff.to_le_bytes());
            put(40, &0u64.to_le_bytes()); // e_shoff
            put(48, &0u32.to_le_bytes()); // e_flags
            put(52, &64u16.to_le_bytes()); // e_ehsize
            put(54, &self.phentsize.to_le_bytes());
            put(
                56,
                &self.phnum.unwrap_or(self.phdrs.len() as u16).to_le_bytes(),
            );
            put(58, &64u16.to_le_bytes()); // e_shentsize
            put(60, &[0, 0, 0, 0]); // e_shnum, e_shstrndx
            for (i, ph) in self.phdrs.iter().enumerate() {
                let mut raw = Vec::new();
                raw.extend_from_slice(&ph.p_type.to_le_bytes());
                raw.extend_from_slice(&ph.flags.to_le_bytes());
                for v in [ph.offset, ph.vaddr, ph.vaddr, ph.filesz, ph.memsz, ph.align] {
                    raw.extend_from_slice(&v.to_le_bytes());
                }
                put(self.phoff as usize + i * SIZEOF_PHDR, &raw);
            }
            for (off, bytes) in &self.extra {
                put(*off, bytes);
            }
            out
        }

        fn plan(&self, machine: u16) -> Result<LoadPlan, ElfError> {
            plan(&self.bytes(), machine, X86_USER_END, PIE_BASE)
        }
    }

    /// A typical static executable: PT_PHDR, text RX (includes the headers), data RW with bss,
    /// PT_GNU_STACK RW.
    fn exec(machine: u16) -> Elf {
        Elf {
            class: ELFCLASS64,
            data: ELFDATA2LSB,
            e_type: ET_EXEC,
            machine,
            entry: 0x40_0100,
            phoff: 64,
            phentsize: PHENT_SIZE,
            phnum: None,
            phdrs: vec![
                other(PT_PHDR, PF_R, 64, 0x40_0040, 4 * 56),
                load(RX, 0, 0x40_0000, 0x1234, 0x1234),
                load(RW, 0x2010, 0x40_3010, 0x100, 0x2000),
                other(PT_GNU_STACK, RW, 0, 0, 0),
            ],
            len: 0x2110,
            extra: Vec::new(),
        }
    }

    /// A static-pie linked at 0 (like `-static-pie` output): PT_PHDR, text, data, PT_DYNAMIC.
    fn pie(machine: u16) -> Elf {
        Elf {
            e_type: ET_DYN,
            entry: 0x100,
            phdrs: vec![
                other(PT_PHDR, PF_R, 64, 0x40, 4 * 56),
                load(RX, 0, 0, 0x1234, 0x1234),
                load(RW, 0x2010, 0x3010, 0x100, 0x2000),
                other(PT_DYNAMIC, RW, 0x2010, 0x3010, 0x40),
            ],
            ..exec(machine)
        }
    }

    fn with_phdrs(elf: &Elf, phdrs: Vec<Ph>) -> Elf {
        Elf {
            phdrs,
            ..elf.clone()
        }
    }

    fn rx() -> PageFlags {
        PageFlags::READ_EXECUTE
    }

    // ---- acceptance ----

    #[test]
    fn x86_64_exec_plan() {
        let plan = exec(EM_X86_64).plan(EM_X86_64).unwrap();
        assert_eq!(plan.kind, ElfKind::Executable);
        assert_eq!(plan.load_bias, 0);
        assert_eq!(plan.entry, 0x40_0100);
        assert_eq!(
            plan.segments,
            vec![
                Segment {
                    vaddr: 0x40_0000,
                    mem_end: 0x40_2000,
                    data_vaddr: 0x40_0000,
                    file_offset: 0,
                    file_size: 0x1234,
                    flags: rx(),
                },
                Segment {
                    vaddr: 0x40_3000,
                    mem_end: 0x40_6000, // 0x403010 + 0x2000 rounded up: the bss is covered
                    data_vaddr: 0x40_3010,
                    file_offset: 0x2010,
                    file_size: 0x100,
                    flags: PageFlags::READ_WRITE,
                },
            ]
        );
        assert_eq!(plan.phdr_address, 0x40_0040);
        assert_eq!((plan.phent, plan.phnum), (56, 4));
        assert_eq!(plan.image_end, 0x40_6000);
        assert!(!plan.stack_executable);
    }

    #[test]
    fn aarch64_exec_plan() {
        let elf = exec(EM_AARCH64);
        let plan = plan(&elf.bytes(), EM_AARCH64, ARM_USER_END, PIE_BASE).unwrap();
        assert_eq!(plan.kind, ElfKind::Executable);
        assert_eq!(plan.entry, 0x40_0100);
        assert_eq!(plan.segments.len(), 2);
        assert_eq!(plan.phdr_address, 0x40_0040);
        // The same file is refused by the other architecture.
        assert!(matches!(
            elf.plan(EM_X86_64),
            Err(ElfError::WrongMachine {
                found: EM_AARCH64,
                expected: EM_X86_64
            })
        ));
    }

    #[test]
    fn static_pie_is_placed_at_pie_base() {
        let plan = pie(EM_X86_64).plan(EM_X86_64).unwrap();
        assert_eq!(plan.kind, ElfKind::StaticPie);
        assert_eq!(plan.load_bias, PIE_BASE);
        assert_eq!(plan.entry, PIE_BASE + 0x100);
        assert_eq!(plan.phdr_address, PIE_BASE + 0x40);
        assert_eq!(plan.segments[0].vaddr, PIE_BASE);
        assert_eq!(plan.segments[0].data_vaddr, PIE_BASE);
        assert_eq!(plan.segments[1].data_vaddr, PIE_BASE + 0x3010);
        assert_eq!(plan.segments[1].vaddr, PIE_BASE + 0x3000);
        assert_eq!(plan.image_end, PIE_BASE + 0x6000);
    }

    #[test]
    fn static_pie_with_nonzero_link_base_and_unaligned_pie_base() {
        // Lowest page 0x20000: bias = base - 0x20000, and an unaligned base is rounded down.
        let elf = with_phdrs(
            &pie(EM_X86_64),
            vec![
                load(RX, 0, 0x2_0000, 0x1234, 0x1234),
                load(RW, 0x2010, 0x2_3010, 0x100, 0x100),
            ],
        );
        let elf = Elf {
            entry: 0x2_0100,
            ..elf
        };
        let plan = plan(&elf.bytes(), EM_X86_64, X86_USER_END, PIE_BASE + 0x123).unwrap();
        assert_eq!(plan.load_bias, PIE_BASE - 0x2_0000);
        assert_eq!(plan.entry, PIE_BASE + 0x100);
        assert_eq!(plan.segments[0].vaddr, PIE_BASE);
        assert_eq!(plan.segments[1].data_vaddr, PIE_BASE + 0x3010);
        // No PT_PHDR: derived from the text segment, which holds the table at file offset 64.
        assert_eq!(plan.phdr_address, PIE_BASE + 64);
    }

    #[test]
    fn phdr_address_derived_without_pt_phdr() {
        let base = exec(EM_X86_64);
        let elf = with_phdrs(&base, base.phdrs[1..].to_vec());
        let plan = elf.plan(EM_X86_64).unwrap();
        assert_eq!(plan.phdr_address, 0x40_0040);
        assert_eq!(plan.phnum, 3);
    }

    #[test]
    fn phdr_address_is_zero_when_the_table_is_not_loaded_and_no_pt_phdr() {
        // Text starts at file offset 0x1000: the table at offset 64 is in no segment.
        let elf = Elf {
            phdrs: vec![load(RX, 0x1000, 0x40_1000, 0x100, 0x100)],
            entry: 0x40_1000,
            ..exec(EM_X86_64)
        };
        assert_eq!(elf.plan(EM_X86_64).unwrap().phdr_address, 0);
    }

    #[test]
    fn bss_only_segment_and_bss_tail() {
        let base = exec(EM_X86_64);
        let mut phdrs = base.phdrs.clone();
        phdrs.push(load(RW, 0x2110, 0x50_0110, 0, 0x10_0000)); // pure bss, 1 MiB
        let plan = with_phdrs(&base, phdrs).plan(EM_X86_64).unwrap();
        let bss = plan.segments[2];
        assert_eq!(
            (bss.vaddr, bss.mem_end, bss.file_size),
            (0x50_0000, 0x60_1000, 0)
        );
        assert_eq!(plan.image_end, 0x60_1000);
    }

    #[test]
    fn segments_are_sorted_and_empty_ones_ignored() {
        let base = exec(EM_X86_64);
        let elf = with_phdrs(
            &base,
            vec![
                load(RW, 0x2010, 0x40_3010, 0x100, 0x100),
                load(RW, 0, 0x1234_5000, 0, 0), // memsz 0: ignored like Linux does
                load(RX, 0, 0x40_0000, 0x1234, 0x1234),
            ],
        );
        let plan = elf.plan(EM_X86_64).unwrap();
        let starts: Vec<u64> = plan.segments.iter().map(|s| s.vaddr).collect();
        assert_eq!(starts, vec![0x40_0000, 0x40_3000]);
        assert_eq!(plan.image_end, 0x40_4000);
    }

    #[test]
    fn many_segments() {
        // R (headers), RX, R (rodata), RW: the usual lld layout, each on its own pages.
        let elf = Elf {
            phdrs: vec![
                load(PF_R, 0, 0x20_0000, 0x300, 0x300),
                load(RX, 0x300, 0x20_1300, 0x500, 0x500),
                load(PF_R, 0x800, 0x20_2800, 0x200, 0x200),
                load(RW, 0xa00, 0x20_3a00, 0x100, 0x900),
            ],
            entry: 0x20_1300,
            len: 0xb00,
            ..exec(EM_AARCH64)
        };
        let plan = elf.plan(EM_AARCH64).unwrap();
        let flags: Vec<PageFlags> = plan.segments.iter().map(|s| s.flags).collect();
        assert_eq!(
            flags,
            vec![
                PageFlags::READ,
                rx(),
                PageFlags::READ,
                PageFlags::READ_WRITE
            ]
        );
        assert_eq!(plan.segments[3].mem_end, 0x20_5000);
        assert_eq!(plan.phdr_address, 0x20_0040);
    }

    #[test]
    fn page_shared_by_segments_with_equal_flags_is_accepted() {
        // Two RW segments whose last/first page coincide (RELRO then data, without padding).
        let base = exec(EM_X86_64);
        let mut phdrs = base.phdrs.clone();
        phdrs.push(load(RW, 0x2110, 0x40_5110, 0, 0x10)); // in the data segment's last page
        let plan = with_phdrs(&base, phdrs).plan(EM_X86_64).unwrap();
        assert_eq!(plan.segments[1].mem_end, 0x40_6000);
        assert_eq!(plan.segments[2].vaddr, 0x40_5000);
    }

    #[test]
    fn gnu_stack_flags() {
        let base = exec(EM_X86_64);
        let mut phdrs = base.phdrs.clone();
        phdrs[3].flags = PF_R | PF_W | PF_X;
        assert!(
            with_phdrs(&base, phdrs.clone())
                .plan(EM_X86_64)
                .unwrap()
                .stack_executable
        );
        phdrs.pop();
        assert!(
            !with_phdrs(&base, phdrs)
                .plan(EM_X86_64)
                .unwrap()
                .stack_executable
        );
    }

    #[test]
    fn other_segment_types_are_ignored() {
        let base = exec(EM_X86_64);
        let mut phdrs = base.phdrs.clone();
        // PT_NOTE with an odd alignment and a bogus address: not loaded, so not judged.
        phdrs.push(Ph {
            align: 3,
            ..other(PT_NOTE, PF_R, 0x100, 5, 0x20)
        });
        assert!(with_phdrs(&base, phdrs).plan(EM_X86_64).is_ok());
    }

    // ---- refusals, one per class ----

    fn refuse(elf: &Elf) -> ElfError {
        elf.plan(elf.machine).unwrap_err()
    }

    #[test]
    fn refuses_bad_magic() {
        let mut bytes = exec(EM_X86_64).bytes();
        bytes[1] = b'X';
        assert_eq!(
            plan(&bytes, EM_X86_64, X86_USER_END, PIE_BASE),
            Err(ElfError::NotElf)
        );
        assert_eq!(
            plan(b"", EM_X86_64, X86_USER_END, PIE_BASE),
            Err(ElfError::NotElf)
        );
        assert_eq!(
            plan(b"#!/bin/sh\n", EM_X86_64, X86_USER_END, PIE_BASE),
            Err(ElfError::NotElf)
        );
        assert_eq!(ElfError::NotElf.to_string(), "not an ELF file (bad magic)");
    }

    #[test]
    fn refuses_elfclass32_even_for_the_right_machine() {
        let err = refuse(&Elf {
            class: ELFCLASS32,
            ..exec(EM_X86_64)
        });
        assert_eq!(err, ElfError::Elf32);
        assert_eq!(err.to_string(), "32-bit ELF (ELFCLASS32) is not supported");
    }

    #[test]
    fn refuses_bad_ident() {
        assert_eq!(
            refuse(&Elf {
                class: 0,
                ..exec(EM_X86_64)
            }),
            ElfError::BadIdent { class: 0, data: 1 }
        );
        assert_eq!(
            refuse(&Elf {
                data: 3,
                ..exec(EM_X86_64)
            }),
            ElfError::BadIdent { class: 2, data: 3 }
        );
    }

    #[test]
    fn refuses_big_endian() {
        assert_eq!(
            refuse(&Elf {
                data: ELFDATA2MSB,
                ..exec(EM_X86_64)
            }),
            ElfError::BigEndian
        );
    }

    #[test]
    fn refuses_wrong_machine() {
        let err = exec(3).plan(EM_AARCH64).unwrap_err();
        assert_eq!(
            err,
            ElfError::WrongMachine {
                found: 3,
                expected: EM_AARCH64
            }
        );
        assert_eq!(
            err.to_string(),
            "ELF is for machine 3 (x86), this kernel runs 183 (AArch64)"
        );
        let unknown = ElfError::WrongMachine {
            found: 9999,
            expected: EM_X86_64,
        };
        assert_eq!(
            unknown.to_string(),
            "ELF is for machine 9999, this kernel runs 62 (x86-64)"
        );
    }

    #[test]
    fn refuses_non_executables() {
        for (e_type, name) in [
            (ET_REL, "ET_REL"),
            (ET_CORE, "ET_CORE"),
            (ET_NONE, "ET_NONE"),
        ] {
            let err = refuse(&Elf {
                e_type,
                ..exec(EM_X86_64)
            });
            assert_eq!(err, ElfError::NotExecutable { e_type });
            assert_eq!(
                err.to_string(),
                alloc::format!("not an executable ({name})")
            );
        }
        assert_eq!(
            refuse(&Elf {
                e_type: 0xfe00,
                ..exec(EM_X86_64)
            }),
            ElfError::NotExecutable { e_type: 0xfe00 }
        );
    }

    #[test]
    fn refuses_dynamic_executables() {
        for base in [pie(EM_X86_64), exec(EM_X86_64)] {
            let mut phdrs = base.phdrs.clone();
            phdrs.insert(1, other(PT_INTERP, PF_R, 0x300, 0x300, 26));
            let mut elf = with_phdrs(&base, phdrs);
            elf.extra
                .push((0x300, b"/lib/ld-musl-x86_64.so.1\0\0".to_vec()));
            let err = refuse(&elf);
            assert_eq!(
                err,
                ElfError::Dynamic {
                    interpreter: "/lib/ld-musl-x86_64.so.1".into()
                }
            );
            assert_eq!(
                err.to_string(),
                "dynamically linked (PT_INTERP /lib/ld-musl-x86_64.so.1): only static executables are supported"
            );
        }
        // A PT_INTERP pointing outside the file is still refused as dynamic.
        let base = pie(EM_X86_64);
        let mut phdrs = base.phdrs.clone();
        phdrs.push(other(PT_INTERP, PF_R, u64::MAX - 3, 0, 100));
        assert!(matches!(
            refuse(&with_phdrs(&base, phdrs)),
            ElfError::Dynamic { .. }
        ));
    }

    #[test]
    fn refuses_truncated_header() {
        let bytes = exec(EM_X86_64).bytes();
        for len in [5, 16, 40, 63] {
            assert_eq!(
                plan(&bytes[..len], EM_X86_64, X86_USER_END, PIE_BASE),
                Err(ElfError::Truncated(ElfPart::Header)),
                "length {len}"
            );
        }
    }

    #[test]
    fn refuses_truncated_program_headers() {
        // e_phoff is patched after writing, so the table really is cut by the end of the file.
        let bytes = exec(EM_X86_64).bytes();
        let mut b = bytes.clone();
        b[32..40].copy_from_slice(&(bytes.len() as u64 - 100).to_le_bytes());
        let err = plan(&b, EM_X86_64, X86_USER_END, PIE_BASE).unwrap_err();
        assert_eq!(err, ElfError::Truncated(ElfPart::ProgramHeaders));
        assert_eq!(
            err.to_string(),
            "truncated: program headers extend past the end of the file"
        );
        // Offsets near the top of the u64 range must not overflow.
        for phoff in [u64::MAX, u64::MAX - 55, 1 << 63] {
            let mut b = bytes.clone();
            b[32..40].copy_from_slice(&phoff.to_le_bytes());
            assert_eq!(
                plan(&b, EM_X86_64, X86_USER_END, PIE_BASE),
                Err(ElfError::Truncated(ElfPart::ProgramHeaders))
            );
        }
    }

    #[test]
    fn refuses_truncated_segment_data() {
        let base = exec(EM_X86_64);
        let mut phdrs = base.phdrs.clone();
        phdrs[2].filesz = 0x101; // one byte past the end of the file
        phdrs[2].memsz = 0x2000;
        assert_eq!(
            refuse(&with_phdrs(&base, phdrs.clone())),
            ElfError::Truncated(ElfPart::SegmentData)
        );
        phdrs[2] = load(RW, u64::MAX - 0xfef, 0x40_3010, 0x100, 0x2000); // offset + size overflows
        assert_eq!(
            refuse(&with_phdrs(&base, phdrs)),
            ElfError::Truncated(ElfPart::SegmentData)
        );
    }

    #[test]
    fn refuses_bad_program_header_size() {
        assert_eq!(
            refuse(&Elf {
                phentsize: 32,
                ..exec(EM_X86_64)
            }),
            ElfError::BadProgramHeaderSize(32)
        );
        assert_eq!(
            refuse(&Elf {
                phentsize: 64,
                ..exec(EM_X86_64)
            }),
            ElfError::BadProgramHeaderSize(64)
        );
    }

    #[test]
    fn refuses_too_many_program_headers() {
        let err = refuse(&Elf {
            phnum: Some(129),
            ..exec(EM_X86_64)
        });
        assert_eq!(err, ElfError::TooManyProgramHeaders(129));
        assert_eq!(err.to_string(), "too many program headers (129 > 128)");
        assert_eq!(
            refuse(&Elf {
                phnum: Some(0xffff),
                ..exec(EM_X86_64)
            }),
            ElfError::TooManyProgramHeaders(0xffff)
        );
        // Exactly 128 is fine when they are present.
        let base = exec(EM_X86_64);
        let mut phdrs = base.phdrs.clone();
        while phdrs.len() < 128 {
            phdrs.push(other(PT_NOTE, PF_R, 0, 0, 0));
        }
        let elf = Elf {
            phoff: 0x3000,
            len: 0x3000 + 128 * 56,
            ..with_phdrs(&base, phdrs)
        };
        // The table is now outside every segment but PT_PHDR claims it is loaded at 0x400040.
        assert_eq!(refuse(&elf), ElfError::BadPhdr { vaddr: 0x40_0040 });
        let mut phdrs = elf.phdrs.clone();
        phdrs.remove(0);
        phdrs.push(other(PT_NOTE, PF_R, 0, 0, 0));
        let plan = with_phdrs(&elf, phdrs).plan(EM_X86_64).unwrap();
        assert_eq!((plan.phnum, plan.phdr_address), (128, 0));
    }

    #[test]
    fn refuses_file_size_above_memory_size() {
        let base = exec(EM_X86_64);
        let mut phdrs = base.phdrs.clone();
        phdrs[2].memsz = 0xff;
        let err = refuse(&with_phdrs(&base, phdrs));
        assert_eq!(err, ElfError::FileSizeExceedsMemSize { vaddr: 0x40_3010 });
        assert!(
            err.to_string()
                .contains("segment file size exceeds memory size")
        );
    }

    #[test]
    fn refuses_segments_outside_the_user_range() {
        let base = exec(EM_X86_64);
        let mut phdrs = base.phdrs.clone();
        phdrs[2] = load(RW, 0x2010, X86_USER_END - 0x1ff0, 0x100, 0x2000); // ends one page too high
        assert!(matches!(
            refuse(&with_phdrs(&base, phdrs.clone())),
            ElfError::OutsideUserRange { .. }
        ));
        phdrs[2] = load(RW, 0x2010, 0xffff_8000_0000_0010, 0x100, 0x100); // kernel half
        assert!(matches!(
            refuse(&with_phdrs(&base, phdrs.clone())),
            ElfError::OutsideUserRange { .. }
        ));
        phdrs[2] = load(RW, 0x2010, u64::MAX - 0xfef, 0x100, 0x2000); // vaddr + memsz overflows
        assert!(matches!(
            refuse(&with_phdrs(&base, phdrs.clone())),
            ElfError::OutsideUserRange { .. }
        ));
        phdrs[2] = load(RW, 0x2010, u64::MAX - 0xfef, 0x100, 0x100); // page end overflows
        assert!(matches!(
            refuse(&with_phdrs(&base, phdrs)),
            ElfError::OutsideUserRange { .. }
        ));
        // A static-pie whose base leaves no room above it.
        let bytes = pie(EM_X86_64).bytes();
        let err = plan(&bytes, EM_X86_64, X86_USER_END, X86_USER_END - 0x1000).unwrap_err();
        assert!(matches!(err, ElfError::OutsideUserRange { .. }));
        let err = plan(&bytes, EM_X86_64, X86_USER_END, u64::MAX - 0xfff).unwrap_err();
        assert!(matches!(err, ElfError::OutsideUserRange { .. }));
        assert!(err.to_string().contains("outside the user address range"));
    }

    #[test]
    fn refuses_segments_below_the_minimum_address() {
        let base = exec(EM_X86_64);
        let elf = Elf {
            phdrs: vec![load(RX, 0, 0, 0x1234, 0x1234)],
            entry: 0x100,
            ..base.clone()
        };
        assert_eq!(refuse(&elf), ElfError::BelowMinimumAddress { start: 0 });
        let elf = Elf {
            phdrs: vec![load(RX, 0, 0xf000, 0x1234, 0x1234)],
            entry: 0xf100,
            ..base
        };
        assert_eq!(
            refuse(&elf),
            ElfError::BelowMinimumAddress { start: 0xf000 }
        );
        // A static-pie placed at 0 is refused the same way.
        let bytes = pie(EM_X86_64).bytes();
        assert_eq!(
            plan(&bytes, EM_X86_64, X86_USER_END, 0),
            Err(ElfError::BelowMinimumAddress { start: 0 })
        );
    }

    #[test]
    fn refuses_overlapping_segments() {
        let base = exec(EM_X86_64);
        // Bytes overlap, same flags.
        let mut phdrs = base.phdrs.clone();
        phdrs.push(load(RW, 0x2100, 0x40_3100, 0x10, 0x10));
        let err = refuse(&with_phdrs(&base, phdrs));
        assert_eq!(
            err,
            ElfError::Overlap {
                first: 0x40_3010,
                second: 0x40_3100
            }
        );
        assert!(err.to_string().starts_with("overlapping segments"));
        // Shared page, different flags (text's last page is the data's first page).
        let mut phdrs = base.phdrs.clone();
        phdrs[2] = load(RW, 0x1310, 0x40_1310, 0x100, 0x100);
        assert_eq!(
            refuse(&with_phdrs(&base, phdrs)),
            ElfError::Overlap {
                first: 0x40_0000,
                second: 0x40_1310
            }
        );
        // Identical segments.
        let mut phdrs = base.phdrs.clone();
        phdrs.push(phdrs[1]);
        assert!(matches!(
            refuse(&with_phdrs(&base, phdrs)),
            ElfError::Overlap { .. }
        ));
    }

    #[test]
    fn refuses_huge_segments() {
        let base = exec(EM_X86_64);
        let mut phdrs = base.phdrs.clone();
        phdrs[2].memsz = MAX_SEGMENT_SIZE + 1;
        let err = refuse(&with_phdrs(&base, phdrs));
        assert_eq!(
            err,
            ElfError::SegmentTooLarge {
                vaddr: 0x40_3010,
                size: MAX_SEGMENT_SIZE + 1
            }
        );
        assert!(err.to_string().contains("segment too large"));
    }

    #[test]
    fn refuses_writable_and_executable_segments() {
        let base = exec(EM_X86_64);
        let mut phdrs = base.phdrs.clone();
        phdrs[1].flags = PF_R | PF_W | PF_X;
        let err = refuse(&with_phdrs(&base, phdrs));
        assert_eq!(err, ElfError::WriteExecute { vaddr: 0x40_0000 });
        assert!(
            err.to_string()
                .contains("segment is both writable and executable (W^X)")
        );
    }

    #[test]
    fn refuses_non_power_of_two_alignment() {
        let base = exec(EM_X86_64);
        let mut phdrs = base.phdrs.clone();
        phdrs[2].align = 0x1800;
        assert_eq!(
            refuse(&with_phdrs(&base, phdrs.clone())),
            ElfError::BadAlignment {
                vaddr: 0x40_3010,
                align: 0x1800
            }
        );
        // 0 and 1 mean "no constraint".
        for align in [0, 1, 0x20_0000] {
            phdrs[2].align = align;
            assert!(
                with_phdrs(&base, phdrs.clone()).plan(EM_X86_64).is_ok(),
                "align {align:#x}"
            );
        }
    }

    #[test]
    fn refuses_misaligned_segments() {
        let base = exec(EM_X86_64);
        let mut phdrs = base.phdrs.clone();
        phdrs[2].vaddr = 0x40_3020;
        let err = refuse(&with_phdrs(&base, phdrs));
        assert_eq!(
            err,
            ElfError::Misaligned {
                vaddr: 0x40_3020,
                offset: 0x2010
            }
        );
        assert!(err.to_string().starts_with("misaligned segment (p_offset"));
    }

    #[test]
    fn refuses_images_without_loadable_segments() {
        let base = exec(EM_X86_64);
        assert_eq!(
            refuse(&Elf {
                phnum: Some(0),
                ..base.clone()
            }),
            ElfError::NoLoadableSegments
        );
        let notes = with_phdrs(&base, vec![other(PT_NOTE, PF_R, 0x100, 0x40_0100, 0x20)]);
        assert_eq!(refuse(&notes), ElfError::NoLoadableSegments);
        let empty = with_phdrs(&base, vec![load(RX, 0, 0x40_0000, 0, 0)]);
        assert_eq!(refuse(&empty), ElfError::NoLoadableSegments);
    }

    #[test]
    fn refuses_entry_outside_executable_segments() {
        for entry in [0x40_3010, 0, 0x40_1234, u64::MAX] {
            let err = refuse(&Elf {
                entry,
                ..exec(EM_X86_64)
            });
            assert_eq!(err, ElfError::EntryNotExecutable { entry });
        }
        // The last byte of the text segment is still inside.
        assert!(
            Elf {
                entry: 0x40_1233,
                ..exec(EM_X86_64)
            }
            .plan(EM_X86_64)
            .is_ok()
        );
        // For a static-pie the check applies to the unbiased e_entry.
        let err = refuse(&Elf {
            entry: 0x3010,
            ..pie(EM_X86_64)
        });
        assert_eq!(err, ElfError::EntryNotExecutable { entry: 0x3010 });
        assert_eq!(
            err.to_string(),
            "entry point 0x3010 outside any executable segment"
        );
    }

    #[test]
    fn refuses_pt_phdr_that_disagrees_with_the_loaded_table() {
        let base = exec(EM_X86_64);
        let mut phdrs = base.phdrs.clone();
        phdrs[0].vaddr = 0x40_0080;
        assert_eq!(
            refuse(&with_phdrs(&base, phdrs)),
            ElfError::BadPhdr { vaddr: 0x40_0080 }
        );
    }

    #[test]
    fn error_messages_are_distinct() {
        let all = [
            ElfError::NotElf,
            ElfError::Elf32,
            ElfError::BadIdent { class: 9, data: 9 },
            ElfError::BigEndian,
            ElfError::WrongMachine {
                found: 3,
                expected: 62,
            },
            ElfError::NotExecutable { e_type: 1 },
            ElfError::Dynamic {
                interpreter: "/x".into(),
            },
            ElfError::Truncated(ElfPart::Header),
            ElfError::Truncated(ElfPart::ProgramHeaders),
            ElfError::Truncated(ElfPart::SegmentData),
            ElfError::BadProgramHeaderSize(1),
            ElfError::TooManyProgramHeaders(200),
            ElfError::BadAlignment { vaddr: 1, align: 3 },
            ElfError::FileSizeExceedsMemSize { vaddr: 1 },
            ElfError::WriteExecute { vaddr: 1 },
            ElfError::Misaligned {
                vaddr: 1,
                offset: 2,
            },
            ElfError::SegmentTooLarge { vaddr: 1, size: 2 },
            ElfError::OutsideUserRange { start: 1, end: 2 },
            ElfError::BelowMinimumAddress { start: 1 },
            ElfError::Overlap {
                first: 1,
                second: 2,
            },
            ElfError::NoLoadableSegments,
            ElfError::EntryNotExecutable { entry: 1 },
            ElfError::BadPhdr { vaddr: 1 },
        ];
        let mut messages: Vec<String> = all.iter().map(|e| e.to_string()).collect();
        messages.sort();
        messages.dedup();
        assert_eq!(messages.len(), all.len());
    }

    // ---- robustness ----

    /// Every property a successful plan promises, checked against the image it came from.
    fn assert_plan_is_sound(plan: &LoadPlan, image: &[u8], user_end: u64) {
        assert!(!plan.segments.is_empty());
        for s in &plan.segments {
            assert!(s.vaddr >= MIN_USER_ADDRESS && s.vaddr.is_multiple_of(PAGE_SIZE));
            assert!(
                s.mem_end <= user_end && s.mem_end.is_multiple_of(PAGE_SIZE) && s.mem_end > s.vaddr
            );
            assert!(s.vaddr <= s.data_vaddr && s.data_vaddr + s.file_size <= s.mem_end);
            assert!(s.file_offset + s.file_size <= image.len() as u64);
            assert!(!(s.flags.write && s.flags.execute));
        }
        for pair in plan.segments.windows(2) {
            assert!(pair[0].data_vaddr < pair[1].data_vaddr && pair[0].vaddr <= pair[1].vaddr);
            assert!(pair[0].mem_end <= pair[1].vaddr || pair[0].flags == pair[1].flags);
        }
        assert!(
            plan.segments
                .iter()
                .any(|s| s.flags.execute && (s.vaddr..s.mem_end).contains(&plan.entry))
        );
        assert_eq!(plan.image_end, plan.segments.last().unwrap().mem_end);
    }

    #[test]
    fn every_truncation_is_handled() {
        for elf in [exec(EM_X86_64), pie(EM_X86_64)] {
            let bytes = elf.bytes();
            for len in 0..bytes.len() {
                match plan(&bytes[..len], EM_X86_64, X86_USER_END, PIE_BASE) {
                    Ok(plan) => assert_plan_is_sound(&plan, &bytes[..len], X86_USER_END),
                    Err(e) => assert!(!e.to_string().is_empty()),
                }
            }
            // The data segment's file bytes end the file: any cut is refused.
            assert!(plan(&bytes[..bytes.len() - 1], EM_X86_64, X86_USER_END, PIE_BASE).is_err());
        }
    }

    /// xorshift64*: deterministic, dependency-free randomness for the mutation loop.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    #[test]
    fn random_mutations_never_panic() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let seeds = [exec(EM_X86_64).bytes(), pie(EM_X86_64).bytes()];
        let mut accepted = 0;
        for i in 0..6000 {
            let mut bytes = seeds[i % 2].clone();
            let flips = 1 + rng.next() % 4;
            for _ in 0..flips {
                // Mostly hit the headers, where the interesting fields are.
                let span = if rng.next().is_multiple_of(4) {
                    bytes.len()
                } else {
                    64 + 4 * 56
                };
                let at = (rng.next() % span as u64) as usize;
                match rng.next() % 3 {
                    0 => bytes[at] ^= 1 << (rng.next() % 8),
                    1 => bytes[at] = rng.next() as u8,
                    _ => bytes[at] = [0, 0xff, 0x7f, 0x80][(rng.next() % 4) as usize],
                }
            }
            if let Ok(plan) = plan(&bytes, EM_X86_64, X86_USER_END, PIE_BASE) {
                assert_plan_is_sound(&plan, &bytes, X86_USER_END);
                accepted += 1;
            }
        }
        // Flips in padding and unused fields keep some images valid: the soundness check ran.
        assert!(accepted > 0);
    }
}
