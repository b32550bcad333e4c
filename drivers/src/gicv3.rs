//! Arm Generic Interrupt Controller v3 (IHI 0069): the distributor in affinity-routing mode,
//! this CPU's redistributor, and the system-register CPU interface (ICC_*_EL1, AArch64 only).
//! All interrupts are Group 1 (signalled as IRQ); every SPI is routed to the CPU that runs
//! `init`.

use crate::devicetree::{self, MapMmio, Mmio};
use crate::gicv2::{DEFAULT_PRIORITY, GicdRegisters, implemented_lines};
#[cfg(target_arch = "aarch64")]
use crate::gicv2::{PRIORITY_MASK, SPECIAL_INTID, bit_of};
use core::ptr::NonNull;
use fdt::Fdt;
#[cfg(target_arch = "aarch64")]
use hal::irq::{IrqController, IrqNumber};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

register_structs! {
    /// GICR RD_base frame (the first 64 KiB of a redistributor).
    pub GicrRegisters {
        (0x000 => ctlr: ReadWrite<u32>),
        (0x004 => iidr: ReadOnly<u32>),
        (0x008 => typer: ReadOnly<u64>),
        (0x010 => statusr: ReadWrite<u32>),
        (0x014 => waker: ReadWrite<u32>),
        (0x018 => @END),
    }
}

register_structs! {
    /// GICR SGI_base frame (the second 64 KiB): SGIs and PPIs of this CPU.
    pub GicrSgiRegisters {
        (0x000 => _reserved0),
        (0x080 => igroupr0: ReadWrite<u32>),
        (0x084 => _reserved1),
        (0x100 => isenabler0: ReadWrite<u32>),
        (0x104 => _reserved2),
        (0x180 => icenabler0: ReadWrite<u32>),
        (0x184 => _reserved3),
        (0x200 => ispendr0: ReadWrite<u32>),
        (0x204 => _reserved4),
        (0x280 => icpendr0: ReadWrite<u32>),
        (0x284 => _reserved5),
        (0x300 => isactiver0: ReadWrite<u32>),
        (0x304 => _reserved6),
        (0x380 => icactiver0: ReadWrite<u32>),
        (0x384 => _reserved7),
        (0x400 => ipriorityr: [ReadWrite<u32>; 8]),
        (0x420 => @END),
    }
}

/// GICD_IROUTER<n> (64-bit, n = 32..1019) lives at this offset from the distributor base.
const GICD_IROUTER: usize = 0x6000;
const GICD_CTLR_RWP: u32 = 1 << 31;
/// ARE (affinity routing) | EnableGrp1 (non-secure) | EnableGrp0 — the same bits cover the
/// single-security-state and the non-secure views of GICD_CTLR.
const GICD_CTLR_ENABLE: u32 = (1 << 4) | (1 << 1) | (1 << 0);
const GICR_CTLR_RWP: u32 = 1 << 3;
const GICR_WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const GICR_WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
const GICR_TYPER_VLPIS: u64 = 1 << 1;
const GICR_TYPER_LAST: u64 = 1 << 4;
const FRAME: usize = 0x1_0000;
/// Bound on register polling: a controller that never settles must not hang the boot forever.
const POLL_LIMIT: u32 = 1_000_000;

/// The 32-bit affinity value GICR_TYPER[63:32] uses, from an MPIDR_EL1 value.
pub const fn affinity_of_mpidr(mpidr: u64) -> u32 {
    (((mpidr >> 8) & 0xff00_0000) | (mpidr & 0x00ff_ffff)) as u32
}

/// Finds the redistributor whose GICR_TYPER affinity is `affinity` in the region
/// `[base, base + len)`; returns its RD_base.
pub fn find_redistributor(base: NonNull<u8>, len: usize, affinity: u32) -> Option<NonNull<u8>> {
    let mut offset = 0usize;
    while offset + 2 * FRAME <= len {
        // SAFETY: `offset + 2 frames <= len`, and the caller vouches for the whole region
        // (see `GicV3::new`).
        let rd = unsafe { base.add(offset) };
        // SAFETY: as above; RD_base starts with the GicrRegisters block.
        let typer = unsafe { rd.cast::<GicrRegisters>().as_ref() }.typer.get();
        if (typer >> 32) as u32 == affinity {
            return Some(rd);
        }
        if typer & GICR_TYPER_LAST != 0 {
            return None;
        }
        // GICv4 redistributors with virtual LPIs have two extra frames.
        offset += if typer & GICR_TYPER_VLPIS != 0 {
            4 * FRAME
        } else {
            2 * FRAME
        };
    }
    None
}

pub struct GicV3 {
    gicd: NonNull<GicdRegisters>,
    gicr_region: NonNull<u8>,
    gicr_len: usize,
    /// This CPU's redistributor, found by `init`.
    rd: spin::Once<NonNull<u8>>,
}

// SAFETY: after `init` the driver only performs single volatile register accesses that the GIC
// makes atomic (separate set/clear-enable registers, per-CPU system registers); `rd` is set
// once through `spin::Once`.
unsafe impl Sync for GicV3 {}
// SAFETY: the pointers name device memory, not thread-local data.
unsafe impl Send for GicV3 {}

fn poll(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..POLL_LIMIT {
        if done() {
            return true;
        }
        core::hint::spin_loop();
    }
    false
}

impl GicV3 {
    /// # Safety
    /// `gicd` must be the kernel virtual address of a GICv3 distributor (64 KiB) and
    /// `gicr_region .. + gicr_len` of the redistributor region from the device tree, all mapped
    /// as device memory, driven by nothing else, valid for as long as the driver is used.
    pub const unsafe fn new(gicd: NonNull<u8>, gicr_region: NonNull<u8>, gicr_len: usize) -> Self {
        Self {
            gicd: gicd.cast(),
            gicr_region,
            gicr_len,
            rd: spin::Once::new(),
        }
    }

    /// The tree's `arm,gic-v3` (distributor = `reg` 0, the first redistributor region =
    /// `reg` 1), mapped with `map`. Not initialised: call `init`. Returns the two mappings too.
    ///
    /// # Safety
    /// `map` must return mappings that satisfy [`GicV3::new`]'s contract for the node's `reg`.
    pub unsafe fn from_device_tree(fdt: &Fdt<'_>, map: MapMmio<'_>) -> Option<(Self, Mmio, Mmio)> {
        let node = devicetree::find_compatible(fdt, &["arm,gic-v3"])?;
        let gicd = devicetree::map_reg(&node, 0, map)?;
        let gicr = devicetree::map_reg(&node, 1, map)?;
        if gicd.size < FRAME as u64 {
            return None;
        }
        let gicr_len = usize::try_from(gicr.size).ok()?;
        // SAFETY: the caller vouches for `map`'s mappings.
        Some((
            unsafe { Self::new(gicd.base, gicr.base, gicr_len) },
            gicd,
            gicr,
        ))
    }

    fn gicd(&self) -> &GicdRegisters {
        // SAFETY: `new`'s contract.
        unsafe { self.gicd.as_ref() }
    }

    fn irouter(&self, irq: u32) -> *mut u64 {
        // SAFETY: stays inside the 64 KiB distributor frame for irq < 1020.
        unsafe {
            self.gicd
                .cast::<u8>()
                .add(GICD_IROUTER + 8 * irq as usize)
                .cast::<u64>()
                .as_ptr()
        }
    }

    fn sgi_frame(&self) -> Option<&GicrSgiRegisters> {
        let rd = *self.rd.get()?;
        // SAFETY: `find_redistributor` checked two frames fit in the region.
        Some(unsafe { rd.add(FRAME).cast::<GicrSgiRegisters>().as_ref() })
    }

    /// Interrupt IDs the distributor implements.
    pub fn lines(&self) -> u32 {
        implemented_lines(self.gicd())
    }

    /// Distributor and redistributor setup for the CPU with `affinity` (MPIDR_EL1 Aff3..Aff0 in
    /// IROUTER layout). Returns false if this CPU's redistributor is not in the region.
    pub fn init_distributor(&self, mpidr: u64) -> bool {
        let gicd = self.gicd();
        gicd.ctlr.set(0);
        poll(|| gicd.ctlr.get() & GICD_CTLR_RWP == 0);
        let lines = implemented_lines(gicd);
        for i in 1..(lines / 32) as usize {
            gicd.igroupr[i].set(u32::MAX);
            gicd.icenabler[i].set(u32::MAX);
            gicd.icpendr[i].set(u32::MAX);
            gicd.icactiver[i].set(u32::MAX);
        }
        for i in 8..(lines / 4) as usize {
            gicd.ipriorityr[i].set(DEFAULT_PRIORITY);
        }
        let route = mpidr & 0xff_00ff_ffff;
        for irq in 32..lines {
            // SAFETY: IROUTER<irq> for an implemented SPI, inside the distributor frame.
            unsafe { self.irouter(irq).write_volatile(route) };
        }
        gicd.ctlr.set(GICD_CTLR_ENABLE);
        poll(|| gicd.ctlr.get() & GICD_CTLR_RWP == 0);

        let Some(rd) =
            find_redistributor(self.gicr_region, self.gicr_len, affinity_of_mpidr(mpidr))
        else {
            return false;
        };
        self.rd.call_once(|| rd);
        // SAFETY: `rd` is an RD_base inside the region.
        let gicr = unsafe { rd.cast::<GicrRegisters>().as_ref() };
        gicr.waker
            .set(gicr.waker.get() & !GICR_WAKER_PROCESSOR_SLEEP);
        poll(|| gicr.waker.get() & GICR_WAKER_CHILDREN_ASLEEP == 0);
        if let Some(sgi) = self.sgi_frame() {
            sgi.igroupr0.set(u32::MAX);
            sgi.icenabler0.set(u32::MAX);
            sgi.icpendr0.set(u32::MAX);
            sgi.icactiver0.set(u32::MAX);
            for p in &sgi.ipriorityr {
                p.set(DEFAULT_PRIORITY);
            }
        }
        poll(|| gicr.ctlr.get() & GICR_CTLR_RWP == 0);
        true
    }
}

#[cfg(target_arch = "aarch64")]
mod sysreg {
    //! The GICv3 CPU interface registers (encodings from the GICv3 architecture spec, written
    //! as generic `S3_...` names so no assembler feature is needed).

    pub fn mpidr() -> u64 {
        let v: u64;
        // SAFETY: reading MPIDR_EL1 has no side effects.
        unsafe {
            core::arch::asm!("mrs {}, mpidr_el1", out(reg) v, options(nomem, nostack, preserves_flags))
        };
        v
    }

    /// Enables the system-register interface and Group 1 interrupts at priority mask `pmr`.
    pub fn enable_cpu_interface(pmr: u64) {
        // SAFETY: configures only this CPU's GIC CPU interface: ICC_SRE_EL1.SRE, ICC_PMR_EL1,
        // ICC_BPR1_EL1, ICC_CTLR_EL1 (EOImode 0), ICC_IGRPEN1_EL1.
        unsafe {
            core::arch::asm!(
                "mrs {t}, S3_0_C12_C12_5",
                "orr {t}, {t}, #1",
                "msr S3_0_C12_C12_5, {t}",
                "isb",
                "msr S3_0_C4_C6_0, {pmr}",
                "msr S3_0_C12_C12_3, xzr",
                "msr S3_0_C12_C12_4, xzr",
                "mov {t}, #1",
                "msr S3_0_C12_C12_7, {t}",
                "isb",
                t = out(reg) _,
                pmr = in(reg) pmr,
                options(nostack, preserves_flags)
            );
        }
    }

    /// ICC_IAR1_EL1: acknowledges the highest-priority pending Group 1 interrupt.
    pub fn iar1() -> u64 {
        let v: u64;
        // SAFETY: acknowledging is this register's purpose; no memory effects.
        unsafe {
            core::arch::asm!("mrs {}, S3_0_C12_C12_0", out(reg) v, options(nomem, nostack, preserves_flags))
        };
        v
    }

    /// ICC_EOIR1_EL1: ends (priority drop + deactivate) interrupt `intid`.
    pub fn eoir1(intid: u64) {
        // SAFETY: signals end of interrupt for an ID this CPU acknowledged.
        unsafe {
            core::arch::asm!("msr S3_0_C12_C12_1, {}", "isb", in(reg) intid, options(nostack, preserves_flags));
        }
    }
}

#[cfg(target_arch = "aarch64")]
impl IrqController for GicV3 {
    fn init(&self) {
        if !self.init_distributor(sysreg::mpidr()) {
            log::warn!("gicv3: no redistributor for this CPU; private interrupts unavailable");
        }
        sysreg::enable_cpu_interface(u64::from(PRIORITY_MASK));
    }

    fn enable(&self, irq: IrqNumber) {
        if irq < 32 {
            if let Some(sgi) = self.sgi_frame() {
                sgi.isenabler0.set(1 << irq);
            }
        } else if let Some((reg, bit)) = bit_of(irq) {
            self.gicd().isenabler[reg].set(bit);
        }
    }

    fn disable(&self, irq: IrqNumber) {
        if irq < 32 {
            if let Some(sgi) = self.sgi_frame() {
                sgi.icenabler0.set(1 << irq);
            }
        } else if let Some((reg, bit)) = bit_of(irq) {
            self.gicd().icenabler[reg].set(bit);
        }
    }

    fn acknowledge(&self) -> Option<IrqNumber> {
        let id = (sysreg::iar1() & 0xff_ffff) as u32;
        (id < SPECIAL_INTID).then_some(id)
    }

    fn end_of_interrupt(&self, irq: IrqNumber) {
        sysreg::eoir1(u64::from(irq));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mpidr_to_affinity() {
        assert_eq!(affinity_of_mpidr(0x8000_0000), 0);
        assert_eq!(affinity_of_mpidr(0x0000_0012_0003_0201), 0x1203_0201);
    }

    /// A fake redistributor region: `frames` 64 KiB frames of zeroes with GICR_TYPER values.
    fn region(typers: &[(usize, u64)], frames: usize) -> Vec<u64> {
        let mut mem = vec![0u64; frames * FRAME / 8];
        for &(frame, typer) in typers {
            mem[frame * FRAME / 8 + 1] = typer;
        }
        mem
    }

    #[test]
    fn finds_this_cpus_redistributor() {
        let mut mem = region(&[(0, 0), (2, 1 << 32), (4, (2 << 32) | GICR_TYPER_LAST)], 6);
        let base = NonNull::new(mem.as_mut_ptr().cast::<u8>()).unwrap();
        let len = mem.len() * 8;
        // SAFETY (test): the offsets are inside `mem`.
        let at = |f: usize| unsafe { base.add(f * FRAME) };
        assert_eq!(find_redistributor(base, len, 0), Some(at(0)));
        assert_eq!(find_redistributor(base, len, 1), Some(at(2)));
        assert_eq!(find_redistributor(base, len, 2), Some(at(4)));
        assert_eq!(find_redistributor(base, len, 3), None);
        // A truncated region is not read past its end.
        assert_eq!(find_redistributor(base, 3 * FRAME, 1), None);
    }

    #[test]
    fn probed_from_the_tree() {
        let fdt = Fdt::new(crate::devicetree::tests::VIRT_GICV3).unwrap();
        let seen = core::cell::RefCell::new(Vec::new());
        let map = |pa: u64, size: u64| {
            seen.borrow_mut().push((pa, size));
            Some(NonNull::<u64>::dangling().cast::<u8>())
        };
        // SAFETY (test): nothing is accessed through the dangling bases.
        let (_, gicd, gicr) = unsafe { GicV3::from_device_tree(&fdt, &map) }.unwrap();
        assert_eq!((gicd.phys, gicr.phys), (0x800_0000, 0x80a_0000));
        assert_eq!(seen.borrow().len(), 2);
        let v2 = Fdt::new(crate::devicetree::tests::VIRT_GICV2).unwrap();
        // SAFETY (test): as above.
        assert!(unsafe { GicV3::from_device_tree(&v2, &map) }.is_none());
    }

    #[test]
    fn vlpi_redistributors_are_four_frames() {
        let mut mem = region(
            &[
                (0, GICR_TYPER_VLPIS),
                (4, (7 << 32) | GICR_TYPER_VLPIS | GICR_TYPER_LAST),
            ],
            8,
        );
        let base = NonNull::new(mem.as_mut_ptr().cast::<u8>()).unwrap();
        // SAFETY (test): inside `mem`.
        let expected = unsafe { base.add(4 * FRAME) };
        assert_eq!(find_redistributor(base, mem.len() * 8, 7), Some(expected));
    }
}
