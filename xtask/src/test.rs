//! `cargo xtask test`: the whole suite. (1) host unit tests of every host-testable crate;
//! (2) per architecture, QEMU integration tests that boot real static Linux binaries as init and
//! check what the kernel reports — and, differentially, run the same binary on Linux on this host
//! (natively, or under qemu-user for the other architecture) and require the same stdout and the
//! same exit status or signal; (3) the Limine request check of each kernel ELF. Ends with the line
//! `N passed, N failed, N skipped`.

use std::collections::HashMap;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::arch::{self, Arch, Board};
use crate::build::{self, Kernel, Userspace};
use crate::busybox::{self, GuestKernel};
use crate::cli::TestArgs;
use crate::cpio::Entry;
use crate::error::{Context, Result};
use crate::qemu::{self, Outcome, QemuConfig, Session, Watch};
use crate::run::{kernel_cmdline, write_initramfs};
use crate::{limine, setup};

/// The differential conformance suite (issue 3), a child module so it reuses this harness.
#[path = "conformance.rs"]
mod conformance;

/// The crates whose unit tests run on the host.
const HOST_PACKAGES: &[&str] = &[
    "hal",
    "kernel-core",
    "drivers",
    "arch-x86_64",
    "arch-aarch64",
    "board-dt",
    "xtask",
];

/// How long one QEMU boot may take before it counts as hung. Generous, since it only guards
/// against hangs (nothing asserts speed); boots take seconds even under TCG.
const CASE_TIMEOUT: Duration = Duration::from_secs(60);

/// The environment Linux gives init (init/main.c: envp_init), to which the kernel adds the
/// unknown `name=value` words of its command line.
const LINUX_INIT_ENV: [&str; 2] = ["HOME=/", "TERM=linux"];

/// What the kernel must report about init.
#[derive(Clone, Debug, PartialEq)]
enum Expect {
    /// `init exited with status N`.
    Exit(u8),
    /// `init killed by signal N`, after the kernel's fault line for that signal.
    Signal(u32),
    /// The kernel refuses to execute init: an error line and a non-zero status.
    Refused,
    /// A `cyphera.selftest=NAME` boot: the kernel's own deliberate access must end in a kernel
    /// fault whose explanation (`cyphera: kernel fault: ...`) starts with this, then the panic.
    KernelFault(String),
}

/// The same program run on Linux, for the differential check.
#[derive(Clone, Debug)]
struct LinuxRun {
    arch: Arch,
    program: PathBuf,
    argv0: String,
    args: Vec<String>,
    env: Vec<String>,
}

/// One QEMU integration test.
#[derive(Clone, Debug)]
struct Case {
    name: String,
    board: &'static Board,
    kernel: Kernel,
    release: bool,
    rootfs: Vec<Entry>,
    init: Option<String>,
    append: Option<String>,
    init_args: Vec<String>,
    cpu: Option<&'static str>,
    machine_opts: Option<&'static str>,
    accel: Option<&'static str>,
    expect: Expect,
    /// Lines the console must contain exactly.
    console_has: Vec<String>,
    linux: Option<LinuxRun>,
    /// Boot through a `cargo xtask run` subprocess and check its exit status, proving the status
    /// reaches the user.
    through_xtask: bool,
    /// How long the boot may take before it counts as hung: [`CASE_TIMEOUT`] unless the case
    /// does more work than a boot (filling a big machine's memory).
    timeout: Duration,
}

/// The result of one test.
enum Verdict {
    Pass(String),
    Fail(String),
    /// Not run, with the reason (a missing prerequisite, or a known emulator limitation).
    Skip(String),
}

#[derive(Default)]
struct Tally {
    passed: Vec<String>,
    failed: Vec<String>,
    skipped: Vec<(String, String)>,
    /// Cases that passed only after a silent first boot was retried (see `run_case`).
    flaky: Vec<String>,
}

impl Tally {
    fn record(&mut self, name: &str, verdict: Verdict) {
        match verdict {
            Verdict::Pass(detail) => {
                if detail.contains("FLAKY") {
                    self.flaky.push(name.into());
                }
                println!(
                    "test {name} ... ok{}",
                    if detail.is_empty() {
                        String::new()
                    } else {
                        format!(" ({detail})")
                    }
                );
                self.passed.push(name.into());
            }
            Verdict::Fail(why) => {
                println!("test {name} ... FAILED\n{}", indent(&why));
                self.failed.push(name.into());
            }
            Verdict::Skip(why) => {
                println!("test {name} ... skipped: {why}");
                self.skipped.push((name.into(), why));
            }
        }
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `--filter`: only tests whose name contains the text.
fn selected(filter: &Option<String>, name: &str) -> bool {
    filter.as_deref().is_none_or(|f| name.contains(f))
}

pub fn test_command(args: &TestArgs) -> Result<u8> {
    let started = Instant::now();
    let mut tally = Tally::default();
    build::set_quiet(true);

    // Everything is installed up front, so that a missing tool fails fast and clearly.
    let mut targets: Vec<&str> = Arch::ALL.iter().map(|a| a.userspace_target()).collect();
    targets.extend(args.arches.iter().map(|a| a.default_board().kernel_target));
    setup::ensure_rust_targets(&targets)?;
    let mut emulators: Vec<&str> = args.arches.iter().map(|a| a.qemu_system()).collect();
    emulators.extend(
        args.arches
            .iter()
            .filter(|&&a| Arch::host() != Some(a))
            .map(|a| a.qemu_user()),
    );
    setup::ensure_qemu(&emulators)?;

    if !args.quick {
        for pkg in HOST_PACKAGES {
            let name = format!("unit/{pkg}");
            if selected(&args.filter, &name) {
                tally.record(&name, host_unit_tests(pkg));
            }
        }
    }

    // Userspace for both architectures: the wrong-architecture test boots the other one's hello.
    let mut userspace: HashMap<Arch, Userspace> = HashMap::new();
    for arch in Arch::ALL {
        let name = format!("build/userspace/{arch}");
        match build::build_userspace(arch) {
            Ok(u) => {
                userspace.insert(arch, u);
                tally.record(
                    &name,
                    Verdict::Pass("ELF checks: static, right machine, no interpreter".into()),
                );
            }
            Err(e) => tally.record(&name, Verdict::Fail(e.to_string())),
        }
    }
    // The conformance programs: built for the tested arches and checked on Linux first.
    let suite = conformance::wanted(&args.filter, &args.arches)
        .then(|| conformance::build(&args.arches, &userspace, &mut tally));
    if let Some(suite) = &suite {
        conformance::run_linux(suite, &args.arches, &args.filter, args.quick, &mut tally);
    }

    let mut cases = Vec::new();
    let boards = match args.board {
        Some(board) => vec![board],
        None => arch::tested_boards(&args.arches),
    };
    for board in boards {
        let arch = board.arch;
        // A board whose device tree cannot be had (no APT, no arm64 packages) fails here, once,
        // with the commands that fix it.
        if let Err(e) = crate::dtb::device_tree(board) {
            tally.record(&format!("dtb/{}", board.name), Verdict::Fail(e.to_string()));
            continue;
        }
        let name = format!("build/kernel/{}", board.name);
        let kernel = match build::build_kernel(board, args.release) {
            Ok(k) => {
                tally.record(&name, Verdict::Pass(String::new()));
                k
            }
            Err(e) => {
                tally.record(&name, Verdict::Fail(e.to_string()));
                continue;
            }
        };
        let name = format!("limine/{}", board.name);
        if selected(&args.filter, &name) {
            tally.record(&name, limine_check(&kernel, arch));
        }
        match (userspace.get(&arch), userspace.get(&arch.other())) {
            (Some(user), Some(other)) => {
                cases.extend(qemu_cases(
                    board,
                    &kernel,
                    args.release,
                    user,
                    other,
                    args.quick,
                ));
            }
            _ => println!("note: the {arch} QEMU tests need both userspace builds; not run"),
        }
        if let Some(suite) = &suite {
            cases.extend(conformance::qemu_cases(
                suite,
                board,
                &kernel,
                args.release,
                &args.filter,
                &mut tally,
            ));
        }
    }
    cases.retain(|c| selected(&args.filter, &c.name));
    run_cases(cases, &mut tally);
    if args
        .board
        .is_none_or(|b| std::ptr::eq(b, b.arch.default_board()))
    {
        busybox_tests(&args.arches, &args.filter, &mut tally);
        bench_tests(&args.arches, &args.filter, &mut tally);
        hardening_tests(&args.arches, &args.filter, args.quick, &mut tally);
    }

    for (name, why) in &tally.skipped {
        println!("skipped: {name}: {why}");
    }
    for name in &tally.flaky {
        println!(
            "flaky: {name}: the first boot timed out before printing anything; passed on retry"
        );
    }
    for name in &tally.failed {
        println!("failed: {name}");
    }
    println!("test run took {:.0?}", started.elapsed());
    println!(
        "{} passed, {} failed, {} skipped",
        tally.passed.len(),
        tally.failed.len(),
        tally.skipped.len()
    );
    Ok(if tally.failed.is_empty() { 0 } else { 1 })
}

/// The busybox tests (issue 4, busybox.rs) on each architecture's default board: the scripted
/// interactive session and the test suite's CI subset, skipped until the kernel has the VFS.
fn busybox_tests(arches: &[Arch], filter: &Option<String>, tally: &mut Tally) {
    type BusyboxTest = fn(Arch, GuestKernel) -> Result<String, String>;
    let tests: [(&str, BusyboxTest); 2] = [
        ("session", busybox::session_test),
        ("testsuite-ci", busybox::testsuite_test),
    ];
    for &arch in arches {
        for (what, test) in tests {
            let name = format!("busybox/{arch}/{what}");
            if !selected(filter, &name) {
                continue;
            }
            let verdict = if !conformance::AVAILABLE.contains(&conformance::Feature::Vfs) {
                Verdict::Skip("needs the VFS (issue 4)".into())
            } else {
                match test(arch, GuestKernel::Cyphera) {
                    Ok(detail) => Verdict::Pass(detail),
                    Err(why) => Verdict::Fail(why),
                }
            };
            tally.record(&name, verdict);
        }
    }
}

/// Issue 7's long-running checks on each architecture's default board: the syscall fuzzer with
/// its fixed CI seed (fuzz.rs) and a two-round soak that checks memory returns to its baseline
/// (soak.rs).
fn hardening_tests(arches: &[Arch], filter: &Option<String>, quick: bool, tally: &mut Tally) {
    for &arch in arches {
        let name = format!("fuzz/{arch}");
        if selected(filter, &name) {
            let verdict = match crate::fuzz::ci_test(arch, quick) {
                Ok(summary) => Verdict::Pass(summary),
                Err(why) => Verdict::Fail(why),
            };
            tally.record(&name, verdict);
        }
        let name = format!("soak/{arch}/quick");
        if selected(filter, &name) {
            let verdict = match crate::soak::ci_test(arch) {
                Ok(summary) => Verdict::Pass(summary),
                Err(why) => Verdict::Fail(why),
            };
            tally.record(&name, verdict);
        }
    }
}

/// The benchmark's smoke mode (issue 5, bench.rs) on each architecture's default board, on
/// Cyphera and on Linux: it checks that the benchmark runs and reports, never how fast.
fn bench_tests(arches: &[Arch], filter: &Option<String>, tally: &mut Tally) {
    for &arch in arches {
        let name = format!("bench/{arch}/quick");
        if !selected(filter, &name) {
            continue;
        }
        let verdict = match crate::bench::smoke_test(arch) {
            crate::bench::Smoke::Pass(detail) => Verdict::Pass(detail),
            crate::bench::Smoke::Fail(why) => Verdict::Fail(why),
            crate::bench::Smoke::Skip(why) => Verdict::Skip(why),
        };
        tally.record(&name, verdict);
    }
}

/// `cargo test -p PKG` on the host, quietly; its output is shown only on failure.
fn host_unit_tests(pkg: &str) -> Verdict {
    let mut cmd = build::rust_tool("cargo");
    cmd.args(["test", "--package", pkg])
        .arg("--target-dir")
        .arg(build::target_dir());
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) => return Verdict::Fail(format!("cannot run cargo: {e}")),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    // "test result: ok. 12 passed; 0 failed; ..." per test binary.
    let passed: usize = stdout
        .lines()
        .filter_map(|l| {
            l.strip_prefix("test result: ")?
                .split_once(". ")?
                .1
                .split(' ')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum();
    if out.status.success() {
        Verdict::Pass(format!("{passed} unit tests"))
    } else {
        let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        let lines: Vec<&str> = all.lines().collect();
        let tail = lines[lines.len().saturating_sub(80)..].join("\n");
        Verdict::Fail(format!(
            "{} failed ({}):\n{tail}",
            build::describe(&cmd),
            out.status
        ))
    }
}

fn limine_check(kernel: &Kernel, arch: Arch) -> Verdict {
    let bytes = match std::fs::read(&kernel.elf) {
        Ok(b) => b,
        Err(e) => return Verdict::Fail(format!("reading {}: {e}", kernel.elf.display())),
    };
    match limine::check(&bytes, arch) {
        Ok(r) => {
            let requests: Vec<String> = r
                .requests
                .iter()
                .map(|(n, a)| format!("{n} at {a:#x}"))
                .collect();
            Verdict::Pass(format!(
                "base revision {}; {}",
                r.base_revision,
                requests.join(", ")
            ))
        }
        Err(e) => Verdict::Fail(format!("{}: {e}", kernel.elf.display())),
    }
}

/// True if QEMU can use KVM for `arch` here: same architecture as the host, /dev/kvm usable, and
/// the CPU has hardware virtualization (vmx/svm). Some hosts offer a paravirtual /dev/kvm
/// (e.g. kvm_pvm) without it; guests there neither behave like hardware nor run at useful speed.
fn kvm_usable(arch: Arch) -> bool {
    let hardware_virtualization = std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|cpuinfo| {
        cpuinfo
            .lines()
            .filter(|l| l.starts_with("flags"))
            .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"))
    });
    Arch::host() == Some(arch)
        && hardware_virtualization
        && std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_ok()
}

/// Deterministic bytes that are not an ELF file (xorshift64 from a fixed seed).
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn read_program(user: &Userspace, name: &str) -> Vec<u8> {
    // A program that cannot be read was already reported by its build; an empty file then makes
    // the case fail visibly instead of aborting the run.
    std::fs::read(user.program(name)).unwrap_or_default()
}

/// The QEMU integration tests of one board.
fn qemu_cases(
    board: &'static Board,
    kernel: &Kernel,
    release: bool,
    user: &Userspace,
    other: &Userspace,
    quick: bool,
) -> Vec<Case> {
    let arch = board.arch;
    let base = Case {
        name: String::new(),
        board,
        kernel: kernel.clone(),
        release,
        rootfs: Vec::new(),
        init: None,
        append: None,
        init_args: Vec::new(),
        cpu: None,
        machine_opts: None,
        accel: None,
        expect: Expect::Exit(0),
        console_has: Vec::new(),
        linux: None,
        through_xtask: false,
        timeout: CASE_TIMEOUT,
    };
    let linux = |prog: &str, argv0: &str, args: &[&str], extra_env: &[&str]| {
        let env = LINUX_INIT_ENV
            .iter()
            .chain(extra_env)
            .map(|s| s.to_string())
            .collect();
        Some(LinuxRun {
            arch,
            program: user.program(prog),
            argv0: argv0.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env,
        })
    };
    // A case booting `prog` as /init, compared with Linux running it as /init.
    let as_init = |name: &str, prog: &str, expect: Expect| Case {
        name: format!("qemu/{}/{name}", board.test_prefix()),
        rootfs: vec![Entry::file("init", 0o755, read_program(user, prog))],
        expect,
        linux: linux(prog, "/init", &[], &[]),
        ..base.clone()
    };

    let mut cases = vec![
        Case {
            console_has: vec!["Hello, world!".into()],
            ..as_init("hello", "hello", Expect::Exit(0))
        },
        Case {
            through_xtask: true,
            timeout: CASE_TIMEOUT,
            ..as_init("exit-status", "exit-status", Expect::Exit(42))
        },
        Case {
            init_args: vec!["7".into()],
            linux: linux("exit-status", "/init", &["7"], &[]),
            ..as_init("exit-status-argv", "exit-status", Expect::Exit(7))
        },
        as_init("efault", "efault", Expect::Exit(0)),
        as_init("enosys", "enosys", Expect::Exit(0)),
        Case {
            through_xtask: true,
            timeout: CASE_TIMEOUT,
            ..as_init("fault-segv", "fault-segv", Expect::Signal(11))
        },
        as_init("fault-ill", "fault-ill", Expect::Signal(4)),
        Case {
            // QEMU's TCG does not implement x86 alignment checking (#AC is never raised), so on
            // x86_64 this test needs KVM; AArch64's program falls back to a PC alignment fault,
            // which TCG does raise.
            accel: (arch == Arch::X86_64).then_some("kvm"),
            ..as_init("fault-bus", "fault-bus", Expect::Signal(7))
        },
        Case {
            rootfs: vec![
                Entry::dir("bin", 0o755),
                Entry::file("bin/args", 0o755, read_program(user, "args")),
            ],
            init: Some("/bin/args".into()),
            append: Some("X=1".into()),
            init_args: vec!["a".into(), "b".into(), "c".into()],
            console_has: [
                "argc=4",
                "argv[0]=/bin/args",
                "argv[3]=c",
                "envp[2]=X=1",
                "AT_RANDOM: ok",
            ]
            .map(String::from)
            .to_vec(),
            linux: linux("args", "/bin/args", &["a", "b", "c"], &["X=1"]),
            ..as_init("args", "args", Expect::Exit(0))
        },
        Case {
            console_has: vec!["Hello from a static-pie binary!".into()],
            ..as_init("hello-pie", "hello-pie", Expect::Exit(0))
        },
        Case {
            rootfs: vec![Entry::file(
                "init",
                0o755,
                b"#!/bin/sh\necho hello\n".to_vec(),
            )],
            linux: None,
            ..as_init("not-elf-script", "hello", Expect::Refused)
        },
        Case {
            rootfs: vec![Entry::file("init", 0o755, noise(4096))],
            linux: None,
            ..as_init("not-elf-random", "hello", Expect::Refused)
        },
        Case {
            rootfs: vec![Entry::file("init", 0o755, read_program(other, "hello"))],
            linux: None,
            ..as_init("wrong-arch", "hello", Expect::Refused)
        },
        Case {
            rootfs: vec![
                Entry::dir("bin", 0o755),
                Entry::file("bin/hello", 0o755, read_program(user, "hello")),
                Entry::symlink("hello-link", "bin/hello"),
            ],
            init: Some("/no/such/init".into()),
            linux: None,
            ..as_init("init-missing", "hello", Expect::Refused)
        },
    ];
    // The hardware protections, each broken on purpose by the kernel (`cyphera.selftest=NAME`)
    // on the arch's default board: the fault must happen and be explained. AArch64's default
    // CPU (Cortex-A72, ARMv8.0) has no PAN, so the user-access cases run on `-cpu max` for the
    // hardware's PAN and PXN, and again on the A72 for software PAN (user tables out of TTBR0
    // while the kernel runs). x86_64's `qemu64` CPU (no SMAP) shows that the selftest does
    // notice a missing protection.
    if std::ptr::eq(board, arch.default_board()) {
        let (smap, smep, nx, user_access_cpu) = match arch {
            Arch::X86_64 => ("SMAP", "SMEP", "NX", None),
            Arch::Aarch64 => ("PAN", "PXN", "PXN", Some("max")),
        };
        let read_user = |by: &str| format!("{by} stopped a kernel read of user memory at ");
        let write_user = |by: &str| format!("{by} stopped a kernel write of user memory at ");
        let execute_user = |by: &str| format!("{by} stopped the kernel executing user memory at ");
        let selftests = [
            ("read-user", user_access_cpu, read_user(smap)),
            ("write-user", user_access_cpu, write_user(smap)),
            ("execute-user", user_access_cpu, execute_user(smep)),
            (
                "write-text",
                None,
                "write to read-only kernel memory at ".into(),
            ),
            (
                "write-rodata",
                None,
                "write to read-only kernel memory at ".into(),
            ),
            (
                "execute-data",
                None,
                format!("{nx} stopped the kernel executing non-executable memory at "),
            ),
            (
                "stack-overflow",
                None,
                "kernel stack overflow: guard page hit at ".into(),
            ),
            (
                "guard-page",
                None,
                "kernel stack overflow: guard page hit at ".into(),
            ),
        ];
        for (name, cpu, cause) in selftests {
            cases.push(Case {
                append: Some(format!("cyphera.selftest={name}")),
                cpu,
                linux: None,
                ..as_init(
                    &format!("selftest/{name}"),
                    "hello",
                    Expect::KernelFault(cause),
                )
            });
        }
        match arch {
            Arch::X86_64 => cases.push(Case {
                append: Some("cyphera.selftest=read-user".into()),
                cpu: Some("qemu64"),
                linux: None,
                console_has: vec![
                    "cyphera: selftest read-user: NOT stopped: the protection is off".into(),
                ],
                ..as_init(
                    "selftest/read-user/qemu64-reports-it-missing",
                    "hello",
                    Expect::Exit(3),
                )
            }),
            Arch::Aarch64 => {
                for (name, cause) in [
                    ("read-user", read_user("software PAN")),
                    ("write-user", write_user("software PAN")),
                    ("execute-user", execute_user("software PAN")),
                ] {
                    cases.push(Case {
                        append: Some(format!("cyphera.selftest={name}")),
                        linux: None,
                        ..as_init(
                            &format!("selftest/{name}/software-pan"),
                            "hello",
                            Expect::KernelFault(cause),
                        )
                    });
                }
            }
        }
    }
    // CPU and GIC variants of the virt board (other machines fix their CPU and controller).
    if board.name == "qemu-virt-aarch64" && !quick {
        for (label, cpu, machine_opts) in [
            ("cpu-max", Some("max"), None),
            ("gic-v3", None, Some("gic-version=3")),
            ("cpu-max-gic-v3", Some("max"), Some("gic-version=3")),
        ] {
            for (prog, expect) in [
                ("hello", Expect::Exit(0)),
                ("fault-segv", Expect::Signal(11)),
            ] {
                cases.push(Case {
                    cpu,
                    machine_opts,
                    console_has: if prog == "hello" {
                        vec!["Hello, world!".into()]
                    } else {
                        Vec::new()
                    },
                    linux: None,
                    ..as_init(&format!("{prog}/{label}"), prog, expect)
                });
            }
        }
    }
    cases
}

/// Runs the cases on up to two QEMUs at a time (TCG uses about a core each). Each architecture's
/// hello world goes first: if the kernel cannot even run that, its other cases are not run.
fn run_cases(cases: Vec<Case>, tally: &mut Tally) {
    let mut first = Vec::new();
    let mut rest = Vec::new();
    for case in cases {
        if case.name.ends_with("/hello") {
            first.push(case);
        } else {
            rest.push(case);
        }
    }
    let mut broken: Vec<&'static Board> = Vec::new();
    for case in &first {
        let verdict = run_case(case);
        if let Verdict::Fail(why) = &verdict
            && (why.contains("timed out") || why.contains("no `cyphera: init"))
        {
            broken.push(case.board);
        }
        tally.record(&case.name, verdict);
    }
    let (runnable, blocked): (Vec<Case>, Vec<Case>) =
        rest.into_iter().partition(|c| !broken.contains(&c.board));
    for case in blocked {
        tally.record(
            &case.name,
            Verdict::Skip("not run: the kernel does not boot the hello world".into()),
        );
    }
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 2);
    let queue = Mutex::new(runnable.into_iter());
    let tally = Mutex::new(tally);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let Some(case) = queue.lock().unwrap_or_else(|e| e.into_inner()).next() else {
                        break;
                    };
                    let verdict = run_case(&case);
                    tally
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .record(&case.name, verdict);
                }
            });
        }
    });
}

fn run_case(case: &Case) -> Verdict {
    if case.accel == Some("kvm") && !kvm_usable(case.board.arch) {
        return Verdict::Skip(
            "QEMU's TCG never raises x86 alignment-check (#AC) faults, and KVM with hardware virtualization (vmx/svm) is not available here"
                .into(),
        );
    }
    let mut attempt = boot(case);
    // A run that timed out without the kernel printing a single byte is booted once more: it
    // says nothing about the behaviour under test (seen rarely under heavy host load). Such a
    // pass is reported as flaky, never hidden; a kernel that printed anything is never retried.
    let silent_timeout = matches!(&attempt, Ok((s, _)) if s.outcome == Outcome::Timeout
        && s.console.iter().all(|l| l.trim().is_empty()));
    if silent_timeout {
        attempt = boot(case);
    }
    match attempt {
        Ok((session, xtask_status)) => match check(case, &session, xtask_status) {
            Ok(detail) if silent_timeout => Verdict::Pass(format!(
                "{detail}; FLAKY: the first boot timed out before printing anything and was retried"
            )),
            Ok(detail) => Verdict::Pass(detail),
            Err(why) => {
                let how = match case.accel {
                    Some(accel) => format!(" (this case runs QEMU with -accel {accel})"),
                    None => String::new(),
                };
                Verdict::Fail(format!(
                    "{why}{how}\n--- console ---\n{}",
                    session.transcript()
                ))
            }
        },
        Err(e) => Verdict::Fail(e.to_string()),
    }
}

/// Boots the case; also returns the exit status of `cargo xtask run` when it went through it.
fn boot(case: &Case) -> Result<(Session, Option<i32>)> {
    let slug = case.name.replace('/', "-");
    let initrd = write_initramfs(&slug, &case.rootfs)?;
    let cmdline = kernel_cmdline(
        case.init.as_deref(),
        case.append.as_deref(),
        &case.init_args,
    )?;
    if case.through_xtask {
        return boot_through_xtask(case, &initrd);
    }
    let dtb = crate::dtb::device_tree(case.board)?;
    let cfg = QemuConfig {
        board: case.board,
        kernel: &case.kernel.boot_file,
        initrd: &initrd,
        dtb: dtb.as_deref(),
        cmdline: &cmdline,
        cpu: case.cpu,
        machine_opts: case.machine_opts,
        accel: case.accel,
        gdb: false,
    };
    let watch = Watch {
        echo: false,
        forward_stdin: false,
        capture_stderr: true,
        timeout: Some(case.timeout),
    };
    Ok((qemu::run(qemu::command(&cfg), &watch)?, None))
}

/// Runs `cargo xtask run` (this very binary) for the case and reads the session back from what
/// it printed: the console on stdout, xtask's own notes on stderr, and its exit status.
fn boot_through_xtask(case: &Case, initrd: &std::path::Path) -> Result<(Session, Option<i32>)> {
    let exe = std::env::current_exe().context(|| "finding the xtask binary")?;
    let mut cmd = Command::new(exe);
    cmd.args(["run", "--board", case.board.name, "--initrd"])
        .arg(initrd);
    cmd.args(["--timeout", &case.timeout.as_secs().to_string()]);
    if case.release {
        cmd.arg("--release");
    }
    if let Some(init) = &case.init {
        cmd.args(["--init", init]);
    }
    if let Some(append) = &case.append {
        cmd.args(["--append", append]);
    }
    if let Some(cpu) = case.cpu {
        cmd.args(["--cpu", cpu]);
    }
    if let Some(opts) = case.machine_opts {
        cmd.args(["--machine-opts", opts]);
    }
    if !case.init_args.is_empty() {
        cmd.arg("--").args(&case.init_args);
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .context(|| "running cargo xtask run")?;
    let console: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_end_matches('\r').replace('\r', ""))
        .collect();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let mut outcome = Outcome::NoMarker(Some(out.status));
    let mut panicked = false;
    for line in &console {
        match qemu::parse_marker(line) {
            Some(qemu::Marker::Panic) => panicked = true,
            Some(qemu::Marker::Exited(s)) if matches!(outcome, Outcome::NoMarker(_)) => {
                outcome = Outcome::Exited(s)
            }
            Some(qemu::Marker::Killed(s)) if matches!(outcome, Outcome::NoMarker(_)) => {
                outcome = Outcome::Killed(s)
            }
            _ => {}
        }
    }
    if panicked {
        outcome = Outcome::Panic;
    } else if stderr.contains("xtask: timed out") {
        outcome = Outcome::Timeout;
    }
    let powered_off = !stderr.contains("did not power off");
    Ok((
        Session {
            outcome,
            console,
            powered_off,
            stderr,
        },
        out.status.code(),
    ))
}

/// True for lines the kernel prints: its `cyphera:` messages and `log` records (`[LEVEL] ...`).
fn is_kernel_line(line: &str) -> bool {
    line.starts_with("cyphera: ")
        || ["[ERROR]", "[WARN ]", "[INFO ]", "[DEBUG]", "[TRACE]"]
            .iter()
            .any(|p| line.starts_with(p))
}

/// The program's own output in the console: from the first line equal to `first_line` up to the
/// marker, without the kernel's lines.
fn program_output<'a>(console: &'a [String], first_line: &str) -> Vec<&'a str> {
    let end = console
        .iter()
        .position(|l| qemu::parse_marker(l).is_some())
        .unwrap_or(console.len());
    let lines: Vec<&str> = console[..end]
        .iter()
        .map(String::as_str)
        .filter(|l| !is_kernel_line(l))
        .collect();
    match lines.iter().position(|l| *l == first_line) {
        Some(start) => lines[start..].to_vec(),
        None => Vec::new(),
    }
}

fn signal_name(signal: u32) -> String {
    match signal {
        4 => "SIGILL".into(),
        7 => "SIGBUS".into(),
        11 => "SIGSEGV".into(),
        n => format!("signal {n}"),
    }
}

fn describe_outcome(o: &Outcome, timeout: Duration) -> String {
    match o {
        Outcome::Exited(s) => format!("init exited with status {s}"),
        Outcome::Killed(s) => format!("init was killed by {}", signal_name(*s)),
        Outcome::Panic => "the kernel panicked".into(),
        Outcome::Timeout => format!("timed out after {timeout:?}"),
        Outcome::NoMarker(st) => format!(
            "QEMU ended ({}) with no `cyphera: init ...` marker",
            st.map(|s| s.to_string())
                .unwrap_or_else(|| "unknown status".into())
        ),
    }
}

/// Checks a finished boot against the case's expectations and the Linux reference run.
fn check(case: &Case, s: &Session, xtask_status: Option<i32>) -> Result<String, String> {
    // After init ends the kernel ends every process and checks that all their memory came back.
    if let Some(leak) = s
        .console
        .iter()
        .find(|l| l.contains("cyphera: memory leak"))
    {
        return Err(leak.clone());
    }
    let got = describe_outcome(&s.outcome, case.timeout);
    let mut explained = None;
    match case.expect {
        Expect::Exit(n) => {
            if s.outcome != Outcome::Exited(n) {
                return Err(format!("expected init to exit with status {n}; {got}"));
            }
        }
        Expect::Signal(sig) => {
            if s.outcome != Outcome::Killed(sig) {
                return Err(format!(
                    "expected init to be killed by {}; {got}",
                    signal_name(sig)
                ));
            }
            let fault = format!("killed by {}", signal_name(sig));
            if !s
                .console
                .iter()
                .any(|l| l.starts_with("cyphera: pid ") && l.contains(&fault))
            {
                return Err(format!(
                    "no fault line `cyphera: pid P (NAME) {fault}: ...`"
                ));
            }
        }
        Expect::KernelFault(ref cause) => {
            if s.outcome != Outcome::Panic {
                return Err(format!(
                    "expected the protection to stop the kernel (a kernel fault, then the panic); {got}"
                ));
            }
            let want = format!("cyphera: kernel fault: {cause}");
            match s.console.iter().find(|l| l.starts_with(&want)) {
                Some(line) => explained = Some(line.trim_start_matches("cyphera: ").to_string()),
                None => return Err(format!("no line starting with {want:?}")),
            }
        }
        Expect::Refused => {
            if !matches!(s.outcome, Outcome::Exited(n) if n != 0) {
                return Err(format!(
                    "expected the kernel to refuse init with a non-zero status; {got}"
                ));
            }
            if !s
                .console
                .iter()
                .any(|l| l.starts_with("cyphera: cannot run init"))
            {
                return Err("no `cyphera: cannot run init ...` error line".into());
            }
        }
    }
    if !s.powered_off {
        return Err(format!(
            "{got}, but the kernel did not power off (QEMU had to be stopped)"
        ));
    }
    for line in &case.console_has {
        if !s.console.iter().any(|l| l == line) {
            return Err(format!("the console lacks the line {line:?}"));
        }
    }
    if let Some(status) = xtask_status {
        let want = s.outcome.exit_code() as i32;
        if status != want {
            return Err(format!(
                "`cargo xtask run` exited with {status}, expected {want} ({got})"
            ));
        }
    }
    let mut detail = explained.unwrap_or(got);
    if let Some(linux) = &case.linux {
        let (stdout, status) =
            run_on_linux(linux).map_err(|e| format!("running it on Linux: {e}"))?;
        let linux_outcome = match (status.code(), status.signal()) {
            (Some(code), _) => Outcome::Exited(code as u8),
            (None, Some(sig)) => Outcome::Killed(sig as u32),
            _ => return Err(format!("on Linux it ended strangely ({status})")),
        };
        if linux_outcome != s.outcome {
            return Err(format!(
                "differs from Linux: on Linux {}, on Cyphera {}",
                describe_outcome(&linux_outcome, CASE_TIMEOUT),
                describe_outcome(&s.outcome, case.timeout)
            ));
        }
        let linux_lines: Vec<&str> = stdout.lines().collect();
        if let Some(first) = linux_lines.first() {
            let ours = program_output(&s.console, first);
            if ours != linux_lines {
                return Err(format!(
                    "stdout differs from Linux.\n--- Linux ---\n{}\n--- Cyphera ---\n{}",
                    linux_lines.join("\n"),
                    ours.join("\n")
                ));
            }
        }
        detail.push_str(&format!(
            "; same stdout ({} lines) and status as Linux",
            linux_lines.len()
        ));
    }
    if xtask_status.is_some() {
        detail.push_str("; via cargo xtask run");
    }
    Ok(detail)
}

/// Runs the program on Linux on this host — natively if it is the host's architecture, else
/// under QEMU's user-mode emulator — with exactly the argv and environment init would get.
fn run_on_linux(l: &LinuxRun) -> Result<(String, std::process::ExitStatus)> {
    let dir = build::scratch_dir().join("linux-runs");
    std::fs::create_dir_all(&dir)?;
    let mut cmd = if Arch::host() == Some(l.arch) {
        let mut cmd = Command::new(&l.program);
        cmd.arg0(&l.argv0);
        cmd
    } else {
        let emulator = setup::which(l.arch.qemu_user())
            .ok_or_else(|| crate::error::Error::new(format!("{} not found", l.arch.qemu_user())))?;
        let mut cmd = Command::new(emulator);
        // The CPU model Cyphera's tests boot (no SVE on AArch64: QEMU's user mode with SVE
        // restores signal frames from the SVE record, unlike Linux for non-SVE programs).
        cmd.args(["-cpu", l.arch.default_board().default_cpu]);
        cmd.arg("-0").arg(&l.argv0).arg(&l.program);
        cmd
    };
    cmd.args(&l.args).env_clear();
    for var in &l.env {
        let (k, v) = var.split_once('=').unwrap_or((var, ""));
        cmd.env(k, v);
    }
    // The scratch directory catches the core files a killed program may leave (qemu-user writes
    // qemu_*.core where it runs); they are removed below.
    cmd.current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd
        .spawn()
        .context(|| format!("starting {}", l.program.display()))?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut s);
        s
    });
    let deadline = Instant::now() + CASE_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            crate::error::bail!("did not finish within {CASE_TIMEOUT:?} on Linux");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = reader.join().unwrap_or_default();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("core") || name.ends_with(".core") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok((String::from_utf8_lossy(&stdout).into_owned(), status))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(String::from).collect()
    }

    #[test]
    fn program_output_skips_boot_chatter_and_kernel_lines() {
        let console = lines(
            "[INFO ] Cyphera 0.1.0 booted\nearly arch line\nwrite(1, 0x10, 8) = -14\n\
             [WARN ] something\nefault: ok\ncyphera: init exited with status 0\nafter",
        );
        assert_eq!(
            program_output(&console, "write(1, 0x10, 8) = -14"),
            ["write(1, 0x10, 8) = -14", "efault: ok"]
        );
        assert!(program_output(&console, "missing").is_empty());
        let fault = lines(
            "fault-segv: storing\ncyphera: pid 1 (init) killed by SIGSEGV: x\ncyphera: init killed by signal 11 (SIGSEGV)",
        );
        assert_eq!(
            program_output(&fault, "fault-segv: storing"),
            ["fault-segv: storing"]
        );
    }

    #[test]
    fn kernel_lines() {
        assert!(is_kernel_line("cyphera: init exited with status 0"));
        assert!(is_kernel_line("[WARN ] x"));
        assert!(!is_kernel_line("Hello, world!"));
        assert!(!is_kernel_line("[not a level] x"));
    }

    #[test]
    fn noise_is_deterministic_and_not_elf() {
        let a = noise(4096);
        assert_eq!(a, noise(4096));
        assert_ne!(&a[..4], b"\x7fELF");
        assert!(a.iter().any(|&b| b != a[0]));
    }

    fn session(outcome: Outcome, console: &str) -> Session {
        Session {
            outcome,
            console: lines(console),
            powered_off: true,
            stderr: String::new(),
        }
    }

    fn case(expect: Expect) -> Case {
        Case {
            name: "t".into(),
            board: Arch::X86_64.default_board(),
            kernel: Kernel {
                elf: PathBuf::new(),
                boot_file: PathBuf::new(),
            },
            release: false,
            rootfs: Vec::new(),
            init: None,
            append: None,
            init_args: Vec::new(),
            cpu: None,
            machine_opts: None,
            accel: None,
            expect,
            console_has: vec!["Hello, world!".into()],
            linux: None,
            through_xtask: false,
            timeout: CASE_TIMEOUT,
        }
    }

    #[test]
    fn checks_compare_outcome_fault_line_and_console() {
        let ok = session(
            Outcome::Exited(0),
            "Hello, world!\ncyphera: init exited with status 0",
        );
        assert!(check(&case(Expect::Exit(0)), &ok, None).is_ok());
        assert!(check(&case(Expect::Exit(1)), &ok, None).is_err());
        assert!(
            check(&case(Expect::Exit(0)), &ok, Some(3))
                .unwrap_err()
                .contains("cargo xtask run")
        );
        let mut not_off = session(Outcome::Exited(0), "Hello, world!");
        not_off.powered_off = false;
        assert!(
            check(&case(Expect::Exit(0)), &not_off, None)
                .unwrap_err()
                .contains("power off")
        );

        let killed = session(
            Outcome::Killed(11),
            "Hello, world!\ncyphera: pid 1 (init) killed by SIGSEGV: page fault at 0x0, pc 0x1\n",
        );
        assert!(check(&case(Expect::Signal(11)), &killed, None).is_ok());
        let no_fault_line = session(Outcome::Killed(11), "Hello, world!");
        assert!(
            check(&case(Expect::Signal(11)), &no_fault_line, None)
                .unwrap_err()
                .contains("fault line")
        );

        let refused = session(
            Outcome::Exited(126),
            "Hello, world!\ncyphera: cannot run init /init: not ELF",
        );
        assert!(check(&case(Expect::Refused), &refused, None).is_ok());
        let zero = session(
            Outcome::Exited(0),
            "Hello, world!\ncyphera: cannot run init /init: x",
        );
        assert!(check(&case(Expect::Refused), &zero, None).is_err());
        let panic = session(Outcome::Panic, "Hello, world!");
        assert!(check(&case(Expect::Refused), &panic, None).is_err());
    }

    /// The differential check against a real Linux process: the host's `/bin/sh` stands in for a
    /// test program (it is a Linux binary of the host's architecture).
    #[test]
    fn linux_reference_runs_get_exact_argv_and_env() {
        let Some(host) = Arch::host() else { return };
        let run = LinuxRun {
            arch: host,
            program: PathBuf::from("/bin/sh"),
            argv0: "/init".into(),
            args: vec![
                "-c".into(),
                "echo \"$0 $1\"; echo \"$X $HOME\"; exit 3".into(),
                "x".into(),
            ],
            env: vec!["HOME=/".into(), "X=1".into()],
        };
        let (stdout, status) = run_on_linux(&run).unwrap();
        assert_eq!(status.code(), Some(3));
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines, ["x ", "1 /"]);
    }
}
