//! Arm PrimeCell PL011 UART (DDI 0183): the console of QEMU's `virt` machine and many Arm
//! boards. Polled, 8N1 with FIFOs; the baud rate divisors are left as firmware set them (the
//! driver does not know the reference clock).

use crate::devicetree::{self, MapMmio, Mmio};
use core::ptr::NonNull;
use fdt::Fdt;
use hal::console::Console;
use spin::Mutex;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

register_bitfields! {u32,
    DR [
        DATA OFFSET(0) NUMBITS(8) [],
    ],
    FR [
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXFE OFFSET(4) NUMBITS(1) [],
        /// Still sending.
        BUSY OFFSET(3) NUMBITS(1) [],
    ],
    LCR_H [
        /// Word length: 0b11 = 8 bits.
        WLEN OFFSET(5) NUMBITS(2) [Bits8 = 0b11],
        /// FIFOs enabled.
        FEN OFFSET(4) NUMBITS(1) [],
    ],
    CR [
        RXE OFFSET(9) NUMBITS(1) [],
        TXE OFFSET(8) NUMBITS(1) [],
        UARTEN OFFSET(0) NUMBITS(1) [],
    ],
}

register_structs! {
    pub Pl011Registers {
        (0x000 => dr: ReadWrite<u32, DR::Register>),
        (0x004 => rsr_ecr: ReadWrite<u32>),
        (0x008 => _reserved0),
        (0x018 => fr: ReadOnly<u32, FR::Register>),
        (0x01c => _reserved1),
        (0x024 => ibrd: ReadWrite<u32>),
        (0x028 => fbrd: ReadWrite<u32>),
        (0x02c => lcr_h: ReadWrite<u32, LCR_H::Register>),
        (0x030 => cr: ReadWrite<u32, CR::Register>),
        (0x034 => ifls: ReadWrite<u32>),
        (0x038 => imsc: ReadWrite<u32>),
        (0x03c => ris: ReadOnly<u32>),
        (0x040 => mis: ReadOnly<u32>),
        (0x044 => icr: WriteOnly<u32>),
        (0x048 => @END),
    }
}

/// Size of the register block to map.
pub const MMIO_SIZE: u64 = 0x1000;

/// Polls of a full transmit FIFO before a byte is given up (far longer than a byte takes at
/// any sane baud rate).
const TX_SPIN_LIMIT: u32 = 1_000_000;

pub struct Pl011 {
    regs: NonNull<Pl011Registers>,
    /// Keeps concurrent writers' bytes from interleaving and serialises register access.
    lock: Mutex<()>,
}

// SAFETY: the registers are device memory accessed only with volatile operations, and every
// access goes through `lock`, so sharing the driver between contexts is sound.
unsafe impl Sync for Pl011 {}
// SAFETY: as above; the pointer names device memory, not thread-local data.
unsafe impl Send for Pl011 {}

impl Pl011 {
    /// # Safety
    /// `base` must be the kernel virtual address of a PL011 register block (at least
    /// [`MMIO_SIZE`] bytes, mapped as device memory) that nothing else drives, valid for as long
    /// as the driver is used.
    pub const unsafe fn new(base: NonNull<u8>) -> Self {
        Self {
            regs: base.cast(),
            lock: Mutex::new(()),
        }
    }

    /// The console PL011 of the tree (`/chosen/stdout-path` if it names one, else the first
    /// enabled `arm,pl011`), mapped with `map`. Not initialised: call [`Pl011::init`]. Returns
    /// the mapping too, for the boot log.
    ///
    /// # Safety
    /// `map` must return mappings that satisfy [`Pl011::new`]'s contract for the node's `reg`.
    pub unsafe fn from_device_tree(fdt: &Fdt<'_>, map: MapMmio<'_>) -> Option<(Self, Mmio)> {
        let node = devicetree::stdout_node(fdt, &["arm,pl011"])?;
        let mmio = devicetree::map_reg(&node, 0, map)?;
        if mmio.size < 0x48 {
            return None;
        }
        // SAFETY: the caller vouches for `map`'s mappings.
        Some((unsafe { Self::new(mmio.base) }, mmio))
    }

    fn regs(&self) -> &Pl011Registers {
        // SAFETY: `new`'s contract: a valid, mapped, exclusively ours register block.
        unsafe { self.regs.as_ref() }
    }

    /// Brings the UART to 8N1 with FIFOs, transmitter and receiver on, all interrupts masked.
    pub fn init(&self) {
        let _guard = self.lock.lock();
        let regs = self.regs();
        // Let the firmware's last characters leave before reconfiguring (bounded: a UART that
        // never goes idle must not hang the boot).
        for _ in 0..100_000 {
            if !regs.fr.is_set(FR::BUSY) {
                break;
            }
            core::hint::spin_loop();
        }
        regs.cr.set(0);
        regs.imsc.set(0);
        regs.icr.set(0x7ff);
        regs.lcr_h.write(LCR_H::WLEN::Bits8 + LCR_H::FEN::SET);
        regs.cr.write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
    }

    /// Sends one byte once the transmit FIFO has room. A FIFO that stays full (a UART whose
    /// clock or line is dead) loses the byte instead of hanging the kernel.
    fn put(regs: &Pl011Registers, byte: u8) {
        for _ in 0..TX_SPIN_LIMIT {
            if !regs.fr.is_set(FR::TXFF) {
                regs.dr.write(DR::DATA.val(u32::from(byte)));
                return;
            }
            core::hint::spin_loop();
        }
    }
}

impl Console for Pl011 {
    fn write_bytes(&self, bytes: &[u8]) {
        let _guard = self.lock.lock();
        let regs = self.regs();
        for &b in bytes {
            Self::put(regs, b);
        }
    }

    fn read_byte(&self) -> Option<u8> {
        let _guard = self.lock.lock();
        let regs = self.regs();
        if regs.fr.is_set(FR::RXFE) {
            None
        } else {
            // Bits 8..11 are framing/parity/break/overrun flags for this byte; the byte is
            // still what arrived.
            Some(regs.dr.read(DR::DATA) as u8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A register block in ordinary memory: enough to check what the driver writes where. All
    /// accesses (the test's and the driver's) go through the one raw pointer.
    struct Fake {
        _mem: Box<[u32; 0x12]>,
        base: *mut u32,
        uart: Pl011,
    }

    impl Fake {
        fn new() -> Self {
            let mut mem = Box::new([0u32; 0x12]);
            let base = mem.as_mut_ptr();
            // SAFETY: `mem` is as large as the register block and lives as long as the driver.
            let uart = unsafe { Pl011::new(NonNull::new(base.cast::<u8>()).unwrap()) };
            Self {
                _mem: mem,
                base,
                uart,
            }
        }
        fn get(&self, offset: usize) -> u32 {
            // SAFETY: in bounds of the fake block.
            unsafe { self.base.add(offset / 4).read_volatile() }
        }
        fn set(&self, offset: usize, value: u32) {
            // SAFETY: in bounds of the fake block.
            unsafe { self.base.add(offset / 4).write_volatile(value) }
        }
    }

    #[test]
    fn found_through_stdout_path() {
        let fdt = Fdt::new(crate::devicetree::tests::VIRT_GICV3).unwrap();
        let f = Fake::new();
        let base = NonNull::new(f.base.cast::<u8>()).unwrap();
        // SAFETY (test): the fake block outlives the driver.
        let (uart, mmio) = unsafe { Pl011::from_device_tree(&fdt, &|_, _| Some(base)) }.unwrap();
        assert_eq!((mmio.phys, mmio.size), (0x900_0000, 0x1000));
        uart.write_bytes(b"!");
        assert_eq!(f.get(0), u32::from(b'!'));
    }

    #[test]
    fn init_programs_8n1_with_fifos_and_no_interrupts() {
        let f = Fake::new();
        f.set(0x38, 0x7ff);
        f.uart.init();
        assert_eq!(f.get(0x2c), (0b11 << 5) | (1 << 4));
        assert_eq!(f.get(0x30), (1 << 9) | (1 << 8) | 1);
        assert_eq!(f.get(0x38), 0);
    }

    #[test]
    fn writes_go_to_the_data_register() {
        let f = Fake::new();
        f.uart.write_bytes(b"ok\n");
        assert_eq!(f.get(0), u32::from(b'\n'));
    }

    #[test]
    fn a_stuck_transmitter_drops_bytes_instead_of_hanging() {
        let f = Fake::new();
        f.set(0x18, 1 << 5); // TXFF forever
        f.set(0, 0x55);
        f.uart.write_bytes(b"ab");
        assert_eq!(f.get(0), 0x55);
    }

    #[test]
    fn reads_respect_the_receive_fifo_flag() {
        let f = Fake::new();
        f.set(0x18, 1 << 4); // RXFE
        assert_eq!(f.uart.read_byte(), None);
        f.set(0x18, 0);
        f.set(0, 0x100 | u32::from(b'x')); // framing error flag + data
        assert_eq!(f.uart.read_byte(), Some(b'x'));
    }
}
