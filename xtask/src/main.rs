//! `cargo xtask`: Cyphera's developer interface. Builds the kernel and the userspace programs,
//! boots them in QEMU with the console on this terminal, and runs the whole test suite. Modelled on
//! Hermit's xtask (an `Arch` enum, a board registry, cargo re-invoked with a clean environment).
//!
//! ```text
//! cargo xtask build --arch x86_64|aarch64 [--board NAME] [--release]
//! cargo xtask run   --arch A [--board B] [--rootfs DIR | --initrd FILE] [--init PATH]
//!                   [--append "kernel cmdline"] [--timeout SECS] [--cpu MODEL]
//!                   [--machine-opts OPTS] [--accel ACCEL] [--gdb] [--release] [-- ARGS...]
//! cargo xtask test  [--arch A|all] [--board B] [--quick] [--release] [--filter TEXT]
//! cargo xtask rootfs busybox --arch A [--out DIR]
//! cargo xtask busybox-testsuite [--arch A|all] [--kernel cyphera|linux] [--subset ci|full]
//! cargo xtask busybox-session [--arch A|all] [--kernel cyphera|linux]
//! cargo xtask bench [--arch A|all] [--icount] [--runs N] [--json FILE] [--quick]
//! cargo xtask soak  [--arch A|all] [--minutes M] [--quick]
//! cargo xtask fuzz  [--arch A|all] [--seed S] [--iterations N] [--child K [--alone]]
//!                   [--verbose] [--trace] [--release] [--timeout SECS]
//! cargo xtask boards
//! cargo xtask setup
//! ```

mod arch;
mod bench;
mod build;
mod busybox;
mod cli;
mod cpio;
mod dtb;
mod error;
mod fuzz;
mod image;
mod limine;
mod linux;
mod qemu;
mod run;
mod session;
mod setup;
mod soak;
mod test;

use std::process::ExitCode;

use cli::Command;

/// xtask's own failures (bad usage, a failed build, a missing tool): distinct from the statuses
/// `run` passes through from the guest, which the README lists.
const EXIT_ERROR: u8 = 1;
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match cli::parse(&args) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("xtask: {message}\n\n{}", cli::USAGE);
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let result = match command {
        Command::Help => {
            println!("{}", cli::USAGE);
            Ok(0)
        }
        Command::Setup => setup::setup_command().map(|()| 0),
        Command::Boards => arch::boards_command().map(|()| 0),
        Command::Build(args) => build::build_command(&args).map(|()| 0),
        Command::Run(args) => run::run_command(&args),
        Command::Test(args) => test::test_command(&args),
        Command::Rootfs { arch, out } => busybox::rootfs_command(arch, out.as_deref()).map(|()| 0),
        Command::BusyboxTestsuite(a) => busybox::testsuite_command(&a.arches, a.kernel, a.subset),
        Command::BusyboxSession(a) => busybox::session_command(&a.arches, a.kernel),
        Command::Bench(args) => bench::bench_command(&args),
        Command::Soak(args) => soak::soak_command(&args),
        Command::Fuzz(args) => fuzz::fuzz_command(&args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
