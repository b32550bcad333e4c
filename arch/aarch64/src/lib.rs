//! Cyphera's aarch64 support. The hardware-facing modules only build for the bare-metal target; the
//! syscall number table builds everywhere so that it is tested on the host.
#![cfg_attr(not(test), no_std)]

pub mod syscall_table;
