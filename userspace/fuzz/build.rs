//! Generates the fuzzer's syscall table for the target architecture: every number Linux assigns
//! (read from the kernel's own per-arch tables, arch/<arch>/src/syscall_table.rs, which are
//! generated from Linux's syscall.tbl files) with its Linux name (hal/src/syscall.rs) and the
//! argument shape from specs.rs. Reading the kernel's tables rather than keeping a second copy
//! means the two cannot drift apart; a spec naming a call Linux does not have, or using an
//! unknown letter, fails the build.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[path = "specs.rs"]
mod specs;

/// The calls the program refers to by name (its deny list, the fork-like calls whose new task
/// must leave at once, the calls it damps): emitted as `NR_<NAME>` constants, `usize::MAX` where
/// the architecture lacks the call.
const NAMED: &[&str] = &[
    "clone",
    "clone3",
    "fork",
    "vfork",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "rt_sigreturn",
    "kill",
    "tkill",
    "tgkill",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "pidfd_open",
    "prlimit64",
    "process_vm_writev",
    "ptrace",
    "reboot",
    "fcntl",
    "futex",
    "prctl",
    "arch_prctl",
    "madvise",
    // set-up calls rt has no number for
    "eventfd2",
    "epoll_create1",
    "epoll_ctl",
    "memfd_create",
    "timerfd_create",
    "signalfd4",
    "socketpair",
    "setpgid",
    "getpgid",
    "chdir",
    "mkdirat",
    "unlinkat",
    "symlinkat",
    "mknodat",
    "fchmodat",
    "getdents64",
    "lseek",
    "mount",
    "umount2",
    "fstat",
];

fn read(path: &Path) -> String {
    println!("cargo:rerun-if-changed={}", path.display());
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// `Variant => "name",` lines of hal's `define_sysno!` list.
fn linux_names(hal: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for line in hal.lines() {
        let line = line.trim();
        let Some((variant, rest)) = line.split_once(" => \"") else {
            continue;
        };
        let Some(name) = rest.strip_suffix("\",") else {
            continue;
        };
        if variant.chars().all(|c| c.is_ascii_alphanumeric()) {
            names.insert(variant.to_string(), name.to_string());
        }
    }
    names
}

/// `N => Variant,` lines of an arch's `syscall_table!`.
fn numbers(table: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for line in table.lines() {
        let line = line.trim();
        let Some((nr, rest)) = line.split_once(" => ") else {
            continue;
        };
        let (Ok(nr), Some(variant)) = (nr.parse::<usize>(), rest.strip_suffix(',')) else {
            continue;
        };
        out.push((nr, variant.to_string()));
    }
    out
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest.join("..").join("..");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").expect("CARGO_CFG_TARGET_ARCH");
    if arch != "x86_64" && arch != "aarch64" {
        panic!("the fuzzer knows the x86_64 and aarch64 syscall tables, not {arch}'s");
    }
    println!("cargo:rerun-if-changed=specs.rs");
    let names = linux_names(&read(&root.join("hal/src/syscall.rs")));
    assert!(
        names.len() > 300,
        "hal/src/syscall.rs: found only {} syscall names; has its format changed?",
        names.len()
    );
    let table = numbers(&read(
        &root.join("arch").join(&arch).join("src/syscall_table.rs"),
    ));
    assert!(
        table.len() > 300,
        "arch/{arch}/src/syscall_table.rs: found only {} numbers; has its format changed?",
        table.len()
    );

    let known: std::collections::BTreeSet<&str> = names.values().map(String::as_str).collect();
    let mut spec_of = BTreeMap::new();
    for &(name, spec) in specs::SPECS {
        assert!(
            known.contains(name),
            "specs.rs: `{name}` is not a Linux syscall"
        );
        assert!(
            spec.len() <= 6,
            "specs.rs: `{name}` has more than six arguments"
        );
        if let Some(c) = spec.chars().find(|c| !specs::LETTERS.contains(*c)) {
            panic!("specs.rs: `{name}` uses the unknown letter `{c}`");
        }
        assert!(
            spec_of.insert(name, spec).is_none(),
            "specs.rs: `{name}` is listed twice"
        );
    }

    let len = table.iter().map(|&(nr, _)| nr + 1).max().unwrap_or(0);
    let mut entries = vec![None; len];
    let mut by_name = BTreeMap::new();
    for (nr, variant) in &table {
        let name = names
            .get(variant)
            .unwrap_or_else(|| panic!("arch/{arch}: {variant} has no Linux name in hal"));
        entries[*nr] = Some(name.clone());
        by_name.insert(name.clone(), *nr);
    }

    let mut out = String::new();
    writeln!(
        out,
        "// Generated by build.rs from arch/{arch}/src/syscall_table.rs, hal/src/syscall.rs and \
         specs.rs."
    )
    .unwrap();
    writeln!(out, "pub const TABLE_LEN: usize = {len};").unwrap();
    writeln!(out, "pub static TABLE: [Entry; TABLE_LEN] = [").unwrap();
    let mut specced = Vec::new();
    for (nr, entry) in entries.iter().enumerate() {
        match entry {
            None => writeln!(out, "    Entry::UNASSIGNED, // {nr}").unwrap(),
            Some(name) => {
                let spec = spec_of.get(name.as_str());
                if spec.is_some() {
                    specced.push(nr);
                }
                let spec = spec.map_or("None".to_string(), |s| format!("Some({s:?})"));
                writeln!(out, "    Entry {{ name: {name:?}, spec: {spec} }}, // {nr}").unwrap();
            }
        }
    }
    writeln!(out, "];").unwrap();
    writeln!(
        out,
        "pub static SPECCED: [u16; {}] = {specced:?};",
        specced.len()
    )
    .unwrap();
    for name in NAMED {
        assert!(
            known.contains(name),
            "build.rs: `{name}` is not a Linux syscall"
        );
        let value = by_name
            .get(*name)
            .map_or("usize::MAX".to_string(), |n| n.to_string());
        writeln!(
            out,
            "pub const NR_{}: usize = {value};",
            name.to_ascii_uppercase()
        )
        .unwrap();
    }
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("table.rs");
    std::fs::write(&dest, out).unwrap_or_else(|e| panic!("writing {}: {e}", dest.display()));
}
