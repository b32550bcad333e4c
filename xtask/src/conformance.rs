//! The differential conformance suite (issue 3): test programs of our own — raw `no_std`
//! syscall programs (userspace/conformance), Rust `std` programs (userspace/std), a static musl
//! C program (userspace/c) and a static Go program (userspace/go) — built for both
//! architectures, run on Linux (natively, or under qemu-user) and on Cyphera, which must agree
//! on stdout and exit status. Every program declares the kernel [`Feature`]s it needs; Cyphera
//! runs only those whose features are all in [`AVAILABLE`], the one list the lead extends as
//! features land. Linux runs every program, always: that proves the programs right.
//!
//! Test names: `build/conformance/<toolchain>/<arch>`, `linux/<arch>/conformance/<program>`
//! (the Linux reference: it must end with `<program>: ok` and status 0, and — unless `--quick` —
//! print exactly the same twice), `qemu/<board>/conformance/<program>` (Cyphera against Linux).
//!
//! Toolchains are installed deterministically on first use: the Rust musl targets through
//! rustup; Zig (the C compiler, with musl for both architectures) from PyPI at a pinned version
//! and hash into the target directory; Go from Debian (`golang-go`) when running as root on
//! Debian. The AArch64 reference runs of programs that exec need the host to run AArch64
//! binaries directly: when QEMU's binfmt_misc handler is not registered, it is registered from
//! QEMU's own `binfmt.d` entry (as systemd-binfmt does at boot) when running as root.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use goblin::elf::{Elf, header, program_header};

use super::{
    CASE_TIMEOUT, Case, Expect, LINUX_INIT_ENV, LinuxRun, Tally, Verdict, run_on_linux, selected,
};
use crate::arch::{Arch, Board};
use crate::build::{self, Kernel, Userspace};
use crate::cpio::Entry;
use crate::error::{Context, Result, bail};
use crate::setup;

/// A kernel capability a conformance program needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Feature {
    /// fork (clone without CLONE_VM), wait4/waitid with statuses, exit codes.
    Fork,
    /// vfork / clone(CLONE_VM|CLONE_VFORK), as musl's posix_spawn and Rust's Command use it.
    Vfork,
    /// execve: replacing the image, keeping the pid, closing O_CLOEXEC fds.
    Exec,
    /// clone with the pthread flags, set_tid_address, CLONE_CHILD_CLEARTID wakeups.
    Threads,
    /// futex WAIT/WAKE/REQUEUE/CMP_REQUEUE/BITSET, private and shared, timeouts.
    Futex,
    /// The thread pointer: x86_64 arch_prctl FS/GS (CLONE_SETTLS), AArch64 TPIDR_EL0.
    Tls,
    /// mmap/munmap/mprotect/mremap/madvise/brk, demand paging, copy-on-write, stack growth.
    Mmap,
    /// rt_sigaction/procmask/pending/suspend/timedwait, kill/tkill/tgkill, delivery and
    /// rt_sigreturn with Linux's frames, default actions, SIGCHLD.
    Signals,
    /// Faults (SIGSEGV/SIGILL/SIGFPE/SIGBUS) delivered to handlers with siginfo and context.
    FaultSignals,
    /// sigaltstack and SA_ONSTACK.
    AltStack,
    /// SIGSTOP/SIGCONT, WUNTRACED/WCONTINUED.
    JobControl,
    /// clock_gettime/getres, gettimeofday, times, getrusage.
    Clocks,
    /// Blocking sleeps with deadlines: nanosleep, clock_nanosleep, timed waits.
    Sleep,
    /// Timer-driven preemption of running user code.
    Preemption,
    /// FP/SIMD registers saved and restored per thread.
    FpState,
    /// getrandom, prlimit64/getrlimit, uid/gid getters, sched_yield/getaffinity.
    SysInfo,
    /// pipe2, read/write/close on pipes, dup2, fcntl.
    Pipe,
    /// poll/ppoll (Rust's std polls its standard fds at start and when reading two pipes).
    Poll,
    /// epoll (Go's runtime uses it for timers).
    Epoll,
    /// A writable file system (issue 4).
    Vfs,
    /// A wall clock set from a real-time clock (CLOCK_REALTIME near the host's date). A property
    /// of the board as much as of the kernel: boards without an RTC (the Raspberry Pis) start at
    /// the epoch, as Linux does there, so programs checking the date are skipped on them.
    WallClock,
}

/// The features Cyphera implements. A program runs on Cyphera only when everything it needs is
/// listed here; the lead adds each feature as it lands (the Linux side runs every program
/// regardless), e.g. `&[Fork, Mmap]` runs `fork-wait` and `mmap` on Cyphera. A program whose
/// features are all listed but fails on Cyphera fails the suite.
pub const AVAILABLE: &[Feature] = &[
    Fork,
    Vfork,
    Exec,
    Threads,
    Futex,
    Tls,
    Mmap,
    Signals,
    FaultSignals,
    AltStack,
    JobControl,
    Clocks,
    Sleep,
    Preemption,
    FpState,
    SysInfo,
    Pipe,
    Poll,
    Epoll,
    WallClock,
    Vfs,
];

/// How a program is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Toolchain {
    /// `no_std` Rust on the userspace runtime (userspace/conformance/<name>).
    Raw,
    /// Rust `std` for `<arch>-unknown-linux-musl` (userspace/std/<dir>, package `<name>`).
    RustStd,
    /// C with musl, compiled by Zig (userspace/c/<file>).
    C,
    /// Go (userspace/go).
    Go,
}

impl Toolchain {
    const ALL: [Toolchain; 4] = [
        Toolchain::Raw,
        Toolchain::RustStd,
        Toolchain::C,
        Toolchain::Go,
    ];

    fn name(self) -> &'static str {
        match self {
            Toolchain::Raw => "raw",
            Toolchain::RustStd => "rust-std",
            Toolchain::C => "c",
            Toolchain::Go => "go",
        }
    }
}

/// One conformance program.
struct Program {
    name: &'static str,
    toolchain: Toolchain,
    needs: &'static [Feature],
}

use Feature::*;
use Toolchain::{C, Go, Raw, RustStd};

/// Every conformance program (userspace/README.md says what each checks), with the features
/// it needs. One line each, so the table reads at a glance.
#[rustfmt::skip]
const PROGRAMS: &[Program] = &[
    Program { name: "fork-wait", toolchain: Raw, needs: &[Fork] },
    Program { name: "exec-chain", toolchain: Raw, needs: &[Fork, Exec] },
    Program { name: "vfork-exec", toolchain: Raw, needs: &[Vfork, Exec] },
    Program { name: "mmap", toolchain: Raw, needs: &[Mmap] },
    Program { name: "fork-memory", toolchain: Raw, needs: &[Fork, Mmap, Futex] },
    Program { name: "threads", toolchain: Raw, needs: &[Threads, Futex, Tls, Mmap, Fork] },
    Program { name: "futex", toolchain: Raw, needs: &[Threads, Futex, Tls, Mmap, Clocks] },
    Program { name: "tls", toolchain: Raw, needs: &[Tls, Threads, Futex, Mmap, Signals, Fork, Clocks] },
    Program { name: "signals", toolchain: Raw, needs: &[Signals, Clocks, Sleep] },
    Program { name: "fault-signals", toolchain: Raw, needs: &[Mmap, Signals, FaultSignals, Fork] },
    Program { name: "sigaltstack", toolchain: Raw, needs: &[Signals, AltStack, Mmap, Fork, SysInfo] },
    Program { name: "signal-process", toolchain: Raw, needs: &[Fork, Signals, JobControl, Clocks, Sleep, SysInfo] },
    Program { name: "thread-signals", toolchain: Raw, needs: &[Threads, Futex, Tls, Mmap, Signals, AltStack, Fork, Clocks] },
    Program { name: "exec-state", toolchain: Raw, needs: &[Fork, Exec, Threads, Futex, Tls, Mmap, Signals, AltStack, Pipe] },
    Program { name: "time", toolchain: Raw, needs: &[Clocks, Sleep, Fork, WallClock] },
    Program { name: "sysinfo", toolchain: Raw, needs: &[SysInfo] },
    Program { name: "isolation", toolchain: Raw, needs: &[Fork, Signals, FaultSignals] },
    Program { name: "fpu-preempt", toolchain: Raw, needs: &[Threads, Futex, Tls, Mmap, FpState, Preemption] },
    Program { name: "exhaust-fds", toolchain: Raw, needs: &[Fork, Pipe, SysInfo, Vfs] },
    Program { name: "exhaust-processes", toolchain: Raw, needs: &[Fork, Pipe, SysInfo, Signals, Threads, Futex, Tls, Mmap] },
    Program { name: "pipe-stress", toolchain: Raw, needs: &[Fork, Pipe, Mmap, Signals, Sleep] },
    Program { name: "exhaust-memory", toolchain: Raw, needs: &[Fork, Mmap, Signals, Sleep, Vfs, Pipe] },
    Program { name: "exhaust-overcommit", toolchain: Raw, needs: &[Fork, Mmap, Signals, Sleep, Vfs] },
    Program { name: "std-threads", toolchain: RustStd, needs: &[Threads, Futex, Tls, Mmap, Signals, AltStack, Poll] },
    Program { name: "std-process", toolchain: RustStd, needs: &[Fork, Vfork, Exec, Pipe, Poll, Mmap, Signals, AltStack] },
    Program { name: "std-time-simd", toolchain: RustStd, needs: &[Threads, Futex, Tls, Mmap, Signals, AltStack, Poll, Clocks, Sleep, FpState, Preemption, WallClock] },
    Program { name: "std-fs", toolchain: RustStd, needs: &[Vfs, Fork, Vfork, Exec, Pipe, Mmap, Signals, AltStack, Poll] },
    Program { name: "c-fork-exec", toolchain: C, needs: &[Fork, Vfork, Exec, Pipe, Signals, Mmap] },
    Program { name: "go-goroutines", toolchain: Go, needs: &[Threads, Futex, Tls, Mmap, Signals, AltStack, Clocks, Sleep, Preemption, FpState, SysInfo, Epoll, Pipe] },
];

/// The C program's source, under userspace/c.
const C_SOURCE: &str = "fork-exec.c";
/// Zig, the C compiler (clang with musl for every target), pinned with the wheels' hashes for
/// x86_64 and AArch64 Linux hosts.
const ZIG_VERSION: &str = "0.15.2";
const ZIG_WHEEL_HASHES: [&str; 2] = [
    "806316453d1ede7174ed3fefb8e5348154629089c3bb5fe812dfd0e172fac130",
    "edc0aa60ec964a4cf462d40f68d7de242ddf37fd9a80f2afaee6397059463230",
];
/// The oldest Go that builds the Go program (Debian bookworm's).
const GO_MIN_MINOR: u32 = 19;

impl Program {
    /// The features it needs that Cyphera lacks.
    fn missing(&self) -> Vec<Feature> {
        self.needs
            .iter()
            .copied()
            .filter(|f| !AVAILABLE.contains(f))
            .collect()
    }

    /// Whether the program execs (its AArch64 Linux reference then needs binfmt_misc on a
    /// foreign host, since QEMU's user mode hands execve to the host kernel).
    fn execs(&self) -> bool {
        self.needs.contains(&Exec)
    }
}

/// The built programs, per architecture, and why the others are missing.
pub(super) struct Suite {
    programs: HashMap<(Arch, &'static str), PathBuf>,
    broken: HashMap<(Arch, Toolchain), String>,
    /// Why the host cannot run foreign-architecture programs that exec, if it cannot.
    no_foreign_exec: HashMap<Arch, String>,
}

impl Suite {
    /// The program's path, or why there is none.
    fn program(&self, arch: Arch, p: &Program) -> Result<&Path, String> {
        if let Some(path) = self.programs.get(&(arch, p.name)) {
            return Ok(path);
        }
        Err(match self.broken.get(&(arch, p.toolchain)) {
            Some(why) => format!("not built: {why}"),
            None => "not built".into(),
        })
    }
}

/// True if any conformance test would be selected by `--filter` (on any board of `arches`).
pub(super) fn wanted(filter: &Option<String>, arches: &[Arch]) -> bool {
    PROGRAMS.iter().any(|p| {
        arches
            .iter()
            .any(|&arch| selected(filter, &linux_name(arch, p)))
            || crate::arch::BOARDS
                .iter()
                .filter(|b| arches.contains(&b.arch))
                .any(|b| selected(filter, &qemu_name(b, p)))
    })
}

fn qemu_name(board: &'static Board, p: &Program) -> String {
    format!("qemu/{}/conformance/{}", board.test_prefix(), p.name)
}

fn linux_name(arch: Arch, p: &Program) -> String {
    format!("linux/{arch}/conformance/{}", p.name)
}

/// Builds every program for `arches` (each toolchain failing on its own), recording the
/// `build/conformance/...` results, and checks that the host can run the Linux references.
pub(super) fn build(
    arches: &[Arch],
    userspace: &HashMap<Arch, Userspace>,
    tally: &mut Tally,
) -> Suite {
    let mut suite = Suite {
        programs: HashMap::new(),
        broken: HashMap::new(),
        no_foreign_exec: HashMap::new(),
    };
    // The tools, once for both architectures.
    let std_targets: Vec<&str> = arches.iter().map(|a| std_target(*a)).collect();
    let tools: HashMap<Toolchain, Result<Option<PathBuf>, String>> = HashMap::from([
        (Raw, Ok(None)),
        (
            RustStd,
            setup::ensure_rust_targets(&std_targets)
                .map(|()| None)
                .map_err(|e| e.to_string()),
        ),
        (C, ensure_zig().map(Some).map_err(|e| e.to_string())),
        (Go, ensure_go().map(Some).map_err(|e| e.to_string())),
    ]);
    for &arch in arches {
        for toolchain in Toolchain::ALL {
            let name = format!("build/conformance/{}/{arch}", toolchain.name());
            let programs: Vec<&Program> = PROGRAMS
                .iter()
                .filter(|p| p.toolchain == toolchain)
                .collect();
            let built = match &tools[&toolchain] {
                Err(why) => Err(why.clone()),
                Ok(tool) => build_toolchain(toolchain, arch, tool.as_deref(), &programs)
                    .map_err(|e| e.to_string()),
            };
            match built {
                Ok(paths) => {
                    tally.record(
                        &name,
                        Verdict::Pass(format!("{} programs; static, right machine", paths.len())),
                    );
                    for (p, path) in programs.iter().zip(paths) {
                        suite.programs.insert((arch, p.name), path);
                    }
                }
                Err(why) => {
                    tally.record(&name, Verdict::Fail(why.clone()));
                    suite.broken.insert((arch, toolchain), why);
                }
            }
        }
        if Arch::host() != Some(arch) {
            let probe = userspace.get(&arch).map(|u| u.program("hello"));
            if let Err(why) = ensure_foreign_exec(arch, probe.as_deref()) {
                suite.no_foreign_exec.insert(arch, why);
            }
        }
    }
    suite
}

/// Builds `programs` (all of one toolchain) for `arch` and checks each binary; returns their
/// paths in order.
fn build_toolchain(
    toolchain: Toolchain,
    arch: Arch,
    tool: Option<&Path>,
    programs: &[&Program],
) -> Result<Vec<PathBuf>> {
    let paths = match toolchain {
        Raw => build_raw(arch, programs)?,
        RustStd => build_std(arch, programs)?,
        C => {
            let zig = tool.ok_or_else(|| crate::error::Error::new("no zig"))?;
            programs
                .iter()
                .map(|p| build_c(arch, zig, p))
                .collect::<Result<_>>()?
        }
        Go => {
            let go = tool.ok_or_else(|| crate::error::Error::new("no go"))?;
            programs
                .iter()
                .map(|p| build_go(arch, go, p))
                .collect::<Result<_>>()?
        }
    };
    for path in &paths {
        let bytes = std::fs::read(path).context(|| format!("reading {}", path.display()))?;
        check_static(&bytes, arch).context(|| format!("{}", path.display()))?;
    }
    Ok(paths)
}

/// The raw programs: members of the userspace workspace, built exactly like the other
/// userspace programs (same target, flags and target directory, so nothing is rebuilt).
fn build_raw(arch: Arch, programs: &[&Program]) -> Result<Vec<PathBuf>> {
    let triple = arch.userspace_target();
    let target = build::target_dir().join("userspace");
    let mut cargo = build::rust_tool("cargo");
    cargo
        .args(["build", "--quiet", "--release", "--manifest-path"])
        .arg(build::root().join("userspace").join("Cargo.toml"))
        .args(["--target", triple])
        .arg("--target-dir")
        .arg(&target)
        .env("RUSTFLAGS", arch.userspace_rustflags(false).join(" "));
    for p in programs {
        cargo.args(["--package", p.name]);
    }
    eprintln!("xtask: building the {arch} conformance programs (raw)");
    build::run_checked(&mut cargo)?;
    let dir = target.join(triple).join("release");
    Ok(programs.iter().map(|p| dir.join(p.name)).collect())
}

/// The Rust target of the `std` programs.
fn std_target(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "x86_64-unknown-linux-musl",
        Arch::Aarch64 => "aarch64-unknown-linux-musl",
    }
}

/// The `std` programs: their own workspace, each target's defaults (static; x86_64 static-pie),
/// linked with rust-lld so no cross linker is needed.
fn build_std(arch: Arch, programs: &[&Program]) -> Result<Vec<PathBuf>> {
    let triple = std_target(arch);
    let target = build::target_dir().join("userspace-std");
    let mut cargo = build::rust_tool("cargo");
    cargo
        .args(["build", "--quiet", "--release", "--manifest-path"])
        .arg(
            build::root()
                .join("userspace")
                .join("std")
                .join("Cargo.toml"),
        )
        .args(["--target", triple])
        .arg("--target-dir")
        .arg(&target)
        .env("RUSTFLAGS", "-C linker=rust-lld");
    for p in programs {
        cargo.args(["--package", p.name]);
    }
    eprintln!("xtask: building the {arch} conformance programs (Rust std)");
    build::run_checked(&mut cargo)?;
    let dir = target.join(triple).join("release");
    Ok(programs.iter().map(|p| dir.join(p.name)).collect())
}

/// Where the non-Cargo builds put their programs.
fn out_dir(arch: Arch) -> Result<PathBuf> {
    let dir = build::target_dir().join("conformance").join(arch.name());
    std::fs::create_dir_all(&dir).context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Where downloaded tools and their caches live: inside the target directory, with the other
/// build products (`cargo clean` removes them; the next test run fetches them again).
fn tools_dir() -> PathBuf {
    build::target_dir().join("tools")
}

fn zig_target(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "x86_64-linux-musl",
        Arch::Aarch64 => "aarch64-linux-musl",
    }
}

fn build_c(arch: Arch, zig: &Path, p: &Program) -> Result<PathBuf> {
    let out = out_dir(arch)?.join(p.name);
    let cache = tools_dir().join("zig-cache");
    let mut cmd = Command::new(zig);
    cmd.args([
        "cc",
        "-target",
        zig_target(arch),
        "-static",
        "-O2",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-o",
    ])
    .arg(&out)
    .arg(build::root().join("userspace").join("c").join(C_SOURCE))
    .env("ZIG_GLOBAL_CACHE_DIR", &cache)
    .env("ZIG_LOCAL_CACHE_DIR", &cache);
    eprintln!(
        "xtask: building the {arch} conformance program {} (C, zig {ZIG_VERSION})",
        p.name
    );
    build::run_checked(&mut cmd)?;
    Ok(out)
}

fn go_arch(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "amd64",
        Arch::Aarch64 => "arm64",
    }
}

fn build_go(arch: Arch, go: &Path, p: &Program) -> Result<PathBuf> {
    let out = out_dir(arch)?.join(p.name);
    let tools = tools_dir();
    let mut cmd = Command::new(go);
    cmd.args(["build", "-trimpath", "-o"])
        .arg(&out)
        .arg(".")
        .current_dir(build::root().join("userspace").join("go"))
        // A static binary for Linux on `arch`, built offline with caches in the target dir.
        .env("CGO_ENABLED", "0")
        .env("GOOS", "linux")
        .env("GOARCH", go_arch(arch))
        .env("GOCACHE", tools.join("go-cache"))
        .env("GOPATH", tools.join("go-path"))
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-mod=mod")
        .env("GO111MODULE", "on")
        .env("GOTOOLCHAIN", "local")
        .env("GOWORK", "off")
        .env("GOENV", "off");
    eprintln!(
        "xtask: building the {arch} conformance program {} (Go)",
        p.name
    );
    build::run_checked(&mut cmd)?;
    Ok(out)
}

/// A static Linux program for `arch`: ELF64 little-endian for the right machine, an executable
/// (ET_EXEC, or ET_DYN for static-pie), with no PT_INTERP.
fn check_static(bytes: &[u8], arch: Arch) -> Result<()> {
    let elf = Elf::parse(bytes)?;
    if !elf.is_64 || !elf.little_endian {
        bail!("not a 64-bit little-endian ELF");
    }
    if elf.header.e_machine != arch.elf_machine() {
        bail!(
            "built for machine {}, not {arch}",
            header::machine_to_str(elf.header.e_machine)
        );
    }
    if elf.header.e_type != header::ET_EXEC && elf.header.e_type != header::ET_DYN {
        bail!(
            "ELF type {} is not an executable",
            header::et_to_str(elf.header.e_type)
        );
    }
    if elf.interpreter.is_some()
        || elf
            .program_headers
            .iter()
            .any(|p| p.p_type == program_header::PT_INTERP)
    {
        bail!("has PT_INTERP: it is dynamically linked");
    }
    Ok(())
}

/// Zig from its PyPI wheel (pinned version and hashes), unpacked into the target directory.
fn ensure_zig() -> Result<PathBuf> {
    let dir = tools_dir().join(format!("zig-{ZIG_VERSION}"));
    let zig = dir.join("ziglang").join("zig");
    if zig.is_file() {
        return Ok(zig);
    }
    let python = setup::which("python3").ok_or_else(|| {
        crate::error::Error::new(format!(
            "the C conformance program needs Zig {ZIG_VERSION}, installed with python3 -m pip from PyPI; python3 was not found"
        ))
    })?;
    std::fs::create_dir_all(tools_dir())?;
    let requirements = tools_dir().join(format!("zig-{ZIG_VERSION}.requirements"));
    let hashes: Vec<String> = ZIG_WHEEL_HASHES
        .iter()
        .map(|h| format!("--hash=sha256:{h}"))
        .collect();
    std::fs::write(
        &requirements,
        format!("ziglang=={ZIG_VERSION} {}\n", hashes.join(" ")),
    )?;
    // Unpacked beside the final place and renamed, so an interrupted install is never used.
    let partial = tools_dir().join(format!("zig-{ZIG_VERSION}.partial"));
    let _ = std::fs::remove_dir_all(&partial);
    let mut pip = Command::new(python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--only-binary=:all:",
    ])
    .args(["--require-hashes", "--target"])
    .arg(&partial)
    .arg("-r")
    .arg(&requirements);
    eprintln!(
        "xtask: installing Zig {ZIG_VERSION} (PyPI wheel `ziglang`) into {}",
        dir.display()
    );
    build::run_checked(&mut pip)?;
    std::fs::rename(&partial, &dir).context(|| format!("moving Zig into {}", dir.display()))?;
    if !zig.is_file() {
        bail!("the ziglang wheel has no {}", zig.display());
    }
    Ok(zig)
}

/// The Go toolchain: `go` from PATH if it is new enough, else Debian's `golang-go` installed
/// with apt-get when running as root on Debian.
fn ensure_go() -> Result<PathBuf> {
    let usable = |go: &Path| {
        let out = Command::new(go).args(["env", "GOVERSION"]).output().ok()?;
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let minor: u32 = version
            .strip_prefix("go1.")?
            .split(['.', 'r', 'b'])
            .next()?
            .parse()
            .ok()?;
        (minor >= GO_MIN_MINOR).then_some(())
    };
    if let Some(go) = setup::which("go")
        && usable(&go).is_some()
    {
        return Ok(go);
    }
    let debian = std::fs::read_to_string("/etc/os-release")
        .is_ok_and(|s| s.lines().any(|l| l == "ID=debian"));
    if debian && is_root() {
        eprintln!("xtask: installing Go (Debian package golang-go)");
        let install = || {
            let mut cmd = Command::new("apt-get");
            cmd.args(["install", "-y", "--no-install-recommends", "golang-go"])
                .env("DEBIAN_FRONTEND", "noninteractive");
            build::run_checked(&mut cmd)
        };
        if install().is_err() {
            build::run_checked(Command::new("apt-get").arg("update"))?;
            install()?;
        }
        if let Some(go) = setup::which("go")
            && usable(&go).is_some()
        {
            return Ok(go);
        }
    }
    bail!(
        "the Go conformance program needs Go 1.{GO_MIN_MINOR} or newer (`go` in PATH); on Debian, as root: apt-get install golang-go"
    )
}

/// Makes sure AArch64 (on an x86_64 host: the foreign architecture) programs can exec other
/// programs of their architecture under QEMU's user mode, which hands execve to the host
/// kernel: that needs QEMU's binfmt_misc handler. Probes by running `probe` (the hello world)
/// directly; if that fails and we are root, registers QEMU's own entry from its `binfmt.d`
/// directory (mounting binfmt_misc first if needed), as systemd-binfmt would at boot.
fn ensure_foreign_exec(arch: Arch, probe: Option<&Path>) -> Result<(), String> {
    let Some(probe) = probe else {
        return Err(format!("no {arch} hello world to probe with"));
    };
    let runs = || {
        Command::new(probe).output().is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains("Hello, world!")
        })
    };
    if runs() {
        return Ok(());
    }
    let conf = PathBuf::from(format!(
        "/usr/share/qemu/binfmt.d/{}.conf",
        arch.qemu_user()
    ));
    let fix = format!(
        "mount binfmt_misc if needed (mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc) and, as root, \
         cat {} > /proc/sys/fs/binfmt_misc/register",
        conf.display()
    );
    if !is_root() {
        return Err(format!(
            "this host cannot run {arch} programs directly (binfmt_misc); {fix}"
        ));
    }
    let binfmt = Path::new("/proc/sys/fs/binfmt_misc");
    if !binfmt.join("register").exists() {
        let _ = Command::new("mount")
            .args(["-t", "binfmt_misc", "binfmt_misc"])
            .arg(binfmt)
            .status();
    }
    let entry = binfmt.join(arch.qemu_user());
    let registered = if entry.exists() {
        std::fs::write(&entry, "1")
    } else {
        match std::fs::read_to_string(&conf) {
            Ok(line) => std::fs::write(binfmt.join("register"), line.trim_end()),
            Err(e) => Err(e),
        }
    };
    if let Err(e) = registered {
        return Err(format!(
            "registering QEMU's {arch} binfmt_misc handler failed ({e}); {fix}"
        ));
    }
    eprintln!(
        "xtask: registered QEMU's binfmt_misc handler for {arch} (from {})",
        conf.display()
    );
    if runs() {
        Ok(())
    } else {
        Err(format!(
            "{arch} programs still do not run directly after registering binfmt_misc; {fix}"
        ))
    }
}

/// True when running as root (the real uid in /proc/self/status), which installing and
/// registering need.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .is_some_and(|r| r.split_whitespace().next() == Some("0"))
    })
}

/// The Linux reference run of a program: as init would be run, but with argv[0] its real path
/// (the programs run themselves again through argv[0]).
fn linux_run(arch: Arch, path: &Path) -> LinuxRun {
    LinuxRun {
        arch,
        program: path.to_path_buf(),
        argv0: path.display().to_string(),
        args: Vec::new(),
        env: LINUX_INIT_ENV.iter().map(|s| s.to_string()).collect(),
    }
}

/// Runs every selected program on Linux for each of `arches` (two at a time), requiring exit
/// status 0, a last line `<name>: ok`, and (unless `quick`) the same output on a second run.
pub(super) fn run_linux(
    suite: &Suite,
    arches: &[Arch],
    filter: &Option<String>,
    quick: bool,
    tally: &mut Tally,
) {
    let mut jobs = Vec::new();
    for &arch in arches {
        for p in PROGRAMS {
            let name = linux_name(arch, p);
            if !selected(filter, &name) {
                continue;
            }
            let verdict = match suite.program(arch, p) {
                Err(why) => Some(Verdict::Fail(why)),
                Ok(_) if p.execs() && suite.no_foreign_exec.contains_key(&arch) => {
                    Some(Verdict::Skip(suite.no_foreign_exec[&arch].clone()))
                }
                Ok(_) => None,
            };
            jobs.push((name, arch, p, verdict));
        }
    }
    let results: Mutex<Vec<(usize, Verdict)>> = Mutex::new(Vec::new());
    let next = Mutex::new(0usize);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().unwrap_or_else(|e| e.into_inner());
                        let i = *n;
                        *n += 1;
                        i
                    };
                    let Some((_, arch, p, early)) = jobs.get(i) else {
                        break;
                    };
                    let verdict = match early {
                        Some(Verdict::Fail(w)) => Verdict::Fail(w.clone()),
                        Some(Verdict::Skip(w)) => Verdict::Skip(w.clone()),
                        Some(Verdict::Pass(w)) => Verdict::Pass(w.clone()),
                        None => match suite.program(*arch, p) {
                            Ok(path) => linux_reference(*arch, p, path, quick),
                            Err(why) => Verdict::Fail(why),
                        },
                    };
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((i, verdict));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(i, _)| *i);
    for (i, verdict) in results {
        tally.record(&jobs[i].0, verdict);
    }
}

fn linux_reference(arch: Arch, p: &Program, path: &Path, quick: bool) -> Verdict {
    let run = linux_run(arch, path);
    let first = match run_on_linux(&run) {
        Ok(r) => r,
        Err(e) => return Verdict::Fail(format!("running it on Linux: {e}")),
    };
    let (stdout, status) = &first;
    let last = stdout.lines().last().unwrap_or("");
    let ok_line = format!("{}: ok", p.name);
    if status.code() != Some(0) || last != ok_line {
        return Verdict::Fail(format!(
            "on Linux it ended with {status} and last line {last:?} (want status 0 and {ok_line:?}):\n{stdout}"
        ));
    }
    if !quick {
        match run_on_linux(&run) {
            Ok((again, status2)) if again == *stdout && status2 == *status => {}
            Ok((again, _)) => {
                return Verdict::Fail(format!(
                    "its output differs between two Linux runs (it must be deterministic):\n--- first ---\n{stdout}--- second ---\n{again}"
                ));
            }
            Err(e) => return Verdict::Fail(format!("running it on Linux again: {e}")),
        }
    }
    let lines = stdout.lines().count();
    Verdict::Pass(format!(
        "{lines} lines{}",
        if quick { "" } else { ", the same twice" }
    ))
}

/// The Cyphera cases of `board`: every built program whose features are all available, booted
/// as init and compared with Linux; the others are recorded as skipped with what they need.
/// Every board runs the suite; a board without a real-time clock skips the programs that check
/// the date ([`Feature::WallClock`]).
pub(super) fn qemu_cases(
    suite: &Suite,
    board: &'static Board,
    kernel: &Kernel,
    release: bool,
    filter: &Option<String>,
    tally: &mut Tally,
) -> Vec<Case> {
    let arch = board.arch;
    // The suite runs on every board: a port is only done when the process model works on it.
    let mut cases = Vec::new();
    for p in PROGRAMS {
        let name = qemu_name(board, p);
        if !selected(filter, &name) {
            continue;
        }
        if p.needs.contains(&WallClock) && !board.rtc {
            tally.record(
                &name,
                Verdict::Skip(
                    "the board has no real-time clock, so its wall clock starts at the epoch \
                     (as Linux's does there) and cannot match the host's date"
                        .into(),
                ),
            );
            continue;
        }
        let missing = p.missing();
        if !missing.is_empty() {
            let list: Vec<String> = missing.iter().map(|f| format!("{f:?}")).collect();
            tally.record(
                &name,
                Verdict::Skip(format!(
                    "needs {} (not yet in conformance::AVAILABLE)",
                    list.join(", ")
                )),
            );
            continue;
        }
        let path = match suite.program(arch, p) {
            Ok(path) => path,
            Err(why) => {
                tally.record(&name, Verdict::Fail(why));
                continue;
            }
        };
        if p.execs()
            && let Some(why) = suite.no_foreign_exec.get(&arch)
        {
            tally.record(&name, Verdict::Skip(format!("no Linux reference: {why}")));
            continue;
        }
        let bytes = std::fs::read(path).unwrap_or_default();
        cases.push(Case {
            name,
            board,
            kernel: kernel.clone(),
            release,
            rootfs: vec![Entry::file("init", 0o755, bytes)],
            init: None,
            append: None,
            init_args: Vec::new(),
            cpu: None,
            machine_opts: None,
            accel: None,
            expect: Expect::Exit(0),
            console_has: vec![format!("{}: ok", p.name)],
            linux: Some(linux_run(arch, path)),
            through_xtask: false,
            timeout: program_timeout(p),
        });
        // UMIP: user code running `str`/`sldt` must get SIGSEGV. Cyphera only: Linux may
        // emulate these instructions (the host's does), so there is no reference to match.
        if p.name == "isolation" && arch == Arch::X86_64 {
            let last = cases.last().expect("just pushed").clone();
            cases.push(Case {
                name: format!("{}/umip", last.name),
                init_args: vec!["umip".into()],
                linux: None,
                console_has: [
                    "str (UMIP):",
                    "  signal 11 code 0x80 addr 0x0",
                    "sldt (UMIP):",
                    "isolation: ok",
                ]
                .map(String::from)
                .to_vec(),
                ..last
            });
        }
        // Init gets only the signals it handles. Only init meets that protection and the Linux
        // references do not run as init, so this case is Cyphera's alone; its lines are what
        // Debian's Linux 6.1 printed for the same binary run as init in QEMU (`cargo xtask run
        // --kernel linux --init /signal-process -- as-init`), the same on both arches.
        if p.name == "signal-process" {
            let last = cases.last().expect("just pushed").clone();
            cases.push(Case {
                name: format!("{}/as-init", last.name),
                init_args: vec!["as-init".into()],
                linux: None,
                console_has: AS_INIT_ON_LINUX.map(String::from).to_vec(),
                ..last
            });
        }
    }
    cases
}

/// `signal-process as-init` on Linux, run as init (see where it is used).
const AS_INIT_ON_LINUX: [&str; 9] = [
    "init gets only the signals it handles:",
    "  getpid: 1",
    "  a child sends SIGKILL, SIGSTOP, SIGTERM, SIGINT, SIGSEGV, SIGUSR1, SIGTSTP and SIGUSR2: exited 0",
    "  init's SIGUSR2 handler ran: 1",
    "  nothing is left pending: 0",
    "  SIGTERM while blocked: the child: exited 0",
    "  pending while blocked: yes",
    "  dropped once unblocked: 0",
    "signal-process: ok",
];

/// How long a program's boot may take. The stress programs (`exhaust-*`, `pipe-stress`) do far
/// more work than a boot: filling all of memory takes time in proportion to it (seconds on the
/// 512 MiB machines, up to a minute on the Raspberry Pis' 900 MiB under TCG), and with two
/// QEMUs and the Linux references sharing two CPUs any of them can pass 60 s (pipe-stress took
/// 19 s alone on raspi4b and over 60 s beside a memory program). Only a hang should fail them.
fn program_timeout(p: &Program) -> std::time::Duration {
    if p.name.starts_with("exhaust-") || p.name == "pipe-stress" {
        std::time::Duration::from_secs(300)
    } else {
        CASE_TIMEOUT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_unique_and_need_something() {
        for (i, p) in PROGRAMS.iter().enumerate() {
            assert!(!p.needs.is_empty(), "{}", p.name);
            assert!(
                PROGRAMS[i + 1..].iter().all(|q| q.name != p.name),
                "{} twice",
                p.name
            );
        }
    }

    /// Every program's source exists where its toolchain builds it from, and every raw
    /// program is a member of the userspace workspace (and every std one of its own).
    #[test]
    fn programs_have_sources_and_workspace_entries() {
        let user = build::root().join("userspace");
        let raw_members = std::fs::read_to_string(user.join("Cargo.toml")).unwrap();
        let std_members = std::fs::read_to_string(user.join("std").join("Cargo.toml")).unwrap();
        for p in PROGRAMS {
            match p.toolchain {
                Raw => {
                    assert!(
                        user.join("conformance")
                            .join(p.name)
                            .join("src/main.rs")
                            .is_file(),
                        "{}",
                        p.name
                    );
                    assert!(
                        raw_members.contains(&format!("\"conformance/{}\"", p.name)),
                        "{}",
                        p.name
                    );
                }
                RustStd => {
                    let dir = p.name.strip_prefix("std-").unwrap();
                    assert!(
                        user.join("std").join(dir).join("src/main.rs").is_file(),
                        "{}",
                        p.name
                    );
                    assert!(std_members.contains(&format!("\"{dir}\"")), "{}", p.name);
                }
                C => assert!(user.join("c").join(C_SOURCE).is_file()),
                Go => assert!(user.join("go").join("main.go").is_file()),
            }
        }
    }

    #[test]
    fn missing_features_are_those_not_available() {
        let p = PROGRAMS.iter().find(|p| p.name == "go-goroutines").unwrap();
        let missing = p.missing();
        assert!(missing.iter().all(|f| !AVAILABLE.contains(f)));
        assert_eq!(
            missing.len() + p.needs.iter().filter(|f| AVAILABLE.contains(f)).count(),
            p.needs.len()
        );
    }

    #[test]
    fn static_check_refuses_dynamic_and_wrong_machine() {
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        if let Some(host) = Arch::host() {
            // The test binary is dynamically linked (it has PT_INTERP) for the host.
            let err = check_static(&exe, host).unwrap_err().to_string();
            assert!(err.contains("PT_INTERP"), "{err}");
            let err = check_static(&exe, host.other()).unwrap_err().to_string();
            assert!(err.contains("machine"), "{err}");
        }
        assert!(check_static(b"#!/bin/sh\n", Arch::X86_64).is_err());
    }

    #[test]
    fn linux_runs_use_the_real_path_as_argv0() {
        let r = linux_run(Arch::Aarch64, Path::new("/x/y/prog"));
        assert_eq!(r.argv0, "/x/y/prog");
        assert_eq!(r.env, ["HOME=/", "TERM=linux"]);
        assert!(r.args.is_empty());
    }

    #[test]
    fn filters_select_conformance_tests() {
        assert!(wanted(&None, &[Arch::X86_64]));
        assert!(wanted(&Some("conformance".into()), &[Arch::X86_64]));
        assert!(wanted(&Some("fork-wait".into()), &[Arch::Aarch64]));
        assert!(!wanted(&Some("qemu/x86_64/hello".into()), &[Arch::X86_64]));
    }
}
