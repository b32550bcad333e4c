//! ELF → flat kernel Image, as `llvm-objcopy -O binary` would make it: every PT_LOAD segment's
//! file bytes placed at (p_paddr - lowest p_paddr), gaps zero-filled. QEMU's AArch64 direct
//! kernel boot loads such an Image when it starts with the Linux arm64 Image header.

use goblin::elf::{Elf, program_header::PT_LOAD};

use crate::error::{Result, bail};

/// Refuse images larger than this: a segment at a wild physical address would otherwise make
/// xtask allocate gigabytes of zeros.
const MAX_IMAGE: u64 = 256 << 20;

/// The flat binary of an ELF's loadable segments (those with file bytes).
pub fn flat_image(elf_bytes: &[u8]) -> Result<Vec<u8>> {
    let elf = Elf::parse(elf_bytes)?;
    let segments: Vec<_> = elf
        .program_headers
        .iter()
        .filter(|p| p.p_type == PT_LOAD && p.p_filesz > 0)
        .collect();
    let Some(base) = segments.iter().map(|p| p.p_paddr).min() else {
        bail!("no PT_LOAD segment with file contents");
    };
    let mut end = 0u64;
    for p in &segments {
        let Some(seg_end) = (p.p_paddr - base).checked_add(p.p_filesz) else {
            bail!("segment at {:#x} overflows", p.p_paddr);
        };
        if p.p_offset
            .checked_add(p.p_filesz)
            .is_none_or(|e| e > elf_bytes.len() as u64)
        {
            bail!(
                "segment at {:#x} extends past the end of the file",
                p.p_paddr
            );
        }
        end = end.max(seg_end);
    }
    if end > MAX_IMAGE {
        bail!(
            "the loadable segments span {end:#x} bytes from physical address {base:#x} \
             (more than {MAX_IMAGE:#x}); is a segment's p_paddr wrong?"
        );
    }
    let mut image = vec![0u8; end as usize];
    let mut placed: Vec<(u64, u64)> = Vec::new();
    for p in &segments {
        let at = p.p_paddr - base;
        let range = (at, at + p.p_filesz);
        if let Some(other) = placed.iter().find(|o| o.0 < range.1 && range.0 < o.1) {
            bail!(
                "segments overlap in physical memory: [{:#x}, {:#x}) and [{:#x}, {:#x})",
                base + other.0,
                base + other.1,
                base + range.0,
                base + range.1
            );
        }
        placed.push(range);
        let src = &elf_bytes[p.p_offset as usize..(p.p_offset + p.p_filesz) as usize];
        image[at as usize..range.1 as usize].copy_from_slice(src);
    }
    Ok(image)
}

/// True if `image` starts with a Linux arm64 Image header (Documentation/arch/arm64/booting.rst:
/// magic "ARM\x64" at offset 0x38).
pub fn has_arm64_image_header(image: &[u8]) -> bool {
    image.get(0x38..0x3c) == Some(b"ARM\x64")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal ELF64 little-endian file with the given (p_type, p_offset, p_paddr, p_filesz,
    /// p_memsz) program headers and `data` appended after the headers at offset 0x1000.
    pub(crate) fn elf_with_segments(
        machine: u16,
        e_type: u16,
        segments: &[(u32, u64, u64, u64, u64)],
        data: &[u8],
    ) -> Vec<u8> {
        let mut f = vec![0u8; 0x1000];
        f[0..4].copy_from_slice(b"\x7fELF");
        f[4] = 2; // ELFCLASS64
        f[5] = 1; // little-endian
        f[6] = 1; // EV_CURRENT
        f[16..18].copy_from_slice(&e_type.to_le_bytes());
        f[18..20].copy_from_slice(&machine.to_le_bytes());
        f[20..24].copy_from_slice(&1u32.to_le_bytes());
        f[24..32].copy_from_slice(&0x1000u64.to_le_bytes()); // e_entry
        f[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        f[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        f[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        f[56..58].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        f[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
        for (i, &(p_type, off, paddr, filesz, memsz)) in segments.iter().enumerate() {
            let h = 64 + i * 56;
            f[h..h + 4].copy_from_slice(&p_type.to_le_bytes());
            f[h + 4..h + 8].copy_from_slice(&5u32.to_le_bytes()); // R+X
            f[h + 8..h + 16].copy_from_slice(&off.to_le_bytes());
            f[h + 16..h + 24].copy_from_slice(&(paddr | 0xffff_0000_0000_0000).to_le_bytes());
            f[h + 24..h + 32].copy_from_slice(&paddr.to_le_bytes());
            f[h + 32..h + 40].copy_from_slice(&filesz.to_le_bytes());
            f[h + 40..h + 48].copy_from_slice(&memsz.to_le_bytes());
            f[h + 48..h + 56].copy_from_slice(&0x1000u64.to_le_bytes());
        }
        f.extend_from_slice(data);
        f
    }

    #[test]
    fn segments_land_at_their_physical_offsets_with_zero_gaps() {
        let data: Vec<u8> = (1..=32).collect();
        // Segment A: 16 bytes at paddr 0x4008_0000; segment B: 16 bytes 0x20 higher, with 0x10
        // bytes of bss after A (memsz > filesz), which must not appear in the image.
        let elf = elf_with_segments(
            183,
            2,
            &[
                (PT_LOAD, 0x1000, 0x4008_0000, 16, 32),
                (PT_LOAD, 0x1010, 0x4008_0020, 16, 16),
            ],
            &data,
        );
        let image = flat_image(&elf).unwrap();
        assert_eq!(image.len(), 0x30);
        assert_eq!(&image[..16], &data[..16]);
        assert!(image[16..0x20].iter().all(|&b| b == 0));
        assert_eq!(&image[0x20..], &data[16..]);
    }

    #[test]
    fn bss_only_segments_and_non_load_headers_are_ignored() {
        let data = [7u8; 8];
        let elf = elf_with_segments(
            183,
            2,
            &[
                (PT_LOAD, 0x1000, 0x4000_0000, 0, 0x1000),
                (PT_LOAD, 0x1000, 0x4008_0000, 8, 8),
                (4, 0x1000, 0, 8, 8),
            ],
            &data,
        );
        assert_eq!(flat_image(&elf).unwrap(), data);
    }

    #[test]
    fn bad_layouts_are_errors() {
        let data = [1u8; 16];
        let overlapping = elf_with_segments(
            183,
            2,
            &[
                (PT_LOAD, 0x1000, 0x1000, 16, 16),
                (PT_LOAD, 0x1000, 0x1008, 8, 8),
            ],
            &data,
        );
        assert!(
            flat_image(&overlapping)
                .unwrap_err()
                .to_string()
                .contains("overlap")
        );
        let past_end = elf_with_segments(183, 2, &[(PT_LOAD, 0x1000, 0x1000, 64, 64)], &data);
        assert!(
            flat_image(&past_end)
                .unwrap_err()
                .to_string()
                .contains("past the end")
        );
        let huge = elf_with_segments(
            183,
            2,
            &[
                (PT_LOAD, 0x1000, 0, 8, 8),
                (PT_LOAD, 0x1008, 0x8000_0000, 8, 8),
            ],
            &data,
        );
        assert!(flat_image(&huge).is_err());
        let none = elf_with_segments(183, 2, &[], &data);
        assert!(flat_image(&none).is_err());
        assert!(flat_image(b"not an elf").is_err());
    }

    #[test]
    fn arm64_header_magic() {
        let mut image = vec![0u8; 64];
        assert!(!has_arm64_image_header(&image));
        image[0x38..0x3c].copy_from_slice(b"ARM\x64");
        assert!(has_arm64_image_header(&image));
        assert!(!has_arm64_image_header(&image[..0x3a]));
    }
}
