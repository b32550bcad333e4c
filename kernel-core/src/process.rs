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

/// Where a fresh image's argv and envp strings are (Linux's mm->arg_start..arg_end and
/// env_start..env_end): /proc/<pid>/cmdline and environ read this memory, so a program that
/// rewrites its argv (busybox init names itself "init") shows the new text, as on Linux.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArgAreas {
    pub arg: (u64, u64),
    pub env: (u64, u64),
}

/// Finds the areas from the initial stack at `sp` (argc, argv[], NULL, envp[], NULL), given
/// the strings the kernel put there (written one after another).
pub fn arg_areas<A: Arch>(vm: &Vm<A>, sp: u64, argv: &[&[u8]], envp: &[&[u8]]) -> ArgAreas {
    use hal::mmu::AddressSpace;
    let word = |at: u64| {
        let mut raw = [0u8; 8];
        vm.space().read_user(at, &mut raw).ok()?;
        Some(u64::from_le_bytes(raw))
    };
    let total = |list: &[&[u8]]| list.iter().map(|s| s.len() as u64 + 1).sum::<u64>();
    let area = |first: Option<u64>, list: &[&[u8]]| match first {
        Some(start) if !list.is_empty() && start != 0 => (start, start + total(list)),
        _ => (0, 0),
    };
    ArgAreas {
        arg: area(word(sp + 8), argv),
        env: area(word(sp + 8 * (argv.len() as u64 + 2)), envp),
    }
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
