//! `cargo xtask bench`: boots the benchmark program (userspace/bench) as /init under Cyphera and
//! under Debian's Linux 6.1 on the same QEMU machine, CPU model, memory and single vCPU, reads the
//! per-row times it prints, and reports Cyphera/Linux per row as a Markdown table, JSON and an SVG
//! chart under `target/bench/`. Also times each boot from the host: QEMU start to the first line
//! of user space. Two ways of keeping guest time: TCG wall clock (noisy; the median over runs is
//! reported) and `-icount shift=0,sleep=off` (exactly repeatable). `--quick` is the smoke mode
//! `cargo xtask test` runs: it checks the pipeline works, never how fast anything is.

mod protocol;
mod report;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::arch::{Arch, Board};
use crate::build;
use crate::busybox::GuestKernel;
use crate::cli::BenchArgs;
use crate::cpio::Entry;
use crate::error::{Error, Result, bail};
use crate::qemu::{self, QemuConfig};
use crate::session::Session;
use crate::{linux, setup};

pub use report::Mode;
use report::{ArchResult, KernelRuns};

/// The programs the initramfs holds: /init runs the rows, /bench-exit is what `fork-exec-wait`
/// executes.
const PROGRAMS: [&str; 2] = ["bench", "bench-exit"];

/// How long one benchmark boot may take: a guard against hangs, so generous that a loaded host
/// never trips it (nothing here judges speed).
const TIMEOUT_FULL: Duration = Duration::from_secs(30 * 60);
const TIMEOUT_QUICK: Duration = Duration::from_secs(5 * 60);

/// How long the guest has to power off after `end` (a hang guard).
const POWER_OFF_WAIT: Duration = Duration::from_secs(60);

/// Boots per kernel whose host-side boot time the `boot-host` median is taken over.
const BOOT_HOST_BOOTS: usize = 5;

/// The kernel command line words both kernels get (Cyphera knows them as Linux does and does not
/// pass them to init).
const CMDLINE: &str = "mitigations=off nokaslr";

/// What one invocation measures.
#[derive(Clone, Debug)]
struct Plan {
    mode: Mode,
    quick: bool,
    /// Benchmark runs per kernel.
    runs: usize,
    /// Boots per kernel for `boot-host` (the runs count; extra boots stop at the first line).
    boot_host_boots: usize,
}

/// The CPU model both kernels run on. AArch64 uses `max` with the implementation-defined
/// pointer-authentication algorithm: Linux uses pointer authentication, and QEMU's emulation of
/// the architected algorithm (QARMA) is slow enough to dominate the measurements.
pub fn cpu_model(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => arch.default_board().default_cpu,
        Arch::Aarch64 => "max,pauth-impdef=on",
    }
}

/// The guest argument words: `quick` selects the smoke mode.
fn init_args(quick: bool) -> &'static str {
    if quick { " -- quick" } else { "" }
}

/// Cyphera's command line: the benchmark's words, `quiet` as Linux gets it.
fn cyphera_cmdline(quick: bool) -> String {
    format!("{CMDLINE} quiet{}", init_args(quick))
}

/// Linux's command line: console, `panic=-1` and `quiet` (see [`linux::linux_cmdline`]), then the
/// benchmark's words.
fn linux_cmdline(arch: Arch, quick: bool) -> String {
    linux::linux_cmdline(arch, &format!("{CMDLINE}{}", init_args(quick)))
}

/// The QEMU command for one boot: the board's machine with [`cpu_model`], no `-smp`, and with
/// icount the deterministic clock.
fn qemu_command(board: &'static Board, guest: &Guest, initrd: &Path, mode: Mode) -> Command {
    let cfg = QemuConfig {
        board,
        kernel: &guest.file,
        initrd,
        dtb: guest.dtb.as_deref(),
        cmdline: &guest.cmdline,
        cpu: Some(cpu_model(board.arch)),
        machine_opts: None,
        accel: None,
        gdb: false,
    };
    let mut cmd = qemu::command(&cfg);
    if mode == Mode::Icount {
        cmd.args(["-icount", "shift=0,sleep=off"]);
    }
    cmd
}

/// One kernel as booted by the benchmark.
struct Guest {
    kernel: GuestKernel,
    file: PathBuf,
    dtb: Option<PathBuf>,
    cmdline: String,
}

impl Guest {
    fn label(&self) -> &'static str {
        match self.kernel {
            GuestKernel::Cyphera => "Cyphera",
            GuestKernel::Linux => "Linux",
        }
    }
}

/// A character device node for the initramfs (Linux's devtmpfs is not relied on).
fn char_node(name: &str, perm: u32, major: u32, minor: u32) -> Entry {
    Entry {
        name: name.into(),
        mode: kernel_core::cpio::S_IFCHR | perm,
        mtime: 0,
        data: Vec::new(),
        rdev: (major, minor),
    }
}

/// The benchmark's root filesystem: /init (the benchmark), /bench-exit, the device nodes it
/// opens, and /tmp and /proc, directories before what they hold.
fn initramfs_entries(bench: Vec<u8>, bench_exit: Vec<u8>) -> Vec<Entry> {
    vec![
        Entry::dir("dev", 0o755),
        Entry::dir("tmp", 0o1777),
        Entry::dir("proc", 0o555),
        char_node("dev/console", 0o600, 5, 1),
        char_node("dev/null", 0o666, 1, 3),
        char_node("dev/zero", 0o666, 1, 5),
        Entry::file("init", 0o755, bench),
        Entry::file("bench-exit", 0o755, bench_exit),
    ]
}

/// Why the benchmark cannot be built yet, if it cannot: the programs must be among the userspace
/// programs xtask builds.
fn programs_missing() -> Option<String> {
    let missing: Vec<&str> = PROGRAMS
        .iter()
        .copied()
        .filter(|p| !build::PROGRAMS.contains(p))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "the benchmark program{} {} (userspace/bench) {} not among the programs xtask builds \
             (build::PROGRAMS)",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(" and "),
            if missing.len() == 1 { "is" } else { "are" }
        )
    })
}

/// What one boot gave.
struct Boot {
    /// Host time from starting QEMU to the `begin` line, if it came.
    begin: Option<Duration>,
    /// The console up to the power-off (or the failure).
    result: Result<String>,
    /// The guest powered off by itself after `end`.
    powered_off: bool,
}

/// Boots `cmd` and waits for the benchmark's `begin` line, then (unless `begin_only`) for `end`
/// and the power-off. With `begin_only` QEMU is stopped at once: the boot only timed the start.
fn boot(cmd: Command, timeout: Duration, begin_only: bool) -> Boot {
    let started = Instant::now();
    let mut session = match Session::spawn(cmd) {
        Ok(s) => s,
        Err(e) => {
            return Boot {
                begin: None,
                result: Err(e),
                powered_off: false,
            };
        }
    };
    let begin_line = format!("{}begin", protocol::PREFIX);
    if let Err(e) = session.expect(&begin_line, timeout) {
        return Boot {
            begin: None,
            result: Err(e),
            powered_off: false,
        };
    }
    let begin = Some(started.elapsed());
    if begin_only {
        session.kill();
        return Boot {
            begin,
            result: Ok(session.transcript()),
            powered_off: false,
        };
    }
    let end_line = format!("{}end\n", protocol::PREFIX);
    let left = timeout.saturating_sub(started.elapsed());
    if let Err(e) = session.expect(&end_line, left) {
        return Boot {
            begin,
            result: Err(e),
            powered_off: false,
        };
    }
    let powered_off = session.wait_exit(POWER_OFF_WAIT).is_ok();
    session.kill();
    Boot {
        begin,
        result: Ok(session.transcript()),
        powered_off,
    }
}

/// Reads a finished run's report and checks it is the program and mode that were asked for.
/// An error carries the end of the console.
fn read_report(console: &str, arch: Arch, quick: bool) -> Result<protocol::Report> {
    let checked = protocol::parse(console).and_then(|report| {
        let mode = if quick { "quick" } else { "full" };
        if report.arch != arch.name() {
            bail!(
                "the benchmark says arch={}, but this is {arch}",
                report.arch
            );
        }
        if report.mode != mode {
            // The usual cause: Linux hands init the command-line words it does not know itself
            // (`nokaslr` here) ahead of the words after `--`, so `quick` is not always argv[1].
            bail!(
                "the benchmark says mode={}, but this is {mode} mode (does the program find \
                 `quick` anywhere in its arguments? Linux passes command-line words it does not \
                 know, such as `nokaslr`, to init before the words after `--`)",
                report.mode
            );
        }
        Ok(report)
    });
    checked.map_err(|e| {
        let lines: Vec<&str> = console.lines().collect();
        Error::new(format!(
            "{e}\n--- last 40 lines of the console ---\n{}",
            lines[lines.len().saturating_sub(40)..].join("\n")
        ))
    })
}

/// `qemu-system-* --version`, first line.
fn qemu_version(arch: Arch) -> String {
    Command::new(arch.qemu_system())
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| format!("{} (version unknown)", arch.qemu_system()))
}

/// The commit the kernel was built from, for the record (read-only `git rev-parse`).
fn revision() -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(build::root())
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    let rev = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !rev.is_empty()).then_some(rev)
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Builds, boots and measures one architecture: `plan.runs` runs per kernel, alternating the
/// kernels so that slow phases of the host hit both alike, then the extra boots for `boot-host`.
/// A kernel whose run fails is not run again (the failure is recorded); set-up failures (builds,
/// the Linux download) are errors.
fn measure(arch: Arch, plan: &Plan) -> Result<ArchResult> {
    if let Some(why) = programs_missing() {
        bail!("{why}");
    }
    let board = arch.default_board();
    let user = build::build_userspace(arch)?;
    let read = |name: &str| {
        let path = user.program(name);
        std::fs::read(&path).map_err(|e| Error::new(format!("reading {}: {e}", path.display())))
    };
    let entries = initramfs_entries(read(PROGRAMS[0])?, read(PROGRAMS[1])?);
    let initrd = crate::run::write_initramfs(&format!("bench-{arch}"), &entries)?;
    let kernel = build::build_kernel(board, true)?;
    let dtb = crate::dtb::device_tree(board)?;
    let linux_file = linux::bench_kernel(arch)?;
    let guests = [
        Guest {
            kernel: GuestKernel::Cyphera,
            file: kernel.boot_file.clone(),
            dtb: dtb.clone(),
            cmdline: cyphera_cmdline(plan.quick),
        },
        Guest {
            kernel: GuestKernel::Linux,
            file: linux_file.clone(),
            dtb,
            cmdline: linux_cmdline(arch, plan.quick),
        },
    ];
    let linux_how = match arch {
        Arch::X86_64 => "the vmlinux ELF from its bzImage, booted through PVH",
        Arch::Aarch64 => "its uncompressed Image",
    };
    let descriptions = [
        format!(
            "Cyphera {} (commit {}), the release kernel of board {}; command line `{}`",
            env!("CARGO_PKG_VERSION"),
            revision().unwrap_or_else(|| "unknown".into()),
            board.name,
            guests[0].cmdline
        ),
        format!(
            "{}, {linux_how}; command line `{}`",
            linux::source_description(arch),
            guests[1].cmdline
        ),
    ];
    let mut results: [KernelRuns; 2] = Default::default();
    for (i, guest) in guests.iter().enumerate() {
        results[i].description = descriptions[i].clone();
        results[i].command = build::describe(&qemu_command(board, guest, &initrd, plan.mode));
    }
    let timeout = if plan.quick {
        TIMEOUT_QUICK
    } else {
        TIMEOUT_FULL
    };
    let mut broken = [false; 2];
    for run in 1..=plan.runs {
        for (i, guest) in guests.iter().enumerate() {
            if broken[i] {
                continue;
            }
            let what = format!(
                "bench {arch} {}: {} run {run}/{}",
                plan.mode.name(),
                guest.label(),
                plan.runs
            );
            eprintln!("xtask: {what} ...");
            let started = Instant::now();
            let b = boot(
                qemu_command(board, guest, &initrd, plan.mode),
                timeout,
                false,
            );
            let k = &mut results[i];
            if let Some(t) = b.begin {
                k.boot_host_ns.push(t.as_nanos() as f64);
            }
            match b
                .result
                .and_then(|console| read_report(&console, arch, plan.quick))
            {
                Ok(report) => {
                    let (measured, missing) = report.counts();
                    eprintln!(
                        "xtask: {what}: {measured} rows measured, {missing} missing; user space \
                         after {}; took {}",
                        b.begin.map_or("?".into(), seconds),
                        seconds(started.elapsed())
                    );
                    if !b.powered_off {
                        let warning = format!(
                            "run {run}: the guest did not power off within {POWER_OFF_WAIT:?} \
                             after `end`; QEMU was stopped"
                        );
                        eprintln!("xtask: warning: {what}: {warning}");
                        k.warnings.push(warning);
                    }
                    k.reports.push(report);
                }
                Err(e) => {
                    eprintln!("xtask: {what} failed: {e}");
                    k.failures.push(format!("run {run}: {e}"));
                    broken[i] = true;
                }
            }
        }
    }
    for (i, guest) in guests.iter().enumerate() {
        while !broken[i] && results[i].boot_host_ns.len() < plan.boot_host_boots {
            let n = results[i].boot_host_ns.len() + 1;
            let what = format!(
                "bench {arch}: {} boot {n}/{} (QEMU start to user space)",
                guest.label(),
                plan.boot_host_boots
            );
            let b = boot(
                qemu_command(board, guest, &initrd, plan.mode),
                timeout,
                true,
            );
            let begin = b.begin;
            match b
                .result
                .and_then(|_| begin.ok_or_else(|| Error::new("no `begin` line")))
            {
                Ok(t) => {
                    eprintln!("xtask: {what}: {}", seconds(t));
                    results[i].boot_host_ns.push(t.as_nanos() as f64);
                }
                Err(e) => {
                    eprintln!("xtask: {what} failed: {e}");
                    results[i].failures.push(format!("{what}: {e}"));
                    broken[i] = true;
                }
            }
        }
    }
    let [cyphera, linux] = results;
    Ok(ArchResult {
        arch,
        mode: plan.mode,
        quick: plan.quick,
        runs: plan.runs,
        qemu: qemu_version(arch),
        machine: board.machine.to_string(),
        cpu: cpu_model(arch).to_string(),
        memory: board.memory.to_string(),
        cyphera,
        linux,
    })
}

/// Where the reports go: `<target>/bench/`.
pub fn out_dir() -> PathBuf {
    build::target_dir().join("bench")
}

/// Writes `<stem>.md` and `<stem>.svg` for one architecture; returns their paths.
fn write_arch_reports(dir: &Path, result: &ArchResult) -> Result<[PathBuf; 2]> {
    let stem = result.file_stem();
    let md = dir.join(format!("{stem}.md"));
    let svg = dir.join(format!("{stem}.svg"));
    std::fs::write(&md, report::markdown(result))
        .map_err(|e| Error::new(format!("writing {}: {e}", md.display())))?;
    std::fs::write(&svg, report::svg(result))
        .map_err(|e| Error::new(format!("writing {}: {e}", svg.display())))?;
    Ok([md, svg])
}

/// `cargo xtask bench`.
pub fn bench_command(args: &BenchArgs) -> Result<u8> {
    if let Some(why) = programs_missing() {
        bail!("cannot benchmark: {why}");
    }
    let mode = if args.icount {
        Mode::Icount
    } else {
        Mode::Wall
    };
    // Wall-clock runs are noisy, so several; icount repeats exactly, so one suffices. A smoke
    // run needs one of everything.
    let default_runs = if args.quick || mode == Mode::Icount {
        1
    } else {
        3
    };
    let plan = Plan {
        mode,
        quick: args.quick,
        runs: args.runs.unwrap_or(default_runs),
        boot_host_boots: if args.quick { 1 } else { BOOT_HOST_BOOTS },
    };
    let mut targets: Vec<&str> = args.arches.iter().map(|a| a.userspace_target()).collect();
    targets.extend(args.arches.iter().map(|a| a.default_board().kernel_target));
    setup::ensure_rust_targets(&targets)?;
    let emulators: Vec<&str> = args.arches.iter().map(|a| a.qemu_system()).collect();
    setup::ensure_qemu(&emulators)?;

    let dir = out_dir();
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::new(format!("creating {}: {e}", dir.display())))?;
    let mut results = Vec::new();
    let mut problems = Vec::new();
    for &arch in &args.arches {
        match measure(arch, &plan) {
            Ok(result) => {
                for (kernel, k) in [("Cyphera", &result.cyphera), ("Linux", &result.linux)] {
                    problems.extend(
                        k.failures.iter().map(|f| {
                            format!("{arch} {kernel}: {}", f.lines().next().unwrap_or(""))
                        }),
                    );
                }
                let [md, svg] = write_arch_reports(&dir, &result)?;
                println!("\n{}", report::markdown(&result));
                println!("(written to {} and {})", md.display(), svg.display());
                results.push(result);
            }
            Err(e) => {
                eprintln!("xtask: bench {arch}: {e}");
                problems.push(format!(
                    "{arch}: {}",
                    e.to_string().lines().next().unwrap_or("")
                ));
            }
        }
    }
    let json_path = args
        .json
        .clone()
        .unwrap_or_else(|| dir.join("results.json"));
    if let Some(parent) = json_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::new(format!("creating {}: {e}", parent.display())))?;
    }
    std::fs::write(&json_path, report::json(&results))
        .map_err(|e| Error::new(format!("writing {}: {e}", json_path.display())))?;
    println!("raw results: {}", json_path.display());
    if problems.is_empty() {
        Ok(0)
    } else {
        bail!(
            "the benchmark did not complete on every kernel (rows of the failed runs are shown as \
             missing):\n  {}",
            problems.join("\n  ")
        );
    }
}

/// The outcome of the smoke test.
pub enum Smoke {
    Pass(String),
    Fail(String),
    Skip(String),
}

/// `cargo xtask test`'s `bench/<arch>/quick`: the smoke mode on the architecture's default board,
/// once on Cyphera and once on Linux. Passes when both kernels ran the program to its `end` line
/// with the protocol intact and powered off; the times are not looked at. Skipped when the
/// benchmark is not built yet or Linux cannot be downloaded here.
pub fn smoke_test(arch: Arch) -> Smoke {
    if let Some(why) = programs_missing() {
        return Smoke::Skip(why);
    }
    if let Err(e) = linux::linux_kernel(arch) {
        return Smoke::Skip(format!(
            "Debian's Linux kernel cannot be had here: {}",
            e.to_string().lines().next().unwrap_or("")
        ));
    }
    let plan = Plan {
        mode: Mode::Wall,
        quick: true,
        runs: 1,
        boot_host_boots: 1,
    };
    let result = match measure(arch, &plan) {
        Ok(r) => r,
        Err(e) => return Smoke::Fail(e.to_string()),
    };
    let mut problems = Vec::new();
    let mut detail = Vec::new();
    for (kernel, k) in [("Cyphera", &result.cyphera), ("Linux", &result.linux)] {
        problems.extend(k.failures.iter().map(|f| format!("{kernel}: {f}")));
        problems.extend(k.warnings.iter().map(|w| format!("{kernel}: {w}")));
        if let Some(r) = k.reports.first() {
            let (measured, missing) = r.counts();
            detail.push(format!(
                "{kernel} {measured} rows measured, {missing} missing"
            ));
        }
    }
    if problems.is_empty() {
        Smoke::Pass(format!(
            "{}; both reached `end` and powered off",
            detail.join("; ")
        ))
    } else {
        Smoke::Fail(problems.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cmd: &Command) -> String {
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn both_kernels_boot_on_the_same_machine() {
        for arch in Arch::ALL {
            let board = arch.default_board();
            let for_kernel = |file: &str, cmdline: String, mode| {
                let guest = Guest {
                    kernel: GuestKernel::Cyphera,
                    file: PathBuf::from(file),
                    dtb: None,
                    cmdline,
                };
                args(&qemu_command(board, &guest, Path::new("/i"), mode))
            };
            let c = for_kernel("/c", cyphera_cmdline(true), Mode::Wall);
            let l = for_kernel("/l", linux_cmdline(arch, true), Mode::Wall);
            let machine = format!(
                "-machine {} -cpu {} -m {} ",
                board.machine,
                cpu_model(arch),
                board.memory
            );
            assert!(c.starts_with(&machine), "{c}");
            assert!(l.starts_with(&machine), "{l}");
            // Everything up to the kernel file is identical; neither has -smp.
            assert_eq!(c.split(" -kernel ").next(), l.split(" -kernel ").next());
            assert!(!c.contains("-smp") && !c.contains("-icount"), "{c}");
            assert!(
                c.ends_with("-kernel /c -initrd /i -append mitigations=off nokaslr quiet -- quick"),
                "{c}"
            );
            assert!(
                l.ends_with(&format!(
                    "-kernel /l -initrd /i -append console={} panic=-1 quiet mitigations=off nokaslr -- quick",
                    linux::console_device(arch)
                )),
                "{l}"
            );
            let i = for_kernel("/c", cyphera_cmdline(false), Mode::Icount);
            assert!(
                i.ends_with("-append mitigations=off nokaslr quiet -icount shift=0,sleep=off"),
                "{i}"
            );
        }
        assert_eq!(cpu_model(Arch::Aarch64), "max,pauth-impdef=on");
        assert_eq!(cpu_model(Arch::X86_64), "max");
    }

    #[test]
    fn initramfs_has_the_programs_and_device_nodes() {
        let entries = initramfs_entries(b"B".to_vec(), b"E".to_vec());
        let find = |n: &str| entries.iter().find(|e| e.name == n).unwrap();
        use kernel_core::cpio::{S_IFCHR, S_IFDIR, S_IFMT, S_IFREG};
        assert_eq!(find("init").mode, S_IFREG | 0o755);
        assert_eq!(find("init").data, b"B");
        assert_eq!(find("bench-exit").mode, S_IFREG | 0o755);
        assert_eq!(find("bench-exit").data, b"E");
        for (node, rdev) in [
            ("dev/console", (5, 1)),
            ("dev/null", (1, 3)),
            ("dev/zero", (1, 5)),
        ] {
            assert_eq!(find(node).mode & S_IFMT, S_IFCHR, "{node}");
            assert_eq!(find(node).rdev, rdev, "{node}");
        }
        for dir in ["dev", "tmp", "proc"] {
            assert_eq!(find(dir).mode & S_IFMT, S_IFDIR, "{dir}");
        }
        // Directories come before what they hold.
        let pos = |n: &str| entries.iter().position(|e| e.name == n).unwrap();
        assert!(pos("dev") < pos("dev/console"));
        assert!(crate::cpio::pack(&entries).is_ok());
    }

    #[test]
    fn reports_must_match_the_arch_and_mode() {
        let console = "cyphera-bench: begin arch=aarch64 mode=quick\ncyphera-bench: end\n";
        assert!(read_report(console, Arch::Aarch64, true).is_ok());
        let err = read_report(console, Arch::X86_64, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("arch=aarch64"), "{err}");
        let err = read_report(console, Arch::Aarch64, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("mode=quick, but this is full mode"), "{err}");
        assert!(
            err.contains("--- last 40 lines of the console ---\ncyphera-bench: begin"),
            "{err}"
        );
    }

    /// A shell stands in for QEMU: the boot reads the protocol up to `end` and notices the exit.
    #[test]
    fn a_boot_reads_up_to_end_and_times_the_first_line() {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "echo booting; sleep 0.2; echo 'cyphera-bench: begin arch=x86_64 mode=quick'; \
             echo 'cyphera-bench: result name=getppid ns=5 iters=9'; echo 'cyphera-bench: end'",
        ]);
        let b = boot(cmd, Duration::from_secs(20), false);
        let console = b.result.unwrap();
        assert!(b.begin.unwrap() >= Duration::from_millis(200));
        assert!(b.powered_off);
        let report = read_report(&console, Arch::X86_64, true).unwrap();
        assert_eq!(report.counts(), (1, 0));

        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "echo 'cyphera-bench: begin arch=x86_64 mode=quick'; exec sleep 30",
        ]);
        let b = boot(cmd, Duration::from_millis(500), false);
        assert!(b.begin.is_some());
        let err = b.result.unwrap_err().to_string();
        assert!(err.contains("timed out"), "{err}");

        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "echo 'cyphera-bench: begin arch=x86_64 mode=quick'; exec sleep 30",
        ]);
        let t = Instant::now();
        let b = boot(cmd, Duration::from_secs(20), true);
        assert!(b.begin.is_some() && b.result.is_ok());
        assert!(t.elapsed() < Duration::from_secs(20));

        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo 'cyphera: kernel panic at x:1:1: boom'"]);
        let b = boot(cmd, Duration::from_secs(20), false);
        assert!(b.begin.is_none());
        let err = b.result.unwrap_err().to_string();
        assert!(
            err.contains("QEMU ended") && err.contains("kernel panic"),
            "{err}"
        );
    }
}
