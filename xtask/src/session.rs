//! An expect-style driver for a guest's serial console: QEMU is spawned with its stdin and stdout
//! piped (the console on a stdio chardev with `signal=off`, so a ^C byte reaches the guest's tty
//! instead of stopping QEMU), the test waits for text with a timeout, sends bytes — control
//! characters included — and keeps the whole transcript for the failure report.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::build;
use crate::error::{Context, Error, Result};

/// Control characters as a terminal sends them.
pub const CTRL_C: u8 = 0x03;
pub const CTRL_D: u8 = 0x04;
pub const CTRL_Z: u8 = 0x1a;

/// Strips what a terminal would interpret rather than show: carriage returns, ANSI escape
/// sequences (busybox's line editor asks for the cursor position with `ESC [ 6 n` before every
/// prompt) and other C0 controls except newline and tab. Bytes above ASCII become `?`, so the
/// text is ASCII and its offsets are byte offsets. Keeps its state between chunks, since a
/// sequence may be split across reads.
#[derive(Default)]
struct Cleaner {
    state: EscState,
}

#[derive(Default, Clone, Copy, PartialEq)]
enum EscState {
    #[default]
    Text,
    /// After ESC.
    Esc,
    /// Inside a CSI sequence (ESC [ ... final byte 0x40..=0x7e).
    Csi,
}

impl Cleaner {
    fn push(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        for &b in bytes {
            self.state = match (self.state, b) {
                (EscState::Text, 0x1b) => EscState::Esc,
                (EscState::Text, b'\n' | b'\t') => {
                    out.push(b);
                    EscState::Text
                }
                (EscState::Text, b) if b < 0x20 || b == 0x7f => EscState::Text,
                (EscState::Text, 0x80..) => {
                    out.push(b'?');
                    EscState::Text
                }
                (EscState::Text, b) => {
                    out.push(b);
                    EscState::Text
                }
                (EscState::Esc, b'[') => EscState::Csi,
                // A two-byte escape (ESC 7, ESC c, ...).
                (EscState::Esc, _) => EscState::Text,
                (EscState::Csi, 0x40..=0x7e) => EscState::Text,
                (EscState::Csi, _) => EscState::Csi,
            };
        }
    }
}

/// A running guest with its console.
pub struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<Vec<u8>>,
    reader: Option<std::thread::JoinHandle<()>>,
    cleaner: Cleaner,
    /// The cleaned console text so far.
    text: Vec<u8>,
    /// How far [`Session::expect`] has consumed `text`.
    pos: usize,
    /// QEMU's output ended (it exited or closed stdout).
    eof: bool,
    /// Copy the console to our stdout as it arrives.
    echo: bool,
    /// What was run, for reports.
    command: String,
}

impl Session {
    /// Starts `cmd` with piped stdin and stdout; stderr goes to the console text as well (QEMU's
    /// own complaints belong in the transcript).
    pub fn spawn(mut cmd: Command) -> Result<Session> {
        let command = build::describe(&cmd);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().context(|| format!("cannot start {command}"))?;
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let err_tx = tx.clone();
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = stderr.read_to_end(&mut s);
            if !s.is_empty() {
                let mut msg = b"\n[QEMU stderr] ".to_vec();
                msg.extend_from_slice(&s);
                let _ = err_tx.send(msg);
            }
        });
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match stdout.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Ok(Session {
            child,
            stdin,
            rx,
            reader: Some(reader),
            cleaner: Cleaner::default(),
            text: Vec::new(),
            pos: 0,
            eof: false,
            echo: false,
            command,
        })
    }

    /// Shows the console on our stdout as it arrives (for long runs watched by a person).
    pub fn set_echo(&mut self, echo: bool) {
        self.echo = echo;
    }

    /// Takes what has arrived, waiting at most `wait` for the first chunk. False at the end of
    /// the output.
    fn pump(&mut self, wait: Duration) -> bool {
        let first = match self.rx.recv_timeout(wait) {
            Ok(bytes) => bytes,
            Err(RecvTimeoutError::Timeout) => return true,
            Err(RecvTimeoutError::Disconnected) => {
                self.eof = true;
                return false;
            }
        };
        self.take(&first);
        while let Ok(bytes) = self.rx.try_recv() {
            self.take(&bytes);
        }
        true
    }

    fn take(&mut self, bytes: &[u8]) {
        if self.echo {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(bytes);
            let _ = out.flush();
        }
        self.cleaner.push(bytes, &mut self.text);
    }

    /// Sends raw bytes to the console.
    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| Error::new("the console input is closed"))?;
        stdin
            .write_all(bytes)
            .and_then(|()| stdin.flush())
            .map_err(|e| self.failure(&format!("writing to the console: {e}")))
    }

    /// Sends a line of input (a command and Enter).
    pub fn send_line(&mut self, line: &str) -> Result<()> {
        self.send(format!("{line}\n").as_bytes())
    }

    /// Waits until the unconsumed console text contains `needle`; returns the text before it and
    /// consumes through it.
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        self.expect_with(timeout, &format!("{needle:?}"), |text| {
            text.find(needle).map(|i| (i, i + needle.len()))
        })
    }

    /// Waits until `find` locates something in the unconsumed text (as the byte range it
    /// occupies); returns the text before it and consumes through its end. `what` describes it
    /// for the error.
    pub fn expect_with(
        &mut self,
        timeout: Duration,
        what: &str,
        find: impl Fn(&str) -> Option<(usize, usize)>,
    ) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            // The cleaned text is ASCII, so string offsets are offsets into `text`.
            let rest = String::from_utf8_lossy(&self.text[self.pos..]).into_owned();
            if let Some((start, end)) = find(&rest) {
                self.pos += end;
                return Ok(rest[..start].to_string());
            }
            if self.eof {
                let how = self.exit_description();
                return Err(self.failure(&format!("QEMU ended while waiting for {what} ({how})")));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(
                    self.failure(&format!("timed out after {timeout:?} waiting for {what}"))
                );
            }
            self.pump((deadline - now).min(Duration::from_millis(200)));
        }
    }

    /// Collects output for `duration` (to let a command's echo arrive, or check for silence).
    pub fn settle(&mut self, duration: Duration) {
        let deadline = Instant::now() + duration;
        while !self.eof {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            self.pump(deadline - now);
        }
    }

    fn exit_description(&mut self) -> String {
        match self.child.try_wait() {
            Ok(Some(status)) => format!("exit status {status}"),
            _ => "output closed".into(),
        }
    }

    /// Waits for QEMU to exit by itself (the guest powered off); collects the rest of the
    /// console.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        // Closing stdin is what a user's terminal does not do; keep it open so that the guest
        // does not see an end of input while shutting down.
        let deadline = Instant::now() + timeout;
        loop {
            if !self.eof {
                self.pump(Duration::from_millis(100));
            }
            if let Some(status) = self.child.try_wait()? {
                while self.pump(Duration::from_millis(50)) && !self.eof {}
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(self.failure(&format!(
                    "QEMU did not exit within {timeout:?} (the guest did not power off)"
                )));
            }
            if self.eof {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// The whole console text so far (escape sequences and carriage returns removed).
    pub fn transcript(&self) -> String {
        String::from_utf8_lossy(&self.text).into_owned()
    }

    /// The last `n` lines of the transcript.
    pub fn tail(&self, n: usize) -> String {
        let text = self.transcript();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// An error with `what` and the end of the transcript.
    pub fn failure(&self, what: &str) -> Error {
        Error::new(format!(
            "{what}\n(command: {})\n--- last 40 lines of the console ---\n{}",
            self.command,
            self.tail(40)
        ))
    }

    /// Stops QEMU if it still runs.
    pub fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        self.stdin = None;
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(chunks: &[&[u8]]) -> String {
        let mut c = Cleaner::default();
        let mut out = Vec::new();
        for chunk in chunks {
            c.push(chunk, &mut out);
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escape_sequences_and_carriage_returns_are_removed_across_chunks() {
        assert_eq!(clean(&[b"/ # \x1b[6nls\r\n"]), "/ # ls\n");
        assert_eq!(clean(&[b"a\x1b", b"[1", b"2;3Hb\x07\tc"]), "ab\tc");
        assert_eq!(clean(&[b"x\x1b7y"]), "xy");
        assert_eq!(clean(&["é".as_bytes()]), "??");
    }

    /// A shell stands in for QEMU: it echoes what it reads, like a guest's tty.
    #[test]
    fn expect_send_and_exit_with_a_fake_guest() {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "printf 'boot\\r\\n$ '; read line; echo \"got:$line\"; \
             printf '\\033[6n$ '; read line; echo \"byte:$(printf '%s' \"$line\" | od -An -tx1)\"",
        ]);
        let mut s = Session::spawn(cmd).unwrap();
        let before = s.expect("$ ", Duration::from_secs(10)).unwrap();
        assert_eq!(before, "boot\n");
        s.send_line("hello").unwrap();
        s.expect("got:hello\n", Duration::from_secs(10)).unwrap();
        s.expect("$ ", Duration::from_secs(10)).unwrap();
        s.send(&[CTRL_C, b'\n']).unwrap();
        s.expect("byte: 03", Duration::from_secs(10)).unwrap();
        assert!(s.wait_exit(Duration::from_secs(10)).unwrap().success());
        assert!(s.transcript().ends_with("byte: 03\n"));
    }

    #[test]
    fn a_missing_prompt_times_out_with_the_transcript() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo started; exec sleep 30"]);
        let mut s = Session::spawn(cmd).unwrap();
        let err = s
            .expect("never", Duration::from_millis(300))
            .unwrap_err()
            .to_string();
        assert!(err.contains("timed out"), "{err}");
        assert!(err.contains("started"), "{err}");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo bye"]);
        let mut s = Session::spawn(cmd).unwrap();
        let err = s
            .expect("never", Duration::from_secs(10))
            .unwrap_err()
            .to_string();
        assert!(err.contains("QEMU ended"), "{err}");
    }
}
