//! Choosing a call and its arguments. The number: uniform over the architecture's whole table
//! most of the time, a call with a known argument shape (specs.rs) often, and now and then a
//! number outside the table. Each argument: a value of the kind the shape names (a pool
//! descriptor for an fd, a pool path for a path, a pointer into the arena for a buffer, ...),
//! or, for one call in ten and for calls without a shape, the generic mix of small integers,
//! boundary values, descriptors, pointers, flags and noise.
//!
//! Everything drawn here comes from the child's [`Rng`] and the child's fixed state (its pool,
//! its pid, and the numbers earlier children found unimplemented: [`Learned`]), never from its
//! own calls' results, so a child's calls are a function of the seed and the children before it.

use rt::sys::PAGE;

use crate::arena;
use crate::rng::Rng;
use crate::table::{
    self, NR_ARCH_PRCTL, NR_FCNTL, NR_FUTEX, NR_MADVISE, NR_PRCTL, SPECCED, TABLE_LEN,
};

/// One call to issue.
#[derive(Clone, Copy)]
pub struct Call {
    pub nr: usize,
    pub args: [usize; 6],
}

/// What the generators may refer to: the child's descriptor pool and identity.
pub struct Ctx {
    pub pool: [i32; 32],
    pub pool_len: usize,
    pub pid: i32,
    /// The numbers earlier children found unimplemented (see [`Learned`]).
    pub unimplemented: Learned,
}

/// What the parent learns from the children's records: the numbers in the table that so far
/// only ever returned -ENOSYS. Most of Linux's ~380 calls are not in a young kernel, and drawing
/// them uniformly spends most calls on ENOSYS; nine in ten draws of a number known to be
/// unimplemented are drawn again, so the calls the kernel does implement get most of the time
/// while the others are still tried. A number that ever returned anything else is implemented
/// (some calls answer ENOSYS only for some sub-commands). Learned from results, but only from
/// the -ENOSYS answers, which depend on the number alone: a replay that runs the earlier children
/// again learns the same set (one with `alone` starts from nothing).
#[derive(Clone, Copy, Default)]
pub struct Learned {
    enosys: [u64; TABLE_LEN.div_ceil(64)],
    other: [u64; TABLE_LEN.div_ceil(64)],
}

impl Learned {
    /// Adds one result of call `nr`.
    pub fn note(&mut self, nr: usize, ret: isize) {
        if nr >= TABLE_LEN {
            return;
        }
        let (word, bit) = (nr / 64, 1u64 << (nr % 64));
        if ret == -38 {
            self.enosys[word] |= bit;
        } else {
            self.other[word] |= bit;
        }
    }

    pub fn unimplemented(&self, nr: usize) -> bool {
        if nr >= TABLE_LEN {
            return false;
        }
        let (word, bit) = (nr / 64, 1u64 << (nr % 64));
        self.enosys[word] & bit != 0 && self.other[word] & bit == 0
    }

    /// How many numbers are known unimplemented.
    pub fn count(&self) -> u32 {
        self.enosys
            .iter()
            .zip(&self.other)
            .map(|(e, o)| (e & !o).count_ones())
            .sum()
    }
}

impl Ctx {
    pub fn pool(&self) -> &[i32] {
        &self.pool[..self.pool_len]
    }
}

const AT_FDCWD: isize = -100;

/// Sign-extends a C `int`, as a C caller passes it.
fn int(v: i32) -> usize {
    v as isize as usize
}

const fn long_path<const N: usize>() -> [u8; N] {
    let mut p = [0u8; N];
    let prefix = b"/fuzz/";
    let mut i = 0;
    while i < N - 1 {
        p[i] = if i < prefix.len() {
            prefix[i]
        } else if (i - prefix.len()) % 2 == 1 {
            b'/'
        } else {
            b'a'
        };
        i += 1;
    }
    p
}

const fn long_name<const N: usize>() -> [u8; N] {
    let mut p = [0u8; N];
    let prefix = b"/fuzz/";
    let mut i = 0;
    while i < N - 1 {
        p[i] = if i < prefix.len() { prefix[i] } else { b'x' };
        i += 1;
    }
    p
}

/// Longer than PATH_MAX (4096 with its NUL): ENAMETOOLONG.
static PATH_TOO_LONG: [u8; 4200] = long_path();
/// Exactly PATH_MAX with its NUL.
static PATH_MAX_LONG: [u8; 4096] = long_path();
/// A component longer than NAME_MAX (255).
static NAME_TOO_LONG: [u8; 300] = long_name();

/// The paths path arguments are given (NUL-terminated). Everything a fuzzed call may create,
/// rename, link or unlink by these is inside /fuzz, /tmp, or one of the kernel's own trees;
/// the parent rebuilds /fuzz, /tmp, /dev and /proc after every child. Deliberately absent:
/// /init, /proc/self/exe and /proc/*/fd/* (see deny.rs on exec), and /dev/console and /dev/tty,
/// whose read-write opens would let random buffers onto the console the harness parses.
static PATHS: &[&[u8]] = &[
    b"/fuzz/a\0",
    b"/fuzz/b\0",
    b"/fuzz/dir\0",
    b"/fuzz/dir/c\0",
    b"/fuzz/dir/new\0",
    b"/fuzz/link\0",
    b"/fuzz/loop1\0",
    b"/fuzz/loop1/x\0",
    b"/fuzz/dangling\0",
    b"/fuzz/fifo\0",
    b"/fuzz/null\0",
    b"/fuzz/new\0",
    b"/fuzz/sock\0",
    b"/fuzz/exit-elf\0",
    b"/fuzz/script\0",
    b"/fuzz/\0",
    b"/fuzz/a/\0",
    b"/fuzz/a/x\0",
    b"//fuzz///a\0",
    b"/fuzz/./dir/../a\0",
    b"/nonexistent/x\0",
    b"/\0",
    b".\0",
    b"..\0",
    b"\0",
    b"a\0",
    b"new\0",
    b"dir\0",
    b"/dev/null\0",
    b"/dev/zero\0",
    b"/dev\0",
    b"/proc\0",
    b"/proc/self\0",
    b"/proc/self/maps\0",
    b"/proc/self/stat\0",
    b"/proc/self/status\0",
    b"/proc/self/cwd\0",
    b"/proc/1/stat\0",
    b"/proc/meminfo\0",
    b"/tmp\0",
    b"/tmp/x\0",
];

/// The only paths an exec call is given (deny.rs): a tiny valid program, damaged ELF files, a
/// non-ELF file, a script, a directory, nothing, and the empty path (for AT_EMPTY_PATH).
pub static EXEC_PATHS: &[&[u8]] = &[
    b"/fuzz/exit-elf\0",
    b"/fuzz/bad-elf-0\0",
    b"/fuzz/bad-elf-1\0",
    b"/fuzz/bad-elf-2\0",
    b"/fuzz/bad-elf-3\0",
    b"/fuzz/bad-elf-4\0",
    b"/fuzz/a\0",
    b"/fuzz/script\0",
    b"/fuzz/dir\0",
    b"/fuzz/nonexistent\0",
    b"\0",
];

/// File-system types for mount.
static FS_TYPES: &[&[u8]] = &[
    b"tmpfs\0",
    b"proc\0",
    b"devtmpfs\0",
    b"ramfs\0",
    b"sysfs\0",
    b"ext4\0",
    b"\0",
];

const BOUNDARY: &[usize] = &[
    0,
    1,
    2,
    7,
    8,
    16,
    63,
    64,
    127,
    128,
    255,
    256,
    PAGE - 1,
    PAGE,
    PAGE + 1,
    2 * PAGE,
    65535,
    65536,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    usize::MAX,
    usize::MAX - 1,
    usize::MAX - (PAGE - 1),
    usize::MAX - PAGE,
];

/// Kernel-half addresses: the direct map of physical memory (where RAM starts on the machine),
/// the kernel image, and the very top.
#[cfg(target_arch = "x86_64")]
const KERNEL: &[usize] = &[
    0xffff_8000_0000_0000,
    0xffff_8000_0010_0000,
    0xffff_8000_0100_0000,
    0xffff_ffff_8000_0000,
    0xffff_ffff_8010_0000,
    0xffff_ffff_ffff_f000,
    0xffff_ffff_ffff_fff8,
];
#[cfg(target_arch = "aarch64")]
const KERNEL: &[usize] = &[
    0xffff_0000_0000_0000,
    0xffff_0000_4000_0000,
    0xffff_0000_4010_0000,
    0xffff_ffff_8000_0000,
    0xffff_ffff_8010_0000,
    0xffff_ffff_ffff_f000,
    0xffff_ffff_ffff_fff8,
];

/// Addresses that are neither user nor kernel: the first byte past user space, non-canonical
/// ones, and (AArch64) the arena with a top-byte tag.
#[cfg(target_arch = "x86_64")]
const ODD: &[usize] = &[
    0x0000_7fff_ffff_f000,
    0x0000_8000_0000_0000,
    0x0001_0000_0000_0000,
    0x8000_0000_0000_0000,
    0x00ff_ffff_ffff_f000,
];
#[cfg(target_arch = "aarch64")]
const ODD: &[usize] = &[
    0x0001_0000_0000_0000,
    0x0000_ffff_ffff_f000,
    0x0100_0000_0000_0000 | arena::RW1,
    0xff00_0000_0000_0000 | arena::RW1,
    0x8000_0000_0000_0000,
];

/// Numbers outside the table: just past it, round numbers, the largest, and the 32-bit-truncation
/// and (x86_64) x32 aliases of real calls.
fn out_of_range(rng: &mut Rng) -> usize {
    match rng.below(6) {
        0 => rng.pick(&[
            TABLE_LEN,
            TABLE_LEN + 1,
            500,
            511,
            512,
            1000,
            1024,
            0x7fff,
            0xffff,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
            usize::MAX,
            usize::MAX - 1,
            1 << 63,
        ]),
        1 | 2 => (1 << 32) | rng.below(TABLE_LEN),
        3 if cfg!(target_arch = "x86_64") => 0x4000_0000 | rng.below(TABLE_LEN),
        _ => TABLE_LEN + rng.below(64),
    }
}

fn number(rng: &mut Rng, ctx: &Ctx) -> usize {
    loop {
        let roll = rng.below(100);
        let nr = if roll < 3 {
            out_of_range(rng)
        } else if roll < 40 {
            SPECCED[rng.below(SPECCED.len())] as usize
        } else {
            rng.below(TABLE_LEN)
        };
        if !ctx.unimplemented.unimplemented(nr) || rng.below(10) == 0 {
            return nr;
        }
    }
}

/// A whole call. `exit`, `exit_group` and `rt_sigreturn` end the child (the last by jumping
/// through a random frame), so nine in ten of them are drawn again: they stay covered without
/// cutting most children short.
pub fn call(rng: &mut Rng, ctx: &Ctx) -> Call {
    let nr = loop {
        let nr = number(rng, ctx);
        let b = table::base(nr);
        let ends_child =
            b == table::NR_EXIT || b == table::NR_EXIT_GROUP || b == table::NR_RT_SIGRETURN;
        if ends_child && rng.below(10) != 0 {
            continue;
        }
        break nr;
    };
    let spec = if rng.chance(10) {
        ""
    } else {
        table::entry(nr).and_then(|e| e.spec).unwrap_or("")
    };
    let mut args = [0; 6];
    for (i, a) in args.iter_mut().enumerate() {
        let kind = spec.as_bytes().get(i).copied().unwrap_or(b'-');
        *a = arg(rng, ctx, kind, nr);
    }
    Call { nr, args }
}

/// One argument of kind `kind` (a specs.rs letter) for call `nr`.
pub fn arg(rng: &mut Rng, ctx: &Ctx, kind: u8, nr: usize) -> usize {
    match kind {
        b'f' => fd(rng, ctx),
        b'd' => {
            if rng.chance(40) {
                AT_FDCWD as usize
            } else {
                fd(rng, ctx)
            }
        }
        b'p' => path(rng),
        b'e' => exec_path(rng),
        b'b' => pointer(rng),
        b'n' => length(rng),
        b'x' => flags(rng),
        b'm' => mode(rng),
        b'o' => offset(rng),
        b'i' => small(rng),
        b'P' => pid(rng, ctx),
        b's' => {
            if rng.chance(90) {
                rng.below(66)
            } else {
                rng.word() as usize
            }
        }
        b't' => match rng.below(100) {
            0..20 => arena::TS_ZERO,
            20..45 => arena::TS_1US,
            45..60 => arena::TS_1MS,
            60..66 => arena::TS_BAD_NSEC,
            66..70 => arena::TS_NEG,
            70..80 => 0,
            _ => pointer(rng),
        },
        b'v' => match rng.below(100) {
            0..40 => arena::IOV_GOOD + 16 * rng.below(4),
            40..60 => arena::IOV_BAD,
            60..70 => arena::IOV_HUGE,
            _ => pointer(rng),
        },
        b'a' => address(rng),
        b'r' => ioctl_request(rng),
        b'u' => {
            if rng.chance(90) {
                rng.pick(&[0, 1, 1000, 65534, u32::MAX as usize, usize::MAX, 1 << 32])
            } else {
                rng.word() as usize
            }
        }
        b'z' => {
            if rng.chance(80) {
                8
            } else {
                rng.pick(&[0, 4, 16, 128, usize::MAX])
            }
        }
        b'k' => clone_flags(rng),
        b'c' => command(rng, nr),
        b'y' => {
            if rng.chance(80) {
                rng.pick(FS_TYPES).as_ptr() as usize
            } else {
                pointer(rng)
            }
        }
        b'w' => match rng.below(100) {
            0..40 => arena::ARGV,
            40..55 => arena::ENVP,
            55..80 => 0,
            _ => pointer(rng),
        },
        _ => any(rng, ctx),
    }
}

/// The generic mix, for arguments of unknown shape.
fn any(rng: &mut Rng, ctx: &Ctx) -> usize {
    match rng.below(8) {
        0 => small(rng),
        1 => rng.pick(BOUNDARY),
        2 => fd(rng, ctx),
        3 | 4 => pointer(rng),
        5 => flags(rng),
        6 => length(rng),
        _ => rng.word() as usize,
    }
}

fn fd(rng: &mut Rng, ctx: &Ctx) -> usize {
    let pool = ctx.pool();
    match rng.below(100) {
        0..75 if !pool.is_empty() => int(rng.pick(pool)),
        0..85 => rng.below(3),
        85..92 => int(rng.pick(&[
            -1,
            AT_FDCWD as i32,
            4095,
            4096,
            65535,
            1 << 20,
            i32::MAX,
            i32::MIN,
        ])),
        92..97 => rng.below(64),
        // A C int with garbage in the upper half of the register: Linux looks at the low 32
        // bits only.
        _ => (rng.word() as usize & !0xffff_ffff) | rng.below(8),
    }
}

fn path(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..72 => rng.pick(PATHS).as_ptr() as usize,
        72..75 => PATH_TOO_LONG.as_ptr() as usize,
        75..77 => PATH_MAX_LONG.as_ptr() as usize,
        77..79 => NAME_TOO_LONG.as_ptr() as usize,
        79..83 => arena::PATH_AT_END,
        83..87 => arena::PATH_UNTERMINATED,
        87..90 => arena::STR_PATH,
        _ => pointer(rng),
    }
}

pub fn exec_path(rng: &mut Rng) -> usize {
    rng.pick(EXEC_PATHS).as_ptr() as usize
}

/// A pointer argument: mostly into the arena (every protection, near page ends, prepared
/// structures), else NULL, the kernel's half, non-canonical, or noise.
pub fn pointer(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..30 => {
            let page = rng.pick(&[arena::RW0, arena::RW1, arena::RW5]);
            page + (rng.below(PAGE) & !7)
        }
        30..42 => {
            let page = rng.pick(&[arena::RW1, arena::RW5, arena::RO]);
            page + PAGE - rng.pick(&[1, 2, 4, 8, 16, 24, 64, 128, PAGE - 1])
        }
        42..50 => arena::RO + rng.below(PAGE),
        50..56 => arena::NONE + rng.below(PAGE),
        56..60 => arena::HOLE + rng.below(PAGE),
        60..62 => arena::END + rng.below(PAGE),
        62..67 => rng.pick(&[0, 1, 8, 0x1000]),
        67..75 => rng.pick(KERNEL),
        75..79 => rng.pick(ODD),
        79..93 => rng.pick(arena::STRUCTS),
        93..96 => arena::FREE + rng.below(16) * PAGE,
        _ => rng.word() as usize,
    }
}

fn length(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..25 => rng.below(65),
        25..55 => rng.pick(&[
            0,
            1,
            2,
            4,
            8,
            16,
            32,
            64,
            128,
            256,
            512,
            1024,
            PAGE - 1,
            PAGE,
            PAGE + 1,
            2 * PAGE,
        ]),
        55..70 => rng.below(65536),
        70..85 => rng.pick(BOUNDARY),
        _ => rng.word() as usize,
    }
}

fn flags(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..25 => 0,
        25..55 => 1 << rng.below(32),
        55..80 => {
            let mut f = 0;
            for _ in 0..2 + rng.below(3) {
                f |= 1 << rng.below(32);
            }
            f
        }
        80..90 => {
            let mut f = 0;
            for _ in 0..1 + rng.below(4) {
                f |= 1 << rng.below(64);
            }
            f
        }
        _ => rng.word() as usize,
    }
}

fn mode(rng: &mut Rng) -> usize {
    let perm = rng.below(0o10000);
    const TYPES: &[usize] = &[
        0o100000, 0o040000, 0o020000, 0o060000, 0o010000, 0o140000, 0o120000, 0o170000,
    ];
    match rng.below(10) {
        0..6 => perm & 0o777,
        6..8 => perm | rng.pick(TYPES),
        8 => perm,
        _ => rng.word() as usize,
    }
}

fn offset(rng: &mut Rng) -> usize {
    match rng.below(10) {
        0..6 => rng.pick(&[
            0,
            1,
            PAGE - 1,
            PAGE,
            PAGE + 1,
            1 << 20,
            0x7fff_ffff,
            1 << 31,
            1 << 32,
            1 << 40,
            i64::MAX as usize,
            usize::MAX,
            (-(PAGE as isize)) as usize,
        ]),
        6..9 => rng.below(65536),
        _ => rng.word() as usize,
    }
}

fn small(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..60 => rng.below(9),
        60..75 => rng.below(65),
        75..90 => rng.pick(BOUNDARY),
        _ => rng.word() as usize,
    }
}

/// A pid: 0 (own group), -1 (everyone), this process, init, its neighbours, negatives (groups),
/// the extremes, and now and then garbage in the upper half of the register.
fn pid(rng: &mut Rng, ctx: &Ctx) -> usize {
    let other = 3 + rng.below(61) as i32;
    let p = rng.pick(&[
        0,
        -1,
        ctx.pid,
        ctx.pid,
        1,
        2,
        ctx.pid + 1,
        -ctx.pid,
        i32::MIN,
        i32::MAX,
        other,
    ]);
    if rng.chance(5) {
        (rng.word() as usize & !0xffff_ffff) | p as u32 as usize
    } else {
        int(p)
    }
}

fn address(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..40 => arena::ARENA + PAGE * rng.below(arena::PAGES + 1),
        40..45 => arena::ARENA + 1 + rng.below(PAGE - 1),
        45..65 => arena::FREE + PAGE * rng.below(16),
        65..70 => rng.pick(&[0, 0x1000, 0x10000]),
        70..78 => rng.pick(KERNEL),
        78..85 => rng.pick(ODD),
        85..93 => (rng.word() as usize) & 0x0000_7fff_ffff_f000,
        _ => rng.word() as usize,
    }
}

/// The tty, terminal and generic file ioctls, or noise.
fn ioctl_request(rng: &mut Rng) -> usize {
    const OTHERS: &[usize] = &[
        0x5450,      // FIONCLEX
        0x5451,      // FIOCLEX
        0x5452,      // FIOASYNC
        0x5460,      // FIOQSIZE
        0x802c_542a, // TCGETS2
        0x402c_542b, // TCSETS2
        0x402c_542c, // TCSETSW2
        0x402c_542d, // TCSETSF2
        0x8004_5430, // TIOCGPTN
        0x4004_5431, // TIOCSPTLCK
        0x8004_5432, // TIOCGDEV
        0x8008_6601, // FS_IOC_GETFLAGS
        0x4008_6602, // FS_IOC_SETFLAGS
        0x8008_1272, // BLKGETSIZE64
    ];
    match rng.below(100) {
        // TCGETS 0x5401 .. TIOCGEXCL 0x5440: the whole classic tty range.
        0..60 => 0x5401 + rng.below(0x40),
        60..75 => rng.pick(OTHERS),
        75..90 => rng.word() as u32 as usize,
        _ => rng.word() as usize,
    }
}

/// Clone flags: an exit signal (SIGCHLD, none, or any) and up to four CLONE_* bits.
fn clone_flags(rng: &mut Rng) -> usize {
    if rng.chance(10) {
        return rng.word() as usize;
    }
    let any = rng.below(65);
    let mut f = rng.pick(&[17, 17, 0, any]);
    for _ in 0..rng.below(5) {
        f |= 1 << (8 + rng.below(24));
    }
    f
}

/// A sub-command from the call's own list.
fn command(rng: &mut Rng, nr: usize) -> usize {
    let b = table::base(nr);
    if rng.chance(10) {
        return rng.word() as usize;
    }
    if b == NR_FCNTL {
        // F_DUPFD..F_GETOWN_EX and F_OFD_* and the Linux-specific 1024.. range.
        match rng.below(3) {
            0 => rng.below(17),
            1 => 36 + rng.below(3),
            _ => 1024 + rng.below(18),
        }
    } else if b == NR_FUTEX {
        let mut op = rng.below(14);
        if rng.chance(50) {
            op |= 128; // FUTEX_PRIVATE_FLAG
        }
        if rng.chance(25) {
            op |= 256; // FUTEX_CLOCK_REALTIME
        }
        op
    } else if b == NR_ARCH_PRCTL {
        rng.pick(&[
            0x1001, 0x1002, 0x1003, 0x1004, 0x1011, 0x1012, 0x1021, 0x1022, 0x2001, 0x2002, 0x3001,
            0x3002, 0x3003, 0x4001, 0x4002, 0x4003, 0x4004, 0x5001, 0x5002, 0x5003,
        ])
    } else if b == NR_PRCTL {
        rng.below(80)
    } else if b == NR_MADVISE {
        if rng.chance(85) {
            rng.below(26)
        } else {
            100 + rng.below(4)
        }
    } else {
        small(rng)
    }
}
