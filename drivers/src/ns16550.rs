//! The NS16550A UART (a PC's COM ports, QEMU's `-serial`) over x86 port I/O, as a
//! [`hal::console::Console`]: 115200 baud 8N1, FIFOs on, polled (no interrupts).

use crate::port_io::{CpuPorts, PortIo};
use core::sync::atomic::{AtomicBool, Ordering};
use hal::console::Console;

/// Register offsets from the base port.
const DATA: u16 = 0; // RBR (read) / THR (write); DLL while DLAB is set
const INTERRUPT_ENABLE: u16 = 1; // IER; DLM while DLAB is set
const FIFO_CONTROL: u16 = 2;
const LINE_CONTROL: u16 = 3;
const MODEM_CONTROL: u16 = 4;
const LINE_STATUS: u16 = 5;
const SCRATCH: u16 = 7;

const LCR_DLAB: u8 = 0x80;
const LCR_8N1: u8 = 0x03;
const FCR_ENABLE_CLEAR_14: u8 = 0xc7; // enable, clear both FIFOs, 14-byte RX trigger
const MCR_DTR_RTS: u8 = 0x03; // OUT2 off: the UART never raises an interrupt
const LSR_DATA_READY: u8 = 0x01;
const LSR_THR_EMPTY: u8 = 0x20;

/// The UART's input clock divided by 16: the baud rate at divisor 1.
const BASE_BAUD: u32 = 115_200;
/// Polls of the line status before a byte is dropped: a UART that never drains (absent,
/// broken, flow-controlled forever) must not hang the kernel.
const TRANSMIT_POLLS: u32 = 1_000_000;

/// The divisor latch value for `baud`, if the UART can produce it exactly.
pub const fn divisor(baud: u32) -> Option<u16> {
    if baud == 0 || baud > BASE_BAUD || !BASE_BAUD.is_multiple_of(baud) {
        return None;
    }
    let d = BASE_BAUD / baud;
    if d > u16::MAX as u32 {
        None
    } else {
        Some(d as u16)
    }
}

pub struct Ns16550<P: PortIo = CpuPorts> {
    io: P,
    base: u16,
    /// Set by [`Ns16550::init`] when the scratch register answered, i.e. a UART is there. An
    /// absent UART reads as all ones, which would look like an endless stream of 0xff input.
    present: AtomicBool,
}

impl Ns16550<CpuPorts> {
    /// The UART whose registers are the eight I/O ports from `base` (COM1: 0x3f8).
    ///
    /// # Safety
    /// The ports `base..base + 8` must belong to a 16550-compatible UART or to nothing, and to
    /// no other driver.
    pub const unsafe fn new(base: u16) -> Self {
        Self {
            io: CpuPorts::new(),
            base,
            present: AtomicBool::new(false),
        }
    }
}

impl<P: PortIo> Ns16550<P> {
    /// A UART reached through `io` (tests use a device model).
    pub const fn with_io(io: P, base: u16) -> Self {
        Self {
            io,
            base,
            present: AtomicBool::new(false),
        }
    }

    /// Checks that a UART answers and programs it: 115200 baud, 8N1, FIFOs, no interrupts.
    /// Returns whether one was found; without one, output is dropped and input is empty.
    pub fn init(&self) -> bool {
        let r = |offset| self.base + offset;
        self.io.write8(r(SCRATCH), 0x5a);
        if self.io.read8(r(SCRATCH)) != 0x5a {
            self.present.store(false, Ordering::Relaxed);
            return false;
        }
        let [low, high] = divisor(BASE_BAUD).unwrap_or(1).to_le_bytes();
        self.io.write8(r(INTERRUPT_ENABLE), 0);
        self.io.write8(r(LINE_CONTROL), LCR_DLAB);
        self.io.write8(r(DATA), low);
        self.io.write8(r(INTERRUPT_ENABLE), high);
        self.io.write8(r(LINE_CONTROL), LCR_8N1);
        self.io.write8(r(FIFO_CONTROL), FCR_ENABLE_CLEAR_14);
        self.io.write8(r(MODEM_CONTROL), MCR_DTR_RTS);
        self.present.store(true, Ordering::Relaxed);
        true
    }

    fn write_byte(&self, byte: u8) {
        for _ in 0..TRANSMIT_POLLS {
            if self.io.read8(self.base + LINE_STATUS) & LSR_THR_EMPTY != 0 {
                self.io.write8(self.base + DATA, byte);
                return;
            }
            core::hint::spin_loop();
        }
    }
}

impl<P: PortIo> Console for Ns16550<P> {
    fn write_bytes(&self, bytes: &[u8]) {
        if !self.present.load(Ordering::Relaxed) {
            return;
        }
        for &b in bytes {
            self.write_byte(b);
        }
    }

    fn read_byte(&self) -> Option<u8> {
        if !self.present.load(Ordering::Relaxed) {
            return None;
        }
        (self.io.read8(self.base + LINE_STATUS) & LSR_DATA_READY != 0)
            .then(|| self.io.read8(self.base + DATA))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    /// A 16550 at 0x3f8 as far as a polled driver can tell: registers, a transmit log, a
    /// receive queue, and a transmitter that is busy for `busy_polls` status reads per byte.
    #[derive(Default)]
    struct Model {
        state: Mutex<State>,
        absent: bool,
    }

    #[derive(Default)]
    struct State {
        regs: [u8; 8],
        dlab_low: u8,
        dlab_high: u8,
        sent: Vec<u8>,
        input: VecDeque<u8>,
        busy_polls: u32,
        busy_left: u32,
    }

    impl PortIo for Model {
        fn read8(&self, port: u16) -> u8 {
            if self.absent {
                return 0xff;
            }
            let mut s = self.state.lock().unwrap();
            match port - 0x3f8 {
                DATA => s.input.pop_front().unwrap_or(0),
                LINE_STATUS => {
                    let thr_empty = if s.busy_left > 0 {
                        s.busy_left -= 1;
                        0
                    } else {
                        LSR_THR_EMPTY
                    };
                    thr_empty | u8::from(!s.input.is_empty())
                }
                r => s.regs[r as usize],
            }
        }
        fn write8(&self, port: u16, value: u8) {
            let mut s = self.state.lock().unwrap();
            let dlab = s.regs[LINE_CONTROL as usize] & LCR_DLAB != 0;
            match port - 0x3f8 {
                DATA if dlab => s.dlab_low = value,
                INTERRUPT_ENABLE if dlab => s.dlab_high = value,
                DATA => {
                    s.sent.push(value);
                    s.busy_left = s.busy_polls;
                }
                r => s.regs[r as usize] = value,
            }
        }
        fn write16(&self, _: u16, _: u16) {
            unreachable!("the UART has byte registers only")
        }
        fn write32(&self, _: u16, _: u32) {
            unreachable!("the UART has byte registers only")
        }
        fn halt(&self) -> ! {
            unreachable!("the UART never halts")
        }
    }

    #[test]
    fn init_programs_115200_8n1_without_interrupts() {
        let uart = Ns16550::with_io(Model::default(), 0x3f8);
        assert!(uart.init());
        let s = uart.io.state.lock().unwrap();
        assert_eq!((s.dlab_low, s.dlab_high), (1, 0));
        assert_eq!(s.regs[LINE_CONTROL as usize], LCR_8N1);
        assert_eq!(s.regs[INTERRUPT_ENABLE as usize], 0);
        assert_eq!(
            s.regs[MODEM_CONTROL as usize] & 0x08,
            0,
            "OUT2 would route IRQs"
        );
        assert_eq!(s.regs[FIFO_CONTROL as usize], FCR_ENABLE_CLEAR_14);
    }

    #[test]
    fn writes_wait_for_the_transmitter_and_reads_poll() {
        let model = Model::default();
        model.state.lock().unwrap().busy_polls = 3;
        let uart = Ns16550::with_io(model, 0x3f8);
        uart.init();
        uart.write_bytes(b"hi\n");
        assert_eq!(uart.read_byte(), None);
        uart.io.state.lock().unwrap().input.extend(b"ok");
        assert_eq!(uart.read_byte(), Some(b'o'));
        assert_eq!(uart.read_byte(), Some(b'k'));
        assert_eq!(uart.read_byte(), None);
        assert_eq!(uart.io.state.lock().unwrap().sent, b"hi\n");
    }

    #[test]
    fn a_stuck_transmitter_drops_bytes_instead_of_hanging() {
        let model = Model::default();
        model.state.lock().unwrap().busy_polls = u32::MAX;
        let uart = Ns16550::with_io(model, 0x3f8);
        uart.init();
        uart.write_bytes(b"ab"); // 'a' goes out, then the transmitter never drains
        assert_eq!(uart.io.state.lock().unwrap().sent, b"a");
    }

    #[test]
    fn an_absent_uart_is_silent_and_empty() {
        let uart = Ns16550::with_io(
            Model {
                absent: true,
                ..Model::default()
            },
            0x3f8,
        );
        assert!(!uart.init());
        uart.write_bytes(b"lost");
        assert_eq!(uart.read_byte(), None);
    }

    #[test]
    fn divisors() {
        assert_eq!(divisor(115_200), Some(1));
        assert_eq!(divisor(9600), Some(12));
        assert_eq!(divisor(0), None);
        assert_eq!(divisor(230_400), None);
        assert_eq!(divisor(100_000), None);
    }
}
