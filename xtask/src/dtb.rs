//! Device trees for the machines QEMU makes none for (the Raspberry Pi models, which boot a
//! kernel only with the firmware's tree, passed with `-dtb`). Debian ships the upstream Linux
//! trees in its arm64 kernel package; xtask downloads that package with `apt-get download` (no
//! installation, any host architecture), extracts the boards' trees and caches them under the
//! target directory, so the download happens once. The package is arm64-only, so APT must know
//! the arm64 architecture (`dpkg --add-architecture arm64 && apt-get update`): xtask does that
//! when run as root and otherwise prints the commands.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::arch::{BOARDS, Board, DeviceTree};
use crate::build;
use crate::error::{Context, Error, Result, bail};
use crate::linux;
use crate::setup;

/// Where the extracted trees are kept: `<target>/xtask/dtb/<file name>`.
pub fn cache_dir() -> PathBuf {
    build::scratch_dir().join("dtb")
}

/// The cached path of a tree (whether or not it is there yet).
pub fn cached_path(tree: &DeviceTree) -> PathBuf {
    cache_dir().join(file_name(tree.file))
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The device tree to boot `board` with: `None` if QEMU generates one, else the cached file,
/// fetched first if needed.
pub fn device_tree(board: &Board) -> Result<Option<PathBuf>> {
    let Some(tree) = &board.device_tree else {
        return Ok(None);
    };
    let path = cached_path(tree);
    if !path.is_file() {
        fetch(tree.package)
            .context(|| format!("getting {} for board {}", tree.file, board.name))?;
    }
    if !path.is_file() {
        bail!(
            "{} was not in the package; put the board's device tree at {} by hand",
            tree.file,
            path.display()
        );
    }
    Ok(Some(path))
}

/// The commands that make APT see arm64 packages.
const ADD_ARM64: [&[&str]; 2] = [
    &["dpkg", "--add-architecture", "arm64"],
    &["apt-get", "update"],
];

/// What a user who is not root must run (or do instead).
fn manual_instructions(package: &str) -> String {
    let mut text = format!(
        "the Raspberry Pi device trees come from Debian's arm64 kernel package ({package}:arm64), \
         but APT here does not know arm64 packages. As root, run:\n"
    );
    for cmd in ADD_ARM64 {
        text.push_str(&format!("  {}\n", cmd.join(" ")));
    }
    text.push_str(&format!(
        "then run this again (xtask does it itself when run as root). Or put the boards' .dtb \
         files from any Linux arm64 kernel build into {}",
        cache_dir().display()
    ));
    text
}

/// Downloads the kernel package behind metapackage `meta` and extracts into the cache every tree
/// of the registry that comes from it.
fn fetch(meta: &str) -> Result<()> {
    for tool in ["apt-get", "apt-cache", "dpkg", "dpkg-deb", "tar"] {
        if setup::which(tool).is_none() {
            bail!(
                "{tool} not found: fetching device trees needs Debian's APT tools. Put the boards' \
                 .dtb files from a Linux arm64 kernel build into {}",
                cache_dir().display()
            );
        }
    }
    if !linux::apt_knows("arm64") {
        if !setup::is_root() {
            bail!("{}", manual_instructions(meta));
        }
        eprintln!("xtask: letting APT see arm64 packages (for the Raspberry Pi device trees)");
        for args in ADD_ARM64 {
            let mut cmd = Command::new(args[0]);
            cmd.args(&args[1..])
                .env("DEBIAN_FRONTEND", "noninteractive");
            linux::run_quiet(&mut cmd)?;
        }
    }
    let depends = linux::run_quiet(
        Command::new("apt-cache")
            .args(["depends", "--no-recommends", "--no-suggests"])
            .arg(format!("{meta}:arm64")),
    )
    .context(|| {
        format!(
            "APT lists no {meta}:arm64 (is `apt-get update` needed since arm64 was added? As \
             root xtask only runs it when it adds the architecture itself)"
        )
    })?;
    let Some(kernel) = linux::kernel_dependency(&depends) else {
        bail!("`apt-cache depends {meta}:arm64` names no linux-image package:\n{depends}");
    };

    let cache = cache_dir();
    // A private work directory, renamed into place file by file: concurrent fetches cannot see
    // half-written trees.
    let work = cache.join(format!("fetch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).context(|| format!("creating {}", work.display()))?;
    let result = download_and_extract(meta, &kernel, &work, &cache);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn download_and_extract(meta: &str, kernel: &str, work: &Path, cache: &Path) -> Result<()> {
    eprintln!("xtask: downloading {kernel}:arm64 (Debian's kernel package) for its device trees");
    linux::run_quiet(
        Command::new("apt-get")
            .arg("download")
            .arg(format!("{kernel}:arm64"))
            .current_dir(work),
    )?;
    let deb = std::fs::read_dir(work)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| {
            Error::new(format!(
                "apt-get download left no .deb in {}",
                work.display()
            ))
        })?;

    let files: Vec<&str> = BOARDS
        .iter()
        .filter_map(|b| b.device_tree.as_ref())
        .filter(|t| t.package == meta)
        .map(|t| t.file)
        .collect();
    let extract = work.join("root");
    std::fs::create_dir_all(&extract)?;
    let mut dpkg = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(&deb)
        .stdout(Stdio::piped())
        .spawn()
        .context(|| "cannot start dpkg-deb")?;
    let tar_input = dpkg.stdout.take().expect("stdout is piped");
    let mut tar = Command::new("tar");
    tar.arg("-x")
        .arg("-C")
        .arg(&extract)
        .arg("--wildcards")
        .args(files.iter().map(|f| format!("./usr/lib/linux-image-*/{f}")))
        .stdin(tar_input);
    let tar_result = linux::run_quiet(&mut tar);
    let dpkg_status = dpkg.wait()?;
    tar_result?;
    if !dpkg_status.success() {
        bail!(
            "dpkg-deb --fsys-tarfile {} failed ({dpkg_status})",
            deb.display()
        );
    }

    std::fs::create_dir_all(cache)?;
    let lib = extract.join("usr").join("lib");
    for dir in std::fs::read_dir(&lib)
        .context(|| format!("reading {}", lib.display()))?
        .flatten()
    {
        for file in &files {
            let from = dir.path().join(file);
            if from.is_file() {
                let to = cache.join(file_name(file));
                std::fs::rename(&from, &to)
                    .context(|| format!("moving {} to {}", from.display(), to.display()))?;
            }
        }
    }
    let source = deb
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    std::fs::write(
        cache.join("SOURCE"),
        format!(
            "Debian package {source} (via {meta}:arm64): {}\n",
            files.join(" ")
        ),
    )?;
    eprintln!(
        "xtask: cached {} from {source} in {}",
        files.join(", "),
        cache.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_package_is_read_from_apt_cache_depends() {
        let out = "linux-image-arm64:arm64\n  Depends: linux-image-6.1.0-56-arm64:arm64\n";
        assert_eq!(
            linux::kernel_dependency(out).as_deref(),
            Some("linux-image-6.1.0-56-arm64")
        );
        let alternatives =
            "linux-image-arm64:arm64\n |Depends: linux-image-6.12.9-arm64\n  Depends: other\n";
        assert_eq!(
            linux::kernel_dependency(alternatives).as_deref(),
            Some("linux-image-6.12.9-arm64")
        );
        assert_eq!(linux::kernel_dependency("linux-image-arm64:arm64\n"), None);
        assert_eq!(
            linux::kernel_dependency("  Depends: <virtual package>\n"),
            None
        );
    }

    #[test]
    fn every_tree_is_cached_under_its_own_file_name() {
        let mut names: Vec<PathBuf> = BOARDS
            .iter()
            .filter_map(|b| b.device_tree.as_ref())
            .map(cached_path)
            .collect();
        assert!(names.iter().all(|p| p.starts_with(cache_dir())));
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count);
        assert_eq!(
            file_name("broadcom/bcm2711-rpi-4-b.dtb"),
            "bcm2711-rpi-4-b.dtb"
        );
    }

    #[test]
    fn users_who_cannot_add_arm64_get_the_commands() {
        let text = manual_instructions("linux-image-arm64");
        assert!(text.contains("  dpkg --add-architecture arm64\n  apt-get update\n"));
        assert!(text.contains(&cache_dir().display().to_string()));
    }

    #[test]
    fn boards_without_a_tree_need_nothing() {
        let virt = crate::arch::board("qemu-virt-aarch64").unwrap();
        assert_eq!(device_tree(virt).unwrap(), None);
    }
}
