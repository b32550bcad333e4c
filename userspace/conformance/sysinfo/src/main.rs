//! Conformance: process information calls. `getrandom` fills buffers (different each time) with
//! each valid flag and refuses unknown flags and bad buffers; `prlimit64` and `getrlimit` agree,
//! a lowered soft limit reads back, soft > hard and unknown resources are EINVAL, an unknown pid
//! ESRCH; the uid/gid getters agree with each other (values are not printed: Linux runs the
//! reference as whichever user the host has); `sched_yield` succeeds; `sched_getaffinity`
//! returns a whole number of longs with at least one CPU (the count is not printed: machines
//! differ) and refuses short or odd sizes; `uname` says Linux on this machine's architecture.
#![no_std]
#![no_main]

use rt::check;
use rt::errno::{EFAULT, EINVAL, ESRCH};
use rt::println;
use rt::sys::{self, Rlimit};
use rt::syscall::{nr, syscall0, syscall1, syscall2, syscall3};

rt::main!(main);

const GRND_NONBLOCK: usize = 1;
const GRND_RANDOM: usize = 2;
const GRND_INSECURE: usize = 4;

fn getrandom(buf: &mut [u8], flags: usize) -> isize {
    // SAFETY: getrandom writes at most buf.len() bytes into buf.
    unsafe { syscall3(nr::GETRANDOM, buf.as_mut_ptr() as usize, buf.len(), flags) }
}

fn id(n: usize) -> isize {
    // SAFETY: the id getters take no arguments.
    unsafe { syscall0(n) }
}

fn main(_env: &rt::Env) -> i32 {
    println!("getrandom:");
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    check::ret("  32 bytes, flags 0", getrandom(&mut a, 0), 32);
    check::ret("  32 more", getrandom(&mut b, 0), 32);
    check::yes("  the two differ", a != b);
    check::ret("  GRND_NONBLOCK", getrandom(&mut a, GRND_NONBLOCK), 32);
    check::yes(
        "  GRND_RANDOM returns some bytes",
        getrandom(&mut a, GRND_RANDOM) > 0,
    );
    check::ret("  GRND_INSECURE", getrandom(&mut a, GRND_INSECURE), 32);
    check::ret("  length 0", getrandom(&mut [], 0), 0);
    check::err("  unknown flag 0x100", getrandom(&mut a, 0x100), EINVAL);
    check::err(
        "  GRND_RANDOM|GRND_INSECURE",
        getrandom(&mut a, GRND_RANDOM | GRND_INSECURE),
        EINVAL,
    );
    // SAFETY: 0x10 is never mapped; the kernel must not write there.
    check::err(
        "  buffer at 0x10",
        unsafe { syscall3(nr::GETRANDOM, 0x10, 16, 0) },
        EFAULT,
    );

    println!("limits:");
    let mut old = Rlimit::default();
    check::ret(
        "  prlimit64(0, RLIMIT_NOFILE, NULL, &old)",
        sys::prlimit(0, sys::RLIMIT_NOFILE, None, Some(&mut old)),
        0,
    );
    check::yes("  soft <= hard", old.cur <= old.max);
    let mut gl = Rlimit::default();
    // SAFETY: gl is a live struct rlimit (two longs, as rlimit64 on these ABIs).
    check::ret(
        "  getrlimit(RLIMIT_NOFILE)",
        unsafe {
            syscall2(
                nr::GETRLIMIT,
                sys::RLIMIT_NOFILE,
                &mut gl as *mut Rlimit as usize,
            )
        },
        0,
    );
    check::yes("  agrees with prlimit64", gl == old);
    let lower = Rlimit {
        cur: old.cur.min(64),
        max: old.max,
    };
    check::ret(
        "  lower the soft limit",
        sys::prlimit(0, sys::RLIMIT_NOFILE, Some(&lower), None),
        0,
    );
    let mut now = Rlimit::default();
    sys::prlimit(0, sys::RLIMIT_NOFILE, None, Some(&mut now));
    check::yes("  reads back", now == lower);
    let inverted = Rlimit { cur: 100, max: 50 };
    check::err(
        "  soft above hard",
        sys::prlimit(0, sys::RLIMIT_NOFILE, Some(&inverted), None),
        EINVAL,
    );
    check::ret(
        "  restore",
        sys::prlimit(0, sys::RLIMIT_NOFILE, Some(&old), None),
        0,
    );
    let mut stack = Rlimit::default();
    check::ret(
        "  RLIMIT_STACK",
        sys::prlimit(0, sys::RLIMIT_STACK, None, Some(&mut stack)),
        0,
    );
    check::err(
        "  resource 100",
        sys::prlimit(0, 100, None, Some(&mut now)),
        EINVAL,
    );
    check::err(
        "  pid 0x3fffffff",
        sys::prlimit(0x3fff_ffff, sys::RLIMIT_NOFILE, None, Some(&mut now)),
        ESRCH,
    );
    // SAFETY: 0x10 is never mapped; the kernel must not write there.
    check::err(
        "  old to 0x10",
        unsafe { rt::syscall::syscall4(nr::PRLIMIT64, 0, sys::RLIMIT_NOFILE, 0, 0x10) },
        EFAULT,
    );

    println!("ids:");
    let (uid, euid, gid, egid) = (
        id(nr::GETUID),
        id(nr::GETEUID),
        id(nr::GETGID),
        id(nr::GETEGID),
    );
    check::yes("  getuid() == geteuid()", uid == euid && uid >= 0);
    check::yes("  getgid() == getegid()", gid == egid && gid >= 0);
    let mut r = [0u32; 3];
    let p = r.as_mut_ptr() as usize;
    // SAFETY: three live u32s for real, effective and saved ids.
    check::ret(
        "  getresuid",
        unsafe { syscall3(nr::GETRESUID, p, p + 4, p + 8) },
        0,
    );
    check::yes(
        "  all three are getuid()",
        r.iter().all(|&x| x as isize == uid),
    );
    // SAFETY: as above.
    check::ret(
        "  getresgid",
        unsafe { syscall3(nr::GETRESGID, p, p + 4, p + 8) },
        0,
    );
    check::yes(
        "  all three are getgid()",
        r.iter().all(|&x| x as isize == gid),
    );
    // SAFETY: 0x10 is never mapped.
    check::err(
        "  getresuid(0x10, ...)",
        unsafe { syscall3(nr::GETRESUID, 0x10, p + 4, p + 8) },
        EFAULT,
    );
    // SAFETY: a count of 0 only asks for the number of groups.
    check::yes(
        "  getgroups(0, NULL) >= 0",
        unsafe { syscall2(nr::GETGROUPS, 0, 0) } >= 0,
    );
    check::err(
        "  getgroups(-1, NULL)",
        unsafe { syscall2(nr::GETGROUPS, usize::MAX, 0) },
        EINVAL,
    );

    println!("scheduling:");
    check::ret("  sched_yield", sys::sched_yield(), 0);
    let mut mask = [0u64; 16];
    // SAFETY: mask is 128 live bytes.
    let n = unsafe { syscall3(nr::SCHED_GETAFFINITY, 0, 128, mask.as_mut_ptr() as usize) };
    check::yes(
        "  sched_getaffinity returns a multiple of 8 bytes",
        n > 0 && n % 8 == 0 && n <= 128,
    );
    check::yes("  with at least one CPU", mask.iter().any(|&w| w != 0));
    // SAFETY: the sizes are refused before anything is written.
    check::err(
        "  size 0",
        unsafe { syscall3(nr::SCHED_GETAFFINITY, 0, 0, mask.as_mut_ptr() as usize) },
        EINVAL,
    );
    // SAFETY: as above.
    check::err(
        "  size 7",
        unsafe { syscall3(nr::SCHED_GETAFFINITY, 0, 7, mask.as_mut_ptr() as usize) },
        EINVAL,
    );
    // SAFETY: 0x10 is never mapped.
    check::err(
        "  buffer at 0x10",
        unsafe { syscall3(nr::SCHED_GETAFFINITY, 0, 128, 0x10) },
        EFAULT,
    );
    // SAFETY: as above for the size check; no such pid.
    check::err(
        "  pid 0x3fffffff",
        unsafe {
            syscall3(
                nr::SCHED_GETAFFINITY,
                0x3fff_ffff,
                128,
                mask.as_mut_ptr() as usize,
            )
        },
        ESRCH,
    );

    println!("uname:");
    let mut u = [0u8; 6 * 65];
    // SAFETY: u is a live struct utsname (six 65-byte fields).
    check::ret(
        "  uname",
        unsafe { syscall1(nr::UNAME, u.as_mut_ptr() as usize) },
        0,
    );
    let field = |i: usize| {
        let f = &u[i * 65..(i + 1) * 65];
        let end = f.iter().position(|&c| c == 0).unwrap_or(65);
        core::str::from_utf8(&f[..end]).unwrap_or("?")
    };
    check::shows("  sysname", field(0), "Linux");
    check::shows(
        "  machine",
        field(4),
        if cfg!(target_arch = "x86_64") {
            "x86_64"
        } else {
            "aarch64"
        },
    );
    check::finish("sysinfo")
}
