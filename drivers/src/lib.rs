//! Generic device drivers, each named after the hardware block it drives, each implementing a
//! `hal` trait. Boards pick and wire them; nothing here knows which board it is on.
#![cfg_attr(not(test), no_std)]

#[cfg(target_arch = "x86_64")]
pub mod acpi;
#[cfg(target_arch = "x86_64")]
pub mod apic;
pub mod arm_generic_timer;
pub mod bcm2835_armctrl_ic;
pub mod bcm2835_aux_uart;
pub mod bcm2835_pm_wdt;
pub mod bcm2836_local_intc;
#[cfg(target_arch = "x86_64")]
pub mod cmos_rtc;
pub mod counter;
pub mod devicetree;
pub mod gicv2;
pub mod gicv3;
#[cfg(target_arch = "x86_64")]
pub mod i8254;
#[cfg(target_arch = "x86_64")]
pub mod ioapic;
#[cfg(target_arch = "x86_64")]
pub mod lapic;
#[cfg(target_arch = "x86_64")]
pub mod ns16550;
#[cfg(target_arch = "x86_64")]
pub mod pc_power;
pub mod pl011;
pub mod pl031;
#[cfg(target_arch = "x86_64")]
pub mod port_io;
pub mod psci;
