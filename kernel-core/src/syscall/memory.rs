//! Memory-management system calls: the argument decoding; the semantics live in [`crate::vm`].

use crate::errno::{Errno, SysResult};
use crate::fd::File;
use crate::task::{Kernel, Tid};
use crate::vfs::Body;
use crate::vm::map::{
    MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, MAP_SHARED_VALIDATE, MAP_TYPE, PROT_WRITE,
};
use hal::arch::Arch;
use hal::mmu::{AddressSpace, PAGE_SIZE};

/// `brk(2)` never fails with an error code: it returns the break in force afterwards.
pub fn brk<A: Arch>(k: &mut Kernel<A>, tid: Tid, requested: u64) -> SysResult {
    let mem = k.user(tid);
    Ok(mem.vm.brk(requested, mem.frames))
}

pub fn mmap<A: Arch>(k: &mut Kernel<A>, tid: Tid, a: [u64; 6]) -> SysResult {
    if a[3] & MAP_ANONYMOUS == 0 && a[5].is_multiple_of(PAGE_SIZE) {
        return map_file(k, tid, a);
    }
    let mem = k.user(tid);
    mem.vm.mmap(a[0], a[1], a[2], a[3], a[4], a[5], mem.frames)
}

/// A file mapping: the file's bytes from `offset` are copied into a new private mapping when
/// it is made (tmpfs files live on the heap, not in page frames that could be shared). So a
/// private mapping behaves as on Linux except that later writes to the file do not show
/// through; a shared read-only mapping is such a snapshot; a shared writable one, whose writes
/// would never reach the file, is refused with ENODEV rather than lose data.
fn map_file<A: Arch>(k: &mut Kernel<A>, tid: Tid, a: [u64; 6]) -> SysResult {
    let (addr, len, prot, flags, fd, offset) = (a[0], a[1], a[2], a[3], a[4], a[5]);
    let f = super::fs::file(k, tid, fd)?;
    let bytes = {
        let d = f.borrow();
        let data = match (d.node(), &d.file) {
            (Some(node), File::Node(_)) => match &node.body {
                Body::File(data) => data,
                _ => return Err(Errno::ENODEV),
            },
            _ => return Err(Errno::ENODEV),
        };
        if !d.readable() {
            return Err(Errno::EACCES);
        }
        let shared = flags & MAP_TYPE == MAP_SHARED || flags & MAP_TYPE == MAP_SHARED_VALIDATE;
        if shared && prot & PROT_WRITE != 0 {
            return Err(Errno::ENODEV);
        }
        let data = data.borrow();
        let bytes = data.bytes();
        let start = (offset as usize).min(bytes.len());
        let end = start.saturating_add(len as usize).min(bytes.len());
        bytes[start..end].to_vec()
    };
    let private = (flags & !MAP_TYPE) | MAP_PRIVATE | MAP_ANONYMOUS;
    let mem = k.user(tid);
    let at = mem.vm.mmap(
        addr,
        len,
        prot | PROT_WRITE,
        private,
        u64::MAX,
        0,
        mem.frames,
    )?;
    let filled = mem
        .vm
        .populate(at, bytes.len() as u64, true, mem.frames)
        .and_then(|()| {
            mem.vm
                .space()
                .write_user(at, &bytes, true)
                .map_err(|_| Errno::EFAULT)
        })
        .and_then(|()| mem.vm.mprotect(at, len, prot, mem.frames).map(|_| ()));
    if let Err(e) = filled {
        let _ = mem.vm.munmap(at, len, mem.frames);
        return Err(if e == Errno::EFAULT { Errno::ENOMEM } else { e });
    }
    Ok(at)
}

pub fn munmap<A: Arch>(k: &mut Kernel<A>, tid: Tid, address: u64, length: u64) -> SysResult {
    let mem = k.user(tid);
    mem.vm.munmap(address, length, mem.frames)
}

pub fn mprotect<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    address: u64,
    length: u64,
    prot: u64,
) -> SysResult {
    let mem = k.user(tid);
    mem.vm.mprotect(address, length, prot, mem.frames)
}

pub fn mremap<A: Arch>(k: &mut Kernel<A>, tid: Tid, a: [u64; 6]) -> SysResult {
    let mem = k.user(tid);
    mem.vm.mremap(a[0], a[1], a[2], a[3], a[4], mem.frames)
}

pub fn madvise<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    address: u64,
    length: u64,
    advice: u64,
) -> SysResult {
    let mem = k.user(tid);
    mem.vm.madvise(address, length, advice, mem.frames)
}

pub fn msync<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    address: u64,
    length: u64,
    flags: u64,
) -> SysResult {
    k.user(tid).vm.msync(address, length, flags)
}

pub fn mincore<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    address: u64,
    length: u64,
    vec: u64,
) -> SysResult {
    let mem = k.user(tid);
    mem.vm.mincore(address, length, vec, mem.frames)
}
