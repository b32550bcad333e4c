//! Packing an initramfs: a directory tree (or a list of entries) into a newc cpio archive with the
//! kernel's own `kernel_core::cpio::NewcWriter`, so the host and the kernel share one
//! implementation of the format and no host `cpio` tool is needed.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use kernel_core::cpio::{self as newc, NewcWriter};

use crate::error::{Context, Result, bail};

pub use kernel_core::cpio::{S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};

/// One archive member: a path relative to the root (no leading `/`), its full st_mode (type and
/// permission bits), mtime, contents (a symlink's contents are its target) and, for device
/// nodes, the device number (major, minor). Members are owned by root, as in a root filesystem
/// packed by Linux's gen_init_cpio, whoever runs xtask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub mode: u32,
    pub mtime: u32,
    pub data: Vec<u8>,
    pub rdev: (u32, u32),
}

impl Entry {
    /// A regular file.
    pub fn file(name: &str, perm: u32, data: impl Into<Vec<u8>>) -> Entry {
        Entry {
            name: name.trim_start_matches('/').into(),
            mode: S_IFREG | perm,
            mtime: 0,
            data: data.into(),
            rdev: (0, 0),
        }
    }

    /// A directory.
    pub fn dir(name: &str, perm: u32) -> Entry {
        Entry {
            name: name.trim_start_matches('/').into(),
            mode: S_IFDIR | perm,
            mtime: 0,
            data: Vec::new(),
            rdev: (0, 0),
        }
    }

    /// A symbolic link to `target`.
    pub fn symlink(name: &str, target: &str) -> Entry {
        Entry {
            name: name.trim_start_matches('/').into(),
            mode: S_IFLNK | 0o777,
            mtime: 0,
            data: target.as_bytes().to_vec(),
            rdev: (0, 0),
        }
    }
}

/// A newc archive of `entries`, in order, with the trailer.
pub fn pack(entries: &[Entry]) -> Result<Vec<u8>> {
    let mut writer = NewcWriter::new();
    for e in entries {
        let entry = newc::Entry {
            name: &e.name,
            mode: e.mode,
            uid: 0,
            gid: 0,
            nlink: if e.mode & S_IFMT == S_IFDIR { 2 } else { 1 },
            mtime: e.mtime,
            ino: 0,
            dev_major: 0,
            dev_minor: 0,
            rdev_major: e.rdev.0,
            rdev_minor: e.rdev.1,
            data: &e.data,
        };
        writer
            .try_add_entry(&entry)
            .context(|| format!("cannot pack {:?}", e.name))?;
    }
    Ok(writer.finish())
}

/// Linux's split of a dev_t into (major, minor) (glibc's gnu_dev_major/gnu_dev_minor).
fn dev_major_minor(rdev: u64) -> (u32, u32) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (major as u32, minor as u32)
}

/// The entries of the tree under `root`, parents before children and siblings sorted by name so
/// that the archive is reproducible. Every file keeps its mode and mtime; symlinks are stored, not
/// followed; device nodes keep their device numbers. Hard links become independent copies. The
/// root itself is not an entry, like `find -mindepth 1`.
pub fn entries_from_dir(root: &Path) -> Result<Vec<Entry>> {
    let meta = std::fs::metadata(root).context(|| format!("rootfs {}", root.display()))?;
    if !meta.is_dir() {
        bail!("rootfs {} is not a directory", root.display());
    }
    let mut entries = Vec::new();
    walk(root, "", &mut entries)?;
    Ok(entries)
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<Entry>) -> Result<()> {
    let mut children: Vec<_> = std::fs::read_dir(dir)
        .context(|| format!("reading {}", dir.display()))?
        .collect::<std::io::Result<_>>()
        .context(|| format!("reading {}", dir.display()))?;
    children.sort_by_key(|c| c.file_name());
    for child in children {
        let path = child.path();
        let Some(file_name) = child.file_name().to_str().map(String::from) else {
            bail!(
                "{}: file names in the initramfs must be UTF-8",
                path.display()
            );
        };
        let name = if prefix.is_empty() {
            file_name
        } else {
            format!("{prefix}/{file_name}")
        };
        let meta = std::fs::symlink_metadata(&path).context(|| format!("{}", path.display()))?;
        let mode = meta.mode();
        let mtime = u32::try_from(meta.mtime().max(0)).unwrap_or(u32::MAX);
        match mode & S_IFMT {
            S_IFREG => {
                let data =
                    std::fs::read(&path).context(|| format!("reading {}", path.display()))?;
                out.push(Entry {
                    name,
                    mode,
                    mtime,
                    data,
                    rdev: (0, 0),
                });
            }
            S_IFDIR => {
                out.push(Entry {
                    name: name.clone(),
                    mode,
                    mtime,
                    data: Vec::new(),
                    rdev: (0, 0),
                });
                walk(&path, &name, out)?;
            }
            S_IFLNK => {
                let target = std::fs::read_link(&path)
                    .context(|| format!("reading link {}", path.display()))?;
                let data = target.into_os_string().into_encoded_bytes();
                out.push(Entry {
                    name,
                    mode,
                    mtime,
                    data,
                    rdev: (0, 0),
                });
            }
            // Character and block devices, fifos and sockets: no contents, maybe a device number.
            _ => out.push(Entry {
                name,
                mode,
                mtime,
                data: Vec::new(),
                rdev: dev_major_minor(meta.rdev()),
            }),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Command, Stdio};

    /// A fresh directory under the scratch space, removed first if it exists.
    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("cyphera-xtask-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Reads a newc archive back: (name, mode, mtime, data) per member, without the trailer.
    /// Written independently of the kernel's reader so that the test checks the writer against
    /// the format specification (man 5 cpio), not against itself.
    fn parse_newc(mut a: &[u8]) -> Vec<(String, u32, u32, Vec<u8>)> {
        let hex = |b: &[u8]| u32::from_str_radix(std::str::from_utf8(b).unwrap(), 16).unwrap();
        let pad4 = |n: usize| (4 - n % 4) % 4;
        let mut out = Vec::new();
        loop {
            assert_eq!(&a[..6], b"070701", "newc magic");
            let mode = hex(&a[14..22]);
            let mtime = hex(&a[46..54]);
            let filesize = hex(&a[54..62]) as usize;
            let namesize = hex(&a[94..102]) as usize;
            let name = std::str::from_utf8(&a[110..110 + namesize - 1])
                .unwrap()
                .to_string();
            assert_eq!(a[110 + namesize - 1], 0, "name is NUL-terminated");
            let data_start = 110 + namesize + pad4(110 + namesize);
            let data = a[data_start..data_start + filesize].to_vec();
            a = &a[data_start + filesize + pad4(filesize)..];
            if name == "TRAILER!!!" {
                assert!(a.iter().all(|&b| b == 0), "only padding after the trailer");
                return out;
            }
            out.push((name, mode, mtime, data));
        }
    }

    #[test]
    fn pack_writes_every_entry_with_mode_mtime_and_data() {
        let mut entries = vec![
            Entry::dir("/bin", 0o755),
            Entry::file("/bin/prog", 0o755, b"\x7fELF...".to_vec()),
            Entry::symlink("init", "/bin/prog"),
            Entry::file("etc-empty", 0o644, Vec::new()),
        ];
        entries[1].mtime = 1_700_000_000;
        let parsed = parse_newc(&pack(&entries).unwrap());
        let expect: Vec<_> = entries
            .iter()
            .map(|e| (e.name.clone(), e.mode, e.mtime, e.data.clone()))
            .collect();
        assert_eq!(parsed, expect);
        assert_eq!(parsed[0].0, "bin");
    }

    #[test]
    fn directory_tree_round_trips_in_order_with_modes() {
        let root = scratch("tree");
        std::fs::create_dir_all(root.join("b/sub")).unwrap();
        std::fs::write(root.join("init"), b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(root.join("init"), std::fs::Permissions::from_mode(0o750))
            .unwrap();
        std::fs::write(root.join("b/sub/data"), vec![0xaa; 1001]).unwrap();
        std::os::unix::fs::symlink("../init", root.join("b/link")).unwrap();
        let entries = entries_from_dir(&root).unwrap();
        let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["b", "b/link", "b/sub", "b/sub/data", "init"]);
        let init = &entries[4];
        assert_eq!(init.mode, S_IFREG | 0o750);
        assert_eq!(init.data, b"#!/bin/sh\n");
        assert!(init.mtime > 0);
        assert_eq!(entries[1].mode & S_IFMT, S_IFLNK);
        assert_eq!(entries[1].data, b"../init");
        assert_eq!(entries[0].mode & S_IFMT, S_IFDIR);
        let archive = pack(&entries).unwrap();
        let parsed = parse_newc(&archive);
        assert_eq!(parsed.len(), 5);
        // The kernel's reader finds what the writer wrote, by the paths init= uses.
        let found = kernel_core::cpio::find(&archive, "/b/sub/data")
            .unwrap()
            .unwrap();
        assert_eq!(found.data.len(), 1001);
        assert_eq!(parsed[3].3.len(), 1001);

        // GNU cpio, if installed, is an independent oracle for the archive's readability.
        if let Ok(mut child) = Command::new("cpio")
            .args(["-itv", "--quiet"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(&archive).unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "cpio -itv: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let listing = String::from_utf8_lossy(&out.stdout);
            assert!(listing.contains("b/link -> ../init"), "{listing}");
            assert!(listing.contains("-rwxr-x---"), "{listing}");
            assert_eq!(listing.lines().count(), 5, "{listing}");
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn device_numbers_split_like_glibc() {
        // makedev(4, 64) = /dev/ttyS0; makedev(259, 1048577) uses the high bits of both.
        assert_eq!(dev_major_minor((4 << 8) | 64), (4, 64));
        let (major, minor) = (259u64, 1_048_577u64);
        let dev = ((major & 0xfff) << 8)
            | ((major & !0xfff) << 32)
            | (minor & 0xff)
            | ((minor & !0xff) << 12);
        assert_eq!(dev_major_minor(dev), (259, 1_048_577));
    }

    #[test]
    fn unrepresentable_names_are_errors_not_panics() {
        assert!(pack(&[Entry::file("TRAILER!!!", 0o644, Vec::new())]).is_err());
        assert!(pack(&[Entry::file("a\0b", 0o644, Vec::new())]).is_err());
    }

    #[test]
    fn a_file_is_not_a_rootfs() {
        let root = scratch("file");
        std::fs::write(root.join("f"), b"x").unwrap();
        assert!(entries_from_dir(&root.join("f")).is_err());
        assert!(entries_from_dir(&root.join("missing")).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
