//! Arm Power State Coordination Interface (DEN 0022) 0.2+: SYSTEM_OFF and SYSTEM_RESET through
//! the conduit the device tree's `/psci` node names (`method = "hvc"` or `"smc"`).

/// PSCI function IDs (SMC32 calling convention).
pub const PSCI_VERSION: u32 = 0x8400_0000;
pub const SYSTEM_OFF: u32 = 0x8400_0008;
pub const SYSTEM_RESET: u32 = 0x8400_0009;

/// How PSCI calls reach the firmware or hypervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    Hvc,
    Smc,
}

impl Conduit {
    /// Parses the `/psci` node's `method` property.
    pub fn from_method(method: &str) -> Option<Self> {
        match method.trim_end_matches('\0') {
            "hvc" => Some(Self::Hvc),
            "smc" => Some(Self::Smc),
            _ => None,
        }
    }
}

/// True for `compatible` strings of PSCI versions that define SYSTEM_OFF/SYSTEM_RESET with the
/// standard function IDs (0.2 and later; plain "arm,psci" is 0.1 with per-DT function IDs).
pub fn compatible_has_standard_ids(compatible: &str) -> bool {
    compatible.starts_with("arm,psci-") && compatible != "arm,psci-0.1"
}

pub struct Psci {
    conduit: Conduit,
}

impl Psci {
    pub const fn new(conduit: Conduit) -> Self {
        Self { conduit }
    }

    pub fn conduit(&self) -> Conduit {
        self.conduit
    }
}

#[cfg(target_arch = "aarch64")]
impl Psci {
    /// Issues PSCI call `function` with no arguments; returns x0.
    fn call(&self, function: u32) -> u64 {
        let mut x0 = u64::from(function);
        // SAFETY: an SMCCC call: the firmware/hypervisor may clobber x0..x17 (declared), it does
        // not touch kernel memory. For SYSTEM_OFF/RESET it does not return on success.
        unsafe {
            match self.conduit {
                Conduit::Hvc => core::arch::asm!(
                    "hvc #0",
                    inout("x0") x0,
                    inout("x1") 0u64 => _, inout("x2") 0u64 => _, inout("x3") 0u64 => _,
                    out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _, out("x9") _,
                    out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _,
                    out("x15") _, out("x16") _, out("x17") _,
                    options(nostack)
                ),
                Conduit::Smc => core::arch::asm!(
                    "smc #0",
                    inout("x0") x0,
                    inout("x1") 0u64 => _, inout("x2") 0u64 => _, inout("x3") 0u64 => _,
                    out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _, out("x9") _,
                    out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _,
                    out("x15") _, out("x16") _, out("x17") _,
                    options(nostack)
                ),
            }
        }
        x0
    }

    /// `(major, minor)` of the implemented PSCI version.
    pub fn version(&self) -> (u16, u16) {
        let v = self.call(PSCI_VERSION) as u32;
        ((v >> 16) as u16, v as u16)
    }

    fn halt() -> ! {
        loop {
            // SAFETY: waiting for an event; interrupts are masked in the kernel so this idles.
            unsafe { core::arch::asm!("wfe", options(nomem, nostack, preserves_flags)) };
        }
    }
}

#[cfg(target_arch = "aarch64")]
impl hal::power::Power for Psci {
    /// PSCI cannot carry an exit status; the console marker printed by the core carries it.
    fn power_off(&self, _status: u8) -> ! {
        self.call(SYSTEM_OFF);
        Self::halt()
    }

    fn reboot(&self) -> ! {
        self.call(SYSTEM_RESET);
        Self::halt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_strings() {
        assert_eq!(Conduit::from_method("hvc"), Some(Conduit::Hvc));
        assert_eq!(Conduit::from_method("smc\0"), Some(Conduit::Smc));
        assert_eq!(Conduit::from_method("svc"), None);
        assert_eq!(Conduit::from_method(""), None);
    }

    #[test]
    fn compatible_versions() {
        assert!(compatible_has_standard_ids("arm,psci-1.0"));
        assert!(compatible_has_standard_ids("arm,psci-0.2"));
        assert!(!compatible_has_standard_ids("arm,psci"));
        assert!(!compatible_has_standard_ids("arm,psci-0.1"));
        assert_eq!(Psci::new(Conduit::Smc).conduit(), Conduit::Smc);
    }
}
