//! Arm PrimeCell PL031 real-time clock (DDI 0224): a free-running 32-bit seconds counter, the
//! wall clock of QEMU's `virt` machine (which loads it with the host's UTC time). Only read: the
//! match interrupt is left masked.

use crate::devicetree::{self, MapMmio};
use core::ptr::NonNull;
use fdt::Fdt;
use hal::rtc::Rtc;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_structs! {
    pub Pl031Registers {
        /// Data: the current counter value (seconds).
        (0x000 => dr: ReadOnly<u32>),
        (0x004 => mr: ReadWrite<u32>),
        (0x008 => lr: ReadWrite<u32>),
        /// Control: bit 0 starts the counter (and cannot stop it again).
        (0x00c => cr: ReadWrite<u32>),
        (0x010 => imsc: ReadWrite<u32>),
        (0x014 => ris: ReadOnly<u32>),
        (0x018 => mis: ReadOnly<u32>),
        (0x01c => icr: WriteOnly<u32>),
        (0x020 => _reserved),
        (0xfe0 => periph_id: [ReadOnly<u32>; 4]),
        (0xff0 => cell_id: [ReadOnly<u32>; 4]),
        (0x1000 => @END),
    }
}

/// Size of the register block to map.
pub const MMIO_SIZE: u64 = 0x1000;

/// PeriphID0..3 low bytes: part number 0x031, designer 0x41 (Arm); the revision nibble varies.
const PERIPH_ID: [u32; 4] = [0x31, 0x10, 0x04, 0x00];
const PERIPH_ID_MASK: [u32; 4] = [0xff, 0xff, 0x0f, 0xff];
/// PCellID0..3: the PrimeCell identification bytes.
const CELL_ID: [u32; 4] = [0x0d, 0xf0, 0x05, 0xb1];

const CR_START: u32 = 1;

pub struct Pl031 {
    regs: NonNull<Pl031Registers>,
}

// SAFETY: the driver only performs single volatile 32-bit register reads (and writes during
// `init`), which the device makes atomic; it holds no other state.
unsafe impl Sync for Pl031 {}
// SAFETY: the pointer names device memory, not thread-local data.
unsafe impl Send for Pl031 {}

impl Pl031 {
    /// # Safety
    /// `base` must be the kernel virtual address of a PL031 register block ([`MMIO_SIZE`]
    /// bytes, mapped as device memory) that nothing else drives, valid for as long as the driver
    /// is used.
    pub const unsafe fn new(base: NonNull<u8>) -> Self {
        Self { regs: base.cast() }
    }

    /// The first enabled `arm,pl031` of the tree, mapped with `map`, checked to identify itself
    /// as a PL031, and started.
    ///
    /// # Safety
    /// `map` must return mappings that satisfy [`Pl031::new`]'s contract for the node's `reg`.
    pub unsafe fn from_device_tree(fdt: &Fdt<'_>, map: MapMmio<'_>) -> Option<Self> {
        let node = devicetree::find_compatible(fdt, &["arm,pl031"])?;
        let mmio = devicetree::map_reg(&node, 0, map)?;
        if mmio.size < MMIO_SIZE {
            return None;
        }
        // SAFETY: the caller vouches for `map`'s mappings.
        let rtc = unsafe { Self::new(mmio.base) };
        if !rtc.identifies_as_pl031() {
            log::warn!("{} at {:#x} is not a PL031", node.name, mmio.phys);
            return None;
        }
        rtc.init();
        Some(rtc)
    }

    fn regs(&self) -> &Pl031Registers {
        // SAFETY: `new`'s contract: a valid, mapped, exclusively ours register block.
        unsafe { self.regs.as_ref() }
    }

    /// True when the PrimeCell identification registers name a PL031.
    pub fn identifies_as_pl031(&self) -> bool {
        let regs = self.regs();
        (0..4).all(|i| {
            regs.periph_id[i].get() & PERIPH_ID_MASK[i] == PERIPH_ID[i]
                && regs.cell_id[i].get() & 0xff == CELL_ID[i]
        })
    }

    /// Masks the match interrupt and starts the counter if the firmware has not (starting a
    /// running counter has no effect).
    pub fn init(&self) {
        let regs = self.regs();
        regs.imsc.set(0);
        regs.icr.set(1);
        if regs.cr.get() & CR_START == 0 {
            regs.cr.set(CR_START);
        }
    }
}

impl Rtc for Pl031 {
    fn unix_time(&self) -> Option<u64> {
        // A stopped counter does not hold the time.
        let regs = self.regs();
        (regs.cr.get() & CR_START != 0).then(|| u64::from(regs.dr.get()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devicetree::tests::VIRT_GICV2;

    /// A register block in ordinary memory, pre-loaded with the identification registers.
    struct Fake {
        mem: Box<[u32; 0x400]>,
    }

    impl Fake {
        fn new() -> Self {
            let mut mem = Box::new([0u32; 0x400]);
            for i in 0..4 {
                mem[0xfe0 / 4 + i] = PERIPH_ID[i];
                mem[0xff0 / 4 + i] = CELL_ID[i];
            }
            Self { mem }
        }
        fn base(&mut self) -> NonNull<u8> {
            NonNull::new(self.mem.as_mut_ptr().cast::<u8>()).unwrap()
        }
        fn get(&mut self, offset: usize) -> u32 {
            // SAFETY: in bounds of the fake block; volatile like the driver's accesses.
            unsafe { self.base().cast::<u32>().add(offset / 4).read_volatile() }
        }
        fn set(&mut self, offset: usize, value: u32) {
            // SAFETY: as in `get`.
            unsafe {
                self.base()
                    .cast::<u32>()
                    .add(offset / 4)
                    .write_volatile(value)
            }
        }
    }

    #[test]
    fn probes_the_tree_and_reads_seconds() {
        let fdt = Fdt::new(VIRT_GICV2).unwrap();
        let mut fake = Fake::new();
        let base = fake.base();
        let asked = core::cell::Cell::new(0);
        let map = |pa: u64, size: u64| {
            asked.set(pa);
            (size >= MMIO_SIZE).then_some(base)
        };
        // SAFETY (test): `map` returns the fake block, which outlives the driver.
        let rtc = unsafe { Pl031::from_device_tree(&fdt, &map) }.unwrap();
        assert_eq!(asked.get(), 0x901_0000);
        assert_eq!(fake.get(0x0c), CR_START, "started");
        assert_eq!(fake.get(0x10), 0, "match interrupt masked");
        fake.set(0, 1_767_225_600);
        assert_eq!(rtc.unix_time(), Some(1_767_225_600));
        fake.set(0, u32::MAX);
        assert_eq!(rtc.unix_time(), Some(u64::from(u32::MAX)));
    }

    #[test]
    fn a_stopped_counter_has_no_time() {
        let mut fake = Fake::new();
        // SAFETY (test): the fake block outlives the driver.
        let rtc = unsafe { Pl031::new(fake.base()) };
        fake.set(0, 12345);
        assert_eq!(rtc.unix_time(), None);
        rtc.init();
        assert_eq!(rtc.unix_time(), Some(12345));
    }

    #[test]
    fn other_devices_are_refused() {
        let fdt = Fdt::new(VIRT_GICV2).unwrap();
        let mut fake = Fake::new();
        fake.set(0xfe0, 0x11); // a PL011's part number
        let base = fake.base();
        // SAFETY (test): the fake block outlives the driver.
        assert!(unsafe { Pl031::from_device_tree(&fdt, &|_, _| Some(base)) }.is_none());
        assert_eq!(fake.get(0x0c), 0, "not touched");
        // SAFETY (test): as above.
        assert!(unsafe { Pl031::from_device_tree(&fdt, &|_, _| None) }.is_none());
    }
}
