//! The kernel console: `kprint!`/`kprintln!` and the `log` facade both write to the board's
//! [`hal::console::Console`] once one is registered.

use core::fmt::{self, Write};
use hal::console::Console;
use spin::Once;

static CONSOLE: Once<&'static dyn Console> = Once::new();

/// Registers the console and routes the `log` crate to it. Later calls are ignored.
pub fn init(console: &'static dyn Console) {
    CONSOLE.call_once(|| console);
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Info);
}

struct ConsoleWriter;

impl Write for ConsoleWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_bytes(s.as_bytes());
        Ok(())
    }
}

/// Writes raw bytes to the console (dropped if none is registered yet).
pub fn write_bytes(bytes: &[u8]) {
    if let Some(console) = CONSOLE.get() {
        console.write_bytes(bytes);
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    let _ = ConsoleWriter.write_fmt(args);
}

#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => { $crate::console::_print(format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! kprintln {
    () => { $crate::kprint!("\n") };
    ($($arg:tt)*) => { $crate::console::_print(format_args!("{}\n", format_args!($($arg)*))) };
}

struct Logger;
static LOGGER: Logger = Logger;

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }
    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            _print(format_args!("[{:<5}] {}\n", record.level(), record.args()));
        }
    }
    fn flush(&self) {}
}
