//! Cyphera's arch-neutral kernel core. Host-testable: no `unsafe`, no architecture named.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

extern crate alloc;

pub mod console;
pub mod cpio;
pub mod elf;
pub mod initial_stack;
pub mod memory;
pub mod start;

pub use start::{Platform, start};
