//! Fuzz target: path resolution (`Resolver::resolve`, `resolve_parent`, `path_of`) and execve's
//! program lookup over a tmpfs tree the input describes: segments separated by 0xff; each but
//! the last creates a node (first byte: directory, file, script or symlink; the rest: its path,
//! with a 0xfe splitting off a symlink's target or a script's interpreter); the last segment's
//! 0xfe-separated parts are resolved. NUL bytes become 'x' (paths come from C strings).
#![no_main]

use kernel_core::errno::Errno;
use kernel_core::exec;
use kernel_core::vfs::path::Resolver;
use kernel_core::vfs::procfs::{GlobalFile, PidFile, PidLink, ProcSource};
use kernel_core::vfs::{
    Body, FileData, S_IFDIR, S_IFLNK, S_IFREG, Timestamp, Vfs, dir_body, lookup_child,
};
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;

struct NoProc;

impl ProcSource for NoProc {
    fn current(&self) -> u32 {
        1
    }
    fn pids(&self) -> Vec<u32> {
        Vec::new()
    }
    fn fds(&self, _: u32) -> Option<Vec<u32>> {
        None
    }
    fn link(&self, _: u32, _: PidLink) -> Option<Vec<u8>> {
        None
    }
    fn pid_file(&self, _: u32, _: PidFile) -> Option<Vec<u8>> {
        None
    }
    fn global_file(&self, _: GlobalFile) -> Vec<u8> {
        Vec::new()
    }
    fn boot_time(&self) -> Timestamp {
        Timestamp::default()
    }
}

const NOW: Timestamp = Timestamp { sec: 1, nsec: 0 };

fn expected(e: Errno) -> bool {
    [
        Errno::ENOENT,
        Errno::ENOTDIR,
        Errno::ELOOP,
        Errno::ENAMETOOLONG,
    ]
    .contains(&e)
}

fuzz_target!(|data: &[u8]| {
    let data: Vec<u8> = data
        .iter()
        .map(|&b| if b == 0 { b'x' } else { b })
        .collect();
    let mut segments: Vec<&[u8]> = data.split(|&b| b == 0xff).collect();
    let queries = segments.pop().unwrap_or(&[]);
    let vfs = Vfs::new();
    for seg in segments.iter().take(64) {
        let Some((&kind, rest)) = seg.split_first() else {
            continue;
        };
        let mut parts = rest.splitn(2, |&b| b == 0xfe);
        let at = parts.next().unwrap_or(&[]);
        let extra = parts.next().unwrap_or(&[]).to_vec();
        // Walk the directories named by all but the last component; make the last.
        let mut dir = vfs.root().node;
        let components: Vec<&[u8]> = at.split(|&b| b == b'/').filter(|c| !c.is_empty()).collect();
        let Some((name, parents)) = components.split_last() else {
            continue;
        };
        let mut ok = true;
        for p in parents {
            match lookup_child(&dir, p) {
                Some(next) if next.is_dir() => dir = next,
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        if !ok {
            continue;
        }
        let (mode, body) = match kind % 4 {
            0 => (S_IFDIR | 0o755, dir_body(None)),
            1 => (
                S_IFREG | 0o755,
                Body::File(RefCell::new(FileData::Owned(b"\x7fELF".to_vec()))),
            ),
            2 => {
                let mut script = b"#!".to_vec();
                script.extend_from_slice(&extra);
                (
                    S_IFREG | 0o755,
                    Body::File(RefCell::new(FileData::Owned(script))),
                )
            }
            _ => (S_IFLNK | 0o777, Body::Symlink(extra)),
        };
        let _ = vfs.create(&dir, name, mode, NOW, body);
    }
    let r = Resolver {
        vfs: &vfs,
        proc: &NoProc,
        root: vfs.root(),
    };
    let root = vfs.root();
    for q in queries.split(|&b| b == 0xfe).take(16) {
        for follow in [true, false] {
            match r.resolve(&root, q, follow) {
                Ok(loc) => {
                    if loc.node.is_dir() {
                        // getcwd's path leads back to the same directory.
                        let again = r.resolve(&root, &r.path_of(&loc), true).expect("path_of");
                        assert!(std::rc::Rc::ptr_eq(&again.node, &loc.node));
                    }
                }
                Err(e) => assert!(expected(e), "{e:?}"),
            }
        }
        if let Err(e) = r.resolve_parent(&root, q) {
            assert!(expected(e), "{e:?}");
        }
        if let Err(e) = exec::find(&r, &root, q, vec![q.to_vec()]) {
            assert!(
                expected(e) || e == Errno::EACCES || e == Errno::ENOEXEC,
                "{e:?}"
            );
        }
    }
});
