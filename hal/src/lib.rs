//! The traits (and the few plain types they speak in) between Cyphera's arch-neutral core and the
//! per-architecture and per-board code. Traits only: no logic, no `unsafe`.
//!
//! One small trait per hardware concern, in the manner of Tock's `hil`: a board composes drivers
//! that implement [`console::Console`], [`power::Power`], [`irq::IrqController`], [`timer::Timer`];
//! an architecture implements [`arch::Arch`] (user mode, page tables, syscall numbering).
#![no_std]
#![deny(unsafe_code)]

pub mod arch;
pub mod boot;
pub mod console;
pub mod irq;
pub mod mmu;
pub mod power;
pub mod protection;
pub mod rtc;
pub mod signal;
pub mod syscall;
pub mod timer;
pub mod user;
