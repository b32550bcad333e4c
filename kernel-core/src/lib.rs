//! Cyphera's arch-neutral kernel core: ELF loading, processes, memory and the meaning of every
//! syscall. Host-testable: no `unsafe`, no architecture named (the `hal` traits stand between).
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

extern crate alloc;

pub mod cmdline;
pub mod console;
pub mod cpio;
pub mod elf;
pub mod errno;
pub mod exec;
pub mod fd;
pub mod futex;
pub mod initial_stack;
pub mod memory;
pub mod proc_text;
pub mod process;
pub mod procview;
pub mod random;
pub mod sched;
pub mod selftest;
pub mod signal;
pub mod start;
pub mod syscall;
pub mod task;
pub mod time;
pub mod tty;
pub mod tty_glue;
pub mod uaccess;
pub mod usermem;
pub mod vfs;
pub mod vm;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod scenario_tests;
#[cfg(test)]
mod testing;

pub use start::{Platform, start};
