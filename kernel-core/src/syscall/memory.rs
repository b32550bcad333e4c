//! Memory-management system calls.

use super::Kernel;
use crate::errno::SysResult;
use crate::process::Process;
use hal::arch::Arch;

/// `brk(2)` never fails with an error code: it returns the break in force afterwards.
pub fn brk<A: Arch>(k: &mut Kernel, p: &mut Process<A>, requested: u64) -> SysResult {
    Ok(p.set_brk(requested, k.frames))
}
