//! `cargo xtask soak --arch A|all --minutes M` (issue 7): boots Cyphera once per architecture
//! with the soak driver (userspace/soak) as /init and the conformance and exhaustion programs
//! under /bin, listed in /etc/soak-programs. The driver runs them round after round until the
//! deadline (passed as init's argument, in seconds), checks that each passes, and after each
//! round prints MemFree and the kernel heap (SUnreclaim); it fails if, after the warm-up round,
//! either does not come back to the baseline. This reads those lines and reports the rounds,
//! the range of free memory and heap, and pass or fail. [`ci_test`] is the short variant for
//! `cargo xtask test`: two rounds of a smaller mix.

use std::time::{Duration, Instant};

use crate::arch::Arch;
use crate::build;
use crate::cpio::Entry;
use crate::error::{Context, Result};
use crate::qemu::{self, Outcome, QemuConfig, Watch};
use crate::setup;

/// The programs of a full soak round, in order, with their arguments: every raw conformance
/// program (each checks itself and ends with `<name>: ok`) and the exhaustion programs
/// between them, so that each exhaustion is followed by ordinary work on what it left behind.
/// `exhaust-processes bombs wide` runs its fork bombs on AArch64 too (its Linux reference
/// cannot), and the widest, thin processes under the default RLIMIT_NPROC until the kernel
/// heap's reserve stops them (half a minute under TCG).
const FULL_MIX: &[&str] = &[
    "fork-wait",
    "exhaust-memory",
    "exec-chain",
    "exhaust-overcommit",
    "vfork-exec",
    "mmap",
    "exhaust-processes bombs wide",
    "fork-memory",
    "threads",
    "futex",
    "exhaust-fds",
    "tls",
    "signals",
    "fault-signals",
    "pipe-stress",
    "sigaltstack",
    "signal-process",
    "thread-signals",
    "exec-state",
    "time",
    "sysinfo",
    "fpu-preempt",
];

/// The mix of the short variant [`ci_test`]: the exhaustion programs (without the slow widest
/// fork bomb) and a few ordinary ones; a round takes some 15 s under TCG.
const CI_MIX: &[&str] = &[
    "exhaust-memory",
    "exhaust-overcommit",
    "fork-wait",
    "exhaust-processes bombs",
    "threads",
    "exhaust-fds",
    "pipe-stress",
];

/// How long the guest may run past the deadline: the driver finishes the round in progress
/// (and always runs two), and a round of the full mix takes minutes under TCG.
const GRACE: Duration = Duration::from_secs(20 * 60);

/// `soak`'s options.
#[derive(Debug, PartialEq)]
pub struct SoakArgs {
    pub arches: Vec<Arch>,
    pub minutes: u64,
    /// The short variant (`--quick`): [`ci_test`]'s two rounds of [`CI_MIX`], ignoring
    /// `minutes`.
    pub quick: bool,
}

/// Parses `soak`'s options (after the subcommand): `--arch A|all` (default all), `--minutes M`
/// (default 10), each as `--flag value` or `--flag=value`, and `--quick`.
pub fn parse(args: &[String]) -> std::result::Result<SoakArgs, String> {
    let mut out = SoakArgs {
        arches: Arch::ALL.to_vec(),
        minutes: 10,
        quick: false,
    };
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (arg.as_str(), None),
        };
        let mut value = || -> std::result::Result<String, String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            let v = args
                .get(i)
                .filter(|v| !v.starts_with("--"))
                .ok_or_else(|| format!("{name} needs a value"))?;
            i += 1;
            Ok(v.clone())
        };
        match name {
            "--arch" => {
                let v = value()?;
                out.arches =
                    if v == "all" {
                        Arch::ALL.to_vec()
                    } else {
                        vec![Arch::parse(&v).ok_or_else(|| {
                            format!("unknown architecture `{v}` (x86_64 or aarch64)")
                        })?]
                    };
            }
            "--minutes" => {
                let v = value()?;
                out.minutes = v
                    .parse()
                    .map_err(|_| format!("--minutes wants a whole number, not `{v}`"))?;
            }
            "--quick" if inline.is_none() => out.quick = true,
            _ => return Err(format!("unknown option {arg} for soak")),
        }
    }
    Ok(out)
}

/// One round as the driver reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Round {
    number: u64,
    free_kb: u64,
    heap_kb: u64,
    secs: u64,
}

/// What one soak boot showed.
#[derive(Debug, Default, PartialEq)]
struct Report {
    rounds: Vec<Round>,
    /// The driver said `done`.
    done: bool,
    /// The driver's `FAILED` line and what followed it (the program's output).
    failure: Option<String>,
    /// The last `round N: PROGRAM` line: what ran when things stopped.
    last_started: Option<String>,
}

const PREFIX: &str = "cyphera-soak: ";

/// The value of `key=` among `words`.
fn field(words: &[&str], key: &str) -> Option<u64> {
    words
        .iter()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// Reads the driver's lines among the console's (kernel lines are interleaved).
fn parse_console(console: &[String]) -> Report {
    let mut r = Report::default();
    let mut failure: Option<Vec<&str>> = None;
    for line in console {
        if let Some(f) = failure.as_mut() {
            if !line.starts_with("cyphera: ") {
                f.push(line);
            }
            continue;
        }
        let Some(rest) = line.find(PREFIX).map(|i| &line[i + PREFIX.len()..]) else {
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        match words.as_slice() {
            ["round", n, "ok", ..] => {
                let round = (|| {
                    Some(Round {
                        number: n.parse().ok()?,
                        free_kb: field(&words, "free_kb")?,
                        heap_kb: field(&words, "heap_kb")?,
                        secs: field(&words, "secs")?,
                    })
                })();
                if let Some(round) = round {
                    r.rounds.push(round);
                }
            }
            ["round", _, "FAILED", ..] | ["FAILED:", ..] => failure = Some(vec![rest]),
            ["round", n, program] if n.ends_with(':') => {
                r.last_started = Some(format!("round {} {program}", n.trim_end_matches(':')));
            }
            ["done", ..] => r.done = true,
            _ => {}
        }
    }
    r.failure = failure.map(|lines| lines.join("\n"));
    r
}

/// The range of a figure over the rounds after the warm-up (all rounds if there is only one).
fn range(rounds: &[Round], f: impl Fn(&Round) -> u64) -> Option<(u64, u64)> {
    let checked = if rounds.len() > 1 {
        &rounds[1..]
    } else {
        rounds
    };
    let min = checked.iter().map(&f).min()?;
    let max = checked.iter().map(&f).max()?;
    Some((min, max))
}

impl Report {
    /// One line: rounds, time, the baseline and the range of both figures after it.
    fn summary(&self) -> String {
        let Some(base) = self.rounds.first() else {
            return "no round finished".into();
        };
        let secs: u64 = self.rounds.iter().map(|r| r.secs).sum();
        let (fmin, fmax) = range(&self.rounds, |r| r.free_kb).unwrap_or_default();
        let (hmin, hmax) = range(&self.rounds, |r| r.heap_kb).unwrap_or_default();
        format!(
            "{} rounds in {secs} s; baseline (after the warm-up round) free {} KiB, heap {} KiB; \
             later rounds free {fmin}..{fmax} KiB, heap {hmin}..{hmax} KiB",
            self.rounds.len(),
            base.free_kb,
            base.heap_kb
        )
    }
}

/// Builds the driver and the programs of `mix` for `arch`, exactly as the conformance suite
/// builds its raw programs (same flags and target directory), and packs the initramfs.
fn initramfs(arch: Arch, mix: &[&str]) -> Result<std::path::PathBuf> {
    let names: Vec<&str> = mix
        .iter()
        .map(|line| line.split_whitespace().next().unwrap_or(""))
        .collect();
    let triple = arch.userspace_target();
    let target = build::target_dir().join("userspace");
    let mut cargo = build::rust_tool("cargo");
    cargo
        .args(["build", "--quiet", "--release", "--manifest-path"])
        .arg(build::root().join("userspace").join("Cargo.toml"))
        .args(["--target", triple])
        .arg("--target-dir")
        .arg(&target)
        .env("RUSTFLAGS", arch.userspace_rustflags(false).join(" "))
        .args(["--package", "soak"]);
    for name in &names {
        cargo.args(["--package", name]);
    }
    eprintln!("xtask: building the {arch} soak driver and its programs");
    build::run_checked(&mut cargo)?;
    let dir = target.join(triple).join("release");
    let read = |name: &str| -> Result<Vec<u8>> {
        let path = dir.join(name);
        std::fs::read(&path).context(|| format!("reading {}", path.display()))
    };
    let mut list = mix.join("\n");
    list.push('\n');
    let mut entries = vec![
        Entry::dir("bin", 0o755),
        Entry::dir("etc", 0o755),
        Entry::dir("proc", 0o555),
        Entry::dir("tmp", 0o1777),
        Entry::file("init", 0o755, read("soak")?),
        Entry::file("etc/soak-programs", 0o644, list.into_bytes()),
    ];
    for name in &names {
        entries.push(Entry::file(&format!("bin/{name}"), 0o755, read(name)?));
    }
    crate::run::write_initramfs(&format!("soak-{arch}"), &entries)
}

/// Boots one soak on `arch`'s default board: its report, and how the guest ended.
fn soak(arch: Arch, seconds: u64, mix: &[&str], echo: bool) -> Result<(Report, Outcome)> {
    let board = arch.default_board();
    setup::ensure_rust_targets(&[board.kernel_target, arch.userspace_target()])?;
    setup::ensure_qemu(&[arch.qemu_system()])?;
    let initrd = initramfs(arch, mix)?;
    let kernel = build::build_kernel(board, false)?;
    let dtb = crate::dtb::device_tree(board)?;
    let cmdline = crate::run::kernel_cmdline(None, None, &[seconds.to_string()])?;
    let cmd = qemu::command(&QemuConfig {
        board,
        kernel: &kernel.boot_file,
        initrd: &initrd,
        dtb: dtb.as_deref(),
        cmdline: &cmdline,
        cpu: None,
        machine_opts: None,
        accel: None,
        gdb: false,
    });
    eprintln!("xtask: {}", build::describe(&cmd));
    let watch = Watch {
        echo,
        forward_stdin: false,
        capture_stderr: true,
        timeout: Some(Duration::from_secs(seconds) + GRACE),
    };
    let session = qemu::run(cmd, &watch)?;
    Ok((parse_console(&session.console), session.outcome))
}

/// The verdict on one soak: `Ok(summary)` when the driver finished its rounds and exited 0.
fn verdict(report: &Report, outcome: &Outcome) -> std::result::Result<String, String> {
    let summary = report.summary();
    let stopped = || {
        report
            .last_started
            .as_deref()
            .map(|s| format!(" (last started: {s})"))
            .unwrap_or_default()
    };
    if let Some(f) = &report.failure {
        return Err(format!("{summary}\n{f}"));
    }
    match outcome {
        Outcome::Exited(0) if report.done && report.rounds.len() >= 2 => Ok(summary),
        Outcome::Exited(0) => Err(format!("{summary}; the driver ended without `done`")),
        Outcome::Exited(n) => Err(format!(
            "{summary}; the driver exited with {n}{}",
            stopped()
        )),
        Outcome::Killed(sig) => Err(format!(
            "{summary}; the driver was killed by signal {sig}{}",
            stopped()
        )),
        Outcome::Panic => Err(format!("{summary}; the kernel panicked{}", stopped())),
        Outcome::Timeout => Err(format!("{summary}; timed out{}", stopped())),
        Outcome::NoMarker(_) => Err(format!(
            "{summary}; QEMU ended without the kernel reporting init's end{}",
            stopped()
        )),
    }
}

/// `cargo xtask soak`: each architecture in turn; exits 0 only if every one passed.
pub fn soak_command(args: &SoakArgs) -> Result<u8> {
    let (seconds, mix) = if args.quick {
        (0, CI_MIX)
    } else {
        (args.minutes * 60, FULL_MIX)
    };
    let mut failed = Vec::new();
    let mut lines = Vec::new();
    for &arch in &args.arches {
        let started = Instant::now();
        let (report, outcome) = soak(arch, seconds, mix, true)?;
        let took = started.elapsed().as_secs();
        match verdict(&report, &outcome) {
            Ok(summary) => lines.push(format!(
                "soak {arch}: PASS: {summary} (boot to end {took} s)"
            )),
            Err(why) => {
                lines.push(format!("soak {arch}: FAIL: {why}"));
                failed.push(arch);
            }
        }
    }
    for line in &lines {
        println!("{line}");
    }
    Ok(if failed.is_empty() { 0 } else { 1 })
}

/// The short soak for `cargo xtask test` (`soak/<arch>/quick`): two rounds of [`CI_MIX`] on the
/// architecture's default board, the first the warm-up and baseline, the second checked against
/// it. `Ok` carries the summary, `Err` why it failed.
pub fn ci_test(arch: Arch) -> std::result::Result<String, String> {
    let (report, outcome) = soak(arch, 0, CI_MIX, false).map_err(|e| e.to_string())?;
    verdict(&report, &outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, bail};
    use std::path::Path;

    /// Checks that every program of the mixes is a member of the userspace workspace.
    fn check_mixes(userspace: &Path) -> Result<()> {
        let members = std::fs::read_to_string(userspace.join("Cargo.toml"))
            .context(|| "reading userspace/Cargo.toml".to_string())?;
        for line in FULL_MIX.iter().chain(CI_MIX) {
            let name = line.split_whitespace().next().unwrap_or("");
            if !members.contains(&format!("\"conformance/{name}\"")) {
                bail!("soak program {name} is not a userspace workspace member");
            }
        }
        if !members.contains("\"soak\"") {
            return Err(Error::new(
                "the soak driver is not a userspace workspace member",
            ));
        }
        Ok(())
    }

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(String::from).collect()
    }

    #[test]
    fn options() {
        let args = |s: &str| -> Vec<String> { s.split_whitespace().map(String::from).collect() };
        assert_eq!(
            parse(&args("--arch x86_64 --minutes 3")).unwrap(),
            SoakArgs {
                arches: vec![Arch::X86_64],
                minutes: 3,
                quick: false
            }
        );
        assert_eq!(
            parse(&args("--minutes=0 --arch=all")).unwrap(),
            SoakArgs {
                arches: Arch::ALL.to_vec(),
                minutes: 0,
                quick: false
            }
        );
        assert_eq!(parse(&[]).unwrap().minutes, 10);
        assert!(parse(&args("--quick --arch aarch64")).unwrap().quick);
        assert!(parse(&args("--quick=yes")).is_err());
        assert!(parse(&args("--minutes")).is_err());
        assert!(parse(&args("--minutes x")).is_err());
        assert!(parse(&args("--arch mips")).is_err());
        assert!(parse(&args("--seconds 3")).is_err());
    }

    #[test]
    fn console_lines_make_a_report() {
        let console = lines(
            "[INFO ] booted\n\
             cyphera-soak: begin programs=2 seconds=0\n\
             cyphera-soak: round 1: fork-wait\n\
             [WARN ] pid 7: out of memory on a page fault at 0x1000; killing it\n\
             cyphera-soak: round 1 ok free_kb=400000 heap_kb=900 secs=40\n\
             cyphera-soak: round 2: exhaust-memory\n\
             cyphera-soak: round 2 ok free_kb=400004 heap_kb=910 secs=38\n\
             cyphera-soak: done rounds=2\n\
             cyphera: init exited with status 0",
        );
        let r = parse_console(&console);
        assert_eq!(r.rounds.len(), 2);
        assert_eq!(
            r.rounds[1],
            Round {
                number: 2,
                free_kb: 400004,
                heap_kb: 910,
                secs: 38
            }
        );
        assert!(r.done && r.failure.is_none());
        assert_eq!(r.last_started.as_deref(), Some("round 2 exhaust-memory"));
        let ok = verdict(&r, &Outcome::Exited(0)).unwrap();
        assert!(ok.contains("2 rounds in 78 s"), "{ok}");
        assert!(
            ok.contains("free 400004..400004 KiB, heap 910..910 KiB"),
            "{ok}"
        );
        assert!(verdict(&r, &Outcome::Panic).is_err());
    }

    #[test]
    fn failures_carry_the_program_output() {
        let console = lines(
            "cyphera-soak: round 3: pipe-stress\n\
             cyphera-soak: round 3 FAILED pipe-stress: exited 1 (the end of its output follows)\n\
             bytes read: 5 FAILED: expected 6\n\
             pipe-stress: 1 checks FAILED\n\
             cyphera: init exited with status 1",
        );
        let r = parse_console(&console);
        let why = verdict(&r, &Outcome::Exited(1)).unwrap_err();
        assert!(why.contains("round 3 FAILED pipe-stress"), "{why}");
        assert!(why.contains("bytes read: 5 FAILED"), "{why}");
        assert!(!why.contains("init exited"), "{why}");
        let hung = parse_console(&lines("cyphera-soak: round 1: futex"));
        let why = verdict(&hung, &Outcome::Timeout).unwrap_err();
        assert!(
            why.contains("timed out (last started: round 1 futex)"),
            "{why}"
        );
    }

    #[test]
    fn mixes_are_userspace_programs() {
        check_mixes(&build::root().join("userspace")).unwrap();
    }
}
