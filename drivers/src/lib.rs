//! Generic device drivers, each named after the hardware block it drives, each implementing a
//! `hal` trait. Boards pick and wire them; nothing here knows which board it is on.
#![cfg_attr(not(test), no_std)]

pub mod gicv2;
pub mod gicv3;
#[cfg(target_arch = "x86_64")]
pub mod ns16550;
#[cfg(target_arch = "x86_64")]
pub mod pc_power;
pub mod pl011;
#[cfg(target_arch = "x86_64")]
pub mod port_io;
pub mod psci;
