//! Building: cargo re-invoked with a clean environment for the kernel (per board) and for the
//! userspace workspace (per architecture), the AArch64 flat Image, and the checks that the
//! userspace programs are the genuine static Linux binaries they claim to be.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use goblin::elf::{Elf, header, program_header};

use crate::arch::{Arch, Board, BootFormat};
use crate::cli::BuildArgs;
use crate::error::{Context, Result, bail};
use crate::{image, setup};

/// The userspace programs linked as classic static executables (ET_EXEC).
pub const PROGRAMS: &[&str] = &[
    "hello",
    "exit-status",
    "efault",
    "enosys",
    "fault-segv",
    "fault-ill",
    "fault-bus",
    "args",
    "bench",
    "bench-exit",
    "fuzz",
];
/// The userspace programs linked as static-pie (ET_DYN without PT_INTERP).
pub const PIE_PROGRAMS: &[&str] = &["hello-pie"];

/// Build quietly (cargo `--quiet`: errors and warnings only), as `test` does to keep its report
/// readable.
static QUIET: AtomicBool = AtomicBool::new(false);

pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// `cargo build` in the workspace root with the leaking variables removed and `--quiet` if set.
fn cargo_build() -> Command {
    let mut cargo = rust_tool("cargo");
    cargo.arg("build");
    if QUIET.load(Ordering::Relaxed) {
        cargo.arg("--quiet");
    }
    cargo
}

/// The workspace root (xtask lives in `<root>/xtask`).
pub fn root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Cargo's target directory for the workspace: `$CARGO_TARGET_DIR` if set (relative to where
/// cargo was started, as cargo reads it), else `<root>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                std::env::current_dir()
                    .map(|cwd| cwd.join(&dir))
                    .unwrap_or(dir)
            }
        }
        _ => root().join("target"),
    }
}

/// Scratch space for xtask's own files (initramfs images, host runs).
pub fn scratch_dir() -> PathBuf {
    target_dir().join("xtask")
}

/// True for variables that `cargo run` (or a `cargo +toolchain` proxy) set for xtask itself and
/// that must not leak into the cargo builds xtask starts: they would retarget, re-flag or wrap the
/// inner builds (Hermit's xtask clears the same families). CARGO_HOME and the RUSTUP_* settings
/// other than the toolchain choice stay, as do RUST_BACKTRACE and RUST_LOG.
pub fn leaks_into_cargo(key: &str) -> bool {
    (key.starts_with("CARGO") && key != "CARGO_HOME")
        || key.starts_with("__CARGO")
        || key.starts_with("RUSTC")
        || key.starts_with("RUSTDOC")
        || key == "RUSTFLAGS"
        || key == "RUSTUP_TOOLCHAIN"
        || key == "LD_LIBRARY_PATH"
}

/// A command for a Rust tool (`cargo`, `rustup`) started in the workspace root, so that the
/// pinned toolchain of rust-toolchain.toml is used, without the variables that would leak.
pub fn rust_tool(program: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(root());
    for (key, _) in std::env::vars_os() {
        if let Some(key) = key.to_str()
            && leaks_into_cargo(key)
        {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Runs a command to completion, inheriting the terminal; fails unless it succeeds.
pub fn run_checked(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{} failed ({status})", describe(cmd));
    }
    Ok(())
}

/// A command as one line a shell would run the same way, for messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = shell_quote(&cmd.get_program().to_string_lossy());
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&shell_quote(&arg.to_string_lossy()));
    }
    s
}

/// `word` quoted for a POSIX shell if it needs it.
pub fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=,:+@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// A built kernel: the ELF (for gdb and the Limine check) and the file QEMU boots.
#[derive(Debug, Clone)]
pub struct Kernel {
    pub elf: PathBuf,
    pub boot_file: PathBuf,
}

/// Builds the kernel for `board` and, for boards that boot a flat Image, converts it.
pub fn build_kernel(board: &Board, release: bool) -> Result<Kernel> {
    let target = target_dir();
    let mut cargo = cargo_build();
    cargo
        .args(["--package", board.package, "--bin", board.bin])
        .args(["--target", board.kernel_target])
        .arg("--target-dir")
        .arg(&target)
        .env("RUSTFLAGS", board.kernel_rustflags.join(" "));
    if release {
        cargo.arg("--release");
    }
    eprintln!("xtask: building the {} kernel", board.name);
    run_checked(&mut cargo)?;
    let profile = if release { "release" } else { "debug" };
    let elf = target
        .join(board.kernel_target)
        .join(profile)
        .join(board.bin);
    let boot_file = match board.boot {
        BootFormat::Elf => elf.clone(),
        BootFormat::FlatImage => {
            let bytes =
                std::fs::read(&elf).context(|| format!("reading the kernel {}", elf.display()))?;
            let flat = image::flat_image(&bytes).context(|| format!("{}", elf.display()))?;
            if !image::has_arm64_image_header(&flat) {
                bail!(
                    "{}: the flat image lacks the Linux arm64 Image header (magic \"ARM\\x64\" at \
                     offset 0x38), so QEMU would not boot it as a kernel Image",
                    elf.display()
                );
            }
            let path = elf.with_extension("Image");
            std::fs::write(&path, flat).context(|| format!("writing {}", path.display()))?;
            path
        }
    };
    Ok(Kernel { elf, boot_file })
}

/// The built userspace programs of one architecture.
#[derive(Debug, Clone)]
pub struct Userspace {
    exec_dir: PathBuf,
    pie_dir: PathBuf,
}

impl Userspace {
    /// The path of program `name` (one of [`PROGRAMS`] or [`PIE_PROGRAMS`]).
    pub fn program(&self, name: &str) -> PathBuf {
        if PIE_PROGRAMS.contains(&name) {
            self.pie_dir.join(name)
        } else {
            self.exec_dir.join(name)
        }
    }
}

/// Builds the userspace workspace for `arch` (always optimised: these are test subjects, not
/// things to debug step by step), twice — the static executables and the static-pie ones need
/// different relocation models, and each set gets its own target directory so that neither
/// build invalidates the other — then checks every binary's ELF form.
pub fn build_userspace(arch: Arch) -> Result<Userspace> {
    let base = target_dir().join("userspace");
    let triple = arch.userspace_target();
    let manifest = root().join("userspace").join("Cargo.toml");
    let mut dirs = Vec::new();
    for (pie, target) in [(false, base.clone()), (true, base.join("pie"))] {
        let mut cargo = cargo_build();
        cargo
            .arg("--release")
            .arg("--manifest-path")
            .arg(&manifest)
            .args(["--target", triple])
            .arg("--target-dir")
            .arg(&target)
            .env("RUSTFLAGS", arch.userspace_rustflags(pie).join(" "));
        let programs = if pie { PIE_PROGRAMS } else { PROGRAMS };
        for p in programs {
            cargo.args(["--package", p]);
        }
        eprintln!(
            "xtask: building the {arch} userspace programs{}",
            if pie { " (static-pie)" } else { "" }
        );
        run_checked(&mut cargo)?;
        dirs.push(target.join(triple).join("release"));
    }
    let pie_dir = dirs.pop().unwrap_or_default();
    let exec_dir = dirs.pop().unwrap_or_default();
    let built = Userspace { exec_dir, pie_dir };
    for name in PROGRAMS.iter().chain(PIE_PROGRAMS) {
        let path = built.program(name);
        let bytes = std::fs::read(&path).context(|| format!("reading {}", path.display()))?;
        check_linux_program(&bytes, arch, PIE_PROGRAMS.contains(name))
            .context(|| format!("{}", path.display()))?;
    }
    Ok(built)
}

/// Checks that `bytes` is a static Linux program for `arch`: ELF64 little-endian for the right
/// machine, with a non-zero entry, PT_LOAD segments, and no PT_INTERP (nothing loads it but the
/// kernel). A non-PIE program must be ET_EXEC; a PIE one ET_DYN without any dynamic relocation,
/// since no loader would apply them.
pub fn check_linux_program(bytes: &[u8], arch: Arch, pie: bool) -> Result<()> {
    let elf = Elf::parse(bytes)?;
    if !elf.is_64 || !elf.little_endian {
        bail!("not a 64-bit little-endian ELF");
    }
    if elf.header.e_machine != arch.elf_machine() {
        bail!(
            "built for machine {}, not {arch}",
            header::machine_to_str(elf.header.e_machine)
        );
    }
    let want = if pie { header::ET_DYN } else { header::ET_EXEC };
    if elf.header.e_type != want {
        bail!(
            "ELF type is {}, expected {}",
            header::et_to_str(elf.header.e_type),
            header::et_to_str(want)
        );
    }
    if elf.header.e_entry == 0 {
        bail!("no entry point");
    }
    if elf.interpreter.is_some()
        || elf
            .program_headers
            .iter()
            .any(|p| p.p_type == program_header::PT_INTERP)
    {
        bail!("has PT_INTERP: it is dynamically linked");
    }
    if !elf
        .program_headers
        .iter()
        .any(|p| p.p_type == program_header::PT_LOAD)
    {
        bail!("has no PT_LOAD segment");
    }
    let relocations = elf.dynrelas.len() + elf.dynrels.len() + elf.pltrelocs.len();
    if relocations != 0 {
        bail!("has {relocations} dynamic relocations, which nothing would apply");
    }
    Ok(())
}

/// `cargo xtask build`: the board's kernel and its architecture's userspace programs.
pub fn build_command(args: &BuildArgs) -> Result<()> {
    let board = args.board;
    setup::ensure_rust_targets(&[board.kernel_target, board.arch.userspace_target()])?;
    let kernel = build_kernel(board, args.release)?;
    let user = build_userspace(board.arch)?;
    println!("kernel ELF:  {}", kernel.elf.display());
    if kernel.boot_file != kernel.elf {
        println!("boot Image:  {}", kernel.boot_file.display());
    }
    for name in PROGRAMS.iter().chain(PIE_PROGRAMS) {
        println!("userspace:   {}", user.program(name).display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_variables_do_not_leak_but_homes_do() {
        for key in [
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_BUILD_TARGET",
            "CARGO_TARGET_DIR",
            "CARGO_MANIFEST_DIR",
            "CARGO",
            "RUSTC_WRAPPER",
            "RUSTC_WORKSPACE_WRAPPER",
            "RUSTC",
            "RUSTDOCFLAGS",
            "RUSTUP_TOOLCHAIN",
            "__CARGO_FIX_PLZ",
            "LD_LIBRARY_PATH",
        ] {
            assert!(leaks_into_cargo(key), "{key}");
        }
        for key in [
            "CARGO_HOME",
            "RUSTUP_HOME",
            "RUSTUP_AUTO_INSTALL",
            "RUST_BACKTRACE",
            "PATH",
        ] {
            assert!(!leaks_into_cargo(key), "{key}");
        }
    }

    #[test]
    fn rust_tool_runs_in_the_root_without_leaking_variables() {
        let cmd = rust_tool("cargo");
        assert_eq!(cmd.get_current_dir(), Some(root().as_path()));
        // `cargo test` sets CARGO_MANIFEST_DIR etc. for this very process: they must be removed.
        let removed: Vec<_> = cmd
            .get_envs()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k)
            .collect();
        assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
        assert!(removed.iter().any(|k| *k == "CARGO_MANIFEST_DIR"));
    }

    #[test]
    fn commands_are_described_as_shell_lines() {
        let mut cmd = Command::new("qemu");
        cmd.args(["-append", "", "-x", "a b", "it's", "init=/x"]);
        assert_eq!(
            describe(&cmd),
            "qemu -append '' -x 'a b' 'it'\\''s' init=/x"
        );
    }

    #[test]
    fn root_holds_the_workspace() {
        assert!(root().join("Cargo.toml").is_file());
        assert!(root().join("userspace").join("Cargo.toml").is_file());
    }

    /// The host's own test binary is an ELF for the host, which must be refused as a "Linux
    /// program" on the other architecture and as a PIE/non-PIE mismatch where it applies.
    #[test]
    fn wrong_machine_is_refused() {
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        if let Some(host) = Arch::host() {
            let err = check_linux_program(&exe, host.other(), false)
                .unwrap_err()
                .to_string();
            assert!(err.contains("built for machine"), "{err}");
        }
        assert!(check_linux_program(b"#!/bin/sh\necho hi\n", Arch::X86_64, false).is_err());
    }
}
