//! The I/O APIC: routes external interrupt inputs (global system interrupts, GSIs) to a local
//! APIC vector. Registers are reached indirectly through a select/window pair of MMIO words.

use crate::acpi::Signalling;

const IOREGSEL: u64 = 0x00;
const IOWIN: u64 = 0x10;
const REG_VERSION: u32 = 0x01;
/// Redirection entry `pin` is registers 0x10 + 2 pin (low word) and the next (high word).
const REG_REDIRECTION: u32 = 0x10;

const MASKED: u32 = 1 << 16;
const LEVEL: u32 = 1 << 15;
const ACTIVE_LOW: u32 = 1 << 13;

/// One redirection-table entry: fixed delivery, physical destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Redirection {
    pub vector: u8,
    pub destination_apic: u8,
    pub signalling: Signalling,
    pub masked: bool,
}

impl Redirection {
    /// The (low, high) register words.
    pub fn encode(&self) -> (u32, u32) {
        let mut low = u32::from(self.vector);
        if self.signalling.level_triggered {
            low |= LEVEL;
        }
        if self.signalling.active_low {
            low |= ACTIVE_LOW;
        }
        if self.masked {
            low |= MASKED;
        }
        (low, u32::from(self.destination_apic) << 24)
    }
}

pub struct IoApic {
    base: u64,
    gsi_base: u32,
    pins: u32,
    /// The select/window pair is two accesses that must not interleave.
    lock: spin::Mutex<()>,
}

impl IoApic {
    /// The IOAPIC whose registers are mapped (uncached) at virtual address `base`, its pin 0
    /// being GSI `gsi_base`.
    ///
    /// # Safety
    /// `base` must map an IOAPIC's register page for as long as this value lives, and no other
    /// driver may program that IOAPIC.
    pub unsafe fn new(base: u64, gsi_base: u32) -> Self {
        let mut apic = Self {
            base,
            gsi_base,
            pins: 0,
            lock: spin::Mutex::new(()),
        };
        apic.pins = ((apic.read(REG_VERSION) >> 16) & 0xff) + 1;
        apic
    }

    fn read(&self, reg: u32) -> u32 {
        let _guard = self.lock.lock();
        // SAFETY: `base` maps the IOAPIC's registers (constructor contract); IOREGSEL and IOWIN
        // are 32-bit registers inside that page.
        unsafe {
            ((self.base + IOREGSEL) as *mut u32).write_volatile(reg);
            ((self.base + IOWIN) as *const u32).read_volatile()
        }
    }

    fn write(&self, reg: u32, value: u32) {
        let _guard = self.lock.lock();
        // SAFETY: as in `read`.
        unsafe {
            ((self.base + IOREGSEL) as *mut u32).write_volatile(reg);
            ((self.base + IOWIN) as *mut u32).write_volatile(value);
        }
    }

    pub fn pins(&self) -> u32 {
        self.pins
    }

    pub fn gsi_base(&self) -> u32 {
        self.gsi_base
    }

    /// The pin GSI `gsi` arrives on, if it is one of this IOAPIC's.
    pub fn pin_of(&self, gsi: u32) -> Option<u32> {
        gsi.checked_sub(self.gsi_base)
            .filter(|&pin| pin < self.pins)
    }

    pub fn set(&self, pin: u32, entry: Redirection) {
        if pin >= self.pins {
            return;
        }
        let (low, high) = entry.encode();
        let reg = REG_REDIRECTION + 2 * pin;
        // Mask first so that no half-written entry can deliver.
        self.write(reg, MASKED);
        self.write(reg + 1, high);
        self.write(reg, low);
    }

    pub fn mask(&self, pin: u32) {
        if pin < self.pins {
            let reg = REG_REDIRECTION + 2 * pin;
            let low = self.read(reg);
            self.write(reg, low | MASKED);
        }
    }

    pub fn mask_all(&self) {
        for pin in 0..self.pins {
            self.write(REG_REDIRECTION + 2 * pin, MASKED);
            self.write(REG_REDIRECTION + 2 * pin + 1, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirection_entries_encode_like_the_datasheet() {
        let isa = Redirection {
            vector: 0x34,
            destination_apic: 0,
            signalling: Signalling::ISA,
            masked: false,
        };
        assert_eq!(isa.encode(), (0x34, 0));
        let pci = Redirection {
            vector: 0x40,
            destination_apic: 3,
            signalling: Signalling::PCI,
            masked: true,
        };
        assert_eq!(
            pci.encode(),
            (0x40 | (1 << 15) | (1 << 13) | (1 << 16), 3 << 24)
        );
    }

    #[test]
    fn registers_through_the_window() {
        // A fake register page: IOREGSEL at 0, IOWIN at 0x10, backed by a register file that
        // this test plays the role of, one access at a time.
        #[repr(C, align(16))]
        struct Page([u32; 8]);
        let mut page = Page([0; 8]);
        // Version register: 24 pins → max redirection entry 23.
        page.0[4] = (23 << 16) | 0x20;
        let base = page.0.as_mut_ptr() as u64;
        // SAFETY: `page` outlives `apic` and plays the IOAPIC; the version read goes through
        // the window whatever IOREGSEL holds, since the fake does not decode it.
        let apic = unsafe { IoApic::new(base, 24) };
        assert_eq!(apic.pins(), 24);
        assert_eq!(apic.pin_of(24), Some(0));
        assert_eq!(apic.pin_of(47), Some(23));
        assert_eq!(apic.pin_of(48), None);
        assert_eq!(apic.pin_of(3), None);
        apic.set(
            5,
            Redirection {
                vector: 0x35,
                destination_apic: 1,
                signalling: Signalling::ISA,
                masked: false,
            },
        );
        // The last access selected the low word of entry 5 and wrote the vector.
        assert_eq!(page.0[0], 0x10 + 10);
        assert_eq!(page.0[4], 0x35);
    }
}
