//! `cargo xtask run`: build, pack the initramfs, compose the kernel command line, boot QEMU with
//! the console on this terminal, and exit with init's status.

use std::path::PathBuf;

use crate::arch::Board;
use crate::build::{self, Kernel};
use crate::busybox::GuestKernel;
use crate::cli::{Rootfs, RunArgs};
use crate::cpio::{self, Entry};
use crate::error::{Context, Result, bail};
use crate::qemu::{self, Outcome, QemuConfig, Watch};
use crate::setup;

/// The kernel command line: `init=PATH`, then the extra words, then ` -- ARGS` for init's argv.
/// The kernel splits it at whitespace with no quoting, so an init path or argument containing
/// whitespace (or an empty argument) cannot be passed and is refused rather than mangled.
pub fn kernel_cmdline(
    init: Option<&str>,
    append: Option<&str>,
    init_args: &[String],
) -> Result<String> {
    let mut words = Vec::new();
    if let Some(init) = init {
        if init.is_empty() || init.contains(char::is_whitespace) {
            bail!("--init {init:?}: the path must be non-empty without whitespace");
        }
        words.push(format!("init={init}"));
    }
    if let Some(append) = append {
        words.extend(append.split_whitespace().map(String::from));
    }
    if !init_args.is_empty() {
        words.push("--".into());
        for arg in init_args {
            if arg.is_empty() || arg.contains(char::is_whitespace) {
                bail!(
                    "init argument {arg:?}: the kernel command line has no quoting, so arguments \
                     must be non-empty without whitespace"
                );
            }
            words.push(arg.clone());
        }
    }
    Ok(words.join(" "))
}

/// Writes an initramfs into the scratch directory and returns its path.
pub fn write_initramfs(name: &str, entries: &[Entry]) -> Result<PathBuf> {
    let dir = build::scratch_dir();
    std::fs::create_dir_all(&dir).context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{name}.cpio"));
    std::fs::write(&path, cpio::pack(entries)?)
        .context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The initramfs to boot for `rootfs`.
pub fn initramfs(rootfs: &Rootfs, board: &Board) -> Result<PathBuf> {
    let board_name = board.name;
    match rootfs {
        Rootfs::Initrd(file) => {
            if !file.is_file() {
                bail!("--initrd {}: no such file", file.display());
            }
            Ok(file.clone())
        }
        Rootfs::Dir(dir) => {
            let entries = cpio::entries_from_dir(dir)?;
            if entries.is_empty() {
                bail!("--rootfs {}: the directory is empty", dir.display());
            }
            write_initramfs(&format!("{board_name}-rootfs"), &entries)
        }
        Rootfs::Busybox => crate::busybox::initramfs(board.arch),
        Rootfs::Hello => {
            let hello = build::build_userspace(board.arch)?.program("hello");
            let data = std::fs::read(&hello).context(|| format!("reading {}", hello.display()))?;
            write_initramfs(
                &format!("{board_name}-hello"),
                &[Entry::file("init", 0o755, data)],
            )
        }
    }
}

pub fn run_command(args: &RunArgs) -> Result<u8> {
    let board = args.build.board;
    setup::ensure_rust_targets(&[board.kernel_target, board.arch.userspace_target()])?;
    setup::ensure_qemu(&[board.arch.qemu_system()])?;
    let cmdline = kernel_cmdline(
        args.init.as_deref(),
        args.append.as_deref(),
        &args.init_args,
    )?;
    if args.kernel == GuestKernel::Linux {
        return crate::linux::run_command(args);
    }
    let Kernel { elf, boot_file } = build::build_kernel(board, args.build.release)?;
    let initrd = initramfs(&args.rootfs, board)?;
    let dtb = crate::dtb::device_tree(board)?;

    let cfg = QemuConfig {
        board,
        kernel: &boot_file,
        initrd: &initrd,
        dtb: dtb.as_deref(),
        cmdline: &cmdline,
        cpu: args.cpu.as_deref(),
        machine_opts: args.machine_opts.as_deref(),
        accel: args.accel.as_deref(),
        gdb: args.gdb,
    };
    let cmd = qemu::command(&cfg);
    eprintln!("xtask: {}", build::describe(&cmd));
    if args.gdb {
        eprintln!(
            "xtask: QEMU waits for the debugger; attach with:\n  {} -ex 'target remote :1234' {}",
            board.arch.gdb(),
            elf.display()
        );
    }
    let watch = Watch {
        echo: true,
        forward_stdin: true,
        capture_stderr: false,
        timeout: args.timeout,
    };
    let session = qemu::run(cmd, &watch)?;
    match &session.outcome {
        Outcome::Exited(_) | Outcome::Killed(_) => {}
        Outcome::Panic => eprintln!(
            "xtask: the kernel panicked (exit status {})",
            qemu::EXIT_PANIC
        ),
        Outcome::Timeout => eprintln!(
            "xtask: timed out after {:?} without init ending; QEMU stopped (exit status {})",
            args.timeout.unwrap_or_default(),
            qemu::EXIT_TIMEOUT
        ),
        Outcome::NoMarker(status) => eprintln!(
            "xtask: QEMU ended ({}) without the kernel reporting how init ended (no \
             `cyphera: init ...` line); exit status {}",
            status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "status unknown".into()),
            qemu::EXIT_NO_MARKER
        ),
    }
    if matches!(
        session.outcome,
        Outcome::Exited(_) | Outcome::Killed(_) | Outcome::Panic
    ) && !session.powered_off
    {
        eprintln!(
            "xtask: warning: the kernel did not power off within {:?} after init ended; QEMU stopped",
            qemu::POWER_OFF_GRACE
        );
    }
    Ok(session.outcome.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_composition() {
        let args: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        assert_eq!(
            kernel_cmdline(Some("/args"), Some("X=1  quiet"), &args).unwrap(),
            "init=/args X=1 quiet -- a b c"
        );
        assert_eq!(kernel_cmdline(None, None, &[]).unwrap(), "");
        assert_eq!(kernel_cmdline(None, None, &["7".into()]).unwrap(), "-- 7");
        assert!(kernel_cmdline(Some("/my prog"), None, &[]).is_err());
        assert!(kernel_cmdline(None, None, &["two words".into()]).is_err());
        assert!(kernel_cmdline(None, None, &["".into()]).is_err());
    }
}
