//! Broadcom BCM2835 "mini UART" (the auxiliary peripheral's UART1; BCM2835 ARM Peripherals
//! §2.2): the Raspberry Pi 3's default console on GPIO 14/15 (`/chosen/stdout-path` =
//! `serial1`). A 16550-like subset behind its own register layout: polled, 8 data bits, no
//! interrupts. The baud divisor is left as the firmware set it: it derives from the VPU core
//! clock, which only the firmware knows (`enable_uart=1` in config.txt pins it for 115200).

use core::ptr::NonNull;
use hal::console::Console;
use spin::Mutex;
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite};
use tock_registers::{register_bitfields, register_structs};

register_bitfields! {u32,
    /// AUX_ENABLES (in the auxiliary block, shared with the two SPI masters).
    ENABLES [
        MINI_UART OFFSET(0) NUMBITS(1) [],
    ],
    LCR [
        /// 0b11: 8-bit mode (the datasheet documents one bit; both are needed).
        DATA_SIZE OFFSET(0) NUMBITS(2) [Bits8 = 0b11],
    ],
    LSR [
        /// The transmit FIFO can accept at least one byte.
        TX_EMPTY OFFSET(5) NUMBITS(1) [],
        /// The receive FIFO holds at least one byte.
        DATA_READY OFFSET(0) NUMBITS(1) [],
    ],
    CNTL [
        TX_ENABLE OFFSET(1) NUMBITS(1) [],
        RX_ENABLE OFFSET(0) NUMBITS(1) [],
    ],
}

register_structs! {
    /// The auxiliary block's shared registers (`brcm,bcm2835-aux`).
    pub AuxRegisters {
        (0x00 => irq: ReadOnly<u32>),
        (0x04 => enables: ReadWrite<u32, ENABLES::Register>),
        (0x08 => @END),
    }
}

register_structs! {
    /// The mini UART's registers (`brcm,bcm2835-aux-uart`, 0x40 into the auxiliary block).
    pub MiniUartRegisters {
        (0x00 => io: ReadWrite<u32>),
        (0x04 => ier: ReadWrite<u32>),
        (0x08 => iir: ReadWrite<u32>),
        (0x0c => lcr: ReadWrite<u32, LCR::Register>),
        (0x10 => mcr: ReadWrite<u32>),
        (0x14 => lsr: ReadOnly<u32, LSR::Register>),
        (0x18 => msr: ReadOnly<u32>),
        (0x1c => scratch: ReadWrite<u32>),
        (0x20 => cntl: ReadWrite<u32, CNTL::Register>),
        (0x24 => stat: ReadOnly<u32>),
        (0x28 => baud: ReadWrite<u32>),
        (0x2c => @END),
    }
}

/// IIR write value: clear both FIFOs (bits 1 and 2); the FIFOs are always on.
const IIR_CLEAR_FIFOS: u32 = 0b110;

/// Polls of a full transmitter before a byte is given up (far longer than a byte takes at any
/// sane baud rate).
const TX_SPIN_LIMIT: u32 = 1_000_000;

pub struct Bcm2835AuxUart {
    regs: NonNull<MiniUartRegisters>,
    aux: Option<NonNull<AuxRegisters>>,
    /// Keeps concurrent writers' bytes from interleaving and serialises register access.
    lock: Mutex<()>,
}

// SAFETY: the registers are device memory accessed only with volatile operations, every access
// goes through `lock`, so sharing the driver between contexts is sound.
unsafe impl Sync for Bcm2835AuxUart {}
// SAFETY: as above; the pointers name device memory, not thread-local data.
unsafe impl Send for Bcm2835AuxUart {}

impl Bcm2835AuxUart {
    /// # Safety
    /// `uart` must be the kernel virtual address of the mini UART's registers (0x2c bytes) and
    /// `aux`, if given, of the auxiliary block's first 8 bytes, both mapped as device memory,
    /// driven by nothing else (the driver only sets the mini UART's own enable bit in the shared
    /// AUX_ENABLES), valid for as long as the driver is used.
    pub const unsafe fn new(uart: NonNull<u8>, aux: Option<NonNull<u8>>) -> Self {
        Self {
            regs: uart.cast(),
            aux: match aux {
                Some(a) => Some(a.cast()),
                None => None,
            },
            lock: Mutex::new(()),
        }
    }

    fn regs(&self) -> &MiniUartRegisters {
        // SAFETY: `new`'s contract: a valid, mapped, exclusively ours register block.
        unsafe { self.regs.as_ref() }
    }

    /// Powers the UART on in the auxiliary block, then 8 data bits, FIFOs cleared, interrupts
    /// off, transmitter and receiver on. The baud divisor is kept (see the module comment).
    pub fn init(&self) {
        let _guard = self.lock.lock();
        if let Some(aux) = self.aux {
            // SAFETY: `new`'s contract for `aux`.
            let aux = unsafe { aux.as_ref() };
            aux.enables.modify(ENABLES::MINI_UART::SET);
        }
        let regs = self.regs();
        regs.cntl.set(0);
        regs.ier.set(0);
        regs.lcr.write(LCR::DATA_SIZE::Bits8);
        regs.mcr.set(0);
        regs.iir.set(IIR_CLEAR_FIFOS);
        regs.cntl.write(CNTL::TX_ENABLE::SET + CNTL::RX_ENABLE::SET);
    }

    /// The baud rate divisor register as the firmware left it (baud = core clock / (8 ×
    /// (divisor + 1))), for the boot log.
    pub fn baud_divisor(&self) -> u32 {
        let _guard = self.lock.lock();
        self.regs().baud.get() & 0xffff
    }

    /// Sends one byte once the transmitter has room; a transmitter that never drains (a dead
    /// clock) loses the byte instead of hanging the kernel.
    fn put(regs: &MiniUartRegisters, byte: u8) {
        for _ in 0..TX_SPIN_LIMIT {
            if regs.lsr.is_set(LSR::TX_EMPTY) {
                regs.io.set(u32::from(byte));
                return;
            }
            core::hint::spin_loop();
        }
    }
}

impl Console for Bcm2835AuxUart {
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
        regs.lsr
            .is_set(LSR::DATA_READY)
            .then(|| regs.io.get() as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The auxiliary block and the UART in ordinary memory, laid out as on the chip (UART at
    /// +0x40). All accesses go through the one raw pointer.
    struct Fake {
        _mem: Box<[u32; 0x20]>,
        base: *mut u32,
        uart: Bcm2835AuxUart,
    }

    impl Fake {
        fn new(with_aux: bool) -> Self {
            let mut mem = Box::new([0u32; 0x20]);
            let base = mem.as_mut_ptr();
            let aux = NonNull::new(base.cast::<u8>()).unwrap();
            // SAFETY: the block covers both register sets and outlives the driver.
            let uart = unsafe {
                Bcm2835AuxUart::new(
                    NonNull::new(base.add(0x10).cast::<u8>()).unwrap(),
                    with_aux.then_some(aux),
                )
            };
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
    fn init_enables_the_uart_keeps_other_aux_users_and_the_baud_divisor() {
        let f = Fake::new(true);
        f.set(0x04, 0b100); // SPI2 already on
        f.set(0x40 + 0x28, 270); // 115200 at 250 MHz
        f.set(0x40 + 0x04, 0b11);
        f.uart.init();
        assert_eq!(f.get(0x04), 0b101);
        assert_eq!(f.get(0x40 + 0x0c), 0b11, "8 data bits");
        assert_eq!(f.get(0x40 + 0x04), 0, "interrupts off");
        assert_eq!(f.get(0x40 + 0x20), 0b11, "tx and rx on");
        assert_eq!(f.uart.baud_divisor(), 270);
    }

    #[test]
    fn without_the_aux_block_only_the_uart_is_touched() {
        let f = Fake::new(false);
        f.uart.init();
        assert_eq!(f.get(0x04), 0);
        assert_eq!(f.get(0x40 + 0x20), 0b11);
    }

    #[test]
    fn writes_wait_for_room_and_give_up_on_a_dead_transmitter() {
        let f = Fake::new(true);
        f.set(0x40 + 0x14, 1 << 5);
        f.uart.write_bytes(b"ok");
        assert_eq!(f.get(0x40), u32::from(b'k'));
        f.set(0x40 + 0x14, 0);
        f.uart.write_bytes(b"x");
        assert_eq!(f.get(0x40), u32::from(b'k'), "dropped, not hung");
    }

    #[test]
    fn reads_respect_data_ready() {
        let f = Fake::new(true);
        f.set(0x40, u32::from(b'q'));
        assert_eq!(f.uart.read_byte(), None);
        f.set(0x40 + 0x14, 1);
        assert_eq!(f.uart.read_byte(), Some(b'q'));
    }
}
