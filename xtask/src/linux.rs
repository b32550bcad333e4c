//! Debian's Linux kernel (bookworm's linux-image 6.1) as a reference: downloaded for an
//! architecture with `apt-get download`, cached under the target directory, and booted with an
//! initramfs on the same QEMU machine, CPU and memory as Cyphera's default board of that
//! architecture. Whatever runs on Cyphera (the busybox rootfs, its test suite, scripted sessions,
//! the benchmarks) is run the same way on Linux to get the expected results. For the benchmarks
//! the x86_64 kernel ELF is taken out of the bzImage and booted through PVH, as Cyphera's ELF is.

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

/// Which Debian package the cached kernel of `arch` came from (the first part of its SOURCE
/// note), for reports.
pub fn source_description(arch: Arch) -> String {
    std::fs::read_to_string(cache_dir(arch).join("SOURCE"))
        .ok()
        .and_then(|s| s.split(": ").next().map(|s| s.trim().to_string()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("Debian's {} kernel", metapackage(arch)))
}

/// The kernel file the benchmarks boot, booted the way Cyphera is booted on the board: on x86_64
/// the `vmlinux` ELF taken out of the bzImage and entered through its PVH note (the bzImage's own
/// decompressor costs seconds under emulation and would be counted as boot time), on AArch64 the
/// uncompressed Image of [`linux_kernel`].
pub fn bench_kernel(arch: Arch) -> Result<PathBuf> {
    match arch {
        Arch::X86_64 => vmlinux(&linux_kernel(arch)?),
        Arch::Aarch64 => linux_kernel(arch),
    }
}

/// The `vmlinux` ELF inside the x86 bzImage `bzimage`, extracted (and checked) the first time
/// into the same directory, and again whenever the bzImage is newer.
pub fn vmlinux(bzimage: &Path) -> Result<PathBuf> {
    let dir = bzimage.parent().unwrap_or(Path::new("."));
    let dest = dir.join("vmlinux");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(elf), Some(bz)) = (modified(&dest), modified(bzimage))
        && elf >= bz
    {
        return Ok(dest);
    }
    eprintln!(
        "xtask: extracting vmlinux (the kernel ELF) from {}",
        bzimage.display()
    );
    let bytes = std::fs::read(bzimage).context(|| format!("reading {}", bzimage.display()))?;
    let elf = extract_vmlinux(&bytes).context(|| format!("{}", bzimage.display()))?;
    let entry = pvh_entry(&elf).context(|| {
        format!(
            "the ELF extracted from {} cannot be booted like Cyphera's kernel",
            bzimage.display()
        )
    })?;
    // Written under a private name and renamed, so a concurrent xtask never boots half a file.
    let tmp = dir.join(format!("vmlinux.{}.tmp", std::process::id()));
    std::fs::write(&tmp, &elf).context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &dest)
        .context(|| format!("moving {} to {}", tmp.display(), dest.display()))?;
    eprintln!(
        "xtask: cached {} ({} MiB, PVH entry {entry:#x})",
        dest.display(),
        elf.len() >> 20
    );
    Ok(dest)
}

/// The x86 boot protocol's setup header (Documentation/arch/x86/boot.rst): `setup_sects` at
/// 0x1f1 (0 means 4), the "HdrS" magic at 0x202 and the protocol version at 0x206;
/// `payload_offset` (0x248) and `payload_length` (0x24c), from protocol 2.08, locate the
/// compressed kernel relative to the protected-mode code, which follows the `setup_sects + 1`
/// 512-byte sectors of the real-mode part.
pub fn bzimage_payload(bz: &[u8]) -> Result<&[u8]> {
    let u16_at = |off: usize| {
        bz.get(off..off + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |off: usize| {
        bz.get(off..off + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if bz.get(0x202..0x206) != Some(b"HdrS") {
        bail!("not an x86 bzImage (no \"HdrS\" setup header magic at 0x202)");
    }
    let version = u16_at(0x206).unwrap_or(0);
    if version < 0x0208 {
        bail!(
            "boot protocol {}.{:02} predates payload_offset (2.08)",
            version >> 8,
            version & 0xff
        );
    }
    let setup_sects = match bz[0x1f1] {
        0 => 4,
        n => usize::from(n),
    };
    let (Some(offset), Some(length)) = (u32_at(0x248), u32_at(0x24c)) else {
        bail!("the setup header is truncated");
    };
    let start = (setup_sects + 1) * 512 + offset as usize;
    let end = start.checked_add(length as usize);
    match end.and_then(|end| bz.get(start..end)) {
        Some(payload) if !payload.is_empty() => Ok(payload),
        _ => bail!(
            "the payload ({length} bytes at {start:#x}) lies outside the {} byte file",
            bz.len()
        ),
    }
}

/// The XZ stream magic (the payload's format is told by its magic number, boot.rst says).
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0];

/// The kernel ELF inside a bzImage: the payload is an XZ stream (LZMA2 with the x86 BCJ filter,
/// as scripts/xz_wrap.sh makes it) followed by the uncompressed size as 4 little-endian bytes
/// (scripts/Makefile.lib's size_append), which is checked against what came out.
pub fn extract_vmlinux(bz: &[u8]) -> Result<Vec<u8>> {
    let payload = bzimage_payload(bz)?;
    if !payload.starts_with(XZ_MAGIC) {
        let format = match payload {
            [0x1f, 0x8b | 0x9e, ..] => "gzip",
            [b'B', b'Z', ..] => "bzip2",
            [0x5d, 0, ..] => "LZMA",
            [0x02, 0x21, ..] => "LZ4",
            [0x28, 0xb5, ..] => "ZSTD",
            [0x7f, b'E', b'L', b'F', ..] => "an uncompressed ELF",
            _ => "an unknown format",
        };
        bail!("the payload is {format}, not XZ (Debian's kernels use XZ; only XZ is supported)");
    }
    let Some((stream, size)) = payload.split_last_chunk::<4>() else {
        bail!("the payload is too short");
    };
    let size = u32::from_le_bytes(*size) as usize;
    let mut elf = Vec::with_capacity(size);
    std::io::Read::read_to_end(&mut lzma_rust2::XzReader::new(stream, false), &mut elf)
        .context(|| "decompressing the XZ payload")?;
    if elf.len() != size {
        bail!(
            "the payload decompressed to {} bytes, but its size trailer says {size}",
            elf.len()
        );
    }
    Ok(elf)
}

/// Xen's ELF note type for the 32-bit physical entry point (xen/include/public/elfnote.h), which
/// QEMU's x86 `-kernel` ELF loader (PVH boot) looks for under the name "Xen".
const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;

/// Checks that `bytes` is an ELF64 x86-64 kernel QEMU can boot through PVH, as it boots
/// Cyphera's ELF, and returns the PVH entry point: a PT_NOTE must hold a
/// XEN_ELFNOTE_PHYS32_ENTRY note named "Xen" (the kernel was built with CONFIG_PVH).
pub fn pvh_entry(bytes: &[u8]) -> Result<u64> {
    let elf = goblin::elf::Elf::parse(bytes)?;
    if !elf.is_64 || elf.header.e_machine != goblin::elf::header::EM_X86_64 {
        bail!(
            "not an ELF64 x86-64 file (machine {})",
            goblin::elf::header::machine_to_str(elf.header.e_machine)
        );
    }
    let note = elf.iter_note_headers(bytes).and_then(|mut notes| {
        notes.find_map(|n| {
            n.ok()
                .filter(|n| n.n_type == XEN_ELFNOTE_PHYS32_ENTRY && n.name == "Xen")
        })
    });
    let Some(note) = note else {
        bail!(
            "no PT_NOTE with a XEN_ELFNOTE_PHYS32_ENTRY (type 18, name \"Xen\") note: QEMU \
             cannot boot it through PVH (was the kernel built without CONFIG_PVH?)"
        );
    };
    // The entry is a 32-bit physical address; Linux emits it as a 4-byte word, others as 8.
    match *note.desc {
        [a, b, c, d] => Ok(u64::from(u32::from_le_bytes([a, b, c, d]))),
        [a, b, c, d, e, f, g, h] => Ok(u64::from_le_bytes([a, b, c, d, e, f, g, h])),
        _ => bail!(
            "the PVH entry note has a {}-byte descriptor, not 4 or 8",
            note.desc.len()
        ),
    }
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

    /// A minimal ELF64 x86-64 executable with one PT_NOTE holding `note_name`/`note_type` and a
    /// 4-byte PVH entry, followed by call instructions (which the x86 BCJ filter rewrites) and
    /// padding, standing in for vmlinux.
    fn fake_vmlinux(machine: u16, note_name: &[u8; 4], note_type: u32, entry: u32) -> Vec<u8> {
        let mut note = Vec::new();
        for word in [4u32, 4, note_type] {
            note.extend_from_slice(&word.to_le_bytes());
        }
        note.extend_from_slice(note_name);
        note.extend_from_slice(&entry.to_le_bytes());
        let (ehsize, phentsize) = (64u64, 56u64);
        let note_off = ehsize + phentsize;
        let mut elf = Vec::new();
        elf.extend_from_slice(b"\x7fELF\x02\x01\x01");
        elf.resize(16, 0);
        elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        elf.extend_from_slice(&machine.to_le_bytes());
        elf.extend_from_slice(&1u32.to_le_bytes());
        elf.extend_from_slice(&0x100_0000u64.to_le_bytes()); // e_entry
        elf.extend_from_slice(&ehsize.to_le_bytes()); // e_phoff
        elf.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
        elf.extend_from_slice(&0u32.to_le_bytes());
        for half in [ehsize as u16, phentsize as u16, 1, 64, 0, 0] {
            elf.extend_from_slice(&half.to_le_bytes());
        }
        elf.extend_from_slice(&4u32.to_le_bytes()); // PT_NOTE
        elf.extend_from_slice(&4u32.to_le_bytes()); // PF_R
        for v in [
            note_off,
            note_off,
            note_off,
            note.len() as u64,
            note.len() as u64,
            4,
        ] {
            elf.extend_from_slice(&v.to_le_bytes());
        }
        elf.extend_from_slice(&note);
        for i in 0..4096u32 {
            elf.push(0xe8);
            elf.extend_from_slice(&(i * 16).to_le_bytes());
            elf.extend_from_slice(&[0x90, 0x90, 0xc3]);
        }
        elf
    }

    /// Compresses like Linux's `xzkern`: XZ with the x86 BCJ filter and CRC32, then the
    /// uncompressed size as 4 little-endian bytes.
    fn xzkern(data: &[u8]) -> Vec<u8> {
        use lzma_rust2::{CheckType, FilterType, XzOptions, XzWriter};
        let mut options = XzOptions::with_preset(6);
        options.set_check_sum_type(CheckType::Crc32);
        options.prepend_pre_filter(FilterType::BcjX86, 0);
        let mut w = XzWriter::new(Vec::new(), options).unwrap();
        std::io::Write::write_all(&mut w, data).unwrap();
        let mut out = w.finish().unwrap();
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out
    }

    /// A bzImage: boot sector and setup (`setup_sects` + 1 sectors) with the setup header, then
    /// protected-mode code with the payload `payload_offset` bytes in.
    fn fake_bzimage(setup_sects: u8, payload_offset: u32, payload: &[u8]) -> Vec<u8> {
        let sects = if setup_sects == 0 {
            4
        } else {
            usize::from(setup_sects)
        };
        let mut bz = vec![0u8; (sects + 1) * 512];
        bz[0x1f1] = setup_sects;
        bz[0x202..0x206].copy_from_slice(b"HdrS");
        bz[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
        bz[0x248..0x24c].copy_from_slice(&payload_offset.to_le_bytes());
        bz[0x24c..0x250].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        bz.resize(bz.len() + payload_offset as usize, 0x90);
        bz.extend_from_slice(payload);
        bz.extend_from_slice(&[0u8; 64]);
        bz
    }

    #[test]
    fn the_payload_is_located_from_the_setup_header() {
        let bz = fake_bzimage(2, 0x30, b"PAYLOAD");
        assert_eq!(bzimage_payload(&bz).unwrap(), b"PAYLOAD");
        // setup_sects 0 means 4.
        let bz = fake_bzimage(0, 0, b"XY");
        assert_eq!(&bz[5 * 512..5 * 512 + 2], b"XY");
        assert_eq!(bzimage_payload(&bz).unwrap(), b"XY");

        let mut no_magic = fake_bzimage(2, 0, b"P");
        no_magic[0x202] = b'X';
        assert!(
            bzimage_payload(&no_magic)
                .unwrap_err()
                .to_string()
                .contains("HdrS")
        );
        let mut old = fake_bzimage(2, 0, b"P");
        old[0x206..0x208].copy_from_slice(&0x0206u16.to_le_bytes());
        assert!(
            bzimage_payload(&old)
                .unwrap_err()
                .to_string()
                .contains("2.06")
        );
        let mut too_long = fake_bzimage(2, 0, b"P");
        too_long[0x24c..0x250].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(
            bzimage_payload(&too_long)
                .unwrap_err()
                .to_string()
                .contains("outside")
        );
        assert!(bzimage_payload(&[0u8; 0x100]).is_err());
        assert!(bzimage_payload(&[]).is_err());
    }

    #[test]
    fn vmlinux_comes_out_of_an_xz_bcj_payload_with_its_pvh_entry() {
        let elf = fake_vmlinux(goblin::elf::header::EM_X86_64, b"Xen\0", 18, 0x100_0abc);
        let payload = xzkern(&elf);
        assert_eq!(&payload[..6], XZ_MAGIC);
        let bz = fake_bzimage(27, 0x2cc, &payload);
        let out = extract_vmlinux(&bz).unwrap();
        assert!(out == elf, "the decompressed ELF differs");
        assert_eq!(pvh_entry(&out).unwrap(), 0x100_0abc);

        // The size trailer must match what came out.
        let mut wrong_size = payload.clone();
        let n = wrong_size.len();
        wrong_size[n - 4..].copy_from_slice(&7u32.to_le_bytes());
        let err = extract_vmlinux(&fake_bzimage(27, 0, &wrong_size)).unwrap_err();
        assert!(err.to_string().contains("size trailer"), "{err}");
        // A damaged stream fails its check rather than yielding garbage.
        let mut damaged = payload.clone();
        damaged[n / 2] ^= 0x55;
        assert!(extract_vmlinux(&fake_bzimage(27, 0, &damaged)).is_err());
        let err = extract_vmlinux(&fake_bzimage(27, 0, &[0x1f, 0x8b, 8, 0])).unwrap_err();
        assert!(err.to_string().contains("gzip"), "{err}");
    }

    #[test]
    fn only_an_x86_64_elf_with_the_xen_pvh_note_is_bootable() {
        let x86 = goblin::elf::header::EM_X86_64;
        assert!(pvh_entry(&fake_vmlinux(x86, b"Xen\0", 18, 0x1000)).is_ok());
        let err = pvh_entry(&fake_vmlinux(x86, b"Xen\0", 17, 0x1000)).unwrap_err();
        assert!(
            err.to_string().contains("XEN_ELFNOTE_PHYS32_ENTRY"),
            "{err}"
        );
        assert!(pvh_entry(&fake_vmlinux(x86, b"GNU\0", 18, 0x1000)).is_err());
        let arm = fake_vmlinux(goblin::elf::header::EM_AARCH64, b"Xen\0", 18, 0x1000);
        assert!(pvh_entry(&arm).unwrap_err().to_string().contains("x86-64"));
        assert!(pvh_entry(b"MZ not an elf").is_err());
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
