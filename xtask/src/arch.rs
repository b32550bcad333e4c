//! The architectures and the board registry: which kernel binary each board is, which Rust target
//! builds it, which file QEMU boots, and the QEMU machine that emulates it.

use std::fmt;

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

/// A machine Cyphera runs on: the kernel binary built for it and how QEMU emulates it.
#[derive(Debug, PartialEq, Eq)]
pub struct Board {
    pub name: &'static str,
    pub arch: Arch,
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
    /// Further QEMU arguments the board needs.
    pub qemu_args: &'static [&'static str],
}

pub static BOARDS: [Board; 2] = [
    Board {
        name: "qemu-x86_64",
        arch: Arch::X86_64,
        kernel_target: "x86_64-unknown-none",
        package: "board-qemu-x86_64",
        bin: "cyphera-qemu-x86_64",
        boot: BootFormat::Elf,
        kernel_rustflags: &[],
        machine: "q35",
        default_cpu: "max",
        // isa-debug-exit only lets the kernel stop QEMU; its exit code is not trusted for status.
        qemu_args: &["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"],
    },
    Board {
        name: "qemu-virt-aarch64",
        arch: Arch::Aarch64,
        kernel_target: "aarch64-unknown-none-softfloat",
        package: "board-qemu-virt-aarch64",
        bin: "cyphera-qemu-virt-aarch64",
        boot: BootFormat::FlatImage,
        kernel_rustflags: &[],
        machine: "virt",
        default_cpu: "cortex-a72",
        qemu_args: &[],
    },
];

pub fn board(name: &str) -> Option<&'static Board> {
    BOARDS.iter().find(|b| b.name == name)
}

pub fn board_names() -> String {
    BOARDS.iter().map(|b| b.name).collect::<Vec<_>>().join(", ")
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
