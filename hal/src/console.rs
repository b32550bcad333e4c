//! A byte-oriented console: the kernel log and the user-visible terminal (a UART on every board so
//! far).

pub trait Console: Sync {
    /// Writes every byte, blocking until the device has taken them. `\n` is sent as-is; line
    /// ending translation is the terminal layer's job, not the driver's.
    fn write_bytes(&self, bytes: &[u8]);
    /// Returns a received byte if one is waiting; never blocks.
    fn read_byte(&self) -> Option<u8>;
}
