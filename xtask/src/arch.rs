//! The architectures and the board registry: which kernel binary each board is, which Rust target
//! builds it, which file QEMU boots, and the QEMU machine that emulates it (`cargo xtask boards`
//! prints it). Adding a board: one entry in [`BOARDS`] (docs/porting.md).

use std::fmt;
use std::path::Path;

use crate::error::Result;

/// A CPU architecture Cyphera runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// Accepts the names people use for each architecture.
    pub fn parse(name: &str) -> Option<Arch> {
        match name {
            "x86_64" | "x86-64" | "amd64" => Some(Arch::X86_64),
            "aarch64" | "arm64" => Some(Arch::Aarch64),
            _ => None,
        }
    }

    /// The architecture xtask itself runs on, if it is one of ours.
    pub fn host() -> Option<Arch> {
        Arch::parse(std::env::consts::ARCH)
    }

    /// The other architecture (a wrong-architecture binary for the loader tests).
    pub fn other(self) -> Arch {
        match self {
            Arch::X86_64 => Arch::Aarch64,
            Arch::Aarch64 => Arch::X86_64,
        }
    }

    /// The Rust target the userspace programs are built for: bare metal, so no libc is linked,
    /// and the programs make raw Linux syscalls.
    pub fn userspace_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-none",
            Arch::Aarch64 => "aarch64-unknown-none",
        }
    }

    /// RUSTFLAGS for the userspace programs. Non-PIE programs use the static relocation model, so
    /// rust-lld links a classic ET_EXEC at a fixed address (x86_64-unknown-none would otherwise
    /// produce static-pie); x86_64 also needs the small code model instead of the target's default
    /// kernel model, since user programs live in the low half. The PIE program is linked as a
    /// static-pie: ET_DYN, no PT_INTERP, `-z text` so any text relocation is an error.
    pub fn userspace_rustflags(self, pie: bool) -> Vec<&'static str> {
        let mut flags = Vec::new();
        if self == Arch::X86_64 {
            flags.extend(["-C", "code-model=small"]);
        }
        if pie {
            flags.extend(["-C", "relocation-model=pie"]);
            flags.extend(["-C", "link-arg=-pie", "-C", "link-arg=--no-dynamic-linker"]);
            flags.extend(["-C", "link-arg=-z", "-C", "link-arg=text"]);
        } else {
            flags.extend(["-C", "relocation-model=static"]);
        }
        flags
    }

    pub fn qemu_system(self) -> &'static str {
        match self {
            Arch::X86_64 => "qemu-system-x86_64",
            Arch::Aarch64 => "qemu-system-aarch64",
        }
    }

    /// QEMU's Linux user-mode emulator for this architecture, to run its Linux binaries on a host
    /// of another architecture.
    pub fn qemu_user(self) -> &'static str {
        match self {
            Arch::X86_64 => "qemu-x86_64",
            Arch::Aarch64 => "qemu-aarch64",
        }
    }

    /// The gdb that understands this architecture when run on this host.
    pub fn gdb(self) -> &'static str {
        if Arch::host() == Some(self) {
            "gdb"
        } else {
            "gdb-multiarch"
        }
    }

    /// ELF e_machine.
    pub fn elf_machine(self) -> u16 {
        match self {
            Arch::X86_64 => goblin::elf::header::EM_X86_64,
            Arch::Aarch64 => goblin::elf::header::EM_AARCH64,
        }
    }

    /// The board used when only `--arch` is given.
    pub fn default_board(self) -> &'static Board {
        match self {
            Arch::X86_64 => &BOARDS[0],
            Arch::Aarch64 => &BOARDS[1],
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The file QEMU's `-kernel` loads for a board.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootFormat {
    /// The kernel ELF itself (x86_64: QEMU enters it through its PVH note).
    Elf,
    /// A flat binary made from the ELF's PT_LOAD segments, starting with the Linux arm64 Image
    /// header (QEMU's AArch64 direct kernel boot).
    FlatImage,
}

/// A device tree QEMU cannot generate for the machine, taken from a Debian arm64 kernel package
/// (see `dtb.rs`).
#[derive(Debug, PartialEq, Eq)]
pub struct DeviceTree {
    /// The metapackage whose current dependency is the kernel package that ships the file.
    pub package: &'static str,
    /// The file's path under the kernel package's `/usr/lib/linux-image-<version>/`.
    pub file: &'static str,
}

/// A machine Cyphera runs on: the kernel binary built for it and how QEMU emulates it.
#[derive(Debug, PartialEq, Eq)]
pub struct Board {
    pub name: &'static str,
    pub arch: Arch,
    /// One line for `cargo xtask boards`.
    pub summary: &'static str,
    /// The Rust target the kernel is built for.
    pub kernel_target: &'static str,
    /// The board crate's package and binary names.
    pub package: &'static str,
    pub bin: &'static str,
    pub boot: BootFormat,
    /// RUSTFLAGS for the kernel build (set explicitly: xtask never lets its own leak through).
    pub kernel_rustflags: &'static [&'static str],
    /// QEMU `-machine` type; `--machine-opts` are appended after a comma.
    pub machine: &'static str,
    pub default_cpu: &'static str,
    /// Guest RAM (`-m`): the Raspberry Pi machines accept only the real board's size.
    pub memory: &'static str,
    /// Which `-serial` port is the console: QEMU connects the machine's UARTs to the `-serial`
    /// options in a fixed order, and the ports before the console get `-serial null`.
    pub console_port: usize,
    /// The device tree to pass with `-dtb`, for machines QEMU makes none for.
    pub device_tree: Option<DeviceTree>,
    /// The machine has a battery-backed real-time clock. Without one (the Raspberry Pis) the
    /// kernel's wall clock starts at the epoch, as Linux's does there until NTP sets it: tests
    /// of absolute wall-clock time do not apply.
    pub rtc: bool,
    /// Further QEMU arguments the board needs.
    pub qemu_args: &'static [&'static str],
    /// Set for a QEMU configuration of another board's kernel (same package): `run --board`
    /// selects it, and `test` covers it through that board's variant cases rather than a suite
    /// of its own.
    pub variant_of: Option<&'static str>,
}

impl Board {
    /// The middle part of its integration tests' names: the architecture for the default board
    /// of each (`qemu/x86_64/hello`), the board's name for the others (`qemu/raspi3b/hello`).
    pub fn test_prefix(&'static self) -> &'static str {
        if std::ptr::eq(self, self.arch.default_board()) {
            self.arch.name()
        } else {
            self.name
        }
    }
}

/// isa-debug-exit only lets the kernel stop QEMU; its exit code is not trusted for status.
const ISA_DEBUG_EXIT: &[&str] = &["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"];

/// Where Debian ships the Raspberry Pi device trees: the arm64 kernel package.
const DEBIAN_ARM64_KERNEL: &str = "linux-image-arm64";

pub static BOARDS: [Board; 6] = [
    Board {
        name: "qemu-x86_64",
        arch: Arch::X86_64,
        summary: "QEMU q35 (ICH9): COM1, local APIC + I/O APIC, CMOS RTC, ACPI power-off",
        kernel_target: "x86_64-unknown-none",
        package: "board-qemu-x86_64",
        bin: "cyphera-qemu-x86_64",
        boot: BootFormat::Elf,
        kernel_rustflags: &[],
        machine: "q35",
        default_cpu: "max",
        memory: "512M",
        console_port: 0,
        device_tree: None,
        rtc: true,
        qemu_args: ISA_DEBUG_EXIT,
        variant_of: None,
    },
    Board {
        name: "qemu-virt-aarch64",
        arch: Arch::Aarch64,
        summary: "QEMU virt: PL011, GICv2 (or v3), generic timer, PL031 RTC, PSCI power-off",
        kernel_target: "aarch64-unknown-none-softfloat",
        package: "board-qemu-virt-aarch64",
        bin: "cyphera-qemu-virt-aarch64",
        boot: BootFormat::FlatImage,
        kernel_rustflags: &[],
        machine: "virt",
        default_cpu: "cortex-a72",
        memory: "512M",
        console_port: 0,
        device_tree: None,
        rtc: true,
        qemu_args: &[],
        variant_of: None,
    },
    Board {
        name: "qemu-pc",
        arch: Arch::X86_64,
        summary: "QEMU pc (i440FX, PIIX3/4; the qemu-x86_64 kernel, which finds the machine's \
                  interrupt routing and power-off in ACPI)",
        kernel_target: "x86_64-unknown-none",
        package: "board-qemu-x86_64",
        bin: "cyphera-qemu-x86_64",
        boot: BootFormat::Elf,
        kernel_rustflags: &[],
        machine: "pc",
        default_cpu: "max",
        memory: "512M",
        console_port: 0,
        device_tree: None,
        rtc: true,
        qemu_args: ISA_DEBUG_EXIT,
        variant_of: Some("qemu-x86_64"),
    },
    Board {
        name: "qemu-virt-gicv3",
        arch: Arch::Aarch64,
        summary: "QEMU virt with a GICv3 (the qemu-virt-aarch64 kernel)",
        kernel_target: "aarch64-unknown-none-softfloat",
        package: "board-qemu-virt-aarch64",
        bin: "cyphera-qemu-virt-aarch64",
        boot: BootFormat::FlatImage,
        kernel_rustflags: &[],
        machine: "virt,gic-version=3",
        default_cpu: "cortex-a72",
        memory: "512M",
        console_port: 0,
        device_tree: None,
        rtc: true,
        qemu_args: &[],
        variant_of: Some("qemu-virt-aarch64"),
    },
    Board {
        name: "raspi3b",
        arch: Arch::Aarch64,
        summary: "Raspberry Pi 3 Model B (BCM2837): mini UART, BCM2836 local + BCM2835 ARM \
                  interrupt controllers, generic timer, no RTC, PM watchdog power-off",
        kernel_target: "aarch64-unknown-none-softfloat",
        package: "board-raspi3b",
        bin: "cyphera-raspi3b",
        boot: BootFormat::FlatImage,
        kernel_rustflags: &[],
        machine: "raspi3b",
        default_cpu: "cortex-a53",
        memory: "1G",
        // QEMU wires the PL011 to the first -serial and the mini UART to the second.
        console_port: 1,
        device_tree: Some(DeviceTree {
            package: DEBIAN_ARM64_KERNEL,
            file: "broadcom/bcm2837-rpi-3-b.dtb",
        }),
        rtc: false,
        qemu_args: &[],
        variant_of: None,
    },
    Board {
        name: "raspi4b",
        arch: Arch::Aarch64,
        summary: "Raspberry Pi 4 Model B (BCM2711): PL011, GIC-400, generic timer, no RTC, PM \
                  watchdog power-off",
        kernel_target: "aarch64-unknown-none-softfloat",
        package: "board-raspi4b",
        bin: "cyphera-raspi4b",
        boot: BootFormat::FlatImage,
        kernel_rustflags: &[],
        machine: "raspi4b",
        default_cpu: "cortex-a72",
        memory: "2G",
        console_port: 0,
        device_tree: Some(DeviceTree {
            package: DEBIAN_ARM64_KERNEL,
            file: "broadcom/bcm2711-rpi-4-b.dtb",
        }),
        rtc: false,
        qemu_args: &[],
        variant_of: None,
    },
];

pub fn board(name: &str) -> Option<&'static Board> {
    BOARDS.iter().find(|b| b.name == name)
}

pub fn board_names() -> String {
    BOARDS.iter().map(|b| b.name).collect::<Vec<_>>().join(", ")
}

/// `cargo xtask boards`: every board with what it is and the QEMU command `run` uses for it
/// (after `cargo xtask build --board NAME`, with the hello-world initramfs `run` writes).
pub fn boards_command() -> Result<()> {
    for board in &BOARDS {
        let default = if std::ptr::eq(board, board.arch.default_board()) {
            format!(", default for {}", board.arch)
        } else {
            String::new()
        };
        let variant = board
            .variant_of
            .map(|of| format!(", the {of} kernel"))
            .unwrap_or_default();
        println!("{} ({}{default}{variant})", board.name, board.arch);
        println!("  {}", board.summary);
        if !board.rtc {
            println!("  no real-time clock: the wall clock starts at the epoch");
        }
        let kernel = crate::build::target_dir()
            .join(board.kernel_target)
            .join("debug")
            .join(board.bin);
        let kernel = match board.boot {
            BootFormat::Elf => kernel,
            BootFormat::FlatImage => kernel.with_extension("Image"),
        };
        let initrd = crate::build::scratch_dir().join(format!("{}-hello.cpio", board.name));
        let dtb = board.device_tree.as_ref().map(crate::dtb::cached_path);
        let cfg = crate::qemu::QemuConfig {
            board,
            kernel: &kernel,
            initrd: &initrd,
            dtb: dtb.as_deref(),
            cmdline: "",
            cpu: None,
            machine_opts: None,
            accel: None,
            gdb: false,
        };
        println!("  {}", crate::build::describe(&crate::qemu::command(&cfg)));
        if let Some(tree) = &board.device_tree {
            let note = if dtb.as_deref().is_some_and(Path::is_file) {
                "cached"
            } else {
                "fetched on first use"
            };
            println!(
                "  device tree: {} from Debian's {}:arm64 ({note})",
                tree.file, tree.package
            );
        }
        println!("  run: cargo xtask run --board {}", board.name);
    }
    Ok(())
}

/// The boards `cargo xtask test` runs its suite on for these architectures: every board,
/// variants included (a variant boots its base board's kernel on another machine).
pub fn tested_boards(arches: &[Arch]) -> Vec<&'static Board> {
    BOARDS.iter().filter(|b| arches.contains(&b.arch)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_arch_has_a_default_board_of_its_own_arch() {
        for arch in Arch::ALL {
            assert_eq!(arch.default_board().arch, arch);
            assert_eq!(Arch::parse(arch.name()), Some(arch));
        }
    }

    #[test]
    fn boards_are_found_by_name_and_unique() {
        for b in &BOARDS {
            assert_eq!(board(b.name), Some(b));
        }
        assert_eq!(
            board("qemu-virt-aarch64").unwrap().boot,
            BootFormat::FlatImage
        );
        assert_eq!(
            board("qemu-x86_64").unwrap().kernel_target,
            "x86_64-unknown-none"
        );
        assert!(board("pc").is_none());
        let names: Vec<&str> = BOARDS.iter().map(|b| b.name).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
    }

    #[test]
    fn every_board_is_consistent() {
        for b in &BOARDS {
            let kernel_arch = match b.kernel_target.split('-').next() {
                Some("x86_64") => Arch::X86_64,
                _ => Arch::Aarch64,
            };
            assert_eq!(kernel_arch, b.arch, "{}", b.name);
            assert_eq!(
                b.boot == BootFormat::FlatImage,
                b.arch == Arch::Aarch64,
                "{}",
                b.name
            );
            assert!(b.package.starts_with("board-"), "{}", b.name);
            if let Some(of) = b.variant_of {
                let base = board(of).unwrap();
                assert_eq!((base.package, base.bin), (b.package, b.bin), "{}", b.name);
            }
            if let Some(dt) = &b.device_tree {
                assert!(dt.file.ends_with(".dtb"), "{}", b.name);
            }
        }
    }

    #[test]
    fn tests_run_on_every_board_with_arch_prefixes_for_defaults() {
        let all = tested_boards(&Arch::ALL);
        assert_eq!(all.len(), BOARDS.len());
        let arm: Vec<&str> = tested_boards(&[Arch::Aarch64])
            .iter()
            .map(|b| b.test_prefix())
            .collect();
        assert_eq!(arm, ["aarch64", "qemu-virt-gicv3", "raspi3b", "raspi4b"]);
        assert_eq!(board("qemu-pc").unwrap().test_prefix(), "qemu-pc");
        assert_eq!(board("qemu-pc").unwrap().variant_of, Some("qemu-x86_64"));
    }

    #[test]
    fn userspace_flags_pick_exec_or_static_pie() {
        let exec = Arch::Aarch64.userspace_rustflags(false);
        assert!(exec.contains(&"relocation-model=static"));
        let pie = Arch::X86_64.userspace_rustflags(true);
        assert!(pie.contains(&"relocation-model=pie"));
        assert!(pie.contains(&"link-arg=--no-dynamic-linker"));
        assert!(pie.contains(&"code-model=small"));
    }
}
