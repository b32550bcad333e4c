//! The Limine check: a kernel booted by Limine must carry its requests in its loaded image, where
//! the bootloader scans for them. This parses the kernel ELF and asserts the base revision tag,
//! the requests start/end markers and the requests the kernel relies on are all present, inside a
//! PT_LOAD segment's file bytes (so the linker kept them and the loader copies them), 8-byte
//! aligned, and well-formed. The magic numbers are those of the Limine protocol (PROTOCOL.md) and
//! the `limine` crate 0.5 (src/lib.rs, src/request.rs).

use goblin::elf::{Elf, program_header::PT_LOAD};

use crate::arch::Arch;
use crate::error::{Result, bail};

/// Base revision tag: these two words, then the revision number.
pub const BASE_REVISION_MAGIC: [u64; 2] = [0xf9562b2d5c95a6c8, 0x6a7b384944536bdc];
/// Every request id starts with these two words.
pub const COMMON_MAGIC: [u64; 2] = [0xc7b1dd30df4c8b88, 0x0a82e883a194f07b];
pub const REQUESTS_START_MARKER: [u64; 4] = [
    0xf6b8f4b39de7d1ae,
    0xfab91a6940fcb9cf,
    0x785c6ed015d3e316,
    0x181e920a7852b9d9,
];
pub const REQUESTS_END_MARKER: [u64; 2] = [0xadc0e0531bb10d03, 0x9572709f31764c62];

/// A request the kernel must make: its name and request-specific id words.
pub struct Request {
    pub name: &'static str,
    pub id: [u64; 2],
}

pub const MEMORY_MAP: Request = Request {
    name: "memory map",
    id: [0x67cf3d9d378a806f, 0xe304acdfc50c3c62],
};
pub const HHDM: Request = Request {
    name: "HHDM",
    id: [0x48dcf1cb8ad2b852, 0x63984e959a98244b],
};
pub const DEVICE_TREE: Request = Request {
    name: "device tree blob",
    id: [0xb40ddb48fb54bac7, 0x545081493f81ffb7],
};

/// The requests each architecture's kernel needs from Limine.
pub fn required_requests(arch: Arch) -> Vec<&'static Request> {
    match arch {
        Arch::X86_64 => vec![&MEMORY_MAP, &HHDM],
        Arch::Aarch64 => vec![&MEMORY_MAP, &HHDM, &DEVICE_TREE],
    }
}

/// The highest base revision the protocol defines that we accept as well-formed.
const MAX_BASE_REVISION: u64 = 4;
/// Request revisions are small numbers; anything larger means the structure is not a request.
const MAX_REQUEST_REVISION: u64 = 16;

/// One 8-byte-aligned word sequence found in the loaded image, by virtual address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Found {
    vaddr: u64,
}

/// The loaded bytes of each PT_LOAD segment with its virtual address.
fn loaded_segments<'a>(elf: &Elf, bytes: &'a [u8]) -> Result<Vec<(u64, &'a [u8])>> {
    let mut out = Vec::new();
    for p in elf.program_headers.iter().filter(|p| p.p_type == PT_LOAD) {
        let end = p
            .p_offset
            .checked_add(p.p_filesz)
            .filter(|&e| e <= bytes.len() as u64);
        let Some(end) = end else {
            bail!(
                "PT_LOAD at {:#x} extends past the end of the file",
                p.p_vaddr
            )
        };
        out.push((p.p_vaddr, &bytes[p.p_offset as usize..end as usize]));
    }
    Ok(out)
}

/// Every 8-byte-aligned (by virtual address) place where `words` appear, with the words that
/// follow them (up to `tail` more, fewer at a segment end).
fn find_words(segments: &[(u64, &[u8])], words: &[u64], tail: usize) -> Vec<(Found, Vec<u64>)> {
    let mut hits = Vec::new();
    for &(vaddr, data) in segments {
        let first = ((8 - vaddr % 8) % 8) as usize;
        let word_at = |i: usize| -> Option<u64> {
            data.get(i..i + 8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        };
        let mut i = first;
        while i + words.len() * 8 <= data.len() {
            if words
                .iter()
                .enumerate()
                .all(|(k, &w)| word_at(i + 8 * k) == Some(w))
            {
                let following = (0..tail)
                    .map_while(|k| word_at(i + 8 * (words.len() + k)))
                    .collect();
                hits.push((
                    Found {
                        vaddr: vaddr + i as u64,
                    },
                    following,
                ));
            }
            i += 8;
        }
    }
    hits
}

/// What the check found, for the report line.
#[derive(Debug, PartialEq, Eq)]
pub struct Report {
    pub base_revision: u64,
    pub requests: Vec<(&'static str, u64)>,
}

/// Checks the Limine requests in a little-endian kernel ELF for `arch`.
pub fn check(elf_bytes: &[u8], arch: Arch) -> Result<Report> {
    let elf = Elf::parse(elf_bytes)?;
    if elf.header.e_machine != arch.elf_machine() {
        bail!("the kernel ELF is not an {arch} binary");
    }
    let segments = loaded_segments(&elf, elf_bytes)?;
    let mut problems = Vec::new();

    let one =
        |what: &str, hits: &[(Found, Vec<u64>)], problems: &mut Vec<String>| -> Option<usize> {
            match hits.len() {
                1 => Some(0),
                0 => {
                    problems.push(format!(
                        "no {what} in the loaded image (missing, not 8-byte aligned, or not in a \
                     PT_LOAD segment's file bytes: was the section discarded or made NOBITS?)"
                    ));
                    None
                }
                n => {
                    problems.push(format!(
                        "{n} copies of the {what}; the bootloader would see only one"
                    ));
                    None
                }
            }
        };

    let base = find_words(&segments, &BASE_REVISION_MAGIC, 1);
    let mut base_revision = 0;
    if let Some(i) = one("base revision tag", &base, &mut problems) {
        match base[i].1.first() {
            Some(&rev) if rev <= MAX_BASE_REVISION => base_revision = rev,
            Some(&rev) => problems.push(format!(
                "base revision tag asks for revision {rev}, not 0..={MAX_BASE_REVISION}"
            )),
            None => problems.push("base revision tag is cut off at a segment end".into()),
        }
    }

    let start = find_words(&segments, &REQUESTS_START_MARKER, 0);
    let end = find_words(&segments, &REQUESTS_END_MARKER, 0);
    let start = one("requests start marker", &start, &mut problems).map(|i| start[i].0.vaddr);
    let end = one("requests end marker", &end, &mut problems).map(|i| end[i].0.vaddr);
    if let (Some(s), Some(e)) = (start, end)
        && s >= e
    {
        problems.push(format!(
            "the requests start marker ({s:#x}) is not before the end marker ({e:#x})"
        ));
    }

    let mut requests = Vec::new();
    for request in required_requests(arch) {
        let id = [
            COMMON_MAGIC[0],
            COMMON_MAGIC[1],
            request.id[0],
            request.id[1],
        ];
        let hits = find_words(&segments, &id, 2);
        let what = format!("{} request", request.name);
        let Some(i) = one(&what, &hits, &mut problems) else {
            continue;
        };
        let (found, ref after) = hits[i];
        match after[..] {
            [revision, response] => {
                if revision > MAX_REQUEST_REVISION {
                    problems.push(format!("{what} has revision {revision}"));
                }
                if response != 0 {
                    problems.push(format!("{what}'s response pointer is {response:#x}, not 0"));
                }
            }
            _ => problems.push(format!("{what} is cut off at a segment end")),
        }
        if let (Some(s), Some(e)) = (start, end)
            && !(s < found.vaddr && found.vaddr < e)
        {
            problems.push(format!(
                "{what} at {:#x} is outside the requests markers [{s:#x}, {e:#x})",
                found.vaddr
            ));
        }
        requests.push((request.name, found.vaddr));
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    Ok(Report {
        base_revision,
        requests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::tests::elf_with_segments;

    fn words(ws: &[u64]) -> Vec<u8> {
        ws.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// A well-formed requests section as the limine crate lays it out.
    fn requests_blob(arch: Arch) -> Vec<u8> {
        let mut ws = vec![0u64]; // padding, so nothing sits at the segment start
        ws.extend(BASE_REVISION_MAGIC);
        ws.push(3);
        ws.extend(REQUESTS_START_MARKER);
        for r in required_requests(arch) {
            ws.extend([COMMON_MAGIC[0], COMMON_MAGIC[1], r.id[0], r.id[1], 0, 0]);
        }
        ws.extend(REQUESTS_END_MARKER);
        words(&ws)
    }

    fn kernel(arch: Arch, blob: &[u8]) -> Vec<u8> {
        let len = blob.len() as u64;
        elf_with_segments(
            arch.elf_machine(),
            2,
            &[(PT_LOAD, 0x1000, 0x20_0000, len, len)],
            blob,
        )
    }

    #[test]
    fn well_formed_requests_pass() {
        for arch in Arch::ALL {
            let report = check(&kernel(arch, &requests_blob(arch)), arch).unwrap();
            assert_eq!(report.base_revision, 3);
            assert_eq!(report.requests.len(), required_requests(arch).len());
        }
    }

    #[test]
    fn missing_dtb_request_fails_on_aarch64_only() {
        let mut ws = vec![0u64];
        ws.extend(BASE_REVISION_MAGIC);
        ws.push(3);
        ws.extend(REQUESTS_START_MARKER);
        for r in [&MEMORY_MAP, &HHDM] {
            ws.extend([COMMON_MAGIC[0], COMMON_MAGIC[1], r.id[0], r.id[1], 0, 0]);
        }
        ws.extend(REQUESTS_END_MARKER);
        let err = check(&kernel(Arch::Aarch64, &words(&ws)), Arch::Aarch64)
            .unwrap_err()
            .to_string();
        assert!(err.contains("device tree blob request"), "{err}");
        assert!(check(&kernel(Arch::X86_64, &words(&ws)), Arch::X86_64).is_ok());
        // An ELF for the other machine is refused outright.
        assert!(check(&kernel(Arch::X86_64, &words(&ws)), Arch::Aarch64).is_err());
    }

    #[test]
    fn misaligned_or_filled_in_requests_fail() {
        let arch = Arch::X86_64;
        let mut blob = vec![0u8; 4];
        blob.extend(requests_blob(arch));
        let err = check(&kernel(arch, &blob), arch).unwrap_err().to_string();
        assert!(err.contains("no base revision tag"), "{err}");

        let mut blob = requests_blob(arch);
        // The memory map request's response word: after the padding word, the 3-word base
        // revision tag, the 4-word start marker and the request's id and revision.
        let response = (1 + 3 + 4 + 5) * 8;
        blob[response] = 1;
        let err = check(&kernel(arch, &blob), arch).unwrap_err().to_string();
        assert!(err.contains("response pointer"), "{err}");
    }

    #[test]
    fn requests_outside_markers_and_bad_revisions_fail() {
        let arch = Arch::X86_64;
        let mut ws = vec![0u64];
        ws.extend(BASE_REVISION_MAGIC);
        ws.push(99);
        for r in required_requests(arch) {
            ws.extend([COMMON_MAGIC[0], COMMON_MAGIC[1], r.id[0], r.id[1], 0, 0]);
        }
        ws.extend(REQUESTS_START_MARKER);
        ws.extend(REQUESTS_END_MARKER);
        let err = check(&kernel(arch, &words(&ws)), arch)
            .unwrap_err()
            .to_string();
        assert!(err.contains("revision 99"), "{err}");
        assert!(err.contains("outside the requests markers"), "{err}");
    }

    #[test]
    fn bss_is_not_loaded_bytes() {
        // The requests only in memsz (NOBITS) beyond filesz: not in the file, so not found.
        let arch = Arch::X86_64;
        let blob = requests_blob(arch);
        let elf = elf_with_segments(
            arch.elf_machine(),
            2,
            &[(PT_LOAD, 0x1000, 0x20_0000, 8, blob.len() as u64)],
            &blob,
        );
        assert!(check(&elf, arch).is_err());
    }
}
