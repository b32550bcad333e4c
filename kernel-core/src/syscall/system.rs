//! System-information system calls.

use crate::errno::{Errno, SysResult};
use crate::task::{Kernel, Tid};
use hal::arch::Arch;

/// Each `struct utsname` field is 65 bytes (`__NEW_UTS_LEN + 1`).
const UTS_FIELD: usize = 65;

/// The release reported to programs. C libraries and runtimes compare it against minimum kernel
/// versions, so it names the Linux ABI level Cyphera implements, with our suffix.
pub const RELEASE: &str = "6.1.0-cyphera";
/// `sysname` is "Linux": programs take it to mean "speaks the Linux ABI", which is the promise.
pub const SYSNAME: &str = "Linux";

/// The names sethostname/setdomainname change (Linux's defaults until then).
pub struct HostNames {
    pub host: alloc::vec::Vec<u8>,
    pub domain: alloc::vec::Vec<u8>,
}

impl Default for HostNames {
    fn default() -> Self {
        Self {
            host: b"cyphera".to_vec(),
            domain: b"(none)".to_vec(),
        }
    }
}

pub fn utsname(machine: &str, names: &HostNames) -> [u8; 6 * UTS_FIELD] {
    let version = concat!("#1 Cyphera ", env!("CARGO_PKG_VERSION"));
    let fields: [&[u8]; 6] = [
        SYSNAME.as_bytes(),
        &names.host,
        RELEASE.as_bytes(),
        version.as_bytes(),
        machine.as_bytes(),
        &names.domain,
    ];
    let mut out = [0u8; 6 * UTS_FIELD];
    for (i, field) in fields.iter().enumerate() {
        let n = field.len().min(UTS_FIELD - 1);
        out[i * UTS_FIELD..i * UTS_FIELD + n].copy_from_slice(&field[..n]);
    }
    out
}

pub fn uname<A: Arch>(k: &mut Kernel<A>, tid: Tid, buf: u64) -> SysResult {
    let names = utsname(A::MACHINE, &k.host_names);
    k.user(tid).write(buf, &names)?;
    Ok(0)
}

/// sethostname/setdomainname: at most 64 bytes (__NEW_UTS_LEN), else EINVAL.
pub fn set_name<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    name: u64,
    len: u64,
    domain: bool,
) -> SysResult {
    if len > (UTS_FIELD - 1) as u64 {
        return Err(Errno::EINVAL);
    }
    let mut bytes = alloc::vec![0u8; len as usize];
    k.user(tid).read(name, &mut bytes)?;
    if domain {
        k.host_names.domain = bytes;
    } else {
        k.host_names.host = bytes;
    }
    Ok(0)
}

const GRND_NONBLOCK: u64 = 1;
const GRND_RANDOM: u64 = 2;
const GRND_INSECURE: u64 = 4;
/// Linux returns at most this much per call (and never blocks once seeded).
const GETRANDOM_MAX: u64 = 32 << 20;

pub fn getrandom<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    buf: u64,
    len: u64,
    flags: u64,
) -> SysResult {
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
        || flags & (GRND_RANDOM | GRND_INSECURE) == (GRND_RANDOM | GRND_INSECURE)
    {
        return Err(Errno::EINVAL);
    }
    let len = len.min(GETRANDOM_MAX);
    let mut chunk = [0u8; 256];
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(chunk.len() as u64) as usize;
        k.rng.fill(&mut chunk[..n]);
        let at = buf.checked_add(done).ok_or(Errno::EFAULT)?;
        if let Err(e) = k.user(tid).write(at, &chunk[..n]) {
            return if done > 0 { Ok(done) } else { Err(e) };
        }
        done += n as u64;
    }
    Ok(done)
}

const LINUX_REBOOT_MAGIC1: u64 = 0xfee1_dead;
/// The four accepted second magics (Linus's and his daughters' birthdays).
const LINUX_REBOOT_MAGIC2: [u64; 4] = [672_274_793, 85_072_278, 369_367_448, 537_993_216];
const CMD_RESTART: u32 = 0x0123_4567;
const CMD_HALT: u32 = 0xcdef_0123;
const CMD_CAD_ON: u32 = 0x89ab_cdef;
const CMD_CAD_OFF: u32 = 0;
const CMD_POWER_OFF: u32 = 0x4321_fedc;
const CMD_RESTART2: u32 = 0xa1b2_c3d4;

/// reboot(2): power off, restart or halt end the run loop (the board then does it);
/// Ctrl-Alt-Del settings are accepted (there is no such key on a serial console).
pub fn reboot<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    magic1: u64,
    magic2: u64,
    cmd: u64,
) -> SysResult {
    if magic1 as u32 as u64 != LINUX_REBOOT_MAGIC1
        || !LINUX_REBOOT_MAGIC2.contains(&(magic2 as u32 as u64))
    {
        return Err(Errno::EINVAL);
    }
    let pid = k.threads[&tid].pid;
    let end = match cmd as u32 {
        CMD_CAD_ON | CMD_CAD_OFF => return Ok(0),
        CMD_POWER_OFF => crate::task::InitEnd::PowerOff,
        CMD_RESTART | CMD_RESTART2 => crate::task::InitEnd::Restart,
        CMD_HALT => crate::task::InitEnd::Halt,
        _ => return Err(Errno::EINVAL),
    };
    log::info!("reboot(2) by pid {pid}: {end:?}");
    k.init_end = Some(end);
    Ok(0)
}
