//! Debian's Linux kernel (bookworm's linux-image 6.1) as a reference: downloaded for an
//! architecture with `apt-get download`, cached under the target directory, and booted with an
//! initramfs on the same QEMU machine, CPU and memory as Cyphera's default board of that
//! architecture. Whatever runs on Cyphera (the busybox rootfs, its test suite, scripted sessions,
//! later the benchmarks) is run the same way on Linux to get the expected results.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::arch::Arch;
use crate::build;
use crate::error::{Context, Error, Result, bail};
use crate::qemu::{self, QemuConfig};
use crate::setup;

/// Debian's name for an architecture (`dpkg --print-architecture`).
pub fn deb_arch(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "amd64",
        Arch::Aarch64 => "arm64",
    }
}

/// The metapackage whose dependency is the current kernel package of the release.
fn metapackage(arch: Arch) -> String {
    format!("linux-image-{}", deb_arch(arch))
}

/// The serial console Linux uses on the board's UART: the 16550 of the PC, the PL011 of virt.
pub fn console_device(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "ttyS0",
        Arch::Aarch64 => "ttyAMA0",
    }
}

/// Where the kernel of `arch` is cached: `<target>/xtask/linux/<debarch>/`.
pub fn cache_dir(arch: Arch) -> PathBuf {
    build::scratch_dir().join("linux").join(deb_arch(arch))
}

/// The kernel file QEMU boots: the bzImage on x86_64, the uncompressed `Image` on AArch64
/// (QEMU's `-kernel` for AArch64 wants the Image, not the compressed file some packages ship).
fn cached_kernel(arch: Arch) -> PathBuf {
    cache_dir(arch).join(match arch {
        Arch::X86_64 => "vmlinuz",
        Arch::Aarch64 => "Image",
    })
}

/// Debian's Linux kernel for `arch`, downloaded and extracted the first time.
pub fn linux_kernel(arch: Arch) -> Result<PathBuf> {
    let path = cached_kernel(arch);
    if !path.is_file() {
        fetch(arch).context(|| format!("getting Debian's Linux kernel for {arch}"))?;
    }
    Ok(path)
}

/// The kernel command line for a reference run: the console on the board's UART, `panic=-1` so
/// that a dead init reboots — which `-no-reboot` turns into QEMU exiting — and `quiet` so that
/// kernel messages do not interleave with the guest's output; then the caller's words.
pub fn linux_cmdline(arch: Arch, extra: &str) -> String {
    let mut line = format!("console={} panic=-1 quiet", console_device(arch));
    if !extra.trim().is_empty() {
        line.push(' ');
        line.push_str(extra.trim());
    }
    line
}

/// The QEMU command that boots Linux (`kernel`, from [`linux_kernel`]) with `initrd` on the
/// default board of `arch`, the console on stdio, exactly as Cyphera is booted there.
/// `cmdline` is the whole kernel command line (see [`linux_cmdline`]).
pub fn linux_qemu_command(arch: Arch, kernel: &Path, initrd: &Path, cmdline: &str) -> Command {
    let cfg = QemuConfig {
        board: arch.default_board(),
        kernel,
        initrd,
        dtb: None,
        cmdline,
        cpu: None,
        machine_opts: None,
        accel: None,
        gdb: false,
    };
    qemu::command(&cfg)
}

/// `cargo xtask run --kernel linux`: boots Debian's Linux on the board with the same initramfs
/// (`--busybox`, `--rootfs`, `--initrd`, or the hello world) and options. `--init` becomes
/// `rdinit=` (Linux's init of an initramfs). Exits 0 when the guest powered off, 124 on timeout.
pub fn run_command(args: &crate::cli::RunArgs) -> Result<u8> {
    let board = args.build.board;
    let arch = board.arch;
    if board.variant_of.is_some() || !std::ptr::eq(board, arch.default_board()) {
        bail!(
            "--kernel linux boots the default board of each architecture ({}), not {}",
            arch.default_board().name,
            board.name
        );
    }
    setup::ensure_qemu(&[arch.qemu_system()])?;
    let kernel = linux_kernel(arch)?;
    let initrd = crate::run::initramfs(&args.rootfs, board)?;
    let mut extra = match &args.init {
        Some(init) => format!("rdinit={init} "),
        None => String::new(),
    };
    extra.push_str(&crate::run::kernel_cmdline(
        None,
        args.append.as_deref(),
        &args.init_args,
    )?);
    let cmdline = linux_cmdline(arch, &extra);
    let cfg = QemuConfig {
        board,
        kernel: &kernel,
        initrd: &initrd,
        dtb: None,
        cmdline: &cmdline,
        cpu: args.cpu.as_deref(),
        machine_opts: args.machine_opts.as_deref(),
        accel: args.accel.as_deref(),
        gdb: args.gdb,
    };
    let cmd = qemu::command(&cfg);
    eprintln!("xtask: {}", build::describe(&cmd));
    let watch = qemu::Watch {
        echo: true,
        forward_stdin: true,
        capture_stderr: false,
        timeout: args.timeout,
    };
    // Linux prints no `cyphera:` markers: the run ends when the guest powers off.
    let session = qemu::run(cmd, &watch)?;
    Ok(match session.outcome {
        qemu::Outcome::Timeout => {
            eprintln!("xtask: timed out; QEMU stopped");
            qemu::EXIT_TIMEOUT
        }
        qemu::Outcome::NoMarker(Some(status)) if status.success() => 0,
        other => {
            eprintln!("xtask: QEMU ended: {other:?}");
            1
        }
    })
}

/// The kernel package a metapackage depends on, from `apt-cache depends` output such as
/// `  Depends: linux-image-6.1.0-56-arm64:arm64`.
pub fn kernel_dependency(apt_cache_output: &str) -> Option<String> {
    apt_cache_output.lines().find_map(|line| {
        let dep = line
            .trim_start()
            .trim_start_matches('|')
            .strip_prefix("Depends:")?
            .trim();
        let name = dep.split_once(':').map_or(dep, |(name, _)| name);
        (name.starts_with("linux-image-") && !name.contains(char::is_whitespace))
            .then(|| name.to_string())
    })
}

/// True if APT knows packages of Debian architecture `debarch` (native or foreign).
pub fn apt_knows(debarch: &str) -> bool {
    let listed = |arg: &str| {
        Command::new("dpkg").arg(arg).output().is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == debarch)
        })
    };
    listed("--print-architecture") || listed("--print-foreign-architectures")
}

/// Makes APT see packages of `debarch` (`dpkg --add-architecture` and `apt-get update`): done
/// when root, otherwise an error with the commands to run. `why` says what needs them.
pub fn ensure_apt_arch(debarch: &str, why: &str) -> Result<()> {
    for tool in ["apt-get", "apt-cache", "dpkg", "dpkg-deb", "tar"] {
        if setup::which(tool).is_none() {
            bail!("{tool} not found: {why} needs Debian's APT tools (run xtask on Debian)");
        }
    }
    if apt_knows(debarch) {
        return Ok(());
    }
    if !setup::is_root() {
        bail!(
            "{why} needs Debian's {debarch} packages, but APT here does not know {debarch}. As \
             root, run:\n  dpkg --add-architecture {debarch}\n  apt-get update\nthen run this \
             again (xtask does it itself when run as root)"
        );
    }
    eprintln!("xtask: letting APT see {debarch} packages ({why})");
    for args in [
        &["dpkg", "--add-architecture", debarch][..],
        &["apt-get", "update"][..],
    ] {
        let mut cmd = Command::new(args[0]);
        cmd.args(&args[1..])
            .env("DEBIAN_FRONTEND", "noninteractive");
        run_quiet(&mut cmd)?;
    }
    Ok(())
}

/// Runs a command quietly; on failure the error carries its output. (`output` gives the child
/// an empty stdin unless the caller set one, as tar reading dpkg-deb's pipe does.)
pub fn run_quiet(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .context(|| format!("cannot start {}", build::describe(cmd)))?;
    if !out.status.success() {
        bail!(
            "{} failed ({}):\n{}{}",
            build::describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `apt-get download PACKAGE:DEBARCH` into `dir`; returns the .deb. The error says how to make
/// the package available.
pub fn apt_download(package: &str, debarch: &str, dir: &Path) -> Result<PathBuf> {
    let spec = format!("{package}:{debarch}");
    run_quiet(
        Command::new("apt-get")
            .arg("download")
            .arg(&spec)
            .current_dir(dir),
    )
    .map_err(|e| {
        Error::new(format!(
            "apt-get download {spec} failed: check that APT reaches the Debian mirror and knows \
             {debarch} (as root: `dpkg --add-architecture {debarch} && apt-get update`).\n{e}"
        ))
    })?;
    std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.extension().is_some_and(|x| x == "deb")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{package}_")))
        })
        .ok_or_else(|| {
            Error::new(format!(
                "apt-get download {spec} left no .deb in {}",
                dir.display()
            ))
        })
}

/// A fresh private work directory under `parent` (removed by the caller): concurrent fetches
/// never see each other's half-written files, and results are renamed into place.
pub fn work_dir(parent: &Path) -> Result<PathBuf> {
    let work = parent.join(format!("fetch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).context(|| format!("creating {}", work.display()))?;
    Ok(work)
}

fn fetch(arch: Arch) -> Result<()> {
    let debarch = deb_arch(arch);
    let meta = metapackage(arch);
    ensure_apt_arch(debarch, "booting Debian's Linux kernel")?;
    let depends = run_quiet(
        Command::new("apt-cache")
            .args(["depends", "--no-recommends", "--no-suggests"])
            .arg(format!("{meta}:{debarch}")),
    )
    .context(|| format!("APT lists no {meta}:{debarch} (run `apt-get update` as root?)"))?;
    let Some(package) = kernel_dependency(&depends) else {
        bail!("`apt-cache depends {meta}:{debarch}` names no linux-image package:\n{depends}");
    };
    let cache = cache_dir(arch);
    std::fs::create_dir_all(&cache).context(|| format!("creating {}", cache.display()))?;
    let work = work_dir(&cache)?;
    let result = download_and_extract(arch, &package, &work, &cache);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn download_and_extract(arch: Arch, package: &str, work: &Path, cache: &Path) -> Result<()> {
    let debarch = deb_arch(arch);
    eprintln!("xtask: downloading {package}:{debarch} (Debian's Linux kernel, about 60 MB)");
    let deb = apt_download(package, debarch, work)?;
    let root = work.join("root");
    std::fs::create_dir_all(&root)?;
    // Only the kernel image is wanted, not the modules.
    let mut dpkg = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(&deb)
        .stdout(Stdio::piped())
        .spawn()
        .context(|| "cannot start dpkg-deb")?;
    let tar_input = dpkg.stdout.take().expect("stdout is piped");
    let tar_result = run_quiet(
        Command::new("tar")
            .arg("-x")
            .arg("-C")
            .arg(&root)
            .args(["--wildcards", "./boot/vmlinuz-*"])
            .stdin(tar_input),
    );
    let dpkg_status = dpkg.wait()?;
    tar_result?;
    if !dpkg_status.success() {
        bail!(
            "dpkg-deb --fsys-tarfile {} failed ({dpkg_status})",
            deb.display()
        );
    }
    let boot = root.join("boot");
    let vmlinuz = std::fs::read_dir(&boot)
        .context(|| format!("reading {}", boot.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_file())
        .ok_or_else(|| Error::new(format!("{} has no /boot/vmlinuz-*", deb.display())))?;
    let mut bytes = std::fs::read(&vmlinuz).context(|| format!("reading {}", vmlinuz.display()))?;
    // Some arm64 kernel packages ship `vmlinuz` as a gzip'd Image, which QEMU's AArch64 direct
    // kernel boot does not unpack.
    if bytes.starts_with(&[0x1f, 0x8b]) {
        bytes = gunzip(&vmlinuz)?;
    }
    if arch == Arch::Aarch64 && !crate::image::has_arm64_image_header(&bytes) {
        bail!(
            "{} from {} is not an arm64 Image (no Image header)",
            vmlinuz.display(),
            deb.display()
        );
    }
    let tmp = work.join("kernel");
    std::fs::write(&tmp, &bytes).context(|| format!("writing {}", tmp.display()))?;
    let dest = cached_kernel(arch);
    std::fs::rename(&tmp, &dest)
        .context(|| format!("moving {} to {}", tmp.display(), dest.display()))?;
    let source = deb
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    std::fs::write(
        cache.join("SOURCE"),
        format!("Debian package {source}: {}\n", vmlinuz.display()),
    )?;
    eprintln!("xtask: cached Linux from {source} as {}", dest.display());
    Ok(())
}

/// Decompresses a gzip file with the system's gzip (no compression crate in the workspace).
fn gunzip(path: &Path) -> Result<Vec<u8>> {
    let out = Command::new("gzip")
        .arg("-dc")
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .context(|| "cannot start gzip (install it: apt-get install gzip)")?;
    if !out.status.success() {
        bail!(
            "gzip -dc {} failed ({}): {}",
            path.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_package_is_read_from_apt_cache_depends() {
        let amd64 = "linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n";
        assert_eq!(
            kernel_dependency(amd64).as_deref(),
            Some("linux-image-6.1.0-56-amd64")
        );
        let arm64 = "linux-image-arm64:arm64\n  Depends: linux-image-6.1.0-56-arm64:arm64\n";
        assert_eq!(
            kernel_dependency(arm64).as_deref(),
            Some("linux-image-6.1.0-56-arm64")
        );
        assert_eq!(kernel_dependency("  Depends: <virtual>\n"), None);
    }

    #[test]
    fn cmdline_has_the_console_of_the_board() {
        assert_eq!(
            linux_cmdline(Arch::Aarch64, " rdinit=/x "),
            "console=ttyAMA0 panic=-1 quiet rdinit=/x"
        );
        assert_eq!(
            linux_cmdline(Arch::X86_64, ""),
            "console=ttyS0 panic=-1 quiet"
        );
    }

    #[test]
    fn linux_boots_on_the_machine_cyphera_boots_on() {
        for arch in Arch::ALL {
            let cmd = linux_qemu_command(arch, Path::new("/k"), Path::new("/i"), "c");
            let args: Vec<String> = cmd
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            let line = args.join(" ");
            let board = arch.default_board();
            assert_eq!(cmd.get_program(), arch.qemu_system());
            assert!(
                line.starts_with(&format!(
                    "-machine {} -cpu {} -m {}",
                    board.machine, board.default_cpu, board.memory
                )),
                "{line}"
            );
            assert!(line.ends_with("-kernel /k -initrd /i -append c"), "{line}");
        }
    }
}
