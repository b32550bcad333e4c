//! Generic device drivers, each named after the hardware block it drives, each implementing a
//! `hal` trait. Boards pick and wire them; nothing here knows which board it is on.
#![cfg_attr(not(test), no_std)]
