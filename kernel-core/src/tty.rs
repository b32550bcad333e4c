//! The terminal line discipline (Linux's n_tty plus the tty side of tty_ioctl) as pure logic:
//! bytes from the device go in through [`Tty::receive`], which says what to echo, which signal
//! the foreground process group gets and whether readers wake; reads, polls, output processing,
//! termios/winsize and flushing are methods. No locks, no clock, no processes: the caller (the
//! console driver glue, the ioctl syscall, job control) owns those and acts on the returned
//! effects.
//!
//! Everything follows drivers/tty/n_tty.c, tty_ioctl.c and tty_jobctrl.c; where a choice looks
//! odd (a literal ^J echoed as "^J" in non-canonical mode, EOF markers turning into NUL bytes when
//! a completed canonical line is read in raw mode) it is because Linux does it that way.
//!
//! # Job-control rules the caller must apply (Linux tty_jobctrl.c / tty_io.c)
//!
//! "Check change(SIG)" below is Linux's `__tty_check_change`: it applies only when this tty is the
//! caller's controlling tty and `foreground` is Some; then, if the caller's process group is not
//! the foreground group:
//!   - SIG blocked or ignored by the caller: for SIGTTIN fail with EIO; for SIGTTOU allow it;
//!   - else, the caller's process group orphaned: fail with EIO;
//!   - else send SIG to the caller's whole process group and fail with ERESTARTSYS (the call is
//!     restarted once the group is continued).
//!
//! - read(): check change(SIGTTIN) before reading.
//! - write(): check change(SIGTTOU) only when `c_lflag & TOSTOP`.
//! - TCSETS/TCSETSW/TCSETSF (and the termios2 variants), TCFLSH, TCXONC, TCSBRK, TCSBRKP,
//!   TIOCSBRK, TIOCCBRK, TIOCSPGRP: check change(SIGTTOU) always. TCGETS, TIOCGWINSZ,
//!   TIOCSWINSZ, FIONREAD: no check.
//! - TCSETSW/TCSETSF (and TCSBRK, TCSBRKP, TIOCSBRK): wait until queued output is sent first
//!   (tcdrain; TCSBRK with a non-zero argument is exactly that wait and nothing else).
//! - TIOCGPGRP: ENOTTY unless this is the caller's controlling tty; returns `foreground`, or 0
//!   when there is none.
//! - TIOCGSID: ENOTTY unless this is the caller's controlling tty; ENOTTY when `session` is None.
//! - TIOCSPGRP(pgrp): check change (an EIO from it becomes ENOTTY); pgrp < 0: EINVAL; ENOTTY
//!   unless this is the caller's controlling tty and `session` is the caller's session; ESRCH if
//!   no process group `pgrp` exists; EPERM if it is in another session; then `foreground = pgrp`.
//! - TIOCSCTTY(arg): if the caller leads the session that already owns this tty: success, no-op.
//!   Else EPERM unless the caller is a session leader without a controlling tty; if `session` is
//!   Some (another session's tty): steal it only when arg == 1 and the caller has CAP_SYS_ADMIN
//!   (clearing the old session's controlling tty), else EPERM; EPERM if the file was not opened
//!   for reading (without CAP_SYS_ADMIN). Then `session` = caller's session, `foreground` =
//!   caller's process group, and the caller's controlling tty is this one.
//! - TIOCNOTTY: ENOTTY unless this is the caller's controlling tty. A session leader: SIGHUP then
//!   SIGCONT to `foreground`, `session = foreground = None`, and every process of the session
//!   loses its controlling tty. Anyone else: only the caller loses it.
//! - open() without O_NOCTTY by a session leader with no controlling tty, of a tty whose
//!   `session` is None, opened for reading: it becomes the controlling tty as with TIOCSCTTY.
//!   Never for /dev/console or /dev/tty (Linux treats those as O_NOCTTY).
//! - A session leader exiting with this controlling tty: SIGHUP (and SIGCONT) to the foreground
//!   group and the session leader, `session = foreground = None` (Linux hangs the tty up).
//! - TIOCSWINSZ: when [`Tty::set_winsize`] returns true, SIGWINCH to `foreground`.
//! - [`InputEffects::signal`]: send to every process of `foreground` (ISIG characters, BRKINT).

use crate::errno::Errno;
use crate::signal::{SIGINT, SIGQUIT, SIGTSTP};
use alloc::vec;
use alloc::vec::Vec;

// ---------------------------------------------------------------------------------------------
// ioctl numbers (asm-generic/ioctls.h; x86_64 and arm64 both use the generic file)

pub const TCGETS: u32 = 0x5401;
pub const TCSETS: u32 = 0x5402;
pub const TCSETSW: u32 = 0x5403;
pub const TCSETSF: u32 = 0x5404;
pub const TCGETA: u32 = 0x5405;
pub const TCSETA: u32 = 0x5406;
pub const TCSETAW: u32 = 0x5407;
pub const TCSETAF: u32 = 0x5408;
pub const TCSBRK: u32 = 0x5409;
pub const TCXONC: u32 = 0x540A;
pub const TCFLSH: u32 = 0x540B;
pub const TIOCEXCL: u32 = 0x540C;
pub const TIOCNXCL: u32 = 0x540D;
pub const TIOCSCTTY: u32 = 0x540E;
pub const TIOCGPGRP: u32 = 0x540F;
pub const TIOCSPGRP: u32 = 0x5410;
pub const TIOCOUTQ: u32 = 0x5411;
pub const TIOCSTI: u32 = 0x5412;
pub const TIOCGWINSZ: u32 = 0x5413;
pub const TIOCSWINSZ: u32 = 0x5414;
pub const TIOCMGET: u32 = 0x5415;
pub const TIOCMBIS: u32 = 0x5416;
pub const TIOCMBIC: u32 = 0x5417;
pub const TIOCMSET: u32 = 0x5418;
pub const TIOCGSOFTCAR: u32 = 0x5419;
pub const TIOCSSOFTCAR: u32 = 0x541A;
pub const FIONREAD: u32 = 0x541B;
pub const TIOCINQ: u32 = FIONREAD;
pub const TIOCLINUX: u32 = 0x541C;
pub const TIOCCONS: u32 = 0x541D;
pub const TIOCGSERIAL: u32 = 0x541E;
pub const TIOCSSERIAL: u32 = 0x541F;
pub const TIOCPKT: u32 = 0x5420;
pub const FIONBIO: u32 = 0x5421;
pub const TIOCNOTTY: u32 = 0x5422;
pub const TIOCSETD: u32 = 0x5423;
pub const TIOCGETD: u32 = 0x5424;
pub const TCSBRKP: u32 = 0x5425;
pub const TIOCSBRK: u32 = 0x5427;
pub const TIOCCBRK: u32 = 0x5428;
pub const TIOCGSID: u32 = 0x5429;
/// `_IOR('T', 0x2A, struct termios2)`: direction 2 << 30, size 44 << 16.
pub const TCGETS2: u32 = 0x802C_542A;
/// `_IOW('T', 0x2B, struct termios2)`.
pub const TCSETS2: u32 = 0x402C_542B;
pub const TCSETSW2: u32 = 0x402C_542C;
pub const TCSETSF2: u32 = 0x402C_542D;
pub const TIOCVHANGUP: u32 = 0x5437;
pub const FIONCLEX: u32 = 0x5450;
pub const FIOCLEX: u32 = 0x5451;
pub const FIOASYNC: u32 = 0x5452;

/// TCFLSH arguments.
pub const TCIFLUSH: u32 = 0;
pub const TCOFLUSH: u32 = 1;
pub const TCIOFLUSH: u32 = 2;
/// TCXONC arguments.
pub const TCOOFF: u32 = 0;
pub const TCOON: u32 = 1;
pub const TCIOFF: u32 = 2;
pub const TCION: u32 = 3;
/// The line discipline number in `c_line` (the only one there is here).
pub const N_TTY: u8 = 0;

// ---------------------------------------------------------------------------------------------
// termios bits (asm-generic/termbits.h, termbits-common.h)

pub const NCCS: usize = 19;
pub const VINTR: usize = 0;
pub const VQUIT: usize = 1;
pub const VERASE: usize = 2;
pub const VKILL: usize = 3;
pub const VEOF: usize = 4;
pub const VTIME: usize = 5;
pub const VMIN: usize = 6;
pub const VSWTC: usize = 7;
pub const VSTART: usize = 8;
pub const VSTOP: usize = 9;
pub const VSUSP: usize = 10;
pub const VEOL: usize = 11;
pub const VREPRINT: usize = 12;
pub const VDISCARD: usize = 13;
pub const VWERASE: usize = 14;
pub const VLNEXT: usize = 15;
pub const VEOL2: usize = 16;
/// A `c_cc` entry holding this is disabled (`_POSIX_VDISABLE`); a received NUL is never special.
pub const DISABLED_CHAR: u8 = 0;

pub const IGNBRK: u32 = 0x001;
pub const BRKINT: u32 = 0x002;
pub const IGNPAR: u32 = 0x004;
pub const PARMRK: u32 = 0x008;
pub const INPCK: u32 = 0x010;
pub const ISTRIP: u32 = 0x020;
pub const INLCR: u32 = 0x040;
pub const IGNCR: u32 = 0x080;
pub const ICRNL: u32 = 0x100;
pub const IUCLC: u32 = 0x200;
pub const IXON: u32 = 0x400;
pub const IXANY: u32 = 0x800;
pub const IXOFF: u32 = 0x1000;
pub const IMAXBEL: u32 = 0x2000;
pub const IUTF8: u32 = 0x4000;

pub const OPOST: u32 = 0x01;
pub const OLCUC: u32 = 0x02;
pub const ONLCR: u32 = 0x04;
pub const OCRNL: u32 = 0x08;
pub const ONOCR: u32 = 0x10;
pub const ONLRET: u32 = 0x20;
pub const OFILL: u32 = 0x40;
pub const OFDEL: u32 = 0x80;
pub const NLDLY: u32 = 0x100;
pub const CRDLY: u32 = 0x600;
pub const TABDLY: u32 = 0x1800;
pub const XTABS: u32 = 0x1800;
pub const BSDLY: u32 = 0x2000;
pub const VTDLY: u32 = 0x4000;
pub const FFDLY: u32 = 0x8000;

pub const CBAUD: u32 = 0x100f;
pub const B0: u32 = 0x0;
pub const B9600: u32 = 0xd;
pub const B38400: u32 = 0xf;
pub const B115200: u32 = 0x1002;
pub const BOTHER: u32 = 0x1000;
pub const CBAUDEX: u32 = 0x1000;
pub const CSIZE: u32 = 0x30;
pub const CS5: u32 = 0x00;
pub const CS6: u32 = 0x10;
pub const CS7: u32 = 0x20;
pub const CS8: u32 = 0x30;
pub const CSTOPB: u32 = 0x40;
pub const CREAD: u32 = 0x80;
pub const PARENB: u32 = 0x100;
pub const PARODD: u32 = 0x200;
pub const HUPCL: u32 = 0x400;
pub const CLOCAL: u32 = 0x800;
pub const CIBAUD: u32 = 0x100f_0000;
pub const IBSHIFT: u32 = 16;
pub const CMSPAR: u32 = 0x4000_0000;
pub const CRTSCTS: u32 = 0x8000_0000;

pub const ISIG: u32 = 0x00001;
pub const ICANON: u32 = 0x00002;
pub const XCASE: u32 = 0x00004;
pub const ECHO: u32 = 0x00008;
pub const ECHOE: u32 = 0x00010;
pub const ECHOK: u32 = 0x00020;
pub const ECHONL: u32 = 0x00040;
pub const NOFLSH: u32 = 0x00080;
pub const TOSTOP: u32 = 0x00100;
pub const ECHOCTL: u32 = 0x00200;
pub const ECHOPRT: u32 = 0x00400;
pub const ECHOKE: u32 = 0x00800;
pub const FLUSHO: u32 = 0x01000;
pub const PENDIN: u32 = 0x04000;
pub const IEXTEN: u32 = 0x08000;
pub const EXTPROC: u32 = 0x10000;

/// Linux's INIT_C_CC: intr=^C quit=^\ erase=DEL kill=^U eof=^D vtime=0 vmin=1 swtc=0 start=^Q
/// stop=^S susp=^Z eol=0 reprint=^R discard=^O werase=^W lnext=^V eol2=0.
pub const INIT_C_CC: [u8; NCCS] = [
    0o003, 0o034, 0o177, 0o025, 0o004, 0, 1, 0, 0o021, 0o023, 0o032, 0, 0o022, 0o017, 0o027, 0o026,
    0, 0, 0,
];

/// Linux's baud_table: CBAUD values 0..=15, then CBAUDEX|1..=15 at 16..=30.
const BAUD_TABLE: [u32; 31] = [
    0, 50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600,
    115200, 230400, 460800, 500000, 576000, 921600, 1000000, 1152000, 1500000, 2000000, 2500000,
    3000000, 3500000, 4000000,
];

/// Read buffer size (N_TTY_BUF_SIZE); a power of two so indices can wrap freely.
pub const N_TTY_BUF_SIZE: usize = 4096;
const MASK: usize = N_TTY_BUF_SIZE - 1;
/// VTIME counts tenths of a second.
const VTIME_UNIT_NS: u64 = 100_000_000;

// ---------------------------------------------------------------------------------------------
// termios and winsize

/// The kernel's termios (`struct ktermios`): `struct termios` (TCGETS, 36 bytes) plus the two
/// speeds that `struct termios2` (TCGETS2, 44 bytes) adds. Same layout on x86_64 and arm64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Termios {
    pub c_iflag: u32,
    pub c_oflag: u32,
    pub c_cflag: u32,
    pub c_lflag: u32,
    pub c_line: u8,
    pub c_cc: [u8; NCCS],
    pub c_ispeed: u32,
    pub c_ospeed: u32,
}

impl Default for Termios {
    /// Linux's tty_std_termios, what a tty starts with.
    fn default() -> Self {
        Termios {
            c_iflag: ICRNL | IXON,
            c_oflag: OPOST | ONLCR,
            c_cflag: B38400 | CS8 | CREAD | HUPCL,
            c_lflag: ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN,
            c_line: N_TTY,
            c_cc: INIT_C_CC,
            c_ispeed: 38400,
            c_ospeed: 38400,
        }
    }
}

impl Termios {
    /// sizeof(struct termios): four u32, c_line, c_cc[19]; no padding.
    pub const SIZE: usize = 36;
    /// sizeof(struct termios2): the above plus c_ispeed, c_ospeed (offset 36 is 4-aligned).
    pub const SIZE2: usize = 44;

    /// The TCGETS bytes.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&self.c_iflag.to_le_bytes());
        b[4..8].copy_from_slice(&self.c_oflag.to_le_bytes());
        b[8..12].copy_from_slice(&self.c_cflag.to_le_bytes());
        b[12..16].copy_from_slice(&self.c_lflag.to_le_bytes());
        b[16] = self.c_line;
        b[17..36].copy_from_slice(&self.c_cc);
        b
    }

    /// The TCGETS2 bytes.
    pub fn to_bytes2(&self) -> [u8; Self::SIZE2] {
        let mut b = [0u8; Self::SIZE2];
        b[..Self::SIZE].copy_from_slice(&self.to_bytes());
        b[36..40].copy_from_slice(&self.c_ispeed.to_le_bytes());
        b[40..44].copy_from_slice(&self.c_ospeed.to_le_bytes());
        b
    }

    /// Decodes the argument of TCSETS/TCSETSW/TCSETSF. Like Linux's set_termios the speeds start
    /// from `current` (the struct has none) and are then derived from CBAUD/CIBAUD. None when
    /// `bytes` is too short (the caller's copy from user memory failed: EFAULT).
    pub fn from_bytes(bytes: &[u8], current: &Termios) -> Option<Termios> {
        let b = bytes.get(..Self::SIZE)?;
        let mut t = *current;
        t.decode_common(b);
        t.recompute_speeds();
        Some(t)
    }

    /// Decodes the argument of TCSETS2/TCSETSW2/TCSETSF2 (speeds given, used when CBAUD is
    /// BOTHER).
    pub fn from_bytes2(bytes: &[u8]) -> Option<Termios> {
        let b = bytes.get(..Self::SIZE2)?;
        let mut t = Termios::default();
        t.decode_common(&b[..Self::SIZE]);
        t.c_ispeed = u32::from_le_bytes([b[36], b[37], b[38], b[39]]);
        t.c_ospeed = u32::from_le_bytes([b[40], b[41], b[42], b[43]]);
        t.recompute_speeds();
        Some(t)
    }

    fn decode_common(&mut self, b: &[u8]) {
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        self.c_iflag = word(0);
        self.c_oflag = word(4);
        self.c_cflag = word(8);
        self.c_lflag = word(12);
        self.c_line = b[16];
        self.c_cc.copy_from_slice(&b[17..36]);
    }

    /// tty_termios_baud_rate: the output speed CBAUD names (BOTHER: c_ospeed as given).
    pub fn output_baud(&self) -> u32 {
        baud_of(self.c_cflag & CBAUD, self.c_ospeed)
    }

    /// tty_termios_input_baud_rate: CIBAUD's speed, or the output speed when CIBAUD is B0.
    pub fn input_baud(&self) -> u32 {
        let cbaud = (self.c_cflag >> IBSHIFT) & CBAUD;
        if cbaud == B0 {
            self.output_baud()
        } else {
            baud_of(cbaud, self.c_ispeed)
        }
    }

    /// What Linux's set_termios does before storing: speeds always match the CBAUD bits.
    fn recompute_speeds(&mut self) {
        let ispeed = self.input_baud();
        let ospeed = self.output_baud();
        self.c_ispeed = ispeed;
        self.c_ospeed = ospeed;
    }

    fn i(&self, flag: u32) -> bool {
        self.c_iflag & flag != 0
    }
    fn o(&self, flag: u32) -> bool {
        self.c_oflag & flag != 0
    }
    fn l(&self, flag: u32) -> bool {
        self.c_lflag & flag != 0
    }
    fn cc(&self, index: usize) -> u8 {
        self.c_cc[index]
    }
}

fn baud_of(cbaud: u32, other: u32) -> u32 {
    if cbaud == BOTHER {
        return other;
    }
    let index = if cbaud & CBAUDEX != 0 {
        (cbaud & !CBAUDEX) + 15
    } else {
        cbaud
    };
    BAUD_TABLE.get(index as usize).copied().unwrap_or(0)
}

/// `struct winsize` (TIOCGWINSZ/TIOCSWINSZ): four u16, 8 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WinSize {
    pub ws_row: u16,
    pub ws_col: u16,
    pub ws_xpixel: u16,
    pub ws_ypixel: u16,
}

impl Default for WinSize {
    /// 24x80. (Linux leaves a serial tty at 0x0 until someone sets it; programs then fall back
    /// to $LINES/$COLUMNS or 80x24, so this gives them the same answer directly.)
    fn default() -> Self {
        WinSize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        }
    }
}

impl WinSize {
    pub const SIZE: usize = 8;

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..2].copy_from_slice(&self.ws_row.to_le_bytes());
        b[2..4].copy_from_slice(&self.ws_col.to_le_bytes());
        b[4..6].copy_from_slice(&self.ws_xpixel.to_le_bytes());
        b[6..8].copy_from_slice(&self.ws_ypixel.to_le_bytes());
        b
    }

    /// None when `bytes` is too short (EFAULT).
    pub fn from_bytes(bytes: &[u8]) -> Option<WinSize> {
        let b = bytes.get(..Self::SIZE)?;
        let half = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        Some(WinSize {
            ws_row: half(0),
            ws_col: half(2),
            ws_xpixel: half(4),
            ws_ypixel: half(6),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// effects handed back to the caller

/// Output flow control changed (IXON ^S/^Q, IXANY, TCXONC, turning IXON off).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Stop transmitting (queued output and echoes wait).
    Stopped,
    /// Transmit again whatever was held back.
    Started,
}

/// What one received byte caused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InputEffects {
    /// False: no room in the read buffer, the byte was not looked at (not even for ^C). Linux
    /// leaves such bytes in the driver's flip buffer and feeds them again once a read made room
    /// ([`Tty::can_receive`]); a caller without such a buffer drops them.
    pub accepted: bool,
    /// Bytes to transmit now, already output-processed (OPOST): echoes, "^C", erase sequences.
    /// While output is stopped they belong behind the held-back output.
    pub echo: Vec<u8>,
    /// Send this signal to the foreground process group (`Tty::foreground`).
    pub signal: Option<u32>,
    /// Discard output queued in the driver but not yet transmitted (a signal character without
    /// NOFLSH; Linux calls the driver's flush_buffer).
    pub flush_output: bool,
    /// Wake readers and POLLIN pollers: a line completed (canonical) or data arrived (raw).
    pub wake_readers: bool,
    pub flow: Option<Flow>,
}

/// How a read step ended; the bytes it took come with it in [`ReadStep`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadStatus {
    /// The read is complete: return [`ReadOp::taken`] bytes (0 means end-of-file in canonical
    /// mode, or "no data in time" with VMIN=0).
    Done,
    /// Not complete yet. A non-blocking read returns what it has taken, or EAGAIN if nothing. A
    /// blocking read parks until readers are woken ([`InputEffects::wake_readers`], a termios
    /// change, a flush) or until `deadline_ns` (absolute monotonic time; None: no timeout), then
    /// calls [`Tty::read`] again with the same [`ReadOp`]. A signal while parked: return what
    /// was taken, or EINTR/ERESTARTSYS when nothing was.
    Wait { deadline_ns: Option<u64> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadStep {
    /// Bytes taken by this step: they follow the `taken` bytes of earlier steps in the user's
    /// buffer.
    pub data: Vec<u8>,
    pub status: ReadStatus,
}

/// The state of one read() call that may span several [`Tty::read`] steps (Linux's n_tty_read
/// loop, unrolled so the caller can park between steps). Small and `Copy`, so a syscall that is
/// re-run after parking can keep it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOp {
    max: usize,
    taken: usize,
    started: bool,
    deadline_ns: Option<u64>,
}

impl ReadOp {
    /// A read of at most `max` bytes.
    pub fn new(max: usize) -> Self {
        ReadOp {
            max,
            taken: 0,
            started: false,
            deadline_ns: None,
        }
    }
    /// Bytes taken so far (what read() returns when it ends now).
    pub fn taken(&self) -> usize {
        self.taken
    }
}

/// TCSETS (now), TCSETSW (after output drained: the caller waits first), TCSETSF (drained, and
/// pending input discarded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetAction {
    Now,
    Drain,
    Flush,
}

impl SetAction {
    /// The action of a TCSETS-family ioctl (termios or termios2 form); None for other commands.
    pub fn of_ioctl(cmd: u32) -> Option<SetAction> {
        match cmd {
            TCSETS | TCSETS2 => Some(SetAction::Now),
            TCSETSW | TCSETSW2 => Some(SetAction::Drain),
            TCSETSF | TCSETSF2 => Some(SetAction::Flush),
            _ => None,
        }
    }
}

/// What a termios change caused. Linux wakes all readers and writers on every change (a read in
/// progress must re-check: e.g. a partial line becomes readable when ICANON goes off).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TermiosEffects {
    pub flow: Option<Flow>,
}

// ---------------------------------------------------------------------------------------------
// character classes, as the kernel's ctype table (Latin-1 letters count; 0x80..0x9f do not)

fn iscntrl(c: u8) -> bool {
    c < 0x20 || c == 0x7f
}
fn isupper(c: u8) -> bool {
    c.is_ascii_uppercase() || ((0xc0..=0xde).contains(&c) && c != 0xd7)
}
fn islower(c: u8) -> bool {
    c.is_ascii_lowercase() || (c >= 0xdf && c != 0xf7)
}
fn isalnum(c: u8) -> bool {
    c.is_ascii_digit() || isupper(c) || islower(c)
}
fn tolower(c: u8) -> u8 {
    if isupper(c) { c + 0x20 } else { c }
}
fn toupper(c: u8) -> u8 {
    if islower(c) { c - 0x20 } else { c }
}

/// The echo byte that Linux escapes (its echo-buffer op marker): echoed raw, one column.
const ECHO_OP_START: u8 = 0xff;

// ---------------------------------------------------------------------------------------------
// the tty

/// One terminal: termios, window size, the job-control owners, and n_tty's state — a 4096-byte
/// ring of received bytes with a line-end mark per slot, echo column tracking, flow state.
pub struct Tty {
    termios: Termios,
    winsize: WinSize,
    /// The session this is the controlling tty of (Linux tty->ctrl.session).
    pub session: Option<u32>,
    /// The foreground process group (Linux tty->ctrl.pgrp).
    pub foreground: Option<u32>,

    buf: Vec<u8>,
    /// Bit per ring slot: a line ends here (newline, EOL, EOL2, or the EOF marker).
    line_end: [u64; N_TTY_BUF_SIZE / 64],
    /// Free-running indices (wrap with `MASK`): unread bytes are read_tail..read_head; complete
    /// canonical lines end at canon_head.
    read_head: usize,
    read_tail: usize,
    canon_head: usize,

    /// Output column, for tabs and erasing (tracked only through OPOST output, like Linux).
    column: u32,
    /// Column where the current input line's echo began.
    canon_column: u32,
    /// ECHOPRT: inside a "\...erased.../" run.
    erasing: bool,
    /// The previous byte was VLNEXT: take the next literally.
    lnext: bool,
    /// Output stopped (by ^S or TCOOFF).
    stopped: bool,
    /// Stopped by TCOOFF: only TCOON restarts it.
    tco_stopped: bool,
}

impl Default for Tty {
    fn default() -> Self {
        Self::new()
    }
}

impl Tty {
    /// A tty with Linux's default termios and 24x80.
    pub fn new() -> Self {
        Self::with_termios(Termios::default())
    }

    pub fn with_termios(termios: Termios) -> Self {
        Tty {
            termios,
            winsize: WinSize::default(),
            session: None,
            foreground: None,
            buf: vec![0; N_TTY_BUF_SIZE],
            line_end: [0; N_TTY_BUF_SIZE / 64],
            read_head: 0,
            read_tail: 0,
            canon_head: 0,
            column: 0,
            canon_column: 0,
            erasing: false,
            lnext: false,
            stopped: false,
            tco_stopped: false,
        }
    }

    pub fn termios(&self) -> &Termios {
        &self.termios
    }

    pub fn winsize(&self) -> WinSize {
        self.winsize
    }

    /// TIOCSWINSZ. True when the size changed: the caller sends SIGWINCH to `foreground`.
    pub fn set_winsize(&mut self, ws: WinSize) -> bool {
        let changed = ws != self.winsize;
        self.winsize = ws;
        changed
    }

    /// Whether output is stopped (^S or TCOOFF): the caller holds transmission back.
    pub fn output_stopped(&self) -> bool {
        self.stopped
    }

    // --- the read buffer ---------------------------------------------------------------------

    fn read_cnt(&self) -> usize {
        self.read_head.wrapping_sub(self.read_tail)
    }
    fn byte_at(&self, i: usize) -> u8 {
        self.buf[i & MASK]
    }
    fn is_line_end(&self, i: usize) -> bool {
        let i = i & MASK;
        self.line_end[i / 64] & (1 << (i % 64)) != 0
    }
    fn set_line_end(&mut self, i: usize, on: bool) {
        let i = i & MASK;
        if on {
            self.line_end[i / 64] |= 1 << (i % 64);
        } else {
            self.line_end[i / 64] &= !(1 << (i % 64));
        }
    }
    fn icanon(&self) -> bool {
        self.termios.l(ICANON)
    }

    /// put_tty_queue. Never overwrites unread bytes (Linux can, with PARMRK doubling a byte in a
    /// full canonical line; here the extra byte is dropped instead).
    fn put(&mut self, c: u8) {
        if self.read_cnt() >= N_TTY_BUF_SIZE {
            return;
        }
        let i = self.read_head;
        self.buf[i & MASK] = c;
        self.set_line_end(i, false);
        self.read_head = i.wrapping_add(1);
    }

    /// reset_buffer_flags: all input gone.
    fn reset_input(&mut self) {
        self.read_head = 0;
        self.read_tail = 0;
        self.canon_head = 0;
        self.erasing = false;
        self.line_end = [0; N_TTY_BUF_SIZE / 64];
    }

    /// The room test of n_tty_receive_buf_common for one more byte. 4095 bytes fit (one slot
    /// stays free for the newline a switch to canonical mode may need). A canonical line with no
    /// complete line before it never blocks input: past 4095 bytes each new byte replaces the
    /// last one, so erase, kill, newline and signals keep working.
    fn make_room(&mut self) -> bool {
        let free = N_TTY_BUF_SIZE as isize - self.read_cnt() as isize;
        let mut room = if self.termios.i(PARMRK) {
            (free + 2) / 3
        } else {
            free
        };
        room -= 1;
        if room > 0 {
            return true;
        }
        let overflow = self.icanon() && self.canon_head == self.read_tail;
        if overflow && room < 0 {
            self.read_head = self.read_head.wrapping_sub(1);
        }
        overflow
    }

    /// Whether [`Tty::receive`] would look at another byte now (a caller holding back refused
    /// bytes retries when this turns true, i.e. after reads or flushes).
    pub fn can_receive(&self) -> bool {
        let free = N_TTY_BUF_SIZE as isize - self.read_cnt() as isize;
        let room = if self.termios.i(PARMRK) {
            (free + 2) / 3
        } else {
            free
        } - 1;
        room > 0 || (self.icanon() && self.canon_head == self.read_tail)
    }

    // --- output ------------------------------------------------------------------------------

    /// do_output_char: one byte through OPOST, tracking the column.
    fn output_char(&mut self, mut c: u8, out: &mut Vec<u8>) {
        let t = self.termios;
        match c {
            b'\n' => {
                if t.o(ONLRET) {
                    self.column = 0;
                }
                if t.o(ONLCR) {
                    self.column = 0;
                    self.canon_column = 0;
                    out.extend_from_slice(b"\r\n");
                    return;
                }
                self.canon_column = self.column;
            }
            b'\r' => {
                if t.o(ONOCR) && self.column == 0 {
                    return;
                }
                if t.o(OCRNL) {
                    c = b'\n';
                    if t.o(ONLRET) {
                        self.column = 0;
                        self.canon_column = 0;
                    }
                } else {
                    self.column = 0;
                    self.canon_column = 0;
                }
            }
            b'\t' => {
                let spaces = 8 - (self.column & 7);
                self.column += spaces;
                if t.c_oflag & TABDLY == XTABS {
                    out.extend(core::iter::repeat_n(b' ', spaces as usize));
                    return;
                }
            }
            0x08 => self.column = self.column.saturating_sub(1),
            _ => {
                if !iscntrl(c) {
                    if t.o(OLCUC) {
                        c = toupper(c);
                    }
                    if !self.is_continuation(c) {
                        self.column += 1;
                    }
                }
            }
        }
        out.push(c);
    }

    fn is_continuation(&self, c: u8) -> bool {
        self.termios.i(IUTF8) && (c & 0xc0) == 0x80
    }

    /// What write() sends to the device for `bytes` (n_tty_write): OPOST processing (ONLCR,
    /// OCRNL, ONOCR, ONLRET, OLCUC, XTABS) with column tracking; unchanged without OPOST.
    pub fn process_output(&mut self, bytes: &[u8]) -> Vec<u8> {
        if !self.termios.o(OPOST) {
            return bytes.to_vec();
        }
        let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 8);
        for &c in bytes {
            self.output_char(c, &mut out);
        }
        out
    }

    // --- echo (Linux queues echo ops and runs them at once; here they run immediately) ------

    /// A byte echoed as is (echo_char_raw).
    fn echo_raw(&mut self, c: u8, out: &mut Vec<u8>) {
        if c == ECHO_OP_START {
            out.push(c);
            self.column += 1;
        } else if self.termios.o(OPOST) {
            self.output_char(c, out);
        } else {
            out.push(c);
        }
    }

    /// A byte echoed with ECHOCTL's "^X" for control characters other than tab (echo_char).
    fn echo_char(&mut self, c: u8, out: &mut Vec<u8>) {
        if c != ECHO_OP_START && self.termios.l(ECHOCTL) && iscntrl(c) && c != b'\t' {
            out.push(b'^');
            out.push(c ^ 0o100);
            self.column += 2;
        } else {
            self.echo_raw(c, out);
        }
    }

    fn finish_erasing(&mut self, out: &mut Vec<u8>) {
        if self.erasing {
            self.echo_raw(b'/', out);
            self.erasing = false;
        }
    }

    /// Backspaces that take the cursor back over an erased tab: `num_chars` columns were used
    /// since the previous tab (`after_tab`) or since the line's start (then the column the line
    /// began at counts too).
    fn echo_erase_tab(&mut self, num_chars: u32, after_tab: bool, out: &mut Vec<u8>) {
        let mut n = num_chars & 7;
        if !after_tab {
            n += self.canon_column;
        }
        for _ in 0..8 - (n & 7) {
            out.push(0x08);
            self.column = self.column.saturating_sub(1);
        }
    }

    // --- input -------------------------------------------------------------------------------

    /// One byte from the device (n_tty_receive_buf for a single TTY_NORMAL byte).
    pub fn receive(&mut self, byte: u8) -> InputEffects {
        let mut fx = InputEffects::default();
        if !self.make_room() {
            return fx;
        }
        fx.accepted = true;
        if self.lnext {
            self.lnext = false;
            let c = self.preprocess(byte);
            self.receive_char(c, &mut fx);
        } else {
            let c = self.preprocess(byte);
            if self.is_special(c) {
                self.receive_special(c, &mut fx);
            } else {
                self.receive_char(c, &mut fx);
            }
        }
        self.publish(&mut fx);
        fx
    }

    /// A break condition from the device (n_tty_receive_break): ignored (IGNBRK), SIGINT
    /// (BRKINT), or a NUL byte (preceded by "\377\0" with PARMRK).
    pub fn receive_break(&mut self) -> InputEffects {
        let mut fx = InputEffects::default();
        if !self.make_room() {
            return fx;
        }
        fx.accepted = true;
        let t = self.termios;
        if t.i(IGNBRK) {
            return fx;
        }
        if t.i(BRKINT) {
            self.isig(SIGINT, &mut fx);
            return fx;
        }
        if t.i(PARMRK) {
            self.put(0xff);
            self.put(0);
        }
        self.put(0);
        self.publish(&mut fx);
        fx
    }

    /// Non-canonical input is readable as soon as it is queued.
    fn publish(&self, fx: &mut InputEffects) {
        if !self.icanon() && self.read_cnt() > 0 {
            fx.wake_readers = true;
        }
    }

    /// ISTRIP, then IUCLC (only with IEXTEN, as Linux).
    fn preprocess(&self, mut c: u8) -> u8 {
        if self.termios.i(ISTRIP) {
            c &= 0x7f;
        }
        if self.termios.i(IUCLC) && self.termios.l(IEXTEN) {
            c = tolower(c);
        }
        c
    }

    /// n_tty's char_map: the bytes that need more than "echo and queue".
    fn is_special(&self, c: u8) -> bool {
        if c == DISABLED_CHAR {
            return false;
        }
        let t = &self.termios;
        let is = |i: usize| t.cc(i) == c;
        (c == b'\r' && (t.i(IGNCR) || t.i(ICRNL)))
            || (c == b'\n' && t.i(INLCR))
            || (t.l(ICANON) && (is(VERASE) || is(VKILL) || is(VEOF) || c == b'\n' || is(VEOL)))
            || (t.l(ICANON)
                && t.l(IEXTEN)
                && (is(VWERASE) || is(VLNEXT) || is(VEOL2) || (t.l(ECHO) && is(VREPRINT))))
            || (t.i(IXON) && (is(VSTART) || is(VSTOP)))
            || (t.l(ISIG) && (is(VINTR) || is(VQUIT) || is(VSUSP)))
    }

    fn start_output(&mut self, fx: &mut InputEffects) {
        if self.stopped && !self.tco_stopped {
            self.stopped = false;
            fx.flow = Some(Flow::Started);
        }
    }

    fn ixany_restart(&mut self, fx: &mut InputEffects) {
        if self.stopped && !self.tco_stopped && self.termios.i(IXON) && self.termios.i(IXANY) {
            self.start_output(fx);
        }
    }

    /// n_tty_receive_char: an ordinary byte, echoed and queued.
    fn receive_char(&mut self, c: u8, fx: &mut InputEffects) {
        self.ixany_restart(fx);
        if self.termios.l(ECHO) {
            self.finish_erasing(&mut fx.echo);
            if self.canon_head == self.read_head {
                self.canon_column = self.column;
            }
            self.echo_char(c, &mut fx.echo);
        }
        if c == 0xff && self.termios.i(PARMRK) {
            self.put(c);
        }
        self.put(c);
    }

    /// n_tty_receive_char_special.
    fn receive_special(&mut self, mut c: u8, fx: &mut InputEffects) {
        let t = self.termios;
        if t.i(IXON) && (c == t.cc(VSTART) || c == t.cc(VSTOP)) {
            if c == t.cc(VSTART) {
                self.start_output(fx);
            } else if !self.stopped {
                self.stopped = true;
                fx.flow = Some(Flow::Stopped);
            }
            return;
        }
        if t.l(ISIG) {
            let signal = if c == t.cc(VINTR) {
                Some(SIGINT)
            } else if c == t.cc(VQUIT) {
                Some(SIGQUIT)
            } else if c == t.cc(VSUSP) {
                Some(SIGTSTP)
            } else {
                None
            };
            if let Some(sig) = signal {
                self.isig(sig, fx);
                if t.i(IXON) {
                    self.start_output(fx);
                }
                if t.l(ECHO) {
                    self.echo_char(c, &mut fx.echo);
                }
                return;
            }
        }
        self.ixany_restart(fx);
        if c == b'\r' {
            if t.i(IGNCR) {
                return;
            }
            if t.i(ICRNL) {
                c = b'\n';
            }
        } else if c == b'\n' && t.i(INLCR) {
            c = b'\r';
        }
        if t.l(ICANON) && self.receive_canon(c, fx) {
            return;
        }
        if t.l(ECHO) {
            self.finish_erasing(&mut fx.echo);
            if c == b'\n' {
                self.echo_raw(b'\n', &mut fx.echo);
            } else {
                if self.canon_head == self.read_head {
                    self.canon_column = self.column;
                }
                self.echo_char(c, &mut fx.echo);
            }
        }
        if c == 0xff && t.i(PARMRK) {
            self.put(c);
        }
        self.put(c);
    }

    /// isig: the signal, and unless NOFLSH, pending input, echoes and driver output discarded.
    fn isig(&mut self, sig: u32, fx: &mut InputEffects) {
        fx.signal = Some(sig);
        if !self.termios.l(NOFLSH) {
            fx.echo.clear();
            fx.flush_output = true;
            self.reset_input();
        }
    }

    /// n_tty_receive_char_canon: true when `c` was a line-editing or line-ending character.
    fn receive_canon(&mut self, c: u8, fx: &mut InputEffects) -> bool {
        let t = self.termios;
        if c == t.cc(VERASE) || c == t.cc(VKILL) || (c == t.cc(VWERASE) && t.l(IEXTEN)) {
            self.eraser(c, &mut fx.echo);
            return true;
        }
        if c == t.cc(VLNEXT) && t.l(IEXTEN) {
            self.lnext = true;
            if t.l(ECHO) {
                self.finish_erasing(&mut fx.echo);
                if t.l(ECHOCTL) {
                    // "^" then backspace: the next byte's echo overwrites the caret.
                    self.echo_raw(b'^', &mut fx.echo);
                    self.echo_raw(0x08, &mut fx.echo);
                }
            }
            return true;
        }
        if c == t.cc(VREPRINT) && t.l(ECHO) && t.l(IEXTEN) {
            self.finish_erasing(&mut fx.echo);
            self.echo_char(c, &mut fx.echo);
            self.echo_raw(b'\n', &mut fx.echo);
            let mut i = self.canon_head;
            while i != self.read_head {
                let b = self.byte_at(i);
                self.echo_char(b, &mut fx.echo);
                i = i.wrapping_add(1);
            }
            return true;
        }
        if c == b'\n' {
            if t.l(ECHO) || t.l(ECHONL) {
                self.echo_raw(b'\n', &mut fx.echo);
            }
            self.end_line(c, fx);
            return true;
        }
        if c == t.cc(VEOF) {
            // Not echoed; a marked NUL ends the line and is never returned by a read.
            self.end_line(DISABLED_CHAR, fx);
            return true;
        }
        if c == t.cc(VEOL) || (c == t.cc(VEOL2) && t.l(IEXTEN)) {
            if t.l(ECHO) {
                if self.canon_head == self.read_head {
                    self.canon_column = self.column;
                }
                self.echo_char(c, &mut fx.echo);
            }
            if c == 0xff && t.i(PARMRK) {
                self.put(c);
            }
            self.end_line(c, fx);
            return true;
        }
        false
    }

    /// n_tty_receive_handle_newline: `c` ends a line that readers can now have.
    fn end_line(&mut self, c: u8, fx: &mut InputEffects) {
        let at = self.read_head;
        self.put(c);
        if self.read_head != at {
            self.set_line_end(at, true);
        }
        self.canon_head = self.read_head;
        fx.wake_readers = true;
    }

    /// eraser: VERASE (one character), VWERASE (a word, BSD ALTWERASE style), VKILL (the line).
    fn eraser(&mut self, c: u8, out: &mut Vec<u8>) {
        #[derive(PartialEq)]
        enum Kind {
            Erase,
            Werase,
            Kill,
        }
        if self.read_head == self.canon_head {
            return;
        }
        let t = self.termios;
        let kind = if c == t.cc(VERASE) {
            Kind::Erase
        } else if c == t.cc(VWERASE) {
            Kind::Werase
        } else {
            if !t.l(ECHO) {
                self.read_head = self.canon_head;
                return;
            }
            if !t.l(ECHOK) || !t.l(ECHOKE) || !t.l(ECHOE) {
                // Kill without visual erase: echo the kill character (and a newline with ECHOK).
                self.read_head = self.canon_head;
                self.finish_erasing(out);
                self.echo_char(t.cc(VKILL), out);
                if t.l(ECHOK) {
                    self.echo_raw(b'\n', out);
                }
                return;
            }
            Kind::Kill
        };

        let mut seen_alnums = 0;
        while self.read_head != self.canon_head {
            // Step back over one character (a whole UTF-8 sequence with IUTF8).
            let mut head = self.read_head;
            let mut ch;
            loop {
                head = head.wrapping_sub(1);
                ch = self.byte_at(head);
                if !(self.is_continuation(ch) && head != self.canon_head) {
                    break;
                }
            }
            if self.is_continuation(ch) {
                break; // never erase half a character
            }
            if kind == Kind::Werase {
                if isalnum(ch) || ch == b'_' {
                    seen_alnums += 1;
                } else if seen_alnums > 0 {
                    break;
                }
            }
            let cnt = self.read_head.wrapping_sub(head);
            self.read_head = head;
            if t.l(ECHO) {
                if t.l(ECHOPRT) {
                    if !self.erasing {
                        self.echo_raw(b'\\', out);
                        self.erasing = true;
                    }
                    self.echo_char(ch, out);
                    let mut i = head;
                    for _ in 1..cnt {
                        i = i.wrapping_add(1);
                        let b = self.byte_at(i);
                        self.echo_raw(b, out);
                        self.column = self.column.saturating_sub(1);
                    }
                } else if kind == Kind::Erase && !t.l(ECHOE) {
                    self.echo_char(t.cc(VERASE), out);
                } else if ch == b'\t' {
                    // Columns used since the previous tab or the line's start decide how far
                    // back the tab reached.
                    let mut num_chars = 0u32;
                    let mut after_tab = false;
                    let mut i = self.read_head;
                    while i != self.canon_head {
                        i = i.wrapping_sub(1);
                        let b = self.byte_at(i);
                        if b == b'\t' {
                            after_tab = true;
                            break;
                        } else if iscntrl(b) {
                            if t.l(ECHOCTL) {
                                num_chars += 2;
                            }
                        } else if !self.is_continuation(b) {
                            num_chars += 1;
                        }
                    }
                    self.echo_erase_tab(num_chars, after_tab, out);
                } else {
                    // A control character echoed as "^X" takes two columns.
                    if iscntrl(ch) && t.l(ECHOCTL) {
                        for &b in b"\x08 \x08" {
                            self.echo_raw(b, out);
                        }
                    }
                    if !iscntrl(ch) || t.l(ECHOCTL) {
                        for &b in b"\x08 \x08" {
                            self.echo_raw(b, out);
                        }
                    }
                }
            }
            if kind == Kind::Erase {
                break;
            }
        }
        if self.read_head == self.canon_head && t.l(ECHO) {
            self.finish_erasing(out);
        }
    }

    // --- reading -----------------------------------------------------------------------------

    /// input_available_p for poll: a complete line (canonical), else at least one byte — or
    /// VMIN bytes when VMIN > 0 and VTIME == 0.
    pub fn readable(&self) -> bool {
        if self.icanon() {
            self.canon_head != self.read_tail
        } else {
            let t = &self.termios;
            let amount = if t.cc(VTIME) == 0 && t.cc(VMIN) != 0 {
                t.cc(VMIN) as usize
            } else {
                1
            };
            self.read_cnt() >= amount
        }
    }

    /// FIONREAD/TIOCINQ: canonical mode counts only complete lines (EOF markers excluded);
    /// otherwise every queued byte.
    pub fn inq(&self) -> u32 {
        if !self.icanon() {
            return self.read_cnt() as u32;
        }
        let mut n = 0u32;
        let mut i = self.read_tail;
        while i != self.canon_head {
            if !(self.is_line_end(i) && self.byte_at(i) == DISABLED_CHAR) {
                n += 1;
            }
            i = i.wrapping_add(1);
        }
        n
    }

    /// One step of read(): takes what the mode allows and says whether the read is complete.
    ///
    /// Canonical: waits (without timeout) for a complete line, then returns it — up to and
    /// including its newline/EOL/EOL2, without an EOF marker (^D at a line's start reads as 0
    /// bytes) — or as much of it as fits, the rest staying for the next read.
    /// Non-canonical, Linux's VMIN/VTIME rules:
    /// - VMIN=0, VTIME=0: whatever is there, at once (possibly 0 bytes);
    /// - VMIN=0, VTIME>0: the first byte(s) to arrive, or 0 bytes VTIME tenths after the read
    ///   began;
    /// - VMIN>0, VTIME=0: at least VMIN bytes (or `max`), no timeout;
    /// - VMIN>0, VTIME>0: at least VMIN bytes, or fewer if VTIME tenths pass with no new byte
    ///   once the first has arrived (the timer restarts with every byte taken).
    ///
    /// `now_ns` is monotonic time; deadlines in [`ReadStatus::Wait`] are in the same clock.
    pub fn read(&mut self, op: &mut ReadOp, now_ns: u64) -> ReadStep {
        let mut data = Vec::new();
        if op.taken >= op.max {
            return ReadStep {
                data,
                status: ReadStatus::Done,
            };
        }
        if self.icanon() {
            if self.canon_head == self.read_tail {
                return ReadStep {
                    data,
                    status: ReadStatus::Wait { deadline_ns: None },
                };
            }
            self.take_line(op.max - op.taken, &mut data);
            op.taken += data.len();
            return ReadStep {
                data,
                status: ReadStatus::Done,
            };
        }

        let vmin = self.termios.cc(VMIN) as usize;
        let vtime_ns = self.termios.cc(VTIME) as u64 * VTIME_UNIT_NS;
        if !op.started {
            op.started = true;
            if vmin == 0 {
                op.deadline_ns = Some(now_ns.saturating_add(vtime_ns));
            }
        }
        let minimum = vmin.max(1);
        let n = self.read_cnt().min(op.max - op.taken);
        if n > 0 {
            data.reserve(n);
            for _ in 0..n {
                data.push(self.byte_at(self.read_tail));
                self.read_tail = self.read_tail.wrapping_add(1);
            }
            op.taken += n;
            if op.taken >= minimum || op.taken >= op.max {
                return ReadStep {
                    data,
                    status: ReadStatus::Done,
                };
            }
            if vtime_ns > 0 {
                op.deadline_ns = Some(now_ns.saturating_add(vtime_ns));
            }
        } else if op.deadline_ns.is_some_and(|d| now_ns >= d) {
            return ReadStep {
                data,
                status: ReadStatus::Done,
            };
        }
        ReadStep {
            data,
            status: ReadStatus::Wait {
                deadline_ns: op.deadline_ns,
            },
        }
    }

    /// canon_copy_from_read_buf: up to `room` bytes of the first complete line.
    fn take_line(&mut self, room: usize, data: &mut Vec<u8>) {
        let n = self.canon_head.wrapping_sub(self.read_tail).min(room);
        let mut i = self.read_tail;
        let end = self.read_tail.wrapping_add(n);
        let mut found = None;
        while i != end {
            if self.is_line_end(i) {
                found = Some(i);
                break;
            }
            data.push(self.byte_at(i));
            i = i.wrapping_add(1);
        }
        match found {
            Some(eol) => {
                let c = self.byte_at(eol);
                if c != DISABLED_CHAR {
                    data.push(c);
                }
                self.set_line_end(eol, false);
                self.read_tail = eol.wrapping_add(1);
            }
            None => {
                self.read_tail = end;
                // The buffer filled exactly before an EOF marker: eat it (canon_skip_eof), or
                // the next read would see a spurious end-of-file.
                if self.read_tail != self.canon_head
                    && self.is_line_end(self.read_tail)
                    && self.byte_at(self.read_tail) == DISABLED_CHAR
                {
                    self.set_line_end(self.read_tail, false);
                    self.read_tail = self.read_tail.wrapping_add(1);
                }
            }
        }
    }

    // --- ioctl side effects ------------------------------------------------------------------

    /// TCSETS/TCSETSW/TCSETSF (tty_set_termios + n_tty_set_termios). For Drain and Flush the
    /// caller first waits for queued output to be sent; Flush then discards pending input.
    /// Switching ICANON keeps pending input: raw mode can read a partial line, and bytes
    /// pending when canonical mode comes on become one readable line. Readers must re-check.
    pub fn set_termios(&mut self, new: Termios, action: SetAction) -> TermiosEffects {
        let mut fx = TermiosEffects::default();
        if action == SetAction::Flush {
            self.reset_input();
        }
        let old = self.termios;
        self.termios = new;
        if (old.c_lflag ^ new.c_lflag) & (ICANON | EXTPROC) != 0 {
            self.line_end = [0; N_TTY_BUF_SIZE / 64];
            if !new.l(ICANON) || self.read_cnt() == 0 {
                self.canon_head = self.read_tail;
            } else {
                self.set_line_end(self.read_head.wrapping_sub(1), true);
                self.canon_head = self.read_head;
            }
            self.erasing = false;
            self.lnext = false;
        }
        // Output stopped by ^S must not stay stopped once ^Q can no longer be typed.
        if !new.i(IXON) && old.i(IXON) && !self.tco_stopped && self.stopped {
            self.stopped = false;
            fx.flow = Some(Flow::Started);
        }
        fx
    }

    /// TCFLSH: TCIFLUSH discards pending input; TCOFLUSH / TCIOFLUSH also ask the caller to
    /// discard output queued in the driver (the returned bool). EINVAL for other selectors.
    pub fn flush(&mut self, queue: u32) -> Result<bool, Errno> {
        match queue {
            TCIFLUSH => {
                self.reset_input();
                Ok(false)
            }
            TCIOFLUSH => {
                self.reset_input();
                Ok(true)
            }
            TCOFLUSH => Ok(true),
            _ => Err(Errno::EINVAL),
        }
    }

    /// TCXONC: TCOOFF/TCOON suspend and resume output (only TCOON undoes TCOOFF; ^Q does
    /// not); TCIOFF/TCION ask the caller to transmit the STOP/START character now (returned),
    /// unless that character is disabled. EINVAL for other actions.
    pub fn tcxonc(&mut self, action: u32) -> Result<(Option<Flow>, Option<u8>), Errno> {
        match action {
            TCOOFF => {
                if self.tco_stopped {
                    return Ok((None, None));
                }
                self.tco_stopped = true;
                if self.stopped {
                    return Ok((None, None));
                }
                self.stopped = true;
                Ok((Some(Flow::Stopped), None))
            }
            TCOON => {
                if !self.tco_stopped {
                    return Ok((None, None));
                }
                self.tco_stopped = false;
                if !self.stopped {
                    return Ok((None, None));
                }
                self.stopped = false;
                Ok((Some(Flow::Started), None))
            }
            TCIOFF | TCION => {
                let c = self
                    .termios
                    .cc(if action == TCIOFF { VSTOP } else { VSTART });
                Ok((None, (c != DISABLED_CHAR).then_some(c)))
            }
            _ => Err(Errno::EINVAL),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTRL_C: u8 = 0x03;
    const CTRL_D: u8 = 0x04;
    const CTRL_Q: u8 = 0x11;
    const CTRL_R: u8 = 0x12;
    const CTRL_S: u8 = 0x13;
    const CTRL_U: u8 = 0x15;
    const CTRL_V: u8 = 0x16;
    const CTRL_W: u8 = 0x17;
    const DEL: u8 = 0x7f;

    /// Feeds bytes, concatenating echoes; panics on a refused byte (tests that want refusals
    /// call `receive` directly).
    fn feed(tty: &mut Tty, bytes: &[u8]) -> Vec<u8> {
        let mut echo = Vec::new();
        for &b in bytes {
            let fx = tty.receive(b);
            assert!(fx.accepted, "byte {b:#x} refused");
            echo.extend_from_slice(&fx.echo);
        }
        echo
    }

    /// A whole blocking-style read at time 0 that must complete in one step.
    fn read_now(tty: &mut Tty, max: usize) -> Vec<u8> {
        let mut op = ReadOp::new(max);
        let step = tty.read(&mut op, 0);
        assert_eq!(step.status, ReadStatus::Done, "read did not complete");
        assert_eq!(op.taken(), step.data.len());
        step.data
    }

    fn raw(vmin: u8, vtime: u8) -> Tty {
        let mut t = Termios::default();
        t.c_lflag &= !(ICANON | ECHO | ISIG | IEXTEN);
        t.c_iflag &= !(ICRNL | IXON);
        t.c_cc[VMIN] = vmin;
        t.c_cc[VTIME] = vtime;
        Tty::with_termios(t)
    }

    fn tty_with(f: impl FnOnce(&mut Termios)) -> Tty {
        let mut t = Termios::default();
        f(&mut t);
        Tty::with_termios(t)
    }

    #[test]
    fn default_termios_bytes_match_linux() {
        // iflag ICRNL|IXON, oflag OPOST|ONLCR, cflag B38400|CS8|CREAD|HUPCL,
        // lflag ISIG|ICANON|ECHO|ECHOE|ECHOK|ECHOCTL|ECHOKE|IEXTEN ("stty -g": 500:5:4bf:8a3b).
        let expected: [u8; 36] = [
            0x00, 0x05, 0, 0, 0x05, 0, 0, 0, 0xbf, 0x04, 0, 0, 0x3b, 0x8a, 0, 0, 0, 0x03, 0x1c,
            0x7f, 0x15, 0x04, 0x00, 0x01, 0x00, 0x11, 0x13, 0x1a, 0x00, 0x12, 0x0f, 0x17, 0x16,
            0x00, 0x00, 0x00,
        ];
        let t = Termios::default();
        assert_eq!(t.to_bytes(), expected);
        let b2 = t.to_bytes2();
        assert_eq!(&b2[..36], &expected);
        assert_eq!(&b2[36..], &[0x00, 0x96, 0, 0, 0x00, 0x96, 0, 0]); // 38400 twice
    }

    #[test]
    fn termios_decoding_round_trips_and_recomputes_speeds() {
        let mut t = Termios::default();
        t.c_cflag = (t.c_cflag & !CBAUD) | B115200;
        t.c_cc[VMIN] = 7;
        let back = Termios::from_bytes(&t.to_bytes(), &Termios::default()).unwrap();
        assert_eq!(back.c_cc[VMIN], 7);
        assert_eq!((back.c_ispeed, back.c_ospeed), (115200, 115200));
        assert_eq!(Termios::from_bytes(&[0; 35], &t), None);

        // BOTHER takes the termios2 speeds; a separate CIBAUD sets the input speed.
        let mut t2 = Termios::default();
        t2.c_cflag = (t2.c_cflag & !CBAUD) | BOTHER | (B9600 << IBSHIFT);
        t2.c_ospeed = 250_000;
        let back2 = Termios::from_bytes2(&t2.to_bytes2()).unwrap();
        assert_eq!((back2.c_ispeed, back2.c_ospeed), (9600, 250_000));
        assert_eq!(Termios::from_bytes2(&[0; 43]), None);
        assert_eq!(
            TCGETS2,
            (2 << 30) | ((Termios::SIZE2 as u32) << 16) | (0x54 << 8) | 0x2a
        );
        assert_eq!(
            TCSETS2,
            (1 << 30) | ((Termios::SIZE2 as u32) << 16) | (0x54 << 8) | 0x2b
        );
    }

    #[test]
    fn winsize_defaults_and_changes() {
        let mut tty = Tty::new();
        assert_eq!(tty.winsize().to_bytes(), [24, 0, 80, 0, 0, 0, 0, 0]);
        let ws = WinSize::from_bytes(&[50, 0, 132, 0, 0, 0, 0, 0]).unwrap();
        assert!(tty.set_winsize(ws));
        assert!(!tty.set_winsize(ws), "same size again: no SIGWINCH");
        assert_eq!(tty.winsize().ws_col, 132);
        assert_eq!(WinSize::from_bytes(&[0; 7]), None);
    }

    #[test]
    fn canonical_line_assembly() {
        let mut tty = Tty::new();
        let mut op = ReadOp::new(100);
        assert_eq!(
            tty.read(&mut op, 0).status,
            ReadStatus::Wait { deadline_ns: None }
        );
        let echo = feed(&mut tty, b"hi");
        assert_eq!(echo, b"hi");
        assert!(!tty.readable(), "a partial line is not readable");
        let fx = tty.receive(b'\r');
        assert!(fx.wake_readers);
        assert_eq!(fx.echo, b"\r\n", "ICRNL then ONLCR");
        assert!(tty.readable());
        let step = tty.read(&mut op, 0);
        assert_eq!(step.data, b"hi\n");
        assert_eq!(step.status, ReadStatus::Done);
        assert_eq!(op.taken(), 3);
    }

    #[test]
    fn one_line_per_read_and_partial_reads() {
        let mut tty = Tty::new();
        feed(&mut tty, b"one\ntwo\n");
        assert_eq!(read_now(&mut tty, 100), b"one\n");
        assert_eq!(read_now(&mut tty, 2), b"tw");
        assert_eq!(read_now(&mut tty, 100), b"o\n");
        assert!(!tty.readable());
    }

    #[test]
    fn erase_echoes_backspace_space_backspace() {
        let mut tty = Tty::new();
        assert_eq!(feed(&mut tty, b"ab"), b"ab");
        assert_eq!(feed(&mut tty, &[DEL]), b"\x08 \x08");
        feed(&mut tty, b"\n");
        assert_eq!(read_now(&mut tty, 100), b"a\n");
        // Erase at the start of a line does nothing, echoes nothing.
        assert_eq!(feed(&mut tty, &[DEL]), b"");
    }

    #[test]
    fn erase_of_a_control_character_takes_two_columns() {
        let mut tty = Tty::new();
        assert_eq!(feed(&mut tty, &[0x01]), b"^A");
        assert_eq!(feed(&mut tty, &[DEL]), b"\x08 \x08\x08 \x08");
        // Without ECHOCTL the control character was echoed as itself and no erase is shown.
        let mut tty = tty_with(|t| t.c_lflag &= !ECHOCTL);
        assert_eq!(feed(&mut tty, &[0x01]), [0x01]);
        assert_eq!(feed(&mut tty, &[DEL]), b"");
    }

    #[test]
    fn erase_without_echoe_echoes_the_erase_character() {
        let mut tty = tty_with(|t| t.c_lflag &= !ECHOE);
        assert_eq!(feed(&mut tty, &[b'a', DEL]), b"a^?");
        feed(&mut tty, b"\n");
        assert_eq!(read_now(&mut tty, 10), b"\n");
    }

    #[test]
    fn erase_of_a_tab_backs_up_to_the_tab_stop() {
        let mut tty = Tty::new();
        // A prompt leaves the cursor at column 2; the line starts there.
        assert_eq!(tty.process_output(b"$ "), b"$ ");
        assert_eq!(feed(&mut tty, b"ab\t"), b"ab\t");
        assert_eq!(feed(&mut tty, &[DEL]), b"\x08\x08\x08\x08");
        assert_eq!(feed(&mut tty, &[DEL]), b"\x08 \x08");
    }

    #[test]
    fn werase_erases_a_word_and_the_blanks_after_it() {
        let mut tty = Tty::new();
        feed(&mut tty, b"foo bar  ");
        let echo = feed(&mut tty, &[CTRL_W]);
        assert_eq!(echo, b"\x08 \x08".repeat(5));
        feed(&mut tty, b"\n");
        assert_eq!(read_now(&mut tty, 100), b"foo \n");
    }

    #[test]
    fn kill_with_echoke_erases_visually() {
        let mut tty = Tty::new();
        feed(&mut tty, b"abc");
        assert_eq!(feed(&mut tty, &[CTRL_U]), b"\x08 \x08".repeat(3));
        feed(&mut tty, b"d\n");
        assert_eq!(read_now(&mut tty, 100), b"d\n");
    }

    #[test]
    fn kill_without_echoke_echoes_kill_and_newline() {
        let mut tty = tty_with(|t| t.c_lflag &= !ECHOKE);
        feed(&mut tty, b"abc");
        assert_eq!(feed(&mut tty, &[CTRL_U]), b"^U\r\n");
        let mut tty = tty_with(|t| t.c_lflag &= !(ECHOKE | ECHOK));
        feed(&mut tty, b"abc");
        assert_eq!(feed(&mut tty, &[CTRL_U]), b"^U");
        feed(&mut tty, b"x\n");
        assert_eq!(read_now(&mut tty, 100), b"x\n");
    }

    #[test]
    fn eof_at_line_start_reads_zero_bytes() {
        let mut tty = Tty::new();
        let fx = tty.receive(CTRL_D);
        assert!(fx.wake_readers);
        assert_eq!(fx.echo, b"", "^D is not echoed");
        assert_eq!(tty.inq(), 0, "the EOF marker is not counted");
        assert!(tty.readable());
        let mut op = ReadOp::new(100);
        let step = tty.read(&mut op, 0);
        assert_eq!((step.data.len(), step.status), (0, ReadStatus::Done));
        // The marker is consumed: the next read waits.
        let mut op = ReadOp::new(100);
        assert_eq!(
            tty.read(&mut op, 0).status,
            ReadStatus::Wait { deadline_ns: None }
        );
    }

    #[test]
    fn eof_mid_line_returns_the_partial_line() {
        let mut tty = Tty::new();
        feed(&mut tty, &[b'a', b'b', CTRL_D]);
        assert_eq!(tty.inq(), 2);
        assert_eq!(read_now(&mut tty, 100), b"ab");
        assert!(!tty.readable());
        // A buffer that ends exactly at the marker also eats the marker (no spurious EOF).
        feed(&mut tty, &[b'c', b'd', CTRL_D]);
        assert_eq!(read_now(&mut tty, 2), b"cd");
        assert!(!tty.readable());
    }

    #[test]
    fn intr_sends_sigint_flushes_and_echoes_caret_c() {
        let mut tty = Tty::new();
        feed(&mut tty, b"abc");
        let fx = tty.receive(CTRL_C);
        assert_eq!(fx.signal, Some(SIGINT));
        assert_eq!(fx.echo, b"^C");
        assert!(fx.flush_output);
        feed(&mut tty, b"x\n");
        assert_eq!(
            read_now(&mut tty, 100),
            b"x\n",
            "the pending \"abc\" was discarded"
        );

        assert_eq!(tty.receive(0x1c).signal, Some(SIGQUIT));
        assert_eq!(tty.receive(0x1a).signal, Some(SIGTSTP));
    }

    #[test]
    fn noflsh_keeps_pending_input() {
        let mut tty = tty_with(|t| t.c_lflag |= NOFLSH);
        feed(&mut tty, b"ab");
        let fx = tty.receive(CTRL_C);
        assert_eq!((fx.signal, fx.flush_output), (Some(SIGINT), false));
        feed(&mut tty, b"\n");
        assert_eq!(read_now(&mut tty, 100), b"ab\n");
    }

    #[test]
    fn without_isig_intr_is_data() {
        let mut tty = tty_with(|t| t.c_lflag &= !ISIG);
        let fx = tty.receive(CTRL_C);
        assert_eq!(fx.signal, None);
        assert_eq!(fx.echo, b"^C");
        feed(&mut tty, b"\n");
        assert_eq!(read_now(&mut tty, 100), [CTRL_C, b'\n']);
    }

    #[test]
    fn carriage_return_mapping() {
        let mut tty = Tty::new();
        feed(&mut tty, b"a\r");
        assert_eq!(read_now(&mut tty, 10), b"a\n");

        let mut tty = tty_with(|t| t.c_iflag |= IGNCR);
        assert_eq!(feed(&mut tty, b"a\r\n"), b"a\r\n");
        assert_eq!(read_now(&mut tty, 10), b"a\n", "IGNCR drops the CR");

        let mut tty = tty_with(|t| t.c_iflag = (t.c_iflag & !ICRNL) | INLCR);
        feed(&mut tty, b"a\n\r");
        assert!(
            !tty.readable(),
            "INLCR turned the newline into CR; CR ends no line"
        );
        assert_eq!(tty.inq(), 0);
    }

    #[test]
    fn echo_off_and_echonl() {
        let mut tty = tty_with(|t| t.c_lflag &= !ECHO);
        assert_eq!(feed(&mut tty, b"secret\n"), b"");
        assert_eq!(read_now(&mut tty, 100), b"secret\n");
        let mut tty = tty_with(|t| t.c_lflag = (t.c_lflag & !ECHO) | ECHONL);
        assert_eq!(feed(&mut tty, b"pw\n"), b"\r\n");
    }

    #[test]
    fn lnext_takes_the_next_byte_literally() {
        let mut tty = Tty::new();
        assert_eq!(feed(&mut tty, &[CTRL_V]), b"^\x08");
        let fx = tty.receive(CTRL_C);
        assert_eq!((fx.signal, fx.echo.as_slice()), (None, &b"^C"[..]));
        feed(&mut tty, &[CTRL_V, DEL, b'\n']);
        assert_eq!(read_now(&mut tty, 10), [CTRL_C, DEL, b'\n']);
    }

    #[test]
    fn reprint_and_eol() {
        let mut tty = Tty::new();
        feed(&mut tty, b"ab");
        assert_eq!(feed(&mut tty, &[CTRL_R]), b"^R\r\nab");

        let mut tty = tty_with(|t| t.c_cc[VEOL] = b'!');
        let fx = tty.receive(b'a');
        assert!(!fx.wake_readers);
        let fx = tty.receive(b'!');
        assert!(fx.wake_readers);
        assert_eq!(fx.echo, b"!");
        assert_eq!(read_now(&mut tty, 10), b"a!");
    }

    #[test]
    fn utf8_erase_removes_the_whole_character() {
        let mut tty = tty_with(|t| t.c_iflag |= IUTF8);
        feed(&mut tty, "xé".as_bytes());
        assert_eq!(feed(&mut tty, &[DEL]), b"\x08 \x08");
        feed(&mut tty, b"\n");
        assert_eq!(read_now(&mut tty, 10), b"x\n");
    }

    #[test]
    fn echoprt_shows_erased_characters_between_slashes() {
        let mut tty = tty_with(|t| t.c_lflag |= ECHOPRT);
        feed(&mut tty, b"ab");
        assert_eq!(feed(&mut tty, &[DEL, DEL]), b"\\ba/");
    }

    #[test]
    fn istrip_and_iuclc() {
        let mut tty = tty_with(|t| t.c_iflag |= ISTRIP | IUCLC);
        feed(&mut tty, &[b'A' | 0x80, b'B', b'\n']);
        assert_eq!(read_now(&mut tty, 10), b"ab\n");
    }

    #[test]
    fn raw_vmin1_waits_for_one_byte() {
        let mut tty = raw(1, 0);
        let mut op = ReadOp::new(10);
        assert_eq!(
            tty.read(&mut op, 0).status,
            ReadStatus::Wait { deadline_ns: None }
        );
        assert!(!tty.readable());
        let fx = tty.receive(b'\r');
        assert!(fx.wake_readers);
        assert_eq!(fx.echo, b"");
        let step = tty.read(&mut op, 5);
        assert_eq!(
            (step.data.as_slice(), step.status),
            (&b"\r"[..], ReadStatus::Done)
        );
    }

    #[test]
    fn raw_vmin0_vtime0_returns_at_once() {
        let mut tty = raw(0, 0);
        let mut op = ReadOp::new(10);
        let step = tty.read(&mut op, 123);
        assert_eq!((step.data.len(), step.status), (0, ReadStatus::Done));
        feed(&mut tty, b"xy");
        assert_eq!(read_now(&mut tty, 10), b"xy");
    }

    #[test]
    fn raw_vmin0_vtime_is_an_overall_timeout() {
        let mut tty = raw(0, 5);
        let mut op = ReadOp::new(10);
        let start = 1_000;
        let deadline = start + 500_000_000;
        let step = tty.read(&mut op, start);
        assert_eq!(
            step.status,
            ReadStatus::Wait {
                deadline_ns: Some(deadline)
            }
        );
        // A spurious wake-up does not restart the timer.
        let step = tty.read(&mut op, start + 100);
        assert_eq!(
            step.status,
            ReadStatus::Wait {
                deadline_ns: Some(deadline)
            }
        );
        let step = tty.read(&mut op, deadline);
        assert_eq!((step.data.len(), step.status), (0, ReadStatus::Done));

        let mut op = ReadOp::new(10);
        tty.read(&mut op, 0);
        feed(&mut tty, b"k");
        let step = tty.read(&mut op, 10);
        assert_eq!(
            (step.data.as_slice(), step.status),
            (&b"k"[..], ReadStatus::Done)
        );
    }

    #[test]
    fn raw_vmin_vtime_is_an_inter_byte_timer() {
        let mut tty = raw(3, 2);
        let mut op = ReadOp::new(10);
        assert_eq!(
            tty.read(&mut op, 0).status,
            ReadStatus::Wait { deadline_ns: None }
        );
        feed(&mut tty, b"a");
        let step = tty.read(&mut op, 1_000);
        assert_eq!(step.data, b"a");
        assert_eq!(
            step.status,
            ReadStatus::Wait {
                deadline_ns: Some(200_001_000)
            }
        );
        feed(&mut tty, b"b");
        let step = tty.read(&mut op, 100_000_000);
        assert_eq!(step.data, b"b");
        assert_eq!(
            step.status,
            ReadStatus::Wait {
                deadline_ns: Some(300_000_000)
            }
        );
        let step = tty.read(&mut op, 300_000_000);
        assert_eq!((step.data.len(), step.status), (0, ReadStatus::Done));
        assert_eq!(op.taken(), 2);

        // Enough bytes complete it; more than VMIN are taken when available.
        feed(&mut tty, b"wxyz");
        let mut op = ReadOp::new(10);
        assert_eq!(tty.read(&mut op, 0).data, b"wxyz");
    }

    #[test]
    fn raw_vmin_without_vtime_waits_for_vmin() {
        let mut tty = raw(2, 0);
        feed(&mut tty, b"a");
        assert!(!tty.readable(), "poll wants VMIN bytes when VTIME is 0");
        let mut op = ReadOp::new(10);
        let step = tty.read(&mut op, 0);
        assert_eq!(
            (step.data.as_slice(), step.status),
            (&b"a"[..], ReadStatus::Wait { deadline_ns: None })
        );
        feed(&mut tty, b"b");
        assert_eq!(tty.read(&mut op, 0).status, ReadStatus::Done);
        // A buffer smaller than VMIN completes when full.
        feed(&mut tty, b"cd");
        assert_eq!(read_now(&mut tty, 1), b"c");
    }

    #[test]
    fn noncanonical_echo_shows_a_literal_newline_as_caret_j() {
        let mut tty = tty_with(|t| t.c_lflag &= !ICANON);
        assert_eq!(feed(&mut tty, b"a\n\r"), b"a^J\r\n");
        assert_eq!(read_now(&mut tty, 10), b"a\n\n");
    }

    #[test]
    fn output_processing() {
        let mut tty = Tty::new();
        assert_eq!(tty.process_output(b"a\nb"), b"a\r\nb");
        let mut tty = tty_with(|t| t.c_oflag &= !OPOST);
        assert_eq!(tty.process_output(b"a\nb"), b"a\nb");
        let mut tty = tty_with(|t| t.c_oflag |= XTABS | OLCUC);
        assert_eq!(tty.process_output(b"ab\tc"), b"AB      C");
        let mut tty = tty_with(|t| t.c_oflag = OPOST | OCRNL | ONOCR);
        assert_eq!(tty.process_output(b"\rx\r"), b"x\n");
    }

    #[test]
    fn noncanonical_buffer_holds_4095_bytes() {
        let mut tty = raw(1, 0);
        for i in 0..4095 {
            assert!(tty.receive(i as u8).accepted, "byte {i}");
        }
        assert!(!tty.can_receive());
        let fx = tty.receive(b'z');
        assert!(!fx.accepted);
        assert_eq!(tty.inq(), 4095);
        let data = read_now(&mut tty, 10);
        assert_eq!(data, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert!(tty.can_receive());
        assert!(tty.receive(b'z').accepted);
        let rest = read_now(&mut tty, 5000);
        assert_eq!(rest.len(), 4086);
        assert_eq!(rest.last(), Some(&b'z'));
    }

    #[test]
    fn canonical_overflow_keeps_the_line_editable() {
        let mut tty = tty_with(|t| t.c_lflag &= !ECHO);
        for _ in 0..5000 {
            assert!(tty.receive(b'a').accepted);
        }
        // Past 4095 bytes each byte replaces the last; erase and newline still work.
        feed(&mut tty, &[b'b', DEL, b'c', b'\n']);
        let line = read_now(&mut tty, 8192);
        assert_eq!(line.len(), 4096);
        assert!(line[..4094].iter().all(|&b| b == b'a'));
        assert_eq!(&line[4094..], b"c\n");
    }

    #[test]
    fn full_buffer_with_a_complete_line_refuses_input() {
        let mut tty = tty_with(|t| t.c_lflag &= !ECHO);
        feed(&mut tty, b"x\n");
        for _ in 0..4093 {
            assert!(tty.receive(b'a').accepted);
        }
        assert!(!tty.receive(CTRL_C).accepted, "even ^C waits for room");
        assert_eq!(read_now(&mut tty, 100), b"x\n");
        assert!(tty.receive(CTRL_C).accepted);
    }

    #[test]
    fn canonical_to_raw_makes_the_partial_line_readable() {
        let mut tty = Tty::new();
        feed(&mut tty, b"par");
        assert!(!tty.readable());
        let mut t = *tty.termios();
        t.c_lflag &= !ICANON;
        tty.set_termios(t, SetAction::Now);
        assert!(tty.readable());
        assert_eq!(tty.inq(), 3);
        assert_eq!(read_now(&mut tty, 10), b"par");
    }

    #[test]
    fn raw_to_canonical_makes_pending_bytes_a_line() {
        let mut tty = raw(1, 0);
        feed(&mut tty, b"xyz");
        let mut t = *tty.termios();
        t.c_lflag |= ICANON;
        tty.set_termios(t, SetAction::Now);
        assert!(tty.readable());
        assert_eq!(read_now(&mut tty, 10), b"xyz");
        assert!(!tty.readable());
    }

    #[test]
    fn tcsetsf_and_tcflsh_discard_input() {
        let mut tty = Tty::new();
        feed(&mut tty, b"line\n");
        let t = *tty.termios();
        tty.set_termios(t, SetAction::Drain);
        assert!(tty.readable());
        tty.set_termios(t, SetAction::Flush);
        assert!(!tty.readable());
        assert_eq!(SetAction::of_ioctl(TCSETSF), Some(SetAction::Flush));
        assert_eq!(SetAction::of_ioctl(TCGETS), None);

        feed(&mut tty, b"more\n");
        assert_eq!(tty.flush(TCOFLUSH), Ok(true));
        assert!(tty.readable());
        assert_eq!(tty.flush(TCIFLUSH), Ok(false));
        assert!(!tty.readable());
        assert_eq!(tty.flush(7), Err(Errno::EINVAL));
    }

    #[test]
    fn inq_counts_complete_lines_in_canonical_mode() {
        let mut tty = Tty::new();
        feed(&mut tty, b"ab\ncd");
        assert_eq!(tty.inq(), 3);
        let mut t = *tty.termios();
        t.c_lflag &= !ICANON;
        tty.set_termios(t, SetAction::Now);
        assert_eq!(tty.inq(), 5);
    }

    #[test]
    fn ixon_stops_and_starts_output() {
        let mut tty = Tty::new();
        let fx = tty.receive(CTRL_S);
        assert_eq!((fx.flow, fx.echo.len()), (Some(Flow::Stopped), 0));
        assert!(tty.output_stopped());
        assert_eq!(
            feed(&mut tty, b"a"),
            b"a",
            "other input does not restart without IXANY"
        );
        assert!(tty.output_stopped());
        assert_eq!(tty.receive(CTRL_Q).flow, Some(Flow::Started));
        assert!(!tty.output_stopped());
        feed(&mut tty, b"\n");
        assert_eq!(read_now(&mut tty, 10), b"a\n", "^S/^Q are not data");

        let mut tty = tty_with(|t| t.c_iflag |= IXANY);
        tty.receive(CTRL_S);
        assert_eq!(tty.receive(b'x').flow, Some(Flow::Started));

        // TCOOFF is undone only by TCOON.
        let mut tty = Tty::new();
        assert_eq!(tty.tcxonc(TCOOFF), Ok((Some(Flow::Stopped), None)));
        assert_eq!(tty.receive(CTRL_Q).flow, None);
        assert!(tty.output_stopped());
        assert_eq!(tty.tcxonc(TCOON), Ok((Some(Flow::Started), None)));
        assert_eq!(tty.tcxonc(TCIOFF), Ok((None, Some(CTRL_S))));
        assert_eq!(tty.tcxonc(TCION), Ok((None, Some(CTRL_Q))));
        assert_eq!(tty.tcxonc(9), Err(Errno::EINVAL));

        // Turning IXON off restarts output stopped by ^S.
        let mut tty = Tty::new();
        tty.receive(CTRL_S);
        let mut t = *tty.termios();
        t.c_iflag &= !IXON;
        assert_eq!(tty.set_termios(t, SetAction::Now).flow, Some(Flow::Started));
    }

    #[test]
    fn break_handling() {
        let mut tty = tty_with(|t| t.c_iflag |= BRKINT);
        assert_eq!(tty.receive_break().signal, Some(SIGINT));
        let mut tty = raw(1, 0);
        tty.receive_break();
        assert_eq!(read_now(&mut tty, 10), [0]);
    }

    #[test]
    fn parmrk_doubles_0xff() {
        let mut tty = raw(1, 0);
        let mut t = *tty.termios();
        t.c_iflag |= PARMRK;
        tty.set_termios(t, SetAction::Now);
        feed(&mut tty, &[0xff]);
        assert_eq!(read_now(&mut tty, 10), [0xff, 0xff]);
    }

    #[test]
    fn zero_length_read_is_done() {
        let mut tty = Tty::new();
        let mut op = ReadOp::new(0);
        assert_eq!(tty.read(&mut op, 0).status, ReadStatus::Done);
    }
}
