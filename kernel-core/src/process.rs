//! A user process image: its address space ([`Vm`]), registers and name, and `exec`, which builds
//! them from an ELF image ([`Vm::load`] does the mapping and the initial stack).

use crate::memory::Frames;
use crate::vm::{DEFAULT_STACK_LIMIT, Vm};
use alloc::string::String;
use hal::arch::Arch;
use hal::user::UserContext;

pub use crate::vm::{ExecError, PIE_BASE};

/// Linux's comm is 16 bytes including the NUL.
const COMM_LEN: usize = 15;

pub struct Process<A: Arch> {
    pub pid: u32,
    /// The executable's base name, as `/proc/<pid>/comm` shows it.
    pub name: String,
    pub vm: Vm<A>,
    pub context: A::Context,
}

/// The base name of `path` cut to Linux's comm length.
pub fn comm(path: &str) -> String {
    let base = path.rsplit('/').find(|s| !s.is_empty()).unwrap_or(path);
    base.chars().take(COMM_LEN).collect()
}

/// Builds a new address space from `image` with the default stack limit and the registers to
/// start it: what `execve` needs before its point of no return. Nothing of the new image
/// survives an error.
pub fn load<A: Arch>(
    path: &str,
    image: &[u8],
    argv: &[&[u8]],
    envp: &[&[u8]],
    frames: &mut dyn Frames,
) -> Result<(Vm<A>, A::Context), ExecError> {
    let (vm, start) = Vm::<A>::load(path, image, argv, envp, DEFAULT_STACK_LIMIT, frames)?;
    Ok((vm, A::Context::new(start.entry, start.stack_pointer)))
}

/// Builds a new process from `image`: maps every segment, builds the initial stack with `argv`/
/// `envp` and the auxiliary vector, and returns a process ready to enter user mode at the ELF
/// entry point. Nothing of the new image survives an error.
pub fn exec<A: Arch>(
    pid: u32,
    path: &str,
    image: &[u8],
    argv: &[&[u8]],
    envp: &[&[u8]],
    frames: &mut dyn Frames,
) -> Result<Process<A>, ExecError> {
    let (vm, context) = load::<A>(path, image, argv, envp, frames)?;
    Ok(Process {
        pid,
        name: comm(path),
        vm,
        context,
    })
}

impl<A: Arch> Process<A> {
    /// Linux `brk(2)`: see [`Vm::brk`].
    pub fn set_brk(&mut self, requested: u64, frames: &mut dyn Frames) -> u64 {
        self.vm.brk(requested, frames)
    }

    /// Frees every page of the process.
    pub fn destroy(self, frames: &mut dyn Frames) {
        self.vm.destroy(frames);
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
