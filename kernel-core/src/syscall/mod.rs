//! The meaning of every system call, keyed by the arch-neutral [`Sysno`]. The arch code has
//! already turned (number, registers) into (`Sysno`, six arguments); this module only knows Linux
//! semantics. Unimplemented and unknown calls return `-ENOSYS`, each reported once.

mod fs;
mod memory;
mod process;
mod system;

use crate::errno::{Errno, SysResult};
use crate::process::Process;
use alloc::collections::BTreeSet;
use hal::arch::Arch;
use hal::console::Console;
use hal::mmu::FrameAllocator;
use hal::syscall::Sysno;
use hal::user::UserContext;

/// Kernel-wide state the syscall handlers use.
pub struct Kernel<'a> {
    pub frames: &'a mut dyn FrameAllocator,
    pub console: &'a dyn Console,
    /// Syscall numbers already reported as unsupported: each is logged once, not per call.
    reported: BTreeSet<u64>,
}

impl<'a> Kernel<'a> {
    pub fn new(frames: &'a mut dyn FrameAllocator, console: &'a dyn Console) -> Self {
        Self {
            frames,
            console,
            reported: BTreeSet::new(),
        }
    }
}

/// What the process does after a system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Resume it with this value in the result register.
    Return(u64),
    /// The whole process exits with this status (0..=255).
    Exit(u8),
}

/// Handles the system call the process just made: decodes it with the arch's table, runs it and
/// stores the result in the process's context.
pub fn handle<A: Arch>(kernel: &mut Kernel, process: &mut Process<A>) -> Outcome {
    let number = process.context.syscall_number();
    let args = process.context.syscall_args();
    let sysno = A::sysno(number);
    let outcome = match sysno.and_then(|s| dispatch(kernel, process, s, args)) {
        Some(outcome) => outcome,
        None => {
            if kernel.reported.insert(number) {
                match sysno {
                    Some(s) => log::warn!(
                        "pid {} ({}): syscall {} ({number}) is not implemented yet, returning -ENOSYS",
                        process.pid,
                        process.name,
                        s.name()
                    ),
                    None => log::warn!(
                        "pid {} ({}): unknown syscall number {number}, returning -ENOSYS",
                        process.pid,
                        process.name
                    ),
                }
            }
            Outcome::Return(Errno::ENOSYS.as_return())
        }
    };
    if let Outcome::Return(value) = outcome {
        process.context.set_syscall_return(value);
    }
    outcome
}

fn ret(result: SysResult) -> Outcome {
    Outcome::Return(match result {
        Ok(v) => v,
        Err(e) => e.as_return(),
    })
}

/// One line per supported call: the arch tables decide the numbers, this decides the meaning.
/// `None`: Linux has the call but Cyphera does not implement it yet.
pub fn dispatch<A: Arch>(
    kernel: &mut Kernel,
    p: &mut Process<A>,
    sysno: Sysno,
    a: [u64; 6],
) -> Option<Outcome> {
    Some(match sysno {
        Sysno::Write => ret(fs::write(kernel, p, a[0], a[1], a[2])),
        Sysno::Writev => ret(fs::writev(kernel, p, a[0], a[1], a[2])),
        Sysno::Exit | Sysno::ExitGroup => Outcome::Exit(a[0] as u8),
        Sysno::Getpid | Sysno::Gettid => ret(Ok(p.pid as u64)),
        Sysno::Getppid => ret(Ok(process::parent_pid(p))),
        Sysno::Uname => ret(system::uname(p, a[0])),
        Sysno::Brk => ret(memory::brk(kernel, p, a[0])),
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
