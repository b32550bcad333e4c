//! Shared pieces of the fuzz targets: valid seed inputs built in code (so no corpus has to be
//! kept), an edit script that lets libFuzzer mutate them structurally, and the checks each
//! target runs on what the parsers accept.
//!
//! Every target feeds the raw input to its parser *and* applies the input as an edit script to
//! a valid seed, so coverage reaches past the magic-number checks from the first run.

use kernel_core::cpio::{NewcWriter, S_IFDIR, S_IFLNK, S_IFREG};
use kernel_core::elf::{EM_AARCH64, EM_X86_64, LoadPlan, MIN_USER_ADDRESS};

pub const X86_USER_END: u64 = 0x0000_7fff_ffff_f000;
pub const ARM_USER_END: u64 = 0x0001_0000_0000_0000;
pub const PIE_BASE: u64 = 0x5555_5555_4000;
const PAGE: u64 = 4096;

/// Applies `script` to a copy of `base`: each 4-byte step is (op, offset hi, offset lo, value).
/// op % 4: 0 sets the byte, 1 xors it, 2 writes a 32-bit little-endian edge value (0, 1,
/// 0x7fffffff, 0xffffffff by `value % 4`), 3 truncates at the offset.
pub fn edit(base: &[u8], script: &[u8]) -> Vec<u8> {
    let mut out = base.to_vec();
    for step in script.chunks_exact(4) {
        if out.is_empty() {
            break;
        }
        let at = usize::from(u16::from_be_bytes([step[1], step[2]])) % out.len();
        let value = step[3];
        match step[0] % 4 {
            0 => out[at] = value,
            1 => out[at] ^= value,
            2 => {
                let word = [0u32, 1, 0x7fff_ffff, u32::MAX][usize::from(value % 4)];
                for (i, b) in word.to_le_bytes().into_iter().enumerate() {
                    if let Some(slot) = out.get_mut(at + i) {
                        *slot = b;
                    }
                }
            }
            _ => out.truncate(at),
        }
    }
    out
}

// ---- ELF ----

/// A static executable (`pie` false) or static-pie for `machine`: PT_PHDR, text holding the
/// headers, data with bss, PT_GNU_STACK. The same layout as the kernel-core unit tests'.
pub fn elf_seed(machine: u16, pie: bool) -> Vec<u8> {
    let base: u64 = if pie { 0 } else { 0x40_0000 };
    let mut out = vec![0u8; 0x2110];
    for (i, b) in out.iter_mut().enumerate().skip(64) {
        *b = (i * 7) as u8;
    }
    out[..8].copy_from_slice(b"\x7fELF\x02\x01\x01\x00");
    out[16..18].copy_from_slice(&(if pie { 3u16 } else { 2 }).to_le_bytes());
    out[18..20].copy_from_slice(&machine.to_le_bytes());
    out[20..24].copy_from_slice(&1u32.to_le_bytes());
    out[24..32].copy_from_slice(&(base + 0x100).to_le_bytes());
    out[32..40].copy_from_slice(&64u64.to_le_bytes());
    out[40..52].fill(0);
    out[52..54].copy_from_slice(&64u16.to_le_bytes());
    out[54..56].copy_from_slice(&56u16.to_le_bytes());
    out[56..58].copy_from_slice(&4u16.to_le_bytes());
    out[58..64].fill(0);
    // (type, flags, offset, vaddr, filesz, memsz, align)
    let phdrs: [(u32, u32, u64, u64, u64, u64, u64); 4] = [
        (6, 4, 64, base + 0x40, 4 * 56, 4 * 56, 8),
        (1, 5, 0, base, 0x1234, 0x1234, 0x1000),
        (1, 6, 0x2010, base + 0x3010, 0x100, 0x2000, 0x1000),
        (0x6474_e551, 6, 0, 0, 0, 0, 16),
    ];
    for (i, (t, f, off, va, fsz, msz, al)) in phdrs.into_iter().enumerate() {
        let at = 64 + i * 56;
        out[at..at + 4].copy_from_slice(&t.to_le_bytes());
        out[at + 4..at + 8].copy_from_slice(&f.to_le_bytes());
        for (j, v) in [off, va, va, fsz, msz, al].into_iter().enumerate() {
            out[at + 8 + 8 * j..at + 16 + 8 * j].copy_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// The machines and user ranges the kernel plans for.
pub const MACHINES: [(u16, u64); 2] = [(EM_X86_64, X86_USER_END), (EM_AARCH64, ARM_USER_END)];

/// What every accepted plan promises (the kernel-core property tests check more, against an
/// independent decoding of the image).
pub fn check_plan(plan: &LoadPlan, image: &[u8], user_end: u64) {
    assert!(!plan.segments.is_empty());
    let mut previous: Option<&kernel_core::elf::Segment> = None;
    for s in &plan.segments {
        assert!(s.vaddr >= MIN_USER_ADDRESS && s.vaddr.is_multiple_of(PAGE));
        assert!(s.mem_end <= user_end && s.mem_end.is_multiple_of(PAGE) && s.mem_end > s.vaddr);
        assert!(s.vaddr <= s.data_vaddr);
        let data_end = s.data_vaddr.checked_add(s.file_size).expect("data wraps");
        assert!(data_end <= s.mem_end);
        let file_end = s
            .file_offset
            .checked_add(s.file_size)
            .expect("file range wraps");
        assert!(file_end <= image.len() as u64);
        assert!(!(s.flags.write && s.flags.execute));
        if let Some(p) = previous {
            assert!(p.data_vaddr < s.data_vaddr);
            assert!(p.mem_end <= s.vaddr || p.flags == s.flags);
        }
        previous = Some(s);
    }
    assert!(
        plan.segments
            .iter()
            .any(|s| s.flags.execute && (s.vaddr..s.mem_end).contains(&plan.entry))
    );
    assert_eq!(
        plan.image_end,
        plan.segments.iter().map(|s| s.mem_end).max().unwrap()
    );
}

// ---- cpio ----

/// A small root filesystem with one member of each kind, a hard-link pair and a `070702`-style
/// layout left to the edits.
pub fn cpio_seed() -> Vec<u8> {
    let mut w = NewcWriter::new();
    w.add(".", S_IFDIR | 0o755, 1, b"");
    w.add("bin", S_IFDIR | 0o755, 2, b"");
    w.add("bin/busybox", S_IFREG | 0o755, 3, b"\x7fELF busybox");
    w.add("bin/sh", S_IFLNK | 0o777, 4, b"busybox");
    w.add("etc/deep/name.conf", S_IFREG | 0o644, 5, b"abc");
    w.add("dev/console", 0o020600, 6, b"");
    w.add("init", S_IFREG | 0o755, 7, b"#!/bin/sh\necho hi\n");
    w.finish()
}
