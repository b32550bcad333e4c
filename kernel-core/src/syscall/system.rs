//! System-information system calls.

use crate::errno::SysResult;
use crate::process::Process;
use crate::uaccess;
use hal::arch::Arch;

/// Each `struct utsname` field is 65 bytes (`__NEW_UTS_LEN + 1`).
const UTS_FIELD: usize = 65;

/// The release reported to programs. C libraries and runtimes compare it against minimum kernel
/// versions, so it names the Linux ABI level Cyphera implements, with our suffix.
pub const RELEASE: &str = "6.1.0-cyphera";
/// `sysname` is "Linux": programs take it to mean "speaks the Linux ABI", which is the promise.
pub const SYSNAME: &str = "Linux";

pub fn utsname(machine: &str) -> [u8; 6 * UTS_FIELD] {
    let version = concat!("#1 Cyphera ", env!("CARGO_PKG_VERSION"));
    let fields = [SYSNAME, "cyphera", RELEASE, version, machine, "(none)"];
    let mut out = [0u8; 6 * UTS_FIELD];
    for (i, field) in fields.iter().enumerate() {
        let n = field.len().min(UTS_FIELD - 1);
        out[i * UTS_FIELD..i * UTS_FIELD + n].copy_from_slice(&field.as_bytes()[..n]);
    }
    out
}

pub fn uname<A: Arch>(p: &mut Process<A>, buf: u64) -> SysResult {
    uaccess::write_bytes(&p.space, A::USER_END, buf, &utsname(A::MACHINE))?;
    Ok(0)
}
