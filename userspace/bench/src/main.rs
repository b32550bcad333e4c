//! lmbench-style microbenchmarks of the Linux ABI, run as /init by `cargo xtask bench` under
//! Cyphera and under Debian's Linux in the same QEMU machine: the null system call, tiny reads and
//! writes of device files, path lookups, pipe and scheduler round trips, fork, exec and page
//! faults, plus the time from machine start to this program's first instruction. Nothing here
//! depends on anything but the Linux ABI, so the same binary measures both kernels.
//!
//! Output, one line per result (the contract with xtask's parser, see xtask/src/bench/protocol.rs):
//! `cyphera-bench: begin arch=A mode=full|quick`, then per row either
//! `cyphera-bench: result name=N ns=X.Y iters=I` (guest nanoseconds per operation) or
//! `cyphera-bench: missing name=N reason=R`, then `cyphera-bench: end`. The program then powers
//! the machine off with reboot(2): as Linux's init it must never exit.
//! Arguments, in any order and among other words: `quick` runs about a hundredth of the
//! iterations (the CI smoke mode); naming rows runs only those (for profiling one of them).
#![no_std]
#![no_main]

use rt::errno::{self, EINTR};
use rt::println;
use rt::sys::{self, MAP_ANONYMOUS, MAP_PRIVATE, PAGE, PROT_READ, PROT_WRITE};
use rt::syscall::{nr, syscall0, syscall2, syscall3, syscall4, syscall6};

rt::main!(main);

#[cfg(target_arch = "x86_64")]
const ARCH: &str = "x86_64";
#[cfg(target_arch = "aarch64")]
const ARCH: &str = "aarch64";

const AT_FDCWD: usize = -100isize as usize;
const O_RDONLY: usize = 0;
const O_WRONLY: usize = 1;
const O_CREAT: usize = 0o100;
const O_TRUNC: usize = 0o1000;
const O_CLOEXEC: usize = rt::sys::O_CLOEXEC;
/// reboot(2)'s magic numbers and the power-off command.
const REBOOT_MAGIC1: usize = 0xfee1_dead;
const REBOOT_MAGIC2: usize = 0x2812_1969;
const REBOOT_CMD_POWER_OFF: usize = 0x4321_fedc;

/// The file the path rows open and stat: made at start, two components deep.
const FILE: &[u8] = b"/tmp/bench-file\0";
/// The program the exec row runs (xtask puts it into the initramfs).
const EXIT_PROGRAM: &[u8] = b"/bench-exit\0";
/// The mapping the page-fault row maps, touches page by page and unmaps.
const MAP_BYTES: usize = 1 << 20;

/// Why a row could not run: the failing call and its errno.
struct Failed {
    call: &'static str,
    errno: isize,
}

type Outcome = Result<(), Failed>;

/// Turns a raw syscall result into `Ok(value)` or the failure of `call`.
fn ok(call: &'static str, r: isize) -> Result<usize, Failed> {
    if r < 0 {
        Err(Failed { call, errno: -r })
    } else {
        Ok(r as usize)
    }
}

/// One benchmark: its name in the output, its full-mode iteration count, and the body that
/// performs `iters` operations (after a warm-up of the same body).
struct Row {
    name: &'static str,
    iters: u64,
    body: fn(u64) -> Outcome,
}

const ROWS: &[Row] = &[
    Row {
        name: "getppid",
        iters: 200_000,
        body: getppid,
    },
    Row {
        name: "write-devnull",
        iters: 100_000,
        body: write_devnull,
    },
    Row {
        name: "read-devzero",
        iters: 50_000,
        body: read_devzero,
    },
    Row {
        name: "open-close",
        iters: 20_000,
        body: open_close,
    },
    Row {
        name: "stat",
        iters: 20_000,
        body: stat,
    },
    Row {
        name: "pipe-pingpong",
        iters: 10_000,
        body: pipe_pingpong,
    },
    Row {
        name: "ctxswitch",
        iters: 10_000,
        body: ctxswitch,
    },
    Row {
        name: "fork-exit-wait",
        iters: 1_000,
        body: fork_exit_wait,
    },
    Row {
        name: "fork-exec-wait",
        iters: 500,
        body: fork_exec_wait,
    },
    Row {
        name: "mmap-touch-munmap",
        iters: 500,
        body: mmap_touch_munmap,
    },
];

fn main(env: &rt::Env) -> i32 {
    // First: the counter at the first instruction of main (a few hundred instructions after the
    // kernel handed over; the runtime's _start only reads the initial stack).
    let boot_ticks = counter();
    let boot_clock = sys::monotonic_ns();
    // Linux hands init the command-line words it does not know (`nokaslr`, ...) ahead of those
    // after `--`, so the arguments are looked for anywhere and other words are ignored.
    let args = || (1..env.argc()).filter_map(|i| env.arg(i));
    let quick = args().any(|a| a == b"quick");
    let is_row = |a: &[u8]| ROWS.iter().any(|r| r.name.as_bytes() == a);
    let any_named = args().any(is_row);
    // Naming rows runs only those (all of them when none is named).
    let selected = |name: &str| !any_named || args().any(|a| a == name.as_bytes());
    println!(
        "cyphera-bench: begin arch={ARCH} mode={}",
        if quick { "quick" } else { "full" }
    );
    match prepare() {
        Ok(()) => {
            for row in ROWS.iter().filter(|r| selected(r.name)) {
                let iters = if quick {
                    (row.iters / 100).max(3)
                } else {
                    row.iters
                };
                run(row, iters);
            }
        }
        Err(f) => {
            for row in ROWS {
                missing(row.name, &f);
            }
        }
    }
    report_boot(boot_ticks, boot_clock);
    println!("cyphera-bench: end");
    // As Linux's init it must never exit, so it powers the machine off; run as anything but pid 1
    // (say, by hand on a Linux host under qemu-user) it must never do that, and simply exits.
    if sys::getpid() == 1 {
        power_off()
    }
    0
}

/// Makes the file the path rows use.
fn prepare() -> Outcome {
    // SAFETY: FILE is NUL-terminated; openat reads only the path.
    let fd = ok("openat", unsafe {
        syscall4(
            nr::OPENAT,
            AT_FDCWD,
            FILE.as_ptr() as usize,
            O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
            0o644,
        )
    })?;
    let written = rt::io::write(fd as i32, b"cyphera bench\n");
    sys::close(fd as i32);
    ok("write", written).map(|_| ())
}

/// Runs one row: a warm-up of a twentieth of the iterations (caches, first faults, lazily built
/// kernel state), then the timed run; prints its result line.
fn run(row: &Row, iters: u64) {
    if let Err(f) = (row.body)((iters / 20).max(1)) {
        missing(row.name, &f);
        return;
    }
    let start = sys::monotonic_ns();
    let outcome = (row.body)(iters);
    let elapsed = sys::monotonic_ns() - start;
    match outcome {
        Ok(()) => {
            // Per operation, to a tenth of a nanosecond; ctxswitch counts both sides' switches.
            let ops = if row.name == "ctxswitch" {
                2 * iters
            } else {
                iters
            };
            let tenths = (elapsed * 10 / ops as i128).max(0);
            println!(
                "cyphera-bench: result name={} ns={}.{} iters={iters}",
                row.name,
                tenths / 10,
                tenths % 10
            );
        }
        Err(f) => missing(row.name, &f),
    }
}

fn missing(name: &str, f: &Failed) {
    match errno::name(f.errno) {
        Some(e) => println!("cyphera-bench: missing name={name} reason={}:{e}", f.call),
        None => println!(
            "cyphera-bench: missing name={name} reason={}:errno{}",
            f.call, f.errno
        ),
    }
}

/// The boot row: the CPU counter's value at main's first instruction, in nanoseconds. The counter
/// starts at zero when QEMU starts the machine on both architectures, so this is machine start
/// (firmware included, the same for both kernels) to /init.
fn report_boot(ticks: u64, clock_at_ticks: i128) {
    match counter_hz(ticks, clock_at_ticks) {
        Some(hz) => {
            let ns = ticks as u128 * 1_000_000_000 / hz as u128;
            println!("cyphera-bench: result name=boot ns={ns}.0 iters=1");
        }
        None => println!("cyphera-bench: missing name=boot reason=counter-frequency-unknown"),
    }
}

/// The counter's frequency: AArch64 states it in CNTFRQ_EL0; on x86_64 the TSC's rate is measured
/// against CLOCK_MONOTONIC over the whole run (seconds, so the error is far below a percent).
fn counter_hz(ticks: u64, clock_at_ticks: i128) -> Option<u64> {
    #[cfg(target_arch = "aarch64")]
    {
        let _ = (ticks, clock_at_ticks);
        let hz: u64;
        // SAFETY: reading CNTFRQ_EL0 has no side effects; EL0 may read it whenever it may read
        // the virtual counter, which counter() already did.
        unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) hz, options(nomem, nostack)) };
        (hz != 0).then_some(hz)
    }
    #[cfg(target_arch = "x86_64")]
    {
        let now_ticks = counter();
        let now_clock = sys::monotonic_ns();
        let dt = now_clock - clock_at_ticks;
        let dc = now_ticks.checked_sub(ticks)?;
        if dt <= 0 || dc == 0 {
            return None;
        }
        Some((dc as u128 * 1_000_000_000 / dt as u128) as u64)
    }
}

/// The free-running CPU counter user mode may read: the TSC, the AArch64 virtual counter.
fn counter() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc only reads the time-stamp counter; both kernels leave CR4.TSD clear.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(target_arch = "aarch64")]
    {
        let v: u64;
        // SAFETY: reading CNTVCT_EL0 has no side effects; both kernels set CNTKCTL_EL1.EL0VCTEN.
        // The isb keeps the read from being hoisted above earlier instructions.
        unsafe {
            core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) v, options(nomem, nostack))
        };
        v
    }
}

fn power_off() -> ! {
    // SAFETY: sync and reboot take no pointers.
    unsafe {
        syscall0(nr::SYNC);
        syscall4(
            nr::REBOOT,
            REBOOT_MAGIC1,
            REBOOT_MAGIC2,
            REBOOT_CMD_POWER_OFF,
            0,
        );
    }
    // reboot only returns on failure (e.g. not permitted): say so, then stay alive, since init
    // must not exit.
    println!("cyphera-bench: power off failed");
    loop {
        sys::sleep_ms(1000);
    }
}

// ---------------------------------------------------------------------------------------------
// The rows.

fn getppid(iters: u64) -> Outcome {
    for _ in 0..iters {
        // SAFETY: getppid takes no arguments.
        ok("getppid", unsafe { syscall0(nr::GETPPID) })?;
    }
    Ok(())
}

fn open(path: &[u8], flags: usize) -> Result<i32, Failed> {
    // SAFETY: path is NUL-terminated; openat reads only the path.
    ok("openat", unsafe {
        syscall4(nr::OPENAT, AT_FDCWD, path.as_ptr() as usize, flags, 0)
    })
    .map(|fd| fd as i32)
}

fn write_devnull(iters: u64) -> Outcome {
    let fd = open(b"/dev/null\0", O_WRONLY | O_CLOEXEC)?;
    let byte = [0u8; 1];
    let mut r = Ok(());
    for _ in 0..iters {
        let n = rt::io::write(fd, &byte);
        if n != 1 {
            r = Err(Failed {
                call: "write",
                errno: if n < 0 { -n } else { errno::EIO },
            });
            break;
        }
    }
    sys::close(fd);
    r
}

fn read_devzero(iters: u64) -> Outcome {
    let fd = open(b"/dev/zero\0", O_RDONLY | O_CLOEXEC)?;
    let mut buf = [1u8; 4096];
    let mut r = Ok(());
    for _ in 0..iters {
        let n = sys::read(fd, &mut buf);
        if n != buf.len() as isize {
            r = Err(Failed {
                call: "read",
                errno: if n < 0 { -n } else { errno::EIO },
            });
            break;
        }
    }
    sys::close(fd);
    if r.is_ok() && buf.iter().any(|&b| b != 0) {
        // /dev/zero that does not zero is not a result worth reporting.
        r = Err(Failed {
            call: "read",
            errno: errno::EIO,
        });
    }
    r
}

fn open_close(iters: u64) -> Outcome {
    for _ in 0..iters {
        let fd = open(FILE, O_RDONLY | O_CLOEXEC)?;
        ok("close", sys::close(fd))?;
    }
    Ok(())
}

fn stat(iters: u64) -> Outcome {
    // Big enough for both architectures' struct stat (144 and 128 bytes).
    let mut st = [0u64; 32];
    for _ in 0..iters {
        // SAFETY: FILE is NUL-terminated and st is larger than struct stat.
        ok("newfstatat", unsafe {
            syscall4(
                nr::NEWFSTATAT,
                AT_FDCWD,
                FILE.as_ptr() as usize,
                st.as_mut_ptr() as usize,
                0,
            )
        })?;
    }
    Ok(())
}

/// fork, mapping a failure to the row's outcome.
fn fork() -> Result<usize, Failed> {
    ok("fork", sys::fork())
}

/// Waits for `pid` and checks that it exited with status 0.
fn reap(pid: usize) -> Outcome {
    let mut status = 0;
    loop {
        let r = sys::wait4(pid as i32, Some(&mut status), 0);
        if r == -EINTR {
            continue;
        }
        ok("wait4", r)?;
        return if sys::exited(status) == Some(0) {
            Ok(())
        } else {
            Err(Failed {
                call: "child",
                errno: errno::ECHILD,
            })
        };
    }
}

/// Reads or writes exactly one byte on `fd`.
fn one_byte(fd: i32, write: bool) -> Outcome {
    let mut b = [7u8; 1];
    let n = if write {
        rt::io::write(fd, &b)
    } else {
        sys::read(fd, &mut b)
    };
    match n {
        1 => Ok(()),
        n if n < 0 => Err(Failed {
            call: if write { "write" } else { "read" },
            errno: -n,
        }),
        _ => Err(Failed {
            call: "read",
            errno: errno::EPIPE,
        }),
    }
}

fn pipe_pingpong(iters: u64) -> Outcome {
    let down = ok_pipe()?;
    let up = ok_pipe()?;
    let child = fork()?;
    if child == 0 {
        sys::close(down[1]);
        sys::close(up[0]);
        // Echo every byte until the parent closes its end.
        let mut b = [0u8; 1];
        while sys::read(down[0], &mut b) == 1 {
            if rt::io::write(up[1], &b) != 1 {
                rt::exit(1);
            }
        }
        rt::exit(0);
    }
    sys::close(down[0]);
    sys::close(up[1]);
    let mut r = Ok(());
    for _ in 0..iters {
        if let Err(f) = one_byte(down[1], true).and_then(|()| one_byte(up[0], false)) {
            r = Err(f);
            break;
        }
    }
    sys::close(down[1]);
    sys::close(up[0]);
    r.and(reap(child))
}

fn ok_pipe() -> Result<[i32; 2], Failed> {
    sys::pipe2(O_CLOEXEC).map_err(|e| Failed {
        call: "pipe2",
        errno: -e,
    })
}

/// Two processes that each call sched_yield `iters` times: on one CPU every yield hands the CPU
/// to the other, so the run is 2 x iters switches. The child says it is running (through a pipe)
/// before the parent starts yielding, so no switch is lost to the child's start.
fn ctxswitch(iters: u64) -> Outcome {
    let ready = ok_pipe()?;
    let child = fork()?;
    if child == 0 {
        sys::close(ready[0]);
        if one_byte(ready[1], true).is_err() {
            rt::exit(1);
        }
        sys::close(ready[1]);
        for _ in 0..iters {
            sys::sched_yield();
        }
        rt::exit(0);
    }
    sys::close(ready[1]);
    let r = one_byte(ready[0], false);
    sys::close(ready[0]);
    for _ in 0..iters {
        ok("sched_yield", sys::sched_yield())?;
    }
    r.and(reap(child))
}

fn fork_exit_wait(iters: u64) -> Outcome {
    for _ in 0..iters {
        let child = fork()?;
        if child == 0 {
            rt::exit(0);
        }
        reap(child)?;
    }
    Ok(())
}

fn fork_exec_wait(iters: u64) -> Outcome {
    let argv: [*const u8; 2] = [EXIT_PROGRAM.as_ptr(), core::ptr::null()];
    let envp: [*const u8; 1] = [core::ptr::null()];
    for _ in 0..iters {
        let child = fork()?;
        if child == 0 {
            // SAFETY: the path and both arrays are NUL-terminated and live until execve.
            unsafe {
                syscall3(
                    nr::EXECVE,
                    EXIT_PROGRAM.as_ptr() as usize,
                    argv.as_ptr() as usize,
                    envp.as_ptr() as usize,
                )
            };
            // execve returned: it failed; the parent sees status 127.
            rt::exit(127);
        }
        reap(child).map_err(|f| {
            if f.call == "child" {
                Failed {
                    call: "execve",
                    errno: errno::ENOENT,
                }
            } else {
                f
            }
        })?;
    }
    Ok(())
}

fn mmap_touch_munmap(iters: u64) -> Outcome {
    for _ in 0..iters {
        // SAFETY: no MAP_FIXED: the kernel picks a free range, nothing existing changes.
        let addr = ok("mmap", unsafe {
            syscall6(
                nr::MMAP,
                [
                    0,
                    MAP_BYTES,
                    PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS,
                    usize::MAX,
                    0,
                ],
            )
        })?;
        for page in (0..MAP_BYTES).step_by(PAGE) {
            // SAFETY: addr..addr+MAP_BYTES was just mapped readable and writable by this process.
            unsafe { core::ptr::write_volatile((addr + page) as *mut u8, 1) };
        }
        // SAFETY: the range is the mapping made above, which nothing else uses.
        ok("munmap", unsafe { syscall2(nr::MUNMAP, addr, MAP_BYTES) })?;
    }
    Ok(())
}
