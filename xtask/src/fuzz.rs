//! `cargo xtask fuzz`: boots Cyphera with the syscall fuzzer (userspace/fuzz) as /init and
//! judges the console: the kernel passed when the fuzzer printed its `survived` line with at
//! least the asked-for number of calls, nothing panicked, init never died, no process outlived
//! SIGKILL, and the machine powered off. On failure it prints the end of the console, the child
//! that was running and the command that replays that child call by call.
//!
//! `cargo xtask test` runs [`ci_test`]: the fixed seed [`CI_SEED`] for [`CI_ITERATIONS`] calls
//! per architecture.

use std::time::{Duration, Instant};

use crate::arch::Arch;
use crate::build;
use crate::cli::FuzzArgs;
use crate::cpio::Entry;
use crate::error::{Context, Result};
use crate::qemu::{self, Outcome, QemuConfig, Session, Watch};
use crate::setup;

/// The userspace program (build::PROGRAMS) that becomes /init.
pub const PROGRAM: &str = "fuzz";
/// The seed and call count CI runs on every architecture.
pub const CI_SEED: u64 = 1;
pub const CI_ITERATIONS: u64 = 100_000;
/// `cargo xtask test --quick`: a tenth.
pub const QUICK_ITERATIONS: u64 = 10_000;
/// Calls per child, as the program has it (its `PER_CHILD`): a replayed child runs this many.
const PER_CHILD: u64 = 1000;
/// The console lines a failure report shows.
const TAIL_LINES: usize = 40;

const PREFIX: &str = "cyphera-fuzz: ";

/// One fuzzing run.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub arch: Arch,
    pub seed: u64,
    pub iterations: u64,
    /// Stop after this child (a replay): the children before it run as in the full run.
    pub child: Option<u64>,
    /// With `child`: run that child only, from a fresh kernel.
    pub alone: bool,
    pub verbose: bool,
    /// Print the replayed child's calls after it ended.
    pub trace: bool,
    pub release: bool,
    pub timeout: Option<Duration>,
}

/// What the fuzzer reported on a run the kernel survived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuzzOutcome {
    pub calls: u64,
    pub children: u64,
    pub exited: u64,
    pub signaled: u64,
    pub killed: u64,
    /// Guest time from the first child to the last, in milliseconds (the `time` line).
    pub guest_ms: Option<u64>,
}

/// What the console says, read line by line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The `begin` line came: the fuzzer started.
    pub began: bool,
    pub survived: Option<FuzzOutcome>,
    /// The first `cyphera: kernel panic ...` line.
    pub panic: Option<String>,
    /// `cyphera: init exited ...` / `cyphera: init killed ...`: the fuzzer's parent died.
    pub init_died: Option<String>,
    /// The last `cyphera-fuzz: child K` line: the child running when the console ended.
    pub last_child: Option<u64>,
    /// Lines where the fuzzer reports something it could not cope with (processes surviving
    /// SIGKILL, a failing wait4/fork, giving up).
    pub troubles: Vec<String>,
    /// The child that ran last before the first trouble line: the one to replay.
    pub trouble_child: Option<u64>,
}

/// The value of `key=` among the whitespace-separated words of `line`.
fn field(line: &str, key: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// Reads the console of a fuzzing run.
pub fn parse_console(lines: &[String]) -> Report {
    let mut r = Report::default();
    let mut guest_ms = None;
    for line in lines {
        if let Some(i) = line.find("cyphera: kernel panic") {
            r.panic.get_or_insert_with(|| line[i..].to_string());
        }
        for marker in ["cyphera: init exited", "cyphera: init killed"] {
            if let Some(i) = line.find(marker) {
                r.init_died.get_or_insert_with(|| line[i..].to_string());
            }
        }
        let Some(i) = line.find(PREFIX) else {
            continue;
        };
        let rest = line[i + PREFIX.len()..].trim_end();
        if rest.starts_with("begin ") {
            r.began = true;
        } else if let Some(k) = rest.strip_prefix("child ")
            && let Ok(k) = k.parse::<u64>()
        {
            r.last_child = Some(k);
        } else if rest.starts_with("time ") {
            guest_ms = field(rest, "ms");
        } else if rest.starts_with("survived ") {
            let get = |key| field(rest, key);
            if let (Some(calls), Some(children), Some(exited), Some(signaled), Some(killed)) = (
                get("calls"),
                get("children"),
                get("exited"),
                get("signaled"),
                get("killed"),
            ) {
                r.survived = Some(FuzzOutcome {
                    calls,
                    children,
                    exited,
                    signaled,
                    killed,
                    guest_ms,
                });
            }
        } else if rest.contains("survived SIGKILL")
            || rest.contains("failed:")
            || rest.starts_with("giving up")
            || rest.starts_with("error:")
            || rest.starts_with("bad argument")
        {
            if r.troubles.is_empty() {
                r.trouble_child = r.last_child;
            }
            r.troubles.push(rest.to_string());
        } else if rest.starts_with("survivor: ") {
            r.troubles.push(rest.to_string());
        }
    }
    r
}

/// How a replay shows the replayed child's calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Show {
    /// Each call as it is made: survives a kernel panic, but slows the child down.
    Verbose,
    /// All calls after the child ended: the child runs as in the original run.
    Trace,
}

/// The command that replays the run (`arch`, `seed`, `iterations`) up to child `k`, showing
/// that child's calls.
pub fn replay_command(arch: Arch, seed: u64, iterations: u64, k: u64, show: Show) -> String {
    let flag = match show {
        Show::Verbose => "--verbose",
        Show::Trace => "--trace",
    };
    format!(
        "cargo xtask fuzz --arch {arch} --seed {seed} --iterations {iterations} --child {k} {flag}"
    )
}

/// Why the run failed, if it did: the report, how the QEMU session ended and whether the
/// machine powered off, against what the plan asked for.
pub fn judge(
    plan: &Plan,
    report: &Report,
    outcome: &Outcome,
    powered_off: bool,
) -> std::result::Result<FuzzOutcome, String> {
    if let Some(panic) = &report.panic {
        return Err(format!("the kernel panicked: {panic}"));
    }
    if let Some(died) = &report.init_died {
        return Err(format!(
            "the fuzzer's parent (init) died, which the deny list should prevent: {died}"
        ));
    }
    if !report.troubles.is_empty() {
        return Err(format!(
            "the fuzzer reported trouble:\n  {}",
            report.troubles.join("\n  ")
        ));
    }
    let Some(survived) = &report.survived else {
        return Err(match outcome {
            Outcome::Timeout => {
                "timed out: the kernel hung (or is far slower than expected)".into()
            }
            _ if !report.began => "the fuzzer never started".into(),
            other => format!("the run ended without the `survived` line ({other:?})"),
        });
    };
    if !powered_off {
        return Err("the fuzzer finished but the machine did not power off".into());
    }
    let wanted = if plan.child.is_some() {
        0
    } else {
        plan.iterations
    };
    if survived.calls < wanted {
        return Err(format!(
            "only {} of {} calls ran (the children ended too early)",
            survived.calls, wanted
        ));
    }
    Ok(survived.clone())
}

/// The kernel command line: `quiet` (boot chatter off; warnings stay), then init's words.
pub fn cmdline(plan: &Plan) -> String {
    let mut s = format!("quiet -- seed={} iterations={}", plan.seed, plan.iterations);
    if let Some(k) = plan.child {
        s.push_str(&format!(" child={k}"));
        if plan.alone {
            s.push_str(" alone");
        }
    }
    if plan.verbose {
        s.push_str(" verbose");
    }
    if plan.trace {
        s.push_str(" trace");
    }
    s
}

/// How long a run may take before it counts as a hang: generous (a loaded machine must not
/// trip it), growing with the calls. A replay runs the children up to the replayed one, and
/// prints every call of that one through the emulated UART, which is slow.
pub fn timeout(plan: &Plan) -> Duration {
    if let Some(t) = plan.timeout {
        return t;
    }
    let quiet_calls = match plan.child {
        Some(_) if plan.alone => 0,
        Some(k) => plan.iterations.min(k.saturating_mul(PER_CHILD)),
        None => plan.iterations,
    };
    let verbose_calls = match (plan.child, plan.verbose || plan.trace) {
        (_, false) => 0,
        (Some(_), true) => PER_CHILD,
        (None, true) => plan.iterations,
    };
    Duration::from_secs(60)
        + Duration::from_millis(quiet_calls.saturating_mul(2))
        + Duration::from_millis(verbose_calls.saturating_mul(20))
}

/// The root file system: /init and the directories the fuzzer expects (it creates them too,
/// and the kernel mounts devtmpfs on /dev itself).
fn initramfs_entries(fuzz: Vec<u8>) -> Vec<Entry> {
    vec![
        Entry::dir("dev", 0o755),
        Entry::dir("proc", 0o555),
        Entry::dir("tmp", 0o1777),
        Entry::file("init", 0o755, fuzz),
    ]
}

/// A failed run: why, and what to show.
#[derive(Debug)]
pub struct Failure {
    pub why: String,
    /// The console's last lines, the running child and the replay command, ready to print.
    pub details: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\n{}", self.why, self.details)
    }
}

/// The failure report for a finished session.
fn failure(plan: &Plan, why: String, report: &Report, session: &Session) -> Failure {
    let console = &session.console;
    let tail = &console[console.len().saturating_sub(TAIL_LINES)..];
    let mut details = format!(
        "--- last {} lines of the console ---\n{}",
        tail.len(),
        tail.join("\n")
    );
    if !session.stderr.trim().is_empty() {
        details.push_str(&format!(
            "\n--- QEMU stderr ---\n{}",
            session.stderr.trim_end()
        ));
    }
    // A panic kills the parent before it could print a trace; anything else (a hang of a
    // process, init killed, a process surviving SIGKILL) may need the child's original timing,
    // which printing every call live changes.
    let show = if report.panic.is_some() || session.outcome == Outcome::Timeout {
        Show::Verbose
    } else {
        Show::Trace
    };
    match report.trouble_child.or(report.last_child) {
        Some(k) => details.push_str(&format!(
            "\nthe child running was {k}; replay the run up to it, showing its calls, with:\n  {}",
            replay_command(plan.arch, plan.seed, plan.iterations, k, show)
        )),
        None => details.push_str("\nno child had started"),
    }
    Failure { why, details }
}

/// Builds the kernel and the fuzzer for `plan.arch`, boots, and judges the console.
pub fn run(plan: &Plan) -> std::result::Result<(FuzzOutcome, Duration), Failure> {
    let setup_failure = |e: crate::error::Error| Failure {
        why: format!("could not set up the run: {e}"),
        details: String::new(),
    };
    let board = plan.arch.default_board();
    if !build::PROGRAMS.contains(&PROGRAM) {
        return Err(setup_failure(crate::error::Error::new(
            "the fuzzer (userspace/fuzz) is not among the programs xtask builds (build::PROGRAMS)",
        )));
    }
    let prepared = (|| -> Result<_> {
        setup::ensure_rust_targets(&[board.kernel_target, plan.arch.userspace_target()])?;
        setup::ensure_qemu(&[plan.arch.qemu_system()])?;
        let user = build::build_userspace(plan.arch)?;
        let path = user.program(PROGRAM);
        let fuzz = std::fs::read(&path).context(|| format!("reading {}", path.display()))?;
        let initrd =
            crate::run::write_initramfs(&format!("fuzz-{}", plan.arch), &initramfs_entries(fuzz))?;
        let kernel = build::build_kernel(board, plan.release)?;
        let dtb = crate::dtb::device_tree(board)?;
        Ok((initrd, kernel, dtb))
    })();
    let (initrd, kernel, dtb) = prepared.map_err(setup_failure)?;
    let cmdline = cmdline(plan);
    let cfg = QemuConfig {
        board,
        kernel: &kernel.boot_file,
        initrd: &initrd,
        dtb: dtb.as_deref(),
        cmdline: &cmdline,
        cpu: None,
        machine_opts: None,
        accel: None,
        gdb: false,
    };
    let cmd = qemu::command(&cfg);
    eprintln!(
        "xtask: fuzz {}: seed {}, {}{}",
        plan.arch,
        plan.seed,
        match plan.child {
            Some(k) if plan.alone => format!("child {k} alone"),
            Some(k) => format!("{} calls, up to child {k}", plan.iterations),
            None => format!("{} calls", plan.iterations),
        },
        if plan.verbose { ", verbose" } else { "" }
    );
    eprintln!("xtask: {}", build::describe(&cmd));
    let started = Instant::now();
    let watch = Watch {
        echo: plan.verbose,
        forward_stdin: false,
        capture_stderr: true,
        timeout: Some(timeout(plan)),
    };
    let session = qemu::run(cmd, &watch).map_err(setup_failure)?;
    let wall = started.elapsed();
    let log = console_log(plan);
    let saved = std::fs::create_dir_all(log.parent().unwrap_or(&log))
        .and_then(|()| std::fs::write(&log, session.transcript()));
    match saved {
        Ok(()) => eprintln!("xtask: the console is in {}", log.display()),
        Err(e) => eprintln!("xtask: warning: writing {}: {e}", log.display()),
    }
    let report = parse_console(&session.console);
    judge(plan, &report, &session.outcome, session.powered_off)
        .map(|o| (o, wall))
        .map_err(|why| failure(plan, why, &report, &session))
}

/// Where a run's whole console is kept: `<target>/fuzz/ARCH-seed-S[-child-K].log`.
pub fn console_log(plan: &Plan) -> std::path::PathBuf {
    let mut name = format!("{}-seed-{}", plan.arch, plan.seed);
    if let Some(k) = plan.child {
        name.push_str(&format!("-child-{k}"));
    }
    build::target_dir().join("fuzz").join(format!("{name}.log"))
}

/// One line on a passed run.
pub fn summary(plan: &Plan, o: &FuzzOutcome, wall: Duration) -> String {
    let secs = wall.as_secs_f64();
    let guest = o.guest_ms.map_or(String::new(), |ms| {
        format!(", {:.1} s of it fuzzing", ms as f64 / 1000.0)
    });
    format!(
        "{} calls in {} children (exited {}, killed by a signal {}, killed as stuck {}); \
         {:.1} s wall{guest}, {:.0} calls/s (seed {})",
        o.calls,
        o.children,
        o.exited,
        o.signaled,
        o.killed,
        secs,
        o.calls as f64 / secs.max(0.001),
        plan.seed
    )
}

/// `cargo xtask fuzz`.
pub fn fuzz_command(args: &FuzzArgs) -> Result<u8> {
    let mut failed = false;
    for &arch in &args.arches {
        let plan = Plan {
            arch,
            seed: args.seed,
            iterations: args.iterations,
            child: args.child,
            alone: args.alone,
            verbose: args.verbose,
            trace: args.trace,
            release: args.release,
            timeout: args.timeout,
        };
        match run(&plan) {
            Ok((o, wall)) => println!("fuzz {arch}: PASS: {}", summary(&plan, &o, wall)),
            Err(f) => {
                println!("fuzz {arch}: FAIL: {f}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// `cargo xtask test`'s fuzzing case on `arch`: [`CI_SEED`] for [`CI_ITERATIONS`] calls
/// ([`QUICK_ITERATIONS`] with `quick`). Ok with a one-line summary, or Err with the report.
pub fn ci_test(arch: Arch, quick: bool) -> std::result::Result<String, String> {
    let plan = Plan {
        arch,
        seed: CI_SEED,
        iterations: if quick {
            QUICK_ITERATIONS
        } else {
            CI_ITERATIONS
        },
        child: None,
        alone: false,
        verbose: false,
        trace: false,
        release: false,
        timeout: None,
    };
    run(&plan)
        .map(|(o, wall)| summary(&plan, &o, wall))
        .map_err(|f| f.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(String::from).collect()
    }

    fn plan() -> Plan {
        Plan {
            arch: Arch::X86_64,
            seed: 7,
            iterations: 3000,
            child: None,
            alone: false,
            verbose: false,
            trace: false,
            release: false,
            timeout: None,
        }
    }

    const GOOD: &str = "\
[INFO ] booting
cyphera-fuzz: begin arch=x86_64 seed=7 iterations=3000 per-child=1000
cyphera-fuzz: child 0
[WARN ] pid 3 (init): unknown syscall number 500, returning -ENOSYS
cyphera: pid 3 (init) killed by SIGSEGV: general protection fault at 0x0, pc 0x20f527
cyphera-fuzz: child 1
cyphera-fuzz: child 2
cyphera-fuzz: child 3
cyphera-fuzz: time ms=832
cyphera-fuzz: survived calls=3000 children=4 exited=2 signaled=1 killed=1
cyphera: system power off";

    #[test]
    fn a_survived_run_is_read_and_passes() {
        let r = parse_console(&lines(GOOD));
        assert!(r.began);
        assert_eq!(r.last_child, Some(3));
        assert_eq!(r.panic, None);
        assert!(r.troubles.is_empty());
        let want = FuzzOutcome {
            calls: 3000,
            children: 4,
            exited: 2,
            signaled: 1,
            killed: 1,
            guest_ms: Some(832),
        };
        assert_eq!(r.survived, Some(want.clone()));
        assert_eq!(judge(&plan(), &r, &Outcome::Exited(0), true), Ok(want));
    }

    #[test]
    fn a_panic_fails_and_names_the_child_and_its_replay() {
        let text = "\
cyphera-fuzz: begin arch=aarch64 seed=7 iterations=3000 per-child=1000
cyphera-fuzz: child 0
cyphera-fuzz: child 1
cyphera-fuzz: child 1 stalled in call 5 (0x3 0x0 0x0 0x0 0x0 0x0 0x0): killed
partial outputcyphera: kernel panic at kernel-core/src/fd.rs:10:5: already borrowed";
        let r = parse_console(&lines(text));
        assert_eq!(r.last_child, Some(1));
        assert_eq!(
            r.panic.as_deref(),
            Some("cyphera: kernel panic at kernel-core/src/fd.rs:10:5: already borrowed")
        );
        let err = judge(&plan(), &r, &Outcome::Panic, true).unwrap_err();
        assert!(err.contains("already borrowed"), "{err}");
        assert_eq!(
            replay_command(Arch::Aarch64, 7, 3000, 1, Show::Verbose),
            "cargo xtask fuzz --arch aarch64 --seed 7 --iterations 3000 --child 1 --verbose"
        );
        assert_eq!(
            replay_command(Arch::X86_64, 1, 100000, 107, Show::Trace),
            "cargo xtask fuzz --arch x86_64 --seed 1 --iterations 100000 --child 107 --trace"
        );
        // Even a survived line printed before a panic does not make the run pass.
        let text = format!("{GOOD}\ncyphera: kernel panic at x.rs:1:1: late");
        let r = parse_console(&lines(&text));
        assert!(judge(&plan(), &r, &Outcome::Panic, true).is_err());
    }

    #[test]
    fn hangs_deaths_troubles_and_short_runs_fail() {
        // A hang: the console stops in child 2.
        let r = parse_console(&lines(
            "cyphera-fuzz: begin arch=x86_64 seed=7 iterations=3000 per-child=1000\n\
             cyphera-fuzz: child 2",
        ));
        let err = judge(&plan(), &r, &Outcome::Timeout, false).unwrap_err();
        assert!(err.contains("timed out"), "{err}");
        assert_eq!(r.last_child, Some(2));
        // Init killed: the deny list leaked.
        let r = parse_console(&lines(
            "cyphera-fuzz: child 0\ncyphera: init killed by signal 9 (SIGKILL)",
        ));
        let err = judge(&plan(), &r, &Outcome::Killed(9), true).unwrap_err();
        assert!(err.contains("init"), "{err}");
        // A process that outlived SIGKILL.
        let text = GOOD.replace(
            "cyphera-fuzz: child 3\n",
            "cyphera-fuzz: child 3\ncyphera-fuzz: processes survived SIGKILL for 10 s; going on without them\n",
        );
        let err = judge(
            &plan(),
            &parse_console(&lines(&text)),
            &Outcome::Exited(0),
            true,
        )
        .unwrap_err();
        assert!(err.contains("survived SIGKILL"), "{err}");
        // The child to replay is the one before the first trouble, not the last one.
        let text = format!(
            "{text}\ncyphera-fuzz: child 4\ncyphera-fuzz: processes survived SIGKILL for 10 s\n"
        );
        let r = parse_console(&lines(&text));
        assert_eq!((r.trouble_child, r.last_child), (Some(3), Some(4)));
        // Fewer calls than asked for.
        let text = GOOD.replace("calls=3000", "calls=2999");
        let err = judge(
            &plan(),
            &parse_console(&lines(&text)),
            &Outcome::Exited(0),
            true,
        )
        .unwrap_err();
        assert!(err.contains("2999 of 3000"), "{err}");
        // ... which a replay of one child does not ask for.
        let replay = Plan {
            child: Some(3),
            ..plan()
        };
        assert!(
            judge(
                &replay,
                &parse_console(&lines(&text)),
                &Outcome::Exited(0),
                true
            )
            .is_ok()
        );
        // No power-off after the line.
        let err = judge(
            &plan(),
            &parse_console(&lines(GOOD)),
            &Outcome::Timeout,
            false,
        )
        .unwrap_err();
        assert!(err.contains("power off"), "{err}");
        // Never started.
        let err = judge(
            &plan(),
            &parse_console(&lines("cyphera: init exited with status 0")),
            &Outcome::Exited(0),
            true,
        )
        .unwrap_err();
        assert!(err.contains("init"), "{err}");
        let err = judge(
            &plan(),
            &parse_console(&[]),
            &Outcome::NoMarker(None),
            false,
        )
        .unwrap_err();
        assert!(err.contains("never started"), "{err}");
    }

    #[test]
    fn a_malformed_survived_line_is_not_a_pass() {
        let text = GOOD.replace("killed=1", "killed=x");
        let r = parse_console(&lines(&text));
        assert_eq!(r.survived, None);
        assert!(judge(&plan(), &r, &Outcome::Exited(0), true).is_err());
        // `child K ...` lines that are not the start of a child do not move the marker.
        let r = parse_console(&lines(
            "cyphera-fuzz: child 4\ncyphera-fuzz: child 4 exited 0\ncyphera-fuzz: child 12x",
        ));
        assert_eq!(r.last_child, Some(4));
    }

    #[test]
    fn the_command_line_and_timeout_follow_the_plan() {
        assert_eq!(cmdline(&plan()), "quiet -- seed=7 iterations=3000");
        let replay = Plan {
            child: Some(12),
            verbose: true,
            ..plan()
        };
        assert_eq!(
            cmdline(&replay),
            "quiet -- seed=7 iterations=3000 child=12 verbose"
        );
        assert_eq!(timeout(&plan()), Duration::from_secs(66));
        // The 3000 quiet calls before child 12 (all of the run), then 1000 verbose ones.
        assert_eq!(timeout(&replay), Duration::from_secs(86));
        let alone = Plan {
            alone: true,
            ..replay.clone()
        };
        assert_eq!(
            cmdline(&alone),
            "quiet -- seed=7 iterations=3000 child=12 alone verbose"
        );
        assert_eq!(timeout(&alone), Duration::from_secs(80));
        let trace = Plan {
            child: Some(1),
            trace: true,
            ..plan()
        };
        assert_eq!(
            cmdline(&trace),
            "quiet -- seed=7 iterations=3000 child=1 trace"
        );
        assert_eq!(timeout(&trace), Duration::from_secs(82));
        let fixed = Plan {
            timeout: Some(Duration::from_secs(5)),
            ..plan()
        };
        assert_eq!(timeout(&fixed), Duration::from_secs(5));
        assert!(
            timeout(&Plan {
                iterations: CI_ITERATIONS,
                ..plan()
            }) >= Duration::from_secs(200)
        );
    }

    #[test]
    fn initramfs_holds_init_and_its_directories() {
        let entries = initramfs_entries(b"F".to_vec());
        let init = entries.iter().find(|e| e.name == "init").unwrap();
        assert_eq!(init.data, b"F");
        assert_eq!(init.mode, kernel_core::cpio::S_IFREG | 0o755);
        for dir in ["dev", "proc", "tmp"] {
            let d = entries.iter().find(|e| e.name == dir).unwrap();
            assert_eq!(
                d.mode & kernel_core::cpio::S_IFMT,
                kernel_core::cpio::S_IFDIR
            );
        }
        assert!(crate::cpio::pack(&entries).is_ok());
        assert!(build::PROGRAMS.contains(&PROGRAM));
    }

    #[test]
    fn console_logs_are_named_after_the_run() {
        let log = console_log(&plan());
        assert!(log.ends_with("fuzz/x86_64-seed-7.log"), "{}", log.display());
        let replay = Plan {
            child: Some(3),
            ..plan()
        };
        assert!(console_log(&replay).ends_with("fuzz/x86_64-seed-7-child-3.log"));
    }

    #[test]
    fn summaries_give_rates() {
        let o = FuzzOutcome {
            calls: 100_000,
            children: 120,
            exited: 60,
            signaled: 50,
            killed: 10,
            guest_ms: Some(40_000),
        };
        let s = summary(&plan(), &o, Duration::from_secs(50));
        assert!(s.starts_with("100000 calls in 120 children"), "{s}");
        assert!(s.contains("2000 calls/s"), "{s}");
        assert!(s.contains("40.0 s of it fuzzing"), "{s}");
    }
}
