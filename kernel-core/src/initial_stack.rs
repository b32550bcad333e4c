//! The initial user stack of a new program, laid out as the System V ABI prescribes (x86_64 psABI
//! §3.4.1; AArch64 Linux uses the same layout): what a C runtime's `_start` reads to find argc,
//! argv, envp and the auxiliary vector.
//!
//! From `stack_top` downwards, like Linux's `execve`:
//!
//! ```text
//! stack_top ->  8 zero bytes (end marker)
//!               execfn string
//!               envp strings, argv strings (argv[0] lowest)
//!               platform string
//!               16 random bytes (AT_RANDOM)
//!               padding so that the stack pointer ends 16-byte aligned
//!               auxv pairs ... AT_NULL, 0
//!               NULL, envp[envc-1] ... envp[0]
//!               NULL, argv[argc-1] ... argv[0]
//! sp ->         argc
//! ```
//!
//! Words are 64-bit little-endian: both supported architectures run little-endian user space.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

pub const AT_NULL: u64 = 0;
pub const AT_IGNORE: u64 = 1;
pub const AT_EXECFD: u64 = 2;
pub const AT_PHDR: u64 = 3;
pub const AT_PHENT: u64 = 4;
pub const AT_PHNUM: u64 = 5;
pub const AT_PAGESZ: u64 = 6;
pub const AT_BASE: u64 = 7;
pub const AT_FLAGS: u64 = 8;
pub const AT_ENTRY: u64 = 9;
pub const AT_NOTELF: u64 = 10;
pub const AT_UID: u64 = 11;
pub const AT_EUID: u64 = 12;
pub const AT_GID: u64 = 13;
pub const AT_EGID: u64 = 14;
pub const AT_PLATFORM: u64 = 15;
pub const AT_HWCAP: u64 = 16;
pub const AT_CLKTCK: u64 = 17;
pub const AT_SECURE: u64 = 23;
pub const AT_BASE_PLATFORM: u64 = 24;
pub const AT_RANDOM: u64 = 25;
pub const AT_HWCAP2: u64 = 26;
pub const AT_EXECFN: u64 = 31;
pub const AT_SYSINFO_EHDR: u64 = 33;
pub const AT_MINSIGSTKSZ: u64 = 51;

/// Longest single argument or environment string, NUL included (Linux's `MAX_ARG_STRLEN`, 32
/// pages): longer ones fail with `E2BIG`.
pub const MAX_ARG_STRLEN: usize = 32 * 4096;

/// Limit on argv + envp + execfn strings (NULs included) plus the argv/envp pointer arrays. Linux
/// allows a quarter of the stack rlimit, which is 2 MiB with the default 8 MiB stack.
pub const ARG_MAX: usize = 2 << 20;

/// The bytes of a new program's initial stack and where they go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitialStack {
    /// To be written at `base .. base + bytes.len()`, which ends at the `stack_top` given to
    /// [`build`].
    pub bytes: Vec<u8>,
    pub base: u64,
    /// Where the program starts with its stack pointer: the address of argc, 16-byte aligned.
    /// Equal to `base`.
    pub stack_pointer: u64,
}

/// One auxiliary vector entry: (type, value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuxEntry(pub u64, pub u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackError {
    /// The strings exceed [`ARG_MAX`] or one exceeds [`MAX_ARG_STRLEN`]: `execve` returns `E2BIG`.
    TooBig,
    /// A string contains a NUL byte, so it cannot be passed as a C string (`EINVAL`).
    NulInString,
    /// The caller's auxv contains a type [`build`] adds itself (AT_NULL, AT_RANDOM, AT_PLATFORM,
    /// AT_EXECFN); passing AT_NULL would cut the vector short for the program.
    ReservedAuxType(u64),
    /// `stack_top` is too low to hold the layout (a kernel bug, not a user error).
    StackTopTooLow,
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StackError::TooBig => f.write_str("argument list too long (E2BIG)"),
            StackError::NulInString => {
                f.write_str("argument or environment string contains a NUL byte")
            }
            StackError::ReservedAuxType(t) => {
                write!(
                    f,
                    "auxiliary vector type {t} is added by the stack builder itself"
                )
            }
            StackError::StackTopTooLow => f.write_str("stack top too low for the initial stack"),
        }
    }
}

impl core::error::Error for StackError {}

const WORD: u64 = 8;

/// Builds the initial stack ending at `stack_top`. `auxv` is the caller's part of the auxiliary
/// vector (AT_PHDR, AT_ENTRY, AT_PAGESZ, ...); `build` appends AT_RANDOM (→ `random`), AT_PLATFORM
/// (→ `platform`, omitted when `platform` is empty, as Linux does when it has none), AT_EXECFN
/// (→ `execfn`) and AT_NULL. An empty `argv` gives argc 0 (Linux ≥ 5.18 would substitute `""`; the
/// caller decides).
pub fn build(
    stack_top: u64,
    argv: &[&[u8]],
    envp: &[&[u8]],
    auxv: &[AuxEntry],
    random: [u8; 16],
    platform: &str,
    execfn: &[u8],
) -> Result<InitialStack, StackError> {
    let strings = || argv.iter().chain(envp).chain([&execfn]);
    if strings()
        .chain([&platform.as_bytes()])
        .any(|s| s.contains(&0))
    {
        return Err(StackError::NulInString);
    }
    if let Some(AuxEntry(t, _)) = auxv
        .iter()
        .find(|AuxEntry(t, _)| matches!(*t, AT_NULL | AT_RANDOM | AT_PLATFORM | AT_EXECFN))
    {
        return Err(StackError::ReservedAuxType(*t));
    }
    // Linux's accounting: every string with its NUL, plus a pointer per argv (at least one) and
    // envp entry. Sums saturate so a hostile count cannot wrap past the limit.
    if strings().any(|s| s.len() >= MAX_ARG_STRLEN) {
        return Err(StackError::TooBig);
    }
    let pointers = (argv.len().max(1).saturating_add(envp.len())).saturating_mul(WORD as usize);
    let total = strings().fold(pointers, |sum, s| sum.saturating_add(s.len() + 1));
    if total > ARG_MAX {
        return Err(StackError::TooBig);
    }

    // Place the strings from the top down, remembering each address.
    let too_low = StackError::StackTopTooLow;
    let mut p = stack_top.checked_sub(WORD).ok_or(too_low)?;
    let mut push = |bytes: &[u8]| -> Result<u64, StackError> {
        p = p.checked_sub(bytes.len() as u64 + 1).ok_or(too_low)?;
        Ok(p)
    };
    let execfn_at = push(execfn)?;
    // Copied last string first, so that the strings end up in ascending order in memory.
    let mut envp_at = vec![0; envp.len()];
    for (at, s) in envp_at.iter_mut().zip(envp).rev() {
        *at = push(s)?;
    }
    let mut argv_at = vec![0; argv.len()];
    for (at, s) in argv_at.iter_mut().zip(argv).rev() {
        *at = push(s)?;
    }
    let platform_at = if platform.is_empty() {
        None
    } else {
        Some(push(platform.as_bytes())?)
    };
    let random_at = p.checked_sub(random.len() as u64).ok_or(too_low)?;

    let mut aux: Vec<AuxEntry> = auxv.to_vec();
    aux.push(AuxEntry(AT_RANDOM, random_at));
    if let Some(at) = platform_at {
        aux.push(AuxEntry(AT_PLATFORM, at));
    }
    aux.push(AuxEntry(AT_EXECFN, execfn_at));
    aux.push(AuxEntry(AT_NULL, 0));

    // argc, argv[] + NULL, envp[] + NULL, auxv pairs.
    let words = 1 + (argv.len() + 1) + (envp.len() + 1) + 2 * aux.len();
    let sp = random_at.checked_sub(words as u64 * WORD).ok_or(too_low)? & !15;
    let len = usize::try_from(stack_top - sp).map_err(|_| too_low)?;

    let mut bytes = vec![0u8; len];
    let mut put = |at: u64, data: &[u8]| {
        // Every address above lies in sp..stack_top by construction.
        let offset = (at - sp) as usize;
        bytes[offset..offset + data.len()].copy_from_slice(data);
    };
    put(execfn_at, execfn);
    for (&at, s) in envp_at.iter().zip(envp).chain(argv_at.iter().zip(argv)) {
        put(at, s);
    }
    if let Some(at) = platform_at {
        put(at, platform.as_bytes());
    }
    put(random_at, &random);

    let vector = core::iter::once(argv.len() as u64)
        .chain(argv_at.iter().copied())
        .chain([0])
        .chain(envp_at.iter().copied())
        .chain([0])
        .chain(aux.iter().flat_map(|&AuxEntry(t, v)| [t, v]));
    let mut at = sp;
    for word in vector {
        put(at, &word.to_le_bytes());
        at += WORD;
    }
    Ok(InitialStack {
        bytes,
        base: sp,
        stack_pointer: sp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    const TOP: u64 = 0x7fff_ffff_f000;
    const RANDOM: [u8; 16] = *b"0123456789abcdef";

    /// What a C runtime sees at `_start`, decoded from the stack bytes alone.
    #[derive(Debug, PartialEq)]
    struct Decoded {
        argv: Vec<Vec<u8>>,
        envp: Vec<Vec<u8>>,
        auxv: Vec<(u64, u64)>,
    }

    struct Memory<'a> {
        stack: &'a InitialStack,
    }

    impl Memory<'_> {
        fn word(&self, at: u64) -> u64 {
            let off = (at - self.stack.base) as usize;
            u64::from_le_bytes(self.stack.bytes[off..off + 8].try_into().unwrap())
        }
        fn cstr(&self, at: u64) -> Vec<u8> {
            let off = (at - self.stack.base) as usize;
            let rest = &self.stack.bytes[off..];
            rest[..rest
                .iter()
                .position(|&b| b == 0)
                .expect("unterminated string")]
                .to_vec()
        }
        fn bytes(&self, at: u64, len: usize) -> Vec<u8> {
            let off = (at - self.stack.base) as usize;
            self.stack.bytes[off..off + len].to_vec()
        }
    }

    fn decode(stack: &InitialStack) -> Decoded {
        let mem = Memory { stack };
        let mut at = stack.stack_pointer;
        let argc = mem.word(at);
        at += 8;
        let mut argv = Vec::new();
        for _ in 0..argc {
            argv.push(mem.cstr(mem.word(at)));
            at += 8;
        }
        assert_eq!(mem.word(at), 0, "argv not NULL terminated");
        at += 8;
        let mut envp = Vec::new();
        while mem.word(at) != 0 {
            envp.push(mem.cstr(mem.word(at)));
            at += 8;
        }
        at += 8;
        let mut auxv = Vec::new();
        loop {
            let (t, v) = (mem.word(at), mem.word(at + 8));
            at += 16;
            if t == AT_NULL {
                break;
            }
            auxv.push((t, v));
        }
        Decoded { argv, envp, auxv }
    }

    fn aux_value(d: &Decoded, t: u64) -> Option<u64> {
        d.auxv.iter().find(|(ty, _)| *ty == t).map(|&(_, v)| v)
    }

    fn check_layout(stack: &InitialStack, top: u64) {
        assert_eq!(stack.stack_pointer % 16, 0);
        assert_eq!(stack.base, stack.stack_pointer);
        assert_eq!(stack.base + stack.bytes.len() as u64, top);
        assert_eq!(&stack.bytes[stack.bytes.len() - 8..], &[0; 8], "end marker");
    }

    #[test]
    fn decodes_like_a_c_runtime() {
        let caller_aux = [
            AuxEntry(AT_PAGESZ, 4096),
            AuxEntry(AT_PHDR, 0x40_0040),
            AuxEntry(AT_ENTRY, 0x40_1000),
        ];
        let stack = build(
            TOP,
            &[b"/bin/sh", b"-c", b"echo hi"],
            &[b"HOME=/", b"TERM=linux"],
            &caller_aux,
            RANDOM,
            "x86_64",
            b"/bin/sh",
        )
        .unwrap();
        check_layout(&stack, TOP);
        let d = decode(&stack);
        assert_eq!(
            d.argv,
            vec![b"/bin/sh".to_vec(), b"-c".to_vec(), b"echo hi".to_vec()]
        );
        assert_eq!(d.envp, vec![b"HOME=/".to_vec(), b"TERM=linux".to_vec()]);
        // The caller's entries come first, in order, then the builder's.
        let types: Vec<u64> = d.auxv.iter().map(|&(t, _)| t).collect();
        assert_eq!(
            types,
            vec![
                AT_PAGESZ,
                AT_PHDR,
                AT_ENTRY,
                AT_RANDOM,
                AT_PLATFORM,
                AT_EXECFN
            ]
        );
        assert_eq!(
            &d.auxv[..3],
            &[
                (AT_PAGESZ, 4096),
                (AT_PHDR, 0x40_0040),
                (AT_ENTRY, 0x40_1000)
            ]
        );
        let mem = Memory { stack: &stack };
        assert_eq!(
            mem.bytes(aux_value(&d, AT_RANDOM).unwrap(), 16),
            RANDOM.to_vec()
        );
        assert_eq!(
            mem.cstr(aux_value(&d, AT_PLATFORM).unwrap()),
            b"x86_64".to_vec()
        );
        assert_eq!(
            mem.cstr(aux_value(&d, AT_EXECFN).unwrap()),
            b"/bin/sh".to_vec()
        );
        // Every pointer points into the stack image, above the vectors.
        for &(t, v) in &d.auxv {
            if matches!(t, AT_RANDOM | AT_PLATFORM | AT_EXECFN) {
                assert!(v > stack.stack_pointer && v < TOP);
            }
        }
    }

    #[test]
    fn strings_are_in_linux_order_below_the_end_marker() {
        let stack = build(
            TOP,
            &[b"a", b"bb"],
            &[b"E=1"],
            &[],
            RANDOM,
            "aarch64",
            b"/init",
        )
        .unwrap();
        // From the top: marker, execfn, envp strings, argv strings, platform, random.
        let tail = b"a\0bb\0E=1\0/init\0\0\0\0\0\0\0\0\0";
        assert!(stack.bytes.ends_with(tail));
        let before = &stack.bytes[..stack.bytes.len() - tail.len()];
        assert!(before.ends_with(&[&RANDOM[..], b"aarch64\0"].concat()));
    }

    #[test]
    fn alignment_holds_for_every_shape() {
        let strings: [&[u8]; 5] = [b"", b"x", b"xy", b"xyz0123", b"a-much-longer-argument"];
        for top in [TOP, TOP - 8, TOP - 3, 0x1_0000_0000] {
            for argc in 0..5 {
                for envc in 0..4 {
                    for auxc in 0..3 {
                        let aux: Vec<AuxEntry> =
                            (0..auxc).map(|i| AuxEntry(AT_UID + i, i)).collect();
                        let stack = build(
                            top,
                            &strings[..argc],
                            &strings[..envc],
                            &aux,
                            RANDOM,
                            "x86_64",
                            b"p",
                        )
                        .unwrap();
                        check_layout(&stack, top);
                        let d = decode(&stack);
                        assert_eq!(d.argv.len(), argc);
                        assert_eq!(d.envp.len(), envc);
                        assert_eq!(d.auxv.len(), auxc as usize + 3);
                    }
                }
            }
        }
    }

    #[test]
    fn empty_argv_and_envp_are_allowed() {
        let stack = build(TOP, &[], &[], &[], RANDOM, "x86_64", b"/init").unwrap();
        check_layout(&stack, TOP);
        let d = decode(&stack);
        assert!(d.argv.is_empty() && d.envp.is_empty());
        assert_eq!(
            Memory { stack: &stack }.word(stack.stack_pointer),
            0,
            "argc"
        );
    }

    #[test]
    fn empty_platform_omits_at_platform() {
        let stack = build(TOP, &[b"x"], &[], &[], RANDOM, "", b"x").unwrap();
        let d = decode(&stack);
        assert_eq!(aux_value(&d, AT_PLATFORM), None);
        assert!(aux_value(&d, AT_RANDOM).is_some());
    }

    #[test]
    fn nul_inside_a_string_is_refused() {
        let e = Err(StackError::NulInString);
        assert_eq!(build(TOP, &[b"a\0b"], &[], &[], RANDOM, "x86_64", b"x"), e);
        assert_eq!(
            build(TOP, &[b"a"], &[b"K=\0"], &[], RANDOM, "x86_64", b"x"),
            e
        );
        assert_eq!(build(TOP, &[b"a"], &[], &[], RANDOM, "x86\0", b"x"), e);
        assert_eq!(build(TOP, &[b"a"], &[], &[], RANDOM, "x86_64", b"\0"), e);
    }

    #[test]
    fn reserved_aux_types_are_refused() {
        for t in [AT_NULL, AT_RANDOM, AT_PLATFORM, AT_EXECFN] {
            let aux = [AuxEntry(AT_PAGESZ, 4096), AuxEntry(t, 1)];
            assert_eq!(
                build(TOP, &[b"a"], &[], &aux, RANDOM, "x86_64", b"x"),
                Err(StackError::ReservedAuxType(t))
            );
        }
    }

    #[test]
    fn e2big_limits() {
        // One string at MAX_ARG_STRLEN bytes (plus NUL) is too long; one byte shorter is fine.
        let long = vec![b'a'; MAX_ARG_STRLEN];
        assert_eq!(
            build(TOP, &[&long], &[], &[], RANDOM, "x86_64", b"x"),
            Err(StackError::TooBig)
        );
        assert_eq!(
            build(TOP, &[b"a"], &[&long], &[], RANDOM, "x86_64", b"x"),
            Err(StackError::TooBig)
        );
        assert!(build(TOP, &[&long[1..]], &[], &[], RANDOM, "x86_64", b"x").is_ok());

        // Total: 16 strings of 128 KiB - 1 (with NUL: exactly 2 MiB) leave no room for pointers.
        let chunk = vec![b'b'; MAX_ARG_STRLEN - 1];
        let many: Vec<&[u8]> = (0..16).map(|_| &chunk[..]).collect();
        assert_eq!(
            build(TOP, &many, &[], &[], RANDOM, "x86_64", b""),
            Err(StackError::TooBig)
        );
        // Just under the limit: 2 MiB minus pointers minus execfn's NUL.
        let fits = ARG_MAX - 16 * 8 - 1;
        let last = vec![b'c'; fits - 15 * MAX_ARG_STRLEN - 1];
        let mut argv: Vec<&[u8]> = (0..15).map(|_| &chunk[..]).collect();
        argv.push(&last);
        let stack = build(TOP, &argv, &[], &[], RANDOM, "x86_64", b"").unwrap();
        assert!(stack.bytes.len() > ARG_MAX - 16 * 8);
        assert_eq!(decode(&stack).argv.len(), 16);
        let over = vec![b'c'; last.len() + 1];
        argv[15] = &over;
        assert_eq!(
            build(TOP, &argv, &[], &[], RANDOM, "x86_64", b""),
            Err(StackError::TooBig)
        );

        // Many tiny strings: the pointers count too.
        let empties: Vec<&[u8]> = vec![b""; ARG_MAX / 9 + 1];
        assert_eq!(
            build(TOP, &empties, &[], &[], RANDOM, "x86_64", b""),
            Err(StackError::TooBig)
        );
    }

    #[test]
    fn low_stack_top_is_an_error_not_a_panic() {
        for top in [0, 7, 8, 64, 128] {
            assert_eq!(
                build(
                    top,
                    &[b"abc"],
                    &[b"D=E"],
                    &[AuxEntry(AT_PAGESZ, 4096)],
                    RANDOM,
                    "x86_64",
                    b"abc"
                ),
                Err(StackError::StackTopTooLow)
            );
        }
        // Exactly enough room works.
        let stack = build(TOP, &[b"abc"], &[], &[], RANDOM, "x86_64", b"abc").unwrap();
        let needed = stack.bytes.len() as u64;
        let stack = build(needed, &[b"abc"], &[], &[], RANDOM, "x86_64", b"abc").unwrap();
        assert_eq!(stack.base, 0);
    }

    #[test]
    fn display_messages() {
        let msgs: Vec<String> = [
            StackError::TooBig,
            StackError::NulInString,
            StackError::ReservedAuxType(25),
            StackError::StackTopTooLow,
        ]
        .iter()
        .map(|e| e.to_string())
        .collect();
        assert!(msgs[0].contains("E2BIG"));
        assert!(msgs[2].contains("25"));
        assert!(msgs.iter().all(|m| !m.is_empty()));
    }
}
