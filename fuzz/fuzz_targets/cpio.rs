//! Fuzz target: the cpio reader (`entries`, `find`) and the initramfs unpacker, with the raw
//! input as an archive and as an edit script over a valid one.
#![no_main]

use cyphera_fuzz::{cpio_seed, edit};
use kernel_core::cpio;
use kernel_core::vfs::{Vfs, initramfs};
use libfuzzer_sys::fuzz_target;

fn read(archive: &[u8]) {
    let mut count = 0usize;
    let mut iter = cpio::entries(archive);
    while let Some(entry) = iter.next() {
        count += 1;
        // A 110-byte header per member at least: the iterator cannot run longer.
        assert!(count <= archive.len() / 110 + 1);
        match entry {
            Ok(e) => assert!(!e.name.contains('\0') && e.name != "TRAILER!!!"),
            Err(e) => {
                assert!(iter.next().is_none(), "entries after an error");
                assert!(!e.to_string().is_empty());
                break;
            }
        }
    }
    for path in ["/init", "bin/sh", "/", "./etc/deep/name.conf/"] {
        let _ = cpio::find(archive, path);
    }
    unpack(archive);
}

/// Unpacks into a fresh tmpfs. The tmpfs keeps `&'static` borrows of file bytes, so the input
/// is copied into a leaked buffer which is freed again once the tmpfs is gone (leaking every
/// input would exhaust memory within minutes of fuzzing).
fn unpack(archive: &[u8]) {
    let leaked: &'static mut [u8] = Box::leak(archive.to_vec().into_boxed_slice());
    let raw: *mut [u8] = leaked;
    {
        // SAFETY: `raw` came from Box::leak just above and nothing has freed it.
        let shared: &'static [u8] = unsafe { &*raw };
        let vfs = Vfs::new();
        let root = vfs.root().node;
        let _ = initramfs::unpack(&vfs, &root, shared);
        drop(root);
        drop(vfs);
    }
    // SAFETY: the only borrows of the buffer were held by the tmpfs's nodes, all dropped with
    // `vfs` and `root` above (the tree has no reference cycles: parents are weak), and the
    // unpack result borrows nothing; the pointer is the Box's own, freed exactly once.
    drop(unsafe { Box::from_raw(raw) });
}

fuzz_target!(|data: &[u8]| {
    read(data);
    read(&edit(&cpio_seed(), data));
});
