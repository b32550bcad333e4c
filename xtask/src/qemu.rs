//! Booting a kernel in QEMU: the command line for a board, and a session that echoes the serial
//! console as it arrives while watching for the kernel's marker lines, so that xtask can end with
//! init's exit status. The console is a stdio chardev with signals off (Ctrl-C reaches the guest)
//! multiplexed with the monitor (Ctrl-A x still quits, Ctrl-A c opens the monitor).

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::arch::Board;
use crate::error::{Context, Result};

/// Everything that varies between QEMU runs of a board.
#[derive(Clone, Debug)]
pub struct QemuConfig<'a> {
    pub board: &'static Board,
    /// The file `-kernel` loads (ELF or flat Image, per the board).
    pub kernel: &'a Path,
    pub initrd: &'a Path,
    /// The device tree for `-dtb` (boards with [`crate::arch::Board::device_tree`]).
    pub dtb: Option<&'a Path>,
    pub cmdline: &'a str,
    pub cpu: Option<&'a str>,
    pub machine_opts: Option<&'a str>,
    pub accel: Option<&'a str>,
    /// Start halted with the gdb stub on tcp::1234 (`-s -S`).
    pub gdb: bool,
}

/// The QEMU command for `cfg` (without any stdio set-up).
pub fn command(cfg: &QemuConfig) -> Command {
    let board = cfg.board;
    let mut cmd = Command::new(board.arch.qemu_system());
    let machine = match cfg.machine_opts {
        Some(opts) if !opts.is_empty() => format!("{},{opts}", board.machine),
        _ => board.machine.to_string(),
    };
    cmd.args([
        "-machine",
        &machine,
        "-cpu",
        cfg.cpu.unwrap_or(board.default_cpu),
    ]);
    cmd.args(["-m", board.memory, "-display", "none"]);
    // The serial console on stdio: signal=off so that Ctrl-C goes to the guest rather than
    // killing QEMU; mux=on with the monitor on the same chardev so that Ctrl-A x still quits.
    cmd.args(["-chardev", "stdio,id=con0,signal=off,mux=on"]);
    for _ in 0..board.console_port {
        cmd.args(["-serial", "null"]);
    }
    cmd.args(["-serial", "chardev:con0"]);
    cmd.args(["-mon", "chardev=con0", "-no-reboot"]);
    cmd.args(board.qemu_args);
    if let Some(accel) = cfg.accel {
        cmd.args(["-accel", accel]);
    }
    if let Some(dtb) = cfg.dtb {
        cmd.arg("-dtb").arg(dtb);
    }
    cmd.arg("-kernel")
        .arg(cfg.kernel)
        .arg("-initrd")
        .arg(cfg.initrd)
        .arg("-append")
        .arg(cfg.cmdline);
    if cfg.gdb {
        cmd.args(["-s", "-S"]);
    }
    cmd
}

/// How the guest's run ended, as the kernel reported it on the console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `cyphera: init exited with status N`.
    Exited(u8),
    /// `cyphera: init killed by signal N (NAME)`.
    Killed(u32),
    /// `cyphera: kernel panic ...`.
    Panic,
    /// The timeout passed before any marker.
    Timeout,
    /// QEMU ended without a marker (its exit status, if it could be read).
    NoMarker(Option<ExitStatus>),
}

/// Exit statuses of `cargo xtask run` besides init's own.
pub const EXIT_PANIC: u8 = 70;
pub const EXIT_TIMEOUT: u8 = 124;
pub const EXIT_NO_MARKER: u8 = 125;

impl Outcome {
    /// The status `cargo xtask run` exits with: init's status, 128+N for signal N (like a shell),
    /// 70 for a kernel panic, 124 for a timeout (like timeout(1)), 125 if QEMU ended silently.
    pub fn exit_code(&self) -> u8 {
        match *self {
            Outcome::Exited(status) => status,
            Outcome::Killed(signal) => u8::try_from(128 + signal.min(127)).unwrap_or(u8::MAX),
            Outcome::Panic => EXIT_PANIC,
            Outcome::Timeout => EXIT_TIMEOUT,
            Outcome::NoMarker(_) => EXIT_NO_MARKER,
        }
    }
}

/// A marker line from the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    Exited(u8),
    Killed(u32),
    Panic,
}

/// The number at the start of `s`.
fn leading_number<T: std::str::FromStr>(s: &str) -> Option<T> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().ok()
}

/// Recognises the kernel's marker lines (anywhere in the line: a program may have left a partial
/// line before the kernel's message).
pub fn parse_marker(line: &str) -> Option<Marker> {
    if let Some(i) = line.find("cyphera: init exited with status ") {
        let rest = &line[i + "cyphera: init exited with status ".len()..];
        return leading_number(rest).map(Marker::Exited);
    }
    if let Some(i) = line.find("cyphera: init killed by signal ") {
        let rest = &line[i + "cyphera: init killed by signal ".len()..];
        return leading_number(rest).map(Marker::Killed);
    }
    if line.contains("cyphera: kernel panic") {
        return Some(Marker::Panic);
    }
    // reboot(2) (busybox poweroff, reboot, halt) ends the system cleanly: status 0.
    if [
        "cyphera: system power off",
        "cyphera: system restart",
        "cyphera: system halted",
    ]
    .iter()
    .any(|m| line.contains(m))
    {
        return Some(Marker::Exited(0));
    }
    None
}

/// What to do with the session's stdio.
pub struct Watch {
    /// Copy the console to our stdout as it arrives.
    pub echo: bool,
    /// Give QEMU our stdin (the user's terminal or pipe); otherwise /dev/null.
    pub forward_stdin: bool,
    /// Keep QEMU's stderr (for test transcripts) instead of passing it through.
    pub capture_stderr: bool,
    pub timeout: Option<Duration>,
}

/// How long the kernel has to power off after reporting init's end (a hang guard, generous so
/// that it never fires on a slow machine; nothing asserts how fast it is).
pub const POWER_OFF_GRACE: Duration = Duration::from_secs(30);

/// A finished QEMU run.
#[derive(Debug)]
pub struct Session {
    pub outcome: Outcome,
    /// The console, split into lines, carriage returns removed.
    pub console: Vec<String>,
    /// QEMU ended by itself after the marker (the kernel powered the machine off).
    pub powered_off: bool,
    /// QEMU's stderr, when captured.
    pub stderr: String,
}

impl Session {
    /// The console as text, for failure reports.
    pub fn transcript(&self) -> String {
        let mut s = self.console.join("\n");
        if !self.stderr.trim().is_empty() {
            s.push_str("\n--- QEMU stderr ---\n");
            s.push_str(self.stderr.trim_end());
        }
        s
    }
}

/// Splits console bytes into lines as they arrive.
#[derive(Default)]
struct Lines {
    partial: Vec<u8>,
    lines: Vec<String>,
}

impl Lines {
    /// Adds bytes; returns the index of the first new complete line.
    fn push(&mut self, bytes: &[u8]) -> usize {
        let first_new = self.lines.len();
        for &b in bytes {
            if b == b'\n' {
                let line = std::mem::take(&mut self.partial);
                self.lines.push(clean(&line));
            } else {
                self.partial.push(b);
            }
        }
        first_new
    }

    fn finish(mut self) -> Vec<String> {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.lines.push(clean(&line));
        }
        self.lines
    }
}

fn clean(line: &[u8]) -> String {
    String::from_utf8_lossy(line)
        .trim_end_matches('\r')
        .replace('\r', "")
}

/// Runs QEMU as `cmd` to the end: echoes and collects the console, stops at the timeout, and
/// after a marker waits (up to [`POWER_OFF_GRACE`]) for the kernel to power off.
pub fn run(mut cmd: Command, watch: &Watch) -> Result<Session> {
    cmd.stdout(Stdio::piped());
    cmd.stdin(if watch.forward_stdin {
        Stdio::inherit()
    } else {
        Stdio::null()
    });
    cmd.stderr(if watch.capture_stderr {
        Stdio::piped()
    } else {
        Stdio::inherit()
    });
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd.spawn().context(|| format!("cannot start {program}"))?;

    let mut stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let echo = watch.echo;
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if echo {
                        let mut out = std::io::stdout().lock();
                        let _ = out.write_all(&buf[..n]);
                        let _ = out.flush();
                    }
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let stderr_reader = child.stderr.take().map(|mut err| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = err.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    });

    let start = Instant::now();
    let mut lines = Lines::default();
    let mut marker: Option<Marker> = None;
    let mut panicked = false;
    let mut marker_at: Option<Instant> = None;
    let mut timed_out = false;
    let mut powered_off = false;
    loop {
        let deadline = match marker_at {
            Some(t) => Some(t + POWER_OFF_GRACE),
            None => watch.timeout.map(|t| start + t),
        };
        let received = match deadline {
            Some(d) => rx.recv_timeout(d.saturating_duration_since(Instant::now())),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(bytes) => {
                let first = lines.push(&bytes);
                for line in &lines.lines[first..] {
                    match parse_marker(line) {
                        Some(Marker::Panic) => panicked = true,
                        Some(m) if marker.is_none() => marker = Some(m),
                        _ => {}
                    }
                }
                if (marker.is_some() || panicked) && marker_at.is_none() {
                    marker_at = Some(Instant::now());
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                powered_off = marker_at.is_some();
                break;
            }
            Err(RecvTimeoutError::Timeout) => {
                timed_out = marker_at.is_none();
                stop(&mut child);
                break;
            }
        }
    }
    let status = child.wait().ok();
    let _ = reader.join();
    // Bytes the reader sent after we stopped listening (a marker in the very last chunk).
    for bytes in rx.try_iter() {
        lines.push(&bytes);
    }
    let console = lines.finish();
    for line in &console {
        match parse_marker(line) {
            Some(Marker::Panic) => panicked = true,
            Some(m) if marker.is_none() => marker = Some(m),
            _ => {}
        }
    }
    let stderr = stderr_reader
        .map(|h| h.join().unwrap_or_default())
        .unwrap_or_default();
    let outcome = match (panicked, marker) {
        (true, _) => Outcome::Panic,
        (false, Some(Marker::Exited(s))) => Outcome::Exited(s),
        (false, Some(Marker::Killed(s))) => Outcome::Killed(s),
        _ if timed_out => Outcome::Timeout,
        _ => Outcome::NoMarker(status),
    };
    Ok(Session {
        outcome,
        console,
        powered_off,
        stderr,
    })
}

/// Stops QEMU: SIGTERM first, so that it restores the terminal it put in raw mode, then SIGKILL
/// if it does not go.
fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{Arch, board};

    #[test]
    fn markers_are_recognised() {
        assert_eq!(
            parse_marker("cyphera: init exited with status 42"),
            Some(Marker::Exited(42))
        );
        assert_eq!(
            parse_marker("partial linecyphera: init exited with status 0"),
            Some(Marker::Exited(0))
        );
        assert_eq!(
            parse_marker("cyphera: init killed by signal 11 (SIGSEGV)"),
            Some(Marker::Killed(11))
        );
        assert_eq!(
            parse_marker("cyphera: kernel panic at src/x.rs:1:2: boom"),
            Some(Marker::Panic)
        );
        assert_eq!(
            parse_marker("cyphera: system power off"),
            Some(Marker::Exited(0))
        );
        assert_eq!(
            parse_marker("cyphera: pid 1 (init) killed by SIGSEGV: page fault at 0x0, pc 0x1"),
            None
        );
        assert_eq!(parse_marker("cyphera: init exited with status 999"), None);
        assert_eq!(parse_marker("Hello, world!"), None);
    }

    #[test]
    fn exit_codes_follow_the_shell_conventions() {
        assert_eq!(Outcome::Exited(42).exit_code(), 42);
        assert_eq!(Outcome::Killed(11).exit_code(), 139);
        assert_eq!(Outcome::Killed(7).exit_code(), 135);
        assert_eq!(Outcome::Panic.exit_code(), 70);
        assert_eq!(Outcome::Timeout.exit_code(), 124);
        assert_eq!(Outcome::NoMarker(None).exit_code(), 125);
        assert_eq!(Outcome::Killed(400).exit_code(), 255);
    }

    #[test]
    fn lines_are_split_across_chunks_without_carriage_returns() {
        let mut l = Lines::default();
        assert_eq!(l.push(b"Hel"), 0);
        assert!(l.lines.is_empty());
        assert_eq!(l.push(b"lo\r\nwor"), 0);
        assert_eq!(l.lines, ["Hello"]);
        assert_eq!(l.push(b"ld\n"), 1);
        l.push(b"tail");
        assert_eq!(l.finish(), ["Hello", "world", "tail"]);
    }

    fn args(cmd: &Command) -> Vec<String> {
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn x86_64_command_line() {
        let cfg = QemuConfig {
            board: board("qemu-x86_64").unwrap(),
            kernel: Path::new("/k"),
            initrd: Path::new("/i.cpio"),
            dtb: None,
            cmdline: "init=/x -- a",
            cpu: None,
            machine_opts: None,
            accel: None,
            gdb: false,
        };
        let cmd = command(&cfg);
        assert_eq!(cmd.get_program(), "qemu-system-x86_64");
        assert_eq!(
            args(&cmd).join(" "),
            "-machine q35 -cpu max -m 512M -display none \
             -chardev stdio,id=con0,signal=off,mux=on -serial chardev:con0 -mon chardev=con0 \
             -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
             -kernel /k -initrd /i.cpio -append init=/x -- a"
        );
    }

    #[test]
    fn aarch64_command_line_with_options() {
        let cfg = QemuConfig {
            board: Arch::Aarch64.default_board(),
            kernel: Path::new("/k.Image"),
            initrd: Path::new("/i"),
            dtb: None,
            cmdline: "",
            cpu: Some("max"),
            machine_opts: Some("gic-version=3"),
            accel: None,
            gdb: true,
        };
        let a = args(&command(&cfg));
        assert_eq!(command(&cfg).get_program(), "qemu-system-aarch64");
        assert_eq!(a[..4], ["-machine", "virt,gic-version=3", "-cpu", "max"]);
        assert!(a.windows(2).any(|w| w == ["-kernel", "/k.Image"]));
        assert!(a.windows(2).any(|w| w == ["-append", ""]));
        assert!(!a.iter().any(|x| x.contains("isa-debug-exit")));
        assert_eq!(a[a.len() - 2..], ["-s", "-S"]);
        let default_cpu = QemuConfig { cpu: None, ..cfg };
        assert!(
            args(&command(&default_cpu))
                .windows(2)
                .any(|w| w == ["-cpu", "cortex-a72"])
        );
    }

    #[test]
    fn raspberry_pi_command_lines() {
        let cfg = QemuConfig {
            board: board("raspi3b").unwrap(),
            kernel: Path::new("/k.Image"),
            initrd: Path::new("/i"),
            dtb: Some(Path::new("/d/bcm2837-rpi-3-b.dtb")),
            cmdline: "",
            cpu: None,
            machine_opts: None,
            accel: None,
            gdb: false,
        };
        let line = args(&command(&cfg)).join(" ");
        assert!(
            line.starts_with("-machine raspi3b -cpu cortex-a53 -m 1G -display none"),
            "{line}"
        );
        assert!(
            line.contains("-serial null -serial chardev:con0 "),
            "the mini UART is the second port: {line}"
        );
        assert!(
            line.contains(" -dtb /d/bcm2837-rpi-3-b.dtb -kernel /k.Image"),
            "{line}"
        );
        let pi4 = QemuConfig {
            board: board("raspi4b").unwrap(),
            ..cfg
        };
        let line = args(&command(&pi4)).join(" ");
        assert!(line.contains("-m 2G"), "{line}");
        assert!(
            !line.contains("-serial null"),
            "the PL011 is the first port: {line}"
        );
    }

    /// A stand-in for QEMU (a shell printing console lines) exercises the session logic: echo
    /// off, the marker found, the "power off" (exit) noticed.
    #[test]
    fn session_reads_markers_from_a_fake_qemu() {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "printf 'boot\\r\\nHello\\ncyphera: init exited with status 3\\r\\n'",
        ]);
        let watch = Watch {
            echo: false,
            forward_stdin: false,
            capture_stderr: true,
            timeout: None,
        };
        let s = run(cmd, &watch).unwrap();
        assert_eq!(s.outcome, Outcome::Exited(3));
        assert!(s.powered_off);
        assert_eq!(
            s.console,
            ["boot", "Hello", "cyphera: init exited with status 3"]
        );

        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo oops >&2; echo no marker"]);
        let s = run(cmd, &watch).unwrap();
        assert!(matches!(s.outcome, Outcome::NoMarker(Some(st)) if st.success()));
        assert_eq!(s.stderr, "oops\n");

        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo 'cyphera: init killed by signal 4 (SIGILL)'; echo 'cyphera: kernel panic at a:1:1: x'"]);
        assert_eq!(run(cmd, &watch).unwrap().outcome, Outcome::Panic);
    }

    #[test]
    fn session_times_out() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo started; exec sleep 30"]);
        let watch = Watch {
            echo: false,
            forward_stdin: false,
            capture_stderr: true,
            timeout: Some(Duration::from_millis(300)),
        };
        let s = run(cmd, &watch).unwrap();
        assert_eq!(s.outcome, Outcome::Timeout);
        assert!(!s.powered_off);
        assert_eq!(s.console, ["started"]);
    }
}
