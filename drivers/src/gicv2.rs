//! Arm Generic Interrupt Controller v2 (IHI 0048B): the distributor (shared with
//! [`crate::gicv3`], which uses the same register block in affinity-routing mode) and the
//! memory-mapped CPU interface. Single-CPU use: every SPI is routed to the CPU that runs `init`.

use crate::devicetree::{self, MapMmio, Mmio};
use core::ptr::NonNull;
use fdt::Fdt;
use hal::irq::{IrqController, IrqNumber};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_structs! {
    /// GICD: the distributor (GICv2 and GICv3 share this layout below 0x1000).
    pub GicdRegisters {
        (0x000 => pub(crate) ctlr: ReadWrite<u32>),
        (0x004 => pub(crate) typer: ReadOnly<u32>),
        (0x008 => pub(crate) iidr: ReadOnly<u32>),
        (0x00c => _reserved0),
        (0x080 => pub(crate) igroupr: [ReadWrite<u32>; 32]),
        (0x100 => pub(crate) isenabler: [ReadWrite<u32>; 32]),
        (0x180 => pub(crate) icenabler: [ReadWrite<u32>; 32]),
        (0x200 => pub(crate) ispendr: [ReadWrite<u32>; 32]),
        (0x280 => pub(crate) icpendr: [ReadWrite<u32>; 32]),
        (0x300 => pub(crate) isactiver: [ReadWrite<u32>; 32]),
        (0x380 => pub(crate) icactiver: [ReadWrite<u32>; 32]),
        (0x400 => pub(crate) ipriorityr: [ReadWrite<u32>; 255]),
        (0x7fc => _reserved1),
        (0x800 => pub(crate) itargetsr: [ReadWrite<u32>; 255]),
        (0xbfc => _reserved2),
        (0xc00 => pub(crate) icfgr: [ReadWrite<u32>; 64]),
        (0xd00 => _reserved3),
        (0xf00 => pub(crate) sgir: WriteOnly<u32>),
        (0xf04 => _reserved4),
        (0x1000 => @END),
    }
}

register_structs! {
    /// GICC: the GICv2 CPU interface.
    pub GiccRegisters {
        (0x000 => ctlr: ReadWrite<u32>),
        (0x004 => pmr: ReadWrite<u32>),
        (0x008 => bpr: ReadWrite<u32>),
        (0x00c => iar: ReadOnly<u32>),
        (0x010 => eoir: WriteOnly<u32>),
        (0x014 => rpr: ReadOnly<u32>),
        (0x018 => hppir: ReadOnly<u32>),
        (0x01c => @END),
    }
}

/// Interrupt IDs at or above this are special (1020..1023: spurious and friends).
pub const SPECIAL_INTID: u32 = 1020;
/// Priority given to every interrupt: mid-range, below the priority mask set in `init`.
pub(crate) const DEFAULT_PRIORITY: u32 = 0xa0a0_a0a0;
/// Priority mask: interrupts with a numerically lower (higher) priority than this are signalled.
pub(crate) const PRIORITY_MASK: u32 = 0xf0;

/// Number of interrupt IDs the distributor implements (GICD_TYPER.ITLinesNumber).
pub(crate) fn implemented_lines(gicd: &GicdRegisters) -> u32 {
    (32 * ((gicd.typer.get() & 0x1f) + 1)).min(SPECIAL_INTID)
}

/// Bit `irq % 32` of register `irq / 32`, or `None` for an ID the registers do not cover.
pub(crate) fn bit_of(irq: IrqNumber) -> Option<(usize, u32)> {
    (irq < SPECIAL_INTID).then_some(((irq / 32) as usize, 1 << (irq % 32)))
}

/// `compatible` strings of GICv2 (and v1-compatible) controllers with a memory-mapped CPU
/// interface.
pub const COMPATIBLE: &[&str] = &[
    "arm,gic-400",
    "arm,cortex-a15-gic",
    "arm,cortex-a9-gic",
    "arm,cortex-a7-gic",
];

pub struct GicV2 {
    gicd: NonNull<GicdRegisters>,
    gicc: NonNull<GiccRegisters>,
}

// SAFETY: the driver only performs single volatile register accesses, and the GIC makes each
// of them atomic (enable/pending bits have separate set and clear registers; IAR/EOIR are
// per-CPU), so concurrent use cannot corrupt state.
unsafe impl Sync for GicV2 {}
// SAFETY: the pointers name device memory, not thread-local data.
unsafe impl Send for GicV2 {}

impl GicV2 {
    /// # Safety
    /// `gicd` and `gicc` must be kernel virtual addresses of a GICv2 distributor (4 KiB) and CPU
    /// interface (8 KiB), mapped as device memory, driven by nothing else, valid for as long as
    /// the driver is used.
    pub const unsafe fn new(gicd: NonNull<u8>, gicc: NonNull<u8>) -> Self {
        Self {
            gicd: gicd.cast(),
            gicc: gicc.cast(),
        }
    }

    /// The tree's GICv2 (distributor = `reg` 0, CPU interface = `reg` 1), mapped with `map`.
    /// Not initialised: call `init`. Returns the two mappings too, for the boot log.
    ///
    /// # Safety
    /// `map` must return mappings that satisfy [`GicV2::new`]'s contract for the node's `reg`.
    pub unsafe fn from_device_tree(fdt: &Fdt<'_>, map: MapMmio<'_>) -> Option<(Self, Mmio, Mmio)> {
        let node = devicetree::find_compatible(fdt, COMPATIBLE)?;
        let gicd = devicetree::map_reg(&node, 0, map)?;
        let gicc = devicetree::map_reg(&node, 1, map)?;
        if gicd.size < 0x1000 || gicc.size < 0x1000 {
            return None;
        }
        // SAFETY: the caller vouches for `map`'s mappings.
        Some((unsafe { Self::new(gicd.base, gicc.base) }, gicd, gicc))
    }

    fn gicd(&self) -> &GicdRegisters {
        // SAFETY: `new`'s contract.
        unsafe { self.gicd.as_ref() }
    }

    fn gicc(&self) -> &GiccRegisters {
        // SAFETY: `new`'s contract.
        unsafe { self.gicc.as_ref() }
    }

    /// Interrupt IDs the distributor implements.
    pub fn lines(&self) -> u32 {
        implemented_lines(self.gicd())
    }
}

impl IrqController for GicV2 {
    fn init(&self) {
        let gicd = self.gicd();
        gicd.ctlr.set(0);
        let lines = implemented_lines(gicd);
        for i in 0..(lines / 32) as usize {
            gicd.icenabler[i].set(u32::MAX);
            gicd.icpendr[i].set(u32::MAX);
            gicd.icactiver[i].set(u32::MAX);
        }
        for i in 0..(lines / 4) as usize {
            gicd.ipriorityr[i].set(DEFAULT_PRIORITY);
        }
        // ITARGETSR0..7 are read-only and read back as this CPU's own target bit.
        let this_cpu = match gicd.itargetsr[0].get() & 0xff {
            0 => 1,
            mask => mask,
        };
        for i in 8..(lines / 4) as usize {
            gicd.itargetsr[i].set(this_cpu * 0x0101_0101);
        }
        gicd.ctlr.set(1);

        let gicc = self.gicc();
        gicc.pmr.set(PRIORITY_MASK);
        gicc.bpr.set(0);
        gicc.ctlr.set(1);
    }

    fn enable(&self, irq: IrqNumber) {
        if let Some((reg, bit)) = bit_of(irq) {
            self.gicd().isenabler[reg].set(bit);
        }
    }

    fn disable(&self, irq: IrqNumber) {
        if let Some((reg, bit)) = bit_of(irq) {
            self.gicd().icenabler[reg].set(bit);
        }
    }

    fn acknowledge(&self) -> Option<IrqNumber> {
        let id = self.gicc().iar.get() & 0x3ff;
        (id < SPECIAL_INTID).then_some(id)
    }

    fn end_of_interrupt(&self, irq: IrqNumber) {
        // SGIs would also need the source CPU (IAR bits 12:10); with one CPU it is 0.
        self.gicc().eoir.set(irq & 0x3ff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        _gicd: Box<[u32; 0x400]>,
        _gicc: Box<[u32; 0x8]>,
        d: *mut u32,
        c: *mut u32,
        gic: GicV2,
    }

    impl Fake {
        fn new(typer: u32) -> Self {
            let mut gicd = Box::new([0u32; 0x400]);
            let mut gicc = Box::new([0u32; 0x8]);
            let (d, c) = (gicd.as_mut_ptr(), gicc.as_mut_ptr());
            // SAFETY: both blocks are as large as the register structs and outlive the driver.
            let gic = unsafe {
                GicV2::new(
                    NonNull::new(d.cast()).unwrap(),
                    NonNull::new(c.cast()).unwrap(),
                )
            };
            let f = Self {
                _gicd: gicd,
                _gicc: gicc,
                d,
                c,
                gic,
            };
            f.set_d(0x004, typer);
            f
        }
        fn d(&self, off: usize) -> u32 {
            // SAFETY: in bounds of the fake distributor.
            unsafe { self.d.add(off / 4).read_volatile() }
        }
        fn set_d(&self, off: usize, v: u32) {
            // SAFETY: in bounds of the fake distributor.
            unsafe { self.d.add(off / 4).write_volatile(v) }
        }
        fn c(&self, off: usize) -> u32 {
            // SAFETY: in bounds of the fake CPU interface.
            unsafe { self.c.add(off / 4).read_volatile() }
        }
        fn set_c(&self, off: usize, v: u32) {
            // SAFETY: in bounds of the fake CPU interface.
            unsafe { self.c.add(off / 4).write_volatile(v) }
        }
    }

    #[test]
    fn init_masks_everything_and_enables_the_interfaces() {
        let f = Fake::new(2); // ITLinesNumber 2: 96 interrupt IDs
        f.set_d(0x800, 0x0101_0101);
        f.gic.init();
        assert_eq!(f.gic.lines(), 96);
        for i in 0..3 {
            assert_eq!(f.d(0x180 + 4 * i), u32::MAX, "ICENABLER{i}");
        }
        assert_eq!(f.d(0x180 + 12), 0, "beyond the implemented lines");
        assert_eq!(f.d(0x400 + 4 * 23), DEFAULT_PRIORITY);
        assert_eq!(f.d(0x800 + 4 * 8), 0x0101_0101);
        assert_eq!(f.d(0x000), 1);
        assert_eq!((f.c(0x0), f.c(0x4)), (1, PRIORITY_MASK));
    }

    #[test]
    fn probed_from_the_tree() {
        let fdt = fdt::Fdt::new(crate::devicetree::tests::VIRT_GICV2).unwrap();
        let f = Fake::new(2);
        let seen = core::cell::RefCell::new(Vec::new());
        let map = |pa: u64, size: u64| {
            seen.borrow_mut().push((pa, size));
            NonNull::new(if pa == 0x800_0000 { f.d } else { f.c }.cast::<u8>())
        };
        // SAFETY (test): the fake blocks outlive the driver.
        let (gic, gicd, gicc) = unsafe { GicV2::from_device_tree(&fdt, &map) }.unwrap();
        assert_eq!(
            *seen.borrow(),
            [(0x800_0000, 0x1_0000), (0x801_0000, 0x1_0000)]
        );
        assert_eq!((gicd.phys, gicc.phys), (0x800_0000, 0x801_0000));
        assert_eq!(gic.lines(), 96);
        // The GICv3 tree has no GICv2.
        let v3 = fdt::Fdt::new(crate::devicetree::tests::VIRT_GICV3).unwrap();
        // SAFETY (test): as above.
        assert!(unsafe { GicV2::from_device_tree(&v3, &map) }.is_none());
    }

    #[test]
    fn enable_disable_ack_eoi() {
        let f = Fake::new(2);
        f.gic.enable(33);
        assert_eq!(f.d(0x104), 1 << 1);
        f.gic.disable(95);
        assert_eq!(f.d(0x188), 1 << 31);
        f.gic.enable(1023); // special IDs are ignored, not out-of-bounds
        f.set_c(0xc, 1023);
        assert_eq!(f.gic.acknowledge(), None);
        f.set_c(0xc, (1 << 10) | 27);
        assert_eq!(f.gic.acknowledge(), Some(27));
        f.gic.end_of_interrupt(27);
        assert_eq!(f.c(0x10), 27);
    }
}
