//! Memory-management system calls: the argument decoding; the semantics live in [`crate::vm`].

use crate::errno::SysResult;
use crate::task::{Kernel, Tid};
use hal::arch::Arch;

/// `brk(2)` never fails with an error code: it returns the break in force afterwards.
pub fn brk<A: Arch>(k: &mut Kernel<A>, tid: Tid, requested: u64) -> SysResult {
    let mem = k.user(tid);
    Ok(mem.vm.brk(requested, mem.frames))
}

pub fn mmap<A: Arch>(k: &mut Kernel<A>, tid: Tid, a: [u64; 6]) -> SysResult {
    let mem = k.user(tid);
    mem.vm.mmap(a[0], a[1], a[2], a[3], a[4], a[5], mem.frames)
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
