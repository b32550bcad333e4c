//! The PC's 8254 programmable interval timer, channel 2 only: the one counter whose output can
//! be read back (port 0x61 bit 5) without an interrupt, which makes it the fixed-frequency
//! reference the other clocks (TSC, APIC timer) are measured against. Channel 2's output only
//! reaches the speaker if port 0x61 bit 1 is set, which this driver keeps clear.

use crate::port_io::{CpuPorts, PortIo};

/// The PIT's input clock.
pub const PIT_HZ: u64 = 1_193_182;

const CHANNEL2_DATA: u16 = 0x42;
const COMMAND: u16 = 0x43;
/// NMI status and control: bit 0 gates channel 2, bit 1 connects it to the speaker, bit 5 reads
/// channel 2's output.
const PORT_B: u16 = 0x61;
const GATE2: u8 = 1 << 0;
const SPEAKER: u8 = 1 << 1;
const OUT2: u8 = 1 << 5;
/// Channel 2, low byte then high byte, mode 0 (interrupt on terminal count: the output goes
/// high when the count reaches zero and stays high), binary.
const CHANNEL2_MODE0: u8 = 0b1011_0000;

pub struct Pit<P: PortIo = CpuPorts> {
    io: P,
}

impl Pit<CpuPorts> {
    /// # Safety
    /// Ports 0x42, 0x43 and 0x61 must be the PC's PIT and system control port B (they are on
    /// every PC and QEMU machine with ISA devices), and no other driver may use channel 2.
    pub const unsafe fn new() -> Self {
        Self {
            io: CpuPorts::new(),
        }
    }
}

impl<P: PortIo> Pit<P> {
    /// A PIT reached through `io` (tests use a device model).
    pub const fn with_io(io: P) -> Self {
        Self { io }
    }

    /// Starts channel 2 counting `ticks` (at [`PIT_HZ`]) down from now; its output goes high
    /// when they have passed ([`Pit::channel2_done`]).
    pub fn channel2_start(&self, ticks: u16) {
        let b = self.io.read8(PORT_B);
        self.io.write8(PORT_B, (b & !SPEAKER) | GATE2);
        self.io.write8(COMMAND, CHANNEL2_MODE0);
        let [low, high] = ticks.to_le_bytes();
        self.io.write8(CHANNEL2_DATA, low);
        self.io.write8(CHANNEL2_DATA, high);
    }

    pub fn channel2_done(&self) -> bool {
        self.io.read8(PORT_B) & OUT2 != 0
    }

    /// Stops channel 2 (gate low).
    pub fn channel2_stop(&self) {
        let b = self.io.read8(PORT_B);
        self.io.write8(PORT_B, b & !(SPEAKER | GATE2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Channel 2 as seen through the ports: counts one tick per port-B read while gated.
    #[derive(Default)]
    struct Model(Mutex<State>);

    #[derive(Default)]
    struct State {
        port_b: u8,
        mode: Option<u8>,
        bytes: Vec<u8>,
        remaining: Option<u32>,
        log: Vec<(u16, u8)>,
    }

    impl PortIo for Model {
        fn read8(&self, port: u16) -> u8 {
            let mut s = self.0.lock().unwrap();
            assert_eq!(port, PORT_B);
            let gated = s.port_b & GATE2 != 0;
            let mut out = 0;
            if let Some(left) = s.remaining.as_mut() {
                if gated && *left > 0 {
                    *left -= 1;
                }
                if *left == 0 {
                    out = OUT2;
                }
            }
            (s.port_b & 0x0f) | out
        }
        fn write8(&self, port: u16, value: u8) {
            let mut s = self.0.lock().unwrap();
            s.log.push((port, value));
            match port {
                PORT_B => s.port_b = value & 0x0f,
                COMMAND => {
                    s.mode = Some(value);
                    s.bytes.clear();
                    s.remaining = None;
                }
                CHANNEL2_DATA => {
                    s.bytes.push(value);
                    if s.bytes.len() == 2 {
                        s.remaining = Some(u32::from(u16::from_le_bytes([s.bytes[0], s.bytes[1]])));
                    }
                }
                _ => panic!("unexpected port {port:#x}"),
            }
        }
        fn write16(&self, _: u16, _: u16) {
            unreachable!()
        }
        fn write32(&self, _: u16, _: u32) {
            unreachable!()
        }
        fn halt(&self) -> ! {
            unreachable!()
        }
    }

    #[test]
    fn channel2_counts_down_once_with_the_speaker_off() {
        let pit = Pit::with_io(Model::default());
        pit.io.0.lock().unwrap().port_b = SPEAKER; // firmware left the speaker connected
        pit.channel2_start(1000);
        {
            let s = pit.io.0.lock().unwrap();
            assert_eq!(s.mode, Some(0xb0));
            assert_eq!(s.port_b & (SPEAKER | GATE2), GATE2);
        }
        let mut polls = 0;
        while !pit.channel2_done() {
            polls += 1;
            assert!(polls < 2000);
        }
        assert_eq!(polls, 999);
        assert!(pit.channel2_done(), "the output stays high in mode 0");
        pit.channel2_stop();
        assert_eq!(pit.io.0.lock().unwrap().port_b & (SPEAKER | GATE2), 0);
    }
}
