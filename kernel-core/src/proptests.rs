//! Property-based tests (proptest) of the kernel-core parsers that eat untrusted bytes: the ELF
//! load planner and the exec path behind it, the cpio reader and writer, the initramfs unpacker,
//! and path resolution over random tmpfs trees.
//!
//! Each property states what must hold for *every* input: bad input gives an error value, never
//! a panic, and an accepted input yields a result whose invariants are checked against an
//! independent decoding of the same bytes (not against the parser's own helpers). Inputs come
//! from arbitrary bytes and, more usefully, from valid images and archives built here and then
//! mutated field by field and byte by byte.
//!
//! Case counts are kept small so `cargo test -p kernel-core` stays fast; `PROPTEST_CASES=N`
//! overrides every block's count for longer runs. Failures are not persisted to files (a
//! shrunk failing input belongs in a plain `#[test]` next to the fix, as the ones at the end of
//! each section). The cargo-fuzz targets in `fuzz/` cover the same entry points for long runs.

use proptest::prelude::*;
use proptest::test_runner::Config;

/// `cases` unless `PROPTEST_CASES` is set, never writing regression files into the source tree.
fn config(cases: u32) -> Config {
    let mut config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config
}

/// A random edit of a byte buffer: what a fuzzer does to a valid input.
#[derive(Clone, Debug)]
enum ByteEdit {
    Flip { at: usize, bit: u8 },
    Set { at: usize, value: u8 },
    Truncate { len: usize },
}

fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    prop_oneof![
        4 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| ByteEdit::Flip { at, bit }),
        4 => (any::<usize>(), prop_oneof![Just(0u8), Just(0xff), Just(0x7f), Just(0x80), any::<u8>()])
            .prop_map(|(at, value)| ByteEdit::Set { at, value }),
        1 => any::<usize>().prop_map(|len| ByteEdit::Truncate { len }),
    ]
}

/// Applies `edits`, with positions taken modulo the current length (edits of an empty buffer are
/// dropped). `hot` > 0 sends half of the positions into the first `hot` bytes, where the headers
/// are.
fn apply_edits(bytes: &mut Vec<u8>, edits: &[ByteEdit], hot: usize) {
    for (i, edit) in edits.iter().enumerate() {
        if bytes.is_empty() {
            return;
        }
        let span = if hot > 0 && i % 2 == 0 {
            hot.min(bytes.len())
        } else {
            bytes.len()
        };
        match *edit {
            ByteEdit::Flip { at, bit } => bytes[at % span] ^= 1 << bit,
            ByteEdit::Set { at, value } => bytes[at % span] = value,
            ByteEdit::Truncate { len } => bytes.truncate(len % (bytes.len() + 1)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ELF
// ---------------------------------------------------------------------------------------------
mod elf_props {
    use super::*;
    use crate::elf::{
        self, EM_AARCH64, EM_X86_64, ElfError, ElfKind, LoadPlan, MAX_PROGRAM_HEADERS,
        MAX_SEGMENT_SIZE, MIN_USER_ADDRESS,
    };
    use crate::memory::BitmapFrameAllocator;
    use crate::testing::MockArch;
    use crate::vm::Vm;
    use hal::arch::Arch;
    use hal::boot::PhysRange;
    use hal::mmu::{AddressSpace, PAGE_SIZE};

    const X86_USER_END: u64 = 0x0000_7fff_ffff_f000;
    const ARM_USER_END: u64 = 0x0001_0000_0000_0000;
    const PIE_BASE: u64 = crate::vm::PIE_BASE;
    const PT_LOAD: u32 = 1;
    const PT_INTERP: u32 = 3;
    const PT_PHDR: u32 = 6;
    const PT_GNU_STACK: u32 = 0x6474_e551;
    const PF_X: u32 = 1;
    const PF_W: u32 = 2;
    const PF_R: u32 = 4;
    const ET_EXEC: u16 = 2;
    const ET_DYN: u16 = 3;

    /// One program header, field by field.
    #[derive(Clone, Copy, Debug)]
    pub(super) struct Ph {
        pub p_type: u32,
        pub flags: u32,
        pub offset: u64,
        pub vaddr: u64,
        pub filesz: u64,
        pub memsz: u64,
        pub align: u64,
    }

    /// An ELF64 little-endian image written without goblin, so the planner's decoding is checked
    /// against bytes it did not produce.
    #[derive(Clone, Debug)]
    pub(super) struct Image {
        pub e_type: u16,
        pub machine: u16,
        pub entry: u64,
        pub phoff: u64,
        pub phentsize: u16,
        /// `e_phnum` if it should differ from `phdrs.len()`.
        pub phnum: Option<u16>,
        pub phdrs: Vec<Ph>,
        pub len: usize,
    }

    impl Image {
        pub fn bytes(&self) -> Vec<u8> {
            let mut out = vec![0u8; self.len];
            // Recognisable segment bytes: byte i of the file is i * 7.
            for (i, b) in out.iter_mut().enumerate().skip(64) {
                *b = (i * 7) as u8;
            }
            let mut put = |at: usize, bytes: &[u8]| {
                if out.len() < at + bytes.len() {
                    out.resize(at + bytes.len(), 0);
                }
                out[at..at + bytes.len()].copy_from_slice(bytes);
            };
            put(0, b"\x7fELF\x02\x01\x01\x00");
            put(16, &self.e_type.to_le_bytes());
            put(18, &self.machine.to_le_bytes());
            put(20, &1u32.to_le_bytes());
            put(24, &self.entry.to_le_bytes());
            put(32, &self.phoff.to_le_bytes());
            put(52, &64u16.to_le_bytes());
            put(54, &self.phentsize.to_le_bytes());
            let phnum = self.phnum.unwrap_or(self.phdrs.len() as u16);
            put(56, &phnum.to_le_bytes());
            put(58, &64u16.to_le_bytes());
            // A table placed far outside any sane file is not written (the header still says
            // where it is): the planner must notice it is missing.
            if self.phoff < 1 << 20 {
                for (i, ph) in self.phdrs.iter().enumerate() {
                    let mut raw = Vec::with_capacity(56);
                    raw.extend_from_slice(&ph.p_type.to_le_bytes());
                    raw.extend_from_slice(&ph.flags.to_le_bytes());
                    for v in [ph.offset, ph.vaddr, ph.vaddr, ph.filesz, ph.memsz, ph.align] {
                        raw.extend_from_slice(&v.to_le_bytes());
                    }
                    put(self.phoff as usize + i * 56, &raw);
                }
            }
            out
        }
    }

    fn ph(p_type: u32, flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Ph {
        Ph {
            p_type,
            flags,
            offset,
            vaddr,
            filesz,
            memsz,
            align: if p_type == PT_LOAD { 0x1000 } else { 8 },
        }
    }

    /// A typical static executable: PT_PHDR, text (holding the headers), data with bss,
    /// PT_GNU_STACK.
    pub(super) fn exec(machine: u16) -> Image {
        Image {
            e_type: ET_EXEC,
            machine,
            entry: 0x40_0100,
            phoff: 64,
            phentsize: 56,
            phnum: None,
            phdrs: vec![
                ph(PT_PHDR, PF_R, 64, 0x40_0040, 4 * 56, 4 * 56),
                ph(PT_LOAD, PF_R | PF_X, 0, 0x40_0000, 0x1234, 0x1234),
                ph(PT_LOAD, PF_R | PF_W, 0x2010, 0x40_3010, 0x100, 0x2000),
                ph(PT_GNU_STACK, PF_R | PF_W, 0, 0, 0, 0),
            ],
            len: 0x2110,
        }
    }

    /// The same layout linked at 0 as a static-pie.
    pub(super) fn pie(machine: u16) -> Image {
        Image {
            e_type: ET_DYN,
            machine,
            entry: 0x100,
            phoff: 64,
            phentsize: 56,
            phnum: None,
            phdrs: vec![
                ph(PT_PHDR, PF_R, 64, 0x40, 4 * 56, 4 * 56),
                ph(PT_LOAD, PF_R | PF_X, 0, 0, 0x1234, 0x1234),
                ph(PT_LOAD, PF_R | PF_W, 0x2010, 0x3010, 0x100, 0x2000),
                ph(PT_GNU_STACK, PF_R | PF_W, 0, 0, 0, 0),
            ],
            len: 0x2110,
        }
    }

    /// Values at the edges the planner must get right: page boundaries, the minimum address,
    /// both arches' user ends, the kernel half, overflow.
    fn interesting_u64() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(0u64),
            Just(1),
            Just(0xfff),
            Just(0x1000),
            Just(0x1001),
            Just(MIN_USER_ADDRESS - 1),
            Just(MIN_USER_ADDRESS),
            Just(MAX_SEGMENT_SIZE),
            Just(MAX_SEGMENT_SIZE + 1),
            Just(X86_USER_END - 0x1000),
            Just(X86_USER_END),
            Just(ARM_USER_END - 0x1000),
            Just(ARM_USER_END),
            Just(0xffff_8000_0000_0000),
            Just(u64::MAX - 0xfff),
            Just(u64::MAX),
            0u64..0x1_0000,
            0x40_0000u64..0x40_4000,
            any::<u64>(),
        ]
    }

    /// Which program header field a mutation writes.
    #[derive(Clone, Copy, Debug)]
    enum PhField {
        Type,
        Flags,
        Offset,
        Vaddr,
        Filesz,
        Memsz,
        Align,
    }

    /// A structural change to an [`Image`] before it is written.
    #[derive(Clone, Debug)]
    enum ElfEdit {
        Type(u16),
        Machine(u16),
        Entry(u64),
        Phoff(u64),
        Phentsize(u16),
        Phnum(u16),
        Len(usize),
        Ph(usize, PhField, u64),
        Push(Ph),
        Remove(usize),
        /// Copies header `from` over header `to` (identical and overlapping segments).
        Duplicate(usize, usize),
    }

    fn ph_strategy() -> impl Strategy<Value = Ph> {
        (
            prop_oneof![
                Just(PT_LOAD),
                Just(PT_INTERP),
                Just(PT_PHDR),
                Just(PT_GNU_STACK),
                Just(2u32), // PT_DYNAMIC
                Just(4u32), // PT_NOTE
                any::<u32>(),
            ],
            0u32..8,
            interesting_u64(),
            interesting_u64(),
            interesting_u64(),
            interesting_u64(),
            prop_oneof![
                Just(0u64),
                Just(1),
                Just(0x1000),
                Just(0x20_0000),
                interesting_u64()
            ],
        )
            .prop_map(|(p_type, flags, offset, vaddr, filesz, memsz, align)| Ph {
                p_type,
                flags,
                offset,
                vaddr,
                filesz,
                memsz,
                align,
            })
    }

    fn elf_edit() -> impl Strategy<Value = ElfEdit> {
        let field = prop_oneof![
            Just(PhField::Type),
            Just(PhField::Flags),
            Just(PhField::Offset),
            Just(PhField::Vaddr),
            Just(PhField::Filesz),
            Just(PhField::Memsz),
            Just(PhField::Align),
        ];
        prop_oneof![
            1 => prop_oneof![Just(0u16), Just(1), Just(ET_EXEC), Just(ET_DYN), Just(4), any::<u16>()]
                .prop_map(ElfEdit::Type),
            1 => prop_oneof![Just(EM_X86_64), Just(EM_AARCH64), Just(3u16), any::<u16>()]
                .prop_map(ElfEdit::Machine),
            2 => interesting_u64().prop_map(ElfEdit::Entry),
            1 => prop_oneof![Just(0u64), Just(63), Just(0x2000), interesting_u64()].prop_map(ElfEdit::Phoff),
            1 => prop_oneof![Just(0u16), Just(32), Just(64), any::<u16>()].prop_map(ElfEdit::Phentsize),
            1 => prop_oneof![
                Just(0u16),
                Just(MAX_PROGRAM_HEADERS),
                Just(MAX_PROGRAM_HEADERS + 1),
                Just(u16::MAX),
                0u16..8
            ]
            .prop_map(ElfEdit::Phnum),
            1 => (0usize..0x2200).prop_map(ElfEdit::Len),
            8 => (0usize..8, field, interesting_u64()).prop_map(|(i, f, v)| ElfEdit::Ph(i, f, v)),
            2 => ph_strategy().prop_map(ElfEdit::Push),
            1 => (0usize..8).prop_map(ElfEdit::Remove),
            1 => (0usize..8, 0usize..8).prop_map(|(a, b)| ElfEdit::Duplicate(a, b)),
        ]
    }

    fn apply(image: &mut Image, edit: &ElfEdit) {
        let n = image.phdrs.len();
        match *edit {
            ElfEdit::Type(t) => image.e_type = t,
            ElfEdit::Machine(m) => image.machine = m,
            ElfEdit::Entry(e) => image.entry = e,
            ElfEdit::Phoff(o) => image.phoff = o,
            ElfEdit::Phentsize(s) => image.phentsize = s,
            ElfEdit::Phnum(p) => image.phnum = Some(p),
            ElfEdit::Len(l) => image.len = l,
            ElfEdit::Ph(i, field, v) if n > 0 => {
                let ph = &mut image.phdrs[i % n];
                match field {
                    PhField::Type => ph.p_type = v as u32,
                    PhField::Flags => ph.flags = v as u32,
                    PhField::Offset => ph.offset = v,
                    PhField::Vaddr => ph.vaddr = v,
                    PhField::Filesz => ph.filesz = v,
                    PhField::Memsz => ph.memsz = v,
                    PhField::Align => ph.align = v,
                }
            }
            ElfEdit::Push(ph) if n < 16 => image.phdrs.push(ph),
            ElfEdit::Remove(i) if n > 0 => {
                image.phdrs.remove(i % n);
            }
            ElfEdit::Duplicate(a, b) if n > 0 => image.phdrs[b % n] = image.phdrs[a % n],
            _ => {}
        }
    }

    /// A valid image of either kind and machine, then structural edits, then byte edits.
    fn mutated_image() -> impl Strategy<Value = (Vec<u8>, u16)> {
        (
            any::<bool>(),
            any::<bool>(),
            prop::collection::vec(elf_edit(), 0..6),
            prop::collection::vec(byte_edit(), 0..3),
        )
            .prop_map(|(is_pie, arm, edits, byte_edits)| {
                let machine = if arm { EM_AARCH64 } else { EM_X86_64 };
                let mut image = if is_pie { pie(machine) } else { exec(machine) };
                for edit in &edits {
                    apply(&mut image, edit);
                }
                let mut bytes = image.bytes();
                apply_edits(&mut bytes, &byte_edits, 64 + 8 * 56);
                (bytes, machine)
            })
    }

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
    }
    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }
    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }

    /// Program headers decoded by hand from an image the planner accepted.
    fn decode_phdrs(image: &[u8]) -> Vec<Ph> {
        let phoff = u64_at(image, 32) as usize;
        let phnum = u16_at(image, 56) as usize;
        (0..phnum)
            .map(|i| {
                let at = phoff + i * 56;
                Ph {
                    p_type: u32_at(image, at),
                    flags: u32_at(image, at + 4),
                    offset: u64_at(image, at + 8),
                    vaddr: u64_at(image, at + 16),
                    filesz: u64_at(image, at + 32),
                    memsz: u64_at(image, at + 40),
                    align: u64_at(image, at + 48),
                }
            })
            .collect()
    }

    /// Everything a plan promises, checked against the image decoded independently.
    pub(super) fn check_plan(
        plan: &LoadPlan,
        image: &[u8],
        machine: u16,
        user_end: u64,
        pie_base: u64,
    ) {
        let page = |x: u64| x & !(PAGE_SIZE - 1);
        // The header: only 64-bit little-endian executables for this machine get this far.
        assert_eq!(&image[..6], b"\x7fELF\x02\x01");
        assert_eq!(u16_at(image, 18), machine);
        let e_type = u16_at(image, 16);
        let expected_kind = match e_type {
            ET_EXEC => ElfKind::Executable,
            ET_DYN => ElfKind::StaticPie,
            other => panic!("accepted e_type {other}"),
        };
        assert_eq!(plan.kind, expected_kind);
        assert_eq!(u16_at(image, 54), 56);
        let phnum = u16_at(image, 56);
        assert!((1..=MAX_PROGRAM_HEADERS).contains(&phnum));
        assert_eq!((plan.phnum, plan.phent), (phnum, 56));
        let phoff = u64_at(image, 32);
        let table_len = u64::from(phnum) * 56;
        assert!(phoff + table_len <= image.len() as u64);

        let phdrs = decode_phdrs(image);
        assert!(
            phdrs.iter().all(|p| p.p_type != PT_INTERP),
            "PT_INTERP accepted"
        );
        let mut loads: Vec<Ph> = phdrs
            .iter()
            .filter(|p| p.p_type == PT_LOAD && p.memsz > 0)
            .copied()
            .collect();
        loads.sort_by_key(|p| p.vaddr);
        assert_eq!(plan.segments.len(), loads.len());
        assert!(!loads.is_empty());

        if plan.kind == ElfKind::Executable {
            assert_eq!(plan.load_bias, 0);
        } else {
            assert_eq!(plan.segments[0].vaddr, page(pie_base));
        }
        let mut exact_ends = Vec::new();
        for (s, ph) in plan.segments.iter().zip(&loads) {
            assert!(ph.filesz <= ph.memsz && ph.memsz <= MAX_SEGMENT_SIZE);
            assert!(ph.align == 0 || ph.align.is_power_of_two());
            assert_eq!(ph.vaddr % PAGE_SIZE, ph.offset % PAGE_SIZE);
            assert_eq!(s.data_vaddr, ph.vaddr.wrapping_add(plan.load_bias));
            assert_eq!((s.file_offset, s.file_size), (ph.offset, ph.filesz));
            assert_eq!(
                (s.flags.write, s.flags.execute),
                (ph.flags & PF_W != 0, ph.flags & PF_X != 0)
            );
            assert!(!(s.flags.write && s.flags.execute), "W^X");
            let end = s.data_vaddr.checked_add(ph.memsz).expect("segment wraps");
            assert_eq!(s.vaddr, page(s.data_vaddr));
            assert_eq!(Some(s.mem_end), end.checked_add(PAGE_SIZE - 1).map(page));
            assert!(s.vaddr >= MIN_USER_ADDRESS);
            assert!(s.mem_end <= user_end && s.mem_end > s.vaddr);
            let file_end = s
                .file_offset
                .checked_add(s.file_size)
                .expect("file range wraps");
            assert!(file_end <= image.len() as u64);
            exact_ends.push(end);
        }
        for (i, pair) in plan.segments.windows(2).enumerate() {
            let (a, b) = (&pair[0], &pair[1]);
            assert!(exact_ends[i] <= b.data_vaddr, "segments share bytes");
            assert!(
                a.mem_end <= b.vaddr || a.flags == b.flags,
                "shared page, other rights"
            );
        }
        assert_eq!(plan.entry, u64_at(image, 24).wrapping_add(plan.load_bias));
        assert!(
            plan.segments
                .iter()
                .zip(&exact_ends)
                .any(|(s, &end)| s.flags.execute && (s.data_vaddr..end).contains(&plan.entry)),
            "entry outside executable memory"
        );
        assert_eq!(
            plan.image_end,
            plan.segments.iter().map(|s| s.mem_end).max().unwrap()
        );

        // AT_PHDR: where the loaded bytes of some segment are exactly the program header table.
        let pt_phdr = phdrs.iter().find(|p| p.p_type == PT_PHDR);
        if let Some(p) = pt_phdr {
            assert_eq!(plan.phdr_address, p.vaddr.wrapping_add(plan.load_bias));
        }
        if plan.phdr_address != 0 {
            let holder = plan
                .segments
                .iter()
                .find(|s| {
                    s.data_vaddr <= plan.phdr_address
                        && plan.phdr_address + table_len <= s.data_vaddr + s.file_size
                })
                .expect("AT_PHDR outside every segment's file bytes");
            let at = (holder.file_offset + (plan.phdr_address - holder.data_vaddr)) as usize;
            assert_eq!(
                &image[at..at + table_len as usize],
                &image[phoff as usize..(phoff + table_len) as usize]
            );
        } else {
            assert!(pt_phdr.is_none());
        }
        let gnu_stack = phdrs.iter().find(|p| p.p_type == PT_GNU_STACK);
        assert_eq!(
            plan.stack_executable,
            gnu_stack.is_some_and(|p| p.flags & PF_X != 0)
        );
    }

    /// Plans `image` for `machine` at a user end and PIE base, checking whichever way it goes.
    fn plan_and_check(image: &[u8], machine: u16, user_end: u64, pie_base: u64) -> bool {
        match elf::plan(image, machine, user_end, pie_base) {
            Ok(plan) => {
                check_plan(&plan, image, machine, user_end, pie_base);
                true
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                if image.get(..4) != Some(b"\x7fELF") {
                    assert_eq!(e, ElfError::NotElf);
                }
                false
            }
        }
    }

    /// Loads `image` into a mock address space as execve does and checks what got mapped; frames
    /// must be back to their baseline afterwards whether the load worked or not.
    fn load_and_check(image: &[u8]) {
        let mut frames = BitmapFrameAllocator::new(&[PhysRange::new(0x100_0000, 2048 * PAGE_SIZE)]);
        let baseline = frames.free_frames();
        let argv: [&[u8]; 2] = [b"/init", b"x"];
        let envp: [&[u8]; 1] = [b"HOME=/"];
        match Vm::<MockArch>::load(
            "/init",
            image,
            &argv,
            &envp,
            crate::vm::DEFAULT_STACK_LIMIT,
            &mut frames,
        ) {
            Ok((vm, start)) => {
                let plan = elf::plan(image, MockArch::ELF_MACHINE, MockArch::USER_END, PIE_BASE)
                    .expect("load accepted what plan refuses");
                assert_eq!(start.entry, plan.entry);
                let space = vm.space();
                // Only pages holding file bytes are filled at exec; bss comes on demand.
                for s in plan.segments.iter().filter(|s| s.file_size > 0) {
                    let mut got = vec![0u8; s.file_size as usize];
                    space
                        .read_user(s.data_vaddr, &mut got)
                        .expect("segment file bytes not mapped");
                    let from = s.file_offset as usize;
                    assert_eq!(got, &image[from..from + s.file_size as usize]);
                    let flags = space.query(s.data_vaddr).expect("segment page not mapped");
                    assert!(!(flags.write && flags.execute));
                }
                vm.destroy(&mut frames);
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
        assert_eq!(frames.free_frames(), baseline, "frames leaked");
    }

    proptest! {
        #![proptest_config(config(256))]

        /// Arbitrary bytes, most of them starting with the ELF64 identification so that the
        /// header and program header decoding is reached.
        #[test]
        fn arbitrary_bytes_never_panic(
            prefix in prop_oneof![Just(&b""[..]), Just(&b"\x7fELF\x02\x01\x01\x00"[..])],
            body in prop::collection::vec(any::<u8>(), 0..600),
            arm in any::<bool>(),
            pie_base in interesting_u64(),
        ) {
            let mut image = prefix.to_vec();
            image.extend_from_slice(&body);
            let (machine, user_end) =
                if arm { (EM_AARCH64, ARM_USER_END) } else { (EM_X86_64, X86_USER_END) };
            plan_and_check(&image, machine, user_end, pie_base);
        }

        /// Valid images with headers and fields set to edge values, then bytes flipped: an
        /// error, or a plan whose every promise holds, on both arches' user ranges.
        #[test]
        fn mutated_images_plan_soundly(
            (image, machine) in mutated_image(),
            pie_base in prop_oneof![Just(PIE_BASE), interesting_u64()],
        ) {
            for user_end in [X86_USER_END, ARM_USER_END] {
                plan_and_check(&image, machine, user_end, pie_base);
            }
        }

        /// The exec path behind the planner: what plan() accepts is mapped with the file's bytes
        /// where the plan says, and nothing leaks either way.
        #[test]
        fn mutated_images_load_or_fail_cleanly((image, _) in mutated_image()) {
            let mut image = image;
            // MockArch is an x86_64 machine.
            if image.len() >= 20 {
                image[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
            }
            load_and_check(&image);
        }
    }

    /// The unmutated seeds are accepted (so the mutation tests start from valid images).
    #[test]
    fn seeds_are_valid() {
        for machine in [EM_X86_64, EM_AARCH64] {
            for image in [exec(machine), pie(machine)] {
                let bytes = image.bytes();
                assert!(plan_and_check(&bytes, machine, X86_USER_END, PIE_BASE));
            }
        }
        load_and_check(&exec(EM_X86_64).bytes());
        load_and_check(&pie(EM_X86_64).bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// cpio and the initramfs
// ---------------------------------------------------------------------------------------------
mod cpio_props {
    use super::*;
    use crate::cpio::{
        self, CpioError, Entry, MAX_NAME_SIZE, NewcWriter, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG,
    };
    use crate::vfs::{self, Body, NodeRef, Vfs, initramfs};
    use alloc::rc::Rc;
    use alloc::string::String;

    /// An archive member as generated: owned, so it can outlive the strategy.
    #[derive(Clone, Debug)]
    struct Member {
        name: String,
        mode: u32,
        uid: u32,
        gid: u32,
        nlink: u32,
        mtime: u32,
        ino: u32,
        dev: (u32, u32),
        rdev: (u32, u32),
        data: Vec<u8>,
    }

    impl Member {
        fn entry(&self) -> Entry<'_> {
            Entry {
                name: &self.name,
                mode: self.mode,
                uid: self.uid,
                gid: self.gid,
                nlink: self.nlink,
                mtime: self.mtime,
                ino: self.ino,
                dev_major: self.dev.0,
                dev_minor: self.dev.1,
                rdev_major: self.rdev.0,
                rdev_minor: self.rdev.1,
                data: &self.data,
            }
        }
    }

    /// Path-like names: a few components (with `.`, `..`, empty ones and odd characters),
    /// sometimes a leading `/` or `./`, sometimes a trailing `/`.
    fn name() -> impl Strategy<Value = String> {
        let component = prop_oneof![
            4 => prop::sample::select(vec!["a", "b", "bin", "init", "sh", "x.y", "é"]).prop_map(String::from),
            1 => prop::sample::select(vec![".", "..", "", "TRAILER!!!"]).prop_map(String::from),
            1 => prop::collection::vec(any::<char>().prop_filter("no NUL or /", |c| *c != '\0' && *c != '/'), 1..12)
                .prop_map(|cs| cs.into_iter().collect()),
            1 => (200usize..300).prop_map(|n| "n".repeat(n)),
        ];
        (
            prop::sample::select(vec!["", "/", "./"]),
            prop::collection::vec(component, 1..4),
            any::<bool>(),
        )
            .prop_map(|(lead, parts, slash)| {
                let mut s = String::from(lead);
                s += &parts.join("/");
                if slash {
                    s.push('/');
                }
                s
            })
    }

    fn member() -> impl Strategy<Value = Member> {
        let mode = prop_oneof![
            4 => Just(S_IFREG | 0o644),
            2 => Just(S_IFDIR | 0o755),
            2 => Just(S_IFLNK | 0o777),
            1 => Just(0o020000 | 0o600), // character device
            1 => Just(0o010000 | 0o600), // FIFO
            1 => Just(0o644),            // no type bits
            1 => any::<u32>(),
        ];
        (
            name(),
            mode,
            (any::<u32>(), any::<u32>()),
            prop_oneof![3 => Just(1u32), 1 => 2u32..4, 1 => any::<u32>()],
            any::<u32>(),
            0u32..4,
            (0u32..2, 0u32..2),
            (any::<u32>(), any::<u32>()),
            prop_oneof![
                3 => prop::collection::vec(any::<u8>(), 0..24),
                1 => prop::collection::vec(any::<u8>(), 0..600),
            ],
        )
            .prop_map(
                |(name, mode, (uid, gid), nlink, mtime, ino, dev, rdev, data)| Member {
                    name,
                    mode,
                    uid,
                    gid,
                    nlink,
                    mtime,
                    ino,
                    dev,
                    rdev,
                    data,
                },
            )
    }

    /// Writes the representable members; returns the archive and the members written.
    fn write(members: &[Member]) -> (Vec<u8>, Vec<Member>) {
        let mut w = NewcWriter::new();
        let mut written = Vec::new();
        for m in members {
            let representable =
                !m.name.contains('\0') && m.name.len() < MAX_NAME_SIZE && m.name != "TRAILER!!!";
            match w.try_add_entry(&m.entry()) {
                Ok(()) => {
                    assert!(representable, "{:?} written", m.name);
                    written.push(m.clone());
                }
                Err(e) => {
                    assert!(!representable, "{:?} refused: {e}", m.name);
                    assert!(matches!(e, CpioError::Unrepresentable(_)));
                }
            }
        }
        (w.finish(), written)
    }

    /// What `find` ignores: leading `/` and `./`, trailing `/`; "." is the root.
    fn normalised(mut path: &str) -> &str {
        loop {
            if let Some(rest) = path.strip_prefix('/') {
                path = rest;
            } else if let Some(rest) = path.strip_prefix("./") {
                path = rest;
            } else {
                break;
            }
        }
        let path = path.trim_end_matches('/');
        if path == "." { "" } else { path }
    }

    /// Reading never panics and ends: at most one error, and it comes last.
    fn read_all(archive: &[u8]) -> Result<Vec<Entry<'_>>, CpioError> {
        let mut out = Vec::new();
        let mut iter = cpio::entries(archive);
        // Each entry takes at least a 110-byte header: a bound on how long the iterator can run.
        for _ in 0..=archive.len() / 110 + 1 {
            match iter.next() {
                None => return Ok(out),
                Some(Ok(e)) => {
                    assert!(!e.name.contains('\0') && e.name.len() < MAX_NAME_SIZE);
                    assert_ne!(e.name, "TRAILER!!!");
                    out.push(e);
                }
                Some(Err(e)) => {
                    assert!(iter.next().is_none(), "entries go on after an error");
                    assert!(!e.to_string().is_empty());
                    return Err(e);
                }
            }
        }
        panic!("the iterator did not end");
    }

    /// Unpacks into a fresh tmpfs (the archive is leaked: the tmpfs borrows file bytes from it
    /// for the rest of the kernel's life) and checks the tree it made.
    fn unpack_and_check(archive: Vec<u8>) -> Option<(Vfs, initramfs::Unpacked)> {
        let archive: &'static [u8] = Vec::leak(archive);
        let vfs = Vfs::new();
        let root = vfs.root().node;
        let result = initramfs::unpack(&vfs, &root, archive);
        match (&result, cpio::entries(archive).find_map(Result::err)) {
            (Err(e), Some(first)) => assert_eq!(*e, first),
            (Ok(_), None) => {}
            (r, first) => panic!("unpack {r:?} but the archive's first error is {first:?}"),
        }
        check_tree(&root, 0);
        result.ok().map(|report| (vfs, report))
    }

    /// Every node's type bits agree with what it holds, and every directory's children point
    /// back at it.
    fn check_tree(dir: &NodeRef, depth: usize) {
        assert!(depth < 4096, "directory cycle");
        let Body::Dir(d) = &dir.body else {
            panic!("not a directory")
        };
        for (name, child) in d.borrow().entries.iter() {
            assert!(vfs::check_name(name).is_ok(), "bad name {name:?}");
            let t = child.file_type();
            match &child.body {
                Body::Dir(_) => {
                    assert_eq!(t, S_IFDIR);
                    assert!(Rc::ptr_eq(&vfs::parent_of(child), dir));
                    check_tree(child, depth + 1);
                }
                Body::File(_) => assert_eq!(t, S_IFREG, "{name:?}"),
                Body::Symlink(_) => assert_eq!(t, S_IFLNK, "{name:?}"),
                Body::Special => assert!(
                    [vfs::S_IFCHR, vfs::S_IFBLK, vfs::S_IFIFO, vfs::S_IFSOCK].contains(&t),
                    "{name:?}: special node of type {t:#o}"
                ),
                Body::Proc(_) => panic!("a /proc node in the initramfs"),
            }
        }
    }

    /// Members with unique, clean names (no `.`/`..`/empty components), parents first, of the
    /// three types the unpacker handles: after unpacking each is found with its type, mode,
    /// owner and bytes.
    fn clean_tree() -> impl Strategy<Value = Vec<Member>> {
        prop::collection::vec(
            (
                prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 1..4),
                0u8..3,
                prop::collection::vec(any::<u8>(), 0..16),
                0u32..0o7777,
            ),
            0..12,
        )
        .prop_map(|specs| {
            let mut out: Vec<Member> = Vec::new();
            for (parts, kind, data, perm) in specs {
                let name = parts.join("/");
                // Skip duplicates and members below a non-directory.
                let is_dir = kind == 1;
                let clash = out.iter().any(|m| {
                    m.name == name
                        || (name.starts_with(&alloc::format!("{}/", m.name))
                            && m.mode & S_IFMT != S_IFDIR)
                        || (m.name.starts_with(&alloc::format!("{name}/")) && !is_dir)
                });
                if clash {
                    continue;
                }
                // Missing parents are made by the unpacker; list them anyway half the time.
                let (mode, data) = match kind {
                    0 => (S_IFREG | perm, data),
                    1 => (S_IFDIR | perm, Vec::new()),
                    _ => (S_IFLNK | 0o777, b"target".to_vec()),
                };
                out.push(Member {
                    name,
                    mode,
                    uid: perm,
                    gid: perm + 1,
                    nlink: 1,
                    mtime: perm * 3,
                    ino: 0,
                    dev: (0, 0),
                    rdev: (0, 0),
                    data,
                });
            }
            out
        })
    }

    proptest! {
        #![proptest_config(config(256))]

        /// Write entries, read them back: every field but the inode number survives, and
        /// hard-link groups stay groups.
        #[test]
        fn round_trip(members in prop::collection::vec(member(), 0..10)) {
            let (archive, written) = write(&members);
            prop_assert_eq!(archive.len() % 512, 0);
            let read = read_all(&archive).expect("the writer's archive does not read back");
            prop_assert_eq!(read.len(), written.len());
            for (i, (got, want)) in read.iter().zip(&written).enumerate() {
                let mut want_entry = want.entry();
                want_entry.ino = got.ino;
                prop_assert_eq!(*got, want_entry);
                for (other, other_want) in read.iter().zip(&written).take(i) {
                    let linked = want.nlink > 1
                        && other_want.nlink > 1
                        && (want.dev, want.ino) == (other_want.dev, other_want.ino);
                    prop_assert_eq!(got.ino == other.ino, linked);
                }
            }
        }

        /// `find` returns the last member under the normalised name, with a hard link's bytes
        /// taken from its group when it has none of its own.
        #[test]
        fn find_agrees_with_a_linear_search(
            members in prop::collection::vec(member(), 0..10),
            query in name(),
        ) {
            let (archive, written) = write(&members);
            let found = cpio::find(&archive, &query).unwrap();
            let want = written.iter().rev().find(|m| normalised(&m.name) == normalised(&query));
            match (found, want) {
                (None, None) => {}
                (Some(f), Some(w)) => {
                    prop_assert_eq!(f.name, w.name.as_str());
                    prop_assert_eq!(f.mode, w.mode);
                    let mut data: &[u8] = &w.data;
                    // A hard link without bytes takes them from its link group's last member
                    // that has some.
                    let linked = written.iter().rev().find(|m| {
                        (m.dev, m.ino, m.mode) == (w.dev, w.ino, w.mode)
                            && m.nlink > 1
                            && !m.data.is_empty()
                    });
                    if w.mode & S_IFMT == S_IFREG && w.nlink > 1 && w.data.is_empty()
                        && let Some(m) = linked
                    {
                        data = &m.data;
                    }
                    prop_assert_eq!(f.data, data);
                }
                (f, w) => prop_assert!(false, "find gave {:?}, expected {:?}", f, w),
            }
        }

        /// Two archives back to back read as one list.
        #[test]
        fn concatenated_archives(
            a in prop::collection::vec(member(), 0..5),
            b in prop::collection::vec(member(), 0..5),
        ) {
            let (mut archive, mut want) = write(&a);
            let (second, written_b) = write(&b);
            archive.extend_from_slice(&second);
            want.extend(written_b);
            let read = read_all(&archive).unwrap();
            let names: Vec<&str> = read.iter().map(|e| e.name).collect();
            let want_names: Vec<&str> = want.iter().map(|m| m.name.as_str()).collect();
            prop_assert_eq!(names, want_names);
        }

        /// Arbitrary bytes, with and without a newc magic in front.
        #[test]
        fn arbitrary_archives_never_panic(
            prefix in prop::sample::select(vec![&b""[..], b"070701", b"070702"]),
            body in prop::collection::vec(any::<u8>(), 0..700),
            query in name(),
        ) {
            let mut archive = prefix.to_vec();
            archive.extend_from_slice(&body);
            let _ = read_all(&archive);
            let _ = cpio::find(&archive, &query);
            unpack_and_check(archive);
        }

        /// Valid archives with header digits, sizes and bytes corrupted; the `070702` magic put
        /// in front of members whose checksum field is then usually wrong.
        #[test]
        fn mutated_archives_fail_cleanly(
            members in prop::collection::vec(member(), 1..6),
            field_edits in prop::collection::vec((0usize..8, 0usize..13, prop::sample::select(vec![
                &b"FFFFFFFF"[..], b"00000000", b"7FFFFFFF", b"00001000", b"0000000g", b"-0000001",
            ])), 0..3),
            crc in any::<bool>(),
            edits in prop::collection::vec(byte_edit(), 0..4),
            query in name(),
        ) {
            let (mut archive, _) = write(&members);
            // Header starts, found by their magic.
            let starts: Vec<usize> = (0..archive.len().saturating_sub(5))
                .filter(|&i| i % 4 == 0 && &archive[i..i + 6] == b"070701")
                .collect();
            if crc {
                for &s in &starts {
                    archive[s + 5] = b'2';
                }
            }
            for &(entry, field, digits) in &field_edits {
                let at = starts[entry % starts.len()] + 6 + 8 * field;
                archive[at..at + 8].copy_from_slice(digits);
            }
            apply_edits(&mut archive, &edits, 0);
            let _ = read_all(&archive);
            let _ = cpio::find(&archive, &query);
            unpack_and_check(archive);
        }

        /// Any archive the writer makes unpacks without error into a consistent tree.
        #[test]
        fn unpacking_written_archives(members in prop::collection::vec(member(), 0..10)) {
            let (archive, _) = write(&members);
            let (_, report) = unpack_and_check(archive).expect("a valid archive was refused");
            prop_assert!(report.files + report.dirs + report.links + report.skipped <= members.len());
        }

        /// Clean trees unpack member for member.
        #[test]
        fn clean_trees_unpack_exactly(members in clean_tree()) {
            let (archive, written) = write(&members);
            let (vfs, report) = unpack_and_check(archive).unwrap();
            prop_assert_eq!(report.skipped, 0);
            let root = vfs.root().node;
            for m in &written {
                let mut node = root.clone();
                for part in m.name.split('/') {
                    node = vfs::lookup_child(&node, part.as_bytes()).expect("member missing");
                }
                prop_assert_eq!(node.mode(), m.mode);
                let meta = node.meta.borrow();
                prop_assert_eq!((meta.uid, meta.gid), (m.uid, m.gid));
                // A directory's mtime is moved by the members unpacked into it later (Linux
                // restores directory times after the whole archive; Cyphera does not).
                if !node.is_dir() {
                    prop_assert_eq!(meta.mtime.sec, i64::from(m.mtime));
                }
                match &node.body {
                    Body::File(data) => {
                        let data = data.borrow();
                        prop_assert_eq!(data.bytes(), &m.data[..]);
                    }
                    Body::Symlink(target) => prop_assert_eq!(target, &m.data),
                    Body::Dir(_) => prop_assert_eq!(m.mode & S_IFMT, S_IFDIR),
                    _ => prop_assert!(false, "unexpected body"),
                }
            }
        }
    }

    /// A member without type bits is a regular file, as mknod(2) makes one: its bytes must be
    /// readable, not an empty "special" node (found by `unpacking_written_archives`).
    #[test]
    fn a_member_without_type_bits_is_a_regular_file_with_its_bytes() {
        let mut w = NewcWriter::new();
        w.add("plain", 0o644, 1, b"bytes");
        w.add("odd", 0o170644, 1, b"");
        let (vfs, report) = unpack_and_check(w.finish()).unwrap();
        let root = vfs.root().node;
        let plain = vfs::lookup_child(&root, b"plain").unwrap();
        assert_eq!(plain.mode(), S_IFREG | 0o644);
        match &plain.body {
            Body::File(data) => assert_eq!(data.borrow().bytes(), b"bytes"),
            _ => panic!("not a regular file"),
        }
        // A type no file system has is skipped, as Linux's unpacker does.
        assert!(vfs::lookup_child(&root, b"odd").is_none());
        assert_eq!((report.files, report.skipped), (1, 1));
    }
}

// ---------------------------------------------------------------------------------------------
// Path resolution
// ---------------------------------------------------------------------------------------------
mod path_props {
    use super::*;
    use crate::errno::Errno;
    use crate::exec;
    use crate::vfs::path::{MAX_SYMLINKS, Resolver};
    use crate::vfs::procfs::{GlobalFile, PidFile, PidLink, ProcSource};
    use crate::vfs::{
        Body, FileData, NAME_MAX, NodeRef, PATH_MAX, S_IFDIR, S_IFLNK, S_IFREG, Timestamp, Vfs,
        dir_body,
    };
    use alloc::collections::BTreeMap;
    use alloc::rc::Rc;
    use core::cell::RefCell;

    /// No processes: these trees have no /proc.
    struct NoProc;

    impl ProcSource for NoProc {
        fn current(&self) -> u32 {
            1
        }
        fn pids(&self) -> Vec<u32> {
            Vec::new()
        }
        fn fds(&self, _: u32) -> Option<Vec<u32>> {
            None
        }
        fn link(&self, _: u32, _: PidLink) -> Option<Vec<u8>> {
            None
        }
        fn pid_file(&self, _: u32, _: PidFile) -> Option<Vec<u8>> {
            None
        }
        fn global_file(&self, _: GlobalFile) -> Vec<u8> {
            Vec::new()
        }
        fn boot_time(&self) -> Timestamp {
            Timestamp::default()
        }
    }

    const NOW: Timestamp = Timestamp { sec: 1, nsec: 0 };

    /// One node to create: where (a path of names from the root), and what.
    #[derive(Clone, Debug)]
    enum Make {
        Dir(Vec<Vec<u8>>),
        File(Vec<Vec<u8>>),
        Link(Vec<Vec<u8>>, Vec<u8>),
    }

    /// A name a directory entry may have (never `.`, `..`, empty or with `/`).
    fn entry_name() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            6 => prop::sample::select(vec![&b"a"[..], b"b", b"c", b"d"]).prop_map(<[u8]>::to_vec),
            1 => prop::collection::vec(1u8..=255, 1..8)
                .prop_filter("valid name", |n| n != b"." && n != b".." && !n.contains(&b'/')),
            1 => Just(vec![b'n'; NAME_MAX]),
        ]
    }

    /// Paths made of the same names plus `.`, `..` and empty components, absolute or not.
    fn path() -> impl Strategy<Value = Vec<u8>> {
        let component = prop_oneof![
            6 => entry_name(),
            2 => Just(b"..".to_vec()),
            1 => Just(b".".to_vec()),
            1 => Just(Vec::new()),
            1 => Just(vec![b'n'; NAME_MAX + 1]),
        ];
        (
            any::<bool>(),
            prop::collection::vec(component, 0..7),
            any::<bool>(),
        )
            .prop_map(|(absolute, parts, slash)| {
                let mut p = if absolute { b"/".to_vec() } else { Vec::new() };
                p.extend(parts.join(&b'/'));
                if slash {
                    p.push(b'/');
                }
                p
            })
    }

    fn make_strategy(links: bool) -> BoxedStrategy<Make> {
        let at = || prop::collection::vec(entry_name(), 1..4);
        let plain = prop_oneof![
            3 => at().prop_map(Make::Dir),
            2 => at().prop_map(Make::File),
        ];
        if !links {
            return plain.boxed();
        }
        prop_oneof![
            5 => plain,
            2 => (at(), path()).prop_map(|(at, target)| Make::Link(at, target)),
        ]
        .boxed()
    }

    /// Builds the tree in a fresh tmpfs, skipping what cannot be made (missing parent, name
    /// taken); returns the vfs and, for the model, every created path and its node.
    fn build(makes: &[Make]) -> (Vfs, BTreeMap<Vec<Vec<u8>>, NodeRef>) {
        let vfs = Vfs::new();
        let mut made = BTreeMap::new();
        made.insert(Vec::new(), vfs.root().node);
        for m in makes {
            let (at, mode, body) = match m {
                Make::Dir(at) => (at, S_IFDIR | 0o755, dir_body(None)),
                Make::File(at) => (
                    at,
                    S_IFREG | 0o755,
                    Body::File(RefCell::new(FileData::Owned(b"\x7fELF".to_vec()))),
                ),
                Make::Link(at, target) => (at, S_IFLNK | 0o777, Body::Symlink(target.clone())),
            };
            let (name, parent) = at.split_last().unwrap();
            let Some(dir) = made.get(parent).cloned() else {
                continue;
            };
            if let Ok(node) = vfs.create(&dir, name, mode, NOW, body) {
                made.insert(at.clone(), node);
            }
        }
        (vfs, made)
    }

    /// The reference for trees without symbolic links: a lexical walk over the created paths
    /// with Linux's rules (each step needs a directory, `..` stops at the root, a trailing `/`
    /// needs a directory, over-long names and paths are ENAMETOOLONG).
    fn model(made: &BTreeMap<Vec<Vec<u8>>, NodeRef>, path: &[u8]) -> Result<NodeRef, Errno> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        if path.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        // Every test walk starts at the root, whether the path is absolute or not.
        let mut cur: Vec<Vec<u8>> = Vec::new();
        for part in path.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
            if !made[&cur].is_dir() {
                return Err(Errno::ENOTDIR);
            }
            if part.len() > NAME_MAX {
                return Err(Errno::ENAMETOOLONG);
            }
            match part {
                b"." => {}
                b".." => {
                    cur.pop();
                }
                name => {
                    cur.push(name.to_vec());
                    if !made.contains_key(&cur) {
                        return Err(Errno::ENOENT);
                    }
                }
            }
        }
        let node = made[&cur].clone();
        if path.ends_with(b"/") && !node.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(node)
    }

    fn resolver(vfs: &Vfs) -> Resolver<'_> {
        Resolver {
            vfs,
            proc: &NoProc,
            root: vfs.root(),
        }
    }

    /// Errors path resolution may give for a path over a plain tmpfs.
    fn expected_error(e: Errno) -> bool {
        [
            Errno::ENOENT,
            Errno::ENOTDIR,
            Errno::ELOOP,
            Errno::ENAMETOOLONG,
        ]
        .contains(&e)
    }

    proptest! {
        #![proptest_config(config(192))]

        /// Without symbolic links, resolution is the lexical walk.
        #[test]
        fn symlink_free_trees_match_the_model(
            makes in prop::collection::vec(make_strategy(false), 0..16),
            paths in prop::collection::vec(path(), 1..8),
        ) {
            let (vfs, made) = build(&makes);
            let r = resolver(&vfs);
            let root = vfs.root();
            for p in &paths {
                let want = model(&made, p);
                for follow in [true, false] {
                    let got = r.resolve(&root, p, follow).map(|l| l.node);
                    match (&got, &want) {
                        (Ok(g), Ok(w)) => prop_assert!(Rc::ptr_eq(g, w), "{:?}", p),
                        (Err(g), Err(w)) => prop_assert_eq!(g, w, "{:?}", p),
                        _ => prop_assert!(false, "{:?}: got {:?}, model {:?}", p,
                            got.as_ref().map(|n| n.ino), want.as_ref().map(|n| n.ino)),
                    }
                }
                // The parent walk agrees with resolving the directory part.
                if let Ok(parent) = r.resolve_parent(&root, p) {
                    prop_assert!(parent.dir.node.is_dir());
                    prop_assert!(!parent.name.contains(&b'/'));
                    if !parent.name.is_empty() && parent.name != b"." && parent.name != b".." {
                        let mut child = r.path_of(&parent.dir);
                        if child != b"/" {
                            child.push(b'/');
                        }
                        child.extend_from_slice(&parent.name);
                        let by_name = r.resolve(&root, &child, false).map(|l| l.node);
                        let direct = r.resolve(&root, p, false).map(|l| l.node);
                        if let (Ok(a), Ok(b)) = (by_name, direct) {
                            prop_assert!(Rc::ptr_eq(&a, &b), "{:?}", p);
                        }
                    }
                }
            }
        }

        /// With symbolic links anywhere (loops, `..` above the root, dangling, long targets):
        /// resolution ends with a node or an expected error, and a directory it reaches is found
        /// again at the path getcwd would print for it.
        #[test]
        fn trees_with_links_resolve_or_fail_cleanly(
            makes in prop::collection::vec(make_strategy(true), 0..20),
            paths in prop::collection::vec(path(), 1..8),
        ) {
            let (vfs, _) = build(&makes);
            let r = resolver(&vfs);
            let root = vfs.root();
            for p in &paths {
                for follow in [true, false] {
                    match r.resolve(&root, p, follow) {
                        Ok(loc) => {
                            if follow {
                                prop_assert!(!loc.node.is_symlink());
                            }
                            if loc.node.is_dir() {
                                let again = r.resolve(&root, &r.path_of(&loc), true).unwrap();
                                prop_assert!(Rc::ptr_eq(&again.node, &loc.node));
                            }
                        }
                        Err(e) => prop_assert!(expected_error(e), "{:?}: {:?}", p, e),
                    }
                }
                if let Err(e) = r.resolve_parent(&root, p) {
                    prop_assert!(expected_error(e), "{:?}: {:?}", p, e);
                }
                // execve's lookup on the same path (no script here: the files are "ELF").
                if let Err(e) = exec::find(&r, &root, p, vec![p.clone()]) {
                    prop_assert!(expected_error(e) || e == Errno::EACCES, "{:?}: {:?}", p, e);
                }
            }
        }

        /// Arbitrary NUL-free bytes as a path.
        #[test]
        fn arbitrary_paths_never_panic(
            makes in prop::collection::vec(make_strategy(true), 0..8),
            raw in prop::collection::vec(prop_oneof![3 => Just(b'/'), 1 => Just(b'.'), 4 => 1u8..=255], 0..300),
        ) {
            let (vfs, _) = build(&makes);
            let r = resolver(&vfs);
            let root = vfs.root();
            for follow in [true, false] {
                if let Err(e) = r.resolve(&root, &raw, follow) {
                    prop_assert!(expected_error(e), "{:?}", e);
                }
            }
            let _ = r.resolve_parent(&root, &raw);
        }

        /// A chain of n links resolves when n is within MAXSYMLINKS and is ELOOP beyond it; any
        /// cycle is ELOOP.
        #[test]
        fn link_chains_and_cycles(n in 1u32..60, cycle in 1u32..6) {
            let vfs = Vfs::new();
            let root = vfs.root().node;
            vfs.create(&root, b"end", S_IFDIR | 0o755, NOW, dir_body(None)).unwrap();
            for i in 0..n {
                let target = if i + 1 == n { b"end".to_vec() } else { alloc::format!("l{}", i + 1).into_bytes() };
                vfs.create(&root, alloc::format!("l{i}").as_bytes(), S_IFLNK | 0o777, NOW, Body::Symlink(target)).unwrap();
            }
            for i in 0..cycle {
                let target = alloc::format!("c{}", (i + 1) % cycle).into_bytes();
                vfs.create(&root, alloc::format!("c{i}").as_bytes(), S_IFLNK | 0o777, NOW, Body::Symlink(target)).unwrap();
            }
            let r = resolver(&vfs);
            let at = vfs.root();
            let got = r.resolve(&at, b"/l0", true);
            if n <= MAX_SYMLINKS {
                prop_assert!(got.unwrap().node.is_dir());
            } else {
                prop_assert_eq!(got.err(), Some(Errno::ELOOP));
            }
            prop_assert_eq!(r.resolve(&at, b"/c0", true).err(), Some(Errno::ELOOP));
            prop_assert_eq!(r.resolve(&at, b"/c0/x", false).err(), Some(Errno::ELOOP));
            prop_assert_eq!(r.resolve_parent(&at, b"/c0/x").err(), Some(Errno::ELOOP));
            prop_assert!(r.resolve(&at, b"/c0", false).unwrap().node.is_symlink());
        }

        /// Over-long components and paths are ENAMETOOLONG, wherever they are.
        #[test]
        fn long_names_and_paths(extra in 1usize..64, slashes in 0usize..4) {
            let vfs = Vfs::new();
            let r = resolver(&vfs);
            let root = vfs.root();
            let mut long = b"/".repeat(slashes);
            long.extend(vec![b'x'; NAME_MAX + extra]);
            prop_assert_eq!(r.resolve(&root, &long, true).err(), Some(Errno::ENAMETOOLONG));
            let mut path = b"/".to_vec();
            while path.len() < PATH_MAX - 1 + extra {
                path.extend_from_slice(b"./");
            }
            prop_assert_eq!(r.resolve(&root, &path, true).err(), Some(Errno::ENAMETOOLONG));
            prop_assert_eq!(r.resolve_parent(&root, &path).err(), Some(Errno::ENAMETOOLONG));
            path.truncate(PATH_MAX - 1);
            prop_assert!(r.resolve(&root, &path, true).is_ok());
        }

        /// `#!` chains: scripts naming scripts end in the ELF or ELOOP past four interpreters,
        /// and arbitrary first lines never panic the parser.
        #[test]
        fn shebang_chains(depth in 0usize..7, line in prop::collection::vec(any::<u8>(), 0..300)) {
            let vfs = Vfs::new();
            let root = vfs.root().node;
            let file = |name: &str, bytes: Vec<u8>| {
                vfs.create(&root, name.as_bytes(), S_IFREG | 0o755, NOW,
                    Body::File(RefCell::new(FileData::Owned(bytes)))).unwrap();
            };
            file("elf", b"\x7fELF".to_vec());
            for i in 0..depth {
                let next = if i + 1 == depth { "/elf".into() } else { alloc::format!("/s{}", i + 1) };
                file(&alloc::format!("s{i}"), alloc::format!("#! {next} -x\n").into_bytes());
            }
            let mut junk = b"#!".to_vec();
            junk.extend(&line);
            file("junk", junk);
            let r = resolver(&vfs);
            let at = vfs.root();
            if depth > 0 {
                let got = exec::find(&r, &at, b"/s0", vec![b"/s0".to_vec(), b"arg".to_vec()]);
                if depth <= exec::MAX_INTERPRETERS {
                    let program = got.unwrap();
                    prop_assert_eq!(program.exe, b"/elf".to_vec());
                    prop_assert_eq!(program.argv.last().unwrap(), b"arg");
                    prop_assert_eq!(program.argv.len(), 2 * depth + 2);
                } else {
                    prop_assert_eq!(got.err(), Some(Errno::ELOOP));
                }
            }
            if let Err(e) = exec::find(&r, &at, b"/junk", Vec::new()) {
                prop_assert!(
                    [Errno::ENOENT, Errno::ENOEXEC, Errno::EACCES, Errno::ELOOP, Errno::ENOTDIR, Errno::ENAMETOOLONG].contains(&e),
                    "{:?}", e
                );
            }
        }
    }
}
