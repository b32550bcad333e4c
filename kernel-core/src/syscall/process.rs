//! Process-identity system calls.

use crate::process::Process;
use hal::arch::Arch;

/// The parent's pid: init's parent is the kernel (0), as on Linux.
pub fn parent_pid<A: Arch>(p: &Process<A>) -> u64 {
    match p.pid {
        1 => 0,
        // Only init exists until fork arrives; any other pid would have init as parent.
        _ => 1,
    }
}
