//! Command-line parsing for `cargo xtask`: `build`, `run`, `test` and `boards` with
//! `--flag value` or `--flag=value` options; `run` passes everything after `--` to init as its
//! arguments.

use std::path::PathBuf;
use std::time::Duration;

use crate::arch::{self, Arch, Board};
use crate::busybox::{GuestKernel, Subset};

pub const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  build  --arch x86_64|aarch64 [--board NAME] [--release]
         Build the kernel (and for AArch64 its flat Image) and the userspace programs.
  run    --arch A [--board NAME] [--release] [--rootfs DIR | --initrd FILE | --busybox]
         [--kernel cyphera|linux] [--init PATH] [--append \"kernel cmdline\"] [--timeout SECS]
         [--cpu MODEL] [--machine-opts OPTS] [--accel ACCEL] [--gdb] [-- ARGS...]
         Build, then boot in QEMU with the console on this terminal and exit with init's status
         (128+N if init was killed by signal N, 70 on a kernel panic, 124 on timeout).
         Without --rootfs/--initrd, init is the hello world. ARGS become init's argv[1..].
         --busybox boots the busybox rootfs into a shell; --kernel linux boots Debian's Linux
         instead of Cyphera on the same machine. Ctrl-C goes to the guest; Ctrl-A x quits QEMU.
  test   [--arch A|all] [--board NAME] [--quick] [--release] [--filter TEXT]
         Host unit tests, QEMU integration tests on every board of the architectures (each
         program also run on Linux and compared), the busybox session and test-suite subset
         on each default board (once the kernel has the VFS), and the Limine check; ends with
         \"N passed, N failed, N skipped\". --board runs the QEMU tests on that board only.
         --quick skips the host unit tests and the extra AArch64 CPU/GIC variants.
  rootfs busybox --arch A [--out DIR]
         Make the busybox root filesystem from Debian's busybox-static (default directory
         target/rootfs/busybox-A).
  busybox-testsuite [--arch A|all] [--kernel cyphera|linux] [--subset ci|full|APPLET,...]
         Run busybox's own test suite (Debian's source package) in the guest; prints the
         counts and FAILs and writes target/busybox-testsuite/A-KERNEL.txt.
  busybox-session [--arch A|all] [--kernel cyphera|linux]
         Run the scripted interactive busybox session of `test` (job control, ^C, tools).
  bench  [--arch A|all] [--icount] [--runs N] [--json FILE] [--quick]
         Boot the benchmark program under Cyphera and under Debian's Linux 6.1 on the same QEMU
         machine, CPU and memory, and print per row the median time on each and Cyphera/Linux
         (rows a kernel cannot run are shown as missing). Writes target/bench/ARCH-MODE.md and
         .svg and target/bench/results.json (or FILE). Wall clock under TCG by default (3
         runs); --icount makes guest time an instruction count, exactly repeatable (1 run).
         --quick is the smoke mode: fewer iterations, one run, checks the pipeline works.
  fuzz   [--arch A|all] [--seed S] [--iterations N] [--child K [--alone]] [--verbose]
         [--trace] [--release] [--timeout SECS]
         Boot the syscall fuzzer as /init on the default board (default seed 1, 100000 calls)
         and report whether the kernel survived (no panic, no hang) and how many calls ran.
         --child K replays the run up to child K (--alone: child K only, on a fresh kernel);
         --verbose prints every call and result as it happens, --trace prints them after the
         child ended (without slowing it down); with --child, of child K only. Exits 0 when
         the kernel survived, 1 when not (with the replay command). The console is kept in
         target/fuzz/ARCH-seed-S.log.
  soak   [--arch A|all] [--minutes M] [--quick]
         Boot Cyphera once per architecture with the soak driver as init: the conformance and
         exhaustion programs round after round for M minutes (default 10), each required to
         pass, and free memory and the kernel heap required to come back to their level after
         the first round. Prints the rounds and the range of both figures. --quick: two rounds
         of a smaller mix (what `test` runs).
  boards List the boards: name, architecture, what it is, and the QEMU command that runs it.
  setup  Install what the other commands need and is missing: the Rust targets of the pinned
         toolchain, and QEMU (from Debian bookworm-backports when run as root on Debian).

boards: qemu-x86_64 (default for x86_64), qemu-pc, qemu-virt-aarch64 (default for aarch64),
        qemu-virt-gicv3, raspi3b, raspi4b (details: cargo xtask boards)";

#[derive(Debug, PartialEq)]
pub enum Command {
    Help,
    Setup,
    Boards,
    Build(BuildArgs),
    Run(RunArgs),
    Test(TestArgs),
    Rootfs { arch: Arch, out: Option<PathBuf> },
    BusyboxTestsuite(BusyboxArgs),
    BusyboxSession(BusyboxArgs),
    Bench(BenchArgs),
    Soak(crate::soak::SoakArgs),
    Fuzz(FuzzArgs),
}

/// `fuzz`.
#[derive(Debug, PartialEq)]
pub struct FuzzArgs {
    pub arches: Vec<Arch>,
    pub seed: u64,
    pub iterations: u64,
    /// Replay up to this child.
    pub child: Option<u64>,
    /// With `child`: only that child.
    pub alone: bool,
    pub verbose: bool,
    pub trace: bool,
    pub release: bool,
    pub timeout: Option<Duration>,
}

/// `bench`.
#[derive(Debug, PartialEq)]
pub struct BenchArgs {
    pub arches: Vec<Arch>,
    /// `-icount shift=0,sleep=off` instead of wall-clock TCG.
    pub icount: bool,
    /// Runs per kernel; None for the mode's default.
    pub runs: Option<usize>,
    /// Where the JSON goes instead of target/bench/results.json.
    pub json: Option<PathBuf>,
    pub quick: bool,
}

/// `busybox-testsuite` and `busybox-session`.
#[derive(Debug, PartialEq)]
pub struct BusyboxArgs {
    pub arches: Vec<Arch>,
    pub kernel: GuestKernel,
    pub subset: Subset,
}

#[derive(Debug, PartialEq)]
pub struct BuildArgs {
    pub board: &'static Board,
    pub release: bool,
}

#[derive(Debug, PartialEq)]
pub enum Rootfs {
    /// Run the hello world as /init.
    Hello,
    /// Pack this directory into a newc cpio.
    Dir(PathBuf),
    /// Use this initramfs file as it is.
    Initrd(PathBuf),
    /// The busybox rootfs (busybox.rs).
    Busybox,
}

#[derive(Debug, PartialEq)]
pub struct RunArgs {
    pub build: BuildArgs,
    pub rootfs: Rootfs,
    pub init: Option<String>,
    pub append: Option<String>,
    pub timeout: Option<Duration>,
    pub cpu: Option<String>,
    pub machine_opts: Option<String>,
    pub accel: Option<String>,
    pub gdb: bool,
    pub init_args: Vec<String>,
    pub kernel: GuestKernel,
}

#[derive(Debug, PartialEq)]
pub struct TestArgs {
    pub arches: Vec<Arch>,
    /// Only this board's QEMU tests (its architecture's host-side builds still run).
    pub board: Option<&'static Board>,
    pub quick: bool,
    pub release: bool,
    pub filter: Option<String>,
}

/// Walks the option list of one subcommand.
struct Options<'a> {
    args: &'a [String],
    pos: usize,
}

impl<'a> Options<'a> {
    /// The next option name and its inline `=value`, or None at the end or at `--`.
    fn next_flag(&mut self) -> Result<Option<(&'a str, Option<&'a str>)>, String> {
        let Some(arg) = self.args.get(self.pos) else {
            return Ok(None);
        };
        if arg == "--" {
            return Ok(None);
        }
        self.pos += 1;
        if !arg.starts_with("--") {
            return Err(format!("unexpected argument `{arg}`"));
        }
        Ok(Some(match arg.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (arg.as_str(), None),
        }))
    }

    /// The value of option `name`: inline, or the next argument.
    fn value(&mut self, name: &str, inline: Option<&'a str>) -> Result<&'a str, String> {
        if let Some(v) = inline {
            return Ok(v);
        }
        match self.args.get(self.pos) {
            Some(v) if v != "--" => {
                self.pos += 1;
                Ok(v)
            }
            _ => Err(format!("{name} needs a value")),
        }
    }

    fn no_value(name: &str, inline: Option<&str>) -> Result<(), String> {
        match inline {
            Some(_) => Err(format!("{name} takes no value")),
            None => Ok(()),
        }
    }

    /// Everything after `--`, if present.
    fn rest(&self) -> &'a [String] {
        match self.args.get(self.pos) {
            Some(arg) if arg == "--" => &self.args[self.pos + 1..],
            _ => &[],
        }
    }
}

fn parse_kernel(value: &str) -> Result<GuestKernel, String> {
    GuestKernel::parse(value).ok_or_else(|| format!("unknown kernel `{value}` (cyphera or linux)"))
}

fn parse_arch(value: &str) -> Result<Arch, String> {
    Arch::parse(value).ok_or_else(|| format!("unknown architecture `{value}` (x86_64 or aarch64)"))
}

/// Resolves `--arch` and `--board` to a board: the board must match the arch if both are given.
fn resolve_board(arch: Option<Arch>, board: Option<&str>) -> Result<&'static Board, String> {
    match (arch, board) {
        (None, None) => Err("which architecture? give --arch x86_64 or --arch aarch64".into()),
        (Some(arch), None) => Ok(arch.default_board()),
        (arch, Some(name)) => {
            let board = arch::board(name).ok_or_else(|| {
                format!("unknown board `{name}` (boards: {})", arch::board_names())
            })?;
            match arch {
                Some(arch) if arch != board.arch => {
                    Err(format!("board {name} is {}, not {arch}", board.arch))
                }
                _ => Ok(board),
            }
        }
    }
}

pub fn parse(args: &[String]) -> Result<Command, String> {
    let Some(sub) = args.first() else {
        return Ok(Command::Help);
    };
    let mut opts = Options {
        args: &args[1..],
        pos: 0,
    };
    match sub.as_str() {
        "help" | "--help" | "-h" => Ok(Command::Help),
        "setup" => match opts.args.first() {
            None => Ok(Command::Setup),
            Some(arg) => Err(format!("setup takes no arguments (got `{arg}`)")),
        },
        "boards" => match opts.args.first() {
            None => Ok(Command::Boards),
            Some(arg) => Err(format!("boards takes no arguments (got `{arg}`)")),
        },
        "build" => {
            let (mut arch, mut board, mut release) = (None, None, false);
            while let Some((name, inline)) = opts.next_flag()? {
                match name {
                    "--arch" => arch = Some(parse_arch(opts.value(name, inline)?)?),
                    "--board" => board = Some(opts.value(name, inline)?),
                    "--release" => {
                        Options::no_value(name, inline)?;
                        release = true;
                    }
                    _ => return Err(format!("unknown option {name} for build")),
                }
            }
            if opts.pos < opts.args.len() {
                return Err("build takes no `--` arguments".into());
            }
            Ok(Command::Build(BuildArgs {
                board: resolve_board(arch, board)?,
                release,
            }))
        }
        "run" => {
            let (mut arch, mut board, mut release) = (None, None, false);
            let (mut rootfs, mut initrd) = (None, None);
            let mut run = RunArgs {
                build: BuildArgs {
                    board: Arch::X86_64.default_board(),
                    release: false,
                },
                rootfs: Rootfs::Hello,
                init: None,
                append: None,
                timeout: None,
                cpu: None,
                machine_opts: None,
                accel: None,
                gdb: false,
                init_args: Vec::new(),
                kernel: GuestKernel::Cyphera,
            };
            let mut busybox = false;
            while let Some((name, inline)) = opts.next_flag()? {
                match name {
                    "--arch" => arch = Some(parse_arch(opts.value(name, inline)?)?),
                    "--board" => board = Some(opts.value(name, inline)?),
                    "--release" => {
                        Options::no_value(name, inline)?;
                        release = true;
                    }
                    "--rootfs" => rootfs = Some(PathBuf::from(opts.value(name, inline)?)),
                    "--initrd" => initrd = Some(PathBuf::from(opts.value(name, inline)?)),
                    "--init" => run.init = Some(opts.value(name, inline)?.to_string()),
                    "--append" => run.append = Some(opts.value(name, inline)?.to_string()),
                    "--timeout" => {
                        let v = opts.value(name, inline)?;
                        let secs: f64 = v
                            .parse()
                            .ok()
                            .filter(|s: &f64| s.is_finite() && *s > 0.0)
                            .ok_or_else(|| {
                                format!("--timeout wants positive seconds, not `{v}`")
                            })?;
                        run.timeout = Some(Duration::from_secs_f64(secs));
                    }
                    "--cpu" => run.cpu = Some(opts.value(name, inline)?.to_string()),
                    "--machine-opts" => {
                        run.machine_opts = Some(opts.value(name, inline)?.to_string())
                    }
                    "--accel" => run.accel = Some(opts.value(name, inline)?.to_string()),
                    "--gdb" => {
                        Options::no_value(name, inline)?;
                        run.gdb = true;
                    }
                    "--busybox" => {
                        Options::no_value(name, inline)?;
                        busybox = true;
                    }
                    "--kernel" => run.kernel = parse_kernel(opts.value(name, inline)?)?,
                    _ => return Err(format!("unknown option {name} for run")),
                }
            }
            run.init_args = opts.rest().to_vec();
            run.rootfs = match (rootfs, initrd, busybox) {
                (Some(dir), None, false) => Rootfs::Dir(dir),
                (None, Some(file), false) => Rootfs::Initrd(file),
                (None, None, true) => Rootfs::Busybox,
                (None, None, false) => Rootfs::Hello,
                _ => return Err("give one of --rootfs, --initrd and --busybox".into()),
            };
            run.build = BuildArgs {
                board: resolve_board(arch, board)?,
                release,
            };
            Ok(Command::Run(run))
        }
        "test" => {
            let mut test = TestArgs {
                arches: Arch::ALL.to_vec(),
                board: None,
                quick: false,
                release: false,
                filter: None,
            };
            while let Some((name, inline)) = opts.next_flag()? {
                match name {
                    "--arch" => {
                        let v = opts.value(name, inline)?;
                        test.arches = if v == "all" {
                            Arch::ALL.to_vec()
                        } else {
                            vec![parse_arch(v)?]
                        };
                    }
                    "--quick" => {
                        Options::no_value(name, inline)?;
                        test.quick = true;
                    }
                    "--release" => {
                        Options::no_value(name, inline)?;
                        test.release = true;
                    }
                    "--filter" => test.filter = Some(opts.value(name, inline)?.to_string()),
                    "--board" => {
                        let v = opts.value(name, inline)?;
                        test.board = Some(arch::board(v).ok_or_else(|| {
                            format!("unknown board `{v}` (boards: {})", arch::board_names())
                        })?);
                    }
                    _ => return Err(format!("unknown option {name} for test")),
                }
            }
            if opts.pos < opts.args.len() {
                return Err("test takes no `--` arguments".into());
            }
            if let Some(board) = test.board {
                if test.arches.len() == 1 && test.arches[0] != board.arch {
                    return Err(format!(
                        "board {} is {}, not {}",
                        board.name, board.arch, test.arches[0]
                    ));
                }
                test.arches = vec![board.arch];
            }
            Ok(Command::Test(test))
        }
        "rootfs" => {
            if opts.args.first().map(String::as_str) != Some("busybox") {
                return Err("rootfs: which one? (`rootfs busybox --arch A`)".into());
            }
            opts.pos = 1;
            let (mut arch, mut out) = (None, None);
            while let Some((name, inline)) = opts.next_flag()? {
                match name {
                    "--arch" => arch = Some(parse_arch(opts.value(name, inline)?)?),
                    "--out" => out = Some(PathBuf::from(opts.value(name, inline)?)),
                    _ => return Err(format!("unknown option {name} for rootfs busybox")),
                }
            }
            if opts.pos < opts.args.len() {
                return Err("rootfs takes no `--` arguments".into());
            }
            let arch = arch.ok_or("which architecture? give --arch x86_64 or --arch aarch64")?;
            Ok(Command::Rootfs { arch, out })
        }
        "busybox-testsuite" | "busybox-session" => {
            let mut bb = BusyboxArgs {
                arches: Arch::ALL.to_vec(),
                kernel: GuestKernel::Cyphera,
                subset: Subset::Full,
            };
            while let Some((name, inline)) = opts.next_flag()? {
                match name {
                    "--arch" => {
                        let v = opts.value(name, inline)?;
                        bb.arches = if v == "all" {
                            Arch::ALL.to_vec()
                        } else {
                            vec![parse_arch(v)?]
                        };
                    }
                    "--kernel" => bb.kernel = parse_kernel(opts.value(name, inline)?)?,
                    "--subset" if sub == "busybox-testsuite" => {
                        let v = opts.value(name, inline)?;
                        bb.subset = Subset::parse(v).ok_or_else(|| {
                            format!("unknown subset `{v}` (ci, full, or applets: cpio,wget)")
                        })?;
                    }
                    _ => return Err(format!("unknown option {name} for {sub}")),
                }
            }
            if opts.pos < opts.args.len() {
                return Err(format!("{sub} takes no `--` arguments"));
            }
            Ok(if sub == "busybox-session" {
                Command::BusyboxSession(bb)
            } else {
                Command::BusyboxTestsuite(bb)
            })
        }
        "bench" => {
            let mut bench = BenchArgs {
                arches: Arch::ALL.to_vec(),
                icount: false,
                runs: None,
                json: None,
                quick: false,
            };
            while let Some((name, inline)) = opts.next_flag()? {
                match name {
                    "--arch" => {
                        let v = opts.value(name, inline)?;
                        bench.arches = if v == "all" {
                            Arch::ALL.to_vec()
                        } else {
                            vec![parse_arch(v)?]
                        };
                    }
                    "--icount" => {
                        Options::no_value(name, inline)?;
                        bench.icount = true;
                    }
                    "--quick" => {
                        Options::no_value(name, inline)?;
                        bench.quick = true;
                    }
                    "--runs" => {
                        let v = opts.value(name, inline)?;
                        bench.runs =
                            Some(v.parse().ok().filter(|&n: &usize| n > 0).ok_or_else(|| {
                                format!("--runs wants a positive count, not `{v}`")
                            })?);
                    }
                    "--json" => bench.json = Some(PathBuf::from(opts.value(name, inline)?)),
                    _ => return Err(format!("unknown option {name} for bench")),
                }
            }
            if opts.pos < opts.args.len() {
                return Err("bench takes no `--` arguments".into());
            }
            Ok(Command::Bench(bench))
        }
        "fuzz" => {
            let mut fuzz = FuzzArgs {
                arches: Arch::ALL.to_vec(),
                seed: crate::fuzz::CI_SEED,
                iterations: crate::fuzz::CI_ITERATIONS,
                child: None,
                alone: false,
                verbose: false,
                trace: false,
                release: false,
                timeout: None,
            };
            let number = |name: &str, v: &str| -> Result<u64, String> {
                let parsed = match v.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16),
                    None => v.parse(),
                };
                parsed.map_err(|_| format!("{name} wants a number, not `{v}`"))
            };
            while let Some((name, inline)) = opts.next_flag()? {
                match name {
                    "--arch" => {
                        let v = opts.value(name, inline)?;
                        fuzz.arches = if v == "all" {
                            Arch::ALL.to_vec()
                        } else {
                            vec![parse_arch(v)?]
                        };
                    }
                    "--seed" => fuzz.seed = number(name, opts.value(name, inline)?)?,
                    "--iterations" => {
                        fuzz.iterations = number(name, opts.value(name, inline)?)?;
                        if fuzz.iterations == 0 {
                            return Err("--iterations wants a positive count".into());
                        }
                    }
                    "--child" => fuzz.child = Some(number(name, opts.value(name, inline)?)?),
                    "--verbose" => {
                        Options::no_value(name, inline)?;
                        fuzz.verbose = true;
                    }
                    "--alone" => {
                        Options::no_value(name, inline)?;
                        fuzz.alone = true;
                    }
                    "--trace" => {
                        Options::no_value(name, inline)?;
                        fuzz.trace = true;
                    }
                    "--release" => {
                        Options::no_value(name, inline)?;
                        fuzz.release = true;
                    }
                    "--timeout" => {
                        let v = opts.value(name, inline)?;
                        let secs: f64 = v
                            .parse()
                            .ok()
                            .filter(|s: &f64| s.is_finite() && *s > 0.0)
                            .ok_or_else(|| {
                                format!("--timeout wants positive seconds, not `{v}`")
                            })?;
                        fuzz.timeout = Some(Duration::from_secs_f64(secs));
                    }
                    _ => return Err(format!("unknown option {name} for fuzz")),
                }
            }
            if opts.pos < opts.args.len() {
                return Err("fuzz takes no `--` arguments".into());
            }
            if fuzz.alone && fuzz.child.is_none() {
                return Err("--alone needs --child K".into());
            }
            Ok(Command::Fuzz(fuzz))
        }
        "soak" => crate::soak::parse(opts.args).map(Command::Soak),
        other => Err(format!("unknown command `{other}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn build_picks_the_default_board_of_the_arch() {
        let Command::Build(b) = parse(&args("build --arch aarch64 --release")).unwrap() else {
            panic!("not a build")
        };
        assert_eq!(b.board.name, "qemu-virt-aarch64");
        assert!(b.release);
        let Command::Build(b) = parse(&args("build --board=qemu-x86_64")).unwrap() else {
            panic!("not a build")
        };
        assert_eq!(b.board.arch, Arch::X86_64);
        assert!(!b.release);
    }

    #[test]
    fn board_and_arch_must_agree() {
        assert!(parse(&args("build --arch x86_64 --board qemu-virt-aarch64")).is_err());
        assert!(parse(&args("build --board nope")).is_err());
        assert!(parse(&args("build")).is_err());
        assert!(parse(&args("build --arch sparc")).is_err());
    }

    #[test]
    fn run_takes_everything_after_double_dash_as_init_args() {
        let a = args("run --arch x86_64 --init /bin/args --append X=1 --timeout 30 -- a b --c");
        let Command::Run(r) = parse(&a).unwrap() else {
            panic!("not a run")
        };
        assert_eq!(r.init.as_deref(), Some("/bin/args"));
        assert_eq!(r.append.as_deref(), Some("X=1"));
        assert_eq!(r.timeout, Some(Duration::from_secs(30)));
        assert_eq!(r.init_args, ["a", "b", "--c"]);
        assert_eq!(r.rootfs, Rootfs::Hello);
        assert!(!r.gdb);
    }

    #[test]
    fn run_options() {
        let a =
            args("run --arch=aarch64 --rootfs dir --cpu max --machine-opts gic-version=3 --gdb");
        let Command::Run(r) = parse(&a).unwrap() else {
            panic!("not a run")
        };
        assert_eq!(r.rootfs, Rootfs::Dir(PathBuf::from("dir")));
        assert_eq!(r.cpu.as_deref(), Some("max"));
        assert_eq!(r.machine_opts.as_deref(), Some("gic-version=3"));
        assert!(r.gdb);
        assert!(r.init_args.is_empty());
        assert!(parse(&args("run --arch x86_64 --rootfs a --initrd b")).is_err());
        assert!(parse(&args("run --arch x86_64 --timeout -1")).is_err());
        assert!(parse(&args("run --arch x86_64 --timeout")).is_err());
        assert!(parse(&args("run --arch x86_64 --gdb=yes")).is_err());
        assert!(parse(&args("run --arch x86_64 stray")).is_err());
    }

    #[test]
    fn test_arches() {
        let Command::Test(t) = parse(&args("test")).unwrap() else {
            panic!("not a test")
        };
        assert_eq!(t.arches, Arch::ALL);
        let Command::Test(t) = parse(&args("test --arch aarch64 --quick")).unwrap() else {
            panic!("not a test")
        };
        assert_eq!(t.arches, [Arch::Aarch64]);
        assert!(t.quick);
        let Command::Test(t) = parse(&args("test --arch all")).unwrap() else {
            panic!("not a test")
        };
        assert_eq!(t.arches.len(), 2);
        assert!(parse(&args("frobnicate")).is_err());
        let Command::Test(t) = parse(&args("test --board raspi3b")).unwrap() else {
            panic!("not a test")
        };
        assert_eq!(
            (t.arches.as_slice(), t.board.map(|b| b.name)),
            ([Arch::Aarch64].as_slice(), Some("raspi3b"))
        );
        assert!(parse(&args("test --arch x86_64 --board raspi4b")).is_err());
        assert!(parse(&args("test --board nope")).is_err());
        assert_eq!(parse(&args("boards")).unwrap(), Command::Boards);
        assert!(parse(&args("boards --all")).is_err());
        assert_eq!(parse(&args("setup")).unwrap(), Command::Setup);
        assert!(parse(&args("setup --now")).is_err());
        assert_eq!(parse(&[]).unwrap(), Command::Help);
    }

    #[test]
    fn busybox_commands() {
        let Command::Run(r) = parse(&args("run --arch aarch64 --busybox --kernel linux")).unwrap()
        else {
            panic!("not a run")
        };
        assert_eq!((r.rootfs, r.kernel), (Rootfs::Busybox, GuestKernel::Linux));
        assert!(parse(&args("run --arch x86_64 --busybox --rootfs d")).is_err());
        assert!(parse(&args("run --arch x86_64 --kernel bsd")).is_err());
        assert_eq!(
            parse(&args("rootfs busybox --arch arm64 --out /x")).unwrap(),
            Command::Rootfs {
                arch: Arch::Aarch64,
                out: Some(PathBuf::from("/x"))
            }
        );
        assert!(parse(&args("rootfs alpine --arch x86_64")).is_err());
        assert!(parse(&args("rootfs busybox")).is_err());
        assert_eq!(
            parse(&args(
                "busybox-testsuite --arch x86_64 --kernel linux --subset ci"
            ))
            .unwrap(),
            Command::BusyboxTestsuite(BusyboxArgs {
                arches: vec![Arch::X86_64],
                kernel: GuestKernel::Linux,
                subset: Subset::Ci
            })
        );
        let Command::BusyboxSession(b) = parse(&args("busybox-session")).unwrap() else {
            panic!("not a session")
        };
        assert_eq!((b.arches.len(), b.kernel), (2, GuestKernel::Cyphera));
        assert!(parse(&args("busybox-session --subset ci")).is_err());
    }

    #[test]
    fn bench_options() {
        assert_eq!(
            parse(&args("bench")).unwrap(),
            Command::Bench(BenchArgs {
                arches: Arch::ALL.to_vec(),
                icount: false,
                runs: None,
                json: None,
                quick: false
            })
        );
        assert_eq!(
            parse(&args(
                "bench --arch arm64 --icount --runs=5 --json /tmp/r.json --quick"
            ))
            .unwrap(),
            Command::Bench(BenchArgs {
                arches: vec![Arch::Aarch64],
                icount: true,
                runs: Some(5),
                json: Some(PathBuf::from("/tmp/r.json")),
                quick: true
            })
        );
        let Command::Bench(b) = parse(&args("bench --arch all")).unwrap() else {
            panic!("not a bench")
        };
        assert_eq!(b.arches.len(), 2);
        assert!(parse(&args("bench --runs 0")).is_err());
        assert!(parse(&args("bench --runs x")).is_err());
        assert!(parse(&args("bench --runs")).is_err());
        assert!(parse(&args("bench --icount=yes")).is_err());
        assert!(parse(&args("bench --arch mips")).is_err());
        assert!(parse(&args("bench --board qemu-pc")).is_err());
        assert!(parse(&args("bench -- quick")).is_err());
    }

    #[test]
    fn fuzz_options() {
        assert_eq!(
            parse(&args("fuzz --arch x86_64")).unwrap(),
            Command::Fuzz(FuzzArgs {
                arches: vec![Arch::X86_64],
                seed: crate::fuzz::CI_SEED,
                iterations: crate::fuzz::CI_ITERATIONS,
                child: None,
                alone: false,
                verbose: false,
                trace: false,
                release: false,
                timeout: None,
            })
        );
        assert_eq!(
            parse(&args(
                "fuzz --arch=aarch64 --seed 0x2a --iterations 5000 --child 17 --alone \
                 --verbose --trace --release --timeout 90"
            ))
            .unwrap(),
            Command::Fuzz(FuzzArgs {
                arches: vec![Arch::Aarch64],
                seed: 42,
                iterations: 5000,
                child: Some(17),
                alone: true,
                verbose: true,
                trace: true,
                release: true,
                timeout: Some(Duration::from_secs(90)),
            })
        );
        let Command::Fuzz(f) = parse(&args("fuzz")).unwrap() else {
            panic!("not a fuzz")
        };
        assert_eq!(f.arches, Arch::ALL);
        assert!(parse(&args("fuzz --seed x")).is_err());
        assert!(parse(&args("fuzz --seed -1")).is_err());
        assert!(parse(&args("fuzz --iterations 0")).is_err());
        assert!(parse(&args("fuzz --child")).is_err());
        assert!(parse(&args("fuzz --verbose=1")).is_err());
        assert!(parse(&args("fuzz --alone")).is_err());
        assert!(parse(&args("fuzz --timeout 0")).is_err());
        assert!(parse(&args("fuzz --board qemu-pc")).is_err());
        assert!(parse(&args("fuzz -- seed=1")).is_err());
    }
}
