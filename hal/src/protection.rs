//! The hardware protections that keep the kernel apart from user code, in arch-neutral terms:
//! how a kernel-mode fault that one of them caught is explained ([`KernelFault`]), and the
//! deliberate violations (`cyphera.selftest=NAME` on the command line) that demonstrate each one
//! on a running kernel ([`Violation`]).

use core::fmt;

/// A deliberate breach of one protection, made by the kernel itself at boot when the command
/// line asks for it. Each one must end in a kernel fault that [`KernelFault`] names; if the
/// access goes through, the protection is off and the kernel says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// Load from a present user page through its user address (SMAP / PAN).
    ReadUser,
    /// Store to a present, writable user page through its user address (SMAP / PAN).
    WriteUser,
    /// Call into a present, executable user page (SMEP / PXN).
    ExecuteUser,
    /// Store to the kernel's own code (read-only text: CR0.WP / AP read-only).
    WriteText,
    /// Store to the kernel's read-only data.
    WriteRodata,
    /// Call into writable kernel data holding a return instruction (NX / XN, W^X).
    ExecuteData,
    /// Recurse on the kernel stack until it runs into the guard page below it.
    StackOverflow,
    /// Load from the guard page under the last of the kernel's other stacks (the trap and
    /// exception stacks), after checking in the page tables that every guard page is unmapped.
    GuardPage,
}

impl Violation {
    pub const ALL: [Violation; 8] = [
        Violation::ReadUser,
        Violation::WriteUser,
        Violation::ExecuteUser,
        Violation::WriteText,
        Violation::WriteRodata,
        Violation::ExecuteData,
        Violation::StackOverflow,
        Violation::GuardPage,
    ];

    /// The name used on the command line (`cyphera.selftest=read-user`).
    pub const fn name(self) -> &'static str {
        match self {
            Violation::ReadUser => "read-user",
            Violation::WriteUser => "write-user",
            Violation::ExecuteUser => "execute-user",
            Violation::WriteText => "write-text",
            Violation::WriteRodata => "write-rodata",
            Violation::ExecuteData => "execute-data",
            Violation::StackOverflow => "stack-overflow",
            Violation::GuardPage => "guard-page",
        }
    }

    pub fn from_name(name: &str) -> Option<Violation> {
        Violation::ALL.into_iter().find(|v| v.name() == name)
    }
}

/// Why the kernel faulted, as far as the arch's fault registers tell. `protection` is the arch's
/// name for the mechanism (e.g. "SMAP" or "PAN"), so that the report names what caught it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelFault {
    /// Data access to a user address outside the user-copy helpers (which go through the
    /// direct map and never use user addresses).
    UserAccess {
        address: u64,
        write: bool,
        protection: &'static str,
    },
    /// Instruction fetch from a user page.
    UserExecute {
        address: u64,
        protection: &'static str,
    },
    /// An access to the guard page under a kernel stack.
    StackGuard { address: u64 },
    /// Store to a read-only kernel page (text or rodata).
    WriteReadOnly { address: u64 },
    /// Instruction fetch from a kernel page that is not executable.
    ExecuteNever {
        address: u64,
        protection: &'static str,
    },
    /// Anything else: a plain kernel bug (an unmapped address, an undefined instruction, ...).
    Other,
}

impl fmt::Display for KernelFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            KernelFault::UserAccess {
                address,
                write,
                protection,
            } => write!(
                f,
                "{protection} stopped a kernel {} of user memory at {address:#x}",
                if write { "write" } else { "read" }
            ),
            KernelFault::UserExecute {
                address,
                protection,
            } => write!(
                f,
                "{protection} stopped the kernel executing user memory at {address:#x}"
            ),
            KernelFault::StackGuard { address } => {
                write!(f, "kernel stack overflow: guard page hit at {address:#x}")
            }
            KernelFault::WriteReadOnly { address } => {
                write!(f, "write to read-only kernel memory at {address:#x}")
            }
            KernelFault::ExecuteNever {
                address,
                protection,
            } => write!(
                f,
                "{protection} stopped the kernel executing non-executable memory at {address:#x}"
            ),
            KernelFault::Other => write!(f, "not a protection fault"),
        }
    }
}

/// A half-open range of kernel virtual addresses (a guard page).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuardRange {
    pub start: u64,
    pub end: u64,
}

impl GuardRange {
    pub fn contains(&self, address: u64) -> bool {
        self.start <= address && address < self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    #[test]
    fn names_round_trip_and_are_unique() {
        for v in Violation::ALL {
            assert_eq!(Violation::from_name(v.name()), Some(v));
        }
        assert_eq!(Violation::from_name("read"), None);
        assert_eq!(Violation::from_name(""), None);
    }

    #[test]
    fn reports_name_the_protection_and_address() {
        let smap = KernelFault::UserAccess {
            address: 0x7fff_f000,
            write: false,
            protection: "SMAP",
        };
        assert_eq!(
            smap.to_string(),
            "SMAP stopped a kernel read of user memory at 0x7ffff000"
        );
        assert_eq!(
            KernelFault::StackGuard { address: 0x1000 }.to_string(),
            "kernel stack overflow: guard page hit at 0x1000"
        );
        let guard = GuardRange {
            start: 0x1000,
            end: 0x2000,
        };
        assert!(guard.contains(0x1000) && guard.contains(0x1fff) && !guard.contains(0x2000));
    }
}
