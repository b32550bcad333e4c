//! The serial console as a terminal: received bytes go through the line discipline
//! ([`crate::tty::Tty`]) as they arrive (the run loop samples the UART, which has no receive
//! interrupt yet), so ^C reaches the foreground process group even when nobody reads; reads
//! take cooked or raw input from it, writes are output-processed (ONLCR), and the ioctls,
//! sessions and job control (SIGTTIN/SIGTTOU) follow Linux's tty_io.c and tty_jobctrl.c.

use crate::errno::{Errno, SysResult};
use crate::fd::wait::WaitQueue;
use crate::signal::{self, SigInfo};
use crate::task::{Kernel, Pid, ProcessState, Tid};
use crate::tty::{self, ReadOp, Tty};
use crate::vfs::Location;
use alloc::collections::BTreeMap;
use hal::arch::Arch;

/// How often the run loop looks at the UART when nothing else wakes it.
pub const SAMPLE_NS: u64 = 10_000_000;
/// The run loop looks at the UART at most this often: not on every trap, which would put a
/// device register read on every system call.
const MIN_SAMPLE_GAP_NS: u64 = 1_000_000;

/// The console terminal and the reads waiting on it.
#[derive(Default)]
pub struct ConsoleTty {
    pub tty: Tty,
    /// Reads in progress, kept across the parks of a blocking read (cleared when fresh).
    pub reads: BTreeMap<Tid, ReadOp>,
    /// Readers and pollers waiting for input.
    pub readers: WaitQueue,
    /// A received byte the line discipline had no room for: offered again first.
    held: Option<u8>,
    /// When the run loop next samples the UART.
    next_sample: u64,
}

/// The run loop's sampling: [`poll_input`] at most every [`MIN_SAMPLE_GAP_NS`] (reads of the
/// console sample it themselves).
pub fn sample_input<A: Arch>(k: &mut Kernel<A>, now: u64) {
    if now >= k.console_tty.next_sample {
        k.console_tty.next_sample = now + MIN_SAMPLE_GAP_NS;
        poll_input(k);
    }
}

const SI_KERNEL: i32 = 0x80;

/// Feeds what the UART received into the line discipline: echoes, signals, reader wakeups.
pub fn poll_input<A: Arch>(k: &mut Kernel<A>) {
    loop {
        if !k.console_tty.tty.can_receive() {
            break;
        }
        let Some(byte) = k.console_tty.held.take().or_else(|| k.console.read_byte()) else {
            break;
        };
        let fx = k.console_tty.tty.receive(byte);
        if !fx.accepted {
            k.console_tty.held = Some(byte);
            break;
        }
        if !fx.echo.is_empty() {
            k.console.write_bytes(&fx.echo);
        }
        if let Some(sig) = fx.signal
            && let Some(pgrp) = k.console_tty.tty.foreground
        {
            signal_group(k, pgrp, sig);
        }
        if fx.wake_readers {
            k.console_tty.readers.wake(crate::fd::poll::POLLIN);
        }
    }
}

/// Writes program output to the console through the terminal's output processing (ONLCR).
pub fn output<A: Arch>(k: &mut Kernel<A>, bytes: &[u8]) {
    let cooked = k.console_tty.tty.process_output(bytes);
    k.console.write_bytes(&cooked);
}

/// Sends `sig` from the kernel to every live process of group `pgrp`.
pub fn signal_group<A: Arch>(k: &mut Kernel<A>, pgrp: Pid, sig: u32) {
    let members: alloc::vec::Vec<Pid> = k
        .processes
        .values()
        .filter(|p| p.pgid == pgrp && !matches!(p.state, ProcessState::Zombie(_)))
        .map(|p| p.pid)
        .collect();
    for pid in members {
        k.send_to_process(pid, SigInfo::user(sig, SI_KERNEL, 0));
    }
}

/// Whether the caller's session has the console as its controlling terminal.
pub fn has_controlling_tty<A: Arch>(k: &Kernel<A>, tid: Tid) -> bool {
    k.console_tty.tty.session == Some(k.process_of(tid).sid)
}

/// An open of the serial tty by a session leader without a controlling terminal makes it
/// theirs (unless O_NOCTTY); /dev/console never does (Linux's tty_open).
pub fn opened<A: Arch>(k: &mut Kernel<A>, tid: Tid, loc: &Location, noctty: bool) {
    let rdev = loc.node.meta.borrow().rdev;
    if noctty || rdev != crate::vfs::devfs::console_rdev() {
        return;
    }
    let p = k.process_of(tid);
    let (pid, sid, pgid) = (p.pid, p.sid, p.pgid);
    if pid == sid && k.console_tty.tty.session.is_none() {
        k.console_tty.tty.session = Some(sid);
        k.console_tty.tty.foreground = Some(pgid);
    }
}

/// A session leader that exits hangs up its terminal (SIGHUP+SIGCONT to the foreground group)
/// and the terminal loses its session; setsid by the leader's members cannot take it back.
pub fn session_leader_exited<A: Arch>(k: &mut Kernel<A>, pid: Pid) {
    if k.console_tty.tty.session == Some(pid) {
        if let Some(pgrp) = k.console_tty.tty.foreground {
            signal_group(k, pgrp, signal::SIGHUP);
            signal_group(k, pgrp, signal::SIGCONT);
        }
        k.console_tty.tty.session = None;
        k.console_tty.tty.foreground = None;
    }
}

/// Job control for a read (`SIGTTIN`) or a write/termios change (`SIGTTOU`) by a process
/// whose controlling terminal this is but which is not in its foreground group: Linux's
/// __tty_check_change. Ok(()) lets the call go on; Err ends it (EIO, or a restart after the
/// signal stopped the group).
pub fn check_background<A: Arch>(k: &mut Kernel<A>, tid: Tid, sig: u32) -> Result<(), Outcome> {
    let p = k.process_of(tid);
    let (pgid, sid) = (p.pgid, p.sid);
    let tty = &k.console_tty.tty;
    if tty.session != Some(sid) || tty.foreground.is_none_or(|fg| fg == pgid) {
        return Ok(());
    }
    let t = &k.threads[&tid];
    let ignored = k.process_of(tid).actions[(sig - 1) as usize].handler == signal::SIG_IGN;
    let blocked = t.blocked.contains(sig);
    if ignored || blocked {
        // A write goes through when SIGTTOU is ignored or blocked; a read fails with EIO.
        return if sig == signal::SIGTTOU {
            Ok(())
        } else {
            Err(Outcome::Return(Errno::EIO.as_return()))
        };
    }
    if orphaned(k, pgid) {
        return Err(Outcome::Return(Errno::EIO.as_return()));
    }
    signal_group(k, pgid, sig);
    // -ERESTARTSYS: once the group is continued the call runs again.
    k.threads.get_mut(&tid).expect("thread").interrupted = Some(crate::task::Restart::IfSaRestart);
    Err(Outcome::Done)
}

use crate::syscall::Outcome;

/// POSIX's orphaned process group: no member has a parent in another group of the same
/// session.
fn orphaned<A: Arch>(k: &Kernel<A>, pgid: Pid) -> bool {
    !k.processes.values().any(|p| {
        p.pgid == pgid
            && !matches!(p.state, ProcessState::Zombie(_))
            && k.processes
                .get(&p.parent)
                .is_some_and(|parent| parent.pgid != pgid && parent.sid == p.sid)
    })
}

// ----- ioctls ------------------------------------------------------------------------------

const TIOCSCTTY: u32 = 0x540e;
const TIOCGPGRP: u32 = 0x540f;
const TIOCSPGRP: u32 = 0x5410;
const TIOCGWINSZ: u32 = 0x5413;
const TIOCSWINSZ: u32 = 0x5414;
const TIOCNOTTY: u32 = 0x5422;
const TIOCGSID: u32 = 0x5429;
const TIOCGSERIAL: u32 = 0x541e;
const TIOCOUTQ: u32 = 0x5411;
const TIOCINQ: u32 = 0x541b;
const TCFLSH: u32 = 0x540b;
const TCXONC: u32 = 0x540a;
const TCSBRK: u32 = 0x5409;
const TCSBRKP: u32 = 0x5425;
const TIOCGETD: u32 = 0x5424;
const TIOCSETD: u32 = 0x5423;
const TCGETS: u32 = 0x5401;
const TCGETS2: u32 = 0x802c_542a;
const TIOCGPTN: u32 = 0x8004_5430;

/// A terminal ioctl on the console; None: not a terminal request (the caller says ENOTTY).
pub fn ioctl<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    cmd: u32,
    arg: u64,
) -> Option<Result<SysResult, Outcome>> {
    Some(Ok(match cmd {
        TCGETS => {
            let bytes = k.console_tty.tty.termios().to_bytes();
            k.user(tid).write(arg, &bytes).map(|()| 0)
        }
        TCGETS2 => {
            let bytes = k.console_tty.tty.termios().to_bytes2();
            k.user(tid).write(arg, &bytes).map(|()| 0)
        }
        c if tty::SetAction::of_ioctl(c).is_some() => {
            let action = tty::SetAction::of_ioctl(c).expect("checked");
            if let Err(o) = check_background(k, tid, signal::SIGTTOU) {
                return Some(Err(o));
            }
            let two = matches!(c, tty::TCSETS2 | tty::TCSETSW2 | tty::TCSETSF2);
            let size = if two {
                tty::Termios::SIZE2
            } else {
                tty::Termios::SIZE
            };
            let mut raw = alloc::vec![0u8; size];
            if let Err(e) = k.user(tid).read(arg, &mut raw) {
                return Some(Ok(Err(e)));
            }
            let current = *k.console_tty.tty.termios();
            let new = if two {
                tty::Termios::from_bytes2(&raw)
            } else {
                tty::Termios::from_bytes(&raw, &current)
            };
            match new {
                Some(t) => {
                    k.console_tty.tty.set_termios(t, action);
                    k.console_tty.readers.wake(crate::fd::poll::POLLIN);
                    Ok(0)
                }
                None => Err(Errno::EINVAL),
            }
        }
        TIOCGWINSZ => {
            let bytes = k.console_tty.tty.winsize().to_bytes();
            k.user(tid).write(arg, &bytes).map(|()| 0)
        }
        TIOCSWINSZ => {
            let raw = match k.user(tid).read_array::<{ tty::WinSize::SIZE }>(arg) {
                Ok(r) => r,
                Err(e) => return Some(Ok(Err(e))),
            };
            let ws = tty::WinSize::from_bytes(&raw).expect("exact size");
            if k.console_tty.tty.set_winsize(ws)
                && let Some(pg) = k.console_tty.tty.foreground
            {
                signal_group(k, pg, signal::SIGWINCH);
            }
            Ok(0)
        }
        TIOCGPGRP => {
            if !has_controlling_tty(k, tid) {
                Err(Errno::ENOTTY)
            } else {
                // No foreground group (after a hangup) reads as a pid no group has.
                let pg = k.console_tty.tty.foreground.unwrap_or(0x7fff_ffff);
                k.user(tid).write_u32(arg, pg).map(|()| 0)
            }
        }
        TIOCSPGRP => {
            if let Err(o) = check_background(k, tid, signal::SIGTTOU) {
                return Some(Err(o));
            }
            let pg = match k.user(tid).read_u32(arg) {
                Ok(v) => v as i32,
                Err(e) => return Some(Ok(Err(e))),
            };
            let sid = k.process_of(tid).sid;
            if !has_controlling_tty(k, tid) {
                Err(Errno::ENOTTY)
            } else if pg < 0 {
                Err(Errno::EINVAL)
            } else if !k
                .processes
                .values()
                .any(|p| p.pgid == pg as u32 && !matches!(p.state, ProcessState::Zombie(_)))
            {
                Err(Errno::ESRCH)
            } else if !k
                .processes
                .values()
                .any(|p| p.pgid == pg as u32 && p.sid == sid)
            {
                Err(Errno::EPERM)
            } else {
                k.console_tty.tty.foreground = Some(pg as u32);
                Ok(0)
            }
        }
        TIOCGSID => {
            if !has_controlling_tty(k, tid) {
                Err(Errno::ENOTTY)
            } else {
                let sid = k.console_tty.tty.session.unwrap_or(0);
                k.user(tid).write_u32(arg, sid).map(|()| 0)
            }
        }
        TIOCSCTTY => {
            let p = k.process_of(tid);
            let (pid, sid, pgid) = (p.pid, p.sid, p.pgid);
            if k.console_tty.tty.session == Some(sid) {
                Ok(0)
            } else if pid != sid {
                Err(Errno::EPERM)
            } else if k.console_tty.tty.session.is_some() && arg != 1 {
                // Stealing another session's terminal needs arg 1 (and CAP_SYS_ADMIN: root).
                Err(Errno::EPERM)
            } else {
                k.console_tty.tty.session = Some(sid);
                k.console_tty.tty.foreground = Some(pgid);
                Ok(0)
            }
        }
        TIOCNOTTY => {
            if !has_controlling_tty(k, tid) {
                Err(Errno::ENOTTY)
            } else {
                let p = k.process_of(tid);
                if p.pid == p.sid {
                    let pid = p.pid;
                    session_leader_exited(k, pid);
                }
                Ok(0)
            }
        }
        TIOCINQ => {
            let n = k.console_tty.tty.inq();
            k.user(tid).write_u32(arg, n).map(|()| 0)
        }
        TIOCOUTQ => k.user(tid).write_u32(arg, 0).map(|()| 0),
        TCFLSH => k.console_tty.tty.flush(arg as u32).map(|_| 0),
        TCXONC => match k.console_tty.tty.tcxonc(arg as u32) {
            Ok((_, Some(byte))) => {
                k.console.write_bytes(&[byte]);
                Ok(0)
            }
            Ok(_) => Ok(0),
            Err(e) => Err(e),
        },
        // The UART sends every byte before write() returns: draining is already done.
        TCSBRK | TCSBRKP => Ok(0),
        TIOCGETD => k.user(tid).write_u32(arg, 0).map(|()| 0),
        TIOCSETD => Ok(0),
        TIOCGSERIAL => {
            // struct serial_struct (72 bytes): type PORT_16550A, line 0, the rest zero; what
            // busybox's cttyhack asks to find the console's tty name (ttyS<line>).
            let mut raw = [0u8; 72];
            raw[0..4].copy_from_slice(&4u32.to_le_bytes());
            k.user(tid).write(arg, &raw).map(|()| 0)
        }
        TIOCGPTN => Err(Errno::ENOTTY),
        _ => return None,
    }))
}
