//! Building a program image for execve and init: a new address space ([`Vm`]) and the registers
//! that start it, from an ELF image ([`Vm::load`] does the mapping and the initial stack).

use crate::memory::Frames;
use crate::vm::Vm;

pub use crate::vm::DEFAULT_STACK_LIMIT;
use alloc::string::String;
use hal::arch::Arch;
use hal::user::UserContext;

pub use crate::vm::{ExecError, PIE_BASE};

/// Linux's comm is 16 bytes including the NUL.
const COMM_LEN: usize = 15;

/// The base name of `path` cut to Linux's comm length.
pub fn comm(path: &str) -> String {
    let base = path.rsplit('/').find(|s| !s.is_empty()).unwrap_or(path);
    base.chars().take(COMM_LEN).collect()
}

/// Builds a new address space from `image`, with the stack growing to `stack_limit`
/// (RLIMIT_STACK; [`DEFAULT_STACK_LIMIT`] for init), and the registers to start it: what
/// `execve` needs before its point of no return. Nothing of the new image survives an error.
pub fn load<A: Arch>(
    path: &str,
    image: &[u8],
    argv: &[&[u8]],
    envp: &[&[u8]],
    stack_limit: u64,
    frames: &mut dyn Frames,
) -> Result<(Vm<A>, A::Context), ExecError> {
    let (vm, start) = Vm::<A>::load(path, image, argv, envp, stack_limit, frames)?;
    Ok((vm, A::Context::new(start.entry, start.stack_pointer)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comm_is_the_base_name_cut_to_15_bytes() {
        assert_eq!(comm("/init"), "init");
        assert_eq!(comm("/bin/a-very-long-program-name"), "a-very-long-pro");
        assert_eq!(comm("/usr/bin/"), "bin");
        assert_eq!(comm("hello"), "hello");
    }
}
