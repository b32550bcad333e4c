//! Busybox on Cyphera (issue 4): the root filesystem made from Debian's `busybox-static`, the
//! busybox project's own test suite (from Debian's source package) run inside the guest, and the
//! scripted interactive busybox sessions of `cargo xtask test`. Everything runs the same way on
//! Debian's Linux kernel in the same QEMU machine (see `linux.rs`), which gives the expected
//! results: `--kernel linux` or `--kernel cyphera` only changes the kernel QEMU boots.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::arch::Arch;
use crate::build;
use crate::cpio::{self, Entry, S_IFLNK, S_IFMT, S_IFREG};
use crate::error::{Context, Error, Result, bail};
use crate::linux::{self, deb_arch};
use crate::qemu::{self, QemuConfig};
use crate::run::write_initramfs;
use crate::session::{self, Session};
use crate::setup;

/// Which kernel the guest runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestKernel {
    Cyphera,
    /// Debian's Linux 6.1, the reference.
    Linux,
}

impl GuestKernel {
    pub fn parse(name: &str) -> Option<GuestKernel> {
        match name {
            "cyphera" => Some(GuestKernel::Cyphera),
            "linux" => Some(GuestKernel::Linux),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            GuestKernel::Cyphera => "cyphera",
            GuestKernel::Linux => "linux",
        }
    }
}

/// How much of the busybox test suite to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subset {
    /// The applets of [`CI_APPLETS`]: minutes under TCG.
    Ci,
    /// Every applet (`bc` alone takes most of half an hour under TCG).
    Full,
    /// The applets named on the command line (`--subset cpio,wget`), e.g. to re-run failures.
    Named(&'static [&'static str]),
}

impl Subset {
    /// `ci`, `full`, or a comma-separated list of applet names (runtest's test names: the
    /// `*.tests` files and `*/` directories of the suite, without the suffix).
    pub fn parse(name: &str) -> Option<Subset> {
        match name {
            "ci" => Some(Subset::Ci),
            "full" => Some(Subset::Full),
            list => {
                let names: Vec<&'static str> = list
                    .split(',')
                    .filter(|n| !n.is_empty())
                    .map(|n| &*Box::leak(n.to_string().into_boxed_str()))
                    .collect();
                let plausible = |n: &&str| {
                    n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                };
                (!names.is_empty() && names.iter().all(plausible))
                    .then(|| Subset::Named(Box::leak(names.into_boxed_slice())))
            }
        }
    }

    fn name(self) -> &'static str {
        match self {
            Subset::Ci => "ci",
            Subset::Full => "full",
            Subset::Named(_) => "named",
        }
    }
}

/// The test suite's applets run by `cargo xtask test`: the tools the scripted sessions use and
/// the core file utilities, without the slow ones (bc, dc, the compressors, ash's own suite).
pub const CI_APPLETS: &[&str] = &[
    "basename", "cat", "cmp", "cp", "cut", "date", "dd", "dirname", "echo", "expr", "false",
    "find", "grep", "head", "ln", "ls", "md5sum", "mkdir", "mv", "printf", "pwd", "readlink", "rm",
    "rmdir", "sed", "seq", "sort", "tail", "tar", "tee", "touch", "tr", "true", "uniq", "wc",
    "xargs", "awk",
];

/// The CI subset's results under Debian's Linux 6.1 in QEMU (`cargo xtask busybox-testsuite
/// --subset ci --kernel linux`, same on both architectures): the number of PASS lines and the
/// tests that FAIL there. Cyphera must give exactly these.
pub const CI_LINUX_PASS: usize = 502;
pub const CI_LINUX_FAILS: &[&str] = &[
    "ls unicode test with codepoints limited to 767",
    "sed embedded NUL",
    "sed NUL in command",
    "sed nonexistent label",
];

// ---------------------------------------------------------------------------------------------
// The busybox-static package.

/// `<target>/xtask/busybox/<debarch>/`: the extracted binary and where the package came from.
fn package_cache(arch: Arch) -> PathBuf {
    build::scratch_dir().join("busybox").join(deb_arch(arch))
}

/// Debian's static busybox for `arch`, downloaded (`apt-get download busybox-static:DEBARCH`)
/// and extracted the first time.
pub fn busybox_binary(arch: Arch) -> Result<PathBuf> {
    let cache = package_cache(arch);
    let path = cache.join("busybox");
    if path.is_file() {
        return Ok(path);
    }
    let debarch = deb_arch(arch);
    linux::ensure_apt_arch(debarch, &format!("the busybox rootfs for {arch}"))?;
    std::fs::create_dir_all(&cache).context(|| format!("creating {}", cache.display()))?;
    let work = linux::work_dir(&cache)?;
    let result = (|| -> Result<()> {
        eprintln!("xtask: downloading busybox-static:{debarch} (Debian's static busybox)");
        let deb = linux::apt_download("busybox-static", debarch, &work)?;
        let root = work.join("root");
        linux::run_quiet(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
        let bin = root.join("bin").join("busybox");
        if !bin.is_file() {
            bail!("{} has no /bin/busybox", deb.display());
        }
        let bytes = std::fs::read(&bin).context(|| format!("reading {}", bin.display()))?;
        build::check_linux_program(&bytes, arch, false)
            .or_else(|_| build::check_linux_program(&bytes, arch, true))
            .context(|| format!("{} is not a static {arch} Linux program", bin.display()))?;
        std::fs::rename(&bin, &path)
            .context(|| format!("moving {} to {}", bin.display(), path.display()))?;
        let name = deb.file_name().unwrap_or_default().to_string_lossy();
        std::fs::write(cache.join("SOURCE"), format!("Debian package {name}\n"))?;
        eprintln!("xtask: cached busybox from {name} as {}", path.display());
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&work);
    result.map(|()| path)
}

/// The applets' install paths (`usr/bin/awk`, `sbin/init`, ...), from the binary itself
/// (`busybox --list-full`), run natively or under QEMU's user-mode emulator.
fn applet_paths(arch: Arch, binary: &Path) -> Result<Vec<String>> {
    let mut cmd = if Arch::host() == Some(arch) {
        Command::new(binary)
    } else {
        setup::ensure_qemu(&[arch.qemu_user()])?;
        let mut cmd = Command::new(arch.qemu_user());
        cmd.arg(binary);
        cmd
    };
    cmd.arg("--list-full");
    let out = linux::run_quiet(&mut cmd)?;
    let paths: Vec<String> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    for p in &paths {
        if p.starts_with('/') || p.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
            bail!("busybox --list-full gave a strange path {p:?}");
        }
    }
    for needed in ["sbin/init", "bin/sh", "bin/cttyhack"] {
        if !paths.iter().any(|p| p == needed) {
            bail!("this busybox has no {needed} applet; the rootfs needs it");
        }
    }
    Ok(paths)
}

// ---------------------------------------------------------------------------------------------
// The root filesystem.

/// busybox init's table: the rc script, then a login shell on the console with job control.
/// Linux never makes /dev/console a controlling terminal by itself, and ash enables job control
/// only with one: `cttyhack` reopens the console as its real device (ttyS0, ttyAMA0) and makes
/// it the controlling tty before starting the shell.
const INITTAB: &str = "\
::sysinit:/etc/init.d/rcS
::respawn:-/bin/cttyhack /bin/sh
::ctrlaltdel:/sbin/reboot
";

/// Mounts what the shell tools expect. Linux does not mount devtmpfs on an initramfs by itself;
/// file systems the kernel lacks are skipped rather than reported as errors.
const RCS: &str = "\
#!/bin/sh
mount -t proc proc /proc
grep -qw sysfs /proc/filesystems && mount -t sysfs sysfs /sys
grep -q ' /dev ' /proc/mounts || { grep -qw devtmpfs /proc/filesystems && mount -t devtmpfs devtmpfs /dev; }
hostname cyphera
";

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n";
const GROUP: &str = "root:x:0:\n";
const PROFILE: &str = "export PATH=/bin:/sbin:/usr/bin:/usr/sbin\nexport HOME=/root\n";

/// The rootfs: /bin/busybox, a link per applet, /init (busybox init), its configuration and the
/// mount points. Directories come before what they contain.
pub fn rootfs_entries(arch: Arch) -> Result<Vec<Entry>> {
    let binary = busybox_binary(arch)?;
    let data = std::fs::read(&binary).context(|| format!("reading {}", binary.display()))?;
    let applets = applet_paths(arch, &binary)?;
    let mut entries = Vec::new();
    for dir in [
        "bin",
        "sbin",
        "usr",
        "usr/bin",
        "usr/sbin",
        "etc",
        "etc/init.d",
        "proc",
        "sys",
        "dev",
        "root",
        "tmp",
    ] {
        let perm = match dir {
            "tmp" => 0o1777,
            "root" => 0o700,
            _ => 0o755,
        };
        entries.push(Entry::dir(dir, perm));
    }
    entries.push(Entry::file("bin/busybox", 0o755, data));
    for path in applets.iter().filter(|p| *p != "bin/busybox") {
        entries.push(Entry::symlink(path, "/bin/busybox"));
    }
    entries.push(Entry::symlink("init", "/bin/busybox"));
    entries.push(Entry::file("etc/inittab", 0o644, INITTAB));
    entries.push(Entry::file("etc/init.d/rcS", 0o755, RCS));
    entries.push(Entry::file("etc/passwd", 0o644, PASSWD));
    entries.push(Entry::file("etc/group", 0o644, GROUP));
    entries.push(Entry::file("etc/profile", 0o644, PROFILE));
    Ok(entries)
}

/// The console device node: the kernel opens /dev/console for init's standard streams before
/// anything is mounted. (Linux also has it from its built-in initramfs.)
fn console_node() -> Entry {
    Entry {
        name: "dev/console".into(),
        mode: kernel_core::cpio::S_IFCHR | 0o600,
        mtime: 0,
        data: Vec::new(),
        rdev: (5, 1),
    }
}

/// Marks a directory as made by `rootfs busybox`, so that it may be replaced.
const STAMP: &str = ".cyphera-busybox-rootfs";

pub fn default_rootfs_dir(arch: Arch) -> PathBuf {
    build::target_dir()
        .join("rootfs")
        .join(format!("busybox-{arch}"))
}

/// `cargo xtask rootfs busybox --arch A [--out DIR]`: writes the rootfs as a directory (what
/// `run --rootfs DIR` packs). The console node is not created there (that needs mknod); the
/// initramfs packers add it.
pub fn rootfs_command(arch: Arch, out: Option<&Path>) -> Result<()> {
    let dir = out.map_or_else(|| default_rootfs_dir(arch), Path::to_path_buf);
    if dir.exists() {
        let empty = std::fs::read_dir(&dir)
            .context(|| format!("reading {}", dir.display()))?
            .next()
            .is_none();
        if !empty && !dir.join(STAMP).exists() {
            bail!(
                "{} exists and is not a busybox rootfs made by xtask; give an empty or new --out",
                dir.display()
            );
        }
        std::fs::remove_dir_all(&dir).context(|| format!("removing {}", dir.display()))?;
    }
    let entries = rootfs_entries(arch)?;
    write_tree(&dir, &entries)?;
    std::fs::write(dir.join(STAMP), "made by cargo xtask rootfs busybox\n")?;
    let links = entries
        .iter()
        .filter(|e| e.mode & S_IFMT == S_IFLNK)
        .count();
    println!(
        "busybox rootfs for {arch} in {} ({links} links); boot it with:\n  cargo xtask run --arch {arch} --busybox [--kernel linux]",
        dir.display()
    );
    Ok(())
}

fn write_tree(root: &Path, entries: &[Entry]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(root).context(|| format!("creating {}", root.display()))?;
    for e in entries {
        let path = root.join(&e.name);
        match e.mode & S_IFMT {
            S_IFREG => {
                std::fs::write(&path, &e.data).context(|| format!("writing {}", path.display()))?
            }
            S_IFLNK => {
                let target = String::from_utf8_lossy(&e.data).into_owned();
                std::os::unix::fs::symlink(&target, &path)
                    .context(|| format!("linking {} to {target}", path.display()))?;
                continue;
            }
            _ => {
                std::fs::create_dir_all(&path).context(|| format!("creating {}", path.display()))?
            }
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(e.mode & 0o7777))
            .context(|| format!("setting the mode of {}", path.display()))?;
    }
    Ok(())
}

/// The busybox rootfs as an initramfs for `arch` (what `run --busybox` boots).
pub fn initramfs(arch: Arch) -> Result<PathBuf> {
    let mut entries = rootfs_entries(arch)?;
    entries.push(console_node());
    write_initramfs(&format!("busybox-{arch}"), &entries)
}

// ---------------------------------------------------------------------------------------------
// Booting either kernel.

/// The QEMU command booting `kernel` on the default board of `arch` with `initrd`; `init` is the
/// program to run instead of /init. The console is on stdio, as [`Session`] wants it.
pub fn guest_command(
    arch: Arch,
    kernel: GuestKernel,
    initrd: &Path,
    init: Option<&str>,
) -> Result<Command> {
    let board = arch.default_board();
    setup::ensure_qemu(&[arch.qemu_system()])?;
    match kernel {
        GuestKernel::Linux => {
            let image = linux::linux_kernel(arch)?;
            // An initramfs's init is `rdinit=` on Linux (`init=` names the root fs's).
            let extra = init.map(|i| format!("rdinit={i}")).unwrap_or_default();
            let cmdline = linux::linux_cmdline(arch, &extra);
            Ok(linux::linux_qemu_command(arch, &image, initrd, &cmdline))
        }
        GuestKernel::Cyphera => {
            setup::ensure_rust_targets(&[board.kernel_target])?;
            let k = build::build_kernel(board, false)?;
            let cmdline = crate::run::kernel_cmdline(init, None, &[])?;
            let cfg = QemuConfig {
                board,
                kernel: &k.boot_file,
                initrd,
                dtb: None,
                cmdline: &cmdline,
                cpu: None,
                machine_opts: None,
                accel: None,
                gdb: false,
            };
            Ok(qemu::command(&cfg))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The busybox test suite.

/// Where the source package is unpacked: `<target>/xtask/busybox/source/`.
fn source_cache() -> PathBuf {
    build::scratch_dir().join("busybox").join("source")
}

/// The sources file xtask adds when APT has no deb-src entries.
const DEB_SRC_FILE: &str = "/etc/apt/sources.list.d/cyphera-deb-src.sources";

/// One `deb` entry of APT's configuration.
#[derive(Debug, PartialEq)]
struct AptSource {
    uris: String,
    suites: String,
    components: String,
    signed_by: Option<String>,
}

/// The `deb` entries of deb822 `.sources` text (stanzas separated by blank lines).
fn deb822_sources(text: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |key: &str| {
            stanza.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim().eq_ignore_ascii_case(key)).then(|| v.trim().to_string())
            })
        };
        let enabled = field("Enabled").is_none_or(|v| v != "no");
        let is_deb = field("Types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb"));
        if let (true, true, Some(uris), Some(suites), Some(components)) = (
            enabled,
            is_deb,
            field("URIs"),
            field("Suites"),
            field("Components"),
        ) {
            out.push(AptSource {
                uris,
                suites,
                components,
                signed_by: field("Signed-By"),
            });
        }
    }
    out
}

/// The `deb` lines of one-line-style `sources.list` text.
fn one_line_sources(text: &str) -> Vec<AptSource> {
    text.lines()
        .filter_map(|l| {
            let l = l.split('#').next()?.trim();
            let rest = l.strip_prefix("deb ")?.trim();
            // Options: `[arch=amd64 signed-by=/x]`.
            let (options, rest) = match rest.strip_prefix('[') {
                Some(r) => {
                    let (opts, rest) = r.split_once(']')?;
                    (opts.to_string(), rest.trim())
                }
                None => (String::new(), rest),
            };
            let mut words = rest.split_whitespace();
            let uri = words.next()?.to_string();
            let suite = words.next()?.to_string();
            let components: Vec<&str> = words.collect();
            let signed_by = options
                .split_whitespace()
                .find_map(|o| o.strip_prefix("signed-by=").map(String::from));
            Some(AptSource {
                uris: uri,
                suites: suite,
                components: components.join(" "),
                signed_by,
            })
        })
        .collect()
}

/// The deb-src stanza mirroring the `deb` entry of the release `codename` (its main suite).
fn deb_src_stanza(sources: &[AptSource], codename: &str) -> Option<String> {
    let s = sources
        .iter()
        .find(|s| s.suites.split_whitespace().any(|x| x == codename))?;
    let mut text = format!(
        "# Added by cargo xtask busybox-testsuite (Cyphera): the source packages of the same \
         mirror, for `apt-get source busybox`.\nTypes: deb-src\nURIs: {}\nSuites: {}\n\
         Components: {}\n",
        s.uris, s.suites, s.components
    );
    if let Some(key) = &s.signed_by {
        text.push_str(&format!("Signed-By: {key}\n"));
    }
    Some(text)
}

fn configured_sources() -> Vec<AptSource> {
    let mut sources = Vec::new();
    if let Ok(t) = std::fs::read_to_string("/etc/apt/sources.list") {
        sources.extend(one_line_sources(&t));
    }
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut files: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let Ok(t) = std::fs::read_to_string(&f) else {
                continue;
            };
            match f.extension().and_then(|x| x.to_str()) {
                Some("sources") => sources.extend(deb822_sources(&t)),
                Some("list") => sources.extend(one_line_sources(&t)),
                _ => {}
            }
        }
    }
    sources
}

fn os_codename() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim_matches('"').to_string())
}

/// Makes `apt-get source` possible: dpkg-dev installed (it unpacks the package) and deb-src
/// entries for the mirror. Done when root; otherwise an error with the commands.
fn ensure_apt_source() -> Result<()> {
    if setup::which("dpkg-source").is_none() {
        if !setup::is_root() {
            bail!(
                "dpkg-source not found: fetching busybox's test suite needs dpkg-dev. As root \
                 run: apt-get install -y --no-install-recommends dpkg-dev"
            );
        }
        eprintln!("xtask: installing dpkg-dev (for apt-get source)");
        linux::run_quiet(
            Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends", "dpkg-dev"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
    }
    let probe = Command::new("apt-get")
        .args(["source", "--print-uris", "-qq", "busybox"])
        .output()
        .context(|| "cannot start apt-get")?;
    if probe.status.success() && !probe.stdout.is_empty() {
        return Ok(());
    }
    let codename = os_codename().ok_or_else(|| {
        Error::new("no VERSION_CODENAME in /etc/os-release: add a deb-src line for your Debian mirror and run apt-get update")
    })?;
    let Some(stanza) = deb_src_stanza(&configured_sources(), &codename) else {
        bail!(
            "APT has no deb-src entries and no deb entry for {codename} to copy; add a deb-src \
             line for your mirror (Types: deb-src in a .sources file) and run apt-get update"
        );
    };
    if Path::new(DEB_SRC_FILE).exists() {
        bail!(
            "{DEB_SRC_FILE} exists but `apt-get source busybox` still finds nothing: run \
             `apt-get update` as root\n{}",
            String::from_utf8_lossy(&probe.stderr)
        );
    }
    if !setup::is_root() {
        bail!(
            "APT has no deb-src entries, needed for `apt-get source busybox`. As root run:\n  \
             cat > {DEB_SRC_FILE} <<'EOF'\n{stanza}EOF\n  apt-get update"
        );
    }
    eprintln!("xtask: adding the source packages of the mirror in {DEB_SRC_FILE}");
    std::fs::write(DEB_SRC_FILE, &stanza).context(|| format!("writing {DEB_SRC_FILE}"))?;
    linux::run_quiet(Command::new("apt-get").args(["update", "-qq"]))?;
    Ok(())
}

/// Busybox's source tree (from `apt-get source busybox`, unpacked with Debian's patches), fetched
/// the first time.
pub fn source_tree() -> Result<PathBuf> {
    let cache = source_cache();
    let tree = cache.join("busybox");
    if tree.join("testsuite").join("runtest").is_file() {
        return Ok(tree);
    }
    ensure_apt_source()?;
    std::fs::create_dir_all(&cache).context(|| format!("creating {}", cache.display()))?;
    let work = linux::work_dir(&cache)?;
    let result = (|| -> Result<()> {
        eprintln!("xtask: apt-get source busybox (for its test suite)");
        linux::run_quiet(
            Command::new("apt-get")
                .args(["source", "-qq", "busybox"])
                .current_dir(&work),
        )
        .context(|| "apt-get source busybox failed")?;
        let unpacked = std::fs::read_dir(&work)?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.join("testsuite").join("runtest").is_file())
            .ok_or_else(|| Error::new("apt-get source busybox unpacked no testsuite/runtest"))?;
        let version = unpacked
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let _ = std::fs::remove_dir_all(&tree);
        std::fs::rename(&unpacked, &tree)
            .context(|| format!("moving {} to {}", unpacked.display(), tree.display()))?;
        std::fs::write(
            cache.join("SOURCE"),
            format!("apt-get source busybox: {version}\n"),
        )?;
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&work);
    result.map(|()| tree)
}

/// Printed by the runner around runtest's output.
const BEGIN: &str = "@@BUSYBOX-TESTSUITE-BEGIN";
const END: &str = "@@BUSYBOX-TESTSUITE-END status=";

/// The test suite's /init: mounts, runs `runtest` the way the Linux reference numbers were
/// measured (busybox as /bin/sh, `ECHO=echo bindir=/bin`, the applets' links in /bin), prints the
/// end marker and powers off. stdin is /dev/null so that no test waits for the console.
fn runner_script(applets: &[&str]) -> String {
    format!(
        "#!/bin/sh\n\
         export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root\n\
         mount -t proc proc /proc\n\
         grep -qw sysfs /proc/filesystems && mount -t sysfs sysfs /sys\n\
         grep -q ' /dev ' /proc/mounts || {{ grep -qw devtmpfs /proc/filesystems && mount -t devtmpfs devtmpfs /dev; }}\n\
         cd /testsuite || {{ echo '{END}127'; poweroff -f; }}\n\
         echo {BEGIN}\n\
         ECHO=echo bindir=/bin ./runtest {} </dev/null\n\
         echo \"{END}$?\"\n\
         poweroff -f\n",
        applets.join(" ")
    )
}

/// The initramfs for a test-suite run: the rootfs, the suite in /testsuite, busybox's build
/// configuration as /bin/.config (runtest reads which applets and features were built from it),
/// and the runner as /init.
fn testsuite_initramfs(arch: Arch, subset: Subset) -> Result<PathBuf> {
    let tree = source_tree()?;
    let mut entries: Vec<Entry> = rootfs_entries(arch)?
        .into_iter()
        .filter(|e| e.name != "init")
        .collect();
    entries.push(console_node());
    // Debian builds busybox-static from debian/config/os/linux followed by
    // debian/config/pkg/static (debian/rules), which is the resulting .config.
    let mut config = Vec::new();
    for part in ["debian/config/os/linux", "debian/config/pkg/static"] {
        let p = tree.join(part);
        config.extend(std::fs::read(&p).context(|| format!("reading {}", p.display()))?);
    }
    entries.push(Entry::file("bin/.config", 0o644, config));
    entries.push(Entry::dir("testsuite", 0o755));
    for mut e in cpio::entries_from_dir(&tree.join("testsuite"))? {
        e.name = format!("testsuite/{}", e.name);
        entries.push(e);
    }
    let applets: &[&str] = match subset {
        Subset::Ci => CI_APPLETS,
        Subset::Full => &[],
        Subset::Named(names) => names,
    };
    entries.push(Entry::file("init", 0o755, runner_script(applets)));
    write_initramfs(
        &format!("busybox-testsuite-{arch}-{}", subset.name()),
        &entries,
    )
}

/// The counted results of a test-suite run.
#[derive(Debug, Default, PartialEq)]
pub struct Results {
    pub pass: usize,
    pub fail: Vec<String>,
    pub skipped: usize,
    pub untested: usize,
    /// Every result line, in order.
    pub lines: Vec<String>,
    /// runtest's exit status (None if the end marker never came).
    pub status: Option<i32>,
}

/// Reads runtest's `PASS: `/`FAIL: `/`SKIPPED: `/`UNTESTED: ` lines and the end marker.
pub fn parse_results(text: &str) -> Results {
    let mut r = Results::default();
    for line in text.lines() {
        let line = line.trim_end();
        if let Some(name) = line.strip_prefix("FAIL: ") {
            r.fail.push(name.to_string());
        } else if line.starts_with("PASS: ") {
            r.pass += 1;
        } else if line.starts_with("SKIPPED: ") {
            r.skipped += 1;
        } else if line.starts_with("UNTESTED: ") {
            r.untested += 1;
        } else if let Some(rest) = line.strip_prefix(END) {
            r.status = rest.trim().parse().ok();
            continue;
        } else {
            continue;
        }
        r.lines.push(line.to_string());
    }
    r
}

/// Runs the suite (or the CI subset) on `arch` under `kernel`; `echo` shows the console as it
/// comes. Returns the results and how long the run took.
pub fn run_testsuite(
    arch: Arch,
    kernel: GuestKernel,
    subset: Subset,
    echo: bool,
) -> Result<(Results, Duration)> {
    let initrd = testsuite_initramfs(arch, subset)?;
    let cmd = guest_command(arch, kernel, &initrd, None)?;
    let started = Instant::now();
    let mut s = Session::spawn(cmd)?;
    s.set_echo(echo);
    s.expect(BEGIN, Duration::from_secs(180))?;
    let limit = match subset {
        Subset::Ci | Subset::Named(_) => Duration::from_secs(20 * 60),
        // Only a hang guard: bc's number-parsing and -printing tests alone run for over an
        // hour per architecture under TCG on a 2-core host.
        Subset::Full => Duration::from_secs(6 * 3600),
    };
    let outcome = s.expect_with(limit, END, |t| {
        let i = t.find(END)?;
        let end = t[i..].find('\n')? + i;
        Some((end, end))
    });
    let took = started.elapsed();
    let text = s.transcript();
    let results = parse_results(&text);
    if let Err(e) = outcome {
        return Err(Error::new(format!(
            "{e}\n(results so far: {} PASS, {} FAIL)",
            results.pass,
            results.fail.len()
        )));
    }
    // The guest powers off after the marker; a kernel that cannot is stopped here.
    let _ = s.wait_exit(Duration::from_secs(30));
    Ok((results, took))
}

fn report_text(
    arch: Arch,
    kernel: GuestKernel,
    subset: Subset,
    r: &Results,
    took: Duration,
) -> String {
    let source = std::fs::read_to_string(source_cache().join("SOURCE")).unwrap_or_default();
    let package = std::fs::read_to_string(package_cache(arch).join("SOURCE")).unwrap_or_default();
    let mut t = format!(
        "busybox test suite ({} subset) on {} {arch}, {:.0?}\nsuite: {}binary: {}\
         {} PASS, {} FAIL, {} SKIPPED, {} UNTESTED; runtest exit status {}\n",
        subset.name(),
        kernel.name(),
        took,
        source,
        package,
        r.pass,
        r.fail.len(),
        r.skipped,
        r.untested,
        r.status.map_or("(none)".to_string(), |s| s.to_string()),
    );
    t.push_str("\nFAIL:\n");
    for f in &r.fail {
        t.push_str(&format!("  {f}\n"));
    }
    t.push_str("\nall results:\n");
    for l in &r.lines {
        t.push_str(l);
        t.push('\n');
    }
    t
}

/// `cargo xtask busybox-testsuite --arch A|all [--kernel K] [--subset ci|full]`.
pub fn testsuite_command(arches: &[Arch], kernel: GuestKernel, subset: Subset) -> Result<u8> {
    let dir = build::target_dir().join("busybox-testsuite");
    std::fs::create_dir_all(&dir).context(|| format!("creating {}", dir.display()))?;
    let mut all_ok = true;
    for &arch in arches {
        let (r, took) = run_testsuite(arch, kernel, subset, true)?;
        let report = report_text(arch, kernel, subset, &r, took);
        let file = dir.join(format!("{arch}-{}.txt", kernel.name()));
        std::fs::write(&file, &report).context(|| format!("writing {}", file.display()))?;
        println!(
            "\nxtask: busybox test suite ({} subset) on {} {arch}: {} PASS, {} FAIL, {} SKIPPED, \
             {} UNTESTED in {:.0?} (report: {})",
            subset.name(),
            kernel.name(),
            r.pass,
            r.fail.len(),
            r.skipped,
            r.untested,
            took,
            file.display()
        );
        for f in &r.fail {
            println!("  FAIL: {f}");
        }
        if subset == Subset::Ci
            && let Err(why) = check_ci_results(&r)
        {
            println!("xtask: differs from Linux: {why}");
            all_ok = false;
        }
    }
    Ok(if all_ok { 0 } else { 1 })
}

/// Compares a CI-subset run with Linux's results.
fn check_ci_results(r: &Results) -> Result<(), String> {
    let unexpected: Vec<&String> = r
        .fail
        .iter()
        .filter(|f| !CI_LINUX_FAILS.contains(&f.as_str()))
        .collect();
    if !unexpected.is_empty() {
        return Err(format!(
            "FAIL where Linux passes: {}",
            unexpected
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if r.pass != CI_LINUX_PASS {
        return Err(format!("{} PASS where Linux has {CI_LINUX_PASS}", r.pass));
    }
    Ok(())
}

/// The CI subset as one test of `cargo xtask test`: Ok(summary) or Err(why).
pub fn testsuite_test(arch: Arch, kernel: GuestKernel) -> Result<String, String> {
    let (r, took) = run_testsuite(arch, kernel, Subset::Ci, false).map_err(|e| e.to_string())?;
    check_ci_results(&r)?;
    Ok(format!(
        "{} PASS, {} expected FAIL, as on Linux, in {took:.0?}",
        r.pass,
        r.fail.len()
    ))
}

// ---------------------------------------------------------------------------------------------
// Scripted interactive sessions.

/// The prompt the script sets. Typed as `'cy''ph# '`, so the echo of that command line never
/// contains it.
const PROMPT: &str = "cyph# ";

/// How long one command may take (TCG is slow, the guest may be loaded).
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// A busybox shell on the guest's console.
struct Shell {
    s: Session,
    /// Numbers the output markers of [`Shell::run`].
    n: usize,
    /// Checks passed so far, for the summary.
    passed: Vec<String>,
    verbose: bool,
}

/// Trailing whitespace removed from each line: what the output "says", independent of padding
/// at line ends.
fn lines_of(text: &str) -> Vec<String> {
    text.lines().map(|l| l.trim_end().to_string()).collect()
}

/// Each line's words joined by one space (for column-aligned output such as `wc` and `uniq -c`).
fn words_of(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

impl Shell {
    /// Runs `cmd` and returns its output and exit status. The command is wrapped in markers
    /// that only its output can contain (`@@B''7` is typed, `@@B7` printed), so that the tty's
    /// echo of the typed line is never mistaken for output.
    fn run(&mut self, cmd: &str) -> Result<(String, i32)> {
        self.n += 1;
        let n = self.n;
        self.s
            .send_line(&format!("echo @@B''{n}; {cmd}; echo @@E''{n} $?"))?;
        self.s.expect(&format!("@@B{n}\n"), STEP_TIMEOUT)?;
        let end = format!("@@E{n} ");
        let status = Cell::new(-1);
        let output = self.s.expect_with(STEP_TIMEOUT, &end, |t| {
            let i = t.find(&end)?;
            let nl = t[i..].find('\n')? + i;
            status.set(t[i + end.len()..nl].trim().parse().ok()?);
            Some((i, nl + 1))
        })?;
        self.s.expect(PROMPT, STEP_TIMEOUT)?;
        Ok((output, status.get()))
    }

    fn pass(&mut self, what: &str) {
        if self.verbose {
            println!("  ok: {what}");
        }
        self.passed.push(what.to_string());
    }

    fn fail(&self, what: &str, why: &str) -> Error {
        self.s.failure(&format!("{what}: {why}"))
    }

    /// `cmd` must succeed and print exactly `want` (lines, trailing blanks ignored).
    fn lines(&mut self, cmd: &str, want: &[&str]) -> Result<()> {
        let (out, status) = self.run(cmd)?;
        let got = lines_of(&out);
        if status != 0 || got != want {
            return Err(self.fail(
                cmd,
                &format!("expected status 0 and {want:?}, got status {status} and {got:?}"),
            ));
        }
        self.pass(cmd);
        Ok(())
    }

    /// Like [`Shell::lines`] with each line's whitespace runs collapsed.
    fn words(&mut self, cmd: &str, want: &[&str]) -> Result<()> {
        let (out, status) = self.run(cmd)?;
        let got = words_of(&out);
        if status != 0 || got != want {
            return Err(self.fail(
                cmd,
                &format!("expected status 0 and {want:?}, got status {status} and {got:?}"),
            ));
        }
        self.pass(cmd);
        Ok(())
    }

    /// `cmd` must succeed and its output pass `check` (which says what is wrong).
    fn check(&mut self, cmd: &str, check: impl Fn(&str) -> Result<(), String>) -> Result<()> {
        let (out, status) = self.run(cmd)?;
        if status != 0 {
            return Err(self.fail(cmd, &format!("exit status {status}")));
        }
        if let Err(why) = check(&out) {
            return Err(self.fail(cmd, &why));
        }
        self.pass(cmd);
        Ok(())
    }

    /// The status of the last foreground command, read with a marker-free `echo`.
    fn last_status(&mut self) -> Result<i32> {
        self.s.send_line("echo st=$?")?;
        let status = Cell::new(-1);
        // `st=` at a line start is output; the typed line has `echo st=` instead.
        self.s.expect_with(STEP_TIMEOUT, "st=N", |t| {
            let i = if t.starts_with("st=") {
                0
            } else {
                t.find("\nst=")? + 1
            };
            let nl = t[i..].find('\n')? + i;
            status.set(t[i + 3..nl].trim().parse().ok()?);
            Some((i, nl + 1))
        })?;
        self.s.expect(PROMPT, STEP_TIMEOUT)?;
        Ok(status.get())
    }
}

/// Boots the busybox rootfs on `arch` under `kernel` and runs the scripted session: pipes,
/// redirections, subshells, command substitution, `&&`/`||`, job control (background jobs,
/// `wait`, `jobs`, `fg` of a stopped job, `kill %1`, ^C, ^Z, ^D), the file and text tools, and
/// `poweroff`. Returns the checks that passed.
pub fn run_session(arch: Arch, kernel: GuestKernel, verbose: bool) -> Result<Vec<String>> {
    let initrd = initramfs(arch)?;
    let cmd = guest_command(arch, kernel, &initrd, None)?;
    let mut sh = Shell {
        s: Session::spawn(cmd)?,
        n: 0,
        passed: Vec::new(),
        verbose,
    };
    let started = Instant::now();
    sh.s.expect("built-in shell (ash)", Duration::from_secs(180))?;
    sh.s.expect("# ", STEP_TIMEOUT)?;
    let boot = started.elapsed();
    sh.s.send_line("PS1='cy''ph# '; cd /")?;
    sh.s.expect(PROMPT, STEP_TIMEOUT)?;
    sh.pass(&format!("boot to an interactive shell ({boot:.1?})"));
    script(&mut sh)?;
    sh.s.send_line("poweroff")?;
    let status = sh.s.wait_exit(Duration::from_secs(60))?;
    sh.pass(&format!("poweroff ends QEMU ({status})"));
    Ok(sh.passed)
}

fn script(sh: &mut Shell) -> Result<()> {
    // Pipes, redirections, subshells, substitution, && and ||.
    sh.lines("echo a b | wc -w", &["2"])?;
    sh.lines(
        "echo hello > /tmp/r && echo more >> /tmp/r && cat < /tmp/r && wc -l < /tmp/r",
        &["hello", "more", "2"],
    )?;
    sh.lines(
        "ls /nonexistent 2>/dev/null || echo missing; ls /nonexistent 2>&1 >/dev/null | wc -l",
        &["missing", "1"],
    )?;
    sh.lines(
        "(cd /tmp && pwd); pwd; x=1; (x=2); echo $x",
        &["/tmp", "/", "1"],
    )?;
    sh.lines("echo $(echo sub)$((6 * 7)) `echo back`", &["sub42 back"])?;
    sh.lines(
        "true && echo yes || echo no; false && echo yes || echo no",
        &["yes", "no"],
    )?;

    // Background jobs and wait: both sleeps run at once, and wait waits for both.
    let started = Instant::now();
    sh.lines("sleep 1 & sleep 2 & wait; echo waited", &["waited"])?;
    let took = started.elapsed();
    if took < Duration::from_millis(1900) {
        return Err(sh.fail(
            "wait",
            &format!("returned after {took:?}, before sleep 2 ended"),
        ));
    }

    // jobs, then kill %1 reports Terminated.
    sh.check("sleep 60 & jobs", |out| {
        let text = out.replace(char::is_whitespace, " ");
        (text.contains("[1]") && text.contains("Running") && text.contains("sleep 60"))
            .then_some(())
            .ok_or_else(|| format!("jobs did not list the running sleep: {out:?}"))
    })?;
    // ash reports a job's end before the prompt that follows its reaping: `wait` reaps it.
    sh.s.send_line("kill %1; wait %1")?;
    sh.s.expect("Terminated", STEP_TIMEOUT)?;
    sh.s.expect(PROMPT, STEP_TIMEOUT)?;
    let st = sh.last_status()?;
    if st != 128 + 15 {
        return Err(sh.fail("kill %1", &format!("wait %1 gave {st}, not 143 (SIGTERM)")));
    }
    sh.pass("kill %1 reports Terminated");

    // ^C interrupts a foreground sleep and the prompt comes back at once.
    sh.s.send_line("sleep 100")?;
    sh.s.expect("sleep 100\n", STEP_TIMEOUT)?;
    sh.s.settle(Duration::from_secs(1));
    let sent = Instant::now();
    sh.s.send(&[session::CTRL_C])?;
    sh.s.expect(PROMPT, Duration::from_secs(5))?;
    let back = sent.elapsed();
    let st = sh.last_status()?;
    if st != 130 {
        return Err(sh.fail(
            "^C",
            &format!("sleep ended with status {st}, not 130 (SIGINT)"),
        ));
    }
    sh.pass(&format!(
        "^C interrupts sleep 100 (prompt back after {back:.1?})"
    ));

    // ^Z stops a foreground job, jobs shows it, fg resumes it to completion.
    sh.s.send_line("sh -c 'sleep 2; echo resumed-$((40 + 2))'")?;
    sh.s.expect("'\n", STEP_TIMEOUT)?;
    sh.s.settle(Duration::from_millis(500));
    sh.s.send(&[session::CTRL_Z])?;
    sh.s.expect("Stopped", Duration::from_secs(5))?;
    sh.s.expect(PROMPT, STEP_TIMEOUT)?;
    sh.check("jobs", |out| {
        (out.contains("Stopped") && out.contains("sleep 2"))
            .then_some(())
            .ok_or_else(|| format!("jobs does not list the stopped job: {out:?}"))
    })?;
    sh.s.send_line("fg")?;
    sh.s.expect("resumed-42\n", STEP_TIMEOUT)?;
    sh.s.expect(PROMPT, STEP_TIMEOUT)?;
    let st = sh.last_status()?;
    if st != 0 {
        return Err(sh.fail("fg", &format!("the resumed job ended with status {st}")));
    }
    sh.pass("^Z stops a job, fg resumes it");

    // ^D ends the input of a program reading the terminal. Its output is upper-cased so that
    // it differs from the tty's echo of the typed line (which may or may not come, depending on
    // whether the line arrives before or after the shell gives the tty back its echo).
    sh.s.send_line("tr a-z A-Z")?;
    sh.s.expect("A-Z\n", STEP_TIMEOUT)?;
    sh.s.settle(Duration::from_millis(500));
    sh.s.send(b"typed-line\n")?;
    sh.s.expect("TYPED-LINE\n", STEP_TIMEOUT)?;
    sh.s.send(&[session::CTRL_D])?;
    sh.s.expect(PROMPT, Duration::from_secs(5))?;
    sh.pass("^D ends the input of tr");

    // Looking around.
    sh.check("ls -la /", |out| {
        for dir in ["bin", "dev", "etc", "proc", "root", "sbin", "tmp", "usr"] {
            if !lines_of(out)
                .iter()
                .any(|l| l.starts_with('d') && l.ends_with(&format!(" {dir}")))
            {
                return Err(format!("no directory line for /{dir}"));
            }
        }
        if !out.contains("init -> /bin/busybox") {
            return Err("no `init -> /bin/busybox` link line".into());
        }
        Ok(())
    })?;
    sh.check("cat /proc/self/status", |out| {
        let l = lines_of(out);
        let field = |k: &str| l.iter().find_map(|x| x.strip_prefix(k).map(str::trim));
        if field("Name:") != Some("cat") {
            return Err(format!("Name: is not cat: {l:?}"));
        }
        for k in ["State:", "Pid:", "PPid:", "Uid:", "VmRSS:"] {
            if field(k).is_none() {
                return Err(format!("no {k} line"));
            }
        }
        Ok(())
    })?;
    sh.check("ps", |out| {
        let l = words_of(out);
        let has = |cmd: &str| l.iter().any(|x| x.ends_with(cmd));
        if !l.first().is_some_and(|h| h.starts_with("PID")) {
            return Err(format!("no PID header: {l:?}"));
        }
        // A forked applet that did not exec shows its name in braces before the command line
        // it inherited (`{ps} /bin/sh`), as busybox ps does when comm and argv[0] differ.
        let ps = has(" ps") || l.iter().any(|x| x.contains(" {ps} "));
        if !(has(" init") && ps && has("sh")) {
            return Err(format!("ps does not list init, sh and ps: {l:?}"));
        }
        Ok(())
    })?;

    // Files.
    sh.lines(
        "mkdir -p /tmp/t/a/b/c && echo one > /tmp/t/a/b/c/f && cp -a /tmp/t/a /tmp/t/copy && \
         mv /tmp/t/copy /tmp/t/moved && ln -s /tmp/t/moved/b/c/f /tmp/t/link && cat /tmp/t/link && \
         find /tmp/t | sort",
        &[
            "one",
            "/tmp/t",
            "/tmp/t/a",
            "/tmp/t/a/b",
            "/tmp/t/a/b/c",
            "/tmp/t/a/b/c/f",
            "/tmp/t/link",
            "/tmp/t/moved",
            "/tmp/t/moved/b",
            "/tmp/t/moved/b/c",
            "/tmp/t/moved/b/c/f",
        ],
    )?;
    sh.lines(
        "rm -r /tmp/t/a && readlink /tmp/t/link && ls -1 /tmp/t && find /tmp/t -type l",
        &["/tmp/t/moved/b/c/f", "link", "moved", "/tmp/t/link"],
    )?;

    // Text tools.
    sh.words(
        "printf 'b\\na\\nb\\nc\\nb\\n' | sort | uniq -c",
        &["1 a", "3 b", "1 c"],
    )?;
    sh.lines(
        "echo hello world | sed 's/world/there/;s/^/[/;s/$/]/'",
        &["[hello there]"],
    )?;
    sh.lines("echo 3 4 | awk '{ print $1 * $2, NF }'", &["12 2"])?;
    sh.lines(
        "mkdir -p /tmp/g/d && echo needle > /tmp/g/d/x && echo hay > /tmp/g/y && grep -r needle /tmp/g",
        &["/tmp/g/d/x:needle"],
    )?;
    sh.lines(
        "mkdir -p /tmp/src/s /tmp/dst && echo data > /tmp/src/s/f && tar c -C /tmp/src s | tar x -C /tmp/dst && cat /tmp/dst/s/f",
        &["data"],
    )?;
    sh.words("printf 'a b\\nc\\n' | wc", &["2 3 6"])?;
    sh.lines(
        "echo -n abc | md5sum",
        &["900150983cd24fb0d6963f7d28e17f72  -"],
    )?;
    sh.check("dd if=/dev/zero bs=1M count=8 | wc -c", |out| {
        let l = lines_of(out);
        if !l.iter().any(|x| x == "8388608") {
            return Err(format!("wc -c did not count 8388608 bytes: {l:?}"));
        }
        if !l.iter().any(|x| x.starts_with("8+0 records out")) {
            return Err(format!("dd did not report 8+0 records out: {l:?}"));
        }
        Ok(())
    })?;

    // Time.
    sh.check("date; date +%Y", |out| {
        let l = lines_of(out);
        let year: u32 = l.get(1).and_then(|y| y.parse().ok()).unwrap_or(0);
        if l.len() != 2 || l[0].is_empty() || year < 2024 {
            return Err(format!("expected the date and a year from the RTC: {l:?}"));
        }
        Ok(())
    })?;
    let started = Instant::now();
    sh.check(
        "a=$(date +%s); sleep 1; b=$(date +%s); echo $((b - a))",
        |out| match lines_of(out).as_slice() {
            [d] if d == "1" || d == "2" => Ok(()),
            l => Err(format!("sleep 1 took {l:?} seconds of guest time")),
        },
    )?;
    if started.elapsed() < Duration::from_secs(1) {
        return Err(sh.fail("sleep 1", "returned in under a second of host time"));
    }
    Ok(())
}

/// `cargo xtask busybox-session --arch A|all [--kernel K]`.
pub fn session_command(arches: &[Arch], kernel: GuestKernel) -> Result<u8> {
    for &arch in arches {
        println!("busybox session on {} {arch}:", kernel.name());
        let started = Instant::now();
        let passed = run_session(arch, kernel, true)?;
        println!(
            "busybox session on {} {arch}: {} checks passed in {:.0?}",
            kernel.name(),
            passed.len(),
            started.elapsed()
        );
    }
    Ok(0)
}

/// The scripted session as one test of `cargo xtask test`.
pub fn session_test(arch: Arch, kernel: GuestKernel) -> Result<String, String> {
    let started = Instant::now();
    let passed = run_session(arch, kernel, false).map_err(|e| e.to_string())?;
    Ok(format!(
        "{} checks in {:.0?}",
        passed.len(),
        started.elapsed()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_counted() {
        let text = "boot\n@@BUSYBOX-TESTSUITE-BEGIN\nPASS: cat-prints\nFAIL: sed n\n\
                    SKIPPED: rx (not built)\nUNTESTED: x\nnoise PASS: no\nPASS: b\n\
                    1 failure(s) detected\n@@BUSYBOX-TESTSUITE-END status=1\n";
        let r = parse_results(text);
        assert_eq!(r.pass, 2);
        assert_eq!(r.fail, ["sed n"]);
        assert_eq!((r.skipped, r.untested, r.status), (1, 1, Some(1)));
        assert_eq!(r.lines.len(), 5);
        assert_eq!(parse_results("PASS: a\n").status, None);
    }

    #[test]
    fn deb_src_mirrors_the_release_entry() {
        let deb822 = "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n\
                      Components: main\nSigned-By: /k.gpg\n\nTypes: deb\nURIs: http://sec\n\
                      Suites: bookworm-security\nComponents: main\n";
        let sources = deb822_sources(deb822);
        assert_eq!(sources.len(), 2);
        let stanza = deb_src_stanza(&sources, "bookworm").unwrap();
        assert!(stanza.contains("Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /k.gpg\n"), "{stanza}");
        let list = "# comment\ndeb [arch=amd64 signed-by=/s.gpg] http://m/debian bookworm main contrib\ndeb-src http://x y z\n";
        let sources = one_line_sources(list);
        assert_eq!(
            sources,
            [AptSource {
                uris: "http://m/debian".into(),
                suites: "bookworm".into(),
                components: "main contrib".into(),
                signed_by: Some("/s.gpg".into()),
            }]
        );
        assert!(deb_src_stanza(&sources, "trixie").is_none());
        let disabled = "Enabled: no\nTypes: deb\nURIs: u\nSuites: bookworm\nComponents: main\n";
        assert!(deb822_sources(disabled).is_empty());
    }

    #[test]
    fn the_runner_runs_runtest_as_measured_and_powers_off() {
        let s = runner_script(&["cat", "sed"]);
        assert!(s.starts_with("#!/bin/sh\n"));
        assert!(s.contains("ECHO=echo bindir=/bin ./runtest cat sed </dev/null\n"));
        assert!(s.contains(&format!("echo {BEGIN}\n")));
        assert!(s.contains(&format!("echo \"{END}$?\"\npoweroff -f\n")));
        assert!(!CI_APPLETS.contains(&"bc"));
    }

    #[test]
    fn output_normalisation() {
        assert_eq!(words_of("      1 a  \n\n      3 b\n"), ["1 a", "3 b"]);
        assert_eq!(lines_of("x  \ny\n"), ["x", "y"]);
    }

    #[test]
    fn kernel_and_subset_names() {
        assert_eq!(GuestKernel::parse("linux"), Some(GuestKernel::Linux));
        assert_eq!(
            GuestKernel::parse("cyphera").map(GuestKernel::name),
            Some("cyphera")
        );
        assert_eq!(GuestKernel::parse("bsd"), None);
        assert_eq!(Subset::parse("ci"), Some(Subset::Ci));
        assert_eq!(
            Subset::parse("cpio,wget"),
            Some(Subset::Named(&["cpio", "wget"]))
        );
        assert_eq!(Subset::parse("a b"), None);
        assert_eq!(Subset::parse(","), None);
    }
}
