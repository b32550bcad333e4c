//! Setting up what the commands need before they need it: rustup targets for the pinned toolchain
//! (rustup does not install anything implicitly here), and QEMU — installed from Debian
//! bookworm-backports when running as root on Debian (bookworm's own QEMU is too old, and its
//! qemu-utils dependency only resolves from backports), otherwise the exact commands are printed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::arch::{Arch, BOARDS};
use crate::build::{describe, run_checked, rust_tool};
use crate::error::{Context, Result, bail};

/// `cargo xtask setup`: everything any command needs — every board's kernel target, every
/// userspace target, both system emulators, and the user-mode emulator of each architecture that
/// is not the host's (for the differential tests).
pub fn setup_command() -> Result<()> {
    let mut targets: Vec<&str> = BOARDS.iter().map(|b| b.kernel_target).collect();
    targets.extend(Arch::ALL.iter().map(|a| a.userspace_target()));
    ensure_rust_targets(&targets)?;
    let mut programs: Vec<&str> = Arch::ALL.iter().map(|a| a.qemu_system()).collect();
    programs.extend(
        Arch::ALL
            .iter()
            .filter(|&&a| Arch::host() != Some(a))
            .map(|a| a.qemu_user()),
    );
    ensure_qemu(&programs)?;
    println!("xtask: Rust targets and QEMU are installed");
    Ok(())
}

/// Adds the rustup targets in `targets` that the pinned toolchain lacks.
pub fn ensure_rust_targets(targets: &[&str]) -> Result<()> {
    let out = rust_tool("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context(|| "cannot run rustup (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "rustup target list --installed failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let installed = String::from_utf8_lossy(&out.stdout);
    let mut missing: Vec<&str> = targets
        .iter()
        .copied()
        .filter(|t| !installed.lines().any(|l| l.trim() == *t))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    if !missing.is_empty() {
        let mut cmd = rust_tool("rustup");
        cmd.args(["target", "add"]).args(&missing);
        eprintln!("xtask: adding missing Rust targets: {}", describe(&cmd));
        run_checked(&mut cmd)?;
    }
    Ok(())
}

/// Finds `program` in PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The Debian package providing each QEMU program xtask uses.
fn qemu_package(program: &str) -> Option<&'static str> {
    match program {
        "qemu-system-x86_64" => Some("qemu-system-x86"),
        "qemu-system-aarch64" => Some("qemu-system-arm"),
        "qemu-aarch64" | "qemu-x86_64" => Some("qemu-user"),
        _ => None,
    }
}

/// Makes sure every program in `programs` (QEMU system and user emulators) is installed.
pub fn ensure_qemu(programs: &[&str]) -> Result<()> {
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| which(p).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut packages: Vec<&str> = missing.iter().filter_map(|p| qemu_package(p)).collect();
    packages.sort_unstable();
    packages.dedup();
    let codename = debian_codename();
    let plan = install_plan(codename.as_deref(), &packages)?;
    if is_root() && codename.is_some() {
        eprintln!(
            "xtask: {} missing; installing {}",
            missing.join(", "),
            packages.join(" ")
        );
        if let Some((path, contents)) = &plan.sources_file {
            eprintln!("xtask: adding the backports suite in {}", path.display());
            std::fs::write(path, contents).context(|| format!("writing {}", path.display()))?;
        }
        for args in &plan.commands {
            let mut cmd = Command::new(args[0].as_str());
            cmd.args(&args[1..])
                .env("DEBIAN_FRONTEND", "noninteractive");
            run_checked(&mut cmd)?;
        }
        let still: Vec<&str> = missing
            .iter()
            .copied()
            .filter(|p| which(p).is_none())
            .collect();
        if !still.is_empty() {
            bail!(
                "{} still missing after installing {}",
                still.join(", "),
                packages.join(" ")
            );
        }
        return Ok(());
    }
    bail!(
        "{}",
        manual_instructions(&missing, programs, codename.is_some(), &plan)
    )
}

/// What to tell a user who is not root (or not on Debian): the exact commands to run.
fn manual_instructions(
    missing: &[&str],
    programs: &[&str],
    debian: bool,
    plan: &InstallPlan,
) -> String {
    let mut msg = format!("{} not found. Install QEMU", missing.join(", "));
    if debian {
        msg.push_str(" as root:\n");
        if let Some((path, contents)) = &plan.sources_file {
            msg.push_str(&format!(
                "  cat > {} <<'EOF'\n{}EOF\n",
                path.display(),
                contents
            ));
        }
        for args in &plan.commands {
            msg.push_str(&format!("  {}\n", args.join(" ")));
        }
    } else {
        msg.push_str(&format!(
            " with your package manager (QEMU 8 or newer: {} and the user-mode emulators).",
            programs.join(", ")
        ));
    }
    msg.trim_end().to_string()
}

/// How QEMU gets installed: maybe a sources file to write, then commands to run.
#[derive(Debug, PartialEq)]
struct InstallPlan {
    sources_file: Option<(PathBuf, String)>,
    commands: Vec<Vec<String>>,
}

fn install_plan(codename: Option<&str>, packages: &[&str]) -> Result<InstallPlan> {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut install = strings(&["apt-get", "install", "-y", "--no-install-recommends"]);
    let mut sources_file = None;
    if codename == Some("bookworm") {
        install.splice(3..3, strings(&["-t", "bookworm-backports"]));
        if !suite_configured("bookworm-backports") {
            sources_file = Some((
                PathBuf::from("/etc/apt/sources.list.d/bookworm-backports.sources"),
                backports_stanza("bookworm")?,
            ));
        }
    }
    install.extend(packages.iter().map(|p| p.to_string()));
    Ok(InstallPlan {
        sources_file,
        commands: vec![strings(&["apt-get", "update"]), install],
    })
}

/// The Debian release codename from /etc/os-release, if this is Debian.
fn debian_codename() -> Option<String> {
    let os_release = std::fs::read_to_string("/etc/os-release").ok()?;
    let field = |key: &str| {
        os_release
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim_matches('"').to_string())
    };
    (field("ID").as_deref() == Some("debian"))
        .then(|| field("VERSION_CODENAME"))
        .flatten()
}

pub(crate) fn is_root() -> bool {
    // The real uid is the first field of /proc/self/status's "Uid:" line (xtask is never
    // setuid, so it is also the effective one apt-get checks).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("Uid:")
                    .map(|r| r.split_whitespace().next() == Some("0"))
            })
        })
        .unwrap_or(false)
}

/// The APT source files: deb822 `*.sources` and one-line `*.list`, main file first.
fn apt_source_files() -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = dir
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("sources" | "list")
                )
            })
            .collect();
        more.sort();
        files.extend(more);
    }
    files.into_iter().filter(|p| p.is_file()).collect()
}

/// True if some enabled APT source already names `suite`.
fn suite_configured(suite: &str) -> bool {
    apt_source_files().iter().any(|f| {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        let is_deb822 = f.extension().and_then(|e| e.to_str()) == Some("sources");
        if is_deb822 {
            deb822_stanzas(&text).iter().any(|s| {
                s.iter().any(|(k, v)| {
                    k.eq_ignore_ascii_case("Suites") && v.split_whitespace().any(|w| w == suite)
                }) && !s
                    .iter()
                    .any(|(k, v)| k.eq_ignore_ascii_case("Enabled") && v.trim() == "no")
            })
        } else {
            text.lines()
                .map(str::trim)
                .any(|l| l.starts_with("deb ") && l.split_whitespace().any(|w| w == suite))
        }
    })
}

/// Parses deb822 text into stanzas of (field, value), comments dropped, continuation lines
/// joined.
fn deb822_stanzas(text: &str) -> Vec<Vec<(String, String)>> {
    let mut stanzas = Vec::new();
    let mut current: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                stanzas.push(std::mem::take(&mut current));
            }
        } else if line.trim_start().starts_with('#') {
            continue;
        } else if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(last) = current.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            current.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    if !current.is_empty() {
        stanzas.push(current);
    }
    stanzas
}

/// A deb822 stanza for `<codename>-backports` that uses the same mirror, components and key as
/// the configured source of `<codename>` itself, read from the system's APT sources.
fn backports_stanza(codename: &str) -> Result<String> {
    for f in apt_source_files() {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        if f.extension().and_then(|e| e.to_str()) == Some("sources") {
            if let Some(s) = backports_from_deb822(&text, codename) {
                return Ok(s);
            }
        } else if let Some(s) = backports_from_one_line(&text, codename) {
            return Ok(s);
        }
    }
    bail!(
        "no APT source for Debian {codename} found to derive the {codename}-backports mirror from"
    )
}

fn backports_from_deb822(text: &str, codename: &str) -> Option<String> {
    deb822_stanzas(text).into_iter().find_map(|s| {
        let get = |key: &str| {
            s.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str())
        };
        let suites = get("Suites")?;
        if !suites.split_whitespace().any(|w| w == codename) || get("Enabled") == Some("no") {
            return None;
        }
        let mut out = format!(
            "Types: deb\nURIs: {}\nSuites: {codename}-backports\nComponents: {}\n",
            get("URIs")?,
            get("Components").unwrap_or("main")
        );
        if let Some(key) = get("Signed-By") {
            out.push_str(&format!("Signed-By: {key}\n"));
        }
        Some(out)
    })
}

fn backports_from_one_line(text: &str, codename: &str) -> Option<String> {
    text.lines().map(str::trim).find_map(|l| {
        let mut words = l.split_whitespace();
        if words.next() != Some("deb") {
            return None;
        }
        let mut uri = words.next()?;
        let mut signed_by = None;
        if uri.starts_with('[') {
            // Options like [signed-by=/usr/share/keyrings/x.gpg arch=amd64] come before the URI.
            let mut option = uri;
            loop {
                if let Some(key) = option
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .strip_prefix("signed-by=")
                {
                    signed_by = Some(key.to_string());
                }
                if option.ends_with(']') {
                    break;
                }
                option = words.next()?;
            }
            uri = words.next()?;
        }
        if words.next()? != codename {
            return None;
        }
        let components: Vec<&str> = words.collect();
        let components = if components.is_empty() {
            "main".to_string()
        } else {
            components.join(" ")
        };
        let mut out = format!(
            "Types: deb\nURIs: {uri}\nSuites: {codename}-backports\nComponents: {components}\n"
        );
        if let Some(key) = signed_by {
            out.push_str(&format!("Signed-By: {key}\n"));
        }
        Some(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN_SOURCES: &str = "\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
";

    #[test]
    fn backports_stanza_reuses_the_configured_mirror() {
        let s = backports_from_deb822(DEBIAN_SOURCES, "bookworm").unwrap();
        assert_eq!(
            s,
            "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\n\
             Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        );
        assert!(backports_from_deb822(DEBIAN_SOURCES, "trixie").is_none());
    }

    #[test]
    fn one_line_sources_work_too() {
        let text = "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib\n";
        let s = backports_from_one_line(text, "bookworm").unwrap();
        assert!(s.contains("URIs: http://mirror.example/debian\n"), "{s}");
        assert!(s.contains("Components: main contrib\n"), "{s}");
        assert!(s.contains("Signed-By: /k.gpg\n"), "{s}");
        assert!(
            backports_from_one_line("deb http://m/debian bookworm-security main\n", "bookworm")
                .is_none()
        );
    }

    #[test]
    fn deb822_parsing_handles_comments_and_continuations() {
        let stanzas = deb822_stanzas("A: 1\n# x\nB: two\n words\n\n\nC: 3\n");
        assert_eq!(stanzas.len(), 2);
        assert_eq!(stanzas[0][1], ("B".to_string(), "two words".to_string()));
    }

    #[test]
    fn install_plan_uses_backports_on_bookworm_only() {
        let plan = install_plan(Some("trixie"), &["qemu-user"]).unwrap();
        assert_eq!(plan.sources_file, None);
        assert_eq!(
            plan.commands[1].join(" "),
            "apt-get install -y --no-install-recommends qemu-user"
        );
        if suite_configured("bookworm-backports") || backports_stanza("bookworm").is_ok() {
            let plan =
                install_plan(Some("bookworm"), &["qemu-system-arm", "qemu-system-x86"]).unwrap();
            assert_eq!(plan.commands[0].join(" "), "apt-get update");
            assert_eq!(
                plan.commands[1].join(" "),
                "apt-get install -y -t bookworm-backports --no-install-recommends qemu-system-arm qemu-system-x86"
            );
        }
    }

    #[test]
    fn instructions_for_users_who_cannot_install() {
        let plan = InstallPlan {
            sources_file: Some((
                PathBuf::from("/etc/apt/sources.list.d/bookworm-backports.sources"),
                "Types: deb\nSuites: bookworm-backports\n".into(),
            )),
            commands: vec![
                vec!["apt-get".into(), "update".into()],
                vec!["apt-get".into(), "install".into(), "qemu-user".into()],
            ],
        };
        let msg = manual_instructions(&["qemu-aarch64"], &["qemu-aarch64"], true, &plan);
        assert_eq!(
            msg,
            "qemu-aarch64 not found. Install QEMU as root:\n  cat > \
             /etc/apt/sources.list.d/bookworm-backports.sources <<'EOF'\nTypes: deb\n\
             Suites: bookworm-backports\nEOF\n  apt-get update\n  apt-get install qemu-user"
        );
        let other = manual_instructions(&["qemu-aarch64"], &["qemu-aarch64"], false, &plan);
        assert!(other.contains("with your package manager"), "{other}");
    }

    #[test]
    fn qemu_programs_map_to_debian_packages() {
        assert_eq!(qemu_package("qemu-system-x86_64"), Some("qemu-system-x86"));
        assert_eq!(qemu_package("qemu-system-aarch64"), Some("qemu-system-arm"));
        assert_eq!(qemu_package("qemu-aarch64"), Some("qemu-user"));
        assert!(which("sh").is_some());
        assert!(which("no-such-program-here").is_none());
    }
}
